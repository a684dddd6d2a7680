//! Plans: create, update by attribute, unchanged, shared and refused resources, the new revision, the tag budget.

use super::*;
use crate::infra::app_config::AppConfig;
use crate::infra::desired::{Env, desired};
use crate::{AccountId, Region};

fn env() -> Env {
    Env { account: AccountId::parse("123456789012").unwrap(), region: Region::parse("us-east-1").unwrap() }
}

fn plan_of(want: &[Resource], have: &Observed) -> Plan {
    plan(env().target("sentiment"), want, have, false)
}

const CONFIG: &str = "[app]\nname = \"sentiment\"\n[task]\ncpu = 1024\nmemory = 4096\n[service]\nsubnets = [\"subnet-0123abcd\"]\nsecurity_groups = [\"sg-0123abcd\"]\n";

#[test]
fn empty_account_creates_everything_in_order() {
    let want = desired(&AppConfig::parse(CONFIG).unwrap(), &env());
    let p = plan_of(&want, &Observed::new());
    assert!(p.steps.iter().all(|s| s.change == Change::Create));
    assert_eq!(p.steps.iter().map(|s| s.kind).collect::<Vec<_>>(), Kind::ALL);
    let text = p.render();
    assert!(text.starts_with("Plan for app sentiment in account 123456789012, region us-east-1\n"), "{text}");
    assert!(text.ends_with("9 to create, 0 to update, 0 unchanged\n"), "{text}");
    assert_eq!(p.summary, Summary { create: 9, update: 0, unchanged: 0, conflicts: 0 });
}

/// The revision `up` registers is planned whole before anything is written: the family's
/// first from the configured image, a later one from the live revision's image and ledger
/// (a configuration change the gate verifies), with the app's tags.
#[test]
fn the_new_revision_is_planned_before_anything_is_written() {
    let config = AppConfig::parse(CONFIG).unwrap();
    let want = desired(&config, &env());
    let first = plan_of(&want, &Observed::new());
    let step = first.steps.iter().find(|s| s.kind == Kind::TaskDefinition).unwrap();
    let revision = step.revision.as_ref().expect("a create plans its revision");
    assert_eq!(revision.base, None);
    assert!(revision.image.ends_with("/sentiment:bootstrap"), "{}", revision.image);
    assert_eq!(revision.tags.get(crate::keys::APP).map(String::as_str), Some("sentiment"));
    assert!(first.steps.iter().filter(|s| s.kind != Kind::TaskDefinition).all(|s| s.revision.is_none()));

    let live = "arn:aws:ecs:us-east-1:123456789012:task-definition/sentiment:7";
    let mut have: Observed = want.iter().map(|r| ((r.kind, r.name.clone()), r.attrs.clone())).collect();
    let td = have.get_mut(&(Kind::TaskDefinition, config.family())).unwrap();
    td.insert("arn".into(), Value::text(live));
    td.insert(LIVE_IMAGE.into(), Value::text("123456789012.dkr.ecr.us-east-1.amazonaws.com/sentiment@sha256:ab"));
    td.insert(
        LIVE_TAGS.into(),
        Value::map([
            (crate::keys::DIGEST, "sha256:ab"),
            (crate::keys::STATE, "healthy"),
            (crate::keys::REASON, "old verdict"),
            ("team", "ml"),
        ]),
    );
    have.get_mut(&(Kind::Service, config.service_name())).unwrap().insert(LAST_GOOD.into(), Value::text(live));
    assert!(plan_of(&want, &have).steps.iter().all(|s| s.revision.is_none()), "nothing to register");
    let changed = desired(&AppConfig::parse(&CONFIG.replace("memory = 4096", "memory = 8192")).unwrap(), &env());
    let p = plan_of(&changed, &have);
    let revision = p.steps.iter().find_map(|s| s.revision.as_ref()).expect("an update plans its revision");
    assert_eq!(revision.base.as_ref().map(TaskDefArn::as_str), Some(live));
    assert_eq!(revision.image, "123456789012.dkr.ecr.us-east-1.amazonaws.com/sentiment@sha256:ab");
    let tag = |k: &str| revision.tags.get(k).map(String::as_str);
    assert_eq!(tag(crate::keys::CAUSE), Some("config"), "{:?}", revision.tags);
    assert_eq!(tag(crate::keys::STATE), Some("deploying"), "a new rollout's state");
    assert_eq!(tag(crate::keys::PREVIOUS), Some(live));
    assert_eq!(tag(crate::keys::KNOWN_GOOD), Some(live), "the live revision is the last known good");
    assert_eq!(tag(crate::keys::REASON), None, "the old verdict is not carried");
    assert_eq!(tag("team"), Some("ml"), "the user's tags are");
    assert_eq!(tag(crate::keys::APP), Some("sentiment"));
    let json = serde_json::to_value(&p).unwrap();
    let td = json["steps"].as_array().unwrap().iter().find(|s| s["kind"] == "task-definition").unwrap();
    assert_eq!(td["revision"]["base"], live, "{td}");
}

