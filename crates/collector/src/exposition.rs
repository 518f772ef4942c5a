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
//!
//! The result borrows from the page: names and unescaped label values are slices of it
//! (a value is copied only when it holds an escape), so a steady-state sample costs one
//! allocation at most — its label vector (`bench/callgrind.sh`).

use monitor_amp::LabelName;
use rustc_hash::FxHashMap;
use std::borrow::Cow;

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

/// One sample line, flattened (histogram buckets are `<name>_bucket{le=…}` samples),
/// borrowing from the page it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample<'a> {
    /// Metric name.
    pub name: &'a str,
    /// The series as the page wrote it: the name and the label set (braces included),
    /// exactly as written. Equal text means an equal series, so a caller can key what it
    /// derives from the labels by it instead of re-deriving it every scrape.
    pub series: &'a str,
    /// Labels in the order written, empty values removed; a value is owned only when
    /// the page wrote it with escapes.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// The value.
    pub value: f64,
    /// Explicit timestamp (ms since the epoch), if the line had one.
    pub timestamp_ms: Option<i64>,
}

/// A parsed exposition, borrowing from the page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition<'a> {
    /// Samples in file order.
    pub samples: Vec<ParsedSample<'a>>,
    /// `# TYPE` declarations by family name.
    pub types: FxHashMap<&'a str, MetricType>,
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
pub fn parse(text: &str) -> Result<Exposition<'_>, ParseError> {
    parse_limited(text, &Limits::default())
}

/// [`parse`] with per-scrape [`Limits`]; a limit exceeded is a [`ParseError`] naming it.
pub fn parse_limited<'a>(text: &'a str, limits: &Limits) -> Result<Exposition<'a>, ParseError> {
    parse_known(text, limits, |_| false)
}

/// [`parse_limited`] for a caller that keeps what it derived from each series by its
/// text ([`ParsedSample::series`]), as a scrape loop does: a sample line whose series
/// text `known` accepts is not parsed into labels — its `labels` are empty — and only
/// its value and timestamp are read. The caller vouches that the text parsed (within
/// the same limits) when it first saw it; equal text parses to equal labels. In the
/// steady state that is every line, and parsing labels is most of parsing.
///
/// # Errors
/// As [`parse_limited`], for the lines parsed in full.
pub fn parse_known<'a>(
    text: &'a str,
    limits: &Limits,
    known: impl FnMut(&str) -> bool,
) -> Result<Exposition<'a>, ParseError> {
    struct Collect<'a, K> {
        out: Exposition<'a>,
        known: K,
    }
    impl<'a, K: FnMut(&str) -> bool> SampleSink<'a> for Collect<'a, K> {
        fn knows(&mut self, series: &str) -> bool {
            (self.known)(series)
        }
        fn sample(&mut self, sample: ParsedSample<'a>, _known: bool) {
            self.out.samples.push(sample);
        }
        fn family_type(&mut self, name: &'a str, ty: MetricType) {
            self.out.types.insert(name, ty);
        }
    }
    let mut sink = Collect {
        out: Exposition::default(),
        known,
    };
    parse_each(text, limits, &mut sink)?;
    Ok(sink.out)
}

/// Where [`parse_each`] hands what it reads, line by line, so that a caller can act on
/// each sample as it is read — one pass over the page, no list of samples in between.
pub trait SampleSink<'a> {
    /// Whether the sink already knows `series` (a [`ParsedSample::series`] text, asked
    /// before the line's labels are parsed): then they are not, and the line's sample
    /// comes to [`sample`](SampleSink::sample) with `known` set and no labels. The sink
    /// vouches that the text parsed (within the same limits) when it first saw it. It
    /// may keep what it looked up for that `sample` call: it comes next, unless the
    /// line's value is malformed and the parse stops.
    fn knows(&mut self, series: &str) -> bool;
    /// A sample line, in page order: parsed in full (`known` false), or only its name,
    /// series text, value and timestamp when [`knows`](SampleSink::knows) accepted its
    /// series just before (`known` true).
    fn sample(&mut self, sample: ParsedSample<'a>, known: bool);
    /// A `# TYPE` line.
    fn family_type(&mut self, _name: &'a str, _ty: MetricType) {}
}

/// Parses a whole exposition into `sink`, line by line, within `limits`. Like
/// Prometheus, a malformed line (or a limit exceeded) fails the scrape: the error comes
/// after the sink has seen the lines before it, and it must discard them.
///
/// # Errors
/// The first malformed line, or the first limit exceeded, with its line number.
pub fn parse_each<'a>(
    text: &'a str,
    limits: &Limits,
    sink: &mut impl SampleSink<'a>,
) -> Result<(), ParseError> {
    let mut samples = 0usize;
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
            if let Some((name, ty)) = parse_comment(rest).map_err(err)? {
                sink.family_type(name, ty);
            }
            continue;
        }
        let (s, known) = match known_sample(line, sink) {
            Some(s) => (s.map_err(err)?, true),
            None => {
                let s = parse_sample(line, limits.label_value_length).map_err(err)?;
                limits.check(&s).map_err(err)?;
                (s, false)
            }
        };
        samples += 1;
        if over(limits.samples, samples) {
            return Err(err(format!(
                "sample_limit exceeded: more than {} samples",
                limits.samples
            )));
        }
        sink.sample(s, known);
    }
    Ok(())
}

