//! Assembles the files and the user_data script for one host, and the steps a fleet
//! member's SSM document shares with it: each step is written once, here, and told by
//! [`Target`] whether it runs at a host's first boot or on a fleet member.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use monitor_stack::{
    defaults, format_prometheus_duration, Adot, Architecture, Artifact, CollectorKind, Group, Host,
    NodeExporter, Stack,
};

use crate::script::{sq, Script};
use crate::systemd::UnitFile;
use crate::{
    adot, agent, cwagent, BootstrapError, RenderInputs, RenderedFile, RenderedHost,
    ADOT_CONFIG_PATH, ADOT_CTL, ADOT_GPG_KEY_URL, AGENT_BINARY, AGENT_CONFIG_PATH, AGENT_UNIT_PATH,
    AVAILABILITY_ZONE_SENTINEL, CWAGENT_CONFIG_PATH, CWAGENT_CTL, INSTANCE_ID_LABEL,
    INSTANCE_ID_SENTINEL, NODE_EXPORTER_BINARY, NODE_EXPORTER_UNIT_PATH, PLACEHOLDER_WORKSPACE_ID,
    USER_DATA_LIMIT,
};

/// Files rsyslog creates on AL2023; shipping any of them needs rsyslog installed.
const RSYSLOG_FILES: &[&str] = &[
    "/var/log/messages",
    "/var/log/secure",
    "/var/log/maillog",
    "/var/log/cron",
    "/var/log/spooler",
];

/// Creates node_exporter's system account (guarded by `getent` where it is used).
pub(crate) const NODE_EXPORTER_USERADD: &str =
    "useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin node_exporter";

/// Starts (or restarts) the ADOT collector with its config; systemctl is the fallback.
pub(crate) fn adot_start() -> String {
    format!(
        "{ADOT_CTL} -a start -c {ADOT_CONFIG_PATH} || {{ systemctl enable aws-otel-collector.service && systemctl restart aws-otel-collector.service; }}"
    )
}

/// Fails the script unless the ADOT collector runs.
pub(crate) const ADOT_RUNNING: &str = "systemctl is-active --quiet aws-otel-collector.service || die \"aws-otel-collector is not running (journalctl -u aws-otel-collector)\"";

/// Fails the script unless monitor-agent runs.
pub(crate) const AGENT_RUNNING: &str = "systemctl is-active --quiet monitor-agent.service || die \"monitor-agent is not running (journalctl -u monitor-agent)\"";

/// Where a rendered step runs, which decides how it learns the architecture and whether
/// it records what it adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A `[[hosts]]` instance's user_data: the architecture is known at render time and
    /// the instance is the stack's own.
    Host(Architecture),
    /// A `[[fleets]]` member's SSM document: the script picks the artefacts for `uname -m`
    /// at run time (shell variables set by its architecture `case`) and records what it
    /// adds in its marker, because the instance belongs to someone else.
    Fleet,
}

/// Renders every host of `stack`, in stack order.
///
/// # Errors
/// The first host's [`BootstrapError`].
pub fn render_all(
    stack: &Stack,
    inputs: &RenderInputs,
) -> Result<Vec<RenderedHost>, BootstrapError> {
    stack
        .hosts
        .iter()
        .map(|h| render_host(stack, h, inputs))
        .collect()
}

/// Renders the user_data and files for `host`.
///
/// # Errors
/// [`BootstrapError::UserDataTooLarge`] when the script exceeds [`USER_DATA_LIMIT`];
/// [`BootstrapError::InvalidWorkspaceId`] for a malformed `inputs.workspace_id`;
/// [`BootstrapError::MissingAgentBinary`] / [`BootstrapError::UnsafeContent`] for values
/// that cannot be rendered safely.
pub fn render_host(
    stack: &Stack,
    host: &Host,
    inputs: &RenderInputs,
) -> Result<RenderedHost, BootstrapError> {
    render_machine(stack, host, Identity::Host, inputs)
}

