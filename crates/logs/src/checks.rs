//! Per-host log checks for `monitor-verify`: does the log group exist (with the expected
//! retention), does every host ship fresh events, did cloud-init finish without errors.
//!
//! Each check returns a [`CheckResult`] (pure data) instead of an error: a failing check is
//! an answer, and its `hint` names the likely cause — wrong region or group, agent not
//! running, IAM missing `logs:PutLogEvents`, a stopped agent or a skewed clock.
//!
//! Stream naming follows the CloudWatch Agent's `{instance_id}` placeholder: a host's
//! streams are named after its instance id, alone (`i-0abc…`) or as a prefix followed by a
//! separator (`i-0abc…/cloud-init`).

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatchlogs::types::LogStream;
use aws_sdk_cloudwatchlogs::Client;

use crate::error::LogsError;
use crate::time::{epoch_ms, format_ms};

/// Name of the log-group check.
pub const CHECK_LOG_GROUP: &str = "logs.group";
/// Name of the per-host stream freshness check.
pub const CHECK_HOST_STREAM: &str = "logs.stream";
/// Name of the per-host cloud-init check.
pub const CHECK_CLOUD_INIT: &str = "logs.cloud-init";

/// FilterLogEvents pattern that narrows a host's events to cloud-init's completion and
/// failure lines. The lines are classified again on our side ([`classify_cloud_init_line`]),
/// so a backend that ignores the pattern (moto does for `?` terms) still gives the right
/// answer, only slower.
pub const CLOUD_INIT_FILTER_PATTERN: &str = r#"?"finished at" ?Failed ?failed"#;

/// Pages read at most by one check (DescribeLogStreams, FilterLogEvents).
const MAX_PAGES: usize = 100;

/// The outcome of one check: the shared type of `monitor-checks`, so log checks join the
/// same report as the metrics and Grafana checks.
pub use monitor_checks::CheckResult;

/// Hint: the log group is not where we looked.
pub fn hint_group_missing(group: &str, region: &str) -> String {
    format!(
        "wrong region or wrong group name (group {group} not found in region {region}); \
         `monitor-provision apply` creates it"
    )
}

/// Hint: the host has no stream in the group.
pub fn hint_stream_missing() -> String {
    "CloudWatch Agent not running on the host, or the instance role lacks \
     logs:CreateLogStream/logs:PutLogEvents on the group ARN"
        .to_owned()
}

/// Hint: the host's newest event is older than `max_age`.
pub fn hint_stale(newest_ms: i64, max_age: Duration) -> String {
    format!(
        "agent stopped or time range/clock: newest event at {}, older than max-age {}",
        format_ms(newest_ms),
        humantime::format_duration(max_age)
    )
}

/// Hint: the verifying identity lacks a permission.
pub fn hint_access_denied(action: &str) -> String {
    format!(
        "the credentials used for verification lack logs:{action}; add it to their IAM \
         policy (on the group ARN)"
    )
}

/// Checks that `group` exists in the client's region and, when `expected_retention` is
/// given, that its retention is that many days.
pub async fn check_log_group(
    client: &Client,
    group: &str,
    expected_retention: Option<i32>,
) -> CheckResult {
    check_log_group_found(client, group, expected_retention)
        .await
        .0
}

/// [`check_log_group`], plus whether the group exists at all.
async fn check_log_group_found(
    client: &Client,
    group: &str,
    expected_retention: Option<i32>,
) -> (CheckResult, bool) {
    let region = region_of(client);
    let found = match find_log_group(client, group).await {
        Ok(found) => found,
        Err(e) => {
            return (
                error_result(CHECK_LOG_GROUP, None, &e, group, &region),
                false,
            )
        }
    };
    let Some(found) = found else {
        let r = CheckResult::fail(
            CHECK_LOG_GROUP,
            None,
            format!("log group {group} not found in region {region}"),
            hint_group_missing(group, &region),
        );
        return (r, false);
    };
    let actual = found.retention_in_days();
    let shown = retention_text(actual);
    let result = match expected_retention {
        Some(want) if actual != Some(want) => CheckResult::fail(
            CHECK_LOG_GROUP,
            None,
            format!("log group {group} in {region} has retention {shown}, expected {want} days"),
            format!(
                "retention drifted from the stack config; `monitor-provision apply` sets it \
                 (PutRetentionPolicy {group} {want})"
            ),
        ),
        _ => CheckResult::pass(
            CHECK_LOG_GROUP,
            None,
            format!("log group {group} exists in {region}, retention {shown}"),
        ),
    };
    (result, true)
}

