"""Compare: overlay runs' curves, see which settings differ, race optimizers, rename and delete runs."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import charts, class_board, identity, resources, view_state
from app.errors import error_text
from app.i18n import _, ngettext
from app.run import live_charts
from app.run import scope as run_scope
from app.run.texts import (
    X_AXES,
    activity_line,
    comparison_table,
    export_table,
    localized_columns,
    loss_x_values,
    progress_fraction,
    run_label,
)
from app.session_memo import record_versions, remembered
from app.ui_settings import KEEP, LIVE_REFRESH_S
from app.user_text import csv_bytes, markdown_text
from mnist_core.config import DEFAULT_LEARNING_RATES, OPTIMIZERS, PRESETS, ConfigError, preset_config
from mnist_core.data import DATASET_INFO
from mnist_core.runs.class_rules import LimitReached
from mnist_core.runs.permissions import NotPermitted
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound

DEFAULT_SHOWN = 3
RACE_OPTIMIZERS = ["sgd", "momentum", "rmsprop", "adam"]
# What a reload of the page keeps (in the URL): the race settings, whose runs, which runs, the axis.
COMPARE_VIEW = {"compare_race_preset": view_state.choice(PRESETS),
                "compare_race_dataset": view_state.choice(DATASET_INFO), "compare_race_epochs": view_state.WHOLE,
                "compare_race_lr": view_state.NUMBER,
                "compare_race_optimizers": view_state.choices(OPTIMIZERS),
                "compare_runs": view_state.WHOLE_LIST,
                "compare_x_axis": view_state.choice(X_AXES)}


def say(kind: str, text: str) -> None:
    """A message from a button callback, shown once on the rerun it triggers."""
    st.session_state["compare_message"] = (kind, text)


def start_race() -> None:
    # A callback (runs before the page is drawn), so it may select the racers in the "Runs to compare" widget.
    state = st.session_state
    try:
        config = preset_config(state["compare_race_preset"], dataset=state["compare_race_dataset"],
                               epochs=int(state["compare_race_epochs"]), lr=float(state["compare_race_lr"]))
        rates = None if state.get("compare_race_same_lr") else race_learning_rates(state["compare_race_optimizers"])
        ids = resources.jobs().submit_race(config, state["compare_race_optimizers"], actor=identity.current_actor(),
                                           learning_rates=rates)
    except (ConfigError, ValueError) as exc:
        say("error", _("The race could not start: {reason}", reason=error_text(exc)))
        return
    except (NotPermitted, LimitReached) as exc:
        say("error", run_scope.refusal(exc))
        return
    state["compare_runs"] = ids
    state["compare_x_axis"] = "iteration"  # a fair race: the same number of updates, whatever the queue did
    say("success", ngettext("The race is on: {n} run with the same seed and the same initial weights.",
                            "The race is on: {n} runs with the same seed and the same initial weights.", len(ids)))
    state["compare_race_rates_note"] = race_rates_note(ids)


def race_rates_note(run_ids: list[int]) -> str:
    """E.g. "Learning rates: sgd 0.1, adam 0.001." for the message under "The race is on"."""
    records = [resources.store().get(i) for i in run_ids]
    rates = ", ".join(f"{r.config.optimizer} {r.config.lr:g}" for r in records)
    return _("Learning rates: {rates}.", rates=rates)


def race_lr_key(optimizer: str) -> str:
    return f"compare_race_lr_{optimizer}"


def race_learning_rates(optimizers: list[str]) -> dict[str, float]:
    """Each racer's own learning rate as set on the page (its sensible default until the student changes it)."""
    return {o: float(st.session_state.get(race_lr_key(o), DEFAULT_LEARNING_RATES[o])) for o in optimizers}


def race_rate_inputs(optimizers: list[str]) -> None:
    """One learning-rate box per chosen optimizer, starting at that optimizer's usual rate."""
    for optimizer in OPTIMIZERS:
        st.session_state.setdefault(race_lr_key(optimizer), DEFAULT_LEARNING_RATES[optimizer])
    columns = st.columns(max(len(optimizers), 1))
    for column, optimizer in zip(columns, optimizers, strict=False):
        column.number_input(_("{optimizer} learning rate", optimizer=optimizer), step=0.0005, format="%g",
                            key=race_lr_key(optimizer), persist_state=KEEP,
                            help=_("Starts at {rate}, a sensible learning rate for {optimizer}.",
                                   rate=f"{DEFAULT_LEARNING_RATES[optimizer]:g}", optimizer=optimizer))


def rename_run() -> None:
    run_id, name = st.session_state["compare_manage_run"], st.session_state.get("compare_new_name", "")
    try:
        resources.store().rename(run_id, name, actor=identity.current_actor())
    except NotPermitted as exc:
        say("error", run_scope.refusal(exc))
        return
    except (RunNotFound, ValueError) as exc:
        say("error", _("Could not rename: {reason}", reason=error_text(exc)))
        return
    st.session_state["compare_new_name"] = ""
    say("success", _("Run #{id} is now called “{name}”.", id=run_id, name=markdown_text(" ".join(name.split()))))


