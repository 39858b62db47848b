# make demo — install, then run TDS end to end against the built-in Zoho simulator
# make test — install, make sure PostgreSQL and Redis are up, run the whole suite
# make lint — ruff
# make chaos — the chaos suite (tests/chaos) at full size; figures in chaos-report.jsonl
# make soak — one hour of webhooks with faults (SOAK_SECONDS=600 make soak for less); not in CI

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint services clean chaos soak

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/tds demo

services:
	bash scripts/ensure-services.sh

test: install services
	$(BIN)/python -m pytest

chaos: install services
	rm -f chaos-report.jsonl
	TDS_CHAOS=full TDS_CHAOS_REPORT=$(CURDIR)/chaos-report.jsonl $(BIN)/python -m pytest -q -s tests/chaos
	cat chaos-report.jsonl

soak: install services
	TDS_SOAK_SECONDS=$${SOAK_SECONDS:-3600} TDS_CHAOS_REPORT=$(CURDIR)/soak-report.jsonl \
		$(BIN)/python -m pytest -q -s tests/chaos/test_soak.py

lint: install
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check tds webhook_receiver tasks tests

clean:
	rm -rf $(VENV) *.egg-info tds.db tds.db-wal tds.db-shm
