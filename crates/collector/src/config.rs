//! `monitor-agent` configuration (TOML), validated into a typed model before any I/O.
//!
//! Unknown keys, values of the wrong type, duplicate keys and invalid values are errors
//! that name the file, the line and the dotted key (`scrape[0].timeout`); so is a setting
//! that cannot work (SigV4 over plain `http://` to another host, a zero timeout,
//! `min_backoff > max_backoff`, …). URL passwords never appear in errors or `Debug`
//! output: see [`redacted`].
//!
//! ```
//! let cfg = monitor_collector::config::AgentConfig::from_toml_str(r#"
//! [labels]
//! env = "dev"
//! [[scrape]]
//! job = "node"
//! url = "http://127.0.0.1:9100/metrics"
//! [remote_write]
//! url = "http://127.0.0.1:9090/api/v1/write"
//! "#, "agent.toml").unwrap();
//! assert_eq!(cfg.scrape[0].interval, std::time::Duration::from_secs(15));
//! assert_eq!(cfg.scrape[0].body_size_limit, 64 << 20);
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// A configuration error, naming file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ConfigError {
    /// The file (as given).
    pub file: String,
    /// 1-based line (0 when unknown, e.g. the file could not be read).
    pub line: usize,
    /// The offending key, dotted (e.g. `scrape[0].timeout`); `-` when there is none.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

pub use monitor_amp::redacted;
use monitor_amp::redacted_str;

/// A duration written as a string (`"15s"`, `"1m30s"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string such as \"15s\", \"1m\" or \"500ms\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(s)
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid duration {s:?} ({e}); write e.g. \"15s\", \"1m\", \"500ms\""
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

/// A size in bytes: a string with a unit (`"64MiB"`, `"512KiB"`; `"MB"` is 10⁶ bytes,
/// `"MiB"` 2²⁰) or an integer number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanSize(pub u64);

