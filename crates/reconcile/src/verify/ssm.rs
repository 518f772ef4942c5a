//! Whether each host's SSM agent is registered and online: Systems Manager's
//! `DescribeInstanceInformation`, filtered by instance id (at most 50 per call, as the API
//! allows), every page read.
//!
//! Reference: <https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html>
//! and `API_InstanceInformation.html` (`PingStatus` is `Online`, `ConnectionLost` or
//! `Inactive`; an instance whose agent never reached SSM is not listed at all).

use std::collections::BTreeMap;

use aws_sdk_ssm::types::InstanceInformationStringFilter;

use crate::error::{ReconcileError, Result};
use crate::Clients;

/// Most instance ids one `InstanceIds` filter may carry.
const IDS_PER_CALL: usize = 50;

/// An instance as Systems Manager sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmInfo {
    /// `Online`, `ConnectionLost` or `Inactive`.
    pub ping_status: String,
    /// Last time the agent reached SSM (RFC 3339), if SSM says.
    pub last_ping: Option<String>,
    /// The SSM agent's version.
    pub agent_version: Option<String>,
    /// The OS, e.g. `Amazon Linux 2023.6.20241111`.
    pub platform: Option<String>,
}

impl SsmInfo {
    /// `PingStatus` is `Online`.
    pub fn online(&self) -> bool {
        self.ping_status == "Online"
    }
}

/// The SSM registration of each of `instance_ids` that SSM knows, by instance id.
///
/// # Errors
/// The mapped SSM error (e.g. AccessDenied without `ssm:DescribeInstanceInformation`).
pub async fn instance_information(
    clients: &Clients,
    instance_ids: &[String],
) -> Result<BTreeMap<String, SsmInfo>> {
    let mut out = BTreeMap::new();
    for chunk in instance_ids.chunks(IDS_PER_CALL) {
        let filter = InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(|e| ReconcileError::Failed(format!("ssm filter: {e}")))?;
        let mut token = None;
        loop {
            let page = clients
                .ssm
                .describe_instance_information()
                .filters(filter.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ssm:DescribeInstanceInformation", e))?;
            for i in page.instance_information_list() {
                let Some(id) = i.instance_id() else { continue };
                let platform = match (i.platform_name(), i.platform_version()) {
                    (Some(n), Some(v)) => Some(format!("{n} {v}")),
                    (Some(n), None) => Some(n.to_string()),
                    _ => None,
                };
                out.insert(
                    id.to_string(),
                    SsmInfo {
                        ping_status: i
                            .ping_status()
                            .map(|p| p.as_str().to_string())
                            .unwrap_or_default(),
                        last_ping: i.last_ping_date_time().and_then(|t| {
                            t.fmt(aws_sdk_ssm::primitives::DateTimeFormat::DateTime)
                                .ok()
                        }),
                        agent_version: i.agent_version().map(str::to_string),
                        platform,
                    },
                );
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

/// One fleet member's last run of its fleet's association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// `Success`, `Failed`, `Pending`, …
    pub status: String,
    /// SSM's detailed status and execution summary.
    pub detail: String,
    /// When it ran (RFC 3339), if SSM says.
    pub executed: Option<String>,
    /// The association version that ran.
    pub association_version: Option<String>,
    /// The end of the run's output (failed runs only).
    pub output_tail: Option<String>,
}

/// Characters of a failed run's output shown.
pub const OUTPUT_TAIL_CHARS: usize = 600;

/// The status of association `association_id` on `instance_id` (`None`: it has not run
/// there), with the output tail of its last run through `document` when it failed.
///
/// # Errors
/// The mapped SSM error.
pub async fn enrolment(
    clients: &Clients,
    instance_id: &str,
    association_id: &str,
    document: &str,
) -> Result<Option<Enrolment>> {
    let mut token = None;
    let mut found = None;
    loop {
        let page = clients
            .ssm
            .describe_instance_associations_status()
            .instance_id(instance_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ssm:DescribeInstanceAssociationsStatus", e))?;
        if let Some(i) = page
            .instance_association_status_infos()
            .iter()
            .find(|i| i.association_id() == Some(association_id))
        {
            found = Some(i.clone());
            break;
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let Some(i) = found else { return Ok(None) };
    let status = i.status().unwrap_or("unknown").to_string();
    let output_tail = if status == "Failed" {
        output_tail(clients, instance_id, document).await?
    } else {
        None
    };
    Ok(Some(Enrolment {
        association_version: i.association_version().map(str::to_string),
        detail: [i.detailed_status(), i.execution_summary()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": "),
        executed: i.execution_date().and_then(|d| {
            d.fmt(aws_sdk_ssm::primitives::DateTimeFormat::DateTime)
                .ok()
        }),
        status,
        output_tail,
    }))
}

/// The end of the output of the newest run of `document` on `instance_id`.
async fn output_tail(
    clients: &Clients,
    instance_id: &str,
    document: &str,
) -> Result<Option<String>> {
    let out = clients
        .ssm
        .list_command_invocations()
        .instance_id(instance_id)
        .filters(
            aws_sdk_ssm::types::CommandFilter::builder()
                .key(aws_sdk_ssm::types::CommandFilterKey::DocumentName)
                .value(document)
                .build()
                .map_err(|e| ReconcileError::Failed(format!("ssm filter: {e}")))?,
        )
        .details(true)
        .max_results(5)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ssm:ListCommandInvocations", e))?;
    let newest = out
        .command_invocations()
        .iter()
        .max_by_key(|c| c.requested_date_time().map(|d| d.secs()));
    Ok(newest.and_then(|c| {
        let text: String = c
            .command_plugins()
            .iter()
            .filter_map(|p| p.output())
            .collect::<Vec<_>>()
            .join("\n");
        let text = text.trim();
        (!text.is_empty()).then(|| {
            let skip = text.chars().count().saturating_sub(OUTPUT_TAIL_CHARS);
            text.chars().skip(skip).collect()
        })
    }))
}
