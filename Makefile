# `make run`: set up (once) and start the app.  `make test`: set up (once) and run the whole test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
# Where a copy of the raw dataset files may lie (a school share, a USB stick); imported md5-checked if present.
SHARED_DATA ?= ../shared/data

.PHONY: run test lint bench data

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

data: $(STAMP)
	@if [ -d "$(SHARED_DATA)" ]; then $(PY) -m mnist_core data import "$(SHARED_DATA)"; fi
	$(PY) -m mnist_core data status

run: data
	$(VENV)/bin/streamlit run streamlit_app.py --browser.gatherUsageStats false --server.fileWatcherType none

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: data
	$(PY) -m mnist_core.bench
