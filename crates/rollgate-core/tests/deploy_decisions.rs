//! Table tests of the deploy decisions, driven by the fixtures in events/.

#[path = "deploy/common.rs"]
mod common;

use common::*;

#[test]
fn matching_table() {
    let p = push("ecr-push.json");
    let cases: Vec<(&str, ServiceView, &str)> = vec![
        ("opted in, default filter", service(&[]), "candidate"),
        ("glob filter passes", service(&[(keys::TAG_FILTER, "v*")]), "candidate"),
        ("semver filter passes", service(&[(keys::TAG_FILTER, "semver:^1")]), "candidate"),
        ("semver filter fails", service(&[(keys::TAG_FILTER, "semver:^2")]), "skip"),
        ("regex filter fails", service(&[(keys::TAG_FILTER, "regex:release-.*")]), "skip"),
        ("broken filter", service(&[(keys::TAG_FILTER, "regex:(")]), "misconfigured"),
        ("other repository", service(&[(keys::REPOSITORY, "other-repo")]), "not tracking"),
        ("not opted in", ServiceView { tags: Tags::new(), ..service(&[]) }, "not tracking"),
        ("draining", ServiceView { status: rollgate_core::service::ServiceStatus::Draining, ..service(&[]) }, "skip"),
        (
            "CodeDeploy controller",
            ServiceView { deployment_controller: DeploymentController::CodeDeploy, ..service(&[]) },
            "skip",
        ),
        (
            "external controller",
            ServiceView { deployment_controller: DeploymentController::External, ..service(&[]) },
            "skip",
        ),
        (
            "other account",
            ServiceView {
                arn: ServiceArn::parse("arn:aws:ecs:us-east-1:999999999999:service/prod/model").unwrap(),
                ..service(&[])
            },
            "skip",
        ),
        (
            "other region",
            ServiceView {
                arn: ServiceArn::parse("arn:aws:ecs:eu-west-1:123456789012:service/prod/model").unwrap(),
                ..service(&[])
            },
            "skip",
        ),
    ];
    for (name, svc, want) in cases {
        let got = match match_service(&p, &svc, &[]) {
            Match::NotTracking => "not tracking",
            Match::Skip(_) => "skip",
            Match::Misconfigured(_) => "misconfigured",
            Match::Candidate(_) => "candidate",
        };
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn other_account_event_is_skipped_with_reason() {
    let p = push("ecr-push-other-account.json");
    let Match::Skip(reason) = match_service(&p, &service(&[]), &[]) else {
        panic!("expected a skip");
    };
    assert!(matches!(reason, SkipReason::AccountMismatch { .. }));
    assert!(reason.to_string().contains("210987654321"), "{reason}");
    // A trusted central registry's pushes are accepted.
    let central = rollgate_core::AccountId::parse("210987654321").unwrap();
    assert!(matches!(match_service(&p, &service(&[]), &[central]), Match::Candidate(_)));
}

#[test]
fn rollout_pins_the_digest_and_touches_one_container() {
    let p = push("ecr-push.json");
    let svc = service(&[]);
    let cur = current(&[("model", &model_image("v0")), ("sidecar", "public.ecr.aws/envoy:v1")], &[("team", "ml")]);
    let Decision::Rollout(plan) = plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap() else {
        panic!("expected a rollout");
    };
    assert_eq!(plan.containers, ["model"]);
    assert_eq!(plan.images, [("model".to_owned(), format!("{REGISTRY}/rollgate-demo@{}", p.digest))]);
    assert_eq!(plan.base, taskdef_arn(3));
    let t: Tags = plan.tags.iter().cloned().collect();
    assert_eq!(t["team"], "ml");
    assert_eq!(t[keys::DIGEST], p.digest.as_str());
    assert_eq!(t[keys::IMAGE_TAG], "v1.0.0");
    assert_eq!(t[keys::PUSHED_AT], "2026-11-28T10:00:00Z");
    assert_eq!(t[keys::PREVIOUS], taskdef_arn(3).as_str());
    assert_eq!(t[keys::EVENT_ID], p.envelope.id);
    assert_eq!(t[keys::SERVICE], svc.arn.as_str());
    assert_eq!(RevisionRecord::from_tags(&t).unwrap().unwrap(), plan.record);
}

/// (name, service, containers, the containers that move (space-separated) or error variant)
type ContainerCase<'a> = (&'a str, ServiceView, Vec<(&'a str, &'a str)>, Result<&'a str, &'a str>);

#[test]
fn container_selection_table() {
    let p = push("ecr-push.json");
    let model_image_v0 = model_image("v0");
    let two = [("a", model_image("v0")), ("b", model_image("v0"))];
    let two: Vec<(&str, &str)> = two.iter().map(|(n, i)| (*n, i.as_str())).collect();
    let cases: Vec<ContainerCase> = vec![
        // Every container on the repository's image moves: a task never runs two versions.
        ("both from the repository", service(&[]), two.clone(), Ok("a b")),
        ("one named, both move", service(&[(keys::CONTAINER, "b")]), two.clone(), Ok("a b")),
        ("explicit missing", service(&[(keys::CONTAINER, "zz")]), two.clone(), Err("NoSuchContainer")),
        ("one of two named missing", service(&[(keys::CONTAINER, "a zz")]), two, Err("NoSuchContainer")),
        (
            "named placeholder and the repository's",
            service(&[(keys::CONTAINER, "x")]),
            vec![("x", "public.ecr.aws/nginx/nginx:latest"), ("m", &model_image_v0), ("side", "nginx:1")],
            Ok("x m"),
        ),
        (
            "none from repo",
            service(&[]),
            vec![("x", "nginx:1"), ("y", "123456789012.dkr.ecr.us-east-1.amazonaws.com/other:v1")],
            Err("NoContainerFromRepository"),
        ),
        // The same repository name in another registry (a central one): not this push's.
        (
            "the repository from another registry",
            service(&[]),
            vec![("x", "nginx:1"), ("y", "999999999999.dkr.ecr.us-east-1.amazonaws.com/rollgate-demo:v1")],
            Err("skip OtherRegistry"),
        ),
        // Naming a container never moves it off another registry's copy of the repository...
        (
            "named, but on the central registry's copy",
            service(&[(keys::CONTAINER, "y")]),
            vec![("y", "999999999999.dkr.ecr.us-east-1.amazonaws.com/rollgate-demo:v1")],
            Err("skip OtherRegistry"),
        ),
        // ...nor moves a placeholder while the repository's container pulls from elsewhere.
        (
            "a named placeholder next to the central registry's copy",
            service(&[(keys::CONTAINER, "side")]),
            vec![("y", "999999999999.dkr.ecr.us-east-1.amazonaws.com/rollgate-demo:v1"), ("side", "nginx:1")],
            Err("skip OtherRegistry"),
        ),
        // ECR's FIPS and dual-stack endpoints name the same registry.
        (
            "dual-stack and FIPS endpoints",
            service(&[]),
            vec![
                ("a", "123456789012.dkr-ecr.us-east-1.on.aws/rollgate-demo:v0"),
                ("b", "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/rollgate-demo:v0"),
            ],
            Ok("a b"),
        ),
        (
            "explicit placeholder image",
            service(&[(keys::CONTAINER, "x")]),
            vec![("x", "public.ecr.aws/nginx/nginx:latest")],
            Ok("x"),
        ),
    ];
    for (name, svc, containers, want) in cases {
        let got = plan_rollout(&p, &svc, &opt_in(&svc), &current(&containers, &[]));
        let got = match got {
            Ok(Decision::Rollout(plan)) => Ok(plan.containers.join(" ")),
            Ok(Decision::Skip(SkipReason::OtherRegistry { .. })) => Err("skip OtherRegistry"),
            Ok(Decision::Skip(r)) => panic!("{name}: unexpected skip {r}"),
            Err(e) => Err(match e {
                PlanError::NoSuchContainer { .. } => "NoSuchContainer",
                PlanError::NoContainerFromRepository { .. } => "NoContainerFromRepository",
                PlanError::OtherRegistry { .. } => "OtherRegistry",
                PlanError::BrokenLedger(_) => "BrokenLedger",
            }),
        };
        assert_eq!(got.as_deref().map_err(|e| *e), want, "{name}");
    }
    // Each moved container keeps its own endpoint form of the registry.
    let svc = service(&[]);
    let cur =
        current(&[("a", "123456789012.dkr-ecr.us-east-1.on.aws/rollgate-demo:v0"), ("b", &model_image("v0"))], &[]);
    let Ok(Decision::Rollout(plan)) = plan_rollout(&p, &svc, &opt_in(&svc), &cur) else { panic!("a rollout") };
    assert_eq!(
        plan.images,
        [
            ("a".to_owned(), format!("123456789012.dkr-ecr.us-east-1.on.aws/rollgate-demo@{}", p.digest)),
            ("b".to_owned(), format!("{REGISTRY}/rollgate-demo@{}", p.digest)),
        ]
    );
}

/// The ledger of a revision rollgate registered for `digest` at `time`.
fn ledger(digest: &str, time: &str) -> Vec<(String, String)> {
    vec![
        (keys::DIGEST.into(), digest.into()),
        (keys::PUSHED_AT.into(), time.into()),
        (keys::EVENT_ID.into(), "earlier".into()),
        (keys::SERVICE.into(), "arn:aws:ecs:us-east-1:123456789012:service/prod/model".into()),
        (keys::CONTAINER.into(), "model".into()),
    ]
}

/// (name, running image, ledger tags of the current revision, expected decision)
type OrderingCase = (&'static str, String, Vec<(String, String)>, &'static str);

#[test]
fn ordering_and_duplicates_table() {
    let p = push("ecr-push.json");
    let other = format!("sha256:{}", "0".repeat(64));
    let svc = service(&[]);
    let image = model_image("v0");
    let pinned_same = format!("{REGISTRY}/rollgate-demo@{}", p.digest);
    let cases: Vec<OrderingCase> = vec![
        ("first rollgate deploy", image.clone(), vec![], "rollout"),
        ("same digest in ledger", image.clone(), ledger(p.digest.as_str(), "2026-11-28T09:00:00Z"), "already"),
        ("same digest already running", pinned_same, vec![], "already"),
        ("newer push deployed", image.clone(), ledger(&other, "2026-11-28T11:00:00Z"), "older"),
        ("older push deployed", image.clone(), ledger(&other, "2026-11-28T09:59:59Z"), "rollout"),
        ("same second, other digest: not provably newer", image, ledger(&other, "2026-11-28T10:00:00Z"), "older"),
    ];
    for (name, img, led, want) in cases {
        let mut cur = current(&[("model", &img)], &[]);
        cur.tags = led.into_iter().collect();
        let got = match plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap() {
            Decision::Rollout(_) => "rollout",
            Decision::Skip(SkipReason::AlreadyDeployed { .. }) => "already",
            Decision::Skip(SkipReason::OlderThanDeployed { .. }) => "older",
            Decision::Skip(other) => panic!("{name}: {other}"),
        };
        assert_eq!(got, want, "{name}");
    }
}

/// A buildx push in one second: ECR sends the (tagged, with tag-per-platform tooling) child
/// images first and the image index last, all stamped with the same second. The index
/// outranks a single image of its second, and never the other way round, whatever order the
/// events arrive in (EventBridge does not keep order).
#[test]
fn in_a_same_second_tie_the_index_outranks_a_single_image_never_the_reverse() {
    let index = push("buildx/05-push-index-v1.json");
    let mut child = push("buildx/01-push-image-linux-amd64.json");
    child.tag = Some(rollgate_core::ImageTag::parse("v1-amd64").unwrap());
    let svc = service(&[]);
    let decide = |p: &PushEvent, deployed: &PushEvent, kind: Option<&str>| {
        let mut cur = current(&[("model", &model_image("v0"))], &[]);
        cur.tags = ledger(deployed.digest.as_str(), &deployed.envelope.time.to_rfc3339()).into_iter().collect();
        if let Some(kind) = kind {
            cur.tags.insert(keys::MANIFEST.into(), kind.into());
        }
        match plan_rollout(p, &svc, &opt_in(&svc), &cur).unwrap() {
            Decision::Rollout(plan) => {
                format!("rollout {}", plan.tags.iter().find(|(k, _)| k == keys::MANIFEST).unwrap().1)
            }
            Decision::Skip(SkipReason::OlderThanDeployed { .. }) => "older".to_owned(),
            Decision::Skip(other) => panic!("{other}"),
        }
    };
    assert_eq!(index.envelope.time, child.envelope.time, "the fixtures share their second");
    assert_eq!(decide(&index, &child, Some("image")), "rollout index", "index after its child");
    assert_eq!(decide(&index, &child, None), "rollout index", "index after a revision of unknown kind");
    assert_eq!(decide(&child, &index, Some("index")), "older", "a redelivered child after its index");
    let mut other_index = push("aws-ecr-push-index-oci.json");
    other_index.envelope.time = index.envelope.time;
    assert_eq!(decide(&other_index, &index, Some("index")), "older", "two indexes of one second: no order");
}

/// The release's platforms (from ECR) against the task's runtimePlatform: a single-platform
/// image for another architecture, or an index without the task's platform, is refused with
/// both named; an unknown side is not checked.
#[test]
fn a_release_for_another_platform_is_refused_naming_both() {
    use rollgate_core::image::Platform;
    let plat =
        |os: &str, arch: &str| Platform { os: os.into(), architecture: arch.into(), variant: None, os_version: None };
    let svc = service(&[]);
    // (name, the task's platform, the image's platforms, Ok or a part of the refusal)
    type Case<'a> = (&'a str, Option<Platform>, Option<Vec<Platform>>, Result<(), &'a str>);
    let cases: Vec<Case> = vec![
        ("amd64 image, amd64 task", Some(plat("linux", "amd64")), Some(vec![plat("linux", "amd64")]), Ok(())),
        (
            "arm64 image, amd64 task",
            Some(plat("linux", "amd64")),
            Some(vec![plat("linux", "arm64")]),
            Err("linux/arm64"),
        ),
        (
            "index with both",
            Some(plat("linux", "arm64")),
            Some(vec![plat("linux", "amd64"), plat("linux", "arm64")]),
            Ok(()),
        ),
        (
            "index without the task's",
            Some(plat("linux", "arm64")),
            Some(vec![plat("linux", "amd64")]),
            Err("linux/amd64"),
        ),
        (
            "windows task, linux image",
            Some(plat("windows", "amd64")),
            Some(vec![plat("linux", "amd64")]),
            Err("windows/amd64"),
        ),
        ("an attestation (no platform)", Some(plat("linux", "amd64")), Some(vec![]), Err("no known platform")),
        ("EC2 host decides", None, Some(vec![plat("linux", "arm64")]), Ok(())),
        ("platforms not known", Some(plat("linux", "amd64")), None, Ok(())),
    ];
    for (name, task, image, want) in cases {
        let mut p = push("ecr-push.json");
        p.platforms = image;
        let mut cur = current(&[("model", &model_image("v0"))], &[]);
        cur.platform = task;
        match (plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap(), want) {
            (Decision::Rollout(_), Ok(())) => {}
            (Decision::Skip(reason @ SkipReason::PlatformMismatch { .. }), Err(part)) => {
                let text = reason.to_string();
                assert!(text.contains(part) && text.contains("runtimePlatform"), "{name}: {text}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

/// A task definition that allows EC2 (or lists no compatibility) and sets no runtimePlatform
/// runs on Fargate's default platform when the service runs it on Fargate (launch type or
/// capacity providers), and on the host's otherwise.
#[test]
fn fargate_defaults_follow_where_the_service_runs_its_tasks() {
    use rollgate_core::image::Platform;
    let mut p = push("ecr-push.json");
    p.platforms =
        Some(vec![Platform { os: "linux".into(), architecture: "arm64".into(), variant: None, os_version: None }]);
    let mut cur = current(&[("model", &model_image("v0"))], &[]);
    cur.platform = None;
    cur.fargate_platform = Platform::of_task(None, None, true);
    let on = |fargate: bool| {
        let svc = ServiceView { fargate, ..service(&[]) };
        plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap()
    };
    assert!(matches!(on(true), Decision::Skip(SkipReason::PlatformMismatch { .. })), "Fargate: linux/amd64");
    assert!(matches!(on(false), Decision::Rollout(_)), "EC2: the host decides");
}

#[test]
fn broken_ledger_is_reported_not_guessed() {
    let p = push("ecr-push.json");
    let svc = service(&[]);
    let mut cur = current(&[("model", &model_image("v0"))], &[]);
    cur.tags = ledger("sha256:garbage", "2026-11-28T09:00:00Z").into_iter().collect();
    let err = plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap_err();
    assert!(matches!(err, PlanError::BrokenLedger(_)));
    assert!(err.to_string().contains("rollgate:digest"), "{err}");
}

#[test]
fn a_digest_the_gate_failed_is_never_redeployed() {
    let p = push("ecr-push.json");
    let failed_key = format!("{}{}", keys::FAILED_PREFIX, p.digest);
    let Match::Skip(reason) = match_service(&p, &service(&[(&failed_key, "2026-11-28T10:09:00Z")]), &[]) else {
        panic!("expected a skip");
    };
    assert!(matches!(reason, SkipReason::DigestFailed { .. }));
    assert!(reason.to_string().contains("push a new image"), "{reason}");
    // Another digest failing does not block this one.
    let other = format!("{}sha256:{}", keys::FAILED_PREFIX, "1".repeat(64));
    assert!(matches!(match_service(&p, &service(&[(&other, "x")]), &[]), Match::Candidate(_)));
}

#[test]
fn new_revisions_record_state_and_the_rollback_target() {
    let p = push("ecr-push.json");
    let known_good = |svc: &ServiceView, cur: &TaskDefSummary| {
        let Decision::Rollout(plan) = plan_rollout(&p, svc, &opt_in(svc), cur).unwrap() else {
            panic!("expected a rollout")
        };
        let t: Tags = plan.tags.iter().cloned().collect();
        assert_eq!(t[keys::STATE], "deploying");
        t.get(keys::KNOWN_GOOD).cloned()
    };
    let image = model_image("v0");
    let other = format!("sha256:{}", "0".repeat(64));
    let mut unverified = current(&[("model", &image)], &[]);
    unverified.tags = ledger(&other, "2026-11-28T09:00:00Z").into_iter().collect();
    unverified.tags.insert(keys::KNOWN_GOOD.into(), taskdef_arn(1).to_string());
    let mut healthy = unverified.clone();
    healthy.tags.insert(keys::STATE.into(), "healthy".into());

    let pre_rollgate = current(&[("model", &image)], &[]);
    assert_eq!(known_good(&service(&[]), &pre_rollgate), Some(taskdef_arn(3).to_string()), "the pre-rollgate revision");
    assert_eq!(
        known_good(&service(&[]), &unverified),
        Some(taskdef_arn(1).to_string()),
        "inherited from the unverified one"
    );
    assert_eq!(known_good(&service(&[]), &healthy), Some(taskdef_arn(3).to_string()), "the healthy live one");
    let tagged = service(&[(keys::LAST_GOOD, taskdef_arn(2).as_str())]);
    assert_eq!(known_good(&tagged, &unverified), Some(taskdef_arn(2).to_string()), "the gate's last good wins");
}

#[test]
fn after_a_rollback_older_pushes_stay_out() {
    // The live revision is the old known good (no ledger), but a push from 10:30 was rolled back.
    let p = push("ecr-push.json"); // pushed at 10:00
    let svc = service(&[(keys::HIGH_WATER, "2026-11-28T10:30:00Z")]);
    let cur = current(&[("model", &model_image("v0"))], &[]);
    assert!(matches!(
        plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap(),
        Decision::Skip(SkipReason::OlderThanRolledBack { .. })
    ));
    let svc = service(&[(keys::HIGH_WATER, "2026-11-28T09:30:00Z")]);
    assert!(matches!(plan_rollout(&p, &svc, &opt_in(&svc), &cur).unwrap(), Decision::Rollout(_)));
}
