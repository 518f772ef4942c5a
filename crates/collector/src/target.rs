//! One scrape target: fetch, parse, label like Prometheus, track staleness.

use crate::config::{redacted, ScrapeConfig};
use crate::exposition::{self, Exposition, Limits, ParsedSample, SampleSink};
use crate::relabel::{relabel, RelabelConfig};
use monitor_amp::encoded::{encode_label_pairs, push_series, Encoded};
use monitor_amp::proto::{Label, Sample, TimeSeries, STALE_NAN};
use rustc_hash::{FxHashMap, FxHasher};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// `Accept` header sent when scraping: the text format (what node_exporter serves).
pub const ACCEPT: &str = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

/// Result of one scrape, ready to queue.
#[derive(Debug, Default)]
pub struct ScrapeResult {
    /// The series, one sample each (scraped, synthetic `up`/`scrape_*`, staleness
    /// markers), already protobuf-encoded as a `WriteRequest`: the durable queue stores
    /// these bytes as they are.
    pub encoded: Encoded,
    /// The offset in `encoded.bytes` after each series (each holds one sample), written
    /// as they were encoded: where the disk queue cuts a scrape into records without
    /// reading it again ([`crate::disk_queue::DiskQueue::push_scrape`]).
    pub series_ends: Vec<u32>,
    /// Samples the target exposed.
    pub scraped: usize,
    /// Duplicate series dropped.
    pub duplicates: usize,
    /// Samples the target's `metric_relabel_configs` dropped (by design, not lost).
    pub filtered: usize,
    /// The error, if the scrape failed (then `up` is 0).
    pub error: Option<String>,
}

impl ScrapeResult {
    /// The series, decoded (the in-memory buffer and tests use them).
    pub fn series(&self) -> Vec<TimeSeries> {
        // The bytes were written by `process` itself; they always decode.
        self.encoded
            .decode()
            .map(|r| r.timeseries)
            .unwrap_or_default()
    }
}

/// Per-target state: the identity and external labels, and the series seen last time
/// (for staleness).
#[derive(Debug)]
pub struct TargetState {
    /// `job`.
    pub job: String,
    /// `instance`.
    pub instance: String,
    external: BTreeMap<String, String>,
    /// `metric_relabel_configs` of the target.
    relabel: Vec<RelabelConfig>,
    /// This scrape's number: series marked with an older one were not seen in it.
    generation: u64,
    /// The target's series (their encoded label fields), in the order first seen, a freed
    /// one's place reused: a scrape reads them in about page order, and the staleness
    /// pass walks them in a line instead of a hash map.
    slots: Vec<Slot>,
    /// Indexes of freed `slots`.
    free: Vec<u32>,
    /// `slots` by `bytes_hash` of their encoding, asked only for a text not seen before:
    /// two texts of one label set (written in another order) are one series.
    by_enc: FxHashMap<u64, u32>,
    /// Each series text the target wrote
    /// ([`ParsedSample::series`](crate::exposition::ParsedSample::series)) by its hash,
    /// with its series: a steady-state sample is one lookup, while its line is read, and
    /// a copy — its labels are neither parsed, sorted nor encoded again, nothing is
    /// allocated and no map is rebuilt (`bench/callgrind.sh`).
    written: FxHashMap<u64, Written>,
    /// The last page's series texts in page order, each with its slot: a page is mostly
    /// the last one again, so a line is first compared with the text the last page had
    /// at that place — memory read in a line, no hashing, no `written` lookup.
    order: Order,
    /// Whether `written` holds exactly the texts of `order` (false after a failed or
    /// unfinished scrape, whose new texts it keeps): then a page that is `order` again
    /// leaves it as it is, without marking each text.
    order_exact: bool,
    /// Bytes of the last page and of its encoding: the next ones are allocated at about
    /// that size at once instead of growing by doubling (each growth a copy).
    last_sizes: (usize, usize),
}

/// Series texts in page order, in one string.
#[derive(Debug, Default)]
struct Order {
    texts: String,
    lines: Vec<OrderLine>,
}

#[derive(Debug, Clone, Copy)]
struct OrderLine {
    /// Where its text ends in `texts` (it starts where the line before ends).
    end: u32,
    /// Its slot, [`DROPPED`] or [`UNCACHED`].
    slot: u32,
}

impl Order {
    /// Appends this order's first `n` lines to `to`.
    fn copy_prefix(&self, n: usize, to: &mut Order) {
        let end = n.checked_sub(1).map_or(0, |i| self.lines[i].end as usize);
        to.texts.push_str(&self.texts[..end]);
        to.lines.extend_from_slice(&self.lines[..n]);
    }

