//! Test support for the workspace's integration tests.
//!
//! Every helper here starts a **real** process from Debian's packages (or moto from a
//! venv) on a free loopback port with its own temporary directory, waits until it is
//! ready, and kills it when the handle is dropped (also when the test panics).
//!
//! ```no_run
//! let ne = monitor_testkit::NodeExporter::start();
//! let prom = monitor_testkit::Prometheus::start(&monitor_testkit::PrometheusOptions::default());
//! println!("{} {}", ne.metrics_url(), prom.url());
//! ```
//!
//! [`AlertSink`] is an Alertmanager webhook receiver that records the notifications it
//! gets (the alert tests wait on it; the local stack's alert printer prints them).
//!
//! With the feature `grafana-stubs`, [`grafana_stubs`] adds stateful wiremock stubs of
//! the Amazon Managed Grafana control plane and of a workspace's Grafana HTTP API.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod alert_sink;
#[cfg(feature = "grafana-stubs")]
pub mod grafana_stubs;

pub use alert_sink::{AlertSink, WebhookAlert, WebhookMessage, WEBHOOK_PATH};

/// A free TCP port on 127.0.0.1 (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// Finds a binary: the environment variable `env` if set, else the first of `names`
/// found on `PATH` or in the extra directories. Panics with an install hint otherwise.
pub fn find_binary(env: &str, names: &[&str], hint: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    // The workspace's venv first: scripts/setup.sh pins moto there, and an older moto
    // elsewhere on PATH (a pyenv global, say) lacks APIs the tests use (moto 5.2.1 answers
    // CreateAlertManagerDefinition with a 404 page).
    let mut dirs = vec![workspace_root().join(".venv/bin")];
    dirs.extend(
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.push(PathBuf::from("/usr/sbin"));
    for name in names {
        for d in &dirs {
            let p = d.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("none of {names:?} found (set {env} or install it: {hint})");
}

/// The workspace root (parent of `crates/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// A child process killed on drop.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    name: String,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {name} ({cmd:?}): {e}"));
        Proc {
            child: Some(child),
            name: name.to_string(),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// What the process wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (e.g. `"TERM"`, `"KILL"`) to the process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn check_alive(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                panic!(
                    "{} exited early ({st}); its output:\n{}",
                    self.name,
                    self.log()
                );
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Minimal blocking HTTP GET on loopback (no client dependency needed for readiness).
/// Returns `(status, body)`.
pub fn http_get(host_port: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(host_port)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host_port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn wait_http_ok(p: &mut Proc, host_port: &str, path: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        p.check_alive();
        if let Ok((200, _)) = http_get(host_port, path) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{} not ready at http://{host_port}{path} after {timeout:?}; output:\n{}",
                p.name,
                p.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `prometheus-node-exporter` on a loopback port.
#[derive(Debug)]
pub struct NodeExporter {
    /// The process.
    pub proc: Proc,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl NodeExporter {
    /// Starts the real node_exporter and waits until `/metrics` answers.
    pub fn start() -> NodeExporter {
        NodeExporter::start_with_args(&[])
    }

    /// [`NodeExporter::start`] with more flags (e.g. `--collector.disable-defaults`).
    pub fn start_with_args(args: &[String]) -> NodeExporter {
        let bin = find_binary(
            "MONITOR_NODE_EXPORTER_BIN",
            &["prometheus-node-exporter", "node_exporter"],
            "apt-get install prometheus-node-exporter",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--web.listen-address={addr}"));
        cmd.args(args);
        let mut proc = Proc::spawn("node_exporter", cmd, dir.path().join("node_exporter.log"));
        wait_http_ok(&mut proc, &addr, "/metrics", Duration::from_secs(20));
        NodeExporter {
            proc,
            addr,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }
}

/// Options for [`Prometheus::start`].
#[derive(Debug, Clone, Default)]
pub struct PrometheusOptions {
    /// Extra YAML appended under `scrape_configs:` (already indented by 2 spaces per item).
    pub scrape_configs: Vec<String>,
    /// Rule files (contents) to load.
    pub rule_files: Vec<String>,
    /// Alertmanager `host:port` to send alerts to.
    pub alertmanager: Option<String>,
    /// Global evaluation/scrape interval (default 1s).
    pub interval: Option<String>,
    /// Extra command-line flags.
    pub extra_args: Vec<String>,
    /// Listen on this port instead of a free one (e.g. to start the receiver late).
    pub port: Option<u16>,
}

/// A running Prometheus with the remote-write receiver enabled (the AMP stand-in).
#[derive(Debug)]
pub struct Prometheus {
    /// The process.
    pub proc: Proc,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `prometheus --web.enable-remote-write-receiver` and waits for `/-/ready`.
    pub fn start(opts: &PrometheusOptions) -> Prometheus {
        let bin = find_binary(
            "MONITOR_PROMETHEUS_BIN",
            &["prometheus"],
            "apt-get install prometheus",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = format!("127.0.0.1:{}", opts.port.unwrap_or_else(free_port));
        let interval = opts.interval.clone().unwrap_or_else(|| "1s".into());
        let mut cfg =
            format!("global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n");
        if !opts.rule_files.is_empty() {
            cfg.push_str("rule_files:\n");
            for (i, r) in opts.rule_files.iter().enumerate() {
                let p = dir.path().join(format!("rules-{i}.yml"));
                std::fs::write(&p, r).expect("write rules");
                cfg.push_str(&format!("  - {}\n", p.display()));
            }
        }
        if let Some(am) = &opts.alertmanager {
            cfg.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            ));
        }
        if !opts.scrape_configs.is_empty() {
            cfg.push_str("scrape_configs:\n");
            for s in &opts.scrape_configs {
                cfg.push_str(s);
                if !s.ends_with('\n') {
                    cfg.push('\n');
                }
            }
        }
        let cfg_path = dir.path().join("prometheus.yml");
        std::fs::write(&cfg_path, cfg).expect("write prometheus.yml");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--web.enable-lifecycle")
            .args(&opts.extra_args);
        let mut proc = Proc::spawn("prometheus", cmd, dir.path().join("prometheus.log"));
        wait_http_ok(&mut proc, &addr, "/-/ready", Duration::from_secs(30));
        Prometheus { proc, addr, dir }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The remote-write receiver URL (`/api/v1/write`).
    pub fn remote_write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// The temp dir holding config and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs an instant PromQL query and returns `data.result` (panics on API errors).
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let v: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/query", self.url()))
            .form(&[("query", promql)])
            .send()
            .await
            .expect("query prometheus")
            .json()
            .await
            .expect("query json");
        assert_eq!(v["status"], "success", "query {promql} failed: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `promql` until it returns at least one series or `timeout` passes.
    pub async fn wait_for(&self, promql: &str, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.query(promql).await;
            if !r.is_empty() || Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A running Alertmanager on loopback.
#[derive(Debug)]
pub struct Alertmanager {
    /// The process.
    pub proc: Proc,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts `prometheus-alertmanager` with the given config YAML, clustering off (a
    /// single instance notifies at once instead of waiting for gossip to settle).
    pub fn start(config_yaml: &str) -> Alertmanager {
        let bin = find_binary(
            "MONITOR_ALERTMANAGER_BIN",
            &["prometheus-alertmanager", "alertmanager"],
            "apt-get install prometheus-alertmanager",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = format!("127.0.0.1:{}", free_port());
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg, config_yaml).expect("write alertmanager.yml");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=");
        let mut proc = Proc::spawn("alertmanager", cmd, dir.path().join("alertmanager.log"));
        wait_http_ok(&mut proc, &addr, "/-/ready", Duration::from_secs(20));
        Alertmanager {
            proc,
            addr,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT` (the API v2 is under `/api/v2/`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A running moto server (AWS control-plane emulator) on loopback.
#[derive(Debug)]
pub struct Moto {
    /// The process.
    pub proc: Proc,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts `moto_server` (from `MOTO_SERVER`, `PATH` or `.venv/bin`) and waits for it.
    pub fn start() -> Moto {
        let bin = find_binary(
            "MOTO_SERVER",
            &["moto_server"],
            "python3 -m venv .venv && .venv/bin/pip install 'moto[server]'",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        cmd.env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true").args([
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        let mut proc = Proc::spawn("moto_server", cmd, dir.path().join("moto.log"));
        wait_http_ok(&mut proc, &addr, "/moto-api/", Duration::from_secs(60));
        Moto {
            proc,
            addr,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT` — use as the SDK `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Runs a cargo-built binary of this workspace (`CARGO_BIN_EXE_*` is only set for the
/// package's own bins, so integration tests locate `target/<profile>/NAME` instead).
pub fn workspace_bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let p = target.join("debug").join(name);
    assert!(
        p.is_file(),
        "{} not built: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// Starts a workspace binary with arguments, output captured to a log file.
pub fn spawn_bin(name: &str, args: &[&str], envs: &[(&str, &str)]) -> (Proc, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(workspace_bin(name));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let p = Proc::spawn(name, cmd, dir.path().join(format!("{name}.log")));
    (p, dir)
}

/// The instance id the local pipeline's agent puts on every series.
pub const TEST_INSTANCE_ID: &str = "i-0123456789abcdef0";

/// A `monitor-agent` config for tests: external labels `env=test`, `role=web`,
/// `team=platform`, `instance_id=<instance_id>`, one `node` target scraped every second,
/// small batches; `listen = ""` disables the agent's own listener.
pub fn agent_config(target: &str, receiver: &str, listen: &str, instance_id: &str) -> String {
    format!(
        r#"
[agent]
listen = "{listen}"
shutdown_timeout = "5s"

[labels]
env = "test"
role = "web"
team = "platform"
instance_id = "{instance_id}"

[[scrape]]
job = "node"
url = "{target}"
interval = "1s"
timeout = "900ms"

[remote_write]
url = "{receiver}"
batch_send_deadline = "200ms"
"#
    )
}

/// The whole local data plane: real node_exporter → `monitor-agent` → real Prometheus.
#[derive(Debug)]
pub struct LocalPipeline {
    /// The exporter.
    pub node_exporter: NodeExporter,
    /// The receiver (AMP stand-in).
    pub prometheus: Prometheus,
    /// The agent process.
    pub agent: Proc,
    /// The agent's own metrics address.
    pub agent_listen: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl LocalPipeline {
    /// Starts the three processes (agent config from [`agent_config`]); call
    /// [`LocalPipeline::wait_for_data`] before asserting on Prometheus.
    pub fn start(instance_id: &str) -> LocalPipeline {
        LocalPipeline::start_with_labels(instance_id, &[])
    }

    /// [`LocalPipeline::start`] with more external labels (e.g. `host`, as a provisioned
    /// host's agent has).
    pub fn start_with_labels(instance_id: &str, labels: &[(&str, &str)]) -> LocalPipeline {
        LocalPipeline::start_with(instance_id, labels, "", &[])
    }

    /// [`LocalPipeline::start_with_labels`] with `scrape_toml` appended to the agent's
    /// `[[scrape]]` table (e.g. `[[scrape.metric_relabel_configs]]` entries) and
    /// `node_exporter_args` given to node_exporter.
    pub fn start_with(
        instance_id: &str,
        labels: &[(&str, &str)],
        scrape_toml: &str,
        node_exporter_args: &[String],
    ) -> LocalPipeline {
        let node_exporter = NodeExporter::start_with_args(node_exporter_args);
        let prometheus = Prometheus::start(&PrometheusOptions::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let agent_listen = format!("127.0.0.1:{}", free_port());
        let cfg = dir.path().join("agent.toml");
        let extra: String = labels
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\"\n"))
            .collect();
        let text = agent_config(
            &node_exporter.metrics_url(),
            &prometheus.remote_write_url(),
            &agent_listen,
            instance_id,
        )
        .replace("[labels]\n", &format!("[labels]\n{extra}"))
        .replace(
            "\n[remote_write]",
            &format!("{scrape_toml}\n[remote_write]"),
        );
        std::fs::write(&cfg, text).expect("write agent.toml");
        let (agent, agent_dir) = spawn_bin(
            "monitor-agent",
            &["--config", cfg.to_str().expect("utf-8 path")],
            &[("RUST_LOG", "info")],
        );
        LocalPipeline {
            node_exporter,
            prometheus,
            agent,
            agent_listen,
            _dirs: (dir, agent_dir),
        }
    }

    /// Waits until rates over the node series can be computed (two samples arrived).
    pub async fn wait_for_data(&self) {
        let r = self
            .prometheus
            .wait_for(
                "rate(node_cpu_seconds_total{job=\"node\"}[5s])",
                Duration::from_secs(30),
            )
            .await;
        assert!(
            !r.is_empty(),
            "no node data reached Prometheus; agent log:\n{}",
            self.agent.log()
        );
    }
}

impl Moto {
    /// An `SdkConfig` pointing every service at this moto, with static test credentials.
    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint(), region).await
    }
}

/// An `SdkConfig` pointing every service at `endpoint` (moto, or a stub in front of it),
/// with static test credentials.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await
}
