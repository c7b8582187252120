"""`python -m mnist_core class-set export|import|stats` and `python -m mnist_core evaluate RUN_ID --on class-set`.
Bad input (files that are not IDX, a set too small to evaluate on): one line on stderr, exit 2, nothing changed."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

COMMANDS = ("class-set", "evaluate")


def add_commands(commands: Any) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    class_set = commands.add_parser("class-set", help="the class's own handwriting: export, import, stats")
    sub = class_set.add_subparsers(dest="class_set_command", required=True, parser_class=type(class_set))
    sub.add_parser("export", help="write the set as gzip IDX files, MNIST's own format").add_argument("dir", type=Path)
    sub.add_parser("import", help="add the samples of IDX files (e.g. last year's export)").add_argument(
        "dir", type=Path)
    sub.add_parser("stats", help="samples per digit and per student").add_argument("--json", action="store_true")
    evaluate = commands.add_parser("evaluate", help="measure a stored run on a data set")
    evaluate.add_argument("run_id", type=int)
    evaluate.add_argument("--on", choices=("class-set",), default="class-set")
    evaluate.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from mnist_core.class_set.idx_files import NotIdxFiles
    from mnist_core.class_set.meeting import NotDigits, TooFewSamples
    from mnist_core.class_set.samples import ClassSetRefused
    from mnist_core.weights import ModelUnavailable

    try:
        if args.command == "evaluate":
            return _evaluate(args)
        return {"export": _export, "import": _import, "stats": _stats}[args.class_set_command](args)
    except (NotIdxFiles, TooFewSamples, NotDigits, ClassSetRefused, ModelUnavailable) as exc:
        print(f"mnist_core: error: {exc}", file=sys.stderr)
        return 2


def _class_set():
    from mnist_core.class_set.samples import ClassSet
    from mnist_core.runs.store import RunStore

    return ClassSet(RunStore())


def _export(args: argparse.Namespace) -> int:
    from mnist_core.class_set.idx_files import write_idx

    images, labels = _class_set().arrays()
    for path in write_idx(args.dir, images, labels):
        print(f"wrote {path}")
    print(f"exported {len(labels):,} samples", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from mnist_core.class_set.idx_files import read_idx
    from mnist_core.class_set.samples import MAX_IMPORT_SAMPLES

    images, labels = read_idx(args.dir, MAX_IMPORT_SAMPLES)  # checked whole before anything is stored
    added = _class_set().add_many(images, labels)
    print(f"imported {added:,} samples from {args.dir}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from mnist_core.class_set.meeting import missing_per_digit

    class_set = _class_set()
    per_digit = class_set.per_digit()
    owners = class_set.per_owner()
    stats = {"count": sum(per_digit), "per_digit": per_digit, "students": len(owners),
             "per_student": [owner.count for owner in owners], "frozen": class_set.frozen(),
             "missing_per_digit_to_evaluate": missing_per_digit(per_digit)}
    if args.json:
        print(json.dumps(stats))
    else:
        print(f"{stats['count']:,} samples from {len(owners)} students" + (" (frozen)" if stats["frozen"] else ""))
        for digit, n in enumerate(per_digit):
            print(f"  {digit}: {n}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mnist_core.class_set.meeting import meet_run
    from mnist_core.runs.store import RunStore

    meeting = meet_run(RunStore(), args.run_id)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                          for k, v in meeting.as_json().items()}))
    else:
        mnist = "-" if meeting.mnist_test_accuracy is None else f"{meeting.mnist_test_accuracy:.4f}"
        print(f"run {args.run_id}: class set accuracy {meeting.accuracy:.4f} on {meeting.count:,} samples; "
              f"MNIST test accuracy {mnist}")
    return 0