    /// The lines with their texts.
    fn iter(&self) -> impl Iterator<Item = (&str, OrderLine)> + '_ {
        let mut start = 0;
        self.lines.iter().map(move |line| {
            let text = &self.texts[start..line.end as usize];
            start = line.end as usize;
            (text, *line)
        })
    }
}

/// An [`OrderLine`] whose series the relabelling rules drop.
const DROPPED: u32 = u32::MAX;
/// An [`OrderLine`] whose text is not in `written` (another text has its hash): never
/// taken from the order, derived again each time.
const UNCACHED: u32 = u32::MAX - 1;

#[derive(Debug)]
struct Slot {
    enc: Box<[u8]>,
    /// `bytes_hash(enc)`, its key in `by_enc` (unless another encoding had the hash).
    hash: u64,
    /// The last scrape that had the series (without an explicit timestamp).
    seen: u64,
    /// Whether the last scrape sent it: if the next one does not, it gets a staleness
    /// marker.
    live: bool,
    /// How many `written` texts name it; with none and not seen, it is freed.
    refs: u32,
    free: bool,
}

#[derive(Debug)]
struct Written {
    text: Box<str>,
    /// The series' slot; `None` when the relabelling rules drop the series.
    slot: Option<u32>,
    /// The last scrape whose page had the text, as marked by `Scrape::finish` when a
    /// page differs from the last.
    generation: u64,
}

/// Hash of a sorted label set.
pub fn label_hash(labels: &[Label]) -> u64 {
    let mut h = FxHasher::default();
    labels.hash(&mut h);
    h.finish()
}

fn bytes_hash(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    h.finish()
}

/// The entry of a series text in `written`, if it has one.
fn find<'m>(written: &'m FxHashMap<u64, Written>, text: &str) -> Option<&'m Written> {
    written
        .get(&bytes_hash(text.as_bytes()))
        .filter(|w| *w.text == *text)
}

