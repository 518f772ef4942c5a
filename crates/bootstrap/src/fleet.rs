//! Fleet enrolment: the SSM Command document that gives a running instance of a
//! `[[fleets]]` entry what a host's user_data gives a new one (node_exporter, the
//! collector, CloudWatch Logs shipping), run as root by State Manager with
//! `action=install`, and that takes it away again with `action=uninstall`.
//!
//! The instance belongs to someone else, so the script differs from a host's where that
//! matters. It refuses rather than replaces what it did not install (files, the ADOT
//! RPM, a listener on node_exporter's port, another stack's enrolment), records
//! everything it adds in a marker (`/var/lib/monitor-fleet/<stack>/installed`: packages
//! it installed, files it wrote, the account it created) before adding it, and
//! uninstall removes what the marker lists and nothing else. The CloudWatch Agent's
//! configuration is appended beside the team's, never replaced. Re-running install (the
//! association does after every document update) rewrites a file only when its content
//! changed and restarts a service only then.
//!
//! What render time cannot know is read at run time: the architecture (`uname -m`
//! picks the artefacts), the instance id, and the label values taken from EC2 tags
//! (instance metadata). Tag values are arbitrary text, so the collector config carries a
//! token per tag inside a double-quoted string, and bash replaces it with the value
//! escaped for that string (see [`tag_token`]).

use std::collections::BTreeMap;

use monitor_stack::{defaults, is_metadata_tag_key, Architecture, CollectorKind, Fleet, Stack};
use serde::Serialize;

use crate::render::{
    adot_package, adot_start, agent_binary, collector_description, collector_files, collector_unit,
    imds_instance_id, json, needs_rsyslog, node_exporter_binary, node_exporter_unit_file,
    preamble_start, wait_for_node_exporter, workspace_comment, workspace_id, Target, ADOT_RUNNING,
    AGENT_RUNNING,
};
use crate::script::{sq, Script};
use crate::{
    cwagent, BootstrapError, RenderInputs, RenderedFile, ADOT_CONFIG_PATH, ADOT_CTL, AGENT_BINARY,
    AGENT_CONFIG_PATH, AGENT_UNIT_PATH, CWAGENT_CTL, INSTANCE_ID_LABEL, INSTANCE_ID_SENTINEL,
    NODE_EXPORTER_BINARY, NODE_EXPORTER_UNIT_PATH,
};

/// The document parameter choosing what the script does: [`FLEET_INSTALL`] (the
/// default, what the association runs) or [`FLEET_UNINSTALL`].
pub const FLEET_ACTION_PARAMETER: &str = "action";
/// `action` value: install or update the monitoring on the instance.
pub const FLEET_INSTALL: &str = "install";
/// `action` value: remove what install added.
pub const FLEET_UNINSTALL: &str = "uninstall";

/// SSM's limit on a Command document's content: 64 KB.
pub const SSM_DOCUMENT_LIMIT: usize = 64 * 1024;

/// Parent of the per-stack marker directories on fleet members.
pub const FLEET_MARKER_ROOT: &str = "/var/lib/monitor-fleet";

/// Directory where a member records what stack `stack`'s install added (file
/// `installed`, one `fleet NAME`, `package NAME`, `file PATH` or `user NAME` per line).
pub fn fleet_marker_dir(stack: &str) -> String {
    format!("{FLEET_MARKER_ROOT}/{stack}")
}

/// The CloudWatch Agent configuration a member of a fleet of stack `stack` appends (a
/// file of its own: the team's configuration stays as it is).
pub fn fleet_cwagent_config_path(stack: &str) -> String {
    format!("/opt/aws/amazon-cloudwatch-agent/etc/monitor-fleet-{stack}.json")
}

/// Where `amazon-cloudwatch-agent-ctl -a append-config` keeps its copy of
/// [`fleet_cwagent_config_path`] (`file_` + the file name).
fn cwagent_entry(stack: &str) -> String {
    format!("/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.d/file_monitor-fleet-{stack}.json")
}

/// Everything rendered for one fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFleet {
    /// Fleet name from the stack.
    pub fleet: String,
    /// The SSM Command document (schema 2.2) as JSON text: one `aws:runShellScript` step
    /// running install or uninstall as the `action` parameter says.
    pub document: String,
    /// The script the document runs with `action=install`, as a standalone bash script.
    pub install: String,
    /// The script the document runs with `action=uninstall`, as a standalone bash script.
    pub uninstall: String,
}

