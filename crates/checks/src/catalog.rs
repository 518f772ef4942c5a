//! Every check id, what it proves, which of the seed's troubleshooting failure modes it
//! detects, and the hint printed when it fails. `docs/verify.md` shows the same table; a
//! test keeps the two in step.
//!
//! New checks add a row in [`CATALOG`] and a hint constant, and produce
//! [`crate::CheckResult`]s with those ids. The `aws.*` checks need the stack's AWS
//! account: `monitor-verify --config stack.toml` runs them (`monitor_reconcile::verify`).

use crate::report::CheckResult;

/// The endpoint answers PromQL (a failure here is a usage/auth error, exit 2).
pub const METRICS_ENDPOINT: &str = "metrics.endpoint";
/// `up{job=...}` present and 1 for the host.
pub const METRICS_UP: &str = "metrics.up";
/// Fresh `node_cpu_seconds_total`.
pub const METRICS_FRESH_CPU: &str = "metrics.fresh.cpu";
/// Fresh `node_memory_MemAvailable_bytes` and `node_memory_MemTotal_bytes`.
pub const METRICS_FRESH_MEMORY: &str = "metrics.fresh.memory";
/// Fresh `node_filesystem_avail_bytes`.
pub const METRICS_FRESH_FILESYSTEM: &str = "metrics.fresh.filesystem";
/// Fresh `node_disk_read_bytes_total` and `node_disk_written_bytes_total`.
pub const METRICS_FRESH_DISK: &str = "metrics.fresh.disk";
/// Fresh `node_network_receive_bytes_total` and `node_network_transmit_bytes_total`.
pub const METRICS_FRESH_NETWORK: &str = "metrics.fresh.network";
/// CPU utilisation computed from the data lies in 0–100 %.
pub const METRICS_CPU_UTILISATION: &str = "metrics.cpu_utilisation";
/// `MemAvailable ≤ MemTotal`.
pub const METRICS_MEMORY_SANE: &str = "metrics.memory_sane";
/// The expected external labels are on the host's series.
pub const METRICS_LABELS: &str = "metrics.labels";
/// The agent's own metrics show no dropped samples in the window.
pub const METRICS_AGENT_DROPPED: &str = "metrics.agent_dropped";
/// The agent's own metrics show no rejected (4xx) remote-write requests in the window.
pub const METRICS_AGENT_REMOTE_WRITE: &str = "metrics.agent_remote_write";
/// The samples per second the host's collector sends, from its own sent-samples counter,
/// beside the estimate `monitor-provision plan` priced.
pub const METRICS_SAMPLES_RATE: &str = "metrics.samples_rate";
/// AMP: every rule-groups namespace of the stack exists and is ACTIVE.
pub const ALERTS_RULE_NAMESPACES: &str = "alerts.rule_namespaces";
/// AMP: the workspace's Alertmanager definition exists and is ACTIVE.
pub const ALERTS_ALERTMANAGER_DEFINITION: &str = "alerts.alertmanager_definition";
/// Local: Prometheus sends alerts to at least one Alertmanager.
pub const ALERTS_ALERTMANAGER_CONNECTED: &str = "alerts.alertmanager_connected";
/// The rules API lists the stack's rules.
pub const ALERTS_RULES_LOADED: &str = "alerts.rules_loaded";
/// Every rule evaluates (`health == "ok"`).
pub const ALERTS_RULES_HEALTH: &str = "alerts.rules_health";
/// Every rule group was evaluated recently relative to its interval.
pub const ALERTS_RULES_FRESH: &str = "alerts.rules_fresh";
/// The SNS topic's policy lets the workspace publish.
pub const ALERTS_SNS_POLICY: &str = "alerts.sns_policy";
/// Every configured email/HTTPS subscriber is subscribed (pending = warning).
pub const ALERTS_SNS_SUBSCRIPTIONS: &str = "alerts.sns_subscriptions";
/// The CloudWatch Logs alarms exist and notify the topic.
pub const ALERTS_ALARMS: &str = "alerts.alarms";
/// `--fire-drill`: Alertmanager accepted the test alert.
pub const ALERTS_DRILL_ACCEPTED: &str = "alerts.fire_drill.accepted";
/// `--fire-drill`: the test alert is active and routed to a receiver.
pub const ALERTS_DRILL_ROUTED: &str = "alerts.fire_drill.routed";
/// `--fire-drill`: Alertmanager delivered a notification (local Alertmanager only).
pub const ALERTS_DRILL_DELIVERED: &str = "alerts.fire_drill.delivered";
/// The stack's AMP workspace (the one plan and apply choose) exists and is ACTIVE.
pub const AWS_WORKSPACE: &str = "aws.workspace";
/// A running instance carries the host's `monitor:host` tag.
pub const AWS_HOST: &str = "aws.host";
/// The host's SSM agent is online, under the stack's instance profile.
pub const AWS_SSM_ONLINE: &str = "aws.ssm_online";
/// A `[[fleets]]` entry's State Manager association exists and selects running members.
pub const AWS_FLEET: &str = "aws.fleet";
/// A fleet member's last enrolment (its association run) succeeded.
pub const AWS_FLEET_ENROLLED: &str = "aws.fleet_enrolled";
/// A `[[groups]]` entry's Auto Scaling group exists with `desired` instances in service.
pub const AWS_GROUP: &str = "aws.group";
/// Placeholder: logs reach the Grafana panel (logs/AMG issues).
pub const LOGS_GRAFANA_PANEL: &str = "logs.grafana_panel";