#[test]
fn identical_state_is_a_noop_and_a_change_is_one_step() {
    let config = AppConfig::parse(CONFIG).unwrap();
    let want = desired(&config, &env());
    let mut have: Observed = want.iter().map(|r| ((r.kind, r.name.clone()), r.attrs.clone())).collect();
    assert!(plan_of(&want, &have).is_noop());

    let changed = AppConfig::parse(&CONFIG.replace("[service]", "[service]\ndesired_count = 5")).unwrap();
    let p = plan_of(&desired(&changed, &env()), &have);
    let changes: Vec<_> = p.changes().collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, Kind::Service);
    assert_eq!(
        changes[0].change,
        Change::Update {
            diffs: vec![AttrDiff { attr: "desired_count".into(), from: Value::text("2"), to: Value::text("5") }]
        }
    );

    // New cpu/memory: a new revision, and the service moves to it.
    have.get_mut(&(Kind::Service, "sentiment".into()))
        .unwrap()
        .insert(LIVE_TASK_DEFINITION.into(), Value::text("sentiment:7"));
    let bigger = AppConfig::parse(&CONFIG.replace("cpu = 1024\nmemory = 4096", "cpu = 2048\nmemory = 8192")).unwrap();
    let p = plan_of(&desired(&bigger, &env()), &have);
    let kinds: Vec<_> = p.changes().map(|s| s.kind).collect();
    assert_eq!(kinds, [Kind::TaskDefinition, Kind::Service]);
    assert!(p.render().contains("task_definition: sentiment:7 -> (the new revision)"), "{}", p.render());
}

/// Values with commas and spaces stay whole: lists and maps are never joined into a string.
#[test]
fn values_with_commas_round_trip_and_compare_equal() {
    let text =
        CONFIG.replace("[service]", "[task.environment]\nMODEL_ARGS = \"--a 1, --b 2\"\nX = \"k=v, y=z\"\n[service]");
    let want = desired(&AppConfig::parse(&text).unwrap(), &env());
    let td = want.iter().find(|r| r.kind == Kind::TaskDefinition).unwrap();
    let env_map = td.attrs["environment"].as_map();
    assert_eq!(env_map["MODEL_ARGS"], "--a 1, --b 2");
    assert_eq!(env_map["X"], "k=v, y=z");
    let have: Observed = want.iter().map(|r| ((r.kind, r.name.clone()), r.attrs.clone())).collect();
    assert!(plan_of(&want, &have).is_noop());
}

