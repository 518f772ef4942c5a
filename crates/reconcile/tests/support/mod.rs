//! Shared by the tests that put a wiremock stub in front of moto for the APIs moto does
//! not implement: forwarding everything else to moto unchanged.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};

use wiremock::{Request, ResponseTemplate};

/// Forwards one HTTP request to moto (HTTP/1.1, `Connection: close`) and returns its
/// status, content type and body.
pub fn forward(moto: &str, req: &Request) -> ResponseTemplate {
    let addr = moto.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
        req.method,
        req.url.path()
    );
    for (k, v) in &req.headers {
        let k = k.as_str();
        if matches!(
            k,
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            continue;
        }
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", req.body.len()));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&req.body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw[split + 4..].to_vec();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "application/x-amz-json-1.1".into());
    ResponseTemplate::new(status).set_body_raw(body, &content_type)
}
