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
* A mutable tag pushed again moves to the new image, and the image that held it stays in the
  repository, untagged, as in ECR; moto deleted that image (a BatchDeleteImage by the tag),
  so a live revision's image could vanish when its tag was re-pushed.
* ``PutImageScanningConfiguration`` with ``scanOnPush`` false (omitted, as SDKs send a
  false boolean) turns scanning off; moto kept the old configuration.
* Image identity and metadata as ECR reports them (``install()``): ``imageDigest`` is the
  sha256 of the exact manifest bytes (moto hashed the concatenated layer digests, and gave
  manifests without layers, e.g. an image index, a random one of 101 digests); a PutImage
  ``imageDigest`` that is not that digest is ``ImageDigestDoesNotMatchException``;
  DescribeImages returns ``artifactMediaType`` (none for an image index),
  ``subjectManifestDigest`` (a referrer) and ``imageStatus`` (with ``lastArchivedAt`` /
  ``lastActivatedAt``); its ``filter`` (``tagStatus``, ``imageStatus``, default ACTIVE) is
  honoured, as ListImages' is.
* The archive storage class: ``UpdateImageStorageClass`` (moto 5.2.5 does not serve it)
  archives an image (ARCHIVED) or starts its restore (ACTIVATING); an archived or
  activating image cannot be pulled (BatchGetImage: an ``ImageNotFound`` failure); a
  PutImage of its manifest restores it at once. ``set_image_status`` (the
  ``POST /_rollgate/ecr/image-status`` hook) finishes a restore, as nothing moves on its own.
* ``registryId`` of another account in DescribeImages, BatchGetImage, ListImages,
  UpdateImageStorageClass and the layer calls reads that account's registry (moto looked in
  the caller's own and answered RepositoryNotFoundException). The repository policy that
  cross-account access needs in ECR is not evaluated.
* Layer blobs (``install()``): InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload keep
  the bytes, per repository and digest, checked as ECR checks them (contiguous parts, the
  sha256 of the bytes, an empty upload, a layer that exists already, parts under 5 MiB);
  BatchCheckLayerAvailability reports them; GetDownloadUrlForLayer (moto 5.2.5:
  NotImplementedError) hands out a URL on the emulator itself (``serve_blob``, routed by
  rollgate_app.py) that serves a layer an image refers to, without AWS authentication, as
  ECR's pre-signed S3 URL does. PutImage does not require the manifest's blobs (README.md).
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import json
import re
import secrets
import threading
from typing import Any, Callable

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ecr.exceptions import (
    InvalidLayerPartException,
    InvalidParameterException,
    RepositoryNotFoundException,
    UploadNotFoundException,
)
from moto.ecr.models import ECRBackend, Image, LayerUpload, Repository, RepoTagMutability, ecr_backends
from moto.ecr.responses import ECRResponse

from validate import is_reserved_tag_key
from wsgi_util import respond

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


class ImageDigestDoesNotMatchException(ServiceException):
    """https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html (botocore's
    ecr model, PutImage errors): "The specified image digest does not match the digest that
    Amazon ECR calculated for the image." """

    code = "ImageDigestDoesNotMatchException"


class ImageStorageClassUpdateNotSupportedException(ServiceException):
    """UpdateImageStorageClass (botocore's ecr model): "The requested image storage class
    update is not supported." """

    code = "ImageStorageClassUpdateNotSupportedException"


