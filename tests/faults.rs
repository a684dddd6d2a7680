//! Faults between the functions and AWS (tests/emulator/faults.py): every step stays
//! idempotent when a call fails, or succeeds without its answer arriving.

use rollgate_aws::ecs::Ecs;
use rollgate_core::config::DeployConfig;
use rollgate_core::report::{DeployReport, Outcome};
use serde_json::{Value, json};
use support::Scenario;
use support::faults::faults;

struct Faulty {
    s: Scenario,
    cluster: String,
    repo: String,
    base: String,
}

impl Faulty {
    fn new(test: &str) -> Self {
        let s = Scenario::new(test);
        let support::fixtures::OptedIn { cluster, repo, base, .. } = s.opted_in_service(vec![]);
        Self { s, cluster, repo, base }
    }

    /// Runs deploy through the proxy, with the SDK's standard retries.
    async fn deploy(&self, event: &str, attempts: u32) -> DeployReport {
        let mut options = self.s.function_options("deploy");
        options.endpoint_url = Some(faults().url.clone());
        options.max_attempts = Some(attempts);
        let sdk = options.load().await;
        let (ecs, ecr) = (Ecs::new(&sdk), rollgate_aws::ecr::Ecr::new(&sdk));
        let config = DeployConfig {
            clusters: vec![self.cluster.clone()],
            max_in_flight: 2,
            trusted_registries: vec![],
            discovery: Default::default(),
            reconcile: Default::default(),
        };
        deploy::handler::handle(&rollgate_aws::Aws::new().with_ecs(ecs).with_ecr(ecr), &config, event).await.unwrap()
    }

    /// Pushes `v1` and returns its digest and its push event.
    fn push_v1(&self) -> (String, String) {
        let digest = self.s.push_image(&self.repo, "v1");
        let event = self.s.push_event(&self.repo, &digest, "v1", "2026-11-28T10:00:00Z");
        (digest, event)
    }

    fn fault(&self, config: Value) {
        faults().configure(&self.s.function_key("deploy"), config);
    }

    fn active_revisions_with(&self, digest: &str) -> Vec<String> {
        self.s
            .revisions("model")
            .into_iter()
            .filter(|arn| self.s.describe_task_definition(arn).1.get("rollgate:digest") == Some(&json!(digest)))
            .collect()
    }

    /// The IAM actions the emulator authorized for deploy's key (the template's policy).
    fn allowed(&self) -> Vec<String> {
        let key = self.s.function_key("deploy");
        support::iam::decisions(&self.s.em.url, &key).into_iter().filter(|d| d.2).map(|d| d.0).collect()
    }

    fn live(&self) -> String {
        self.s.describe_service(&self.cluster, "api")["taskDefinition"].as_str().unwrap().to_owned()
    }
}

fn outcome(report: &DeployReport) -> &Outcome {
    &report.services[0].outcome
}

#[tokio::test]
async fn a_failed_update_leaves_no_orphan_and_the_retry_completes_the_rollout() {
    let t = Faulty::new("fault-update");
    let (digest, event) = t.push_v1();
    t.fault(json!({"seed": 1, "operations": {"UpdateService": {"http500": 1.0}}}));
    let report = t.deploy(&event, 1).await;
    assert!(matches!(outcome(&report), Outcome::Failed { error, .. } if error.contains("deregistered")), "{report:?}");
    assert!(report.needs_retry(), "a 500 is retryable");
    assert_eq!(t.live(), t.base, "the service did not move");
    assert!(t.active_revisions_with(&digest).is_empty(), "the registered revision was cleaned up");
    // The cleanup ran under the template's policy (AWS would refuse an ungranted action).
    assert!(t.allowed().iter().any(|a| a == "ecs:DeregisterTaskDefinition"), "{:?}", t.allowed());

    // Lambda's retry, with AWS healthy again: one revision, live.
    t.fault(json!({"seed": 1}));
    let report = t.deploy(&event, 1).await;
    assert!(matches!(outcome(&report), Outcome::Deployed { .. }), "{report:?}");
    assert_eq!(t.active_revisions_with(&digest), [t.live()]);
}

