//! The state store: what the engine recorded about each resource, the journal of
//! operations in flight, the history of runs, and the per-stack lock.
//!
//! Architecture invariant: every write is durable (flushed) before the call returns, so
//! the executor can rely on "recorded" meaning "survives kill -9".

pub mod export;
mod guard;
mod lock;
mod sled_store;

use serde::{Deserialize, Serialize};
use stackup_model::{ResourceRecord, Urn};

pub use lock::{hostname, process_alive, LockHolder, LockInspection, LockProbe, StackLock};
pub use sled_store::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    // A dead holder's lock is released by the kernel, so a held lock means a live
    // process: the way out is to let it finish or stop it, not to remove the file.
    #[error("stack '{stack}' is locked by {holder}: another run of this stack is in progress. Wait for it to finish, or stop that process; the lock is released the moment it exits, however it exits")]
    Locked { stack: String, holder: LockHolder },
    #[error("state store at {path}: {message}")]
    Store { path: String, message: String },
    #[error("state record {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
    /// The database cannot be opened or read back; `way_out` says how to recover.
    #[error("the state store at {path} is damaged or unreadable: {reason}. Nothing was changed. {way_out}")]
    Damaged {
        path: String,
        reason: String,
        way_out: String,
    },
    /// sled's own lock on the database file is held by another process: a run that
    /// still has the store open although stackup's lock file was removed.
    #[error("the state store at {path} is still open in another process (sled holds its own lock on the database, even after `stackup unlock --force` removed the lock file): wait for that run to finish, or stop it")]
    InUse { path: String },
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub token: String,
    pub urn: Urn,
    pub op: JournalOp,
    /// The physical id the operation acts on, when known.
    pub id: Option<String>,
    pub started_at: u64,
    /// For a create: the resolved inputs sent to AWS, so that recovery records an object
    /// it adopts exactly as a finished create would have. Secrets are never persisted.
    #[serde(default)]
    pub inputs: Option<stackup_model::Properties>,
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
    /// How many operations the run did not start because it was stopped (Ctrl-C,
    /// SIGTERM): more than none marks an interrupted run.
    #[serde(default)]
    pub not_started: usize,
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
    /// Replaces every record and every retired record at once (the import of an
    /// export, which carries both): all or nothing.
    fn replace_all_with_retired(
        &self,
        records: &[ResourceRecord],
        retired: &[ResourceRecord],
    ) -> Result<(), StateError>;
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

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (for messages and history; no time zone
/// database needed).
pub fn format_unix_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}
