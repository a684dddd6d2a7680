//! Fleet scale (#17): a push and a gate sweep find their services through the tagging index,
//! and cost what the services concerned cost. The index is eventually consistent on AWS; the
//! emulator models that as a lag (tests/emulator/tagging_ext.py), and a stale index must never
//! cause a wrong deploy. Every figure is counted at the emulator; state is checked with boto3.

use chrono::{DateTime, Utc};
use deploy::handler::handle;
use rollgate_aws::Aws;
use rollgate_aws::ecr::Ecr;
use rollgate_aws::ecs::Ecs;
use rollgate_core::config::{DeployConfig, GateConfig};
use rollgate_core::duration::Seconds;
use rollgate_core::index::Discovery;
use rollgate_core::report::{DeployReport, GateReport, Outcome, Sweep};
use serde_json::json;
use support::fixtures::fixture_json;
use support::{Scenario, ServiceSpec};

/// 2026-12-03T12:07:00Z: a minute that is no full-sweep tick (every 15 minutes from :00).
const OFF_SWEEP: i64 = 1_796_299_620;

fn at(epoch: i64) -> String {
    DateTime::<Utc>::from_timestamp(epoch, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn deploy_config(cluster: &str, discovery: Discovery) -> DeployConfig {
    DeployConfig {
        clusters: vec![cluster.to_owned()],
        max_in_flight: 4,
        trusted_registries: vec![],
        discovery,
        reconcile: Default::default(),
    }
}

async fn deploy(s: &Scenario, config: &DeployConfig, event: &str) -> DeployReport {
    let sdk = s.function_options("deploy").load().await;
    handle(&Aws::new().with_ecs(Ecs::new(&sdk)).with_ecr(Ecr::new(&sdk)), config, event)
        .await
        .unwrap_or_else(|e| panic!("deploy failed: {e}"))
}

async fn reconcile(s: &Scenario, config: &DeployConfig, time: i64) -> DeployReport {
    let sdk = s.function_options("deploy").load().await;
    let mut tick = fixture_json("scheduled-tick.json");
    tick["id"] = json!(format!("{}-reconcile-{time}", s.name));
    tick["time"] = json!(at(time));
    deploy::handler::reconcile(&Aws::new().with_ecs(Ecs::new(&sdk)).with_ecr(Ecr::new(&sdk)), config, &tick.to_string())
        .await
        .unwrap_or_else(|e| panic!("reconcile failed: {e}"))
}

async fn gate_tick(s: &Scenario, cluster: &str, time: i64) -> GateReport {
    gate_tick_as(s, &s.function_options("health-gate"), cluster, time).await
}

async fn gate_tick_as(s: &Scenario, options: &rollgate_aws::AwsOptions, cluster: &str, time: i64) -> GateReport {
    let sdk = options.load().await;
    let clients = rollgate_aws::Aws {
        ecs: Ecs::new(&sdk),
        cloudwatch: rollgate_aws::cloudwatch::CloudWatch::new(&sdk),
        events: rollgate_aws::eventbridge::EventBridge::new(&sdk, "default"),
        probe: rollgate_aws::probe::HttpProbe::new(std::time::Duration::from_secs(1)).unwrap(),
        builds: rollgate_aws::codebuild::CodeBuild::new(&sdk),
        ecr: Ecr::new(&sdk),
    };
    let config = GateConfig {
        clusters: vec![cluster.to_owned()],
        max_in_flight: 4,
        event_bus: "default".into(),
        smoke_timeout: Seconds(1),
        build_project: None,
        discovery: Discovery::Index,
        tick_secs: 60,
        full_sweep_every: Seconds(900),
    };
    let mut tick = fixture_json("scheduled-tick.json");
    tick["id"] = json!(format!("{}-gate-{time}", s.name));
    tick["time"] = json!(at(time));
    health_gate::handler::handle(&clients, &config, &tick.to_string())
        .await
        .unwrap_or_else(|e| panic!("gate failed: {e}"))
}

fn deployed(report: &DeployReport) -> Vec<&str> {
    report
        .services
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Deployed { .. }))
        .map(|s| s.service.as_str())
        .collect()
}

/// The operations `s`'s functions called since `from` (an index into [`Scenario::calls`]).
fn calls_since(s: &Scenario, from: usize) -> Vec<String> {
    s.calls().into_iter().skip(from).map(|(_, op)| op).collect()
}

