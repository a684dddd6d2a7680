//! Amazon S3 "Object Created" events (EventBridge notifications): a model artifact uploaded
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>).

use serde::{Deserialize, Serialize};

/// The EventBridge `source` of S3 events.
pub const S3_SOURCE: &str = "aws.s3";
/// The `detail-type` of an S3 upload
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>).
pub const S3_DETAIL_TYPE: &str = "Object Created";

/// The bucket of an S3 event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Bucket {
    /// The bucket's name (not its ARN).
    pub name: String,
}

/// The object of an S3 event (the detail's `object`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct S3Object {
    /// The object key, e.g. `models/sentiment/1.4.0/model.tar.gz`.
    pub key: String,
    /// The object's size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// The object's ETag, as the event gives it.
    #[serde(default)]
    pub etag: Option<String>,
    /// The object's version id; only in versioned buckets.
    #[serde(default)]
    pub version_id: Option<String>,
    /// S3's ordering token for events on the same key.
    #[serde(default)]
    pub sequencer: Option<String>,
}

/// The detail of an S3 "Object Created" event (EventBridge notifications).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCreatedDetail {
    /// The bucket written to.
    pub bucket: S3Bucket,
    /// The object created.
    pub object: S3Object,
}
