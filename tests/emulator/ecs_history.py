"""ECS service deployments and service revisions, which moto 5.2.5 does not have.

Since October 2024 ECS keeps a history of each service: every change that starts a new
deployment is a *service deployment* (``arn:...:service-deployment/<cluster>/<service>/<id>``)
from the running *service revisions* to a target revision (``arn:...:service-revision/...``),
with its own status and outcome, kept for 90 days; DescribeServices names the newest one in
``currentServiceDeployment``. ("View service history using Amazon ECS service deployments",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html; API
reference: ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions.)

Modelled here, driven by ecs_ext's deployments:

* CreateService: a service deployment to the first revision, SUCCESSFUL at once (ecs_ext
  creates services with their deployment COMPLETED).
* A new deployment (UpdateService with another task definition, or ``forceNewDeployment``):
  a new service deployment, IN_PROGRESS, from the revisions running to a new target
  revision; one still PENDING / IN_PROGRESS / ROLLBACK_IN_PROGRESS becomes STOPPED ("a newer
  service deployment replaced it"). A desired-count change starts none.
* The rollout endpoint's ``COMPLETED``: the service deployment of the PRIMARY becomes
  SUCCESSFUL (ROLLBACK_SUCCESSFUL when the PRIMARY was its circuit-breaker rollback).
* ``FAILED`` with ``rollback``: the failed deployment's service deployment becomes
  ROLLBACK_IN_PROGRESS, its ``statusReason`` the failure and ``rollback`` naming the revision
  it returns to. The rollback is part of that service deployment (ECS starts no new one);
  ``FAILED`` of the rollback itself: ROLLBACK_FAILED. ``FAILED`` without rollback: STOPPED,
  with the failure as ``statusReason`` (our choice; the deployment stays listed).
* A service revision per deployment, id = the deployment's ``ecs-svc/<number>`` (what ECS
  shows; undocumented), holding its task definition.

Not modelled: lifecycle stages and hooks, alarms, the 90-day expiry, task counts that move
(the target's ``requestedTaskCount`` is the desired count when it started).
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ecs.exceptions import InvalidParameterException, ServiceNotFoundException
from moto.ecs.models import Service
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api._internal import mock_random
from moto.utilities.utils import get_partition

TERMINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
STATUSES = (
    "PENDING", "SUCCESSFUL", "STOPPED", "STOP_REQUESTED", "IN_PROGRESS",
    "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED",
)
# ListServiceDeployments: "This value can be between 1 and 100. If this parameter isn't used,
# then ListServiceDeployments returns up to 20 results".
LIST_DEFAULT, LIST_MAX = 20, 100
# DescribeServiceDeployments / DescribeServiceRevisions: "You can specify a maximum of 20 ARNs."
DESCRIBE_MAX = 20
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _history(service: Service) -> dict[str, Any]:
    """The service's history (kept on the moto object; not a Service shape member)."""
    history = getattr(service, "_rollgate_history", None)
    if history is None:
        history = {"deployments": [], "revisions": {}, "of_deployment": {}}
        service._rollgate_history = history
    return history


def _arn(service: Service, kind: str, resource_id: str) -> str:
    partition = get_partition(service.region_name)
    return (
        f"arn:{partition}:ecs:{service.region_name}:{service._account_id}:"
        f"{kind}/{service.cluster_name}/{service.name}/{resource_id}"
    )


def _revision(service: Service, deployment: dict[str, Any]) -> str:
    """The service revision of an ECS deployment (made once)."""
    history = _history(service)
    arn = _arn(service, "service-revision", deployment["id"].split("/")[-1])
    if arn not in history["revisions"]:
        history["revisions"][arn] = {
            "serviceRevisionArn": arn,
            "serviceArn": service.arn,
            "clusterArn": service.cluster_arn,
            "taskDefinition": deployment["taskDefinition"],
            "launchType": deployment.get("launchType"),
            "platformVersion": deployment.get("platformVersion"),
            "platformFamily": deployment.get("platformFamily"),
            "createdAt": deployment["createdAt"],
        }
    return arn


