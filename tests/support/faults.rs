//! The fault-injecting proxy (tests/emulator/faults.py) in front of the shared emulator.
//! Tests aim it at their own access key, so other tests running alongside are untouched.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use crate::{emulator, http, python, root};

pub struct Faults {
    pub url: String,
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

static FAULTS: OnceLock<Faults> = OnceLock::new();

pub fn faults() -> &'static Faults {
    FAULTS.get_or_init(Faults::start)
}

impl Faults {
    fn start() -> Self {
        let upstream = emulator().url.clone();
        let mut child = Command::new(python())
            .arg(root().join("tests/emulator/faults.py"))
            .args(["--upstream", &upstream, "--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start faults.py");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(stdout.read_line(&mut line).expect("read faults.py") > 0, "faults.py exited before it was ready");
            if let Some(url) = line.trim().strip_prefix("ROLLGATE_FAULTS_READY ") {
                break url.to_owned();
            }
        };
        std::thread::spawn(move || for _ in stdout.lines() {});
        Self { url, _stdin: Mutex::new(stdin), _child: Mutex::new(child) }
    }

    /// Sets the faults for requests signed with `access_key` (the config's other fields as
    /// faults.py documents them).
    pub fn configure(&self, access_key: &str, mut config: Value) {
        config["only_access_key"] = json!(access_key);
        http::request(&self.url, "POST", "/_faults/config", Some(&config.to_string()));
    }

    /// What was faulted for `access_key`.
    pub fn stats(&self, access_key: &str) -> Value {
        let path = format!("/_faults/stats?access_key={access_key}");
        serde_json::from_str(&http::request(&self.url, "GET", &path, None)).expect("stats are JSON")
    }

    /// Every call `access_key` made through the proxy, in arrival order, as (operation, the
    /// fault injected if any).
    pub fn events(&self, access_key: &str) -> Vec<(String, Option<String>)> {
        let path = format!("/_faults/events?access_key={access_key}");
        let events: Value =
            serde_json::from_str(&http::request(&self.url, "GET", &path, None)).expect("events are JSON");
        events
            .as_array()
            .expect("events are a list")
            .iter()
            .map(|e| (e["operation"].as_str().unwrap_or("").to_owned(), e["fault"].as_str().map(str::to_owned)))
            .collect()
    }
}
