#!/usr/bin/env python3
"""Run a Lambda function binary locally behind an AWS Lambda Runtime API.

    python tests/emulator/lambda_rapi.py --binary target/debug/my-fn \\
        [--env K=V ...] [--function-name NAME] [--timeout-ms 30000] \\
        [--init-timeout-ms 10000] [--logs PATH] EVENT_FILE [EVENT_FILE ...]

An EVENT_FILE of ``-`` is one event JSON read from stdin.

The runner serves the Runtime API (the one the lambda_runtime crate talks to)
on 127.0.0.1, then spawns the binary with AWS_LAMBDA_RUNTIME_API pointing at
it and the usual Lambda environment variables. Events are handed out one at a
time, in order, through GET /2018-06-01/runtime/invocation/next. When every
event has been answered (or init failed, or the process died, or an
invocation timed out) the binary is stopped (SIGTERM, then SIGKILL) and ONE
JSON document is printed to stdout:

    {"init_ms": 12.3,                 # spawn -> first /next, null if never
     "init_error": null | {"error_type", "error_message"},
     "invocations": [{"event": "e1.json", "status": "ok" | "error",
                      "response": <parsed JSON body> | null,
                      "error_type": null | str, "error_message": null | str,
                      "duration_ms": 1.2 | null}, ...],   # one per event, in order
     "exit_code": <binary's exit status; negative = killed by that signal>,
     "terminated": true if the runner had to stop the binary,
     "logs": "<file with the binary's stdout+stderr>",
     "runner_error": null | "what went wrong",
     "peak_rss_kb": 5120 | null}     # VmHWM just before the stop (benchmarks)

error_type values the runner itself produces (the others come from the
function): "Sandbox.Timedout" (no answer within --timeout-ms; the binary is
then stopped and later events are not run), "Runtime.ExitError" (the binary
died during the invocation), "Runner.NoAnswer" / "Runner.NotInvoked" (the run
ended before the answer / before the event was handed out). After an init
error every event carries the init error's type and message.

Exit status 0 when the runner did its job, even if invocations failed;
2 when it could not (binary missing, binary died or hung before answering
all events, runner interrupted): runner_error then says what happened.

Timings use time.perf_counter(); the server is up before the binary starts,
so init_ms measures the binary's own cold start.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
ACCOUNT_ID = "123456789012"
API_PREFIX = "/2018-06-01/runtime"
INVOCATION_PATH = re.compile(
    rf"^{API_PREFIX}/invocation/(?P<request_id>[^/]+)/(?P<kind>response|error)$"
)
KILL_GRACE_SECONDS = 2.0
EXIT_RUNNER_FAILURE = 2


class RunnerFailure(Exception):
    """The runner could not do its job; reported as runner_error, exit 2."""


@dataclass
class Invocation:
    event: str
    payload: bytes
    request_id: str = ""
    status: str | None = None  # "ok" | "error" once finished
    response: Any = None
    response_raw: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    started: float | None = None  # perf_counter()
    deadline: float | None = None  # perf_counter() value the answer is due by
    duration_ms: float | None = None

    def finish(self, status: str, error_type: str | None = None, error_message: str | None = None) -> None:
        self.status = status
        self.error_type = error_type
        self.error_message = error_message
        if self.started is not None:
            self.duration_ms = round((time.perf_counter() - self.started) * 1000, 3)

    def report(self) -> dict[str, Any]:
        entry = {
            "event": self.event,
            "status": self.status,
            "response": self.response,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "duration_ms": self.duration_ms,
        }
        if self.response_raw is not None:
            entry["response_raw"] = self.response_raw  # body was not JSON
        return entry


@dataclass
class Runtime:
    """State shared by the HTTP handler threads and the main thread.

    Every change happens under ``cond`` and wakes all waiters, so the main
    thread and long-polling /next requests never need to poll.
    """

    invocations: list[Invocation]
    timeout_ms: int
    function_arn: str = ""
    spawned_at: float = 0.0  # perf_counter() just before the binary is spawned
    cond: threading.Condition = field(default_factory=threading.Condition)
    next_index: int = 0
    current: Invocation | None = None
    first_next_at: float | None = None
    last_answer_at: float | None = None
    init_error: dict[str, str] | None = None
    exit_code: int | None = None
    closed: bool = False

    def next_invocation(self) -> Invocation | None:
        """Block until there is an event to hand out (None: runner closing)."""
        with self.cond:
            if self.first_next_at is None:
                self.first_next_at = time.perf_counter()
                self.cond.notify_all()
            self.cond.wait_for(
                lambda: self.closed
                or (self.current is None and self.next_index < len(self.invocations))
            )
            if self.closed:
                return None
            invocation = self.invocations[self.next_index]
            self.next_index += 1
            invocation.request_id = str(uuid.uuid4())
            invocation.started = time.perf_counter()
            invocation.deadline = invocation.started + self.timeout_ms / 1000
            self.current = invocation
            return invocation

    def answer(self, request_id: str, body: bytes, error_header: str | None, is_error: bool) -> bool:
        """Record the function's answer; False if ``request_id`` is not in flight."""
        with self.cond:
            invocation = self.current
            if invocation is None or invocation.request_id != request_id:
                return False
            if is_error:
                details = _json_or_none(body)
                details = details if isinstance(details, dict) else {}
                invocation.finish(
                    "error",
                    details.get("errorType") or error_header or "Unhandled",
                    details.get("errorMessage") or body.decode("utf-8", "replace"),
                )
            else:
                invocation.response = _json_or_none(body)
                if invocation.response is None and body.strip() not in (b"", b"null"):
                    invocation.response_raw = body.decode("utf-8", "replace")
                invocation.finish("ok")
            self.current = None
            self.last_answer_at = time.perf_counter()
            self.cond.notify_all()
            return True

    def fail_init(self, body: bytes, error_header: str | None) -> None:
        details = _json_or_none(body)
        details = details if isinstance(details, dict) else {}
        with self.cond:
            self.init_error = {
                "error_type": details.get("errorType") or error_header or "Runtime.InitError",
                "error_message": details.get("errorMessage") or body.decode("utf-8", "replace"),
            }
            self.cond.notify_all()

    def child_exited(self, code: int) -> None:
        with self.cond:
            self.exit_code = code
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    @property
    def all_answered(self) -> bool:
        return all(invocation.status is not None for invocation in self.invocations)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class RuntimeApiHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, as the lambda_runtime crate's hyper client expects.
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately; without TCP_NODELAY, Nagle's
    # algorithm plus the client's delayed ACK stall each reply on a kept-alive
    # connection by ~40 ms, which would swamp the timings we measure.
    disable_nagle_algorithm = True
    runtime: Runtime  # set on the subclass made by serve_runtime_api()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the binary's own logs are what matters; keep stderr quiet

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    # Skip trailers up to the blank line that ends the body.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._send(404, b'{"errorType":"NotFound","errorMessage":"unknown path"}')
            return
        invocation = self.runtime.next_invocation()
        if invocation is None:  # runner is shutting down
            self.close_connection = True
            self._send(410, b'{"errorType":"Gone","errorMessage":"runner is shutting down"}')
            return
        deadline_ms = int(time.time() * 1000) + self.runtime.timeout_ms
        self._send(
            200,
            invocation.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": self.runtime.function_arn,
                "Lambda-Runtime-Trace-Id": _trace_id(),
            },
        )

    def do_POST(self) -> None:
        body = self._read_body()
        error_header = self.headers.get("Lambda-Runtime-Function-Error-Type")
        if self.path == f"{API_PREFIX}/init/error":
            self.runtime.fail_init(body, error_header)
            self._send(202, b'{"status":"OK"}')
            return
        match = INVOCATION_PATH.match(self.path)
        if match is None:
            self._send(404, b'{"errorType":"NotFound","errorMessage":"unknown path"}')
            return
        if self.runtime.answer(match["request_id"], body, error_header, match["kind"] == "error"):
            self._send(202, b'{"status":"OK"}')
        else:
            self._send(400, b'{"errorType":"InvalidRequestID","errorMessage":"Invalid request ID"}')


class RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The binary is stopped at the end of a run, often with a kept-alive
        # connection open; its reset is expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def serve_runtime_api(runtime: Runtime) -> RuntimeApiServer:
    handler = type("BoundRuntimeApiHandler", (RuntimeApiHandler,), {"runtime": runtime})
    server = RuntimeApiServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, name="runtime-api", daemon=True).start()
    return server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run a Lambda binary behind a local Runtime API.")
    parser.add_argument("--binary", required=True, help="the function executable (bootstrap)")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment")
    parser.add_argument("--function-name", help="default: the binary's file name")
    parser.add_argument("--timeout-ms", type=int, default=30000, help="per-invocation timeout")
    parser.add_argument(
        "--init-timeout-ms",
        type=int,
        default=10000,
        help="how long the binary may take to call /next (at start and between events)",
    )
    parser.add_argument("--logs", help="file for the binary's stdout+stderr (default: a temp file)")
    parser.add_argument("events", nargs="+", metavar="EVENT_FILE", help="event JSON files; - = stdin")
    return parser.parse_args(argv)


def load_events(names: list[str]) -> list[Invocation]:
    if names.count("-") > 1:
        raise RunnerFailure("stdin ('-') can be given only once")
    invocations = []
    for name in names:
        try:
            payload = sys.stdin.buffer.read() if name == "-" else open(name, "rb").read()
        except OSError as error:
            raise RunnerFailure(f"cannot read event {name}: {error}")
        try:
            json.loads(payload)
        except ValueError as error:
            raise RunnerFailure(f"event {name} is not JSON: {error}")
        invocations.append(Invocation(event=name, payload=payload))
    return invocations


