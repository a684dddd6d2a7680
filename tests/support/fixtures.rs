//! Per-test scenarios: unique names, their own access key, and seeding through boto3.

use std::sync::atomic::{AtomicU32, Ordering};

use rollgate_aws::AwsOptions;
use serde_json::{Value, json};

use crate::emulator::is_write;
use crate::{Emulator, emulator, root};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn next_id() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed) + 1
}

/// One test's corner of the shared emulator.
pub struct Scenario {
    /// A unique, lowercase prefix for every resource this test creates.
    pub name: String,
    /// The access key the code under test signs with; the call log is keyed by it.
    pub access_key: String,
    pub em: &'static Emulator,
}

/// What [`Scenario::opted_in_service`] created.
pub struct OptedIn {
    pub cluster: String,
    pub repo: String,
    /// The service's first (pre-rollgate) revision.
    pub base: String,
    pub arn: String,
}

/// One manifest a registry client pushed, with the event ECR sends for it.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: String,
    pub kind: Kind,
    pub event: String,
}

/// What a pushed manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Attestation,
    Index,
}

/// A service to create, opted in (or not) by its tags.
pub struct ServiceSpec<'a> {
    pub cluster: &'a str,
    pub name: &'a str,
    pub task_definition: &'a str,
    pub tags: Vec<(&'a str, String)>,
}

impl Scenario {
    pub fn new(test: &str) -> Self {
        let id = next_id();
        let slug: String = test
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(24)
            .collect();
        Self { name: format!("{slug}-{id}"), access_key: format!("AKIATEST{id:08}{}", slug.len()), em: emulator() }
    }

    /// [`Scenario::new`] on an emulator of its own (`crate::emulator::private_emulator`).
    pub fn on_own_emulator(test: &str) -> Self {
        Self { em: crate::emulator::private_emulator(), ..Self::new(test) }
    }

    /// How the code under test reaches the emulator: real SDK clients over HTTP, no retries.
    pub fn aws_options(&self) -> AwsOptions {
        AwsOptions {
            endpoint_url: Some(self.em.url.clone()),
            region: Some(REGION.to_owned()),
            profile: None,
            max_attempts: Some(1),
            static_credentials: Some((self.access_key.clone(), "test-secret".to_owned())),
            call_timeouts: Some(rollgate_aws::sdk_config::FUNCTION_CALL_TIMEOUTS),
            // Retries back off as in production, scaled down so fault tests stay quick.
            initial_backoff: Some(std::time::Duration::from_millis(20)),
            max_call_rate: None,
        }
    }

    /// How `function`'s code (deploy, health-gate, model-build) reaches the emulator: as
    /// [`Scenario::aws_options`], with an access key of its own that the emulator authorizes
    /// with exactly the policy template.yaml gives the function (support::iam), for this
    /// scenario's resources. Its calls count among [`Scenario::calls`].
    pub fn function_options(&self, function: &str) -> AwsOptions {
        let key = self.register_function(function);
        AwsOptions { static_credentials: Some((key, "test-secret".to_owned())), ..self.aws_options() }
    }

    /// Registers `function`'s key with the emulator, with the function's template policy for
    /// this scenario's resources (support::iam), and returns it: for a function binary run
    /// with that key in its environment.
    pub fn register_function(&self, function: &str) -> String {
        let key = self.function_key(function);
        crate::iam::register(&self.em.url, &key, function, &self.name);
        key
    }

    /// The access key [`Scenario::function_options`] gives `function` (its own, for the call
    /// log and the emulator's IAM): this scenario's key and a suffix per function.
    pub fn function_key(&self, function: &str) -> String {
        let suffix = match function {
            "deploy" => "FD",
            "health-gate" => "FG",
            "model-build" => "FM",
            other => panic!("no function {other}"),
        };
        format!("{}{suffix}", self.access_key)
    }

    pub fn boto(&self, service: &str, operation: &str, params: Value) -> Value {
        self.em.boto().call(service, operation, params)
    }

