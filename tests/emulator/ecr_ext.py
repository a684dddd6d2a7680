"""ECR behaviour a test needs and moto 5.2 cannot give: a chosen push time.

moto stamps ``imagePushedAt`` with the wall clock, in whole seconds. The storm
(tests/storm.rs) runs on a logical clock (one second per step), so every image
it pushes gets the step's time: push order and ECR's push times then agree in
every run, and two pushes never share a second.
"""

from __future__ import annotations

from typing import Any

from moto.ecr.models import ecr_backends


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
