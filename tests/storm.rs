//! A seeded, reproducible storm: 1000 events of every kind, with 20% of the functions' AWS
//! calls faulted by the proxy, and rollgate's invariants checked through boto3 after each step.
//! Figures (events, faults, violations) are printed and recorded in docs/reliability.md.
//!
//! Its own test binary, so it runs alone (cargo runs test binaries one after another): its own
//! emulator and proxy, no other test's load, and no other test's use of the SDK's retry quota.
//!
//! Reproducible: the same seed gives the same events, the same AWS calls in the same order and
//! the same faults on them, every run. What makes it so:
//! * a logical clock: step `i` happens at `t0 + i` seconds (event times, ECR's push times),
//!   and the emulator's clock is set to it (what ECS and CloudWatch record), so no two pushes
//!   share a second and no decision depends on how fast the machine is;
//! * every invocation's fan-out runs one service at a time, so the proxy's seeded draws meet
//!   the calls in one order;
//! * moto's own random ids are seeded;
//! * the rollout deadline is a day, so no rollout is ever overdue.
//!
//! The run prints a fingerprint of the fault sequence; two runs of one seed print the same.
//! `ROLLGATE_STORM_CALLS=<file>` writes each step's calls and faults to a file, to find where
//! two runs part.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rollgate_aws::AwsOptions;
use rollgate_aws::cloudwatch::CloudWatch;
use rollgate_aws::codebuild::CodeBuild;
use rollgate_aws::ecr::Ecr;
use rollgate_aws::ecs::Ecs;
use rollgate_aws::eventbridge::EventBridge;
use rollgate_aws::probe::HttpProbe;
use rollgate_core::ImageTag;
use rollgate_core::config::{DeployConfig, GateConfig};
use rollgate_core::duration::Seconds;
use rollgate_core::filter::TagFilter;
use serde_json::{Value, json};
use support::faults::faults;
use support::fixtures::fixture_json;
use support::{Scenario, ServiceSpec};

const EVENTS: usize = 1000;
const FULL_CHECK_EVERY: usize = 50;
const SEED: u64 = 0x5eed_2026;
/// How far the tagging index lags behind ECS, in the storm's seconds (steps): the emulator
/// answers GetResources as of this long ago (tests/emulator/tagging_ext.py).
const INDEX_LAG: usize = 20;

/// A service a person opted out of rollgate (step 98): when, what it ran, and the newest
/// revision of its family then (invariant 13).
struct OptOut {
    step: usize,
    live: String,
    newest: u32,
}