/// Renders the user_data of the launch template of `group`: the same installation as a
/// host's, but every instance names itself at boot from instance metadata — its instance
/// id is its `host` and `instance_id` label, its availability zone its
/// `availability_zone` label — and carries the group's name as its `group` label. The
/// returned [`RenderedHost::host`] is the group's name.
///
/// # Errors
/// As [`render_host`].
pub fn render_group(
    stack: &Stack,
    group: &Group,
    inputs: &RenderInputs,
) -> Result<RenderedHost, BootstrapError> {
    let host = Host {
        name: group.name.clone(),
        architecture: group.architecture,
        instance_type: group.instance_type.clone(),
        labels: group.labels.clone(),
    };
    render_machine(stack, &host, Identity::GroupMember, inputs)
}

/// Who the rendered instance says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    /// A `[[hosts]]` instance: `host` is its name.
    Host,
    /// An instance of a `[[groups]]` Auto Scaling group (the `Host` passed is the group):
    /// `host` is the instance id, plus `group` and `availability_zone`.
    GroupMember,
}

fn render_machine(
    stack: &Stack,
    host: &Host,
    identity: Identity,
    inputs: &RenderInputs,
) -> Result<RenderedHost, BootstrapError> {
    let workspace_id = workspace_id(inputs)?;
    let endpoint = crate::remote_write_url(&stack.region, workspace_id);

    for (k, v) in &host.labels {
        if let Some(token) = [INSTANCE_ID_SENTINEL, AVAILABILITY_ZONE_SENTINEL]
            .into_iter()
            .find(|t| v.contains(t))
        {
            return Err(BootstrapError::UnsafeContent {
                what: format!("label `{k}` of host `{}`", host.name),
                detail: format!("the value contains the reserved token {token}"),
            });
        }
    }
    let mut labels: BTreeMap<String, String> = host.labels.clone();
    labels.insert(
        INSTANCE_ID_LABEL.to_string(),
        INSTANCE_ID_SENTINEL.to_string(),
    );
    match identity {
        Identity::Host => {
            labels.insert(defaults::HOST_LABEL.to_string(), host.name.clone());
        }
        Identity::GroupMember => {
            labels.insert(
                defaults::HOST_LABEL.to_string(),
                INSTANCE_ID_SENTINEL.to_string(),
            );
            labels.insert(defaults::GROUP_LABEL.to_string(), host.name.clone());
            labels.insert(
                defaults::AVAILABILITY_ZONE_LABEL.to_string(),
                AVAILABILITY_ZONE_SENTINEL.to_string(),
            );
        }
    }

    let arch = host.architecture;
    let target = Target::Host(arch);
    let ne = &stack.node_exporter;
    let rsyslog = needs_rsyslog(stack);

    // Files, in the order the script writes them.
    let cw_file = RenderedFile {
        path: CWAGENT_CONFIG_PATH.to_string(),
        mode: 0o644,
        content: json(
            &cwagent::config(&stack.region, &stack.logs.group, &stack.logs.files),
            CWAGENT_CONFIG_PATH,
        )?,
        fills_instance_id: false,
    };
    let collector_unit = collector_unit(&stack.collector.kind);
    let ne_file = node_exporter_unit_file(stack, inputs)?;
    let collector = collector_files(stack, inputs, &labels, &endpoint)?;

    let mut s = Script::default();
    header(
        &mut s,
        stack,
        host,
        identity,
        workspace_id,
        inputs.workspace_id.is_none(),
    );
    preamble(&mut s, identity);

    s.step("checking the platform");
    s.lines(&[
        "grep -qx 'VERSION_ID=\"2023\"' /etc/os-release || die \"this script targets Amazon Linux 2023\"",
        &format!(
            "[[ \"$(uname -m)\" == {} ]] || die \"rendered for {} but this host is $(uname -m)\"",
            sq(arch.uname()),
            arch.as_str()
        ),
    ]);

    imds_instance_id(&mut s);
    if identity == Identity::GroupMember {
        imds_availability_zone(&mut s);
    }

    let mut packages = vec!["amazon-cloudwatch-agent", "tar"];
    if rsyslog {
        packages.insert(0, "rsyslog");
    }
    s.step("installing packages from the Amazon Linux repositories");
    s.line(&format!("dnf install -y {}", packages.join(" ")));
    if rsyslog {
        s.comment("AL2023 logs to journald only; rsyslog writes /var/log/messages for the CloudWatch Agent.");
        s.line("systemctl enable --now rsyslog.service");
    }

    s.step("CloudWatch Agent: ship log files to CloudWatch Logs");
    s.comment("Started first so that a failure in a later step still reaches CloudWatch Logs.");
    s.write_file(&cw_file)?;
    s.line(&format!(
        "{CWAGENT_CTL} -a fetch-config -m ec2 -s -c file:{CWAGENT_CONFIG_PATH}"
    ));

    s.step(&format!("node_exporter {}", ne.version));
    node_exporter_binary(&mut s, ne, target);
    s.write_file(&ne_file)?;
    s.lines(&[
        "systemctl daemon-reload",
        "systemctl enable node_exporter.service",
        "systemctl restart node_exporter.service",
    ]);
    wait_for_node_exporter(&mut s, stack);

    let mut files = vec![cw_file, ne_file];
    match &stack.collector.kind {
        CollectorKind::Adot(a) => {
            adot_package(&mut s, a, target);
            s.comment(&format!(
                "ADOT only reads {ADOT_CONFIG_PATH}; any other path is ignored."
            ));
            s.write_file(&collector.config)?;
            s.line(&format!("fill_instance_id {ADOT_CONFIG_PATH}"));
            s.comment(
                "The control script restarts the service; systemctl is the fallback if it fails.",
            );
            s.lines(&[&adot_start(), ADOT_RUNNING]);
        }
        CollectorKind::MonitorAgent(m) => {
            let Some(artifact) = m.artifact.get(arch) else {
                return Err(BootstrapError::MissingAgentBinary {
                    host: host.name.clone(),
                    architecture: arch,
                });
            };
            agent_binary(&mut s, Some(artifact));
            s.write_file(&collector.config)?;
            s.line(&format!("fill_instance_id {AGENT_CONFIG_PATH}"));
            if let Some(unit) = &collector.unit {
                s.write_file(unit)?;
            }
            s.lines(&[
                "systemctl daemon-reload",
                "systemctl enable monitor-agent.service",
                "systemctl restart monitor-agent.service",
                AGENT_RUNNING,
            ]);
        }
    }
    files.push(collector.config);
    files.extend(collector.unit);

    s.step("done");
    let who = match identity {
        Identity::Host => format!("host {}", host.name),
        Identity::GroupMember => format!("instance ${{instance_id}} of group {}", host.name),
    };
    s.line(&format!(
        "log \"{who} ({arch}) bootstrapped: node_exporter, {collector_unit}, amazon-cloudwatch-agent running\""
    ));

    let user_data = s.finish();
    if user_data.len() > USER_DATA_LIMIT {
        return Err(BootstrapError::UserDataTooLarge {
            host: host.name.clone(),
            size: user_data.len(),
            limit: USER_DATA_LIMIT,
        });
    }
    Ok(RenderedHost {
        host: host.name.clone(),
        user_data,
        files,
    })
}

