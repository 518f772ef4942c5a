//! A tiny bash builder: lines, comments, and files embedded as quoted heredocs.
//!
//! The script text itself is hand-written bash (that is what user_data is); every config
//! file it writes comes from a typed struct and is embedded verbatim with `<<'EOF'`, so
//! the shell never expands anything inside it.

use crate::{BootstrapError, RenderedFile};

/// Heredoc delimiter. Rendering fails if a file has a line equal to it.
pub(crate) const HEREDOC_EOF: &str = "MONITOR_BOOTSTRAP_EOF";

/// Accumulates the script text.
#[derive(Debug, Default)]
pub(crate) struct Script {
    out: String,
}

impl Script {
    /// Appends one line (`\n` added).
    pub fn line(&mut self, s: &str) -> &mut Self {
        self.out.push_str(s);
        self.out.push('\n');
        self
    }

    /// Appends several lines.
    pub fn lines(&mut self, lines: &[&str]) -> &mut Self {
        for l in lines {
            self.line(l);
        }
        self
    }

    /// Appends `# text` (each line of `text` commented).
    pub fn comment(&mut self, text: &str) -> &mut Self {
        for l in text.lines() {
            if l.is_empty() {
                self.out.push_str("#\n");
            } else {
                self.out.push_str("# ");
                self.out.push_str(l);
                self.out.push('\n');
            }
        }
        self
    }

    /// Starts a step: a blank line, a banner comment and a `log` call.
    pub fn step(&mut self, title: &str) -> &mut Self {
        self.out.push('\n');
        self.out.push_str("# ---- ");
        self.out.push_str(title);
        self.out.push('\n');
        // Always quoted: a bare word such as `done` would be a bash keyword.
        self.line(&format!("log '{}'", title.replace('\'', r"'\''")))
    }

    /// Appends `write_file MODE PATH <<'EOF' … EOF` for `file`.
    ///
    /// # Errors
    /// As [`Script::heredoc`].
    pub fn write_file(&mut self, file: &RenderedFile) -> Result<&mut Self, BootstrapError> {
        let command = format!("write_file {:04o} {}", file.mode, sq(&file.path));
        self.heredoc(&command, file)
    }

    /// Appends `COMMAND <<'EOF'`, `file`'s content, `EOF`: the content reaches COMMAND's
    /// standard input unexpanded.
    ///
    /// # Errors
    /// [`BootstrapError::UnsafeContent`] if the content contains the heredoc delimiter as
    /// a line or does not end with a newline.
    pub fn heredoc(
        &mut self,
        command: &str,
        file: &RenderedFile,
    ) -> Result<&mut Self, BootstrapError> {
        if file.content.lines().any(|l| l == HEREDOC_EOF) {
            return Err(BootstrapError::UnsafeContent {
                what: file.path.clone(),
                detail: format!("a line equals the heredoc delimiter {HEREDOC_EOF}"),
            });
        }
        if !file.content.ends_with('\n') {
            return Err(BootstrapError::UnsafeContent {
                what: file.path.clone(),
                detail: "content does not end with a newline".into(),
            });
        }
        self.out.push_str(command);
        self.out.push_str(&format!(" <<'{HEREDOC_EOF}'\n"));
        self.out.push_str(&file.content);
        self.out.push_str(HEREDOC_EOF);
        self.out.push('\n');
        Ok(self)
    }

    /// The script text.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Single-quotes `s` for bash (`'` becomes `'\''`).
pub(crate) fn sq(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '='));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sq("/usr/local/bin"), "/usr/local/bin");
        assert_eq!(sq("a b"), "'a b'");
        assert_eq!(sq("it's"), r"'it'\''s'");
        assert_eq!(sq(""), "''");
        assert_eq!(sq("$(x)"), "'$(x)'");
    }

    #[test]
    fn heredoc_delimiter_in_content_is_refused() {
        let f = RenderedFile {
            path: "/x".into(),
            mode: 0o644,
            content: format!("a\n{HEREDOC_EOF}\n"),
            fills_instance_id: false,
        };
        assert!(Script::default().write_file(&f).is_err());
    }
}
