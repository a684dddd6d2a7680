//! A live revision that rollgate did not roll out to this service: registered by hand or by
//! CloudFormation, the pre-rollgate revision put back once a last known good exists, or
//! another service's rollout revision that a person pointed this service at.
//!
//! ECS's live state outranks rollgate's records (docs/architecture.md): whenever the revision
//! ECS runs is not the last known good and has no standing healthy verdict, it is judged like
//! any rollout, or rolled back to the last known good. Such a revision carries no ledger for
//! this service, and another service may run it too, so its ledger lives on the service: one
//! tag, `rollgate:outside` = `<state>@<time> <family>:<revision>` ([`OutsideRecord`]).
//!
//! The gate judges it through a *ledger view* ([`outside_view`]): the revision with its own
//! `rollgate:*` tags removed and the record's state put in their place, so [`evaluate`],
//! [`judge_rollback`] and [`plan`] decide about it as about any rollout. [`on_service`] then
//! moves the plan's revision write (its state, the commit point) onto the service's record.
//!
//! What such a revision is judged by: ECS's own deployment outcome (a failed deployment, its
//! circuit breaker), watched alarms, the smoke test, the deadline, and the running count after
//! the bake. Abnormal task stops are not counted one by one (they are recorded on a rollout's
//! own revision, which this one is not); they show as ECS's failed deployment or a short count.
//! Its failure is recorded as a configuration's (`rollgate:failed-config` = the revision), never
//! as a failed digest: rollgate did not choose its image, and the image may run well under
//! rollgate's own revision.
//!
//! [`evaluate`]: crate::gate::evaluate
//! [`judge_rollback`]: crate::gate::judge_rollback
//! [`plan`]: crate::gate::plan

use chrono::{DateTime, Utc};

use super::plan::{GatePlan, RevisionTagsOn};
use crate::TaskDefArn;
use crate::keys;
use crate::ledger::{RevisionRecord, format_time, parse_time};
use crate::rollout::RolloutState;
use crate::service::{ServiceView, TaskDefSummary};

/// The service's ledger of an outside revision (`rollgate:outside`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideRecord {
    /// The revision's rollout state as the gate judged it.
    pub state: RolloutState,
    /// When the state began: first seen (verifying), its deployment COMPLETED (baking), or the
    /// verdict (every final state, and rolling-back: the rollback's start). RFC 3339 UTC.
    pub at: DateTime<Utc>,
    /// The revision.
    pub revision: TaskDefArn,
}

impl OutsideRecord {
    /// The tag value: `<state>@<time> <family>:<revision>`, e.g.
    /// `baking@2026-12-03T12:00:00Z api:7` (letters, digits and `@ : - _ .`, all within ECS's
    /// tag alphabet). The revision is named without its ARN's prefix, which is the service's
    /// account and region: 37 characters and the family (ECS allows 255) must fit ECS's 256
    /// per value ([`OutsideRecord::fits`]).
    pub fn to_tag_value(&self) -> String {
        format!("{}@{} {}", self.state.as_str(), format_time(self.at), self.revision.revision())
    }

    /// Whether the value fits a tag (256 characters): a family of up to about 210 characters.
    pub fn fits(&self) -> bool {
        self.to_tag_value().chars().count() <= crate::tags::MAX_VALUE_CHARS
    }

    /// Reads a tag value written by [`OutsideRecord::to_tag_value`] on `service` (whose account
    /// and region complete the revision's ARN); `None` when unreadable (a person edited it): the
    /// revision is then judged as if first seen.
    pub fn parse(value: &str, service: &crate::ServiceArn) -> Option<Self> {
        let (head, revision) = value.split_once(' ')?;
        let (state, at) = head.split_once('@')?;
        let (prefix, _) = service.as_str().split_once(":service/")?;
        Some(Self {
            state: RolloutState::parse(state)?,
            at: parse_time(keys::OUTSIDE, at).ok()?,
            revision: TaskDefArn::parse(&format!("{prefix}:task-definition/{revision}")).ok()?,
        })
    }

    /// The service's record, if it has a readable one.
    pub fn of(service: &ServiceView) -> Option<Self> {
        service.tags.get(keys::OUTSIDE).and_then(|v| Self::parse(v, &service.arn))
    }
}

/// Whether `revision` is rollgate's own for `service`: a rollout's ledger naming the service
/// (`rollgate:service`, readable), or the gate's copy of a rollback target registered for it
/// (`rollgate:copy-of` with the service's `rollgate:service`), also of a pre-rollgate target,
/// whose copy has no rollout ledger.
fn has_own_ledger(service: &ServiceView, revision: &TaskDefSummary) -> bool {
    let ours = |s: &String| s == service.arn.as_str();
    RevisionRecord::from_tags(&revision.tags).ok().flatten().is_some_and(|r| r.service == service.arn)
        || (revision.tags.contains_key(keys::COPY_OF) && revision.tags.get(keys::SERVICE).is_some_and(ours))
}