def _summary(service: Service, deployment: dict[str, Any]) -> dict[str, Any]:
    return {
        "arn": _revision(service, deployment),
        "requestedTaskCount": deployment.get("desiredCount") or 0,
        "runningTaskCount": deployment.get("runningCount") or 0,
        "pendingTaskCount": deployment.get("pendingCount") or 0,
    }


def _of(service: Service, deployment: dict[str, Any]) -> dict[str, Any] | None:
    history = _history(service)
    arn = history["of_deployment"].get(deployment["id"])
    return next((d for d in history["deployments"] if d["serviceDeploymentArn"] == arn), None)


def _finish(sd: dict[str, Any], status: str, reason: str | None = None) -> None:
    now = utcnow()
    sd.update(status=status, updatedAt=now, finishedAt=now)
    if status == "STOPPED":
        sd["stoppedAt"] = now
    if reason:
        sd["statusReason"] = reason


def started(service: Service, deployment: dict[str, Any], sources: list[dict[str, Any]], status: str = "IN_PROGRESS") -> None:
    """A new ECS deployment (``deployment``) began a service deployment from ``sources``."""
    history = _history(service)
    for earlier in history["deployments"]:
        if earlier["status"] not in TERMINAL:
            _finish(earlier, "STOPPED", "A newer service deployment replaced it.")
    now = utcnow()
    resource_id = "".join(mock_random.choice(_ID_CHARS) for _ in range(21))
    configuration = copy.deepcopy(getattr(service, "deployment_configuration", None) or {})
    breaker = configuration.get("deploymentCircuitBreaker") or {}
    sd: dict[str, Any] = {
        "serviceDeploymentArn": _arn(service, "service-deployment", resource_id),
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": now,
        "startedAt": now,
        "updatedAt": now,
        "sourceServiceRevisions": [_summary(service, d) for d in sources],
        "targetServiceRevision": _summary(service, deployment),
        "status": status,
        "deploymentConfiguration": configuration,
        "deploymentCircuitBreaker": {
            "status": "MONITORING" if breaker.get("enable") else "DISABLED",
            "failureCount": 0,
            "threshold": 10,
        },
    }
    if status in TERMINAL:
        sd["finishedAt"] = now
    history["deployments"].append(sd)
    history["of_deployment"][deployment["id"]] = sd["serviceDeploymentArn"]
    service.current_service_deployment = sd["serviceDeploymentArn"]


def completed(service: Service, deployment: dict[str, Any]) -> None:
    """The rollout endpoint completed ``deployment``."""
    sd = _of(service, deployment)
    if sd is None or sd["status"] in TERMINAL:
        return
    _finish(sd, "ROLLBACK_SUCCESSFUL" if sd["status"] == "ROLLBACK_IN_PROGRESS" else "SUCCESSFUL")


