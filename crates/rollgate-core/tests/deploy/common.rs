//! Shared fixtures of the deploy decision tests: a push from events/, a service, its live
//! revision. Each test binary uses part of it.
#![allow(dead_code, unused_imports)]

pub use rollgate_core::deploy::{Decision, Match, PlanError, SkipReason, match_service, plan_rollout};
pub use rollgate_core::events::{EcrAction, PushEvent, parse_ecr_event};
pub use rollgate_core::ledger::{RevisionRecord, keys};
pub use rollgate_core::service::{ContainerImage, DeploymentController, OptIn, ServiceView, Tags, TaskDefSummary};
pub use rollgate_core::{ServiceArn, TaskDefArn};

pub const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

pub fn push(fixture: &str) -> PushEvent {
    let path = format!("{}/../../events/{fixture}", env!("CARGO_MANIFEST_DIR"));
    match parse_ecr_event(&std::fs::read_to_string(path).unwrap()).unwrap() {
        EcrAction::Push(p) => p,
        other => panic!("{fixture} is not a push: {other:?}"),
    }
}

pub fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn service(extra: &[(&str, &str)]) -> ServiceView {
    let mut t = tags(&[(keys::REPOSITORY, "rollgate-demo")]);
    t.extend(tags(extra));
    ServiceView {
        arn: ServiceArn::parse("arn:aws:ecs:us-east-1:123456789012:service/prod/model").unwrap(),
        status: rollgate_core::service::ServiceStatus::Active,
        task_definition: Some(taskdef_arn(3)),
        tags: t,
        deployments: vec![],
        deployment_controller: DeploymentController::Ecs,
        fargate: true,
        current_service_deployment: None,
    }
}

pub fn taskdef_arn(rev: u32) -> TaskDefArn {
    TaskDefArn::parse(&format!("arn:aws:ecs:us-east-1:123456789012:task-definition/model:{rev}")).unwrap()
}

pub fn current(containers: &[(&str, &str)], ledger: &[(&str, &str)]) -> TaskDefSummary {
    TaskDefSummary {
        platform: None,
        fargate_platform: None,
        arn: taskdef_arn(3),
        containers: containers
            .iter()
            .map(|(n, i)| ContainerImage { name: n.to_string(), image: i.to_string() })
            .collect(),
        tags: tags(ledger),
    }
}

pub fn opt_in(svc: &ServiceView) -> OptIn {
    OptIn::from_tags(&svc.tags).unwrap().unwrap()
}

pub fn model_image(tag: &str) -> String {
    format!("{REGISTRY}/rollgate-demo:{tag}")
}
