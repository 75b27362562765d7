//! The operations on recorded state, which change nothing in the cloud: `state list |
//! show | rm | export | import | history | rollback`, `import` (adopting an existing
//! object, which only reads it) and `unlock`. Each one that changes the records appends
//! a history entry with the records it left, so `state rollback` can undo it too.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use stackup_model::{Properties, ResourceRecord, TypeToken, Urn};
use stackup_provider::{ReadRequest, ReadTarget};
use stackup_state::export::StateDocument;
use stackup_state::{now_unix, process_alive, HistoryEntry, LockHolder, LockProbe, StackLock, StateStore};

use crate::{Actor, EngineError, Stack};

/// One recorded resource, as `state list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordSummary {
    pub urn: Urn,
    #[serde(rename = "type")]
    pub ty: TypeToken,
    pub id: String,
    pub dependencies: Vec<Urn>,
}

/// The records, sorted by URN.
pub fn records_sorted(store: &dyn StateStore) -> Result<Vec<ResourceRecord>, EngineError> {
    let mut records = store.records()?;
    records.sort_by(|a, b| a.urn.cmp(&b.urn));
    Ok(records)
}

/// `state list`.
pub fn state_list(store: &dyn StateStore) -> Result<Vec<RecordSummary>, EngineError> {
    Ok(records_sorted(store)?
        .into_iter()
        .map(|r| RecordSummary {
            urn: r.urn,
            ty: r.ty,
            id: r.id,
            dependencies: r.dependencies,
        })
        .collect())
}

fn not_recorded(stack: &str, urn: &str) -> EngineError {
    EngineError::Request(format!(
        "no recorded resource {urn} in stack {stack} (see `stackup state list`)"
    ))
}

/// `state show`: one record, whole.
pub fn state_show(store: &dyn StateStore, stack: &str, urn: &str) -> Result<ResourceRecord, EngineError> {
    store
        .records()?
        .into_iter()
        .find(|r| r.urn.as_str() == urn)
        .ok_or_else(|| not_recorded(stack, urn))
}

/// What `state rm` forgot.
#[derive(Clone, Debug, Serialize)]
pub struct Forgotten {
    pub urn: Urn,
    #[serde(rename = "type")]
    pub ty: TypeToken,
    pub id: String,
    /// Records that still depend on it (only with `force`).
    pub dependents: Vec<Urn>,
}

/// `state rm`: forgets one resource. Its dependents would otherwise keep pointing at an
/// object stackup no longer tracks, so they must go first unless `force`.
pub fn state_rm(
    store: &dyn StateStore,
    stack: &str,
    urn_text: &str,
    force: bool,
    actor: &Actor,
) -> Result<Forgotten, EngineError> {
    let urn = Urn::parse(urn_text).map_err(|e| EngineError::Request(format!("state rm: {e}")))?;
    let records = records_sorted(store)?;
    let record = records
        .iter()
        .find(|r| r.urn == urn)
        .ok_or_else(|| not_recorded(stack, urn.as_str()))?;
    let dependents: Vec<Urn> = records
        .iter()
        .filter(|r| r.dependencies.contains(&urn))
        .map(|r| r.urn.clone())
        .collect();
    if !dependents.is_empty() && !force {
        let names: Vec<&str> = dependents.iter().map(Urn::as_str).collect();
        return Err(EngineError::Request(format!(
            "refusing to forget {urn}: {} recorded resource(s) depend on it ({}). Forgetting it alone would leave them pointing at an object stackup no longer tracks; forget them first, or pass --force",
            dependents.len(),
            names.join(", ")
        )));
    }
    store.remove(&urn)?;
    record_run(store, format!("state rm {urn}"), vec![format!("forgot {urn}")], actor)?;
    Ok(Forgotten {
        urn: urn.clone(),
        ty: record.ty.clone(),
        id: record.id.clone(),
        dependents,
    })
}

/// `state export`: every record and retired record as one document.
pub fn state_export(store: &dyn StateStore, stack: &str) -> Result<StateDocument, EngineError> {
    Ok(StateDocument::new(stack, store.records()?, store.retired()?))
}

/// What `state import` or `state rollback` left.
#[derive(Clone, Debug, Serialize)]
pub struct Replaced {
    pub records: usize,
    pub retired: usize,
    /// One line per resource that changed, as the history entry says.
    pub changes: Vec<String>,
}

/// `state import`: replaces the stack's records (and retired records) with a validated
/// export's, all at once. `source` names it in the history.
pub fn state_import(
    store: &dyn StateStore,
    doc: &StateDocument,
    source: &str,
    actor: &Actor,
) -> Result<Replaced, EngineError> {
    // The current records may be the damaged ones this import repairs: only the change
    // lines of the history entry need them.
    let before = store.records().ok();
    store.replace_all_with_retired(&doc.records, &doc.retired)?;
    let changes = match &before {
        Some(before) => change_lines(before, &doc.records),
        None => vec!["replaced unreadable records".to_string()],
    };
    record_run(store, format!("state import {source}"), changes.clone(), actor)?;
    Ok(Replaced {
        records: doc.records.len(),
        retired: doc.retired.len(),
        changes,
    })
}

