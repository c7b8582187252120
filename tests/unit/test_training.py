"""The trainer on real MNIST: it learns, reports, is reproducible, stops on request and batches like DataLoader."""

from __future__ import annotations

import math
import threading

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mnist_core import training
from mnist_core.config import INITS, OPTIMIZERS, ConfigError, TrainConfig
from mnist_core.data import normalize, split_indices
from mnist_core.models import build_model
from mnist_core.training import EpochMetrics, LossPoints, Progress, ResumeFrom, TrainResult, pick_device, train
from mnist_core.weights import load_model, load_optimizer_state, save_model

TINY = TrainConfig(hidden=(32,), train_limit=1000, epochs=1, batch_size=50, val_size=0)


def run(config: TrainConfig, data, **kwargs) -> tuple[TrainResult, list]:
    events: list = []
    result = train(config, data=data, device="cpu", on_event=events.append, **kwargs)
    return result, events


def comparable(result: TrainResult) -> tuple:
    """Everything a run computes, without wall-clock times."""
    epochs = [(e.epoch, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy) for e in result.epochs]
    return result.losses.iterations, result.losses.losses, epochs, result.test_loss, result.test_accuracy


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# -- one short real training, shared by the tests that inspect it -------------------------------------


@pytest.fixture(scope="module")
def short_run(mnist) -> tuple[TrainConfig, TrainResult, list]:
    config = TrainConfig(train_limit=10_000, epochs=1)  # the course's 784-256-256-10, Adam, batch 100
    result, events = run(config, mnist)
    return config, result, events


def test_short_training_clearly_learns(short_run, mnist):
    _, result, _ = short_run
    assert result.status == "completed"
    assert result.test_accuracy >= 0.90
    assert result.test_loss < 0.4
    assert result.test_predictions.shape == (10_000,) and result.test_predictions.dtype == torch.int64
    assert result.test_accuracy == pytest.approx(float((result.test_predictions == mnist.test_labels).float().mean()))
    # The model handed back is the trained one, on the CPU, in eval mode, and gives the same predictions.
    assert not result.model.training and next(result.model.parameters()).device.type == "cpu"
    with torch.no_grad():
        logits = result.model(normalize(mnist.test_images[:500], result.mean, result.std))
    assert torch.equal(logits.argmax(1), result.test_predictions[:500])
    assert (result.mean, result.std) == (mnist.mean, mnist.std)
    assert result.device == "cpu" and result.seconds > 0 and result.samples_per_s > 0


def test_one_loss_point_per_iteration(short_run):
    config, result, _ = short_run
    assert config.total_iterations == 100
    assert result.losses.iterations == list(range(1, 101))
    assert len(result.losses.losses) == 100 and all(math.isfinite(x) for x in result.losses.losses)
    assert result.losses.losses[0] == pytest.approx(math.log(10), abs=0.25)  # an untrained net guesses
    assert sum(result.losses.losses[-10:]) / 10 < 0.6


def test_epoch_metrics_are_sane(short_run):
    _, result, _ = short_run
    (epoch,) = result.epochs
    assert epoch.epoch == 1
    assert 0.3 < epoch.train_loss < 1.5  # mean over the epoch, from ~2.3 down
    assert 0.6 < epoch.train_accuracy <= 1.0
    assert epoch.val_loss is not None and epoch.val_loss < 0.5
    assert epoch.val_accuracy is not None and epoch.val_accuracy >= 0.88
    assert 0 < epoch.seconds <= result.seconds


@pytest.mark.parametrize("shuffle, drop_last, seen", [(True, False, 1050), (False, True, 1000)])
def test_epoch_train_metrics_are_means_over_the_samples_seen(mnist, shuffle, drop_last, seen):
    # lr so small that no weight changes: every batch meets the initial model, so the epoch's train loss and
    # accuracy must equal the initial model's on the samples the epoch saw, the short last batch weighed fairly
    config = TrainConfig(hidden=(32,), train_limit=1050, batch_size=100, epochs=1, optimizer="sgd", lr=1e-12,
                         shuffle=shuffle, drop_last=drop_last, val_size=0)
    result, _ = run(config, mnist)
    train_idx, _ = split_indices(config)
    images, labels = mnist.train_images[train_idx[:seen]], mnist.train_labels[train_idx[:seen]]
    with torch.no_grad():
        logits = build_model(config)(normalize(images, mnist.mean, mnist.std))
    (epoch,) = result.epochs
    assert epoch.train_loss == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-5)
    assert epoch.train_accuracy == int((logits.argmax(1) == labels).sum()) / seen


