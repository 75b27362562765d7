//! The state store: what the engine recorded about each resource, the journal of
//! operations in flight, the history of runs, and the per-stack lock.
//!
//! Architecture invariant: every write is durable (flushed) before the call returns, so
//! the executor can rely on "recorded" meaning "survives kill -9".

mod lock;
mod sled_store;

use serde::{Deserialize, Serialize};
use stackup_model::{ResourceRecord, Urn};

pub use lock::{hostname, LockHolder, StackLock};
pub use sled_store::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("stack '{stack}' is locked by {holder}; if that run is gone, run `stackup unlock --stack {stack}`")]
    Locked { stack: String, holder: LockHolder },
    #[error("state store at {path}: {message}")]
    Store { path: String, message: String },
    #[error("state record {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

/// The kind of mutation a journal entry announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalOp {
    Create,
    Update,
    Delete,
}

/// An intent, durable before the mutating call it announces and cleared after the
/// outcome is recorded. An entry still present at the start of a run was interrupted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub token: String,
    pub urn: Urn,
    pub op: JournalOp,
    /// The physical id the operation acts on, when known.
    pub id: Option<String>,
    pub started_at: u64,
}

/// One run of a mutating command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: u64,
    pub command: String,
    pub user: String,
    pub host: String,
    pub started_at: u64,
    pub finished_at: u64,
    pub created: usize,
    pub updated: usize,
    pub replaced: usize,
    pub deleted: usize,
    pub failed: usize,
    /// One line per operation that finished: `create <urn>`, `delete <urn>`, ...
    #[serde(default)]
    pub changes: Vec<String>,
    /// Every record as the run left them: what `state rollback --to <seq>` restores.
    #[serde(default)]
    pub snapshot: Vec<ResourceRecord>,
}

/// Where a stack's state lives.
pub trait StateStore: Send + Sync {
    fn records(&self) -> Result<Vec<ResourceRecord>, StateError>;
    fn get(&self, urn: &Urn) -> Result<Option<ResourceRecord>, StateError>;
    fn put(&self, record: &ResourceRecord) -> Result<(), StateError>;
    fn remove(&self, urn: &Urn) -> Result<(), StateError>;
    /// Records a create-before-delete replacement in one atomic write: `new` becomes the
    /// resource's record and `old` is kept as retired until its object is deleted.
    fn replace(&self, old: &ResourceRecord, new: &ResourceRecord) -> Result<(), StateError>;
    /// Objects replaced but not yet deleted.
    fn retired(&self) -> Result<Vec<ResourceRecord>, StateError>;
    fn forget_retired(&self, record: &ResourceRecord) -> Result<(), StateError>;
    fn journal_begin(&self, entry: &JournalEntry) -> Result<(), StateError>;
    fn journal_end(&self, token: &str) -> Result<(), StateError>;
    fn journal(&self) -> Result<Vec<JournalEntry>, StateError>;
    /// Appends a run to the history and returns its sequence number.
    fn append_history(&self, entry: HistoryEntry) -> Result<u64, StateError>;
    fn history(&self) -> Result<Vec<HistoryEntry>, StateError>;
    /// Replaces every record at once (import of an export, rollback): all or nothing.
    fn replace_all(&self, records: &[ResourceRecord]) -> Result<(), StateError>;
    /// Stack-level settings that are not resources (a demo stack's expiry, ...).
    fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), StateError>;
    fn meta(&self, key: &str) -> Result<Option<String>, StateError>;
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
