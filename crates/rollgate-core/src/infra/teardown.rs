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

use super::desired::{Kind, Resource, Target, Value, is_global};
use super::plan::Observed;
use super::plan::foreign_owner;
use crate::AccountId;

/// Observed on a role: the regions whose copy of the app uses it.
pub const REGIONS_IN_USE: &str = "regions_in_use";

/// What `down` does with one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum TeardownAction {
    /// This app's, and nothing else uses it: deleted.
    Delete,
    /// Not there (already deleted, or never created).
    Missing,
    /// There, but not tagged as this app's: left alone.
    NotOurs,
    /// A role another region's copy of the app uses: only this region's tag is removed.
    ReleaseRegion {
        /// The other regions whose `rollgate:region:<region>` tag is on the role, e.g. `eu-west-1`.
        other_regions: Vec<String>,
    },
    /// A cluster that still holds services that are not this app's: kept.
    KeepOccupied {
        /// Who still uses it: `cluster/service` (users of the repository or the task family),
        /// or bare names (services in the cluster, the configured service when not this app's).
        services: Vec<String>,
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
            TeardownAction::KeepOccupied { services } => {
                write!(f, "kept: services that are not this app's still use it ({})", services.join(", "))
            }
        }
    }
}

/// One resource's step of a `down`. As JSON: `kind`, `name`, `action` and the action's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeardownStep {
    /// The resource's kind.
    pub kind: Kind,
    /// The resource's name in AWS.
    pub name: String,
    /// What `down` does with it.
    #[serde(flatten)]
    pub action: TeardownAction,
    /// The resource as rollgate.toml describes it (not serialized).
    #[serde(skip)]
    pub resource: Resource,
}

/// Every step of a `down`, in deletion order (the reverse of creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeardownPlan {
    /// The account, region and app the plan was made for.
    pub target: Target,
    /// One step per resource rollgate.toml names, in deletion order.
    pub steps: Vec<TeardownStep>,
}

/// Why `down` deletes nothing. Each message names where it looked and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeardownRefusal {
    /// Nothing of the app exists in the region (not even a role).
    #[error(
        "nothing of {target} was found: nothing deleted. If the app lives in another region or account, pass --region or --profile"
    )]
    NothingHere {
        /// The account, region and app `down` acted on.
        target: Target,
    },
    /// Only the app's IAM roles exist, with no region tag, and `--delete-iam-roles` was not given.
    #[error(
        "no regional resource of {target} was found, so its IAM roles ({roles}) were left alone: IAM is global, and these carry no region tag (made before rollgate tagged regions), so they may serve the app in another region. If the app still runs somewhere, run `rollgate up` there (it tags the roles) or pass that --region; if it runs nowhere, --delete-iam-roles {account} deletes the roles"
    )]
    OnlyGlobal {
        /// The account, region and app `down` acted on.
        target: Target,
        /// The roles found, names joined by `, `.
        roles: String,
        /// The account to name with `--delete-iam-roles`, 12 digits.
        account: AccountId,
    },
    /// `--delete-iam-roles` names an account other than the caller's.
    #[error("--delete-iam-roles {given} names another account than the one these credentials are for ({target})")]
    WrongAccount {
        /// The account, region and app `down` acted on.
        target: Target,
        /// The account given, as typed.
        given: String,
    },
    /// `--delete-iam-roles` is not a 12-digit account id.
    #[error("--delete-iam-roles {given:?} is not an account id: 12 digits, the account of {target}")]
    NotAnAccount {
        /// The account, region and app `down` acted on.
        target: Target,
        /// The value given, as typed.
        given: String,
    },
    /// A service tagged as this app's runs elsewhere than rollgate.toml says.
    #[error(
        "the service of {target} runs as {found}, but rollgate.toml names service {service} in cluster {cluster}: nothing deleted. Fix [service] name or [cluster] name in rollgate.toml, or pass --config with the file that created the app"
    )]
    ServiceElsewhere {
        /// The account, region and app `down` acted on.
        target: Target,
        /// Where the app's service runs, `service <name> in cluster <cluster>`.
        found: String,
        /// The service name rollgate.toml gives.
        service: String,
        /// The cluster name rollgate.toml gives.
        cluster: String,
    },
    /// Only the app's IAM roles exist here, and another region's copy of the app uses them.
    #[error(
        "no regional resource of {target} was found, and its IAM roles ({roles}) serve the app in {regions}: nothing deleted. If you meant that region, pass --region; the roles are deleted with the app's last region"
    )]
    RolesInUse {
        /// The account, region and app `down` acted on.
        target: Target,
        /// The roles found, names joined by `, `.
        roles: String,
        /// The other regions that use them, joined by `, `.
        regions: String,
    },
}