def manifest_digest(manifest: str) -> str:
    """ECR's image digest: "The sha256 digest of the image manifest" (ImageIdentifier.imageDigest,
    botocore's ecr model), i.e. of the manifest's bytes exactly as pushed (the OCI distribution
    spec's content digest). PutImage carries the manifest as a JSON string: its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def _put_image(self: ECRBackend, repository_name: str, image_manifest: str, image_tag: str, *args: Any, **kwargs: Any) -> Any:
    repository = self.repositories.get(repository_name)
    if repository is None:
        # moto raised a bare Exception (HTTP 500); PutImage's model lists RepositoryNotFoundException.
        raise RepositoryNotFoundException(repository_name, self.account_id)
    # moto's put_image(repository_name, image_manifest, image_tag, image_manifest_mediatype, digest)
    digest = args[1] if len(args) > 1 else kwargs.get("digest")
    if digest and isinstance(image_manifest, str) and digest != manifest_digest(image_manifest):
        raise ImageDigestDoesNotMatchException(
            "The specified image digest does not match the digest that Amazon ECR calculated for the image."
        )
    if image_tag is not None:
        tagged = [i for i in repository.images if image_tag in i.image_tags]
        if not _tag_is_mutable(repository, image_tag) and any(i.image_manifest != image_manifest for i in tagged):
            raise ImageTagAlreadyExistsException(
                f"The image tag '{image_tag}' already exists in the '{repository_name}' repository "
                "and cannot be overwritten because the repository is immutable."
            )
    if image_tag is not None:
        # A mutable tag moves to the new image and the image that held it stays, untagged, as
        # in ECR; moto deleted that image (BatchDeleteImage by the tag).
        for held in [i for i in repository.images if image_tag in i.image_tags and i.image_manifest != image_manifest]:
            held.remove_tag(image_tag)
            if not held.image_tags:
                held.image_tag = None
    same = next((i for i in repository.images if i.image_manifest == image_manifest), None)
    if same is not None and image_tag is not None and image_tag not in same.image_tags \
            and len(same.image_tags) >= ECR_MAX_TAGS_PER_IMAGE:
        raise LimitExceededException(
            "The operation did not succeed because it would have exceeded a service limit for your "
            f"account: an image can have at most {ECR_MAX_TAGS_PER_IMAGE} tags."
        )
    if same is not None and same.image_status != "ACTIVE":
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html: "The image
        # can be restored as an active image ... by re-pushing the image to the repository";
        # restore-image.html: "When you push an image that is currently archived, that image
        # will be restored immediately and removed from the archive."
        _set_status(same, "ACTIVE")
        if image_tag is None or image_tag in same.image_tags:
            return same  # the push restored it; nothing else changes (no ImageAlreadyExists)
    return _moto_put_image(self, repository_name, image_manifest, image_tag, *args, **kwargs)


# --------------------------------------------------------------------------
# What DescribeImages says of an image (botocore's ecr model, shape ImageDetail)
# --------------------------------------------------------------------------

# Image index media types (OCI image index, Docker manifest list): ECR returns no
# artifactMediaType for them (an index has no config).
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-manifest-formats.html
INDEX_MEDIA_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})

# ImageDetail.imageStatus (enum ImageStatus: ACTIVE | ARCHIVED | ACTIVATING).
IMAGE_STATUSES = ("ACTIVE", "ARCHIVED", "ACTIVATING")


def _manifest_json(image: Image) -> dict[str, Any]:
    cached = image.__dict__.get("_rollgate_manifest")
    if cached is None:
        try:
            parsed = json.loads(image.image_manifest)
        except (TypeError, ValueError):
            parsed = None
        cached = parsed if isinstance(parsed, dict) else {}
        image.__dict__["_rollgate_manifest"] = cached
    return cached


def _artifact_media_type(image: Image) -> str | None:
    """ImageDetail.artifactMediaType, "The artifact media type of the image": an image
    manifest's ``artifactType`` if it has one (OCI 1.1 artifacts), else its config's
    ``mediaType`` (``application/vnd.docker.container.image.v1+json`` for a Docker image, as
    DescribeImages output captured from ECR shows); none for an image index."""
    manifest = _manifest_json(image)
    media_type = image.image_manifest_media_type or manifest.get("mediaType")
    if media_type in INDEX_MEDIA_TYPES or ("manifests" in manifest and "config" not in manifest):
        return None
    artifact = manifest.get("artifactType")
    if isinstance(artifact, str) and artifact:
        return artifact
    config = manifest.get("config")
    if isinstance(config, dict) and isinstance(config.get("mediaType"), str) and config["mediaType"]:
        return config["mediaType"]
    return None


def _subject_manifest_digest(image: Image) -> str | None:
    """ImageDetail.subjectManifestDigest: "The digest of the subject manifest for images that
    are referrers" (a manifest with an OCI 1.1 ``subject``)."""
    subject = _manifest_json(image).get("subject")
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) and digest else None


def _set_status(image: Image, status: str) -> None:
    """imageStatus, with lastArchivedAt ("when the image was last transitioned to Amazon ECR
    archive") and lastActivatedAt ("when the image was last restored from Amazon ECR archive
    to Amazon ECR standard"), ImageDetail in botocore's ecr model."""
    previous = image.image_status
    image.image_status = status
    if status == "ARCHIVED" and previous != "ARCHIVED":
        image.last_archived_at = utcnow()
    if status == "ACTIVE" and previous != "ACTIVE":
        image.last_activated_at = utcnow()


def _image_create_digest(self: Image) -> None:
    self._image_digest = manifest_digest(self.image_manifest)


