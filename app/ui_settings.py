"""Settings every page shares: how widgets keep their values and how often live views refresh."""

from __future__ import annotations

KEEP = "session"  # persist_state: a widget's value survives a visit to another page
LIVE_REFRESH_S = 1.0  # a run's live view (Train, Compare)
SIDEBAR_REFRESH_S = 2.0  # the sidebar's list of trainings
CANVAS_SIZE = 280  # the drawing canvas, in pixels (10x MNIST's 28)