/// Renders the SSM Command document enrolling `fleet`'s instances, and the install and
/// uninstall scripts it runs.
///
/// ```
/// let stack = monitor_stack::from_toml_str(r#"
/// [[fleets]]
/// name = "platform-prod"
/// select = { Team = "platform" }
/// labels_from_tags = { env = "Environment" }
/// labels = { role = "web", team = "platform" }
/// "#, "stack.toml".as_ref()).unwrap();
/// let inputs = monitor_bootstrap::RenderInputs {
///     workspace_id: Some("ws-1234abcd".into()),
///     ..Default::default()
/// };
/// let fleet = monitor_bootstrap::render_fleet(&stack, &stack.fleets[0], &inputs).unwrap();
/// let doc: serde_json::Value = serde_json::from_str(&fleet.document).unwrap();
/// assert_eq!(doc["schemaVersion"], "2.2");
/// assert_eq!(doc["parameters"][monitor_bootstrap::FLEET_ACTION_PARAMETER]["default"], "install");
/// assert!(fleet.install.contains("read_tag 0 Environment env"));
/// assert!(fleet.document.len() <= monitor_bootstrap::SSM_DOCUMENT_LIMIT);
/// ```
///
/// # Errors
/// [`BootstrapError::DocumentTooLarge`] over [`SSM_DOCUMENT_LIMIT`];
/// [`BootstrapError::InvalidWorkspaceId`] for a malformed `inputs.workspace_id`;
/// [`BootstrapError::UnsafeContent`] for a tag key that instance metadata cannot serve
/// (or that would not be safe in the script), a reserved label, or a value holding a
/// render-time token or an SSM parameter reference (`{{`).
pub fn render_fleet(
    stack: &Stack,
    fleet: &Fleet,
    inputs: &RenderInputs,
) -> Result<RenderedFleet, BootstrapError> {
    let workspace_id = workspace_id(inputs)?;
    let endpoint = crate::remote_write_url(&stack.region, workspace_id);
    let labels = fleet_labels(fleet)?;

    let config = collector_files(stack, inputs, &labels, &endpoint)?;
    check_tokens(fleet, &config.config, fleet.labels_from_tags.len())?;
    let cw_path = fleet_cwagent_config_path(&stack.name);
    let cw_file = RenderedFile {
        content: json(
            &cwagent::logs_config(&stack.logs.group, &stack.logs.files),
            &cw_path,
        )?,
        path: cw_path,
        mode: 0o644,
        fills_instance_id: false,
    };
    let ne_file = node_exporter_unit_file(stack, inputs)?;

    let mut common = Script::default();
    header(
        &mut common,
        stack,
        fleet,
        workspace_id,
        inputs.workspace_id.is_none(),
    );
    preamble_start(&mut common);
    helpers(&mut common, stack, fleet);
    let common = common.finish();

    let install_body = install_body(stack, fleet, &cw_file, &ne_file, &config)?;
    let uninstall_body = uninstall_body(stack, fleet);
    let install = format!("{common}{install_body}");
    let uninstall = format!("{common}{uninstall_body}");

    let mut dispatch = Script::default();
    dispatch.line("");
    dispatch
        .comment("The document's only parameter, checked against its allowed values once more.");
    dispatch.lines(&[
        &format!("requested='{{{{ {FLEET_ACTION_PARAMETER} }}}}'"),
        "case \"${requested}\" in",
        &format!("  {FLEET_INSTALL}) action={FLEET_INSTALL} ;;"),
        &format!("  {FLEET_UNINSTALL}) action={FLEET_UNINSTALL} ;;"),
        &format!("  *) die \"unknown action: expected {FLEET_INSTALL} or {FLEET_UNINSTALL}\" ;;"),
        "esac",
        &format!("if [[ \"${{action}}\" == {FLEET_INSTALL} ]]; then"),
    ]);
    let script = format!(
        "{common}{}{install_body}else\n{uninstall_body}fi\n",
        dispatch.finish()
    );
    // SSM reads every `{{ name }}` of the content as a parameter reference: only ours.
    if script.matches("{{").count() != 1 {
        return Err(BootstrapError::UnsafeContent {
            what: format!("the SSM document of fleet `{}`", fleet.name),
            detail: "a label value or log file path contains `{{`, which SSM would read as \
                     a parameter reference"
                .into(),
        });
    }

    let document = document_json(stack, fleet, &script)?;
    if document.len() > SSM_DOCUMENT_LIMIT {
        return Err(BootstrapError::DocumentTooLarge {
            fleet: fleet.name.clone(),
            size: document.len(),
            limit: SSM_DOCUMENT_LIMIT,
        });
    }
    Ok(RenderedFleet {
        fleet: fleet.name.clone(),
        document,
        install,
        uninstall,
    })
}

/// The token standing for the value of the `n`th `labels_from_tags` entry (in label
/// order) in the collector config, until the script replaces it.
///
/// The trailing tab makes both serializers write the token as a double-quoted string —
/// libyaml (serde_yaml_ng) quotes a scalar holding a tab, and TOML's basic strings are
/// double-quoted — in which the tab appears as the escape `\t`: the config holds
/// `"__TAG_<n>__\t"`, and the script replaces `__TAG_<n>__\t` with the value escaped
/// for that string. An escaped value can never contain a token: each of its
/// backslashes is followed by another backslash or a `"`, never by `t` after `__`.
fn tag_token(n: usize) -> String {
    format!("__TAG_{n}__\t")
}

/// The token as the serialized config spells it.
fn serialized_tag_token(n: usize) -> String {
    format!("__TAG_{n}__\\t")
}

