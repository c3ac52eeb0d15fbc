# Two commands on a fresh machine: `make demo` and `make test`. Each creates the virtual
# environment and installs everything first (pinned in requirements.lock, from PyPI only).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system demo test check coverage bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium and chromedriver for the browser tests of `trdpath serve` (as root; otherwise it says what to install).
system:
	bash scripts/install-system.sh

demo: $(STAMP)
	$(BIN)/trdpath demo

# The 20 slowest tests are printed at the end of every run (where the time goes; tests/README.md).
test: $(STAMP) system
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=20

# The quick subset (under a minute; tests/README.md): the study definition on the plain-Python
# reference, the reference's Hypothesis properties, unit and statistics tests (disclosure control
# included, less the two Hypothesis searches over whole cohorts, *_any_cohort*). It leaves out every
# database engine (DuckDB, PostgreSQL, Spark), the command line (its tests classify on DuckDB),
# the browser, report builds and whole runs.
CHECK_PATHS := tests/spec tests/generative tests/unit tests/stats
CHECK_SELECT := not duckdb and not postgres and not pyspark and not batch and not engine_agrees and not any_cohort
check: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q $(CHECK_PATHS) -k "$(CHECK_SELECT)"

# The full suite with line coverage of src/trdpath (pytest-cov); the figure is in the last line of the table.
coverage: $(STAMP) system
	$(BIN)/python -m pytest -n 2 --dist loadgroup --cov=trdpath --cov-report=term --cov-report=json:coverage.json

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_classify.py

clean:
	rm -rf $(VENV) trdpath-demo .pytest_cache .coverage coverage.json
