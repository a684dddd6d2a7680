//! The commands: load and validate the config (no AWS call before that), then plan or act.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, anyhow};
use rollgate_aws::AwsOptions;
use rollgate_aws::ecr::{Ecr, ImagePresence};
use rollgate_aws::ecs::{Ecs, ServiceDirectory, TaskDefinitions, write_tags};
use rollgate_aws::eventbridge::EventBridge;
use rollgate_aws::execute::carry_out;
use rollgate_aws::infra::{ApplyContext, Infra};
use rollgate_core::infra::AppConfig;
use rollgate_core::infra::Resource;
use rollgate_core::infra::app_config::GateSection;
use rollgate_core::infra::desired::{Env, Kind, Target, desired};
use rollgate_core::infra::plan::Owner;
use rollgate_core::infra::plan::{Change, plan};
use rollgate_core::infra::teardown::{TeardownAction, check_iam_account, misplaced_service, plan_teardown};
use rollgate_core::service::{OptIn, ServiceView};
use rollgate_core::status::{history, plan_manual_rollback, rollback_target};
use rollgate_core::tags::TagWrite;
use rollgate_core::track::{Setting, TrackRequest, plan_track, plan_untrack};
use rollgate_core::{Region, TaskDefArn};

use crate::output::{self, Outputs};
use crate::{Cli, Command, Failure, Format, ServiceTarget, TrackArgs};

fn input(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Input(e.into())
}

fn aws(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Aws(e.into())
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    // track and untrack act on any service, with no rollgate.toml.
    match &cli.command {
        Command::Track(args) => return track(&Session::connect(&cli).await?, args, cli.output).await,
        Command::Untrack { target, dry_run } => {
            return untrack(&Session::connect(&cli).await?, target, *dry_run, cli.output).await;
        }
        _ => {}
    }
    let config = load_config(&cli.config)?;
    let session = Session::connect(&cli).await?;
    rollgate_core::infra::desired::check_against(&config, &session.env)
        .map_err(|e| input(anyhow!("{}: {e}", cli.config.display())))?;
    match cli.command {
        Command::Plan { adopt } => plan_cmd(&config, &session, adopt, cli.output).await,
        Command::Up { adopt } => up(&config, &session, adopt, cli.output).await,
        Command::Status => status(&config, &session, cli.output).await,
        Command::Rollback { to } => rollback(&config, &session, to.as_deref(), cli.output).await,
        Command::Down { yes, force, delete_iam_roles } => {
            down(&config, &session, yes, force, delete_iam_roles.as_deref(), cli.output).await
        }
        Command::Track(_) | Command::Untrack { .. } => unreachable!("handled above"),
    }
}

/// The ACTIVE service `target` names, in the session's account and region.
async fn tracked_service(s: &Session, target: &ServiceTarget) -> Result<ServiceView, Failure> {
    // An ARN names its own account and region: never act on a same-named resource here.
    for (flag, value, kind) in [("--cluster", &target.cluster, "cluster/"), ("--service", &target.service, "service/")]
    {
        if !value.starts_with("arn:") {
            continue;
        }
        let arn = rollgate_core::Arn::parse(value).map_err(input)?;
        if arn.service != "ecs" || !arn.resource.starts_with(kind) {
            return Err(input(anyhow!("{flag} {value} is not an ECS {} ARN or name", kind.trim_end_matches('/'))));
        }
        if arn.region != s.env.region.as_str() || arn.account != s.env.account.as_str() {
            return Err(input(anyhow!(
                "{flag} {value} is in account {}, region {}, but these credentials act in account {}, region {}: pass --region (or --profile) for that account and region",
                arn.account,
                arn.region,
                s.env.account,
                s.env.region
            )));
        }
    }
    active_service(s, &target.cluster, &target.service).await?.ok_or_else(|| {
        input(anyhow!(
            "no active service {} in cluster {} (account {}, region {}); check the names, --region and --profile",
            target.service,
            target.cluster,
            s.env.account,
            s.env.region
        ))
    })
}

