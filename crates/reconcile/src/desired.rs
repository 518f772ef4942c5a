//! What the stack should look like: pure functions from the [`Stack`] (plus the account,
//! and the workspace id once known) to the desired resources and each host's rendered
//! user_data and its hashes.

use std::collections::BTreeMap;

use monitor_alerts::log_alarms;
use monitor_bootstrap::{RenderInputs, RenderedFile};
use monitor_grafana::api::{ContentSpec, StackContent};
use monitor_stack::{Host, Severity, Stack};

use crate::error::Result;
use crate::names::{
    sha256_hex, Names, LABEL_TAG_PREFIX, TAG_BASE_SHA, TAG_HOST, TAG_USER_DATA_SHA,
};
use crate::observe::Observed;

/// A host's user_data rendered for a known workspace. Serialised (in the plan's JSON)
/// as its two hashes only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenderedUserData {
    /// The user_data exactly as EC2 receives it (before base64).
    #[serde(skip)]
    pub user_data: String,
    /// sha256 of `user_data` (tag [`TAG_USER_DATA_SHA`]).
    pub full_sha: String,
    /// sha256 of the user_data rendered with neutral labels (tag [`TAG_BASE_SHA`]).
    pub base_sha: String,
    /// Files whose content depends on the labels (the collector config): what an
    /// in-place label update pushes to the host.
    #[serde(skip)]
    pub label_files: Vec<RenderedFile>,
}

/// One desired EC2 host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredHost {
    /// The stack's host entry.
    pub host: Host,
    /// Rendered user_data; `None` while the workspace id is not known yet.
    pub rendered: Option<RenderedUserData>,
}

impl DesiredHost {
    /// The instance tags (ownership, name, host, labels, hashes when rendered).
    pub fn tags(&self, names: &Names) -> BTreeMap<String, String> {
        let mut t = names.owner_tags();
        t.insert("Name".into(), self.host.name.clone());
        t.insert(TAG_HOST.into(), self.host.name.clone());
        for (k, v) in &self.host.labels {
            t.insert(format!("{LABEL_TAG_PREFIX}{k}"), v.clone());
        }
        if let Some(r) = &self.rendered {
            t.insert(TAG_USER_DATA_SHA.into(), r.full_sha.clone());
            t.insert(TAG_BASE_SHA.into(), r.base_sha.clone());
        }
        t
    }
}

/// One desired `[[fleets]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredFleet {
    /// The stack's fleet entry.
    pub fleet: monitor_stack::Fleet,
    /// The SSM document's content; `None` while the workspace id is not known yet.
    pub document: Option<String>,
    /// Its running members (instance ids) as observed ([`Desired::with_fleet_members`];
    /// empty before): watched by the absence rules and counted by the estimate.
    pub members: Vec<String>,
}

/// One desired `[[groups]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    /// The stack's group entry.
    pub group: monitor_stack::Group,
    /// Its launch template's user_data; `None` while the workspace id is not known yet.
    pub rendered: Option<RenderedGroup>,
}

/// A group's user_data rendered for a known workspace. Serialised (in the plan's JSON)
/// as its hash only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenderedGroup {
    /// The user_data exactly as the launch template carries it (before base64).
    #[serde(skip)]
    pub user_data: String,
    /// sha256 of `user_data`, compared with the template's default version.
    pub sha: String,
}

/// The desired state of the whole stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Resource names.
    pub names: Names,
    /// Region.
    pub region: String,
    /// Account id.
    pub account_id: String,
    /// Log group name.
    pub log_group: String,
    /// Log group retention.
    pub retention_days: u32,
    /// The workspace id the user_data was rendered for, if known.
    pub workspace_id: Option<String>,
    /// The hosts, in stack order.
    pub hosts: Vec<DesiredHost>,
    /// The fleets, in stack order.
    pub fleets: Vec<DesiredFleet>,
    /// The Auto Scaling groups, in stack order.
    pub groups: Vec<DesiredGroup>,
    /// `[grafana]` when `enabled = true`: the Grafana role, workspace, permissions and
    /// content are part of the stack.
    pub grafana: Option<monitor_stack::GrafanaConfig>,
    /// With `[alerting]` enabled: the rule namespaces and the Alertmanager definition.
    pub alerting: Option<DesiredAlerting>,
}

