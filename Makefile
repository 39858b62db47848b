# make demo — install, then run TDS end to end against the built-in Zoho simulator
# make test — install, make sure PostgreSQL and Redis are up, run the whole suite on two xdist workers
#   (each with its own database and Redis db); PYTEST_ARGS="-n 0" make test runs it in one process
# make lint — ruff, and the layers as import-linter contracts (setup.cfg; also run by make test)
# make chaos — the chaos suite (tests/chaos) at full size; figures in chaos-report.jsonl
# make soak — one hour of webhooks with faults (SOAK_SECONDS=600 make soak for less); not in CI
# make lock — pin every runtime dependency in requirements.lock (after changing setup.cfg)
# make bench — TDS against its baselines on loopback; writes docs/benchmarks.md. Bounded: about
#   25 min on 2 cores (receiver ~3, worker ~4, end to end ~2, worker memory over 100,000 events ~8,
#   sync against dlt ~1, a 100,000-record sync ~4), and stopped after BENCH_TIMEOUT seconds (default 3600)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint lock services clean chaos soak bench

# two pytest-xdist workers, each test file on one of them, so a module's fixtures are built once
# (test_entities' full-size sync above all). Not loadgroup: pytest 9.2 drops its xdist_group
# marks without a word (pytest-xdist#1386).
PYTEST_ARGS ?= -n 2 --dist loadfile

# requirements.lock pins the runtime dependencies (the Docker image installs exactly it);
# setup.cfg keeps version ranges for anyone using TDS as a library.
$(STAMP): setup.cfg pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/tds demo

services:
	bash scripts/ensure-services.sh
	bash scripts/ensure-chromium.sh

test: install services
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# not part of make test: the numbers depend on the machine; ratios to baselines measured in
# the same run are what docs/benchmarks.md compares
bench: install services
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,bench]'
	timeout $${BENCH_TIMEOUT:-3600} $(BIN)/python -m bench.run

chaos: install services
	rm -f chaos-report.jsonl
	TDS_CHAOS=full TDS_CHAOS_REPORT=$(CURDIR)/chaos-report.jsonl $(BIN)/python -m pytest -q -s tests/chaos
	cat chaos-report.jsonl

soak: install services
	TDS_SOAK_SECONDS=$${SOAK_SECONDS:-3600} TDS_CHAOS_REPORT=$(CURDIR)/soak-report.jsonl \
		$(BIN)/python -m pytest -q -s tests/chaos/test_soak.py

lint: install
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check tds webhook_receiver status_page tasks tests bench
	$(BIN)/lint-imports

lock: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock setup.cfg

clean:
	rm -rf $(VENV) *.egg-info tds-demo.db tds-demo.db-wal tds-demo.db-shm
