"""The app's non-UI helpers: what the Train form says about a config, run tables and axes, charts, image files."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from app import charts
from app.config_form import config_from_form, form_values, matching_preset, problem_message
from app.run.texts import differing_fields, format_seconds, iteration_lines, samples_seen
from mnist_core.config import PRESETS, TrainConfig, parse_layers
from mnist_core.image_files import ImageFileError, read_image_file


@pytest.mark.parametrize(("changes", "first_line"), [
    ({}, "55,000 / 100 = 550 iterations per epoch"),
    ({"val_size": 0}, "60,000 / 100 = 600 iterations per epoch"),
    ({"batch_size": 128}, "55,000 / 128 = 429.69 → 430 iterations per epoch (the last batch holds only 88 samples)"),
    ({"batch_size": 128, "drop_last": True},
     "55,000 / 128 = 429.69 → 429 iterations per epoch (drop_last skips the last 88 samples of each epoch)"),
])
def test_iteration_arithmetic(changes: dict, first_line: str) -> None:
    config = TrainConfig(**changes)
    lines = iteration_lines(config)
    assert lines[0] == first_line
    assert lines[1] == f"{config.iterations_per_epoch:,} × 15 epochs = {config.total_iterations:,} iterations in total"


def test_course_number_and_full_batch_are_named() -> None:
    assert "This is the course's number: 60,000 / 100 = 600 iterations per epoch." in iteration_lines(
        TrainConfig(val_size=0))
    full = TrainConfig(batch_size=55_000)
    assert "The batch is the whole training set: this is full-batch gradient descent." in iteration_lines(full)


def test_samples_seen_counts_the_short_last_batch() -> None:
    config = TrainConfig(train_limit=250, batch_size=100, val_size=0)  # 3 iterations: 100, 100, 50
    assert samples_seen(config, np.array([1, 2, 3, 4, 6])).tolist() == [100, 200, 250, 350, 500]
    dropped = config.replace(drop_last=True)  # 2 iterations of 100; the 50 are skipped
    assert samples_seen(dropped, np.array([2, 3, 4])).tolist() == [200, 300, 400]


def test_form_round_trip_and_problems() -> None:
    for preset in PRESETS.values():
        config, problems = config_from_form(form_values(preset))
        assert problems == [] and config == preset
    values = form_values(PRESETS["mlp-3"]) | {"hidden": "256 x", "dropout": 0.95, "epochs": 1e3}
    config, problems = config_from_form(values)
    assert config is None
    messages = [problem_message(p) for p in problems]
    assert messages[0].startswith("Hidden layers: “256 x” is not allowed — use comma-separated whole numbers")
    assert "Dropout: 0.95 is not allowed — use 0 to 0.9." in messages
    assert "Epochs: 1000 is not allowed — use 1 to 200." in messages


def test_layer_text_and_preset_labels() -> None:
    assert parse_layers("512-512, 512 512") == (512, 512, 512, 512)
    assert parse_layers(" ") == () and parse_layers("none") == ()
    with pytest.raises(ValueError, match="'2.5' is not a whole number"):
        parse_layers("256, 2.5")
    assert matching_preset(PRESETS["dnn-5-dropout"].replace(epochs=3, dataset="fashion", seed=7)) == "dnn-5-dropout"
    assert matching_preset(PRESETS["mlp-3"].replace(lr=0.01)) == ""


def test_only_differing_fields_are_listed() -> None:
    a = TrainConfig(preset="mlp-3")
    assert differing_fields([a]) == []
    assert differing_fields([a, a.replace(optimizer="sgd", lr=0.1, preset="")]) == ["optimizer", "lr"]


def test_smoothing_survives_a_diverged_iteration() -> None:
    values = [2.0, 1.0, float("nan"), 1.0, float("inf"), 0.5]
    smoothed = charts.smooth(values, 3)
    assert smoothed[0] == 2.0 and math.isnan(smoothed[2]) and math.isnan(smoothed[4])
    assert 0.5 < smoothed[5] < 1.5
    figure = charts.loss_figure(list(range(1, 7)), values, run_id=3)
    assert figure.data[0].y[2] is None  # a gap, and the figure still serialises to JSON
    figure.to_json()


def test_compare_draws_a_diverged_run_beside_sound_ones_on_a_log_scale() -> None:
    # The lesson's real runs: sound runs fall from 2.3 to about 0.3; the diverged one climbs to 1e23 before NaN.
    sound = charts.RunSeries(1, "lr 0.1", list(range(1, 61)), list(np.linspace(2.3, 0.3, 60)))
    diverged = charts.RunSeries(2, "lr 1", list(range(1, 15)), [2.3, 2.2, 1.8, 3.5, 15, 36, 37, 100, 2545, 2e7,
                                                                    9e9, 1e11, 2.8e23, float("nan")])
    wide = charts.compare_loss_figure([sound, diverged], "iteration", window=1)
    assert wide.layout.yaxis.type == "log" and "log" in wide.layout.yaxis.title.text
    assert wide.data[1].y[-1] is None and max(v for v in wide.data[1].y if v) == pytest.approx(2.8e23)
    narrow = charts.compare_loss_figure([sound], "iteration", window=1)
    assert narrow.layout.yaxis.type in (None, "linear", "-") and "log" not in narrow.layout.yaxis.title.text


def test_run_colours_are_stable_and_distinct() -> None:
    assert charts.run_color(7) == charts.run_color(7) == charts.run_color(17)
    assert len({charts.run_color(i) for i in range(10)}) == 10


def test_confusion_and_per_class_accuracy() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0])
    counts = charts.confusion_counts(labels, predicted, 3)
    assert counts.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert charts.per_class_accuracy(labels, predicted, 3) == [0.5, 1.0, 0.0]


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0, 65.4, 3723, None, float("nan"))] == ["0:00", "1:05", "1:02:03", "-", "-"]


def _png(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 200).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_files_are_read_or_refused_clearly() -> None:
    pixels = read_image_file(_png(), "ok.png")
    assert pixels.shape == (30, 40, 3) and pixels.dtype == np.uint8
    big = read_image_file(_png((3000, 1500)), "big.png")
    assert big.shape == (512, 1024, 3)  # phone photos are scaled down before preprocessing
    with pytest.raises(ImageFileError, match="notes.png is not a PNG or JPEG image that can be read"):
        read_image_file(b"hello, not an image", "notes.png")
    with pytest.raises(ImageFileError, match="empty.png is empty"):
        read_image_file(b"", "empty.png")
    with pytest.raises(ImageFileError, match="cut.png is damaged or truncated"):
        read_image_file(_png((400, 400))[:120], "cut.png")
    ink = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    ink.paste((0, 0, 0, 255), (8, 2, 12, 18))  # black ink on a transparent background
    buffer = io.BytesIO()
    ink.save(buffer, format="PNG")
    assert read_image_file(buffer.getvalue(), "ink.png").shape == (20, 20, 4)
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, format="GIF")
    with pytest.raises(ImageFileError, match="anim.gif is a GIF image; upload a PNG or JPEG instead."):
        read_image_file(buffer.getvalue(), "anim.gif")


def test_long_curves_are_thinned_for_the_browser() -> None:
    iterations = list(range(1, 8251))
    losses = [1.0 / i for i in iterations]
    figure = charts.loss_figure(iterations, losses, run_id=1)
    for trace in figure.data:
        assert len(trace.x) <= charts.MAX_POINTS + 1 and trace.x[0] == 1 and trace.x[-1] == 8250
    assert figure.data[0].y[-1] == pytest.approx(1 / 8250)


def test_run_label_does_not_change_while_a_run_trains_and_finishes(tmp_path) -> None:
    # Keyed selectboxes keep the labels they were first drawn with: a status in the label went stale.
    import dataclasses

    from app.run.texts import run_label
    from mnist_core.runs.store import RunStore

    store = RunStore(tmp_path)
    run_id = store.create_run(PRESETS["mlp-3"], name="my run")
    queued = store.get(run_id)
    finished = dataclasses.replace(queued, status="completed", test_accuracy=0.97)
    assert run_label(queued) == run_label(finished) == "my run — MNIST, mlp-3/adam"