/// Whether the service runs `revision` although rollgate did not roll it out to the service:
/// the service has a last known good, `revision` is live and is not it, and `revision` has no
/// ledger of this service (none at all, an unreadable one, or another service's). A service
/// without a last known good adopts its steady pre-rollgate revision instead
/// ([`adopt_known_good`](crate::gate::adopt_known_good)).
pub fn is_outside(service: &ServiceView, revision: &TaskDefSummary) -> bool {
    let Some(last_good) = service.tags.get(keys::LAST_GOOD) else { return false };
    service.task_definition.as_ref() == Some(&revision.arn)
        && last_good != revision.arn.as_str()
        && !has_own_ledger(service, revision)
}

/// The ledger view of an outside revision: `revision` with its own `rollgate:*` tags (another
/// service's ledger, a stray tag) removed, and in their place `rollgate:outside` (the marker
/// [`RolloutState::of`] reads), `rollgate:service` (this service), and the state the service's
/// record holds for it, with its time as `rollgate:completed-at` (baking) or
/// `rollgate:decided-at` (a verdict, a rollback's start). A rolling-back or rolled-back view
/// names the service's last known good as `rollgate:rollback-to`.
///
/// `None` when `revision` is not an outside revision of `service`: neither live as one
/// ([`is_outside`]), nor named by the service's record, nor [`failed_unseen`]. A record of a
/// healthy verdict does not count: that revision became the last known good, and if ECS runs
/// it again once another revision has, it is judged afresh.
pub fn outside_view(service: &ServiceView, revision: &TaskDefSummary) -> Option<TaskDefSummary> {
    if has_own_ledger(service, revision) {
        return None;
    }
    let record = OutsideRecord::of(service).filter(|r| r.revision == revision.arn && r.state != RolloutState::Healthy);
    if record.is_none() && !is_outside(service, revision) && !failed_unseen(service, revision) {
        return None;
    }
    let mut tags: crate::Tags = revision
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with(keys::PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let marker = record.as_ref().map_or_else(String::new, OutsideRecord::to_tag_value);
    tags.insert(keys::OUTSIDE.to_owned(), marker);
    tags.insert(keys::SERVICE.to_owned(), service.arn.to_string());
    let state = record.as_ref().map_or(RolloutState::Deploying, |r| r.state);
    tags.insert(keys::STATE.to_owned(), state.as_str().to_owned());
    if let Some(r) = &record {
        let at = format_time(r.at);
        match r.state {
            RolloutState::Baking => {
                tags.insert(keys::COMPLETED_AT.to_owned(), at);
            }
            RolloutState::Deploying | RolloutState::Verifying | RolloutState::Healthy => {}
            RolloutState::RollingBack | RolloutState::RolledBack => {
                tags.insert(keys::DECIDED_AT.to_owned(), at);
                tags.insert(keys::ROLLED_BACK_BY.to_owned(), super::RolledBackBy::Rollgate.as_str().to_owned());
                if let Some(to) = service.tags.get(keys::LAST_GOOD).filter(|t| *t != revision.arn.as_str()) {
                    tags.insert(keys::ROLLBACK_TO.to_owned(), to.clone());
                }
            }
            RolloutState::Failed | RolloutState::RollbackFailed | RolloutState::Superseded => {
                tags.insert(keys::DECIDED_AT.to_owned(), at);
            }
        }
    }
    Some(TaskDefSummary { tags, ..revision.clone() })
}

/// An outside revision whose deployment failed before any gate run saw it live: ECS's circuit
/// breaker already sent the service back, and lists the failed deployment for a while. It is
/// judged once (rolled back by ECS: `Rollout Rolled Back`, its failure recorded), so its
/// failure is published; once `rollgate:failed-config` names it, it is not judged again.
fn failed_unseen(service: &ServiceView, revision: &TaskDefSummary) -> bool {
    let Some(last_good) = service.tags.get(keys::LAST_GOOD) else { return false };
    // Its failure must be recordable (`rollgate:failed-config` holds its ARN, and the service
    // has room for it), or it would be said again on every run while ECS lists it.
    let room = service.tags.contains_key(keys::FAILED_CONFIG) || service.tags.len() < crate::tags::MAX_TAGS;
    service.task_definition.as_ref() != Some(&revision.arn)
        && room
        && revision.arn.as_str().chars().count() <= crate::tags::MAX_VALUE_CHARS
        && last_good != revision.arn.as_str()
        && !super::failure::config_failed(service, &revision.arn)
        && service.deployments.iter().any(|d| d.task_definition.as_ref() == Some(&revision.arn) && d.failed())
}

/// Whether a plan for `revision` may write the service's record when this invocation already
/// wrote it for `written`. The service's view is read once per run, so after the first write
/// its record is stale: a revision ECS no longer runs, judged later from that view, would
/// overwrite the live revision's record with its own (a break-test: a second hand revision's
/// rollback forgotten, and the revision rolled back twice). The live revision's record is
/// always written.
pub fn may_write_record(service: &ServiceView, revision: &TaskDefArn, written: Option<&TaskDefArn>) -> bool {
    written.is_none_or(|w| w == revision) || service.task_definition.as_ref() == Some(revision)
}

/// The state the service's record holds for `revision`, for `rollgate status`; `None` when
/// the record names another revision.
pub fn outside_state(service: &ServiceView, revision: &TaskDefArn) -> Option<RolloutState> {
    OutsideRecord::of(service).filter(|r| &r.revision == revision).map(|r| r.state)
}

/// Moves a plan made for a ledger view onto the service: its revision write becomes the
/// service's `rollgate:outside` record (the commit point, written to the service in the same
/// place of the plan's order), and a state the record does not keep is dropped (a short count's
/// record: an outside revision's shortfall is counted from the bake's end). The record's time
/// is the write's `rollgate:completed-at` or `rollgate:decided-at`, else the view's own (a
/// settled rollback keeps its start), else `now`.
///
/// When the service has no room left for the record (a person filled its 50 tags), or the
/// family's name is too long for it ([`OutsideRecord::fits`]; then its ARN is too long for the
/// service's other tags too, and they are left out as well), the write is left out, and so
/// is a `Rollout Started` notification (it would be said again on every run): the revision is
/// then judged afresh on each run, a failing signal still rolls it back once (after which it no
/// longer runs), but it never completes its bake, so it is never declared healthy.
pub fn on_service(view: &TaskDefSummary, service: &ServiceView, now: DateTime<Utc>, mut p: GatePlan) -> GatePlan {
    let write = std::mem::take(&mut p.tag_revision);
    p.revision_tags_on = RevisionTagsOn::Service;
    // A family near ECS's 255 characters makes an ARN longer than a tag value holds
    // (`rollgate:failed-config`, `rollgate:rollback`): ECS would refuse the write on every run
    // and block the rollback behind it. Left out; the rollback still happens.
    p.tag_service.set.retain(|(_, v)| v.chars().count() <= crate::tags::MAX_VALUE_CHARS);
    let get = |k: &str| write.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let Some(state) = get(keys::STATE).and_then(|s| RolloutState::parse(&s)) else { return p };
    let at = [keys::COMPLETED_AT, keys::DECIDED_AT]
        .into_iter()
        .find_map(|k| get(k).or_else(|| view.tags.get(k).cloned()).and_then(|t| parse_time(k, &t).ok()))
        .unwrap_or(now);
    let record = OutsideRecord { state, at, revision: view.arn.clone() };
    let room = service.tags.contains_key(keys::OUTSIDE)
        || p.tag_service.peak(&service.tags).max(service.tags.len()) < crate::tags::MAX_TAGS;
    if room && record.fits() {
        p.tag_revision = vec![(keys::OUTSIDE.to_owned(), record.to_tag_value())];
    } else if p.notification.as_ref().is_some_and(|n| n.kind == super::NotificationKind::Started) {
        p.notification = None;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceArn;

    const SVC: &str = "arn:aws:ecs:us-east-1:123456789012:service/c/api";

    fn rev(n: u32, tags: &[(&str, &str)]) -> TaskDefSummary {
        TaskDefSummary {
            arn: TaskDefArn::parse(&format!("arn:aws:ecs:us-east-1:123456789012:task-definition/api:{n}")).unwrap(),
            containers: Vec::new(),
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            platform: None,
            fargate_platform: None,
        }
    }

    fn service(live: u32, tags: &[(&str, String)]) -> ServiceView {
        ServiceView {
            arn: ServiceArn::parse(SVC).unwrap(),
            status: crate::service::ServiceStatus::Active,
            task_definition: Some(rev(live, &[]).arn),
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            deployments: vec![],
            deployment_controller: crate::service::DeploymentController::Ecs,
            fargate: true,
            current_service_deployment: None,
        }
    }

    #[test]
    fn the_record_round_trips_within_the_tag_alphabet() {
        let r = OutsideRecord {
            state: RolloutState::Baking,
            at: parse_time("t", "2026-12-03T12:00:00Z").unwrap(),
            revision: rev(7, &[]).arn,
        };
        let v = r.to_tag_value();
        assert_eq!(v, "baking@2026-12-03T12:00:00Z api:7");
        assert!(crate::tags::is_allowed(&v) && v.len() <= crate::tags::MAX_VALUE_CHARS);
        let svc = ServiceArn::parse(SVC).unwrap();
        assert_eq!(OutsideRecord::parse(&v, &svc), Some(r.clone()));
        for bad in ["", "baking", "nonsense@2026-12-03T12:00:00Z x", "baking@yesterday api:7"] {
            assert_eq!(OutsideRecord::parse(bad, &svc), None, "{bad}");
        }
        // ECS allows task families of 255 characters: a long one does not fit the record.
        let long = |n: usize| OutsideRecord {
            revision: TaskDefArn::parse(&format!(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:7",
                "f".repeat(n)
            ))
            .unwrap(),
            ..r.clone()
        };
        assert!(long(200).fits() && !long(240).fits());
    }

    #[test]
    fn one_record_per_run_and_the_live_revision_always_writes_its_own() {
        let svc = service(7, &[]);
        let (live, listed) = (rev(7, &[]).arn, rev(6, &[]).arn);
        assert!(may_write_record(&svc, &listed, None), "the first write");
        assert!(may_write_record(&svc, &listed, Some(&listed)), "the same revision again");
        assert!(!may_write_record(&svc, &listed, Some(&live)), "a listed one never overwrites the live one's");
        assert!(may_write_record(&svc, &live, Some(&listed)), "the live one always writes");
    }

    #[test]
    fn only_a_live_revision_without_this_services_ledger_is_outside() {
        let good = rev(1, &[]).arn.to_string();
        let with_good = service(7, &[(keys::LAST_GOOD, good.clone())]);
        let hand = rev(7, &[("team", "ml")]);
        assert!(is_outside(&with_good, &hand));
        // Without a last known good, the steady pre-rollgate revision is adopted instead.
        assert!(!is_outside(&service(7, &[]), &hand));
        // Not live, or the last known good itself.
        assert!(!is_outside(&service(8, &[(keys::LAST_GOOD, good.clone())]), &hand));
        assert!(!is_outside(&service(1, &[(keys::LAST_GOOD, good.clone())]), &rev(1, &[])));
        // Another service's rollout is outside; this service's is not.
        let ledger = |svc: &str| {
            rev(
                7,
                &[
                    (keys::DIGEST, "sha256:1111111111111111111111111111111111111111111111111111111111111111"),
                    (keys::PUSHED_AT, "2026-12-03T10:00:00Z"),
                    (keys::EVENT_ID, "e"),
                    (keys::SERVICE, svc),
                    (keys::CONTAINER, "model"),
                    (keys::STATE, "healthy"),
                ],
            )
        };
        assert!(is_outside(&with_good, &ledger("arn:aws:ecs:us-east-1:123456789012:service/c/worker")));
        assert!(!is_outside(&with_good, &ledger(SVC)));
    }

    #[test]
    fn the_view_replaces_another_services_ledger_with_this_services_record() {
        let good = rev(1, &[]).arn.to_string();
        let other = rev(
            7,
            &[
                (keys::DIGEST, "sha256:1111111111111111111111111111111111111111111111111111111111111111"),
                (keys::SERVICE, "arn:aws:ecs:us-east-1:123456789012:service/c/worker"),
                (keys::STATE, "healthy"),
                ("team", "ml"),
            ],
        );
        let fresh = outside_view(&service(7, &[(keys::LAST_GOOD, good.clone())]), &other).unwrap();
        assert_eq!(RolloutState::of(&fresh.tags), Some(RolloutState::Deploying));
        assert_eq!(fresh.tags.get(keys::SERVICE).map(String::as_str), Some(SVC));
        assert_eq!(fresh.tags.get("team").map(String::as_str), Some("ml"));
        assert!(!fresh.tags.contains_key(keys::DIGEST));
        let record = format!("rolling-back@2026-12-03T12:00:00Z {}", other.arn.revision());
        // Followed after the rollback, when it no longer runs.
        let s = service(1, &[(keys::LAST_GOOD, good.clone()), (keys::OUTSIDE, record)]);
        let view = outside_view(&s, &other).unwrap();
        assert_eq!(RolloutState::of(&view.tags), Some(RolloutState::RollingBack));
        assert_eq!(view.tags.get(keys::ROLLBACK_TO), Some(&good));
        assert_eq!(view.tags.get(keys::DECIDED_AT).map(String::as_str), Some("2026-12-03T12:00:00Z"));
        // A healthy record does not keep a revision that no longer runs in view.
        let healthy = format!("healthy@2026-12-03T12:00:00Z {}", other.arn.revision());
        assert_eq!(outside_view(&service(1, &[(keys::LAST_GOOD, good), (keys::OUTSIDE, healthy)]), &other), None);
    }
}
