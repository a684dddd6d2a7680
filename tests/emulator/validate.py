"""Refuse what AWS refuses: input validation against the botocore service models.

moto checks little of what it is sent: an ECS tag value "v*", a service with 61
tags, an IAM role name with a space all go through, where AWS answers HTTP 400.
This module checks every SigV4-signed AWS request before moto sees it, with the
constraints of the operation's input shape in botocore's model of the service
(the same model the SDKs are generated from): required members, string length,
``pattern`` and enum, numeric ranges, list / map / blob sizes, recursively.
There is no hand-written list of rules; the few AWS limits that the models do
not carry are in one section below ("Documented limits"), each with its source.

How a request is read, by protocol:

* awsJson (``X-Amz-Target``: ECS, ECR, Logs, EventBridge, CodeBuild, SQS...):
  the JSON body as sent (``json.loads``), keyed by the members' JSON names;
* query / ec2 (``Action=``: IAM, STS, CloudWatch, EC2): the form and query
  parameters, read back into the input structure (``_QueryInput``);
* rest-json (Lambda...): the operation matched by moto's router, its URI,
  query, header and body members read by moto's rest-json parser;
* rpc-v2-cbor (CloudWatch, CodeBuild): checked by cbor_bridge.py on the decoded
  CBOR map, with ``check_params``;
* rest-xml (S3) is not checked (see README.md).

Unsigned requests and anything that cannot be read (a body that is not JSON, an
unknown operation...) pass through unchanged: moto answers them as before.

Patterns follow AWS's server side, not the letter of Smithy: a model pattern
must match the *whole* value (Java ``Matcher.matches()``), which is what AWS
does: IAM refuses the tag value "SourceIP: 1.2.3.4, UserAgent: ..." against the
unanchored ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`` (SWO-GS/auto-tag#90), which a
Smithy-style "found anywhere" search would accept. ``\\w``, ``\\d`` and ``\\s``
are ASCII-only, as in Java. Patterns Python's ``regex`` cannot compile, or that
use Java-only class syntax (nested ``[...[...]]``, ``&&``), are skipped and
reported once on stderr.

Errors come back the way the service words them, in its protocol: see
``_VALIDATION_ERROR_CODES`` and README.md.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import os
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape as xml_escape

import botocore.session
import regex
from botocore.model import OperationModel, ServiceModel, Shape

from wsgi_util import read_body, respond, sigv4_credential

# ============================================================================
# Error codes: what each service calls a request that fails model validation
# ============================================================================

# botocore service name -> error code, where it is not the protocol's default
# (ValidationException for JSON protocols, ValidationError for query and for
# query-compatible services). Sources in README.md ("Errors, by service").
_VALIDATION_ERROR_CODES = {
    # ECS's modeled client errors are ClientException / InvalidParameterException,
    # never ValidationException; ClientException is its answer to malformed
    # requests ("Tags can not be empty.", "Container list cannot be empty.").
    "ecs": "ClientException",
    # "Invalid parameter at 'repositoryName' failed to satisfy constraint: ..."
    "ecr": "InvalidParameterException",
    # "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy ..."
    "logs": "InvalidParameterException",
    # CodeBuild models InvalidInputException as its only input error.
    "codebuild": "InvalidInputException",
    # The Tagging API models InvalidParameterException as its only input error: "A provided
    # parameter value is out of range", "A required parameter is missing" (GetResources).
    "resourcegroupstaggingapi": "InvalidParameterException",
}

STATUS = 400


@dataclass
class Failure:
    """Why a request is refused: the service's error code and message."""

    code: str
    message: str
    status: int = STATUS


# ============================================================================
# Service models, looked up by SigV4 signing name
# ============================================================================

_session = botocore.session.get_session()
_loader = _session.get_component("data_loader")
_models_lock = threading.Lock()
_models: dict[str, ServiceModel] = {}
_available: set[str] | None = None
_signing_index: dict[str, list[str]] | None = None


def service_model(name: str) -> ServiceModel | None:
    """botocore's model of the service called ``name`` (cached), or None."""
    global _available
    model = _models.get(name)
    if model is not None:
        return model
    with _models_lock:
        if _available is None:
            _available = set(_loader.list_available_services("service-2"))
        if name not in _available:
            return None
        if name not in _models:
            _models[name] = _session.get_service_model(name)
        return _models[name]


def _signing_name(model: ServiceModel) -> str:
    return model.metadata.get("signingName") or model.metadata.get("endpointPrefix", "")


def _protocols(model: ServiceModel) -> list[str]:
    return list(model.metadata.get("protocols") or [model.metadata.get("protocol")])


def _declared_signing_name(name: str) -> str | None:
    """A service's signing name, read from the head of its model file only.

    The metadata comes first in botocore's service-2.json(.gz); reading it this
    way indexes all ~440 services in well under a second, where loading every
    model would take seconds.
    """
    version = _loader.determine_latest_version(name, "service-2")
    for base in _loader.search_paths:
        for file_name in ("service-2.json", "service-2.json.gz"):
            path = os.path.join(base, name, version, file_name)
            if not os.path.exists(path):
                continue
            opener: Any = gzip.open if file_name.endswith(".gz") else open
            with opener(path, "rb") as stream:
                head = stream.read(8192).decode("utf-8", "replace").split('"operations"', 1)[0]
            for key in ("signingName", "endpointPrefix"):
                found = regex.search(r'"%s"\s*:\s*"([^"]+)"' % key, head)
                if found:
                    return found.group(1)
            metadata = _loader.load_service_model(name, "service-2")["metadata"]
            return metadata.get("signingName") or metadata.get("endpointPrefix")
    return None


