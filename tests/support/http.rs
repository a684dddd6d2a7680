//! A tiny HTTP/1.1 client for the emulator's control endpoints (loopback only).

use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends one request and returns the body. Panics with the status on a non-2xx answer.
pub fn request(base_url: &str, method: &str, path: &str, body: Option<&str>) -> String {
    match try_request(base_url, method, path, body) {
        Ok(body) => body,
        Err((head, body)) => panic!("{method} {path} -> {head}\n{body}"),
    }
}

/// Sends one request: `Ok(body)` on a 2xx answer, else `Err((status line and headers, body))`.
pub fn try_request(base_url: &str, method: &str, path: &str, body: Option<&str>) -> Result<String, (String, String)> {
    let host = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    if (200..300).contains(&status) { Ok(body) } else { Err((head.to_owned(), body)) }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
