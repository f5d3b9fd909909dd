# The two commands a fresh machine needs: `make run` and `make test`.
# Everything lives in .venv; a stamp file re-installs only when a lock file changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# The browser tests (tests/test_browser.py) drive Debian's Chromium; playwright's own download
# is never used.
CHROMIUM := /usr/bin/chromium

.PHONY: run test test-fast container-test bench loadtest screenshots chromium venv dev-venv lock clean

run: $(VENV)/.runtime-installed
	$(BIN)/python serve.py --server.port $(PORT)

# On both cores: two pytest-xdist workers, each taking a module at a time, the browser modules
# and the container test together (tests/conftest.py's groups).
PARALLEL := -n 2 --dist loadscope

# The whole suite, the container test included (tests/test_container.py: the image builds in the
# background from the start, starting Debian's Docker engine as root when none answers).
test: $(VENV)/.dev-installed chromium
	$(BIN)/python -m pytest $(PARALLEL)

# The inner loop: the unit tests and a smoke run of every page (tests/conftest.py's markers); no
# browser, no container.
test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m "unit or smoke" $(PARALLEL)

container-test: $(VENV)/.dev-installed chromium
	$(BIN)/python -m pytest tests/test_container.py

# Speed and memory in a real browser (not part of `make test`): bench/results.json, bench/RESULTS.md;
# then Train and watch against issue 9's targets, Play to figure in Chromium included:
# bench/training.json, bench/TRAINING.md; then the heads lab against issue 24's: bench/heads.json, bench/HEADS.md.
bench: $(VENV)/.dev-installed chromium
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.training --seeds 2 --latency --browser
	$(BIN)/python -m bench.training --seeds 2 --mechanism transformer --latency --browser
	$(BIN)/python -m bench.heads

# Concurrent sessions, hostile URLs, a restart and training under load, in Chromium (minutes; not
# part of `make test`): bench/loadtest.json, bench/LOADTEST.md.
loadtest: $(VENV)/.dev-installed chromium
	$(BIN)/python -m bench.loadtest

# docs/screenshots/*.png: every page, full height, a learned alignment, the Transformer's model view and
# trained weights on Self-attention and Compare, taken by the browser tests.
screenshots: $(VENV)/.dev-installed chromium
	SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/test_browser.py tests/test_browser_training.py \
		tests/test_browser_transformer.py tests/test_browser_trained_layer.py tests/test_browser_your_model.py -q \
		-k "page_renders or alignment_forming or model_view or opens_in_self_attention or upload_is_refused"

# Install Chromium when it is missing (as root, else through sudo), then check that it runs.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
		elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
		else echo "error: $(CHROMIUM) is missing and installing it needs root or sudo:" \
			"run 'apt-get update && apt-get install -y chromium' as root." >&2; exit 1; fi; \
		echo "Installing Chromium for the browser tests: apt-get install -y chromium"; \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
			|| { echo "error: 'apt-get install -y chromium' failed; the browser tests need $(CHROMIUM)." >&2; exit 1; }; \
	fi
	@version=$$($(CHROMIUM) --version 2>/dev/null) \
		|| { echo "error: '$(CHROMIUM) --version' failed; the browser tests need a working Chromium" \
			"(apt-get install -y chromium)." >&2; exit 1; }; \
		echo "Browser tests use $$version"

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

# The lock files pin the whole tree, so nothing is resolved here (--no-deps).
$(VENV)/.runtime-installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-dev.lock
	touch $@

# Re-resolve the whole dependency tree after editing requirements.txt or requirements-dev.txt:
# requirements.lock (the runtime: .venv and the Docker image) and requirements-dev.lock (what the
# tests add to it), each from a throwaway venv.
LOCK_VENV := .lock-venv
LOCK_NOTE := on Python 3.11, Linux x86-64; installed with pip --no-deps. Made by: make lock
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet -r requirements.txt
	{ echo "# The whole runtime tree that requirements.txt pulls in, for .venv and the image,"; \
	  echo "# $(LOCK_NOTE)"; \
	  $(LOCK_VENV)/bin/python -m pip freeze --all --exclude pip; } > requirements.lock
	$(LOCK_VENV)/bin/python -m pip install --quiet -r requirements-dev.txt
	{ echo "# What requirements-dev.txt adds to requirements.lock, for the tests,"; \
	  echo "# $(LOCK_NOTE)"; \
	  $(LOCK_VENV)/bin/python -m pip freeze --all --exclude pip | grep -vxFf requirements.lock; } > requirements-dev.lock
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tests/artifacts