def test_events_tell_the_whole_story(short_run):
    config, result, events = short_run
    streamed = LossPoints()
    for event in events:
        if isinstance(event, LossPoints):
            streamed.extend(event)
    assert streamed == result.losses
    assert [e for e in events if isinstance(e, EpochMetrics)] == result.epochs
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress, "no progress event"
    assert all(p.total_iterations == 100 and 1 <= p.epoch <= config.epochs for p in progress)
    assert all(p.eta_s >= 0 and p.samples_per_s > 0 and p.elapsed_s >= 0 for p in progress)
    assert [p.iteration for p in progress] == sorted(p.iteration for p in progress)
    assert progress[-1].iteration == 100 and progress[-1].samples_seen == 10_000 and progress[-1].eta_s == 0


# -- reproducibility --------------------------------------------------------------------------------


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_same_seed_same_run(mnist, dropout):
    config = TINY.replace(epochs=2, dropout=dropout, hidden=(64,), val_size=1000)
    a, _ = run(config, mnist)
    b, _ = run(config, mnist)
    assert comparable(a) == comparable(b)
    assert same_weights(a.model, b.model)
    assert torch.equal(a.test_predictions, b.test_predictions)
    c, _ = run(config.replace(seed=1), mnist)
    assert comparable(c) != comparable(a)
    assert c.losses.losses[5:] != a.losses.losses[5:]


def test_dropout_changes_the_run(mnist):
    a, _ = run(TINY.replace(hidden=(64,)), mnist)
    b, _ = run(TINY.replace(hidden=(64,), dropout=0.5), mnist)
    assert a.losses.losses[0] != b.losses.losses[0]  # same weights and batch, different masks


