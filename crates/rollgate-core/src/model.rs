//! Continuous model updating: a model artifact uploaded to S3 becomes an image build, and a
//! failed build becomes a notification. Pure decisions; `model-build` executes them.

use serde::Serialize;

use crate::ImageTag;
use crate::config::ModelConfig;
use crate::events::{BuildStateDetail, Envelope, ObjectCreatedDetail};

/// One StartBuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildPlan {
    /// The CodeBuild project to start.
    pub project: String,
    /// The model's name, the key segment after the prefix.
    pub model_name: String,
    /// The model's version, the key segment after the name, as written.
    pub model_version: String,
    /// The artifact, `s3://<bucket>/<key>`.
    pub model_uri: String,
    /// The tag to build: `v<version>` when the version starts with a digit, else `<version>`.
    pub image_tag: String,
    /// Same object version, same token: CodeBuild starts one build for duplicates.
    pub idempotency_token: String,
}

impl BuildPlan {
    /// The environment overrides the buildspec reads.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MODEL_URI", self.model_uri.clone()),
            ("MODEL_VERSION", self.model_version.clone()),
            ("MODEL_NAME", self.model_name.clone()),
            ("IMAGE_TAG", self.image_tag.clone()),
        ]
    }
}

/// What to do about an S3 upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadDecision {
    /// Start this build.
    Build(BuildPlan),
    /// Not a model artifact this function builds (another bucket, prefix or file).
    Ignore(String),
    /// A model artifact whose key cannot make a valid image: nothing is started.
    Reject(String),
}

/// Derives the build of an uploaded artifact: `<prefix><name>/<version>/<trigger file>`
/// builds image tag `v<version>` when the version starts with a digit, else `<version>`.
pub fn plan_build(config: &ModelConfig, upload: &ObjectCreatedDetail) -> UploadDecision {
    let key = &upload.object.key;
    if upload.bucket.name != config.bucket {
        return UploadDecision::Ignore(format!("bucket {} is not {}", upload.bucket.name, config.bucket));
    }
    let Some(rest) = key.strip_prefix(config.prefix.as_str()) else {
        return UploadDecision::Ignore(format!("{key} is outside the prefix {}", config.prefix));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let [name, version, file] = parts.as_slice() else {
        return UploadDecision::Ignore(format!("{key} is not <prefix><model>/<version>/{}", config.trigger_file));
    };
    if *file != config.trigger_file {
        return UploadDecision::Ignore(format!("{file} is not the trigger file {}", config.trigger_file));
    }
    if name.is_empty() || version.is_empty() {
        return UploadDecision::Reject(format!("{key}: the model name and version must not be empty"));
    }
    let tag =
        if version.starts_with(|c: char| c.is_ascii_digit()) { format!("v{version}") } else { (*version).to_owned() };
    let tag = match ImageTag::parse_for_docker(&tag) {
        Ok(t) => t,
        Err(e) => return UploadDecision::Reject(format!("version {version:?} cannot be an image tag: {}", e.why)),
    };
    if !config.tag_filter.matches(Some(&tag)) {
        return UploadDecision::Reject(format!(
            "image tag {tag} (from version {version}) would not pass the service's tag filter {}; \
             upload under a version that does",
            config.tag_filter
        ));
    }
    let object_identity = format!(
        "{}/{key}#{}",
        config.bucket,
        upload.object.version_id.as_deref().or(upload.object.etag.as_deref()).unwrap_or("")
    );
    UploadDecision::Build(BuildPlan {
        project: config.project.clone(),
        model_name: (*name).to_owned(),
        model_version: (*version).to_owned(),
        model_uri: format!("s3://{}/{key}", config.bucket),
        image_tag: tag.to_string(),
        idempotency_token: format!("rollgate-{:016x}", fnv1a(object_identity.as_bytes())),
    })
}

/// FNV-1a, 64 bits: a stable hash for idempotency tokens (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// A failed model build, published as `Model Build Failed` with source `rollgate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildFailure {
    /// The detail's schema version, 1.
    pub schema_version: u32,
    /// The CodeBuild project's name.
    pub project: String,
    /// The build's ARN, as the event gave it.
    pub build_id: String,
    /// The build's final status: `FAILED`, `FAULT`, `TIMED_OUT` or `STOPPED`.
    pub status: String,
    /// The build's `MODEL_VERSION` variable; `None` when it had none.
    pub model_version: Option<String>,
    /// The build's `MODEL_URI` variable (`s3://<bucket>/<key>`); `None` when it had none.
    pub model_uri: Option<String>,
    /// The build's `IMAGE_TAG` variable; `None` when it had none.
    pub image_tag: Option<String>,
    /// The console link to the build's logs.
    pub logs: Option<String>,
    /// The event's time, RFC 3339 UTC in whole seconds.
    pub at: String,
}

