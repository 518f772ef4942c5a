//! Our own dashboards as typed Grafana dashboard JSON (schema 39, Grafana 10.4+).
//!
//! Only the parts of Grafana's dashboard model that these dashboards use are modelled;
//! everything is serialised with `serde_json` from the structs below, never templated.
//!
//! Host identity: every collector on a host scrapes `127.0.0.1:9100`, so the scraper's
//! `instance` label is the same on every host. The host is told apart by the
//! `instance_id` external label (the EC2 instance id, also the CloudWatch log stream
//! name). The dashboards' `instance` variable therefore lists and filters `instance_id`.

use serde::Serialize;

/// Dashboard JSON schema version written (Grafana 10.4 writes 39; later versions migrate
/// it on load).
pub const SCHEMA_VERSION: u32 = 39;
/// Name of the Prometheus datasource template variable every Prometheus target uses.
pub const DS_PROMETHEUS_VAR: &str = "ds_prometheus";
/// Name of the CloudWatch datasource template variable of the logs dashboard.
pub const DS_CLOUDWATCH_VAR: &str = "ds_cloudwatch";
/// The Logs Insights query of the stack seed (all streams, newest first).
pub const SEED_LOGS_QUERY: &str =
    "fields @timestamp, @logStream, @message | sort @timestamp desc | limit 10000";
/// The `job` label of the node_exporter scrape (stack default `[node_exporter] job`).
pub const NODE_JOB: &str = "node";

/// Width of Grafana's dashboard grid.
const GRID_WIDTH: u32 = 24;

/// A Grafana dashboard (the `dashboard` object of `POST /api/dashboards/db`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// Always `null`: dashboards are addressed by `uid` (an id would pin one instance).
    pub id: Option<u64>,
    /// Stable uid (≤ 40 chars), derived from the stack name.
    pub uid: String,
    /// Title shown in Grafana.
    pub title: String,
    /// Short description.
    pub description: String,
    /// Dashboard tags (searchable in Grafana).
    pub tags: Vec<String>,
    /// Time zone of the time picker (`browser`).
    pub timezone: String,
    /// Dashboard schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Whether users may edit it in the UI (changes are overwritten by the next apply).
    pub editable: bool,
    /// 0 = no shared crosshair, 1 = shared crosshair, 2 = shared tooltip.
    pub graph_tooltip: u8,
    /// Auto-refresh interval.
    pub refresh: String,
    /// Default time range.
    pub time: TimeRange,
    /// Template variables.
    pub templating: Templating,
    /// Panels, in grid order (rows included).
    pub panels: Vec<Panel>,
}

/// `time`: the default range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeRange {
    /// Start, e.g. `now-6h`.
    pub from: String,
    /// End, e.g. `now`.
    pub to: String,
}

/// `templating`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Templating {
    /// The variables, in display order (a variable may use the ones before it).
    pub list: Vec<Variable>,
}

/// A template variable.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    /// `datasource` or `query`.
    #[serde(rename = "type")]
    pub kind: VariableKind,
    /// Name used as `$name` in queries.
    pub name: String,
    /// Label shown in the variable bar.
    pub label: String,
    /// For `datasource`: the plugin id listed; for `query`: the variable query.
    pub query: String,
    /// For `query`: the query as shown in the editor (same as `query`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// For `query`: the datasource the query runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<DatasourceRef>,
    /// 1 = on dashboard load, 2 = on time range change.
    pub refresh: u8,
    /// Multi-select.
    pub multi: bool,
    /// Offer "All".
    pub include_all: bool,
    /// Value substituted for "All" (a regex matching every value, for `=~` selectors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_value: Option<String>,
    /// 0 = shown, 2 = hidden.
    pub hide: u8,
    /// 1 = alphabetical ascending.
    pub sort: u8,
    /// Regex applied to the options (empty = none).
    pub regex: String,
    /// Selected value on first load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<VariableCurrent>,
    /// Options (filled by Grafana for query variables).
    pub options: Vec<VariableCurrent>,
}

