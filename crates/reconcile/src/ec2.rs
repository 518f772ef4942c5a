//! EC2 calls that need more than one SDK call: launching an instance (with the retry of
//! IAM's instance-profile propagation delay) and waiting for instance states.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType,
    ResourceType, Tag, TagSpecification, VolumeType,
};
use base64::Engine as _;

use crate::error::{ReconcileError, Result};
use crate::poll::{poll_until, Poll, Wait};

/// Root device of the AL2023 AMIs.
pub const ROOT_DEVICE: &str = "/dev/xvda";
/// Root volume size in GiB: the AL2023 AMI snapshot is 8 GiB; a little headroom for
/// packages and logs. (EC2 would take the snapshot size when omitted; stating it keeps
/// the volume explicit and emulators happy.)
pub const ROOT_VOLUME_GIB: i32 = 10;

pub use crate::poll::Backoff;
use crate::poll::{retry_transient, GaveUp};

/// Everything one RunInstances call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// AMI id.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Raw user_data (base64-encoded here, as the SDK requires).
    pub user_data: String,
    /// Instance profile name.
    pub instance_profile: String,
    /// Security group id.
    pub security_group_id: String,
    /// Subnet id (`None`: EC2 picks one in the default VPC).
    pub subnet_id: Option<String>,
    /// Tags of the instance (its root volume gets the ownership tags and `Name`).
    pub tags: BTreeMap<String, String>,
}

fn tag_spec(kind: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// Whether `err` is EC2 not yet seeing a just-created instance profile.
pub fn is_profile_propagation(err: &ReconcileError) -> bool {
    err.code() == Some("InvalidParameterValue")
        && err.service_message().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("iaminstanceprofile") || m.contains("instance profile")
        })
}

/// Launches one instance: IMDSv2 required (hop limit 1), encrypted gp3 root volume,
/// user_data, instance profile, tags on instance and volume. Retries only the
/// instance-profile propagation error, with `backoff`; every other error is returned
/// (throttling and 5xx are already retried by the SDK).
///
/// # Errors
/// The mapped RunInstances error, or [`ReconcileError::Timeout`] when the profile is
/// still not usable at the deadline.
pub async fn run_instance(
    ec2: &aws_sdk_ec2::Client,
    spec: &InstanceSpec,
    backoff: &Backoff,
) -> Result<String> {
    let user_data = base64::engine::general_purpose::STANDARD.encode(spec.user_data.as_bytes());
    let volume_tags = volume_tags(&spec.tags);
    let launched = retry_transient(
        backoff,
        is_profile_propagation,
        |_, delay| {
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "instance profile not yet visible to EC2, retrying RunInstances"
            )
        },
        || async {
            run_instances_request(ec2, spec, &user_data, &volume_tags)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ec2:RunInstances", e))
        },
    )
    .await;
    match launched {
        Ok(out) => launched_instance_id(&out),
        Err(GaveUp::Permanent(e)) => Err(e),
        Err(GaveUp::Deadline(e)) => Err(ReconcileError::Timeout {
            what: format!(
                "instance profile {} to become usable by EC2 (IAM propagation): {}",
                spec.instance_profile,
                e.service_message().unwrap_or_default()
            ),
            seconds: backoff.deadline.as_secs(),
        }),
    }
}

/// The tags of the root volume: `Name`, the ownership tags and the host tag of the
/// instance's `tags`.
fn volume_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut volume_tags: BTreeMap<String, String> = tags
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "Name" | crate::names::TAG_STACK | crate::names::TAG_MANAGED_BY
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(h) = tags.get(crate::names::TAG_HOST) {
        volume_tags.insert(crate::names::TAG_HOST.into(), h.clone());
    }
    volume_tags
}

/// One RunInstances request for `spec` (not sent): IMDSv2 required with hop limit 1, the
/// encrypted gp3 root volume, `user_data` (already base64), profile, security group,
/// subnet and the tags of instance and volume.
fn run_instances_request(
    ec2: &aws_sdk_ec2::Client,
    spec: &InstanceSpec,
    user_data: &str,
    volume_tags: &BTreeMap<String, String>,
) -> aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder {
    ec2.run_instances()
        .image_id(&spec.image_id)
        .instance_type(InstanceType::from(spec.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .user_data(user_data)
        .iam_instance_profile(
            IamInstanceProfileSpecification::builder()
                .name(&spec.instance_profile)
                .build(),
        )
        .security_group_ids(&spec.security_group_id)
        .set_subnet_id(spec.subnet_id.clone())
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(1)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(ROOT_DEVICE)
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_type(VolumeType::Gp3)
                        .volume_size(ROOT_VOLUME_GIB)
                        .encrypted(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(tag_spec(ResourceType::Instance, &spec.tags))
        .tag_specifications(tag_spec(ResourceType::Volume, volume_tags))
}

/// The id of the instance a RunInstances call launched.
fn launched_instance_id(
    out: &aws_sdk_ec2::operation::run_instances::RunInstancesOutput,
) -> Result<String> {
    out.instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_string)
        .ok_or_else(|| ReconcileError::Failed("RunInstances returned no instance".into()))
}

/// Current state of instance `id` (`None` when EC2 no longer knows it).
///
/// # Errors
/// The mapped DescribeInstances error.
pub async fn instance_state(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<InstanceStateName>> {
    match ec2.describe_instances().instance_ids(id).send().await {
        Ok(out) => Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id))
            .and_then(|i| i.state())
            .and_then(|s| s.name())
            .cloned()),
        Err(e) => {
            let e = ReconcileError::from_sdk("ec2:DescribeInstances", e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Waits until instance `id` is running.
///
/// # Errors
/// [`ReconcileError::Failed`] when it stops or terminates instead (check its console
/// output); [`ReconcileError::Timeout`] after `wait.timeout`.
pub async fn wait_running(ec2: &aws_sdk_ec2::Client, id: &str, wait: Wait) -> Result<()> {
    let what = format!("instance {id} to be running");
    poll_until(
        &what,
        wait,
        |_, _| {},
        || async {
            match instance_state(ec2, id).await? {
                Some(InstanceStateName::Running) => Ok(Poll::Ready(())),
                Some(InstanceStateName::Pending) => Ok(Poll::Pending("pending".into())),
                s => Err(ReconcileError::Failed(format!(
                    "instance {id} is {} instead of running: check its console output",
                    s.as_ref().map_or("gone", |s| s.as_str())
                ))),
            }
        },
    )
    .await
}

/// Terminates `id` (already gone counts as done) and waits until it is terminated (a
/// vanished instance counts as terminated).
///
/// # Errors
/// The mapped TerminateInstances error or a wait error.
pub async fn terminate_and_wait(ec2: &aws_sdk_ec2::Client, id: &str, wait: Wait) -> Result<()> {
    if let Err(e) = ec2.terminate_instances().instance_ids(id).send().await {
        let e = ReconcileError::from_sdk("ec2:TerminateInstances", e);
        if !e.is_not_found() {
            return Err(e);
        }
    }
    let what = format!("instance {id} to be terminated");
    poll_until(
        &what,
        wait,
        |_, _| {},
        || async {
            Ok(match instance_state(ec2, id).await? {
                None | Some(InstanceStateName::Terminated) => Poll::Ready(()),
                Some(s) => Poll::Pending(s.as_str().to_string()),
            })
        },
    )
    .await
}
