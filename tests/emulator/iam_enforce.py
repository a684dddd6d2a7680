"""IAM enforcement for chosen access keys: each request is authorized as AWS would.

Tests register a *principal* per access key (the identity-based policy the template
gives one function); every request signed with that key is then authorized against
those statements before moto sees it, and answered with the service's own
access-denied error when AWS would refuse it. Keys never registered are not
evaluated at all. See README.md ("IAM") for the contract and how far it goes.

The parts, in order:

* policy language: patterns (``*``/``?`` globs, policy variables), ARN matching,
  condition operators, statements, and the evaluation (explicit Deny wins, then
  any Allow, else implicit deny);
* the request: protocol, operation and parameters, from the wire;
* the authorizations a request needs (``Check``): the action, the resource ARN and
  the condition context, per service and operation, including the implicit ones
  AWS makes (tag-on-create, iam:PassRole), and the tags of the existing resource
  (aws:ResourceTag/<key>, read from moto's backends);
* the answer to a denied request, in the request's protocol;
* ``IamEnforcer``: the registry of principals, the decision log, and the hook
  ``RollgateApp`` calls for every AWS request.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import re
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape as xml_escape

import botocore.session
import cbor2

from calllog import operation_name
from cbor_bridge import RPC_V2_PATH, CborBridge
from wsgi_util import (
    Credential,
    WSGIApp,
    call_app,
    query_params,
    read_body,
    replace_body,
    respond,
    sigv4_credential,
)

DEFAULT_ACCOUNT = "123456789012"

# SigV4 signing name -> IAM service prefix, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch", "tagging": "tag"}
# SigV4 signing name -> botocore service name, where they differ.
BOTOCORE_NAME = {"monitoring": "cloudwatch", "tagging": "resourcegroupstaggingapi"}


# ===================================================================================
# Policy language
# ===================================================================================

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def _glob_regex(text: str) -> str:
    """A policy glob as a regex: ``*`` any run of characters, ``?`` any one."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


class Pattern:
    """A string from a policy that may hold ``*``/``?`` wildcards and ``${var}``s.

    Policy variables (``${aws:PrincipalAccount}``...) are replaced by the request's
    single value for that key, taken literally; ``${*}``, ``${?}``, ``${$}`` are the
    literal characters. A variable without a value makes the pattern match nothing.
    """

    __slots__ = ("text", "_static", "_parts", "_glob", "_flags")

    def __init__(self, text: str, glob: bool, ignore_case: bool = False) -> None:
        self.text = text
        self._glob = glob
        self._flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        self._parts: list[tuple[bool, str]] = []  # (is_variable, text)
        position = 0
        for match in _VARIABLE.finditer(text):
            self._parts.append((False, text[position:match.start()]))
            self._parts.append((True, match.group(1).strip()))
            position = match.end()
        self._parts.append((False, text[position:]))
        has_variables = any(is_var for is_var, _ in self._parts)
        self._static = None if has_variables else self._compile({})

    def _compile(self, context: dict[str, list[str]]) -> re.Pattern[str] | None:
        pieces = []
        for is_var, part in self._parts:
            if not is_var:
                pieces.append(_glob_regex(part) if self._glob else re.escape(part))
                continue
            if part in _ESCAPES:
                pieces.append(re.escape(_ESCAPES[part]))
                continue
            values = context.get(part.lower())
            if not values or len(values) != 1:
                return None
            pieces.append(re.escape(values[0]))
        return re.compile("".join(pieces), self._flags)

    def regex(self, context: dict[str, list[str]]) -> re.Pattern[str] | None:
        return self._static if self._static is not None else self._compile(context)

    def matches(self, value: str, context: dict[str, list[str]]) -> bool:
        regex = self.regex(context)
        return regex is not None and regex.fullmatch(value) is not None


class ArnPattern:
    """An ARN pattern as IAM matches Resource elements and the Arn* operators.

    Both sides are split into their six colon-separated parts (the last part keeps
    any further colons, e.g. ``task-definition/web:3``); each part is matched on
    its own with ``*``/``?`` wildcards, case-sensitively, so a wildcard never spans
    a colon between parts. ``*`` alone matches everything. A pattern or value
    that is not a six-part ARN is compared as one glob over the whole string.
    """

    __slots__ = ("text", "_everything", "_segments", "_whole")

    def __init__(self, text: str) -> None:
        self.text = text
        self._everything = text == "*"
        parts = text.split(":", 5)
        self._segments = [Pattern(p, glob=True) for p in parts] if len(parts) == 6 else None
        self._whole = Pattern(text, glob=True)

    def matches(self, value: str, context: dict[str, list[str]]) -> bool:
        if self._everything:
            return True
        parts = value.split(":", 5)
        if self._segments is None or len(parts) != 6:
            return self._whole.matches(value, context)
        return all(p.matches(v, context) for p, v in zip(self._segments, parts))


def _as_strings(value: Any) -> list[str]:
    """A policy element's value(s) as strings (booleans as IAM writes them)."""
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            out.append(str(item))
        else:
            raise ValueError(f"not a string or a list of strings: {value!r}")
    return out


# A context entry (never a policy key: no key name holds a NUL) listing the keys whose
# value is ambiguous (see _resource_tag_context); clauses on them are deny-safe.
AMBIGUOUS_KEYS = "\x00ambiguous"