async fn track(s: &Session, args: &TrackArgs, format: Format) -> Result<(), Failure> {
    let service = tracked_service(s, &args.target).await?;
    let live = service.task_definition.clone().ok_or_else(|| aws(anyhow!("the service reports no task definition")))?;
    let current = s.ecs.describe_task_definition(&live).await.map_err(aws)?.summary;
    let mut request = TrackRequest {
        repository: args.repository.clone(),
        container: (!args.container.is_empty()).then(|| args.container.join(" ")),
        replace_other_image: args.replace_other_image,
        gate: GateSection {
            tag_filter: args.tag_filter.clone(),
            deadline: args.deadline.clone(),
            bake: args.bake.clone(),
            max_bad_tasks: args.max_bad_tasks,
            alarms: args.alarms.clone(),
            alarm_prefix: args.alarm_prefix.clone(),
            smoke_url: args.smoke_url.clone(),
            smoke_body: args.smoke_body.clone(),
            smoke_status: args.smoke_status,
            smoke_match: args.smoke_match.clone(),
        },
        unset: args.unset.clone(),
        deploy_untagged: args.deploy_untagged,
    };
    request.gate.alarms.retain(|a| !a.is_empty());
    if request.is_empty() {
        // Nothing to change: show the service's rollgate tags as they are, tracked or not,
        // readable or not (an unreadable value is shown as stored).
        let after = rollgate_core::track::settings(&service.tags);
        return print_settings(&service, &TagWrite::default(), &after, false, format);
    }
    // A service that deploys untagged pushes must not run images a lifecycle rule can expire:
    // read the repository's policy (in the service's registry) when that is asked or kept.
    let untagged = request
        .deploy_untagged
        .unwrap_or_else(|| service.tags.get(rollgate_core::ledger::keys::DEPLOY_UNTAGGED).is_some_and(|v| v == "true"));
    let repository = request.repository.clone().or_else(|| OptIn::repository_tag(&service.tags));
    let lifecycle = match (untagged, repository) {
        (true, Some(repo)) => s.infra.lifecycle_policy(&repo).await.map_err(aws)?,
        _ => None,
    };
    let plan = plan_track(&service, &current, &request, lifecycle.as_deref())
        .map_err(|e| input(anyhow!("cannot track {}: {e}", service.arn)))?;
    if !args.dry_run {
        write_tags(&s.ecs, service.arn.as_str(), &plan.write).await.map_err(aws)?;
    }
    print_settings(&service, &plan.write, &plan.after, args.dry_run, format)
}

async fn untrack(s: &Session, target: &ServiceTarget, dry_run: bool, format: Format) -> Result<(), Failure> {
    let service = tracked_service(s, target).await?;
    let write = plan_untrack(&service).map_err(|e| input(anyhow!("cannot untrack {}: {e}", service.arn)))?;
    if !dry_run {
        write_tags(&s.ecs, service.arn.as_str(), &write).await.map_err(aws)?;
    }
    let after = rollgate_core::track::settings(&write.apply(&service.tags));
    print_settings(&service, &write, &after, dry_run, format)
}

fn print_settings(
    service: &ServiceView,
    write: &TagWrite,
    after: &[Setting],
    dry_run: bool,
    format: Format,
) -> Result<(), Failure> {
    let tracked = after.iter().any(|t| t.key == rollgate_core::ledger::keys::REPOSITORY);
    match format {
        Format::Json => output::json(&serde_json::json!({
            "service": service.arn,
            "tracked": tracked,
            "dry_run": dry_run,
            "set": write.set.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "removed": write.remove,
            "tags": after,
        })),
        Format::Text => {
            output::text(&output::settings(service, write, after, tracked, dry_run));
            Ok(())
        }
    }
}

/// Reads and validates rollgate.toml. Every problem is bad input (exit 2), before any AWS call.
fn load_config(path: &Path) -> Result<AppConfig, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "create it (the README's configuration reference lists every field) or pass --config"
            }
            std::io::ErrorKind::IsADirectory => "it is a directory: pass --config with the file",
            std::io::ErrorKind::InvalidData => "it is not UTF-8 text: rollgate.toml is a TOML file",
            _ => "check its permissions, or pass --config",
        };
        input(anyhow!("cannot read {}: {e}; {hint}", path.display()))
    })?;
    AppConfig::parse_file(&text, &path.display().to_string()).map_err(input)
}

