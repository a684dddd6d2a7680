# rollgate: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
# The template tools pin other cfn-lint/boto3 versions than moto: each gets its own virtualenv.
CFN_VENV := .venv-cfn
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BENCH_VENV := .venv-bench
CARGO ?= cargo
FUNCTIONS := -p deploy -p health-gate -p model-build

.PHONY: help bench storm replay venv template-venvs build-bins build build-x86 test lint lint-template fmt demo clean

help:
	@echo "make demo   run the whole story locally against the emulator"
	@echo "make test   run every test (unit, emulator integration, Lambda Runtime API, the fault storm)"
	@echo "make storm  the 1000-event fault storm alone, with its figures"
	@echo "make replay FUNCTION=deploy EVENT=events/ecr-push.json  one sample event through one function"
	@echo "make lint   cargo fmt --check and clippy -D warnings"
	@echo "make bench  benchmarks against the emulator and the peers; writes docs/benchmarks.md"

# The pinned Python test tools (moto emulator, boto3) in a local virtualenv.
venv: $(VENV)/.installed
$(VENV)/.installed: tests/requirements.txt
	@echo "==> installing the pinned test tools into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

$(CFN_VENV)/.installed: tests/template/requirements.txt
	@echo "==> installing cfn-lint and the SAM translator into $(CFN_VENV)"
	$(PYTHON) -m venv $(CFN_VENV)
	$(CFN_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/template/requirements.txt
	@touch $@

$(SAM_VENV)/.installed: tests/template/sam-requirements.txt
	@echo "==> installing the SAM CLI into $(SAM_VENV)"
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/template/sam-requirements.txt
	@touch $@

$(CHECKOV_VENV)/.installed: tests/template/checkov-requirements.txt
	@echo "==> installing checkov into $(CHECKOV_VENV)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/template/checkov-requirements.txt
	@touch $@

template-venvs: $(CFN_VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# cfn-lint 1.51.0, `sam validate --lint`, checkov and the SAM transform, all offline.
lint-template: template-venvs
	CFN_VENV=$(CFN_VENV) SAM_VENV=$(SAM_VENV) CHECKOV_VENV=$(CHECKOV_VENV) tests/template/check.sh

# Lambda packages (zip per function under target/lambda/), with cargo-lambda from the venv.
build: venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/build-requirements.txt
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip $(FUNCTIONS)

# The same for x86_64 (CI cannot rely on the arm64 target being downloadable).
build-x86: venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/build-requirements.txt
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --x86-64 --output-format zip $(FUNCTIONS)

# The integration tests run the real function binaries, so build them first.
build-bins:
	$(CARGO) build --workspace --bins

# The suite runs with every IAM decision logged; check_permissions.py then derives what each
# function (and the CLI) called and compares it with template.yaml (and docs/iam/cli-policy.json).
IAM_LOG := $(CURDIR)/target/iam-decisions
test: venv $(CFN_VENV)/.installed build-bins
	$(VPY) tests/emulator/selfcheck.py
	$(VPY) tests/emulator/faults_selfcheck.py
	rm -rf $(IAM_LOG)
	ROLLGATE_IAM_DECISION_LOG=$(IAM_LOG) $(CARGO) test --workspace
	$(CFN_VENV)/bin/python scripts/check_permissions.py $(IAM_LOG)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

$(BENCH_VENV)/.installed: bench/requirements.txt
	@echo "==> installing the benchmark peers (fabfuel/ecs-deploy) into $(BENCH_VENV)"
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $@

# Not part of the tests: release builds against the emulator; prints a table, writes docs/benchmarks.md.
bench: venv $(BENCH_VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/build-requirements.txt
	$(VPY) bench/run.py --runs 15 --build-zips --out docs/benchmarks.md

# The 1000-event storm with ~20% faulted calls (docs/reliability.md); about 4 minutes. It is
# part of `make test` too; this runs it alone, with its figures. ROLLGATE_STORM_SEED and
# ROLLGATE_STORM_EVENTS explore other storms.
storm: venv $(CFN_VENV)/.installed
	$(CARGO) test -p rollgate-tests --test storm -- --nocapture

demo: venv build-bins
	$(VPY) scripts/demo.py $(if $(KEEP),--keep)

# Replays one sample event through one function against a fresh emulator (README).
FUNCTION ?= deploy
EVENT ?= events/ecr-push.json
replay: venv build-bins
	$(VPY) scripts/replay.py $(FUNCTION) $(EVENT)

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(CFN_VENV) $(SAM_VENV) $(CHECKOV_VENV) $(BENCH_VENV)
