"""In-memory log of the AWS API calls the emulator received.

Each signed request becomes one record::

    {"service": "ecs", "operation": "UpdateService", "access_key": "AKTEST1"}

``service`` is the SigV4 signing name from the credential scope (``ecs``,
``monitoring``, ``iam``...), so it is what the client signed for, not moto's
internal backend name. Tests give every test its own access key and filter on
it, which keeps concurrently running tests from seeing each other's calls.
Unsigned requests are not recorded.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import parse_qs

from wsgi_util import query_params, read_body, sigv4_credential

# Smithy RPC v2 path: /service/<ServiceName>/operation/<OperationName>
RPC_V2_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")


def operation_name(environ: dict[str, Any]) -> str | None:
    """The API operation a request invokes, for the protocols rollgate meets.

    * awsJson (ECS, ECR, Logs, Events, CodeBuild): ``X-Amz-Target: Prefix.Op``
    * awsQuery / ec2 (IAM, EC2, STS): ``Action=Op`` in the query or form body
    * Smithy RPC v2 CBOR (current CloudWatch clients): the request path
    REST protocols (S3, Lambda) have no operation name on the wire: ``None``.
    """
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    action = query_params(environ).get("Action")
    if action:
        return action
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        # read_body() re-wraps wsgi.input, so moto can still read the form.
        form = parse_qs(read_body(environ).decode("utf-8", "replace"))
        if form.get("Action"):
            return form["Action"][0]
    match = RPC_V2_PATH.match(environ.get("PATH_INFO", ""))
    if match:
        return match["operation"]
    return None


class CallLog:
    """Thread-safe, ordered list of call records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []

    def record(self, environ: dict[str, Any]) -> None:
        """Record ``environ`` if it is a signed AWS request."""
        credential = sigv4_credential(environ)
        if credential is None:
            return
        entry = {
            "service": credential.service,
            "operation": operation_name(environ),
            "access_key": credential.access_key,
        }
        with self._lock:
            self._records.append(entry)

    def calls(self, access_key: str | None = None, prefix: str | None = None) -> list[dict[str, Any]]:
        """The records of ``access_key`` (all if None), or of every key starting with ``prefix``."""
        with self._lock:
            return [
                dict(r)
                for r in self._records
                if (access_key is None or r["access_key"] == access_key)
                and (prefix is None or (r["access_key"] or "").startswith(prefix))
            ]

    def reset(self, access_key: str | None = None) -> int:
        """Forget the records of ``access_key`` (all if None); return how many."""
        with self._lock:
            kept = [
                r
                for r in self._records
                if access_key is not None and r["access_key"] != access_key
            ]
            removed = len(self._records) - len(kept)
            self._records = kept
            return removed
