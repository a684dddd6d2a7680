"""The Resource Groups Tagging API's GetResources for ECS, as strict as AWS, with its lag.

rollgate discovers ECS services and task-definition revisions by their tags with
``GetResources`` (awsJson 1.1, ``X-Amz-Target: ResourceGroupsTaggingAPI_20170126.GetResources``,
SigV4 signing name ``tagging``, IAM action ``tag:GetResources`` on ``*``). moto 5.2.5 serves the
call, but loosely: it never lists a resource without tags (not even one that had tags),
leaves the token out of the last page, lets a token be used once but never expire, stops a
``TagsPerPage`` page one tag short, ignores ``ResourceARNList``'s exclusions, and always
answers the live state. Here, when every ``ResourceTypeFilters`` entry is ``ecs`` or ``ecs:<type>``,
the emulator answers itself (``serve``), as AWS documents the call
(https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html,
and botocore's model, GetResourcesInput):

* ``ResourceTypeFilters``: ``service[:resourceType]``; ``ecs`` matches every ECS type,
  ``ecs:service`` / ``ecs:task-definition`` / ``ecs:cluster`` / ``ecs:task`` exactly. Served:
  services (INACTIVE ones too), every task-definition revision (ACTIVE, INACTIVE and
  DELETE_IN_PROGRESS, until ecs_ext purges it), clusters and tasks. Other ECS types
  (capacity providers, container instances, task sets) list nothing.
* ``TagFilters``: filters are ANDed, the values of one filter ORed, a filter without values
  matches the key with any value: "GetResources({filter1,filter2,filter3}) returns resources
  tagged with (key1=value1) and (key2=value2 or key2=value3 or key2=value4) and (key3, any or
  no value)". "A request can include up to 50 keys, and each key can include up to 20
  values" (the model's limits: validate.py refuses more, InvalidParameterException).
* Without ``TagFilters``: "the response includes all resources that are currently tagged or
  ever had a tag. Resources that were previously tagged, but do not currently have tags, are
  shown with an empty tag set, like this: "Tags": []". A resource never tagged is not listed
  ("GetResources does not return untagged resources"); with TagFilters an untagged one never
  matches.
* Pagination: ``ResourcesPerPage`` (1-100; 100 when not given) and ``TagsPerPage`` (100-500:
  "A resource with no tags is counted as having one tag", "GetResources does not split a
  resource and its associated tags across pages"). The whole answer is taken at the first page
  and later pages read that snapshot; a page's ``PaginationToken`` is opaque, ``""`` on the last
  page (never a token when nothing is left), and valid for 15 minutes of the emulator's clock
  ("A PaginationToken is valid for a maximum of 15 minutes", PaginationTokenExpiredException);
  an expired or unknown token is ``PaginationTokenExpiredException`` (HTTP 400). A token may be
  used again while valid (an SDK retry after a lost answer resends it). Our choice: a token of
  another account or region is unknown there.
* Region and account: the SigV4 scope's region, the account moto serves the request in
  (``MOTO_ACCOUNT_ID``, ``x-moto-account-id``, else the access key's account).
* Deleted resources: AWS keeps returning deleted resources for a while (aws/aws-cli#4173,
  aws/aws-sdk#676, boto/boto3#3341): INACTIVE services and clusters (moto keeps them) stay
  listed with their tags; a task-definition revision disappears when ecs_ext purges it.

``ResourceARNList`` alone, ``IncludeComplianceDetails``, and requests naming other services'
types (or none) are answered by moto; ``ResourceARNList`` with filters or pagination
parameters is refused by validate.py for every request.

**Eventual consistency.** The tagging API is fed asynchronously by the services (aws/aws-sdk#302:
"services with taggable resources should be onboarded to an internal tag management service
to be able to get the up-to-date resources associated with the tag"); AWS documents no delay.
``POST /_rollgate/tagging/lag {"seconds": L}`` makes GetResources answer the state as of
emulator time now - L: a resource created less than L ago is not listed yet, a tag change less
than L old is not reflected yet, a revision purged less than L ago is still listed with its
last tags. The state at a cutoff comes from a journal kept by wrapping every ECS backend
method that changes a tag or whether a resource exists (``install``): each change appends
(emulator time, ARN, the tags before it, or None: "did not exist"); the state of an ARN at the
cutoff is the "before" of its earliest entry later than the cutoff, else its live state.
``"page_limit": n`` (same endpoint) makes every page hold at most n resources ("A query can
return fewer than this maximum, even if there are more results still to return"), to catch a
client that does not follow tokens.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends

import clock
import ecs_ext
from wsgi_util import read_body, respond, sigv4_credential

SIGNING_NAME = "tagging"
TARGET = "ResourceGroupsTaggingAPI_20170126.GetResources"
CONTENT_TYPE = "application/x-amz-json-1.1"
DEFAULT_ACCOUNT = "123456789012"

# ResourcesPerPage: "You can specify a minimum of 1 and a maximum value of 100." Our choice when
# it is not given: the maximum.
DEFAULT_RESOURCES_PER_PAGE = 100
# PaginationTokenExpiredException: "A PaginationToken is valid for a maximum of 15 minutes."
TOKEN_LIFETIME = datetime.timedelta(minutes=15)
TOKEN_EXPIRED = (
    "The specified PaginationToken has expired or is not valid. A PaginationToken is valid "
    "for a maximum of 15 minutes."
)
_TOKEN_PREFIX = "rgt1"  # tells our tokens from moto's (UUIDs); opaque to clients
_MAX_CURSORS = 10_000  # tokens kept at most (the oldest go first)

# The journal keeps changes this much longer than the lag asks for, and at most this many a
# resource (a clock held still never ages them out).
JOURNAL_MARGIN = datetime.timedelta(hours=1)
JOURNAL_MAX_ENTRIES_PER_RESOURCE = 100

Tags = tuple[tuple[str, str], ...]  # (key, value) pairs, in the resource's order


class TaggingError(Exception):
    """An AWS error answer of GetResources (HTTP 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SettingsError(ValueError):
    """A bad ``POST /_rollgate/tagging/lag`` body."""


@dataclass
class _Cursor:
    """What a PaginationToken stands for: the rest of a snapshot."""

    account: str
    region: str
    items: list[tuple[str, Tags]]
    offset: int
    expires: datetime.datetime


# All of the module's state; RLock: a recorded call may run another recorded one inside.
_lock = threading.RLock()
_local = threading.local()  # .recording: this thread is inside a recorded call
_journal: dict[str, list[tuple[datetime.datetime, Tags | None]]] = {}
_first_tagged: dict[str, datetime.datetime] = {}  # ARN -> when it was first seen with a tag
_gone: set[str] = set()  # ARNs whose last recorded change removed them
_cursors: dict[str, _Cursor] = {}
_lag_seconds: float = 0
_page_limit: int | None = None


# --------------------------------------------------------------------------
# The ECS resources GetResources sees, and the journal of their changes
# --------------------------------------------------------------------------


def _tags(raw: Any) -> Tags:
    """moto's ECS tag list ``[{"key", "value"}]`` as (key, value) pairs."""
    return tuple((t["key"], t.get("value", "")) for t in raw or [] if isinstance(t, dict) and "key" in t)


def _live_state(backend: EC2ContainerServiceBackend) -> dict[str, Tags]:
    """ARN -> tags of every ECS resource served, as the backend has them now."""
    state: dict[str, Tags] = {}
    for service in list(backend.services.values()):
        state[service.arn] = _tags(service.tags)
    for cluster in list(backend.clusters.values()):
        state[cluster.arn] = _tags(cluster.tags)
    for revisions in list(backend.task_definitions.values()):
        for task_definition in list(revisions.values()):
            state[task_definition.arn] = _tags(task_definition.tags)
    for tasks in list(backend.tasks.values()):
        for task in list(tasks.values()):
            state[task.task_arn] = _tags(task.tags)
    return state


def _states(backends: Iterable[EC2ContainerServiceBackend]) -> dict[str, Tags]:
    state: dict[str, Tags] = {}
    for backend in backends:
        state.update(_live_state(backend))
    return state


def _record(before: dict[str, Tags], after: dict[str, Tags]) -> None:
    """Journal every difference between two states (caller holds ``_lock``)."""
    now = clock.utcnow()
    changed = False
    for arn in before.keys() | after.keys():
        old, new = before.get(arn), after.get(arn)
        if old == new:
            continue
        _journal.setdefault(arn, []).append((now, old))
        changed = True
        if new is None:
            _gone.add(arn)
        else:
            _gone.discard(arn)
    for arn, tags in after.items():
        if tags and arn not in _first_tagged:
            _first_tagged[arn] = now
    if changed:
        _prune(now)


def _prune(now: datetime.datetime) -> None:
    """Drop what no cutoff can need any more: entries older than the lag plus a margin."""
    horizon = now - datetime.timedelta(seconds=_lag_seconds) - JOURNAL_MARGIN
    for arn in list(_journal):
        kept = [entry for entry in _journal[arn] if entry[0] >= horizon][-JOURNAL_MAX_ENTRIES_PER_RESOURCE:]
        if kept:
            _journal[arn] = kept
        else:
            del _journal[arn]
    for arn in list(_gone):
        if arn not in _journal:  # gone, and for longer than any cutoff reaches back
            _gone.discard(arn)
            _first_tagged.pop(arn, None)


def _all_backends() -> list[EC2ContainerServiceBackend]:
    # dict views: only the backends that exist (indexing would create them).
    return [backend for per_account in list(ecs_backends.values()) for backend in list(per_account.values())]


def _recorded(method: Callable[..., Any], backends_of: Callable[..., list[EC2ContainerServiceBackend]],
              needed: Callable[..., bool] | None = None) -> Callable[..., Any]:
    """``method``, journaling the changes it makes to the backends ``backends_of`` names.

    Recorded calls run one at a time (they are short), so each one's before / after states
    are its own. A recorded call made inside another is part of the outer one.
    """

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "recording", False) or (needed is not None and not needed(*args, **kwargs)):
            return method(*args, **kwargs)
        with _lock:
            _local.recording = True
            try:
                backends = backends_of(*args, **kwargs)
                before = _states(backends)
                try:
                    return method(*args, **kwargs)
                finally:
                    _record(before, _states(backends))
            finally:
                _local.recording = False

    return wrapper


