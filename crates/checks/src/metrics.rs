//! The metrics checks: prove, host by host, that CPU, memory, filesystem, disk IO and
//! network data reach AMP (or a local Prometheus), fresh and sane, with the expected
//! labels, and that the agent lost nothing on the way.
//!
//! A host is identified by the first of [`HOST_LABELS`] on its `up{job=...}` series:
//! `instance_id` (an external label, unique across a fleet), then `host`, then `instance`
//! (the scrape target, which is `127.0.0.1:9100` on every host when the collector scrapes
//! localhost). `--host NAME` matches any of the three.
//!
//! All queries are instant queries evaluated at the server's "now", so "no data" means no
//! sample within the query lookback (5 minutes by default on Prometheus and AMP) or a
//! series ended by a staleness marker.

use crate::catalog::*;
use crate::report::{CheckResult, Report};
use crate::ChecksError;
use futures::future::join_all;
use monitor_amp::query::{InstantSample, QueryClient, QueryError};
use std::collections::BTreeMap;
use std::time::Duration;

/// Labels that identify a host, most specific across a fleet first.
pub const HOST_LABELS: [&str; 3] = ["instance_id", "host", "instance"];

/// The metric families whose freshness is checked, by check id.
pub const FRESHNESS: &[(&str, &[&str])] = &[
    (METRICS_FRESH_CPU, &["node_cpu_seconds_total"]),
    (
        METRICS_FRESH_MEMORY,
        &[
            "node_memory_MemAvailable_bytes",
            "node_memory_MemTotal_bytes",
        ],
    ),
    (METRICS_FRESH_FILESYSTEM, &["node_filesystem_avail_bytes"]),
    (
        METRICS_FRESH_DISK,
        &[
            "node_disk_read_bytes_total",
            "node_disk_written_bytes_total",
        ],
    ),
    (
        METRICS_FRESH_NETWORK,
        &[
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
        ],
    ),
];

/// The PromQL of every node_exporter quantity these checks read (with an empty
/// selector), from the same definitions the checks query: what a metric allowlist must
/// keep for them to pass.
pub fn node_queries() -> Vec<String> {
    let mut q: Vec<String> = FRESHNESS
        .iter()
        .flat_map(|(_, names)| names.iter().map(|n| n.to_string()))
        .collect();
    q.push(monitor_promql::cpu_utilisation_total("", "1m"));
    q.push(monitor_promql::memory_available_bytes(""));
    q.push(monitor_promql::memory_total_bytes(""));
    q
}

/// CPU utilisation within `0 - TOLERANCE ..= 100 + TOLERANCE` passes: rates over scraped
/// counters carry a little timing jitter.
const CPU_TOLERANCE: f64 = 1.0;

/// What to check.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsCheckConfig {
    /// Hosts to check, matched against `instance_id`, `host` and `instance`; empty =
    /// every host with an `up{job=...}` series.
    pub hosts: Vec<String>,
    /// Newest sample must be younger than this (default 2 minutes).
    pub max_age: Duration,
    /// External labels that must be on every host's series (e.g. `env`, `role`).
    pub expected_labels: Vec<String>,
    /// Scrape job of node_exporter (default `node`; the seed's ADOT config uses
    /// `node_exporter`).
    pub job: String,
    /// Job of the agent's own metrics (default `monitor-agent`).
    pub agent_job: String,
    /// Window of the agent's drop and remote-write counters (default 10 minutes).
    pub window: Duration,
    /// Samples per second per host that `monitor-provision plan` priced: with it,
    /// `metrics.samples_rate` shows it beside the measured rate and warns well above it.
    pub expected_samples_per_second: Option<f64>,
}

impl Default for MetricsCheckConfig {
    fn default() -> MetricsCheckConfig {
        MetricsCheckConfig {
            hosts: Vec::new(),
            max_age: Duration::from_secs(120),
            expected_labels: Vec::new(),
            job: "node".into(),
            agent_job: "monitor-agent".into(),
            window: Duration::from_secs(600),
            expected_samples_per_second: None,
        }
    }
}

