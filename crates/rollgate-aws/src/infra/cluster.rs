//! The ECS cluster: DescribeClusters; CreateCluster, TagResource, UpdateClusterSettings;
//! DeleteCluster.

use aws_sdk_ecs::types as ecs;
use rollgate_core::cluster::ClusterStatus;
use rollgate_core::infra::desired::Value;
use rollgate_core::infra::plan::ALL_TAGS;
use rollgate_core::infra::spec::{ClusterSpec, TagMap};
use rollgate_core::infra::{Attrs, Kind};

use super::{ApplyContext, Changed, Infra, api, attrs, managed_tags};
use crate::AwsError;

fn insights(spec: &ClusterSpec) -> ecs::ClusterSetting {
    ecs::ClusterSetting::builder()
        .name(ecs::ClusterSettingName::ContainerInsights)
        .value(if spec.container_insights { "enabled" } else { "disabled" })
        .build()
}

/// `tags` as ECS takes them.
pub(super) fn ecs_tags(tags: &TagMap) -> Vec<ecs::Tag> {
    tags.iter().map(|(k, v)| ecs::Tag::builder().key(k).value(v).build()).collect()
}

impl Infra {
    pub(super) async fn read_cluster(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self
            .ecs
            .describe_clusters()
            .clusters(name)
            .include(ecs::ClusterField::Settings)
            .include(ecs::ClusterField::Tags)
            .send()
            .await
            .map_err(api("DescribeClusters"))?;
        let Some(c) = out
            .clusters
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.status.as_deref().map(ClusterStatus::from_api) == Some(ClusterStatus::Active))
        else {
            return Ok(None);
        };
        let insights = c
            .settings
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name == Some(ecs::ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value)
            .unwrap_or_else(|| "disabled".into());
        let tags = c.tags.unwrap_or_default();
        Ok(Some(attrs([
            ("container_insights", Value::text(insights)),
            ("tags", managed_tags(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            (ALL_TAGS, Value::map(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            ("arn", Value::opt(c.cluster_arn)),
        ])))
    }

    pub(super) async fn create_cluster(&self, name: &str, spec: &ClusterSpec) -> Result<(), AwsError> {
        self.ecs
            .create_cluster()
            .cluster_name(name)
            .settings(insights(spec))
            .set_tags(Some(ecs_tags(&spec.tags)))
            .send()
            .await
            .map_err(api("CreateCluster"))?;
        Ok(())
    }

    pub(super) async fn update_cluster(
        &self,
        name: &str,
        spec: &ClusterSpec,
        changed: &Changed<'_>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        // Tags first, as for the repository.
        if changed.has("tags") {
            self.tag_ecs(&ctx.observed_arn(Kind::Cluster, name).unwrap_or_default(), &spec.tags).await?;
        }
        if changed.has("container_insights") {
            self.ecs
                .update_cluster_settings()
                .cluster(name)
                .settings(insights(spec))
                .send()
                .await
                .map_err(api("UpdateClusterSettings"))?;
        }
        Ok(())
    }

    /// TagResource on an ECS cluster or service.
    pub(super) async fn tag_ecs(&self, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ecs_tags(tags)))
            .send()
            .await
            .map_err(api("TagResource"))?;
        Ok(())
    }

    pub(super) async fn delete_cluster(&self, name: &str) -> Result<(), AwsError> {
        self.ecs.delete_cluster().cluster(name).send().await.map_err(api("DeleteCluster"))?;
        Ok(())
    }
}