# --------------------------------------------------------------------------
# registryId of another account
# --------------------------------------------------------------------------


def registry_backend(local: ECRBackend, registry_id: str | None, repository_name: str | None) -> ECRBackend:
    """The backend that holds ``registry_id``'s registry in the request's region.

    ECR: registryId is "The Amazon Web Services account ID associated with the registry that
    contains the repository ... If you do not specify a registry, the default registry is
    assumed" (DescribeImagesRequest, botocore's ecr model). moto keeps one backend per account
    and looked for the repository in the caller's own, so another account's repository was
    never found. An unknown repository of that registry is RepositoryNotFoundException ("The
    repository with name 'x' does not exist in the registry with id '<registryId>'"). Not
    modelled: the repository policy ECR requires for cross-account access (see README.md)."""
    if not registry_id or registry_id == local.account_id:
        return local
    own = local.repositories.get(repository_name or "")
    if own is not None and own.registry_id == registry_id:
        return local  # moto's CreateRepository(registryId=...) kept such a repository here
    foreign = ecr_backends[registry_id][local.region_name]
    if repository_name not in foreign.repositories:
        raise RepositoryNotFoundException(repository_name, registry_id)
    return foreign


# --------------------------------------------------------------------------
# DescribeImages, ListImages, BatchGetImage, UpdateImageStorageClass
# --------------------------------------------------------------------------


def _listing_filter(response: ECRResponse) -> tuple[str, str]:
    """(tagStatus, imageStatus) of a DescribeImages / ListImages filter. imageStatus: "If not
    specified, only images with ACTIVE status are returned." (DescribeImagesFilter and
    ListImagesFilter, botocore's ecr model)."""
    image_filter = response._get_param("filter") or {}
    return image_filter.get("tagStatus") or "ANY", image_filter.get("imageStatus") or "ACTIVE"


def _listed(image: Image, tag_status: str, image_status: str) -> bool:
    if tag_status == "TAGGED" and not image.image_tags:
        return False
    if tag_status == "UNTAGGED" and image.image_tags:
        return False
    return image_status == "ANY" or image.image_status == image_status


def _describe_images_response(self: ECRResponse) -> ActionResult:
    """DescribeImages. Listing (no imageIds): the images the filter selects. With imageIds:
    each named image, whatever its status (our choice, README.md); an unknown one is
    ImageNotFoundException, as moto answers."""
    name, registry_id = self._get_param("repositoryName"), self._get_param("registryId")
    image_ids = self._get_param("imageIds")
    backend = registry_backend(self.ecr_backend, registry_id, name)
    repository = backend._get_repository(name, registry_id)
    if image_ids:
        images: list[Image] = []
        for image_id in image_ids:
            image = repository._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))
            if image not in images:
                images.append(image)
    else:
        tag_status, image_status = _listing_filter(self)
        images = [i for i in list(repository.images) if _listed(i, tag_status, image_status)]
    details = []
    for image in images:
        detail = copy.copy(image)
        if not detail.image_tags:
            del detail.image_tags  # ECR omits an empty imageTags (as moto's handler does)
        details.append(detail)
    return ActionResult({"imageDetails": details})


def _list_images_response(self: ECRResponse) -> ActionResult:
    name, registry_id = self._get_param("repositoryName"), self._get_param("registryId")
    backend = registry_backend(self.ecr_backend, registry_id, name)
    repository = backend._get_repository(name, registry_id)
    tag_status, image_status = _listing_filter(self)
    ids = []
    for image in list(repository.images):
        if _listed(image, tag_status, image_status):
            for tag in image.image_tags or [None]:
                ids.append({"imageDigest": image.image_digest, "imageTag": tag} if tag else
                           {"imageDigest": image.image_digest})
    return ActionResult({"imageIds": ids})


# BatchGetImage's accepted media types when the caller names none (see below).
DEFAULT_ACCEPTED = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)


