use std::path::Path;
use std::time::Duration;

use super::*;

const LABELS: &str = r#"labels = { env = "prod", role = "web", team = "platform" }"#;

fn parse(text: &str) -> Result<Stack, StackError> {
    from_toml_str(text, Path::new("stack.toml"))
}

fn minimal() -> String {
    format!("[[hosts]]\nname = \"web-1\"\n{LABELS}\n")
}

/// Asserts the error text names file, line and key, and contains `needle`.
#[track_caller]
fn assert_err(text: &str, line: usize, key: &str, needle: &str) {
    let err = parse(text).expect_err("expected an error");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("stack.toml:{line}:")),
        "wrong line in: {msg}"
    );
    assert!(msg.contains(&format!("key `{key}`")), "wrong key in: {msg}");
    assert!(msg.contains(needle), "`{needle}` not in: {msg}");
    assert_eq!(err.location().map(|l| l.line), Some(line));
    assert_eq!(err.key(), Some(key));
}

#[test]
fn defaults_are_filled() {
    let s = parse(&minimal()).unwrap();
    assert_eq!(s.name, "monitoring-test");
    assert_eq!(s.region, "eu-west-1");
    assert_eq!(s.logs.group, "/monitoring-test/system");
    assert_eq!(
        s.logs.files,
        vec!["/var/log/messages", "/var/log/cloud-init-output.log"]
    );
    assert_eq!(s.collector.scrape_interval, Duration::from_secs(15));
    assert_eq!(s.collector.scrape_timeout, Duration::from_secs(10));
    assert_eq!(
        format_prometheus_duration(s.collector.scrape_interval),
        "15s"
    );
    assert_eq!(
        format_prometheus_duration(s.collector.scrape_timeout),
        "10s"
    );
    match &s.collector.kind {
        CollectorKind::Adot(a) => {
            assert_eq!(a.version, defaults::ADOT_VERSION);
            assert_eq!(a.rpm_sha256, PerArch::default());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.node_exporter.version, "1.9.1");
    assert_eq!(s.node_exporter.listen_address.to_string(), "127.0.0.1:9100");
    assert_eq!(s.node_exporter.job, "node");
    assert!(s.node_exporter.systemd_collector);
    let h = &s.hosts[0];
    assert_eq!(h.architecture, Architecture::X86_64);
    assert_eq!(h.instance_type, "t3.micro");
    assert_eq!(h.labels["env"], "prod");
    assert_eq!(s.source.as_deref(), Some(Path::new("stack.toml")));
    assert!(s.grafana.is_none() && s.alerting.is_none());
}

#[test]
fn arm64_defaults_to_graviton_instance() {
    let s = parse(&format!(
        "[[hosts]]\nname = \"a\"\narchitecture = \"arm64\"\n{LABELS}\n"
    ))
    .unwrap();
    assert_eq!(s.hosts[0].architecture, Architecture::Arm64);
    assert_eq!(s.hosts[0].instance_type, "t4g.micro");
}

#[test]
fn log_group_default_follows_name() {
    let s = parse(&format!("name = \"shop\"\n{}", minimal())).unwrap();
    assert_eq!(s.logs.group, "/shop/system");
}

#[test]
fn full_example_parses() {
    let text = format!(
        r#"name = "monitoring-test"
region = "us-east-1"
[collector]
kind = "monitor-agent"
scrape_interval = "30s"
scrape_timeout = "5s"
agent_url = "https://example.com/monitor-agent-x86_64"
agent_sha256 = "{a}"
agent_url_arm64 = "https://example.com/monitor-agent-arm64"
agent_sha256_arm64 = "{b}"
[node_exporter]
listen_address = "0.0.0.0:9100"
systemd_collector = false
[logs]
group = "/x/y"
files = ["/var/log/messages"]
[grafana]
[alerting]
[[hosts]]
name = "web-1"
{LABELS}
[[hosts]]
name = "web-2"
architecture = "arm64"
instance_type = "m7g.large"
labels = {{ env = "prod", role = "web", team = "platform", az = "b" }}
"#,
        a = "a".repeat(64),
        b = "B".repeat(64)
    );
    let s = parse(&text).unwrap();
    let CollectorKind::MonitorAgent(m) = &s.collector.kind else {
        panic!()
    };
    assert_eq!(
        m.artifact.x86_64.as_ref().unwrap().url,
        "https://example.com/monitor-agent-x86_64"
    );
    assert_eq!(m.artifact.arm64.as_ref().unwrap().sha256, "b".repeat(64));
    assert_eq!(s.hosts[1].labels["az"], "b");
    assert!(!s.node_exporter.systemd_collector);
    let g = s.grafana.as_ref().unwrap();
    assert!(!g.enabled && s.grafana_enabled().is_none());
    assert_eq!(g.permission_type, GrafanaPermissionType::CustomerManaged);
    assert_eq!(g.grafana_version, defaults::GRAFANA_VERSION);
    assert_eq!(s.host("web-2").unwrap().instance_type, "m7g.large");
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = format!("{}colour = \"blue\"\n", minimal());
    assert_err(&text, 4, "hosts[0].colour", "unknown field `colour`");
}

#[test]
fn unknown_top_level_section() {
    assert_err(
        &format!("[grafanna]\nx = 1\n{}", minimal()),
        1,
        "grafanna",
        "unknown field `grafanna`",
    );
}

#[test]
fn unknown_grafana_key_names_line_and_key() {
    assert_err(
        &format!("[grafana]\nurl = \"x\"\n{}", minimal()),
        2,
        "grafana.url",
        "unknown field `url`",
    );
}

#[test]
fn alerting_unknown_key_names_line_and_key() {
    assert_err(
        &format!("[alerting]\nx = 1\n{}", minimal()),
        2,
        "alerting.x",
        "unknown field `x`",
    );
}

#[test]
fn alerting_defaults_and_routes() {
    let text = format!(
        r#"[alerting]
email = ["oncall@example.com", "team@example.com"]
https = ["https://events.pagerduty.com/integration/SECRETKEY/enqueue"]
[alerting.routes]
"team@example.com" = ["warning"]
[alerting.rules.HostHighCpu]
threshold = 0.95
for = "30m"
[alerting.rules.HostClockSkew]
enabled = false
{}"#,
        minimal()
    );
    let s = parse(&text).unwrap();
    let a = s.alerting_enabled().expect("enabled by default");
    assert_eq!(a.notify, vec![Severity::Critical, Severity::Warning]);
    assert!(a.log_alarms);
    let sevs: Vec<_> = a
        .subscribers
        .iter()
        .map(|s| (s.endpoint.as_str(), s.severities.clone()))
        .collect();
    assert_eq!(
        sevs[0],
        (
            "oncall@example.com",
            vec![Severity::Critical, Severity::Warning]
        )
    );
    assert_eq!(sevs[1], ("team@example.com", vec![Severity::Warning]));
    assert_eq!(a.subscribers[2].protocol, Protocol::Https);
    let dbg = format!("{a:?}");
    assert!(
        !dbg.contains("SECRETKEY"),
        "integration key in Debug: {dbg}"
    );
    assert!(dbg.contains("https://events.pagerduty.com/…"), "{dbg}");
    let o = &a.overrides["HostHighCpu"];
    assert_eq!(o.threshold, Some(0.95));
    assert_eq!(o.for_, Some(std::time::Duration::from_secs(1800)));
    assert_eq!(o.location.line, 6);
    assert!(!a.overrides["HostClockSkew"].enabled);
}

#[test]
fn alerting_bad_values_name_line_and_key() {
    assert_err(
        &format!("[alerting]\nemail = [\"ops.example.com\"]\n{}", minimal()),
        2,
        "alerting.email[0]",
        "not an email address",
    );
    let err = parse(&format!(
        "[alerting]\nhttps = [\"http://hooks.example.com/KEY123\"]\n{}",
        minimal()
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("alerting.https[0]") && err.contains("not an https:// URL"),
        "{err}"
    );
    assert!(!err.contains("KEY123"), "endpoint path printed: {err}");
    assert_err(
        &format!("[alerting]\nnotify = [\"page\"]\n{}", minimal()),
        2,
        "alerting.notify",
        "`page` is not a severity",
    );
    assert_err(
        &format!(
            "[alerting]\nemail = [\"a@example.com\"]\n[alerting.routes]\n\"b@example.com\" = [\"critical\"]\n{}",
            minimal()
        ),
        4,
        "alerting.routes.\"b@example.com\"",
        "not listed",
    );
    assert_err(
        &format!(
            "[alerting]\nemail = [\"a@example.com\"]\n[alerting.routes]\n\"a@example.com\" = [\"info\"]\n{}",
            minimal()
        ),
        4,
        "alerting.routes.\"a@example.com\"",
        "add it to alerting.notify",
    );
    assert_err(
        &format!(
            "[alerting.rules.HostHighCpu]\nfor = \"soon\"\n{}",
            minimal()
        ),
        2,
        "alerting.rules.HostHighCpu.for",
        "not a duration",
    );
    assert_err(
        &format!(
            "[alerting]\nrule_files = [\"does-not-exist.yml\"]\n{}",
            minimal()
        ),
        2,
        "alerting.rule_files[0]",
        "no such file",
    );
}

const ADMINS: &str = "906744f8-0011-70e6-ca9c-1a2b3c4d5e6f";
const VIEWERS: &str = "1234567890-906744f8-0011-70e6-ca9c-1a2b3c4d5e70";

#[test]
fn grafana_is_parsed_with_defaults() {
    let s = parse(&format!(
        "[grafana]\nenabled = true\nadmin_group_ids = [\"{ADMINS}\"]\nviewer_group_ids = [\"{VIEWERS}\"]\n{}",
        minimal()
    ))
    .unwrap();
    let g = s.grafana_enabled().unwrap();
    assert_eq!(g.admin_group_ids, [ADMINS]);
    assert_eq!(g.viewer_group_ids, [VIEWERS]);
    assert!(g.editor_group_ids.is_empty());
    assert_eq!(g.permission_type, GrafanaPermissionType::CustomerManaged);
    assert_eq!(g.permission_type.as_str(), "CUSTOMER_MANAGED");
    assert_eq!(g.grafana_version, "10.4");

    let s = parse(&format!(
        "[grafana]\nenabled = true\npermission_type = \"SERVICE_MANAGED\"\ngrafana_version = \"12.4\"\n{}",
        minimal()
    ))
    .unwrap();
    let g = s.grafana_enabled().unwrap();
    assert_eq!(g.permission_type, GrafanaPermissionType::ServiceManaged);
    assert_eq!(g.grafana_version, "12.4");
    // Absent table: disabled.
    assert!(parse(&minimal()).unwrap().grafana_enabled().is_none());
}

#[test]
fn grafana_errors_name_line_and_key() {
    assert_err(
        &format!(
            "[grafana]\nenabled = true\neditor_group_ids = [\"{ADMINS}\", \"Platform Team\"]\n{}",
            minimal()
        ),
        3,
        "grafana.editor_group_ids[1]",
        "not an IAM Identity Center group id",
    );
    assert_err(
        &format!(
            "[grafana]\nadmin_group_ids = [\"{ADMINS}\"]\nviewer_group_ids = [\"{ADMINS}\"]\n{}",
            minimal()
        ),
        3,
        "grafana.viewer_group_ids[0]",
        "already listed in grafana.admin_group_ids",
    );
    assert_err(
        &format!("[grafana]\npermission_type = \"customer\"\n{}", minimal()),
        2,
        "grafana.permission_type",
        "`CUSTOMER_MANAGED` (default) or `SERVICE_MANAGED`",
    );
    assert_err(
        &format!("[grafana]\ngrafana_version = \"latest\"\n{}", minimal()),
        2,
        "grafana.grafana_version",
        "not a Grafana version",
    );
    assert_err(
        &format!("[grafana]\nenabled = \"yes\"\n{}", minimal()),
        2,
        "grafana.enabled",
        "invalid type",
    );
    assert_err(
        &format!(
            "name = \"{}\"\n[grafana]\nenabled = true\n{}",
            "n".repeat(60),
            minimal()
        ),
        1,
        "name",
        "at most 56 characters",
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    assert_err(
        &format!("region = 5\n{}", minimal()),
        1,
        "region",
        "invalid type",
    );
}

#[test]
fn syntax_error_has_line() {
    let err = parse("name = \n").unwrap_err();
    assert!(err.to_string().starts_with("stack.toml:1:"), "{err}");
}

#[test]
fn missing_host_name() {
    let err = parse(&format!("[[hosts]]\n{LABELS}\n")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("missing field `name`"), "{msg}");
    assert!(msg.contains("hosts[0]"), "{msg}");
}

#[test]
fn no_hosts() {
    let err = parse("name = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("[[hosts]]"), "{err}");
    assert_eq!(err.key(), Some("hosts"));
}

#[test]
fn duplicate_host_names() {
    let text = format!("{}\n[[hosts]]\nname = \"web-1\"\n{LABELS}\n", minimal());
    assert_err(&text, 6, "hosts[1].name", "duplicate host name `web-1`");
}

#[test]
fn bad_architecture() {
    let text = format!("[[hosts]]\nname = \"a\"\narchitecture = \"amd64\"\n{LABELS}\n");
    assert_err(&text, 3, "hosts[0].architecture", "write `x86_64`");
    let text = format!("[[hosts]]\nname = \"a\"\narchitecture = \"sparc\"\n{LABELS}\n");
    assert_err(
        &text,
        3,
        "hosts[0].architecture",
        "expected `x86_64` or `arm64`",
    );
}

#[test]
fn bad_label_name() {
    let text = "[[hosts]]\nname = \"a\"\nlabels = { env = \"p\", role = \"w\", team = \"t\", \"Bad-Name\" = \"x\" }\n";
    assert_err(
        text,
        3,
        "hosts[0].labels.Bad-Name",
        "not a valid Prometheus label name",
    );
}

#[test]
fn bad_label_name_in_multiline_table() {
    let text = "[[hosts]]\nname = \"a\"\n[hosts.labels]\nenv = \"p\"\nrole = \"w\"\nteam = \"t\"\n__x = \"y\"\n";
    assert_err(
        text,
        7,
        "hosts[0].labels.__x",
        "not a valid Prometheus label name",
    );
}

#[test]
fn reserved_and_missing_labels() {
    let text = "[[hosts]]\nname = \"a\"\nlabels = { env = \"p\", role = \"w\", team = \"t\", instance_id = \"i-1\" }\n";
    assert_err(text, 3, "hosts[0].labels.instance_id", "reserved");
    let text = "[[hosts]]\nname = \"a\"\nlabels = { env = \"p\" }\n";
    assert_err(
        text,
        3,
        "hosts[0].labels",
        "missing label(s) `role`, `team`",
    );
    let text = "[[hosts]]\nname = \"a\"\n";
    assert_err(text, 1, "hosts[0].labels", "has no labels");
    let text = "[[hosts]]\nname = \"a\"\nlabels = { env = \"\", role = \"w\", team = \"t\" }\n";
    assert_err(text, 3, "hosts[0].labels.env", "must not be empty");
}

#[test]
fn bad_host_name() {
    let text = format!("[[hosts]]\nname = \"../etc\"\n{LABELS}\n");
    assert_err(&text, 2, "hosts[0].name", "not a valid name");
}

#[test]
fn bad_log_group() {
    let text = format!("[logs]\ngroup = \"has space\"\n{}", minimal());
    assert_err(&text, 2, "logs.group", "not a CloudWatch Logs group name");
}

#[test]
fn bad_log_files() {
    let text = format!(
        "[logs]\nfiles = [\n  \"/ok\",\n  \"relative\",\n]\n{}",
        minimal()
    );
    assert_err(&text, 4, "logs.files[1]", "absolute path");
    let text = format!("[logs]\nfiles = []\n{}", minimal());
    assert_err(&text, 2, "logs.files", "empty list");
}

#[test]
fn bad_region() {
    assert_err(
        &format!("region = \"Europe\"\n{}", minimal()),
        1,
        "region",
        "not an AWS region",
    );
}

#[test]
fn bad_collector_kind() {
    assert_err(
        &format!("[collector]\nkind = \"monitor_agent\"\n{}", minimal()),
        2,
        "collector.kind",
        "did you mean `monitor-agent`",
    );
}

#[test]
fn agent_keys_rejected_for_adot() {
    let text = format!(
        "[collector]\nkind = \"adot\"\nagent_url = \"https://x/y\"\n{}",
        minimal()
    );
    assert_err(
        &text,
        3,
        "collector.agent_url",
        "only applies to kind = \"monitor-agent\"",
    );
}

#[test]
fn agent_needs_binary_for_each_used_arch() {
    let text = format!(
        "[collector]\nkind = \"monitor-agent\"\nagent_url_x86_64 = \"https://x/y\"\nagent_sha256_x86_64 = \"{}\"\n[[hosts]]\nname = \"g\"\narchitecture = \"arm64\"\n{LABELS}\n",
        "0".repeat(64)
    );
    assert_err(
        &text,
        7,
        "hosts[0].architecture",
        "no monitor-agent binary for arm64",
    );
}

#[test]
fn agent_url_needs_sha_and_https() {
    let text = format!(
        "[collector]\nkind = \"monitor-agent\"\nagent_url = \"https://x/y\"\n{}",
        minimal()
    );
    assert_err(&text, 3, "collector.agent_sha256", "needs `agent_sha256`");
    let text = format!(
        "[collector]\nkind = \"monitor-agent\"\nagent_url = \"http://x/y\"\nagent_sha256 = \"{}\"\n{}",
        "0".repeat(64),
        minimal()
    );
    assert_err(&text, 3, "collector.agent_url", "https://");
    let text = format!(
        "[collector]\nkind = \"monitor-agent\"\nagent_url = \"https://x/y\"\nagent_sha256 = \"abc\"\n{}",
        minimal()
    );
    assert_err(&text, 4, "collector.agent_sha256", "64 hex");
}

#[test]
fn scrape_timeout_within_interval() {
    let text = format!(
        "[collector]\nscrape_interval = \"10s\"\nscrape_timeout = \"1m\"\n{}",
        minimal()
    );
    assert_err(&text, 3, "collector.scrape_timeout", "must be less than");
    let text = format!("[collector]\nscrape_interval = \"5s\"\n{}", minimal());
    let s = parse(&text).unwrap();
    assert_eq!(s.collector.scrape_timeout, Duration::from_secs(4));
    assert_eq!(format_prometheus_duration(s.collector.scrape_timeout), "4s");
    let text = format!("[collector]\nscrape_interval = \"1s\"\n{}", minimal());
    let timeout = parse(&text).unwrap().collector.scrape_timeout;
    assert_eq!(timeout, Duration::from_millis(800));
    assert_eq!(format_prometheus_duration(timeout), "800ms");
    let text = format!("[collector]\nscrape_interval = \"soon\"\n{}", minimal());
    assert_err(&text, 2, "collector.scrape_interval", "not a duration");
}

#[test]
fn custom_node_exporter_version_needs_hashes() {
    let text = format!("[node_exporter]\nversion = \"1.12.1\"\n{}", minimal());
    assert_err(
        &text,
        2,
        "node_exporter.sha256_x86_64",
        "from that release's sha256sums.txt",
    );
    let text = format!(
        "[node_exporter]\nversion = \"1.12.1\"\nsha256_x86_64 = \"{a}\"\nsha256_arm64 = \"{a}\"\n{}",
        minimal(),
        a = "c".repeat(64)
    );
    let s = parse(&text).unwrap();
    assert_eq!(s.node_exporter.version, "1.12.1");
    assert_eq!(s.node_exporter.sha256.arm64, "c".repeat(64));
}

#[test]
fn bad_listen_address() {
    let text = format!("[node_exporter]\nlisten_address = \":9100\"\n{}", minimal());
    assert_err(&text, 2, "node_exporter.listen_address", "not `IP:PORT`");
}

#[test]
fn load_reads_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("stack.toml");
    std::fs::write(&p, format!("{}oops = 1\n", minimal())).unwrap();
    let err = load(&p).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{}:4:", p.display())),
        "{err}"
    );
    let err = load(&dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(err, StackError::Read { .. }));
    assert!(err.to_string().contains("missing.toml"));
}

/// The rule stack.toml applies to host label names.
fn is_label_name(s: &str) -> bool {
    monitor_amp::LabelName::of(s) == monitor_amp::LabelName::User
}

#[test]
fn label_name_rule() {
    assert!(is_label_name("env"));
    assert!(is_label_name("_x1"));
    assert!(!is_label_name("1x"));
    assert!(!is_label_name("a-b"));
    assert!(!is_label_name("__name__"));
    assert!(!is_label_name(""));
}

#[test]
fn logs_retention_default_and_allowed_values() {
    let s = parse(&minimal()).unwrap();
    assert_eq!(s.logs.retention_days, 30);
    let s = parse(&format!("[logs]\nretention_days = 365\n{}", minimal())).unwrap();
    assert_eq!(s.logs.retention_days, 365);
    assert_err(
        &format!("[logs]\nretention_days = 31\n{}", minimal()),
        2,
        "logs.retention_days",
        "not a CloudWatch Logs retention period",
    );
    assert_err(
        &format!("[logs]\nretention_days = -1\n{}", minimal()),
        2,
        "logs.retention_days",
        "allowed days: 1, 3, 5",
    );
}

#[test]
fn network_ids() {
    let s = parse(&minimal()).unwrap();
    assert_eq!(s.network, Network::default());
    let text = format!(
        "[network]\nsubnet_id = \"subnet-0123abcd\"\nvpc_id = \"vpc-0123456789abcdef0\"\n{}",
        minimal()
    );
    let s = parse(&text).unwrap();
    assert_eq!(s.network.subnet_id.as_deref(), Some("subnet-0123abcd"));
    assert_eq!(s.network.vpc_id.as_deref(), Some("vpc-0123456789abcdef0"));
    assert_err(
        &format!("[network]\nvpc_id = \"vpc-xyz\"\n{}", minimal()),
        2,
        "network.vpc_id",
        "not an EC2 id",
    );
    assert_err(
        &format!("[network]\nsubnet = \"subnet-0123abcd\"\n{}", minimal()),
        2,
        "network.subnet",
        "unknown field `subnet`",
    );
}

#[test]
fn durations_are_typed_and_render_back() {
    let text = format!(
        "[collector]\nscrape_interval = \"1m\"\nscrape_timeout = \"1500ms\"\n{}",
        minimal()
    );
    let c = parse(&text).unwrap().collector;
    assert_eq!(c.scrape_interval, Duration::from_secs(60));
    assert_eq!(c.scrape_timeout, Duration::from_millis(1500));
    assert_eq!(format_prometheus_duration(c.scrape_interval), "1m");
    assert_eq!(format_prometheus_duration(c.scrape_timeout), "1500ms");
    // humantime's compound form is accepted and printed in one unit Prometheus reads.
    let text = format!("[collector]\nscrape_interval = \"1m 30s\"\n{}", minimal());
    let c = parse(&text).unwrap().collector;
    assert_eq!(format_prometheus_duration(c.scrape_interval), "90s");
    assert_eq!(format_prometheus_duration(Duration::from_secs(7200)), "2h");
    for bad in ["0s", "10us"] {
        let text = format!("[collector]\nscrape_interval = \"{bad}\"\n{}", minimal());
        assert_err(&text, 2, "collector.scrape_interval", "whole milliseconds");
    }
    let text = format!("[collector]\nscrape_timeout = \"15\"\n{}", minimal());
    assert_err(&text, 2, "collector.scrape_timeout", "not a duration");
}

#[test]
fn reserved_double_underscore_host_label_is_rejected() {
    let text = "[[hosts]]\nname = \"a\"\nlabels = { env = \"p\", role = \"w\", team = \"t\", __name__ = \"x\" }\n";
    assert_err(text, 3, "hosts[0].labels.__name__", "not start with `__`");
}

#[test]
fn collector_metrics_default_to_used_and_extra_names_are_checked() {
    let s = from_toml_str(&minimal(), "stack.toml".as_ref()).unwrap();
    assert_eq!(s.collector.metrics, crate::MetricSelection::Used);
    assert!(s.collector.extra_metrics.is_empty());
    let text = format!(
        "[collector]\nmetrics = \"all\"\nextra_metrics = [\"node_pressure_cpu_waiting_seconds_total\", \"my:recorded\"]\n{}",
        minimal()
    );
    let s = from_toml_str(&text, "stack.toml".as_ref()).unwrap();
    assert_eq!(s.collector.metrics, crate::MetricSelection::All);
    assert_eq!(s.collector.extra_metrics.len(), 2);
    let text = format!("[collector]\nmetrics = \"some\"\n{}", minimal());
    assert_err(&text, 2, "collector.metrics", "expected \"used\"");
    let text = format!(
        "[collector]\nextra_metrics = [\"ok_name\", \"bad-name\"]\n{}",
        minimal()
    );
    assert_err(
        &text,
        2,
        "collector.extra_metrics",
        "\"bad-name\" is not a metric name",
    );
}

#[test]
fn estimate_defaults_follow_the_collector_and_overrides_are_kept() {
    let s = parse(&minimal()).unwrap();
    // ADOT (the default) with `metrics = "used"`.
    assert_eq!(
        s.estimate.series_per_host,
        monitor_cost::usage::assumptions::series_per_host(true, false)
    );
    assert_eq!(s.estimate.quotas, monitor_cost::Quotas::default());
    let text = format!(
        "{}\n[collector]\nmetrics = \"all\"\n[estimate]\nlog_gb_per_host_month = 2\n\
         grafana_viewers = 20\n[estimate.prices]\namp_samples_per_10m = 0.8\n\
         \"ec2.m7i.large\" = 0.1008\n[estimate.quotas]\nactive_series = 50000000\n",
        minimal()
    );
    let s = parse(&text).unwrap();
    assert_eq!(
        s.estimate.series_per_host,
        monitor_cost::usage::assumptions::series_per_host(false, false)
    );
    assert_eq!(s.estimate.log_gb_per_host_month, 2.0);
    assert_eq!(s.estimate.grafana_viewers, 20);
    assert_eq!(s.estimate.prices["ec2.m7i.large"], 0.1008);
    assert_eq!(s.estimate.prices["amp_samples_per_10m"], 0.8);
    assert_eq!(s.estimate.quotas.active_series, 50_000_000);
    assert_eq!(s.estimate.quotas.ingestion_rate, 170_000);
}

#[test]
fn estimate_errors_name_line_and_key() {
    let m = minimal(); // 3 lines
    assert_err(
        &format!("{m}[estimate]\nseries_per_host = 0\n"),
        5,
        "estimate.series_per_host",
        "whole number 1",
    );
    assert_err(
        &format!("{m}[estimate]\nlog_gb_per_host_month = -1.5\n"),
        5,
        "estimate.log_gb_per_host_month",
        "≥ 0",
    );
    assert_err(
        &format!("{m}[estimate.prices]\namp_sample_per_10m = 1\n"),
        5,
        "estimate.prices.amp_sample_per_10m",
        "amp_samples_per_10m",
    );
    assert_err(
        &format!("{m}[estimate.prices]\nkms_key_month = -1\n"),
        5,
        "estimate.prices.kms_key_month",
        "≥ 0",
    );
    assert_err(
        &format!("{m}[estimate.quotas]\nactive_series = 0\n"),
        5,
        "estimate.quotas.active_series",
        "whole number",
    );
    assert_err(
        &format!("{m}[estimate]\nusers = 3\n"),
        5,
        "estimate.users",
        "unknown field",
    );
}

const FLEET: &str = r#"[[fleets]]
name = "platform-prod"
select = { Team = "platform", Environment = "prod" }
labels_from_tags = { env = "Environment", role = "Role" }
labels = { team = "platform" }
"#;

#[test]
fn a_fleet_alone_is_a_stack() {
    let s = parse(FLEET).unwrap();
    assert!(s.hosts.is_empty());
    let f = &s.fleets[0];
    assert_eq!(f.name, "platform-prod");
    assert_eq!(f.select["Team"], "platform");
    assert_eq!(f.select["Environment"], "prod");
    assert_eq!(f.labels_from_tags["env"], "Environment");
    assert_eq!(f.labels["team"], "platform");
    assert!(!f.attach_to_existing_roles);
    let names: Vec<&str> = f.label_names().collect();
    assert_eq!(names, ["team", "env", "role"]);
    let opted = parse(&format!("{FLEET}attach_to_existing_roles = true\n")).unwrap();
    assert!(opted.fleets[0].attach_to_existing_roles);
}

#[test]
fn neither_hosts_nor_fleets_is_refused() {
    let err = parse("name = \"s\"\n").unwrap_err().to_string();
    assert!(
        err.contains("key `hosts`") && err.contains("[[fleets]]"),
        "{err}"
    );
}

#[test]
fn bad_fleets_name_line_and_key() {
    let base = "[[fleets]]\nname = \"f\"\n";
    assert_err(
        &format!("{base}labels = {{ env = \"p\", role = \"r\", team = \"t\" }}\n"),
        1,
        "fleets[0].select",
        "would enrol every instance",
    );
    assert_err(
        &format!(
            "{base}select = {{ a = \"1\", b = \"2\", c = \"3\", d = \"4\", e = \"5\", f = \"6\" }}\n"
        ),
        3,
        "fleets[0].select",
        "at most 5 tags",
    );
    assert_err(
        &format!("{base}select = {{ \"aws:cloudformation:stack-name\" = \"x\" }}\n"),
        3,
        "fleets[0].select.aws:cloudformation:stack-name",
        "not an EC2 tag key",
    );
    assert_err(
        &format!("{base}select = {{ Name = \"web-*\" }}\n"),
        3,
        "fleets[0].select.Name",
        "wildcards",
    );
    let sel = "select = { Team = \"platform\" }\n";
    assert_err(
        &format!("{base}{sel}labels_from_tags = {{ env = \"My Env\" }}\nlabels = {{ role = \"r\", team = \"t\" }}\n"),
        4,
        "fleets[0].labels_from_tags.env",
        "cannot be read from instance metadata",
    );
    assert_err(
        &format!("{base}{sel}labels_from_tags = {{ fleet = \"Fleet\" }}\n"),
        4,
        "fleets[0].labels_from_tags.fleet",
        "reserved",
    );
    assert_err(
        &format!("{base}{sel}labels_from_tags = {{ env = \"Env\" }}\nlabels = {{ env = \"p\", role = \"r\", team = \"t\" }}\n"),
        4,
        "fleets[0].labels_from_tags.env",
        "both `labels` and `labels_from_tags`",
    );
    assert_err(
        &format!("{base}{sel}labels_from_tags = {{ env = \"Env\" }}\n"),
        1,
        "fleets[0].labels",
        "does not set `role`, `team`",
    );
    assert_err(
        &format!(
            "{base}{sel}labels = {{ env = \"p\", role = \"r\", team = \"t\" }}\nregion_tag = 1\n"
        ),
        5,
        "fleets[0].region_tag",
        "unknown field",
    );
    assert_err(
        &format!("{}\n{FLEET}", minimal()).replace("platform-prod", "web-1"),
        6,
        "fleets[0].name",
        "already a host's name",
    );
    assert_err(
        &format!("{FLEET}{FLEET}"),
        7,
        "fleets[1].name",
        "duplicate fleet name",
    );
    assert_err(
        &format!("[collector]\nkind = \"monitor-agent\"\n\n{FLEET}"),
        1,
        "collector.agent_url",
        "need its binary",
    );
}

const GROUP: &str = "[[groups]]\nname = \"api\"\nmin = 1\nmax = 4\nlabels = { env = \"p\", role = \"api\", team = \"t\" }\n";

#[test]
fn a_group_alone_is_a_stack_with_defaults() {
    let s = parse(GROUP).unwrap();
    let g = &s.groups[0];
    assert_eq!(g.name, "api");
    assert_eq!(
        (g.min, g.desired, g.max),
        (1, 1, 4),
        "desired defaults to min"
    );
    assert_eq!(g.architecture, Architecture::X86_64);
    assert_eq!(g.instance_type, "t3.micro");
    assert!(g.subnets.is_empty());
    let s = parse(&format!(
        "{GROUP}desired = 3\narchitecture = \"arm64\"\nsubnets = [\"subnet-0123456789abcdef0\"]\n"
    ))
    .unwrap();
    let g = &s.groups[0];
    assert_eq!((g.desired, g.instance_type.as_str()), (3, "t4g.micro"));
    assert_eq!(g.subnets, ["subnet-0123456789abcdef0"]);
}

#[test]
fn bad_groups_name_line_and_key() {
    assert_err(
        &format!("{GROUP}desired = 5\n"),
        6,
        "groups[0].desired",
        "min ≤ desired ≤ max",
    );
    assert_err(
        "[[groups]]\nname = \"api\"\nmax = 2\nlabels = { env = \"p\", role = \"r\", team = \"t\" }\n",
        1,
        "groups[0].min",
        "needs `min` and `max`",
    );
    assert_err(
        &format!("{GROUP}subnets = [\"subnet-1\"]\n"),
        6,
        "groups[0].subnets",
        "is not an EC2 id",
    );
    assert_err(
        &GROUP.replace("max = 4", "max = 5000"),
        4,
        "groups[0].max",
        "from 0 to 500",
    );
    assert_err(
        &GROUP.replace("team = \"t\"", "team = \"t\", group = \"x\""),
        5,
        "groups[0].labels.group",
        "is reserved in a group",
    );
    assert_err(
        &format!("{GROUP}[[groups]]\nname = \"api\"\nmin = 0\nmax = 1\nlabels = {{ env = \"p\", role = \"r\", team = \"t\" }}\n"),
        7,
        "groups[1].name",
        "duplicate group name",
    );
    assert_err(
        &format!("[[hosts]]\nname = \"api\"\nlabels = {{ env = \"p\", role = \"r\", team = \"t\" }}\n{GROUP}"),
        5,
        "groups[0].name",
        "already a host's or fleet's name",
    );
    assert_err(
        &format!(
            "[collector]\nkind = \"monitor-agent\"\nagent_url_x86_64 = \"https://x.example/a\"\n\
             agent_sha256_x86_64 = \"{}\"\n{GROUP}architecture = \"arm64\"\n",
            "1f".repeat(32)
        ),
        5,
        "groups[0].architecture",
        "no monitor-agent binary for arm64",
    );
}

#[test]
fn group_labels_stay_free_for_hosts_unless_they_name_a_group() {
    let host = |group: &str| {
        format!("[[hosts]]\nname = \"h\"\nlabels = {{ env = \"p\", role = \"r\", team = \"t\", group = \"{group}\", availability_zone = \"x\" }}\n")
    };
    // A stack file written before groups existed keeps loading.
    assert!(parse(&host("blue")).is_ok());
    assert!(parse(&format!("{}{GROUP}", host("blue"))).is_ok());
    assert_err(
        &format!("{}{GROUP}", host("api")),
        1,
        "hosts[0].labels.group",
        "names the Auto Scaling group `api`",
    );
    assert_err(
        &GROUP.replace("team = \"t\"", "team = \"t\", availability_zone = \"x\""),
        5,
        "groups[0].labels.availability_zone",
        "is reserved in a group",
    );
}
