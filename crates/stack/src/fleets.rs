//! `[[fleets]]`: EC2 instances a team already runs, selected by their tags and enrolled
//! through an SSM State Manager association (`monitor-provision` never launches or
//! replaces them).
//!
//! ```toml
//! [[fleets]]
//! name = "platform-prod"
//! select = { Team = "platform", Environment = "prod" }        # every tag must match
//! labels_from_tags = { env = "Environment", role = "Role", team = "Team" }
//! labels = { tier = "web" }                                   # the same on every member
//! attach_to_existing_roles = false                            # default
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::model::defaults;
use crate::validate::{check_name, label_map, label_name, missing_required, required_list, Ctx};
use crate::StackError;

/// One `[[fleets]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Fleet name (required).
    pub name: Spanned<String>,
    /// EC2 tags an instance must all carry (required, at most five).
    pub select: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// Label name → EC2 tag key, read on each instance at enrolment.
    pub labels_from_tags: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// Fixed external labels.
    pub labels: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// Attach the stack's host policy to roles the stack does not own; default `false`.
    pub attach_to_existing_roles: Option<Spanned<bool>>,
}

/// One validated `[[fleets]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// Unique name among hosts and fleets (`[A-Za-z0-9][A-Za-z0-9._-]*`, ≤ 40 chars): the
    /// `fleet` label on every series of its members, and part of the SSM document's and
    /// association's names.
    pub name: String,
    /// EC2 tag key → value: the running instances carrying all of them are members.
    pub select: BTreeMap<String, String>,
    /// External label → EC2 tag key whose value it takes on each member (read from
    /// instance metadata at enrolment; a member without the tag is refused, named).
    pub labels_from_tags: BTreeMap<String, String>,
    /// External labels the same on every member.
    pub labels: BTreeMap<String, String>,
    /// `attach_to_existing_roles`: a member whose instance profile holds a role the stack
    /// does not own gets the stack's customer-managed host policy attached to that role
    /// (and detached by `destroy`). Off: such members are listed by `plan` and skipped.
    pub attach_to_existing_roles: bool,
}

impl Fleet {
    /// Every external label name a member's series carry from this fleet's
    /// configuration (fixed and from tags; `fleet`, `host` and `instance_id` come on top).
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.labels
            .keys()
            .chain(self.labels_from_tags.keys())
            .map(String::as_str)
    }
}

/// Longest fleet name: the SSM association name `<stack>-fleet-<name>` must stay within
/// 128 characters with a 64-character stack name.
pub const FLEET_NAME_MAX: usize = 40;

/// Whether `key` can be read from instance metadata (`/latest/meta-data/tags/instance/<key>`):
/// letters, digits and `+ - = . , _ : @`, not only dots, not `_index`, ≤ 128 characters
/// (EC2 User Guide, "View tags for your EC2 instances using instance metadata").
pub fn is_metadata_tag_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-=.,_:@".contains(c))
        && !key.chars().all(|c| c == '.')
        && key != "_index"
        && !key.to_ascii_lowercase().starts_with("aws:")
}

