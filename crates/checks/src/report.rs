//! Check results and the report: pure data, rendered as an aligned table or JSON.

use serde::Serialize;
use std::io::Write;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check passed.
    Pass,
    /// The check failed; the result carries a hint.
    Fail,
    /// The check could not or need not run (not a failure).
    Skip,
    /// Something needs attention but works (e.g. an SNS subscription pending
    /// confirmation); not a failure, the result carries a hint.
    Warn,
}

impl Status {
    /// Upper-case label for the table (`PASS`, `FAIL`, `SKIP`).
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Stable id, e.g. `metrics.up` (see [`crate::catalog`]).
    pub check: String,
    /// The host the check is about (`None` for global checks).
    pub host: Option<String>,
    /// Pass, fail or skip.
    pub status: Status,
    /// What was found, one line.
    pub detail: String,
    /// On failure: the likely cause and the fix, one line.
    pub hint: Option<String>,
}

impl CheckResult {
    /// A passing result.
    pub fn pass(check: &str, host: Option<&str>, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            check: check.to_string(),
            host: host.map(str::to_string),
            status: Status::Pass,
            detail: detail.into(),
            hint: None,
        }
    }

    /// A failing result with its hint.
    pub fn fail(
        check: &str,
        host: Option<&str>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> CheckResult {
        CheckResult {
            check: check.to_string(),
            host: host.map(str::to_string),
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    /// A warning with its hint: worth acting on, not a failure (exit code unaffected).
    pub fn warn(
        check: &str,
        host: Option<&str>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> CheckResult {
        CheckResult {
            check: check.to_string(),
            host: host.map(str::to_string),
            status: Status::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    /// True when the check passed.
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    /// A skipped result; `detail` says why.
    pub fn skip(check: &str, host: Option<&str>, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            check: check.to_string(),
            host: host.map(str::to_string),
            status: Status::Skip,
            detail: detail.into(),
            hint: None,
        }
    }
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed checks.
    pub pass: usize,
    /// Failed checks.
    pub fail: usize,
    /// Skipped checks.
    pub skip: usize,
    /// Warnings (omitted from JSON when zero, as before warnings existed).
    #[serde(skip_serializing_if = "is_zero")]
    pub warn: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The results of a verification run, in the order they are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The results.
    pub results: Vec<CheckResult>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    ok: bool,
    exit_code: u8,
    summary: Summary,
    results: &'a [CheckResult],
}

impl Report {
    /// The EC2 instance ids (`i-…`) the results are about, sorted, without repeats —
    /// how `monitor-verify all` finds the hosts whose logs to check from the metrics run.
    pub fn instance_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .results
            .iter()
            .filter_map(|r| r.host.clone())
            .filter(|h| h.starts_with("i-"))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// An empty report.
    pub fn new() -> Report {
        Report::default()
    }

    /// Adds one result.
    pub fn push(&mut self, r: CheckResult) {
        self.results.push(r);
    }

    /// Appends another report's results (e.g. the logs or AWS checks of a later issue).
    pub fn extend(&mut self, other: Report) {
        self.results.extend(other.results);
    }

    /// Counts per status.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
                Status::Warn => s.warn += 1,
            }
        }
        s
    }

    /// Whether no check failed (skips and warnings are fine).
    pub fn is_ok(&self) -> bool {
        self.results.iter().all(|r| r.status != Status::Fail)
    }

    /// 0 when every check passed or was skipped, 1 when any failed.
    pub fn exit_code(&self) -> u8 {
        if self.is_ok() {
            0
        } else {
            1
        }
    }

    /// The results of one check id, in order.
    pub fn of(&self, check: &str) -> impl Iterator<Item = &CheckResult> {
        let check = check.to_string();
        self.results.iter().filter(move |r| r.check == check)
    }

    /// Renders the report as `format` says: [`Report::render_table`] or
    /// [`Report::render_json`].
    pub fn render(&self, format: crate::OutputFormat, out: &mut impl Write) -> std::io::Result<()> {
        match format {
            crate::OutputFormat::Table => self.render_table(out),
            crate::OutputFormat::Json => self.render_json(out),
        }
    }

    /// Aligned columns `STATUS CHECK HOST DETAIL`, a `→ hint:` line under each failure
    /// (`as above` when it repeats the previous failure's hint), and a summary line.
    pub fn render_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let host = |r: &CheckResult| r.host.clone().unwrap_or_else(|| "-".into());
        let w_status = "STATUS".len();
        let w_check = self
            .results
            .iter()
            .map(|r| r.check.chars().count())
            .chain(["CHECK".len()])
            .max()
            .unwrap_or(5);
        let w_host = self
            .results
            .iter()
            .map(|r| host(r).chars().count())
            .chain(["HOST".len()])
            .max()
            .unwrap_or(4);
        writeln!(
            out,
            "{:<w_status$}  {:<w_check$}  {:<w_host$}  DETAIL",
            "STATUS", "CHECK", "HOST"
        )?;
        let mut last_hint: Option<&str> = None;
        for r in &self.results {
            writeln!(
                out,
                "{:<w_status$}  {:<w_check$}  {:<w_host$}  {}",
                r.status.label(),
                r.check,
                host(r),
                r.detail
            )?;
            if let (Status::Fail | Status::Warn, Some(h)) = (r.status, &r.hint) {
                // The same hint on consecutive failures (e.g. every freshness check of a
                // host) is written once; JSON keeps every hint.
                if last_hint == Some(h.as_str()) {
                    writeln!(out, "{:w_status$}  → hint: as above", "")?;
                } else {
                    writeln!(out, "{:w_status$}  → hint: {h}", "")?;
                }
                last_hint = Some(h);
            }
        }
        let s = self.summary();
        let warn = if s.warn > 0 {
            format!(" · {} warn", s.warn)
        } else {
            String::new()
        };
        writeln!(
            out,
            "\nchecks: {} pass · {} fail · {} skip{warn}",
            s.pass, s.fail, s.skip
        )
    }

    /// One JSON object: `ok`, `exit_code`, `summary` and `results`
    /// (`{"check","host","status":"pass|fail|skip|warn","detail","hint"}`).
    pub fn render_json(&self, out: &mut impl Write) -> std::io::Result<()> {
        let doc = JsonReport {
            ok: self.is_ok(),
            exit_code: self.exit_code(),
            summary: self.summary(),
            results: &self.results,
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn instance_ids_are_the_hosts_that_look_like_ec2_ids() {
        let r = Report {
            results: vec![
                CheckResult::pass("metrics.up", Some("i-0b"), "ok"),
                CheckResult::pass("metrics.up", Some("127.0.0.1:9100"), "ok"),
                CheckResult::fail("metrics.labels", Some("i-0a"), "x", "y"),
                CheckResult::pass("metrics.fresh.cpu", Some("i-0b"), "ok"),
                CheckResult::skip("aws.ssm_online", None, "later"),
            ],
        };
        assert_eq!(
            r.instance_ids(),
            vec!["i-0a".to_string(), "i-0b".to_string()]
        );
    }
    use super::*;

    fn sample() -> Report {
        Report {
            results: vec![
                CheckResult::pass("metrics.endpoint", None, "answers"),
                CheckResult::fail("metrics.up", Some("i-0abc"), "up == 0", "curl it"),
                CheckResult::fail("metrics.fresh.cpu", Some("i-0abc"), "no data", "curl it"),
                CheckResult::skip("aws.ssm_online", None, "later"),
            ],
        }
    }

    #[test]
    fn exit_code_is_one_only_on_failure() {
        let mut r = sample();
        assert_eq!(r.exit_code(), 1);
        r.results.retain(|r| r.status != Status::Fail);
        assert_eq!(r.exit_code(), 0);
        assert_eq!(Report::new().exit_code(), 0);
    }

    #[test]
    fn table_is_aligned_with_hints_under_failures() {
        let mut out = Vec::new();
        sample().render_table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
STATUS  CHECK              HOST    DETAIL
PASS    metrics.endpoint   -       answers
FAIL    metrics.up         i-0abc  up == 0
        → hint: curl it
FAIL    metrics.fresh.cpu  i-0abc  no data
        → hint: as above
SKIP    aws.ssm_online     -       later

checks: 1 pass · 2 fail · 1 skip
";
        assert_eq!(text, expected);
    }

    #[test]
    fn warnings_show_their_hint_and_do_not_fail_the_run() {
        let r = Report {
            results: vec![
                CheckResult::pass("alerts.sns_policy", None, "ok"),
                CheckResult::warn(
                    "alerts.sns_subscriptions",
                    None,
                    "a@b pending",
                    "confirm the email",
                ),
            ],
        };
        assert_eq!(r.exit_code(), 0);
        let mut out = Vec::new();
        r.render_table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("WARN    alerts.sns_subscriptions  -     a@b pending\n        → hint: confirm the email\n"), "{text}");
        assert!(
            text.ends_with("checks: 1 pass · 0 fail · 0 skip · 1 warn\n"),
            "{text}"
        );
        let mut out = Vec::new();
        r.render_json(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["results"][1]["status"], "warn");
        assert_eq!(v["summary"]["warn"], 1);
    }

    #[test]
    fn json_has_summary_and_lowercase_status() {
        let mut out = Vec::new();
        sample().render_json(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["summary"]["fail"], 2);
        assert_eq!(v["results"][1]["status"], "fail");
        assert_eq!(v["results"][1]["hint"], "curl it");
        assert_eq!(v["results"][0]["host"], serde_json::Value::Null);
        assert!(
            v["summary"].get("warn").is_none(),
            "no warn key without warnings"
        );
    }
}