def _batch_get_image_response(self: ECRResponse) -> ActionResult:
    """BatchGetImage: each requested image, by tag and/or digest (both must match when both
    are given; moto took either). An archived or activating image "cannot be pulled. Requests
    to pull the archived image will fail with a 404 error"
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html): an
    ``ImageNotFound`` failure here (the failure code is our choice, README.md).

    ``acceptedMediaTypes``: ECR returns a manifest only in a media type the caller accepts,
    as a registry answers only what its ``Accept`` header names (a registry "will return a
    404"). Without the parameter, a Docker schema 2 manifest (or schema 1) is accepted, the
    API reference's default client; an OCI manifest or any image index is then an
    ``ImageNotFound`` failure (our choice of code: the model's ImageFailureCode has no other
    that fits). ECR's conversion of schema 2 to schema 1 is not modelled. moto ignored the
    parameter, so a client that forgot it passed here and failed on AWS."""
    name, registry_id = self._get_param("repositoryName"), self._get_param("registryId")
    backend = registry_backend(self.ecr_backend, registry_id, name)
    repository = backend._get_repository(name, registry_id)
    images: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    accepted = self._get_param("acceptedMediaTypes") or DEFAULT_ACCEPTED
    for image_id in self._get_param("imageIds") or []:
        tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
        if not tag and not digest:
            failures.append({"imageId": image_id, "failureCode": "MissingDigestAndTag",
                             "failureReason": "Invalid request parameters: both tag and digest cannot be null"})
            continue
        image = next((i for i in list(repository.images)
                      if (not tag or tag in i.image_tags) and (not digest or i.image_digest == digest)), None)
        if image is None or image.image_status != "ACTIVE":
            failures.append({"imageId": image_id, "failureCode": "ImageNotFound",
                             "failureReason": "Requested image not found"})
            continue
        if image.image_manifest_media_type not in accepted:
            failures.append({"imageId": image_id, "failureCode": "ImageNotFound",
                             "failureReason": f"Requested image not found in an accepted media type "
                                              f"(it is {image.image_manifest_media_type})"})
            continue
        found_id = {"imageDigest": image.image_digest}
        if tag:
            found_id["imageTag"] = tag
        images.append({"registryId": repository.registry_id, "repositoryName": repository.name,
                       "imageId": found_id, "imageManifest": image.image_manifest,
                       "imageManifestMediaType": image.image_manifest_media_type})
    return ActionResult({"images": images, "failures": failures})


def _update_image_storage_class_response(self: ECRResponse) -> ActionResult:
    """UpdateImageStorageClass (botocore's ecr model; moto 5.2.5 does not serve it):
    "Transitions an image between storage classes. You can transition images from Amazon ECR
    standard storage class to Amazon ECR archival storage class for long-term storage, or
    restore archived images back to Amazon ECR standard."

    * ARCHIVE of an ACTIVE image: ARCHIVED (archive-image.html: "The image status will be
      shown as ARCHIVED").
    * STANDARD of an ARCHIVED image: ACTIVATING (restore-image.html: images being restored
      "have an image-status of ACTIVATING"; a restore "typically takes up to 20 minutes").
      Here it stays ACTIVATING until ``POST /_rollgate/ecr/image-status`` sets it ACTIVE.
    * A request for the class the image is already in (or being restored to) answers its
      status and changes nothing; ARCHIVE of an ACTIVATING image is
      ImageStorageClassUpdateNotSupportedException. Both our choice (not documented).
    """
    name, registry_id = self._get_param("repositoryName"), self._get_param("registryId")
    image_id = self._get_param("imageId") or {}
    target = self._get_param("targetStorageClass")
    tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
    backend = registry_backend(self.ecr_backend, registry_id, name)
    repository = backend._get_repository(name, registry_id)
    if not tag and not digest:
        raise InvalidParameterException(
            "Invalid parameter at 'imageId' failed to satisfy constraint: 'imageTag or imageDigest must be specified'"
        )
    image = repository._get_image(tag, digest)  # ImageNotFoundException, as DescribeImages
    if target == "ARCHIVE":
        if image.image_status == "ACTIVATING":
            raise ImageStorageClassUpdateNotSupportedException(
                "The requested image storage class update is not supported: the image is being restored."
            )
        _set_status(image, "ARCHIVED")
    elif target == "STANDARD":
        if image.image_status == "ARCHIVED":
            image.image_status = "ACTIVATING"
    else:  # validate.py refuses values outside the model's enum before moto sees them
        raise InvalidParameterException(f"Invalid parameter at 'targetStorageClass': {target!r}")
    answered_id = {"imageDigest": image.image_digest}
    if tag:
        answered_id["imageTag"] = tag
    return ActionResult({"registryId": repository.registry_id, "repositoryName": repository.name,
                         "imageId": answered_id, "imageStatus": image.image_status})


