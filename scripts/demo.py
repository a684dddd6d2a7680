#!/usr/bin/env python3
"""`make demo`: the whole rollgate story, locally, against the moto AWS emulator.

1. provision the base infrastructure with `rollgate up`;
2. push v1: deployed, verified, declared healthy;
3. push v2: deployed; ECS reports it FAILED: the health gate rolls back to v1 and follows
   the rollback until ECS completes it;
4. v2's push is redelivered: ignored, the failed digest stays out;
5. push v3: deployed and declared healthy;
6. `rollgate status` shows the history.

The functions are the real binaries, run through a local Lambda Runtime API
(tests/emulator/lambda_rapi.py). Every step checks what AWS shows, through
boto3, and the demo stops loudly when a step does not happen as narrated.
ECS's side (a deployment completing or failing) is forced in the emulator, and
event times are set explicitly: no step waits on a clock.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.request import Request, urlopen

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / "tests" / "emulator"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
REGION = "us-east-1"
APP = "sentiment"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIADEMO0000000000", "AWS_SECRET_ACCESS_KEY": "demo"}
STARTED = time.perf_counter()
WORK = Path(tempfile.mkdtemp(prefix="rollgate-demo-"))


def say(text: str) -> None:
    print(f"[{time.perf_counter() - STARTED:5.1f}s] {text}", flush=True)


def fail(text: str) -> None:
    print(f"\nDEMO FAILED: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def expect(cond: bool, text: str) -> None:
    if not cond:
        fail(text)


def binary(name: str) -> Path:
    path = TARGET / name
    if not path.exists():
        fail(f"{path} is missing: run `cargo build --workspace --bins` (make demo does)")
    return path


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


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Demo:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION,
                    "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1"}
        self.env.pop("AWS_PROFILE", None)
        cfg = Config(retries={"max_attempts": 1})
        client = lambda svc: boto3.client(svc, endpoint_url=endpoint, region_name=REGION, config=cfg,
                                          aws_access_key_id="AKIABOTO", aws_secret_access_key="x")
        self.ecs, self.ecr, self.ec2 = client("ecs"), client("ecr"), client("ec2")
        self.pushes = 0

    # --- the user's side -------------------------------------------------------------
    def network(self) -> tuple[str, str]:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = self.ec2.create_security_group(GroupName=APP, Description="demo", VpcId=vpc)["GroupId"]
        return subnet, sg

    def rollgate(self, *args: str) -> str:
        out = subprocess.run([str(binary("rollgate")), *args], cwd=WORK, env=self.env, capture_output=True, text=True)
        for line in out.stderr.splitlines():
            print(f"        {line}")
        if out.returncode != 0:
            fail(f"rollgate {' '.join(args)} exited {out.returncode}")
        return out.stdout

    def push(self, tag: str) -> tuple[str, dict]:
        """`docker push` stand-in: a linux/amd64 image (its config blob uploaded through ECR's
        layer API, as docker does) with unique layers, and the ECR event ECR sends for it."""
        self.pushes += 1
        seed = self.pushes
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": [f"BUILD={seed}"]},
                             "rootfs": {"type": "layers", "diff_ids": [f"sha256:{seed:064x}"]}}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        upload = self.ecr.initiate_layer_upload(repositoryName=APP)["uploadId"]
        self.ecr.upload_layer_part(repositoryName=APP, uploadId=upload, partFirstByte=0,
                                   partLastByte=len(config) - 1, layerPartBlob=config)
        self.ecr.complete_layer_upload(repositoryName=APP, uploadId=upload, layerDigests=[config_digest])
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                       "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                        "digest": f"sha256:{seed:064x}"}],
        }
        out = self.ecr.put_image(repositoryName=APP, imageManifest=json.dumps(manifest), imageTag=tag)
        digest = out["image"]["imageId"]["imageDigest"]
        event = json.loads((ROOT / "events" / "ecr-push.json").read_text())
        event.update(id=f"demo-push-{tag}", time=iso(datetime.now(timezone.utc) + timedelta(seconds=seed)))
        event["detail"].update({"repository-name": APP, "image-digest": digest, "image-tag": tag,
                                "manifest-media-type": manifest["mediaType"],
                                "artifact-media-type": manifest["config"]["mediaType"]})
        return digest, event

    # --- AWS's side ----------------------------------------------------------------------
    def service(self) -> dict:
        return self.ecs.describe_services(cluster=APP, services=[APP], include=["TAGS"])["services"][0]

    def ledger(self, arn: str) -> dict:
        tags = self.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"]).get("tags", [])
        return {t["key"]: t["value"] for t in tags}

    def deployment(self, arn: str) -> dict:
        return next(d for d in self.service()["deployments"] if d["taskDefinition"] == arn)

    def force(self, state: str, **extra) -> None:
        body = json.dumps({"cluster": APP, "service": APP, "state": state, **extra}).encode()
        urlopen(Request(f"{self.endpoint}/_rollgate/ecs/rollout", data=body, method="POST",
                        headers={"content-type": "application/json"})).read()

    def deployment_event(self, name: str, arn: str, at: datetime) -> dict:
        fixture = {"SERVICE_DEPLOYMENT_COMPLETED": "ecs-deployment-completed.json",
                   "SERVICE_DEPLOYMENT_FAILED": "ecs-deployment-failed.json"}[name]
        event = json.loads((ROOT / "events" / fixture).read_text())
        event.update(id=f"demo-{name}-{arn.rsplit(':', 1)[-1]}", time=iso(at), resources=[self.service()["serviceArn"]])
        event["detail"]["deploymentId"] = self.deployment(arn)["id"]
        return event

    def tick(self, at: datetime) -> dict:
        event = json.loads((ROOT / "events" / "scheduled-tick.json").read_text())
        event.update(id=f"demo-tick-{int(at.timestamp())}", time=iso(at))
        return event

    # --- the functions, as Lambda runs them ---------------------------------------------------
    def invoke(self, function: str, events: list[dict]) -> list[dict]:
        files = []
        for i, event in enumerate(events):
            path = WORK / f"{function}-{time.monotonic_ns()}-{i}.json"
            path.write_text(json.dumps(event))
            files.append(str(path))
        args = [sys.executable, str(EMULATOR / "lambda_rapi.py"), "--binary", str(binary(function)),
                "--logs", str(WORK / f"{function}.log"), "--env", f"ROLLGATE_CLUSTERS={APP}"]
        for k in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
            args += ["--env", f"{k}={self.env[k]}"]
        out = subprocess.run(args + files, capture_output=True, text=True, env=self.env)
        try:
            report = json.loads(out.stdout)
        except json.JSONDecodeError:
            fail(f"the Lambda runner failed:\n{out.stdout}\n{out.stderr}")
        if report.get("runner_error"):
            fail(f"the Lambda runner failed: {report['runner_error']}")
        for inv in report["invocations"]:
            if inv["status"] != "ok":
                fail(f"{function} answered {inv['error_type']}: {inv['error_message']}")
        return [inv["response"] for inv in report["invocations"]]

    def deploy(self, event: dict) -> dict:
        [result] = self.invoke("deploy", [event])
        [service] = result["services"]
        return service

    def gate(self, event: dict) -> list[dict]:
        [result] = self.invoke("health-gate", [event])
        return result["rollouts"]

    def verify_healthy(self, arn: str) -> None:
        start = self.deployment(arn)["createdAt"]
        self.force("COMPLETED")
        [r] = self.gate(self.deployment_event("SERVICE_DEPLOYMENT_COMPLETED", arn, start + timedelta(minutes=2)))
        say(f"  ECS: deployment COMPLETED -> health-gate: {r['verdict']} ({r['detail']})")
        [r] = self.gate(self.tick(start + timedelta(minutes=8)))
        say(f"  schedule, bake time over  -> health-gate: {r['verdict']} ({r['detail']})")
        expect(r["verdict"] == "healthy", f"{arn} was not declared healthy")
        expect(self.service()["tags"] and {t["key"]: t["value"] for t in self.service()["tags"]}.get("rollgate:last-good") == arn,
               "the last known good revision was not recorded")


def revision(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def main() -> None:
    say("starting the AWS emulator (moto, with rollgate's test extensions)")
    d = Demo(start_emulator())
    subnet, sg = d.network()
    (WORK / "rollgate.toml").write_text(f"""[app]
