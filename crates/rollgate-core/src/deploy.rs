//! The deploy decisions: does a push go to a service, and what revision does it get.
//!
//! Two pure steps, because the second needs a fact (the current task definition)
//! that is only worth fetching for services the first step accepts:
//! 1. [`match_service`]: from the push and the service's tags alone.
//! 2. [`plan_rollout`]: from the push, the opt-in and the current revision.

use std::fmt;

use serde::Serialize;

use crate::events::PushEvent;
use crate::gate::RolloutState;
use crate::image::registry_host;
use crate::ledger::{RevisionRecord, keys, revision_tags};
use crate::service::{OptIn, ServiceView, TaskDefSummary};
use crate::{AccountId, ImageRef, InputError, TaskDefArn};

/// Why a matching service gets no new revision. Each is logged and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The service runs in another account than the push came from.
    AccountMismatch {
        /// The push's account (12 digits).
        event: String,
        /// The service's account (12 digits).
        service: String,
    },
    /// The service runs in another region than the push came from.
    RegionMismatch {
        /// The push's region.
        event: String,
        /// The service's region.
        service: String,
    },
    /// The pushed tag does not pass `rollgate:tag-filter`.
    TagFiltered {
        /// The pushed tag; `None` for an untagged push on a service without `rollgate:deploy-untagged=true`.
        tag: Option<String>,
        /// The service's `rollgate:tag-filter`, as written.
        filter: String,
    },
    /// The service is draining or inactive.
    ServiceInactive {
        /// The service's `status` as DescribeServices returns it (`DRAINING`, `INACTIVE`, ...).
        status: String,
    },
    /// This digest is already what the service runs (a duplicate delivery, or a re-tag).
    AlreadyDeployed {
        /// The live revision, `family:number`.
        revision: String,
    },
    /// A newer push (or one from the same second) is already deployed; rollgate never moves a
    /// service backwards.
    OlderThanDeployed {
        /// The push's event time, RFC 3339 UTC.
        pushed_at: String,
        /// The deployed push's time from its revision's ledger, RFC 3339 UTC.
        deployed_pushed_at: String,
    },
    /// An untagged push announced by an event: it may be part of a multi-platform push still
    /// in progress. The reconciler deploys it once the grace window has passed, if no index
    /// lists it and nothing newer qualifies.
    AwaitingIndex {
        /// The grace window ([`INDEX_GRACE`]), in seconds.
        grace_seconds: i64,
    },
    /// The service is deployed by another controller (CodeDeploy, an external one): ECS
    /// refuses UpdateService with a new task definition for it.
    OtherController {
        /// `deploymentController.type`: `CODE_DEPLOY` or `EXTERNAL`.
        controller: String,
    },
    /// Older than the newest push that was rolled back on the service (`rollgate:high-water`):
    /// after a rollback the live revision is older, and this keeps older pushes out.
    OlderThanRolledBack {
        /// The push's event time, RFC 3339 UTC.
        pushed_at: String,
        /// The `rollgate:high-water` time, RFC 3339 UTC.
        rolled_back_pushed_at: String,
    },
    /// The release has no image for the platform the service's tasks run on: ECS could not
    /// pull it ("image Manifest does not contain descriptor matching platform").
    PlatformMismatch {
        /// The platform the service's tasks run on.
        task: crate::image::Platform,
        /// The platforms the release has images for.
        image: Vec<crate::image::Platform>,
    },
    /// The push came from a registry the service's containers do not pull the repository from
    /// (a trusted central registry holding the same repository name as the service's own).
    OtherRegistry {
        /// The pushing registry's host, `<account>.dkr.ecr.<region>.amazonaws.com` (`.com.cn` in China).
        pushed: String,
        /// The registry host the service's containers pull the repository from.
        used: String,
    },
    /// The health gate failed this digest on this service; it is never redeployed automatically.
    DigestFailed {
        /// The pushed digest, `sha256:<64 hex>`.
        digest: String,
        /// Where the service records the failure: its `rollgate:failed:<digest>` tag or `rollgate:failed-digests`.
        failed: crate::tags::FailedMark,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccountMismatch { event, service } => {
                write!(
                    f,
                    "push came from account {event}, the service runs in account {service}; \
                     list {event} in ROLLGATE_TRUSTED_REGISTRIES to accept its images"
                )
            }
            Self::RegionMismatch { event, service } => {
                write!(f, "push came from region {event}, the service runs in region {service}")
            }
            Self::TagFiltered { tag: Some(tag), filter } => {
                write!(f, "tag {tag} does not pass rollgate:tag-filter {filter}")
            }
            Self::TagFiltered { tag: None, .. } => write!(
                f,
                "a push without a tag (a multi-arch push's per-platform manifest, an attestation, or a push by digest): untagged pushes deploy only with rollgate:deploy-untagged=true"
            ),
            Self::ServiceInactive { status } => write!(f, "service is {status}"),
            Self::AlreadyDeployed { revision } => {
                write!(f, "digest already deployed as {revision}")
            }
            Self::OtherRegistry { pushed, used } => write!(
                f,
                "pushed to {pushed}, but the service's containers pull this repository from {used}: a push there deploys"
            ),
            Self::AwaitingIndex { grace_seconds } => write!(
                f,
                "an untagged push may be part of a multi-platform push still in progress: the reconciler deploys it once {grace_seconds} s have passed since the push, if no image index in the repository lists it and nothing newer qualifies"
            ),
            Self::OtherController { controller } => write!(
                f,
                "the service's deployment controller is {controller}: ECS refuses UpdateService with a new task definition for it; deploy it with that controller, or untrack it"
            ),
            Self::OlderThanRolledBack { pushed_at, rolled_back_pushed_at } => write!(
                f,
                "push from {pushed_at} is older than the newest rolled-back push ({rolled_back_pushed_at}, rollgate:high-water): rollgate never deploys over a rollback backwards"
            ),
            Self::OlderThanDeployed { pushed_at, deployed_pushed_at } => {
                write!(f, "push from {pushed_at} is not newer than the deployed push from {deployed_pushed_at}")
            }
            Self::PlatformMismatch { task, image } => write!(
                f,
                "the service's tasks run on {task} (the task definition's runtimePlatform, or Fargate's default without one), but the image is for {}: ECS could not pull it; push an image for {task}, or a multi-platform image index that includes it",
                if image.is_empty() {
                    "no known platform".to_owned()
                } else {
                    image.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                }
            ),
            Self::DigestFailed { digest, failed } => {
                write!(f, "digest {digest} failed on this service {failed}; push a new image")
            }
        }
    }
}

