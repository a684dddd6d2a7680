//! rollgate.toml's parsing and checks.

use super::*;

pub const MINIMAL: &str = r#"
[app]
name = "sentiment"
[task]
cpu = 1024
memory = 4096
[service]
subnets = ["subnet-0123abcd"]
security_groups = ["sg-0123abcd"]
"#;

#[test]
fn minimal_config_gets_defaults() {
    let c = AppConfig::parse(MINIMAL).unwrap();
    assert_eq!(
        (c.repository_name(), c.cluster_name(), c.service_name()),
        ("sentiment".into(), "sentiment".into(), "sentiment".into())
    );
    assert_eq!(c.repository.tag_mutability, "IMMUTABLE");
    assert_eq!((c.task.container.as_str(), c.task.port, c.task.health_check_start_period), ("model", 8080, 300));
    assert_eq!(c.service.desired_count, 2);
}

#[test]
fn every_bad_field_is_named() {
    let cases: &[(&str, &str, &str)] = &[
        ("memory = 4096", "memory = 4000", "task.memory"),
        ("cpu = 1024", "cpu = 1000", "task.cpu"),
        ("subnets = [\"subnet-0123abcd\"]", "subnets = []", "service.subnets"),
        ("subnets = [\"subnet-0123abcd\"]", "subnets = [\"vpc-1\"]", "service.subnets"),
        ("subnets = [\"subnet-0123abcd\"]", "subnets = [\"subnet-xyz\"]", "service.subnets"),
        ("subnets = [\"subnet-0123abcd\"]", "subnets = [\"subnet-0123abc\"]", "service.subnets"),
        ("security_groups = [\"sg-0123abcd\"]", "security_groups = []", "service.security_groups"),
        ("security_groups = [\"sg-0123abcd\"]", "security_groups = [\"sg-12\"]", "service.security_groups"),
        ("name = \"sentiment\"", "name = \"Sentiment App\"", "app.name"),
        ("[task]", "[task]\nhealth_check_start_period = 600", "task.health_check_start_period"),
        ("[task]", "[task]\ncpu_architecture = \"ARM\"", "task.cpu_architecture"),
        ("[task]", "[task]\ninitial_image = \"not an image\"", "task.initial_image"),
        ("[task]", "[task]\nhealth_check = \" \"", "task.health_check"),
        (
            "[service]",
            "[service]\ntarget_group_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x\"",
            "service.target_group_arn",
        ),
    ];
    for (from, to, field) in cases {
        let text = MINIMAL.replace(from, to);
        assert_eq!(AppConfig::parse(&text).unwrap_err().field, *field, "{to}");
    }
    for extra in [
        "[logs]\nretention_days = 2",
        "[gate]\ntag_filter = \"regex:(\"",
        "[gate]\nbake = \"soon\"",
        "[repository]\ntag_mutability = \"sometimes\"",
        "[repository]\ntag_mutability = \"MUTABLE\"",
        "[repository]\ntag_mutability = \"MUTABLE\"\nuntagged_expiry_days = 1",
        "[build]\ncompute_type = \"BUILD_LAMBDA_1GB\"",
        "[build]\nmodel_bucket = \"My_Bucket\"",
        "[task.environment]\n\"1BAD\" = \"x\"",
        "[gate]\nsmoke_status = 999",
        "[gate]\nalarms = [\"model 5xx\"]",
        "[cluster]\nname = \"bad cluster!\"",
        "[service]\nname = \"Bad_Name!\"",
        "[task]\nrole_policy_arns = [\"AmazonS3ReadOnlyAccess\"]",
        "[gate]\nsmoke_url = \"http://\"",
        "[gate]\ndeadline = \"0s\"",
        "[gate]\nsmoke_url = \"http://user:secret@m:8080/predict\"",
        "[gate]\nalarm_prefix = \"\"",
        "[gate]\nsmoke_body = \"{}\"",
    ] {
        assert!(AppConfig::parse(&format!("{MINIMAL}\n{extra}")).is_err(), "{extra}");
    }
    // A setting too long for a tag once encoded is refused by its name, not dropped.
    let body = format!("[gate]\nsmoke_url = \"http://m/predict\"\nsmoke_body = \"{}\"", "{x}".repeat(70));
    let err = AppConfig::parse(&format!("{MINIMAL}\n{body}")).unwrap_err();
    assert!(err.to_string().contains("gate.smoke_body") && err.to_string().contains("too long"), "{err}");
    // Real ids and references pass.
    let ok = MINIMAL
        .replace("subnet-0123abcd", "subnet-0123456789abcdef0")
        .replace("[service]", "[service]\ntarget_group_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/model/73e2d6bc24d8a067\"")
        .replace("[task]", "[task]\ninitial_image = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/model:v1\"");
    AppConfig::parse(&ok).unwrap();
}

