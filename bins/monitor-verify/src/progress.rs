//! The progress line `monitor-verify --config` draws on stderr while it waits on AWS: one
//! spinner naming the phase, only when stderr is a terminal (stdout holds the report,
//! which may be JSON).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use monitor_reconcile::report::ApplyReporter;

/// One spinner, its message replaced by each phase.
pub struct Spinner(ProgressBar);

impl Spinner {
    pub fn new() -> Spinner {
        let pb = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            pb.set_style(style);
        }
        Spinner(pb)
    }
}

impl ApplyReporter for Spinner {
    fn wait_started(&self, _id: usize, message: &str) {
        self.0.set_message(message.to_string());
        self.0.enable_steady_tick(Duration::from_millis(120));
    }

    fn wait_finished(&self, _id: usize) {
        self.0.disable_steady_tick();
    }
}

impl Drop for Spinner {
    /// Gone before the report is printed.
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
