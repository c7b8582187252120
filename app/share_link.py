"""The Train form in the URL: every TrainConfig field as a query parameter, read back with every problem named.

The same parameters keep a student's form across a reload and make the "Share these settings" link, so a teacher
can post "open this and press Start". A link never starts anything: its values only fill the form. A value the
form cannot hold (not a number, an unknown optimizer, a negative batch size) is refused by name and the form keeps
its own value; a value the form can hold but training cannot (300 epochs) is filled in, and the page's usual list
of problems names it before Start is pressed. The identity parameters (`?me=`, `?who=`) are never in a share link.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from app import view_state
from app.config_form import FIELD_LABELS
from app.i18n import _
from app.view_state import Codec
from mnist_core.config import ACTIVATIONS, DATASETS, INITS, MODELS, OPTIMIZERS, PRESETS, TrainConfig

CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
CHOICES: dict[str, tuple[str, ...]] = {"dataset": DATASETS, "model": MODELS, "activation": ACTIVATIONS,
                                       "init": INITS, "optimizer": OPTIMIZERS, "preset": ("", *PRESETS)}
TEXT_FIELDS = ("hidden", "conv_channels")  # the form shows layer sizes as text ("256, 256"); the config checks them
POSITIVE = ("batch_size", "epochs")  # the form's boxes start at 1; the other numbers at 0


def _codec(name: str, default: Any) -> Codec:
    """How a field's form value stands in the URL, from its kind (a new TrainConfig field gets one by itself)."""
    if name in CHOICES:
        return view_state.choice(CHOICES[name])
    if name in TEXT_FIELDS:
        return view_state.LAYERS
    if isinstance(default, bool):
        return view_state.FLAG
    if isinstance(default, int):
        return view_state.whole(least=1 if name in POSITIVE else 0)
    return view_state.number()


CODECS: dict[str, Codec] = {name: _codec(name, getattr(TrainConfig(), name)) for name in CONFIG_FIELDS}


def query_of(values: dict[str, Any]) -> dict[str, str]:
    """Form (or config) values as query parameters: "hidden=256,256&lr=0.001&shuffle=true..."."""
    return {name: CODECS[name].dump(values[name]) for name in CONFIG_FIELDS if name in values}


def share_url(base_url: str, config: TrainConfig) -> str:
    """The link that opens Train with this config in the form (every field, nothing about who shares it)."""
    return f"{base_url.rstrip('/')}/train?{urlencode(query_of(config.to_dict()))}"


def form_from_query(query: dict[str, str], form: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The form's values with the link's applied, and a message for each link value the form cannot hold."""
    values, problems = dict(form), []
    for name in CONFIG_FIELDS:
        if name not in query:
            continue
        try:
            values[name] = CODECS[name].parse(query[name].strip())
        except ValueError as exc:
            problems.append(_("The link's {field} “{value}” cannot be used ({reason}); the form keeps its own value.",
                              field=_(FIELD_LABELS.get(name, name)), value=query[name][:40], reason=str(exc)))
    return values, problems


def has_config(query: dict[str, str]) -> bool:
    return any(name in query for name in CONFIG_FIELDS if name != "preset")


def remember_form(values: dict[str, Any]) -> None:
    """Keep the form's values in the URL, so a reload comes back to them. Only fields that differ from the defaults
    stand there, written in one message: every change of the query string is a browser-history entry, so an
    untouched form adds none and one press of Back still leaves the page."""
    defaults = query_of(TrainConfig().to_dict())
    wanted = {name: text for name, text in query_of(values).items() if text != defaults.get(name)}
    current = {name: st.query_params[name] for name in st.query_params}
    updated = {name: text for name, text in current.items() if name not in CONFIG_FIELDS} | wanted
    if updated != current:
        st.query_params.from_dict(updated)
