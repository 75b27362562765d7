//! The records-only commands: `state list|show|rm|export|import|history|rollback`,
//! `import` (adopting an existing object, which only reads AWS) and `unlock`. Each is
//! the engine's operation and its report rendered; none changes anything in AWS.

use std::path::Path;

use anyhow::Context;
use stackup_engine::{Replaced, Unlocked};
use stackup_state::export::StateDocument;
use stackup_state::{format_unix_time, SledStore};

use crate::cli::{Global, StateCommand};
use crate::host::actor;
use crate::render::print_json;
use crate::session::Session;

/// Runs one `stackup state ...` command.
pub async fn run(g: &Global, command: StateCommand) -> anyhow::Result<u8> {
    let verb = match &command {
        StateCommand::List { .. } => "state list",
        StateCommand::Show { .. } => "state show",
        StateCommand::Rm { .. } => "state rm",
        StateCommand::Export { .. } => "state export",
        StateCommand::Import { .. } => "state import",
        StateCommand::History { .. } => "state history",
        StateCommand::Rollback { .. } => "state rollback",
    };
    let (stack, store) = match open_store(g, verb) {
        Ok(opened) => opened,
        // Never deployed: nothing recorded, no run. Said without creating any state.
        Err(e) if e.is::<NoState>() => {
            return match command {
                StateCommand::List { json: true } | StateCommand::History { json: true } => {
                    println!("[]");
                    Ok(0)
                }
                StateCommand::List { json: false } | StateCommand::History { json: false } => {
                    println!("Nothing recorded: {e}.");
                    Ok(0)
                }
                _ => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let stack = stack.as_str();
    match command {
        StateCommand::List { json } => {
            let records = stackup_engine::state_list(&store)?;
            if json {
                print_json(&records)?;
            } else {
                for r in &records {
                    println!("{:<60} {}", r.urn.as_str(), r.id);
                }
                println!("{} resource(s) in stack {stack}", records.len());
            }
        }
        StateCommand::Show { urn, json } => {
            let r = stackup_engine::state_show(&store, stack, &urn)?;
            if json {
                print_json(&r)?;
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
                let deps: Vec<&str> = r.dependencies.iter().map(|u| u.as_str()).collect();
                println!("  depends on: {}", deps.join(", "));
            }
        }
        StateCommand::Rm { urn, force } => {
            let f = stackup_engine::state_rm(&store, stack, &urn, force, &actor())?;
            println!(
                "Forgot {} ({}). AWS was not touched: the object still exists. While the program declares {}, `stackup up` adopts the object again (it carries the resource's URN tag); remove it from the program to let stackup leave it alone.",
                f.urn,
                f.id,
                f.urn.name(),
            );
            if !f.dependents.is_empty() {
                let names: Vec<&str> = f.dependents.iter().map(|u| u.as_str()).collect();
                println!("Warning: {} still depend(s) on it (--force).", names.join(", "));
            }
        }
        StateCommand::Export { output } => {
            let doc = stackup_engine::state_export(&store, stack)?;
            export(stack, &doc, output.as_deref())?;
        }
        StateCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let source = file.display().to_string();
            let doc = StateDocument::parse(&source, &text, stack)?;
            let r = stackup_engine::state_import(&store, &doc, &source, &actor())?;
            println!(
                "Imported {} record(s) and {} retired record(s) into stack {stack} from {source}, replacing what was recorded. AWS was not touched; run `stackup diff` to compare them with AWS.",
                r.records, r.retired
            );
        }
        StateCommand::History { json } => {
            let entries = stackup_engine::state_history(&store)?;
            if json {
                print_json(&entries)?;
            } else {
                history(stack, &entries);
            }
        }
        StateCommand::Rollback { to } => {
            let r = stackup_engine::state_rollback(&store, stack, to, &actor())?;
            let Replaced { records, .. } = r.replaced;
            println!(
                "Restored the {records} record(s) that run {to} (`{}`, finished {}) left in stack {stack}. AWS was not touched: `stackup diff` will now show what differs between these records and AWS, and `stackup up` would reconcile it.",
                r.command,
                format_unix_time(r.finished_at)
            );
        }
    }
    Ok(0)
}

/// A read-only state command on a stack that has no state.
#[derive(Debug)]
struct NoState(String);

impl std::fmt::Display for NoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoState {}

/// The stack's name and its store. Only the stack file's common keys are read: the
/// program, the providers and their checks are not needed to look at or repair
/// recorded state.
fn open_store(g: &Global, command: &str) -> anyhow::Result<(String, SledStore)> {
    let name = crate::session::state_name(g.stack(), &g.state_dir)?;
    // Looking must not create: a stack never deployed has no state to show.
    let writes = matches!(command, "state import" | "state rm" | "state rollback");
    if !writes && !g.state_dir.join(&name).exists() {
        return Err(NoState(format!(
            "stack '{name}' has no state under {} (never deployed here, or another --state-dir)",
            g.state_dir.display()
        ))
        .into());
    }
    let store = crate::session::open_store(&g.state_dir, &name, command)?;
    Ok((name, store))
}

/// Writes an export to stdout, or to `output` beside which it is written first and
/// renamed, so an existing export is never left half overwritten.
fn export(stack: &str, doc: &StateDocument, output: Option<&Path>) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(doc)?;
    text.push('\n');
    match output {
        None => print!("{text}"),
        Some(file) => {
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
    Ok(())
}

fn history(stack: &str, entries: &[stackup_engine::HistoryLine]) {
    if entries.is_empty() {
        println!("No runs recorded for stack {stack} yet.");
        return;
    }
    for h in entries {
        // Records-only commands make no AWS operation: zero counts would only be noise.
        let counts = if h.records_only() {
            "records only, AWS untouched".to_string()
        } else {
            let interrupted = if h.not_started > 0 {
                format!(", interrupted ({} not started)", h.not_started)
            } else {
                String::new()
            };
            format!(
                "{} created, {} updated, {} replaced, {} deleted, {} failed{interrupted}",
                h.created, h.updated, h.replaced, h.deleted, h.failed
            )
        };
        println!(
            "#{:<3} {}  {}@{}  {}: {counts}; {} resource(s) recorded after",
            h.seq, h.when, h.user, h.host, h.command, h.resources
        );
        for c in &h.changes {
            println!("       {c}");
        }
    }
    println!(
        "{} run(s) of stack {stack}; `stackup state rollback --to N` restores the records run N left.",
        entries.len()
    );
}

/// `import`: adopts an existing AWS object under a name of the program.
pub async fn import(g: &Global, ty: &str, name: &str, id: &str) -> anyhow::Result<u8> {
    let s = Session::open(g, "import").await?;
    let adopted = stackup_engine::import(&s.stack, ty, name, id, &actor()).await?;
    println!(
        "Imported {} {} as {}. AWS was not changed. Run `stackup diff` to see how it differs from the program.",
        adopted.ty, adopted.id, adopted.urn
    );
    if !adopted.declared {
        println!(
            "Note: the program does not declare {}, so `stackup up` would delete it. Declare it (named {name}) first, or `stackup state rm {}` to let go of it.",
            adopted.urn, adopted.urn
        );
    }
    Ok(0)
}

/// `unlock`: removes the stack's lock file (see the engine's `unlock`).
pub fn unlock(g: &Global, force: bool) -> anyhow::Result<u8> {
    let name = crate::session::state_name(g.stack(), &g.state_dir)?;
    let stack = &name;
    let unlocked = stackup_engine::unlock(&g.state_dir, stack, force, &actor())?;
    match unlocked {
        Unlocked::Absent { path } => println!("Stack {stack} has no lock file ({path}): nothing to unlock."),
        Unlocked::Free { path, last } => {
            let last = last
                .map(|h| format!(" (it last named {h}, which has exited)"))
                .unwrap_or_default();
            println!(
                "Removed the lock file {path} of stack {stack}: no run held it{last}. Runs take the lock by themselves; this was only tidying."
            );
        }
        Unlocked::Stale { path, why } => println!("Removed the lock file {path} of stack {stack}: {why}."),
        Unlocked::Forced { path, holder } => println!(
            "Removed the lock file {path} of stack {stack} although {holder} still holds it (--force). Until that process exits, its state database stays open in it, and new runs of this stack will fail saying so."
        ),
    }
    Ok(0)
}
