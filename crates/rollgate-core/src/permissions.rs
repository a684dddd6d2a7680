//! The AWS actions each function calls: the one list the template's policies are tested
//! against (tests/template.rs). Add an action here when the code starts calling it.

/// `deploy`: discovery, the copy of the revision (with its ledger tags) and the rollout.
pub const DEPLOY: &[&str] = &[
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    // RegisterTaskDefinition with tags is authorised as TagResource too.
    "ecs:TagResource",
    "ecs:UpdateService",
    // Registering a revision that names task and execution roles passes them to ECS.
    "iam:PassRole",
];

/// `health-gate`: reading rollouts, recording verdicts, rolling back, alarms, notifications.
pub const HEALTH_GATE: &[&str] = &[
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:TagResource",
    "ecs:UpdateService",
    "cloudwatch:DescribeAlarms",
    "events:PutEvents",
];

/// Every function and its actions, by the function's crate name.
pub const FUNCTIONS: &[(&str, &[&str])] = &[("deploy", DEPLOY), ("health-gate", HEALTH_GATE)];
