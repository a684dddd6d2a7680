#!/usr/bin/env python3
"""Seeded fault-injecting HTTP proxy in front of the emulator (see README.md).

    python tests/emulator/faults.py --upstream http://127.0.0.1:PORT \
        [--port 0] [--seed 0] [--exit-on-stdin-eof] [--verbose]

Listens on 127.0.0.1 only. Once the socket is bound and serving, prints exactly
one line to stdout and flushes it, then nothing more on stdout:

    ROLLGATE_FAULTS_READY http://127.0.0.1:<port>

Every request is forwarded to the upstream emulator (method, path, query,
headers, body; status, headers, body back), one upstream connection per
request. Client connections are HTTP/1.1 keep-alive, one thread each.

On a seeded random fraction of the AWS calls (SigV4-signed requests) it
injects a fault instead of, or around, the forwarding:

* ``throttle``    400 + the protocol's throttling error, not forwarded
* ``http500``     500 + InternalFailure, not forwarded
* ``http503``     503 + ServiceUnavailable, not forwarded
* ``reset``       connection reset (RST) without an answer, not forwarded
* ``reset_after`` forwarded (the call takes effect), then RST instead of the answer
* ``delay``       forwarded, answered after ``delay_ms`` milliseconds
* ``throttle_burst`` a throttling burst: this call and the next ``burst_length - 1``
                  calls of the same access key (whatever their draws) get ``throttle``'s
                  answer, not forwarded: ECS throttles an account's whole token bucket,
                  not one call in isolation

Exactly one random draw is made per signed request, in arrival order, from
the RNG of the configuration that applies to its access key, so a given seed
and request order always yield the same faults.

Control endpoints (answered here; never forwarded, never faulted)::

    POST /_faults/config   (JSON) set a configuration (global, or one access key's)
    GET  /_faults/config[?access_key=AK]  -> configuration(s) in force
    GET  /_faults/stats[?access_key=AK]   -> {"requests", "injected", "by_operation"[, "unsigned"]}
    GET  /_faults/events[?access_key=AK]  -> [{"n", "service", "operation", "access_key", "fault"}, ...]
    POST /_faults/reset[?access_key=AK]   clear stats and events

``/_rollgate/...`` (the emulator's own control endpoints) is forwarded but
never faulted.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from calllog import RPC_V2_PATH, operation_name  # noqa: E402
from serving import serve_until_stopped  # noqa: E402
from wsgi_util import sigv4_credential  # noqa: E402

HOST = "127.0.0.1"
READY_PREFIX = "ROLLGATE_FAULTS_READY"
FAULTS_PREFIX = "/_faults/"
EMULATOR_CONTROL_PREFIX = "/_rollgate/"

# In the order the single random draw is mapped onto them.
FAULT_KINDS = ("throttle", "http500", "http503", "reset", "reset_after", "delay", "throttle_burst")
NUMERIC_KEYS = set(FAULT_KINDS) | {"delay_ms", "burst_length"}
DEFAULT_DELAY_MS = 200
DEFAULT_BURST_LENGTH = 10
UPSTREAM_TIMEOUT_S = 300.0
MAX_EVENTS = 100_000

# Hop-by-hop headers (RFC 9110 7.6.1) and ones this proxy recomputes.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",  # the 100-continue handshake is done with the client here
    "content-length",
}

# fault -> (HTTP status, "Sender"/"Receiver", message)
ERROR_FAULTS = {
    "throttle": (400, "Sender", "Rate exceeded"),
    "throttle_burst": (400, "Sender", "Rate exceeded"),
    "http500": (500, "Receiver", "Internal failure (injected by rollgate faults proxy)"),
    "http503": (503, "Receiver", "Service unavailable (injected by rollgate faults proxy)"),
}
# fault -> error code, per protocol family
JSON_CODES = {"throttle": "ThrottlingException", "throttle_burst": "ThrottlingException", "http500": "InternalFailure",
              "http503": "ServiceUnavailable"}
QUERY_CODES = {"throttle": "Throttling", "throttle_burst": "Throttling", "http500": "InternalFailure",
               "http503": "ServiceUnavailable"}
EC2_CODES = {"throttle": "RequestLimitExceeded", "throttle_burst": "RequestLimitExceeded", "http500": "InternalError",
             "http503": "Unavailable"}
S3_ERRORS = {"throttle": (503, "SlowDown", "Please reduce your request rate."),
             "throttle_burst": (503, "SlowDown", "Please reduce your request rate."),
             "http500": (500, "InternalError", "We encountered an internal error. Please try again."),
             "http503": (503, "ServiceUnavailable", "Service is unable to handle request.")}


class ConfigError(ValueError):
    pass


# -- configuration --------------------------------------------------------


def _rates(document: Any, where: str) -> dict[str, float]:
    if not isinstance(document, dict):
        raise ConfigError(f"{where} must be a JSON object")
    rates: dict[str, float] = {}
    for key, value in document.items():
        if key not in NUMERIC_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {sorted(NUMERIC_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{key} must be a number")
        if key == "delay_ms":
            if value < 0:
                raise ConfigError(f"{where}.delay_ms must be >= 0")
        elif key == "burst_length":
            if value < 1 or value != int(value):
                raise ConfigError(f"{where}.burst_length must be a whole number >= 1")
        elif not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}.{key} must be within [0, 1]")
        rates[key] = float(value)
    return rates


def _check_sum(rates: dict[str, float], where: str) -> None:
    total = sum(rates.get(kind, 0.0) for kind in FAULT_KINDS)
    if total > 1.0 + 1e-9:
        raise ConfigError(f"{where}: fault probabilities add up to {total} > 1")


class FaultConfig:
    """A validated configuration; operation entries override the default's keys."""

    KEYS = {"seed", "default", "operations", "only_access_key", "max_faults"}

    def __init__(self, document: Any, default_seed: int) -> None:
        if not isinstance(document, dict):
            raise ConfigError("config must be a JSON object")
        unknown = set(document) - self.KEYS
        if unknown:
            raise ConfigError(f"unknown config keys: {sorted(unknown)} (known: {sorted(self.KEYS)})")
        seed = document.get("seed", default_seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError("seed must be an integer")
        only = document.get("only_access_key")
        if only is not None and (not isinstance(only, str) or not only):
            raise ConfigError("only_access_key must be a non-empty string or null")
        max_faults = document.get("max_faults")
        if max_faults is not None and (
            isinstance(max_faults, bool) or not isinstance(max_faults, int) or max_faults < 0
        ):
            raise ConfigError("max_faults must be an integer >= 0 or null")
        self.seed: int = seed
        self.only_access_key: str | None = only
        self.max_faults: int | None = max_faults
        self.default = _rates(document.get("default", {}), "default")
        _check_sum(self.default, "default")
        operations = document.get("operations", {})
        if not isinstance(operations, dict):
            raise ConfigError("operations must be a JSON object")
        self.operations: dict[str, dict[str, float]] = {}
        for name, rates in operations.items():
            merged = {**self.default, **_rates(rates, f"operations.{name}")}
            _check_sum(merged, f"operations.{name} (with default)")
            self.operations[name] = merged

    def rates_for(self, service: str | None, operation: str | None) -> dict[str, float]:
        """Rates of ``service:Operation``, else ``Operation``, else the default."""
        if operation is not None:
            for key in (f"{service}:{operation}", operation):
                if key in self.operations:
                    return self.operations[key]
        return self.default

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "default": self.default,
            "operations": self.operations,
            "only_access_key": self.only_access_key,
            "max_faults": self.max_faults,
        }


