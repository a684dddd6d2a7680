"""CloudWatch Logs limits that depend on what a log group already has (moto 5.2 has none).

* At most 50 tags on a log group (or destination), counted after the request's tags are
  merged into the existing ones (a key already there is replaced, so it does not count
  twice): ``LOGS_MAX_TAGS_PER_RESOURCE``. ``TagResource`` answers ``TooManyTagsException``,
  the error its model has for this; ``TagLogGroup`` (deprecated, its model has no
  TooManyTagsException) ``InvalidParameterException``. ``CreateLogGroup``'s ``tags`` are
  the whole set of a new group, so the model's ``max: 50`` on that map, checked by
  validate.py, is the limit there (``InvalidParameterException``).

The per-request checks (map size, key and value patterns) are validate.py's.
"""

from __future__ import annotations

import json

from moto.core.exceptions import JsonRESTError
from moto.logs.exceptions import InvalidParameterException
from moto.logs.models import LogsBackend

# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_TagResource.html
# "You can associate as many as 50 tags with a CloudWatch Logs resource." and, for an
# existing key, "the new tag value that you specify replaces the previous value for that
# tag". Errors: TooManyTagsException, "A resource can have no more than 50 tags." (HTTP 400;
# its members are message and resourceName). TagLogGroup
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_TagLogGroup.html)
# lists only ResourceNotFoundException and InvalidParameterException: the latter is our
# choice for it.
LOGS_MAX_TAGS_PER_RESOURCE = 50
_TOO_MANY_TAGS = "A resource can have no more than 50 tags."


class TooManyTagsException(JsonRESTError):
    code = 400

    def __init__(self, resource_name: str) -> None:
        super().__init__("TooManyTagsException", _TOO_MANY_TAGS)
        self.description = json.dumps(
            {"__type": "TooManyTagsException", "message": _TOO_MANY_TAGS, "resourceName": resource_name}
        )


def _existing_keys(backend: LogsBackend, arn: str) -> set[str]:
    """The tag keys the resource has. moto keeps TagResource's tags under the ARN as given;
    iam_enforce.py reads a log group's under its ARN with and without a trailing ":*", and
    so does this (TagResource's model pattern refuses the "*", so normally only the first)."""
    base = arn[: -len(":*")] if arn.endswith(":*") else arn
    keys: set[str] = set()
    for key in (base, f"{base}:*"):
        keys |= set(backend.tagger.get_tag_dict_for_resource(key))
    return keys


def _tag_count_after(backend: LogsBackend, arn: str, tags: dict[str, str] | None) -> int:
    return len(_existing_keys(backend, arn) | set(tags or {}))


_moto_tag_resource = LogsBackend.tag_resource
_moto_tag_log_group = LogsBackend.tag_log_group


def _tag_resource(self: LogsBackend, arn: str, tags: dict[str, str] | None) -> None:
    # Also reached from create_log_group (a new group: only its own tags) and tag_log_group
    # (checked first, with its own error).
    if _tag_count_after(self, arn, tags) > LOGS_MAX_TAGS_PER_RESOURCE:
        raise TooManyTagsException(arn)
    _moto_tag_resource(self, arn, tags)


def _tag_log_group(self: LogsBackend, log_group_name: str, tags: dict[str, str]) -> None:
    group = self.groups.get(log_group_name)
    if group is not None and _tag_count_after(self, group.arn, tags) > LOGS_MAX_TAGS_PER_RESOURCE:
        raise InvalidParameterException(msg=_TOO_MANY_TAGS)
    _moto_tag_log_group(self, log_group_name, tags)


_installed = False


def install() -> None:
    """Apply the patches to moto's Logs backend (idempotent)."""
    global _installed
    if _installed:
        return
    LogsBackend.tag_resource = _tag_resource
    LogsBackend.tag_log_group = _tag_log_group
    _installed = True