def _has_deleted_revisions(backend: EC2ContainerServiceBackend) -> bool:
    return any(
        d.status == "DELETE_IN_PROGRESS"
        for revisions in list(backend.task_definitions.values())
        for d in list(revisions.values())
    )


# EC2ContainerServiceBackend methods that create, delete, tag or untag a resource served here,
# or change ARNs (the account settings switch services and tasks between long and short ARNs).
# ecs_ext's patched versions are the ones wrapped (install() runs after ecs_ext.install()).
RECORDED_METHODS = (
    "create_cluster",
    "delete_cluster",
    "create_service",
    "delete_service",
    "register_task_definition",
    "delete_task_definitions",
    "tag_resource",
    "untag_resource",
    "run_task",
    "start_task",
    "put_account_setting",
    "delete_account_setting",
)

_installed = False


def install() -> None:
    """Wrap the ECS backend's changing methods (after ``ecs_ext.install()``; idempotent)."""
    global _installed
    if _installed:
        return
    ecs_ext.install()  # idempotent: its patches are the ones wrapped
    for name in RECORDED_METHODS:
        method = getattr(EC2ContainerServiceBackend, name)
        setattr(EC2ContainerServiceBackend, name, _recorded(method, lambda self, *a, **k: [self]))
    # Module functions ecs_ext calls by their global name: rebinding them reaches every caller.
    # _purge_deleted removes deleted revisions nothing uses (from describe/list/register calls);
    # make_short_arn (POST /_rollgate/ecs/short-arn) changes a service's ARN and drops its tags.
    ecs_ext._purge_deleted = _recorded(
        ecs_ext._purge_deleted, lambda backend: [backend], needed=_has_deleted_revisions
    )
    ecs_ext.make_short_arn = _recorded(ecs_ext.make_short_arn, lambda request: _all_backends())
    _installed = True


