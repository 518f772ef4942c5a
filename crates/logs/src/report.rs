//! `monitor-verify logs` as a library call: run a query (or follow) and render the rows as an
//! aligned table or JSON lines, so the binary only parses flags and maps the exit code.

use std::future::Future;
use std::io::Write;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatchlogs::Client;

use crate::error::LogsError;
use crate::insights::{run_query_until, PollOptions, QueryRequest, QueryResults, Row, TimeRange};
use crate::query::DEFAULT_QUERY;
use crate::tail::{LogEvent, Tail, TailOptions};
use crate::time::format_ms;

/// How rows are printed: the workspace's one output format (aligned table, or JSON —
/// here one object per row, JSON lines), defined in `monitor-checks`.
pub use monitor_checks::OutputFormat;

/// The `monitor-verify logs` request, flags already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsCommand {
    /// Log groups to query (1–50; `--follow` polls each).
    pub groups: Vec<String>,
    /// How far back to look (`--since 15m`).
    pub since: Duration,
    /// A Logs Insights query (`None`: [`DEFAULT_QUERY`]); not allowed with `follow`.
    pub query: Option<String>,
    /// Follow new events over FilterLogEvents instead of running one query.
    pub follow: bool,
    /// Table or JSON lines.
    pub output: OutputFormat,
}

/// Tuning for [`run_logs_command_with`]; the defaults suit the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandOptions {
    /// Backoff and deadline for the Insights query.
    pub poll: PollOptions,
    /// Wait between FilterLogEvents polls in follow mode (default 2 s).
    pub follow_interval: Duration,
}

impl Default for CommandOptions {
    fn default() -> CommandOptions {
        CommandOptions {
            poll: PollOptions::default(),
            follow_interval: Duration::from_secs(2),
        }
    }
}

/// Runs the command with default options; Ctrl-C stops the query (StopQuery) or the follow.
pub async fn run_logs_command(
    client: &Client,
    cmd: LogsCommand,
    out: &mut impl Write,
) -> Result<(), LogsError> {
    let ctrl_c = async {
        // If the handler cannot be installed, never stop early rather than at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    run_logs_command_with(client, cmd, &CommandOptions::default(), out, ctrl_c).await
}

/// Runs the command until done or until `stop` completes (a follow only ends that way).
pub async fn run_logs_command_with(
    client: &Client,
    cmd: LogsCommand,
    opts: &CommandOptions,
    out: &mut impl Write,
    stop: impl Future<Output = ()>,
) -> Result<(), LogsError> {
    if cmd.follow {
        return follow(client, &cmd, opts, out, stop).await;
    }
    let query = cmd.query.as_deref().unwrap_or(DEFAULT_QUERY);
    let req = QueryRequest::new(cmd.groups.clone(), query, TimeRange::last(cmd.since));
    let results = run_query_until(client, &req, &opts.poll, stop).await?;
    match cmd.output {
        OutputFormat::Table => render_table(&results, out)?,
        OutputFormat::Json => render_json_lines(&results.rows, out)?,
    }
    out.flush()?;
    Ok(())
}

async fn follow(
    client: &Client,
    cmd: &LogsCommand,
    opts: &CommandOptions,
    out: &mut impl Write,
    stop: impl Future<Output = ()>,
) -> Result<(), LogsError> {
    if cmd.query.is_some() {
        return Err(LogsError::InvalidRequest(
            "--follow reads new events with FilterLogEvents and cannot run a Logs Insights \
             query; drop --query or --follow"
                .into(),
        ));
    }
    if cmd.groups.is_empty() {
        return Err(LogsError::InvalidRequest("no log group to follow".into()));
    }
    let start = SystemTime::now()
        .checked_sub(cmd.since)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut tails: Vec<Tail> = cmd
        .groups
        .iter()
        .map(|g| Tail::new(client.clone(), TailOptions::new(g.clone()).since(start)))
        .collect();
    let show_group = tails.len() > 1;
    tokio::pin!(stop);
    loop {
        for tail in &mut tails {
            let polled = tokio::select! {
                biased;
                () = &mut stop => return Ok(()),
                r = tail.poll() => r,
            };
            let group = show_group.then(|| tail.options().group.as_str());
            match polled {
                Ok(events) => {
                    for e in &events {
                        render_event(e, group, cmd.output, out)?;
                    }
                }
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "follow poll refused; retrying");
                }
                Err(e) => return Err(e),
            }
        }
        out.flush()?;
        tokio::select! {
            biased;
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(opts.follow_interval) => {}
        }
    }
}

/// Renders query results as aligned columns: `@timestamp`, `@logStream`, other fields,
/// `@message` last (it is the long one), then a summary line with the statistics.
pub fn render_table(results: &QueryResults, out: &mut impl Write) -> std::io::Result<()> {
    let mut columns: Vec<&str> = Vec::new();
    for row in &results.rows {
        for (name, _) in row.visible_fields() {
            if name != "@message" && !columns.contains(&name) {
                columns.push(name);
            }
        }
    }
    if results.rows.iter().any(|r| r.message.is_some()) {
        columns.push("@message");
    }
    let cells: Vec<Vec<String>> = results
        .rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(row, c)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    if !columns.is_empty() {
        write_line(out, columns.iter().map(|c| c.to_string()), &widths)?;
    }
    for row in cells {
        write_line(out, row.into_iter(), &widths)?;
    }
    let n = results.rows.len();
    write!(out, "{n} row{}", if n == 1 { "" } else { "s" })?;
    if let Some(s) = results.statistics {
        write!(
            out,
            " (records matched {}, scanned {}, {} bytes scanned)",
            s.records_matched, s.records_scanned, s.bytes_scanned
        )?;
    }
    writeln!(out)
}

