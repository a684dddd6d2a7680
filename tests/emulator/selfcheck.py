#!/usr/bin/env python3
"""Hand-run end-to-end check of the emulator tooling (not part of CI).

    .venv/bin/python tests/emulator/selfcheck.py

Starts server.py on a free port and exercises, through real clients:
EC2/IAM/ECS with boto3, the realistic ECS deployments and the rollout
endpoint, the call log, CloudWatch over hand-made rpc-v2-cbor requests and
through boto3 (which speaks CBOR for CloudWatch and CodeBuild), boto_shell.py,
and lambda_rapi.py with the fake_lambda.py stand-in. Prints one line per
check and exits non-zero at the first failure.
"""

from __future__ import annotations

import json
import os
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

    def client(self, service: str, access_key: str = ACCESS_KEY) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key="dummy",
            config=Config(retries={"max_attempts": 1}),
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
    emu = Emulator()
    try:
        print(f"emulator at {emu.url}")
        check_ecs(emu)
        check_ecr_pushed_at(emu)
        check_call_log(emu)
        check_cloudwatch_cbor(emu)
        check_boto_shell(emu)
    finally:
        code = emu.stop()
    check(code == 0, "server.py exits 0 at stdin EOF")
    check_lambda_rapi()
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
