//! The real `deploy` binary, run the way Lambda runs it: behind a Runtime API
//! (tests/emulator/lambda_rapi.py), talking to the emulator through AWS_ENDPOINT_URL.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use support::fixtures::fixture_json;
use support::{Scenario, binary, python, root};

/// Runs the binary over the events and returns the runner's report.
fn run_lambda(s: &Scenario, binary: &str, env: &[(&str, &str)], events: &[String]) -> Value {
    let dir = std::env::temp_dir().join(format!("rollgate-{}", s.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files: Vec<PathBuf> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let path = dir.join(format!("event-{i}.json"));
            std::fs::write(&path, e).expect("write event");
            path
        })
        .collect();
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tests/emulator/lambda_rapi.py"))
        .arg("--binary")
        .arg(self::binary(binary))
        .arg("--logs")
        .arg(dir.join("logs.txt"));
    // The binary signs with its function's key: the template's policy applies.
    let key = s.register_function(binary);
    let base_env = [
        ("AWS_ENDPOINT_URL", s.em.url.as_str()),
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_MAX_ATTEMPTS", "1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    for (k, v) in base_env.iter().chain(env) {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    let out = cmd.args(&files).output().expect("run lambda_rapi.py");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "runner printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report
}

fn logs(report: &Value) -> Vec<Value> {
    let path = report["logs"].as_str().expect("logs path");
    std::fs::read_to_string(path)
        .expect("read logs")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn the_deploy_binary_serves_events_through_the_runtime_api() {
    let s = Scenario::new("rapi");
    let support::fixtures::OptedIn { cluster, repo, .. } = s.opted_in_service(vec![]);
    let digest = s.push_image(&repo, "v1");
    let push = s.push_event(&repo, &digest, "v1", "2026-11-28T10:00:00Z");
    let mut delete = fixture_json("ecr-delete.json");
    delete["detail"]["repository-name"] = json!(repo);
    let malformed = fixture_json("ecr-push-malformed.json").to_string();

    let report = run_lambda(
        &s,
        "deploy",
        &[("ROLLGATE_CLUSTERS", &cluster)],
        &[push.clone(), push, malformed, delete.to_string()],
    );
    assert_eq!(report["runner_error"], Value::Null, "{report}");
    let inv = report["invocations"].as_array().expect("invocations");
    assert_eq!(inv.len(), 4, "{report}");

    assert_eq!(inv[0]["status"], "ok", "{report}");
    assert_eq!(inv[0]["response"]["services"][0]["outcome"], "deployed");
    assert_eq!(inv[1]["response"]["services"][0]["outcome"], "skipped");
    assert_eq!(inv[2]["status"], "error");
    assert_eq!(inv[2]["error_type"], "NonRetryable");
    assert!(inv[2]["error_message"].as_str().unwrap_or("").contains("image digest"), "{report}");
    assert_eq!(inv[3]["status"], "ok");
    assert!(inv[3]["response"]["ignored"].is_string(), "{report}");

    // AWS's own view: one new revision, live on the service.
    let live = s.describe_service(&cluster, "api")["taskDefinition"].clone();
    assert_eq!(s.describe_task_definition(live.as_str().unwrap()).1["rollgate:digest"], json!(digest));
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 1);

    // Structured logs: one JSON line per decision, with cluster, service, digest and reason.
    let lines = logs(&report);
    let decision = |d: &str| lines.iter().find(|l| l["decision"] == d).cloned();
    let deployed = decision("deployed").expect("a deployed line");
    assert_eq!(deployed["cluster"], json!(cluster));
    assert_eq!(deployed["service"], "api");
    assert_eq!(deployed["digest"], json!(digest));
    let skipped = decision("skipped").expect("a skipped line");
    assert!(skipped["reason"].as_str().unwrap_or("").contains("already deployed"), "{skipped}");
    assert!(decision("rejected").is_some());
    assert!(decision("ignored").is_some());
}

#[test]
fn a_broken_configuration_fails_the_cold_start_and_calls_nothing() {
    let s = Scenario::new("rapi-config");
    let event = fixture_json("ecr-push.json").to_string();
    for env in [
        vec![],
        vec![("ROLLGATE_CLUSTERS", " , ")],
        vec![("ROLLGATE_CLUSTERS", "a"), ("ROLLGATE_MAX_IN_FLIGHT", "0")],
        vec![("ROLLGATE_CLUSTERS", "a"), ("ROLLGATE_MAX_CALL_RATE", "0")],
        vec![("ROLLGATE_CLUSTERS", "a"), ("ROLLGATE_MAX_CALL_RATE", "fast")],
        // Below the default 8 requests in flight: a request could wait 2 s of its call's 4 s.
        vec![("ROLLGATE_CLUSTERS", "a"), ("ROLLGATE_MAX_CALL_RATE", "4")],
        vec![("ROLLGATE_CLUSTERS", "a"), ("ROLLGATE_DISCOVERY", "tags")],
        vec![("ROLLGATE_CLUSTERS", "a"), ("ROLLGATE_RECONCILE_EVERY", "30s")],
        // A cron schedule has no period to spread the reconciliation over.
        vec![
            ("ROLLGATE_CLUSTERS", "a"),
            ("ROLLGATE_RECONCILE_EVERY", "30m"),
            ("ROLLGATE_RECONCILE_SCHEDULE", "cron(0/5 * * * ? *)"),
        ],
    ] {
        let report = run_lambda(&s, "deploy", &env, std::slice::from_ref(&event));
        assert_ne!(report["exit_code"], json!(0), "{report}");
        let lines = logs(&report);
        let variable = env.last().map_or("ROLLGATE_CLUSTERS", |(name, _)| *name);
        assert!(
            lines.iter().any(|l| l["error"].as_str().unwrap_or("").contains(variable)),
            "the log names the variable to fix, {variable}: {lines:?}"
        );
    }
    assert_eq!(s.calls(), vec![]);
}

#[test]
fn the_health_gate_binary_serves_events_through_the_runtime_api() {
    let s = Scenario::new("rapi-gate");
    let support::fixtures::OptedIn { cluster, base, .. } = s.opted_in_service(vec![]);
    let tick = fixture_json("scheduled-tick.json").to_string();
    let malformed = json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {}}).to_string();
    let report = run_lambda(
        &s,
        "health-gate",
        &[("ROLLGATE_CLUSTERS", &cluster), ("ROLLGATE_FULL_SWEEP_EVERY", "1m")],
        &[tick.clone(), tick.clone(), tick, malformed],
    );
    assert_eq!(report["runner_error"], Value::Null, "{report}");
    let inv = report["invocations"].as_array().expect("invocations");
    assert_eq!(inv[0]["status"], "ok", "{report}");
    assert_eq!(inv[0]["response"]["trigger"], "schedule");
    assert_eq!(inv[0]["response"]["rollouts"], json!([]), "nothing in flight: {report}");
    assert_eq!(inv[3]["error_type"], "NonRetryable", "{report}");
    // The first sweep adopts the steady pre-rollgate revision as the last known good and
    // reads ECS's service-deployment history (it holds no rollout the gate missed); the
    // second records the deployment ECS last made as read (the first record waits for a run
    // that wrote nothing else to the service's tags: that run's tag count is fresh). From then
    // on a quiet service costs two reads per tick.
    let ops: Vec<String> = s.calls().into_iter().map(|(_, op)| op).collect();
    assert_eq!(
        ops,
        [
            "ListServices",
            "DescribeServices",
            "DescribeTaskDefinition",
            "TagResource",
            "ListServiceDeployments",
            "ListServices",
            "DescribeServices",
            "ListServiceDeployments",
            "TagResource",
            "ListServices",
            "DescribeServices"
        ]
    );
    let tags = s.describe_service(&cluster, "api")["tags"].clone();
    assert!(
        tags.as_array().unwrap().iter().any(|t| t["key"] == "rollgate:last-good" && t["value"] == json!(base)),
        "{tags}"
    );
    let current = s.describe_service(&cluster, "api")["currentServiceDeployment"].as_str().unwrap().to_owned();
    let seen = tags.as_array().unwrap().iter().find(|t| t["key"] == "rollgate:seen-deployment").cloned();
    let seen = seen.unwrap_or_else(|| panic!("no seen-deployment tag: {tags}"));
    assert!(current.ends_with(seen["value"].as_str().unwrap().split('@').next().unwrap()), "{seen} vs {current}");
    assert!(logs(&report).iter().any(|l| l["decision"] == "rejected"));
}

