//! rollgate's integration tests: the real handlers and binaries, real aws-sdk-rust clients,
//! and the moto emulator over HTTP. One file per concern.

mod cli;
mod deploy;
mod faults;
mod fleet;
mod health_gate;
mod lambda_runtime_api;
mod model;
mod readme;
mod security;
mod template;
