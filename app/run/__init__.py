"""One run on screen and what the app says about runs: the run view, live charts, test diagnostics, Start and
Continue."""