def _services_signing_as(signing_name: str) -> list[str]:
    """Every botocore service whose SigV4 signing name is ``signing_name``.

    Built once, on the first signing name that is not also a service name
    (``monitoring`` is CloudWatch's).
    """
    global _signing_index
    with _models_lock:
        if _signing_index is None:
            index: dict[str, list[str]] = {}
            for name in _loader.list_available_services("service-2"):
                declared = _declared_signing_name(name)
                if declared:
                    index.setdefault(declared, []).append(name)
            _signing_index = index
        return list(_signing_index.get(signing_name, []))


def find_service(signing_name: str, accept: Callable[[ServiceModel], bool]) -> ServiceModel | None:
    """The service a request signed for ``signing_name`` is meant for.

    Several services can share a signing name (``events``: EventBridge and
    EventBridge v2; ``lambda``...); ``accept`` picks the one whose protocol,
    target prefix or operations fit the request. The service named like the
    signing name is tried first, so the usual ones never need the full index.
    """
    direct = service_model(signing_name)
    if direct is not None and _signing_name(direct) == signing_name and accept(direct):
        return direct
    for name in _services_signing_as(signing_name):
        model = service_model(name)
        if model is not None and _signing_name(model) == signing_name and accept(model):
            return model
    return None


# ============================================================================
# Patterns
# ============================================================================

# Java's \w \d \s are ASCII-only; Python's are Unicode. (outside a class, inside)
_ASCII_SHORTHANDS = {
    "w": ("[A-Za-z0-9_]", "A-Za-z0-9_"),
    "d": ("[0-9]", "0-9"),
    "s": ("[ \\t\\n\\x0B\\f\\r]", " \\t\\n\\x0B\\f\\r"),
    "W": ("[^A-Za-z0-9_]", None),
    "D": ("[^0-9]", None),
    "S": ("[^ \\t\\n\\x0B\\f\\r]", None),
}


class _JavaOnlySyntax(ValueError):
    pass


# Java spells "any supplementary character" as a range of UTF-16 surrogate pairs.
_JAVA_SUPPLEMENTARY = "\\uD800\\uDC00-\\uDBFF\\uDFFF"


def _from_java(pattern: str) -> str:
    """A model pattern (Java / ECMA syntax) as a Python ``regex`` pattern."""
    pattern = pattern.replace(_JAVA_SUPPLEMENTARY, "\\U00010000-\\U0010FFFF")
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            i += 2
            if escaped == "x" and pattern.startswith("{", i) and "}" in pattern[i:]:
                end = pattern.index("}", i)  # Java's \x{hhhh}
                out.append("\\U%08X" % int(pattern[i + 1 : end], 16))
                i = end + 1
            elif escaped in _ASCII_SHORTHANDS:
                outside, inside = _ASCII_SHORTHANDS[escaped]
                if not in_class:
                    out.append(outside)
                elif inside is not None:
                    out.append(inside)
                    # "[\w-_]": Java reads the "-" after a shorthand as a literal.
                    if i < len(pattern) and pattern[i] == "-" and pattern[i + 1 : i + 2] != "]":
                        out.append("\\-")
                        i += 1
                else:
                    out.append("\\" + escaped)
            else:
                out.append("\\" + escaped)
            continue
        if in_class:
            if char == "[" or pattern.startswith("&&", i):
                raise _JavaOnlySyntax(pattern)  # union / intersection of classes
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            out.append(char)
            i += 1
            # "[]...]" and "[^]...]": a leading "]" is a literal.
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("\\]")
                i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


_patterns_lock = threading.Lock()
_patterns: dict[str, Any] = {}  # model pattern -> compiled regex, or None if skipped
SKIPPED_PATTERNS: dict[str, str] = {}  # model pattern -> why it is not checked


def _compiled(pattern: str) -> Any:
    try:
        return _patterns[pattern]
    except KeyError:
        pass
    with _patterns_lock:
        if pattern not in _patterns:
            try:
                _patterns[pattern] = regex.compile(_from_java(pattern))
            except (regex.error, _JavaOnlySyntax, ValueError) as error:
                _patterns[pattern] = None
                SKIPPED_PATTERNS[pattern] = f"{type(error).__name__}: {error}"
                print(f"validate.py: pattern not checked ({error}): {pattern}", file=sys.stderr)
        return _patterns[pattern]


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    if compiled is None:
        return True
    try:
        return compiled.fullmatch(value, timeout=1.0) is not None
    except TimeoutError:  # a pathological pattern/value pair: do not refuse on it
        return True


# ============================================================================
# Constraint nodes: each input shape compiled once into what has to be checked
# ============================================================================


class _Node:
    __slots__ = ()


class _Struct(_Node):
    # members: (member name, JSON name, EC2 query name, node or None)
    __slots__ = ("members", "required")

    def __init__(self) -> None:
        self.members: tuple[tuple[str, str, str, _Node | None], ...] = ()
        self.required: tuple[tuple[str, str, str], ...] = ()


