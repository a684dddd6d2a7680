//! The README's commands work as written: every `make` target it names exists, every
//! `rollgate` command line it shows parses, and the replay commands run and answer.

use std::process::Command;

use support::{binary, python, root};

/// The lines of every ```sh block, comments stripped.
fn sh_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            inside = line == "```sh";
            continue;
        }
        if inside {
            let command = line.split(" #").next().unwrap_or_default().trim();
            if !command.is_empty() {
                lines.push(command.to_owned());
            }
        }
    }
    assert!(lines.len() > 5, "the README's sh blocks were found: {lines:?}");
    lines
}

/// Every word after `make` is a target the Makefile defines, or a VAR=value.
#[test]
fn every_make_target_the_readme_names_exists() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let defined = |t: &str| makefile.lines().any(|l| l.starts_with(&format!("{t}:")));
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // In sh blocks and in `code` spans alike.
    let mut named = Vec::new();
    for (i, _) in readme.match_indices("make ") {
        let rest = &readme[i + 5..];
        let words: Vec<&str> = rest.split(['\n', '`', '#']).next().unwrap_or_default().split_whitespace().collect();
        for w in words {
            if w.contains('=') {
                continue;
            }
            if !w.chars().all(|c| c.is_ascii_lowercase() || c == '-') || w.is_empty() {
                break;
            }
            named.push(w.to_owned());
        }
    }
    named.retain(|w| !["sure", "the", "a", "it"].contains(&w.as_str()));
    assert!(named.contains(&"demo".to_owned()) && named.contains(&"replay".to_owned()), "{named:?}");
    for target in named {
        assert!(defined(&target), "README names `make {target}`, which the Makefile lacks");
    }
}

/// Every `rollgate ...` line of the README parses: its subcommand and flags exist.
#[test]
fn every_rollgate_command_line_in_the_readme_parses() {
    let rollgate = binary("rollgate");
    let lines: Vec<String> = sh_lines().into_iter().filter(|l| l.starts_with("rollgate ")).collect();
    assert!(lines.len() >= 5, "{lines:?}");
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let sub = words[1];
        let help = Command::new(&rollgate).args([sub, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout).into_owned();
        assert!(help.contains("Usage:"), "`rollgate {sub}` is not a command: {help}");
        for flag in words.iter().flat_map(|w| w.trim_matches(['[', ']']).split('|')).filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            assert!(help.contains(flag), "`{line}`: {flag} is not a flag of rollgate {sub}");
        }
    }
}

/// The replay commands run as the README shows them (`make replay` runs exactly this
/// script): each answers, and a malformed event is an error with a non-zero exit.
#[test]
fn the_readme_replays_answer() {
    let replays: Vec<String> = sh_lines().into_iter().filter(|l| l.starts_with("make replay")).collect();
    assert!(!replays.is_empty(), "the README shows a replay");
    let run = |line: &str| {
        let arg = |name: &str, default: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_owned))
                .unwrap_or_else(|| default.to_owned())
        };
        Command::new(python())
            .arg(root().join("scripts/replay.py"))
            .args([arg("FUNCTION", "deploy"), arg("EVENT", "events/ecr-push.json")])
            .current_dir(root())
            .output()
            .unwrap()
    };
    for line in &replays {
        let out = run(line);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "`{line}` failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        assert!(answer["event_id"].is_string(), "`{line}`: {answer}");
    }
    let bad = run("make replay EVENT=events/ecr-push-malformed.json");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("malformed event"));
}

/// docs/bad-input.md's table of CLI error messages: every test a row names exists.
#[test]
fn every_error_message_row_names_a_test() {
    let doc = std::fs::read_to_string(root().join("docs/bad-input.md")).unwrap();
    let table = doc.split("### The CLI's error messages").nth(1).expect("the table exists");
    // Every Rust file below these folders, however deep (modules move into folders).
    fn read_all(dir: &std::path::Path, into: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                read_all(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut sources = String::new();
    for dir in ["tests", "crates/rollgate-core/src", "crates/rollgate-aws/src", "functions", "bootstrap/src"] {
        read_all(&root().join(dir), &mut sources);
    }
    let rows: Vec<&str> =
        table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| cause") && !l.starts_with("| ---")).collect();
    assert!(rows.len() >= 15, "{rows:?}");
    for row in rows {
        let tests = row.rsplit('|').nth(1).unwrap_or_default();
        let names: Vec<&str> = tests.split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "row without a test: {row}");
        for name in names {
            let f = name.rsplit("::").next().unwrap();
            assert!(sources.contains(&format!("fn {f}(")), "{row}: no test named {f}");
        }
    }
}
