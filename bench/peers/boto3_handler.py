#!/usr/bin/env python3
"""A hand-written "ECR push -> Lambda" deployer, the way such scripts are usually written.

It is the Python/boto3 peer of rollgate's `deploy` in bench/run.py: the same five ECS calls
(ListServices, DescribeServices include=TAGS, DescribeTaskDefinition include=TAGS,
RegisterTaskDefinition with the new image and the revision's tags, UpdateService), with the
client created once at import time as Lambda handlers do. No duplicate, ordering or
failed-digest checks, no ledger: it is the usual script, not a rollgate clone.

    python bench/peers/boto3_handler.py EVENTS.json

EVENTS.json holds one ECR "Image Action" event or a list of them; they are handled in order
in this one process. Prints one JSON document:

    {"import_ms": f, "latencies_ms": [f, ...], "deployed": [revision ARN, ...]}

`import_ms` is the time to import boto3 and create the client (the cold part a Lambda pays
once); each latency is one `handler(event)` call. The clusters come from DEPLOY_CLUSTERS
(comma-separated); the endpoint, credentials and region from the usual AWS variables.
"""

import time

_t0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import boto3  # noqa: E402

ecs = boto3.client("ecs")
CLUSTERS = [c for c in os.environ.get("DEPLOY_CLUSTERS", "").split(",") if c]
IMPORT_MS = (time.perf_counter() - _t0) * 1000

# RegisterTaskDefinition accepts these fields of a DescribeTaskDefinition answer.
REGISTER_FIELDS = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
    "placementConstraints", "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode",
    "proxyConfiguration", "ephemeralStorage", "runtimePlatform", "enableFaultInjection",
)


def handler(event, context=None):
    detail = event["detail"]
    if event.get("detail-type") != "ECR Image Action" or detail.get("action-type") != "PUSH":
        return {"deployed": []}
    repository = detail["repository-name"]
    registry = f"{event['account']}.dkr.ecr.{event['region']}.amazonaws.com"
    image = f"{registry}/{repository}@{detail['image-digest']}"
    deployed = []
    for cluster in CLUSTERS:
        arns = []
        for page in ecs.get_paginator("list_services").paginate(cluster=cluster):
            arns += page["serviceArns"]
        for i in range(0, len(arns), 10):
            services = ecs.describe_services(cluster=cluster, services=arns[i:i + 10], include=["TAGS"])
            for service in services["services"]:
                tags = {t["key"]: t["value"] for t in service.get("tags", [])}
                if tags.get("rollgate:repository") != repository:
                    continue
                container = tags.get("rollgate:container")
                current = ecs.describe_task_definition(taskDefinition=service["taskDefinition"], include=["TAGS"])
                definition = current["taskDefinition"]
                new = {k: definition[k] for k in REGISTER_FIELDS if k in definition}
                for c in new["containerDefinitions"]:
                    if container is None or c["name"] == container:
                        c["image"] = image
                        if container is None:
                            break
                if current.get("tags"):
                    new["tags"] = current["tags"]
                revision = ecs.register_task_definition(**new)["taskDefinition"]["taskDefinitionArn"]
                ecs.update_service(cluster=cluster, service=service["serviceArn"], taskDefinition=revision)
                deployed.append(revision)
    return {"deployed": deployed}


def main() -> int:
    events = json.load(open(sys.argv[1]))
    if isinstance(events, dict):
        events = [events]
    latencies, deployed = [], []
    for event in events:
        t = time.perf_counter()
        deployed += handler(event)["deployed"]
        latencies.append(round((time.perf_counter() - t) * 1000, 3))
    print(json.dumps({"import_ms": round(IMPORT_MS, 3), "latencies_ms": latencies, "deployed": deployed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
