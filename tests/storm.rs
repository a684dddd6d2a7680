//! A seeded, reproducible storm: 1000 events of every kind, with 20% of the functions' AWS
//! calls faulted by the proxy, and rollgate's invariants checked through boto3 after each step.
//! Figures (events, faults, violations) are printed and recorded in docs/reliability.md.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{SecondsFormat, Utc};
use rollgate_aws::AwsOptions;
use rollgate_aws::cloudwatch::CloudWatch;
use rollgate_aws::codebuild::CodeBuild;
use rollgate_aws::ecr::Ecr;
use rollgate_aws::ecs::Ecs;
use rollgate_aws::events::EventBridge;
use rollgate_aws::probe::HttpProbe;
use rollgate_core::config::{DeployConfig, GateConfig};
use rollgate_core::duration::Seconds;
use rollgate_core::filter::TagFilter;
use rollgate_core::{ImageTag, ServiceArn};
use serde_json::{Value, json};
use support::faults::faults;
use support::fixtures::fixture_json;
use support::{Scenario, ServiceSpec};

const EVENTS: usize = 1000;
const FULL_CHECK_EVERY: usize = 50;
const SEED: u64 = 0x5eed_2026;

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

struct Push {
    repo: String,
    digest: String,
    tag: String,
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
    sdk: aws_config::SdkConfig,
    stats: BTreeMap<&'static str, usize>,
    violations: Vec<String>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Storm {
    async fn new() -> Self {
        let s = Scenario::new("storm");
        let clusters = vec![s.cluster("a"), s.cluster("b")];
        let repos = [s.repository("alpha"), s.repository("beta")];
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
                ("rollgate:tag-filter", filter.to_owned()),
                ("rollgate:bake", "0".to_owned()),
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
        // 20% of the functions' calls faulted; boto3's checks are not.
        faults().configure(
            &s.access_key,
            json!({"seed": SEED, "default": {"throttle": 0.08, "http500": 0.03, "http503": 0.03, "reset": 0.03, "reset_after": 0.03}}),
        );
        let options = AwsOptions { endpoint_url: Some(faults().url.clone()), max_attempts: Some(3), ..s.aws_options() };
        let sdk = options.load().await;
        Self {
            s,
            services,
            clusters,
            pushes: vec![],
            owed: BTreeSet::new(),
            alarm,
            sdk,
            stats: BTreeMap::new(),
            violations: vec![],
        }
    }

    fn count(&mut self, what: &'static str) {
        *self.stats.entry(what).or_default() += 1;
    }

    /// Like Lambda's async invocation: up to three attempts while the answer is Retryable.
    async fn deploy(&mut self, raw: &str, schedule: bool) -> bool {
        let ecs = Ecs::new(&self.sdk);
        let ecr = Ecr::new(&self.sdk);
        let config = DeployConfig { clusters: self.clusters.clone(), max_in_flight: 4, trusted_registries: vec![] };
        for _ in 0..3 {
            let result = if schedule {
                deploy::handler::reconcile(&ecs, &ecr, &config, raw).await
            } else {
                deploy::handler::handle(&ecs, &config, raw).await
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

    async fn gate(&mut self, event: &Value) -> bool {
        let clients = health_gate::handler::Clients {
            ecs: Ecs::new(&self.sdk),
            cloudwatch: CloudWatch::new(&self.sdk),
            events: EventBridge::new(&self.sdk, "default"),
            probe: HttpProbe::new(std::time::Duration::from_secs(1)).unwrap(),
            builds: CodeBuild::new(&self.sdk),
        };
        let config = GateConfig {
            clusters: self.clusters.clone(),
            max_in_flight: 4,
            event_bus: "default".into(),
            smoke_timeout: Seconds(1),
            build_project: None,
        };
        for _ in 0..3 {
            match health_gate::handler::handle(&clients, &config, &event.to_string()).await {
                Ok(report) if !report.needs_retry() => return true,
                Err(e) if e.class == rollgate_core::ErrorClass::NonRetryable => return true,
                _ => self.count("lambda retries"),
            }
        }
        self.count("dead-lettered invocations");
        false
    }

    fn service_view(&self, svc: &Svc) -> Value {
        self.s.describe_service(&svc.cluster, svc.name)
    }

    fn deployment_event(&self, svc: &Svc, name: &str) -> Option<Value> {
        let view = self.service_view(svc);
        let live = view["taskDefinition"].clone();
        let deployment = view["deployments"].as_array()?.iter().find(|d| d["taskDefinition"] == live)?.clone();
        let fixture = if name == "SERVICE_DEPLOYMENT_FAILED" {
            "ecs-deployment-failed.json"
        } else {
            "ecs-deployment-completed.json"
        };
        let mut e = fixture_json(fixture);
        e["id"] = json!(format!("{}-{}", self.s.name, self.pushes.len()));
        e["time"] = json!(now());
        e["resources"] = json!([svc.arn]);
        e["detail"]["deploymentId"] = deployment["id"].clone();
        Some(e)
    }

    async fn step(&mut self, rng: &mut Rng, i: usize) {
        let roll = rng.below(100);
        let svc_index = rng.below(self.services.len());
        match roll {
            // A push with its event; or (5%) a push whose event ECR never sent.
            0..=34 => {
                let repo = self.services[svc_index].repo.clone();
                let tag = match rng.below(4) {
                    0 => format!("v1.{}.0", i),
                    1 => format!("v2.{}.0", i),
                    2 => "latest".to_owned(),
                    _ => format!("dev-{i}"),
                };
                let digest = self.s.push_image(&repo, &tag);
                let time = now();
                let event = self.s.push_event(&repo, &digest, &tag, &time);
                self.pushes.push(Push { repo, digest: digest.clone(), tag, time, event: event.clone() });
                if roll < 30 {
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
                if let Some(e) = self.deployment_event(&self.services[svc_index], "SERVICE_DEPLOYMENT_COMPLETED") {
                    self.count("deployments completed");
                    self.gate(&e).await;
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
                if let Some(e) = self.deployment_event(&self.services[svc_index], "SERVICE_DEPLOYMENT_FAILED") {
                    self.count("deployments failed");
                    self.gate(&e).await;
                }
            }
            78..=84 => {
                let svc = &self.services[svc_index];
                let live = self.service_view(svc)["taskDefinition"].as_str().unwrap().to_owned();
                let mut e = fixture_json("ecs-task-stopped-oom.json");
                e["id"] = json!(format!("{}-task-{i}", self.s.name));
                e["time"] = json!(now());
                e["detail"]["clusterArn"] =
                    json!(format!("arn:aws:ecs:us-east-1:123456789012:cluster/{}", svc.cluster));
                e["detail"]["taskArn"] =
                    json!(format!("arn:aws:ecs:us-east-1:123456789012:task/{}/{:032x}", svc.cluster, i));
                e["detail"]["group"] = json!(format!("service:{}", svc.name));
                e["detail"]["taskDefinitionArn"] = json!(live);
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
                tick["time"] = json!(now());
                self.count("reconciler ticks");
                if self.deploy(&tick.to_string(), true).await {
                    self.owed.clear();
                }
            }
            _ => {
                let mut tick = fixture_json("scheduled-tick.json");
                tick["id"] = json!(format!("{}-gate-{i}", self.s.name));
                tick["time"] = json!(now());
                self.count("gate ticks");
                self.gate(&tick).await;
            }
        }
    }

    /// The invariants, through boto3. The revision scan (3 and 4) reads every revision, so it
    /// runs every `FULL_CHECK_EVERY` steps and at the end; 1 and 2 run after every step.
    fn check(&mut self, step: usize, full: bool) {
        for svc in &self.services {
            let view = self.service_view(svc);
            let tags: BTreeMap<String, String> = view["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| (t["key"].as_str().unwrap().to_owned(), t["value"].as_str().unwrap().to_owned()))
                .collect();
            let failed: BTreeSet<&str> = tags.keys().filter_map(|k| k.strip_prefix("rollgate:failed:")).collect();
            let last_good = tags.get("rollgate:last-good").cloned().unwrap_or_else(|| svc.base.clone());
            let live = view["taskDefinition"].as_str().unwrap().to_owned();
            let (_, live_tags) = self.s.describe_task_definition(&live);
            let live_digest = live_tags.get("rollgate:digest").and_then(Value::as_str).map(str::to_owned);

            // 1. The newest eligible push that is not failed (ties: any of the same second), or
            //    the last known good.
            let filter = TagFilter::parse(svc.filter).unwrap();
            let eligible: Vec<&Push> = self
                .pushes
                .iter()
                .filter(|p| p.repo == svc.repo && filter.matches(ImageTag::parse(&p.tag).ok().as_ref()))
                .filter(|p| !failed.contains(p.digest.as_str()))
                .collect();
            let newest_time = eligible.iter().map(|p| p.time.as_str()).max();
            let expected: BTreeSet<&str> =
                eligible.iter().filter(|p| Some(p.time.as_str()) == newest_time).map(|p| p.digest.as_str()).collect();
            let owed = eligible.iter().any(|p| self.owed.contains(&p.digest));
            let ok = live == last_good
                || live_digest.as_deref().is_some_and(|d| expected.contains(d))
                || (expected.is_empty() && live == svc.base)
                || owed;
            if !ok {
                self.violations.push(format!(
                    "step {step}: {} runs {live} ({live_digest:?}), expected one of {expected:?} or {last_good}",
                    svc.name
                ));
            }
            // 2. No failed digest is live once the gate has run (it runs on every failure step).
            if live_digest.as_deref().is_some_and(|d| failed.contains(d))
                && live_tags.get("rollgate:state").and_then(Value::as_str) != Some("deploying")
            {
                self.violations.push(format!(
                    "step {step}: {} runs failed digest {live_digest:?}: live {live} state {:?} reason {:?}, last good {last_good}, deployments {}",
                    svc.name,
                    live_tags.get("rollgate:state"),
                    live_tags.get("rollgate:reason"),
                    view["deployments"]
                ));
            }
            if !full {
                continue;
            }
            // 3. No digest has two revisions; 4. the ledger is consistent.
            let family = format!("{}-{}", self.s.name, svc.name);
            let revisions =
                self.s.boto("ecs", "list_task_definitions", json!({"familyPrefix": family, "status": "ACTIVE"}));
            let mut digests = BTreeMap::new();
            for arn in revisions["taskDefinitionArns"].as_array().unwrap() {
                let (_, t) = self.s.describe_task_definition(arn.as_str().unwrap());
                if let Some(d) = t.get("rollgate:digest").and_then(Value::as_str) {
                    *digests.entry(d.to_owned()).or_insert(0) += 1;
                    if t.get("rollgate:service") != Some(&json!(svc.arn)) {
                        self.violations.push(format!("step {step}: {arn} has another service's ledger"));
                    }
                    if t.get("rollgate:state").and_then(Value::as_str) == Some("rolled-back") && !failed.contains(d) {
                        self.violations.push(format!("step {step}: {arn} rolled back but {d} is not marked failed"));
                    }
                }
            }
            for (d, n) in digests {
                if n > 1 {
                    self.violations.push(format!("step {step}: {} has {n} revisions for {d}", svc.name));
                }
            }
            let (_, good_tags) = self.s.describe_task_definition(&last_good);
            let good_state = good_tags.get("rollgate:state").and_then(Value::as_str);
            if !matches!(good_state, None | Some("healthy")) {
                self.violations.push(format!("step {step}: last known good {last_good} is {good_state:?}"));
            }
        }
        let _ = ServiceArn::parse(&self.services[0].arn);
    }
}

#[tokio::test]
#[ignore = "not yet reproducible enough for CI: its outcome varies with timing; run it with `make storm` (docs/reliability.md)"]
async fn a_thousand_events_with_faults_keep_every_invariant() {
    let mut storm = Storm::new().await;
    let mut rng = Rng(SEED);
    let events = std::env::var("ROLLGATE_STORM_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(EVENTS);
    for i in 0..events {
        storm.step(&mut rng, i).await;
        storm.check(i, i % FULL_CHECK_EVERY == 0 || i + 1 == events);
        if i % 100 == 99 {
            eprintln!("storm: {} events, {} violations", i + 1, storm.violations.len());
        }
    }
    let faults_stats = faults().stats(&storm.s.access_key);
    let injected: u64 =
        faults_stats["injected"].as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
    let requests = faults_stats["requests"].as_u64().unwrap_or(0);
    println!("storm: {events} events, seed {SEED:#x}: {:?}", storm.stats);
    println!(
        "storm: {requests} AWS calls through the proxy, {injected} faulted; {} invariant violations",
        storm.violations.len()
    );
    assert!(injected > 0, "faults were injected: {faults_stats}");
    assert_eq!(storm.violations, Vec::<String>::new());
}
