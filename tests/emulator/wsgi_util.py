"""Small WSGI helpers shared by the emulator extensions.

Nothing here knows about AWS services; it only deals with environ dicts,
request bodies, SigV4 credential scopes and calling a wrapped WSGI app.
"""

from __future__ import annotations

import io
import json
from http import HTTPStatus
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from werkzeug.test import run_wsgi_app

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body and put it back so the next reader sees it.

    Handles both Content-Length bodies and chunked ones (werkzeug's dev server
    de-chunks them and sets ``wsgi.input_terminated``). Afterwards
    ``wsgi.input`` is a fresh BytesIO and CONTENT_LENGTH is exact, so moto (or
    anyone else downstream) can read the body again as if untouched.
    """
    cached = environ.get("rollgate.body")
    if cached is not None:
        return cached
    stream = environ.get("wsgi.input")
    length = environ.get("CONTENT_LENGTH") or ""
    if stream is None:
        body = b""
    elif length.strip().isdigit():
        body = stream.read(int(length)) if int(length) else b""
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    replace_body(environ, body)
    return body


def replace_body(environ: dict[str, Any], body: bytes) -> None:
    """Install ``body`` as the request body of ``environ``."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["rollgate.body"] = body
    # The body is no longer chunked once buffered.
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def query_params(environ: dict[str, Any]) -> dict[str, str]:
    """First value of each query-string parameter."""
    parsed = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


@dataclass(frozen=True)
class Credential:
    """The parts of a SigV4 credential scope: AK/date/region/service/aws4_request."""

    access_key: str
    region: str
    service: str


def sigv4_credential(environ: dict[str, Any]) -> Credential | None:
    """Credential scope from the Authorization header (or a presigned query)."""
    scope = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("AWS4-"):
        for part in auth.split(" ", 1)[-1].split(","):
            name, _, value = part.strip().partition("=")
            if name == "Credential":
                scope = value
                break
    else:
        scope = query_params(environ).get("X-Amz-Credential")
    if not scope:
        return None
    fields = scope.split("/")
    if len(fields) != 5:
        return None
    return Credential(access_key=fields[0], region=fields[2], service=fields[3])


def fake_sigv4_authorization(access_key: str, region: str, service: str) -> str:
    """An Authorization header moto accepts (it does not check signatures)."""
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/20260101/{region}/{service}/"
        "aws4_request, SignedHeaders=host, Signature=00"
    )


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


def call_app(app: WSGIApp, environ: dict[str, Any]) -> Response:
    """Run ``app`` on ``environ`` in-process and collect its whole response."""
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    return Response(
        status=int(status.split(" ", 1)[0]),
        headers={name.lower(): value for name, value in headers.items()},
        body=body,
    )


def respond(
    start_response: Callable[..., Any],
    status: int,
    body: bytes,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Send a complete response with an exact Content-Length."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    all_headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    all_headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {reason}".strip(), all_headers)
    return [body]


def json_response(
    start_response: Callable[..., Any], status: int, document: Any
) -> list[bytes]:
    body = json.dumps(document, default=str).encode()
    return respond(start_response, status, body, [("Content-Type", "application/json")])
