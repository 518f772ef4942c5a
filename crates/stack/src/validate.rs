//! `StackFile` (as parsed) → `Stack` (validated, defaults filled). Pure, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use monitor_amp::LabelName;
use toml::Spanned;

use crate::error::{Location, StackError};
use crate::file::{
    CollectorFile, GrafanaFile, HostFile, LogsFile, NetworkFile, NodeExporterFile, StackFile,
};
use crate::model::{
    defaults, format_prometheus_duration, Adot, Architecture, Artifact, Collector, CollectorKind,
    GrafanaConfig, GrafanaPermissionType, Host, Logs, MetricSelection, MonitorAgent, Network,
    NodeExporter, PerArch, Stack,
};

/// Carries the file name and text so any check can turn a span into `file:line:col`.
pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn invalid(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        message: String,
    ) -> StackError {
        StackError::Invalid {
            location: Location::of_span(self.path, self.text, span),
            key: key.to_string(),
            message,
        }
    }

    pub(crate) fn bad<T>(&self, v: &Spanned<T>, key: &str, message: String) -> StackError {
        self.invalid(Some(v.span()), key, message)
    }
}

type Result<T> = std::result::Result<T, StackError>;

pub(crate) fn validate(ctx: &Ctx<'_>, file: StackFile) -> Result<Stack> {
    let name = match &file.name {
        Some(n) => {
            check_name(n.get_ref(), 64).map_err(|m| ctx.bad(n, "name", m))?;
            n.get_ref().clone()
        }
        None => defaults::NAME.to_string(),
    };
    let region = match &file.region {
        Some(r) => {
            if !is_region(r.get_ref()) {
                return Err(ctx.bad(
                    r,
                    "region",
                    format!(
                        "`{}` is not an AWS region name (expected e.g. `eu-west-1`)",
                        r.get_ref()
                    ),
                ));
            }
            r.get_ref().clone()
        }
        None => defaults::REGION.to_string(),
    };

    let hosts = validate_hosts(ctx, &file.hosts)?;
    let host_names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let fleets = crate::fleets::validate_fleets(ctx, &file.fleets, &host_names)?;
    let taken: Vec<&str> = host_names
        .iter()
        .copied()
        .chain(fleets.iter().map(|f| f.name.as_str()))
        .collect();
    let groups = crate::groups::validate_groups(ctx, &file.groups, &taken)?;
    crate::groups::check_group_labels(ctx, &file, &hosts, &fleets, &groups)?;
    if hosts.is_empty() && fleets.is_empty() && groups.is_empty() {
        return Err(ctx.invalid(
            None,
            "hosts",
            "no hosts: add at least one `[[hosts]]` table with a `name` and `labels` \
             (or a `[[fleets]]` table selecting running instances by tag, or a \
             `[[groups]]` Auto Scaling group)"
                .into(),
        ));
    }
    let node_exporter = validate_node_exporter(ctx, file.node_exporter.as_ref())?;
    let logs = validate_logs(ctx, file.logs.as_ref(), &name)?;
    let collector = validate_collector(ctx, file.collector.as_ref(), &file.hosts, &hosts)?;
    if let CollectorKind::MonitorAgent(agent) = &collector.kind {
        let none = Architecture::ALL
            .iter()
            .all(|a| agent.artifact.get(*a).is_none());
        if none && !fleets.is_empty() {
            return Err(ctx.invalid(
                file.collector.as_ref().map(Spanned::span),
                "collector.agent_url",
                "[[fleets]] with the monitor-agent collector need its binary: set \
                 `agent_url` + `agent_sha256` (all architectures) or per architecture"
                    .into(),
            ));
        }
        if let Some((i, g)) = groups
            .iter()
            .enumerate()
            .find(|(_, g)| agent.artifact.get(g.architecture).is_none())
        {
            let a = g.architecture;
            return Err(ctx.invalid(
                file.groups.get(i).map(Spanned::span),
                &format!("groups[{i}].architecture"),
                format!(
                    "group `{}` is {a} but [collector] has no monitor-agent binary for {a}: \
                     set agent_url_{a} and agent_sha256_{a}",
                    g.name
                ),
            ));
        }
    }
    let network = validate_network(ctx, file.network.as_ref())?;
    let grafana = file
        .grafana
        .as_ref()
        .map(|g| validate_grafana(ctx, g, &name, file.name.as_ref()))
        .transpose()?;

    let estimate = crate::estimate::validate_estimate(ctx, file.estimate.as_ref(), &collector)?;
    Ok(Stack {
        name,
        region,
        collector,
        node_exporter,
        logs,
        hosts,
        fleets,
        groups,
        network,
        grafana,
        alerting: file
            .alerting
            .as_ref()
            .map(|a| crate::alerting::validate_alerting(ctx, a))
            .transpose()?,
        estimate,
        source: Some(ctx.path.to_path_buf()),
    })
}