impl<'de> Deserialize<'de> for HumanSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size such as \"64MiB\" or a number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<HumanSize, E> {
                s.trim()
                    .parse::<bytesize::ByteSize>()
                    .map(|b| HumanSize(b.as_u64()))
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid size {s:?} ({e}); write e.g. \"64MiB\", \"512KiB\""
                        ))
                    })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HumanSize, E> {
                Ok(HumanSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HumanSize, E> {
                u64::try_from(v)
                    .map(HumanSize)
                    .map_err(|_| E::custom(format!("invalid size {v}: must not be negative")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    agent: RawAgent,
    #[serde(default)]
    labels: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    scrape: Vec<RawScrape>,
    remote_write: Spanned<RawRemoteWrite>,
    #[serde(default)]
    queue: RawQueue,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    listen: Option<Spanned<String>>,
    self_metrics: Option<bool>,
    shutdown_timeout: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrape {
    job: Spanned<String>,
    url: Spanned<String>,
    interval: Option<Spanned<HumanDuration>>,
    timeout: Option<Spanned<HumanDuration>>,
    body_size_limit: Option<Spanned<HumanSize>>,
    sample_limit: Option<usize>,
    label_limit: Option<usize>,
    label_name_length_limit: Option<usize>,
    label_value_length_limit: Option<usize>,
    #[serde(default)]
    metric_relabel_configs: Vec<Spanned<RawRelabel>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabel {
    #[serde(default)]
    source_labels: Vec<String>,
    separator: Option<String>,
    regex: Option<String>,
    target_label: Option<String>,
    replacement: Option<String>,
    action: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteWrite {
    url: Spanned<String>,
    sigv4: Option<Spanned<RawSigV4>>,
    timeout: Option<Spanned<HumanDuration>>,
    max_samples_per_send: Option<Spanned<usize>>,
    batch_send_deadline: Option<Spanned<HumanDuration>>,
    max_request_bytes: Option<Spanned<usize>>,
    min_backoff: Option<Spanned<HumanDuration>>,
    max_backoff: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigV4 {
    region: Spanned<String>,
    service: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    max_samples: Option<Spanned<usize>>,
    max_memory: Option<Spanned<HumanSize>>,
    dir: Option<Spanned<String>>,
    max_size: Option<Spanned<HumanSize>>,
    segment_size: Option<Spanned<HumanSize>>,
    fsync: Option<bool>,
}

/// Validated agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Address serving the agent's own metrics (`None` = not served).
    pub listen: Option<SocketAddr>,
    /// Also send the agent's own metrics (job `monitor-agent`) to remote_write.
    pub self_metrics: bool,
    /// How long SIGTERM waits to flush what the agent holds (default 10 s, never zero).
    pub shutdown_timeout: Duration,
    /// External labels added to every series (unless the series already has the label).
    pub labels: BTreeMap<String, String>,
    /// Scrape targets.
    pub scrape: Vec<ScrapeConfig>,
    /// Where samples go.
    pub remote_write: RemoteWriteSettings,
    /// In-memory buffer bound.
    pub queue: QueueSettings,
}

/// Default of [`ScrapeConfig::body_size_limit`]: 64 MiB.
pub const DEFAULT_BODY_SIZE_LIMIT: u64 = 64 << 20;
/// Default of [`ScrapeConfig::sample_limit`].
pub const DEFAULT_SAMPLE_LIMIT: usize = 200_000;
/// Default of [`ScrapeConfig::label_limit`].
pub const DEFAULT_LABEL_LIMIT: usize = 64;
/// Default of [`ScrapeConfig::label_name_length_limit`].
pub const DEFAULT_LABEL_NAME_LENGTH_LIMIT: usize = 1024;
/// Default of [`ScrapeConfig::label_value_length_limit`].
pub const DEFAULT_LABEL_VALUE_LENGTH_LIMIT: usize = 16 * 1024;
/// Default of [`QueueSettings::max_memory_bytes`]: 256 MiB.
pub const DEFAULT_QUEUE_MAX_MEMORY: u64 = 256 << 20;

/// One scrape target.
///
/// The limits have Prometheus's names and semantics: `0` means no limit, and a scrape
/// that exceeds any of them fails as a whole (`up = 0`, nothing of it is stored, the
/// failure is counted and logged). Unlike Prometheus, whose defaults are all `0`, the
/// agent has finite defaults so that one hostile or broken target cannot exhaust the
/// host's memory.
#[derive(Clone, PartialEq)]
pub struct ScrapeConfig {
    /// `job` label.
    pub job: String,
    /// Target URL; `instance` is its `host:port`. Log it with [`redacted`].
    pub url: url::Url,
    /// Scrape interval (default 15 s).
    pub interval: Duration,
    /// Scrape timeout (default 10 s, and always below the interval).
    pub timeout: Duration,
    /// `body_size_limit`: largest response body in bytes, counted on the **decoded**
    /// (uncompressed) body; `0` = no limit. Default [`DEFAULT_BODY_SIZE_LIMIT`] (64 MiB).
    /// TOML: a size string (`"64MiB"`) or a number of bytes.
    pub body_size_limit: u64,
    /// `sample_limit`: most samples one scrape may return (counted before the `up` and
    /// `scrape_*` series are added); `0` = no limit. Default [`DEFAULT_SAMPLE_LIMIT`]
    /// (200,000).
    pub sample_limit: usize,
    /// `label_limit`: most labels one series may have, `__name__` included, counted as
    /// Prometheus does after `job`/`instance` are attached and before the external
    /// `[labels]` are added; `0` = no limit. Default [`DEFAULT_LABEL_LIMIT`] (64).
    pub label_limit: usize,
    /// `label_name_length_limit`: longest label name in bytes; `0` = no limit. Default
    /// [`DEFAULT_LABEL_NAME_LENGTH_LIMIT`] (1,024).
    pub label_name_length_limit: usize,
    /// `label_value_length_limit`: longest label value in bytes (the metric name, i.e.
    /// the value of `__name__`, included); `0` = no limit. Default
    /// [`DEFAULT_LABEL_VALUE_LENGTH_LIMIT`] (16,384).
    pub label_value_length_limit: usize,
    /// `metric_relabel_configs`: rules applied to every scraped series after `job` and
    /// `instance` are attached, before the external labels (see [`crate::relabel`]). The
    /// limits above are checked on the series as scraped, before these rules.
    pub metric_relabel_configs: Vec<crate::relabel::RelabelConfig>,
}

impl std::fmt::Debug for ScrapeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeConfig")
            .field("job", &self.job)
            .field("url", &redacted(&self.url))
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("body_size_limit", &self.body_size_limit)
            .field("sample_limit", &self.sample_limit)
            .field("label_limit", &self.label_limit)
            .field("label_name_length_limit", &self.label_name_length_limit)
            .field("label_value_length_limit", &self.label_value_length_limit)
            .field("metric_relabel_configs", &self.metric_relabel_configs.len())
            .finish()
    }
}

impl ScrapeConfig {
    /// A target with every default of a `[[scrape]]` entry that sets only `job` and
    /// `url` (interval 15 s, timeout 10 s, the default limits). For tests and callers
    /// that build targets in code: `ScrapeConfig { timeout, ..ScrapeConfig::new("node", url) }`.
    pub fn new(job: impl Into<String>, url: url::Url) -> ScrapeConfig {
        ScrapeConfig {
            job: job.into(),
            url,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            body_size_limit: DEFAULT_BODY_SIZE_LIMIT,
            sample_limit: DEFAULT_SAMPLE_LIMIT,
            label_limit: DEFAULT_LABEL_LIMIT,
            label_name_length_limit: DEFAULT_LABEL_NAME_LENGTH_LIMIT,
            label_value_length_limit: DEFAULT_LABEL_VALUE_LENGTH_LIMIT,
            metric_relabel_configs: Vec::new(),
        }
    }

    /// The `instance` label: `host:port` of the URL (default port filled in).
    pub fn instance(&self) -> String {
        let host = self.url.host_str().unwrap_or("");
        match self.url.port_or_known_default() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }
}

/// Remote-write settings.
#[derive(Clone, PartialEq)]
pub struct RemoteWriteSettings {
    /// Endpoint. Log it with [`redacted`].
    pub url: url::Url,
    /// SigV4 `(region, service)`; `None` = unsigned. The service is always `aps`.
    pub sigv4: Option<(String, String)>,
    /// Per-request timeout (default 30 s, never zero).
    pub timeout: Duration,
    /// Samples per request (default 2,000, like Prometheus).
    pub max_samples_per_send: usize,
    /// Longest a sample waits for a batch to fill (default 5 s, never zero).
    pub batch_send_deadline: Duration,
    /// Largest compressed request body (default 1,000,000 bytes, AMP's limit).
    pub max_request_bytes: usize,
    /// First retry delay (default 250 ms, never zero, at most `max_backoff`).
    pub min_backoff: Duration,
    /// Largest retry delay (default 30 s).
    pub max_backoff: Duration,
}

impl std::fmt::Debug for RemoteWriteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteSettings")
            .field("url", &redacted(&self.url))
            .field("sigv4", &self.sigv4)
            .field("timeout", &self.timeout)
            .field("max_samples_per_send", &self.max_samples_per_send)
            .field("batch_send_deadline", &self.batch_send_deadline)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

/// Buffer settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// Samples held in memory at most when `dir` is unset; beyond it the oldest are
    /// dropped and counted (default 500,000 ≈ 80 min of one node_exporter at 15 s).
    pub max_samples: usize,
    /// `[queue] max_memory`: bytes the in-memory buffer may hold (samples with their
    /// labels, as estimated by the buffer), in addition to `max_samples` — whichever is
    /// reached first drops the oldest samples, counted. Default
    /// [`DEFAULT_QUEUE_MAX_MEMORY`] (256 MiB); at least 4 KiB.
    pub max_memory_bytes: u64,
    /// Directory of the durable on-disk queue; `None` = in-memory buffer.
    pub dir: Option<std::path::PathBuf>,
    /// Disk queue size bound (default 512 MiB); oldest segments dropped beyond it.
    pub max_bytes: u64,
    /// Disk queue segment size (default 8 MiB).
    pub segment_bytes: u64,
    /// fsync each record and cursor update (default true; survives power loss).
    pub fsync: bool,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// True for `amazonaws.com` and its subdomains, compared by whole DNS labels:
/// `aps-workspaces.eu-west-1.amazonaws.com.evil.example` and `evilamazonaws.com` are not.
fn is_aws_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("amazonaws.com")
        || host
            .len()
            .checked_sub(".amazonaws.com".len())
            .is_some_and(|i| {
                host.is_char_boundary(i) && host[i..].eq_ignore_ascii_case(".amazonaws.com")
            })
}

/// The region of an AMP endpoint host, `aps-workspaces.<region>.amazonaws.com`; `None`
/// for any other host.
fn amp_region(host: &str) -> Option<&str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let region = host
        .strip_prefix("aps-workspaces.")?
        .strip_suffix(".amazonaws.com")?;
    let ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(region)
}

/// True when the URL's host is a loopback address or `localhost`.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// The only SigV4 service the agent signs for: Amazon Managed Service for Prometheus.
const SIGV4_SERVICES: &[&str] = &[monitor_amp::auth::SigV4::APS];

impl AgentConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 0,
            key: "-".into(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_toml_str(&text, &file)
    }

    /// Parses and validates TOML text; `file` is used in error messages.
    pub fn from_toml_str(text: &str, file: &str) -> Result<AgentConfig, ConfigError> {
        let err = |span: Option<Range<usize>>, key: &str, message: String| ConfigError {
            file: file.to_string(),
            line: span.map(|s| line_of(text, s.start)).unwrap_or(0),
            key: key.to_string(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            let key = match e.span() {
                Some(span) => key_at(text, span, &message),
                None => message.split('`').nth(1).unwrap_or("-").to_string(),
            };
            err(e.span(), &key, message)
        })?;
        let positive_duration = |v: &Option<Spanned<HumanDuration>>,
                                 key: &str,
                                 default: Duration|
         -> Result<Duration, ConfigError> {
            match v {
                None => Ok(default),
                Some(d) if d.get_ref().0.is_zero() => {
                    Err(err(Some(d.span()), key, "must be greater than zero".into()))
                }
                Some(d) => Ok(d.get_ref().0),
            }
        };

        let listen = match &raw.agent.listen {
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9465))),
            Some(s) if s.get_ref().is_empty() => None,
            Some(s) => Some(s.get_ref().parse().map_err(|e| {
                err(
                    Some(s.span()),
                    "agent.listen",
                    format!(
                        "{e}; expected host:port such as \"127.0.0.1:9465\", or \"\" to disable"
                    ),
                )
            })?),
        };
        let shutdown_timeout = positive_duration(
            &raw.agent.shutdown_timeout,
            "agent.shutdown_timeout",
            Duration::from_secs(10),
        )?;

        let mut labels = BTreeMap::new();
        for (k, v) in &raw.labels {
            let name = k.get_ref();
            if monitor_amp::LabelName::of(name) != monitor_amp::LabelName::User {
                return Err(err(
                    Some(k.span()),
                    &format!("labels.{name}"),
                    "invalid label name: use [a-zA-Z_][a-zA-Z0-9_]* not starting with __".into(),
                ));
            }
            if v.is_empty() {
                return Err(err(Some(k.span()), &format!("labels.{name}"), "empty label value (an empty value means the label is absent; remove the key instead)".into()));
            }
            labels.insert(name.clone(), v.clone());
        }

        let mut scrape = Vec::new();
        for (i, s) in raw.scrape.iter().enumerate() {
            let key = |f: &str| format!("scrape[{i}].{f}");
            if s.job.get_ref().is_empty() {
                return Err(err(
                    Some(s.job.span()),
                    &key("job"),
                    "must not be empty".into(),
                ));
            }
            let url = parse_http_url(s.url.get_ref())
                .map_err(|m| err(Some(s.url.span()), &key("url"), m))?;
            let interval =
                positive_duration(&s.interval, &key("interval"), Duration::from_secs(15))?;
            let timeout = match &s.timeout {
                Some(t) => {
                    if t.get_ref().0 >= interval || t.get_ref().0.is_zero() {
                        return Err(err(
                            Some(t.span()),
                            &key("timeout"),
                            format!(
                                "must be greater than zero and less than the interval ({})",
                                humantime::format_duration(interval)
                            ),
                        ));
                    }
                    t.get_ref().0
                }
                // Default like Prometheus: 10 s, but never reaching the interval.
                None => Duration::from_secs(10).min(interval.mul_f64(0.8)),
            };
            if scrape
                .iter()
                .any(|o: &ScrapeConfig| o.job == *s.job.get_ref() && o.url == url)
            {
                return Err(err(
                    Some(s.url.span()),
                    &key("url"),
                    "duplicate target (same job and url)".into(),
                ));
            }
            let mut metric_relabel_configs = Vec::new();
            for (j, r) in s.metric_relabel_configs.iter().enumerate() {
                let rkey = key(&format!("metric_relabel_configs[{j}]"));
                let raw_rule = r.get_ref();
                let action = match raw_rule.action.as_deref() {
                    None => crate::relabel::Action::Replace,
                    Some(a) => crate::relabel::Action::parse(a).ok_or_else(|| {
                        err(
                            Some(r.span()),
                            &format!("{rkey}.action"),
                            format!("unknown action {a:?}; expected replace, keep, drop, labeldrop or labelkeep"),
                        )
                    })?,
                };
                let rule = crate::relabel::RelabelConfig::new(
                    action,
                    raw_rule.source_labels.clone(),
                    raw_rule.separator.clone(),
                    raw_rule.regex.as_deref(),
                    raw_rule.target_label.clone(),
                    raw_rule.replacement.clone(),
                )
                .map_err(|m| {
                    let field = if m.contains("regex") {
                        "regex"
                    } else {
                        "action"
                    };
                    err(Some(r.span()), &format!("{rkey}.{field}"), m)
                })?;
                metric_relabel_configs.push(rule);
            }
            scrape.push(ScrapeConfig {
                metric_relabel_configs,
                job: s.job.get_ref().clone(),
                url,
                interval,
                timeout,
                body_size_limit: s
                    .body_size_limit
                    .as_ref()
                    .map_or(DEFAULT_BODY_SIZE_LIMIT, |b| b.get_ref().0),
                sample_limit: s.sample_limit.unwrap_or(DEFAULT_SAMPLE_LIMIT),
                label_limit: s.label_limit.unwrap_or(DEFAULT_LABEL_LIMIT),
                label_name_length_limit: s
                    .label_name_length_limit
                    .unwrap_or(DEFAULT_LABEL_NAME_LENGTH_LIMIT),
                label_value_length_limit: s
                    .label_value_length_limit
                    .unwrap_or(DEFAULT_LABEL_VALUE_LENGTH_LIMIT),
            });
        }

        let rw_span = raw.remote_write.span();
        let rw = raw.remote_write.get_ref();
        let url = parse_http_url(rw.url.get_ref())
            .map_err(|m| err(Some(rw.url.span()), "remote_write.url", m))?;
        let host = url.host_str().unwrap_or("");
        let aws = is_aws_host(host);
        if aws && url.scheme() != "https" {
            return Err(err(
                Some(rw.url.span()),
                "remote_write.url",
                format!("{}: AWS endpoints need https://", redacted(&url)),
            ));
        }
        let sigv4 = match &rw.sigv4 {
            None => None,
            Some(sig) => {
                let s = sig.get_ref();
                let r = s.region.get_ref();
                if r.is_empty()
                    || !r
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    return Err(err(
                        Some(s.region.span()),
                        "remote_write.sigv4.region",
                        format!("invalid region {r:?}; expected e.g. \"eu-west-1\""),
                    ));
                }
                let service = match &s.service {
                    None => monitor_amp::auth::SigV4::APS.to_string(),
                    Some(svc) if SIGV4_SERVICES.contains(&svc.get_ref().as_str()) => {
                        svc.get_ref().clone()
                    }
                    Some(svc) => {
                        return Err(err(
                            Some(svc.span()),
                            "remote_write.sigv4.service",
                            format!(
                                "unsupported SigV4 service {:?}; the agent signs for {} \
                                 (Amazon Managed Service for Prometheus) only — omit the key",
                                svc.get_ref(),
                                SIGV4_SERVICES
                                    .iter()
                                    .map(|s| format!("\"{s}\""))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ))
                    }
                };
                if let Some(endpoint_region) = amp_region(host) {
                    if endpoint_region != r {
                        return Err(err(
                            Some(s.region.span()),
                            "remote_write.sigv4.region",
                            format!(
                                "{r:?} but the endpoint {host} is in {endpoint_region:?}; \
                                 AMP would reject the signature"
                            ),
                        ));
                    }
                }
                if !is_loopback(&url) {
                    if url.scheme() != "https" {
                        return Err(err(
                            Some(sig.span()),
                            "remote_write.sigv4",
                            format!(
                                "SigV4 over plain http:// to {host} would send the signed \
                                 bodies and the AWS session token in cleartext; use https:// \
                                 (plain http is accepted for a loopback proxy only)"
                            ),
                        ));
                    }
                    if !aws {
                        return Err(err(
                            Some(sig.span()),
                            "remote_write.sigv4",
                            format!(
                                "{host} is not an AWS endpoint (*.amazonaws.com, matched by \
                                 whole DNS labels); signing would hand it the AWS session \
                                 token. SigV4 is for AMP \
                                 (https://aps-workspaces.<region>.amazonaws.com/…) or a \
                                 loopback proxy"
                            ),
                        ));
                    }
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(err(
                        Some(rw.url.span()),
                        "remote_write.url",
                        format!(
                            "{}: user info (basic auth) and sigv4 cannot both authenticate \
                             one request; remove one",
                            redacted(&url)
                        ),
                    ));
                }
                Some((r.clone(), service))
            }
        };
        if sigv4.is_none() && aws {
            return Err(err(
                Some(rw.url.span()),
                "remote_write.sigv4",
                "an AWS endpoint needs SigV4: add sigv4 = { region = \"<region>\" }".into(),
            ));
        }
        let positive =
            |v: &Option<Spanned<usize>>, k: &str, d: usize| -> Result<usize, ConfigError> {
                match v {
                    None => Ok(d),
                    Some(x) if *x.get_ref() == 0 => {
                        Err(err(Some(x.span()), k, "must be greater than zero".into()))
                    }
                    Some(x) => Ok(*x.get_ref()),
                }
            };
        let min_backoff = positive_duration(
            &rw.min_backoff,
            "remote_write.min_backoff",
            Duration::from_millis(250),
        )?;
        let max_backoff = positive_duration(
            &rw.max_backoff,
            "remote_write.max_backoff",
            Duration::from_secs(30),
        )?;
        if min_backoff > max_backoff {
            let (span, key) = match (&rw.min_backoff, &rw.max_backoff) {
                (Some(m), _) => (m.span(), "remote_write.min_backoff"),
                (None, Some(m)) => (m.span(), "remote_write.max_backoff"),
                (None, None) => (rw_span, "remote_write.min_backoff"),
            };
            return Err(err(
                Some(span),
                key,
                format!(
                    "min_backoff ({}) must not exceed max_backoff ({})",
                    humantime::format_duration(min_backoff),
                    humantime::format_duration(max_backoff)
                ),
            ));
        }
        let remote_write = RemoteWriteSettings {
            url,
            sigv4,
            timeout: positive_duration(
                &rw.timeout,
                "remote_write.timeout",
                Duration::from_secs(30),
            )?,
            max_samples_per_send: positive(
                &rw.max_samples_per_send,
                "remote_write.max_samples_per_send",
                2000,
            )?,
            batch_send_deadline: positive_duration(
                &rw.batch_send_deadline,
                "remote_write.batch_send_deadline",
                Duration::from_secs(5),
            )?,
            max_request_bytes: positive(
                &rw.max_request_bytes,
                "remote_write.max_request_bytes",
                1_000_000,
            )?,
            min_backoff,
            max_backoff,
        };
        let size = |v: &Option<Spanned<HumanSize>>, k: &str, d: u64| -> Result<u64, ConfigError> {
            match v {
                None => Ok(d),
                Some(x) if x.get_ref().0 >= 4096 => Ok(x.get_ref().0),
                Some(x) => Err(err(Some(x.span()), k, "must be at least 4KiB".into())),
            }
        };
        let queue = QueueSettings {
            max_samples: positive(&raw.queue.max_samples, "queue.max_samples", 500_000)?,
            max_memory_bytes: size(
                &raw.queue.max_memory,
                "queue.max_memory",
                DEFAULT_QUEUE_MAX_MEMORY,
            )?,
            dir: match &raw.queue.dir {
                None => None,
                Some(d) if d.get_ref().is_empty() => {
                    return Err(err(
                        Some(d.span()),
                        "queue.dir",
                        "must not be empty (omit it for the in-memory buffer)".into(),
                    ))
                }
                Some(d) => Some(std::path::PathBuf::from(d.get_ref())),
            },
            max_bytes: size(&raw.queue.max_size, "queue.max_size", 512 << 20)?,
            segment_bytes: size(&raw.queue.segment_size, "queue.segment_size", 8 << 20)?,
            fsync: raw.queue.fsync.unwrap_or(true),
        };
        if queue.segment_bytes > queue.max_bytes {
            let sp = raw.queue.segment_size.as_ref().map(|s| s.span());
            return Err(err(
                sp,
                "queue.segment_size",
                "must not exceed queue.max_size".into(),
            ));
        }
        Ok(AgentConfig {
            listen,
            self_metrics: raw.agent.self_metrics.unwrap_or(true),
            shutdown_timeout,
            labels,
            scrape,
            remote_write,
            queue,
        })
    }
}