/// A `# TYPE` line's family and type; `None` for any other comment.
fn parse_comment(rest: &str) -> Result<Option<(&str, MetricType)>, String> {
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
            Ok(Some((name, t)))
        }
        // HELP text and free comments carry nothing the agent forwards.
        _ => Ok(None),
    }
}

/// A position in one line. It moves over ASCII bytes only, or over whole spans that end
/// at an ASCII byte, so `pos` is always on a character boundary and every slice it
/// hands out is valid UTF-8 — without decoding characters one by one.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }
    /// The character at the cursor (for messages).
    fn peek_char(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }
    /// The bytes up to the first one `stop` accepts (an ASCII byte) or the end.
    fn take_until(&mut self, stop: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        let rest = &self.s.as_bytes()[start..];
        self.pos += rest.iter().position(|&b| stop(b)).unwrap_or(rest.len());
        &self.s[start..self.pos]
    }
    /// The metric name at the start of a sample line, if one is there.
    fn metric_name(&mut self) -> Option<&'a str> {
        let name = self.take_until(|ch| !is_name_char(ch, true));
        name.bytes()
            .next()
            .is_some_and(|ch| is_name_start(ch, true))
            .then_some(name)
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    /// A label value after its opening quote, up to and past the closing one: a slice
    /// of the line unless it holds escapes. Longer than `max_value` (0 = no limit) stops
    /// at once, before anything is copied.
    fn label_value(
        &mut self,
        lname: &str,
        name: &str,
        max_value: usize,
    ) -> Result<Cow<'a, str>, String> {
        let too_long = || {
            format!(
                "label_value_length_limit exceeded: label {} of {name} has more than {max_value} bytes",
                truncate(lname)
            )
        };
        let special = |b: u8| b == b'"' || b == b'\\';
        let mut value: Option<String> = None;
        loop {
            let run = self.take_until(special);
            let len = value.as_ref().map_or(0, String::len) + run.len();
            if over(max_value, len) {
                return Err(too_long());
            }
            match (self.bump(), &mut value) {
                (None, _) => return Err(format!("unterminated value of label {lname:?}")),
                (Some(b'"'), None) => return Ok(Cow::Borrowed(run)),
                (Some(b'"'), Some(v)) => {
                    v.push_str(run);
                    return Ok(Cow::Owned(std::mem::take(v)));
                }
                _ => {}
            }
            // A backslash.
            let v = value.get_or_insert_with(String::new);
            v.push_str(run);
            match self.peek() {
                Some(b'\\') => v.push('\\'),
                Some(b'"') => v.push('"'),
                Some(b'n') => v.push('\n'),
                _ => {
                    return Err(format!(
                        "invalid escape \\{} in value of label {lname:?}",
                        self.peek_char().map(String::from).unwrap_or_default()
                    ))
                }
            }
            self.pos += 1;
            if over(max_value, v.len()) {
                return Err(too_long());
            }
        }
    }
}

fn is_name_start(c: u8, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':')
}
fn is_name_char(c: u8, colon: bool) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || (colon && c == b':')
}

pub use monitor_amp::is_metric_name;