/// A service deployed by CodeDeploy (deployment controller CODE_DEPLOY), next to an ordinary
/// one in the same cluster: the real deploy binary skips it before registering anything,
/// naming the controller, and deploys the other. Before, each push registered a revision,
/// had UpdateService refused by ECS, and deregistered it: an INACTIVE orphan per push.
#[test]
fn a_service_another_controller_deploys_is_skipped_before_anything_is_registered() {
    let s = Scenario::new("rapi-codedeploy");
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let def = s.model_task_definition("model", &repo);
    let (subnet, sg) = s.network();
    for (name, controller) in [("bluegreen", "CODE_DEPLOY"), ("rolling", "ECS")] {
        s.boto(
            "ecs",
            "create_service",
            json!({"cluster": cluster, "serviceName": name, "taskDefinition": def, "desiredCount": 1,
                   "launchType": "FARGATE", "deploymentController": {"type": controller},
                   "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}},
                   "tags": [{"key": "rollgate:repository", "value": repo}]}),
        );
    }
    let digest = s.push_image(&repo, "v1");
    let push = s.push_event(&repo, &digest, "v1", "2026-11-28T10:00:00Z");
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], &[push]);
    let services = report["invocations"][0]["response"]["services"].as_array().expect("services").clone();
    let outcome = |name: &str| services.iter().find(|o| o["service"] == name).cloned().unwrap_or_default();
    assert_eq!(outcome("rolling")["outcome"], "deployed", "{report}");
    let skipped = outcome("bluegreen");
    assert_eq!(skipped["outcome"], "skipped", "{report}");
    assert!(skipped["reason"].as_str().unwrap_or("").contains("deployment controller is CODE_DEPLOY"), "{report}");
    // AWS's view: one revision registered (the rolling service's), the blue/green service untouched.
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 1);
    assert_eq!(s.count_calls("DeregisterTaskDefinition"), 0);
    assert_eq!(s.describe_service(&cluster, "bluegreen")["taskDefinition"], json!(def));
    assert_eq!(s.revisions("model").len(), 2, "the base and the rolling service's new revision");
}

/// `docker buildx build --platform linux/amd64,linux/arm64 --push -t repo:v1`, pushed into the
/// emulator as BuildKit pushes it (two images and two attestations untagged, then the tagged
/// image index; events in the shapes of events/buildx/, all in one second). The real deploy
/// binary deploys the index once, pinned by its digest; the others deploy nothing, in either
/// order, and so do a Notation signature and a cosign signature pushed after it.
#[test]
fn a_buildx_push_deploys_its_index_once_and_nothing_else() {
    use support::fixtures::Kind;
    let s = Scenario::new("rapi-buildx");
    let support::fixtures::OptedIn { cluster, repo, base, .. } = s.opted_in_service(vec![]);
    let pushed = s.push_buildx(&repo, Some("v1"), &[("linux", "amd64"), ("linux", "arm64")], "2026-11-28T11:00:07Z");
    let index = pushed.last().expect("index").digest.clone();
    let signature = |name: &str| {
        let mut e = fixture_json(name);
        e["detail"]["repository-name"] = json!(repo);
        e.to_string()
    };
    let mut events: Vec<String> = pushed.iter().map(|p| p.event.clone()).collect();
    // The index first too: EventBridge does not keep order.
    events.insert(0, pushed.last().unwrap().event.clone());
    events.push(signature("aws-ecr-push-notation-signature.json"));
    events.push(signature("aws-ecr-push-cosign-signature.json"));
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], &events);
    let inv = report["invocations"].as_array().expect("invocations").clone();
    assert_eq!(inv.len(), events.len(), "{report}");
    let outcome = |i: usize| inv[i]["response"]["services"][0]["outcome"].as_str().unwrap_or("").to_owned();
    assert_eq!(outcome(0), "deployed", "the index: {report}");
    // The children are untagged (the service does not deploy untagged pushes); the index's
    // second delivery is already deployed.
    for (i, p) in pushed.iter().enumerate() {
        assert_eq!(outcome(i + 1), "skipped", "{:?} {}: {report}", p.kind, p.digest);
        let reason = inv[i + 1]["response"]["services"][0]["reason"].as_str().unwrap_or("").to_owned();
        let want = if p.kind == Kind::Index { "already deployed" } else { "without a tag" };
        assert!(reason.contains(want), "{:?}: {reason}", p.kind);
    }
    for answer in &inv[pushed.len() + 1..] {
        let ignored = answer["response"]["ignored"].as_str().unwrap_or("");
        assert!(ignored.contains("an artifact"), "{report}");
    }
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    let (def, tags) = s.describe_task_definition(&live);
    assert_eq!(tags["rollgate:digest"], json!(index));
    assert_eq!(tags["rollgate:manifest"], json!("index"));
    assert!(def["containerDefinitions"][0]["image"].as_str().unwrap().ends_with(&format!("@{index}")), "{def}");
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 1, "one rollout for one release");
    assert_ne!(live, base);
}

/// The multi-runner CI pattern (events/buildx-push-by-digest/): each runner pushes its
/// platform's image, attestation and per-platform index by digest, minutes apart; then
/// `imagetools create -t v1` pushes the merged index. Before, one release made three rollouts,
/// one of them arm64 on an X86_64 task. Now only the merged index deploys, also on a service
/// that deploys untagged pushes: those wait for the reconciler's grace window, and when it
/// runs the merged index is the newest release.
#[test]
fn a_push_by_digest_release_deploys_once_with_or_without_untagged_deploys() {
    let s = Scenario::new("rapi-by-digest");
    let support::fixtures::OptedIn { cluster, repo, .. } = s.opted_in_service(vec![]);
    let def = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    s.service(support::fixtures::ServiceSpec {
        cluster: &cluster,
        name: "untagged",
        task_definition: &def,
        tags: vec![("rollgate:repository", repo.clone()), ("rollgate:deploy-untagged", "true".to_owned())],
    });
    let amd = s.push_buildx(&repo, None, &[("linux", "amd64")], "2026-11-28T12:04:18Z");
    let arm = s.push_buildx(&repo, None, &[("linux", "arm64")], "2026-11-28T12:08:51Z");
    // The merge job: an index listing the four leaf manifests, tagged v1.
    let mut leaves: Vec<Value> = Vec::new();
    for (runner, architecture) in [(&amd, "amd64"), (&arm, "arm64")] {
        for p in runner.iter().filter(|p| p.kind != support::fixtures::Kind::Index) {
            let platform = match p.kind {
                support::fixtures::Kind::Image => json!({"architecture": architecture, "os": "linux"}),
                _ => json!({"architecture": "unknown", "os": "unknown"}),
            };
            leaves.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": p.digest,
                               "size": 700, "platform": platform}));
        }
    }
    let merged =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": leaves});
    let out = s.boto(
        "ecr",
        "put_image",
        json!({"repositoryName": repo, "imageManifest": merged.to_string(),
        "imageManifestMediaType": "application/vnd.oci.image.index.v1+json", "imageTag": "v1"}),
    );
    let merged_digest = out["image"]["imageId"]["imageDigest"].as_str().unwrap().to_owned();
    let mut merge_event = fixture_json("buildx-push-by-digest/07-imagetools-create-index-v1.json");
    merge_event["detail"]["repository-name"] = json!(repo);
    merge_event["detail"]["image-digest"] = json!(merged_digest);
    let mut events: Vec<String> = amd.iter().chain(&arm).map(|p| p.event.clone()).collect();
    events.push(merge_event.to_string());
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], &events);
    let inv = report["invocations"].as_array().expect("invocations").clone();
    let deployed: Vec<Value> = inv
        .iter()
        .flat_map(|i| i["response"]["services"].as_array().cloned().unwrap_or_default())
        .filter(|o| o["outcome"] == "deployed")
        .collect();
    assert_eq!(deployed.len(), 2, "the merged index, once per service: {report}");
    for name in ["api", "untagged"] {
        let live = s.describe_service(&cluster, name)["taskDefinition"].as_str().unwrap().to_owned();
        assert_eq!(s.describe_task_definition(&live).1["rollgate:digest"], json!(merged_digest), "{name}");
    }
    let waiting =
        inv[0]["response"]["services"].as_array().unwrap().iter().find(|o| o["service"] == "untagged").cloned();
    assert!(waiting.unwrap()["reason"].as_str().unwrap().contains("reconciler deploys it once"), "{report}");
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 2);
}