/// What `down` found in the region besides the resources rollgate.toml names, so it never
/// deletes what a running app still uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionFacts {
    /// Every ACTIVE service tagged as this app's, anywhere in the region, as (cluster, service).
    pub app_services: Vec<(String, String)>,
    /// The ACTIVE services in the cluster rollgate.toml names, by name.
    pub cluster_services: Vec<String>,
    /// ACTIVE services that are not this app's and track its repository
    /// (`rollgate:repository`), as `cluster/service`.
    pub repository_users: Vec<String>,
    /// ACTIVE services that are not this app's but run (or are moving to) a revision of its
    /// task family, as `cluster/service`: a hand-made canary, or a service left half taken over.
    /// What they run on (the family, its roles, log group and image repository) is kept.
    pub family_users: Vec<String>,
}

/// The app's service, if it runs anywhere other than where rollgate.toml says: `(cluster,
/// service)`. `down` must not delete what it runs on, and `up` must not start a second copy.
pub fn misplaced_service<'a>(desired: &[Resource], facts: &'a RegionFacts) -> Option<&'a (String, String)> {
    let (cluster, name) = configured_service(desired)?;
    facts.app_services.iter().find(|(c, s)| c != cluster || s != name)
}

/// The regions other than `region` whose copy of the app uses a role (its observed
/// `rollgate:region:<region>` tags).
fn other_regions(role: &super::Attrs, region: &str) -> Vec<String> {
    role.get(REGIONS_IN_USE).map(|v| v.as_list().iter().filter(|g| *g != region).cloned().collect()).unwrap_or_default()
}

/// Where rollgate.toml says the app's service runs: `(cluster, service)`.
fn configured_service(desired: &[Resource]) -> Option<(&str, &str)> {
    let service = desired.iter().find(|r| r.kind == Kind::Service)?;
    Some((service.attrs.get("cluster").map(Value::as_text).unwrap_or_default(), service.name.as_str()))
}

/// `--delete-iam-roles <given>`: a 12-digit account id, the caller's. Checked before any read.
pub fn check_iam_account(target: &Target, given: &str) -> Result<(), Box<TeardownRefusal>> {
    if AccountId::parse(given).is_err() {
        return Err(Box::new(TeardownRefusal::NotAnAccount { target: target.clone(), given: given.to_owned() }));
    }
    if given != target.account.as_str() {
        return Err(Box::new(TeardownRefusal::WrongAccount { target: target.clone(), given: given.to_owned() }));
    }
    Ok(())
}

