//! Names and tags of every resource the stack owns. Names are derived from the stack name
//! so they can be looked up directly (IAM has no tag search); ownership is always proven
//! by the two tags [`TAG_STACK`] and [`TAG_MANAGED_BY`] before anything is changed.

use std::collections::BTreeMap;

/// Tag key holding the stack name.
pub const TAG_STACK: &str = "stack";
/// Tag key marking resources this tool manages.
pub const TAG_MANAGED_BY: &str = "managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY: &str = "monitor-provision";
/// Instance tag: the `[[hosts]]` name the instance runs.
pub const TAG_HOST: &str = "monitor:host";
/// Auto Scaling group and launch template tag: the `[[groups]]` name (propagated to the
/// group's instances at launch).
pub const TAG_GROUP: &str = "monitor:group";
/// The tag Auto Scaling puts on every instance it launches (such instances are the
/// group's, never a `[[hosts]]` instance).
pub const TAG_AUTOSCALING_GROUP: &str = "aws:autoscaling:groupName";
/// Instance tag: sha256 of the rendered user_data (with the host's current labels).
pub const TAG_USER_DATA_SHA: &str = "monitor:user-data-sha256";
/// Instance tag: sha256 of the user_data rendered with neutral labels, i.e. of everything
/// except the labels. A change here replaces the instance; a change of labels only is
/// pushed in place.
pub const TAG_BASE_SHA: &str = "monitor:base-sha256";
/// Grafana workspace tag: sha256 of the Grafana content (folder, datasources,
/// dashboards) the last successful apply put into the workspace
/// ([`crate::desired::content_sha256`]). Missing or different = the content is applied.
pub const TAG_CONTENT_SHA: &str = "monitor:content-sha256";
/// Prefix of the instance tags mirroring the host's labels (`label:env = prod`).
pub const LABEL_TAG_PREFIX: &str = "label:";
/// Rule-groups namespace tag: sha256 of the rules file it was last put with (no
/// perpetual diff, no decoding of AMP's copy).
pub const TAG_RULES_SHA: &str = "monitor:rules-sha256";
/// The AWS managed policy the SSM agent needs.
pub const SSM_CORE_POLICY_ARN: &str = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
/// Name of the inline policy on the EC2 role.
pub const INLINE_POLICY_NAME: &str = "monitoring";
/// Name of the inline policy on the Grafana workspace role (`[grafana] enabled`).
pub const GRAFANA_POLICY_NAME: &str = "grafana-datasources";

/// Resource names of one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Stack name.
    pub stack: String,
    /// AMP workspace alias (= stack name).
    pub workspace_alias: String,
    /// EC2 role and instance profile name, `<stack>-ec2`.
    pub role: String,
    /// Instance profile name (= role name).
    pub instance_profile: String,
    /// Security group name, `<stack>-hosts`.
    pub security_group: String,
    /// Amazon Managed Grafana workspace IAM role, `<stack>-grafana`.
    pub grafana_role: String,
    /// Amazon Managed Grafana workspace name, `<stack>-grafana` (found by tags, not name).
    pub grafana_workspace: String,
    /// Alias of the KMS key encrypting the alert topics, `alias/<stack>-alerts`.
    pub alert_key_alias: String,
    /// The customer-managed host policy attached to fleet members' own roles
    /// (`attach_to_existing_roles`), `<stack>-host`.
    pub host_policy: String,
}

/// The name of the stack's SNS topic for `severity` ([`monitor_alerts::alertmanager::topic_name`]).
pub fn alert_topic_name(stack: &str, severity: &str) -> String {
    monitor_alerts::alertmanager::topic_name(stack, severity)
}

/// The ARN of the stack's SNS topic for `severity` (what the Alertmanager definition and
/// the log alarms publish to).
pub fn alert_topic_arn(region: &str, account: &str, stack: &str, severity: &str) -> String {
    format!(
        "arn:aws:sns:{region}:{account}:{}",
        alert_topic_name(stack, severity)
    )
}

impl Names {
    /// Names for the stack called `stack`.
    pub fn new(stack: &str) -> Names {
        Names {
            stack: stack.to_string(),
            workspace_alias: stack.to_string(),
            role: format!("{stack}-ec2"),
            instance_profile: format!("{stack}-ec2"),
            security_group: format!("{stack}-hosts"),
            grafana_role: format!("{stack}-grafana"),
            grafana_workspace: format!("{stack}-grafana"),
            alert_key_alias: format!("alias/{stack}-alerts"),
            host_policy: format!("{stack}-host"),
        }
    }

    /// The ARN of the host policy in `account`.
    pub fn host_policy_arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:policy/{}", self.host_policy)
    }

    /// The prefix of every fleet's SSM document and association name, `<stack>-fleet-`.
    pub fn fleet_prefix(&self) -> String {
        format!("{}-fleet-", self.stack)
    }

    /// The SSM document (and association) name of `fleet`, `<stack>-fleet-<fleet>`.
    pub fn fleet_document(&self, fleet: &str) -> String {
        format!("{}{fleet}", self.fleet_prefix())
    }

    /// The launch template and Auto Scaling group name of `group`, `<stack>-group-<group>`.
    pub fn group(&self, group: &str) -> String {
        format!("{}-group-{group}", self.stack)
    }

    /// The two ownership tags every resource carries.
    pub fn owner_tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_STACK.to_string(), self.stack.clone()),
            (TAG_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        ])
    }

    /// Whether `tags` carry this stack's ownership tags.
    pub fn owns<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let mut stack = false;
        let mut managed = false;
        for (k, v) in tags {
            stack |= k == TAG_STACK && v == self.stack;
            managed |= k == TAG_MANAGED_BY && v == MANAGED_BY;
        }
        stack && managed
    }
}

/// Lower-case hex sha256 of `s`.
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}
