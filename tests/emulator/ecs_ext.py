"""Make moto's ECS services behave like ECS deployments do, and let tests
drive a rollout to COMPLETED or FAILED.

What moto 5.2.5 does on its own, and what this module changes:

* ``update_service`` stores the task-definition string exactly as passed
  (``family`` or ``family:3``) and never starts a deployment. Here the service
  always holds the full task-definition ARN, and a new task definition starts
  a new PRIMARY deployment (IN_PROGRESS) while the former PRIMARY turns ACTIVE.
* ``create_service`` makes one PRIMARY deployment whose rollout state depends
  on the MOTO_ECS_SERVICE_RUNNING variable. Here it is always COMPLETED with
  every desired task running, as a steady-state service would be.
* ``update_service`` with a ``desiredCount`` sets ``runningCount`` to it at once
  (service and cluster counts; without one, the service's tasks dropped out of the
  cluster's counts). Here a new desired count on the same task definition keeps the
  PRIMARY's rollout state and starts nothing: ``runningCount`` = min(running, desired),
  and on a COMPLETED deployment ``pendingCount`` = desired - running (3 pending after
  2 -> 5; none after 5 -> 1); on a deployment still IN_PROGRESS (or FAILED) pending tasks
  are only capped. The service's ``runningCount`` / ``pendingCount`` and the cluster's
  task counts move by the same amounts (``_scale_deployment``). That is ECS's model: a
  new desired count makes the scheduler launch (or stop) tasks, and a launched task is
  PENDING until it runs (Deployment ``pendingCount``: "The number of tasks in the
  deployment that are in the PENDING status"); service auto scaling is "the ability to
  increase or decrease the desired count of tasks in your Amazon ECS service", done by
  Application Auto Scaling through that same desired count, with no new deployment. (moto
  made runningCount follow at once for getmoto/moto#7664.) Tests start the pending tasks
  with the rollout endpoint (``state: COMPLETED``, optional ``runningCount``), which
  keeps the PRIMARY. A new task definition (or forceNewDeployment) leaves the service's
  counts alone (the old tasks keep running) and starts the new PRIMARY with none.
  Services of the CODE_DEPLOY / EXTERNAL controllers (no deployments here) still count
  the desired tasks as running at once.
* ``deploymentConfiguration`` (circuit breaker, min/max percent) is dropped by
  ``create_service``. Here it is stored, with ECS's defaults, and returned.
* Services get the ``createdAt`` timestamp ECS reports (moto has none).
* A task definition named by family alone (``web``, not ``web:3``) is the
  family's newest ACTIVE revision, as ECS resolves it (DescribeTaskDefinition,
  CreateService, UpdateService): moto took the newest revision even when it
  was deregistered (INACTIVE). A family with no ACTIVE revision is
  ``ClientException: Unable to describe task definition.``, as in ECS.
* An explicit ``family:revision`` or ARN of a revision that is not ACTIVE (deregistered:
  INACTIVE; deleted: DELETE_IN_PROGRESS) is never deployed: ``CreateService`` and
  ``UpdateService`` answer ``ClientException: TaskDefinition is inactive``, ``RunTask`` and
  ``StartTask`` ``InvalidParameterException: TaskDefinition is inactive`` (HTTP 400), and
  nothing changes; moto deployed it. DeregisterTaskDefinition (API reference): "You can't
  use an INACTIVE task definition to run new tasks or create new services, and you can't
  update an existing service to reference an INACTIVE task definition." (ECS allows "up to
  a 10-minute window" before enforcing it; here it holds at once.) The codes as ECS
  answered them: UpdateService ``ClientException`` ("An error occurred (ClientException)
  when calling the UpdateService operation: TaskDefinition is inactive", AWS CLI output
  quoted in a public ops log; aws/aws-cdk#33195 likewise), RunTask
  ``InvalidParameterException`` (DefangLabs/defang#775: "StatusCode: 400 ...
  InvalidParameterException: TaskDefinition is inactive"). Our choices: CreateService's
  code (no capture found; ClientException as UpdateService), the same answer for
  DELETE_IN_PROGRESS, and refusing an UpdateService that names the service's own revision
  again once it is INACTIVE. An UpdateService that names no task definition (desiredCount
  only...) of a service whose revision is INACTIVE is accepted: such services "can still
  scale up or down by modifying the service's desired count". DescribeTaskDefinition still
  answers INACTIVE revisions, ``status: INACTIVE`` (moto keeps them). In
  ``_deployable_task_definition`` (``TASK_DEFINITION_INACTIVE``).
* ``DeleteTaskDefinitions`` (moto 5.2.5 serves it; replaced here, ``_delete_task_definitions``):
  only INACTIVE revisions are deleted, each answered with ``status: DELETE_IN_PROGRESS`` and
  ``deleteRequestedAt``; an ACTIVE one, an unknown one, one without a revision and another
  region's or account's ARN are ``failures`` entries (``arn`` as given, ``reason`` in moto's
  wording), at most 10 per call (API reference: "You must deregister a task definition
  revision before you delete it", "You can specify up to 10 task definitions"). A deleted
  revision that no service deployment, task set or task uses is gone at once: from then on
  ``ClientException: Unable to describe task definition.``, as for an unknown revision (ECS
  removes it "periodically" once nothing uses it; here at once). One still in use stays
  ``DELETE_IN_PROGRESS`` (described, listed with that status, not deployable) until nothing
  uses it ("A task definition revision will stay in DELETE_IN_PROGRESS status until all the
  associated tasks and services have been terminated"; ``_purge_deleted``). A family left
  with no revision is not listed, and the next registration gets the next number, never a
  deleted one ("the revision is incremented the next time you create a task definition with
  that name"). moto removed even a revision in use, deleted the local revision named by a
  foreign ARN, answered HTTP 500 for ``family:x`` and re-used deleted revision numbers.
  ``DeregisterTaskDefinition`` of a foreign ARN is ``ClientException: Unable to describe task
  definition.`` (moto deregistered the local revision of that name); of a DELETE_IN_PROGRESS
  revision it answers the revision unchanged (our choice).
* ``DeleteCluster`` refuses a cluster that still has ACTIVE services with
  ``ClusterContainsServicesException`` (HTTP 400), as ECS does; moto deleted it.
* ``UpdateClusterSettings`` is served (moto 5.2.5 answers it with an HTML 404):
  the named settings replace those of the same name, as in ECS.
* ``TagResource`` refuses to leave a resource with more than 50 user tags once
  the new tags are merged with the existing ones (same key: replaced), as ECS
  does (``ECS_MAX_TAGS_PER_RESOURCE``); ``aws:`` tags do not count. The
  per-request checks (model constraints, the reserved ``aws:`` prefix...) are in
  validate.py.
* ``CreateService`` with the name of a service that is ACTIVE (or DRAINING) in
  the cluster is ``InvalidParameterException: Creation of service was not
  idempotent.``, as in ECS (``_refuse_existing_service``); moto replaced the
  service, tags and all. An INACTIVE (deleted) service's name may be reused. A
  repeat with the ``clientToken`` that created the service answers that service
  (an SDK retry after a lost answer), as the token is documented to do.
* An ARN of another region or account than the request's (SigV4 scope region,
  the account moto serves) names nothing here, as in ECS (``_is_foreign_arn``):
  moto resolved such ARNs by their last part and acted on the local resource of
  that name. A foreign cluster ARN is ``ClusterNotFoundException``; a foreign
  service ARN is ``ServiceNotFoundException`` (UpdateService, DeleteService,
  TagResource...) or a ``MISSING`` failure (DescribeServices; DescribeClusters
  likewise for cluster ARNs); a foreign task-definition ARN is ``ClientException:
  Unable to describe task definition.``

* Services with the short, pre-2021 ARN (``arn:aws:ecs:<region>:<account>:service/<name>``):
  ``make_short_arn`` (the ``POST /_rollgate/ecs/short-arn`` hook) turns a service into one,
  as if it had been created before the long format. ListServices and DescribeServices then
  report that ARN; its name and that ARN name it in UpdateService / DescribeServices /
  DeleteService; TagResource / UntagResource / ListTagsForResource of the short ARN are
  ``InvalidParameterException: Long arn format must be used for tagging operations``;
  TagResource of the service's long ARN migrates it to the long format (and tags it), as
  ECS documents (``_tag_resource``).

* Service deployments and service revisions (ListServiceDeployments,
  DescribeServiceDeployments, DescribeServiceRevisions, ``currentServiceDeployment``): in
  ``ecs_history.py``, driven by the deployments here.

Rollouts never move on their own: tests call ``force_rollout`` (through the
``POST /_rollgate/ecs/rollout`` endpoint) to complete or fail the PRIMARY
deployment, optionally with a circuit-breaker rollback.

The patches wrap moto's methods rather than replace them, so moto keeps doing
its own validation and bookkeeping; ``install()`` applies them once.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ecs.exceptions import (
    ClusterNotFoundException,
    ECSException,
    InvalidParameterException,
    ServiceNotFoundException,
    TaskDefinitionNotFoundException,
)
from moto.ecs.models import (
    ClusterFailure,
    DeleteTaskDefinitionFailure,
    EC2ContainerServiceBackend,
    Service,
    ecs_backends,
)
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api._internal import mock_random
from moto.utilities.utils import get_partition
from werkzeug.test import EnvironBuilder

import ecs_history
from validate import is_reserved_tag_key
from wsgi_util import WSGIApp, call_app, fake_sigv4_authorization

# What ECS reports for a REPLICA service created without deploymentConfiguration.
DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}

ROLLOUT_STATES = ("COMPLETED", "FAILED", "IN_PROGRESS")


class RolloutError(Exception):
    """A bad /_rollgate/ecs/rollout request; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------
