//! `[[groups]]`: Auto Scaling groups `monitor-provision` creates, each from a launch
//! template carrying the rendered bootstrap as user_data. Every instance the group
//! launches is monitored from its first boot; its identity (instance id, availability
//! zone) comes from instance metadata, and the group's name is its `group` label.
//!
//! ```toml
//! [[groups]]
//! name = "web"
//! architecture = "x86_64"          # default; or "arm64"
//! instance_type = "t3.micro"       # default by architecture
//! min = 1
//! max = 4
//! desired = 2
//! subnets = ["subnet-0123456789abcdef0"]   # default: [network] subnet_id, else the default VPC's subnets
//! labels = { env = "prod", role = "web", team = "platform" }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::file::StackFile;
use crate::model::{defaults, Architecture, Host};
use crate::validate::{check_name, ec2_id, machine, required_labels, Ctx};
use crate::Fleet;
use crate::StackError;

/// One `[[groups]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    /// Group name (required).
    pub name: Spanned<String>,
    /// `x86_64` (default) or `arm64`.
    pub architecture: Option<Spanned<String>>,
    /// EC2 instance type; default by architecture.
    pub instance_type: Option<Spanned<String>>,
    /// Minimum size (required).
    pub min: Option<Spanned<i64>>,
    /// Maximum size (required).
    pub max: Option<Spanned<i64>>,
    /// Desired capacity (default `min`).
    pub desired: Option<Spanned<i64>>,
    /// Subnets the group launches into.
    pub subnets: Option<Spanned<Vec<Spanned<String>>>>,
    /// External labels (`env`, `role`, `team` required).
    pub labels: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
}

/// One validated `[[groups]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Unique name among hosts, fleets and groups (`[A-Za-z0-9][A-Za-z0-9._-]*`, ≤ 40
    /// chars): the `group` label on every series of its instances, and part of the
    /// launch template's and Auto Scaling group's names (`<stack>-group-<name>`).
    pub name: String,
    /// CPU architecture (default x86_64).
    pub architecture: Architecture,
    /// EC2 instance type (default `t3.micro` / `t4g.micro` by architecture).
    pub instance_type: String,
    /// `MinSize`.
    pub min: u32,
    /// `MaxSize` (≥ 1, ≥ `min`).
    pub max: u32,
    /// `DesiredCapacity` (`min` ≤ desired ≤ `max`; default `min`): what `monitor-verify`
    /// expects running and what the group's `GroupUndersized` alert compares with.
    pub desired: u32,
    /// Subnet ids (`VPCZoneIdentifier`); empty: `[network] subnet_id`, else every default
    /// subnet of the default VPC.
    pub subnets: Vec<String>,
    /// External labels the same on every instance; always has `env`, `role`, `team`.
    /// `group` (the name), `host` and `instance_id` (the instance id) and
    /// `availability_zone` come on top.
    pub labels: BTreeMap<String, String>,
}

/// Longest group name: `<stack>-group-<name>` names the launch template (≤ 128
/// characters) with a 64-character stack name.
pub const GROUP_NAME_MAX: usize = 40;

/// Largest `max` accepted: a guard against a typo launching a thousand instances.
pub const GROUP_SIZE_MAX: u32 = 500;

