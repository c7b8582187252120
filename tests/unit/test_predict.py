"""predict.py: the built-in LeNet on genuine test digits drawn on canvases, run models from a real RunStore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_core.backends.execution import execute_run
from mnist_core.calibration import (
    calibrate,
    check_on_test_set,
    expected_calibration_error,
    fit_temperature,
    logits_of,
    temperature_of,
    validation_set,
)
from mnist_core.config import TrainConfig
from mnist_core.data import Dataset, load_dataset, normalize
from mnist_core.network_view import feature_maps, first_layer_pictures
from mnist_core.predict import DEFAULT_MODEL_PATH, load_default_model, predict, predict_image, preprocess_for
from mnist_core.preprocess import MNIST_MEAN, MNIST_STD, TOO_SMALL, image_to_tensor, preprocess_drawing
from mnist_core.runs.failures import failure_of
from mnist_core.runs.store import RunNotFound, RunStore
from mnist_core.training import train
from mnist_core.typicality import typicality_from_metadata
from mnist_core.weights import LoadedModel, ModelUnavailable, WeightsError, load_model, update_metadata

import hand_drawn
from conftest import CANVAS, on_canvas

FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# A small, quick network: enough to tell classes apart far above chance in about a second of training.
QUICK = TrainConfig(hidden=(64,), epochs=1, train_limit=10_000, val_size=0, seed=3)


def random_canvases(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Each image drawn 84-280 px large (x3 to x10) somewhere on the canvas."""
    canvases = []
    for image in images:
        size = int(rng.integers(84, CANVAS + 1))
        top, left = (int(v) for v in rng.integers(0, CANVAS - size + 1, size=2))
        canvases.append(on_canvas(image, size, top, left))
    return canvases


@pytest.fixture(scope="module")
def default_model() -> LoadedModel:
    return load_default_model()  # it ships with the repository: a missing file fails here, it is not skipped


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("runs"))


def finished_run(store: RunStore, config: TrainConfig, data: Dataset) -> int:
    """Train for real and store the run the way the job manager does."""
    run_id = store.create_run(config, status="running")
    store.finish(run_id, train(config, data=data, device="cpu"))
    return run_id


@pytest.fixture(scope="module")
def mnist_run(store: RunStore, mnist: Dataset) -> int:
    return finished_run(store, QUICK, mnist)


@pytest.fixture(scope="module")
def fashion(data_root: Path) -> Dataset:
    return load_dataset("fashion", data_root)


@pytest.fixture(scope="module")
def fashion_run(store: RunStore, fashion: Dataset) -> int:
    return finished_run(store, QUICK.replace(dataset="fashion"), fashion)


# -- the built-in model -----------------------------------------------------------------------------------


def test_default_model_reads_1000_digits_drawn_anywhere_at_any_size(default_model: LoadedModel, mnist: Dataset) -> None:
    rng = np.random.default_rng(2024)
    chosen = rng.choice(len(mnist.test_images), size=1000, replace=False)
    canvases = random_canvases(mnist.test_images[chosen].numpy(), rng)
    predicted = [predict_image(default_model, canvas) for canvas in canvases]
    assert all(p is not None for p in predicted)
    accuracy = np.mean([p.index == int(label) for p, label in zip(predicted, mnist.test_labels[chosen], strict=False)])
    assert accuracy >= 0.97, f"only {accuracy:.1%} of 1,000 canvas digits read right"
    # Honesty costs genuine digits almost nothing: few are called unlike the training digits or unsure.
    unlike = np.mean([p.unlike_training for p in predicted])
    unsure = np.mean([p.confidence < 0.5 for p in predicted])
    assert unlike <= 0.01 and unsure <= 0.01, (unlike, unsure)


def test_default_model_is_an_mnist_lenet_on_the_cpu(default_model: LoadedModel) -> None:
    assert default_model.config.model == "cnn" and default_model.config.dataset == "mnist"
    assert default_model.class_names == tuple("0123456789")
    assert default_model.run_id is None and default_model.label == "Built-in LeNet (MNIST)"
    assert not default_model.model.training
    assert all(p.device.type == "cpu" for p in default_model.model.parameters())
    assert abs(default_model.mean - MNIST_MEAN) < 1e-3 and abs(default_model.std - MNIST_STD) < 1e-3


def test_a_missing_built_in_model_says_where_it_should_be(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="missing.*lenet.safetensors"):
        load_default_model(tmp_path / "default_model" / "lenet.safetensors")


