"""`python -m mnist_core`: real subprocesses, real data, real run store; exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_core.cli import main as cli_main

from conftest import PROJECT_DIR, SHARED_DATA, raw_test_set

TINY = ["--hidden", "32", "--epochs", "1", "--train-limit", "2000", "--val-size", "500"]


@pytest.fixture
def cli(data_root: Path, tmp_path: Path):
    runs = tmp_path / "runs"

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "MNIST_PLAYGROUND_DATA": str(data_root), "MNIST_PLAYGROUND_RUNS": str(runs),
                    "MNIST_PLAYGROUND_DEVICE": "cpu", **(env or {})}
        return subprocess.run([sys.executable, "-m", "mnist_core", *args], cwd=PROJECT_DIR, env=full_env,
                              capture_output=True, text=True, timeout=300, check=False)

    return run


@pytest.fixture
def cli_in_process(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """cli.main(argv) in this process: the same exit code and output as a subprocess, without its start-up."""
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(data_root))
    monkeypatch.setenv("MNIST_PLAYGROUND_RUNS", str(tmp_path / "runs"))

    def run(*args: str) -> subprocess.CompletedProcess:
        code = cli_main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def real_test_digit(index: int) -> tuple[np.ndarray, int]:
    """A digit of the genuine MNIST test set (uint8 28x28) and its label."""
    images, labels = raw_test_set()
    return images[index], int(labels[index])


def write_drawing(path: Path, digit: np.ndarray, paper: bool = False) -> Path:
    """A genuine test digit scaled onto a 280x280 canvas; `paper`: dark ink on white, like a photo."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[40:208, 60:228] = np.kron(digit, np.ones((6, 6), np.uint8))
    Image.fromarray(255 - canvas if paper else canvas).convert("RGB").save(path)
    return path


def test_train_json_then_list_show_predict_delete(cli, tmp_path: Path) -> None:
    proc = cli("train", "--preset", "mlp-3", *TINY, "--name", "tiny", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert 0.5 <= result["test_accuracy"] <= 1.0  # 20 iterations: far above chance (0.1), far from done
    assert result["test_loss"] > 0 and result["seconds"] > 0
    run_id = result["run_id"]

    listed = cli("runs", "list")
    assert listed.returncode == 0 and "tiny" in listed.stdout and "completed" in listed.stdout
    shown = json.loads(cli("runs", "show", str(run_id)).stdout)
    assert shown["config"]["hidden"] == [32] and shown["config"]["preset"] == "mlp-3"
    assert shown["config"]["optimizer"] == "adam"  # from the preset, not overridden

    digit, _ = real_test_digit(0)
    image = write_drawing(tmp_path / "digit.png", digit)
    predicted = cli("predict", str(image), "--run", str(run_id), "--json")
    assert predicted.returncode == 0, predicted.stderr
    line = json.loads(predicted.stdout)
    assert line["path"] == str(image) and len(line["probabilities"]) == 10
    assert abs(sum(line["probabilities"]) - 1) < 1e-4

    assert cli("runs", "delete", str(run_id)).returncode == 0
    assert_one_line_error(cli("runs", "show", str(run_id)), str(run_id))


def test_explicit_options_override_the_preset(cli) -> None:
    proc = cli("train", "--preset", "softmax-sgd", "--optimizer", "momentum", "--lr", "0.05", *TINY[2:], "--json")
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout.splitlines()[-1])["run_id"]
    config = json.loads(cli("runs", "show", str(run_id)).stdout)["config"]
    assert config["optimizer"] == "momentum" and config["lr"] == 0.05 and config["hidden"] == []


