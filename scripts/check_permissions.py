#!/usr/bin/env python3
"""The permissions, derived from what was actually called.

    .venv-cfn/bin/python scripts/check_permissions.py target/iam-decisions

`make test` runs the whole test suite with ROLLGATE_IAM_DECISION_LOG set: the emulator
(tests/emulator/iam_enforce.py) appends every authorization decision of each function's key
to <dir>/<function>.jsonl, and of the `rollgate` CLI's key to cli.jsonl. This script then
compares, for each of them, the IAM actions the code needed over the whole suite with the
actions its policy grants:

* deploy, health-gate, model-build: the template's policy (tests/template/translate.py, SAM's
  own translator, without what SAM adds for Lambda itself);
* cli: docs/iam/cli-policy.json, the policy the README tells a user of `rollgate` to have.

It fails (exit 1) when code needed an action its policy does not grant (AWS would refuse
it), or when a policy grants an action no test ever needed (least privilege: remove it, or
add the test that needs it). sts:GetCallerIdentity needs no permission and is left out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}


def as_list(v):
    return v if isinstance(v, list) else [v]


def template_grants() -> dict[str, set[str]]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests/template/translate.py"), str(ROOT / "template.yaml")],
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(out.stdout)
    # By crate name (from the template's build metadata), as the emulator's log labels them.
    return {f["crate"]: set(f["code_actions"]) for f in summary["functions"].values()}


def cli_grants() -> set[str]:
    policy = json.loads((ROOT / "docs/iam/cli-policy.json").read_text())
    return {a for st in policy["Statement"] if st["Effect"] == "Allow" for a in as_list(st["Action"])}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    log_dir = Path(argv[1])
    grants = template_grants()
    grants["cli"] = cli_grants()
    failures = []
    print(f"{'principal':<12} {'needed':>6} {'granted':>7} {'decisions':>9}  (over the whole test suite)")
    for label, granted in grants.items():
        path = log_dir / f"{label}.jsonl"
        if not path.exists():
            failures.append(f"{label}: no decisions in {path}: did the tests run with ROLLGATE_IAM_DECISION_LOG?")
            continue
        decisions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        needed = {d["action"] for d in decisions} - ALWAYS_ALLOWED
        exercised = {d["action"] for d in decisions if d["allowed"]}
        print(f"{label:<12} {len(needed):>6} {len(granted):>7} {len(decisions):>9}")
        for action in sorted(needed - granted):
            failures.append(f"{label}: the code needs {action}, which its policy does not grant (AWS refuses it)")
        for action in sorted(granted - exercised):
            failures.append(
                f"{label}: its policy grants {action}, which no test needed: remove it, or test the code that needs it"
            )
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    if not failures:
        print("every action called is granted, and every action granted was called")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
