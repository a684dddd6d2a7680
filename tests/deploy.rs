//! The deploy function against the emulator: every rule of the deploy issue, each
//! checked through boto3 (AWS's own client) and the emulator's call log.

use deploy::handler::handle;
use rollgate_aws::ecs::Ecs;
use rollgate_core::ErrorClass;
use rollgate_core::config::DeployConfig;
use rollgate_core::report::{DeployReport, Outcome};
use rollgate_lambda::FunctionError;
use serde_json::{Value, json};
use support::fixtures::fixture_json;
use support::{Scenario, ServiceSpec};

async fn run_deploy(
    s: &Scenario,
    clusters: &[&str],
    max_in_flight: usize,
    event: &str,
) -> Result<DeployReport, FunctionError> {
    run_deploy_with(s, clusters, max_in_flight, Default::default(), event).await
}

async fn run_deploy_with(
    s: &Scenario,
    clusters: &[&str],
    max_in_flight: usize,
    discovery: rollgate_core::index::Discovery,
    event: &str,
) -> Result<DeployReport, FunctionError> {
    let sdk = s.function_options("deploy").load().await;
    let ecs = Ecs::new(&sdk);
    let config = DeployConfig {
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        max_in_flight,
        trusted_registries: vec![],
        discovery,
        reconcile: Default::default(),
    };
    handle(&rollgate_aws::Aws::new().with_ecs(ecs).with_ecr(rollgate_aws::ecr::Ecr::new(&sdk)), &config, event).await
}

/// One cluster, one repository, one opted-in service on a one-container task definition.
struct Single {
    s: Scenario,
    cluster: String,
    repo: String,
    base: String,
}

impl Single {
    fn new(test: &str, extra_tags: Vec<(&str, String)>) -> Self {
        let s = Scenario::new(test);
        let cluster = s.cluster("c");
        let repo = s.repository("model");
        let base = s.model_task_definition("model", &repo);
        let mut tags = vec![("rollgate:repository", repo.clone()), ("team", "ml".to_owned())];
        tags.extend(extra_tags);
        s.service(ServiceSpec { cluster: &cluster, name: "api", task_definition: &base, tags });
        Self { s, cluster, repo, base }
    }

    async fn deploy(&self, event: &str) -> Result<DeployReport, FunctionError> {
        run_deploy(&self.s, &[&self.cluster], 4, event).await
    }

    fn push(&self, tag: &str, time: &str) -> (String, String) {
        let digest = self.s.push_image(&self.repo, tag);
        let event = self.s.push_event(&self.repo, &digest, tag, time);
        (digest, event)
    }

    fn service(&self) -> Value {
        self.s.describe_service(&self.cluster, "api")
    }
}

fn deployed_revision(report: &DeployReport) -> String {
    match &report.services[..] {
        [one] => match &one.outcome {
            Outcome::Deployed { revision, .. } => revision.clone(),
            other => panic!("expected a deploy, got {other:?}"),
        },
        other => panic!("expected one service outcome, got {other:?}"),
    }
}

fn skip_reason(report: &DeployReport) -> String {
    match &report.services[..] {
        [one] => match &one.outcome {
            Outcome::Skipped { reason, .. } => reason.clone(),
            other => panic!("expected a skip, got {other:?}"),
        },
        other => panic!("expected one service outcome, got {other:?}"),
    }
}

