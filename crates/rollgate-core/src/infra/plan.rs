//! Comparing what the config wants with what AWS has: one step per resource.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::desired::{Attrs, Kind, Resource, Target, Value};
use super::spec::Spec;
use crate::TaskDefArn;

/// One attribute that differs: what AWS has (`from`) and what the config wants (`to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttrDiff {
    /// The attribute's name, e.g. `desired_count` or `tags`.
    pub attr: String,
    /// What AWS has ([`Value::Absent`] when it has none).
    pub from: Value,
    /// What the config wants.
    pub to: Value,
}

/// What `up` does to one resource. As JSON, `action`: `create`, `update`, `unchanged`, `use`
/// or `conflict`, with the variant's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Change {
    /// It does not exist: `up` creates it.
    Create,
    /// It is this app's (or adopted) and differs: `up` updates the attributes that differ.
    Update {
        /// Every attribute that differs, in attribute-name order (the service's
        /// `task_definition` last when a new revision is registered).
        diffs: Vec<AttrDiff>,
    },
    /// It is this app's (or adopted) and matches the config.
    Unchanged,
    /// It exists and is not this app's, and it can be shared (a cluster, a repository, a log
    /// group): used as it is, never written, and never deleted by this app's `down`.
    Use {
        /// Who it belongs to.
        owner: Owner,
    },
    /// It exists and is not this app's, and it cannot be shared (a role, a build project, the
    /// task family, the service): `plan` and `up` refuse before writing anything.
    Conflict {
        /// Who it belongs to.
        owner: Owner,
    },
}

/// Who a resource that is not this app's belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "owner", content = "app", rename_all = "kebab-case")]
pub enum Owner {
    /// Tagged `rollgate:app=<app>` for another app.
    App(String),
    /// Not tagged by rollgate (created by hand, or by another tool).
    Untagged,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::App(app) => write!(f, "rollgate app {app}"),
            Owner::Untagged => f.write_str("no rollgate app (untagged)"),
        }
    }
}

/// Whether `rollgate up` may use a resource of this kind that belongs to someone else as it is.
pub fn shareable(kind: Kind) -> bool {
    matches!(kind, Kind::Repository | Kind::LogGroup | Kind::Cluster)
}

/// Who owns `have`, if it is not `app`'s.
pub fn foreign_owner(have: &Attrs, app: &str) -> Option<Owner> {
    let tags = have.get("tags").map(Value::as_map).unwrap_or_default();
    match tags.get(super::desired::APP_TAG) {
        _ if super::desired::app_owns(&tags, app) => None,
        // Another app's name, even without the managed tag: never "untagged", never adopted.
        Some(a) if a != app => Some(Owner::App(a.clone())),
        _ => Some(Owner::Untagged),
    }
}

/// Checks that every resource `up` would tag stays within AWS's 50 tags once its existing
/// tags (`have`) and the desired ones are merged, as TagResource merges them; the ECS service
/// keeps room for the health gate's ledger too ([`crate::tags::check_service_room`]). An
/// adopted resource that already carries many tags of its owner's is refused here, before
/// any write, instead of failing half-way through `up`.
///
/// # Errors
/// The first resource over the budget, named by kind and name, with the count.
pub fn check_tag_budget(plan: &Plan, have: &Observed) -> Result<(), crate::tags::TagError> {
    // Only what `up` writes: a resource used as it is, or left alone, is not tagged.
    let written = plan.steps.iter().filter(|st| matches!(st.change, Change::Create | Change::Update { .. }));
    for r in written.map(|st| &st.resource) {
        let Some(desired) = r.attrs.get("tags").map(Value::as_map) else { continue };
        // What the resource carries now: every tag where the adapter read them all.
        let observed = have.get(&(r.kind, r.name.clone()));
        let before =
            observed.and_then(|a| a.get(ALL_TAGS).or_else(|| a.get("tags"))).map(Value::as_map).unwrap_or_default();
        let write = crate::tags::TagWrite::set(desired.into_iter().collect());
        let name = format!("{} {}", r.kind.label(), r.name);
        if r.kind == Kind::Service {
            crate::tags::check_service_room(&name, &write.apply(&before))?;
        } else {
            crate::tags::check_budget(&name, &before, &write)?;
        }
    }
    // A new revision is tagged whole when it is registered: the ledger it carries over and the
    // app's tags.
    for (step, revision) in plan.steps.iter().filter_map(|st| st.revision.as_ref().map(|r| (st, r))) {
        let write = crate::tags::TagWrite::set(revision.tags.clone().into_iter().collect());
        crate::tags::check_budget(
            &format!("the new {} revision of {}", step.kind.label(), step.name),
            &crate::Tags::new(),
            &write,
        )?;
    }
    Ok(())
}

