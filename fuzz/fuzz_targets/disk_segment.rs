//! `disk_queue::decode_segment` on arbitrary bytes (a corrupt or hostile segment file).
//!
//! Checks, besides "never panics": re-encoding the decoded requests as records
//! (`[len u32 LE][crc32 u32 LE][protobuf]`, the format of disk_queue.rs) and decoding
//! again gives the same requests (compared as protobuf bytes: NaN != NaN), not corrupt.
//! The same bytes also go through `monitor_amp::encoded` (what the agent runs on stored
//! records without decoding them): counting, cutting and merging never panic, agree on
//! the sample count, and a merge that decodes holds that many samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor_amp::proto::WriteRequest;
use monitor_collector::disk_queue::decode_segment;
use prost::Message;

fn encode_segment(reqs: &[WriteRequest]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in reqs {
        let payload = r.encode_to_vec();
        let len = u32::try_from(payload.len()).expect("a record read from the input fits u32");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc32fast_hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

/// CRC-32 (IEEE), bitwise: the fuzz crate does not depend on crc32fast, and an
/// independent implementation also checks the one the queue uses.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn check_encoded(bytes: &[u8]) {
    use monitor_amp::encoded::{count_samples, merge, pieces};
    let Ok(n) = count_samples(bytes) else {
        assert!(merge(bytes).is_err(), "merge accepted what count_samples refused");
        return;
    };
    let parts = pieces(bytes, 3).expect("pieces accepts what count_samples accepts");
    assert_eq!(parts.iter().map(|(_, k)| k).sum::<usize>(), n);
    let merged = merge(bytes).expect("merge accepts what count_samples accepts");
    assert_eq!(merged.samples, n);
    // Label and sample bodies are copied, not checked (invalid UTF-8 stays invalid and the
    // receiver rejects it, counted): only a merge that decodes is compared.
    if let Ok(req) = merged.decode() {
        assert_eq!(req.sample_count(), n);
    }
}

fuzz_target!(|data: &[u8]| {
    check_encoded(data);
    let (reqs, _corrupt) = decode_segment(data);
    let again = encode_segment(&reqs);
    let (reqs2, corrupt2) = decode_segment(&again);
    assert!(!corrupt2, "a re-encoded segment decodes as corrupt");
    assert_eq!(reqs.len(), reqs2.len());
    for (a, b) in reqs.iter().zip(&reqs2) {
        assert_eq!(a.encode_to_vec(), b.encode_to_vec(), "round trip changed a request");
        check_encoded(&a.encode_to_vec());
    }
});