/// How long an untagged single image waits for an image index that lists it before the
/// reconciler may deploy it (services with `rollgate:deploy-untagged=true`). BuildKit pushes
/// an index seconds after its images; the multi-runner "push by digest, then imagetools
/// create" pattern merges once every platform's build is done, usually within minutes.
pub const INDEX_GRACE: chrono::Duration = chrono::Duration::minutes(15);

/// The first decision, from the service's tags alone.
#[derive(Debug, Clone)]
pub enum Match {
    /// The service does not track this repository (or has not opted in): not reported.
    NotTracking,
    /// The service tracks the repository but must not take this push.
    Skip(SkipReason),
    /// The service's rollgate tags are broken; the message says which and how to fix it.
    Misconfigured(InputError),
    /// Go on: fetch the current revision and plan.
    Candidate(OptIn),
}

/// Decides from the service's tags alone. `trusted_registries` are other accounts whose
/// registries may supply this service's images (a central registry); by default an image
/// must come from the service's own account.
pub fn match_service(push: &PushEvent, service: &ServiceView, trusted_registries: &[AccountId]) -> Match {
    if OptIn::repository_tag(&service.tags).as_deref() != Some(push.repository.as_str()) {
        return Match::NotTracking;
    }
    let opt_in = match OptIn::from_tags(&service.tags) {
        Ok(Some(opt_in)) => opt_in,
        Ok(None) => return Match::NotTracking,
        Err(e) => return Match::Misconfigured(e),
    };
    let (account, region) = (service.arn.account(), service.arn.region());
    if account != push.envelope.account && !trusted_registries.contains(&push.envelope.account) {
        return Match::Skip(SkipReason::AccountMismatch {
            event: push.envelope.account.to_string(),
            service: account.to_string(),
        });
    }
    if region != push.envelope.region {
        return Match::Skip(SkipReason::RegionMismatch {
            event: push.envelope.region.to_string(),
            service: region.to_string(),
        });
    }
    if service.status != crate::service::ServiceStatus::Active {
        return Match::Skip(SkipReason::ServiceInactive { status: service.status.to_string() });
    }
    // Before anything is registered: a revision registered for a service ECS will not move
    // would only be deregistered again (an orphan per push).
    if service.deployment_controller != crate::service::DeploymentController::Ecs {
        return Match::Skip(SkipReason::OtherController {
            controller: service.deployment_controller.as_str().to_owned(),
        });
    }
    if let Some(failed) = crate::tags::failed_mark(&service.tags, &push.digest) {
        return Match::Skip(SkipReason::DigestFailed { digest: push.digest.to_string(), failed });
    }
    // An untagged push announced by an event may be part of a multi-platform push still in
    // progress (a platform's image, or a runner's per-platform index before the merged one):
    // only the reconciler, after the grace window, deploys it.
    if push.tag.is_none() && opt_in.deploy_untagged && push.arrival != crate::events::Arrival::Catalog {
        return Match::Skip(SkipReason::AwaitingIndex { grace_seconds: INDEX_GRACE.num_seconds() });
    }
    // The filter is for tags; an untagged push deploys only when the service opted in.
    let passes = match &push.tag {
        Some(tag) => opt_in.filter.matches(Some(tag)),
        None => opt_in.deploy_untagged,
    };
    if !passes {
        return Match::Skip(SkipReason::TagFiltered {
            tag: push.tag.as_ref().map(ToString::to_string),
            filter: opt_in.filter.to_string(),
        });
    }
    Match::Candidate(opt_in)
}

