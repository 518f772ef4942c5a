//! What `monitor-verify --config stack.toml` finds by itself: the stack's AMP workspace
//! (the one [`Observed::amp_workspace`] chooses, as plan and apply do), every host — the
//! `[[hosts]]` of the file and every instance tagged with the stack, by its `monitor:host`
//! tag — with its `label:*` tags, its instance profile and its SSM registration; and the
//! AWS-side checks on them ([`aws_checks`], pure).

use std::collections::BTreeMap;

use aws_sdk_amp::types::WorkspaceStatusCode;
use aws_sdk_ec2::types::InstanceStateName;
use monitor_checks::catalog::{
    AWS_FLEET, AWS_FLEET_ENROLLED, AWS_GROUP, AWS_HOST, AWS_SSM_ONLINE, AWS_WORKSPACE,
};
use monitor_checks::CheckResult;
use monitor_stack::Stack;

use super::ssm::{enrolment, instance_information, Enrolment, SsmInfo};
use crate::error::Result;
use crate::names::{Names, LABEL_TAG_PREFIX};
use crate::observe::{observe, InstanceState, Observed, RefreshState, Scope, WorkspaceState};
use crate::Clients;

/// Hint: the stack (or part of it) does not exist.
pub const HINT_APPLY: &str =
    "run `monitor-provision apply --config stack.toml` (it creates what is missing)";
/// Hint: the SSM agent is not online (the seed's failure mode 4).
pub const HINT_SSM: &str = "SSM offline after instance recreation: instance profile mismatch or failed cloud-init — check the instance has the stack's instance profile (`aws ec2 describe-instances`), read the console output (`aws ec2 get-console-output`), and recreate the instance with `monitor-provision apply`";

/// The stack as found in AWS.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    /// The stack's region.
    pub region: String,
    /// Every workspace carrying the stack's tags (not DELETING), oldest first.
    pub workspaces: Vec<WorkspaceState>,
    /// The stack's instance profile ARN, if it exists.
    pub instance_profile_arn: Option<String>,
    /// Every expected host: the file's `[[hosts]]` in order, then hosts known only from
    /// instance tags.
    pub hosts: Vec<DiscoveredHost>,
    /// The file's `[[fleets]]`, with their running members.
    pub fleets: Vec<DiscoveredFleet>,
    /// The file's `[[groups]]`, with their Auto Scaling groups' instances.
    pub groups: Vec<DiscoveredGroup>,
}

/// One `[[groups]]` entry as found.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredGroup {
    /// `[[groups]] name`.
    pub name: String,
    /// `desired` in the stack file: what is expected in service.
    pub desired: u32,
    /// Its Auto Scaling group's name, if the group exists.
    pub asg: Option<String>,
    /// Its instances (every lifecycle state).
    pub instances: Vec<DiscoveredGroupInstance>,
    /// Its latest instance refresh.
    pub refresh: Option<RefreshState>,
}

/// One instance of a group: its instance id is its `host` and `instance_id` label.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredGroupInstance {
    /// `i-…`.
    pub id: String,
    /// Auto Scaling lifecycle state (`InService`, `Pending`, …).
    pub lifecycle: String,
    /// Auto Scaling health (`Healthy` / `Unhealthy`).
    pub health: String,
    /// Its SSM registration.
    pub ssm: Option<SsmInfo>,
}

impl DiscoveredGroup {
    /// The instances in service: those checked like hosts.
    pub fn in_service(&self) -> impl Iterator<Item = &DiscoveredGroupInstance> {
        self.instances.iter().filter(|i| i.lifecycle == "InService")
    }
}

/// One `[[fleets]]` entry as found.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredFleet {
    /// `[[fleets]] name`.
    pub name: String,
    /// Its SSM document's name, if the document exists.
    pub document: Option<String>,
    /// Its association id, if it exists.
    pub association_id: Option<String>,
    /// The association's current version.
    pub association_version: Option<String>,
    /// Running instances carrying its tags.
    pub members: Vec<DiscoveredMember>,
}