# Base condition operators: name -> (kind, negated)
_OPERATORS = {
    "stringequals": ("string", False),
    "stringnotequals": ("string", True),
    "stringequalsignorecase": ("istring", False),
    "stringnotequalsignorecase": ("istring", True),
    "stringlike": ("glob", False),
    "stringnotlike": ("glob", True),
    "arnequals": ("arn", False),
    "arnlike": ("arn", False),
    "arnnotequals": ("arn", True),
    "arnnotlike": ("arn", True),
    "bool": ("bool", False),
    "null": ("null", False),
    "numericequals": ("num=", False),
    "numericnotequals": ("num=", True),
    "numericlessthan": ("num<", False),
    "numericlessthanequals": ("num<=", False),
    "numericgreaterthan": ("num>", False),
    "numericgreaterthanequals": ("num>=", False),
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class Clause:
    """One ``operator: {key: values}`` pair of a Condition block."""

    def __init__(self, operator: str, key: str, values: list[str]) -> None:
        self.operator = operator
        self.key = key.lower()
        self.values = values
        name = operator
        self.qualifier = None
        for prefix in ("ForAnyValue:", "ForAllValues:"):
            if name.lower().startswith(prefix.lower()):
                self.qualifier = prefix[:-1].lower()
                name = name[len(prefix):]
        self.if_exists = name.lower().endswith("ifexists") and name.lower() != "ifexists"
        if self.if_exists:
            name = name[: -len("IfExists")]
        known = _OPERATORS.get(name.lower())
        self.known = known is not None and not (known[0] == "null" and (self.if_exists or self.qualifier))
        self.kind, self.negated = known if known else ("unknown", False)
        if self.kind in ("string", "glob", "istring"):
            self._patterns = [Pattern(v, glob=self.kind == "glob", ignore_case=self.kind == "istring")
                              for v in values]
        elif self.kind == "arn":
            self._patterns = [ArnPattern(v) for v in values]
        else:
            self._patterns = []

    def _matches_value(self, value: str, context: dict[str, list[str]]) -> bool:
        """True if ``value`` matches one of the policy values (positive sense)."""
        kind = self.kind
        if kind in ("string", "istring", "glob", "arn"):
            return any(p.matches(value, context) for p in self._patterns)
        if kind == "bool":
            return value.lower() in {v.lower() for v in self.values}
        if kind.startswith("num"):
            number = _number(value)
            if number is None:
                return False
            for v in self.values:
                limit = _number(v)
                if limit is None:
                    continue
                if (
                    (kind == "num=" and number == limit)
                    or (kind == "num<" and number < limit)
                    or (kind == "num<=" and number <= limit)
                    or (kind == "num>" and number > limit)
                    or (kind == "num>=" and number >= limit)
                ):
                    return True
            return False
        return False

    def _satisfied_by(self, value: str, context: dict[str, list[str]]) -> bool:
        matched = self._matches_value(value, context)
        return not matched if self.negated else matched

    def holds(self, context: dict[str, list[str]], effect: str, optimistic: frozenset[str]) -> bool:
        if self.key in optimistic:
            # The caller evaluates "could this be allowed for some value of the key":
            # an Allow's clause is taken as met, a Deny's clause as not applying.
            return effect == "Allow"
        if not self.known:
            # Deny-safe: an Allow with an unknown operator grants nothing, a Deny applies.
            return effect == "Deny"
        values = context.get(self.key) or []
        if self.kind == "null":
            absent = not values
            return any((v.lower() == "true") == absent for v in self.values)
        if self.key in context.get(AMBIGUOUS_KEYS, ()):
            # Several resource tags whose keys differ only by case: IAM matches the key
            # name to either, "but not both", and does not say which. Deny-safe, as for
            # unknown operators: an Allow's clause is not met, a Deny's clause applies.
            return effect == "Deny"
        if not values:
            if self.if_exists:
                return True
            if self.qualifier == "forallvalues":
                return True
            if self.qualifier == "foranyvalue":
                return False
            # A missing key matches nothing: positive operators fail, negated ones hold.
            return self.negated
        if self.qualifier == "forallvalues":
            return all(self._satisfied_by(v, context) for v in values)
        if self.qualifier == "foranyvalue":
            return any(self._satisfied_by(v, context) for v in values)
        if len(values) == 1:
            return self._satisfied_by(values[0], context)
        # A multivalued key under a plain operator (IAM wants a set operator here):
        # positive operators do not match (as EventBridge documents for events:source),
        # negated ones hold only if no request value matches.
        return self.negated and all(self._satisfied_by(v, context) for v in values)


class Statement:
    """One statement of an identity-based policy, compiled."""

    def __init__(self, raw: dict[str, Any], index: int) -> None:
        allowed = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        unknown = set(raw) - allowed
        if unknown:
            raise ValueError(f"statement {index}: unknown element(s) {sorted(unknown)} "
                             "(identity policies take Sid, Effect, Action/NotAction, "
                             "Resource/NotResource, Condition)")
        self.sid = raw.get("Sid")
        self.effect = raw.get("Effect")
        if self.effect not in ("Allow", "Deny"):
            raise ValueError(f"statement {index}: Effect must be Allow or Deny")
        if ("Action" in raw) == ("NotAction" in raw):
            raise ValueError(f"statement {index}: exactly one of Action, NotAction")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise ValueError(f"statement {index}: exactly one of Resource, NotResource")
        self.not_action = "NotAction" in raw
        self.actions = [
            re.compile(_glob_regex(a.lower()), re.DOTALL)
            for a in _as_strings(raw.get("NotAction" if self.not_action else "Action"))
        ]
        self.not_resource = "NotResource" in raw
        self.resources = [
            ArnPattern(r) for r in _as_strings(raw.get("NotResource" if self.not_resource else "Resource"))
        ]
        self.clauses: list[Clause] = []
        condition = raw.get("Condition") or {}
        if not isinstance(condition, dict):
            raise ValueError(f"statement {index}: Condition must be an object")
        for operator, block in condition.items():
            if not isinstance(block, dict):
                raise ValueError(f"statement {index}: Condition {operator} must map keys to values")
            for key, values in block.items():
                clause = Clause(operator, key, _as_strings(values))
                self.clauses.append(clause)
        self.unknown_operators = sorted({c.operator for c in self.clauses if not c.known})

    def applies(self, action: str, resource: str, context: dict[str, list[str]],
                optimistic: frozenset[str]) -> bool:
        action_hit = any(p.fullmatch(action) for p in self.actions)
        if action_hit == self.not_action:
            return False
        resource_hit = any(p.matches(resource, context) for p in self.resources)
        if resource_hit == self.not_resource:
            return False
        return all(c.holds(context, self.effect, optimistic) for c in self.clauses)


ALLOW, IMPLICIT_DENY, EXPLICIT_DENY = "allow", "implicit-deny", "explicit-deny"


def evaluate(statements: list[Statement], action: str, resource: str,
             context: dict[str, list[str]], optimistic: frozenset[str] = frozenset()) -> str:
    """IAM's identity-policy logic: an explicit Deny wins, then any Allow, else deny."""
    action = action.lower()
    allowed = False
    for statement in statements:
        if statement.applies(action, resource, context, optimistic):
            if statement.effect == "Deny":
                return EXPLICIT_DENY
            allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


@dataclass
class Principal:
    access_key: str
    label: str
    account: str
    statements: list[Statement]

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.label}/test"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.label}"


def parse_principal(document: Any) -> Principal:
    """The body of ``PUT /_rollgate/iam/principals``; ValueError if malformed."""
    if not isinstance(document, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(document) - {"access_key", "label", "account", "statements"}
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}")
    access_key, label = document.get("access_key"), document.get("label")
    account = document.get("account", DEFAULT_ACCOUNT)
    if not isinstance(access_key, str) or not access_key or "/" in access_key:
        raise ValueError("access_key must be a non-empty string")
    if not isinstance(label, str) or not label:
        raise ValueError("label must be a non-empty string")
    if not isinstance(account, str) or not re.fullmatch(r"[0-9]{12}", account):
        raise ValueError("account must be a 12-digit account id")
    raw_statements = document.get("statements")
    if not isinstance(raw_statements, list):
        raise ValueError("statements must be a list")
    statements = []
    for index, raw in enumerate(raw_statements):
        if not isinstance(raw, dict):
            raise ValueError(f"statement {index} is not an object")
        statements.append(Statement(raw, index))
    return Principal(access_key=access_key, label=label, account=account, statements=statements)


# ===================================================================================
# The request
# ===================================================================================


