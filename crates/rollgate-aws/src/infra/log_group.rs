//! The CloudWatch Logs group of the tasks and the builds: DescribeLogGroups,
//! ListTagsForResource; CreateLogGroup, PutRetentionPolicy, TagResource; DeleteLogGroup.

use rollgate_core::infra::desired::Value;
use rollgate_core::infra::plan::ALL_TAGS;
use rollgate_core::infra::spec::LogGroupSpec;
use rollgate_core::infra::{Attrs, Kind};

use super::{ApplyContext, Changed, Infra, api, attrs, managed_tags};
use crate::AwsError;

impl Infra {
    pub(super) async fn read_log_group(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .map_err(api("DescribeLogGroups"))?;
        let Some(group) =
            out.log_groups.unwrap_or_default().into_iter().find(|g| g.log_group_name.as_deref() == Some(name))
        else {
            return Ok(None);
        };
        let arn = group.arn.clone().unwrap_or_default().trim_end_matches(":*").to_owned();
        let tags =
            self.logs.list_tags_for_resource().resource_arn(&arn).send().await.map_err(api("ListTagsForResource"))?;
        let tags = tags.tags.unwrap_or_default();
        Ok(Some(attrs([
            ("retention_days", Value::opt(group.retention_in_days.map(|d| d.to_string()))),
            ("tags", managed_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            (ALL_TAGS, Value::map(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ("arn", Value::text(arn)),
        ])))
    }

    pub(super) async fn create_log_group(&self, name: &str, spec: &LogGroupSpec) -> Result<(), AwsError> {
        self.logs
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(api("CreateLogGroup"))?;
        self.put_retention(name, spec).await
    }

    async fn put_retention(&self, name: &str, spec: &LogGroupSpec) -> Result<(), AwsError> {
        let days = i32::try_from(spec.retention_days)
            .map_err(|_| AwsError::Config(format!("retention of {} days is out of range", spec.retention_days)))?;
        self.logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(days)
            .send()
            .await
            .map_err(api("PutRetentionPolicy"))?;
        Ok(())
    }

    pub(super) async fn update_log_group(
        &self,
        name: &str,
        spec: &LogGroupSpec,
        changed: &Changed<'_>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        // Tags first, as for the repository.
        if changed.has("tags") {
            self.logs
                .tag_resource()
                .resource_arn(ctx.observed_arn(Kind::LogGroup, name).unwrap_or_default())
                .set_tags(Some(spec.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(api("TagResource"))?;
        }
        if changed.has("retention_days") {
            self.put_retention(name, spec).await?;
        }
        Ok(())
    }

    pub(super) async fn delete_log_group(&self, name: &str) -> Result<(), AwsError> {
        self.logs.delete_log_group().log_group_name(name).send().await.map_err(api("DeleteLogGroup"))?;
        Ok(())
    }
}