struct Session {
    infra: Infra,
    ecs: Ecs,
    ecr: Ecr,
    events: EventBridge,
    env: Env,
}

impl Session {
    /// Resolves the region and credentials, then asks STS which account they are for. Every
    /// failure names its real cause: a malformed region, an undefined profile, an endpoint
    /// that does not answer, credentials AWS refuses.
    async fn connect(cli: &Cli) -> Result<Self, Failure> {
        if let Some(region) = &cli.region {
            Region::parse(region).map_err(|_| {
                input(anyhow!("--region {region:?} is not an AWS region name (such as us-east-1 or eu-west-2)"))
            })?;
        }
        // The endpoint every call goes to: the flag's, else AWS_ENDPOINT_URL's.
        let endpoint = match &cli.endpoint_url {
            Some(url) => Some(("--endpoint-url", url.clone())),
            None => std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()).map(|u| ("AWS_ENDPOINT_URL", u)),
        };
        if let Some((source, url)) = &endpoint
            && !rollgate_core::infra::app_config::is_http_url(url)
        {
            return Err(input(anyhow!(
                "{source} {url:?} is not a URL: write it with its scheme, e.g. http://127.0.0.1:4566"
            )));
        }
        let endpoint = endpoint.map(|(_, url)| url);
        let mut options = AwsOptions::from_env().map_err(input)?;
        options.endpoint_url = cli.endpoint_url.clone();
        options.region = cli.region.clone();
        options.profile = cli.profile.clone();
        let sdk = options.load().await;
        let region = sdk.region().map(ToString::to_string).ok_or_else(|| {
            input(anyhow!("no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile"))
        })?;
        Region::parse(&region).map_err(|_| {
            input(anyhow!(
                "region {region:?} (from AWS_REGION, AWS_DEFAULT_REGION or the profile) is not an AWS region name (such as us-east-1)"
            ))
        })?;
        rollgate_aws::sdk_config::check_credentials(&sdk, cli.profile.as_deref()).await.map_err(input)?;
        let infra = Infra::new(&sdk);
        let env = infra.env().await.map_err(|e| match (&e, e.code()) {
            (rollgate_aws::AwsError::Config(_), _) => input(e),
            (_, Some("DispatchFailure" | "Timeout")) => {
                let to = endpoint.clone().unwrap_or_else(|| format!("AWS STS in {region}"));
                aws(anyhow!(
                    "the endpoint {to} did not answer ({e}); check the address{}",
                    if endpoint.is_some() {
                        " and that the emulator or endpoint is running"
                    } else {
                        ", the region name and your network"
                    }
                ))
            }
            (_, Some(code)) if code.contains("Token") || code.contains("Signature") || code == "AccessDenied" => aws(
                anyhow!("AWS refused these credentials ({e}); check AWS_PROFILE or --profile, or run `aws sso login`"),
            ),
            _ => aws(anyhow!("{e}")),
        })?;
        Ok(Self { infra, ecs: Ecs::new(&sdk), ecr: Ecr::new(&sdk), events: EventBridge::new(&sdk, "default"), env })
    }
}

async fn plan_cmd(config: &AppConfig, s: &Session, adopt: bool, format: Format) -> Result<(), Failure> {
    let want = desired(config, &s.env);
    let have = s.infra.observe(&want).await.map_err(aws)?;
    let plan = plan(s.env.target(&config.app.name), &want, &have, adopt);
    let second_copy = refuse_second_copy(config, s, &want).await;
    let overflow = refuse_tag_overflow(&plan, &have);
    match format {
        Format::Text => output::text(&plan.render()),
        // A plan that `up` would refuse is reported as the error alone: one JSON document.
        Format::Json if plan.conflicts().next().is_none() && second_copy.is_ok() && overflow.is_ok() => {
            output::json(&plan)?
        }
        Format::Json => {}
    }
    refuse_conflicts(&plan)?;
    overflow?;
    second_copy
}