/// The revision number of a task-definition ARN (`…:<family>:<n>`).
fn revision_number(arn: &str) -> u32 {
    arn.rsplit(':').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Svc {
    name: &'static str,
    cluster: String,
    repo: String,
    filter: &'static str,
    arn: String,
    base: String,
}

/// What the check last read of a revision's ledger.
struct Ledger {
    digest: Option<String>,
    service: Option<String>,
    state: Option<String>,
    reason: Option<String>,
    /// `config` for a configuration change's revision (`rollgate up`); none for a push's.
    cause: Option<String>,
    /// When its verdict was reached (`rollgate:decided-at`): for a rollback, when it started.
    decided_at: Option<String>,
    /// The revision it copies (`rollgate:copy-of`: the gate's copy of a deregistered target).
    copy_of: Option<String>,
    /// `<desired>@<time>`: when the gate first saw the count short after the bake
    /// (`rollgate:short-since`).
    short_since: Option<String>,
    /// A revision rollgate did not roll out to the service (a person's hand revision): its
    /// state and time come from the service's `rollgate:outside` record, read and parsed
    /// here, not through rollgate's code.
    outside: bool,
}

/// States of a failed rollout whose rollback started (by rollgate or ECS's circuit breaker).
const ROLLBACK_STATES: [&str; 3] = ["rolling-back", "rolled-back", "rollback-failed"];

/// States that record a failed rollout.
fn failed_state(state: Option<&str>) -> bool {
    matches!(state, Some("failed")) || state.is_some_and(|s| ROLLBACK_STATES.contains(&s))
}

struct Push {
    repo: String,
    digest: String,
    tag: String,
    /// A release the services can run: not a signature, not an untagged push, not an image
    /// for another platform (the services' tasks run on linux/amd64).
    release: bool,
    /// The event's time (seconds), as EventBridge sends it.
    time: String,
    event: String,
}

struct Storm {
    s: Scenario,
    services: Vec<Svc>,
    clusters: Vec<String>,
    pushes: Vec<Push>,
    /// Pushes whose every invocation failed (dead-lettered), or that had no event at all:
    /// the reconciler owes them.
    owed: BTreeSet<String>,
    alarm: String,
    clock: Clock,
    /// Per service: its active revisions' ledgers, as the check last read them.
    ledgers: Vec<BTreeMap<String, Ledger>>,
    /// Per service: the revision live at the previous check.
    previous_live: Vec<Option<String>>,
    /// deploy's clients (its own key and policy).
    sdk: aws_config::SdkConfig,
    /// health-gate's clients.
    gate_sdk: aws_config::SdkConfig,
    stats: BTreeMap<&'static str, usize>,
    violations: Vec<String>,
    /// A gate invocation was dead-lettered and no gate run succeeded since: invariants 1 and 2
    /// hold "once the gate has run".
    gate_owed: bool,
    /// Per revision: when its rollback started, as first seen (invariant 8).
    rollbacks: BTreeMap<String, String>,
    /// Revisions seen `rollback-failed` (invariant 8: left for a person, never changed).
    rollback_failed: BTreeSet<String>,
    /// Revisions a person registered by hand and deployed (step 97).
    hand: BTreeSet<String>,
    /// Revisions the gate saw short of their desired count after the bake.
    seen_short: BTreeSet<String>,
    /// Revisions ECS ran or listed on their service at some check, and, for those it no longer
    /// does, the step it was first seen neither running nor listing them (invariant 11).
    ever_listed: BTreeSet<String>,
    unlisted_since: BTreeMap<String, usize>,
    /// The step of the last scheduled gate run that succeeded (invariant 11).
    last_sweep: Option<usize>,
    /// Services whose failure event never reached the gate, with the step it happened, until a
    /// gate run for them, or a scheduled one whose index shows the failed rollout (the failure
    /// at least `INDEX_LAG` steps before it), succeeds: invariants 1 and 2 hold "once the gate
    /// has run".
    unseen_failure: BTreeMap<usize, usize>,
    /// Services opted out (step 98), until they opt back in.
    opted_out: BTreeMap<usize, OptOut>,
    /// Per service: the step it last opted back in.
    reopted_at: BTreeMap<usize, usize>,
    /// The queue that receives every notification on the default bus, and what it received:
    /// revision -> detail-types (invariant 9).
    queue: String,
    published: BTreeMap<String, Vec<String>>,
}

/// The storm's logical clock: step `i` happens at `t0 + i` seconds.
#[derive(Clone, Copy)]
struct Clock {
    t0: DateTime<Utc>,
}

impl Clock {
    fn start() -> Self {
        // Whole seconds, as EventBridge's event times and moto's push times are.
        let now = Utc::now().timestamp();
        Self { t0: DateTime::from_timestamp(now, 0).unwrap_or_default() }
    }
    fn at(self, step: usize) -> DateTime<Utc> {
        self.t0 + TimeDelta::seconds(step as i64)
    }
    fn text(self, step: usize) -> String {
        self.at(step).to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

impl Storm {
    async fn new(seed: u64) -> Self {
        let s = Scenario::new("storm");
        // moto's own ids (deployments, VPCs) from a seed too.
        s.em.seed(seed);
        // ECS's and CloudWatch's timestamps follow the logical clock: the set-up a minute
        // before step 0, each step at its own second (`step`).
        let clock = Clock::start();
        s.em.set_clock(Some(clock.t0.timestamp() - 60));
        let clusters = vec![s.cluster("a"), s.cluster("b")];
        let repos = [s.repository("alpha"), s.repository("beta")];
        // The tagging index answers as of INDEX_LAG seconds ago: a push finds a service that
        // opted in only then, and a gate tick a rollout registered only then.
        s.em.set_tagging_lag(INDEX_LAG as u64);
        let alarm = format!("{}-beta-5xx", s.name);
        s.boto(
            "cloudwatch",
            "put_metric_alarm",
            json!({"AlarmName": alarm, "MetricName": "5xx", "Namespace": "rollgate/storm", "Statistic": "Sum",
                   "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}),
        );
        let specs: [(&str, usize, usize, &str); 4] =
            [("one", 0, 0, "v*"), ("two", 1, 0, "semver:^1"), ("three", 0, 1, "*"), ("four", 1, 1, "v*")];
        let mut services = Vec::new();
        for (name, cluster, repo, filter) in specs {
            let base = s.model_task_definition(name, &repos[repo]);
            let mut tags = vec![
                ("rollgate:repository", repos[repo].clone()),
                // As `rollgate track` writes it: `v*` is outside the tag alphabet.
                ("rollgate:tag-filter", rollgate_core::tags::encode("rollgate:tag-filter", filter).unwrap()),
                ("rollgate:bake", "0".to_owned()),
                // A day: no rollout of the storm is ever overdue.
                ("rollgate:deadline", "1d".to_owned()),
            ];
            if name == "four" {
                tags.push(("rollgate:alarms", alarm.clone()));
            }
            let arn = s.service(ServiceSpec { cluster: &clusters[cluster], name, task_definition: &base, tags });
            services.push(Svc {
                name,
                cluster: clusters[cluster].clone(),
                repo: repos[repo].clone(),
                filter,
                arn,
                base,
            });
        }
        // 20% of the functions' calls faulted; boto3's checks are not. Each function signs
        // with its own key, under its template policy (support::iam); each key draws its
        // faults from its own seeded stream.
        let mut sdks = Vec::new();
        for (i, function) in ["deploy", "health-gate"].into_iter().enumerate() {
            faults().configure(
                &s.function_key(function),
                // Throttling comes single and in bursts (ECS's token bucket drained: 8 calls in a
                // row refused).
                json!({"seed": seed.wrapping_add(i as u64), "default": {"throttle": 0.08, "http500": 0.03, "http503": 0.03, "reset": 0.03, "reset_after": 0.03, "throttle_burst": 0.004, "burst_length": 8}}),
            );
            let options = AwsOptions {
                endpoint_url: Some(faults().url.clone()),
                max_attempts: Some(3),
                ..s.function_options(function)
            };
            sdks.push(options.load().await);
        }
        let gate_sdk = sdks.pop().expect("two sdks");
        let sdk = sdks.pop().expect("two sdks");
        let n = services.len();
        // Every verdict rollgate publishes, kept for invariant 9.
        let queue = s.event_queue("verdicts", &json!({"source": ["rollgate"]}));
        Self {
            s,
            services,
            clusters,
            pushes: vec![],
            owed: BTreeSet::new(),
            alarm,
            clock,
            ledgers: (0..n).map(|_| BTreeMap::new()).collect(),
            previous_live: vec![None; n],
            sdk,
            gate_sdk,
            stats: BTreeMap::new(),
            violations: vec![],
            gate_owed: false,
            rollbacks: BTreeMap::new(),
            rollback_failed: BTreeSet::new(),
            hand: BTreeSet::new(),
            seen_short: BTreeSet::new(),
            ever_listed: BTreeSet::new(),
            unlisted_since: BTreeMap::new(),
            last_sweep: None,
            unseen_failure: BTreeMap::new(),
            opted_out: BTreeMap::new(),
            reopted_at: BTreeMap::new(),
            queue,
            published: BTreeMap::new(),
        }
    }

    /// Moves what the queue received into `published`.
    fn drain_notifications(&mut self) {
        for e in self.s.drain_queue(&self.queue) {
            let revision = e["detail"]["revision"].as_str().unwrap_or_default().to_owned();
            let kind = e["detail-type"].as_str().unwrap_or_default().to_owned();
            self.published.entry(revision).or_default().push(kind);
        }
    }

    fn count(&mut self, what: &'static str) {
        *self.stats.entry(what).or_default() += 1;
    }

    /// Like Lambda's async invocation: up to three attempts while the answer is Retryable.
    async fn deploy(&mut self, raw: &str, schedule: bool) -> bool {
        let aws = rollgate_aws::Aws::new().with_ecs(Ecs::new(&self.sdk)).with_ecr(Ecr::new(&self.sdk));
        // One service at a time: the proxy's seeded draws meet the calls in one order.
        let config = DeployConfig {
            clusters: self.clusters.clone(),
            max_in_flight: 1,
            trusted_registries: vec![],
            discovery: Default::default(),
            reconcile: Default::default(),
        };
        for _ in 0..3 {
            let result = if schedule {
                deploy::handler::reconcile(&aws, &config, raw).await
            } else {
                deploy::handler::handle(&aws, &config, raw).await
            };
            match result {
                Ok(report) if !report.needs_retry() => return true,
                Err(e) if e.class == rollgate_core::ErrorClass::NonRetryable => return true,
                _ => self.count("lambda retries"),
            }
        }
        self.count("dead-lettered invocations");
        false
    }

    /// Autoscaling moves the desired count (UpdateService desiredCount, as Application Auto
    /// Scaling calls it; new tasks start only at the next COMPLETED step), and the gate's
    /// schedule looks at the service before the new tasks run: a count short of the new
    /// desired count is "not yet healthy", never a failure on its own (invariant 10).
    async fn scale(&mut self, svc_index: usize, desired: usize, i: usize) {
        let svc = &self.services[svc_index];
        self.s.boto(
            "ecs",
            "update_service",
            json!({"cluster": svc.cluster, "service": svc.name, "desiredCount": desired}),
        );
        self.count("desired-count changes");
        let mut tick = fixture_json("scheduled-tick.json");
        tick["id"] = json!(format!("{}-scaled-{i}", self.s.name));
        tick["time"] = json!(self.clock.text(i));
        self.gate(&tick).await;
    }

    async fn gate(&mut self, event: &Value) -> bool {
        let clients = rollgate_aws::Aws {
            ecs: Ecs::new(&self.gate_sdk),
            cloudwatch: CloudWatch::new(&self.gate_sdk),
            events: EventBridge::new(&self.gate_sdk, "default"),
            probe: HttpProbe::new(std::time::Duration::from_secs(1)).unwrap(),
            builds: CodeBuild::new(&self.gate_sdk),
            ecr: Ecr::new(&self.gate_sdk),
        };
        let config = GateConfig {
            clusters: self.clusters.clone(),
            max_in_flight: 1,
            event_bus: "default".into(),
            smoke_timeout: Seconds(1),
            build_project: None,
            discovery: Default::default(),
            tick_secs: 60,
            full_sweep_every: rollgate_core::duration::Seconds(900),
        };
        for _ in 0..3 {
            let result = health_gate::handler::handle(&clients, &config, &event.to_string()).await;
            if let Ok(report) = &result {
                for r in &report.rollouts {
                    match r.verdict.as_str() {
                        "rollback-failed" => self.count("rollbacks that failed or could not be made"),
                        "rolled-back" => self.count("rollbacks settled"),
                        _ => {}
                    }
                }
            }
            match result {
                Ok(report) if !report.needs_retry() => {
                    self.gate_owed = false;
                    return true;
                }
                Err(e) if e.class == rollgate_core::ErrorClass::NonRetryable => return true,
                _ => self.count("lambda retries"),
            }
        }
        self.gate_owed = true;
        self.count("dead-lettered invocations");
        false
    }

    /// Step 98: opts the service out when it is idle (its live revision settled, one
    /// deployment, no rollout of it in flight or rolling back, no rollback or outside revision
    /// being followed), or back in; an opt-in makes
    /// every push of its repository since the opt-out owed to the reconciler.
    fn toggle_opt_in(&mut self, index: usize, step: usize) {
        let svc = &self.services[index];
        if let Some(out) = self.opted_out.remove(&index) {
            self.s.boto(
                "ecs",
                "tag_resource",
                json!({"resourceArn": svc.arn, "tags": [{"key": "rollgate:repository", "value": svc.repo}]}),
            );
            let since = self.clock.text(out.step);
            let missed: Vec<String> = self
                .pushes
                .iter()
                .filter(|p| p.repo == svc.repo && p.time >= since)
                .map(|p| p.digest.clone())
                .collect();
            self.owed.extend(missed);
            self.reopted_at.insert(index, step);
            self.count("services opted back in");
            return;
        }
        let view = self.service_view(svc);
        let live = view["taskDefinition"].as_str().unwrap().to_owned();
        let state =
            self.s.describe_task_definition(&live).1.get("rollgate:state").and_then(Value::as_str).map(str::to_owned);
        let service_tags: BTreeSet<String> = view["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["key"].as_str().map(str::to_owned))
            .collect();
        let outside_unsettled = view["tags"].as_array().into_iter().flatten().any(|t| {
            t["key"] == "rollgate:outside"
                && t["value"].as_str().is_some_and(|v| {
                    ["deploying@", "verifying@", "baking@", "rolling-back@"].iter().any(|s| v.starts_with(s))
                })
        });
        // No rollout of the service still in flight anywhere (one ECS dropped and the gate follows
        // from ECS's history included): the person opts out a service at rest.
        let rollout_in_flight = self.ledgers[index].values().any(|e| {
            e.service.as_deref() == Some(svc.arn.as_str())
                && matches!(e.state.as_deref(), Some("deploying" | "verifying" | "baking" | "rolling-back"))
        });
        let idle = view["deployments"].as_array().is_some_and(|d| d.len() == 1)
            && !rollout_in_flight
            && !matches!(state.as_deref(), Some("deploying" | "verifying" | "baking" | "rolling-back"))
            && !service_tags.contains("rollgate:rollback")
            && !outside_unsettled
            && !self.unseen_failure.contains_key(&index)
            && !self.gate_owed;
        if !idle {
            self.count("opt-outs put off (a rollout in flight)");
            return;
        }
        let family = format!("{}-{}", self.s.name, svc.name);
        let newest = ["ACTIVE", "INACTIVE"]
            .iter()
            .flat_map(|status| {
                let listed =
                    self.s.boto("ecs", "list_task_definitions", json!({"familyPrefix": family, "status": status}));
                listed["taskDefinitionArns"].as_array().cloned().unwrap_or_default()
            })
            .filter_map(|a| a.as_str().map(revision_number))
            .max()
            .unwrap_or(0);
        self.s.boto("ecs", "untag_resource", json!({"resourceArn": svc.arn, "tagKeys": ["rollgate:repository"]}));
        self.opted_out.insert(index, OptOut { step, live, newest });
        self.count("services opted out");
    }

    fn service_view(&self, svc: &Svc) -> Value {
        self.s.describe_service(&svc.cluster, svc.name)
    }

    /// The service's `rollgate:last-good`, as AWS describes it now.
    fn last_good(&self, svc: &Svc) -> Option<String> {
        self.service_view(svc)["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["key"] == "rollgate:last-good")
            .and_then(|t| t["value"].as_str().map(str::to_owned))
    }

    fn deployment_event(&self, svc: &Svc, name: &str, step: usize) -> Option<Value> {
        let view = self.service_view(svc);
        let live = view["taskDefinition"].clone();
        let deployment = view["deployments"].as_array()?.iter().find(|d| d["taskDefinition"] == live)?;
        let id = format!("{}-{}", self.s.name, self.pushes.len());
        Some(self.s.deployment_event(&id, name, &svc.arn, &deployment["id"], &self.clock.text(step)))
    }

    async fn step(&mut self, rng: &mut Rng, i: usize) {
        self.s.em.set_clock(Some(self.clock.at(i).timestamp()));
        let roll = rng.below(100);
        let svc_index = rng.below(self.services.len());
        // An opted-out service is no longer rollgate's: the storm's ECS steps leave it alone, so
        // that invariant 13 can hold it to "nothing changed".
        if matches!(roll, 60..=84 | 95..=97) && self.opted_out.contains_key(&svc_index) {
            self.count("steps on an opted-out service skipped");
            return;
        }
        match roll {
            // A push with its event; or (5%) a push whose event ECR never sent. One in ten pushes is
            // not a release: a signature of an earlier image, an untagged push, or an image for
            // another platform (invariant 7).
            0..=34 => {
                let repo = self.services[svc_index].repo.clone();
                let mut tag = match rng.below(4) {
                    0 => format!("v1.{}.0", i),
                    1 => format!("v2.{}.0", i),
                    2 => "latest".to_owned(),
                    _ => format!("dev-{i}"),
                };
                let kind = rng.below(30);
                let subject = self.pushes.iter().rev().find(|p| p.repo == repo).map(|p| p.digest.clone());
                let (digest, release) = match (kind, subject) {
                    (0, Some(subject)) => {
                        tag = String::new();
                        (self.s.push_artifact(&repo, "application/vnd.cncf.notary.signature", &subject), false)
                    }
                    (1, _) => {
                        tag = String::new();
                        (self.s.push_image_for(&repo, None, "linux", "amd64"), false)
                    }
                    (2, _) => (self.s.push_image_for(&repo, Some(&tag), "linux", "arm64"), false),
                    _ => (self.s.push_image(&repo, &tag), true),
                };
                // ECR's push time is the step's too, so the reconciler sees the same order.
                self.s.em.set_pushed_at(&repo, &digest, self.clock.at(i).timestamp());
                let time = self.clock.text(i);
                let mut event: Value = serde_json::from_str(&self.s.push_event(&repo, &digest, &tag, &time)).unwrap();
                if kind == 0 {
                    event["detail"]["manifest-media-type"] = json!("application/vnd.oci.image.manifest.v1+json");
                    event["detail"]["artifact-media-type"] = json!("application/vnd.cncf.notary.signature");
                }
                let event = event.to_string();
                // A service that opted back in less than INDEX_LAG ago is not in the index yet:
                // the reconciler owes it this push.
                let unindexed = self.services.iter().enumerate().any(|(k, s)| {
                    s.repo == repo && self.reopted_at.get(&k).is_some_and(|at| i.saturating_sub(*at) <= INDEX_LAG)
                });
                if release && unindexed {
                    self.owed.insert(digest.clone());
                }
                self.pushes.push(Push { repo, digest: digest.clone(), tag, release, time, event: event.clone() });
                if !release {
                    self.count("pushes that are not releases");
                    self.deploy(&event, false).await;
                } else if roll < 30 {
                    self.count("pushes");
                    if !self.deploy(&event, false).await {
                        self.owed.insert(digest);
                    }
                } else {
                    self.count("missed pushes (no event)");
                    self.owed.insert(digest);
                }
            }
            // Duplicates and late, out-of-order redeliveries of earlier pushes.
            35..=49 if !self.pushes.is_empty() => {
                let event = self.pushes[rng.below(self.pushes.len())].event.clone();
                self.count("redeliveries");
                self.deploy(&event, false).await;
            }
            50..=59 => {
                let mut event: Value = match self.pushes.last() {
                    Some(p) => serde_json::from_str(&p.event).unwrap(),
                    None => fixture_json("ecr-push.json"),
                };
                event["detail"]["image-digest"] = json!("sha256:broken");
                self.count("malformed events");
                self.deploy(&event.to_string(), false).await;
            }
            60..=69 => {
                let svc = &self.services[svc_index];
                self.s.em.force_rollout(json!({"cluster": svc.cluster, "service": svc.name, "state": "COMPLETED"}));
                if let Some(e) = self.deployment_event(&self.services[svc_index], "SERVICE_DEPLOYMENT_COMPLETED", i) {
                    self.count("deployments completed");
                    // Autoscaling meets the new deployment's load before the gate judges it:
                    // it completed, and the tasks for the new desired count are still starting.
                    if rng.below(4) == 0 {
                        self.scale(svc_index, 2 + rng.below(3), i).await;
                    }
                    if self.gate(&e).await {
                        self.unseen_failure.remove(&svc_index);
                    }
                }
            }
            70..=77 => {
                let svc = &self.services[svc_index];
                let rollback = rng.below(2) == 0;
                let forced =
                    json!({"cluster": svc.cluster, "service": svc.name, "state": "FAILED", "rollback": rollback});
                if self.s.em.try_force_rollout(forced).is_err() {
                    // Nothing to roll back to: ECS's circuit breaker would not roll back either.
                    self.s.em.force_rollout(json!({"cluster": svc.cluster, "service": svc.name, "state": "FAILED"}));
                }
                if let Some(e) = self.deployment_event(&self.services[svc_index], "SERVICE_DEPLOYMENT_FAILED", i) {
                    self.count("deployments failed");
                    // One in four failure events never reaches the gate (EventBridge delivers at
                    // least once, and a rule can be disabled or throttled): a later run must
                    // find the rollout, even once ECS dropped it (invariant 11).
                    if rng.below(4) == 0 {
                        self.count("deployment failures no gate run saw");
                        self.unseen_failure.insert(svc_index, i);
                    } else if self.gate(&e).await {
                        self.unseen_failure.remove(&svc_index);
                    }
                }
            }
            // Autoscaling moves the desired count (UpdateService desiredCount, as Application Auto
            // Scaling calls it); new tasks start only at the next COMPLETED step.
            82 => self.scale(svc_index, 1 + rng.below(4), i).await,
            // Housekeeping (CI, a cleanup script) deregisters the last known good revision.
            83..=84 => {
                let svc = &self.services[svc_index];
                let last_good = self.last_good(svc);
                if let Some(last_good) = last_good
                    && self.s.describe_task_definition(&last_good).0["status"] == "ACTIVE"
                {
                    self.s.boto("ecs", "deregister_task_definition", json!({"taskDefinition": last_good}));
                    self.count("last known good revisions deregistered");
                }
            }
            78..=81 => {
                let svc = &self.services[svc_index];
                let live = self.service_view(svc)["taskDefinition"].as_str().unwrap().to_owned();
                let e = self.s.task_stopped_event(
                    "ecs-task-stopped-oom.json",
                    &svc.cluster,
                    svc.name,
                    &live,
                    i as u64,
                    &self.clock.text(i),
                );
                self.count("task stops");
                self.gate(&e).await;
            }
            85..=89 => {
                let state = if rng.below(2) == 0 { "ALARM" } else { "OK" };
                self.s.boto(
                    "cloudwatch",
                    "set_alarm_state",
                    json!({"AlarmName": self.alarm, "StateValue": state, "StateReason": "storm"}),
                );
                self.count("alarm flips");
            }
            90..=94 => {
                let mut tick = fixture_json("scheduled-tick.json");
                tick["id"] = json!(format!("{}-reconcile-{i}", self.s.name));
                tick["time"] = json!(self.clock.text(i));
                self.count("reconciler ticks");
                if self.deploy(&tick.to_string(), true).await {
                    self.owed.clear();
                }
            }
            // `rollgate up` changes the configuration: a copy of the live revision with another
            // memory size, carrying its ledger as a config change, and the service moved to it.
            95..=96 => {
                let svc = &self.services[svc_index];
                let live = self.service_view(svc)["taskDefinition"].as_str().unwrap().to_owned();
                let (def, tags) = self.s.describe_task_definition(&live);
                if tags.contains_key("rollgate:digest") {
                    let tags: rollgate_core::service::Tags =
                        tags.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect();
                    let last_good = self.last_good(svc);
                    let live_arn = rollgate_core::TaskDefArn::parse(&live).unwrap();
                    let new_tags = rollgate_core::ledger::config_revision_tags(&live_arn, &tags, last_good.as_deref());
                    let memory = if def["memory"] == "512" { "1024" } else { "512" };
                    let revision = self.s.register(json!({
                        "family": def["family"], "containerDefinitions": def["containerDefinitions"],
                        "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": memory,
                        "tags": new_tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                    }));
                    self.s.boto(
                        "ecs",
                        "update_service",
                        json!({"cluster": svc.cluster, "service": svc.name, "taskDefinition": revision}),
                    );
                    if std::env::var("ROLLGATE_STORM_TRACE").is_ok_and(|v| v == "1") {
                        println!("storm: config change of {}: {live} -> {revision}", svc.name);
                    }
                    self.count("config changes");
                }
            }
            // A person deploys a revision registered by hand (no rollgate tag): the live
            // revision's containers with another memory size, and the service moved to it. The
            // gate judges it like a rollout, with its ledger on the service (invariants 8, 9, 11
            // and 12 read that ledger).
            97 => {
                let svc = &self.services[svc_index];
                let live = self.service_view(svc)["taskDefinition"].as_str().unwrap().to_owned();
                let (def, live_tags) = self.s.describe_task_definition(&live);
                // The person interrupts a rollout in flight: once their revision is judged (and
                // perhaps rolled back to the last known good), the reconciler owes that push.
                let in_flight = matches!(
                    live_tags.get("rollgate:state").and_then(Value::as_str),
                    Some("deploying" | "verifying" | "baking")
                );
                if let Some(digest) = live_tags.get("rollgate:digest").and_then(Value::as_str).filter(|_| in_flight) {
                    self.owed.insert(digest.to_owned());
                }
                let memory = if def["memory"] == "512" { "1024" } else { "512" };
                let revision = self.s.register(json!({
                    "family": def["family"], "containerDefinitions": def["containerDefinitions"],
                    "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": memory,
                    "tags": [{"key": "team", "value": "ml"}],
                }));
                self.s.boto(
                    "ecs",
                    "update_service",
                    json!({"cluster": svc.cluster, "service": svc.name, "taskDefinition": revision}),
                );
                self.hand.insert(revision.clone());
                if std::env::var("ROLLGATE_STORM_TRACE").is_ok_and(|v| v == "1") {
                    println!("storm: a person deploys hand revision {revision} on {} over {live}", svc.name);
                }
                self.count("hand revisions deployed");
            }
            // A person opts a service out of rollgate (removes `rollgate:repository`) while it is
            // idle, or back in. The index still lists it for INDEX_LAG seconds after either:
            // invariant 13 holds rollgate to leaving an opted-out service alone.
            98 => self.toggle_opt_in(svc_index, i),
            _ => {
                let mut tick = fixture_json("scheduled-tick.json");
                tick["id"] = json!(format!("{}-gate-{i}", self.s.name));
                tick["time"] = json!(self.clock.text(i));
                self.count("gate ticks");
                if self.gate(&tick).await {
                    self.last_sweep = Some(i);
                    self.unseen_failure.retain(|_, at| *at + INDEX_LAG > i);
                }
            }
        }
    }

    /// The invariants, through boto3, after every step. The ledger lives on revisions, so
    /// invariants 3 and 4 read them: every step, the revisions that are new, live (now and
    /// before the step) or the last known good; every `FULL_CHECK_EVERY` steps and at the
    /// end, every active revision again.
    fn check(&mut self, step: usize, full: bool) {
        if full {
            self.drain_notifications();
        }
        for index in 0..self.services.len() {
            self.check_service(index, step, full);
        }
    }

    fn check_service(&mut self, index: usize, step: usize, full: bool) {
        let svc = &self.services[index];
        let view = self.service_view(svc);
        let tags: BTreeMap<String, String> = view["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (t["key"].as_str().unwrap().to_owned(), t["value"].as_str().unwrap().to_owned()))
            .collect();
        // Failed digests: each with its own tag, and older ones listed by short digest in
        // rollgate:failed-digests (the 50-tag bound).
        let listed_failed: BTreeSet<&str> =
            tags.get("rollgate:failed-digests").map(|l| l.split_whitespace().collect()).unwrap_or_default();
        let failed: BTreeSet<String> = tags
            .keys()
            .filter_map(|k| k.strip_prefix("rollgate:failed:"))
            .map(str::to_owned)
            .chain(
                self.pushes
                    .iter()
                    .filter(|p| {
                        p.repo == svc.repo
                            && rollgate_core::Digest::parse(&p.digest).is_ok_and(|d| listed_failed.contains(d.short()))
                    })
                    .map(|p| p.digest.clone()),
            )
            .collect();
        let last_good = tags.get("rollgate:last-good").cloned().unwrap_or_else(|| svc.base.clone());
        let live = view["taskDefinition"].as_str().unwrap().to_owned();
        // The service's record of a revision rollgate did not roll out: (state, time, revision).
        let outside: Option<(String, String, String)> = tags.get("rollgate:outside").and_then(|v| {
            let (head, arn) = v.split_once(' ')?;
            let (state, at) = head.split_once('@')?;
            Some((state.to_owned(), at.to_owned(), arn.to_owned()))
        });

        // Read the revisions: the new ones, the live one (now and at the last check), the last
        // known good; or, on a full check, every active one.
        let family = format!("{}-{}", self.s.name, svc.name);
        let listed = self.s.boto("ecs", "list_task_definitions", json!({"familyPrefix": family, "status": "ACTIVE"}));
        let active: BTreeSet<String> = listed["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        let ledger = &mut self.ledgers[index];
        ledger.retain(|arn, _| active.contains(arn));
        let mut to_read: BTreeSet<String> = if full {
            active.clone()
        } else {
            let mut some: BTreeSet<String> = active.iter().filter(|a| !ledger.contains_key(*a)).cloned().collect();
            some.extend([last_good.clone()]);
            some.extend(self.previous_live[index].take());
            // Every revision whose cached state can have moved since it was read: one not yet
            // final (deploying, verifying, baking, rolling-back), and the pushes of a digest
            // marked failed. A revision judged while it was live only between two checks (ECS's
            // circuit breaker put it back, the gate rolled it back; a configuration change
            // rolled off) has a state newer than the one read before.
            some.extend(
                ledger
                    .iter()
                    .filter(|(_, e)| {
                        e.digest.as_ref().is_some_and(|d| failed.contains(d))
                            || matches!(
                                e.state.as_deref(),
                                None | Some("deploying" | "verifying" | "baking" | "rolling-back")
                            )
                    })
                    .map(|(a, _)| a.clone()),
            );
            some
        };
        to_read.retain(|a| active.contains(a));
        to_read.insert(live.clone());
        let mut read_tags = Vec::new();
        for arn in &to_read {
            let revision_tags = self.s.describe_task_definition(arn).1;
            read_tags.push((arn.clone(), revision_tags.clone()));
            let tag = |k: &str| revision_tags.get(k).and_then(Value::as_str).map(str::to_owned);
            let entry = Ledger {
                digest: tag("rollgate:digest"),
                service: tag("rollgate:service"),
                state: tag("rollgate:state"),
                reason: tag("rollgate:reason"),
                cause: tag("rollgate:cause"),
                decided_at: tag("rollgate:decided-at"),
                copy_of: tag("rollgate:copy-of"),
                short_since: tag("rollgate:short-since"),
                outside: false,
            };
            // A hand revision's ledger is the service's `rollgate:outside` record,
            // `<state>@<time> <revision ARN>`, while it names the revision; once a newer hand
            // revision replaces it, the state last read stands.
            let entry = match outside.as_ref().filter(|(_, _, named)| named == arn) {
                Some((state, at, _)) if entry.digest.is_none() => {
                    let decided =
                        matches!(state.as_str(), "rolling-back" | "rolled-back" | "rollback-failed" | "failed");
                    Ledger {
                        service: Some(svc.arn.clone()),
                        state: Some(state.clone()),
                        decided_at: decided.then(|| at.clone()),
                        outside: true,
                        ..entry
                    }
                }
                _ => match ledger.remove(arn) {
                    Some(cached) if cached.outside && entry.digest.is_none() => cached,
                    _ => entry,
                },
            };
            ledger.insert(arn.clone(), entry);
        }
        // A configuration change that failed took its image off the service with it, without
        // marking the image failed (the image did not change): the reconciler owes that push.
        let config_rolled_back: Vec<String> = ledger
            .values()
            .filter(|e| e.cause.as_deref() == Some("config"))
            .filter(|e| failed_state(e.state.as_deref()))
            .filter_map(|e| e.digest.clone())
            .filter(|d| !failed.contains(d) && live_digest_of(ledger, &live) != Some(d.as_str()))
            .collect();
        self.owed.extend(config_rolled_back);
        let ledger = &self.ledgers[index];
        let mut found = Vec::new();

        // 13. An opted-out service is left alone, however stale the index: rollgate registers no
        //     revision for it and does not move it (neither a push, the reconciler, nor the
        //     gate). The other invariants are about services rollgate deploys.
        if let Some(out) = self.opted_out.get(&index) {
            if live != out.live {
                found.push(format!(
                    "step {step}: {} opted out at step {} running {}, now runs {live}",
                    svc.name, out.step, out.live
                ));
            }
            for (arn, entry) in ledger {
                if revision_number(arn) > out.newest && entry.service.as_deref() == Some(svc.arn.as_str()) {
                    found.push(format!(
                        "step {step}: rollgate registered {arn} for {}, opted out since step {}",
                        svc.name, out.step
                    ));
                }
            }
            self.previous_live[index] = Some(live);
            self.violations.extend(found);
            return;
        }
        let live_ledger = &ledger[&live];
        let live_digest = live_ledger.digest.clone();

        // 1. The service runs the newest eligible push that is not failed (or one the
        //    reconciler still owes that is newer still), or its last known good: the latter
        //    only while every newer eligible push is older than a failed one (rollgate never
        //    deploys a push older than the newest it deployed).
        let filter = TagFilter::parse(svc.filter).unwrap();
        let pushes: Vec<&Push> = self.pushes.iter().filter(|p| p.repo == svc.repo).collect();
        let time_of = |digest: Option<&str>| pushes.iter().find(|p| Some(p.digest.as_str()) == digest).map(|p| &p.time);
        let eligible: Vec<&Push> = pushes
            .iter()
            .copied()
            .filter(|p| p.release && filter.matches(ImageTag::parse(&p.tag).ok().as_ref()))
            .filter(|p| !failed.contains(&p.digest))
            .collect();
        let delivered_newest = eligible.iter().filter(|p| !self.owed.contains(&p.digest)).map(|p| &p.time).max();
        let expected: BTreeSet<&str> = eligible
            .iter()
            .filter(|p| delivered_newest.is_none_or(|t| p.time >= *t))
            .map(|p| p.digest.as_str())
            .collect();
        // A failed configuration change rolls the service back to its last known good like a
        // failed push does (without marking the image): its push counts as rolled back here.
        let config_failed: BTreeSet<&str> = ledger
            .values()
            .filter(|e| e.cause.as_deref() == Some("config") && failed_state(e.state.as_deref()))
            .filter_map(|e| e.digest.as_deref())
            .collect();
        let newest_failed = pushes
            .iter()
            .filter(|p| failed.contains(&p.digest) || config_failed.contains(p.digest.as_str()))
            .map(|p| &p.time)
            .max();
        // The last known good when the ledger does not hold it: housekeeping deregistered it
        // (the ledger holds ACTIVE revisions; ECS still describes an INACTIVE one). Read once.
        let good_described = (!ledger.contains_key(&last_good)).then(|| self.s.describe_task_definition(&last_good));
        let good_tag = |key: &str| {
            good_described.as_ref().and_then(|(_, tags)| tags.get(key)).and_then(Value::as_str).map(str::to_owned)
        };
        let good_digest = match ledger.get(&last_good) {
            Some(g) => g.digest.clone(),
            None => good_tag("rollgate:digest"),
        };
        let good_time = time_of(good_digest.as_deref());
        let last_good_is_due = delivered_newest
            .is_none_or(|newest| good_time.is_some_and(|g| g >= newest) || newest_failed.is_some_and(|f| newest < f));
        // A configuration change's revision runs its base's image: it stands for the last known
        // good when it carries the last known good's digest.
        // The gate's copy of a deregistered last known good stands for it too, and so does the
        // deregistered original when ECS's circuit breaker goes back to it (its deployment was
        // the last one that completed): the same task definition.
        let good_copies = match ledger.get(&last_good) {
            Some(g) => g.copy_of.clone(),
            None => good_tag("rollgate:copy-of"),
        };
        let runs_last_good = live == last_good
            || live_ledger.copy_of.as_deref() == Some(last_good.as_str())
            || good_copies.as_deref() == Some(live.as_str())
            || (live_ledger.cause.as_deref() == Some("config") && live_digest.is_some() && live_digest == good_digest);
        // A rollout whose rollback failed is left for a person (and says so, invariant 9).
        let left_for_a_person = live_ledger.state.as_deref() == Some("rollback-failed");
        // ECS's circuit breaker can put back an older rollout replaced before its verdict (its
        // deployment was the last one that completed): the gate judges it like any rollout, and
        // it becomes the last known good or goes back to it.
        // (A live `superseded` revision is such a rollout: the gate judges it from its current
        // deployment.)
        // A configuration change the storm makes on top of such a rollout (a person's change
        // while it is being judged) runs the same image, and the gate judges it like any
        // rollout, so it stands for it while in flight.
        let judged_put_back =
            matches!(live_ledger.state.as_deref(), Some("deploying" | "verifying" | "baking" | "superseded"))
                && live_ledger.cause.is_none()
                || matches!(live_ledger.state.as_deref(), Some("deploying" | "verifying" | "baking"))
                    && live_ledger.cause.as_deref() == Some("config");
        // A hand revision a person deployed runs by their choice until a push replaces it or
        // the gate rolls it back (invariant 12 holds the gate to that).
        let person_chose = self.hand.contains(&live);
        let ok = live_digest.as_deref().is_some_and(|d| expected.contains(d))
            || person_chose
            || ((runs_last_good || judged_put_back) && last_good_is_due)
            || (live == svc.base && delivered_newest.is_none())
            || left_for_a_person
            || self.gate_owed
            || self.unseen_failure.contains_key(&index);
        if !ok {
            found.push(format!(
                "step {step}: {} runs {live} ({live_digest:?}, {:?}, {:?}), expected one of {expected:?} or {last_good} \
                 (last good due: {last_good_is_due}; newest failed push {newest_failed:?}; config revisions {:?})",
                svc.name,
                time_of(live_digest.as_deref()),
                live_ledger.state,
                ledger
                    .iter()
                    .filter(|(_, e)| e.cause.is_some())
                    .map(|(a, e)| (a.rsplit(':').next().unwrap_or_default(), e.state.clone(), e.digest.clone()))
                    .collect::<Vec<_>>(),
            ));
        }
        // 12. A revision rollgate did not roll out is judged like any rollout: once the gate has
        //     run on its failed deployment, it no longer runs, unless its one rollback failed
        //     (left for a person). (Without a last known good there is nothing to go back to.)
        let hand_failed =
            view["deployments"].as_array().into_iter().flatten().any(|d| {
                d["taskDefinition"] == json!(live) && d["status"] == "PRIMARY" && d["rolloutState"] == "FAILED"
            });
        if person_chose
            && hand_failed
            && tags.contains_key("rollgate:last-good")
            && !left_for_a_person
            && !self.gate_owed
            && !self.unseen_failure.contains_key(&index)
        {
            found.push(format!(
                "step {step}: {} runs hand revision {live} whose deployment failed, and the gate left it ({:?}, record {:?})",
                svc.name,
                live_ledger.state,
                tags.get("rollgate:outside")
            ));
        }
        // 2. No failed digest is live once the gate has run (it runs on every failure step).
        if live_digest.as_ref().is_some_and(|d| failed.contains(d))
            && live_ledger.state.as_deref() != Some("deploying")
            && !left_for_a_person
            && !self.gate_owed
            && !self.unseen_failure.contains_key(&index)
        {
            found.push(format!(
                "step {step}: {} runs failed digest {live_digest:?}: live {live} state {:?} reason {:?}, last good {last_good}, deployments {}",
                svc.name, live_ledger.state, live_ledger.reason, view["deployments"]
            ));
        }
        // 3. No digest has two active push revisions for the service (a configuration change's
        //    revision shares its image's digest by design).
        let mut digests: BTreeMap<&str, usize> = BTreeMap::new();
        // (The gate's copy of a deregistered rollback target carries the target's ledger.)
        for entry in ledger.values().filter(|e| e.cause.is_none() && e.copy_of.is_none()) {
            if let Some(d) = &entry.digest {
                *digests.entry(d).or_default() += 1;
            }
        }
        for (d, n) in digests {
            if n > 1 {
                found.push(format!("step {step}: {} has {n} active revisions for {d}", svc.name));
            }
        }
        // The failed-digest record is bounded (tags::failure_write): once
        // rollgate:failed-digests is full, the oldest failure is forgotten by name; the
        // high-water mark keeps its push out (invariant 1). Failures are recorded in the order
        // they are judged, not pushed (ECS's history judges a dropped rollout late), so a
        // forgotten digest is one pushed no later than the high-water mark.
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
        let high_water = tags.get("rollgate:high-water").and_then(|t| at(t));
        let forgotten = |d: &str| {
            listed_failed.len() == rollgate_core::tags::MAX_FAILED_DIGESTS
                && matches!((time_of(Some(d)).and_then(|t| at(t)), high_water), (Some(t), Some(h)) if t <= h)
        };
        // 4. The ledger is consistent: a revision carries its own service's ledger, a
        //    rolled-back digest is marked failed, the last known good is active and healthy
        //    (or predates rollgate).
        for arn in &to_read {
            let Some(entry) = ledger.get(arn) else { continue };
            let Some(d) = &entry.digest else { continue };
            if entry.service.as_deref() != Some(svc.arn.as_str()) {
                found.push(format!("step {step}: {arn} has another service's ledger ({:?})", entry.service));
            }
            if entry.cause.is_none()
                && entry.state.as_deref().is_some_and(|s| ROLLBACK_STATES.contains(&s))
                && !failed.contains(d)
                && !forgotten(d)
            {
                found.push(format!("step {step}: {arn} rolled back but {d} is not marked failed"));
            }
        }
        // 5. A failed configuration change never marks its image failed: a digest marked failed
        //    on the service is the digest of a push revision that failed (or whose verdict is
        //    being written: the failure is recorded on the service first), never of one that
        //    was verified healthy or superseded, whose image only a configuration change carried.
        //    A superseded revision that ECS runs again (its circuit breaker put it back) is in
        //    flight: it is judged like any rollout, and its failure is recorded first too. A
        //    verdict whose gate run dead-lettered is owed until a run succeeds.
        for d in &failed {
            let pushes_of_d: Vec<(&String, &Ledger)> =
                ledger.iter().filter(|(_, e)| e.cause.is_none() && e.digest.as_deref() == Some(d.as_str())).collect();
            let failed_or_in_flight = |(arn, e): &(&String, &Ledger)| {
                failed_state(e.state.as_deref())
                    || matches!(e.state.as_deref(), Some("deploying" | "verifying" | "baking"))
                    || (e.state.as_deref() == Some("superseded") && arn.as_str() == live)
            };
            // A gate run that recorded the failure on the service and then dead-lettered
            // writes the revision's state when it is retried: owed, like invariants 1 and 2.
            if !pushes_of_d.is_empty() && !pushes_of_d.iter().any(failed_or_in_flight) && !self.gate_owed {
                let states: Vec<_> = pushes_of_d.iter().map(|(_, e)| e.state.clone()).collect();
                found.push(format!(
                    "step {step}: {d} is marked failed on {} but its push rollout did not fail ({states:?})",
                    svc.name
                ));
            }
        }
        // 6. Every tag rollgate left is one AWS accepts: at most 50 on the service and on each
        //    revision read, keys and values within ECS's TagKey / TagValue patterns.
        let service_tags = tags.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
        for (what, set) in std::iter::once((svc.name.to_string(), service_tags)).chain(read_tags) {
            if set.len() > rollgate_core::tags::MAX_TAGS {
                found.push(format!("step {step}: {what} carries {} tags", set.len()));
            }
            for (k, v) in &set {
                let v = v.as_str().unwrap_or_default();
                if rollgate_core::tags::check_key(k).is_err() || !rollgate_core::tags::is_allowed(v) {
                    found.push(format!("step {step}: {what} has a tag AWS refuses: {k}={v:?}"));
                }
            }
        }
        // 7. Only releases are deployed: every digest on a revision rollgate registered was a
        //    release push (never a signature, an untagged push, or an image for another
        //    platform than the task's).
        for (arn, entry) in ledger {
            if let Some(d) = &entry.digest
                && self.pushes.iter().any(|p| &p.digest == d && !p.release)
            {
                found.push(format!("step {step}: {arn} of {} deployed {d}, which is not a release", svc.name));
            }
        }
        // The last known good is healthy (or predates rollgate). Housekeeping may have
        // deregistered it: ECS still describes it then, and a rollback to it goes to a copy.
        let good_state = match (ledger.get(&last_good), &good_described) {
            (Some(good), _) => Ok(good.state.clone()),
            (None, Some((def, _))) if def["status"] == "INACTIVE" => Ok(good_tag("rollgate:state")),
            (None, described) => Err(described.as_ref().map_or(Value::Null, |(def, _)| def["status"].clone())),
        };
        match good_state {
            Err(status) => {
                found.push(format!("step {step}: last known good {last_good} cannot be described ({status})"))
            }
            Ok(state) if !matches!(state.as_deref(), None | Some("healthy")) => {
                found.push(format!("step {step}: last known good {last_good} is {state:?}"));
            }
            Ok(_) => {}
        }
        // 8. No rollback loop: a failed rollout is rolled back at most once. Its rollback, once
        //    started, only settles (rolled-back or rollback-failed); a revision whose rollback
        //    failed never changes again, whatever ECS does next.
        for (arn, entry) in ledger {
            let state = entry.state.as_deref();
            if self.rollback_failed.contains(arn) && state != Some("rollback-failed") {
                found.push(format!("step {step}: {arn}'s rollback had failed, and it is {state:?} now"));
            }
            if state == Some("rollback-failed") {
                self.rollback_failed.insert(arn.clone());
            }
            if state.is_some_and(|s| ROLLBACK_STATES.contains(&s))
                && let Some(at) = &entry.decided_at
            {
                match self.rollbacks.get(arn) {
                    Some(first) if first != at => {
                        found.push(format!("step {step}: {arn} rolled back a second time ({first}, then {at})"))
                    }
                    Some(_) => {}
                    None => {
                        self.rollbacks.insert(arn.clone(), at.clone());
                    }
                }
            }
        }
        // 9. No silent failure: every failed rollout was published, before its state was
        //    written (a retry may publish twice; never zero times). Checked on full checks.
        if full {
            for (arn, entry) in ledger {
                let want = match entry.state.as_deref() {
                    Some("failed") => "Rollout Failed",
                    Some("rolling-back" | "rolled-back") => "Rollout Rolled Back",
                    Some("rollback-failed") => "Rollback Failed",
                    _ => continue,
                };
                let kinds = self.published.get(arn).map(Vec::as_slice).unwrap_or_default();
                if !kinds.iter().any(|k| k == want) {
                    found.push(format!("step {step}: {arn} is {:?} and nothing said so ({kinds:?})", entry.state));
                }
                if want == "Rollback Failed" && kinds.iter().filter(|k| *k == "Rollback Failed").count() > 1 {
                    *self.stats.entry("duplicate Rollback Failed notifications (retries)").or_default() += 1;
                }
            }
        }
        // 10. A count is no verdict at one instant: a rollout failed on its task count after the
        //     bake was first seen short (`rollgate:short-since`) more than the deadline (a day
        //     here) before its verdict.
        for (arn, entry) in ledger {
            if entry.short_since.is_some() && self.seen_short.insert(arn.clone()) {
                *self.stats.entry("rollouts seen short of their desired count after the bake").or_default() += 1;
            }
            // The reason is free text, stored `base64:`-encoded when it has characters a tag
            // value cannot hold.
            let reason = entry.reason.as_deref().map(|r| rollgate_core::tags::decode_or_stored("rollgate:reason", r));
            let Some(reason) = reason.filter(|r| r.starts_with("only ") && r.contains("tasks running")) else {
                continue;
            };
            let grace_over = entry
                .short_since
                .as_deref()
                .and_then(|s| s.split_once('@'))
                .zip(entry.decided_at.as_deref())
                .is_some_and(|((_, since), decided)| {
                    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
                    at(since)
                        .zip(at(decided))
                        .is_some_and(|(since, decided)| decided - since > chrono::Duration::days(1))
                });
            if !grace_over {
                found.push(format!(
                    "step {step}: {arn} failed on its count ({reason}) without a day's grace since it was first seen short ({:?})",
                    entry.short_since
                ));
            }
        }
        // 11. No rollout is left without a verdict: a revision ECS ran or listed and no longer
        //     does (its deployment failed and ECS's circuit breaker rolled it back, or a newer
        //     one replaced it) has one, and its rollback an outcome, once a scheduled gate run
        //     succeeded after ECS dropped it, even when no gate run saw it listed (ECS's
        //     service-deployment history). Checked on full checks, which read every revision's
        //     state afresh.
        let listed_now: BTreeSet<String> = view["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["taskDefinition"].as_str().map(str::to_owned))
            .chain([live.clone()])
            .collect();
        self.ever_listed.extend(listed_now.iter().cloned());
        for arn in ledger.keys().filter(|a| self.ever_listed.contains(*a)) {
            if listed_now.contains(arn) {
                self.unlisted_since.remove(arn);
            } else {
                self.unlisted_since.entry(arn.clone()).or_insert(step);
            }
        }
        if full {
            for (arn, entry) in ledger {
                let waiting =
                    matches!(entry.state.as_deref(), Some("deploying" | "verifying" | "baking" | "rolling-back"));
                let Some(since) = self.unlisted_since.get(arn).filter(|_| waiting) else { continue };
                // The index shows a rollout INDEX_LAG after its last change at the latest.
                if self.last_sweep.is_some_and(|sweep| sweep > *since + INDEX_LAG) {
                    found.push(format!(
                        "step {step}: {arn} is {:?} with no verdict, though ECS dropped it at step {since} and the gate swept at step {:?}",
                        entry.state, self.last_sweep
                    ));
                }
            }
        }
        self.previous_live[index] = Some(live);
        self.violations.extend(found);
    }
}

/// The digest of the live revision, as the check read it.
fn live_digest_of<'a>(ledger: &'a BTreeMap<String, Ledger>, live: &str) -> Option<&'a str> {
    ledger.get(live).and_then(|e| e.digest.as_deref())
}

/// FNV-1a over the (operation, fault) sequence: equal for two runs that made the same calls in
/// the same order and met the same faults.
fn fingerprint(events: &[(String, Option<String>)]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for (operation, fault) in events {
        for byte in operation.bytes().chain([b':']).chain(fault.as_deref().unwrap_or("-").bytes()).chain([b'\n']) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// Each step's calls, one line a call: `<step> <function> <operation> <fault or ->`.
fn write_calls(path: &str, events: &[Vec<(String, Option<String>)>; 2], counts: &[[usize; 2]]) {
    let mut out = String::new();
    let mut from = [0usize; 2];
    for (step, upto) in counts.iter().enumerate() {
        for (f, name) in ["deploy", "health-gate"].into_iter().enumerate() {
            for (operation, fault) in events[f].iter().take(upto[f]).skip(from[f]) {
                out.push_str(&format!("{step} {name} {operation} {}\n", fault.as_deref().unwrap_or("-")));
            }
            from[f] = upto[f];
        }
    }
    std::fs::write(path, out).expect("write ROLLGATE_STORM_CALLS");
}

/// `ROLLGATE_STORM_SEED` and `ROLLGATE_STORM_EVENTS` explore other storms (`make storm`).
#[tokio::test]
async fn a_thousand_events_with_faults_keep_every_invariant() {
    let seed = env_number("ROLLGATE_STORM_SEED").unwrap_or(SEED);
    let events = env_number("ROLLGATE_STORM_EVENTS").map_or(EVENTS, |n| n as usize);
    // ROLLGATE_STORM_TRACE=1: the functions' logs (text) and a line per step, to replay a
    // violation's history (a seed replays exactly).
    let trace = std::env::var("ROLLGATE_STORM_TRACE").is_ok_and(|v| v == "1");
    if trace {
        rollgate_lambda::telemetry::init();
    }
    let calls_file = std::env::var("ROLLGATE_STORM_CALLS").ok();
    let mut storm = Storm::new(seed).await;
    let keys = [storm.s.function_key("deploy"), storm.s.function_key("health-gate")];
    // With ROLLGATE_STORM_CALLS: how many calls each function had made after each step.
    let mut counts: Vec<[usize; 2]> = vec![];
    let mut rng = Rng(seed);
    for i in 0..events {
        if trace {
            println!("storm: step {i} at {}", storm.clock.text(i));
        }
        storm.step(&mut rng, i).await;
        if calls_file.is_some() {
            counts.push(keys.clone().map(|k| faults().stats(&k)["requests"].as_u64().unwrap_or(0) as usize));
        }
        storm.check(i, i % FULL_CHECK_EVERY == 0 || i + 1 == events);
        if i % 100 == 99 {
            eprintln!("storm: {} events, {} violations", i + 1, storm.violations.len());
        }
    }
    if let Some(path) = &calls_file {
        write_calls(path, &keys.clone().map(|k| faults().events(&k)), &counts);
    }
    let stats: Vec<Value> = keys.iter().map(|k| faults().stats(k)).collect();
    let injected: u64 = stats
        .iter()
        .flat_map(|s| s["injected"].as_object().into_iter().flat_map(|m| m.values().filter_map(Value::as_u64)))
        .sum();
    let requests: u64 = stats.iter().filter_map(|s| s["requests"].as_u64()).sum();
    let faults_stats = Value::Array(stats);
    let calls: Vec<_> = keys.iter().flat_map(|k| faults().events(k)).collect();
    println!("storm: {events} events, seed {seed:#x}: {:?}", storm.stats);
    println!(
        "storm: {requests} AWS calls through the proxy, {injected} faulted; {} invariant violations",
        storm.violations.len()
    );
    println!("storm: fingerprint {:016x} of {} calls and their faults", fingerprint(&calls), calls.len());
    assert!(injected > 0, "faults were injected: {faults_stats}");
    assert_eq!(storm.violations, Vec::<String>::new());
}
