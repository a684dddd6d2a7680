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
mod tests;