#[tokio::test]
async fn push_rolls_out_a_digest_pinned_revision_with_its_ledger() {
    let t = Single::new("pinned", vec![]);
    let (digest, event) = t.push("v1.0.0", "2026-11-28T10:00:00Z");
    let report = t.deploy(&event).await.unwrap();
    let revision = deployed_revision(&report);

    // What AWS shows: the service runs the new revision, as a new PRIMARY deployment.
    let service = t.service();
    assert_eq!(service["taskDefinition"], json!(revision));
    let deployments = service["deployments"].as_array().unwrap();
    let primary: Vec<_> = deployments.iter().filter(|d| d["status"] == "PRIMARY").collect();
    assert_eq!(primary.len(), 1);
    assert_eq!(primary[0]["taskDefinition"], json!(revision));
    assert_eq!(primary[0]["rolloutState"], "IN_PROGRESS");

    // The revision pins the pushed digest and records where it came from.
    let (def, tags) = t.s.describe_task_definition(&revision);
    let image = def["containerDefinitions"][0]["image"].as_str().unwrap();
    assert_eq!(image, format!("{}/{}@{digest}", t.s.registry(), t.repo));
    assert_eq!(tags["rollgate:digest"], json!(digest));
    assert_eq!(tags["rollgate:image-tag"], "v1.0.0");
    assert_eq!(tags["rollgate:pushed-at"], "2026-11-28T10:00:00Z");
    assert_eq!(tags["rollgate:previous"], json!(t.base));
    assert_eq!(tags["rollgate:event-id"], json!(report.event_id));
    assert_eq!(tags["rollgate:service"], service["serviceArn"]);
    assert_eq!(tags["rollgate:container"], "model");
}