/// `plan` and `up` exit 2 when a resource would pass AWS's 50 tags once `up` tags it (an
/// adopted service that already carries many tags), before any write.
fn refuse_tag_overflow(
    plan: &rollgate_core::infra::Plan,
    have: &rollgate_core::infra::plan::Observed,
) -> Result<(), Failure> {
    rollgate_core::infra::plan::check_tag_budget(plan, have).map_err(|e| input(anyhow!("{e}; nothing written")))
}

/// `up` with a [service] or [cluster] name other than where the app's service runs would start
/// a second copy of the app, which `down` could then not remove: refused, before any write.
async fn refuse_second_copy(config: &AppConfig, s: &Session, want: &[Resource]) -> Result<(), Failure> {
    let facts = s
        .infra
        .region_facts(&config.app.name, &config.cluster_name(), &config.repository_name(), &config.family())
        .await
        .map_err(aws)?;
    match misplaced_service(want, &facts) {
        None => Ok(()),
        Some((cluster, service)) => Err(input(anyhow!(
            "the service of {} runs as service {service} in cluster {cluster}, but rollgate.toml names service {} in cluster {}: `up` would start a second copy of the app. Fix [service] name or [cluster] name, or remove the old copy first (`rollgate down` with the configuration that made it)",
            s.env.target(&config.app.name),
            config.service_name(),
            config.cluster_name()
        ))),
    }
}

/// `plan` and `up` exit 2 when a resource `up` needs belongs to someone else.
fn refuse_conflicts(plan: &rollgate_core::infra::Plan) -> Result<(), Failure> {
    let conflicts: Vec<String> = plan
        .conflicts()
        .map(|st| match &st.change {
            Change::Conflict { owner } => format!("{} {} belongs to {owner}", st.kind.label(), st.name),
            _ => unreachable!("conflicts() yields conflicts"),
        })
        .collect();
    if conflicts.is_empty() {
        return Ok(());
    }
    let untagged = plan.conflicts().any(|st| matches!(&st.change, Change::Conflict { owner: Owner::Untagged }));
    Err(input(anyhow!(
        "{}: rollgate never takes over another's resource; nothing written. Name this app's resources apart ([app] name, or [repository], [cluster] and [service] name), or delete the other resource{}",
        conflicts.join("; "),
        if untagged { ", or pass --adopt to manage the untagged ones as this app's" } else { "" }
    )))
}

async fn up(config: &AppConfig, s: &Session, adopt: bool, format: Format) -> Result<(), Failure> {
    let want = desired(config, &s.env);
    let have = s.infra.observe(&want).await.map_err(aws)?;
    let plan = plan(s.env.target(&config.app.name), &want, &have, adopt);
    eprintln!("{}", plan.target);
    refuse_conflicts(&plan)?;
    refuse_tag_overflow(&plan, &have)?;
    refuse_second_copy(config, s, &want).await?;
    let total = plan.changes().count();
    if total == 0 {
        eprintln!("Nothing to do: all {} resources are up to date.", plan.steps.len());
    }
    let mut ctx = ApplyContext { observed: have, new_revision: None };
    for (i, step) in plan.changes().enumerate() {
        let verb = match step.change {
            Change::Create => "creating",
            _ => "updating",
        };
        eprint!("[{}/{total}] {verb} {} {} ... ", i + 1, step.kind.label(), step.name);
        let _ = std::io::stderr().flush();
        let started = Instant::now();
        s.infra.apply(step, &s.env, &mut ctx).await.map_err(|e| {
            eprintln!("failed");
            aws(anyhow!("{verb} {} {}: {e}", step.kind.label(), step.name))
        })?;
        eprintln!("done ({:.1}s)", started.elapsed().as_secs_f64());
    }
    let outputs = Outputs::new(config, &s.env, total);
    match format {
        Format::Text => output::text(&outputs.render()),
        Format::Json => output::json(&outputs)?,
    }
    Ok(())
}

/// The ACTIVE service `name` of `cluster`, if there is one (a missing cluster: none).
async fn active_service(s: &Session, cluster: &str, name: &str) -> Result<Option<ServiceView>, Failure> {
    let found = match s.ecs.describe_services(cluster, &[name.to_owned()]).await {
        Err(e) if e.code() == Some("ClusterNotFoundException") => Vec::new(),
        other => other.map_err(aws)?,
    };
    Ok(found.into_iter().find(|v| v.status == rollgate_core::service::ServiceStatus::Active))
}