/// The AMP workspace id to render: `inputs.workspace_id` checked, or the placeholder.
pub(crate) fn workspace_id(inputs: &RenderInputs) -> Result<&str, BootstrapError> {
    match &inputs.workspace_id {
        Some(id) => {
            let ok = id.len() > 3
                && id.starts_with("ws-")
                && id[3..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if ok {
                Ok(id.as_str())
            } else {
                Err(BootstrapError::InvalidWorkspaceId { id: id.clone() })
            }
        }
        None => Ok(PLACEHOLDER_WORKSPACE_ID),
    }
}

/// Whether a shipped log file is written by rsyslog (so rsyslog must be installed).
pub(crate) fn needs_rsyslog(stack: &Stack) -> bool {
    stack
        .logs
        .files
        .iter()
        .any(|f| RSYSLOG_FILES.contains(&f.as_str()))
}

/// The systemd unit (without `.service`) of the stack's collector.
pub(crate) fn collector_unit(kind: &CollectorKind) -> &'static str {
    match kind {
        CollectorKind::Adot(_) => "aws-otel-collector",
        CollectorKind::MonitorAgent(_) => "monitor-agent",
    }
}

/// The collector's files: its config (with `labels` as external labels) and, for
/// monitor-agent, its unit.
pub(crate) struct CollectorFiles {
    /// ADOT's or monitor-agent's config; `fills_instance_id` is set.
    pub config: RenderedFile,
    /// monitor-agent's unit (ADOT's comes with its RPM).
    pub unit: Option<RenderedFile>,
}

