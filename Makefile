# Matinale: the two commands a newcomer needs are `make run` and `make test`.
.PHONY: install run up test test-fast lint system-deps stack-test bench bench-10m clean

install: .venv/.installed
.venv/.installed: pyproject.toml uv.lock scripts/bootstrap.sh
	@scripts/bootstrap.sh
	@touch $@

## run the whole nightly pipeline locally on embedded defaults and print where the bundle is
run: install
	@.venv/bin/matinale demo

## start the local S3 server and Airflow (standalone) until Ctrl-C
up: install
	@.venv/bin/matinale up

## the whole test suite: lint, the no-server tests again under faked clocks (DST nights, New Year's
## Eve, an election, Montréal's zone), then unit, DAG, end-to-end, browser and stack tests (the
## stack test, mostly waiting for its clocks, in the background beside the others)
test: install system-deps
	@$(MAKE) --no-print-directory lint
	@scripts/test-any-date.sh
	@scripts/test-suite.sh --durations=12

## the tests that start no server (no S3, browser, stack or e2e): the edit loop, in under two minutes
test-fast: install
	@.venv/bin/python -m pytest -q -m "not (s3 or browser or stack or e2e)"

## system packages for browser and stack tests (installs as root; prints the command otherwise)
system-deps:
	@scripts/system-deps.sh

## the production topology natively (PostgreSQL, Redis, Celery, SeaweedFS) and one night through Airflow's REST API
stack-test: install system-deps
	@.venv/bin/python -m pytest tests/stack -q

## measure the night at 100k, 1M and 3M supporters against each stage's floor, plus one Airflow
## run (takes minutes; inputs cached in bench/cache/, JSON report in bench/results/)
bench: install
	@PYTHONPATH=$(CURDIR)/plugins .venv/bin/python -m matinale.dev.bench run

## one night at 10M supporters (and 3M again, for the growth between the two), stages called
## directly, no Airflow run (generating the 10M input, ~2 GB of CSV, alone takes minutes; it
## is cached in bench/cache/). Commit its JSON report from bench/results/.
bench-10m: install
	@PYTHONPATH=$(CURDIR)/plugins .venv/bin/python -m matinale.dev.bench run --sizes 3000000,10000000 --no-airflow

## ruff (Airflow's AIR rules included), ruff's formatter and mypy: all must be clean
lint: install
	@.venv/bin/ruff check --extend-select AIR plugins dags tests
	@.venv/bin/ruff format --check plugins dags tests
	@.venv/bin/mypy plugins dags

clean:
	rm -rf var test-artifacts
