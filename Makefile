# tradelab — the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test install dev lint benchmark clean

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

test: $(DEVSTAMP)          ## the whole suite, integration tests included
	$(BIN)/python -m pytest -q

lint: $(DEVSTAMP)
	$(BIN)/ruff check .

benchmark: $(STAMP)        ## speed figures quoted in the README
	$(BIN)/python experiments/benchmarks/engine_speed.py

clean:
	rm -rf $(VENV) .tradelab results .pytest_cache
