"""IAM limits that depend on what a role already has (not IAM enforcement: see iam_enforce.py).

* At most 50 tags on a role, counted after ``TagRole`` merges the request's tags into the
  role's (``IAM_MAX_TAGS_PER_ROLE``): ``LimitExceeded`` (HTTP 409). moto 5.2.5 limits one
  request to 50 tags (the model's ``tagListType`` max, also checked by validate.py) but let
  a role grow past 50 over several TagRole calls. ``CreateRole``'s tags are the whole set
  of a new role, so the model's limit is the limit there.

The merge is counted as moto performs it: a key already on the role (same spelling) is
replaced and counts once.
"""

from __future__ import annotations

from moto.iam.exceptions import LimitExceededException
from moto.iam.models import IAMBackend

# https://docs.aws.amazon.com/IAM/latest/APIReference/API_TagRole.html: "If a tag with the
# same key name already exists, then that tag is overwritten with the new value." ... "If any
# one of the tags is invalid or if you exceed the allowed maximum number of tags, then the
# entire request fails"; Errors: LimitExceeded, "The request was rejected because it
# attempted to create resources beyond the current AWS account limits. The error message
# describes the limit exceeded." (HTTP 409). The maximum, 50 tags on a role, is in the IAM
# quotas (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html; the
# TagRole request itself is limited to 50 by its model). The message
# follows IAM's wording for its other quotas ("Cannot exceed quota for PoliciesPerRole: 10",
# "Cannot exceed quota for InstanceProfilesPerAccount: 1000", as AWS answers them in
# aws/eks-hybrid#741, ansible/workshops#1801); this one's exact text is not confirmed.
IAM_MAX_TAGS_PER_ROLE = 50

_moto_tag_role = IAMBackend.tag_role


def _tag_role(self: IAMBackend, role_name: str, tags: list[dict[str, str]]) -> None:
    role = self.get_role(role_name)  # NoSuchEntity first, as moto
    keys = {t["Key"] for t in role.tags} | {t["Key"] for t in tags}
    if len(keys) > IAM_MAX_TAGS_PER_ROLE:
        raise LimitExceededException(f"Cannot exceed quota for TagsPerRole: {IAM_MAX_TAGS_PER_ROLE}")
    _moto_tag_role(self, role_name, tags)


_installed = False


def install() -> None:
    """Apply the patch to moto's IAM backend (idempotent)."""
    global _installed
    if _installed:
        return
    IAMBackend.tag_role = _tag_role
    _installed = True
