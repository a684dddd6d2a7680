//! deploy's orchestration against an in-memory ECS (`rollgate_aws::ecs::memory`): lost
//! answers, Lambda's retries and a spent budget, in milliseconds. The emulator's tests
//! (tests/faults.rs) cover the same paths through the real SDK over HTTP.

use deploy::handler::{handle, handle_within};
use rollgate_aws::ecr::ImageCatalog;
use rollgate_aws::ecs::memory::{Fault, MemoryEcs};
use rollgate_aws::{Aws, AwsError};
use rollgate_core::config::DeployConfig;
use rollgate_core::image::{ConfigPlatform, Manifest, Platform};
use rollgate_core::reconcile::RepoImage;
use rollgate_core::report::{DeployReport, Outcome};
use rollgate_core::{AccountId, Digest, ErrorClass, ServiceArn, TaskDefArn};
use rollgate_lambda::Budget;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const FAMILY: &str = "model";
const PUSH: &str = include_str!("../../../events/ecr-push.json");
/// The digest events/ecr-push.json pushes.
const DIGEST: &str = "sha256:4f7e0c8a1b9d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b";

/// ECR as deploy reads it for a push: the pushed digest is a single linux/amd64 image.
struct Registry;

impl ImageCatalog for Registry {
    async fn images(&self, _: &AccountId, _: &str) -> Result<Vec<RepoImage>, AwsError> {
        Ok(vec![])
    }
    async fn manifest(&self, _: &AccountId, _: &str, digest: &Digest) -> Result<Option<Manifest>, AwsError> {
        let platform = Platform { os: "linux".into(), architecture: "amd64".into(), variant: None, os_version: None };
        Ok(Some(Manifest::Image { config: digest.clone(), platform: ConfigPlatform::Stated(platform) }))
    }
}

struct World {
    aws: Aws<MemoryEcs, Registry>,
    service: ServiceArn,
    base: TaskDefArn,
}

impl World {
    /// One service in cluster `prod` tracking `rollgate-demo`, on revision 1 of the family.
    fn new() -> Self {
        let ecs = MemoryEcs::new();
        let image = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/rollgate-demo:v0");
        let base = ecs.register(ACCOUNT, REGION, FAMILY, &[("model", &image)], &[("team", "ml")]);
        let service = ServiceArn::parse(&format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/api")).unwrap();
        ecs.add_service(&service, &base, &[("rollgate:repository", "rollgate-demo")]);
        Self { aws: Aws::new().with_ecs(ecs).with_ecr(Registry), service, base }
    }

    fn config() -> DeployConfig {
        DeployConfig {
            clusters: vec!["prod".into()],
            max_in_flight: 1,
            trusted_registries: vec![],
            discovery: Default::default(),
            reconcile: Default::default(),
        }
    }

    async fn push(&self) -> DeployReport {
        handle(&self.aws, &Self::config(), PUSH).await.expect("a valid event")
    }

    fn ecs(&self) -> &MemoryEcs {
        &self.aws.ecs
    }

    /// The ACTIVE revisions that carry the push's digest.
    fn revisions_of_push(&self) -> Vec<TaskDefArn> {
        let digest = DIGEST.to_owned();
        self.ecs()
            .revisions(FAMILY)
            .into_iter()
            .filter(|(_, active, tags)| *active && tags.get("rollgate:digest") == Some(&digest))
            .map(|(arn, ..)| arn)
            .collect()
    }

    fn live(&self) -> TaskDefArn {
        self.ecs().live(&self.service).unwrap()
    }

    fn writes(&self) -> Vec<&'static str> {
        let reads = ["GetResources", "ListServices", "DescribeServices", "DescribeTaskDefinition"];
        self.ecs().calls().into_iter().filter(|c| !reads.contains(c)).collect()
    }
}

fn deployed(report: &DeployReport) -> bool {
    matches!(report.services[..], [ref one] if matches!(one.outcome, Outcome::Deployed { .. }))
}

#[tokio::test]
async fn a_push_costs_five_calls_and_makes_one_revision() {
    let w = World::new();
    let report = w.push().await;
    assert!(deployed(&report), "{report:?}");
    assert_eq!(
        w.ecs().calls(),
        ["GetResources", "DescribeServices", "DescribeTaskDefinition", "RegisterTaskDefinition", "UpdateService"]
    );
    assert_eq!(w.revisions_of_push(), [w.live()]);
    // The redelivered event changes nothing.
    let again = w.push().await;
    assert!(!again.needs_retry(), "{again:?}");
    assert_eq!(w.writes(), ["RegisterTaskDefinition", "UpdateService"]);
}

