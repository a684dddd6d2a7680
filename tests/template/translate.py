#!/usr/bin/env python3
"""Transform template.yaml with the AWS SAM translator, offline, and summarise each function.

    python tests/template/translate.py [template.yaml] [--param Key=Value ...] [--cfn OUT.json]

Prints one JSON object to stdout (tests/template.rs reads it):

    {"functions": {"DeployFunction": {
        "crate": "deploy",                      # Metadata.BuildProperties.Binary, else CodeUri's last part
        "code_uri": "functions/deploy",
        "build_method": "rust-cargolambda",
        "runtime", "architectures", "handler", "memory_size", "timeout", "reserved_concurrency",
        "log_format",
        "async": {"maximum_retry_attempts", "maximum_event_age_in_seconds", "on_failure"},
        "triggers": [{"rule", "event_bus", "pattern", "schedule"}],   # EventBridge rules
        "environment": ["ROLLGATE_CLUSTERS", ...],   # variable names set on the function
        "role": "DeployFunctionRole",           # logical id of its AWS::IAM::Role
        "actions": ["ecs:ListServices", ...],  # every action an Allow statement of the role grants
        "code_actions": [...],                 # the same, less what SAM adds for Lambda itself
        "sam_added_actions": ["sqs:SendMessage"],  # what SAM added: the DLQ destination's send
        "managed_policy_arns": [...],          # e.g. AWSLambdaBasicExecutionRole (CloudWatch Logs)
        "statements": [{"policy", "sid", "effect", "action", "resource", "condition", "sam_added"}]
    }}, "parameters": [...], "outputs": [...]}

"actions" flattens every statement of the role's inline policies (and of AWS::IAM::Policy /
ManagedPolicy resources of the template attached to it); only Effect Allow counts.
Intrinsics stay as CloudFormation would see them, unless their values are known: --param
gives parameter values (defaults come from the template), and with at least one --param the
pseudo parameters are resolved too (us-east-1, account 123456789012, partition aws), so that
Fn::Split / Fn::Join / Fn::Sub expressions show the ARNs they produce.

Needs only aws-sam-translator and PyYAML (tests/template/requirements.txt); no AWS call is
made: managed policy names resolve from a fixed table instead of IAM.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

# The translator builds ARNs from the session's region; no credentials or calls are needed.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.model.exceptions import InvalidDocumentException, InvalidTemplateException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "rollgate",
    "AWS::URLSuffix": "amazonaws.com",
}

# SAM resolves managed policy *names* in a function's Policies through IAM; offline, from here.
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for path, name in [
        ("service-role/", "AWSLambdaBasicExecutionRole"),
        ("service-role/", "AWSLambdaVPCAccessExecutionRole"),
        ("", "AWSXRayDaemonWriteAccess"),
        ("", "CloudWatchLambdaInsightsExecutionRolePolicy"),
    ]
}


class OfflinePolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which lists IAM policies."""

    def load(self) -> dict[str, str]:
        return dict(MANAGED_POLICIES)


class Unknown(Exception):
    """A value that depends on something unknown offline (a parameter without value, GetAtt)."""


