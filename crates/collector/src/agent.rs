//! The agent runtime: scrape loops → bounded queue → one sender → remote_write.

use crate::config::{AgentConfig, ScrapeConfig};
use crate::disk_queue::{DiskQueue, PeekedEncoded, Position};
use crate::metrics::{
    AgentMetrics, DROP_DUPLICATE, DROP_QUEUE_CORRUPT, DROP_QUEUE_FULL, DROP_QUEUE_IO,
};
use crate::queue::BoundedQueue;
use crate::target::{self, ScrapeResult, TargetState};
use monitor_amp::auth::{Auth, SigV4};
use monitor_amp::proto::{TimeSeries, WriteRequest};
use monitor_amp::remote_write::{RemoteWriteConfig, RemoteWriter, WriteOutcome};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The remote-write client could not be built.
    #[error(transparent)]
    RemoteWrite(#[from] monitor_amp::Error),
    /// The metrics listener could not bind.
    #[error("cannot listen on {addr} for the agent's own metrics: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The on-disk queue could not be opened.
    #[error(transparent)]
    Queue(#[from] crate::disk_queue::DiskQueueError),
    /// `--once` found problems.
    #[error("{0}")]
    OnceFailed(String),
}

/// Summary of a `run_once` round.
#[derive(Debug, Default, Clone)]
pub struct OnceReport {
    /// Samples scraped per job/instance.
    pub scraped: Vec<(String, String, usize)>,
    /// Scrape errors.
    pub scrape_errors: Vec<String>,
    /// Delivery outcome.
    pub outcome: WriteOutcome,
}

/// Where scrapes wait for the sender: bounded memory, or the durable on-disk queue.
#[derive(Debug)]
pub enum Buffer {
    /// In-memory, drop-oldest (no `queue.dir`).
    Memory(BoundedQueue),
    /// On disk, write-ahead, survives restarts (`queue.dir` set); the second field is the
    /// largest record (samples), i.e. `max_samples_per_send`. Its file I/O runs on
    /// blocking threads, never on the async workers.
    Disk(Arc<DiskQueue>, usize),
}

/// A batch taken from the buffer; disk batches are committed after delivery.
#[derive(Debug, Default)]
pub struct Batch {
    /// From memory: the series (one sample each, in arrival order).
    pub series: Vec<TimeSeries>,
    /// From the disk queue: its records as stored, laid end to end (an encoded
    /// `WriteRequest`), sent without decoding (merged by series when there are several:
    /// [`PeekedEncoded::into_request`]).
    pub encoded: Option<PeekedEncoded>,
    commit: Option<(Position, u64)>,
}

impl Batch {
    /// True when it holds no sample.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.encoded.as_ref().is_none_or(|e| e.samples == 0)
    }
}

/// Runs blocking disk-queue work off the async worker threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Logs a disk-queue write failure at most once a minute per error kind (a full disk
/// fails every scrape), always counting the samples.
#[derive(Debug, Default)]
struct IoErrorLog(std::sync::Mutex<HashMap<std::io::ErrorKind, Instant>>);

impl IoErrorLog {
    fn should_log(&self, kind: std::io::ErrorKind) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match seen.get(&kind) {
            Some(t) if now.duration_since(*t) < Duration::from_secs(60) => false,
            _ => {
                seen.insert(kind, now);
                true
            }
        }
    }
}