/// Kind of a template variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableKind {
    /// Picks a datasource of one plugin type.
    Datasource,
    /// Values from a datasource query.
    Query,
}

/// A selected variable value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariableCurrent {
    /// Whether it is selected.
    pub selected: bool,
    /// Display text(s).
    pub text: Vec<String>,
    /// Value(s) (`$__all` for "All").
    pub value: Vec<String>,
}

/// A datasource reference in a panel, target or variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasourceRef {
    /// Plugin id (`prometheus`, `grafana-amazonprometheus-datasource`, `cloudwatch`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Datasource uid, here always a variable (`${ds_prometheus}`).
    pub uid: String,
}

impl DatasourceRef {
    fn var(kind: &str, var: &str) -> DatasourceRef {
        DatasourceRef {
            kind: kind.to_string(),
            uid: format!("${{{var}}}"),
        }
    }
}

/// A panel (or a row, which groups the panels below it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    /// Unique within the dashboard.
    pub id: u32,
    /// Visualisation.
    #[serde(rename = "type")]
    pub kind: PanelKind,
    /// Title.
    pub title: String,
    /// Hover help.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Position on the 24-column grid.
    pub grid_pos: GridPos,
    /// Panel datasource (absent on rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<DatasourceRef>,
    /// Queries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    /// Units, ranges, thresholds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_config: Option<FieldConfig>,
    /// Visualisation options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<PanelOptions>,
    /// Rows: repeat the row (and its panels) once per value of this variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<String>,
    /// Rows: collapsed state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collapsed: Option<bool>,
    /// Rows: panels held while collapsed (always empty: our rows are open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panels: Option<Vec<Panel>>,
}

/// Panel visualisations used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    /// Row header.
    Row,
    /// Time series graph.
    Timeseries,
    /// Single value.
    Stat,
    /// Gauge.
    Gauge,
    /// Log lines.
    Logs,
}

/// `gridPos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GridPos {
    /// Height in grid rows.
    pub h: u32,
    /// Width in columns (of 24).
    pub w: u32,
    /// Column.
    pub x: u32,
    /// Row.
    pub y: u32,
}

impl GridPos {
    /// Whether two positions overlap.
    pub fn overlaps(&self, o: &GridPos) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// A panel query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Target {
    /// PromQL.
    Prometheus(PromTarget),
    /// CloudWatch Logs Insights.
    CloudWatchLogs(CloudWatchLogsTarget),
}

/// A PromQL target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromTarget {
    /// `A`, `B`, …
    pub ref_id: String,
    /// Always the `${ds_prometheus}` variable.
    pub datasource: DatasourceRef,
    /// The PromQL expression (with `$var` and `$__rate_interval`).
    pub expr: String,
    /// Series name template, e.g. `{{instance_id}}`.
    pub legend_format: String,
    /// Range query (graphs).
    pub range: bool,
    /// Instant query (stats, gauges).
    pub instant: bool,
    /// `code`: the expression is shown as written.
    pub editor_mode: String,
}

/// A CloudWatch Logs Insights target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchLogsTarget {
    /// `A`, `B`, …
    pub ref_id: String,
    /// Always the `${ds_cloudwatch}` variable.
    pub datasource: DatasourceRef,
    /// `Logs`.
    pub query_mode: String,
    /// `CWLI` (Logs Insights QL).
    pub query_language: String,
    /// Region of the log group.
    pub region: String,
    /// Unused for logs; Grafana expects it present.
    pub id: String,
    /// The Logs Insights query.
    pub expression: String,
    /// Log groups by ARN (Grafana ≥ 10).
    pub log_groups: Vec<LogGroupRef>,
    /// Log groups by name (the older form, read by Grafana 9).
    pub log_group_names: Vec<String>,
    /// Unused for plain log queries.
    pub stats_groups: Vec<String>,
}

