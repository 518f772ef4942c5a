//! Grid placement (panels left to right on Grafana's 24-column grid) and the panel
//! builders shared by both dashboards.

use super::model::*;
use super::{DS_PROMETHEUS_VAR, PROMETHEUS_CORE_TYPE};

/// Width of Grafana's dashboard grid.
pub(crate) const GRID_WIDTH: u32 = 24;

/// Places panels left to right on the 24-column grid, wrapping to a new line.
pub(crate) struct Layout {
    next_id: u32,
    x: u32,
    y: u32,
    line_h: u32,
    pub(crate) panels: Vec<Panel>,
}

impl Layout {
    pub(crate) fn new() -> Layout {
        Layout {
            next_id: 1,
            x: 0,
            y: 0,
            line_h: 0,
            panels: Vec::new(),
        }
    }

    pub(crate) fn newline(&mut self) {
        self.y += self.line_h;
        self.x = 0;
        self.line_h = 0;
    }

    pub(crate) fn row(&mut self, title: &str, repeat: Option<&str>) {
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

    pub(crate) fn add(&mut self, w: u32, h: u32, mut p: Panel) {
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

/// Whether a target is a range query (graphs) or an instant query (stats, gauges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryMode {
    /// Range query.
    Range,
    /// Instant query.
    Instant,
}

/// Time series stacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stack {
    /// Series drawn independently.
    None,
    /// Series stacked on each other.
    Normal,
}

pub(crate) fn prom_target(ref_id: &str, expr: String, legend: &str, mode: QueryMode) -> Target {
    let instant = mode == QueryMode::Instant;
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

pub(crate) fn defaults(unit: &str) -> FieldDefaults {
    FieldDefaults {
        unit: unit.to_string(),
        min: None,
        max: None,
        decimals: None,
        thresholds: None,
        custom: None,
    }
}

pub(crate) fn percent_thresholds(warn: f64, crit: f64) -> Thresholds {
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

pub(crate) fn timeseries(
    title: &str,
    description: &str,
    unit: &str,
    stack: Stack,
    targets: Vec<Target>,
) -> Panel {
    let stacked = stack == Stack::Normal;
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

pub(crate) fn single(
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