fn parse_http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("invalid URL {:?}: {e}", redacted_str(s)))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!(
            "invalid URL {:?}: expected http(s)://host[:port]/path",
            redacted(&u)
        ));
    }
    Ok(u)
}

/// One key/value of the parsed document, for naming the key of a serde or TOML error.
struct Node {
    path: String,
    key: Range<usize>,
    value: Range<usize>,
    /// A `[table]` / `[[array]]` header (its value span is the header text only).
    header: bool,
    table: bool,
}

fn collect_nodes(table: &toml::de::DeTable<'_>, prefix: &str, text: &str, out: &mut Vec<Node>) {
    for (k, v) in table.iter() {
        let path = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        collect_value(v, path, k.span(), text, out);
    }
}

fn collect_value(
    v: &Spanned<toml::de::DeValue<'_>>,
    path: String,
    key: Range<usize>,
    text: &str,
    out: &mut Vec<Node>,
) {
    use toml::de::DeValue;
    let value = v.span();
    let header = text.get(value.clone()).is_some_and(|t| t.starts_with('['));
    match v.get_ref() {
        DeValue::Table(t) => {
            out.push(Node {
                path: path.clone(),
                key,
                value,
                header,
                table: true,
            });
            collect_nodes(t, &path, text, out);
        }
        DeValue::Array(a) => {
            out.push(Node {
                path: path.clone(),
                key: key.clone(),
                value,
                header: false,
                table: false,
            });
            for (i, item) in a.iter().enumerate() {
                collect_value(item, format!("{path}[{i}]"), key.clone(), text, out);
            }
        }
        _ => out.push(Node {
            path,
            key,
            value,
            header: false,
            table: false,
        }),
    }
}