# --------------------------------------------------------------------------
# Layer blobs: the layer upload API, BatchCheckLayerAvailability, GetDownloadUrlForLayer
# --------------------------------------------------------------------------
#
# Sources: the ECR API reference (InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload,
# BatchCheckLayerAvailability, GetDownloadUrlForLayer:
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_Operations.html) and botocore's
# ecr model (botocore 1.44.5: the operations' error shapes and their documentation strings),
# the AWS CLI's ECR examples (awscli/examples/ecr/*.rst: upload-layer-part sends
# partFirstByte 0 / partLastByte 8323314 and gets lastByteReceived 8323314, i.e. inclusive
# byte positions; batch-check-layer-availability reports a config blob with its own
# mediaType), and AWS's own client of this API, awslabs/amazon-ecr-containerd-resolver
# (ecr/layer_writer.go, ecr/fetcher.go, ecr/stream/chunked_processor.go).
#
# moto 5.2.5 has InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload /
# BatchCheckLayerAvailability but keeps only each layer's size (never its bytes), ignores
# CompleteLayerUpload's layerDigests and partLastByte, accepts an empty upload, answers
# nothing for a layer that exists already, only looks in the caller's own registry, and
# raises NotImplementedError for GetDownloadUrlForLayer. The handlers below replace all five.

# Advisory part size InitiateLayerUpload returns: 10 MiB, as moto and as the CLI example's
# answer ("partSize": 10485760).
LAYER_PART_SIZE = 10 * 1024 * 1024
# CompleteLayerUpload's LayerPartTooSmallException: "Layer parts must be at least 5 MiB in
# size." Applied to every part but the last (the rule S3 multipart uploads have, where ECR
# keeps layers; a single small part, e.g. an image config, is a whole layer).
LAYER_MIN_PART_SIZE = 5 * 1024 * 1024
# BatchCheckLayerAvailability's mediaType for a layer no image manifest of the repository
# describes (moto's constant).
DEFAULT_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Where GetDownloadUrlForLayer's URLs point: on the emulator itself (rollgate_app.py routes
# the prefix to serve_blob). ECR returns a pre-signed S3 URL instead.
BLOB_PATH_PREFIX = "/_rollgate/ecr/blob/"

_LAYER_LOCK = threading.Lock()
# downloadUrl token -> (repository, digest). One fresh token per GetDownloadUrlForLayer, as
# each pre-signed URL is another; valid for the process lifetime (a pre-signed URL expires).
_DOWNLOAD_TOKENS: dict[str, tuple[Repository, str]] = {}


class LayersNotFoundException(ServiceException):
    """GetDownloadUrlForLayer: "The specified layers could not be found, or the specified layer is
    not valid for this repository." (botocore's ecr model)"""

    code = "LayersNotFoundException"


class LayerInaccessibleException(ServiceException):
    """GetDownloadUrlForLayer: "The specified layer is not available because it is not associated
    with an image. Unassociated image layers may be cleaned up at any time." """

    code = "LayerInaccessibleException"


class InvalidLayerException(ServiceException):
    """CompleteLayerUpload: "The layer digest calculation performed by Amazon ECR upon receipt of
    the image layer does not match the digest specified." """

    code = "InvalidLayerException"


class LayerAlreadyExistsException(ServiceException):
    """CompleteLayerUpload (the only operation whose errors list it): "The image layer already
    exists in the associated repository." """

    code = "LayerAlreadyExistsException"


class EmptyUploadException(ServiceException):
    """CompleteLayerUpload: "The specified layer upload does not contain any layer parts." """

    code = "EmptyUploadException"


class LayerPartTooSmallException(ServiceException):
    """CompleteLayerUpload: "Layer parts must be at least 5 MiB in size." """

    code = "LayerPartTooSmallException"


def _blobs(repository: Repository) -> dict[str, bytes]:
    """The layer blobs stored in ``repository`` (digest -> bytes): per account, region (the
    backend the repository lives in), repository and digest. They go with the repository."""
    blobs = repository.__dict__.get("_rollgate_blobs")
    if blobs is None:
        blobs = repository.__dict__.setdefault("_rollgate_blobs", {})
    return blobs


def _part_sizes(upload: LayerUpload) -> list[int]:
    return upload.__dict__.setdefault("_rollgate_part_sizes", [])