/// Hint: AMP holds no data for a host (failure mode 1).
pub const HINT_NO_DATA: &str = "AMP is not receiving this host's metrics: on the host run `curl -s localhost:9100/metrics | head` (node_exporter serving?) and `sudo journalctl -u aws-otel-collector -n 50 --no-pager` (or `-u monitor-agent`) for scrape or remote-write errors";
/// Hint: no `up` series at all for a host (failure modes 1–3).
pub const HINT_UP_MISSING: &str = "no `up` series: the collector is not scraping or not sending — ADOT reads only /opt/aws/aws-otel-collector/etc/config.yaml (a config elsewhere is ignored and nothing is scraped); a 403 or `remote write request failed` in `journalctl -u aws-otel-collector` / `-u monitor-agent` means the IAM policy names another AMP workspace (`monitor-provision apply` re-scopes it); a differently named scrape job needs --job";
/// Hint: `up == 0`, the collector cannot scrape node_exporter.
pub const HINT_UP_ZERO: &str = "the collector runs but cannot scrape node_exporter: on the host check `systemctl status node_exporter` and `curl -s localhost:9100/metrics | head`, and the scrape target address in the collector config";
/// Hint: data exists but is older than `--max-age`.
pub const HINT_STALE: &str = "the newest sample is older than --max-age: the collector stopped sending or is falling behind — look for remote-write retries (429/5xx) in `journalctl -u aws-otel-collector` / `-u monitor-agent`, and check the host clock (`chronyc tracking`)";
/// Hint: CPU utilisation outside 0–100 %.
pub const HINT_CPU_INSANE: &str = "CPU utilisation outside 0–100 %: the counters are inconsistent — usually two collectors ship the same host under the same labels; make sure only one collector (ADOT or monitor-agent) runs per host";
/// Hint: MemAvailable > MemTotal.
pub const HINT_MEMORY_INSANE: &str = "MemAvailable above MemTotal: series of different hosts are mixed under the same labels; give every host a distinct instance_id external label";
/// Hint: expected external labels missing.
pub const HINT_LABELS: &str = "add the missing external labels to the collector — monitor-agent: `[labels]` in its config; ADOT: `external_labels` of the prometheusremotewrite exporter — and restart it";
/// Hint: the agent dropped samples.
pub const HINT_AGENT_DROPPED: &str = "the agent dropped samples: queue_full = AMP was slow or unreachable for longer than the buffer holds (check remote-write errors in `journalctl -u monitor-agent`); rejected = AMP refused batches (see the logged message: out-of-order, too old, limits); duplicate_series = a target exposes a series twice";
/// Hint: remote write denied with 403 (failure mode 3).
pub const HINT_REMOTE_WRITE_403: &str = "remote write was denied (HTTP 403): the instance role's policy grants aps:RemoteWrite on another workspace ARN (typically after the workspace was recreated) — `monitor-provision apply` re-scopes it (by hand: recreate the IAM policy with the current workspace ARN)";
/// Hint: remote write rejected with another 4xx.
pub const HINT_REMOTE_WRITE_4XX: &str = "AMP rejected remote-write batches (HTTP 4xx): out-of-order or too-old samples, or a quota (active series, labels per series); the agent logs the server's message once per reason";
/// Hint: a host sends well above the estimate the plan priced.
pub const HINT_SAMPLES_RATE: &str = "AMP bills per sample and this host sends well above what `monitor-provision plan` priced: set `[estimate] series_per_host` to what it really ships for a true estimate, or ship less (`[collector] metrics = \"used\"`, fewer `extra_metrics`, a longer `scrape_interval`)";
/// Hint: a rule-groups namespace is missing or not ACTIVE.
pub const HINT_RULE_NAMESPACES: &str = "run `monitor-provision apply` (creates/updates the namespaces from [alerting]); CREATION_FAILED/UPDATE_FAILED shows AMP's reason — fix the rule file it names (`promtool check rules`) and apply again (docs/alerts.md, \"Rules in AMP\")";
/// Hint: the Alertmanager definition is missing or not ACTIVE.
pub const HINT_ALERTMANAGER_DEFINITION: &str = "run `monitor-provision apply` (puts the Alertmanager definition); on CREATION_FAILED/UPDATE_FAILED fix what AMP's reason names (SNS receiver needs sigv4.region, topic in the same account) and apply again (docs/alerts.md, \"Alertmanager\")";
/// Hint: Prometheus sends alerts nowhere.
pub const HINT_ALERTMANAGER_CONNECTED: &str = "Prometheus has no active Alertmanager: set `alerting.alertmanagers` in prometheus.yml (./scripts/local-stack.sh does) and check the Alertmanager is up (`curl -s http://127.0.0.1:9093/-/ready`) (docs/alerts.md)";
/// Hint: no rules loaded.
pub const HINT_RULES_MISSING: &str = "no rules are loaded: on AMP run `monitor-provision apply` with [alerting] enabled; locally Prometheus needs `rule_files` (./scripts/local-stack.sh writes them) (docs/alerts.md, \"Rules in AMP\")";
/// Hint: a rule fails to evaluate.
pub const HINT_RULES_ERROR: &str = "the rule's expression fails at evaluation (its lastError above): fix it in the rule file or the [alerting.overrides] value that produced it, check with `promtool check rules` / `promtool test rules`, and apply again (docs/alerts.md)";
/// Hint: a rule group is not evaluated.
pub const HINT_RULES_STALE: &str = "the rule group is not being evaluated on schedule: on AMP check the workspace is ACTIVE and the namespace ACTIVE (`monitor-verify alerts`), locally check Prometheus' log for `rule manager` errors; a group slower than its interval needs a longer evaluation_interval (docs/alerts.md)";
/// Hint: the SNS topic policy does not let AMP publish.
pub const HINT_SNS_POLICY: &str = "AMP cannot publish to the topic: its policy needs an Allow for Principal Service aps.amazonaws.com, Action sns:Publish and sns:GetTopicAttributes, Condition aws:SourceArn = the workspace ARN — `monitor-provision apply` sets it (docs/alerts.md, \"SNS\")";
/// Hint: a subscriber is missing.
pub const HINT_SNS_SUBSCRIPTIONS: &str = "a configured subscriber has no subscription: `monitor-provision apply` subscribes every [alerting] email/https entry (docs/alerts.md, \"SNS\")";
/// Hint: subscription pending.
pub const HINT_SNS_PENDING: &str = "confirm the email: SNS sent a confirmation message to the address (HTTPS endpoints must answer SNS's SubscriptionConfirmation); nothing is delivered until then (docs/alerts.md, \"SNS\")";
/// Hint: the log alarms are missing.
pub const HINT_ALARMS: &str = "no CloudWatch alarm notifies the topic: `monitor-provision apply` creates the log metric filters and alarms when [alerting] log_alarms is on (docs/alerts.md, \"Log alarms\")";
/// Hint: Alertmanager did not accept the drill.
pub const HINT_DRILL_ACCEPTED: &str = "Alertmanager did not accept the test alert: check the Alertmanager URL (--alertmanager; on AMP the workspace's alertmanager definition must be ACTIVE) and that it is up (docs/alerts.md, \"Fire drill\")";
/// Hint: the drill was not routed.
pub const HINT_DRILL_ROUTED: &str = "Alertmanager has the test alert but did not route it: check the route tree matches severity (`amtool config routes test severity=critical`) (docs/alerts.md, \"Fire drill\")";
/// Hint: the drill was not delivered.
pub const HINT_DRILL_DELIVERED: &str = "Alertmanager routed the test alert but could not deliver it: see its log for `Notify attempt failed` (receiver URL wrong or down — locally the webhook printer of ./scripts/local-stack.sh) (docs/alerts.md, \"Fire drill\")";
/// Hint: a check's query failed at runtime.
pub const HINT_QUERY_FAILED: &str =
    "the check's query failed; re-run, or run the query by hand with `monitor-verify query`";