def choose_fault(rates: dict[str, float], draw: float) -> str | None:
    """Map one uniform draw in [0, 1) onto a fault kind (or None)."""
    edge = 0.0
    for kind in FAULT_KINDS:
        probability = rates.get(kind, 0.0)
        edge += probability
        if probability > 0.0 and draw < edge:
            return kind
    return None


class _Entry:
    """A configuration in force, with its own RNG and count of faults injected."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.faults = 0
        # Calls still to throttle in the current throttling burst.
        self.burst_left = 0


def _new_counters() -> dict[str, Any]:
    return {"requests": 0, "injected": {kind: 0 for kind in FAULT_KINDS}, "by_operation": {}}


class FaultState:
    """Configurations, RNGs, stats and event log, behind one lock.

    The *global* configuration applies to every access key without one of its
    own. A config posted with ``only_access_key`` K becomes K's own (replacing
    K's previous one, nothing else); one posted without replaces the global
    configuration and drops every per-key one. Each configuration has its own
    RNG, so a test that owns its access key gets the same faults for the same
    calls whatever other tests do through the proxy at the same time.
    """

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self.cli_seed = seed
        self._global = _Entry(FaultConfig({}, seed))
        self._by_key: dict[str, _Entry] = {}
        self._clear(None)

    def _clear(self, access_key: str | None) -> None:
        if access_key is None:
            self._counters: dict[str, dict[str, Any]] = {}
            self._unsigned = 0
            self._events: list[dict[str, Any]] = []
            self._draws = 0
        else:
            self._counters.pop(access_key, None)
            self._events = [e for e in self._events if e["access_key"] != access_key]

    def configure(self, document: Any) -> dict[str, Any]:
        config = FaultConfig(document, self.cli_seed)  # validate before replacing
        with self._lock:
            if config.only_access_key is not None:
                self._by_key[config.only_access_key] = _Entry(config)
            else:
                self._global = _Entry(config)
                self._by_key.clear()
            return config.to_json()

    def config_json(self, access_key: str | None) -> dict[str, Any]:
        with self._lock:
            if access_key is not None:
                return self._by_key.get(access_key, self._global).config.to_json()
            return {
                **self._global.config.to_json(),
                "access_keys": {key: e.config.to_json() for key, e in self._by_key.items()},
            }

    def reset(self, access_key: str | None) -> None:
        with self._lock:
            self._clear(access_key)

    def decide(self, service: str, operation: str | None, access_key: str) -> tuple[str | None, float]:
        """Draw the fault (or None) for one signed request; returns (fault, delay_ms)."""
        with self._lock:
            entry = self._by_key.get(access_key, self._global)
            rates = entry.config.rates_for(service, operation)
            fault = choose_fault(rates, entry.rng.random())  # always exactly one draw
            if entry.burst_left > 0:  # inside a burst: throttled whatever the draw said
                entry.burst_left -= 1
                fault = "throttle_burst"
            elif fault == "throttle_burst":
                entry.burst_left = int(rates.get("burst_length", DEFAULT_BURST_LENGTH)) - 1
            if fault is not None:
                if entry.config.max_faults is not None and entry.faults >= entry.config.max_faults:
                    fault = None
                else:
                    entry.faults += 1
            counters = self._counters.setdefault(access_key, _new_counters())
            counters["requests"] += 1
            per_op = counters["by_operation"].setdefault(
                operation if operation is not None else "<rest>", {"requests": 0}
            )
            per_op["requests"] += 1
            if fault is not None:
                counters["injected"][fault] += 1
                per_op[fault] = per_op.get(fault, 0) + 1
            self._draws += 1
            if len(self._events) < MAX_EVENTS:
                self._events.append({"n": self._draws, "service": service, "operation": operation,
                                     "access_key": access_key, "fault": fault})
            return fault, rates.get("delay_ms", DEFAULT_DELAY_MS)

    def unsigned(self) -> None:
        with self._lock:
            self._unsigned += 1

    def stats(self, access_key: str | None) -> dict[str, Any]:
        with self._lock:
            if access_key is not None:
                selected = [self._counters.get(access_key, _new_counters())]
            else:
                selected = list(self._counters.values())
            total = _new_counters()
            for counters in selected:
                total["requests"] += counters["requests"]
                for kind, n in counters["injected"].items():
                    total["injected"][kind] += n
                for op, counts in counters["by_operation"].items():
                    merged = total["by_operation"].setdefault(op, {"requests": 0})
                    for name, n in counts.items():
                        merged[name] = merged.get(name, 0) + n
            if access_key is None:
                total["unsigned"] = self._unsigned
            return total

    def event_list(self, access_key: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._events if access_key is None or e["access_key"] == access_key]


# -- error bodies ----------------------------------------------------------


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_response(fault: str, request: "Request") -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of an injected error, in the request's protocol."""
    status, fault_type, message = ERROR_FAULTS[fault]
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    protocol = request.protocol
    if protocol == "cbor":
        import cbor2  # only needed for rpc-v2-cbor; installed in the venv

        code = JSON_CODES[fault]
        headers += [("smithy-protocol", "rpc-v2-cbor"), ("Content-Type", "application/cbor")]
        if request.query_compatible:
            headers.append(("x-amzn-query-error", f"{QUERY_CODES[fault]};{fault_type}"))
        return status, headers, cbor2.dumps({"__type": code, "message": message})
    if protocol == "json":
        code = JSON_CODES[fault]
        content_type = request.header("content-type") or ""
        if not content_type.startswith("application/x-amz-json"):
            content_type = "application/x-amz-json-1.1"
        headers += [("Content-Type", content_type), ("x-amzn-ErrorType", code)]
        if request.query_compatible:
            headers.append(("x-amzn-query-error", f"{QUERY_CODES[fault]};{fault_type}"))
        return status, headers, json.dumps({"__type": code, "message": message}).encode()
    if protocol == "ec2":
        code = EC2_CODES[fault]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return status, headers + [("Content-Type", "text/xml;charset=UTF-8")], body.encode()
    if protocol == "query":
        code = QUERY_CODES[fault]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<ErrorResponse><Error><Type>{fault_type}</Type><Code>{code}</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, headers + [("Content-Type", "text/xml")], body.encode()
    if protocol == "s3":
        status, code, message = S3_ERRORS[fault]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return status, [("x-amz-request-id", request_id), ("Content-Type", "application/xml")], body.encode()
    # restJson (Lambda and the like): code in x-amzn-ErrorType and the body.
    code = JSON_CODES[fault]
    headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    return status, headers, json.dumps({"__type": code, "message": message}).encode()


