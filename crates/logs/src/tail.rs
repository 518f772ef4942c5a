//! Tail/follow a log group over `FilterLogEvents`: new events as they arrive.
//!
//! Each poll asks for events from the newest timestamp seen so far (minus an optional
//! lateness window) and follows `nextToken` to the end, including pages that are empty but
//! carry a token (FilterLogEvents returns those when it stops scanning early). Because
//! consecutive windows overlap, events are de-duplicated by `eventId`; the ids remembered
//! are pruned once they fall out of the window. Times are epoch **milliseconds** here.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatchlogs::Client;
use serde::Serialize;

use crate::error::LogsError;
use crate::time::{epoch_ms, format_ms};

/// At most this many pages are read in one poll, so a very busy group cannot pin a poll.
const DEFAULT_MAX_PAGES: usize = 1_000;

/// One log event as FilterLogEvents returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    /// The service's event id (unique within the group).
    pub event_id: String,
    /// The stream the event belongs to.
    pub log_stream: String,
    /// Event time, epoch milliseconds.
    pub timestamp_ms: i64,
    /// When CloudWatch Logs received it, epoch milliseconds.
    pub ingestion_time_ms: Option<i64>,
    /// The message.
    pub message: String,
}

impl LogEvent {
    /// The event time as RFC 3339 with milliseconds.
    pub fn timestamp_rfc3339(&self) -> String {
        format_ms(self.timestamp_ms)
    }
}

/// What to follow and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailOptions {
    /// The log group.
    pub group: String,
    /// Only these streams (at most 100; empty = all streams).
    pub stream_names: Vec<String>,
    /// Only streams whose name starts with this (not combinable with `stream_names`).
    pub stream_prefix: Option<String>,
    /// A CloudWatch Logs filter pattern (`?ERROR ?panic`, `"exact phrase"`, …).
    pub filter_pattern: Option<String>,
    /// Events from this instant on (default: 5 minutes ago).
    pub start: SystemTime,
    /// Wait between polls in [`Tail::follow`] (default 2 s).
    pub poll_interval: Duration,
    /// FilterLogEvents `limit` per page (`None` = service default, up to 10,000).
    pub page_size: Option<i32>,
    /// How far behind the newest event each poll looks again, for events that arrive late
    /// with older timestamps (default 0: only the newest millisecond is re-read).
    pub late_window: Duration,
    /// Upper bound on pages per poll (default 1,000).
    pub max_pages_per_poll: usize,
}

impl TailOptions {
    /// Follow `group` from 5 minutes ago, all streams, no pattern, polling every 2 s.
    pub fn new(group: impl Into<String>) -> TailOptions {
        TailOptions {
            group: group.into(),
            stream_names: Vec::new(),
            stream_prefix: None,
            filter_pattern: None,
            start: SystemTime::now()
                .checked_sub(Duration::from_secs(300))
                .unwrap_or(SystemTime::UNIX_EPOCH),
            poll_interval: Duration::from_secs(2),
            page_size: None,
            late_window: Duration::ZERO,
            max_pages_per_poll: DEFAULT_MAX_PAGES,
        }
    }

    /// Starts at `start` instead of 5 minutes ago.
    pub fn since(mut self, start: SystemTime) -> TailOptions {
        self.start = start;
        self
    }

    /// Only these streams.
    pub fn streams<I, S>(mut self, names: I) -> TailOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stream_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Only events matching a CloudWatch Logs filter pattern.
    pub fn pattern(mut self, pattern: impl Into<String>) -> TailOptions {
        self.filter_pattern = Some(pattern.into());
        self
    }

    /// Events per page.
    pub fn page_size(mut self, n: i32) -> TailOptions {
        self.page_size = Some(n);
        self
    }

    /// Wait between polls.
    pub fn poll_interval(mut self, d: Duration) -> TailOptions {
        self.poll_interval = d;
        self
    }
}

/// A follower over one log group. Call [`Tail::poll`] repeatedly, or [`Tail::follow`].
#[derive(Debug, Clone)]
pub struct Tail {
    client: Client,
    opts: TailOptions,
    /// Newest event timestamp delivered so far (ms); the next window starts here.
    cursor_ms: i64,
    /// Event ids already delivered, with their timestamps (for pruning).
    seen: HashMap<String, i64>,
}

