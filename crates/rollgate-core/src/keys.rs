//! Every tag key rollgate reads or writes: the ledger's schema (`rollgate:*`), in one place
//! so that deploy, the health gate, `status` and `rollback` read the same keys. Values obey
//! AWS's tag rules (`crate::tags`).

/// Prefix of every rollgate tag; other tags belong to the user and are carried over.
pub const PREFIX: &str = "rollgate:";

// Service tags (opt-in and settings).
/// Service opt-in: the ECR repository name whose pushes the service deploys, e.g.
/// `models/sentiment`. Its presence is the opt-in.
pub const REPOSITORY: &str = "rollgate:repository";
/// On a service: extra containers to move with the repository's, names separated by spaces or
/// commas. On a revision: the containers whose image the rollout set, space-separated.
pub const CONTAINER: &str = "rollgate:container";
/// Service setting: which pushed image tags deploy (`crate::filter::TagFilter` syntax; `*` when
/// absent). Stored `base64:`-encoded when it has characters a tag value cannot (`*`, `?`, `^`).
pub const TAG_FILTER: &str = "rollgate:tag-filter";
/// `true`: pushes without a tag deploy too (off by default: an untagged push is usually
/// a per-platform child of a multi-arch push, an attestation, or a push by digest).
pub const DEPLOY_UNTAGGED: &str = "rollgate:deploy-untagged";

// Task-definition revision tags (the ledger).
/// The deployed image's digest, `sha256:<64 hex>`; its presence marks a revision rollgate registered.
pub const DIGEST: &str = "rollgate:digest";
/// The pushed image tag, when the push had one of at most 256 characters.
pub const IMAGE_TAG: &str = "rollgate:image-tag";
/// When the image was pushed (the ECR event's time, or `imagePushedAt` for the reconciler),
/// RFC 3339 UTC in whole seconds.
pub const PUSHED_AT: &str = "rollgate:pushed-at";
/// The task-definition ARN the service ran before this rollout.
pub const PREVIOUS: &str = "rollgate:previous";
/// The id of the event that started the rollout (the reconciler's: `reconcile:<tick id>:<short
/// digest>`), with characters a tag cannot hold replaced by `_`.
pub const EVENT_ID: &str = "rollgate:event-id";
/// The ARN of the service the revision was registered for.
pub const SERVICE: &str = "rollgate:service";
/// Model lineage, from the image build (`model-build`).
pub const MODEL_VERSION: &str = "rollgate:model-version";
/// The CodeBuild build id (`<project>:<build uuid>`) that made the image, as the gate found it.
pub const BUILD_ID: &str = "rollgate:build-id";
/// Ownership tags of `rollgate up`: carried over to every revision, so `down` finds them.
pub const MANAGED: &str = "rollgate:managed";
/// The name of the `rollgate up` app that owns the resource.
pub const APP: &str = "rollgate:app";
/// On `rollgate up`'s IAM roles (global): `rollgate:region:<region>` = `in-use` for each
/// region whose copy of the app uses the role.
pub const REGION_PREFIX: &str = "rollgate:region:";
/// What started a rollout: `config` for a revision `rollgate up` registered for a
/// configuration change (its image is the live one's); absent for a push.
pub const CAUSE: &str = "rollgate:cause";
/// The rollback target known when the revision was deployed.
pub const KNOWN_GOOD: &str = "rollgate:known-good";
/// What the deployed digest is: `index` (an image index) or `image` (a single image).
/// Absent on revisions from before rollgate recorded it. In a same-second tie an index
/// outranks a single image, which may be one of its children.
pub const MANIFEST: &str = "rollgate:manifest";

