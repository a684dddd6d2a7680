//! The `model-build` function as a library, so tests can drive its handler against an emulator.
pub mod handler;
