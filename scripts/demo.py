#!/usr/bin/env python3
"""`make demo`: the rollgate story, locally, against the moto emulator.

It starts the emulator, provisions a cluster, a repository and an opted-in
service, then pushes images and replays their ECR events through the real
`deploy` binary under a local Lambda Runtime API. Every step checks what AWS
shows (through boto3) and the demo stops loudly when a step does not happen
as narrated. It leaves no process behind.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / "tests" / "emulator"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
REGION = "us-east-1"
ACCOUNT = "123456789012"
NAME = "rollgate-demo"
CREDENTIALS = {"aws_access_key_id": "AKIADEMO0000000000", "aws_secret_access_key": "demo"}

STARTED = time.perf_counter()


def say(text: str) -> None:
    print(f"[{time.perf_counter() - STARTED:5.1f}s] {text}", flush=True)


def fail(text: str) -> None:
    print(f"\nDEMO FAILED: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def start_emulator() -> str:
    proc = subprocess.Popen(
        [sys.executable, str(EMULATOR / "server.py"), "--port", "0", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

    atexit.register(stop)
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith("ROLLGATE_EMULATOR_READY "):
            return line.split()[1]
    fail("the emulator exited before it was ready")
    raise AssertionError


class Aws:
    """AWS's own client, pointed at the emulator."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        cfg = Config(retries={"max_attempts": 1})
        self.client = lambda svc: boto3.client(
            svc, endpoint_url=endpoint, region_name=REGION, config=cfg, **CREDENTIALS
        )
        self.ecs, self.ecr, self.ec2 = self.client("ecs"), self.client("ecr"), self.client("ec2")

    def provision(self) -> dict:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = self.ec2.create_security_group(GroupName=NAME, Description="demo", VpcId=vpc)["GroupId"]
        self.ecr.create_repository(repositoryName=NAME)
        self.ecs.create_cluster(clusterName=NAME)
        registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
        arn = self.ecs.register_task_definition(
            family=NAME,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024",
            memory="4096",
            containerDefinitions=[
                {
                    "name": "model",
                    "image": f"{registry}/{NAME}:bootstrap",
                    "essential": True,
                    "portMappings": [{"containerPort": 8080}],
                    "environment": [{"name": "MODEL_NAME", "value": "sentiment"}],
                    "healthCheck": {
                        "command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
                        "startPeriod": 300,
                    },
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        self.ecs.create_service(
            cluster=NAME,
            serviceName="sentiment-api",
            taskDefinition=arn,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}},
            tags=[
                {"key": "rollgate:repository", "value": NAME},
                {"key": "rollgate:tag-filter", "value": "v*"},
            ],
        )
        return {"task_definition": arn}

    def push(self, tag: str, seed: int) -> str:
        layer = f"sha256:{seed:064x}"
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                       "digest": f"sha256:{seed + 1000:064x}"},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                        "digest": layer}],
        }
        out = self.ecr.put_image(repositoryName=NAME, imageManifest=json.dumps(manifest), imageTag=tag)
        return out["image"]["imageId"]["imageDigest"]

    def live(self) -> tuple[str, dict]:
        svc = self.ecs.describe_services(cluster=NAME, services=["sentiment-api"])["services"][0]
        arn = svc["taskDefinition"]
        tags = self.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"]).get("tags", [])
        return arn, {t["key"]: t["value"] for t in tags}

    def revisions(self) -> list[str]:
        return self.ecs.list_task_definitions(familyPrefix=NAME, sort="ASC")["taskDefinitionArns"]


def push_event(digest: str, tag: str, time_: str, event_id: str) -> dict:
    event = json.loads((ROOT / "events" / "ecr-push.json").read_text())
    event.update(id=event_id, time=time_)
    event["detail"].update({"repository-name": NAME, "image-digest": digest, "image-tag": tag})
    return event


