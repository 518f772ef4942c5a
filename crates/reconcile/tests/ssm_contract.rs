//! The SSM agent check's one call, `DescribeInstanceInformation`, which moto does not
//! implement: a wiremock stub shaped from the Systems Manager API reference.
//!
//! Contract (awsJson1_1, <https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html>):
//! `POST /` with `X-Amz-Target: AmazonSSM.DescribeInstanceInformation` and
//! `Content-Type: application/x-amz-json-1.1`; request
//! `{"Filters":[{"Key":"InstanceIds","Values":[…]}],"NextToken":…}` (at most 50 ids);
//! response `{"InstanceInformationList":[InstanceInformation],"NextToken":…}` where
//! `InstanceInformation` (`API_InstanceInformation.html`) has `InstanceId`, `PingStatus`
//! (`Online` | `ConnectionLost` | `Inactive`), `LastPingDateTime` (epoch seconds),
//! `AgentVersion`, `PlatformName`, `PlatformVersion`, `ResourceType`. An instance whose
//! agent never registered is simply absent from the list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use monitor_reconcile::verify::ssm::instance_information;
use monitor_reconcile::Clients;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TARGET: &str = "AmazonSSM.DescribeInstanceInformation";

async fn clients(endpoint: &str) -> Clients {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    Clients::new(&sdk).unwrap()
}

fn info(id: &str, status: &str) -> Value {
    json!({
        "InstanceId": id, "PingStatus": status, "LastPingDateTime": 1_765_015_200.0,
        "AgentVersion": "3.3.1142.0", "PlatformName": "Amazon Linux",
        "PlatformVersion": "2023", "PlatformType": "Linux", "ResourceType": "EC2Instance"
    })
}

#[tokio::test]
async fn every_page_and_every_chunk_of_50_ids_is_read() {
    let server = MockServer::start().await;
    // Page 1 of the first chunk hands a NextToken; page 2 ends it.
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", TARGET))
        .and(header("content-type", "application/x-amz-json-1.1"))
        .and(body_partial_json(json!({"NextToken": "page-2"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"InstanceInformationList": [info("i-0000000000000002", "ConnectionLost")]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", TARGET))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let ids = body["Filters"][0]["Values"].as_array().unwrap().clone();
            let first_chunk = ids.iter().any(|i| i == "i-0000000000000000");
            let doc = if first_chunk {
                json!({"InstanceInformationList": [info("i-0000000000000000", "Online")],
                       "NextToken": "page-2"})
            } else {
                // The second chunk: i-…50 is Inactive; the rest never registered.
                json!({"InstanceInformationList": [info("i-0000000000000050", "Inactive")]})
            };
            ResponseTemplate::new(200).set_body_json(doc)
        })
        .mount(&server)
        .await;

    let ids: Vec<String> = (0..60).map(|i| format!("i-{i:016}")).collect();
    let got = instance_information(&clients(&server.uri()).await, &ids)
        .await
        .unwrap();
    assert_eq!(got.len(), 3, "{got:#?}");
    let online = &got["i-0000000000000000"];
    assert!(online.online());
    assert_eq!(online.agent_version.as_deref(), Some("3.3.1142.0"));
    assert_eq!(online.platform.as_deref(), Some("Amazon Linux 2023"));
    assert_eq!(online.last_ping.as_deref(), Some("2025-12-06T10:00:00Z"));
    assert_eq!(got["i-0000000000000002"].ping_status, "ConnectionLost");
    assert_eq!(got["i-0000000000000050"].ping_status, "Inactive");
    assert!(
        !got.contains_key("i-0000000000000003"),
        "never registered: absent"
    );

    // Two chunks (50 + 10 ids), the first read over two pages.
    let requests = server.received_requests().await.unwrap();
    let chunks: Vec<usize> = requests
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["Filters"][0]["Key"], "InstanceIds");
            body["Filters"][0]["Values"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(chunks, [50, 50, 10]);
}

#[tokio::test]
async fn access_denied_is_an_error_naming_the_action() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", TARGET))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "__type": "AccessDeniedException",
            "message": "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ssm:DescribeInstanceInformation"
        })))
        .mount(&server)
        .await;
    let err = instance_information(
        &clients(&server.uri()).await,
        &["i-0123456789abcdef0".into()],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("ssm:DescribeInstanceInformation"), "{err}");
}
