//! ECR: the images a repository holds (for the reconciler) and the repository's tags
//! (where `model-build` records which build made which image tag).

use std::future::Future;

use aws_sdk_ecr::Client;
use rollgate_core::reconcile::RepoImage;
use rollgate_core::service::Tags;
use rollgate_core::{AccountId, Digest, ImageTag};

use crate::AwsError;

pub trait ImageCatalog {
    /// Every active image of a repository in `registry` (an account id: the service's own, or
    /// a trusted central registry) with its tags, push time and kind (DescribeImages, 100 a
    /// page; ECR lists only ACTIVE images unless asked otherwise). A repository that does not
    /// exist in that registry holds no images: `Ok(vec![])`.
    fn images(
        &self,
        registry: &AccountId,
        repository: &str,
    ) -> impl Future<Output = Result<Vec<RepoImage>, AwsError>> + Send;

    /// One image by digest (DescribeImages with `imageIds`), `Ok(None)` when the repository
    /// or the image is not there (`RepositoryNotFoundException`, `ImageNotFoundException`).
    /// Used when an event does not say what it brought (replication, pull through cache).
    fn image(
        &self,
        registry: &AccountId,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<RepoImage>, AwsError>> + Send;
}

pub trait RepositoryTags {
    fn repository_tags(&self, repository_arn: &str) -> impl Future<Output = Result<Tags, AwsError>> + Send;
    fn tag_repository(
        &self,
        repository_arn: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

#[derive(Debug, Clone)]
pub struct Ecr {
    client: Client,
}

impl Ecr {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: Client::new(config) }
    }
}

/// DescribeImages' answer for a repository or image that is not there.
fn is_not_found(e: &AwsError) -> bool {
    matches!(e.code(), Some("RepositoryNotFoundException" | "ImageNotFoundException"))
}

fn repo_image(registry: &AccountId, d: aws_sdk_ecr::types::ImageDetail) -> Option<RepoImage> {
    let digest = Digest::parse(d.image_digest.as_deref()?).ok()?;
    let pushed = d.image_pushed_at?;
    let pushed_at = chrono::DateTime::from_timestamp(pushed.secs(), pushed.subsec_nanos())?;
    let tags: Vec<ImageTag> = d.image_tags.unwrap_or_default().iter().filter_map(|t| ImageTag::parse(t).ok()).collect();
    let manifest = rollgate_core::event::ManifestKind::classify(
        d.image_manifest_media_type.as_deref(),
        d.artifact_media_type.as_deref(),
        tags.first().map(ImageTag::as_str),
    );
    // ImageDetail.imageStatus: ACTIVE | ARCHIVED | ACTIVATING; archived images cannot be pulled
    // (https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html).
    let archived = d.image_status.as_ref().is_some_and(|s| matches!(s.as_str(), "ARCHIVED" | "ACTIVATING"));
    let referrer = d.subject_manifest_digest.is_some();
    Some(RepoImage { registry: registry.clone(), digest, tags, pushed_at, manifest, archived, referrer })
}

impl ImageCatalog for Ecr {
    async fn images(&self, registry: &AccountId, repository: &str) -> Result<Vec<RepoImage>, AwsError> {
        let mut images = Vec::new();
        let mut pages = self
            .client
            .describe_images()
            .registry_id(registry.as_str())
            .repository_name(repository)
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page.map_err(|e| AwsError::from_sdk("DescribeImages", e)) {
                Err(e) if is_not_found(&e) => return Ok(Vec::new()),
                other => other?,
            };
            images.extend(page.image_details.unwrap_or_default().into_iter().filter_map(|d| repo_image(registry, d)));
        }
        Ok(images)
    }

    async fn image(
        &self,
        registry: &AccountId,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<RepoImage>, AwsError> {
        let out = self
            .client
            .describe_images()
            .registry_id(registry.as_str())
            .repository_name(repository)
            .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(digest.as_str()).build())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeImages", e));
        match out {
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
            Ok(out) => Ok(out
                .image_details
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| repo_image(registry, d))
                .find(|i| &i.digest == digest)),
        }
    }
}

impl RepositoryTags for Ecr {
    async fn repository_tags(&self, repository_arn: &str) -> Result<Tags, AwsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(repository_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
        Ok(out.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect())
    }

    async fn tag_repository(&self, repository_arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_ecr::types::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        self.client
            .tag_resource()
            .resource_arn(repository_arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("TagResource", e))?;
        Ok(())
    }
}
