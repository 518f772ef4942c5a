//! The one error type of this crate, and how a byte offset becomes `file:line:column`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where in a stack file something is: path, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as given by the caller (not canonicalised, so messages match what the user typed).
    pub path: PathBuf,
    /// 1-based line; 0 when the parser gave no position.
    pub line: usize,
    /// 1-based column (in characters); 0 when unknown.
    pub column: usize,
}

impl Location {
    /// The location of byte offset `span.start` in `text`.
    pub(crate) fn of_span(path: &Path, text: &str, span: Option<Range<usize>>) -> Self {
        let Some(span) = span else {
            return Self {
                path: path.to_path_buf(),
                line: 0,
                column: 0,
            };
        };
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..start].chars().count() + 1;
        Self {
            path: path.to_path_buf(),
            line,
            column,
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.path.display())
        } else {
            write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
        }
    }
}

/// Everything that can go wrong loading a stack file. Each variant names the file; the
/// parse and validation variants also name the line and the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The file could not be read at all.
    #[error("cannot read stack config {}: {source}", path.display())]
    Read {
        /// The path that was tried.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type / an unknown key.
    #[error("{location}: key `{key}`: {message}")]
    Parse {
        /// File, line and column of the problem.
        location: Location,
        /// The dotted key (e.g. `hosts[1].architecture`), best effort for syntax errors.
        key: String,
        /// What the TOML parser said.
        message: String,
    },
    /// The file parsed, but a value is not acceptable (bad label name, duplicate host, …).
    #[error("{location}: key `{key}`: {message}")]
    Invalid {
        /// File, line and column of the offending value.
        location: Location,
        /// The dotted key (e.g. `hosts[1].labels`).
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl StackError {
    /// The location (file/line/column) of a parse or validation error, if it has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } => None,
            Self::Parse { location, .. } | Self::Invalid { location, .. } => Some(location),
        }
    }

    /// The dotted key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Read { .. } => None,
            Self::Parse { key, .. } | Self::Invalid { key, .. } => Some(key),
        }
    }
}

/// Best-effort dotted key for a TOML parser error at byte `offset`: the nearest `key =`
/// line at or above the error, prefixed by the table header it sits under
/// (`[[hosts]]` headers are counted so the key reads `hosts[1].name`).
pub(crate) fn key_at(text: &str, offset: usize) -> String {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let error_line = text[..offset].matches('\n').count();
    let lines: Vec<&str> = text.lines().collect();

    // Table path in effect at each line, with array-of-tables indices.
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut table = String::new();
    let mut table_at = Vec::with_capacity(lines.len());
    for line in &lines {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
        }
        table_at.push(table.clone());
    }

    let upto = error_line.min(lines.len().saturating_sub(1));
    for i in (0..=upto).rev() {
        let Some(line) = lines.get(i) else { break };
        let t = line.trim();
        if t.starts_with('[') {
            return non_empty(table_at[i].clone());
        }
        if let Some((k, _)) = t.split_once('=') {
            let k = k.trim();
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
            {
                let k = k.replace('"', "");
                let t = &table_at[i];
                return if t.is_empty() { k } else { format!("{t}.{k}") };
            }
        }
    }
    non_empty(table_at.get(upto).cloned().unwrap_or_default())
}

fn non_empty(s: String) -> String {
    if s.is_empty() {
        "(top level)".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_is_one_based() {
        let text = "a = 1\nbb = 2\n";
        let loc = Location::of_span(Path::new("s.toml"), text, Some(6..8));
        assert_eq!((loc.line, loc.column), (2, 1));
        assert_eq!(loc.to_string(), "s.toml:2:1");
    }

    #[test]
    fn key_at_counts_array_tables() {
        let text =
            "name = \"x\"\n[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"b\"\narchitecture = 5\n";
        let off = text.find("architecture").unwrap();
        assert_eq!(key_at(text, off), "hosts[1].architecture");
        assert_eq!(key_at(text, 0), "name");
        let hdr = text.rfind("[[hosts]]").unwrap();
        assert_eq!(key_at(text, hdr), "hosts[1]");
    }
}