class _String(_Node):
    __slots__ = ("min", "max", "pattern", "enum")

    def __init__(self, shape: Shape) -> None:
        self.min = shape.metadata.get("min")
        self.max = shape.metadata.get("max")
        self.pattern = shape.metadata.get("pattern")
        self.enum = list(shape.enum) if shape.enum else None


class _Number(_Node):
    __slots__ = ("min", "max")

    def __init__(self, shape: Shape) -> None:
        self.min = shape.metadata.get("min")
        self.max = shape.metadata.get("max")


class _Blob(_Node):
    __slots__ = ("min", "max")

    def __init__(self, shape: Shape) -> None:
        self.min = shape.metadata.get("min")
        self.max = shape.metadata.get("max")


class _List(_Node):
    __slots__ = ("min", "max", "member")

    def __init__(self, shape: Shape, member: _Node | None) -> None:
        self.min = shape.metadata.get("min")
        self.max = shape.metadata.get("max")
        self.member = member


class _Map(_Node):
    __slots__ = ("min", "max", "key", "value")

    def __init__(self, shape: Shape, key: _Node | None, value: _Node | None) -> None:
        self.min = shape.metadata.get("min")
        self.max = shape.metadata.get("max")
        self.key = key
        self.value = value


_NUMBER_TYPES = {"integer", "long", "short", "byte", "float", "double", "bigInteger", "bigDecimal"}


def _ec2_name(member: Shape, member_name: str) -> str:
    serialization = member.serialization
    if "queryName" in serialization:
        return serialization["queryName"]
    if "name" in serialization:
        return serialization["name"][0].upper() + serialization["name"][1:]
    return member_name


def _compile(shape: Shape, memo: dict[str, _Node | None]) -> _Node | None:
    """The checks ``shape`` needs, or None when there is nothing to check."""
    type_name = shape.type_name
    if type_name == "structure":
        if shape.is_document_type:
            return None
        if shape.name in memo:  # recursive shape: the node being built
            return memo[shape.name]
        node = _Struct()
        memo[shape.name] = node
        members = []
        for name, member in shape.members.items():
            json_name = member.serialization.get("name", name)
            members.append((name, json_name, _ec2_name(member, name), _compile(member, memo)))
        node.members = tuple(m for m in members if m[3] is not None)
        required = set(shape.required_members)
        node.required = tuple((m[0], m[1], m[2]) for m in members if m[0] in required)
        if not node.members and not node.required:
            memo[shape.name] = None
            return None
        return node
    metadata = shape.metadata
    bounded = "min" in metadata or "max" in metadata
    if type_name == "list":
        member = _compile(shape.member, memo)
        return _List(shape, member) if bounded or member is not None else None
    if type_name == "map":
        key, value = _compile(shape.key, memo), _compile(shape.value, memo)
        return _Map(shape, key, value) if bounded or key is not None or value is not None else None
    if type_name == "string":
        return _String(shape) if bounded or "pattern" in metadata or shape.enum else None
    if type_name in _NUMBER_TYPES:
        return _Number(shape) if bounded else None
    if type_name == "blob":
        return _Blob(shape) if bounded else None
    return None  # boolean, timestamp: nothing the models constrain


_nodes_lock = threading.Lock()
_nodes: dict[tuple[str, str], _Node | None] = {}


def _input_node(model: ServiceModel, operation: OperationModel) -> _Node | None:
    key = (model.service_name, operation.name)
    try:
        return _nodes[key]
    except KeyError:
        pass
    with _nodes_lock:
        if key not in _nodes:
            shape = operation.input_shape
            _nodes[key] = _compile(shape, {}) if shape is not None else None
        return _nodes[key]


# ============================================================================
# Walking a request against the nodes
# ============================================================================

# A path is a tuple of segments: ("m", member name, EC2 name) or ("i", index).
Path = tuple


@dataclass
class Violation:
    path: Path
    value: Any
    constraint: str  # Coral wording: "Member must ..."
    kind: str = "invalid"  # "missing" for a required member that is absent