/// For each `(host_name, instance_id)`, checks that the group holds a stream for the
/// instance whose newest event is at most `max_age` old.
pub async fn check_host_streams(
    client: &Client,
    group: &str,
    hosts: &[(impl AsRef<str>, impl AsRef<str>)],
    max_age: Duration,
) -> Vec<CheckResult> {
    let region = region_of(client);
    let now_ms = epoch_ms(SystemTime::now());
    let threshold_ms = now_ms.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(0));
    let mut results = Vec::with_capacity(hosts.len());
    let mut group_missing: Option<LogsError> = None;
    for (host, instance_id) in hosts {
        let (host, instance_id) = (host.as_ref(), instance_id.as_ref());
        if let Some(e) = &group_missing {
            results.push(error_result(
                CHECK_HOST_STREAM,
                Some(host),
                e,
                group,
                &region,
            ));
            continue;
        }
        let result = check_one_stream(
            client,
            group,
            host,
            instance_id,
            threshold_ms,
            now_ms,
            max_age,
        )
        .await;
        match result {
            Ok(r) => results.push(r),
            Err(e) => {
                results.push(error_result(
                    CHECK_HOST_STREAM,
                    Some(host),
                    &e,
                    group,
                    &region,
                ));
                if matches!(e, LogsError::NotFound { .. }) {
                    group_missing = Some(e);
                }
            }
        }
    }
    results
}

async fn check_one_stream(
    client: &Client,
    group: &str,
    host: &str,
    instance_id: &str,
    threshold_ms: i64,
    now_ms: i64,
    max_age: Duration,
) -> Result<CheckResult, LogsError> {
    let streams = find_host_streams(client, group, instance_id).await?;
    if streams.is_empty() {
        return Ok(CheckResult::fail(
            CHECK_HOST_STREAM,
            Some(host),
            format!("no stream named after {instance_id} in {group}"),
            hint_stream_missing(),
        ));
    }
    let mut newest: Option<(i64, &str)> = None;
    for s in &streams {
        let name = s.log_stream_name().unwrap_or_default();
        if let Some(ts) = newest_event_ms(client, group, s, threshold_ms).await? {
            if newest.is_none_or(|(best, _)| ts > best) {
                newest = Some((ts, name));
            }
        }
    }
    let names: Vec<&str> = streams
        .iter()
        .filter_map(LogStream::log_stream_name)
        .collect();
    Ok(match newest {
        None => CheckResult::fail(
            CHECK_HOST_STREAM,
            Some(host),
            format!("stream {} in {group} holds no events", names.join(", ")),
            format!(
                "the stream exists but nothing arrives: {}; the agent's own log is \
                 /opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log",
                hint_stream_missing()
            ),
        ),
        Some((ts, name)) if ts < threshold_ms => CheckResult::fail(
            CHECK_HOST_STREAM,
            Some(host),
            format!(
                "stream {name}: newest event at {} ({} ago)",
                format_ms(ts),
                age_text(now_ms - ts)
            ),
            hint_stale(ts, max_age),
        ),
        Some((ts, name)) => {
            let mut detail = format!(
                "stream {name}: newest event at {} ({} ago, max-age {})",
                format_ms(ts),
                age_text(now_ms - ts),
                humantime::format_duration(max_age)
            );
            if ts > now_ms + 300_000 {
                detail.push_str("; the event is in the future: is the host clock ahead?");
            }
            CheckResult::pass(CHECK_HOST_STREAM, Some(host), detail)
        }
    })
}

/// What a cloud-init output line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudInitLine {
    /// `Cloud-init v. … finished at …`: the final stage ran.
    Finished,
    /// A module or the user-data script failed.
    Failure,
}