#[tokio::test]
async fn the_new_revision_copies_every_field_of_the_current_one() {
    let s = Scenario::new("fidelity");
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let model_image = format!("{}/{repo}:v0", s.registry());
    let base = s.register(json!({
        "family": format!("{}-rich", s.name),
        // Roles of this scenario's app: the template lets deploy pass exactly these.
        "taskRoleArn": format!("arn:aws:iam::123456789012:role/{}-task", s.name),
        "executionRoleArn": format!("arn:aws:iam::123456789012:role/{}-exec", s.name),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "4096",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 50},
        "volumes": [{"name": "weights"}],
        "containerDefinitions": [
            {
                "name": "model",
                "image": model_image,
                "essential": true,
                "cpu": 768,
                "memory": 3584,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp", "name": "http"}],
                "environment": [{"name": "MODEL_NAME", "value": "sentiment"}, {"name": "WORKERS", "value": "2"}],
                "secrets": [{"name": "HF_TOKEN", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf"}],
                "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
                                "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 300},
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/rollgate/model", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "model"}},
                "mountPoints": [{"sourceVolume": "weights", "containerPath": "/weights", "readOnly": false}],
                "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
                "stopTimeout": 120
            },
            {
                "name": "envoy",
                "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod",
                "essential": false,
                "environment": [{"name": "ENVOY_LOG_LEVEL", "value": "info"}],
                "dependsOn": []
            }
        ],
        "tags": [{"key": "team", "value": "ml"}, {"key": "cost-center", "value": "42"}]
    }));
    s.service(ServiceSpec {
        cluster: &cluster,
        name: "api",
        task_definition: &base,
        tags: vec![("rollgate:repository", repo.clone())],
    });
    // An arm64 image for the ARM64 task (an amd64 one is refused by the platform check).
    let digest = s.push_image_for(&repo, Some("v2"), "linux", "arm64");
    let report =
        run_deploy(&s, &[&cluster], 4, &s.push_event(&repo, &digest, "v2", "2026-11-28T10:00:00Z")).await.unwrap();
    let revision = deployed_revision(&report);

    let (mut before, _) = s.describe_task_definition(&base);
    let (mut after, tags) = s.describe_task_definition(&revision);
    assert_eq!(after["containerDefinitions"][0]["image"], json!(format!("{}/{repo}@{digest}", s.registry())));
    // Everything else is identical: the other container, roles, sizes, platform, volumes...
    for def in [&mut before, &mut after] {
        let obj = def.as_object_mut().unwrap();
        for volatile in ["taskDefinitionArn", "revision", "registeredAt", "registeredBy"] {
            obj.remove(volatile);
        }
        def["containerDefinitions"][0]["image"] = json!("<model image>");
    }
    assert_eq!(before, after);
    // The user's tags are carried over next to the ledger.
    assert_eq!(tags["team"], "ml");
    assert_eq!(tags["cost-center"], "42");
}

#[tokio::test]
async fn duplicate_delivery_and_retagged_digest_write_nothing() {
    let t = Single::new("duplicate", vec![]);
    let (digest, event) = t.push("v1.0.0", "2026-11-28T10:00:00Z");
    deployed_revision(&t.deploy(&event).await.unwrap());
    let revisions = t.s.revisions("model");
    let writes = t.s.writes().len();

    // The same event again (EventBridge delivers at least once).
    let again = t.deploy(&event).await.unwrap();
    assert!(skip_reason(&again).contains("already deployed"), "{again:?}");

    // The same digest pushed under another tag.
    t.s.boto(
        "ecr",
        "put_image",
        json!({"repositoryName": t.repo, "imageTag": "stable",
               "imageManifest": t.s.boto("ecr", "batch_get_image", json!({"repositoryName": t.repo,
                    "imageIds": [{"imageDigest": digest}]}))["images"][0]["imageManifest"]}),
    );
    let retag = t.s.push_event(&t.repo, &digest, "stable", "2026-11-28T10:05:00Z");
    let report = t.deploy(&retag).await.unwrap();
    assert!(skip_reason(&report).contains("already deployed"), "{report:?}");

    assert_eq!(t.s.revisions("model"), revisions, "no new revision");
    assert_eq!(t.s.writes().len(), writes, "no write call at all");
    assert_eq!(t.s.count_calls("UpdateService"), 1);
}

#[tokio::test]
async fn an_older_push_never_moves_the_service_backwards() {
    let t = Single::new("ordering", vec![]);
    let (_, old_event) = t.push("v1", "2026-11-28T09:00:00Z");
    let (new_digest, new_event) = t.push("v2", "2026-11-28T10:00:00Z");
    let live = deployed_revision(&t.deploy(&new_event).await.unwrap());
    let writes = t.s.writes().len();

    let report = t.deploy(&old_event).await.unwrap();
    assert!(skip_reason(&report).contains("not newer than the deployed push"), "{report:?}");
    assert_eq!(t.s.writes().len(), writes);
    assert_eq!(t.service()["taskDefinition"], json!(live));
    let (_, tags) = t.s.describe_task_definition(&live);
    assert_eq!(tags["rollgate:digest"], json!(new_digest));

    // A newer push still deploys, and records the revision it replaced.
    let (_, newest) = t.push("v3", "2026-11-28T11:00:00Z");
    let next = deployed_revision(&t.deploy(&newest).await.unwrap());
    let (_, tags) = t.s.describe_task_definition(&next);
    assert_eq!(tags["rollgate:previous"], json!(live));
}

#[tokio::test]
async fn only_successful_pushes_deploy() {
    let t = Single::new("ignored", vec![]);
    for fixture in ["ecr-delete.json", "ecr-push-failed.json"] {
        let mut event = fixture_json(fixture);
        event["detail"]["repository-name"] = json!(t.repo);
        let report = t.deploy(&event.to_string()).await.unwrap();
        assert!(report.ignored.is_some(), "{fixture}: {report:?}");
        assert!(report.services.is_empty());
    }
    assert_eq!(t.s.calls(), vec![], "an ignored event makes no AWS call at all");
    assert_eq!(t.service()["taskDefinition"], json!(t.base));
}

#[tokio::test]
async fn malformed_events_are_non_retryable_and_write_nothing() {
    let t = Single::new("malformed", vec![]);
    let mut wrong_repo = fixture_json("ecr-push.json");
    wrong_repo["detail"]["repository-name"] = json!("UPPER CASE");
    let inputs = [
        fixture_json("ecr-push-malformed.json").to_string(),
        wrong_repo.to_string(),
        "{\"not\": \"an event\"}".to_owned(),
        "[1, 2, 3]".to_owned(),
        "\"string\"".to_owned(),
    ];
    for input in inputs {
        let err = t.deploy(&input).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::NonRetryable, "{input}");
        assert!(err.message.starts_with("malformed event") || err.message.starts_with("unexpected event"), "{err}");
    }
    assert_eq!(t.s.calls(), vec![], "a rejected event makes no AWS call");
    assert_eq!(t.s.revisions("model").len(), 1);
}