/// What to register and roll out for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutPlan {
    /// The revision to copy.
    pub base: TaskDefArn,
    /// The containers whose image changes: every container whose image comes from the
    /// repository, and those `rollgate:container` names. Together: a task never runs two
    /// versions of the release.
    pub containers: Vec<String>,
    /// Each moved container and the digest-pinned image it gets (in the endpoint form its
    /// image already used: standard, FIPS or dual-stack).
    pub images: Vec<(String, String)>,
    /// All tags of the new revision (the user's, then the ledger record).
    pub tags: Vec<(String, String)>,
    /// The ledger record of the new revision (also among `tags`): digest, tag, push time, previous
    /// revision, rollback target.
    pub record: RevisionRecord,
    /// The base revision's own tags that did not fit (ECS allows 50 a revision, and room is kept
    /// for the health gate's tags): not copied. Reported, never silently.
    pub dropped_tags: Vec<String>,
}

/// The second decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Register a new revision and move the service to it.
    Rollout(Box<RolloutPlan>),
    /// The service stays on its revision, for this reason.
    Skip(SkipReason),
}

/// A planning failure: the service's configuration does not allow a rollout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// `rollgate:container` names a container the current task definition does not have.
    #[error(
        "rollgate:container is {wanted:?} but the task definition has no such container (it has: {have}); fix the tag"
    )]
    NoSuchContainer {
        /// The container name the tag names.
        wanted: String,
        /// The task definition's container names, comma-separated.
        have: String,
    },
    /// No container's image is the repository in the pushing registry, and `rollgate:container` names none.
    #[error("no container's image comes from {registry}/{repository}; tag the service with rollgate:container=<name>")]
    NoContainerFromRepository {
        /// The pushing registry's host.
        registry: String,
        /// The repository's name.
        repository: String,
    },
    /// The service's containers pull the repository from another registry than the push's
    /// (a trusted central registry and the service's own can hold the same repository name).
    #[error("the service's containers pull {repository} from {used}, not from {pushed}")]
    OtherRegistry {
        /// The pushing registry's host.
        pushed: String,
        /// The registry host the containers pull the repository from.
        used: String,
        /// The repository's name.
        repository: String,
    },
    /// The live revision's `rollgate:*` ledger tags do not parse; the payload says which.
    #[error("the current revision's ledger tags are broken ({0}); fix or remove the rollgate:* tags on it")]
    BrokenLedger(InputError),
}