/// The platform check: a single-platform image for arm64, or an index without linux/amd64,
/// pushed to a service whose tasks run on X86_64 (Fargate's default) deploys nothing, with
/// both platforms named; an amd64 image then deploys. Before, ECS got a revision it could not
/// pull ("image Manifest does not contain descriptor matching platform").
#[test]
fn a_release_for_another_platform_is_refused_naming_both() {
    let s = Scenario::new("rapi-platform");
    let support::fixtures::OptedIn { cluster, repo, base, .. } = s.opted_in_service(vec![]);
    let arm = s.push_image_for(&repo, Some("v1-arm"), "linux", "arm64");
    let arm_only = s.push_buildx(&repo, Some("v1-arm-index"), &[("linux", "arm64")], "2026-11-28T10:01:00Z");
    let amd = s.push_image_for(&repo, Some("v1"), "linux", "amd64");
    let events = [
        s.push_event(&repo, &arm, "v1-arm", "2026-11-28T10:00:00Z"),
        arm_only.last().unwrap().event.clone(),
        s.push_event(&repo, &amd, "v1", "2026-11-28T10:02:00Z"),
    ];
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], &events);
    let inv = report["invocations"].as_array().expect("invocations").clone();
    for i in [0, 1] {
        let o = &inv[i]["response"]["services"][0];
        assert_eq!(o["outcome"], "skipped", "{report}");
        let reason = o["reason"].as_str().unwrap();
        assert!(reason.contains("linux/amd64") && reason.contains("linux/arm64"), "{reason}");
    }
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 1, "{report}");
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    assert_ne!(live, base);
    assert_eq!(s.describe_task_definition(&live).1["rollgate:digest"], json!(amd));
}

/// Two containers on one image (`api` and `worker` on the repository's `v0`), one of them named
/// by `rollgate:container`: the real deploy binary moves both to the pushed digest, so a task
/// never runs two versions. Before, naming `api` left `worker` on the mutable tag (and naming
/// neither failed as ambiguous).
#[test]
fn every_container_on_the_repositorys_image_moves_together() {
    let s = Scenario::new("rapi-two-containers");
    let cluster = s.cluster("c");
    let repo = s.repository("feed");
    let image = format!("{}/{repo}:v1", s.registry());
    let def = s.task_definition(
        "feed",
        json!([{"name": "api", "image": image, "essential": true},
               {"name": "worker", "image": image, "essential": true},
               {"name": "proxy", "image": "public.ecr.aws/nginx/nginx:1", "essential": false}]),
    );
    for (name, container) in [("named", Some("api")), ("unnamed", None)] {
        let mut tags = vec![("rollgate:repository", repo.clone())];
        tags.extend(container.map(|c| ("rollgate:container", c.to_owned())));
        s.service(support::fixtures::ServiceSpec { cluster: &cluster, name, task_definition: &def, tags });
    }
    let digest = s.push_image(&repo, "v2");
    let push = s.push_event(&repo, &digest, "v2", "2026-11-28T10:00:00Z");
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], &[push]);
    for name in ["named", "unnamed"] {
        let live = s.describe_service(&cluster, name)["taskDefinition"].as_str().unwrap_or_default().to_owned();
        assert_ne!(live, def, "{name}: {report}");
        let (revision, tags) = s.describe_task_definition(&live);
        let images: Vec<(String, String)> = revision["containerDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_owned(), c["image"].as_str().unwrap().to_owned()))
            .collect();
        let pinned = format!("{}/{repo}@{digest}", s.registry());
        assert_eq!(
            images,
            [
                ("api".to_owned(), pinned.clone()),
                ("worker".to_owned(), pinned),
                ("proxy".to_owned(), "public.ecr.aws/nginx/nginx:1".to_owned())
            ],
            "{name}"
        );
        assert_eq!(tags["rollgate:container"], json!("api worker"), "{name}");
    }
}

/// An image that arrives by ECR replication or by a pull through cache rule deploys like a push
/// (AWS's documented event shapes, events/aws-ecr-*-derived.json). Those events carry no media
/// types, so the real binary asks ECR: a real image deploys, a signature (an artifact by ECR's
/// own description) does not.
#[test]
fn replicated_and_pull_through_images_deploy_like_pushes() {
    let s = Scenario::new("rapi-replication");
    let support::fixtures::OptedIn { cluster, repo, .. } = s.opted_in_service(vec![]);
    let event = |fixture: &str, digest: &str, time: &str| {
        let mut e = fixture_json(fixture);
        e["id"] = json!(format!("{}-{time}", s.name));
        e["time"] = json!(time);
        e["detail"]["repository-name"] = json!(repo);
        e["detail"]["image-digest"] = json!(digest);
        e.to_string()
    };
    let replicated = s.push_image(&repo, "v1");
    let cached = s.push_image(&repo, "v2");
    let signature = s.push_artifact(&repo, "application/vnd.cncf.notary.signature", &cached);
    let events = [
        event("aws-ecr-replication-derived.json", &replicated, "2026-11-28T10:00:00Z"),
        event("aws-ecr-pull-through-cache-derived.json", &cached, "2026-11-28T10:01:00Z"),
        event("aws-ecr-replication-derived.json", &signature, "2026-11-28T10:02:00Z"),
    ];
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], &events);
    let inv = report["invocations"].as_array().expect("invocations").clone();
    for (i, digest) in [(0, &replicated), (1, &cached)] {
        assert_eq!(inv[i]["response"]["services"][0]["outcome"], "deployed", "{i}: {report}");
        let revision = inv[i]["response"]["services"][0]["revision"].as_str().unwrap().to_owned();
        assert_eq!(s.describe_task_definition(&revision).1["rollgate:digest"], json!(digest));
    }
    let ignored = inv[2]["response"]["ignored"].as_str().unwrap_or("");
    assert!(ignored.contains("application/vnd.cncf.notary.signature") || ignored.contains("referrer"), "{report}");
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    assert_eq!(s.describe_task_definition(&live).1["rollgate:digest"], json!(cached), "the signature did not deploy");
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 2);
}

