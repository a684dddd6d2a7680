"""CodeBuild behaviour moto 5.2 lacks, patched in for rollgate's tests.

* CreateProject with a NO_SOURCE source needs no ``location`` (moto demands one;
  AWS does not).
* UpdateProject (moto answers "not implemented").
* StartBuild keeps ``environmentVariablesOverride`` on the build, so tests can read
  back what a build was started with, and honours ``idempotencyToken``: the same
  token for the same project returns the same build instead of starting another.
"""

from __future__ import annotations

from typing import Any

from moto.codebuild import responses as cb_responses
from moto.codebuild.models import CodeBuildBackend
from moto.core.responses import ActionResult

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True

    original_validate = cb_responses._validate_required_params_source

    def validate_source(source: dict[str, Any]) -> None:
        if source.get("type") == "NO_SOURCE" and not source.get("location"):
            return
        original_validate(source)

    cb_responses._validate_required_params_source = validate_source

    def update_project(self: cb_responses.CodeBuildResponse) -> ActionResult:
        name = self._get_param("name")
        project = self.codebuild_backend.codebuild_projects.get(name)
        if project is None:
            raise cb_responses.ResourceNotFoundException(f"Project cannot be found: {name}")
        fields = {
            "description": "description",
            "source": "source",
            "artifacts": "artifacts",
            "environment": "environment",
            "serviceRole": "serviceRole",
            "tags": "tags",
            "logsConfig": "logsConfig",
            "timeoutInMinutes": "timeoutInMinutes",
        }
        for param, key in fields.items():
            value = self._get_param(param)
            if value is not None:
                project.project_metadata[key] = value
        return ActionResult({"project": project.project_metadata})

    cb_responses.CodeBuildResponse.update_project = update_project  # type: ignore[attr-defined]

    original_start = cb_responses.CodeBuildResponse.start_build

    def start_build(self: cb_responses.CodeBuildResponse) -> ActionResult:
        backend: CodeBuildBackend = self.codebuild_backend
        project = self._get_param("projectName")
        token = self._get_param("idempotencyToken")
        tokens: dict[tuple[str, str], dict[str, Any]] = backend.__dict__.setdefault("_rollgate_tokens", {})
        if token and (project, token) in tokens:
            return ActionResult({"build": tokens[(project, token)]})
        result = original_start(self)
        build = backend.build_metadata[project].build_metadata
        overrides = self._get_param("environmentVariablesOverride") or []
        build["environment"] = dict(build["environment"], environmentVariables=overrides)
        if token:
            tokens[(project, token)] = build
        return result

    cb_responses.CodeBuildResponse.start_build = start_build  # type: ignore[method-assign]