/// Builds the collector's files for `stack`'s collector kind.
pub(crate) fn collector_files(
    stack: &Stack,
    inputs: &RenderInputs,
    labels: &BTreeMap<String, String>,
    endpoint: &str,
) -> Result<CollectorFiles, BootstrapError> {
    let ne = &stack.node_exporter;
    let target = scrape_target(ne.listen_address);
    match &stack.collector.kind {
        CollectorKind::Adot(_) => {
            let cfg = adot::config(
                &stack.region,
                endpoint,
                &ne.job,
                &target,
                (
                    stack.collector.scrape_interval,
                    stack.collector.scrape_timeout,
                ),
                labels,
                crate::KeepRule::for_inputs(inputs),
            );
            Ok(CollectorFiles {
                config: RenderedFile {
                    path: ADOT_CONFIG_PATH.to_string(),
                    mode: 0o644,
                    content: yaml(&cfg, ADOT_CONFIG_PATH)?,
                    fills_instance_id: true,
                },
                unit: None,
            })
        }
        CollectorKind::MonitorAgent(_) => {
            let cfg = agent::AgentConfig {
                labels: labels.clone(),
                scrape: vec![agent::Scrape {
                    job: ne.job.clone(),
                    url: metrics_url(stack),
                    interval: format_prometheus_duration(stack.collector.scrape_interval),
                    timeout: format_prometheus_duration(stack.collector.scrape_timeout),
                    metric_relabel_configs: crate::KeepRule::for_inputs(inputs),
                }],
                remote_write: agent::RemoteWrite {
                    url: endpoint.to_string(),
                    sigv4: agent::SigV4 {
                        region: stack.region.clone(),
                    },
                },
                queue: agent::Queue {
                    dir: agent::QUEUE_DIR.to_string(),
                    max_size: "512MiB".to_string(),
                },
            };
            Ok(CollectorFiles {
                config: RenderedFile {
                    path: AGENT_CONFIG_PATH.to_string(),
                    mode: 0o644,
                    content: toml_text(&cfg, AGENT_CONFIG_PATH)?,
                    fills_instance_id: true,
                },
                unit: Some(RenderedFile {
                    path: AGENT_UNIT_PATH.to_string(),
                    mode: 0o644,
                    content: agent_unit()?,
                    fills_instance_id: false,
                }),
            })
        }
    }
}

/// node_exporter's unit file for `stack` (collectors narrowed by `inputs`).
pub(crate) fn node_exporter_unit_file(
    stack: &Stack,
    inputs: &RenderInputs,
) -> Result<RenderedFile, BootstrapError> {
    Ok(RenderedFile {
        path: NODE_EXPORTER_UNIT_PATH.to_string(),
        mode: 0o644,
        content: node_exporter_unit(
            stack,
            collector_unit(&stack.collector.kind),
            needs_rsyslog(stack),
            inputs.node_collectors.as_deref(),
        )?,
        fills_instance_id: false,
    })
}

fn header(
    s: &mut Script,
    stack: &Stack,
    host: &Host,
    identity: Identity,
    workspace_id: &str,
    placeholder: bool,
) {
    s.line("#!/bin/bash");
    let who = match identity {
        Identity::Host => "host",
        Identity::GroupMember => "the instances of Auto Scaling group",
    };
    s.comment(&format!(
        "monitor-bootstrap user_data for {who} {} ({}) of stack {} in {}.\n\
         Rendered from stack.toml by monitor-provision: change the stack file, not this script.\n\
         Installs node_exporter {}, {} and the CloudWatch Agent, then starts them.\n\
         Idempotent: safe to re-run as root. Output: /var/log/cloud-init-output.log.",
        host.name,
        host.architecture,
        stack.name,
        stack.region,
        stack.node_exporter.version,
        collector_description(stack)
    ));
    workspace_comment(s, workspace_id, placeholder);
}

/// "the ADOT collector vX" or "monitor-agent", for header comments.
pub(crate) fn collector_description(stack: &Stack) -> String {
    match &stack.collector.kind {
        CollectorKind::Adot(a) => format!("the ADOT collector {}", a.version),
        CollectorKind::MonitorAgent(_) => "monitor-agent".to_string(),
    }
}

