//! Remote-write sender: encoding, signing, retries and splitting per the Prometheus
//! remote-write 1.0 spec.
//!
//! | answer | action |
//! |---|---|
//! | 2xx | done |
//! | 429, 5xx, transport error | retry the same request with exponential backoff and jitter, honouring `Retry-After` |
//! | body above `max_request_bytes` | split into halves (series first, then samples) before sending |
//! | 413 | split into halves with backoff, at most [`MAX_413_SPLITS`] times, then drop and count (`too_large`) |
//! | 401/403 saying the credential or signature is stale (expired token, clock skew) | refresh the credentials and resend once |
//! | other 4xx (401/403 included) | drop that request, count it, log the server's message once per distinct reason (with a hint for 401/403) |
//!
//! Every request is counted by status code (the [`Observer`]); a retryable failure that
//! persists is logged at WARN at most once a minute.
//!
//! A request is retried until it succeeds, fails permanently, or the caller's give-up
//! deadline passes (used at shutdown). Requests are sent one at a time, so the samples of a
//! series always reach the receiver in timestamp order.

use crate::auth::Auth;
use crate::encoded::Encoded;
use crate::proto::WriteRequest;
use crate::Error;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("ec2-monitor-agent/", env!("CARGO_PKG_VERSION"));

/// Drop reason: the receiver rejected the batch with a non-retryable 4xx.
pub const DROP_REJECTED: &str = "rejected";
/// Drop reason: a single sample is still larger than the receiver accepts.
pub const DROP_TOO_LARGE: &str = "too_large";
/// Drop reason: the give-up deadline (shutdown) passed while retrying.
pub const DROP_SHUTDOWN: &str = "shutdown";

/// How often a 413 may split one request before its samples are dropped as too large.
pub const MAX_413_SPLITS: u32 = 4;
/// Consecutive retryable failures after which the sender logs at WARN.
const SUSTAINED_AFTER_ATTEMPTS: u32 = 3;
/// At most one "keeps failing" WARN per this period.
const SUSTAINED_WARN_EVERY: Duration = Duration::from_secs(60);

/// What one request carries: decoded series, or an already-encoded request that is
/// decoded only when it must be split.
#[derive(Debug)]
enum Payload {
    Series(WriteRequest),
    Encoded(Encoded),
}

impl Payload {
    fn sample_count(&self) -> usize {
        match self {
            Payload::Series(r) => r.sample_count(),
            Payload::Encoded(e) => e.samples,
        }
    }

    fn compress(&self) -> Vec<u8> {
        match self {
            Payload::Series(r) => r.encode_compressed(),
            Payload::Encoded(e) => e.compress(),
        }
    }

    /// Halves (see [`WriteRequest::split`]); `None` when it holds a single sample (or,
    /// for encoded bytes, cannot be decoded — never the case for bytes `merge` made).
    fn split(self) -> Option<(Payload, Payload)> {
        let req = match self {
            Payload::Series(r) => r,
            Payload::Encoded(e) => e.decode().ok()?,
        };
        let (a, b) = req.split()?;
        Some((Payload::Series(a), Payload::Series(b)))
    }
}