impl Buffer {
    /// Appends a scrape (encoded series, see [`target::ScrapeResult`]); returns the old
    /// samples dropped to make room (scrape samples that could not be stored are counted
    /// as `queue_io_error` drops here). The disk queue stores the bytes as they are; the
    /// memory buffer keeps decoded series.
    async fn push(&self, scrape: ScrapeResult, metrics: &AgentMetrics, log: &IoErrorLog) -> usize {
        let ScrapeResult {
            encoded: scrape,
            series_ends,
            ..
        } = scrape;
        match self {
            Buffer::Memory(q) => match scrape.decode() {
                Ok(req) => q.push(req.timeseries),
                Err(e) => {
                    // Unreachable (`Scrape::finish` wrote the bytes); never silent all the same.
                    metrics.add_dropped(DROP_QUEUE_CORRUPT, scrape.samples);
                    tracing::error!(error = %e, samples = scrape.samples, "a scrape's encoding cannot be read back; dropped");
                    0
                }
            },
            Buffer::Disk(q, max) => {
                let (q, max) = (q.clone(), *max);
                let pushed = blocking(move || q.push_scrape(&scrape, &series_ends, max)).await;
                if let Some((lost, e)) = &pushed.failed {
                    metrics.add_dropped(DROP_QUEUE_IO, *lost as usize);
                    if log.should_log(e.kind()) {
                        tracing::error!(error = %e, dropped = lost, "cannot write to the on-disk queue; scrape dropped (the queue resumes by itself when the disk has room; further failures of this kind are counted, logged once a minute)");
                    }
                }
                pushed.evicted as usize
            }
        }
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        match self {
            Buffer::Memory(q) => q.len(),
            Buffer::Disk(q, _) => q.len(),
        }
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn wait(&self) {
        match self {
            Buffer::Memory(q) => q.wait().await,
            Buffer::Disk(q, _) => q.wait().await,
        }
    }

    async fn next_batch(&self, max: usize, metrics: &AgentMetrics) -> Batch {
        match self {
            Buffer::Memory(q) => Batch {
                series: q.take(max),
                ..Batch::default()
            },
            Buffer::Disk(q, _) => {
                let q = q.clone();
                let p = blocking(move || q.peek_encoded(max)).await;
                if p.corrupt_records > 0 {
                    metrics.queue_corrupt.inc_by(p.corrupt_records);
                }
                if p.unreadable_samples > 0 {
                    metrics.add_dropped(DROP_QUEUE_CORRUPT, p.unreadable_samples as usize);
                    tracing::warn!(samples = p.unreadable_samples, "queued samples in a corrupt queue region cannot be read; counted as dropped");
                }
                Batch {
                    series: Vec::new(),
                    commit: Some((p.next, p.samples as u64)),
                    encoded: Some(p),
                }
            }
        }
    }

    async fn done(&self, batch_commit: Option<(Position, u64)>, outcome: &WriteOutcome) {
        if let (Buffer::Disk(q, _), Some((pos, n))) = (self, batch_commit) {
            // Undelivered because of shutdown: keep it on disk for the next start.
            if outcome
                .dropped
                .iter()
                .any(|(r, _)| r == monitor_amp::remote_write::DROP_SHUTDOWN)
            {
                return;
            }
            let q = q.clone();
            if let Err(e) = blocking(move || q.commit(pos, n)).await {
                tracing::error!(error = %e, "cannot persist the queue cursor; the batch may be re-sent after a restart");
            }
        }
    }

    fn is_durable(&self) -> bool {
        matches!(self, Buffer::Disk(..))
    }
}

/// A built agent: config, metrics, queue and writer.
pub struct Agent {
    cfg: AgentConfig,
    metrics: Arc<AgentMetrics>,
    queue: Arc<Buffer>,
    writer: Arc<RemoteWriter>,
    http: reqwest::Client,
    io_errors: IoErrorLog,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("targets", &self.cfg.scrape.len())
            .finish_non_exhaustive()
    }
}

/// Job name of the agent's own metrics when sent to remote_write.
pub const SELF_JOB: &str = "monitor-agent";

impl Agent {
    /// Builds the agent; resolves SigV4 credentials lazily (first send).
    pub async fn build(cfg: AgentConfig) -> Result<Agent, AgentError> {
        let auth = match &cfg.remote_write.sigv4 {
            None => Auth::None,
            Some((region, service)) if service == SigV4::APS => {
                Auth::SigV4(SigV4::from_default_chain(region.clone()).await)
            }
            Some((region, service)) => Auth::SigV4(SigV4::new(
                region.clone(),
                service.clone(),
                aws_config_chain(region).await,
            )),
        };
        Self::build_with_auth(cfg, auth)
    }

