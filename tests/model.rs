//! Continuous model updating against the emulator: uploads start builds (once), failed
//! builds notify, the reconciler catches missed pushes, and lineage reaches the ledger.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration as StdDuration;

use model_build::handler::handle as model_handle;
use rollgate_aws::codebuild::CodeBuild;
use rollgate_aws::ecr::Ecr;
use rollgate_aws::ecs::Ecs;
use rollgate_aws::eventbridge::EventBridge;
use rollgate_core::ErrorClass;
use rollgate_core::config::DeployConfig;
use rollgate_core::config::ModelConfig;
use rollgate_core::filter::TagFilter;
use rollgate_core::report::{DeployReport, Outcome};
use serde_json::{Value, json};
use support::fixtures::fixture_json;
use support::{Scenario, ServiceSpec, python};

fn project(s: &Scenario) -> String {
    let name = format!("{}-image-build", s.name);
    s.boto(
        "codebuild",
        "create_project",
        json!({"name": name, "source": {"type": "NO_SOURCE", "buildspec": rollgate_core::buildspec::BUILDSPEC},
               "artifacts": {"type": "NO_ARTIFACTS"},
               "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                               "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": true},
               "serviceRole": "arn:aws:iam::123456789012:role/codebuild"}),
    );
    name
}

fn model_config(project: &str, filter: &str) -> ModelConfig {
    ModelConfig {
        project: project.to_owned(),
        bucket: "rollgate-demo-models".into(),
        prefix: "models/".into(),
        trigger_file: "model.tar.gz".into(),
        tag_filter: TagFilter::parse(filter).unwrap(),
        event_bus: "default".into(),
    }
}

async fn model(
    s: &Scenario,
    config: &ModelConfig,
    event: &Value,
) -> Result<model_build::handler::ModelReport, rollgate_lambda::FunctionError> {
    let sdk = s.function_options("model-build").load().await;
    let clients =
        rollgate_aws::Aws::new().with_builds(CodeBuild::new(&sdk)).with_events(EventBridge::new(&sdk, "default"));
    model_handle(&clients, config, &event.to_string()).await
}

fn builds(s: &Scenario, project: &str) -> Vec<Value> {
    let ids = s.boto("codebuild", "list_builds_for_project", json!({"projectName": project}))["ids"].clone();
    if ids.as_array().is_none_or(|a| a.is_empty()) {
        return vec![];
    }
    s.boto("codebuild", "batch_get_builds", json!({"ids": ids}))["builds"].as_array().cloned().unwrap_or_default()
}

fn env_of(build: &Value) -> serde_json::Map<String, Value> {
    build["environment"]["environmentVariables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v["value"].clone()))
        .collect()
}

#[tokio::test]
async fn an_upload_starts_one_build_with_the_right_overrides_even_when_delivered_twice() {
    let s = Scenario::new("model-upload");
    let project = project(&s);
    let config = model_config(&project, "v*");
    let upload = fixture_json("s3-model-uploaded.json");
    let report = model(&s, &config, &upload).await.unwrap();
    assert_eq!(report.action, "build-started", "{report:?}");
    assert_eq!((report.image_tag.as_deref(), report.model_version.as_deref()), (Some("v1.4.0"), Some("1.4.0")));

    let started = builds(&s, &project);
    assert_eq!(started.len(), 1);
    let env = env_of(&started[0]);
    assert_eq!(env["MODEL_URI"], "s3://rollgate-demo-models/models/sentiment/1.4.0/model.tar.gz");
    assert_eq!(env["MODEL_VERSION"], "1.4.0");
    assert_eq!(env["MODEL_NAME"], "sentiment");
    assert_eq!(env["IMAGE_TAG"], "v1.4.0");
    assert_eq!(report.build_id.as_deref(), started[0]["id"].as_str());

    // EventBridge delivers at least once: the same object version starts no second build.
    let again = model(&s, &config, &upload).await.unwrap();
    assert_eq!(again.build_id, report.build_id);
    assert_eq!(builds(&s, &project).len(), 1);
    assert_eq!(s.count_calls("StartBuild"), 2, "both deliveries asked; the token made it one build");

    // A new version of the object is a new build.
    let mut newer = upload.clone();
    newer["detail"]["object"]["version-id"] = json!("another-version");
    model(&s, &config, &newer).await.unwrap();
    assert_eq!(builds(&s, &project).len(), 2);
}

#[tokio::test]
async fn uploads_outside_the_prefix_and_bad_keys_start_nothing() {
    let s = Scenario::new("model-ignore");
    let project = project(&s);
    let config = model_config(&project, "v*");
    let outside = model(&s, &config, &fixture_json("s3-object-outside-prefix.json")).await.unwrap();
    assert_eq!(outside.action, "ignored");
    assert!(outside.reason.unwrap().contains("outside the prefix"));

    let mut bad = fixture_json("s3-model-uploaded.json");
    bad["detail"]["object"]["key"] = json!("models/sentiment/1.4 beta/model.tar.gz");
    let err = model(&s, &config, &bad).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::NonRetryable);
    assert!(err.message.contains("cannot be an image tag"), "{err}");

    let filtered =
        model(&s, &model_config(&project, "semver:^2"), &fixture_json("s3-model-uploaded.json")).await.unwrap_err();
    assert!(filtered.message.contains("would not pass the service's tag filter semver:^2"), "{filtered}");

    for malformed in [json!({"source": "aws.s3", "detail-type": "Object Created"}), json!("nope")] {
        assert_eq!(model(&s, &config, &malformed).await.unwrap_err().class, ErrorClass::NonRetryable);
    }
    assert_eq!(s.calls(), vec![], "nothing was started, nothing was called");
    assert!(builds(&s, &project).is_empty());
}

