//! Dashboard JSON: snapshots (reviewed) and structure — schema version, unique panel ids,
//! non-overlapping grid positions, every Prometheus reference through `${ds_prometheus}`,
//! every PromQL expression parses, the logs panel uses the seed's query.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers, not only #[test] fns

use monitor_grafana::dashboards::{
    hosts_dashboard, logs_dashboard, panel_queries, structural_problems, variable_queries,
    PanelKind, Target, SCHEMA_VERSION, SEED_LOGS_QUERY,
};

const REGION: &str = "eu-west-1";
const GROUP: &str = "/monitoring-test/system";
const GROUP_ARN: &str = "arn:aws:logs:eu-west-1:123456789012:log-group:/monitoring-test/system:*";

#[test]
fn hosts_dashboard_snapshot() {
    insta::assert_json_snapshot!("hosts_dashboard", hosts_dashboard("monitoring-test"));
}

#[test]
fn logs_dashboard_snapshot() {
    insta::assert_json_snapshot!(
        "logs_dashboard",
        logs_dashboard("monitoring-test", REGION, GROUP, GROUP_ARN)
    );
}

#[test]
fn dashboards_are_structurally_sound() {
    for d in [
        hosts_dashboard("monitoring-test"),
        logs_dashboard("monitoring-test", REGION, GROUP, GROUP_ARN),
    ] {
        assert_eq!(d.schema_version, SCHEMA_VERSION);
        let problems = structural_problems(&d);
        assert!(problems.is_empty(), "{}: {problems:#?}", d.title);
        // The same checks on the serialised JSON, independent of the typed model.
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["schemaVersion"], SCHEMA_VERSION);
        assert!(v["id"].is_null());
        let panels = v["panels"].as_array().unwrap();
        let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), panels.len(), "duplicate panel ids");
        for p in panels.iter().filter(|p| p["type"] != "row") {
            for t in p["targets"].as_array().unwrap() {
                if t.get("expr").is_some() {
                    assert_eq!(t["datasource"]["uid"], "${ds_prometheus}", "{}", p["title"]);
                }
            }
        }
    }
}

#[test]
fn structural_check_catches_overlap_duplicates_and_hardcoded_datasources() {
    let mut d = hosts_dashboard("s");
    d.panels[2].grid_pos = d.panels[1].grid_pos;
    d.panels[3].id = d.panels[4].id;
    if let Target::Prometheus(t) = &mut d.panels[7].targets[0] {
        t.datasource.uid = "P1809F7CD0C75ACF3".into();
    }
    let p = structural_problems(&d).join("\n");
    assert!(p.contains("overlap"), "{p}");
    assert!(p.contains("duplicate panel id"), "{p}");
    assert!(p.contains("is not ${ds_prometheus}"), "{p}");
}

#[test]
fn hosts_dashboard_covers_the_issue_panels_and_variables() {
    let d = hosts_dashboard("monitoring-test");
    let titles: Vec<&str> = d.panels.iter().map(|p| p.title.as_str()).collect();
    for want in [
        "CPU utilisation",
        "CPU by mode",
        "Load per CPU",
        "Memory",
        "Swap",
        "Filesystem usage",
        "Disk read / write",
        "Disk IOPS",
        "Disk utilisation",
        "Network traffic",
        "Network errors and drops",
        "Uptime",
    ] {
        assert!(titles.contains(&want), "missing panel {want}: {titles:?}");
    }
    let row = d
        .panels
        .iter()
        .find(|p| p.kind == PanelKind::Row && p.repeat.is_some())
        .unwrap();
    assert_eq!(row.repeat.as_deref(), Some("instance"));
    let vars: Vec<(String, String)> = variable_queries(&d);
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["env", "role", "team", "instance"]);
    for v in d
        .templating
        .list
        .iter()
        .filter(|v| v.name != "ds_prometheus")
    {
        assert!(
            v.multi && v.include_all && v.all_value.as_deref() == Some(".*"),
            "{}",
            v.name
        );
    }
    for (title, expr) in panel_queries(&d) {
        for var in ["$env", "$role", "$team", "$instance"] {
            assert!(
                expr.contains(var),
                "{title}: {expr} does not filter by {var}"
            );
        }
        if expr.contains("rate(") {
            assert!(expr.contains("[$__rate_interval]"), "{title}: {expr}");
        }
    }
}

#[test]
fn logs_dashboard_runs_the_seed_query_on_the_stack_group() {
    let d = logs_dashboard("monitoring-test", REGION, GROUP, GROUP_ARN);
    let Target::CloudWatchLogs(t) = &d.panels[0].targets[0] else {
        panic!("not a logs target")
    };
    assert_eq!(d.panels[0].kind, PanelKind::Logs);
    assert_eq!(t.query_mode, "Logs");
    assert_eq!(t.region, REGION);
    assert_eq!(t.log_groups[0].name, GROUP);
    assert_eq!(t.log_groups[0].arn, GROUP_ARN.trim_end_matches(":*"));
    // The seed's query, with the instance-stream filter inserted before the sort.
    let (head, tail) = SEED_LOGS_QUERY.split_once(" | sort").unwrap();
    assert!(t.expression.starts_with(head), "{}", t.expression);
    assert!(
        t.expression.ends_with(&format!(" | sort{tail}")),
        "{}",
        t.expression
    );
    assert!(t
        .expression
        .contains("filter @logStream like /^${instance:regex}$/"));
    assert_eq!(t.datasource.uid, "${ds_cloudwatch}");
}

#[test]
fn every_panel_query_parses_as_promql() {
    let d = hosts_dashboard("monitoring-test");
    for (title, expr) in panel_queries(&d) {
        let e = expr
            .replace("$__rate_interval", "30s")
            .replace("$env", ".*")
            .replace("$role", ".*")
            .replace("$team", ".*")
            .replace("$instance", ".*");
        if let Err(err) = promql_parser::parser::parse(&e) {
            panic!("panel {title:?}: {e}\n{err}");
        }
    }
}