/// One fleet member: its instance id is the `host` and `instance_id` label of its series.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredMember {
    /// `i-…`.
    pub id: String,
    /// Its SSM registration.
    pub ssm: Option<SsmInfo>,
    /// Its last enrolment run (`None`: the association has not run there).
    pub enrolment: Option<Enrolment>,
}

/// One host.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredHost {
    /// `[[hosts]] name` = the `monitor:host` tag = the `host` label of its series.
    pub name: String,
    /// Its instance: a running one if any, else the newest; `None` when none is tagged.
    pub instance: Option<InstanceState>,
    /// Its SSM registration (`None`: SSM does not know the instance).
    pub ssm: Option<SsmInfo>,
}

impl DiscoveredHost {
    /// The instance's `label:*` tags, without the prefix.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.instance
            .iter()
            .flat_map(|i| &i.tags)
            .filter_map(|(k, v)| Some((k.strip_prefix(LABEL_TAG_PREFIX)?.to_string(), v.clone())))
            .collect()
    }

    /// The instance id, if there is an instance.
    pub fn instance_id(&self) -> Option<&str> {
        self.instance.as_ref().map(|i| i.id.as_str())
    }
}

impl Discovered {
    /// The workspace plan, apply and every output use ([`Observed::amp_workspace`]).
    pub fn workspace(&self) -> Option<&WorkspaceState> {
        crate::observe::choose_workspace(&self.workspaces)
    }

    /// The chosen workspace's root URL (query, ruler and Alertmanager APIs below it).
    pub fn workspace_url(&self) -> Option<String> {
        self.workspace()
            .map(|w| monitor_amp::amp_workspace_url(&self.region, &w.id))
    }

    /// `(host, instance id)` of every host that has an instance, then of every fleet
    /// member and every group instance in service (whose `host` is its instance id).
    pub fn instances(&self) -> Vec<(String, String)> {
        self.hosts
            .iter()
            .filter_map(|h| Some((h.name.clone(), h.instance_id()?.to_string())))
            .chain(
                self.fleets
                    .iter()
                    .flat_map(|f| &f.members)
                    .map(|m| (m.id.clone(), m.id.clone())),
            )
            .chain(
                self.groups
                    .iter()
                    .flat_map(DiscoveredGroup::in_service)
                    .map(|i| (i.id.clone(), i.id.clone())),
            )
            .collect()
    }
}

/// Finds the stack: one observation (the reconciler's, by tags) and one SSM lookup.
///
/// # Errors
/// Any [`crate::ReconcileError`] of the reads (credentials, AccessDenied, …).
pub async fn discover(clients: &Clients, stack: &Stack) -> Result<Discovered> {
    let observed = observe(clients, stack, Scope::Verify).await?;
    let members = observed
        .fleets
        .fleets
        .iter()
        .filter(|f| f.in_stack)
        .flat_map(|f| &f.members);
    let ids: Vec<String> = observed
        .instances
        .iter()
        .map(|i| i.id.clone())
        .chain(members.map(|m| m.id.clone()))
        .chain(
            observed
                .groups
                .groups
                .iter()
                .flat_map(|g| &g.instances)
                .map(|i| i.id.clone()),
        )
        .collect();
    let ssm = instance_information(clients, &ids).await?;
    let mut enrolments = BTreeMap::new();
    for f in observed.fleets.fleets.iter().filter(|f| f.in_stack) {
        let (Some(a), Some(d)) = (&f.association, &f.document) else {
            continue;
        };
        for m in &f.members {
            if let Some(e) = enrolment(clients, &m.id, &a.id, &d.name).await? {
                enrolments.insert(m.id.clone(), e);
            }
        }
    }
    Ok(from_observed(stack, &observed, &ssm, &enrolments))
}