/// A pre-2021 service with the short ARN (`service/<name>`, which ECS cannot tag) next to a
/// tracked one: the real deploy binary deploys the tracked one and leaves the old one alone.
/// Before, the old service's ARN failed the whole cluster, and the invocation still answered
/// success. Now a cluster that cannot be read (here: one that does not exist) fails the
/// invocation as NonRetryable, after the other clusters' work is done, so the event reaches
/// the dead-letter queue instead of passing as deployed.
#[test]
fn a_short_arn_service_never_fails_its_cluster_and_an_unreadable_cluster_fails_the_invocation() {
    let s = Scenario::new("rapi-short-arn");
    let support::fixtures::OptedIn { cluster, repo, base, .. } = s.opted_in_service(vec![]);
    s.service(support::fixtures::ServiceSpec {
        cluster: &cluster,
        name: "legacy",
        task_definition: &base,
        tags: vec![],
    });
    let legacy = s.em.make_short_arn(&cluster, "legacy");
    let short = legacy["serviceArn"].as_str().expect("serviceArn").to_owned();
    assert!(short.ends_with(":service/legacy"), "{legacy}");
    let listed = s.boto("ecs", "list_services", json!({"cluster": cluster}))["serviceArns"].clone();
    assert!(listed.as_array().unwrap().iter().any(|a| a == &json!(short)), "ECS lists the short ARN: {listed}");

    let digest = s.push_image(&repo, "v1");
    let push = s.push_event(&repo, &digest, "v1", "2026-11-28T10:00:00Z");
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], std::slice::from_ref(&push));
    let inv = &report["invocations"][0];
    assert_eq!(inv["status"], "ok", "{report}");
    let services = inv["response"]["services"].as_array().unwrap().clone();
    assert_eq!(services.len(), 1, "only the tracked service is reported: {report}");
    assert_eq!(services[0]["outcome"], "deployed", "{report}");
    assert_eq!(s.describe_service(&cluster, "legacy")["taskDefinition"], json!(base), "the old service is untouched");

    // A second cluster that cannot be read: the first one's work is done, and the invocation
    // fails as NonRetryable, naming the cluster. Only a scan reads every cluster (with the
    // index, a push describes the clusters its services are in; the reconciler's scan reports
    // a missing cluster).
    let missing = format!("{}-missing", s.name);
    let digest = s.push_image(&repo, "v2");
    let push = s.push_event(&repo, &digest, "v2", "2026-11-28T10:05:00Z");
    let clusters = format!("{cluster},{missing}");
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &clusters), ("ROLLGATE_DISCOVERY", "scan")], &[push]);
    let inv = &report["invocations"][0];
    assert_eq!(inv["status"], "error", "{report}");
    assert_eq!(inv["error_type"], "NonRetryable", "{report}");
    assert!(inv["error_message"].as_str().unwrap_or("").contains(&missing), "{report}");
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    assert_eq!(s.describe_task_definition(&live).1["rollgate:digest"], json!(digest), "the readable cluster deployed");
}

/// A service whose images come from a trusted central registry (another account,
/// ROLLGATE_TRUSTED_REGISTRIES) missed its push: the real deploy binary's reconciler reads the
/// central repository by registryId and deploys its newest release, pinned to the central
/// registry. A newer image that is archived, and a signature pushed after it, are not picked.
/// Before, the reconciler read only the service's own account and never saw the image.
#[test]
fn the_reconciler_reads_a_trusted_central_registry_and_skips_archived_images_and_referrers() {
    let central = support::iam::CENTRAL_REGISTRY;
    let s = Scenario::new("rapi-central");
    let cluster = s.cluster("c");
    let repo = format!("{}-shared", s.name);
    s.em.boto().try_call_in_account(central, "ecr", "create_repository", json!({"repositoryName": repo})).unwrap();
    let central_host = format!("{central}.dkr.ecr.us-east-1.amazonaws.com");
    let def = s.task_definition(
        "model",
        json!([{"name": "model", "image": format!("{central_host}/{repo}:v0"), "essential": true}]),
    );
    s.service(support::fixtures::ServiceSpec {
        cluster: &cluster,
        name: "api",
        task_definition: &def,
        tags: vec![("rollgate:repository", repo.clone())],
    });
    let v1 = s.push_image_in(Some(central), &repo, Some("v1"), "linux", "amd64");
    let v2 = s.push_image_in(Some(central), &repo, Some("v2"), "linux", "amd64");
    s.em.boto()
        .try_call_in_account(
            central,
            "ecr",
            "update_image_storage_class",
            json!({"repositoryName": repo, "imageId": {"imageDigest": v2}, "targetStorageClass": "ARCHIVE"}),
        )
        .unwrap();
    let signature = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.notary.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
        "layers": [], "subject": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                  "digest": v1, "size": 500}});
    s.em.boto()
        .try_call_in_account(central, "ecr", "put_image", json!({"repositoryName": repo,
            "imageManifest": signature.to_string(), "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json"}))
        .unwrap();
    let mut tick = fixture_json("scheduled-tick.json");
    tick["id"] = json!(format!("{}-tick", s.name));
    let env = [("ROLLGATE_CLUSTERS", cluster.as_str()), ("ROLLGATE_TRUSTED_REGISTRIES", central)];
    let report = run_lambda(&s, "deploy", &env, &[tick.to_string()]);
    let inv = &report["invocations"][0];
    assert_eq!(inv["response"]["services"][0]["outcome"], "deployed", "{report}");
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    let (revision, tags) = s.describe_task_definition(&live);
    assert_eq!(tags["rollgate:digest"], json!(v1), "v2 is archived, the signature is a referrer: {report}");
    assert_eq!(revision["containerDefinitions"][0]["image"], json!(format!("{central_host}/{repo}@{v1}")));
}

/// Releases that can never run, on an EC2 service whose task definition leaves the platform
/// to the host (no runtimePlatform, so no platform check): an index of attestations only, a
/// referrer (a `subject`) sent with an image's media types, and the OCI referrers-tag index
/// `sha256-<hex>`. The real deploy binary ignores all three, naming why; an arm64 image then
/// deploys (the host decides). Found by break-testing: all three went live before.
#[test]
fn what_can_never_run_is_ignored_even_where_the_platform_is_not_checked() {
    let s = Scenario::new("rapi-not-runnable");
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let def = s.register(json!({
        "family": format!("{}-ec2", s.name),
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [{"name": "model", "image": format!("{}/{repo}:v0", s.registry()),
                                  "essential": true, "memory": 512}],
    }));
    // An EC2 service: the host decides the platform.
    s.boto(
        "ecs",
        "create_service",
        json!({"cluster": cluster, "serviceName": "api", "taskDefinition": def, "desiredCount": 1,
               "launchType": "EC2", "tags": [{"key": "rollgate:repository", "value": repo}]}),
    );
    let v1 = s.push_image(&repo, "v1");
    let put = |manifest: &Value, media: &str, tag: &str| {
        let out = s.boto(
            "ecr",
            "put_image",
            json!({"repositoryName": repo, "imageManifest": manifest.to_string(),
            "imageManifestMediaType": media, "imageTag": tag}),
        );
        out["image"]["imageId"]["imageDigest"].as_str().unwrap().to_owned()
    };
    let attestation = s
        .push_buildx(&repo, None, &[("linux", "amd64")], "2026-11-28T10:00:00Z")
        .into_iter()
        .find(|p| p.kind == support::fixtures::Kind::Attestation)
        .unwrap();
    let index_type = "application/vnd.oci.image.index.v1+json";
    let attestations_only = json!({"schemaVersion": 2, "mediaType": index_type, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": attestation.digest, "size": 500,
         "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": v1},
         "platform": {"architecture": "unknown", "os": "unknown"}}]});
    let only_attestations = put(&attestations_only, index_type, "v2");
    let config = s.upload_blob(&repo, r#"{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let referrer = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 60},
        "layers": [], "subject": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": v1, "size": 500}});
    let referrer_digest = put(&referrer, "application/vnd.oci.image.manifest.v1+json", "v3");
    let referrers_index = put(
        &json!({"schemaVersion": 2, "mediaType": index_type, "manifests": []}),
        index_type,
        &format!("sha256-{}", v1.trim_start_matches("sha256:")),
    );
    let arm = s.push_image_for(&repo, Some("v4"), "linux", "arm64");
    let event = |digest: &str, tag: &str, manifest: &str, artifact: Option<&str>, time: &str| {
        let mut e: Value = serde_json::from_str(&s.push_event(&repo, digest, tag, time)).unwrap();
        e["detail"]["manifest-media-type"] = json!(manifest);
        match artifact {
            Some(a) => e["detail"]["artifact-media-type"] = json!(a),
            None => {
                e["detail"].as_object_mut().unwrap().remove("artifact-media-type");
            }
        }
        e.to_string()
    };
    let events = [
        event(&only_attestations, "v2", index_type, None, "2026-11-28T10:01:00Z"),
        event(
            &referrer_digest,
            "v3",
            "application/vnd.oci.image.manifest.v1+json",
            Some("application/vnd.oci.image.config.v1+json"),
            "2026-11-28T10:02:00Z",
        ),
        event(
            &referrers_index,
            &format!("sha256-{}", v1.trim_start_matches("sha256:")),
            index_type,
            None,
            "2026-11-28T10:03:00Z",
        ),
        s.push_event(&repo, &arm, "v4", "2026-11-28T10:04:00Z"),
    ];
    let report = run_lambda(&s, "deploy", &[("ROLLGATE_CLUSTERS", &cluster)], &events);
    let inv = report["invocations"].as_array().expect("invocations").clone();
    for (i, want) in [(0, "no runnable image"), (1, "a referrer of"), (2, "referrers index")] {
        let ignored = inv[i]["response"]["ignored"].as_str().unwrap_or("");
        assert!(ignored.contains(want), "{i}: {report}");
    }
    assert_eq!(inv[3]["response"]["services"][0]["outcome"], "deployed", "{report}");
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 1, "only the arm64 image: {report}");
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    assert_eq!(s.describe_task_definition(&live).1["rollgate:digest"], json!(arm));
}

