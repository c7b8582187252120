"""What the Train page does right after a run is submitted: say whether it started or waits in the queue (and where),
and bring the student down to the run's live view, which sits below the settings."""

from __future__ import annotations

import json

import streamlit as st

from app import resources
from app.i18n import _
from app.run.texts import queue_place

RUN_ANCHOR = "run-view"  # the HTML id of the "Runs" heading, above the chosen run's live view
SCROLL_WAIT_MS = 15_000  # how long the run view is kept in sight while it fills in


def start_position(run_id: int) -> int | None:
    """How many runs must start before this one (1: it is next), or None when it starts now (a worker is free)."""
    manager = resources.jobs()
    position = manager.queue_position(run_id)
    if position is None:
        return None
    free_workers = max(0, manager.max_concurrent - len(manager.active()))
    return position - free_workers if position > free_workers else None


def start_message(run_id: int) -> str:
    """The toast after Start (or Continue training): started, or queued with its place in the line."""
    position = start_position(run_id)
    if position is None:
        return _("Run #{run} started: watch it below.", run=run_id)
    return _("Run #{run} is queued: {place}. It starts as soon as a running training finishes.",
             run=run_id, place=queue_place(position))


def scroll_to_run(run_id: int) -> None:
    """Bring the run view to the top of the window (a small script; Streamlit has no scroll API). It keeps it there
    while the view grows (progress bar, then charts) for SCROLL_WAIT_MS, unless the student scrolls or clicks
    first. The run id makes each start's script new, so it runs again for the next run."""
    script = f"""<script>
    (() => {{
      const run = {json.dumps(run_id)}, until = Date.now() + {SCROLL_WAIT_MS};
      let moved = false;
      const stop = () => {{ moved = true; }};
      for (const kind of ["wheel", "touchmove", "keydown", "mousedown"]) {{
        window.addEventListener(kind, stop, {{once: true, passive: true}});
      }}
      const keep = () => {{
        if (moved || Date.now() > until) return;
        const target = document.getElementById({json.dumps(RUN_ANCHOR)});
        if (target) {{
          target.style.scrollMarginTop = "4rem";  // below Streamlit's header bar
          target.scrollIntoView({{behavior: "instant", block: "start"}});
        }}
        setTimeout(keep, 250);
      }};
      keep();
    }})();
    </script>"""
    st.html(script, unsafe_allow_javascript=True)
