//! Function configuration, read once at cold start from environment variables.
//!
//! Parsing is pure: it takes a lookup function, so tests need not touch the process env.

use crate::duration::Seconds;
use crate::filter::TagFilter;
use crate::index::Discovery;
use crate::{AccountId, InputError};

/// Every environment variable a rollgate function reads. The template must set the
/// required ones; `tests/` checks that against template.yaml.
pub mod vars {
    /// Required: comma-separated cluster names or ARNs, e.g. `prod,staging`.
    pub const CLUSTERS: &str = "ROLLGATE_CLUSTERS";
    /// Services handled at once: a whole number from 1 to 64 (default 8).
    pub const MAX_IN_FLIGHT: &str = "ROLLGATE_MAX_IN_FLIGHT";
    /// Attempts per AWS call, the first included, at least 1 (default: the SDK's); read by
    /// `rollgate_aws::AwsOptions::from_env`.
    pub const MAX_ATTEMPTS: &str = "ROLLGATE_MAX_ATTEMPTS";
    /// At most this many AWS requests a second per function instance, retries included, 1 to
    /// 1000 (default 20); read by `rollgate_aws::AwsOptions::from_env`.
    pub const MAX_CALL_RATE: &str = "ROLLGATE_MAX_CALL_RATE";
    /// The EventBridge bus notifications are put on: a name or ARN of 1-1600 characters, as
    /// PutEvents' `EventBusName` takes it (default `default`;
    /// <https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html>).
    pub const EVENT_BUS: &str = "ROLLGATE_EVENT_BUS";
    /// How long a smoke test may take, a duration such as `10s` or `10` (default 10 seconds).
    pub const SMOKE_TIMEOUT: &str = "ROLLGATE_SMOKE_TIMEOUT";
    /// The model-image CodeBuild project's name: required by `model-build` (the project it
    /// starts); optional for the gate (no lineage without it).
    pub const BUILD_PROJECT: &str = "ROLLGATE_BUILD_PROJECT";
    /// Comma-separated 12-digit account ids whose ECR registries may supply images (default none).
    pub const TRUSTED_REGISTRIES: &str = "ROLLGATE_TRUSTED_REGISTRIES";
    /// `model-build`: the bucket of model artifacts (required).
    pub const MODEL_BUCKET: &str = "ROLLGATE_MODEL_BUCKET";
    /// `model-build`: the key prefix of model artifacts (default `models/`).
    pub const MODEL_PREFIX: &str = "ROLLGATE_MODEL_PREFIX";
    /// `model-build`: the file name whose upload starts a build (default `model.tar.gz`).
    pub const MODEL_TRIGGER: &str = "ROLLGATE_MODEL_TRIGGER";
    /// `model-build`: the tracking service's tag filter, `crate::filter::TagFilter` syntax (default `*`).
    pub const TAG_FILTER: &str = "ROLLGATE_TAG_FILTER";
    /// `deploy` and the gate: how the services an event concerns are found, `index` (the
    /// tagging API, the default) or `scan` (every cluster listed on every run;
    /// `crate::index::Discovery`).
    pub const DISCOVERY: &str = "ROLLGATE_DISCOVERY";
    /// The gate: its EventBridge schedule expression, whose `rate(...)` period times the full
    /// sweep's turns (default `rate(1 minute)`; a `cron(...)` only with `ROLLGATE_DISCOVERY=scan`).
    pub const GATE_SCHEDULE: &str = "ROLLGATE_GATE_SCHEDULE";
    /// The gate, with `index` discovery: how often a scheduled run sweeps every service
    /// instead of the rollouts in flight, a duration such as `15m` (default 15 minutes).
    pub const FULL_SWEEP_EVERY: &str = "ROLLGATE_FULL_SWEEP_EVERY";
    /// deploy: the reconciler's EventBridge schedule, a `rate(...)` expression (default
    /// `rate(5 minutes)`); the template passes its `ReconcileSchedule`.
    pub const RECONCILE_SCHEDULE: &str = "ROLLGATE_RECONCILE_SCHEDULE";
    /// deploy: how long one reconciliation of every watched cluster may be spread over, a
    /// duration such as `30m` (default: one schedule period, every cluster on every run).
    pub const RECONCILE_EVERY: &str = "ROLLGATE_RECONCILE_EVERY";
}

