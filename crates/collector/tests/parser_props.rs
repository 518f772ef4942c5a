//! Property tests (the CI-sized stand-in for a fuzzer): the exposition parser never
//! panics on any input, and what it accepts round-trips through a canonical rendering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_collector::exposition;
use proptest::prelude::*;

fn render(name: &str, labels: &[(String, String)], value: f64, ts: Option<i64>) -> String {
    let mut s = name.to_string();
    if !labels.is_empty() {
        s.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            s.push_str(&format!("{k}=\"{v}\""));
        }
        s.push('}');
    }
    s.push_str(&format!(" {value:?}"));
    if let Some(t) = ts {
        s.push_str(&format!(" {t}"));
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = exposition::parse(&s);
    }

    #[test]
    fn never_panics_on_exposition_shaped_text(s in "[a-z_{}=\",\\\\ #\\n0-9.+-]{0,120}") {
        let _ = exposition::parse(&s);
    }

    #[test]
    fn accepted_samples_round_trip(
        name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,10}", "\\PC{1,20}", 0..5),
        value in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
        ts in proptest::option::of(-1_000_000_000_000i64..4_000_000_000_000i64),
    ) {
        let labels: Vec<(String, String)> = labels.into_iter().collect();
        let text = render(&name, &labels, value, ts);
        let e = exposition::parse(&text).unwrap();
        prop_assert_eq!(e.samples.len(), 1);
        let s = &e.samples[0];
        prop_assert_eq!(s.name, name.as_str());
        let got: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        prop_assert_eq!(got, labels);
        prop_assert_eq!(s.value, value);
        prop_assert_eq!(s.timestamp_ms, ts);
    }
}
