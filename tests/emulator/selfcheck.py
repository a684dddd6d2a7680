#!/usr/bin/env python3
"""Hand-run end-to-end check of the emulator tooling (not part of CI).

    .venv/bin/python tests/emulator/selfcheck.py

Starts server.py on a free port and exercises, through real clients:
EC2/IAM/ECS with boto3, the realistic ECS deployments and the rollout
endpoint, desired-count changes (tasks PENDING until the rollout endpoint starts
them), INACTIVE revisions refused for deployment, DeleteTaskDefinitions,
services with the short (pre-2021) ARN, ECR images (digests, media
types, referrers, image status and the archive, another account's registry),
ECR layer blobs (the upload API, BatchCheckLayerAvailability, GetDownloadUrlForLayer
and the URL it hands out),
the call log, CloudWatch over hand-made rpc-v2-cbor requests and
through boto3 (which speaks CBOR for CloudWatch and CodeBuild), boto_shell.py,
the request validation (validate.py: what AWS refuses is refused, with AWS's
error code, and what it accepts is accepted), IAM enforcement (iam_enforce.py:
errors per protocol, resource scoping, conditions, resource tags, implicit
authorizations, the decision log; and each function's template.yaml policy against the calls its
code makes, which needs .venv-cfn for tests/template/translate.py), the Tagging API's
GetResources for ECS (tagging_ext.py: filters, pages, token expiry, refusals, the lag, IAM), and
lambda_rapi.py with the fake_lambda.py stand-in. Prints one line per
check and exits non-zero at the first failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
REGION = "us-east-1"
ACCESS_KEY = "AKSELFCHECK"
CBOR_ACCESS_KEY = "AKTEST"

os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto3  # noqa: E402
import cbor2  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402


def check(condition: bool, what: str, detail: Any = None) -> None:
    if not condition:
        print(f"FAIL  {what}" + (f"\n      {detail!r}" if detail is not None else ""))
        sys.exit(1)
    print(f"ok    {what}")


class Emulator:
    """server.py as a child process; it dies with us via --exit-on-stdin-eof."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "server.py"), "--port", "0", "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline().strip()
        prefix = "ROLLGATE_EMULATOR_READY "
        if not line.startswith(prefix):
            raise RuntimeError(f"unexpected first line from server.py: {line!r}")
        self.url = line[len(prefix):]

    def stop(self) -> int:
        self.process.stdin.close()  # EOF: the server shuts down
        return self.process.wait()

    def client(self, service: str, access_key: str = ACCESS_KEY, validate: bool = True) -> Any:
        """A boto3 client; ``validate=False`` also sends what botocore itself would refuse."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key="dummy",
            config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
        )

    def http(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def rollout(self, **request: Any) -> tuple[int, Any]:
        status, _, body = self.http("POST", "/_rollgate/ecs/rollout", json.dumps(request).encode(),
                                    {"Content-Type": "application/json"})
        return status, json.loads(body)

    def calls(self, access_key: str) -> list[dict[str, Any]]:
        return json.loads(self.http("GET", f"/_rollgate/calls?access_key={access_key}")[2])

    def cbor(self, operation: str, params: dict[str, Any] | None) -> tuple[int, dict[str, str], Any]:
        """A hand-made rpc-v2-cbor CloudWatch call, as aws-sdk-rust sends it."""
        headers = {
            "smithy-protocol": "rpc-v2-cbor",
            "Accept": "application/cbor",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={CBOR_ACCESS_KEY}/20260101/{REGION}/monitoring/"
                "aws4_request, SignedHeaders=host, Signature=00"
            ),
        }
        body = None
        if params is not None:
            body = cbor2.dumps(params)
            headers["Content-Type"] = "application/cbor"
        status, response_headers, raw = self.http(
            "POST", f"/service/GraniteServiceVersion20100801/operation/{operation}", body or b"", headers
        )
        return status, {k.lower(): v for k, v in response_headers.items()}, raw


def show_deployments(service: dict[str, Any]) -> None:
    for d in service["deployments"]:
        revision = d["taskDefinition"].split("/")[-1]
        print(f"      {d['status']:7} {d['rolloutState']:11} {revision} {d['id']}")


def check_ecs(emu: Emulator) -> None:
    ec2, iam, ecs = emu.client("ec2"), emu.client("iam"), emu.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    policy = iam.get_policy(
        PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    )["Policy"]
    check(policy["PolicyName"] == "AmazonECSTaskExecutionRolePolicy", "IAM managed policy is loaded")

    cluster = ecs.create_cluster(clusterName="prod")["cluster"]["clusterArn"]
    task_defs = [
        ecs.register_task_definition(
            family="web",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "web", "image": f"repo/web:v{n}", "essential": True}],
        )["taskDefinition"]["taskDefinitionArn"]
        for n in (1, 2, 3)
    ]
    breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True},
               "maximumPercent": 200, "minimumHealthyPercent": 50}
    service = ecs.create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition="web:1",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}},
        deploymentConfiguration=breaker,
        tags=[{"key": "app", "value": "web"}],
    )["service"]
    check(service["taskDefinition"] == task_defs[0], "create_service: family:rev becomes the ARN")
    deployments = service["deployments"]
    check(len(deployments) == 1 and deployments[0]["status"] == "PRIMARY"
          and deployments[0]["rolloutState"] == "COMPLETED" and deployments[0]["runningCount"] == 2
          and deployments[0]["taskDefinition"] == task_defs[0]
          and deployments[0]["id"].startswith("ecs-svc/"),
          "create_service: one PRIMARY COMPLETED deployment", deployments)
    check(service["deploymentConfiguration"] == breaker, "create_service keeps deploymentConfiguration",
          service.get("deploymentConfiguration"))

    updated = ecs.update_service(cluster="prod", service="web", taskDefinition="web:2")["service"]
    by_status = {d["status"]: d for d in updated["deployments"]}
    check(updated["taskDefinition"] == task_defs[1], "update_service: service holds the new ARN")
    check(len(updated["deployments"]) == 2 and updated["deployments"][0]["status"] == "PRIMARY"
          and by_status["PRIMARY"]["rolloutState"] == "IN_PROGRESS"
          and by_status["PRIMARY"]["runningCount"] == 0
          and by_status["PRIMARY"]["taskDefinition"] == task_defs[1]
          and by_status["ACTIVE"]["taskDefinition"] == task_defs[0]
          and by_status["ACTIVE"]["rolloutState"] == "COMPLETED",
          "update_service: new PRIMARY IN_PROGRESS, old one ACTIVE", updated["deployments"])
    show_deployments(updated)

    same = ecs.update_service(cluster="prod", service="web", taskDefinition=task_defs[1],
                              desiredCount=3)["service"]
    check(len(same["deployments"]) == 2 and same["deployments"][0]["desiredCount"] == 3,
          "update_service with the same task definition starts no deployment")
    new_breaker = ecs.update_service(
        cluster="prod", service="web",
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )["service"]["deploymentConfiguration"]
    check(new_breaker["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}
          and new_breaker["minimumHealthyPercent"] == 50,
          "update_service updates deploymentConfiguration", new_breaker)

    described = ecs.describe_services(cluster=cluster, services=["web"], include=["TAGS"])["services"][0]
    check(described["tags"] == [{"key": "app", "value": "web"}], "describe_services include=TAGS")
    check("tags" not in ecs.describe_services(cluster="prod", services=["web"])["services"][0],
          "describe_services without TAGS omits tags")

    status, done = emu.rollout(cluster="prod", service=described["serviceArn"], state="COMPLETED")
    check(status == 200 and len(done["deployments"]) == 1
          and done["deployments"][0]["rolloutState"] == "COMPLETED"
          and done["deployments"][0]["runningCount"] == 3 and done["runningCount"] == 3
          and done["deployments"][0]["rolloutStateReason"].endswith("completed."),
          "rollout COMPLETED: PRIMARY done, older deployments drained", done)

    ecs.update_service(cluster="prod", service="web", taskDefinition="web")  # latest = rev 3
    status, failed = emu.rollout(cluster=cluster, service="web", state="FAILED", rollback=True)
    primary, *active = failed["deployments"]
    failed_one = next(d for d in active if d["taskDefinition"] == task_defs[2])
    check(status == 200 and failed["taskDefinition"] == task_defs[1]
          and primary["status"] == "PRIMARY" and primary["taskDefinition"] == task_defs[1]
          and primary["rolloutState"] == "IN_PROGRESS"
          and all(d["status"] == "ACTIVE" for d in active)
          and failed_one["rolloutState"] == "FAILED" and failed_one["failedTasks"] == 1,
          "rollout FAILED + rollback: back to the previous task definition", failed["deployments"])
    show_deployments(failed)
    status, failed_plain = emu.rollout(cluster="prod", service="web", state="FAILED", failedTasks=4,
                                       reason="boom")
    check(status == 200 and failed_plain["deployments"][0]["rolloutState"] == "FAILED"
          and failed_plain["deployments"][0]["failedTasks"] == 4
          and failed_plain["deployments"][0]["rolloutStateReason"] == "boom",
          "rollout FAILED without rollback")

    for request, status, what in [
        ({"cluster": "nope", "service": "web", "state": "COMPLETED"}, 404, "unknown cluster"),
        ({"cluster": "prod", "service": "nope", "state": "COMPLETED"}, 404, "unknown service"),
        ({"cluster": "prod", "service": "web", "state": "DONE"}, 400, "bad state"),
    ]:
        check(emu.rollout(**request)[0] == status, f"rollout: {what} -> {status}")

    # DeleteCluster refuses a cluster with ACTIVE services; UpdateClusterSettings is served.
    try:
        ecs.delete_cluster(cluster="prod")
        check(False, "delete_cluster with active services fails")
    except ClientError as error:
        check(error.response["Error"]["Code"] == "ClusterContainsServicesException",
              "delete_cluster with active services fails", error.response["Error"])
    updated_settings = ecs.update_cluster_settings(
        cluster="prod", settings=[{"name": "containerInsights", "value": "disabled"}])["cluster"]
    described_settings = ecs.describe_clusters(clusters=["prod"], include=["SETTINGS"])["clusters"][0]["settings"]
    check(updated_settings["settings"] == [{"name": "containerInsights", "value": "disabled"}]
          and described_settings == updated_settings["settings"],
          "update_cluster_settings replaces the named setting", described_settings)

    # A bare family is the newest ACTIVE revision (ECS), not a deregistered newer one.
    newest = ecs.register_task_definition(family="fam", containerDefinitions=[{"name": "c", "image": "x", "memory": 128}])
    older = newest["taskDefinition"]["taskDefinitionArn"]
    dropped = ecs.register_task_definition(family="fam", containerDefinitions=[{"name": "c", "image": "y", "memory": 128}])
    ecs.deregister_task_definition(taskDefinition=dropped["taskDefinition"]["taskDefinitionArn"])
    bare = ecs.describe_task_definition(taskDefinition="fam")["taskDefinition"]
    check(bare["taskDefinitionArn"] == older and bare["status"] == "ACTIVE",
          "describe_task_definition(family): the newest ACTIVE revision", bare["taskDefinitionArn"])
    ecs.deregister_task_definition(taskDefinition=older)
    try:
        ecs.describe_task_definition(taskDefinition="fam")
        check(False, "describe_task_definition(family) with no ACTIVE revision fails")
    except ClientError as error:
        check(error.response["Error"]["Code"] == "ClientException",
              "describe_task_definition(family) with no ACTIVE revision fails", error.response["Error"])
    check(ecs.describe_task_definition(taskDefinition=older)["taskDefinition"]["status"] == "INACTIVE",
          "describe_task_definition(family:rev) still shows an INACTIVE revision")

    try:
        ecs.update_service(cluster="prod", service="web", taskDefinition="web:9")
        check(False, "update_service with an unknown task definition fails")
    except ClientError as error:
        check(error.response["Error"]["Code"] == "ClientException",
              "update_service with an unknown task definition fails", error.response["Error"])


def _register(ecs: Any, family: str, image: str = "repo/app:1") -> str:
    return ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "app", "image": image, "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]


def _described_service(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def check_ecs_inactive_task_definitions(emu: Emulator) -> None:
    """ecs_ext: an INACTIVE revision named explicitly is not deployed (CreateService, UpdateService,
    RunTask); a service already on one still scales."""
    ecs = emu.client("ecs", "AKECSINACTIVE")
    ecs.create_cluster(clusterName="inact")
    one, two, three = (_register(ecs, "gone", f"repo/gone:{n}") for n in (1, 2, 3))
    ecs.create_service(cluster="inact", serviceName="svc", taskDefinition="gone:1", desiredCount=1)
    ecs.deregister_task_definition(taskDefinition="gone:2")
    described = ecs.describe_task_definition(taskDefinition="gone:2")["taskDefinition"]
    check(described["status"] == "INACTIVE" and described["taskDefinitionArn"] == two,
          "describe_task_definition of a deregistered revision: status INACTIVE", described["status"])

    for what, name in (("family:revision", "gone:2"), ("ARN", two)):
        refused(f"UpdateService to an INACTIVE revision by {what}", "ClientException",
                ecs.update_service, cluster="inact", service="svc", taskDefinition=name,
                contains="TaskDefinition is inactive")
    kept = _described_service(ecs, "inact", "svc")
    check(kept["taskDefinition"] == one and len(kept["deployments"]) == 1
          and kept["deployments"][0]["rolloutState"] == "COMPLETED",
          "a refused UpdateService leaves the service as it was", kept["deployments"])
    refused("CreateService on an INACTIVE revision", "ClientException",
            ecs.create_service, cluster="inact", serviceName="other", taskDefinition=two, desiredCount=1,
            contains="TaskDefinition is inactive")
    missing = ecs.describe_services(cluster="inact", services=["other"])
    check(not missing["services"] and missing["failures"][0]["reason"] == "MISSING",
          "a refused CreateService creates nothing", missing)
    refused("RunTask of an INACTIVE revision", "InvalidParameterException",
            ecs.run_task, cluster="inact", taskDefinition="gone:2", contains="TaskDefinition is inactive")

    # The service's own revision deregistered: scaling (no taskDefinition) is fine.
    ecs.deregister_task_definition(taskDefinition=one)
    scaled = ecs.update_service(cluster="inact", service="svc", desiredCount=2)["service"]
    check(scaled["desiredCount"] == 2 and scaled["taskDefinition"] == one and len(scaled["deployments"]) == 1,
          "UpdateService(desiredCount) of a service whose revision is INACTIVE is accepted", scaled["deployments"])
    refused("UpdateService naming the service's own, now INACTIVE, revision", "ClientException",
            ecs.update_service, cluster="inact", service="svc", taskDefinition=one, desiredCount=2,
            contains="TaskDefinition is inactive")
    moved = ecs.update_service(cluster="inact", service="svc", taskDefinition="gone")["service"]
    check(moved["taskDefinition"] == three and moved["deployments"][0]["rolloutState"] == "IN_PROGRESS",
          "UpdateService(family): the newest ACTIVE revision is deployed", moved["taskDefinition"])


def check_ecs_delete_task_definitions(emu: Emulator) -> None:
    """ecs_ext: DeleteTaskDefinitions deletes INACTIVE revisions only; a deleted revision still in use
    stays DELETE_IN_PROGRESS until it is not; deleted revision numbers are not used again."""
    ecs = emu.client("ecs", "AKECSDELETE")
    ecs.create_cluster(clusterName="delc")
    one, two, three = (_register(ecs, "del", f"repo/del:{n}") for n in (1, 2, 3))
    ecs.create_service(cluster="delc", serviceName="user", taskDefinition=two, desiredCount=1)
    for arn in (one, two):
        ecs.deregister_task_definition(taskDefinition=arn)
    foreign = one.replace(f":{REGION}:", ":eu-west-1:")
    answer = ecs.delete_task_definitions(taskDefinitions=["del:1", two, three, "del:9", "del", foreign])
    deleted = {t["taskDefinitionArn"]: t["status"] for t in answer["taskDefinitions"]}
    reasons = {f["arn"]: f["reason"] for f in answer["failures"]}
    check(deleted == {one: "DELETE_IN_PROGRESS", two: "DELETE_IN_PROGRESS"}
          and all("deleteRequestedAt" in t for t in answer["taskDefinitions"]),
          "delete_task_definitions: the INACTIVE revisions are DELETE_IN_PROGRESS", answer["taskDefinitions"])
    check(set(reasons) == {three, "del:9", "del", foreign}
          and "still in ACTIVE status" in reasons[three]
          and "does not exist" in reasons["del:9"] and "does not exist" in reasons[foreign]
          and "identifier is invalid" in reasons["del"],
          "delete_task_definitions: ACTIVE, unknown, revision-less and foreign ones are failures", reasons)
    refused("DescribeTaskDefinition of a deleted revision", "ClientException",
            ecs.describe_task_definition, taskDefinition="del:1", contains="Unable to describe task definition.")
    refused("DeleteTaskDefinitions with no revision", "InvalidParameterException",
            ecs.delete_task_definitions, taskDefinitions=[])
    bad = ecs.delete_task_definitions(taskDefinitions=["del:x"])
    check(not bad["taskDefinitions"] and "identifier is invalid" in bad["failures"][0]["reason"],
          "delete_task_definitions: a non-numeric revision is a failure", bad)
    check(ecs.describe_task_definition(taskDefinition=three)["taskDefinition"]["status"] == "ACTIVE",
          "delete_task_definitions leaves an ACTIVE revision as it is")

    # del:2 is the service's: it stays, DELETE_IN_PROGRESS, until the service no longer uses it.
    in_use = ecs.describe_task_definition(taskDefinition="del:2")["taskDefinition"]
    check(in_use["status"] == "DELETE_IN_PROGRESS",
          "a deleted revision a service still uses is DELETE_IN_PROGRESS", in_use["status"])
    listed = ecs.list_task_definitions(familyPrefix="del", status="DELETE_IN_PROGRESS")["taskDefinitionArns"]
    check(listed == [two], "list_task_definitions(status=DELETE_IN_PROGRESS)", listed)
    refused("UpdateService to a DELETE_IN_PROGRESS revision", "ClientException",
            ecs.update_service, cluster="delc", service="user", taskDefinition=two,
            contains="TaskDefinition is inactive")
    ecs.update_service(cluster="delc", service="user", desiredCount=2)  # scaling still works
    ecs.update_service(cluster="delc", service="user", taskDefinition=three)
    still = ecs.describe_task_definition(taskDefinition=two)["taskDefinition"]["status"]
    check(still == "DELETE_IN_PROGRESS", "still DELETE_IN_PROGRESS while its deployment is ACTIVE", still)
    status, _ = emu.rollout(cluster="delc", service="user", state="COMPLETED", region=REGION)
    check(status == 200, "rollout COMPLETED drains the deployment of the deleted revision")
    refused("DescribeTaskDefinition of a deleted revision no longer in use", "ClientException",
            ecs.describe_task_definition, taskDefinition=two, contains="Unable to describe task definition.")

    # A foreign ARN deletes nothing here; deleted revision numbers are not used again, and a family
    # with no revision left is not listed.
    kept = _register(ecs, "delkeep")
    ecs.deregister_task_definition(taskDefinition=kept)
    ecs.delete_task_definitions(taskDefinitions=[kept.replace(f":{REGION}:", ":eu-west-1:")])
    check(ecs.describe_task_definition(taskDefinition="delkeep:1")["taskDefinition"]["status"] == "INACTIVE",
          "delete_task_definitions of a foreign ARN leaves the local revision of that name")
    numbered = [_register(ecs, "delnum") for _ in range(2)]
    for arn in numbered:
        ecs.deregister_task_definition(taskDefinition=arn)
    ecs.delete_task_definitions(taskDefinitions=numbered)
    families = ecs.list_task_definition_families(familyPrefix="delnum")["families"]
    check(families == [], "a family whose revisions are all deleted is not listed", families)
    again = _register(ecs, "delnum")
    check(again.endswith("task-definition/delnum:3"), "register after deleting revisions 1-2 gives revision 3", again)


def check_ecs_desired_count(emu: Emulator) -> None:
    """ecs_ext: a new desiredCount does not start (or count) tasks at once; the rollout endpoint does."""
    ecs = emu.client("ecs", "AKECSSCALE")
    ecs.create_cluster(clusterName="scale")
    first, second = _register(ecs, "scaled", "repo/s:1"), _register(ecs, "scaled", "repo/s:2")
    ecs.create_service(cluster="scale", serviceName="api", taskDefinition=first, desiredCount=2)

    def counts(what: str, running: int, pending: int, desired: int) -> dict[str, Any]:
        service = _described_service(ecs, "scale", "api")
        primary = service["deployments"][0]
        cluster = ecs.describe_clusters(clusters=["scale"])["clusters"][0]
        check(len(service["deployments"]) == 1 and primary["status"] == "PRIMARY"
              and primary["rolloutState"] == "COMPLETED"
              and (primary["desiredCount"], primary["runningCount"], primary["pendingCount"]) == (desired, running, pending)
              and (service["desiredCount"], service["runningCount"], service["pendingCount"]) == (desired, running, pending)
              and (cluster["runningTasksCount"], cluster["pendingTasksCount"]) == (running, pending),
              what, {"deployments": service["deployments"], "service": (service["desiredCount"], service["runningCount"],
                     service["pendingCount"]), "cluster": (cluster["runningTasksCount"], cluster["pendingTasksCount"])})
        return service

    counts("desired count 2 at creation: 2 running", 2, 0, 2)
    ecs.update_service(cluster="scale", service="api", desiredCount=5)
    counts("desiredCount 2 -> 5: still COMPLETED, 2 running, 3 pending", 2, 3, 5)
    status, done = emu.rollout(cluster="scale", service="api", state="COMPLETED", region=REGION)
    check(status == 200, "rollout COMPLETED of an already COMPLETED PRIMARY", done)
    counts("rollout COMPLETED starts the pending tasks, the PRIMARY stays", 5, 0, 5)
    ecs.update_service(cluster="scale", service="api", desiredCount=1)
    counts("desiredCount 5 -> 1: 1 running, none pending", 1, 0, 1)
    ecs.update_service(cluster="scale", service="api", desiredCount=4)
    ecs.update_service(cluster="scale", service="api", desiredCount=3)
    counts("desiredCount 1 -> 4 -> 3: 1 running, 2 pending", 1, 2, 3)
    emu.rollout(cluster="scale", service="api", state="COMPLETED", runningCount=3, region=REGION)
    counts("rollout COMPLETED with runningCount 3", 3, 0, 3)
    ecs.update_service(cluster="scale", service="api", desiredCount=3)
    counts("the same desiredCount again changes nothing", 3, 0, 3)

    deploying = ecs.update_service(cluster="scale", service="api", taskDefinition=second, desiredCount=6)["service"]
    primary = deploying["deployments"][0]
    check(deploying["runningCount"] == 3 and deploying["pendingCount"] == 0
          and primary["rolloutState"] == "IN_PROGRESS" and primary["desiredCount"] == 6
          and primary["runningCount"] == 0 and primary["pendingCount"] == 0,
          "a new task definition and desiredCount: the old tasks keep running, the new PRIMARY has none yet",
          deploying)


def check_ecs_history(emu: Emulator) -> None:
    """ecs_history: service deployments and revisions follow the deployments, as ECS keeps them."""
    ecs = emu.client("ecs", "AKECSHISTORY")
    ecs.create_cluster(clusterName="hist")
    one, two, three = (_register(ecs, "hist", f"repo/h:{n}") for n in (1, 2, 3))
    ecs.create_service(cluster="hist", serviceName="api", taskDefinition=one, desiredCount=2,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})

    def history() -> list[dict[str, Any]]:
        return ecs.list_service_deployments(cluster="hist", service="api")["serviceDeployments"]

    def task_definitions(briefs: list[dict[str, Any]]) -> list[str]:
        revisions = ecs.describe_service_revisions(serviceRevisionArns=[b["targetServiceRevisionArn"] for b in briefs])
        by_arn = {r["serviceRevisionArn"]: r["taskDefinition"] for r in revisions["serviceRevisions"]}
        return [by_arn[b["targetServiceRevisionArn"]] for b in briefs]

    first = history()
    check([b["status"] for b in first] == ["SUCCESSFUL"] and task_definitions(first) == [one],
          "CreateService: one SUCCESSFUL service deployment to the first revision", first)
    check(_described_service(ecs, "hist", "api").get("currentServiceDeployment") == first[0]["serviceDeploymentArn"],
          "DescribeServices names it in currentServiceDeployment")
    ecs.update_service(cluster="hist", service="api", desiredCount=3)
    check(len(history()) == 1, "a desired-count change starts no service deployment")
    ecs.update_service(cluster="hist", service="api", taskDefinition=two)
    emu.rollout(cluster="hist", service="api", state="FAILED", rollback=True, reason="tasks failed to start", region=REGION)
    rolling = history()
    check([b["status"] for b in rolling] == ["ROLLBACK_IN_PROGRESS", "SUCCESSFUL"]
          and rolling[0]["statusReason"] == "tasks failed to start",
          "a circuit-breaker rollback is part of the failed service deployment (newest first)", rolling)
    check(_described_service(ecs, "hist", "api").get("currentServiceDeployment") == rolling[0]["serviceDeploymentArn"],
          "the failed one stays current while its rollback runs")
    emu.rollout(cluster="hist", service="api", state="COMPLETED", region=REGION)
    done = history()
    check([b["status"] for b in done] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"] and task_definitions(done) == [two, one],
          "the rollback completes: ROLLBACK_SUCCESSFUL, its target still the failed revision", done)
    described = ecs.describe_service_deployments(serviceDeploymentArns=[done[0]["serviceDeploymentArn"]])
    rollback = described["serviceDeployments"][0]["rollback"]["serviceRevisionArn"]
    check(rollback == done[1]["targetServiceRevisionArn"], "rollback names the revision it returned to", described)
    ecs.update_service(cluster="hist", service="api", taskDefinition=three)
    ecs.update_service(cluster="hist", service="api", taskDefinition=two)
    stopped = history()
    check([b["status"] for b in stopped][:2] == ["IN_PROGRESS", "STOPPED"],
          "a newer deployment stops one in progress", stopped)
    after = ecs.list_service_deployments(cluster="hist", service="api", createdAt={"after": stopped[1]["createdAt"]})
    check(len(after["serviceDeployments"]) == 2, "createdAt.after filters (inclusive here)", after)
    page = ecs.list_service_deployments(cluster="hist", service="api", maxResults=1)
    rest = ecs.list_service_deployments(cluster="hist", service="api", maxResults=100, nextToken=page["nextToken"])
    check(len(page["serviceDeployments"]) == 1 and len(rest["serviceDeployments"]) == 3 and "nextToken" not in rest,
          "maxResults and nextToken page the list")
    for bad in (0, 101):
        refused(f"maxResults {bad}", "InvalidParameterException", ecs.list_service_deployments,
                cluster="hist", service="api", maxResults=bad)
    refused("21 service revision ARNs", "InvalidParameterException", ecs.describe_service_revisions,
            serviceRevisionArns=[done[0]["targetServiceRevisionArn"]] * 21)
    refused("an unknown service", "ServiceNotFoundException", ecs.list_service_deployments,
            cluster="hist", service="nope")
    missing = ecs.describe_service_revisions(serviceRevisionArns=[done[0]["targetServiceRevisionArn"] + "0"])
    check(missing["failures"][0]["reason"] == "MISSING" and not missing["serviceRevisions"],
          "an unknown service revision is a MISSING failure", missing)


def check_clock(emu: Emulator) -> None:
    """clock.py: a test sets the time ECS and CloudWatch record, and can give the wall clock back."""
    def set_clock(now: Any) -> tuple[int, Any]:
        status, _, body = emu.http("POST", "/_rollgate/clock", json.dumps({"now": now}).encode(),
                                   {"Content-Type": "application/json"})
        return status, json.loads(body)

    logical = datetime(2031, 5, 4, 3, 2, 1, tzinfo=timezone.utc)
    check(set_clock(logical.timestamp())[0] == 200, "clock: set to a logical time")
    ecs = emu.client("ecs", "AKCLOCK")
    ecs.create_cluster(clusterName="clock")
    first = _register(ecs, "clock", "repo/c:1")
    second = _register(ecs, "clock", "repo/c:2")
    ecs.create_service(cluster="clock", serviceName="api", taskDefinition=first, desiredCount=1)
    ecs.update_service(cluster="clock", service="api", taskDefinition=second)
    times = [d["createdAt"] for d in reversed(_described_service(ecs, "clock", "api")["deployments"])]
    check(all(logical <= t < logical + timedelta(seconds=1) for t in times) and times == sorted(set(times)),
          "clock: ECS deployments are stamped at the logical second, in the order they happened", times)
    cloudwatch = emu.client("cloudwatch", "AKCLOCK")
    cloudwatch.put_metric_alarm(AlarmName="clock", MetricName="m", Namespace="n", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="clock", StateValue="ALARM", StateReason="test")
    history = cloudwatch.describe_alarm_history(AlarmName="clock", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    check(bool(history) and all(logical <= h["Timestamp"] < logical + timedelta(seconds=1) for h in history),
          "clock: CloudWatch alarm history", history)
    cloudwatch.delete_alarms(AlarmNames=["clock"])
    for bad in ("soon", True):
        check(set_clock(bad)[0] == 400, f"clock: now {bad!r} -> 400")
    check(set_clock(None)[0] == 200, "clock: back to the wall clock")
    ecs.update_service(cluster="clock", service="api", taskDefinition=first)
    newest = _described_service(ecs, "clock", "api")["deployments"][0]["createdAt"]
    check(abs((newest - datetime.now(timezone.utc)).total_seconds()) < 600, "clock: the wall clock again", newest)

OTHER_ACCOUNT = "111122223333"


def check_ecs_identity(emu: Emulator) -> None:
    """ecs_ext: a service name in use is refused; ARNs of another region or account name nothing."""
    ecs = emu.client("ecs", "AKECSIDENTITY")
    ecs_eu = boto3.client("ecs", endpoint_url=emu.url, region_name="eu-west-1", aws_access_key_id="AKECSIDENTITY",
                          aws_secret_access_key="dummy", config=Config(retries={"max_attempts": 1}))
    ecs.create_cluster(clusterName="idc")
    revision = ecs.register_task_definition(
        family="idweb", containerDefinitions=[{"name": "web", "image": "repo/web:1", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    created = ecs.create_service(cluster="idc", serviceName="api", taskDefinition=revision, desiredCount=0,
                                 tags=[{"key": "owner", "value": "first"}])["service"]

    # CreateService of a name that is ACTIVE in the cluster: refused, the service untouched.
    refused("CreateService of a service name ACTIVE in the cluster", "InvalidParameterException",
            ecs.create_service, cluster="idc", serviceName="api", taskDefinition=revision, desiredCount=3,
            tags=[{"key": "owner", "value": "second"}], contains="Creation of service was not idempotent.")
    kept = ecs.describe_services(cluster="idc", services=["api"], include=["TAGS"])["services"][0]
    check(kept["desiredCount"] == 0 and kept["tags"] == [{"key": "owner", "value": "first"}]
          and kept["createdAt"] == created["createdAt"], "  ... and the existing service keeps its settings and tags", kept)
    ecs.create_cluster(clusterName="idc2")
    ecs.create_service(cluster="idc2", serviceName="api", taskDefinition=revision, desiredCount=0)
    check(True, "accepted: CreateService of the same name in another cluster")
    # A retry with the clientToken that created the service (an SDK retry after a lost
    # answer) answers that service; another token is still refused.
    first = ecs.create_service(cluster="idc2", serviceName="tok", taskDefinition=revision, desiredCount=0,
                               clientToken="rollgate-token-1")["service"]
    retried = ecs.create_service(cluster="idc2", serviceName="tok", taskDefinition=revision, desiredCount=0,
                                 clientToken="rollgate-token-1")["service"]
    check(retried["serviceArn"] == first["serviceArn"] and retried["createdAt"] == first["createdAt"],
          "accepted: CreateService repeated with its clientToken answers the service it created", retried)
    refused("CreateService of an ACTIVE name with another clientToken", "InvalidParameterException",
            ecs.create_service, cluster="idc2", serviceName="tok", taskDefinition=revision, desiredCount=0,
            clientToken="rollgate-token-2", contains="Creation of service was not idempotent.")
    ecs.delete_service(cluster="idc", service="api")
    again = ecs.create_service(cluster="idc", serviceName="api", taskDefinition=revision, desiredCount=1)["service"]
    described = ecs.describe_services(cluster="idc", services=["api"], include=["TAGS"])["services"][0]
    check(again["status"] == "ACTIVE" and described["desiredCount"] == 1 and not described.get("tags"),
          "accepted: CreateService of the name of an INACTIVE (deleted) service: a new service", described)

    # UpdateService of a CODE_DEPLOY service to another task definition: refused (CodeDeploy
    # deploys it); its desired count may still change.
    revision2 = ecs.register_task_definition(
        family="idweb", containerDefinitions=[{"name": "web", "image": "repo/web:2", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="idc2", serviceName="bluegreen", taskDefinition=revision, desiredCount=0,
                       deploymentController={"type": "CODE_DEPLOY"})
    refused("UpdateService to a new task definition with the CODE_DEPLOY controller", "InvalidParameterException",
            ecs.update_service, cluster="idc2", service="bluegreen", taskDefinition=revision2,
            contains="Unable to update task definition on services with a CODE_DEPLOY deployment controller.")
    ecs.update_service(cluster="idc2", service="bluegreen", desiredCount=2)
    check(True, "accepted: UpdateService of a CODE_DEPLOY service's desired count")

    # ARNs of another region or account: nothing here, whatever the local names.
    service_arn, cluster_arn = again["serviceArn"], again["clusterArn"]
    check(service_arn.startswith(f"arn:aws:ecs:{REGION}:{IAM_ACCOUNT}:service/idc/api"), "service ARN", service_arn)
    foreign = {
        "region": (service_arn.replace(f":{REGION}:", ":eu-west-1:"), cluster_arn.replace(f":{REGION}:", ":eu-west-1:")),
        "account": (service_arn.replace(f":{IAM_ACCOUNT}:", f":{OTHER_ACCOUNT}:"),
                    cluster_arn.replace(f":{IAM_ACCOUNT}:", f":{OTHER_ACCOUNT}:")),
    }
    for what, (other_service, other_cluster) in foreign.items():
        answer = ecs.describe_services(cluster="idc", services=[other_service, service_arn])
        check([s["serviceArn"] for s in answer["services"]] == [service_arn]
              and answer["failures"] == [{"arn": other_service, "reason": "MISSING"}],
              f"DescribeServices: a service ARN of another {what} is a MISSING failure, the local ARN is found", answer)
        refused(f"DescribeServices in a cluster ARN of another {what}", "ClusterNotFoundException",
                ecs.describe_services, cluster=other_cluster, services=["api"])
        refused(f"UpdateService of a service ARN of another {what}", "ServiceNotFoundException",
                ecs.update_service, cluster="idc", service=other_service, desiredCount=5)
        refused(f"UpdateService in a cluster ARN of another {what}", "ClusterNotFoundException",
                ecs.update_service, cluster=other_cluster, service="api", desiredCount=5)
        refused(f"DeleteService of a service ARN of another {what}", "ServiceNotFoundException",
                ecs.delete_service, cluster="idc", service=other_service, force=True)
        refused(f"TagResource of a service ARN of another {what}", "ServiceNotFoundException",
                ecs.tag_resource, resourceArn=other_service, tags=[{"key": "k", "value": "v"}])
        refused(f"TagResource of a cluster ARN of another {what}", "ClusterNotFoundException",
                ecs.tag_resource, resourceArn=other_cluster, tags=[{"key": "k", "value": "v"}])
        refused(f"ListTagsForResource of a service ARN of another {what}", "ServiceNotFoundException",
                ecs.list_tags_for_resource, resourceArn=other_service)
        refused(f"CreateService in a cluster ARN of another {what}", "ClusterNotFoundException",
                ecs.create_service, cluster=other_cluster, serviceName="fresh", taskDefinition=revision)
        clusters = ecs.describe_clusters(clusters=[other_cluster, cluster_arn])
        check([c["clusterArn"] for c in clusters["clusters"]] == [cluster_arn]
              and clusters["failures"] == [{"arn": other_cluster, "reason": "MISSING"}],
              f"DescribeClusters: a cluster ARN of another {what} is a MISSING failure", clusters)
        refused(f"DescribeTaskDefinition of a revision ARN of another {what}", "ClientException",
                ecs.describe_task_definition,
                taskDefinition=revision.replace(f":{REGION}:", ":eu-west-1:") if what == "region"
                else revision.replace(f":{IAM_ACCOUNT}:", f":{OTHER_ACCOUNT}:"))
    local = ecs.describe_services(cluster="idc", services=["api"], include=["TAGS"])["services"][0]
    check(local["desiredCount"] == 1 and local["status"] == "ACTIVE" and not local.get("tags"),
          "  ... and the local service of that name was neither updated, deleted nor tagged", local)
    # The same ARNs are found through their own region's endpoint.
    ecs_eu.create_cluster(clusterName="idc")
    ecs_eu.register_task_definition(family="idweb",
                                    containerDefinitions=[{"name": "web", "image": "repo/web:1", "memory": 128}])
    eu_service = ecs_eu.create_service(cluster="idc", serviceName="api", taskDefinition="idweb",
                                       desiredCount=0)["service"]["serviceArn"]
    check(eu_service == foreign["region"][0], "the eu-west-1 service has the ARN used above", eu_service)
    updated = ecs_eu.update_service(cluster=foreign["region"][1], service=eu_service, desiredCount=2)["service"]
    ecs_eu.tag_resource(resourceArn=eu_service, tags=[{"key": "k", "value": "v"}])
    check(updated["desiredCount"] == 2 and ecs_eu.list_tags_for_resource(resourceArn=eu_service)["tags"]
          == [{"key": "k", "value": "v"}], "accepted: the eu-west-1 ARNs through the eu-west-1 endpoint")
    check(ecs.update_service(cluster=cluster_arn, service=service_arn, desiredCount=0)["service"]["desiredCount"] == 0,
          "accepted: UpdateService with this region's cluster and service ARNs")


def check_ecs_reserved_tags_do_not_count() -> None:
    """ECS's 50-tag limit leaves aws: tags out. No request can add one (validate.py refuses the
    prefix; in AWS, AWS adds them, e.g. aws:cloudformation:*), so this runs ecs_ext in-process."""
    import ecs_ext
    from moto.ecs.models import ecs_backends
    ecs_ext.install()
    backend = ecs_backends["000000000042"]["us-east-1"]
    aws_tags = [{"key": f"aws:cloudformation:k{i}", "value": "v"} for i in range(3)]
    cluster = backend.create_cluster("reserved", tags=aws_tags + [{"key": f"u{i}", "value": "v"} for i in range(47)])
    backend.tag_resource(cluster.arn, {"u47": "v", "u48": "v", "u49": "v"})
    check(len(cluster.tags) == 53, "accepted: 50 user tags next to 3 aws: tags (aws: tags do not count)", len(cluster.tags))
    try:
        backend.tag_resource(cluster.arn, {"u50": "v"})
        check(False, "refused: a 51st user tag next to aws: tags -> InvalidParameterException")
    except Exception as error:  # moto's ECSException
        check(getattr(error, "code", None) == "InvalidParameterException",
              "refused: a 51st user tag next to aws: tags -> InvalidParameterException", error)


def check_ecr_pushed_at(emu: Emulator) -> None:
    ecr = emu.client("ecr")
    ecr.create_repository(repositoryName="clock")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "c" * 64}, "layers": []})
    digest = ecr.put_image(repositoryName="clock", imageManifest=manifest, imageTag="v1")["image"]["imageId"]["imageDigest"]

    def post(request: dict[str, Any]) -> tuple[int, Any]:
        status, _, body = emu.http("POST", "/_rollgate/ecr/pushed-at", json.dumps(request).encode(),
                                   {"Content-Type": "application/json"})
        return status, json.loads(body)

    status, reply = post({"repository": "clock", "digest": digest, "pushedAt": 1_900_000_000})
    check(status == 200 and reply == {"updated": 1}, "ecr pushed-at: sets an image's push time", reply)
    image = ecr.describe_images(repositoryName="clock")["imageDetails"][0]
    check(int(image["imagePushedAt"].timestamp()) == 1_900_000_000, "ecr pushed-at: DescribeImages shows it", image)
    check(post({"repository": "clock", "digest": "sha256:" + "0" * 64, "pushedAt": 1})[0] == 404,
          "ecr pushed-at: unknown digest -> 404")
    check(post({"repository": "clock", "digest": digest, "pushedAt": "soon"})[0] == 400,
          "ecr pushed-at: a time that is not epoch seconds -> 400")


def check_ecr_moved_tag_keeps_the_image(emu: Emulator) -> None:
    """A mutable tag re-pushed moves; the image that held it stays, untagged (moto deleted it)."""
    ecr = emu.client("ecr")
    ecr.create_repository(repositoryName="moved")

    def push(n: int, tag: str) -> str:
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"digest": "sha256:" + f"{n:x}" * 64}, "layers": []})
        return ecr.put_image(repositoryName="moved", imageManifest=manifest, imageTag=tag)["image"]["imageId"]["imageDigest"]

    old, new = push(1, "latest"), push(2, "latest")
    details = {d["imageDigest"]: d for d in ecr.describe_images(repositoryName="moved")["imageDetails"]}
    check(old in details and not details[old].get("imageTags"), "ecr moved tag: the old image stays, untagged", details)
    check(details.get(new, {}).get("imageTags") == ["latest"], "ecr moved tag: the tag is on the new image", details)
    by_digest = ecr.describe_images(repositoryName="moved", imageIds=[{"imageDigest": old}])["imageDetails"]
    check(len(by_digest) == 1, "ecr moved tag: the old image is found by its digest", by_digest)


DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ECR_OTHER_ACCOUNT = "111122223333"


def answered(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """The answer of a call that must succeed; an AWS error fails the check ``what``."""
    try:
        return call(*args, **kwargs)
    except ClientError as error:
        check(False, what, error.response["Error"])
        raise


def _sha256(manifest: str) -> str:
    return "sha256:" + hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def _in_account(client: Any, account: str) -> Any:
    """Requests of ``client`` are served in ``account`` (moto's x-moto-account-id header)."""
    client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", account))
    return client


def check_ecr_images(emu: Emulator) -> None:
    """ecr_ext: digests, media types, referrers, image status and the archive, another account's registry."""
    ecr = emu.client("ecr", "AKECRIMAGES")
    ecr.create_repository(repositoryName="media")

    def push(document: dict[str, Any], tag: str | None = None, **extra: Any) -> tuple[str, str]:
        manifest = json.dumps(document)
        params = {"repositoryName": "media", "imageManifest": manifest, **extra}
        if tag:
            params["imageTag"] = tag
        return ecr.put_image(**params)["image"]["imageId"]["imageDigest"], manifest

    layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
             "digest": "sha256:" + "1" * 64}
    docker, docker_manifest = push({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": [layer],
                                    "config": {"mediaType": DOCKER_CONFIG, "size": 7023, "digest": "sha256:" + "2" * 64}},
                                   "docker")
    oci, oci_manifest = push({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [layer],
                              "config": {"mediaType": OCI_CONFIG, "size": 7023, "digest": "sha256:" + "3" * 64}}, "oci")
    check(docker == _sha256(docker_manifest) and oci == _sha256(oci_manifest),
          "ecr: imageDigest is the sha256 of the manifest bytes", (docker, _sha256(docker_manifest)))
    # Same JSON, other bytes (spacing): another image, as for ECR's content-addressed digests.
    spaced = json.dumps(json.loads(oci_manifest), indent=1)
    spaced_digest = ecr.put_image(repositoryName="media", imageManifest=spaced)["image"]["imageId"]["imageDigest"]
    check(spaced_digest == _sha256(spaced) and spaced_digest != oci,
          "ecr: the same manifest with other whitespace is another digest", spaced_digest)
    index, _ = push({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": oci, "size": len(oci_manifest),
         "platform": {"architecture": "amd64", "os": "linux"}}]}, "multi")
    docker_list, _ = push({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": docker, "size": len(docker_manifest),
         "platform": {"architecture": "amd64", "os": "linux"}}]}, "list")
    # An index may carry an artifactType (OCI image spec 1.1); ECR still reports no artifactMediaType.
    artifact_index, _ = push({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.example+type",
                              "manifests": [{"mediaType": OCI_MANIFEST, "digest": oci, "size": len(oci_manifest)}]},
                             "artifact-index")
    signature_type = "application/vnd.dev.cosign.artifact.sig.v1+json"
    referrer, _ = push({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": signature_type,
                        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
                        "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": oci,
                                                  "size": len(oci_manifest)}})
    # No mediaType in the manifest: the PutImage argument is the media type.
    bare, _ = push({"schemaVersion": 2, "layers": [layer],
                    "config": {"mediaType": OCI_CONFIG, "size": 1, "digest": "sha256:" + "5" * 64}},
                   "bare", imageManifestMediaType=OCI_MANIFEST)
    wrong = "sha256:" + "0" * 64
    refused("PutImage with an imageDigest that is not the manifest's", "ImageDigestDoesNotMatchException",
            ecr.put_image, repositoryName="media", imageTag="claimed", imageDigest=wrong,
            imageManifest=json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                                      "config": {"mediaType": OCI_CONFIG, "size": 1, "digest": wrong}}))
    exact = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                        "config": {"mediaType": OCI_CONFIG, "size": 1, "digest": "sha256:" + "6" * 64}})
    ecr.put_image(repositoryName="media", imageManifest=exact, imageTag="exact", imageDigest=_sha256(exact))
    check(True, "accepted: PutImage with the manifest's own imageDigest")

    details = {d["imageDigest"]: d for d in ecr.describe_images(repositoryName="media")["imageDetails"]}
    expected = [
        ("a Docker image", docker, DOCKER_MANIFEST, DOCKER_CONFIG, None),
        ("an OCI image", oci, OCI_MANIFEST, OCI_CONFIG, None),
        ("an OCI image index", index, OCI_INDEX, None, None),
        ("a Docker manifest list", docker_list, DOCKER_LIST, None, None),
        ("an OCI image index with an artifactType", artifact_index, OCI_INDEX, None, None),
        ("a referrer with an artifactType", referrer, OCI_MANIFEST, signature_type, oci),
        ("a manifest without mediaType (PutImage's imageManifestMediaType)", bare, OCI_MANIFEST, OCI_CONFIG, None),
    ]
    for what, digest, manifest_type, artifact_type, subject in expected:
        detail = details.get(digest, {})
        check(detail.get("imageManifestMediaType") == manifest_type
              and detail.get("artifactMediaType") == artifact_type
              and ("artifactMediaType" in detail) == (artifact_type is not None)
              and detail.get("subjectManifestDigest") == subject
              and ("subjectManifestDigest" in detail) == (subject is not None)
              and detail.get("imageStatus") == "ACTIVE",
              f"ecr: DescribeImages of {what}: imageManifestMediaType, "
              f"{'artifactMediaType ' + artifact_type if artifact_type else 'no artifactMediaType'}"
              f"{', subjectManifestDigest' if subject else ''}, imageStatus ACTIVE", detail)
    every_type = [DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX]
    got = ecr.batch_get_image(repositoryName="media", imageIds=[{"imageTag": "docker"}, {"imageDigest": index}],
                              acceptedMediaTypes=every_type)
    check([i["imageManifestMediaType"] for i in got["images"]] == [DOCKER_MANIFEST, OCI_INDEX]
          and got["images"][0]["imageManifest"] == docker_manifest and not got["failures"],
          "ecr: BatchGetImage returns the manifest as pushed and its imageManifestMediaType", got)
    # Only in an accepted media type: without acceptedMediaTypes, Docker schema 2 only.
    default = ecr.batch_get_image(repositoryName="media", imageIds=[{"imageTag": "docker"}, {"imageDigest": index}])
    check([i["imageManifestMediaType"] for i in default["images"]] == [DOCKER_MANIFEST]
          and [(f["imageId"], f["failureCode"]) for f in default["failures"]] == [({"imageDigest": index},
                                                                                  "ImageNotFound")],
          "ecr: BatchGetImage without acceptedMediaTypes: an index is not returned (ImageNotFound failure)", default)
    narrow = ecr.batch_get_image(repositoryName="media", imageIds=[{"imageTag": "oci"}],
                                 acceptedMediaTypes=[DOCKER_MANIFEST])
    check(not narrow["images"] and narrow["failures"][0]["failureCode"] == "ImageNotFound",
          "ecr: BatchGetImage of an OCI manifest that acceptedMediaTypes leaves out -> ImageNotFound failure", narrow)
    untagged = [d["imageDigest"] for d in ecr.describe_images(repositoryName="media", filter={"tagStatus": "UNTAGGED"})
                ["imageDetails"]]
    check(sorted(untagged) == sorted([spaced_digest, referrer]), "ecr: DescribeImages tagStatus UNTAGGED", untagged)

    # The archive: UpdateImageStorageClass, the imageStatus filter, no pulls, restores.
    archived = ecr.update_image_storage_class(repositoryName="media", imageId={"imageTag": "oci"},
                                              targetStorageClass="ARCHIVE")
    check(archived["imageStatus"] == "ARCHIVED" and archived["imageId"]["imageDigest"] == oci,
          "ecr: UpdateImageStorageClass ARCHIVE -> ARCHIVED", archived)
    listed = [d["imageDigest"] for d in ecr.describe_images(repositoryName="media")["imageDetails"]]
    check(oci not in listed and docker in listed, "ecr: DescribeImages without a filter lists ACTIVE images only", listed)
    only = ecr.describe_images(repositoryName="media", filter={"imageStatus": "ARCHIVED"})["imageDetails"]
    check([d["imageDigest"] for d in only] == [oci] and only[0]["imageStatus"] == "ARCHIVED"
          and "lastArchivedAt" in only[0], "ecr: DescribeImages imageStatus ARCHIVED (with lastArchivedAt)", only)
    check(len(ecr.describe_images(repositoryName="media", filter={"imageStatus": "ANY"})["imageDetails"]) == len(listed) + 1,
          "ecr: DescribeImages imageStatus ANY lists every image")
    named = ecr.describe_images(repositoryName="media", imageIds=[{"imageDigest": oci}])["imageDetails"]
    check([d["imageStatus"] for d in named] == ["ARCHIVED"], "ecr: DescribeImages of an archived image by digest", named)
    ids = ecr.list_images(repositoryName="media")["imageIds"]
    check(all(i["imageDigest"] != oci for i in ids)
          and any(i["imageDigest"] == oci for i in ecr.list_images(repositoryName="media",
                                                                   filter={"imageStatus": "ANY"})["imageIds"]),
          "ecr: ListImages lists ACTIVE images unless the filter says otherwise", ids)
    pulled = ecr.batch_get_image(repositoryName="media", imageIds=[{"imageTag": "oci"}, {"imageTag": "docker"}],
                                 acceptedMediaTypes=every_type)
    check([i["imageId"]["imageDigest"] for i in pulled["images"]] == [docker]
          and [(f["imageId"], f["failureCode"]) for f in pulled["failures"]] == [({"imageTag": "oci"}, "ImageNotFound")],
          "ecr: BatchGetImage cannot pull an archived image (ImageNotFound failure)", pulled)
    restoring = ecr.update_image_storage_class(repositoryName="media", imageId={"imageDigest": oci},
                                               targetStorageClass="STANDARD")
    check(restoring["imageStatus"] == "ACTIVATING", "ecr: UpdateImageStorageClass STANDARD -> ACTIVATING", restoring)
    check(ecr.batch_get_image(repositoryName="media", imageIds=[{"imageDigest": oci}],
                              acceptedMediaTypes=every_type)["failures"][0]["failureCode"]
          == "ImageNotFound", "ecr: an ACTIVATING image cannot be pulled yet")
    check([d["imageDigest"] for d in ecr.describe_images(repositoryName="media", filter={"imageStatus": "ACTIVATING"})
           ["imageDetails"]] == [oci], "ecr: DescribeImages imageStatus ACTIVATING")
    refused("UpdateImageStorageClass ARCHIVE of an ACTIVATING image", "ImageStorageClassUpdateNotSupportedException",
            ecr.update_image_storage_class, repositoryName="media", imageId={"imageDigest": oci},
            targetStorageClass="ARCHIVE")

    def image_status(request: dict[str, Any]) -> tuple[int, Any]:
        status, _, body = emu.http("POST", "/_rollgate/ecr/image-status", json.dumps(request).encode(),
                                   {"Content-Type": "application/json"})
        return status, json.loads(body)

    check(image_status({"repository": "media", "digest": oci, "status": "ACTIVE"}) == (200, {"updated": 1}),
          "ecr image-status: finishes the restore")
    restored = ecr.describe_images(repositoryName="media", imageIds=[{"imageTag": "oci"}])["imageDetails"][0]
    check(restored["imageStatus"] == "ACTIVE" and "lastActivatedAt" in restored
          and len(ecr.batch_get_image(repositoryName="media", imageIds=[{"imageTag": "oci"}],
                                      acceptedMediaTypes=every_type)["images"]) == 1,
          "ecr: a restored image is ACTIVE (lastActivatedAt) and can be pulled", restored)
    check(image_status({"repository": "media", "digest": oci, "status": "GONE"})[0] == 400,
          "ecr image-status: an unknown status -> 400")
    check(image_status({"repository": "media", "digest": wrong, "status": "ARCHIVED"})[0] == 404,
          "ecr image-status: an unknown digest -> 404")
    ecr.update_image_storage_class(repositoryName="media", imageId={"imageTag": "docker"}, targetStorageClass="ARCHIVE")
    what = "ecr: pushing an archived image again (same tag) restores it at once"
    again = answered(what, ecr.put_image, repositoryName="media", imageManifest=docker_manifest, imageTag="docker")
    check(again["image"]["imageId"]["imageDigest"] == docker and ecr.describe_images(
        repositoryName="media", imageIds=[{"imageTag": "docker"}])["imageDetails"][0]["imageStatus"] == "ACTIVE",
          what, again)
    refused("UpdateImageStorageClass of an unknown image", "ImageNotFoundException", ecr.update_image_storage_class,
            repositoryName="media", imageId={"imageTag": "nope"}, targetStorageClass="ARCHIVE")
    refused("UpdateImageStorageClass to a class outside the model's enum", "InvalidParameterException",
            emu.client("ecr", "AKECRIMAGES", validate=False).update_image_storage_class,
            repositoryName="media", imageId={"imageTag": "oci"}, targetStorageClass="GLACIER")

    # registryId of another account: that account's registry, where its repositories are.
    other = _in_account(emu.client("ecr", "AKECROTHER"), ECR_OTHER_ACCOUNT)
    other.create_repository(repositoryName="shared-base")
    theirs = other.put_image(repositoryName="shared-base", imageManifest=docker_manifest,
                             imageTag="base")["image"]["imageId"]["imageDigest"]
    what = "ecr: DescribeImages with another account's registryId reads that account's repository"
    foreign = answered(what, ecr.describe_images, repositoryName="shared-base", registryId=ECR_OTHER_ACCOUNT)
    check([(d["registryId"], d["imageDigest"], d["imageTags"]) for d in foreign["imageDetails"]]
          == [(ECR_OTHER_ACCOUNT, theirs, ["base"])], what, foreign)
    what = "ecr: BatchGetImage with another account's registryId"
    pulled = answered(what, ecr.batch_get_image, repositoryName="shared-base", registryId=ECR_OTHER_ACCOUNT,
                      imageIds=[{"imageTag": "base"}])
    check([i["registryId"] for i in pulled["images"]] == [ECR_OTHER_ACCOUNT], what, pulled)
    refused("DescribeImages of a repository the other registry does not have", "RepositoryNotFoundException",
            ecr.describe_images, repositoryName="no-such-repo", registryId=ECR_OTHER_ACCOUNT,
            contains=f"registry with id '{ECR_OTHER_ACCOUNT}'")
    refused("DescribeImages of the other account's repository in one's own registry", "RepositoryNotFoundException",
            ecr.describe_images, repositoryName="shared-base")