def test_concurrent_runs_stay_reproducible(mnist):
    config = TINY.replace(dropout=0.3, epochs=2)
    alone, _ = run(config, mnist)
    results: list[TrainResult] = []
    threads = [threading.Thread(target=lambda: results.append(run(config, mnist)[0])) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2
    for r in results:
        assert comparable(r) == comparable(alone)


# -- stopping -------------------------------------------------------------------------------------


def test_stop_mid_epoch_from_another_thread(mnist):
    # Batch 6 without shuffling: 9,167 iterations in epoch 1, so the stop surely lands inside it; 18,334 in all,
    # few enough that every iteration is its own loss point.
    config = TrainConfig(hidden=(32,), batch_size=6, shuffle=False, epochs=2)
    assert config.total_iterations <= training.MAX_LOSS_POINTS
    stop, enough = threading.Event(), threading.Event()
    events: list = []

    def on_event(event) -> None:
        events.append(event)
        if sum(len(e.iterations) for e in events if isinstance(e, LossPoints)) >= 200:
            enough.set()

    outcome: list[TrainResult] = []
    worker = threading.Thread(
        target=lambda: outcome.append(train(config, data=mnist, device="cpu", on_event=on_event, stop=stop))
    )
    worker.start()
    assert enough.wait(60), "no loss points arrived"
    stop.set()  # from this thread, while the worker trains
    worker.join(60)
    assert not worker.is_alive()
    (result,) = outcome

    assert result.status == "stopped"
    trained = len(result.losses.iterations)
    assert 200 <= trained < config.iterations_per_epoch
    assert result.losses.iterations == list(range(1, trained + 1))
    assert result.epochs == []  # no epoch finished
    last_progress = [e for e in events if isinstance(e, Progress)][-1]
    assert last_progress.iteration == trained and last_progress.samples_seen == 6 * trained
    streamed = LossPoints()
    for e in events:
        if isinstance(e, LossPoints):
            streamed.extend(e)
    assert streamed == result.losses

    # Test metrics are computed for the stopped model, and they are right for it.
    assert result.test_predictions.shape == (10_000,)
    assert result.test_accuracy == pytest.approx(float((result.test_predictions == mnist.test_labels).float().mean()))
    assert result.test_accuracy > 0.5

    # The weights kept are exactly those after the last trained iteration: a run over just those samples agrees.
    exact, _ = run(config.replace(train_limit=6 * trained, epochs=1), mnist)
    assert exact.losses.losses == result.losses.losses
    assert same_weights(exact.model, result.model)
    with torch.no_grad():
        assert result.model(normalize(mnist.test_images[:8], mnist.mean, mnist.std)).shape == (8, 10)


def test_stop_set_before_start_trains_one_iteration(mnist):
    stop = threading.Event()
    stop.set()
    result, _ = run(TINY, mnist, stop=stop)
    assert result.status == "stopped" and result.losses.iterations == [1] and result.epochs == []
    assert 0.0 <= result.test_accuracy <= 1.0


def test_stop_on_the_last_iteration_of_an_epoch_keeps_that_epoch(mnist):
    stop = threading.Event()
    stop.set()  # one iteration is trained; with one batch per epoch it completes epoch 1 of 3
    config = TINY.replace(batch_size=TINY.train_limit, epochs=3, val_size=500)
    result, events = run(config, mnist, stop=stop)
    assert result.status == "stopped" and result.losses.iterations == [1]
    (epoch,) = result.epochs
    assert epoch.epoch == 1 and epoch.val_accuracy is not None
    assert [e for e in events if isinstance(e, EpochMetrics)] == [epoch]


# -- every optimizer, every initialisation, batch semantics --------------------------------------------


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(mnist, optimizer):
    config = TINY.replace(optimizer=optimizer, lr=0.01 if optimizer in ("sgd", "adagrad") else 1e-3,
                          weight_decay=1e-4)
    result, _ = run(config, mnist)
    assert result.status == "completed" and len(result.losses.losses) == 20
    assert all(math.isfinite(x) for x in result.losses.losses)
    assert not same_weights(result.model, build_model(config))
    assert result.test_accuracy > 0.2


@pytest.mark.parametrize("init", INITS)
def test_every_init_trains(mnist, init):
    config = TINY.replace(init=init, hidden=(64, 32))
    result, _ = run(config, mnist)
    assert all(math.isfinite(x) for x in result.losses.losses) and math.isfinite(result.test_loss)
    assert result.test_accuracy > 0.2


def test_cnn_trains(mnist):
    # 100 iterations of a small LeNet reach 0.82-0.91 test accuracy and a test loss of 0.30-0.52 over seeds 0-11
    # (0.88 and 0.37 with seed 0); a net whose convolutions do not learn stays near chance (0.1, loss 2.3).
    config = TINY.replace(model="cnn", hidden=(16,), conv_channels=(4, 8), train_limit=2000, batch_size=20, lr=5e-3)
    result, _ = run(config, mnist)
    assert result.status == "completed" and len(result.losses.losses) == 100
    assert result.test_accuracy > 0.75 and result.test_loss < 0.7


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_last", [True, False])
def test_batches_follow_dataloader(mnist, shuffle, drop_last):
    config = TrainConfig(hidden=(16,), train_limit=1000, batch_size=128, epochs=2, shuffle=shuffle,
                         drop_last=drop_last, val_size=0)
    per_epoch = len(DataLoader(range(1000), batch_size=128, shuffle=shuffle, drop_last=drop_last))
    result, events = run(config, mnist)
    assert config.iterations_per_epoch == per_epoch
    assert len(result.losses.iterations) == 2 * per_epoch
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert last.total_iterations == 2 * per_epoch
    assert last.samples_seen == 2 * (896 if drop_last else 1000)
    assert all(e.val_loss is None and e.val_accuracy is None for e in result.epochs)


def test_unshuffled_batches_are_the_training_split_in_order(mnist):
    config = TINY.replace(shuffle=False)
    result, _ = run(config, mnist)
    train_idx, _ = split_indices(config)
    first = train_idx[: config.batch_size]
    with torch.no_grad():
        logits = build_model(config)(normalize(mnist.train_images[first], mnist.mean, mnist.std))
    expected = float(F.cross_entropy(logits, mnist.train_labels[first]))
    assert result.losses.losses[0] == pytest.approx(expected, rel=1e-5)
    shuffled, _ = run(config.replace(shuffle=True), mnist)
    assert shuffled.losses.losses[0] != pytest.approx(expected, rel=1e-5)


def test_long_runs_report_block_means(mnist, monkeypatch):
    config = TINY.replace(train_limit=500, batch_size=10, epochs=2)  # 100 iterations
    full, _ = run(config, mnist)
    monkeypatch.setattr(training, "MAX_LOSS_POINTS", 8)  # so 100 iterations count as "very long"
    blocked, events = run(config, mnist)
    assert blocked.losses.iterations == [13, 26, 39, 52, 65, 78, 91, 100]
    for point, end in zip(blocked.losses.losses, blocked.losses.iterations, strict=False):
        start = end - 13 if end != 100 else 91
        assert point == pytest.approx(sum(full.losses.losses[start:end]) / (end - start), rel=1e-6)
    streamed = LossPoints()
    for e in events:
        if isinstance(e, LossPoints):
            streamed.extend(e)
    assert streamed == blocked.losses


# -- refusals and devices ---------------------------------------------------------------------------


def test_bad_config_is_rejected_before_any_data_is_touched(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("MNIST_PLAYGROUND_MIRROR", "http://127.0.0.1:9")
    bad = TrainConfig(optimizer="sgdd", batch_size=0, dropout=1.5)
    with pytest.raises(ConfigError) as caught:
        train(bad)
    assert {p.field for p in caught.value.problems} == {"optimizer", "batch_size", "dropout"}
    message = str(caught.value)
    assert "optimizer='sgdd'" in message and "adam" in message
    assert "batch_size=0" in message and "55000" in message
    assert "dropout=1.5" in message and "0.9" in message
    assert not (tmp_path / "empty").exists()


def test_batch_larger_than_the_training_set_is_rejected(mnist):
    with pytest.raises(ConfigError, match="batch_size=1001.*1 to 1000"):
        train(TINY.replace(batch_size=1001), data=mnist)


def test_dataset_comes_from_the_config(data_root, monkeypatch):
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(data_root))
    result = train(TINY.replace(dataset="fashion"), device="cpu")
    assert result.mean == pytest.approx(0.2860, abs=5e-5) and result.std == pytest.approx(0.3530, abs=5e-5)


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_pick_device_prefers_cuda_then_mps_then_the_cpu(monkeypatch, cuda: bool, mps: bool, expected: str):
    monkeypatch.delenv("MNIST_PLAYGROUND_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device().type == expected
    assert pick_device("auto").type == expected
    assert pick_device("cpu") == torch.device("cpu")


def test_pick_device_prefers_cuda_and_honours_the_override(monkeypatch):
    monkeypatch.delenv("MNIST_PLAYGROUND_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    monkeypatch.setenv("MNIST_PLAYGROUND_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    assert pick_device("cuda").type == "cuda"  # an explicit argument beats the environment


def test_train_uses_the_device_it_was_given(mnist, monkeypatch):
    # The meta device holds tensors without data: the first loss read back fails there, where a trainer that
    # picked its own device (this machine's CPU or GPU) would train on.
    with pytest.raises(NotImplementedError, match="meta tensor"):
        train(TINY, data=mnist, device="meta")
    # The other way round: the device train() would pick itself is unusable, so only the one given can work.
    monkeypatch.setattr(training, "pick_device", lambda preference=None: torch.device("meta"))
    for device in (torch.device("cpu"), "cpu"):
        result = train(TINY, data=mnist, device=device)
        assert result.status == "completed" and result.device == "cpu" and result.test_accuracy > 0.5
    with pytest.raises(NotImplementedError, match="meta tensor"):
        train(TINY, data=mnist)  # none given: the (patched) pick


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda_learns(mnist):
    result = train(TrainConfig(train_limit=10_000, epochs=1, dropout=0.3), data=mnist, device="cuda")
    assert result.device.startswith("cuda") and result.status == "completed"
    assert next(result.model.parameters()).device.type == "cpu"
    assert result.test_accuracy >= 0.90 and len(result.losses.losses) == 100


# -- continuing a run ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("optimizer", "model"), [("adam", "mlp"), ("momentum", "mlp"), ("sgd", "mlp"),
                                                  ("adam", "cnn"), ("momentum", "cnn")])
def test_continuing_from_weights_and_optimizer_state_equals_training_straight_on(mnist, tmp_path, optimizer, model):
    # 2 epochs, saved to a weights file with the optimizer state, then 1 more epoch from that file, must be the
    # run of 3 epochs: same weights, same losses (numbered on from the parent's), same epochs, same clock order.
    # The CNN trains in channels_last on the CPU while its file holds contiguous tensors: the state must fit again.
    config = TINY.replace(epochs=3, optimizer=optimizer, lr=0.01 if optimizer != "adam" else 1e-3, val_size=500)
    if model == "cnn":
        config = config.replace(model="cnn", hidden=(32,), conv_channels=(4, 8))
    straight, _ = run(config, mnist)
    parent, _ = run(config.replace(epochs=2), mnist)
    path = tmp_path / "parent.safetensors"
    save_model(path, parent.model, config.replace(epochs=2), parent.mean, parent.std,
               optimizer_state=parent.optimizer_state)
    resume = ResumeFrom(model_state=load_model(path).model.state_dict(), optimizer_state=load_optimizer_state(path),
                        iteration=parent.losses.iterations[-1], epoch=2, seconds=parent.epochs[-1].seconds)
    child, events = run(config, mnist, resume=resume)
    assert same_weights(child.model, straight.model) or all(
        torch.allclose(a, b, atol=1e-6) for a, b in zip(child.model.state_dict().values(),
                                                        straight.model.state_dict().values(), strict=False))
    assert child.losses.iterations == straight.losses.iterations[-20:] == list(range(41, 61))
    assert child.losses.losses == pytest.approx(straight.losses.losses[-20:], rel=1e-5)
    assert [e.epoch for e in child.epochs] == [3]
    assert child.epochs[0].seconds > parent.epochs[-1].seconds  # the clock goes on from the parent's
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].iteration == progress[-1].total_iterations == 60
    assert child.test_accuracy == pytest.approx(straight.test_accuracy)