async fn service_view(config: &AppConfig, s: &Session) -> Result<ServiceView, Failure> {
    let cluster = config.cluster_name();
    let name = config.service_name();
    active_service(s, &cluster, &name).await?.ok_or_else(|| {
            input(anyhow!(
                "no service {name} in cluster {cluster} for {}. If the app runs in another region or account, pass --region or --profile; if it was never created, `rollgate plan` shows what `rollgate up` would create here",
                s.env.target(&config.app.name)
            ))
        })
}

async fn status(config: &AppConfig, s: &Session, format: Format) -> Result<(), Failure> {
    let service = service_view(config, s).await?;
    let (mut revisions, mut inactive) = (Vec::new(), Vec::new());
    for arn in s.infra.revisions_any_status(&config.family()).await.map_err(aws)?.iter().take(50) {
        let arn = TaskDefArn::parse(arn).map_err(aws)?;
        let snapshot = s.ecs.describe_task_definition(&arn).await.map_err(aws)?;
        if !snapshot.is_active() {
            inactive.push(arn);
        }
        revisions.push(snapshot.summary);
    }
    let rows = history(&service, &revisions, &inactive);
    match format {
        Format::Text => output::text(&output::history(&service, &rows)),
        Format::Json => output::json(&serde_json::json!({"service": service.arn, "history": rows}))?,
    }
    Ok(())
}

async fn rollback(config: &AppConfig, s: &Session, to: Option<&str>, format: Format) -> Result<(), Failure> {
    let service = service_view(config, s).await?;
    let live_arn =
        service.task_definition.clone().ok_or_else(|| aws(anyhow!("the service reports no task definition")))?;
    let live = s.ecs.describe_task_definition(&live_arn).await.map_err(aws)?.summary;
    let to = to.map(|t| revision_arn(t, config, &s.env)).transpose()?;
    let target_arn = rollback_target(&service, &live, to.as_ref()).map_err(input)?;
    let target = s
        .ecs
        .describe_task_definition(&target_arn)
        .await
        .map_err(|e| input(anyhow!("cannot read {target_arn}: {e}; pick a revision from `rollgate status`")))?;
    // ECS refuses UpdateService to a deregistered revision ("TaskDefinition is inactive"):
    // the rollback goes to a fresh copy of it, as the gate's does.
    let active = target.is_active();
    let target = target.summary;
    // ECS could not start tasks whose image ECR does not hold (the placeholder image `up`
    // starts a service with, an image a lifecycle rule expired): such a target is refused.
    let mut missing = Vec::new();
    for image in rollgate_core::gate::ecr_images(&target, &s.env.region) {
        if s.ecr.image_digest(&image.registry, &image.repository, &image.id).await.map_err(aws)?.is_none() {
            missing.push(image.image);
        }
    }
    let reason = "manual rollback with rollgate rollback";
    let plan =
        plan_manual_rollback(&service, &live, &target, active, &missing, chrono::Utc::now(), reason).map_err(input)?;
    eprintln!(
        "rolling {} back from {} to {}{} ({}) ...",
        service.arn.name(),
        live_arn.revision(),
        if active { "" } else { "a fresh copy of " },
        target_arn.revision(),
        s.env.target(&config.app.name)
    );
    let to =
        carry_out(&s.ecs, &s.events, &service.arn, &live_arn, plan).await.map_err(aws)?.unwrap_or(target_arn.clone());
    let result = serde_json::json!({"service": service.arn, "from": live_arn, "to": to, "copy_of": (to != target_arn).then_some(&target_arn), "reason": reason});
    match format {
        Format::Text => output::text(&format!(
            "{} now runs {}{} (was {}); recorded in the ledger.\n",
            service.arn.name(),
            to.revision(),
            if to == target_arn {
                String::new()
            } else {
                format!(", a fresh copy of deregistered {}", target_arn.revision())
            },
            live_arn.revision()
        )),
        Format::Json => output::json(&result)?,
    }
    Ok(())
}

