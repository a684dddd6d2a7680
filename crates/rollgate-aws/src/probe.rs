//! HTTP probes: the health gate's smoke test (a golden inference against the model endpoint).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rollgate_core::gate::SmokeTest;

/// Running a smoke test: `Ok((status, body))`, or why the request itself failed.
pub trait SmokeRunner {
    /// Sends the request: POST with the test's body (`content-type: application/json`), else GET.
    /// `Ok`: the HTTP status and the body's first 64 KiB as UTF-8 (lossy; the rest is not
    /// read). `Err`: the request, the connection, or the timeout.
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
            // The first MAX_BODY bytes: a model's answer can be large, and the match is on
            // its start (a longer body once failed the smoke test as an error).
            let mut body = response.into_body();
            let mut read = Vec::new();
            while read.len() < MAX_BODY {
                match body.frame().await {
                    Some(Ok(frame)) => read.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
                    Some(Err(e)) => return Err(format!("reading the body: {e}")),
                    None => break,
                }
            }
            read.truncate(MAX_BODY);
            Ok((status, String::from_utf8_lossy(&read).into_owned()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {}s", self.timeout.as_secs()))?
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server that answers one request with `body`.
    fn serve_once(body: Vec<u8>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/predict", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        url
    }

    #[tokio::test]
    async fn a_long_answer_is_cut_not_an_error() {
        let mut body = b"{\"label\": \"POSITIVE\", \"scores\": [".to_vec();
        body.extend(std::iter::repeat_n(b'0', 3 * MAX_BODY));
        let test = SmokeTest { url: serve_once(body), body: None, expect_status: 200, expect_body: None };
        let probe = HttpProbe::new(Duration::from_secs(5)).unwrap();
        let (status, text) = probe.run(&test).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(text.len(), MAX_BODY);
        assert!(text.starts_with("{\"label\": \"POSITIVE\""), "{}", &text[..40]);
    }
}
