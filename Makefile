# `make run`: set up (once) and start the app.  `make test`: set up (once) and run the whole test suite.
# `make test-fast`: everything but the browser tests, for the inner loop.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
# Where a copy of the raw dataset files may lie (a school share, a USB stick); imported md5-checked if present.
SHARED_DATA ?= ../shared/data

.PHONY: run serve-class test test-fast lint bench data ray-head

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

data: $(STAMP)
	@if [ -d "$(SHARED_DATA)" ]; then $(PY) -m mnist_core data import "$(SHARED_DATA)"; fi
	$(PY) -m mnist_core data status

run: data
	$(PY) -m app.serve --browser.gatherUsageStats false --server.fileWatcherType none

# A whole class on every core: nginx in front of one app process per core and one trainer (README, "A whole class
# on one server"). Needs nginx: sudo apt-get install nginx-light.
serve-class: data
	$(PY) -m app.serve_class --browser.gatherUsageStats false --server.fileWatcherType none

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not browser" -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: data
	$(PY) -m mnist_core.bench

# The head of a lab's Ray cluster, bound to the lab network address the teacher gives, on fixed ports (README, "A lab
# of PCs"): `make ray-head LAB_IP=192.168.10.1`.
ray-head: $(STAMP)
	@test -n "$(LAB_IP)" || { echo "say which lab address to listen on: make ray-head LAB_IP=192.168.10.1"; exit 2; }
	$(VENV)/bin/ray start --head --node-ip-address=$(LAB_IP) --port=6379 --num-cpus=2 --include-dashboard=false \
	    --node-manager-port=6380 --object-manager-port=6381 --runtime-env-agent-port=6382 \
	    --dashboard-agent-grpc-port=6383 --dashboard-agent-listen-port=6384 --metrics-export-port=6385 \
	    --min-worker-port=10002 --max-worker-port=10100 --disable-usage-stats
