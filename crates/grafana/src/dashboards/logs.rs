//! The System logs dashboard (CloudWatch Logs Insights).

use super::layout::Layout;
use super::model::*;
use super::{
    ds_variable, host_variables, stack_uid, DS_CLOUDWATCH_VAR, DS_PROMETHEUS_VAR,
    PROMETHEUS_CORE_TYPE, SCHEMA_VERSION,
};

/// The Logs Insights query of the logs panel: the seed query limited to the log streams
/// of the selected instances (streams are named after the instance id).
pub fn logs_query() -> String {
    "fields @timestamp, @logStream, @message | filter @logStream like /^${instance:regex}$/ | sort @timestamp desc | limit 10000"
        .to_string()
}

/// The system logs dashboard: CloudWatch Logs Insights on the stack's log group, all lines
/// and error-looking lines, filtered by the `instance` variable (log stream = instance id).
pub fn logs_dashboard(
    stack_name: &str,
    region: &str,
    log_group_name: &str,
    log_group_arn: &str,
) -> Dashboard {
    let group = LogGroup {
        region,
        name: log_group_name,
        // Logs Insights wants the ARN without the `:*` suffix DescribeLogGroups returns.
        arn: log_group_arn.trim_end_matches(":*"),
    };
    let cw = |ref_id: &str, expression: String| group.target(ref_id, expression);
    let mut l = Layout::new();
    l.add(
        24,
        16,
        logs_panel(
            "System logs",
            &format!("Logs Insights on {log_group_name}, newest first, streams of the selected instances."),
            cw("A", logs_query()),
        ),
    );
    l.add(
        24,
        10,
        logs_panel(
            "Errors",
            "Lines that look like failures (error, fail, panic, oom, segfault; any case).",
            cw(
                "A",
                "fields @timestamp, @logStream, @message | filter @logStream like /^${instance:regex}$/ | filter @message like /(?i)(error|fail|panic|oom|segfault)/ | sort @timestamp desc | limit 1000"
                    .to_string(),
            ),
        ),
    );

    let mut list = vec![
        ds_variable(DS_CLOUDWATCH_VAR, "CloudWatch", "cloudwatch"),
        ds_variable(DS_PROMETHEUS_VAR, "Prometheus", PROMETHEUS_CORE_TYPE),
    ];
    list.extend(host_variables());
    Dashboard {
        id: None,
        uid: stack_uid(stack_name, "logs"),
        title: format!("{stack_name} / System logs"),
        description: format!("System logs of the stack's hosts from CloudWatch Logs ({log_group_name}); one log stream per instance id."),
        tags: vec![stack_name.to_string(), "logs".into()],
        timezone: "browser".into(),
        schema_version: SCHEMA_VERSION,
        editable: true,
        graph_tooltip: 0,
        refresh: String::new(),
        time: TimeRange {
            from: "now-1h".into(),
            to: "now".into(),
        },
        templating: Templating { list },
        panels: l.panels,
    }
}

/// The log group every target of the dashboard queries.
struct LogGroup<'a> {
    region: &'a str,
    name: &'a str,
    arn: &'a str,
}

impl LogGroup<'_> {
    /// A Logs Insights target on this group.
    fn target(&self, ref_id: &str, expression: String) -> Target {
        Target::CloudWatchLogs(CloudWatchLogsTarget {
            ref_id: ref_id.into(),
            datasource: DatasourceRef::var("cloudwatch", DS_CLOUDWATCH_VAR),
            query_mode: "Logs".into(),
            query_language: "CWLI".into(),
            region: self.region.into(),
            id: String::new(),
            expression,
            log_groups: vec![LogGroupRef {
                arn: self.arn.into(),
                name: self.name.into(),
            }],
            log_group_names: vec![self.name.into()],
            stats_groups: Vec::new(),
        })
    }
}

/// A logs panel (newest first, wrapped, with details).
fn logs_panel(title: &str, description: &str, target: Target) -> Panel {
    Panel {
        id: 0,
        kind: PanelKind::Logs,
        title: title.into(),
        description: description.into(),
        grid_pos: GridPos {
            h: 0,
            w: 0,
            x: 0,
            y: 0,
        },
        datasource: Some(DatasourceRef::var("cloudwatch", DS_CLOUDWATCH_VAR)),
        targets: vec![target],
        field_config: None,
        options: Some(PanelOptions::Logs(LogsOptions {
            show_time: true,
            wrap_log_message: true,
            sort_order: "Descending".into(),
            enable_log_details: true,
            show_common_labels: false,
        })),
        repeat: None,
        collapsed: None,
        panels: None,
    }
}