/// One run of `state history`.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryLine {
    pub seq: u64,
    pub started_at: u64,
    pub finished_at: u64,
    /// `started_at` for people (UTC).
    pub when: String,
    pub user: String,
    pub host: String,
    pub command: String,
    pub created: usize,
    pub updated: usize,
    pub replaced: usize,
    pub deleted: usize,
    pub failed: usize,
    pub changes: Vec<String>,
    /// How many resources were recorded after the run.
    pub resources: usize,
    /// Operations not started because the run was stopped (Ctrl-C, SIGTERM).
    pub not_started: usize,
}

impl HistoryLine {
    /// Whether the run only changed records (a state command or an import).
    pub fn records_only(&self) -> bool {
        self.command.starts_with("state ") || self.command.starts_with("import ")
    }
}

/// `state history`: every run, oldest first.
pub fn state_history(store: &dyn StateStore) -> Result<Vec<HistoryLine>, EngineError> {
    Ok(store
        .history()?
        .into_iter()
        .map(|h| HistoryLine {
            seq: h.seq,
            started_at: h.started_at,
            finished_at: h.finished_at,
            when: stackup_state::format_unix_time(h.started_at),
            user: h.user,
            host: h.host,
            command: h.command,
            created: h.created,
            updated: h.updated,
            replaced: h.replaced,
            deleted: h.deleted,
            failed: h.failed,
            changes: h.changes,
            resources: h.snapshot.len(),
            not_started: h.not_started,
        })
        .collect())
}

/// What `state rollback` restored.
#[derive(Clone, Debug, Serialize)]
pub struct RolledBack {
    pub to: u64,
    /// The command of the run whose records were restored, and when it finished.
    pub command: String,
    pub finished_at: u64,
    pub replaced: Replaced,
}

/// `state rollback`: restores the records a past run left. The cloud is not touched:
/// the next preview shows what differs, and `up` reconciles it.
pub fn state_rollback(store: &dyn StateStore, stack: &str, to: u64, actor: &Actor) -> Result<RolledBack, EngineError> {
    let entries = store.history()?;
    let entry = entries.iter().find(|h| h.seq == to).ok_or_else(|| {
        let known = match (entries.first(), entries.last()) {
            (Some(first), Some(last)) => format!("its entries are {} to {}", first.seq, last.seq),
            _ => "it has none yet".to_string(),
        };
        EngineError::Request(format!(
            "state rollback --to {to}: stack {stack} has no history entry {to}; {known} (see `stackup state history`)"
        ))
    })?;
    // The current records may be unreadable (rollback is a way out of a damaged store).
    let before = store.records().ok();
    store.replace_all(&entry.snapshot)?;
    let changes = match &before {
        Some(before) => change_lines(before, &entry.snapshot),
        None => vec!["replaced unreadable records".to_string()],
    };
    record_run(store, format!("state rollback --to {to}"), changes.clone(), actor)?;
    Ok(RolledBack {
        to,
        command: entry.command.clone(),
        finished_at: entry.finished_at,
        replaced: Replaced {
            records: entry.snapshot.len(),
            retired: 0,
            changes,
        },
    })
}

/// What `import` adopted.
#[derive(Clone, Debug, Serialize)]
pub struct Adopted {
    pub urn: Urn,
    #[serde(rename = "type")]
    pub ty: TypeToken,
    pub id: String,
    /// Whether the program declares the resource (if not, `up` would delete it).
    pub declared: bool,
}

/// `import`: adopts an existing object: reads it and records what is live. Nothing in
/// the cloud changes; the next preview shows how it differs from the program.
pub async fn import(stack: &Stack, ty_text: &str, name: &str, id: &str, actor: &Actor) -> Result<Adopted, EngineError> {
    let bad = |why: String| EngineError::Request(format!("import: {why}"));
    let ty = TypeToken::parse(ty_text).map_err(|e| bad(e.to_string()))?;
    if name.is_empty() || name.contains("::") {
        return Err(bad(format!(
            "the name '{name}' cannot be part of a URN (it must be non-empty and must not contain '::')"
        )));
    }
    if id.trim().is_empty() {
        return Err(bad("the id of the object to adopt is empty".to_string()));
    }
    let provider = stack.registry.get(&ty).ok_or_else(|| {
        let known: Vec<&str> = stack.registry.types().map(|t| t.as_str()).collect();
        bad(format!(
            "unknown resource type {ty}; stackup knows {}",
            known.join(", ")
        ))
    })?;
    let urn = Urn::new(&stack.name, &ty, name);
    if let Some(existing) = stack.store.get(&urn)? {
        return Err(bad(format!(
            "{urn} is already recorded (as {}); `stackup state rm {urn}` first to adopt a different object under this name",
            existing.id
        )));
    }
    if let Some(other) = stack.store.records()?.into_iter().find(|r| r.id == id) {
        return Err(bad(format!(
            "{id} is already recorded as {}; one object cannot be managed under two names",
            other.urn
        )));
    }
    let read = provider
        .read(ReadRequest {
            targets: vec![ReadTarget {
                urn: urn.clone(),
                id: id.to_string(),
                inputs: Properties::new(),
                outputs: Properties::new(),
            }],
        })
        .await
        .map_err(|e| bad(format!("reading {ty} {id}; nothing was recorded: {e}")))?;
    let live = read.found.into_iter().find(|l| l.id == id).ok_or_else(|| {
        bad(format!(
            "no {ty} with id {id} exists (or it is being deleted); nothing was recorded"
        ))
    })?;
    let record = ResourceRecord {
        urn: urn.clone(),
        ty: ty.clone(),
        id: live.id,
        inputs: live.inputs.into(),
        outputs: live.outputs.into(),
        dependencies: Vec::new(),
        tainted: None,
    };
    stack.store.put(&record)?;
    record_run(
        stack.store.as_ref(),
        format!("import {ty} {name} {id}"),
        vec![format!("imported {urn} ({id})")],
        actor,
    )?;
    Ok(Adopted {
        declared: stack.graph.contains(&urn),
        urn,
        ty,
        id: record.id,
    })
}

