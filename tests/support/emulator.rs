//! The moto emulator with rollgate's extensions (tests/emulator/server.py), one per test binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::{Boto, http, python, root};

pub struct Emulator {
    pub url: String,
    /// Held open: the server exits when this process ends and the pipe closes.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
    boto: Boto,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

/// The shared emulator, started on first use.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(Emulator::start)
}

/// An emulator of the calling test's own, for a test that changes what every caller sees (the
/// tagging index's lag, the clock) or counts calls whatever else runs. It stops when the test
/// binary exits.
pub fn private_emulator() -> &'static Emulator {
    Box::leak(Box::new(Emulator::start()))
}

impl Emulator {
    fn start() -> Self {
        let script = root().join("tests/emulator/server.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let url = loop {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read emulator stdout");
            assert!(n > 0, "the emulator exited before it was ready (see its stderr above)");
            if let Some(url) = line.trim().strip_prefix("ROLLGATE_EMULATOR_READY ") {
                break url.to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        let boto = Boto::start(&url);
        Self { url, _stdin: Mutex::new(stdin), _child: Mutex::new(child), boto }
    }

    /// AWS's own client, pointed at this emulator.
    pub fn boto(&self) -> &Boto {
        &self.boto
    }

    /// The AWS calls made with `access_key`, as (service, operation), in order.
    pub fn calls(&self, access_key: &str) -> Vec<(String, String)> {
        self.calls_query(&format!("access_key={access_key}"))
    }

    /// The AWS calls made with every access key that starts with `prefix`, in order.
    pub fn calls_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.calls_query(&format!("access_key_prefix={prefix}"))
    }

    fn calls_query(&self, query: &str) -> Vec<(String, String)> {
        let body = http::request(&self.url, "GET", &format!("/_rollgate/calls?{query}"), None);
        let calls: Value = serde_json::from_str(&body).expect("call log is JSON");
        calls
            .as_array()
            .expect("call log is a list")
            .iter()
            .map(|c| (c["service"].as_str().unwrap_or("").to_owned(), c["operation"].as_str().unwrap_or("").to_owned()))
            .collect()
    }

    /// Forces the rollout state of a service's primary deployment (test-only endpoint).
    pub fn force_rollout(&self, body: Value) -> Value {
        self.try_force_rollout(body).unwrap_or_else(|e| panic!("forcing a rollout state failed: {e}"))
    }

    /// Like [`Emulator::force_rollout`], with the emulator's refusal as an error (e.g. a
    /// circuit-breaker rollback of a service that has no previous deployment).
    pub fn try_force_rollout(&self, body: Value) -> Result<Value, String> {
        http::try_request(&self.url, "POST", "/_rollgate/ecs/rollout", Some(&body.to_string()))
            .map(|reply| serde_json::from_str(&reply).expect("rollout endpoint answers JSON"))
            .map_err(|(_, body)| body)
    }

    /// Turns an existing service into one with the short, pre-2021 ARN format
    /// (`service/<name>`), as if created before the long format (test-only endpoint).
    pub fn make_short_arn(&self, cluster: &str, service: &str) -> Value {
        let body = serde_json::json!({"cluster": cluster, "service": service});
        let reply = http::request(&self.url, "POST", "/_rollgate/ecs/short-arn", Some(&body.to_string()));
        serde_json::from_str(&reply).expect("short-arn endpoint answers JSON")
    }

    /// Sets the image's ECR push time (test-only endpoint; moto stamps the wall clock).
    pub fn set_pushed_at(&self, repository: &str, digest: &str, epoch_seconds: i64) {
        let body = serde_json::json!({"repository": repository, "digest": digest, "pushedAt": epoch_seconds});
        http::request(&self.url, "POST", "/_rollgate/ecr/pushed-at", Some(&body.to_string()));
    }

    /// Sets the emulator's clock (tests/emulator/clock.py): what ECS and CloudWatch record
    /// is stamped `epoch_seconds` (plus a microsecond a reading, to keep their order), or the
    /// wall clock again with `None`.
    pub fn set_clock(&self, epoch_seconds: Option<i64>) {
        let body = serde_json::json!({ "now": epoch_seconds });
        http::request(&self.url, "POST", "/_rollgate/clock", Some(&body.to_string()));
    }

    /// Makes the tagging API answer as of `seconds` ago on the emulator's clock (the index's
    /// eventual consistency, tests/emulator/tagging_ext.py); 0: the live state.
    pub fn set_tagging_lag(&self, seconds: u64) {
        let body = serde_json::json!({ "seconds": seconds });
        http::request(&self.url, "POST", "/_rollgate/tagging/lag", Some(&body.to_string()));
    }

    /// Seeds moto's random ids (deployment ids, VPC ids), so a run that makes the same calls
    /// gets the same ids.
    pub fn seed(&self, seed: u64) {
        // moto seeds Python's `random`; it takes any integer.
        http::request(&self.url, "POST", &format!("/moto-api/seed?a={seed}"), None);
    }
}

/// Operations that change state. Anything else is a read.
pub fn is_write(operation: &str) -> bool {
    const READ_PREFIXES: &[&str] = &["Describe", "List", "Get", "BatchGet", "Search", "Lookup"];
    !READ_PREFIXES.iter().any(|p| operation.starts_with(p))
}
