//! Discovery by index: which services a push or a gate sweep concerns, found through the
//! Resource Groups Tagging API (`GetResources`) instead of listing and describing every
//! service of every cluster.
//!
//! The index is a lookup of candidates, never the truth. AWS documents `GetResources` as
//! returning "tagged or previously tagged" resources and gives no bound on how soon a tag
//! change shows; users report deleted resources listed for more than 20 minutes
//! (aws/aws-cli#4173). So every candidate is described again (DescribeServices,
//! `include=TAGS`) and judged on what ECS answers then: a stale entry costs a read, never a
//! wrong deploy. What the index has not caught up with yet (a service that opted in a moment
//! ago) is found by the reconciler's full scan and the gate's full sweep, which still run at a
//! lower rate (docs/fleet-scale.md).
//!
//! The queries, each one `GetResources` call per 100 matches
//! (<https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html>):
//! - [`tracking`]: `ecs:service` whose `rollgate:repository` is the pushed repository;
//! - [`rollouts_in_flight`]: `ecs:task-definition` whose `rollgate:state` is deploying,
//!   verifying, baking or rolling-back (deploy writes `deploying` at RegisterTaskDefinition,
//!   in the same call);
//! - [`outside_records`]: `ecs:service` with a `rollgate:outside` record (a revision rollgate
//!   did not roll out, judged through the service's ledger).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::gate::OutsideRecord;
use crate::keys;
use crate::rollout::RolloutState;
use crate::{RepositoryName, ServiceArn, Tags};

/// The resource types rollgate looks up, as `GetResources`' `ResourceTypeFilters` spells them
/// (`service[:resourceType]`, as in the resource's ARN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedType {
    /// `ecs:service`: `arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`.
    Service,
    /// `ecs:task-definition`: `arn:aws:ecs:<region>:<account>:task-definition/<family>:<n>`.
    TaskDefinition,
}

impl IndexedType {
    /// The `ResourceTypeFilters` entry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "ecs:service",
            Self::TaskDefinition => "ecs:task-definition",
        }
    }
}

/// One `TagFilters` entry: the key, and the values any of which matches (none: any value).
/// Filters are ANDed, values within one are ORed; AWS takes at most 50 filters and 20 values
/// a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFilter {
    /// The tag key.
    pub key: String,
    /// The values that match; empty matches the key with any value.
    pub values: Vec<String>,
}

/// One `GetResources` query: a resource type and the tag filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexQuery {
    /// The one resource type asked for.
    pub resource_type: IndexedType,
    /// ANDed filters.
    pub filters: Vec<IndexFilter>,
}

/// One resource the index listed: its ARN and the tags the index holds for it (possibly
/// stale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    /// The resource's ARN.
    pub arn: String,
    /// Its tags, as the index has them.
    pub tags: Tags,
}

/// The services that track `repository`: `rollgate:repository` is its name as stored, or its
/// `base64:` form, padded (as the tag codec writes it, `crate::tags`) or not (as a person may),
/// each only when it fits a tag value (256 characters: a name of 187 or more characters has no
/// `base64:` form a tag can hold). A hand-written value in any other spelling
/// [`crate::service::OptIn::repository_tag`] would read (`base64: ` with a space) is found by
/// the full scans only.
pub fn tracking(repository: &RepositoryName) -> IndexQuery {
    let name = repository.as_str();
    let encoded = format!("{}{}", crate::tags::BASE64_PREFIX, crate::base64::encode(name.as_bytes()));
    let unpadded = encoded.trim_end_matches('=').to_owned();
    let mut values = vec![name.to_owned()];
    for value in [encoded, unpadded] {
        if value.chars().count() <= crate::tags::MAX_VALUE_CHARS && !values.contains(&value) {
            values.push(value);
        }
    }
    IndexQuery {
        resource_type: IndexedType::Service,
        filters: vec![IndexFilter { key: keys::REPOSITORY.to_owned(), values }],
    }
}

/// The revisions whose rollout the gate still has work on: a verdict to reach (deploying,
/// verifying, baking) or a rollback to follow (rolling-back).
pub fn rollouts_in_flight() -> IndexQuery {
    let values = [RolloutState::Deploying, RolloutState::Verifying, RolloutState::Baking, RolloutState::RollingBack]
        .map(|s| s.as_str().to_owned())
        .to_vec();
    IndexQuery {
        resource_type: IndexedType::TaskDefinition,
        filters: vec![IndexFilter { key: keys::STATE.to_owned(), values }],
    }
}