def resolve(node: Any, params: dict[str, Any]) -> Any:
    """Evaluates Ref, Fn::Sub, Fn::Join, Fn::Split, Fn::Select where every input is known."""
    if isinstance(node, list):
        return [resolve(n, params) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), = node.items()
        try:
            if key == "Ref":
                if arg in params:
                    return params[arg]
                raise Unknown(arg)
            if key == "Fn::Join":
                sep, items = arg[0], resolve(arg[1], params)
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    raise Unknown(key)
                return sep.join(items)
            if key == "Fn::Split":
                sep, value = arg[0], resolve(arg[1], params)
                if not isinstance(value, str):
                    raise Unknown(key)
                return value.split(sep)
            if key == "Fn::Select":
                index, items = resolve(arg[0], params), resolve(arg[1], params)
                if not isinstance(items, list) or not isinstance(items[int(index)], str):
                    raise Unknown(key)
                return items[int(index)]
            if key == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                values = {**params, **{k: resolve(v, params) for k, v in local.items()}}

                def sub(m: re.Match[str]) -> str:
                    name = m.group(1)
                    if name.startswith("!"):
                        return "${" + name[1:] + "}"
                    value = values.get(name)
                    if isinstance(value, list):
                        raise Unknown(name)  # a list parameter cannot be substituted
                    if not isinstance(value, str):
                        raise Unknown(name)
                    return value

                return re.sub(r"\$\{([^}]+)\}", sub, text)
        except (Unknown, IndexError, ValueError, TypeError):
            return node
        if key.startswith("Fn::") or key == "Ref":
            return node
    return {k: resolve(v, params) for k, v in node.items()}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Known parameter values: the template's defaults, then --param, typed like CloudFormation."""
    values: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        raw = overrides.get(name, spec.get("Default"))
        if raw is None:
            continue
        raw = str(raw)
        values[name] = raw.split(",") if "List" in str(spec.get("Type", "")) else raw
    if overrides:
        values.update(PSEUDO)
    return values