// Task-definition revision tags written by the health gate.
/// The rollout's state, see `gate::RolloutState`.
pub const STATE: &str = "rollgate:state";
/// When ECS reported the deployment COMPLETED: the bake window starts here.
pub const COMPLETED_AT: &str = "rollgate:completed-at";
/// `<m>@<time>`: when the gate first saw the rollout, after its bake, with fewer tasks
/// running than desired and no failing signal, and `m`, the highest desired count seen
/// short since (`0` while scaled to zero). The grace for the missing tasks runs from there;
/// a scale-out above `m`, or a scale-up after a look at zero, starts it again.
pub const SHORT_SINCE: &str = "rollgate:short-since";
/// When the verdict (healthy, failed, rolled back) was reached.
pub const DECIDED_AT: &str = "rollgate:decided-at";
/// Why the rollout failed.
pub const REASON: &str = "rollgate:reason";
/// `rollgate:bad-task:<task id>` = the cause of one abnormal task stop.
pub const BAD_TASK_PREFIX: &str = "rollgate:bad-task:";
/// On a failed rollout whose rollback the gate follows (state `rolling-back`, then
/// `rolled-back` or `rollback-failed`): the revision the service was sent back to.
pub const ROLLBACK_TO: &str = "rollgate:rollback-to";
/// Why the rollback failed or could not be made (state `rollback-failed`);
/// `rollgate:reason` keeps why the rollout failed.
pub const ROLLBACK_REASON: &str = "rollgate:rollback-reason";
/// Who sent the service back: `rollgate`, `ecs` (its circuit breaker) or `manual`.
pub const ROLLED_BACK_BY: &str = "rollgate:rolled-back-by";
/// On a revision the gate registered as a copy of a rollback target that could no longer
/// be deployed (deregistered, INACTIVE): the ARN of the revision it copies.
pub const COPY_OF: &str = "rollgate:copy-of";
/// The tags of one rollout's verdict that a new revision made from it (a configuration
/// change's revision, a copy of a rollback target) never carries: it starts its own.
pub const PER_ROLLOUT: [&str; 6] = [REASON, ROLLBACK_REASON, ROLLBACK_TO, ROLLED_BACK_BY, COPY_OF, SHORT_SINCE];

// Service tags written by the health gate.
/// The last revision verified healthy: where a failed rollout goes back to.
pub const LAST_GOOD: &str = "rollgate:last-good";
/// `rollgate:failed:<digest>` = when that digest failed on this service; never redeployed.
pub const FAILED_PREFIX: &str = "rollgate:failed:";
/// The failed revision whose rollback the gate is following (set with the failure, before
/// the rollback; removed once the rollback completed or failed). One tag: at most one
/// rollback is followed per service, the newest.
pub const ROLLBACK: &str = "rollgate:rollback";
/// `<state>@<time> <family>:<revision>`: the gate's ledger of a live revision that rollgate did
/// not roll out to this service (registered by hand or by CloudFormation, the pre-rollgate
/// revision put back, another service's revision), kept on the service because the revision
/// may be shared ([`crate::gate::OutsideRecord`]). One tag, overwritten by the next such
/// revision.
pub const OUTSIDE: &str = "rollgate:outside";
/// `<id>@<time>`: the newest ECS service deployment of the service that the gate has read
/// the outcome of, and when ECS created it ([`crate::history`]). One tag, overwritten.
pub const SEEN_DEPLOYMENT: &str = "rollgate:seen-deployment";
/// The push time of the newest rollout that was rolled back. After a rollback the live
/// revision is older, so "never move backwards" also compares pushes with this.
pub const HIGH_WATER: &str = "rollgate:high-water";
/// The configuration-change revision the gate decided failed, recorded before its
/// rollback (the counterpart of `rollgate:failed:<digest>` for a rollout whose image was
/// not new, so a retry finishes the rollback). One tag, overwritten: bounded.
pub const FAILED_CONFIG: &str = "rollgate:failed-config";
/// Older failed digests, as space-separated 12-digit short digests, newest first: where a
/// `rollgate:failed:<digest>` tag goes when a newer failure needs its room
/// (`tags::failure_write`). A listed digest is never deployed, like a tagged one.
pub const FAILED_DIGESTS: &str = "rollgate:failed-digests";

// Service tags: health-gate settings.
/// Gate setting: more abnormal task stops than this fail the rollout (a whole number, 0-20;
/// default 2).
pub const MAX_BAD_TASKS: &str = "rollgate:max-bad-tasks";
/// Gate setting: time from the deployment's start to COMPLETED, a duration such as `15m` or
/// `900` seconds (default 15m).
pub const DEADLINE: &str = "rollgate:deadline";
/// Gate setting: time after COMPLETED before the revision is declared healthy, a duration such
/// as `5m` (default 5m).
pub const BAKE: &str = "rollgate:bake";
/// Gate setting: CloudWatch alarm names to watch, space-separated.
pub const ALARMS: &str = "rollgate:alarms";
/// Gate setting: every CloudWatch alarm whose name starts with this is watched too.
pub const ALARM_PREFIX: &str = "rollgate:alarm-prefix";
/// Gate setting: the smoke test's URL (`http://` or `https://`); no smoke test when absent.
pub const SMOKE_URL: &str = "rollgate:smoke-url";
/// Gate setting: a request body for the smoke test, sent with POST (GET when absent).
pub const SMOKE_BODY: &str = "rollgate:smoke-body";
/// Gate setting: the HTTP status the smoke test expects, 100-599 (default 200).
pub const SMOKE_STATUS: &str = "rollgate:smoke-status";
/// Gate setting: text the smoke test's response body must contain.
pub const SMOKE_MATCH: &str = "rollgate:smoke-match";