# -- requests --------------------------------------------------------------


class Request:
    """A fully read client request plus what the proxy derives from it."""

    def __init__(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                 had_body: bool) -> None:
        self.method = method
        self.target = target  # origin-form: /path?query
        self.headers = headers
        self.body = body
        self.had_body = had_body
        parts = urlsplit(target)
        self.path = unquote(parts.path)
        self.query = parts.query
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": self.path,
            "QUERY_STRING": self.query,
            "CONTENT_TYPE": self.header("content-type") or "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        for name, value in headers:
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ.setdefault(key, value)
        self.credential = sigv4_credential(environ)
        self.operation = operation_name(environ) if self.credential else None
        self.query_compatible = (self.header("x-amzn-query-mode") or "").lower() == "true"
        self.protocol = self._protocol()

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def _protocol(self) -> str:
        service = self.credential.service if self.credential else None
        if (self.header("smithy-protocol") or "").lower() == "rpc-v2-cbor" or (
            RPC_V2_PATH.match(self.path) and (self.header("content-type") or "").startswith("application/cbor")
        ):
            return "cbor"
        if self.header("x-amz-target"):
            return "json"
        if service == "s3":
            return "s3"
        if self.operation is not None:  # Action=... in the query or form body
            return "ec2" if service == "ec2" else "query"
        return "rest"


