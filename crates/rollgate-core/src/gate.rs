//! The health gate's decisions: is this rollout healthy, failed, or still in flight,
//! and what to write about it. Everything here is pure; time is an input.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::duration::Seconds;
use crate::ecs_event::TaskStateDetail;
use crate::ledger::{Cause, RevisionRecord, format_time, keys, parse_time};
use crate::service::{DeploymentView, ServiceView, Tags, TaskDefSummary};
use crate::tags::{TagWrite, decode, lossy as sanitize_tag_value};
use crate::{Digest, InputError, ServiceArn, TaskDefArn};

/// Where a rollgate rollout stands, recorded as `rollgate:state` on its revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// Registered and handed to ECS by `deploy`.
    Deploying,
    /// Seen by the gate, announced, not yet COMPLETED.
    Verifying,
    /// COMPLETED; inside the bake window.
    Baking,
    Healthy,
    /// Failed and left in place: there was no known good revision.
    Failed,
    /// Failed; the service is being sent back to `rollgate:rollback-to` (by rollgate, ECS's
    /// circuit breaker or a person), and the gate follows that rollback to its outcome.
    RollingBack,
    /// Failed and rolled back: the rollback's deployment completed (or a newer rollout
    /// replaced it).
    RolledBack,
    /// Failed, and its rollback failed or could not be made: the service is left for a person.
    /// The gate never rolls this rollout back again.
    RollbackFailed,
    /// A newer rollout replaced it before a verdict.
    Superseded,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "deploying",
            Self::Verifying => "verifying",
            Self::Baking => "baking",
            Self::Healthy => "healthy",
            Self::Failed => "failed",
            Self::RollingBack => "rolling-back",
            Self::RolledBack => "rolled-back",
            Self::RollbackFailed => "rollback-failed",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Deploying,
            Self::Verifying,
            Self::Baking,
            Self::Healthy,
            Self::Failed,
            Self::RollingBack,
            Self::RolledBack,
            Self::RollbackFailed,
            Self::Superseded,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }

    /// The rollout's outcome is settled. A settled state is not the last word on what runs:
    /// when ECS runs such a revision again, the gate judges it again ([`evaluate`]), except a
    /// rollout whose rollback failed, which is left for a person.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Healthy | Self::Failed | Self::RolledBack | Self::RollbackFailed | Self::Superseded)
    }

    /// Deploying, verifying or baking: the rollout awaits its verdict.
    pub fn awaits_verdict(self) -> bool {
        matches!(self, Self::Deploying | Self::Verifying | Self::Baking)
    }

    /// Whether the tags are those of a rollgate rollout still awaiting its verdict.
    pub fn in_flight(tags: &Tags) -> bool {
        Self::of(tags).is_some_and(Self::awaits_verdict)
    }

    /// Whether an abnormal stop of a task of `revision` counts against it: a rollout awaiting
    /// its verdict, or a superseded one that ECS runs again (it is judged like any rollout
    /// from then on, [`evaluate`]; its state moves on at its next verdict).
    pub fn counts_stops(service: &ServiceView, revision: &TaskDefSummary) -> bool {
        let live = service.task_definition.as_ref() == Some(&revision.arn);
        match Self::of(&revision.tags) {
            Some(state) if state.awaits_verdict() => true,
            Some(Self::Superseded) => live,
            _ => false,
        }
    }

    /// Whether the gate has anything to judge about `revision` on `service`: a rollout awaiting
    /// its verdict, or a settled one that ECS runs again (a failed, rolled-back or superseded
    /// revision put back by ECS's circuit breaker or a person; a healthy one whose digest has
    /// failed since). A rollback in flight is followed from the service's `rollgate:rollback`
    /// ([`judge_rollback`]); a failed rollback is left for a person.
    pub fn worth_evaluating(service: &ServiceView, revision: &TaskDefSummary) -> bool {
        let live = service.task_definition.as_ref() == Some(&revision.arn);
        match Self::of(&revision.tags) {
            Some(state) if state.awaits_verdict() => true,
            Some(Self::RolledBack | Self::Failed | Self::Superseded | Self::Healthy) => live,
            _ => false,
        }
    }

    /// The state recorded on a revision's tags (a rollgate revision without one is deploying).
    pub fn of(tags: &Tags) -> Option<Self> {
        tags.contains_key(keys::DIGEST)
            .then(|| tags.get(keys::STATE).and_then(|s| Self::parse(s)).unwrap_or(Self::Deploying))
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task of a rollout stopped abnormally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum StopCause {
    OutOfMemory { container: String, memory_mib: Option<u32> },
    NonZeroExit { container: String, code: i64 },
    HealthCheck,
    ImagePull,
    FailedToStart,
}

impl StopCause {
    /// Classifies a STOPPED task. `None` is a normal stop: scale-in, replacement by a
    /// deployment, a user's stop, a Spot interruption.
    ///
    /// The task's `stopCode` comes first: `UserInitiated` (StopTask by a person or a script),
    /// `SpotInterruption` and `TerminationNotice` are stops the model did not cause, whatever
    /// free text a person put in the reason ("restarting after a failed health check"). A
    /// container that could not be created or started (`CannotStartContainerError`,
    /// `CannotCreateContainerError`, with `EssentialContainerExited` and no exit code) failed
    /// to start. Stop codes and messages:
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html#ECS-Type-Task-stopCode
    /// and https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
    pub fn classify(task: &TaskStateDetail) -> Option<Self> {
        let reason = task.stopped_reason.as_deref().unwrap_or_default();
        let lower = reason.to_ascii_lowercase();
        let container_reason =
            |needle: &str| task.containers.iter().find(|c| c.reason.as_deref().is_some_and(|r| r.contains(needle)));
        if let Some(c) = container_reason("OutOfMemoryError") {
            let memory = c.memory.as_deref().or(task.memory.as_deref());
            return Some(Self::OutOfMemory {
                container: c.name.clone(),
                memory_mib: memory.and_then(|m| m.parse().ok()),
            });
        }
        if reason.contains("CannotPullContainerError") || container_reason("CannotPullContainerError").is_some() {
            return Some(Self::ImagePull);
        }
        if matches!(task.stop_code.as_deref(), Some("UserInitiated" | "SpotInterruption" | "TerminationNotice")) {
            return None;
        }
        if ["CannotStartContainerError", "CannotCreateContainerError"]
            .iter()
            .any(|e| reason.contains(e) || container_reason(e).is_some())
        {
            return Some(Self::FailedToStart);
        }
        if lower.contains("health check") {
            return Some(Self::HealthCheck);
        }
        match task.stop_code.as_deref() {
            Some("TaskFailedToStart") => Some(Self::FailedToStart),
            Some("EssentialContainerExited") => task
                .containers
                .iter()
                .find_map(|c| c.exit_code.filter(|code| *code != 0).map(|code| (c, code)))
                .map(|(c, code)| Self::NonZeroExit { container: c.name.clone(), code }),
            _ => None,
        }
    }

    /// The compact form stored in a `rollgate:bad-task:<id>` tag.
    pub fn to_tag_value(&self) -> String {
        match self {
            Self::OutOfMemory { container, memory_mib } => {
                format!("oom:{}:{}", sanitize_tag_value(container), memory_mib.map_or(String::new(), |m| m.to_string()))
            }
            Self::NonZeroExit { container, code } => {
                format!("exit:{}:{code}", sanitize_tag_value(container))
            }
            Self::HealthCheck => "health".to_owned(),
            Self::ImagePull => "pull".to_owned(),
            Self::FailedToStart => "start".to_owned(),
        }
    }

    pub fn from_tag_value(v: &str) -> Option<Self> {
        let mut parts = v.splitn(3, ':');
        match (parts.next()?, parts.next(), parts.next()) {
            ("oom", Some(c), m) => {
                Some(Self::OutOfMemory { container: c.to_owned(), memory_mib: m.and_then(|m| m.parse().ok()) })
            }
            ("exit", Some(c), Some(code)) => {
                Some(Self::NonZeroExit { container: c.to_owned(), code: code.parse().ok()? })
            }
            ("health", None, None) => Some(Self::HealthCheck),
            ("pull", None, None) => Some(Self::ImagePull),
            ("start", None, None) => Some(Self::FailedToStart),
            _ => None,
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Self::OutOfMemory { .. } => 0,
            Self::NonZeroExit { .. } => 1,
            Self::HealthCheck => 2,
            Self::ImagePull => 3,
            Self::FailedToStart => 4,
        }
    }
}

/// A golden-inference check of the model endpoint, run after COMPLETED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmokeTest {
    pub url: String,
    /// Sent with POST when present; GET otherwise.
    pub body: Option<String>,
    pub expect_status: u16,
    /// A substring the response body must contain.
    pub expect_body: Option<String>,
}

