# Every target installs what it needs by itself, exactly as locked: the Python packages of requirements/dev.txt
# into .venv (with uv, hash-checked), and Azurite from tools/azurite/package-lock.json into .venv/node (npm ci).
# Re-running is cheap: the stamps skip work already done, and a changed lock file redoes it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
LOCK   := requirements/dev.txt
NODE   := $(VENV)/node
MERMAID := $(VENV)/mermaid
# Never let uv fetch an interpreter of its own: the environment is built on $(PYTHON).
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test bench install lock clean

# uv itself comes from the lock (its pinned version and hashes), installed by the interpreter's own pip; then uv
# makes the environment exactly the lock (sync removes anything else) and adds this package, editable.
# --compile-bytecode: the packages' .pyc files are written once here. Where PYTHONDONTWRITEBYTECODE is set (it is
# on these machines) Python never writes them itself, so without this every `launcher` process and every test's
# subprocess compiled the Azure SDK, rich and the rest from source again.
$(VENV)/.installed: $(LOCK) pyproject.toml
	rm -rf $(VENV)/.installed
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	awk '/^uv==/{p=1} p{print} p&&!/\\$$/{exit}' $(LOCK) > $(VENV)/uv-requirement.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(VENV)/uv-requirement.txt
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $@

$(NODE)/.installed: tools/azurite/package.json tools/azurite/package-lock.json
	mkdir -p $(NODE)
	cp tools/azurite/package.json tools/azurite/package-lock.json $(NODE)/
	npm ci --silent --no-audit --no-fund --prefix $(NODE)
	touch $@

# Mermaid's parser (with jsdom) checks the charts of the PR comment in the tests: no browser needed.
$(MERMAID)/.installed: tools/mermaid/package.json tools/mermaid/package-lock.json tools/mermaid/parse.mjs
	mkdir -p $(MERMAID)
	cp tools/mermaid/package.json tools/mermaid/package-lock.json tools/mermaid/parse.mjs $(MERMAID)/
	npm ci --silent --no-audit --no-fund --prefix $(MERMAID)
	touch $@

install: $(VENV)/.installed

## The main job on the embedded local default: what the GitOps pipeline does, on this machine. Check the
## example runspecs, smoke-run the walk-through, launch it as a 20-run job on the local target, follow it to
## its results table, and record it in jobs.md. A second `make demo` reports the job it already launched.
demo: $(VENV)/.installed
	$(BIN)/python -m compileall -q launcher
	$(BIN)/launcher lint runspecs/*.yaml
	$(BIN)/launcher smoke runspecs/xt_walk_through.yaml
	$(BIN)/launcher launch runspecs/xt_walk_through.yaml --target local
	$(BIN)/launcher jobs --last 5

## The whole test suite (unit, acceptance and the service tests against Azurite and the Batch test server), on
## as many workers as the machine has cores. The launcher's own .pyc files are brought up to date first (this
## package is installed editable, so they live beside the sources; see --compile-bytecode above for why).
test: $(VENV)/.installed $(NODE)/.installed $(MERMAID)/.installed
	$(BIN)/python -m compileall -q launcher tests
	PATH="$(abspath $(NODE)/node_modules/.bin):$$PATH" $(BIN)/python -m pytest -n auto --dist worksteal

## Speed and memory figures, each next to a baseline measured in the same run (not tests: they print).
bench: $(VENV)/.installed $(NODE)/.installed
	for b in benchmarks/*.py; do echo "== $$b"; PATH="$(abspath $(NODE)/node_modules/.bin):$(abspath $(BIN)):$$PATH" $(BIN)/python $$b || exit 1; done

## Re-resolve the lock files to the newest versions that pyproject.toml's ranges allow (after changing a
## dependency, or to take upgrades), for every Python from 3.10 on; then run `make test` and commit them.
## requirements/launcher.txt is what the workflows and Batch nodes install (with Optuna: nodes make a bayesian
## search's choices); dev.txt adds the test tools; release.txt is the release workflow's build tools and build
## backend. The package ships a copy of launcher.txt (launcher/azure/launcher-requirements.txt: what a Batch
## node's start task installs), so it is copied here too.
lock: $(VENV)/.installed
	$(UV) pip compile pyproject.toml --quiet --upgrade --universal --generate-hashes --python-version 3.10 \
	  --extra azure --extra search -o requirements/launcher.txt
	cp requirements/launcher.txt launcher/azure/launcher-requirements.txt
	$(UV) pip compile pyproject.toml --quiet --upgrade --universal --generate-hashes --python-version 3.10 \
	  --extra dev --extra azure --extra search -c requirements/launcher.txt -o requirements/dev.txt
	$(UV) pip compile requirements/release.in --quiet --upgrade --universal --generate-hashes --python-version 3.10 \
	  -c requirements/dev.txt -o requirements/release.txt
	cd tools/azurite && npm install --package-lock-only --silent --no-audit --no-fund

clean:
	rm -rf $(VENV) .launcher .pytest_cache