// ---------------------------------------------------------------- hosts

fn validate_hosts(ctx: &Ctx<'_>, hosts: &[Spanned<HostFile>]) -> Result<Vec<Host>> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(hosts.len());
    for (i, h) in hosts.iter().enumerate() {
        let h_ref = h.get_ref();
        let key = |k: &str| format!("hosts[{i}].{k}");
        let name = h_ref.name.get_ref();
        check_name(name, 63).map_err(|m| ctx.bad(&h_ref.name, &key("name"), m))?;
        if let Some(first) = seen.insert(name, i) {
            return Err(ctx.bad(
                &h_ref.name,
                &key("name"),
                format!("duplicate host name `{name}` (already used by hosts[{first}])"),
            ));
        }
        let (architecture, instance_type) =
            machine(ctx, &h_ref.architecture, &h_ref.instance_type, &key)?;
        let labels = required_labels(
            ctx,
            h,
            h_ref.labels.as_ref(),
            &key("labels"),
            &format!("host `{name}`"),
        )?;
        out.push(Host {
            name: name.clone(),
            architecture,
            instance_type,
            labels,
        });
    }
    Ok(out)
}

/// `architecture` (default x86_64) and `instance_type` (default by architecture) of a
/// host or group whose keys are `key("architecture")`, `key("instance_type")`.
pub(crate) fn machine(
    ctx: &Ctx<'_>,
    architecture: &Option<Spanned<String>>,
    instance_type: &Option<Spanned<String>>,
    key: &dyn Fn(&str) -> String,
) -> Result<(Architecture, String)> {
    let architecture = match architecture {
        None => Architecture::X86_64,
        Some(a) => parse_arch(a.get_ref()).map_err(|m| ctx.bad(a, &key("architecture"), m))?,
    };
    let instance_type = match instance_type {
        None => architecture.default_instance_type().to_string(),
        Some(t) => {
            if !is_instance_type(t.get_ref()) {
                return Err(ctx.bad(
                    t,
                    &key("instance_type"),
                    format!(
                        "`{}` is not an EC2 instance type (expected e.g. `t3.micro`)",
                        t.get_ref()
                    ),
                ));
            }
            t.get_ref().clone()
        }
    };
    Ok((architecture, instance_type))
}

/// The `labels` table (at `key`) of `what` (`host `web-1``), which must set every
/// required label; `owner` is the table holding it, for the error's position.
pub(crate) fn required_labels<T>(
    ctx: &Ctx<'_>,
    owner: &Spanned<T>,
    labels: Option<&Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    key: &str,
    what: &str,
) -> Result<BTreeMap<String, String>> {
    let Some(labels) = labels else {
        return Err(ctx.bad(
            owner,
            key,
            format!("{what} has no labels: set at least {}", required_list()),
        ));
    };
    let out = label_map(ctx, labels, key)?;
    let missing = missing_required(|l| out.contains_key(l));
    if !missing.is_empty() {
        return Err(ctx.bad(
            labels,
            key,
            format!(
                "missing label(s) {missing}: every host needs {}",
                required_list()
            ),
        ));
    }
    Ok(out)
}