/// Where a check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Once per run.
    Global,
    /// Once per host.
    Host,
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSpec {
    /// The stable id.
    pub id: &'static str,
    /// Global or per host.
    pub scope: Scope,
    /// What passing proves.
    pub passes_when: &'static str,
    /// The seed's troubleshooting failure modes (1–5) this check detects.
    pub failure_modes: &'static [u8],
    /// The hint on failure (the main one; some checks choose between several).
    pub hint: &'static str,
    /// Whether the check is a placeholder for a later issue (always Skip today).
    pub placeholder: bool,
}

/// Every check, in report order.
pub const CATALOG: &[CheckSpec] = &[
    CheckSpec {
        id: METRICS_ENDPOINT,
        scope: Scope::Global,
        passes_when: "the endpoint answers PromQL with the given auth (else exit 2)",
        failure_modes: &[],
        hint: "",
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_UP,
        scope: Scope::Host,
        passes_when: "up{job} is present and 1: the collector reaches node_exporter and AMP receives its samples",
        failure_modes: &[1, 2, 3],
        hint: HINT_UP_MISSING,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_FRESH_CPU,
        scope: Scope::Host,
        passes_when: "newest node_cpu_seconds_total sample younger than --max-age",
        failure_modes: &[1],
        hint: HINT_NO_DATA,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_FRESH_MEMORY,
        scope: Scope::Host,
        passes_when: "node_memory_MemAvailable_bytes and node_memory_MemTotal_bytes fresh",
        failure_modes: &[1],
        hint: HINT_NO_DATA,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_FRESH_FILESYSTEM,
        scope: Scope::Host,
        passes_when: "node_filesystem_avail_bytes fresh",
        failure_modes: &[1],
        hint: HINT_NO_DATA,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_FRESH_DISK,
        scope: Scope::Host,
        passes_when: "node_disk_read_bytes_total and node_disk_written_bytes_total fresh",
        failure_modes: &[1],
        hint: HINT_NO_DATA,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_FRESH_NETWORK,
        scope: Scope::Host,
        passes_when: "node_network_receive_bytes_total and node_network_transmit_bytes_total fresh",
        failure_modes: &[1],
        hint: HINT_NO_DATA,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_CPU_UTILISATION,
        scope: Scope::Host,
        passes_when: "100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\"}[1m]))) within 0–100 % (±1 point for scrape jitter)",
        failure_modes: &[],
        hint: HINT_CPU_INSANE,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_MEMORY_SANE,
        scope: Scope::Host,
        passes_when: "0 < MemAvailable ≤ MemTotal",
        failure_modes: &[],
        hint: HINT_MEMORY_INSANE,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_LABELS,
        scope: Scope::Host,
        passes_when: "every --label is present and non-empty on the host's series",
        failure_modes: &[],
        hint: HINT_LABELS,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_AGENT_DROPPED,
        scope: Scope::Host,
        passes_when: "increase(monitor_agent_samples_dropped_total[window]) == 0 (Skip when the agent's own metrics are absent, e.g. ADOT)",
        failure_modes: &[],
        hint: HINT_AGENT_DROPPED,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_AGENT_REMOTE_WRITE,
        scope: Scope::Host,
        passes_when: "no 4xx in increase(monitor_agent_remote_write_requests_total[window]) (Skip when absent)",
        failure_modes: &[3],
        hint: HINT_REMOTE_WRITE_403,
        placeholder: false,
    },
    CheckSpec {
        id: METRICS_SAMPLES_RATE,
        scope: Scope::Host,
        passes_when: "the collector's own sent-samples counter (monitor_agent_samples_sent_total, or ADOT's otelcol_exporter_sent_metric_points) gives its samples/s over the window; Warn above 1.5 × the plan's estimate (with --config), Skip when neither counter is there",
        failure_modes: &[],
        hint: HINT_SAMPLES_RATE,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_RULE_NAMESPACES,
        scope: Scope::Global,
        passes_when: "AMP: every rule-groups namespace of the stack exists and is ACTIVE (else AMP's statusReason is shown)",
        failure_modes: &[],
        hint: HINT_RULE_NAMESPACES,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_ALERTMANAGER_DEFINITION,
        scope: Scope::Global,
        passes_when: "AMP: the Alertmanager definition exists and is ACTIVE (else AMP's statusReason is shown)",
        failure_modes: &[],
        hint: HINT_ALERTMANAGER_DEFINITION,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_ALERTMANAGER_CONNECTED,
        scope: Scope::Global,
        passes_when: "local: Prometheus' /api/v1/alertmanagers lists an active Alertmanager",
        failure_modes: &[],
        hint: HINT_ALERTMANAGER_CONNECTED,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_RULES_LOADED,
        scope: Scope::Global,
        passes_when: "the rules API (/api/v1/rules) lists at least one rule",
        failure_modes: &[],
        hint: HINT_RULES_MISSING,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_RULES_HEALTH,
        scope: Scope::Global,
        passes_when: "every rule has health ok (one failure per rule with its lastError; not yet evaluated = warning)",
        failure_modes: &[],
        hint: HINT_RULES_ERROR,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_RULES_FRESH,
        scope: Scope::Global,
        passes_when: "every group's lastEvaluation is younger than max(3 intervals, 30s)",
        failure_modes: &[],
        hint: HINT_RULES_STALE,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_SNS_POLICY,
        scope: Scope::Global,
        passes_when: "AMP: the topic of the Alertmanager definition allows aps.amazonaws.com sns:Publish with aws:SourceArn = the workspace",
        failure_modes: &[],
        hint: HINT_SNS_POLICY,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_SNS_SUBSCRIPTIONS,
        scope: Scope::Global,
        passes_when: "AMP: every [alerting] email/https subscriber is subscribed and confirmed (pending confirmation = warning)",
        failure_modes: &[],
        hint: HINT_SNS_SUBSCRIPTIONS,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_ALARMS,
        scope: Scope::Global,
        passes_when: "AMP: with log_alarms, CloudWatch alarms exist whose action is the topic",
        failure_modes: &[],
        hint: HINT_ALARMS,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_DRILL_ACCEPTED,
        scope: Scope::Global,
        passes_when: "--fire-drill: POST /api/v2/alerts of MonitorFireDrill answered 2xx",
        failure_modes: &[],
        hint: HINT_DRILL_ACCEPTED,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_DRILL_ROUTED,
        scope: Scope::Global,
        passes_when: "--fire-drill: GET /api/v2/alerts?filter=drill_id=… shows it active (not silenced/inhibited) with a receiver",
        failure_modes: &[],
        hint: HINT_DRILL_ROUTED,
        placeholder: false,
    },
    CheckSpec {
        id: ALERTS_DRILL_DELIVERED,
        scope: Scope::Global,
        passes_when: "--fire-drill, local Alertmanager: a notification request succeeded after the drill (Skip on AMP: check the inbox)",
        failure_modes: &[],
        hint: HINT_DRILL_DELIVERED,
        placeholder: false,
    },
    CheckSpec {
        id: AWS_WORKSPACE,
        scope: Scope::Global,
        passes_when: "`--config`: the AMP workspace tagged with the stack that plan/apply use (the oldest not CREATION_FAILED) is ACTIVE; its URL is what the metrics checks query",
        failure_modes: &[1, 3],
        hint: "run `monitor-provision apply --config stack.toml`; a workspace still CREATING needs a minute",
        placeholder: false,
    },
    CheckSpec {
        id: AWS_HOST,
        scope: Scope::Host,
        passes_when: "`--config`: a running instance carries the stack's tags and `monitor:host=<host>` (hosts: the stack file's and every tagged instance's)",
        failure_modes: &[4],
        hint: "run `monitor-provision apply --config stack.toml` (it creates or replaces the instance)",
        placeholder: false,
    },
    CheckSpec {
        id: AWS_SSM_ONLINE,
        scope: Scope::Host,
        passes_when: "`--config`: the instance has the stack's instance profile and SSM's DescribeInstanceInformation says PingStatus Online",
        failure_modes: &[4],
        hint: "instance profile mismatch or failed cloud-init: check the profile and the console output, recreate the instance",
        placeholder: false,
    },
    CheckSpec {
        id: AWS_FLEET,
        scope: Scope::Global,
        passes_when: "`--config`: each `[[fleets]]` entry has its SSM document and State Manager association, and running instances carry its tags",
        failure_modes: &[4],
        hint: "run `monitor-provision apply --config stack.toml`; no member: tag the instances with the fleet's `select` tags",
        placeholder: false,
    },
    CheckSpec {
        id: AWS_GROUP,
        scope: Scope::Global,
        passes_when: "`--config`: each `[[groups]]` entry's Auto Scaling group exists and has its `desired` instances InService (listed by id, with the latest instance refresh's status)",
        failure_modes: &[4],
        hint: "run `monitor-provision apply --config stack.toml`; too few in service: `aws autoscaling describe-scaling-activities --auto-scaling-group-name <name>` names why launches fail",
        placeholder: false,
    },
    CheckSpec {
        id: AWS_FLEET_ENROLLED,
        scope: Scope::Host,
        passes_when: "`--config`: the fleet member's association status (DescribeInstanceAssociationsStatus) is Success; a failure shows the run's output tail",
        failure_modes: &[4],
        hint: "read the output tail: an unsupported OS, a missing tag or instance metadata tags off are named there; `aws ssm list-command-invocations --instance-id <id> --details` has the whole run",
        placeholder: false,
    },
    CheckSpec {
        id: LOGS_GRAFANA_PANEL,
        scope: Scope::Global,
        passes_when: "placeholder: logs in CloudWatch also show in the Grafana panel — `monitor-verify logs` checks group, region and time range",
        failure_modes: &[5],
        hint: "wrong region, log group or time range in the panel",
        placeholder: true,
    },
];

