//! Parser for the Prometheus text exposition format (version 0.0.4).
//!
//! Hand-written instead of `prometheus-parse` (the user's first choice): that crate is
//! regex-based, regroups histograms/summaries, drops explicit timestamps' precision into
//! `chrono` and mishandles some escapes, while the agent needs every line as a flat
//! sample, exactly as Prometheus itself ingests it. `tests/differential.rs` compares the
//! two on a corpus where `prometheus-parse` is correct, so the choice stays checked.
//!
//! Handles: `# HELP`/`# TYPE`/other comments; counters, gauges, histograms, summaries,
//! untyped; label values with `\\`, `\"` and `\n` escapes and any UTF-8; `NaN`, `+Inf`,
//! `-Inf`; optional integer millisecond timestamps; a trailing comma in a label set;
//! empty label values (meaning "label absent", so they are dropped).

use monitor_amp::LabelName;
use std::collections::HashMap;

/// The `# TYPE` of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `summary`
    Summary,
    /// `untyped` (or no `# TYPE` line)
    Untyped,
}

/// One sample line, flattened (histogram buckets are `<name>_bucket{le=…}` samples).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// Metric name.
    pub name: String,
    /// Labels in the order written, empty values removed.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// Explicit timestamp (ms since the epoch), if the line had one.
    pub timestamp_ms: Option<i64>,
}

/// A parsed exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Samples in file order.
    pub samples: Vec<ParsedSample>,
    /// `# TYPE` declarations by family name.
    pub types: HashMap<String, MetricType>,
}

/// A syntax error, with the 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Per-scrape limits with Prometheus's names and semantics: `0` means no limit, and
/// exceeding any of them fails the whole scrape. Checked while parsing, so a hostile
/// target cannot make the parser hold more than `samples` samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `sample_limit`: most samples in one exposition.
    pub samples: usize,
    /// `label_limit`: most labels per series, counting `__name__` and the `job` and
    /// `instance` labels the agent attaches.
    pub labels: usize,
    /// `label_name_length_limit`: longest label name, in bytes.
    pub label_name_length: usize,
    /// `label_value_length_limit`: longest label value (metric names included), in bytes.
    pub label_value_length: usize,
}

/// Labels every series gets besides its scraped ones: `__name__`, `job`, `instance`.
const ATTACHED_LABELS: usize = 3;

fn over(limit: usize, n: usize) -> bool {
    limit != 0 && n > limit
}

impl Limits {
    fn check(&self, s: &ParsedSample) -> Result<(), String> {
        if over(self.labels, s.labels.len() + ATTACHED_LABELS) {
            return Err(format!(
                "label_limit exceeded: {} has {} labels (limit {})",
                s.name,
                s.labels.len() + ATTACHED_LABELS,
                self.labels
            ));
        }
        if over(self.label_value_length, s.name.len()) {
            return Err(format!(
                "label_value_length_limit exceeded: a metric name of {} bytes (limit {})",
                s.name.len(),
                self.label_value_length
            ));
        }
        for (n, v) in &s.labels {
            if over(self.label_name_length, n.len()) {
                return Err(format!(
                    "label_name_length_limit exceeded: a label name of {} bytes on {} (limit {})",
                    n.len(),
                    s.name,
                    self.label_name_length
                ));
            }
            if over(self.label_value_length, v.len()) {
                return Err(format!(
                    "label_value_length_limit exceeded: label {} of {} has {} bytes (limit {})",
                    truncate(n),
                    s.name,
                    v.len(),
                    self.label_value_length
                ));
            }
        }
        Ok(())
    }
}

/// Parses a whole exposition. Like Prometheus, any malformed line fails the scrape.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    parse_limited(text, &Limits::default())
}

/// [`parse`] with per-scrape [`Limits`]; a limit exceeded is a [`ParseError`] naming it.
pub fn parse_limited(text: &str, limits: &Limits) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        let err = |message: String| ParseError {
            line: i + 1,
            message,
        };
        if let Some(rest) = line.strip_prefix('#') {
            parse_comment(rest, &mut out).map_err(err)?;
            continue;
        }
        let s = parse_sample(line, limits.label_value_length).map_err(err)?;
        limits.check(&s).map_err(err)?;
        if over(limits.samples, out.samples.len() + 1) {
            return Err(err(format!(
                "sample_limit exceeded: more than {} samples",
                limits.samples
            )));
        }
        out.samples.push(s);
    }
    Ok(out)
}

fn parse_comment(rest: &str, out: &mut Exposition) -> Result<(), String> {
    let rest = rest.trim_start_matches([' ', '\t']);
    let mut parts = rest.splitn(3, [' ', '\t']);
    match parts.next() {
        Some("TYPE") => {
            let name = parts.next().unwrap_or("");
            let ty = parts.next().unwrap_or("").trim();
            if !is_metric_name(name) {
                return Err(format!("invalid metric name {name:?} in TYPE line"));
            }
            let t = match ty {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "summary" => MetricType::Summary,
                "untyped" | "unknown" => MetricType::Untyped,
                other => return Err(format!("unknown metric type {other:?}")),
            };
            out.types.insert(name.to_string(), t);
            Ok(())
        }
        // HELP text and free comments carry nothing the agent forwards.
        _ => Ok(()),
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
}

fn is_name_start(c: char, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (colon && c == ':')
}
fn is_name_char(c: char, colon: bool) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':')
}

