//! One way to wait for AWS to reach a state: [`poll_until`] calls a probe every `poll`
//! until it answers [`Poll::Ready`] or fails, and turns the deadline into a
//! [`ReconcileError::Timeout`] that names what was awaited and the last status seen.
//! One way to ride out a transient error (IAM propagation, a security group still in
//! use): [`retry_transient`] retries with doubling [`Backoff`] until a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{ReconcileError, Result};

/// One answer of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// The awaited state is reached.
    Ready(T),
    /// Not yet; the status seen now (for the timeout message and the progress line).
    Pending(String),
}

/// How long and how often to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Delay between probes.
    pub poll: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

/// Exponential backoff with a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Give up once this much time has passed since the first attempt.
    pub deadline: Duration,
}

impl Default for Backoff {
    /// 1 s doubling to 10 s, for up to 2 minutes: IAM usually propagates a new instance
    /// profile to EC2 within 10–15 s.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
        }
    }
}

/// Why [`retry_transient`] stopped without a result.
#[derive(Debug)]
pub enum GaveUp<E> {
    /// An error that is not transient: returned at once.
    Permanent(E),
    /// Still transient when the next delay would pass the deadline: the last error.
    Deadline(E),
}

/// Runs `op` until it succeeds or fails with an error `transient` does not accept,
/// sleeping between attempts (doubling from `backoff.initial` to `backoff.max`) as long
/// as the next delay stays within `backoff.deadline`; `on_retry` sees each transient
/// error and the delay before the next attempt (a log line).
///
/// # Errors
/// [`GaveUp::Permanent`] or [`GaveUp::Deadline`] with the last error.
pub async fn retry_transient<T, E, F, Fut>(
    backoff: &Backoff,
    transient: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(&E, Duration),
    mut op: F,
) -> std::result::Result<T, GaveUp<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    let started = Instant::now();
    let mut delay = backoff.initial;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if !transient(&e) => return Err(GaveUp::Permanent(e)),
            Err(e) if started.elapsed() + delay > backoff.deadline => {
                return Err(GaveUp::Deadline(e))
            }
            Err(e) => {
                on_retry(&e, delay);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
            }
        }
    }
}

/// Calls `probe` until it returns `Ready` (its value is returned) or an error (returned
/// as is), sleeping `wait.poll` between calls; `on_pending` sees every pending status
/// (a progress line). Probes at once, so an already-reached state costs no sleep.
///
/// # Errors
/// The probe's error, or [`ReconcileError::Timeout`] naming `what` and the last status.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    wait: Wait,
    mut on_pending: impl FnMut(&str, Duration),
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    loop {
        match probe().await? {
            Poll::Ready(v) => return Ok(v),
            Poll::Pending(status) => {
                if started.elapsed() >= wait.timeout {
                    return Err(ReconcileError::Timeout {
                        what: format!("{what} (it is {status})"),
                        seconds: wait.timeout.as_secs(),
                    });
                }
                on_pending(&status, started.elapsed());
            }
        }
        tokio::time::sleep(wait.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retry_transient_retries_only_transient_errors_until_the_deadline() {
        let b = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
            deadline: Duration::from_millis(300),
        };
        let mut calls = 0;
        let r: std::result::Result<u32, GaveUp<&str>> = retry_transient(
            &b,
            |e: &&str| *e == "busy",
            |_, _| {},
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err("busy")
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(r.unwrap(), 3);
        let r: std::result::Result<(), _> = retry_transient(
            &b,
            |e: &&str| *e == "busy",
            |_, _| {},
            || async { Err("denied") },
        )
        .await;
        assert!(matches!(r, Err(GaveUp::Permanent("denied"))));
        let mut retries = 0;
        let r: std::result::Result<(), _> = retry_transient(
            &b,
            |e: &&str| *e == "busy",
            |_, _| retries += 1,
            || async { Err("busy") },
        )
        .await;
        assert!(matches!(r, Err(GaveUp::Deadline("busy"))));
        assert!(retries > 3, "{retries} retries before the deadline");
    }

    fn fast() -> Wait {
        Wait {
            poll: Duration::from_millis(1),
            timeout: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn returns_once_ready_and_reports_every_pending_status() {
        let mut n = 0;
        let mut seen = Vec::new();
        let v = poll_until(
            "thing",
            fast(),
            |s, _| seen.push(s.to_string()),
            || {
                n += 1;
                let k = n;
                async move {
                    Ok(if k >= 3 {
                        Poll::Ready(k)
                    } else {
                        Poll::Pending(format!("step {k}"))
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 3);
        assert_eq!(seen, ["step 1", "step 2"]);
    }

    #[tokio::test]
    async fn times_out_naming_the_last_status() {
        let e = poll_until(
            "workspace ws-1 to be ACTIVE",
            fast(),
            |_, _| {},
            || async { Ok(Poll::<()>::Pending("CREATING".into())) },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, ReconcileError::Timeout { what, .. } if what == "workspace ws-1 to be ACTIVE (it is CREATING)"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn probe_errors_end_the_wait() {
        let e = poll_until(
            "x",
            fast(),
            |_, _| {},
            || async { Err::<Poll<()>, _>(ReconcileError::Failed("gone".into())) },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ReconcileError::Failed(m) if m == "gone"));
    }
}