# Deployment bookkeeping
# --------------------------------------------------------------------------


def _new_deployment_id() -> str:
    # Real ids look like ecs-svc/4736197542719371827 (19 digits). moto's
    # mock_random is used so moto's seeding API keeps ids reproducible.
    return f"ecs-svc/{mock_random.randint(10**18, 10**19 - 1)}"


def _new_deployment(service: Service, task_definition_arn: str) -> dict[str, Any]:
    """A fresh PRIMARY deployment of ``task_definition_arn``, nothing running yet."""
    now = utcnow()
    deployment_id = _new_deployment_id()
    return {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition_arn,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }


def _primary(service: Service) -> dict[str, Any] | None:
    return next((d for d in service.deployments if d["status"] == "PRIMARY"), None)


def _start_deployment(service: Service, task_definition_arn: str) -> dict[str, Any]:
    """Make a new PRIMARY deployment; the former PRIMARY becomes ACTIVE.

    Older ACTIVE deployments stay as they are, like in ECS. The new one is
    listed first, as DescribeServices lists the PRIMARY first.
    """
    for deployment in service.deployments:
        if deployment["status"] == "PRIMARY":
            deployment["status"] = "ACTIVE"
    deployment = _new_deployment(service, task_definition_arn)
    service.deployments.insert(0, deployment)
    service.task_definition = task_definition_arn
    return deployment


def _set_task_counts(
    backend: EC2ContainerServiceBackend, service: Service, running: int, pending: int
) -> None:
    """Set the service's task counts, keeping the cluster's totals consistent."""
    cluster = backend._get_cluster(service.cluster_name)
    backend.update_cluster_resources(cluster, running - service.running_count, "RUNNING")
    backend.update_cluster_resources(cluster, pending - service.pending_count, "PENDING")
    service.running_count = running
    service.pending_count = pending


def _add_event(service: Service, message: str) -> None:
    """Add a service event (newest first, like ECS)."""
    service.events.insert(
        0,
        {
            "id": str(mock_random.uuid4()),
            "createdAt": utcnow(),
            "message": f"(service {service.name}) {message}",
        },
    )


def _merge_deployment_configuration(
    current: dict[str, Any], update: dict[str, Any] | None
) -> dict[str, Any]:
    """Top-level fields given in ``update`` replace those in ``current``."""
    merged = copy.deepcopy(current)
    merged.update(copy.deepcopy(update or {}))
    return merged


# --------------------------------------------------------------------------
# Patches of moto's ECS backend and response handler
# --------------------------------------------------------------------------

_moto_create_service = EC2ContainerServiceBackend.create_service
_moto_update_service = EC2ContainerServiceBackend.update_service
_moto_create_service_response = EC2ContainerServiceResponse.create_service


# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html
# "If you attempt to create a new service with the same name as an existing service in
# either ACTIVE or DRAINING status, you receive an error." The error is
# "InvalidParameterException: Creation of service was not idempotent." (quoted in
# hashicorp/terraform-provider-aws#2283, #14489, hashicorp/waypoint#2045,
# Shippable/support#4753). An INACTIVE (deleted) service's name may be used again.
SERVICE_NAME_TAKEN_STATUSES = ("ACTIVE", "DRAINING")


