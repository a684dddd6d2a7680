#!/usr/bin/env python3
"""A stand-in Lambda "binary" for checking lambda_rapi.py (stdlib only).

It speaks the Runtime API like the lambda_runtime crate does, over one
keep-alive HTTP/1.1 connection. What it does with each event depends on the
event's "action" field:

* absent / "echo": answers {"echo": <event>, "request_id", "function_arn",
  "deadline_ms", "env": {selected environment variables}}
* "chunked": the same answer, sent with Transfer-Encoding: chunked
* "fail":  reports an invocation error (errorType "FakeError")
* "crash": exits with status 3 without answering
* "hang":  never answers (to trigger the invocation timeout)

With FAKE_LAMBDA_INIT_ERROR=1 in its environment it reports an init error
and exits instead of polling for events.
"""

import http.client
import json
import os
import sys
import threading

API = "/2018-06-01/runtime"
CONNECTION = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
REPORTED_ENV = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_REGION",
    "_HANDLER",
    "FAKE_LAMBDA_EXTRA",
)


def request(method: str, path: str, body=None, headers: dict | None = None,
            chunked: bool = False) -> http.client.HTTPResponse:
    CONNECTION.request(method, f"{API}{path}", body=body, headers=headers or {},
                       encode_chunked=chunked)
    response = CONNECTION.getresponse()
    response.body = response.read()  # drain it so the connection can be reused
    return response


def post(path: str, document: dict, headers: dict | None = None, chunked: bool = False) -> None:
    body = json.dumps(document).encode()
    if chunked:
        body = iter([body[: len(body) // 2], body[len(body) // 2:]])
    response = request("POST", path, body, {"Content-Type": "application/json", **(headers or {})},
                       chunked)
    assert response.status == 202, (response.status, response.body)


def main() -> None:
    print("fake lambda starting", flush=True)
    if os.environ.get("FAKE_LAMBDA_INIT_ERROR") == "1":
        post("/init/error", {"errorType": "FakeInitError", "errorMessage": "init failed on purpose"},
             {"Lambda-Runtime-Function-Error-Type": "FakeInitError"})
        sys.exit(1)
    while True:
        response = request("GET", "/invocation/next")
        event = json.loads(response.body)
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        arn = response.headers["Lambda-Runtime-Invoked-Function-Arn"]
        deadline = int(response.headers["Lambda-Runtime-Deadline-Ms"])
        assert response.headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
        action = event.get("action", "echo") if isinstance(event, dict) else "echo"
        print(f"event {request_id}: {action}", flush=True)
        if action == "crash":
            sys.exit(3)
        if action == "hang":
            threading.Event().wait()  # blocks until the runner kills us
        if action == "fail":
            post(f"/invocation/{request_id}/error",
                 {"errorType": "FakeError", "errorMessage": "failed on purpose"},
                 {"Lambda-Runtime-Function-Error-Type": "FakeError"})
            continue
        post(f"/invocation/{request_id}/response", {
            "echo": event,
            "request_id": request_id,
            "function_arn": arn,
            "deadline_ms": deadline,
            "env": {name: os.environ.get(name) for name in REPORTED_ENV},
        }, chunked=action == "chunked")


if __name__ == "__main__":
    main()