def child_environment(args: argparse.Namespace, function_name: str, api_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_REGION", "us-east-1")
    env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{secrets.token_hex(16)}",
            "_HANDLER": "bootstrap",
        }
    )
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise RunnerFailure(f"--env expects K=V, got {item!r}")
        env[name] = value
    env["AWS_LAMBDA_RUNTIME_API"] = f"{HOST}:{api_port}"  # always ours
    return env


class Child:
    """The function process. One thread reaps it and reports its exit."""

    def __init__(self, binary: str, env: dict[str, str], log_file: Any, runtime: Runtime) -> None:
        self.process = subprocess.Popen(
            [binary],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() reaches grandchildren
        )
        self._exited = threading.Event()
        self._runtime = runtime
        threading.Thread(target=self._reap, name="child-reaper", daemon=True).start()

    def _reap(self) -> None:
        code = self.process.wait()
        self._exited.set()
        self._runtime.child_exited(code)

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass  # the whole group is already gone

    def stop(self) -> bool:
        """Stop the binary and whatever it started; True if it was still running."""
        if self._exited.is_set():
            self._signal_group(signal.SIGKILL)  # leftovers of an exited binary
            return False
        self._signal_group(signal.SIGTERM)
        if not self._exited.wait(KILL_GRACE_SECONDS):
            self._signal_group(signal.SIGKILL)
            self._exited.wait()
        return True

    @property
    def exit_code(self) -> int | None:
        return self.process.returncode

    # --- benchmark-only: peak memory (bench/run.py) ---------------------------------
    def peak_rss_kb(self) -> int | None:
        """The binary's peak resident set (VmHWM, kB) so far; None once it has exited."""
        if self._exited.is_set():
            return None
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return None


def supervise(runtime: Runtime, init_timeout: float) -> str | None:
    """Wait until the run is over; return a runner error, or None if it went fine.

    Deadlines (init, per-invocation timeout, return to /next) are enforced
    here with Condition.wait timeouts; every state change wakes this up.
    """
    with runtime.cond:
        while True:
            now = time.perf_counter()
            if runtime.init_error is not None or runtime.all_answered:
                return None
            current = runtime.current
            if runtime.exit_code is not None:
                done = sum(i.status is not None for i in runtime.invocations)
                if current is not None:
                    current.finish(
                        "error",
                        "Runtime.ExitError",
                        f"RequestId: {current.request_id} Error: Runtime exited with error: "
                        f"exit status {runtime.exit_code}",
                    )
                return (
                    f"binary exited with status {runtime.exit_code} after answering "
                    f"{done} of {len(runtime.invocations)} events"
                    + ("" if runtime.first_next_at else " (it never called /next: crashed during init)")
                )
            if current is not None:
                deadline = current.deadline
            else:
                deadline = (runtime.last_answer_at or runtime.spawned_at) + init_timeout
            if now >= deadline:
                if current is None:
                    where = "after start" if runtime.first_next_at is None else "after answering an event"
                    return f"binary did not call /next within {init_timeout * 1000:.0f} ms {where}"
                current.finish(
                    "error",
                    "Sandbox.Timedout",
                    f"Task timed out after {runtime.timeout_ms / 1000:.2f} seconds",
                )
                # Hand out nothing more: the binary is stopped next, like Lambda
                # recycles a sandbox after a timeout.
                runtime.current = None
                runtime.closed = True
                runtime.cond.notify_all()
                return None  # a function failure, not the runner's
            runtime.cond.wait(deadline - now)