/// The account's default event bus, where verdicts and build failures go when
/// `ROLLGATE_EVENT_BUS` is unset.
pub const DEFAULT_EVENT_BUS: &str = "default";

/// Configuration of the `deploy` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployConfig {
    /// Cluster names or ARNs searched for opted-in services.
    pub clusters: Vec<String>,
    /// How many services are updated at once (and clusters listed at once).
    pub max_in_flight: usize,
    /// Accounts (besides each service's own) whose registries may supply images.
    pub trusted_registries: Vec<AccountId>,
    /// How a push finds the services that track its repository.
    pub discovery: Discovery,
    /// How the reconciler spreads its sweep: `ROLLGATE_RECONCILE_SCHEDULE`'s period and
    /// `ROLLGATE_RECONCILE_EVERY` (`crate::index::clusters_in_turn`).
    pub reconcile: crate::index::Turns,
}

impl DeployConfig {
    /// `ROLLGATE_MAX_IN_FLIGHT` when unset.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
    /// The largest `ROLLGATE_MAX_IN_FLIGHT` accepted.
    pub const MAX_MAX_IN_FLIGHT: usize = 64;

    /// Reads the configuration through `get` (an env-var lookup). Errors, named by the variable:
    /// `ROLLGATE_CLUSTERS` unset or invalid, `ROLLGATE_MAX_IN_FLIGHT` outside 1-64, or a
    /// `ROLLGATE_TRUSTED_REGISTRIES` entry that is not 12 digits.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        let raw = get(vars::CLUSTERS).unwrap_or_default();
        let clusters = parse_clusters(&raw, get("AWS_REGION").as_deref())?;
        let trusted_registries = get(vars::TRUSTED_REGISTRIES)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| AccountId::parse(a).map_err(|e| InputError::new(vars::TRUSTED_REGISTRIES, a, e.why)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            clusters,
            max_in_flight: parse_max_in_flight(&get)?,
            trusted_registries,
            discovery: parse_discovery(&get)?,
            reconcile: parse_reconcile(&get)?,
        })
    }

    /// [`DeployConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, InputError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// Configuration of the `health-gate` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateConfig {
    /// Cluster names or ARNs whose services the gate verifies; events from others are ignored.
    pub clusters: Vec<String>,
    /// How many services are evaluated at once on a scheduled run.
    pub max_in_flight: usize,
    /// The EventBridge bus verdicts are published to.
    pub event_bus: String,
    /// How long a smoke test may take.
    pub smoke_timeout: Seconds,
    /// The model-image CodeBuild project, to record which build made a deployed image.
    pub build_project: Option<String>,
    /// How a scheduled run finds the rollouts in flight.
    pub discovery: Discovery,
    /// The gate's schedule period, in seconds (from `ROLLGATE_GATE_SCHEDULE`).
    pub tick_secs: u64,
    /// With `index` discovery, how often a scheduled run sweeps every service.
    pub full_sweep_every: Seconds,
}

impl GateConfig {
    /// The account's default event bus, used when `ROLLGATE_EVENT_BUS` is unset.
    pub const DEFAULT_EVENT_BUS: &'static str = DEFAULT_EVENT_BUS;
    /// `ROLLGATE_SMOKE_TIMEOUT` when unset: 10 seconds.
    pub const DEFAULT_SMOKE_TIMEOUT: Seconds = Seconds(10);
    /// `ROLLGATE_FULL_SWEEP_EVERY` when unset: 15 minutes.
    pub const DEFAULT_FULL_SWEEP_EVERY: Seconds = Seconds(900);

