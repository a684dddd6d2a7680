#!/usr/bin/env python3
"""Hand-run check of faults.py, the fault-injecting proxy (not a CI test).

    .venv/bin/python tests/emulator/faults_selfcheck.py

Starts server.py and faults.py in front of it (both on free ports, both tied
to our stdin pipes), then drives boto3 (retries off) and raw http.client
through the proxy: pass-through and keep-alive, each fault kind and its wire
format per protocol (awsJson, query, ec2, rpc-v2-cbor), a reset seen as a TCP
RST, reset_after taking effect upstream, concurrency, per-access-key configs
and max_faults, determinism for a seed, stats and config validation. Prints
one line per check, then "all checks passed" (exit 0), or the failed checks
(exit 1).

Retries off means ``total_max_attempts: 1``: botocore's ``max_attempts``
counts retries, so ``{"max_attempts": 1}`` still makes two attempts.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
import urllib.error
import urllib.request
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
REGION = "us-east-1"

os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

import boto3  # noqa: E402
import cbor2  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError  # noqa: E402

FAILURES: list[str] = []


def check(condition: bool, what: str, detail: Any = None) -> bool:
    if condition:
        print(f"ok    {what}")
    else:
        print(f"FAIL  {what}" + (f"\n      {detail!r}" if detail is not None else ""))
        FAILURES.append(what)
    return condition


class Child:
    """A server script that prints one ready line; stops at stdin EOF."""

    def __init__(self, args: list[str], prefix: str) -> None:
        self.process = subprocess.Popen([PYTHON, *args, "--exit-on-stdin-eof"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith(prefix + " "):
            self.process.kill()
            raise RuntimeError(f"{args[0]}: unexpected first line {line!r}")
        self.url = line[len(prefix) + 1:]

    def stop(self) -> int:
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -9


def client(url: str, service: str, access_key: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=access_key,
                        aws_secret_access_key="dummy",
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20))


def call(url: str, method: str, path: str, document: Any = None) -> tuple[int, Any]:
    body = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(url + path, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) | ("error", (code, status, headers)) | ("conn", exception)."""
    try:
        return "ok", fn()
    except ClientError as error:
        meta = error.response.get("ResponseMetadata", {})
        return "error", (error.response["Error"].get("Code"), meta.get("HTTPStatusCode"),
                         meta.get("HTTPHeaders", {}))
    except (HTTPClientError, BotoConnectionError) as error:
        return "conn", error


def short(result: tuple[str, Any]) -> str:
    kind, detail = result
    return detail[0] if kind == "error" else kind