def role_statements(cfn: dict[str, Any], role_id: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """Every statement of a role: inline Policies, and template policies attached to it."""
    resources = cfn["Resources"]
    role = resources[role_id]["Properties"]
    found: list[dict[str, Any]] = []

    def add(policy_name: str, document: dict[str, Any]) -> None:
        for st in as_list(document.get("Statement", [])):
            found.append({"policy": policy_name, **st})

    for policy in role.get("Policies", []):
        add(policy.get("PolicyName", "?"), policy.get("PolicyDocument", {}))
    managed = []
    for arn in role.get("ManagedPolicyArns", []):
        # A ManagedPolicy of this template, by Ref: read its document; else keep the ARN.
        if isinstance(arn, dict) and arn.get("Ref") in resources:
            res = resources[arn["Ref"]]
            add(arn["Ref"], res["Properties"].get("PolicyDocument", {}))
        else:
            managed.append(arn)
    for logical_id, res in resources.items():
        if res.get("Type") == "AWS::IAM::Policy" and {"Ref": role_id} in res["Properties"].get("Roles", []):
            add(logical_id, res["Properties"].get("PolicyDocument", {}))
    return found, managed


def targets_function(target: dict[str, Any], logical_id: str) -> bool:
    arn = target.get("Arn")
    return isinstance(arn, dict) and arn.get("Fn::GetAtt", [None])[0] == logical_id


def triggers(cfn: dict[str, Any], logical_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The EventBridge rules that invoke the function: pattern (parsed when a JSON string) or schedule."""
    found = []
    for rule_id, res in sorted(cfn["Resources"].items()):
        props = res.get("Properties") or {}
        if res.get("Type") != "AWS::Events::Rule":
            continue
        if not any(targets_function(t, logical_id) for t in props.get("Targets", [])):
            continue
        pattern = resolve(props.get("EventPattern"), params)
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        found.append(
            {
                "rule": rule_id,
                "event_bus": props.get("EventBusName", "default"),
                "pattern": pattern,
                "schedule": resolve(props.get("ScheduleExpression"), params),
            }
        )
    return found


def async_config(cfn: dict[str, Any], logical_id: str) -> dict[str, Any] | None:
    """The function's AWS::Lambda::EventInvokeConfig: retries, event age, on-failure destination."""
    for res in cfn["Resources"].values():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Lambda::EventInvokeConfig" and props.get("FunctionName") == {"Ref": logical_id}:
            return {
                "maximum_retry_attempts": props.get("MaximumRetryAttempts"),
                "maximum_event_age_in_seconds": props.get("MaximumEventAgeInSeconds"),
                "on_failure": ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
            }
    return None


def summarise(sam: dict[str, Any], cfn: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    functions = {}
    for logical_id, res in sorted(cfn["Resources"].items()):
        if res.get("Type") != "AWS::Lambda::Function":
            continue
        props = res["Properties"]
        source = sam["Resources"].get(logical_id, {})
        metadata = source.get("Metadata") or {}
        code_uri = (source.get("Properties") or {}).get("CodeUri")
        crate = (metadata.get("BuildProperties") or {}).get("Binary")
        if crate is None and isinstance(code_uri, str):
            crate = Path(code_uri).name
        role = props.get("Role", {})
        role_id = role["Fn::GetAtt"][0] if isinstance(role, dict) and "Fn::GetAtt" in role else None
        statements, managed = role_statements(cfn, role_id) if role_id else ([], [])
        flat = []
        for st in statements:
            # SAM names the policies it writes from the function's own Policies
            # "<Function>RolePolicy<N>"; any other inline policy is SAM's own addition
            # (e.g. "<Function>EventInvokeConfigOnFailure..." style names for destinations).
            sam_added = not re.fullmatch(re.escape(logical_id) + r"RolePolicy\d+", st["policy"])
            flat.append(
                {
                    "policy": st["policy"],
                    "sid": st.get("Sid"),
                    "effect": st.get("Effect"),
                    "action": as_list(st.get("Action", [])),
                    "resource": resolve(st.get("Resource"), params),
                    "condition": resolve(st.get("Condition"), params),
                    "sam_added": sam_added,
                }
            )
        allowed = [s for s in flat if s["effect"] == "Allow"]
        functions[logical_id] = {
            "crate": crate,
            "code_uri": code_uri,
            "build_method": metadata.get("BuildMethod"),
            "runtime": props.get("Runtime"),
            "architectures": props.get("Architectures"),
            "handler": props.get("Handler"),
            "memory_size": props.get("MemorySize"),
            "timeout": props.get("Timeout"),
            "reserved_concurrency": props.get("ReservedConcurrentExecutions"),
            "log_format": (props.get("LoggingConfig") or {}).get("LogFormat"),
            "async": async_config(cfn, logical_id),
            "triggers": triggers(cfn, logical_id, params),
            "environment": sorted(((props.get("Environment") or {}).get("Variables") or {}).keys()),
            "role": role_id,
            "actions": sorted({a for s in allowed for a in s["action"]}),
            "code_actions": sorted({a for s in allowed if not s["sam_added"] for a in s["action"]}),
            "sam_added_actions": sorted({a for s in allowed if s["sam_added"] for a in s["action"]}),
            "managed_policy_arns": managed,
            "statements": flat,
        }
    return {
        "functions": functions,
        "parameters": sorted((sam.get("Parameters") or {}).keys()),
        "outputs": sorted((cfn.get("Outputs") or {}).keys()),
    }


def package_locally(sam: dict[str, Any]) -> None:
    """What `sam package` does to a local CodeUri (upload, then an S3 URI): fake the upload."""
    resources = sam.get("Resources")
    for res in resources.values() if isinstance(resources, dict) else []:
        props = (res.get("Properties") or {}) if isinstance(res, dict) else {}
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            if not props["CodeUri"].startswith("s3://"):
                props["CodeUri"] = "s3://rollgate-offline/" + props["CodeUri"].strip("./")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("template", nargs="?", default="template.yaml")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a parameter value")
    ap.add_argument("--cfn", metavar="FILE", help="also write the transformed CloudFormation JSON here")
    args = ap.parse_args()

    overrides = dict(p.split("=", 1) for p in args.param)
    sam = yaml_parse(Path(args.template).read_text(encoding="utf-8"))
    original = json.loads(json.dumps(sam))  # the translator mutates its input
    package_locally(sam)
    try:
        cfn = transform(sam, {}, OfflinePolicyLoader(), passthrough_metadata=True)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"translate.py: {args.template}: {cause.message}", file=sys.stderr)
        return 1
    except InvalidTemplateException as e:
        print(f"translate.py: {args.template}: {e.message}", file=sys.stderr)
        return 1
    if args.cfn:
        Path(args.cfn).write_text(json.dumps(cfn, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    summary = summarise(original, cfn, parameter_values(original, overrides))
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