/// The reconciler tries each service's candidates newest first and deploys the first that
/// suits it: here `v2` (amd64) whose event was lost, behind a newer `v2-arm64` the platform
/// check refuses for the X86_64 task; and, with a trusted central registry holding the same
/// repository name, behind a newer central image the service's containers do not pull. Found by
/// break-testing: before, every tick skipped (or failed on) the newest image and `v2` never
/// deployed.
#[test]
fn the_reconciler_passes_over_images_for_another_platform_or_registry() {
    let central = support::iam::CENTRAL_REGISTRY;
    let s = Scenario::new("rapi-walk");
    let support::fixtures::OptedIn { cluster, repo, .. } = s.opted_in_service(vec![]);
    s.em.boto().try_call_in_account(central, "ecr", "create_repository", json!({"repositoryName": repo})).unwrap();
    let v2 = s.push_image(&repo, "v2");
    let arm = s.push_image_for(&repo, Some("v2-arm64"), "linux", "arm64");
    let central_v3 = s.push_image_in(Some(central), &repo, Some("v3"), "linux", "amd64");
    let now = chrono::Utc::now().timestamp();
    s.em.set_pushed_at(&repo, &v2, now - 120);
    s.em.set_pushed_at(&repo, &arm, now - 60);
    let mut tick = fixture_json("scheduled-tick.json");
    tick["id"] = json!(format!("{}-tick", s.name));
    let env = [("ROLLGATE_CLUSTERS", cluster.as_str()), ("ROLLGATE_TRUSTED_REGISTRIES", central)];
    let report = run_lambda(&s, "deploy", &env, &[tick.to_string()]);
    let outcome = &report["invocations"][0]["response"]["services"][0];
    assert_eq!(outcome["outcome"], "deployed", "{report}");
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    assert_eq!(
        s.describe_task_definition(&live).1["rollgate:digest"],
        json!(v2),
        "not {arm} nor {central_v3}: {report}"
    );
}

