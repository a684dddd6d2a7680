//! What `rollgate down` deletes, decided before anything is deleted (plan, then execute).
//!
//! The rules, each from a way `down` could destroy a live app:
//! - only resources tagged as this app's (`rollgate:managed`, `rollgate:app`) are deleted;
//! - IAM is global: an app's roles serve its copy in every region. They are deleted only when
//!   this app was found in the region `down` was given, or when the user names the account
//!   (`--delete-iam-roles <account>`), and never while another region's
//!   `rollgate:region:<region>` tag says its copy of the app uses them (that region's tag is
//!   then only removed);
//! - with nothing of the app in the region, `down` deletes nothing and says so.

use std::fmt;

use serde::Serialize;

use super::desired::{APP_TAG, Kind, MANAGED_TAG, Resource, Target, Value, is_global};
use super::plan::Observed;
use crate::AccountId;

/// Observed on a role: the regions whose copy of the app uses it.
pub const REGIONS_IN_USE: &str = "regions_in_use";

/// What `down` does with one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum TeardownAction {
    Delete,
    /// Not there (already deleted, or never created).
    Missing,
    /// There, but not tagged as this app's: left alone.
    NotOurs,
    /// A role another region's copy of the app uses: only this region's tag is removed.
    ReleaseRegion {
        other_regions: Vec<String>,
    },
}

impl fmt::Display for TeardownAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TeardownAction::Delete => f.write_str("delete"),
            TeardownAction::Missing => f.write_str("not there"),
            TeardownAction::NotOurs => f.write_str("left alone: not tagged as this app's"),
            TeardownAction::ReleaseRegion { other_regions } => {
                write!(f, "kept: the app in {} uses it (IAM is global)", other_regions.join(" and "))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeardownStep {
    pub kind: Kind,
    pub name: String,
    #[serde(flatten)]
    pub action: TeardownAction,
    #[serde(skip)]
    pub resource: Resource,
}

/// Every step of a `down`, in deletion order (the reverse of creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeardownPlan {
    pub target: Target,
    pub steps: Vec<TeardownStep>,
}

/// Why `down` deletes nothing. Each message names where it looked and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeardownRefusal {
    #[error(
        "nothing of {target} was found: nothing deleted. If the app lives in another region or account, pass --region or --profile"
    )]
    NothingHere { target: Target },
    #[error(
        "no regional resource of {target} was found, so its IAM roles ({roles}) were left alone: IAM is global, and they may serve the app in another region. Pass --region for the region the app runs in, or --delete-iam-roles {account} to delete the roles"
    )]
    OnlyGlobal { target: Target, roles: String, account: AccountId },
    #[error("--delete-iam-roles {given} names another account than the one these credentials are for ({target})")]
    WrongAccount { target: Target, given: String },
}

/// Whether the observed attributes carry this app's ownership tags.
pub fn owned_by(attrs: &super::Attrs, app: &str) -> bool {
    let tags = attrs.get("tags").map(Value::as_map).unwrap_or_default();
    tags.get(MANAGED_TAG).map(String::as_str) == Some("true") && tags.get(APP_TAG).map(String::as_str) == Some(app)
}

