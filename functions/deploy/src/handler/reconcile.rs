//! The reconciler: on its schedule, every tracked service is brought to the newest eligible
//! release its registry holds (the safety net for pushes whose event never arrived).

use super::*;
use rollgate_core::index::clusters_in_turn;

/// The reconciler: ECR's events are best effort, so on a schedule every opted-in service is
/// compared with its repository and the newest eligible image goes through the same rules
/// as a push. With nothing new it writes nothing. With `ROLLGATE_RECONCILE_EVERY` longer than
/// the schedule's period, each run reconciles the watched clusters whose turn it is, so every
/// cluster once in that period (`rollgate_core::index::clusters_in_turn`).
pub async fn reconcile<A: DeployApi>(aws: &A, config: &DeployConfig, raw: &str) -> Result<DeployReport, FunctionError> {
    reconcile_within(aws, config, raw, Budget::UNLIMITED).await
}

/// [`reconcile`], starting no rollout once `budget` is spent.
pub async fn reconcile_within<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    raw: &str,
    budget: Budget,
) -> Result<DeployReport, FunctionError> {
    reconcile_event(aws, config, RawEvent::parse(raw), budget).await
}

/// [`reconcile_within`] of an event already read (or the error reading it).
pub(super) async fn reconcile_event<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    event: Result<RawEvent, EventError>,
    budget: Budget,
) -> Result<DeployReport, FunctionError> {
    let tick = event.and_then(|e| e.envelope::<ScheduleDetail>(SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE));
    let (tick, _) = tick.map_err(|e| {
        error!(reason = %e, decision = "rejected", "malformed event; nothing written");
        FunctionError::non_retryable(e)
    })?;
    let mut report = DeployReport { event_id: tick.id.clone(), ..DeployReport::default() };
    // With ROLLGATE_RECONCILE_EVERY longer than the schedule, this run reconciles the clusters
    // whose turn it is (rollgate_core::index::clusters_in_turn).
    let clusters: Vec<String> = match clusters_in_turn(tick.time, config.reconcile, &config.clusters) {
        None => config.clusters.clone(),
        Some(turn) => {
            let turn: Vec<String> = turn.into_iter().map(str::to_owned).collect();
            report.clusters_in_turn = Some(turn.clone());
            turn
        }
    };
    let services = discover_clusters(aws, config, &clusters, &mut report).await;
    let tracked: Vec<(ServiceView, OptIn)> = services
        .into_iter()
        .filter_map(|s| match OptIn::from_tags(&s.tags) {
            Ok(Some(opt_in)) => Some((s, opt_in)),
            _ => None,
        })
        .collect();
    // Each service's repository is read in its own registry and in every trusted registry (a
    // central registry holds the same repository name); the newest release across them wins.
    let registries = |service: &ServiceView| {
        let own = service.arn.account();
        let mut all = vec![own.clone()];
        all.extend(config.trusted_registries.iter().filter(|a| **a != own).cloned());
        all
    };
    let mut wanted: Vec<(AccountId, &str)> =
        tracked.iter().flat_map(|(s, o)| registries(s).into_iter().map(|r| (r, o.repository.as_str()))).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let catalogs: HashMap<(AccountId, &str), Result<Vec<RepoImage>, AwsError>> = stream::iter(wanted)
        .map(|(registry, repo)| async move {
            let found = aws.images(&registry, repo).await;
            ((registry, repo), found)
        })
        .buffer_unordered(config.max_in_flight)
        .collect()
        .await;
    let mut walks = Vec::new();
    for (service, opt_in) in &tracked {
        let mut found = Vec::new();
        // The service's own registry must be readable. A trusted registry that is not only
        // costs its own images: the walk goes on with the rest (the service may not pull from
        // it at all), and the registry is reported once (report.registry_failures).
        let mut own_error = None;
        for registry in registries(service) {
            match &catalogs[&(registry.clone(), opt_in.repository.as_str())] {
                Ok(images) => found.extend(images.iter().cloned()),
                Err(e) if registry == service.arn.account() => own_error = Some((registry, e.clone())),
                Err(_) => {}
            }
        }
        match own_error {
            Some((registry, e)) => {
                let reason = format!("cannot read {} in registry {registry}: {e}", opt_in.repository);
                report.services.push(failed_service(service, reason, e.class()));
            }
            None => walks.push((service, candidates(service, opt_in, &found, &tick, INDEX_GRACE))),
        }
    }
    let owners: HashSet<AccountId> = tracked.iter().map(|(s, _)| s.arn.account()).collect();
    for ((registry, repository), result) in &catalogs {
        if let Err(e) = result
            && !owners.contains(registry)
        {
            warn!(registry = %registry, repository, error = %e, "cannot read a trusted registry; its images are left out");
            report.registry_failures.push(rollgate_core::report::RegistryFailure {
                registry: registry.to_string(),
                repository: (*repository).to_owned(),
                error: format!("{e}; its repository policy must let the deploy role read it"),
                class: e.class(),
            });
        }
    }
    report.registry_failures.sort_by(|a, b| (&a.registry, &a.repository).cmp(&(&b.registry, &b.repository)));
    // Manifests are read once per image, whichever service needs them.
    let manifests = Manifests { images: aws, read: Mutex::new(HashMap::new()) };
    let outcomes: Vec<_> = stream::iter(walks)
        .map(|(service, candidates)| {
            let manifests = &manifests;
            async move { walk(aws, manifests, config, service, candidates, budget).await }
        })
        .buffer_unordered(config.max_in_flight)
        .collect()
        .await;
    report.services.extend(outcomes.into_iter().flatten());
    report.services.sort_by(|a, b| (&a.cluster, &a.service).cmp(&(&b.cluster, &b.service)));
    info!(event_id = %report.event_id, summary = %report.summary(), "reconciled");
    Ok(report)
}