/// [`discover`]'s result from an observation and SSM's answer. Pure.
pub fn from_observed(
    stack: &Stack,
    observed: &Observed,
    ssm: &BTreeMap<String, SsmInfo>,
    enrolments: &BTreeMap<String, Enrolment>,
) -> Discovered {
    let mut names: Vec<String> = stack.hosts.iter().map(|h| h.name.clone()).collect();
    for i in &observed.instances {
        if !i.host.is_empty() && !names.contains(&i.host) {
            names.push(i.host.clone());
        }
    }
    let hosts = names
        .into_iter()
        .map(|name| {
            let instance = observed
                .instances
                .iter()
                .filter(|i| i.host == name)
                .max_by_key(|i| (i.state == InstanceStateName::Running, i.launched))
                .cloned();
            let ssm = instance.as_ref().and_then(|i| ssm.get(&i.id)).cloned();
            DiscoveredHost {
                name,
                instance,
                ssm,
            }
        })
        .collect();
    Discovered {
        region: observed.region.clone(),
        workspaces: observed.workspaces.clone(),
        instance_profile_arn: observed.instance_profile.as_ref().map(|p| p.arn.clone()),
        hosts,
        fleets: observed
            .fleets
            .fleets
            .iter()
            .filter(|f| f.in_stack)
            .map(|f| DiscoveredFleet {
                name: f.name.clone(),
                document: f.document.as_ref().map(|d| d.name.clone()),
                association_id: f.association.as_ref().map(|a| a.id.clone()),
                association_version: f.association.as_ref().and_then(|a| a.version.clone()),
                members: f
                    .members
                    .iter()
                    .map(|m| DiscoveredMember {
                        id: m.id.clone(),
                        ssm: ssm.get(&m.id).cloned(),
                        enrolment: enrolments.get(&m.id).cloned(),
                    })
                    .collect(),
            })
            .collect(),
        groups: stack
            .groups
            .iter()
            .map(|g| {
                let asg = observed.groups.group(&g.name);
                DiscoveredGroup {
                    name: g.name.clone(),
                    desired: g.desired,
                    asg: asg.map(|a| a.name.clone()),
                    instances: asg
                        .iter()
                        .flat_map(|a| &a.instances)
                        .map(|i| DiscoveredGroupInstance {
                            id: i.id.clone(),
                            lifecycle: i.lifecycle.clone(),
                            health: i.health.clone(),
                            ssm: ssm.get(&i.id).cloned(),
                        })
                        .collect(),
                    refresh: asg.and_then(|a| a.refresh.clone()),
                }
            })
            .collect(),
    }
}

/// The AWS-side checks: the workspace is ACTIVE; per host, a running instance exists and
/// its SSM agent is online under the stack's instance profile. Pure.
pub fn aws_checks(stack: &Stack, d: &Discovered) -> Vec<CheckResult> {
    let names = Names::new(&stack.name);
    let mut out = vec![workspace_check(&names, d)];
    for h in &d.hosts {
        let host = Some(h.name.as_str());
        let Some(i) = &h.instance else {
            out.push(CheckResult::fail(
                AWS_HOST,
                host,
                format!(
                    "no instance tagged stack={} and monitor:host={} in {}",
                    stack.name, h.name, d.region
                ),
                HINT_APPLY,
            ));
            continue;
        };
        let in_file = stack.hosts.iter().any(|s| s.name == h.name);
        let origin = if in_file {
            ""
        } else {
            " (not in the stack file: found by its tags)"
        };
        if i.state == InstanceStateName::Running {
            out.push(CheckResult::pass(
                AWS_HOST,
                host,
                format!("{} running, {}{origin}", i.id, i.instance_type),
            ));
        } else {
            out.push(CheckResult::fail(
                AWS_HOST,
                host,
                format!("{} is {}{origin}", i.id, i.state.as_str()),
                "start the instance (`aws ec2 start-instances`) or let `monitor-provision apply` replace it",
            ));
        }
        out.push(ssm_check(h, i, d.instance_profile_arn.as_deref()));
    }
    for f in &d.fleets {
        out.extend(fleet_checks(&names, f));
    }
    for g in &d.groups {
        out.extend(group_checks(&names, g));
    }
    out
}