#[tokio::test]
async fn an_update_whose_answer_is_lost_is_recognised_as_done() {
    let t = Faulty::new("fault-update-lost");
    let (digest, event) = t.push_v1();
    t.fault(json!({"seed": 2, "operations": {"UpdateService": {"reset_after": 1.0}}}));
    let report = t.deploy(&event, 1).await;
    assert!(matches!(outcome(&report), Outcome::Deployed { .. }), "{report:?}");
    assert_eq!(t.active_revisions_with(&digest), [t.live()], "one revision, and it is live");
}

#[tokio::test]
async fn a_register_whose_answer_is_lost_is_not_registered_twice() {
    let t = Faulty::new("fault-register-lost");
    let (digest, event) = t.push_v1();
    // The first RegisterTaskDefinition lands but its answer is lost; the next calls go through.
    t.fault(json!({"seed": 3, "operations": {"RegisterTaskDefinition": {"reset_after": 1.0}}, "max_faults": 1}));
    let report = t.deploy(&event, 3).await;
    assert!(matches!(outcome(&report), Outcome::Deployed { .. }), "{report:?}");
    assert_eq!(t.active_revisions_with(&digest), [t.live()], "exactly one revision for the digest");
    // The lost answer was found through ListTaskDefinitions, under the template's policy.
    assert!(t.allowed().iter().any(|a| a == "ecs:ListTaskDefinitions"), "{:?}", t.allowed());
}

/// The kind: an earlier attempt's revision is found wherever it sits above the live revision,
/// not only while it is the family's latest. Here its answer and the lookup both fail, so the
/// invocation fails retryable; before Lambda's retry, another revision of the family is
/// registered (CI, a configuration change nobody deployed yet). The retry reuses the first
/// attempt's revision: one revision for the push, and it is live.
#[tokio::test]
async fn a_lost_registration_below_a_newer_revision_is_still_reused() {
    let t = Faulty::new("fault-register-buried");
    let (digest, event) = t.push_v1();
    t.fault(json!({"seed": 6, "operations": {"RegisterTaskDefinition": {"reset_after": 1.0},
                                             "ListTaskDefinitions": {"http500": 1.0}}, "max_faults": 3}));
    let report = t.deploy(&event, 2).await;
    assert!(report.needs_retry(), "the lookup failed: retryable {report:?}");
    let lost = t.active_revisions_with(&digest);
    assert_eq!(lost.len(), 1, "the lost attempt registered: {lost:?}");
    assert_eq!(t.live(), t.base, "the service did not move");
    // Two revisions of the family after it, neither this push's: the lost one is now neither
    // the latest nor right below it.
    let base = t.s.boto("ecs", "describe_task_definition", json!({"taskDefinition": t.base}))["taskDefinition"].clone();
    for n in 0..2 {
        let mut containers = base["containerDefinitions"].clone();
        containers[0]["environment"] = json!([{"name": "CI_BUILD", "value": n.to_string()}]);
        t.s.register(json!({"family": base["family"], "containerDefinitions": containers,
                            "requiresCompatibilities": base["requiresCompatibilities"], "networkMode": base["networkMode"],
                            "cpu": base["cpu"], "memory": base["memory"]}));
    }

    t.fault(json!({"seed": 6}));
    let report = t.deploy(&event, 1).await;
    assert!(matches!(outcome(&report), Outcome::Deployed { .. }), "{report:?}");
    assert_eq!(t.active_revisions_with(&digest), lost, "the lost attempt's revision, reused");
    assert_eq!(t.live(), lost[0]);
}