/// A log group in a CloudWatch target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogGroupRef {
    /// Log group ARN (without the trailing `:*`).
    pub arn: String,
    /// Log group name.
    pub name: String,
}

/// `fieldConfig`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldConfig {
    /// Defaults for every field.
    pub defaults: FieldDefaults,
    /// Per-field overrides (none used).
    pub overrides: Vec<FieldOverride>,
}

/// A field override (unused; kept so `overrides` is typed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldOverride {}

/// `fieldConfig.defaults`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDefaults {
    /// Grafana unit id (`percentunit`, `bytes`, `Bps`, `iops`, `s`, `short`).
    pub unit: String,
    /// Axis / gauge minimum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Axis / gauge maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Decimals shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Colour thresholds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// Time series drawing options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<TimeseriesCustom>,
}

/// `thresholds`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// `absolute`.
    pub mode: String,
    /// Ascending steps; the first has no value (base colour).
    pub steps: Vec<ThresholdStep>,
}

/// One threshold step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdStep {
    /// Colour name.
    pub color: String,
    /// Lower bound (`null` for the base step).
    pub value: Option<f64>,
}

/// `fieldConfig.defaults.custom` for time series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeseriesCustom {
    /// `line`.
    pub draw_style: String,
    /// Line width in px.
    pub line_width: u8,
    /// Area fill 0–100.
    pub fill_opacity: u8,
    /// `never`: no point markers.
    pub show_points: String,
    /// Stacking.
    pub stacking: Stacking,
}

/// `custom.stacking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stacking {
    /// `none` or `normal`.
    pub mode: String,
    /// Stacking group.
    pub group: String,
}

/// Visualisation options, one shape per panel kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PanelOptions {
    /// Time series.
    Timeseries(TimeseriesOptions),
    /// Stat and gauge.
    Single(SingleValueOptions),
    /// Logs.
    Logs(LogsOptions),
}

/// Time series options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeseriesOptions {
    /// Legend.
    pub legend: Legend,
    /// Tooltip.
    pub tooltip: Tooltip,
}

/// `legend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Legend {
    /// `list` or `table`.
    pub display_mode: String,
    /// `bottom`.
    pub placement: String,
    /// Shown.
    pub show_legend: bool,
    /// Calculations shown in a table legend.
    pub calcs: Vec<String>,
}

/// `tooltip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tooltip {
    /// `multi`: all series at the cursor.
    pub mode: String,
    /// `desc`.
    pub sort: String,
}

/// Stat / gauge options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SingleValueOptions {
    /// How series are reduced to one value.
    pub reduce_options: ReduceOptions,
    /// Stat: `horizontal`/`vertical`/`auto`.
    pub orientation: String,
    /// Stat: `area` sparkline or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_mode: Option<String>,
    /// Stat: `value` or `background`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color_mode: Option<String>,
    /// Gauge: show threshold markers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_threshold_markers: Option<bool>,
}

/// `reduceOptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReduceOptions {
    /// `lastNotNull`.
    pub calcs: Vec<String>,
    /// Empty = numeric fields.
    pub fields: String,
    /// false = reduce each series.
    pub values: bool,
}

/// Logs panel options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsOptions {
    /// Show the time column.
    pub show_time: bool,
    /// Wrap long lines.
    pub wrap_log_message: bool,
    /// `Descending`: newest first.
    pub sort_order: String,
    /// Expandable details.
    pub enable_log_details: bool,
    /// Hide unique labels.
    pub show_common_labels: bool,
}

// ---------------------------------------------------------------------------------------
// Builders

