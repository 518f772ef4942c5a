//! `metric_relabel_configs`: Prometheus' relabelling of scraped series, applied after the
//! `job` and `instance` labels are attached and before the external `[labels]` are, with
//! Prometheus' semantics for the actions users reach for — `keep`, `drop`, `replace`,
//! `labeldrop`, `labelkeep` (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/#relabel_config>):
//!
//! - the source value is the values of `source_labels` (a missing label is `""`) joined
//!   by `separator` (default `;`);
//! - `regex` (default `(.*)`) is anchored at both ends, RE2 syntax (the `regex` crate's is
//!   the same for everything Prometheus' docs use);
//! - `replace` (the default action) sets `target_label` to `replacement` (default `$1`)
//!   expanded with the match's groups (`$1`, `${1}`, `$name`), only when the regex
//!   matches; an empty result removes the label;
//! - `keep` drops the series unless the value matches, `drop` drops it if it does;
//! - `labeldrop` / `labelkeep` remove the labels whose *names* match / do not match.
//!
//! A series left without `__name__` is dropped; labels left with empty values are removed.
//! The agent applies the rules once per distinct series text and caches the outcome, so
//! relabelling costs nothing per steady-state sample.

use regex::Regex;

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Set `target_label` from the expanded `replacement` when the regex matches.
    Replace,
    /// Drop the series unless the source value matches.
    Keep,
    /// Drop the series if the source value matches.
    Drop,
    /// Remove the labels whose names match.
    LabelDrop,
    /// Remove the labels whose names do not match.
    LabelKeep,
}

impl Action {
    /// The action named as in Prometheus' configuration.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            _ => return None,
        })
    }
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    /// Labels whose values are joined into the source value.
    pub source_labels: Vec<String>,
    /// Joins the source values (default `;`).
    pub separator: String,
    /// The regex as written (for messages and equality).
    pub regex_text: String,
    regex: Regex,
    /// The label `replace` sets (may use `$1`…).
    pub target_label: String,
    /// What `replace` writes (default `$1`).
    pub replacement: String,
    /// The action.
    pub action: Action,
}

impl PartialEq for RelabelConfig {
    fn eq(&self, other: &RelabelConfig) -> bool {
        (
            &self.source_labels,
            &self.separator,
            &self.regex_text,
            &self.target_label,
            &self.replacement,
            self.action,
        ) == (
            &other.source_labels,
            &other.separator,
            &other.regex_text,
            &other.target_label,
            &other.replacement,
            other.action,
        )
    }
}

impl RelabelConfig {
    /// A rule; `regex` is anchored here. The checks Prometheus makes at load time are
    /// made too, so a rule that cannot work is refused with the reason.
    ///
    /// # Errors
    /// The reason, e.g. an invalid regex or `replace` without `target_label`.
    pub fn new(
        action: Action,
        source_labels: Vec<String>,
        separator: Option<String>,
        regex: Option<&str>,
        target_label: Option<String>,
        replacement: Option<String>,
    ) -> Result<RelabelConfig, String> {
        let regex_text = regex.unwrap_or("(.*)").to_string();
        let compiled = Regex::new(&format!("^(?:{regex_text})$"))
            .map_err(|e| format!("invalid regex {regex_text:?}: {e}"))?;
        let target_label = target_label.unwrap_or_default();
        match action {
            Action::Replace if target_label.is_empty() => {
                return Err("action replace needs target_label".into())
            }
            Action::Keep | Action::Drop if source_labels.is_empty() => {
                return Err(format!(
                    "action {} needs source_labels",
                    if action == Action::Keep { "keep" } else { "drop" }
                ))
            }
            Action::LabelDrop | Action::LabelKeep if !source_labels.is_empty() || !target_label.is_empty() => {
                return Err("labeldrop/labelkeep match label names with regex only: remove source_labels and target_label".into())
            }
            _ => {}
        }
        Ok(RelabelConfig {
            source_labels,
            separator: separator.unwrap_or_else(|| ";".into()),
            regex_text,
            regex: compiled,
            target_label,
            replacement: replacement.unwrap_or_else(|| "$1".into()),
            action,
        })
    }

    fn source_value(&self, labels: &[(String, String)]) -> String {
        let mut out = String::new();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.separator);
            }
            if let Some((_, v)) = labels.iter().find(|(n, _)| n == name) {
                out.push_str(v);
            }
        }
        out
    }
}

