//! `monitor-verify query`: run one PromQL expression (instant or range) and render the
//! result as a table or as Prometheus-shaped JSON.

use crate::ChecksError;
use monitor_amp::query::{format_value, QueryClient, QueryResult};
use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// Instant or range evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryWindow {
    /// One evaluation, at `time` (server's now when `None`).
    Instant {
        /// Evaluation time.
        time: Option<SystemTime>,
    },
    /// `range` back from now at `step` resolution (`None`: range / 60, at least 1 s).
    Range {
        /// How far back.
        range: Duration,
        /// Resolution.
        step: Option<Duration>,
    },
}

/// Runs the query.
pub async fn run_query(
    client: &QueryClient,
    promql: &str,
    window: QueryWindow,
) -> Result<QueryResult, ChecksError> {
    if promql.trim().is_empty() {
        return Err(ChecksError::Usage("the PromQL query is empty".into()));
    }
    let r = match window {
        QueryWindow::Instant { time } => client.instant(promql, time).await?,
        QueryWindow::Range { range, step } => {
            if range.is_zero() {
                return Err(ChecksError::Usage("--range must be above zero".into()));
            }
            let step = step.unwrap_or_else(|| (range / 60).max(Duration::from_secs(1)));
            let end = SystemTime::now();
            let start = end.checked_sub(range).unwrap_or(SystemTime::UNIX_EPOCH);
            client.range(promql, start, end, step).await?
        }
    };
    Ok(r)
}

fn fmt_time(ts: f64) -> String {
    match Duration::try_from_secs_f64(ts) {
        Ok(d) => humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + d).to_string(),
        Err(_) => ts.to_string(),
    }
}

/// Renders a result as aligned columns: one column per label (`__name__` first), then
/// `TIME` (range and scalar results) and `VALUE`; one row per sample.
pub fn render_query_table(result: &QueryResult, out: &mut impl Write) -> std::io::Result<()> {
    let mut header: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let label_columns =
        |metrics: &mut dyn Iterator<Item = &std::collections::BTreeMap<String, String>>| {
            let names: BTreeSet<&String> = metrics.flat_map(|m| m.keys()).collect();
            let mut cols: Vec<String> = names.into_iter().cloned().collect();
            if let Some(i) = cols.iter().position(|c| c == "__name__") {
                let n = cols.remove(i);
                cols.insert(0, n);
            }
            cols
        };
    let series = match result {
        QueryResult::Vector(v) => {
            let cols = label_columns(&mut v.iter().map(|s| &s.metric));
            for s in v {
                let mut row: Vec<String> = cols
                    .iter()
                    .map(|c| s.metric.get(c).cloned().unwrap_or_default())
                    .collect();
                row.push(format_value(s.value.value));
                rows.push(row);
            }
            header.extend(cols);
            header.push("VALUE".into());
            v.len()
        }
        QueryResult::Matrix(m) => {
            let cols = label_columns(&mut m.iter().map(|s| &s.metric));
            for s in m {
                let labels: Vec<String> = cols
                    .iter()
                    .map(|c| s.metric.get(c).cloned().unwrap_or_default())
                    .collect();
                for p in &s.values {
                    let mut row = labels.clone();
                    row.push(fmt_time(p.timestamp));
                    row.push(format_value(p.value));
                    rows.push(row);
                }
            }
            header.extend(cols);
            header.push("TIME".into());
            header.push("VALUE".into());
            m.len()
        }
        QueryResult::Scalar(s) => {
            header = vec!["TIME".into(), "VALUE".into()];
            rows.push(vec![fmt_time(s.timestamp), format_value(s.value)]);
            1
        }
        QueryResult::String(s) => {
            header = vec!["TIME".into(), "VALUE".into()];
            rows.push(vec![fmt_time(s.timestamp), s.value.clone()]);
            1
        }
    };
    if rows.is_empty() {
        return writeln!(out, "(no data)");
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s
    };
    writeln!(out, "{}", line(&header))?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    writeln!(
        out,
        "\n{series} series, {} sample{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    )
}

/// Renders a result as Prometheus' `data` object (`{"resultType":...,"result":[...]}`).
pub fn render_query_json(result: &QueryResult, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, result)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_amp::query::{InstantSample, RangeSeries, Sample};
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn render(r: &QueryResult) -> String {
        let mut out = Vec::new();
        render_query_table(r, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn vector_table_has_one_column_per_label_name_first() {
        let r = QueryResult::Vector(vec![
            InstantSample {
                metric: labels(&[("__name__", "up"), ("job", "node"), ("instance", "a:9100")]),
                value: Sample {
                    timestamp: 1.0,
                    value: 1.0,
                },
            },
            InstantSample {
                metric: labels(&[("__name__", "up"), ("job", "monitor-agent")]),
                value: Sample {
                    timestamp: 1.0,
                    value: f64::NAN,
                },
            },
        ]);
        assert_eq!(
            render(&r),
            "\
__name__  instance  job            VALUE
up        a:9100    node           1
up                  monitor-agent  NaN

2 series, 2 samples
"
        );
    }

    #[test]
    fn matrix_table_has_a_row_per_sample_with_time() {
        let r = QueryResult::Matrix(vec![RangeSeries {
            metric: labels(&[("job", "node")]),
            values: vec![
                Sample {
                    timestamp: 0.0,
                    value: 1.0,
                },
                Sample {
                    timestamp: 60.0,
                    value: f64::INFINITY,
                },
            ],
        }]);
        let t = render(&r);
        assert!(
            t.starts_with("job   TIME                      VALUE\n"),
            "{t}"
        );
        assert!(t.contains("node  1970-01-01T00:01:00.000Z  +Inf\n"), "{t}");
        assert!(t.ends_with("1 series, 2 samples\n"), "{t}");
    }

    #[test]
    fn empty_results_say_so() {
        assert_eq!(render(&QueryResult::Vector(vec![])), "(no data)\n");
    }
}