/// Places panels left to right on the 24-column grid, wrapping to a new line.
struct Layout {
    next_id: u32,
    x: u32,
    y: u32,
    line_h: u32,
    panels: Vec<Panel>,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            next_id: 1,
            x: 0,
            y: 0,
            line_h: 0,
            panels: Vec::new(),
        }
    }

    fn newline(&mut self) {
        self.y += self.line_h;
        self.x = 0;
        self.line_h = 0;
    }

    fn row(&mut self, title: &str, repeat: Option<&str>) {
        self.newline();
        let id = self.take_id();
        self.panels.push(Panel {
            id,
            kind: PanelKind::Row,
            title: title.to_string(),
            description: String::new(),
            grid_pos: GridPos {
                h: 1,
                w: GRID_WIDTH,
                x: 0,
                y: self.y,
            },
            datasource: None,
            targets: Vec::new(),
            field_config: None,
            options: None,
            repeat: repeat.map(str::to_string),
            collapsed: Some(false),
            panels: Some(Vec::new()),
        });
        self.y += 1;
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn add(&mut self, w: u32, h: u32, mut p: Panel) {
        if self.x + w > GRID_WIDTH {
            self.newline();
        }
        p.id = self.take_id();
        p.grid_pos = GridPos {
            h,
            w,
            x: self.x,
            y: self.y,
        };
        self.x += w;
        self.line_h = self.line_h.max(h);
        self.panels.push(p);
    }
}

/// The label selector every host panel uses (variables substituted by Grafana).
pub fn host_selector() -> String {
    format!(
        "job=\"{NODE_JOB}\",env=~\"$env\",role=~\"$role\",team=~\"$team\",instance_id=~\"$instance\""
    )
}

fn prom_target(ref_id: &str, expr: String, legend: &str, instant: bool) -> Target {
    Target::Prometheus(PromTarget {
        ref_id: ref_id.to_string(),
        datasource: DatasourceRef::var(PROMETHEUS_CORE_TYPE, DS_PROMETHEUS_VAR),
        expr,
        legend_format: legend.to_string(),
        range: !instant,
        instant,
        editor_mode: "code".to_string(),
    })
}

/// Plugin id of Grafana's core Prometheus datasource.
pub const PROMETHEUS_CORE_TYPE: &str = "prometheus";

fn defaults(unit: &str) -> FieldDefaults {
    FieldDefaults {
        unit: unit.to_string(),
        min: None,
        max: None,
        decimals: None,
        thresholds: None,
        custom: None,
    }
}

fn percent_thresholds(warn: f64, crit: f64) -> Thresholds {
    Thresholds {
        mode: "absolute".into(),
        steps: vec![
            ThresholdStep {
                color: "green".into(),
                value: None,
            },
            ThresholdStep {
                color: "orange".into(),
                value: Some(warn),
            },
            ThresholdStep {
                color: "red".into(),
                value: Some(crit),
            },
        ],
    }
}

fn timeseries(
    title: &str,
    description: &str,
    unit: &str,
    stacked: bool,
    targets: Vec<Target>,
) -> Panel {
    let mut d = defaults(unit);
    d.min = Some(0.0);
    if unit == "percentunit" {
        d.max = Some(1.0);
    }
    d.custom = Some(TimeseriesCustom {
        draw_style: "line".into(),
        line_width: 1,
        fill_opacity: if stacked { 30 } else { 10 },
        show_points: "never".into(),
        stacking: Stacking {
            mode: if stacked { "normal" } else { "none" }.into(),
            group: "A".into(),
        },
    });
    Panel {
        id: 0,
        kind: PanelKind::Timeseries,
        title: title.into(),
        description: description.into(),
        grid_pos: GridPos {
            h: 0,
            w: 0,
            x: 0,
            y: 0,
        },
        datasource: Some(DatasourceRef::var(PROMETHEUS_CORE_TYPE, DS_PROMETHEUS_VAR)),
        targets,
        field_config: Some(FieldConfig {
            defaults: d,
            overrides: Vec::new(),
        }),
        options: Some(PanelOptions::Timeseries(TimeseriesOptions {
            legend: Legend {
                display_mode: "list".into(),
                placement: "bottom".into(),
                show_legend: true,
                calcs: Vec::new(),
            },
            tooltip: Tooltip {
                mode: "multi".into(),
                sort: "desc".into(),
            },
        })),
        repeat: None,
        collapsed: None,
        panels: None,
    }
}

