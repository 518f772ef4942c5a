//! The one error type of this crate.

use std::path::PathBuf;

use monitor_stack::Location;

/// What can go wrong rendering the stack's alerting.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// `[alerting.rules.<Name>]` names no shipped alert.
    #[error("{location}: key `alerting.rules.{name}`: no shipped alert is named `{name}` (known: {known})")]
    UnknownAlert {
        /// Where the table is.
        location: Location,
        /// The name given.
        name: String,
        /// The shipped alerts' names.
        known: String,
    },
    /// A threshold override for an alert that has none.
    #[error("{location}: key `alerting.rules.{name}.threshold`: `{name}` has no threshold to change (only `for` and `enabled`)")]
    NotTunable {
        /// Where the table is.
        location: Location,
        /// The alert.
        name: String,
    },
    /// A user rule file cannot be read.
    #[error("cannot read rule file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A user rule file is not a valid Prometheus rules file.
    #[error("{}:{line}: key `{key}`: {message}", path.display())]
    UserRules {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The dotted key, e.g. `groups[0].rules[2].expr`.
        key: String,
        /// What is wrong.
        message: String,
    },
}