@dataclass
class _Walk:
    keyed_by_json_name: bool  # awsJson bodies use JSON names, parsed requests member names
    blobs_base64: bool  # awsJson sends blobs as base64 strings
    violations: list[Violation] = field(default_factory=list)

    def add(self, path: Path, value: Any, constraint: str, kind: str = "invalid") -> None:
        self.violations.append(Violation(path, value, constraint, kind))

    def node(self, node: _Node, value: Any, path: Path) -> None:
        if isinstance(node, _Struct):
            self.structure(node, value, path)
        elif isinstance(node, _String):
            self.string(node, value, path)
        elif isinstance(node, _List):
            self.list(node, value, path)
        elif isinstance(node, _Map):
            self.map(node, value, path)
        elif isinstance(node, _Number):
            self.number(node, value, path)
        elif isinstance(node, _Blob):
            self.blob(node, value, path)

    def structure(self, node: _Struct, value: Any, path: Path) -> None:
        if not isinstance(value, dict):
            return  # a type error; not what this module checks
        json_keys = self.keyed_by_json_name
        for name, json_name, ec2_name in node.required:
            if value.get(json_name if json_keys else name) is None:
                self.add(path + (("m", name, ec2_name),), None, "Member must not be null", "missing")
        for name, json_name, ec2_name, child in node.members:
            item = value.get(json_name if json_keys else name)
            if item is not None:
                self.node(child, item, path + (("m", name, ec2_name),))

    def _length(self, node: Any, size: int, value: Any, path: Path) -> None:
        if node.max is not None and size > node.max:
            self.add(path, value, f"Member must have length less than or equal to {node.max}")
        if node.min is not None and size < node.min:
            self.add(path, value, f"Member must have length greater than or equal to {node.min}")

    def string(self, node: _String, value: Any, path: Path) -> None:
        if not isinstance(value, str):
            return
        # Smithy @length on strings counts characters (code points), as len() does.
        self._length(node, len(value), value, path)
        if node.enum is not None and value not in node.enum:
            self.add(path, value, f"Member must satisfy enum value set: [{', '.join(node.enum)}]")
        if node.pattern is not None and not _matches(node.pattern, value):
            self.add(path, value, f"Member must satisfy regular expression pattern: {node.pattern}")

    def number(self, node: _Number, value: Any, path: Path) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if node.max is not None and value > node.max:
            self.add(path, value, f"Member must have value less than or equal to {_number(node.max)}")
        if node.min is not None and value < node.min:
            self.add(path, value, f"Member must have value greater than or equal to {_number(node.min)}")

    def blob(self, node: _Blob, value: Any, path: Path) -> None:
        if isinstance(value, str) and self.blobs_base64:
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, (bytes, bytearray)):
            self._length(node, len(value), value, path)  # bytes, not characters

    def list(self, node: _List, value: Any, path: Path) -> None:
        if not isinstance(value, list):
            return
        self._length(node, len(value), value, path)
        if node.member is not None:
            for index, item in enumerate(value):
                if item is not None:
                    self.node(node.member, item, path + (("i", index),))

    def map(self, node: _Map, value: Any, path: Path) -> None:
        if not isinstance(value, dict):
            return
        self._length(node, len(value), value, path)
        # Coral reports a map's entries as one error each for keys and values,
        # naming all the constraints of the key (value) shape.
        for part, child, items in (("keys", node.key, value.keys()), ("value", node.value, value.values())):
            if child is None:
                continue
            inner = _Walk(self.keyed_by_json_name, self.blobs_base64)
            for item in items:
                if item is not None:
                    inner.node(child, item, path)
            if not inner.violations:
                continue
            if isinstance(child, (_Struct, _List, _Map)):
                self.violations.extend(inner.violations)
                continue
            constraints = ", ".join(_constraints_of(child))
            what = "Map keys must satisfy constraint" if part == "keys" else "Map value must satisfy constraint"
            self.add(path, value, f"{what}: [{constraints}]")


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _constraints_of(node: _Node) -> list[str]:
    """Every constraint of a scalar node, in Coral's words."""
    out = []
    if isinstance(node, (_String, _Blob)):
        if node.max is not None:
            out.append(f"Member must have length less than or equal to {node.max}")
        if node.min is not None:
            out.append(f"Member must have length greater than or equal to {node.min}")
    if isinstance(node, _String):
        if node.enum is not None:
            out.append(f"Member must satisfy enum value set: [{', '.join(node.enum)}]")
        if node.pattern is not None:
            out.append(f"Member must satisfy regular expression pattern: {node.pattern}")
    if isinstance(node, _Number):
        if node.max is not None:
            out.append(f"Member must have value less than or equal to {_number(node.max)}")
        if node.min is not None:
            out.append(f"Member must have value greater than or equal to {_number(node.min)}")
    return out


def model_violations(
    model: ServiceModel,
    operation: OperationModel,
    params: dict[str, Any],
    keyed_by_json_name: bool = False,
    blobs_base64: bool = False,
) -> list[Violation]:
    """Every way ``params`` breaks the constraints of the operation's input shape."""
    node = _input_node(model, operation)
    if node is None:
        return []
    walk = _Walk(keyed_by_json_name, blobs_base64)
    walk.node(node, params, ())
    return walk.violations


# ============================================================================
# Messages, in the service's words
# ============================================================================


def _coral_path(path: Path) -> str:
    """Coral's member path: "tags.1.member.value" (1-based, lowerCamel names)."""
    parts: list[str] = []
    for segment in path:
        if segment[0] == "m":
            name = segment[1]
            parts.append(name[:1].lower() + name[1:])
        else:
            parts.extend((str(segment[1] + 1), "member"))
    return ".".join(parts)


def _ec2_path(path: Path) -> str:
    """EC2's parameter name: "TagSpecification.1.Tag.1.Value"."""
    return ".".join(segment[2] if segment[0] == "m" else str(segment[1] + 1) for segment in path)


def _java_string(value: Any) -> str:
    """Roughly how Java's toString shows a value in Coral's messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list):
        return "[" + ", ".join(_java_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java_string(k)}={_java_string(v)}" for k, v in value.items()) + "}"
    return _number(value) if isinstance(value, float) else str(value)


def _coral_message(violations: list[Violation]) -> str:
    count = len(violations)
    described = []
    for v in violations:
        value = "null" if v.value is None else f"'{_java_string(v.value)}'"
        described.append(f"Value {value} at '{_coral_path(v.path)}' failed to satisfy constraint: {v.constraint}")
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(described)


def _ecr_message(violations: list[Violation]) -> str:
    """ECR's wording: "Invalid parameter at 'repositoryName' failed to satisfy
    constraint: 'must satisfy regular expression '[a-z0-9]+...''"."""
    described = []
    for v in violations:
        constraint = v.constraint.removeprefix("Member ")
        pattern_prefix = "must satisfy regular expression pattern: "
        if constraint.startswith(pattern_prefix):
            constraint = f"must satisfy regular expression '{constraint[len(pattern_prefix):]}'"
        described.append(f"Invalid parameter at '{_coral_path(v.path)}' failed to satisfy constraint: '{constraint}'")
    return "; ".join(described)