fn single(
    kind: PanelKind,
    title: &str,
    description: &str,
    d: FieldDefaults,
    target: Target,
) -> Panel {
    let options = SingleValueOptions {
        reduce_options: ReduceOptions {
            calcs: vec!["lastNotNull".into()],
            fields: String::new(),
            values: false,
        },
        orientation: "auto".into(),
        graph_mode: (kind == PanelKind::Stat).then(|| "area".to_string()),
        color_mode: (kind == PanelKind::Stat).then(|| "value".to_string()),
        show_threshold_markers: (kind == PanelKind::Gauge).then_some(true),
    };
    Panel {
        id: 0,
        kind,
        title: title.into(),
        description: description.into(),
        grid_pos: GridPos {
            h: 0,
            w: 0,
            x: 0,
            y: 0,
        },
        datasource: Some(DatasourceRef::var(PROMETHEUS_CORE_TYPE, DS_PROMETHEUS_VAR)),
        targets: vec![target],
        field_config: Some(FieldConfig {
            defaults: d,
            overrides: Vec::new(),
        }),
        options: Some(PanelOptions::Single(options)),
        repeat: None,
        collapsed: None,
        panels: None,
    }
}

fn ds_variable(name: &str, label: &str, plugin: &str) -> Variable {
    Variable {
        kind: VariableKind::Datasource,
        name: name.into(),
        label: label.into(),
        query: plugin.into(),
        definition: None,
        datasource: None,
        refresh: 1,
        multi: false,
        include_all: false,
        all_value: None,
        hide: 0,
        sort: 0,
        regex: String::new(),
        current: None,
        options: Vec::new(),
    }
}

fn label_variable(name: &str, label: &str, query: String) -> Variable {
    Variable {
        kind: VariableKind::Query,
        name: name.into(),
        label: label.into(),
        definition: Some(query.clone()),
        query,
        datasource: Some(DatasourceRef::var(PROMETHEUS_CORE_TYPE, DS_PROMETHEUS_VAR)),
        refresh: 2,
        multi: true,
        include_all: true,
        all_value: Some(".*".into()),
        hide: 0,
        sort: 1,
        regex: String::new(),
        current: Some(VariableCurrent {
            selected: true,
            text: vec!["All".into()],
            value: vec!["$__all".into()],
        }),
        options: Vec::new(),
    }
}

/// The host filter variables: `env`, `role`, `team`, `instance` (chained: each lists the
/// values left by the ones before it).
fn host_variables() -> Vec<Variable> {
    let up = |filter: &str, label: &str| {
        format!("label_values(up{{job=\"{NODE_JOB}\"{filter}}}, {label})")
    };
    vec![
        label_variable("env", "Environment", up("", "env")),
        label_variable("role", "Role", up(",env=~\"$env\"", "role")),
        label_variable("team", "Team", up(",env=~\"$env\",role=~\"$role\"", "team")),
        label_variable(
            "instance",
            "Instance",
            up(
                ",env=~\"$env\",role=~\"$role\",team=~\"$team\"",
                "instance_id",
            ),
        ),
    ]
}

/// A uid for Grafana (≤ 40 chars, `[A-Za-z0-9_-]`), derived from the stack name.
pub fn stack_uid(stack_name: &str, suffix: &str) -> String {
    let clean: String = stack_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let max = 40usize.saturating_sub(suffix.len() + 1);
    let head: String = clean.chars().take(max).collect();
    format!("{head}-{suffix}")
}

