"""The class set (#20) on a real run store and real MNIST digits: collecting with its refusals, IDX export and
import (bit-exact, read by torchvision), a run measured on it against an independent computation, and
fine-tuning with the asking student held out, queued through the JobManager and trained in a real worker process
(the web process only asks), scored before and after against an independent computation."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

from mnist_core.backends.jobs import JobManager
from mnist_core.class_set.fine_tune import split_for, start_fine_tune, with_extra_training_images
from mnist_core.class_set.idx_files import IMAGES_FILE, LABELS_FILE
from mnist_core.class_set.meeting import MIN_PER_DIGIT, TooFewSamples, meet_run
from mnist_core.class_set.samples import (
    MAX_RAW_BYTES,
    MAX_SAMPLES_PER_STUDENT,
    ClassSet,
    ClassSetRefused,
    FineTuneRow,
    Sample,
)
from mnist_core.cli import main as cli_main
from mnist_core.runs.class_rules import ClassRules, LimitReached, save_rules
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore
from mnist_core.training import train

from conftest import TINY, raw_test_set, wait_for

ANN, BEN = Actor("owner-ann", "Ann"), Actor("owner-ben", "Ben")
TEACHER = Actor("owner-teacher", "Teacher", is_teacher=True)


@pytest.fixture
def store(runs_root: Path) -> RunStore:
    return RunStore(runs_root)


def seed(class_set: ClassSet, per_digit: int, actors: tuple[Actor, ...] = (ANN, BEN), skip: int = 0) -> None:
    """`per_digit` real MNIST test digits of each digit for each actor (different images for each)."""
    images, labels = raw_test_set()
    for a, actor in enumerate(actors):
        for digit in range(10):
            for image in images[labels == digit][skip + a * per_digit: skip + (a + 1) * per_digit]:
                class_set.add(actor, digit, image)


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, runs: Path, *args: str):
    monkeypatch.setenv("MNIST_PLAYGROUND_RUNS", str(runs))
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, mnist):
    """A small real network trained once, stored into each test's run store by `stored_run`."""
    return train(TINY, data=mnist, device="cpu")


def stored_run(store: RunStore, result) -> int:
    run_id = store.create_run(TINY, name="tiny", status="running")
    store.finish(run_id, result)
    return run_id


def test_refusals_and_who_may_delete(store: RunStore) -> None:
    class_set = ClassSet(store)
    digit = raw_test_set()[0][0]
    with pytest.raises(ClassSetRefused) as empty:
        class_set.add(ANN, 3, np.zeros((28, 28), np.uint8))
    with pytest.raises(ClassSetRefused) as unlabeled:
        class_set.add(ANN, None, digit)
    with pytest.raises(ClassSetRefused) as big:
        class_set.add(ANN, 7, digit, raw_png=b"x" * (MAX_RAW_BYTES + 1))
    assert (empty.value.reason, unlabeled.value.reason, big.value.reason) == ("empty", "label", "too_large")
    sample = class_set.add(ANN, 7, digit, raw_png=b"png")
    with pytest.raises(ClassSetRefused) as theirs:
        class_set.delete(BEN, sample)
    assert theirs.value.reason == "not_yours" and class_set.count() == 1
    with pytest.raises(ClassSetRefused):
        class_set.set_frozen(BEN, True)
    class_set.set_frozen(TEACHER, True)
    with pytest.raises(ClassSetRefused) as frozen:
        class_set.add(BEN, 1, digit)
    assert frozen.value.reason == "frozen" and class_set.count() == 1
    class_set.delete(TEACHER, sample)
    assert class_set.count() == 0


def test_quota_per_student(store: RunStore) -> None:
    class_set = ClassSet(store)
    image = raw_test_set()[0][0]
    class_set.add_many(np.repeat(image[None], MAX_SAMPLES_PER_STUDENT, 0), np.zeros(MAX_SAMPLES_PER_STUDENT),
                       owner_id=ANN.owner_id)
    with pytest.raises(ClassSetRefused, match=f"already has {MAX_SAMPLES_PER_STUDENT} samples") as refused:
        class_set.add(ANN, 1, image)
    assert refused.value.reason == "quota" and class_set.count() == MAX_SAMPLES_PER_STUDENT
    class_set.add(BEN, 1, image)  # another student is not held back