/// The catalog row of `id`.
pub fn spec(id: &str) -> Option<&'static CheckSpec> {
    CATALOG.iter().find(|s| s.id == id)
}

/// One of the seed's troubleshooting failure modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureMode {
    /// Its number in the seed's Troubleshooting section.
    pub number: u8,
    /// What the user sees.
    pub symptom: &'static str,
    /// The cause the seed names.
    pub cause: &'static str,
}

/// The five failure modes of the seed's Troubleshooting section.
pub const FAILURE_MODES: &[FailureMode] = &[
    FailureMode {
        number: 1,
        symptom: "node_cpu_seconds_total returns no data",
        cause: "AMP is not receiving metrics",
    },
    FailureMode {
        number: 2,
        symptom: "ADOT scrapes nothing",
        cause: "config written to a path other than /opt/aws/aws-otel-collector/etc/config.yaml",
    },
    FailureMode {
        number: 3,
        symptom: "remote write request failed",
        cause: "the IAM policy points to a different AMP workspace",
    },
    FailureMode {
        number: 4,
        symptom: "SSM offline after instance recreation",
        cause: "instance profile mismatch or failed cloud-init",
    },
    FailureMode {
        number: 5,
        symptom: "logs visible in CloudWatch but not in Grafana",
        cause: "wrong region, log group or time range in the panel",
    },
];

