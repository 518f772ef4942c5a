//! `monitor-agent` configuration (TOML), validated into a typed model before any I/O.
//!
//! Unknown keys and invalid values are errors that name the file, the line and the key.
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
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
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
    /// The offending key, dotted (e.g. `scrape[0].timeout`).
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// A duration written as a string (`"15s"`, `"1m30s"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {s:?} ({e}); write e.g. \"15s\", \"1m\", \"500ms\""
                ))
            })
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
    shutdown_timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrape {
    job: Spanned<String>,
    url: Spanned<String>,
    interval: Option<Spanned<HumanDuration>>,
    timeout: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteWrite {
    url: Spanned<String>,
    sigv4: Option<RawSigV4>,
    timeout: Option<HumanDuration>,
    max_samples_per_send: Option<Spanned<usize>>,
    batch_send_deadline: Option<HumanDuration>,
    max_request_bytes: Option<Spanned<usize>>,
    min_backoff: Option<HumanDuration>,
    max_backoff: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigV4 {
    region: Spanned<String>,
    service: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    max_samples: Option<Spanned<usize>>,
    dir: Option<Spanned<String>>,
    max_size: Option<Spanned<String>>,
    segment_size: Option<Spanned<String>>,
    fsync: Option<bool>,
}

/// Validated agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Address serving the agent's own metrics (`None` = not served).
    pub listen: Option<SocketAddr>,
    /// Also send the agent's own metrics (job `monitor-agent`) to remote_write.
    pub self_metrics: bool,
    /// How long SIGTERM waits to flush what the agent holds.
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

/// One scrape target.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// `job` label.
    pub job: String,
    /// Target URL; `instance` is its `host:port`.
    pub url: url::Url,
    /// Scrape interval (default 15 s).
    pub interval: Duration,
    /// Scrape timeout (default 10 s, and always below the interval).
    pub timeout: Duration,
}

impl ScrapeConfig {
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
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteSettings {
    /// Endpoint.
    pub url: url::Url,
    /// SigV4 `(region, service)`; `None` = unsigned.
    pub sigv4: Option<(String, String)>,
    /// Per-request timeout (default 30 s).
    pub timeout: Duration,
    /// Samples per request (default 2,000, like Prometheus).
    pub max_samples_per_send: usize,
    /// Longest a sample waits for a batch to fill (default 5 s).
    pub batch_send_deadline: Duration,
    /// Largest compressed request body (default 1,000,000 bytes, AMP's limit).
    pub max_request_bytes: usize,
    /// First retry delay (default 250 ms).
    pub min_backoff: Duration,
    /// Largest retry delay (default 30 s).
    pub max_backoff: Duration,
}

/// Buffer settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// Samples held in memory at most when `dir` is unset; beyond it the oldest are
    /// dropped and counted (default 500,000 ≈ 80 min of one node_exporter at 15 s).
    pub max_samples: usize,
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
        let err = |span: Option<std::ops::Range<usize>>, key: &str, message: String| ConfigError {
            file: file.to_string(),
            line: span.map(|s| line_of(text, s.start)).unwrap_or(0),
            key: key.to_string(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let key = e.message().split('`').nth(1).unwrap_or("-").to_string();
            err(e.span(), &key, e.message().trim().to_string())
        })?;

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
            let interval = s
                .interval
                .as_ref()
                .map(|d| d.get_ref().0)
                .unwrap_or(Duration::from_secs(15));
            if interval.is_zero() {
                let sp = s.interval.as_ref().map(|d| d.span());
                return Err(err(
                    sp,
                    &key("interval"),
                    "must be greater than zero".into(),
                ));
            }
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
            scrape.push(ScrapeConfig {
                job: s.job.get_ref().clone(),
                url,
                interval,
                timeout,
            });
        }

        let rw = raw.remote_write.get_ref();
        let url = parse_http_url(rw.url.get_ref())
            .map_err(|m| err(Some(rw.url.span()), "remote_write.url", m))?;
        let sigv4 = match &rw.sigv4 {
            None => None,
            Some(s) => {
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
                Some((r.clone(), s.service.clone().unwrap_or_else(|| "aps".into())))
            }
        };
        if sigv4.is_none()
            && url.scheme() == "https"
            && url
                .host_str()
                .is_some_and(|h| h.ends_with(".amazonaws.com"))
        {
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
        let remote_write = RemoteWriteSettings {
            url,
            sigv4,
            timeout: rw.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(30)),
            max_samples_per_send: positive(
                &rw.max_samples_per_send,
                "remote_write.max_samples_per_send",
                2000,
            )?,
            batch_send_deadline: rw
                .batch_send_deadline
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(5)),
            max_request_bytes: positive(
                &rw.max_request_bytes,
                "remote_write.max_request_bytes",
                1_000_000,
            )?,
            min_backoff: rw
                .min_backoff
                .map(|d| d.0)
                .unwrap_or(Duration::from_millis(250)),
            max_backoff: rw
                .max_backoff
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(30)),
        };
        let size = |v: &Option<Spanned<String>>, k: &str, d: u64| -> Result<u64, ConfigError> {
            match v {
                None => Ok(d),
                Some(x) => match x.get_ref().parse::<bytesize::ByteSize>() {
                    Ok(b) if b.as_u64() >= 4096 => Ok(b.as_u64()),
                    Ok(_) => Err(err(Some(x.span()), k, "must be at least 4KiB".into())),
                    Err(e) => Err(err(
                        Some(x.span()),
                        k,
                        format!(
                            "invalid size {:?} ({e}); write e.g. \"512MiB\"",
                            x.get_ref()
                        ),
                    )),
                },
            }
        };
        let queue = QueueSettings {
            max_samples: positive(&raw.queue.max_samples, "queue.max_samples", 500_000)?,
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
            shutdown_timeout: raw
                .agent
                .shutdown_timeout
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(10)),
            labels,
            scrape,
            remote_write,
            queue,
        })
    }
}

fn parse_http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!(
            "invalid URL {s:?}: expected http(s)://host[:port]/path"
        ));
    }
    Ok(u)
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

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = fails(&GOOD.replace("interval = \"15s\"", "intervall = \"15s\""));
        assert_eq!(e.file, "agent.toml");
        assert_eq!(e.line, 9);
        assert_eq!(e.key, "intervall");
        assert!(e.to_string().starts_with("agent.toml:9: intervall:"), "{e}");
    }

    #[test]
    fn invalid_values_name_line_and_key() {
        let e = fails(&GOOD.replace("timeout = \"10s\"", "timeout = \"20s\""));
        assert_eq!((e.line, e.key.as_str()), (10, "scrape[0].timeout"));
        let e = fails(&GOOD.replace("interval = \"15s\"", "interval = \"soon\""));
        assert_eq!(e.line, 9);
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
    fn missing_remote_write_is_an_error() {
        let e = fails("[labels]\nenv = \"x\"\n");
        assert!(e.message.contains("remote_write"), "{e}");
    }
}