/// Parses one sample line; a label value longer than `max_value` (0 = no limit) stops
/// the parse at once, before the value is copied.
fn parse_sample(line: &str, max_value: usize) -> Result<ParsedSample<'_>, String> {
    let mut c = Cursor { s: line, pos: 0 };
    let Some(name) = c.metric_name() else {
        return Err(format!("expected a metric name at {:?}", truncate(line)));
    };
    let mut series_end = c.pos;
    c.skip_ws();
    let mut labels: Vec<(&str, Cow<str>)> = Vec::new();
    if c.peek() == Some(b'{') {
        c.bump();
        loop {
            c.skip_ws();
            match c.peek() {
                Some(b'}') => {
                    c.bump();
                    break;
                }
                None => return Err("unterminated label set".into()),
                _ => {}
            }
            let lname = c.take_until(|ch| !is_name_char(ch, false));
            // Scraped data may carry reserved `__` names; only malformed ones are refused.
            if LabelName::of(lname) == LabelName::Invalid {
                return Err(format!("invalid label name at {:?}", truncate(c.rest())));
            }
            c.skip_ws();
            if c.bump() != Some(b'=') {
                return Err(format!("expected '=' after label name {lname:?}"));
            }
            c.skip_ws();
            if c.bump() != Some(b'"') {
                return Err(format!(
                    "expected '\"' to open the value of label {lname:?}"
                ));
            }
            let value = c.label_value(lname, name, max_value)?;
            labels.push((lname, value));
            c.skip_ws();
            match c.bump() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(format!("expected ',' or '}}' after label {lname:?}")),
            }
        }
        series_end = c.pos;
        c.skip_ws();
    }
    if let Some(dup) = duplicate_name(&labels) {
        return Err(format!("duplicate label name {dup:?}"));
    }
    // Empty value = label absent (Prometheus semantics).
    labels.retain(|(_, v)| !v.is_empty());
    let (value, timestamp_ms) = value_and_timestamp(&mut c, name)?;
    Ok(ParsedSample {
        name,
        series: &line[..series_end],
        labels,
        value,
        timestamp_ms,
    })
}

/// The series text of a sample line whose series the sink knows
/// ([`SampleSink::knows`]), without parsing its labels: the name, then the label set up
/// to its closing brace (outside quotes, past escapes). `None` — parse the line in full — for anything else, malformed lines
/// included, so that their errors stay the full parser's.
fn known_sample<'a>(
    line: &'a str,
    sink: &mut impl SampleSink<'a>,
) -> Option<Result<ParsedSample<'a>, String>> {
    let mut c = Cursor { s: line, pos: 0 };
    let name = c.metric_name()?;
    let mut series_end = c.pos;
    c.skip_ws();
    if c.peek() == Some(b'{') {
        let bytes = line.as_bytes();
        let (mut i, mut quoted) = (c.pos + 1, false);
        loop {
            match (bytes.get(i)?, quoted) {
                (b'\\', true) => i += 1,
                (b'"', q) => quoted = !q,
                (b'}', false) => break,
                _ => {}
            }
            i += 1;
        }
        series_end = i + 1;
        c.pos = series_end;
        c.skip_ws();
    }
    let series = &line[..series_end];
    if !sink.knows(series) {
        return None;
    }
    Some(
        value_and_timestamp(&mut c, name).map(|(value, timestamp_ms)| ParsedSample {
            name,
            series,
            labels: Vec::new(),
            value,
            timestamp_ms,
        }),
    )
}

/// The value and optional timestamp after a sample's series, to the end of the line.
fn value_and_timestamp(c: &mut Cursor<'_>, name: &str) -> Result<(f64, Option<i64>), String> {
    let value_str = c.take_until(|ch| ch == b' ' || ch == b'\t');
    if value_str.is_empty() {
        return Err(format!("missing value for {name}"));
    }
    let value = parse_value(value_str)?;
    c.skip_ws();
    let ts_str = c.take_until(|ch| ch == b' ' || ch == b'\t');
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
    Ok((value, timestamp_ms))
}