def _refuse_existing_service(
    backend: EC2ContainerServiceBackend, cluster_str: str, service_name: str | None
) -> None:
    cluster = backend._get_cluster(cluster_str)  # ClusterNotFoundException first, as moto
    existing = backend.services.get(f"{cluster.name}:{service_name}")
    if existing is not None and existing.status in SERVICE_NAME_TAKEN_STATUSES:
        raise InvalidParameterException("Creation of service was not idempotent.")


def _create_service(
    self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any
) -> Service:
    # moto's handler passes (cluster_str, service_name, ...) positionally.
    cluster_str = kwargs["cluster_str"] if "cluster_str" in kwargs else args[0]
    service_name = kwargs["service_name"] if "service_name" in kwargs else args[1]
    _refuse_existing_service(self, cluster_str, service_name)
    task_definition_str = kwargs.get("task_definition_str") if len(args) < 4 else args[3]
    if task_definition_str:
        _deployable_task_definition(self, task_definition_str, TASK_DEFINITION_INACTIVE_SERVICE_CODE)
    service = _moto_create_service(self, *args, **kwargs)
    service.created_at = utcnow()  # ECS reports createdAt; moto has none
    service.deployment_configuration = copy.deepcopy(DEFAULT_DEPLOYMENT_CONFIGURATION)
    # Only the ECS deployment controller has deployments (moto agrees).
    if service.deployment_controller.get("type", "ECS") == "ECS":
        _set_task_counts(self, service, running=service.desired_count, pending=0)
        deployment = _new_deployment(service, service.task_definition)
        deployment.update(
            runningCount=service.desired_count,
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {deployment['id']} completed.",
        )
        service.deployments = [deployment]
        ecs_history.started(service, deployment, [], status="SUCCESSFUL")
    return service


# CreateService's clientToken (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html:
# "An identifier that you provide to ensure the idempotency of the request. It must be unique
# and is case sensitive. Up to 36 ASCII characters in the range of 33-126 (inclusive) are
# allowed."): a repeat with the token that created the ACTIVE service answers that service
# instead of "Creation of service was not idempotent." (an SDK retry after a lost answer).
_SERVICE_TOKENS: dict[tuple[str, str, str], str] = {}


def _create_service_response(self: EC2ContainerServiceResponse) -> Any:
    token = self._get_param("clientToken")
    cluster_param = self._get_param("cluster", "default")
    name = self._get_param("serviceName")
    if token:
        try:
            cluster = self.ecs_backend._get_cluster(cluster_param)
            existing = self.ecs_backend.services.get(f"{cluster.name}:{name}")
        except ECSException:
            existing = None
        key = (self.current_account, self.region, f"{cluster_param}:{name}")
        if existing is not None and existing.status in SERVICE_NAME_TAKEN_STATUSES and _SERVICE_TOKENS.get(key) == token:
            return ActionResult({"service": existing})
    # moto's handler does not pass deploymentConfiguration to the backend at
    # all; the returned ActionResult holds the Service object and is
    # serialized later, so setting the field afterwards still shows up.
    result = _moto_create_service_response(self)
    if token:
        _SERVICE_TOKENS[(self.current_account, self.region, f"{cluster_param}:{name}")] = token
    requested = self._get_param("deploymentConfiguration")
    if requested:
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("serviceName")
        )
        service.deployment_configuration = _merge_deployment_configuration(
            service.deployment_configuration, requested
        )
    return result


def _update_service(
    self: EC2ContainerServiceBackend, service_properties: dict[str, Any]
) -> Service:
    # moto's update_service pops keys off this dict; work on a copy.
    properties = dict(service_properties)
    self._get_cluster(properties.get("cluster", "default"))  # a foreign ARN: not found
    if _is_foreign_arn(self, properties["service"]):
        raise ServiceNotFoundException()
    service = self._get_service(
        properties.get("cluster", "default"), properties["service"].split("/")[-1]
    )
    previous_arn = service.task_definition
    requested = properties.get("task_definition")
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html: with the
    # CODE_DEPLOY controller "only the desired count, deployment configuration, health check
    # grace period, task placement constraints and strategies, enable ECS managed tags option,
    # and propagate tags can be updated using this API. If the network configuration, platform
    # version, task definition, or load balancer need to be updated, create a new CodeDeploy
    # deployment." EXTERNAL: "you can update only the desired count, task placement constraints
    # and strategies, health check grace period, enable ECS managed tags option, and propagate
    # tags option"; the task definition moves through task sets.
    controller = (getattr(service, "deployment_controller", None) or {}).get("type", "ECS")
    if requested and controller != "ECS" and self.describe_task_definition(requested).arn != previous_arn:
        raise InvalidParameterException(
            f"Unable to update task definition on services with a {controller} deployment controller. "
            + ("Use AWS CodeDeploy to trigger a new deployment." if controller == "CODE_DEPLOY"
               else "Use a task set to deploy a new task definition.")
        )
    # Resolves family / family:revision / ARN; unknown ones raise ECS's error, and a named
    # revision that is not ACTIVE is refused: "TaskDefinition is inactive" (ClientException, as
    # ECS answers UpdateService). Not naming one (desiredCount only...) is fine even when the
    # service's own revision is INACTIVE: such services "can still scale up or down".
    new_arn = (
        _deployable_task_definition(self, requested, TASK_DEFINITION_INACTIVE_SERVICE_CODE).arn
        if requested else previous_arn
    )
    # Handled here instead of by moto, which only renames deployments[0].
    force_new_deployment = bool(properties.pop("force_new_deployment", False))
    # moto would store this with a plain setattr, replacing the whole object.
    deployment_configuration = properties.pop("deployment_configuration", None)

    old_running, old_pending = service.running_count, service.pending_count
    desired_given = properties.get("desired_count") is not None
    service = _moto_update_service(self, properties)
    # moto took the service's tasks off the cluster's counts and, for a desiredCount, set
    # runningCount = desiredCount at once (pending 0) and counted that on the cluster (without
    # one, the service's tasks simply left the cluster's counts). Undo both: the counts are
    # set below, as ECS would have them.
    cluster = self._get_cluster(service.cluster_name)
    self.update_cluster_resources(
        cluster, old_running - (service.desired_count if desired_given else 0), "RUNNING"
    )
    self.update_cluster_resources(cluster, old_pending, "PENDING")
    service.running_count, service.pending_count = old_running, old_pending
    service.task_definition = new_arn  # moto stored the string as passed
    service.deployment_configuration = _merge_deployment_configuration(
        getattr(service, "deployment_configuration", DEFAULT_DEPLOYMENT_CONFIGURATION),
        deployment_configuration,
    )

    primary = _primary(service)
    if primary is None:
        # Not an ECS-controlled service: no deployments to move. Its counts follow the
        # desired count at once, as moto had them (task sets are not modelled).
        if desired_given:
            _set_task_counts(self, service, running=service.desired_count, pending=0)
        return service
    if new_arn != previous_arn or force_new_deployment:
        # ECS starts replacing tasks; the old ones keep running meanwhile, so
        # the service's runningCount is left alone.
        sources = list(service.deployments)
        ecs_history.started(service, _start_deployment(service, new_arn), sources)
    else:
        # Same task definition: only the desired count may have changed.
        _scale_deployment(self, service, primary)
    return service