# -- what a prediction holds --------------------------------------------------------------------------------


def test_probabilities_sum_to_one_and_top_k_is_sorted(default_model: LoadedModel, mnist: Dataset) -> None:
    for index in range(20):
        digit, label = mnist.test_images[index].numpy(), int(mnist.test_labels[index])
        prediction = predict_image(default_model, on_canvas(digit, 200, 40, 40), top_k=5)
        assert len(prediction.probabilities) == 10 and all(0 <= p <= 1 for p in prediction.probabilities)
        assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert len(prediction.top) == 5
        assert [p for _, p in prediction.top] == sorted((p for _, p in prediction.top), reverse=True)
        assert prediction.top[0] == (prediction.label, prediction.confidence)
        assert prediction.confidence == max(prediction.probabilities) == prediction.probabilities[prediction.index]
        assert prediction.label == str(prediction.index) == str(label)


def test_a_drawing_and_its_tensor_give_the_same_prediction(default_model: LoadedModel, mnist: Dataset) -> None:
    # Preprocessed with the model's own statistics: calibrated (softer) probabilities would show even the 4e-5
    # difference between its mean and MNIST_MEAN.
    drawing = preprocess_for(default_model, on_canvas(mnist.test_images[7].numpy(), 150, 100, 20))
    from_drawing, from_tensor = predict(default_model, drawing), predict(default_model, drawing.tensor)
    assert from_drawing.probabilities == pytest.approx(from_tensor.probabilities, abs=1e-6)
    assert predict(default_model, drawing.tensor[0, 0]).index == from_drawing.index  # [28,28] is accepted too
    assert predict(default_model, drawing, top_k=10).top == sorted(
        zip("0123456789", from_drawing.probabilities, strict=False), key=lambda item: -item[1])


def test_nothing_drawn_gives_no_prediction(default_model: LoadedModel) -> None:
    blank = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    assert predict_image(default_model, blank) is None
    with pytest.raises(ValueError, match="nothing is drawn"):
        predict(default_model, preprocess_drawing(blank))


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (np.zeros((28, 28), np.float32), TypeError, "predict_image"),
        (torch.zeros(1, 1, 32, 32), ValueError, "shape"),
        (torch.zeros(2, 1, 28, 28), ValueError, "shape"),
        (torch.zeros(1, 1, 28, 28, dtype=torch.uint8), ValueError, "float"),
    ],
)
def test_wrong_inputs_are_refused_with_a_reason(default_model: LoadedModel, value, error, message: str) -> None:
    with pytest.raises(error, match=message):
        predict(default_model, value)


@pytest.mark.parametrize("top_k", [0, 11, 2.5])
def test_top_k_out_of_range_is_refused(default_model: LoadedModel, top_k) -> None:
    with pytest.raises(ValueError, match="top_k"):
        predict(default_model, torch.zeros(1, 1, 28, 28), top_k=top_k)


# -- trained runs from the store ------------------------------------------------------------------------------


def test_a_trained_run_predicts_canvas_digits(store: RunStore, mnist_run: int, mnist: Dataset) -> None:
    loaded = store.load_model(mnist_run)
    assert loaded.run_id == mnist_run and loaded.label == store.get(mnist_run).name
    assert loaded.config == QUICK and loaded.class_names == tuple("0123456789")
    assert loaded.mean == pytest.approx(mnist.mean) and not loaded.model.training
    rng = np.random.default_rng(5)
    canvases = random_canvases(mnist.test_images[:200].numpy(), rng)
    right = [predict_image(loaded, c).index == int(y) for c, y in zip(canvases, mnist.test_labels[:200], strict=False)]
    assert np.mean(right) >= 0.85  # a 1-epoch MLP on 10,000 digits: ~95% on MNIST's own test images


