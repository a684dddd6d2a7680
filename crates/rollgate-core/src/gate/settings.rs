//! A service's gate settings, read from its `rollgate:*` tags.

use serde::Serialize;

use super::signals::SmokeTest;
use crate::InputError;
use crate::duration::Seconds;
use crate::keys;
use crate::service::Tags;
use crate::tags::decode;

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
    /// The smoke test (`rollgate:smoke-url` and its companions); `None` without `rollgate:smoke-url`.
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
    /// `max_bad_tasks` without `rollgate:max-bad-tasks`: 2.
    pub const DEFAULT_MAX_BAD_TASKS: u32 = 2;
    /// Model images load slowly.
    pub const DEFAULT_DEADLINE: Seconds = Seconds(15 * 60);
    /// `bake` without `rollgate:bake`: 5 minutes.
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

    /// Whether the service watches any alarm (`rollgate:alarms` or `rollgate:alarm-prefix` set).
    pub fn watches_alarms(&self) -> bool {
        !self.alarms.is_empty() || self.alarm_prefix.is_some()
    }
}
