# tradelab — the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test install dev lint benchmark clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)          ## create .venv and install the project
dev: $(DEVSTAMP)           ## also install the dev extra (pytest, hypothesis, ruff)

demo: $(STAMP)             ## the main job on embedded defaults
	$(BIN)/tradelab demo

test: $(DEVSTAMP) browser  ## the whole suite, integration tests included
	$(BIN)/python -m pytest -q

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:                   ## headless Chromium for the viewer's browser test (Debian's package)
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (the viewer's end-to-end test opens every page in it) ..."; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; \
	  else \
	    echo "warning: no chromium and no apt-get: install Chromium yourself, or the viewer's browser test is skipped"; \
	  fi; }

lint: $(DEVSTAMP)
	$(BIN)/ruff check .

benchmark: $(STAMP)        ## speed figures quoted in the README
	$(BIN)/python experiments/benchmarks/engine_speed.py

clean:
	rm -rf $(VENV) .tradelab results .pytest_cache
