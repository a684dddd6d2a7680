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

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Opt an existing ECS service in to rollgate, or change its settings, and show its
    /// rollgate tags decoded. Needs no rollgate.toml. Values outside AWS's tag alphabet
    /// (`v*`, `semver:>=1.4, <2`) are stored as `base64:`; this reads them back.
    Track(Box<TrackArgs>),
    /// Opt a service out: remove its opt-in and settings tags. The ledger (last known good,
    /// failed digests) stays, so a digest that failed stays failed if it is tracked again.
    Untrack {
        #[command(flatten)]
        target: ServiceTarget,
        /// Show what would be removed; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which service `track` and `untrack` act on, in the session's account and region.
#[derive(Args, Debug, Clone)]
pub struct ServiceTarget {
    /// The cluster: name or ARN.
    #[arg(long)]
    pub cluster: String,
    /// The service's name.
    #[arg(long)]
    pub service: String,
}

/// `rollgate track`: the same settings as rollgate.toml's `[gate]`, as flags.
#[derive(Args, Debug, Clone)]
pub struct TrackArgs {
    #[command(flatten)]
    pub target: ServiceTarget,
    /// The ECR repository whose pushes deploy (rollgate:repository). Required to opt in.
    #[arg(long)]
    pub repository: Option<String>,
    /// More containers to update (rollgate:container; repeat, or separate by commas). Every
    /// container whose image comes from the repository is updated anyway.
    #[arg(long, value_name = "NAME")]
    pub container: Vec<String>,
    /// Allow --container to name a container whose image is not from the repository (a
    /// placeholder the first push replaces).
    #[arg(long)]
    pub replace_other_image: bool,
    /// Which pushed tags deploy: a glob (`v*`), `semver:<requirement>` or `regex:<pattern>`.
    #[arg(long)]
    pub tag_filter: Option<String>,
    /// Time a rollout may take to complete (15m).
    #[arg(long)]
    pub deadline: Option<String>,
    /// Time after completion before the revision is healthy (5m).
    #[arg(long)]
    pub bake: Option<String>,
    /// Abnormal task stops tolerated (0-20).
    #[arg(long)]
    pub max_bad_tasks: Option<u32>,
    /// A CloudWatch alarm to watch (repeat the flag for several).
    #[arg(long = "alarm", value_name = "NAME")]
    pub alarms: Vec<String>,
    /// Watch every alarm whose name starts with this.
    #[arg(long)]
    pub alarm_prefix: Option<String>,
    /// Smoke test: URL the gate calls after the rollout completes.
    #[arg(long)]
    pub smoke_url: Option<String>,
    /// Smoke test: request body (a POST).
    #[arg(long)]
    pub smoke_body: Option<String>,
    /// Smoke test: expected HTTP status.
    #[arg(long)]
    pub smoke_status: Option<u16>,
    /// Smoke test: text the response body must contain (a substring).
    #[arg(long)]
    pub smoke_match: Option<String>,
    /// Let pushes without a tag deploy too (rollgate:deploy-untagged). Off by default: buildx
    /// pushes per-platform manifests and attestations untagged. Make sure no lifecycle rule
    /// expires untagged images the service runs.
    #[arg(long, value_name = "true|false")]
    pub deploy_untagged: Option<bool>,
    /// Remove a setting (`tag-filter`, `bake`, ...); repeat for several.
    #[arg(long, value_name = "SETTING")]
    pub unset: Vec<String>,
    /// Show what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
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
        // clap's rendering starts with "error: " (and a usage hint): the message alone.
        let text = e.to_string();
        let text = text.trim().strip_prefix("error: ").unwrap_or(text.trim()).to_owned();
        let message = e.kind().as_str().map_or_else(|| text.clone(), |k| format!("{k}: {text}"));
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