/// Plans a `down`. `delete_iam_in` is the account named with `--delete-iam-roles`, if any.
pub fn plan_teardown(
    target: Target,
    desired: &[Resource],
    observed: &Observed,
    delete_iam_in: Option<&str>,
) -> Result<TeardownPlan, TeardownRefusal> {
    if let Some(given) = delete_iam_in
        && given != target.account.as_str()
    {
        return Err(TeardownRefusal::WrongAccount { target, given: given.to_owned() });
    }
    let mine = |r: &Resource| observed.get(&(r.kind, r.name.clone())).filter(|a| owned_by(a, &target.app));
    let found_here = desired.iter().any(|r| !is_global(r.kind) && mine(r).is_some());
    let roles: Vec<&str> =
        desired.iter().filter(|r| is_global(r.kind) && mine(r).is_some()).map(|r| r.name.as_str()).collect();
    if !found_here {
        if roles.is_empty() {
            return Err(TeardownRefusal::NothingHere { target });
        }
        if delete_iam_in.is_none() {
            let account = target.account.clone();
            return Err(TeardownRefusal::OnlyGlobal { target, roles: roles.join(", "), account });
        }
    }
    let steps = desired
        .iter()
        .rev()
        .map(|r| {
            let action = match observed.get(&(r.kind, r.name.clone())) {
                None => TeardownAction::Missing,
                Some(a) if !owned_by(a, &target.app) => TeardownAction::NotOurs,
                Some(a) if is_global(r.kind) => {
                    let others: Vec<String> = a
                        .get(REGIONS_IN_USE)
                        .map(|v| v.as_list().iter().filter(|g| **g != target.region.as_str()).cloned().collect())
                        .unwrap_or_default();
                    if others.is_empty() {
                        TeardownAction::Delete
                    } else {
                        TeardownAction::ReleaseRegion { other_regions: others }
                    }
                }
                Some(_) => TeardownAction::Delete,
            };
            TeardownStep { kind: r.kind, name: r.name.clone(), action, resource: r.clone() }
        })
        .collect();
    Ok(TeardownPlan { target, steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::AppConfig;
    use crate::infra::desired::{Env, desired};
    use crate::{AccountId, Region};

    const CONFIG: &str = "[app]\nname = \"sentiment\"\n[task]\ncpu = 1024\nmemory = 4096\n[service]\nsubnets = [\"subnet-0123abcd\"]\nsecurity_groups = [\"sg-0123abcd\"]\n";

    fn env(region: &str) -> Env {
        Env { account: AccountId::parse("123456789012").unwrap(), region: Region::parse(region).unwrap() }
    }

    /// What AWS shows after `up` in `regions` (IAM is global: the roles carry every region's tag).
    fn after_up(region: &str, regions: &[&str]) -> (Vec<Resource>, Observed) {
        let want = desired(&AppConfig::parse(CONFIG).unwrap(), &env(region));
        let mut have = Observed::new();
        for r in &want {
            let mut attrs = r.attrs.clone();
            if is_global(r.kind) {
                attrs.insert(REGIONS_IN_USE.into(), Value::set(regions.iter().copied()));
            }
            have.insert((r.kind, r.name.clone()), attrs);
        }
        (want, have)
    }

    fn actions(p: &TeardownPlan) -> Vec<(Kind, TeardownAction)> {
        p.steps.iter().map(|s| (s.kind, s.action.clone())).collect()
    }

    #[test]
    fn down_where_the_app_runs_deletes_everything_in_reverse_order() {
        let (want, have) = after_up("us-east-1", &["us-east-1"]);
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, None).unwrap();
        assert!(p.steps.iter().all(|s| s.action == TeardownAction::Delete));
        assert_eq!(p.steps.first().unwrap().kind, Kind::Service);
        assert_eq!(p.steps.last().unwrap().kind, Kind::Repository);
    }

    #[test]
    fn down_in_a_region_without_the_app_deletes_nothing_and_never_the_roles() {
        // `up` in us-east-1; `down` in eu-west-1 sees only the (global) roles.
        let (want, mut have) = after_up("eu-west-1", &["us-east-1"]);
        have.retain(|(k, _), _| is_global(*k));
        let target = env("eu-west-1").target("sentiment");
        let refused = plan_teardown(target.clone(), &want, &have, None).unwrap_err();
        assert!(matches!(refused, TeardownRefusal::OnlyGlobal { .. }), "{refused}");
        let text = refused.to_string();
        assert!(
            text.contains("account 123456789012, region eu-west-1") && text.contains("--delete-iam-roles 123456789012"),
            "{text}"
        );
        // Naming the account: the roles are still in use by us-east-1's copy, so only released.
        let p = plan_teardown(target.clone(), &want, &have, Some("123456789012")).unwrap();
        for (kind, action) in actions(&p) {
            if is_global(kind) {
                assert_eq!(action, TeardownAction::ReleaseRegion { other_regions: vec!["us-east-1".into()] });
            } else {
                assert_eq!(action, TeardownAction::Missing);
            }
        }
        let wrong = plan_teardown(target.clone(), &want, &have, Some("999999999999")).unwrap_err();
        assert!(matches!(wrong, TeardownRefusal::WrongAccount { .. }));
        // Nothing at all: a refusal too.
        let nothing = plan_teardown(target, &want, &Observed::new(), None).unwrap_err();
        assert!(matches!(nothing, TeardownRefusal::NothingHere { .. }));
    }

    #[test]
    fn a_role_two_regions_use_is_released_by_the_first_down_and_deleted_by_the_last() {
        let (want, have) = after_up("us-east-1", &["eu-west-1", "us-east-1"]);
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, None).unwrap();
        let roles: Vec<_> = actions(&p).into_iter().filter(|(k, _)| is_global(*k)).collect();
        assert!(
            roles.iter().all(|(_, a)| *a == TeardownAction::ReleaseRegion { other_regions: vec!["eu-west-1".into()] })
        );
        let (want, have) = after_up("eu-west-1", &["eu-west-1"]);
        let p = plan_teardown(env("eu-west-1").target("sentiment"), &want, &have, None).unwrap();
        assert!(p.steps.iter().all(|s| s.action == TeardownAction::Delete));
    }

    #[test]
    fn resources_of_another_app_are_left_alone() {
        let (want, mut have) = after_up("us-east-1", &["us-east-1"]);
        let task_role = want.iter().find(|r| r.kind == Kind::TaskRole).unwrap();
        have.get_mut(&(Kind::TaskRole, task_role.name.clone()))
            .unwrap()
            .insert("tags".into(), Value::map([("team", "x")]));
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, None).unwrap();
        assert!(actions(&p).contains(&(Kind::TaskRole, TeardownAction::NotOurs)));
    }
}