    /// Builds the agent with explicit authentication (tests, custom credential sources).
    pub fn build_with_auth(cfg: AgentConfig, auth: Auth) -> Result<Agent, AgentError> {
        let metrics = Arc::new(AgentMetrics::new());
        let rw = &cfg.remote_write;
        let mut wc = RemoteWriteConfig::new(rw.url.clone(), auth);
        wc.timeout = rw.timeout;
        wc.max_request_bytes = rw.max_request_bytes;
        wc.min_backoff = rw.min_backoff;
        wc.max_backoff = rw.max_backoff;
        let writer = Arc::new(RemoteWriter::new(wc, metrics.clone())?);
        let queue = match &cfg.queue.dir {
            None => {
                metrics.queue_capacity.set(cfg.queue.max_samples as i64);
                Buffer::Memory(BoundedQueue::new(
                    cfg.queue.max_samples,
                    usize::try_from(cfg.queue.max_memory_bytes).unwrap_or(usize::MAX),
                ))
            }
            Some(dir) => {
                let (q, rec) = DiskQueue::open(
                    dir,
                    cfg.queue.max_bytes,
                    cfg.queue.segment_bytes,
                    cfg.queue.fsync,
                )?;
                if rec.corrupt_records > 0 {
                    metrics.queue_corrupt.inc_by(rec.corrupt_records);
                }
                if rec.pending_samples > 0 {
                    tracing::info!(pending = rec.pending_samples, dir = %dir.display(), "resuming delivery of samples queued before the restart");
                }
                metrics
                    .durable
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Buffer::Disk(Arc::new(q), cfg.remote_write.max_samples_per_send)
            }
        };
        let queue = Arc::new(queue);
        let http = reqwest::Client::builder()
            .user_agent(monitor_amp::remote_write::USER_AGENT)
            .build()
            .map_err(|e| monitor_amp::Error::Transport {
                url: "scrape client".into(),
                source: e,
            })?;
        Ok(Agent {
            cfg,
            metrics,
            queue,
            writer,
            http,
            io_errors: IoErrorLog::default(),
        })
    }

    /// The agent's metrics.
    pub fn metrics(&self) -> Arc<AgentMetrics> {
        self.metrics.clone()
    }

    async fn enqueue(&self, scrape: ScrapeResult) {
        let dropped = self
            .queue
            .push(scrape, &self.metrics, &self.io_errors)
            .await;
        if dropped > 0 {
            self.metrics.add_dropped(DROP_QUEUE_FULL, dropped);
            tracing::warn!(dropped, "buffer full: dropped the oldest samples");
        }
        self.metrics.queue_samples.set(self.queue.len() as i64);
    }

    async fn scrape_target(&self, t: &ScrapeConfig, state: &mut TargetState) -> Option<String> {
        let r = target::scrape_once(&self.http, t, state).await;
        let job = vec![("job".to_string(), t.job.clone())];
        self.metrics
            .scraped
            .get_or_create(&job)
            .inc_by(r.scraped as u64);
        if r.duplicates > 0 {
            self.metrics.add_dropped(DROP_DUPLICATE, r.duplicates);
        }
        if r.filtered > 0 {
            self.metrics
                .filtered
                .get_or_create(&job)
                .inc_by(r.filtered as u64);
        }
        if r.error.is_some() {
            self.metrics.scrape_failures.get_or_create(&job).inc();
        }
        let err = r.error.clone();
        self.enqueue(r).await;
        err
    }

    fn self_state(&self) -> TargetState {
        let instance = self
            .cfg
            .listen
            .map(|a| a.to_string())
            .unwrap_or_else(|| "local".into());
        TargetState::new(SELF_JOB, &instance, &self.cfg.labels)
    }

    async fn scrape_self(&self, state: &mut TargetState) {
        let text = self.metrics.encode();
        let mut scrape = state.begin(target::now_ms());
        let parsed = crate::exposition::parse_each(
            &text,
            &crate::exposition::Limits::default(),
            &mut scrape,
        )
        .map_err(|e| e.to_string());
        let r = scrape.finish(parsed, Duration::ZERO);
        self.enqueue(r).await;
    }

