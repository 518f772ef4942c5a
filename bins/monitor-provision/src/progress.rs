//! The apply progress `monitor-reconcile` reports, drawn with indicatif: one spinner per
//! wait while stdout is a terminal, one line per finished step always.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use monitor_reconcile::report::{ApplyReporter, StepResult};

/// Spinners and step lines.
pub struct Bars {
    multi: MultiProgress,
    waits: Mutex<HashMap<usize, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        let draw = if std::io::stdout().is_terminal() {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            multi: MultiProgress::with_draw_target(draw),
            waits: Mutex::new(HashMap::new()),
        }
    }
}

impl ApplyReporter for Bars {
    fn wait_started(&self, id: usize, message: &str) {
        let pb = self.multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            pb.set_style(style);
        }
        pb.set_message(message.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut w) = self.waits.lock() {
            w.insert(id, pb);
        }
    }

    fn wait_progress(&self, id: usize, message: &str) {
        if let Some(pb) = self.waits.lock().ok().and_then(|w| w.get(&id).cloned()) {
            pb.set_message(message.to_string());
        }
    }

    fn wait_finished(&self, id: usize) {
        if let Some(pb) = self.waits.lock().ok().and_then(|mut w| w.remove(&id)) {
            pb.finish_and_clear();
        }
    }

    fn step_done(&self, step: &StepResult) {
        let line = format!(
            "{} {}: {}",
            step.action.symbol(),
            step.address,
            step.message
        );
        if self.multi.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}