/// Classifies one line of `cloud-init-output.log`; `None` for everything else.
pub fn classify_cloud_init_line(line: &str) -> Option<CloudInitLine> {
    let scripts_user = line.contains("scripts-user") || line.contains("scripts_user");
    if line.contains("Failed to run module")
        || line.contains("Failed running /var/lib/cloud")
        || (scripts_user && (line.contains("failed") || line.contains("Failed")))
    {
        return Some(CloudInitLine::Failure);
    }
    if line.contains("Cloud-init v.") && line.contains("finished at") {
        return Some(CloudInitLine::Finished);
    }
    None
}

/// Checks that cloud-init finished without module failures on the host, by looking at its
/// streams since `since` for cloud-init's final line and for failure markers.
pub async fn check_cloud_init(
    client: &Client,
    group: &str,
    instance_id: &str,
    since: SystemTime,
) -> CheckResult {
    let region = region_of(client);
    let host = Some(instance_id);
    match scan_cloud_init(client, group, instance_id, since).await {
        Err(e) => error_result(CHECK_CLOUD_INIT, host, &e, group, &region),
        Ok(None) => CheckResult::fail(
            CHECK_CLOUD_INIT,
            host,
            format!("no stream named after {instance_id} in {group}"),
            hint_stream_missing(),
        ),
        Ok(Some(scan)) => {
            if let Some((ts, line)) = scan.failures.first() {
                CheckResult::fail(
                    CHECK_CLOUD_INIT,
                    host,
                    format!(
                        "{} cloud-init failure line(s) since {}; first at {}: {}",
                        scan.failures.len(),
                        format_ms(epoch_ms(since)),
                        format_ms(*ts),
                        shorten(line)
                    ),
                    "a cloud-init module (usually scripts-user, i.e. the user-data script) \
                     failed: read /var/log/cloud-init-output.log on the host (or this \
                     stream) around that time, fix the script, and relaunch the instance",
                )
            } else if let Some((ts, line)) = scan.finished.last() {
                CheckResult::pass(
                    CHECK_CLOUD_INIT,
                    host,
                    format!(
                        "cloud-init finished (logged {}): {}",
                        format_ms(*ts),
                        shorten(line)
                    ),
                )
            } else {
                CheckResult::fail(
                    CHECK_CLOUD_INIT,
                    host,
                    format!(
                        "no `Cloud-init v. … finished at …` line in {} since {}",
                        scan.streams.join(", "),
                        format_ms(epoch_ms(since))
                    ),
                    "cloud-init is still running (instance just launched), \
                     /var/log/cloud-init-output.log is not in the agent's collect_list, or \
                     the time range starts after the last boot (look further back)",
                )
            }
        }
    }
}

/// Lines found by [`scan_cloud_init`], each `(timestamp ms, message)`.
struct CloudInitScan {
    streams: Vec<String>,
    finished: Vec<(i64, String)>,
    failures: Vec<(i64, String)>,
}

/// `Ok(None)` when the host has no stream.
async fn scan_cloud_init(
    client: &Client,
    group: &str,
    instance_id: &str,
    since: SystemTime,
) -> Result<Option<CloudInitScan>, LogsError> {
    let streams: Vec<String> = find_host_streams(client, group, instance_id)
        .await?
        .iter()
        .filter_map(|s| s.log_stream_name().map(str::to_owned))
        .collect();
    if streams.is_empty() {
        return Ok(None);
    }
    let mut scan = CloudInitScan {
        // FilterLogEvents accepts at most 100 stream names.
        streams: streams.into_iter().take(100).collect(),
        finished: Vec::new(),
        failures: Vec::new(),
    };
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = client
            .filter_log_events()
            .log_group_name(group)
            .set_log_stream_names(Some(scan.streams.clone()))
            .start_time(epoch_ms(since))
            .filter_pattern(CLOUD_INIT_FILTER_PATTERN)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| LogsError::from_sdk("FilterLogEvents", e))?;
        for ev in out.events() {
            let msg = ev.message().unwrap_or_default();
            let ts = ev.timestamp().unwrap_or_default();
            match classify_cloud_init_line(msg) {
                Some(CloudInitLine::Finished) => scan.finished.push((ts, msg.to_owned())),
                Some(CloudInitLine::Failure) => scan.failures.push((ts, msg.to_owned())),
                None => {}
            }
        }
        match out.next_token() {
            Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                token = Some(next.to_owned());
            }
            _ => break,
        }
    }
    scan.finished.sort_by_key(|(ts, _)| *ts);
    scan.failures.sort_by_key(|(ts, _)| *ts);
    Ok(Some(scan))
}