/// Plans the new revision of one service [`match_service`] accepted: `current` is its live task
/// definition (DescribeTaskDefinition). Returns [`Decision::Skip`] for an image already deployed, a
/// push not newer than the deployed one or the `rollgate:high-water` mark, a platform the release
/// lacks, or another registry. Errors: [`PlanError::NoSuchContainer`],
/// [`PlanError::NoContainerFromRepository`], [`PlanError::BrokenLedger`].
pub fn plan_rollout(
    push: &PushEvent,
    service: &ServiceView,
    opt_in: &OptIn,
    current: &TaskDefSummary,
) -> Result<Decision, PlanError> {
    let registry = registry_host(&push.envelope.account, &push.envelope.region);
    let containers = match pick_containers(&push.envelope.account, &push.envelope.region, opt_in, current) {
        Err(PlanError::OtherRegistry { pushed, used, .. }) => {
            return Ok(Decision::Skip(SkipReason::OtherRegistry { pushed, used }));
        }
        other => other?,
    };
    if let (Some(task), Some(image)) = (current.platform_for(service), &push.platforms)
        && !image.iter().any(|p| p.runs_on(task))
    {
        return Ok(Decision::Skip(SkipReason::PlatformMismatch { task: task.clone(), image: image.clone() }));
    }

    let record = RevisionRecord::from_tags(&current.tags).map_err(PlanError::BrokenLedger)?;
    let runs_it =
        |c: &&crate::service::ContainerImage| ImageRef::parse(&c.image).digest.as_deref() == Some(push.digest.as_str());
    if record.as_ref().is_some_and(|r| r.digest == push.digest) || containers.iter().all(runs_it) {
        return Ok(Decision::Skip(SkipReason::AlreadyDeployed { revision: current.arn.revision().to_string() }));
    }
    // After a rollback the live revision is older than what was last rolled out.
    if let Some(high_water) =
        service.tags.get(keys::HIGH_WATER).and_then(|t| crate::ledger::parse_time(keys::HIGH_WATER, t).ok())
        && push.envelope.time < high_water
    {
        return Ok(Decision::Skip(SkipReason::OlderThanRolledBack {
            pushed_at: push.envelope.time.to_rfc3339(),
            rolled_back_pushed_at: high_water.to_rfc3339(),
        }));
    }
    let release = crate::ledger::Release::of(&push.manifest);
    if let Some(deployed) = &record {
        // Equal times do not deploy either: EventBridge times have one-second resolution, so
        // of two pushes in the same second neither is provably newer, and a redelivery must
        // never move a service backwards. The reconciler, which orders by ECR's exact push
        // time, settles such a tie. One exception: an image index outranks a single image of
        // the same second, which may be one of its children (ECR pushes those first); a
        // redelivered child then never outranks its index.
        let index_over_image = push.envelope.time == deployed.pushed_at
            && release == Some(crate::ledger::Release::Index)
            && deployed.manifest != Some(crate::ledger::Release::Index);
        if push.envelope.time <= deployed.pushed_at && !index_over_image {
            return Ok(Decision::Skip(SkipReason::OlderThanDeployed {
                pushed_at: push.envelope.time.to_rfc3339(),
                deployed_pushed_at: deployed.pushed_at.to_rfc3339(),
            }));
        }
    }

    let known_good = known_good(service, current, record.as_ref());
    let record = RevisionRecord {
        known_good,
        digest: push.digest.clone(),
        image_tag: push.tag.clone(),
        pushed_at: push.envelope.time,
        previous: Some(current.arn.clone()),
        event_id: push.envelope.id.clone(),
        service: service.arn.clone(),
        containers: containers.iter().map(|c| c.name.clone()).collect(),
        cause: crate::ledger::Cause::Push,
        manifest: release,
    };
    // Room for the state tag below and for what the gate writes later.
    let max_bad_tasks = crate::gate::GateSettings::from_tags(&service.tags)
        .map_or(crate::gate::GateSettings::MAX_MAX_BAD_TASKS, |s| s.max_bad_tasks);
    let mut tags = revision_tags(&current.tags, &record, 1 + crate::tags::revision_reserve(max_bad_tasks));
    tags.push((keys::STATE.to_owned(), RolloutState::Deploying.as_str().to_owned()));
    let dropped_tags = crate::ledger::user_tags(&current.tags)
        .filter(|k| !tags.iter().any(|(t, _)| t == *k))
        .map(str::to_owned)
        .collect();
    Ok(Decision::Rollout(Box::new(RolloutPlan {
        base: current.arn.clone(),
        containers: containers.iter().map(|c| c.name.clone()).collect(),
        images: containers
            .iter()
            .map(|c| {
                // Keep the container's own endpoint form of the same registry (FIPS, dual-stack).
                let image = ImageRef::parse(&c.image);
                let same = image.is_in(&push.envelope.account, &push.envelope.region, &push.repository);
                let own = image.registry.filter(|_| same).unwrap_or_else(|| registry.clone());
                (c.name.clone(), ImageRef::pinned(&own, &push.repository, &push.digest))
            })
            .collect(),
        tags,
        record,
        dropped_tags,
    })))
}