/// The hosts dashboard: a fleet overview row, then one row per host (repeated by the
/// `instance` variable) with CPU, load, memory, swap, filesystems, disks, network and uptime.
pub fn hosts_dashboard(stack_name: &str) -> Dashboard {
    let s = host_selector();
    let fs = format!("{s},fstype!~\"tmpfs|ramfs|squashfs|overlay|nsfs\",mountpoint!=\"\"");
    let ri = "$__rate_interval";
    let cpus = format!("count by (instance_id) (node_cpu_seconds_total{{{s},mode=\"idle\"}})");
    let mut l = Layout::new();

    l.row("Fleet", None);
    l.add(
        6,
        5,
        single(
            PanelKind::Stat,
            "Hosts up",
            "Hosts whose node_exporter scrape succeeded at the last sample (up == 1).",
            FieldDefaults {
                decimals: Some(0),
                ..defaults("short")
            },
            prom_target("A", format!("sum(up{{{s}}})"), "up", true),
        ),
    );
    let gauge = |title: &str, description: &str, expr: String| {
        single(
            PanelKind::Gauge,
            title,
            description,
            FieldDefaults {
                min: Some(0.0),
                max: Some(1.0),
                thresholds: Some(percent_thresholds(0.8, 0.9)),
                ..defaults("percentunit")
            },
            prom_target("A", expr, "", true),
        )
    };
    l.add(
        6,
        5,
        gauge(
            "Average CPU utilisation",
            "Mean non-idle CPU time over the selected hosts.",
            format!("avg(1 - avg by (instance_id) (rate(node_cpu_seconds_total{{{s},mode=\"idle\"}}[{ri}])))"),
        ),
    );
    l.add(
        6,
        5,
        gauge(
            "Highest memory utilisation",
            "The selected host using the largest share of its memory (1 - MemAvailable / MemTotal).",
            format!("max(1 - node_memory_MemAvailable_bytes{{{s}}} / node_memory_MemTotal_bytes{{{s}}})"),
        ),
    );
    l.add(
        6,
        5,
        gauge(
            "Fullest filesystem",
            "The fullest real filesystem (tmpfs and other virtual file systems excluded) over the selected hosts.",
            format!("max(1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}})"),
        ),
    );

    l.row("Host $instance", Some("instance"));
    l.add(
        4,
        8,
        single(
            PanelKind::Stat,
            "Uptime",
            "Time since boot.",
            FieldDefaults {
                decimals: Some(1),
                ..defaults("s")
            },
            prom_target(
                "A",
                format!("time() - node_boot_time_seconds{{{s}}}"),
                "{{instance_id}}",
                true,
            ),
        ),
    );
    l.add(
        10,
        8,
        timeseries(
            "CPU utilisation",
            "Share of CPU time not idle, averaged over all CPUs.",
            "percentunit",
            false,
            vec![prom_target(
                "A",
                format!("1 - avg by (instance_id) (rate(node_cpu_seconds_total{{{s},mode=\"idle\"}}[{ri}]))"),
                "{{instance_id}}",
                false,
            )],
        ),
    );
    l.add(
        10,
        8,
        timeseries(
            "CPU by mode",
            "Share of CPU time per mode (idle left out), averaged over all CPUs. High steal = noisy neighbour or exhausted burst credits; high iowait = EBS-bound.",
            "percentunit",
            true,
            vec![prom_target(
                "A",
                format!("avg by (instance_id, mode) (rate(node_cpu_seconds_total{{{s},mode!=\"idle\"}}[{ri}]))"),
                "{{instance_id}} {{mode}}",
                false,
            )],
        ),
    );
    l.add(
        8,
        8,
        timeseries(
            "Load per CPU",
            "Load averages divided by the number of CPUs; above 1 means runnable tasks wait.",
            "short",
            false,
            ["1", "5", "15"]
                .iter()
                .zip(["A", "B", "C"])
                .map(|(m, r)| {
                    prom_target(
                        r,
                        format!("node_load{m}{{{s}}} / on (instance_id) {cpus}"),
                        &format!("{{{{instance_id}}}} load{m}"),
                        false,
                    )
                })
                .collect(),
        ),
    );
    l.add(
        8,
        8,
        timeseries(
            "Memory",
            "Used = MemTotal - MemAvailable (what applications hold); available = what can be allocated without swapping.",
            "bytes",
            false,
            vec![
                prom_target(
                    "A",
                    format!("node_memory_MemTotal_bytes{{{s}}} - node_memory_MemAvailable_bytes{{{s}}}"),
                    "{{instance_id}} used",
                    false,
                ),
                prom_target(
                    "B",
                    format!("node_memory_MemAvailable_bytes{{{s}}}"),
                    "{{instance_id}} available",
                    false,
                ),
            ],
        ),
    );
    l.add(
        8,
        8,
        timeseries(
            "Swap",
            "Swap in use and configured (both 0 on hosts without swap, which is the EC2 default).",
            "bytes",
            false,
            vec![
                prom_target(
                    "A",
                    format!(
                        "node_memory_SwapTotal_bytes{{{s}}} - node_memory_SwapFree_bytes{{{s}}}"
                    ),
                    "{{instance_id}} used",
                    false,
                ),
                prom_target(
                    "B",
                    format!("node_memory_SwapTotal_bytes{{{s}}}"),
                    "{{instance_id}} total",
                    false,
                ),
            ],
        ),
    );
    l.add(
        12,
        8,
        timeseries(
            "Filesystem usage",
            "Used share of each real filesystem (1 - avail / size; tmpfs and other virtual file systems excluded).",
            "percentunit",
            false,
            vec![prom_target(
                "A",
                format!("1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}"),
                "{{instance_id}} {{mountpoint}}",
                false,
            )],
        ),
    );
    l.add(
        12,
        8,
        timeseries(
            "Disk utilisation",
            "Share of time the device was busy with I/O (io_time); near 100% means the device is saturated.",
            "percentunit",
            false,
            vec![prom_target(
                "A",
                format!("rate(node_disk_io_time_seconds_total{{{s}}}[{ri}])"),
                "{{instance_id}} {{device}}",
                false,
            )],
        ),
    );
    l.add(
        12,
        8,
        timeseries(
            "Disk read / write",
            "Bytes read and written per second per block device.",
            "Bps",
            false,
            vec![
                prom_target(
                    "A",
                    format!("rate(node_disk_read_bytes_total{{{s}}}[{ri}])"),
                    "{{instance_id}} {{device}} read",
                    false,
                ),
                prom_target(
                    "B",
                    format!("rate(node_disk_written_bytes_total{{{s}}}[{ri}])"),
                    "{{instance_id}} {{device}} write",
                    false,
                ),
            ],
        ),
    );
    l.add(
        12,
        8,
        timeseries(
            "Disk IOPS",
            "Completed reads and writes per second per block device (EBS volumes have an IOPS budget).",
            "iops",
            false,
            vec![
                prom_target(
                    "A",
                    format!("rate(node_disk_reads_completed_total{{{s}}}[{ri}])"),
                    "{{instance_id}} {{device}} reads",
                    false,
                ),
                prom_target(
                    "B",
                    format!("rate(node_disk_writes_completed_total{{{s}}}[{ri}])"),
                    "{{instance_id}} {{device}} writes",
                    false,
                ),
            ],
        ),
    );
    let net = format!("{s},device!=\"lo\"");
    l.add(
        12,
        8,
        timeseries(
            "Network traffic",
            "Bytes received and transmitted per second per interface (loopback excluded).",
            "Bps",
            false,
            vec![
                prom_target(
                    "A",
                    format!("rate(node_network_receive_bytes_total{{{net}}}[{ri}])"),
                    "{{instance_id}} {{device}} rx",
                    false,
                ),
                prom_target(
                    "B",
                    format!("rate(node_network_transmit_bytes_total{{{net}}}[{ri}])"),
                    "{{instance_id}} {{device}} tx",
                    false,
                ),
            ],
        ),
    );
    l.add(
        12,
        8,
        timeseries(
            "Network errors and drops",
            "Receive/transmit errors and dropped packets per second per interface (normally 0).",
            "pps",
            false,
            [
                ("A", "receive_errs", "rx errors"),
                ("B", "transmit_errs", "tx errors"),
                ("C", "receive_drop", "rx drops"),
                ("D", "transmit_drop", "tx drops"),
            ]
            .iter()
            .map(|(r, m, what)| {
                prom_target(
                    r,
                    format!("rate(node_network_{m}_total{{{net}}}[{ri}])"),
                    &format!("{{{{instance_id}}}} {{{{device}}}} {what}"),
                    false,
                )
            })
            .collect(),
        ),
    );

    let mut list = vec![ds_variable(
        DS_PROMETHEUS_VAR,
        "Prometheus",
        PROMETHEUS_CORE_TYPE,
    )];
    list.extend(host_variables());
    Dashboard {
        id: None,
        uid: stack_uid(stack_name, "hosts"),
        title: format!("{stack_name} / Hosts"),
        description: "EC2 hosts of the stack: node_exporter metrics shipped to Amazon Managed Service for Prometheus."
            .into(),
        tags: vec![stack_name.to_string(), "hosts".into(), "node-exporter".into()],
        timezone: "browser".into(),
        schema_version: SCHEMA_VERSION,
        editable: true,
        graph_tooltip: 1,
        refresh: "1m".into(),
        time: TimeRange {
            from: "now-3h".into(),
            to: "now".into(),
        },
        templating: Templating { list },
        panels: l.panels,
    }
}

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
    // Logs Insights wants the ARN without the `:*` suffix DescribeLogGroups returns.
    let arn = log_group_arn.trim_end_matches(":*").to_string();
    let cw = |ref_id: &str, expression: String| {
        Target::CloudWatchLogs(CloudWatchLogsTarget {
            ref_id: ref_id.into(),
            datasource: DatasourceRef::var("cloudwatch", DS_CLOUDWATCH_VAR),
            query_mode: "Logs".into(),
            query_language: "CWLI".into(),
            region: region.into(),
            id: String::new(),
            expression,
            log_groups: vec![LogGroupRef {
                arn: arn.clone(),
                name: log_group_name.into(),
            }],
            log_group_names: vec![log_group_name.into()],
            stats_groups: Vec::new(),
        })
    };
    let logs_panel = |title: &str, description: &str, target: Target| Panel {
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
    };
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

impl Dashboard {
    /// Points every Prometheus reference (the `ds_prometheus` variable's plugin and each
    /// panel/target/variable `datasource.type`) at `plugin_id` — e.g.
    /// `grafana-amazonprometheus-datasource` on Grafana ≥ 12, where the core Prometheus
    /// datasource no longer signs with SigV4.
    pub fn with_prometheus_type(mut self, plugin_id: &str) -> Dashboard {
        let fix = |d: &mut DatasourceRef| {
            if d.uid == format!("${{{DS_PROMETHEUS_VAR}}}") {
                d.kind = plugin_id.to_string();
            }
        };
        for v in &mut self.templating.list {
            if v.name == DS_PROMETHEUS_VAR && v.kind == VariableKind::Datasource {
                v.query = plugin_id.to_string();
            }
            if let Some(d) = v.datasource.as_mut() {
                fix(d);
            }
        }
        for p in &mut self.panels {
            if let Some(d) = p.datasource.as_mut() {
                fix(d);
            }
            for t in &mut p.targets {
                if let Target::Prometheus(t) = t {
                    fix(&mut t.datasource);
                }
            }
        }
        self
    }
}

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