/// Checks a table of external labels (`key` is its dotted path, for errors): valid
/// Prometheus names, none reserved, values non-empty, ≤ 1024 bytes, no control characters.
pub(crate) fn label_map(
    ctx: &Ctx<'_>,
    labels: &Spanned<BTreeMap<Spanned<String>, Spanned<String>>>,
    key: &str,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in labels.get_ref() {
        let lkey = format!("{key}.{}", k.get_ref());
        let name = label_name(ctx, k, &lkey)?;
        let value = v.get_ref();
        if value.is_empty() {
            return Err(ctx.bad(v, &lkey, "label values must not be empty".into()));
        }
        if value.chars().any(char::is_control) || value.len() > 1024 {
            return Err(ctx.bad(
                v,
                &lkey,
                "label values must be ≤ 1024 bytes without control characters".into(),
            ));
        }
        out.insert(name, value.clone());
    }
    Ok(out)
}

/// Checks one external label name: a valid Prometheus name, not `__`-internal, not reserved.
pub(crate) fn label_name(ctx: &Ctx<'_>, k: &Spanned<String>, lkey: &str) -> Result<String> {
    let name = k.get_ref();
    // External labels: `__` names are Prometheus-internal.
    if LabelName::of(name) != LabelName::User {
        return Err(ctx.bad(
            k,
            lkey,
            format!(
                "`{name}` is not a valid Prometheus label name \
                 (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with `__`)"
            ),
        ));
    }
    if defaults::RESERVED_LABELS.contains(&name.as_str()) {
        return Err(ctx.bad(
            k,
            lkey,
            format!(
                "label `{name}` is reserved: `host` and `fleet` are set at render time, \
                 `instance_id` at boot from instance metadata, `job` and `instance` by the \
                 scraper"
            ),
        ));
    }
    Ok(name.clone())
}