impl MetricsCheckConfig {
    /// Rejects values that cannot make a valid query (before any I/O).
    pub fn validate(&self) -> Result<(), ChecksError> {
        if self.max_age < Duration::from_secs(1) {
            return Err(ChecksError::Usage("--max-age must be at least 1s".into()));
        }
        if self.window < Duration::from_secs(10) {
            return Err(ChecksError::Usage("--window must be at least 10s".into()));
        }
        if self.job.trim().is_empty() || self.agent_job.trim().is_empty() {
            return Err(ChecksError::Usage("--job must not be empty".into()));
        }
        for l in &self.expected_labels {
            // `--label` names a label to group hosts by; a reserved `__` name is a valid
            // PromQL label, so only malformed names are refused.
            if monitor_amp::LabelName::of(l) == monitor_amp::LabelName::Invalid {
                return Err(ChecksError::Usage(format!(
                    "--label {l:?} is not a label name (letters, digits and _, not starting with a digit)"
                )));
            }
        }
        if self.hosts.iter().any(|h| h.trim().is_empty()) {
            return Err(ChecksError::Usage("--host must not be empty".into()));
        }
        Ok(())
    }
}

/// A PromQL string literal.
fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A PromQL range duration (`[600s]`).
fn range(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

fn fmt_age(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        humantime::format_duration(Duration::from_secs(secs.round() as u64)).to_string()
    }
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v.abs() >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A host under check.
#[derive(Debug, Clone)]
struct Host {
    /// Shown in the HOST column.
    name: String,
    /// The label that identifies it and its value.
    label: String,
    value: String,
    /// Its `up` series (several when one host has several targets in the job).
    ups: Vec<InstantSample>,
}

impl Host {
    /// Matchers (without braces) selecting the host's node series.
    fn matchers(&self, job: &str) -> String {
        format!("job={},{}={}", lit(job), self.label, lit(&self.value))
    }
}

/// Groups `up` series into hosts by their identifying label.
fn discover(ups: Vec<InstantSample>) -> Vec<Host> {
    let mut hosts: BTreeMap<(String, String), Host> = BTreeMap::new();
    for s in ups {
        let Some((label, value)) = HOST_LABELS.iter().find_map(|l| {
            s.metric
                .get(*l)
                .filter(|v| !v.is_empty())
                .map(|v| (l.to_string(), v.clone()))
        }) else {
            continue;
        };
        hosts
            .entry((label.clone(), value.clone()))
            .or_insert_with(|| Host {
                name: value.clone(),
                label,
                value,
                ups: Vec::new(),
            })
            .ups
            .push(s);
    }
    hosts.into_values().collect()
}

/// Finds `name` among the `up` series: the first of [`HOST_LABELS`] that matches wins.
fn resolve(name: &str, ups: &[InstantSample]) -> Option<Host> {
    HOST_LABELS.iter().find_map(|l| {
        let matching: Vec<InstantSample> = ups
            .iter()
            .filter(|s| s.metric.get(*l).is_some_and(|v| v == name))
            .cloned()
            .collect();
        (!matching.is_empty()).then(|| Host {
            name: name.to_string(),
            label: l.to_string(),
            value: name.to_string(),
            ups: matching,
        })
    })
}

/// Which collector-side series belong to a host: all of them ([`host_scope`]: its own
/// metrics as well, either collector) or monitor-agent's own ([`agent_scope`]).
#[derive(Debug, Clone)]
enum AgentScope {
    /// Matchers (without braces) and a note for the detail.
    Selector(String, &'static str),
    /// Cannot tell; the reason.
    Unknown(&'static str),
}

/// The matchers (without braces, maybe empty) of every series a host's collector sends,
/// its own metrics included: the collector's own `instance` is its listen address, not
/// the exporter's, so join on an external label the collector adds to both.
fn host_scope(host: &Host, only_host: bool) -> AgentScope {
    if host.label != "instance" {
        return AgentScope::Selector(format!("{}={}", host.label, lit(&host.value)), "");
    }
    for l in ["instance_id", "host"] {
        if let Some(v) = host.ups.iter().find_map(|s| s.metric.get(l)) {
            return AgentScope::Selector(format!("{l}={}", lit(v)), "");
        }
    }
    if only_host {
        AgentScope::Selector(
            String::new(),
            " (assumed to be this host's collector: the only host)",
        )
    } else {
        AgentScope::Unknown(
            "cannot tell which collector series belong to this host: add an instance_id external label",
        )
    }
}

/// [`host_scope`] narrowed to monitor-agent's own job.
fn agent_scope(host: &Host, cfg: &MetricsCheckConfig, only_host: bool) -> AgentScope {
    match host_scope(host, only_host) {
        AgentScope::Selector(m, note) => AgentScope::Selector(
            join_matchers(&format!("job={}", lit(&cfg.agent_job)), &m),
            note,
        ),
        unknown => unknown,
    }
}

/// `a,b`, or the one that is not empty.
fn join_matchers(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_string(),
        (true, false) => b.to_string(),
        (false, false) => format!("{a},{b}"),
    }
}

/// ADOT's sent-points counter (`_total` since the collector's Prometheus exporter adds
/// the suffix).
const ADOT_SENT_POINTS: &str = "otelcol_exporter_sent_metric_points(_total)?";

/// Above this share of the plan's estimate, `metrics.samples_rate` warns.
const SAMPLES_RATE_WARN: f64 = 1.5;

type Outcome = Result<CheckResult, (&'static str, QueryError)>;

struct Ctx<'a> {
    client: &'a QueryClient,
    cfg: &'a MetricsCheckConfig,
    host: &'a Host,
    sel: String,
    agent: AgentScope,
    scope: AgentScope,
}

impl Ctx<'_> {
    fn name(&self) -> Option<&str> {
        Some(&self.host.name)
    }

    async fn q(
        &self,
        check: &'static str,
        promql: &str,
    ) -> Result<Vec<InstantSample>, (&'static str, QueryError)> {
        self.client
            .instant(promql, None)
            .await
            .map(|r| r.into_vector())
            .map_err(|e| (check, e))
    }

    async fn up(&self) -> Outcome {
        let ages = self
            .q(
                METRICS_UP,
                &format!("time() - max(timestamp(up{{{}}}))", self.sel),
            )
            .await?;
        let down: Vec<String> = self
            .host
            .ups
            .iter()
            .filter(|s| s.value.value != 1.0)
            .map(|s| {
                s.metric
                    .get("instance")
                    .cloned()
                    .unwrap_or_else(|| "?".into())
            })
            .collect();
        let targets: Vec<&str> = self
            .host
            .ups
            .iter()
            .filter_map(|s| s.metric.get("instance").map(String::as_str))
            .collect();
        if !down.is_empty() {
            return Ok(CheckResult::fail(
                METRICS_UP,
                self.name(),
                format!("up == 0: the last scrape of {} failed", down.join(", ")),
                HINT_UP_ZERO,
            ));
        }
        match ages.first().map(|s| s.value.value) {
            Some(age) if age > self.cfg.max_age.as_secs_f64() => Ok(CheckResult::fail(
                METRICS_UP,
                self.name(),
                format!(
                    "up last reported {} ago (max {}): the collector stopped sending",
                    fmt_age(age),
                    fmt_dur(self.cfg.max_age)
                ),
                HINT_NO_DATA,
            )),
            _ => Ok(CheckResult::pass(
                METRICS_UP,
                self.name(),
                format!("up == 1 (target {})", targets.join(", ")),
            )),
        }
    }

    async fn fresh(&self, check: &'static str, metrics: &'static [&'static str]) -> Outcome {
        let queries = metrics.iter().map(|m| async move {
            let q = format!("time() - max(timestamp({m}{{{}}}))", self.sel);
            self.q(check, &q)
                .await
                .map(|v| (*m, v.first().map(|s| s.value.value)))
        });
        let ages = join_all(queries)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let missing: Vec<&str> = ages
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(m, _)| *m)
            .collect();
        if !missing.is_empty() {
            return Ok(CheckResult::fail(
                check,
                self.name(),
                format!(
                    "no {} sample in the last 5m (or the series went stale)",
                    missing.join(" / ")
                ),
                HINT_NO_DATA,
            ));
        }
        let max = self.cfg.max_age.as_secs_f64();
        let oldest = ages.iter().filter_map(|(m, a)| a.map(|a| (*m, a))).fold(
            None,
            |acc: Option<(&str, f64)>, (m, a)| match acc {
                Some((_, b)) if b >= a => acc,
                _ => Some((m, a)),
            },
        );
        match oldest {
            Some((m, age)) if age > max => Ok(CheckResult::fail(
                check,
                self.name(),
                format!(
                    "newest {m} sample is {} old (max {})",
                    fmt_age(age),
                    fmt_dur(self.cfg.max_age)
                ),
                HINT_STALE,
            )),
            Some((_, age)) => Ok(CheckResult::pass(
                check,
                self.name(),
                format!("{} fresh ({} old)", metrics.join(", "), fmt_age(age)),
            )),
            None => Ok(CheckResult::fail(
                check,
                self.name(),
                "no sample",
                HINT_NO_DATA,
            )),
        }
    }

    async fn cpu(&self) -> Outcome {
        // The dashboards' definition, in percent, over every CPU of this host.
        let q = format!(
            "100 * ({})",
            monitor_promql::cpu_utilisation_total(&self.sel, "1m")
        );
        let v = self.q(METRICS_CPU_UTILISATION, &q).await?;
        let Some(u) = v.first().map(|s| s.value.value) else {
            return Ok(CheckResult::skip(
                METRICS_CPU_UTILISATION,
                self.name(),
                "not computed: fewer than two idle-CPU samples in the last 1m",
            ));
        };
        if u.is_finite() && (-CPU_TOLERANCE..=100.0 + CPU_TOLERANCE).contains(&u) {
            Ok(CheckResult::pass(
                METRICS_CPU_UTILISATION,
                self.name(),
                format!("CPU utilisation {:.1} % (1m)", u.clamp(0.0, 100.0)),
            ))
        } else {
            Ok(CheckResult::fail(
                METRICS_CPU_UTILISATION,
                self.name(),
                format!("CPU utilisation {u:.1} % is outside 0–100 %"),
                HINT_CPU_INSANE,
            ))
        }
    }

    async fn memory(&self) -> Outcome {
        let qa = monitor_promql::memory_available_bytes(&self.sel);
        let qt = monitor_promql::memory_total_bytes(&self.sel);
        let (avail, total) = futures::join!(
            self.q(METRICS_MEMORY_SANE, &qa),
            self.q(METRICS_MEMORY_SANE, &qt)
        );
        let (avail, total) = (avail?, total?);
        if avail.len() > 1 || total.len() > 1 {
            return Ok(CheckResult::fail(
                METRICS_MEMORY_SANE,
                self.name(),
                format!(
                    "{} MemTotal series under this host's labels (expected 1)",
                    total.len().max(avail.len())
                ),
                HINT_MEMORY_INSANE,
            ));
        }
        let (Some(a), Some(t)) = (
            avail.first().map(|s| s.value.value),
            total.first().map(|s| s.value.value),
        ) else {
            return Ok(CheckResult::skip(
                METRICS_MEMORY_SANE,
                self.name(),
                "not computed: no memory samples",
            ));
        };
        if a.is_finite() && t.is_finite() && t > 0.0 && a >= 0.0 && a <= t {
            Ok(CheckResult::pass(
                METRICS_MEMORY_SANE,
                self.name(),
                format!(
                    "available {} of {} ({:.0} %)",
                    fmt_bytes(a),
                    fmt_bytes(t),
                    100.0 * a / t
                ),
            ))
        } else {
            Ok(CheckResult::fail(
                METRICS_MEMORY_SANE,
                self.name(),
                format!("MemAvailable {} vs MemTotal {}", fmt_bytes(a), fmt_bytes(t)),
                HINT_MEMORY_INSANE,
            ))
        }
    }

    fn labels(&self) -> CheckResult {
        if self.cfg.expected_labels.is_empty() {
            return CheckResult::skip(METRICS_LABELS, self.name(), "no --label given");
        }
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for l in &self.cfg.expected_labels {
            let values: Vec<&str> = self
                .host
                .ups
                .iter()
                .map(|s| s.metric.get(l).map(String::as_str).unwrap_or(""))
                .collect();
            if values.iter().any(|v| v.is_empty()) {
                missing.push(l.as_str());
            } else {
                present.push(format!("{l}={}", values[0]));
            }
        }
        if missing.is_empty() {
            CheckResult::pass(METRICS_LABELS, self.name(), present.join(" "))
        } else {
            let mut detail = format!("missing {}", missing.join(", "));
            if !present.is_empty() {
                detail.push_str(&format!("; present {}", present.join(" ")));
            }
            CheckResult::fail(METRICS_LABELS, self.name(), detail, HINT_LABELS)
        }
    }

    /// `sum by (by) (increase(metric{agent}[window]))`, or `None` when the agent's own
    /// metrics are absent, with the note to show.
    async fn agent_counter(
        &self,
        check: &'static str,
        metric: &str,
        by: &str,
    ) -> Result<Result<(Vec<(String, f64)>, &'static str), CheckResult>, (&'static str, QueryError)>
    {
        let (sel, note) = match &self.agent {
            AgentScope::Selector(s, note) => (s.as_str(), *note),
            AgentScope::Unknown(reason) => {
                return Ok(Err(CheckResult::skip(check, self.name(), *reason)));
            }
        };
        let w = range(self.cfg.window);
        let inc = self
            .q(
                check,
                &format!("sum by ({by}) (increase({metric}{{{sel}}}[{w}]))"),
            )
            .await?;
        if inc.is_empty() {
            let present = self.q(check, &format!("count({metric}{{{sel}}})")).await?;
            return Ok(Err(if present.is_empty() {
                CheckResult::skip(
                    check,
                    self.name(),
                    format!(
                        "the agent's own metrics are absent (job={}): normal when ADOT is the collector",
                        lit(&self.cfg.agent_job)
                    ),
                )
            } else {
                CheckResult::pass(
                    check,
                    self.name(),
                    format!(
                        "nothing measurable yet (one sample in the last {}){note}",
                        fmt_dur(self.cfg.window)
                    ),
                )
            }));
        }
        let values = inc
            .into_iter()
            .map(|s| {
                (
                    s.metric.get(by).cloned().unwrap_or_else(|| "?".into()),
                    s.value.value,
                )
            })
            .collect();
        Ok(Ok((values, note)))
    }

    async fn agent_dropped(&self) -> Outcome {
        let (values, note) = match self
            .agent_counter(
                METRICS_AGENT_DROPPED,
                "monitor_agent_samples_dropped_total",
                "reason",
            )
            .await?
        {
            Ok(v) => v,
            Err(done) => return Ok(done),
        };
        let dropped: Vec<String> = values
            .iter()
            .filter(|(_, v)| *v > 0.0 || v.is_nan())
            .map(|(r, v)| format!("{r} ≈ {v:.0}"))
            .collect();
        if dropped.is_empty() {
            Ok(CheckResult::pass(
                METRICS_AGENT_DROPPED,
                self.name(),
                format!(
                    "no samples dropped in the last {}{note}",
                    fmt_dur(self.cfg.window)
                ),
            ))
        } else {
            Ok(CheckResult::fail(
                METRICS_AGENT_DROPPED,
                self.name(),
                format!(
                    "samples dropped in the last {}: {}{note}",
                    fmt_dur(self.cfg.window),
                    dropped.join(", ")
                ),
                HINT_AGENT_DROPPED,
            ))
        }
    }

    /// The samples/s the host's collector sends, from its own counter (monitor-agent's or
    /// ADOT's), beside the plan's estimate.
    async fn samples_rate(&self) -> Outcome {
        let check = METRICS_SAMPLES_RATE;
        let (m, note) = match &self.scope {
            AgentScope::Selector(m, note) => (m.as_str(), *note),
            AgentScope::Unknown(reason) => {
                return Ok(CheckResult::skip(check, self.name(), *reason));
            }
        };
        let agent = format!(
            "monitor_agent_samples_sent_total{{{}}}",
            join_matchers(&format!("job={}", lit(&self.cfg.agent_job)), m)
        );
        let adot = format!(
            "{{{}}}",
            join_matchers(&format!("__name__=~{}", lit(ADOT_SENT_POINTS)), m)
        );
        let window = fmt_dur(self.cfg.window);
        let w = range(self.cfg.window);
        let rate = self
            .q(
                check,
                &format!("sum(rate({agent}[{w}])) or sum(rate({adot}[{w}]))"),
            )
            .await?;
        let Some(rate) = rate.first().map(|s| s.value.value) else {
            let present = self
                .q(check, &format!("count({agent}) or count({adot})"))
                .await?;
            return Ok(if present.is_empty() {
                CheckResult::skip(
                    check,
                    self.name(),
                    "neither monitor_agent_samples_sent_total nor ADOT's \
                     otelcol_exporter_sent_metric_points arrives from this host: its \
                     collector's own metrics are not shipped",
                )
            } else {
                CheckResult::pass(
                    check,
                    self.name(),
                    format!("nothing measurable yet (one sample in the last {window}){note}"),
                )
            });
        };
        let mut detail = format!("{rate:.1} samples/s sent over the last {window}{note}");
        let Some(expected) = self.cfg.expected_samples_per_second else {
            return Ok(CheckResult::pass(check, self.name(), detail));
        };
        detail.push_str(&format!("; the plan estimated {expected:.1}"));
        Ok(if rate > expected * SAMPLES_RATE_WARN {
            CheckResult::warn(check, self.name(), detail, HINT_SAMPLES_RATE)
        } else {
            CheckResult::pass(check, self.name(), detail)
        })
    }

    async fn agent_remote_write(&self) -> Outcome {
        let (values, note) = match self
            .agent_counter(
                METRICS_AGENT_REMOTE_WRITE,
                "monitor_agent_remote_write_requests_total",
                "code",
            )
            .await?
        {
            Ok(v) => v,
            Err(done) => return Ok(done),
        };
        let seen: Vec<String> = values
            .iter()
            .filter(|(_, v)| *v > 0.0)
            .map(|(c, v)| format!("{c} ≈ {v:.0}"))
            .collect();
        let window = fmt_dur(self.cfg.window);
        let rejected = |pred: fn(&str) -> bool| values.iter().any(|(c, v)| pred(c) && *v > 0.0);
        let detail = format!(
            "requests by status in the last {window}: {}{note}",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        );
        if rejected(|c| c == "403" || c == "401") {
            Ok(CheckResult::fail(
                METRICS_AGENT_REMOTE_WRITE,
                self.name(),
                detail,
                HINT_REMOTE_WRITE_403,
            ))
        } else if rejected(|c| c.starts_with('4') && c != "429") {
            Ok(CheckResult::fail(
                METRICS_AGENT_REMOTE_WRITE,
                self.name(),
                detail,
                HINT_REMOTE_WRITE_4XX,
            ))
        } else {
            Ok(CheckResult::pass(
                METRICS_AGENT_REMOTE_WRITE,
                self.name(),
                detail,
            ))
        }
    }

    async fn run(&self) -> Vec<Outcome> {
        let fresh = join_all(FRESHNESS.iter().map(|(id, ms)| self.fresh(id, ms)));
        let (up, fresh, cpu, mem, dropped, rw, rate) = futures::join!(
            self.up(),
            fresh,
            self.cpu(),
            self.memory(),
            self.agent_dropped(),
            self.agent_remote_write(),
            self.samples_rate()
        );
        let mut out = vec![up];
        out.extend(fresh);
        out.extend([cpu, mem, Ok(self.labels()), dropped, rw, rate]);
        out
    }
}

/// Turns query outcomes into results: setup errors (auth, transport, wrong endpoint)
/// abort the run; other query errors fail their check.
fn settle(host: Option<&str>, outs: Vec<Outcome>) -> Result<Vec<CheckResult>, ChecksError> {
    let mut results = Vec::with_capacity(outs.len());
    for o in outs {
        match o {
            Ok(r) => results.push(r),
            Err((_, e)) if e.is_setup_error() => return Err(e.into()),
            Err((check, e)) => results.push(CheckResult::fail(
                check,
                host,
                format!("query failed: {e}"),
                HINT_QUERY_FAILED,
            )),
        }
    }
    Ok(results)
}

/// Runs every metrics check, hosts and checks concurrently. A query that fails for
/// setup reasons (403, connection refused, DNS, not a Prometheus API) aborts with
/// [`ChecksError::Query`]: that is a usage/auth error, not a failed check.
pub async fn run_metrics_checks(
    client: &QueryClient,
    cfg: &MetricsCheckConfig,
) -> Result<Report, ChecksError> {
    cfg.validate()?;
    let mut report = Report::new();
    client.instant("vector(1)", None).await?;
    let up_sel = format!("up{{job={}}}", lit(&cfg.job));
    let ups = client.instant(&up_sel, None).await?.into_vector();

    let mut hosts = Vec::new();
    let mut unresolved = Vec::new();
    if cfg.hosts.is_empty() {
        hosts = discover(ups);
    } else {
        for name in &cfg.hosts {
            match resolve(name, &ups) {
                Some(h) => hosts.push(h),
                None => unresolved.push(name.clone()),
            }
        }
    }
    report.push(CheckResult::pass(
        METRICS_ENDPOINT,
        None,
        format!(
            "{} answers PromQL ({}); {} host{} with {up_sel}",
            client.endpoint(),
            if client.is_signed() {
                "SigV4, service aps"
            } else {
                "unsigned"
            },
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        ),
    ));

    if cfg.hosts.is_empty() && hosts.is_empty() {
        let jobs = jobs_with_up(client, "up").await?;
        report.push(CheckResult::fail(
            METRICS_UP,
            None,
            format!("no {up_sel} series in the last 5m{}", jobs_note(&jobs)),
            HINT_UP_MISSING,
        ));
    }

    let only_host = hosts.len() == 1 && unresolved.is_empty();
    let ctxs: Vec<Ctx<'_>> = hosts
        .iter()
        .map(|h| Ctx {
            client,
            cfg,
            host: h,
            sel: h.matchers(&cfg.job),
            agent: agent_scope(h, cfg, only_host),
            scope: host_scope(h, only_host),
        })
        .collect();
    let per_host = join_all(ctxs.iter().map(|c| c.run())).await;
    for (ctx, outs) in ctxs.iter().zip(per_host) {
        report.results.extend(settle(ctx.name(), outs)?);
    }

    for name in &unresolved {
        let any = HOST_LABELS
            .iter()
            .map(|l| format!("up{{{l}={}}}", lit(name)))
            .collect::<Vec<_>>()
            .join(" or ");
        let jobs = jobs_with_up(client, &any).await?;
        report.push(CheckResult::fail(
            METRICS_UP,
            Some(name),
            format!(
                "no {up_sel} series with instance_id, host or instance = {}{}; its other checks did not run",
                lit(name),
                jobs_note(&jobs)
            ),
            HINT_UP_MISSING,
        ));
    }

    report.results.extend(placeholders());
    Ok(report)
}

async fn jobs_with_up(client: &QueryClient, selector: &str) -> Result<Vec<String>, ChecksError> {
    let r = client
        .instant(&format!("count by (job) ({selector})"), None)
        .await?;
    let mut jobs: Vec<String> = r
        .into_vector()
        .into_iter()
        .filter_map(|s| s.metric.get("job").cloned())
        .collect();
    jobs.sort();
    Ok(jobs)
}

fn jobs_note(jobs: &[String]) -> String {
    match jobs.len() {
        0 => String::new(),
        1 => format!(
            " (up exists for job={}: pass --job {} if that is node_exporter)",
            lit(&jobs[0]),
            jobs[0]
        ),
        _ => format!(
            " (up exists for jobs {}: pass --job if one of them is node_exporter)",
            jobs.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_amp::query::Sample;

    fn up(pairs: &[(&str, &str)], v: f64) -> InstantSample {
        InstantSample {
            metric: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: Sample {
                timestamp: 0.0,
                value: v,
            },
        }
    }

    #[test]
    fn hosts_are_identified_by_instance_id_first() {
        let ups = vec![
            up(
                &[("instance", "127.0.0.1:9100"), ("instance_id", "i-b")],
                1.0,
            ),
            up(
                &[("instance", "127.0.0.1:9100"), ("instance_id", "i-a")],
                1.0,
            ),
            up(&[("instance", "10.0.0.9:9100")], 0.0),
        ];
        let hosts = discover(ups.clone());
        let names: Vec<_> = hosts
            .iter()
            .map(|h| (h.label.as_str(), h.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("instance", "10.0.0.9:9100"),
                ("instance_id", "i-a"),
                ("instance_id", "i-b")
            ]
        );
        let h = resolve("i-a", &ups).unwrap();
        assert_eq!(h.matchers("node"), r#"job="node",instance_id="i-a""#);
        // The shared localhost target matches both hosts.
        assert_eq!(resolve("127.0.0.1:9100", &ups).unwrap().ups.len(), 2);
        assert!(resolve("i-zzz", &ups).is_none());
    }

    #[test]
    fn agent_series_are_joined_on_an_external_label() {
        let cfg = MetricsCheckConfig::default();
        let by_instance = Host {
            name: "127.0.0.1:9100".into(),
            label: "instance".into(),
            value: "127.0.0.1:9100".into(),
            ups: vec![up(
                &[("instance", "127.0.0.1:9100"), ("instance_id", "i-a")],
                1.0,
            )],
        };
        match agent_scope(&by_instance, &cfg, false) {
            AgentScope::Selector(s, _) => assert_eq!(s, r#"job="monitor-agent",instance_id="i-a""#),
            other => panic!("{other:?}"),
        }
        let bare = Host {
            ups: vec![up(&[("instance", "127.0.0.1:9100")], 1.0)],
            ..by_instance
        };
        assert!(matches!(
            agent_scope(&bare, &cfg, true),
            AgentScope::Selector(..)
        ));
        assert!(matches!(
            agent_scope(&bare, &cfg, false),
            AgentScope::Unknown(_)
        ));
    }

    #[test]
    fn literals_are_escaped_and_config_validated() {
        assert_eq!(lit(r#"a"b\c"#), r#""a\"b\\c""#);
        let mut cfg = MetricsCheckConfig::default();
        assert!(cfg.validate().is_ok());
        cfg.expected_labels = vec!["env".into(), "bad-label".into()];
        assert!(cfg.validate().is_err());
        cfg.expected_labels.clear();
        cfg.max_age = Duration::ZERO;
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_age(1.234), "1.2s");
        assert_eq!(fmt_age(-3.0), "0.0s");
        assert_eq!(fmt_age(192.4), "3m 12s");
        assert_eq!(fmt_bytes(16.0 * 1024.0 * 1024.0 * 1024.0), "16.0 GiB");
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(range(Duration::from_secs(600)), "600s");
    }
}