/// The external labels of a member: the fleet's fixed labels, `fleet`, `host` and
/// `instance_id` (both the instance id), and a [`tag_token`] per label from a tag.
fn fleet_labels(fleet: &Fleet) -> Result<BTreeMap<String, String>, BootstrapError> {
    let unsafe_label = |label: &str, detail: String| BootstrapError::UnsafeContent {
        what: format!("label `{label}` of fleet `{}`", fleet.name),
        detail,
    };
    for label in fleet.label_names() {
        if defaults::RESERVED_LABELS.contains(&label) {
            return Err(unsafe_label(
                label,
                "the label is reserved (set at render time or on the instance)".into(),
            ));
        }
    }
    let mut labels = BTreeMap::new();
    for (label, value) in &fleet.labels {
        if value.contains(INSTANCE_ID_SENTINEL) || value.contains("__TAG_") {
            return Err(unsafe_label(
                label,
                format!(
                    "the value contains a render-time token ({INSTANCE_ID_SENTINEL} or __TAG_)"
                ),
            ));
        }
        labels.insert(label.clone(), value.clone());
    }
    labels.insert(defaults::FLEET_LABEL.to_string(), fleet.name.clone());
    labels.insert(
        defaults::HOST_LABEL.to_string(),
        INSTANCE_ID_SENTINEL.to_string(),
    );
    labels.insert(
        INSTANCE_ID_LABEL.to_string(),
        INSTANCE_ID_SENTINEL.to_string(),
    );
    for (n, (label, key)) in fleet.labels_from_tags.iter().enumerate() {
        // The stack checks this too; the script puts the key in a URL and a message.
        if !is_metadata_tag_key(key) {
            return Err(unsafe_label(
                label,
                format!(
                    "tag key `{key}` cannot be read from instance metadata: letters, digits \
                     and `+ - = . , _ : @` only, at most 128 characters"
                ),
            ));
        }
        labels.insert(label.clone(), tag_token(n));
    }
    Ok(labels)
}

/// Every tag token appears exactly once in the config, as a whole double-quoted string,
/// and nothing else looks like one: what the script's replacement relies on.
fn check_tokens(fleet: &Fleet, config: &RenderedFile, n: usize) -> Result<(), BootstrapError> {
    let bad = |detail: String| BootstrapError::UnsafeContent {
        what: format!("{} of fleet `{}`", config.path, fleet.name),
        detail,
    };
    if config.content.matches("__TAG_").count() != n {
        return Err(bad("a value holds the tag token prefix __TAG_".into()));
    }
    for i in 0..n {
        let quoted = format!("\"{}\"", serialized_tag_token(i));
        if config.content.matches(&quoted).count() != 1 {
            return Err(bad(format!(
                "the serializer did not write the tag token as {quoted}"
            )));
        }
    }
    Ok(())
}

fn header(s: &mut Script, stack: &Stack, fleet: &Fleet, workspace_id: &str, placeholder: bool) {
    s.line("#!/bin/bash");
    s.comment(&format!(
        "monitor-bootstrap enrolment for fleet {} of stack {} in {}, run as root\n\
         by the fleet's SSM Command document (parameter {FLEET_ACTION_PARAMETER}: \
         {FLEET_INSTALL} or {FLEET_UNINSTALL}).\n\
         Rendered from stack.toml by monitor-provision: change the stack file, not this script.\n\
         install: node_exporter {}, {} and CloudWatch Logs shipping, on Amazon Linux\n\
         2023 (x86_64 or aarch64); what it adds is recorded first in {}/installed.\n\
         uninstall: removes what that file records, and nothing else. Both are idempotent.",
        fleet.name,
        stack.name,
        stack.region,
        stack.node_exporter.version,
        collector_description(stack),
        fleet_marker_dir(&stack.name),
    ));
    workspace_comment(s, workspace_id, placeholder);
}

