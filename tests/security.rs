//! Security properties that cut across functions: no secret ever reaches the logs.

use serde_json::Value;
use support::fixtures::fixture_json;
use support::{Scenario, binary, python, root};

/// Credentials that must never appear in any log line, at any level.
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-NEVER-LOG-THIS";
const SESSION: &str = "FwoGZXIvYXdzEBYaDNEVERLOGTHISSESSIONTOKEN";

#[test]
fn no_secret_or_credential_is_ever_logged() {
    let s = Scenario::new("no-secrets");
    let support::fixtures::OptedIn { cluster, repo, .. } = s.opted_in_service(vec![]);
    let digest = s.push_image(&repo, "v1");
    let events = [
        s.push_event(&repo, &digest, "v1", "2026-11-28T10:00:00Z"),
        fixture_json("ecr-push-malformed.json").to_string(),
        fixture_json("ecr-delete.json").to_string(),
    ];
    let dir = std::env::temp_dir().join(format!("rollgate-{}", s.name));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let p = dir.join(format!("e{i}.json"));
            std::fs::write(&p, e).unwrap();
            p
        })
        .collect();
    for level in ["info", "debug", "trace"] {
        let logs = dir.join(format!("logs-{level}.txt"));
        let out = std::process::Command::new(python())
            .arg(root().join("tests/emulator/lambda_rapi.py"))
            .arg("--binary")
            .arg(binary("deploy"))
            .arg("--logs")
            .arg(&logs)
            .args(["--env", &format!("AWS_ENDPOINT_URL={}", s.em.url)])
            .args(["--env", &format!("AWS_ACCESS_KEY_ID={}", s.register_function("deploy"))])
            .args(["--env", &format!("AWS_SECRET_ACCESS_KEY={SECRET}")])
            .args(["--env", &format!("AWS_SESSION_TOKEN={SESSION}")])
            .args(["--env", "AWS_REGION=us-east-1", "--env", "AWS_EC2_METADATA_DISABLED=true"])
            .args(["--env", &format!("ROLLGATE_CLUSTERS={cluster}"), "--env", &format!("RUST_LOG={level}")])
            .args(&files)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["invocations"][0]["status"], "ok", "{level}: {report}");
        let text = std::fs::read_to_string(&logs).unwrap();
        assert!(text.lines().count() > 3, "{level}: the function logged");
        for needle in [SECRET, SESSION] {
            assert!(!text.contains(needle), "{level}: a credential reached the logs");
        }
        let response = report.to_string();
        assert!(!response.contains(SECRET) && !response.contains(SESSION), "{level}: a credential reached a response");
    }
}
