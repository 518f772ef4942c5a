//! The parts of Grafana's dashboard JSON model (schema 39) that our dashboards use,
//! serialised with `serde_json` from these structs, never templated.

use super::DS_PROMETHEUS_VAR;
use serde::Serialize;

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
    /// A reference through the datasource template variable `var` of plugin `kind`.
    pub(crate) fn var(kind: &str, var: &str) -> DatasourceRef {
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