    /// Sends one batch: memory batches merged from their series, disk batches merged
    /// from their encoded records (`monitor_amp::encoded::merge`, no decoding). Returns
    /// the outcome and what to commit.
    async fn write(
        &self,
        batch: Batch,
        give_up: Option<&watch::Receiver<Option<Instant>>>,
    ) -> (WriteOutcome, Option<(Position, u64)>) {
        let Some(records) = batch.encoded else {
            return (
                self.writer.write(merge(batch.series), give_up).await,
                batch.commit,
            );
        };
        // The queue only hands over records its reader (the parser merge uses) accepted,
        // so this cannot fail; if it ever did, the samples are counted, never lost silently.
        let samples = records.samples;
        let o = match records.into_request() {
            Ok(req) => self.writer.write_encoded(req, give_up).await,
            Err(e) => {
                tracing::error!(error = %e, samples, "queued records cannot be read; counted as dropped");
                self.metrics.add_dropped(DROP_QUEUE_CORRUPT, samples);
                WriteOutcome::default()
            }
        };
        (o, batch.commit)
    }

    /// Sends everything queued now, in batches.
    async fn flush(&self, give_up: Option<&watch::Receiver<Option<Instant>>>) -> WriteOutcome {
        let mut total = WriteOutcome::default();
        loop {
            let batch = self
                .queue
                .next_batch(self.cfg.remote_write.max_samples_per_send, &self.metrics)
                .await;
            if batch.is_empty() {
                self.metrics.queue_samples.set(self.queue.len() as i64);
                return total;
            }
            let (o, commit) = self.write(batch, give_up).await;
            self.queue.done(commit, &o).await;
            self.metrics.queue_samples.set(self.queue.len() as i64);
            let stop = o
                .dropped
                .iter()
                .any(|(r, _)| r == monitor_amp::remote_write::DROP_SHUTDOWN);
            total.sent += o.sent;
            total.retries += o.retries;
            for (r, n) in o.dropped {
                match total.dropped.iter_mut().find(|(x, _)| *x == r) {
                    Some((_, c)) => *c += n,
                    None => total.dropped.push((r, n)),
                }
            }
            if stop && self.queue.is_durable() {
                return total; // the rest stays on disk
            }
        }
    }