def _layer_references(repository: Repository) -> dict[str, str | None]:
    """Every blob digest an image manifest of ``repository`` refers to (its ``config``, its
    ``layers``; ``blobs`` of an OCI artifact manifest, ``fsLayers`` of Docker schema 1), with the
    media type the first such descriptor gives it. An image index refers to manifests, not
    blobs. Images of any status count."""
    found: dict[str, str | None] = {}
    for image in list(repository.images):
        manifest = _manifest_json(image)
        descriptors: list[Any] = [manifest.get("config")]
        for key in ("layers", "blobs"):
            if isinstance(manifest.get(key), list):
                descriptors.extend(manifest[key])
        for descriptor in descriptors:
            if isinstance(descriptor, dict) and isinstance(descriptor.get("digest"), str):
                media_type = descriptor.get("mediaType")
                found.setdefault(descriptor["digest"], media_type if isinstance(media_type, str) else None)
        for legacy in manifest.get("fsLayers") or []:
            if isinstance(legacy, dict) and isinstance(legacy.get("blobSum"), str):
                found.setdefault(legacy["blobSum"], None)
    return found


def _layer_repository(response: ECRResponse) -> Repository:
    """The repository a layer call names, in ``registryId``'s registry (another account's too:
    a cross-account push or pull; the repository policy that needs is not evaluated)."""
    name, registry_id = response._get_param("repositoryName"), response._get_param("registryId")
    backend = registry_backend(response.ecr_backend, registry_id, name)
    return backend._get_repository(name, registry_id)


def _upload(repository: Repository, upload_id: Any) -> LayerUpload:
    upload = repository.uploads.get(upload_id)
    if upload is None:
        # "The upload could not be found, or the specified upload ID is not valid for this
        # repository." An upload belongs to the repository it was initiated in.
        raise UploadNotFoundException(upload_id, repository.name, repository.registry_id)
    return upload


def _initiate_layer_upload_response(self: ECRResponse) -> ActionResult:
    """InitiateLayerUpload: "Notifies Amazon ECR that you intend to upload an image layer."
    Answers ``uploadId`` (a UUID, the model's UploadId pattern) and the advisory ``partSize``."""
    repository = _layer_repository(self)
    upload = LayerUpload(repository.name, repository.registry_id)
    with _LAYER_LOCK:
        repository.uploads[upload.upload_id] = upload
    return ActionResult({"uploadId": upload.upload_id, "partSize": LAYER_PART_SIZE})


def _upload_layer_part_response(self: ECRResponse) -> ActionResult:
    """UploadLayerPart: appends ``layerPartBlob`` to the upload. ``partFirstByte`` and
    ``partLastByte`` are inclusive positions in the layer; InvalidLayerPartException ("The layer
    part size is not valid, or the first byte specified is not consecutive to the last byte of
    a previous layer part upload") when the part does not start right after the bytes received
    so far, or when ``partLastByte - partFirstByte + 1`` is not the blob's length (an empty part
    is refused likewise: our choice). Answers ``lastByteReceived``, the last byte's position."""
    repository = _layer_repository(self)
    upload_id = self._get_param("uploadId")
    first, last = self._get_param("partFirstByte"), self._get_param("partLastByte")
    blob = self._get_param("layerPartBlob")
    if isinstance(blob, str):
        blob = base64.b64decode(blob)  # awsJson carries a blob as base64
    blob = bytes(blob or b"")
    with _LAYER_LOCK:
        upload = _upload(repository, upload_id)
        received = upload.last_byte_received
        consecutive = isinstance(first, int) and first == received + 1
        sized = isinstance(first, int) and isinstance(last, int) and len(blob) > 0 and last - first + 1 == len(blob)
        if not (consecutive and sized):
            raise InvalidLayerPartException(repository.registry_id, repository.name, upload_id, max(received, 0))
        upload.layer_parts += blob
        _part_sizes(upload).append(len(blob))
        last_received = upload.last_byte_received
    return ActionResult({"registryId": repository.registry_id, "repositoryName": repository.name,
                         "uploadId": upload_id, "lastByteReceived": last_received})


