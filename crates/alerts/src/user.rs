//! The user's own rule files (`[alerting] rule_files`), validated as `promtool check rules`
//! would before anything is sent: YAML shape, unique group names, one of `record`/`alert`
//! per rule, PromQL that parses (promql-parser), valid metric and label names, Prometheus
//! durations. Errors name the file, the line and the key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use monitor_amp::LabelName;
use serde::Deserialize;

use crate::model::{AlertRule, RecordingRule, Rule, RuleGroup, RulesFile};
use crate::AlertsError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    interval: Option<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    record: Option<String>,
    alert: Option<String>,
    expr: Option<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads and validates the rules file at `path`.
///
/// # Errors
/// [`AlertsError::Read`] or [`AlertsError::UserRules`].
pub fn load(path: &Path) -> Result<RulesFile, AlertsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AlertsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Validates rules-file `text` (`path` only names it in errors).
///
/// # Errors
/// [`AlertsError::UserRules`] naming the line and key of the first problem.
pub fn parse(text: &str, path: &Path) -> Result<RulesFile, AlertsError> {
    let err = |line: usize, key: String, message: String| AlertsError::UserRules {
        path: path.to_path_buf(),
        line,
        key,
        message,
    };
    let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        err(line, "groups".into(), e.to_string())
    })?;
    let mut names = BTreeSet::new();
    let mut groups = Vec::new();
    for (gi, g) in raw.groups.into_iter().enumerate() {
        let gkey = format!("groups[{gi}]");
        let gline = line_of(text, "name:", &g.name);
        if g.name.trim().is_empty() {
            return Err(err(
                gline,
                format!("{gkey}.name"),
                "group name is empty".into(),
            ));
        }
        if !names.insert(g.name.clone()) {
            return Err(err(
                gline,
                format!("{gkey}.name"),
                format!("group name `{}` is used twice", g.name),
            ));
        }
        if let Some(i) = &g.interval {
            duration(i).map_err(|m| err(gline, format!("{gkey}.interval"), m))?;
        }
        let mut rules = Vec::new();
        for (ri, r) in g.rules.into_iter().enumerate() {
            let key = format!("{gkey}.rules[{ri}]");
            rules.push(rule(text, r).map_err(|(line, k, m)| err(line, format!("{key}.{k}"), m))?);
        }
        groups.push(RuleGroup {
            name: g.name,
            interval: g.interval,
            rules,
        });
    }
    Ok(RulesFile { groups })
}

type RuleError = (usize, &'static str, String);

fn rule(text: &str, r: RawRule) -> Result<Rule, RuleError> {
    let (kind, name) = match (&r.record, &r.alert) {
        (Some(n), None) => ("record", n.clone()),
        (None, Some(n)) => ("alert", n.clone()),
        (Some(_), Some(_)) => {
            return Err((
                0,
                "record",
                "a rule has `record` or `alert`, not both".into(),
            ))
        }
        (None, None) => return Err((0, "record", "a rule needs `record` or `alert`".into())),
    };
    let line = line_of(text, &format!("{kind}:"), &name);
    let expr = r.expr.ok_or((line, "expr", "missing `expr`".to_string()))?;
    if let Err(e) = promql_parser::parser::parse(&expr) {
        return Err((line, "expr", format!("`{expr}` is not valid PromQL: {e}")));
    }
    for k in r.labels.keys() {
        if LabelName::of(k) == LabelName::Invalid {
            return Err((line, "labels", format!("`{k}` is not a valid label name")));
        }
    }
    if kind == "record" {
        if !monitor_amp::is_metric_name(&name) {
            return Err((
                line,
                "record",
                format!("`{name}` is not a valid metric name"),
            ));
        }
        if r.for_.is_some() || r.keep_firing_for.is_some() || !r.annotations.is_empty() {
            return Err((
                line,
                "record",
                "a recording rule takes only `record`, `expr` and `labels`".into(),
            ));
        }
        return Ok(Rule::Recording(RecordingRule {
            record: name,
            expr,
            labels: r.labels,
        }));
    }
    if name.trim().is_empty() {
        return Err((line, "alert", "alert name is empty".into()));
    }
    for (k, v) in [("for", &r.for_), ("keep_firing_for", &r.keep_firing_for)] {
        if let Some(d) = v {
            duration(d).map_err(|m| (line, k, m))?;
        }
    }
    for k in r.annotations.keys() {
        if LabelName::of(k) == LabelName::Invalid {
            return Err((
                line,
                "annotations",
                format!("`{k}` is not a valid annotation name"),
            ));
        }
    }
    Ok(Rule::Alert(AlertRule {
        alert: name,
        expr,
        for_: r.for_,
        keep_firing_for: r.keep_firing_for,
        labels: r.labels,
        annotations: r.annotations,
    }))
}

fn duration(s: &str) -> Result<(), String> {
    promql_parser::util::parse_duration(s)
        .map(|_| ())
        .map_err(|e| format!("`{s}` is not a Prometheus duration like `5m` or `1h30m` ({e})"))
}

/// The 1-based line where `key` is followed by `value` (0 when not found).
fn line_of(text: &str, key: &str, value: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim().trim_matches(['"', '\'']) == value)
        })
        .map_or(0, |i| i + 1)
}

/// A file stem as a namespace-name suffix: letters, digits, `-` and `_` kept, anything
/// else becomes `-`.
pub fn namespace_suffix(stem: &str) -> String {
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<RulesFile, String> {
        parse(text, Path::new("app.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_file_round_trips() {
        let f = check(
            "groups:\n- name: app\n  rules:\n  - record: job:http_errors:rate5m\n    expr: sum by (job) (rate(http_errors_total[5m]))\n  - alert: AppErrors\n    expr: job:http_errors:rate5m > 1\n    for: 10m\n    labels: {severity: warning}\n    annotations: {summary: many errors}\n",
        )
        .unwrap();
        assert_eq!(f.rules().count(), 2);
        assert_eq!(check(&f.to_yaml()).unwrap(), f);
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = check("groups:\n- name: app\n  rules:\n  - alert: Bad\n    expr: rate(x[5m]\n")
            .unwrap_err();
        assert!(
            e.starts_with("app.yml:4: key `groups[0].rules[0].expr`"),
            "{e}"
        );
        assert!(e.contains("not valid PromQL"), "{e}");
        let e = check(
            "groups:\n- name: app\n  rules:\n  - alert: Slow\n    expr: up == 0\n    for: soon\n",
        )
        .unwrap_err();
        assert!(
            e.contains("groups[0].rules[0].for") && e.contains("not a Prometheus duration"),
            "{e}"
        );
        let e = check("groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n").unwrap_err();
        assert!(
            e.contains("groups[1].name") && e.contains("used twice"),
            "{e}"
        );
        let e =
            check("groups:\n- name: a\n  rules:\n  - record: 1bad\n    expr: up\n").unwrap_err();
        assert!(e.contains("not a valid metric name"), "{e}");
        let e = check("groups:\n- name: a\n  rules:\n  - expr: up\n").unwrap_err();
        assert!(e.contains("needs `record` or `alert`"), "{e}");
        let e = check("groups:\n- name: a\n  rulez: []\n").unwrap_err();
        assert!(
            e.starts_with("app.yml:3:") && e.contains("unknown field `rulez`"),
            "{e}"
        );
    }
}
