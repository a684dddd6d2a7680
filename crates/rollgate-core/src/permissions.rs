//! What each function needs from its deployment: the AWS actions its code calls and the
//! environment variables it reads. The one list template.yaml is tested against
//! (tests/template.rs): add an action or a variable here when the code starts using it.

use crate::config::vars;
use crate::model::vars as model_vars;

/// `deploy`: discovery, the copy of the revision (with its ledger tags), the rollout, and
/// the reconciler's look at the repositories.
pub const DEPLOY: &[&str] = &[
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    // After a lost RegisterTaskDefinition answer: the family's recent revisions.
    "ecs:ListTaskDefinitions",
    // After a refused UpdateService: the revision it would have run is removed.
    "ecs:DeregisterTaskDefinition",
    // RegisterTaskDefinition with tags is authorised as TagResource too.
    "ecs:TagResource",
    "ecs:UpdateService",
    // Registering a revision that names task and execution roles passes them to ECS.
    "iam:PassRole",
    "ecr:DescribeImages",
];

/// `health-gate`: reading rollouts, recording verdicts, rolling back, alarms, notifications,
/// and which model build made an image.
pub const HEALTH_GATE: &[&str] = &[
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:TagResource",
    // Older failed-digest tags move into rollgate:failed-digests (50 tags a service).
    "ecs:UntagResource",
    "ecs:UpdateService",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DescribeAlarmHistory",
    "events:PutEvents",
    "codebuild:ListBuildsForProject",
    "codebuild:BatchGetBuilds",
];

/// `model-build`: starting image builds and reporting failed ones.
pub const MODEL_BUILD: &[&str] = &["codebuild:StartBuild", "events:PutEvents"];

/// Every function and its actions, by the function's crate name.
pub const FUNCTIONS: &[(&str, &[&str])] =
    &[("deploy", DEPLOY), ("health-gate", HEALTH_GATE), ("model-build", MODEL_BUILD)];

/// The environment variables each function reads (all of them; the template must set each).
pub const ENVIRONMENT: &[(&str, &[&str])] = &[
    ("deploy", &[vars::CLUSTERS, vars::MAX_IN_FLIGHT, vars::MAX_ATTEMPTS, vars::TRUSTED_REGISTRIES]),
    (
        "health-gate",
        &[
            vars::CLUSTERS,
            vars::MAX_IN_FLIGHT,
            vars::MAX_ATTEMPTS,
            vars::EVENT_BUS,
            vars::SMOKE_TIMEOUT,
            vars::BUILD_PROJECT,
        ],
    ),
    (
        "model-build",
        &[
            model_vars::BUILD_PROJECT,
            model_vars::MODEL_BUCKET,
            model_vars::MODEL_PREFIX,
            model_vars::MODEL_TRIGGER,
            model_vars::TAG_FILTER,
            vars::EVENT_BUS,
            vars::MAX_ATTEMPTS,
        ],
    ),
];
