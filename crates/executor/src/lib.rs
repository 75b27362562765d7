//! The executor: runs a plan's operations on tokio, as many at a time as allowed, each
//! the moment what it waits for is done; records every outcome in state the moment it
//! happens; skips the dependents of a failed operation and keeps going elsewhere. Also
//! the batched refresh that reads live state by type.
//!
//! Architecture invariant: write ahead. Before any mutating provider call the intent is
//! in the journal; right after it returns, the outcome (physical id, outputs) is in the
//! record. The executor never decides what to do, only when.

mod apply;
mod patience;
mod recover;
mod refresh;
mod walk;

pub use apply::{apply, ApplyContext, ApplyReport, Checkpoint, Event, Observer, OpResult};
pub use recover::{recover, Recovery};
pub use refresh::{listed, refresh, survey, AttributeDrift, Refreshed, ResourceDrift, Survey};
pub use walk::{walk, NodeOutcome};

use stackup_provider::ProviderError;
use stackup_state::StateError;

/// Why an operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Provider(ProviderError),
    #[error("recording state failed: {0}")]
    State(String),
    #[error("{0}")]
    Engine(String),
}

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> StepError {
        StepError::Provider(e)
    }
}

impl From<StateError> for StepError {
    fn from(e: StateError) -> StepError {
        StepError::State(e.to_string())
    }
}