def _ec2_failure(violations: list[Violation]) -> Failure:
    missing = [v for v in violations if v.kind == "missing"]
    if missing:
        return Failure("MissingParameter", f"The request must contain the parameter {_ec2_path(missing[0].path)}")
    v = violations[0]
    return Failure(
        "InvalidParameterValue",
        f"Value ({_java_string(v.value)}) for parameter {_ec2_path(v.path)} is invalid. "
        f"{v.constraint.replace('Member must', 'It must')}.",
    )


def _failure(model: ServiceModel, violations: list[Violation], protocol: str) -> Failure:
    name = model.service_name
    if name == "ec2" or protocol == "ec2":
        return _ec2_failure(violations)
    if name == "ecr":
        return Failure(_VALIDATION_ERROR_CODES["ecr"], _ecr_message(violations))
    code = _VALIDATION_ERROR_CODES.get(name)
    if code is None:
        query_like = protocol == "query" or "awsQueryCompatible" in model.metadata
        code = "ValidationError" if query_like else "ValidationException"
    return Failure(code, _coral_message(violations))


# ============================================================================
# Documented limits that the models do not carry
# ============================================================================
#
# One function per limit, each with the AWS page that states it. These run after
# the model checks pass, on the request as sent. Limits that depend on what a
# resource already has (tags after a TagResource merge, tags on an image) live
# with the moto patches: ecs_ext.ECS_MAX_TAGS_PER_RESOURCE,
# ecr_ext.ECR_MAX_TAGS_PER_REPOSITORY, ecr_ext.ECR_MAX_TAGS_PER_IMAGE,
# logs_ext.LOGS_MAX_TAGS_PER_RESOURCE, iam_ext.IAM_MAX_TAGS_PER_ROLE.

RESERVED_TAG_PREFIX = "aws:"


def is_reserved_tag_key(key: Any) -> bool:
    """Tag keys starting with aws: (any case) are AWS's own."""
    return isinstance(key, str) and key[: len(RESERVED_TAG_PREFIX)].lower() == RESERVED_TAG_PREFIX


def _tag_keys(params: dict[str, Any], key_name: str) -> Iterable[Any]:
    tags = params.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict):
                yield tag.get(key_name)
    tag_keys = params.get("tagKeys")
    if isinstance(tag_keys, list):
        yield from tag_keys


# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TagResource.html
# (also CreateService, CreateCluster, RegisterTaskDefinition, RunTask... "tags"):
# "Do not use aws:, AWS:, or any upper or lowercase combination of such as a
# prefix for either keys or values as it is reserved for AWS use. You cannot
# edit or delete tag keys or values with this prefix."  Checked for keys (writes
# and UntagResource); values are not checked, see README.md.
def _ecs_reserved_tag_keys(operation: str, params: dict[str, Any], body: bytes | None) -> Failure | None:
    for key in _tag_keys(params, "key"):
        if is_reserved_tag_key(key):
            return Failure(
                "InvalidParameterException",
                f"Invalid tag key '{key}': the aws: prefix is reserved for AWS use and cannot be "
                "added, edited or removed.",
            )
    return None


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html
# "Task definition size: 64 KiB" (the JSON of RegisterTaskDefinition); ECS says
# "Actual length: '66420'. Max allowed length is '65536' bytes." (ClientException,
# awsdocs/amazon-ecs-developer-guide#149).
ECS_MAX_TASK_DEFINITION_BYTES = 64 * 1024
# Same page: "Containers per task definition: 10"; ECS says "Too many containers."
# (ClientException, aws/amazon-ecs-cli#184).
ECS_MAX_CONTAINERS_PER_TASK_DEFINITION = 10


def _ecs_register_task_definition(operation: str, params: dict[str, Any], body: bytes | None) -> Failure | None:
    if operation != "RegisterTaskDefinition":
        return None
    # The task definition's size, not the request's bytes: clients escape differently
    # (botocore writes each non-ASCII character as a 6-byte \uXXXX, the Rust SDK as UTF-8),
    # so the same definition is measured as compact UTF-8 JSON whoever sent it.
    size = len(json.dumps(params, separators=(",", ":"), ensure_ascii=False).encode())
    if size > ECS_MAX_TASK_DEFINITION_BYTES:
        return Failure(
            "ClientException", f"Actual length: '{size}'. Max allowed length is '{ECS_MAX_TASK_DEFINITION_BYTES}' bytes."
        )
    containers = params.get("containerDefinitions")
    if isinstance(containers, list) and len(containers) > ECS_MAX_CONTAINERS_PER_TASK_DEFINITION:
        return Failure("ClientException", "Too many containers.")
    # An empty "tags": [] is refused though the model allows 0 items: "ClientException:
    # Tags can not be empty." (fabfuel/ecs-deploy#146, kayac/ecspresso#296).
    if params.get("tags") == []:
        return Failure("ClientException", "Tags can not be empty.")
    return None


# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html
# services: "A list of services to describe. You may specify up to 10 services to
# describe in a single operation." ECS says "InvalidParameterException: service
# names can have at most 10 items." (panther-labs/panther#1526).
ECS_MAX_DESCRIBE_SERVICES = 10