/// What the log checks look at: the one definition is
/// [`monitor_checks::checklist::LogPlan`] (group, expected retention, hosts, newest-event
/// age, cloud-init start); this name is kept for existing callers.
pub type LogCheckPlan = monitor_checks::checklist::LogPlan;

/// Runs every log check of `plan`: the group, then per host its stream and cloud-init.
/// Per-host checks are skipped when the group check fails (they would repeat its cause).
pub async fn run_log_checks(client: &Client, plan: &LogCheckPlan) -> Vec<CheckResult> {
    let (group, group_found) =
        check_log_group_found(client, &plan.group, plan.expected_retention).await;
    let mut out = vec![group];
    if !group_found {
        return out;
    }
    out.extend(check_host_streams(client, &plan.group, &plan.hosts, plan.max_age).await);
    for (host, instance_id) in &plan.hosts {
        let mut r = check_cloud_init(client, &plan.group, instance_id, plan.cloud_init_since).await;
        r.host = Some(host.clone());
        out.push(r);
    }
    out
}

async fn find_log_group(
    client: &Client,
    group: &str,
) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, LogsError> {
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = client
            .describe_log_groups()
            .log_group_name_prefix(group)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| LogsError::from_sdk("DescribeLogGroups", e))?;
        if let Some(g) = out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(group))
        {
            return Ok(Some(g.clone()));
        }
        match out.next_token() {
            Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                token = Some(next.to_owned());
            }
            _ => break,
        }
    }
    Ok(None)
}

/// The group's streams that belong to `instance_id` (see the module docs).
async fn find_host_streams(
    client: &Client,
    group: &str,
    instance_id: &str,
) -> Result<Vec<LogStream>, LogsError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = client
            .describe_log_streams()
            .log_group_name(group)
            .log_stream_name_prefix(instance_id)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| LogsError::from_sdk("DescribeLogStreams", e))?;
        found.extend(
            out.log_streams()
                .iter()
                .filter(|s| {
                    s.log_stream_name()
                        .is_some_and(|n| stream_belongs_to(n, instance_id))
                })
                .cloned(),
        );
        match out.next_token() {
            Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                token = Some(next.to_owned());
            }
            _ => break,
        }
    }
    Ok(found)
}

/// `i-0abc` owns `i-0abc` and `i-0abc/cloud-init`, not `i-0abcd`.
fn stream_belongs_to(stream: &str, instance_id: &str) -> bool {
    match stream.strip_prefix(instance_id) {
        Some(rest) => rest
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric()),
        None => false,
    }
}

/// The stream's newest event time. `lastEventTimestamp` from DescribeLogStreams is only
/// eventually consistent (it can lag ingestion by up to an hour), so unless it is already
/// fresh, the newest event is read with GetLogEvents (`startFromHead=false`, `limit=1`).
async fn newest_event_ms(
    client: &Client,
    group: &str,
    stream: &LogStream,
    threshold_ms: i64,
) -> Result<Option<i64>, LogsError> {
    let listed = stream.last_event_timestamp();
    if listed.is_some_and(|ts| ts >= threshold_ms) {
        return Ok(listed);
    }
    let out = client
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream.log_stream_name().unwrap_or_default())
        .start_from_head(false)
        .limit(1)
        .send()
        .await
        .map_err(|e| LogsError::from_sdk("GetLogEvents", e))?;
    let read = out.events().iter().filter_map(|e| e.timestamp()).max();
    Ok(listed.into_iter().chain(read).max())
}

fn error_result(
    name: &str,
    host: Option<&str>,
    err: &LogsError,
    group: &str,
    region: &str,
) -> CheckResult {
    match err {
        LogsError::NotFound { .. } => CheckResult::fail(
            name,
            host,
            format!("log group {group} not found in region {region}"),
            hint_group_missing(group, region),
        ),
        LogsError::AccessDenied { action, .. } => {
            CheckResult::fail(name, host, err.to_string(), hint_access_denied(action))
        }
        LogsError::Throttled { .. } => CheckResult::fail(
            name,
            host,
            err.to_string(),
            "CloudWatch Logs throttled the verification calls; run the checks again",
        ),
        _ => CheckResult::fail(
            name,
            host,
            err.to_string(),
            format!(
                "could not ask CloudWatch Logs in {region}: check credentials, region and \
                 network"
            ),
        ),
    }
}

