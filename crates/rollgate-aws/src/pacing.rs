//! A client-side cap on the rate of rollgate's AWS requests, for every client built from one
//! `SdkConfig`: the HTTPS client every SDK client sends through waits for a token of a
//! [`governor`] rate limiter (GCRA, a token bucket) before each request, retries included.
//!
//! Requests take their turn first come, first served (a [`tokio::sync::Mutex`], which grants
//! the lock in FIFO order), and only the request at the head of the queue waits on the limiter:
//! `governor`'s own `until_ready` lets waiters race for each token, so under load one request
//! could lose again and again. With at most `rate` requests in flight, none waits more than a
//! second. The functions' attempt timeout is the HTTPS client's connect and read timeouts
//! ([`crate::sdk_config::FUNCTION_CALL_TIMEOUTS`]), which start once the request leaves the
//! queue: waiting for a token is not AWS being slow, and never makes an attempt time out.
//!
//! ECS throttles every API request per account and region with token buckets, and the
//! account's autoscaling, console and CI draw on the same buckets
//! (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>). So a
//! function never sends more than its `ROLLGATE_MAX_CALL_RATE` requests a second, whatever it
//! is doing; with the template's concurrency limits that bounds rollgate's share of the account's
//! rate (docs/fleet-scale.md, "Throttling"). A throttled answer is retried with the SDK's
//! standard backoff.

use std::num::NonZeroU32;
use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The SDK's default HTTPS client (hyper 1.x with rustls and aws-lc, the proxy settings of the
/// environment), as `aws-smithy-runtime` builds it for the current behavior version, with every
/// request waiting for the limiter first.
pub fn paced_https_client(requests_per_second: NonZeroU32) -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    let inner = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    });
    SharedHttpClient::new(Paced { inner, queue: Arc::new(Queue::new(limiter(requests_per_second))) })
}

/// The limiter: `rate` requests a second, in bursts of at most `rate`.
pub fn limiter(rate: NonZeroU32) -> DefaultDirectRateLimiter {
    RateLimiter::direct(Quota::per_second(rate))
}

/// The requests waiting for a token, served in arrival order.
#[derive(Debug)]
struct Queue {
    turn: tokio::sync::Mutex<()>,
    limiter: DefaultDirectRateLimiter,
}

impl Queue {
    fn new(limiter: DefaultDirectRateLimiter) -> Self {
        Self { turn: tokio::sync::Mutex::new(()), limiter }
    }

    /// Waits for this request's turn, then for a token.
    async fn admit(&self) {
        let _turn = self.turn.lock().await;
        self.limiter.until_ready().await;
    }
}

#[derive(Debug)]
struct Paced {
    inner: SharedHttpClient,
    queue: Arc<Queue>,
}

impl HttpClient for Paced {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(PacedConnector { inner, queue: self.queue.clone() })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    queue: Arc<Queue>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, queue) = (self.inner.clone(), self.queue.clone());
        HttpConnectorFuture::new(async move {
            queue.admit().await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn the_limiter_lets_a_burst_of_rate_through_then_one_request_per_interval() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(Quota::per_second(NonZeroU32::new(4).unwrap()), clock.clone());
        let allowed = (0..10).filter(|_| limiter.check().is_ok()).count();
        assert_eq!(allowed, 4, "a burst of 4");
        clock.advance(std::time::Duration::from_millis(250));
        assert!(limiter.check().is_ok(), "one more a quarter second later");
        assert!(limiter.check().is_err());
        clock.advance(std::time::Duration::from_secs(1));
        assert_eq!((0..10).filter(|_| limiter.check().is_ok()).count(), 4, "refilled to the burst, no more");
    }
}
