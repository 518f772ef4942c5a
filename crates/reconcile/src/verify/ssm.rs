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