/// Variables and functions of both scripts: the marker, change-aware writes, the
/// checks that refuse what is not ours, tags, and removal.
fn helpers(s: &mut Script, stack: &Stack, fleet: &Fleet) {
    let name = &stack.name;
    let cw_path = fleet_cwagent_config_path(name);
    let cw_entry = cwagent_entry(name);
    let cw_dir = cw_entry.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let cw_base = cw_entry.rsplit_once('/').map_or("", |(_, b)| b).to_string();
    let state_dir = format!("/var/lib/{}", crate::systemd::AGENT_STATE_DIRECTORY);
    let state_private = format!("/var/lib/private/{}", crate::systemd::AGENT_STATE_DIRECTORY);
    let not_ours = sq(&format!(
        "exists and was not installed by monitor-fleet for stack {name}: refusing to replace it \
         (remove it, or keep this instance out of fleet {})",
        fleet.name
    ));
    let marker_dir = fleet_marker_dir(name);
    s.lines(&[
        "",
        "# What install adds is recorded here first, so that uninstall (or a failed run's retry)",
        "# removes exactly that; changed=1 once a file or binary was rewritten.",
        &format!("marker_dir={}", sq(&marker_dir)),
        "marker=\"${marker_dir}/installed\"",
        "changed=0",
        "# Set by install from instance metadata.",
        "imds_token=''",
        "instance_id=''",
        "tag_values=()",
        "",
        "# marked LINE: whether the marker records LINE (`fleet F`, `package P`, `file PATH`, `user U`).",
        "marked() { grep -qsxF -- \"$1\" \"${marker}\"; }",
        "# mark LINE: record LINE once, before what it names is added.",
        "mark() {",
        "  if ! marked \"$1\"; then",
        "    install -d -m 0700 \"${marker_dir}\"",
        "    { cat \"${marker}\" 2>/dev/null || true; printf '%s\\n' \"$1\"; } >\"${marker}.new\"",
        "    mv -f \"${marker}.new\" \"${marker}\"",
        "  fi",
        "}",
        "# unmark LINE: forget LINE once what it names is gone.",
        "unmark() {",
        "  if marked \"$1\"; then",
        "    grep -vxF -- \"$1\" \"${marker}\" >\"${marker}.new\" || true",
        "    mv -f \"${marker}.new\" \"${marker}\"",
        "  fi",
        "}",
        "# claim PATH: refuse to go on if PATH exists and this stack did not write it.",
        "claim() {",
        "  if [[ -e \"$1\" ]] && ! marked \"file $1\"; then",
        &format!("    die \"$1 \"{not_ours}"),
        "  fi",
        "}",
        "# write_file MODE PATH: content on stdin; PATH is rewritten (changed=1) only if it differs.",
        "write_file() {",
        "  local tmp",
        "  tmp=\"$(mktemp)\"",
        "  cat >\"${tmp}\"",
        "  mark \"file $2\"",
        "  if [[ -f \"$2\" ]] && cmp -s \"${tmp}\" \"$2\" && [[ \"$(stat -c %a \"$2\")\" == \"${1#0}\" ]]; then",
        "    rm -f \"${tmp}\"",
        "  else",
        "    install -D -m \"$1\" \"${tmp}\" \"$2\"",
        "    rm -f \"${tmp}\"",
        "    changed=1",
        "  fi",
        "}",
        "# install_binary SRC DEST: replace atomically, also while the old binary runs.",
        "install_binary() {",
        "  mark \"file $2\"",
        "  install -m 0755 \"$1\" \"$2.new\"",
        "  mv -f \"$2.new\" \"$2\"",
        "  changed=1",
        "}",
        "# install_package NAME: dnf install NAME unless it is installed (then it is not ours).",
        "install_package() {",
        "  if ! rpm -q \"$1\" >/dev/null 2>&1; then",
        "    mark \"package $1\"",
        "    dnf install -y \"$1\"",
        "  fi",
        "}",
        "# restart_if_changed UNIT: enable UNIT; restart it if its files changed or it is down.",
        "restart_if_changed() {",
        "  if (( changed )); then",
        "    systemctl daemon-reload",
        "  fi",
        "  systemctl enable \"$1\"",
        "  if (( changed )) || ! systemctl is-active --quiet \"$1\"; then",
        "    systemctl restart \"$1\"",
        "  fi",
        "  changed=0",
        "}",
        "# check_os OS_RELEASE: refuse anything but Amazon Linux 2023.",
        "check_os() {",
        "  local key value id='' version_id='' pretty=''",
        "  [[ -r \"$1\" ]] || die \"monitor-fleet supports Amazon Linux 2023 only; this instance has no $1\"",
        "  while IFS='=' read -r key value || [[ -n \"${key}\" ]]; do",
        "    value=${value#[\\\"\\']}",
        "    value=${value%[\\\"\\']}",
        "    case \"${key}\" in",
        "      ID) id=${value} ;;",
        "      VERSION_ID) version_id=${value} ;;",
        "      PRETTY_NAME) pretty=${value} ;;",
        "    esac",
        "  done <\"$1\"",
        "  if [[ \"${id}\" != amzn || \"${version_id}\" != 2023 ]]; then",
        "    die \"monitor-fleet supports Amazon Linux 2023 only; this instance runs ${pretty:-${id} ${version_id}}\"",
        "  fi",
        "}",
        "# check_port PORT: refuse if anything but this stack's node_exporter listens on PORT.",
        "check_port() {",
        "  local listeners pid",
        "  command -v ss >/dev/null || die \"ss (package iproute) is needed to check that port $1 is free\"",
        "  listeners=\"$(ss -Hltnp \"sport = :$1\")\"",
        "  if [[ -z \"${listeners}\" ]]; then",
        "    return 0",
        "  fi",
        "  pid=\"$(systemctl show --property MainPID --value node_exporter.service 2>/dev/null || true)\"",
        &format!(
            "  if marked 'file {NODE_EXPORTER_UNIT_PATH}' && [[ \"${{pid:-0}}\" != 0 && \"${{listeners}}\" == *\"pid=${{pid}},\"* ]]; then"
        ),
        "    return 0",
        "  fi",
        "  die \"port $1 is in use by another program (${listeners//$'\\n'/ / }): node_exporter needs it; set [node_exporter] listen_address in stack.toml to a free port\"",
        "}",
        "# read_tag N KEY LABEL: the instance's tag KEY, from instance metadata, as tag_values[N].",
        "read_tag() {",
        "  local code",
        "  code=\"$(curl -sS --retry 5 --retry-connrefused -o \"${workdir}/tag\" -w '%{http_code}' -H \"X-aws-ec2-metadata-token: ${imds_token}\" \"http://169.254.169.254/latest/meta-data/tags/instance/$2\")\" || die \"cannot read tag $2 from instance metadata\"",
        "  if [[ \"${code}\" == 404 ]]; then",
        "    die \"label $3 takes the value of tag $2, which is missing on ${instance_id} or instance metadata tags are off: tag the instance, or turn them on with: aws ec2 modify-instance-metadata-options --instance-id ${instance_id} --instance-metadata-tags enabled\"",
        "  fi",
        "  [[ \"${code}\" == 200 ]] || die \"instance metadata answered HTTP ${code} for tag $2\"",
        "  load_tag \"$1\" \"$2\" \"$3\" \"${workdir}/tag\"",
        "}",
        "# load_tag N KEY LABEL FILE: FILE's content as tag_values[N], if it can be a label value",
        "# (not empty, at most 1024 bytes, no control character: C0, DEL or C1).",
        "load_tag() {",
        "  local LC_ALL=C value size",
        "  size=\"$(stat -c %s \"$4\")\"",
        "  IFS= read -r -d '' value <\"$4\" || true",
        "  [[ -n \"${value}\" ]] || die \"tag $2 (label $3) is empty on ${instance_id}: give it a value\"",
        "  (( size <= 1024 )) || die \"tag $2 (label $3) is ${size} bytes: label values are at most 1024\"",
        "  if (( ${#value} != size )) || [[ \"${value}\" == *[[:cntrl:]]* || \"${value}\" == *$'\\xc2'[$'\\x80'-$'\\x9f']* ]]; then",
        "    die \"tag $2 (label $3) holds a control character, which a label value cannot\"",
        "  fi",
        "  tag_values[$1]=${value}",
        "}",
        "# fill_tokens FORMAT: stdin to stdout with the instance id and each tag value in place of",
        "# its token, the value escaped for a double-quoted string (`\\` and `\"`), for FORMAT adot",
        "# also for the collector's `$` expansion. Quoted patterns and replacements: literal text",
        "# (bash 5.2 expands an unquoted `&` in a replacement).",
        "fill_tokens() {",
        "  local content value i bs=\"\\\\\" dq='\"' dollar='$'",
        "  content=\"$(cat; printf x)\"",
        "  content=${content%x}",
        &format!("  content=${{content//\"{INSTANCE_ID_SENTINEL}\"/\"${{instance_id}}\"}}"),
        "  for i in \"${!tag_values[@]}\"; do",
        "    value=${tag_values[i]}",
        "    if [[ \"$1\" == adot ]]; then",
        "      value=${value//\"${dollar}\"/\"${dollar}${dollar}\"}",
        "    fi",
        "    value=${value//\"${bs}\"/\"${bs}${bs}\"}",
        "    value=${value//\"${dq}\"/\"${bs}${dq}\"}",
        "    content=${content//\"__TAG_${i}__${bs}t\"/\"${value}\"}",
        "  done",
        "  printf '%s' \"${content}\"",
        "}",
        "# write_filled MODE PATH FORMAT: write_file of stdin after fill_tokens FORMAT.",
        "write_filled() {",
        "  local tmp",
        "  tmp=\"$(mktemp)\"",
        "  fill_tokens \"$3\" >\"${tmp}\"",
        "  write_file \"$1\" \"$2\" <\"${tmp}\"",
        "  rm -f \"${tmp}\"",
        "}",
        "# remove_file PATH: delete PATH if this stack wrote it.",
        "remove_file() {",
        "  if marked \"file $1\"; then",
        "    rm -f -- \"$1\"",
        "    unmark \"file $1\"",
        "  fi",
        "}",
        "# remove_unit UNIT PATH: stop, disable and delete a unit this stack installed.",
        "remove_unit() {",
        "  if marked \"file $2\"; then",
        "    systemctl disable --now \"$1\" || true",
        "    remove_file \"$2\"",
        "    systemctl daemon-reload",
        "    systemctl reset-failed \"$1\" 2>/dev/null || true",
        "  fi",
        "}",
        "# remove_package NAME: rpm -e NAME if this stack installed it and nothing else needs it.",
        "remove_package() {",
        "  if marked \"package $1\"; then",
        "    if rpm -q \"$1\" >/dev/null 2>&1; then",
        "      rpm -e \"$1\" || log \"keeping package $1: other packages need it\"",
        "    fi",
        "    unmark \"package $1\"",
        "  fi",
        "}",
        "# remove_node_exporter: its unit, binary and, if created here, its account.",
        "remove_node_exporter() {",
        &format!("  remove_unit node_exporter.service {NODE_EXPORTER_UNIT_PATH}"),
        &format!("  remove_file {NODE_EXPORTER_BINARY}"),
        "  if marked 'user node_exporter'; then",
        "    if getent passwd node_exporter >/dev/null; then",
        "      userdel node_exporter",
        "    fi",
        "    unmark 'user node_exporter'",
        "  fi",
        "}",
        "# remove_agent: monitor-agent's unit, binary, config and queue.",
        "remove_agent() {",
        &format!("  if marked 'file {AGENT_UNIT_PATH}'; then"),
        &format!("    remove_unit monitor-agent.service {AGENT_UNIT_PATH}"),
        &format!("    rm -rf {state_dir} {state_private}"),
        "  fi",
        &format!("  remove_file {AGENT_BINARY}"),
        &format!("  if marked 'file {AGENT_CONFIG_PATH}'; then"),
        &format!("    remove_file {AGENT_CONFIG_PATH}"),
        "    rmdir --ignore-fail-on-non-empty /etc/monitor-agent 2>/dev/null || true",
        "  fi",
        "}",
        "# remove_adot: the ADOT collector, if this stack installed it.",
        "remove_adot() {",
        "  if marked 'package aws-otel-collector'; then",
        &format!("    {ADOT_CTL} -a stop || true"),
        "    remove_package aws-otel-collector",
        "    if ! rpm -q aws-otel-collector >/dev/null 2>&1; then",
        "      rm -rf /opt/aws/aws-otel-collector",
        "    fi",
        "  fi",
        &format!("  remove_file {ADOT_CONFIG_PATH}"),
        "}",
        "# other_cwagent_config: whether the CloudWatch Agent has a configuration besides ours.",
        "other_cwagent_config() {",
        "  [[ -e /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json ]] ||",
        &format!(
            "    [[ -n \"$(find {cw_dir} -maxdepth 1 -type f ! -name {} ! -name '*.tmp' -print -quit 2>/dev/null)\" ]]",
            sq(&cw_base)
        ),
        "}",
        "# remove_cwagent_config: our CloudWatch Agent configuration, and the agent itself if",
        "# this stack installed it and nothing else configures it.",
        "remove_cwagent_config() {",
        &format!("  if [[ -x {CWAGENT_CTL} && -e {cw_entry} ]]; then"),
        "    if other_cwagent_config; then",
        &format!("      {CWAGENT_CTL} -a remove-config -m ec2 -c file:{cw_path} -s"),
        "    else",
        &format!("      {CWAGENT_CTL} -a remove-config -m ec2 -c file:{cw_path}"),
        &format!("      {CWAGENT_CTL} -a stop"),
        "    fi",
        "  fi",
        &format!("  remove_file {cw_path}"),
        "  if marked 'package amazon-cloudwatch-agent' && other_cwagent_config; then",
        "    log 'keeping amazon-cloudwatch-agent: another configuration uses it'",
        "    unmark 'package amazon-cloudwatch-agent'",
        "  fi",
        "  remove_package amazon-cloudwatch-agent",
        "}",
    ]);
}