def _scale_deployment(
    backend: EC2ContainerServiceBackend, service: Service, deployment: dict[str, Any]
) -> None:
    """A new desired count for ``deployment`` (the PRIMARY), with no new deployment.

    ECS (and Application Auto Scaling, which scales a service through UpdateService's
    desiredCount) keeps the deployment's rollout state; the tasks it has to add are PENDING
    until they start, and the tasks it stops are gone. So: runningCount = min(running,
    desired); on a COMPLETED deployment pendingCount = desired - runningCount (0 on a
    decrease); on a deployment still rolling out (or FAILED) the pending tasks are capped at
    what is still missing and no new ones are added (the rollout endpoint drives those).
    The service's own runningCount / pendingCount move by the same amounts. Tests start the
    pending tasks with the rollout endpoint (``state: COMPLETED``, optional ``runningCount``).
    """
    desired = service.desired_count
    old_running = deployment.get("runningCount") or 0
    old_pending = deployment.get("pendingCount") or 0
    running = min(old_running, desired)
    if deployment.get("rolloutState") == "COMPLETED":
        pending = desired - running
    else:
        pending = min(old_pending, desired - running)
    deployment.update(
        desiredCount=desired, runningCount=running, pendingCount=pending, updatedAt=utcnow()
    )
    _set_task_counts(
        backend,
        service,
        running=max(0, service.running_count + running - old_running),
        pending=max(0, service.pending_count + pending - old_pending),
    )


_installed = False


_moto_describe_task_definition = EC2ContainerServiceBackend.describe_task_definition


def _describe_task_definition(self: EC2ContainerServiceBackend, task_definition_str: str) -> Any:
    """ECS's rule: a bare family is its newest ACTIVE revision, never an INACTIVE one.

    "If a revision isn't specified, the latest ACTIVE revision is used."
    (ECS API reference, DescribeTaskDefinition / CreateService, taskDefinition).
    A deleted revision that nothing uses any more is gone (``_purge_deleted``).
    """
    if _is_foreign_arn(self, task_definition_str):
        raise TaskDefinitionNotFoundException()
    _purge_deleted(self)
    name = task_definition_str.split("/")[-1]
    if ":" not in name:
        active = [rev for rev, d in self.task_definitions.get(name, {}).items() if d.status == "ACTIVE"]
        if not active:
            raise TaskDefinitionNotFoundException()
        task_definition_str = f"{name}:{max(active)}"
    return _moto_describe_task_definition(self, task_definition_str)


# --------------------------------------------------------------------------
# Deregistered (INACTIVE) and deleted (DELETE_IN_PROGRESS) task definitions
# --------------------------------------------------------------------------

# DeregisterTaskDefinition (API reference): "You can't use an INACTIVE task definition to run new
# tasks or create new services, and you can't update an existing service to reference an INACTIVE
# task definition." (ECS may take up to 10 minutes to enforce it; here it is at once.)
# DeleteTaskDefinitions: the same for DELETE_IN_PROGRESS revisions. ECS's message, as captured:
# UpdateService "An error occurred (ClientException) when calling the UpdateService operation:
# TaskDefinition is inactive" (AWS CLI output in a public ops log; also aws/aws-cdk#33195,
# "UpdateService error: TaskDefinition is inactive (... Error Code: ClientException"); RunTask
# "StatusCode: 400 ... InvalidParameterException: TaskDefinition is inactive"
# (DefangLabs/defang#775). CreateService: no captured answer; ClientException as for
# UpdateService is our choice. DELETE_IN_PROGRESS gets the same answer (our choice).
TASK_DEFINITION_INACTIVE = "TaskDefinition is inactive"
TASK_DEFINITION_INACTIVE_SERVICE_CODE = "ClientException"  # CreateService, UpdateService
TASK_DEFINITION_INACTIVE_TASK_CODE = "InvalidParameterException"  # RunTask, StartTask


def _deployable_task_definition(
    backend: EC2ContainerServiceBackend, task_definition_str: str, code: str
) -> Any:
    """The revision ``task_definition_str`` names, if ECS would start tasks of it.

    Unknown (or foreign, or deleted) revisions: ``ClientException: Unable to describe task
    definition.``, as before. A bare family is its newest ACTIVE revision, so only an explicit
    ``family:revision`` or ARN can name an INACTIVE / DELETE_IN_PROGRESS one.
    """
    task_definition = backend.describe_task_definition(task_definition_str)
    if task_definition.status != "ACTIVE":
        raise ECSException(code, TASK_DEFINITION_INACTIVE)
    return task_definition


_moto_run_task = EC2ContainerServiceBackend.run_task
_moto_start_task = EC2ContainerServiceBackend.start_task


def _run_task(self: EC2ContainerServiceBackend, cluster_str: str, task_definition_str: str, *args: Any, **kwargs: Any) -> Any:
    self._get_cluster(cluster_str)  # ClusterNotFoundException first
    _deployable_task_definition(self, task_definition_str, TASK_DEFINITION_INACTIVE_TASK_CODE)
    return _moto_run_task(self, cluster_str, task_definition_str, *args, **kwargs)


def _start_task(self: EC2ContainerServiceBackend, cluster_str: str, task_definition_str: str, *args: Any, **kwargs: Any) -> Any:
    self._get_cluster(cluster_str)
    _deployable_task_definition(self, task_definition_str, TASK_DEFINITION_INACTIVE_TASK_CODE)
    return _moto_start_task(self, cluster_str, task_definition_str, *args, **kwargs)