/// A label name written twice, found in O(n log n) (a pairwise scan of a 100k-label
/// series cost tens of seconds of CPU).
fn duplicate_name<'a>(labels: &[(&'a str, Cow<'_, str>)]) -> Option<&'a str> {
    if labels.len() < 2 {
        return None;
    }
    if labels.len() <= 8 {
        return labels
            .iter()
            .enumerate()
            .find(|(i, (n, _))| labels[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| *n);
    }
    let mut names: Vec<&str> = labels.iter().map(|(n, _)| *n).collect();
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

    /// A known series' line is read for its value and timestamp only, and every error
    /// is still the full parser's: a bad value on a known line, a label set left open, a
    /// line that is not a sample at all.
    #[test]
    fn known_series_skip_labels_and_keep_errors() {
        let known = |s: &str| s == "m{a=\"x}\\\"y\"}" || s == "n";
        let e = parse_known(
            "m{a=\"x}\\\"y\"} 1.5 7\nn 2\no{b=\"1\"} 3",
            &Limits::default(),
            known,
        )
        .unwrap();
        let got: Vec<_> = e
            .samples
            .iter()
            .map(|s| (s.name, s.series, s.labels.len(), s.value, s.timestamp_ms))
            .collect();
        assert_eq!(
            got,
            vec![
                ("m", "m{a=\"x}\\\"y\"}", 0, 1.5, Some(7)),
                ("n", "n", 0, 2.0, None),
                ("o", "o{b=\"1\"}", 1, 3.0, None),
            ]
        );
        for bad in ["n x", "n 1 2 3", "m{a=\"x}\\\"y\"} 1 z", "m{a=\"x}", "{} 1"] {
            let full = parse_limited(bad, &Limits::default()).unwrap_err();
            let lazy = parse_known(bad, &Limits::default(), known).unwrap_err();
            assert_eq!(
                (full.line, full.message),
                (lazy.line, lazy.message),
                "{bad}"
            );
        }
    }

    fn one(line: &str) -> ParsedSample<'_> {
        let e = parse(line).unwrap();
        assert_eq!(e.samples.len(), 1);
        e.samples.into_iter().next().unwrap()
    }

    #[test]
    fn plain_and_labelled() {
        let s = one("up 1");
        assert_eq!((s.name, s.value, s.timestamp_ms), ("up", 1.0, None));
        let s = one(r#"node_cpu_seconds_total{cpu="0",mode="idle"} 1234.5 1700000000000"#);
        assert_eq!(s.labels, vec![("cpu", "0".into()), ("mode", "idle".into())]);
        assert_eq!(s.timestamp_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn reserved_label_names_parse_malformed_ones_do_not() {
        // Exporters may expose `__`-prefixed labels; that is syntax Prometheus accepts.
        let s = one(r#"m{__x="1"} 1"#);
        assert_eq!(s.labels, vec![("__x", "1".into())]);
        assert!(parse(r#"m{1x="1"} 1"#).is_err());
    }

    #[test]
    fn escapes_and_utf8() {
        let s = one(r#"m{a="x\\y",b="say \"hi\"",c="l1\nl2",d="ünï ✓"} 1"#);
        assert_eq!(s.labels[0].1, "x\\y");
        assert_eq!(s.labels[1].1, "say \"hi\"");
        assert_eq!(s.labels[2].1, "l1\nl2");
        assert_eq!(s.labels[3].1, "ünï ✓");
        // Only the escaped values are copied; the rest borrow from the page.
        let owned: Vec<bool> = s
            .labels
            .iter()
            .map(|(_, v)| matches!(v, Cow::Owned(_)))
            .collect();
        assert_eq!(owned, [true, true, true, false]);
        let s = one(r#"m{a="pre\\fix",b="x"} 1"#);
        assert_eq!(s.labels[0].1, "pre\\fix");
        assert!(matches!(s.labels[1].1, Cow::Borrowed("x")));
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
        assert_eq!(s.labels, vec![("a", "1".into())]);
        let s = one("m { a = \"1\" } \t 3 \t 42");
        assert_eq!(s.labels.len(), 1);
        assert_eq!(s.timestamp_ms, Some(42));
        let s = one("m{} 4");
        assert!(s.labels.is_empty());
        // The series text: name and label set as written, nothing after.
        assert_eq!(one("up 1 42").series, "up");
        assert_eq!(one("m{a=\"1\",b=\"\",} 2").series, "m{a=\"1\",b=\"\",}");
        assert_eq!(one("m { a = \"1\" } \t 3").series, "m { a = \"1\" }");
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