/// The required labels (`env`, `role`, `team`) that `has` does not cover, as a
/// backquoted list (empty when none is missing).
pub(crate) fn missing_required(has: impl Fn(&str) -> bool) -> String {
    defaults::REQUIRED_LABELS
        .iter()
        .copied()
        .filter(|l| !has(l))
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn required_list() -> String {
    defaults::REQUIRED_LABELS
        .iter()
        .map(|l| format!("`{l}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_arch(s: &str) -> std::result::Result<Architecture, String> {
    match s {
        "x86_64" => Ok(Architecture::X86_64),
        "arm64" => Ok(Architecture::Arm64),
        "amd64" | "x86-64" | "x64" => Err(format!("unknown architecture `{s}`: write `x86_64`")),
        "aarch64" | "graviton" => Err(format!("unknown architecture `{s}`: write `arm64`")),
        _ => Err(format!(
            "unknown architecture `{s}`: expected `x86_64` or `arm64`"
        )),
    }
}

// ---------------------------------------------------------------- node_exporter

fn validate_node_exporter(
    ctx: &Ctx<'_>,
    ne: Option<&Spanned<NodeExporterFile>>,
) -> Result<NodeExporter> {
    let empty = NodeExporterFile {
        version: None,
        sha256_x86_64: None,
        sha256_arm64: None,
        listen_address: None,
        job: None,
        systemd_collector: None,
    };
    let f = ne.map_or(&empty, Spanned::get_ref);

    let version = match &f.version {
        None => defaults::NODE_EXPORTER_VERSION.to_string(),
        Some(v) => {
            if !is_semver(v.get_ref()) {
                return Err(ctx.bad(
                    v,
                    "node_exporter.version",
                    format!(
                        "`{}` is not a release version (expected e.g. `1.9.1`, without `v`)",
                        v.get_ref()
                    ),
                ));
            }
            v.get_ref().clone()
        }
    };
    let custom_version = version != defaults::NODE_EXPORTER_VERSION;
    let sha = |field: &Option<Spanned<String>>, key: &str, default: &str| -> Result<String> {
        match field {
            Some(s) => sha256(ctx, s, key),
            None if custom_version => Err(ctx.invalid(
                f.version.as_ref().map(Spanned::span),
                key,
                format!(
                    "node_exporter version {version} is not the built-in {}: also set `{key}` \
                     (from that release's sha256sums.txt)",
                    defaults::NODE_EXPORTER_VERSION
                ),
            )),
            None => Ok(default.to_string()),
        }
    };
    let sha256_x86_64 = sha(
        &f.sha256_x86_64,
        "node_exporter.sha256_x86_64",
        defaults::NODE_EXPORTER_SHA256_X86_64,
    )?;
    let sha256_arm64 = sha(
        &f.sha256_arm64,
        "node_exporter.sha256_arm64",
        defaults::NODE_EXPORTER_SHA256_ARM64,
    )?;

    let listen_text = f
        .listen_address
        .as_ref()
        .map_or(defaults::NODE_EXPORTER_LISTEN, |l| l.get_ref().as_str());
    let listen_address: std::net::SocketAddr = match listen_text.parse() {
        Ok(a) => a,
        Err(_) => {
            return Err(ctx.invalid(
                f.listen_address.as_ref().map(Spanned::span),
                "node_exporter.listen_address",
                format!(
                    "`{listen_text}` is not `IP:PORT` (e.g. `127.0.0.1:9100`, or `0.0.0.0:9100` \
                     to expose it beyond the host)"
                ),
            ))
        }
    };
    if listen_address.port() == 0 {
        return Err(ctx.invalid(
            f.listen_address.as_ref().map(Spanned::span),
            "node_exporter.listen_address",
            "port 0 is not a fixed port; node_exporter's default is 9100".into(),
        ));
    }
    let job = match &f.job {
        None => defaults::NODE_EXPORTER_JOB.to_string(),
        Some(j) => {
            let ok = !j.get_ref().is_empty()
                && j.get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err(ctx.bad(
                    j,
                    "node_exporter.job",
                    "job names are made of letters, digits, `_`, `-` and `.`".into(),
                ));
            }
            j.get_ref().clone()
        }
    };
    Ok(NodeExporter {
        version,
        sha256: PerArch {
            x86_64: sha256_x86_64,
            arm64: sha256_arm64,
        },
        listen_address,
        job,
        systemd_collector: f.systemd_collector.unwrap_or(true),
    })
}

// ---------------------------------------------------------------- logs

fn validate_logs(ctx: &Ctx<'_>, logs: Option<&Spanned<LogsFile>>, name: &str) -> Result<Logs> {
    let group = match logs.and_then(|l| l.get_ref().group.as_ref()) {
        None => format!("/{name}/system"),
        Some(g) => {
            let s = g.get_ref();
            let ok = !s.is_empty()
                && s.len() <= 512
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#'));
            if !ok {
                return Err(ctx.bad(
                    g,
                    "logs.group",
                    format!(
                        "`{s}` is not a CloudWatch Logs group name \
                         (1–512 characters from [.-_/#A-Za-z0-9])"
                    ),
                ));
            }
            s.clone()
        }
    };
    let files = match logs.and_then(|l| l.get_ref().files.as_ref()) {
        None => defaults::LOG_FILES.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(ctx.bad(
                    list,
                    "logs.files",
                    "empty list: leave `files` out for the defaults, or list at least one file"
                        .into(),
                ));
            }
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for (i, f) in list.get_ref().iter().enumerate() {
                let p = f.get_ref();
                let key = format!("logs.files[{i}]");
                let ok = p.starts_with('/')
                    && p.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '*' | '?')
                    });
                if !ok {
                    return Err(ctx.bad(
                        f,
                        &key,
                        format!(
                            "`{p}` must be an absolute path (globs `*`/`?` allowed) \
                             of [A-Za-z0-9._/-] characters"
                        ),
                    ));
                }
                if !seen.insert(p.as_str()) {
                    return Err(ctx.bad(f, &key, format!("`{p}` is listed twice")));
                }
                out.push(p.clone());
            }
            out
        }
    };
    let retention_days = match logs.and_then(|l| l.get_ref().retention_days.as_ref()) {
        None => defaults::LOG_RETENTION_DAYS,
        Some(r) => {
            let v = *r.get_ref();
            match u32::try_from(v) {
                Ok(d) if defaults::LOG_RETENTION_VALUES.contains(&d) => d,
                _ => {
                    return Err(ctx.bad(
                        r,
                        "logs.retention_days",
                        format!(
                            "{v} is not a CloudWatch Logs retention period; allowed days: {}",
                            defaults::LOG_RETENTION_VALUES
                                .iter()
                                .map(u32::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            }
        }
    };
    Ok(Logs {
        group,
        retention_days,
        files,
    })
}

// ---------------------------------------------------------------- network

fn validate_network(ctx: &Ctx<'_>, net: Option<&Spanned<NetworkFile>>) -> Result<Network> {
    let Some(net) = net else {
        return Ok(Network::default());
    };
    let f = net.get_ref();
    let id = |v: &Option<Spanned<String>>, prefix: &str, key: &str| -> Result<Option<String>> {
        v.as_ref().map(|v| ec2_id(ctx, v, prefix, key)).transpose()
    };
    Ok(Network {
        subnet_id: id(&f.subnet_id, "subnet-", "network.subnet_id")?,
        vpc_id: id(&f.vpc_id, "vpc-", "network.vpc_id")?,
    })
}

/// An EC2 id like `subnet-0123456789abcdef0` (`prefix` then 8–17 hex digits).
pub(crate) fn ec2_id(
    ctx: &Ctx<'_>,
    v: &Spanned<String>,
    prefix: &str,
    key: &str,
) -> Result<String> {
    let s = v.get_ref();
    let hex = s.strip_prefix(prefix).unwrap_or("");
    if (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(s.clone())
    } else {
        Err(ctx.bad(
            v,
            key,
            format!("`{s}` is not an EC2 id like `{prefix}0123456789abcdef0`"),
        ))
    }
}

// ---------------------------------------------------------------- grafana

/// Longest stack name with `[grafana] enabled`: the workspace role `<name>-grafana` must
/// fit IAM's 64-character role name limit.
const GRAFANA_MAX_STACK_NAME: usize = 64 - "-grafana".len();

fn validate_grafana(
    ctx: &Ctx<'_>,
    g: &Spanned<GrafanaFile>,
    name: &str,
    name_span: Option<&Spanned<String>>,
) -> Result<GrafanaConfig> {
    let f = g.get_ref();
    let enabled = f.enabled.unwrap_or(false);
    if enabled && name.len() > GRAFANA_MAX_STACK_NAME {
        let msg = format!(
            "with [grafana] enabled the stack name may have at most {GRAFANA_MAX_STACK_NAME} characters (the workspace IAM role `<name>-grafana` is limited to 64), `{name}` has {}",
            name.len()
        );
        return Err(match name_span {
            Some(n) => ctx.bad(n, "name", msg),
            None => ctx.invalid(Some(g.span()), "grafana.enabled", msg),
        });
    }
    let mut seen: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut groups = |v: &Option<Spanned<Vec<Spanned<String>>>>,
                      key: &'static str|
     -> Result<Vec<String>> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (i, id) in v.get_ref().iter().enumerate() {
            let k = format!("grafana.{key}[{i}]");
            let s = id.get_ref();
            if !is_identity_store_group_id(s) {
                return Err(ctx.bad(
                    id,
                    &k,
                    format!(
                        "`{s}` is not an IAM Identity Center group id: use the \"Group ID\" shown on the group's page in the IAM Identity Center console (a UUID like 906744f8-0011-70e6-ca9c-1a2b3c4d5e6f), not the group's display name"
                    ),
                ));
            }
            if let Some(other) = seen.insert(s.clone(), key) {
                return Err(ctx.bad(
                    id,
                    &k,
                    format!("group `{s}` is already listed in grafana.{other}: a group has one Grafana role"),
                ));
            }
            out.push(s.clone());
        }
        Ok(out)
    };
    let admin_group_ids = groups(&f.admin_group_ids, "admin_group_ids")?;
    let editor_group_ids = groups(&f.editor_group_ids, "editor_group_ids")?;
    let viewer_group_ids = groups(&f.viewer_group_ids, "viewer_group_ids")?;
    let permission_type = match &f.permission_type {
        None => GrafanaPermissionType::default(),
        Some(p) => match p.get_ref().as_str() {
            "CUSTOMER_MANAGED" => GrafanaPermissionType::CustomerManaged,
            "SERVICE_MANAGED" => GrafanaPermissionType::ServiceManaged,
            other => {
                return Err(ctx.bad(
                    p,
                    "grafana.permission_type",
                    format!(
                        "`{other}` is not a permission type: use `CUSTOMER_MANAGED` (default) or `SERVICE_MANAGED`"
                    ),
                ))
            }
        },
    };
    let grafana_version = match &f.grafana_version {
        None => defaults::GRAFANA_VERSION.to_string(),
        Some(v) => {
            let s = v.get_ref();
            let parts: Vec<&str> = s.split('.').collect();
            let ok = (1..=3).contains(&parts.len())
                && parts.iter().all(|p| {
                    !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit())
                });
            if !ok {
                return Err(ctx.bad(
                    v,
                    "grafana.grafana_version",
                    format!(
                        "`{s}` is not a Grafana version as AMG lists them (e.g. `10.4`; `aws grafana list-versions` shows the supported ones)"
                    ),
                ));
            }
            s.clone()
        }
    };
    Ok(GrafanaConfig {
        enabled,
        admin_group_ids,
        editor_group_ids,
        viewer_group_ids,
        permission_type,
        grafana_version,
    })
}

/// Whether `id` looks like an IAM Identity Store group id: a UUID
/// (`906744f8-0011-70e6-ca9c-1a2b3c4d5e6f`), optionally prefixed with 10 hex digits and
/// `-`. A group's display name is the usual mistake.
pub fn is_identity_store_group_id(id: &str) -> bool {
    let uuid = match id.len() {
        36 => id,
        47 if id.as_bytes()[10] == b'-' && id[..10].bytes().all(|b| b.is_ascii_hexdigit()) => {
            &id[11..]
        }
        _ => return false,
    };
    uuid.char_indices().all(|(i, c)| {
        if [8, 13, 18, 23].contains(&i) {
            c == '-'
        } else {
            c.is_ascii_hexdigit()
        }
    })
}

// ---------------------------------------------------------------- collector

fn validate_collector(
    ctx: &Ctx<'_>,
    c: Option<&Spanned<CollectorFile>>,
    host_files: &[Spanned<HostFile>],
    hosts: &[Host],
) -> Result<Collector> {
    let Some(c) = c else {
        return Ok(Collector {
            kind: CollectorKind::Adot(Adot {
                version: defaults::ADOT_VERSION.to_string(),
                rpm_sha256: PerArch::default(),
            }),
            scrape_interval: defaults::SCRAPE_INTERVAL,
            scrape_timeout: defaults::SCRAPE_TIMEOUT,
            metrics: MetricSelection::Used,
            extra_metrics: Vec::new(),
        });
    };
    let f = c.get_ref();

    let scrape_interval = match &f.scrape_interval {
        Some(v) => duration(ctx, v, "collector.scrape_interval")?,
        None => defaults::SCRAPE_INTERVAL,
    };
    let scrape_timeout = match &f.scrape_timeout {
        Some(v) => duration(ctx, v, "collector.scrape_timeout")?,
        // Like monitor-agent: 10 s, but never reaching a shorter interval (whole ms).
        None => defaults::SCRAPE_TIMEOUT
            .min(Duration::from_millis(
                u64::try_from(scrape_interval.as_millis() * 8 / 10).unwrap_or(u64::MAX),
            ))
            .max(Duration::from_millis(1)),
    };
    // Strictly below: a scrape must finish before the next one starts (monitor-agent
    // refuses timeout == interval).
    if scrape_timeout >= scrape_interval {
        return Err(ctx.invalid(
            f.scrape_timeout
                .as_ref()
                .or(f.scrape_interval.as_ref())
                .map(Spanned::span),
            "collector.scrape_timeout",
            format!(
                "scrape_timeout ({}) must be less than scrape_interval ({})",
                format_prometheus_duration(scrape_timeout),
                format_prometheus_duration(scrape_interval)
            ),
        ));
    }

    let kind_str = f.kind.as_ref().map_or("adot", |k| k.get_ref().as_str());
    let agent_keys = [
        ("agent_url", &f.agent_url),
        ("agent_sha256", &f.agent_sha256),
        ("agent_url_x86_64", &f.agent_url_x86_64),
        ("agent_sha256_x86_64", &f.agent_sha256_x86_64),
        ("agent_url_arm64", &f.agent_url_arm64),
        ("agent_sha256_arm64", &f.agent_sha256_arm64),
    ];
    let adot_keys = [
        ("adot_version", &f.adot_version),
        ("adot_rpm_sha256_x86_64", &f.adot_rpm_sha256_x86_64),
        ("adot_rpm_sha256_arm64", &f.adot_rpm_sha256_arm64),
    ];
    let reject = |keys: &[(&str, &Option<Spanned<String>>)], only: &str| -> Result<()> {
        for (name, v) in keys {
            if let Some(v) = v {
                return Err(ctx.bad(
                    v,
                    &format!("collector.{name}"),
                    format!("`{name}` only applies to kind = \"{only}\" (this stack uses kind = \"{kind_str}\")"),
                ));
            }
        }
        Ok(())
    };

    let kind = match kind_str {
        "adot" => {
            reject(&agent_keys, "monitor-agent")?;
            let version = match &f.adot_version {
                None => defaults::ADOT_VERSION.to_string(),
                Some(v) => {
                    let s = v.get_ref();
                    if !(s.starts_with('v') && is_semver(&s[1..])) {
                        return Err(ctx.bad(
                            v,
                            "collector.adot_version",
                            format!("`{s}` is not an ADOT release tag (expected e.g. `v0.49.0`)"),
                        ));
                    }
                    s.clone()
                }
            };
            let opt_sha = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<String>> {
                v.as_ref().map(|s| sha256(ctx, s, key)).transpose()
            };
            CollectorKind::Adot(Adot {
                version,
                rpm_sha256: PerArch {
                    x86_64: opt_sha(
                        &f.adot_rpm_sha256_x86_64,
                        "collector.adot_rpm_sha256_x86_64",
                    )?,
                    arm64: opt_sha(&f.adot_rpm_sha256_arm64, "collector.adot_rpm_sha256_arm64")?,
                },
            })
        }
        "monitor-agent" => {
            reject(&adot_keys, "adot")?;
            let common = artifact(ctx, &f.agent_url, &f.agent_sha256, "")?;
            let x86 = artifact(ctx, &f.agent_url_x86_64, &f.agent_sha256_x86_64, "_x86_64")?;
            let arm = artifact(ctx, &f.agent_url_arm64, &f.agent_sha256_arm64, "_arm64")?;
            let per_arch = PerArch {
                x86_64: x86.or_else(|| common.clone()),
                arm64: arm.or(common),
            };
            for (i, h) in hosts.iter().enumerate() {
                if per_arch.get(h.architecture).is_none() {
                    let a = h.architecture;
                    let span = host_files.get(i).map(|hf| {
                        hf.get_ref()
                            .architecture
                            .as_ref()
                            .map_or(hf.span(), Spanned::span)
                    });
                    return Err(ctx.invalid(
                        span.or(Some(c.span())),
                        &format!("hosts[{i}].architecture"),
                        format!(
                            "host `{}` is {a} but [collector] has no monitor-agent binary for {a}: \
                             set `agent_url` + `agent_sha256` (all architectures) or \
                             `agent_url_{a}` + `agent_sha256_{a}`",
                            h.name
                        ),
                    ));
                }
            }
            CollectorKind::MonitorAgent(MonitorAgent { artifact: per_arch })
        }
        other => {
            let hint = match other {
                "monitor_agent" | "agent" | "monitoragent" => " (did you mean `monitor-agent`?)",
                "otel" | "aws-otel-collector" | "opentelemetry" => " (did you mean `adot`?)",
                _ => "",
            };
            let span = f.kind.as_ref().map(Spanned::span);
            return Err(ctx.invalid(
                span,
                "collector.kind",
                format!(
                    "unknown collector kind `{other}`: expected `adot` or `monitor-agent`{hint}"
                ),
            ));
        }
    };
    let metrics = match &f.metrics {
        None => MetricSelection::Used,
        Some(m) => match m.get_ref().as_str() {
            "used" => MetricSelection::Used,
            "all" => MetricSelection::All,
            other => {
                return Err(ctx.bad(
                    m,
                    "collector.metrics",
                    format!("{other:?}: expected \"used\" (what the dashboards, rules and checks read) or \"all\""),
                ))
            }
        },
    };
    let mut extra_metrics = Vec::new();
    for m in f.extra_metrics.iter().flatten() {
        let name = m.get_ref();
        if !monitor_amp::is_metric_name(name) {
            return Err(ctx.bad(
                m,
                "collector.extra_metrics",
                format!("{name:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
            ));
        }
        extra_metrics.push(name.clone());
    }
    Ok(Collector {
        kind,
        scrape_interval,
        scrape_timeout,
        metrics,
        extra_metrics,
    })
}

fn artifact(
    ctx: &Ctx<'_>,
    url: &Option<Spanned<String>>,
    sha: &Option<Spanned<String>>,
    suffix: &str,
) -> Result<Option<Artifact>> {
    let url_key = format!("collector.agent_url{suffix}");
    let sha_key = format!("collector.agent_sha256{suffix}");
    match (url, sha) {
        (None, None) => Ok(None),
        (Some(u), None) => Err(ctx.bad(
            u,
            &sha_key,
            format!(
                "`agent_url{suffix}` needs `agent_sha256{suffix}` (the binary is pinned by hash)"
            ),
        )),
        (None, Some(s)) => Err(ctx.bad(
            s,
            &url_key,
            format!("`agent_sha256{suffix}` without `agent_url{suffix}`"),
        )),
        (Some(u), Some(s)) => {
            let url_s = u.get_ref();
            let ok = url_s.starts_with("https://")
                && url_s.len() > "https://".len()
                && url_s.chars().all(|c| {
                    c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '\\' | '`' | '<' | '>')
                });
            if !ok {
                return Err(ctx.bad(
                    u,
                    &url_key,
                    format!("`{url_s}` must be an https:// URL without quotes or spaces"),
                ));
            }
            Ok(Some(Artifact {
                url: url_s.clone(),
                sha256: sha256(ctx, s, &sha_key)?,
            }))
        }
    }
}

/// A `humantime` duration (`15s`, `500ms`, `1m`, `1m 30s`) that Prometheus can express:
/// above zero and a whole number of milliseconds.
pub(crate) fn duration(ctx: &Ctx<'_>, v: &Spanned<String>, key: &str) -> Result<Duration> {
    let s = v.get_ref();
    let d = humantime::parse_duration(s).map_err(|e| {
        ctx.bad(
            v,
            key,
            format!("`{s}` is not a duration like `15s`, `500ms`, `1m` ({e})"),
        )
    })?;
    if d.is_zero() || !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(ctx.bad(
            v,
            key,
            format!(
                "`{s}` is not a duration above zero in whole milliseconds (e.g. `15s`, `500ms`)"
            ),
        ));
    }
    Ok(d)
}

// ---------------------------------------------------------------- small checks

fn sha256(ctx: &Ctx<'_>, s: &Spanned<String>, key: &str) -> Result<String> {
    let v = s.get_ref();
    if v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(ctx.bad(
            s,
            key,
            "expected a sha256 as 64 hex characters (as in `sha256sum` output)".into(),
        ))
    }
}

pub(crate) fn check_name(s: &str, max: usize) -> std::result::Result<(), String> {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if first_ok && rest_ok && s.len() <= max {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid name: 1–{max} characters from [A-Za-z0-9._-], \
             starting with a letter or digit"
        ))
    }
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_instance_type(s: &str) -> bool {
    let Some((family, size)) = s.split_once('.') else {
        return false;
    };
    family.starts_with(|c: char| c.is_ascii_lowercase())
        && family
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !size.is_empty()
        && size
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn is_semver(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}