#[tokio::test]
async fn events_from_another_account_or_region_write_nothing() {
    let t = Single::new("foreign", vec![]);
    let (digest, event) = t.push("v1", "2026-11-28T10:00:00Z");
    let mut foreign: Value = serde_json::from_str(&event).unwrap();
    foreign["account"] = json!("210987654321");
    let report = t.deploy(&foreign.to_string()).await.unwrap();
    assert!(skip_reason(&report).contains("account 210987654321"), "{report:?}");

    let mut elsewhere: Value = serde_json::from_str(&event).unwrap();
    elsewhere["region"] = json!("eu-west-1");
    let report = t.deploy(&elsewhere.to_string()).await.unwrap();
    assert!(skip_reason(&report).contains("region eu-west-1"), "{report:?}");

    assert_eq!(t.s.writes(), vec![]);
    assert_eq!(t.service()["taskDefinition"], json!(t.base));
    assert!(!t.s.describe_task_definition(&t.base).1.contains_key("rollgate:digest"), "{digest}");
}

#[tokio::test]
async fn tag_filters_choose_which_pushes_deploy() {
    // Stored as `rollgate track` stores it (`^` is outside the tag alphabet).
    let filter = rollgate_core::tags::encode("rollgate:tag-filter", "semver:^2").unwrap();
    assert_eq!(filter, "base64:c2VtdmVyOl4y");
    let t = Single::new("filters", vec![("rollgate:tag-filter", filter)]);
    let (_, v1) = t.push("v1.4.0", "2026-11-28T10:00:00Z");
    let report = t.deploy(&v1).await.unwrap();
    assert!(skip_reason(&report).contains("does not pass rollgate:tag-filter semver:^2"), "{report:?}");
    assert_eq!(t.s.writes(), vec![]);

    let (digest, v2) = t.push("v2.1.0", "2026-11-28T10:01:00Z");
    let revision = deployed_revision(&t.deploy(&v2).await.unwrap());
    assert_eq!(t.s.describe_task_definition(&revision).1["rollgate:digest"], json!(digest));
}

/// An event that does not say what it brought (a replication, a pull through cache sync, an
/// event from before ECR sent media types) is classified from the one manifest read every
/// push makes (BatchGetImage), and only when a service would take it.
#[tokio::test]
async fn an_event_without_media_types_asks_ecr_once_and_only_for_a_candidate() {
    let t = Single::new("no-media", vec![]);
    let digest = t.s.push_image(&t.repo, "v1");
    let event = t.s.push_event_without_media_types(&t.repo, &digest, "v1", "2026-11-28T10:00:00Z");
    let mut foreign: Value = serde_json::from_str(&event).unwrap();
    foreign["region"] = json!("eu-west-1");
    skip_reason(&t.deploy(&foreign.to_string()).await.unwrap());
    assert!(!t.s.calls().iter().any(|(_, op)| op.starts_with("BatchGetImage")), "no candidate, no lookup");
    let revision = deployed_revision(&t.deploy(&event).await.unwrap());
    let ops: Vec<String> = t.s.calls().into_iter().map(|(_, op)| op).collect();
    assert_eq!(ops.iter().filter(|op| *op == "BatchGetImage").count(), 1, "{ops:?}");
    assert!(!ops.iter().any(|op| op == "DescribeImages"), "one lookup, not two: {ops:?}");
    assert_eq!(t.s.describe_task_definition(&revision).1["rollgate:manifest"], json!("image"), "classified");
    assert_eq!(t.service()["taskDefinition"].as_str().map(|a| a.ends_with(":2")), Some(true));
}