/// `42`, `family:42` or a full ARN.
fn revision_arn(text: &str, config: &AppConfig, env: &Env) -> Result<TaskDefArn, Failure> {
    let arn = if text.starts_with("arn:") {
        text.to_owned()
    } else {
        let (family, number) = match text.rsplit_once(':') {
            Some((family, number)) => (family.to_owned(), number),
            None => (config.family(), text),
        };
        format!("arn:{}:ecs:{}:{}:task-definition/{family}:{number}", env.partition(), env.region, env.account)
    };
    let parsed = TaskDefArn::parse(&arn)
        .map_err(|e| input(anyhow!("--to {text:?}: {e}; write a revision number, family:number or an ARN")))?;
    // An ARN names its own account and region: it must be where this command acts.
    let a = rollgate_core::Arn::parse(parsed.as_str()).map_err(|e| input(anyhow!("--to {text:?}: {e}")))?;
    if !env.contains(&a) {
        return Err(input(anyhow!(
            "--to {text}: that revision is in account {}, region {}, but the service is in account {}, region {}; pick a revision from `rollgate status`",
            a.account,
            a.region,
            env.account,
            env.region
        )));
    }
    Ok(parsed)
}

async fn down(
    config: &AppConfig,
    s: &Session,
    yes: bool,
    force: bool,
    delete_iam_roles: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    if let Some(given) = delete_iam_roles {
        // Before any read: the same check plan_teardown makes.
        check_iam_account(&s.env.target(&config.app.name), given).map_err(input)?;
    }
    let want = desired(config, &s.env);
    let have = s.infra.observe(&want).await.map_err(aws)?;
    let facts = s
        .infra
        .region_facts(&config.app.name, &config.cluster_name(), &config.repository_name(), &config.family())
        .await
        .map_err(aws)?;
    // Decided before anything is deleted: what is the app's here, whether its service is where
    // rollgate.toml says, and whether its global (IAM) roles may go. Nothing of the app here:
    // a refusal, and nothing is deleted.
    let target = s.env.target(&config.app.name);
    let plan = plan_teardown(target, &want, &have, &facts, delete_iam_roles).map_err(input)?;
    eprintln!("Deleting {}", plan.target);
    for step in &plan.steps {
        eprintln!("  {:<20} {:<36} {}", step.kind.label(), step.name, step.action);
    }
    let repo = config.repository_name();
    let deletes_repo = plan.steps.iter().any(|st| st.kind == Kind::Repository && st.action == TeardownAction::Delete);
    if deletes_repo
        && !force
        && let Some(n) = s.infra.image_count(&repo).await.map_err(aws)?.filter(|n| *n > 0)
    {
        return Err(input(anyhow!(
            "repository {repo} holds {n} image{}; pass --force to delete it with its images, or delete them first",
            if n == 1 { "" } else { "s" }
        )));
    }
    if !yes {
        confirm(&plan.target)?;
    }
    let mut results = Vec::new();
    for step in &plan.steps {
        eprint!("deleting {} {} ... ", step.kind.label(), step.name);
        let _ = std::io::stderr().flush();
        s.infra.teardown(step, &config.app.name).await.map_err(|e| {
            eprintln!("failed");
            aws(anyhow!("deleting {} {}: {e}", step.kind.label(), step.name))
        })?;
        eprintln!(
            "{}",
            match &step.action {
                TeardownAction::Delete => "deleted".to_owned(),
                other => other.to_string(),
            }
        );
        results.push(step);
    }
    if format == Format::Json {
        output::json(&serde_json::json!({"target": plan.target, "steps": results}))?;
    }
    Ok(())
}

/// Asks on the terminal; refuses (exit 2) when there is none to ask. The question names the
/// account and the region, so a wrong profile or region is seen before anything is deleted.
fn confirm(target: &Target) -> Result<(), Failure> {
    let app = &target.app;
    if !std::io::stdin().is_terminal() {
        return Err(input(anyhow!("`down` deletes {target}: pass --yes to confirm without a terminal")));
    }
    eprint!("Delete the resources above, of {target}? Type the app name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("reading the confirmation").map_err(input)?;
    if answer.trim() != app {
        return Err(input(anyhow!("not confirmed; nothing deleted")));
    }
    Ok(())
}