def _complete_layer_upload_response(self: ECRResponse) -> ActionResult:
    """CompleteLayerUpload: ECR computes the layer's sha256 from the bytes received and stores
    the layer in the repository under that digest. Refused, in this order (and then the upload
    is left as it was):

    * no part uploaded: EmptyUploadException;
    * a part other than the last smaller than 5 MiB: LayerPartTooSmallException;
    * a ``sha256:`` digest in ``layerDigests`` that is not the computed one:
      InvalidLayerException. Digests of another algorithm are not checked: ECR computes sha256
      only (the containerd resolver: "if the client-provided digest starts with a "sha256:"
      then the ECR has validated that the digest provided matches ours. If the expected digest
      uses a different algorithm ... the expected digest has not been validated"; the CLI
      example completes with a digest that is no sha256 at all);
    * the repository has that layer already: LayerAlreadyExistsException (the containerd
      resolver treats it as success for a sha256 digest, which ECR has then validated).
    """
    repository = _layer_repository(self)
    upload_id = self._get_param("uploadId")
    claimed = [d for d in (self._get_param("layerDigests") or []) if isinstance(d, str)]
    with _LAYER_LOCK:
        upload = _upload(repository, upload_id)
        sizes = _part_sizes(upload)
        if not upload.layer_parts:
            raise EmptyUploadException("The specified layer upload does not contain any layer parts.")
        if any(size < LAYER_MIN_PART_SIZE for size in sizes[:-1]):
            raise LayerPartTooSmallException("Layer parts must be at least 5 MiB in size.")
        data = bytes(upload.layer_parts)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        for given in claimed:
            algorithm, _, _ = given.partition(":")
            if algorithm.lower() == "sha256" and given.lower() != digest:
                raise InvalidLayerException(
                    f"The layer digest calculation performed by Amazon ECR upon receipt of the image layer "
                    f"does not match the digest specified: calculated '{digest}', specified '{given}'."
                )
        blobs = _blobs(repository)
        if digest in blobs:
            raise LayerAlreadyExistsException(
                f"The layer with digest '{digest}' already exists in the repository with name "
                f"'{repository.name}' in the registry with id '{repository.registry_id}'"
            )
        blobs[digest] = data
        repository.layers[digest] = len(data)  # moto's own record (digest -> size)
        del repository.uploads[upload_id]
    return ActionResult({"registryId": repository.registry_id, "repositoryName": repository.name,
                         "uploadId": upload_id, "layerDigest": digest})


_LAYER_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


def _batch_check_layer_availability_response(self: ECRResponse) -> ActionResult:
    """BatchCheckLayerAvailability: each stored layer ``AVAILABLE`` with ``layerSize`` and the
    ``mediaType`` an image manifest of the repository gives it (a config blob:
    ``application/vnd.docker.container.image.v1+json``, as in the CLI example), moto's layer
    media type for one no manifest describes. A digest that is not ``sha256:`` + 64 hex digits:
    failure ``InvalidLayerDigest``; one the repository does not have: ``MissingLayerDigest``
    (LayerFailureCode's two values; reasons in moto's words)."""
    repository = _layer_repository(self)
    blobs = _blobs(repository)
    references = _layer_references(repository)
    layers: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for digest in self._get_param("layerDigests") or []:
        if not isinstance(digest, str) or not _LAYER_DIGEST.fullmatch(digest):
            failures.append({"layerDigest": digest, "failureCode": "InvalidLayerDigest",
                             "failureReason": f"Invalid layer digest '{digest}'"})
        elif digest in blobs:
            layers.append({"layerDigest": digest, "layerAvailability": "AVAILABLE",
                           "layerSize": len(blobs[digest]),
                           "mediaType": references.get(digest) or DEFAULT_LAYER_MEDIA_TYPE})
        else:
            failures.append({"layerDigest": digest, "failureCode": "MissingLayerDigest",
                             "failureReason": f"Layer digest '{digest}' could not be found"})
    return ActionResult({"layers": layers, "failures": failures})


def _get_download_url_for_layer_response(self: ECRResponse) -> ActionResult:
    """GetDownloadUrlForLayer: "Retrieves the pre-signed Amazon S3 download URL corresponding to
    an image layer. You can only get URLs for image layers that are referenced in an image."

    * a layer the repository does not have: LayersNotFoundException (message as ECR answered
      it, quoted in monken/aws-ecr-public#11);
    * a stored layer no image manifest of the repository refers to (config or layer):
      LayerInaccessibleException ("not associated with an image");
    * else ``{downloadUrl, layerDigest}``: ``http://<the Host the request came to>/_rollgate/ecr/blob/<token>``,
      an opaque random token, served without any AWS authentication (a pre-signed URL carries
      its own authorization), so through the faults proxy it points at the proxy.
    """
    repository = _layer_repository(self)
    digest = self._get_param("layerDigest")
    with _LAYER_LOCK:
        stored = digest in _blobs(repository)
    if not stored:
        raise LayersNotFoundException(
            f"The layer with digest {digest} does not exist within the repository with name "
            f"'{repository.name}' in the registry with id '{repository.registry_id}'"
        )
    if digest not in _layer_references(repository):
        raise LayerInaccessibleException(
            "The specified layer is not available because it is not associated with an image. "
            "Unassociated image layers may be cleaned up at any time."
        )
    token = secrets.token_urlsafe(32)
    with _LAYER_LOCK:
        _DOWNLOAD_TOKENS[token] = (repository, digest)
    host = self.headers.get("Host") or self.parsed_url.netloc
    scheme = self.parsed_url.scheme or "http"
    return ActionResult({"downloadUrl": f"{scheme}://{host}{BLOB_PATH_PREFIX}{token}", "layerDigest": digest})