#[tokio::test]
async fn a_lost_registration_is_reused_by_the_retry() {
    let w = World::new();
    w.ecs().fault("RegisterTaskDefinition", Fault::LoseAnswer);
    let first = w.push().await;
    assert!(first.needs_retry(), "{first:?}");
    assert_eq!(w.live(), w.base, "not deployed yet");
    let lost = w.revisions_of_push();
    assert_eq!(lost.len(), 1);
    let retry = w.push().await;
    assert!(deployed(&retry), "{retry:?}");
    assert_eq!(w.revisions_of_push(), lost, "reused, not registered again");
    assert_eq!(w.live(), lost[0]);
}

#[tokio::test]
async fn a_lost_registration_below_newer_revisions_is_reused_by_the_retry() {
    let w = World::new();
    w.ecs().fault("RegisterTaskDefinition", Fault::LoseAnswer);
    assert!(w.push().await.needs_retry());
    let lost = w.revisions_of_push();
    // CI registers two revisions of the family before Lambda's retry.
    for n in ["1", "2"] {
        w.ecs().register(ACCOUNT, REGION, FAMILY, &[("model", "ci:latest")], &[("ci-build", n)]);
    }
    let retry = w.push().await;
    assert!(deployed(&retry), "{retry:?}");
    assert_eq!(w.revisions_of_push(), lost);
    assert_eq!(w.live(), lost[0]);
}

#[tokio::test]
async fn a_failed_update_deregisters_and_the_retry_starts_clean() {
    let w = World::new();
    w.ecs().fault("UpdateService", Fault::Fail);
    let first = w.push().await;
    assert!(first.needs_retry(), "{first:?}");
    assert!(w.revisions_of_push().is_empty(), "deregistered: no orphan");
    assert_eq!(w.live(), w.base);
    let retry = w.push().await;
    assert!(deployed(&retry), "{retry:?}");
    assert_eq!(w.revisions_of_push(), [w.live()]);
}

#[tokio::test]
async fn an_update_whose_answer_is_lost_is_recognised_as_done() {
    let w = World::new();
    w.ecs().fault("UpdateService", Fault::LoseAnswer);
    let report = w.push().await;
    assert!(deployed(&report), "{report:?}");
    assert_eq!(w.revisions_of_push(), [w.live()]);
    assert_eq!(w.writes(), ["RegisterTaskDefinition", "UpdateService"], "nothing deregistered");
}

#[tokio::test]
async fn a_failed_update_that_cannot_be_checked_keeps_the_revision_for_the_retry() {
    let w = World::new();
    w.ecs().fault("UpdateService", Fault::Fail);
    // The second DescribeServices: the check after the failed update (the first is discovery).
    w.ecs().fault_nth("DescribeServices", 2, Fault::Fail);
    let first = w.push().await;
    let [ref one] = first.services[..] else { panic!("{first:?}") };
    assert!(matches!(one.outcome, Outcome::Failed { class: ErrorClass::Retryable, .. }), "{first:?}");
    let kept = w.revisions_of_push();
    assert_eq!(kept.len(), 1, "kept: it may be live");
    let retry = w.push().await;
    assert!(deployed(&retry), "{retry:?}");
    assert_eq!(w.revisions_of_push(), kept);
}

#[tokio::test]
async fn a_spent_budget_writes_nothing_and_asks_for_a_retry() {
    let w = World::new();
    let report = handle_within(&w.aws, &World::config(), PUSH, Budget::after(std::time::Duration::ZERO)).await.unwrap();
    assert!(report.needs_retry(), "{report:?}");
    assert!(w.writes().is_empty(), "{:?}", w.ecs().calls());
    assert_eq!(w.live(), w.base);
}

/// CI deregisters old revisions, the live one too: the family has no ACTIVE revision left and
/// ECS answers DescribeTaskDefinition by family with ClientException. The push still deploys,
/// copied from the live revision (ECS still describes an INACTIVE one), and is never failed for
/// good.
#[tokio::test]
async fn a_push_deploys_when_housekeeping_deregistered_every_revision_of_the_family() {
    use rollgate_aws::ecs::TaskDefinitions;
    let w = World::new();
    w.ecs().deregister(&w.base).await.unwrap();
    let report = w.push().await;
    assert!(deployed(&report), "{report:?}");
    assert_eq!(w.revisions_of_push(), [w.live()]);
}