def _ecs_describe_services(operation: str, params: dict[str, Any], body: bytes | None) -> Failure | None:
    services = params.get("services")
    if operation == "DescribeServices" and isinstance(services, list) and len(services) > ECS_MAX_DESCRIBE_SERVICES:
        return Failure("InvalidParameterException", f"service names can have at most {ECS_MAX_DESCRIBE_SERVICES} items.")
    return None


# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_TagResource.html
# (and CreateRepository "tags"): "Tag keys can have a maximum character length of
# 128 characters, and tag values can have a maximum length of 256 characters."
# (InvalidTagParameterException); "The maximum number of tags that can be applied
# to a repository is 50." (TooManyTagsException). The ECR model has no limits on
# its Tag shapes. aws: keys are reserved as for every service's tags:
# https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html
# ("You can't edit or delete tag keys or values with this prefix").
ECR_MAX_TAG_KEY_LENGTH = 128
ECR_MAX_TAG_VALUE_LENGTH = 256
ECR_MAX_TAGS_PER_REQUEST = 50
_ECR_BAD_TAG = (
    "An invalid parameter has been specified. Tag keys can have a maximum character length of 128 "
    "characters, and tag values can have a maximum length of 256 characters."
)


def _ecr_tags(operation: str, params: dict[str, Any], body: bytes | None) -> Failure | None:
    tags = params.get("tags")
    if isinstance(tags, list):
        if len(tags) > ECR_MAX_TAGS_PER_REQUEST:
            return Failure(
                "TooManyTagsException",
                "The list of tags on the repository is over the limit. The maximum number of tags "
                f"that can be applied to a repository is {ECR_MAX_TAGS_PER_REQUEST}.",
            )
        for tag in tags:
            if not isinstance(tag, dict):
                continue
            key, value = tag.get("Key"), tag.get("Value")
            if (isinstance(key, str) and len(key) > ECR_MAX_TAG_KEY_LENGTH) or (
                isinstance(value, str) and len(value) > ECR_MAX_TAG_VALUE_LENGTH
            ):
                return Failure("InvalidTagParameterException", _ECR_BAD_TAG)
    for key in _tag_keys(params, "Key"):
        if is_reserved_tag_key(key):
            return Failure(
                "InvalidTagParameterException",
                f"Invalid tag key '{key}': the aws: prefix is reserved for AWS use.",
            )
    return None


# botocore service name -> the limit checks for its operations.
# ECR image tags: the model's ImageTag has only a length (1-300), but ECR refuses other
# characters: "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy
# regular expression '[a-zA-Z0-9-_.]+''" (InvalidParameterException, quoted in
# alexjurkiewicz/ecr-scan-image#40). Docker and OCI tags are a subset of it.
_ECR_IMAGE_TAG = regex.compile(r"[a-zA-Z0-9\-_.]+")


def _ecr_image_tags(operation: str, params: dict[str, Any], body: bytes | None) -> Failure | None:
    tags = [params.get("imageTag")] if operation == "PutImage" else []
    if operation == "BatchGetImage" or operation == "BatchDeleteImage" or operation == "DescribeImages":
        tags = [i.get("imageTag") for i in params.get("imageIds") or [] if isinstance(i, dict)]
    if operation == "UpdateImageStorageClass" and isinstance(params.get("imageId"), dict):
        tags = [params["imageId"].get("imageTag")]
    for tag in tags:
        if isinstance(tag, str) and not _ECR_IMAGE_TAG.fullmatch(tag):
            return Failure(
                "InvalidParameterException",
                "Invalid parameter at 'imageTag' failed to satisfy constraint: "
                "'must satisfy regular expression '[a-zA-Z0-9-_.]+''",
            )
    return None


# Resource Groups Tagging API, GetResources (API reference and botocore's model, GetResourcesInput;
# https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html).
# The model carries TagFilters' 50 keys and 20 values per key, not these:
# * ResourcesPerPage: "You can specify a minimum of 1 and a maximum value of 100."
# * TagsPerPage: "You can set TagsPerPage to a minimum of 100 items up to a maximum of 500 items."
# * ResourceTypeFilters: "The array can include up to 100 items."
# * TagFilters: "Each TagFilter must contain a key with values optional."
# * ResourceARNList: "You can't specify both this parameter and the ResourceTypeFilters [/ the
#   TagFilters / any of the pagination parameters (ResourcesPerPage, TagsPerPage,
#   PaginationToken)] parameter in the same request. If you do, you get an Invalid Parameter
#   exception."
# Messages: Coral's wording for the ranges (as the model checks give it); ours for the
# ResourceARNList combinations (AWS's text not captured).
TAGGING_RESOURCES_PER_PAGE = (1, 100)
TAGGING_TAGS_PER_PAGE = (100, 500)
TAGGING_MAX_RESOURCE_TYPE_FILTERS = 100
_TAGGING_EXCLUSIVE_WITH_ARN_LIST = (
    "TagFilters", "ResourceTypeFilters", "ResourcesPerPage", "TagsPerPage", "PaginationToken",
)