/// The services with a `rollgate:outside` record, whatever its state (a tag filter matches
/// whole values only, so the state is read from the answer: [`sweep_services`]).
pub fn outside_records() -> IndexQuery {
    IndexQuery {
        resource_type: IndexedType::Service,
        filters: vec![IndexFilter { key: keys::OUTSIDE.to_owned(), values: Vec::new() }],
    }
}

/// Service ARNs to describe, grouped by cluster name (DescribeServices takes one cluster and
/// 10 services a call), each cluster's sorted and without duplicates.
pub type ByCluster = BTreeMap<String, Vec<ServiceArn>>;

/// Whether `watched` (`ROLLGATE_CLUSTERS`: names or ARNs) includes the service's cluster. An
/// ARN entry must name the service's account and region too.
pub fn watches(watched: &[String], service: &ServiceArn) -> bool {
    let cluster = service.cluster_name();
    watched.iter().any(|c| match c.strip_prefix("arn:") {
        None => c == cluster,
        Some(_) => {
            let (account, region) = (service.account(), service.region());
            c.rsplit('/').next() == Some(cluster)
                && c.split(':').nth(3) == Some(region.as_str())
                && c.split(':').nth(4) == Some(account.as_str())
        }
    })
}

fn insert(by_cluster: &mut ByCluster, service: ServiceArn) {
    let list = by_cluster.entry(service.cluster_name().to_owned()).or_default();
    if let Err(at) = list.binary_search(&service) {
        list.insert(at, service);
    }
}

/// The services among `found` (an [`IndexedType::Service`] answer) in a watched cluster,
/// grouped for DescribeServices. An ARN that is no service ARN, or a short (pre-2021) one,
/// which names no cluster, is left out: ECS cannot tag a short-ARN service, so the index
/// never holds one.
pub fn services_in(found: &[Indexed], watched: &[String]) -> ByCluster {
    let mut by_cluster = ByCluster::new();
    for entry in found {
        if let Ok(service) = ServiceArn::parse(&entry.arn)
            && watches(watched, &service)
        {
            insert(&mut by_cluster, service);
        }
    }
    by_cluster
}

/// The services a gate sweep looks at: the service of each rollout in flight (its revision's
/// `rollgate:service`), and each service whose `rollgate:outside` record is not settled (a
/// revision awaiting its verdict, or its rollback being followed). Only watched clusters.
pub fn sweep_services(rollouts: &[Indexed], outside: &[Indexed], watched: &[String]) -> ByCluster {
    let mut by_cluster = ByCluster::new();
    for entry in rollouts {
        if let Some(service) = entry.tags.get(keys::SERVICE).and_then(|s| ServiceArn::parse(s).ok())
            && watches(watched, &service)
        {
            insert(&mut by_cluster, service);
        }
    }
    for entry in outside {
        let Ok(service) = ServiceArn::parse(&entry.arn) else { continue };
        let unsettled = entry
            .tags
            .get(keys::OUTSIDE)
            .and_then(|v| OutsideRecord::parse(v, &service))
            .is_none_or(|r| !r.state.is_final() || r.state == RolloutState::RollingBack);
        if unsettled && watches(watched, &service) {
            insert(&mut by_cluster, service);
        }
    }
    by_cluster
}

/// How functions find the services an event concerns (`ROLLGATE_DISCOVERY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Discovery {
    /// The tagging index ([`tracking`], [`rollouts_in_flight`]), with a full scan at a lower
    /// rate as the safety net. The default.
    #[default]
    Index,
    /// Every cluster listed and described on every run (ListServices, DescribeServices), as
    /// before the index: for accounts where `tag:GetResources` cannot be granted.
    Scan,
}

impl Discovery {
    /// `index` or `scan`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Scan => "scan",
        }
    }

    /// Reads `index` or `scan` (any case, trimmed).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "index" => Some(Self::Index),
            "scan" => Some(Self::Scan),
            _ => None,
        }
    }
}

