//! [`AlertSink`]: an Alertmanager webhook receiver that records every notification it
//! gets, for the alert tests and the local stack's alert printer
//! (`cargo run -p monitor-examples --example alert-printer`).
//!
//! Alertmanager's `webhook_configs` POST one JSON document per notification (version 4,
//! <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>): a group of
//! alerts with their labels, annotations and `firing`/`resolved` status. [`WebhookMessage`]
//! is that document; the sink keeps them in arrival order and wakes waiters.
//!
//! ```no_run
//! # async fn demo() {
//! let sink = monitor_testkit::AlertSink::start().await;
//! // point an Alertmanager `webhook_configs: [{url: <sink.url()>}]` at it, then:
//! let hit = sink
//!     .wait_for(std::time::Duration::from_secs(60), |a| a.label("alertname") == Some("NodeExporterDown"))
//!     .await;
//! assert!(hit.is_some(), "received: {:?}", sink.alerts());
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use tokio::sync::broadcast;

/// The path the sink listens on (`webhook_configs[].url` = `http://ADDR/alerts`).
pub const WEBHOOK_PATH: &str = "/alerts";

/// One webhook notification (Alertmanager's webhook payload, version 4).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    /// Payload version (`"4"`).
    #[serde(default)]
    pub version: String,
    /// The receiver that sent it.
    #[serde(default)]
    pub receiver: String,
    /// `firing` if any alert of the group fires, else `resolved`.
    #[serde(default)]
    pub status: String,
    /// The group's labels (the route's `group_by`).
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert of the group carries.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// The alerts of the group.
    #[serde(default)]
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of a [`WebhookMessage`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    #[serde(default)]
    pub status: String,
    /// Its labels (`alertname`, `severity`, the host's labels, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its annotations (`summary`, `description`, `runbook`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 start time.
    #[serde(default)]
    pub starts_at: String,
    /// RFC 3339 end time (`0001-01-01T00:00:00Z` while firing without an end).
    #[serde(default)]
    pub ends_at: String,
    /// Alertmanager's fingerprint of the label set.
    #[serde(default)]
    pub fingerprint: String,
}

impl WebhookAlert {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// Whether the alert is firing (not resolved).
    pub fn is_firing(&self) -> bool {
        self.status == "firing"
    }
}

#[derive(Debug)]
struct Shared {
    messages: Mutex<Vec<WebhookMessage>>,
    tx: broadcast::Sender<WebhookMessage>,
}

/// A running webhook receiver on loopback; stops when dropped.
#[derive(Debug)]
pub struct AlertSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl AlertSink {
    /// Starts the sink on a free loopback port (inside a tokio runtime).
    pub async fn start() -> AlertSink {
        AlertSink::bind("127.0.0.1:0")
            .await
            .expect("bind the alert sink on 127.0.0.1:0")
    }

    /// Starts the sink on `addr` (e.g. `127.0.0.1:9095` for the local stack).
    ///
    /// # Errors
    /// The address cannot be bound (in use, not local).
    pub async fn bind(addr: &str) -> std::io::Result<AlertSink> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            messages: Mutex::new(Vec::new()),
            tx,
        });
        let app = Router::new()
            .route(WEBHOOK_PATH, post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            // The server only ends with the task (aborted on drop).
            let _ = axum::serve(listener, app).await;
        });
        Ok(AlertSink { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT/alerts`: the `webhook_configs[].url` to configure.
    pub fn url(&self) -> String {
        format!("http://{}{WEBHOOK_PATH}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every notification received so far, in arrival order.
    pub fn messages(&self) -> Vec<WebhookMessage> {
        self.shared.messages.lock().expect("sink lock").clone()
    }

    /// Every alert of every notification so far (firing and resolved), in arrival order.
    pub fn alerts(&self) -> Vec<WebhookAlert> {
        self.messages().into_iter().flat_map(|m| m.alerts).collect()
    }

    /// New notifications as they arrive (for a printer).
    pub fn subscribe(&self) -> broadcast::Receiver<WebhookMessage> {
        self.shared.tx.subscribe()
    }

    /// Waits up to `timeout` for a received alert (already received or arriving) that
    /// matches `pred`; returns the first one.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&WebhookAlert) -> bool,
    ) -> Option<WebhookAlert> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(a) = self.alerts().into_iter().find(|a| pred(a)) {
                return Some(a);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for AlertSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    match serde_json::from_slice::<WebhookMessage>(&body) {
        Ok(msg) => {
            shared.messages.lock().expect("sink lock").push(msg.clone());
            // No subscriber is fine (tests read `messages`).
            let _ = shared.tx.send(msg);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_alertmanager_webhook_payloads_and_rejects_garbage() {
        let sink = AlertSink::start().await;
        let payload = serde_json::json!({
            "version": "4", "receiver": "local", "status": "firing",
            "groupLabels": {"instance_id": "i-1"}, "commonLabels": {"severity": "critical"},
            "alerts": [{"status": "firing", "labels": {"alertname": "HostAbsent", "instance_id": "i-1"},
                        "annotations": {"summary": "gone"}, "startsAt": "2026-01-01T00:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"}]
        });
        let http = reqwest::Client::new();
        let ok = http.post(sink.url()).json(&payload).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        let bad = http.post(sink.url()).body("not json").send().await.unwrap();
        assert_eq!(bad.status(), 400);

        let hit = sink
            .wait_for(Duration::from_secs(1), |a| {
                a.label("alertname") == Some("HostAbsent")
            })
            .await
            .expect("recorded");
        assert!(hit.is_firing());
        assert_eq!(hit.annotations["summary"], "gone");
        assert_eq!(sink.messages().len(), 1);
        assert_eq!(sink.messages()[0].group_labels["instance_id"], "i-1");
        let none = sink
            .wait_for(Duration::from_millis(200), |a| {
                a.label("alertname") == Some("x")
            })
            .await;
        assert!(none.is_none());
    }
}