def delete_run(run_id: int) -> None:
    st.session_state.pop("compare_confirm_delete", None)
    me = identity.current_actor()
    try:
        resources.jobs().stop(run_id, actor=me)  # a run still training must not write into a deleted row
        resources.store().delete(run_id, actor=me)
    except NotPermitted as exc:
        say("error", run_scope.refusal(exc))
        return
    except RunNotFound as exc:
        say("error", error_text(exc))
        return
    say("success", _("Run #{id} deleted.", id=run_id))


def comparison_figures(records: list[RunRecord], axis: str) -> tuple[go.Figure | None, go.Figure | None, int]:
    """The chosen runs' losses overlaid and their validation accuracies (None: no curve yet), and how many runs
    have a validation curve."""
    store = resources.store()
    losses, accuracy = [], []
    for r in records:
        try:
            points, epochs = live_charts.curves_so_far(store, r)  # a racer still training: only what is new
        except RunNotFound:
            continue  # deleted by another session a moment ago; the next rerun drops it from the choice
        if len(points.iterations) >= 2:  # one point draws no line: an empty box until the next (issue #22)
            losses.append(charts.RunSeries(r.id, r.name, loss_x_values(axis, r, points, epochs), points.losses))
        validated = [m for m in epochs if m.val_accuracy is not None]
        if validated:
            accuracy.append(charts.RunSeries(r.id, r.name, [m.epoch for m in validated],
                                             [m.val_accuracy for m in validated]))
    return (charts.compare_loss_figure(losses, _(X_AXES[axis])) if losses else None,
            charts.compare_epoch_figure(accuracy, "accuracy") if accuracy else None, len(accuracy))


def comparison(records: list[RunRecord], axis: str) -> None:
    """The chosen runs' curves, overlaid, then the table of what differs and how they ended."""
    versions = record_versions(records)  # ended runs: the same figures while the choice stays
    loss, accuracy, validated = remembered("compare_figures", versions and (versions, axis),
                                           lambda: comparison_figures(records, axis))
    left, right = st.columns(2)
    with left:
        if loss is not None:
            st.plotly_chart(loss, key="compare_loss")
        else:
            st.caption(_("The training losses appear here as soon as a chosen run starts."))
    with right:
        if accuracy is not None:
            st.plotly_chart(accuracy, key="compare_val_accuracy")
        else:
            st.caption(_("Validation accuracy appears here when a chosen run finishes its first epoch."))
    if validated and validated < len(records):
        st.caption(_("Runs without a validation curve have not finished an epoch yet or use validation size 0."))
    if len(records) == 1:
        st.caption(_("One run: choose two or more to see which settings differ."))
    else:
        st.caption(_("Only the settings that differ between these runs are shown, then the final metrics."))
    table = remembered("compare_table", versions, lambda: localized_columns(comparison_table(records)))
    st.dataframe(table, hide_index=True, placeholder="–")  # e.g. a failed run's test accuracy
    # Every setting of every run, not only the differing ones.
    csv = remembered("compare_csv", versions, lambda: csv_bytes(localized_columns(export_table(records))))
    st.download_button(_("Download table as CSV"), csv,
                       file_name="mnist-runs.csv", mime="text/csv", icon=":material/download:", key="compare_csv",
                       help=_("Every setting of every run shown, with its results."))


@st.fragment(run_every=LIVE_REFRESH_S)
def live_comparison(run_ids: tuple[int, ...], axis: str) -> None:
    """Redrawn every LIVE_REFRESH_S while any chosen run trains: a race is watched here."""
    by_id = {r.id: r for r in resources.store().list_runs(limit=500)}
    records = [by_id[i] for i in run_ids if i in by_id]  # in the order chosen, so colours and rows stay put
    active = [r for r in records if r.is_active]
    if not active:
        st.rerun()  # all finished: the whole page once more, with its table, then no more refreshing
    with st.empty().container():  # one block: when a racer finishes, its bar goes instead of lingering
        for r in active:
            if r.status == "queued":
                st.caption(activity_line(r, resources.jobs().queue_position(r.id), label=markdown_text(r.name)))
            else:
                st.progress(progress_fraction(r), text=activity_line(r, label=markdown_text(r.name)))
    comparison(records, axis)


st.title(_("Compare runs"))
if "compare_message" in st.session_state:
    kind, text = st.session_state.pop("compare_message")
    (st.success if kind == "success" else st.error)(text)
    if kind == "success" and "compare_race_rates_note" in st.session_state:
        st.caption(st.session_state.pop("compare_race_rates_note"))