/// What the smoke test saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SmokeOutcome {
    Passed,
    Failed(String),
}

impl SmokeTest {
    /// Judges a response (`Err`: the request itself failed).
    pub fn judge(&self, response: Result<(u16, String), String>) -> SmokeOutcome {
        match response {
            Err(e) => SmokeOutcome::Failed(format!("smoke test {} failed: {e}", self.url)),
            Ok((status, _)) if status != self.expect_status => SmokeOutcome::Failed(format!(
                "smoke test {} answered HTTP {status}, expected {}",
                self.url, self.expect_status
            )),
            Ok((_, body)) => match &self.expect_body {
                Some(want) if !body.contains(want.as_str()) => {
                    SmokeOutcome::Failed(format!("smoke test {} answered without {want:?}", self.url))
                }
                _ => SmokeOutcome::Passed,
            },
        }
    }
}

/// The gate's per-service settings, from `rollgate:*` service tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateSettings {
    /// More abnormal task stops than this fail the rollout.
    pub max_bad_tasks: u32,
    /// Time allowed from the deployment's start to COMPLETED.
    pub deadline: Seconds,
    /// Time after COMPLETED before the revision is declared healthy.
    pub bake: Seconds,
    /// Alarm names watched during the rollout and the bake.
    pub alarms: Vec<String>,
    /// Every alarm whose name starts with this is watched too.
    pub alarm_prefix: Option<String>,
    pub smoke: Option<SmokeTest>,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            max_bad_tasks: Self::DEFAULT_MAX_BAD_TASKS,
            deadline: Self::DEFAULT_DEADLINE,
            bake: Self::DEFAULT_BAKE,
            alarms: Vec::new(),
            alarm_prefix: None,
            smoke: None,
        }
    }
}

impl GateSettings {
    pub const DEFAULT_MAX_BAD_TASKS: u32 = 2;
    /// Model images load slowly.
    pub const DEFAULT_DEADLINE: Seconds = Seconds(15 * 60);
    pub const DEFAULT_BAKE: Seconds = Seconds(5 * 60);
    /// Bad tasks are recorded as tags; keep well under ECS's 50-tag limit.
    pub const MAX_MAX_BAD_TASKS: u32 = 20;

    /// Reads the settings from the service's tags, each value through the tag codec
    /// (`base64:` values decoded, `crate::tags::decode`). Errors name the tag.
    pub fn from_tags(tags: &Tags) -> Result<Self, InputError> {
        let mut s = Self::default();
        let get = |key: &'static str| tags.get(key).map(|v| decode(key, v)).transpose();
        if let Some(v) = get(keys::MAX_BAD_TASKS)? {
            s.max_bad_tasks = v.trim().parse().ok().filter(|n| *n <= Self::MAX_MAX_BAD_TASKS).ok_or_else(|| {
                InputError::new(
                    keys::MAX_BAD_TASKS,
                    v.as_str(),
                    format!("a whole number from 0 to {}", Self::MAX_MAX_BAD_TASKS),
                )
            })?;
        }
        if let Some(v) = get(keys::DEADLINE)? {
            s.deadline = Seconds::parse(keys::DEADLINE, &v)?;
        }
        if let Some(v) = get(keys::BAKE)? {
            s.bake = Seconds::parse(keys::BAKE, &v)?;
        }
        if let Some(v) = get(keys::ALARMS)? {
            s.alarms = v.split_whitespace().map(str::to_owned).collect();
        }
        if let Some(v) = get(keys::ALARM_PREFIX)? {
            s.alarm_prefix = Some(v).filter(|p| !p.is_empty());
        }
        if let Some(url) = get(keys::SMOKE_URL)? {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(InputError::new(keys::SMOKE_URL, url, "must start with http:// or https://"));
            }
            let expect_status = match get(keys::SMOKE_STATUS)? {
                None => 200,
                Some(v) => v.trim().parse().ok().filter(|c| (100..600).contains(c)).ok_or_else(|| {
                    InputError::new(keys::SMOKE_STATUS, v.as_str(), "an HTTP status code such as 200")
                })?,
            };
            s.smoke = Some(SmokeTest {
                url,
                body: get(keys::SMOKE_BODY)?,
                expect_status,
                expect_body: get(keys::SMOKE_MATCH)?,
            });
        }
        Ok(s)
    }

    /// Whether an alarm is one this service watches.
    pub fn watches(&self, alarm: &str) -> bool {
        self.alarms.iter().any(|a| a == alarm) || self.alarm_prefix.as_deref().is_some_and(|p| alarm.starts_with(p))
    }

    pub fn watches_alarms(&self) -> bool {
        !self.alarms.is_empty() || self.alarm_prefix.is_some()
    }
}

/// Everything the gate knows when it judges one rollout.
#[derive(Debug, Clone)]
pub struct RolloutFacts<'a> {
    /// The event's time: verdicts are reproducible, and tests choose the clock.
    pub now: DateTime<Utc>,
    pub service: &'a ServiceView,
    /// The rollout's revision, with its tags.
    pub revision: &'a TaskDefSummary,
    pub settings: &'a GateSettings,
    /// Names of alarms currently in ALARM (all of them; the settings pick).
    pub alarms_in_alarm: &'a [String],
    /// Alarms' entries into ALARM since the rollout started (from their history): an alarm
    /// that fired and recovered between two gate runs still fails the rollout.
    pub alarms_entered: &'a [AlarmEntry],
    pub smoke: Option<&'a SmokeOutcome>,
    /// Set when an ECS event said this revision's deployment failed.
    pub reported_failure: Option<&'a str>,
    /// Which model build made the image, when the gate could find out.
    pub lineage: Option<&'a Lineage>,
    /// Set when the rollout was found in ECS's service-deployment history, no longer run or
    /// listed ([`crate::history`]): where ECS's circuit breaker sent the service, and no
    /// `rollgate:rollback` pointer (the history follows its rollback).
    pub orphaned: Option<&'a crate::history::Orphaned>,
}

/// An alarm's entry into ALARM, from its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmEntry {
    pub alarm: String,
    pub at: DateTime<Utc>,
}

/// Since when the gate needs alarm history to judge `service`: the start of the live
/// revision's deployment, when the service watches alarms and that revision is not its last
/// known good already (a decided rollout reads no alarms). `None`: no history needed.
pub fn alarm_window_start(service: &ServiceView) -> Option<DateTime<Utc>> {
    let live = service.task_definition.as_ref()?;
    if service.tags.get(keys::LAST_GOOD) == Some(&live.to_string()) {
        return None;
    }
    GateSettings::from_tags(&service.tags).ok().filter(GateSettings::watches_alarms)?;
    service.deployment_of(live)?.created_at
}

/// Model lineage: the build that made the image, and the model version it baked in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lineage {
    pub model_version: Option<String>,
    pub build_id: String,
}

/// Who put the service back on a good revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolledBackBy {
    Rollgate,
    /// ECS's deployment circuit breaker, before the gate acted.
    Ecs,
    /// A person, with `rollgate rollback`.
    Manual,
}

impl RolledBackBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rollgate => "rollgate",
            Self::Ecs => "ecs",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Rollgate, Self::Ecs, Self::Manual].into_iter().find(|by| by.as_str() == s)
    }
}

/// The gate's judgement of one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not the gate's business (not a rollgate revision, another service's, already decided).
    Ignore(String),
    /// Still in flight; nothing changes.
    Wait(String),
    /// Still in flight; record the new state (announcing the start when first seen).
    Advance {
        state: RolloutState,
        announce_start: bool,
        note: String,
    },
    /// Still in flight after the bake, with fewer tasks running than `desired` and no failing
    /// signal, where the grace for the missing tasks starts now (a first shortfall, or a
    /// scale-out beyond the count recorded): recorded as `rollgate:short-since =
    /// <desired>@<now>`. `desired` 0 (scaled to zero) records that nothing runs, so a later
    /// scale-up gets a grace of its own.
    Short {
        desired: i32,
        note: String,
    },
    Healthy,
    /// Replaced by a newer rollout before a verdict.
    Superseded,
    Failed {
        reason: String,
        resolution: Resolution,
    },
}