    /// Reads the configuration through `get` (an env-var lookup). Errors, named by the variable:
    /// `ROLLGATE_CLUSTERS` unset or invalid, `ROLLGATE_MAX_IN_FLIGHT` outside 1-64, a blank or
    /// over-1600-character `ROLLGATE_EVENT_BUS`, a `ROLLGATE_SMOKE_TIMEOUT` or
    /// `ROLLGATE_FULL_SWEEP_EVERY` that is no duration (or a sweep period under a minute), a
    /// `ROLLGATE_DISCOVERY` other than `index` or `scan`, or a `ROLLGATE_GATE_SCHEDULE` that
    /// is neither a `rate(...)` nor a `cron(...)` expression.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        let event_bus = parse_event_bus(&get)?;
        let discovery = parse_discovery(&get)?;
        // A cron schedule has no fixed period, so no tick can tell whether a full sweep is due
        // (`index::sweep_plan`): with the index, the gate's schedule must be a rate.
        let tick_secs = match get(vars::GATE_SCHEDULE) {
            None => 60,
            Some(v) if v.trim().starts_with("cron(") && discovery == Discovery::Scan => 60,
            Some(v) => crate::index::schedule_period(&v).ok_or_else(|| {
                InputError::new(
                    vars::GATE_SCHEDULE,
                    v.as_str(),
                    "expected the gate's EventBridge schedule as a rate, e.g. rate(1 minute) or rate(5 minutes) (a cron(...) schedule only with ROLLGATE_DISCOVERY=scan: the full sweep needs a fixed period)",
                )
            })?,
        };
        let full_sweep_every = match get(vars::FULL_SWEEP_EVERY) {
            None => Self::DEFAULT_FULL_SWEEP_EVERY,
            Some(v) => parse_sweep_period(vars::FULL_SWEEP_EVERY, &v)?,
        };
        let smoke_timeout = match get(vars::SMOKE_TIMEOUT) {
            None => Self::DEFAULT_SMOKE_TIMEOUT,
            Some(v) => Seconds::parse(vars::SMOKE_TIMEOUT, &v)?,
        };
        Ok(Self {
            clusters: parse_clusters(&get(vars::CLUSTERS).unwrap_or_default(), get("AWS_REGION").as_deref())?,
            max_in_flight: parse_max_in_flight(&get)?,
            event_bus,
            smoke_timeout,
            build_project: get(vars::BUILD_PROJECT).map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()),
            discovery,
            tick_secs,
            full_sweep_every,
        })
    }

    /// [`GateConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, InputError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Whether a cluster (by name) is one the gate watches.
    pub fn watches_cluster(&self, cluster_name: &str) -> bool {
        self.clusters.iter().any(|c| c == cluster_name || c.rsplit('/').next() == Some(cluster_name))
    }
}

/// Configuration of `model-build` (from its environment).
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The CodeBuild project `rollgate up` provisioned.
    pub project: String,
    /// The bucket model artifacts are uploaded to (its name).
    pub bucket: String,
    /// Artifacts live at `<prefix><model name>/<version>/<trigger file>`.
    pub prefix: String,
    /// The object whose upload starts a build (a model is often many files; one build per version).
    pub trigger_file: String,
    /// The tracking service's tag filter: a derived tag must pass it.
    pub tag_filter: TagFilter,
    /// The EventBridge bus build failures are published to (`ROLLGATE_EVENT_BUS`, as the gate's).
    pub event_bus: String,
}

impl ModelConfig {
    /// The key prefix when `ROLLGATE_MODEL_PREFIX` is unset.
    pub const DEFAULT_PREFIX: &'static str = "models/";
    /// The trigger file when `ROLLGATE_MODEL_TRIGGER` is unset.
    pub const DEFAULT_TRIGGER: &'static str = "model.tar.gz";

    /// Reads the configuration through `get` (an env-var lookup). A non-empty prefix gains a
    /// trailing `/`. Errors, named by the variable: `ROLLGATE_BUILD_PROJECT` or
    /// `ROLLGATE_MODEL_BUCKET` unset or blank, a `ROLLGATE_TAG_FILTER` that does not parse, or a
    /// blank or over-1600-character `ROLLGATE_EVENT_BUS`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        let required = |k: &'static str| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| InputError::new(k, "", "required; set it in the function's environment"))
        };
        let prefix = get(vars::MODEL_PREFIX).unwrap_or_else(|| Self::DEFAULT_PREFIX.to_owned());
        let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix } else { format!("{prefix}/") };
        Ok(Self {
            project: required(vars::BUILD_PROJECT)?,
            bucket: required(vars::MODEL_BUCKET)?,
            prefix,
            trigger_file: get(vars::MODEL_TRIGGER).unwrap_or_else(|| Self::DEFAULT_TRIGGER.to_owned()),
            tag_filter: match get(vars::TAG_FILTER) {
                Some(f) => TagFilter::parse(&f).map_err(|e| InputError::new(vars::TAG_FILTER, f.as_str(), e.why))?,
                None => TagFilter::default(),
            },
            event_bus: parse_event_bus(&get)?,
        })
    }

    /// [`ModelConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, InputError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// `ROLLGATE_EVENT_BUS`: a name or ARN of 1-1600 characters, default [`DEFAULT_EVENT_BUS`].
