//! template.yaml against the code: transformed offline by the SAM translator
//! (tests/template/translate.py), then checked for its shape and environment; the actions are
//! checked against what the code called by scripts/check_permissions.py (`make test`).

use std::collections::BTreeSet;
use std::process::Command;

use rollgate_core::permissions::{ENVIRONMENT, FUNCTIONS};
use serde_json::Value;
use support::root;

/// The transformed template's summary. Needs `.venv-cfn` (`make test` installs it).
fn summary() -> Value {
    let python = root().join(".venv-cfn/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (it installs tests/template/requirements.txt)",
        python.display()
    );
    let out = Command::new(python)
        .arg(root().join("tests/template/translate.py"))
        .arg(root().join("template.yaml"))
        .output()
        .expect("run translate.py");
    assert!(out.status.success(), "the SAM transform failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("translate.py prints JSON")
}

fn functions(summary: &Value) -> Vec<(&str, &Value)> {
    summary["functions"].as_object().unwrap().values().map(|f| (f["crate"].as_str().unwrap_or(""), f)).collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

#[test]
fn every_function_in_the_template_has_a_crate_and_every_crate_a_function() {
    let s = summary();
    let in_template: BTreeSet<&str> = functions(&s).into_iter().map(|(c, _)| c).collect();
    for crate_name in &in_template {
        let manifest = root().join("functions").join(crate_name).join("Cargo.toml");
        assert!(manifest.exists(), "template function {crate_name} has no crate at {}", manifest.display());
    }
    let in_code: BTreeSet<&str> = FUNCTIONS.iter().copied().collect();
    assert_eq!(in_template, in_code);
    for (name, f) in functions(&s) {
        assert_eq!(f["runtime"], "provided.al2023", "{name}");
        assert_eq!(f["architectures"], serde_json::json!(["arm64"]), "{name}");
        assert_eq!(f["build_method"], "rust-cargolambda", "{name}");
        assert_eq!(f["memory_size"], 128, "{name}");
        assert_eq!(f["log_format"], "JSON", "{name}");
        assert!(
            f["async"]["maximum_retry_attempts"].as_i64().is_some_and(|n| n <= 2),
            "{name}: bounded retries: {}",
            f["async"]
        );
        let to_dlq = f["statements"].as_array().unwrap().iter().any(|st| {
            strings(&st["action"]).contains("sqs:SendMessage") && st["resource"].to_string().contains("DeadLetterQueue")
        });
        assert!(to_dlq, "{name}: failed events go to the dead-letter queue");
    }
    let deploy = functions(&s).into_iter().find(|(n, _)| *n == "deploy").unwrap().1;
    assert_eq!(deploy["reserved_concurrency"], 1, "deploy keeps rollouts ordered");
}

#[test]
fn every_environment_variable_a_function_reads_is_set() {
    let s = summary();
    for (name, f) in functions(&s) {
        let set = strings(&f["environment"]);
        let (_, reads) =
            ENVIRONMENT.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name} not in ENVIRONMENT"));
        for var in *reads {
            assert!(set.contains(*var), "{name} reads {var} but the template does not set it (sets {set:?})");
        }
    }
}

/// The actions themselves are compared with what the code called over the whole suite by
/// scripts/check_permissions.py (`make test`); here, the shape SAM gives each policy.
#[test]
fn each_policy_has_no_wildcard_action_and_sam_adds_only_the_dead_letter_send() {
    let s = summary();
    for (name, f) in functions(&s) {
        assert_eq!(strings(&f["sam_added_actions"]), BTreeSet::from(["sqs:SendMessage".to_owned()]), "{name}");
        for action in strings(&f["actions"]) {
            assert!(!action.contains('*'), "{name}: wildcard action {action}");
        }
        assert!(!strings(&f["code_actions"]).is_empty(), "{name}: its code calls AWS");
    }
}

#[test]
fn pass_role_is_scoped_to_ecs_tasks_and_put_events_to_rollgate() {
    let s = summary();
    for (name, f) in functions(&s) {
        for st in f["statements"].as_array().unwrap() {
            let actions = strings(&st["action"]);
            if actions.contains("iam:PassRole") {
                assert_eq!(
                    st["condition"]["StringEquals"]["iam:PassedToService"], "ecs-tasks.amazonaws.com",
                    "{name}: PassRole needs iam:PassedToService"
                );
                assert_ne!(st["resource"], "*", "{name}: PassRole only on the task and execution roles");
            }
            if actions.contains("events:PutEvents") {
                assert_eq!(st["condition"]["StringEquals"]["events:source"], "rollgate", "{name}");
                assert!(st["resource"].to_string().contains("event-bus/"), "{name}: PutEvents only on the bus");
            }
            if actions.contains("ecs:UpdateService") {
                assert!(st["resource"].to_string().contains(":service/"), "{name}: UpdateService scoped to services");
            }
        }
    }
}
