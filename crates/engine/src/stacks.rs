//! Stacks as a whole: what the state directory holds (`list_stacks`), the metadata a
//! run leaves for later (region, stack file, a demo stack's expiry), and `reap`, which
//! destroys every stack whose time to live has passed.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use stackup_model::TypeToken;
use stackup_provider::{BoxFuture, Registry};
use stackup_state::{SledStore, StateError, StateStore};

use crate::{Cancel, DestroyOptions, EngineError, Host, RunOptions, Stack, SweepOptions};

/// Stack metadata: when a demo stack expires (Unix seconds), set by `up --ttl`.
pub const EXPIRES_AT: &str = "expires_at";
/// Stack metadata: the stack's region, so that a stack whose file is gone can still be
/// swept.
pub const REGION: &str = "region";
/// The program's exports as the last `up` knew them (`[[name, urn, output], ...]` in
/// JSON): `outputs` answers from state alone when the stack file is gone or broken.
pub const EXPORTS: &str = "exports";
/// Stack metadata: the stack file `up` last read, for `reap`.
pub const STACK_FILE: &str = "stack_file";

/// After `up`: records the stack's region and stack file (so that `reap` and a sweep
/// can find them later) and, with a time to live, when the stack expires (returned).
pub fn record_stack_meta(
    store: &dyn StateStore,
    region: &str,
    stack_file: &str,
    ttl_seconds: Option<u64>,
    now: u64,
) -> Result<Option<u64>, EngineError> {
    store.set_meta(REGION, Some(region))?;
    store.set_meta(STACK_FILE, Some(stack_file))?;
    let expires = ttl_seconds.map(|ttl| now.saturating_add(ttl));
    if let Some(at) = expires {
        store.set_meta(EXPIRES_AT, Some(&at.to_string()))?;
    }
    Ok(expires)
}

/// What `ls` and `reap` know about one stack under the state directory.
#[derive(Clone, Debug, Serialize)]
pub struct StackInfo {
    pub stack: String,
    /// The first history entry: when the stack was first applied.
    pub created_at: Option<u64>,
    pub age_seconds: Option<u64>,
    pub expires_at: Option<u64>,
    pub expired: bool,
    pub resources: usize,
    pub region: Option<String>,
    /// The stack could not be read: locked by a run in progress, or damaged.
    pub problem: Option<String>,
    /// The stack file `up` last read.
    #[serde(skip)]
    pub stack_file: Option<String>,
}

impl StackInfo {
    fn read(state_dir: &Path, name: &str, now: u64) -> StackInfo {
        let mut info = StackInfo {
            stack: name.to_string(),
            created_at: None,
            age_seconds: None,
            expires_at: None,
            expired: false,
            resources: 0,
            region: None,
            problem: None,
            stack_file: None,
        };
        let read = |info: &mut StackInfo| -> Result<(), StateError> {
            // Taking the lock briefly: a run in progress makes this fail at once.
            let store = SledStore::open(state_dir, name, "ls")?;
            info.created_at = store.history()?.first().map(|h| h.started_at);
            info.expires_at = store.meta(EXPIRES_AT)?.and_then(|v| v.parse().ok());
            info.resources = store.records()?.len();
            info.region = store.meta(REGION)?;
            info.stack_file = store.meta(STACK_FILE)?;
            Ok(())
        };
        if let Err(e) = read(&mut info) {
            info.problem = Some(match e {
                StateError::Locked { holder, .. } => format!("locked by {holder}"),
                other => other.to_string(),
            });
        }
        info.age_seconds = info.created_at.map(|c| now.saturating_sub(c));
        info.expired = info.expires_at.is_some_and(|t| t <= now);
        info
    }
}

/// `ls`: every stack with state under `state_dir`, by name, as of `now`.
pub fn list_stacks(state_dir: &Path, now: u64) -> Vec<StackInfo> {
    SledStore::stacks(state_dir)
        .iter()
        .map(|name| StackInfo::read(state_dir, name, now))
        .collect()
}

/// What `reap` needs of its caller, which knows the programs and the clouds: which
/// stack file describes a stack, how to open a stack from it, and the providers of a
/// region for a stack that has none.
pub trait Resolver: Send + Sync {
    /// The stack file a registered program reads as this stack, if any.
    fn stack_file(&self, stack: &StackInfo) -> Option<String>;
    /// The stack from `file`: its program validated, its state open under the lock.
    fn open<'a>(&'a self, file: &'a str, command: &'a str) -> BoxFuture<'a, Result<Stack, String>>;
    /// The providers connected to `region`, for a sweep.
    fn providers<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Registry>;
    /// The order a sweep deletes types in (lower first).
    fn sweep_rank(&self, ty: &TypeToken) -> u8;
}

/// How `reap` destroys an expired stack.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "with", rename_all = "snake_case")]
pub enum ReapWith {
    /// Its stack file: a normal destroy.
    StackFile { file: String },
    /// No stack file: a sweep by tag, in this region.
    Sweep { region: Option<String> },
}