/// One resource's step. As JSON: `kind`, `name`, `action` (`create`, `update`, `unchanged`),
/// `diffs` (updates only), and `resource` with every desired attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The resource's kind.
    pub kind: Kind,
    /// The resource's name in AWS.
    pub name: String,
    /// What `up` does to it (flattened into the step's JSON).
    #[serde(flatten)]
    pub change: Change,
    /// The resource as the config wants it.
    pub resource: Resource,
    /// For the task family's create or update: the revision `up` registers, all of it known
    /// before anything is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<NewRevision>,
}

/// The task-definition revision `up` registers. As JSON: `family`, `base` (omitted for the
/// family's first), `image`, `tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRevision {
    /// The family, e.g. `sentiment`.
    pub family: String,
    /// The live revision it copies its image and ledger from; `None` for the family's first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<TaskDefArn>,
    /// The container's image: the live revision's (rollgate's deploys own it), else the
    /// configured initial image.
    pub image: String,
    /// Every tag of the revision: the live revision's ledger as a configuration change carries
    /// it ([`crate::ledger::config_revision_tags`]), then the app's tags.
    pub tags: crate::Tags,
}

/// What `up` would do, and where: the account, region and app it was planned against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The account, region and app the plan was made for.
    pub target: Target,
    /// One step per desired resource, in dependency order.
    pub steps: Vec<Step>,
    /// The steps counted by change.
    pub summary: Summary,
}

/// How many steps create, update or leave alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Summary {
    /// Steps that create.
    pub create: usize,
    /// Steps that update.
    pub update: usize,
    /// Unchanged, or used as they are (not this app's).
    pub unchanged: usize,
    /// Resources that exist, are not this app's and cannot be shared: `up` refuses.
    pub conflicts: usize,
}

/// What AWS has: the attributes of each resource that exists, by kind and name.
pub type Observed = BTreeMap<(Kind, String), Attrs>;

/// Every tag a resource carries, the owner's included (observed only; never compared): what
/// [`check_tag_budget`] counts.
pub const ALL_TAGS: &str = "all_tags";

/// The attribute that points a service at its revision (observed only).
pub const LIVE_TASK_DEFINITION: &str = "task_definition";

/// The service's `rollgate:last-good` (observed only).
pub const LAST_GOOD: &str = "last_good";

/// The live revision's image of the app's container (observed only): what a new revision keeps.
pub const LIVE_IMAGE: &str = "image";

/// Every tag of the live revision (observed only): the ledger a new revision carries over.
pub const LIVE_TAGS: &str = "live_tags";

/// The revision a create or update of the task family registers, from what AWS has: the live
/// revision's image and ledger, and the service's last known good.
fn new_revision(r: &Resource, have: Option<&Attrs>, observed: &Observed) -> Option<NewRevision> {
    let Spec::TaskDefinition(spec) = &r.spec else { return None };
    let observed_text =
        |a: Option<&Attrs>, key: &str| a.and_then(|a| a.get(key)).and_then(Value::as_opt).map(str::to_owned);
    let base = observed_text(have, "arn").and_then(|a| TaskDefArn::parse(&a).ok());
    let service = observed.iter().find(|((k, _), _)| *k == Kind::Service).map(|(_, a)| a);
    let last_good = observed_text(service, LAST_GOOD);
    let (image, mut tags) = match &base {
        Some(live) => (
            observed_text(have, LIVE_IMAGE).unwrap_or_else(|| spec.initial_image.clone()),
            crate::ledger::config_revision_tags(
                live,
                &have.and_then(|a| a.get(LIVE_TAGS)).map(Value::as_map).unwrap_or_default(),
                last_good.as_deref(),
            ),
        ),
        None => (spec.initial_image.clone(), crate::Tags::new()),
    };
    tags.extend(spec.tags.clone());
    Some(NewRevision { family: r.name.clone(), base, image, tags })
}