/// The header line naming the AMP workspace, or saying it is a placeholder.
pub(crate) fn workspace_comment(s: &mut Script, workspace_id: &str, placeholder: bool) {
    if placeholder {
        s.comment(&format!(
            "PLACEHOLDER: AMP workspace id {workspace_id} (rendered offline, no --workspace-id);\n\
             remote write fails until monitor-provision renders the real workspace id."
        ));
    } else {
        s.comment(&format!("AMP workspace: {workspace_id}"));
    }
}

fn preamble(s: &mut Script, identity: Identity) {
    preamble_start(s);
    s.lines(&[
        "# write_file MODE PATH: content on stdin, installed with its parent directories.",
        "write_file() {",
        "  local tmp",
        "  tmp=\"$(mktemp)\"",
        "  cat >\"${tmp}\"",
        "  install -D -m \"$1\" \"${tmp}\" \"$2\"",
        "  rm -f \"${tmp}\"",
        "}",
        "# install_binary SRC DEST: replace atomically, also while the old binary runs.",
        "install_binary() { install -m 0755 \"$1\" \"$2.new\" && mv -f \"$2.new\" \"$2\"; }",
    ]);
    match identity {
        Identity::Host => {
            s.lines(&[
                "# fill_instance_id FILE: put the instance id in place of the render-time token.",
                &format!(
                    "fill_instance_id() {{ sed -i \"s/{INSTANCE_ID_SENTINEL}/${{instance_id}}/g\" \"$1\"; }}"
                ),
            ]);
        }
        Identity::GroupMember => {
            s.lines(&[
                "# fill_instance_id FILE: put the instance id and availability zone in place of the",
                "# render-time tokens.",
                &format!(
                    "fill_instance_id() {{ sed -i \"s/{INSTANCE_ID_SENTINEL}/${{instance_id}}/g; s/{AVAILABILITY_ZONE_SENTINEL}/${{availability_zone}}/g\" \"$1\"; }}"
                ),
            ]);
        }
    }
}

/// Strict mode, logging, the work directory and the download helpers: the start of
/// every script this crate renders.
pub(crate) fn preamble_start(s: &mut Script) {
    s.lines(&[
        "set -Eeuo pipefail",
        "umask 022",
        "",
        "log() { printf '%s monitor-bootstrap: %s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" \"$*\"; }",
        "die() { log \"ERROR: $*\" >&2; exit 1; }",
        "trap 'log \"ERROR: line ${LINENO}: ${BASH_COMMAND}\" >&2' ERR",
        "workdir=\"$(mktemp -d)\"",
        "trap 'rm -rf \"${workdir}\"' EXIT",
        "",
        "# fetch URL DEST: HTTPS download with retries.",
        "fetch() { curl -fsSL --retry 5 --retry-delay 2 --retry-connrefused --connect-timeout 10 -o \"$2\" \"$1\"; }",
        "# verify_sha256 FILE SHA256",
        "verify_sha256() { printf '%s  %s\\n' \"$2\" \"$1\" | sha256sum --check --status - || die \"sha256 mismatch for $1 (expected $2)\"; }",
    ]);
}

/// The step reading `imds_token` and the checked `instance_id` from IMDSv2.
pub(crate) fn imds_instance_id(s: &mut Script) {
    s.step("reading the instance id from IMDSv2");
    s.lines(&[
        "imds_token=\"$(curl -fsS --retry 5 --retry-connrefused -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)\"",
        "instance_id=\"$(curl -fsS --retry 5 --retry-connrefused -H \"X-aws-ec2-metadata-token: ${imds_token}\" http://169.254.169.254/latest/meta-data/instance-id)\"",
        "[[ \"${instance_id}\" =~ ^i-[0-9a-f]{8,17}$ ]] || die \"unexpected instance id '${instance_id}'\"",
        "log \"instance id: ${instance_id}\"",
    ]);
}