fn parse_event_bus(get: &impl Fn(&str) -> Option<String>) -> Result<String, InputError> {
    let event_bus = get(vars::EVENT_BUS).map(|b| b.trim().to_owned()).unwrap_or_else(|| DEFAULT_EVENT_BUS.to_owned());
    if event_bus.is_empty() || event_bus.len() > 1600 {
        return Err(InputError::new(vars::EVENT_BUS, event_bus, "an event bus name or ARN"));
    }
    Ok(event_bus)
}

/// `ROLLGATE_RECONCILE_SCHEDULE` (default `rate(5 minutes)`) and `ROLLGATE_RECONCILE_EVERY`
/// (default: the schedule's period, every cluster on every run; at least 1m; when set, the
/// schedule must be set too, as its ticks count the turns). A `cron(...)`
/// schedule has no period, so it takes no `ROLLGATE_RECONCILE_EVERY`.
fn parse_reconcile(get: &impl Fn(&str) -> Option<String>) -> Result<crate::index::Turns, InputError> {
    let schedule = get(vars::RECONCILE_SCHEDULE).filter(|v| !v.trim().is_empty());
    let every = get(vars::RECONCILE_EVERY).filter(|v| !v.trim().is_empty());
    let every_period = every.as_deref().map(|v| parse_sweep_period(vars::RECONCILE_EVERY, v)).transpose()?;
    let tick_secs = match &schedule {
        None if every.is_some() => {
            return Err(InputError::new(
                vars::RECONCILE_SCHEDULE,
                "",
                "set it to the reconciler's schedule, e.g. rate(5 minutes), when ROLLGATE_RECONCILE_EVERY is set: the turns are counted in its ticks, and a wrong period would skip clusters (the template passes ReconcileSchedule)",
            ));
        }
        None => crate::index::Turns::default().tick_secs,
        Some(v) if v.trim().starts_with("cron(") && every.is_none() => return Ok(crate::index::Turns::default()),
        Some(v) => crate::index::schedule_period(v).ok_or_else(|| {
            InputError::new(
                vars::RECONCILE_SCHEDULE,
                v.as_str(),
                "expected the reconciler's EventBridge schedule as a rate, e.g. rate(5 minutes) (a cron(...) schedule only without ROLLGATE_RECONCILE_EVERY: spreading the sweep needs a fixed period)",
            )
        })?,
    };
    let every_secs = every_period.map_or(tick_secs, |p| p.0);
    Ok(crate::index::Turns { tick_secs, every_secs })
}

/// A period a sweep is spread over (`ROLLGATE_FULL_SWEEP_EVERY`, `ROLLGATE_RECONCILE_EVERY`): a
/// duration of at least a minute, as EventBridge schedules tick at most once a minute.
fn parse_sweep_period(var: &'static str, value: &str) -> Result<Seconds, InputError> {
    let every = Seconds::parse(var, value)?;
    if every.0 < 60 {
        return Err(InputError::new(var, value, "at least 1m (EventBridge schedules tick at most once a minute)"));
    }
    Ok(every)
}

/// `ROLLGATE_MAX_IN_FLIGHT`: 1 to 64, default 8.
fn parse_max_in_flight(get: &impl Fn(&str) -> Option<String>) -> Result<usize, InputError> {
    let Some(v) = get(vars::MAX_IN_FLIGHT) else {
        return Ok(DeployConfig::DEFAULT_MAX_IN_FLIGHT);
    };
    v.trim().parse::<usize>().ok().filter(|n| (1..=DeployConfig::MAX_MAX_IN_FLIGHT).contains(n)).ok_or_else(|| {
        InputError::new(
            vars::MAX_IN_FLIGHT,
            v.as_str(),
            format!("must be a whole number from 1 to {}", DeployConfig::MAX_MAX_IN_FLIGHT),
        )
    })
}

