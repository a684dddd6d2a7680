"""Serve Smithy RPC v2 CBOR requests for services moto only speaks query/JSON.

Current AWS SDKs (aws-sdk-rust's CloudWatch, and botocore itself for
CloudWatch and CodeBuild) call these services with the rpcv2Cbor protocol::

    POST /service/GraniteServiceVersion20100801/operation/DescribeAlarms
    smithy-protocol: rpc-v2-cbor
    Content-Type: application/cbor        (absent when the body is empty)
    <CBOR map of the input structure>

moto 5.2.5 has no route for that path and answers 404 (getmoto/moto#9195).
The bridge translates each call with botocore's own model of the service,
so no operation is special-cased:

1. decode the CBOR body (empty body = empty input) into a parameter dict, and
   refuse it as AWS would if it breaks the model's constraints (validate.py);
2. serialize it with botocore's serializer for a protocol moto does serve
   (query for CloudWatch, awsJson for CodeBuild) and run that request through
   the wrapped moto app in-process, keeping the Authorization header so moto
   picks the right service, region and account;
3. parse moto's answer with botocore's parser for that protocol;
4. encode the result as CBOR guided by the output shape (timestamps as tag 1
   with float epoch seconds, blobs as byte strings, numbers by their model
   type), or, for errors, as ``{"__type", "message"}`` with the HTTP status kept.

Spec: https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html
"""

from __future__ import annotations

import calendar
import gzip
import re
import sys
import threading
import traceback
import uuid
from datetime import datetime
from typing import Any, Callable

import botocore.session
import cbor2
from botocore.awsrequest import HeadersDict
from botocore.model import OperationModel, OperationNotFoundError, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence

import validate
from wsgi_util import WSGIApp, call_app, read_body, replace_body, respond

RPC_V2_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")

# Smithy service name (the path segment, botocore's "targetPrefix") -> botocore
# service name, for the services moto serves but current SDKs call over CBOR.
RPC_V2_SERVICES = {
    "GraniteServiceVersion20100801": "cloudwatch",
    "CodeBuild_20161006": "codebuild",
}

# Protocols moto answers, in order of preference for the forwarded request.
# moto's CloudWatch is most complete over query, so query comes first.
BACKEND_PROTOCOLS = ("query", "json")

# Request headers that belong to the CBOR call and must not reach moto.
_CBOR_ONLY_HEADERS = (
    "HTTP_SMITHY_PROTOCOL",
    "HTTP_ACCEPT",
    "HTTP_CONTENT_ENCODING",
    "HTTP_X_AMZN_QUERY_MODE",
    "HTTP_X_AMZ_TARGET",
)

_INTEGER_TYPES = {"integer", "long", "short", "byte"}
_FLOAT_TYPES = {"float", "double"}


class BridgeError(Exception):
    """A request the bridge itself rejects (before moto sees it)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def is_rpc_v2_cbor(environ: dict[str, Any]) -> bool:
    """True for an rpcv2Cbor call to one of the bridged services."""
    match = RPC_V2_PATH.match(environ.get("PATH_INFO", ""))
    return (
        match is not None
        and match["service"] in RPC_V2_SERVICES
        and environ.get("REQUEST_METHOD") == "POST"
    )


def _epoch_seconds(value: datetime) -> float:
    if value.tzinfo is None:  # botocore's parsers return aware datetimes; be safe
        return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
    return value.timestamp()


def encode_shape(shape: Shape, value: Any) -> Any:
    """Turn a botocore-parsed value into what cbor2 should encode for ``shape``.

    The model decides the CBOR type: clients such as aws-smithy-cbor are
    strict (a double member must be a CBOR float, a timestamp must be tag 1).
    """
    type_name = shape.type_name
    if type_name == "structure":
        return {
            name: encode_shape(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if type_name == "list":
        return [encode_shape(shape.member, item) for item in value]
    if type_name == "map":
        return {key: encode_shape(shape.value, item) for key, item in value.items()}
    if type_name == "timestamp":
        return cbor2.CBORTag(1, float(_epoch_seconds(value)))
    if type_name == "blob":
        return value.encode() if isinstance(value, str) else bytes(value)
    if type_name in _INTEGER_TYPES:
        return int(value)
    if type_name in _FLOAT_TYPES:
        return float(value)
    if type_name == "boolean":
        return bool(value)
    return value


def _drop_nulls(value: Any) -> Any:
    """CBOR null means "absent" for the members botocore serializes."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