/// The ids of the checks that detect failure mode `n`.
pub fn checks_for_mode(n: u8) -> Vec<&'static str> {
    CATALOG
        .iter()
        .filter(|s| s.failure_modes.contains(&n))
        .map(|s| s.id)
        .collect()
}

/// The placeholder results for checks done elsewhere (always Skip).
pub fn placeholders() -> Vec<CheckResult> {
    vec![
        CheckResult::skip(
            LOGS_GRAFANA_PANEL,
            None,
            "not checked here: run `monitor-verify logs --group G --region R` (log group, region, time range)",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_mode_maps_to_a_check() {
        for m in FAILURE_MODES {
            assert!(
                !checks_for_mode(m.number).is_empty(),
                "failure mode {} has no check",
                m.number
            );
        }
    }

    #[test]
    fn ids_are_unique_and_placeholders_are_in_the_catalog() {
        let mut ids: Vec<_> = CATALOG.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for p in placeholders() {
            assert!(spec(&p.check).is_some_and(|s| s.placeholder), "{}", p.check);
        }
    }

    #[test]
    fn docs_table_lists_every_check_and_mode() {
        let doc = include_str!("../../../docs/verify.md");
        for s in CATALOG {
            assert!(
                doc.contains(&format!("`{}`", s.id)),
                "docs/verify.md lacks {}",
                s.id
            );
        }
        for m in FAILURE_MODES {
            assert!(
                doc.contains(m.symptom),
                "docs/verify.md lacks failure mode {}",
                m.number
            );
        }
    }
}