/// An earlier attempt's revision copied from a revision the service no longer runs is still
/// the push's one revision: it is deployed, never deregistered (a revision carrying the
/// push's marker may be one ECS ran and rolled back, which the gate has yet to judge) and
/// never doubled by a fresh registration.
#[tokio::test]
async fn a_lost_registration_from_another_base_is_the_pushs_one_revision() {
    let t = Faulty::new("fault-register-stale");
    let base = t.s.boto("ecs", "describe_task_definition", json!({"taskDefinition": t.base}))["taskDefinition"].clone();
    let variant = |name: &str| {
        let mut containers = base["containerDefinitions"].clone();
        containers[0]["environment"] = json!([{"name": name, "value": "1"}]);
        t.s.register(json!({"family": base["family"], "containerDefinitions": containers,
                            "requiresCompatibilities": base["requiresCompatibilities"], "networkMode": base["networkMode"],
                            "cpu": base["cpu"], "memory": base["memory"]}))
    };
    // A hotfix revision, registered but not deployed yet.
    let hotfix = variant("HOTFIX");
    let (digest, event) = t.push_v1();
    t.fault(json!({"seed": 7, "operations": {"RegisterTaskDefinition": {"reset_after": 1.0},
                                             "ListTaskDefinitions": {"http500": 1.0}}, "max_faults": 3}));
    assert!(t.deploy(&event, 2).await.needs_retry());
    let lost = t.active_revisions_with(&digest);
    assert_eq!(lost.len(), 1, "{lost:?}");
    // Before the retry, a person deploys the hotfix, and CI registers one more revision: the
    // lost attempt (copied from the old base) lies between the live revision and the latest.
    t.s.boto("ecs", "update_service", json!({"cluster": t.cluster, "service": "api", "taskDefinition": hotfix}));
    variant("CI_BUILD");

    t.fault(json!({"seed": 7}));
    let report = t.deploy(&event, 1).await;
    assert!(matches!(outcome(&report), Outcome::Deployed { .. }), "{report:?}");
    assert_eq!(t.active_revisions_with(&digest), lost, "one revision for the push: the lost attempt's");
    assert_eq!(t.live(), lost[0]);
}

#[tokio::test]
async fn throttling_and_resets_are_absorbed_by_retries() {
    let t = Faulty::new("fault-throttle");
    t.fault(json!({"seed": 4, "default": {"throttle": 0.15, "http503": 0.05, "reset": 0.05}}));
    let mut deployed = 0;
    for (i, tag) in ["v1", "v2", "v3", "v4", "v5"].iter().enumerate() {
        let digest = t.s.push_image(&t.repo, tag);
        let event = t.s.push_event(&t.repo, &digest, tag, &format!("2026-11-28T1{i}:00:00Z"));
        // Lambda retries a Retryable invocation: up to three attempts in all.
        for _ in 0..3 {
            let report = t.deploy(&event, 5).await;
            if !report.needs_retry() {
                deployed += report.deployed().count();
                break;
            }
        }
        assert_eq!(t.active_revisions_with(&digest).len(), 1, "{tag}: one revision");
    }
    assert_eq!(deployed, 5);
    let stats = faults().stats(&t.s.function_key("deploy"));
    assert!(
        stats["injected"].as_object().is_some_and(|m| m.values().any(|n| n.as_u64() > Some(0))),
        "faults were injected: {stats}"
    );
}

#[tokio::test]
async fn a_call_slower_than_its_timeout_is_bounded_and_never_half_done() {
    let t = Faulty::new("fault-slow");
    let (digest, event) = t.push_v1();
    // UpdateService takes effect but answers after 2.5 s: longer than the 2 s attempt timeout.
    t.fault(json!({"seed": 5, "operations": {"UpdateService": {"delay": 1.0, "delay_ms": 2500}}}));
    let report = t.deploy(&event, 1).await;
    // The SDK gives up on the answer; rollgate checks and finds the update landed.
    assert!(matches!(outcome(&report), Outcome::Deployed { .. }), "{report:?}");
    assert_eq!(t.active_revisions_with(&digest), [t.live()], "one revision, live");
}
