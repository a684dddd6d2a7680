#!/usr/bin/env python3
"""Replay a sample event through one rollgate function, against the local emulator.

    .venv/bin/python scripts/replay.py FUNCTION EVENT_FILE [--env K=V ...]
    make replay FUNCTION=deploy EVENT=events/ecr-push.json

FUNCTION is deploy, health-gate or model-build; the binary is target/debug/FUNCTION
(`make build-bins`). Starts the moto emulator (tests/emulator/server.py) on a free
loopback port, runs the binary under the local Lambda Runtime API
(tests/emulator/lambda_rapi.py) with the environment the function needs, prints the
function's answer (or its error) as JSON and stops everything. Nothing is left running.

The emulator starts with one empty cluster, `rollgate-demo` (the samples name it), so a replayed push finds no opted-in
service: the answer shows the event parsed and matched against nothing. `make demo` tells the whole story.

Exit status: 0 when the function answered, 1 when it returned an error or failed to start,
2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMULATOR = os.path.join(ROOT, "tests", "emulator")

# What each function needs to start (template.yaml sets the same in AWS).
FUNCTION_ENV = {
    "deploy": {"ROLLGATE_CLUSTERS": "rollgate-demo"},
    "health-gate": {"ROLLGATE_CLUSTERS": "rollgate-demo"},
    "model-build": {"ROLLGATE_BUILD_PROJECT": "rollgate-demo-image-build", "ROLLGATE_MODEL_BUCKET": "rollgate-demo-models"},
}


def log_errors(path: str) -> list:
    """The ERROR lines of the binary's log (JSON lines; a text line as it is)."""
    found = []
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return found
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            if "ERROR" in line:
                found.append(line)
            continue
        if isinstance(entry, dict) and str(entry.get("level", "")).upper() == "ERROR":
            found.append(entry.get("fields", entry))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("function", choices=sorted(FUNCTION_ENV))
    parser.add_argument("event", help="an event JSON file, e.g. events/ecr-push.json")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment")
    args = parser.parse_args()
    binary = os.path.join(ROOT, "target", "debug", args.function)
    if not os.path.exists(binary):
        print(f"error: {binary} is missing: run `make build-bins` first", file=sys.stderr)
        return 2
    if not os.path.exists(args.event):
        print(f"error: {args.event} does not exist; the samples are in events/", file=sys.stderr)
        return 2

    server = subprocess.Popen(
        [sys.executable, os.path.join(EMULATOR, "server.py"), "--port", "0", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = server.stdout.readline().strip()
        prefix = "ROLLGATE_EMULATOR_READY "
        if not ready.startswith(prefix):
            print("error: the emulator did not start (see above)", file=sys.stderr)
            return 1
        url = ready[len(prefix):]
        if "ROLLGATE_CLUSTERS" in FUNCTION_ENV[args.function]:
            # An empty cluster to search, so the answer shows the event matched nothing.
            import boto3  # the pinned test tools' boto3 (.venv)

            ecs = boto3.client("ecs", endpoint_url=url, region_name="us-east-1",
                               aws_access_key_id="replay", aws_secret_access_key="replay")
            ecs.create_cluster(clusterName="rollgate-demo")
        env = {
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "replay",
            "AWS_SECRET_ACCESS_KEY": "replay",
            **FUNCTION_ENV[args.function],
        }
        env.update(dict(kv.split("=", 1) for kv in args.env))
        command = [sys.executable, os.path.join(EMULATOR, "lambda_rapi.py"), "--binary", binary]
        for k, v in env.items():
            command += ["--env", f"{k}={v}"]
        run = subprocess.run([*command, args.event], capture_output=True, text=True, check=False)
        try:
            report = json.loads(run.stdout)
        except ValueError:
            report = None
        if report is None:
            print(run.stdout + run.stderr, file=sys.stderr)
            return 1
        if run.returncode != 0 and report.get("runner_error"):
            # A bad setting stops the binary before it asks for the event: its one ERROR log line
            # names the variable to fix.
            print(json.dumps({"runner_error": report["runner_error"], "log_errors": log_errors(report["logs"]),
                              "logs": report["logs"]}, indent=2), file=sys.stderr)
            return 1
        if report["init_error"]:
            print(json.dumps({"init_error": report["init_error"], "logs": report["logs"]}, indent=2))
            return 1
        invocation = report["invocations"][0]
        if invocation["status"] != "ok":
            # A bad setting stops the binary before it asks for the event: its one ERROR log line
            # names the variable, so show the log's errors, not only the runner's account.
            print(json.dumps({k: invocation[k] for k in ("error_type", "error_message")}
                             | {"log_errors": log_errors(report["logs"]), "logs": report["logs"]}, indent=2))
            return 1
        print(json.dumps(invocation["response"], indent=2))
        return 0
    finally:
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
