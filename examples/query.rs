//! Run one PromQL query against AMP or a local Prometheus and print the samples.
//!
//! ```text
//! # a local Prometheus, unsigned
//! cargo run -p monitor-examples --example query -- http://127.0.0.1:9090 'up'
//! # AMP: SigV4 (service aps) with the default credentials chain
//! cargo run -p monitor-examples --example query -- \
//!     https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-xxxx/ \
//!     'rate(node_cpu_seconds_total{mode="idle"}[5m])' --region eu-west-1
//! ```

use monitor_amp::auth::{Auth, SigV4};
use monitor_amp::query::{format_value, QueryClient, QueryResult};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (endpoint, query, region) = match args.as_slice() {
        [e, q] => (e, q, None),
        [e, q, flag, r] if flag == "--region" => (e, q, Some(r.clone())),
        _ => {
            eprintln!("usage: query ENDPOINT_ROOT 'PROMQL' [--region REGION]");
            return ExitCode::from(2);
        }
    };
    let auth = match region {
        Some(r) => Auth::SigV4(SigV4::from_default_chain(r).await),
        None => Auth::None,
    };
    let client = match QueryClient::new(endpoint, auth) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match client.instant(query, None).await {
        Ok(QueryResult::String(s)) => println!("{}", s.value),
        Ok(result) => {
            for s in result.into_vector() {
                let labels: Vec<String> =
                    s.metric.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                println!("{{{}}} {}", labels.join(", "), format_value(s.value.value));
            }
        }
        Err(e) => {
            // Typed errors: e.g. QueryError::Forbidden carries the missing IAM action.
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