fn write_line(
    out: &mut impl Write,
    cells: impl Iterator<Item = String>,
    widths: &[usize],
) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, c) in cells.enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(&c);
        // No padding after the last column.
        if i + 1 < widths.len() {
            let pad = widths[i].saturating_sub(c.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// One table cell: newlines and tabs made visible so each row stays on one line, and
/// epoch-millisecond timestamps shown as RFC 3339.
fn cell(row: &Row, column: &str) -> String {
    let v = row.get(column).unwrap_or("");
    if column == "@timestamp" && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(ms) = v.parse::<i64>() {
            return format_ms(ms);
        }
    }
    one_line(v)
}

fn one_line(v: &str) -> String {
    v.trim_end_matches(['\n', '\r'])
        .replace('\r', "")
        .replace('\n', "\\n")
        .replace('\t', " ")
}

/// Renders rows as JSON lines: one object per row with every field except `@ptr`.
pub fn render_json_lines(rows: &[Row], out: &mut impl Write) -> std::io::Result<()> {
    for row in rows {
        let obj: serde_json::Map<String, serde_json::Value> = row
            .visible_fields()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
            .collect();
        serde_json::to_writer(&mut *out, &obj)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Renders one followed event: `time  stream  message` (table) or a JSON object.
pub fn render_event(
    event: &LogEvent,
    group: Option<&str>,
    format: OutputFormat,
    out: &mut impl Write,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Table => {
            if let Some(g) = group {
                write!(out, "{g}  ")?;
            }
            writeln!(
                out,
                "{}  {}  {}",
                event.timestamp_rfc3339(),
                event.log_stream,
                one_line(&event.message)
            )
        }
        OutputFormat::Json => {
            let mut obj = serde_json::Map::new();
            if let Some(g) = group {
                obj.insert("@log".into(), g.into());
            }
            obj.insert("@timestamp".into(), event.timestamp_rfc3339().into());
            obj.insert("@logStream".into(), event.log_stream.clone().into());
            obj.insert("@message".into(), event.message.clone().into());
            obj.insert("eventId".into(), event.event_id.clone().into());
            serde_json::to_writer(&mut *out, &obj)?;
            writeln!(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::{QueryStatistics, QueryStatus};

    fn results() -> QueryResults {
        QueryResults {
            query_id: "q".into(),
            status: QueryStatus::Complete,
            rows: vec![
                Row::from_fields([
                    ("@timestamp", "2024-05-01 12:00:01.000"),
                    ("@logStream", "i-0123456789abcdef0"),
                    ("@message", "second\n"),
                    ("@ptr", "p2"),
                ]),
                Row::from_fields([
                    ("@timestamp", "1714564800000"),
                    ("@logStream", "i-1"),
                    ("@message", "first\tline\nmore"),
                    ("level", "warn"),
                ]),
            ],
            statistics: Some(QueryStatistics {
                records_matched: 2.0,
                records_scanned: 10.0,
                bytes_scanned: 512.0,
            }),
        }
    }

    #[test]
    fn table_is_aligned_with_message_last() {
        let mut out = Vec::new();
        render_table(&results(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = [
            "@timestamp                @logStream           level  @message",
            "2024-05-01 12:00:01.000   i-0123456789abcdef0         second",
            "2024-05-01T12:00:00.000Z  i-1                  warn   first line\\nmore",
            "2 rows (records matched 2, scanned 10, 512 bytes scanned)",
            "",
        ]
        .join("\n");
        assert_eq!(text, expected);
    }

    #[test]
    fn empty_results_print_a_summary_only() {
        let mut out = Vec::new();
        let mut r = results();
        r.rows.clear();
        r.statistics = None;
        render_table(&r, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "0 rows\n");
    }

    #[test]
    fn json_lines_skip_ptr() {
        let mut out = Vec::new();
        render_json_lines(&results().rows, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["@logStream"], "i-0123456789abcdef0");
        assert!(lines[0].get("@ptr").is_none());
        assert_eq!(lines[1]["level"], "warn");
    }

    #[test]
    fn followed_events_render_on_one_line() {
        let e = LogEvent {
            event_id: "1".into(),
            log_stream: "i-1".into(),
            timestamp_ms: 1_714_564_800_000,
            ingestion_time_ms: None,
            message: "a\nb".into(),
        };
        let mut out = Vec::new();
        render_event(&e, Some("/g"), OutputFormat::Table, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "/g  2024-05-01T12:00:00.000Z  i-1  a\\nb\n"
        );
        let mut out = Vec::new();
        render_event(&e, None, OutputFormat::Json, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["@timestamp"], "2024-05-01T12:00:00.000Z");
        assert_eq!(v["eventId"], "1");
    }

    #[test]
    fn output_format_parses() {
        assert_eq!("JSON".parse::<OutputFormat>().unwrap(), OutputFormat::Json);
        assert_eq!(
            "table".parse::<OutputFormat>().unwrap(),
            OutputFormat::Table
        );
        assert!("yaml".parse::<OutputFormat>().is_err());
    }
}
