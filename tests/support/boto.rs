//! AWS's own client: a persistent boto3 process (tests/emulator/boto_shell.py).
//! Tests check what rollgate wrote through it, not through the code under test.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::{python, root};

pub struct Boto {
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    /// Exits at EOF on its stdin, when the test process ends.
    _child: Child,
}

/// An error AWS returned to boto3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotoError {
    pub code: String,
    pub message: String,
}

impl Boto {
    pub fn start(endpoint: &str) -> Self {
        let mut child = Command::new(python())
            .arg(root().join("tests/emulator/boto_shell.py"))
            .args(["--endpoint", endpoint])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start boto_shell.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self { io: Mutex::new((stdin, stdout)), _child: child }
    }

    /// Calls `service.operation(**params)` (boto3 snake_case names) in us-east-1.
    pub fn try_call(&self, service: &str, operation: &str, params: Value) -> Result<Value, BotoError> {
        self.try_call_region(service, operation, params, "us-east-1")
    }

    /// Like [`Boto::try_call`], in `region`.
    pub fn try_call_region(
        &self,
        service: &str,
        operation: &str,
        params: Value,
        region: &str,
    ) -> Result<Value, BotoError> {
        self.send(json!({"service": service, "operation": operation, "params": params, "region": region}))
    }

    /// Like [`Boto::try_call`], signed with `access_key` (a principal the emulator may
    /// authorize with a policy, support::iam): what someone holding that policy could do.
    pub fn try_call_as(
        &self,
        access_key: &str,
        service: &str,
        operation: &str,
        params: Value,
    ) -> Result<Value, BotoError> {
        self.send(json!({"service": service, "operation": operation, "params": params, "access_key": access_key}))
    }

    /// Like [`Boto::try_call`], served in another account (moto's `x-moto-account-id`): that
    /// account's own resources, such as a central registry's repositories.
    pub fn try_call_in_account(
        &self,
        account_id: &str,
        service: &str,
        operation: &str,
        params: Value,
    ) -> Result<Value, BotoError> {
        self.send(json!({"service": service, "operation": operation, "params": params, "account_id": account_id}))
    }

    fn send(&self, request: Value) -> Result<Value, BotoError> {
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(io.0, "{request}").expect("write to boto_shell");
        io.0.flush().expect("flush boto_shell");
        let mut line = String::new();
        io.1.read_line(&mut line).expect("read boto_shell");
        assert!(!line.is_empty(), "boto_shell exited (see stderr)");
        let reply: Value = serde_json::from_str(&line).expect("boto_shell answers JSON");
        if let Some(err) = reply.get("error") {
            return Err(BotoError {
                code: err["code"].as_str().unwrap_or_default().to_owned(),
                message: err["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(reply["ok"].clone())
    }

    /// Like [`Boto::try_call`], panicking on an AWS error.
    pub fn call(&self, service: &str, operation: &str, params: Value) -> Value {
        self.try_call(service, operation, params.clone())
            .unwrap_or_else(|e| panic!("boto3 {service}.{operation}({params}) failed: {e:?}"))
    }
}
