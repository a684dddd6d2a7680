//! Building `SdkConfig`, once, for every client rollgate makes.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// How to reach AWS. Every field left `None` falls back to the standard AWS chain:
/// `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`), `AWS_PROFILE`, `AWS_REGION`
/// and the profile's region, environment or role credentials, `AWS_MAX_ATTEMPTS`.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// Overrides the endpoint of every service (an emulator, a VPC endpoint...).
    pub endpoint_url: Option<String>,
    /// The region, e.g. `us-east-1`; else `AWS_REGION` or the profile's.
    pub region: Option<String>,
    /// A profile of the AWS config files; its credentials then win over `AWS_ACCESS_KEY_ID`, as
    /// with `aws --profile`. Else `AWS_PROFILE` (or `AWS_DEFAULT_PROFILE`).
    pub profile: Option<String>,
    /// Total attempts per call, including the first (standard retry mode, with backoff).
    pub max_attempts: Option<u32>,
    /// Static credentials `(access key id, secret)`, for tests and emulators.
    pub static_credentials: Option<(String, String)>,
    /// Time limit of one call, retries and waits for the rate limiter included; and of one
    /// attempt, from when its request leaves the rate limiter's queue to AWS's answer (the HTTPS
    /// client's connect and read timeouts, [`crate::pacing`]).
    pub call_timeouts: Option<(std::time::Duration, std::time::Duration)>,
    /// The first retry's backoff (the SDK's default is 1 s, doubling, with jitter).
    pub initial_backoff: Option<std::time::Duration>,
    /// At most this many requests a second from every client built from the configuration,
    /// retries included ([`crate::pacing`]); `None`: no cap.
    pub max_call_rate: Option<std::num::NonZeroU32>,
}

/// `ROLLGATE_MAX_CALL_RATE` when unset: 20 requests a second per function instance.
pub const DEFAULT_MAX_CALL_RATE: std::num::NonZeroU32 = std::num::NonZeroU32::new(20).unwrap();

/// The largest `ROLLGATE_MAX_CALL_RATE` accepted.
pub const MAX_MAX_CALL_RATE: u32 = 1000;

/// `ROLLGATE_MAX_IN_FLIGHT` when unset (`rollgate_core::config::DeployConfig::DEFAULT_MAX_IN_FLIGHT`).
const DEFAULT_IN_FLIGHT: u32 = 8;

/// The functions' call limits `(call, attempt)`: an ECS or ECR call answers in well under a
/// second, so an attempt that AWS leaves unanswered for 2 s (connecting, or waiting for the
/// answer; the wait for a rate-limiter token does not count) is retried, and a call gives up
/// after 4 s in all, its waits for tokens included (at most a second each, [`crate::pacing`]).
/// This bounds how long a rollout already started can take (3 calls), which the functions'
/// time budget keeps in reserve (rollgate_lambda::Budget).
pub const FUNCTION_CALL_TIMEOUTS: (std::time::Duration, std::time::Duration) =
    (std::time::Duration::from_secs(4), std::time::Duration::from_secs(2));