# DeleteTaskDefinitions (API reference, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteTaskDefinitions.html):
# "You must deregister a task definition revision before you delete it." A deleted revision
# "immediately transitions from the INACTIVE to DELETE_IN_PROGRESS. Existing tasks and services
# that reference a DELETE_IN_PROGRESS task definition revision continue to run without
# disruption." ... "A task definition revision will stay in DELETE_IN_PROGRESS status until all
# the associated tasks and services have been terminated." ... "The task definition name is
# retained by Amazon ECS and the revision is incremented the next time you create a task
# definition with that name." Task definition states (developer guide): DELETE_IN_PROGRESS
# revisions can be retrieved with DescribeTaskDefinition. moto 5.2.5 served the call but removed
# even a revision a service still runs, resolved a foreign ARN by its last part (deleting the
# local revision of that name), answered HTTP 500 for a non-numeric revision, and numbered the
# next registration from the highest revision left (re-using a deleted revision's number).
# Failure reasons: moto's wording (the text ECS gives is not documented).
DELETE_NOT_FOUND = (
    "The specified task definition does not exist. Specify a valid account, family, revision and try again."
)
DELETE_INVALID_IDENTIFIER = (
    "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."
)
DELETE_STILL_ACTIVE = (
    "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
)
MAX_TASK_DEFINITIONS_PER_DELETE = 10  # "You can specify up to 10 task definitions"


def _revision_floor(backend: EC2ContainerServiceBackend) -> dict[str, int]:
    """Per family, the highest revision ever deleted here: registration numbers above it."""
    floor = getattr(backend, "_rollgate_revision_floor", None)
    if floor is None:
        floor = backend._rollgate_revision_floor = {}
    return floor


def _task_definitions_in_use(backend: EC2ContainerServiceBackend) -> set[str]:
    """ARNs of the revisions that services (their deployments, task sets) and tasks still use."""
    arns: set[str] = set()
    for service in list(backend.services.values()):
        if service.status not in SERVICE_NAME_TAKEN_STATUSES:  # INACTIVE: deleted
            continue
        arns.add(service.task_definition)
        arns.update(d.get("taskDefinition") for d in service.deployments or [])
        arns.update(getattr(t, "task_definition", None) for t in getattr(service, "task_sets", None) or [])
    for tasks in list(backend.tasks.values()):
        arns.update(
            t.task_definition_arn for t in list(tasks.values())
            if "STOPPED" not in (getattr(t, "desired_status", None), getattr(t, "last_status", None))
        )
    return arns


def _purge_deleted(backend: EC2ContainerServiceBackend) -> None:
    """Remove the DELETE_IN_PROGRESS revisions nothing uses any more, as ECS eventually does.

    ECS does it "periodically"; here it happens at once, so from then on the revision is
    unknown (``ClientException: Unable to describe task definition.``). A family left with no
    revision is no longer listed.
    """
    in_use: set[str] | None = None
    floor = _revision_floor(backend)
    for family, revisions in list(backend.task_definitions.items()):
        removed = False
        for revision, task_definition in list(revisions.items()):
            if task_definition.status != "DELETE_IN_PROGRESS":
                continue
            if in_use is None:
                in_use = _task_definitions_in_use(backend)
            if task_definition.arn not in in_use:
                revisions.pop(revision, None)
                floor[family] = max(floor.get(family, 0), revision)
                removed = True
        # Only a family emptied here: moto creates a family's dict just before it fills it,
        # and a registration running in another request thread must not lose it.
        if removed and not revisions:
            backend.task_definitions.pop(family, None)


def _delete_task_definitions(
    self: EC2ContainerServiceBackend, task_definitions: list[str]
) -> tuple[list[Any], list[DeleteTaskDefinitionFailure]]:
    if not task_definitions:
        raise InvalidParameterException("size of TaskDefinition references list must be greater than 0")
    if len(task_definitions) > MAX_TASK_DEFINITIONS_PER_DELETE:
        raise InvalidParameterException("Size of TaskDefinition references list cannot exceed 10")
    _purge_deleted(self)
    deleted: list[Any] = []
    failures: list[DeleteTaskDefinitionFailure] = []

    def fail(reason: str, given: str) -> None:
        failures.append(DeleteTaskDefinitionFailure(reason, given, self.account_id, self.region_name))

    for given in task_definitions:
        if _is_foreign_arn(self, given):
            fail(DELETE_NOT_FOUND, given)  # another region's or account's: not here
            continue
        family, _, revision = str(given).split("/")[-1].partition(":")
        if not family or not revision.isdigit():  # a revision is required
            fail(DELETE_INVALID_IDENTIFIER, given)
            continue
        task_definition = self.task_definitions.get(family, {}).get(int(revision))
        if task_definition is None:
            fail(DELETE_NOT_FOUND, given)
            continue
        if task_definition.status == "ACTIVE":
            fail(DELETE_STILL_ACTIVE, given)
            continue
        # INACTIVE, or DELETE_IN_PROGRESS already (still in use): answered as deleted again.
        if task_definition.status != "DELETE_IN_PROGRESS":
            task_definition.status = "DELETE_IN_PROGRESS"
            task_definition.delete_requested_at = utcnow()
        deleted.append(task_definition)
    _purge_deleted(self)  # gone at once unless a service or task still uses it
    return deleted, failures


_moto_register_task_definition = EC2ContainerServiceBackend.register_task_definition