def test_without_optimizer_state_continuing_differs(mnist, tmp_path):
    # The optimizer state matters: Adam restarted from scratch (step 0, no moments) takes other steps.
    config = TINY.replace(epochs=2)
    straight, _ = run(config, mnist)
    parent, _ = run(config.replace(epochs=1), mnist)
    resume = ResumeFrom(parent.model.state_dict(), None, iteration=20, epoch=1, seconds=1.0)
    child, _ = run(config, mnist, resume=resume)
    assert not same_weights(child.model, straight.model)


def test_optimizer_state_is_stored_as_tensors_never_pickled(mnist, tmp_path):
    result, _ = run(TINY, mnist)
    path = tmp_path / "w.safetensors"
    save_model(path, result.model, TINY, result.mean, result.std, optimizer_state=result.optimizer_state)
    raw = path.read_bytes()
    assert b"pickle" not in raw and not raw.startswith(b"\x80")  # a safetensors header, not a pickle
    restored = load_optimizer_state(path)
    assert restored["param_groups"][0]["lr"] == TINY.lr
    saved = result.optimizer_state["state"]
    assert restored["state"].keys() == saved.keys()
    assert all(torch.equal(restored["state"][i]["exp_avg"], saved[i]["exp_avg"]) for i in saved)
    assert load_model(path).config == TINY  # the weights still load with the optimizer state beside them
    save_model(path, result.model, TINY, result.mean, result.std)
    assert load_optimizer_state(path) is None


def test_test_confidences_are_the_softmax_of_each_prediction(short_run, mnist):
    _, result, _ = short_run
    with torch.no_grad():
        probabilities = torch.softmax(result.model(normalize(mnist.test_images[:300], result.mean, result.std)), 1)
    assert result.test_confidences.shape == (10_000,)
    assert torch.allclose(result.test_confidences[:300], probabilities.max(1).values, atol=1e-5)