def _tagging_get_resources(operation: str, params: dict[str, Any], body: bytes | None) -> Failure | None:
    if operation != "GetResources":
        return None
    violations = []
    for name, (low, high) in (("ResourcesPerPage", TAGGING_RESOURCES_PER_PAGE), ("TagsPerPage", TAGGING_TAGS_PER_PAGE)):
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        path = (("m", name, name),)
        if value > high:
            violations.append(Violation(path, value, f"Member must have value less than or equal to {high}"))
        if value < low:
            violations.append(Violation(path, value, f"Member must have value greater than or equal to {low}"))
    types = params.get("ResourceTypeFilters")
    if isinstance(types, list) and len(types) > TAGGING_MAX_RESOURCE_TYPE_FILTERS:
        violations.append(Violation(
            (("m", "ResourceTypeFilters", "ResourceTypeFilters"),), types,
            f"Member must have length less than or equal to {TAGGING_MAX_RESOURCE_TYPE_FILTERS}",
        ))
    filters = params.get("TagFilters")
    for index, tag_filter in enumerate(filters if isinstance(filters, list) else []):
        if isinstance(tag_filter, dict) and tag_filter.get("Key") is None:
            violations.append(Violation(
                (("m", "TagFilters", "TagFilters"), ("i", index), ("m", "Key", "Key")), None,
                "Member must not be null", "missing",
            ))
    if violations:
        return Failure("InvalidParameterException", _coral_message(violations))
    if params.get("ResourceARNList") is not None:
        combined = [name for name in _TAGGING_EXCLUSIVE_WITH_ARN_LIST if params.get(name) not in (None, "", [])]
        if combined:
            return Failure(
                "InvalidParameterException",
                f"ResourceARNList cannot be specified together with {', '.join(combined)}. "
                "Specify either ResourceARNList, or filters and pagination parameters.",
            )
    return None


_LIMITS: dict[str, tuple[Callable[[str, dict[str, Any], bytes | None], Failure | None], ...]] = {
    "ecs": (_ecs_register_task_definition, _ecs_describe_services, _ecs_reserved_tag_keys),
    "ecr": (_ecr_tags, _ecr_image_tags),
    "resourcegroupstaggingapi": (_tagging_get_resources,),
}


# ============================================================================
# Entry points
# ============================================================================


def check_params(
    model: ServiceModel,
    operation: OperationModel,
    params: dict[str, Any],
    protocol: str,
    body: bytes | None = None,
) -> Failure | None:
    """Why AWS would refuse ``params`` for ``operation``, or None if it would not.

    ``params`` are keyed by JSON names (and blobs base64) for protocol "json",
    by member names otherwise (as botocore / moto parsers and CBOR give them).
    """
    as_json = protocol == "json"
    violations = model_violations(
        model, operation, params, keyed_by_json_name=as_json, blobs_base64=protocol in ("json", "query", "ec2")
    )
    if violations:
        return _failure(model, violations, protocol)
    for limit in _LIMITS.get(model.service_name, ()):
        failure = limit(operation.name, params, body)
        if failure is not None:
            return failure
    return None


