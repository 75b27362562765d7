//! The commands that work on recorded state rather than on AWS: `state list|show|rm|
//! export|import|history|rollback`, `import` (adopting an existing object, which only
//! reads AWS) and `unlock`.
//!
//! None of them changes anything in AWS. Each one that changes the records appends a
//! history entry with the records it left, so `state rollback` can undo it too.

use std::collections::BTreeMap;
use std::path::Path;

use crate::stackfile::StackFile;
use anyhow::Context;
use serde_json::json;
use stackup_model::{Properties, ResourceRecord, TypeToken, Urn};
use stackup_provider::{ReadRequest, ReadTarget};
use stackup_state::export::StateDocument;
use stackup_state::{
    format_unix_time, hostname, now_unix, process_alive, HistoryEntry, LockProbe, SledStore, StackLock, StateStore,
};

use crate::cli::{Global, StateCommand};
use crate::session::Session;

/// Runs one `stackup state ...` command.
pub async fn run(g: &Global, command: StateCommand) -> anyhow::Result<u8> {
    match command {
        StateCommand::List { json } => {
            let (name, store) = open_store(g, "state list")?;
            list(&name, &store, json)
        }
        StateCommand::Show { urn, json } => {
            let (name, store) = open_store(g, "state show")?;
            show(&name, &store, &urn, json)
        }
        StateCommand::Rm { urn, force } => {
            let (name, store) = open_store(g, "state rm")?;
            rm(&name, &store, &urn, force)
        }
        StateCommand::Export { output } => {
            let (name, store) = open_store(g, "state export")?;
            export(&name, &store, output.as_deref())
        }
        StateCommand::Import { file } => {
            let (name, store) = open_store(g, "state import")?;
            import_document(&name, &store, &file)
        }
        StateCommand::History { json } => {
            let (name, store) = open_store(g, "state history")?;
            history(&name, &store, json)
        }
        StateCommand::Rollback { to } => {
            let (name, store) = open_store(g, "state rollback")?;
            rollback(&name, &store, to)
        }
    }
}

/// The stack's name and its store. Only the stack file is read: the program, the AWS
/// clients and their checks are not needed to look at or repair recorded state.
fn open_store(g: &Global, command: &str) -> anyhow::Result<(String, SledStore)> {
    let file = StackFile::read(&g.stack)?;
    let store = SledStore::open(&g.state_dir, &file.name, command)
        .with_context(|| format!("opening the state of stack '{}'", file.name))?;
    Ok((file.name, store))
}

fn sorted_records(store: &dyn StateStore) -> anyhow::Result<Vec<ResourceRecord>> {
    let mut records = store.records()?;
    records.sort_by(|a, b| a.urn.cmp(&b.urn));
    Ok(records)
}

