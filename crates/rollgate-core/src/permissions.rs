//! What each function needs from its deployment: the environment variables it reads, the
//! one list template.yaml is tested against for them (tests/template.rs). The AWS actions are
//! derived from the calls the code makes in the tests (`FUNCTIONS`).

use crate::config::vars;

/// The functions, by crate name. The IAM actions each may call are not listed here: they are
/// derived from what the code actually called over the whole test suite, under the emulator's
/// IAM enforcement, and compared with template.yaml (`scripts/check_permissions.py`, run by
/// `make test`).
pub const FUNCTIONS: &[&str] = &["deploy", "health-gate", "model-build"];

/// The environment variables each function reads (all of them; the template must set each).
pub const ENVIRONMENT: &[(&str, &[&str])] = &[
    (
        "deploy",
        &[
            vars::CLUSTERS,
            vars::MAX_IN_FLIGHT,
            vars::MAX_ATTEMPTS,
            vars::MAX_CALL_RATE,
            vars::TRUSTED_REGISTRIES,
            vars::DISCOVERY,
            vars::RECONCILE_SCHEDULE,
            vars::RECONCILE_EVERY,
        ],
    ),
    (
        "health-gate",
        &[
            vars::CLUSTERS,
            vars::MAX_IN_FLIGHT,
            vars::MAX_ATTEMPTS,
            vars::MAX_CALL_RATE,
            vars::EVENT_BUS,
            vars::SMOKE_TIMEOUT,
            vars::BUILD_PROJECT,
            vars::DISCOVERY,
            vars::GATE_SCHEDULE,
            vars::FULL_SWEEP_EVERY,
        ],
    ),
    (
        "model-build",
        &[
            vars::BUILD_PROJECT,
            vars::MODEL_BUCKET,
            vars::MODEL_PREFIX,
            vars::MODEL_TRIGGER,
            vars::TAG_FILTER,
            vars::EVENT_BUS,
            vars::MAX_ATTEMPTS,
            vars::MAX_CALL_RATE,
        ],
    ),
];