/// A group's Auto Scaling group and its instances in service, and each one's SSM agent.
/// Pure.
fn group_checks(names: &Names, g: &DiscoveredGroup) -> Vec<CheckResult> {
    let Some(asg) = &g.asg else {
        return vec![CheckResult::fail(
            AWS_GROUP,
            None,
            format!(
                "group `{}`: no Auto Scaling group {} tagged with the stack",
                g.name,
                names.group(&g.name)
            ),
            HINT_APPLY,
        )];
    };
    let in_service: Vec<&str> = g.in_service().map(|i| i.id.as_str()).collect();
    let others: Vec<String> = g
        .instances
        .iter()
        .filter(|i| i.lifecycle != "InService")
        .map(|i| format!("{} {}", i.id, i.lifecycle))
        .collect();
    let refresh = g
        .refresh
        .as_ref()
        .map(|r| {
            format!(
                "; instance refresh {} {}{}",
                r.id,
                r.status,
                r.percentage
                    .map(|p| format!(" ({p} %)"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let listed = |ids: &[&str]| {
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    };
    let mut out = vec![if in_service.len() >= g.desired as usize {
        CheckResult::pass(
            AWS_GROUP,
            None,
            format!(
                "group `{}`: {asg} has {}/{} in service: {}{refresh}",
                g.name,
                in_service.len(),
                g.desired,
                listed(&in_service)
            ),
        )
    } else {
        CheckResult::fail(
            AWS_GROUP,
            None,
            format!(
                "group `{}`: {asg} has {}/{} in service ({}){}{refresh}",
                g.name,
                in_service.len(),
                g.desired,
                listed(&in_service),
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; not in service: {}", others.join(", "))
                }
            ),
            format!(
                "`aws autoscaling describe-scaling-activities --auto-scaling-group-name {asg}` names why launches fail; run `monitor-provision apply` if the group's size differs from stack.toml"
            ),
        )
    }];
    for i in g.in_service() {
        out.push(ssm_online(&i.id, Some(i.id.as_str()), i.ssm.as_ref()));
    }
    out
}

/// A fleet's association and members, and each member's SSM agent and enrolment. Pure.
fn fleet_checks(names: &Names, f: &DiscoveredFleet) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let doc = names.fleet_document(&f.name);
    match (&f.document, &f.association_id) {
        (Some(_), Some(a)) if f.members.is_empty() => out.push(CheckResult::warn(
            AWS_FLEET,
            None,
            format!(
                "fleet `{}`: association {a} exists but no running instance carries the fleet's tags",
                f.name
            ),
            "tag the instances with the fleet's `select` tags (SSM enrols them by itself)",
        )),
        (Some(_), Some(a)) => out.push(CheckResult::pass(
            AWS_FLEET,
            None,
            format!(
                "fleet `{}`: association {a} of {doc}, {} running member(s): {}",
                f.name,
                f.members.len(),
                f.members
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        (document, _) => {
            out.push(CheckResult::fail(
                AWS_FLEET,
                None,
                format!(
                    "fleet `{}`: no {} {doc}",
                    f.name,
                    if document.is_none() {
                        "SSM document"
                    } else {
                        "State Manager association"
                    }
                ),
                HINT_APPLY,
            ));
            return out;
        }
    }
    for m in &f.members {
        let host = Some(m.id.as_str());
        out.push(ssm_online(&m.id, host, m.ssm.as_ref()));
        out.push(match &m.enrolment {
            None => CheckResult::fail(
                AWS_FLEET_ENROLLED,
                host,
                format!("{}: the association of fleet `{}` has not run there yet", m.id, f.name),
                "wait a few minutes after apply; if it stays so, the SSM agent cannot reach SSM (aws.ssm_online)",
            ),
            Some(e)
                if e.status == "Success"
                    && f.association_version.is_some()
                    && e.association_version.is_some()
                    && e.association_version != f.association_version =>
            {
                CheckResult::warn(
                    AWS_FLEET_ENROLLED,
                    host,
                    format!(
                        "{}: enrolled with association version {}, the current one is {} (the re-run of the last apply has not reached it yet)",
                        m.id,
                        e.association_version.as_deref().unwrap_or("?"),
                        f.association_version.as_deref().unwrap_or("?")
                    ),
                    "re-run monitor-verify in a few minutes; if it stays so, the SSM agent cannot reach SSM (aws.ssm_online)",
                )
            }
            Some(e) if e.status == "Success" => CheckResult::pass(
                AWS_FLEET_ENROLLED,
                host,
                format!(
                    "{}: enrolled in fleet `{}`{}",
                    m.id,
                    f.name,
                    e.executed
                        .as_deref()
                        .map(|t| format!(" ({t})"))
                        .unwrap_or_default()
                ),
            ),
            Some(e) if e.status == "Failed" => CheckResult::fail(
                AWS_FLEET_ENROLLED,
                host,
                format!(
                    "{}: enrolment in fleet `{}` failed ({}){}",
                    m.id,
                    f.name,
                    e.detail,
                    e.output_tail
                        .as_deref()
                        .map(|t| format!("; output ends: {t}"))
                        .unwrap_or_default()
                ),
                "the output names the cause (unsupported OS, a missing tag, instance metadata tags off, a port in use); fix it, then re-run the enrolment: `aws ssm start-associations-once --association-ids <id>` (the id is in aws.fleet)",
            ),
            Some(e) => CheckResult::warn(
                AWS_FLEET_ENROLLED,
                host,
                format!("{}: enrolment in fleet `{}` is {} ({})", m.id, f.name, e.status, e.detail),
                "still running: re-run monitor-verify in a minute",
            ),
        });
    }
    out
}

fn workspace_check(names: &Names, d: &Discovered) -> CheckResult {
    let others = d.workspaces.len().saturating_sub(1);
    let note = if others == 0 {
        String::new()
    } else {
        format!(
            " ({others} other tagged workspace{} ignored: {})",
            if others == 1 { "" } else { "s" },
            d.workspaces
                .iter()
                .filter(|w| Some(*w) != d.workspace())
                .map(|w| format!("{} {}", w.id, w.status.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match d.workspace() {
        None => CheckResult::fail(
            AWS_WORKSPACE,
            None,
            format!(
                "no AMP workspace tagged stack={} in {}{note}",
                names.stack, d.region
            ),
            HINT_APPLY,
        ),
        Some(w) if w.status == WorkspaceStatusCode::Active => CheckResult::pass(
            AWS_WORKSPACE,
            None,
            format!("{} ACTIVE in {}{note}", w.id, d.region),
        ),
        Some(w) => CheckResult::fail(
            AWS_WORKSPACE,
            None,
            format!("{} is {}{note}", w.id, w.status.as_str()),
            "wait for the workspace to be ACTIVE (a minute after creation), then re-run; if it stays so, re-run `monitor-provision apply`",
        ),
    }
}

fn ssm_check(h: &DiscoveredHost, i: &InstanceState, profile: Option<&str>) -> CheckResult {
    let host = Some(h.name.as_str());
    if let Some(want) = profile {
        if i.profile_arn.as_deref() != Some(want) {
            return CheckResult::fail(
                AWS_SSM_ONLINE,
                host,
                format!(
                    "{} has instance profile {}, not the stack's {want}",
                    i.id,
                    i.profile_arn.as_deref().unwrap_or("(none)")
                ),
                HINT_SSM,
            );
        }
    }
    ssm_online(&i.id, host, h.ssm.as_ref())
}

/// Whether SSM says the agent of instance `id` is online.
fn ssm_online(id: &str, host: Option<&str>, ssm: Option<&SsmInfo>) -> CheckResult {
    match ssm {
        None => CheckResult::fail(
            AWS_SSM_ONLINE,
            host,
            format!("{id}: not registered with Systems Manager (its SSM agent never reached SSM)"),
            HINT_SSM,
        ),
        Some(s) if s.online() => CheckResult::pass(
            AWS_SSM_ONLINE,
            host,
            format!(
                "{id}: SSM agent online{}{}",
                s.agent_version
                    .as_deref()
                    .map(|v| format!(", agent {v}"))
                    .unwrap_or_default(),
                s.platform
                    .as_deref()
                    .map(|p| format!(", {p}"))
                    .unwrap_or_default()
            ),
        ),
        Some(s) => CheckResult::fail(
            AWS_SSM_ONLINE,
            host,
            format!(
                "{id}: SSM agent {}{}",
                s.ping_status,
                s.last_ping
                    .as_deref()
                    .map(|t| format!(" (last ping {t})"))
                    .unwrap_or_default()
            ),
            HINT_SSM,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::ProfileState;
    use monitor_checks::Status;

    const PROFILE: &str = "arn:aws:iam::123456789012:instance-profile/t-ec2";

    fn stack() -> Stack {
        monitor_stack::from_toml_str(
            "name = \"t\"\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"p\", role = \"w\", team = \"x\" }\n\
             [[hosts]]\nname = \"web-2\"\nlabels = { env = \"p\", role = \"w\", team = \"x\" }\n",
            "stack.toml".as_ref(),
        )
        .unwrap()
    }

    fn workspace(id: &str, status: WorkspaceStatusCode, created: i64) -> WorkspaceState {
        WorkspaceState {
            id: id.into(),
            arn: format!("arn:aws:aps:eu-west-1:123456789012:workspace/{id}"),
            status,
            created,
        }
    }

    fn instance(id: &str, host: &str, state: InstanceStateName, launched: i64) -> InstanceState {
        InstanceState {
            id: id.into(),
            host: host.into(),
            state,
            instance_type: "t3.micro".into(),
            architecture: "x86_64".into(),
            image_id: "ami-1".into(),
            profile_arn: Some(PROFILE.into()),
            security_groups: vec![],
            subnet_id: None,
            http_tokens: Some("required".into()),
            tags: [
                ("monitor:host".to_string(), host.to_string()),
                ("label:env".to_string(), "p".to_string()),
            ]
            .into(),
            launched,
        }
    }

    fn ssm(status: &str) -> SsmInfo {
        SsmInfo {
            ping_status: status.into(),
            last_ping: Some("2026-12-06T10:00:00Z".into()),
            agent_version: Some("3.3.1142.0".into()),
            platform: Some("Amazon Linux 2023".into()),
        }
    }

    fn observed() -> Observed {
        let mut o = Observed::empty("123456789012", "eu-west-1");
        o.instance_profile = Some(ProfileState {
            name: "t-ec2".into(),
            arn: PROFILE.into(),
            roles: vec!["t-ec2".into()],
        });
        o
    }

    fn find<'a>(results: &'a [CheckResult], check: &str, host: &str) -> &'a CheckResult {
        results
            .iter()
            .find(|r| r.check == check && r.host.as_deref() == Some(host))
            .unwrap_or_else(|| panic!("no {check} for {host}: {results:#?}"))
    }

    #[test]
    fn the_workspace_is_the_one_apply_uses_after_an_interrupted_re_create() {
        // The first creation failed; apply made a second one and was interrupted: the
        // failed one is older, yet the ACTIVE one is queried.
        let mut o = observed();
        o.workspaces = vec![
            workspace("ws-old", WorkspaceStatusCode::CreationFailed, 100),
            workspace("ws-new", WorkspaceStatusCode::Active, 200),
        ];
        let d = from_observed(&stack(), &o, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(d.workspace().map(|w| w.id.as_str()), Some("ws-new"));
        assert_eq!(o.amp_workspace(), d.workspace(), "the reconciler's choice");
        assert_eq!(
            d.workspace_url().as_deref(),
            Some("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-new/")
        );
        let r = &aws_checks(&stack(), &d)[0];
        assert_eq!((r.check.as_str(), r.status), (AWS_WORKSPACE, Status::Pass));
        assert!(r.detail.contains("ws-new ACTIVE"), "{}", r.detail);
        assert!(r.detail.contains("ws-old CREATION_FAILED"), "{}", r.detail);

        // Still creating: named, failed, nothing to query yet.
        o.workspaces = vec![workspace("ws-new", WorkspaceStatusCode::Creating, 200)];
        let r = &aws_checks(
            &stack(),
            &from_observed(&stack(), &o, &BTreeMap::new(), &BTreeMap::new()),
        )[0];
        assert_eq!(r.status, Status::Fail);
        assert!(r.detail.contains("ws-new is CREATING"), "{}", r.detail);
        // None at all.
        o.workspaces.clear();
        let d = from_observed(&stack(), &o, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(d.workspace_url(), None);
        assert_eq!(aws_checks(&stack(), &d)[0].status, Status::Fail);
    }

    #[test]
    fn every_host_is_expected_and_a_missing_or_offline_one_is_named() {
        let mut o = observed();
        o.workspaces = vec![workspace("ws-1", WorkspaceStatusCode::Active, 1)];
        o.instances = vec![
            // web-1 was replaced: the old one is stopped, the new one runs.
            instance("i-0old", "web-1", InstanceStateName::Stopped, 10),
            instance("i-0new", "web-1", InstanceStateName::Running, 20),
            // Not in the stack file, but tagged with the stack: checked too.
            instance("i-0ext", "batch-1", InstanceStateName::Running, 30),
        ];
        let mut foreign = instance("i-0for", "web-3", InstanceStateName::Running, 40);
        foreign.profile_arn = Some("arn:aws:iam::123456789012:instance-profile/other".into());
        o.instances.push(foreign);
        let ssm = BTreeMap::from([
            ("i-0new".to_string(), ssm("Online")),
            ("i-0ext".to_string(), ssm("ConnectionLost")),
            ("i-0for".to_string(), ssm("Online")),
        ]);
        let d = from_observed(&stack(), &o, &ssm, &BTreeMap::new());
        let names: Vec<&str> = d.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["web-1", "web-2", "batch-1", "web-3"]);
        assert_eq!(d.hosts[0].instance_id(), Some("i-0new"));
        assert_eq!(d.hosts[0].labels()["env"], "p");
        assert_eq!(d.hosts[1].instance, None);
        assert_eq!(
            d.instances(),
            [
                ("web-1".to_string(), "i-0new".to_string()),
                ("batch-1".to_string(), "i-0ext".to_string()),
                ("web-3".to_string(), "i-0for".to_string()),
            ]
        );

        let r = aws_checks(&stack(), &d);
        assert_eq!(find(&r, AWS_HOST, "web-1").status, Status::Pass);
        assert_eq!(find(&r, AWS_SSM_ONLINE, "web-1").status, Status::Pass);
        assert!(find(&r, AWS_SSM_ONLINE, "web-1")
            .detail
            .contains("online, agent 3.3.1142.0"));
        let missing = find(&r, AWS_HOST, "web-2");
        assert_eq!(missing.status, Status::Fail);
        assert!(
            missing.detail.contains("monitor:host=web-2"),
            "{}",
            missing.detail
        );
        assert!(
            !r.iter()
                .any(|x| x.check == AWS_SSM_ONLINE && x.host.as_deref() == Some("web-2")),
            "no SSM check without an instance"
        );
        assert!(find(&r, AWS_HOST, "batch-1")
            .detail
            .contains("not in the stack file"));
        let lost = find(&r, AWS_SSM_ONLINE, "batch-1");
        assert_eq!(lost.status, Status::Fail);
        assert!(
            lost.detail
                .contains("ConnectionLost (last ping 2026-12-06T10:00:00Z)"),
            "{}",
            lost.detail
        );
        let profile = find(&r, AWS_SSM_ONLINE, "web-3");
        assert_eq!(
            profile.status,
            Status::Fail,
            "online, but under another profile"
        );
        assert!(
            profile
                .detail
                .contains("instance-profile/other, not the stack's"),
            "{}",
            profile.detail
        );

        // Not registered at all.
        let d = from_observed(&stack(), &o, &BTreeMap::new(), &BTreeMap::new());
        let r = aws_checks(&stack(), &d);
        assert!(find(&r, AWS_SSM_ONLINE, "web-1")
            .detail
            .contains("not registered"));
    }

    #[test]
    fn fleet_members_are_checked_by_enrolment_and_ssm_on_their_own_roles() {
        use crate::observe::{AssociationState, DocumentState, FleetState, MemberState};
        let stack = monitor_stack::from_toml_str(
            "name = \"t\"\n[[fleets]]\nname = \"platform\"\nselect = { Team = \"platform\" }\n\
             labels = { env = \"p\", role = \"w\", team = \"x\" }\n",
            "stack.toml".as_ref(),
        )
        .unwrap();
        let member = |id: &str, profile: &str| MemberState {
            id: id.into(),
            profile_arn: Some(format!(
                "arn:aws:iam::123456789012:instance-profile/{profile}"
            )),
            roles: vec![],
            metadata_tags: true,
        };
        let mut o = observed();
        o.fleets.fleets = vec![FleetState {
            name: "platform".into(),
            in_stack: true,
            document: Some(DocumentState {
                name: "t-fleet-platform".into(),
                content: "{}".into(),
                default_version: "1".into(),
            }),
            association: Some(AssociationState {
                id: "assoc-1".into(),
                targets: BTreeMap::new(),
                status: None,
                version: Some("2".into()),
            }),
            members: vec![
                member("i-0a", "t-ec2"),
                member("i-0b", "team-app"),
                member("i-0c", "team-app"),
            ],
        }];
        let ssm_info = BTreeMap::from([
            ("i-0a".to_string(), ssm("Online")),
            ("i-0b".to_string(), ssm("Online")),
        ]);
        let enrolments = BTreeMap::from([
            (
                "i-0a".to_string(),
                Enrolment {
                    status: "Success".into(),
                    detail: "Success".into(),
                    executed: Some("2026-12-07T05:00:00Z".into()),
                    association_version: Some("2".into()),
                    output_tail: None,
                },
            ),
            (
                "i-0b".to_string(),
                Enrolment {
                    status: "Failed".into(),
                    detail: "Failed: 1 out of 1 plugin processed, 0 success, 1 failed".into(),
                    executed: None,
                    association_version: Some("2".into()),
                    output_tail: Some(
                        "monitor-fleet: refusing: this instance runs Ubuntu 22.04".into(),
                    ),
                },
            ),
        ]);
        let d = from_observed(&stack, &o, &ssm_info, &enrolments);
        assert_eq!(
            d.instances(),
            vec![
                ("i-0a".to_string(), "i-0a".to_string()),
                ("i-0b".to_string(), "i-0b".to_string()),
                ("i-0c".to_string(), "i-0c".to_string())
            ]
        );
        let r = aws_checks(&stack, &d);
        let fleet = r.iter().find(|c| c.check == AWS_FLEET).unwrap();
        assert_eq!(fleet.status, Status::Pass);
        assert!(
            fleet
                .detail
                .contains("3 running member(s): i-0a, i-0b, i-0c"),
            "{fleet:?}"
        );
        assert_eq!(find(&r, AWS_FLEET_ENROLLED, "i-0a").status, Status::Pass);
        let failed = find(&r, AWS_FLEET_ENROLLED, "i-0b");
        assert_eq!(failed.status, Status::Fail);
        assert!(failed.detail.contains("runs Ubuntu 22.04"), "{failed:?}");
        assert_eq!(find(&r, AWS_FLEET_ENROLLED, "i-0c").status, Status::Fail);
        // A member on a team's own role is not failed for its profile, only for SSM.
        assert_eq!(find(&r, AWS_SSM_ONLINE, "i-0b").status, Status::Pass);
        assert_eq!(find(&r, AWS_SSM_ONLINE, "i-0c").status, Status::Fail);

        // After an update the association is at version 3; i-0a last ran version 2.
        o.fleets.fleets[0].association.as_mut().unwrap().version = Some("3".into());
        let r = aws_checks(&stack, &from_observed(&stack, &o, &ssm_info, &enrolments));
        let stale = find(&r, AWS_FLEET_ENROLLED, "i-0a");
        assert_eq!(stale.status, Status::Warn);
        assert!(
            stale.detail.contains("version 2, the current one is 3"),
            "{stale:?}"
        );

        // Without the association: one failing fleet check, no member checks.
        o.fleets.fleets[0].association = None;
        let r = aws_checks(&stack, &from_observed(&stack, &o, &ssm_info, &enrolments));
        let fleet = r.iter().find(|c| c.check == AWS_FLEET).unwrap();
        assert_eq!(fleet.status, Status::Fail);
        assert!(
            fleet
                .detail
                .contains("no State Manager association t-fleet-platform"),
            "{fleet:?}"
        );
        assert!(!r.iter().any(|c| c.check == AWS_FLEET_ENROLLED));
    }
}