def fake_auth(access_key: str, service: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential={access_key}/20260101/{REGION}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=00")


class Checks:
    def __init__(self, emu: Child, proxy: Child) -> None:
        self.emu_url = emu.url
        self.url = proxy.url

    def config(self, document: dict[str, Any]) -> None:
        status, answer = call(self.url, "POST", "/_faults/config", document)
        if status != 200:
            raise RuntimeError(f"config rejected: {status} {answer}")

    def reset(self) -> None:
        call(self.url, "POST", "/_faults/reset")

    def cbor(self, operation: str, access_key: str, query_mode: bool = True) -> tuple[int, dict[str, str], Any]:
        """A hand-made rpc-v2-cbor CloudWatch call, as aws-sdk-rust sends it.

        (boto3 1.44 prefers awsJson for CloudWatch and CodeBuild, so it cannot
        be used to reach the CBOR code paths.)
        """
        host, port = self.url.rsplit("/", 1)[-1].split(":")
        headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
                   "Accept": "application/cbor", "Authorization": fake_auth(access_key, "monitoring")}
        if query_mode:
            headers["x-amzn-query-mode"] = "true"
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("POST", f"/service/GraniteServiceVersion20100801/operation/{operation}",
                               body=cbor2.dumps({}), headers=headers)
            response = connection.getresponse()
            raw = response.read()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    cbor2.loads(raw) if raw else None)
        finally:
            connection.close()

    def emulator_calls(self, access_key: str) -> list[dict[str, Any]]:
        return call(self.emu_url, "GET", f"/_rollgate/calls?access_key={access_key}")[1]

    # -- checks --

    def pass_through(self) -> None:
        ecs = client(self.url, "ecs", "AKPLAIN")
        arn = ecs.create_cluster(clusterName="plain")["cluster"]["clusterArn"]
        listed = ecs.list_clusters()["clusterArns"]
        check(arn in listed, "no faults by default: create_cluster + list_clusters pass through", listed)
        direct = client(self.emu_url, "ecs", "AKDIRECT").list_clusters()["clusterArns"]
        check(arn in direct, "the cluster exists in the emulator", direct)
        status, calls = call(self.url, "GET", "/_rollgate/calls?access_key=AKPLAIN")
        check(status == 200 and [c["operation"] for c in calls] == ["CreateCluster", "ListClusters"],
              "/_rollgate/ is forwarded (call log read through the proxy)", calls)
        stats = call(self.url, "GET", "/_faults/stats")[1]
        check(stats["requests"] == 2 and sum(stats["injected"].values()) == 0,
              "stats: 2 requests, nothing injected", stats)
        self.reset()
        status, headers, body = self.cbor("DescribeAlarms", "AKPLAIN")
        check(status == 200 and headers.get("smithy-protocol") == "rpc-v2-cbor" and "MetricAlarms" in body,
              "rpc-v2-cbor passes through", (status, headers, body))
        iam = client(self.url, "iam", "AKPLAIN")
        kind, result = outcome(lambda: iam.list_roles())
        check(kind == "ok" and "Roles" in result, "query protocol (form body) passes through", result)

    def keep_alive_and_raw(self) -> None:
        host, port = self.url.rsplit("/", 1)[-1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
                   "Content-Type": "application/x-amz-json-1.1",
                   "Authorization": fake_auth("AKRAW", "ecs")}
        connection.request("POST", "/", body=b"{}", headers=headers)
        first = connection.getresponse()
        first_body = first.read()
        sock = connection.sock
        connection.request("POST", "/", body=iter([b"{", b"}"]), headers=headers, encode_chunked=True)
        second = connection.getresponse()
        second_body = second.read()
        check(first.status == 200 and second.status == 200 and sock is not None
              and connection.sock is sock and "clusterArns" in json.loads(second_body)
              and first.getheader("Content-Length") == str(len(first_body)),
              "keep-alive: two requests (one chunked) on one connection",
              (first.status, second.status, second_body[:200]))
        # As tests/support/http.rs talks to the control endpoints: Connection: close, read to EOF.
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            body = b'{"only_access_key": "AKRAW", "default": {"reset": 1.0}}'
            raw.sendall(b"POST /_faults/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            reply = b""
            while chunk := raw.recv(65536):
                reply += chunk
        head, _, answer = reply.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
              and json.loads(answer)["only_access_key"] == "AKRAW",
              "Connection: close is honoured (answer, then EOF)", reply[:300])
        connection.request("POST", "/", body=b"{}", headers=headers)
        try:
            connection.getresponse().read()
            check(False, "reset on a kept-alive connection is a TCP RST", "got an answer")
        except http.client.RemoteDisconnected as error:  # a FIN, not an RST
            check(False, "reset on a kept-alive connection is a TCP RST", repr(error))
        except ConnectionResetError:
            check(True, "reset on a kept-alive connection is a TCP RST")
        finally:
            connection.close()
        self.config({})

    def error_faults(self) -> None:
        ecs = client(self.url, "ecs", "AKERR")
        self.config({"operations": {"ListClusters": {"throttle": 1.0}}})
        kind, detail = outcome(ecs.list_clusters)
        check(kind == "error" and detail[:2] == ("ThrottlingException", 400)
              and detail[2].get("content-type") == "application/x-amz-json-1.1",
              "awsJson throttle -> 400 ThrottlingException", (kind, detail))
        check(outcome(lambda: ecs.describe_clusters(clusters=["plain"]))[0] == "ok",
              "operation override leaves other operations alone")

        self.config({"default": {"http503": 1.0}})
        kind, detail = outcome(ecs.list_clusters)
        check(kind == "error" and detail[:2] == ("ServiceUnavailable", 503),
              "awsJson http503 -> 503 ServiceUnavailable", (kind, detail))
        self.config({"default": {"http500": 1.0}})
        kind, detail = outcome(ecs.list_clusters)
        check(kind == "error" and detail[:2] == ("InternalFailure", 500),
              "awsJson http500 -> 500 InternalFailure", (kind, detail))

        self.config({"default": {"throttle": 1.0}})
        iam = client(self.url, "iam", "AKERR")
        kind, detail = outcome(iam.list_roles)
        check(kind == "error" and detail[:2] == ("Throttling", 400),
              "query (IAM) throttle -> 400 Throttling", (kind, detail))
        ec2 = client(self.url, "ec2", "AKERR")
        kind, detail = outcome(ec2.describe_vpcs)
        check(kind == "error" and detail[:2] == ("RequestLimitExceeded", 400),
              "ec2 throttle -> 400 RequestLimitExceeded", (kind, detail))
        cloudwatch = client(self.url, "cloudwatch", "AKERR")  # boto3: awsJson + x-amzn-query-mode
        kind, detail = outcome(cloudwatch.describe_alarms)
        check(kind == "error" and detail[:2] == ("Throttling", 400)
              and detail[2].get("x-amzn-query-error") == "Throttling;Sender",
              "query-compatible awsJson (boto3 CloudWatch) throttle -> 400 Throttling", (kind, detail))
        status, headers, body = self.cbor("DescribeAlarms", "AKERR")
        check(status == 400 and body == {"__type": "ThrottlingException", "message": "Rate exceeded"}
              and headers.get("smithy-protocol") == "rpc-v2-cbor"
              and headers.get("content-type") == "application/cbor"
              and headers.get("x-amzn-query-error") == "Throttling;Sender",
              "rpc-v2-cbor (CloudWatch, query mode) throttle -> 400 CBOR error", (status, headers, body))
        status, headers, body = self.cbor("DescribeAlarms", "AKERR", query_mode=False)
        check(status == 400 and body["__type"] == "ThrottlingException" and "x-amzn-query-error" not in headers,
              "rpc-v2-cbor without query mode: no x-amzn-query-error", (status, headers, body))
        self.config({"default": {"http500": 1.0}})
        status, headers, body = self.cbor("DescribeAlarms", "AKERR")
        check(status == 500 and body["__type"] == "InternalFailure"
              and headers.get("x-amzn-query-error") == "InternalFailure;Receiver",
              "rpc-v2-cbor http500 -> 500 InternalFailure", (status, headers, body))
        self.config({})

    def resets(self) -> None:
        self.config({"default": {"reset": 1.0}, "only_access_key": "AKRESET"})
        ecs = client(self.url, "ecs", "AKRESET")
        kind, detail = outcome(ecs.list_clusters)
        check(kind == "conn", "reset -> connection error", (kind, detail))
        check(self.emulator_calls("AKRESET") == [], "reset: the request never reached the emulator",
              self.emulator_calls("AKRESET"))

        self.config({"operations": {"CreateCluster": {"reset_after": 1.0}}, "only_access_key": "AKAFTER"})
        ecs = client(self.url, "ecs", "AKAFTER")
        kind, detail = outcome(lambda: ecs.create_cluster(clusterName="after-reset"))
        check(kind == "conn", "reset_after -> connection error", (kind, detail))
        direct = client(self.emu_url, "ecs", "AKDIRECT").list_clusters()["clusterArns"]
        check(any(arn.endswith("/after-reset") for arn in direct),
              "reset_after: the cluster was created all the same", direct)
        kind, _ = outcome(ecs.list_clusters)
        check(kind == "ok", "reset_after for CreateCluster only: list_clusters passes")
        self.config({})

    def delay(self) -> None:
        self.config({"default": {"delay": 1.0, "delay_ms": 300}})
        ecs = client(self.url, "ecs", "AKDELAY")
        start = time.monotonic()
        kind, result = outcome(ecs.list_clusters)
        elapsed = time.monotonic() - start
        check(kind == "ok" and elapsed >= 0.3, f"delay 300 ms -> answered after {elapsed:.3f} s", result)
        self.config({})

    def concurrency(self) -> None:
        self.reset()
        ecs = [client(self.url, "ecs", "AKCONC") for _ in range(8)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda c: [short(outcome(c.list_clusters)) for _ in range(10)], ecs))
        stats = call(self.url, "GET", "/_faults/stats")[1]
        check(all(r == ["ok"] * 10 for r in results) and stats["requests"] == 80,
              "8 threads x 10 calls through the proxy", (results, stats))
        # Delays overlap: 10 concurrent delayed calls take far less than 10 x 400 ms.
        self.config({"default": {"delay": 1.0, "delay_ms": 400}})
        clients = [client(self.url, "ecs", "AKCONC") for _ in range(10)]
        start = time.monotonic()
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda c: short(outcome(c.list_clusters)), clients))
        elapsed = time.monotonic() - start
        check(results == ["ok"] * 10 and 0.4 <= elapsed < 2.0,
              f"requests are served concurrently (10 x 400 ms delay in {elapsed:.2f} s)", results)
        self.config({})

    def access_keys(self) -> None:
        self.reset()
        self.config({"default": {"throttle": 1.0}, "only_access_key": "AKTARGET"})
        other = outcome(client(self.url, "ecs", "AKOTHER").list_clusters)
        target = outcome(client(self.url, "ecs", "AKTARGET").list_clusters)
        check(other[0] == "ok", "only_access_key: other keys pass untouched", other)
        check(short(target) == "ThrottlingException", "only_access_key: that key is faulted", target)
        mine = call(self.url, "GET", "/_faults/stats?access_key=AKTARGET")[1]
        theirs = call(self.url, "GET", "/_faults/stats?access_key=AKOTHER")[1]
        check(mine["requests"] == 1 and mine["injected"]["throttle"] == 1
              and theirs["requests"] == 1 and sum(theirs["injected"].values()) == 0,
              "stats?access_key= counts one key's requests", (mine, theirs))

        # Per-key configs coexist (parallel tests sharing one proxy).
        self.config({"default": {"http503": 1.0}, "only_access_key": "AKSECOND"})
        results = [short(outcome(client(self.url, "ecs", key).list_clusters))
                   for key in ("AKTARGET", "AKSECOND", "AKOTHER")]
        check(results == ["ThrottlingException", "ServiceUnavailable", "ok"],
              "configs of different access keys coexist", results)
        status, current = call(self.url, "GET", "/_faults/config")
        check(sorted(current["access_keys"]) == ["AKSECOND", "AKTARGET"]
              and call(self.url, "GET", "/_faults/config?access_key=AKSECOND")[1]["default"] == {"http503": 1.0},
              "GET /_faults/config shows the per-key configs", current)
        events = call(self.url, "GET", "/_faults/events?access_key=AKSECOND")[1]
        check([e["fault"] for e in events] == ["http503"], "events?access_key= filters", events)

        # max_faults: the draws go on, the faults stop.
        self.config({"default": {"throttle": 1.0}, "max_faults": 2, "only_access_key": "AKMAX"})
        ecs = client(self.url, "ecs", "AKMAX")
        results = [short(outcome(ecs.list_clusters)) for _ in range(4)]
        check(results == ["ThrottlingException"] * 2 + ["ok"] * 2, "max_faults caps the faults injected", results)

        # throttle_burst: the drawing call and the next burst_length - 1 are throttled, whatever
        # their own draws; every call still draws, and after the burst the draws decide again.
        self.config({"default": {"throttle_burst": 0.0}, "operations": {"ListClusters": {"throttle_burst": 1.0,
                     "burst_length": 3}}, "only_access_key": "AKBURST"})
        ecs = client(self.url, "ecs", "AKBURST")
        first = [short(outcome(ecs.list_clusters)) for _ in range(3)]
        check(first == ["ThrottlingException"] * 3, "throttle_burst throttles burst_length calls", first)
        self.config({"default": {"throttle_burst": 0.01, "burst_length": 4}, "seed": 3, "only_access_key": "AKBURST"})
        ecs = client(self.url, "ecs", "AKBURST")
        self.reset()
        results = [short(outcome(ecs.list_clusters)) for _ in range(400)]
        runs, run = [], 0
        for r in results + ["ok"]:
            if r == "ThrottlingException":
                run += 1
            elif run:
                runs.append(run)
                run = 0
        events = call(self.url, "GET", "/_faults/events?access_key=AKBURST")[1]
        check(len(events) == 400 and runs and all(r % 4 == 0 for r in runs),
              "bursts come in runs of burst_length, one draw per call", (runs, len(events)))
        bad = call(self.url, "POST", "/_faults/config", {"default": {"burst_length": 0}})[0]
        check(bad == 400, "burst_length must be >= 1", bad)

        self.config({})  # a global config replaces the per-key ones too
        results = [short(outcome(client(self.url, "ecs", key).list_clusters)) for key in ("AKTARGET", "AKSECOND")]
        check(results == ["ok", "ok"] and call(self.url, "GET", "/_faults/config")[1]["access_keys"] == {},
              "a config without only_access_key drops the per-key ones", results)

    def determinism(self) -> None:
        ecs = client(self.url, "ecs", "AKSEQ")
        mixed = {"throttle": 0.3, "http500": 0.1, "http503": 0.1, "reset": 0.1, "reset_after": 0.1,
                 "delay": 0.1, "delay_ms": 1}

        noise = client(self.url, "ecs", "AKNOISE")

        def run(seed: int, interleave: bool = False) -> tuple[list[str], dict[str, Any], list[Any]]:
            self.reset()
            self.config({"seed": seed, "default": mixed, "only_access_key": "AKSEQ"})
            self.config({"seed": 99, "default": {"throttle": 0.5}, "only_access_key": "AKNOISE"})
            outcomes = []
            for _ in range(50):
                outcomes.append(short(outcome(ecs.list_clusters)))
                if interleave:  # another key's calls draw from that key's own RNG
                    outcome(noise.list_clusters)
            stats = call(self.url, "GET", "/_faults/stats?access_key=AKSEQ")[1]
            events = [e["fault"] for e in call(self.url, "GET", "/_faults/events?access_key=AKSEQ")[1]]
            return outcomes, stats, events

        first, second, other = run(7), run(7, interleave=True), run(8)
        check(first == second, "same seed, same requests -> same outcomes (other keys' calls interleaved)",
              (first[0], second[0]))
        check(first[1] == second[1] and first[2] == second[2], "same seed -> same stats and events")
        check(first[0] != other[0], "another seed -> other outcomes")
        expected = {None: "ok", "delay": "ok", "throttle": "ThrottlingException", "http500": "InternalFailure",
                    "http503": "ServiceUnavailable", "reset": "conn", "reset_after": "conn"}
        check([expected[f] for f in first[2]] == first[0], "the client saw exactly the logged faults",
              list(zip(first[2], first[0])))
        stats = first[1]
        counts = {kind: first[2].count(kind) for kind in expected if kind is not None}
        check(stats["requests"] == 50 and stats["injected"] == {**counts, "throttle_burst": 0}
              and stats["by_operation"] == {"ListClusters": {"requests": 50, **{k: n for k, n in counts.items() if n}}}
              and len(set(first[0])) >= 3,
              f"stats match the outcomes {counts}", stats)
        self.config({})

    def stats(self) -> None:
        self.reset()
        self.config({"operations": {"ecs:ListClusters": {"throttle": 1.0}}})
        call(self.url, "GET", "/_rollgate/health")  # emulator control: not counted
        unsigned = urllib.request.Request(self.url + "/", data=b"Action=ListRoles", method="POST")
        try:  # an unsigned call: forwarded, never faulted, counted apart
            urllib.request.urlopen(unsigned, timeout=20).read()
        except urllib.error.HTTPError as error:
            error.read()
        ecs = client(self.url, "ecs", "AKSTATS")
        results = [short(outcome(ecs.list_clusters)) for _ in range(3)]
        results += [short(outcome(lambda: ecs.describe_clusters(clusters=["plain"]))) for _ in range(2)]
        call(self.url, "GET", "/_rollgate/calls?access_key=AKSTATS")  # control: not counted
        stats = call(self.url, "GET", "/_faults/stats")[1]
        check(results == ["ThrottlingException"] * 3 + ["ok"] * 2
              and stats == {"requests": 5,
                            "injected": {"throttle": 3, "http500": 0, "http503": 0, "reset": 0,
                                         "reset_after": 0, "delay": 0, "throttle_burst": 0},
                            "by_operation": {"ListClusters": {"requests": 3, "throttle": 3},
                                             "DescribeClusters": {"requests": 2}},
                            "unsigned": 1},
              "stats count requests and faults per operation (service:Operation key)", (results, stats))
        self.reset()
        stats = call(self.url, "GET", "/_faults/stats")[1]
        check(stats["requests"] == 0 and stats["by_operation"] == {}, "POST /_faults/reset clears stats")

    def config_validation(self) -> None:
        self.config({})
        for document, what in [
            ({"default": {"throttle": 0.6, "reset": 0.6}}, "probabilities adding up to > 1"),
            ({"default": {"throttle": 1.5}}, "a probability > 1"),
            ({"default": {"throttel": 0.1}}, "an unknown fault kind"),
            ({"operations": {"X": {"delay": "a lot"}}}, "a non-numeric value"),
            ({"seeds": 1}, "an unknown top-level key"),
        ]:
            status, answer = call(self.url, "POST", "/_faults/config", document)
            check(status == 400 and "error" in answer, f"config with {what} -> 400", (status, answer))
        status, current = call(self.url, "GET", "/_faults/config")
        check(status == 200 and current["default"] == {} and current["operations"] == {},
              "a rejected config leaves the previous one in place", current)
        check(call(self.url, "GET", "/_faults/nope")[0] == 404, "unknown /_faults/ route -> 404")