/// The rollback target to record on a new revision: the gate's last known good revision;
/// failing that, the live revision if it predates rollgate or was verified healthy;
/// failing that, whatever the live revision itself recorded.
fn known_good(service: &ServiceView, current: &TaskDefSummary, record: Option<&RevisionRecord>) -> Option<TaskDefArn> {
    if let Some(last_good) = service.tags.get(keys::LAST_GOOD).and_then(|t| TaskDefArn::parse(t).ok()) {
        return Some(last_good);
    }
    match (record, RolloutState::of(&current.tags)) {
        (None, _) | (_, Some(RolloutState::Healthy)) => Some(current.arn.clone()),
        (Some(r), _) => r.known_good.clone(),
    }
}

/// The containers a push moves: every container whose image comes from the repository in the
/// pushing registry (`account`, `region`, any ECR endpoint form), and every container
/// `rollgate:container` names, unless its image is that repository in another ECR registry.
/// Errors: a named container does not exist; no container qualifies (misconfigured); or the
/// containers pull the repository from another registry ([`PlanError::OtherRegistry`]: a
/// trusted central registry and the service's own can hold the same repository name, and a
/// push to one never moves a container off the other).
pub(crate) fn pick_containers<'a>(
    account: &AccountId,
    region: &crate::Region,
    opt_in: &OptIn,
    current: &'a TaskDefSummary,
) -> Result<Vec<&'a crate::service::ContainerImage>, PlanError> {
    let names = || current.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    if let Some(missing) = opt_in.containers.iter().find(|w| !current.containers.iter().any(|c| &c.name == *w)) {
        return Err(PlanError::NoSuchContainer { wanted: missing.clone(), have: names() });
    }
    let here =
        |c: &crate::service::ContainerImage| ImageRef::parse(&c.image).is_in(account, region, &opt_in.repository);
    // The repository in another ECR registry (another account or region).
    let elsewhere = |c: &crate::service::ContainerImage| {
        let image = ImageRef::parse(&c.image);
        image.repository == opt_in.repository.as_str()
            && image
                .registry
                .as_deref()
                .and_then(crate::image::ecr_registry)
                .is_some_and(|(a, r)| &a != account || &r != region)
    };
    let registry = registry_host(account, region);
    if !current.containers.iter().any(here)
        && let Some(other) = current.containers.iter().find(|c| elsewhere(c))
    {
        return Err(PlanError::OtherRegistry {
            pushed: registry,
            used: ImageRef::parse(&other.image).registry.unwrap_or_default(),
            repository: opt_in.repository.to_string(),
        });
    }
    let moved: Vec<_> = current
        .containers
        .iter()
        .filter(|c| here(c) || (opt_in.containers.contains(&c.name) && !elsewhere(c)))
        .collect();
    if moved.is_empty() {
        return Err(PlanError::NoContainerFromRepository { registry, repository: opt_in.repository.to_string() });
    }
    Ok(moved)
}