/// A trusted registry the deploy role cannot read (here: an account its policy does not name,
/// as a central repository whose policy does not share it would be) does not stop the
/// service's own missed release: the reconciler deploys it, then fails the invocation as
/// NonRetryable naming the registry, so the misconfiguration reaches the dead-letter queue.
/// Found by break-testing: before, every service failed on every tick and nothing deployed.
#[test]
fn an_unreadable_trusted_registry_is_reported_and_the_own_release_still_deploys() {
    let s = Scenario::new("rapi-unreadable-registry");
    let support::fixtures::OptedIn { cluster, repo, .. } = s.opted_in_service(vec![]);
    let v1 = s.push_image(&repo, "v1");
    let mut tick = fixture_json("scheduled-tick.json");
    tick["id"] = json!(format!("{}-tick", s.name));
    let env = [("ROLLGATE_CLUSTERS", cluster.as_str()), ("ROLLGATE_TRUSTED_REGISTRIES", "111122223333")];
    let report = run_lambda(&s, "deploy", &env, &[tick.to_string()]);
    let inv = &report["invocations"][0];
    assert_eq!(inv["error_type"], "NonRetryable", "{report}");
    let message = inv["error_message"].as_str().unwrap_or("");
    assert!(message.contains("111122223333") && message.contains("repository policy"), "{report}");
    let live = s.describe_service(&cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
    assert_eq!(s.describe_task_definition(&live).1["rollgate:digest"], json!(v1), "{report}");
}

// ---------------------------------------------------------------------------------------
// The gate against what ECS does on its own (#15), with the real deploy and health-gate
// binaries. ECS's refusals are the emulator's (an INACTIVE revision, a deleted one); ECS's
// moves are its circuit breaker and an autoscaling UpdateService, as AWS makes them.
// ---------------------------------------------------------------------------------------

/// One opted-in service whose pre-rollgate revision is adopted as the last known good, and
/// a queue that receives every verdict rollgate publishes.
struct OnEcs {
    s: Scenario,
    o: support::fixtures::OptedIn,
    queue: String,
    events: usize,
}

impl OnEcs {
    fn new(name: &str) -> Self {
        Self::build(name, false, false)
    }

    /// With a pre-rollgate revision that names its image by the mutable tag `latest`, as many
    /// hand-made ones do (its image is tagged `latest` in ECR).
    fn on_latest(name: &str) -> Self {
        Self::build(name, false, true)
    }

    /// With a pre-rollgate revision that names the app's task and execution roles, as real
    /// ones do: a copy of it passes them to ECS (`iam:PassRole`).
    fn with_roles(name: &str) -> Self {
        Self::build(name, true, false)
    }

    fn build(name: &str, roles: bool, latest: bool) -> Self {
        let s = Scenario::new(name);
        let o = if latest {
            let cluster = s.cluster("c");
            let repo = s.repository("model");
            let plain = s.model_task_definition("model", &repo);
            let image =
                s.describe_task_definition(&plain).0["containerDefinitions"][0]["image"].as_str().unwrap().to_owned();
            let (name, digest) = image.rsplit_once('@').unwrap();
            let got = s.boto(
                "ecr",
                "batch_get_image",
                json!({"repositoryName": repo, "imageIds": [{"imageDigest": digest}]}),
            );
            let manifest = &got["images"][0];
            s.boto(
                "ecr",
                "put_image",
                json!({"repositoryName": repo, "imageManifest": manifest["imageManifest"],
                       "imageManifestMediaType": manifest["imageManifestMediaType"], "imageTag": "latest"}),
            );
            let base = s.task_definition(
                "model",
                json!([{"name": "model", "image": format!("{name}:latest"), "essential": true,
                        "portMappings": [{"containerPort": 8080}]}]),
            );
            let tags = vec![("rollgate:repository", repo.clone())];
            let arn = s.service(support::ServiceSpec { cluster: &cluster, name: "api", task_definition: &base, tags });
            support::fixtures::OptedIn { cluster, repo, base, arn }
        } else if roles {
            let cluster = s.cluster("c");
            let repo = s.repository("model");
            let plain = s.model_task_definition("model", &repo);
            let mut def = s.describe_task_definition(&plain).0;
            let def = def.as_object_mut().unwrap();
            let base = s.register(json!({
                "family": def["family"], "containerDefinitions": def["containerDefinitions"],
                "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512",
                "taskRoleArn": format!("arn:aws:iam::123456789012:role/{}-task", s.name),
                "executionRoleArn": format!("arn:aws:iam::123456789012:role/{}-exec", s.name),
            }));
            let tags = vec![("rollgate:repository", repo.clone())];
            let arn = s.service(support::ServiceSpec { cluster: &cluster, name: "api", task_definition: &base, tags });
            support::fixtures::OptedIn { cluster, repo, base, arn }
        } else {
            s.opted_in_service(vec![])
        };
        let queue = s.event_queue("verdicts", &json!({"source": ["rollgate"], "detail": {"cluster": [o.cluster]}}));
        let mut t = Self { s, o, queue, events: 0 };
        let first = t.started(&t.o.base.clone());
        let adopted = t.gate(&[t.tick(first)]);
        assert_eq!(adopted[0]["rollouts"], json!([]), "{adopted:?}");
        assert_eq!(t.service_tags()["rollgate:last-good"], json!(t.o.base));
        t
    }

    /// Pushes `tag` and runs the real deploy binary on its event; returns the new revision.
    fn deploy(&mut self, tag: &str) -> String {
        let digest = self.s.push_image(&self.o.repo, tag);
        self.events += 1;
        let event = self.s.push_event(&self.o.repo, &digest, tag, &format!("2026-11-28T{:02}:00:00Z", 8 + self.events));
        let report = run_lambda(&self.s, "deploy", &[("ROLLGATE_CLUSTERS", &self.o.cluster)], &[event]);
        let outcome = &report["invocations"][0]["response"]["services"][0];
        assert_eq!(outcome["outcome"], "deployed", "{report}");
        outcome["revision"].as_str().unwrap().to_owned()
    }

    /// Runs the real health-gate binary over `events`; returns each invocation's report.
    fn gate(&mut self, events: &[Value]) -> Vec<Value> {
        let events: Vec<String> = events.iter().map(Value::to_string).collect();
        // Every tick a full sweep: these tests are about verdicts (tests/fleet.rs: discovery).
        let env = [("ROLLGATE_CLUSTERS", self.o.cluster.as_str()), ("ROLLGATE_FULL_SWEEP_EVERY", "1m")];
        let report = run_lambda(&self.s, "health-gate", &env, &events);
        report["invocations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                assert_eq!(i["status"], "ok", "{report}");
                i["response"].clone()
            })
            .collect()
    }

    fn service(&self) -> Value {
        self.s.describe_service(&self.o.cluster, "api")
    }

    fn live(&self) -> String {
        self.service()["taskDefinition"].as_str().unwrap().to_owned()
    }

    fn service_tags(&self) -> serde_json::Map<String, Value> {
        self.s.service_tags(&self.o.cluster, "api")
    }

    fn state(&self, revision: &str) -> String {
        self.s.revision_state(revision)
    }

    fn deployment(&self, revision: &str) -> Value {
        self.service()["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["taskDefinition"] == json!(revision))
            .max_by_key(|d| d["createdAt"].as_str().unwrap_or("").to_owned())
            .cloned()
            .unwrap_or_else(|| panic!("no deployment of {revision}"))
    }

    fn started(&self, revision: &str) -> chrono::DateTime<chrono::Utc> {
        let created = self.deployment(revision)["createdAt"].as_str().unwrap().to_owned();
        chrono::DateTime::parse_from_rfc3339(&created).unwrap().with_timezone(&chrono::Utc)
    }

    fn force(&self, state: &str, extra: Value) {
        let mut body = json!({"cluster": self.o.cluster, "service": "api", "state": state});
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        self.s.em.force_rollout(body);
    }

    fn at(t: chrono::DateTime<chrono::Utc>) -> String {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn tick(&self, at: chrono::DateTime<chrono::Utc>) -> Value {
        let mut e = fixture_json("scheduled-tick.json");
        e["id"] = json!(format!("{}-tick-{}", self.s.name, at.timestamp()));
        e["time"] = json!(Self::at(at));
        e
    }

    fn deployment_event(&self, name: &str, revision: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
        let id = format!("{}-{name}-{}", self.s.name, at.timestamp());
        let deployment = self.deployment(revision)["id"].clone();
        serde_json::from_str(&self.s.deployment_event(&id, name, &self.o.arn, &deployment, &Self::at(at)).to_string())
            .unwrap()
    }

    fn oom(&self, revision: &str, task: u64, at: chrono::DateTime<chrono::Utc>) -> Value {
        self.s.task_stopped_event("ecs-task-stopped-oom.json", &self.o.cluster, "api", revision, task, &Self::at(at))
    }

    /// The detail-types rollgate published, in order.
    fn published(&self) -> Vec<(String, Value)> {
        self.s
            .drain_queue(&self.queue)
            .into_iter()
            .map(|e| (e["detail-type"].as_str().unwrap().to_owned(), e["detail"].clone()))
            .collect()
    }

    /// The health gate's own UpdateService calls so far.
    fn gate_updates(&self) -> usize {
        self.gate_calls("UpdateService")
    }

    fn gate_calls(&self, operation: &str) -> usize {
        let key = self.s.function_key("health-gate");
        self.s.em.calls(&key).iter().filter(|(_, op)| op == operation).count()
    }

    /// Deploys `tag` and takes it to COMPLETED (the gate starts the bake); returns the revision
    /// and when its deployment started.
    fn deploy_and_complete(&mut self, tag: &str) -> (String, chrono::DateTime<chrono::Utc>) {
        let revision = self.deploy(tag);
        let t0 = self.started(&revision);
        self.force("COMPLETED", json!({}));
        let r = self.gate(&[self.deployment_event(
            "SERVICE_DEPLOYMENT_COMPLETED",
            &revision,
            t0 + chrono::Duration::minutes(2),
        )]);
        assert_eq!(verdicts_of(&r[0]), ["baking"], "{r:?}");
        (revision, t0)
    }
}

fn verdicts_of(report: &Value) -> Vec<String> {
    report["rollouts"].as_array().unwrap().iter().map(|r| r["verdict"].as_str().unwrap().to_owned()).collect()
}

/// Case 1: v1 completes; OOM kills in the bake make the gate roll back to the last known good;
/// that rollback's deployment fails and ECS's circuit breaker returns the service to v1. The
/// rollback is followed: `rollback-failed`, one `Rollback Failed`, and never a second
/// rollback, however many times ECS reports and the schedule sweeps.
#[test]
fn a_rollback_that_ecs_undoes_is_reported_once_and_never_repeated() {
    let mut t = OnEcs::new("rapi-pingpong");
    let (v1, t0) = t.deploy_and_complete("v1");
    let min = chrono::Duration::minutes;
    let r = t.gate(&[t.oom(&v1, 1, t0 + min(3)), t.oom(&v1, 2, t0 + min(3)), t.oom(&v1, 3, t0 + min(4))]);
    assert_eq!(verdicts_of(&r[2]), ["rolling-back"], "{r:?}");
    assert_eq!(t.live(), t.o.base);
    assert_eq!(t.gate_updates(), 1);

    // The base revision's tasks now crash on start: ECS's circuit breaker fails its deployment
    // and goes back to the last deployment that completed, v1's.
    t.force("FAILED", json!({"rollback": true, "reason": "ECS deployment circuit breaker: tasks failed to start."}));
    assert_eq!(t.live(), v1, "ECS put v1 back");
    let failed_event = t.deployment_event("SERVICE_DEPLOYMENT_FAILED", &t.o.base.clone(), t0 + min(6));
    let r =
        t.gate(&[failed_event.clone(), t.tick(t0 + min(7)), failed_event, t.tick(t0 + min(30)), t.tick(t0 + min(90))]);
    assert_eq!(verdicts_of(&r[0]), ["rollback-failed"], "{r:?}");
    for later in &r[1..] {
        assert_eq!(later["rollouts"], json!([]), "left for a person: {later}");
    }
    // What AWS shows: v1 runs, marked rollback-failed with both reasons; one rollback only.
    assert_eq!(t.live(), v1);
    assert_eq!(t.state(&v1), "rollback-failed");
    let tags = t.s.describe_task_definition(&v1).1;
    let text = |k: &'static str| rollgate_core::tags::decode_or_stored(k, tags[k].as_str().unwrap());
    assert!(text("rollgate:rollback-reason").contains("did not hold"), "{tags:?}");
    assert_eq!(text("rollgate:reason"), "3 tasks OOM-killed at 512 MiB: raise memory");
    assert!(!t.service_tags().contains_key("rollgate:rollback"));
    assert_eq!(t.gate_updates(), 1, "at most one automatic rollback per failed rollout");
    let published: Vec<String> = t.published().into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(published, ["Rollout Started", "Rollout Rolled Back", "Rollback Failed"]);
}

/// Case 2: the last known good was deregistered by housekeeping. ECS refuses an INACTIVE
/// revision, so the gate rolls back to a fresh copy of it, once, and the copy becomes the
/// last known good. When even the copy is impossible (the revision was deleted), the verdict
/// says why, once.
#[test]
fn a_deregistered_rollback_target_is_copied_and_a_deleted_one_is_said_once() {
    let mut t = OnEcs::with_roles("rapi-inactive");
    let v1 = t.deploy("v1");
    let t0 = t.started(&v1);
    t.s.boto("ecs", "deregister_task_definition", json!({"taskDefinition": t.o.base}));
    t.force("FAILED", json!({"reason": "tasks failed to start"}));
    let min = chrono::Duration::minutes;
    let r = t.gate(&[t.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, t0 + min(2))]);
    assert_eq!(verdicts_of(&r[0]), ["rolling-back"], "{r:?}");
    let copy = t.live();
    assert_ne!(copy, t.o.base, "never the INACTIVE revision itself");
    let (def, tags) = t.s.describe_task_definition(&copy);
    assert_eq!(def["status"], "ACTIVE");
    assert_eq!(tags["rollgate:copy-of"], json!(t.o.base));
    let base_def = t.s.describe_task_definition(&t.o.base).0;
    assert_eq!(def["containerDefinitions"][0]["image"], base_def["containerDefinitions"][0]["image"]);
    assert_eq!(def["taskRoleArn"], base_def["taskRoleArn"], "the copy keeps the roles");
    assert_eq!(def["executionRoleArn"], base_def["executionRoleArn"]);
    assert_eq!(t.s.describe_task_definition(&v1).1["rollgate:rollback-to"], json!(copy));
    // ECS completes it: settled, and the copy is the last known good. Nothing is copied twice.
    t.force("COMPLETED", json!({}));
    let r = t.gate(&[t.tick(t0 + min(4)), t.tick(t0 + min(5))]);
    assert_eq!(verdicts_of(&r[0]), ["rolled-back"], "{r:?}");
    assert_eq!(t.state(&v1), "rolled-back");
    assert_eq!(t.service_tags()["rollgate:last-good"], json!(copy));
    assert_eq!(t.gate_calls("RegisterTaskDefinition"), 1);

    // v2 completes, then fails in its bake; meanwhile its target (the copy) was deregistered
    // and deleted (DeleteTaskDefinitions): nothing uses it any more, so ECS no longer has it.
    let (v2, t2) = t.deploy_and_complete("v2");
    t.s.boto("ecs", "deregister_task_definition", json!({"taskDefinition": copy}));
    let deleted = t.s.boto("ecs", "delete_task_definitions", json!({"taskDefinitions": [copy]}));
    assert_eq!(deleted["failures"], json!([]), "{deleted}");
    let updates = t.gate_updates();
    let r = t.gate(&[
        t.oom(&v2, 1, t2 + min(3)),
        t.oom(&v2, 2, t2 + min(3)),
        t.oom(&v2, 3, t2 + min(3)),
        t.tick(t2 + min(4)),
        t.oom(&v2, 4, t2 + min(5)),
        t.tick(t2 + min(60)),
    ]);
    let r = r[2..].to_vec();
    assert_eq!(verdicts_of(&r[0]), ["rollback-failed"], "{r:?}");
    assert!(r[0]["rollouts"][0]["detail"].as_str().unwrap().contains("ECS no longer has that revision"), "{r:?}");
    for later in &r[1..] {
        assert_eq!(later["rollouts"], json!([]), "said once: {later}");
    }
    assert_eq!(t.gate_updates(), updates, "no refused UpdateService, no retries");
    assert_eq!(t.live(), v2);
    assert_eq!(t.state(&v2), "rollback-failed");
    let published: Vec<String> = t.published().into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(published, ["Rollout Rolled Back", "Rollout Started", "Rollback Failed"]);
}

/// A rollback target whose image is gone from ECR (deleted by hand or by a lifecycle rule):
/// ECS would fail every task with CannotPullContainerError, so the gate does not roll back to
/// it and says why, once.
#[test]
fn a_rollback_target_whose_image_is_gone_is_said_once() {
    let mut t = OnEcs::new("rapi-imagegone");
    let v1 = t.deploy("v1");
    let t0 = t.started(&v1);
    let digest = t.s.describe_task_definition(&t.o.base).0["containerDefinitions"][0]["image"]
        .as_str()
        .unwrap()
        .rsplit_once('@')
        .unwrap()
        .1
        .to_owned();
    t.s.boto("ecr", "batch_delete_image", json!({"repositoryName": t.o.repo, "imageIds": [{"imageDigest": digest}]}));
    t.force("FAILED", json!({"reason": "tasks failed to start"}));
    let min = chrono::Duration::minutes;
    let r = t.gate(&[t.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, t0 + min(2)), t.tick(t0 + min(3))]);
    assert_eq!(verdicts_of(&r[0]), ["rollback-failed"], "{r:?}");
    assert!(r[0]["rollouts"][0]["detail"].as_str().unwrap().contains("no longer exists in ECR"), "{r:?}");
    assert_eq!(r[1]["rollouts"], json!([]));
    assert_eq!(t.gate_updates(), 0);
    let published = t.published();
    assert_eq!(published.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["Rollback Failed"]);
    let detail = &published[0].1;
    assert!(detail["reason"].as_str().unwrap().starts_with("cannot roll back to"), "{detail}");
    assert!(detail["rollout_reason"].as_str().unwrap().contains("tasks failed to start"), "{detail}");
}

