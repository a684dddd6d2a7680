#!/usr/bin/env python3
"""`make bench`: rollgate's numbers, and its peers', against the moto emulator on loopback.

    .venv/bin/python bench/run.py [--runs 15] [--quick] [--out docs/benchmarks.md]
                                  [--profile release|debug] [--latency-ms 25]
                                  [--no-build] [--build-zips]
                                  [--fleet-services 5000] [--fleet-clusters 50] [--max-call-rate N]

Measures, all in one run, on this machine (see docs/benchmarks.md for the results):

1. cold start of each function binary under the Lambda Runtime API (tests/emulator/lambda_rapi.py),
   and cold start + first single-service deploy for `deploy`;
2. warm deploy latency per event (one process, many pushes) against the floor: the same seven
   calls (the tagging index's GetResources, two ECR reads and the config blob's GET, four ECS
   calls) made back to back by bare aws-sdk clients (bench/floor, Rust);
3. peers: fabfuel/ecs-deploy (.venv-bench) and a hand-written boto3 handler (bench/peers);
4. AWS calls per rollout, counted by the emulator's call log (one access key per actor);
5. fan-out of one push to many services across 5 clusters, ROLLGATE_MAX_IN_FLIGHT 8 against 1,
   with the emulator's optional per-request latency (ROLLGATE_EMULATOR_LATENCY_MS) and without;
6. one scheduled health-gate run over 100 in-flight rollouts (found through the tagging index);
7. peak RSS of each function, release build time, Lambda zip sizes;
8. a cost model on paper, from the measured durations and list prices;
9. fleet scale: a fleet of 5,000 services in 50 clusters, discovery by the tagging index
   (ROLLGATE_DISCOVERY=index) against the scan of every cluster (=scan), interleaved: a push to
   1 and to 100 services, scheduled gate runs with 0, 1 and 101 rollouts in flight (the in-flight
   lookup alone), and gate runs with their turn of the full sweep (ROLLGATE_FULL_SWEEP_EVERY).

Absolute times drift on a shared machine, so every comparison is made in the same run, with the
actors interleaved, and reported as medians (and p90) over repeated runs; nothing is dropped,
except that "warm" latencies leave out each process's first invocation, which is the cold one.

`--quick` is a smoke run: 3 runs, fan-out to 20 and 50 services, one fan-out run each, a fleet of
500 services in 5 clusters.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_DIR = ROOT / "tests" / "emulator"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BENCH_VENV = ROOT / ".venv-bench"
STATE_DIR = TARGET / "bench"             # results.json (for --render-only) and builds.jsonl
BUILD_LOG = STATE_DIR / "builds.jsonl"   # every build this bench timed, newest last
ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
REPOSITORY = "bench-model"
FUNCTIONS = ("deploy", "health-gate", "model-build")
FLOOR = "rollgate-bench-floor"
CLUSTERS_PER_FANOUT = 5
ALARM_PREFIX = "bench-alarm-"
STARTED = time.perf_counter()

# Targets (the final table marks each met or missed).
T_INIT_MS = 30.0
T_INIT_DEPLOY_MS = 60.0
T_WARM_OVER_FLOOR = 1.3
T_ECS_DEPLOY_SPEEDUP = 10.0
T_SINGLE_CALLS = 7
T_FANOUT_SPEEDUP = 5.0
T_PEAK_RSS_MIB = 40.0
T_ZIP_MB = 8.0
# Fleet scale (#17): a push to 1 service (an image index: no config blob read), a push to k
# services, a scheduled gate run with r rollouts in flight (2 GetResources + DescribeServices
# per 10 + one read per rollout).
T_FLEET_PUSH_ONE_CALLS = 6
T_FLEET_PUSH_PER_SERVICE = 3
T_FLEET_PUSH_OVERHEAD = 5
T_FLEET_GATE_BASE = 2

# The gate's schedule and full-sweep period, set explicitly on every health-gate run of this
# bench so that each tick's turn of the full sweep (rollgate_core::index::clusters_in_turn,
# mirrored by `clusters_in_turn` below) is known: the default, 15 minutes over a 1-minute
# schedule, is 15 turns.
GATE_SCHEDULE = "rate(1 minute)"
TICK_SECS = 60
FULL_SWEEP_EVERY = "15m"
FULL_SWEEP_SECS = 900
# The period the gate runs that measure the in-flight lookup alone are given: 120 turns, so with
# fewer than 120 clusters some minutes' turns hold no cluster, and those runs are put at such
# minutes (their reports say `clusters_in_turn: []`).
IN_FLIGHT_SWEEP_EVERY = "2h"
IN_FLIGHT_SWEEP_SECS = 7200
# The period the fleet's setup sweeps are given: one tick, so one turn, and every run sweeps
# every cluster ("sweep": "full"), as the scan does.
SETUP_SWEEP_EVERY = "1m"
SETUP_SWEEP_SECS = 60
# What a function keeps back from its Lambda deadline and starts no work in
# (rollgate_lambda::Budget::MARGIN).
BUDGET_MARGIN_S = 13

# Fleet scale: the repositories and the shape of the fleet.
FLEET_SOLO = "fleet-solo"
FLEET_HOT = "fleet-hot"
FLEET_HOT_SERVICES = 100
FLEET_HOT_CLUSTERS = 10
FLEET_OTHER_REPOSITORIES = 49
FLEET_SETUP_THREADS = 32
# The two full sweeps that adopt the fleet's state are setup: they sweep every cluster in one run
# (SETUP_SWEEP_EVERY), which no run does at the default period, and run with this request cap
# instead of the functions' default (at 20 a second they take 13 and 9 minutes at 5,000
# services); their calls are reported, their time at the default cap is computed.
FLEET_SETUP_CALL_RATE = 1000
DEFAULT_CALL_RATE = 20  # ROLLGATE_MAX_CALL_RATE unset (rollgate_aws::sdk_config::DEFAULT_MAX_CALL_RATE)
MODES = ("index", "scan")

# List prices used by the cost model (us-east-1).
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_GB_S_X86 = 0.0000166667
LAMBDA_GB_S_ARM = 0.0000133334
EVENTBRIDGE_CUSTOM_PER_MILLION = 1.00
CODEPIPELINE_V1_PER_PIPELINE = 1.00
CODEPIPELINE_V2_PER_ACTION_MINUTE = 0.002


class BenchError(Exception):
    pass


def say(text: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {text}", flush=True)


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); no interpolation, nothing dropped."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "median": float("nan"), "p90": float("nan"), "min": float("nan"), "max": float("nan")}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p90": pct(values, 90),
        "min": min(values),
        "max": max(values),
    }


def fmt_ms(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def fmt_stat(s: dict[str, float]) -> str:
    return f"{fmt_ms(s['median'])} (p90 {fmt_ms(s['p90'])}, n={s['n']})"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# ------------------------------------------------------------------------------------------
# The emulator, with an in-flight gauge (bench-only, lives here: nothing in tests/ changes)
# ------------------------------------------------------------------------------------------


def serve_emulator(argv: list[str]) -> int:
    """`run.py --emulator [server.py options]`: tests/emulator/server.py, plus a gauge of the
    AWS requests in flight at once per access key (GET/POST /_bench/inflight?access_key=AK).
    The latency of ROLLGATE_EMULATOR_LATENCY_MS is inside the gauged window."""
    sys.path.insert(0, str(EMULATOR_DIR))
    import rollgate_app  # noqa: PLC0415
    import server  # noqa: PLC0415
    from wsgi_util import json_response, query_params, sigv4_credential  # noqa: PLC0415

    class GaugedApp(rollgate_app.RollgateApp):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._lock = threading.Lock()
            self._now: dict[str, int] = {}
            self._peak: dict[str, int] = {}

        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.rstrip("/") == "/_bench/inflight":
                key = query_params(environ).get("access_key", "")
                with self._lock:
                    peak = self._peak.get(key, 0)
                    if environ.get("REQUEST_METHOD") == "POST":
                        self._peak.pop(key, None)
                return json_response(start_response, 200, {"peak": peak})
            credential = sigv4_credential(environ)
            if path.startswith("/_rollgate/") or credential is None:
                return super().__call__(environ, start_response)
            key = credential.access_key
            with self._lock:
                self._now[key] = self._now.get(key, 0) + 1
                self._peak[key] = max(self._peak.get(key, 0), self._now[key])
            try:
                return super().__call__(environ, start_response)
            finally:
                with self._lock:
                    self._now[key] -= 1

    server.RollgateApp = GaugedApp
    skip_lag_journal()
    return server.main(argv)


def skip_lag_journal() -> None:
    """tagging_ext.py journals every ECS tag change for its lag (POST /_rollgate/tagging/lag) by
    snapshotting the tags of every ECS resource before and after each change, under one lock:
    O(resources) per CreateService, RegisterTaskDefinition or TagResource, so quadratic over a
    5,000-service fleet's setup (measured: 1,000 services took 41 s with it, 12 s without) and
    serial work on every write the functions make. This bench never sets a lag, and without one
    GetResources answers the live state and never reads the journal; only an untagged resource
    that once had tags, listed by a query without TagFilters (rollgate makes none), would be
    missing. So the bench's emulator skips the journal while the lag is 0."""
    import tagging_ext  # noqa: PLC0415

    states = tagging_ext._states
    tagging_ext._states = lambda backends: states(backends) if tagging_ext._lag_seconds else {}


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def log_build(what: str, record: dict[str, Any]) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_LOG, "a") as log:
        log.write(json.dumps({"what": what, **record}) + "\n")


def build_history() -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in BUILD_LOG.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def run_cargo(cmd: list[str], env: dict[str, str]) -> int:
    """Runs a cargo build, echoing its output; returns how many crates it compiled."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    compiled = 0
    for line in proc.stderr:  # type: ignore[union-attr]
        sys.stderr.write(line)
        compiled += line.strip().startswith("Compiling ")
    if proc.wait() != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed (exit {proc.returncode})")
    return compiled


def clean_env(**extra: str) -> dict[str, str]:
    """The machine's environment without AWS settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


class Emulator:
    def __init__(self, latency_ms: float, work: Path) -> None:
        self.latency_ms = latency_ms
        log = open(work / f"emulator-{latency_ms:g}ms.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--emulator", "--port", "0", "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=clean_env(ROLLGATE_EMULATOR_LATENCY_MS=str(latency_ms)),
        )
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.startswith("ROLLGATE_EMULATOR_READY "):
                self.url = line.split()[1]
                break
        else:
            raise BenchError(f"the emulator exited before it was ready (see {log.name})")
        self._clients: dict[tuple[str, str], Any] = {}
        self._network: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self.repositories: set[str] = set()
        # Services made here per repository they track (rollgate:repository): a push's
        # GetResources lists every one of them in the account, 100 a page.
        self.tracking: dict[str, int] = {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self, service: str, key: str = "AKIABENCHSEED") -> Any:
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        if (service, key) not in self._clients:
            self._clients[(service, key)] = boto3.client(
                service,
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id=key,
                aws_secret_access_key="bench",
                config=Config(retries={"max_attempts": 1}, max_pool_connections=32),
            )
        return self._clients[(service, key)]

    def repository(self, name: str) -> None:
        """Creates the ECR repository `name` once."""
        if name in self.repositories:
            return
        ecr = self.client("ecr")
        try:
            ecr.create_repository(repositoryName=name)
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        self.repositories.add(name)

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = Request(f"{self.url}{path}", data=data, method=method,
                          headers={"content-type": "application/json"})
        with urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def calls(self, key: str) -> list[str]:
        return [c["operation"] for c in self._control("GET", f"/_rollgate/calls?access_key={key}")]

    def reset(self, key: str) -> None:
        self._control("POST", f"/_rollgate/calls/reset?access_key={key}")
        self._control("POST", f"/_bench/inflight?access_key={key}")

    def peak_in_flight(self, key: str) -> int:
        return self._control("GET", f"/_bench/inflight?access_key={key}")["peak"]

    def complete(self, cluster: str, service: str) -> None:
        self._control("POST", "/_rollgate/ecs/rollout", {"cluster": cluster, "service": service, "state": "COMPLETED"})

    def complete_all(self, services: list[tuple[str, str]]) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda cs: self.complete(*cs), services))

    def network(self) -> tuple[str, str]:
        if self._network is None:
            ec2 = self.client("ec2")
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
            sg = ec2.create_security_group(GroupName="bench", Description="bench", VpcId=vpc)["GroupId"]
            self._network = (subnet, sg)
        return self._network

    def cluster(self, name: str) -> str:
        self.client("ecs").create_cluster(clusterName=name)
        return name

    def service(self, cluster: str, name: str, extra_tags: dict[str, str] | None = None,
                repository: str = REPOSITORY) -> str:
        """A Fargate service of a realistic model-serving shape, opted in to rollgate: it tracks
        `repository` and runs an image of it, with its own task-definition family."""
        subnet, sg = self.network()
        ecs = self.client("ecs")
        family = f"{cluster}-{name}"
        definition = ecs.register_task_definition(
            family=family,
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/bench-execution",
            taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/bench-task",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024",
            memory="4096",
            runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
            containerDefinitions=[{
                "name": "model",
                "image": f"{REGISTRY}/{repository}:v0",
                "essential": True,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "environment": [{"name": f"MODEL_SETTING_{i}", "value": f"value-{i}"} for i in range(6)],
                "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/ping || exit 1"],
                                "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 60},
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": f"/ecs/{family}", "awslogs-region": REGION, "awslogs-stream-prefix": "model"}},
            }],
            tags=[{"key": "team", "value": "ml"}],
        )["taskDefinition"]["taskDefinitionArn"]
        tags = {"rollgate:repository": repository, "team": "ml", **(extra_tags or {})}
        with self._lock:
            self.tracking[repository] = self.tracking.get(repository, 0) + 1
        return ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=definition,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}},
            tags=[{"key": k, "value": v} for k, v in tags.items()],
        )["service"]["serviceArn"]

    def live_image(self, cluster: str, service: str) -> str:
        ecs = self.client("ecs")
        arn = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return definition["containerDefinitions"][0]["image"]


# ------------------------------------------------------------------------------------------
# Events and the Lambda runner
# ------------------------------------------------------------------------------------------


class Clock:
    """Event times: strictly increasing, one second apart, starting now (so pushes never go
    backwards for rollgate's ordering check, and the gate's deadlines are not reached)."""

    def __init__(self) -> None:
        self.t = datetime.now(timezone.utc).replace(microsecond=0)
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            self.t += timedelta(seconds=1)
            return self.t.strftime("%Y-%m-%dT%H:%M:%SZ")


CLOCK = Clock()
_COUNTER = [0]


def new_digest() -> str:
    _COUNTER[0] += 1
    return "sha256:" + hashlib.sha256(f"{time.time_ns()}-{_COUNTER[0]}-{os.getpid()}".encode()).hexdigest()


def push_image(em: "Emulator") -> str:
    """`docker push` as ECR sees it: a linux/arm64 image (the bench's services run on ARM64)
    whose config blob is uploaded through ECR's layer API, then its manifest. Made with the
    seeding key, so the measured keys' call counts are only the code under test's. Returns the
    digest."""
    ecr = em.client("ecr")
    em.repository(REPOSITORY)
    _COUNTER[0] += 1
    config = json.dumps({"architecture": "arm64", "os": "linux", "config": {"Env": [f"BUILD={_COUNTER[0]}"]},
                         "rootfs": {"type": "layers", "diff_ids": [new_digest()]}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=REPOSITORY)["uploadId"]
    ecr.upload_layer_part(repositoryName=REPOSITORY, uploadId=upload, partFirstByte=0,
                          partLastByte=len(config) - 1, layerPartBlob=config)
    ecr.complete_layer_upload(repositoryName=REPOSITORY, uploadId=upload, layerDigests=[config_digest])
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                           "digest": config_digest},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                            "digest": new_digest()}]}
    out = ecr.put_image(repositoryName=REPOSITORY, imageManifest=json.dumps(manifest))
    return out["image"]["imageId"]["imageDigest"]