pub(crate) fn validate_groups(
    ctx: &Ctx<'_>,
    groups: &[Spanned<GroupFile>],
    taken: &[&str],
) -> Result<Vec<Group>, StackError> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.iter().enumerate() {
        let gr = g.get_ref();
        let key = |k: &str| format!("groups[{i}].{k}");
        let name = gr.name.get_ref();
        check_name(name, GROUP_NAME_MAX).map_err(|m| ctx.bad(&gr.name, &key("name"), m))?;
        if taken.contains(&name.as_str()) {
            return Err(ctx.bad(
                &gr.name,
                &key("name"),
                format!(
                    "`{name}` is already a host's or fleet's name: hosts, fleets and groups \
                     need distinct names"
                ),
            ));
        }
        if let Some(first) = seen.insert(name, i) {
            return Err(ctx.bad(
                &gr.name,
                &key("name"),
                format!("duplicate group name `{name}` (already used by groups[{first}])"),
            ));
        }
        let (architecture, instance_type) =
            machine(ctx, &gr.architecture, &gr.instance_type, &key)?;
        let size = |v: &Option<Spanned<i64>>, k: &str| -> Result<Option<u32>, StackError> {
            let Some(v) = v else { return Ok(None) };
            u32::try_from(*v.get_ref())
                .ok()
                .filter(|n| *n <= GROUP_SIZE_MAX)
                .map(Some)
                .ok_or_else(|| {
                    ctx.bad(
                        v,
                        &key(k),
                        format!("expected a whole number from 0 to {GROUP_SIZE_MAX}"),
                    )
                })
        };
        let (Some(min), Some(max)) = (size(&gr.min, "min")?, size(&gr.max, "max")?) else {
            return Err(ctx.bad(
                g,
                &key(if gr.min.is_none() { "min" } else { "max" }),
                format!("group `{name}` needs `min` and `max` (and optionally `desired`)"),
            ));
        };
        let desired = size(&gr.desired, "desired")?.unwrap_or(min);
        let span = gr.desired.as_ref().map_or(g.span(), Spanned::span);
        if max == 0 || min > max || desired < min || desired > max {
            return Err(ctx.invalid(
                Some(span),
                &key("desired"),
                format!(
                    "group `{name}`: need 1 ≤ max and min ≤ desired ≤ max (min = {min}, \
                     desired = {desired}, max = {max})"
                ),
            ));
        }
        let mut subnets: Vec<String> = Vec::new();
        if let Some(list) = &gr.subnets {
            if list.get_ref().is_empty() {
                return Err(ctx.bad(
                    list,
                    &key("subnets"),
                    "an empty list: leave `subnets` out to use [network] subnet_id or the \
                     default VPC"
                        .into(),
                ));
            }
            for s in list.get_ref() {
                let id = ec2_id(ctx, s, "subnet-", &key("subnets"))?;
                if subnets.contains(&id) {
                    return Err(ctx.bad(s, &key("subnets"), format!("`{id}` is listed twice")));
                }
                subnets.push(id);
            }
        }
        let labels = required_labels(
            ctx,
            g,
            gr.labels.as_ref(),
            &key("labels"),
            &format!("group `{name}`"),
        )?;
        if let Some((k, _)) = gr.labels.as_ref().and_then(|l| {
            l.get_ref()
                .iter()
                .find(|(k, _)| defaults::GROUP_RESERVED_LABELS.contains(&k.get_ref().as_str()))
        }) {
            return Err(ctx.bad(
                k,
                &format!("{}.{}", key("labels"), k.get_ref()),
                format!(
                    "label `{}` is reserved in a group: `group` is the group's name, \
                     `availability_zone` is read at boot from instance metadata",
                    k.get_ref()
                ),
            ));
        }
        out.push(Group {
            name: name.clone(),
            architecture,
            instance_type,
            min,
            max,
            desired,
            subnets,
            labels,
        });
    }
    Ok(out)
}

/// A host's or fleet's own `group` label may not name a `[[groups]]` entry: its series
/// would count in that group's `GroupUndersized` alert. (`hosts`/`fleets` are in file
/// order, so their index is the table's.)
pub(crate) fn check_group_labels(
    ctx: &Ctx<'_>,
    file: &StackFile,
    hosts: &[Host],
    fleets: &[Fleet],
    groups: &[Group],
) -> Result<(), StackError> {
    let names_group = |labels: &BTreeMap<String, String>| {
        labels
            .get(defaults::GROUP_LABEL)
            .filter(|v| groups.iter().any(|g| &g.name == *v))
            .cloned()
    };
    let clash = hosts
        .iter()
        .enumerate()
        .find_map(|(i, h)| {
            let v = names_group(&h.labels)?;
            Some((
                format!("hosts[{i}]"),
                file.hosts.get(i).map(Spanned::span),
                v,
            ))
        })
        .or_else(|| {
            fleets.iter().enumerate().find_map(|(i, f)| {
                let v = names_group(&f.labels)?;
                Some((
                    format!("fleets[{i}]"),
                    file.fleets.get(i).map(Spanned::span),
                    v,
                ))
            })
        });
    match clash {
        None => Ok(()),
        Some((at, span, value)) => Err(ctx.invalid(
            span,
            &format!("{at}.labels.group"),
            format!(
                "`group = \"{value}\"` names the Auto Scaling group `{value}`: its series \
                 would count in that group's GroupUndersized alert; use another value or \
                 label name"
            ),
        )),
    }
}
