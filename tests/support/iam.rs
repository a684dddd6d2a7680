//! Each function's code runs in the tests with exactly the IAM policy template.yaml gives that
//! function, enforced by the emulator (tests/emulator/iam_enforce.py).
//!
//! The template is transformed once (tests/template/translate.py, SAM's own translator) with
//! every name parameter set to a placeholder; a test's principal gets those statements with the
//! placeholder replaced by its scenario's name prefix and `*`, the names every resource of the
//! scenario starts with (clusters, roles, build projects). The statements are otherwise as
//! CloudFormation would create them: same actions, resources and conditions.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::{http, root};

/// The template's placeholder for every name parameter.
const SCOPE: &str = "ZZSCOPEZZ";

/// The other account the tests' functions trust as a central registry (`TrustedRegistries`).
pub const CENTRAL_REGISTRY: &str = "210987654321";

/// The template's statements for every function, with the placeholder (cached per template).
fn template_statements() -> &'static Value {
    static STATEMENTS: OnceLock<Value> = OnceLock::new();
    STATEMENTS.get_or_init(|| {
        let params = [
            format!("ClusterArns=arn:aws:ecs:us-east-1:123456789012:cluster/{SCOPE}"),
            format!("Repositories={SCOPE}"),
            format!("TaskRoleArn=arn:aws:iam::123456789012:role/{SCOPE}"),
            format!("ExecutionRoleArn=arn:aws:iam::123456789012:role/{SCOPE}"),
            format!("BuildProject={SCOPE}"),
            format!("ModelBucket={}", SCOPE.to_lowercase()),
            format!("TrustedRegistries={CENTRAL_REGISTRY}"),
        ];
        // Keyed by the template, the translator script and the parameters: any change makes a
        // new cache.
        let mut inputs = std::fs::read(root().join("template.yaml")).expect("read template.yaml");
        inputs.extend(std::fs::read(root().join("tests/template/translate.py")).expect("read translate.py"));
        inputs.extend(params.join("\n").into_bytes());
        let hash = inputs.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x1b3));
        let cache = cache_dir().join(format!("template-policies-{hash:016x}.json"));
        if let Ok(text) = std::fs::read_to_string(&cache)
            && let Ok(v) = serde_json::from_str(&text)
        {
            return v;
        }
        let python = root().join(".venv-cfn/bin/python");
        assert!(python.exists(), "{} is missing: run `make test` (it installs it)", python.display());
        let mut cmd = Command::new(python);
        cmd.arg(root().join("tests/template/translate.py")).arg(root().join("template.yaml"));
        for p in &params {
            cmd.args(["--param", p]);
        }
        let out = cmd.output().expect("run translate.py");
        assert!(out.status.success(), "translate.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let summary: Value = serde_json::from_slice(&out.stdout).expect("translate.py prints JSON");
        let mut by_function = serde_json::Map::new();
        // Keyed by each function's crate (translate.py reads it from the template's build
        // metadata), as the tests name the functions.
        let functions = summary["functions"].as_object().expect("translate.py lists functions");
        for (logical, function) in functions {
            let name = function["crate"].as_str().unwrap_or_else(|| panic!("{logical} names no crate"));
            let statements: Vec<Value> = function["statements"]
                .as_array()
                .unwrap_or_else(|| panic!("{logical} has no statements"))
                .iter()
                // What SAM adds for Lambda itself (the dead-letter queue) is not the code's.
                .filter(|st| st["sam_added"] != true)
                .map(|st| {
                    let mut out = json!({"Effect": st["effect"], "Action": st["action"], "Resource": st["resource"]});
                    if !st["condition"].is_null() {
                        out["Condition"] = st["condition"].clone();
                    }
                    out
                })
                .collect();
            by_function.insert(name.to_owned(), Value::Array(statements));
        }
        let v = Value::Object(by_function);
        let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, v.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &cache);
        }
        v
    })
}

fn cache_dir() -> PathBuf {
    let dir = root().join("target/rollgate-tests");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// `function`'s statements for a scenario whose resources all start with `scope`.
pub fn function_statements(function: &str, scope: &str) -> Value {
    let text = template_statements()[function].to_string();
    assert_ne!(text, "null", "no function {function} in template.yaml");
    let scoped = text.replace(SCOPE, &format!("{scope}*")).replace(&SCOPE.to_lowercase(), &format!("{scope}*"));
    serde_json::from_str(&scoped).expect("statements stay JSON")
}

/// Registers `access_key` with the emulator as `function`, with its template policy.
pub fn register(url: &str, access_key: &str, function: &str, scope: &str) {
    register_statements(url, access_key, function, function_statements(function, scope));
}

/// Registers `access_key` with explicit statements, labelled `label` in the decision log.
pub fn register_statements(url: &str, access_key: &str, label: &str, statements: Value) {
    let body = json!({"access_key": access_key, "label": label, "account": "123456789012", "statements": statements});
    http::request(url, "PUT", "/_rollgate/iam/principals", Some(&body.to_string()));
}

/// The emulator's authorization decisions for `access_key`: (action, resource, allowed).
pub fn decisions(url: &str, access_key: &str) -> Vec<(String, String, bool)> {
    let body = http::request(url, "GET", &format!("/_rollgate/iam/decisions?access_key={access_key}"), None);
    let list: Value = serde_json::from_str(&body).expect("decisions are JSON");
    list.as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["action"].as_str().unwrap_or("").to_owned(),
                d["resource"].as_str().unwrap_or("").to_owned(),
                d["allowed"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}
