//! `rollgate track` / `untrack`: opting an existing ECS service in or out by its tags, through
//! the tag codec ([`crate::tags`]), so nobody hand-encodes a `base64:` value in the console.

use serde::Serialize;

use crate::deploy::{PlanError, pick_containers};
use crate::gate::GateSettings;
use crate::image::ImageRef;
use crate::infra::app_config::{ConfigError, GateSection};
use crate::keys;
use crate::service::{OptIn, ServiceView, Tags, TaskDefSummary};
use crate::tags::{self, TagError, TagWrite};
use crate::{InputError, RepositoryName};

/// The service tags `track` writes and `untrack` removes: the opt-in and the gate settings.
/// The ledger the gate wrote (`rollgate:last-good`, failed digests...) is kept, so a digest
/// that failed stays failed if the service is tracked again.
pub const SETTINGS: &[&str] = crate::infra::desired::SERVICE_SETTING_KEYS;

/// What to change. Settings left `None` (and not in `unset`) keep their current value.
#[derive(Debug, Clone, Default)]
pub struct TrackRequest {
    /// Required to opt a service in; optional when it already is.
    pub repository: Option<String>,
    /// Containers to name in `rollgate:container` (separated by spaces or commas).
    pub container: Option<String>,
    /// Name containers whose image is not from the repository (a placeholder the first push
    /// replaces); refused otherwise, since a push would overwrite an unrelated image.
    pub replace_other_image: bool,
    /// The health-gate settings, as in rollgate.toml's `[gate]`.
    pub gate: GateSection,
    /// Settings to remove, by key (`rollgate:tag-filter`) or short name (`tag-filter`).
    pub unset: Vec<String>,
    /// `Some(true)`: pushes without a tag deploy too (`rollgate:deploy-untagged`).
    pub deploy_untagged: Option<bool>,
}

/// One rollgate tag as stored and as meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The tag key, e.g. `rollgate:tag-filter`.
    pub key: String,
    /// The decoded value (`v*`).
    pub value: String,
    /// The tag value in AWS (`base64:dio=`).
    pub stored: String,
}

impl TrackRequest {
    /// Whether the request changes nothing: `track` then only shows the service's tags.
    pub fn is_empty(&self) -> bool {
        self.repository.is_none()
            && self.container.is_none()
            && self.deploy_untagged.is_none()
            && self.gate == GateSection::default()
            && self.unset.is_empty()
    }
}

/// What `track` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackPlan {
    /// The tag writes (empty: nothing changes).
    pub write: TagWrite,
    /// Every rollgate tag the service carries afterwards, decoded.
    pub after: Vec<Setting>,
}