/// Plans a `down`. `delete_iam_in` is the account named with `--delete-iam-roles`, if any.
pub fn plan_teardown(
    target: Target,
    desired: &[Resource],
    observed: &Observed,
    facts: &RegionFacts,
    delete_iam_in: Option<&str>,
) -> Result<TeardownPlan, Box<TeardownRefusal>> {
    if let Some(given) = delete_iam_in {
        check_iam_account(&target, given)?;
    }
    // The app's service must be the one rollgate.toml names: a typo in [service] or [cluster]
    // name would otherwise delete the roles and revisions a running service uses.
    let (cluster, name) = configured_service(desired).unwrap_or_default();
    if let Some((c, s)) = misplaced_service(desired, facts) {
        return Err(Box::new(TeardownRefusal::ServiceElsewhere {
            found: format!("service {s} in cluster {c}"),
            service: name.to_owned(),
            cluster: cluster.to_owned(),
            target,
        }));
    }
    let owned = |a: &super::Attrs| foreign_owner(a, &target.app).is_none();
    let mine = |r: &Resource| observed.get(&(r.kind, r.name.clone())).filter(|a| owned(a));
    let found_here = desired.iter().any(|r| !is_global(r.kind) && mine(r).is_some());
    let roles: Vec<&str> =
        desired.iter().filter(|r| is_global(r.kind) && mine(r).is_some()).map(|r| r.name.as_str()).collect();
    if !found_here {
        if roles.is_empty() {
            return Err(Box::new(TeardownRefusal::NothingHere { target }));
        }
        let elsewhere: std::collections::BTreeSet<String> = desired
            .iter()
            .filter(|r| is_global(r.kind))
            .filter_map(|r| observed.get(&(r.kind, r.name.clone())))
            .flat_map(|a| other_regions(a, target.region.as_str()))
            .collect();
        if !elsewhere.is_empty() {
            let regions = elsewhere.into_iter().collect::<Vec<_>>().join(", ");
            return Err(Box::new(TeardownRefusal::RolesInUse { target, roles: roles.join(", "), regions }));
        }
        if delete_iam_in.is_none() {
            let account = target.account.clone();
            return Err(Box::new(TeardownRefusal::OnlyGlobal { target, roles: roles.join(", "), account }));
        }
    }
    // The configured service stays when it is not the app's (made by hand, or half taken
    // over): then it still occupies the cluster and may run the app's task family.
    let service_kept = desired
        .iter()
        .find(|r| r.kind == Kind::Service)
        .and_then(|r| observed.get(&(r.kind, r.name.clone())))
        .is_some_and(|a| !owned(a));
    let steps = desired
        .iter()
        .rev()
        .map(|r| {
            let action = match observed.get(&(r.kind, r.name.clone())) {
                None => TeardownAction::Missing,
                Some(a) if !owned(a) => TeardownAction::NotOurs,
                Some(_)
                    if !facts.family_users.is_empty()
                        && matches!(
                            r.kind,
                            Kind::TaskDefinition
                                | Kind::ExecutionRole
                                | Kind::TaskRole
                                | Kind::LogGroup
                                | Kind::Repository
                        ) =>
                {
                    TeardownAction::KeepOccupied { services: facts.family_users.clone() }
                }
                Some(a) if is_global(r.kind) => {
                    let others = other_regions(a, target.region.as_str());
                    if others.is_empty() {
                        TeardownAction::Delete
                    } else {
                        TeardownAction::ReleaseRegion { other_regions: others }
                    }
                }
                Some(_) if r.kind == Kind::Repository && !facts.repository_users.is_empty() => {
                    TeardownAction::KeepOccupied { services: facts.repository_users.clone() }
                }
                Some(_) if r.kind == Kind::TaskDefinition && service_kept => {
                    TeardownAction::KeepOccupied { services: vec![name.to_owned()] }
                }
                Some(_) if r.kind == Kind::Cluster => {
                    let others: Vec<String> =
                        facts.cluster_services.iter().filter(|s| service_kept || **s != name).cloned().collect();
                    if others.is_empty() {
                        TeardownAction::Delete
                    } else {
                        TeardownAction::KeepOccupied { services: others }
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

    /// The app's service where rollgate.toml says it is, alone in its cluster.
    fn here() -> RegionFacts {
        RegionFacts {
            app_services: vec![("sentiment".into(), "sentiment".into())],
            cluster_services: vec!["sentiment".into()],
            repository_users: vec![],
            family_users: vec![],
        }
    }

    fn actions(p: &TeardownPlan) -> Vec<(Kind, TeardownAction)> {
        p.steps.iter().map(|s| (s.kind, s.action.clone())).collect()
    }

    #[test]
    fn down_where_the_app_runs_deletes_everything_in_reverse_order() {
        let (want, have) = after_up("us-east-1", &["us-east-1"]);
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, &here(), None).unwrap();
        assert!(p.steps.iter().all(|s| s.action == TeardownAction::Delete));
        assert_eq!(p.steps.first().unwrap().kind, Kind::Service);
        assert_eq!(p.steps.last().unwrap().kind, Kind::Repository);
    }

    /// A service of the configured name that is not the app's (made by hand, or left half
    /// taken over by a failed `up --adopt`) stays, and so do the cluster it occupies and the
    /// task family it may run: deregistering its live revision would break it.
    #[test]
    fn a_service_that_is_not_the_apps_keeps_its_cluster_and_task_family() {
        let (want, mut have) = after_up("us-east-1", &["us-east-1"]);
        let service = have.get_mut(&(Kind::Service, "sentiment".into())).unwrap();
        service.insert("tags".into(), Value::map([("team", "ml")]));
        let facts = RegionFacts { app_services: vec![], ..here() };
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, &facts, None).unwrap();
        let kept = TeardownAction::KeepOccupied { services: vec!["sentiment".into()] };
        for (kind, action) in actions(&p) {
            let want = match kind {
                Kind::Service => TeardownAction::NotOurs,
                Kind::Cluster | Kind::TaskDefinition => kept.clone(),
                _ => TeardownAction::Delete,
            };
            assert_eq!(action, want, "{kind:?}");
        }
    }

    /// A service that is not the app's but runs a revision of its family (a canary made by
    /// hand) keeps what it runs on: the family, the roles its revisions name, the log group and
    /// the repository its image comes from. The rest goes.
    #[test]
    fn a_service_running_the_apps_family_keeps_what_it_runs_on() {
        let (want, have) = after_up("us-east-1", &["us-east-1"]);
        let facts = RegionFacts { family_users: vec!["sentiment/canary".into()], ..here() };
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, &facts, None).unwrap();
        let kept = TeardownAction::KeepOccupied { services: vec!["sentiment/canary".into()] };
        for (kind, action) in actions(&p) {
            let want = match kind {
                Kind::TaskDefinition | Kind::ExecutionRole | Kind::TaskRole | Kind::LogGroup | Kind::Repository => {
                    kept.clone()
                }
                _ => TeardownAction::Delete,
            };
            assert_eq!(action, want, "{kind:?}");
        }
    }

    #[test]
    fn down_in_a_region_without_the_app_deletes_nothing_and_never_the_roles() {
        // `up` in us-east-1; `down` in eu-west-1 sees only the (global) roles.
        let (want, mut have) = after_up("eu-west-1", &["us-east-1"]);
        have.retain(|(k, _), _| is_global(*k));
        let target = env("eu-west-1").target("sentiment");
        let refused = plan_teardown(target.clone(), &want, &have, &RegionFacts::default(), None).unwrap_err();
        // The roles serve the app in us-east-1: the refusal names that region, not the flag.
        assert!(matches!(*refused, TeardownRefusal::RolesInUse { .. }), "{refused}");
        let text = refused.to_string();
        assert!(text.contains("account 123456789012, region eu-west-1") && text.contains("in us-east-1"), "{text}");
        assert!(!text.contains("--delete-iam-roles"), "{text}");
        // The roles are in use by us-east-1's copy: the refusal says so, even with the account.
        let in_use = plan_teardown(target.clone(), &want, &have, &RegionFacts::default(), Some("123456789012"));
        assert!(
            matches!(in_use.map_err(|e| *e), Err(TeardownRefusal::RolesInUse { ref regions, .. }) if regions == "us-east-1")
        );
        // Roles tagged for no other region (their app is gone everywhere): the account deletes them.
        let mut orphaned = have.clone();
        for a in orphaned.values_mut() {
            a.insert(REGIONS_IN_USE.into(), Value::List(vec![]));
        }
        let refused = plan_teardown(target.clone(), &want, &orphaned, &RegionFacts::default(), None).unwrap_err();
        assert!(refused.to_string().contains("--delete-iam-roles 123456789012"), "{refused}");
        let p = plan_teardown(target.clone(), &want, &orphaned, &RegionFacts::default(), Some("123456789012")).unwrap();
        for (kind, action) in actions(&p) {
            assert_eq!(action, if is_global(kind) { TeardownAction::Delete } else { TeardownAction::Missing });
        }
        let not_id = plan_teardown(target.clone(), &want, &orphaned, &RegionFacts::default(), Some("abc")).unwrap_err();
        assert!(matches!(*not_id, TeardownRefusal::NotAnAccount { .. }));
        let wrong =
            plan_teardown(target.clone(), &want, &have, &RegionFacts::default(), Some("999999999999")).unwrap_err();
        assert!(matches!(*wrong, TeardownRefusal::WrongAccount { .. }));
        // Nothing at all: a refusal too.
        let nothing = plan_teardown(target, &want, &Observed::new(), &RegionFacts::default(), None).unwrap_err();
        assert!(matches!(*nothing, TeardownRefusal::NothingHere { .. }));
    }

    #[test]
    fn a_role_two_regions_use_is_released_by_the_first_down_and_deleted_by_the_last() {
        let (want, have) = after_up("us-east-1", &["eu-west-1", "us-east-1"]);
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, &here(), None).unwrap();
        let roles: Vec<_> = actions(&p).into_iter().filter(|(k, _)| is_global(*k)).collect();
        assert!(
            roles.iter().all(|(_, a)| *a == TeardownAction::ReleaseRegion { other_regions: vec!["eu-west-1".into()] })
        );
        let (want, have) = after_up("eu-west-1", &["eu-west-1"]);
        let p = plan_teardown(env("eu-west-1").target("sentiment"), &want, &have, &here(), None).unwrap();
        assert!(p.steps.iter().all(|s| s.action == TeardownAction::Delete));
    }

    /// A typo in [service] or [cluster] name: the app's running service is elsewhere, and
    /// nothing is deleted (not its roles, not its revisions).
    #[test]
    fn a_misnamed_service_or_cluster_deletes_nothing() {
        let (want, have) = after_up("us-east-1", &["us-east-1"]);
        let facts =
            RegionFacts { app_services: vec![("sentiment-prod".into(), "sentiment".into())], ..RegionFacts::default() };
        let refused = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, &facts, None).unwrap_err();
        assert!(matches!(*refused, TeardownRefusal::ServiceElsewhere { .. }), "{refused}");
        assert!(refused.to_string().contains("service sentiment in cluster sentiment-prod"), "{refused}");
    }

    /// A cluster that holds someone else's services is kept.
    #[test]
    fn a_cluster_with_other_services_is_kept() {
        let (want, have) = after_up("us-east-1", &["us-east-1"]);
        let facts = RegionFacts {
            app_services: vec![("sentiment".into(), "sentiment".into())],
            cluster_services: vec!["sentiment".into(), "other-team".into()],
            repository_users: vec!["shared/other-app".into()],
            family_users: vec![],
        };
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, &facts, None).unwrap();
        assert!(
            actions(&p)
                .contains(&(Kind::Cluster, TeardownAction::KeepOccupied { services: vec!["other-team".into()] }))
        );
        assert!(actions(&p).contains(&(Kind::Service, TeardownAction::Delete)));
        // A repository another app's service tracks is kept too.
        assert!(
            actions(&p).contains(&(
                Kind::Repository,
                TeardownAction::KeepOccupied { services: vec!["shared/other-app".into()] }
            ))
        );
    }

    #[test]
    fn resources_of_another_app_are_left_alone() {
        let (want, mut have) = after_up("us-east-1", &["us-east-1"]);
        let task_role = want.iter().find(|r| r.kind == Kind::TaskRole).unwrap();
        have.get_mut(&(Kind::TaskRole, task_role.name.clone()))
            .unwrap()
            .insert("tags".into(), Value::map([("team", "x")]));
        let p = plan_teardown(env("us-east-1").target("sentiment"), &want, &have, &here(), None).unwrap();
        assert!(actions(&p).contains(&(Kind::TaskRole, TeardownAction::NotOurs)));
    }
}
