"""The class board on Compare: every student's best finished run per dataset, beside the course's own results.

Best = highest test accuracy among the student's completed runs on that dataset (the earlier run on a tie), chosen
in SQL from every run the class trained (RunStore.best_runs). The course's table (the notes' experiments, MNIST
test accuracy) is shown as reference rows, so a student sees at once whether their mlp-3 beat the course's 0.94.
Sortable (by the picker, and by clicking a column), exportable as CSV (`user_text.csv_bytes`: Excel opens Korean
names correctly and runs no name as a formula).
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app.i18n import N_, _
from app.identity import shown_owner_name
from app.run.texts import architecture, dataset_title
from app.session_memo import record_versions, remembered
from app.user_text import csv_bytes
from mnist_core.config import PRESETS
from mnist_core.runs.record import RunRecord

# The course notes' results table (000_*.txt, line ~231): MNIST test accuracy of each experiment, by the preset
# that reproduces it.
COURSE_RESULTS = {"softmax-sgd": ("SGD", 0.42), "softmax-adam": ("Adam", 0.77), "mlp-3": ("NN", 0.94),
                  "mlp-3-xavier": ("Xavier", 0.9791), "dnn-5-xavier": ("DNN", 0.9824),
                  "dnn-5-dropout": ("Dropout", 0.9776)}
SORTS = {"accuracy": N_("Test accuracy, best first"), "time": N_("Training time, fastest first"),
         "student": N_("Student name")}
COLUMNS = ("student", "dataset", "run", "network", "optimizer", "lr", "batch", "epochs", "accuracy", "seconds",
           "finished")
HEADERS = {"student": N_("Student"), "dataset": N_("Dataset"), "run": N_("Run"), "network": N_("Network"),
           "optimizer": N_("Optimizer"), "lr": N_("Learning rate"), "batch": N_("Batch size"), "epochs": N_("Epochs"),
           "accuracy": N_("Test accuracy (%)"), "seconds": N_("Training time (s)"), "finished": N_("Finished")}


def _percent(fraction: float | None) -> float | None:
    """0.96543 -> 96.54: in percent with two decimals, as Compare's table and every other page show accuracy; a
    number still, so the column sorts."""
    return None if fraction is None else round(fraction * 100, 2)


def _row(record: RunRecord) -> dict[str, object]:
    c = record.config
    finished = record.finished or record.created
    return {"student": shown_owner_name(record.owner_id, record.owner_name) or _("(no owner)"),
            "dataset": dataset_title(c.dataset), "run": record.name,
            "network": architecture(c), "optimizer": c.optimizer, "lr": c.lr, "batch": c.batch_size,
            "epochs": c.epochs, "accuracy": _percent(record.test_accuracy),
            "seconds": None if record.duration_s is None else round(record.duration_s, 1),
            "finished": time.strftime("%Y-%m-%d %H:%M", time.localtime(finished))}


def _course_rows() -> list[dict[str, object]]:
    rows = []
    for preset, (label, accuracy) in COURSE_RESULTS.items():
        c = PRESETS[preset]
        rows.append({"student": _("Course notes (reference)"), "dataset": dataset_title("mnist"),
                     "run": _("Course: {experiment}", experiment=label), "network": architecture(c),
                     "optimizer": c.optimizer, "lr": c.lr, "batch": c.batch_size, "epochs": c.epochs,
                     "accuracy": _percent(accuracy), "seconds": None, "finished": ""})
    return rows


def board_table(best: list[RunRecord], sort: str = "accuracy") -> pd.DataFrame:
    """The board as a table with translated headers: students' best runs (RunStore.best_runs) sorted, then the
    course's rows."""
    students = pd.DataFrame([_row(r) for r in best], columns=list(COLUMNS))
    if sort == "time":
        students = students.sort_values("seconds", na_position="last", kind="stable")
    elif sort == "student":
        students = students.sort_values("student", key=lambda s: s.str.lower(), kind="stable")
    else:
        students = students.sort_values("accuracy", ascending=False, kind="stable")
    table = pd.concat([students, pd.DataFrame(_course_rows(), columns=list(COLUMNS))], ignore_index=True)
    return table.rename(columns={k: _(v) for k, v in HEADERS.items()})


def show(best: list[RunRecord]) -> None:
    """The board's section on Compare: `best` is each student's best run per dataset, chosen in SQL from every run
    the class trained (RunStore.best_runs)."""
    st.subheader(_("Class board"))
    st.caption(_("Each student's best finished run per dataset, with the course's own results as reference."))
    if not best:
        st.caption(_("No finished runs yet: the board fills in as students' runs complete."))
    st.session_state.setdefault("board_sort", "accuracy")
    sort = st.radio(_("Sort by"), list(SORTS), key="board_sort", horizontal=True, persist_state="session",
                    format_func=lambda s: _(SORTS[s]))
    versions = (sort, record_versions(best))  # the best runs have all ended
    table = remembered("board_table", versions, lambda: board_table(best, sort))
    st.dataframe(table, hide_index=True, placeholder="–", column_config={  # the course's rows have no times
        _(HEADERS["accuracy"]): st.column_config.NumberColumn(format="%.2f%%")})
    csv = remembered("board_csv", versions, lambda: csv_bytes(table))
    st.download_button(_("Download the board as CSV"), csv, file_name="mnist-class-board.csv",
                       mime="text/csv", icon=":material/download:", key="board_csv")