name = "{APP}"

[task]
cpu = 1024
memory = 4096

[service]
desired_count = 2
subnets = ["{subnet}"]
security_groups = ["{sg}"]

[gate]
tag_filter = "v*"
bake = "5m"
""")
    say(f"1. rollgate up  (config: {WORK / 'rollgate.toml'})")
    d.rollgate("up")
    initial = d.service()["taskDefinition"]
    expect(d.service()["status"] == "ACTIVE", "the service was not created")

    say("2. docker push sentiment:v1")
    _, v1_event = d.push("v1")
    out = d.deploy(v1_event)
    expect(out["outcome"] == "deployed", f"v1 was not deployed: {out}")
    v1 = out["revision"]
    say(f"  deploy: {revision(initial)} -> {revision(v1)}, image pinned by digest")
    d.verify_healthy(v1)

    say("3. docker push sentiment:v2")
    v2_digest, v2_event = d.push("v2")
    out = d.deploy(v2_event)
    expect(out["outcome"] == "deployed", f"v2 was not deployed: {out}")
    v2 = out["revision"]
    say(f"  deploy: {revision(v1)} -> {revision(v2)}")
    d.force("FAILED", reason="ECS deployment circuit breaker: tasks failed to start.")
    start = d.deployment(v2)["createdAt"]
    [r] = d.gate(d.deployment_event("SERVICE_DEPLOYMENT_FAILED", v2, start + timedelta(minutes=3)))
    say(f"  ECS: v2's deployment FAILED -> health-gate: {r['verdict']} to {revision(r.get('rolled_back_to', '?'))}")
    say(f"     reason: {r['detail']}")
    expect(r["verdict"] == "rolling-back" and d.service()["taskDefinition"] == v1, "the gate did not roll back to v1")
    d.force("COMPLETED")
    [r] = d.gate(d.tick(start + timedelta(minutes=5)))
    say(f"  ECS: the rollback's deployment COMPLETED -> health-gate: {r['verdict']} ({r['detail']})")
    expect(r["verdict"] == "rolled-back", "the gate did not follow the rollback to its outcome")

    say("4. v2's push event is delivered again")
    out = d.deploy(v2_event)
    say(f"  deploy: {out['outcome']} ({out.get('reason', '')})")
    expect(out["outcome"] == "skipped" and d.service()["taskDefinition"] == v1, "the failed digest was redeployed")

    say("5. docker push sentiment:v3")
    _, v3_event = d.push("v3")
    out = d.deploy(v3_event)
    expect(out["outcome"] == "deployed", f"v3 was not deployed: {out}")
    v3 = out["revision"]
    say(f"  deploy: {revision(v1)} -> {revision(v3)}")
    d.verify_healthy(v3)

    say("6. rollgate status")
    print(d.rollgate("status"))
    expect(d.ledger(v2).get("rollgate:state") == "rolled-back", "v2 is not recorded as rolled back")
    expect(any(t["key"] == f"rollgate:failed:{v2_digest}" for t in d.service()["tags"]), "v2's digest is not marked failed")
    say(f"done in {time.perf_counter() - STARTED:.1f}s: every step happened as narrated")
    if "--keep" in sys.argv[1:]:
        keep(d)


def keep(d: Demo) -> None:
    """`make demo KEEP=1`: leave the emulator running with the demo's app, for the CLI."""
    rollgate = binary("rollgate")
    exports = " ".join(f"{k}={d.env[k]}" for k in ("AWS_ENDPOINT_URL", "AWS_REGION", *CREDENTIALS))
    print(f"""
The emulator keeps serving the demo's app until you press Ctrl-C. In another shell:

  cd {WORK}
  export {exports}
  {rollgate} status
  {rollgate} rollback --to {APP}:2
  {rollgate} status
""", flush=True)
    try:
        while True:
            time.sleep(3600)  # until Ctrl-C; atexit stops the emulator
    except KeyboardInterrupt:
        print("stopping the emulator", flush=True)


if __name__ == "__main__":
    main()