impl Tail {
    /// A follower starting at `opts.start`.
    pub fn new(client: Client, opts: TailOptions) -> Tail {
        let cursor_ms = epoch_ms(opts.start);
        Tail {
            client,
            opts,
            cursor_ms,
            seen: HashMap::new(),
        }
    }

    /// The options this follower runs with.
    pub fn options(&self) -> &TailOptions {
        &self.opts
    }

    /// Fetches every event not delivered yet (all pages), oldest first.
    pub async fn poll(&mut self) -> Result<Vec<LogEvent>, LogsError> {
        if !self.opts.stream_names.is_empty() && self.opts.stream_prefix.is_some() {
            return Err(LogsError::InvalidRequest(
                "FilterLogEvents takes stream names or a stream prefix, not both".into(),
            ));
        }
        let window_start = self
            .cursor_ms
            .saturating_sub(duration_ms(self.opts.late_window))
            .max(epoch_ms(self.opts.start));
        let mut fresh = Vec::new();
        let mut token: Option<String> = None;
        for page in 1.. {
            let out = self
                .client
                .filter_log_events()
                .log_group_name(&self.opts.group)
                .start_time(window_start)
                .set_log_stream_names(
                    (!self.opts.stream_names.is_empty()).then(|| self.opts.stream_names.clone()),
                )
                .set_log_stream_name_prefix(self.opts.stream_prefix.clone())
                .set_filter_pattern(self.opts.filter_pattern.clone())
                .set_limit(self.opts.page_size)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| LogsError::from_sdk("FilterLogEvents", e))?;
            for ev in out.events() {
                let ts = ev.timestamp().unwrap_or_default();
                let stream = ev.log_stream_name().unwrap_or_default();
                let message = ev.message().unwrap_or_default();
                // Every real event has an id; if one does not, key it by its content.
                let id = ev
                    .event_id()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{stream}/{ts}/{message}"));
                // Older than the window: delivered before (its id may be pruned already)
                // or outside what was asked; a backend that ignores startTime cannot
                // make it reappear.
                if ts < window_start || self.seen.contains_key(&id) {
                    continue;
                }
                self.seen.insert(id.clone(), ts);
                fresh.push(LogEvent {
                    event_id: id,
                    log_stream: stream.to_owned(),
                    timestamp_ms: ts,
                    ingestion_time_ms: ev.ingestion_time(),
                    message: message.to_owned(),
                });
            }
            // Follow the token even across empty pages; stop at the end, on a token that
            // repeats (no progress), or at the page cap.
            match out.next_token() {
                Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                    if page >= self.opts.max_pages_per_poll {
                        tracing::warn!(
                            group = %self.opts.group,
                            pages = page,
                            "page cap reached; the rest comes with the next poll"
                        );
                        break;
                    }
                    token = Some(next.to_owned());
                }
                _ => break,
            }
        }
        // FilterLogEvents orders within a stream, not always across streams.
        fresh.sort_by_key(|e| e.timestamp_ms);
        if let Some(newest) = fresh.last() {
            self.cursor_ms = self.cursor_ms.max(newest.timestamp_ms);
        }
        let keep_from = self
            .cursor_ms
            .saturating_sub(duration_ms(self.opts.late_window));
        self.seen.retain(|_, ts| *ts >= keep_from);
        Ok(fresh)
    }

    /// Polls until `stop` completes, handing each new event to `on_event` in time order.
    /// Throttling is ridden out (logged, retried next poll); other errors end the loop, as
    /// does an error returned by `on_event`.
    pub async fn follow<F>(
        &mut self,
        stop: impl Future<Output = ()>,
        mut on_event: F,
    ) -> Result<(), LogsError>
    where
        F: FnMut(LogEvent) -> Result<(), LogsError>,
    {
        tokio::pin!(stop);
        loop {
            let polled = tokio::select! {
                biased;
                () = &mut stop => return Ok(()),
                r = self.poll() => r,
            };
            match polled {
                Ok(events) => events.into_iter().try_for_each(&mut on_event)?,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(group = %self.opts.group, error = %e, "poll refused; retrying");
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                biased;
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(self.opts.poll_interval) => {}
            }
        }
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
