"""`python -m mnist_core ...`: train, predict, runs and data from a terminal. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnist_core import course_table_command
from mnist_core.class_set import commands as class_set_commands
from mnist_core.config import (
    ACTIVATIONS,
    DATASETS,
    INITS,
    MODELS,
    OPTIMIZERS,
    PRESETS,
    ConfigError,
    TrainConfig,
    parse_layers,
    preset_config,
)


class UsageError(Exception):
    """Bad arguments, values or files: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; the brief wants one line
        raise UsageError(message)


def _layers(text: str) -> tuple[int, ...]:
    try:
        return parse_layers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes like 256,256 or 256-256 ({exc}), got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mnist_core", description="MNIST Playground engine (no browser needed).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a network and store the run")
    train.add_argument("--preset", choices=sorted(PRESETS),
                       help="start from a course preset; options below override it")
    train.add_argument("--dataset", choices=DATASETS)
    train.add_argument("--model", choices=MODELS)
    train.add_argument("--hidden", type=_layers, help="hidden layer sizes, e.g. 256,256 (none for softmax regression)")
    train.add_argument("--conv-channels", type=_layers, help="CNN channels of the two conv blocks, e.g. 16,32")
    train.add_argument("--activation", choices=ACTIVATIONS)
    train.add_argument("--dropout", type=float)
    train.add_argument("--init", choices=INITS)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--lr", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--val-size", type=int)
    train.add_argument("--train-limit", type=int, help="use only the first N training samples (0 = all)")
    train.add_argument("--no-shuffle", dest="shuffle", action="store_false", default=None)
    train.add_argument("--drop-last", dest="drop_last", action="store_true", default=None)
    train.add_argument("--name", help="a name for the run")
    train.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    train.add_argument("--save", type=Path, help="also write the trained weights to this .safetensors file")
    train.add_argument("--json", action="store_true", help="print one final JSON line on stdout")

    predict = commands.add_parser("predict", help="classify image files (a drawing or a photo of a digit)")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--run", default="default", help="a run id, or 'default' for the bundled model")
    predict.add_argument("--json", action="store_true", help="one JSON line per image")

    calibrate = commands.add_parser("calibrate", help="fit a model's temperature on its validation split and store "
                                    "it in its weights file (runs are calibrated when they finish)")
    calibrate.add_argument("weights", nargs="?", type=Path, help="a .safetensors weights file")
    calibrate.add_argument("--run", type=int, help="a stored run's id instead of a file")
    calibrate.add_argument("--json", action="store_true", help="print one JSON line on stdout")

    runs = commands.add_parser("runs", help="list, show or delete stored runs")
    runs_cmd = runs.add_subparsers(dest="runs_command", required=True, parser_class=_Parser)
    runs_cmd.add_parser("list").add_argument("--json", action="store_true")
    runs_cmd.add_parser("show").add_argument("run_id", type=int)
    runs_cmd.add_parser("delete").add_argument("run_id", type=int)

    data = commands.add_parser("data", help="dataset status and offline import")
    data_cmd = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    data_cmd.add_parser("status")
    importer = data_cmd.add_parser("import", help="copy the four .gz files from a folder, md5-checked")
    importer.add_argument("dir", type=Path)
    importer.add_argument("--dataset", choices=DATASETS, help="default: whichever datasets the folder holds")
    serve = commands.add_parser("serve-jobs", help="train the queue that app processes sharing the run store fill "
                                "(they run with MNIST_PLAYGROUND_TRAINER=elsewhere; make serve-class starts both)")
    serve.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    class_set_commands.add_commands(commands)
    course_table_command.add_parser(commands)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset (or the defaults), with every option the user gave explicitly on top."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    config = preset_config(args.preset, **overrides) if args.preset else TrainConfig(**overrides)
    return config.validated()


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mnist_core.backends.execution import execute_run
    from mnist_core.calibration import calibrate_weights_file
    from mnist_core.cost import check_fits
    from mnist_core.data import load_dataset
    from mnist_core.events import EpochMetrics, Progress
    from mnist_core.runs.store import RunStore
    from mnist_core.weights import save_model

    config = args.config
    check_fits(config)  # RunTooLarge: named field, before anything is stored or loaded
    load_dataset(config.dataset)  # a missing or damaged dataset is reported before any run is stored
    store = RunStore()
    # Running from the start: this process trains it, so it never waits in the class's queue, where a server
    # sharing the store would claim it and train it a second time.
    run_id = store.create_run(config, name=args.name, status="running")
    bar = tqdm(total=config.total_iterations, unit="it", file=sys.stderr, dynamic_ncols=True,
               desc=f"run {run_id}", disable=None)

    def show(event: Any) -> None:
        if isinstance(event, Progress):
            bar.update(event.iteration - bar.n)
            bar.set_postfix(epoch=f"{event.epoch}/{config.epochs}", samples_s=f"{event.samples_per_s:,.0f}")
        elif isinstance(event, EpochMetrics) and event.val_accuracy is not None:
            bar.write(f"epoch {event.epoch}: train loss {event.train_loss:.4f}, val accuracy {event.val_accuracy:.4f}",
                      file=sys.stderr)

    stop = threading.Event()
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=execute_run(
        store, run_id, config, stop=stop, device=args.device, on_event=show)), daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:  # Ctrl-C stops the run cleanly: metrics and weights so far are kept
        stop.set()
        worker.join()
    bar.close()
    record = store.get(run_id)
    result = outcome.get("result")
    if record.status == "failed" or result is None:
        print(f"mnist_core: error: run {run_id} failed: {record.error}", file=sys.stderr)
        if args.json:  # a failed run is an outcome: its kind and facts (a diverged run's iteration, learning rate)
            print(json.dumps(_failure_json(record)))
        return 1
    if args.save:
        command = "python -m mnist_core " + " ".join(sys.argv[1:])
        save_model(args.save, result.model, config, result.mean, result.std,
                   {"test_accuracy": repr(result.test_accuracy), "command": command})
        calibrate_weights_file(args.save)
    print(f"run {run_id} {record.status}: test accuracy {_figure(record.test_accuracy)}, test loss "
          f"{_figure(record.test_loss)}, {record.duration_s:.1f} s on {record.device}", file=sys.stderr)
    if args.json:
        print(json.dumps(_finite({"run_id": run_id, "status": record.status, "test_accuracy": record.test_accuracy,
                                  "test_loss": record.test_loss, "seconds": record.duration_s,
                                  "device": record.device, "samples_per_s": result.samples_per_s})))
    return 0