def test_predict_default_model_reads_drawings_and_photos(cli, tmp_path: Path) -> None:
    paths, labels = [], []
    for index in range(6):
        digit, label = real_test_digit(index)
        paths.append(str(write_drawing(tmp_path / f"d{index}.png", digit, paper=index % 2 == 1)))
        labels.append(str(label))
    Image.new("RGB", (280, 280)).save(tmp_path / "empty.png")
    proc = cli("predict", *paths, str(tmp_path / "empty.png"), "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["label"] for line in lines[:-1]] == labels
    assert lines[-1] == {"path": str(tmp_path / "empty.png"), "empty": True}


def test_predict_refuses_a_file_that_is_not_an_image(cli, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_text("this is not a picture")
    assert_one_line_error(cli("predict", str(bogus)), "cannot read image", "notes.png")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "--batch-size", "0", "--dropout", "1.5", "--epochs", "0"],
         ["batch_size=0", "dropout=1.5", "epochs=0"]),
        (["train", "--preset", "resnet"], ["invalid choice", "resnet"]),
        (["train", "--hidden", "256,abc"], ["layer sizes", "256,abc"]),
        (["train", "--optimizer", "lbfgs"], ["lbfgs"]),
        (["train", "--lr", "fast"], ["--lr", "fast"]),
        (["train", "--hidden", "10,10,10,10,10,10,10,10,10"], ["hidden", "0 to 8 layers"]),
        (["predict", "x.png", "--run", "seven"], ["--run", "seven"]),
        (["runs", "show", "424242"], ["424242"]),
        (["runs", "delete", "424242"], ["424242"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(cli_in_process, args: list[str], fragments: list[str]) -> None:
    assert_one_line_error(cli_in_process(*args), *fragments)


def test_a_bad_argument_is_answered_before_torch_is_imported() -> None:
    """The subprocess path of exit code 2: argparse and config checks run before torch loads (seconds)."""
    code = ("import sys; from mnist_core.cli import main; code = main(['train', '--lr', '-1']); "
            "print(code, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.stdout.split() == ["2", "False"], proc.stderr
    assert_one_line_error(subprocess.CompletedProcess([], 2, "", proc.stderr), "lr=-1.0")


def test_missing_dataset_names_the_fixes(cli, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on: the mirror is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = cli("train", *TINY, env={"MNIST_PLAYGROUND_DATA": str(tmp_path / "empty"),
                                    "MNIST_PLAYGROUND_MIRROR": f"http://127.0.0.1:{port}"})
    assert_one_line_error(proc, "MNIST is not available", "data import", "MNIST_PLAYGROUND_MIRROR")
    assert "no runs" in cli("runs", "list", env={"MNIST_PLAYGROUND_DATA": str(tmp_path / "empty")}).stdout


def test_data_import_and_status(cli, tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    env = {"MNIST_PLAYGROUND_DATA": str(target)}
    before = cli("data", "status", env=env)
    assert before.returncode == 0 and "MNIST" in before.stdout and "missing" in before.stdout
    proc = cli("data", "import", str(SHARED_DATA / "MNIST" / "raw"), "--dataset", "mnist", env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (target / "MNIST" / "raw").iterdir()) == sorted(
        p.name for p in (SHARED_DATA / "MNIST" / "raw").glob("*.gz"))
    after = cli("data", "status", env=env).stdout.splitlines()
    assert any(line.startswith("MNIST ") and "present" in line for line in after)

    corrupt = tmp_path / "usb"
    shutil.copytree(SHARED_DATA / "MNIST" / "raw", corrupt)
    with open(corrupt / "train-labels-idx1-ubyte.gz", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    assert_one_line_error(cli("data", "import", str(corrupt), "--dataset", "mnist", env=env),
                          "train-labels-idx1-ubyte.gz", "corrupt")


def test_train_save_writes_a_calibrated_file_and_calibrate_refits_it(cli, tmp_path: Path) -> None:
    from mnist_core.calibration import temperature_of
    from mnist_core.weights import load_model

    saved = tmp_path / "tiny.safetensors"
    assert cli("train", *TINY, "--save", str(saved)).returncode == 0
    fitted = temperature_of(load_model(saved))
    assert fitted is not None and "500 validation images" in load_model(saved).metadata["calibration"]
    done = cli("calibrate", str(saved), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["temperature"] == pytest.approx(fitted) and report["validation_images"] == 500
    assert report["validation_nll_after"] <= report["validation_nll_before"]
    assert {"test_ece_before", "test_ece_after"} <= set(report)
    assert "expected calibration error" in done.stderr


def test_calibrate_needs_held_out_images_and_one_target(cli, tmp_path: Path) -> None:
    saved = tmp_path / "all.safetensors"
    assert cli("train", "--hidden", "16", "--epochs", "1", "--train-limit", "1000", "--val-size", "0",
               "--save", str(saved)).returncode == 0
    refused = cli("calibrate", str(saved))
    assert refused.returncode == 1 and "nothing held out" in refused.stderr
    both = cli("calibrate")
    assert both.returncode == 2 and both.stderr.strip() == "mnist_core: error: give either a weights file or --run ID"


def test_a_command_line_run_never_waits_in_the_class_queue(cli_in_process, monkeypatch: pytest.MonkeyPatch) -> None:
    """`train` trains its run itself: the run must never be "waiting" in the store, where an app server sharing the
    store would claim it and train it a second time (runs.queue)."""
    from mnist_core.backends import execution
    from mnist_core.runs.queue import RunQueue

    seen: dict[str, list[int]] = {}
    real_execute_run = execution.execute_run

    def execute_run(store, run_id, config, **kwargs):
        seen["waiting"] = RunQueue(store).waiting_ids()  # what a dispatcher's next look would find
        seen["run"] = [run_id]
        return real_execute_run(store, run_id, config, **kwargs)

    monkeypatch.setattr(execution, "execute_run", execute_run)
    proc = cli_in_process("train", *TINY, "--json")
    assert proc.returncode == 0, proc.stderr
    assert seen["run"] == [json.loads(proc.stdout.strip().splitlines()[-1])["run_id"]]
    assert seen["waiting"] == []
