"""Settings every page shares: how widgets keep their values and how often live views refresh."""

from __future__ import annotations

KEEP = "session"  # persist_state: a widget's value survives a visit to another page
# How often live views refresh. Each refresh costs a watching browser ~50-85 ms of Streamlit's own re-rendering
# besides redrawing the charts, whatever changed; on a 2-core server that also runs the browsers, training loses
# about twice the CPU they take (one of its two threads is preempted, the other waits for it). Measured with 3 tabs
# watching a lenet run (README "Classroom benchmark"): every 1 s, about half the unwatched speed; every 3 s with
# the sidebar every 6 s, 0.73-0.83x in five runs (median 0.82x). Three seconds still shows a loss curve fall as it
# falls.
LIVE_REFRESH_S = 3.0  # a run's live view (Train, Compare, lessons)
SIDEBAR_REFRESH_S = 6.0  # the sidebar's list of trainings
CANVAS_SIZE = 280  # the drawing canvas, in pixels (10x MNIST's 28)