/// What happens to a failed rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    RollBack {
        to: TaskDefArn,
    },
    /// The target can no longer be deployed (deregistered: ECS refuses an INACTIVE revision
    /// with "TaskDefinition is inactive"), so roll back to a fresh revision that copies it
    /// ([`check_target`]). A copy registered by an earlier, unfinished run is reused.
    RollBackToCopy {
        of: TaskDefArn,
        /// The copy's tags: the target's, without its per-rollout gate tags, plus
        /// `rollgate:copy-of`.
        tags: Vec<(String, String)>,
    },
    /// ECS's circuit breaker already rolled back: record it, no second rollback.
    AlreadyRolledBack,
    /// An earlier run of the gate rolled back and recorded the failure, then did not finish
    /// (its invocation failed, or the rollback's answer was lost): complete the ledger.
    Finished {
        /// Where that run sent the service: the target it would pick again, or the live copy
        /// of it that run registered ([`finished_via_copy`]); `None`: no target is known.
        to: Option<TaskDefArn>,
    },
    /// No known good revision: the service is left as it is.
    NoTarget,
    /// There is a known good revision, but no rollback to it can work (it was deleted, or its
    /// image is gone): the service is left as it is, and the verdict says why.
    Impossible {
        target: TaskDefArn,
        why: String,
    },
}

/// Why the gate records a live revision as the service's last known good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// The revision that was live and steady before rollgate's first rollout (no rollgate
    /// ledger, its deployment COMPLETED with every task running) on a service without a last
    /// known good revision.
    PreRollgate,
    /// A revision the gate already verified healthy whose service does not point at it yet:
    /// the healthy verdict marks the revision first and the service second, and this finishes
    /// a verdict whose second write failed.
    Verified,
    /// A copy the gate registered of the last known good revision (which could no longer be
    /// deployed) now runs: the copy is the last known good.
    Copy,
}

impl Adoption {
    pub fn describe(self) -> &'static str {
        match self {
            Self::PreRollgate => "the steady pre-rollgate revision is the last known good",
            Self::Verified => "the live revision was verified healthy: it is the last known good",
            Self::Copy => "the live revision copies the last known good: it is the last known good",
        }
    }
}

/// Whether the live `revision` should be recorded as the service's last known good, and the
/// tag that records it. Once recorded, later sweeps skip it until the next rollout.
pub fn adopt_known_good(service: &ServiceView, revision: &TaskDefSummary) -> Option<(Adoption, (String, String))> {
    let live = service.task_definition.as_ref() == Some(&revision.arn);
    let current = service.tags.get(keys::LAST_GOOD);
    if !live || current == Some(&revision.arn.to_string()) {
        return None;
    }
    let copies_last_good = current.is_some() && revision.tags.get(keys::COPY_OF) == current;
    let adoption = match RolloutState::of(&revision.tags) {
        _ if copies_last_good => Some(Adoption::Copy),
        None => {
            let steady = service
                .deployment_of(&revision.arn)
                .is_some_and(|d| d.completed() && d.running_count >= d.desired_count);
            (current.is_none() && steady).then_some(Adoption::PreRollgate)
        }
        Some(RolloutState::Healthy) => {
            let ours = RevisionRecord::from_tags(&revision.tags).ok().flatten().filter(|r| r.service == service.arn);
            ours.is_some_and(|r| !recorded_failed(service, &revision.arn, &r)).then_some(Adoption::Verified)
        }
        Some(_) => None,
    };
    adoption.map(|a| (a, (keys::LAST_GOOD.to_owned(), revision.arn.to_string())))
}

/// Judges one rollout.
pub fn evaluate(f: &RolloutFacts<'_>) -> Verdict {
    let rev = &f.revision.arn;
    let Some(state) = RolloutState::of(&f.revision.tags) else {
        return Verdict::Ignore(format!("{} was not registered by rollgate", rev.revision()));
    };
    match RevisionRecord::from_tags(&f.revision.tags) {
        Ok(Some(record)) if record.service == f.service.arn => {}
        Ok(_) => return Verdict::Ignore(format!("{} belongs to another service", rev.revision())),
        Err(e) => {
            return Verdict::Ignore(format!("{} has broken ledger tags: {e}", rev.revision()));
        }
    }
    let live = f.service.task_definition.as_ref() == Some(rev);
    match state {
        RolloutState::RollingBack => {
            return Verdict::Ignore(format!(
                "{} is rolling back; the gate follows the rollback from the service's {}",
                rev.revision(),
                keys::ROLLBACK
            ));
        }
        RolloutState::RollbackFailed => {
            return Verdict::Ignore(format!(
                "{}'s rollback failed: the service is left for a person (see rollgate status)",
                rev.revision()
            ));
        }
        _ => {}
    }
    let record = RevisionRecord::from_tags(&f.revision.tags).ok().flatten();
    let recorded = record.as_ref().is_some_and(|r| recorded_failed(f.service, rev, r));
    if live && state == RolloutState::RolledBack {
        // Its one automatic rollback happened, and ECS runs it again: its circuit breaker went
        // back to it (its deployment was still the last one that completed, because a newer
        // rollout replaced the rollback before it completed), or a person deployed it. Rolling
        // back again is how rollback loops start: said once, and left for a person.
        let reason = f
            .revision
            .tags
            .get(keys::REASON)
            .map_or_else(|| "it failed earlier".to_owned(), |r| crate::tags::decode_or_stored(keys::REASON, r));
        let target = f
            .revision
            .tags
            .get(keys::ROLLBACK_TO)
            .or_else(|| f.service.tags.get(keys::LAST_GOOD))
            .and_then(|t| TaskDefArn::parse(t).ok());
        if let Some(target) = target.filter(|t| t != rev) {
            return Verdict::Failed {
                reason,
                resolution: Resolution::Impossible {
                    target,
                    why: "it was rolled back once already and ECS runs it again (its circuit breaker went back to it, or a person deployed it); a failed rollout is rolled back at most once".to_owned(),
                },
            };
        }
    }
    // ECS's live state outranks the ledger: a settled revision that ECS runs again (its circuit
    // breaker, or a person, put it back) is judged again unless it stands verified healthy.
    let failed_before = state == RolloutState::Failed || (state == RolloutState::Healthy && recorded);
    if live && failed_before {
        // A failed digest must not stay live. This rollback cannot loop: the target is the
        // last known good, never this revision, and a rollback that fails is final.
        let reason = format!("{} had failed but is live again; back to the last known good", rev.revision());
        return match fail(f, reason) {
            Verdict::Failed { resolution: Resolution::NoTarget, .. } => {
                Verdict::Ignore(format!("{} failed earlier and there is no known good revision", rev.revision()))
            }
            v => v,
        };
    }
    // A rollout replaced before its verdict that ECS runs again (its circuit breaker went back
    // to the last deployment that completed): judged from its current deployment like any
    // rollout.
    let state = if live && state == RolloutState::Superseded { RolloutState::Verifying } else { state };
    if state.is_final() {
        return Verdict::Ignore(format!("{} is already {state}", rev.revision()));
    }
    let deployment = f.service.deployment_of(rev);
    let ecs_failed = deployment.is_some_and(DeploymentView::failed);
    let failure_reason = || {
        // Only a failed deployment's reason says why it failed ("ECS deployment ... in
        // progress." is no failure reason).
        let reason = deployment
            .filter(|d| d.failed())
            .and_then(|d| d.rollout_state_reason.clone())
            .or_else(|| f.reported_failure.map(str::to_owned))
            .unwrap_or_else(|| "the ECS deployment failed".to_owned());
        format!("ECS deployment failed: {reason}")
    };

    // A failure is recorded on the service before anything else is done about it, so a
    // failure that is recorded but not final was decided by an invocation that did not finish.
    if live && recorded {
        // Its rollback did not land (or its answer was lost and it did not): roll back now.
        return fail(f, format!("{} was recorded as failed; finishing its rollback", rev.revision()));
    }
    if !live {
        // The failure was recorded on the service but the revision's state was not (its
        // invocation failed midway): finish the ledger.
        if recorded {
            // ECS's own failed deployment says its circuit breaker did it; otherwise the
            // recording run rolled back itself.
            return Verdict::Failed {
                reason: "the failure was recorded on the service; completing the ledger".to_owned(),
                resolution: if ecs_failed {
                    Resolution::AlreadyRolledBack
                } else {
                    Resolution::Finished { to: rollback_target(f) }
                },
            };
        }
        return if ecs_failed || f.reported_failure.is_some() {
            Verdict::Failed { reason: failure_reason(), resolution: Resolution::AlreadyRolledBack }
        } else {
            Verdict::Superseded
        };
    }
    if ecs_failed {
        return fail(f, failure_reason());
    }
    let bad = bad_tasks(&f.revision.tags);
    if bad.len() > f.settings.max_bad_tasks as usize {
        return fail(f, describe_bad_tasks(&bad));
    }
    let phase = if state == RolloutState::Baking { "the bake" } else { "the rollout" };
    if let Some(alarm) = f.alarms_in_alarm.iter().find(|a| f.settings.watches(a)) {
        return fail(f, format!("alarm {alarm} is in ALARM during {phase}"));
    }
    let started = deployment.and_then(|d| d.created_at);
    if let Some(entry) = f
        .alarms_entered
        .iter()
        .filter(|e| f.settings.watches(&e.alarm) && started.is_some_and(|s| e.at >= s))
        .min_by_key(|e| e.at)
    {
        return fail(
            f,
            format!(
                "alarm {} went into ALARM at {} during {phase}; it has recovered since",
                entry.alarm,
                format_time(entry.at)
            ),
        );
    }
    let Some(d) = deployment else {
        return Verdict::Wait(format!("ECS shows no deployment of {} yet", rev.revision()));
    };
    let counts = format!("{}/{} tasks running", d.running_count, d.desired_count);

    if !d.completed() {
        let started = d.created_at.unwrap_or(f.now);
        if f.now - started > f.settings.deadline.as_chrono() {
            return fail(
                f,
                format!(
                    "not COMPLETED within the {} deadline ({counts}); raise rollgate:deadline if the model loads slowly",
                    f.settings.deadline
                ),
            );
        }
        return if state == RolloutState::Deploying {
            Verdict::Advance {
                state: RolloutState::Verifying,
                announce_start: true,
                note: format!("rollout in progress, {counts}"),
            }
        } else {
            Verdict::Wait(format!("rollout in progress, {counts}"))
        };
    }

    if let Some(SmokeOutcome::Failed(why)) = f.smoke {
        return fail(f, why.clone());
    }
    let completed_at = f.revision.tags.get(keys::COMPLETED_AT).and_then(|t| parse_time(keys::COMPLETED_AT, t).ok());
    let Some(completed_at) = completed_at.filter(|_| state == RolloutState::Baking) else {
        if f.settings.bake.0 == 0 {
            // No bake: the grace is counted from the shortfall's record, never from before the
            // deployment started (its `createdAt`, which, unlike `updatedAt`, does not move).
            return judge_counts(f, d, d.created_at.unwrap_or(f.now));
        }
        return Verdict::Advance {
            state: RolloutState::Baking,
            announce_start: state == RolloutState::Deploying,
            note: format!("COMPLETED; baking for {}", f.settings.bake),
        };
    };
    if f.now - completed_at >= f.settings.bake.as_chrono() {
        return judge_counts(f, d, completed_at);
    }
    Verdict::Wait(format!("baking until {}", format_time(completed_at + f.settings.bake.as_chrono())))
}