pub(crate) fn validate_fleets(
    ctx: &Ctx<'_>,
    fleets: &[Spanned<FleetFile>],
    host_names: &[&str],
) -> Result<Vec<Fleet>, StackError> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(fleets.len());
    for (i, f) in fleets.iter().enumerate() {
        let fr = f.get_ref();
        let key = |k: &str| format!("fleets[{i}].{k}");
        let name = fr.name.get_ref();
        check_name(name, FLEET_NAME_MAX).map_err(|m| ctx.bad(&fr.name, &key("name"), m))?;
        if host_names.contains(&name.as_str()) {
            return Err(ctx.bad(
                &fr.name,
                &key("name"),
                format!("`{name}` is already a host's name: fleets and hosts need distinct names"),
            ));
        }
        if let Some(first) = seen.insert(name, i) {
            return Err(ctx.bad(
                &fr.name,
                &key("name"),
                format!("duplicate fleet name `{name}` (already used by fleets[{first}])"),
            ));
        }
        let select = select(ctx, f, &key("select"))?;
        let labels = match &fr.labels {
            Some(l) => label_map(ctx, l, &key("labels"))?,
            None => BTreeMap::new(),
        };
        let mut labels_from_tags = BTreeMap::new();
        if let Some(m) = &fr.labels_from_tags {
            for (k, v) in m.get_ref() {
                let lkey = format!("{}.{}", key("labels_from_tags"), k.get_ref());
                let label = label_name(ctx, k, &lkey)?;
                if labels.contains_key(&label) {
                    return Err(ctx.bad(
                        k,
                        &lkey,
                        format!(
                            "label `{label}` is set in both `labels` and `labels_from_tags`: \
                             keep one"
                        ),
                    ));
                }
                if !is_metadata_tag_key(v.get_ref()) {
                    return Err(ctx.bad(v, &lkey, tag_key_message(v.get_ref())));
                }
                labels_from_tags.insert(label, v.get_ref().clone());
            }
        }
        let missing =
            missing_required(|l| labels.contains_key(l) || labels_from_tags.contains_key(l));
        if !missing.is_empty() {
            return Err(ctx.bad(
                f,
                &key("labels"),
                format!(
                    "fleet `{name}` does not set {missing}: every fleet needs {} in `labels` \
                     or `labels_from_tags`",
                    required_list()
                ),
            ));
        }
        out.push(Fleet {
            name: name.clone(),
            select,
            labels_from_tags,
            labels,
            attach_to_existing_roles: fr
                .attach_to_existing_roles
                .as_ref()
                .is_some_and(|b| *b.get_ref()),
        });
    }
    Ok(out)
}

fn select(
    ctx: &Ctx<'_>,
    f: &Spanned<FleetFile>,
    key: &str,
) -> Result<BTreeMap<String, String>, StackError> {
    let fr = f.get_ref();
    let Some(sel) = fr.select.as_ref().filter(|s| !s.get_ref().is_empty()) else {
        return Err(ctx.bad(
            f,
            key,
            format!(
                "fleet `{}` selects nothing: set `select = {{ Tag = \"value\" }}` (an empty \
                 selection would enrol every instance in the region)",
                fr.name.get_ref()
            ),
        ));
    };
    if sel.get_ref().len() > defaults::FLEET_SELECT_MAX {
        return Err(ctx.bad(
            sel,
            key,
            format!(
                "{} tags selected: an SSM association targets at most {} tags",
                sel.get_ref().len(),
                defaults::FLEET_SELECT_MAX
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in sel.get_ref() {
        let tkey = format!("{key}.{}", k.get_ref());
        if !is_tag_key(k.get_ref()) {
            return Err(ctx.bad(
                k,
                &tkey,
                format!(
                    "`{}` is not an EC2 tag key (1–128 characters, not starting with `aws:`)",
                    k.get_ref()
                ),
            ));
        }
        let value = v.get_ref();
        if let Some(c) = k
            .get_ref()
            .chars()
            .chain(value.chars())
            .find(|c| WILDCARDS.contains(*c))
        {
            return Err(ctx.bad(
                v,
                &tkey,
                format!(
                    "`{c}` in a tag to select on: EC2's filters read `*`, `?` and `\\` as \
                     wildcards while SSM targets match the value as written, so the two would \
                     select different instances; name the exact tag"
                ),
            ));
        }
        if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
            return Err(ctx.bad(
                v,
                &tkey,
                "tag values to select on must be 1–256 characters without control characters"
                    .into(),
            ));
        }
        out.insert(k.get_ref().clone(), value.clone());
    }
    Ok(out)
}

/// Characters EC2's `DescribeInstances` filters treat as wildcards or escapes.
const WILDCARDS: &str = "*?\\";

fn is_tag_key(key: &str) -> bool {
    !key.is_empty()
        && key.chars().count() <= 128
        && !key.chars().any(char::is_control)
        && !key.to_ascii_lowercase().starts_with("aws:")
}

fn tag_key_message(key: &str) -> String {
    format!(
        "tag `{key}` cannot be read from instance metadata: tag keys used as labels may hold \
         only letters, digits and `+ - = . , _ : @` (no spaces or `/`), at most 128 characters"
    )
}