/// Compares; the service's observed revision is the one it runs, so after a rollback the
/// config is compared with what is live, not with the newest registered revision.
///
/// A resource that exists but is not this app's is never taken over: another app's is used
/// as it is when it can be shared, and is a conflict otherwise. An untagged one is the same,
/// unless `adopt` (`rollgate up --adopt`): then rollgate tags it and manages it from then on.
pub fn plan(target: Target, desired: &[Resource], observed: &Observed, adopt: bool) -> Plan {
    let steps: Vec<Step> = desired
        .iter()
        .map(|r| {
            let have = observed.get(&(r.kind, r.name.clone()));
            let change = match have.and_then(|h| foreign_owner(h, &target.app)) {
                Some(Owner::Untagged) if adopt => diff(r, have),
                Some(owner) if shareable(r.kind) => Change::Use { owner },
                Some(owner) => Change::Conflict { owner },
                None => diff(r, have),
            };
            let revision = match change {
                Change::Create | Change::Update { .. } => new_revision(r, have, observed),
                _ => None,
            };
            Step { kind: r.kind, name: r.name.clone(), change, resource: r.clone(), revision }
        })
        .collect();
    finish(target, steps, observed)
}

/// Create, or update by attribute, or unchanged.
fn diff(r: &Resource, have: Option<&Attrs>) -> Change {
    match have {
        None => Change::Create,
        Some(have) => {
            let diffs: Vec<AttrDiff> = r
                .attrs
                .iter()
                .filter(|(k, want)| have.get(*k).unwrap_or(&Value::Absent) != *want)
                .map(|(k, want)| AttrDiff {
                    attr: k.clone(),
                    from: have.get(k).cloned().unwrap_or(Value::Absent),
                    to: want.clone(),
                })
                .collect();
            if diffs.is_empty() { Change::Unchanged } else { Change::Update { diffs } }
        }
    }
}

fn finish(target: Target, mut steps: Vec<Step>, observed: &Observed) -> Plan {
    // A new task-definition revision means the service moves to it.
    let new_revision =
        steps.iter().any(|s| s.kind == Kind::TaskDefinition && matches!(s.change, Change::Update { .. }));
    if new_revision && let Some(service) = steps.iter_mut().find(|s| s.kind == Kind::Service) {
        let live = observed
            .get(&(Kind::Service, service.name.clone()))
            .and_then(|a| a.get(LIVE_TASK_DEFINITION))
            .cloned()
            .unwrap_or(Value::Absent);
        let diff = AttrDiff { attr: LIVE_TASK_DEFINITION.into(), from: live, to: Value::text("(the new revision)") };
        match &mut service.change {
            Change::Update { diffs } => diffs.push(diff),
            change @ Change::Unchanged => *change = Change::Update { diffs: vec![diff] },
            Change::Create | Change::Use { .. } | Change::Conflict { .. } => {}
        }
    }
    let summary = steps.iter().fold(Summary::default(), |mut n, s| {
        match s.change {
            Change::Create => n.create += 1,
            Change::Update { .. } => n.update += 1,
            Change::Unchanged | Change::Use { .. } => n.unchanged += 1,
            Change::Conflict { .. } => n.conflicts += 1,
        }
        n
    });
    Plan { target, steps, summary }
}

impl Plan {
    /// Steps that write.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| matches!(s.change, Change::Create | Change::Update { .. }))
    }

    /// Steps `up` refuses to carry out: resources of someone else's it would have to take over.
    pub fn conflicts(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| matches!(s.change, Change::Conflict { .. }))
    }

    /// Whether no step writes. Conflicts write nothing, so a plan with only conflicts is a no-op
    /// too: check [`Plan::conflicts`] as well.
    pub fn is_noop(&self) -> bool {
        self.changes().next().is_none()
    }

    /// Human-readable plan: where, one line per resource, then every changed attribute in
    /// full: maps key by key, multi-line text and JSON as an indented line diff, and
    /// `base64:` tag values decoded. Nothing is truncated.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Plan for {}", self.target);
        for step in &self.steps {
            let (mark, verb) = match &step.change {
                Change::Create => ('+', "create".to_owned()),
                Change::Update { .. } => ('~', "update".to_owned()),
                Change::Unchanged => ('=', "unchanged".to_owned()),
                Change::Use { owner } => ('=', format!("use as it is: it belongs to {owner}")),
                Change::Conflict { owner } => (
                    '!',
                    format!(
                        "conflict: it exists and belongs to {owner}; rename it in rollgate.toml{}",
                        if *owner == Owner::Untagged { ", or pass --adopt to manage it" } else { "" }
                    ),
                ),
            };
            let _ = writeln!(out, "{mark} {:<20} {:<36} {verb}", step.kind.label(), step.name);
            match &step.change {
                Change::Update { diffs } => {
                    for d in diffs {
                        render_diff(&mut out, &d.attr, &d.from, &d.to);
                    }
                }
                Change::Create => {
                    for (k, v) in &step.resource.attrs {
                        render_diff(&mut out, k, &Value::Absent, v);
                    }
                }
                Change::Unchanged | Change::Use { .. } | Change::Conflict { .. } => {}
            }
        }
        let Summary { create, update, unchanged, conflicts } = self.summary;
        let _ = write!(out, "{create} to create, {update} to update, {unchanged} unchanged");
        let _ = if conflicts > 0 { writeln!(out, ", {conflicts} in conflict") } else { writeln!(out) };
        out
    }
}