def _read_chunked(rfile: Any) -> bytes:
    chunks = []
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("EOF inside a chunked request body")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers are dropped
            return b"".join(chunks)
        chunks.append(rfile.read(size))
        rfile.readline(65537)  # CRLF after the chunk


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on client connections
    server: "FaultProxyServer"

    # One method for every verb.
    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing --

    def _read_request(self) -> Request:
        transfer_encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        length = self.headers.get("Content-Length")
        if "chunked" in transfer_encoding:
            body, had_body = _read_chunked(self.rfile), True
        elif length is not None:
            n = int(length.strip())
            body, had_body = (self.rfile.read(n) if n else b""), True
        else:
            body, had_body = b"", False
        target = self.path
        if not target.startswith("/"):  # absolute-form (client configured us as a proxy)
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Request(self.command, target, list(self.headers.items()), body, had_body)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes,
              reason: str | None = None, head: bool = False) -> None:
        if reason is None:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        lines = [f"{self.protocol_version} {status} {reason}"]
        names = set()
        for name, value in headers:
            if name.lower() in HOP_BY_HOP:
                continue
            names.add(name.lower())
            lines.append(f"{name}: {value}")
        no_body = head or 100 <= status < 200 or status in (204, 304)
        if not no_body:
            lines.append(f"Content-Length: {len(body)}")
        elif head:
            upstream_length = next((v for k, v in headers if k.lower() == "content-length"), None)
            if upstream_length is not None:
                lines.append(f"Content-Length: {upstream_length}")
        if "date" not in names:
            lines.append(f"Date: {self.date_time_string()}")
        if self.close_connection:
            lines.append("Connection: close")
        # Head and body in one write: no Nagle / delayed-ACK stall between them.
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head_bytes if no_body else head_bytes + body)
        self.wfile.flush()
        self.log_request(status, len(body))

    def _send_json(self, status: int, document: Any) -> None:
        self._send(status, [("Content-Type", "application/json")], json.dumps(document).encode())

    def _reset_connection(self) -> None:
        """Abort the client connection with a TCP RST (SO_LINGER 0, then close)."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # rfile holds a reference on the socket: the fd (and so the RST) only
        # goes once it is closed too. wfile holds none and stays open so the
        # base class' final flush() has something to flush.
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _forward(self, request: Request) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port or 80,
                                                timeout=UPSTREAM_TIMEOUT_S)
        try:
            connection.putrequest(request.method, request.target, skip_host=True,
                                  skip_accept_encoding=True)
            extra_hop = {
                token.strip().lower()
                for value in (v for k, v in request.headers if k.lower() == "connection")
                for token in value.split(",")
            }
            has_host = False
            for name, value in request.headers:
                lower = name.lower()
                if lower in HOP_BY_HOP or lower in extra_hop:
                    continue
                has_host = has_host or lower == "host"
                connection.putheader(name, value)
            if not has_host:
                connection.putheader("Host", upstream.netloc)
            if request.had_body or request.body:
                connection.putheader("Content-Length", str(len(request.body)))
            connection.endheaders(request.body if request.body else None)
            response = connection.getresponse()
            body = response.read()  # de-chunks; HEAD has no body
            return response.status, response.reason, response.getheaders(), body
        finally:
            connection.close()

    def _forward_or_502(self, request: Request) -> tuple[int, str | None, list[tuple[str, str]], bytes]:
        try:
            return self._forward(request)
        except (OSError, http.client.HTTPException) as error:
            message = f"rollgate faults proxy: upstream error: {error!r}"
            print(message, file=sys.stderr, flush=True)
            return 502, None, [("Content-Type", "application/json")], json.dumps({"message": message}).encode()

    # -- the request --

    def _handle(self) -> None:
        request = self._read_request()
        if request.path.startswith(FAULTS_PREFIX):
            self._control(request)
            return
        fault, delay_ms = None, 0.0
        if not request.path.startswith(EMULATOR_CONTROL_PREFIX):
            if request.credential is None:
                self.server.state.unsigned()
            else:
                fault, delay_ms = self.server.state.decide(
                    request.credential.service, request.operation, request.credential.access_key
                )
        if fault == "reset":
            self._reset_connection()
            return
        if fault in ERROR_FAULTS:
            self._send(*error_response(fault, request))
            return
        status, reason, headers, body = self._forward_or_502(request)
        if fault == "reset_after":
            self._reset_connection()
            return
        if fault == "delay":
            time.sleep(delay_ms / 1000.0)  # the injected fault itself
        self._send(status, headers, body, reason=reason, head=request.method == "HEAD")

    def _control(self, request: Request) -> None:
        state = self.server.state
        route = (request.method, request.path.rstrip("/"))
        access_key = (parse_qs(request.query).get("access_key") or [None])[0]
        if route == ("GET", "/_faults/config"):
            self._send_json(200, state.config_json(access_key))
        elif route == ("POST", "/_faults/config"):
            try:
                document = json.loads(request.body or b"{}")
                self._send_json(200, state.configure(document))
            except ValueError as error:  # bad JSON or ConfigError
                self._send_json(400, {"error": str(error)})
        elif route == ("GET", "/_faults/stats"):
            self._send_json(200, state.stats(access_key))
        elif route == ("GET", "/_faults/events"):
            self._send_json(200, state.event_list(access_key))
        elif route == ("POST", "/_faults/reset"):
            state.reset(access_key)
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": f"no route {request.method} {request.path}"})


class FaultProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, upstream: str, seed: int, verbose: bool) -> None:
        self.upstream = urlsplit(upstream)
        if self.upstream.scheme != "http" or not self.upstream.hostname:
            raise ValueError(f"--upstream must be http://host:port, got {upstream!r}")
        self.state = FaultState(seed)
        self.verbose = verbose
        super().__init__((HOST, port), ProxyHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients going away mid-request are normal here (we reset them too).
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


# -- main ------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the emulator's URL, http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port on 127.0.0.1; 0 (default) lets the OS pick a free one")
    parser.add_argument("--seed", type=int, default=0,
                        help="RNG seed used until a config sets one (default 0)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="stop when stdin reaches EOF (parent exited)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Binds right away: port 0 yields a real, already bound free port.
    server = FaultProxyServer(args.port, args.upstream, args.seed, args.verbose)
    return serve_until_stopped(server, f"{READY_PREFIX} http://{HOST}:{server.server_port}", args.exit_on_stdin_eof,
                               poll_interval=0.1)


if __name__ == "__main__":
    sys.exit(main())
