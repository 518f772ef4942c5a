//! What moto cannot show, against wiremock speaking the EC2 and STS query protocols:
//! throttling and 5xx (retried by the SDK's standard retry strategy), IAM's
//! instance-profile propagation delay (retried by us with backoff and a deadline),
//! AccessDenied / UnauthorizedOperation (reported naming the action), missing
//! credentials and region.
//!
//! EC2 error responses follow the EC2 API reference, "Error codes for the Amazon EC2 API"
//! (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
//! `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>
//! <RequestID>…</RequestID></Response>`, with `RequestLimitExceeded` as the throttling
//! code (HTTP 503), `UnauthorizedOperation` for a missing permission (HTTP 403),
//! `InvalidParameterValue` (HTTP 400) for e.g. an instance profile EC2 cannot see yet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use monitor_reconcile::ec2::{run_instance, Backoff, InstanceSpec};
use monitor_reconcile::{Clients, ReconcileError};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RUN_OK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>5f0b3c1e-0000-4000-8000-000000000001</requestId>
  <reservationId>r-0123456789abcdef0</reservationId>
  <ownerId>123456789012</ownerId>
  <groupSet/>
  <instancesSet>
    <item>
      <instanceId>i-0123456789abcdef0</instanceId>
      <imageId>ami-0123456789abcdef0</imageId>
      <instanceState><code>0</code><name>pending</name></instanceState>
      <instanceType>t3.micro</instanceType>
    </item>
  </instancesSet>
</RunInstancesResponse>"#;

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors>\
         <RequestID>5f0b3c1e-0000-4000-8000-000000000002</RequestID></Response>"
    )
}

fn xml(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "text/xml")
}

const PROFILE_MESSAGE: &str = "Value (mt-ec2) for parameter iamInstanceProfile.name is invalid. \
    Invalid IAM Instance Profile name";

async fn sdk(server: &MockServer) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .load()
        .await
}

fn spec() -> InstanceSpec {
    InstanceSpec {
        image_id: "ami-0123456789abcdef0".into(),
        instance_type: "t3.micro".into(),
        user_data: "#!/bin/bash\necho hi\n".into(),
        instance_profile: "mt-ec2".into(),
        security_group_id: "sg-0123456789abcdef0".into(),
        subnet_id: None,
        tags: BTreeMap::from([("stack".into(), "mt".into())]),
    }
}

fn fast() -> Backoff {
    Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
        deadline: Duration::from_secs(5),
    }
}

async fn run_instances_calls(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("Action=RunInstances"))
        .count()
}

/// Mounts `first` for the first `n` RunInstances calls, then `then` for every later one.
async fn sequence(server: &MockServer, first: ResponseTemplate, n: u64, then: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(body_string_contains("Action=RunInstances"))
        .respond_with(first)
        .up_to_n_times(n)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=RunInstances"))
        .respond_with(then)
        .with_priority(2)
        .mount(server)
        .await;
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(
            503,
            ec2_error("RequestLimitExceeded", "Request limit exceeded."),
        ),
        2,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let id = run_instance(&clients.ec2, &spec(), &fast()).await.unwrap();
    assert_eq!(id, "i-0123456789abcdef0");
    assert_eq!(run_instances_calls(&server).await, 3);
    // The request is what EC2 expects: base64 user_data, IMDSv2, encrypted gp3.
    let body = server.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&body[0].body).to_string();
    assert!(
        body.contains("MetadataOptions.HttpTokens=required"),
        "{body}"
    );
    assert!(
        body.contains("BlockDeviceMapping.1.Ebs.Encrypted=true"),
        "{body}"
    );
    assert!(
        body.contains("BlockDeviceMapping.1.Ebs.VolumeType=gp3"),
        "{body}"
    );
    assert!(body.contains("IamInstanceProfile.Name=mt-ec2"), "{body}");
    assert!(
        body.contains("UserData=IyEvYmluL2Jhc2gKZWNobyBoaQo%3D"),
        "{body}"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(
            500,
            ec2_error("InternalError", "An internal error has occurred."),
        ),
        1,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    run_instance(&clients.ec2, &spec(), &fast()).await.unwrap();
    assert_eq!(run_instances_calls(&server).await, 2);
}