const INDENT: &str = "      ";

/// One attribute's change, in full.
fn render_diff(out: &mut String, attr: &str, from: &Value, to: &Value) {
    match (from, to) {
        (Value::Map(_) | Value::Absent, Value::Map(_)) | (Value::Map(_), Value::Absent) => {
            let (a, b) = (from.as_map(), to.as_map());
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (x, y) = (a.get(k), b.get(k));
                if x == y {
                    continue;
                }
                let show = |v: Option<&String>| v.map_or_else(|| "(none)".to_owned(), |v| shown(v));
                let _ = writeln!(out, "{INDENT}{attr}.{k}: {} -> {}", show(x), show(y));
            }
        }
        _ if is_block(from) || is_block(to) => {
            let _ = writeln!(out, "{INDENT}{attr}:");
            let (a, b) = (block(from), block(to));
            let diff = similar::TextDiff::from_lines(&a, &b);
            for change in diff.iter_all_changes() {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                let _ = writeln!(out, "{INDENT}  {sign} {}", change.value().trim_end_matches('\n'));
            }
        }
        _ => {
            let _ = writeln!(out, "{INDENT}{attr}: {from} -> {to}");
        }
    }
}

/// Values shown as an indented block: JSON documents and multi-line text.
fn is_block(v: &Value) -> bool {
    matches!(v, Value::Json(_)) || v.as_text().contains('\n')
}

fn block(v: &Value) -> String {
    let mut text = match v {
        Value::Json(j) => serde_json::to_string_pretty(j).unwrap_or_default(),
        Value::Absent => String::new(),
        other => other.as_text().to_owned(),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// A tag value as people read it: `base64:` values decoded, marked as such.
fn shown(v: &str) -> String {
    match crate::tags::decode("tag", v) {
        Ok(decoded) if decoded != v => format!("{decoded:?} (stored as base64)"),
        _ if v.is_empty() => "\"\"".to_owned(),
        // One line per value: newlines and other control characters are shown escaped.
        _ if v.chars().any(char::is_control) => format!("{v:?}"),
        _ => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
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
        let bigger =
            AppConfig::parse(&CONFIG.replace("cpu = 1024\nmemory = 4096", "cpu = 2048\nmemory = 8192")).unwrap();
        let p = plan_of(&desired(&bigger, &env()), &have);
        let kinds: Vec<_> = p.changes().map(|s| s.kind).collect();
        assert_eq!(kinds, [Kind::TaskDefinition, Kind::Service]);
        assert!(p.render().contains("task_definition: sentiment:7 -> (the new revision)"), "{}", p.render());
    }

    /// Values with commas and spaces stay whole: lists and maps are never joined into a string.
    #[test]
    fn values_with_commas_round_trip_and_compare_equal() {
        let text = CONFIG
            .replace("[service]", "[task.environment]\nMODEL_ARGS = \"--a 1, --b 2\"\nX = \"k=v, y=z\"\n[service]");
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
        let to =
            Value::map([("rollgate:smoke-body", "base64:eyJ0ZXh0IjogImF3ZnVsIn0="), ("rollgate:bake", long.as_str())]);
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
        let other =
            Value::map([(crate::infra::desired::MANAGED_TAG, "true"), (crate::infra::desired::APP_TAG, "other")]);
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
}
