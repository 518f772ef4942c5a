//! systemd unit files as typed data: sections of `Key=Value` lines, rendered with a
//! check that no value could break out of its line.

use crate::BootstrapError;

/// A unit file: `[Unit]`, `[Service]`, `[Install]`, … in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitFile {
    /// Sections in file order.
    pub sections: Vec<Section>,
}

/// One `[Name]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section name without brackets.
    pub name: String,
    /// `Key=Value` entries in order (keys may repeat, as systemd allows).
    pub entries: Vec<(String, String)>,
}

impl UnitFile {
    /// Appends a section built from `(key, value)` pairs.
    pub fn section(mut self, name: &str, entries: &[(&str, &str)]) -> Self {
        self.sections.push(Section {
            name: name.to_string(),
            entries: entries
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        });
        self
    }

    /// The unit file text.
    ///
    /// # Errors
    /// [`BootstrapError::UnsafeContent`] if a key or value holds a newline or a key is not
    /// a plain identifier.
    pub fn render(&self, what: &str) -> Result<String, BootstrapError> {
        let mut out = String::new();
        for (i, s) in self.sections.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push('[');
            out.push_str(&s.name);
            out.push_str("]\n");
            for (k, v) in &s.entries {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(BootstrapError::UnsafeContent {
                        what: what.to_string(),
                        detail: format!("unit key `{k}` is not a plain identifier"),
                    });
                }
                if v.contains(['\n', '\r']) {
                    return Err(BootstrapError::UnsafeContent {
                        what: what.to_string(),
                        detail: format!("value of `{k}` contains a line break"),
                    });
                }
                out.push_str(k);
                out.push('=');
                out.push_str(v);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sections_in_order() {
        let u = UnitFile::default()
            .section("Unit", &[("Description", "x")])
            .section("Install", &[("WantedBy", "multi-user.target")]);
        assert_eq!(
            u.render("t").unwrap(),
            "[Unit]\nDescription=x\n\n[Install]\nWantedBy=multi-user.target\n"
        );
    }

    #[test]
    fn rejects_line_breaks() {
        let u = UnitFile::default().section("Service", &[("ExecStart", "a\nb")]);
        assert!(u.render("t").is_err());
    }
}