/// An image: its registry (account), repository and digest.
type ImageKey = (AccountId, RepositoryName, Digest);

/// The reconciler's manifest reads, cached per image for one run.
struct Manifests<'a, C> {
    images: &'a C,
    read: Mutex<HashMap<ImageKey, Result<Option<Manifest>, AwsError>>>,
}

impl<C: ImageCatalog + Sync> Manifests<'_, C> {
    async fn get(
        &self,
        registry: &AccountId,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<Manifest>, AwsError> {
        let key = (registry.clone(), repository.clone(), digest.clone());
        if let Some(found) = self.read.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return found.clone();
        }
        let found = self.images.manifest(registry, repository.as_str(), digest).await;
        self.read.lock().unwrap_or_else(|p| p.into_inner()).insert(key, found.clone());
        found
    }
}

/// One service's reconciliation: its candidates newest first; the first that suits it
/// deploys (through the usual rules). A candidate is passed over when an index lists it (an
/// untagged child), when it can never run (an artifact, attestations only), and when a rollout
/// of a newer one showed it runs on another platform than the service's tasks or comes from a
/// registry its containers do not pull from. Skips of passed-over candidates are reported only
/// when nothing deploys.
async fn walk<A: DeployApi>(
    aws: &A,
    manifests: &Manifests<'_, A>,
    config: &DeployConfig,
    service: &ServiceView,
    candidates: Vec<Candidate>,
    budget: Budget,
) -> Option<ServiceOutcome> {
    let mut task_platform: Option<rollgate_core::image::Platform> = None;
    let mut other_registries: HashSet<AccountId> = HashSet::new();
    let mut first_skip = None;
    'candidates: for Candidate { mut push, indexes_to_read } in candidates {
        if other_registries.contains(&push.envelope.account) {
            continue;
        }
        for index in &indexes_to_read {
            match manifests.get(&push.envelope.account, &push.repository, index).await {
                Ok(Some(Manifest::Index { children, .. })) if children.contains(&push.digest) => continue 'candidates,
                Ok(_) => {}
                Err(e) => {
                    let reason = format!("cannot read the manifest of index {index}: {e}");
                    return Some(failed(&push, service, reason, e.class()));
                }
            }
        }
        let manifest = match manifests.get(&push.envelope.account, &push.repository, &push.digest).await {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => {
                let reason = format!("cannot read the manifest of {}: {e}", push.digest);
                return Some(failed(&push, service, reason, e.class()));
            }
        };
        if manifest.not_runnable().is_some() {
            continue;
        }
        push.platforms = manifest.platforms();
        if let (Some(task), Some(image)) = (&task_platform, &push.platforms)
            && !image.iter().any(|p| p.runs_on(task))
        {
            continue;
        }
        let outcome = match match_service(&push, service, &config.trusted_registries) {
            Match::Candidate(opt_in) => rollout(aws, &push, service, &opt_in, budget).await,
            Match::Skip(reason) => skipped(&push, service, reason),
            Match::Misconfigured(e) => {
                return Some(failed(&push, service, format!("{e}; fix the service's tags"), ErrorClass::NonRetryable));
            }
            Match::NotTracking => return None,
        };
        match &outcome.outcome {
            Outcome::Skipped { detail: SkipReason::PlatformMismatch { task, .. }, .. } => {
                task_platform = Some(task.clone());
            }
            Outcome::Skipped { detail: SkipReason::OtherRegistry { .. }, .. } => {
                other_registries.insert(push.envelope.account.clone());
            }
            _ => return Some(outcome),
        }
        first_skip.get_or_insert(outcome);
    }
    first_skip
}