fn install_body(
    stack: &Stack,
    fleet: &Fleet,
    cw_file: &RenderedFile,
    ne_file: &RenderedFile,
    config: &crate::render::CollectorFiles,
) -> Result<String, BootstrapError> {
    let name = &stack.name;
    let ne = &stack.node_exporter;
    let rsyslog = needs_rsyslog(stack);
    let mut s = Script::default();

    s.step("checking the platform");
    s.line("check_os /etc/os-release");
    arch_case(&mut s, stack);

    imds_instance_id(&mut s);

    if !fleet.labels_from_tags.is_empty() {
        s.step("labels from EC2 tags (instance metadata)");
        for (n, (label, key)) in fleet.labels_from_tags.iter().enumerate() {
            s.line(&format!("read_tag {n} {} {}", sq(key), sq(label)));
        }
    }

    s.step("checking what this instance already runs");
    s.lines(&[
        &format!("for other in {FLEET_MARKER_ROOT}/*/installed; do"),
        "  if [[ -e \"${other}\" && \"${other}\" != \"${marker}\" ]]; then",
        "    die \"this instance is enrolled by another stack (${other}): an instance can belong to one stack only\"",
        "  fi",
        "done",
        &format!("claim {NODE_EXPORTER_BINARY}"),
        &format!("claim {NODE_EXPORTER_UNIT_PATH}"),
        &format!("claim {}", cw_file.path),
    ]);
    match &stack.collector.kind {
        CollectorKind::Adot(_) => {
            s.comment(&format!(
                "ADOT reads only {ADOT_CONFIG_PATH}: a collector someone else installed keeps it."
            ));
            s.lines(&[
                "if rpm -q aws-otel-collector >/dev/null 2>&1 && ! marked 'package aws-otel-collector'; then",
                &format!(
                    "  die {}",
                    sq(&format!(
                        "the ADOT collector (aws-otel-collector) is installed on this instance, not \
                         by monitor-fleet: refusing to replace its configuration {ADOT_CONFIG_PATH} \
                         (use [collector] kind = \"monitor-agent\" in stack.toml, or keep this \
                         instance out of fleet {})",
                        fleet.name
                    ))
                ),
                "fi",
            ]);
        }
        CollectorKind::MonitorAgent(_) => {
            s.lines(&[
                &format!("claim {AGENT_BINARY}"),
                &format!("claim {AGENT_CONFIG_PATH}"),
                &format!("claim {AGENT_UNIT_PATH}"),
            ]);
        }
    }
    s.line(&format!("check_port {}", ne.listen_address.port()));

    s.step(&format!(
        "recording what this script adds in {}/installed",
        fleet_marker_dir(name)
    ));
    s.lines(&[
        "previous_fleet=\"$(sed -n 's/^fleet //p' \"${marker}\" 2>/dev/null || true)\"",
        &format!(
            "if [[ -n \"${{previous_fleet}}\" && \"${{previous_fleet}}\" != {} ]]; then",
            sq(&fleet.name)
        ),
        &format!(
            "  log \"WARNING: fleet {} takes this instance over from fleet ${{previous_fleet}} of stack {name}; an instance that both fleets' select tags match gets the labels of whichever ran last\"",
            fleet.name
        ),
        "  unmark \"fleet ${previous_fleet}\"",
        "fi",
        &format!("mark {}", sq(&format!("fleet {}", fleet.name))),
    ]);
    s.comment(
        "The stack's collector kind may have changed since the last run: remove the other one.",
    );
    match &stack.collector.kind {
        CollectorKind::Adot(_) => s.line("remove_agent"),
        CollectorKind::MonitorAgent(_) => s.line("remove_adot"),
    };

    s.step("installing missing packages from the Amazon Linux repositories");
    s.lines(&[
        "install_package amazon-cloudwatch-agent",
        "install_package tar",
    ]);
    if rsyslog {
        s.comment(
            "AL2023 logs to journald only; rsyslog writes /var/log/messages for the CloudWatch Agent.\n\
             Started only if this script installed it: the team's choice otherwise.",
        );
        s.lines(&[
            "install_package rsyslog",
            "if marked 'package rsyslog'; then",
            "  systemctl enable --now rsyslog.service",
            "elif ! systemctl is-active --quiet rsyslog.service; then",
            "  log 'WARNING: rsyslog is installed but not running: /var/log/messages is not shipped'",
            "fi",
        ]);
    }

    s.step("CloudWatch Agent: ship log files to CloudWatch Logs");
    s.comment(
        "A file of our own, appended beside any configuration the agent already has\n\
         (fetch-config would replace the team's).",
    );
    s.write_file(cw_file)?;
    s.lines(&[
        &format!(
            "if (( changed )) || [[ ! -e {} ]]; then",
            cwagent_entry(name)
        ),
        &format!(
            "  {CWAGENT_CTL} -a append-config -m ec2 -s -c file:{} || die \"the CloudWatch Agent refused this stack's log configuration beside its own (output above)\"",
            cw_file.path
        ),
        "fi",
        "changed=0",
    ]);

    s.step(&format!("node_exporter {}", ne.version));
    node_exporter_binary(&mut s, ne, Target::Fleet);
    s.write_file(ne_file)?;
    s.line("restart_if_changed node_exporter.service");
    wait_for_node_exporter(&mut s, stack);

    match &stack.collector.kind {
        CollectorKind::Adot(a) => {
            adot_package(&mut s, a, Target::Fleet);
            s.comment(&format!(
                "ADOT only reads {ADOT_CONFIG_PATH}; any other path is ignored."
            ));
            s.heredoc(
                &format!("write_filled 0644 {ADOT_CONFIG_PATH} adot"),
                &config.config,
            )?;
            s.lines(&[
                "if (( changed )) || ! systemctl is-active --quiet aws-otel-collector.service; then",
                &format!("  {}", adot_start()),
                "fi",
                "changed=0",
                ADOT_RUNNING,
            ]);
        }
        CollectorKind::MonitorAgent(_) => {
            agent_binary(&mut s, None);
            s.heredoc(
                &format!("write_filled 0644 {AGENT_CONFIG_PATH} toml"),
                &config.config,
            )?;
            if let Some(unit) = &config.unit {
                s.write_file(unit)?;
            }
            s.lines(&["restart_if_changed monitor-agent.service", AGENT_RUNNING]);
        }
    }

    s.step("done");
    s.line(&format!(
        "log \"instance ${{instance_id}} (${{arch}}) enrolled in fleet {} of stack {name}: node_exporter, {}, amazon-cloudwatch-agent running\"",
        fleet.name,
        collector_unit(&stack.collector.kind)
    ));
    Ok(s.finish())
}