/// The dotted key (`scrape[1].interval`, `remote_write.sigv4.region`) a TOML or serde
/// error at `span` is about: found in the document's own parse tree (which survives
/// duplicate keys and most syntax errors), else from the source line.
fn key_at(text: &str, span: Range<usize>, message: &str) -> String {
    let key = find_key(text, span, message);
    if key.is_empty() {
        "-".to_string()
    } else {
        key
    }
}

fn find_key(text: &str, span: Range<usize>, message: &str) -> String {
    let (root, _) = toml::de::DeTable::parse_recoverable(text);
    let mut nodes = Vec::new();
    collect_nodes(root.get_ref(), "", text, &mut nodes);
    let join = |prefix: &str, k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_string);

    // `missing field `x``: reported on the table that lacks it (or the whole document).
    if message.starts_with("missing field") {
        let field = quoted(message).unwrap_or_default();
        let table = nodes
            .iter()
            .rev()
            .find(|n| n.table && n.value == span)
            .map_or("", |n| n.path.as_str());
        return join(table, &field);
    }
    // Unknown field, duplicate table: the error is on a key the tree holds.
    if let Some(n) = nodes.iter().find(|n| n.key == span) {
        return n.path.clone();
    }
    let key_text = text.get(span.clone()).unwrap_or("").trim().to_string();
    // A value (or a key inside an inline table): the innermost node around the span.
    let inner = nodes
        .iter()
        .filter(|n| n.value.start <= span.start && span.end <= n.value.end && !n.header)
        .min_by_key(|n| n.value.len());
    if let Some(n) = inner {
        let is_key_in_table = n.table && n.value != span && !key_text.is_empty();
        return if is_key_in_table {
            join(&n.path, &key_text)
        } else {
            n.path.clone()
        };
    }
    // A key the tree does not hold (a duplicate): the last table header before it, and
    // the key as written on its line (`a.b = …` keeps its dots).
    let header = nodes
        .iter()
        .filter(|n| n.header && n.value.end <= span.start)
        .max_by_key(|n| n.value.start)
        // (`[[scrape]]` headers are the elements `scrape[i]`: the array has no header.)
        .map_or(String::new(), |n| n.path.clone());
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let written = match line.split_once('=') {
        Some((k, _)) if line_start + k.len() >= span.end => {
            k.split('.').map(str::trim).collect::<Vec<_>>().join(".")
        }
        _ => key_text,
    };
    if written.is_empty() {
        header
    } else {
        join(&header, &written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[labels]
env = "dev"
role = "web"

[[scrape]]
job = "node"
url = "http://127.0.0.1:9100/metrics"
interval = "15s"
timeout = "10s"

[remote_write]
url = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
sigv4 = { region = "eu-west-1" }
"#;

    /// Two targets, unsigned local receiver: for errors in the second `[[scrape]]`.
    const TWO: &str = r#"[[scrape]]
job = "node"
url = "http://127.0.0.1:9100/metrics"

[[scrape]]
job = "app"
url = "http://127.0.0.1:8080/metrics"
interval = "30s"

[remote_write]
url = "http://127.0.0.1:9090/api/v1/write"
"#;

    #[test]
    fn parses_the_documented_shape() {
        let c = AgentConfig::from_toml_str(GOOD, "a.toml").unwrap();
        assert_eq!(c.labels["env"], "dev");
        assert_eq!(c.scrape[0].instance(), "127.0.0.1:9100");
        assert_eq!(c.scrape[0].timeout, Duration::from_secs(10));
        assert_eq!(
            c.remote_write.sigv4,
            Some(("eu-west-1".into(), "aps".into()))
        );
        assert_eq!(c.listen, Some("127.0.0.1:9465".parse().unwrap()));
        assert!(c.self_metrics);
    }

    fn fails(text: &str) -> ConfigError {
        AgentConfig::from_toml_str(text, "agent.toml").unwrap_err()
    }

    fn ok(text: &str) -> AgentConfig {
        AgentConfig::from_toml_str(text, "agent.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn metric_relabel_configs_load_and_a_bad_rule_names_its_line_and_key() {
        let rules = "\n[[scrape.metric_relabel_configs]]\nsource_labels = [\"__name__\"]\nregex = \"node_(cpu|load1).*\"\naction = \"keep\"\n\
                     [[scrape.metric_relabel_configs]]\nregex = \"mode\"\naction = \"labeldrop\"\n";
        let with =
            |rules: &str| GOOD.replace("\n[remote_write]", &format!("{rules}\n[remote_write]"));
        let c = ok(&with(rules));
        let r = &c.scrape[0].metric_relabel_configs;
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].action, crate::relabel::Action::Keep);
        assert_eq!(r[1].regex_text, "mode");
        assert!(ok(GOOD).scrape[0].metric_relabel_configs.is_empty());

        let e = fails(&with(&rules.replace("node_(cpu|load1).*", "node_(cpu")));
        assert_eq!(e.key, "scrape[0].metric_relabel_configs[0].regex", "{e}");
        assert!(e.message.contains("invalid regex"), "{e}");
        assert!(e.line > 9, "points at the rule: {e}");
        let e = fails(&with(&rules.replace("\"labeldrop\"", "\"hashmod\"")));
        assert_eq!(e.key, "scrape[0].metric_relabel_configs[1].action", "{e}");
        let e = fails(&with(
            &rules.replace("action = \"keep\"", "action = \"replace\""),
        ));
        assert!(e.message.contains("needs target_label"), "{e}");
        let e = fails(&with(
            &rules.replace("regex = \"mode\"", "regexp = \"mode\""),
        ));
        assert!(e.key.ends_with("regexp"), "unknown keys are refused: {e}");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = fails(&GOOD.replace("interval = \"15s\"", "intervall = \"15s\""));
        assert_eq!(e.file, "agent.toml");
        assert_eq!(e.line, 9);
        assert_eq!(e.key, "scrape[0].intervall");
        assert!(
            e.to_string()
                .starts_with("agent.toml:9: scrape[0].intervall: unknown field"),
            "{e}"
        );
        let e = fails(&GOOD.replace("[labels]", "[label]"));
        assert_eq!((e.line, e.key.as_str()), (2, "label"));
        let e = fails(&GOOD.replace(
            "region = \"eu-west-1\" }",
            "region = \"eu-west-1\", x = 1 }",
        ));
        assert_eq!((e.line, e.key.as_str()), (14, "remote_write.sigv4.x"));
    }

    #[test]
    fn type_errors_name_the_dotted_key_and_its_line() {
        let e = fails(&GOOD.replace("interval = \"15s\"", "interval = 15"));
        assert_eq!((e.line, e.key.as_str()), (9, "scrape[0].interval"), "{e}");
        assert!(e.message.contains("expected a duration string"), "{e}");
        assert!(
            e.to_string()
                .starts_with("agent.toml:9: scrape[0].interval: invalid type: integer `15`"),
            "{e}"
        );
        // The second target: the index is the target's.
        let e = fails(&TWO.replace("interval = \"30s\"", "interval = true"));
        assert_eq!((e.line, e.key.as_str()), (8, "scrape[1].interval"), "{e}");
        let e = fails(&GOOD.replace("region = \"eu-west-1\"", "region = 1"));
        assert_eq!((e.line, e.key.as_str()), (14, "remote_write.sigv4.region"));
        let e = fails(&GOOD.replace("role = \"web\"", "role = 5"));
        assert_eq!((e.line, e.key.as_str()), (4, "labels.role"));
        let e = fails(&format!("{TWO}\n[queue]\nmax_samples = -1\n"));
        assert_eq!((e.line, e.key.as_str()), (14, "queue.max_samples"), "{e}");
        let e = fails(&format!("{TWO}\n[queue]\nmax_size = \"lots\"\n"));
        assert_eq!((e.line, e.key.as_str()), (14, "queue.max_size"), "{e}");
        assert!(e.message.contains("invalid size"), "{e}");
        let e = fails("scrape = 5\n[remote_write]\nurl = \"http://127.0.0.1:1/w\"\n");
        assert_eq!((e.line, e.key.as_str()), (1, "scrape"));
    }

    #[test]
    fn missing_keys_are_named_with_their_table() {
        let e = fails(&TWO.replace("job = \"app\"\n", ""));
        assert_eq!((e.line, e.key.as_str()), (5, "scrape[1].job"), "{e}");
        let e = fails(&GOOD.replace("{ region = \"eu-west-1\" }", "{ }"));
        assert_eq!((e.line, e.key.as_str()), (14, "remote_write.sigv4.region"));
        let e = fails("[labels]\nenv = \"x\"\n");
        assert_eq!(e.key, "remote_write");
        assert!(e.message.contains("remote_write"), "{e}");
    }

    #[test]
    fn duplicate_keys_name_the_dotted_key_and_the_duplicate_line() {
        let e = fails(&GOOD.replace("timeout = \"10s\"", "timeout = \"10s\"\ntimeout = \"5s\""));
        assert_eq!((e.line, e.key.as_str()), (11, "scrape[0].timeout"), "{e}");
        assert!(e.message.contains("duplicate key"), "{e}");
        let e = fails(&TWO.replace("interval = \"30s\"", "interval = \"30s\"\njob = \"x\""));
        assert_eq!((e.line, e.key.as_str()), (9, "scrape[1].job"), "{e}");
        let e = fails(&GOOD.replace("role = \"web\"", "role = \"web\"\nenv = \"prod\""));
        assert_eq!((e.line, e.key.as_str()), (5, "labels.env"), "{e}");
        let e = fails(&format!(
            "{TWO}[remote_write]\nurl = \"http://127.0.0.1:1/w\"\n"
        ));
        assert_eq!((e.line, e.key.as_str()), (12, "remote_write"), "{e}");
        let e = fails(&GOOD.replace(
            "{ region = \"eu-west-1\" }",
            "{ region = \"eu-west-1\", region = \"us-east-1\" }",
        ));
        assert_eq!((e.line, e.key.as_str()), (14, "remote_write.sigv4.region"));
        let e = fails(&format!(
            "{TWO}sigv4.region = \"eu-west-1\"\nsigv4.region = \"eu-west-2\"\n"
        ));
        assert_eq!((e.line, e.key.as_str()), (13, "remote_write.sigv4.region"));
    }

    #[test]
    fn syntax_errors_name_the_key_of_their_line() {
        let e = fails(&TWO.replace("interval = \"30s\"", "interval = 30s"));
        assert_eq!((e.line, e.key.as_str()), (8, "scrape[1].interval"), "{e}");
    }

    #[test]
    fn invalid_values_name_line_and_key() {
        let e = fails(&GOOD.replace("timeout = \"10s\"", "timeout = \"20s\""));
        assert_eq!((e.line, e.key.as_str()), (10, "scrape[0].timeout"));
        let e = fails(&GOOD.replace("interval = \"15s\"", "interval = \"soon\""));
        assert_eq!((e.line, e.key.as_str()), (9, "scrape[0].interval"));
        assert!(e.message.contains("invalid duration"), "{e}");
        let e = fails(&GOOD.replace("http://127.0.0.1:9100/metrics", "ftp://x"));
        assert_eq!((e.line, e.key.as_str()), (8, "scrape[0].url"));
        let e = fails(&GOOD.replace("role = \"web\"", "__role = \"web\""));
        assert_eq!((e.line, e.key.as_str()), (4, "labels.__role"));
        let e = fails(&GOOD.replace("sigv4 = { region = \"eu-west-1\" }", ""));
        assert_eq!(e.key, "remote_write.sigv4");
        let e = fails(&GOOD.replace("eu-west-1\" }", "EU WEST\" }"));
        assert_eq!((e.line, e.key.as_str()), (14, "remote_write.sigv4.region"));
    }

    #[test]
    fn zero_timeouts_and_intervals_are_rejected() {
        for (from, to, line, key) in [
            (
                "timeout = \"10s\"",
                "timeout = \"0s\"",
                10,
                "scrape[0].timeout",
            ),
            (
                "interval = \"15s\"",
                "interval = \"0s\"",
                9,
                "scrape[0].interval",
            ),
        ] {
            let e = fails(&GOOD.replace(from, to));
            assert_eq!((e.line, e.key.as_str()), (line, key), "{e}");
            assert!(e.message.contains("greater than zero"), "{e}");
        }
        for k in [
            "timeout",
            "batch_send_deadline",
            "min_backoff",
            "max_backoff",
        ] {
            let e = fails(&format!("{TWO}{k} = \"0s\"\n"));
            assert_eq!(
                (e.line, e.key.as_str()),
                (12, format!("remote_write.{k}").as_str()),
                "{e}"
            );
            assert!(e.message.contains("greater than zero"), "{e}");
        }
        let e = fails(&format!("[agent]\nshutdown_timeout = \"0ms\"\n{TWO}"));
        assert_eq!((e.line, e.key.as_str()), (2, "agent.shutdown_timeout"));
    }

    #[test]
    fn min_backoff_above_max_backoff_is_rejected() {
        let e = fails(&format!(
            "{TWO}min_backoff = \"5s\"\nmax_backoff = \"1s\"\n"
        ));
        assert_eq!((e.line, e.key.as_str()), (12, "remote_write.min_backoff"));
        assert!(
            e.message.contains("must not exceed max_backoff (1s)"),
            "{e}"
        );
        // Against the default max_backoff (30 s), too.
        let e = fails(&format!("{TWO}min_backoff = \"1m\"\n"));
        assert_eq!((e.line, e.key.as_str()), (12, "remote_write.min_backoff"));
        let e = fails(&format!("{TWO}max_backoff = \"100ms\"\n"));
        assert_eq!((e.line, e.key.as_str()), (12, "remote_write.max_backoff"));
        let c = ok(&format!(
            "{TWO}min_backoff = \"1s\"\nmax_backoff = \"1s\"\n"
        ));
        assert_eq!(c.remote_write.min_backoff, c.remote_write.max_backoff);
    }

    #[test]
    fn sigv4_over_plain_http_needs_a_loopback_host() {
        let signed = |url: &str| {
            format!("[remote_write]\nurl = \"{url}\"\nsigv4 = {{ region = \"eu-west-1\" }}\n")
        };
        let e = fails(&signed("http://prom.internal:9090/api/v1/write"));
        assert_eq!((e.line, e.key.as_str()), (3, "remote_write.sigv4"), "{e}");
        assert!(e.message.contains("cleartext"), "{e}");
        let e = fails(&signed("http://10.0.0.5:9090/api/v1/write"));
        assert!(e.message.contains("cleartext"), "{e}");
        for local in [
            "http://127.0.0.1:9090/api/v1/write",
            "http://127.10.0.1:9090/api/v1/write",
            "http://[::1]:9090/api/v1/write",
            "http://localhost:9090/api/v1/write",
        ] {
            let c = ok(&signed(local));
            assert!(c.remote_write.sigv4.is_some(), "{local}");
        }
        // AWS over http is refused whether signed or not.
        let e = fails(&signed(
            "http://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
        ));
        assert_eq!((e.line, e.key.as_str()), (2, "remote_write.url"));
        assert!(e.message.contains("https"), "{e}");
    }

    #[test]
    fn only_the_aps_sigv4_service_is_accepted() {
        let e = fails(&GOOD.replace(
            "{ region = \"eu-west-1\" }",
            "{ region = \"eu-west-1\", service = \"s3\" }",
        ));
        assert_eq!((e.line, e.key.as_str()), (14, "remote_write.sigv4.service"));
        assert!(e.message.contains("\"aps\""), "{e}");
        let c = ok(&GOOD.replace(
            "{ region = \"eu-west-1\" }",
            "{ region = \"eu-west-1\", service = \"aps\" }",
        ));
        assert_eq!(
            c.remote_write.sigv4,
            Some(("eu-west-1".into(), "aps".into()))
        );
    }

    #[test]
    fn aws_hosts_are_matched_by_whole_dns_labels() {
        assert!(is_aws_host("aps-workspaces.eu-west-1.amazonaws.com"));
        assert!(is_aws_host("aps-workspaces.eu-west-1.amazonaws.com."));
        assert!(is_aws_host(
            "vpce-1.aps-workspaces.eu-west-1.vpce.amazonaws.com"
        ));
        assert!(is_aws_host("AMAZONAWS.COM"));
        assert!(!is_aws_host(
            "aps-workspaces.eu-west-1.amazonaws.com.evil.example"
        ));
        assert!(!is_aws_host("evilamazonaws.com"));
        assert!(!is_aws_host("amazonaws.com.evil.example"));
        assert_eq!(
            amp_region("aps-workspaces.ap-south-2.amazonaws.com"),
            Some("ap-south-2")
        );
        assert_eq!(
            amp_region("aps-workspaces.eu-west-1.amazonaws.com.evil.example"),
            None
        );
        assert_eq!(
            amp_region("evil-aps-workspaces.eu-west-1.amazonaws.com"),
            None
        );
        assert_eq!(amp_region("aps-workspaces.a.b.amazonaws.com"), None);
        assert_eq!(amp_region("example.amazonaws.com"), None);

        // A look-alike is not AWS: no SigV4 demanded, and none handed to it.
        for evil in [
            "https://aps-workspaces.eu-west-1.amazonaws.com.evil.example/workspaces/ws-1/api/v1/remote_write",
            "https://evilamazonaws.com/api/v1/write",
        ] {
            let unsigned = format!("[remote_write]\nurl = \"{evil}\"\n");
            assert!(ok(&unsigned).remote_write.sigv4.is_none());
            let e = fails(&format!("{unsigned}sigv4 = {{ region = \"eu-west-1\" }}\n"));
            assert_eq!((e.line, e.key.as_str()), (3, "remote_write.sigv4"), "{e}");
            assert!(e.message.contains("not an AWS endpoint"), "{e}");
        }
        // The real thing still needs SigV4, and the region of its host.
        let e = fails(&GOOD.replace("sigv4 = { region = \"eu-west-1\" }", ""));
        assert_eq!((e.line, e.key.as_str()), (13, "remote_write.sigv4"));
        let e = fails(&GOOD.replace("{ region = \"eu-west-1\" }", "{ region = \"us-east-1\" }"));
        assert_eq!((e.line, e.key.as_str()), (14, "remote_write.sigv4.region"));
        assert!(e.message.contains("\"eu-west-1\""), "{e}");
    }

    #[test]
    fn url_passwords_never_reach_errors_or_debug_output() {
        let u = url::Url::parse("http://user:s3cret@example.com/metrics").unwrap();
        assert_eq!(redacted(&u), "http://user:xxxxx@example.com/metrics");
        let u = url::Url::parse("http://token@example.com/").unwrap();
        assert_eq!(redacted(&u), "http://token@example.com/");
        assert_eq!(
            redacted_str("http://user:s3cret@exa mple.com/x"),
            "http://user:xxxxx@exa mple.com/x"
        );
        assert_eq!(redacted_str("not a url"), "not a url");
        assert_eq!(redacted_str("http-//u:p@h/x"), "http-//u:xxxxx@h/x");
        assert_eq!(redacted_str("http://u:pa/ss@h"), "http://u:xxxxx@h");
        assert_eq!(redacted_str("http://u@exa mple"), "http://u@exa mple");

        // Errors quoting the URL.
        let e = fails(&TWO.replace(
            "http://127.0.0.1:8080/metrics",
            "http://user:s3cret@exa mple.com/metrics",
        ));
        assert_eq!(e.key, "scrape[1].url");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("user:xxxxx@"), "{e}");
        let e = fails(&TWO.replace(
            "http://127.0.0.1:8080/metrics",
            "ftp://user:s3cret@example.com/metrics",
        ));
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = fails(
            "[remote_write]\nurl = \"http://user:s3cret@aps-workspaces.eu-west-1.amazonaws.com/w\"\n",
        );
        assert!(!e.to_string().contains("s3cret"), "{e}");

        // Debug of the whole config.
        let c = ok(&TWO
            .replace(
                "http://127.0.0.1:8080/metrics",
                "http://scraper:s3cret@127.0.0.1:8080/metrics",
            )
            .replace(
                "http://127.0.0.1:9090/api/v1/write",
                "https://writer:t0ken@example.com/api/v1/write",
            ));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("t0ken"), "{dbg}");
        assert!(dbg.contains("scraper:xxxxx@127.0.0.1:8080"), "{dbg}");
        // The URL itself keeps its credentials: the HTTP client needs them.
        assert_eq!(c.scrape[1].url.password(), Some("s3cret"));
    }

    #[test]
    fn sigv4_and_url_userinfo_are_exclusive() {
        let e = fails(&GOOD.replace("https://aps-", "https://u:p@aps-"));
        assert_eq!((e.line, e.key.as_str()), (13, "remote_write.url"));
        assert!(!e.message.contains(":p@"), "{e}");
    }

    #[test]
    fn scrape_limits_default_to_finite_values() {
        let s = &ok(GOOD).scrape[0];
        assert_eq!(*s, ScrapeConfig::new("node", s.url.clone()));
        assert_eq!(s.body_size_limit, 64 * 1024 * 1024);
        assert_eq!(s.sample_limit, 200_000);
        assert_eq!(s.label_limit, 64);
        assert_eq!(s.label_name_length_limit, 1024);
        assert_eq!(s.label_value_length_limit, 16_384);
        let q = ok(GOOD).queue;
        assert_eq!(q.max_memory_bytes, 256 * 1024 * 1024);
    }

    #[test]
    fn scrape_limits_parse_and_zero_means_unlimited() {
        let c = ok(&TWO.replace(
            "interval = \"30s\"",
            "interval = \"30s\"\nbody_size_limit = \"10MiB\"\nsample_limit = 5000\n\
             label_limit = 30\nlabel_name_length_limit = 200\nlabel_value_length_limit = 2048",
        ));
        let s = &c.scrape[1];
        assert_eq!(s.body_size_limit, 10 << 20);
        assert_eq!(
            (
                s.sample_limit,
                s.label_limit,
                s.label_name_length_limit,
                s.label_value_length_limit
            ),
            (5000, 30, 200, 2048)
        );
        // The first target keeps the defaults.
        assert_eq!(c.scrape[0].sample_limit, DEFAULT_SAMPLE_LIMIT);

        let c = ok(&TWO.replace(
            "interval = \"30s\"",
            "body_size_limit = 0\nsample_limit = 0\nlabel_limit = 0\n\
             label_name_length_limit = 0\nlabel_value_length_limit = 0",
        ));
        let s = &c.scrape[1];
        assert_eq!(
            (
                s.body_size_limit,
                s.sample_limit,
                s.label_limit,
                s.label_name_length_limit,
                s.label_value_length_limit
            ),
            (0, 0, 0, 0, 0)
        );
        // A plain number of bytes; "MB" is decimal.
        let c = ok(&TWO.replace("interval = \"30s\"", "body_size_limit = 1048576"));
        assert_eq!(c.scrape[1].body_size_limit, 1 << 20);
        let c = ok(&TWO.replace("interval = \"30s\"", "body_size_limit = \"64MB\""));
        assert_eq!(c.scrape[1].body_size_limit, 64_000_000);

        let e = fails(&TWO.replace("interval = \"30s\"", "body_size_limit = \"big\""));
        assert_eq!((e.line, e.key.as_str()), (8, "scrape[1].body_size_limit"));
        let e = fails(&TWO.replace("interval = \"30s\"", "body_size_limit = -1"));
        assert_eq!((e.line, e.key.as_str()), (8, "scrape[1].body_size_limit"));
        let e = fails(&TWO.replace("interval = \"30s\"", "sample_limit = \"many\""));
        assert_eq!((e.line, e.key.as_str()), (8, "scrape[1].sample_limit"));
        let e = fails(&TWO.replace("interval = \"30s\"", "label_limit = -3"));
        assert_eq!((e.line, e.key.as_str()), (8, "scrape[1].label_limit"));
    }

    #[test]
    fn queue_max_memory_parses_and_is_bounded_below() {
        let c = ok(&format!("{TWO}\n[queue]\nmax_memory = \"32MiB\"\n"));
        assert_eq!(c.queue.max_memory_bytes, 32 << 20);
        let e = fails(&format!("{TWO}\n[queue]\nmax_memory = \"1KiB\"\n"));
        assert_eq!((e.line, e.key.as_str()), (14, "queue.max_memory"));
        let e = fails(&format!("{TWO}\n[queue]\nmax_memory = 0\n"));
        assert_eq!((e.line, e.key.as_str()), (14, "queue.max_memory"));
        // The disk-queue sizes accept a number of bytes too.
        let c = ok(&format!(
            "{TWO}\n[queue]\ndir = \"/tmp/q\"\nmax_size = 1048576\nsegment_size = \"64KiB\"\n"
        ));
        assert_eq!(
            (c.queue.max_bytes, c.queue.segment_bytes),
            (1 << 20, 64 << 10)
        );
    }

    #[test]
    fn missing_remote_write_is_an_error() {
        let e = fails("[labels]\nenv = \"x\"\n");
        assert!(e.message.contains("remote_write"), "{e}");
    }
}