def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    report: dict[str, Any] = {
        "init_ms": None,
        "init_error": None,
        "invocations": [],
        "exit_code": None,
        "terminated": False,
        "logs": None,
        "runner_error": None,
        "peak_rss_kb": None,
    }
    binary = os.path.abspath(args.binary)
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        report["runner_error"] = f"binary not found or not executable: {args.binary}"
        return report, EXIT_RUNNER_FAILURE

    function_name = args.function_name or os.path.basename(binary)
    try:
        invocations = load_events(args.events)
    except RunnerFailure as error:
        report["runner_error"] = str(error)
        return report, EXIT_RUNNER_FAILURE

    if args.logs:
        log_path = os.path.abspath(args.logs)
        try:
            log_file = open(log_path, "wb")
        except OSError as error:
            report["runner_error"] = f"cannot write --logs file: {error}"
            return report, EXIT_RUNNER_FAILURE
    else:
        log_file = tempfile.NamedTemporaryFile(
            prefix=f"lambda-{function_name}-", suffix=".log", delete=False
        )
        log_path = log_file.name
    report["logs"] = log_path

    runtime = Runtime(invocations=invocations, timeout_ms=args.timeout_ms)
    server = serve_runtime_api(runtime)  # up before the binary starts
    child = None
    try:
        env = child_environment(args, function_name, server.server_address[1])
        runtime.function_arn = (
            f"arn:aws:lambda:{env['AWS_REGION']}:{ACCOUNT_ID}:function:{function_name}"
        )
        runtime.spawned_at = time.perf_counter()
        child = Child(binary, env, log_file, runtime)
        report["runner_error"] = supervise(runtime, args.init_timeout_ms / 1000)
    except (RunnerFailure, OSError) as error:  # OSError: the binary cannot be executed
        report["runner_error"] = str(error)
    except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM/SIGHUP via _raise_interrupt
        report["runner_error"] = f"runner interrupted by {error or 'SIGINT'}"
    finally:
        # Stop the binary before releasing its /next long-poll: Lambda never answers /next
        # without an event, and lambda_runtime panics on such an answer (a panic in the logs).
        if child is not None:
            report["peak_rss_kb"] = child.peak_rss_kb()  # benchmark-only: read before the stop
            report["terminated"] = child.stop()
            report["exit_code"] = child.exit_code
        runtime.close()  # release the /next handler thread, its client gone
        server.shutdown()
        server.server_close()
        log_file.close()

    if runtime.first_next_at is not None:
        report["init_ms"] = round((runtime.first_next_at - runtime.spawned_at) * 1000, 3)
    report["init_error"] = runtime.init_error
    for invocation in invocations:
        if invocation.status is not None:
            continue
        if runtime.init_error is not None:
            invocation.finish(
                "error", runtime.init_error["error_type"], runtime.init_error["error_message"]
            )
        elif invocation.started is not None:
            invocation.finish("error", "Runner.NoAnswer", "the run ended before the function answered")
        else:
            invocation.finish("error", "Runner.NotInvoked", "not invoked: the run ended before this event")
    report["invocations"] = [invocation.report() for invocation in invocations]
    return report, (EXIT_RUNNER_FAILURE if report["runner_error"] else 0)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM/SIGHUP unwind like Ctrl-C, so run()'s finally stops the binary.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    report, status = run(args)
    if report["runner_error"]:
        print(f"lambda_rapi: {report['runner_error']}", file=sys.stderr)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