/// `case "$(uname -m)"`: the artefacts for this instance's architecture, or a refusal
/// naming what is missing.
fn arch_case(s: &mut Script, stack: &Stack) {
    let ne = &stack.node_exporter;
    s.line("case \"$(uname -m)\" in");
    for arch in Architecture::ALL {
        s.line(&format!("  {})", arch.uname()));
        let mut vars = vec![
            ("arch", arch.as_str().to_string()),
            ("ne_url", crate::node_exporter_url(&ne.version, arch)),
            ("ne_sha256", ne.sha256.get(arch).clone()),
            (
                "ne_member",
                format!(
                    "node_exporter-{}.linux-{}/node_exporter",
                    ne.version,
                    arch.go_arch()
                ),
            ),
        ];
        match &stack.collector.kind {
            CollectorKind::Adot(a) => {
                vars.push(("adot_rpm_url", crate::adot_rpm_url(&a.version, arch)));
                if Architecture::ALL
                    .iter()
                    .any(|other| a.rpm_sha256.get(*other).is_some())
                {
                    let pin = a.rpm_sha256.get(arch).clone().unwrap_or_default();
                    vars.push(("adot_rpm_sha256", pin));
                }
            }
            CollectorKind::MonitorAgent(m) => match m.artifact.get(arch) {
                Some(artifact) => {
                    vars.push(("agent_url", artifact.url.clone()));
                    vars.push(("agent_sha256", artifact.sha256.clone()));
                }
                None => {
                    s.line(&format!(
                        "    die {}",
                        sq(&format!(
                            "this instance is {arch} ({}) but stack {} has no monitor-agent \
                             binary for it: set agent_url_{arch} and agent_sha256_{arch} (or \
                             agent_url and agent_sha256) in [collector] of stack.toml",
                            arch.uname(),
                            stack.name
                        ))
                    ));
                    s.line("    ;;");
                    continue;
                }
            },
        }
        for (var, value) in vars {
            s.line(&format!("    {var}={}", sq(&value)));
        }
        s.line("    ;;");
    }
    s.lines(&[
        "  *) die \"monitor-fleet supports x86_64 and aarch64 only; this instance is $(uname -m)\" ;;",
        "esac",
        "log \"architecture: ${arch}\"",
    ]);
}