fn region_of(client: &Client) -> String {
    client
        .config()
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "(no region configured)".to_owned())
}

fn retention_text(days: Option<i32>) -> String {
    match days {
        Some(d) => format!("{d} days"),
        None => "never expire".to_owned(),
    }
}

fn age_text(ms: i64) -> String {
    let secs = u64::try_from(ms.max(0) / 1000).unwrap_or(0);
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

fn shorten(line: &str) -> String {
    const MAX: usize = 200;
    let line = line.trim_end();
    if line.chars().count() <= MAX {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_matched_by_instance_id() {
        assert!(stream_belongs_to("i-0abc", "i-0abc"));
        assert!(stream_belongs_to("i-0abc/cloud-init", "i-0abc"));
        assert!(stream_belongs_to("i-0abc.messages", "i-0abc"));
        assert!(!stream_belongs_to("i-0abcd", "i-0abc"));
        assert!(!stream_belongs_to("host-i-0abc", "i-0abc"));
    }

    #[test]
    fn cloud_init_lines_are_classified() {
        let finished = "Cloud-init v. 22.2.2 finished at Mon, 01 Jan 2024 00:00:30 +0000. \
                        Datasource DataSourceEc2.  Up 30.12 seconds";
        assert_eq!(
            classify_cloud_init_line(finished),
            Some(CloudInitLine::Finished)
        );
        for failed in [
            "2024-01-01 00:00:29,000 - cc_scripts_user.py[WARNING]: Failed to run module \
             scripts-user (scripts in /var/lib/cloud/instance/scripts)",
            "2024-01-01 00:00:29,000 - util.py[WARNING]: Failed running \
             /var/lib/cloud/instance/scripts/part-001 [1]",
            "2024-01-01 00:00:29,000 - util.py[WARNING]: Running module scripts-user \
             (<module 'cloudinit.config.cc_scripts_user'>) failed",
        ] {
            assert_eq!(
                classify_cloud_init_line(failed),
                Some(CloudInitLine::Failure),
                "{failed}"
            );
        }
        assert_eq!(
            classify_cloud_init_line("Cloud-init v. 22.2.2 running 'modules:final'"),
            None
        );
        assert_eq!(classify_cloud_init_line("sshd: session opened"), None);
    }

    #[test]
    fn hints_name_the_cause() {
        let h = hint_group_missing("/monitoring-test/system", "eu-west-1");
        assert!(h.contains("wrong region or wrong group name"));
        assert!(h.contains("/monitoring-test/system not found in region eu-west-1"));
        assert!(h.contains("`monitor-provision apply` creates it"));
        assert!(hint_stream_missing().contains("logs:CreateLogStream/logs:PutLogEvents"));
        let s = hint_stale(1_714_564_800_000, Duration::from_secs(600));
        assert_eq!(
            s,
            "agent stopped or time range/clock: newest event at 2024-05-01T12:00:00.000Z, \
             older than max-age 10m"
        );
        assert!(hint_access_denied("FilterLogEvents").contains("logs:FilterLogEvents"));
    }

    #[test]
    fn access_denied_names_the_action() {
        let e = LogsError::AccessDenied {
            action: "DescribeLogStreams",
            message: "User is not authorized".into(),
        };
        let r = error_result(CHECK_HOST_STREAM, Some("web-1"), &e, "/g", "eu-west-1");
        assert!(!r.passed());
        assert!(
            r.hint
                .as_deref()
                .unwrap()
                .contains("logs:DescribeLogStreams"),
            "{r:?}"
        );
        assert_eq!(r.host.as_deref(), Some("web-1"));
    }

    #[test]
    fn long_lines_are_shortened() {
        let s = shorten(&"x".repeat(300));
        assert_eq!(s.chars().count(), 201);
        assert_eq!(shorten("short\n"), "short");
    }
}