/// The sorted label set of a sample, as name/value pairs borrowed from the sample and the
/// target: scraped labels (`job`/`instance` clashes renamed to `exported_*`, as Prometheus
/// does with `honor_labels: false`), then target labels, then external labels where
/// absent. `out` is reused between samples.
fn label_pairs<'a>(
    (job, instance, external): (&'a str, &'a str, &'a BTreeMap<String, String>),
    name: &'a str,
    scraped: &'a [(&'a str, Cow<'a, str>)],
    out: &mut Vec<(&'a str, &'a str)>,
) {
    out.clear();
    out.push(("__name__", name));
    for (k, v) in scraped {
        let k = match *k {
            "job" => "exported_job",
            "instance" => "exported_instance",
            k => k,
        };
        out.push((k, v.as_ref()));
    }
    out.push(("job", job));
    out.push(("instance", instance));
    for (k, v) in external {
        if !out.iter().any(|(n, _)| n == k) {
            out.push((k.as_str(), v.as_str()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(b.0));
}

/// The encoded label fields of a sample after the target's `metric_relabel_configs`:
/// the rules see the scraped labels with `__name__`, `job` and `instance`; the external
/// labels are added afterwards where absent. `false` when the rules drop the series.
fn relabelled(
    (job, instance, external): (&str, &str, &BTreeMap<String, String>),
    name: &str,
    scraped: &[(&str, Cow<'_, str>)],
    rules: &[RelabelConfig],
    out: &mut Vec<u8>,
) -> bool {
    let mut owned: Vec<(String, String)> = Vec::with_capacity(scraped.len() + 3);
    let (mut pairs, none) = (Vec::new(), BTreeMap::new());
    label_pairs((job, instance, &none), name, scraped, &mut pairs);
    owned.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    if !relabel(&mut owned, rules) {
        return false;
    }
    for (k, v) in external {
        if !owned.iter().any(|(n, _)| n == k) {
            owned.push((k.clone(), v.clone()));
        }
    }
    owned.sort();
    encode_label_pairs(owned.iter().map(|(k, v)| (k.as_str(), v.as_str())), out);
    true
}

impl TargetState {
    /// The target's `metric_relabel_configs`.
    pub fn with_relabel(mut self, rules: Vec<RelabelConfig>) -> TargetState {
        self.relabel = rules;
        self
    }

    /// State for a target with these identity and external labels.
    pub fn new(job: &str, instance: &str, external: &BTreeMap<String, String>) -> TargetState {
        TargetState {
            job: job.to_string(),
            instance: instance.to_string(),
            external: external.clone(),
            relabel: Vec::new(),
            generation: 0,
            slots: Vec::new(),
            free: Vec::new(),
            by_enc: FxHashMap::default(),
            written: FxHashMap::default(),
            order: Order::default(),
            order_exact: false,
            last_sizes: (0, 0),
        }
    }

    /// Whether `series` (a
    /// [`ParsedSample::series`](crate::exposition::ParsedSample::series) text) was in
    /// this target's last scrape: such lines need no label parsing
    /// ([`exposition::parse_known`]).
    pub fn knows(&self, series: &str) -> bool {
        find(&self.written, series).is_some()
    }

    /// Starts a scrape at `ts_ms`: hand it the page's samples as they are read
    /// ([`exposition::parse_each`], which asks it which series it knows), then
    /// [`Scrape::finish`] it. Dropped unfinished, it leaves the state as after a failed
    /// scrape's samples, before its staleness markers.
    pub fn begin(&mut self, ts_ms: i64) -> Scrape<'_> {
        self.generation += 1;
        // Until `finish` says otherwise: a scrape dropped or failed may have added texts.
        let exact = std::mem::replace(&mut self.order_exact, false);
        let series = self.slots.len() - self.free.len();
        let bytes = Vec::with_capacity(self.last_sizes.1 + self.last_sizes.1 / 8);
        Scrape {
            state: self,
            ts_ms,
            out: ScrapeResult::default(),
            bytes,
            ends: Vec::with_capacity(series + 4),
            samples: 0,
            hit: None,
            at: (0, 0),
            same: Some(0),
            exact,
            next: Order::default(),
            scratch: Vec::new(),
        }
    }

    /// Turns a parsed exposition (or a failure) at `ts_ms` into encoded series: the
    /// samples, the synthetic `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
    /// and staleness markers for series that disappeared (all of them when the scrape
    /// failed). The same as [`begin`](Self::begin), each sample, then
    /// [`Scrape::finish`].
    pub fn process(
        &mut self,
        parsed: Result<Exposition, String>,
        ts_ms: i64,
        took: Duration,
    ) -> ScrapeResult {
        let mut scrape = self.begin(ts_ms);
        let parsed = parsed.map(|exp| {
            for s in exp.samples {
                scrape.sample(s, false);
            }
        });
        scrape.finish(parsed, took)
    }

    /// The slot of an encoding: the series' own if it has one, else a new one.
    fn intern(&mut self, enc: &[u8]) -> u32 {
        let hash = bytes_hash(enc);
        let registered = self.by_enc.get(&hash).copied();
        if let Some(i) = registered {
            if *self.slots[i as usize].enc == *enc {
                return i;
            }
        }
        let slot = Slot {
            enc: Box::from(enc),
            hash,
            seen: 0,
            live: false,
            refs: 0,
            free: false,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        // (A 64-bit collision with another encoding: this one is found by its text only.)
        if registered.is_none() {
            self.by_enc.insert(hash, i);
        }
        i
    }
}

/// One scrape of a target in progress ([`TargetState::begin`]): each sample is labelled,
/// checked for duplicates and encoded as it arrives.
#[derive(Debug)]
pub struct Scrape<'s> {
    state: &'s mut TargetState,
    ts_ms: i64,
    out: ScrapeResult,
    bytes: Vec<u8>,
    ends: Vec<u32>,
    samples: usize,
    /// What [`SampleSink::knows`] found for the text it was asked about: its slot, and
    /// the line of the last page's order it is, if it was found there.
    hit: Option<(Option<u32>, Option<usize>)>,
    /// The line of `state.order` this page's next line is expected to be, and where its
    /// text starts.
    at: (usize, usize),
    /// How many lines this page had so far, while every one was the last page's line
    /// at its place (`None` since one was not): until then `next` is not written.
    same: Option<usize>,
    /// Whether `written` held exactly the texts of `state.order` when the scrape began.
    exact: bool,
    /// This page's order, once it differs from the last.
    next: Order,
    scratch: Vec<u8>,
}

/// How many lines past the expected one a line is looked for in the last page's order
/// (series gone from the page) before it is looked up by its hash.
const LOOKAHEAD: usize = 3;

impl<'a> SampleSink<'a> for Scrape<'_> {
    fn knows(&mut self, series: &str) -> bool {
        let order = &self.state.order;
        let (mut i, mut start) = self.at;
        for _ in 0..=LOOKAHEAD {
            let Some(line) = order.lines.get(i) else {
                break;
            };
            let end = line.end as usize;
            if line.slot != UNCACHED && order.texts.get(start..end) == Some(series) {
                self.hit = Some(((line.slot != DROPPED).then_some(line.slot), Some(i)));
                self.at = (i + 1, end);
                return true;
            }
            (i, start) = (i + 1, end);
        }
        self.hit = find(&self.state.written, series).map(|w| (w.slot, None));
        self.hit.is_some()
    }

    fn sample(&mut self, s: ParsedSample<'a>, known: bool) {
        self.out.scraped += 1;
        let (slot, cached, in_order) = match (known, self.hit.take()) {
            (true, Some((slot, in_order))) => (slot, true, in_order),
            _ => {
                let (slot, cached) = self.slot_of(&s);
                (slot, cached, None)
            }
        };
        let code = match (cached, slot) {
            (false, _) => UNCACHED,
            (true, None) => DROPPED,
            (true, Some(i)) => i,
        };
        self.follow(s.series, code, in_order);
        let Some(i) = slot else {
            self.out.filtered += 1;
            return;
        };
        let slot = &mut self.state.slots[i as usize];
        // Series with explicit timestamps are not staleness-tracked (like Prometheus).
        if s.timestamp_ms.is_none() {
            if slot.seen == self.state.generation {
                self.out.duplicates += 1;
                return;
            }
            slot.seen = self.state.generation;
        }
        let sample = Sample {
            value: s.value,
            timestamp: s.timestamp_ms.unwrap_or(self.ts_ms),
        };
        push_series(&mut self.bytes, &slot.enc, &sample);
        self.ends.push(self.bytes.len() as u32);
        self.samples += 1;
    }
}

impl Scrape<'_> {
    /// Notes a line in this page's order: its text and slot `code`, and the line of the
    /// last page's order it was found as, if it was. Nothing is written while every line
    /// is the last page's line at its place.
    fn follow(&mut self, series: &str, code: u32, in_order: Option<usize>) {
        if let Some(n) = self.same {
            if in_order == Some(n) {
                self.same = Some(n + 1);
                return;
            }
            // The first line that is not: this page's order starts as the last page's
            // lines so far.
            self.same = None;
            self.state.order.copy_prefix(n, &mut self.next);
        }
        self.next.texts.push_str(series);
        self.next.lines.push(OrderLine {
            end: self.next.texts.len() as u32,
            slot: code,
        });
    }

    /// The slot of a sample's series, found by its text or derived from its labels (and
    /// the text remembered); `None` when the relabelling rules drop it. And whether the
    /// text is in `written` (not when another text has its hash).
    fn slot_of(&mut self, s: &ParsedSample<'_>) -> (Option<u32>, bool) {
        let st = &mut *self.state;
        if let Some(w) = find(&st.written, s.series) {
            return (w.slot, true);
        }
        let target = (st.job.as_str(), st.instance.as_str(), &st.external);
        self.scratch.clear();
        let kept = if st.relabel.is_empty() {
            let mut pairs = Vec::with_capacity(s.labels.len() + 3 + st.external.len());
            label_pairs(target, s.name, &s.labels, &mut pairs);
            encode_label_pairs(pairs.iter().copied(), &mut self.scratch);
            true
        } else {
            relabelled(target, s.name, &s.labels, &st.relabel, &mut self.scratch)
        };
        let slot = kept.then(|| st.intern(&self.scratch));
        // (Another text under the same hash keeps its entry: this one is derived again
        // each time.)
        let Entry::Vacant(v) = st.written.entry(bytes_hash(s.series.as_bytes())) else {
            return (slot, false);
        };
        v.insert(Written {
            text: Box::from(s.series),
            slot,
            generation: st.generation,
        });
        if let Some(i) = slot {
            st.slots[i as usize].refs += 1;
        }
        (slot, true)
    }

    /// Ends the scrape: `parsed` is the page's outcome (a failed one discards the
    /// samples handed so far); `took`, the scrape's duration. Adds the synthetic `up`,
    /// `scrape_duration_seconds` and `scrape_samples_scraped`, and staleness markers for
    /// the series the last scrape sent and this one did not (all of them when it
    /// failed).
    pub fn finish(self, parsed: Result<(), String>, took: Duration) -> ScrapeResult {
        let Scrape {
            state,
            ts_ms,
            mut out,
            mut bytes,
            mut ends,
            mut samples,
            same,
            exact,
            mut next,
            ..
        } = self;
        let generation = state.generation;
        let TargetState {
            job,
            instance,
            external,
            slots,
            free,
            by_enc,
            written,
            order,
            order_exact,
            last_sizes,
            ..
        } = state;
        let ok = parsed.is_ok();
        let up = match parsed {
            // The page was the last one again, and `written` holds just its texts.
            Ok(()) if exact && same == Some(order.lines.len()) => {
                *order_exact = true;
                1.0
            }
            Ok(()) => {
                if let Some(n) = same {
                    // The last page's first `n` lines, and no more.
                    order.copy_prefix(n, &mut next);
                }
                // Texts not on this page are forgotten (memory follows the target):
                // its texts marked (here only), the others dropped.
                for (text, line) in next.iter() {
                    if line.slot == UNCACHED {
                        continue;
                    }
                    match written.get_mut(&bytes_hash(text.as_bytes())) {
                        Some(w) if *w.text == *text => w.generation = generation,
                        _ => {}
                    }
                }
                written.retain(|_, w| {
                    let kept = w.generation == generation;
                    if let (false, Some(i)) = (kept, w.slot) {
                        slots[i as usize].refs -= 1;
                    }
                    kept
                });
                *order = next;
                *order_exact = true;
                1.0
            }
            // (A failed scrape keeps the texts, and the last page's order: the next page
            // likely has them all.)
            Err(e) => {
                bytes.clear();
                ends.clear();
                samples = 0;
                out = ScrapeResult {
                    error: Some(e),
                    ..ScrapeResult::default()
                };
                0.0
            }
        };
        // Series sent last time and not in this scrape vanished: staleness markers.
        let stale = Sample {
            value: STALE_NAN,
            timestamp: ts_ms,
        };
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.free {
                continue;
            }
            let now = ok && slot.seen == generation;
            if slot.live && !now {
                push_series(&mut bytes, &slot.enc, &stale);
                ends.push(bytes.len() as u32);
                samples += 1;
            }
            slot.live = now;
            if !now && slot.refs == 0 {
                if by_enc.get(&slot.hash) == Some(&(i as u32)) {
                    by_enc.remove(&slot.hash);
                }
                (slot.free, slot.enc) = (true, Box::default());
                free.push(i as u32);
            }
        }
        let target = (job.as_str(), instance.as_str(), &*external);
        let mut pairs = Vec::new();
        let mut enc = Vec::new();
        for (name, value) in [
            ("up", up),
            ("scrape_duration_seconds", took.as_secs_f64()),
            ("scrape_samples_scraped", out.scraped as f64),
        ] {
            label_pairs(target, name, &[], &mut pairs);
            enc.clear();
            encode_label_pairs(pairs.iter().copied(), &mut enc);
            push_series(
                &mut bytes,
                &enc,
                &Sample {
                    value,
                    timestamp: ts_ms,
                },
            );
            ends.push(bytes.len() as u32);
            samples += 1;
        }
        last_sizes.1 = bytes.len();
        out.encoded = Encoded { bytes, samples };
        out.series_ends = ends;
        out
    }
}

impl From<&ScrapeConfig> for Limits {
    fn from(t: &ScrapeConfig) -> Limits {
        Limits {
            samples: t.sample_limit,
            labels: t.label_limit,
            label_name_length: t.label_name_length_limit,
            label_value_length: t.label_value_length_limit,
        }
    }
}

/// Fetches a target's exposition over HTTP (gzip accepted) within its timeout, reading
/// the body as a stream and stopping at `body_size_limit` counted on the **decoded**
/// bytes, so an endless body or a compression bomb costs at most the limit in memory.
pub async fn fetch(http: &reqwest::Client, target: &ScrapeConfig) -> Result<String, String> {
    fetch_sized(http, target, 0).await
}

/// [`fetch`] into a buffer allocated at `size_hint` bytes (the last page's size, capped
/// at the body size limit) up front.
async fn fetch_sized(
    http: &reqwest::Client,
    target: &ScrapeConfig,
    size_hint: usize,
) -> Result<String, String> {
    let url = redacted(&target.url);
    let limit = target.body_size_limit;
    let too_big = || format!("GET {url}: body exceeds body_size_limit ({limit} bytes, decoded)");
    let mut resp = http
        .get(target.url.clone())
        .header(reqwest::header::ACCEPT, ACCEPT)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", target.timeout.as_secs_f64()),
        )
        .timeout(target.timeout)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", monitor_amp::error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {}", status.as_u16()));
    }
    // (With gzip the length is the compressed one and reqwest hides it; the stream
    // below counts what is decoded.)
    if limit != 0 && resp.content_length().is_some_and(|l| l > limit) {
        return Err(too_big());
    }
    let cap = match limit {
        0 => size_hint,
        l => size_hint.min(usize::try_from(l).unwrap_or(usize::MAX)),
    };
    let mut body: Vec<u8> = Vec::with_capacity(cap + cap / 8);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: {}", monitor_amp::error_chain(&e)))?
    {
        if limit != 0 && (body.len() + chunk.len()) as u64 > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| format!("GET {url}: body is not UTF-8"))
}