/// What `unlock` found and did.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Unlocked {
    /// There was no lock file.
    Absent { path: String },
    /// No run held it; the file was only a name tag.
    Free { path: String, last: Option<String> },
    /// A holder that is no longer running (or cannot be the one on this host).
    Stale { path: String, why: String },
    /// `force`: removed although a process may still hold it.
    Forced { path: String, holder: String },
}

/// `unlock`: removes the stack's lock file. A live holder on this host is a run in
/// progress (or a stuck one): refused unless `force`. A holder that died released the
/// OS lock already; the file is only its name tag. `actor.host` is this host.
pub fn unlock(state_dir: &Path, stack: &str, force: bool, actor: &Actor) -> Result<Unlocked, EngineError> {
    let dir = state_dir.join(stack);
    let path = dir.join("lock").display().to_string();
    let inspection = StackLock::inspect(&dir)?;
    match inspection.probe.clone() {
        LockProbe::Absent => Ok(Unlocked::Absent { path }),
        LockProbe::Free { last } => {
            inspection.remove()?;
            Ok(Unlocked::Free {
                path,
                last: last.map(|h| h.to_string()),
            })
        }
        LockProbe::Held { holder } => {
            let (live_here, why) = judge_holder(holder.as_ref(), &actor.host);
            let described = holder
                .as_ref()
                .map(|h| h.to_string())
                .unwrap_or_else(|| "a process that did not write its name into the lock file".to_string());
            if live_here && !force {
                return Err(EngineError::Request(format!(
                    "stack '{stack}' is locked by {described}; {why}. `stackup unlock --force` removes the lock file anyway"
                )));
            }
            inspection.remove()?;
            Ok(if live_here {
                Unlocked::Forced {
                    path,
                    holder: described,
                }
            } else {
                Unlocked::Stale { path, why }
            })
        }
    }
}

/// Whether a lock's holder may still be running, and why stackup thinks so.
fn judge_holder(holder: Option<&LockHolder>, this_host: &str) -> (bool, String) {
    match holder {
        Some(h) if h.host == this_host && process_alive(h.pid) => (
            true,
            format!("that process is alive: it is a run in progress, or a stuck one. Wait for it to finish, or stop it (`kill {}`); the lock is released the moment it exits", h.pid),
        ),
        Some(h) if h.host == this_host => (
            false,
            format!("pid {} is not running, so another process inherited the lock", h.pid),
        ),
        Some(h) => (
            true,
            format!("it runs on {}, not on this host ({this_host}), so stackup cannot tell whether it is still running", h.host),
        ),
        None => (true, "stackup cannot tell which process holds it".to_string()),
    }
}

/// Appends a history entry for a records-only operation: no cloud operation, the
/// records it left.
fn record_run(
    store: &dyn StateStore,
    command: String,
    changes: Vec<String>,
    actor: &Actor,
) -> Result<u64, EngineError> {
    let now = now_unix();
    Ok(store.append_history(HistoryEntry {
        seq: 0,
        command,
        user: actor.user.clone(),
        host: actor.host.clone(),
        started_at: now,
        finished_at: now,
        created: 0,
        updated: 0,
        replaced: 0,
        deleted: 0,
        failed: 0,
        changes,
        snapshot: store.records()?,
        not_started: 0,
    })?)
}

/// What replacing `before` with `after` did, one line per resource, for the history.
fn change_lines(before: &[ResourceRecord], after: &[ResourceRecord]) -> Vec<String> {
    let old: BTreeMap<&Urn, &ResourceRecord> = before.iter().map(|r| (&r.urn, r)).collect();
    let new: BTreeMap<&Urn, &ResourceRecord> = after.iter().map(|r| (&r.urn, r)).collect();
    let mut lines = Vec::new();
    for (urn, r) in &new {
        match old.get(urn) {
            None => lines.push(format!("recorded {urn}")),
            Some(o) if o != r => lines.push(format!("rewrote {urn}")),
            Some(_) => {}
        }
    }
    for urn in old.keys().filter(|u| !new.contains_key(*u)) {
        lines.push(format!("forgot {urn}"));
    }
    lines
}