/// After the bake: all desired tasks running is healthy. Fewer, with no failing signal (no
/// abnormal stop, alarm or failed smoke test: those were judged before), is "not yet": tasks
/// still loading the model, or autoscaling raised the desired count. A count at one instant is
/// no verdict, so the gate waits, up to the deadline counted from when it first saw the count
/// short (`rollgate:short-since = <m>@<time>`, recorded by [`Verdict::Short`]), and never from
/// before the bake's end.
///
/// * A desired count above `m`, the highest the record has seen short, is a scale-out: its
///   new tasks get a whole grace, so the record starts again (`<desired>@now`).
/// * A desired count at or below `m` (a scale-in, autoscaling flapping between two counts)
///   keeps the record's time: tasks that could not start at the higher count had their
///   grace, so flapping cannot hold a rollout back forever.
/// * Scaled to zero, nothing runs and nothing is judged; the record becomes `0@now`, so tasks
///   started later (a nightly scale-to-zero) get a whole grace of their own.
///
/// The gate's own record, not ECS's `updatedAt`, starts the grace: whether ECS moves a
/// deployment's `updatedAt` on a desired-count change is not documented, and moving the grace
/// with every change would let a flapping count wait forever. A revision with no room for the
/// record (an older rollgate filled its 50 tags) counts from the bake's end.
fn judge_counts(f: &RolloutFacts<'_>, d: &DeploymentView, completed_at: DateTime<Utc>) -> Verdict {
    // A record from before this bake began is another rollout's (a configuration change's
    // base, an earlier life of a revision ECS put back): this shortfall is a first sight.
    let record =
        f.revision.tags.get(keys::SHORT_SINCE).and_then(|v| parse_short_since(v)).filter(|(_, at)| *at >= completed_at);
    // Overwriting the record costs no room; adding it keeps room for a rollback's state keys,
    // as an abnormal stop's record does ([`record_stop`]).
    let room = f.revision.tags.contains_key(keys::SHORT_SINCE)
        || f.revision.tags.len() + 1 + ROLLBACK_STATE_KEYS <= crate::tags::MAX_TAGS;
    if d.desired_count == 0 {
        // Scaled to zero (scheduled scaling, a person): nothing runs, so there is no evidence
        // either way.
        let note = "the service is scaled to zero: nothing runs to judge".to_owned();
        return match record {
            Some((m, _)) if m > 0 && room => Verdict::Short { desired: 0, note },
            _ => Verdict::Wait(note),
        };
    }
    if d.running_count >= d.desired_count {
        return Verdict::Healthy;
    }
    let counts = format!("{}/{} tasks running", d.running_count, d.desired_count);
    let bake_end = completed_at + f.settings.bake.as_chrono();
    let since = match record {
        Some((m, at)) if m > 0 && d.desired_count <= m => at.max(bake_end),
        _ if !room => bake_end,
        _ => {
            return Verdict::Short {
                desired: d.desired_count,
                note: format!(
                    "{counts} and no failing signal (tasks still starting, or a scale-out): not yet healthy; the {} grace starts now",
                    f.settings.deadline
                ),
            };
        }
    };
    if f.now - since <= f.settings.deadline.as_chrono() {
        return Verdict::Wait(format!(
            "{counts} and no failing signal (tasks still starting, or a scale-out): not yet healthy; waiting up to the {} deadline from {}, when the gate first saw the count short",
            f.settings.deadline,
            format_time(since)
        ));
    }
    fail(
        f,
        format!(
            "only {counts} {} after the gate first saw the count short (no abnormal stop, alarm or failed smoke test); raise rollgate:deadline if tasks start slowly",
            f.settings.deadline
        ),
    )
}

/// `rollgate:short-since` = `<desired>@<RFC 3339 time>`; `None` when unreadable (then the
/// shortfall is recorded again).
fn parse_short_since(value: &str) -> Option<(i32, DateTime<Utc>)> {
    let (desired, at) = value.split_once('@')?;
    Some((desired.parse().ok()?, parse_time(keys::SHORT_SINCE, at).ok()?))
}

/// A failure verdict with the rollback target ([`rollback_target`]).
fn fail(f: &RolloutFacts<'_>, reason: String) -> Verdict {
    let resolution = match rollback_target(f) {
        Some(to) => Resolution::RollBack { to },
        None => Resolution::NoTarget,
    };
    Verdict::Failed { reason, resolution }
}

/// Where a failed rollout goes back to: the service's last known good revision, else the one
/// known when the revision was deployed. Never the failing revision itself.
fn rollback_target(f: &RolloutFacts<'_>) -> Option<TaskDefArn> {
    let rev = &f.revision.arn;
    let from_service = f.service.tags.get(keys::LAST_GOOD).and_then(|t| TaskDefArn::parse(t).ok());
    let from_revision = RevisionRecord::from_tags(&f.revision.tags).ok().flatten().and_then(|r| r.known_good);
    from_service.into_iter().chain(from_revision).find(|t| t != rev)
}

/// What the gate found out about a rollback target before sending the service back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetFacts<'a> {
    /// DescribeTaskDefinition answered (it returns INACTIVE revisions too).
    Described {
        revision: &'a TaskDefSummary,
        /// `false`: deregistered (INACTIVE). ECS refuses to deploy it: "TaskDefinition is
        /// inactive" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deregister-task-definition-v2.html).
        active: bool,
        /// Its images that no longer exist in their ECR repository (deleted, or expired by a
        /// lifecycle policy): a task of it cannot start (CannotPullContainerError).
        images_gone: Vec<String>,
        /// Its ECR images named by a mutable tag (`repo:latest`), with the digest each tag
        /// names now (DescribeImages). ECS resolves a tag when a deployment starts
        /// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html#deployment-container-image-stability),
        /// so a rollback to the revision deploys what the tag names now, not what ran.
        tags_now: Vec<(String, Digest)>,
    },
    /// ECS no longer has the revision: deleted after it was deregistered
    /// (DeleteTaskDefinitions), so there is nothing to deploy or copy.
    Gone,
}