/// Scrapes a target once: fetch, then parse (within the target's limits) and label on a
/// blocking thread, so a large exposition never stalls the async workers. Samples get
/// the scrape's start time.
pub async fn scrape_once(
    http: &reqwest::Client,
    target: &ScrapeConfig,
    state: &mut TargetState,
) -> ScrapeResult {
    let ts_ms = now_ms();
    let start = Instant::now();
    let body = fetch_sized(http, target, state.last_sizes.0).await;
    if let Ok(b) = &body {
        state.last_sizes.0 = b.len();
    }
    let limits = Limits::from(target);
    let url = redacted(&target.url);
    let mut st = std::mem::replace(state, TargetState::new("", "", &BTreeMap::new()));
    let work = move || {
        let r = match body {
            Ok(b) => {
                // One pass: each line labelled and encoded as it is read.
                let mut scrape = st.begin(ts_ms);
                let parsed = exposition::parse_each(&b, &limits, &mut scrape)
                    .map_err(|e| format!("parse {url}: {e}"));
                scrape.finish(parsed, start.elapsed())
            }
            Err(e) => st.process(Err(e), ts_ms, start.elapsed()),
        };
        (st, r)
    };
    let (st, r) = match tokio::task::spawn_blocking(work).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    *state = st;
    r
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_amp::proto::is_stale_nan;

    fn state() -> TargetState {
        let ext = BTreeMap::from([
            ("env".to_string(), "dev".to_string()),
            ("job".to_string(), "ignored".to_string()),
        ]);
        TargetState::new("node", "127.0.0.1:9100", &ext)
    }

    fn names(r: &ScrapeResult) -> Vec<String> {
        r.series()
            .iter()
            .map(|t| {
                t.labels
                    .iter()
                    .find(|l| l.name == "__name__")
                    .unwrap()
                    .value
                    .clone()
            })
            .collect()
    }

    /// Scrapes parsed with `parse_known` (label parsing skipped for series seen in the
    /// previous scrape), and scrapes read in one pass (`parse_each` into `begin`, as the
    /// agent does), encode byte for byte what fully parsed scrapes do, on the real
    /// node_exporter page and the tricky corpus (escapes, braces and quotes in values),
    /// as pages change: series appear, vanish, come back (here and there, in a row, in
    /// the middle), change value and timestamp, change order, and pages fail at their
    /// first line and after all their samples.
    #[test]
    fn skipping_label_parsing_for_known_series_changes_nothing() {
        let pages = [
            include_str!("../tests/corpus/node_exporter.prom"),
            include_str!("../tests/corpus/tricky.prom"),
        ];
        for page in pages {
            let lines: Vec<&str> = page.lines().collect();
            let half = lines[..lines.len() / 2].join("\n");
            let changed = page.replace(" 1\n", " 2\n");
            let broken_at_end = format!("{page}\nbroken{{");
            // Lines gone here and there (a few in a row, and more), one added, reversed.
            let thinned: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 7 != 3 && !(40..50).contains(i))
                .map(|(_, l)| *l)
                .collect();
            let thinned = thinned.join("\n");
            let mut grown = lines.clone();
            grown.insert(lines.len() / 3, "inserted_series{a=\"1\"} 1");
            let grown = grown.join("\n");
            let reversed: Vec<&str> = lines.iter().rev().copied().collect();
            let reversed = reversed.join("\n");
            let scrapes = [
                page,
                page,
                half.as_str(),
                page,
                changed.as_str(),
                "broken{",
                page,
                broken_at_end.as_str(),
                half.as_str(),
                page,
                thinned.as_str(),
                page,
                grown.as_str(),
                grown.as_str(),
                reversed.as_str(),
                page,
            ];
            let (mut full, mut lazy, mut fused) = (state(), state(), state());
            for (i, text) in scrapes.iter().enumerate() {
                let ts = 1_000 + i as i64;
                let a = full.process(
                    exposition::parse(text).map_err(|e| e.to_string()),
                    ts,
                    Duration::ZERO,
                );
                let parsed = exposition::parse_known(text, &Limits::default(), |s| lazy.knows(s));
                if i == 1 {
                    let p = parsed.as_ref().unwrap();
                    assert!(p.samples.iter().all(|s| s.labels.is_empty()), "all known");
                }
                let b = lazy.process(parsed.map_err(|e| e.to_string()), ts, Duration::ZERO);
                let mut scrape = fused.begin(ts);
                let parsed = exposition::parse_each(text, &Limits::default(), &mut scrape);
                let c = scrape.finish(parsed.map_err(|e| e.to_string()), Duration::ZERO);
                assert!(a.series_ends.len() > 3, "scrape {i}: samples or markers");
                for r in [&b, &c] {
                    assert_eq!(a.encoded, r.encoded, "scrape {i}");
                    assert_eq!(a.series_ends, r.series_ends, "scrape {i}");
                    assert_eq!(a.error, r.error, "scrape {i}");
                    assert_eq!(
                        (a.scraped, a.duplicates, a.filtered),
                        (r.scraped, r.duplicates, r.filtered),
                        "scrape {i}"
                    );
                }
            }
        }
    }

    /// Names and staleness of a scrape's series, in the order sent.
    fn sent(r: &ScrapeResult) -> Vec<(String, bool)> {
        r.series()
            .iter()
            .map(|t| (t.labels[0].value.clone(), is_stale_nan(t.samples[0].value)))
            .filter(|(n, _)| !n.starts_with("scrape_") && n != "up")
            .collect()
    }

    /// Series that vanish are marked stale once and forgotten; their places are taken by
    /// new series, which keep their own labels; a series that comes back is new again;
    /// a failed page's new series are not sent, nor later marked stale.
    #[test]
    fn vanished_series_are_forgotten_and_their_places_reused() {
        let mut st = state();
        let mut scrape = |page: &str, ts| {
            let mut s = st.begin(ts);
            let parsed = exposition::parse_each(page, &Limits::default(), &mut s);
            let sent = sent(&s.finish(parsed.map_err(|e| e.to_string()), Duration::ZERO));
            let live = st.slots.len() - st.free.len();
            (sent, live, st.written.len(), st.by_enc.len())
        };
        let own = |n: &str, stale| (n.to_string(), stale);
        assert_eq!(scrape("a 1\nb 2", 1).0, [own("a", false), own("b", false)]);
        assert_eq!(
            scrape("c{x=\"1\"} 3", 2).0,
            [own("c", false), own("a", true), own("b", true)]
        );
        assert_eq!(
            scrape("d 4\na 5\nc{x=\"1\"} 6", 3).0,
            [own("d", false), own("a", false), own("c", false)]
        );
        assert_eq!(scrape("e 7", 4).0.len(), 4, "e, then d, a and c stale");
        assert_eq!(
            scrape("e 8", 5),
            (vec![own("e", false)], 1, 1, 1),
            "only e is kept"
        );
        // A page failing after new series sends none of them, and marks e stale; the
        // next page sends g, and no marker for f, which was never sent.
        assert_eq!(scrape("f 1\ng 2\nbroken{", 6).0, [own("e", true)]);
        assert_eq!(
            scrape("g 3", 7),
            (vec![own("g", false)], 1, 1, 1),
            "only g is kept"
        );
    }

    /// A scrape dropped unfinished leaves its new texts behind, as a failed one does, and
    /// the next page that is the last one again still forgets them.
    #[test]
    fn an_unfinished_scrapes_texts_are_forgotten() {
        let mut st = state();
        let read = |st: &mut TargetState, page: &str, ts| {
            let mut s = st.begin(ts);
            let parsed = exposition::parse_each(page, &Limits::default(), &mut s);
            s.finish(parsed.map_err(|e| e.to_string()), Duration::ZERO)
        };
        read(&mut st, "a 1", 1);
        read(&mut st, "a 2", 2);
        {
            let mut s = st.begin(3);
            exposition::parse_each("a 3\nb 1", &Limits::default(), &mut s).unwrap();
        }
        assert_eq!(st.written.len(), 2, "b is remembered");
        let r = read(&mut st, "a 4", 4);
        assert_eq!(sent(&r), [("a".to_string(), false)]);
        assert_eq!(st.written.len(), 1, "b is forgotten");
        assert_eq!(st.slots.len() - st.free.len(), 1);
    }

    #[test]
    fn labels_sorted_with_target_and_external_labels() {
        let mut st = state();
        let r = st.process(
            exposition::parse("m{job=\"x\",a=\"1\"} 5").map_err(|e| e.to_string()),
            1000,
            Duration::ZERO,
        );
        let l = &r.series()[0].labels;
        let got: Vec<(&str, &str)> = l
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("__name__", "m"),
                ("a", "1"),
                ("env", "dev"),
                ("exported_job", "x"),
                ("instance", "127.0.0.1:9100"),
                ("job", "node")
            ]
        );
        assert_eq!(
            names(&r),
            vec![
                "m",
                "up",
                "scrape_duration_seconds",
                "scrape_samples_scraped"
            ]
        );
        assert_eq!(r.series()[1].samples[0].value, 1.0);
    }

    #[test]
    fn vanished_series_and_failed_scrapes_get_staleness_markers() {
        let mut st = state();
        st.process(
            exposition::parse("a 1\nb 2").map_err(|e| e.to_string()),
            1000,
            Duration::ZERO,
        );
        let r = st.process(
            exposition::parse("a 1").map_err(|e| e.to_string()),
            2000,
            Duration::ZERO,
        );
        let stale: Vec<_> = r
            .series()
            .into_iter()
            .filter(|t| is_stale_nan(t.samples[0].value))
            .collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].labels[0].value, "b");
        assert_eq!(stale[0].samples[0].timestamp, 2000);
        let r = st.process(Err("connection refused".into()), 3000, Duration::ZERO);
        assert_eq!(
            r.series()
                .iter()
                .filter(|t| is_stale_nan(t.samples[0].value))
                .count(),
            1
        );
        let up = r
            .series()
            .into_iter()
            .find(|t| t.labels[0].value == "up")
            .unwrap();
        assert_eq!(up.samples[0].value, 0.0);
        // Nothing left to mark stale.
        let r = st.process(Err("still down".into()), 4000, Duration::ZERO);
        assert_eq!(
            r.series()
                .iter()
                .filter(|t| is_stale_nan(t.samples[0].value))
                .count(),
            0
        );
    }

    #[test]
    fn a_series_is_one_series_however_the_page_writes_it() {
        let mut st = state();
        let r = st.process(
            exposition::parse("m{a=\"1\",b=\"2\"} 1\nm{b=\"2\", a=\"1\"} 2")
                .map_err(|e| e.to_string()),
            1000,
            Duration::ZERO,
        );
        assert_eq!(r.duplicates, 1, "the same labels in another order");
        // Written differently on the next page: the same series, so no staleness marker,
        // and the labels are what they were.
        let first = r.series()[0].labels.clone();
        let r = st.process(
            exposition::parse("m { b = \"2\" , a = \"1\" } 3").map_err(|e| e.to_string()),
            2000,
            Duration::ZERO,
        );
        let series = r.series();
        assert!(series.iter().all(|t| !is_stale_nan(t.samples[0].value)));
        assert_eq!(series[0].labels, first);
        assert_eq!(series[0].samples[0].value, 3.0);
        // And cached text comes back with the labels it was first encoded with.
        let r = st.process(
            exposition::parse("m { b = \"2\" , a = \"1\" } 4").map_err(|e| e.to_string()),
            3000,
            Duration::ZERO,
        );
        assert_eq!(r.series()[0].labels, first);
        assert_eq!(
            r.series().len(),
            4,
            "m, up, scrape_duration_seconds, scrape_samples_scraped"
        );
    }

    #[test]
    fn metric_relabel_configs_filter_and_rewrite_once_per_series() {
        use crate::relabel::{Action, RelabelConfig};
        let keep = RelabelConfig::new(
            Action::Keep,
            vec!["__name__".into()],
            None,
            Some("node_cpu_.*|node_load1"),
            None,
            None,
        )
        .unwrap();
        // `job` is visible to the rules; `env` (external) is added after them.
        let tag = RelabelConfig::new(
            Action::Replace,
            vec!["job".into(), "cpu".into()],
            None,
            Some("node;(.+)"),
            Some("core".into()),
            Some("c$1".into()),
        )
        .unwrap();
        let drop_env =
            RelabelConfig::new(Action::LabelDrop, vec![], None, Some("env"), None, None).unwrap();
        let mut st = state().with_relabel(vec![keep, tag, drop_env]);
        let page = "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1\nnode_load1 0.5\nnode_memory_Active_bytes 7\n";
        for ts in [1000, 2000] {
            let r = st.process(
                exposition::parse(page).map_err(|e| e.to_string()),
                ts,
                Duration::ZERO,
            );
            assert_eq!((r.scraped, r.filtered), (3, 1));
            assert_eq!(
                names(&r),
                [
                    "node_cpu_seconds_total",
                    "node_load1",
                    "up",
                    "scrape_duration_seconds",
                    "scrape_samples_scraped"
                ]
            );
            let cpu = &r.series()[0].labels;
            let got: Vec<(&str, &str)> = cpu
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect();
            assert!(got.contains(&("core", "c0")), "{got:?}");
            assert!(
                got.contains(&("env", "dev")),
                "external labels come after the rules: {got:?}"
            );
            // Nothing stale: the dropped series was never sent, the others are back.
            assert!(r.series().iter().all(|t| !is_stale_nan(t.samples[0].value)));
        }
    }

    #[test]
    fn duplicates_dropped_and_explicit_timestamps_kept() {
        let mut st = state();
        let r = st.process(
            exposition::parse("a 1\na 2\nc 3 500").map_err(|e| e.to_string()),
            1000,
            Duration::ZERO,
        );
        assert_eq!(r.duplicates, 1);
        let c = r
            .series()
            .into_iter()
            .find(|t| t.labels[0].value == "c")
            .unwrap();
        assert_eq!(c.samples[0].timestamp, 500);
    }
}