/// Diffs are shown in full: a tag change key by key, decoded; a policy as a line diff.
#[test]
fn the_rendered_diff_shows_every_changed_value_in_full() {
    let long = "x".repeat(300);
    let from = Value::map([("rollgate:smoke-body", "base64:eyJ0ZXh0IjogImdyZWF0In0="), ("rollgate:bake", "5m")]);
    let to = Value::map([("rollgate:smoke-body", "base64:eyJ0ZXh0IjogImF3ZnVsIn0="), ("rollgate:bake", long.as_str())]);
    let mut out = String::new();
    render_diff(&mut out, "tags", &from, &to);
    assert!(out.contains(&format!("tags.rollgate:bake: 5m -> {long}\n")), "{out}");
    assert!(
        out.contains("tags.rollgate:smoke-body: \"{\\\"text\\\": \\\"great\\\"}\" (stored as base64) -> \"{\\\"text\\\": \\\"awful\\\"}\" (stored as base64)"),
        "{out}"
    );
    let mut out = String::new();
    render_diff(
        &mut out,
        "inline_policy",
        &Value::Json(serde_json::json!({"Statement": [{"Action": "a"}]})),
        &Value::Json(serde_json::json!({"Statement": [{"Action": "b"}]})),
    );
    assert!(out.contains("inline_policy:\n") && out.contains("  - ") && out.contains("  + "), "{out}");
    assert!(out.contains("\"Action\": \"b\""), "{out}");
}

/// Another app's resources are never taken over; untagged ones only with --adopt.
#[test]
fn resources_that_are_not_this_apps_are_used_or_refused_never_taken_over() {
    let want = desired(&AppConfig::parse(CONFIG).unwrap(), &env());
    let mut have: Observed = want.iter().map(|r| ((r.kind, r.name.clone()), r.attrs.clone())).collect();
    let other = Value::map([(crate::infra::desired::MANAGED_TAG, "true"), (crate::infra::desired::APP_TAG, "other")]);
    for r in &want {
        if matches!(r.kind, Kind::Cluster | Kind::TaskRole) {
            have.get_mut(&(r.kind, r.name.clone())).unwrap().insert("tags".into(), other.clone());
        }
        if r.kind == Kind::Repository {
            have.get_mut(&(r.kind, r.name.clone())).unwrap().insert("tags".into(), Value::map([("team", "x")]));
        }
    }
    let p = plan_of(&want, &have);
    let change = |k: Kind| p.steps.iter().find(|s| s.kind == k).unwrap().change.clone();
    assert_eq!(change(Kind::Cluster), Change::Use { owner: Owner::App("other".into()) });
    assert_eq!(change(Kind::TaskRole), Change::Conflict { owner: Owner::App("other".into()) });
    assert_eq!(change(Kind::Repository), Change::Use { owner: Owner::Untagged });
    assert_eq!(p.conflicts().count(), 1);
    assert!(p.changes().next().is_none(), "nothing of another's is written");
    assert!(p.render().contains("conflict: it exists and belongs to rollgate app other"), "{}", p.render());
    // --adopt takes untagged resources over, never another app's.
    let adopted = plan(env().target("sentiment"), &want, &have, true);
    let change = |k: Kind| adopted.steps.iter().find(|s| s.kind == k).unwrap().change.clone();
    assert!(matches!(change(Kind::Repository), Change::Update { .. }));
    assert_eq!(change(Kind::TaskRole), Change::Conflict { owner: Owner::App("other".into()) });
}

#[test]
fn the_json_plan_carries_where_attributes_and_typed_diffs() {
    let want = desired(&AppConfig::parse(CONFIG).unwrap(), &env());
    let p = plan_of(&want, &Observed::new());
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["target"]["account"], "123456789012");
    assert_eq!(json["target"]["region"], "us-east-1");
    assert_eq!(json["target"]["app"], "sentiment");
    let service = json["steps"].as_array().unwrap().iter().find(|s| s["kind"] == "service").unwrap();
    assert_eq!(service["action"], "create");
    assert_eq!(service["resource"]["attrs"]["subnets"], serde_json::json!(["subnet-0123abcd"]));
    assert_eq!(service["resource"]["attrs"]["tags"]["rollgate:repository"], "sentiment");
    assert_eq!(json["summary"]["create"], 9);
}