@dataclass
class Request:
    environ: dict[str, Any]
    credential: Credential
    principal: Principal
    signing: str          # SigV4 signing name (ecs, monitoring, ...)
    prefix: str           # IAM service prefix (ecs, cloudwatch, ...)
    operation: str | None
    protocol: str         # json | cbor | query | ec2 | rest-xml | rest-json
    params: dict[str, Any]
    region: str
    account: str
    partition: str

    def arn(self, service: str, resource: str, region: str | None = None,
            account: str | None = None) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region is None else region}:"
                f"{self.account if account is None else account}:{resource}")


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _rest_operation(signing: str, environ: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Operation and URI parameters of a REST-protocol request (S3, Lambda), via moto's router."""
    service = BOTOCORE_NAME.get(signing, signing)
    try:
        from moto.core.request import Request as MotoRequest
        from moto.core.routing import get_service_router

        operation, uri_params = get_service_router(service).match(MotoRequest(dict(environ)))
        return operation.name, dict(uri_params)
    except Exception:  # unknown service or no route: the operation stays unknown
        return None, {}


def _decode_body(environ: dict[str, Any], protocol: str) -> dict[str, Any]:
    body = read_body(environ)
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except OSError:
            return {}
    if not body:
        return {}
    try:
        value = cbor2.loads(body) if protocol == "cbor" else json.loads(body)
    except Exception:
        return {}
    return value if isinstance(value, dict) else {}


def analyze(environ: dict[str, Any], credential: Credential, principal: Principal) -> Request:
    signing = credential.service
    path = environ.get("PATH_INFO", "")
    params: dict[str, Any]
    operation = operation_name(environ)
    if RPC_V2_PATH.match(path) and environ.get("REQUEST_METHOD") == "POST":
        protocol = "cbor"
        params = _decode_body(environ, "cbor")
    elif environ.get("HTTP_X_AMZ_TARGET"):
        protocol = "json"
        params = _decode_body(environ, "json")
    elif operation is not None:
        protocol = "ec2" if signing == "ec2" else "query"
        params = dict(query_params(environ))
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(read_body(environ).decode("utf-8", "replace"), keep_blank_values=True)
            params.update({key: values[0] for key, values in form.items()})
    else:
        protocol = "rest-xml" if signing == "s3" else "rest-json"
        operation, uri_params = _rest_operation(signing, environ)
        params = {**query_params(environ), **uri_params}
    region = credential.region
    return Request(
        environ=environ, credential=credential, principal=principal, signing=signing,
        prefix=IAM_PREFIX.get(signing, signing), operation=operation, protocol=protocol,
        params=params, region=region, account=principal.account, partition=_partition(region),
    )


# -- parameter helpers (native lists for JSON/CBOR, flattened ones for query) --------


def _list(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if isinstance(value, list):
        return value
    if value is not None and not isinstance(value, dict):
        return [value]
    # query protocol: Name.member.1=..., Name.member.2=... (ec2: Name.1=...)
    found = []
    pattern = re.compile(rf"^{re.escape(name)}\.(?:member\.)?(\d+)$")
    for key, item in params.items():
        match = pattern.match(key)
        if match:
            found.append((int(match.group(1)), item))
    return [item for _, item in sorted(found)]


def _tags(params: dict[str, Any], *names: str) -> list[tuple[str, str]]:
    """Tags of a request as (key, value) pairs, whatever their shape."""
    for name in names:
        value = params.get(name)
        if isinstance(value, dict):
            return [(str(k), str(v)) for k, v in value.items()]
        if isinstance(value, list):
            pairs = []
            for tag in value:
                if isinstance(tag, dict):
                    key = tag.get("key", tag.get("Key"))
                    if key is not None:
                        pairs.append((str(key), str(tag.get("value", tag.get("Value", "")))))
            return pairs
        # query protocol: Tags.member.N.Key / Tags.member.N.Value
        pattern = re.compile(rf"^{re.escape(name)}\.member\.(\d+)\.(Key|Value)$")
        found: dict[int, dict[str, str]] = {}
        for key, item in params.items():
            match = pattern.match(key)
            if match:
                found.setdefault(int(match.group(1)), {})[match.group(2)] = item
        if found:
            return [(t["Key"], t.get("Value", "")) for _, t in sorted(found.items()) if "Key" in t]
    return []


def _tag_context(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    if not pairs:
        return {}
    context = {"aws:tagkeys": [k for k, _ in pairs]}
    for key, value in pairs:
        context[f"aws:requesttag/{key.lower()}"] = [value]
    return context


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _tagging_checks(action: str, op: str, p: dict[str, Any], arn_key: str, tags_key: str,
                    keys_key: str) -> list["Check"]:
    """TagResource / UntagResource / ListTagsForResource, on the ARN the request names (every
    service spells the members its own way: `resourceArn`/`tags`/`tagKeys`, `ResourceARN`/
    `Tags`/`TagKeys`): TagResource carries the tags it writes (aws:RequestTag, aws:TagKeys),
    UntagResource the keys it removes (aws:TagKeys), ListTagsForResource nothing."""
    context: dict[str, list[str]] = {}
    if op == "TagResource":
        context = _tag_context(_tags(p, tags_key))
    elif op == "UntagResource":
        keys = [str(k) for k in _list(p, keys_key)]
        context = {"aws:tagkeys": keys} if keys else {}
    return [Check(action, _str(p.get(arn_key)) or "*", context)]


# ===================================================================================
# The authorizations a request needs
# ===================================================================================


@dataclass
class Check:
    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)
    implicit: bool = False
    # Other actions any one of which also authorizes this (logs:TagLogGroup for tags).
    alternatives: tuple[str, ...] = ()


def _pass_role(request: Request, role: str, service: str) -> Check:
    arn = role if role.startswith("arn:") else request.arn("iam", f"role/{role}", region="")
    return Check("iam:PassRole", arn, {"iam:passedtoservice": [service]}, implicit=True)


# -- moto lookups (best effort; only ever used to name a resource) ------------------


def _moto_account(request: Request) -> str:
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return os.environ["MOTO_ACCOUNT_ID"]
    header = request.environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if header:
        return header
    try:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(request.credential.access_key)
    except Exception:
        return DEFAULT_ACCOUNT


def _ecs_backend(request: Request) -> Any:
    try:
        from moto.ecs.models import ecs_backends

        return ecs_backends[_moto_account(request)][request.region]
    except Exception:
        return None


def _ecs_revisions(request: Request, family: str) -> dict[int, Any]:
    backend = _ecs_backend(request)
    return dict(getattr(backend, "task_definitions", {}).get(family, {})) if backend else {}


# -- ECS ----------------------------------------------------------------------------


def _ecs(request: Request) -> list[Check]:
    p, op = request.params, request.operation

    def cluster_arn(value: Any) -> str:
        value = _str(value) or "default"
        return value if value.startswith("arn:") else request.arn("ecs", f"cluster/{value}")

    def cluster_name(value: Any) -> str:
        value = _str(value) or "default"
        return value.split("cluster/", 1)[1] if value.startswith("arn:") and "cluster/" in value else value

    def service_arn(cluster: Any, service: Any, new: bool = False) -> str:
        service = _str(service) or ""
        if service.startswith("arn:"):
            return service
        # An existing service with the short, pre-2021 ARN (ecs_ext.make_short_arn) is authorized
        # on that ARN: "If you have IAM policies that use the short ARN format, update it to the
        # long ARN format" before migrating (ECS developer guide, service-arn-migration.html).
        backend = None if new else _ecs_backend(request)
        existing = backend.services.get(f"{cluster_name(cluster)}:{service}") if backend is not None else None
        if existing is not None and getattr(existing, "short_arn_format", False):
            return str(existing.arn)
        return request.arn("ecs", f"service/{cluster_name(cluster)}/{service}")

    def task_definition_arn(value: Any) -> str | None:
        value = _str(value)
        if value is None:
            return None
        if value.startswith("arn:"):
            return value
        if ":" in value:
            return request.arn("ecs", f"task-definition/{value}")
        active = [rev for rev, d in _ecs_revisions(request, value).items() if getattr(d, "status", "") == "ACTIVE"]
        if active:
            return request.arn("ecs", f"task-definition/{value}:{max(active)}")
        return request.arn("ecs", f"task-definition/{value}")

    action = f"ecs:{op}"
    cluster = p.get("cluster")
    tags = _tags(p, "tags")
    tag_context = _tag_context(tags)

    def tag_on_create(resource: str) -> list[Check]:
        if not tags:
            return []
        context = {"ecs:createaction": [op], **tag_context}
        return [Check("ecs:TagResource", resource, context, implicit=True)]

    if op in ("ListServices", "ListTasks", "ListContainerInstances"):
        return [Check(action, "*", {"ecs:cluster": [cluster_arn(cluster)]})]
    if op == "DescribeServices":
        return [Check(action, service_arn(cluster, s), {"ecs:cluster": [cluster_arn(cluster)]})
                for s in _list(p, "services")]
    if op == "ListServiceDeployments":
        # "Service" resource (service-deployment-permissions.html, the Service Authorization
        # Reference's ListServiceDeployments).
        return [Check(action, service_arn(cluster, p.get("service")), {"ecs:cluster": [cluster_arn(cluster)]})]
    if op in ("DescribeServiceDeployments", "DescribeServiceRevisions"):
        # Two required resource types (the Service Authorization Reference): the service and
        # the service deployment / revision (arn:...:service-revision/<cluster>/<service>/<id>).
        key = "serviceDeploymentArns" if op == "DescribeServiceDeployments" else "serviceRevisionArns"
        checks = []
        for a in (str(a) for a in _list(p, key) if _str(a)):
            parts = a.split(":", 5)
            path = parts[5].split("/") if len(parts) == 6 else []
            if len(path) == 4:
                service = ":".join(parts[:5]) + f":service/{path[1]}/{path[2]}"
                cluster = ":".join(parts[:5]) + f":cluster/{path[1]}"
                checks.append(Check(action, service, {"ecs:cluster": [cluster]}))
            checks.append(Check(action, a))
        return checks
    if op in ("UpdateService", "DeleteService"):
        context = {"ecs:cluster": [cluster_arn(cluster)]}
        task_definition = task_definition_arn(p.get("taskDefinition"))
        if op == "UpdateService" and task_definition:
            context["ecs:task-definition"] = [task_definition]
        return [Check(action, service_arn(cluster, p.get("service")), context)]
    if op == "CreateService":
        resource = service_arn(cluster, p.get("serviceName"), new=True)
        context = {"ecs:cluster": [cluster_arn(cluster)], **tag_context}
        task_definition = task_definition_arn(p.get("taskDefinition"))
        if task_definition:
            context["ecs:task-definition"] = [task_definition]
        checks = [Check(action, resource, context), *tag_on_create(resource)]
        if _str(p.get("role")):
            checks.append(_pass_role(request, p["role"], "ecs.amazonaws.com"))
        return checks
    if op == "RegisterTaskDefinition":
        family = _str(p.get("family")) or ""
        revisions = _ecs_revisions(request, family)
        resource = request.arn("ecs", f"task-definition/{family}:{max(revisions, default=0) + 1}")
        context = dict(tag_context)
        compatibilities = _list(p, "requiresCompatibilities")
        if compatibilities:
            context["ecs:compute-compatibility"] = [str(c) for c in compatibilities]
        checks = [Check(action, resource, context), *tag_on_create(resource)]
        for key in ("taskRoleArn", "executionRoleArn"):
            if _str(p.get(key)):
                checks.append(_pass_role(request, p[key], "ecs-tasks.amazonaws.com"))
        return checks
    if op == "DeleteTaskDefinitions":
        return [Check(action, task_definition_arn(t) or "*") for t in _list(p, "taskDefinitions")]
    if op in ("RunTask", "StartTask"):
        resource = task_definition_arn(p.get("taskDefinition")) or "*"
        checks = [Check(action, resource, {"ecs:cluster": [cluster_arn(cluster)], **tag_context})]
        checks += tag_on_create(request.arn("ecs", f"task/{cluster_name(cluster)}/*"))
        overrides = p.get("overrides") if isinstance(p.get("overrides"), dict) else {}
        for key in ("taskRoleArn", "executionRoleArn"):
            if _str(overrides.get(key)):
                checks.append(_pass_role(request, overrides[key], "ecs-tasks.amazonaws.com"))
        return checks
    if op in ("DescribeTasks", "StopTask"):
        tasks = _list(p, "tasks") if op == "DescribeTasks" else [p.get("task")]
        return [
            Check(action, t if str(t).startswith("arn:") else request.arn("ecs", f"task/{cluster_name(cluster)}/{t}"),
                  {"ecs:cluster": [cluster_arn(cluster)]})
            for t in tasks if _str(t)
        ]
    if op == "CreateCluster":
        resource = cluster_arn(p.get("clusterName"))
        return [Check(action, resource, dict(tag_context)), *tag_on_create(resource)]
    if op == "DescribeClusters":
        return [Check(action, cluster_arn(c)) for c in (_list(p, "clusters") or ["default"])]
    if op in ("DeleteCluster", "UpdateCluster", "UpdateClusterSettings", "PutClusterCapacityProviders"):
        return [Check(action, cluster_arn(cluster))]
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return _tagging_checks(action, op, p, "resourceArn", "tags", "tagKeys")
    # DescribeTaskDefinition, DeregisterTaskDefinition, ListTaskDefinitions, ListClusters,
    # ListTaskDefinitionFamilies, ...: no resource-level permissions.
    return [Check(action, "*")]


# -- ECR ----------------------------------------------------------------------------


def _ecr(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    action = f"ecr:{op}"
    account = _str(p.get("registryId")) or request.account
    tags = _tags(p, "tags")

    def repository_arn(name: Any) -> str:
        name = _str(name) or "*"
        return name if name.startswith("arn:") else request.arn("ecr", f"repository/{name}", account=account)

    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return _tagging_checks(action, op, p, "resourceArn", "tags", "tagKeys")
    if op == "DescribeRepositories":
        names = _list(p, "repositoryNames")
        return [Check(action, repository_arn(n)) for n in names] or [Check(action, repository_arn("*"))]
    if op in ("GetAuthorizationToken", "DescribeRegistry", "GetRegistryPolicy", "PutRegistryPolicy",
              "DescribePullThroughCacheRules", "GetRegistryScanningConfiguration"):
        return [Check(action, "*")]
    if "repositoryName" in p:
        # Every repository-level action, the layer ones included (BatchCheckLayerAvailability,
        # InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload, GetDownloadUrlForLayer,
        # BatchGetImage, PutImage...): resource type `repository` in the Service Authorization
        # Reference, the repository of registryId's account (AWS names it so when it refuses:
        # "not authorized to perform: ecr:InitiateLayerUpload on resource:
        # arn:aws:ecr:us-east-2:<account>:repository/test", aws/amazon-sagemaker-examples#1539).
        # The blob URL GetDownloadUrlForLayer hands out is pre-signed: never authorized here.
        resource = repository_arn(p.get("repositoryName"))
        checks = [Check(action, resource, _tag_context(tags))]
        if op == "CreateRepository" and tags:
            checks.append(Check("ecr:TagResource", resource, _tag_context(tags), implicit=True))
        return checks
    return [Check(action, "*")]


# -- CloudWatch -----------------------------------------------------------------------


def _cloudwatch(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    action = f"cloudwatch:{op}"

    def alarm_arn(name: str) -> str:
        return request.arn("cloudwatch", f"alarm:{name}")

    if op in ("DescribeAlarms", "DescribeAlarmHistory") and "CompositeAlarm" in _list(p, "AlarmTypes"):
        # "To use this operation and return information about composite alarms, you must be
        # signed on with the cloudwatch:<op> permission that is scoped to *" (API reference):
        # only a Resource "*" grants it, an alarm:* pattern does not.
        return [Check(action, "*")]
    if op == "DescribeAlarms":
        names = [str(n) for n in _list(p, "AlarmNames")]
        if names:
            return [Check(action, alarm_arn(n)) for n in names]
        return [Check(action, alarm_arn(f"{_str(p.get('AlarmNamePrefix')) or ''}*"))]
    if op == "DescribeAlarmHistory":
        return [Check(action, alarm_arn(_str(p.get("AlarmName")) or "*"))]
    if op in ("DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions"):
        return [Check(action, alarm_arn(str(n))) for n in _list(p, "AlarmNames")]
    if op in ("PutMetricAlarm", "PutCompositeAlarm", "SetAlarmState"):
        name = _str(p.get("AlarmName")) or ""
        tags = _tags(p, "Tags")
        checks = [Check(action, alarm_arn(name), _tag_context(tags))]
        if op != "SetAlarmState" and tags:
            checks.append(Check("cloudwatch:TagResource", alarm_arn(name), _tag_context(tags), implicit=True))
        return checks
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return _tagging_checks(action, op, p, "ResourceARN", "Tags", "TagKeys")
    if op == "PutMetricData":
        namespace = _str(p.get("Namespace"))
        return [Check(action, "*", {"cloudwatch:namespace": [namespace]} if namespace else {})]
    return [Check(action, "*")]


# -- EventBridge ------------------------------------------------------------------------


def _bus_arn(request: Request, bus: Any) -> str:
    bus = _str(bus) or "default"
    return bus if bus.startswith("arn:") else request.arn("events", f"event-bus/{bus}")


def _events(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    action = f"events:{op}"
    if op == "PutEvents":
        return [
            Check(action, _bus_arn(request, entry.get("EventBusName")), {
                "events:source": [str(entry["Source"])] if entry.get("Source") is not None else [],
                "events:detail-type": [str(entry["DetailType"])] if entry.get("DetailType") is not None else [],
                "events:eventbusinvocation": ["false"],
            })
            for entry in _list(p, "Entries") if isinstance(entry, dict)
        ]

    def rule_arn(name: Any, bus: Any) -> str:
        bus = _str(bus)
        if bus and bus.startswith("arn:"):
            bus = bus.split("event-bus/", 1)[-1]
        name = _str(name) or "*"
        return request.arn("events", f"rule/{name}" if not bus or bus == "default" else f"rule/{bus}/{name}")

    if op == "PutRule":
        context: dict[str, list[str]] = {}
        try:
            pattern = json.loads(p.get("EventPattern") or "{}")
        except ValueError:
            pattern = {}
        if isinstance(pattern, dict):
            for field_name, key in (("source", "events:source"), ("detail-type", "events:detail-type")):
                values = pattern.get(field_name)
                if isinstance(values, list):
                    context[key] = [v for v in values if isinstance(v, str)]
        tags = _tags(p, "Tags")
        context.update(_tag_context(tags))
        resource = rule_arn(p.get("Name"), p.get("EventBusName"))
        checks = [Check(action, resource, context)]
        if tags:
            checks.append(Check("events:TagResource", resource, _tag_context(tags), implicit=True))
        return checks
    if op in ("PutTargets", "RemoveTargets", "DescribeRule", "DeleteRule", "EnableRule",
              "DisableRule", "ListTargetsByRule"):
        name = p.get("Rule") if op in ("PutTargets", "RemoveTargets", "ListTargetsByRule") else p.get("Name")
        return [Check(action, rule_arn(name, p.get("EventBusName")))]
    if op in ("CreateEventBus", "DeleteEventBus", "DescribeEventBus"):
        tags = _tags(p, "Tags")
        resource = _bus_arn(request, p.get("Name"))
        checks = [Check(action, resource, _tag_context(tags))]
        if op == "CreateEventBus" and tags:
            checks.append(Check("events:TagResource", resource, _tag_context(tags), implicit=True))
        return checks
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return _tagging_checks(action, op, p, "ResourceARN", "Tags", "TagKeys")
    return [Check(action, "*")]


# -- CloudWatch Logs --------------------------------------------------------------------


def _logs(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    action = f"logs:{op}"
    group = _str(p.get("logGroupName")) or _str(p.get("logGroupIdentifier"))
    tags = _tags(p, "tags")
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return _tagging_checks(action, op, p, "resourceArn", "tags", "tagKeys")
    if group is None:
        return [Check(action, "*")]
    if group.startswith("arn:"):
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    stream = _str(p.get("logStreamName"))
    if stream is not None:
        resource = request.arn("logs", f"log-group:{group}:log-stream:{stream}")
    else:
        resource = request.arn("logs", f"log-group:{group}:*")
    checks = [Check(action, resource, _tag_context(tags))]
    if op == "CreateLogGroup" and tags:
        checks.append(Check("logs:TagResource", resource, _tag_context(tags), implicit=True,
                            alternatives=("logs:TagLogGroup",)))
    return checks


# -- CodeBuild --------------------------------------------------------------------------


def _codebuild(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    action = f"codebuild:{op}"

    def project_arn(name: Any) -> str:
        name = _str(name) or "*"
        return name if name.startswith("arn:") else request.arn("codebuild", f"project/{name}")

    def build_project(build_id: Any) -> str:
        build_id = str(build_id)
        if build_id.startswith("arn:"):
            build_id = build_id.split(":build/", 1)[-1]
        return project_arn(build_id.rsplit(":", 1)[0])

    def unique(checks: Iterable[Check]) -> list[Check]:
        seen, out = set(), []
        for check in checks:
            if check.resource not in seen:
                seen.add(check.resource)
                out.append(check)
        return out

    if op in ("StartBuild", "ListBuildsForProject", "StartBuildBatch"):
        return [Check(action, project_arn(p.get("projectName")))]
    if op in ("CreateProject", "UpdateProject", "DeleteProject"):
        tags = _tags(p, "tags")
        checks = [Check(action, project_arn(p.get("name")), _tag_context(tags))]
        if op != "DeleteProject" and _str(p.get("serviceRole")):
            checks.append(_pass_role(request, p["serviceRole"], "codebuild.amazonaws.com"))
        return checks
    if op == "BatchGetProjects":
        return unique(Check(action, project_arn(n)) for n in _list(p, "names"))
    if op in ("BatchGetBuilds", "BatchDeleteBuilds"):
        return unique(Check(action, build_project(i)) for i in _list(p, "ids"))
    if op in ("StopBuild", "RetryBuild"):
        return [Check(action, build_project(p.get("id")))]
    return [Check(action, "*")]


# -- IAM / STS ----------------------------------------------------------------------------


def _iam_role_arn(request: Request, name: str) -> str:
    """The role's ARN with its path, as moto holds it; role/<name> if unknown."""
    try:
        from moto.iam.models import iam_backends

        return iam_backends[_moto_account(request)][request.partition].get_role(name).arn.replace(
            f"::{_moto_account(request)}:", f"::{request.account}:", 1)
    except Exception:
        return request.arn("iam", f"role/{name}", region="")


def _iam(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    action = f"iam:{op}"
    tags = _tags(p, "Tags")
    tag_context = _tag_context(tags)
    path = _str(p.get("Path")) or "/"

    def create_with_tags(resource: str, tag_action: str) -> list[Check]:
        return [Check(tag_action, resource, tag_context, implicit=True)] if tags else []

    if op == "CreateRole":
        resource = request.arn("iam", f"role{path}{p.get('RoleName', '')}", region="")
        return [Check(action, resource, dict(tag_context)), *create_with_tags(resource, "iam:TagRole")]
    if op == "CreateUser":
        resource = request.arn("iam", f"user{path}{p.get('UserName', '')}", region="")
        return [Check(action, resource, dict(tag_context)), *create_with_tags(resource, "iam:TagUser")]
    if op == "CreatePolicy":
        resource = request.arn("iam", f"policy{path}{p.get('PolicyName', '')}", region="")
        return [Check(action, resource, dict(tag_context)), *create_with_tags(resource, "iam:TagPolicy")]
    if _str(p.get("RoleName")):
        context = dict(tag_context)
        if op == "UntagRole":
            context = {"aws:tagkeys": [str(k) for k in _list(p, "TagKeys")]}
        if _str(p.get("PolicyArn")):
            context["iam:policyarn"] = [p["PolicyArn"]]
        return [Check(action, _iam_role_arn(request, p["RoleName"]), context)]
    if _str(p.get("UserName")):
        return [Check(action, request.arn("iam", f"user/{p['UserName']}", region=""), dict(tag_context))]
    if _str(p.get("PolicyArn")):
        return [Check(action, p["PolicyArn"], dict(tag_context))]
    if _str(p.get("InstanceProfileName")):
        return [Check(action, request.arn("iam", f"instance-profile/{p['InstanceProfileName']}", region=""))]
    return [Check(action, "*")]


def _sts(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    if op in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
        return [Check(f"sts:{op}", _str(p.get("RoleArn")) or "*", _tag_context(_tags(p, "Tags")))]
    return [Check(f"sts:{op}", "*")]


# -- SQS, S3, Lambda -------------------------------------------------------------------------


def _sqs(request: Request) -> list[Check]:
    p, op = request.params, request.operation
    url = _str(p.get("QueueUrl"))
    name = url.rstrip("/").rsplit("/", 1)[-1] if url else _str(p.get("QueueName"))
    return [Check(f"sqs:{op}", request.arn("sqs", name) if name else "*")]


_S3_ACTIONS = {
    "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "ListBuckets": "ListAllMyBuckets",
    "HeadObject": "GetObject", "CopyObject": "PutObject", "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject", "UploadPartCopy": "PutObject", "CompleteMultipartUpload": "PutObject",
    "ListParts": "ListMultipartUploadParts", "ListMultipartUploads": "ListBucketMultipartUploads",
    "DeleteObjects": "DeleteObject", "DeleteBucketTagging": "PutBucketTagging",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "DeleteBucketPolicy": "DeleteBucketPolicy", "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
}


def _s3(request: Request) -> list[Check]:
    p, op = request.params, request.operation or "Unknown"
    action = "s3:" + _S3_ACTIONS.get(op, op)
    bucket, key = _str(p.get("Bucket")), _str(p.get("Key"))
    if op == "ListBuckets" or bucket is None:
        return [Check(action, "*")]
    resource = f"arn:{request.partition}:s3:::{bucket}" + (f"/{unquote(key)}" if key else "")
    checks = [Check(action, resource)]
    if op == "CopyObject":
        source = unquote(request.environ.get("HTTP_X_AMZ_COPY_SOURCE", "")).lstrip("/").split("?", 1)[0]
        if source:
            checks.append(Check("s3:GetObject", f"arn:{request.partition}:s3:::{source}", implicit=True))
    return checks


_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}


def _lambda(request: Request) -> list[Check]:
    p, op = request.params, request.operation or "Unknown"
    action = "lambda:" + _LAMBDA_ACTIONS.get(op, op)
    name = _str(p.get("FunctionName"))
    if name is None:
        return [Check(action, "*")]
    if not name.startswith("arn:"):
        name = request.arn("lambda", f"function:{name}")
    return [Check(action, name)]


# -- resource tags: aws:ResourceTag/<key> and its service aliases -------------------------
#
# The tags the resource carries when the request arrives, read from moto's backends (the
# account moto serves the request in, the region of the ARN). The Service Authorization
# Reference lists aws:ResourceTag/${TagKey} for these resource types, and a service alias
# for some of them: ecs:ResourceTag (every ECS type), ecr:ResourceTag (repository),
# iam:ResourceTag (role, user). Logs and CodeBuild have no alias.

# Operations authorized on the resource they create: it has no tags yet, for the
# operation's own check and for its tag-on-create check alike.
_CREATING = {
    "ecs": {"CreateCluster", "CreateService", "RegisterTaskDefinition"},
    "ecr": {"CreateRepository"},
    "logs": {"CreateLogGroup", "CreateLogStream"},
    "codebuild": {"CreateProject"},
    "iam": {"CreateRole", "CreateUser", "CreatePolicy", "CreateInstanceProfile"},
}


def _tag_pairs(tags: Any) -> list[tuple[str, str]]:
    """moto's tags, whatever their shape, as (key, value) pairs."""
    if not tags:
        return []
    items: Iterable[Any] = tags.items() if isinstance(tags, dict) else tags
    pairs = []
    for item in items:
        if isinstance(item, tuple):  # a dict's entry: key -> value, or key -> {Key, Value}
            key, value = item
            if isinstance(value, dict):  # IAM managed policies: {lower key: {"Key", "Value"}}
                key, value = value.get("Key", key), value.get("Value")
        elif isinstance(item, dict):  # [{"key", "value"}] (ECS, CodeBuild), [{"Key", "Value"}] (IAM)
            key, value = item.get("key", item.get("Key")), item.get("value", item.get("Value"))
        else:
            continue
        if key is not None:
            pairs.append((str(key), "" if value is None else str(value)))
    return pairs


def _moto_backend(service: str, request: Request, region: str) -> Any:
    """moto's backend of ``service`` for the request's account in ``region`` (None if none)."""
    try:
        backends = getattr(importlib.import_module(f"moto.{service}.models"), f"{service}_backends")
        return backends[_moto_account(request)][region]
    except (ImportError, AttributeError, KeyError):
        return None


def _ecs_tags(backend: Any, resource: str) -> list[tuple[str, str]] | None:
    kind, _, rest = resource.partition("/")
    found: Any = None
    if kind == "cluster":
        found = backend.clusters.get(rest)
    elif kind == "service":
        cluster, _, name = rest.rpartition("/")
        if cluster:
            found = backend.services.get(f"{cluster}:{name}")
        else:  # the short ARN format, service/<name>: only if the name is unambiguous
            matches = [s for s in list(backend.services.values()) if s.name == name]
            found = matches[0] if len(matches) == 1 else None
    elif kind == "task-definition":
        family, _, revision = rest.rpartition(":")
        if family and revision.isdigit():
            found = backend.task_definitions.get(family, {}).get(int(revision))
    elif kind == "task":
        cluster, _, task_id = rest.rpartition("/")
        clusters = [backend.tasks.get(cluster, {})] if cluster else list(backend.tasks.values())
        matches = [t for tasks in clusters for arn, t in list(tasks.items())
                   if arn.rsplit("/", 1)[-1] == task_id]
        found = matches[0] if len(matches) == 1 else None
    return None if found is None else _tag_pairs(found.tags)


def _logs_tags(backend: Any, resource: str) -> list[tuple[str, str]] | None:
    if not resource.startswith("log-group:"):
        return None
    name, _, rest = resource[len("log-group:"):].partition(":")
    if rest not in ("", "*"):  # a log stream: its ARN carries the key, see README
        return None
    group = backend.groups.get(name)
    if group is None:
        return None
    # moto keeps TagResource's tags under the ARN as given: with or without the ":*".
    tags = {**backend.tagger.get_tag_dict_for_resource(f"{group.arn}:*"),
            **backend.tagger.get_tag_dict_for_resource(group.arn)}
    return _tag_pairs(tags)


def _iam_tags(backend: Any, resource: str, moto_arn: str) -> list[tuple[str, str]] | None:
    kind, _, path_name = resource.partition("/")
    name = path_name.rsplit("/", 1)[-1]
    found: Any = None
    if kind == "role":
        found = next((r for r in list(backend.roles.values()) if r.name == name), None)
    elif kind == "user":
        found = backend.users.get(name)
    elif kind == "policy":
        found = backend.managed_policies.get(moto_arn)
    elif kind == "instance-profile":
        found = next((p for p in list(backend.instance_profiles.values()) if p.name == name), None)
    if found is None or getattr(found, "arn", None) != moto_arn:  # another path: another resource
        return None
    return _tag_pairs(found.tags)


def resource_tags(request: Request, arn: str) -> tuple[str | None, list[tuple[str, str]]] | None:
    """The tags of the existing resource ``arn`` names and its service alias prefix.

    None when the resource does not exist (in moto), is in another account, or is of a type
    whose tags are not looked up.
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[4] != request.account:
        return None
    _, partition, service, region, _, resource = parts
    if any(c in resource.removesuffix(":*") for c in "*?"):  # a pattern, not a resource
        return None
    if service in ("ecs", "ecr", "logs", "codebuild"):
        backend = _moto_backend(service, request, region)
        if backend is None:
            return None
        if service == "ecs":
            tags = _ecs_tags(backend, resource)
            return None if tags is None else ("ecs", tags)
        if service == "logs":
            tags = _logs_tags(backend, resource)
            return None if tags is None else (None, tags)
        name = resource.partition("/")[2]
        if service == "ecr" and resource.startswith("repository/"):
            repository = backend.repositories.get(name)
            if repository is None:
                return None
            return "ecr", _tag_pairs(backend.tagger.get_tag_dict_for_resource(repository.arn))
        if service == "codebuild" and resource.startswith("project/"):
            project = backend.codebuild_projects.get(name)
            return None if project is None else (None, _tag_pairs(project.project_metadata.get("tags")))
        return None
    if service == "iam" and not region:
        backend = _moto_backend("iam", request, partition)
        if backend is None:
            return None
        moto_arn = f"arn:{partition}:iam::{_moto_account(request)}:{resource}"
        tags = _iam_tags(backend, resource, moto_arn)
        if tags is None:
            return None
        return ("iam" if resource.startswith(("role/", "user/")) else None), tags
    return None


def _resource_tag_context(request: Request, arn: str) -> dict[str, list[str]]:
    """``aws:resourcetag/<key>`` (and the service's alias) for each tag of the resource.

    The key name folds to lower case, tag key included (IAM: "Key names are not
    case-sensitive ... matches a resource tag key named either TagKey1 or tagkey1, but
    not both"); values keep their case. Tags whose keys differ only by case (ECS allows
    them) make that key ambiguous: it is listed under AMBIGUOUS_KEYS.
    """
    found = resource_tags(request, arn)
    if found is None:
        return {}
    alias, tags = found
    context: dict[str, list[str]] = {}
    ambiguous: set[str] = set()
    for key, value in tags:
        for prefix in ("aws", alias) if alias else ("aws",):
            name = f"{prefix}:resourcetag/{key.lower()}"
            if name in context:
                ambiguous.add(name)
                context[name].append(value)
            else:
                context[name] = [value]
    if ambiguous:
        context[AMBIGUOUS_KEYS] = sorted(ambiguous)
    return context


RESOLVERS: dict[str, Callable[[Request], list[Check]]] = {
    "ecs": _ecs, "ecr": _ecr, "cloudwatch": _cloudwatch, "events": _events, "logs": _logs,
    "codebuild": _codebuild, "iam": _iam, "sts": _sts, "sqs": _sqs, "s3": _s3, "lambda": _lambda,
}


def checks_for(request: Request) -> list[Check]:
    """Every authorization the request needs, the operation's own first."""
    resolver = RESOLVERS.get(request.prefix)
    if request.operation is None and resolver not in (_s3, _lambda):
        checks = [Check(f"{request.prefix}:Unknown", "*")]
    elif resolver is None:
        checks = [Check(f"{request.prefix}:{request.operation}", "*")]
    else:
        checks = resolver(request) or [Check(f"{request.prefix}:{request.operation}", "*")]
    global_context = {
        "aws:requestedregion": [request.region],
        "aws:principalaccount": [request.account],
        "aws:principalarn": [request.principal.role_arn],
        "aws:principaltype": ["AssumedRole"],
        "aws:securetransport": ["true"],
    }
    # The resource a creating operation is authorized on does not exist yet: no tags.
    created = checks[0].resource if checks and request.operation in _CREATING.get(request.prefix, ()) else None
    unique: list[Check] = []
    seen = set()
    for check in checks:
        identity = (check.action, check.resource, check.implicit)
        if identity in seen:
            continue
        seen.add(identity)
        tags = _resource_tag_context(request, check.resource) if check.resource != created else {}
        context = {**global_context, **tags, **{k.lower(): v for k, v in check.context.items()}}
        parts = check.resource.split(":", 5)
        if len(parts) == 6 and parts[4]:
            context.setdefault("aws:resourceaccount", [parts[4]])
        check.context = context
        unique.append(check)
    return unique


# ===================================================================================
# Answering a denied request
# ===================================================================================

_QUERY_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "monitoring": "http://monitoring.amazonaws.com/doc/2010-08-01/",
    "sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
}
_query_compatible_cache: dict[str, bool] = {}
_cache_lock = threading.Lock()


def _query_compatible(signing: str) -> bool:
    """Whether the service's JSON/CBOR protocol is awsQueryCompatible (CloudWatch, SQS)."""
    with _cache_lock:
        if signing not in _query_compatible_cache:
            try:
                model = botocore.session.get_session().get_service_model(BOTOCORE_NAME.get(signing, signing))
                _query_compatible_cache[signing] = "awsQueryCompatible" in model.metadata
            except Exception:
                _query_compatible_cache[signing] = False
        return _query_compatible_cache[signing]


def denial_message(principal: Principal, check: Check, explicit: bool) -> str:
    why = ("with an explicit deny in an identity-based policy" if explicit
           else f"because no identity-based policy allows the {check.action} action")
    return (f"User: {principal.arn} is not authorized to perform: {check.action} "
            f"on resource: {check.resource} {why}")


def deny(request: Request, start_response: Callable[..., Any], message: str) -> list[bytes]:
    """AWS's answer to an unauthorized request, in the request's protocol."""
    request_id = str(uuid.uuid4())
    protocol = request.protocol
    if protocol == "cbor":
        headers = {"x-amzn-requestid": request_id}
        if _query_compatible(request.signing):
            headers["x-amzn-query-error"] = "AccessDenied;Sender"
            return CborBridge._error(start_response, 403, "AccessDenied", message, headers)
        return CborBridge._error(start_response, 400, "AccessDeniedException", message, headers)
    if protocol == "json":
        content_type = request.environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1"
        headers = {"Content-Type": content_type, "x-amzn-RequestId": request_id}
        if _query_compatible(request.signing):
            headers["x-amzn-query-error"] = "AccessDenied;Sender"
            body = {"__type": "AccessDenied", "message": message}
            return respond(start_response, 403, json.dumps(body).encode(), headers.items())
        headers["x-amzn-ErrorType"] = "AccessDeniedException"
        body = {"__type": "AccessDeniedException", "message": message}
        return respond(start_response, 400, json.dumps(body).encode(), headers.items())
    if protocol == "ec2":
        text = f"You are not authorized to perform this operation. {message}"
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
                f"<Code>UnauthorizedOperation</Code><Message>{xml_escape(text)}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return respond(start_response, 403, body.encode(), [("Content-Type", "text/xml;charset=UTF-8")])
    if protocol == "query":
        namespace = _QUERY_NAMESPACES.get(request.signing)
        xmlns = f' xmlns="{namespace}"' if namespace else ""
        body = (f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                f"<Message>{xml_escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return respond(start_response, 403, body.encode(), [("Content-Type", "text/xml"),
                                                             ("x-amzn-RequestId", request_id)])
    if protocol == "rest-xml":  # S3
        body = b"" if request.environ.get("REQUEST_METHOD") == "HEAD" else (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
            f"<Message>{xml_escape(message)}</Message><RequestId>{request_id}</RequestId>"
            f"<HostId>{request_id}</HostId></Error>").encode()
        return respond(start_response, 403, body, [("Content-Type", "application/xml"),
                                                   ("x-amz-request-id", request_id)])
    body = json.dumps({"Type": "User", "Message": message}).encode()  # Lambda and other REST-JSON
    return respond(start_response, 403, body, [("Content-Type", "application/json"),
                                               ("x-amzn-ErrorType", "AccessDeniedException"),
                                               ("x-amzn-RequestId", request_id)])


# ===================================================================================
# The enforcer: principals, decisions, and the request hook
# ===================================================================================


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", label) or "_"


class IamEnforcer:
    def __init__(self, log_dir: str | None = None) -> None:
        self._lock = threading.Lock()
        self._principals: dict[str, Principal] = {}
        self._decisions: list[dict[str, Any]] = []
        self._log_dir = log_dir
        self._log_fds: dict[str, int] = {}
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)

    # -- control endpoints ---------------------------------------------------------

    def register(self, document: Any) -> tuple[int, Any]:
        try:
            principal = parse_principal(document)
        except ValueError as error:
            return 400, {"error": str(error)}
        for statement in principal.statements:
            for operator in statement.unknown_operators:
                print(f"rollgate iam: principal {principal.label}: unknown condition operator "
                      f"{operator!r} in statement {statement.sid or ''}: an Allow with it grants "
                      "nothing, a Deny with it always applies", file=sys.stderr)
        with self._lock:
            self._principals[principal.access_key] = principal
        return 200, {"ok": True}

    def remove(self, access_key: str | None) -> tuple[int, Any]:
        if not access_key:
            return 400, {"error": "access_key is required"}
        with self._lock:
            removed = self._principals.pop(access_key, None) is not None
        return 200, {"ok": True, "removed": removed}

    def decisions(self, access_key: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(d) for d in self._decisions if access_key is None or d["access_key"] == access_key]

    def reset(self, access_key: str | None = None) -> int:
        with self._lock:
            kept = [d for d in self._decisions if access_key is not None and d["access_key"] != access_key]
            removed = len(self._decisions) - len(kept)
            self._decisions = kept
            return removed

    # -- decision log ----------------------------------------------------------------

    def _record(self, request: Request, check: Check, outcome: str) -> None:
        entry = {
            "access_key": request.principal.access_key,
            "label": request.principal.label,
            "service": request.signing,
            "operation": request.operation,
            "action": check.action,
            "resource": check.resource,
            "allowed": outcome == ALLOW,
            "implicit": check.implicit,
        }
        with self._lock:
            self._decisions.append(entry)
            if not self._log_dir:
                return
            label = _safe_label(request.principal.label)
            fd = self._log_fds.get(label)
            if fd is None:
                path = os.path.join(self._log_dir, f"{label}.jsonl")
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._log_fds[label] = fd
        # One write on an O_APPEND descriptor: concurrent writers never interleave a line.
        os.write(fd, (json.dumps(entry) + "\n").encode())

    # -- the hook -----------------------------------------------------------------------

    def enforce(self, environ: dict[str, Any], start_response: Callable[..., Any],
                downstream: WSGIApp) -> Iterable[bytes] | None:
        """Answer the request if IAM refuses it; None to let it through."""
        credential = sigv4_credential(environ)
        if credential is None:
            return None
        principal = self._principals.get(credential.access_key)
        if principal is None:
            return None
        try:
            request = analyze(environ, credential, principal)
            if request.prefix == "sts" and request.operation == "GetCallerIdentity":
                # Always allowed, whatever the policies say (even an explicit Deny).
                self._record(request, Check("sts:GetCallerIdentity", "*"), ALLOW)
                return None
            if request.prefix == "events" and request.operation == "PutEvents":
                return self._put_events(request, start_response, downstream)
            checks = checks_for(request)
            denied: tuple[Check, str] | None = None
            for check in checks:
                outcome = self._decide(principal, check)
                self._record(request, check, outcome)
                if outcome != ALLOW and denied is None:
                    denied = (check, outcome)
            if denied is None:
                return None
            check, outcome = denied
            return deny(request, start_response, denial_message(principal, check, outcome == EXPLICIT_DENY))
        except Exception as error:  # an evaluator bug must be loud, never a silent allow
            traceback.print_exc(file=sys.stderr)
            body = json.dumps({"__type": "InternalFailure", "message": f"rollgate iam evaluator: {error!r}"})
            return respond(start_response, 500, body.encode(), [("Content-Type", "application/json")])

    @staticmethod
    def _decide(principal: Principal, check: Check, optimistic: frozenset[str] = frozenset()) -> str:
        outcomes = [evaluate(principal.statements, a, check.resource, check.context, optimistic)
                    for a in (check.action, *check.alternatives)]
        if ALLOW in outcomes:
            return ALLOW
        return EXPLICIT_DENY if EXPLICIT_DENY in outcomes else IMPLICIT_DENY

    _EVENT_KEYS = frozenset({"events:source", "events:detail-type"})

    def _put_events(self, request: Request, start_response: Callable[..., Any],
                    downstream: WSGIApp) -> Iterable[bytes] | None:
        """PutEvents is authorized entry by entry (one check per entry, not deduplicated).

        An entry whose bus the principal may not put to at all, whatever the source and
        detail type, fails the whole request (AccessDeniedException). An entry refused
        only for its source or detail type fails alone, as AWS reports it: in the
        answer's Entries (NotAuthorizedForSourceException / ...DetailTypeException),
        counted in FailedEntryCount; the other entries are put.
        """
        entries = [e for e in _list(request.params, "Entries") if isinstance(e, dict)]
        checks = checks_per_entry(request, entries)
        per_entry: list[str] = []
        for check in checks:
            outcome = self._decide(request.principal, check)
            self._record(request, check, outcome)
            per_entry.append(outcome)
            if outcome != ALLOW and self._decide(request.principal, check, self._EVENT_KEYS) != ALLOW:
                explicit = outcome == EXPLICIT_DENY
                return deny(request, start_response, denial_message(request.principal, check, explicit))
        if all(o == ALLOW for o in per_entry):
            return None
        failures: dict[int, dict[str, str]] = {}
        for index, (check, outcome) in enumerate(zip(checks, per_entry)):
            if outcome == ALLOW:
                continue
            source_only = self._decide(request.principal, check, frozenset({"events:detail-type"}))
            if source_only == ALLOW:
                failures[index] = {"ErrorCode": "NotAuthorizedForDetailTypeException",
                                   "ErrorMessage": "Not authorized for the detail type."}
            else:
                failures[index] = {"ErrorCode": "NotAuthorizedForSourceException",
                                   "ErrorMessage": "Not authorized for the source."}
        kept = [e for i, e in enumerate(entries) if i not in failures]
        content_type = request.environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1"
        accepted: list[dict[str, Any]] = []
        failed_upstream = 0
        headers = {"Content-Type": content_type, "x-amzn-RequestId": str(uuid.uuid4())}
        status = 200
        if kept:
            forwarded = dict(request.environ)
            replace_body(forwarded, json.dumps({**request.params, "Entries": kept}).encode())
            reply = call_app(downstream, forwarded)
            if reply.status >= 300:
                passthrough = [(k, v) for k, v in reply.headers.items() if k != "content-length"]
                return respond(start_response, reply.status, reply.body, passthrough)
            answer = json.loads(reply.body or b"{}")
            accepted = list(answer.get("Entries", []))
            failed_upstream = int(answer.get("FailedEntryCount", 0))
            status = reply.status
        merged, accepted_iter = [], iter(accepted)
        for index in range(len(entries)):
            merged.append(failures[index] if index in failures else next(accepted_iter, {}))
        body = {"FailedEntryCount": failed_upstream + len(failures), "Entries": merged}
        return respond(start_response, status, json.dumps(body).encode(), headers.items())


def checks_per_entry(request: Request, entries: list[dict[str, Any]]) -> list[Check]:
    """One events:PutEvents check per entry, in entry order (global keys included)."""
    checks = []
    for entry in entries:
        single = Request(**{**request.__dict__, "params": {"Entries": [entry]}})
        checks.extend(checks_for(single))
    return checks