/// Applies `rules` in order to `labels` (name/value pairs, any order). Returns `false`
/// when the series is dropped.
pub fn relabel(labels: &mut Vec<(String, String)>, rules: &[RelabelConfig]) -> bool {
    for r in rules {
        match r.action {
            Action::Keep => {
                if !r.regex.is_match(&r.source_value(labels)) {
                    return false;
                }
            }
            Action::Drop => {
                if r.regex.is_match(&r.source_value(labels)) {
                    return false;
                }
            }
            Action::Replace => {
                let value = r.source_value(labels);
                let Some(caps) = r.regex.captures(&value) else {
                    continue;
                };
                let mut target = String::new();
                caps.expand(&r.target_label, &mut target);
                let mut result = String::new();
                caps.expand(&r.replacement, &mut result);
                labels.retain(|(n, _)| *n != target);
                if !result.is_empty()
                    && monitor_amp::LabelName::of(&target) != monitor_amp::LabelName::Invalid
                {
                    labels.push((target, result));
                }
            }
            Action::LabelDrop => labels.retain(|(n, _)| !r.regex.is_match(n)),
            Action::LabelKeep => labels.retain(|(n, _)| r.regex.is_match(n)),
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    labels.iter().any(|(n, _)| n == "__name__")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: &str, src: &[&str], regex: Option<&str>) -> RelabelConfig {
        RelabelConfig::new(
            Action::parse(action).unwrap(),
            src.iter().map(|s| s.to_string()).collect(),
            None,
            regex,
            None,
            None,
        )
        .unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn keep_and_drop_match_the_whole_joined_value() {
        let keep = [rule(
            "keep",
            &["__name__"],
            Some("node_cpu_.*|node_memory_MemAvailable_bytes"),
        )];
        assert!(relabel(
            &mut labels(&[("__name__", "node_cpu_seconds_total")]),
            &keep
        ));
        assert!(!relabel(
            &mut labels(&[("__name__", "node_memory_Active_bytes")]),
            &keep
        ));
        // Anchored: a substring is not a match.
        assert!(!relabel(
            &mut labels(&[("__name__", "xnode_cpu_seconds_total")]),
            &keep
        ));

        let drop = [rule(
            "drop",
            &["__name__", "fstype"],
            Some("node_filesystem_.*;(tmpfs|overlay)"),
        )];
        assert!(!relabel(
            &mut labels(&[
                ("__name__", "node_filesystem_avail_bytes"),
                ("fstype", "tmpfs")
            ]),
            &drop
        ));
        assert!(relabel(
            &mut labels(&[
                ("__name__", "node_filesystem_avail_bytes"),
                ("fstype", "ext4")
            ]),
            &drop
        ));
        // A missing source label is the empty string.
        let drop_unlabelled = [rule("drop", &["device"], Some(""))];
        assert!(!relabel(
            &mut labels(&[("__name__", "m")]),
            &drop_unlabelled
        ));
    }

    #[test]
    fn replace_expands_groups_and_an_empty_result_removes_the_label() {
        let r = RelabelConfig::new(
            Action::Replace,
            vec!["device".into()],
            None,
            Some("/dev/(.+)"),
            Some("disk".into()),
            Some("${1}-x".into()),
        )
        .unwrap();
        let mut l = labels(&[("__name__", "m"), ("device", "/dev/nvme0n1")]);
        assert!(relabel(&mut l, std::slice::from_ref(&r)));
        assert!(l.contains(&("disk".into(), "nvme0n1-x".into())), "{l:?}");
        // No match: unchanged.
        let mut l = labels(&[("__name__", "m"), ("device", "sda")]);
        assert!(relabel(&mut l, &[r]));
        assert_eq!(l.len(), 2);

        let clear = RelabelConfig::new(
            Action::Replace,
            vec!["x".into()],
            None,
            None,
            Some("mode".into()),
            Some(String::new()),
        )
        .unwrap();
        let mut l = labels(&[("__name__", "m"), ("mode", "idle")]);
        assert!(relabel(&mut l, &[clear]));
        assert_eq!(l, labels(&[("__name__", "m")]));
    }

    #[test]
    fn labeldrop_and_labelkeep_match_names_and_a_series_without_a_name_is_dropped() {
        let mut l = labels(&[("__name__", "m"), ("cpu", "0"), ("mode", "idle")]);
        assert!(relabel(&mut l, &[rule("labeldrop", &[], Some("cpu|mode"))]));
        assert_eq!(l, labels(&[("__name__", "m")]));
        let mut l = labels(&[("__name__", "m"), ("cpu", "0"), ("job", "node")]);
        assert!(relabel(
            &mut l,
            &[rule("labelkeep", &[], Some("__name__|job"))]
        ));
        assert_eq!(l, labels(&[("__name__", "m"), ("job", "node")]));
        let mut l = labels(&[("__name__", "m")]);
        assert!(!relabel(
            &mut l,
            &[rule("labeldrop", &[], Some("__name__"))]
        ));
    }

    #[test]
    fn rules_that_cannot_work_are_refused_with_the_reason() {
        let e = RelabelConfig::new(
            Action::Keep,
            vec!["a".into()],
            None,
            Some("(unclosed"),
            None,
            None,
        )
        .unwrap_err();
        assert!(e.contains("invalid regex \"(unclosed\""), "{e}");
        let e = RelabelConfig::new(Action::Replace, vec!["a".into()], None, None, None, None)
            .unwrap_err();
        assert!(e.contains("needs target_label"), "{e}");
        let e = RelabelConfig::new(Action::Keep, vec![], None, Some("x"), None, None).unwrap_err();
        assert!(e.contains("needs source_labels"), "{e}");
        let e = RelabelConfig::new(
            Action::LabelDrop,
            vec!["a".into()],
            None,
            Some("x"),
            None,
            None,
        )
        .unwrap_err();
        assert!(e.contains("label names"), "{e}");
        assert_eq!(Action::parse("hashmod"), None);
    }
}