def _register_task_definition(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
    """As moto, but never re-using the number of a deleted revision (ECS increments on)."""
    _purge_deleted(self)
    task_definition = _moto_register_task_definition(self, *args, **kwargs)
    floor = _revision_floor(self).get(task_definition.family, 0)
    if task_definition.revision <= floor:
        revisions = self.task_definitions[task_definition.family]
        revisions.pop(task_definition.revision, None)
        task_definition.revision = floor + 1
        task_definition.arn = f"{task_definition.arn.rsplit(':', 1)[0]}:{task_definition.revision}"
        revisions[task_definition.revision] = task_definition
    return task_definition


_moto_deregister_task_definition = EC2ContainerServiceBackend.deregister_task_definition


def _deregister_task_definition(self: EC2ContainerServiceBackend, task_definition_str: str) -> Any:
    """As moto, but a foreign ARN names nothing, and a deleted revision stays deleted."""
    if _is_foreign_arn(self, task_definition_str):
        raise TaskDefinitionNotFoundException()
    _purge_deleted(self)
    family, _, revision = task_definition_str.split("/")[-1].partition(":")
    existing = self.task_definitions.get(family, {}).get(int(revision)) if revision.isdigit() else None
    if existing is not None and existing.status == "DELETE_IN_PROGRESS":
        return existing  # our choice: answered as it is, not made INACTIVE again
    return _moto_deregister_task_definition(self, task_definition_str)


_moto_list_task_definitions = EC2ContainerServiceBackend.list_task_definitions
_moto_list_task_definition_families = EC2ContainerServiceBackend.list_task_definition_families


def _list_task_definitions(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
    _purge_deleted(self)
    return _moto_list_task_definitions(self, *args, **kwargs)


def _list_task_definition_families(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
    _purge_deleted(self)
    return _moto_list_task_definition_families(self, *args, **kwargs)


_moto_delete_cluster = EC2ContainerServiceBackend.delete_cluster


def _delete_cluster(self: EC2ContainerServiceBackend, cluster_str: str) -> Any:
    """ECS refuses to delete a cluster whose services are still ACTIVE (DeleteCluster,
    ClusterContainsServicesException: "The Cluster cannot be deleted while Services are active.")."""
    cluster = self._get_cluster(cluster_str)
    if any(s.cluster_arn == cluster.arn and s.status == "ACTIVE" for s in self.services.values()):
        raise ECSException(
            "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active."
        )
    return _moto_delete_cluster(self, cluster_str)


def _update_cluster_settings_response(self: EC2ContainerServiceResponse) -> Any:
    """UpdateClusterSettings: each named setting replaces the one of the same name."""
    cluster = self.ecs_backend._get_cluster(self._get_param("cluster"))
    settings = {s["name"]: s for s in (getattr(cluster, "settings", None) or [])}
    for setting in self._get_param("settings") or []:
        settings[setting["name"]] = setting
    cluster.settings = list(settings.values())
    return ActionResult({"cluster": cluster})


# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TagResource.html
# "Maximum number of tags per resource - 50" ... "Tags with this prefix [aws:] do
# not count against your tags per resource limit." Counted after TagResource
# merges the new tags into the resource's (a key already there is replaced).
ECS_MAX_TAGS_PER_RESOURCE = 50

_moto_tag_resource = EC2ContainerServiceBackend.tag_resource


def _tag_resource(self: EC2ContainerServiceBackend, arn: str, tags: dict[str, str]) -> None:
    parsed = self._parse_resource_arn(arn)
    migrating = _short_service_named_by_long_arn(self, arn, parsed)
    resource = migrating if migrating is not None else self._get_resource(arn, parsed)
    keys = {t["key"] for t in (resource.tags or [])} | set(tags)
    user_keys = [k for k in keys if not is_reserved_tag_key(k)]
    if len(user_keys) > ECS_MAX_TAGS_PER_RESOURCE:
        raise InvalidParameterException(
            f"Too many tags: the resource would have {len(user_keys)} tags; "
            f"at most {ECS_MAX_TAGS_PER_RESOURCE} are allowed per resource."
        )
    if migrating is not None:
        _migrate_to_long_arn(self, migrating)
    _moto_tag_resource(self, arn, tags)


# --------------------------------------------------------------------------
# Services with the short (pre-2021) ARN format
# --------------------------------------------------------------------------

# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-arn-migration.html:
# "Services that were created before 2021 have a short ARN format:
# arn:aws:ecs:region:aws_account_id:service/service-name ... Your service must have the long ARN
# format in order to tag your service." TagResource (API reference, resourceArn): "If you try to
# tag a service with a short ARN, you receive an InvalidParameterException error." ECS's message,
# as quoted in hashicorp/terraform-provider-aws#7373 and kayac/ecspresso#297 (which skips
# ListTagsForResource for short ARNs for that reason):
LONG_ARN_REQUIRED = "Long arn format must be used for tagging operations"

# Same page: "Amazon ECS considers passing the long ARN format in a tag-resource API request for
# a service with a short ARN as a signal to migrate the service to use the long ARN format." Its
# prerequisites are the serviceLongArnFormat and taskLongArnFormat account settings; without
# them (Troubleshooting): "There was an error while migrating the ARN of service service-name.
# The specified account does not have serviceLongArnFormat or taskLongArnFormat account settings
# enabled. Add account settings in order to enable tagging." (error code not given: our choice,
# InvalidParameterException).
MIGRATION_SETTINGS = ("serviceLongArnFormat", "taskLongArnFormat")

_moto_service_arn = Service.arn


def _service_arn(self: Service) -> str:
    if getattr(self, "short_arn_format", False):
        return f"arn:{get_partition(self.region_name)}:ecs:{self.region_name}:{self._account_id}:service/{self.name}"
    return _moto_service_arn.fget(self)


def _is_short_service_arn(parsed_arn: dict[str, str]) -> bool:
    """``service/<name>``: no cluster part (moto's third ARN pattern has no cluster_id)."""
    return parsed_arn.get("service") == "service" and not parsed_arn.get("cluster_id")


def _short_service_named_by_long_arn(
    backend: EC2ContainerServiceBackend, arn: str, parsed_arn: dict[str, str]
) -> Service | None:
    """The short-format service that ``service/<cluster>/<name>`` names, if it is one."""
    if parsed_arn.get("service") != "service" or not parsed_arn.get("cluster_id") or _is_foreign_arn(backend, arn):
        return None
    service = backend.services.get(f"{parsed_arn['cluster_id']}:{parsed_arn['id']}")
    return service if service is not None and getattr(service, "short_arn_format", False) else None


def _migrate_to_long_arn(backend: EC2ContainerServiceBackend, service: Service) -> None:
    if not all(backend.enable_long_arn_for_name(name=setting) for setting in MIGRATION_SETTINGS):
        raise InvalidParameterException(
            f"There was an error while migrating the ARN of service {service.name}. The specified account "
            "does not have serviceLongArnFormat or taskLongArnFormat account settings enabled. Add account "
            "settings in order to enable tagging."
        )
    service.short_arn_format = False


def make_short_arn(request: dict[str, Any]) -> tuple[str, Service]:
    """``POST /_rollgate/ecs/short-arn``: the service as if created before the long ARN format.

    Its ARN becomes ``service/<name>`` and its tags go (a service with a short ARN cannot have
    been tagged). Body as for the rollout endpoint: "cluster", "service" (name or ARN), optional
    "region" / "account_id". Returns (account id, service); RolloutError for a bad request.
    """
    account_id, _, service = _find_service(request)
    service.short_arn_format = True
    service.tags = []
    return account_id, service


# --------------------------------------------------------------------------
# ARNs of another region or account
# --------------------------------------------------------------------------

# ECS resources are regional and belong to one account: a request is served by the
# endpoint of its region (the SigV4 scope) for the caller's account, and an ARN of
# another region or account names nothing there. ECS API failure reasons
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html):
# DescribeServices "MISSING: The specified service wasn't found. Verify that the correct
# cluster or Region is specified"; ClusterNotFoundException: "Amazon ECS clusters are
# Region-specific." (API reference, Errors). moto resolved an ARN by its last part (the
# name) and acted on the local resource of that name. Exactly which error ECS gives for a
# foreign ARN is not documented; here such an ARN is a resource that does not exist: the
# answer moto gives for a missing one (README.md, "ECS behaviour changed from plain moto").


def _is_foreign_arn(backend: EC2ContainerServiceBackend, name_or_arn: Any) -> bool:
    """True for an ARN whose region or account is not the backend's (the request's)."""
    if not isinstance(name_or_arn, str) or not name_or_arn.startswith("arn:"):
        return False
    parts = name_or_arn.split(":")
    return len(parts) >= 6 and (parts[3] != backend.region_name or parts[4] != backend.account_id)


_moto_get_cluster = EC2ContainerServiceBackend._get_cluster


def _get_cluster(self: EC2ContainerServiceBackend, name: str) -> Any:
    # Every cluster parameter (CreateService, DescribeServices, ListServices, UpdateService,
    # DeleteService, DeleteCluster, RunTask...) is resolved here.
    if _is_foreign_arn(self, name):
        raise ClusterNotFoundException()
    return _moto_get_cluster(self, name)


_moto_describe_clusters = EC2ContainerServiceBackend.describe_clusters


def _describe_clusters(self: EC2ContainerServiceBackend, cluster_names: list[str]) -> Any:
    foreign = [c for c in cluster_names or [] if _is_foreign_arn(self, c)]
    local = [c for c in cluster_names or [] if not _is_foreign_arn(self, c)]
    if foreign and not local:
        clusters, failures = [], []
    else:
        clusters, failures = _moto_describe_clusters(self, local)
    for arn in foreign:  # the failure names the ARN as given
        parts = arn.split(":", 5)
        failures.append(ClusterFailure("MISSING", parts[5].split("/", 1)[-1], parts[4], parts[3]))
    return clusters, failures


_moto_describe_services = EC2ContainerServiceBackend.describe_services


def _describe_services(
    self: EC2ContainerServiceBackend, cluster_str: str, service_names_or_arns: list[str]
) -> Any:
    local = [s for s in service_names_or_arns if not _is_foreign_arn(self, s)]
    services, failures = _moto_describe_services(self, cluster_str, local)
    failures.extend(
        {"arn": s, "reason": "MISSING"} for s in service_names_or_arns if _is_foreign_arn(self, s)
    )
    return services, failures


_moto_delete_service = EC2ContainerServiceBackend.delete_service


def _delete_service(self: EC2ContainerServiceBackend, cluster_name: str, service_name: str, force: bool) -> Any:
    self._get_cluster(cluster_name)
    if _is_foreign_arn(self, service_name):
        raise ServiceNotFoundException()
    return _moto_delete_service(self, cluster_name, service_name, force)


_moto_get_resource = EC2ContainerServiceBackend._get_resource


def _get_resource(self: EC2ContainerServiceBackend, resource_arn: str, parsed_arn: dict[str, str]) -> Any:
    # TagResource, UntagResource, ListTagsForResource.
    if _is_short_service_arn(parsed_arn):
        # Checked on the ARN's form, before any lookup (whether or not such a service exists).
        raise InvalidParameterException(LONG_ARN_REQUIRED)
    old_format = _short_service_named_by_long_arn(self, resource_arn, parsed_arn)
    if old_format is not None:
        # The long ARN of a short-format service (UntagResource, ListTagsForResource; TagResource
        # migrates it first): answered for that service, unmigrated. Our choice (README.md).
        return old_format
    if _is_foreign_arn(self, resource_arn):
        kind = parsed_arn.get("service")
        if kind == "cluster":
            raise ClusterNotFoundException()
        if kind == "task-definition":
            raise TaskDefinitionNotFoundException()
        raise ServiceNotFoundException()  # service, task set, task...: moto's answer for those
    return _moto_get_resource(self, resource_arn, parsed_arn)


def install() -> None:
    """Apply the patches to moto's ECS classes (idempotent)."""
    global _installed
    if _installed:
        return
    EC2ContainerServiceBackend.tag_resource = _tag_resource
    EC2ContainerServiceBackend._get_cluster = _get_cluster
    EC2ContainerServiceBackend.describe_clusters = _describe_clusters
    EC2ContainerServiceBackend.describe_services = _describe_services
    EC2ContainerServiceBackend.delete_service = _delete_service
    EC2ContainerServiceBackend._get_resource = _get_resource
    EC2ContainerServiceBackend.delete_cluster = _delete_cluster
    EC2ContainerServiceResponse.update_cluster_settings = _update_cluster_settings_response
    EC2ContainerServiceBackend.describe_task_definition = _describe_task_definition
    EC2ContainerServiceBackend.run_task = _run_task
    EC2ContainerServiceBackend.start_task = _start_task
    EC2ContainerServiceBackend.delete_task_definitions = _delete_task_definitions
    EC2ContainerServiceBackend.register_task_definition = _register_task_definition
    EC2ContainerServiceBackend.deregister_task_definition = _deregister_task_definition
    EC2ContainerServiceBackend.list_task_definitions = _list_task_definitions
    EC2ContainerServiceBackend.list_task_definition_families = _list_task_definition_families
    EC2ContainerServiceBackend.create_service = _create_service
    EC2ContainerServiceBackend.update_service = _update_service
    ecs_history.install()
    EC2ContainerServiceResponse.create_service = _create_service_response
    Service.arn = property(_service_arn)
    _installed = True


# --------------------------------------------------------------------------
# Forcing a rollout (POST /_rollgate/ecs/rollout)
# --------------------------------------------------------------------------


def _arn_region_account(name_or_arn: str) -> tuple[str | None, str | None]:
    """(region, account) of an ARN, (None, None) for a plain name."""
    parts = name_or_arn.split(":")
    if name_or_arn.startswith("arn:") and len(parts) >= 6:
        return parts[3], parts[4]
    return None, None


def _find_service(
    request: dict[str, Any],
) -> tuple[str, EC2ContainerServiceBackend, Service]:
    """Locate the service among the ECS backends that exist.

    The region and account come from an ARN if one was given, else from the
    optional "region" / "account_id" fields, else whichever single backend
    has a cluster of that name.
    """
    cluster_ref = request.get("cluster")
    service_ref = request.get("service")
    if not isinstance(cluster_ref, str) or not isinstance(service_ref, str):
        raise RolloutError(400, '"cluster" and "service" (name or ARN) are required')
    arn_region, arn_account = _arn_region_account(cluster_ref)
    if arn_region is None:
        arn_region, arn_account = _arn_region_account(service_ref)
    region = request.get("region") or arn_region
    account = request.get("account_id") or arn_account
    cluster_name = cluster_ref.split("/")[-1]

    # list() copies: request threads may be adding accounts/regions meanwhile.
    matches = [
        (account_id, backend)
        for account_id, per_account in list(ecs_backends.items())
        for region_name, backend in list(per_account.items())
        if (region is None or region_name == region)
        and (account is None or account_id == account)
        and cluster_name in backend.clusters
    ]
    if not matches:
        raise RolloutError(404, f"cluster not found: {cluster_ref}")
    if len(matches) > 1:
        raise RolloutError(
            400, f"cluster {cluster_name} exists in several regions/accounts; pass an ARN or \"region\""
        )
    account_id, backend = matches[0]
    service = next(
        (
            s
            for s in backend.services.values()
            if s.cluster_name == cluster_name
            and (s.name == service_ref.split("/")[-1] or s.arn == service_ref)
        ),
        None,
    )
    if service is None:
        raise RolloutError(404, f"service not found in cluster {cluster_name}: {service_ref}")
    return account_id, backend, service


def _optional_int(request: dict[str, Any], key: str) -> int | None:
    value = request.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RolloutError(400, f'"{key}" must be a non-negative integer')
    return value


def force_rollout(request: dict[str, Any]) -> tuple[str, Service]:
    """Move the PRIMARY deployment of a service to the requested rollout state.

    Returns (account id, service). Raises RolloutError for bad requests.
    """
    state = request.get("state")
    if state not in ROLLOUT_STATES:
        raise RolloutError(400, f'"state" must be one of {", ".join(ROLLOUT_STATES)}')
    running = _optional_int(request, "runningCount")
    failed = _optional_int(request, "failedTasks")
    reason = request.get("reason")
    account_id, backend, service = _find_service(request)
    primary = _primary(service)
    if primary is None:
        raise RolloutError(400, f"service {service.name} has no PRIMARY deployment")
    rollback = state == "FAILED" and bool(request.get("rollback"))
    if rollback and _rollback_target(service, primary) is None:
        # Checked before changing anything, so a refused request has no effect.
        raise RolloutError(
            400, f"service {service.name} has no completed deployment to roll back to"
        )

    now = utcnow()
    primary["rolloutState"] = state
    primary["updatedAt"] = now
    if failed is not None:
        primary["failedTasks"] = failed

    if state == "IN_PROGRESS":
        if running is not None:
            primary["runningCount"] = running
        primary["rolloutStateReason"] = reason or f"ECS deployment {primary['id']} in progress."

    elif state == "COMPLETED":
        primary["runningCount"] = service.desired_count if running is None else running
        primary["pendingCount"] = 0
        primary["rolloutStateReason"] = reason or f"ECS deployment {primary['id']} completed."
        ecs_history.completed(service, primary)
        # ECS drains the older deployments once the new one is steady.
        service.deployments = [primary]
        _set_task_counts(backend, service, running=primary["runningCount"], pending=0)
        _add_event(service, "has reached a steady state.")

    else:  # FAILED
        if running is not None:
            primary["runningCount"] = running
        if failed is None:
            primary["failedTasks"] = max(primary.get("failedTasks") or 0, 1)
        primary["rolloutStateReason"] = reason or (
            "ECS deployment circuit breaker: tasks failed to start."
        )
        _add_event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
        ecs_history.failed(
            service, primary, primary["rolloutStateReason"],
            _rollback_target(service, primary) if rollback else None,
        )
        if rollback:
            _roll_back(service, failed_deployment=primary)

    return account_id, service


def _rollback_target(service: Service, failed_deployment: dict[str, Any]) -> dict[str, Any] | None:
    """Like ECS's circuit breaker: the most recent other deployment that COMPLETED."""
    completed = [
        d for d in service.deployments
        if d is not failed_deployment and d.get("rolloutState") == "COMPLETED"
    ]
    return max(completed, key=lambda d: d["createdAt"], default=None)


def _roll_back(service: Service, failed_deployment: dict[str, Any]) -> None:
    """Emulate the circuit breaker's rollback to the last completed deployment."""
    previous = _rollback_target(service, failed_deployment)
    assert previous is not None, "checked by the caller"
    rollback = _start_deployment(service, previous["taskDefinition"])
    ecs_history.rolled_back(service, failed_deployment, rollback)
    # _start_deployment turned the failed PRIMARY into ACTIVE; it keeps FAILED.
    rollback["rolloutStateReason"] = (
        f"ECS deployment circuit breaker: rolling back to deploymentId {previous['id']}."
    )
    _add_event(
        service,
        f"(deployment {failed_deployment['id']}) deployment failed: "
        f"rolling back to deployment {previous['id']}.",
    )


def describe_service_json(
    moto_app: WSGIApp, account_id: str, service: Service
) -> dict[str, Any]:
    """The service exactly as DescribeServices (include TAGS) returns it.

    Goes through moto's own handler and serializer in-process, so the shape,
    field names and timestamp format are whatever moto sends to real clients.
    """
    environ = EnvironBuilder(
        path="/",
        method="POST",
        headers={
            "Authorization": fake_sigv4_authorization("rollgate-internal", service.region_name, "ecs"),
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DescribeServices",
            "x-moto-account-id": account_id,
        },
        content_type="application/x-amz-json-1.1",
        data=json.dumps(
            {"cluster": service.cluster_arn, "services": [service.arn], "include": ["TAGS"]}
        ),
    ).get_environ()
    response = call_app(moto_app, environ)
    if response.status != 200:
        raise RuntimeError(f"internal DescribeServices failed: {response.status} {response.body!r}")
    return json.loads(response.body)["services"][0]
