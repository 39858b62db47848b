# make demo — install, then run TDS end to end against the built-in Zoho simulator
# make test — install, make sure PostgreSQL and Redis are up, run the whole suite
# make lint — ruff

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint services clean

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

lint: install
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check tds webhook_receiver tasks tests

clean:
	rm -rf $(VENV) *.egg-info tds-demo.db tds-demo.db-wal tds-demo.db-shm