#[tokio::test]
async fn a_failed_build_produces_one_notification_with_the_logs_link() {
    let s = Scenario::new("model-failed");
    let project = project(&s);
    let config = model_config(&project, "*");
    let pattern =
        json!({"source": ["rollgate"], "detail-type": ["Model Build Failed"], "detail": {"project": [project]}});
    let queue = s.event_queue("builds", &pattern);

    let mut failed = fixture_json("codebuild-build-failed.json");
    failed["detail"]["project-name"] = json!(project);
    let report = model(&s, &config, &failed).await.unwrap();
    assert_eq!(report.action, "notified");
    let mut succeeded = fixture_json("codebuild-build-succeeded.json");
    succeeded["detail"]["project-name"] = json!(project);
    assert_eq!(model(&s, &config, &succeeded).await.unwrap().action, "ignored");

    let received = s.drain_queue(&queue);
    assert_eq!(received.len(), 1, "{received:?}");
    let event = &received[0];
    assert_eq!(event["source"], "rollgate");
    let d = &event["detail"];
    assert_eq!(
        (d["status"].as_str(), d["image_tag"].as_str(), d["model_version"].as_str()),
        (Some("FAILED"), Some("v1.4.0"), Some("1.4.0"))
    );
    assert!(d["logs"].as_str().unwrap().contains("console.aws.amazon.com/cloudwatch"), "{d}");
    assert_eq!(s.count_calls("PutEvents"), 1);
}

/// A service tracking a repository, plus the deploy clients.
struct Tracked {
    s: Scenario,
    cluster: String,
    repo: String,
}

impl Tracked {
    fn new(test: &str) -> Self {
        let s = Scenario::new(test);
        let cluster = s.cluster("c");
        let repo = s.repository("model");
        let def = s.model_task_definition("model", &repo);
        s.service(ServiceSpec {
            cluster: &cluster,
            name: "api",
            task_definition: &def,
            tags: vec![("rollgate:repository", repo.clone()), ("rollgate:tag-filter", "base64:dio=".into())],
        });
        Self { s, cluster, repo }
    }

    async fn reconcile(&self) -> DeployReport {
        let sdk = self.s.function_options("deploy").load().await;
        let config = DeployConfig {
            clusters: vec![self.cluster.clone()],
            max_in_flight: 4,
            trusted_registries: vec![],
            discovery: Default::default(),
            reconcile: Default::default(),
        };
        let mut tick = fixture_json("scheduled-tick.json");
        tick["id"] = json!(format!("{}-tick", self.s.name));
        deploy::handler::reconcile(
            &rollgate_aws::Aws::new().with_ecs(Ecs::new(&sdk)).with_ecr(Ecr::new(&sdk)),
            &config,
            &tick.to_string(),
        )
        .await
        .unwrap()
    }

