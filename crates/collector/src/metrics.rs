//! The agent's own metrics (Prometheus format, served on `agent.listen` and, unless
//! disabled, sent to remote_write as job `monitor-agent`).

use monitor_amp::remote_write::Observer;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

type Labels = Vec<(String, String)>;

/// Every drop reason the agent can report (pre-created at 0 so `increase()` works).
pub const DROP_REASONS: &[&str] = &[
    monitor_amp::remote_write::DROP_REJECTED,
    monitor_amp::remote_write::DROP_TOO_LARGE,
    monitor_amp::remote_write::DROP_SHUTDOWN,
    DROP_QUEUE_FULL,
    DROP_DUPLICATE,
    DROP_QUEUE_IO,
    DROP_QUEUE_CORRUPT,
];
/// Drop reason: the on-disk queue could not be written (disk full, I/O error).
pub const DROP_QUEUE_IO: &str = "queue_io_error";
/// Drop reason: queued samples sat in a corrupt on-disk region and could not be read.
pub const DROP_QUEUE_CORRUPT: &str = "queue_corrupt";
/// Drop reason: the in-memory buffer was full; the oldest samples were dropped.
pub const DROP_QUEUE_FULL: &str = "queue_full";
/// Drop reason: a target exposed the same series twice in one scrape.
pub const DROP_DUPLICATE: &str = "duplicate_series";

/// The agent's counters, gauges and histograms.
#[derive(Debug)]
pub struct AgentMetrics {
    registry: Registry,
    /// Samples scraped, by job.
    pub scraped: Family<Labels, Counter>,
    /// Scrapes that failed, by job.
    pub scrape_failures: Family<Labels, Counter>,
    /// Samples the job's `metric_relabel_configs` dropped (by design: not lost), by job.
    pub filtered: Family<Labels, Counter>,
    /// Samples accepted by the receiver.
    pub sent: Counter,
    /// Samples re-sent, by reason (`http_429`, `http_503`, `transport`, ...).
    pub retried: Family<Labels, Counter>,
    /// Samples dropped, by reason.
    pub dropped: Family<Labels, Counter>,
    /// Remote-write HTTP requests, by status code (`error` = transport failure).
    pub requests: Family<Labels, Counter>,
    /// Remote-write request latency.
    pub request_duration: Histogram,
    /// Compressed bytes sent (all attempts).
    pub bytes_sent: Counter,
    /// Seconds spent waiting in retry backoff.
    pub backoff_seconds: Counter<f64, AtomicU64>,
    /// Unix time of the last accepted request.
    pub last_send: Gauge<f64, AtomicU64>,
    /// Samples buffered now.
    pub queue_samples: Gauge,
    /// Buffer capacity in samples.
    pub queue_capacity: Gauge,
    /// Corrupt or truncated on-disk queue records skipped.
    pub queue_corrupt: Counter,
    /// Set when the on-disk queue is used: requests abandoned at shutdown stay queued, so
    /// they are not counted as dropped.
    pub durable: std::sync::atomic::AtomicBool,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// Creates and registers all metrics.
    pub fn new() -> AgentMetrics {
        let mut registry = Registry::with_prefix("monitor_agent");
        let m = AgentMetrics {
            registry: Registry::default(),
            scraped: Family::default(),
            scrape_failures: Family::default(),
            filtered: Family::default(),
            sent: Counter::default(),
            retried: Family::default(),
            dropped: Family::default(),
            requests: Family::default(),
            request_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            bytes_sent: Counter::default(),
            backoff_seconds: Counter::default(),
            last_send: Gauge::default(),
            queue_samples: Gauge::default(),
            queue_capacity: Gauge::default(),
            queue_corrupt: Counter::default(),
            durable: std::sync::atomic::AtomicBool::new(false),
        };
        registry.register(
            "samples_scraped",
            "Samples scraped from targets",
            m.scraped.clone(),
        );
        registry.register(
            "scrape_failures",
            "Failed scrapes",
            m.scrape_failures.clone(),
        );
        registry.register(
            "samples_filtered",
            "Samples dropped by the job's metric_relabel_configs (by design, not lost)",
            m.filtered.clone(),
        );
        registry.register(
            "samples_sent",
            "Samples accepted by the remote-write receiver",
            m.sent.clone(),
        );
        registry.register(
            "samples_retried",
            "Samples re-sent after a retryable failure, by reason",
            m.retried.clone(),
        );
        registry.register(
            "samples_dropped",
            "Samples dropped, by reason",
            m.dropped.clone(),
        );
        registry.register(
            "remote_write_requests",
            "Remote-write HTTP requests by status code",
            m.requests.clone(),
        );
        registry.register(
            "remote_write_request_duration_seconds",
            "Remote-write request latency",
            m.request_duration.clone(),
        );
        registry.register(
            "remote_write_bytes",
            "Compressed remote-write bytes sent",
            m.bytes_sent.clone(),
        );
        registry.register(
            "remote_write_backoff_seconds",
            "Seconds spent in retry backoff",
            m.backoff_seconds.clone(),
        );
        registry.register(
            "remote_write_last_success_timestamp_seconds",
            "Unix time of the last accepted remote-write request",
            m.last_send.clone(),
        );
        registry.register(
            "queue_samples",
            "Samples buffered, waiting to be sent",
            m.queue_samples.clone(),
        );
        registry.register(
            "queue_capacity_samples",
            "Buffer capacity in samples (in-memory buffer)",
            m.queue_capacity.clone(),
        );
        registry.register(
            "queue_corrupt_records",
            "Corrupt or truncated on-disk queue records skipped",
            m.queue_corrupt.clone(),
        );
        for r in DROP_REASONS {
            let _ = m
                .dropped
                .get_or_create(&vec![("reason".to_string(), r.to_string())]);
        }
        AgentMetrics { registry, ..m }
    }

    /// Counts dropped samples.
    pub fn add_dropped(&self, reason: &str, n: usize) {
        self.dropped
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(n as u64);
    }

    /// Renders all metrics in the text exposition format.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }
}

impl Observer for AgentMetrics {
    fn request(&self, status: Option<u16>, latency: Duration, bytes: usize) {
        let code = status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "error".into());
        self.requests
            .get_or_create(&vec![("code".to_string(), code)])
            .inc();
        self.request_duration.observe(latency.as_secs_f64());
        self.bytes_sent.inc_by(bytes as u64);
    }
    fn retry(&self, samples: usize, reason: &str, delay: Duration) {
        self.retried
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(samples as u64);
        self.backoff_seconds.inc_by(delay.as_secs_f64());
    }
    fn sent(&self, samples: usize) {
        self.sent.inc_by(samples as u64);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.last_send.set(now.as_secs_f64());
    }
    fn dropped(&self, samples: usize, reason: &str) {
        if reason == monitor_amp::remote_write::DROP_SHUTDOWN
            && self.durable.load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        self.add_dropped(reason, samples);
    }
}
