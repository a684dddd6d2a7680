//! Property tests of every parser that takes outside input: arbitrary bytes and mutated
//! real events never panic, and anything malformed is an error (never a silent success).
//! Sized for CI: 100k cases for the cheap string parsers, fewer for whole events.

use proptest::prelude::*;
use rollgate_core::events::parse_gate_event;
use rollgate_core::events::parse_model_event;
use rollgate_core::events::{EcrAction, parse_ecr_event};
use rollgate_core::filter::TagFilter;
use rollgate_core::{Digest, ImageTag, RepositoryName, ServiceArn, TaskDefArn};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const FIXTURES: &[&str] = &[
    "ecr-push.json",
    "ecr-delete.json",
    "ecs-deployment-failed.json",
    "ecs-task-stopped-oom.json",
    "scheduled-tick.json",
    "s3-model-uploaded.json",
    "codebuild-build-failed.json",
];

/// Every parser over one input; panics propagate and fail the property.
fn parse_all(raw: &str) -> [bool; 3] {
    [parse_ecr_event(raw).is_ok(), parse_gate_event(raw).is_ok(), parse_model_event(raw).is_ok()]
}

/// A JSON value to splice in: wrong types, empty and huge strings, nesting.
fn junk() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(5000))),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({"nested": {"deeper": [1, "two", null]}})),
    ]
}

/// A real event with one field (at any depth) replaced, removed or added.
fn mutated_event() -> impl Strategy<Value = (String, Value)> {
    (0..FIXTURES.len(), any::<prop::sample::Index>(), junk(), 0u8..3).prop_map(|(f, index, value, op)| {
        let mut event = fixture(FIXTURES[f]);
        let mut paths = Vec::new();
        collect_paths(&event, String::new(), &mut paths);
        let path = index.get(&paths).clone();
        match op {
            0 => {
                if let Some(slot) = event.pointer_mut(&path) {
                    *slot = value;
                }
            }
            1 => remove(&mut event, &path),
            _ => {
                if let Some(Value::Object(map)) = event.pointer_mut(&path) {
                    map.insert("unexpected".into(), value);
                }
            }
        }
        (FIXTURES[f].to_owned(), event)
    })
}

fn collect_paths(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| collect_paths(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| collect_paths(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn remove(event: &mut Value, path: &str) {
    let Some((parent, key)) = path.rsplit_once('/') else { return };
    match event.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key.replace("~1", "/").replace("~0", "~"));
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn string_parsers_never_panic(s in ".{0,80}") {
        let _ = TagFilter::parse(&s).map(|f| f.matches(ImageTag::parse("v1.2.3").ok().as_ref()));
        let _ = Digest::parse(&s);
        let _ = ImageTag::parse(&s);
        let _ = RepositoryName::parse(&s);
        let _ = ServiceArn::parse(&s).map(|a| (a.cluster_name().len(), a.name().len(), a.account(), a.region()));
        let _ = TaskDefArn::parse(&s).map(|a| a.revision());
        let _ = rollgate_core::duration::Seconds::parse("t", &s);
        let _ = rollgate_core::base64::decode(&s);
    }

    #[test]
    fn tag_filters_match_arbitrary_tags_without_panicking(filter in "(\\*|v\\*|semver:\\^[0-9]|regex:[a-z0-9.*+?|()\\[\\]-]{0,12}|[a-z0-9.*?-]{1,12})", tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}") {
        if let (Ok(f), Ok(t)) = (TagFilter::parse(&filter), ImageTag::parse(&tag)) {
            let _ = f.matches(Some(&t));
        }
    }

    #[test]
    fn arbitrary_text_is_never_an_event(raw in ".{0,200}") {
        prop_assert_eq!(parse_all(&raw), [false, false, false]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// A mutated event either still parses as its own kind or is an error; it never
    /// parses as a push unless it is still a well-formed push.
    #[test]
    fn mutated_events_never_panic_and_only_valid_pushes_deploy((name, event) in mutated_event()) {
        let raw = event.to_string();
        let [ecr, _, _] = parse_all(&raw);
        if ecr && let Ok(EcrAction::Push(push)) = parse_ecr_event(&raw) {
            prop_assert_eq!(name.as_str(), "ecr-push.json");
            prop_assert!(Digest::parse(push.digest.as_str()).is_ok());
            prop_assert_eq!(event["detail"]["action-type"].as_str(), Some("PUSH"));
            prop_assert_eq!(event["detail"]["result"].as_str(), Some("SUCCESS"));
        }
    }
}
