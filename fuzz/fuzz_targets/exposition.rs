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
//!
//! And a target's scrapes: the text cut at form feeds into up to four pages (or, without
//! one, the text twice), scraped in turn by two `TargetState`s, one parsing each page in full (`process`), one as the
//! agent does (`parse_each` into `begin`, known series found by their text), must send
//! the same series (staleness markers in any order), errors and counts; a staleness
//! marker is only ever sent for a series the scrape before sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use monitor_amp::proto::{is_stale_nan, Label};
use monitor_collector::exposition::{
    parse, parse_each, parse_known, parse_limited, Exposition, Limits, ParsedSample,
};
use monitor_collector::target::TargetState;
use std::collections::BTreeMap;
use std::time::Duration;

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

/// A scrape's series, encoded: the samples in page order, then the staleness markers
/// sorted. (Markers go out in the order the state first met their series, and a page
/// that fails after some new series has met them in one state and not in the other.)
fn sent(r: &monitor_collector::target::ScrapeResult) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (stale, fresh): (Vec<_>, Vec<_>) = r
        .series()
        .into_iter()
        .partition(|t| is_stale_nan(t.samples[0].value));
    let enc = |v: Vec<monitor_amp::proto::TimeSeries>| -> Vec<Vec<u8>> {
        v.iter().map(prost::Message::encode_to_vec).collect()
    };
    let mut stale = enc(stale);
    stale.sort();
    (enc(fresh), stale)
}

/// Scrapes `pages` in turn both ways and compares (see the top of the file).
fn scrapes(pages: &[&str]) {
    let external = BTreeMap::from([("env".to_string(), "fuzz".to_string())]);
    let mut full = TargetState::new("job", "host:9100", &external);
    let mut fused = TargetState::new("job", "host:9100", &external);
    let mut before: Vec<Vec<Label>> = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let ts = 1_000 + i as i64;
        let a = full.process(parse(page).map_err(|e| e.to_string()), ts, Duration::ZERO);
        let mut scrape = fused.begin(ts);
        let parsed = parse_each(page, &Limits::default(), &mut scrape).map_err(|e| e.to_string());
        let b = scrape.finish(parsed, Duration::ZERO);
        assert_eq!(sent(&a), sent(&b), "page {i}: the series sent differ");
        assert_eq!(a.series_ends.len(), b.series_ends.len(), "page {i}");
        assert_eq!(a.error, b.error, "page {i}");
        assert_eq!(
            (a.scraped, a.duplicates, a.filtered),
            (b.scraped, b.duplicates, b.filtered),
            "page {i}"
        );
        let series = b.series();
        for t in &series {
            if is_stale_nan(t.samples[0].value) {
                assert!(before.contains(&t.labels), "page {i}: stale marker for a series not sent before: {:?}", t.labels);
            }
        }
        before = series
            .into_iter()
            .filter(|t| !is_stale_nan(t.samples[0].value))
            .map(|t| t.labels)
            .collect();
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
    let mut pages: Vec<&str> = text.split('\u{c}').take(4).collect();
    if pages.len() == 1 {
        pages.push(&text); // the same page again: every series known
    }
    scrapes(&pages);
});
