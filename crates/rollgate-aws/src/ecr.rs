//! ECR: the images a repository holds (for the reconciler) and the repository's tags
//! (where `model-build` records which build made which image tag).

use std::future::Future;

use aws_sdk_ecr::Client;
use rollgate_core::reconcile::RepoImage;
use rollgate_core::service::Tags;
use rollgate_core::{Digest, ImageTag};

use crate::AwsError;

pub trait ImageCatalog {
    /// Every image of a repository with its tags and push time (DescribeImages, 100 a page).
    fn images(&self, repository: &str) -> impl Future<Output = Result<Vec<RepoImage>, AwsError>> + Send;
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

impl ImageCatalog for Ecr {
    async fn images(&self, repository: &str) -> Result<Vec<RepoImage>, AwsError> {
        let mut images = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_images()
                .repository_name(repository)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeImages", e))?;
            for d in page.image_details.unwrap_or_default() {
                let (Some(digest), Some(pushed)) = (d.image_digest, d.image_pushed_at) else { continue };
                let Ok(digest) = Digest::parse(&digest) else { continue };
                let Some(pushed_at) = chrono::DateTime::from_timestamp(pushed.secs(), pushed.subsec_nanos()) else {
                    continue;
                };
                let tags: Vec<ImageTag> =
                    d.image_tags.unwrap_or_default().iter().filter_map(|t| ImageTag::parse(t).ok()).collect();
                let manifest = rollgate_core::event::ManifestKind::classify(
                    d.image_manifest_media_type.as_deref(),
                    d.artifact_media_type.as_deref(),
                    tags.first().map(ImageTag::as_str),
                );
                let archived = d.image_status.as_ref().is_some_and(|s| matches!(s.as_str(), "ARCHIVED" | "ACTIVATING"));
                let referrer = d.subject_manifest_digest.is_some();
                images.push(RepoImage { digest, tags, pushed_at, manifest, archived, referrer });
            }
            token = page.next_token;
            if token.is_none() {
                return Ok(images);
            }
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
