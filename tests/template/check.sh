#!/usr/bin/env bash
# Offline checks of the SAM template: cfn-lint (on the CloudFormation the SAM transform makes),
# `sam validate --lint` (SAM CLI's own cfn-lint), and translate.py (the summary tests/template.rs
# reads). Stops loudly at the first failure. No AWS account or network needed.
#
#   tests/template/check.sh [template.yaml]
#
# The tools live in two virtualenvs (they pin different cfn-lint and boto3 versions):
#   python3 -m venv .venv-cfn && .venv-cfn/bin/pip install -r tests/template/requirements.txt
#   python3 -m venv .venv-sam && .venv-sam/bin/pip install -r tests/template/sam-requirements.txt
#   python3 -m venv .venv-checkov && .venv-checkov/bin/pip install -r tests/template/checkov-requirements.txt
# CFN_VENV, SAM_VENV and CHECKOV_VENV point elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../.."

CFN_VENV=${CFN_VENV:-.venv-cfn}
SAM_VENV=${SAM_VENV:-.venv-sam}
CHECKOV_VENV=${CHECKOV_VENV:-.venv-checkov}
TEMPLATE=${1:-template.yaml}

fail() {
    echo "tests/template/check.sh: FAILED: $*" >&2
    exit 1
}

[ -x "$CFN_VENV/bin/cfn-lint" ] ||
    fail "$CFN_VENV/bin/cfn-lint is missing: python3 -m venv $CFN_VENV && $CFN_VENV/bin/pip install -r tests/template/requirements.txt"
[ -x "$SAM_VENV/bin/sam" ] ||
    fail "$SAM_VENV/bin/sam is missing: python3 -m venv $SAM_VENV && $SAM_VENV/bin/pip install -r tests/template/sam-requirements.txt"

echo "==> cfn-lint $("$CFN_VENV/bin/cfn-lint" --version | awk '{print $2}') $TEMPLATE"
"$CFN_VENV/bin/cfn-lint" -- "$TEMPLATE" || fail "cfn-lint reported the problems above in $TEMPLATE"

echo "==> sam validate --lint $TEMPLATE"
# --lint is offline; the region only has to be set. No telemetry.
AWS_REGION=${AWS_REGION:-us-east-1} SAM_CLI_TELEMETRY=0 \
    "$SAM_VENV/bin/sam" validate --lint --template-file "$TEMPLATE" ||
    fail "sam validate --lint rejected $TEMPLATE"

echo "==> checkov $TEMPLATE (every skip is justified in the template's Metadata)"
[ -x "$CHECKOV_VENV/bin/checkov" ] ||
    fail "$CHECKOV_VENV/bin/checkov is missing: python3 -m venv $CHECKOV_VENV && $CHECKOV_VENV/bin/pip install -r tests/template/checkov-requirements.txt"
"$CHECKOV_VENV/bin/checkov" -f "$TEMPLATE" --framework cloudformation --compact --quiet --skip-download ||
    fail "checkov reported the findings above in $TEMPLATE"

echo "==> translate.py $TEMPLATE"
"$CFN_VENV/bin/python" tests/template/translate.py "$TEMPLATE" >/dev/null ||
    fail "the SAM transform of $TEMPLATE failed (tests/template/translate.py)"

echo "==> $TEMPLATE: cfn-lint, sam validate --lint, checkov and the SAM transform all pass"
