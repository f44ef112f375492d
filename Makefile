# Overcast. `make demo` and `make test` set up everything they need on first use.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/src

.PHONY: setup demo test unit integration lint typecheck protos protos-check clean

setup:
	@scripts/bootstrap.sh

demo: setup
	@scripts/check_services.sh
	@$(PY) scripts/demo.py $(if $(KEEP),--keep) $(if $(AGENTS),--agents $(AGENTS)) $(if $(SERVERS),--servers $(SERVERS))

test: setup
	@scripts/check_services.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -q tests/unit

lint: setup
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

protos: setup
	PYTHON=$(PY) scripts/gen_protos.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