/// Checks a rollback verdict against what its target is now. A target that ECS would refuse
/// (INACTIVE) becomes a rollback to a fresh copy of it; a target that cannot work at all
/// (deleted, its image gone, or a tag it names now naming the failed image of `failing` or one
/// the service records as failed) makes the rollback [`Resolution::Impossible`], said once in
/// the verdict. Any other verdict is returned as it is.
pub fn check_target(
    verdict: Verdict,
    service: &ServiceView,
    failing: &TaskDefSummary,
    target: &TargetFacts<'_>,
) -> Verdict {
    let Verdict::Failed { reason, resolution: Resolution::RollBack { to } } = verdict else { return verdict };
    let failing_digest = RevisionRecord::from_tags(&failing.tags).ok().flatten().map(|r| r.digest);
    let is_failed =
        |d: &Digest| failing_digest.as_ref() == Some(d) || crate::tags::failed_mark(&service.tags, d).is_some();
    let impossible = |why: String| Verdict::Failed {
        reason: reason.clone(),
        resolution: Resolution::Impossible { target: to.clone(), why },
    };
    match target {
        TargetFacts::Gone => impossible(
            "ECS no longer has that revision (deregistered, then deleted); deploy a known good image by hand"
                .to_owned(),
        ),
        TargetFacts::Described { images_gone, .. } if !images_gone.is_empty() => impossible(format!(
            "its image {} no longer exists in ECR (deleted, or expired by a lifecycle policy); deploy a known good image by hand",
            images_gone.join(", ")
        )),
        TargetFacts::Described { tags_now, .. } if tags_now.iter().any(|(_, d)| is_failed(d)) => {
            let moved = tags_now
                .iter()
                .filter(|(_, d)| is_failed(d))
                .map(|(image, d)| format!("{image} now names {}", d.short()))
                .collect::<Vec<_>>();
            impossible(format!(
                "it names its image by a tag, and {}, a failed image (ECS resolves a tag when a deployment starts, so the rollback would deploy it again); deploy a known good digest by hand, and pin images by digest",
                moved.join(", ")
            ))
        }
        TargetFacts::Described { revision, active: false, .. } => Verdict::Failed {
            resolution: Resolution::RollBackToCopy { of: to, tags: copy_tags(revision, &service.arn) },
            reason,
        },
        TargetFacts::Described { .. } => Verdict::Failed { reason, resolution: Resolution::RollBack { to } },
    }
}

/// A [`Resolution::Finished`] whose target was deregistered: the earlier run rolled back to a
/// fresh copy of it and died before recording where. When the `live` revision is that copy
/// (its `rollgate:copy-of` names the target), the rollback went to the copy, and the ledger
/// follows the copy's deployment, not the deregistered target's. Any other verdict is
/// returned as it is.
pub fn finished_via_copy(verdict: Verdict, live: &TaskDefSummary) -> Verdict {
    match verdict {
        Verdict::Failed { reason, resolution: Resolution::Finished { to: Some(to) } }
            if live.arn != to && live.tags.get(keys::COPY_OF).is_some_and(|c| c == to.as_str()) =>
        {
            Verdict::Failed { reason, resolution: Resolution::Finished { to: Some(live.arn.clone()) } }
        }
        other => other,
    }
}

/// A rollback that AWS refused for good (a non-retryable error of `UpdateService` or of
/// registering the target's copy: the target was deregistered after the gate checked it, the
/// service's deployment controller changed, access was denied). Repeating the refused call on
/// every run is no answer: the verdict becomes [`Resolution::Impossible`] with AWS's refusal as
/// the reason, carried out once (`rollback-failed`, `Rollback Failed`). Any other verdict is
/// returned as it is.
pub fn rollback_refused(verdict: Verdict, refusal: &str) -> Verdict {
    match verdict {
        Verdict::Failed {
            reason,
            resolution: Resolution::RollBack { to } | Resolution::RollBackToCopy { of: to, .. },
        } => Verdict::Failed {
            reason,
            resolution: Resolution::Impossible { target: to, why: format!("AWS refused the rollback: {refusal}") },
        },
        other => other,
    }
}

/// The tags of a fresh copy of a rollback `target`: the target's own (its ledger record, its
/// healthy verdict, the user's tags), without the tags that belong to one rollout's judgement
/// (bad tasks, reason, rollback) or to AWS, plus `rollgate:copy-of` (the target) and
/// `rollgate:service`, which a retry uses to find a copy it already registered. At most 50.
pub fn copy_tags(target: &TaskDefSummary, service: &ServiceArn) -> Vec<(String, String)> {
    let mut tags =
        vec![(keys::COPY_OF.to_owned(), target.arn.to_string()), (keys::SERVICE.to_owned(), service.to_string())];
    tags.extend(
        target
            .tags
            .iter()
            .filter(|(k, _)| {
                !keys::PER_ROLLOUT.contains(&k.as_str())
                    && k.as_str() != keys::SERVICE
                    && !k.starts_with(keys::BAD_TASK_PREFIX)
                    && !crate::tags::is_aws_key(k)
            })
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    tags.truncate(crate::tags::MAX_TAGS);
    tags
}

/// A rollback in flight, read from the failed revision's ledger: state `rolling-back`,
/// `rollgate:rollback-to`, `rollgate:rolled-back-by` and `rollgate:decided-at` (its start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRecord {
    pub to: TaskDefArn,
    pub by: RolledBackBy,
    pub started: DateTime<Utc>,
}

impl RollbackRecord {
    /// `None` unless the revision is rolling back with a readable target and start.
    pub fn from_tags(tags: &Tags) -> Option<Self> {
        if RolloutState::of(tags) != Some(RolloutState::RollingBack) {
            return None;
        }
        Some(Self {
            to: tags.get(keys::ROLLBACK_TO).and_then(|t| TaskDefArn::parse(t).ok())?,
            by: tags.get(keys::ROLLED_BACK_BY).and_then(|b| RolledBackBy::parse(b)).unwrap_or(RolledBackBy::Rollgate),
            started: tags.get(keys::DECIDED_AT).and_then(|t| parse_time(keys::DECIDED_AT, t).ok())?,
        })
    }
}

/// Where a followed rollback stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackVerdict {
    /// The service's `rollgate:rollback` names a revision that is not rolling back (its
    /// rollback was settled, and removing the pointer failed): remove it.
    Stale(String),
    /// The rollout still awaits its verdict: the failure was recorded on the service, and the
    /// rollout's own evaluation finishes the rollback ([`evaluate`]).
    NotStarted,
    Wait(String),
    /// The rollback's deployment completed, or a newer rollout replaced the failed revision.
    Completed(String),
    /// The rollback failed: ECS runs the failed revision again (its circuit breaker rolled the
    /// rollback back), the rollback's deployment failed, or it did not complete in time.
    Failed(String),
}

/// Judges the rollback of `failed` (named by the service's `rollgate:rollback`): the gate
/// follows a rollback to its outcome like any deployment. It never starts another: a failed
/// rollback is final, and the service is left for a person.
///
/// The rollback's deadline is the service's `rollgate:deadline`, from the rollback's start.
pub fn judge_rollback(
    now: DateTime<Utc>,
    service: &ServiceView,
    failed: &TaskDefSummary,
    settings: &GateSettings,
) -> RollbackVerdict {
    let name = failed.arn.revision();
    match RolloutState::of(&failed.tags) {
        Some(RolloutState::RollingBack) => {}
        Some(state) if state.awaits_verdict() => return RollbackVerdict::NotStarted,
        state => {
            return RollbackVerdict::Stale(format!(
                "{name} is {}, not rolling back",
                state.map_or("not a rollgate revision", RolloutState::as_str)
            ));
        }
    }
    // A revision a person tagged to ECS's 50 tags took only its state
    // ([`fit_revision_write`]): its rollback went to the service's last known good, and started
    // with the deployment ECS made for it.
    let from_service = || {
        let to = service.tags.get(keys::LAST_GOOD).and_then(|t| TaskDefArn::parse(t).ok())?;
        let started = service.deployment_of(&to).and_then(|d| d.created_at)?;
        Some(RollbackRecord { to, by: RolledBackBy::Rollgate, started })
    };
    let Some(rollback) = RollbackRecord::from_tags(&failed.tags).or_else(from_service) else {
        return RollbackVerdict::Failed(format!("{name} is rolling back, but its ledger has no readable target"));
    };
    let to = rollback.to.revision();
    let live = service.task_definition.as_ref();
    let deployment = service.deployment_of(&rollback.to);
    let ecs_reason = || {
        deployment
            .filter(|d| d.failed())
            .and_then(|d| d.rollout_state_reason.clone())
            .map_or(String::new(), |r| format!(" (ECS: {r})"))
    };
    if live == Some(&failed.arn) {
        return RollbackVerdict::Failed(format!(
            "the rollback to {to} did not hold: ECS runs {name} again{}",
            ecs_reason()
        ));
    }
    if live != Some(&rollback.to) {
        let now_live = live.map_or("no revision".to_owned(), |l| l.revision().to_string());
        return RollbackVerdict::Completed(format!("{name} no longer runs: the service moved on to {now_live}"));
    }
    match deployment {
        Some(d) if d.completed() => RollbackVerdict::Completed(format!("the rollback to {to} completed")),
        Some(d) if d.failed() => RollbackVerdict::Failed(format!(
            "the rollback's ECS deployment of {to} failed: {}",
            d.rollout_state_reason.as_deref().unwrap_or("no reason given")
        )),
        _ if now - rollback.started > settings.deadline.as_chrono() => RollbackVerdict::Failed(format!(
            "the rollback to {to} did not complete within the {} deadline",
            settings.deadline
        )),
        _ => RollbackVerdict::Wait(format!("rolling back to {to}")),
    }
}

