//! Test support: the emulator process, AWS's own client (boto3) for checks, and fixtures.
//!
//! One emulator serves the whole test binary. Tests stay independent by using their own
//! resource names and their own access key id, which the emulator's call log is keyed by.

pub mod boto;
pub mod emulator;
pub mod faults;
pub mod fixtures;
pub mod http;
pub mod iam;

pub use boto::Boto;
pub use emulator::{Emulator, emulator};
pub use fixtures::{Scenario, ServiceSpec};

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// A binary of this workspace, built by `make test` (cargo build --bins) before the tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/integration-<hash> -> target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (`make test` does)",
        path.display()
    );
    path
}

/// The Python that has the pinned test tools: `$ROLLGATE_PYTHON`, else `.venv/bin/python`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("ROLLGATE_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python test environment at {}: run `make venv` (it installs tests/requirements.txt into .venv)",
        venv.display()
    );
    venv
}