def failed(service: Service, deployment: dict[str, Any], reason: str, rollback_to: dict[str, Any] | None) -> None:
    """The rollout endpoint failed ``deployment``, rolling back to ``rollback_to`` if given."""
    sd = _of(service, deployment)
    if sd is None or sd["status"] in TERMINAL:
        return
    sd["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
    sd["deploymentCircuitBreaker"]["failureCount"] = max(1, deployment.get("failedTasks") or 0)
    if sd["status"] == "ROLLBACK_IN_PROGRESS":
        _finish(sd, "ROLLBACK_FAILED", reason)
    elif rollback_to is None:
        _finish(sd, "STOPPED", reason)
    else:
        now = utcnow()
        sd.update(
            status="ROLLBACK_IN_PROGRESS",
            statusReason=reason,
            updatedAt=now,
            rollback={"reason": reason, "startedAt": now, "serviceRevisionArn": _revision(service, rollback_to)},
        )


def rolled_back(service: Service, failed_deployment: dict[str, Any], rollback: dict[str, Any]) -> None:
    """The circuit breaker's rollback deployment belongs to the failed service deployment."""
    history = _history(service)
    arn = history["of_deployment"].get(failed_deployment["id"])
    if arn is not None:
        history["of_deployment"][rollback["id"]] = arn
        service.current_service_deployment = arn


# --------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _list_service_deployments(self: EC2ContainerServiceResponse) -> ActionResult:
    backend = self.ecs_backend
    cluster = self._get_param("cluster", "default")
    name = self._get_param("service")
    backend._get_cluster(cluster)  # ClusterNotFoundException, also for a foreign ARN
    from ecs_ext import _is_foreign_arn  # noqa: PLC0415 (ecs_ext imports this module)

    if _is_foreign_arn(backend, name):
        raise ServiceNotFoundException()
    service = backend._get_service(cluster, name.split("/")[-1])
    max_results = self._get_param("maxResults")
    if max_results is not None and not 1 <= int(max_results) <= LIST_MAX:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    limit = int(max_results) if max_results is not None else LIST_DEFAULT
    statuses = self._get_param("status") or []
    created = self._get_param("createdAt") or {}
    after, before = _timestamp(created.get("after")), _timestamp(created.get("before"))
    chosen = [
        d for d in _history(service)["deployments"]
        if (not statuses or d["status"] in statuses)
        and (after is None or _aware(d["createdAt"]) >= after)
        and (before is None or _aware(d["createdAt"]) <= before)
    ]
    chosen.sort(key=lambda d: d["createdAt"], reverse=True)  # newest first
    token = self._get_param("nextToken")
    start = 0
    if token is not None:
        if not str(token).isdigit() or int(token) > len(chosen):
            raise InvalidParameterException("The nextToken is not valid.")
        start = int(token)
    page = chosen[start:start + limit]
    briefs = [
        {
            "serviceDeploymentArn": d["serviceDeploymentArn"],
            "serviceArn": d["serviceArn"],
            "clusterArn": d["clusterArn"],
            "createdAt": d["createdAt"],
            "startedAt": d.get("startedAt"),
            "finishedAt": d.get("finishedAt"),
            "targetServiceRevisionArn": d["targetServiceRevision"]["arn"],
            "status": d["status"],
            "statusReason": d.get("statusReason"),
        }
        for d in page
    ]
    result: dict[str, Any] = {"serviceDeployments": briefs}
    if start + limit < len(chosen):
        result["nextToken"] = str(start + limit)
    return ActionResult(result)


def _all_services(backend: Any) -> list[Service]:
    return list(backend.services.values())


def _describe(self: EC2ContainerServiceResponse, param: str, pick: Any) -> tuple[list[Any], list[Any]]:
    arns = self._get_param(param) or []
    if not arns or len(arns) > DESCRIBE_MAX:
        raise InvalidParameterException(f"{param} must contain between 1 and {DESCRIBE_MAX} ARNs.")
    found, failures = [], []
    for arn in arns:
        item = next((x for s in _all_services(self.ecs_backend) for x in pick(s) if x[0] == arn), None)
        if item is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(item[1])
    return found, failures


def _describe_service_deployments(self: EC2ContainerServiceResponse) -> ActionResult:
    found, failures = _describe(
        self, "serviceDeploymentArns",
        lambda s: [(d["serviceDeploymentArn"], d) for d in _history(s)["deployments"]],
    )
    return ActionResult({"serviceDeployments": found, "failures": failures})


def _describe_service_revisions(self: EC2ContainerServiceResponse) -> ActionResult:
    found, failures = _describe(
        self, "serviceRevisionArns", lambda s: list(_history(s)["revisions"].items())
    )
    return ActionResult({"serviceRevisions": found, "failures": failures})


def install() -> None:
    EC2ContainerServiceResponse.list_service_deployments = _list_service_deployments
    EC2ContainerServiceResponse.describe_service_deployments = _describe_service_deployments
    EC2ContainerServiceResponse.describe_service_revisions = _describe_service_revisions
