//! `rollgate down`: what the region holds beyond rollgate.toml's resources, and one teardown
//! step carried out by the kind's driver.

use std::collections::BTreeMap;

use aws_sdk_ecs::types as ecs;
use rollgate_core::TaskDefArn;
use rollgate_core::infra::Spec;
use rollgate_core::infra::desired::app_owns;
use rollgate_core::infra::teardown::{RegionFacts, TeardownAction, TeardownStep};
use rollgate_core::service::ServiceStatus;

use super::{Infra, api};
use crate::AwsError;

impl Infra {
    /// What `down` must know about the region beyond the resources rollgate.toml names: every
    /// ACTIVE service tagged as `app`'s in any cluster, and the ACTIVE services in `cluster`.
    /// Costs one ListClusters page per 100 clusters, one ListServices page per 100 services and
    /// one DescribeServices per 10: `down` is rare, and must not miss a running service.
    ///
    /// `family` is the app's task family: services that are not the app's but run one of its
    /// revisions (a hand-made canary, a half-adopted service) are listed in `family_users`.
    ///
    /// Errors: the first listing or DescribeServices call that fails: `down` deletes nothing
    /// on a partial view of the region.
    pub async fn region_facts(
        &self,
        app: &str,
        cluster: &str,
        repository: &str,
        family: &str,
    ) -> Result<RegionFacts, AwsError> {
        let mut facts = RegionFacts::default();
        let mut clusters = self.ecs.list_clusters().into_paginator().items().send();
        let mut cluster_arns = Vec::new();
        while let Some(arn) = clusters.next().await {
            cluster_arns.push(arn.map_err(api("ListClusters"))?);
        }
        for cluster_arn in cluster_arns {
            let cluster_name = cluster_arn.rsplit('/').next().unwrap_or_default().to_owned();
            let mut pages = self.ecs.list_services().cluster(&cluster_arn).into_paginator().items().send();
            let mut service_arns = Vec::new();
            while let Some(arn) = pages.next().await {
                service_arns.push(arn.map_err(api("ListServices"))?);
            }
            for chunk in service_arns.chunks(10) {
                let out = self
                    .ecs
                    .describe_services()
                    .cluster(&cluster_arn)
                    .set_services(Some(chunk.to_vec()))
                    .include(ecs::ServiceField::Tags)
                    .send()
                    .await
                    .map_err(api("DescribeServices"))?;
                for svc in out.services.unwrap_or_default() {
                    if svc.status.as_deref().map(ServiceStatus::from_api) != Some(ServiceStatus::Active) {
                        continue;
                    }
                    let name = svc.service_name.clone().unwrap_or_default();
                    let tags: BTreeMap<String, String> =
                        svc.tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value?))).collect();
                    // Every revision the service runs or is moving to.
                    let revisions = svc
                        .task_definition
                        .iter()
                        .chain(svc.deployments.iter().flatten().filter_map(|d| d.task_definition.as_ref()));
                    let runs_family = revisions
                        .filter_map(|arn| TaskDefArn::parse(arn).ok())
                        .any(|arn| arn.revision().family == family);
                    if app_owns(&tags, app) {
                        facts.app_services.push((cluster_name.clone(), name.clone()));
                    } else {
                        if rollgate_core::service::OptIn::repository_tag(&tags).as_deref() == Some(repository) {
                            facts.repository_users.push(format!("{cluster_name}/{name}"));
                        }
                        if runs_family {
                            facts.family_users.push(format!("{cluster_name}/{name}"));
                        }
                    }
                    if cluster_name == cluster {
                        facts.cluster_services.push(name);
                    }
                }
            }
        }
        Ok(facts)
    }

    /// Carries out one step of a `down` plan (rollgate-core's `plan_teardown`).
    ///
    /// Errors: the first AWS call that fails (what was deleted before it stays deleted; `down`
    /// again finishes the rest).
    pub async fn teardown(&self, step: &TeardownStep, app: &str) -> Result<(), AwsError> {
        let r = &step.resource;
        match &step.action {
            TeardownAction::Missing | TeardownAction::NotOurs | TeardownAction::KeepOccupied { .. } => Ok(()),
            // This region's inline policy goes; the role and the other regions' stay.
            TeardownAction::ReleaseRegion { .. } => self.release_role(&r.name).await,
            TeardownAction::Delete => match &r.spec {
                Spec::TaskDefinition(_) => self.deregister_family(&r.name, app).await,
                Spec::Service(spec) => self.delete_service(&spec.cluster, &r.name).await,
                Spec::Cluster(_) => self.delete_cluster(&r.name).await,
                Spec::BuildProject(_) => self.delete_build_project(&r.name).await,
                Spec::Role(_) => self.delete_role(&r.name).await,
                Spec::LogGroup(_) => self.delete_log_group(&r.name).await,
                Spec::Repository(_) => self.delete_repository(&r.name).await,
            },
        }
    }
}