/// A pre-rollgate revision names its image by `repo:latest`, and the push that failed moved
/// `latest`. ECS resolves a tag when a deployment starts, so a rollback to that revision would
/// deploy the failed image again and call it rolled back. The gate does not: it says why,
/// once, and leaves the service for a person.
#[test]
fn a_rollback_target_whose_tag_now_names_the_failed_image_is_said_once() {
    let mut t = OnEcs::on_latest("rapi-latest");
    let v1 = t.deploy("latest");
    let t0 = t.started(&v1);
    t.force("FAILED", json!({"reason": "tasks failed to start"}));
    let min = chrono::Duration::minutes;
    let r = t.gate(&[t.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, t0 + min(2)), t.tick(t0 + min(3))]);
    assert_eq!(verdicts_of(&r[0]), ["rollback-failed"], "{r:?}");
    let detail = r[0]["rollouts"][0]["detail"].as_str().unwrap();
    assert!(detail.contains(":latest now names") && detail.contains("a failed image"), "{detail}");
    assert_eq!(r[1]["rollouts"], json!([]), "said once");
    assert_eq!(t.gate_updates(), 0, "no rollback that would deploy the failed image again");
    assert_eq!(t.live(), v1);
    assert_eq!(t.state(&v1), "rollback-failed");
    let published = t.published();
    assert_eq!(published.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["Rollback Failed"]);
}

/// Case 3: the rollout completed at 2/2; near the end of the bake autoscaling raises the
/// desired count to 4 (UpdateService desiredCount, as Application Auto Scaling calls it) and
/// the new tasks are still loading the model. Not a failure: the gate waits, and the rollout
/// is healthy once they run.
#[test]
fn a_scale_out_at_the_end_of_the_bake_is_not_a_failure() {
    let mut t = OnEcs::new("rapi-scaleout");
    let (v1, t0) = t.deploy_and_complete("v1");
    t.s.boto("ecs", "update_service", json!({"cluster": t.o.cluster, "service": "api", "desiredCount": 4}));
    let d = t.deployment(&v1);
    assert_eq!((d["desiredCount"].as_i64(), d["runningCount"].as_i64()), (Some(4), Some(2)), "{d}");
    let min = chrono::Duration::minutes;
    let r = t.gate(&[t.tick(t0 + min(8)), t.tick(t0 + min(12))]);
    for report in &r {
        assert_eq!(verdicts_of(report), ["waiting"], "{report}");
        assert!(report["rollouts"][0]["detail"].as_str().unwrap().contains("2/4"), "{report}");
    }
    assert_eq!(t.state(&v1), "baking");
    // The grace for the missing tasks runs from the gate's first sight of 2/4, recorded once
    // on the revision (read through boto3), not from the bake's end.
    let first_short = t.s.describe_task_definition(&v1).1["rollgate:short-since"].clone();
    assert_eq!(first_short, json!(format!("4@{}", (t0 + min(8)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))));
    // The new tasks start.
    t.force("COMPLETED", json!({"runningCount": 4}));
    let r = t.gate(&[t.tick(t0 + min(13))]);
    assert_eq!(verdicts_of(&r[0]), ["healthy"], "{r:?}");
    assert_eq!(t.gate_updates(), 0, "never rolled back");
    let tags = t.service_tags();
    assert_eq!(tags["rollgate:last-good"], json!(v1));
    assert!(!tags.keys().any(|k| k.starts_with("rollgate:failed:")), "{tags:?}");
}