def test_samples_keep_no_name_and_a_gone_identity_is_anonymous(store: RunStore) -> None:
    class_set = ClassSet(store)
    with store.write_transaction() as conn:
        conn.execute("INSERT INTO identities (owner_id, name, created) VALUES (?, 'Ann', 0)", (ANN.owner_id,))
    seed(class_set, 1)
    columns = [row[1] for row in store.connection().execute("PRAGMA table_info(class_samples)")]
    assert "owner_name" not in columns and "name" not in columns
    assert {o.owner_id: o.name for o in class_set.per_owner()} == {ANN.owner_id: "Ann", BEN.owner_id: None}
    with store.write_transaction() as conn:
        conn.execute("UPDATE identities SET revoked = 1 WHERE owner_id = ?", (ANN.owner_id,))
    assert [o.name for o in class_set.per_owner()] == [None, None]


def test_export_import_round_trip_is_bit_exact_and_torchvision_reads_it(
        store: RunStore, runs_root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    seed(ClassSet(store), 2)
    first = cli(monkeypatch, capsys, runs_root, "class-set", "export", str(tmp_path / "one"))
    assert first.returncode == 0, first.stderr
    images, labels = ClassSet(store).arrays()
    # torchvision's own reader, on the unpacked files, in MNIST's layout
    raw = tmp_path / "tv" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, target in ((IMAGES_FILE, "t10k-images-idx3-ubyte"), (LABELS_FILE, "t10k-labels-idx1-ubyte")):
        (raw / target).write_bytes(gzip.decompress((tmp_path / "one" / name).read_bytes()))
    assert np.array_equal(read_image_file(str(raw / "t10k-images-idx3-ubyte")).numpy(), images)
    assert np.array_equal(read_label_file(str(raw / "t10k-labels-idx1-ubyte")).numpy(), labels)
    assert len(labels) == 40

    other = tmp_path / "other-runs"
    assert cli(monkeypatch, capsys, other, "class-set", "import", str(tmp_path / "one")).returncode == 0
    assert cli(monkeypatch, capsys, other, "class-set", "export", str(tmp_path / "two")).returncode == 0
    for name in (IMAGES_FILE, LABELS_FILE):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    stats = cli(monkeypatch, capsys, other, "class-set", "stats", "--json")
    assert json.loads(stats.stdout)["per_digit"] == [4] * 10


def test_importing_files_that_are_not_idx_changes_nothing(store: RunStore, runs_root: Path, tmp_path: Path,
                                                          monkeypatch, capsys) -> None:
    seed(ClassSet(store), 1)
    good = tmp_path / "good"
    assert cli(monkeypatch, capsys, runs_root, "class-set", "export", str(good)).returncode == 0
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    (bad / IMAGES_FILE).write_bytes(gzip.compress(b"not an idx file at all"))
    for folder in (bad, tmp_path / "missing"):
        proc = cli(monkeypatch, capsys, runs_root, "class-set", "import", str(folder))
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "not an IDX images file" in cli(monkeypatch, capsys, runs_root, "class-set", "import",
                                           str(bad)).stderr
    assert ClassSet(store).count() == 20


def test_evaluate_matches_an_independent_computation(store: RunStore, runs_root: Path, tiny_run, monkeypatch,
                                                     capsys) -> None:
    run_id = stored_run(store, tiny_run)
    class_set = ClassSet(store)
    seed(class_set, 1)
    small = cli(monkeypatch, capsys, runs_root, "evaluate", str(run_id), "--on", "class-set", "--json")
    assert small.returncode == 2 and f"at least {MIN_PER_DIGIT} samples of every digit" in small.stderr
    seed(class_set, 2, skip=10)
    proc = cli(monkeypatch, capsys, runs_root, "evaluate", str(run_id), "--on", "class-set", "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    # independently: the stored pixels, scaled and standardised by hand, through the trained network
    images, labels = class_set.arrays()
    loaded = store.load_model(run_id)
    x = (torch.from_numpy(images).float() / 255 - loaded.mean) / loaded.std
    with torch.no_grad():
        answers = loaded.model.eval()(x[:, None]).argmax(1).numpy()
    assert shown["count"] == len(labels) == 60
    assert shown["accuracy"] == pytest.approx(float((answers == labels).mean()))
    assert shown["mnist_test_accuracy"] == pytest.approx(store.get(run_id).test_accuracy)
    assert shown["run_id"] == run_id and np.array(shown["confusion"]).sum() == 60
    assert np.trace(np.array(shown["confusion"])) == (answers == labels).sum()


def test_too_few_says_how_many_more_per_digit(store: RunStore, tiny_run) -> None:
    run_id = stored_run(store, tiny_run)
    ClassSet(store).add(ANN, 4, raw_test_set()[0][4])
    with pytest.raises(TooFewSamples) as small:
        meet_run(store, run_id)
    assert small.value.missing == [MIN_PER_DIGIT] * 4 + [MIN_PER_DIGIT - 1] + [MIN_PER_DIGIT] * 5


def by_hand(store: RunStore, run_id: int, samples: list[Sample]) -> float:
    """The accuracy of stored run `run_id` (its safetensors file) on `samples`, scaled and standardised by hand."""
    loaded = store.load_model(run_id)
    x = (torch.from_numpy(np.stack([s.image for s in samples])).float() / 255 - loaded.mean) / loaded.std
    with torch.no_grad():
        answers = loaded.model.eval()(x[:, None]).argmax(1).numpy()
    return float((answers == np.array([s.label for s in samples])).mean())


@pytest.fixture
def jobs(store: RunStore, data_root: Path, mnist):
    """The app's way of training: a JobManager whose runs train in a real worker process."""
    manager = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu")
    yield manager
    manager.shutdown(timeout=60)


def test_a_fine_tune_row_from_before_the_worker_kept_scores_is_upgraded_in_place(store: RunStore) -> None:
    with store.write_transaction() as conn:  # the table as the first class-set release made it, with one of its rows
        conn.execute("CREATE TABLE class_finetunes (run_id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, "
                     "held_out_owner TEXT NOT NULL, train_samples INTEGER NOT NULL, created REAL NOT NULL)")
        conn.execute("INSERT INTO class_finetunes VALUES (7, 3, 'owner-ann', 20, 0)")
    class_set = ClassSet(store)
    assert class_set.fine_tune_of(7) == (3, ANN.owner_id, 20)
    assert class_set.latest_fine_tune(3, ANN.owner_id) == FineTuneRow(7, 3, ANN.owner_id, 20)  # no scores: None


@pytest.mark.parametrize("worker_first", [False, True])
def test_the_page_and_the_worker_each_write_their_part_of_a_fine_tune_in_either_order(
        store: RunStore, worker_first: bool) -> None:
    class_set = ClassSet(store)
    asked = FineTuneRow(7, 3, ANN.owner_id, 40, upto=99, before_accuracy=0.5, before_count=20)
    trained = FineTuneRow(7, 3, ANN.owner_id, 38, upto=99, after_accuracy=0.75, after_count=20)  # 2 deleted since
    steps = [(class_set.record_fine_tune, asked), (class_set.record_fine_tuned, trained)]
    for write, row in steps[::-1] if worker_first else steps:
        write(row)
    # The worker's count of drawings trained on wins whichever wrote first; each keeps its own scores.
    assert class_set.fine_tune_row(7) == FineTuneRow(7, 3, ANN.owner_id, 38, 99, 0.5, 20, 0.75, 20)


def test_fine_tune_holds_out_the_asking_student(store: RunStore, mnist) -> None:
    class_set = ClassSet(store)
    seed(class_set, 2)
    others, mine = split_for(class_set, ANN.owner_id)
    assert {s.owner_id for s in others} == {BEN.owner_id} and {s.owner_id for s in mine} == {ANN.owner_id}
    images, labels = class_set.arrays(others)
    mixed = with_extra_training_images(mnist, TINY, images, labels)
    held_out = {s.image.tobytes() for s in mine}
    assert not any(image.numpy().tobytes() in held_out for image in mixed.train_images)
    stored = {image.numpy().tobytes() for image in mixed.train_images}
    assert all(image.tobytes() in stored for image in images)
    assert torch.equal(mixed.test_images, mnist.test_images) and mixed.mean == mnist.mean
    earlier = split_for(class_set, ANN.owner_id, upto=class_set.newest_id() - 10)  # the set as it was then
    assert [s.id for s in earlier[0]] == [s.id for s in others[:-10]] and len(earlier[1]) == len(mine)


def test_fine_tune_trains_in_a_worker_and_scores_before_and_after(store: RunStore, tiny_run, jobs,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    parent = stored_run(store, tiny_run)
    class_set = ClassSet(store)
    seed(class_set, 2)
    mine = class_set.samples(owner_id=ANN.owner_id)

    started = start_fine_tune(store, parent, ANN, jobs.submit, name="tiny + class set")
    assert jobs.wait(started.run_id, timeout=180)
    record = store.get(started.run_id)
    assert (record.parent_id, record.owner_id, record.status, record.name) == (
        parent, ANN.owner_id, "completed", "tiny + class set")
    assert [e.epoch for e in store.epochs(record.id)] == [2]  # one more epoch, numbered on from the parent's
    row = class_set.fine_tune_row(record.id)
    assert (row.parent_id, row.held_out_owner, row.train_samples) == (parent, ANN.owner_id, 20)
    assert row.before_count == row.after_count == started.before.count == 20
    # independently: each network's own weights file, Ann's stored pixels standardised by hand
    assert row.before_accuracy == pytest.approx(started.before.accuracy) == pytest.approx(by_hand(store, parent, mine))
    assert row.after_accuracy == pytest.approx(by_hand(store, record.id, mine))
    assert class_set.fine_tune_of(record.id) == (parent, ANN.owner_id, 20)
    assert class_set.latest_fine_tune(parent, ANN.owner_id) == row
    assert meet_run(store, record.id).count == 20  # measured only on what it never trained on: Ann's

    # Refusals store nothing: too few drawings of one's own, a teacher's cap on epochs (the quotas of any run).
    runs = len(store.list_runs(limit=100))
    with pytest.raises(ClassSetRefused) as none_of_mine:
        start_fine_tune(store, parent, Actor("owner-cid", "Cid"), jobs.submit)
    assert none_of_mine.value.reason == "own_samples"
    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", "a teacher's long key for this test")  # rules hold
    save_rules(store.root, ClassRules(max_epochs=1), TEACHER)
    with pytest.raises(LimitReached) as capped:
        start_fine_tune(store, parent, ANN, jobs.submit)
    assert capped.value.what == "epochs" and len(store.list_runs(limit=100)) == runs
    assert class_set.latest_fine_tune(parent, ANN.owner_id) == row
    # The queue takes only plain JSON of a kind the workers know; a task the worker cannot read fails its run only.
    with pytest.raises(ValueError, match="not a job task"):
        jobs.submit(TINY, task={"kind": "anything else"})
    assert len(store.list_runs(limit=100)) == runs
    broken = jobs.submit(TINY, task={"kind": "class_set_fine_tune", "upto": "all"})
    assert jobs.wait(broken, timeout=60) and store.get(broken).status == "failed"
    assert "not a class-set fine-tune task" in store.get(broken).error
    after = jobs.submit(TINY)  # the worker goes on
    assert jobs.wait(after, timeout=60) and store.get(after).status == "completed"


def test_the_web_process_only_asks_a_worker_trains_it_live_and_stop_works(store: RunStore, tiny_run, jobs) -> None:
    parent = stored_run(store, tiny_run)
    class_set = ClassSet(store)
    seed(class_set, 1)
    started = start_fine_tune(store, parent, ANN, jobs.submit, more_epochs=150)  # 3,000 iterations: minutes
    # The call has returned; the run waits for (or is already in) the worker process: nothing trained here.
    record = store.get(started.run_id)
    assert record.status in ("queued", "running") and started.run_id in jobs.queued() + jobs.active()
    assert started.before.count == 10 and class_set.fine_tune_row(record.id).after_accuracy is None

    wait_for(lambda: len(store.losses(record.id).iterations) >= 5 and store.get(record.id).progress, 120)
    (owner_pid,) = store.connection().execute("SELECT owner_pid FROM runs WHERE id = ?", (record.id,)).fetchone()
    assert owner_pid != os.getpid() and owner_pid in jobs.backend.pids()  # its losses come from a worker
    assert jobs.stop(record.id, actor=ANN)
    assert jobs.wait(record.id, timeout=60)
    stopped = store.get(record.id)
    assert stopped.status == "stopped" and stopped.progress["iteration"] < stopped.config.total_iterations
    row = class_set.fine_tune_row(record.id)  # the network as it was when stopped, scored on Ann's drawings
    assert row.after_count == 10
    assert row.after_accuracy == pytest.approx(by_hand(store, record.id, class_set.samples(owner_id=ANN.owner_id)))


def test_fine_tune_on_a_ray_cluster_reads_the_set_on_the_head(store: RunStore, tiny_run, data_root: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab's Ray node has no run store: the head reads the drawings, the node adds them to the dataset it loads."""
    ray = pytest.importorskip("ray")
    parent = stored_run(store, tiny_run)
    class_set = ClassSet(store)
    seed(class_set, 1)
    # A short temp dir: Ray's unix socket paths must stay under ~107 characters.
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as temp:
        ray.init(num_cpus=1, include_dashboard=False, _temp_dir=temp, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
        try:
            monkeypatch.setenv("MNIST_PLAYGROUND_RAY_ADDRESS", "auto")  # ray is already connected here
            jobs = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu")
            try:
                started = start_fine_tune(store, parent, ANN, jobs.submit)
                assert jobs.wait(started.run_id, timeout=180)
            finally:
                jobs.shutdown(timeout=60)
        finally:
            ray.shutdown()
    assert store.get(started.run_id).status == "completed"
    row = class_set.fine_tune_row(started.run_id)
    assert (row.train_samples, row.after_count) == (10, 10)
    assert row.after_accuracy == pytest.approx(by_hand(store, started.run_id, class_set.samples(owner_id=ANN.owner_id)))