/// The calls of one rollout: discovery (2: the tagging index, then the service read again),
/// what the release runs on (its manifest, and a
/// single image's config blob, for the platform check: 2), and the rollout itself (3).
#[tokio::test]
async fn a_single_service_rollout_costs_seven_calls() {
    let t = Single::new("budget", vec![]);
    let (_, event) = t.push("v1", "2026-11-28T10:00:00Z");
    deployed_revision(&t.deploy(&event).await.unwrap());
    let ops: Vec<String> = t.s.calls().into_iter().map(|(_, op)| op).collect();
    assert_eq!(
        ops,
        [
            "GetResources",
            "DescribeServices",
            "BatchGetImage",
            "GetDownloadUrlForLayer",
            "DescribeTaskDefinition",
            "RegisterTaskDefinition",
            "UpdateService"
        ]
    );
}

#[tokio::test]
async fn one_push_fans_out_to_every_tracking_service_and_failures_stay_isolated() {
    let s = Scenario::new("fanout");
    let (east, west) = (s.cluster("east"), s.cluster("west"));
    let repo = s.repository("model");
    let other_repo = s.repository("other");
    let def = |family: &str| s.model_task_definition(family, &repo);
    let opted = |r: &str| vec![("rollgate:repository", r.to_owned())];
    let specs = [
        (&east, "a", def("a"), opted(&repo)),
        (&east, "b", def("b"), opted(&repo)),
        (&west, "c", def("c"), opted(&repo)),
        // Names a container that does not exist: fails, alone.
        (
            &west,
            "broken",
            def("broken"),
            vec![("rollgate:repository", repo.clone()), ("rollgate:container", "nope".to_owned())],
        ),
        (&west, "other", def("other"), opted(&other_repo)),
        (&west, "manual", def("manual"), vec![("team", "ml".to_owned())]),
    ];
    for (cluster, name, task_definition, tags) in &specs {
        s.service(ServiceSpec { cluster, name, task_definition, tags: tags.clone() });
    }
    let digest = s.push_image(&repo, "v1");
    let event = s.push_event(&repo, &digest, "v1", "2026-11-28T10:00:00Z");
    let report = run_deploy(&s, &[&east, &west], 2, &event).await.unwrap();

    let outcome = |name: &str| report.services.iter().find(|o| o.service == name).map(|o| o.outcome.clone());
    for name in ["a", "b", "c"] {
        assert!(matches!(outcome(name), Some(Outcome::Deployed { .. })), "{name}: {report:?}");
        let cluster = if name == "c" { &west } else { &east };
        let live = s.describe_service(cluster, name)["taskDefinition"].clone();
        assert_eq!(s.describe_task_definition(live.as_str().unwrap()).1["rollgate:digest"], json!(digest));
    }
    match outcome("broken") {
        Some(Outcome::Failed { error, class }) => {
            assert_eq!(class, ErrorClass::NonRetryable);
            assert!(error.contains("rollgate:container"), "{error}");
        }
        other => panic!("broken: {other:?}"),
    }
    // Services that do not track the repository are not even reported, and untouched.
    assert_eq!(outcome("other"), None);
    assert_eq!(outcome("manual"), None);
    for (name, family) in [("other", "other"), ("manual", "manual"), ("broken", "broken")] {
        assert_eq!(s.describe_service(&west, name)["taskDefinition"], json!(def_arn(&s, family)));
    }
    assert_eq!(s.count_calls("UpdateService"), 3);
    assert_eq!(s.count_calls("RegisterTaskDefinition"), 3);
    assert!(!report.needs_retry());
}

/// The first revision of a scenario family.
fn def_arn(s: &Scenario, family: &str) -> String {
    s.revisions(family).first().cloned().expect("a revision")
}