/// Counts over a night: a rollout short after its bake is scaled to zero, then hours later
/// back to the same count (a nightly scale-to-zero). The scale-up's tasks get a grace of their
/// own instead of the shortfall seen before the night failing the rollout on the first look.
/// Then autoscaling flaps between 4 and 3 with a task always short: only a count above the
/// highest recorded starts the grace again, so the flapping ends in one verdict, said once.
#[test]
fn a_night_at_zero_is_no_failure_and_a_flapping_count_is_not_waited_on_forever() {
    let mut t = OnEcs::new("rapi-night");
    let (v1, t0) = t.deploy_and_complete("v1");
    let min = chrono::Duration::minutes;
    let scale = |t: &OnEcs, desired: i64| {
        t.s.boto("ecs", "update_service", json!({"cluster": t.o.cluster, "service": "api", "desiredCount": desired}));
    };
    let short_since = |t: &OnEcs| t.s.describe_task_definition(&v1).1["rollgate:short-since"].clone();
    let stamp = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    scale(&t, 3);
    assert_eq!(verdicts_of(&t.gate(&[t.tick(t0 + min(8))])[0]), ["waiting"]);
    assert_eq!(short_since(&t), json!(format!("3@{}", stamp(t0 + min(8)))));
    scale(&t, 0);
    assert_eq!(verdicts_of(&t.gate(&[t.tick(t0 + min(10))])[0]), ["waiting"]);
    assert_eq!(short_since(&t), json!(format!("0@{}", stamp(t0 + min(10)))), "the night at zero is recorded");
    scale(&t, 3);
    let r = t.gate(&[t.tick(t0 + min(600)), t.tick(t0 + min(610))]);
    for report in &r {
        assert_eq!(verdicts_of(report), ["waiting"], "{report}");
    }
    assert_eq!(short_since(&t), json!(format!("3@{}", stamp(t0 + min(600)))));
    // Flapping: 4 (beyond 3: a new grace), 3 (kept), 4 (kept), one task always short.
    scale(&t, 4);
    assert_eq!(verdicts_of(&t.gate(&[t.tick(t0 + min(612))])[0]), ["waiting"]);
    scale(&t, 3);
    assert_eq!(verdicts_of(&t.gate(&[t.tick(t0 + min(620))])[0]), ["waiting"]);
    scale(&t, 4);
    assert_eq!(short_since(&t), json!(format!("4@{}", stamp(t0 + min(612)))), "flapping keeps the record");
    let r = t.gate(&[t.tick(t0 + min(612 + 16)), t.tick(t0 + min(612 + 17))]);
    assert_eq!(verdicts_of(&r[0]), ["rolling-back"], "{r:?}");
    assert!(r[0]["rollouts"][0]["detail"].as_str().unwrap().contains("/4 tasks running"), "{r:?}");
    let kinds: Vec<String> = t.published().into_iter().map(|(k, _)| k).filter(|k| k != "Rollout Started").collect();
    assert_eq!(kinds, ["Rollout Rolled Back"], "said once");
}

/// The revision's 50 tags: a person tagged v1 up to 49 after it was registered, and
/// autoscaling left it short after the bake. The shortfall's record does not take the last
/// tag (it keeps room for the verdict), and the healthy verdict lands once, said once, instead
/// of a write ECS refuses ("Too many tags") and a `Rollout Healthy` on every run. (Found by a
/// break test.)
#[test]
fn a_revision_a_person_tagged_to_the_limit_still_takes_one_verdict() {
    let mut t = OnEcs::new("rapi-tag-room");
    let (v1, t0) = t.deploy_and_complete("v1");
    let have = t.s.describe_task_definition(&v1).1.len();
    let extra: Vec<Value> = (0..(49 - have)).map(|i| json!({"key": format!("team:{i}"), "value": "ml"})).collect();
    t.s.boto("ecs", "tag_resource", json!({"resourceArn": v1, "tags": extra}));
    assert_eq!(t.s.describe_task_definition(&v1).1.len(), 49);
    t.s.boto("ecs", "update_service", json!({"cluster": t.o.cluster, "service": "api", "desiredCount": 4}));
    let min = chrono::Duration::minutes;
    let r = t.gate(&[t.tick(t0 + min(8))]);
    assert_eq!(verdicts_of(&r[0]), ["waiting"], "{r:?}");
    assert!(!t.s.describe_task_definition(&v1).1.contains_key("rollgate:short-since"), "no room kept for it");
    t.force("COMPLETED", json!({"runningCount": 4}));
    let r = t.gate(&[t.tick(t0 + min(9)), t.tick(t0 + min(10)), t.tick(t0 + min(11))]);
    assert_eq!(verdicts_of(&r[0]), ["healthy"], "{r:?}");
    let tags = t.s.describe_task_definition(&v1).1;
    assert_eq!(tags.len(), 50, "{tags:?}");
    assert_eq!(t.state(&v1), "healthy");
    let published: Vec<String> = t.published().into_iter().map(|(k, _)| k).collect();
    assert_eq!(published.iter().filter(|k| *k == "Rollout Healthy").count(), 1, "{published:?}");
    assert_eq!(t.service_tags()["rollgate:last-good"], json!(v1));
}

/// The fourth instance: v1 completed and was baking when v2 superseded it; v2 fails and
/// ECS's circuit breaker goes back to the last deployment that completed, v1's. ECS chose
/// the revision that runs: the gate follows ECS's rollback, then judges v1 like any rollout
/// (here healthy) instead of leaving it `superseded` forever.
#[test]
fn a_superseded_revision_that_ecs_puts_back_is_judged() {
    let mut t = OnEcs::new("rapi-superseded");
    let (v1, t0) = t.deploy_and_complete("v1");
    let v2 = t.deploy("v2");
    let min = chrono::Duration::minutes;
    let r = t.gate(&[t.tick(t0 + min(4))]);
    assert!(verdicts_of(&r[0]).contains(&"superseded".to_owned()), "{r:?}");
    t.force("FAILED", json!({"rollback": true, "reason": "ECS deployment circuit breaker: tasks failed to start."}));
    assert_eq!(t.live(), v1, "ECS went back to v1");
    let r = t.gate(&[t.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v2, t0 + min(5))]);
    // v2: ECS's rollback, followed. v1: ECS runs it again, so it is judged (its deployment
    // is in progress).
    assert_eq!(verdicts_of(&r[0]), ["waiting", "rolling-back"], "{r:?}");
    assert_eq!(r[0]["rollouts"][0]["revision"], json!(v1));
    assert_eq!(t.gate_updates(), 0, "no second rollback on top of ECS's");
    // An abnormal stop while ECS puts it back counts against it (still marked superseded).
    assert_eq!(t.state(&v1), "superseded");
    t.gate(&[t.oom(&v1, 7, t0 + min(5))]);
    let tags = t.s.describe_task_definition(&v1).1;
    assert!(tags.keys().any(|k| k.starts_with("rollgate:bad-task:")), "{tags:?}");
    t.force("COMPLETED", json!({}));
    let r = t.gate(&[t.tick(t0 + min(6)), t.tick(t0 + min(12))]);
    assert_eq!(verdicts_of(&r[0]), ["rolled-back", "baking"], "{r:?}");
    assert_eq!(verdicts_of(&r[1]), ["healthy"], "{r:?}");
    assert_eq!(t.state(&v1), "healthy");
    assert_eq!(t.state(&v2), "rolled-back");
    assert_eq!(t.service_tags()["rollgate:last-good"], json!(v1));
}