/// One AMP rule-groups namespace as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredNamespace {
    /// Namespace name.
    pub name: String,
    /// The rules file (YAML; the SDK base64-encodes it).
    pub data: String,
    /// sha256 of `data` (kept in the namespace's [`crate::names::TAG_RULES_SHA`] tag).
    pub sha: String,
}

/// The alerting resources: inside the AMP workspace, the SNS topics they publish to and
/// the CloudWatch Logs alarms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredAlerting {
    /// Rule-groups namespaces (the shipped one, one per user file).
    pub namespaces: Vec<DesiredNamespace>,
    /// The Alertmanager definition file (`template_files` + `alertmanager_config`).
    pub alertmanager: String,
    /// One SNS topic per notified severity.
    pub topics: Vec<DesiredTopic>,
    /// Metric filters on the stack's log group and their alarms (`[alerting] log_alarms`).
    pub log_alarms: Vec<DesiredLogAlarm>,
}

/// One SNS alert topic, encrypted with the stack's key ([`crate::names::Names::alert_key_alias`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTopic {
    /// `critical`, `warning` or `info`.
    pub severity: Severity,
    /// `<stack>-alerts-<severity>`.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Whether log alarms publish to it (the topic policy then lets CloudWatch publish).
    pub log_alarms: bool,
    /// The subscribers routed this severity.
    pub subscriptions: Vec<DesiredSubscription>,
}

/// One subscription of a topic.
#[derive(Clone, PartialEq, Eq)]
pub struct DesiredSubscription {
    /// `email` or `https`.
    pub protocol: &'static str,
    /// The address or URL (an HTTPS URL often carries an integration key: never printed,
    /// see [`DesiredSubscription::shown`]).
    pub endpoint: String,
}

impl DesiredSubscription {
    /// How the subscription is named in plans and reports: the protocol and the endpoint
    /// cut to `https://host/…`, plus a short hash of the full endpoint for an HTTPS one so
    /// two integrations on one host stay apart.
    pub fn shown(&self) -> String {
        subscription_shown(self.protocol, &self.endpoint)
    }
}

/// [`DesiredSubscription::shown`] of any endpoint.
pub fn subscription_shown(protocol: &str, endpoint: &str) -> String {
    let redacted = monitor_stack::redact_endpoint(endpoint);
    if redacted == endpoint {
        format!("{protocol}:{endpoint}")
    } else {
        format!("{protocol}:{redacted}#{}", &sha256_hex(endpoint)[..8])
    }
}

impl std::fmt::Debug for DesiredSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// One CloudWatch Logs metric filter and the alarm on its metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLogAlarm {
    /// The filter (on the stack's log group).
    pub filter: monitor_logs::admin::MetricFilter,
    /// Alarm name.
    pub alarm_name: String,
    /// The alarm's description.
    pub description: String,
    /// Alarm when the sum over `period_secs` is at least this.
    pub threshold: u32,
    /// Period in seconds.
    pub period_secs: i32,
    /// The topic notified (`None` when the alarm's severity is not in `notify`).
    pub topic_arn: Option<String>,
}

