# Developer entry points. `make test` is the README's test command (CI runs it from .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup lint test test-fast db run clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

setup: $(PY)
	$(PY) -m pip install --quiet -e ".[dev,embedded]"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# Needs a broker and PostgreSQL (see .ci/run); tests that cannot reach them say so and skip.
test: lint
	$(BIN)/pytest -ra

test-fast: setup
	$(BIN)/pytest -ra -m "not slow" tests/unit

# PostgreSQL from Debian's packages, started, with a role whose password lives in .env (never
# committed); a later run restarts the cluster and keeps the password.
db: setup
	@if [ ! -f .env ]; then \
		.ci/postgres.sh govpulse govpulse | sed 's/^export //' > .env && chmod 600 .env; \
	else \
		.ci/postgres.sh govpulse govpulse "$$(sed -n 's/^GOVPULSE_DB__PASSWORD=//p' .env)" > /dev/null; \
	fi

# The whole pipeline on this machine, until Ctrl-C.
run: db
	$(BIN)/govpulse up

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
