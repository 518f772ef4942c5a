//! Logs Insights query strings: the seed's default query and a builder for common filters.
//!
//! The time window is not part of the query string: it goes into StartQuery's
//! `startTime`/`endTime` ([`crate::insights::TimeRange`]); [`QueryBuilder::request`] joins
//! the two into a [`QueryRequest`].

use crate::insights::{QueryRequest, TimeRange};

/// The seed's Grafana query over `/monitoring-test/system`: newest events first.
pub const DEFAULT_QUERY: &str =
    "fields @timestamp, @logStream, @message | sort @timestamp desc | limit 10000";

/// Builds `fields … | filter … | sort @timestamp … | limit N` with values escaped.
///
/// ```
/// use monitor_logs::query::{QueryBuilder, DEFAULT_QUERY};
///
/// assert_eq!(QueryBuilder::new().build(), DEFAULT_QUERY);
/// let q = QueryBuilder::new()
///     .stream("i-0123456789abcdef0")
///     .contains("Failed to run module")
///     .limit(100)
///     .build();
/// assert_eq!(
///     q,
///     "fields @timestamp, @logStream, @message \
///      | filter @logStream = \"i-0123456789abcdef0\" \
///      | filter @message like /Failed to run module/ \
///      | sort @timestamp desc | limit 100"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryBuilder {
    fields: Vec<String>,
    filters: Vec<String>,
    descending: bool,
    limit: u32,
}

impl Default for QueryBuilder {
    fn default() -> QueryBuilder {
        QueryBuilder {
            fields: ["@timestamp", "@logStream", "@message"]
                .map(String::from)
                .to_vec(),
            filters: Vec::new(),
            descending: true,
            limit: 10_000,
        }
    }
}

impl QueryBuilder {
    /// The default query's shape: `@timestamp, @logStream, @message`, newest first, 10,000 rows.
    pub fn new() -> QueryBuilder {
        QueryBuilder::default()
    }

    /// Replaces the `fields` list (field names are passed through as written).
    pub fn fields<I, S>(mut self, fields: I) -> QueryBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Only events of one stream (the agent names streams after the instance id).
    pub fn stream(mut self, stream: &str) -> QueryBuilder {
        self.filters
            .push(format!("filter @logStream = {}", quote_string(stream)));
        self
    }

    /// Only events of any of these streams (`filter @logStream in [...]`).
    pub fn streams<I, S>(mut self, streams: I) -> QueryBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<String> = streams
            .into_iter()
            .map(|s| quote_string(s.as_ref()))
            .collect();
        self.filters
            .push(format!("filter @logStream in [{}]", list.join(", ")));
        self
    }

    /// Only events whose message contains `text` literally (regex characters escaped).
    pub fn contains(mut self, text: &str) -> QueryBuilder {
        self.filters.push(format!(
            "filter @message like /{}/",
            escape_regex_literal(text)
        ));
        self
    }

    /// Only events whose message matches the regular expression `regex` (a `/` in it is
    /// escaped so it cannot end the pattern early).
    pub fn matches(mut self, regex: &str) -> QueryBuilder {
        self.filters.push(format!(
            "filter @message like /{}/",
            escape_regex_delimiter(regex)
        ));
        self
    }

    /// Adds a raw filter expression, e.g. `@message not like /DEBUG/` (not escaped).
    pub fn filter(mut self, expression: &str) -> QueryBuilder {
        self.filters.push(format!("filter {expression}"));
        self
    }

    /// Oldest events first instead of newest first.
    pub fn ascending(mut self) -> QueryBuilder {
        self.descending = false;
        self
    }

    /// Row limit in the query string (clamped to 1..=10,000).
    pub fn limit(mut self, n: u32) -> QueryBuilder {
        self.limit = n.clamp(1, 10_000);
        self
    }

    /// The query string.
    pub fn build(&self) -> String {
        let mut parts = Vec::with_capacity(self.filters.len() + 3);
        if !self.fields.is_empty() {
            parts.push(format!("fields {}", self.fields.join(", ")));
        }
        parts.extend(self.filters.iter().cloned());
        parts.push(format!(
            "sort @timestamp {}",
            if self.descending { "desc" } else { "asc" }
        ));
        parts.push(format!("limit {}", self.limit));
        parts.join(" | ")
    }

    /// A [`QueryRequest`] for this query over `log_groups` in the time window `range`.
    pub fn request<I, S>(&self, log_groups: I, range: TimeRange) -> QueryRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        QueryRequest::new(log_groups, self.build(), range)
    }
}

/// A double-quoted Insights string literal (`\` and `"` escaped).
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Escapes `text` so that, between `/…/`, it matches itself literally.
pub fn escape_regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '/'
                | '.'
                | '*'
                | '+'
                | '?'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '|'
                | '^'
                | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes every `/` in `regex` that is not already escaped, so it stays inside `/…/`.
pub fn escape_regex_delimiter(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len());
    let mut escaped = false;
    for c in regex.chars() {
        if c == '/' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_default_is_the_seed_query() {
        assert_eq!(QueryBuilder::new().build(), DEFAULT_QUERY);
    }

    #[test]
    fn stream_values_are_quoted() {
        let q = QueryBuilder::new().stream(r#"we"ird\name"#).build();
        assert!(q.contains(r#"filter @logStream = "we\"ird\\name""#), "{q}");
        let q = QueryBuilder::new().streams(["i-1", "i-2"]).build();
        assert!(q.contains(r#"filter @logStream in ["i-1", "i-2"]"#), "{q}");
    }

    #[test]
    fn literal_patterns_escape_regex_and_slashes() {
        assert_eq!(
            escape_regex_literal("a.b/c (d)*"),
            r"a\.b\/c \(d\)\*".to_string()
        );
        let q = QueryBuilder::new().contains("/var/log/messages").build();
        assert!(
            q.contains(r"filter @message like /\/var\/log\/messages/"),
            "{q}"
        );
    }

    #[test]
    fn regex_patterns_escape_only_bare_slashes() {
        assert_eq!(escape_regex_delimiter(r"a/b\/c"), r"a\/b\/c");
        assert_eq!(escape_regex_delimiter(r"x\\/y"), r"x\\\/y");
        let q = QueryBuilder::new().matches("ERROR|panic").build();
        assert!(q.contains("filter @message like /ERROR|panic/"), "{q}");
    }

    #[test]
    fn order_limit_fields_and_raw_filters() {
        let q = QueryBuilder::new()
            .fields(["@timestamp", "@message"])
            .filter("@message not like /DEBUG/")
            .ascending()
            .limit(0)
            .build();
        assert_eq!(
            q,
            "fields @timestamp, @message | filter @message not like /DEBUG/ \
             | sort @timestamp asc | limit 1"
        );
        assert!(QueryBuilder::new()
            .limit(50_000)
            .build()
            .ends_with("limit 10000"));
    }

    #[test]
    fn request_carries_groups_and_window() {
        let range = TimeRange::last(std::time::Duration::from_secs(60));
        let req = QueryBuilder::new().request(["/monitoring-test/system"], range);
        assert_eq!(req.log_groups, ["/monitoring-test/system"]);
        assert_eq!(req.query, DEFAULT_QUERY);
        assert_eq!(req.range, range);
    }
}
