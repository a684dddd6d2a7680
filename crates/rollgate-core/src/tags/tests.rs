//! Tag rules, encoding, budgets and the failed-digest record.

use super::*;
use crate::Digest;

#[test]
fn values_outside_the_alphabet_are_encoded_and_decode_back() {
    let table = [
        ("*", false),
        ("v*", false),
        ("release-?", false),
        ("semver:^2", false),
        ("semver:>=1.4, <2", false),
        ("regex:^v[0-9]+\\.[0-9]+$", false),
        ("https://m.example/predict?x=1&y=2", false),
        ("{\"text\": \"great\"}", false),
        ("v1.2", true),
        ("model api", true),
        ("arn:aws:ecs:us-east-1:123456789012:task-definition/m:3", true),
        ("2026-11-28T10:00:00Z", true),
        ("modèle-ünïcode", true),
        ("base64:Zm9v", false),
        ("", true),
    ];
    for (value, plain) in table {
        let tag = encode("k", value).unwrap();
        assert!(is_allowed(&tag), "{value} -> {tag}");
        assert_eq!(tag == value, plain, "{value} -> {tag}");
        assert_eq!(decode("k", &tag).unwrap(), value);
    }
}

#[test]
fn too_long_even_encoded_is_an_error_naming_the_key() {
    let fits = "*".repeat(186);
    assert!(encode("rollgate:smoke-body", &fits).unwrap().len() <= MAX_VALUE_CHARS);
    let err = encode("rollgate:smoke-body", &"*".repeat(187)).unwrap_err();
    assert!(err.to_string().starts_with("rollgate:smoke-body: the value is too long"), "{err}");
}

#[test]
fn keys_follow_aws_rules() {
    for ok in ["rollgate:failed:sha256:ab", "team", "cost center"] {
        check_key(ok).unwrap();
    }
    for bad in ["", "aws:x", "AWS:x", "a*b", &"k".repeat(129)] {
        assert!(check_key(bad).is_err(), "{bad}");
    }
}

#[test]
fn free_text_reads_back_exactly_or_cut_with_an_ellipsis() {
    let reason = "3 tasks exited (code 137): see https://x/logs?task=1";
    assert_eq!(decode("r", &text("r", reason)).unwrap(), reason);
    let long = "é(".repeat(200);
    let stored = text("r", &long);
    assert!(is_allowed(&stored) && stored.len() <= MAX_VALUE_CHARS, "{stored}");
    let back = decode("r", &stored).unwrap();
    assert!(back.ends_with('…') && long.starts_with(back.trim_end_matches('…')), "{back}");
}

#[test]
fn lossy_keeps_allowed_text() {
    assert_eq!(lossy("exit 1 (OOM) in model!"), "exit 1 _OOM_ in model_");
    assert!(is_allowed(&lossy(&"é*".repeat(300))));
}

fn digest(i: usize) -> Digest {
    // Distinct short digests (the first 12 hex digits).
    Digest::parse(&format!("sha256:{i:012x}{}", "0".repeat(52))).unwrap()
}

#[test]
fn failures_stay_within_the_budget_and_are_never_forgotten_while_listed() {
    let mut tags: Tags = (0..30).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
    tags.insert(keys::REPOSITORY.into(), "model".into());
    for i in 0..60 {
        let now = format!("2026-11-28T10:{:02}:{:02}Z", i / 60, i % 60);
        let write = failure_write(&tags, &digest(i), &now, vec![(keys::HIGH_WATER.into(), now.clone())]);
        check_budget("service", &tags, &write).unwrap();
        tags = write.apply(&tags);
        // The newest failures are all still recorded.
        let recorded = (0..=i).rev().take_while(|j| failed_mark(&tags, &digest(*j)).is_some()).count();
        assert!(recorded >= (i + 1).min(MAX_FAILED_DIGESTS), "after {i}: {recorded}");
        assert!(tags.len() <= MAX_TAGS);
    }
    let full = tags.keys().filter(|k| k.starts_with(keys::FAILED_PREFIX)).count();
    assert!(full <= MAX_FAILED_TAGS);
    assert_eq!(failed_digests(&tags).len(), MAX_FAILED_DIGESTS);
}

#[test]
fn a_full_service_removes_before_it_sets() {
    // 45 tags besides the ledger's (the most `track` allows: the user's and rollgate's
    // settings), the gate's three, two failures.
    let mut tags: Tags = (0..45).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
    for k in [keys::HIGH_WATER, keys::LAST_GOOD, keys::FAILED_CONFIG] {
        tags.insert(k.into(), "x".into());
    }
    for i in 1..=2 {
        tags.insert(format!("{}{}", keys::FAILED_PREFIX, digest(i)), format!("2026-11-28T10:00:0{i}Z"));
    }
    assert_eq!(tags.len(), MAX_TAGS);
    let write = failure_write(&tags, &digest(3), "2026-11-28T11:00:00Z", vec![]);
    check_budget("service", &tags, &write).unwrap_or_else(|e| panic!("{e}: {write:?}"));
    assert!(write.remove_first);
    let after = write.apply(&tags);
    for i in 1..=3 {
        assert!(failed_mark(&after, &digest(i)).is_some(), "{i}");
    }
    // Full: the next failure is only listed.
    let mut full: Tags = (0..46).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
    full.insert(keys::FAILED_DIGESTS.into(), digest(1).short().into());
    for k in [keys::HIGH_WATER, keys::LAST_GOOD, keys::FAILED_CONFIG] {
        full.insert(k.into(), "x".into());
    }
    let write = failure_write(&full, &digest(4), "2026-11-28T11:00:00Z", vec![]);
    check_budget("service", &full, &write).unwrap();
    assert!(failed_mark(&write.apply(&full), &digest(4)).is_some());
}

#[test]
fn room_for_the_ledger() {
    let tags: Tags = (0..42).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
    check_service_room("s", &tags).unwrap();
    let mut more = tags.clone();
    more.insert("one-more".into(), "v".into());
    let err = check_service_room("service s", &more).unwrap_err().to_string();
    assert!(err.contains("service s would carry 51 tags") && err.contains("ledger"), "{err}");
    // The gate's own keys do not count against the room they are kept in.
    let mut ledger = tags.clone();
    ledger.insert(keys::OUTSIDE.into(), "verifying@2026-12-03T12:00:00Z arn:aws:ecs:x".into());
    check_service_room("s", &ledger).unwrap();
}
