# The two commands a fresh machine needs: `make run` and `make test`.
# Everything lives in .venv; a stamp file re-installs only when a requirements file changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test venv dev-venv clean

run: $(VENV)/.runtime-installed
	$(BIN)/python serve.py --server.port $(PORT)

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

$(VENV)/.runtime-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tests/artifacts
