//! Shared by the scenario tests that run the reconciler against moto with a wiremock
//! stub in front of it for the APIs moto does not implement: forwarding everything else
//! to moto unchanged, clients for both, converging and checking plans.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};

use monitor_reconcile::apply::{apply, ApplyOptions, NoReporter};
use monitor_reconcile::observe::Observed;
use monitor_reconcile::{plan_apply, Action, Clients, Plan};
use monitor_stack::Stack;
use wiremock::{Request, ResponseTemplate};

/// The region of every scenario.
pub const REGION: &str = "eu-west-1";

/// Clients for everything at moto's `endpoint` (each test then points the service it
/// stubs at its stub with [`sdk_for`]).
pub async fn clients(endpoint: &str) -> Clients {
    Clients::new(&sdk_for(endpoint).await).unwrap()
}

/// An `SdkConfig` for `endpoint` in [`REGION`].
pub async fn sdk_for(endpoint: &str) -> aws_config::SdkConfig {
    monitor_testkit::sdk_config(endpoint, REGION).await
}

/// Runs `scenario` as the binaries run (a current-thread runtime on an 8 MiB thread): in
/// a debug build the SDK's deserializers, under a scenario's call depth, need more than
/// a test thread's 2 MiB.
pub fn on_big_stack<F: std::future::Future<Output = ()>>(
    scenario: impl FnOnce() -> F + Send + 'static,
) {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(scenario());
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Each change's address and action.
pub fn actions(plan: &Plan) -> BTreeMap<String, Action> {
    plan.changes
        .iter()
        .map(|c| (c.resource.address(), c.action))
        .collect()
}

/// Plans and applies `s`; the apply must complete.
pub async fn converge(c: &Clients, s: &Stack) -> Plan {
    let (observed, plan) = plan_apply(c, s).await.unwrap();
    apply_ok(c, s, &observed, &plan).await;
    plan
}

/// Applies `plan` (made from `observed`) with the emulators' options; it must complete.
pub async fn apply_ok(c: &Clients, s: &Stack, observed: &Observed, plan: &Plan) {
    let out = apply(
        c,
        s,
        observed,
        plan,
        &ApplyOptions::for_emulators(),
        &NoReporter,
    )
    .await
    .unwrap();
    assert!(out.complete, "{}", plan.render_text());
}

/// A plan of `s` has no changes.
pub async fn assert_no_changes(c: &Clients, s: &Stack) {
    let (_, plan) = plan_apply(c, s).await.unwrap();
    assert!(
        !plan.has_changes(),
        "expected no changes:\n{}",
        plan.render_text()
    );
}

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