def run_deploy(endpoint: str, events: list[dict]) -> list[dict]:
    """Runs the real deploy binary over the events, the way Lambda does."""
    binary = TARGET / "deploy"
    if not binary.exists():
        fail(f"{binary} is missing: run `cargo build -p deploy` (make demo does)")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, event in enumerate(events):
            path = Path(tmp) / f"event-{i}.json"
            path.write_text(json.dumps(event))
            files.append(str(path))
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "ROLLGATE_CLUSTERS": NAME,
        }
        args = [sys.executable, str(EMULATOR / "lambda_rapi.py"), "--binary", str(binary),
                "--logs", str(Path(tmp) / "logs.txt")]
        for k, v in env.items():
            args += ["--env", f"{k}={v}"]
        out = subprocess.run(args + files, capture_output=True, text=True, check=False)
        try:
            report = json.loads(out.stdout)
        except json.JSONDecodeError:
            fail(f"the Lambda runner failed:\n{out.stdout}\n{out.stderr}")
        if report.get("runner_error"):
            fail(f"the Lambda runner failed: {report['runner_error']}")
        return report["invocations"]


def outcome(invocation: dict) -> str:
    if invocation["status"] != "ok":
        return f"error {invocation['error_type']}: {invocation['error_message']}"
    resp = invocation["response"]
    if resp.get("ignored"):
        return f"ignored: {resp['ignored']}"
    parts = []
    for s in resp["services"]:
        detail = s.get("revision") or s.get("reason") or s.get("error")
        parts.append(f"{s['service']} {s['outcome']} ({detail})")
    return "; ".join(parts) or "no service tracks this repository"


def expect(cond: bool, text: str) -> None:
    if not cond:
        fail(text)


def main() -> None:
    say("starting the AWS emulator (moto, with rollgate's test extensions)")
    endpoint = start_emulator()
    aws = Aws(endpoint)
    say(f"emulator ready at {endpoint}; provisioning repository, cluster and an opted-in service")
    base = aws.provision()["task_definition"]
    say(f"service sentiment-api runs {base.split('/')[-1]}, tagged rollgate:repository={NAME}, "
        "rollgate:tag-filter=v*")

    d1 = aws.push("v1", 1)
    say(f"docker push {NAME}:v1 -> {d1[:19]}...")
    [r] = run_deploy(endpoint, [push_event(d1, "v1", "2026-11-28T10:00:00Z", "demo-push-v1")])
    say(f"deploy: {outcome(r)}")
    live, ledger = aws.live()
    expect(r["status"] == "ok" and ledger.get("rollgate:digest") == d1, "v1 was not deployed")

    d2 = aws.push("v2", 2)
    say(f"docker push {NAME}:v2 -> {d2[:19]}...")
    v1_again = push_event(d1, "v1", "2026-11-28T10:00:00Z", "demo-push-v1")
    latest = push_event(d2, "latest", "2026-11-28T10:04:00Z", "demo-push-latest")
    delete = json.loads((ROOT / "events" / "ecr-delete.json").read_text())
    malformed = json.loads((ROOT / "events" / "ecr-push-malformed.json").read_text())
    v2 = push_event(d2, "v2", "2026-11-28T10:05:00Z", "demo-push-v2")
    results = run_deploy(endpoint, [v2, v1_again, latest, delete, malformed])
    labels = ["push v2", "v1 redelivered (older)", "tag latest (filtered)", "DELETE action", "malformed event"]
    for label, res in zip(labels, results):
        say(f"{label:>24}: {outcome(res)}")
    live, ledger = aws.live()
    expect(ledger.get("rollgate:digest") == d2, "v2 is not live")
    expect(results[1]["response"]["services"][0]["outcome"] == "skipped", "the old push was not skipped")
    expect(results[2]["response"]["services"][0]["outcome"] == "skipped", "the filtered tag was not skipped")
    expect(results[4]["error_type"] == "NonRetryable", "the malformed event was not rejected")

    say("ledger (task-definition revisions and their rollgate tags, read back through boto3):")
    for arn in aws.revisions():
        tags = {t["key"]: t["value"] for t in aws.ecs.describe_task_definition(
            taskDefinition=arn, include=["TAGS"]).get("tags", [])}
        mark = "*" if arn == live else " "
        print(f"    {mark} {arn.split('/')[-1]:<20} tag={tags.get('rollgate:image-tag', '-'):<8} "
              f"digest={tags.get('rollgate:digest', '-')[:19]:<19} pushed={tags.get('rollgate:pushed-at', '-')}")
    expect(len(aws.revisions()) == 3, "expected exactly three revisions (bootstrap, v1, v2)")
    say("done: every step happened as narrated (* marks the live revision)")


if __name__ == "__main__":
    main()