/// The step reading the checked `availability_zone` from IMDSv2 (after
/// [`imds_instance_id`], whose token it uses). The pattern admits Region zones
/// (`eu-west-1a`) and Local/Wavelength zones (`us-west-2-lax-1a`) and nothing `sed`
/// would read as syntax.
pub(crate) fn imds_availability_zone(s: &mut Script) {
    s.lines(&[
        "availability_zone=\"$(curl -fsS --retry 5 --retry-connrefused -H \"X-aws-ec2-metadata-token: ${imds_token}\" http://169.254.169.254/latest/meta-data/placement/availability-zone)\"",
        "[[ \"${availability_zone}\" =~ ^[a-z0-9-]{4,40}$ ]] || die \"unexpected availability zone '${availability_zone}'\"",
        "log \"availability zone: ${availability_zone}\"",
    ]);
}

/// node_exporter's account and binary: downloaded, checked and installed unless the
/// installed binary already reports the pinned version. For [`Target::Fleet`] the URL,
/// sha256 and path in the tarball come from the architecture `case` (`ne_url`,
/// `ne_sha256`, `ne_member`) and a created account is recorded.
pub(crate) fn node_exporter_binary(s: &mut Script, ne: &NodeExporter, target: Target) {
    s.line(&format!("ne_version={}", sq(&ne.version)));
    // The binary's path inside the tarball, and the word naming it once extracted.
    let (member, extracted) = match target {
        Target::Host(arch) => {
            s.lines(&[
                &format!(
                    "ne_url={}",
                    sq(&crate::node_exporter_url(&ne.version, arch))
                ),
                &format!("ne_sha256={}", sq(ne.sha256.get(arch))),
                &format!("getent passwd node_exporter >/dev/null || {NODE_EXPORTER_USERADD}"),
            ]);
            let member = sq(&format!(
                "node_exporter-{}.linux-{}/node_exporter",
                ne.version,
                arch.go_arch()
            ));
            let extracted = format!("\"${{workdir}}/\"{member}");
            (member, extracted)
        }
        Target::Fleet => {
            s.line(&format!(
                "getent passwd node_exporter >/dev/null || {{ mark 'user node_exporter'; {NODE_EXPORTER_USERADD}; }}"
            ));
            (
                "\"${ne_member}\"".to_string(),
                "\"${workdir}/${ne_member}\"".to_string(),
            )
        }
    };
    s.lines(&[
        &format!("ne_current=\"$({NODE_EXPORTER_BINARY} --version 2>&1 || true)\""),
        "if [[ \"${ne_current}\" == *\"version ${ne_version} \"* ]]; then",
        "  log \"node_exporter ${ne_version} already installed\"",
        "else",
        "  fetch \"${ne_url}\" \"${workdir}/node_exporter.tar.gz\"",
        "  verify_sha256 \"${workdir}/node_exporter.tar.gz\" \"${ne_sha256}\"",
        &format!(
            "  tar -xzf \"${{workdir}}/node_exporter.tar.gz\" -C \"${{workdir}}\" --no-same-owner {member}"
        ),
        &format!("  install_binary {extracted} {NODE_EXPORTER_BINARY}"),
        "fi",
    ]);
}

/// node_exporter's metrics URL as the collector scrapes it.
pub(crate) fn metrics_url(stack: &Stack) -> String {
    format!(
        "http://{}/metrics",
        scrape_target(stack.node_exporter.listen_address)
    )
}

/// Waits up to 30 s for node_exporter's `/metrics`, then fails the script.
pub(crate) fn wait_for_node_exporter(s: &mut Script, stack: &Stack) {
    let metrics_url = metrics_url(stack);
    s.lines(&[
        "for _ in {1..30}; do",
        &format!("  curl -fsS -o /dev/null {} 2>/dev/null && break", sq(&metrics_url)),
        "  sleep 1",
        "done",
        &format!(
            "curl -fsS -o /dev/null {} || die \"node_exporter does not answer on {metrics_url} (journalctl -u node_exporter)\"",
            sq(&metrics_url)
        ),
    ]);
}

