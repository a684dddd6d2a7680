//! HTTP probes: the health gate's smoke test (a golden inference against the model endpoint).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rollgate_core::gate::SmokeTest;

/// Running a smoke test: `Ok((status, body))`, or why the request itself failed.
pub trait SmokeRunner {
    /// Sends the request: POST with the test's body (`content-type: application/json`), else GET.
    /// `Ok`: the HTTP status and the body as UTF-8 (lossy). `Err`: the request, the connection,
    /// the timeout, or a body over 64 KiB (an error, not cut).
    fn run(&self, test: &SmokeTest) -> impl Future<Output = Result<(u16, String), String>> + Send;
}

/// Bodies past this size are cut: a smoke test checks a short answer.
const MAX_BODY: usize = 64 * 1024;

/// The smoke-test client: HTTP/1.1 over HTTP or HTTPS, one timeout for the whole exchange.
#[derive(Clone)]
pub struct HttpProbe {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProbe").field("timeout", &self.timeout).finish()
    }
}

impl HttpProbe {
    /// HTTP and HTTPS (the system's root certificates), with a per-request timeout.
    pub fn new(timeout: Duration) -> Result<Self, crate::AwsError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| crate::AwsError::Config(format!("cannot load root certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self { client: Client::builder(TokioExecutor::new()).build(https), timeout })
    }
}

impl SmokeRunner for HttpProbe {
    async fn run(&self, test: &SmokeTest) -> Result<(u16, String), String> {
        let method = if test.body.is_some() { "POST" } else { "GET" };
        let request = hyper::Request::builder()
            .method(method)
            .uri(&test.url)
            .header("content-type", "application/json")
            .header("user-agent", "rollgate-health-gate")
            .body(Full::new(Bytes::from(test.body.clone().unwrap_or_default())))
            .map_err(|e| format!("invalid request: {e}"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| crate::error::error_chain(&e))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {}s", self.timeout.as_secs()))?
    }
}
