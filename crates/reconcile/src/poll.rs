//! One way to wait for AWS to reach a state: [`poll_until`] calls a probe every `poll`
//! until it answers [`Poll::Ready`] or fails, and turns the deadline into a
//! [`ReconcileError::Timeout`] that names what was awaited and the last status seen.

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