/// `ROLLGATE_DISCOVERY`: `index` (default) or `scan`.
fn parse_discovery(get: &impl Fn(&str) -> Option<String>) -> Result<Discovery, InputError> {
    match get(vars::DISCOVERY) {
        None => Ok(Discovery::default()),
        Some(v) => Discovery::parse(&v).ok_or_else(|| {
            InputError::new(vars::DISCOVERY, v.as_str(), "must be index (the tagging API) or scan (list every cluster)")
        }),
    }
}

/// `ROLLGATE_CLUSTERS`: comma-separated cluster names (`[A-Za-z0-9_-]{1,255}`) or cluster ARNs
/// (`arn:<partition>:ecs:<region>:<12-digit account>:cluster/<name>`), in the order given,
/// repeats of the same string dropped. `region`: the function's (`AWS_REGION`), when known: a
/// function reads the clusters of its own region only, so an ARN in another region is refused.
///
/// Errors, naming the variable: an entry that is neither (`cluster/prod`, an ARN without an
/// account), one cluster named twice in different spellings (`prod` and its ARN: every full
/// listing would read it twice, and deploy or judge its services twice), or none at all.
pub fn parse_clusters(raw: &str, region: Option<&str>) -> Result<Vec<String>, InputError> {
    let bad = |why: &str| InputError::new(vars::CLUSTERS, raw, why.to_owned());
    let valid_name = |name: &str| {
        !name.is_empty()
            && name.len() <= 255
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut clusters: Vec<String> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = match item.strip_prefix("arn:") {
            None if valid_name(item) => item,
            None => return Err(bad(&format!("{item:?} is not a cluster name or cluster ARN"))),
            Some(rest) => {
                let parts: Vec<&str> = rest.splitn(5, ':').collect();
                let name = match parts.as_slice() {
                    [partition, "ecs", arn_region, account, resource]
                        if !partition.is_empty()
                            && !arn_region.is_empty()
                            && account.len() == 12
                            && account.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        resource.strip_prefix("cluster/").filter(|n| valid_name(n))
                    }
                    _ => None,
                };
                let Some(name) = name else {
                    return Err(bad(&format!(
                        "{item:?} is not a cluster name or a cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>)"
                    )));
                };
                if let Some(region) = region.filter(|r| !r.is_empty())
                    && parts[2] != region
                {
                    return Err(bad(&format!(
                        "{item:?} is in region {}, but the function runs in {region} and reads its own region's clusters only; deploy a stack per region",
                        parts[2]
                    )));
                }
                name
            }
        };
        if clusters.iter().any(|c| c == item) {
            continue;
        }
        if let Some(other) = clusters.iter().find(|c| crate::index::cluster_name(c) == name) {
            return Err(bad(&format!("cluster {name} is listed twice, as {other:?} and {item:?}; list it once")));
        }
        clusters.push(item.to_owned());
    }
    if clusters.is_empty() {
        return Err(bad("set it to the comma-separated ECS clusters to watch, e.g. prod,staging"));
    }
    Ok(clusters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<DeployConfig, InputError> {
        DeployConfig::from_lookup(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn table() {
        let ok =
            cfg(&[(vars::CLUSTERS, " prod, staging ,prod,arn:aws:ecs:us-east-1:123456789012:cluster/gpu")]).unwrap();
        assert_eq!(ok.clusters, ["prod", "staging", "arn:aws:ecs:us-east-1:123456789012:cluster/gpu"]);
        assert_eq!(ok.max_in_flight, DeployConfig::DEFAULT_MAX_IN_FLIGHT);
        assert_eq!(cfg(&[(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "3")]).unwrap().max_in_flight, 3);
        let trusted = cfg(&[(vars::CLUSTERS, "a"), (vars::TRUSTED_REGISTRIES, "111111111111, 222222222222")]).unwrap();
        assert_eq!(trusted.trusted_registries.len(), 2);
        assert!(cfg(&[(vars::CLUSTERS, "a"), (vars::TRUSTED_REGISTRIES, "central")]).is_err());
        assert_eq!(ok.discovery, Discovery::Index);
        assert_eq!(cfg(&[(vars::CLUSTERS, "a"), (vars::DISCOVERY, "SCAN")]).unwrap().discovery, Discovery::Scan);
        assert_eq!(cfg(&[(vars::CLUSTERS, "a"), (vars::DISCOVERY, "all")]).unwrap_err().what, vars::DISCOVERY);
        use crate::index::Turns;
        assert_eq!(ok.reconcile, Turns { tick_secs: 300, every_secs: 300 }, "every cluster on every run");
        let spread = cfg(&[
            (vars::CLUSTERS, "a"),
            (vars::RECONCILE_SCHEDULE, "rate(5 minutes)"),
            (vars::RECONCILE_EVERY, "30m"),
        ]);
        assert_eq!(spread.unwrap().reconcile, Turns { tick_secs: 300, every_secs: 1800 });
        let empty =
            cfg(&[(vars::CLUSTERS, "a"), (vars::RECONCILE_SCHEDULE, "rate(10 minutes)"), (vars::RECONCILE_EVERY, "")]);
        assert_eq!(empty.unwrap().reconcile.parts(), 1, "the template's empty default");
        let cron = cfg(&[(vars::CLUSTERS, "a"), (vars::RECONCILE_SCHEDULE, "cron(0/5 * * * ? *)")]);
        assert_eq!(cron.unwrap().reconcile.parts(), 1);
        for (var, bad, every) in [
            (vars::RECONCILE_SCHEDULE, "cron(0/5 * * * ? *)", "30m"),
            (vars::RECONCILE_SCHEDULE, "every 5 minutes", "30m"),
            (vars::RECONCILE_EVERY, "rate(5 minutes)", "30s"),
            (vars::RECONCILE_EVERY, "rate(5 minutes)", "half an hour"),
            (vars::RECONCILE_SCHEDULE, "", "30m"),
        ] {
            let got = cfg(&[(vars::CLUSTERS, "a"), (vars::RECONCILE_SCHEDULE, bad), (vars::RECONCILE_EVERY, every)]);
            assert_eq!(got.unwrap_err().what, var, "{bad} {every}");
        }
        // One cluster in two spellings would be listed, deployed and judged twice.
        let twice = cfg(&[(vars::CLUSTERS, "prod,arn:aws:ecs:us-east-1:123456789012:cluster/prod")]).unwrap_err();
        assert!(twice.why.contains("listed twice"), "{twice}");
        let region = [(vars::CLUSTERS, "arn:aws:ecs:eu-west-1:123456789012:cluster/gpu"), ("AWS_REGION", "us-east-1")];
        assert!(cfg(&region).unwrap_err().why.contains("eu-west-1"));
        let same = [(vars::CLUSTERS, "arn:aws:ecs:us-east-1:123456789012:cluster/gpu"), ("AWS_REGION", "us-east-1")];
        assert_eq!(cfg(&same).unwrap().clusters.len(), 1);
        for bad in [
            vec![],
            vec![(vars::CLUSTERS, " , ")],
            vec![(vars::CLUSTERS, "has space")],
            vec![(vars::CLUSTERS, "cluster/prod")],
            vec![(vars::CLUSTERS, "arn:aws:ecs:us-east-1::cluster/prod")],
            vec![(vars::CLUSTERS, "arn:aws:ecs:us-east-1:123456789012:prod")],
            vec![(vars::CLUSTERS, "arn:aws:ecs:us-east-1:123456789012:cluster/")],
            vec![(vars::CLUSTERS, "arn:aws:ecs:us-east-1:123456789012:service/x/y")],
            vec![(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "0")],
            vec![(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "many")],
            vec![(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "1000")],
        ] {
            assert!(cfg(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gate_config() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let c =
            GateConfig::from_lookup(get(&[(vars::CLUSTERS, "prod,arn:aws:ecs:us-east-1:123456789012:cluster/gpu")]))
                .unwrap();
        assert_eq!((c.event_bus.as_str(), c.smoke_timeout), ("default", Seconds(10)));
        assert!(c.watches_cluster("prod") && c.watches_cluster("gpu") && !c.watches_cluster("dev"));
        let c = GateConfig::from_lookup(get(&[
            (vars::CLUSTERS, "a"),
            (vars::EVENT_BUS, "rollgate"),
            (vars::SMOKE_TIMEOUT, "3s"),
        ]))
        .unwrap();
        assert_eq!((c.event_bus.as_str(), c.smoke_timeout), ("rollgate", Seconds(3)));
        assert!(GateConfig::from_lookup(get(&[(vars::CLUSTERS, "a"), (vars::SMOKE_TIMEOUT, "x")])).is_err());
        assert!(GateConfig::from_lookup(get(&[(vars::CLUSTERS, "a"), (vars::EVENT_BUS, " ")])).is_err());
        assert!(GateConfig::from_lookup(get(&[])).is_err());
        let c = GateConfig::from_lookup(get(&[(vars::CLUSTERS, "a")])).unwrap();
        assert_eq!((c.discovery, c.tick_secs, c.full_sweep_every), (Discovery::Index, 60, Seconds(900)));
        let c = GateConfig::from_lookup(get(&[
            (vars::CLUSTERS, "a"),
            (vars::DISCOVERY, "scan"),
            (vars::GATE_SCHEDULE, "rate(5 minutes)"),
            (vars::FULL_SWEEP_EVERY, "1h"),
        ]))
        .unwrap();
        assert_eq!((c.discovery, c.tick_secs, c.full_sweep_every), (Discovery::Scan, 300, Seconds(3600)));
        let cron = GateConfig::from_lookup(get(&[(vars::CLUSTERS, "a"), (vars::GATE_SCHEDULE, "cron(0/5 * * * ? *)")]));
        assert_eq!(cron.unwrap_err().what, vars::GATE_SCHEDULE, "no full sweep could ever be due");
        let cron = GateConfig::from_lookup(get(&[
            (vars::CLUSTERS, "a"),
            (vars::DISCOVERY, "scan"),
            (vars::GATE_SCHEDULE, "cron(0/5 * * * ? *)"),
        ]));
        assert_eq!(cron.unwrap().tick_secs, 60, "every run sweeps everything anyway");
        for (var, bad) in [
            (vars::DISCOVERY, "tags"),
            (vars::GATE_SCHEDULE, "every minute"),
            (vars::FULL_SWEEP_EVERY, "30s"),
            (vars::FULL_SWEEP_EVERY, "soon"),
        ] {
            let pairs: &'static [(&str, &str)] = Box::leak(Box::new([(vars::CLUSTERS, "a"), (var, bad)]));
            assert_eq!(GateConfig::from_lookup(get(pairs)).unwrap_err().what, var, "{bad}");
        }
    }

    #[test]
    fn model_config() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        const BASE: [(&str, &str); 2] = [(vars::BUILD_PROJECT, "app-image-build"), (vars::MODEL_BUCKET, "models")];
        let c = ModelConfig::from_lookup(get(&BASE)).unwrap();
        assert_eq!(
            (c.event_bus.as_str(), c.prefix.as_str(), c.trigger_file.as_str()),
            ("default", "models/", "model.tar.gz")
        );
        let c = ModelConfig::from_lookup(get(&[
            BASE[0],
            BASE[1],
            (vars::EVENT_BUS, "rollgate"),
            (vars::MODEL_PREFIX, "m"),
        ]))
        .unwrap();
        assert_eq!((c.event_bus.as_str(), c.prefix.as_str()), ("rollgate", "m/"));
        // The bus is checked as the gate's is: a blank or over-long one is refused at cold start.
        let long: &'static str = Box::leak("b".repeat(1601).into_boxed_str());
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([BASE[0], BASE[1], (vars::EVENT_BUS, long)]));
        assert_eq!(ModelConfig::from_lookup(get(pairs)).unwrap_err().what, vars::EVENT_BUS);
        assert!(ModelConfig::from_lookup(get(&[BASE[0], BASE[1], (vars::EVENT_BUS, " ")])).is_err());
        assert!(ModelConfig::from_lookup(get(&[BASE[0]])).is_err(), "the bucket is required");
    }
}