/// The alerting part of the desired state (`None` without `[alerting]` or disabled).
///
/// # Errors
/// [`crate::ReconcileError::Alerts`] for an override or user rule file that does not apply.
pub fn desired_alerting(stack: &Stack, account_id: &str) -> Result<Option<DesiredAlerting>> {
    let Some(cfg) = stack.alerting_enabled() else {
        return Ok(None);
    };
    let namespaces = namespaces(monitor_alerts::stack_rules(stack)?);
    let topics = cfg
        .notify
        .iter()
        .map(|sev| DesiredTopic {
            severity: *sev,
            name: crate::names::alert_topic_name(&stack.name, sev.as_str()),
            arn: crate::names::alert_topic_arn(
                &stack.region,
                account_id,
                &stack.name,
                sev.as_str(),
            ),
            log_alarms: log_alarms::log_alarms(stack)
                .iter()
                .any(|a| a.severity == *sev),
            subscriptions: cfg
                .subscribers
                .iter()
                .filter(|s| s.severities.contains(sev))
                .map(|s| DesiredSubscription {
                    protocol: s.protocol.as_str(),
                    endpoint: s.endpoint.clone(),
                })
                .collect(),
        })
        .collect::<Vec<_>>();
    let topic_arns = topics.iter().map(|t| (t.severity, t.arn.clone())).collect();
    let alertmanager = monitor_alerts::alertmanager::amp_definition(
        &cfg.notify,
        &stack.region,
        &topic_arns,
        monitor_alerts::alertmanager::Timing::default(),
    );
    let log_alarms = log_alarms::log_alarms(stack)
        .iter()
        .map(|a| DesiredLogAlarm {
            filter: monitor_logs::admin::MetricFilter {
                name: log_alarms::filter_name(stack, a),
                pattern: a.pattern.to_string(),
                namespace: log_alarms::metric_namespace(stack),
                metric_name: a.metric_name.to_string(),
            },
            alarm_name: log_alarms::alarm_name(stack, a),
            description: a.description.to_string(),
            threshold: a.threshold,
            period_secs: a.period_secs,
            topic_arn: topics
                .iter()
                .find(|t| t.severity == a.severity)
                .map(|t| t.arn.clone()),
        })
        .collect();
    Ok(Some(DesiredAlerting {
        namespaces,
        alertmanager,
        topics,
        log_alarms,
    }))
}

impl Desired {
    /// ARN of the stack's log group.
    pub fn log_group_arn(&self) -> String {
        crate::policy::log_group_arn(&self.region, &self.account_id, &self.log_group)
    }

    /// The Grafana content (folder, datasources, dashboards) apply puts into a workspace
    /// running `grafana_version`; `None` without `[grafana] enabled` or while the AMP
    /// workspace (the AMP datasource's URL) is not known yet.
    pub fn grafana_content(&self, grafana_version: &str) -> Option<ContentSpec> {
        self.grafana.as_ref()?;
        let amp_id = self.workspace_id.as_deref()?;
        Some(grafana_content(
            &self.names.stack,
            &self.region,
            &self.account_id,
            &self.log_group,
            amp_id,
            grafana_version,
            self.alerting.is_some(),
        ))
    }

    /// [`content_sha256`] of [`Desired::grafana_content`].
    pub fn grafana_content_sha256(&self, grafana_version: &str) -> Option<String> {
        self.grafana_content(grafana_version)
            .map(|c| content_sha256(&c))
    }
}

/// The standard Grafana content of a stack whose AMP workspace is `amp_workspace_id`, for
/// a workspace running `grafana_version` (it picks the Prometheus plugin). Apply puts
/// exactly this into Grafana, and the plan hashes exactly this.
pub fn grafana_content(
    stack_name: &str,
    region: &str,
    account_id: &str,
    log_group: &str,
    amp_workspace_id: &str,
    grafana_version: &str,
    alerting: bool,
) -> ContentSpec {
    ContentSpec::for_stack(&StackContent {
        stack_name: stack_name.to_string(),
        region: region.to_string(),
        grafana_version: grafana_version.to_string(),
        prometheus_endpoint: monitor_amp::amp_workspace_url(region, amp_workspace_id),
        log_group_name: log_group.to_string(),
        log_group_arn: crate::policy::log_group_arn(region, account_id, log_group),
        alerting,
    })
}

/// Lower-case hex sha256 of the canonical JSON of `spec` (object keys sorted, no
/// whitespace): the value of the workspace tag [`crate::names::TAG_CONTENT_SHA`].
pub fn content_sha256(spec: &ContentSpec) -> String {
    let value = serde_json::to_value(spec).unwrap_or_default();
    sha256_hex(&canonical(&value).to_string())
}

