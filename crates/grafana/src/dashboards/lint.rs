//! The structural linter and the query listings the tests execute.

use super::layout::GRID_WIDTH;
use super::model::{Dashboard, PanelKind, Target, VariableKind};
use super::{DS_CLOUDWATCH_VAR, DS_PROMETHEUS_VAR, SCHEMA_VERSION};

/// Every PromQL expression of the dashboard's panels as `(panel title, expr)`, in panel
/// order (what the "every panel returns data" proof executes).
pub fn panel_queries(d: &Dashboard) -> Vec<(String, String)> {
    d.panels
        .iter()
        .flat_map(|p| {
            p.targets.iter().filter_map(move |t| match t {
                Target::Prometheus(t) => Some((p.title.clone(), t.expr.clone())),
                Target::CloudWatchLogs(_) => None,
            })
        })
        .collect()
}

/// The query variables as `(name, query)` (e.g. `label_values(up{job="node"}, env)`).
pub fn variable_queries(d: &Dashboard) -> Vec<(String, String)> {
    d.templating
        .list
        .iter()
        .filter(|v| v.kind == VariableKind::Query)
        .map(|v| (v.name.clone(), v.query.clone()))
        .collect()
}

/// Structural problems of a dashboard: schema version, duplicate panel ids, overlapping
/// grid positions, panels outside the 24-column grid, datasource references that are not
/// the dashboard's datasource variables, and `$var` uses without a variable. Empty = fine.
pub fn structural_problems(d: &Dashboard) -> Vec<String> {
    let mut out = Vec::new();
    if d.schema_version != SCHEMA_VERSION {
        out.push(format!(
            "schemaVersion {} (want {SCHEMA_VERSION})",
            d.schema_version
        ));
    }
    if d.uid.is_empty() || d.uid.len() > 40 {
        out.push(format!("uid {:?} must be 1–40 characters", d.uid));
    }
    let mut ids = std::collections::BTreeSet::new();
    for p in &d.panels {
        if !ids.insert(p.id) {
            out.push(format!("duplicate panel id {} ({})", p.id, p.title));
        }
        if p.grid_pos.x + p.grid_pos.w > GRID_WIDTH || p.grid_pos.w == 0 || p.grid_pos.h == 0 {
            out.push(format!(
                "panel {:?} has gridPos {:?} outside the grid",
                p.title, p.grid_pos
            ));
        }
    }
    for (i, a) in d.panels.iter().enumerate() {
        for b in &d.panels[i + 1..] {
            if a.grid_pos.overlaps(&b.grid_pos) {
                out.push(format!("panels {:?} and {:?} overlap", a.title, b.title));
            }
        }
    }
    let prom_var = format!("${{{DS_PROMETHEUS_VAR}}}");
    let cw_var = format!("${{{DS_CLOUDWATCH_VAR}}}");
    let var_names: Vec<&str> = d.templating.list.iter().map(|v| v.name.as_str()).collect();
    for p in &d.panels {
        if p.kind == PanelKind::Row {
            continue;
        }
        match &p.datasource {
            Some(ds) if ds.uid == prom_var || ds.uid == cw_var => {}
            other => out.push(format!(
                "panel {:?} datasource {other:?} is not a datasource variable",
                p.title
            )),
        }
        for t in &p.targets {
            let (ds, want, text) = match t {
                Target::Prometheus(t) => (&t.datasource, &prom_var, &t.expr),
                Target::CloudWatchLogs(t) => (&t.datasource, &cw_var, &t.expression),
            };
            if &ds.uid != want {
                out.push(format!(
                    "panel {:?} target datasource {:?} is not {want}",
                    p.title, ds.uid
                ));
            }
            for used in used_variables(text) {
                if !used.starts_with("__") && !var_names.contains(&used.as_str()) {
                    out.push(format!(
                        "panel {:?} uses ${used}, which is not a variable",
                        p.title
                    ));
                }
            }
        }
    }
    for v in &d.templating.list {
        if let Some(ds) = &v.datasource {
            if ds.uid != prom_var {
                out.push(format!(
                    "variable {} datasource {:?} is not {prom_var}",
                    v.name, ds.uid
                ));
            }
        }
    }
    out
}

/// Variable names referenced as `$name` or `${name...}` in a query.
fn used_variables(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let braced = b.get(i + 1) == Some(&b'{');
            let start = if braced { i + 2 } else { i + 1 };
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start {
                out.push(text[start..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{hosts_dashboard, stack_uid};
    use super::*;

    #[test]
    fn uid_is_bounded_and_clean() {
        assert_eq!(
            stack_uid("monitoring-test", "hosts"),
            "monitoring-test-hosts"
        );
        let long = stack_uid(&"x".repeat(80), "hosts");
        assert_eq!(long.len(), 40);
        assert_eq!(stack_uid("a b/c", "logs"), "a-b-c-logs");
    }

    #[test]
    fn used_variables_finds_plain_and_braced() {
        assert_eq!(
            used_variables("a{x=~\"$env\"}[$__rate_interval] ${instance:regex}"),
            vec!["env", "__rate_interval", "instance"]
        );
    }

    #[test]
    fn prometheus_type_is_rewritten_everywhere() {
        let d = hosts_dashboard("s").with_prometheus_type("grafana-amazonprometheus-datasource");
        let json = serde_json::to_string(&d).unwrap_or_default();
        assert!(!json.contains("\"type\":\"prometheus\""), "{json}");
        assert!(structural_problems(&d).is_empty());
    }
}