/// The error table of docs/bad-input.md (section "rollgate.toml"): field, and message parts.
#[test]
fn errors_name_the_section_the_field_the_file_and_a_real_line() {
    let table: &[(&str, &str, &[&str])] = &[
        // A missing field: named with its section, at the section's header line.
        (&MINIMAL.replace("cpu = 1024\n", ""), "task.cpu", &["missing field `cpu` in [task]", "other.toml line 4"]),
        // A missing field of the last section, after blank lines.
        (
            &MINIMAL.replace("memory = 4096\n", "\n\n"),
            "task.memory",
            &["missing field `memory` in [task]", "other.toml line 4"],
        ),
        // A rule of rollgate's: at the key's line, or its section's when the key is absent.
        (
            &MINIMAL.replace("security_groups = [\"sg-0123abcd\"]\n", "\n\n"),
            "service.security_groups",
            &["at least one", "other.toml line 7"],
        ),
        (
            &MINIMAL.replace("memory = 4096", "memory = 4000"),
            "task.memory",
            &["not valid with cpu 1024", "other.toml line 6"],
        ),
        // A missing section.
        (
            &MINIMAL.replace("[task]\ncpu = 1024\nmemory = 4096\n", ""),
            "task",
            &["the [task] section is missing", "other.toml"],
        ),
        // A mistyped section: its own name, a suggestion, and its line.
        (
            &format!("{MINIMAL}[gates]\nbake = \"5m\"\n"),
            "gates",
            &["unknown section [gates]", "did you mean [gate]?", "other.toml line 10"],
        ),
        // A mistyped key.
        (
            &format!("{MINIMAL}[gate]\nbake_time = \"5m\"\n"),
            "gate.bake_time",
            &["unknown field `bake_time`", "other.toml line 11"],
        ),
        // A wrong type.
        (&MINIMAL.replace("cpu = 1024", "cpu = \"1024\""), "task.cpu", &["invalid type", "other.toml line 5"]),
        // The README's example, copied with its placeholders.
        (
            &MINIMAL.replace("[task]", "[task]\ninitial_image = \"\u{2026}\""),
            "task.initial_image",
            &["placeholder", "other.toml line 5"],
        ),
        (
            &MINIMAL.replace("subnet-0123abcd", "<your-subnet>"),
            "service.subnets",
            &["placeholder", "other.toml line 8"],
        ),
        ("not toml", "other.toml", &["other.toml line 1"]),
        // A key outside any section.
        (&format!("name = \"x\"\n{MINIMAL}"), "name", &["outside any section", "other.toml line 1"]),
        // Headers with comments, as in the README's reference, keep real lines.
        (
            &MINIMAL.replace("[task]", "[task]   # the task").replace("memory = 4096", "memory = 4000"),
            "task.memory",
            &["other.toml line 6"],
        ),
        // The first placeholder in the file's order, not in the alphabet's.
        (
            &format!(
                "{}[build]\nbase_image = \"\u{2026}\"\n",
                MINIMAL.replace("[task]", "[task]\ninitial_image = \"\u{2026}\"")
            ),
            "task.initial_image",
            &["other.toml line 5"],
        ),
    ];
    for (text, field, parts) in table {
        let e = AppConfig::parse_file(text, "other.toml").unwrap_err();
        assert_eq!(e.field, *field, "{e}\n{text}");
        for part in *parts {
            assert!(e.to_string().contains(part), "{part:?} missing from: {e}");
        }
        assert!(!e.to_string().contains("rollgate.toml"), "names the file it was given: {e}");
    }
}
