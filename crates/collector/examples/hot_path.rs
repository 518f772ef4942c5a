//! The agent's hot path on a fixed node_exporter page, for cost figures that do not
//! drift with machine load: run under `valgrind --tool=callgrind` it gives instructions
//! and heap allocations per 1,000 samples. `bench/callgrind.sh` runs it and prints both;
//! results in `docs/BENCHMARKS.md`.
//!
//! `hot_path PAGES` processes PAGES scrapes of `tests/corpus/node_exporter.prom` exactly as
//! the agent does with a durable queue: parse → label + staleness → disk-queue append (no
//! fsync: the syscall is not the code's cost) → read the records back as stored → one request
//! without decoding (merged by series when a batch holds several) → snappy → commit. Single-threaded and without I/O waits, so the count of
//! instructions is the same on every run of the same binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use monitor_collector::disk_queue::DiskQueue;
use monitor_collector::exposition;
use monitor_collector::target::TargetState;

const PAGE: &str = include_str!("../tests/corpus/node_exporter.prom");

fn main() {
    let pages: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let external: BTreeMap<String, String> = [
        ("env", "prod"),
        ("role", "web"),
        ("team", "platform"),
        ("instance_id", "i-0123456789abcdef0"),
        ("host", "web-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let (queue, _) = DiskQueue::open(dir.path(), 1 << 30, 8 << 20, false).unwrap();
    let mut state = TargetState::new("node", "127.0.0.1:9100", &external);
    let (mut samples, mut bytes_sent) = (0u64, 0u64);
    for page in 0..pages {
        let ts = 1_700_000_000_000 + page as i64 * 15_000;
        // As the agent does: one pass, lines of series seen in the last scrape found by
        // their text and not parsed into labels.
        let mut scrape = state.begin(ts);
        let parsed = exposition::parse_each(PAGE, &exposition::Limits::default(), &mut scrape)
            .map_err(|e| e.to_string());
        let scrape = scrape.finish(parsed, Duration::from_millis(12));
        assert!(queue
            .push_scrape(&scrape.encoded, &scrape.series_ends, 2_000)
            .failed
            .is_none());
        loop {
            let batch = queue.peek_encoded(2_000);
            if batch.samples == 0 {
                break;
            }
            let (n, next) = (batch.samples as u64, batch.next);
            let body = batch.into_request().unwrap().compress();
            bytes_sent += body.len() as u64;
            samples += n;
            queue.commit(next, n).unwrap();
        }
    }
    println!("pages {pages} samples {samples} bytes_sent {bytes_sent}");
}