class CborBridge:
    """WSGI app answering rpcv2Cbor calls by forwarding them to ``moto_app``."""

    def __init__(self, moto_app: WSGIApp) -> None:
        self._moto_app = moto_app
        self._session = botocore.session.get_session()
        self._models: dict[str, ServiceModel] = {}
        self._lock = threading.Lock()

    def _service_model(self, smithy_name: str) -> ServiceModel:
        with self._lock:
            if smithy_name not in self._models:
                model = self._session.get_service_model(RPC_V2_SERVICES[smithy_name])
                assert model.metadata.get("targetPrefix") == smithy_name, smithy_name
                self._models[smithy_name] = model
            return self._models[smithy_name]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        match = RPC_V2_PATH.match(environ["PATH_INFO"])
        assert match is not None
        service_model = self._service_model(match["service"])
        try:
            try:
                operation = service_model.operation_model(match["operation"])
            except OperationNotFoundError:
                raise BridgeError(
                    404, "UnknownOperationException", f"unknown operation {match['operation']}"
                )
            return self._forward(environ, start_response, service_model, operation)
        except BridgeError as error:
            return self._error(start_response, error.status, error.code, str(error), {})
        except Exception as error:  # a bridge bug or an answer it cannot parse
            traceback.print_exc(file=sys.stderr)
            return self._error(
                start_response, 500, "InternalFailure", f"rollgate cbor bridge: {error!r}", {}
            )

    def _decode_input(self, environ: dict[str, Any]) -> dict[str, Any]:
        body = read_body(environ)
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            body = gzip.decompress(body)  # CloudWatch PutMetricData may compress
        if not body:
            return {}  # operations without input send no body at all
        try:
            params = cbor2.loads(body)
        except cbor2.CBORDecodeError as error:
            raise BridgeError(400, "SerializationException", f"invalid CBOR body: {error}")
        if not isinstance(params, dict):
            raise BridgeError(400, "SerializationException", "CBOR body is not a map")
        return _drop_nulls(params)

    def _forward(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        service_model: ServiceModel,
        operation: OperationModel,
    ) -> list[bytes]:
        params = self._decode_input(environ)
        # Refused as AWS would (validate.py), before moto sees it, through the
        # same error path as moto's own errors.
        failure = validate.check_params(service_model, operation, params, "smithy-rpc-v2-cbor")
        if failure is not None:
            error = {"Error": {"Code": failure.code, "Message": failure.message, "Type": "Sender"}}
            return self._moto_error(
                start_response, failure.status, error, service_model, operation, str(uuid.uuid4())
            )
        protocols = service_model.metadata.get("protocols", [])
        protocol = next(p for p in BACKEND_PROTOCOLS if p in protocols)

        request = create_serializer(protocol, include_validation=False).serialize_to_request(
            params, operation
        )
        body = request["body"]
        if isinstance(body, dict):  # query protocol: form parameters
            body = percent_encode_sequence(body).encode()

        forwarded = dict(environ)
        for key in _CBOR_ONLY_HEADERS:
            forwarded.pop(key, None)
        forwarded["REQUEST_METHOD"] = "POST"
        forwarded["PATH_INFO"] = request["url_path"]
        forwarded["QUERY_STRING"] = percent_encode_sequence(request["query_string"] or {})
        for name, value in request["headers"].items():
            if name.lower() == "content-type":
                forwarded["CONTENT_TYPE"] = value
            else:
                forwarded["HTTP_" + name.upper().replace("-", "_")] = value
        replace_body(forwarded, body)

        reply = call_app(self._moto_app, forwarded)
        parsed = create_parser(protocol).parse(
            {"status_code": reply.status, "headers": HeadersDict(reply.headers), "body": reply.body},
            operation.output_shape,
        )
        request_id = (
            reply.headers.get("x-amzn-requestid")
            or reply.headers.get("x-amz-request-id")
            or str(uuid.uuid4())
        )
        if reply.status >= 300:
            return self._moto_error(
                start_response, reply.status, parsed, service_model, operation, request_id
            )

        headers = {"smithy-protocol": "rpc-v2-cbor", "x-amzn-requestid": request_id}
        if operation.output_shape is None:
            # Operations without output answer with an empty body, no Content-Type.
            return respond(start_response, reply.status, b"", headers.items())
        headers["Content-Type"] = "application/cbor"
        payload = cbor2.dumps(encode_shape(operation.output_shape, parsed))
        return respond(start_response, reply.status, payload, headers.items())

    def _moto_error(
        self,
        start_response: Callable[..., Any],
        status: int,
        parsed: dict[str, Any],
        service_model: ServiceModel,
        operation: OperationModel,
        request_id: str,
    ) -> list[bytes]:
        error = parsed.get("Error", {})
        code = error.get("Code") or str(status)
        message = error.get("Message", "")
        headers = {"x-amzn-requestid": request_id}
        type_name = code
        if "awsQueryCompatible" in service_model.metadata:
            # As AWS does for services that moved off awsQuery: __type names the
            # modeled error shape, x-amzn-query-error carries the query code
            # ("ResourceNotFound;Sender"), which SDKs report as the error code.
            fault = error.get("Type") or ("Receiver" if status >= 500 else "Sender")
            headers["x-amzn-query-error"] = f"{code};{fault}"
            type_name = next(
                (
                    shape.name
                    for shape in operation.error_shapes
                    if shape.metadata.get("error", {}).get("code", shape.name) == code
                ),
                code,
            )
        return self._error(start_response, status, type_name, message, headers)

    @staticmethod
    def _error(
        start_response: Callable[..., Any],
        status: int,
        type_name: str,
        message: str,
        headers: dict[str, str],
    ) -> list[bytes]:
        body = cbor2.dumps({"__type": type_name, "message": message})
        all_headers = {
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": "application/cbor",
            **headers,
        }
        return respond(start_response, status, body, all_headers.items())