    /// Every AWS call the code under test made (its functions' included), as (service, operation).
    pub fn calls(&self) -> Vec<(String, String)> {
        self.em.calls_with_prefix(&self.access_key)
    }

    /// The write calls among them.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.calls().into_iter().filter(|(_, op)| is_write(op)).collect()
    }

    pub fn count_calls(&self, operation: &str) -> usize {
        self.calls().iter().filter(|(_, op)| op == operation).count()
    }

    /// A subnet and security group, created once per emulator (moto's ECS needs real ids); the
    /// lock is held while they are made, so concurrent tests share one.
    pub fn network(&self) -> (String, String) {
        static NETWORK: std::sync::Mutex<Vec<(String, (String, String))>> = std::sync::Mutex::new(Vec::new());
        let mut known = NETWORK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, network)) = known.iter().find(|(url, _)| *url == self.em.url) {
            return network.clone();
        }
        let network = {
            let vpc = self.boto("ec2", "create_vpc", json!({"CidrBlock": "10.0.0.0/16"}));
            let vpc_id = vpc["Vpc"]["VpcId"].as_str().expect("vpc id").to_owned();
            let subnet = self.boto("ec2", "create_subnet", json!({"VpcId": vpc_id, "CidrBlock": "10.0.1.0/24"}));
            let sg = self.boto(
                "ec2",
                "create_security_group",
                json!({"GroupName": "rollgate-tests", "Description": "tests", "VpcId": vpc_id}),
            );
            (
                subnet["Subnet"]["SubnetId"].as_str().expect("subnet id").to_owned(),
                sg["GroupId"].as_str().expect("group id").to_owned(),
            )
        };
        known.push((self.em.url.clone(), network.clone()));
        network
    }

    pub fn cluster(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.name);
        self.boto("ecs", "create_cluster", json!({"clusterName": name}));
        name
    }

    pub fn repository(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.name);
        self.boto("ecr", "create_repository", json!({"repositoryName": name}));
        name
    }

    pub fn registry(&self) -> String {
        format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")
    }

    /// Pushes an image with unique layers and returns its digest: a linux/amd64 Docker
    /// schema-2 image whose config blob is uploaded as `docker push` uploads it.
    pub fn push_image(&self, repository: &str, tag: &str) -> String {
        self.push_image_for(repository, Some(tag), "linux", "amd64")
    }

    /// Uploads a blob through ECR's layer upload API (InitiateLayerUpload, UploadLayerPart,
    /// CompleteLayerUpload), as a registry client does; returns its digest.
    pub fn upload_blob(&self, repository: &str, content: &str) -> String {
        self.upload_blob_in(None, repository, content)
    }

    /// A boto call in the scenario's account, or in `account` (moto's x-moto-account-id).
    fn boto_in(&self, account: Option<&str>, service: &str, operation: &str, params: Value) -> Value {
        match account {
            None => self.boto(service, operation, params),
            Some(a) => {
                self.em.boto().try_call_in_account(a, service, operation, params).unwrap_or_else(|e| {
                    panic!("{service}.{operation} in account {a} failed: {}: {}", e.code, e.message)
                })
            }
        }
    }

    fn upload_blob_in(&self, account: Option<&str>, repository: &str, content: &str) -> String {
        use sha2::Digest as _;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(content.as_bytes())));
        let upload = self.boto_in(account, "ecr", "initiate_layer_upload", json!({"repositoryName": repository}));
        let id = upload["uploadId"].as_str().expect("uploadId").to_owned();
        self.boto_in(
            account,
            "ecr",
            "upload_layer_part",
            json!({"repositoryName": repository, "uploadId": id, "partFirstByte": 0,
                   "partLastByte": content.len() - 1, "layerPartBlob": content}),
        );
        self.boto_in(
            account,
            "ecr",
            "complete_layer_upload",
            json!({"repositoryName": repository, "uploadId": id, "layerDigests": [digest]}),
        );
        digest
    }

    /// Pushes a single-platform image (`os`/`architecture` in its uploaded config blob),
    /// tagged or by digest only; returns its digest.
    pub fn push_image_for(&self, repository: &str, tag: Option<&str>, os: &str, architecture: &str) -> String {
        self.push_image_in(None, repository, tag, os, architecture)
    }

    /// [`Scenario::push_image_for`], in the scenario's account or in `account` (a central
    /// registry's repository).
    pub fn push_image_in(
        &self,
        account: Option<&str>,
        repository: &str,
        tag: Option<&str>,
        os: &str,
        architecture: &str,
    ) -> String {
        let layer = format!("sha256:{:064x}", (u128::from(next_id()) << 64) | 0xfeed);
        let config = json!({"architecture": architecture, "os": os, "created": "2026-11-28T10:00:00Z",
                            "config": {"Env": [format!("BUILD={}", next_id())]},
                            "rootfs": {"type": "layers", "diff_ids": [layer]}})
        .to_string();
        let config_digest = self.upload_blob_in(account, repository, &config);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(),
                       "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                        "digest": layer}],
        });
        let mut request = json!({"repositoryName": repository, "imageManifest": manifest.to_string()});
        if let Some(tag) = tag {
            request["imageTag"] = json!(tag);
        }
        let out = self.boto_in(account, "ecr", "put_image", request);
        out["image"]["imageId"]["imageDigest"].as_str().expect("digest").to_owned()
    }

    /// Pushes what `docker buildx build --platform <platforms> --push` pushes (BuildKit's
    /// default, provenance attestations on): per platform an OCI image and its attestation,
    /// both untagged, then the OCI image index listing them, tagged `tag` (or untagged with
    /// `None`, as a push-by-digest runner does). Returns the pushes in ECR's order, each with
    /// its event (the shapes of events/buildx/, at `time`). The index comes last.
    pub fn push_buildx(
        &self,
        repository: &str,
        tag: Option<&str>,
        platforms: &[(&str, &str)],
        time: &str,
    ) -> Vec<Pushed> {
        const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
        const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
        const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
        let mut pushed = Vec::new();
        let mut entries = Vec::new();
        let put = |manifest: &Value, media: &str, tag: Option<&str>| {
            let mut request = json!({"repositoryName": repository, "imageManifest": manifest.to_string(),
                                     "imageManifestMediaType": media});
            if let Some(tag) = tag {
                request["imageTag"] = json!(tag);
            }
            let out = self.boto("ecr", "put_image", request);
            out["image"]["imageId"]["imageDigest"].as_str().expect("digest").to_owned()
        };
        for (os, architecture) in platforms {
            let layer = format!("sha256:{:064x}", (u128::from(next_id()) << 64) | 0xb11d);
            let config = json!({"architecture": architecture, "os": os, "created": "2026-11-28T10:00:00Z",
                                "config": {"Env": [format!("BUILD={}", next_id())]},
                                "rootfs": {"type": "layers", "diff_ids": [layer]}})
            .to_string();
            let config_digest = self.upload_blob(repository, &config);
            let image = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 31337}]});
            let image_digest = put(&image, OCI_MANIFEST, None);
            // BuildKit's attestation: an image manifest with an unknown/unknown config and
            // in-toto layers (docs.docker.com, "Image attestation storage").
            let att_config = json!({"architecture": "unknown", "os": "unknown", "config": {},
                                    "rootfs": {"type": "layers", "diff_ids": []}, "build": next_id()})
            .to_string();
            let att_config_digest = self.upload_blob(repository, &att_config);
            let attestation = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": att_config_digest, "size": att_config.len()},
                "layers": [{"mediaType": "application/vnd.in-toto+json", "size": 1200,
                            "digest": format!("sha256:{:064x}", (u128::from(next_id()) << 64) | 0xa77e),
                            "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]});
            let attestation_digest = put(&attestation, OCI_MANIFEST, None);
            entries.push(json!({"mediaType": OCI_MANIFEST, "digest": image_digest, "size": image.to_string().len(),
                                "platform": {"architecture": architecture, "os": os}}));
            entries.push(json!({"mediaType": OCI_MANIFEST, "digest": attestation_digest,
                                "size": attestation.to_string().len(),
                                "annotations": {"vnd.docker.reference.digest": image_digest,
                                                "vnd.docker.reference.type": "attestation-manifest"},
                                "platform": {"architecture": "unknown", "os": "unknown"}}));
            for (digest, kind) in [(image_digest, Kind::Image), (attestation_digest, Kind::Attestation)] {
                let event = self.buildx_event("buildx/01-push-image-linux-amd64.json", repository, &digest, None, time);
                pushed.push(Pushed { digest, kind, event });
            }
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        let digest = put(&index, OCI_INDEX, tag);
        let event = self.buildx_event("buildx/05-push-index-v1.json", repository, &digest, tag, time);
        pushed.push(Pushed { digest, kind: Kind::Index, event });
        pushed
    }

    /// A push event in the shape of an events/buildx/ fixture.
    fn buildx_event(&self, fixture: &str, repository: &str, digest: &str, tag: Option<&str>, time: &str) -> String {
        let mut e = fixture_json(fixture);
        e["id"] = json!(format!("{}-evt-{}", self.name, next_id()));
        e["time"] = json!(time);
        e["detail"]["repository-name"] = json!(repository);
        e["detail"]["image-digest"] = json!(digest);
        e["detail"]["image-tag"] = json!(tag.unwrap_or(""));
        e.to_string()
    }

    /// Pushes an OCI 1.1 artifact (a referrer of `subject`, pushed by digest as Notation and
    /// ORAS push signatures and SBOMs) and returns its digest.
    pub fn push_artifact(&self, repository: &str, artifact_type: &str, subject: &str) -> String {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                       "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
            "layers": [{"mediaType": "application/jose+json", "size": 2000,
                        "digest": format!("sha256:{:064x}", (u128::from(next_id()) << 64) | 0x5167)}],
            "subject": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528,
                        "digest": subject},
        });
        let out = self.boto(
            "ecr",
            "put_image",
            json!({"repositoryName": repository, "imageManifest": manifest.to_string(),
                   "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json"}),
        );
        out["image"]["imageId"]["imageDigest"].as_str().expect("digest").to_owned()
    }

    /// Registers a task definition from container definitions; returns its ARN.
    pub fn task_definition(&self, family: &str, containers: Value) -> String {
        self.register(json!({
            "family": format!("{}-{family}", self.name),
            "containerDefinitions": containers,
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
        }))
    }

    /// Registers a task definition from full RegisterTaskDefinition parameters.
    pub fn register(&self, params: Value) -> String {
        let out = self.boto("ecs", "register_task_definition", params);
        out["taskDefinition"]["taskDefinitionArn"].as_str().expect("arn").to_owned()
    }

    /// A one-container task definition whose image comes from `repository`.
    /// A pre-rollgate revision running an image of `repository` pushed by digest (untagged)
    /// a day ago, pinned by digest as pipelines pin it. The image exists (the gate checks that
    /// a rollback target's image does); untagged, it is no release the reconciler would pick
    /// for another service of the same repository.
    pub fn model_task_definition(&self, family: &str, repository: &str) -> String {
        let digest = self.push_image_for(repository, None, "linux", "amd64");
        // Pushed the day before: it predates every push a test makes.
        let day_ago =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
                - 86_400;
        self.em.set_pushed_at(repository, &digest, day_ago);
        self.task_definition(
            family,
            json!([{"name": "model", "image": format!("{}/{repository}@{digest}", self.registry()),
                    "essential": true, "portMappings": [{"containerPort": 8080}]}]),
        )
    }

    pub fn service(&self, spec: ServiceSpec<'_>) -> String {
        let (subnet, sg) = self.network();
        let tags: Vec<Value> = spec.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let out = self.boto(
            "ecs",
            "create_service",
            json!({
                "cluster": spec.cluster,
                "serviceName": spec.name,
                "taskDefinition": spec.task_definition,
                "desiredCount": 2,
                "launchType": "FARGATE",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}},
                "tags": tags,
            }),
        );
        out["service"]["serviceArn"].as_str().expect("service arn").to_owned()
    }

    /// A cluster, a repository, a one-container task definition and a service `api` tracking
    /// the repository (opted in with `rollgate:repository`, plus `extra_tags`).
    pub fn opted_in_service(&self, extra_tags: Vec<(&str, String)>) -> OptedIn {
        let cluster = self.cluster("c");
        let repo = self.repository("model");
        let base = self.model_task_definition("model", &repo);
        let mut tags = vec![("rollgate:repository", repo.clone())];
        tags.extend(extra_tags);
        let arn = self.service(ServiceSpec { cluster: &cluster, name: "api", task_definition: &base, tags });
        OptedIn { cluster, repo, base, arn }
    }

    /// An SQS queue subscribed, by the EventBridge rule `<scenario>-<name>`, to the events on
    /// the default bus that match `pattern`; returns the queue's URL.
    pub fn event_queue(&self, name: &str, pattern: &Value) -> String {
        let queue = self.boto("sqs", "create_queue", json!({"QueueName": format!("{}-{name}", self.name)}))["QueueUrl"]
            .as_str()
            .expect("queue url")
            .to_owned();
        let queue_arn = self.boto(
            "sqs",
            "get_queue_attributes",
            json!({"QueueUrl": queue, "AttributeNames": ["QueueArn"]}),
        )["Attributes"]["QueueArn"]
            .clone();
        let rule = format!("{}-{name}", self.name);
        self.boto("events", "put_rule", json!({"Name": rule, "EventPattern": pattern.to_string()}));
        self.boto("events", "put_targets", json!({"Rule": rule, "Targets": [{"Id": "q", "Arn": queue_arn}]}));
        queue
    }

    /// Every event `queue` holds, oldest first, each removed from the queue once read.
    pub fn drain_queue(&self, queue: &str) -> Vec<Value> {
        let mut received = Vec::new();
        loop {
            let out = self.boto("sqs", "receive_message", json!({"QueueUrl": queue, "MaxNumberOfMessages": 10}));
            let Some(messages) = out["Messages"].as_array().filter(|m| !m.is_empty()).cloned() else { break };
            for m in messages {
                received.push(serde_json::from_str(m["Body"].as_str().expect("body")).expect("an event"));
                self.boto("sqs", "delete_message", json!({"QueueUrl": queue, "ReceiptHandle": m["ReceiptHandle"]}));
            }
        }
        received
    }

    /// The service as AWS describes it (with tags).
    pub fn describe_service(&self, cluster: &str, service: &str) -> Value {
        let out = self.boto(
            "ecs",
            "describe_services",
            json!({"cluster": cluster, "services": [service], "include": ["TAGS"]}),
        );
        out["services"][0].clone()
    }

    /// A service's tags, as DescribeServices (with tags) answers them, as a key -> value map.
    pub fn service_tags(&self, cluster: &str, service: &str) -> serde_json::Map<String, Value> {
        self.describe_service(cluster, service)["tags"]
            .as_array()
            .expect("DescribeServices answered no tags")
            .iter()
            .map(|t| (t["key"].as_str().unwrap_or("").to_owned(), t["value"].clone()))
            .collect()
    }

    /// A revision's `rollgate:state` ledger tag, as AWS describes it ("" when it has none).
    pub fn revision_state(&self, arn: &str) -> String {
        self.describe_task_definition(arn).1.get("rollgate:state").and_then(Value::as_str).unwrap_or("").to_owned()
    }

    /// A revision as AWS describes it, with its tags as a key -> value map.
    pub fn describe_task_definition(&self, arn: &str) -> (Value, serde_json::Map<String, Value>) {
        let out = self.boto("ecs", "describe_task_definition", json!({"taskDefinition": arn, "include": ["TAGS"]}));
        let tags = out["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (t["key"].as_str().unwrap_or("").to_owned(), t["value"].clone()))
            .collect();
        (out["taskDefinition"].clone(), tags)
    }

    /// Every revision ARN of a family (without the scenario prefix), oldest first.
    pub fn revisions(&self, family: &str) -> Vec<String> {
        let out = self.boto(
            "ecs",
            "list_task_definitions",
            json!({"familyPrefix": format!("{}-{family}", self.name), "sort": "ASC"}),
        );
        out["taskDefinitionArns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    /// An "ECR Image Action" push event as ECR sends it today: with the media types of the
    /// image [`Scenario::push_image`] pushes (a Docker schema-2 manifest and image config).
    pub fn push_event(&self, repository: &str, digest: &str, tag: &str, time: &str) -> String {
        let mut event: Value =
            serde_json::from_str(&self.push_event_without_media_types(repository, digest, tag, time)).expect("event");
        event["detail"]["manifest-media-type"] = json!("application/vnd.docker.distribution.manifest.v2+json");
        event["detail"]["artifact-media-type"] = json!("application/vnd.docker.container.image.v1+json");
        event.to_string()
    }

    /// A push event from before ECR sent media types (events/ecr-push.json's shape): deploy
    /// asks ECR what the digest is.
    pub fn push_event_without_media_types(&self, repository: &str, digest: &str, tag: &str, time: &str) -> String {
        let mut event = fixture_json("ecr-push.json");
        event["id"] = json!(format!("{}-evt-{}", self.name, next_id()));
        event["time"] = json!(time);
        event["detail"]["repository-name"] = json!(repository);
        event["detail"]["image-digest"] = json!(digest);
        event["detail"]["image-tag"] = json!(tag);
        event.to_string()
    }
}

impl Scenario {
    /// An "ECS Deployment State Change" event from events/ (`SERVICE_DEPLOYMENT_IN_PROGRESS`,
    /// `_COMPLETED` or `_FAILED`) for the deployment `deployment_id` of `service_arn`.
    pub fn deployment_event(
        &self,
        id: &str,
        name: &str,
        service_arn: &str,
        deployment_id: &Value,
        time: &str,
    ) -> Value {
        let fixture = match name {
            "SERVICE_DEPLOYMENT_IN_PROGRESS" => "ecs-deployment-in-progress.json",
            "SERVICE_DEPLOYMENT_COMPLETED" => "ecs-deployment-completed.json",
            _ => "ecs-deployment-failed.json",
        };
        let mut e = fixture_json(fixture);
        e["id"] = json!(id);
        e["time"] = json!(time);
        e["resources"] = json!([service_arn]);
        e["detail"]["deploymentId"] = deployment_id.clone();
        e
    }

    /// A STOPPED "ECS Task State Change" event from the events/ `fixture`, for task number
    /// `task` of `service` in `cluster`, running `revision`.
    pub fn task_stopped_event(
        &self,
        fixture: &str,
        cluster: &str,
        service: &str,
        revision: &str,
        task: u64,
        time: &str,
    ) -> Value {
        let mut e = fixture_json(fixture);
        e["id"] = json!(format!("{}-task-{task}", self.name));
        e["time"] = json!(time);
        e["detail"]["clusterArn"] = json!(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"));
        e["detail"]["taskArn"] = json!(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{task:032x}"));
        e["detail"]["group"] = json!(format!("service:{service}"));
        e["detail"]["taskDefinitionArn"] = json!(revision);
        e
    }
}

/// An events/ fixture as JSON.
pub fn fixture_json(name: &str) -> Value {
    let path = root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}