fn list(stack: &str, store: &dyn StateStore, json: bool) -> anyhow::Result<u8> {
    let records = sorted_records(store)?;
    if json {
        let list: Vec<serde_json::Value> = records
            .iter()
            .map(|r| json!({"urn": r.urn, "type": r.ty, "id": r.id, "dependencies": r.dependencies}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for r in &records {
            println!("{:<60} {}", r.urn.as_str(), r.id);
        }
        println!("{} resource(s) in stack {stack}", records.len());
    }
    Ok(0)
}

fn show(stack: &str, store: &dyn StateStore, urn: &str, json: bool) -> anyhow::Result<u8> {
    let records = sorted_records(store)?;
    let r = records
        .iter()
        .find(|r| r.urn.as_str() == urn)
        .ok_or_else(|| anyhow::anyhow!("no recorded resource {urn} in stack {stack} (see `stackup state list`)"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        println!("{}\n  type: {}\n  id:   {}", r.urn, r.ty, r.id);
        println!("  inputs:");
        for (k, v) in &r.inputs {
            println!("    {k}: {v}");
        }
        println!("  outputs:");
        for (k, v) in &r.outputs {
            println!("    {k}: {v}");
        }
        println!(
            "  depends on: {}",
            r.dependencies.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(0)
}

/// Forgets one resource. Its dependents would otherwise keep pointing at an object
/// stackup no longer tracks, so they must go first unless `--force`.
fn rm(stack: &str, store: &dyn StateStore, urn_text: &str, force: bool) -> anyhow::Result<u8> {
    let urn = Urn::parse(urn_text).map_err(|e| anyhow::anyhow!("state rm: {e}"))?;
    let records = sorted_records(store)?;
    let record = records
        .iter()
        .find(|r| r.urn == urn)
        .ok_or_else(|| anyhow::anyhow!("no recorded resource {urn} in stack {stack} (see `stackup state list`)"))?;
    let dependents: Vec<&str> = records
        .iter()
        .filter(|r| r.dependencies.contains(&urn))
        .map(|r| r.urn.as_str())
        .collect();
    anyhow::ensure!(
        dependents.is_empty() || force,
        "refusing to forget {urn}: {} recorded resource(s) depend on it ({}). Forgetting it alone would leave them pointing at an object stackup no longer tracks; forget them first, or pass --force",
        dependents.len(),
        dependents.join(", ")
    );
    store.remove(&urn)?;
    record_run(store, format!("state rm {urn}"), vec![format!("forgot {urn}")])?;
    println!(
        "Forgot {urn} ({}). AWS was not touched: the object still exists. `stackup up` would create a new one in its place; `stackup import {} {} {}` adopts this one again.",
        record.id,
        record.ty,
        urn.name(),
        record.id
    );
    if !dependents.is_empty() {
        println!("Warning: {} still depend(s) on it (--force).", dependents.join(", "));
    }
    Ok(0)
}

/// Writes every record and retired record as one JSON document.
fn export(stack: &str, store: &SledStore, output: Option<&Path>) -> anyhow::Result<u8> {
    let doc = StateDocument::new(stack, store.records()?, store.retired()?);
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    match output {
        None => print!("{text}"),
        Some(file) => {
            // Written beside the target and renamed, so an existing export is never
            // left half overwritten.
            let tmp = file.with_extension("stackup-tmp");
            std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, file).with_context(|| format!("moving {} to {}", tmp.display(), file.display()))?;
            println!(
                "Exported {} record(s) and {} retired record(s) of stack {stack} to {}.",
                doc.records.len(),
                doc.retired.len(),
                file.display()
            );
        }
    }
    Ok(0)
}

/// Replaces the stack's records (and retired records) with an export's, all at once,
/// after validating the whole document.
fn import_document(stack: &str, store: &SledStore, file: &Path) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = StateDocument::parse(&file.display().to_string(), &text, stack)?;
    // The current records may be the damaged ones this import repairs: only the change
    // lines of the history entry need them.
    let before = store.records().ok();
    store.replace_all_with_retired(&doc.records, &doc.retired)?;
    let changes = match &before {
        Some(before) => change_lines(before, &doc.records),
        None => vec!["replaced unreadable records".to_string()],
    };
    record_run(store, format!("state import {}", file.display()), changes)?;
    println!(
        "Imported {} record(s) and {} retired record(s) into stack {stack} from {}, replacing what was recorded. AWS was not touched; run `stackup diff` to compare them with AWS.",
        doc.records.len(),
        doc.retired.len(),
        file.display()
    );
    Ok(0)
}

fn history(stack: &str, store: &dyn StateStore, json: bool) -> anyhow::Result<u8> {
    let entries = store.history()?;
    if json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|h| {
                json!({
                    "seq": h.seq,
                    "started_at": h.started_at,
                    "finished_at": h.finished_at,
                    "when": format_unix_time(h.started_at),
                    "user": h.user,
                    "host": h.host,
                    "command": h.command,
                    "created": h.created,
                    "updated": h.updated,
                    "replaced": h.replaced,
                    "deleted": h.deleted,
                    "failed": h.failed,
                    "changes": h.changes,
                    "resources": h.snapshot.len(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    if entries.is_empty() {
        println!("No runs recorded for stack {stack} yet.");
        return Ok(0);
    }
    for h in &entries {
        // State commands make no AWS operation: zero counts would only be noise.
        let counts = if h.command.starts_with("state ") || h.command.starts_with("import ") {
            "records only, AWS untouched".to_string()
        } else {
            format!(
                "{} created, {} updated, {} replaced, {} deleted, {} failed",
                h.created, h.updated, h.replaced, h.deleted, h.failed
            )
        };
        println!(
            "#{:<3} {}  {}@{}  {}: {counts}; {} resource(s) recorded after",
            h.seq,
            format_unix_time(h.started_at),
            h.user,
            h.host,
            h.command,
            h.snapshot.len()
        );
        for c in &h.changes {
            println!("       {c}");
        }
    }
    println!(
        "{} run(s) of stack {stack}; `stackup state rollback --to N` restores the records run N left.",
        entries.len()
    );
    Ok(0)
}

/// Restores the records a past run left. AWS is not touched: the next `diff` shows
/// what differs, and `up` reconciles it.
fn rollback(stack: &str, store: &dyn StateStore, to: u64) -> anyhow::Result<u8> {
    let entries = store.history()?;
    let entry = entries.iter().find(|h| h.seq == to).ok_or_else(|| {
        let known = match (entries.first(), entries.last()) {
            (Some(first), Some(last)) => format!("its entries are {} to {}", first.seq, last.seq),
            _ => "it has none yet".to_string(),
        };
        anyhow::anyhow!(
            "state rollback --to {to}: stack {stack} has no history entry {to}; {known} (see `stackup state history`)"
        )
    })?;
    // The current records may be unreadable (rollback is a way out of a damaged store).
    let before = store.records().ok();
    store.replace_all(&entry.snapshot)?;
    let changes = match &before {
        Some(before) => change_lines(before, &entry.snapshot),
        None => vec!["replaced unreadable records".to_string()],
    };
    record_run(store, format!("state rollback --to {to}"), changes)?;
    println!(
        "Restored the {} record(s) that run {to} (`{}`, finished {}) left in stack {stack}. AWS was not touched: `stackup diff` will now show what differs between these records and AWS, and `stackup up` would reconcile it.",
        entry.snapshot.len(),
        entry.command,
        format_unix_time(entry.finished_at)
    );
    Ok(0)
}

/// Adopts an existing AWS object: reads it and records what is live. Nothing in AWS
/// changes; the next `diff` shows how it differs from the program.
pub async fn import(g: &Global, ty_text: &str, name: &str, id: &str) -> anyhow::Result<u8> {
    let ty = TypeToken::parse(ty_text).map_err(|e| anyhow::anyhow!("import: {e}"))?;
    anyhow::ensure!(
        !name.is_empty() && !name.contains("::"),
        "import: the name '{name}' cannot be part of a URN (it must be non-empty and must not contain '::')"
    );
    anyhow::ensure!(!id.trim().is_empty(), "import: the id of the object to adopt is empty");
    let s = Session::open(g, "import").await?;
    let stack = s.file.name.clone();
    let provider = s.stack.registry.get(&ty).ok_or_else(|| {
        let known: Vec<&str> = s.stack.registry.types().map(|t| t.as_str()).collect();
        anyhow::anyhow!("import: unknown resource type {ty}; stackup knows {}", known.join(", "))
    })?;
    let urn = Urn::new(&stack, &ty, name);
    if let Some(existing) = s.store.get(&urn)? {
        anyhow::bail!(
            "import: {urn} is already recorded (as {}); `stackup state rm {urn}` first to adopt a different object under this name",
            existing.id
        );
    }
    if let Some(other) = s.store.records()?.into_iter().find(|r| r.id == id) {
        anyhow::bail!(
            "import: {id} is already recorded as {}; one object cannot be managed under two names",
            other.urn
        );
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
        .with_context(|| format!("import: reading {ty} {id} from AWS; nothing was recorded"))?;
    let live = read.found.into_iter().find(|l| l.id == id).ok_or_else(|| {
        anyhow::anyhow!(
            "import: no {ty} with id {id} exists in region {} (or it is being deleted); nothing was recorded",
            s.file.region
        )
    })?;
    let record = ResourceRecord {
        urn: urn.clone(),
        ty: ty.clone(),
        id: live.id,
        inputs: live.inputs,
        outputs: live.outputs,
        dependencies: Vec::new(),
        tainted: None,
    };
    s.store.put(&record)?;
    record_run(
        s.store.as_ref(),
        format!("import {ty} {name} {id}"),
        vec![format!("imported {urn} ({id})")],
    )?;
    println!(
        "Imported {ty} {id} as {urn}. AWS was not changed. Run `stackup diff` to see how it differs from the program."
    );
    if !s.stack.graph.contains(&urn) {
        println!(
            "Note: the program does not declare {urn}, so `stackup up` would delete it. Declare it (named {name}) first, or `stackup state rm {urn}` to let go of it."
        );
    }
    Ok(0)
}

/// Removes the stack's lock file. A live holder on this host is a run in progress (or
/// a stuck one): refused unless `--force`. A holder that died released the OS lock
/// already; the file is only its name tag.
pub fn unlock(g: &Global, force: bool) -> anyhow::Result<u8> {
    let file = StackFile::read(&g.stack)?;
    let stack = &file.name;
    let dir = g.state_dir.join(stack);
    let path = dir.join("lock");
    let inspection = StackLock::inspect(&dir).with_context(|| format!("inspecting the lock of stack '{stack}'"))?;
    match inspection.probe.clone() {
        LockProbe::Absent => {
            println!(
                "Stack {stack} has no lock file ({}): nothing to unlock.",
                path.display()
            );
        }
        LockProbe::Free { last } => {
            inspection.remove()?;
            let last = last
                .map(|h| format!(" (it last named {h}, which has exited)"))
                .unwrap_or_default();
            println!(
                "Removed the lock file {} of stack {stack}: no run held it{last}. Runs take the lock by themselves; this was only tidying.",
                path.display()
            );
        }
        LockProbe::Held { holder } => {
            let this_host = hostname();
            let described = holder
                .as_ref()
                .map(|h| h.to_string())
                .unwrap_or_else(|| "a process that did not write its name into the lock file".to_string());
            let (live_here, why) = match &holder {
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
            };
            anyhow::ensure!(
                force || !live_here,
                "stack '{stack}' is locked by {described}; {why}. `stackup unlock --force` removes the lock file anyway"
            );
            inspection.remove()?;
            if live_here {
                println!(
                    "Removed the lock file {} of stack {stack} although {described} still holds it (--force). Until that process exits, its state database stays open in it, and new runs of this stack will fail saying so.",
                    path.display()
                );
            } else {
                println!("Removed the lock file {} of stack {stack}: {why}.", path.display());
            }
        }
    }
    Ok(0)
}

/// Appends a history entry for a state command: no AWS operation, the records it left.
fn record_run(store: &dyn StateStore, command: String, changes: Vec<String>) -> anyhow::Result<u64> {
    let now = now_unix();
    Ok(store.append_history(HistoryEntry {
        seq: 0,
        command,
        user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        host: hostname(),
        started_at: now,
        finished_at: now,
        created: 0,
        updated: 0,
        replaced: 0,
        deleted: 0,
        failed: 0,
        changes,
        snapshot: store.records()?,
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