#[tokio::test]
async fn an_unreadable_cluster_does_not_stop_the_others() {
    let t = Single::new("cluster-missing", vec![]);
    let (_, event) = t.push("v1", "2026-11-28T10:00:00Z");
    let missing = format!("{}-missing", t.s.name);
    // With the index, a push reads only the clusters its services are in: the missing one is
    // not read, and the push deploys.
    let report = run_deploy(&t.s, &[&missing, &t.cluster], 4, &event).await.unwrap();
    deployed_revision(&report);
    assert!(report.cluster_failures.is_empty(), "{report:?}");
    // A scan (the reconciler's, or ROLLGATE_DISCOVERY=scan) lists every cluster and says which
    // one it cannot read.
    let (_, event) = t.push("v2", "2026-11-28T10:05:00Z");
    let report =
        run_deploy_with(&t.s, &[&missing, &t.cluster], 4, rollgate_core::index::Discovery::Scan, &event).await.unwrap();
    deployed_revision(&report);
    assert_eq!(report.cluster_failures.len(), 1, "{report:?}");
    assert_eq!(report.cluster_failures[0].cluster, missing);
    assert!(report.cluster_failures[0].error.contains("ListServices"), "{report:?}");
}

/// Wraps the real ECS adapter and records how many service updates run at once.
struct InFlightProbe {
    inner: Ecs,
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

mod probe_impls {
    use std::sync::atomic::Ordering;

    use rollgate_aws::AwsError;
    use rollgate_aws::ecs::{ServiceDirectory, ServiceUpdater, TaskDefSnapshot, TaskDefinitions};
    use rollgate_core::service::ServiceView;
    use rollgate_core::{ServiceArn, TaskDefArn};

    use super::InFlightProbe;

    impl rollgate_aws::index::ResourceIndex for InFlightProbe {
        async fn resources(
            &self,
            query: &rollgate_core::index::IndexQuery,
        ) -> Result<Vec<rollgate_core::index::Indexed>, AwsError> {
            self.inner.resources(query).await
        }
    }

    impl ServiceDirectory for InFlightProbe {
        async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
            self.inner.list_services(cluster).await
        }
        async fn describe_services(&self, cluster: &str, services: &[String]) -> Result<Vec<ServiceView>, AwsError> {
            self.inner.describe_services(cluster, services).await
        }
    }

    impl TaskDefinitions for InFlightProbe {
        async fn deregister(&self, arn: &TaskDefArn) -> Result<(), AwsError> {
            self.inner.deregister(arn).await
        }
        async fn describe_latest(&self, family: &str) -> Result<TaskDefSnapshot, AwsError> {
            // A rollout is in flight from its first call to its last.
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            self.inner.describe_latest(family).await
        }
        async fn describe_task_definition(&self, arn: &TaskDefArn) -> Result<TaskDefSnapshot, AwsError> {
            self.inner.describe_task_definition(arn).await
        }
        async fn register_copy(
            &self,
            base: &TaskDefSnapshot,
            images: &[(String, String)],
            tags: &[(String, String)],
        ) -> Result<TaskDefArn, AwsError> {
            self.inner.register_copy(base, images, tags).await
        }
    }

    impl ServiceUpdater for InFlightProbe {
        async fn update_service(&self, service: &ServiceArn, task_definition: &TaskDefArn) -> Result<(), AwsError> {
            let result = self.inner.update_service(service, task_definition).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            result
        }
    }
}

