"""The WSGI app server.py serves: moto plus rollgate's test extensions.

Routing, in order:

* ``/_rollgate/...``: control endpoints for tests (not AWS; never logged):
    GET  /_rollgate/health                     -> {"ok": true}
    GET  /_rollgate/calls[?access_key=AK]      -> [{"service","operation","access_key"}, ...]
    POST /_rollgate/calls/reset[?access_key=AK] -> {"removed": n}
    POST /_rollgate/ecs/rollout  (JSON body)   -> the service, as DescribeServices shows it
    POST /_rollgate/ecs/short-arn (JSON body)  -> the service, now with the short (pre-2021) ARN
    POST /_rollgate/ecr/pushed-at (JSON body)  -> {"updated": n}: set an image's imagePushedAt
    POST /_rollgate/ecr/image-status (JSON body) -> {"updated": n}: set an image's imageStatus
    POST /_rollgate/clock {"now": epoch|null}  -> {"now": ...}: the emulator's clock (clock.py)
    POST /_rollgate/tagging/lag {"seconds", "page_limit"} -> the settings: GetResources' lag
                                                  and page cap (tagging_ext.py); GET reads them
    GET  /_rollgate/ecr/blob/<token>           -> a layer's bytes: the downloadUrl that
                                                  GetDownloadUrlForLayer hands out (ecr_ext.py)
    PUT/DELETE /_rollgate/iam/principals, GET /_rollgate/iam/decisions,
    POST /_rollgate/iam/decisions/reset        -> IAM enforcement (iam_enforce.py)
* every other request is recorded in the call log (if SigV4-signed), then
  * a request signed with a registered key that IAM would refuse gets AWS's
    access-denied error (iam_enforce.py),
  * a signed request AWS would refuse as invalid gets AWS's error (validate.py),
  * the Tagging API's GetResources for ECS resources is answered by tagging_ext.py,
  * rpcv2Cbor calls to bridged services go to the CBOR bridge,
  * everything else goes to moto unchanged.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import clock
import cloudwatch_ext
import codebuild_ext
import ecr_ext
import ecs_ext
import iam_ext
import logs_ext
import tagging_ext
import validate
from calllog import CallLog
from cbor_bridge import CborBridge, is_rpc_v2_cbor
from iam_enforce import IamEnforcer
from wsgi_util import WSGIApp, json_response, query_params, read_body

CONTROL_PREFIX = "/_rollgate/"


class RollgateApp:
    def __init__(self, moto_app: WSGIApp) -> None:
        ecs_ext.install()
        tagging_ext.install()  # after ecs_ext: it wraps ecs_ext's patched methods
        ecr_ext.install()
        logs_ext.install()
        iam_ext.install()
        codebuild_ext.install()
        cloudwatch_ext.install()
        self.moto_app = moto_app
        self.call_log = CallLog()
        self.cbor_bridge = CborBridge(moto_app)
        self.iam = IamEnforcer(os.environ.get("ROLLGATE_IAM_DECISION_LOG") or None)
        # (method, path) -> handler(environ) -> (status, JSON document)
        self._control: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[int, Any]]] = {
            ("GET", "/_rollgate/health"): lambda environ: (200, {"ok": True}),
            ("GET", "/_rollgate/calls"): self._list_calls,
            ("POST", "/_rollgate/calls/reset"): self._reset_calls,
            ("POST", "/_rollgate/ecs/rollout"): self._ecs_rollout,
            ("POST", "/_rollgate/ecs/short-arn"): self._ecs_short_arn,
            ("POST", "/_rollgate/ecr/pushed-at"): self._ecr_pushed_at,
            ("POST", "/_rollgate/ecr/image-status"): self._ecr_image_status,
            ("POST", "/_rollgate/clock"): self._set_clock,
            ("GET", "/_rollgate/tagging/lag"): lambda environ: (200, tagging_ext.settings()),
            ("POST", "/_rollgate/tagging/lag"): self._set_tagging_lag,
            ("PUT", "/_rollgate/iam/principals"): self._iam_register,
            ("DELETE", "/_rollgate/iam/principals"): self._iam_remove,
            ("GET", "/_rollgate/iam/decisions"): self._iam_decisions,
            ("POST", "/_rollgate/iam/decisions/reset"): self._iam_reset,
        }
        # --- benchmark-only: optional simulated AWS latency (bench/run.py) -------------
        # ROLLGATE_EMULATOR_LATENCY_MS (default 0: off) makes every AWS request (never a
        # /_rollgate/ control request) sleep that long before it is answered, so that
        # bounded parallelism can be measured as against real AWS (~30-60 ms a call).
        # The server is threaded: concurrent requests sleep concurrently.
        self.latency_s = float(os.environ.get("ROLLGATE_EMULATOR_LATENCY_MS") or 0) / 1000

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(ecr_ext.BLOB_PATH_PREFIX):
            # GetDownloadUrlForLayer's URLs: no AWS auth (pre-signed), never logged or authorized.
            return ecr_ext.serve_blob(environ, start_response)
        if path.startswith(CONTROL_PREFIX):
            return self._handle_control(environ, start_response)
        self.call_log.record(environ)
        denied = self.iam.enforce(environ, start_response, self.moto_app)  # registered keys only
        if denied is not None:
            return denied
        if self.latency_s > 0:  # benchmark-only, see __init__
            time.sleep(self.latency_s)
        refusal = validate.check_request(environ)  # AWS's input validation (not CBOR: the bridge does it)
        if refusal is not None:
            return refusal.respond(start_response)
        tagging = tagging_ext.serve(environ, start_response)  # GetResources for ECS; else None
        if tagging is not None:
            return tagging
        if is_rpc_v2_cbor(environ):
            return self.cbor_bridge(environ, start_response)
        return self.moto_app(environ, start_response)

    # -- control endpoints --------------------------------------------------

    def _handle_control(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        path = environ["PATH_INFO"].rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        handler = self._control.get((method, path))
        if handler is None:
            known = [p for (_, p) in self._control if p == path]
            status = 405 if known else 404
            return json_response(start_response, status, {"error": f"no route {method} {path}"})
        status, document = handler(environ)
        return json_response(start_response, status, document)

    def _list_calls(self, environ: dict[str, Any]) -> tuple[int, Any]:
        params = query_params(environ)
        return 200, self.call_log.calls(params.get("access_key"), params.get("access_key_prefix"))

    def _reset_calls(self, environ: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"removed": self.call_log.reset(query_params(environ).get("access_key"))}

    def _set_clock(self, environ: dict[str, Any]) -> tuple[int, Any]:
        request, error = _json_object(environ)
        if error is not None:
            return 400, {"error": error}
        now = request.get("now")
        if now is not None and (isinstance(now, bool) or not isinstance(now, (int, float))):
            return 400, {"error": "now: epoch seconds (a number) or null for the wall clock"}
        clock.set_now(now)
        return 200, {"now": now}

    def _set_tagging_lag(self, environ: dict[str, Any]) -> tuple[int, Any]:
        request, error = _json_object(environ)
        if error is not None:
            return 400, {"error": error}
        try:
            return 200, tagging_ext.set_settings(request)
        except tagging_ext.SettingsError as failure:
            return 400, {"error": str(failure)}

    def _ecs_rollout(self, environ: dict[str, Any]) -> tuple[int, Any]:
        request, error = _json_object(environ)
        if error is not None:
            return 400, {"error": error}
        try:
            account_id, service = ecs_ext.force_rollout(request)
        except ecs_ext.RolloutError as failure:
            return failure.status, {"error": str(failure)}
        return 200, ecs_ext.describe_service_json(self.moto_app, account_id, service)

    def _ecs_short_arn(self, environ: dict[str, Any]) -> tuple[int, Any]:
        request, error = _json_object(environ)
        if error is not None:
            return 400, {"error": error}
        try:
            account_id, service = ecs_ext.make_short_arn(request)
        except ecs_ext.RolloutError as failure:
            return failure.status, {"error": str(failure)}
        return 200, ecs_ext.describe_service_json(self.moto_app, account_id, service)

    def _ecr_pushed_at(self, environ: dict[str, Any]) -> tuple[int, Any]:
        request, error = _json_object(environ)
        if error is not None:
            return 400, {"error": error}
        try:
            return 200, ecr_ext.set_pushed_at(request)
        except ecr_ext.PushedAtError as failure:
            return failure.status, {"error": str(failure)}

    def _ecr_image_status(self, environ: dict[str, Any]) -> tuple[int, Any]:
        request, error = _json_object(environ)
        if error is not None:
            return 400, {"error": error}
        try:
            return 200, ecr_ext.set_image_status(request)
        except ecr_ext.PushedAtError as failure:
            return failure.status, {"error": str(failure)}

    def _iam_register(self, environ: dict[str, Any]) -> tuple[int, Any]:
        request, error = _json_object(environ)
        return (400, {"error": error}) if error is not None else self.iam.register(request)

    def _iam_remove(self, environ: dict[str, Any]) -> tuple[int, Any]:
        return self.iam.remove(query_params(environ).get("access_key"))

    def _iam_decisions(self, environ: dict[str, Any]) -> tuple[int, Any]:
        return 200, self.iam.decisions(query_params(environ).get("access_key"))

    def _iam_reset(self, environ: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"removed": self.iam.reset(query_params(environ).get("access_key"))}


def _json_object(environ: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A control request's JSON object body, or the reason it is not one."""
    try:
        request = json.loads(read_body(environ) or b"null")
    except ValueError as error:
        return {}, f"body is not JSON: {error}"
    if not isinstance(request, dict):
        return {}, "body must be a JSON object"
    return request, None
