//! The floor of a single-service rollout: the calls rollgate's `deploy` makes (GetResources,
//! the tagging index's services whose `rollgate:repository` is the repository; DescribeServices
//! include=TAGS; BatchGetImage and GetDownloadUrlForLayer with a GET of the config blob to learn
//! what the release runs on; DescribeTaskDefinition include=TAGS; RegisterTaskDefinition with
//! tags; UpdateService), made back to back, N times, by bare aws-sdk clients in one process. No
//! event parsing, no decisions, no logging, no Lambda runtime: whatever rollgate's warm deploy
//! costs above this is rollgate's own overhead.
//!
//!     rollgate-bench-floor --endpoint URL --cluster C --service S --n N
//!                          --repository REPO --read-digest DIGEST
//!                          [--container NAME] [--image-base REGISTRY/REPO]
//!
//! `--read-digest` names a single image in `--repository` whose manifest and config blob each
//! iteration reads (the pinned digest itself is made up). Credentials and region come from the
//! standard AWS chain (AWS_ACCESS_KEY_ID, AWS_REGION...), exactly as for the functions. Prints
//! one JSON document: `{"client_init_ms": f, "latencies_ms": [f, ...], "calls_per_iteration": 7}`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ServiceField, Tag, TaskDefinitionField};
use aws_sdk_resourcegroupstagging::types::TagFilter;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    endpoint: String,
    cluster: String,
    service: String,
    n: usize,
    container: Option<String>,
    image_base: Option<String>,
    repository: String,
    read_digest: String,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = std::env::args().skip(1);
    let (mut endpoint, mut cluster, mut service, mut n, mut container, mut image_base) =
        (None, None, None, None, None, None);
    let (mut repository, mut read_digest) = (None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value),
            "--cluster" => cluster = Some(value),
            "--service" => service = Some(value),
            "--n" => n = Some(value.parse::<usize>().map_err(|e| format!("--n: {e}"))?),
            "--container" => container = Some(value),
            "--image-base" => image_base = Some(value),
            "--repository" => repository = Some(value),
            "--read-digest" => read_digest = Some(value),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(Args {
        endpoint: endpoint.ok_or("--endpoint is required")?,
        cluster: cluster.ok_or("--cluster is required")?,
        service: service.ok_or("--service is required")?,
        n: n.unwrap_or(20),
        container,
        image_base,
        repository: repository.ok_or("--repository is required")?,
        read_digest: read_digest.ok_or("--read-digest is required")?,
    })
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn tag(key: &str, value: impl Into<String>) -> Tag {
    Tag::builder().key(key).value(value).build()
}

type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<bytes::Bytes>,
>;

/// What the release runs on: its manifest, then its config blob through the URL ECR gives.
async fn read_release(ecr: &aws_sdk_ecr::Client, http: &Https, args: &Args) -> Result<(), Error> {
    use http_body_util::BodyExt;
    let got = ecr
        .batch_get_image()
        .repository_name(&args.repository)
        .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&args.read_digest).build())
        .set_accepted_media_types(Some(vec![
            "application/vnd.oci.image.index.v1+json".to_owned(),
            "application/vnd.docker.distribution.manifest.list.v2+json".to_owned(),
            "application/vnd.oci.image.manifest.v1+json".to_owned(),
            "application/vnd.docker.distribution.manifest.v2+json".to_owned(),
        ]))
        .send()
        .await?;
    let manifest = got.images.unwrap_or_default().into_iter().next().and_then(|i| i.image_manifest).ok_or("no image")?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest)?;
    let config = manifest["config"]["digest"].as_str().ok_or("no config")?;
    let url = ecr
        .get_download_url_for_layer()
        .repository_name(&args.repository)
        .layer_digest(config)
        .send()
        .await?
        .download_url
        .ok_or("no download URL")?;
    let response = http.get(url.parse()?).await?;
    let blob = response.into_body().collect().await?.to_bytes();
    let config: serde_json::Value = serde_json::from_slice(&blob)?;
    config["architecture"].as_str().ok_or("no architecture")?;
    Ok(())
}

/// Standard base64 with padding (RFC 4648), for the `base64:` form of a tag value.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            let c = if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' };
            out.push(c);
        }
    }
    out
}