#[tokio::test]
async fn fan_out_respects_the_maximum_in_flight() {
    let s = Scenario::new("in-flight");
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let names: Vec<String> = (0..8).map(|i| format!("svc{i}")).collect();
    for name in &names {
        let def = s.model_task_definition(name, &repo);
        s.service(ServiceSpec {
            cluster: &cluster,
            name,
            task_definition: &def,
            tags: vec![("rollgate:repository", repo.clone())],
        });
    }
    for (limit, tag, time) in [(1, "v1", "2026-11-28T10:00:00Z"), (3, "v2", "2026-11-28T11:00:00Z")] {
        let digest = s.push_image(&repo, tag);
        let event = s.push_event(&repo, &digest, tag, time);
        let sdk = s.function_options("deploy").load().await;
        let probe = InFlightProbe { inner: Ecs::new(&sdk), now: 0.into(), peak: 0.into() };
        let config = DeployConfig {
            clusters: vec![cluster.clone()],
            max_in_flight: limit,
            trusted_registries: vec![],
            discovery: Default::default(),
            reconcile: Default::default(),
        };
        let aws = rollgate_aws::Aws::new().with_ecs(probe).with_ecr(rollgate_aws::ecr::Ecr::new(&sdk));
        let report = handle(&aws, &config, &event).await.unwrap();
        let peak = aws.ecs.peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!(peak <= limit, "limit {limit}, peak {peak}");
        assert_eq!(report.deployed().count(), 8, "{report:?}");
        if limit > 1 {
            assert!(peak > 1, "with limit {limit} rollouts should overlap, peak was {peak}");
        }
    }
}

