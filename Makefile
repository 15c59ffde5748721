# Every target installs what it needs by itself: a virtualenv in .venv (Python packages) and
# Azurite from npm in .venv/node. Re-running is cheap: the stamps skip work already done.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
AZURITE_VERSION := 3.37.0

.PHONY: demo test bench install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/node/.installed:
	mkdir -p $(VENV)/node
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node azurite@$(AZURITE_VERSION)
	touch $@

install: $(VENV)/.installed

## The main job on the embedded local default: what the GitOps pipeline does, on this machine. Check the
## example runspecs, smoke-run the walk-through, launch it as a 20-run job on the local target, follow it to
## its results table, and record it in jobs.md. A second `make demo` reports the job it already launched.
demo: $(VENV)/.installed
	$(BIN)/launcher lint runspecs/*.yaml
	$(BIN)/launcher smoke runspecs/xt_walk_through.yaml
	$(BIN)/launcher launch runspecs/xt_walk_through.yaml --target local
	$(BIN)/launcher jobs --last 5

## The whole test suite (unit, acceptance and the service tests against Azurite and the Batch test server).
test: $(VENV)/.installed $(VENV)/node/.installed
	PATH="$(abspath $(VENV)/node/node_modules/.bin):$$PATH" $(BIN)/python -m pytest

## Speed and memory figures, each next to a baseline measured in the same run (not tests: they print).
bench: $(VENV)/.installed $(VENV)/node/.installed
	for b in benchmarks/*.py; do echo "== $$b"; PATH="$(abspath $(VENV)/node/node_modules/.bin):$(abspath $(BIN)):$$PATH" $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .launcher .pytest_cache