/// What became of one expired stack.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReapOutcome {
    Reaped,
    /// The destroy ran but left something (a failed delete, an object still tagged).
    Incomplete,
    /// The destroy could not run.
    Failed {
        error: String,
    },
    /// Cancelled before its turn.
    NotStarted,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReapItem {
    #[serde(flatten)]
    pub info: StackInfo,
    pub plan: ReapWith,
    /// None in a dry run.
    pub outcome: Option<ReapOutcome>,
}

/// What `reap` found and did.
#[derive(Clone, Debug, Serialize)]
pub struct ReapReport {
    pub dry_run: bool,
    /// How many stacks the state directory holds.
    pub stacks: usize,
    /// Stacks that could not be read (locked by a run, or damaged): not judged.
    pub skipped: Vec<StackInfo>,
    pub expired: Vec<ReapItem>,
}

impl ReapReport {
    pub fn reaped(&self) -> usize {
        self.expired
            .iter()
            .filter(|i| matches!(i.outcome, Some(ReapOutcome::Reaped)))
            .count()
    }

    /// Every expired stack is gone (or, in a dry run, nothing was asked).
    pub fn is_success(&self) -> bool {
        self.dry_run || self.reaped() == self.expired.len()
    }
}

#[derive(Clone, Debug)]
pub struct ReapOptions {
    pub run: RunOptions,
    /// Destroy (otherwise a dry run that only says what it would do).
    pub delete: bool,
    pub now: u64,
    /// The region to sweep a stack whose state recorded none.
    pub default_region: Option<String>,
    /// Only this stack (it must have state under the directory); None: every stack.
    pub stack: Option<String>,
}

/// `reap`: destroys every stack under `state_dir` whose expiry has passed, each with
/// its own stack file when there is one and by a sweep by tag otherwise, with safe
/// defaults (no bucket emptied that the stack does not allow, final snapshots kept).
/// A failure of one stack does not stop the others.
pub async fn reap(
    state_dir: &Path,
    opts: &ReapOptions,
    resolver: &dyn Resolver,
    host: &dyn Host,
    cancel: &Cancel,
) -> Result<ReapReport, EngineError> {
    let mut all = list_stacks(state_dir, opts.now);
    if let Some(only) = &opts.stack {
        all.retain(|s| &s.stack == only);
        if all.is_empty() {
            return Err(EngineError::Request(format!(
                "no stack named '{only}' has state under {}: nothing to reap (`stackup ls` lists the stacks)",
                state_dir.display()
            )));
        }
    }
    let stacks = all.len();
    let (skipped, readable): (Vec<StackInfo>, Vec<StackInfo>) = all.into_iter().partition(|s| s.problem.is_some());
    let mut expired: Vec<ReapItem> = readable
        .into_iter()
        .filter(|s| s.expired)
        .map(|info| ReapItem {
            plan: match resolver.stack_file(&info) {
                Some(file) => ReapWith::StackFile { file },
                None => ReapWith::Sweep {
                    region: info.region.clone().or_else(|| opts.default_region.clone()),
                },
            },
            info,
            outcome: None,
        })
        .collect();
    if opts.delete {
        for item in &mut expired {
            if cancel.is_cancelled() {
                item.outcome = Some(ReapOutcome::NotStarted);
                continue;
            }
            host.notice(&format!("reaping stack {}", item.info.stack));
            item.outcome = Some(match reap_one(state_dir, item, opts, resolver, host, cancel).await {
                Ok(true) => ReapOutcome::Reaped,
                Ok(false) => ReapOutcome::Incomplete,
                Err(error) => ReapOutcome::Failed { error },
            });
        }
    }
    Ok(ReapReport {
        dry_run: !opts.delete,
        stacks,
        skipped,
        expired,
    })
}

/// Destroys one expired stack; whether nothing of it is left.
async fn reap_one(
    state_dir: &Path,
    item: &ReapItem,
    opts: &ReapOptions,
    resolver: &dyn Resolver,
    host: &dyn Host,
    cancel: &Cancel,
) -> Result<bool, String> {
    let name = &item.info.stack;
    match &item.plan {
        ReapWith::StackFile { file } => {
            let stack = resolver.open(file, "reap").await?;
            let destroy = DestroyOptions {
                run: opts.run.clone(),
                targets: Vec::new(),
                excludes: Vec::new(),
                refresh: true,
                delete_overrides: Vec::new(),
            };
            let report = crate::destroy(&stack, &destroy, host, cancel)
                .await
                .map_err(|e| e.to_string())?;
            Ok(report.is_success())
        }
        ReapWith::Sweep { region } => {
            let region = region.as_deref().ok_or_else(|| {
                format!("stack '{name}' has no stack file and its state records no region: set AWS_REGION to the region to sweep")
            })?;
            let store: Arc<dyn StateStore> = Arc::new(
                SledStore::open(state_dir, name, "reap")
                    .map_err(|e| format!("opening the state of stack '{name}': {e}"))?,
            );
            let registry = resolver.providers(region).await;
            let sweep = SweepOptions {
                run: opts.run.clone(),
                delete: true,
                delete_overrides: Vec::new(),
            };
            let rank = |ty: &TypeToken| resolver.sweep_rank(ty);
            let report = crate::sweep(name, &store, &registry, &sweep, &rank, host, cancel)
                .await
                .map_err(|e| e.to_string())?;
            Ok(report.is_success())
        }
    }
}
