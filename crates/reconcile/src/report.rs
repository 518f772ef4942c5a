//! How `apply` reports progress without printing (as uv's `Reporter`): the library calls
//! an [`ApplyReporter`]; the binary draws it (indicatif in `monitor-provision`), tests
//! pass [`NoReporter`] or record the calls.

use crate::plan::Action;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// `kind.name` of the resource.
    pub address: String,
    /// The action performed.
    pub action: Action,
    /// What happened (`created ws-…`, …).
    pub message: String,
}

/// Receives apply's progress. Every method has a do-nothing default.
pub trait ApplyReporter: Send + Sync {
    /// A wait started (`waiting for AMP workspace ws-… to be ACTIVE`); `id` is unique in
    /// this run and names the wait in the calls that follow.
    fn wait_started(&self, id: usize, message: &str) {
        let _ = (id, message);
    }
    /// The wait `id` has news (the status seen now).
    fn wait_progress(&self, id: usize, message: &str) {
        let _ = (id, message);
    }
    /// The wait `id` ended (reached, failed or timed out).
    fn wait_finished(&self, id: usize) {
        let _ = id;
    }
    /// A step finished successfully.
    fn step_done(&self, step: &StepResult) {
        let _ = step;
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl ApplyReporter for NoReporter {}

/// A wait shown by the reporter from creation until drop.
pub(crate) struct WaitGuard<'a> {
    reporter: &'a dyn ApplyReporter,
    id: usize,
}

impl<'a> WaitGuard<'a> {
    pub(crate) fn new(reporter: &'a dyn ApplyReporter, id: usize, message: &str) -> Self {
        reporter.wait_started(id, message);
        WaitGuard { reporter, id }
    }

    pub(crate) fn set(&self, message: &str) {
        self.reporter.wait_progress(self.id, message);
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.reporter.wait_finished(self.id);
    }
}