/// Why `track` or `untrack` refuses. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    /// `track` on a service `rollgate up` manages (a `rollgate:app` or `rollgate:managed=true` tag).
    #[error(
        "the service is managed by `rollgate up` (app {app}): change [gate] in that app's rollgate.toml and run `rollgate up`, or `up` would undo this"
    )]
    Managed {
        /// The `rollgate:app` tag's value (`unnamed` with only `rollgate:managed`).
        app: String,
    },
    /// `untrack` on a service `rollgate up` manages.
    #[error(
        "the service is managed by `rollgate up` (app {app}): it stays tracked while that app exists; `rollgate down` with its rollgate.toml removes the app"
    )]
    ManagedUntrack {
        /// The `rollgate:app` tag's value (`unnamed` with only `rollgate:managed`).
        app: String,
    },
    /// A smoke-test setting (`body`, `match` or `status`) would be left without `rollgate:smoke-url`.
    #[error(
        "rollgate:smoke-{0} is set but no smoke URL: pass --smoke-url too, or --unset smoke-{0} (the gate calls the URL; without it the setting does nothing)"
    )]
    SmokeWithoutUrl(&'static str),
    /// A container named with `--container` runs an image of another repository (and
    /// `replace_other_image` is off).
    #[error(
        "--container {container} runs {image}, which is not an image of repository {repository}: the next push would replace it with the model image. Pass --container with the container that runs the model, or add --replace-other-image if it is a placeholder the first push should replace"
    )]
    ContainerNotFromRepository {
        /// The container's name.
        container: String,
        /// The image it runs now, as in the task definition.
        image: String,
        /// The repository the service is to track.
        repository: String,
    },
    /// The service has a short ARN, which ECS cannot tag (TagResource needs the long format,
    /// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-arn-migration.html>).
    #[error(
        "the service has the short, pre-2021 ARN format ({arn}), and ECS cannot tag such a service, so it cannot opt in. Migrate it to the long format first (irreversible; the serviceLongArnFormat and taskLongArnFormat account settings must be on): tag it once by its long ARN, `aws ecs tag-resource --resource-arn {long} --tags key=arn-format,value=long`, see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-arn-migration.html, then run track again"
    )]
    ShortArn {
        /// The service's ARN, `arn:aws:ecs:<region>:<account>:service/<name>`.
        arn: String,
        /// The same service's long ARN, `...:service/<cluster>/<name>`, to tag it by.
        long: String,
    },
    /// Untagged pushes would deploy, but the repository's lifecycle policy expires untagged images.
    #[error(
        "--deploy-untagged true, but repository {repository}'s lifecycle policy expires untagged images (rule {rule}): an untagged image the service runs, or its rollback target, would be deleted. Remove that rule first, or deploy tagged images"
    )]
    UntaggedExpire {
        /// The repository the service tracks.
        repository: String,
        /// The rule: its `rulePriority`, and its description in quotes when it has one.
        rule: String,
    },
    /// The service is not tracked and the request names no repository.
    #[error("the service is not tracked yet: pass --repository <ECR repository> to opt it in")]
    NoRepository,
    /// An `--unset` name that is no setting: (the name as given, the known short names joined by `, `).
    #[error("--unset {0:?} is not a rollgate setting (one of: {1})")]
    UnknownSetting(String, String),
    /// `--unset repository`: that is `untrack`.
    #[error("--unset rollgate:repository would stop tracking: use `rollgate untrack`")]
    UnsetRepository,
    /// A setting both set and unset (its short name, e.g. `bake`).
    #[error("{0} is both set and --unset: pass one of them")]
    SetAndUnset(String),
    /// A gate setting that does not validate (as rollgate.toml's `[gate]` would not).
    #[error("{}: {}", flag(&.0.field), .0.message)]
    Config(ConfigError),
    /// A value that does not parse, as deploy or the gate would read it back.
    #[error("{0}")]
    Input(#[from] InputError),
    /// The containers to move cannot be picked from the live revision, as deploy would pick them.
    #[error("{}", container_hint(.0))]
    Container(#[from] PlanError),
    /// The write breaks AWS's tag rules, or leaves no room for the gate's ledger within 50 tags.
    #[error("{0}")]
    Tags(#[from] TagError),
}

/// The service's rollgate tags, decoded, in key order.
pub fn settings(tags: &Tags) -> Vec<Setting> {
    tags.iter()
        .filter(|(k, _)| k.starts_with(keys::PREFIX))
        .map(|(k, v)| Setting { key: k.clone(), value: tags::decode_or_stored("tag", v), stored: v.clone() })
        .collect()
}

/// `gate.tag_filter` (rollgate.toml's name) as the flag `track` takes: `--tag-filter`.
fn flag(field: &str) -> String {
    match field.strip_prefix("gate.") {
        Some("alarms") => "--alarm".to_owned(),
        Some(f) => format!("--{}", f.replace('_', "-")),
        None => field.to_owned(),
    }
}

/// deploy's container errors, with track's way to fix them.
fn container_hint(e: &PlanError) -> String {
    match e {
        PlanError::NoSuchContainer { wanted, have } => {
            format!("--container {wanted}: the task definition has no such container (it has: {have})")
        }
        PlanError::NoContainerFromRepository { registry, repository } => {
            format!("no container's image comes from {registry}/{repository}: check --repository, or pass --container")
        }
        other => other.to_string(),
    }
}

/// The app that manages the service (`rollgate up`), if any: either ownership tag counts.
fn managed_by(service: &ServiceView) -> Option<String> {
    let managed = service.tags.get(keys::MANAGED).map(String::as_str) == Some("true");
    match service.tags.get(keys::APP) {
        Some(app) => Some(app.clone()),
        None => managed.then(|| "unnamed".to_owned()),
    }
}

fn refuse_managed(service: &ServiceView) -> Result<(), TrackError> {
    managed_by(service).map_or(Ok(()), |app| Err(TrackError::Managed { app }))
}

fn setting_key(name: &str) -> Result<&'static str, TrackError> {
    let lower = name.to_ascii_lowercase();
    let key = if lower.starts_with(keys::PREFIX) { lower } else { format!("{}{lower}", keys::PREFIX) };
    let key = key.replace('_', "-");
    SETTINGS.iter().copied().find(|k| *k == key).ok_or_else(|| {
        TrackError::UnknownSetting(
            name.to_owned(),
            SETTINGS.iter().map(|k| k.trim_start_matches(keys::PREFIX)).collect::<Vec<_>>().join(", "),
        )
    })
}

/// Plans `rollgate track`: the service's tags after the request, checked as deploy and the
/// health gate will read them (the container must exist, or exactly one container must use
/// the repository), within 50 tags with room for the gate's ledger.
///
/// `current` is the revision the service runs; `lifecycle` the repository's lifecycle policy
/// text, when it has one (read only when the service is to deploy untagged pushes: such a
/// service must not run images a rule can expire). Errors: [`TrackError`].
pub fn plan_track(
    service: &ServiceView,
    current: &TaskDefSummary,
    request: &TrackRequest,
    lifecycle: Option<&str>,
) -> Result<TrackPlan, TrackError> {
    refuse_managed(service)?;
    // "Long arn format must be used for tagging operations" (ECS TagResource).
    if service.arn.is_short_format() {
        let arn = service.arn.to_string();
        let long = arn.replacen(":service/", &format!(":service/{}/", service.arn.cluster_name()), 1);
        return Err(TrackError::ShortArn { arn, long });
    }
    let mut set: Vec<(String, String)> = Vec::new();
    let tracked = service.tags.contains_key(keys::REPOSITORY);
    match &request.repository {
        Some(repo) => {
            let repo = RepositoryName::parse(repo).map_err(|e| InputError::new(keys::REPOSITORY, e.value, e.why))?;
            set.push((keys::REPOSITORY.to_owned(), tags::encode(keys::REPOSITORY, repo.as_str())?));
        }
        None if !tracked => return Err(TrackError::NoRepository),
        None => {}
    }
    if let Some(c) = &request.container {
        // Several names, by commas or spaces, are stored space-separated (plain tag alphabet).
        let names: Vec<&str> = c.split(|ch: char| ch.is_whitespace() || ch == ',').filter(|n| !n.is_empty()).collect();
        set.push((keys::CONTAINER.to_owned(), tags::encode(keys::CONTAINER, &names.join(" "))?));
    }
    if let Some(on) = request.deploy_untagged {
        set.push((keys::DEPLOY_UNTAGGED.to_owned(), on.to_string()));
    }
    set.extend(request.gate.tags().map_err(TrackError::Config)?);
    let mut remove = Vec::new();
    for name in &request.unset {
        let key = setting_key(name)?;
        if key == keys::REPOSITORY {
            return Err(TrackError::UnsetRepository);
        }
        if set.iter().any(|(k, _)| k == key) {
            return Err(TrackError::SetAndUnset(key.trim_start_matches(keys::PREFIX).to_owned()));
        }
        remove.push(key.to_owned());
    }
    set.retain(|(k, v)| service.tags.get(k) != Some(v));
    remove.retain(|k| service.tags.contains_key(k));
    let write = TagWrite { set, remove, remove_first: true };
    let after = write.apply(&service.tags);
    // Read back as deploy and the gate will: every value decodes and parses.
    let opt_in = OptIn::from_tags(&after)?.ok_or(TrackError::NoRepository)?;
    if opt_in.deploy_untagged
        && let Some(rule) = lifecycle.and_then(expires_untagged)
    {
        return Err(TrackError::UntaggedExpire { repository: opt_in.repository.to_string(), rule });
    }
    GateSettings::from_tags(&after)?;
    for (key, name) in [(keys::SMOKE_BODY, "body"), (keys::SMOKE_MATCH, "match"), (keys::SMOKE_STATUS, "status")] {
        if after.contains_key(key) && !after.contains_key(keys::SMOKE_URL) {
            return Err(TrackError::SmokeWithoutUrl(name));
        }
    }
    // A service that pulls the repository from another registry (a trusted central one) is
    // fine: which registries are trusted is deploy's configuration, not track's.
    let moved = match pick_containers(&service.arn.account(), &service.arn.region(), &opt_in, current) {
        Err(PlanError::OtherRegistry { .. }) => Vec::new(),
        other => other?,
    };
    // A container named by hand must run an image of the repository (from any registry: a
    // trusted central registry counts), or the next push would overwrite another image.
    for container in moved.iter().filter(|c| opt_in.containers.contains(&c.name) && !request.replace_other_image) {
        if ImageRef::parse(&container.image).repository != opt_in.repository.as_str() {
            return Err(TrackError::ContainerNotFromRepository {
                container: container.name.clone(),
                image: container.image.clone(),
                repository: opt_in.repository.to_string(),
            });
        }
    }
    let name = format!("service {}", service.arn.name());
    tags::check_budget(&name, &service.tags, &write)?;
    tags::check_service_room(&name, &after)?;
    Ok(TrackPlan { write, after: settings(&after) })
}

/// The first rule of an ECR lifecycle policy that can expire untagged images (`tagStatus`
/// `untagged` or `any` with action `expire`), described; `None` if there is none or the
/// policy is not readable JSON ([lifecycle policy
/// parameters](https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html)).
pub fn expires_untagged(policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(policy).ok()?;
    policy["rules"].as_array()?.iter().find_map(|rule| {
        let status = rule.pointer("/selection/tagStatus").and_then(serde_json::Value::as_str)?;
        let expires = rule.pointer("/action/type").and_then(serde_json::Value::as_str) == Some("expire");
        (expires && matches!(status, "untagged" | "any")).then(|| {
            let priority = rule.get("rulePriority").map(ToString::to_string).unwrap_or_else(|| "?".to_owned());
            match rule.get("description").and_then(serde_json::Value::as_str) {
                Some(d) => format!("{priority}, \"{d}\""),
                None => priority,
            }
        })
    })
}

/// Plans `rollgate untrack`: removes the opt-in and the settings ([`SETTINGS`]); the ledger
/// stays. An untracked service: nothing to write.
pub fn plan_untrack(service: &ServiceView) -> Result<TagWrite, TrackError> {
    if let Some(app) = managed_by(service) {
        return Err(TrackError::ManagedUntrack { app });
    }
    let remove = SETTINGS.iter().filter(|k| service.tags.contains_key(**k)).map(|k| (*k).to_owned()).collect();
    Ok(TagWrite { remove, ..TagWrite::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ContainerImage;
    use crate::{ServiceArn, TaskDefArn};

    fn service(tags: &[(&str, &str)]) -> ServiceView {
        ServiceView {
            arn: ServiceArn::parse("arn:aws:ecs:us-east-1:123456789012:service/c/api").unwrap(),
            status: crate::service::ServiceStatus::Active,
            task_definition: None,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            deployments: vec![],
            deployment_controller: crate::service::DeploymentController::Ecs,
            fargate: true,
            current_service_deployment: None,
        }
    }

    fn current() -> TaskDefSummary {
        TaskDefSummary {
            platform: None,
            fargate_platform: None,
            arn: TaskDefArn::parse("arn:aws:ecs:us-east-1:123456789012:task-definition/api:1").unwrap(),
            containers: vec![
                ContainerImage {
                    name: "model".into(),
                    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/models/sentiment:v1".into(),
                },
                ContainerImage { name: "sidecar".into(), image: "public.ecr.aws/x/envoy:1".into() },
            ],
            tags: Tags::new(),
        }
    }

    fn request(filter: &str) -> TrackRequest {
        TrackRequest {
            repository: Some("models/sentiment".into()),
            gate: GateSection { tag_filter: Some(filter.into()), ..GateSection::default() },
            ..TrackRequest::default()
        }
    }

    #[test]
    fn every_documented_filter_is_written_encoded_and_read_back() {
        for filter in ["*", "v*", "release-?", "semver:^2", "semver:>=1.4, <2", r"regex:^v\d+\.\d+$"] {
            let plan = plan_track(&service(&[("team", "ml")]), &current(), &request(filter), None).unwrap();
            for (k, v) in &plan.write.set {
                assert!(tags::is_allowed(v) && tags::check_key(k).is_ok(), "{k}={v}");
            }
            let after = plan.write.apply(&service(&[]).tags);
            let opt_in = OptIn::from_tags(&after).unwrap().unwrap();
            assert_eq!(opt_in.filter.to_string(), filter);
            let shown = plan.after.iter().find(|s| s.key == keys::TAG_FILTER).unwrap();
            assert_eq!(shown.value, filter);
        }
    }

    /// A service that deploys untagged pushes must not run images its repository's lifecycle
    /// policy can expire (rollgate up's own rule included).
    #[test]
    fn deploying_untagged_pushes_is_refused_when_a_rule_expires_untagged_images() {
        let untagged = TrackRequest { deploy_untagged: Some(true), ..request("*") };
        let up_rule = r#"{"rules":[{"rulePriority":1,"description":"expire untagged images","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;
        let err = plan_track(&service(&[]), &current(), &untagged, Some(up_rule)).unwrap_err();
        assert!(matches!(err, TrackError::UntaggedExpire { .. }) && err.to_string().contains("rule 1"), "{err}");
        let any = up_rule.replace("untagged\",\"countType", "any\",\"countType");
        assert!(plan_track(&service(&[]), &current(), &untagged, Some(&any)).is_err());
        let tagged_only = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["dev"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#;
        assert!(plan_track(&service(&[]), &current(), &untagged, Some(tagged_only)).is_ok());
        assert!(plan_track(&service(&[]), &current(), &untagged, None).is_ok());
        // Without untagged deploys the rule is fine.
        assert!(plan_track(&service(&[]), &current(), &request("*"), Some(up_rule)).is_ok());
    }

    /// Several containers, by commas or spaces, stored space-separated; a container on
    /// another image only with --replace-other-image (a placeholder the first push replaces).
    #[test]
    fn containers_are_a_list_and_another_image_needs_the_explicit_flag() {
        let both = TrackRequest { container: Some("model, sidecar".into()), ..request("*") };
        let err = plan_track(&service(&[]), &current(), &both, None).unwrap_err();
        assert!(
            matches!(err, TrackError::ContainerNotFromRepository { .. })
                && err.to_string().contains("--replace-other-image")
        );
        let plan =
            plan_track(&service(&[]), &current(), &TrackRequest { replace_other_image: true, ..both }, None).unwrap();
        let after = plan.write.apply(&Tags::new());
        assert_eq!(after[keys::CONTAINER], "model sidecar");
        assert_eq!(OptIn::from_tags(&after).unwrap().unwrap().containers, ["model", "sidecar"]);
    }

    /// A service that pulls the repository from a central registry can be tracked (deploy's
    /// ROLLGATE_TRUSTED_REGISTRIES decides whether that registry's pushes deploy).
    #[test]
    fn a_service_on_a_central_registrys_copy_can_be_tracked() {
        let mut central = current();
        central.containers[0].image = "210987654321.dkr.ecr.us-east-1.amazonaws.com/models/sentiment:v1".into();
        assert!(plan_track(&service(&[]), &central, &request("*"), None).is_ok());
        let named = TrackRequest { container: Some("model".into()), ..request("*") };
        assert!(plan_track(&service(&[]), &central, &named, None).is_ok());
    }

    #[test]
    fn a_short_arn_service_cannot_opt_in() {
        let mut old = service(&[]);
        old.arn = ServiceArn::in_cluster("arn:aws:ecs:us-east-1:123456789012:service/api", "c").unwrap();
        let err = plan_track(&old, &current(), &request("*"), None).unwrap_err();
        assert!(matches!(err, TrackError::ShortArn { .. }), "{err}");
        assert!(err.to_string().contains("cannot tag"), "{err}");
    }

    #[test]
    fn refusals_name_the_cause_and_write_nothing() {
        let managed = service(&[(keys::MANAGED, "true"), (keys::APP, "sentiment")]);
        let bad_container = TrackRequest { container: Some("nope".into()), ..request("v*") };
        let bad_filter = request("regex:(");
        let too_many: Vec<(String, String)> = (0..46).map(|i| (format!("k{i}"), "v".into())).collect();
        let crowded = service(&too_many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
        let cases: Vec<(ServiceView, TrackRequest, &str)> = vec![
            (managed, request("v*"), "managed by `rollgate up` (app sentiment)"),
            (service(&[]), TrackRequest::default(), "pass --repository"),
            (service(&[]), bad_container, "no such container"),
            (service(&[]), bad_filter, "--tag-filter"),
            (crowded, request("v*"), "would carry"),
            (service(&[]), TrackRequest { unset: vec!["colour".into()], ..request("*") }, "not a rollgate setting"),
            (
                service(&[]),
                TrackRequest { unset: vec!["Tag-Filter".into()], ..request("v*") },
                "tag-filter is both set and --unset",
            ),
            (service(&[(keys::APP, "other")]), request("v*"), "managed by `rollgate up` (app other)"),
            (
                service(&[]),
                TrackRequest { container: Some("sidecar".into()), ..request("*") },
                "--container sidecar runs public.ecr.aws/x/envoy:1, which is not an image of repository models/sentiment",
            ),
            (
                service(&[]),
                TrackRequest {
                    gate: GateSection { smoke_body: Some("{}".into()), ..GateSection::default() },
                    ..request("*")
                },
                "pass --smoke-url too",
            ),
            (
                service(&[]),
                TrackRequest {
                    gate: GateSection { max_bad_tasks: Some(99), ..GateSection::default() },
                    ..request("*")
                },
                "--max-bad-tasks: 0 to 20",
            ),
        ];
        for (svc, req, want) in cases {
            let err = plan_track(&svc, &current(), &req, None).unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn a_second_track_with_the_same_settings_writes_nothing_and_unset_removes() {
        let plan = plan_track(&service(&[]), &current(), &request("v*"), None).unwrap();
        let tracked = ServiceView { tags: plan.write.apply(&Tags::new()), ..service(&[]) };
        assert!(plan_track(&tracked, &current(), &request("v*"), None).unwrap().write.is_empty());
        let unset = TrackRequest { unset: vec!["tag-filter".into()], ..TrackRequest::default() };
        let plan = plan_track(&tracked, &current(), &unset, None).unwrap();
        assert_eq!(plan.write.remove, [keys::TAG_FILTER]);
        let untrack = plan_untrack(&tracked).unwrap();
        assert!(untrack.apply(&tracked.tags).is_empty());
    }
}