view_state.restore(COMPARE_VIEW)
with st.container(border=True):
    st.subheader(_("Optimizer race"))
    st.caption(_("One click trains the same network from the same initial weights (same seed) once per optimizer; "
                 "only the optimizer differs. Watch them race below."))
    st.session_state.setdefault("compare_race_preset", "mlp-3")
    st.session_state.setdefault("compare_race_dataset", "mnist")
    st.session_state.setdefault("compare_race_epochs", 3)
    st.session_state.setdefault("compare_race_lr", 0.001)
    st.session_state.setdefault("compare_race_optimizers", RACE_OPTIMIZERS)
    st.session_state.setdefault("compare_race_same_lr", False)
    network, data, epochs = st.columns(3)
    network.selectbox(_("Network"), list(PRESETS), key="compare_race_preset", persist_state=KEEP)
    data.selectbox(_("Dataset"), list(DATASET_INFO), key="compare_race_dataset", persist_state=KEEP,
                   format_func=lambda n: DATASET_INFO[n].title)
    epochs.number_input(_("Epochs"), min_value=1, max_value=50, step=1, key="compare_race_epochs", persist_state=KEEP)
    st.multiselect(_("Optimizers"), OPTIMIZERS, key="compare_race_optimizers", persist_state=KEEP,
                   placeholder=_("Choose two or more optimizers"))
    chosen = st.session_state["compare_race_optimizers"]
    same_lr = st.toggle(_("Same learning rate for all"), key="compare_race_same_lr", persist_state=KEEP,
                        help=_("Off: each optimizer starts from its own sensible learning rate (plain SGD needs a far "
                               "larger one than Adam). On: one rate for all, to see how much the rate matters."))
    if same_lr:
        st.number_input(_("Learning rate"), step=0.0005, format="%g", key="compare_race_lr", persist_state=KEEP)
    else:
        race_rate_inputs(chosen)
    st.button(_("Start the race"), type="primary", icon=":material/flag:", on_click=start_race,
              disabled=len(chosen) < 2,
              key="race_start", help=None if len(chosen) >= 2 else _("Pick at least two optimizers."))

me = identity.current_actor()
st.subheader(_("Runs"))
_scope, runs = run_scope.scoped_runs("compare", resources.store(), me)
if not runs:
    view_state.remember(COMPARE_VIEW)
    st.info(_("No runs to compare yet: train one on the Train page, or start an optimizer race above."))
    class_board.show(resources.store().best_runs())
    st.stop()

if "compare_runs" not in st.session_state:
    st.session_state["compare_runs"] = run_scope.default_comparison(list(runs.values()), DEFAULT_SHOWN)
st.session_state["compare_runs"] = [i for i in st.session_state["compare_runs"] if i in runs]
chosen_ids = st.multiselect(_("Runs to compare"), list(runs), key="compare_runs", persist_state=KEEP,
                            placeholder=_("Choose runs"),
                            format_func=lambda i: run_label(runs[i]))
st.session_state.setdefault("compare_x_axis", "iteration")
axis = st.radio(_("Loss x axis"), list(X_AXES), key="compare_x_axis", persist_state=KEEP, horizontal=True,
                format_func=lambda name: _(X_AXES[name]))
view_state.remember(COMPARE_VIEW)
if not chosen_ids:
    st.info(_("Choose one or more runs above."))
else:
    records = [runs[i] for i in chosen_ids]
    if any(r.is_active for r in records):
        live_comparison(tuple(chosen_ids), axis)
    else:
        comparison(records, axis)

st.subheader(_("Rename or delete a run"))
changeable = {i: r for i, r in runs.items() if run_scope.may_change(r, me)}  # yours; any run for the teacher
if not changeable:
    st.caption(_("You can rename or delete only your own runs, and none is listed here."))
else:
    manage = st.selectbox(_("Run"), list(changeable), key="compare_manage_run",
                          format_func=lambda i: run_label(changeable[i]))
    name_area, delete_column = st.columns([4, 1], vertical_alignment="bottom")
    # A form, so that pressing Enter in "New name" renames, as the Rename button does.
    with name_area.form("rename_form", border=False, enter_to_submit=True):
        name_column, rename_column = st.columns([3, 1], vertical_alignment="bottom")
        name_column.text_input(_("New name"), key="compare_new_name", placeholder=changeable[manage].name)
        rename_column.form_submit_button(_("Rename"), on_click=rename_run, key="rename_button")
    if delete_column.button(_("Delete run…"), key="delete_button"):
        st.session_state["compare_confirm_delete"] = manage
    pending = st.session_state.get("compare_confirm_delete")
    if pending in changeable:
        st.warning(_("Delete **{run}** with its metrics and weights, for every user? This cannot be undone.",
                     run=markdown_text(changeable[pending].name)))
        yes, no, _spacer = st.columns([1, 1, 4])
        yes.button(_("Yes, delete"), type="primary", on_click=delete_run, args=(pending,), key="delete_confirm")
        no.button(_("Cancel"), on_click=lambda: st.session_state.pop("compare_confirm_delete", None),
                  key="delete_cancel")

class_board.show(resources.store().best_runs())
