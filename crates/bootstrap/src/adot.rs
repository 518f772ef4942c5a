//! The ADOT collector configuration (`/opt/aws/aws-otel-collector/etc/config.yaml`) as
//! typed structs: `prometheus` receiver → `prometheusremotewrite` exporter signed by the
//! `sigv4auth` extension. Serialised with serde_yaml_ng, never templated.

use std::collections::BTreeMap;
use std::time::Duration;

use monitor_stack::format_prometheus_duration;
use serde::{Deserialize, Serialize};

/// Root of the ADOT (OpenTelemetry collector) config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdotConfig {
    /// `extensions:` — only `sigv4auth`.
    pub extensions: Extensions,
    /// `receivers:` — only `prometheus`.
    pub receivers: Receivers,
    /// `exporters:` — only `prometheusremotewrite`.
    pub exporters: Exporters,
    /// `service:` — which components run and how they are wired.
    pub service: Service,
}

/// `extensions:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extensions {
    /// SigV4 request signing with the instance-profile credentials.
    pub sigv4auth: SigV4Auth,
}

/// `extensions.sigv4auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4Auth {
    /// Region of the AMP workspace.
    pub region: String,
    /// Signing name: always `aps` for AMP.
    pub service: String,
}

/// `receivers:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receivers {
    /// The Prometheus scraper.
    pub prometheus: PrometheusReceiver,
}

/// `receivers.prometheus`: embeds a Prometheus `scrape_config` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusReceiver {
    /// The embedded Prometheus configuration.
    pub config: PrometheusConfig,
}

/// The Prometheus configuration inside the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// `global:` defaults.
    pub global: PrometheusGlobal,
    /// One entry per scrape job.
    pub scrape_configs: Vec<ScrapeConfig>,
}

/// `global:` of the embedded Prometheus config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusGlobal {
    /// e.g. `15s` (a Prometheus duration, from [`format_prometheus_duration`]).
    pub scrape_interval: String,
    /// e.g. `10s`.
    pub scrape_timeout: String,
}

/// One Prometheus scrape job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// Becomes the `job` label.
    pub job_name: String,
    /// Fixed targets.
    pub static_configs: Vec<StaticConfig>,
    /// The metric allowlist, if any (node_exporter's job only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<crate::KeepRule>,
}

/// `static_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` targets.
    pub targets: Vec<String>,
}

/// `exporters:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exporters {
    /// Prometheus remote write to AMP.
    pub prometheusremotewrite: RemoteWriteExporter,
}

/// `exporters.prometheusremotewrite`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteExporter {
    /// `https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws>/api/v1/remote_write`.
    pub endpoint: String,
    /// Which extension signs the requests.
    pub auth: Authenticator,
    /// Labels added to every series sent (`env`, `role`, `team`, `instance_id`, …).
    /// Values are escaped for the collector's `$` expansion (`$` → `$$`).
    pub external_labels: BTreeMap<String, String>,
}

/// `auth:` block of an exporter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authenticator {
    /// Extension id, `sigv4auth`.
    pub authenticator: String,
}

/// `service:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Enabled extensions.
    pub extensions: Vec<String>,
    /// Pipelines by signal.
    pub pipelines: Pipelines,
}

/// `service.pipelines`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipelines {
    /// The metrics pipeline.
    pub metrics: Pipeline,
}

/// One pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Receiver ids.
    pub receivers: Vec<String>,
    /// Exporter ids.
    pub exporters: Vec<String>,
}

/// The `job` of ADOT's self-scrape.
pub const ADOT_SELF_JOB: &str = "adot";
/// Where ADOT serves its own Prometheus telemetry (the collector's default
/// `service.telemetry.metrics` address, localhost since collector v0.111).
pub const ADOT_TELEMETRY_TARGET: &str = "127.0.0.1:8888";

/// Builds the ADOT config: scrape `target` every `interval` (within `timeout`) as `job`,
/// keeping only what `keep` allows, send to `endpoint` signed for `region`, with `labels`
/// on every series.
pub fn config(
    region: &str,
    endpoint: &str,
    job: &str,
    target: &str,
    (interval, timeout): (Duration, Duration),
    labels: &BTreeMap<String, String>,
    keep: Vec<crate::KeepRule>,
) -> AdotConfig {
    const RECEIVER: &str = "prometheus";
    const EXPORTER: &str = "prometheusremotewrite";
    const AUTH: &str = "sigv4auth";
    AdotConfig {
        extensions: Extensions {
            sigv4auth: SigV4Auth {
                region: region.to_string(),
                service: "aps".to_string(),
            },
        },
        receivers: Receivers {
            prometheus: PrometheusReceiver {
                config: PrometheusConfig {
                    global: PrometheusGlobal {
                        scrape_interval: format_prometheus_duration(interval),
                        scrape_timeout: format_prometheus_duration(timeout),
                    },
                    scrape_configs: vec![
                        ScrapeConfig {
                            job_name: job.to_string(),
                            static_configs: vec![StaticConfig {
                                targets: vec![target.to_string()],
                            }],
                            // `$` escaped for the collector's expansion, as the labels.
                            metric_relabel_configs: keep
                                .into_iter()
                                .map(|k| crate::KeepRule {
                                    regex: k.regex.replace('$', "$$"),
                                    ..k
                                })
                                .collect(),
                        },
                        // The collector's own telemetry (`otelcol_exporter_send_failed_…`),
                        // so the collector-health alerts see remote-write failures in AMP.
                        ScrapeConfig {
                            job_name: ADOT_SELF_JOB.to_string(),
                            static_configs: vec![StaticConfig {
                                targets: vec![ADOT_TELEMETRY_TARGET.to_string()],
                            }],
                            metric_relabel_configs: Vec::new(),
                        },
                    ],
                },
            },
        },
        exporters: Exporters {
            prometheusremotewrite: RemoteWriteExporter {
                endpoint: endpoint.to_string(),
                auth: Authenticator {
                    authenticator: AUTH.to_string(),
                },
                // The collector expands `${…}`/`$VAR` in every config string; `$$` is a
                // literal `$`.
                external_labels: labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.replace('$', "$$")))
                    .collect(),
            },
        },
        service: Service {
            extensions: vec![AUTH.to_string()],
            pipelines: Pipelines {
                metrics: Pipeline {
                    receivers: vec![RECEIVER.to_string()],
                    exporters: vec![EXPORTER.to_string()],
                },
            },
        },
    }
}
