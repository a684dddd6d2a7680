//! ECR: the images a repository holds (for the reconciler), what one image is (its manifest
//! and platform, for deploy's checks), and the repository's tags (where `model-build` records
//! which build made which image tag).

use std::future::Future;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageStatus;
use rollgate_core::image::{ConfigPlatform, Manifest};
use rollgate_core::reconcile::RepoImage;
use rollgate_core::service::Tags;
use rollgate_core::{AccountId, Digest, ImageTag};
use tracing::warn;

use crate::AwsError;

/// Reading a repository's images and manifests, in the service's own registry or a trusted one.
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

    /// What a digest is, from its manifest (BatchGetImage), and for a single image the
    /// platform its config blob states (GetDownloadUrlForLayer with the config's digest, then
    /// an HTTPS GET of the URL ECR returns; [ECR API](https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetDownloadUrlForLayer.html)).
    /// `Ok(None)` when the image is not there. DescribeImages has no platform field, so this
    /// is the only way to learn a single image's platform.
    fn manifest(
        &self,
        registry: &AccountId,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<Manifest>, AwsError>> + Send;
}

/// Whether an image can still be pulled: the health gate asks before rolling back to a
/// revision.
pub trait ImagePresence {
    /// DescribeImages of one image (by digest or tag): `Ok(Some(digest))` when ECR lists it
    /// ACTIVE (for a tag, the digest the tag names now), `Ok(None)` when the repository or the
    /// image is not there (`RepositoryNotFoundException`, `ImageNotFoundException`) or it is
    /// archived (not pullable). Errors: access denied, throttling, the network.
    fn image_digest(
        &self,
        registry: &AccountId,
        repository: &str,
        id: &rollgate_core::gate::EcrImageId,
    ) -> impl Future<Output = Result<Option<rollgate_core::Digest>, AwsError>> + Send;
}

/// An ECR repository's resource tags.
pub trait RepositoryTags {
    /// Every tag of the repository `arn:<partition>:ecr:<region>:<account>:repository/<name>`, key
    /// to value (ListTagsForResource,
    /// <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ListTagsForResource.html>).
    fn repository_tags(&self, repository_arn: &str) -> impl Future<Output = Result<Tags, AwsError>> + Send;
    /// Adds or overwrites `tags` (key, value) on the repository (TagResource,
    /// <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_TagResource.html>).
    /// Errors: TagResource's (a key or value ECR's tag rules refuse, access, throttling).
    fn tag_repository(
        &self,
        repository_arn: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<bytes::Bytes>,
>;

/// The ECR adapter: an SDK client, and an HTTPS client for image config blobs.
#[derive(Clone)]
pub struct Ecr {
    client: Client,
    /// For image config blobs, which ECR serves from a pre-signed URL. `Err`: why there is
    /// none (no root certificates), reported when a blob is needed.
    blobs: Result<Https, String>,
}

impl std::fmt::Debug for Ecr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ecr").finish_non_exhaustive()
    }
}

/// Image configs are small (a few KiB); past this a blob is not read.
const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// Every manifest type deploy reads: BatchGetImage returns a manifest only in a type the
/// caller accepts (its default is Docker schema 2 only).
const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

