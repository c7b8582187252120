"""Train: pick hyperparameters (or a course preset), see what they mean, start a run and watch it learn."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import identity, pending_values, resources, share_link, view_state
from app.config_form import (
    FIELD_LABELS,
    PRESET_DEFINING,
    config_from_form,
    form_values,
    preset_description,
    problem_message,
)
from app.errors import byte_size, error_text
from app.i18n import N_, _, number
from app.lessons.catalog import lesson_link
from app.run import scope as run_scope
from app.run.start import RUN_ANCHOR, scroll_to_run, start_message
from app.run.texts import format_seconds, iteration_lines, run_label
from app.run.view import finished_run, live_run
from app.ui_settings import KEEP
from mnist_core import settings
from mnist_core.config import (
    ACTIVATIONS,
    DATASETS,
    INITS,
    MODELS,
    OPTIMIZERS,
    PRESET_DESCRIPTIONS,
    PRESETS,
    ConfigError,
    ConfigProblem,
    TrainConfig,
)
from mnist_core.cost import RunCost, RunTooLarge, check_fits, run_cost
from mnist_core.data import DATASET_INFO
from mnist_core.runs.class_rules import LimitReached
from mnist_core.runs.permissions import NotPermitted

CUSTOM = "custom"
MODEL_NAMES = {"mlp": N_("MLP (fully connected)"), "cnn": N_("CNN (LeNet-style)")}
FORM_FIELDS = tuple(name for name in FIELD_LABELS if name != "preset")


def key(field: str) -> str:
    return f"train_{field}"


def field(name: str) -> dict[str, str]:
    """Label, key and persistence of a form widget: the label is the one problem messages use."""
    return {"label": _(FIELD_LABELS[name]), "key": key(name), "persist_state": KEEP}


def fill_form(config: TrainConfig) -> None:
    for name, value in form_values(config).items():
        if name in FORM_FIELDS:
            st.session_state[key(name)] = value


def apply_preset() -> None:
    # A callback runs before the widgets are drawn, so it may set their values. A preset is a network and a way to
    # optimise it: only those fields change; the data, batch size, epochs and seed stay as the student set them.
    name = st.session_state[key("preset")]
    if name != CUSTOM:
        values = form_values(PRESETS[name])
        for field_name in PRESET_DEFINING:
            pending_values.set_widget(key(field_name), values[field_name])


def form_config() -> tuple[TrainConfig | None, list[ConfigProblem]]:
    """The config the widgets describe right now, or None and every problem."""
    return config_from_form({name: st.session_state.get(key(name)) for name in FORM_FIELDS})


def start_training() -> None:
    # A callback (the form's values are already in session state), so it can also select the new run in
    # "Show run" and empty the name box for the next run, both widgets drawn further down the page.
    config, problems = form_config()
    if problems:
        st.session_state["train_start_refused"] = True  # the page says so beside the list of problems
        return
    try:
        run_id = resources.jobs().submit(config, name=st.session_state.get(key("name")) or None,
                                         actor=identity.current_actor())
    except (ConfigError, ValueError) as exc:
        st.session_state["train_start_error"] = _("Could not start the run: {reason}", reason=error_text(exc))
        return
    except (NotPermitted, LimitReached) as exc:
        st.session_state["train_start_error"] = run_scope.refusal(exc)
        return
    st.session_state.pop("train_link_problems", None)
    st.session_state["train_selected_run"] = run_id
    pending_values.set_widget(key("name"), "")
    st.session_state["train_started"] = run_id


def network_preview(cost: RunCost) -> pd.DataFrame:
    """The layer table, worked out from the config (mnist_core.cost, the same rows as models.layer_summary): the
    web server never builds the network, which for the largest allowed one would take 0.5 GB and seconds."""
    return pd.DataFrame([{"layer": f"{info.name}: {info.kind}", "output shape": " × ".join(map(str, info.output_shape)),
                          "parameters": info.params} for info in cost.layers])


def cost_lines(cost: RunCost) -> list[str]:
    """What the run will take of the server, before it starts: memory for a batch and for the whole run against
    the budget of one run, the weights file, and a rough time."""
    return [
        _("Memory for one batch of {batch} images: about {size}", batch=number(cost.config.batch_size),
          size=byte_size(cost.batch_bytes)),
        _("Memory for the whole run (data, network, optimizer, one batch): about {need} of the {budget} one run may "
          "use on this server", need=byte_size(cost.memory_bytes), budget=byte_size(settings.run_memory_bytes())),
        _("Weights file on disk: about {size} (at most {budget} per run)", size=byte_size(cost.weights_file_bytes),
          budget=byte_size(settings.run_disk_bytes())),
        _("Rough training time on this server: {time} (rough: other runs share its processors)",
          time=format_seconds(cost.seconds)),
    ]


def budget_refusal(config: TrainConfig) -> RunTooLarge | None:
    """Why Start would refuse this run as too big for the server, or None when it fits."""
    try:
        check_fits(config)
    except RunTooLarge as exc:
        return exc
    return None


def fill_from_link() -> None:
    """Once per browser session: the URL's settings (a reload, or a shared link) fill the form. Nothing starts:
    the student presses Start. Values the form cannot hold are listed and the form keeps its own."""
    if st.session_state.get("train_link_read"):
        return
    st.session_state["train_link_read"] = True
    query = {name: st.query_params[name] for name in st.query_params}
    if not share_link.has_config(query):
        return
    current = {name: st.session_state.get(key(name)) for name in FORM_FIELDS}
    values, link_problems = share_link.form_from_query(query, current)
    for name in FORM_FIELDS:
        st.session_state[key(name)] = values[name]
    linked, _problems = config_from_form(values)
    st.session_state[key("preset")] = linked.preset if linked is not None and linked.preset else CUSTOM
    st.session_state["train_link_problems"] = link_problems


def share_base_url() -> str:
    """The app's address as the browser sees it, without the page's path."""
    url = (st.context.url or "http://localhost:8501").rstrip("/")
    return url.removesuffix("/train")


TRAIN_VIEW = {"train_selected_run": view_state.WHOLE}  # the scope keeps itself (run_scope)

if key("preset") not in st.session_state:  # first visit in this browser session: the course's mlp-3
    st.session_state[key("preset")] = "mlp-3"
    fill_form(PRESETS["mlp-3"])
fill_from_link()
view_state.restore(TRAIN_VIEW)
pending_values.hold()  # a preset's values survive a browser that had not received them yet

# Widget values are in session state before the widgets are drawn, so the whole page can use the config.
config, problems = form_config()

st.title(_("Train a network"))
preset_column, description_column = st.columns([1, 3], vertical_alignment="bottom")
preset_column.selectbox(_("Preset"), [CUSTOM, *PRESETS], key=key("preset"), persist_state=KEEP, on_change=apply_preset,
                        format_func=lambda name: _("custom") if name == CUSTOM else name,
                        help=_("The course's experiments. Picking one sets the network and the optimizer; the data, "
                               "batch size, epochs and seed stay as you set them."))
chosen = st.session_state[key("preset")]
description = (preset_description(chosen) if chosen in PRESET_DESCRIPTIONS
               else _("Your own settings: change anything in the form."))
if chosen != CUSTOM and config is not None and config.preset != chosen:
    description += " " + _("You changed its network or optimizer settings, so a run counts as custom.")
description_column.caption(description)

# Live widgets, not a form: every edit reruns the page, so what the settings mean (below) follows each change and
# Start trains what is on screen. No min/max on the number boxes: the browser would silently refuse an out-of-range
# value and keep the old one; config_from_form checks every field and the page says in words what is wrong.
with st.container(border=True):
    data_column, network_column, optimisation_column = st.columns(3, gap="large")
    with data_column:
        st.subheader(_("Data"))
        st.selectbox(**field("dataset"), options=DATASETS, format_func=lambda n: DATASET_INFO[n].title)
        st.number_input(**field("val_size"), step=1000,
                        help=_("Held out from the 60,000 training images to measure overfitting."))
        st.number_input(**field("train_limit"), step=1000,
                        help=_("Train on only the first N of the remaining images, for quick experiments."))
        st.number_input(**field("batch_size"), step=50,
                        help=_("Images per gradient step. The whole training set = full-batch gradient descent.")
                        + " " + lesson_link("batch"))
        st.checkbox(**field("shuffle"))
        st.checkbox(**field("drop_last"))
    with network_column:
        st.subheader(_("Network"))
        st.selectbox(**field("model"), options=MODELS, format_func=lambda name: _(MODEL_NAMES[name]))
        st.text_input(**field("hidden"), placeholder=_("e.g. 256, 256"),
                      help=_("Units per hidden layer, comma-separated (0 to 8 layers). Empty: no hidden layer "
                             "(softmax regression for the MLP). For the CNN: the dense layers after the convolutions.")
                      + " " + lesson_link("perceptron"))
        if st.session_state.get(key("model")) == "cnn":  # an MLP has no convolutions; the value is kept meanwhile
            st.text_input(**field("conv_channels"),
                          help=_("CNN only: channels of its two 5×5 convolution blocks, e.g. 16, 32."))
        st.selectbox(**field("activation"), options=ACTIVATIONS, help=lesson_link("neuron"))
        st.number_input(**field("dropout"), step=0.05, format="%.2f",
                        help=_("Probability of zeroing each hidden unit while training (0 to 0.9).")
                        + " " + lesson_link("init"))
        st.selectbox(**field("init"), options=INITS,
                     format_func=lambda name: _("default") if name == "default" else name,
                     help=_("How the initial weights are drawn; 'default' is PyTorch's own.")
                     + " " + lesson_link("init"))
    with optimisation_column:
        st.subheader(_("Optimisation"))
        st.selectbox(**field("optimizer"), options=OPTIMIZERS, help=lesson_link("optimizers"))
        st.number_input(**field("lr"), step=0.0005, format="%g", help=lesson_link("descent"))
        st.number_input(**field("weight_decay"), step=0.0001, format="%g",
                        help=_("L2 penalty on the weights (0 = none)."))
        st.number_input(**field("epochs"), step=1, help=lesson_link("batch"))
        st.number_input(**field("seed"), step=1,
                        help=_("Same seed and settings → the same initial weights and batch order."))
        st.text_input(_("Run name (optional)"), key=key("name"), persist_state=KEEP,
                      placeholder=_("e.g. my first Adam run"))
    st.button(_("Start training"), type="primary", icon=":material/play_arrow:", on_click=start_training,
              key="train_start")

share_link.remember_form({name: st.session_state.get(key(name)) for name in FORM_FIELDS})
if st.session_state.get("train_link_problems"):
    st.warning(_("Some settings in the link you opened could not be used:") + "\n\n"
               + "\n".join(f"- {p}" for p in st.session_state["train_link_problems"]))
if config is not None:
    with st.expander(_("Share these settings"), icon=":material/share:"):
        st.caption(_("Whoever opens this link gets this form filled in; nothing starts until they press Start "
                     "training. Who you are is not part of it."))
        st.code(share_link.share_url(share_base_url(), config), language=None, wrap_lines=True)

if problems:
    refused = st.session_state.pop("train_start_refused", False)
    heading = (_("Training did not start. Fix these settings first:") if refused
               else _("Fix these settings before training:"))
    st.error(heading + "\n\n" + "\n".join(f"- {problem_message(p)}" for p in problems))
else:
    st.session_state.pop("train_start_refused", None)
    st.subheader(_("What these settings mean"))
    arithmetic, size, layers = st.columns([3, 1, 3])
    cost = run_cost(config)
    with arithmetic:
        st.markdown("\n".join(f"- {line}" for line in iteration_lines(config)))
        st.markdown("\n".join(f"- {line}" for line in cost_lines(cost)))
    size.metric(_("Parameters"), number(cost.parameters))
    layers.dataframe(network_preview(cost).rename(columns={"layer": _("layer"), "output shape": _("output shape"),
                                           "parameters": _("parameters")}), hide_index=True)
    refusal = budget_refusal(config)
    if refusal is not None:  # said before Start is pressed; Start refuses it with the same words
        st.error(error_text(refusal))

if "train_start_error" in st.session_state:
    st.error(st.session_state.pop("train_start_error"))
if "train_started" in st.session_state:
    started = st.session_state.pop("train_started")
    st.toast(start_message(started))
    scroll_to_run(started)

st.divider()
st.header(_("Runs"), anchor=RUN_ANCHOR)
me = identity.current_actor()
scope, runs = run_scope.scoped_runs("train", resources.store(), me)
if not runs:
    view_state.remember(TRAIN_VIEW)
    st.info(_("No runs of yours yet: choose settings above and press **Start training**.") if scope == run_scope.MINE
            else _("No runs yet: choose settings above and press **Start training**."))
    st.stop()
if st.session_state.get("train_selected_run") not in runs:  # deleted meanwhile, or a first visit
    st.session_state["train_selected_run"] = next(iter(runs))
selected = st.selectbox(_("Show run"), list(runs), key="train_selected_run", persist_state=KEEP,
                        format_func=lambda i: run_label(runs[i]))
view_state.remember(TRAIN_VIEW)
if runs[selected].owner_id != me.owner_id:
    st.caption(_("A run of {owner}.", owner=run_scope.owner_label(runs[selected], me)))
if runs[selected].is_active:
    live_run(selected)
else:
    finished_run(runs[selected])