/// The writes that settle a followed rollback, in [`GatePlan`]'s order: the notification (a
/// failed rollback only: `Rollback Failed`, once), the failed revision's final state (the
/// commit point), then removing the service's `rollgate:rollback` pointer.
pub fn plan_rollback(
    now: DateTime<Utc>,
    service: &ServiceView,
    failed: &TaskDefSummary,
    verdict: &RollbackVerdict,
) -> GatePlan {
    let mut p = plan_rollback_writes(now, service, failed, verdict);
    p.tag_revision = fit_revision_write(&failed.tags, std::mem::take(&mut p.tag_revision), 0);
    p
}

fn plan_rollback_writes(
    now: DateTime<Utc>,
    service: &ServiceView,
    failed: &TaskDefSummary,
    verdict: &RollbackVerdict,
) -> GatePlan {
    let unpoint = TagWrite { set: Vec::new(), remove: vec![keys::ROLLBACK.to_owned()], remove_first: false };
    let settle = |state: RolloutState, extra: Vec<(String, String)>| {
        let mut tags = vec![(keys::STATE.to_owned(), state.as_str().to_owned())];
        tags.extend(extra);
        tags
    };
    match verdict {
        RollbackVerdict::NotStarted | RollbackVerdict::Wait(_) => GatePlan::default(),
        RollbackVerdict::Stale(_) => {
            GatePlan { tag_service: unpoint, service_tags_at: ServiceTagsAt::AfterRevision, ..GatePlan::default() }
        }
        RollbackVerdict::Completed(_) => GatePlan {
            tag_revision: settle(RolloutState::RolledBack, Vec::new()),
            tag_service: unpoint,
            service_tags_at: ServiceTagsAt::AfterRevision,
            ..GatePlan::default()
        },
        RollbackVerdict::Failed(why) => {
            let rollout_reason = failed.tags.get(keys::REASON).map(|r| crate::tags::decode_or_stored(keys::REASON, r));
            let rollback = RollbackRecord::from_tags(&failed.tags);
            let record = RevisionRecord::from_tags(&failed.tags).ok().flatten();
            let settings = GateSettings::default();
            let facts = RolloutFacts {
                now,
                service,
                revision: failed,
                settings: &settings,
                alarms_in_alarm: &[],
                alarms_entered: &[],
                smoke: None,
                reported_failure: None,
                lineage: None,
                orphaned: None,
            };
            let mut notification = Notification::new(
                NotificationKind::RollbackFailed,
                &facts,
                record.as_ref(),
                Some(why.clone()),
                rollback.as_ref().map(|r| r.to.clone()),
                rollback.as_ref().map(|r| r.by),
            );
            notification.rollout_reason = rollout_reason;
            GatePlan {
                notification: Some(notification),
                // `rollgate:decided-at` keeps when the rollback started.
                tag_revision: settle(
                    RolloutState::RollbackFailed,
                    vec![(keys::ROLLBACK_REASON.to_owned(), crate::tags::text(keys::ROLLBACK_REASON, why))],
                ),
                tag_service: unpoint,
                service_tags_at: ServiceTagsAt::AfterRevision,
                ..GatePlan::default()
            }
        }
    }
}

/// An image of a task definition stored in ECR, as DescribeImages names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// The image string as the container definition has it.
    pub image: String,
    pub registry: crate::AccountId,
    pub repository: String,
    /// Its digest when pinned, else its tag (`latest` when it names none).
    pub id: EcrImageId,
}

/// How a container definition names its ECR image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrImageId {
    Digest(String),
    Tag(String),
}

/// The images of `revision` stored in an ECR registry of `region`: those whose presence the
/// gate can check before rolling back to the revision. Images of other registries (Docker
/// Hub, ECR Public, another region) are not checked.
pub fn ecr_images(revision: &TaskDefSummary, region: &crate::Region) -> Vec<EcrImage> {
    revision
        .containers
        .iter()
        .filter_map(|c| {
            let image = crate::image::ImageRef::parse(&c.image);
            let (registry, image_region) = image.registry.as_deref().and_then(crate::image::ecr_registry)?;
            (&image_region == region).then(|| EcrImage {
                image: c.image.clone(),
                registry,
                repository: image.repository.clone(),
                id: match (image.digest, image.tag) {
                    (Some(d), _) => EcrImageId::Digest(d),
                    (None, tag) => EcrImageId::Tag(tag.unwrap_or_else(|| "latest".to_owned())),
                },
            })
        })
        .collect()
}

/// What to do with an abnormal task stop of an in-flight rollout ([`record_stop`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopRecord {
    /// Already recorded, or the rollout is already over its threshold (it fails anyway, so
    /// the 50-tag budget is not spent on more): nothing to write.
    Known,
    /// Tag the revision with `rollgate:bad-task:<task>` = the cause.
    Write((String, String)),
    /// The revision has no room for it (an older rollgate registered it with less room kept
    /// free; [`crate::tags::revision_reserve`]): it counts in this run's verdict only, so the
    /// gate's own state writes keep their room ([`fit_revision_write`]).
    NoRoom((String, String)),
}

/// Whether and how to record an abnormal stop of task `task_id` on a revision with `tags`.
pub fn record_stop(tags: &Tags, task_id: &str, cause: &StopCause, max_bad_tasks: u32) -> StopRecord {
    let key = format!("{}{task_id}", keys::BAD_TASK_PREFIX);
    if tags.contains_key(&key) || bad_tasks(tags).len() > max_bad_tasks as usize {
        return StopRecord::Known;
    }
    let tag = (key, cause.to_tag_value());
    // Room for the tag and for the keys the gate's later writes need (rollgate:short-since, and
    // a rollback's state keys).
    if tags.len() + 1 + 1 + ROLLBACK_STATE_KEYS > crate::tags::MAX_TAGS {
        StopRecord::NoRoom(tag)
    } else {
        StopRecord::Write(tag)
    }
}

/// The keys a rollback's state write adds to a revision (`rollgate:decided-at`,
/// `rollgate:rollback-to`, `rollgate:rolled-back-by`): the room a record written before the
/// verdict (an abnormal stop, a shortfall) keeps free.
const ROLLBACK_STATE_KEYS: usize = 3;

/// The abnormal stops recorded on a revision.
pub fn bad_tasks(tags: &Tags) -> Vec<StopCause> {
    tags.iter()
        .filter(|(k, _)| k.starts_with(keys::BAD_TASK_PREFIX))
        .filter_map(|(_, v)| StopCause::from_tag_value(v))
        .collect()
}