#[tokio::test]
async fn out_of_time_work_is_reported_undone_and_retryable_never_half_done() {
    let t = Single::new("budget-spent", vec![]);
    let (_, event) = t.push("v1", "2026-11-28T10:00:00Z");
    let sdk = t.s.function_options("deploy").load().await;
    let (ecs, ecr) = (Ecs::new(&sdk), rollgate_aws::ecr::Ecr::new(&sdk));
    let config = DeployConfig {
        clusters: vec![t.cluster.clone()],
        max_in_flight: 4,
        trusted_registries: vec![],
        discovery: Default::default(),
        reconcile: Default::default(),
    };
    let spent = rollgate_lambda::Budget::after(std::time::Duration::ZERO);
    let report = deploy::handler::handle_within(
        &rollgate_aws::Aws::new().with_ecs(ecs.clone()).with_ecr(ecr.clone()),
        &config,
        &event,
        spent,
    )
    .await
    .unwrap();
    match &report.services[..] {
        [one] => assert!(
            matches!(&one.outcome, Outcome::Failed { error, class: ErrorClass::Retryable } if error.contains("ran out of time")),
            "{report:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(report.needs_retry());
    assert_eq!(t.s.writes(), vec![], "nothing started, nothing half-written");
    // The retry, with time, finishes the job.
    deployed_revision(&t.deploy(&event).await.unwrap());
}

/// IAM as AWS enforces it: deploy may pass only the roles template.yaml names to ECS. A
/// revision naming another role is refused by IAM (AccessDenied, non-retryable), and nothing
/// is registered or changed.
#[tokio::test]
async fn a_revision_naming_a_role_deploy_may_not_pass_is_refused_and_writes_nothing() {
    let s = Scenario::new("passrole");
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let base = s.register(json!({
        "family": format!("{}-model", s.name),
        "taskRoleArn": "arn:aws:iam::123456789012:role/someone-elses-admin",
        "containerDefinitions": [{"name": "model", "image": format!("{}/{repo}:v0", s.registry()), "essential": true}],
        "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512",
    }));
    s.service(ServiceSpec {
        cluster: &cluster,
        name: "api",
        task_definition: &base,
        tags: vec![("rollgate:repository", repo.clone())],
    });
    let digest = s.push_image(&repo, "v1");
    let before = s.revisions("model");
    let report =
        run_deploy(&s, &[&cluster], 1, &s.push_event(&repo, &digest, "v1", "2026-11-28T10:00:00Z")).await.unwrap();
    match &report.services[0].outcome {
        Outcome::Failed { error, class: ErrorClass::NonRetryable } => {
            assert!(error.contains("iam:PassRole") && error.contains("someone-elses-admin"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.revisions("model"), before, "nothing registered");
    assert_eq!(s.describe_service(&cluster, "api")["taskDefinition"], json!(base));
    let denied: Vec<_> =
        support::iam::decisions(&s.em.url, &s.function_key("deploy")).into_iter().filter(|d| !d.2).collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
}

/// A push without a tag, as real ECR events send it (`"image-tag": ""`): buildx pushes each
/// platform's manifest and its attestations untagged before the tagged index. It deploys
/// nothing by default (not even with the default filter `*`), and deploys with the service's
/// `rollgate:deploy-untagged=true`. Checked through boto3: no revision is registered.
#[tokio::test]
async fn untagged_pushes_deploy_only_when_the_service_opts_in() {
    let untagged_push = |t: &Single, time: &str| {
        let digest = t.s.push_image_for(&t.repo, None, "linux", "amd64");
        (digest.clone(), t.s.push_event(&t.repo, &digest, "", time))
    };
    let t = Single::new("untagged-default", vec![]);
    let before = t.s.revisions("model");
    let (_, event) = untagged_push(&t, "2026-11-28T10:00:00Z");
    let report = t.deploy(&event).await.unwrap();
    assert!(skip_reason(&report).contains("rollgate:deploy-untagged=true"), "{report:?}");
    assert_eq!(t.s.revisions("model"), before, "nothing registered");
    assert_eq!(t.service()["taskDefinition"], json!(t.base));

    // Opted in: the event waits (it may be one platform of an index still being pushed); the
    // reconciler deploys it once the grace window has passed and no index lists it, and not
    // before. Time is the schedule event's.
    let t = Single::new("untagged-opt-in", vec![("rollgate:deploy-untagged", "true".to_owned())]);
    let (digest, event) = untagged_push(&t, "2026-11-28T10:00:00Z");
    assert!(skip_reason(&t.deploy(&event).await.unwrap()).contains("reconciler deploys it once 900 s"));
    assert_eq!(t.service()["taskDefinition"], json!(t.base));
    let pushed_at = t.s.boto(
        "ecr",
        "describe_images",
        json!({"repositoryName": t.repo, "imageIds": [{"imageDigest": digest}]}),
    )["imageDetails"][0]["imagePushedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let pushed_at = chrono::DateTime::parse_from_rfc3339(&pushed_at).unwrap();
    let reconcile_at = |after: chrono::Duration| {
        let mut tick = support::fixtures::fixture_json("scheduled-tick.json");
        tick["id"] = json!(format!("{}-tick-{}", t.s.name, after.num_seconds()));
        tick["time"] = json!((pushed_at + after).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        tick.to_string()
    };
    let config = DeployConfig {
        clusters: vec![t.cluster.clone()],
        max_in_flight: 2,
        trusted_registries: vec![],
        discovery: Default::default(),
        reconcile: Default::default(),
    };
    let sdk = t.s.function_options("deploy").load().await;
    let (ecs, ecr) = (Ecs::new(&sdk), rollgate_aws::ecr::Ecr::new(&sdk));
    let early = deploy::handler::reconcile(
        &rollgate_aws::Aws::new().with_ecs(ecs.clone()).with_ecr(ecr.clone()),
        &config,
        &reconcile_at(chrono::Duration::minutes(14)),
    )
    .await;
    assert!(early.unwrap().deployed().next().is_none(), "inside the grace window");
    assert_eq!(t.service()["taskDefinition"], json!(t.base));
    let late = deploy::handler::reconcile(
        &rollgate_aws::Aws::new().with_ecs(ecs.clone()).with_ecr(ecr.clone()),
        &config,
        &reconcile_at(chrono::Duration::minutes(16)),
    )
    .await;
    let revision = deployed_revision(&late.unwrap());
    assert_eq!(t.s.describe_task_definition(&revision).1["rollgate:digest"], json!(digest));
}