impl Ecr {
    /// A client from `config`. The blob client trusts the system's root certificates; when they
    /// cannot be loaded, only reading a config blob fails ([`AwsError::Config`]).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let blobs = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map(|b| {
                let https = b.https_or_http().enable_http1().build();
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
            })
            .map_err(|e| format!("cannot load root certificates: {e}"));
        Self { client: Client::new(config), blobs }
    }

    /// Reads an image config blob through the URL ECR hands out for it.
    async fn config_blob(&self, registry: &AccountId, repository: &str, config: &Digest) -> Result<Vec<u8>, AwsError> {
        use http_body_util::BodyExt;
        let out = self
            .client
            .get_download_url_for_layer()
            .registry_id(registry.as_str())
            .repository_name(repository)
            .layer_digest(config.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetDownloadUrlForLayer", e))?;
        let url = out
            .download_url
            .ok_or(AwsError::Incomplete { operation: "GetDownloadUrlForLayer", field: "downloadUrl" })?;
        let blob_error = |message: String| AwsError::Api {
            operation: "GetDownloadUrlForLayer",
            code: "BlobDownload".to_owned(),
            message,
            class: rollgate_core::ErrorClass::Retryable,
        };
        let client = self.blobs.as_ref().map_err(|e| AwsError::Config(e.clone()))?;
        let uri: hyper::Uri = url.parse().map_err(|e| blob_error(format!("ECR returned an invalid URL: {e}")))?;
        let response = client.get(uri).await.map_err(|e| blob_error(crate::error::error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(blob_error(format!("the config blob's URL answered HTTP {}", response.status())));
        }
        let body =
            http_body_util::Limited::new(response.into_body(), MAX_CONFIG_BYTES).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    AwsError::Api {
                        operation: "GetDownloadUrlForLayer",
                        code: "BlobTooLarge".to_owned(),
                        message: format!("the config blob is larger than {MAX_CONFIG_BYTES} bytes"),
                        class: rollgate_core::ErrorClass::NonRetryable,
                    }
                } else {
                    blob_error(format!("reading the config blob: {e}"))
                }
            })?;
        Ok(body.to_bytes().to_vec())
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
    let manifest = rollgate_core::events::ManifestKind::classify(
        d.image_manifest_media_type.as_deref(),
        d.artifact_media_type.as_deref(),
        tags.first().map(ImageTag::as_str),
    );
    // ImageDetail.imageStatus: ACTIVE | ARCHIVED | ACTIVATING; archived images cannot be pulled
    // (https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html).
    let archived =
        d.image_status.as_ref().is_some_and(|s| matches!(s, ImageStatus::Archived | ImageStatus::Activating));
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

    async fn manifest(
        &self,
        registry: &AccountId,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Manifest>, AwsError> {
        let out = self
            .client
            .batch_get_image()
            .registry_id(registry.as_str())
            .repository_name(repository)
            .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(digest.as_str()).build())
            .set_accepted_media_types(Some(MANIFEST_TYPES.iter().map(|t| (*t).to_owned()).collect()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("BatchGetImage", e));
        let out = match out {
            Err(e) if is_not_found(&e) => return Ok(None),
            other => other?,
        };
        // A missing image is a failure entry (ImageNotFound), not an error.
        let Some(image) = out.images.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let json =
            image.image_manifest.ok_or(AwsError::Incomplete { operation: "BatchGetImage", field: "imageManifest" })?;
        let mut manifest = Manifest::parse(&json, image.image_manifest_media_type.as_deref())
            .map_err(|e| AwsError::Config(format!("ECR returned a manifest rollgate cannot read: {e}")))?;
        if let Manifest::Image { config, platform } = &mut manifest {
            *platform = match self.config_blob(registry, repository, config).await {
                Ok(blob) => ConfigPlatform::of_config(&blob),
                // The blob is not there (a manifest pushed without it): the platform is not
                // known, so it is not checked. Anything else (access, throttling) is an error.
                Err(e)
                    if matches!(
                        e.code(),
                        Some("LayersNotFoundException" | "LayerInaccessibleException" | "BlobTooLarge")
                    ) =>
                {
                    warn!(%digest, %config, error = %e, "the image's config blob is not readable; its platform is not checked");
                    ConfigPlatform::NotRead
                }
                Err(e) => return Err(e),
            };
        }
        Ok(Some(manifest))
    }
}

impl ImagePresence for Ecr {
    async fn image_digest(
        &self,
        registry: &AccountId,
        repository: &str,
        id: &rollgate_core::gate::EcrImageId,
    ) -> Result<Option<rollgate_core::Digest>, AwsError> {
        use rollgate_core::gate::EcrImageId;
        let image_id = match id {
            EcrImageId::Digest(d) => aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(d),
            EcrImageId::Tag(t) => aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(t),
        };
        let out = self
            .client
            .describe_images()
            .registry_id(registry.as_str())
            .repository_name(repository)
            .image_ids(image_id.build())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeImages", e));
        match out {
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
            Ok(out) => out
                .image_details
                .unwrap_or_default()
                .into_iter()
                .find(|d| d.image_status.as_ref().is_none_or(|s| *s == ImageStatus::Active))
                .map(|d| {
                    let digest = d.image_digest.unwrap_or_default();
                    rollgate_core::Digest::parse(&digest)
                        .map_err(|e| AwsError::Config(format!("DescribeImages answered a bad digest: {e}")))
                })
                .transpose(),
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