/// "3 tasks OOM-killed at 512 MiB: raise memory", naming the commonest cause and what to do.
pub fn describe_bad_tasks(bad: &[StopCause]) -> String {
    let mut kinds: Vec<(u8, usize, &StopCause)> = Vec::new();
    for cause in bad {
        match kinds.iter_mut().find(|(k, _, _)| *k == cause.kind()) {
            Some(entry) => entry.1 += 1,
            None => kinds.push((cause.kind(), 1, cause)),
        }
    }
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some(&(_, n, top)) = kinds.first() else {
        return "no abnormal task stops".to_owned();
    };
    let tasks = |n: usize| {
        if n == 1 { "1 task".to_owned() } else { format!("{n} tasks") }
    };
    let main = match top {
        StopCause::OutOfMemory { memory_mib: Some(m), .. } => {
            format!("{} OOM-killed at {m} MiB: raise memory", tasks(n))
        }
        StopCause::OutOfMemory { .. } => format!("{} OOM-killed: raise memory", tasks(n)),
        StopCause::NonZeroExit { container, code } => {
            format!("{} exited with code {code} (container {container}): check the model's logs", tasks(n))
        }
        StopCause::HealthCheck => format!(
            "{} failed health checks: fix the health endpoint or raise the health check's startPeriod",
            tasks(n)
        ),
        StopCause::ImagePull => {
            format!("{} could not pull the image: check that it exists and the execution role can pull it", tasks(n))
        }
        StopCause::FailedToStart => format!("{} failed to start: check the task's stopped reason in ECS", tasks(n)),
    };
    let others: usize = kinds.iter().skip(1).map(|k| k.1).sum();
    if others == 0 { main } else { format!("{main} (and {} stopped for other reasons)", tasks(others)) }
}

/// The writes that carry out a verdict, in the order the handler performs them:
/// 1. the service's tags, when [`ServiceTagsAt::BeforeRevision`]: a failure is recorded
///    (`rollgate:failed:<digest>`, the high-water mark) before anything is done about it, so
///    a retry knows the verdict whatever happened next;
/// 2. the rollback: a retry that finds the failure recorded finishes it, or, when the
///    service already moved (the answer was lost), records it without a second rollback;
/// 3. the notification;
/// 4. the revision's tags: its state is the commit point, since the gate stops judging a
///    revision whose state is final, so whatever comes before it is redone by a retry;
/// 5. the service's tags, when [`ServiceTagsAt::AfterRevision`].
///
/// Every tag names only what is already written: a rolled-back revision's digest is already
/// marked failed on its service, and the service's last known good is already marked healthy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatePlan {
    pub roll_back_to: Option<TaskDefArn>,
    /// Roll back to a fresh copy of this target instead (it can no longer be deployed): the
    /// copy is registered (or an earlier run's copy reused) and the service pointed at it; its
    /// ARN goes into the revision's `rollgate:rollback-to` and the notification.
    pub copy: Option<CopyTarget>,
    pub tag_revision: Vec<(String, String)>,
    /// Service tag writes, within the 50-tag budget (`tags::failure_write`).
    pub tag_service: TagWrite,
    pub service_tags_at: ServiceTagsAt,
    pub notification: Option<Notification>,
}

/// Where a plan's service tags go relative to its revision tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceTagsAt {
    /// Failures: the failed-digest mark and the high-water mark record the verdict and guard
    /// deploys, so they are written first, before the rollback and the revision's final state.
    #[default]
    BeforeRevision,
    /// A healthy verdict: the service's last known good points at the revision only once the
    /// revision is marked healthy. If this last write fails, the next gate run finishes it
    /// ([`Adoption::Verified`]).
    AfterRevision,
}

/// A rollback target to copy into a fresh revision ([`Resolution::RollBackToCopy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyTarget {
    pub of: TaskDefArn,
    /// The copy's tags ([`copy_tags`]).
    pub tags: Vec<(String, String)>,
}

impl GatePlan {
    pub fn is_empty(&self) -> bool {
        self.roll_back_to.is_none()
            && self.copy.is_none()
            && self.tag_revision.is_empty()
            && self.tag_service.is_empty()
            && self.notification.is_none()
    }
}

/// Turns a verdict into writes. The revision's write fits its 50 tags
/// ([`fit_revision_write`]).
pub fn plan(f: &RolloutFacts<'_>, verdict: &Verdict) -> GatePlan {
    let mut p = plan_writes(f, verdict);
    // carry_out adds `rollgate:rollback-to` once a copy is registered.
    let pending = usize::from(p.copy.is_some());
    p.tag_revision = fit_revision_write(&f.revision.tags, std::mem::take(&mut p.tag_revision), pending);
    p
}

/// Tags of a revision's write that only inform a person (`rollgate status`, the notification
/// carries the same text), least useful first: dropped when the revision has no room for them.
const INFORMATIVE_REVISION_TAGS: [&str; 4] = [keys::MODEL_VERSION, keys::BUILD_ID, keys::ROLLBACK_REASON, keys::REASON];

/// Fits a revision's tag write into ECS's 50 tags per resource, with `pending` more new keys
/// to come in the same write. A revision registered by an older rollgate kept less room for
/// the gate than the gate now writes ([`crate::tags::revision_reserve`]), and ECS refuses a
/// TagResource past 50 tags (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html#tag-restrictions);
/// a refused state write would leave the verdict undone on every run. So the informative tags
/// ([`INFORMATIVE_REVISION_TAGS`]) that are new to the revision are dropped, least useful
/// first, until the write fits. `rollgate:state` is always there already (it is written at
/// registration), so the commit point costs no room; the keys that following a rollback
/// needs (`rollgate:rollback-to`, `rollgate:decided-at`, `rollgate:rolled-back-by`,
/// `rollgate:completed-at`) are kept while they fit. When even they do not (a person added
/// tags up to 50 after registration), only overwrites of keys the revision has are written:
/// the state still lands, and the service's own tags carry the rollback.
pub fn fit_revision_write(existing: &Tags, mut write: Vec<(String, String)>, pending: usize) -> Vec<(String, String)> {
    let new = |w: &[(String, String)]| w.iter().filter(|(k, _)| !existing.contains_key(k)).count() + pending;
    for key in INFORMATIVE_REVISION_TAGS {
        if existing.len() + new(&write) <= crate::tags::MAX_TAGS {
            break;
        }
        write.retain(|(k, _)| k != key || existing.contains_key(k));
    }
    if existing.len() + new(&write) > crate::tags::MAX_TAGS {
        // A person filled the revision with their own tags after it was registered: only what
        // overwrites a key it has fits, and `rollgate:state` (the verdict's commit point) is
        // one. A write that ECS refuses would leave the verdict undone, and said, on every run.
        write.retain(|(k, _)| existing.contains_key(k));
    }
    write
}