/// True when a 401/403 body says the credentials or the signature are stale rather than
/// not allowed: AWS's `ExpiredToken`/`ExpiredTokenException`, "Signature expired", "Signature
/// not yet current", `RequestTimeTooSkewed`, "security token included in the request is
/// expired".
pub fn is_stale_credential(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "expiredtoken",
        "signature expired",
        "signature not yet current",
        "requesttimetooskewed",
        "token included in the request is expired",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// The receiver's message, with what to check for the statuses that mean "not allowed".
fn with_hint(status: u16, message: &str) -> String {
    match status {
        401 | 403 => format!("{message} — check that the credentials' IAM policy allows aps:RemoteWrite on this very workspace (a policy naming another workspace ARN is a common cause); `monitor-verify metrics` checks it"),
        _ => message.to_string(),
    }
}

/// Settings of a [`RemoteWriter`]. `Debug` shows the URL [`crate::redacted`].
#[derive(Clone)]
pub struct RemoteWriteConfig {
    /// The remote-write URL (AMP: `.../workspaces/<id>/api/v1/remote_write`).
    pub url: url::Url,
    /// Authentication.
    pub auth: Auth,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Largest compressed body sent; bigger requests are split before sending. AMP's
    /// request-size quota is about 1 MB (see the reference notes).
    pub max_request_bytes: usize,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
    /// Cap on a server's `Retry-After`.
    pub max_retry_after: Duration,
}

impl std::fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteConfig")
            .field("url", &crate::redacted(&self.url))
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

impl RemoteWriteConfig {
    /// Defaults for `url`: 30 s timeout, 1,000,000-byte bodies, backoff 250 ms → 30 s.
    pub fn new(url: url::Url, auth: Auth) -> RemoteWriteConfig {
        RemoteWriteConfig {
            url,
            auth,
            timeout: Duration::from_secs(30),
            max_request_bytes: 1_000_000,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Receives the sender's events (the agent turns them into its own metrics).
pub trait Observer: Send + Sync {
    /// One HTTP attempt finished: status (None on transport error), latency, body bytes.
    fn request(&self, _status: Option<u16>, _latency: Duration, _bytes: usize) {}
    /// `samples` will be retried after `delay` because of `reason` (e.g. `http_503`).
    fn retry(&self, _samples: usize, _reason: &str, _delay: Duration) {}
    /// `samples` were accepted by the receiver.
    fn sent(&self, _samples: usize) {}
    /// `samples` were dropped for `reason`.
    fn dropped(&self, _samples: usize, _reason: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;
impl Observer for NoopObserver {}

/// What happened to one [`RemoteWriter::write`] call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Samples accepted.
    pub sent: usize,
    /// Samples dropped, by reason.
    pub dropped: Vec<(String, usize)>,
    /// Retries performed.
    pub retries: usize,
}

impl WriteOutcome {
    /// Total samples dropped.
    pub fn dropped_total(&self) -> usize {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// Sends [`WriteRequest`]s to one remote-write endpoint.
pub struct RemoteWriter {
    http: reqwest::Client,
    cfg: RemoteWriteConfig,
    observer: Arc<dyn Observer>,
    logged_reasons: Mutex<HashSet<String>>,
    last_sustained_warn: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &crate::redacted(&self.cfg.url))
            .finish_non_exhaustive()
    }
}

enum Attempt {
    Ok,
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Split,
    Drop {
        reason: &'static str,
        message: String,
        status: u16,
    },
}

impl RemoteWriter {
    /// Builds a writer. Fails only if the HTTP client cannot be built.
    pub fn new(cfg: RemoteWriteConfig, observer: Arc<dyn Observer>) -> Result<RemoteWriter, Error> {
        if !matches!(cfg.url.scheme(), "http" | "https") {
            return Err(Error::InvalidUrl {
                url: crate::redacted(&cfg.url),
                reason: "scheme must be http or https".into(),
            });
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| Error::Transport {
                url: crate::redacted(&cfg.url),
                source: e,
            })?;
        Ok(RemoteWriter {
            http,
            cfg,
            observer,
            logged_reasons: Mutex::new(HashSet::new()),
            last_sustained_warn: Mutex::new(None),
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &url::Url {
        &self.cfg.url
    }

    /// Sends `req`, splitting and retrying as the module docs describe. Retries stop once
    /// `give_up_at` holds a deadline that has passed; pass `None` to retry indefinitely.
    pub async fn write(
        &self,
        req: WriteRequest,
        give_up_at: Option<&watch::Receiver<Option<Instant>>>,
    ) -> WriteOutcome {
        self.send(Payload::Series(req), give_up_at).await
    }

    /// As [`RemoteWriter::write`], for a request that is already protobuf-encoded (e.g.
    /// merged from a durable queue by [`crate::encoded::merge`]): it is only compressed,
    /// and decoded only if it has to be split.
    pub async fn write_encoded(
        &self,
        req: Encoded,
        give_up_at: Option<&watch::Receiver<Option<Instant>>>,
    ) -> WriteOutcome {
        self.send(Payload::Encoded(req), give_up_at).await
    }

    async fn send(
        &self,
        req: Payload,
        give_up_at: Option<&watch::Receiver<Option<Instant>>>,
    ) -> WriteOutcome {
        let mut outcome = WriteOutcome::default();
        // Work list in send order, each with how often a 413 split it; a split replaces
        // the front with its two halves.
        let mut pending = std::collections::VecDeque::from([(req, 0u32)]);
        let mut attempt: u32 = 0;
        let mut refreshed_credentials = false;
        while let Some((front, splits)) = pending.pop_front() {
            let samples = front.sample_count();
            if samples == 0 {
                continue;
            }
            let body = front.compress();
            if body.len() > self.cfg.max_request_bytes {
                // Local size check: splitting costs no request, so no floor.
                match front.split() {
                    Some((a, b)) => {
                        pending.push_front((b, splits));
                        pending.push_front((a, splits));
                    }
                    None => self.drop_samples(&mut outcome, samples, DROP_TOO_LARGE),
                }
                continue;
            }
            match self.attempt(body).await {
                Attempt::Ok => {
                    attempt = 0;
                    outcome.sent += samples;
                    self.observer.sent(samples);
                }
                Attempt::Split => {
                    // The receiver's limit is below ours: split, but at most
                    // MAX_413_SPLITS times and with backoff, then drop and count.
                    let halves = (splits < MAX_413_SPLITS).then(|| front.split()).flatten();
                    let Some((a, b)) = halves else {
                        self.log_once(413, "request too large even after splitting");
                        self.drop_samples(&mut outcome, samples, DROP_TOO_LARGE);
                        continue;
                    };
                    let delay = self.backoff(attempt, None);
                    attempt = attempt.saturating_add(1);
                    if past_deadline(give_up_at, delay) {
                        self.give_up(&mut outcome, samples, &mut pending);
                        break;
                    }
                    sleep_or_deadline(delay, give_up_at).await;
                    pending.push_front((b, splits + 1));
                    pending.push_front((a, splits + 1));
                }
                Attempt::Drop {
                    status: status @ (401 | 403),
                    message,
                    ..
                } if !refreshed_credentials && is_stale_credential(&message) => {
                    // Expired or not-yet-valid credentials / signature (clock skew): the
                    // one 4xx worth resending, once, with freshly fetched credentials.
                    refreshed_credentials = true;
                    self.log_once(
                        status,
                        &format!("{message} (refreshing credentials and resending once)"),
                    );
                    self.cfg.auth.invalidate().await;
                    outcome.retries += 1;
                    self.observer
                        .retry(samples, &format!("http_{status}"), Duration::ZERO);
                    pending.push_front((front, splits));
                }
                Attempt::Drop {
                    reason,
                    message,
                    status,
                } => {
                    self.log_once(status, &with_hint(status, &message));
                    self.drop_samples(&mut outcome, samples, reason);
                }
                Attempt::Retry { reason, after } => {
                    let delay = self.backoff(attempt, after);
                    attempt = attempt.saturating_add(1);
                    if past_deadline(give_up_at, delay) {
                        self.give_up(&mut outcome, samples, &mut pending);
                        break;
                    }
                    self.warn_sustained(&reason, attempt, delay);
                    outcome.retries += 1;
                    self.observer.retry(samples, &reason, delay);
                    sleep_or_deadline(delay, give_up_at).await;
                    pending.push_front((front, splits));
                }
            }
        }
        outcome
    }

    /// The give-up deadline passed: the current request and the rest are dropped as
    /// `shutdown` (a durable queue keeps them for the next start).
    fn give_up(
        &self,
        outcome: &mut WriteOutcome,
        samples: usize,
        pending: &mut std::collections::VecDeque<(Payload, u32)>,
    ) {
        self.drop_samples(outcome, samples, DROP_SHUTDOWN);
        for (rest, _) in pending.drain(..) {
            let n = rest.sample_count();
            self.drop_samples(outcome, n, DROP_SHUTDOWN);
        }
    }

    /// Retries are logged at debug; a failure that persists (several attempts in a row)
    /// is logged at WARN, at most once a minute.
    fn warn_sustained(&self, reason: &str, attempt: u32, delay: Duration) {
        tracing::debug!(%reason, ?delay, attempt, "remote write retry");
        if attempt < SUSTAINED_AFTER_ATTEMPTS {
            return;
        }
        let mut last = self
            .last_sustained_warn
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < SUSTAINED_WARN_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        tracing::warn!(%reason, attempts = attempt, next_retry_in = ?delay, url = %crate::redacted(&self.cfg.url), "remote write keeps failing; retrying with backoff (samples stay buffered; logged at most once a minute)");
    }

    fn drop_samples(&self, outcome: &mut WriteOutcome, n: usize, reason: &str) {
        if n == 0 {
            return;
        }
        self.observer.dropped(n, reason);
        match outcome.dropped.iter_mut().find(|(r, _)| r == reason) {
            Some((_, c)) => *c += n,
            None => outcome.dropped.push((reason.to_string(), n)),
        }
    }

    fn log_once(&self, status: u16, message: &str) {
        // Receivers embed series labels and numbers in messages; key on the shape so one
        // bad series does not flood the log, and cap the set so memory stays bounded.
        let key: String = message
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(80)
            .collect();
        let key = format!("{status}:{key}");
        let mut seen = self
            .logged_reasons
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if seen.len() < 256 && seen.insert(key) {
            tracing::warn!(status, message, url = %crate::redacted(&self.cfg.url), "remote write rejected a batch; dropping it (further batches with this reason are counted, not logged)");
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .cfg
            .min_backoff
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.cfg.max_backoff);
        // "Equal jitter": half fixed, half random, so clients spread out but never hammer.
        let half = exp / 2;
        let jitter = Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64));
        let delay = half + jitter;
        match retry_after {
            Some(ra) => ra.min(self.cfg.max_retry_after).max(delay),
            None => delay,
        }
    }

    async fn attempt(&self, body: Vec<u8>) -> Attempt {
        let bytes = body.len();
        let mut req = match self
            .http
            .post(self.cfg.url.clone())
            .header(http::header::CONTENT_ENCODING, "snappy")
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("build: {e}"),
                    after: None,
                }
            }
        };
        if let Err(e) = self.cfg.auth.apply(&mut req).await {
            tracing::warn!(error = %e, "cannot sign remote write request; will retry");
            return Attempt::Retry {
                reason: "credentials".into(),
                after: None,
            };
        }
        let start = std::time::Instant::now();
        let resp = self.http.execute(req).await;
        let latency = start.elapsed();
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                self.observer.request(None, latency, bytes);
                tracing::debug!(error = %e, "remote write transport error");
                return Attempt::Retry {
                    reason: "transport".into(),
                    after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        self.observer.request(Some(status), latency, bytes);
        if resp.status().is_success() {
            return Attempt::Ok;
        }
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let message: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(512)
            .collect();
        classify(status, retry_after, message)
    }
}

fn classify(status: u16, retry_after: Option<Duration>, message: String) -> Attempt {
    match status {
        413 => Attempt::Split,
        429 | 500..=599 => Attempt::Retry {
            reason: format!("http_{status}"),
            after: retry_after,
        },
        _ => Attempt::Drop {
            reason: DROP_REJECTED,
            message,
            status,
        },
    }
}

/// Whether an HTTP status is retried by the sender (5xx and 429, per the spec).
pub fn is_retryable(status: u16) -> bool {
    matches!(classify(status, None, String::new()), Attempt::Retry { .. })
}

/// Parses `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn past_deadline(give_up_at: Option<&watch::Receiver<Option<Instant>>>, after: Duration) -> bool {
    match give_up_at.and_then(|r| *r.borrow()) {
        Some(d) => Instant::now() + after > d,
        None => false,
    }
}

async fn sleep_or_deadline(delay: Duration, give_up_at: Option<&watch::Receiver<Option<Instant>>>) {
    match give_up_at {
        None => tokio::time::sleep(delay).await,
        Some(rx) => {
            let mut rx = rx.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                // A deadline being set (shutdown) cuts the sleep short so it is re-checked.
                _ = rx.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_spec() {
        assert!(is_retryable(429));
        assert!(is_retryable(500));
        assert!(is_retryable(503));
        assert!(!is_retryable(400));
        assert!(!is_retryable(404));
        assert!(!is_retryable(413));
        assert!(matches!(classify(413, None, String::new()), Attempt::Split));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(std::time::SystemTime::UNIX_EPOCH);
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        let future =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let cfg = RemoteWriteConfig::new("http://127.0.0.1:1/".parse().unwrap(), Auth::None);
        let w = RemoteWriter::new(cfg, Arc::new(NoopObserver)).unwrap();
        for attempt in 0..30 {
            let d = w.backoff(attempt, None);
            let exp = (Duration::from_millis(250) * 2u32.saturating_pow(attempt.min(20)))
                .min(Duration::from_secs(30));
            assert!(
                d >= exp / 2 && d <= exp,
                "attempt {attempt}: {d:?} vs {exp:?}"
            );
        }
        assert_eq!(
            w.backoff(0, Some(Duration::from_secs(10))),
            Duration::from_secs(10)
        );
        assert_eq!(
            w.backoff(0, Some(Duration::from_secs(9999))),
            Duration::from_secs(300)
        );
    }
}
