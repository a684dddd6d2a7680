//! `rollgate`: provisions the base infrastructure idempotently, shows the rollout ledger,
//! and rolls back by hand. Glue over rollgate-core (config, plans) and rollgate-aws.
//!
//! Exit codes: 0 success, 1 AWS failure, 2 bad input (arguments, rollgate.toml, refusals).
//! With `--output json`, a failure is also printed on stdout as
//! `{"error": {"kind": "bad-input" | "aws", "message": "...", "exit_code": 1 | 2}}`.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "rollgate", version, about = "Continuous deployment of model services on ECS, without a pipeline.")]
struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, default_value = "rollgate.toml", env = "ROLLGATE_CONFIG")]
    config: PathBuf,
    /// Output format.
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// AWS profile: its credentials win over AWS_ACCESS_KEY_ID, as with `aws --profile`.
    /// Without it: AWS_ACCESS_KEY_ID, else AWS_PROFILE, else the default chain.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// AWS region (else AWS_REGION, else the profile's).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Send every AWS call to this endpoint (an emulator); else AWS_ENDPOINT_URL.
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what `up` would create, change or leave alone. Writes nothing.
    Plan {
        /// Plan as `up --adopt` would.
        #[arg(long)]
        adopt: bool,
    },
    /// Create or converge every resource, in dependency order.
    Up {
        /// Take over same-named resources that carry no rollgate tags (created by hand or by
        /// another tool): tag them as this app's and manage them. Another app's resources are
        /// never taken over.
        #[arg(long)]
        adopt: bool,
    },
    /// The service's rollout history from the ledger.
    Status,
    /// Roll the service back to its last known good revision, or to --to.
    Rollback {
        /// A revision number (42), family:number, or task-definition ARN.
        #[arg(long)]
        to: Option<String>,
    },
    /// Delete what rollgate created for this app (only resources tagged as its own).
    Down {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Also delete a repository that still holds images.
        #[arg(long)]
        force: bool,
        /// Delete the app's IAM roles (global) even though none of its regional resources
        /// were found in this region. Takes the 12-digit account id, as a confirmation.
        #[arg(long, value_name = "ACCOUNT")]
        delete_iam_roles: Option<String>,
    },
}

/// A command-line error: clap's message (help and version are not errors), and with
/// `--output json` the same JSON error object on stdout as every other failure.
fn argument_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().collect();
    let json = args.windows(2).any(|w| (w[0] == "--output" || w[0] == "-o") && w[1] == "json")
        || args.iter().any(|a| a == "--output=json" || a == "-ojson");
    let _ = e.print();
    if json {
        let message = e.kind().as_str().map_or_else(|| e.to_string(), |k| format!("{k}: {e}"));
        let error = serde_json::json!({"error": {"kind": "bad-input", "message": message.trim(), "exit_code": 2}});
        output::text(&format!("{error:#}\n"));
    }
    ExitCode::from(2)
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: exit 2.
    Input(anyhow::Error),
    /// AWS failed: exit 1.
    Aws(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e),
    };
    let format = cli.output;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let (kind, e, code) = match runtime.block_on(commands::run(cli)) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::Input(e)) => ("bad-input", e, 2),
        Err(Failure::Aws(e)) => ("aws", e, 1),
    };
    eprintln!("error: {e:#}");
    if format == Format::Json {
        // Scripts read stdout: the error goes there too, as {"error": {kind, message, exit_code}}.
        let error = serde_json::json!({"error": {"kind": kind, "message": format!("{e:#}"), "exit_code": code}});
        output::text(&format!("{error:#}\n"));
    }
    ExitCode::from(code)
}