/// The ADOT step's package part: installed from the versioned RPM, checked by its
/// signature (and the pinned sha256, if any), unless that version is installed. For
/// [`Target::Fleet`] the URL and pin come from the architecture `case` (`adot_rpm_url`,
/// `adot_rpm_sha256`, empty when not pinned), and the package is recorded before dnf
/// installs it.
pub(crate) fn adot_package(s: &mut Script, a: &Adot, target: Target) {
    let bare = a.version.trim_start_matches('v');
    s.step(&format!("ADOT collector {}", a.version));
    s.comment(
        "Verified by its RPM signature against AWS's ADOT key (rpm --checksig must say\n\
         \"signatures OK\": an unsigned or tampered package is refused).",
    );
    if let Target::Host(arch) = target {
        s.line(&format!(
            "adot_rpm_url={}",
            sq(&crate::adot_rpm_url(&a.version, arch))
        ));
    }
    s.lines(&[
        "adot_installed=\"$(rpm -q --queryformat '%{VERSION}' aws-otel-collector 2>/dev/null || true)\"",
        &format!(
            "if [[ \"${{adot_installed}}\" == {} || \"${{adot_installed}}\" == {} ]]; then",
            sq(&a.version),
            sq(bare)
        ),
        &format!("  log {}", sq(&format!("ADOT collector {} already installed", a.version))),
        "else",
        &format!(
            "  fetch {} \"${{workdir}}/aws-otel-collector.gpg\"",
            sq(ADOT_GPG_KEY_URL)
        ),
        "  rpm --import \"${workdir}/aws-otel-collector.gpg\"",
        "  fetch \"${adot_rpm_url}\" \"${workdir}/aws-otel-collector.rpm\"",
    ]);
    match target {
        Target::Host(arch) => {
            if let Some(sha) = a.rpm_sha256.get(arch) {
                s.line(&format!(
                    "  verify_sha256 \"${{workdir}}/aws-otel-collector.rpm\" {}",
                    sq(sha)
                ));
            }
        }
        Target::Fleet => {
            if Architecture::ALL
                .iter()
                .any(|arch| a.rpm_sha256.get(*arch).is_some())
            {
                s.line(
                    "  [[ -z \"${adot_rpm_sha256}\" ]] || verify_sha256 \"${workdir}/aws-otel-collector.rpm\" \"${adot_rpm_sha256}\"",
                );
            }
        }
    }
    s.lines(&[
        "  adot_sig=\"$(rpm --checksig \"${workdir}/aws-otel-collector.rpm\" 2>&1)\" || die \"ADOT RPM signature check failed: ${adot_sig}\"",
        "  [[ \"${adot_sig}\" == *\"signatures OK\"* ]] || die \"ADOT RPM is not signed by the ADOT key: ${adot_sig}\"",
    ]);
    if target == Target::Fleet {
        s.lines(&["  mark 'package aws-otel-collector'", "  changed=1"]);
    }
    s.lines(&[
        "  dnf install -y \"${workdir}/aws-otel-collector.rpm\"",
        "fi",
    ]);
}

/// The monitor-agent step's binary part: downloaded, checked and installed unless the
/// installed binary has the pinned sha256. `Some(artifact)` renders its URL and hash;
/// `None` (a fleet) uses `agent_url` and `agent_sha256` from the architecture `case`.
pub(crate) fn agent_binary(s: &mut Script, artifact: Option<&Artifact>) {
    s.step("monitor-agent");
    if let Some(artifact) = artifact {
        s.lines(&[
            &format!("agent_url={}", sq(&artifact.url)),
            &format!("agent_sha256={}", sq(&artifact.sha256)),
        ]);
    }
    s.lines(&[
        &format!(
            "if [[ -x {AGENT_BINARY} ]] && printf '%s  %s\\n' \"${{agent_sha256}}\" {AGENT_BINARY} | sha256sum --check --status -; then"
        ),
        "  log \"monitor-agent ${agent_sha256} already installed\"",
        "else",
        "  fetch \"${agent_url}\" \"${workdir}/monitor-agent\"",
        "  verify_sha256 \"${workdir}/monitor-agent\" \"${agent_sha256}\"",
        &format!("  install_binary \"${{workdir}}/monitor-agent\" {AGENT_BINARY}"),
        "fi",
    ]);
}

/// Where the collector scrapes node_exporter: the listen address, with a wildcard
/// address replaced by loopback (the collector runs on the same host).
fn scrape_target(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port()).to_string()
}

