//! The `rollgate` CLI against the emulator: plan, up (twice), a config change, status,
//! rollback and down, each checked through boto3 and the emulator's call log.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use support::emulator::is_write;
use support::{Scenario, binary};

struct Cli {
    s: Scenario,
    dir: PathBuf,
    app: String,
    config: String,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn new(test: &str) -> Self {
        let s = Scenario::new(test);
        let (subnet, sg) = s.network();
        let app = s.name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(30).collect::<String>();
        let dir = std::env::temp_dir().join(format!("rollgate-cli-{}", s.name));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "[app]\nname = \"{app}\"\n\n[task]\ncpu = 1024\nmemory = 4096\n\n[service]\ndesired_count = 2\nsubnets = [\"{subnet}\"]\nsecurity_groups = [\"{sg}\"]\n\n[gate]\ntag_filter = \"v*\"\nbake = \"5m\"\n"
        );
        let cli = Self { s, dir, app, config };
        cli.write_config(&cli.config.clone());
        cli
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.dir.join("rollgate.toml"), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(binary("rollgate"))
            .args(args)
            .current_dir(&self.dir)
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", &self.s.em.url)
            .env("AWS_ACCESS_KEY_ID", &self.s.access_key)
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run rollgate");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "rollgate {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    fn writes(&self) -> Vec<String> {
        self.s.calls().into_iter().map(|(_, op)| op).filter(|op| is_write(op)).collect()
    }

    fn tags(&self, list: &Value) -> serde_json::Map<String, Value> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let k = t.get("key").or(t.get("Key")).and_then(Value::as_str).unwrap_or("").to_owned();
                (k, t.get("value").or(t.get("Value")).cloned().unwrap_or(Value::Null))
            })
            .collect()
    }
}

