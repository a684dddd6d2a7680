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

/// The IAM policy docs/iam/cli-policy.json says a user of the `rollgate` CLI needs: the CLI's
/// tests run with exactly it (the emulator enforces it, tests/emulator/iam_enforce.py).
fn cli_policy() -> Value {
    let path = support::root().join("docs/iam/cli-policy.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let policy: Value = serde_json::from_str(&text).expect("cli-policy.json is JSON");
    policy["Statement"].clone()
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
        support::iam::register_statements(&s.em.url, &s.access_key, "cli", cli_policy());
        let cli = Self { s, dir, app, config };
        cli.write_config(&cli.config.clone());
        cli
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.dir.join("rollgate.toml"), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs with the test's environment, then `env`: `(name, None)` removes a variable.
    fn run_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
        let mut cmd = Command::new(binary("rollgate"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", &self.s.em.url)
            .env("AWS_ACCESS_KEY_ID", &self.s.access_key)
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("no-aws-credentials"));
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.output().expect("run rollgate");
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
    let build_policy = b(
        "iam",
        "get_role_policy",
        json!({"RoleName": format!("{app}-codebuild"), "PolicyName": "rollgate-us-east-1"}),
    );
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
    // `v*` is outside AWS's tag alphabet: stored encoded (rollgate_core::tags).
    assert_eq!(stags["rollgate:tag-filter"], "base64:dio=");
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

    // Repository, cluster and build settings converge in place, each with its own call (and
    // under docs/iam/cli-policy.json, like every CLI test).
    let writes = c.writes().len();
    let changed = c
        .config
        .replace("desired_count = 2", "desired_count = 5")
        .replace("cpu = 1024\nmemory = 4096", "cpu = 2048\nmemory = 8192")
        + "\n[repository]\nscan_on_push = false\ntag_mutability = \"MUTABLE\"\n\n[cluster]\ncontainer_insights = false\n\n[build]\ncompute_type = \"BUILD_GENERAL1_LARGE\"\n";
    // Mutable tags with the untagged-expiry rule: refused (a re-pushed tag leaves the live
    // image untagged, and the rule would delete it), before any AWS call.
    c.write_config(&changed);
    let refused = c.run(&["up"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("untagged_expiry_days = 0"), "{}", refused.stderr);
    assert_eq!(c.writes().len(), writes);
    let changed =
        changed.replace("tag_mutability = \"MUTABLE\"", "tag_mutability = \"MUTABLE\"\nuntagged_expiry_days = 0");
    c.write_config(&changed);
    c.ok(&["up"]);
    let mut ops = c.writes()[writes..].to_vec();
    ops.sort();
    assert_eq!(
        ops,
        [
            "DeleteLifecyclePolicy",
            "PutImageScanningConfiguration",
            "PutImageTagMutability",
            "UpdateClusterSettings",
            "UpdateProject"
        ],
        "one call per changed setting"
    );
    let policy = c.s.em.boto().try_call("ecr", "get_lifecycle_policy", json!({"repositoryName": c.app}));
    assert_eq!(policy.unwrap_err().code, "LifecyclePolicyNotFoundException", "no rule with mutable tags");
    let repo = &c.s.boto("ecr", "describe_repositories", json!({"repositoryNames": [c.app]}))["repositories"][0];
    assert_eq!(
        (repo["imageScanningConfiguration"]["scanOnPush"].as_bool(), repo["imageTagMutability"].as_str()),
        (Some(false), Some("MUTABLE"))
    );
    let cluster =
        &c.s.boto("ecs", "describe_clusters", json!({"clusters": [c.app], "include": ["SETTINGS"]}))["clusters"][0];
    assert_eq!(cluster["settings"][0]["value"], "disabled");
    let project = &c.s.boto("codebuild", "batch_get_projects", json!({"names": [format!("{}-image-build", c.app)]}))["projects"]
        [0];
    assert_eq!(project["environment"]["computeType"], "BUILD_GENERAL1_LARGE");
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
    assert!(refused.stderr.contains("holds 1 image;") && refused.stderr.contains("--force"), "{}", refused.stderr);
    c.s.boto("ecr", "describe_repositories", json!({"repositoryNames": [c.app]}));
    assert!(c.s.describe_service(&c.app, &c.app)["status"] == "ACTIVE", "nothing was deleted");

    let no_tty = c.run(&["down", "--force"]);
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
    // Nothing of the app exists: down deletes nothing and says so, by account and region.
    let r = c.run(&["down", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("account 123456789012, region us-east-1 was found: nothing deleted"), "{}", r.stderr);
    c.s.boto("iam", "get_role", json!({"RoleName": role}));
    assert_eq!(c.writes(), Vec::<String>::new());
}

/// Pushes `tag` and runs the real deploy handler for the CLI's app; returns the new revision.
async fn deploy(c: &Cli, tag: &str, time: &str) -> String {
    let digest = c.s.push_image(&c.app, tag);
    let event = c.s.push_event(&c.app, &digest, tag, time);
    let sdk = c.s.function_options("deploy").load().await;
    let (ecs, ecr) = (rollgate_aws::ecs::Ecs::new(&sdk), rollgate_aws::ecr::Ecr::new(&sdk));
    let config = rollgate_core::config::DeployConfig {
        clusters: vec![c.app.clone()],
        max_in_flight: 2,
        trusted_registries: vec![],
        discovery: Default::default(),
        reconcile: Default::default(),
    };
    let report =
        deploy::handler::handle(&rollgate_aws::Aws::new().with_ecs(ecs.clone()).with_ecr(ecr.clone()), &config, &event)
            .await
            .unwrap();
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

    // Manual rollback: no last known good yet, so to the revision v2 recorded as known good (the
    // initial one). Its image is `up`'s placeholder, which ECR does not hold: ECS could not start
    // its tasks, so the rollback is refused, naming the image, and writes nothing.
    let before = c.writes().len();
    let refused = c.run(&["rollback"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains(":bootstrap, which ECR does not hold"), "{}", refused.stderr);
    assert_eq!(c.writes().len(), before);
    // Once the placeholder exists (a team pushes a real first image under that tag), it goes.
    c.s.push_image(&c.app, "bootstrap");
    let before = c.writes().len();
    let r = c.ok(&["rollback"]);
    assert!(r.stdout.contains("now runs"), "{}", r.stdout);
    assert_eq!(c.s.describe_service(&c.app, &c.app)["taskDefinition"], json!(initial));
    let (_, tags) = c.s.describe_task_definition(&v2);
    // The gate follows a manual rollback to its outcome, like its own.
    assert_eq!(tags["rollgate:state"], "rolling-back");
    assert_eq!(tags["rollgate:rolled-back-by"], "manual");
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

    // CI deregisters old revisions: the last known good is INACTIVE, and ECS refuses to deploy
    // it ("TaskDefinition is inactive"). A rollback goes to a fresh copy of it, as the gate's
    // does, and status still shows it, marked deregistered.
    let v3 = deploy(&c, "v3.0.0", "2026-11-28T11:00:00Z").await;
    c.s.boto("ecs", "deregister_task_definition", json!({"taskDefinition": initial}));
    let r = c.ok(&["rollback"]);
    assert!(r.stdout.contains("a fresh copy of deregistered"), "{}", r.stdout);
    let live = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    assert_ne!(live, initial, "never the INACTIVE revision itself");
    let (def, copy_tags) = c.s.describe_task_definition(&live);
    assert_eq!(def["status"], "ACTIVE");
    assert_eq!(copy_tags["rollgate:copy-of"], json!(initial));
    let (_, tags) = c.s.describe_task_definition(&v3);
    assert_eq!(tags["rollgate:state"], "rolling-back");
    assert_eq!(tags["rollgate:rollback-to"], json!(live), "the ledger names the copy the service runs");
    let status: Value = serde_json::from_str(&c.ok(&["status", "--output", "json"]).stdout).unwrap();
    let rows = status["history"].as_array().unwrap();
    let row = |arn: &str| {
        rows.iter().find(|r| r["arn"] == json!(arn)).cloned().unwrap_or_else(|| panic!("{arn} not in {rows:?}"))
    };
    assert_eq!(row(&initial)["deregistered"], true, "a deregistered revision is still in the history");
    assert_eq!(row(&live)["deregistered"], false);
    assert!(c.ok(&["status"]).stdout.contains("deregistered"));
    // The copy runs: a second plain rollback would go back to the original, the copy itself
    // (and mark its own digest failed). It is already live.
    let before = c.writes().len();
    let again = c.run(&["rollback"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already live"), "{}", again.stderr);
    assert_eq!(c.writes().len(), before, "nothing written");
}

// ---- Issue 12: the CLI never acts on the wrong account or region, never hides drift ----

fn role_names(c: &Cli) -> [String; 3] {
    [format!("{}-execution", c.app), format!("{}-task", c.app), format!("{}-codebuild", c.app)]
}

/// Case 1: `down` in a region where the app is not deletes nothing, IAM roles included, and
/// says where it looked; the live app in us-east-1 is untouched (checked through boto3).
#[test]
fn down_in_another_region_leaves_the_live_app_in_place() {
    let c = Cli::new("cli-wrong-region");
    c.ok(&["up"]);
    let writes = c.writes().len();
    let plan = c.ok(&["plan", "--region", "eu-west-1"]).stdout;
    assert!(plan.starts_with(&format!("Plan for app {} in account 123456789012, region eu-west-1\n", c.app)), "{plan}");

    let r = c.run(&["down", "--yes", "--region", "eu-west-1"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("region eu-west-1"), "{}", r.stderr);
    assert!(r.stderr.contains("serve the app in us-east-1: nothing deleted"), "{}", r.stderr);
    assert_eq!(c.writes().len(), writes, "nothing was written");
    for role in role_names(&c) {
        let got = c.s.boto("iam", "get_role", json!({"RoleName": role}));
        assert_eq!(c.tags(&got["Role"]["Tags"])["rollgate:region:us-east-1"], "in-use", "{role}");
    }
    assert_eq!(c.s.describe_service(&c.app, &c.app)["status"], "ACTIVE");

    // Naming the account does not delete roles another region's copy of the app uses.
    let r = c.run(&["down", "--yes", "--region", "eu-west-1", "--delete-iam-roles", "123456789012"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("serve the app in us-east-1"), "{}", r.stderr);
    for role in role_names(&c) {
        c.s.boto("iam", "get_role", json!({"RoleName": role}));
    }
    assert_eq!(c.writes().len(), writes, "nothing was written");
    let wrong = c.run(&["down", "--yes", "--region", "eu-west-1", "--delete-iam-roles", "999999999999"]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("another account"), "{}", wrong.stderr);

    // Without a terminal, the refusal names the account and the region it would act on.
    let no_tty = c.run(&["down"]);
    assert_eq!(no_tty.code, 2);
    assert!(no_tty.stderr.contains("account 123456789012, region us-east-1") && no_tty.stderr.contains("--yes"));
    assert_eq!(c.s.describe_service(&c.app, &c.app)["status"], "ACTIVE");
}

/// The app in two regions shares its (global) roles: `down` in one keeps them for the other;
/// the last `down` deletes them.
#[test]
fn roles_shared_by_two_regions_outlive_the_first_down() {
    let c = Cli::new("cli-two-regions");
    c.ok(&["up"]);
    // moto, like EC2, knows subnets per region: us-west-2 needs its own.
    let west = |op: &str, p: Value| c.s.em.boto().try_call_region("ec2", op, p, "us-west-2").unwrap();
    let vpc = west("create_vpc", json!({"CidrBlock": "10.1.0.0/16"}))["Vpc"]["VpcId"].as_str().unwrap().to_owned();
    let subnet = west("create_subnet", json!({"VpcId": vpc, "CidrBlock": "10.1.1.0/24"}))["Subnet"]["SubnetId"].clone();
    let sg =
        west("create_security_group", json!({"GroupName": "w", "Description": "w", "VpcId": vpc}))["GroupId"].clone();
    let (east_subnet, east_sg) = c.s.network();
    let west_config = c.config.replace(&east_subnet, subnet.as_str().unwrap()).replace(&east_sg, sg.as_str().unwrap());
    std::fs::write(c.dir.join("west.toml"), west_config).unwrap();
    c.ok(&["up", "--region", "us-west-2", "--config", "west.toml"]);
    // Each region's build policy names its own repository: both are kept.
    let policies = c.s.boto("iam", "list_role_policies", json!({"RoleName": format!("{}-codebuild", c.app)}));
    assert_eq!(policies["PolicyNames"], json!(["rollgate-us-east-1", "rollgate-us-west-2"]));
    let again = c.ok(&["up"]);
    assert!(again.stderr.contains("Nothing to do"), "up in one region does not undo the other's: {}", again.stderr);
    for role in role_names(&c) {
        let tags = c.tags(&c.s.boto("iam", "get_role", json!({"RoleName": role}))["Role"]["Tags"]);
        assert!(tags.contains_key("rollgate:region:us-east-1") && tags.contains_key("rollgate:region:us-west-2"));
    }
    c.ok(&["down", "--yes", "--region", "us-west-2", "--config", "west.toml"]);
    let policies = c.s.boto("iam", "list_role_policies", json!({"RoleName": format!("{}-codebuild", c.app)}));
    assert_eq!(policies["PolicyNames"], json!(["rollgate-us-east-1"]));
    let west = c.s.em.boto().try_call_region("ecs", "describe_clusters", json!({"clusters": [c.app]}), "us-west-2");
    assert!(west.unwrap()["clusters"].as_array().unwrap().iter().all(|cl| cl["status"] != "ACTIVE"));
    for role in role_names(&c) {
        let tags = c.tags(&c.s.boto("iam", "get_role", json!({"RoleName": role}))["Role"]["Tags"]);
        assert!(tags.contains_key("rollgate:region:us-east-1"), "{role}: {tags:?}");
        assert!(!tags.contains_key("rollgate:region:us-west-2"), "{role}: {tags:?}");
    }
    assert_eq!(c.s.describe_service(&c.app, &c.app)["status"], "ACTIVE");
    c.ok(&["down", "--yes"]);
    for role in role_names(&c) {
        assert!(c.s.em.boto().try_call("iam", "get_role", json!({"RoleName": role})).is_err(), "{role} deleted");
    }
}

/// Case 2: credentials resolve as the AWS CLI resolves them, one test per rule. The emulator
/// logs each call under the access key that signed it, and the plan names the region.
#[test]
fn credentials_and_region_resolve_as_the_aws_cli_does() {
    let c = Cli::new("cli-profiles");
    let profile_key = format!("{}P", c.s.access_key);
    let other_key = format!("{}Q", c.s.access_key);
    std::fs::write(
        c.dir.join("credentials"),
        format!(
            "[dev]\naws_access_key_id = {profile_key}\naws_secret_access_key = s\n\n[other]\naws_access_key_id = {other_key}\naws_secret_access_key = s\n"
        ),
    )
    .unwrap();
    std::fs::write(
        c.dir.join("config"),
        "[profile dev]\nregion = eu-central-1\n\n[profile other]\nregion = eu-central-1\n",
    )
    .unwrap();
    let files = |extra: &[(&'static str, Option<&'static str>)]| {
        let mut env: Vec<(&str, Option<String>)> = vec![
            ("AWS_SHARED_CREDENTIALS_FILE", Some(c.dir.join("credentials").display().to_string())),
            ("AWS_CONFIG_FILE", Some(c.dir.join("config").display().to_string())),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.map(str::to_owned))));
        env
    };
    let run = |args: &[&str], extra: &[(&'static str, Option<&'static str>)]| {
        let env = files(extra);
        let env: Vec<(&str, Option<&str>)> = env.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        c.run_env(args, &env)
    };
    let calls_by = |key: &str| c.s.em.calls(key).len();
    let region_of =
        |r: &Run| r.stdout.lines().next().unwrap_or_default().rsplit("region ").next().unwrap_or_default().to_owned();

    // 1. --profile beats AWS_ACCESS_KEY_ID (set by the harness for every run).
    let r = run(&["plan", "--profile", "dev"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(calls_by(&profile_key) > 0, "the profile's key signed the calls");
    assert_eq!(calls_by(&c.s.access_key), 0, "the environment's key signed nothing");
    // 2. AWS_REGION beats the profile's region; 3. --region beats AWS_REGION.
    assert_eq!(region_of(&r), "us-east-1");
    assert_eq!(region_of(&run(&["plan", "--profile", "dev", "--region", "ap-south-1"], &[])), "ap-south-1");
    // 4. Without AWS_REGION, the profile's region.
    assert_eq!(region_of(&run(&["plan", "--profile", "dev"], &[("AWS_REGION", None)])), "eu-central-1");
    // 5. AWS_PROFILE (not --profile) loses to AWS_ACCESS_KEY_ID, as in the AWS CLI.
    let before = calls_by(&other_key);
    assert_eq!(run(&["plan"], &[("AWS_PROFILE", Some("other"))]).code, 0);
    assert_eq!(calls_by(&other_key), before, "AWS_PROFILE does not override the environment's keys");
    assert!(calls_by(&c.s.access_key) > 0);
    // 6. AWS_PROFILE alone is used.
    let r =
        run(&["plan"], &[("AWS_PROFILE", Some("other")), ("AWS_ACCESS_KEY_ID", None), ("AWS_SECRET_ACCESS_KEY", None)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(calls_by(&other_key) > before);
    // 7. An unknown profile is named, and nothing is called.
    let all = calls_by(&profile_key) + calls_by(&other_key) + calls_by(&c.s.access_key);
    let r = run(&["down", "--yes", "--profile", "nosuch"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("AWS profile `nosuch` not found"), "{}", r.stderr);
    assert!(!r.stderr.to_lowercase().contains("imds"), "{}", r.stderr);
    assert_eq!(calls_by(&profile_key) + calls_by(&other_key) + calls_by(&c.s.access_key), all);
}

/// Case 5: every error names its real cause, with zero AWS calls where the input is bad.
#[test]
fn errors_name_the_real_cause() {
    let c = Cli::new("cli-errors");
    // A region typo: named, before any call.
    let r = c.run(&["plan", "--region", "us-east-l"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--region \"us-east-l\" is not an AWS region name"), "{}", r.stderr);
    let r = c.run_env(&["plan"], &[("AWS_REGION", Some("us-east-l"))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("\"us-east-l\"") && r.stderr.contains("not an AWS region name"), "{}", r.stderr);
    let r = c.run_env(&["plan"], &[("AWS_REGION", None), ("AWS_DEFAULT_REGION", None)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no AWS region: pass --region, set AWS_REGION"), "{}", r.stderr);
    assert_eq!(c.s.calls(), vec![]);
    // An endpoint that does not answer: named, not "check your AWS credentials".
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let r = c.run(&["plan", "--endpoint-url", &dead]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("the endpoint {dead} did not answer")), "{}", r.stderr);
    assert!(!r.stderr.contains("credentials"), "{}", r.stderr);
    // status in a region where the app is not: says where it looked, not "run rollgate up".
    let r = c.run(&["status", "--region", "eu-west-3"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("account 123456789012, region eu-west-3") && r.stderr.contains("--region"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("run `rollgate up` first"), "{}", r.stderr);
    // A config given with --config is named, with a real line.
    std::fs::write(c.dir.join("other.toml"), c.config.replace("cpu = 1024\n", "")).unwrap();
    let r = c.run(&["plan", "--config", "other.toml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("task.cpu: missing field `cpu` in [task] (other.toml line 4)"), "{}", r.stderr);
    std::fs::write(c.dir.join("other.toml"), c.config.replace("[gate]", "[gates]")).unwrap();
    let r = c.run(&["plan", "--config", "other.toml"]);
    assert!(r.stderr.contains("unknown section [gates]") && r.stderr.contains("did you mean [gate]?"), "{}", r.stderr);
    // With --output json, the error is JSON on stdout too.
    let r = c.run(&["plan", "--config", "other.toml", "--output", "json"]);
    let json: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    assert_eq!((json["error"]["kind"].as_str(), json["error"]["exit_code"].as_i64()), (Some("bad-input"), Some(2)));
    assert!(json["error"]["message"].as_str().unwrap().contains("gates"));
}

/// Case 6: the README's example configuration, copied with its placeholders, is refused; with
/// real values in their place it is accepted.
#[test]
fn the_readme_example_config_is_refused_with_placeholders_and_accepted_with_values() {
    let c = Cli::new("cli-readme-config");
    let readme = std::fs::read_to_string(support::root().join("README.md")).unwrap();
    let start = readme.find("```toml\n").expect("README has a toml block") + "```toml\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    std::fs::write(c.dir.join("rollgate.toml"), example).unwrap();
    let r = c.run(&["plan"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("placeholder"), "{}", r.stderr);
    // The README quotes these errors with their line numbers: they must be the real ones.
    let quoted = |from: &str| {
        let at = readme.find(from).unwrap_or_else(|| panic!("the README quotes {from:?}"));
        let line = &readme[at..];
        line[line.find("rollgate.toml line ").unwrap()..].split(')').next().unwrap().to_owned()
    };
    assert!(r.stderr.contains(&quoted("is a placeholder from the documentation (")), "{}", r.stderr);
    let (subnet, sg) = c.s.network();
    let filled = example
        .replace("subnet-0123456789abcdef0", &subnet)
        .replace("sg-0123456789abcdef0", &sg)
        .replace('\u{2026}', "0");
    // Commented out rather than removed, so that line numbers stay the README's.
    let filled = filled
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("initial_image") || t.starts_with("target_group_arn") {
                format!("# {l}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(c.dir.join("rollgate.toml"), filled.replace("memory = 4096", "memory = 4000")).unwrap();
    let memory = c.run(&["plan"]);
    assert!(memory.stderr.contains(&quoted("task.memory: 4000 MiB")), "{}", memory.stderr);
    std::fs::write(c.dir.join("rollgate.toml"), filled).unwrap();
    let r = c.run(&["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Case 7: plan shows the whole change (a gate setting, decoded), and the JSON plan has every
/// attribute, typed.
#[test]
fn plan_shows_whole_values_and_the_json_plan_is_complete() {
    let c = Cli::new("cli-plan-diff");
    c.ok(&["up"]);
    c.write_config(&format!(
        "{}smoke_url = \"http://model:8080/predict\"\nsmoke_body = '{{\"text\": \"great, really\"}}'\n",
        c.config.replace("bake = \"5m\"", "bake = \"15m\"")
    ));
    let plan = c.ok(&["plan"]).stdout;
    assert!(plan.contains("tags.rollgate:bake: 5m -> 15m"), "{plan}");
    assert!(
        plan.contains(
            "tags.rollgate:smoke-body: (none) -> \"{\\\"text\\\": \\\"great, really\\\"}\" (stored as base64)"
        ),
        "{plan}"
    );
    assert!(!plan.contains('\u{2026}'), "nothing truncated: {plan}");
    let json: Value = serde_json::from_str(&c.ok(&["plan", "--output", "json"]).stdout).unwrap();
    assert_eq!(json["target"]["app"], json!(c.app));
    let service = json["steps"].as_array().unwrap().iter().find(|s| s["kind"] == "service").unwrap();
    assert_eq!(service["action"], "update");
    assert_eq!(service["diffs"][0]["attr"], "tags");
    assert_eq!(service["diffs"][0]["to"]["rollgate:bake"], "15m");
    assert_eq!(service["resource"]["attrs"]["subnets"], json!([c.s.network().0]));
    // Commas and spaces survive the round trip: a second up writes nothing.
    c.ok(&["up"]);
    let before = c.writes().len();
    c.write_config(&format!(
        "{}smoke_url = \"http://model:8080/predict\"\nsmoke_body = '{{\"text\": \"great, really\"}}'\n\n[task.environment]\nMODEL_ARGS = \"--a 1, --b 2\"\n",
        c.config.replace("bake = \"5m\"", "bake = \"15m\"")
    ));
    c.ok(&["up"]);
    let after_env = c.writes().len();
    assert!(after_env > before);
    let again = c.ok(&["up"]);
    assert!(again.stderr.contains("Nothing to do"), "{}", again.stderr);
    assert_eq!(c.writes().len(), after_env);
    let live = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    let (def, _) = c.s.describe_task_definition(&live);
    assert_eq!(def["containerDefinitions"][0]["environment"], json!([{"name": "MODEL_ARGS", "value": "--a 1, --b 2"}]));
}

/// Case 4: `up` after `down` builds on a new revision, never on a deregistered one.
#[test]
fn up_after_down_never_builds_on_a_deregistered_revision() {
    let c = Cli::new("cli-up-after-down");
    c.ok(&["up"]);
    let first = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    c.ok(&["down", "--yes", "--force"]);
    let plan = c.ok(&["plan"]).stdout;
    assert!(plan.contains("9 to create"), "{plan}");
    c.ok(&["up"]);
    let now = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    assert_ne!(now, first);
    let (def, _) = c.s.describe_task_definition(&now);
    assert_eq!(def["status"], "ACTIVE");
    assert!(def["containerDefinitions"][0]["image"].as_str().unwrap().ends_with(":bootstrap"), "{def}");
}

/// Housekeeping (CI, a cleanup script) deregisters old revisions, the live one too, and ECS
/// keeps running it. `up` still builds on the revision the service runs: with no change it
/// plans nothing; a config change keeps the live image and ledger, never the placeholder
/// image (reading the INACTIVE live revision as absent moved the service onto `:bootstrap`).
#[tokio::test]
async fn up_builds_on_the_live_revision_after_housekeeping_deregistered_it() {
    let c = Cli::new("cli-live-inactive");
    c.ok(&["up"]);
    let v1 = deploy(&c, "v1.0.0", "2026-11-28T09:00:00Z").await;
    let (live, v1_tags) = c.s.describe_task_definition(&v1);
    let listed = c.s.boto("ecs", "list_task_definitions", json!({"familyPrefix": c.app, "status": "ACTIVE"}));
    for arn in listed["taskDefinitionArns"].as_array().unwrap() {
        c.s.boto("ecs", "deregister_task_definition", json!({"taskDefinition": arn}));
    }
    assert_eq!(c.s.describe_task_definition(&v1).0["status"], "INACTIVE");

    let writes = c.writes().len();
    let plan = c.ok(&["plan"]).stdout;
    assert!(plan.contains("0 to create, 0 to update, 9 unchanged"), "{plan}");
    c.ok(&["up"]);
    assert_eq!(c.writes().len(), writes, "nothing to change: nothing written");

    c.write_config(&c.config.replace("memory = 4096", "memory = 8192"));
    let plan = c.ok(&["plan"]).stdout;
    assert!(plan.contains("memory: 4096 -> 8192") && plan.contains("0 to create, 2 to update"), "{plan}");
    c.ok(&["up"]);
    assert_eq!(c.writes()[writes..], ["RegisterTaskDefinition", "UpdateService"]);
    let now = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    let (def, tags) = c.s.describe_task_definition(&now);
    assert_eq!(def["memory"], "8192");
    assert_eq!(def["containerDefinitions"][0]["image"], live["containerDefinitions"][0]["image"], "v1's image: {def}");
    assert_eq!(tags["rollgate:digest"], v1_tags["rollgate:digest"], "v1's ledger carried over: {tags:?}");
    assert_eq!(tags["rollgate:cause"], "config");
}

/// Runs the real health-gate handler on `event` for the CLI's app.
async fn gate(c: &Cli, event: &Value) -> rollgate_core::report::GateReport {
    use health_gate::handler::handle;
    let sdk = c.s.function_options("health-gate").load().await;
    let clients = rollgate_aws::Aws {
        ecs: rollgate_aws::ecs::Ecs::new(&sdk),
        cloudwatch: rollgate_aws::cloudwatch::CloudWatch::new(&sdk),
        events: rollgate_aws::eventbridge::EventBridge::new(&sdk, "default"),
        probe: rollgate_aws::probe::HttpProbe::new(std::time::Duration::from_secs(2)).unwrap(),
        builds: rollgate_aws::codebuild::CodeBuild::new(&sdk),
        ecr: rollgate_aws::ecr::Ecr::new(&sdk),
    };
    let config = rollgate_core::config::GateConfig {
        clusters: vec![c.app.clone()],
        max_in_flight: 2,
        event_bus: "default".into(),
        smoke_timeout: rollgate_core::duration::Seconds(2),
        build_project: None,
        discovery: Default::default(),
        tick_secs: 60,
        // Every tick sweeps every service: these tests are about verdicts (tests/fleet.rs is
        // about which services a tick finds).
        full_sweep_every: rollgate_core::duration::Seconds(60),
    };
    handle(&clients, &config, &event.to_string()).await.unwrap_or_else(|e| panic!("gate failed: {e}"))
}

/// An ECS deployment event (`name`) for `revision`'s deployment, `minutes` after it started.
fn deployment_event(c: &Cli, name: &str, revision: &str, minutes: i64) -> Value {
    let service = c.s.describe_service(&c.app, &c.app);
    let d = service["deployments"].as_array().unwrap().iter().find(|d| d["taskDefinition"] == json!(revision)).cloned();
    let d = d.unwrap_or_else(|| panic!("no deployment of {revision}"));
    let started = chrono::DateTime::parse_from_rfc3339(d["createdAt"].as_str().unwrap()).unwrap();
    let at = (started + chrono::Duration::minutes(minutes)).with_timezone(&chrono::Utc);
    let time = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let id = format!("{}-{name}-{minutes}-{}", c.s.name, revision.rsplit(':').next().unwrap());
    c.s.deployment_event(&id, name, service["serviceArn"].as_str().unwrap(), &d["id"], &time)
}

fn tick(c: &Cli, revision: &str, minutes: i64) -> Value {
    let mut e = deployment_event(c, "SERVICE_DEPLOYMENT_COMPLETED", revision, minutes);
    let mut t = support::fixtures::fixture_json("scheduled-tick.json");
    t["id"] = json!(format!("{}-tick", e["id"].as_str().unwrap()));
    t["time"] = e["time"].take();
    t
}

fn verdicts(report: &rollgate_core::report::GateReport) -> Vec<String> {
    serde_json::to_value(report).unwrap()["rollouts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["verdict"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Case 3: a configuration change that the gate rolls back shows as drift in `plan`, `up`
/// converges it, and the failure is never held against the live image's digest.
#[tokio::test]
async fn a_rolled_back_config_change_is_drift_and_never_marks_the_image_failed() {
    let c = Cli::new("cli-config-rollback");
    c.ok(&["up"]);
    let v1 = deploy(&c, "v1.0.0", "2026-11-28T09:00:00Z").await;
    c.s.em.force_rollout(json!({"cluster": c.app, "service": c.app, "state": "COMPLETED"}));
    let r = gate(&c, &deployment_event(&c, "SERVICE_DEPLOYMENT_COMPLETED", &v1, 3)).await;
    assert_eq!(verdicts(&r), ["baking"], "{r:?}");
    let r = gate(&c, &tick(&c, &v1, 9)).await;
    assert_eq!(verdicts(&r), ["healthy"], "{r:?}");
    let (_, v1_tags) = c.s.describe_task_definition(&v1);
    let digest = v1_tags["rollgate:digest"].as_str().unwrap().to_owned();

    // A config change: a new revision, with v1's image, that says it is a config change.
    let bigger = c.config.replace("memory = 4096", "memory = 8192");
    c.write_config(&bigger);
    c.ok(&["up"]);
    let config_rev = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    assert_ne!(config_rev, v1);
    let (def, tags) = c.s.describe_task_definition(&config_rev);
    assert_eq!(def["memory"], "8192");
    assert_eq!((tags["rollgate:cause"].as_str(), tags["rollgate:state"].as_str()), (Some("config"), Some("deploying")));
    assert_eq!(tags["rollgate:digest"], json!(digest));
    assert_eq!(tags["rollgate:known-good"], json!(v1));

    // ECS fails it; the gate rolls back to v1.
    c.s.em.force_rollout(
        json!({"cluster": c.app, "service": c.app, "state": "FAILED", "reason": "tasks failed to start"}),
    );
    let r = gate(&c, &deployment_event(&c, "SERVICE_DEPLOYMENT_FAILED", &config_rev, 5)).await;
    assert_eq!(verdicts(&r), ["rolling-back"], "{r:?}");
    let service = c.s.describe_service(&c.app, &c.app);
    assert_eq!(service["taskDefinition"], json!(v1));
    let stags = c.tags(&service["tags"]);
    assert!(!stags.contains_key(&format!("rollgate:failed:{digest}")), "the image is not failed: {stags:?}");
    assert_eq!(stags["rollgate:failed-config"], json!(config_rev));
    assert_eq!(stags["rollgate:last-good"], json!(v1));
    assert_eq!(c.s.describe_task_definition(&config_rev).1["rollgate:state"], "rolling-back");
    let status = c.ok(&["status"]).stdout;
    let row = status.lines().find(|l| l.contains(config_rev.rsplit('/').next().unwrap())).unwrap();
    assert!(row.contains("rolling-back") && row.contains("config change"), "{status}");

    // plan compares with what runs (v1, 4096), not with the newest revision (8192).
    let plan = c.ok(&["plan"]).stdout;
    assert!(plan.contains("memory: 4096 -> 8192"), "{plan}");
    assert!(plan.contains(&format!("task_definition: {v1} -> (the new revision)")), "{plan}");
    c.ok(&["up"]);
    let now = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    assert!(now != v1 && now != config_rev);
    assert_eq!(c.s.describe_task_definition(&now).0["memory"], "8192");
    assert!(c.ok(&["plan"]).stdout.contains("0 to create, 0 to update, 9 unchanged"));
}

// ---- Found by trying to break the above: more of the same kind ----

/// A typo in [cluster] name: the app's service runs elsewhere, and `down` deletes nothing.
#[test]
fn down_with_a_misnamed_cluster_deletes_nothing() {
    let c = Cli::new("cli-typo-cluster");
    c.ok(&["up"]);
    let writes = c.writes().len();
    std::fs::write(c.dir.join("typo.toml"), format!("{}\n[cluster]\nname = \"{}-prod\"\n", c.config, c.app)).unwrap();
    let r = c.run(&["down", "--yes", "--force", "--config", "typo.toml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("runs as service {} in cluster {}", c.app, c.app)), "{}", r.stderr);
    assert_eq!(c.writes().len(), writes, "nothing written");
    for role in role_names(&c) {
        c.s.boto("iam", "get_role", json!({"RoleName": role}));
    }
    let live = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    assert_eq!(c.s.describe_task_definition(&live).0["status"], "ACTIVE");
}

/// Two apps in one cluster: the second uses the first's cluster as it is, never takes it over,
/// and its `down` keeps it; a cluster holding someone else's service is kept too.
#[test]
fn a_shared_cluster_is_used_never_taken_over_and_kept_while_occupied() {
    let a = Cli::new("cli-share-a");
    let b = Cli::new("cli-share-b");
    a.ok(&["up"]);
    b.write_config(&format!("{}\n[cluster]\nname = \"{}\"\n", b.config, a.app));
    let plan = b.ok(&["plan"]).stdout;
    assert!(plan.contains(&format!("use as it is: it belongs to rollgate app {}", a.app)), "{plan}");
    b.ok(&["up"]);
    let cluster =
        &b.s.boto("ecs", "describe_clusters", json!({"clusters": [a.app], "include": ["TAGS"]}))["clusters"][0];
    assert_eq!(b.tags(&cluster["tags"])["rollgate:app"], json!(a.app), "still the first app's");
    let r = b.ok(&["down", "--yes"]);
    assert!(r.stderr.contains("left alone: not tagged as this app's"), "{}", r.stderr);
    assert_eq!(a.s.describe_service(&a.app, &a.app)["status"], "ACTIVE");
    // A service of someone else's in the app's own cluster: the cluster is kept.
    let (subnet, sg) = a.s.network();
    // Its image is in the other team's own repository.
    let td = a.s.model_task_definition("other", &a.s.repository("other-team"));
    a.s.boto(
        "ecs",
        "create_service",
        json!({"cluster": a.app, "serviceName": "other-team", "taskDefinition": td,
        "desiredCount": 1, "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}}),
    );
    let r = a.ok(&["down", "--yes"]);
    assert!(r.stderr.contains("kept: services that are not this app's still use it (other-team)"), "{}", r.stderr);
    let cl = &a.s.boto("ecs", "describe_clusters", json!({"clusters": [a.app]}))["clusters"][0];
    assert_eq!(cl["status"], "ACTIVE");
    assert_eq!(a.s.describe_service(&a.app, "other-team")["status"], "ACTIVE");
}

/// An untagged role of the same name is a conflict: `up` writes nothing; `--adopt` manages it.
#[test]
fn an_untagged_same_named_role_is_a_conflict_unless_adopted() {
    let c = Cli::new("cli-adopt");
    let role = format!("{}-task", c.app);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    c.s.boto("iam", "create_role", json!({"RoleName": role, "AssumeRolePolicyDocument": trust.to_string()}));
    let r = c.run(&["up"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("IAM task role {role} belongs to no rollgate app")) && r.stderr.contains("--adopt"),
        "{}",
        r.stderr
    );
    assert_eq!(c.writes(), Vec::<String>::new());
    let plan = c.run(&["plan"]);
    assert_eq!(plan.code, 2);
    assert!(plan.stdout.contains("! IAM task role") && plan.stdout.contains("1 in conflict"), "{}", plan.stdout);
    c.ok(&["up", "--adopt"]);
    let got = c.s.boto("iam", "get_role", json!({"RoleName": role}))["Role"].clone();
    assert_eq!(got["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"], "ecs-tasks.amazonaws.com");
    assert_eq!(c.tags(&got["Tags"])["rollgate:app"], json!(c.app));
}

/// IAM drift is shown whole (the trust policy document), and the task role gets exactly the
/// policies rollgate.toml names.
#[test]
fn trust_policy_drift_shows_and_task_role_policies_converge() {
    let c = Cli::new("cli-iam-drift");
    c.ok(&["up"]);
    let role = format!("{}-task", c.app);
    let widened = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::666666666666:root"}, "Action": "sts:AssumeRole"}]});
    c.s.boto("iam", "update_assume_role_policy", json!({"RoleName": role, "PolicyDocument": widened.to_string()}));
    let backdoor = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    c.s.boto(
        "iam",
        "put_role_policy",
        json!({"RoleName": role, "PolicyName": "backdoor", "PolicyDocument": backdoor.to_string()}),
    );
    let plan = c.ok(&["plan"]).stdout;
    assert!(plan.contains("trust_policy:") && plan.contains("666666666666"), "{plan}");
    assert!(plan.contains("other_inline_policies: [backdoor] -> []"), "{plan}");
    let policy = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    c.write_config(&c.config.replace("[service]", &format!("role_policy_arns = [\"{policy}\"]\n\n[service]")));
    c.ok(&["up"]);
    let attached = c.s.boto("iam", "list_attached_role_policies", json!({"RoleName": role}));
    assert_eq!(attached["AttachedPolicies"][0]["PolicyArn"], policy);
    let doc = c.s.boto("iam", "get_role", json!({"RoleName": role}))["Role"]["AssumeRolePolicyDocument"].clone();
    assert_eq!(doc["Statement"].as_array().unwrap().len(), 1, "the widened trust was converged: {doc}");
    let inline = c.s.boto("iam", "list_role_policies", json!({"RoleName": role}));
    assert_eq!(inline["PolicyNames"], json!([]), "the hand-made inline policy was removed");
    assert!(c.ok(&["up"]).stderr.contains("Nothing to do"));
}

/// More causes named: a rollback target in another region, a profile in AWS_PROFILE that does
/// not exist, half a key pair, an endpoint without a scheme, a bad argument with -o json.
#[test]
fn more_errors_name_the_real_cause() {
    let c = Cli::new("cli-errors-2");
    c.ok(&["up"]);
    let writes = c.writes().len();
    let r = c.run(&["rollback", "--to", &format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{}:1", c.app)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("region eu-west-1, but the service is in account 123456789012, region us-east-1"),
        "{}",
        r.stderr
    );
    assert_eq!(c.writes().len(), writes);
    let r = c.run_env(&["status"], &[("AWS_PROFILE", Some("nosuch"))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("AWS_PROFILE names profile `nosuch`, which is not defined"), "{}", r.stderr);
    let r = c.run_env(&["status"], &[("AWS_SECRET_ACCESS_KEY", None)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"), "{}", r.stderr);
    let r = c.run(&["status", "--endpoint-url", "127.0.0.1:4566"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a URL: write it with its scheme"), "{}", r.stderr);
    let r = c.run(&["plan", "--output", "json", "--no-such-flag"]);
    assert_eq!(r.code, 2);
    let json: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    assert_eq!(json["error"]["kind"], "bad-input");
    // A target group in another region: named, before any write.
    let tg = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/model/73e2d6bc24d8a067";
    std::fs::write(
        c.dir.join("tg.toml"),
        c.config.replace("[service]", &format!("[service]\ntarget_group_arn = \"{tg}\"")),
    )
    .unwrap();
    let r = c.run(&["up", "--config", "tg.toml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("service.target_group_arn: the target group is in account 123456789012, region eu-west-1"),
        "{}",
        r.stderr
    );
    std::fs::create_dir_all(c.dir.join("adir")).unwrap();
    let r = c.run(&["plan", "--config", "adir"]);
    assert!(r.stderr.contains("it is a directory"), "{}", r.stderr);
    assert_eq!(c.writes().len(), writes);
}

/// A repository another app's service tracks survives this app's `down`; a renamed service is
/// refused by `up` (it would start a second copy); `rollback --to` another family is refused.
#[tokio::test]
async fn down_keeps_a_shared_repository_up_refuses_a_second_copy_and_rollback_stays_in_its_family() {
    let a = Cli::new("cli-repo-a");
    let b = Cli::new("cli-repo-b");
    a.ok(&["up"]);
    b.write_config(&format!("{}\n[repository]\nname = \"{}\"\n", b.config, a.app));
    let plan = b.ok(&["plan"]).stdout;
    assert!(plan.contains(&format!("= ECR repository       {:<36} use as it is", a.app)), "{plan}");
    b.ok(&["up"]);
    let r = a.ok(&["down", "--yes"]);
    assert!(
        r.stderr.contains(&format!("kept: services that are not this app's still use it ({}/{})", b.app, b.app)),
        "{}",
        r.stderr
    );
    a.s.boto("ecr", "describe_repositories", json!({"repositoryNames": [a.app]}));

    // A renamed service: `up` refuses before any write; the first copy keeps running.
    let writes = b.writes().len();
    let v2 = b.config.replace("[service]\n", &format!("[service]\nname = \"{}-v2\"\n", b.app));
    std::fs::write(b.dir.join("v2.toml"), format!("{v2}\n[repository]\nname = \"{}\"\n", a.app)).unwrap();
    let r = b.run(&["up", "--config", "v2.toml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("would start a second copy of the app"), "{}", r.stderr);
    assert_eq!(b.writes().len(), writes, "nothing written");
    let r = b.run(&["plan", "--config", "v2.toml", "--output", "json"]);
    assert_eq!(r.code, 2);
    let json: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("one JSON document: {e}: {}", r.stdout));
    assert!(json["error"]["message"].as_str().unwrap().contains("second copy"), "{json}");

    // rollback --to a revision of another family (here, the other app's): refused, nothing written.
    let other = a.s.model_task_definition("stranger", &a.app);
    let r = b.run(&["rollback", "--to", &other]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not this service's"), "{}", r.stderr);
    assert_eq!(b.writes().len(), writes, "nothing written");
}

/// What deploy did with one push to `repository`, for the services of `cluster`.
async fn push_report(
    c: &Cli,
    cluster: &str,
    repository: &str,
    tag: &str,
    time: &str,
) -> rollgate_core::report::DeployReport {
    let digest = c.s.push_image(repository, tag);
    let event = c.s.push_event(repository, &digest, tag, time);
    let sdk = c.s.function_options("deploy").load().await;
    let (ecs, ecr) = (rollgate_aws::ecs::Ecs::new(&sdk), rollgate_aws::ecr::Ecr::new(&sdk));
    let config = rollgate_core::config::DeployConfig {
        clusters: vec![cluster.to_owned()],
        max_in_flight: 2,
        trusted_registries: vec![],
        discovery: Default::default(),
        reconcile: Default::default(),
    };
    deploy::handler::handle(&rollgate_aws::Aws::new().with_ecs(ecs.clone()).with_ecr(ecr.clone()), &config, &event)
        .await
        .unwrap()
}

/// What deploy did with one push, for the one service tracking `repository`.
async fn push_outcome(
    c: &Cli,
    cluster: &str,
    repository: &str,
    tag: &str,
    time: &str,
) -> rollgate_core::report::Outcome {
    let report = push_report(c, cluster, repository, tag, time).await;
    assert_eq!(report.services.len(), 1, "{report:?}");
    report.services[0].outcome.clone()
}

fn deployed(o: &rollgate_core::report::Outcome) -> bool {
    matches!(o, rollgate_core::report::Outcome::Deployed { .. })
}

#[tokio::test]
async fn tag_filters_outside_the_tag_alphabet_round_trip_through_up_and_deploy() {
    let c = Cli::new("cli-semver");
    // A filter with `>`, `=`, `,` and `<`, and an environment value with ", ": neither may be
    // cut or refused (ECS's TagValue pattern; the emulator enforces it).
    let config = c.config.replace("tag_filter = \"v*\"", "tag_filter = \"semver:>=1.4, <2\"")
        + "\n[task.environment]\nLABELS = \"a, b, c\"\n";
    c.write_config(&config);
    c.ok(&["up"]);
    let service = c.s.describe_service(&c.app, &c.app);
    let stored = c.tags(&service["tags"])["rollgate:tag-filter"].as_str().unwrap().to_owned();
    assert!(stored.starts_with("base64:"), "{stored}");
    assert_eq!(rollgate_core::tags::decode("f", &stored).unwrap(), "semver:>=1.4, <2");
    let (def, _) = c.s.describe_task_definition(service["taskDefinition"].as_str().unwrap());
    assert!(def["containerDefinitions"][0]["environment"].to_string().contains("a, b, c"), "{def}");
    // A second up sees no change and writes nothing.
    let before = c.writes().len();
    assert!(c.ok(&["up"]).stderr.contains("Nothing to do"));
    assert_eq!(c.writes().len(), before);
    // plan shows the filter decoded.
    assert!(c.ok(&["plan"]).stdout.contains("0 to create, 0 to update"));

    // The filter works: 1.5 deploys, 2.0 does not.
    assert!(deployed(&push_outcome(&c, &c.app, &c.app, "v1.5.0", "2026-11-28T10:00:00Z").await));
    let o = push_outcome(&c, &c.app, &c.app, "v2.0.0", "2026-11-28T10:01:00Z").await;
    assert!(format!("{o:?}").contains("TagFiltered"), "{o:?}");

    // Back to `v*`: one tag update, then v9 deploys.
    c.write_config(&c.config);
    c.ok(&["up"]);
    let stags = c.tags(&c.s.describe_service(&c.app, &c.app)["tags"]);
    assert_eq!(stags["rollgate:tag-filter"], "base64:dio=");
    assert!(deployed(&push_outcome(&c, &c.app, &c.app, "v9", "2026-11-28T10:02:00Z").await));
}

#[tokio::test]
async fn track_opts_a_service_in_with_any_filter_shows_it_decoded_and_untrack_opts_out() {
    let c = Cli::new("cli-track");
    let s = &c.s;
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let base = s.model_task_definition("model", &repo);
    s.service(support::ServiceSpec { cluster: &cluster, name: "api", task_definition: &base, tags: vec![] });
    let target = ["--cluster", cluster.as_str(), "--service", "api"];
    let args = |extra: &[&str]| -> Vec<String> {
        ["track"].iter().chain(&target).chain(extra).map(|a| a.to_string()).collect()
    };

    // Not tracked: shown as such; a change without --repository is refused; nothing written.
    let run = |extra: &[&str]| {
        let a = args(extra);
        c.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let ok = |extra: &[&str]| {
        let a = args(extra);
        c.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert!(ok(&[]).stdout.contains("api in cluster") && ok(&[]).stdout.contains(": not tracked"));
    let r = run(&["--bake", "5m"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("pass --repository"), "{}", r.stderr);
    // A cluster ARN of another region names another cluster than the same-named one here.
    let elsewhere = format!("arn:aws:ecs:eu-west-1:123456789012:cluster/{cluster}");
    let r = c.run(&["track", "--cluster", &elsewhere, "--service", "api", "--repository", &repo]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is in account 123456789012, region eu-west-1"), "{}", r.stderr);
    // Bad input is refused before any write.
    for (bad, why) in [
        (vec!["--repository", &repo, "--tag-filter", "regex:("], "--tag-filter"),
        (vec!["--repository", &repo, "--smoke-body", "{}"], "pass --smoke-url too"),
        (vec!["--repository", &repo, "--container", "nope"], "no such container"),
        (vec!["--repository", "Not A Repo"], "rollgate:repository"),
        (vec!["--repository", &repo, "--unset", "colour"], "not a rollgate setting"),
    ] {
        let r = run(&bad);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
        assert!(r.stderr.contains(why), "{bad:?}: {}", r.stderr);
    }
    // Untagged deploys and a lifecycle rule that expires untagged images (the rule
    // `rollgate up` writes): refused, since a live untagged image would be deleted.
    s.boto(
        "ecr",
        "put_lifecycle_policy",
        json!({"repositoryName": repo, "lifecyclePolicyText": json!({"rules": [{"rulePriority": 1,
            "description": "expire untagged images", "selection": {"tagStatus": "untagged",
            "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]})
            .to_string()}),
    );
    let r = run(&["--repository", &repo, "--deploy-untagged", "true"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("lifecycle policy expires untagged images (rule 1"), "{}", r.stderr);
    s.boto("ecr", "delete_lifecycle_policy", json!({"repositoryName": repo}));
    assert_eq!(c.writes(), Vec::<String>::new(), "refusals write nothing");

    let dry = ok(&["--repository", &repo, "--tag-filter", "v*", "--dry-run"]);
    assert!(dry.stdout.contains("would set rollgate:tag-filter"), "{}", dry.stdout);
    assert_eq!(c.writes(), Vec::<String>::new(), "--dry-run writes nothing");

    let r = ok(&["--repository", &repo, "--tag-filter", "v*", "--smoke-url", "http://m:8080/predict?x=1"]);
    assert!(
        r.stdout.contains("rollgate:tag-filter") && r.stdout.contains("v*   (stored as base64:dio=)"),
        "{}",
        r.stdout
    );
    let stags = c.tags(&s.describe_service(&cluster, "api")["tags"]);
    assert_eq!(stags["rollgate:tag-filter"], "base64:dio=");
    assert_eq!(stags["rollgate:repository"], json!(repo));

    // Deployed through the filter: v1 deploys, latest does not.
    assert!(deployed(&push_outcome(&c, &cluster, &repo, "v1", "2026-11-28T10:00:00Z").await));
    let o = push_outcome(&c, &cluster, &repo, "latest", "2026-11-28T10:01:00Z").await;
    assert!(format!("{o:?}").contains("TagFiltered"), "{o:?}");

    // Showing again writes nothing; JSON has the decoded values.
    let before = c.writes().len();
    let shown: Value = serde_json::from_str(&ok(&["-o", "json"]).stdout).unwrap();
    assert_eq!(c.writes().len(), before);
    let filter = shown["tags"].as_array().unwrap().iter().find(|t| t["key"] == "rollgate:tag-filter").unwrap();
    assert_eq!((filter["value"].as_str(), filter["stored"].as_str()), (Some("v*"), Some("base64:dio=")));

    // A value decoded from a hand-written tag cannot forge lines or colours on the terminal.
    let arn = s.describe_service(&cluster, "api")["serviceArn"].as_str().unwrap().to_owned();
    let forged = rollgate_core::tags::encode("m", "ok\u{1b}[31m\nrollgate:repository  evil").unwrap();
    s.boto(
        "ecs",
        "tag_resource",
        json!({"resourceArn": arn, "tags": [{"key": "rollgate:smoke-match", "value": forged}]}),
    );
    let shown = ok(&[]).stdout;
    assert!(!shown.contains('\u{1b}') && !shown.contains("\nrollgate:repository  evil"), "{shown}");
    assert!(shown.contains(r#""ok\u{1b}[31m\nrollgate:repository  evil""#), "{shown}");
    s.boto("ecs", "untag_resource", json!({"resourceArn": arn, "tagKeys": ["rollgate:smoke-match"]}));

    // untrack removes the opt-in and the settings; the ledger stays.
    c.ok(&["untrack", "--cluster", &cluster, "--service", "api"]);
    let stags = c.tags(&s.describe_service(&cluster, "api")["tags"]);
    assert!(!stags.contains_key("rollgate:repository") && !stags.contains_key("rollgate:tag-filter"), "{stags:?}");
    let report = push_report(&c, &cluster, &repo, "v2", "2026-11-28T10:02:00Z").await;
    assert_eq!(report.deployed().count(), 0, "an untracked service is not deployed: {report:?}");

    // A service `rollgate up` manages is changed through rollgate.toml, not track.
    c.ok(&["up"]);
    let r = c.run(&["track", "--cluster", &c.app, "--service", &c.app, "--tag-filter", "*"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("managed by `rollgate up`"), "{}", r.stderr);
}

/// ECS allows 50 tags a service. Adopting a same-named service that carries 45 tags of its
/// owner's would pass that once rollgate's settings and the gate's ledger are added: `plan`
/// and `up --adopt` refuse before any write (before, `up` moved the service to a new revision
/// and then failed on TagResource, half-adopted), and `down` keeps what that service uses.
#[test]
fn adopting_a_service_with_too_many_tags_is_refused_before_any_write() {
    let c = Cli::new("cli-adopt-tags");
    let s = &c.s;
    s.boto("ecs", "create_cluster", json!({"clusterName": c.app}));
    let base =
        s.task_definition("hand", json!([{"name": "model", "image": "public.ecr.aws/x/model:1", "essential": true}]));
    let tags: Vec<(String, String)> = (0..45).map(|i| (format!("owner-{i}"), format!("v{i}"))).collect();
    s.service(support::ServiceSpec {
        cluster: &c.app,
        name: &c.app,
        task_definition: &base,
        tags: tags.iter().map(|(k, v)| (k.as_str(), v.clone())).collect(),
    });
    for args in [&["plan", "--adopt"][..], &["up", "--adopt"][..]] {
        let r = c.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(&format!("ECS service {} would carry", c.app)) && r.stderr.contains("nothing written"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(c.writes(), Vec::<String>::new(), "refused before any write");
    assert_eq!(c.s.describe_service(&c.app, &c.app)["taskDefinition"], json!(base), "the service did not move");
}

/// docs/iam/cli-policy.json, as the emulator enforces it: what a holder of the CLI's policy
/// may not do outside rollgate's own resources (each refused with AccessDenied, nothing
/// changed), next to what it may.
#[test]
fn the_cli_policy_refuses_what_is_not_rollgates() {
    let c = Cli::new("cli-policy");
    c.ok(&["up"]);
    let key = c.s.access_key.clone();
    let as_cli = |service: &str, op: &str, params: Value| c.s.em.boto().try_call_as(&key, service, op, params);
    // Someone else's service, repository, log group and role, untagged.
    let cluster = c.s.cluster("other");
    let repo = c.s.repository("other");
    let def = c.s.model_task_definition("other", &repo);
    c.s.service(support::ServiceSpec { cluster: &cluster, name: "api", task_definition: &def, tags: vec![] });
    c.s.boto("logs", "create_log_group", json!({"logGroupName": format!("/rollgate/{}-other", c.s.name)}));
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}]});
    let role = format!("{}-other-task", c.s.name);
    c.s.boto("iam", "create_role", json!({"RoleName": role, "AssumeRolePolicyDocument": trust.to_string()}));
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let refused: Vec<(&str, &str, Value)> = vec![
        ("ecs", "delete_service", json!({"cluster": cluster, "service": "api", "force": true})),
        ("ecs", "delete_cluster", json!({"cluster": cluster})),
        ("ecs", "update_service", json!({"cluster": cluster, "service": "api", "desiredCount": 0})),
        (
            "ecs",
            "tag_resource",
            json!({"resourceArn": c.s.describe_service(&cluster, "api")["serviceArn"], "tags": [{"key": "rollgate:managed", "value": "true"}]}),
        ),
        ("ecr", "delete_repository", json!({"repositoryName": repo, "force": true})),
        ("logs", "delete_log_group", json!({"logGroupName": format!("/rollgate/{}-other", c.s.name)})),
        ("iam", "attach_role_policy", json!({"RoleName": role, "PolicyArn": admin})),
        (
            "iam",
            "put_role_policy",
            json!({"RoleName": role, "PolicyName": "x", "PolicyDocument": json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}).to_string()}),
        ),
        ("iam", "delete_role", json!({"RoleName": role})),
        (
            "iam",
            "create_role",
            json!({"RoleName": format!("{}-backdoor-task", c.s.name), "AssumeRolePolicyDocument": trust.to_string()}),
        ),
        (
            "iam",
            "create_role",
            json!({"RoleName": format!("{}-admin", c.s.name), "AssumeRolePolicyDocument": trust.to_string(), "Tags": [{"Key": "rollgate:managed", "Value": "true"}]}),
        ),
    ];
    for (service, op, params) in refused {
        let e = as_cli(service, op, params.clone()).expect_err(&format!("{service}.{op}({params}) was allowed"));
        assert!(e.code.contains("AccessDenied"), "{service}.{op}: {e:?}");
    }
    // Nothing changed.
    assert_eq!(c.s.describe_service(&cluster, "api")["status"], "ACTIVE");
    assert_eq!(c.s.describe_service(&cluster, "api")["desiredCount"], 2);
    let attached = c.s.boto("iam", "list_attached_role_policies", json!({"RoleName": role}));
    assert_eq!(attached["AttachedPolicies"], json!([]));
    // The app's own resources, tagged by `up`: allowed.
    as_cli("ecs", "update_service", json!({"cluster": c.app, "service": c.app, "desiredCount": 3})).unwrap();
    as_cli(
        "logs",
        "put_retention_policy",
        json!({"logGroupName": format!("/rollgate/{}", c.app), "retentionInDays": 7}),
    )
    .unwrap();
}

/// A canary made by hand from the app's own revision (not tagged as the app's) still runs on
/// the app's task family, roles, log group and image repository: `down` removes the app's
/// service but keeps all of those, and the cluster the canary is in; the canary keeps running.
#[test]
fn down_keeps_what_a_hand_made_canary_of_the_app_runs_on() {
    let c = Cli::new("cli-canary");
    c.ok(&["up"]);
    let live = c.s.describe_service(&c.app, &c.app)["taskDefinition"].as_str().unwrap().to_owned();
    let (subnet, sg) = c.s.network();
    c.s.boto(
        "ecs",
        "create_service",
        json!({"cluster": c.app, "serviceName": "canary", "taskDefinition": live, "desiredCount": 1,
               "launchType": "FARGATE",
               "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}}),
    );
    let r = c.ok(&["down", "--yes", "--force"]);
    assert!(r.stderr.contains(&format!("{}/canary", c.app)), "{}", r.stderr);
    assert_eq!(c.s.describe_service(&c.app, &c.app)["status"], "INACTIVE", "the app's own service is gone");
    assert_eq!(c.s.describe_service(&c.app, "canary")["status"], "ACTIVE");
    let (def, _) = c.s.describe_task_definition(&live);
    assert_eq!(def["status"], "ACTIVE", "the canary's revision is not deregistered");
    for role in [format!("{}-execution", c.app), format!("{}-task", c.app)] {
        c.s.boto("iam", "get_role", json!({"RoleName": role}));
    }
    c.s.boto("ecr", "describe_repositories", json!({"repositoryNames": [c.app]}));
    let groups = c.s.boto("logs", "describe_log_groups", json!({"logGroupNamePrefix": format!("/rollgate/{}", c.app)}));
    assert_eq!(groups["logGroups"].as_array().unwrap().len(), 1);
    let cluster = &c.s.boto("ecs", "describe_clusters", json!({"clusters": [c.app]}))["clusters"][0];
    assert_eq!(cluster["status"], "ACTIVE");
}

/// CreateService whose answer is lost (the connection drops after ECS created the service):
/// the SDK's retry carries the same client token, so ECS answers the service it created
/// instead of "Creation of service was not idempotent", and `up` finishes with one service.
#[test]
fn up_survives_a_lost_create_service_answer() {
    let c = Cli::new("cli-lost-create");
    let faults = support::faults::faults();
    faults.configure(
        &c.s.access_key,
        json!({"seed": 7, "operations": {"CreateService": {"reset_after": 1.0}}, "max_faults": 1}),
    );
    let r = c.run_env(&["up"], &[("AWS_ENDPOINT_URL", Some(&faults.url)), ("AWS_MAX_ATTEMPTS", Some("3"))]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let stats = faults.stats(&c.s.access_key);
    assert_eq!(stats["injected"]["reset_after"], 1, "the answer was lost once: {stats}");
    assert_eq!(c.s.count_calls("CreateService"), 2, "one retry");
    assert_eq!(c.s.describe_service(&c.app, &c.app)["status"], "ACTIVE");
    let listed = c.s.boto("ecs", "list_services", json!({"cluster": c.app}));
    assert_eq!(listed["serviceArns"].as_array().unwrap().len(), 1);
}

/// `rollgate rollback` while a person's hand-registered revision runs (a break-test's probe):
/// the CLI may not tag that revision (its policy tags only what rollgate manages), and the
/// revision is not rollgate's to write to. Before, the CLI rolled back, published, then failed
/// with AccessDenied on the revision; now the service records the rollback (`rollgate:outside`,
/// `rollgate:failed-config`), the gate follows it, and the CLI succeeds. `status` shows the
/// hand revision's state from the service's record.
#[tokio::test]
async fn rollback_while_a_hand_revision_runs_writes_only_the_service() {
    let c = Cli::new("cli-hand-rollback");
    c.ok(&["up"]);
    let v1 = deploy(&c, "v1.0.0", "2026-11-28T09:00:00Z").await;
    c.s.em.force_rollout(json!({"cluster": c.app, "service": c.app, "state": "COMPLETED"}));
    gate(&c, &deployment_event(&c, "SERVICE_DEPLOYMENT_COMPLETED", &v1, 3)).await;
    assert_eq!(verdicts(&gate(&c, &tick(&c, &v1, 9)).await), ["healthy"]);
    let (def, _) = c.s.describe_task_definition(&v1);
    let mut params = json!({"family": c.app, "containerDefinitions": def["containerDefinitions"],
        "requiresCompatibilities": def["requiresCompatibilities"], "networkMode": def["networkMode"],
        "cpu": def["cpu"], "memory": "8192"});
    for k in ["executionRoleArn", "taskRoleArn"] {
        if !def[k].is_null() {
            params[k] = def[k].clone();
        }
    }
    let hand = c.s.register(params);
    c.s.boto("ecs", "update_service", json!({"cluster": c.app, "service": c.app, "taskDefinition": hand}));
    assert_eq!(verdicts(&gate(&c, &tick(&c, &hand, 1)).await), ["verifying"]);
    let status: Value = serde_json::from_str(&c.ok(&["status", "--output", "json"]).stdout).unwrap();
    let row = status["history"].as_array().unwrap().iter().find(|r| r["arn"] == json!(hand)).cloned().unwrap();
    assert_eq!(row["state"], "verifying", "{row}");

    c.ok(&["rollback"]);
    let (_, hand_tags) = c.s.describe_task_definition(&hand);
    assert!(!hand_tags.keys().any(|k| k.starts_with("rollgate:")), "{hand_tags:?}");
    let tags = c.tags(&c.s.describe_service(&c.app, &c.app)["tags"]);
    assert_eq!(tags["rollgate:failed-config"], json!(hand));
    assert!(tags["rollgate:outside"].as_str().unwrap().starts_with("rolling-back@"), "{tags:?}");
    c.s.em.force_rollout(json!({"cluster": c.app, "service": c.app, "state": "COMPLETED"}));
    gate(&c, &tick(&c, &v1, 20)).await;
    let tags = c.tags(&c.s.describe_service(&c.app, &c.app)["tags"]);
    assert!(tags["rollgate:outside"].as_str().unwrap().starts_with("rolled-back@"), "{tags:?}");
    assert!(!tags.contains_key("rollgate:rollback"), "the rollback was followed to its end");
}
