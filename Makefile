# rollgate: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: help venv build-bins test lint fmt demo clean

help:
	@echo "make demo   run the whole story locally against the emulator"
	@echo "make test   run every test (unit, emulator integration, Lambda Runtime API)"
	@echo "make lint   cargo fmt --check and clippy -D warnings"

# The pinned Python test tools (moto emulator, boto3) in a local virtualenv.
venv: $(VENV)/.installed
$(VENV)/.installed: tests/requirements.txt
	@echo "==> installing the pinned test tools into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

# The integration tests run the real function binaries, so build them first.
build-bins:
	$(CARGO) build --workspace --bins

test: venv build-bins
	$(VPY) tests/emulator/selfcheck.py
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

demo: venv build-bins
	$(VPY) scripts/demo.py

clean:
	$(CARGO) clean
	rm -rf $(VENV)