    /// The sender: sends a batch when `max_samples_per_send` samples wait, or when the
    /// oldest waiting sample has waited `batch_send_deadline` (the deadline counts from
    /// the oldest sample, not from the last push), or at shutdown. Every path awaits, so
    /// it never spins, whatever the buffer reports.
    async fn send_loop(
        &self,
        mut stop: watch::Receiver<bool>,
        give_up: watch::Receiver<Option<Instant>>,
    ) {
        let max = self.cfg.remote_write.max_samples_per_send;
        let deadline = self.cfg.remote_write.batch_send_deadline;
        let mut oldest: Option<Instant> = None;
        loop {
            let stopping = *stop.borrow();
            let waiting = self.queue.len();
            oldest = match (waiting, oldest) {
                (0, _) => None,
                (_, Some(t)) => Some(t),
                (_, None) => Some(Instant::now()),
            };
            let due = oldest.map(|t| t + deadline);
            let ready = stopping || waiting >= max || due.is_some_and(|d| d <= Instant::now());
            if !ready {
                tokio::select! {
                    _ = sleep_until_or_forever(due) => {}
                    _ = self.queue.wait() => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
            let batch = self.queue.next_batch(max, &self.metrics).await;
            if batch.is_empty() {
                self.metrics.queue_samples.set(self.queue.len() as i64);
                if stopping {
                    break;
                }
                // Counted as waiting but nothing readable yet: wait, never spin.
                oldest = None;
                tokio::select! {
                    _ = tokio::time::sleep(deadline) => {}
                    _ = self.queue.wait() => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
            let (o, commit) = self.write(batch, Some(&give_up)).await;
            self.queue.done(commit, &o).await;
            self.metrics.queue_samples.set(self.queue.len() as i64);
            if stopping {
                self.flush(Some(&give_up)).await;
                break;
            }
        }
    }

    /// One round: scrape every target once, send, report. Fails if a scrape failed or
    /// anything was dropped.
    pub async fn run_once(&self) -> Result<OnceReport, AgentError> {
        let mut report = OnceReport::default();
        for t in &self.cfg.scrape {
            let mut st = TargetState::new(&t.job, &t.instance(), &self.cfg.labels)
                .with_relabel(t.metric_relabel_configs.clone());
            let r = target::scrape_once(&self.http, t, &mut st).await;
            report
                .scraped
                .push((t.job.clone(), t.instance(), r.scraped));
            if let Some(e) = &r.error {
                report.scrape_errors.push(e.clone());
            }
            self.enqueue(r).await;
        }
        if self.cfg.self_metrics {
            self.scrape_self(&mut self.self_state()).await;
        }
        // --once must terminate: give up retrying after the request timeout.
        let (tx, rx) = watch::channel(Some(Instant::now() + self.cfg.remote_write.timeout));
        report.outcome = self.flush(Some(&rx)).await;
        drop(tx);
        let mut problems = report.scrape_errors.clone();
        if report.outcome.dropped_total() > 0 {
            problems.push(format!("dropped samples: {:?}", report.outcome.dropped));
        }
        if problems.is_empty() {
            Ok(report)
        } else {
            Err(AgentError::OnceFailed(problems.join("; ")))
        }
    }

    /// Runs until `shutdown` resolves, then stops scraping and flushes what it holds for
    /// at most `agent.shutdown_timeout`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let agent = Arc::new(self);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (give_up_tx, give_up_rx) = watch::channel::<Option<Instant>>(None);
        let mut tasks = Vec::new();

        if let Some(addr) = agent.cfg.listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| AgentError::Listen { addr, source })?;
            tracing::info!(%addr, "serving own metrics on /metrics");
            let m = agent.metrics.clone();
            let app = axum::Router::new()
                .route(
                    "/metrics",
                    axum::routing::get(move || {
                        let m = m.clone();
                        async move {
                            (
                                [(
                                    http::header::CONTENT_TYPE,
                                    "text/plain; version=0.0.4; charset=utf-8",
                                )],
                                m.encode(),
                            )
                        }
                    }),
                )
                .route("/-/healthy", axum::routing::get(|| async { "ok\n" }));
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            }));
        }

        for t in agent.cfg.scrape.clone() {
            let a = agent.clone();
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut state = TargetState::new(&t.job, &t.instance(), &a.cfg.labels)
                    .with_relabel(t.metric_relabel_configs.clone());
                let mut tick = tokio::time::interval(t.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut log = ScrapeLog::default();
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    // A scrape in progress is abandoned at shutdown (it may take up
                    // to its timeout), so stopping stays within shutdown_timeout.
                    let error = tokio::select! {
                        e = a.scrape_target(&t, &mut state) => e,
                        _ = stop.wait_for(|s| *s) => break,
                    };
                    log.record(&t, error.as_deref());
                }
            }));
        }

        if agent.cfg.self_metrics {
            let a = agent.clone();
            let mut stop = stop_rx.clone();
            let every = agent
                .cfg
                .scrape
                .iter()
                .map(|t| t.interval)
                .min()
                .unwrap_or(Duration::from_secs(15));
            tasks.push(tokio::spawn(async move {
                let mut state = a.self_state();
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    a.scrape_self(&mut state).await;
                }
            }));
        }

        // The single sender: keeps per-series order by sending one request at a time.
        let sender = {
            let a = agent.clone();
            let stop = stop_rx.clone();
            let give_up = give_up_rx.clone();
            tokio::spawn(async move { a.send_loop(stop, give_up).await })
        };

        shutdown.await;
        tracing::info!(timeout = ?agent.cfg.shutdown_timeout, "shutting down: flushing buffered samples");
        let _ = give_up_tx.send(Some(Instant::now() + agent.cfg.shutdown_timeout));
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        // Own metrics one last time so the final counters reach the receiver.
        if agent.cfg.self_metrics {
            agent.scrape_self(&mut agent.self_state()).await;
        }
        let _ = sender.await;
        let rest = agent.flush(Some(&give_up_rx)).await;
        if rest.dropped_total() > 0 {
            tracing::warn!(dropped = ?rest.dropped, "samples not delivered before the shutdown timeout");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// What a target's scrape loop has logged since its last successful scrape: each
/// distinct error (numbers ignored, so ports and sizes do not count as new) is logged once
/// at WARN, every failure is counted in `monitor_agent_scrape_failures_total`, and the
/// recovery is logged once.
#[derive(Debug, Default)]
struct ScrapeLog {
    logged: std::collections::HashSet<String>,
    failing: bool,
}

impl ScrapeLog {
    /// Distinct errors remembered per failing target (bounded memory).
    const MAX_DISTINCT: usize = 16;

    fn record(&mut self, t: &ScrapeConfig, error: Option<&str>) {
        let url = crate::config::redacted(&t.url);
        match error {
            Some(e) => {
                self.failing = true;
                let shape: String = e
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .take(160)
                    .collect();
                if self.logged.len() < Self::MAX_DISTINCT && self.logged.insert(shape) {
                    tracing::warn!(job = %t.job, target = %url, error = %e, "scrape failed (each distinct error is logged once until the target recovers; every failure is counted)");
                }
            }
            None if self.failing => {
                self.failing = false;
                self.logged.clear();
                tracing::info!(job = %t.job, target = %url, "scrape recovered");
            }
            None => {}
        }
    }
}

async fn sleep_until_or_forever(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn aws_config_chain(region: &str) -> impl aws_credential_types::provider::ProvideCredentials {
    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
        .await
}

/// Merges single-sample series into one request, grouping samples of the same series in
/// arrival order (scrapes arrive in time order, so each series stays sorted).
pub fn merge(batch: Vec<TimeSeries>) -> WriteRequest {
    // Index by label-set hash (verified on hit) so label sets are never cloned.
    let mut index: rustc_hash::FxHashMap<u64, usize> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(batch.len(), Default::default());
    let mut out: Vec<TimeSeries> = Vec::with_capacity(batch.len());
    for ts in batch {
        let h = crate::target::label_hash(&ts.labels);
        match index.get(&h) {
            Some(&i) if out[i].labels == ts.labels => out[i].samples.extend(ts.samples),
            Some(_) => out.push(ts), // hash collision: keep as its own entry
            None => {
                index.insert(h, out.len());
                out.push(ts);
            }
        }
    }
    for ts in &mut out {
        // Defensive: a target's explicit timestamps could be out of order.
        if ts
            .samples
            .windows(2)
            .any(|w| w[0].timestamp > w[1].timestamp)
        {
            ts.samples.sort_by_key(|s| s.timestamp);
        }
    }
    WriteRequest { timeseries: out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_amp::proto::{Label, Sample};

    #[test]
    fn merge_groups_by_series_in_time_order() {
        let s = |n: &str, ts: i64| TimeSeries {
            labels: vec![Label::new("__name__", n)],
            samples: vec![Sample {
                value: 0.0,
                timestamp: ts,
            }],
        };
        let req = merge(vec![s("a", 1), s("b", 1), s("a", 2), s("b", 2), s("a", 3)]);
        assert_eq!(req.timeseries.len(), 2);
        let ts: Vec<i64> = req.timeseries[0]
            .samples
            .iter()
            .map(|x| x.timestamp)
            .collect();
        assert_eq!(ts, vec![1, 2, 3]);
        assert_eq!(req.sample_count(), 5);
    }

    #[test]
    fn a_target_alternating_between_two_errors_is_logged_twice_until_it_recovers() {
        let t = ScrapeConfig::new("node", "http://127.0.0.1:9100/metrics".parse().unwrap());
        let mut log = ScrapeLog::default();
        for i in 0..10 {
            let e = if i % 2 == 0 {
                format!(
                    "GET http://127.0.0.1:9100/metrics: body exceeds body_size_limit ({i} bytes)"
                )
            } else {
                "GET http://127.0.0.1:9100/metrics: operation timed out".to_string()
            };
            log.record(&t, Some(&e));
        }
        assert_eq!(log.logged.len(), 2);
        log.record(&t, None);
        assert!(log.logged.is_empty() && !log.failing);
        log.record(&t, Some("connection refused"));
        assert_eq!(log.logged.len(), 1, "logged again after a recovery");
    }
}
