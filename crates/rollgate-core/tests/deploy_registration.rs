//! How a push gets its revision when an earlier attempt may have registered one
//! (rollgate_core::registration).

#[path = "deploy/common.rs"]
mod common;

use common::*;

/// An earlier attempt's revision (a lost RegisterTaskDefinition answer) is found wherever it
/// sits above the live revision, and never taken for another push's revision, a configuration
/// change or the gate's copy.
#[test]
fn an_earlier_attempts_revision_is_reused_or_looked_for() {
    use rollgate_core::registration::{Registration, earlier_attempt, registration};
    let p = push("ecr-push.json");
    let svc = service(&[]);
    let cur = current(&[("model", &model_image("v0"))], &[]);
    let Decision::Rollout(plan) = plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap() else {
        panic!("expected a rollout");
    };
    let marker = rollgate_core::ledger::rollout_marker(&plan.tags);
    let revision = |number: u32, extra: &[(&str, &str)], drop: &[&str]| {
        let mut t: Tags = plan.tags.iter().filter(|&(k, _)| !drop.contains(&k.as_str())).cloned().collect();
        t.extend(tags(extra));
        TaskDefSummary { arn: taskdef_arn(number), tags: t, ..current(&[], &[]) }
    };
    let other_base = taskdef_arn(2).to_string();
    let cases: Vec<(&str, TaskDefSummary, Registration)> = vec![
        (
            "the latest is the live revision",
            TaskDefSummary { arn: taskdef_arn(3), ..current(&[], &[]) },
            Registration::Register,
        ),
        ("the latest is this push's, from this base", revision(4, &[], &[]), Registration::Reuse(taskdef_arn(4))),
        ("three revisions up, this push's", revision(6, &[], &[]), Registration::Reuse(taskdef_arn(6))),
        (
            "the latest is this push's, from another base (ECS may have run it)",
            revision(4, &[(keys::PREVIOUS, &other_base)], &[]),
            Registration::Reuse(taskdef_arn(4)),
        ),
        (
            "the latest is another push's, right above the live one",
            revision(4, &[(keys::DIGEST, "sha256:0")], &[]),
            Registration::Register,
        ),
        (
            "the latest is another push's, revisions between",
            revision(7, &[(keys::DIGEST, "sha256:0")], &[]),
            Registration::Look { above: 3, below: 7 },
        ),
        (
            "a configuration change of this image, revisions between",
            revision(7, &[(keys::CAUSE, "config")], &[]),
            Registration::Look { above: 3, below: 7 },
        ),
        (
            "an older revision is the latest (the live one was deleted down)",
            revision(2, &[(keys::DIGEST, "sha256:0")], &[]),
            Registration::Register,
        ),
    ];
    for (name, latest, want) in cases {
        assert_eq!(registration(&marker, &taskdef_arn(3), &latest), want, "{name}");
    }
    // What a Look finds below the latest.
    assert_eq!(earlier_attempt(&marker, &revision(5, &[], &[])), Some(Registration::Reuse(taskdef_arn(5))));
    assert_eq!(earlier_attempt(&marker, &revision(5, &[(keys::CAUSE, "config")], &[])), None, "a configuration change");
    assert_eq!(earlier_attempt(&marker, &revision(5, &[(keys::COPY_OF, "x")], &[])), None, "the gate's copy");
    assert_eq!(earlier_attempt(&marker, &revision(5, &[], &[keys::SERVICE])), None, "no marker");
    assert_eq!(
        earlier_attempt(&marker, &revision(5, &[], &[keys::PREVIOUS])),
        Some(Registration::Reuse(taskdef_arn(5)))
    );
}
