# Developer entry points. `make test` is the README's test command (CI runs it from .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup lint test test-fast run clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

setup: $(PY)
	$(PY) -m pip install --quiet -e ".[dev,embedded]"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Needs a broker and PostgreSQL (see .ci/run); tests that cannot reach them say so and skip.
test: lint
	$(BIN)/pytest -ra

test-fast: setup
	$(BIN)/pytest -ra -m "not slow" tests/unit

# The whole pipeline on this machine, until Ctrl-C.
run: setup
	$(BIN)/govpulse up

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