impl AwsOptions {
    /// The functions' options from the environment: [`FUNCTION_CALL_TIMEOUTS`], standard
    /// retries, and a cap on the request rate. `ROLLGATE_MAX_ATTEMPTS` and
    /// `ROLLGATE_MAX_CALL_RATE` (default [`DEFAULT_MAX_CALL_RATE`], at least
    /// `ROLLGATE_MAX_IN_FLIGHT`) are rollgate's own; everything else is read by the standard
    /// AWS chain when `load` runs. The SDK's adaptive retry mode is not used: one throttled
    /// answer made it wait 8 to 25 s before the next call, more than a push can spend.
    /// Errors: [`crate::AwsError::Config`] naming a bad variable.
    pub fn from_env() -> Result<Self, crate::AwsError> {
        let max_attempts = match std::env::var("ROLLGATE_MAX_ATTEMPTS") {
            Ok(v) => Some(v.trim().parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                crate::AwsError::Config(format!(
                    "ROLLGATE_MAX_ATTEMPTS={v:?} is not a whole number >= 1; unset it or set e.g. 3"
                ))
            })?),
            Err(_) => None,
        };
        let max_call_rate = match std::env::var("ROLLGATE_MAX_CALL_RATE") {
            Ok(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_MAX_CALL_RATE).contains(n))
                .and_then(std::num::NonZeroU32::new)
                .ok_or_else(|| {
                    crate::AwsError::Config(format!(
                        "ROLLGATE_MAX_CALL_RATE={v:?} is not a whole number from 1 to {MAX_MAX_CALL_RATE} (AWS requests a second); unset it for {DEFAULT_MAX_CALL_RATE}"
                    ))
                })?,
            Err(_) => DEFAULT_MAX_CALL_RATE,
        };
        // Requests wait for their tokens in arrival order, inside the call's 4 s timeout: with
        // at least one token a second per request in flight (ROLLGATE_MAX_IN_FLIGHT, default
        // 8), no request waits a second.
        let in_flight = std::env::var("ROLLGATE_MAX_IN_FLIGHT")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(DEFAULT_IN_FLIGHT);
        if max_call_rate.get() < in_flight {
            return Err(crate::AwsError::Config(format!(
                "ROLLGATE_MAX_CALL_RATE={max_call_rate} is below ROLLGATE_MAX_IN_FLIGHT={in_flight}: each request in flight needs a token a second (a call times out after 4 s, its waits for tokens included); raise the rate or lower the services handled at once"
            )));
        }
        Ok(Self {
            max_attempts,
            max_call_rate: Some(max_call_rate),
            call_timeouts: Some(FUNCTION_CALL_TIMEOUTS),
            ..Self::default()
        })
    }

    /// Resolves the configuration. Cheap to share: build it once per process.
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        } else if std::env::var("AWS_PROFILE").is_err()
            && let Ok(legacy) = std::env::var("AWS_DEFAULT_PROFILE").map(|p| p.trim().to_owned())
            && !legacy.is_empty()
        {
            // The AWS CLI still honours AWS_DEFAULT_PROFILE when AWS_PROFILE is unset; the
            // Rust SDK does not. Like AWS_PROFILE, the environment's keys still win over it.
            loader = loader.profile_name(legacy);
        }
        if self.max_attempts.is_some() || self.initial_backoff.is_some() {
            let mut retry = RetryConfig::standard();
            if let Some(n) = self.max_attempts {
                retry = retry.with_max_attempts(n);
            }
            if let Some(backoff) = self.initial_backoff {
                retry = retry.with_initial_backoff(backoff);
            }
            loader = loader.retry_config(retry);
        }
        if let Some(rate) = self.max_call_rate {
            loader = loader.http_client(crate::pacing::paced_https_client(rate));
        }
        if let Some((operation, attempt)) = self.call_timeouts {
            loader = loader.timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(operation)
                    .connect_timeout(attempt)
                    .read_timeout(attempt)
                    .build(),
            );
        }
        if let Some((key, secret)) = &self.static_credentials {
            loader = loader.credentials_provider(Credentials::new(key, secret, None, None, "rollgate-static"));
        } else if let Some(profile) = &self.profile {
            // An explicit profile beats AWS_ACCESS_KEY_ID and friends, as `aws --profile` does:
            // the SDK's default chain would try the environment's keys first. A profile that
            // assumes a role calls STS, which needs the region (the flag's, else the chain's
            // for this profile).
            let region = match &self.region {
                Some(r) => Some(Region::new(r.clone())),
                None => {
                    aws_config::default_provider::region::DefaultRegionChain::builder()
                        .profile_name(profile)
                        .build()
                        .region()
                        .await
                }
            };
            let provider_config = aws_config::provider_config::ProviderConfig::without_region().with_region(region);
            let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(&provider_config)
                .profile_name(profile)
                .build();
            loader = loader.credentials_provider(provider);
        }
        loader.load().await
    }
}

/// Whether the AWS config files (as the SDK finds them: `AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/`) define `profile`.
pub async fn profile_defined(profile: &str) -> bool {
    let fs = aws_types::os_shim_internal::Fs::real();
    let env = aws_types::os_shim_internal::Env::real();
    match aws_config::profile::load(&fs, &env, &Default::default(), None).await {
        Ok(set) => set.get_profile(profile).is_some(),
        Err(_) => false,
    }
}

/// Resolves the credentials of `sdk` once, so a missing or broken source is reported before
/// any call, by name: an explicit `profile` that is not defined says so, not "IMDS failed".
///
/// Errors: [`crate::AwsError::Config`] naming the profile (or the standard chain) and what to do.
pub async fn check_credentials(sdk: &SdkConfig, profile: Option<&str>) -> Result<(), crate::AwsError> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    if profile.is_none() {
        // As the AWS CLI: half a key pair is an error, not a silent fall-through to a profile.
        match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
            (true, false) => {
                return Err(crate::AwsError::Config(
                    "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or unset both to use a profile"
                        .into(),
                ));
            }
            (false, true) => {
                return Err(crate::AwsError::Config(
                    "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or unset both to use a profile"
                        .into(),
                ));
            }
            _ => {}
        }
        // As the AWS CLI: a profile named in AWS_PROFILE must exist, even when the
        // environment's keys are the ones used.
        for var in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"] {
            if let Ok(named) = std::env::var(var).map(|p| p.trim().to_owned())
                && !named.is_empty()
                && !profile_defined(&named).await
            {
                return Err(crate::AwsError::Config(format!(
                    "{var} names profile `{named}`, which is not defined in the AWS config files (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE); fix or unset {var}"
                )));
            }
        }
    }
    let Some(provider) = sdk.credentials_provider() else {
        return Err(crate::AwsError::Config("no AWS credentials provider is configured".into()));
    };
    let Err(e) = provider.provide_credentials().await else { return Ok(()) };
    let detail = crate::error::error_chain(&e);
    Err(crate::AwsError::Config(match profile {
        Some(p) if detail.contains("was not defined") || detail.contains("No profiles were defined") => format!(
            "AWS profile `{p}` not found in the AWS config files (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE); check the name, or create it with `aws configure --profile {p}`"
        ),
        Some(p) => format!("AWS profile `{p}` gave no credentials: {detail}"),
        None => format!(
            "no AWS credentials found: set AWS_PROFILE or pass --profile, run `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({detail})"
        ),
    }))
}
