"""Lesson 9: the course's results table (its six experiments, 000_*.txt) and the presets that reproduce them."""

from __future__ import annotations

from dataclasses import dataclass

from mnist_core.config import PRESETS, TrainConfig


@dataclass(frozen=True)
class CourseExperiment:
    preset: str
    column: str  # the course table's column heading
    course_accuracy: float  # the course's own test accuracy


COURSE_TABLE = (
    CourseExperiment("softmax-sgd", "SGD", 0.42),
    CourseExperiment("softmax-adam", "Adam", 0.77),
    CourseExperiment("mlp-3", "NN", 0.94),
    CourseExperiment("mlp-3-xavier", "Xavier", 0.9791),
    CourseExperiment("dnn-5-xavier", "DNN", 0.9824),
    CourseExperiment("dnn-5-dropout", "Dropout", 0.9776),
)


def course_configs(epochs: int) -> dict[str, TrainConfig]:
    """Each experiment's preset (the course's settings) with the chosen number of epochs."""
    return {e.preset: PRESETS[e.preset].replace(epochs=epochs).validated() for e in COURSE_TABLE}
