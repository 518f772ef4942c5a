//! The AWS clients of the reconciler, all built from one `SdkConfig`.

use crate::error::{ReconcileError, Result};

/// One client per service the reconciler calls. Build with [`Clients::new`] from the
/// process's `SdkConfig`; tests build the same from a config whose `endpoint_url` points
/// at moto or wiremock.
#[derive(Debug, Clone)]
pub struct Clients {
    /// EC2: security groups, instances, VPC/subnet lookups.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling: the `[[groups]]` Auto Scaling groups and their instance refreshes.
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// IAM: role, inline policy, managed policy attachment, instance profile.
    pub iam: aws_sdk_iam::Client,
    /// AMP control plane: the workspace.
    pub amp: aws_sdk_amp::Client,
    /// SSM: AL2023 AMI parameters, Run Command for in-place config pushes.
    pub ssm: aws_sdk_ssm::Client,
    /// STS: the account id.
    pub sts: aws_sdk_sts::Client,
    /// SNS: the alert topics and their subscriptions.
    pub sns: aws_sdk_sns::Client,
    /// KMS: the key encrypting the alert topics.
    pub kms: aws_sdk_kms::Client,
    /// CloudWatch: the log alarms.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Amazon Managed Grafana control plane, used only through `monitor_grafana::amg`.
    pub grafana: monitor_grafana::amg::Amg,
    /// CloudWatch Logs, used only through `monitor_logs::admin`.
    pub logs: monitor_logs::Client,
    /// The region every resource lives in.
    pub region: String,
}

impl Clients {
    /// Builds every client from `sdk`.
    ///
    /// # Errors
    /// [`ReconcileError::MissingRegion`] when `sdk` has no region;
    /// [`ReconcileError::MissingCredentials`] when it has no credentials provider at all.
    pub fn new(sdk: &aws_config::SdkConfig) -> Result<Clients> {
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_string())
            .ok_or(ReconcileError::MissingRegion)?;
        if sdk.credentials_provider().is_none() {
            return Err(ReconcileError::MissingCredentials {
                message: "the SDK configuration has no credentials provider".into(),
            });
        }
        Ok(Clients {
            ec2: aws_sdk_ec2::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            autoscaling: aws_sdk_autoscaling::Client::new(sdk),
            amp: aws_sdk_amp::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            grafana: monitor_grafana::amg::Amg::new(aws_sdk_grafana::Client::new(sdk)),
            logs: monitor_logs::client(sdk),
            region,
        })
    }

    /// The caller's account id (STS GetCallerIdentity). This is the first call of every
    /// command, so missing or invalid credentials surface here with a clear message.
    ///
    /// # Errors
    /// [`ReconcileError::MissingCredentials`] or the mapped STS error.
    pub async fn account_id(&self) -> Result<String> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("sts:GetCallerIdentity", e))?;
        out.account()
            .map(str::to_string)
            .ok_or_else(|| ReconcileError::Failed("GetCallerIdentity returned no account".into()))
    }
}
