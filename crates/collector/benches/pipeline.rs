//! Micro-benchmarks of the agent's hot path on a real node_exporter page (~500 series):
//! parse, label (+ staleness diff), merge into a request, protobuf + snappy encode (from
//! series, and from encoded records as the agent now does), and the disk-queue
//! append/replay (decoded, and as stored). `cargo bench -p monitor-collector`; numbers in
//! docs/BENCHMARKS.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use monitor_collector::agent::merge;
use monitor_collector::disk_queue::DiskQueue;
use monitor_collector::exposition;
use monitor_collector::target::TargetState;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

const PAGE: &str = include_str!("../tests/corpus/node_exporter.prom");

fn labels() -> BTreeMap<String, String> {
    [
        ("env", "prod"),
        ("role", "web"),
        ("team", "platform"),
        ("instance_id", "i-0123456789abcdef0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn bench(c: &mut Criterion) {
    let n = exposition::parse(PAGE).unwrap().samples.len() as u64;
    let mut g = c.benchmark_group("node_exporter_page");
    g.throughput(Throughput::Elements(n));
    g.bench_function("parse", |b| {
        b.iter(|| exposition::parse(black_box(PAGE)).unwrap())
    });
    g.bench_function("prometheus_parse_crate", |b| {
        b.iter(|| {
            prometheus_parse::Scrape::parse(black_box(PAGE).lines().map(|l| Ok(l.to_string())))
                .unwrap()
        })
    });
    let ext = labels();
    g.bench_function("parse_label_stale_diff", |b| {
        let mut st = TargetState::new("node", "127.0.0.1:9100", &ext);
        let mut ts = 0;
        b.iter(|| {
            ts += 15_000;
            st.process(
                exposition::parse(PAGE).map_err(|e| e.to_string()),
                ts,
                Duration::ZERO,
            )
        })
    });
    // Lines of series seen in the last scrape skip label parsing.
    g.bench_function("parse_known_label_stale_diff", |b| {
        let mut st = TargetState::new("node", "127.0.0.1:9100", &ext);
        let mut ts = 0;
        b.iter(|| {
            ts += 15_000;
            let parsed =
                exposition::parse_known(PAGE, &exposition::Limits::default(), |s| st.knows(s))
                    .map_err(|e| e.to_string());
            st.process(parsed, ts, Duration::ZERO)
        })
    });
    // The agent's path: one pass, each line labelled and encoded as it is read, a known
    // series found with one lookup.
    g.bench_function("parse_each_label_stale_diff", |b| {
        let mut st = TargetState::new("node", "127.0.0.1:9100", &ext);
        let mut ts = 0;
        b.iter(|| {
            ts += 15_000;
            let mut scrape = st.begin(ts);
            let parsed = exposition::parse_each(PAGE, &exposition::Limits::default(), &mut scrape)
                .map_err(|e| e.to_string());
            scrape.finish(parsed, Duration::ZERO)
        })
    });
    let mut st = TargetState::new("node", "127.0.0.1:9100", &ext);
    let series = st
        .process(
            exposition::parse(PAGE).map_err(|e| e.to_string()),
            1,
            Duration::ZERO,
        )
        .series();
    g.bench_function("merge_encode_snappy", |b| {
        b.iter(|| merge(black_box(series.clone())).encode_compressed())
    });
    let encoded = prost::Message::encode_to_vec(&monitor_amp::proto::WriteRequest {
        timeseries: series.clone(),
    });
    g.bench_function("encoded_merge_snappy", |b| {
        b.iter(|| {
            monitor_amp::encoded::merge(black_box(&encoded))
                .unwrap()
                .compress()
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), 1 << 30, 8 << 20, false).unwrap();
    g.bench_function("disk_queue_push_peek_commit", |b| {
        b.iter(|| {
            assert!(q.push(series.clone(), 2000).failed.is_none());
            let p = q.peek(10_000);
            q.commit(p.next, p.series.len() as u64).unwrap();
        })
    });
    g.bench_function("disk_queue_push_peek_encoded_commit", |b| {
        b.iter(|| {
            assert!(q.push(series.clone(), 2000).failed.is_none());
            let p = q.peek_encoded(10_000);
            q.commit(p.next, p.samples as u64).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