/// True for a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if is_name_start(c, true)) && cs.all(|c| is_name_char(c, true))
}

/// Parses one sample line; a label value longer than `max_value` (0 = no limit) stops
/// the parse at once, before the value is copied.
fn parse_sample(line: &str, max_value: usize) -> Result<ParsedSample, String> {
    let mut c = Cursor { s: line, pos: 0 };
    let name = c.take_while(|ch| is_name_char(ch, true));
    if !is_metric_name(name) {
        return Err(format!("expected a metric name at {:?}", truncate(line)));
    }
    c.skip_ws();
    let mut labels: Vec<(String, String)> = Vec::new();
    if c.peek() == Some('{') {
        c.bump();
        loop {
            c.skip_ws();
            match c.peek() {
                Some('}') => {
                    c.bump();
                    break;
                }
                None => return Err("unterminated label set".into()),
                _ => {}
            }
            let lname = c.take_while(|ch| is_name_char(ch, false));
            // Scraped data may carry reserved `__` names; only malformed ones are refused.
            if LabelName::of(lname) == LabelName::Invalid {
                return Err(format!("invalid label name at {:?}", truncate(c.rest())));
            }
            c.skip_ws();
            if c.bump() != Some('=') {
                return Err(format!("expected '=' after label name {lname:?}"));
            }
            c.skip_ws();
            if c.bump() != Some('"') {
                return Err(format!(
                    "expected '\"' to open the value of label {lname:?}"
                ));
            }
            let mut value = String::new();
            loop {
                match c.bump() {
                    None => return Err(format!("unterminated value of label {lname:?}")),
                    Some('"') => break,
                    Some('\\') => match c.bump() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => {
                            return Err(format!(
                                "invalid escape \\{} in value of label {lname:?}",
                                other.map(String::from).unwrap_or_default()
                            ))
                        }
                    },
                    Some(ch) => value.push(ch),
                }
                if over(max_value, value.len()) {
                    return Err(format!(
                        "label_value_length_limit exceeded: label {} of {name} has more than {max_value} bytes",
                        truncate(lname)
                    ));
                }
            }
            labels.push((lname.to_string(), value));
            c.skip_ws();
            match c.bump() {
                Some(',') => continue,
                Some('}') => break,
                _ => return Err(format!("expected ',' or '}}' after label {lname:?}")),
            }
        }
        c.skip_ws();
    }
    if let Some(dup) = duplicate_name(&labels) {
        return Err(format!("duplicate label name {dup:?}"));
    }
    // Empty value = label absent (Prometheus semantics).
    labels.retain(|(_, v)| !v.is_empty());
    let value_str = c.take_while(|ch| ch != ' ' && ch != '\t');
    if value_str.is_empty() {
        return Err(format!("missing value for {name}"));
    }
    let value = parse_value(value_str)?;
    c.skip_ws();
    let ts_str = c.take_while(|ch| ch != ' ' && ch != '\t');
    let timestamp_ms = if ts_str.is_empty() {
        None
    } else {
        Some(
            ts_str
                .parse::<i64>()
                .map_err(|_| format!("invalid timestamp {ts_str:?}"))?,
        )
    };
    c.skip_ws();
    if !c.rest().is_empty() {
        return Err(format!(
            "unexpected text after sample: {:?}",
            truncate(c.rest())
        ));
    }
    Ok(ParsedSample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// A label name written twice, found in O(n log n) (a pairwise scan of a 100k-label
/// series cost tens of seconds of CPU).
fn duplicate_name(labels: &[(String, String)]) -> Option<&str> {
    if labels.len() < 2 {
        return None;
    }
    if labels.len() <= 8 {
        return labels
            .iter()
            .enumerate()
            .find(|(i, (n, _))| labels[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n.as_str());
    }
    let mut names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

fn parse_value(s: &str) -> Result<f64, String> {
    // Go's ParseFloat spellings; Rust's parser accepts the same set case-insensitively.
    s.parse::<f64>()
        .map_err(|_| format!("invalid sample value {s:?}"))
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> ParsedSample {
        let e = parse(line).unwrap();
        assert_eq!(e.samples.len(), 1);
        e.samples.into_iter().next().unwrap()
    }

    #[test]
    fn plain_and_labelled() {
        let s = one("up 1");
        assert_eq!(
            (s.name.as_str(), s.value, s.timestamp_ms),
            ("up", 1.0, None)
        );
        let s = one(r#"node_cpu_seconds_total{cpu="0",mode="idle"} 1234.5 1700000000000"#);
        assert_eq!(
            s.labels,
            vec![("cpu".into(), "0".into()), ("mode".into(), "idle".into())]
        );
        assert_eq!(s.timestamp_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn reserved_label_names_parse_malformed_ones_do_not() {
        // Exporters may expose `__`-prefixed labels; that is syntax Prometheus accepts.
        let s = one(r#"m{__x="1"} 1"#);
        assert_eq!(s.labels, vec![("__x".into(), "1".into())]);
        assert!(parse(r#"m{1x="1"} 1"#).is_err());
    }

    #[test]
    fn escapes_and_utf8() {
        let s = one(r#"m{a="x\\y",b="say \"hi\"",c="l1\nl2",d="ünï ✓"} 1"#);
        assert_eq!(s.labels[0].1, "x\\y");
        assert_eq!(s.labels[1].1, "say \"hi\"");
        assert_eq!(s.labels[2].1, "l1\nl2");
        assert_eq!(s.labels[3].1, "ünï ✓");
        assert!(parse(r#"m{a="\q"} 1"#).is_err());
    }

    #[test]
    fn special_values() {
        assert!(one("m NaN").value.is_nan());
        assert_eq!(one("m +Inf").value, f64::INFINITY);
        assert_eq!(one("m -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one("m 1e-3").value, 0.001);
        assert_eq!(one("m -0.5").value, -0.5);
    }

    #[test]
    fn trailing_comma_empty_values_and_whitespace() {
        let s = one("m{a=\"1\",b=\"\",} 2");
        assert_eq!(s.labels, vec![("a".into(), "1".into())]);
        let s = one("m { a = \"1\" } \t 3 \t 42");
        assert_eq!(s.labels.len(), 1);
        assert_eq!(s.timestamp_ms, Some(42));
        let s = one("m{} 4");
        assert!(s.labels.is_empty());
    }

    #[test]
    fn comments_and_types() {
        let e = parse(
            "# HELP h_seconds A histogram.\n# TYPE h_seconds histogram\n# free comment\n\
             h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 0.3\nh_seconds_count 2\n\
             # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n# TYPE u untyped\nu 1\n",
        )
        .unwrap();
        assert_eq!(e.types["h_seconds"], MetricType::Histogram);
        assert_eq!(e.types["s"], MetricType::Summary);
        assert_eq!(e.types["u"], MetricType::Untyped);
        assert_eq!(e.samples.len(), 8);
        assert_eq!(e.samples[1].labels[0].1, "+Inf");
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("ok 1\n\nbad{a=\"1\" 2\n").unwrap_err();
        assert_eq!(err.line, 3);
        for bad in [
            "m",
            "m{a=1} 1",
            "m x",
            "m 1 notats",
            "1m 1",
            "m{a=\"1\",a=\"2\"} 1",
            "m 1 2 3",
            "# TYPE m bogus",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn limits_fail_the_scrape_and_name_the_limit() {
        let l = Limits {
            samples: 2,
            labels: 5,
            label_name_length: 4,
            label_value_length: 6,
        };
        assert!(parse_limited("a 1\nb 2", &l).is_ok());
        let e = parse_limited("a 1\nb 2\nc 3", &l).unwrap_err();
        assert!(e.message.starts_with("sample_limit exceeded"), "{e}");
        assert_eq!(e.line, 3);
        let e = parse_limited(r#"m{a="1",b="2",c="3"} 1"#, &l).unwrap_err();
        assert!(e.message.starts_with("label_limit exceeded"), "{e}");
        assert!(
            parse_limited(r#"m{a="1",b="2"} 1"#, &l).is_ok(),
            "2 + __name__/job/instance = 5"
        );
        let e = parse_limited(r#"m{abcde="1"} 1"#, &l).unwrap_err();
        assert!(
            e.message.starts_with("label_name_length_limit exceeded"),
            "{e}"
        );
        let e = parse_limited(r#"m{a="1234567"} 1"#, &l).unwrap_err();
        assert!(
            e.message.starts_with("label_value_length_limit exceeded"),
            "{e}"
        );
        let e = parse_limited("metric_name 1", &l).unwrap_err();
        assert!(
            e.message.starts_with("label_value_length_limit exceeded"),
            "{e}"
        );
        assert!(
            parse_limited("a 1\nb 2\nc 3", &Limits::default()).is_ok(),
            "0 = no limit"
        );
    }

    #[test]
    fn duplicate_labels_are_found_among_many() {
        let many: Vec<String> = (0..1000).map(|i| format!("l{i}=\"v\"")).collect();
        let ok = format!("m{{{}}} 1", many.join(","));
        assert_eq!(parse(&ok).unwrap().samples[0].labels.len(), 1000);
        let dup = format!("m{{{},l500=\"w\"}} 1", many.join(","));
        let e = parse(&dup).unwrap_err();
        assert!(e.message.contains("duplicate label name \"l500\""), "{e}");
        assert!(parse(r#"m{a="1",b="2",a="3"} 1"#).is_err());
    }
}
