"""ECR behaviour a test needs and moto 5.2 cannot give.

* A chosen push time: moto stamps ``imagePushedAt`` with the wall clock, in
  whole seconds. The storm (tests/storm.rs) runs on a logical clock (one second
  per step), so every image it pushes gets the step's time: push order and ECR's
  push times then agree in every run, and two pushes never share a second.
* ECR's limits that depend on what exists (``install()``): at most 50 tags on a
  repository after ``TagResource`` merges new tags in, at most 1,000 tags on one
  image, and ``ImageTagAlreadyExistsException`` (moto: ImageAlreadyExists) when
  ``PutImage`` moves a tag of an IMMUTABLE repository to another image. The
  per-request checks are in validate.py.
* ``PutImageScanningConfiguration`` with ``scanOnPush`` false (omitted, as SDKs send a
  false boolean) turns scanning off; moto kept the old configuration.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from moto.core.exceptions import ServiceException
from moto.ecr.models import ECRBackend, Repository, RepoTagMutability, ecr_backends

from validate import is_reserved_tag_key

# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_TagResource.html
# TooManyTagsException: "The list of tags on the repository is over the limit. The
# maximum number of tags that can be applied to a repository is 50." Counted after
# the merge (a key already there is replaced); aws: tags do not count.
ECR_MAX_TAGS_PER_REPOSITORY = 50
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html
# "Tags per image: 1,000". PutImage's LimitExceededException: "The operation did
# not succeed because it would have exceeded a service limit for your account."
ECR_MAX_TAGS_PER_IMAGE = 1000


class TooManyTagsException(ServiceException):
    code = "TooManyTagsException"


class LimitExceededException(ServiceException):
    code = "LimitExceededException"


class ImageTagAlreadyExistsException(ServiceException):
    """https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html:
    "The specified image is tagged with a tag that already exists. The repository
    is configured for tag immutability." """

    code = "ImageTagAlreadyExistsException"


_moto_tag_resource = ECRBackend.tag_resource
_moto_put_image = ECRBackend.put_image


def _tag_resource(self: ECRBackend, arn: str, tags: list[dict[str, str]]) -> None:
    resource = self._parse_resource_arn(arn)
    repository = self._get_repository(resource.repo_name, resource.account_id)
    existing = self.tagger.list_tags_for_resource(repository.arn)["tags"]
    keys = {t["Key"] for t in existing} | {t["Key"] for t in tags}
    user_keys = [k for k in keys if not is_reserved_tag_key(k)]
    if len(user_keys) > ECR_MAX_TAGS_PER_REPOSITORY:
        raise TooManyTagsException(
            "The list of tags on the repository is over the limit. The maximum number of tags "
            f"that can be applied to a repository is {ECR_MAX_TAGS_PER_REPOSITORY}."
        )
    _moto_tag_resource(self, arn, tags)


def _tag_is_mutable(repository: Repository, tag: str) -> bool:
    if not repository.is_tag_immutable():
        return True
    if repository.image_tag_mutability != RepoTagMutability.IMMUTABLE_WITH_EXCLUSION:
        return False
    # IMMUTABLE_WITH_EXCLUSION: tags matching an exclusion filter stay mutable.
    return any(
        fnmatch.fnmatchcase(tag, f.get("filter", ""))
        for f in (repository.image_tag_mutability_exclusion_filters or [])
    )


def _put_image(self: ECRBackend, repository_name: str, image_manifest: str, image_tag: str, *args: Any, **kwargs: Any) -> Any:
    repository = self.repositories.get(repository_name)
    if repository is not None and image_tag is not None:
        tagged = [i for i in repository.images if image_tag in i.image_tags]
        if not _tag_is_mutable(repository, image_tag) and any(i.image_manifest != image_manifest for i in tagged):
            raise ImageTagAlreadyExistsException(
                f"The image tag '{image_tag}' already exists in the '{repository_name}' repository "
                "and cannot be overwritten because the repository is immutable."
            )
        same = next((i for i in repository.images if i.image_manifest == image_manifest), None)
        if same is not None and image_tag not in same.image_tags and len(same.image_tags) >= ECR_MAX_TAGS_PER_IMAGE:
            raise LimitExceededException(
                "The operation did not succeed because it would have exceeded a service limit for your "
                f"account: an image can have at most {ECR_MAX_TAGS_PER_IMAGE} tags."
            )
    return _moto_put_image(self, repository_name, image_manifest, image_tag, *args, **kwargs)


_installed = False


def _update_image_scanning_configuration(self: Repository, image_scanning_configuration: Any) -> None:
    """PutImageScanningConfiguration replaces the configuration; ``scanOnPush`` absent means
    false (its default in the ECR API model). moto 5.2 ignored an empty configuration, so
    turning scan-on-push off (SDKs omit a false boolean) was a no-op in the emulator only."""
    config = dict(image_scanning_configuration or {})
    config["scanOnPush"] = bool(config.get("scanOnPush", False))
    self.image_scanning_configuration = config


def install() -> None:
    """Apply the patches to moto's ECR backend (idempotent)."""
    global _installed
    if _installed:
        return
    ECRBackend.tag_resource = _tag_resource
    ECRBackend.put_image = _put_image
    Repository._update_image_scanning_configuration = _update_image_scanning_configuration
    _installed = True


class PushedAtError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def set_pushed_at(request: dict[str, Any]) -> dict[str, Any]:
    """Sets ``imagePushedAt`` (epoch seconds) of the image ``digest`` in ``repository``."""
    repository, digest, pushed_at = request.get("repository"), request.get("digest"), request.get("pushedAt")
    if not isinstance(repository, str) or not isinstance(digest, str):
        raise PushedAtError(400, "repository and digest must be strings")
    if isinstance(pushed_at, bool) or not isinstance(pushed_at, int) or pushed_at < 0:
        raise PushedAtError(400, "pushedAt must be epoch seconds (an integer >= 0)")
    found = 0
    # list() copies: request threads may be adding accounts/regions meanwhile.
    for per_account in list(ecr_backends.values()):
        for backend in list(per_account.values()):
            repo = backend.repositories.get(repository)
            if repo is None:
                continue
            for image in repo.images:
                if image.image_digest == digest:
                    image.image_pushed_at = pushed_at
                    found += 1
    if not found:
        raise PushedAtError(404, f"no image {digest} in repository {repository}")
    return {"updated": found}
