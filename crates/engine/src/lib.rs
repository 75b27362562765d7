//! The engine as a library: one function per operation `stackup` runs (`up`,
//! `preview`, `refresh`, `destroy`, `sweep`, `reap`, `list_stacks`, `outputs`,
//! `import`, `unlock`, the `state_*` operations), each taking its options and returning
//! a serializable report or a typed error, over one shared run path (recover, refresh,
//! plan, pre-flight, confirm, apply, history) that every caller uses: the binary, the
//! tests and the bench.
//!
//! A caller opens a [`Stack`] from a program it built and the state store and
//! provider registry it chose, implements [`Host`] (plan shown, confirmation asked,
//! progress events received, notices of what the engine did on its own), and holds a
//! [`Cancel`] to stop a run: operations in flight finish and are recorded, none start.
//!
//! **Architecture invariant:** the engine never prints, never exits the process, reads
//! no environment variable, and knows neither AWS nor any particular program: those
//! come in through [`Stack`], [`Host`] and [`Actor`].

mod diagram;
mod host;
mod inspect;
mod preflight;
mod records;
mod run;
mod stack;
mod stacks;
mod sweep;

pub use diagram::{diagram, Container, Diagram, Edge, EdgeKind, Node};
pub use host::{Actor, Cancel, Host, Quiet};
pub use inspect::{outputs, plan_json, preview, refresh, PreviewReport, RefreshReport};
pub use preflight::{check_deletes, preflight, Refusals};
pub use records::{
    import, records_sorted, state_export, state_history, state_import, state_list, state_rm, state_rollback,
    state_show, unlock, Adopted, Forgotten, HistoryLine, RecordSummary, Replaced, RolledBack, Unlocked,
};
pub use run::{apply_recorded, destroy, up, DestroyOptions, RunOptions, RunReport, UpOptions};
pub use stack::Stack;
pub use stacks::{
    list_stacks, reap, record_stack_meta, ReapItem, ReapOptions, ReapOutcome, ReapReport, ReapWith, Resolver,
    StackInfo, EXPIRES_AT, REGION, STACK_FILE,
};
pub use sweep::{list_tagged, sweep, Blocked, SweepObject, SweepOptions, SweepReport};

use stackup_graph::GraphErrors;
use stackup_planner::destroy::DestroyError;
use stackup_planner::PlanError;
use stackup_state::StateError;

/// Why an operation failed. Every variant's text names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The program's resources do not form a valid graph (cycles, dangling references).
    #[error(transparent)]
    Graph(#[from] GraphErrors),
    /// Inputs the providers refuse, found before anything is touched.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A destroy's targets or excludes do not fit the recorded resources.
    #[error(transparent)]
    Destroy(#[from] DestroyError),
    /// The state store failed or is held by another run.
    #[error(transparent)]
    State(#[from] StateError),
    /// Reading the live resources failed: nothing was planned from a partial view.
    #[error("reading live state: {0}")]
    Refresh(String),
    /// A lookup found nothing (or more than one thing), or its read failed; nothing
    /// was changed.
    #[error("{0}")]
    Lookup(String),
    /// Looking for objects tagged with the stack that state does not know failed.
    #[error("listing the stack's tagged objects: {0}")]
    Unmanaged(String),
    /// Resolving what an interrupted run left failed, or is ambiguous.
    #[error("{0}")]
    Recovery(String),
    /// The delete pre-flight found deletes that cannot go ahead; nothing was touched.
    #[error("{0}")]
    Refused(Refusals),
    /// A `--target` (or exclude) names nothing the stack declares or records.
    #[error("{0}")]
    Target(String),
    /// The host did not confirm; nothing was changed.
    #[error("{0}")]
    NotConfirmed(String),
    /// A request that does not fit the stack (a URN it does not record, a type no
    /// provider knows, a lock a live run holds); nothing was changed.
    #[error("{0}")]
    Request(String),
    /// The engine itself failed (a task that did not finish).
    #[error("{0}")]
    Internal(String),
}