def test_a_fashion_run_names_its_classes(store: RunStore, fashion_run: int, fashion: Dataset) -> None:
    loaded = store.load_model(fashion_run)
    assert loaded.class_names == FASHION_NAMES and loaded.config.dataset == "fashion"
    images = normalize(fashion.test_images[:300], loaded.mean, loaded.std)
    predictions = [predict(loaded, image[None]) for image in images]
    assert all(p.label == FASHION_NAMES[p.index] for p in predictions)
    assert all(name in FASHION_NAMES for p in predictions for name, _ in p.top)
    accuracy = np.mean([p.index == int(y) for p, y in zip(predictions, fashion.test_labels[:300], strict=False)])
    assert accuracy >= 0.7
    # Photos of items (dark on light paper) read about as well as the dataset's own images: they are laid out as
    # Fashion-MNIST was (28-px box), not as MNIST (20-px box, which reads only about half of them right).
    photos = [255 - on_canvas(item, 252, 14, 14)[..., :3] for item in fashion.test_images[:100].numpy()]
    right = [predict_image(loaded, p).index == int(y) for p, y in zip(photos, fashion.test_labels[:100], strict=False)]
    assert np.mean(right) >= 0.65


def test_a_drawing_preprocessed_for_mnist_is_renormalised_for_a_fashion_model(
    store: RunStore, fashion_run: int, fashion: Dataset
) -> None:
    loaded = store.load_model(fashion_run)
    drawing = preprocess_drawing(on_canvas(fashion.test_images[3].numpy(), 252, 14, 14), layout="fashion")
    own_normalisation = image_to_tensor(drawing.image, loaded.mean, loaded.std)
    assert loaded.mean != pytest.approx(MNIST_MEAN, abs=0.05)
    assert predict(loaded, drawing).probabilities == pytest.approx(
        predict(loaded, own_normalisation).probabilities, abs=1e-6)


def test_runs_without_weights_say_why(store: RunStore) -> None:
    queued = store.create_run(QUICK, name="waiting")
    with pytest.raises(ModelUnavailable, match=rf"run {queued} \(waiting\).*not started"):
        store.load_model(queued)
    failed = store.create_run(QUICK, status="running")
    store.fail(failed, failure_of(RuntimeError("CUDA out of memory")))
    with pytest.raises(ModelUnavailable, match="failed.*CUDA out of memory"):
        store.load_model(failed)
    with pytest.raises(RunNotFound):
        store.load_model(999_999)


def test_a_damaged_weights_file_is_refused(store: RunStore, mnist_run: int) -> None:
    damaged = store.create_run(QUICK, status="completed")
    path = store.weights_path(damaged)
    path.write_bytes(store.weights_path(mnist_run).read_bytes()[:5000])  # truncated copy
    with pytest.raises(WeightsError, match=str(damaged)):
        store.load_model(damaged)


# -- honest answers: calibration and marks that are not digits ----------------------------------------------


def test_the_built_in_model_is_calibrated_on_its_validation_split(default_model: LoadedModel, mnist: Dataset) -> None:
    temperature = temperature_of(default_model)
    assert temperature is not None and temperature > 1.0  # trained to a low loss, it was over-confident
    check = check_on_test_set(default_model.model, temperature, mnist)  # test images: never used to fit T
    assert check.ece_after < check.ece_before and check.nll_after < check.nll_before
    # predict() divides the logits by T: a digit's shown probability is the calibrated one.
    drawing = preprocess_drawing(on_canvas(mnist.test_images[0].numpy(), 200, 40, 40))
    logits = default_model.model(drawing.tensor).detach()
    prediction = predict(default_model, drawing)
    assert prediction.temperature == temperature
    assert prediction.probabilities == pytest.approx(torch.softmax(logits / temperature, 1)[0].tolist(), abs=1e-6)


def test_fit_temperature_finds_the_scale_of_over_confident_logits(default_model: LoadedModel, mnist: Dataset) -> None:
    images, labels = validation_set(default_model.config, mnist)
    logits = logits_of(default_model.model, images)
    fitted = fit_temperature(logits, labels)
    # The same logits made three times as sharp need a temperature three times as high.
    assert fit_temperature(logits * 3, labels) == pytest.approx(3 * fitted, rel=1e-3)
    probabilities = torch.softmax(logits, 1)
    assert expected_calibration_error(probabilities, labels) >= 0
    assert expected_calibration_error(torch.softmax(logits * 3, 1), labels) > expected_calibration_error(
        torch.softmax(logits * 3 / fit_temperature(logits * 3, labels), 1), labels)


@pytest.mark.parametrize("mark", ["dot"])
def test_a_dot_gets_no_digit(default_model: LoadedModel, mark: str) -> None:
    drawing = preprocess_for(default_model, hand_drawn.render(hand_drawn.DOT))
    assert not drawing.empty and drawing.unreadable == TOO_SMALL


