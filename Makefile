# Two commands on a fresh machine (Python >= 3.10 and the package registries):
#   make demo   creates .venv, installs hmxai, runs the pipeline over the embedded samples -> report/
#   make test   same install (+ Debian's chromium and nodejs if missing), then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Test data (Kodak, ImageNet samples) for the tests only; users never need it.
HMXAI_DATA ?= $(abspath ../shared/data)
export HMXAI_DATA

.PHONY: demo test install browser lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/hmxai demo --out report
	@echo "open report/report.md"

test: install browser
	$(BIN)/python -m pytest -q

# The browser test drives Debian's chromium; the front-end unit tests run on node.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium and nodejs (browser and front-end tests)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium nodejs >/dev/null; }

lab: install
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) report .pytest_cache