/// What a scheduled gate run looks at ([`sweep_plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepPlan<'a> {
    /// Every opted-in service of every watched cluster: always with [`Discovery::Scan`], and
    /// on every run when `ROLLGATE_FULL_SWEEP_EVERY` is no longer than one schedule period.
    Full,
    /// The rollouts in flight, from the tagging index, and every opted-in service of
    /// `in_full`: the watched clusters whose turn of the full sweep this run is (often none).
    InFlight { in_full: Vec<&'a str> },
}

/// What a scheduled gate run at `now` sweeps. With the index, the full sweep (the safety net
/// for what the index has not caught up with) is spread over `every_secs`: the period is cut
/// into `parts` = ⌈every / tick⌉ turns of one tick each, counted from the Unix epoch, and the
/// watched clusters, sorted by name, take the turns in order (cluster *i* on turn
/// *i* mod `parts`). So every cluster is swept in full once every `parts` ticks, no run sweeps
/// more than ⌈clusters / parts⌉ of them, and a run's cost stays what the function's time and
/// call rate allow at any fleet size, rather than one run a period sweeping all of it.
///
/// A run's turn is `⌊now / tick⌋ mod parts`. EventBridge runs a scheduled rule within its
/// scheduled minute, not on its 0th second
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html>),
/// and a rate's tick is whole minutes, so each tick has its own turn; a tick EventBridge drops
/// postpones that turn's clusters by one period.
///
/// `tick_secs`: the gate's schedule period (`ROLLGATE_GATE_SCHEDULE`, [`schedule_period`]);
/// `every_secs`: `ROLLGATE_FULL_SWEEP_EVERY`.
pub fn sweep_plan<'a>(
    discovery: Discovery,
    now: DateTime<Utc>,
    tick_secs: u64,
    every_secs: u64,
    clusters: &'a [String],
) -> SweepPlan<'a> {
    if discovery == Discovery::Scan {
        return SweepPlan::Full;
    }
    match clusters_in_turn(now, Turns { tick_secs, every_secs }, clusters) {
        None => SweepPlan::Full,
        Some(in_full) => SweepPlan::InFlight { in_full },
    }
}

/// The cluster name of a `ROLLGATE_CLUSTERS` entry: itself, or an ARN's last segment.
pub fn cluster_name(entry: &str) -> &str {
    entry.rsplit('/').next().unwrap_or(entry)
}

/// A sweep spread over `every_secs`, run on a schedule that ticks every `tick_secs`
/// ([`clusters_in_turn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turns {
    /// The schedule's period, in seconds.
    pub tick_secs: u64,
    /// How long one sweep of every cluster may be spread over, in seconds.
    pub every_secs: u64,
}

impl Default for Turns {
    /// The reconciler's defaults: a `rate(5 minutes)` schedule, every cluster on every run.
    fn default() -> Self {
        Self { tick_secs: 300, every_secs: 300 }
    }
}

impl Turns {
    /// How many turns the sweep is cut into: ⌈every / tick⌉, at least 1.
    pub fn parts(self) -> u64 {
        self.every_secs.div_ceil(self.tick_secs.max(1)).max(1)
    }
}

/// The clusters of `clusters` whose turn a run at `now` is, or `None` when the period holds one
/// tick and every run sweeps them all. The period is cut into [`Turns::parts`] turns of one
/// tick each, counted from the Unix epoch; the clusters, sorted by cluster name, take the turns in
/// order (cluster *i* on turn *i* mod parts), so each is swept once every `parts` ticks and no
/// run sweeps more than ⌈clusters / parts⌉. A run's turn is `⌊now / tick⌋ mod parts`.
pub fn clusters_in_turn(now: DateTime<Utc>, turns: Turns, clusters: &[String]) -> Option<Vec<&str>> {
    let parts = turns.parts();
    if parts == 1 {
        return None;
    }
    let turn = u64::try_from(now.timestamp().max(0)).unwrap_or(0) / turns.tick_secs.max(1) % parts;
    // By cluster name, so a name and an ARN sort alike (`ROLLGATE_CLUSTERS` names each cluster once).
    let mut sorted: Vec<&str> = clusters.iter().map(String::as_str).collect();
    sorted.sort_unstable_by_key(|c| (cluster_name(c), *c));
    sorted.dedup();
    Some(sorted.into_iter().enumerate().filter(|(i, _)| *i as u64 % parts == turn).map(|(_, c)| c).collect())
}