#[tokio::test]
async fn persistent_throttling_is_reported_as_such() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(
            503,
            ec2_error("RequestLimitExceeded", "Request limit exceeded."),
        ),
        100,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let err = run_instance(&clients.ec2, &spec(), &fast())
        .await
        .unwrap_err();
    assert!(matches!(err, ReconcileError::Throttled { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("ec2:RunInstances: throttled (RequestLimitExceeded"),
        "{msg}"
    );
    assert!(msg.contains("re-run"), "{msg}");
    assert_eq!(
        run_instances_calls(&server).await,
        3,
        "the SDK's 3 attempts"
    );
}

#[tokio::test]
async fn instance_profile_propagation_is_retried_with_backoff() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(400, ec2_error("InvalidParameterValue", PROFILE_MESSAGE)),
        3,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let id = run_instance(&clients.ec2, &spec(), &fast()).await.unwrap();
    assert_eq!(id, "i-0123456789abcdef0");
    assert_eq!(run_instances_calls(&server).await, 4);
}

#[tokio::test]
async fn instance_profile_propagation_gives_up_at_the_deadline() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(400, ec2_error("InvalidParameterValue", PROFILE_MESSAGE)),
        1000,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(40),
        deadline: Duration::from_millis(300),
    };
    let started = std::time::Instant::now();
    let err = run_instance(&clients.ec2, &spec(), &backoff)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    let msg = err.to_string();
    assert!(matches!(err, ReconcileError::Timeout { .. }), "{err:?}");
    assert!(msg.contains("instance profile mt-ec2"), "{msg}");
    assert!(msg.contains("IAM propagation"), "{msg}");
    let calls = run_instances_calls(&server).await;
    assert!(
        (3..=40).contains(&calls),
        "{calls} calls: backoff, not a busy loop"
    );
}

#[tokio::test]
async fn other_invalid_parameters_are_not_retried() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(
            400,
            ec2_error(
                "InvalidParameterValue",
                "Invalid value 't3.nano2' for InstanceType.",
            ),
        ),
        100,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let err = run_instance(&clients.ec2, &spec(), &fast())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(run_instances_calls(&server).await, 1);
}

#[tokio::test]
async fn unauthorized_operation_names_the_action() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(
            403,
            ec2_error(
                "UnauthorizedOperation",
                "You are not authorized to perform this operation. User: \
                 arn:aws:iam::123456789012:user/ci is not authorized to perform: \
                 ec2:RunInstances on resource: arn:aws:ec2:eu-west-1:123456789012:instance/*",
            ),
        ),
        100,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let err = run_instance(&clients.ec2, &spec(), &fast())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, ReconcileError::AccessDenied { action, .. } if *action == "ec2:RunInstances"),
        "{err:?}"
    );
    assert!(
        msg.starts_with("ec2:RunInstances: access denied (UnauthorizedOperation"),
        "{msg}"
    );
    assert!(msg.contains("grant `ec2:RunInstances`"), "{msg}");
    assert_eq!(run_instances_calls(&server).await, 1, "not retried");
}

#[tokio::test]
async fn quota_errors_say_so() {
    let server = MockServer::start().await;
    sequence(
        &server,
        xml(
            400,
            ec2_error(
                "VcpuLimitExceeded",
                "You have requested more vCPU capacity than your current vCPU limit of 32 allows",
            ),
        ),
        100,
        xml(200, RUN_OK.into()),
    )
    .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let err = run_instance(&clients.ec2, &spec(), &fast())
        .await
        .unwrap_err();
    assert!(matches!(err, ReconcileError::Quota { .. }), "{err:?}");
    assert!(err.to_string().contains("Service Quotas"), "{err}");
}

#[tokio::test]
async fn invalid_credentials_are_reported_as_such() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=GetCallerIdentity"))
        .respond_with(xml(
            403,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token \
             included in the request is invalid.</Message></Error>\
             <RequestId>5f0b3c1e-0000-4000-8000-000000000003</RequestId></ErrorResponse>"
                .into(),
        ))
        .mount(&server)
        .await;
    let clients = Clients::new(&sdk(&server).await).unwrap();
    let err = clients.account_id().await.unwrap_err();
    assert!(
        matches!(err, ReconcileError::MissingCredentials { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("InvalidClientTokenId"), "{msg}");
    assert!(msg.contains("AWS_PROFILE"), "{msg}");
}

#[tokio::test]
async fn missing_region_and_credentials_are_clear() {
    let no_region = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .build();
    let err = Clients::new(&no_region).unwrap_err();
    assert!(matches!(err, ReconcileError::MissingRegion));
    assert!(err.to_string().contains("AWS_REGION"), "{err}");

    let no_creds = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .build();
    let err = Clients::new(&no_creds).unwrap_err();
    assert!(
        matches!(err, ReconcileError::MissingCredentials { .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("no AWS credentials"), "{err}");
}