fn plan_writes(f: &RolloutFacts<'_>, verdict: &Verdict) -> GatePlan {
    let now = format_time(f.now);
    let state_tags = |state: RolloutState| vec![(keys::STATE.to_owned(), state.as_str().to_owned())];
    let record = RevisionRecord::from_tags(&f.revision.tags).ok().flatten();
    let failed_digest_tag = || failure_tags(f.service, &f.revision.arn, record.as_ref(), &now, Vec::new());
    let notify = |kind: NotificationKind, reason: Option<String>, to: Option<&TaskDefArn>, by: Option<RolledBackBy>| {
        Some(Notification::new(kind, f, record.as_ref(), reason, to.cloned(), by))
    };
    match verdict {
        Verdict::Ignore(_) | Verdict::Wait(_) => GatePlan::default(),
        Verdict::Advance { state, announce_start, .. } => {
            let mut tag_revision = state_tags(*state);
            if *state == RolloutState::Baking {
                tag_revision.push((keys::COMPLETED_AT.to_owned(), now.clone()));
            }
            if let Some(l) = f.lineage.filter(|_| *announce_start) {
                tag_revision.push((keys::BUILD_ID.to_owned(), crate::tags::text(keys::BUILD_ID, &l.build_id)));
                if let Some(v) = &l.model_version {
                    tag_revision.push((keys::MODEL_VERSION.to_owned(), crate::tags::text(keys::MODEL_VERSION, v)));
                }
            }
            GatePlan {
                tag_revision,
                notification: if *announce_start { notify(NotificationKind::Started, None, None, None) } else { None },
                ..GatePlan::default()
            }
        }
        Verdict::Superseded => GatePlan { tag_revision: state_tags(RolloutState::Superseded), ..GatePlan::default() },
        Verdict::Short { desired, .. } => GatePlan {
            tag_revision: vec![(keys::SHORT_SINCE.to_owned(), format!("{desired}@{now}"))],
            ..GatePlan::default()
        },
        Verdict::Healthy => {
            let mut tag_revision = state_tags(RolloutState::Healthy);
            tag_revision.push((keys::DECIDED_AT.to_owned(), now.clone()));
            GatePlan {
                tag_revision,
                tag_service: TagWrite::set(vec![(keys::LAST_GOOD.to_owned(), f.revision.arn.to_string())]),
                service_tags_at: ServiceTagsAt::AfterRevision,
                notification: notify(NotificationKind::Healthy, None, None, None),
                ..GatePlan::default()
            }
        }
        Verdict::Failed { reason, resolution } => {
            let live = f.service.task_definition.clone().filter(|t| t != &f.revision.arn);
            // Where the service goes back to (a copy's ARN is known once it is registered),
            // and who sends it there.
            let (roll_back_to, copy, target, by) = match resolution {
                Resolution::RollBack { to } => (Some(to.clone()), None, Some(to.clone()), RolledBackBy::Rollgate),
                Resolution::RollBackToCopy { of, tags } => {
                    (None, Some(CopyTarget { of: of.clone(), tags: tags.clone() }), None, RolledBackBy::Rollgate)
                }
                // Where ECS's circuit breaker went: its service deployment says, for a rollout
                // found in its history (what runs now may be a newer rollout); else what runs.
                Resolution::AlreadyRolledBack => {
                    (None, None, f.orphaned.and_then(|o| o.rolled_back_to.clone()).or(live), RolledBackBy::Ecs)
                }
                // The earlier run sent the service to the rollback target it would pick again
                // (not necessarily what runs now: a newer rollout may have replaced it since).
                Resolution::Finished { to } => (None, None, to.clone().or(live), RolledBackBy::Rollgate),
                Resolution::NoTarget | Resolution::Impossible { .. } => (None, None, None, RolledBackBy::Rollgate),
            };
            let followed = target.is_some() || copy.is_some();
            let mut tag_revision = match resolution {
                Resolution::NoTarget => state_tags(RolloutState::Failed),
                Resolution::Impossible { .. } => state_tags(RolloutState::RollbackFailed),
                _ if followed => state_tags(RolloutState::RollingBack),
                // ECS already moved on, and not to a revision: nothing to follow.
                _ => state_tags(RolloutState::RolledBack),
            };
            // A rollout rolled back before keeps when its one rollback started.
            if RolloutState::of(&f.revision.tags) != Some(RolloutState::RolledBack) {
                tag_revision.push((keys::DECIDED_AT.to_owned(), now.clone()));
            }
            let kind = match resolution {
                Resolution::NoTarget => NotificationKind::Failed,
                Resolution::Impossible { target, why } => {
                    let why = format!("cannot roll back to {}: {why}", target.revision());
                    tag_revision
                        .push((keys::ROLLBACK_REASON.to_owned(), crate::tags::text(keys::ROLLBACK_REASON, &why)));
                    NotificationKind::RollbackFailed
                }
                _ => NotificationKind::RolledBack,
            };
            tag_revision.push((keys::REASON.to_owned(), crate::tags::text(keys::REASON, reason)));
            if let Some(to) = &target {
                tag_revision.push((keys::ROLLBACK_TO.to_owned(), to.to_string()));
            }
            if followed || matches!(resolution, Resolution::AlreadyRolledBack | Resolution::Finished { .. }) {
                tag_revision.push((keys::ROLLED_BACK_BY.to_owned(), by.as_str().to_owned()));
            }
            let tag_service = if followed && f.orphaned.is_none() {
                failure_tags(
                    f.service,
                    &f.revision.arn,
                    record.as_ref(),
                    &now,
                    vec![(keys::ROLLBACK.to_owned(), f.revision.arn.to_string())],
                )
            } else {
                failed_digest_tag()
            };
            let by = (kind == NotificationKind::RolledBack).then_some(by);
            let mut notification = notify(kind, Some(reason.clone()), target.as_ref(), by);
            if let (Some(n), Resolution::Impossible { target, why }) = (notification.as_mut(), resolution) {
                n.reason = Some(format!("cannot roll back to {}: {why}", target.revision()));
                n.rolled_back_to = Some(target.to_string());
                n.rollout_reason = Some(reason.clone());
            }
            GatePlan {
                notification,
                roll_back_to,
                copy,
                tag_revision,
                tag_service,
                service_tags_at: ServiceTagsAt::BeforeRevision,
            }
        }
    }
}

/// The service tags a failed rollout leaves: its digest failed, and the high-water mark of
/// pushes (so older pushes never deploy over the rollback), with `extra` tags set in the same
/// write. The failed-digest record is bounded ([`crate::tags::failure_write`]).
///
/// A configuration change's rollout ([`Cause::Config`]) kept the live image, so its failure
/// says nothing about the image: it leaves only `rollgate:failed-config` = the revision, the
/// record a retry needs to finish the rollback, and never marks the digest.
pub(crate) fn failure_tags(
    service: &ServiceView,
    revision: &TaskDefArn,
    record: Option<&RevisionRecord>,
    now: &str,
    mut extra: Vec<(String, String)>,
) -> TagWrite {
    let Some(record) = record else { return TagWrite::set(extra) };
    if record.cause == Cause::Config {
        extra.insert(0, (keys::FAILED_CONFIG.to_owned(), revision.to_string()));
        return TagWrite::set(extra);
    }
    let current = service.tags.get(keys::HIGH_WATER).and_then(|t| parse_time(keys::HIGH_WATER, t).ok());
    if current.is_none_or(|c| record.pushed_at > c) {
        extra.insert(0, (keys::HIGH_WATER.to_owned(), format_time(record.pushed_at)));
    }
    crate::tags::failure_write(&service.tags, &record.digest, now, extra)
}

/// Whether the service records `revision` (with its `record`) as failed: its digest for a
/// push, the revision itself for a configuration change ([`failure_tags`]).
pub fn recorded_failed(service: &ServiceView, revision: &TaskDefArn, record: &RevisionRecord) -> bool {
    match record.cause {
        Cause::Push => crate::tags::failed_mark(&service.tags, &record.digest).is_some(),
        Cause::Config => service.tags.get(keys::FAILED_CONFIG).is_some_and(|r| r == revision.as_str()),
    }
}

/// The EventBridge detail-types rollgate publishes, with source `rollgate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationKind {
    Started,
    Healthy,
    RolledBack,
    Failed,
    /// The rollout failed and its rollback failed, or could not be made.
    RollbackFailed,
}

impl NotificationKind {
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::Started => "Rollout Started",
            Self::Healthy => "Rollout Healthy",
            Self::RolledBack => "Rollout Rolled Back",
            Self::Failed => "Rollout Failed",
            Self::RollbackFailed => "Rollback Failed",
        }
    }
}

pub const NOTIFICATION_SOURCE: &str = crate::notify::SOURCE;

/// A verdict, as published to EventBridge (`source: rollgate`). The schema is documented
/// in docs/notifications.md; fields are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    #[serde(skip)]
    pub kind: NotificationKind,
    pub schema_version: u32,
    pub verdict: NotificationKind,
    pub cluster: String,
    pub service: String,
    pub service_arn: String,
    pub revision: String,
    pub digest: Option<String>,
    pub image_tag: Option<String>,
    pub previous: Option<String>,
    /// The model version and build that made the image (model builds only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<RolledBackBy>,
    /// `Rollback Failed` only: why the rollout itself failed (`reason` says why its rollback
    /// failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_reason: Option<String>,
    pub at: String,
}

impl Notification {
    /// The EventBridge entry: detail-type by verdict, resources the service and the revision.
    pub fn outgoing(&self) -> crate::notify::Outgoing {
        crate::notify::Outgoing::new(
            self.kind.detail_type(),
            self,
            vec![self.service_arn.clone(), self.revision.clone()],
        )
    }

    pub(crate) fn new(
        kind: NotificationKind,
        f: &RolloutFacts<'_>,
        record: Option<&RevisionRecord>,
        reason: Option<String>,
        rolled_back_to: Option<TaskDefArn>,
        rolled_back_by: Option<RolledBackBy>,
    ) -> Self {
        Self {
            kind,
            schema_version: 1,
            verdict: kind,
            cluster: f.service.arn.cluster_name().to_owned(),
            service: f.service.arn.name().to_owned(),
            service_arn: f.service.arn.to_string(),
            revision: f.revision.arn.to_string(),
            digest: record.map(|r| r.digest.to_string()),
            image_tag: record.and_then(|r| r.image_tag.as_ref().map(ToString::to_string)),
            previous: record.and_then(|r| r.previous.as_ref().map(ToString::to_string)),
            model_version: f.lineage.and_then(|l| l.model_version.clone()).or_else(|| {
                f.revision.tags.get(keys::MODEL_VERSION).map(|v| crate::tags::decode_or_stored(keys::MODEL_VERSION, v))
            }),
            build_id: f.lineage.map(|l| l.build_id.clone()).or_else(|| {
                f.revision.tags.get(keys::BUILD_ID).map(|v| crate::tags::decode_or_stored(keys::BUILD_ID, v))
            }),
            reason,
            rolled_back_to: rolled_back_to.map(|t| t.to_string()),
            rolled_back_by,
            rollout_reason: None,
            at: format_time(f.now),
        }
    }
}