@dataclass
class Refusal:
    """An AWS error answer, ready to be sent instead of moto's."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def respond(self, start_response: Callable[..., Any]) -> list[bytes]:
        return respond(start_response, self.status, self.body, self.headers)


def _render(failure: Failure, model: ServiceModel, protocol: str, environ: dict[str, Any]) -> Refusal:
    """``failure`` as the service sends errors over ``protocol``."""
    request_id = str(uuid.uuid4())
    code, message = failure.code, failure.message
    if protocol in ("json", "rest-json"):
        headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)]
        if protocol == "json":
            content_type = environ.get("CONTENT_TYPE") or ""
            if not content_type.startswith("application/x-amz-json"):
                content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.1')}"
            document: dict[str, Any] = {"__type": code, "message": message}
        else:
            content_type = "application/json"
            document = {"Type": "User", "message": message}
        if "awsQueryCompatible" in model.metadata:
            headers.append(("x-amzn-query-error", f"{code};Sender"))
        headers.append(("Content-Type", content_type))
        return Refusal(failure.status, headers, json.dumps(document).encode())
    text_message = xml_escape(message)
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{text_message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        namespace = model.metadata.get("xmlNamespace") or ""
        xmlns = f' xmlns="{namespace}"' if namespace else ""
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{text_message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers = [("x-amzn-RequestId", request_id), ("Content-Type", "text/xml")]
    return Refusal(failure.status, headers, body.encode())


@dataclass
class _Request:
    model: ServiceModel
    operation: OperationModel
    protocol: str  # "json", "query", "ec2", "rest-json"
    params: dict[str, Any]
    body: bytes | None


def _form_params(environ: dict[str, Any]) -> dict[str, str]:
    """Query-string and form parameters (first value of each)."""
    params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
    if (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(read_body(environ).decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})
    return params


_ABSENT = object()


class _QueryInput:
    """The input structure of a query / ec2 request, from its flat parameters.

    ``Tags.member.1.Key=k`` (query) or ``TagSpecification.1.Tag.1.Key=k`` (ec2)
    become nested dicts and lists keyed by member names, as the SDKs'
    serializers wrote them. Scalars stay strings, except numbers and booleans.
    """

    def __init__(self, values: dict[str, str], ec2: bool) -> None:
        self.values = values
        self.ec2 = ec2
        # Every dotted prefix of every parameter, to tell absent members quickly.
        self.prefixes: set[str] = set()
        for key in values:
            parts = key.split(".")
            for end in range(1, len(parts) + 1):
                self.prefixes.add(".".join(parts[:end]))

    def name(self, shape: Shape, default: str) -> str:
        serialization = shape.serialization
        if self.ec2:
            if "queryName" in serialization:
                return serialization["queryName"]
            if "name" in serialization:
                return serialization["name"][0].upper() + serialization["name"][1:]
            return default
        return serialization.get("name", default)

    def read(self, shape: Shape, prefix: str) -> Any:
        if prefix and prefix not in self.prefixes:
            return _ABSENT
        type_name = shape.type_name
        if type_name == "structure":
            result = {}
            for member_name, member in shape.members.items():
                key = self.name(member, member_name)
                value = self.read(member, f"{prefix}.{key}" if prefix else key)
                if value is not _ABSENT:
                    result[member_name] = value
            return result
        if type_name == "list":
            if self.values.get(prefix) == "":
                return []  # an empty list is sent as "Name="
            if self.ec2:
                item_prefix = prefix
            elif shape.serialization.get("flattened"):
                item_prefix = prefix
                item_name = shape.member.serialization.get("name")
                if item_name:
                    item_prefix = ".".join(prefix.split(".")[:-1] + [item_name])
            else:
                item_prefix = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
            items = []
            while True:
                item = self.read(shape.member, f"{item_prefix}.{len(items) + 1}")
                if item is _ABSENT:
                    return items
                items.append(item)
        if type_name == "map":
            entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
            key_name = shape.key.serialization.get("name", "key")
            value_name = shape.value.serialization.get("name", "value")
            result = {}
            index = 1
            while True:
                key = self.read(shape.key, f"{entries}.{index}.{key_name}")
                if key is _ABSENT:
                    return result
                value = self.read(shape.value, f"{entries}.{index}.{value_name}")
                result[key] = None if value is _ABSENT else value
                index += 1
        value = self.values.get(prefix, _ABSENT)
        if value is _ABSENT:
            return _ABSENT
        try:
            if type_name in ("integer", "long", "short", "byte"):
                return int(value)
            if type_name in ("float", "double"):
                return float(value)
        except ValueError:
            return value  # not a number: left to moto, not range-checked here
        if type_name == "boolean":
            return value.lower() == "true"
        return value


def _read_request(environ: dict[str, Any], signing_name: str) -> _Request | None:
    """Which service and operation a request is for, and its input, or None."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # awsJson
        prefix, _, name = target.rpartition(".")
        model = find_service(
            signing_name,
            lambda m: m.metadata.get("targetPrefix") == prefix and name in m.operation_names,
        )
        if model is None:
            return None
        body = read_body(environ)
        params = json.loads(body) if body.strip() else {}
        if not isinstance(params, dict):
            return None
        return _Request(model, model.operation_model(name), "json", params, body)

    form = _form_params(environ)
    action = form.get("Action")
    if action:  # query / ec2
        model = find_service(
            signing_name,
            lambda m: bool({"query", "ec2"} & set(_protocols(m))) and action in m.operation_names,
        )
        if model is None:
            return None
        protocol = "ec2" if "ec2" in _protocols(model) else "query"
        operation = model.operation_model(action)
        params = {}
        if operation.input_shape is not None:
            params = _QueryInput(form, protocol == "ec2").read(operation.input_shape, "")
        return _Request(model, operation, protocol, params, None)

    # REST: rest-json only (S3's rest-xml is not checked, see README.md).
    model = find_service(signing_name, lambda m: "rest-json" in _protocols(m))
    if model is None:
        return None
    # moto's router and parser find the operation and read its members.
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import Request
    from moto.core.routing import get_service_router
    from werkzeug.exceptions import NotFound

    body = read_body(environ)
    copy = dict(environ)
    copy["wsgi.input"] = io.BytesIO(body)
    request = Request(copy)
    try:
        operation, url_params = get_service_router(model.service_name).match(request)
    except (NotFound, NotImplementedError):
        return None
    parsed = PROTOCOL_PARSERS["rest-json"](operation).parse(
        {
            "body": body,
            "headers": request.headers,
            "method": request.method,
            "url_params": url_params,
            "url_path": request.path,
            "values": request.args,
        }
    )
    return _Request(model, operation, "rest-json", parsed, body)


_reported_lock = threading.Lock()
_reported: set[str] = set()


def check_request(environ: dict[str, Any]) -> Refusal | None:
    """AWS's error answer to this request if AWS would refuse it, else None.

    Only SigV4-signed AWS calls are checked; rpc-v2-cbor calls are checked by
    the CBOR bridge. Anything this module cannot read passes (moto answers).
    """
    credential = sigv4_credential(environ)
    if credential is None or environ.get("HTTP_SMITHY_PROTOCOL"):
        return None  # unsigned, or rpc-v2-cbor (cbor_bridge.py checks those itself)
    try:
        request = _read_request(environ, credential.service)
        if request is None:
            return None
        failure = check_params(request.model, request.operation, request.params, request.protocol, request.body)
    except Exception as error:  # a request this module cannot read: let moto answer it
        what = f"{credential.service} {environ.get('HTTP_X_AMZ_TARGET') or environ.get('PATH_INFO')}"
        with _reported_lock:
            first = what not in _reported
            _reported.add(what)
        if first and not isinstance(error, (ValueError, KeyError)):
            print(f"validate.py: not checked ({what}): {error!r}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
        return None
    if failure is None:
        return None
    return _render(failure, request.model, request.protocol, environ)
