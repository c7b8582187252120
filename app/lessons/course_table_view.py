"""Lesson 9's second part: the whole course table trained as the course did (all 60,000 images, several seeds) on
the worker pool, resumable (finished runs of the same row, seed and settings are reused), with each row's mean and
spread beside the course's number and every row's curves side by side."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app import identity, resources
from app.charts import PALETTE, style_subplots
from app.errors import error_text
from app.i18n import N_, _, number, percent
from app.run import scope as run_scope
from app.ui_settings import LIVE_REFRESH_S
from mnist_core.config import ConfigError
from mnist_core.lessons.course_table import COURSE_TABLE, PlannedRun, table_plan, typical_seconds
from mnist_core.lessons.course_table_runs import stored_runs, submit_missing, table_figures
from mnist_core.runs.class_rules import LimitReached
from mnist_core.runs.permissions import COMMAND_LINE, NotPermitted
from mnist_core.runs.record import RunRecord

SEEDS_KEY = "learn_course_table_seeds"
ERROR_KEY = "learn_course_table_error"
VERDICTS = {
    "beats": N_("beats the course beyond the spread"),
    "short": N_("below the course beyond the spread"),
    "within": N_("within the spread: noise cannot tell"),
    "": N_("not trained yet"),
}


def _owners() -> tuple[str, ...]:
    """Whose finished table runs count: mine, and the command line's (a teacher's `course-table` on the server)."""
    return (identity.current_actor().owner_id, COMMAND_LINE.owner_id)


def _runs(plan: list[PlannedRun]) -> dict[PlannedRun, RunRecord]:
    store = resources.store()
    runs = stored_runs(store, plan, _owners(), statuses=("queued", "running"))
    runs.update(stored_runs(store, plan, _owners()))  # a completed run wins over one still training
    return runs


def start_table() -> None:
    """The button's callback: queue the runs of the chosen seeds that the store does not hold yet."""
    plan = table_plan(st.session_state[SEEDS_KEY])
    try:
        submit_missing(resources.jobs(), plan, _runs(plan), actor=identity.current_actor())
    except (NotPermitted, LimitReached) as exc:
        st.session_state[ERROR_KEY] = run_scope.refusal(exc)
    except (ConfigError, ValueError) as exc:
        st.session_state[ERROR_KEY] = _("Could not start the runs: {error}", error=error_text(exc))


def table_section() -> None:
    st.slider(_("Seeds per row"), 1, 5, 3, key=SEEDS_KEY)
    plan = table_plan(st.session_state[SEEDS_KEY])
    runs = _runs(plan)
    missing = [p for p in plan if p not in runs]
    if missing:
        st.caption(_("{count} of {total} runs still to train: about {minutes} minutes on this server with two runs "
                     "at once, as the command line trains them (the whole table with 3 seeds took 19 minutes here). "
                     "A student's runs train one at a time, at most 8 queued: about twice as long, in several "
                     "clicks.", count=number(len(missing)), total=number(len(plan)),
                     minutes=number(round(typical_seconds(missing) / 60))))
    else:
        st.caption(_("Every run of this table is in the run store: nothing to train."))
    st.button(_("Train the course's table"), icon=":material/play_arrow:", on_click=start_table,
              disabled=not missing, key="learn_course_table_start")
    error = st.session_state.pop(ERROR_KEY, None)
    if error:
        st.error(error)
    if any(r.is_active for r in runs.values()):
        _live(st.session_state[SEEDS_KEY])
    else:
        _results(plan, runs)


@st.fragment(run_every=LIVE_REFRESH_S)
def _live(seeds: int) -> None:
    plan = table_plan(seeds)
    runs = _runs(plan)
    if not any(r.is_active for r in runs.values()):
        st.rerun()
    done = sum(_iterations(p, r) for p, r in runs.items())
    total = sum(p.config.total_iterations for p in plan)
    finished = sum(1 for r in runs.values() if r.status == "completed")
    st.progress(done / total, text=_("{finished} of {total} runs finished", finished=number(finished),
                                     total=number(len(plan))))
    _results(plan, runs)


def _iterations(planned: PlannedRun, record: RunRecord) -> int:
    if record.status == "completed":
        return planned.config.total_iterations
    return min((record.progress or {}).get("iteration", 0), planned.config.total_iterations)


def _results(plan: list[PlannedRun], runs: dict[PlannedRun, RunRecord]) -> None:
    figures = table_figures(runs)
    st.dataframe({
        _("experiment"): [row.experiment.column for row in figures.rows],
        _("course's accuracy"): [percent(row.experiment.course_accuracy, 2) for row in figures.rows],
        _("our mean"): [percent(row.mean, 2) if row.mean is not None else "–" for row in figures.rows],
        _("spread (standard deviation)"): [percent(row.spread, 2) if row.spread is not None else "–"
                                           for row in figures.rows],
        _("seeds"): [number(len(row.accuracies)) for row in figures.rows],
        _("verdict"): [_(VERDICTS[row.verdict]) for row in figures.rows],
    }, hide_index=True, key="learn_course_table_summary")
    if any(runs):
        st.plotly_chart(_curves(plan, runs), key="learn_course_table_curves")


def _curves(plan: list[PlannedRun], runs: dict[PlannedRun, RunRecord]) -> go.Figure:
    """Every row's training loss per epoch, one line per seed, the rows side by side."""
    store = resources.store()
    fig = make_subplots(rows=2, cols=3, subplot_titles=[e.column for e in COURSE_TABLE], shared_yaxes=True)
    for index, experiment in enumerate(COURSE_TABLE):
        for planned in (p for p in plan if p.experiment == experiment and p in runs):
            epochs = store.epochs(runs[planned].id)
            fig.add_trace(go.Scatter(
                x=[e.epoch for e in epochs], y=[e.train_loss for e in epochs], mode="lines",
                name=_("seed {seed}", seed=planned.seed), legendgroup=str(planned.seed), showlegend=index == 0,
                line={"color": PALETTE[planned.seed % len(PALETTE)], "width": 2}),
                row=index // 3 + 1, col=index % 3 + 1)
    return style_subplots(fig, _("Training loss per epoch, every row side by side"), _("epoch"), _("loss"), 520,
                          hovermode="closest",  # the legend under the grid: above it, it covers the subplot titles
                          legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0})