fn uninstall_body(stack: &Stack, fleet: &Fleet) -> String {
    let name = &stack.name;
    let mut s = Script::default();
    s.step(&format!(
        "removing what monitor-fleet installed for stack {name}"
    ));
    s.lines(&[
        "if [[ ! -f \"${marker}\" ]]; then",
        "  log \"nothing to remove: ${marker} does not exist\"",
        &format!("elif ! marked {}; then", sq(&format!("fleet {}", fleet.name))),
        &format!(
            "  log \"this instance is enrolled by another fleet of stack {name} ($(sed -n 's/^fleet //p' \"${{marker}}\")), not {}: left as it is\"",
            fleet.name
        ),
        "else",
        "  remove_agent",
        "  remove_adot",
        "  remove_node_exporter",
        "  remove_cwagent_config",
        "  remove_package rsyslog",
        "  remove_package tar",
        "  # Files recorded by an older version of this document.",
        "  while IFS= read -r line; do",
        "    case \"${line}\" in",
        "      'file '*) rm -f -- \"${line#file }\" ;;",
        "    esac",
        "  done <\"${marker}\"",
        "  rm -rf -- \"${marker_dir}\"",
        &format!("  rmdir --ignore-fail-on-non-empty {FLEET_MARKER_ROOT} 2>/dev/null || true"),
        &format!(
            "  log \"removed node_exporter, the collector and the log shipping of stack {name} from this instance\""
        ),
        "fi",
    ]);
    s.finish()
}

