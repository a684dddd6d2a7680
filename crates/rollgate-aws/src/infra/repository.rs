//! The app's ECR repository: DescribeRepositories, GetLifecyclePolicy, ListTagsForResource;
//! CreateRepository, TagResource, PutImageScanningConfiguration, PutImageTagMutability,
//! PutLifecyclePolicy, DeleteLifecyclePolicy; DeleteRepository (`down`).

use aws_sdk_ecr::types::{ImageScanningConfiguration, Tag};
use rollgate_core::infra::desired::Value;
use rollgate_core::infra::plan::ALL_TAGS;
use rollgate_core::infra::spec::{RepositorySpec, TagMap};
use rollgate_core::infra::{Attrs, Kind};

use super::{ApplyContext, Changed, Infra, absent, api, attrs, built, managed_tags};
use crate::AwsError;

fn ecr_tags(tags: &TagMap) -> Result<Vec<Tag>, AwsError> {
    tags.iter().map(|(k, v)| built(Tag::builder().key(k).value(v).build())).collect()
}

fn scanning(spec: &RepositorySpec) -> ImageScanningConfiguration {
    ImageScanningConfiguration::builder().scan_on_push(spec.scan_on_push).build()
}

impl Infra {
    /// A repository's lifecycle policy text (GetLifecyclePolicy); `None` when the repository
    /// or its policy does not exist.
    pub async fn lifecycle_policy(&self, repository: &str) -> Result<Option<String>, AwsError> {
        let out =
            self.ecr.get_lifecycle_policy().repository_name(repository).send().await.map_err(api("GetLifecyclePolicy"));
        Ok(absent(out, &["LifecyclePolicyNotFoundException", "RepositoryNotFoundException"])?
            .and_then(|l| l.lifecycle_policy_text))
    }

    /// How many images a repository holds (`None`: no such repository). ListImages, paginated.
    pub async fn image_count(&self, repository: &str) -> Result<Option<usize>, AwsError> {
        let mut count = 0;
        let mut pages = self.ecr.list_images().repository_name(repository).into_paginator().send();
        while let Some(page) = pages.next().await {
            let Some(page) = absent(page.map_err(api("ListImages")), &["RepositoryNotFoundException"])? else {
                return Ok(None);
            };
            count += page.image_ids.map_or(0, |ids| ids.len());
        }
        Ok(Some(count))
    }

    pub(super) async fn read_repository(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out =
            self.ecr.describe_repositories().repository_names(name).send().await.map_err(api("DescribeRepositories"));
        let Some(out) = absent(out, &["RepositoryNotFoundException"])? else { return Ok(None) };
        let Some(repo) = out.repositories.unwrap_or_default().into_iter().next() else { return Ok(None) };
        let lifecycle =
            self.ecr.get_lifecycle_policy().repository_name(name).send().await.map_err(api("GetLifecyclePolicy"));
        let lifecycle = absent(lifecycle, &["LifecyclePolicyNotFoundException"])?
            .and_then(|l| l.lifecycle_policy_text)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map_or(Value::Absent, Value::Json);
        let arn = repo.repository_arn.clone().unwrap_or_default();
        let tags =
            self.ecr.list_tags_for_resource().resource_arn(&arn).send().await.map_err(api("ListTagsForResource"))?;
        let tags = tags.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect::<Vec<_>>();
        Ok(Some(attrs([
            (
                "scan_on_push",
                Value::text(repo.image_scanning_configuration.map(|c| c.scan_on_push).unwrap_or(false).to_string()),
            ),
            ("tag_mutability", Value::opt(repo.image_tag_mutability.map(|m| m.as_str().to_owned()))),
            ("lifecycle_policy", lifecycle),
            ("tags", managed_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            (ALL_TAGS, Value::map(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ("arn", Value::text(arn)),
        ])))
    }

    pub(super) async fn create_repository(&self, name: &str, spec: &RepositorySpec) -> Result<(), AwsError> {
        self.ecr
            .create_repository()
            .repository_name(name)
            .image_scanning_configuration(scanning(spec))
            .image_tag_mutability(spec.tag_mutability.as_str().into())
            .set_tags(Some(ecr_tags(&spec.tags)?))
            .send()
            .await
            .map_err(api("CreateRepository"))?;
        self.write_lifecycle_policy(name, spec, false).await
    }

    /// Puts the repository's desired lifecycle policy; with none desired
    /// (`untagged_expiry_days = 0`), deletes the one an `existing` repository may have.
    async fn write_lifecycle_policy(&self, name: &str, spec: &RepositorySpec, existing: bool) -> Result<(), AwsError> {
        match &spec.lifecycle_policy {
            None if existing => {
                let deleted = self
                    .ecr
                    .delete_lifecycle_policy()
                    .repository_name(name)
                    .send()
                    .await
                    .map_err(api("DeleteLifecyclePolicy"));
                absent(deleted, &["LifecyclePolicyNotFoundException"])?;
            }
            None => {}
            Some(policy) => {
                self.ecr
                    .put_lifecycle_policy()
                    .repository_name(name)
                    .lifecycle_policy_text(Value::Json(policy.clone()).as_json_text())
                    .send()
                    .await
                    .map_err(api("PutLifecyclePolicy"))?;
            }
        }
        Ok(())
    }

    pub(super) async fn update_repository(
        &self,
        name: &str,
        spec: &RepositorySpec,
        changed: &Changed<'_>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        // Tags first: ownership is recorded before anything changes, and a policy that lets
        // rollgate change only what is tagged as its own (docs/iam/cli-policy.json) allows the rest.
        if changed.has("tags") {
            self.ecr
                .tag_resource()
                .resource_arn(ctx.observed_arn(Kind::Repository, name).unwrap_or_default())
                .set_tags(Some(ecr_tags(&spec.tags)?))
                .send()
                .await
                .map_err(api("TagResource"))?;
        }
        if changed.has("scan_on_push") {
            self.ecr
                .put_image_scanning_configuration()
                .repository_name(name)
                .image_scanning_configuration(scanning(spec))
                .send()
                .await
                .map_err(api("PutImageScanningConfiguration"))?;
        }
        if changed.has("tag_mutability") {
            self.ecr
                .put_image_tag_mutability()
                .repository_name(name)
                .image_tag_mutability(spec.tag_mutability.as_str().into())
                .send()
                .await
                .map_err(api("PutImageTagMutability"))?;
        }
        if changed.has("lifecycle_policy") {
            self.write_lifecycle_policy(name, spec, true).await?;
        }
        Ok(())
    }

    /// DeleteRepository with `force`: its images go with it (`down` asks before).
    pub(super) async fn delete_repository(&self, name: &str) -> Result<(), AwsError> {
        self.ecr.delete_repository().repository_name(name).force(true).send().await.map_err(api("DeleteRepository"))?;
        Ok(())
    }
}