/// The revisions of `family` (boto3's ListTaskDefinitions, ACTIVE and INACTIVE).
fn revisions(s: &Scenario, family_of: &str) -> usize {
    let family = family_of.rsplit('/').next().unwrap().split(':').next().unwrap();
    ["ACTIVE", "INACTIVE"]
        .iter()
        .map(|status| {
            s.boto("ecs", "list_task_definitions", json!({"familyPrefix": family, "status": status}))["taskDefinitionArns"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum()
}

/// What the index holds for services with `repository`, asked with boto3.
fn indexed_services(s: &Scenario, repository: &str) -> Vec<String> {
    let answer = s.boto(
        "resourcegroupstaggingapi",
        "get_resources",
        json!({"ResourceTypeFilters": ["ecs:service"], "TagFilters": [{"Key": "rollgate:repository", "Values": [repository]}]}),
    );
    answer["ResourceTagMappingList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ResourceARN"].as_str().unwrap().to_owned())
        .collect()
}

/// A cluster with `tracking` services of one repository and `others` of other repositories.
struct Fleet {
    s: Scenario,
    cluster: String,
    repo: String,
    base: String,
}

impl Fleet {
    fn new(s: Scenario, tracking: usize, others: usize) -> Self {
        let cluster = s.cluster("c");
        let repo = s.repository("model");
        let other = s.repository("other");
        let base = s.model_task_definition("model", &repo);
        for i in 0..tracking + others {
            let tracked = if i < tracking { &repo } else { &other };
            let name = format!("svc-{i}");
            s.service(ServiceSpec {
                cluster: &cluster,
                name: &name,
                task_definition: &base,
                tags: vec![("rollgate:repository", tracked.clone())],
            });
        }
        Self { s, cluster, repo, base }
    }

    /// A buildx push (an index with its platform image and attestation); its index's event.
    fn push(&self, tag: &str, time: i64) -> String {
        let pushed = self.s.push_buildx(&self.repo, Some(tag), &[("linux", "amd64")], &at(time));
        pushed.last().unwrap().event.clone()
    }
}

#[tokio::test]
async fn a_push_costs_what_its_one_service_costs_not_what_the_cluster_costs() {
    let f = Fleet::new(Scenario::on_own_emulator("one-service-push"), 1, 24);
    let event = f.push("v1", OFF_SWEEP);
    let before = f.s.calls().len();
    let report = deploy(&f.s, &deploy_config(&f.cluster, Discovery::Index), &event).await;
    assert_eq!(deployed(&report), ["svc-0"], "{report:?}");
    // Found by the index, read again, then the rollout's own calls: no ListServices, and one
    // DescribeServices for the one service, not one per 10 of the cluster's 25.
    assert_eq!(
        calls_since(&f.s, before),
        [
            "GetResources",
            "DescribeServices",
            "BatchGetImage",
            "DescribeTaskDefinition",
            "RegisterTaskDefinition",
            "UpdateService"
        ]
    );

    // The same push with the scan lists and describes all 25 (and the rollout is done already).
    let before = f.s.calls().len();
    let again = deploy(&f.s, &deploy_config(&f.cluster, Discovery::Scan), &event).await;
    assert!(deployed(&again).is_empty(), "{again:?}");
    let scan = calls_since(&f.s, before);
    assert_eq!(scan.iter().filter(|op| *op == "ListServices").count(), 1, "{scan:?}");
    assert_eq!(scan.iter().filter(|op| *op == "DescribeServices").count(), 3, "{scan:?}");
    assert!(!scan.contains(&"GetResources".to_owned()), "{scan:?}");
}

#[tokio::test]
async fn a_service_that_opts_in_is_deployed_by_the_next_push_and_one_that_opts_out_is_not_touched() {
    let f = Fleet::new(Scenario::new("opt-in-out"), 1, 0);
    let newcomer = f.s.model_task_definition("newcomer", &f.repo);
    f.s.service(ServiceSpec { cluster: &f.cluster, name: "newcomer", task_definition: &newcomer, tags: vec![] });
    let config = deploy_config(&f.cluster, Discovery::Index);

    let report = deploy(&f.s, &config, &f.push("v1", OFF_SWEEP)).await;
    assert_eq!(deployed(&report), ["svc-0"], "{report:?}");
    assert_eq!(f.s.describe_service(&f.cluster, "newcomer")["taskDefinition"], json!(newcomer));

    // The newcomer opts in, the first service opts out.
    let newcomer_arn = f.s.describe_service(&f.cluster, "newcomer")["serviceArn"].clone();
    let leaver = f.s.describe_service(&f.cluster, "svc-0");
    f.s.boto(
        "ecs",
        "tag_resource",
        json!({"resourceArn": newcomer_arn, "tags": [{"key": "rollgate:repository", "value": f.repo}]}),
    );
    f.s.boto("ecs", "untag_resource", json!({"resourceArn": leaver["serviceArn"], "tagKeys": ["rollgate:repository"]}));

    let report = deploy(&f.s, &config, &f.push("v2", OFF_SWEEP + 60)).await;
    assert_eq!(deployed(&report), ["newcomer"], "{report:?}");
    assert_ne!(f.s.describe_service(&f.cluster, "newcomer")["taskDefinition"], json!(newcomer));
    assert_eq!(f.s.describe_service(&f.cluster, "svc-0")["taskDefinition"], leaver["taskDefinition"], "opted out");
}

#[tokio::test]
async fn a_stale_index_never_deploys_to_a_service_that_opted_out_moved_away_or_was_deleted() {
    let s = Scenario::on_own_emulator("stale-index");
    let t0 = OFF_SWEEP;
    s.em.set_clock(Some(t0));
    let f = Fleet::new(s, 4, 0);
    // Long after the services were made, the index has them all.
    f.s.em.set_clock(Some(t0 + 3_600));
    f.s.em.set_tagging_lag(600);
    assert_eq!(indexed_services(&f.s, &f.repo).len(), 4);

    let described = |name: &str| f.s.describe_service(&f.cluster, name);
    let (leaver, mover, deleted) = (described("svc-1"), described("svc-2"), described("svc-3"));
    f.s.boto("ecs", "untag_resource", json!({"resourceArn": leaver["serviceArn"], "tagKeys": ["rollgate:repository"]}));
    f.s.boto("ecs", "tag_resource", json!({"resourceArn": mover["serviceArn"], "tags": [{"key": "rollgate:repository", "value": "elsewhere/model"}]}));
    f.s.boto("ecs", "update_service", json!({"cluster": f.cluster, "service": "svc-3", "desiredCount": 0}));
    f.s.boto("ecs", "delete_service", json!({"cluster": f.cluster, "service": "svc-3"}));

    // The index still lists all four (the test fails here if the emulator has no lag).
    f.s.em.set_clock(Some(t0 + 3_660));
    assert_eq!(indexed_services(&f.s, &f.repo).len(), 4, "the index is stale");
    let event = f.push("v1", t0 + 3_660);
    let before = f.s.calls().len();
    let report = deploy(&f.s, &deploy_config(&f.cluster, Discovery::Index), &event).await;
    f.s.em.set_clock(None);

    assert_eq!(deployed(&report), ["svc-0"], "{report:?}");
    for (name, was) in [("svc-1", &leaver), ("svc-2", &mover)] {
        assert_eq!(described(name)["taskDefinition"], was["taskDefinition"], "{name} untouched");
    }
    let writes: Vec<String> =
        calls_since(&f.s, before).into_iter().filter(|op| support::emulator::is_write(op)).collect();
    assert_eq!(writes, ["RegisterTaskDefinition", "UpdateService"], "one rollout, nothing else written");
    // One revision registered, for svc-0, in the family all four share.
    assert_eq!(revisions(&f.s, &f.base), 2);
    assert_eq!(deleted["status"], "ACTIVE", "svc-3 was live before it was deleted");
}

#[tokio::test]
async fn a_service_that_opted_in_before_the_index_caught_up_is_deployed_by_the_reconciler() {
    let s = Scenario::on_own_emulator("late-opt-in");
    let t0 = OFF_SWEEP;
    s.em.set_clock(Some(t0));
    let f = Fleet::new(s, 0, 1);
    f.s.em.set_tagging_lag(600);
    f.s.em.set_clock(Some(t0 + 3_600));
    let arn = f.s.describe_service(&f.cluster, "svc-0")["serviceArn"].clone();
    f.s.boto(
        "ecs",
        "tag_resource",
        json!({"resourceArn": arn, "tags": [{"key": "rollgate:repository", "value": f.repo}]}),
    );
    let event = f.push("v1", t0 + 3_610);
    let config = deploy_config(&f.cluster, Discovery::Index);

    // The push comes before the index lists the newcomer: nothing is deployed...
    assert!(indexed_services(&f.s, &f.repo).is_empty(), "the index has not caught up");
    let report = deploy(&f.s, &config, &event).await;
    assert!(report.services.is_empty(), "{report:?}");
    // ...and the reconciler's full scan, its next run (ReconcileSchedule, 5 minutes), deploys it.
    f.s.em.set_clock(Some(t0 + 3_900));
    let report = reconcile(&f.s, &config, t0 + 3_900 + 900).await;
    f.s.em.set_clock(None);
    assert_eq!(deployed(&report), ["svc-0"], "{report:?}");
}

#[tokio::test]
async fn a_gate_sweep_with_nothing_in_flight_costs_two_calls_and_one_with_a_rollout_reads_only_it() {
    let f = Fleet::new(Scenario::on_own_emulator("sweep-cost"), 1, 24);
    let before = f.s.calls().len();
    let report = gate_tick(&f.s, &f.cluster, OFF_SWEEP).await;
    assert_eq!(report.sweep, Some(Sweep::InFlight));
    assert_eq!(calls_since(&f.s, before), ["GetResources", "GetResources"], "{report:?}");

    deploy(&f.s, &deploy_config(&f.cluster, Discovery::Index), &f.push("v1", OFF_SWEEP)).await;
    let before = f.s.calls().len();
    let report = gate_tick(&f.s, &f.cluster, OFF_SWEEP + 60).await;
    let reads: Vec<String> =
        calls_since(&f.s, before).into_iter().filter(|op| !support::emulator::is_write(op)).collect();
    let count = |op: &str| reads.iter().filter(|r| *r == op).count();
    // The index, one DescribeServices for the one service (not 3 for the cluster's 25), and that
    // service's own reads: its new revision and, with no last known good yet, the revision ECS
    // still runs beside it, and ECS's deployment history (rollgate_core::history).
    assert_eq!((count("GetResources"), count("DescribeServices"), count("ListServices")), (2, 1, 0), "{reads:?}");
    assert_eq!(count("DescribeTaskDefinition"), 2, "{reads:?}");
    assert_eq!(report.rollouts.len(), 1, "{report:?}");

    // The next tick reads the same, and writes nothing: what the rollout's state costs, not the
    // cluster's 25 services.
    let before = f.s.calls().len();
    gate_tick(&f.s, &f.cluster, OFF_SWEEP + 120).await;
    let steady = calls_since(&f.s, before);
    assert_eq!(steady, reads, "{steady:?}");

    // Once every 15 minutes (the one cluster's turn of the full sweep) the run also covers
    // every service of the cluster.
    let full = OFF_SWEEP - 7 * 60 + 900;
    let before = f.s.calls().len();
    let report = gate_tick(&f.s, &f.cluster, full).await;
    assert_eq!((report.sweep, report.clusters_in_turn.clone()), (Some(Sweep::InFlight), Some(vec![f.cluster.clone()])));
    let calls = calls_since(&f.s, before);
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!((count("GetResources"), count("ListServices"), count("DescribeServices")), (2, 1, 3), "{calls:?}");
}

#[tokio::test]
async fn a_rollout_the_index_lists_late_is_judged_once_it_shows() {
    let s = Scenario::on_own_emulator("late-rollout");
    let t0 = OFF_SWEEP;
    s.em.set_clock(Some(t0));
    let f = Fleet::new(s, 1, 0);
    f.s.em.set_tagging_lag(120);
    f.s.em.set_clock(Some(t0 + 600));
    let report = deploy(&f.s, &deploy_config(&f.cluster, Discovery::Index), &f.push("v1", t0 + 600)).await;
    let revision = match &report.services[0].outcome {
        Outcome::Deployed { revision, .. } => revision.clone(),
        other => panic!("{other:?}"),
    };
    // Inside the lag the sweep does not see the new revision: nothing is read or written for it.
    f.s.em.set_clock(Some(t0 + 660));
    let report = gate_tick(&f.s, &f.cluster, t0 + 660).await;
    assert!(report.rollouts.is_empty(), "{report:?}");
    assert_eq!(f.s.revision_state(&revision), "deploying");
    // Once the index shows it, the next sweep announces it.
    f.s.em.set_clock(Some(t0 + 780));
    let report = gate_tick(&f.s, &f.cluster, t0 + 780).await;
    f.s.em.set_clock(None);
    assert_eq!(report.rollouts.len(), 1, "{report:?}");
    assert_eq!(f.s.revision_state(&revision), "verifying");
}

#[tokio::test]
async fn a_deleted_service_the_index_still_reaches_through_its_rollout_is_left_alone() {
    let s = Scenario::on_own_emulator("deleted-in-flight");
    let t0 = OFF_SWEEP;
    s.em.set_clock(Some(t0));
    let f = Fleet::new(s, 1, 0);
    f.s.em.set_clock(Some(t0 + 600));
    deploy(&f.s, &deploy_config(&f.cluster, Discovery::Index), &f.push("v1", t0 + 600)).await;
    // The service is deleted with its rollout in flight: the revision stays `deploying`, so
    // the index keeps naming the service through it.
    f.s.boto("ecs", "update_service", json!({"cluster": f.cluster, "service": "svc-0", "desiredCount": 0}));
    f.s.boto("ecs", "delete_service", json!({"cluster": f.cluster, "service": "svc-0"}));
    f.s.em.set_clock(Some(t0 + 900 + 420));
    let before = f.s.calls().len();
    let report = gate_tick(&f.s, &f.cluster, t0 + 900 + 420).await;
    f.s.em.set_clock(None);
    assert!(report.rollouts.is_empty() && report.failures.is_empty(), "{report:?}");
    let calls = calls_since(&f.s, before);
    assert!(calls.contains(&"DescribeServices".to_owned()), "reached through the index: {calls:?}");
    let writes: Vec<&String> = calls.iter().filter(|op| support::emulator::is_write(op)).collect();
    assert!(writes.is_empty(), "nothing announced, rolled back or tagged: {writes:?}");
}

/// The rate cap's queue is not AWS being slow: at 1 request a second, four reads started at once
/// take about 4 s, and each still succeeds on its only attempt, whose 2 s timeout runs
/// from when its request leaves the queue (rollgate_aws::pacing). Before, the wait counted
/// toward the attempt, and a push to 100 services at the default 20 a second timed out.
#[tokio::test]
async fn a_request_waiting_for_its_turn_under_the_rate_cap_does_not_time_out() {
    use rollgate_aws::ecs::ServiceDirectory;
    let s = Scenario::new("paced-queue");
    let cluster = s.cluster("paced");
    let options = rollgate_aws::AwsOptions {
        max_call_rate: std::num::NonZeroU32::new(1),
        call_timeouts: Some((std::time::Duration::from_secs(10), rollgate_aws::sdk_config::FUNCTION_CALL_TIMEOUTS.1)),
        ..s.aws_options()
    };
    let ecs = Ecs::new(&options.load().await);
    // A first call takes the burst's one token (and any cold start of the emulator's backend).
    ecs.list_services(&cluster).await.expect("a first read");
    let before = s.count_calls("ListServices");
    let answers = futures_util::future::join_all((0..4).map(|_| ecs.list_services(&cluster))).await;
    for answer in &answers {
        assert!(answer.as_ref().is_ok_and(Vec::is_empty), "every read answered: {answers:?}");
    }
    assert_eq!(s.count_calls("ListServices") - before, 4, "one attempt each");
}

/// With `ROLLGATE_RECONCILE_EVERY` three times the schedule's period, each reconciler run
/// lists and reconciles only the clusters whose turn it is: over three runs each of three
/// clusters is reconciled once (its missed push deployed), and the fourth run, the first
/// cluster's turn again, finds it up to date and writes nothing.
#[tokio::test]
async fn a_reconciliation_spread_over_three_ticks_takes_each_cluster_in_its_turn() {
    let s = Scenario::on_own_emulator("reconcile-turns");
    let t0 = OFF_SWEEP - 7 * 60; // 12:00, a multiple of 15 minutes
    s.em.set_clock(Some(t0));
    let f = Fleet::new(s, 1, 0);
    let mut clusters = vec![f.cluster.clone()];
    for suffix in ["d", "e"] {
        let cluster = f.s.cluster(suffix);
        f.s.service(ServiceSpec {
            cluster: &cluster,
            name: "svc-0",
            task_definition: &f.base,
            tags: vec![("rollgate:repository", f.repo.clone())],
        });
        clusters.push(cluster);
    }
    f.push("v1", t0); // its event never arrives
    let config = DeployConfig {
        clusters: clusters.clone(),
        reconcile: rollgate_core::index::Turns { tick_secs: 300, every_secs: 900 },
        ..deploy_config(&f.cluster, Discovery::Index)
    };
    let mut reconciled = Vec::new();
    for run in 1..=3 {
        let time = t0 + 600 + run * 300;
        f.s.em.set_clock(Some(time));
        let before = f.s.calls().len();
        let report = reconcile(&f.s, &config, time).await;
        let turn = report.clusters_in_turn.clone().expect("a spread reconciliation names its turn");
        assert_eq!(turn.len(), 1, "{report:?}");
        assert_eq!(deployed(&report), ["svc-0"], "{report:?}");
        assert_eq!(report.services.len(), 1, "only the turn's cluster was read: {report:?}");
        let calls = calls_since(&f.s, before);
        assert_eq!(calls.iter().filter(|c| *c == "ListServices").count(), 1, "{calls:?}");
        reconciled.extend(turn);
    }
    reconciled.sort();
    let mut all = clusters.clone();
    all.sort();
    assert_eq!(reconciled, all, "each cluster once");
    for cluster in &clusters {
        let service = f.s.describe_service(cluster, "svc-0");
        assert_ne!(service["taskDefinition"], json!(f.base), "{cluster} was deployed");
    }
    let time = t0 + 600 + 4 * 300;
    f.s.em.set_clock(Some(time));
    let before = f.s.calls().len();
    let report = reconcile(&f.s, &config, time).await;
    f.s.em.set_clock(None);
    assert!(deployed(&report).is_empty(), "{report:?}");
    let writes: Vec<String> =
        calls_since(&f.s, before).into_iter().filter(|op| support::emulator::is_write(op)).collect();
    assert!(writes.is_empty(), "{writes:?}");
}

/// A stack from before `tag:GetResources` was granted: `function`'s template policy without
/// the statements that grant it, registered for its key; the options that use that key.
fn without_tagging_grant(s: &Scenario, function: &str) -> rollgate_aws::AwsOptions {
    let key = s.function_key(function);
    let statements = support::iam::function_statements(function, &s.name);
    let kept: Vec<serde_json::Value> = statements
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| !st["Action"].to_string().contains("tag:GetResources"))
        .cloned()
        .collect();
    assert!(kept.len() < statements.as_array().unwrap().len(), "the template grants {function} tag:GetResources");
    support::iam::register_statements(&s.em.url, &key, function, json!(kept));
    rollgate_aws::AwsOptions { static_credentials: Some((key, "test-secret".to_owned())), ..s.aws_options() }
}

/// An upgrade never stops deploys: where IAM denies `tag:GetResources`, a push scans its
/// clusters and deploys, and a gate run sweeps every service, each after AWS refused the index.
#[tokio::test]
async fn without_the_tagging_grant_a_push_and_a_gate_run_scan_instead() {
    let f = Fleet::new(Scenario::on_own_emulator("no-tagging-grant"), 1, 2);
    let options = without_tagging_grant(&f.s, "deploy");
    let sdk = options.load().await;
    let config = deploy_config(&f.cluster, Discovery::Index);
    let before = f.s.calls().len();
    let report =
        handle(&Aws::new().with_ecs(Ecs::new(&sdk)).with_ecr(Ecr::new(&sdk)), &config, &f.push("v1", OFF_SWEEP))
            .await
            .unwrap_or_else(|e| panic!("deploy failed: {e}"));
    assert_eq!(deployed(&report), ["svc-0"], "{report:?}");
    let calls = calls_since(&f.s, before);
    assert_eq!(&calls[..2], ["GetResources", "ListServices"], "refused, then the scan: {calls:?}");
    let denied = |key: &str| {
        support::iam::decisions(&f.s.em.url, key)
            .into_iter()
            .any(|(action, _, allowed)| action == "tag:GetResources" && !allowed)
    };
    assert!(denied(&f.s.function_key("deploy")), "AWS (the emulator's IAM) refused the index");

    let options = without_tagging_grant(&f.s, "health-gate");
    let report = gate_tick_as(&f.s, &options, &f.cluster, OFF_SWEEP + 60).await;
    assert_eq!(report.sweep, Some(Sweep::Full), "{report:?}");
    assert!(report.failures.is_empty(), "{report:?}");
    assert!(denied(&f.s.function_key("health-gate")));
}