/// `v` with every object's keys in sorted order (whatever map `serde_json` is built with).
fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Renders the desired state. `workspace_id` is the workspace the hosts will write to,
/// `None` when it is still to be created (user_data is then unknown until apply).
///
/// # Errors
/// [`crate::ReconcileError::Bootstrap`] when a host cannot be rendered.
pub fn desired(stack: &Stack, account_id: &str, workspace_id: Option<&str>) -> Result<Desired> {
    let names = Names::new(&stack.name);
    let mut hosts = Vec::with_capacity(stack.hosts.len());
    for h in &stack.hosts {
        let rendered = match workspace_id {
            None => None,
            Some(ws) => Some(render(stack, h, ws)?),
        };
        hosts.push(DesiredHost {
            host: h.clone(),
            rendered,
        });
    }
    Ok(Desired {
        names,
        region: stack.region.clone(),
        account_id: account_id.to_string(),
        log_group: stack.logs.group.clone(),
        retention_days: stack.logs.retention_days,
        workspace_id: workspace_id.map(str::to_string),
        hosts,
        fleets: stack
            .fleets
            .iter()
            .map(|f| {
                Ok(DesiredFleet {
                    fleet: f.clone(),
                    members: Vec::new(),
                    document: workspace_id
                        .map(|ws| render_fleet(stack, f, ws))
                        .transpose()?,
                })
            })
            .collect::<Result<_>>()?,
        groups: stack
            .groups
            .iter()
            .map(|g| {
                Ok(DesiredGroup {
                    group: g.clone(),
                    rendered: workspace_id
                        .map(|ws| render_group(stack, g, ws))
                        .transpose()?,
                })
            })
            .collect::<Result<_>>()?,
        grafana: stack.grafana_enabled().cloned(),
        alerting: desired_alerting(stack, account_id)?,
    })
}

/// Renders `host` for workspace `ws`, twice: as is, and with every label value and the
/// metric allowlist replaced by fixed ones, so the hashes separate "only labels or the
/// allowlist changed" (the collector config is pushed in place) from "anything else
/// changed" (the instance is replaced).
/// Renders `host`'s user_data for AMP workspace `ws`, with its hashes.
///
/// # Errors
/// [`crate::ReconcileError::Bootstrap`] when the host cannot be rendered.
pub fn render(stack: &Stack, host: &Host, ws: &str) -> Result<RenderedUserData> {
    let inputs = crate::allowlist::render_inputs(stack, Some(ws.to_string()))?;
    let real = monitor_bootstrap::render_host(stack, host, &inputs)?;
    let mut neutral_host = host.clone();
    neutral_host.labels = host
        .labels
        .keys()
        .filter(|k| monitor_stack::defaults::REQUIRED_LABELS.contains(&k.as_str()))
        .map(|k| (k.clone(), "x".to_string()))
        .collect();
    let neutral_inputs = RenderInputs {
        keep_metrics: Some("x".into()),
        node_collectors: Some(vec!["x".into()]),
        ..inputs.clone()
    };
    let neutral = monitor_bootstrap::render_host(stack, &neutral_host, &neutral_inputs)?;
    let label_files = real
        .files
        .iter()
        .filter(|f| {
            neutral
                .files
                .iter()
                .find(|n| n.path == f.path)
                .is_none_or(|n| n.content != f.content)
        })
        .cloned()
        .collect();
    Ok(RenderedUserData {
        full_sha: sha256_hex(&real.user_data),
        base_sha: sha256_hex(&neutral.user_data),
        user_data: real.user_data,
        label_files,
    })
}

fn namespaces(rendered: Vec<monitor_alerts::Namespace>) -> Vec<DesiredNamespace> {
    rendered
        .into_iter()
        .map(|n| {
            let data = n.file.to_yaml();
            DesiredNamespace {
                name: n.name,
                sha: sha256_hex(&data),
                data,
            }
        })
        .collect()
}