@pytest.mark.parametrize("strokes", [hand_drawn.LETTER_A, hand_drawn.LETTER_K, hand_drawn.SCRIBBLE, hand_drawn.HASH],
                         ids=["letter-A", "letter-K", "scribble", "hash"])
def test_letters_and_scribbles_are_unlike_the_digits_it_learned(default_model: LoadedModel, strokes) -> None:
    drawing = preprocess_for(default_model, hand_drawn.render(strokes))
    assert drawing.unreadable is None  # a legible mark...
    assert predict(default_model, drawing).unlike_training is True  # ...that is not a digit


def test_a_finished_run_is_calibrated_and_checked(store: RunStore, data_root: Path) -> None:
    """execute_run (the app's and the CLI's way to train) fits the temperature and the typicality check on the
    run's validation split and stores them in its weights file, next to the optimizer state and config."""
    config = QUICK.replace(val_size=1000)
    run_id = store.create_run(config)
    assert execute_run(store, run_id, config, device="cpu", data_root=data_root) is not None
    loaded = store.load_model(run_id)
    assert temperature_of(loaded) is not None and "validation images" in loaded.metadata["calibration"]
    assert typicality_from_metadata(loaded.metadata) is not None
    assert loaded.config == config  # the rest of the file is intact
    prediction = predict(loaded, preprocess_for(loaded, hand_drawn.render(hand_drawn.LETTER_A)))
    assert prediction.temperature == temperature_of(loaded) and prediction.unlike_training is not None


def test_a_run_with_nothing_held_out_stays_uncalibrated(store: RunStore, mnist_run: int, mnist: Dataset) -> None:
    loaded = store.load_model(mnist_run)  # QUICK: val_size 0
    assert calibrate(loaded.model, loaded.config, mnist) is None
    prediction = predict(loaded, preprocess_drawing(on_canvas(mnist.test_images[0].numpy(), 200, 40, 40)))
    assert prediction.temperature is None and prediction.unlike_training is None


def test_update_metadata_keeps_every_tensor(tmp_path: Path, default_model: LoadedModel) -> None:
    path = tmp_path / "copy.safetensors"
    path.write_bytes(DEFAULT_MODEL_PATH.read_bytes())
    update_metadata(path, {"temperature": "1.5", "note": "x"})
    copy = load_model(path)
    assert copy.metadata["temperature"] == "1.5" and copy.metadata["config"] == default_model.metadata["config"]
    pairs = zip(default_model.model.state_dict().items(), copy.model.state_dict().items(), strict=True)
    for (name, a), (_, b) in pairs:
        assert torch.equal(a, b), name


# -- looking inside ----------------------------------------------------------------------------------------


def test_network_view_of_the_cnn(default_model: LoadedModel, mnist: Dataset) -> None:
    filters = first_layer_pictures(default_model, count=100)
    assert len(filters) == 16 and all(p.image.shape == (5, 5) and p.image.dtype == np.uint8 for p in filters)
    weights = default_model.model[0].weight.detach()[3, 0]
    brightest = np.unravel_index(int(filters[3].image.argmax()), (5, 5))
    assert float(weights[brightest]) == pytest.approx(float(weights.max()))  # white = the largest weight
    drawing = preprocess_for(default_model, on_canvas(mnist.test_images[0].numpy(), 200, 40, 40))
    blocks = feature_maps(default_model, drawing)
    assert [(b.block, len(b.maps), b.size) for b in blocks] == [(1, 16, 14), (2, 32, 7)]
    assert all(m.shape == (b.size, b.size) and m.dtype == np.uint8 for b in blocks for m in b.maps)


def test_network_view_of_an_mlp_gives_each_units_activation(store: RunStore, mnist_run: int, mnist: Dataset) -> None:
    loaded = store.load_model(mnist_run)  # QUICK: 784-64-10
    drawing = preprocess_for(loaded, on_canvas(mnist.test_images[0].numpy(), 200, 40, 40))
    pictures = first_layer_pictures(loaded, count=8, drawing=drawing)
    assert len(pictures) == 8 and all(p.image.shape == (28, 28) for p in pictures)
    first = loaded.model[1]
    expected = torch.relu(first(image_to_tensor(drawing.image, loaded.mean, loaded.std).flatten(1)))[0, :8]
    assert [p.activation for p in pictures] == pytest.approx(expected.tolist(), abs=1e-5)
    assert feature_maps(loaded, drawing) == []  # no convolution blocks