def push_event(em: "Emulator") -> dict[str, Any]:
    """A real push (`push_image`) and the event ECR sends for it, with its media types."""
    digest = push_image(em)
    event = json.loads((ROOT / "events" / "ecr-push.json").read_text())
    _COUNTER[0] += 1
    event.update(id=f"bench-push-{_COUNTER[0]}-{time.time_ns()}", time=CLOCK.next())
    event["detail"].update({"repository-name": REPOSITORY, "image-digest": digest, "image-tag": "v1",
                            "manifest-media-type": "application/vnd.docker.distribution.manifest.v2+json",
                            "artifact-media-type": "application/vnd.docker.container.image.v1+json"})
    return event


OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def upload_blob(em: "Emulator", repository: str, data: bytes) -> str:
    """A blob uploaded through ECR's layer API (as `docker push` does); returns its digest."""
    ecr = em.client("ecr")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=0,
                          partLastByte=len(data) - 1, layerPartBlob=data)
    ecr.complete_layer_upload(repositoryName=repository, uploadId=upload, layerDigests=[digest])
    return digest


def push_index(em: "Emulator", repository: str, tag: str) -> str:
    """What `docker buildx build --platform linux/arm64 --push` pushes (BuildKit's default,
    provenance attestation on; tests/support/fixtures.rs `push_buildx`): an OCI image and its
    attestation manifest, both untagged, then the OCI image index listing them, tagged `tag`.
    Made with the seeding key. Returns the index's digest: deploy reads the index alone (its
    platform entries say what the release runs on), so no config blob is read."""
    em.repository(repository)
    ecr = em.client("ecr")

    def put(manifest: dict[str, Any], media: str, tag: str | None = None) -> tuple[str, int]:
        body = json.dumps(manifest)
        out = ecr.put_image(repositoryName=repository, imageManifest=body, imageManifestMediaType=media,
                            **({"imageTag": tag} if tag else {}))
        return out["image"]["imageId"]["imageDigest"], len(body)

    _COUNTER[0] += 1
    layer = new_digest()
    config = json.dumps({"architecture": "arm64", "os": "linux", "config": {"Env": [f"BUILD={_COUNTER[0]}"]},
                         "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode()
    image, image_size = put({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                             "config": {"mediaType": OCI_CONFIG, "digest": upload_blob(em, repository, config),
                                        "size": len(config)},
                             "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                                         "size": 31337}]}, OCI_MANIFEST)
    att_config = json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": []}, "build": _COUNTER[0]}).encode()
    attestation, attestation_size = put({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": upload_blob(em, repository, att_config), "size": len(att_config)},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "size": 1200, "digest": new_digest(),
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]}, OCI_MANIFEST)
    digest, _ = put({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": image, "size": image_size,
         "platform": {"architecture": "arm64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": attestation, "size": attestation_size,
         "annotations": {"vnd.docker.reference.digest": image, "vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"architecture": "unknown", "os": "unknown"}},
    ]}, OCI_INDEX, tag)
    return digest


def index_push_event(em: "Emulator", repository: str, tag: str) -> dict[str, Any]:
    """A buildx push (`push_index`) and the event ECR sends for its index (events/buildx/)."""
    digest = push_index(em, repository, tag)
    event = json.loads((ROOT / "events" / "buildx" / "05-push-index-v1.json").read_text())
    _COUNTER[0] += 1
    event.update(id=f"bench-index-push-{_COUNTER[0]}-{time.time_ns()}", time=CLOCK.next())
    event["detail"].update({"repository-name": repository, "image-digest": digest, "image-tag": tag})
    return event


def tick_event(at: datetime) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "scheduled-tick.json").read_text())
    _COUNTER[0] += 1
    event.update(id=f"bench-tick-{_COUNTER[0]}", time=at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return event


def s3_ignored_event() -> dict[str, Any]:
    """An S3 Object Created event outside the model prefix: model-build answers without AWS calls."""
    return {
        "version": "0", "id": f"bench-s3-{time.time_ns()}", "detail-type": "Object Created", "source": "aws.s3",
        "account": ACCOUNT, "time": CLOCK.next(), "region": REGION, "resources": ["arn:aws:s3:::bench-models"],
        "detail": {"version": "0", "bucket": {"name": "bench-models"},
                   "object": {"key": "datasets/reviews.csv", "size": 1024, "etag": "c1946ac92492d2347c6235b4d2611184",
                              "sequencer": "00617F08299329D18A"},
                   "request-id": "N4N7GDK58NMKJ12S", "requester": ACCOUNT, "source-ip-address": "10.0.0.1",
                   "reason": "PutObject"},
    }


def clusters_in_turn(at: datetime, every_secs: int, clusters: list[str],
                     tick_secs: int = TICK_SECS) -> list[str] | None:
    """The watched clusters a scheduled gate run at `at` sweeps in full with index discovery, as
    rollgate_core::index::clusters_in_turn decides it: the period is cut into ⌈every / tick⌉
    turns of one tick each, counted from the Unix epoch; the clusters, sorted by name, take the
    turns in order (cluster i on turn i mod turns); the run's turn is ⌊at / tick⌋ mod turns.
    None when the period holds one tick: every run sweeps every cluster ("sweep": "full")."""
    parts = max(1, -(-every_secs // max(1, tick_secs)))
    if parts == 1:
        return None
    turn = max(0, int(at.timestamp())) // max(1, tick_secs) % parts
    return [c for i, c in enumerate(sorted(set(clusters))) if i % parts == turn]


def _check_clusters_in_turn() -> None:
    """The mirror against hand-computed cases (and rollgate_core::index's own test's)."""
    at = lambda s: datetime.fromtimestamp(s, timezone.utc)  # noqa: E731
    five = ["e", "c", "a", "d", "b"]  # sorted: a b c d e, on turns 0-4 of 15
    assert clusters_in_turn(at(0), 900, five) == ["a"]
    assert clusters_in_turn(at(4 * 60 + 59), 900, five) == ["e"]
    assert clusters_in_turn(at(5 * 60), 900, five) == []
    assert clusters_in_turn(at(15 * 60 + 1), 900, five) == ["a"]
    assert clusters_in_turn(at(61), 60, five) is None and clusters_in_turn(at(61), 30, five, 300) is None
    assert clusters_in_turn(at(49 * 60), 7200, five) == [] and clusters_in_turn(at(122 * 60), 7200, five) == ["c"]
    fifty = [f"c{j:02d}" for j in range(50)]
    # 1_796_299_200 is a multiple of 900: turn 0 holds clusters 0, 15, 30 and 45.
    assert clusters_in_turn(at(1_796_299_200 + 7), 900, fifty) == ["c00", "c15", "c30", "c45"]
    assert clusters_in_turn(at(1_796_299_200 + 14 * 60), 900, fifty) == ["c14", "c29", "c44"]
    swept = [c for m in range(15) for c in clusters_in_turn(at(1_796_299_200 + 60 * m), 900, fifty) or []]
    assert sorted(swept) == fifty
    # ⌈900 / 120⌉ = 8 turns of a 2-minute schedule: one cluster's turn every 16 minutes.
    assert [s for s in range(0, 32 * 120, 120) if clusters_in_turn(at(s), 900, ["prod"], 120)] == [0, 960, 1920, 2880]


_check_clusters_in_turn()


def empty_turns_from(start: datetime, span_s: float, clusters: list[str], every_secs: int) -> datetime:
    """The first time from `start` such that no gate run in [t, t + span_s] has a cluster in its
    turn of a full sweep spread over `every_secs`: those runs look at the rollouts in flight alone."""
    t = start.replace(microsecond=0)
    for _ in range(2 * max(1, every_secs // TICK_SECS) + 2):
        bad = [s for s in range(0, int(span_s) + 1)
               if clusters_in_turn(t + timedelta(seconds=s), every_secs, clusters) != []]
        if not bad:
            return t
        t = t + timedelta(seconds=bad[-1] + 1)
    raise BenchError(f"no {span_s:g} s from {start} without a turn of the full sweep (every {every_secs} s, "
                     f"{len(clusters)} clusters)")


def gate_env(em: "Emulator", key: str, clusters: list[str], discovery: str = "index",
             every: str = FULL_SWEEP_EVERY) -> dict[str, str]:
    return {**aws_env(em, key), "ROLLGATE_CLUSTERS": ",".join(clusters), "ROLLGATE_DISCOVERY": discovery,
            "ROLLGATE_GATE_SCHEDULE": GATE_SCHEDULE, "ROLLGATE_FULL_SWEEP_EVERY": every}


def template_timeouts() -> dict[str, int]:
    """The `Timeout` (seconds) template.yaml gives the deploy and health-gate functions."""
    try:
        text = (ROOT / "template.yaml").read_text()
    except OSError:
        return {}
    found = {}
    for function, resource in (("deploy", "DeployFunction"), ("health-gate", "HealthGateFunction")):
        start = text.find(f"\n  {resource}:\n")
        if start < 0:
            continue
        end = re.search(r"\n  [A-Za-z]", text[start + 1:])
        block = text[start: start + 1 + end.start()] if end else text[start:]
        timeout = re.search(r"\n      Timeout: (\d+)", block)
        if timeout:
            found[function] = int(timeout.group(1))
    return found


MAX_CALL_RATE: list[int | None] = [None]  # --max-call-rate, passed to every function run


def aws_env(em: Emulator, key: str) -> dict[str, str]:
    rate = {"ROLLGATE_MAX_CALL_RATE": str(MAX_CALL_RATE[0])} if MAX_CALL_RATE[0] else {}
    return {
        **rate,
        "AWS_ENDPOINT_URL": em.url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="rollgate-bench-"))
        self.bin_dir = TARGET / args.profile
        MAX_CALL_RATE[0] = getattr(args, "max_call_rate", None)
        self.rss: dict[str, list[int]] = {f: [] for f in FUNCTIONS}
        self.results: dict[str, Any] = {}
        self.targets: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._files = 0

    # --- running things ----------------------------------------------------------------
    def binary(self, name: str) -> Path:
        """The function binary, copied from target/<profile> at its first use, so that a build
        running beside the bench cannot swap it in the middle of a run."""
        copy = self.work / "bin" / name
        if copy.exists():
            return copy
        path = self.bin_dir / name
        if not path.exists():
            raise BenchError(f"{path} is missing: build it (cargo build {'--release ' if self.args.profile == 'release' else ''}"
                             f"-p deploy -p health-gate -p model-build), or drop --no-build")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
        self.results.setdefault("binaries", {})[name] = datetime.fromtimestamp(
            path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return copy

    def write_events(self, events: list[dict[str, Any]]) -> list[str]:
        files = []
        for event in events:
            self._files += 1
            path = self.work / f"event-{self._files}.json"
            path.write_text(json.dumps(event))
            files.append(str(path))
        return files

    def lambda_run(self, function: str, events: list[dict[str, Any]], env: dict[str, str],
                   strict: bool = True) -> dict[str, Any]:
        """Runs a function binary over `events` under lambda_rapi.py; returns its report. Every
        invocation must succeed, unless not `strict` (the caller reads each one's status)."""
        cmd = [sys.executable, str(EMULATOR_DIR / "lambda_rapi.py"), "--binary", str(self.binary(function)),
               "--logs", str(self.work / f"{function}.log"), "--timeout-ms", "900000", "--init-timeout-ms", "30000"]
        for k, v in env.items():
            cmd += ["--env", f"{k}={v}"]
        out = subprocess.run(cmd + self.write_events(events), capture_output=True, text=True, env=clean_env())
        try:
            report = json.loads(out.stdout)
        except json.JSONDecodeError:
            raise BenchError(f"lambda_rapi.py printed no report:\n{out.stdout}\n{out.stderr}")
        if report.get("runner_error"):
            raise BenchError(f"{function}: lambda_rapi.py failed: {report['runner_error']} (logs: {report['logs']})")
        for inv in report["invocations"]:
            if inv["status"] != "ok" and strict:
                raise BenchError(f"{function} answered {inv['error_type']}: {inv['error_message']} (logs: {report['logs']})")
        if report.get("peak_rss_kb"):
            self.rss[function].append(report["peak_rss_kb"])
        return report

    @staticmethod
    def response(inv: dict[str, Any]) -> dict[str, Any]:
        """An invocation's report: its answer, or, for an error answer, the report its message
        carries (a function that leaves retryable work says what it did: `... retry to finish:
        {report}`); {} when there is none."""
        if inv["status"] == "ok":
            return inv["response"] or {}
        message = inv.get("error_message") or ""
        try:
            return json.loads(message[message.index("{"):])
        except ValueError:
            return {}

    def deployed(self, report: dict[str, Any], invocation: int = 0) -> list[dict[str, Any]]:
        services = report["invocations"][invocation]["response"]["services"]
        bad = [s for s in services if s["outcome"] != "deployed"]
        if bad:
            raise BenchError(f"deploy did not deploy every service: {bad[:3]}")
        return services

    def target(self, what: str, measured: str, goal: str, met: bool | None, note: str = "") -> None:
        self.targets.append({"what": what, "measured": measured, "target": goal, "met": met, "note": note})
        mark = {True: "met", False: "MISSED", None: "n/a"}[met]
        say(f"   target: {what}: {measured} (target {goal}) -> {mark}")

    # --- 0. builds ---------------------------------------------------------------------
    def build(self) -> None:
        args = self.args
        cargo_env = clean_env(CARGO_TARGET_DIR=str(TARGET))
        release = args.profile == "release"
        if not args.no_build:
            had_bins = all((TARGET / args.profile / f).exists() for f in FUNCTIONS)
            cmd = ["cargo", "build", *(["--release"] if release else []), "-p", "deploy", "-p", "health-gate",
                   "-p", "model-build"]
            say(f"0. building the functions: {' '.join(cmd)}")
            t = time.perf_counter()
            compiled = run_cargo(cmd, cargo_env)
            seconds = time.perf_counter() - t
            if compiled == 0:
                kind = "incremental: everything was up to date"
            elif had_bins:
                kind = f"incremental: {compiled} crates recompiled (the binaries existed)"
            elif compiled >= 100:
                kind = f"effectively from clean: {compiled} crates compiled (no release build was reusable)"
            else:
                kind = f"incremental: {compiled} crates compiled (the dependencies were already built)"
            self.results["build"] = {"command": " ".join(cmd), "seconds": seconds, "kind": kind,
                                     "compiled": compiled, "date": now_utc(), "load": os.getloadavg()}
            log_build("functions", self.results["build"])
            say(f"   built in {seconds:.1f} s ({kind})")
        floor = TARGET / args.profile / FLOOR
        cmd = ["cargo", "build", *(["--release"] if release else []), "--manifest-path",
               str(ROOT / "bench" / "floor" / "Cargo.toml")]
        if not args.no_build or not floor.exists():
            say(f"   building the floor: CARGO_TARGET_DIR={TARGET} {' '.join(cmd)}")
            t = time.perf_counter()
            run_cargo(cmd, cargo_env)
            self.results["floor_build_seconds"] = time.perf_counter() - t
        if args.build_zips:
            lambda_bin = ROOT / ".venv" / "bin"
            if not (lambda_bin / "cargo-lambda").exists():
                raise BenchError("cargo-lambda is not installed in .venv: "
                                 ".venv/bin/pip install -r tests/build-requirements.txt")
            cmd = ["cargo", "lambda", "build", "--release", "--arm64", "--output-format", "zip",
                   "-p", "deploy", "-p", "health-gate", "-p", "model-build"]
            say(f"   building the arm64 Lambda zips: {' '.join(cmd)}")
            t = time.perf_counter()
            out = subprocess.run(cmd, cwd=ROOT, env={**cargo_env, "PATH": f"{lambda_bin}:{os.environ['PATH']}"})
            self.results["zip_build"] = {"command": " ".join(cmd), "seconds": time.perf_counter() - t,
                                         "ok": out.returncode == 0, "date": now_utc(), "load": os.getloadavg()}
            log_build("zips", self.results["zip_build"])
            if out.returncode != 0:
                self.notes.append(f"`{' '.join(cmd)}` failed (exit {out.returncode}); zip sizes below are "
                                  "whatever target/lambda/ held.")

    # --- 1 + 3. cold starts, and the peers' whole processes, interleaved ----------------
    def setup_single(self, em: Emulator) -> None:
        self.single = {}
        for actor in ("cold", "warm", "floor", "ecsdeploy", "b3cold", "b3warm"):
            cluster = em.cluster(f"single-{actor}")
            em.service(cluster, "svc")
            self.single[actor] = cluster
        self.idle_cluster = em.cluster("idle")

    def cold_and_peers(self, em: Emulator) -> None:
        runs = self.args.runs
        ecs_bin = BENCH_VENV / "bin" / "ecs"
        if not ecs_bin.exists():
            raise BenchError(f"{ecs_bin} is missing: make bench installs it "
                             f"(python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements.txt)")
        say(f"1+3. cold starts ({runs} runs each), interleaved with ecs-deploy and the boto3 handler processes")
        cold = {"deploy": [], "deploy_first": [], "deploy_total": [], "health-gate": [], "model-build": []}
        ecsd, b3 = [], []
        calls: dict[str, list[list[str]]] = {"rollgate": [], "ecs-deploy": [], "boto3": []}
        for i in range(runs):
            # rollgate deploy: cold start + first single-service deploy.
            key = "AKIABENCHCOLD"
            em.reset(key)
            report = self.lambda_run("deploy", [push_event(em)], {**aws_env(em, key), "ROLLGATE_CLUSTERS": self.single["cold"]})
            self.deployed(report)
            first = report["invocations"][0]["duration_ms"]
            cold["deploy"].append(report["init_ms"])
            cold["deploy_first"].append(first)
            cold["deploy_total"].append(report["init_ms"] + first)
            calls["rollgate"].append(em.calls(key))
            em.complete(self.single["cold"], "svc")

            # fabfuel/ecs-deploy: the whole process.
            key = "AKIABENCHECSDEPLOY"
            em.reset(key)
            digest = new_digest()
            cmd = [str(ecs_bin), "deploy", self.single["ecsdeploy"], "svc", "--image", "model",
                   f"{REGISTRY}/{REPOSITORY}@{digest}", "--timeout", "-1"]
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(**aws_env(em, key)))
            wall = (time.perf_counter() - t) * 1000
            if out.returncode != 0:
                raise BenchError(f"ecs-deploy failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
            if i == 0:
                image = em.live_image(self.single["ecsdeploy"], "svc")
                if not image.endswith(digest):
                    raise BenchError(f"ecs-deploy did not deploy the image through the emulator (live: {image})")
            ecsd.append(wall)
            calls["ecs-deploy"].append(em.calls(key))
            em.complete(self.single["ecsdeploy"], "svc")

            # The hand-written boto3 handler: python start -> done.
            key = "AKIABENCHBOTO3COLD"
            em.reset(key)
            [events] = self.write_events([push_event(em)])
            cmd = [sys.executable, str(ROOT / "bench" / "peers" / "boto3_handler.py"), events]
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env=clean_env(**aws_env(em, key), DEPLOY_CLUSTERS=self.single["b3cold"]))
            wall = (time.perf_counter() - t) * 1000
            if out.returncode != 0 or len(json.loads(out.stdout)["deployed"]) != 1:
                raise BenchError(f"the boto3 handler failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
            b3.append(wall)
            calls["boto3"].append(em.calls(key))
            em.complete(self.single["b3cold"], "svc")

            # The other two functions: cold start on an event that needs (almost) no AWS call.
            report = self.lambda_run("health-gate", [tick_event(datetime.now(timezone.utc))],
                                     {**aws_env(em, "AKIABENCHGATECOLD"), "ROLLGATE_CLUSTERS": self.idle_cluster})
            cold["health-gate"].append(report["init_ms"])
            report = self.lambda_run("model-build", [s3_ignored_event()],
                                     {**aws_env(em, "AKIABENCHMODELCOLD"), "ROLLGATE_MODEL_BUCKET": "bench-models",
                                      "ROLLGATE_BUILD_PROJECT": "bench-build"})
            cold["model-build"].append(report["init_ms"])
            say(f"   run {i + 1}/{runs}: deploy init {cold['deploy'][-1]:.1f} ms + first deploy {first:.1f} ms; "
                f"ecs-deploy {ecsd[-1]:.0f} ms; boto3 handler {b3[-1]:.0f} ms; "
                f"gate init {cold['health-gate'][-1]:.1f} ms; model-build init {cold['model-build'][-1]:.1f} ms")
        self.results["cold"] = {k: summary(v) for k, v in cold.items()}
        self.results["peers_whole"] = {"ecs-deploy": summary(ecsd), "boto3": summary(b3)}
        self.results["single_calls"] = {k: v for k, v in calls.items()}

    # --- 2 + 3b. warm latency: rollgate, the floor, the boto3 handler, interleaved -----
    def warm(self, em: Emulator) -> None:
        rounds = 3
        per_round = max(5, self.args.warm_events // rounds)
        say(f"2. warm deploy latency: {rounds} rounds x {per_round} events (+1 cold, left out) per actor")
        rollgate, floor, b3, b3_import = [], [], [], []
        for r in range(rounds):
            key = "AKIABENCHWARM"
            em.reset(key)
            events = [push_event(em) for _ in range(per_round + 1)]
            report = self.lambda_run("deploy", events, {**aws_env(em, key), "ROLLGATE_CLUSTERS": self.single["warm"]})
            for i in range(len(events)):
                self.deployed(report, i)
            rollgate += [inv["duration_ms"] for inv in report["invocations"][1:]]
            em.complete(self.single["warm"], "svc")

            key = "AKIABENCHFLOOR"
            em.reset(key)
            cmd = [str(self.bin_dir / FLOOR), "--endpoint", em.url, "--cluster", self.single["floor"], "--service", "svc",
                   "--n", str(per_round + 1), "--container", "model", "--image-base", f"{REGISTRY}/{REPOSITORY}",
                   "--repository", REPOSITORY, "--read-digest", push_image(em)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(**aws_env(em, key)))
            if out.returncode != 0:
                raise BenchError(f"the floor failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
            floor += json.loads(out.stdout)["latencies_ms"][1:]
            floor_calls = len(em.calls(key)) / (per_round + 1)
            em.complete(self.single["floor"], "svc")

            key = "AKIABENCHBOTO3WARM"
            em.reset(key)
            [events_file] = self.write_events([[push_event(em) for _ in range(per_round + 1)]])  # type: ignore[list-item]
            cmd = [sys.executable, str(ROOT / "bench" / "peers" / "boto3_handler.py"), events_file]
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env=clean_env(**aws_env(em, key), DEPLOY_CLUSTERS=self.single["b3warm"]))
            if out.returncode != 0:
                raise BenchError(f"the boto3 handler failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
            doc = json.loads(out.stdout)
            b3 += doc["latencies_ms"][1:]
            b3_import.append(doc["import_ms"])
            em.complete(self.single["b3warm"], "svc")
            say(f"   round {r + 1}/{rounds}: rollgate warm median {statistics.median(rollgate):.2f} ms, "
                f"floor {statistics.median(floor):.2f} ms, boto3 {statistics.median(b3):.2f} ms")
        self.results["warm"] = {"rollgate": summary(rollgate), "floor": summary(floor), "boto3": summary(b3),
                                "boto3_import": summary(b3_import), "floor_calls_per_iteration": floor_calls}

    # --- 5 + 6. fan-out and the health gate ---------------------------------------------
    def setup_fanout(self, em: Emulator, n: int) -> dict[str, Any]:
        clusters = [em.cluster(f"fan{n}-c{j}") for j in range(CLUSTERS_PER_FANOUT)]
        services = [(clusters[k % CLUSTERS_PER_FANOUT], f"svc{k:04d}") for k in range(n)]
        t = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda cs: em.service(cs[0], cs[1], {"rollgate:alarm-prefix": ALARM_PREFIX}), services))
        seed_s = time.perf_counter() - t
        say(f"   seeded {n} services in {len(clusters)} clusters in {seed_s:.1f} s "
            f"(boto3 through the emulator, 16 threads)")
        per_cluster = {c: sum(1 for cc, _ in services if cc == c) for c in clusters}
        tracking = em.tracking[REPOSITORY]  # this emulator's services of the repository, all sections'
        expected = {
            # The index lists every service of the account that tracks the repository, 100 a
            # page; those of the watched clusters are described again, 10 per call and cluster.
            "GetResources": max(1, math.ceil(tracking / 100)),
            "DescribeServices": sum(math.ceil(m / 10) for m in per_cluster.values()),
            "DescribeTaskDefinition": n, "RegisterTaskDefinition": n, "UpdateService": n,
            # What the release runs on: read once per push, whatever the fan-out.
            "BatchGetImage": 1, "GetDownloadUrlForLayer": 1,
        }
        return {"n": n, "clusters": clusters, "services": services, "expected": expected, "seed_s": seed_s,
                "tracking": tracking}

    def fanout_run(self, em: Emulator, fan: dict[str, Any], in_flight: int, key: str,
                   complete: bool = True) -> dict[str, Any]:
        em.reset(key)
        env = {**aws_env(em, key), "ROLLGATE_CLUSTERS": ",".join(fan["clusters"]),
               "ROLLGATE_MAX_IN_FLIGHT": str(in_flight)}
        report = self.lambda_run("deploy", [push_event(em)], env)
        services = self.deployed(report)
        if len(services) != fan["n"]:
            raise BenchError(f"fan-out deployed {len(services)} services, expected {fan['n']}")
        ops = em.calls(key)
        counts = {op: ops.count(op) for op in sorted(set(ops))}
        peak = em.peak_in_flight(key)
        if complete:
            em.complete_all(fan["services"])
        return {"ms": report["invocations"][0]["duration_ms"], "init_ms": report["init_ms"], "calls": len(ops),
                "counts": counts, "peak": peak}

    def fanout(self, em: Emulator, sizes: list[int]) -> dict[int, dict[str, Any]]:
        runs = self.args.fanout_runs
        label = f"{em.latency_ms:g} ms"
        say(f"5. fan-out at {label} emulator latency: {sizes} services, {runs} run(s) per mode, modes alternate")
        out = {}
        for n in sizes:
            fan = self.setup_fanout(em, n)
            modes: dict[int, list[dict[str, Any]]] = {8: [], 1: []}
            for r in range(runs):
                for in_flight in (8, 1):
                    result = self.fanout_run(em, fan, in_flight, f"AKIABENCHFAN{n}X{in_flight}L{em.latency_ms:g}")
                    modes[in_flight].append(result)
                    say(f"   {n} services, max in flight {in_flight}: {fmt_ms(result['ms'])}, {result['calls']} calls, "
                        f"peak in flight {result['peak']}")
            out[n] = {"fan": fan, "modes": modes}
        return out

    def gate(self, em: Emulator, fan: dict[str, Any]) -> dict[str, Any]:
        n = fan["n"]
        say(f"6. health gate: one scheduled run over {n} in-flight rollouts ({em.latency_ms:g} ms latency)")
        self.fanout_run(em, fan, 8, f"AKIABENCHGATESEED{n}", complete=False)  # n rollouts, in flight
        env = lambda key: gate_env(em, key, fan["clusters"], every=IN_FLIGHT_SWEEP_EVERY)  # noqa: E731
        steady_n = self.args.runs
        # Ticks 10 s apart, all at minutes whose turn of the full sweep (spread over
        # IN_FLIGHT_SWEEP_EVERY) holds no cluster, so each run looks at the rollouts in flight
        # alone, and well inside the default 15-minute deadline, so nothing fails on time.
        at = empty_turns_from(max(datetime.now(timezone.utc), CLOCK.t) + timedelta(minutes=1), 10 * (steady_n + 2),
                              fan["clusters"], IN_FLIGHT_SWEEP_SECS)
        key = f"AKIABENCHGATEFIRST{n}L{em.latency_ms:g}"
        # moto imports its CloudWatch backend on the first CloudWatch request, which can take
        # seconds on a loaded machine: not AWS's behaviour, so it is paid here, not by the gate.
        em.client("cloudwatch").describe_alarms()
        em.reset(key)
        report = self.lambda_run("health-gate", [tick_event(at)], env(key))
        first = report["invocations"][0]
        first_ops = em.calls(key)
        verdicts = [r["verdict"] for r in first["response"]["rollouts"]]
        sweeps = {(first["response"].get("sweep"), json.dumps(first["response"].get("clusters_in_turn")))}
        key = f"AKIABENCHGATESTEADY{n}L{em.latency_ms:g}"
        em.reset(key)
        ticks = [tick_event(at + timedelta(seconds=10 * (i + 1))) for i in range(steady_n + 1)]
        report = self.lambda_run("health-gate", ticks, env(key))
        sweeps |= {(inv["response"].get("sweep"), json.dumps(inv["response"].get("clusters_in_turn")))
                   for inv in report["invocations"]}
        if sweeps != {("in-flight", "[]")}:
            raise BenchError("the gate section's ticks were meant to look at the rollouts in flight alone, with no "
                             f"cluster in their turn of the full sweep, not (sweep, clusters_in_turn) {sweeps}")
        steady = [inv["duration_ms"] for inv in report["invocations"][1:]]
        steady_verdicts = [r["verdict"] for r in report["invocations"][-1]["response"]["rollouts"]]
        ops = em.calls(key)
        per_tick = {op: ops.count(op) / (steady_n + 1) for op in sorted(set(ops))}
        result = {
            "n": n, "latency_ms": em.latency_ms,
            "first_ms": first["duration_ms"], "first_counts": {op: first_ops.count(op) for op in sorted(set(first_ops))},
            "first_verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
            "steady": summary(steady), "steady_counts": per_tick,
            "steady_verdicts": {v: steady_verdicts.count(v) for v in sorted(set(steady_verdicts))},
            "expected_describe_services": fan["expected"]["DescribeServices"],
            "tick": at.strftime("%H:%M:%S"), "sweep_every": IN_FLIGHT_SWEEP_EVERY,
        }
        say(f"   first sight {fmt_ms(first['duration_ms'])}, {len(first_ops)} calls {result['first_counts']}; "
            f"steady {fmt_stat(result['steady'])}, per tick {per_tick}")
        em.complete_all(fan["services"])
        return result

    # --- 9. fleet scale: the index against the scan ----------------------------------------
    def setup_fleet(self, em: Emulator) -> dict[str, Any]:
        """`--fleet-services` services in `--fleet-clusters` clusters, each with its own task-
        definition family: 1 tracks FLEET_SOLO, FLEET_HOT_SERVICES track FLEET_HOT (spread
        evenly over up to FLEET_HOT_CLUSTERS clusters), the rest track FLEET_OTHER_REPOSITORIES
        other repositories, round robin. No alarms are watched."""
        n, c = self.args.fleet_services, self.args.fleet_clusters
        if c < 1 or n % c:
            raise BenchError(f"--fleet-services {n} must be a multiple of --fleet-clusters {c}")
        per = n // c
        clusters = [f"fleet-c{j:02d}" for j in range(c)]
        hot_n = min(FLEET_HOT_CLUSTERS, c)
        hot_clusters = [clusters[j * c // hot_n] for j in range(hot_n)]
        if FLEET_HOT_SERVICES % hot_n or FLEET_HOT_SERVICES // hot_n + 1 > per:
            raise BenchError(f"a fleet of {n} services in {c} clusters cannot hold {FLEET_HOT_SERVICES} "
                             f"{FLEET_HOT} services in {hot_n} clusters and the {FLEET_SOLO} one")
        hot_per = FLEET_HOT_SERVICES // hot_n
        solo_cluster = next((cl for cl in reversed(clusters) if cl not in hot_clusters), clusters[-1])
        plan: list[tuple[str, str, str]] = []
        other = 0
        for cl in clusters:
            repos = [FLEET_HOT] * (hot_per if cl in hot_clusters else 0) + ([FLEET_SOLO] if cl == solo_cluster else [])
            while len(repos) < per:
                repos.append(f"fleet-other-{other % FLEET_OTHER_REPOSITORIES:02d}")
                other += 1
            plan += [(cl, f"svc{i:03d}", repo) for i, repo in enumerate(repos)]
        say(f"9. fleet scale: seeding {n} services in {c} clusters ({per} per cluster; 1 tracks {FLEET_SOLO}, "
            f"{FLEET_HOT_SERVICES} track {FLEET_HOT} in {hot_n} clusters, {n - 1 - FLEET_HOT_SERVICES} track "
            f"{FLEET_OTHER_REPOSITORIES} other repositories), {em.latency_ms:g} ms emulator latency, "
            f"{FLEET_SETUP_THREADS} boto3 threads")
        t = time.perf_counter()
        for repo in (FLEET_SOLO, FLEET_HOT):
            em.repository(repo)
        for cl in clusters:
            em.cluster(cl)
        em.network()
        done = [0]

        def make(entry: tuple[str, str, str]) -> None:
            em.service(entry[0], entry[1], repository=entry[2])
            done[0] += 1
            if done[0] % 1000 == 0:
                say(f"   {done[0]}/{n} services ({time.perf_counter() - t:.0f} s)")

        with ThreadPoolExecutor(FLEET_SETUP_THREADS) as pool:
            list(pool.map(make, plan))
        seed_s = time.perf_counter() - t
        say(f"   seeded in {seed_s:.1f} s")
        of = lambda repo: [(cl, name) for cl, name, r in plan if r == repo]  # noqa: E731
        return {"n": n, "clusters": clusters, "per_cluster": per, "hot_clusters": hot_clusters, "hot_per": hot_per,
                "solo_cluster": solo_cluster, "solo": of(FLEET_SOLO), "hot": of(FLEET_HOT), "seed_s": seed_s,
                "latency_ms": em.latency_ms, "threads": FLEET_SETUP_THREADS}

    def fleet_push(self, em: Emulator, fleet: dict[str, Any], repository: str, mode: str, rep: int) -> dict[str, Any]:
        """One buildx push to `repository` (a new tag and digest) and the deploy run for it."""
        targets = fleet["solo"] if repository == FLEET_SOLO else fleet["hot"]
        key = f"AKIAFLEETPUSH{len(targets)}{mode.upper()}{rep}"
        em.reset(key)
        event = index_push_event(em, repository, f"r{rep}-{mode}")
        env = {**aws_env(em, key), "ROLLGATE_CLUSTERS": ",".join(fleet["clusters"]), "ROLLGATE_DISCOVERY": mode}
        report = self.lambda_run("deploy", [event], env, strict=False)
        inv = report["invocations"][0]
        services = self.response(inv).get("services", [])
        done = sorted((s["cluster"], s["service"]) for s in services if s.get("outcome") == "deployed")
        error = None
        if inv["status"] != "ok" or done != sorted(targets):
            error = (f"{len(done)} of {len(targets)} services deployed"
                     + (f"; deploy answered {inv.get('error_type')}: {(inv.get('error_message') or '')[:300]}"
                        if inv["status"] != "ok" else ""))
            say(f"   the push to {repository} ({mode}) did not deploy every service: {error}")
        ops = em.calls(key)
        em.complete_all(targets)
        return {"ms": inv["duration_ms"], "calls": len(ops),
                "counts": {op: ops.count(op) for op in sorted(set(ops))}, "rss_kb": report.get("peak_rss_kb"),
                "error": error}

    def fleet_tick(self, em: Emulator, fleet: dict[str, Any], mode: str, at: datetime, label: str,
                   every: str, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        """One scheduled health-gate run at `at` with ROLLGATE_DISCOVERY=`mode` and
        ROLLGATE_FULL_SWEEP_EVERY=`every`."""
        _COUNTER[0] += 1
        key = f"AKIAFLEETGATE{label}{mode.upper()}{_COUNTER[0]}"
        em.reset(key)
        env = {**gate_env(em, key, fleet["clusters"], mode, every), **(extra_env or {})}
        report = self.lambda_run("health-gate", [tick_event(at)], env, strict=False)
        response = self.response(report["invocations"][0])
        failures = response.get("failures") or []
        if failures:
            say(f"   the gate run ({mode}, {label}) reported {len(failures)} failure(s), e.g. {failures[0]}")
        ops = em.calls(key)
        verdicts = [r["verdict"] for r in response.get("rollouts", [])]
        return {"ms": report["invocations"][0]["duration_ms"], "calls": len(ops),
                "counts": {op: ops.count(op) for op in sorted(set(ops))}, "sweep": response.get("sweep"),
                "clusters_in_turn": response.get("clusters_in_turn"), "every": every,
                "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))}, "at": at.strftime("%H:%M:%S"),
                "rss_kb": report.get("peak_rss_kb"), "failures": len(failures),
                "failure": failures[0].get("error") if failures else None,
                "error": None if report["invocations"][0]["status"] == "ok" else
                (report["invocations"][0].get("error_message") or "")[:300],
                "call_rate": env.get("ROLLGATE_MAX_CALL_RATE")}

    def fleet_state_times(self, at: datetime) -> list[tuple[datetime, str]]:
        """The event times of one state's gate runs (`fleet_state`): the modes alternating,
        index first, 5 s apart from `at`."""
        return [(at + timedelta(seconds=5 * (2 * rep + j)), mode)
                for rep in range(self.args.fleet_runs) for j, mode in enumerate(MODES)]

    def fleet_state(self, em: Emulator, fleet: dict[str, Any], label: str, at: datetime) -> dict[str, list[dict[str, Any]]]:
        """Gate runs over one state of the fleet (`fleet_state_times`), with the full sweep
        spread over IN_FLIGHT_SWEEP_EVERY and every run at a minute whose turn holds no cluster:
        an index run looks at the rollouts in flight alone, a scan run sweeps every service."""
        ticks: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
        for t, mode in self.fleet_state_times(at):
            if clusters_in_turn(t, IN_FLIGHT_SWEEP_SECS, fleet["clusters"]) != []:
                raise BenchError(f"tick {t} has clusters in its turn of the full sweep")
            tick = self.fleet_tick(em, fleet, mode, t, label, IN_FLIGHT_SWEEP_EVERY)
            # None: an error answer without a report.
            want = ("in-flight", []) if mode == "index" else ("full", None)
            if tick["sweep"] is not None and (tick["sweep"], tick["clusters_in_turn"]) != want:
                raise BenchError(f"a {mode} gate run at {t} swept {tick['sweep']!r}, clusters in turn "
                                 f"{tick['clusters_in_turn']!r}; expected {want!r}")
            ticks[mode].append(tick)
            say(f"   gate, {label}, {mode} tick {len(ticks[mode])}: {fmt_ms(tick['ms'])}, {tick['calls']} calls "
                f"{tick['counts']}, verdicts {tick['verdicts']}")
        return ticks

    def fleet_boundary(self, clusters: list[str]) -> datetime:
        """B, the time the fleet's gate runs are counted from: the first whole minute at least a
        minute after now and after the CLOCK's time (the pushes' event times) such that
        - minute B + 1, when the turn runs are, has a turn of the default full sweep
          (FULL_SWEEP_EVERY) that holds the most clusters any turn does (⌈clusters / 15⌉);
        - every run of the states, at minutes B + 2, B + 4 and B + 6 (`fleet_state_times`), has
          no cluster in its turn of a full sweep spread over IN_FLIGHT_SWEEP_EVERY.
        Event times are only labels (nothing waits for them), but the bake's timing is kept: a
        rollout first seen at minute 4 is still baking at minute 6."""
        soon = max(datetime.now(timezone.utc), CLOCK.t) + timedelta(minutes=1)
        b = datetime.fromtimestamp(math.ceil(soon.timestamp() / 60) * 60, timezone.utc)
        most = math.ceil(len(set(clusters)) / math.ceil(FULL_SWEEP_SECS / TICK_SECS))
        for _ in range(2 * (IN_FLIGHT_SWEEP_SECS + FULL_SWEEP_SECS) // 60):
            turn = clusters_in_turn(b + timedelta(minutes=1), FULL_SWEEP_SECS, clusters) or []
            quiet = all(clusters_in_turn(t, IN_FLIGHT_SWEEP_SECS, clusters) == []
                        for k in (2, 4, 6) for t, _ in self.fleet_state_times(b + timedelta(minutes=k)))
            if len(turn) == most and quiet:
                return b
            b += timedelta(minutes=1)
        raise BenchError(f"no minute for the fleet's gate runs: {len(clusters)} clusters leave no turn of "
                         f"{IN_FLIGHT_SWEEP_EVERY} empty")

    def fleet(self, em: Emulator) -> dict[str, Any]:
        started = time.perf_counter()
        fleet = self.setup_fleet(em)
        runs = self.args.fleet_runs
        out: dict[str, Any] = {"setup": {k: v for k, v in fleet.items() if k not in ("solo", "hot")},
                               "runs": runs, "push": {}, "gate": {}, "max_call_rate": self.args.max_call_rate,
                               "template_timeouts": template_timeouts()}
        # Event times of the gate runs (fleet_boundary): two setup sweeps at B + 5 s and B + 10 s,
        # two runs with their turn of the default full sweep at minute B + 1, then each state's
        # runs at minutes 2, 4 and 6 after B, whose turns hold no cluster.
        boundary = self.fleet_boundary(fleet["clusters"])
        out["boundary"] = boundary.strftime("%H:%M")
        out["full_sweeps"] = []
        for i in (1, 2):
            # The first adopts every service's live revision as its last known good; a run that
            # wrote a service's tags leaves its history record to the next (its view's tag count
            # is stale), so the second records each service's deployment history. A period of
            # one tick: every run sweeps every cluster.
            at = boundary + timedelta(seconds=5 * i)
            if clusters_in_turn(at, SETUP_SWEEP_SECS, fleet["clusters"]) is not None:
                raise BenchError(f"a full sweep every {SETUP_SWEEP_EVERY} should sweep every cluster on every run")
            say(f"   full sweep {i} (index discovery, ROLLGATE_FULL_SWEEP_EVERY={SETUP_SWEEP_EVERY}, "
                f"a tick at {at:%H:%M:%S})")
            full = self.fleet_tick(em, fleet, "index", at, f"FULL{i}", SETUP_SWEEP_EVERY,
                                   {"ROLLGATE_MAX_CALL_RATE": str(FLEET_SETUP_CALL_RATE)})
            if full["sweep"] != "full" or full["clusters_in_turn"] is not None:
                raise BenchError(f"the gate run at {at} swept {full['sweep']!r} (clusters in turn "
                                 f"{full['clusters_in_turn']!r}), expected a full sweep")
            say(f"   full sweep {i}: {fmt_ms(full['ms'])}, {full['calls']} calls {full['counts']}")
            out["full_sweeps"].append(full)
        # The fleet settled, two runs at the default period whose turn holds the most clusters:
        # what every index run costs at most with 0 rollouts in flight.
        out["turn_runs"] = []
        for i in (1, 2):
            at = boundary + timedelta(minutes=1, seconds=5 * (i - 1))
            want = clusters_in_turn(at, FULL_SWEEP_SECS, fleet["clusters"])
            turn = self.fleet_tick(em, fleet, "index", at, f"TURN{i}", FULL_SWEEP_EVERY)
            if turn["sweep"] != "in-flight" or turn["clusters_in_turn"] != want:
                raise BenchError(f"the gate run at {at} swept {turn['sweep']!r} with clusters in turn "
                                 f"{turn['clusters_in_turn']!r}; expected in-flight with {want!r}")
            say(f"   turn run {i} ({FULL_SWEEP_EVERY}, {at:%H:%M:%S}, clusters in turn {want}): {fmt_ms(turn['ms'])}, "
                f"{turn['calls']} calls {turn['counts']}")
            out["turn_runs"].append(turn)
        out["gate"]["0"] = self.fleet_state(em, fleet, "IDLE", boundary + timedelta(minutes=2))
        for repository, k in ((FLEET_SOLO, 1), (FLEET_HOT, len(fleet["hot"]))):
            pushes: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
            for rep in range(runs):
                for mode in MODES:
                    result = self.fleet_push(em, fleet, repository, mode, rep)
                    pushes[mode].append(result)
                    say(f"   push -> {k} service(s), {mode}: {fmt_ms(result['ms'])}, {result['calls']} calls "
                        f"{result['counts']}")
            out["push"][str(k)] = pushes
            if repository == FLEET_SOLO:
                out["gate"]["1"] = self.fleet_state(em, fleet, "SOLO", boundary + timedelta(minutes=4))
        out["gate"][str(1 + len(fleet["hot"]))] = self.fleet_state(em, fleet, "HOT", boundary + timedelta(minutes=6))
        out["seconds"] = time.perf_counter() - started
        say(f"   fleet section: {out['seconds']:.0f} s (setup {fleet['seed_s']:.0f} s)")
        return out

    # --- 7. zips -------------------------------------------------------------------------
    def zips(self) -> dict[str, Any]:
        found = {}
        for f in FUNCTIONS:
            path = TARGET / "lambda" / f / "bootstrap.zip"
            if not path.exists():
                continue
            with zipfile.ZipFile(path) as z:
                head = z.open("bootstrap").read(20)
            machine = struct.unpack("<H", head[18:20])[0] if head[:4] == b"\x7fELF" else None
            arch = {62: "x86_64", 183: "arm64"}.get(machine, f"unknown ({machine})")
            found[f] = {"bytes": path.stat().st_size, "arch": arch,
                        "built": datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")}
        return found

    # --- the whole run ---------------------------------------------------------------------
    def run(self) -> None:
        args = self.args
        self.results["machine"] = machine_info()
        self.build()
        self.results["load_before"] = os.getloadavg()
        say("starting two emulators: 0 ms and "
            f"{args.latency_ms:g} ms added latency per AWS request (ROLLGATE_EMULATOR_LATENCY_MS)")
        fast, slow = Emulator(0, self.work), Emulator(args.latency_ms, self.work)
        try:
            self.setup_single(fast)
            self.cold_and_peers(fast)
            self.warm(fast)
            self.results["fanout"] = {}
            self.results["gate"] = []
            for em in (slow, fast):
                fans = self.fanout(em, args.sizes)
                self.results["fanout"][em.latency_ms] = {
                    n: {"expected": v["fan"]["expected"], "modes": v["modes"], "seed_s": v["fan"]["seed_s"],
                        "tracking": v["fan"]["tracking"]}
                    for n, v in fans.items()}
                gate_fan = fans[min(args.sizes, key=lambda s: abs(s - 100))]["fan"]
                self.results["gate"].append(self.gate(em, gate_fan))
        finally:
            fast.stop()
            slow.stop()
        # The fleet on an emulator of its own (nothing of the other sections in its account).
        say(f"starting the fleet's emulator: {args.latency_ms:g} ms added latency per AWS request")
        fleet_em = Emulator(args.latency_ms, self.work)
        try:
            self.results["fleet"] = self.fleet(fleet_em)
        finally:
            fleet_em.stop()
        self.results["load_after"] = os.getloadavg()
        self.results["rss_kb"] = {f: max(v) if v else None for f, v in self.rss.items()}
        self.results["zips"] = self.zips()
        self.results["builds_seen"] = build_history()
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        (STATE_DIR / "results.json").write_text(json.dumps({"args": vars(args), "results": self.results}, indent=1))
        self.write_doc()
        shutil.rmtree(self.work, ignore_errors=True)

    def write_doc(self) -> None:
        args = self.args
        self.evaluate()
        doc = render(self)
        out = Path(args.out)
        if not out.is_absolute():
            out = ROOT / out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(doc)
        print()
        print(targets_table(self.targets))
        print()
        say(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")

    # --- targets ---------------------------------------------------------------------------
    def evaluate(self) -> None:
        r = self.results
        self.targets.clear()
        cold = r["cold"]
        for f in FUNCTIONS:
            s = cold[f]
            self.target(f"{f}: cold start (init)", fmt_stat(s), f"<= {T_INIT_MS:g} ms (median)", s["median"] <= T_INIT_MS)
        s = cold["deploy_total"]
        self.target("deploy: cold start + first single-service deploy", fmt_stat(s),
                    f"<= {T_INIT_DEPLOY_MS:g} ms (median)", s["median"] <= T_INIT_DEPLOY_MS)
        w = r["warm"]
        q = ratio(w["rollgate"]["median"], w["floor"]["median"])
        self.target("deploy: warm latency / floor (bare aws-sdk, same 7 calls)",
                    f"{q:.2f}x ({fmt_ms(w['rollgate']['median'])} / {fmt_ms(w['floor']['median'])})",
                    f"<= {T_WARM_OVER_FLOOR:g}x", q <= T_WARM_OVER_FLOOR)
        e = r["peers_whole"]["ecs-deploy"]["median"]
        q = ratio(e, cold["deploy_total"]["median"])
        self.target("ecs-deploy process / rollgate cold start + deploy", f"{q:.1f}x ({fmt_ms(e)} / "
                    f"{fmt_ms(cold['deploy_total']['median'])})", f">= {T_ECS_DEPLOY_SPEEDUP:g}x", q >= T_ECS_DEPLOY_SPEEDUP)
        counts = {len(c) for c in r["single_calls"]["rollgate"]}
        self.target("deploy: AWS calls, single-service rollout", ", ".join(map(str, sorted(counts))),
                    f"<= {T_SINGLE_CALLS}", max(counts) <= T_SINGLE_CALLS)
        for latency, fans in r["fanout"].items():
            for n, f in fans.items():
                exp = sum(f["expected"].values())
                got = {res["calls"] for m in f["modes"].values() for res in m}
                self.target(f"fan-out {n} services: AWS calls ({latency:g} ms)", ", ".join(map(str, sorted(got))),
                            f"= {exp} (expected)", got == {exp})
                peaks = {m: max(res["peak"] for res in runs) for m, runs in f["modes"].items()}
                self.target(f"fan-out {n} services: peak requests in flight ({latency:g} ms)",
                            f"{peaks[8]} (max 8), {peaks[1]} (max 1)", "<= ROLLGATE_MAX_IN_FLIGHT",
                            peaks[8] <= 8 and peaks[1] <= 1)
                if latency > 0:
                    q = ratio(statistics.median([x["ms"] for x in f["modes"][1]]),
                              statistics.median([x["ms"] for x in f["modes"][8]]))
                    self.target(f"fan-out {n} services: in flight 8 vs 1 ({latency:g} ms)", f"{q:.1f}x faster",
                                f">= {T_FANOUT_SPEEDUP:g}x", q >= T_FANOUT_SPEEDUP)
        for g in r["gate"]:
            ds = g["steady_counts"].get("DescribeServices", 0)
            da = max(g["steady_counts"].get("DescribeAlarms", 0), g["first_counts"].get("DescribeAlarms", 0))
            self.target(f"health-gate, {g['n']} in-flight rollouts ({g['latency_ms']:g} ms): DescribeServices per run",
                        f"{ds:g}", f"= {g['expected_describe_services']} (batches of 10)",
                        ds == g["expected_describe_services"])
            self.target(f"health-gate, {g['n']} in-flight rollouts ({g['latency_ms']:g} ms): DescribeAlarms per run",
                        f"{da:g}", "<= 1", da <= 1)
            dh = max(g["steady_counts"].get("DescribeAlarmHistory", 0),
                     g["first_counts"].get("DescribeAlarmHistory", 0))
            self.target(f"health-gate, {g['n']} in-flight rollouts ({g['latency_ms']:g} ms): "
                        "DescribeAlarmHistory per run", f"{dh:g}", "<= 1", dh <= 1)
        fl = r.get("fleet")
        if fl:
            n = fl["setup"]["n"]
            for k, pushes in fl["push"].items():
                index, scan = (sorted({x["calls"] for x in pushes[m]}) for m in MODES)
                goal = fleet_push_target(int(k))
                self.target(f"fleet: push -> {k} service{'s' if k != '1' else ''}, {n}-service fleet: AWS calls",
                            f"{', '.join(map(str, index))} (scan: {', '.join(map(str, scan))})", f"<= {goal}",
                            max(index) <= goal)
            for rr, ticks in fl["gate"].items():
                index, scan = (ticks[m][1]["calls"] for m in MODES)
                goal = fleet_gate_target(int(rr))
                self.target(f"fleet: gate sweep, {rr} in flight, {n} services: AWS calls (second tick)",
                            f"{index} (scan: {scan})", f"<= {goal}", index <= goal)
        for f in FUNCTIONS:
            kb = r["rss_kb"][f]
            self.target(f"{f}: peak RSS", f"{kb / 1024:.1f} MiB" if kb else "n/a", f"<= {T_PEAK_RSS_MIB:g} MiB",
                        kb / 1024 <= T_PEAK_RSS_MIB if kb else None)
        for f in FUNCTIONS:
            z = r["zips"].get(f)
            if z is None:
                self.target(f"{f}: Lambda zip", "not built", f"<= {T_ZIP_MB:g} MB", None)
            else:
                self.target(f"{f}: Lambda zip ({z['arch']})", f"{z['bytes'] / 1e6:.2f} MB", f"<= {T_ZIP_MB:g} MB",
                            z["bytes"] / 1e6 <= T_ZIP_MB, "" if z["arch"] == "arm64" else "arm64 zip not found")


# ------------------------------------------------------------------------------------------
# Fleet scale: targets, expected calls, and why a figure is what it is
# ------------------------------------------------------------------------------------------


def turn_sizes_text(clusters: int, parts: int) -> str:
    """How many clusters the turns of a sweep spread over `parts` turns hold, in words."""
    sizes = [clusters // parts + (j < clusters % parts) for j in range(parts)]
    words = lambda k: "none" if k == 0 else f"{k} cluster{'s' if k != 1 else ''}"  # noqa: E731
    return " and ".join(f"{sizes.count(k)} hold{'s' if sizes.count(k) == 1 else ''} {words(k)}"
                        for k in sorted(set(sizes), reverse=True))


def fleet_push_target(k: int) -> int:
    return T_FLEET_PUSH_ONE_CALLS if k == 1 else T_FLEET_PUSH_PER_SERVICE * k + T_FLEET_PUSH_OVERHEAD


def fleet_gate_target(r: int) -> int:
    return T_FLEET_GATE_BASE + math.ceil(r / 10) + r


def describe_calls(per_cluster: dict[str, int]) -> int:
    """DescribeServices calls for these services: 10 a call, one cluster a call."""
    return sum(math.ceil(m / 10) for m in per_cluster.values())


def fleet_spread(setup: dict[str, Any], what: str) -> dict[str, int]:
    """Services per cluster of the fleet's solo service, its hot ones, or both ("solo", "hot", "all")."""
    spread: dict[str, int] = {}
    if what in ("hot", "all"):
        for cl in setup["hot_clusters"]:
            spread[cl] = spread.get(cl, 0) + setup["hot_per"]
    if what in ("solo", "all"):
        spread[setup["solo_cluster"]] = spread.get(setup["solo_cluster"], 0) + 1
    return spread


def fleet_expected(setup: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The discovery calls the design predicts (docs/fleet-scale.md, "Cost per event"), per
    mode: the index's GetResources (one per 100 matches) and DescribeServices per 10 services of
    a cluster, or the scan's ListServices per 100 and DescribeServices per 10 of every cluster."""
    per, c = setup["per_cluster"], len(setup["clusters"])
    scan = {"ListServices": c * max(1, math.ceil(per / 100)), "DescribeServices": c * math.ceil(per / 10)}
    hot = sum(fleet_spread(setup, "hot").values())
    return {
        "push 1 index": {"GetResources": 1, "DescribeServices": describe_calls(fleet_spread(setup, "solo"))},
        f"push {hot} index": {"GetResources": math.ceil(hot / 100),
                              "DescribeServices": describe_calls(fleet_spread(setup, "hot"))},
        # Rollouts in flight, 100 a page (at least one), and the outside records (none here).
        "gate 0 index": {"GetResources": 2},
        "gate 1 index": {"GetResources": 2, "DescribeServices": describe_calls(fleet_spread(setup, "solo"))},
        f"gate {hot + 1} index": {"GetResources": math.ceil((hot + 1) / 100) + 1,
                                  "DescribeServices": describe_calls(fleet_spread(setup, "all"))},
        # The lookup of the rollouts in flight (none) and the scan of a turn's clusters, as many
        # as a turn of the default period holds at most.
        "gate turn index": {"GetResources": 2, **{op: k // c * math.ceil(c / math.ceil(FULL_SWEEP_SECS / TICK_SECS))
                                                  for op, k in scan.items()}},
        "scan": scan,
    }


# What each operation is there for, in the fleet section's breakdowns.
FLEET_REASONS = {
    "GetResources": "the tagging index: one query a push, two a gate run (rollouts in flight, outside records), "
                    "100 resources a page",
    "ListServices": "the scan: every watched cluster listed, 100 services a page",
    "DescribeServices": "each service found described again at ECS with its tags, 10 a call and cluster: the index "
                        "is a lookup, never the truth",
    "BatchGetImage": "the pushed manifest (an image index: its platforms say what the release runs on)",
    "GetDownloadUrlForLayer": "a single image's config blob",
    "DescribeTaskDefinition": "a revision read: deploy, the live one it copies; the gate, each revision a service "
                              "runs or lists other than its last known good",
    "RegisterTaskDefinition": "the new revision",
    "UpdateService": "the rollout",
    "ListTaskDefinitions": "consistent with a RegisterTaskDefinition attempt that failed retryably or lost its answer: "
                           "before registering again, deploy looks among the family's 5 newest revisions "
                           "(ListTaskDefinitions, DescribeTaskDefinition each) for the one the lost attempt may have "
                           "registered (rollgate_aws::ecs::register_copy)",
    "ListServiceDeployments": "ECS's service-deployment history (rollgate_core::history), read for a service until "
                              "a gate run has recorded its current deployment, which waits for the live rollout's "
                              "verdict",
    "DescribeServiceDeployments": "deployments ECS settled that no gate run saw listed",
    "DescribeServiceRevisions": "the revisions of deployments ECS settled that no gate run saw listed (earlier pushes "
                                "that a newer one replaced before any tick)",
    "TagResource": "a write: a rollout's state and announcement, a service's last known good or history record",
    "PutEvents": "a notification (Rollout Started, a verdict)",
}


def typical(runs: list[dict[str, Any]]) -> dict[str, int]:
    """The most frequent per-operation breakdown among `runs` (the earliest on a tie)."""
    keys = [json.dumps(x["counts"], sort_keys=True) for x in runs]
    return json.loads(max(keys, key=lambda k: (keys.count(k), -keys.index(k))))


def counts_text(counts: dict[str, float]) -> str:
    return ", ".join(f"{op} {c:g}" for op, c in sorted(counts.items(), key=lambda oc: (-oc[1], oc[0])))


def fleet_gap(counts: dict[str, int], fixed: dict[str, int], allowance: int, allowance_for: str) -> str:
    """How a measured call count compares with its target, which allows `fixed` calls of the
    named operations and `allowance` more (`allowance_for` says for what), each call beyond it
    named with what it is for."""
    total = sum(counts.values())
    target = sum(fixed.values()) + allowance
    over_fixed = {op: counts.get(op, 0) - c for op, c in fixed.items() if counts.get(op, 0) > c}
    rest = {op: c for op, c in counts.items() if op not in fixed}
    allowed = ", ".join(f"{op} {c}" for op, c in fixed.items())
    text = (f"{total} calls against a target of {target} ({allowed}, and {allowance} {allowance_for}): "
            + ("met. " if total <= target else f"**{total - target} over**. "))
    if over_fixed:
        text += "Above the formula's share: " + "; ".join(
            f"{op} +{c} ({FLEET_REASONS.get(op, '')})" for op, c in over_fixed.items()) + ". "
    if rest:
        text += (f"The {sum(rest.values())} calls against the {allowance} {allowance_for}: " + "; ".join(
            f"{op} {c} ({FLEET_REASONS.get(op, '')})" for op, c in sorted(rest.items(), key=lambda oc: (-oc[1], oc[0])))
            + ".")
    return text.strip()


# ------------------------------------------------------------------------------------------
# Machine info
# ------------------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    def first(path: str, prefix: str) -> str:
        try:
            for line in open(path):
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    def cmd(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    mem_kb = first("/proc/meminfo", "MemTotal")
    memory = f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kb != "unknown" else mem_kb
    return {
        "date": now_utc(),
        "nproc": cmd("nproc"),
        "cpu": first("/proc/cpuinfo", "model name"),
        "memory": memory,
        "kernel": platform.release(),
        "rustc": cmd("rustc", "-V"),
        "python": platform.python_version(),
    }


# ------------------------------------------------------------------------------------------
# The cost model, on paper
# ------------------------------------------------------------------------------------------

COST_SCENARIOS = [(10, 50), (100, 500), (1000, 5000)]
AWS_CALL_MS = 50.0            # assumed real-AWS latency of one ECS call (30-60 ms observed)
GATE_EVENTS_PER_DEPLOY = 4    # 2 deployment state changes + 2 STOPPED tasks (a 2-task service)
NOTIFICATIONS_PER_DEPLOY = 2  # "Rollout Started" + the verdict, published by the gate
PIPELINE_V2_ACTION_MINUTES = 6  # ECR source ~1 min + ECS deploy ~5 min, each rounded up
MINUTES_PER_MONTH = 30 * 24 * 60
INDEX_TICK_CALLS = 2          # an idle fleet's gate tick with the index: two GetResources
IN_FLIGHT_TICKS_PER_DEPLOY = 10  # ticks that see a rollout in flight (~5 min rollout + 5 min bake)
READS_PER_IN_FLIGHT_TICK = 3  # DescribeServices, DescribeTaskDefinition, ListServiceDeployments
MEMORY_GB = 128 / 1024


def cost_model(r: dict[str, Any]) -> dict[str, Any]:
    init = r["cold"]["deploy"]["median"]
    gate_init = r["cold"]["health-gate"]["median"]
    first = r["cold"]["deploy_first"]["median"]
    deploy_ms = init + first + T_SINGLE_CALLS * AWS_CALL_MS
    gate_event_ms = gate_init + 3 * AWS_CALL_MS
    rows = []
    turns = math.ceil(FULL_SWEEP_SECS / TICK_SECS)
    for n, m in COST_SCENARIOS:
        sweep_calls = 1 + math.ceil(n / 100) + math.ceil(n / 10)  # ListServices pages + DescribeServices
        # With the index, every tick costs two GetResources calls (plus the rollouts in flight,
        # counted per deploy below) and its turn of the full sweep, which is spread over the
        # period's ticks (rollgate_core::index::clusters_in_turn): on average 1/turns of it.
        tick_calls = INDEX_TICK_CALLS + sweep_calls / turns
        tick_ms = gate_init + tick_calls * AWS_CALL_MS
        in_flight_ms = IN_FLIGHT_TICKS_PER_DEPLOY * READS_PER_IN_FLIGHT_TICK * AWS_CALL_MS
        reconcile_ms = gate_init + (sweep_calls + math.ceil(n / 8)) * AWS_CALL_MS  # + DescribeImages per repo, 8 at once
        ticks = MINUTES_PER_MONTH
        reconciles = MINUTES_PER_MONTH // 5
        requests = m + m * GATE_EVENTS_PER_DEPLOY + ticks + reconciles
        ms_total = (m * deploy_ms + m * GATE_EVENTS_PER_DEPLOY * gate_event_ms + ticks * tick_ms
                    + m * in_flight_ms + reconciles * reconcile_ms)
        gb_s = ms_total / 1000 * MEMORY_GB
        req_cost = requests / 1e6 * LAMBDA_PER_MILLION_REQUESTS
        events_cost = m * NOTIFICATIONS_PER_DEPLOY / 1e6 * EVENTBRIDGE_CUSTOM_PER_MILLION
        rows.append({
            "n": n, "m": m, "requests": requests, "gb_s": gb_s,
            "arm": req_cost + gb_s * LAMBDA_GB_S_ARM + events_cost,
            "x86": req_cost + gb_s * LAMBDA_GB_S_X86 + events_cost,
            "v1": n * CODEPIPELINE_V1_PER_PIPELINE,
            "v2": m * PIPELINE_V2_ACTION_MINUTES * CODEPIPELINE_V2_PER_ACTION_MINUTE,
            "tick_ms": tick_ms,
        })
    return {"deploy_ms": deploy_ms, "gate_event_ms": gate_event_ms, "rows": rows}


# ------------------------------------------------------------------------------------------
# The document
# ------------------------------------------------------------------------------------------


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = ["| measurement | result | target | |", "| --- | --- | --- | --- |"]
    for t in targets:
        mark = {True: "met", False: "**MISSED**", None: "not measured"}[t["met"]]
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"| {t['what']} | {t['measured']} | {t['target']} | {mark}{note} |")
    return "\n".join(lines)


def render(b: Bench) -> str:
    r = b.results
    a = b.args
    m = r["machine"]
    cold = r["cold"]
    warm = r["warm"]
    peers = r["peers_whole"]
    missed = [t for t in b.targets if t["met"] is False]
    cmdline = "make bench" if not a.quick else "make bench  # this document came from a --quick run"
    reproduce = (f".venv/bin/python bench/run.py --runs {a.runs} --profile {a.profile} --latency-ms {a.latency_ms:g}"
                 + (" --quick" if a.quick else "") + (" --build-zips" if a.build_zips else "")
                 + (f" --max-call-rate {a.max_call_rate}" if getattr(a, "max_call_rate", None) else "")
                 + (f" --fleet-services {a.fleet_services} --fleet-clusters {a.fleet_clusters}"
                    if "fleet" in r and (a.fleet_services, a.fleet_clusters) != ((500, 5) if a.quick else (5000, 50))
                    else ""))
    out: list[str] = []
    w = out.append

    def targets_of(*words: str) -> None:
        """One line per target of this section, saying plainly whether it was met."""
        for t in b.targets:
            if t["what"].startswith("fleet:") and "fleet:" not in words:
                continue  # section 9's own
            if any(word in t["what"] for word in words):
                mark = {True: "met", False: "**MISSED**", None: "not measured"}[t["met"]]
                w(f"* Target {t['what']}: {t['target']}; measured {t['measured']}: {mark}.")
        w("")
    w("# Benchmarks")
    w("")
    w("Generated by `bench/run.py`; do not edit by hand. Everything runs on loopback against the moto "
      "emulator (`tests/emulator/`), with the functions' " + ("release" if a.profile == "release" else "**debug**")
      + " binaries run under a local Lambda Runtime API (`tests/emulator/lambda_rapi.py`). Absolute times "
      "drift on a shared machine; the ratios, measured in the same run with the actors interleaved, are what "
      "matter. Figures are medians (p90 in brackets) over repeated runs, nothing dropped, except that warm "
      "latencies leave out each process's first (cold) invocation.")
    w("")
    w("Reproduce:")
    w("")
    w("```sh")
    w(cmdline)
    w(f"# which runs: {reproduce}")
    w("```")
    w("")
    w(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory, Linux {m['kernel']}, {m['rustc']}, "
      f"Python {m['python']}; run started {m['date']}. Runs per measurement: {a.runs}; fan-out runs per mode: "
      f"{a.fanout_runs}; simulated AWS latency for the fan-out and the fleet: {a.latency_ms:g} ms per request; "
      + (f"`ROLLGATE_MAX_CALL_RATE={a.max_call_rate}` for every function run. " if getattr(a, "max_call_rate", None)
         else "`ROLLGATE_MAX_CALL_RATE` unset (the functions' default cap, 20 AWS requests a second per instance). ")
      + "Load average "
      f"(1/5/15 min) when the measurements started: {'/'.join(f'{x:.1f}' for x in r['load_before'])}, when they "
      f"ended: {'/'.join(f'{x:.1f}' for x in r['load_after'])}"
      + (f" (above {m['nproc']}: other work was competing for the CPUs)."
         if max(r["load_before"][0], r["load_after"][0]) > float(m["nproc"] if m["nproc"].isdigit() else 1) else "."))
    w("")
    if r.get("binaries"):
        w(f"Binaries: target/{a.profile}/ as built at " + ", ".join(f"{name} {when}" for name, when in r["binaries"].items())
          + ", each copied at its first use so that a build beside the bench cannot swap it mid-run.")
        w("")
    w("## Summary")
    w("")
    w(targets_table(b.targets))
    w("")
    if missed:
        w("**Targets missed:** " + "; ".join(f"{t['what']} ({t['measured']}, target {t['target']})" for t in missed)
          + ". See the notes under each section.")
    else:
        w("Every measured target was met.")
    w("")
    for note in b.notes:
        w(f"* {note}")
    if b.notes:
        w("")

    # 1
    w("## 1. Cold start")
    w("")
    w("`init` is spawn to the first `GET /next` (the binary's own start: logging, configuration, the AWS "
      "SDK config and clients); `first deploy` is event handed out to answer received for a single-service "
      "push (seven calls: the tagging index's GetResources, two ECR reads and four ECS calls, including opening "
      "the first connections).")
    w("")
    w("| function | init | first invocation | init + first invocation |")
    w("| --- | --- | --- | --- |")
    w(f"| deploy | {fmt_stat(cold['deploy'])} | {fmt_stat(cold['deploy_first'])} | {fmt_stat(cold['deploy_total'])} |")
    w(f"| health-gate | {fmt_stat(cold['health-gate'])} | (scheduled run over an empty cluster: the index's "
      "two GetResources) | |")
    w(f"| model-build | {fmt_stat(cold['model-build'])} | (an S3 event outside the prefix: no AWS call) | |")
    w("")
    targets_of(": cold start")

    # 2
    fl = warm["floor"]
    rg = warm["rollgate"]
    w("## 2. Warm deploy latency against the floor")
    w("")
    w("One `deploy` process handles push after push for the same single service (a new digest and a later "
      "event time each, so each one deploys); `duration_ms` is from lambda_rapi.py (event handed out to answer "
      "received, so it includes the Runtime API round trip). The floor (`bench/floor`, Rust, the same "
      "aws-sdk clients, tokio current-thread runtime and build profile as the functions) makes the same seven "
      "calls back to back: GetResources (the services whose `rollgate:repository` is the repository, as deploy "
      "asks the tagging index), DescribeServices include=TAGS, BatchGetImage and GetDownloadUrlForLayer "
      "with a GET of the config blob (what the release runs on), DescribeTaskDefinition include=TAGS, "
      f"RegisterTaskDefinition with tags, UpdateService ({warm['floor_calls_per_iteration']:g} calls per iteration "
      "counted by the emulator).")
    w("")
    w("| actor | per deploy |")
    w("| --- | --- |")
    w(f"| rollgate `deploy`, warm | {fmt_stat(rg)} |")
    w(f"| floor: bare aws-sdk, same 7 calls | {fmt_stat(fl)} |")
    w(f"| boto3 handler, warm (same process) | {fmt_stat(warm['boto3'])} |")
    w("")
    w(f"rollgate / floor = **{ratio(rg['median'], fl['median']):.2f}x** (target <= {T_WARM_OVER_FLOOR:g}x); "
      f"boto3 handler / rollgate = {ratio(warm['boto3']['median'], rg['median']):.1f}x.")
    w("")
    rate = getattr(a, "max_call_rate", None) or 20
    paced_ms = 7 * 1000 / rate
    if paced_ms >= 0.5 * rg["median"]:  # the cap's pacing is of the order of a warm deploy
        w(f"rollgate's functions cap their own AWS request rate (`ROLLGATE_MAX_CALL_RATE`, {rate} a second"
          + (", set by --max-call-rate" if getattr(a, "max_call_rate", None) else ", the default") + "; the floor "
          f"has no cap): once the first burst of {rate} requests is spent, pushes handled back to back in one "
          f"process are paced at up to {fmt_ms(paced_ms)} per event (7 calls), minus the tokens that come back "
          "while the Runtime API hands out the next event. That pacing, not rollgate's own work, is most of the "
          f"difference here ({fmt_ms(rg['median'] - fl['median'])} per event at the median); run with "
          "`--max-call-rate 1000` to measure rollgate's own overhead.")
    else:
        w(f"What rollgate adds to the floor, {fmt_ms(rg['median'] - fl['median'])} per event at the median, is the "
          "Runtime API round trip (GET /next and POST /response through lambda_rapi.py's Python HTTP server), "
          "parsing the event, planning the rollout and its JSON log lines; the floor has none of these.")
    w("")
    targets_of("warm latency")

    # 3
    total = cold["deploy_total"]["median"]
    calls = r["single_calls"]
    n_calls = lambda actor: ", ".join(sorted({str(len(c)) for c in calls[actor]}))  # noqa: E731
    ops = lambda actor: " ".join(calls[actor][0])  # noqa: E731
    w("## 3. Peers, same run")
    w("")
    w("Whole process, from spawn to exit, one single-service deploy each (the runs are interleaved with "
      "rollgate's cold starts):")
    w("")
    w("| actor | wall time | AWS calls | ratio to rollgate |")
    w("| --- | --- | --- | --- |")
    w(f"| rollgate `deploy`: cold start + first deploy | {fmt_stat(cold['deploy_total'])} | {n_calls('rollgate')} | 1x |")
    w(f"| fabfuel/ecs-deploy 1.17.0 (`ecs deploy CLUSTER SERVICE --image model IMAGE@DIGEST --timeout -1`) | "
      f"{fmt_stat(peers['ecs-deploy'])} | {n_calls('ecs-deploy')} | {ratio(peers['ecs-deploy']['median'], total):.1f}x |")
    w(f"| boto3 handler (`bench/peers/boto3_handler.py`), python start to done | {fmt_stat(peers['boto3'])} | "
      f"{n_calls('boto3')} | {ratio(peers['boto3']['median'], total):.1f}x |")
    w("")
    targets_of("ecs-deploy")
    w(f"The boto3 handler spends {fmt_ms(warm['boto3_import']['median'])} importing boto3 and creating its client; "
      f"warm, in one process, it takes {fmt_stat(warm['boto3'])} per deploy.")
    w("")
    w("ecs-deploy reaches the emulator through `AWS_ENDPOINT_URL`: it builds its clients with "
      "`boto3.session.Session(...).client('ecs')`, and boto3/botocore (1.44.5 here, >= 1.31 in general) read "
      "`AWS_ENDPOINT_URL` for every client, so nothing is patched (the bench checks that the digest it deployed "
      "is live in the emulator and that its calls are in the emulator's log).")
    w("")
    w("Calls made, as the emulator logged them:")
    w("")
    w(f"* rollgate: {ops('rollgate')}")
    w(f"* ecs-deploy: {ops('ecs-deploy')} (it deregisters the previous revision by default)")
    w(f"* boto3 handler: {ops('boto3')}")
    w("")

    # 4
    w("## 4. AWS calls per rollout")
    w("")
    w("Counted at the emulator (its call log, one access key per actor).")
    w("")
    w("| rollout | actor | calls | expected |")
    w("| --- | --- | --- | --- |")
    w(f"| single service | rollgate `deploy` | {n_calls('rollgate')} | <= {T_SINGLE_CALLS} |")
    w(f"| single service | floor (by construction) | {warm['floor_calls_per_iteration']:g} | 7 |")
    w(f"| single service | ecs-deploy | {n_calls('ecs-deploy')} | |")
    w(f"| single service | boto3 handler | {n_calls('boto3')} | |")
    for latency, fans in list(r["fanout"].items())[:1]:
        for n, f in fans.items():
            got = ", ".join(sorted({str(x["calls"]) for m in f["modes"].values() for x in m}))
            exp = f["expected"]
            w(f"| one push, {n} services in {CLUSTERS_PER_FANOUT} clusters | rollgate `deploy` | {got} | "
              f"{sum(exp.values())} = {exp['GetResources']} GetResources + {exp['DescribeServices']} DescribeServices "
              f"+ 2 ECR reads + 3 x {n} |")
    w("")
    tracked = ", ".join(f"{f['tracking']} for the {n}-service one" for n, f in next(iter(r["fanout"].values())).items()
                        if "tracking" in f)
    w("A push finds its services through the tagging index (`ROLLGATE_DISCOVERY=index`, the default): one "
      "GetResources call per 100 services of the account that track the repository (every section of this bench "
      "pushes the same repository, so the emulator's account may hold more of them than the fan-out's own"
      + (f"; when each fan-out ran: {tracked}" if tracked else "") + "), then one DescribeServices per 10 services of each watched "
      "cluster, the read at ECS that every candidate gets. Section 9 sets the index against the scan on a large "
      "fleet.")
    w("")
    w("Calls by operation, in the first fan-out run of each size: " + "; ".join(
        f"{n} services: " + ", ".join(f"{op} {c}" for op, c in f["modes"][8][0]["counts"].items())
        for n, f in next(iter(r["fanout"].values())).items()) + ".")
    w("")
    targets_of("AWS calls")

    # 5
    w("## 5. Fan-out")
    w("")
    w(f"One push to N services spread evenly over {CLUSTERS_PER_FANOUT} clusters, with ROLLGATE_MAX_IN_FLIGHT=8 "
      "(the default) and 1 (one at a time), the two modes alternating. `time` is the deploy invocation's "
      "duration (cold start excluded). `peak` is the most AWS requests the emulator was answering at once for "
      "that run (a gauge around each request, latency included). The emulator answers in 1-3 ms and is one "
      "Python process, which hides what bounded parallelism buys against real AWS (30-60 ms a call): the "
      f"{a.latency_ms:g} ms rows add that much to every AWS request (ROLLGATE_EMULATOR_LATENCY_MS, a sleep in "
      "the threaded server, so concurrent requests wait concurrently); the 0 ms rows show the emulator-bound case.")
    w("")
    w("| latency | services | in flight 8: time | peak | in flight 1: time | peak | 8 vs 1 |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for latency, fans in r["fanout"].items():
        for n, f in fans.items():
            m8, m1 = f["modes"][8], f["modes"][1]
            s8 = summary([x["ms"] for x in m8])
            s1 = summary([x["ms"] for x in m1])
            w(f"| {latency:g} ms | {n} | {fmt_stat(s8)} | {max(x['peak'] for x in m8)} | {fmt_stat(s1)} | "
              f"{max(x['peak'] for x in m1)} | {ratio(s1['median'], s8['median']):.1f}x faster |")
    w("")
    rate = getattr(a, "max_call_rate", None) or 20
    bound_s = lambda f: max(0.0, statistics.median([x["calls"] for x in f["modes"][8]]) - rate) / rate  # noqa: E731
    runs_at = [(latency, n, f) for latency, fans in r["fanout"].items() for n, f in fans.items()]
    # At the bound: the cap's pacing explains most of the run's time.
    capped = [(latency, n, f) for latency, n, f in runs_at
              if 1000 * bound_s(f) >= 0.8 * statistics.median([x["ms"] for x in f["modes"][8]])]
    if capped:
        w(f"The functions cap their own request rate (`ROLLGATE_MAX_CALL_RATE`, {rate} requests a second"
          + (", set by --max-call-rate" if getattr(a, "max_call_rate", None) else ", the default") + "), so a "
          "push of C calls takes at least (C - rate) / rate seconds (a first burst of `rate` requests passes at "
          "once), whatever ROLLGATE_MAX_IN_FLIGHT is. These runs are at that bound, so the cap, not the "
          "parallelism, sets their time: " + "; ".join(
              f"{n} services at {latency:g} ms, {statistics.median([x['calls'] for x in f['modes'][8]]):g} calls: "
              f"at least {bound_s(f):.1f} s, measured "
              f"{fmt_ms(statistics.median([x['ms'] for x in f['modes'][8]]))} (8 in flight)"
              for latency, n, f in capped) + ". Run with `--max-call-rate 1000` to measure the parallelism alone.")
        w("")
    fast_fans = r["fanout"].get(0.0) or r["fanout"].get(0)
    slow = [(lat, fans) for lat, fans in r["fanout"].items() if lat > 0]
    if fast_fans and slow and len(capped) < len(runs_at):
        lat, fans = slow[0]
        parts = []
        for n, f in fans.items():
            if n in fast_fans:
                t0 = statistics.median([x["ms"] for x in fast_fans[n]["modes"][1]])
                t8 = statistics.median([x["ms"] for x in f["modes"][8]])
                parts.append(f"{n} services: {fmt_ms(t0)} at 0 ms, one at a time, against {fmt_ms(t8)} at "
                             f"{lat:g} ms, 8 at once")
        w("Why 8 in flight is not 8 times faster here: the emulator is one Python process, so its own work on "
          "each request (moto's handling, 3-5 ms) is done one request at a time whatever the client does. That "
          "serial work is most of what a 0 ms run costs, and it bounds the 8-in-flight runs at 25 ms, which end up "
          "taking about as long ("
          + "; ".join(parts) + "). Listing and describing a cluster's services is also sequential within a "
          "cluster (clusters run concurrently). Against real AWS, which answers concurrent requests in parallel, "
          "the per-service phase would come closer to 8 times.")
        w("")
    seeds = ", ".join(f"{n} in {f['seed_s']:.1f} s ({latency:g} ms)" for latency, fans in r["fanout"].items()
                      for n, f in fans.items())
    w("The services were created with boto3 through the emulator, 16 threads at once (a per-service task "
      f"definition and service; tagged like the single-service ones, plus `rollgate:alarm-prefix`): {seeds}. "
      "Going through moto's HTTP front end is fast enough that reaching into its backend was not worth it.")
    w("")
    targets_of("in flight")

    # 6
    w("## 6. Health gate: one scheduled run over in-flight rollouts")
    w("")
    w("After one more push to the fan-out services (left IN_PROGRESS), `health-gate` gets Scheduled Events. "
      "Every service carries `rollgate:alarm-prefix`, so alarms are watched. The first run sees each rollout for "
      "the first time (it announces it: TagResource and PutEvents, and marks the revisions the new push "
      "superseded); the steady runs only read.")
    w("")
    every6 = next((g["sweep_every"] for g in r["gate"] if g.get("sweep_every")), None)
    w("Every scheduled run with the tagging index looks up the rollouts in flight, and also sweeps in full the "
      "watched clusters whose turn of the full sweep it is (`ROLLGATE_FULL_SWEEP_EVERY`, 15 minutes by default, "
      "cut into one turn a tick). To measure the lookup alone, these runs have "
      + (f"`ROLLGATE_FULL_SWEEP_EVERY={every6}`" if every6 else "their `ROLLGATE_FULL_SWEEP_EVERY`")
      + f" and `ROLLGATE_GATE_SCHEDULE={GATE_SCHEDULE}` set explicitly, and every tick is at a minute whose turn "
      f"holds none of the {CLUSTERS_PER_FANOUT} watched clusters (each run's report says `clusters_in_turn: []`; "
      "first ticks at "
      + ", ".join(g.get("tick", "?") for g in r["gate"]) + " UTC), so the gate looks only at the rollouts in "
      "flight through the tagging index: GetResources for the revisions in a rollout state and for the services with "
      "an outside record, 100 resources a page ("
      + ", ".join(f"{g['first_counts'].get('GetResources', 0)} in the first run and "
                  f"{g['steady_counts'].get('GetResources', 0):g} per steady run at {g['latency_ms']:g} ms"
                  for g in r["gate"])
      + "). The first query is account-wide: it lists every revision of the emulator's account still in a "
      "rollout state, those of the other fan-out's clusters (which this gate does not watch) included, and "
      "those of earlier pushes until a gate run judges them (the first run marks its own services' earlier "
      "pushes superseded); only the services of the watched clusters are described.")
    w("")
    w("| latency | rollouts | first run | its calls | steady run | calls per steady run | verdicts (steady) |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for g in r["gate"]:
        fc = ", ".join(f"{op} {c}" for op, c in g["first_counts"].items())
        sc = ", ".join(f"{op} {c:g}" for op, c in g["steady_counts"].items())
        sv = ", ".join(f"{v} {c}" for v, c in g["steady_verdicts"].items())
        w(f"| {g['latency_ms']:g} ms | {g['n']} | {fmt_ms(g['first_ms'])} | {fc} | {fmt_stat(g['steady'])} | {sc} | {sv} |")
    w("")
    w("DescribeServices is called once per 10 services (expected "
      + ", ".join(str(g["expected_describe_services"]) for g in r["gate"])
      + "), DescribeAlarms and DescribeAlarmHistory at most once per run each. DescribeTaskDefinition is read for every revision a service "
      "still references that is not its last known good revision (here: the new one and the one it replaced, "
      "as no revision has been verified yet).")
    if any(g["steady_counts"].get("ListServiceDeployments") for g in r["gate"]):
        w("While a service's rollout awaits its verdict, every run also reads ECS's service-deployment history "
          "again (ListServiceDeployments; rollgate_core::history) and looks up the earlier deployments it finds "
          "there (DescribeServiceRevisions, and a DescribeTaskDefinition per earlier revision: here the fan-out's "
          "earlier pushes to the same services), so a steady run costs "
          + ", ".join(f"{sum(g['steady_counts'].values()) / g['n']:.1f} calls per rollout at {g['latency_ms']:g} ms"
                      for g in r["gate"]) + ".")
    w("")
    targets_of("health-gate,")

    # 7
    w("## 7. Resources")
    w("")
    w("| function | peak RSS (VmHWM, max over every run of this bench) | Lambda zip |")
    w("| --- | --- | --- |")
    for f in FUNCTIONS:
        kb = r["rss_kb"][f]
        z = r["zips"].get(f)
        zs = f"{z['bytes'] / 1e6:.2f} MB ({z['arch']}, built {z['built']})" if z else "not built"
        w(f"| {f} | {kb / 1024:.1f} MiB | {zs} |" if kb else f"| {f} | n/a | {zs} |")
    w("")
    targets_of("peak RSS", "Lambda zip")
    def load(rec: dict[str, Any]) -> str:
        if not rec.get("load"):
            return ""
        return f"; load average at its end {'/'.join(f'{x:.1f}' for x in rec['load'])} on {m['nproc']} CPUs"
    if "build" in r:
        bld = r["build"]
        w(f"Release build of the three functions, as this run did it (`{bld['command']}`): {bld['seconds']:.0f} s, "
          f"{bld['kind']}{load(bld)}.")
    else:
        w("The functions were not built by this run (`--no-build`).")
    big = [b for b in r.get("builds_seen", []) if b.get("what") == "functions" and b.get("compiled", 0) >= 100]
    if big and big[-1].get("date") != r.get("build", {}).get("date"):
        b = big[-1]
        w(f"The last build that this bench timed and that compiled (nearly) everything was on {b['date']}: "
          f"{b['seconds']:.0f} s, {b['kind']}{load(b)}.")
    zb = r.get("zip_build") or next((b for b in reversed(r.get("builds_seen", [])) if b.get("what") == "zips"), None)
    if zb:
        w("")
        w(f"Lambda zips: `{zb['command']}` took {zb['seconds']:.0f} s ({'ok' if zb['ok'] else 'FAILED'}; "
          f"{'this run' if 'zip_build' in r else 'built on ' + zb['date']}; the first arm64 build compiles every "
          "crate for aarch64).")
    if not all(z.get("arch") == "arm64" for z in r["zips"].values()) or len(r["zips"]) < len(FUNCTIONS):
        w("")
        w("The arm64 zips (what the template deploys) were not found in target/lambda/; the sizes above are of "
          "what was there. Run `make build` (or this bench with `--build-zips`) to build them.")
    w("")

    # 8
    cm = cost_model(r)
    w("## 8. Cost model, on paper")
    w("")
    w("rollgate's monthly AWS bill for N services and M deploys a month, against CodePipeline, at list prices "
      "(us-east-1): Lambda $0.20 per million requests and $0.0000166667 per GB-s (x86_64) / $0.0000133334 "
      "(arm64), billed per ms, at 128 MB; EventBridge custom events $1.00 per million, AWS service events "
      "(ECR pushes, ECS state changes) on the default bus free, scheduled rules free; CodePipeline V1 $1 per "
      "active pipeline per month, V2 $0.002 per action-minute. Free tiers are left out.")
    w("")
    w("Assumptions (conservative for rollgate): every invocation is a cold start (init is billed); each AWS call "
      f"takes {AWS_CALL_MS:g} ms against real AWS, sequentially; per deploy: one `deploy` invocation "
      f"(measured init {fmt_ms(cold['deploy']['median'])} + measured first deploy {fmt_ms(cold['deploy_first']['median'])} "
      f"+ {T_SINGLE_CALLS} calls x {AWS_CALL_MS:g} ms = {fmt_ms(cm['deploy_ms'])}), {GATE_EVENTS_PER_DEPLOY} health-gate invocations for its ECS events "
      f"({fmt_ms(cm['gate_event_ms'])} each) and {NOTIFICATIONS_PER_DEPLOY} notifications (custom events); the gate's "
      f"schedule every minute, with the tagging index (the default), costs on every tick {INDEX_TICK_CALLS} "
      f"GetResources calls, {READS_PER_IN_FLIGHT_TICK} reads per rollout in flight (about "
      f"{IN_FLIGHT_TICKS_PER_DEPLOY} ticks per deploy), and its turn of the full sweep: the sweep of all N services "
      "(one ListServices per 100, one DescribeServices per 10) is spread over the "
      f"{math.ceil(FULL_SWEEP_SECS / TICK_SECS)} ticks of `ROLLGATE_FULL_SWEEP_EVERY` ({FULL_SWEEP_SECS // 60} "
      "minutes), one turn of clusters a tick, so a tick costs on average "
      f"{INDEX_TICK_CALLS} + 1/{math.ceil(FULL_SWEEP_SECS / TICK_SECS)} of that sweep; the reconciler every 5 minutes "
      "(`ROLLGATE_RECONCILE_EVERY` unset, the default: every cluster on every run) does the whole sweep plus one "
      "DescribeImages per service's repository, 8 at once. "
      f"CodePipeline: one pipeline per service (V1); {PIPELINE_V2_ACTION_MINUTES} action-minutes per deploy (V2: "
      "ECR source ~1 min, ECS deploy ~5 min, each rounded up to the minute).")
    w("")
    w("| N services | M deploys/month | Lambda requests | GB-s | rollgate arm64 | rollgate x86_64 | CodePipeline V1 | CodePipeline V2 |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in cm["rows"]:
        w(f"| {row['n']} | {row['m']} | {row['requests']:,} | {row['gb_s']:,.0f} | ${row['arm']:.2f} | "
          f"${row['x86']:.2f} | ${row['v1']:,.2f} | ${row['v2']:,.2f} |")
    w("")
    per_deploy = ((cm["deploy_ms"] + GATE_EVENTS_PER_DEPLOY * cm["gate_event_ms"]) / 1000 * MEMORY_GB * LAMBDA_GB_S_ARM
                  + (1 + GATE_EVENTS_PER_DEPLOY) / 1e6 * LAMBDA_PER_MILLION_REQUESTS
                  + NOTIFICATIONS_PER_DEPLOY / 1e6 * EVENTBRIDGE_CUSTOM_PER_MILLION)
    w("The fixed part (the gate's 43,200 scheduled runs and the reconciler's 8,640 a month) dominates rollgate's "
      "bill and grows with N only through the full sweeps' ListServices and DescribeServices calls (the gate's "
      "sweep covers every service once every 15 minutes, a turn of its clusters on each tick; the reconciler's "
      "covers them all on each of its runs, every 5 minutes, with its DescribeImages); one deploy costs about "
      f"${per_deploy:.7f} on arm64 (five invocations and two custom events, its in-flight reads left out).")
    w("")
    if r.get("fleet"):
        render_fleet(r["fleet"], b, w, targets_of)
    return "\n".join(out)


def render_fleet(fl: dict[str, Any], b: Bench, w: Callable[[str], None], targets_of: Callable[..., None]) -> None:
    st = fl["setup"]
    n, c, per = st["n"], len(st["clusters"]), st["per_cluster"]
    hot = len(st["hot_clusters"]) * st["hot_per"]
    runs = fl["runs"]
    expected = fleet_expected(st)
    mark = lambda met: "met" if met else "**MISSED**"  # noqa: E731
    times = lambda q: "n/a" if q != q else (f"{q:.0f}x" if q >= 10 else f"{q:.1f}x")  # noqa: E731
    later = f"run {runs}" if runs == 3 else f"runs 3-{runs}"
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    vals = lambda xs: ", ".join(str(v) for v in sorted(set(xs)))  # noqa: E731

    w("## 9. Fleet scale: the tagging index against the scan")
    w("")
    w(f"A fleet of **{n:,} services in {c} clusters** ({per} per cluster), each with its own task-definition "
      f"family, every one opted in: 1 tracks `{FLEET_SOLO}` (in {st['solo_cluster']}), {hot} track `{FLEET_HOT}` "
      f"({st['hot_per']} in each of {len(st['hot_clusters'])} clusters), the other {n - 1 - hot:,} track "
      f"{FLEET_OTHER_REPOSITORIES} other repositories and are there to make the fleet large. No alarms are "
      f"watched. It lives in an emulator of its own with {st['latency_ms']:g} ms added to every AWS request (as "
      f"the fan-out's), and was created with boto3 through it, {st['threads']} threads at once, in "
      f"**{st['seed_s']:.0f} s**. (The bench's emulator skips tagging_ext.py's lag journal, which snapshots every "
      "ECS resource's tags around each tag change: quadratic over this setup and serial work on every write; "
      "this bench sets no lag, and without one GetResources answers the live state: `skip_lag_journal` in "
      f"bench/run.py.) The whole section took {fl['seconds'] / 60:.1f} minutes.")
    w("")
    w(f"`deploy` and `health-gate` run with `ROLLGATE_CLUSTERS` naming all {c} clusters and "
      "`ROLLGATE_DISCOVERY=index` (the default) or `scan`, the two alternating (index first), "
      f"{runs} runs each, one process per run; every call is counted at the emulator's call log, one access key "
      "per run. Each push is a buildx push (an OCI image index for linux/arm64 and its attestation, a new tag and "
      "digest every time), so deploy reads the index alone and no config blob; each push's services are then "
      "completed at ECS. In order:")
    w("")
    sweeps = fl["full_sweeps"]
    setup_rate = next((x["call_rate"] for x in sweeps if x.get("call_rate")), None)
    turns = fl.get("turn_runs") or []
    parts = math.ceil(FULL_SWEEP_SECS / TICK_SECS)
    most = math.ceil(c / parts)
    setup_every = next((x["every"] for x in sweeps if x.get("every")), SETUP_SWEEP_EVERY)
    state_every = next((t["every"] for ts in fl["gate"].values() for t in ts["index"] if t.get("every")),
                       IN_FLIGHT_SWEEP_EVERY)
    w(f"1. two gate runs with `ROLLGATE_FULL_SWEEP_EVERY={setup_every}` ({' and '.join(x['at'] for x in sweeps)} "
      "UTC, index discovery"
      + (f"; setup, so with `ROLLGATE_MAX_CALL_RATE={setup_rate}`" if setup_rate else "") + "): a period of one "
      "tick is one turn, so each sweeps every service (`\"sweep\": \"full\"`), as the scan does on every run: "
      "the first adopts each service's live revision as its last known good, the second records each service's "
      "deployment history (a run that wrote a service's tags leaves that record to the next run, as its view of "
      "the tags is stale);")
    if turns:
        w(f"2. {len(turns)} gate runs with the default `ROLLGATE_FULL_SWEEP_EVERY={FULL_SWEEP_EVERY}` "
          f"({parts} turns of one minute) at a minute whose turn holds ⌈{c}/{parts}⌉ = {most} "
          f"cluster{'s' if most != 1 else ''}, the most a turn holds "
          f"({' and '.join(t['at'] for t in turns)} UTC; clusters in turn: "
          f"{', '.join(turns[0].get('clusters_in_turn') or []) or 'none'}), the fleet settled and 0 rollouts in "
          "flight: the in-flight lookup and that turn's sweep, what an index run costs at most in this fleet on top "
          "of its rollouts in flight;")
    step = 3 if turns else 2
    w(f"{step}. gate runs with **0 rollouts in flight**;")
    w(f"{step + 1}. {runs} pushes per mode to `{FLEET_SOLO}` (1 service), then gate runs with **1 rollout in flight**;")
    w(f"{step + 2}. {runs} pushes per mode to `{FLEET_HOT}` ({hot} services), then gate runs with **{hot + 1} "
      f"rollouts in flight** (the {hot} and the `{FLEET_SOLO}` one, still baking: its 5-minute bake started at its "
      "first gate run).")
    w("")
    w(f"Every index run looks up the rollouts in flight and also sweeps the clusters whose turn it is; with the "
      f"default {FULL_SWEEP_EVERY}, of the {parts} turns here {turn_sizes_text(c, parts)}. The states' gate runs "
      f"measure the lookup alone: they have `ROLLGATE_FULL_SWEEP_EVERY={state_every}` "
      f"({math.ceil(IN_FLIGHT_SWEEP_SECS / TICK_SECS)} turns, more than the {c} clusters) and their event times "
      f"are minutes 2, 4 and 6 after {fl.get('boundary', 'a chosen minute')} UTC (5 s apart), minutes whose turn "
      "holds no cluster (every index run's report says `clusters_in_turn: []`), while every scan run sweeps every "
      "service. The cost of a turn is the row \"its turn of the full sweep\" below, to add to theirs. In each "
      "state the index runs first, so the index's first run is the one that sees the new rollouts first and writes "
      "(announcements, the verdicts on earlier pushes found in ECS's deployment history); the second run of each "
      "mode is the steady state, against which the targets are checked.")
    w("")
    w("| figure | scan | index | scan / index | target | |")
    w("| --- | --- | --- | --- | --- | --- |")
    for k, pushes in fl["push"].items():
        ci, cs = ([x["calls"] for x in pushes[m]] for m in MODES)
        ti, ts = ([x["ms"] for x in pushes[m]] for m in MODES)
        goal = fleet_push_target(int(k))
        plural = "s" if k != "1" else ""
        w(f"| push -> {k} service{plural}: AWS calls | {vals(cs)} | {vals(ci)} | {times(ratio(med(cs), med(ci)))} | "
          f"<= {goal} | {mark(max(ci) <= goal)} |")
        w(f"| push -> {k} service{plural}: deploy's wall time | {fmt_stat(summary(ts))} | {fmt_stat(summary(ti))} | "
          f"{times(ratio(med(ts), med(ti)))} | | |")
    default_rate = DEFAULT_CALL_RATE
    for i, x in enumerate(sweeps, 1):
        w(f"| full sweep {i} (setup; index with `ROLLGATE_FULL_SWEEP_EVERY={x.get('every', SETUP_SWEEP_EVERY)}`: every "
          f"cluster; every scan run is one): AWS calls | | {x['calls']:,} | | | |")
        if x.get("call_rate"):
            w(f"| full sweep {i}: wall time with `ROLLGATE_MAX_CALL_RATE={x['call_rate']}` (setup); at the "
              f"default cap, {default_rate} a second, it would take at least | | {fmt_ms(x['ms'])}; "
              f"{fmt_ms(1000 * max(0, x['calls'] - default_rate) / default_rate)} | | | |")
        else:
            w(f"| full sweep {i}: wall time | | {fmt_ms(x['ms'])} | | | |")
    if turns:
        timeout_s = (fl.get("template_timeouts") or {}).get("health-gate", 60)
        budget_s = timeout_s - BUDGET_MARGIN_S
        label = (f"gate run, its turn of the full sweep (default {FULL_SWEEP_EVERY}: ⌈{c}/{parts}⌉ = {most} "
                 f"cluster{'s' if most != 1 else ''}, 0 in flight)")
        tc = [t["calls"] for t in turns]
        exp_turn = sum(expected["gate turn index"].values())
        w(f"| {label}: AWS calls, runs 1-{len(turns)} | | {', '.join(str(x) for x in tc)} | | "
          f"= {exp_turn} (predicted) | {mark(set(tc) == {exp_turn})} |")
        paced = 1000 * max(0, max(tc) - DEFAULT_CALL_RATE) / DEFAULT_CALL_RATE
        turn_rate = next((t["call_rate"] for t in turns if t.get("call_rate")), None)
        worst = max([paced] + [t["ms"] for t in turns if not turn_rate or int(turn_rate) == DEFAULT_CALL_RATE])
        w(f"| {label}: wall time"
          + (f" with `ROLLGATE_MAX_CALL_RATE={turn_rate}`" if turn_rate else " (at the default cap)")
          + f"; at the default cap ({DEFAULT_CALL_RATE}/s) it takes at least (calls - {DEFAULT_CALL_RATE}) / "
          f"{DEFAULT_CALL_RATE} s | | {', '.join(fmt_ms(t['ms']) for t in turns)}; {fmt_ms(paced)} | | "
          f"<= {budget_s} s (health-gate's {timeout_s} s timeout less its {BUDGET_MARGIN_S} s reserve) | "
          f"{mark(worst <= budget_s * 1000)} |")
    for rr, ticks in fl["gate"].items():
        ti, ts = ticks["index"], ticks["scan"]
        goal = fleet_gate_target(int(rr))
        w(f"| gate run, {rr} in flight: AWS calls, second run | {ts[1]['calls']:,} | {ti[1]['calls']:,} | "
          f"{times(ratio(ts[1]['calls'], ti[1]['calls']))} | <= {goal} | {mark(ti[1]['calls'] <= goal)} |")
        w(f"| gate run, {rr} in flight: AWS calls, first run | {ts[0]['calls']:,} | {ti[0]['calls']:,} | "
          f"{times(ratio(ts[0]['calls'], ti[0]['calls']))} | | |")
        if runs > 2:
            w(f"| gate run, {rr} in flight: AWS calls, {later} | {vals([t['calls'] for t in ts[2:]])} | "
              f"{vals([t['calls'] for t in ti[2:]])} | | | |")
        si, ss = summary([t["ms"] for t in ti[1:]]), summary([t["ms"] for t in ts[1:]])
        w(f"| gate run, {rr} in flight: wall time, runs 2-{runs} | {fmt_stat(ss)} | {fmt_stat(si)} | "
          f"{times(ratio(ss['median'], si['median']))} | | |")
    for function, runs_of in (("deploy", lambda m: [x for p in fl["push"].values() for x in p[m]]),
                              ("health-gate", lambda m: [t for ts in fl["gate"].values() for t in ts[m]])):
        rss = {m: max((x["rss_kb"] or 0) for x in runs_of(m)) for m in MODES}
        w(f"| {function}: peak RSS over its fleet runs | {rss['scan'] / 1024:.1f} MiB | {rss['index'] / 1024:.1f} MiB | "
          f"{times(ratio(rss['scan'], rss['index']))} | | |")
    w("")
    for i, x in enumerate(turns, 1):
        w(f"* Gate run {i} with its turn of the full sweep ({x['at']} UTC, clusters in turn: "
          f"{', '.join(x.get('clusters_in_turn') or []) or 'none'}): {counts_text(x['counts'])}"
          + (f"; **{x['failures']} failures** (e.g. {x['failure']})" if x.get("failures") else "")
          + (f"; **answered an error**: {x['error']}" if x.get("error") else "") + ".")
    for i, x in enumerate(sweeps, 1):
        w(f"* Full sweep {i}: {counts_text(x['counts'])}; peak RSS {(x['rss_kb'] or 0) / 1024:.1f} MiB"
          + (f"; **{x['failures']} failures** (e.g. {x['failure']})" if x.get("failures") else "")
          + (f"; **answered an error**: {x['error']}" if x.get("error") else "") + ".")
    failed = [(rr, m, i + 1, t) for rr, ticks in fl["gate"].items() for m in MODES for i, t in enumerate(ticks[m])
              if t.get("failures") or t.get("error")]
    for rr, m, i, t in failed:
        w(f"* **Gate run {i} ({m}, {rr} in flight) reported {t['failures']} failures**"
          + (f", e.g. {t['failure']}" if t.get("failure") else "")
          + (f"; it answered an error: {t['error']}" if t.get("error") else "") + ".")
    for k, pushes in fl["push"].items():
        for m in MODES:
            for i, x in enumerate(pushes[m], 1):
                if x.get("error"):
                    w(f"* **Push -> {k} ({m}), run {i}: {x['error']}**.")
    w("")
    rate = fl.get("max_call_rate")
    w("Every function ran with "
      + (f"`ROLLGATE_MAX_CALL_RATE={rate}` (--max-call-rate)" if rate else
         f"`ROLLGATE_MAX_CALL_RATE` unset, its default: {DEFAULT_CALL_RATE} AWS requests a second per function instance")
      + (", so a run takes at least its calls divided by that rate: with this cap, wall time follows the call count "
         "more than the emulator's latency." if (rate or DEFAULT_CALL_RATE) <= 100 else
         ", which no run here comes near: wall time is the emulator's latency and its own serial work (one Python "
         f"process); at the default cap, {DEFAULT_CALL_RATE} a second, a run takes at least (calls - "
         f"{DEFAULT_CALL_RATE}) / {DEFAULT_CALL_RATE} seconds."))
    timeouts = fl.get("template_timeouts") or {}
    if timeouts:
        # A run's time at the default cap: measured when it ran at it, else at least its
        # calls' pacing, (calls - burst) / rate (computed).
        def at_default(x: dict[str, Any]) -> tuple[float, bool]:
            ran_at = x.get("call_rate") or rate
            if not ran_at or int(ran_at) == DEFAULT_CALL_RATE:
                return x["ms"], False
            return max(x["ms"], 1000 * max(0, x["calls"] - DEFAULT_CALL_RATE) / DEFAULT_CALL_RATE), True
        runs_of = [("deploy", f"push -> {k} ({m})", x) for k, pushes in fl["push"].items() for m in MODES
                   for x in pushes[m]]
        runs_of += [("health-gate", "full sweep (setup: every cluster in one run, which no run does at the default "
                     f"{FULL_SWEEP_EVERY})", x) for x in sweeps]
        runs_of += [("health-gate", "gate, its turn of the full sweep", x) for x in turns]
        runs_of += [("health-gate", f"gate, {rr} in flight ({m})", t) for rr, ticks in fl["gate"].items()
                    for m in MODES for t in ticks[m]]
        over: dict[str, list[tuple[float, bool]]] = {}
        for function, what, x in runs_of:
            ms, computed = at_default(x)
            if ms > timeouts.get(function, 1e9) * 1000:
                over.setdefault(what, []).append((ms, computed))
        parts = [f"{what}: {len(v)} run(s), up to {fmt_ms(max(ms for ms, _ in v))}"
                 + (" (computed at the default cap)" if any(c for _, c in v) else "") for what, v in over.items()]
        w("The template's timeouts are " + ", ".join(f"{f} {t} s" for f, t in timeouts.items())
          + " (template.yaml); this bench lets every run take 15 minutes. "
          + (f"Runs that take longer than their function's timeout at the default cap ({DEFAULT_CALL_RATE} requests "
             "a second): " + "; ".join(parts) + "." if parts
             else "Every run here would finish within its function's timeout at the default cap."))
    w("")
    w("Calls by operation (a push: its most frequent breakdown over the runs, any other listed below; a gate run: "
      "the second run of each mode, the first in brackets when it differs), with what the design predicts for "
      "discovery (docs/fleet-scale.md, \"Cost per event\"):")
    w("")
    for k, pushes in fl["push"].items():
        exp = expected.get(f"push {k} index", {})
        for m in MODES:
            counts = typical(pushes[m])
            e = exp if m == "index" else expected["scan"]
            w(f"* push -> {k}, {m}: {counts_text(counts)} (predicted discovery: {counts_text(e)})")
    if turns:
        first, second = turns[0]["counts"], turns[-1]["counts"]
        extra = "" if first == second else f" [first: {counts_text(first)}]"
        w(f"* gate, its turn of the full sweep ({most} cluster{'s' if most != 1 else ''}), index: "
          f"{counts_text(second)}{extra} (predicted discovery: {counts_text(expected['gate turn index'])})")
    for rr, ticks in fl["gate"].items():
        exp = expected.get(f"gate {rr} index", {})
        for m in MODES:
            first, second = ticks[m][0]["counts"], ticks[m][1]["counts"]
            e = exp if m == "index" else expected["scan"]
            extra = "" if first == second else f" [first: {counts_text(first)}]"
            w(f"* gate, {rr} in flight, {m}: {counts_text(second)}{extra} (predicted discovery: {counts_text(e)}); "
              f"verdicts {ticks[m][1]['verdicts'] or 'none'}")
    for k, pushes in fl["push"].items():
        for m in MODES:
            usual = typical(pushes[m])
            for i, x in enumerate(pushes[m], 1):
                if x["counts"] != usual:
                    diff = {op: x["counts"].get(op, 0) - usual.get(op, 0) for op in set(x["counts"]) | set(usual)}
                    w(f"* push -> {k}, {m}, run {i}: {x['calls']} calls, "
                      + ", ".join(f"{op} {d:+d}" for op, d in sorted(diff.items()) if d)
                      + (" (" + FLEET_REASONS["ListTaskDefinitions"] + ")" if "ListTaskDefinitions" in x["counts"] else "")
                      + ".")
    w("")
    w("Against the targets (index), each gap with the calls that make it (a push: its most frequent breakdown):")
    w("")
    for k, pushes in fl["push"].items():
        kk = int(k)
        counts = typical(pushes["index"])
        fixed = {"DescribeTaskDefinition": kk, "RegisterTaskDefinition": kk, "UpdateService": kk}
        w(f"* push -> {k}: " + fleet_gap(counts, fixed, fleet_push_target(kk) - 3 * kk,
                                        "other calls (the index, the describe, the manifest)"))
    for rr, ticks in fl["gate"].items():
        r_ = int(rr)
        counts = ticks["index"][1]["counts"]
        fixed = {"GetResources": T_FLEET_GATE_BASE, **({"DescribeServices": math.ceil(r_ / 10)} if r_ else {})}
        w(f"* gate, {rr} in flight: " + fleet_gap(counts, fixed, r_, "reads, one per rollout"))
    w("")
    targets_of("fleet:")


# ------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="rollgate's benchmarks (make bench)")
    parser.add_argument("--runs", type=int, default=15, help="repeats of each measurement (default 15)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 runs, fan-out to 20 and 50 services, a 500-service fleet")
    parser.add_argument("--out", default="docs/benchmarks.md", help="the document to write")
    parser.add_argument("--profile", choices=("release", "debug"), default="release", help="which binaries")
    parser.add_argument("--latency-ms", type=float, default=25.0, help="emulator latency for the fan-out runs")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    parser.add_argument("--build-zips", action="store_true",
                        help="also build the arm64 Lambda zips (cargo lambda, from .venv) and time it")
    parser.add_argument("--max-call-rate", type=int,
                        help="ROLLGATE_MAX_CALL_RATE for every function run (default: unset, the functions' own "
                             "default of 20 requests a second)")
    parser.add_argument("--fleet-services", type=int, help="fleet scale: services (default 5000, --quick 500)")
    parser.add_argument("--fleet-clusters", type=int, help="fleet scale: clusters (default 50, --quick 5)")
    parser.add_argument("--render-only", metavar="RESULTS_JSON",
                        help=f"only write the document again from a saved {STATE_DIR.relative_to(ROOT)}/results.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 3)
        args.sizes = [20, 50]
        args.fanout_runs = 1
    else:
        args.sizes = [100, 500]
        args.fanout_runs = max(1, min(3, args.runs // 5))
    args.warm_events = max(15, 2 * args.runs)
    args.fleet_services = args.fleet_services or (500 if args.quick else 5000)
    args.fleet_clusters = args.fleet_clusters or (5 if args.quick else 50)
    args.fleet_runs = max(3, args.runs // 5)
    return args


def render_only(args: argparse.Namespace) -> int:
    """Writes the document again from a saved results.json, without measuring anything."""
    saved = json.loads(Path(args.render_only).read_text())
    out = args.out
    args = argparse.Namespace(**saved["args"])
    args.out = out
    results = saved["results"]
    # JSON turned the numeric keys into strings: give them back their types.
    results["fanout"] = {
        float(lat): {int(n): {**f, "modes": {int(m): runs for m, runs in f["modes"].items()}} for n, f in fans.items()}
        for lat, fans in results["fanout"].items()}
    bench = Bench(args)
    bench.results = results
    bench.write_doc()
    shutil.rmtree(bench.work, ignore_errors=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--emulator"]:
        return serve_emulator(argv[1:])
    args = parse_args(argv)
    if args.render_only:
        return render_only(args)
    bench = Bench(args)
    try:
        bench.run()
    except BenchError as error:
        print(f"\nBENCH FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