    fn live_digest(&self) -> Option<String> {
        let live = self.s.describe_service(&self.cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();
        self.s.describe_task_definition(&live).1.get("rollgate:digest").and_then(Value::as_str).map(str::to_owned)
    }
}

#[tokio::test]
async fn the_reconciler_deploys_a_missed_push_and_then_writes_nothing() {
    let t = Tracked::new("reconcile");
    t.s.push_image(&t.repo, "latest"); // filtered out by v*
    let digest = t.s.push_image(&t.repo, "v1"); // its ECR event was lost
    let report = t.reconcile().await;
    assert!(matches!(report.services[..], [ref o] if matches!(o.outcome, Outcome::Deployed { .. })), "{report:?}");
    assert_eq!(t.live_digest(), Some(digest.clone()));

    let writes = t.s.writes().len();
    let quiet = t.reconcile().await;
    assert!(quiet.deployed().next().is_none(), "{quiet:?}");
    assert_eq!(t.s.writes().len(), writes, "nothing new: nothing written");
}

#[tokio::test]
async fn the_reconciler_never_redeploys_a_failed_digest() {
    let t = Tracked::new("reconcile-failed");
    let good = t.s.push_image(&t.repo, "v1");
    t.reconcile().await;
    assert_eq!(t.live_digest(), Some(good.clone()));
    let bad = t.s.push_image(&t.repo, "v2");
    // The gate failed v2 on this service earlier (as recorded in the ledger).
    let arn = t.s.describe_service(&t.cluster, "api")["serviceArn"].clone();
    t.s.boto("ecs", "tag_resource", json!({"resourceArn": arn, "tags": [{"key": format!("rollgate:failed:{bad}"), "value": "2026-11-28T10:00:00Z"}]}));
    let writes = t.s.writes().len();
    let report = t.reconcile().await;
    assert!(report.deployed().next().is_none(), "{report:?}");
    assert_eq!(t.live_digest(), Some(good));
    assert_eq!(t.s.writes().len(), writes);
}

#[tokio::test]
async fn the_deployed_revision_records_the_model_version_and_build() {
    let t = Tracked::new("lineage");
    let project = project(&t.s);
    let mut upload = fixture_json("s3-model-uploaded.json");
    upload["detail"]["object"]["key"] = json!("models/sentiment/2.1.0/model.tar.gz");
    let started = model(&t.s, &model_config(&project, "v*"), &upload).await.unwrap();
    // The build pushes v2.1.0; its push deploys it (the reconciler stands in for the event).
    let digest = t.s.push_image(&t.repo, "v2.1.0");
    t.reconcile().await;
    assert_eq!(t.live_digest(), Some(digest));
    let live = t.s.describe_service(&t.cluster, "api")["taskDefinition"].as_str().unwrap().to_owned();

    let sdk = t.s.function_options("health-gate").load().await;
    let clients = rollgate_aws::Aws {
        ecs: Ecs::new(&sdk),
        cloudwatch: rollgate_aws::cloudwatch::CloudWatch::new(&sdk),
        events: EventBridge::new(&sdk, "default"),
        probe: rollgate_aws::probe::HttpProbe::new(StdDuration::from_secs(1)).unwrap(),
        builds: CodeBuild::new(&sdk),
        ecr: rollgate_aws::ecr::Ecr::new(&sdk),
    };
    let config = rollgate_core::config::GateConfig {
        clusters: vec![t.cluster.clone()],
        max_in_flight: 2,
        event_bus: "default".into(),
        smoke_timeout: rollgate_core::duration::Seconds(1),
        build_project: Some(project),
        discovery: Default::default(),
        tick_secs: 60,
        full_sweep_every: rollgate_core::duration::Seconds(60),
    };
    let mut tick = fixture_json("scheduled-tick.json");
    tick["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    health_gate::handler::handle(&clients, &config, &tick.to_string()).await.unwrap();
    let (_, tags) = t.s.describe_task_definition(&live);
    assert_eq!(tags["rollgate:model-version"], "2.1.0");
    assert_eq!(tags["rollgate:build-id"].as_str(), started.build_id.as_deref());
}

#[test]
fn the_buildspec_is_valid_yaml_with_the_expected_phases() {
    let script = "import sys, json, yaml; d = yaml.safe_load(sys.stdin); print(json.dumps(d))";
    let mut child =
        Command::new(python()).args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(rollgate_core::buildspec::BUILDSPEC.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not YAML");
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spec["version"], 0.2);
    for phase in ["pre_build", "build", "post_build"] {
        assert!(spec["phases"][phase]["commands"].as_array().is_some_and(|c| !c.is_empty()), "{phase}");
    }
    let all = spec.to_string();
    for needle in [
        "docker push",
        "$REPOSITORY_URI:$IMAGE_TAG",
        "ai.rollgate.model.version=$MODEL_VERSION",
        "ai.rollgate.model.uri=$MODEL_URI",
        "aws s3 cp",
    ] {
        assert!(all.contains(needle), "buildspec lacks {needle}");
    }
}