/// An SSM Command document, schema 2.2.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommandDocument<'a> {
    schema_version: &'a str,
    description: String,
    parameters: BTreeMap<&'a str, Parameter<'a>>,
    main_steps: Vec<Step<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Parameter<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    description: &'a str,
    allowed_values: Vec<&'a str>,
    default: &'a str,
}

#[derive(Serialize)]
struct Step<'a> {
    action: &'a str,
    name: &'a str,
    precondition: Precondition<'a>,
    inputs: StepInputs,
}

#[derive(Serialize)]
struct Precondition<'a> {
    #[serde(rename = "StringEquals")]
    string_equals: [&'a str; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepInputs {
    run_command: Vec<String>,
}

fn document_json(stack: &Stack, fleet: &Fleet, script: &str) -> Result<String, BootstrapError> {
    let doc = CommandDocument {
        schema_version: "2.2",
        description: format!(
            "monitor-provision: enrols the instances of fleet {} in the monitoring of stack {} \
             (node_exporter, {}, CloudWatch Logs), or removes it again (action=uninstall). \
             Amazon Linux 2023 only.",
            fleet.name,
            stack.name,
            collector_unit(&stack.collector.kind)
        ),
        parameters: BTreeMap::from([(
            FLEET_ACTION_PARAMETER,
            Parameter {
                kind: "String",
                description: "install: install or update the monitoring on the instance; \
                              uninstall: remove what install added.",
                allowed_values: vec![FLEET_INSTALL, FLEET_UNINSTALL],
                default: FLEET_INSTALL,
            },
        )]),
        main_steps: vec![Step {
            action: "aws:runShellScript",
            name: "monitorFleet",
            precondition: Precondition {
                string_equals: ["platformType", "Linux"],
            },
            inputs: StepInputs {
                run_command: script.lines().map(str::to_string).collect(),
            },
        }],
    };
    json(&doc, &format!("the SSM document of fleet `{}`", fleet.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_appear_in_escaped_values() {
        // The escaping fill_tokens applies, done in Rust: every backslash of the result
        // is followed by a backslash or a quote, so `__\t` cannot occur.
        for value in [r"__TAG_0__\t", r"\t", r#"__TAG_1__\"t"#, "a\\"] {
            let escaped = value.replace('\\', r"\\").replace('"', "\\\"");
            for n in 0..3 {
                assert!(!escaped.contains(&serialized_tag_token(n)), "{escaped}");
            }
        }
        assert_eq!(serialized_tag_token(2), r"__TAG_2__\t");
        assert_eq!(tag_token(2), "__TAG_2__\t");
    }
}