/// The `detail-type` of a [`BuildFailure`] event.
pub const BUILD_FAILED_DETAIL_TYPE: &str = "Model Build Failed";

impl BuildFailure {
    /// The EventBridge entry: detail-type `Model Build Failed`, resources the build's ARN.
    pub fn outgoing(&self) -> crate::notify::Outgoing {
        crate::notify::Outgoing::new(BUILD_FAILED_DETAIL_TYPE, self, vec![self.build_id.clone()])
    }
}

/// A build state change worth telling people about: FAILED, FAULT, TIMED_OUT, STOPPED.
pub fn build_failure(config: &ModelConfig, envelope: &Envelope, detail: &BuildStateDetail) -> Option<BuildFailure> {
    let failed = matches!(detail.build_status.as_str(), "FAILED" | "FAULT" | "TIMED_OUT" | "STOPPED");
    if !failed || detail.project_name != config.project {
        return None;
    }
    let var = |n: &str| {
        detail
            .additional_information
            .environment
            .environment_variables
            .iter()
            .find(|v| v.name == n)
            .map(|v| v.value.clone())
    };
    Some(BuildFailure {
        schema_version: 1,
        project: detail.project_name.clone(),
        build_id: detail.build_id.clone(),
        status: detail.build_status.clone(),
        model_version: var("MODEL_VERSION"),
        model_uri: var("MODEL_URI"),
        image_tag: var("IMAGE_TAG"),
        logs: detail.additional_information.logs.deep_link.clone(),
        at: crate::ledger::format_time(envelope.time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{S3Bucket, S3Object};
    use crate::filter::TagFilter;

    fn config(filter: &str) -> ModelConfig {
        ModelConfig {
            project: "sentiment-image-build".into(),
            bucket: "models-bucket".into(),
            prefix: "models/".into(),
            trigger_file: "model.tar.gz".into(),
            tag_filter: TagFilter::parse(filter).unwrap(),
            event_bus: "default".into(),
        }
    }

    fn upload(bucket: &str, key: &str, version_id: Option<&str>) -> ObjectCreatedDetail {
        ObjectCreatedDetail {
            bucket: S3Bucket { name: bucket.into() },
            object: S3Object {
                key: key.into(),
                size: Some(1),
                etag: Some("e".into()),
                version_id: version_id.map(Into::into),
                sequencer: None,
            },
        }
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, &str, &str, &str)> = vec![
            ("*", "models-bucket", "models/sentiment/1.4.0/model.tar.gz", "build v1.4.0"),
            ("v*", "models-bucket", "models/sentiment/2026-11-28/model.tar.gz", "build v2026-11-28"),
            ("*", "models-bucket", "models/sentiment/release-7/model.tar.gz", "build release-7"),
            ("semver:^2", "models-bucket", "models/sentiment/1.4.0/model.tar.gz", "reject"),
            ("*", "models-bucket", "models/sentiment/bad version/model.tar.gz", "reject"),
            ("*", "models-bucket", "models/sentiment/-x/model.tar.gz", "reject"),
            ("*", "models-bucket", "datasets/sentiment/1/model.tar.gz", "ignore"),
            ("*", "other-bucket", "models/sentiment/1/model.tar.gz", "ignore"),
            ("*", "models-bucket", "models/sentiment/1/vocab.json", "ignore"),
            ("*", "models-bucket", "models/sentiment/model.tar.gz", "ignore"),
        ];
        for (filter, bucket, key, want) in cases {
            let got = match plan_build(&config(filter), &upload(bucket, key, None)) {
                UploadDecision::Build(p) => format!("build {}", p.image_tag),
                UploadDecision::Ignore(_) => "ignore".into(),
                UploadDecision::Reject(_) => "reject".into(),
            };
            assert_eq!(got, want, "{filter} {bucket} {key}");
        }
    }

    #[test]
    fn tokens_follow_the_object_version() {
        let c = config("*");
        let token = |v: Option<&str>| match plan_build(&c, &upload("models-bucket", "models/m/1/model.tar.gz", v)) {
            UploadDecision::Build(p) => p.idempotency_token,
            other => panic!("{other:?}"),
        };
        assert_eq!(token(Some("a")), token(Some("a")));
        assert_ne!(token(Some("a")), token(Some("b")));
        assert!(token(None).len() <= 64);
    }
}