def _upload_layer(client: Any, repository: str, data: bytes, parts: list[int] | None = None,
                  digests: list[str] | None = None, **registry: Any) -> dict[str, Any]:
    """A blob pushed the way ECR's API takes it: InitiateLayerUpload, UploadLayerPart per part
    (inclusive byte positions), CompleteLayerUpload with the sha256 of the bytes."""
    upload_id = client.initiate_layer_upload(repositoryName=repository, **registry)["uploadId"]
    first = 0
    for size in parts or [len(data)]:
        client.upload_layer_part(repositoryName=repository, uploadId=upload_id, partFirstByte=first,
                                 partLastByte=first + size - 1, layerPartBlob=data[first:first + size], **registry)
        first += size
    digests = digests if digests is not None else ["sha256:" + hashlib.sha256(data).hexdigest()]
    return client.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=digests,
                                        **registry)


def check_ecr_layers(emu: Emulator) -> None:
    """ecr_ext: layer blobs (upload API, BatchCheckLayerAvailability, GetDownloadUrlForLayer and its URL)."""
    ecr = emu.client("ecr", "AKECRLAYERS")
    ecr.create_repository(repositoryName="blobs")
    config = json.dumps({"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()

    # InitiateLayerUpload / UploadLayerPart: contiguous, inclusive byte positions.
    started = ecr.initiate_layer_upload(repositoryName="blobs")
    upload_id = started["uploadId"]
    check(len(upload_id) == 36 and started["partSize"] == 10 * 1024 * 1024,
          "ecr layers: InitiateLayerUpload answers an uploadId (UUID) and partSize 10 MiB", started)
    part = ecr.upload_layer_part(repositoryName="blobs", uploadId=upload_id, partFirstByte=0,
                                 partLastByte=9, layerPartBlob=config[:10])
    check(part["lastByteReceived"] == 9 and part["uploadId"] == upload_id,
          "ecr layers: UploadLayerPart answers lastByteReceived (the last byte's position)", part)
    details = refused("UploadLayerPart not starting right after the last byte received", "InvalidLayerPartException",
                      ecr.upload_layer_part, repositoryName="blobs", uploadId=upload_id, partFirstByte=11,
                      partLastByte=11 + len(config[10:]) - 1, layerPartBlob=config[10:])
    refused("UploadLayerPart repeating a part", "InvalidLayerPartException", ecr.upload_layer_part,
            repositoryName="blobs", uploadId=upload_id, partFirstByte=0, partLastByte=9, layerPartBlob=config[:10])
    refused("UploadLayerPart whose partLastByte does not fit the blob's length", "InvalidLayerPartException",
            ecr.upload_layer_part, repositoryName="blobs", uploadId=upload_id, partFirstByte=10,
            partLastByte=10 + len(config[10:]), layerPartBlob=config[10:])
    ecr.upload_layer_part(repositoryName="blobs", uploadId=upload_id, partFirstByte=10,
                          partLastByte=len(config) - 1, layerPartBlob=config[10:])
    check(True, "accepted: the next part, consecutive")
    refused("CompleteLayerUpload with a part other than the last smaller than 5 MiB", "LayerPartTooSmallException",
            ecr.complete_layer_upload, repositoryName="blobs", uploadId=upload_id, layerDigests=[config_digest])

    # CompleteLayerUpload: the sha256 of the bytes, checked against layerDigests.
    upload_id = ecr.initiate_layer_upload(repositoryName="blobs")["uploadId"]
    ecr.upload_layer_part(repositoryName="blobs", uploadId=upload_id, partFirstByte=0,
                          partLastByte=len(config) - 1, layerPartBlob=config)
    refused("CompleteLayerUpload with a sha256 digest that is not the bytes'", "InvalidLayerException",
            ecr.complete_layer_upload, repositoryName="blobs", uploadId=upload_id,
            layerDigests=["sha256:" + "0" * 64])
    what = "ecr layers: CompleteLayerUpload stores the blob under the sha256 of its bytes"
    done = answered(what, ecr.complete_layer_upload, repositoryName="blobs", uploadId=upload_id,
                    layerDigests=[config_digest])
    check(done["layerDigest"] == config_digest and done["registryId"] == IAM_ACCOUNT, what, done)
    refused("CompleteLayerUpload of an upload already completed", "UploadNotFoundException",
            ecr.complete_layer_upload, repositoryName="blobs", uploadId=upload_id, layerDigests=[config_digest])
    refused("CompleteLayerUpload of the same bytes again", "LayerAlreadyExistsException",
            _upload_layer, ecr, "blobs", config)
    empty = ecr.initiate_layer_upload(repositoryName="blobs")["uploadId"]
    refused("CompleteLayerUpload without any part", "EmptyUploadException", ecr.complete_layer_upload,
            repositoryName="blobs", uploadId=empty, layerDigests=[config_digest])
    refused("CompleteLayerUpload of an unknown uploadId", "UploadNotFoundException", ecr.complete_layer_upload,
            repositoryName="blobs", uploadId="00000000-0000-4000-8000-000000000000", layerDigests=[config_digest])
    other_algorithm = b"a layer completed with a digest of another algorithm"
    what = "ecr layers: CompleteLayerUpload does not check a digest that is not sha256"
    done = answered(what, _upload_layer, ecr, "blobs", other_algorithm, digests=["sha512:" + "ab" * 64])
    check(done["layerDigest"] == "sha256:" + hashlib.sha256(other_algorithm).hexdigest(), what, done)
    big = bytes(range(256)) * (5 * 1024 * 4) + b"tail"  # 5 MiB + 4 bytes
    what = "ecr layers: a 5 MiB part and a small last part make one layer"
    done = answered(what, _upload_layer, ecr, "blobs", big, parts=[5 * 1024 * 1024, 4])
    check(done["layerDigest"] == "sha256:" + hashlib.sha256(big).hexdigest(), what, done)

    # BatchCheckLayerAvailability.
    missing, malformed = "sha256:" + "9" * 64, "sha256:nothex"
    checked = ecr.batch_check_layer_availability(repositoryName="blobs",
                                                 layerDigests=[config_digest, missing, malformed])
    check([(l["layerDigest"], l["layerAvailability"], l["layerSize"]) for l in checked["layers"]]
          == [(config_digest, "AVAILABLE", len(config))]
          and [(f["layerDigest"], f["failureCode"]) for f in checked["failures"]]
          == [(missing, "MissingLayerDigest"), (malformed, "InvalidLayerDigest")],
          "ecr layers: BatchCheckLayerAvailability: AVAILABLE (size), MissingLayerDigest, InvalidLayerDigest", checked)

    # GetDownloadUrlForLayer: only for a layer an image refers to; the URL serves the bytes.
    refused("GetDownloadUrlForLayer of a layer no image refers to", "LayerInaccessibleException",
            ecr.get_download_url_for_layer, repositoryName="blobs", layerDigest=config_digest)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                           "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": config_digest}})
    ecr.put_image(repositoryName="blobs", imageManifest=manifest, imageTag="v1")
    check(ecr.batch_check_layer_availability(repositoryName="blobs", layerDigests=[config_digest])["layers"][0]
          ["mediaType"] == OCI_CONFIG, "ecr layers: BatchCheckLayerAvailability gives the manifest's mediaType")
    what = "ecr layers: GetDownloadUrlForLayer of an image's config blob"
    got = answered(what, ecr.get_download_url_for_layer, repositoryName="blobs", layerDigest=config_digest)
    url = got["downloadUrl"]
    check(got["layerDigest"] == config_digest and url.startswith(emu.url + "/_rollgate/ecr/blob/")
          and len(url) > len(emu.url + "/_rollgate/ecr/blob/") + 30, what, got)
    with urllib.request.urlopen(url) as response:  # no Authorization header at all
        status, body = response.status, response.read()
    check(status == 200 and body == config, "ecr layers: the downloadUrl serves exactly the bytes, without AWS auth",
          body[:80])
    again = ecr.get_download_url_for_layer(repositoryName="blobs", layerDigest=config_digest)["downloadUrl"]
    check(again != url and urllib.request.urlopen(again).read() == config,
          "ecr layers: each GetDownloadUrlForLayer hands out another URL (as pre-signed URLs)")
    head_status, head_headers, _ = emu.http("HEAD", url[len(emu.url):])
    check(head_status == 200 and head_headers.get("Content-Length") == str(len(config)),
          "ecr layers: HEAD of the downloadUrl gives the size", head_headers)
    check(emu.http("GET", "/_rollgate/ecr/blob/not-a-token")[0] == 403,
          "ecr layers: a URL never handed out -> 403 (as a bad pre-signed URL)")
    check(not any(c["operation"] is None for c in emu.calls("AKECRLAYERS")),
          "ecr layers: downloading the blob is not an AWS call (not in the call log)")
    refused("GetDownloadUrlForLayer of a digest the repository does not have", "LayersNotFoundException",
            ecr.get_download_url_for_layer, repositoryName="blobs", layerDigest=missing,
            contains=f"The layer with digest {missing} does not exist within the repository with name 'blobs'")
    ecr.create_repository(repositoryName="elsewhere")
    answered("accepted: PutImage of a manifest whose blobs the repository does not have (not enforced)",
             ecr.put_image, repositoryName="elsewhere", imageManifest=manifest, imageTag="v1")
    check(True, "accepted: PutImage of a manifest whose blobs the repository does not have (not enforced)")
    refused("GetDownloadUrlForLayer of another repository's layer (blobs are per repository)",
            "LayersNotFoundException", ecr.get_download_url_for_layer, repositoryName="elsewhere",
            layerDigest=config_digest)
    refused("GetDownloadUrlForLayer in a repository that does not exist", "RepositoryNotFoundException",
            ecr.get_download_url_for_layer, repositoryName="no-such-blobs", layerDigest=config_digest)

    # registryId of another account: that account's repository (a cross-account push and pull).
    other = _in_account(emu.client("ecr", "AKECROTHER"), ECR_OTHER_ACCOUNT)
    other.create_repository(repositoryName="shared-layers")
    theirs = {"registryId": ECR_OTHER_ACCOUNT}
    what = "ecr layers: the layer upload API with another account's registryId"
    done = answered(what, _upload_layer, ecr, "shared-layers", config, **theirs)
    check(done["registryId"] == ECR_OTHER_ACCOUNT, what, done)
    other.put_image(repositoryName="shared-layers", imageManifest=manifest, imageTag="base")
    check(ecr.batch_check_layer_availability(repositoryName="shared-layers", layerDigests=[config_digest],
                                             **theirs)["layers"][0]["layerAvailability"] == "AVAILABLE",
          "ecr layers: BatchCheckLayerAvailability with another account's registryId")
    what = "ecr layers: GetDownloadUrlForLayer with another account's registryId serves that account's blob"
    foreign = answered(what, ecr.get_download_url_for_layer, repositoryName="shared-layers",
                       layerDigest=config_digest, **theirs)
    check(urllib.request.urlopen(foreign["downloadUrl"]).read() == config, what, foreign)
    refused("GetDownloadUrlForLayer of the other account's repository in one's own registry",
            "RepositoryNotFoundException", ecr.get_download_url_for_layer, repositoryName="shared-layers",
            layerDigest=config_digest)

    # IAM: the repository's ARN (registryId's account) is the resource; the URL itself is not authorized.
    key, label = "AKECRLAYERSFN", "selfcheck-layers"
    own, foreign_arn = _arn("ecr", "repository/blobs"), f"arn:aws:ecr:{REGION}:{ECR_OTHER_ACCOUNT}:repository/shared-layers"
    status, reply = _iam_put(emu, {"access_key": key, "label": label, "account": IAM_ACCOUNT, "statements": [
        {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": [own, foreign_arn]}]})
    check(status == 200, "ecr layers: IAM principal registered", reply)
    fn = emu.client("ecr", key)
    granted = answered("iam: GetDownloadUrlForLayer granted on the repository's ARN", fn.get_download_url_for_layer,
                       repositoryName="blobs", registryId=IAM_ACCOUNT, layerDigest=config_digest)
    check(urllib.request.urlopen(granted["downloadUrl"]).read() == config,
          "iam: GetDownloadUrlForLayer granted on repository/blobs; its URL needs no authorization")
    answered("iam: GetDownloadUrlForLayer on another account's repository granted on its ARN",
             fn.get_download_url_for_layer, repositoryName="shared-layers", layerDigest=config_digest, **theirs)
    error = _denied(fn.get_download_url_for_layer, repositoryName="elsewhere", layerDigest=config_digest)
    check(error["Code"] == "AccessDeniedException" and "ecr:GetDownloadUrlForLayer on resource: "
          + _arn("ecr", "repository/elsewhere") in error["Message"],
          "iam: GetDownloadUrlForLayer on a repository not granted -> AccessDeniedException", error)
    error = _denied(fn.initiate_layer_upload, repositoryName="blobs")
    check(error["Code"] == "AccessDeniedException" and f"ecr:InitiateLayerUpload on resource: {own}" in error["Message"],
          "iam: InitiateLayerUpload is authorized on the repository's ARN", error)
    resources = [(d["action"], d["resource"], d["allowed"]) for d in _iam_decisions(emu, key)]
    check(resources == [("ecr:GetDownloadUrlForLayer", own, True), ("ecr:GetDownloadUrlForLayer", foreign_arn, True),
                        ("ecr:GetDownloadUrlForLayer", _arn("ecr", "repository/elsewhere"), False),
                        ("ecr:InitiateLayerUpload", own, False)],
          "iam: the layer calls' decisions name the repository ARN of registryId's account", resources)

    # The blob goes with its repository.
    ecr.delete_repository(repositoryName="blobs", force=True)
    check(emu.http("GET", url[len(emu.url):])[0] == 404,
          "ecr layers: the downloadUrl of a deleted repository's blob -> 404")


def check_ecs_short_arn(emu: Emulator) -> None:
    """ecs_ext: a service with the short, pre-2021 ARN (POST /_rollgate/ecs/short-arn)."""
    ecs = emu.client("ecs", "AKSHORTARN")
    cluster = ecs.create_cluster(clusterName="legacy-c")["cluster"]["clusterArn"]
    revision = ecs.register_task_definition(
        family="legacy", containerDefinitions=[{"name": "web", "image": "repo/web:1", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    long_arn = ecs.create_service(cluster="legacy-c", serviceName="old", taskDefinition=revision, desiredCount=1,
                                  tags=[{"key": "team", "value": "a"}])["service"]["serviceArn"]
    fresh = ecs.create_service(cluster="legacy-c", serviceName="fresh", taskDefinition=revision,
                               desiredCount=1)["service"]["serviceArn"]
    short = f"arn:aws:ecs:{REGION}:{IAM_ACCOUNT}:service/old"

    def make_short(request: Any) -> tuple[int, Any]:
        status, _, body = emu.http("POST", "/_rollgate/ecs/short-arn", json.dumps(request).encode(),
                                   {"Content-Type": "application/json"})
        return status, json.loads(body)

    status, answer = make_short({"cluster": "legacy-c", "service": "old"})
    check(status == 200 and answer["serviceArn"] == short and not answer.get("tags"),
          "ecs short-arn: the service now has the short ARN and no tags", answer)
    check(make_short({"cluster": "legacy-c", "service": "nope"})[0] == 404, "ecs short-arn: unknown service -> 404")
    check(make_short({"cluster": "legacy-c"})[0] == 400, "ecs short-arn: no service -> 400")
    listed = ecs.list_services(cluster="legacy-c")["serviceArns"]
    check(sorted(listed) == sorted([short, fresh]), "ecs: ListServices returns the short ARN", listed)
    for how, name in (("its short ARN", short), ("its name", "old")):
        described = ecs.describe_services(cluster="legacy-c", services=[name], include=["TAGS"])
        service = described["services"][0] if described["services"] else {}
        check(service.get("serviceArn") == short and service.get("clusterArn") == cluster
              and not service.get("tags") and not described["failures"],
              f"ecs: DescribeServices by {how}: short serviceArn, the clusterArn, no tags", described)
        updated = ecs.update_service(cluster="legacy-c", service=name, desiredCount=2)["service"]
        check(updated["serviceArn"] == short and updated["desiredCount"] == 2, f"accepted: UpdateService by {how}", updated)
    for what, call, params in (("TagResource", ecs.tag_resource, {"tags": [{"key": "k", "value": "v"}]}),
                               ("UntagResource", ecs.untag_resource, {"tagKeys": ["team"]}),
                               ("ListTagsForResource", ecs.list_tags_for_resource, {})):
        refused(f"{what} of a short service ARN", "InvalidParameterException", call, resourceArn=short,
                contains="Long arn format must be used for tagging operations", **params)
    refused("TagResource of a short service ARN that names no service", "InvalidParameterException", ecs.tag_resource,
            resourceArn=short.replace("/old", "/ghost"), tags=[{"key": "k", "value": "v"}],
            contains="Long arn format must be used for tagging operations")
    ecs.create_service(cluster="legacy-c", serviceName="gone", taskDefinition=revision, desiredCount=0)
    make_short({"cluster": "legacy-c", "service": "gone"})
    deleted = answered("accepted: DeleteService by its short ARN", ecs.delete_service, cluster="legacy-c",
                       service=short.replace("/old", "/gone"))["service"]
    check(deleted["status"] == "INACTIVE" and deleted["serviceArn"] == short.replace("/old", "/gone"),
          "accepted: DeleteService by its short ARN", deleted)
    status, rolled = emu.rollout(cluster="legacy-c", service=short, state="COMPLETED")
    check(status == 200 and rolled["serviceArn"] == short, "ecs rollout: finds a service by its short ARN", rolled)

    # IAM authorizes a short-format service on its short ARN: service/<cluster>/* does not grant it.
    key = "AKSHORTARNFN"
    _iam_put(emu, {"access_key": key, "label": "short-arn-fn", "account": IAM_ACCOUNT, "statements": [
        {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": _arn("ecs", "service/legacy-c/*")}]})
    fn = emu.client("ecs", key)
    fn.update_service(cluster="legacy-c", service="fresh", desiredCount=1)
    error = _denied(fn.update_service, cluster="legacy-c", service="old", desiredCount=1)
    decision = _iam_decisions(emu, key)[-1]
    check(error["Code"] == "AccessDeniedException" and decision["resource"] == short,
          "iam: UpdateService of a short-format service by name is checked against its short ARN", decision)

    # TagResource of the long ARN migrates the service (once the account settings allow it).
    ecs.put_account_setting(name="taskLongArnFormat", value="disabled")
    refused("TagResource of the long ARN without taskLongArnFormat", "InvalidParameterException", ecs.tag_resource,
            resourceArn=long_arn, tags=[{"key": "k", "value": "v"}],
            contains="does not have serviceLongArnFormat or taskLongArnFormat account settings enabled")
    ecs.put_account_setting(name="taskLongArnFormat", value="enabled")
    check(short in ecs.list_services(cluster="legacy-c")["serviceArns"], "  ... and the service keeps its short ARN")
    ecs.tag_resource(resourceArn=long_arn, tags=[{"key": "migrated", "value": "yes"}])
    listed = ecs.list_services(cluster="legacy-c")["serviceArns"]
    check(long_arn in listed and short not in listed
          and ecs.list_tags_for_resource(resourceArn=long_arn)["tags"] == [{"key": "migrated", "value": "yes"}],
          "accepted: TagResource of the long ARN migrates the service to it and tags it", listed)


def check_call_log(emu: Emulator) -> None:
    calls = emu.calls(ACCESS_KEY)
    seen = {(c["service"], c["operation"]) for c in calls}
    for expected in [("ec2", "CreateVpc"), ("iam", "GetPolicy"), ("ecs", "CreateService"),
                     ("ecs", "UpdateService"), ("ecs", "DescribeServices")]:
        check(expected in seen, f"call log has {expected}")
    check(all(c["access_key"] == ACCESS_KEY for c in calls), "call log filters by access key")
    check(sum(c["operation"] == "UpdateService" for c in calls) == 5, "call log counts UpdateService")
    emu.http("POST", f"/_rollgate/calls/reset?access_key={ACCESS_KEY}")
    check(emu.calls(ACCESS_KEY) == [], "call log reset by access key")


def check_cloudwatch_cbor(emu: Emulator) -> None:
    status, headers, body = emu.cbor("PutMetricAlarm", {
        "AlarmName": "rollgate-web-5xx",
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 5.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/123"}],
    })
    check(status == 200 and body == b"" and headers.get("smithy-protocol") == "rpc-v2-cbor",
          "cbor PutMetricAlarm (no output: empty body)", (status, headers, body))
    emu.cbor("PutMetricAlarm", {"AlarmName": "other-alarm", "Namespace": "X", "MetricName": "Y",
                                "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1,
                                "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"})
    status, _, body = emu.cbor("SetAlarmState", {"AlarmName": "rollgate-web-5xx", "StateValue": "ALARM",
                                                 "StateReason": "selfcheck"})
    check(status == 200, "cbor SetAlarmState", body)

    status, headers, body = emu.cbor("DescribeAlarms", {"AlarmNamePrefix": "rollgate-"})
    alarms = cbor2.loads(body)["MetricAlarms"]
    check(status == 200 and headers.get("content-type") == "application/cbor"
          and [a["AlarmName"] for a in alarms] == ["rollgate-web-5xx"]
          and alarms[0]["StateValue"] == "ALARM" and alarms[0]["Threshold"] == 5.0,
          "cbor DescribeAlarms AlarmNamePrefix", alarms)
    # Timestamps must be tag 1 + float64 (0xc1 0xfb), the form aws-smithy-cbor reads.
    check(b"\xc1\xfb" in body and hasattr(alarms[0]["StateUpdatedTimestamp"], "tzinfo"),
          "cbor timestamps are tag 1 with float epoch seconds")
    status, _, body = emu.cbor("DescribeAlarms", {"AlarmNames": ["other-alarm", "missing"]})
    check([a["AlarmName"] for a in cbor2.loads(body)["MetricAlarms"]] == ["other-alarm"],
          "cbor DescribeAlarms AlarmNames")
    status, _, body = emu.cbor("DescribeAlarms", None)
    check(status == 200 and len(cbor2.loads(body)["MetricAlarms"]) == 2,
          "cbor DescribeAlarms with empty body")

    # Alarm history (cloudwatch_ext.py): an ALARM that has recovered is still on record.
    emu.cbor("SetAlarmState", {"AlarmName": "rollgate-web-5xx", "StateValue": "OK", "StateReason": "recovered"})
    status, _, body = emu.cbor("DescribeAlarmHistory", {"AlarmName": "rollgate-web-5xx",
                                                        "HistoryItemType": "StateUpdate"})
    items = cbor2.loads(body)["AlarmHistoryItems"]
    summaries = [i["HistorySummary"] for i in items]
    check(status == 200 and summaries == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"],
          "cbor DescribeAlarmHistory: state updates, newest first", items)
    check(json.loads(items[1]["HistoryData"])["newState"]["stateValue"] == "ALARM"
          and hasattr(items[1]["Timestamp"], "tzinfo"), "cbor DescribeAlarmHistory: HistoryData and Timestamp", items)
    status, _, body = emu.cbor("DescribeAlarmHistory", {"MaxRecords": 1, "ScanBy": "TimestampAscending"})
    page = cbor2.loads(body)
    check(page["AlarmHistoryItems"][0]["HistorySummary"] == "Alarm updated from OK to ALARM" and "NextToken" in page,
          "cbor DescribeAlarmHistory: pages, oldest first", page)
    status, _, body = emu.cbor("DescribeAlarmHistory", {"StartDate": datetime.now(timezone.utc) + timedelta(hours=1)})
    check(cbor2.loads(body)["AlarmHistoryItems"] == [], "cbor DescribeAlarmHistory: StartDate", body)

    status, headers, body = emu.cbor("SetAlarmState", {"AlarmName": "missing", "StateValue": "OK",
                                                       "StateReason": "x"})
    error = cbor2.loads(body)
    check(status == 404 and error["__type"] == "ResourceNotFound" and error["message"]
          and headers.get("x-amzn-query-error") == "ResourceNotFound;Sender",
          "cbor error: status kept, __type + message", (status, headers, error))
    status, _, body = emu.cbor("NoSuchOperation", {})
    check(status == 404 and cbor2.loads(body)["__type"] == "UnknownOperationException",
          "cbor unknown operation")

    status, _, _ = emu.cbor("DeleteAlarms", {"AlarmNames": ["rollgate-web-5xx", "other-alarm"]})
    status, _, body = emu.cbor("DescribeAlarms", {})
    check(status == 200 and cbor2.loads(body).get("MetricAlarms", []) == [], "cbor DeleteAlarms")
    calls = emu.calls(CBOR_ACCESS_KEY)
    ops = [c["operation"] for c in calls]
    check(ops.count("DescribeAlarms") == 4 and all(c["service"] == "monitoring" for c in calls),
          "call log records cbor calls (service monitoring)", ops)

    # botocore itself speaks rpc-v2-cbor to CloudWatch and CodeBuild.
    cloudwatch = emu.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="boto", Namespace="N", MetricName="M", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold")
    alarm = cloudwatch.describe_alarms(AlarmNames=["boto"])["MetricAlarms"][0]
    check(alarm["AlarmName"] == "boto" and alarm["Threshold"] == 1.0
          and alarm["AlarmConfigurationUpdatedTimestamp"].year >= 2024,
          "boto3 CloudWatch (rpc-v2-cbor) round trip")
    try:
        cloudwatch.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
        check(False, "boto3 CloudWatch error")
    except cloudwatch.exceptions.ResourceNotFound:
        check(True, "boto3 CloudWatch modeled error (ResourceNotFound)")
    codebuild = emu.client("codebuild")
    codebuild.create_project(
        name="web-build", source={"type": "S3", "location": "artifacts/web.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole="arn:aws:iam::123456789012:role/codebuild")
    projects = codebuild.batch_get_projects(names=["web-build"])["projects"]
    check(projects[0]["name"] == "web-build", "boto3 CodeBuild (rpc-v2-cbor via awsJson) round trip")


def check_boto_shell(emu: Emulator) -> None:
    shell = subprocess.Popen([PYTHON, os.path.join(HERE, "boto_shell.py"), "--endpoint", emu.url],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(request: dict[str, Any]) -> dict[str, Any]:
        shell.stdin.write(json.dumps(request) + "\n")
        shell.stdin.flush()
        return json.loads(shell.stdout.readline())

    answer = ask({"service": "ecs", "operation": "describe_services",
                  "params": {"cluster": "prod", "services": ["web"]}, "access_key": "AKSHELL"})
    service = answer["ok"]["services"][0]
    check(service["serviceName"] == "web" and isinstance(service["createdAt"], str)
          and "ResponseMetadata" not in answer["ok"], "boto_shell describe_services", answer)
    answer = ask({"service": "ecs", "operation": "describe_clusters", "params": {}, "region": "eu-west-1"})
    check(answer["ok"]["clusters"] == [] or "failures" in answer["ok"],
          "boto_shell region parameter", answer)
    answer = ask({"service": "ecs", "operation": "update_service",
                  "params": {"cluster": "prod", "service": "nope"}})
    check(answer == {"error": {"code": "ServiceNotFoundException", "message": answer["error"]["message"]}},
          "boto_shell ClientError", answer)
    answer = ask({"service": "ecs", "operation": "no_such_thing"})
    check("error" in answer, "boto_shell unknown operation", answer)
    answer = ask({"service": "cloudwatch", "operation": "describe_alarms", "params": {}})
    check("MetricAlarms" in answer["ok"], "boto_shell CloudWatch", answer)
    shell.stdin.close()
    check(shell.wait() == 0, "boto_shell exits 0 at EOF")
    check([c["operation"] for c in emu.calls("AKSHELL")] == ["DescribeServices"], "boto_shell access_key")


# --- IAM enforcement (iam_enforce.py) ---------------------------------------------------

IAM_ACCOUNT = "123456789012"
IAM_ADMIN_KEY = "AKIAMADMIN"       # never registered: unrestricted
IAM_KEY = "AKIAMSELFCHECK"         # registered as "selfcheck-fn"
IAM_LABEL = "selfcheck-fn"


def _arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{IAM_ACCOUNT}:{resource}"


def _iam_put(emu: Emulator, document: Any) -> tuple[int, Any]:
    status, _, body = emu.http("PUT", "/_rollgate/iam/principals", json.dumps(document).encode(),
                               {"Content-Type": "application/json"})
    return status, json.loads(body)


def _iam_decisions(emu: Emulator, access_key: str) -> list[dict[str, Any]]:
    return json.loads(emu.http("GET", f"/_rollgate/iam/decisions?access_key={access_key}")[2])


def _denied(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The error of a call expected to fail: Code, Message and the HTTP status."""
    try:
        call(*args, **kwargs)
    except ClientError as error:
        return {**error.response["Error"], "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
                "headers": error.response["ResponseMetadata"].get("HTTPHeaders", {})}
    return {"Code": None, "status": None, "headers": {}}


SELFCHECK_STATEMENTS = [
    {"Effect": "Allow", "Action": "ecs:ListServices", "Resource": "*",
     "Condition": {"ArnEquals": {"ecs:cluster": [_arn("ecs", "cluster/c1")]}}},
    {"Effect": "Allow", "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
     "Resource": _arn("ecs", "service/c1/*")},
    {"Effect": "Deny", "Action": "ecs:Update*", "Resource": _arn("ecs", "service/c1/protected")},
    {"Effect": "Allow", "Action": ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"], "Resource": "*"},
    {"Effect": "Allow", "Action": "ecs:TagResource", "Resource": _arn("ecs", "task-definition/*"),
     "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}},
    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{IAM_ACCOUNT}:role/task",
     "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
    {"Effect": "Allow", "Action": "events:PutEvents", "Resource": _arn("events", "event-bus/default"),
     "Condition": {"StringEquals": {"events:source": "rollgate"}}},
    {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": _arn("cloudwatch", "alarm:*")},
]


def check_iam(emu: Emulator, log_dir: str) -> None:
    admin = {name: emu.client(name, IAM_ADMIN_KEY) for name in ("ecs", "iam", "events", "ec2")}
    fn = {name: emu.client(name, IAM_KEY)
          for name in ("ecs", "iam", "events", "ec2", "cloudwatch", "codebuild", "sts")}

    # The world, built with a key that was never registered (unrestricted, as before).
    for cluster in ("c1", "c2"):
        admin["ecs"].create_cluster(clusterName=cluster)
    base = admin["ecs"].register_task_definition(
        family="iamweb", containerDefinitions=[{"name": "web", "image": "repo/web:1", "memory": 128}])
    base_arn = base["taskDefinition"]["taskDefinitionArn"]
    for cluster, service in (("c1", "web"), ("c1", "protected"), ("c2", "x")):
        admin["ecs"].create_service(cluster=cluster, serviceName=service, taskDefinition=base_arn, desiredCount=1)
    check(True, "iam: a key never registered is unrestricted")

    for bad in ({"access_key": "AK", "label": "x", "statements": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]},
                {"access_key": "AK", "label": "x", "statements": [{"Effect": "Allow", "Action": "*"}]},
                {"access_key": "AK", "label": "x", "account": "12", "statements": []},
                {"label": "x", "statements": []}, ["not", "an", "object"]):
        check(_iam_put(emu, bad)[0] == 400, f"iam: malformed principal -> 400 ({json.dumps(bad)[:60]})")
    status, reply = _iam_put(emu, {"access_key": IAM_KEY, "label": IAM_LABEL, "account": IAM_ACCOUNT,
                                   "statements": SELFCHECK_STATEMENTS})
    check(status == 200 and reply == {"ok": True}, "iam: principal registered", reply)

    # awsJson (ECS): an ungranted action is AccessDeniedException with HTTP 400, AWS's message.
    error = _denied(fn["ecs"].list_clusters)
    check(error["Code"] == "AccessDeniedException" and error["status"] == 400
          and error["Message"] == (f"User: arn:aws:sts::{IAM_ACCOUNT}:assumed-role/{IAM_LABEL}/test is not "
                                   "authorized to perform: ecs:ListClusters on resource: * because no "
                                   "identity-based policy allows the ecs:ListClusters action"),
          "iam: ECS ungranted action -> AccessDeniedException 400", error)

    # Resource scoping: services of c1 only; every listed service must be allowed.
    web = fn["ecs"].describe_services(cluster="c1", services=["web"])["services"][0]
    check(web["serviceName"] == "web", "iam: granted DescribeServices on service/c1/* works")
    updated = fn["ecs"].update_service(cluster="c1", service="web", desiredCount=2)["service"]
    check(updated["desiredCount"] == 2, "iam: granted UpdateService on service/c1/web works")
    error = _denied(fn["ecs"].update_service, cluster="c2", service="x", desiredCount=2)
    check(error["Code"] == "AccessDeniedException" and _arn("ecs", "service/c2/x") in error["Message"],
          "iam: UpdateService on service/c2/x denied (resource scoping)", error)
    check(admin["ecs"].describe_services(cluster="c2", services=["x"])["services"][0]["desiredCount"] == 1,
          "iam: the denied update never reached moto")
    error = _denied(fn["ecs"].describe_services, cluster="c1", services=["web", _arn("ecs", "service/c2/x")])
    check(error["Code"] == "AccessDeniedException", "iam: DescribeServices needs every listed service", error)
    error = _denied(fn["ecs"].update_service, cluster="c1", service="protected", desiredCount=3)
    check(error["Code"] == "AccessDeniedException" and "with an explicit deny" in error["Message"],
          "iam: an explicit Deny wins over the Allow on service/c1/*", error)

    # Conditions: ecs:cluster on ListServices (ArnEquals against the cluster's ARN).
    check(len(fn["ecs"].list_services(cluster="c1")["serviceArns"]) == 2, "iam: ListServices on c1 (condition met)")
    check(len(fn["ecs"].list_services(cluster=_arn("ecs", "cluster/c1"))["serviceArns"]) == 2,
          "iam: ListServices by cluster ARN")
    check(_denied(fn["ecs"].list_services, cluster="c2")["Code"] == "AccessDeniedException",
          "iam: ListServices on c2 denied (ecs:cluster condition)")

    # Tag on create: RegisterTaskDefinition with tags needs ecs:TagResource with
    # ecs:CreateAction=RegisterTaskDefinition, and its roles need iam:PassRole.
    earlier = len(_iam_decisions(emu, IAM_KEY))
    emu.http("POST", f"/_rollgate/iam/decisions/reset?access_key={IAM_KEY}")
    registered = fn["ecs"].register_task_definition(
        family="iamweb", taskRoleArn=f"arn:aws:iam::{IAM_ACCOUNT}:role/task",
        containerDefinitions=[{"name": "web", "image": "repo/web:2", "memory": 128}],
        tags=[{"key": "rollgate:state", "value": "deploying"}])["taskDefinition"]["taskDefinitionArn"]
    decisions = _iam_decisions(emu, IAM_KEY)
    check([(d["action"], d["resource"], d["allowed"], d["implicit"]) for d in decisions] == [
        ("ecs:RegisterTaskDefinition", _arn("ecs", "task-definition/iamweb:2"), True, False),
        ("ecs:TagResource", _arn("ecs", "task-definition/iamweb:2"), True, True),
        ("iam:PassRole", f"arn:aws:iam::{IAM_ACCOUNT}:role/task", True, True),
    ] and registered.endswith(":task-definition/iamweb:2"),
          "iam: RegisterTaskDefinition + implicit TagResource (CreateAction) + PassRole, decisions", decisions)
    error = _denied(fn["ecs"].tag_resource, resourceArn=registered, tags=[{"key": "rollgate:state", "value": "x"}])
    check(error["Code"] == "AccessDeniedException" and "ecs:TagResource" in error["Message"],
          "iam: TagResource on an existing revision denied (no ecs:CreateAction)", error)
    error = _denied(fn["ecs"].register_task_definition, family="iamweb",
                    taskRoleArn=f"arn:aws:iam::{IAM_ACCOUNT}:role/other",
                    containerDefinitions=[{"name": "web", "image": "repo/web:3", "memory": 128}])
    check(error["Code"] == "AccessDeniedException" and "iam:PassRole" in error["Message"]
          and "role/other" in error["Message"], "iam: PassRole of an ungranted role denied", error)
    revisions = admin["ecs"].list_task_definitions(familyPrefix="iamweb")["taskDefinitionArns"]
    check(len(revisions) == 2, "iam: the denied registration wrote nothing", revisions)

    # Query protocol (IAM): 403 ErrorResponse, Code AccessDenied.
    error = _denied(fn["iam"].get_role, RoleName="task")
    check(error["Code"] == "AccessDenied" and error["status"] == 403 and error.get("Type") == "Sender"
          and "iam:GetRole" in error["Message"] and f"arn:aws:iam::{IAM_ACCOUNT}:role/task" in error["Message"],
          "iam: IAM (query) ungranted -> 403 AccessDenied", error)
    error = _denied(fn["ec2"].describe_vpcs)
    check(error["Code"] == "UnauthorizedOperation" and error["status"] == 403,
          "iam: EC2 ungranted -> 403 UnauthorizedOperation", error)
    identity = fn["sts"].get_caller_identity()
    check("Account" in identity, "iam: sts:GetCallerIdentity needs no permission")

    # rpc-v2-cbor (boto3 speaks CBOR to CloudWatch and CodeBuild).
    alarms = fn["cloudwatch"].describe_alarms(StateValue="ALARM")
    check("MetricAlarms" in alarms, "iam: CloudWatch (CBOR) granted DescribeAlarms works")
    error = _denied(fn["cloudwatch"].describe_alarm_history)
    check(error["Code"] == "AccessDenied" and error["status"] == 403
          and error["headers"].get("x-amzn-query-error") == "AccessDenied;Sender"
          and "cloudwatch:DescribeAlarmHistory" in error["Message"],
          "iam: CloudWatch (CBOR) ungranted -> 403 AccessDenied + x-amzn-query-error", error)
    error = _denied(fn["codebuild"].batch_get_projects, names=["p1"])
    check(error["Code"] == "AccessDeniedException" and error["status"] == 400
          and _arn("codebuild", "project/p1") in error["Message"],
          "iam: CodeBuild (CBOR) ungranted -> AccessDeniedException 400", error)

    # events:source, entry by entry.
    ok = fn["events"].put_events(Entries=[{"Source": "rollgate", "DetailType": "t", "Detail": "{}"}])
    check(ok["FailedEntryCount"] == 0 and "EventId" in ok["Entries"][0], "iam: PutEvents with source rollgate", ok)
    mixed = fn["events"].put_events(Entries=[{"Source": "other", "DetailType": "t", "Detail": "{}"},
                                             {"Source": "rollgate", "DetailType": "t", "Detail": "{}"}])
    check(mixed["FailedEntryCount"] == 1
          and mixed["Entries"][0].get("ErrorCode") == "NotAuthorizedForSourceException"
          and "EventId" in mixed["Entries"][1],
          "iam: PutEvents entry with another source fails alone (NotAuthorizedForSourceException)", mixed)
    error = _denied(fn["events"].put_events,
                    Entries=[{"Source": "rollgate", "DetailType": "t", "Detail": "{}", "EventBusName": "other"}])
    check(error["Code"] == "AccessDeniedException" and _arn("events", "event-bus/other") in error["Message"],
          "iam: PutEvents to an ungranted bus -> AccessDeniedException", error)

    # Decisions: endpoint, filter, reset, and the log directory.
    decisions = _iam_decisions(emu, IAM_KEY)
    check(decisions and set(decisions[0]) == {"access_key", "label", "service", "operation", "action",
                                              "resource", "allowed", "implicit"}
          and all(d["access_key"] == IAM_KEY and d["label"] == IAM_LABEL for d in decisions)
          and any(d["action"] == "events:PutEvents" and not d["allowed"] for d in decisions),
          "iam: decisions endpoint", decisions[:3])
    check(_iam_decisions(emu, IAM_ADMIN_KEY) == [], "iam: no decisions for unregistered keys")
    with open(os.path.join(log_dir, f"{IAM_LABEL}.jsonl")) as log:
        logged = [json.loads(line) for line in log]
    check(len(logged) == earlier + len(decisions) and logged[earlier:] == decisions,
          "iam: ROLLGATE_IAM_DECISION_LOG has every decision (also reset ones) as a JSON line",
          (len(logged), earlier, len(decisions)))
    status, _, body = emu.http("POST", f"/_rollgate/iam/decisions/reset?access_key={IAM_KEY}")
    check(status == 200 and json.loads(body)["removed"] == len(decisions) and _iam_decisions(emu, IAM_KEY) == [],
          "iam: decisions reset by access key")

    status, _, _ = emu.http("DELETE", f"/_rollgate/iam/principals?access_key={IAM_KEY}")
    check(status == 200 and len(fn["ecs"].list_clusters()["clusterArns"]) >= 2,
          "iam: a removed principal is unrestricted again")


IAM_TAGS_KEY = "AKIAMTAGS"         # registered as "selfcheck-tags"
MANAGED = {"StringEquals": {"aws:ResourceTag/rollgate:managed": "true"}}
TAG_STATEMENTS = [
    # aws:ResourceTag: the tags of the existing resource, per service.
    {"Effect": "Allow", "Resource": "*", "Condition": MANAGED,
     "Action": ["ecs:DeleteService", "ecs:DeleteCluster", "ecs:DeregisterTaskDefinition", "iam:DeleteRole",
                "ecr:DeleteRepository", "logs:DeleteLogGroup", "codebuild:DeleteProject", "iam:CreateRole"]},
    {"Effect": "Allow", "Action": "ecs:TagResource", "Resource": _arn("ecs", "task-definition/*"),
     "Condition": MANAGED},
    # Service aliases; the key name (tag key included) is case-insensitive, the value is not.
    {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "*",
     "Condition": {"StringEquals": {"ecs:ResourceTag/Rollgate:Managed": "true"}}},
    {"Effect": "Deny", "Action": "ecs:UpdateService", "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/rollgate:protected": "true"}}},
    {"Effect": "Allow", "Action": ["iam:GetRole", "iam:PassRole"], "Resource": "*",
     "Condition": {"StringEquals": {"iam:ResourceTag/rollgate:managed": "true"}}},
    {"Effect": "Allow", "Action": "ecr:PutImageTagMutability", "Resource": "*",
     "Condition": {"StringEquals": {"ecr:ResourceTag/rollgate:managed": "true"}}},
    # A missing key: Null, ...IfExists.
    {"Effect": "Allow", "Action": "ecr:PutImageScanningConfiguration", "Resource": "*",
     "Condition": {"Null": {"aws:ResourceTag/rollgate:managed": "true"}}},
    {"Effect": "Allow", "Action": "logs:PutRetentionPolicy", "Resource": "*",
     "Condition": {"StringEqualsIfExists": {"aws:ResourceTag/rollgate:managed": "true"}}},
    # Tag keys that differ only by case: IAM does not say which it matches (deny-safe).
    {"Effect": "Allow", "Action": "ecs:DescribeServices", "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/env": "a"}}},
    {"Effect": "Allow", "Action": "ecs:ListTagsForResource", "Resource": "*"},
    {"Effect": "Deny", "Action": "ecs:ListTagsForResource", "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/env": "b"}}},
    # aws:RequestTag: the tags the request carries.
    {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:TagRole"], "Resource": "*",
     "Condition": {"StringEquals": {"aws:RequestTag/rollgate:managed": "true"}}},
    {"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": "*"},
]


def check_iam_resource_tags(emu: Emulator) -> None:
    """aws:ResourceTag/<key> and ecs:/ecr:/iam:ResourceTag: the tags of the existing resource."""
    names = ("ecs", "iam", "ecr", "logs", "codebuild")
    admin = {n: emu.client(n, IAM_ADMIN_KEY) for n in names}
    fn = {n: emu.client(n, IAM_TAGS_KEY) for n in names}
    status, _ = _iam_put(emu, {"access_key": IAM_TAGS_KEY, "label": "selfcheck-tags", "account": IAM_ACCOUNT,
                               "statements": TAG_STATEMENTS})
    check(status == 200, "iam tags: principal registered")

    def denied(what: str, call: Any, *args: Any, contains: str = "", **kwargs: Any) -> None:
        error = _denied(call, *args, **kwargs)
        check(error["Code"] in ("AccessDeniedException", "AccessDenied") and contains in error["Message"],
              f"iam tags: {what} -> denied", error)

    # ECS services and clusters.
    managed = [{"key": "rollgate:managed", "value": "true"}]
    admin["ecs"].create_cluster(clusterName="tagc")
    admin["ecs"].create_cluster(clusterName="tagc-managed", tags=managed)
    admin["ecs"].create_cluster(clusterName="tagc-plain")
    tagged_revision = admin["ecs"].register_task_definition(
        family="tagweb", containerDefinitions=[{"name": "web", "image": "repo/web:1", "memory": 128}],
        tags=managed)["taskDefinition"]["taskDefinitionArn"]
    plain_revision = admin["ecs"].register_task_definition(
        family="tagweb", containerDefinitions=[{"name": "web", "image": "repo/web:2", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    services = {"managed": managed, "updatable": managed, "plain": [],
                "cased": [{"key": "rollgate:managed", "value": "True"}],
                "protected": managed + [{"key": "rollgate:protected", "value": "true"}],
                "env-a": [{"key": "Env", "value": "a"}],
                "env-both": [{"key": "Env", "value": "a"}, {"key": "env", "value": "b"}]}
    for name, tags in services.items():
        admin["ecs"].create_service(cluster="tagc", serviceName=name, taskDefinition=tagged_revision,
                                    desiredCount=0, **({"tags": tags} if tags else {}))

    def service_status(name: str) -> str:
        return admin["ecs"].describe_services(cluster="tagc", services=[name])["services"][0]["status"]

    fn["ecs"].delete_service(cluster="tagc", service="managed", force=True)
    check(service_status("managed") == "INACTIVE",
          "iam tags: ecs:DeleteService on a service tagged rollgate:managed=true (aws:ResourceTag)")
    denied("ecs:DeleteService on an untagged service", fn["ecs"].delete_service, cluster="tagc",
           service="plain", force=True, contains=_arn("ecs", "service/tagc/plain"))
    denied("ecs:DeleteService on rollgate:managed=True (values are case-sensitive)", fn["ecs"].delete_service,
           cluster="tagc", service="cased", force=True)
    check(service_status("plain") == "ACTIVE" and service_status("cased") == "ACTIVE",
          "iam tags: the refused services still exist")
    fn["ecs"].update_service(cluster="tagc", service="updatable", desiredCount=0)
    check(True, "iam tags: ecs:ResourceTag/Rollgate:Managed (alias, key name in another case) allows UpdateService")
    denied("ecs:UpdateService on an untagged service (ecs:ResourceTag)", fn["ecs"].update_service,
           cluster="tagc", service="plain", desiredCount=0)
    denied("ecs:UpdateService under a Deny on aws:ResourceTag/rollgate:protected", fn["ecs"].update_service,
           cluster="tagc", service="protected", desiredCount=0, contains="with an explicit deny")
    check(len(fn["ecs"].describe_services(cluster="tagc", services=["env-a"])["services"]) == 1,
          "iam tags: DescribeServices on a service tagged Env=a (aws:ResourceTag/env)")
    denied("DescribeServices on a service tagged both Env=a and env=b (ambiguous key: no Allow)",
           fn["ecs"].describe_services, cluster="tagc", services=["env-both"])
    fn["ecs"].list_tags_for_resource(resourceArn=_arn("ecs", "service/tagc/env-a"))
    check(True, "iam tags: a Deny on aws:ResourceTag/env = b does not apply to Env=a")
    denied("a Deny on aws:ResourceTag/env = b, service tagged Env=a and env=b (ambiguous key: the Deny applies)",
           fn["ecs"].list_tags_for_resource, resourceArn=_arn("ecs", "service/tagc/env-both"),
           contains="with an explicit deny")
    fn["ecs"].delete_cluster(cluster="tagc-managed")
    check(True, "iam tags: ecs:DeleteCluster on a tagged cluster")
    denied("ecs:DeleteCluster on an untagged cluster", fn["ecs"].delete_cluster, cluster="tagc-plain")

    # Task definitions: TagResource on a revision ARN sees its tags; DeregisterTaskDefinition
    # has no resource type (Resource "*"), so no resource tags.
    fn["ecs"].tag_resource(resourceArn=tagged_revision, tags=[{"key": "rollgate:state", "value": "failed"}])
    check(True, "iam tags: ecs:TagResource on a tagged task-definition revision")
    denied("ecs:TagResource on an untagged revision", fn["ecs"].tag_resource, resourceArn=plain_revision,
           tags=[{"key": "rollgate:state", "value": "failed"}])
    denied("ecs:DeregisterTaskDefinition of a tagged revision (Resource *: no resource tags)",
           fn["ecs"].deregister_task_definition, taskDefinition=tagged_revision, contains="on resource: *")

    # IAM roles: iam:ResourceTag, implicit iam:PassRole, DeleteRole, and CreateRole (request tags).
    for role, tags in (("tag-managed", [{"Key": "rollgate:managed", "Value": "true"}]), ("tag-plain", [])):
        admin["iam"].create_role(RoleName=role, AssumeRolePolicyDocument="{}", Tags=tags)
    role_arn = f"arn:aws:iam::{IAM_ACCOUNT}:role/"
    check(fn["iam"].get_role(RoleName="tag-managed")["Role"]["RoleName"] == "tag-managed",
          "iam tags: iam:GetRole on a tagged role (iam:ResourceTag)")
    denied("iam:GetRole on an untagged role", fn["iam"].get_role, RoleName="tag-plain",
           contains=role_arn + "tag-plain")
    fn["ecs"].register_task_definition(
        family="tagpass", taskRoleArn=role_arn + "tag-managed",
        containerDefinitions=[{"name": "web", "image": "repo/web:1", "memory": 128}])
    check(True, "iam tags: implicit iam:PassRole of a tagged role")
    denied("implicit iam:PassRole of an untagged role", fn["ecs"].register_task_definition, family="tagpass",
           taskRoleArn=role_arn + "tag-plain",
           containerDefinitions=[{"name": "web", "image": "repo/web:1", "memory": 128}], contains="iam:PassRole")
    denied("iam:CreateRole of an existing tagged role's name (a new resource has no resource tags)",
           fn["iam"].create_role, RoleName="tag-managed", AssumeRolePolicyDocument="{}")
    fn["iam"].delete_role(RoleName="tag-managed")
    check(_denied(admin["iam"].get_role, RoleName="tag-managed")["Code"] == "NoSuchEntity",
          "iam tags: iam:DeleteRole on a tagged role")
    denied("iam:DeleteRole on an untagged role", fn["iam"].delete_role, RoleName="tag-plain")
    check(admin["iam"].get_role(RoleName="tag-plain")["Role"]["RoleName"] == "tag-plain",
          "iam tags: the refused role still exists")
    denied("iam:CreateRole without tags (aws:RequestTag)", fn["iam"].create_role, RoleName="tag-new",
           AssumeRolePolicyDocument="{}")
    denied("iam:CreateRole tagged rollgate:managed=false", fn["iam"].create_role, RoleName="tag-new",
           AssumeRolePolicyDocument="{}", Tags=[{"Key": "rollgate:managed", "Value": "false"}])
    fn["iam"].create_role(RoleName="tag-new", AssumeRolePolicyDocument="{}",
                          Tags=[{"Key": "rollgate:managed", "Value": "true"}])
    check(admin["iam"].get_role(RoleName="tag-new")["Role"]["RoleName"] == "tag-new",
          "iam tags: iam:CreateRole tagged rollgate:managed=true (+ implicit iam:TagRole)")

    # ECR repositories: ecr:ResourceTag, Null, DeleteRepository.
    for repository, tags in (("tag-managed", [{"Key": "rollgate:managed", "Value": "true"}]), ("tag-plain", [])):
        admin["ecr"].create_repository(repositoryName=repository, tags=tags)
    fn["ecr"].put_image_tag_mutability(repositoryName="tag-managed", imageTagMutability="IMMUTABLE")
    check(True, "iam tags: ecr:PutImageTagMutability on a tagged repository (ecr:ResourceTag)")
    denied("ecr:PutImageTagMutability on an untagged repository", fn["ecr"].put_image_tag_mutability,
           repositoryName="tag-plain", imageTagMutability="IMMUTABLE")
    fn["ecr"].put_image_scanning_configuration(repositoryName="tag-plain",
                                               imageScanningConfiguration={"scanOnPush": True})
    check(True, "iam tags: Null aws:ResourceTag/rollgate:managed = true allows the untagged repository")
    denied("Null aws:ResourceTag/... = true on the tagged repository", fn["ecr"].put_image_scanning_configuration,
           repositoryName="tag-managed", imageScanningConfiguration={"scanOnPush": True})
    fn["ecr"].delete_repository(repositoryName="tag-managed")
    check(_denied(admin["ecr"].describe_repositories, repositoryNames=["tag-managed"])["Code"]
          == "RepositoryNotFoundException", "iam tags: ecr:DeleteRepository on a tagged repository")
    denied("ecr:DeleteRepository on an untagged repository", fn["ecr"].delete_repository,
           repositoryName="tag-plain")
    check(len(admin["ecr"].describe_repositories(repositoryNames=["tag-plain"])["repositories"]) == 1,
          "iam tags: the refused repository still exists")

    # Logs log groups: tags given at creation or by TagResource; ...IfExists; DeleteLogGroup.
    for group, tags in (("tag-managed", {"rollgate:managed": "true"}), ("tag-plain", {}),
                        ("tag-false", {"rollgate:managed": "false"}), ("tag-later", {})):
        admin["logs"].create_log_group(logGroupName=group, **({"tags": tags} if tags else {}))
    admin["logs"].tag_resource(resourceArn=_arn("logs", "log-group:tag-later"),
                               tags={"rollgate:managed": "true"})

    def groups() -> set[str]:
        return {g["logGroupName"] for g in admin["logs"].describe_log_groups(logGroupNamePrefix="tag-")["logGroups"]}

    for group in ("tag-managed", "tag-plain"):
        fn["logs"].put_retention_policy(logGroupName=group, retentionInDays=7)
    check(True, "iam tags: StringEqualsIfExists allows a tagged and an untagged log group")
    denied("logs:PutRetentionPolicy on rollgate:managed=false (IfExists)", fn["logs"].put_retention_policy,
           logGroupName="tag-false", retentionInDays=7)
    fn["logs"].delete_log_group(logGroupName="tag-managed")
    fn["logs"].delete_log_group(logGroupName="tag-later")
    check(not groups() & {"tag-managed", "tag-later"},
          "iam tags: logs:DeleteLogGroup on log groups tagged at creation and by TagResource")
    denied("logs:DeleteLogGroup on an untagged log group", fn["logs"].delete_log_group, logGroupName="tag-plain",
           contains=_arn("logs", "log-group:tag-plain:*"))
    check("tag-plain" in groups(), "iam tags: the refused log group still exists")

    # CodeBuild projects.
    for project, tags in (("tag-managed", [{"key": "rollgate:managed", "value": "true"}]), ("tag-plain", [])):
        admin["codebuild"].create_project(
            name=project, source={"type": "S3", "location": "b1/src.zip"}, artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                         "computeType": "BUILD_GENERAL1_SMALL"},
            serviceRole=f"arn:aws:iam::{IAM_ACCOUNT}:role/codebuild", **({"tags": tags} if tags else {}))
    fn["codebuild"].delete_project(name="tag-managed")
    left = {p["name"] for p in admin["codebuild"].batch_get_projects(names=["tag-managed", "tag-plain"])["projects"]}
    check(left == {"tag-plain"}, "iam tags: codebuild:DeleteProject on a tagged project", left)
    denied("codebuild:DeleteProject on an untagged project", fn["codebuild"].delete_project, name="tag-plain")
    left = {p["name"] for p in admin["codebuild"].batch_get_projects(names=["tag-plain"])["projects"]}
    check(left == {"tag-plain"}, "iam tags: the refused project still exists")

    emu.http("DELETE", f"/_rollgate/iam/principals?access_key={IAM_TAGS_KEY}")


def _template_statements(function: str) -> list[dict[str, Any]] | None:
    """The function's policy statements from translate.py, as IAM elements (None: no .venv-cfn)."""
    root = os.path.dirname(os.path.dirname(HERE))
    python = os.path.join(root, ".venv-cfn", "bin", "python")
    if not os.path.exists(python):
        return None
    params = [f"ClusterArns={_arn('ecs', 'cluster/c1')}", "Repositories=r1",
              f"TaskRoleArn=arn:aws:iam::{IAM_ACCOUNT}:role/task",
              f"ExecutionRoleArn=arn:aws:iam::{IAM_ACCOUNT}:role/exec", "BuildProject=p1", "ModelBucket=b1"]
    result = subprocess.run([python, os.path.join(root, "tests", "template", "translate.py"),
                             os.path.join(root, "template.yaml"), *[a for p in params for a in ("--param", p)]],
                            capture_output=True, text=True, check=True)
    statements = []
    for s in json.loads(result.stdout)["functions"][function]["statements"]:
        if s["sam_added"]:  # the DLQ send, made by Lambda itself, not by the code
            continue
        statement = {"Effect": s["effect"], "Action": s["action"], "Resource": s["resource"]}
        if s["condition"]:
            statement["Condition"] = s["condition"]
        statements.append(statement)
    return statements


# What template.yaml's policies deny of the calls the functions make, as the evaluator sees
# it (reported in the note lines; the check fails on any other denial).
TEMPLATE_GAPS = {
    # The gate asks DescribeAlarms for metric *and composite* alarms (AlarmTypes), which AWS
    # only answers with cloudwatch:DescribeAlarms on Resource "*"; ReadAlarms grants alarm:*.
    "HealthGateFunction": {("cloudwatch:DescribeAlarms", "*")},
}


def check_template_policies(emu: Emulator) -> None:
    """Each function's template policy against the calls its code makes (crates/rollgate-aws)."""
    keys = {"DeployFunction": "AKIAMTPLDEPLOY", "HealthGateFunction": "AKIAMTPLGATE",
            "ModelBuildFunction": "AKIAMTPLMODEL"}
    for function, key in keys.items():
        statements = _template_statements(function)
        if statements is None:
            print("skip  template policies: no .venv-cfn")
            return
        status, _ = _iam_put(emu, {"access_key": key, "label": f"tpl-{function}", "account": IAM_ACCOUNT,
                                   "statements": statements})
        check(status == 200, f"iam template: {function} policy registered")

    admin = {n: emu.client(n, IAM_ADMIN_KEY) for n in ("ecs", "ecr", "codebuild", "cloudwatch")}
    cluster = _arn("ecs", "cluster/c1")
    base = admin["ecs"].register_task_definition(
        family="tplapi", taskRoleArn=f"arn:aws:iam::{IAM_ACCOUNT}:role/task",
        executionRoleArn=f"arn:aws:iam::{IAM_ACCOUNT}:role/exec",
        containerDefinitions=[{"name": "api", "image": "r1:v1", "memory": 128}],
        tags=[{"key": "rollgate:state", "value": "healthy"}])["taskDefinition"]["taskDefinitionArn"]
    service = admin["ecs"].create_service(cluster="c1", serviceName="tplapi", taskDefinition=base, desiredCount=1,
                                          tags=[{"key": "rollgate:repository", "value": "r1"}])["service"]
    admin["ecr"].create_repository(repositoryName="r1")
    admin["codebuild"].create_project(
        name="p1", source={"type": "S3", "location": "b1/src.zip"}, artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole=f"arn:aws:iam::{IAM_ACCOUNT}:role/codebuild")

    # deploy: discover, read the live revision, register the copy (tags, roles), update, clean up.
    ecs, ecr = emu.client("ecs", keys["DeployFunction"]), emu.client("ecr", keys["DeployFunction"])
    arns = ecs.list_services(cluster=cluster, maxResults=100)["serviceArns"]
    ecs.describe_services(cluster=cluster, services=arns, include=["TAGS"])
    ecs.describe_task_definition(taskDefinition="tplapi", include=["TAGS"])
    definition = ecs.describe_task_definition(taskDefinition=base, include=["TAGS"])["taskDefinition"]
    copy = ecs.register_task_definition(
        family=definition["family"], taskRoleArn=definition["taskRoleArn"],
        executionRoleArn=definition["executionRoleArn"],
        containerDefinitions=[{**definition["containerDefinitions"][0], "image": "r1@sha256:" + "a" * 64}],
        tags=[{"key": "rollgate:state", "value": "deploying"}])["taskDefinition"]["taskDefinitionArn"]
    ecs.list_task_definitions(familyPrefix="tplapi", sort="DESC", maxResults=5)
    ecs.update_service(cluster="c1", service=service["serviceArn"], taskDefinition=copy)
    ecs.deregister_task_definition(taskDefinition=copy)
    ecr.describe_images(repositoryName="r1", maxResults=100)

    # health-gate: discover, judge, record verdicts (rollgate:* tags), roll back, notify, lineage.
    clients = {n: emu.client(n, keys["HealthGateFunction"]) for n in ("ecs", "cloudwatch", "events", "codebuild")}
    clients["ecs"].list_services(cluster=cluster, maxResults=100)
    clients["ecs"].describe_services(cluster="c1", services=[service["serviceArn"]], include=["TAGS"])
    clients["ecs"].describe_task_definition(taskDefinition=copy, include=["TAGS"])
    _denied(clients["cloudwatch"].describe_alarms, StateValue="ALARM",  # a known gap, see TEMPLATE_GAPS
            AlarmTypes=["MetricAlarm", "CompositeAlarm"], MaxRecords=100)
    clients["cloudwatch"].describe_alarm_history(HistoryItemType="StateUpdate", ScanBy="TimestampDescending",
                                                 StartDate=datetime.now(timezone.utc) - timedelta(hours=1),
                                                 MaxRecords=100)
    clients["ecs"].tag_resource(resourceArn=service["serviceArn"],
                                tags=[{"key": "rollgate:high-water", "value": "2026-01-01T00:00:00Z"}])
    clients["ecs"].update_service(cluster="c1", service=service["serviceArn"], taskDefinition=base)
    clients["events"].put_events(Entries=[{"Source": "rollgate", "DetailType": "Rollout Rolled Back",
                                           "Detail": "{}", "Resources": [service["serviceArn"]],
                                           "EventBusName": "default"}])
    clients["ecs"].tag_resource(resourceArn=copy, tags=[{"key": "rollgate:state", "value": "failed"}])
    ids = clients["codebuild"].list_builds_for_project(projectName="p1", sortOrder="DESCENDING").get("ids", [])
    clients["codebuild"].batch_get_builds(ids=ids or ["p1:00000000-0000-0000-0000-000000000000"])

    # model-build: start the build, report a failed one.
    codebuild = emu.client("codebuild", keys["ModelBuildFunction"])
    codebuild.start_build(projectName="p1", idempotencyToken="t1",
                          environmentVariablesOverride=[{"name": "IMAGE_TAG", "value": "v1", "type": "PLAINTEXT"}])
    emu.client("events", keys["ModelBuildFunction"]).put_events(
        Entries=[{"Source": "rollgate", "DetailType": "Model Build Failed", "Detail": "{}", "EventBusName": "default"}])

    for function, key in keys.items():
        decisions = _iam_decisions(emu, key)
        denied = {(d["action"], d["resource"]) for d in decisions if not d["allowed"]}
        actions = sorted({d["action"] for d in decisions})
        gaps = {gap for gap in TEMPLATE_GAPS.get(function, set()) if gap in denied}
        for action, resource in sorted(gaps):
            print(f"note  iam template: {function}: known gap, template.yaml denies {action} on {resource}")
        check(decisions and denied == gaps, f"iam template: {function}: every call its code makes is allowed, "
              f"known gaps aside ({len(decisions)} decisions: {', '.join(actions)})", denied - gaps)
    # ... and no more than that: the health gate may not tag anything but rollgate:* keys.
    error = _denied(clients["ecs"].tag_resource, resourceArn=service["serviceArn"],
                    tags=[{"key": "owner", "value": "x"}])
    check(error["Code"] == "AccessDeniedException", "iam template: health-gate may tag rollgate:* keys only", error)
    error = _denied(ecs.tag_resource, resourceArn=copy, tags=[{"key": "rollgate:state", "value": "x"}])
    check(error["Code"] == "AccessDeniedException", "iam template: deploy may not tag an existing revision", error)


def refused(what: str, code: str, call: Any, *args: Any, contains: str = "", **kwargs: Any) -> dict[str, Any]:
    """Check that the call fails with HTTP 400, ``code`` and ``contains`` in the message."""
    try:
        call(*args, **kwargs)
    except ClientError as error:
        details = error.response["Error"]
        check(details["Code"] == code and error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
              and contains in details.get("Message", ""), f"refused: {what} -> {code}", details)
        return details
    check(False, f"refused: {what} -> {code}", "the call succeeded")
    return {}


def check_validation(emu: Emulator) -> None:
    """validate.py (and the limits in ecs_ext / ecr_ext): refused what AWS refuses, accepted what it accepts.

    The clients skip botocore's own parameter validation, so bad requests reach the emulator."""
    ecs = emu.client("ecs", validate=False)
    cluster = ecs.create_cluster(clusterName="vcheck")["cluster"]["clusterArn"]

    # ECS TagValue's model pattern: the whole value must match, as AWS checks it.
    details = refused("ECS tag value 'v*'", "ClientException", ecs.tag_resource,
                      resourceArn=cluster, tags=[{"key": "k0", "value": "v*"}])
    check("Value 'v*' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy "
          "regular expression pattern" in details["Message"], "  ... with AWS's message", details["Message"])
    ecs.tag_resource(resourceArn=cluster, tags=[{"key": "k0", "value": "v1.2"}])
    check(True, "accepted: ECS tag value 'v1.2'")
    ecs.tag_resource(resourceArn=cluster, tags=[{"key": "k1", "value": "héllo wörld /:+=@_-."}])
    check(True, "accepted: ECS tag value with letters, spaces and + - = . _ : / @")

    # At most 50 user tags per resource, counted after the merge.
    ecs.tag_resource(resourceArn=cluster, tags=[{"key": f"k{i}", "value": "v"} for i in range(2, 50)])
    ecs.tag_resource(resourceArn=cluster, tags=[{"key": "k7", "value": "changed"}])
    check(True, "accepted: re-tagging an existing key of a resource with 50 tags")
    refused("a 51st tag after the merge", "InvalidParameterException", ecs.tag_resource,
            resourceArn=cluster, tags=[{"key": "k50", "value": "v"}])
    tags = ecs.list_tags_for_resource(resourceArn=cluster)["tags"]
    check(len(tags) == 50 and {"key": "k7", "value": "changed"} in tags, "  ... and the resource keeps its 50 tags")
    refused("51 tags in one CreateCluster (model: at most 50)", "ClientException", ecs.create_cluster,
            clusterName="vcheck2", tags=[{"key": f"k{i}", "value": "v"} for i in range(51)],
            contains="Member must have length less than or equal to 50")
    refused("ECS tag key 'aws:foo'", "InvalidParameterException", ecs.tag_resource,
            resourceArn=cluster, tags=[{"key": "aws:foo", "value": "x"}])
    refused("ECS CreateCluster with tag key 'AWS:foo'", "InvalidParameterException", ecs.create_cluster,
            clusterName="vcheck3", tags=[{"key": "AWS:foo", "value": "x"}])
    refused("ECS UntagResource of key 'Aws:foo'", "InvalidParameterException", ecs.untag_resource,
            resourceArn=cluster, tagKeys=["Aws:foo"])

    # Enum, required member, list size.
    refused("ECS launchType 'LAMBDA' (enum)", "ClientException", ecs.create_service,
            cluster="vcheck", serviceName="x", taskDefinition="web:1", launchType="LAMBDA",
            contains="Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL")
    refused("DescribeServices without 'services' (required)", "ClientException", ecs.describe_services,
            cluster="vcheck", contains="Value null at 'services' failed to satisfy constraint: Member must not be null")
    refused("DescribeServices with 11 services", "InvalidParameterException", ecs.describe_services,
            cluster="vcheck", services=[f"s{i}" for i in range(11)], contains="at most 10")
    described = ecs.describe_services(cluster="vcheck", services=[f"s{i}" for i in range(10)])
    check(len(described["failures"]) == 10, "accepted: DescribeServices with 10 services", described)

    # Task definitions: 10 containers, 64 KiB, no empty tag list.
    def containers(n: int, **extra: Any) -> list[dict[str, Any]]:
        return [{"name": f"c{i}", "image": "x", "memory": 64, **extra} for i in range(n)]
    refused("a task definition with 11 containers", "ClientException", ecs.register_task_definition,
            family="big", containerDefinitions=containers(11), contains="Too many containers.")
    ecs.register_task_definition(family="big", containerDefinitions=containers(10))
    check(True, "accepted: a task definition with 10 containers")
    refused("a 65 KiB task definition", "ClientException", ecs.register_task_definition,
            family="big", containerDefinitions=containers(1, environment=[{"name": "PAD", "value": "x" * 65 * 1024}]),
            contains="Max allowed length is '65536' bytes.")
    ecs.register_task_definition(family="big",
                                 containerDefinitions=containers(1, environment=[{"name": "PAD", "value": "x" * 60 * 1024}]))
    check(True, "accepted: a 60 KiB task definition")
    # Measured as the definition, not as the client escaped it: 20,000 'é' are 40 KB of UTF-8
    # (botocore sends 120 KB of \u00e9 escapes).
    ecs.register_task_definition(family="big",
                                 containerDefinitions=containers(1, environment=[{"name": "PAD", "value": "é" * 20000}]))
    check(True, "accepted: a 40 KB task definition of non-ASCII text (botocore escapes it to 120 KB)")
    refused("RegisterTaskDefinition with tags []", "ClientException", ecs.register_task_definition,
            family="big", containerDefinitions=containers(1), tags=[], contains="Tags can not be empty.")

    # Query protocol: IAM and EC2.
    iam = emu.client("iam", validate=False)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    refused("IAM role name with a space", "ValidationError", iam.create_role,
            RoleName="my role", AssumeRolePolicyDocument=trust,
            contains="Value 'my role' at 'roleName' failed to satisfy constraint: Member must satisfy regular")
    refused("IAM tag value with a comma", "ValidationError", iam.create_role,
            RoleName="my-role", AssumeRolePolicyDocument=trust, Tags=[{"Key": "k", "Value": "a,b"}])
    iam.create_role(RoleName="my-role", AssumeRolePolicyDocument=trust, Tags=[{"Key": "k", "Value": "a b"}])
    check(True, "accepted: IAM role 'my-role'")
    ec2 = emu.client("ec2", validate=False)
    refused("EC2 DescribeVpcs MaxResults=1 (model: at least 5)", "InvalidParameterValue", ec2.describe_vpcs,
            MaxResults=1)
    refused("EC2 CreateSecurityGroup without Description", "MissingParameter", ec2.create_security_group,
            GroupName="g")
    ec2.describe_vpcs(MaxResults=5)
    check(True, "accepted: EC2 DescribeVpcs MaxResults=5")

    # rpc-v2-cbor: CloudWatch (hand-made and boto3) and CodeBuild (boto3).
    status, headers, body = emu.cbor("PutMetricAlarm", {
        "AlarmName": "x" * 256, "Namespace": "N", "MetricName": "M", "Statistic": "Sum", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"})
    error = cbor2.loads(body)
    check(status == 400 and headers.get("x-amzn-query-error") == "ValidationError;Sender"
          and "Member must have length less than or equal to 255" in error["message"],
          "refused: cbor PutMetricAlarm with a 256-character AlarmName -> ValidationError", (status, headers, error))
    cloudwatch = emu.client("cloudwatch", validate=False)
    refused("CloudWatch (boto3, cbor) DescribeAlarms MaxRecords=101", "ValidationError", cloudwatch.describe_alarms,
            MaxRecords=101)
    cloudwatch.describe_alarms(MaxRecords=100)
    check(True, "accepted: CloudWatch DescribeAlarms MaxRecords=100")
    refused("CodeBuild (boto3, cbor) project name '-bad'", "InvalidInputException",
            emu.client("codebuild", validate=False).create_project,
            name="-bad", source={"type": "NO_SOURCE", "buildspec": "version: 0.2"}, artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"},
            serviceRole="arn:aws:iam::123456789012:role/codebuild")

    # Other awsJson services: Logs, EventBridge.
    refused("Logs group name 'bad name*'", "InvalidParameterException",
            emu.client("logs", validate=False).create_log_group, logGroupName="bad name*")
    refused("EventBridge rule name 'bad name'", "ValidationException",
            emu.client("events", validate=False).put_rule, Name="bad name", ScheduleExpression="rate(1 minute)")

    # ECR: model constraints, repository tags, immutable tags, tags per image.
    ecr = emu.client("ecr", validate=False)
    refused("ECR repository name 'Bad_Name!'", "InvalidParameterException", ecr.create_repository,
            repositoryName="Bad_Name!", contains="Invalid parameter at 'repositoryName' failed to satisfy constraint")
    refused("ECR tag key 'aws:x'", "InvalidTagParameterException", ecr.create_repository,
            repositoryName="frozen", tags=[{"Key": "aws:x", "Value": "y"}])
    arn = ecr.create_repository(repositoryName="frozen", imageTagMutability="IMMUTABLE",
                                tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])["repository"]["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k49", "Value": "v"}])
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k0", "Value": "again"}])
    check(True, "accepted: ECR re-tagging an existing key of a repository with 50 tags")
    refused("a 51st ECR repository tag after the merge", "TooManyTagsException", ecr.tag_resource,
            resourceArn=arn, tags=[{"Key": "k50", "Value": "v"}])

    # Logs: at most 50 tags on a log group, after the merge (TagResource and TagLogGroup).
    logs = emu.client("logs", validate=False)
    refused("CreateLogGroup with 51 tags (model: at most 50)", "InvalidParameterException", logs.create_log_group,
            logGroupName="many-tags", tags={f"k{i}": "v" for i in range(51)},
            contains="Member must have length less than or equal to 50")
    logs.create_log_group(logGroupName="many-tags", tags={f"k{i}": "v" for i in range(49)})
    check(True, "accepted: CreateLogGroup with 49 tags")
    group_arn = _arn("logs", "log-group:many-tags")
    logs.tag_resource(resourceArn=group_arn, tags={"k49": "v"})
    logs.tag_resource(resourceArn=group_arn, tags={"k0": "again"})
    logs.tag_log_group(logGroupName="many-tags", tags={"k1": "again"})
    check(True, "accepted: Logs re-tagging an existing key of a log group with 50 tags (TagResource, TagLogGroup)")
    details = refused("a 51st log group tag after the merge (TagResource)", "TooManyTagsException",
                      logs.tag_resource, resourceArn=group_arn, tags={"k50": "v"},
                      contains="A resource can have no more than 50 tags.")
    refused("a 51st log group tag after the merge (TagLogGroup)", "InvalidParameterException",
            logs.tag_log_group, logGroupName="many-tags", tags={"k50": "v"})
    tags = logs.list_tags_for_resource(resourceArn=group_arn)["tags"]
    check(len(tags) == 50 and tags["k0"] == "again" and "k50" not in tags,
          "  ... and the log group keeps its 50 tags", (len(tags), details))

    # IAM: at most 50 tags on a role, after TagRole merges.
    iam_tags = emu.client("iam", validate=False)
    iam_tags.create_role(RoleName="many-tags", AssumeRolePolicyDocument=trust,
                         Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    iam_tags.tag_role(RoleName="many-tags", Tags=[{"Key": "k49", "Value": "v"}])
    iam_tags.tag_role(RoleName="many-tags", Tags=[{"Key": "k0", "Value": "again"}])
    check(True, "accepted: IAM re-tagging an existing key of a role with 50 tags")
    try:
        iam_tags.tag_role(RoleName="many-tags", Tags=[{"Key": "k50", "Value": "v"}])
        check(False, "refused: a 51st role tag after the merge -> LimitExceeded (409)", "the call succeeded")
    except ClientError as error:
        details = error.response["Error"]
        check(details["Code"] == "LimitExceeded" and error.response["ResponseMetadata"]["HTTPStatusCode"] == 409
              and "TagsPerRole: 50" in details["Message"],
              "refused: a 51st role tag after the merge -> LimitExceeded (409)", details)
    role_tags = iam_tags.list_role_tags(RoleName="many-tags")["Tags"]
    check(len(role_tags) == 50 and {"Key": "k0", "Value": "again"} in role_tags,
          "  ... and the role keeps its 50 tags", len(role_tags))

    def manifest(n: int) -> str:
        return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": f"sha256:{n:064x}"}, "layers": []})
    ecr.put_image(repositoryName="frozen", imageManifest=manifest(1), imageTag="v1")
    refused("IMMUTABLE: tag v1 pushed again for another image", "ImageTagAlreadyExistsException", ecr.put_image,
            repositoryName="frozen", imageManifest=manifest(2), imageTag="v1")
    ecr.put_image(repositoryName="frozen", imageManifest=manifest(1), imageTag="v1-alias")
    check(True, "accepted: IMMUTABLE: another tag for the same image")
    for bad in ["v*", "has space", "é1"]:
        refused(f"ECR image tag {bad!r}", "InvalidParameterException", ecr.put_image,
                repositoryName="frozen", imageManifest=manifest(3), imageTag=bad,
                contains="must satisfy regular expression '[a-zA-Z0-9-_.]+'")
    ecr.put_image(repositoryName="frozen", imageManifest=manifest(3), imageTag="1.2.3-rc_1")
    check(True, "accepted: ECR image tag '1.2.3-rc_1'")
    ecr.create_repository(repositoryName="many-tags")
    for n in range(1000):
        ecr.put_image(repositoryName="many-tags", imageManifest=manifest(7), imageTag=f"t{n}")
    check(True, "accepted: an image with 1,000 tags")
    refused("the 1,001st tag of an image", "LimitExceededException", ecr.put_image,
            repositoryName="many-tags", imageManifest=manifest(7), imageTag="t1000")

    # rest-json: Lambda (refused before moto would have to run anything).
    refused("Lambda role 'lambdarole' (not a role ARN)", "ValidationException",
            emu.client("lambda", validate=False).create_function,
            FunctionName="f", Role="lambdarole", Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            contains="Value 'lambdarole' at 'role' failed to satisfy constraint")


TAG_REGION = "eu-north-1"  # a region no other check uses: only this check's resources are there
TAG_KEY = "AKTAGGING"


def _tagging_lag(emu: Emulator, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = emu.http("POST", "/_rollgate/tagging/lag", raw, {"Content-Type": "application/json"})
    return status, json.loads(answer)


def _set_clock(emu: Emulator, now: Any) -> None:
    status, _, body = emu.http("POST", "/_rollgate/clock", json.dumps({"now": now}).encode(),
                               {"Content-Type": "application/json"})
    check(status == 200, f"clock set to {now}", body)


def check_tagging(emu: Emulator) -> None:
    """tagging_ext: GetResources for ECS as AWS documents it: filters, pages, tokens, the lag, IAM."""
    def client(service: str, access_key: str = TAG_KEY, validate: bool = True) -> Any:
        return boto3.client(service, endpoint_url=emu.url, region_name=TAG_REGION, aws_access_key_id=access_key,
                            aws_secret_access_key="dummy",
                            config=Config(retries={"max_attempts": 1}, parameter_validation=validate))

    ecs, tagging = client("ecs"), client("resourcegroupstaggingapi", validate=False)
    arn = f"arn:aws:ecs:{TAG_REGION}:{IAM_ACCOUNT}"

    def everything(**params: Any) -> tuple[dict[str, list[tuple[str, str]]], list[dict[str, Any]]]:
        """Every resource the query lists (following the tokens) and the pages."""
        found: dict[str, list[tuple[str, str]]] = {}
        pages = []
        token = ""
        while True:
            page = tagging.get_resources(**params, **({"PaginationToken": token} if token else {}))
            pages.append(page)
            for mapping in page["ResourceTagMappingList"]:
                if mapping["ResourceARN"] in found:
                    check(False, "tagging: no resource listed twice", mapping)
                found[mapping["ResourceARN"]] = [(t["Key"], t["Value"]) for t in mapping["Tags"]]
            token = page["PaginationToken"]
            if not token:
                return found, pages

    def listed(**params: Any) -> set[str]:
        return set(everything(**params)[0])

    check(_tagging_lag(emu, {"seconds": 0, "page_limit": None}) == (200, {"seconds": 0, "page_limit": None}),
          "tagging: lag 0, no page limit")
    ecs.create_cluster(clusterName="tagc")
    revisions = [
        ecs.register_task_definition(
            family="tagapp", containerDefinitions=[{"name": "app", "image": f"repo/app:{i}", "memory": 64}],
            tags=[{"key": "rollgate:state", "value": state}],
        )["taskDefinition"]["taskDefinitionArn"]
        for i, state in enumerate(("ok", "ok", "failed", "ok", "pending"), start=1)
    ]
    services = {
        "a": [{"key": "rollgate:repository", "value": "org/a"}, {"key": "team", "value": "blue"}],
        "b": [{"key": "rollgate:repository", "value": "org/b"}, {"key": "team", "value": "red"}],
        "c": [{"key": "rollgate:repository", "value": "org/c"}],
        "d": [{"key": "team", "value": "blue"}],
        "plain": None,
    }
    for name, tags in services.items():
        ecs.create_service(cluster="tagc", serviceName=name, taskDefinition=revisions[0], desiredCount=1,
                           **({"tags": tags} if tags else {}))
    svc = {name: f"{arn}:service/tagc/{name}" for name in services}
    # The same tags in another region: never listed here.
    other = emu.client("ecs", TAG_KEY)
    other.create_cluster(clusterName="tagc")
    other.create_service(cluster="tagc", serviceName="a", desiredCount=0, tags=services["a"])

    repository = [{"Key": "rollgate:repository"}]
    found, pages = everything(ResourceTypeFilters=["ecs:service"], TagFilters=repository)
    check(set(found) == {svc["a"], svc["b"], svc["c"]} and pages[-1]["PaginationToken"] == "",
          "tagging: a key-only filter lists every resource with that key, last token \"\"", found)
    check(found[svc["a"]] == [("rollgate:repository", "org/a"), ("team", "blue")],
          "tagging: all of a resource's tags, as {Key, Value}", found[svc["a"]])
    check(listed(ResourceTypeFilters=["ecs:service"], TagFilters=[{"Key": "rollgate:repository", "Values": []}])
          == {svc["a"], svc["b"], svc["c"]}, "tagging: empty Values = key only")
    check(listed(ResourceTypeFilters=["ecs:service"],
                 TagFilters=[{"Key": "rollgate:repository", "Values": ["org/a", "org/b", "org/zzz"]}])
          == {svc["a"], svc["b"]}, "tagging: the values of one filter are ORed")
    check(listed(ResourceTypeFilters=["ecs"],
                 TagFilters=[{"Key": "rollgate:repository"}, {"Key": "team", "Values": ["blue"]}])
          == {svc["a"]}, "tagging: filters are ANDed")
    check(listed(ResourceTypeFilters=["ecs"], TagFilters=[{"Key": "team", "Values": ["blue"]}])
          == {svc["a"], svc["d"]}, "tagging: ResourceTypeFilters ecs: every ECS type")
    check(listed(ResourceTypeFilters=["ecs:task-definition"], TagFilters=[{"Key": "rollgate:state"}])
          == set(revisions), "tagging: ecs:task-definition: every revision")
    check(listed(ResourceTypeFilters=["ecs:service"], TagFilters=[{"Key": "rollgate:state"}]) == set(),
          "tagging: ecs:service lists no task definition")
    check(listed(ResourceTypeFilters=["ecs:task-definition"],
                 TagFilters=[{"Key": "rollgate:state", "Values": ["ok"]}]) == {revisions[0], revisions[1], revisions[3]},
          "tagging: a value filter on task definitions")
    untagged = listed(ResourceTypeFilters=["ecs:service", "ecs:cluster"])
    check(svc["plain"] not in untagged and f"{arn}:cluster/tagc" not in untagged and svc["a"] in untagged,
          "tagging: without TagFilters, never-tagged resources are not listed", untagged)
    ecs.tag_resource(resourceArn=svc["plain"], tags=[{"key": "tmp", "value": "1"}])
    ecs.untag_resource(resourceArn=svc["plain"], tagKeys=["tmp"])
    found = everything(ResourceTypeFilters=["ecs:service"])[0]
    check(found.get(svc["plain"]) == [], "tagging: a previously tagged resource is listed with Tags []", found)
    check(svc["plain"] not in listed(ResourceTypeFilters=["ecs:service"], TagFilters=[{"Key": "tmp"}]),
          "tagging: with TagFilters an untagged resource never matches")
    ecs.delete_service(cluster="tagc", service="d", force=True)
    check(svc["d"] in listed(ResourceTypeFilters=["ecs:service"], TagFilters=[{"Key": "team"}]),
          "tagging: a deleted (INACTIVE) service is still listed (aws/aws-cli#4173)")
    ecs.deregister_task_definition(taskDefinition=revisions[4])
    ecs.delete_task_definitions(taskDefinitions=[revisions[4]])
    state = [{"Key": "rollgate:state"}]
    check(revisions[4] not in listed(ResourceTypeFilters=["ecs:task-definition"], TagFilters=state),
          "tagging: a task definition revision purged by DeleteTaskDefinitions is gone")

    # Pages: 5 resources tagged "page" (4 revisions and a service).
    for target in (revisions[0], revisions[1], revisions[2], revisions[3], svc["c"]):
        ecs.tag_resource(resourceArn=target, tags=[{"key": "page", "value": "x"}])
    page_filter = {"ResourceTypeFilters": ["ecs"], "TagFilters": [{"Key": "page"}]}
    found, pages = everything(ResourcesPerPage=2, **page_filter)
    check(len(found) == 5 and [len(p["ResourceTagMappingList"]) for p in pages] == [2, 2, 1]
          and all(p["PaginationToken"] for p in pages[:-1]) and pages[-1]["PaginationToken"] == "",
          "tagging: ResourcesPerPage 2 over 5 matches: pages of 2, 2, 1, last token \"\"",
          [(len(p["ResourceTagMappingList"]), p["PaginationToken"][:8]) for p in pages])
    found, pages = everything(ResourcesPerPage=5, **page_filter)
    check(len(pages) == 1 and len(found) == 5 and pages[0]["PaginationToken"] == "",
          "tagging: no token when a full page leaves nothing", len(pages))
    check(sorted(found) == list(found), "tagging: listed in a stable order (by ARN)")
    many = [{"key": f"k{i:02}", "value": "v"} for i in range(44)] + [{"key": "many", "value": "x"}]
    for i in range(3):
        ecs.register_task_definition(family="tagmany", tags=many,
                                     containerDefinitions=[{"name": "a", "image": f"r/m:{i}", "memory": 64}])
    found, pages = everything(ResourceTypeFilters=["ecs:task-definition"], TagFilters=[{"Key": "many"}], TagsPerPage=100)
    check(len(found) == 3 and [len(p["ResourceTagMappingList"]) for p in pages] == [2, 1],
          "tagging: TagsPerPage 100 with 45 tags each: 2 resources, then 1 (never split)",
          [len(p["ResourceTagMappingList"]) for p in pages])

    check(_tagging_lag(emu, {"page_limit": 1}) == (200, {"seconds": 0, "page_limit": 1}), "tagging: page_limit 1")
    first = tagging.get_resources(ResourcesPerPage=100, **page_filter)
    check(len(first["ResourceTagMappingList"]) == 1 and first["PaginationToken"],
          "tagging: page_limit: one resource a page whatever ResourcesPerPage says, and a token", first)
    found, pages = everything(**page_filter)
    check(len(found) == 5 and len(pages) == 5, "tagging: page_limit: following the tokens finds all 5")
    check(_tagging_lag(emu, {"page_limit": None})[0] == 200, "tagging: page_limit off")

    # Tokens expire after 15 minutes of the emulator's clock.
    start = datetime(2032, 6, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    _set_clock(emu, start)
    first = tagging.get_resources(ResourcesPerPage=2, **page_filter)
    _set_clock(emu, start + 14 * 60)
    again = tagging.get_resources(ResourcesPerPage=2, PaginationToken=first["PaginationToken"], **page_filter)
    check(len(again["ResourceTagMappingList"]) == 2, "tagging: a token 14 minutes old still works")
    retry = tagging.get_resources(ResourcesPerPage=2, PaginationToken=first["PaginationToken"], **page_filter)
    check(retry["ResourceTagMappingList"] == again["ResourceTagMappingList"],
          "tagging: a token may be sent again (an SDK retry): the same page")
    _set_clock(emu, start + 16 * 60)
    error = _denied(tagging.get_resources, ResourcesPerPage=2, PaginationToken=first["PaginationToken"], **page_filter)
    check(error["Code"] == "PaginationTokenExpiredException" and error["status"] == 400,
          "tagging: a token 16 minutes old -> PaginationTokenExpiredException (HTTP 400)", error)
    error = _denied(tagging.get_resources, PaginationToken="not-a-token", **page_filter)
    check(error["Code"] == "PaginationTokenExpiredException", "tagging: an unknown token -> PaginationTokenExpiredException",
          error)

    # What AWS refuses.
    refused("tagging: 51 TagFilters", "InvalidParameterException", tagging.get_resources,
            ResourceTypeFilters=["ecs"], TagFilters=[{"Key": f"k{i}"} for i in range(51)], contains="tagFilters")
    refused("tagging: 21 values for a key", "InvalidParameterException", tagging.get_resources,
            ResourceTypeFilters=["ecs"], TagFilters=[{"Key": "k", "Values": [str(i) for i in range(21)]}],
            contains="tagFilters.1.member.values")
    refused("tagging: a TagFilter without Key", "InvalidParameterException", tagging.get_resources,
            ResourceTypeFilters=["ecs"], TagFilters=[{"Values": ["x"]}])
    for extra in ({"TagFilters": repository}, {"ResourceTypeFilters": ["ecs"]}, {"ResourcesPerPage": 10},
                  {"PaginationToken": "x"}):
        refused(f"tagging: ResourceARNList with {next(iter(extra))}", "InvalidParameterException",
                tagging.get_resources, ResourceARNList=[svc["a"]], **extra, contains="ResourceARNList")
    for bad in (0, 101):
        refused(f"tagging: ResourcesPerPage {bad}", "InvalidParameterException", tagging.get_resources,
                ResourceTypeFilters=["ecs"], ResourcesPerPage=bad, contains="resourcesPerPage")
    refused("tagging: TagsPerPage 99", "InvalidParameterException", tagging.get_resources,
            ResourceTypeFilters=["ecs"], TagsPerPage=99, contains="tagsPerPage")
    check(len(tagging.get_resources(ResourceTypeFilters=["ecs"], ResourcesPerPage=100, TagsPerPage=500,
                                    TagFilters=repository)["ResourceTagMappingList"]) == 3,
          "tagging: ResourcesPerPage 100 and TagsPerPage 500 accepted")
    check(tagging.get_resources(ResourceARNList=[svc["a"]])["ResponseMetadata"]["HTTPStatusCode"] == 200,
          "tagging: ResourceARNList alone is accepted (moto answers)")

    # The lag: the state as of now - 60 s on the emulator's clock.
    base = start + 3600
    _set_clock(emu, base)
    check(_tagging_lag(emu, {"seconds": 60}) == (200, {"seconds": 60, "page_limit": None}), "tagging: lag 60 s")
    ecs.tag_resource(resourceArn=svc["plain"], tags=[{"key": "rollgate:repository", "value": "org/plain"}])
    ecs.untag_resource(resourceArn=svc["a"], tagKeys=["rollgate:repository"])
    ecs.create_service(cluster="tagc", serviceName="new", desiredCount=0,
                       tags=[{"key": "rollgate:repository", "value": "org/new"}])
    ecs.deregister_task_definition(taskDefinition=revisions[3])
    ecs.delete_task_definitions(taskDefinitions=[revisions[3]])
    new = f"{arn}:service/tagc/new"
    for offset in (0, 30, 59):
        _set_clock(emu, base + offset)
        found = everything(ResourceTypeFilters=["ecs"], TagFilters=repository)[0]
        check(set(found) == {svc["a"], svc["b"], svc["c"]} and ("rollgate:repository", "org/a") in found[svc["a"]],
              f"tagging: lag 60 s, +{offset} s: the tag changes and the new service are not visible yet", found)
        check(revisions[3] in listed(ResourceTypeFilters=["ecs:task-definition"], TagFilters=state),
              f"tagging: lag 60 s, +{offset} s: a deleted revision is still listed")
    _set_clock(emu, base + 61)
    found = everything(ResourceTypeFilters=["ecs"], TagFilters=repository)[0]
    check(set(found) == {svc["b"], svc["c"], svc["plain"], new},
          "tagging: lag 60 s, +61 s: tagged and new services listed, the untagged one gone", found)
    check(revisions[3] not in listed(ResourceTypeFilters=["ecs:task-definition"], TagFilters=state),
          "tagging: lag 60 s, +61 s: the deleted revision is gone")
    ecs.tag_resource(resourceArn=svc["a"], tags=[{"key": "rollgate:repository", "value": "org/a"}])
    check(svc["a"] not in listed(ResourceTypeFilters=["ecs:service"], TagFilters=repository),
          "tagging: lag 60 s: a tag added just now is not visible")
    check(_tagging_lag(emu, {"seconds": 0}) == (200, {"seconds": 0, "page_limit": None}), "tagging: lag 0 again")
    check(svc["a"] in listed(ResourceTypeFilters=["ecs:service"], TagFilters=repository),
          "tagging: lag 0: the live state at once")
    status, _, body = emu.http("GET", "/_rollgate/tagging/lag")
    check((status, json.loads(body)) == (200, {"seconds": 0, "page_limit": None}), "tagging: GET the settings", body)
    for bad in ({"seconds": -1}, {"seconds": "60"}, {"seconds": True}, {}, {"page_limit": 0},
                {"seconds": 1, "other": 1}, b"not json", [1]):
        check(_tagging_lag(emu, bad)[0] == 400, f"tagging: lag body {bad!r} -> 400")
    _set_clock(emu, None)

    # IAM: tag:GetResources on "*".
    deny_key, allow_key = "AKTAGDENY", "AKTAGALLOW"
    check(_iam_put(emu, {"access_key": deny_key, "label": "tag-deny", "statements": [
        {"Effect": "Allow", "Action": "ecs:ListServices", "Resource": "*"}]})[0] == 200, "tagging: principal without tag:GetResources")
    check(_iam_put(emu, {"access_key": allow_key, "label": "tag-allow", "statements": [
        {"Effect": "Allow", "Action": "tag:GetResources", "Resource": "*"}]})[0] == 200, "tagging: principal with tag:GetResources")
    error = _denied(client("resourcegroupstaggingapi", deny_key).get_resources, ResourceTypeFilters=["ecs:service"])
    check(error["Code"] == "AccessDeniedException" and error["status"] == 400
          and "tag:GetResources on resource: *" in error.get("Message", ""),
          "tagging: denied without tag:GetResources (AccessDeniedException, HTTP 400)", error)
    answer = client("resourcegroupstaggingapi", allow_key).get_resources(ResourceTypeFilters=["ecs:service"],
                                                                         TagFilters=repository)
    check(len(answer["ResourceTagMappingList"]) == 5, "tagging: allowed with tag:GetResources on *", answer)
    decisions = _iam_decisions(emu, allow_key)
    check([(d["service"], d["action"], d["resource"], d["allowed"]) for d in decisions]
          == [("tagging", "tag:GetResources", "*", True)], "tagging: the decision: tag:GetResources on *", decisions)
    for key in (deny_key, allow_key):
        emu.http("DELETE", f"/_rollgate/iam/principals?access_key={key}")
    calls = emu.calls(TAG_KEY)
    check({"service": "tagging", "operation": "GetResources", "access_key": TAG_KEY} in calls,
          "tagging: GetResources in the call log as tagging / GetResources")


def run_rapi(*args: str, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
    result = subprocess.run([PYTHON, os.path.join(HERE, "lambda_rapi.py"), *args],
                            input=stdin, capture_output=True, text=True)
    return result.returncode, json.loads(result.stdout)


def check_lambda_rapi() -> None:
    fake = os.path.join(HERE, "fake_lambda.py")
    with tempfile.TemporaryDirectory() as tmp:
        def event(name: str, document: dict[str, Any]) -> str:
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                json.dump(document, f)
            return path

        e1 = event("e1.json", {"n": 1})
        e2 = event("e2.json", {"action": "fail"})
        e3 = event("e3.json", {"action": "chunked"})
        logs = os.path.join(tmp, "fn.log")
        code, report = run_rapi("--binary", fake, "--env", "FAKE_LAMBDA_EXTRA=x",
                                "--function-name", "deployer",
                                "--logs", logs, e1, e2, e3, "-", stdin='{"n": 4}')
        inv = report["invocations"]
        check(code == 0 and [i["status"] for i in inv] == ["ok", "error", "ok", "ok"]
              and inv[0]["response"]["echo"] == {"n": 1} and inv[3]["event"] == "-"
              and inv[1]["error_type"] == "FakeError" and inv[1]["error_message"] == "failed on purpose"
              and report["init_ms"] > 0 and all(i["duration_ms"] >= 0 for i in inv)
              and report["terminated"] is True and report["runner_error"] is None,
              "lambda_rapi: events in order, ok and error answers", report)
        env = inv[0]["response"]["env"]
        check(env["AWS_LAMBDA_FUNCTION_NAME"] == "deployer" and env["FAKE_LAMBDA_EXTRA"] == "x"
              and env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST" and env["AWS_REGION"]
              and inv[0]["response"]["function_arn"].endswith(":function:deployer"),
              "lambda_rapi: Lambda environment and headers", inv[0]["response"])
        check("fake lambda starting" in open(logs).read(), "lambda_rapi: binary output in --logs file")
        print(f"      init_ms={report['init_ms']} durations={[i['duration_ms'] for i in inv]}")

        code, report = run_rapi("--binary", fake, "--env", "FAKE_LAMBDA_INIT_ERROR=1", e1)
        check(code == 0 and report["init_error"]["error_type"] == "FakeInitError"
              and report["invocations"][0]["status"] == "error", "lambda_rapi: init error", report)

        code, report = run_rapi("--binary", fake, e1, event("crash.json", {"action": "crash"}), e3)
        check(code == 2 and report["exit_code"] == 3 and "exited with status 3" in report["runner_error"]
              and [i["error_type"] for i in report["invocations"]]
              == [None, "Runtime.ExitError", "Runner.NotInvoked"],
              "lambda_rapi: crash is a runner failure (exit 2)", report)

        hang = event("hang.json", {"action": "hang"})
        code, report = run_rapi("--binary", fake, "--timeout-ms", "300", hang, e1)
        check(code == 0 and report["invocations"][0]["error_type"] == "Sandbox.Timedout"
              and report["terminated"], "lambda_rapi: invocation timeout", report)

        code, report = run_rapi("--binary", os.path.join(tmp, "missing"), e1)
        check(code == 2 and "not found" in report["runner_error"], "lambda_rapi: missing binary (exit 2)")


def main() -> int:
    iam_log_dir = tempfile.mkdtemp(prefix="rollgate-iam-")
    os.environ["ROLLGATE_IAM_DECISION_LOG"] = iam_log_dir  # read by server.py at start
    emu = Emulator()
    try:
        print(f"emulator at {emu.url}")
        check_ecs(emu)
        check_ecs_inactive_task_definitions(emu)
        check_ecs_delete_task_definitions(emu)
        check_ecs_desired_count(emu)
        check_ecs_history(emu)
        check_clock(emu)
        check_ecs_identity(emu)
        check_ecr_pushed_at(emu)
        check_ecr_moved_tag_keeps_the_image(emu)
        check_ecr_images(emu)
        check_ecr_layers(emu)
        check_ecs_short_arn(emu)
        check_call_log(emu)
        check_cloudwatch_cbor(emu)
        check_boto_shell(emu)
        check_iam(emu, iam_log_dir)
        check_iam_resource_tags(emu)
        check_template_policies(emu)
        check_validation(emu)
        check_tagging(emu)
    finally:
        code = emu.stop()
        shutil.rmtree(iam_log_dir, ignore_errors=True)
    check(code == 0, "server.py exits 0 at stdin EOF")
    check_ecs_reserved_tags_do_not_count()
    check_lambda_rapi()
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