impl Desired {
    /// The running members of each fleet as `observed` found them; with `[alerting]`, the
    /// rule namespaces then hold one absence rule per member too
    /// (`monitor_alerts::stack_rules_with_members`).
    ///
    /// # Errors
    /// As [`desired`]'s alerting rules.
    pub fn with_fleet_members(mut self, stack: &Stack, observed: &Observed) -> Result<Desired> {
        let mut watched: Vec<monitor_alerts::FleetMember> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for f in &mut self.fleets {
            let state = observed
                .fleets
                .fleets
                .iter()
                .filter(|s| s.in_stack && s.name == f.fleet.name);
            f.members = state
                .clone()
                .flat_map(|s| s.members.iter().map(|m| m.id.clone()))
                .collect();
            // Watched once (an instance in two fleets), and not when it was skipped: a
            // member on a role the stack does not own and may not touch.
            for m in state.flat_map(|s| &s.members) {
                let skipped = !f.fleet.attach_to_existing_roles
                    && m.roles
                        .iter()
                        .any(|r| r.name != self.names.role && !r.host_policy_attached);
                if !skipped && seen.insert(m.id.clone()) {
                    watched.push(monitor_alerts::FleetMember {
                        fleet: f.fleet.name.clone(),
                        instance_id: m.id.clone(),
                    });
                }
            }
        }
        if let Some(alerting) = self.alerting.as_mut() {
            if !watched.is_empty() {
                alerting.namespaces =
                    namespaces(monitor_alerts::stack_rules_with_members(stack, &watched)?);
            }
        }
        Ok(self)
    }
}

/// Renders the user_data of `group`'s launch template for AMP workspace `ws`.
///
/// # Errors
/// [`crate::ReconcileError::Bootstrap`] when the group cannot be rendered.
pub fn render_group(
    stack: &Stack,
    group: &monitor_stack::Group,
    ws: &str,
) -> Result<RenderedGroup> {
    let inputs = crate::allowlist::render_inputs(stack, Some(ws.to_string()))?;
    let user_data = monitor_bootstrap::render_group(stack, group, &inputs)?.user_data;
    Ok(RenderedGroup {
        sha: sha256_hex(&user_data),
        user_data,
    })
}