def main() -> int:
    started = time.monotonic()
    emu = Child([os.path.join(HERE, "server.py"), "--port", "0"], "ROLLGATE_EMULATOR_READY")
    proxy = None
    try:
        proxy = Child([os.path.join(HERE, "faults.py"), "--upstream", emu.url, "--port", "0",
                       "--seed", "42"], "ROLLGATE_FAULTS_READY")
        print(f"emulator at {emu.url}, faults proxy at {proxy.url} ({time.monotonic() - started:.1f} s)")
        checks = Checks(emu, proxy)
        for section in (checks.pass_through, checks.keep_alive_and_raw, checks.error_faults,
                        checks.resets, checks.delay, checks.concurrency, checks.access_keys, checks.determinism,
                        checks.stats, checks.config_validation):
            section_start = time.monotonic()
            try:
                section()
            except Exception:  # a crash in one section still lets the others run
                traceback.print_exc()
                check(False, f"{section.__name__} raised")
            print(f"      ({section.__name__}: {time.monotonic() - section_start:.1f} s)")
    finally:
        codes = [proxy.stop() if proxy else 0, emu.stop()]
    check(codes == [0, 0], "faults.py and server.py exit 0 at stdin EOF", codes)
    print(f"({time.monotonic() - started:.1f} s)")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed:")
        for what in FAILURES:
            print(f"  - {what}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