def serve_blob(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """``GET`` (or ``HEAD``) of a downloadUrl: the layer's bytes exactly as uploaded, HTTP 200,
    ``Content-Type: application/octet-stream``; no AWS authentication (the URL is the
    authorization, as a pre-signed S3 URL). Errors as S3 words them (XML): a token never handed
    out, 403 ``AccessDenied``; the layer gone since (repository deleted), 404 ``NoSuchKey``;
    another method, 405 ``MethodNotAllowed``."""
    method = environ.get("REQUEST_METHOD", "GET")
    token = environ.get("PATH_INFO", "")[len(BLOB_PATH_PREFIX):]

    def s3_error(status: int, code: str, message: str) -> list[bytes]:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        return respond(start_response, status, b"" if method == "HEAD" else body,
                       [("Content-Type", "application/xml")])

    if method not in ("GET", "HEAD"):
        return s3_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
    with _LAYER_LOCK:
        found = _DOWNLOAD_TOKENS.get(token)
        data = None
        if found is not None:
            repository, digest = found
            backend = ecr_backends[repository.account_id][repository.region_name]
            if backend.repositories.get(repository.name) is repository:
                data = _blobs(repository).get(digest)
    if found is None:
        return s3_error(403, "AccessDenied", "Access Denied")
    if data is None:
        return s3_error(404, "NoSuchKey", "The specified key does not exist.")
    headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))]
    if method == "HEAD":
        start_response("200 OK", headers)
        return [b""]
    return respond(start_response, 200, data, headers[:1])


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
    Image._create_digest = _image_create_digest
    # ImageDetail members (moto's serializer reads them by their snake_case names).
    Image.image_status = "ACTIVE"
    Image.last_archived_at = None
    Image.last_activated_at = None
    Image.artifact_media_type = property(_artifact_media_type)
    Image.subject_manifest_digest = property(_subject_manifest_digest)
    ECRResponse.describe_images = _describe_images_response
    ECRResponse.list_images = _list_images_response
    ECRResponse.batch_get_image = _batch_get_image_response
    ECRResponse.update_image_storage_class = _update_image_storage_class_response
    ECRResponse.initiate_layer_upload = _initiate_layer_upload_response
    ECRResponse.upload_layer_part = _upload_layer_part_response
    ECRResponse.complete_layer_upload = _complete_layer_upload_response
    ECRResponse.batch_check_layer_availability = _batch_check_layer_availability_response
    ECRResponse.get_download_url_for_layer = _get_download_url_for_layer_response
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


def set_image_status(request: dict[str, Any]) -> dict[str, Any]:
    """Sets ``imageStatus`` of the image ``digest`` in ``repository`` (the
    ``POST /_rollgate/ecr/image-status`` hook): ACTIVE finishes a restore that
    UpdateImageStorageClass started (ECR takes up to 20 minutes; nothing moves on its own
    here), ARCHIVED / ACTIVATING put an image there directly. ``account_id`` / ``region``
    narrow the search when the repository name exists in several registries."""
    repository, digest, status = request.get("repository"), request.get("digest"), request.get("status")
    account, region = request.get("account_id"), request.get("region")
    if not isinstance(repository, str) or not isinstance(digest, str):
        raise PushedAtError(400, "repository and digest must be strings")
    if status not in IMAGE_STATUSES:
        raise PushedAtError(400, f"status must be one of {', '.join(IMAGE_STATUSES)}")
    if (account is not None and not isinstance(account, str)) or (region is not None and not isinstance(region, str)):
        raise PushedAtError(400, "account_id and region must be strings")
    found = 0
    for account_id, per_account in list(ecr_backends.items()):
        if account is not None and account_id != account:
            continue
        for region_name, backend in list(per_account.items()):
            if region is not None and region_name != region:
                continue
            repo = backend.repositories.get(repository)
            for image in list(repo.images) if repo is not None else []:
                if image.image_digest == digest:
                    _set_status(image, status)
                    found += 1
    if not found:
        raise PushedAtError(404, f"no image {digest} in repository {repository}")
    return {"updated": found}
