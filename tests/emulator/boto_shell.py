#!/usr/bin/env python3
"""AWS's own Python client as a long-lived JSON-lines process.

    python tests/emulator/boto_shell.py --endpoint http://127.0.0.1:PORT

Reads one JSON request per stdin line:

    {"service": "ecs", "operation": "describe_services",
     "params": {"cluster": "c", "services": ["s"]},
     "region": "us-east-1", "access_key": "AK...",
     "account_id": "210987654321"}                     (last three optional)

and answers each with exactly one JSON line on stdout:

    {"ok": {...response without ResponseMetadata...}}
    {"error": {"code": "ServiceNotFoundException", "message": "..."}}

Datetimes become ISO-8601 strings, bytes and streaming bodies base64 strings.
Retries are off, the secret key is a dummy, and no AWS config or credential
file is read. Exits with status 0 at EOF on stdin.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import sys
from typing import Any

# Keep the caller's ~/.aws files and profile variables out of the way: every
# setting this tool needs is passed explicitly below.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(_name, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.response import StreamingBody  # noqa: E402

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCESS_KEY = "boto-shell"
DUMMY_SECRET = "dummy-secret-key"
CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})


def to_json_value(value: Any) -> Any:
    """json.dumps fallback for the non-JSON types boto3 returns."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, StreamingBody):
        value = value.read()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class Shell:
    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._clients: dict[tuple[str, str, str, str | None], Any] = {}

    def _client(self, service: str, region: str, access_key: str, account_id: str | None) -> Any:
        key = (service, region, access_key, account_id)
        if key not in self._clients:
            session = boto3.session.Session(
                aws_access_key_id=access_key,
                aws_secret_access_key=DUMMY_SECRET,
                region_name=region,
            )
            client = session.client(service, endpoint_url=self._endpoint, config=CLIENT_CONFIG)
            if account_id:
                # moto serves the request in that account (another account's registry, say).
                def in_account(request: Any, **_: Any) -> None:
                    request.headers["x-moto-account-id"] = account_id

                client.meta.events.register("before-sign", in_account)
            self._clients[key] = client
        return self._clients[key]

    def handle(self, line: str) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("request must be a JSON object")
            client = self._client(
                request["service"],
                request.get("region") or DEFAULT_REGION,
                request.get("access_key") or DEFAULT_ACCESS_KEY,
                request.get("account_id"),
            )
            method = getattr(client, request["operation"], None)
            if method is None or request["operation"].startswith("_"):
                raise ValueError(f"{request['service']} has no operation {request['operation']!r}")
            response = method(**(request.get("params") or {}))
        except ClientError as error:
            details = error.response.get("Error", {})
            return {
                "error": {
                    "code": details.get("Code", "Unknown"),
                    "message": details.get("Message", str(error)),
                }
            }
        except Exception as error:  # bad request line, parameter validation...
            return {"error": {"code": type(error).__name__, "message": str(error)}}
        response.pop("ResponseMetadata", None)
        return {"ok": response}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="boto3 as a JSON-lines process")
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:5000")
    args = parser.parse_args(argv)
    shell = Shell(args.endpoint)
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = shell.handle(line)
        try:
            text = json.dumps(answer, default=to_json_value)
        except (TypeError, ValueError) as error:
            text = json.dumps({"error": {"code": "EncodingError", "message": str(error)}})
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
