//! `exposition::parse`, `parse_limited` and `parse_known` on arbitrary text.
//!
//! Input: the bytes as UTF-8, lossily (valid UTF-8, which is all the agent ever parses,
//! because it rejects a non-UTF-8 body, is passed unchanged; invalid bytes become U+FFFD).
//!
//! Checks, besides "never panics": `parse_limited` agrees exactly with `parse` plus the
//! limits — it succeeds with the same result iff `parse` succeeds and every sample fits —
//! for limits that fit exactly, limits one smaller in each dimension, and fixed small ones;
//! and `parse_known`, told the series texts `parse` found, finds each of them again by
//! its quick scan and reads the same names, values and timestamps without labels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use monitor_collector::exposition::{
    parse, parse_known, parse_limited, Exposition, Limits, ParsedSample,
};

/// `__name__`, `job`, `instance`: counted by `label_limit` (see `Limits::labels`).
const ATTACHED_LABELS: usize = 3;

fn over(limit: usize, n: usize) -> bool {
    limit != 0 && n > limit
}

fn fits(e: &Exposition, l: &Limits) -> bool {
    !over(l.samples, e.samples.len())
        && e.samples.iter().all(|s| {
            !over(l.labels, s.labels.len() + ATTACHED_LABELS)
                && !over(l.label_value_length, s.name.len())
                && s.labels.iter().all(|(n, v)| {
                    !over(l.label_name_length, n.len()) && !over(l.label_value_length, v.len())
                })
        })
}

/// The smallest limits `e` fits in (0 where nothing bounds it).
fn exact(e: &Exposition) -> Limits {
    let mut l = Limits {
        samples: e.samples.len(),
        ..Limits::default()
    };
    for s in &e.samples {
        l.labels = l.labels.max(s.labels.len() + ATTACHED_LABELS);
        l.label_value_length = l.label_value_length.max(s.name.len());
        for (n, v) in &s.labels {
            l.label_name_length = l.label_name_length.max(n.len());
            l.label_value_length = l.label_value_length.max(v.len());
        }
    }
    l
}

/// A sample compared by bits (NaN != NaN under `PartialEq`).
#[allow(clippy::type_complexity)]
fn key<'a>(s: &'a ParsedSample<'a>) -> (&'a str, &'a [(&'a str, Cow<'a, str>)], u64, Option<i64>) {
    (s.name, &s.labels, s.value.to_bits(), s.timestamp_ms)
}

fn same(a: &Exposition, b: &Exposition) -> bool {
    a.types == b.types
        && a.samples.len() == b.samples.len()
        && a.samples.iter().zip(&b.samples).all(|(x, y)| key(x) == key(y))
}

fn check(text: &str, full: &Result<Exposition, impl std::fmt::Debug>, l: &Limits) {
    let limited = parse_limited(text, l);
    match (full, &limited) {
        (Ok(e), Ok(le)) => {
            assert!(fits(e, l), "parse_limited accepted what exceeds {l:?}");
            assert!(same(e, le), "parse_limited({l:?}) differs from parse");
        }
        (Ok(e), Err(err)) => {
            assert!(!fits(e, l), "parse_limited({l:?}) refused what fits: {err}");
        }
        (Err(_), Ok(_)) => panic!("parse_limited({l:?}) accepted what parse refused"),
        (Err(_), Err(_)) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let full = parse(&text);
    if let Err(e) = &full {
        // The line number points into the text.
        assert!(e.line >= 1 && e.line <= text.lines().count(), "line {} of {e}", e.line);
    }
    check(&text, &full, &Limits::default());
    check(
        &text,
        &full,
        &Limits {
            samples: 3,
            labels: 5,
            label_name_length: 4,
            label_value_length: 8,
        },
    );
    if let Ok(e) = &full {
        let texts: std::collections::HashSet<&str> = e.samples.iter().map(|s| s.series).collect();
        let mut hits = 0;
        let k = parse_known(&text, &Limits::default(), |s| {
            let known = texts.contains(s);
            hits += usize::from(known);
            known
        })
        .expect("parse_known refused a page parse accepted");
        assert_eq!(hits, e.samples.len(), "the quick scan missed a series text");
        assert_eq!(k.samples.len(), e.samples.len());
        for (a, b) in e.samples.iter().zip(&k.samples) {
            assert!(b.labels.is_empty(), "labels parsed for a known series");
            assert_eq!(
                (a.name, a.series, a.value.to_bits(), a.timestamp_ms),
                (b.name, b.series, b.value.to_bits(), b.timestamp_ms)
            );
        }
    }
    if let Ok(e) = &full {
        let l = exact(e);
        check(&text, &full, &l);
        let less = |n: usize| if n >= 2 { n - 1 } else { n };
        check(&text, &full, &Limits { samples: less(l.samples), ..l });
        check(&text, &full, &Limits { labels: less(l.labels), ..l });
        check(&text, &full, &Limits { label_name_length: less(l.label_name_length), ..l });
        check(&text, &full, &Limits { label_value_length: less(l.label_value_length), ..l });
    }
});
