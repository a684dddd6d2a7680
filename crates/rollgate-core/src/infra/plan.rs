//! Comparing what the config wants with what AWS has: one step per resource.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::desired::{Attrs, Kind, Resource};

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttrDiff {
    pub attr: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Change {
    Create,
    Update { diffs: Vec<AttrDiff> },
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub kind: Kind,
    pub name: String,
    #[serde(flatten)]
    pub change: Change,
    #[serde(skip)]
    pub resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

/// What AWS has: the attributes of each resource that exists, by kind and name.
pub type Observed = BTreeMap<(Kind, String), Attrs>;

/// The attribute that points a service at its revision (observed only).
pub const LIVE_TASK_DEFINITION: &str = "task_definition";

pub fn plan(desired: &[Resource], observed: &Observed) -> Plan {
    let mut steps: Vec<Step> = desired
        .iter()
        .map(|r| {
            let change = match observed.get(&(r.kind, r.name.clone())) {
                None => Change::Create,
                Some(have) => {
                    let diffs: Vec<AttrDiff> = r
                        .attrs
                        .iter()
                        .filter(|(k, want)| have.get(*k) != Some(*want))
                        .map(|(k, want)| AttrDiff {
                            attr: k.clone(),
                            from: have.get(k).cloned().unwrap_or_default(),
                            to: want.clone(),
                        })
                        .collect();
                    if diffs.is_empty() { Change::Unchanged } else { Change::Update { diffs } }
                }
            };
            Step { kind: r.kind, name: r.name.clone(), change, resource: r.clone() }
        })
        .collect();
    // A new task-definition revision means the service moves to it.
    let new_revision =
        steps.iter().any(|s| s.kind == Kind::TaskDefinition && matches!(s.change, Change::Update { .. }));
    if new_revision && let Some(service) = steps.iter_mut().find(|s| s.kind == Kind::Service) {
        let live = observed
            .get(&(Kind::Service, service.name.clone()))
            .and_then(|a| a.get(LIVE_TASK_DEFINITION))
            .cloned()
            .unwrap_or_default();
        let diff = AttrDiff { attr: LIVE_TASK_DEFINITION.into(), from: live, to: "(the new revision)".into() };
        match &mut service.change {
            Change::Update { diffs } => diffs.push(diff),
            change @ Change::Unchanged => *change = Change::Update { diffs: vec![diff] },
            Change::Create => {}
        }
    }
    Plan { steps }
}

impl Plan {
    /// Steps that write.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.change != Change::Unchanged)
    }

    pub fn is_noop(&self) -> bool {
        self.changes().next().is_none()
    }

    /// Human-readable plan: one line per resource, a diff line per changed attribute.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            let (mark, verb) = match &step.change {
                Change::Create => ('+', "create"),
                Change::Update { .. } => ('~', "update"),
                Change::Unchanged => ('=', "unchanged"),
            };
            let _ = writeln!(out, "{mark} {:<20} {:<36} {verb}", step.kind.label(), step.name);
            match &step.change {
                Change::Update { diffs } => {
                    for d in diffs {
                        let _ = writeln!(out, "      {}: {} -> {}", d.attr, shorten(&d.from), shorten(&d.to));
                    }
                }
                Change::Create => {
                    for (k, v) in &step.resource.attrs {
                        let _ = writeln!(out, "      {k}: {}", shorten(v));
                    }
                }
                Change::Unchanged => {}
            }
        }
        let (create, update) = self.steps.iter().fold((0, 0), |(c, u), s| match s.change {
            Change::Create => (c + 1, u),
            Change::Update { .. } => (c, u + 1),
            Change::Unchanged => (c, u),
        });
        let _ =
            writeln!(out, "{create} to create, {update} to update, {} unchanged", self.steps.len() - create - update);
        out
    }
}

fn shorten(v: &str) -> String {
    if v.is_empty() {
        return "(none)".into();
    }
    if v.chars().count() > 100 {
        format!("{}… ({} chars)", v.chars().take(97).collect::<String>(), v.len())
    } else {
        v.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::config::AppConfig;
    use crate::infra::desired::{Env, desired};
    use crate::{AccountId, Region};

    fn env() -> Env {
        Env { account: AccountId::parse("123456789012").unwrap(), region: Region::parse("us-east-1").unwrap() }
    }

    const CONFIG: &str = "[app]\nname = \"sentiment\"\n[task]\ncpu = 1024\nmemory = 4096\n[service]\nsubnets = [\"subnet-1\"]\nsecurity_groups = [\"sg-1\"]\n";

    #[test]
    fn empty_account_creates_everything_in_order() {
        let want = desired(&AppConfig::parse(CONFIG).unwrap(), &env());
        let p = plan(&want, &Observed::new());
        assert!(p.steps.iter().all(|s| s.change == Change::Create));
        assert_eq!(p.steps.iter().map(|s| s.kind).collect::<Vec<_>>(), Kind::ALL);
        assert!(p.render().ends_with("9 to create, 0 to update, 0 unchanged\n"), "{}", p.render());
    }

    #[test]
    fn identical_state_is_a_noop_and_a_change_is_one_step() {
        let config = AppConfig::parse(CONFIG).unwrap();
        let want = desired(&config, &env());
        let mut have: Observed = want.iter().map(|r| ((r.kind, r.name.clone()), r.attrs.clone())).collect();
        assert!(plan(&want, &have).is_noop());

        let changed = AppConfig::parse(&CONFIG.replace("[service]", "[service]\ndesired_count = 5")).unwrap();
        let p = plan(&desired(&changed, &env()), &have);
        let changes: Vec<_> = p.changes().collect();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, Kind::Service);
        assert_eq!(
            changes[0].change,
            Change::Update { diffs: vec![AttrDiff { attr: "desired_count".into(), from: "2".into(), to: "5".into() }] }
        );

        // New cpu/memory: a new revision, and the service moves to it.
        have.get_mut(&(Kind::Service, "sentiment".into()))
            .unwrap()
            .insert(LIVE_TASK_DEFINITION.into(), "sentiment:7".into());
        let bigger =
            AppConfig::parse(&CONFIG.replace("cpu = 1024\nmemory = 4096", "cpu = 2048\nmemory = 8192")).unwrap();
        let p = plan(&desired(&bigger, &env()), &have);
        let kinds: Vec<_> = p.changes().map(|s| s.kind).collect();
        assert_eq!(kinds, [Kind::TaskDefinition, Kind::Service]);
        assert!(p.render().contains("task_definition: sentiment:7 -> (the new revision)"), "{}", p.render());
    }
}
