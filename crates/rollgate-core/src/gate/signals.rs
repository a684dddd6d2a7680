//! The failing signals a rollout is judged on: abnormal task stops (and their record on
//! the revision) and the golden-inference smoke test.

use serde::Serialize;

use crate::events::StopCause;
use crate::keys;
use crate::service::Tags;

/// A golden-inference check of the model endpoint, run after COMPLETED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmokeTest {
    /// The endpoint, `http://` or `https://` (`rollgate:smoke-url`).
    pub url: String,
    /// Sent with POST when present; GET otherwise.
    pub body: Option<String>,
    /// The HTTP status the answer must have (`rollgate:smoke-status`, default 200).
    pub expect_status: u16,
    /// A substring the response body must contain.
    pub expect_body: Option<String>,
}

/// What the smoke test saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SmokeOutcome {
    /// The answer had the expected status, and the expected substring when one is set.
    Passed,
    /// The request failed, or the status or body was not the expected one; the text says which.
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
    /// gate's own state writes keep their room ([`fit_revision_write`](crate::gate::fit_revision_write)).
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
pub(super) const ROLLBACK_STATE_KEYS: usize = 3;

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
