//! What the engine asks of its caller: a host that shows plans, confirms, receives
//! progress; who runs it; and a token to stop a run.

use std::sync::Arc;

use stackup_executor::{Event, Observer, ResourceDrift};
use stackup_planner::Plan;
use tokio::sync::watch;

/// The caller's side of a run. The binary renders to the terminal and prompts; tests
/// and the bench use [`Quiet`].
pub trait Host: Send + Sync {
    /// The plan a run is about to apply (or, with no changes, the plan that needs
    /// nothing), with the drift refresh found. Called once per run, before
    /// [`Host::confirm`].
    fn planned(&self, stack: &str, command: &str, plan: &Plan, drift: &[ResourceDrift]);

    /// Whether to apply a plan with changes. `Err` carries why not (not confirmed,
    /// cannot ask), which the run returns as [`crate::EngineError::NotConfirmed`].
    fn confirm(&self, stack: &str, command: &str, plan: &Plan) -> Result<(), String>;

    /// Receives the apply's events; `operations` is how many the plan has.
    fn progress(&self, operations: usize) -> Arc<dyn Observer>;

    /// The apply has finished (successfully or not): stop showing progress.
    fn applied(&self) {}

    /// Something the engine did on its own that the user should know of (an
    /// interrupted run's object recovered).
    fn notice(&self, text: &str);
}

/// A host that shows nothing and confirms everything: for code that drives the engine
/// itself (tests, the bench, programs using the engine as a library).
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: Event) {}
}

impl Host for Quiet {
    fn planned(&self, _: &str, _: &str, _: &Plan, _: &[ResourceDrift]) {}

    fn confirm(&self, _: &str, _: &str, _: &Plan) -> Result<(), String> {
        Ok(())
    }

    fn progress(&self, _: usize) -> Arc<dyn Observer> {
        Arc::new(Quiet)
    }

    fn notice(&self, _: &str) {}
}

/// Who runs an operation, for the history entry: the engine reads no environment, so
/// the caller says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub host: String,
}

impl Actor {
    /// An actor for code that has no user to name (tests, the bench).
    pub fn named(user: &str) -> Actor {
        Actor {
            user: user.to_string(),
            host: "local".to_string(),
        }
    }
}

/// Stops a run: operations not yet started are skipped (and stay planned for the next
/// run), those in flight finish and are recorded. Clones share the same token.
#[derive(Clone, Debug)]
pub struct Cancel {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Cancel {
    fn default() -> Cancel {
        Cancel::new()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel {
            sender: Arc::new(watch::channel(false).0),
        }
    }

    /// Asks the run to stop starting operations.
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    /// What the executor watches.
    pub(crate) fn receiver(&self) -> watch::Receiver<bool> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_reaches_every_clone_and_the_executor() {
        let cancel = Cancel::new();
        let held = cancel.clone();
        let receiver = cancel.receiver();
        assert!(!held.is_cancelled() && !*receiver.borrow());
        cancel.cancel();
        assert!(held.is_cancelled());
        assert!(*receiver.borrow(), "the executor's receiver sees it");
    }
}