/// Renders `fleet`'s SSM document for AMP workspace `ws`.
///
/// # Errors
/// [`crate::ReconcileError::Bootstrap`] when the fleet cannot be rendered.
pub fn render_fleet(stack: &Stack, fleet: &monitor_stack::Fleet, ws: &str) -> Result<String> {
    let inputs = crate::allowlist::render_inputs(stack, Some(ws.to_string()))?;
    Ok(monitor_bootstrap::render_fleet(stack, fleet, &inputs)?.document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(labels: &str) -> Stack {
        monitor_stack::from_toml_str(
            &format!("[[hosts]]\nname = \"web-1\"\nlabels = {{ {labels} }}\n"),
            "stack.toml".as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn label_change_keeps_base_hash() {
        let a = desired(
            &stack(r#"env = "prod", role = "web", team = "a""#),
            "1",
            Some("ws-1"),
        )
        .unwrap();
        let b = desired(
            &stack(r#"env = "prod", role = "web", team = "b", az = "x""#),
            "1",
            Some("ws-1"),
        )
        .unwrap();
        let (ra, rb) = (
            a.hosts[0].rendered.as_ref().unwrap(),
            b.hosts[0].rendered.as_ref().unwrap(),
        );
        assert_ne!(ra.full_sha, rb.full_sha);
        assert_eq!(ra.base_sha, rb.base_sha);
        assert!(!ra.label_files.is_empty());
        let c = desired(
            &stack(r#"env = "prod", role = "web", team = "a""#),
            "1",
            Some("ws-2"),
        )
        .unwrap();
        assert_ne!(c.hosts[0].rendered.as_ref().unwrap().base_sha, ra.base_sha);
        assert_eq!(a.hosts[0].tags(&a.names)["label:team"], "a");
    }

    #[test]
    fn allowlist_change_keeps_base_hash_and_pushes_the_collector_configs() {
        let plain = stack(r#"env = "prod", role = "web", team = "a""#);
        let with_alerting = monitor_stack::from_toml_str(
            "[alerting]\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"prod\", role = \"web\", team = \"a\" }\n",
            "stack.toml".as_ref(),
        )
        .unwrap();
        let a = render(&plain, &plain.hosts[0], "ws-1").unwrap();
        let b = render(&with_alerting, &with_alerting.hosts[0], "ws-1").unwrap();
        assert_ne!(a.full_sha, b.full_sha, "alerting reads more metrics");
        assert_eq!(a.base_sha, b.base_sha, "pushed in place, not replaced");
        let paths: Vec<&str> = b.label_files.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&monitor_bootstrap::ADOT_CONFIG_PATH),
            "{paths:?}"
        );
        assert!(
            paths.contains(&monitor_bootstrap::NODE_EXPORTER_UNIT_PATH),
            "{paths:?}"
        );
    }

    fn grafana_stack(region: &str) -> Stack {
        monitor_stack::from_toml_str(
            &format!("name = \"t\"\nregion = \"{region}\"\n[grafana]\nenabled = true\n[[hosts]]\nname = \"web-1\"\nlabels = {{ env = \"p\", role = \"w\", team = \"x\" }}\n"),
            "stack.toml".as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn content_hash_is_stable_and_follows_what_is_sent() {
        let d = desired(&grafana_stack("eu-west-1"), "1", Some("ws-1")).unwrap();
        let h = d.grafana_content_sha256("10.4").unwrap();
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            d.grafana_content_sha256("10.4").as_deref(),
            Some(h.as_str())
        );
        // Same as hashing what apply sends.
        let spec = d.grafana_content("10.4").unwrap();
        assert_eq!(content_sha256(&spec), h);
        assert_eq!(spec.datasources[0].kind, "prometheus");
        // Grafana 12 switches the Prometheus plugin: a different datasource.
        assert_ne!(d.grafana_content_sha256("12.4").unwrap(), h);
        // Another region, another AMP workspace: different content.
        let other = desired(&grafana_stack("us-east-1"), "1", Some("ws-1")).unwrap();
        assert_ne!(other.grafana_content_sha256("10.4").unwrap(), h);
        let other = desired(&grafana_stack("eu-west-1"), "1", Some("ws-2")).unwrap();
        assert_ne!(other.grafana_content_sha256("10.4").unwrap(), h);
        // Unknown AMP workspace, or Grafana disabled: nothing to hash.
        let d = desired(&grafana_stack("eu-west-1"), "1", None).unwrap();
        assert!(d.grafana_content_sha256("10.4").is_none());
        let d = desired(
            &stack(r#"env = "p", role = "w", team = "a""#),
            "1",
            Some("ws-1"),
        )
        .unwrap();
        assert!(d.grafana_content("10.4").is_none());
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v = serde_json::json!({"b": 1, "a": [{"d": 2, "c": 3}]});
        assert_eq!(canonical(&v).to_string(), r#"{"a":[{"c":3,"d":2}],"b":1}"#);
    }

    #[test]
    fn fleet_members_found_by_observe_get_absence_rules() {
        use crate::observe::{FleetState, MemberState};
        let stack = monitor_stack::from_toml_str(
            "name = \"s\"\n[[fleets]]\nname = \"platform\"\nselect = { Team = \"platform\" }\n\
             labels = { env = \"p\", role = \"w\", team = \"x\" }\n[alerting]\nemail = [\"a@example.com\"]\n",
            "stack.toml".as_ref(),
        )
        .unwrap();
        let mut o = Observed::empty("123456789012", "eu-west-1");
        o.fleets.fleets = vec![FleetState {
            name: "platform".into(),
            in_stack: true,
            document: None,
            association: None,
            members: vec![MemberState {
                id: "i-0a".into(),
                profile_arn: None,
                roles: vec![],
                metadata_tags: true,
            }],
        }];
        let without = desired(&stack, "123456789012", None).unwrap();
        let with = without.clone().with_fleet_members(&stack, &o).unwrap();
        let data = |d: &Desired| d.alerting.as_ref().unwrap().namespaces[0].data.clone();
        assert!(!data(&without).contains("i-0a"));
        assert!(data(&with).contains("host=\"i-0a\""), "{}", data(&with));
        assert_ne!(
            without.alerting.as_ref().unwrap().namespaces[0].sha,
            with.alerting.as_ref().unwrap().namespaces[0].sha,
            "a new member changes the namespace, so the plan updates it"
        );
        assert_eq!(with.fleets[0].members, ["i-0a"]);
        // The estimate prices the member's series and logs (its EC2 is its team's bill).
        assert_eq!(crate::estimate::usage(&stack, &without).hosts, 0);
        let usage = crate::estimate::usage(&stack, &with);
        assert_eq!(usage.hosts, 1);
        assert!(usage.instances.is_empty());
    }
}