def _failure_json(record: Any) -> dict[str, Any]:
    failure = record.failure
    return _finite({"run_id": record.id, "status": record.status, "failure": failure.kind if failure else None,
                    "facts": failure.facts if failure else {}, "error": record.error})


def _figure(value: float | None) -> str:
    """A metric for the terminal: "-" where SQLite holds no number (NULL, which is how it stores a NaN)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinite float made None, so --json output is strict JSON that any reader takes."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def cmd_predict(args: argparse.Namespace) -> int:
    from mnist_core.image_files import ImageFileError, read_image_file
    from mnist_core.predict import load_default_model, predict_image

    if args.run == "default":
        loaded = load_default_model()
    else:
        from mnist_core.runs.store import RunStore

        try:
            run_id = int(args.run)
        except ValueError:
            raise UsageError(f"--run must be a run id or 'default', got {args.run!r}") from None
        loaded = RunStore().load_model(run_id)
    failures = 0
    for path in args.images:
        try:
            pixels = read_image_file(path.read_bytes(), name=str(path))
        except (OSError, ImageFileError) as exc:
            print(f"mnist_core: error: cannot read image {path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        prediction = predict_image(loaded, pixels)
        if args.json:
            line: dict[str, Any] = {"path": str(path)}
            if prediction is None:
                line["empty"] = True
            else:
                line.update(label=prediction.label, confidence=prediction.confidence,
                            probabilities=prediction.probabilities)
            print(json.dumps(line))
        elif prediction is None:
            print(f"{path}: nothing drawn")
        else:
            print(f"{path}: {prediction.label} ({prediction.confidence:.1%})")
    return 2 if failures else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from mnist_core.calibration import calibrate_weights_file, check_on_test_set
    from mnist_core.data import load_dataset
    from mnist_core.weights import load_model

    if (args.weights is None) == (args.run is None):
        raise UsageError("give either a weights file or --run ID")
    if args.run is not None:
        from mnist_core.runs.store import RunStore

        store = RunStore()
        store.get(args.run)  # RunNotFound before a missing-file message
        path = store.weights_path(args.run)
    else:
        path = args.weights
    data = load_dataset(load_model(path).config.dataset)
    fitted = calibrate_weights_file(path, data)
    if fitted is None:
        print(f"mnist_core: error: {path} was trained on every training image (val_size 0): nothing held out to "
              "calibrate on", file=sys.stderr)
        return 1
    test = check_on_test_set(load_model(path).model, fitted.temperature, data)
    print(f"{path}: temperature {fitted.temperature:.4f} (validation cross-entropy {fitted.nll_before:.4f} -> "
          f"{fitted.nll_after:.4f} on {fitted.images:,} images); test set: expected calibration error "
          f"{test.ece_before:.4f} -> {test.ece_after:.4f}, cross-entropy {test.nll_before:.4f} -> {test.nll_after:.4f}",
          file=sys.stderr)
    if args.json:
        print(json.dumps({"path": str(path), "temperature": fitted.temperature, "validation_images": fitted.images,
                          "validation_nll_before": fitted.nll_before, "validation_nll_after": fitted.nll_after,
                          "test_ece_before": test.ece_before, "test_ece_after": test.ece_after,
                          "test_nll_before": test.nll_before, "test_nll_after": test.nll_after}))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from mnist_core.runs.store import RunStore

    store = RunStore()
    if args.runs_command == "list":
        runs = store.list_runs()
        if not runs and not args.json:
            print(f"no runs yet in {store.root}")
        if args.json:
            for run in runs:
                print(json.dumps(_finite({"id": run.id, "name": run.name, "status": run.status,
                                          "test_accuracy": run.test_accuracy, "config": run.config.to_dict()})))
        for run in [] if args.json else runs:
            acc = f"{run.test_accuracy:.4f}" if run.test_accuracy is not None else "-"
            print(f"{run.id:>5}  {run.status:<11} {acc:>7}  {run.name}")
        return 0
    if args.runs_command == "show":
        run = store.get(args.run_id)
        shown = {k: v for k, v in dataclasses.asdict(run).items() if k not in ("config",)}
        shown["config"] = run.config.to_dict()
        print(json.dumps(_finite(shown), indent=2, default=str))
        return 0
    from mnist_core.runs.permissions import COMMAND_LINE

    store.delete(args.run_id, actor=COMMAND_LINE)
    print(f"deleted run {args.run_id}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from mnist_core.data import DATASET_INFO, dataset_status, import_dataset

    if args.data_command == "status":
        for status in dataset_status():
            state = "present" if status.present else "missing " + ", ".join(status.missing)
            print(f"{status.title:<14} {state}  ({status.directory})")
        return 0
    names = [args.dataset] if args.dataset else [
        name for name, info in DATASET_INFO.items()
        if any((args.dir / sub / info.files[0]).is_file() for sub in ("", "raw", f"{info.folder}/raw"))
    ]
    if not names:
        raise UsageError(f"no MNIST or Fashion-MNIST .gz files found in {args.dir}")
    for name in names:
        for path in import_dataset(name, args.dir):
            print(f"imported {path}")
    return 0


def cmd_serve_jobs(args: argparse.Namespace) -> int:
    import signal
    import threading

    from mnist_core import settings
    from mnist_core.backends.jobs import JobManager
    from mnist_core.runs.store import RunStore

    store, ended = RunStore(), threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: ended.set())
    jobs = JobManager(store, data_root=settings.data_dir(), device=args.device, dispatch=True)
    print(f"Training the queue of {store.root}, {jobs.max_concurrent} runs at once. Ctrl+C stops.", flush=True)
    while not ended.wait(1.0):
        pass
    jobs.shutdown(wait=True, timeout=60.0)  # the runs it trains end as "stopped", their weights kept
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # Arguments and a train command's config are checked before torch is imported (seconds on a laptop), so a
    # typo is answered at once.
    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            args.config = config_from_args(args)
    except (UsageError, ConfigError) as exc:
        return _usage_error(exc)

    from mnist_core.data import DatasetUnavailable
    from mnist_core.runs.store import RunNotFound
    from mnist_core.weights import WeightsError

    commands = {"train": cmd_train, "predict": cmd_predict, "calibrate": cmd_calibrate, "runs": cmd_runs,
                "data": cmd_data, **dict.fromkeys(class_set_commands.COMMANDS, class_set_commands.run),
                "course-table": course_table_command.cmd_course_table, "serve-jobs": cmd_serve_jobs}
    try:
        return commands[args.command](args)
    except (UsageError, DatasetUnavailable, WeightsError, RunNotFound, ValueError) as exc:
        return _usage_error(exc)


def _usage_error(exc: Exception) -> int:
    print(f"mnist_core: error: {exc}", file=sys.stderr)
    return 2
