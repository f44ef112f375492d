# Overcast. `make demo` and `make test` set up everything they need on first use.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/src

.PHONY: lock setup demo test unit lint typecheck mutation protos api-lint api-release config-docs clean guest libvirtd

setup:
	@scripts/bootstrap.sh

# HYPERVISOR=qemu boots real guests (root: starts libvirtd, builds the tiny guest).
demo: setup
	@scripts/check_services.sh
ifeq ($(HYPERVISOR),qemu)
	@$(PY) scripts/demo_qemu.py $(if $(KEEP),--keep)
else
	@$(PY) scripts/demo.py $(if $(KEEP),--keep) $(if $(AGENTS),--agents $(AGENTS)) $(if $(SERVERS),--servers $(SERVERS))
endif

# The tiny test guest (kernel, busybox initramfs, root disk) in .cache/guest, from Debian packages.
guest:
	@scripts/build_tiny_guest.sh

# qemu:///system without systemd (root).
libvirtd:
	@scripts/libvirtd.sh

# As root, QEMU and libvirtd are set up before pytest collects: the QEMU tests (which would set
# them up themselves) and the unit tests that need qemu-img or qemu-system then all run. Where
# that fails, those tests say why (and fail under OVERCAST_REQUIRE_QEMU, as CI sets it).
test: setup
	@scripts/check_services.sh
	@if [ "$$(id -u)" = 0 ]; then scripts/libvirtd.sh || echo "make test: QEMU not set up (see above)" >&2; fi
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -q tests/unit

# Mutation testing of the pure core (domain, scheduler): the kill rate per module, held to the
# floors in scripts/mutation.py (docs/testing.md). CPU-bound for ~10 minutes, so niced.
# MUTATION_ARGS="controller/domain/names.py" runs one module; "--sample 20" a seeded sample.
mutation: setup
	nice -n 19 $(PY) scripts/mutation.py $(MUTATION_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

protos: setup
	PYTHON=$(PY) scripts/gen_protos.sh

# The API contract: buf lint (buf.yaml) and no breaking change since the last release
# (protos/release/overcast.binpb). buf comes from npm, locked in tools/node.
BUF = $(CURDIR)/tools/node/node_modules/.bin/buf
api-lint:
	@scripts/node_tools.sh >/dev/null
	$(BUF) lint
	$(BUF) format --diff --exit-code --path protos/overcast
	$(BUF) breaking --against protos/release/overcast.binpb

# A release of the contract: its image becomes what `make api-lint` checks against. Run it when
# a version ships (and once for an intended break, with a docs/decisions record saying why).
api-release:
	@scripts/node_tools.sh >/dev/null
	$(BUF) lint
	$(BUF) build -o protos/release/overcast.binpb

# docs/configuration.md from the settings models (a unit test fails when it is stale).
config-docs: setup
	$(PY) scripts/config_docs.py

# requirements.lock from a fresh virtualenv of the project with every extra.
lock:
	@rm -rf .cache/lock-venv && python3 -m venv .cache/lock-venv
	@.cache/lock-venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	@{ head -2 requirements.lock; .cache/lock-venv/bin/pip freeze --exclude-editable; } > requirements.lock.new
	@mv requirements.lock.new requirements.lock && rm -rf .cache/lock-venv && echo "requirements.lock written"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
