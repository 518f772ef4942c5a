//! Property tests for the on-disk queue's segment reader (the CI-sized stand-in for a
//! fuzzer — `cargo fuzz` needs a nightly toolchain, which these machines cannot fetch):
//! arbitrary bytes, truncations and bit flips never panic, and whatever is replayed is an
//! in-order subsequence of what was written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_amp::proto::{Label, Sample, TimeSeries};
use monitor_collector::disk_queue::DiskQueue;
use proptest::prelude::*;
use std::fs;

fn batch(ts: i64) -> Vec<TimeSeries> {
    vec![TimeSeries {
        labels: vec![Label::new("__name__", "m")],
        samples: vec![Sample {
            value: 1.0,
            timestamp: ts,
        }],
    }]
}

fn drain(q: &DiskQueue) -> Vec<i64> {
    let mut out = vec![];
    for _ in 0..10_000 {
        let p = q.peek(100);
        if p.series.is_empty() {
            break;
        }
        let n = p.series.len() as u64;
        out.extend(p.series.iter().map(|t| t.samples[0].timestamp));
        q.commit(p.next, n).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_segment_bytes_never_panic(files in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..4), cursor in "\\PC{0,30}", cursor_bin in proptest::collection::vec(any::<u8>(), 0..80)) {
        let dir = tempfile::tempdir().unwrap();
        for (i, f) in files.iter().enumerate() {
            fs::write(dir.path().join(format!("{:020}.seg", i + 1)), f).unwrap();
        }
        fs::write(dir.path().join("cursor"), cursor).unwrap();
        fs::write(dir.path().join("cursor.bin"), cursor_bin).unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 4096, false).unwrap();
        let _ = drain(&q);
    }

    #[test]
    fn damaged_segments_replay_an_ordered_subsequence(n in 1usize..40, cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), do_flip in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 512, false).unwrap();
            for ts in 0..n as i64 {
                assert!(q.push(batch(ts), 1000).failed.is_none());
            }
        }
        let mut segs: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "seg") && fs::metadata(p).unwrap().len() > 0).collect();
        segs.sort();
        let victim = &segs[cut.index(segs.len())];
        let mut bytes = fs::read(victim).unwrap();
        if do_flip {
            let i = flip.index(bytes.len());
            bytes[i] ^= 0x5a;
        } else {
            bytes.truncate(cut.index(bytes.len()));
        }
        fs::write(victim, bytes).unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 512, false).unwrap();
        let got = drain(&q);
        prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", got);
        prop_assert!(got.iter().all(|t| (0..n as i64).contains(t)));
    }
}
