//! Runs the seed's default Logs Insights query over the last 15 minutes and prints the rows.
//!
//! ```text
//! cargo run -p monitor-logs --example logs_query -- \
//!     --group /monitoring-test/system --region eu-west-1 [--endpoint-url http://127.0.0.1:5000]
//! ```
//!
//! Credentials come from the usual SDK chain (environment, profile, instance role).
//! `--endpoint-url` points the client at moto or another emulator.

use std::process::ExitCode;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use monitor_logs::insights::{run_query, PollOptions, QueryRequest, TimeRange};
use monitor_logs::query::DEFAULT_QUERY;
use monitor_logs::report::render_table;

struct Args {
    group: String,
    region: Option<String>,
    endpoint_url: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut group = None;
    let mut region = None;
    let mut endpoint_url = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--group" => group = Some(value()?),
            "--region" => region = Some(value()?),
            "--endpoint-url" => endpoint_url = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        group: group.ok_or("--group is required")?,
        region,
        endpoint_url,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\nusage: logs_query --group NAME [--region R] [--endpoint-url URL]");
            return ExitCode::from(2);
        }
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = args.region {
        loader = loader.region(Region::new(r));
    }
    if let Some(url) = args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let client = monitor_logs::client(&loader.load().await);

    let req = QueryRequest::new(
        [args.group],
        DEFAULT_QUERY,
        TimeRange::last(Duration::from_secs(15 * 60)),
    );
    match run_query(&client, &req, &PollOptions::default()).await {
        Ok(results) => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = render_table(&results, &mut out) {
                eprintln!("writing output: {e}");
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