/// The period of an EventBridge schedule expression `rate(<n> minute|minutes|hour|hours|day|days)`
/// in seconds (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html>);
/// `None` for anything else (a `cron(...)` expression has no single period).
pub fn schedule_period(expression: &str) -> Option<u64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit_secs = match (unit.trim(), n) {
        ("minute", 1) | ("minutes", 2..) => 60,
        ("hour", 1) | ("hours", 2..) => 3_600,
        ("day", 1) | ("days", 2..) => 86_400,
        _ => return None,
    };
    n.checked_mul(unit_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

    fn service(cluster: &str, name: &str) -> String {
        format!("arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{name}")
    }

    fn entry(arn: &str, tags: &[(&str, &str)]) -> Indexed {
        Indexed { arn: arn.into(), tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect() }
    }

    #[test]
    fn tracking_matches_the_name_and_its_encoded_form() {
        let query = tracking(&RepositoryName::parse("models/sentiment").unwrap());
        assert_eq!(query.resource_type.as_str(), "ecs:service");
        assert_eq!(query.filters.len(), 1);
        assert_eq!(query.filters[0].key, "rollgate:repository");
        assert_eq!(query.filters[0].values[0], "models/sentiment");
        for value in &query.filters[0].values {
            let tags = [(keys::REPOSITORY.to_owned(), value.clone())].into_iter().collect();
            assert_eq!(crate::service::OptIn::repository_tag(&tags).as_deref(), Some("models/sentiment"), "{value}");
        }
    }

    #[test]
    fn a_name_too_long_for_a_base64_tag_value_is_looked_up_as_itself() {
        let long = "a".repeat(200);
        let query = tracking(&RepositoryName::parse(&long).unwrap());
        assert_eq!(query.filters[0].values, [long], "AWS refuses a filter value over 256 characters");
        let query = tracking(&RepositoryName::parse("mm").unwrap());
        assert_eq!(query.filters[0].values, ["mm", "base64:bW0=", "base64:bW0"]);
    }

    #[test]
    fn in_flight_states_are_those_the_gate_still_works_on() {
        let query = rollouts_in_flight();
        assert_eq!(query.resource_type.as_str(), "ecs:task-definition");
        let states: Vec<RolloutState> =
            query.filters[0].values.iter().map(|v| RolloutState::parse(v).unwrap()).collect();
        for state in [
            RolloutState::Deploying,
            RolloutState::Verifying,
            RolloutState::Baking,
            RolloutState::Healthy,
            RolloutState::Failed,
            RolloutState::RollingBack,
            RolloutState::RolledBack,
            RolloutState::RollbackFailed,
            RolloutState::Superseded,
        ] {
            let expected = state.awaits_verdict() || state == RolloutState::RollingBack;
            assert_eq!(states.contains(&state), expected, "{state}");
        }
    }

    #[test]
    fn only_watched_clusters_and_long_arns_are_described() {
        let found = [
            entry(&service("prod", "b"), &[]),
            entry(&service("prod", "a"), &[]),
            entry(&service("prod", "a"), &[]),
            entry(&service("dev", "c"), &[]),
            entry("arn:aws:ecs:us-east-1:123456789012:service/short", &[]),
            entry("arn:aws:ecs:eu-west-1:123456789012:service/prod/elsewhere", &[]),
            entry("not an arn", &[]),
        ];
        let by_cluster = services_in(&found, &[CLUSTER.to_owned()]);
        let names: Vec<&str> = by_cluster["prod"].iter().map(|s| s.name()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(by_cluster.len(), 1, "{by_cluster:?}");
        // By name, the region is the function's own (ECS answers only its region anyway).
        assert_eq!(services_in(&found, &["prod".into(), "dev".into()]).values().map(Vec::len).sum::<usize>(), 4);
    }

    #[test]
    fn a_sweep_looks_at_rollouts_in_flight_and_unsettled_outside_records() {
        let rollouts = [
            entry(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7",
                &[(keys::SERVICE, &service("prod", "api"))],
            ),
            entry("arn:aws:ecs:us-east-1:123456789012:task-definition/x:1", &[]),
            entry("arn:aws:ecs:us-east-1:123456789012:task-definition/y:1", &[(keys::SERVICE, &service("dev", "y"))]),
        ];
        let outside = [
            entry(&service("prod", "hand"), &[(keys::OUTSIDE, "verifying@2026-12-03T12:00:00Z hand:3")]),
            entry(&service("prod", "back"), &[(keys::OUTSIDE, "rolling-back@2026-12-03T12:00:00Z back:3")]),
            entry(&service("prod", "done"), &[(keys::OUTSIDE, "healthy@2026-12-03T12:00:00Z done:3")]),
            entry(&service("prod", "garbled"), &[(keys::OUTSIDE, "edited by hand")]),
        ];
        let by_cluster = sweep_services(&rollouts, &outside, &["prod".into()]);
        let names: Vec<&str> = by_cluster["prod"].iter().map(|s| s.name()).collect();
        assert_eq!(names, ["api", "back", "garbled", "hand"]);
        assert_eq!(by_cluster.len(), 1);
    }

    #[test]
    fn the_full_sweep_is_spread_over_its_period_one_turn_a_tick_each_cluster_once() {
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let clusters: Vec<String> = (0..50).map(|i| format!("c{i:02}")).collect();
        assert_eq!(sweep_plan(Discovery::Scan, at(61), 60, 900, &clusters), SweepPlan::Full);
        assert_eq!(sweep_plan(Discovery::Index, at(61), 60, 60, &clusters), SweepPlan::Full, "one tick a period");
        assert_eq!(sweep_plan(Discovery::Index, at(61), 300, 60, &clusters), SweepPlan::Full);
        // A one-minute schedule, 15 minutes: over any 15 consecutive ticks (whatever the seconds
        // EventBridge delivers them at) every cluster is swept exactly once, 3 or 4 a run.
        for offset in [0, 7, 59] {
            let mut swept = std::collections::BTreeMap::new();
            for minute in 0..15 {
                let SweepPlan::InFlight { in_full } =
                    sweep_plan(Discovery::Index, at(1_796_299_200 + minute * 60 + offset), 60, 900, &clusters)
                else {
                    panic!("a part, not everything");
                };
                assert!((3..=4).contains(&in_full.len()), "{in_full:?}");
                for c in in_full {
                    *swept.entry(c).or_insert(0) += 1;
                }
            }
            assert_eq!(swept.len(), 50);
            assert!(swept.values().all(|n| *n == 1), "{swept:?}");
        }
        // The turn does not depend on the configured order, and one cluster has one turn.
        let reversed: Vec<String> = clusters.iter().rev().cloned().collect();
        assert_eq!(
            sweep_plan(Discovery::Index, at(1_796_299_620), 60, 900, &clusters),
            sweep_plan(Discovery::Index, at(1_796_299_620), 60, 900, &reversed)
        );
        let one = ["prod".to_owned()];
        let turns: Vec<i64> = (0..60)
            .filter(|m| {
                sweep_plan(Discovery::Index, at(m * 60), 60, 900, &one) != SweepPlan::InFlight { in_full: vec![] }
            })
            .collect();
        assert_eq!(turns, [0, 15, 30, 45]);
        // A period that is not a whole number of ticks: ⌈900 / 120⌉ = 8 turns, 16 minutes.
        let turns: Vec<i64> = (0..32)
            .map(|t| t * 120)
            .filter(|s| sweep_plan(Discovery::Index, at(*s), 120, 900, &one) != SweepPlan::InFlight { in_full: vec![] })
            .collect();
        assert_eq!(turns, [0, 960, 1920, 2880]);
        assert_eq!(schedule_period("rate(1 minute)"), Some(60));
        assert_eq!(schedule_period(" rate(5 minutes) "), Some(300));
        assert_eq!(schedule_period("rate(2 hours)"), Some(7200));
        assert_eq!(schedule_period("rate(1 day)"), Some(86_400));
        for bad in ["rate(1 minutes)", "rate(2 minute)", "rate(0 minutes)", "cron(0/5 * * * ? *)", "rate(5)", ""] {
            assert_eq!(schedule_period(bad), None, "{bad}");
        }
        assert_eq!(Discovery::parse(" Index "), Some(Discovery::Index));
        assert_eq!(Discovery::parse("scan"), Some(Discovery::Scan));
        assert_eq!(Discovery::parse("tags"), None);
    }
}