fn node_exporter_unit(
    stack: &Stack,
    collector_unit: &str,
    rsyslog: bool,
    collectors: Option<&[String]>,
) -> Result<String, BootstrapError> {
    let ne = &stack.node_exporter;
    let mut exec = format!(
        "{NODE_EXPORTER_BINARY} --web.listen-address={}",
        ne.listen_address
    );
    if let Some(cs) = collectors {
        // Only what the metric allowlist reads (the systemd collector is added below
        // with its unit filter when enabled).
        exec.push_str(" --collector.disable-defaults");
        for c in cs.iter().filter(|c| *c != "systemd") {
            if !c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_') {
                return Err(BootstrapError::UnsafeContent {
                    what: format!("node_exporter collector `{c}`"),
                    detail: "collector names are lower-case letters and `_`".into(),
                });
            }
            exec.push_str(&format!(" --collector.{c}"));
        }
    }
    if ne.systemd_collector {
        // Only the units this bootstrap manages: bounded series count, and alert rules
        // can watch exactly these. `[.]` instead of `\.`: systemd unescapes backslashes.
        let mut units = vec!["node_exporter", collector_unit, "amazon-cloudwatch-agent"];
        if rsyslog {
            units.push("rsyslog");
        }
        exec.push_str(&format!(
            " --collector.systemd --collector.systemd.unit-include=({})[.]service",
            units.join("|")
        ));
    }
    UnitFile::default()
        .section(
            "Unit",
            &[
                ("Description", "Prometheus node_exporter (host metrics)"),
                (
                    "Documentation",
                    "https://github.com/prometheus/node_exporter",
                ),
                ("Wants", "network-online.target"),
                ("After", "network-online.target"),
            ],
        )
        .section(
            "Service",
            &[
                ("Type", "simple"),
                ("User", "node_exporter"),
                ("Group", "node_exporter"),
                ("ExecStart", &exec),
                ("Restart", "on-failure"),
                ("RestartSec", "5s"),
                ("NoNewPrivileges", "yes"),
                ("ProtectSystem", "strict"),
                ("ProtectHome", "read-only"),
            ],
        )
        .section("Install", &[("WantedBy", "multi-user.target")])
        .render(NODE_EXPORTER_UNIT_PATH)
}

fn agent_unit() -> Result<String, BootstrapError> {
    let exec = format!("{AGENT_BINARY} --config {AGENT_CONFIG_PATH}");
    UnitFile::default()
        .section(
            "Unit",
            &[
                (
                    "Description",
                    "monitor-agent: scrape node_exporter, remote-write to AMP",
                ),
                ("Wants", "network-online.target"),
                ("After", "network-online.target node_exporter.service"),
            ],
        )
        .section(
            "Service",
            &[
                ("Type", "simple"),
                ("ExecStart", &exec),
                ("Restart", "on-failure"),
                ("RestartSec", "5s"),
                // No fixed account: systemd allocates one. The state directory
                // (/var/lib/monitor-agent) is the only writable path, kept for the queue.
                ("DynamicUser", "yes"),
                ("StateDirectory", "monitor-agent"),
                ("StateDirectoryMode", "0700"),
                ("NoNewPrivileges", "yes"),
                ("ProtectSystem", "strict"),
                ("ProtectHome", "yes"),
                ("PrivateTmp", "yes"),
                ("PrivateDevices", "yes"),
                ("ProtectKernelTunables", "yes"),
                ("ProtectKernelModules", "yes"),
                ("ProtectControlGroups", "yes"),
                ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
                ("RestrictNamespaces", "yes"),
                ("LockPersonality", "yes"),
                ("MemoryDenyWriteExecute", "yes"),
                ("CapabilityBoundingSet", ""),
            ],
        )
        .section("Install", &[("WantedBy", "multi-user.target")])
        .render(AGENT_UNIT_PATH)
}

pub(crate) fn yaml<T: serde::Serialize>(v: &T, what: &str) -> Result<String, BootstrapError> {
    serde_yaml_ng::to_string(v).map_err(|e| BootstrapError::Serialize {
        what: what.to_string(),
        message: e.to_string(),
    })
}

pub(crate) fn json<T: serde::Serialize>(v: &T, what: &str) -> Result<String, BootstrapError> {
    serde_json::to_string_pretty(v)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| BootstrapError::Serialize {
            what: what.to_string(),
            message: e.to_string(),
        })
}

pub(crate) fn toml_text<T: serde::Serialize>(v: &T, what: &str) -> Result<String, BootstrapError> {
    toml::to_string(v).map_err(|e| BootstrapError::Serialize {
        what: what.to_string(),
        message: e.to_string(),
    })
}