def _state_at(arn: str, live: dict[str, Tags], cutoff: datetime.datetime) -> Tags | None:
    """The ARN's tags as of ``cutoff`` (None: it did not exist then). Caller holds ``_lock``."""
    later = [entry for entry in _journal.get(arn, ()) if entry[0] > cutoff]
    if later:
        return min(later, key=lambda entry: entry[0])[1]
    return live.get(arn)


# --------------------------------------------------------------------------
# Settings: POST / GET /_rollgate/tagging/lag
# --------------------------------------------------------------------------


def settings() -> dict[str, Any]:
    with _lock:
        return {"seconds": _lag_seconds, "page_limit": _page_limit}


def set_settings(request: dict[str, Any]) -> dict[str, Any]:
    """``{"seconds": L >= 0, "page_limit": n >= 1 | null}``, either or both; SettingsError if bad."""
    global _lag_seconds, _page_limit
    unknown = set(request) - {"seconds", "page_limit"}
    if unknown:
        raise SettingsError(f"unknown field(s) {sorted(unknown)}")
    if not request:
        raise SettingsError('"seconds" (a number >= 0) and/or "page_limit" (an integer >= 1 or null) required')
    seconds = request.get("seconds", None)
    if "seconds" in request and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds) or seconds < 0
    ):
        raise SettingsError('"seconds" must be a number >= 0')
    limit = request.get("page_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise SettingsError('"page_limit" must be an integer >= 1, or null for none')
    with _lock:
        if "seconds" in request:
            _lag_seconds = seconds
        if "page_limit" in request:
            _page_limit = limit
    return settings()


# --------------------------------------------------------------------------
# GetResources
# --------------------------------------------------------------------------


def _moto_account(environ: dict[str, Any], access_key: str) -> str:
    """The account moto serves the request in (moto's BaseResponse.get_current_account)."""
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    try:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(access_key)
    except Exception:
        return DEFAULT_ACCOUNT


def _is_ecs_type_filter(value: Any) -> bool:
    return isinstance(value, str) and (value == "ecs" or value.startswith("ecs:"))


def _served_here(params: dict[str, Any]) -> bool:
    token = params.get("PaginationToken")
    if params.get("ResourceARNList") is not None or params.get("IncludeComplianceDetails"):
        return False  # moto's (validate.py refused the combinations AWS refuses)
    if isinstance(token, str) and token.startswith(_TOKEN_PREFIX):
        return True  # a page of one of our snapshots, whatever else the request says
    filters = params.get("ResourceTypeFilters")
    return isinstance(filters, list) and bool(filters) and all(_is_ecs_type_filter(f) for f in filters)


def _int_param(params: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        # validate.py refuses the range first, in AWS's words; this guards other types.
        raise TaggingError("InvalidParameterException", f"{name} must be an integer from {low} to {high}.")
    return value


def _tag_filters(params: dict[str, Any]) -> list[tuple[str, set[str]]]:
    raw = params.get("TagFilters") or []
    if not isinstance(raw, list):
        raise TaggingError("InvalidParameterException", "TagFilters must be a list.")
    filters = []
    for entry in raw:
        key = entry.get("Key") if isinstance(entry, dict) else None
        values = entry.get("Values") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not (values is None or isinstance(values, list)):
            raise TaggingError("InvalidParameterException", "Each TagFilter must contain a Key, and Values a list.")
        filters.append((key, {v for v in values or [] if isinstance(v, str)}))
    return filters


def _matches(tags: Tags, filters: list[tuple[str, set[str]]]) -> bool:
    by_key: dict[str, set[str]] = {}
    for key, value in tags:
        by_key.setdefault(key, set()).add(value)
    return all(key in by_key and (not values or bool(values & by_key[key])) for key, values in filters)


def _resource_type(arn: str) -> str:
    """``ecs:service`` for ``arn:aws:ecs:r:a:service/c/s``..."""
    parts = arn.split(":", 5)
    return f"{parts[2]}:{parts[5].split('/', 1)[0]}" if len(parts) == 6 else ""


def _in_scope(arn: str, account: str, region: str) -> bool:
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "ecs" and parts[3] == region and parts[4] == account


def _snapshot(account: str, region: str, params: dict[str, Any], now: datetime.datetime) -> list[tuple[str, Tags]]:
    """Every resource the request matches, as of now - lag, sorted by ARN (caller holds the lock)."""
    type_filters = [f for f in params.get("ResourceTypeFilters") or [] if isinstance(f, str)]
    tag_filters = _tag_filters(params)
    backend = (ecs_backends.get(account) or {}).get(region)
    live = _live_state(backend) if backend is not None else {}
    lagged = _lag_seconds > 0
    cutoff = now - datetime.timedelta(seconds=_lag_seconds)
    candidates = set(live)
    if lagged:
        candidates |= {arn for arn in _journal if _in_scope(arn, account, region)}
    items = []
    for arn in candidates:
        if not _in_scope(arn, account, region):
            continue
        resource_type = _resource_type(arn)
        if not any(f == "ecs" or f == resource_type for f in type_filters):
            continue
        tags = _state_at(arn, live, cutoff) if lagged else live.get(arn)
        if tags is None:
            continue  # did not exist (yet, or any more) at the cutoff
        if tag_filters:
            if not _matches(tags, tag_filters):
                continue
        elif not tags:
            first = _first_tagged.get(arn)
            if first is None or first > cutoff:
                continue  # never tagged (by the cutoff): GetResources does not list it
        items.append((arn, tags))
    items.sort()
    return items


def _page(items: list[tuple[str, Tags]], offset: int, resources_per_page: int,
          tags_per_page: int | None) -> int:
    """The end of the page that starts at ``offset`` (at least one resource, if any remain)."""
    limit = resources_per_page if _page_limit is None else min(resources_per_page, _page_limit)
    end, tag_count = offset, 0
    while end < len(items) and end - offset < limit:
        cost = max(1, len(items[end][1]))  # "A resource with no tags is counted as having one tag"
        if tags_per_page is not None and end > offset and tag_count + cost > tags_per_page:
            break
        tag_count += cost
        end += 1
    return end


def _drop_expired_cursors(now: datetime.datetime) -> None:
    for token in [t for t, cursor in _cursors.items() if cursor.expires < now]:
        del _cursors[token]
    while len(_cursors) > _MAX_CURSORS:
        del _cursors[next(iter(_cursors))]


def get_resources(account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
    """GetResources' answer; TaggingError for AWS's errors."""
    resources_per_page = _int_param(params, "ResourcesPerPage", 1, 100) or DEFAULT_RESOURCES_PER_PAGE
    tags_per_page = _int_param(params, "TagsPerPage", 100, 500)
    token = params.get("PaginationToken") or ""
    if not isinstance(token, str):
        raise TaggingError("InvalidParameterException", "PaginationToken must be a string.")
    backend = (ecs_backends.get(account) or {}).get(region)
    if backend is not None:
        ecs_ext._purge_deleted(backend)  # as ECS's describe calls do; journaled (install)
    with _lock:
        now = clock.utcnow()
        _drop_expired_cursors(now)
        if token:
            cursor = _cursors.get(token)
            if cursor is None or cursor.expires < now or (cursor.account, cursor.region) != (account, region):
                raise TaggingError("PaginationTokenExpiredException", TOKEN_EXPIRED)
            items, offset = cursor.items, cursor.offset
        else:
            items, offset = _snapshot(account, region, params, now), 0
        end = _page(items, offset, resources_per_page, tags_per_page)
        next_token = ""
        if end < len(items):
            next_token = f"{_TOKEN_PREFIX}{secrets.token_urlsafe(48)}"
            _cursors[next_token] = _Cursor(account, region, items, end, now + TOKEN_LIFETIME)
    return {
        "PaginationToken": next_token,
        "ResourceTagMappingList": [
            {"ResourceARN": arn, "Tags": [{"Key": key, "Value": value} for key, value in tags]}
            for arn, tags in items[offset:end]
        ],
    }


def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes] | None:
    """The answer to a GetResources call served here, or None to let moto answer.

    Runs after the IAM hook and validate.py (so the request is authorized and valid).
    """
    if environ.get("HTTP_X_AMZ_TARGET") != TARGET:
        return None
    credential = sigv4_credential(environ)
    if credential is None or credential.service != SIGNING_NAME:
        return None
    try:
        params = json.loads(read_body(environ) or b"{}")
    except ValueError:
        return None
    if not isinstance(params, dict) or not _served_here(params):
        return None
    headers = [("Content-Type", CONTENT_TYPE), ("x-amzn-RequestId", str(uuid.uuid4()))]
    try:
        document = get_resources(_moto_account(environ, credential.access_key), credential.region, params)
    except TaggingError as error:
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        return respond(start_response, 400, body, headers + [("x-amzn-ErrorType", error.code)])
    return respond(start_response, 200, json.dumps(document).encode(), headers)
