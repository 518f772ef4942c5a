//! `monitor-verify --config stack.toml` with nothing else: the workspace, the hosts and
//! their instance ids are found by the stack's tags. The stack is applied to moto (EC2,
//! IAM, AMP, CloudWatch Logs); SSM's `DescribeInstanceInformation`, which moto lacks, is a
//! wiremock stub reached through the standard `AWS_ENDPOINT_URL_SSM` (contract:
//! `crates/reconcile/tests/ssm_contract.rs`); one host really ships metrics — real
//! node_exporter → monitor-agent → real Prometheus, queried through `--endpoint` because
//! moto's AMP serves no PromQL.

use monitor_reconcile::apply::{apply, ApplyOptions, NoReporter};
use monitor_reconcile::{plan_apply, Clients, Outputs};
use monitor_testkit::{workspace_bin, LocalPipeline, Moto};
use serde_json::{json, Value};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const APPLIED: &str = r#"name = "vs"
region = "eu-west-1"
[[hosts]]
name = "web-1"
labels = { env = "test", role = "web", team = "platform" }
[[hosts]]
name = "web-2"
labels = { env = "test", role = "web", team = "platform" }
"#;

/// The same stack with a host that was never applied.
fn with_db() -> String {
    format!("{APPLIED}[[hosts]]\nname = \"db-1\"\nlabels = {{ env = \"test\", role = \"db\", team = \"platform\" }}\n")
}

fn result<'a>(doc: &'a Value, check: &str, host: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == check && r["host"] == host)
        .unwrap_or_else(|| panic!("no {check} for {host} in {doc:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_is_found_from_the_stack_file_and_a_silent_host_is_named() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let clients = Clients::new(&moto.sdk_config("eu-west-1").await).unwrap();
    let stack = monitor_stack::from_toml_str(APPLIED, "stack.toml".as_ref()).unwrap();
    let (observed, plan) = plan_apply(&clients, &stack).await.unwrap();
    let opts = ApplyOptions::for_emulators();
    assert!(
        apply(&clients, &stack, &observed, &plan, &opts, &NoReporter)
            .await
            .unwrap()
            .complete
    );
    let (observed, _) = plan_apply(&clients, &stack).await.unwrap();
    let outputs = Outputs::from_observed(&observed);
    let id = |host: &str| {
        outputs
            .instances
            .iter()
            .find(|i| i.host == host)
            .map(|i| i.instance_id.clone())
            .unwrap()
    };
    let (web1, web2) = (id("web-1"), id("web-2"));

    // web-1 ships, labelled as its bootstrap labels it; web-2 sends nothing.
    let pipeline = tokio::task::spawn_blocking({
        let web1 = web1.clone();
        move || LocalPipeline::start_with_labels(&web1, &[("host", "web-1")])
    })
    .await
    .unwrap();
    pipeline.wait_for_data().await;
    // The agent's sent-samples counter over most of the 10 s window verify is given.
    pipeline
        .prometheus
        .wait_for(
            "count_over_time(monitor_agent_samples_sent_total[10s]) >= 8",
            std::time::Duration::from_secs(30),
        )
        .await;

    let ssm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "AmazonSSM.DescribeInstanceInformation"))
        .respond_with({
            let (web1, web2) = (web1.clone(), web2.clone());
            move |_: &Request| {
                ResponseTemplate::new(200).set_body_json(json!({"InstanceInformationList": [
                    {"InstanceId": web1, "PingStatus": "Online", "AgentVersion": "3.3.1142.0",
                     "PlatformName": "Amazon Linux", "PlatformVersion": "2023", "ResourceType": "EC2Instance"},
                    {"InstanceId": web2, "PingStatus": "ConnectionLost",
                     "LastPingDateTime": 1_765_015_200.0, "ResourceType": "EC2Instance"}
                ]}))
            }
        })
        .mount(&ssm)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.toml");
    std::fs::write(&file, with_db()).unwrap();
    let out = tokio::task::spawn_blocking({
        let (file, prom, moto_url, ssm_url) = (
            file.clone(),
            pipeline.prometheus.url(),
            moto.endpoint(),
            ssm.uri(),
        );
        move || {
            std::process::Command::new(workspace_bin("monitor-verify"))
                .arg("--config")
                .arg(&file)
                .args(["--endpoint", &prom, "--output", "json", "--window", "10s"])
                .env("AWS_ENDPOINT_URL", moto_url)
                .env("AWS_ENDPOINT_URL_SSM", ssm_url)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env_remove("AWS_PROFILE")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.is_empty(),
        "no progress line when stderr is not a terminal: {stderr}"
    );
    let doc: Value = serde_json::from_str(stdout.trim()).unwrap();

    // The workspace apply made.
    let ws = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "aws.workspace")
        .unwrap();
    assert_eq!(ws["status"], "pass", "{ws}");
    assert!(
        ws["detail"]
            .as_str()
            .unwrap()
            .contains(outputs.workspace_id.as_deref().unwrap()),
        "{ws}"
    );

    // web-1: found, online, shipping, labelled.
    for check in [
        "aws.host",
        "aws.ssm_online",
        "metrics.up",
        "metrics.fresh.cpu",
        "metrics.labels",
    ] {
        assert_eq!(
            result(&doc, check, "web-1")["status"],
            "pass",
            "{check}: {doc:#}"
        );
    }

    // web-1's real samples/s from its agent's own counter, beside what `plan` priced
    // (ADOT, "used": 180 series every 15 s = 12/s). The test agent ships node_exporter's
    // whole page every second, far above that: a warning naming the estimate.
    let rate = result(&doc, "metrics.samples_rate", "web-1");
    let detail = rate["detail"].as_str().unwrap();
    assert_eq!(rate["status"], "warn", "{rate}");
    assert!(detail.contains("the plan estimated 12.0"), "{detail}");
    let measured: f64 = detail.split(' ').next().unwrap().parse().unwrap();
    assert!(measured > 100.0, "{detail}");
    assert!(rate["hint"].as_str().unwrap().contains("series_per_host"));

    // web-2: its instance runs, but nothing arrives and its SSM agent is lost — both named.
    assert_eq!(result(&doc, "aws.host", "web-2")["status"], "pass");
    let up = result(&doc, "metrics.up", "web-2");
    assert_eq!(up["status"], "fail");
    assert!(up["detail"].as_str().unwrap().contains("\"web-2\""), "{up}");
    let ssm_result = result(&doc, "aws.ssm_online", "web-2");
    assert_eq!(ssm_result["status"], "fail");
    assert!(
        ssm_result["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{web2}: SSM agent ConnectionLost")),
        "{ssm_result}"
    );

    // db-1 is in the file but was never applied: named as missing.
    let missing = result(&doc, "aws.host", "db-1");
    assert_eq!(missing["status"], "fail");
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("monitor:host=db-1"),
        "{missing}"
    );
    assert_eq!(result(&doc, "metrics.up", "db-1")["status"], "fail");

    // The log checks ran for the discovered instances (moto has the group, no streams).
    let stream = result(&doc, "logs.stream", "web-1");
    assert_eq!(stream["status"], "fail", "{doc:#}");
    assert!(
        stream["detail"].as_str().unwrap().contains(&web1),
        "{stream}"
    );

    // SSM was asked about exactly the stack's instances.
    let asked: Vec<Value> = ssm
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["Filters"][0]["Values"].clone())
        .collect();
    let mut ids: Vec<String> = asked[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec![web1, web2];
    want.sort();
    assert_eq!(ids, want);
}