/// One rollout: the same seven calls (and GET), the same copy of the live revision, a similar
/// tag set.
async fn rollout(
    client: &Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    ecr: &aws_sdk_ecr::Client,
    http: &Https,
    args: &Args,
    digest: &str,
    pushed_at: &str,
) -> Result<(), Error> {
    // 1. GetResources: the services whose rollgate:repository is the repository (its name, or
    // its base64: form, as rollgate asks); one page holds up to 100 of them.
    let filter = TagFilter::builder()
        .key("rollgate:repository")
        .values(&args.repository)
        .values(format!("base64:{}", base64(args.repository.as_bytes())))
        .build();
    let found = tagging
        .get_resources()
        .resource_type_filters("ecs:service")
        .tag_filters(filter)
        .resources_per_page(100)
        .send()
        .await?;
    let wanted = format!("service/{}/{}", args.cluster, args.service);
    let arns: Vec<String> = found
        .resource_tag_mapping_list
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.resource_arn)
        .filter(|arn| arn.ends_with(&wanted))
        .collect();
    if arns.is_empty() {
        return Err(format!("the tagging index lists no {wanted} tracking {}", args.repository).into());
    }
    // 2. DescribeServices with tags.
    let described = client
        .describe_services()
        .cluster(&args.cluster)
        .set_services(Some(arns))
        .include(ServiceField::Tags)
        .send()
        .await?;
    let service = described.services.unwrap_or_default().into_iter().next().ok_or("service not found")?;
    read_release(ecr, http, args).await?;
    let live = service.task_definition.clone().ok_or("service has no task definition")?;
    // 3. DescribeTaskDefinition with tags.
    let out =
        client.describe_task_definition().task_definition(&live).include(TaskDefinitionField::Tags).send().await?;
    let d = out.task_definition.ok_or("no task definition")?;
    let target = args
        .container
        .clone()
        .or_else(|| d.container_definitions().first().and_then(|c| c.name.clone()))
        .ok_or("no container")?;
    let base = args.image_base.clone().unwrap_or_else(|| {
        let image =
            d.container_definitions().iter().find(|c| c.name.as_deref() == Some(&target)).and_then(|c| c.image());
        let image = image.unwrap_or_default();
        image.split(['@', ':']).next().unwrap_or(image).to_owned()
    });
    let containers = d
        .container_definitions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|mut c| {
            if c.name.as_deref() == Some(target.as_str()) {
                c.image = Some(format!("{base}@{digest}"));
            }
            c
        })
        .collect();
    // The user's tags carried over, plus a ledger record of the same size as rollgate's.
    let mut tags: Vec<Tag> = out
        .tags
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !t.key().unwrap_or_default().starts_with("rollgate:"))
        .collect();
    tags.extend([
        tag("rollgate:digest", digest),
        tag("rollgate:image-tag", "bench"),
        tag("rollgate:pushed-at", pushed_at),
        tag("rollgate:previous", live.clone()),
        tag("rollgate:event-id", format!("floor-{digest}")),
        tag("rollgate:service", service.service_arn.clone().unwrap_or_default()),
        tag("rollgate:known-good", live.clone()),
        tag("rollgate:state", "deploying"),
    ]);
    // 4. RegisterTaskDefinition: every field copied, one image changed.
    let registered = client
        .register_task_definition()
        .set_family(d.family.clone())
        .set_task_role_arn(d.task_role_arn.clone())
        .set_execution_role_arn(d.execution_role_arn.clone())
        .set_network_mode(d.network_mode.clone())
        .set_container_definitions(Some(containers))
        .set_volumes(d.volumes.clone())
        .set_placement_constraints(d.placement_constraints.clone())
        .set_requires_compatibilities(d.requires_compatibilities.clone())
        .set_cpu(d.cpu.clone())
        .set_memory(d.memory.clone())
        .set_pid_mode(d.pid_mode.clone())
        .set_ipc_mode(d.ipc_mode.clone())
        .set_proxy_configuration(d.proxy_configuration.clone())
        .set_ephemeral_storage(d.ephemeral_storage.clone())
        .set_runtime_platform(d.runtime_platform.clone())
        .set_enable_fault_injection(d.enable_fault_injection)
        .set_tags(Some(tags))
        .send()
        .await?;
    let revision =
        registered.task_definition.and_then(|t| t.task_definition_arn).ok_or("no revision ARN in the answer")?;
    // 5. UpdateService.
    client
        .update_service()
        .cluster(&args.cluster)
        .service(service.service_arn.unwrap_or_default())
        .task_definition(revision)
        .send()
        .await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let started = Instant::now();
    let sdk = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(&args.endpoint).load().await;
    let client = Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&sdk);
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_native_roots()?.https_or_http().enable_http1().build();
    let http: Https = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
    let client_init_ms = ms(started);
    let seed = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let mut latencies = Vec::with_capacity(args.n);
    for i in 0..args.n {
        let digest = format!("sha256:{:064x}", seed + i as u128);
        let pushed_at = format!("2030-01-01T00:00:{:02}Z", i % 60);
        let t = Instant::now();
        rollout(&client, &tagging, &ecr, &http, &args, &digest, &pushed_at).await?;
        latencies.push(ms(t));
    }
    let list: Vec<String> = latencies.iter().map(|l| format!("{l}")).collect();
    println!(
        "{{\"client_init_ms\": {client_init_ms}, \"latencies_ms\": [{}], \"calls_per_iteration\": 7}}",
        list.join(", ")
    );
    Ok(())
}