#[test]
fn plan_on_an_empty_account_lists_everything_and_writes_nothing() {
    let c = Cli::new("cli-plan");
    let r = c.ok(&["plan"]);
    for kind in [
        "ECR repository",
        "log group",
        "IAM execution role",
        "IAM task role",
        "IAM CodeBuild role",
        "CodeBuild project",
        "ECS cluster",
        "task definition",
        "ECS service",
    ] {
        assert!(r.stdout.lines().any(|l| l.starts_with('+') && l.contains(kind)), "{kind} missing:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("9 to create, 0 to update, 0 unchanged"), "{}", r.stdout);
    assert_eq!(c.writes(), Vec::<String>::new());
    let json: Value = serde_json::from_str(&c.ok(&["plan", "--output", "json"]).stdout).unwrap();
    assert_eq!(json["steps"].as_array().unwrap().len(), 9);
    assert!(json["steps"].as_array().unwrap().iter().all(|s| s["action"] == "create"));
    assert_eq!(c.writes(), Vec::<String>::new());
}

#[test]
fn up_creates_every_resource_and_a_second_up_writes_nothing() {
    let c = Cli::new("cli-up");
    let r = c.ok(&["up"]);
    assert!(r.stderr.contains("[9/9] creating ECS service"), "{}", r.stderr);
    let app = &c.app;
    let b = |svc: &str, op: &str, p: Value| c.s.boto(svc, op, p);

    let repo = &b("ecr", "describe_repositories", json!({"repositoryNames": [app]}))["repositories"][0];
    assert_eq!(repo["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(repo["imageTagMutability"], "IMMUTABLE");
    let lifecycle: Value = serde_json::from_str(
        b("ecr", "get_lifecycle_policy", json!({"repositoryName": app}))["lifecyclePolicyText"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(lifecycle["rules"][0]["selection"]["tagStatus"], "untagged");
    let repo_tags = c.tags(&b("ecr", "list_tags_for_resource", json!({"resourceArn": repo["repositoryArn"]}))["tags"]);
    assert_eq!(
        (repo_tags["rollgate:managed"].as_str(), repo_tags["rollgate:app"].as_str()),
        (Some("true"), Some(app.as_str()))
    );

    let cluster =
        &b("ecs", "describe_clusters", json!({"clusters": [app], "include": ["SETTINGS", "TAGS"]}))["clusters"][0];
    assert_eq!(cluster["settings"][0], json!({"name": "containerInsights", "value": "enabled"}));
    assert_eq!(c.tags(&cluster["tags"])["rollgate:managed"], "true");

    let exec = &b("iam", "get_role", json!({"RoleName": format!("{app}-execution")}))["Role"];
    assert_eq!(exec["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"], "ecs-tasks.amazonaws.com");
    let attached = b("iam", "list_attached_role_policies", json!({"RoleName": format!("{app}-execution")}));
    assert_eq!(attached["AttachedPolicies"][0]["PolicyName"], "AmazonECSTaskExecutionRolePolicy");
    b("iam", "get_role", json!({"RoleName": format!("{app}-task")}));
    let build_policy =
        b("iam", "get_role_policy", json!({"RoleName": format!("{app}-codebuild"), "PolicyName": "rollgate"}));
    assert!(build_policy["PolicyDocument"].to_string().contains("ecr:PutImage"));

    let groups = b("logs", "describe_log_groups", json!({"logGroupNamePrefix": format!("/rollgate/{app}")}));
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 30);

    let project =
        &b("codebuild", "batch_get_projects", json!({"names": [format!("{app}-image-build")]}))["projects"][0];
    assert_eq!(project["environment"]["privilegedMode"], true);
    assert!(project["source"]["buildspec"].as_str().unwrap().contains("docker push"));

    let service = c.s.describe_service(app, app);
    assert_eq!(service["desiredCount"], 2);
    assert_eq!(
        service["deploymentConfiguration"]["deploymentCircuitBreaker"],
        json!({"enable": true, "rollback": true})
    );
    let stags = c.tags(&service["tags"]);
    assert_eq!(stags["rollgate:repository"], json!(app));
    assert_eq!(stags["rollgate:container"], "model");
    assert_eq!(stags["rollgate:tag-filter"], "v*");
    let (def, dtags) = c.s.describe_task_definition(service["taskDefinition"].as_str().unwrap());
    assert_eq!(
        (def["cpu"].as_str(), def["memory"].as_str(), def["networkMode"].as_str()),
        (Some("1024"), Some("4096"), Some("awsvpc"))
    );
    assert_eq!(def["requiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(def["containerDefinitions"][0]["healthCheck"]["startPeriod"], 300);
    assert_eq!(
        def["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"],
        json!(format!("/rollgate/{app}"))
    );
    assert_eq!(dtags["rollgate:managed"], "true");

    // The second run: nothing to write, and it says so.
    let before = c.writes().len();
    let again = c.ok(&["up"]);
    assert!(again.stderr.contains("Nothing to do"), "{}", again.stderr);
    assert_eq!(c.writes().len(), before, "a second up writes nothing");
    let outputs: Value = serde_json::from_str(&c.ok(&["up", "--output", "json"]).stdout).unwrap();
    assert_eq!(outputs["changes"], 0);
    let overrides = outputs["sam_parameter_overrides"].as_str().unwrap();
    assert!(
        overrides.contains(&format!("ClusterArns=arn:aws:ecs:us-east-1:123456789012:cluster/{app}")),
        "{overrides}"
    );
    assert!(
        overrides.contains(&format!("Repositories={app}")) && overrides.contains("TaskRoleArn=arn:aws:iam::"),
        "{overrides}"
    );
    assert_eq!(c.writes().len(), before);
}

#[test]
fn a_config_change_makes_only_that_change() {
    let c = Cli::new("cli-change");
    c.ok(&["up"]);
    let writes = c.writes().len();
    c.write_config(&c.config.replace("desired_count = 2", "desired_count = 5"));
    let plan = c.ok(&["plan"]).stdout;
    assert!(plan.contains("desired_count: 2 -> 5") && plan.contains("0 to create, 1 to update, 8 unchanged"), "{plan}");
    c.ok(&["up"]);
    assert_eq!(c.writes()[writes..], ["UpdateService"]);
    assert_eq!(c.s.describe_service(&c.app, &c.app)["desiredCount"], 5);

    // New cpu/memory: a new revision, and the service moves to it.
    let live = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    let writes = c.writes().len();
    c.write_config(
        &c.config
            .replace("desired_count = 2", "desired_count = 5")
            .replace("cpu = 1024\nmemory = 4096", "cpu = 2048\nmemory = 8192"),
    );
    c.ok(&["up"]);
    assert_eq!(c.writes()[writes..], ["RegisterTaskDefinition", "UpdateService"]);
    let now = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    assert_ne!(now, live);
    let (def, _) = c.s.describe_task_definition(&now);
    assert_eq!((def["cpu"].as_str(), def["memory"].as_str()), (Some("2048"), Some("8192")));
    let (old, _) = c.s.describe_task_definition(&live);
    assert_eq!(
        def["containerDefinitions"][0]["image"], old["containerDefinitions"][0]["image"],
        "the image is rollgate's to change"
    );
}

#[test]
fn bad_configs_exit_2_with_zero_aws_calls() {
    let c = Cli::new("cli-bad");
    let cases = [
        (c.config.replace("memory = 4096", "memory = 4000"), "task.memory"),
        (c.config.replace("cpu = 1024", "cpu = 999"), "task.cpu"),
        (c.config.replace(&format!("subnets = [\"{}\"]", c.s.network().0), "subnets = []"), "service.subnets"),
        (format!("{}\nunknown_knob = 1\n", c.config), "gate.unknown_knob"),
        (c.config.replace("[gate]", "[gates]"), "gates"),
        ("this is not toml".to_owned(), "rollgate.toml"),
    ];
    for (text, field) in cases {
        c.write_config(&text);
        for cmd in ["plan", "up", "down"] {
            let r = c.run(&[cmd, "--yes"][..if cmd == "down" { 2 } else { 1 }]);
            assert_eq!(r.code, 2, "{cmd} with bad {field}: {}", r.stderr);
            assert!(r.stderr.contains(field), "the error names {field}: {}", r.stderr);
        }
    }
    let missing = c.run(&["plan", "--config", "nowhere.toml"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("cannot read nowhere.toml"), "{}", missing.stderr);
    assert_eq!(c.s.calls(), vec![], "no AWS call at all");
}

#[test]
fn down_removes_what_rollgate_tagged_and_nothing_else() {
    let c = Cli::new("cli-down");
    // Someone else's resources: a role under the same naming scheme, untagged, and an unrelated repository.
    c.ok(&["up"]);
    let stranger = format!("{}-stranger", c.s.name);
    c.s.boto("ecr", "create_repository", json!({"repositoryName": stranger}));
    c.s.push_image(&c.app, "v1");

    let refused = c.run(&["down", "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("holds 1 images") && refused.stderr.contains("--force"), "{}", refused.stderr);
    c.s.boto("ecr", "describe_repositories", json!({"repositoryNames": [c.app]}));
    assert!(c.s.describe_service(&c.app, &c.app)["status"] == "ACTIVE", "nothing was deleted");

    let no_tty = c.run(&["down"]);
    assert_eq!(no_tty.code, 2);
    assert!(no_tty.stderr.contains("--yes"), "{}", no_tty.stderr);

    c.ok(&["down", "--yes", "--force"]);
    let gone = |svc: &str, op: &str, p: Value| c.s.em.boto().try_call(svc, op, p).is_err();
    assert!(gone("ecr", "describe_repositories", json!({"repositoryNames": [c.app]})));
    assert!(gone("iam", "get_role", json!({"RoleName": format!("{}-execution", c.app)})));
    assert!(gone("iam", "get_role", json!({"RoleName": format!("{}-codebuild", c.app)})));
    let projects = c.s.boto("codebuild", "batch_get_projects", json!({"names": [format!("{}-image-build", c.app)]}));
    assert_eq!(projects["projects"], json!([]));
    let clusters = c.s.boto("ecs", "describe_clusters", json!({"clusters": [c.app]}));
    assert!(clusters["clusters"].as_array().unwrap().iter().all(|c| c["status"] != "ACTIVE"));
    let groups = c.s.boto("logs", "describe_log_groups", json!({"logGroupNamePrefix": format!("/rollgate/{}", c.app)}));
    assert_eq!(groups["logGroups"], json!([]));
    let families = c.s.boto("ecs", "list_task_definitions", json!({"familyPrefix": c.app, "status": "ACTIVE"}));
    assert_eq!(families["taskDefinitionArns"], json!([]));
    // Not rollgate's: untouched.
    c.s.boto("ecr", "describe_repositories", json!({"repositoryNames": [stranger]}));
}

#[test]
fn down_leaves_a_same_named_resource_that_is_not_ours() {
    let c = Cli::new("cli-foreign");
    let role = format!("{}-task", c.app);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    c.s.boto("iam", "create_role", json!({"RoleName": role, "AssumeRolePolicyDocument": trust.to_string()}));
    let r = c.ok(&["down", "--yes"]);
    assert!(
        r.stderr.contains(&format!("deleting IAM task role {role} ... left alone: not tagged as this app's")),
        "{}",
        r.stderr
    );
    c.s.boto("iam", "get_role", json!({"RoleName": role}));
}

/// Pushes `tag` and runs the real deploy handler for the CLI's app; returns the new revision.
async fn deploy(c: &Cli, tag: &str, time: &str) -> String {
    let digest = c.s.push_image(&c.app, tag);
    let event = c.s.push_event(&c.app, &digest, tag, time);
    let ecs = rollgate_aws::ecs::Ecs::new(&c.s.aws_options().load().await);
    let config = rollgate_core::config::DeployConfig {
        clusters: vec![c.app.clone()],
        max_in_flight: 2,
        trusted_registries: vec![],
    };
    let report = deploy::handler::handle(&ecs, &config, &event).await.unwrap();
    match &report.services[..] {
        [one] => match &one.outcome {
            rollgate_core::report::Outcome::Deployed { revision, .. } => revision.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn status_shows_the_history_and_rollback_is_recorded_in_the_ledger() {
    let c = Cli::new("cli-status");
    c.ok(&["up"]);
    let initial = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    let v1 = deploy(&c, "v1.0.0", "2026-11-28T09:00:00Z").await;
    let v2 = deploy(&c, "v2.0.0", "2026-11-28T10:00:00Z").await;

    let status: Value = serde_json::from_str(&c.ok(&["status", "--output", "json"]).stdout).unwrap();
    let rows = status["history"].as_array().unwrap();
    let brief: Vec<(String, String, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["image_tag"].as_str().unwrap_or("-").to_owned(),
                r["state"].as_str().unwrap().to_owned(),
                r["live"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        brief,
        [
            ("v2.0.0".to_owned(), "deploying".to_owned(), true),
            ("v1.0.0".into(), "deploying".into(), false),
            ("-".into(), "initial".into(), false)
        ]
    );
    assert_eq!(rows[0]["pushed_at"], "2026-11-28T10:00:00Z");
    assert!(rows[0]["digest"].as_str().unwrap().starts_with("sha256:"));
    let text = c.ok(&["status"]).stdout;
    assert!(text.contains("v2.0.0") && text.contains("deploying") && text.contains("live"), "{text}");

    // Manual rollback: no last known good yet, so to the revision v2 recorded as known good (the initial one).
    let before = c.writes().len();
    let r = c.ok(&["rollback"]);
    assert!(r.stdout.contains("now runs"), "{}", r.stdout);
    assert_eq!(c.s.describe_service(&c.app, &c.app)["taskDefinition"], json!(initial));
    let (_, tags) = c.s.describe_task_definition(&v2);
    assert_eq!(tags["rollgate:state"], "rolled-back");
    assert!(tags["rollgate:reason"].as_str().unwrap().contains("manual rollback"));
    let service_tags = c.tags(&c.s.describe_service(&c.app, &c.app)["tags"]);
    assert!(service_tags.keys().any(|k| k.starts_with("rollgate:failed:sha256:")), "{service_tags:?}");
    // The target is the last known good from now on: a later failure never goes back to v2.
    assert_eq!(service_tags["rollgate:last-good"], json!(initial));
    assert_eq!(c.writes()[before..], ["TagResource", "UpdateService", "PutEvents", "TagResource"]);

    // Rolling back to a revision that was never verified is refused, and writes nothing.
    let before = c.writes().len();
    let v1_number = v1.rsplit(':').next().unwrap();
    let refused = c.run(&["rollback", "--to", v1_number]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("not healthy"), "{}", refused.stderr);
    let already = c.run(&["rollback", "--to", &initial]);
    assert_eq!(already.code, 2);
    assert!(already.stderr.contains("already live"), "{}", already.stderr);
    assert_eq!(c.writes().len(), before);
}
