//! Teardown: `destroy` (the whole stack, or the part chosen with `--target` and
//! `--exclude`), the pre-flight every delete passes before anything is touched,
//! `destroy --sweep` for stacks whose state is lost, and time-boxed demo stacks
//! (`up --ttl`, `ls`, `reap`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use stackup_ecommerce::StackConfig;
use stackup_executor::{apply, ApplyContext, ApplyReport, ResourceDrift};
use stackup_model::{ResourceArgs, ResourceRecord, TypeToken, Urn, Value};
use stackup_planner::destroy::{plan_destroy, DestroyRequest};
use stackup_planner::{Action, OpKind, Plan, Step};
use stackup_provider::{DeleteRequest, ListRequest, Provider, Registry};
use stackup_state::{now_unix, HistoryEntry, SledStore, StateError, StateStore};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::cli::{DestroyArgs, Global, RefreshArgs};
use crate::commands::{current_state, execute};
use crate::render;
use crate::session::Session;

/// Stack metadata: when a demo stack expires (Unix seconds), set by `up --ttl`.
const EXPIRES_AT: &str = "expires_at";
/// Stack metadata: the stack's region, so that a stack whose file is gone can still be
/// swept.
const REGION: &str = "region";
/// Stack metadata: the stack file `up` last read, for `reap`.
const STACK_FILE: &str = "stack_file";

const BUCKET: &str = <stackup_aws::s3::BucketArgs as ResourceArgs>::TYPE;
const DB_INSTANCE: &str = <stackup_aws::rds::DbInstanceArgs as ResourceArgs>::TYPE;

// ---- destroy ------------------------------------------------------------------------

/// `stackup destroy`: plans the deletes (all, or the part `--target`/`--exclude`
/// choose), checks every one of them before touching anything, then applies them.
pub async fn destroy(g: &Global, args: DestroyArgs) -> anyhow::Result<u8> {
    if args.sweep {
        return sweep_command(g, &args).await;
    }
    let parallel = usize::from(args.parallel);
    let targets = parse_urns("--target", &args.targets)?;
    let excludes = parse_urns("--exclude", &args.excludes)?;
    let s = Session::open(g, "destroy").await?;
    s.recover().await?;
    let records = s.records()?;
    let (current, drift) = current_state(&s, records, args.refresh).await?;
    // Resources already deleted outside stackup only need forgetting.
    for d in &drift {
        if let ResourceDrift::Deleted { urn } = d {
            s.store.remove(urn)?;
        }
    }
    let retired = s.store.retired()?;
    let mut plan = plan_destroy(DestroyRequest {
        stack: &s.config.name,
        current: &current,
        retired: &retired,
        targets: &targets,
        excludes: &excludes,
    })?;
    if args.empty_buckets {
        set_delete_input(&mut plan, BUCKET, "force_destroy", Value::Bool(true));
    }
    preflight(&s.registry, &plan, parallel, "destroy").await?;
    let whole = targets.is_empty() && excludes.is_empty();
    let code = execute(&s, plan, &[], "destroy", args.yes, parallel, args.json).await?;
    if code == 0 && whole {
        // Nothing is left to expire.
        s.store.set_meta(EXPIRES_AT, None)?;
    }
    Ok(code)
}

fn parse_urns(flag: &str, raw: &[String]) -> anyhow::Result<Vec<Urn>> {
    raw.iter()
        .map(|t| Urn::parse(t).map_err(|e| anyhow::anyhow!("{flag} {t}: {e}")))
        .collect()
}

/// Sets input `key` of every delete of type `ty` in `plan`: the run's own override of a
/// stackup-side setting (`destroy --empty-buckets`, `--skip-final-snapshot`).
fn set_delete_input(plan: &mut Plan, ty: &str, key: &str, value: Value) {
    for step in plan.steps.iter_mut().filter(|s| s.action != Action::Same) {
        if let Some(old) = step.old.as_mut().filter(|o| o.ty.as_str() == ty) {
            old.inputs.insert(key.to_string(), value.clone());
        }
    }
}

// ---- pre-flight ---------------------------------------------------------------------

/// Asks the provider of every object `plan` deletes whether the delete can go ahead
/// (`Provider::check_delete`), all before any mutating call; reads only. When any
/// cannot, fails naming every blocker so that one run shows everything to fix, and
/// nothing is touched. `command` names the run in the message.
pub async fn preflight(registry: &Registry, plan: &Plan, parallel: usize, command: &str) -> anyhow::Result<()> {
    let (refused, total) = refusals(registry, plan, parallel).await?;
    if refused.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "{command} stopped before changing anything: {}\nRemove or change what is named above and run the command again; nothing was deleted.",
        describe_refusals(&refused, total)
    ))
}

/// The deletes of `plan` that cannot go ahead, with why, sorted by URN; and how many
/// deletes were checked. The checks run `parallel` at a time.
async fn refusals(
    registry: &Registry,
    plan: &Plan,
    parallel: usize,
) -> anyhow::Result<(Vec<(Urn, stackup_provider::ProviderError)>, usize)> {
    let deletes: Vec<(Urn, DeleteRequest, Arc<dyn Provider>)> = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.action,
                Action::Delete | Action::CreateThenDelete | Action::DeleteThenCreate
            )
        })
        .filter_map(|s| {
            let old = s.old.as_ref()?;
            let provider = registry.get(&old.ty)?.clone();
            let req = DeleteRequest {
                urn: s.urn.clone(),
                id: old.id.clone(),
                inputs: old.inputs.clone(),
                outputs: old.outputs.clone(),
                replacing: s.action != Action::Delete,
            };
            Some((s.urn.clone(), req, provider))
        })
        .collect();
    let total = deletes.len();
    let limit = Arc::new(Semaphore::new(parallel.max(1)));
    let mut checks = JoinSet::new();
    for (urn, req, provider) in deletes {
        let limit = limit.clone();
        checks.spawn(async move {
            // Bounded like the apply itself: the checks are reads, but many of them.
            let _permit = limit.acquire_owned().await;
            (urn, provider.check_delete(req).await)
        });
    }
    let mut refused = Vec::new();
    while let Some(joined) = checks.join_next().await {
        let (urn, result) = joined.context("a delete pre-flight check did not finish")?;
        if let Err(e) = result {
            refused.push((urn, e));
        }
    }
    refused.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((refused, total))
}

/// "N of M delete(s) cannot go ahead:" and one line per refused delete.
fn describe_refusals(refused: &[(Urn, stackup_provider::ProviderError)], total: usize) -> String {
    let mut text = format!("{} of {total} delete(s) cannot go ahead:", refused.len());
    for (urn, e) in refused {
        text.push_str(&format!("\n  - {urn}: {e}"));
    }
    text
}

// ---- demo stacks: up --ttl, ls, reap ------------------------------------------------

/// Parses a time to live: a whole number and a unit, s, m, h or d (`90m`, `4h`, `2d`),
/// as seconds.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not a duration: a whole number followed by s, m, h or d, e.g. 4h");
    let text = text.trim();
    let unit = text.chars().last().ok_or_else(bad)?;
    let number = &text[..text.len() - unit.len_utf8()];
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("'{text}': a time to live must be longer than nothing"));
    }
    n.checked_mul(factor).ok_or_else(bad)
}

/// After `up`: records the stack's region and stack file (so that `reap` and a sweep
/// can find them later) and, with `--ttl`, when the stack expires.
pub fn record_stack_meta(s: &Session, g: &Global, ttl: Option<u64>) -> anyhow::Result<()> {
    s.store.set_meta(REGION, Some(&s.config.region))?;
    let file = StackConfig::path_for(&g.stack);
    let file = std::fs::canonicalize(&file).unwrap_or(file);
    s.store.set_meta(STACK_FILE, Some(&file.display().to_string()))?;
    if let Some(ttl) = ttl {
        let expires = now_unix().saturating_add(ttl);
        s.store.set_meta(EXPIRES_AT, Some(&expires.to_string()))?;
        eprintln!(
            "Stack {} expires at {}; `stackup reap --yes` destroys it after that.",
            s.config.name,
            stackup_state::format_unix_time(expires)
        );
    }
    Ok(())
}

/// What `ls` and `reap` know about one stack under the state directory.
struct StackInfo {
    name: String,
    /// The first history entry: when the stack was first applied.
    created_at: Option<u64>,
    expires_at: Option<u64>,
    resources: usize,
    region: Option<String>,
    stack_file: Option<String>,
    /// The stack could not be read: locked by a run in progress, or damaged.
    problem: Option<String>,
}

impl StackInfo {
    fn read(state_dir: &std::path::Path, name: &str) -> StackInfo {
        let mut info = StackInfo {
            name: name.to_string(),
            created_at: None,
            expires_at: None,
            resources: 0,
            region: None,
            stack_file: None,
            problem: None,
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
        info
    }

    fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// A span of seconds for people: `3d 4h`, `2h 05m`, `4m 10s`.
fn span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `stackup ls`: the stacks with state under the state directory, with age, expiry and
/// resource count.
pub fn ls(g: &Global, json: bool) -> anyhow::Result<u8> {
    let now = now_unix();
    let stacks: Vec<StackInfo> = SledStore::stacks(&g.state_dir)
        .iter()
        .map(|name| StackInfo::read(&g.state_dir, name))
        .collect();
    if json {
        let list: Vec<serde_json::Value> = stacks
            .iter()
            .map(|s| {
                json!({
                    "stack": s.name,
                    "created_at": s.created_at,
                    "age_seconds": s.created_at.map(|c| now.saturating_sub(c)),
                    "expires_at": s.expires_at,
                    "expired": s.expired(now),
                    "resources": s.resources,
                    "region": s.region,
                    "problem": s.problem,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    if stacks.is_empty() {
        println!("No stacks under {}.", g.state_dir.display());
        return Ok(0);
    }
    println!("{:<24} {:<10} {:<44} RESOURCES", "STACK", "AGE", "EXPIRES");
    for s in &stacks {
        let age = s.created_at.map_or("-".to_string(), |c| span(now.saturating_sub(c)));
        let expires = match s.expires_at {
            None => "-".to_string(),
            Some(t) if t <= now => format!("{} (expired {} ago)", stackup_state::format_unix_time(t), span(now - t)),
            Some(t) => format!("{} (in {})", stackup_state::format_unix_time(t), span(t - now)),
        };
        let resources = match &s.problem {
            Some(p) => format!("? ({p})"),
            None => s.resources.to_string(),
        };
        println!("{:<24} {:<10} {:<44} {resources}", s.name, age, expires);
    }
    Ok(0)
}

/// How `reap` destroys an expired stack.
enum ReapWith {
    /// Its stack file: a normal destroy.
    StackFile(String),
    /// No stack file: a sweep by tag, in this region.
    Sweep(Option<String>),
}

impl ReapWith {
    /// `stacks/<name>.toml` when it names this stack, else the file `up` last recorded,
    /// else a sweep.
    fn choose(info: &StackInfo) -> ReapWith {
        let candidates = [
            Some(StackConfig::path_for(&info.name).display().to_string()),
            info.stack_file.clone(),
        ];
        for file in candidates.into_iter().flatten() {
            let names_it =
                std::path::Path::new(&file).exists() && StackConfig::load(&file).is_ok_and(|c| c.name == info.name);
            if names_it {
                return ReapWith::StackFile(file);
            }
        }
        ReapWith::Sweep(info.region.clone())
    }

    fn describe(&self) -> String {
        match self {
            ReapWith::StackFile(f) => format!("destroy with {f}"),
            ReapWith::Sweep(_) => "sweep by tag (no stack file)".to_string(),
        }
    }
}

/// `stackup reap`: destroys every stack whose expiry has passed, each with its own stack
/// file when there is one and by a sweep otherwise, and reports what it did. A dry run
/// without `yes`. Exit 1 when any expired stack could not be destroyed completely.
pub async fn reap(g: &Global, yes: bool, parallel: usize) -> anyhow::Result<u8> {
    let now = now_unix();
    let all: Vec<StackInfo> = SledStore::stacks(&g.state_dir)
        .iter()
        .map(|name| StackInfo::read(&g.state_dir, name))
        .collect();
    for s in all.iter().filter(|s| s.problem.is_some()) {
        println!("{}: skipped, {}", s.name, s.problem.as_deref().unwrap_or("unreadable"));
    }
    let expired: Vec<&StackInfo> = all.iter().filter(|s| s.expired(now)).collect();
    if expired.is_empty() {
        println!(
            "No stack has expired ({} stack(s) under {}).",
            all.len(),
            g.state_dir.display()
        );
        return Ok(0);
    }
    let plans: Vec<(&StackInfo, ReapWith)> = expired.into_iter().map(|s| (s, ReapWith::choose(s))).collect();
    for (s, with) in &plans {
        println!(
            "{}: expired at {} ({} ago), {} recorded resource(s): {}",
            s.name,
            stackup_state::format_unix_time(s.expires_at.unwrap_or(now)),
            span(now.saturating_sub(s.expires_at.unwrap_or(now))),
            s.resources,
            with.describe()
        );
    }
    if !yes {
        println!("Dry run: nothing was destroyed. `stackup reap --yes` destroys the stacks above.");
        return Ok(0);
    }
    let mut reaped = 0;
    for (s, with) in &plans {
        println!("\n== reaping stack {} ==", s.name);
        let outcome = match with {
            ReapWith::StackFile(file) => {
                let g = Global {
                    stack: file.clone(),
                    state_dir: g.state_dir.clone(),
                };
                destroy(&g, unattended_destroy(parallel)).await
            }
            ReapWith::Sweep(region) => reap_by_sweep(g, &s.name, region.as_deref(), parallel).await,
        };
        match outcome {
            Ok(0) => {
                reaped += 1;
                println!("reaped stack {}", s.name);
            }
            Ok(code) => println!("stack {} was not destroyed completely (exit {code})", s.name),
            Err(e) => {
                let mut text = e.to_string();
                for cause in e.chain().skip(1) {
                    text.push_str(&format!(": {cause}"));
                }
                println!("stack {} was not destroyed: {text}", s.name);
            }
        }
    }
    println!("\nReaped {reaped} of {} expired stack(s).", plans.len());
    Ok(if reaped == plans.len() { 0 } else { 1 })
}

/// The arguments of a destroy nobody watches: no prompt, safe defaults otherwise (no
/// bucket emptied that the stack does not allow, final snapshots kept).
fn unattended_destroy(parallel: usize) -> DestroyArgs {
    DestroyArgs {
        yes: true,
        parallel: u16::try_from(parallel).unwrap_or(16),
        refresh: RefreshArgs {
            no_refresh: false,
            refresh: false,
        },
        json: false,
        targets: Vec::new(),
        excludes: Vec::new(),
        empty_buckets: false,
        sweep: false,
        skip_final_snapshot: false,
    }
}

async fn reap_by_sweep(g: &Global, name: &str, region: Option<&str>, parallel: usize) -> anyhow::Result<u8> {
    let store = Arc::new(
        SledStore::open(&g.state_dir, name, "reap").with_context(|| format!("opening the state of stack '{name}'"))?,
    );
    let region = match region {
        Some(r) => r.to_string(),
        None => region_from_environment(name)?,
    };
    let options = SweepOptions {
        yes: true,
        parallel,
        json: false,
        empty_buckets: false,
        skip_final_snapshot: false,
    };
    sweep(name, &region, store, &options).await
}

// ---- sweep --------------------------------------------------------------------------

/// What a sweep may do.
struct SweepOptions {
    /// Delete (otherwise a dry run).
    yes: bool,
    parallel: usize,
    json: bool,
    empty_buckets: bool,
    skip_final_snapshot: bool,
}

/// `destroy --sweep`: the stack named by `--stack` (its file when there is one, for the
/// region; otherwise the bare name, with the region its state recorded or the AWS
/// environment's).
async fn sweep_command(g: &Global, args: &DestroyArgs) -> anyhow::Result<u8> {
    let file = StackConfig::path_for(&g.stack);
    let (name, region) = if file.exists() {
        let config = StackConfig::load(&g.stack)?;
        (config.name, Some(config.region))
    } else {
        anyhow::ensure!(
            !(g.stack.ends_with(".toml") || g.stack.contains('/')),
            "--stack {}: no such stack file",
            g.stack
        );
        anyhow::ensure!(
            !g.stack.is_empty()
                && g.stack.len() <= 32
                && g.stack
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "--stack {}: not a stack name (1-32 characters of a-z, 0-9 and '-')",
            g.stack
        );
        (g.stack.clone(), None)
    };
    let store = Arc::new(
        SledStore::open(&g.state_dir, &name, "destroy --sweep")
            .with_context(|| format!("opening the state of stack '{name}'"))?,
    );
    let region = match region {
        Some(r) => r,
        None => match store.meta(REGION)? {
            Some(r) => r,
            None => region_from_environment(&name)?,
        },
    };
    let options = SweepOptions {
        yes: args.yes,
        parallel: usize::from(args.parallel),
        json: args.json,
        empty_buckets: args.empty_buckets,
        skip_final_snapshot: args.skip_final_snapshot,
    };
    sweep(&name, &region, store, &options).await
}

fn region_from_environment(stack: &str) -> anyhow::Result<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "stack '{stack}' has no stack file and its state records no region: set AWS_REGION to the region to sweep"
            )
        })
}

/// One object a sweep deletes.
struct SweepItem {
    record: ResourceRecord,
    wave: usize,
}

/// Lists, then (with `yes`) deletes everything tagged `stackup:stack=<stack>` in
/// `region`, plus whatever state still records, in waves by type (see
/// `stackup_aws::sweep`). Afterwards lists again: exit 1 when anything tagged remains.
async fn sweep(stack: &str, region: &str, store: Arc<SledStore>, opts: &SweepOptions) -> anyhow::Result<u8> {
    let clients = stackup_aws::AwsClients::load(region).await;
    let registry = stackup_aws::registry(&clients);
    let listed = list_tagged(&registry, stack)
        .await
        .with_context(|| format!("listing the objects tagged stackup:stack={stack} in {region}"))?;
    let (plan, items) = sweep_plan(stack, listed, store.records()?, store.retired()?, opts);
    let (refused, total) = refusals(&registry, &plan, opts.parallel).await?;
    if !opts.yes {
        if opts.json {
            let blocked: Vec<serde_json::Value> = refused
                .iter()
                .map(|(urn, e)| json!({"urn": urn, "reason": e.to_string()}))
                .collect();
            let report = json!({
                "stack": stack,
                "region": region,
                "dry_run": true,
                "objects": items_json(&items),
                "blocked": blocked,
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_items(stack, region, &items);
            if !refused.is_empty() {
                println!(
                    "\nWith --yes the sweep would stop before deleting anything: {}",
                    describe_refusals(&refused, total)
                );
            }
            println!("\nDry run: nothing was deleted. Run again with --yes to delete the objects above.");
        }
        return Ok(0);
    }
    if items.is_empty() {
        store.set_meta(EXPIRES_AT, None)?;
        println!("Nothing tagged stackup:stack={stack} in {region}.");
        return Ok(0);
    }
    if !refused.is_empty() {
        anyhow::bail!(
            "the sweep stopped before deleting anything, and all {} object(s) tagged stackup:stack={stack} remain: {}\nRemove or change what is named above (--empty-buckets empties buckets) and sweep again.",
            items.len(),
            describe_refusals(&refused, total)
        );
    }
    if !opts.json {
        print_items(stack, region, &items);
        println!();
    }
    let report = run_deletes(stack, &registry, store.clone(), &plan, opts).await?;
    let remaining = list_tagged(&registry, stack)
        .await
        .with_context(|| format!("listing what is still tagged stackup:stack={stack}"))?;
    if opts.json {
        let out = json!({
            "stack": stack,
            "region": region,
            "dry_run": false,
            "result": render::summary_json(&report),
            "remaining": remaining.iter().map(|r| json!({"type": r.ty, "id": r.id, "urn": r.urn})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        render::summary(&report);
    }
    if remaining.is_empty() && report.is_success() {
        store.set_meta(EXPIRES_AT, None)?;
        if !opts.json {
            println!("Nothing tagged stackup:stack={stack} remains in {region}.");
        }
        return Ok(0);
    }
    if !opts.json {
        println!(
            "\n{} object(s) still tagged stackup:stack={stack} in {region}:",
            remaining.len()
        );
        for r in &remaining {
            println!("  {:<34} {:<40} {}", r.ty.as_str(), r.id, r.urn);
        }
    }
    Ok(1)
}

/// Every object of every registered type tagged with `stack`, as records without
/// dependencies; one listing per type, all at once. Types that cannot list (they carry
/// no tags) are skipped: their parents' deletes take them along.
async fn list_tagged(registry: &Registry, stack: &str) -> anyhow::Result<Vec<ResourceRecord>> {
    let mut lists = JoinSet::new();
    for ty in registry.types() {
        let Some(provider) = registry.get(ty).cloned() else {
            continue;
        };
        let (ty, stack) = (ty.clone(), stack.to_string());
        lists.spawn(async move { (ty, provider.list(ListRequest { stack }).await) });
    }
    let mut out = Vec::new();
    while let Some(joined) = lists.join_next().await {
        let (ty, listed) = joined.context("a listing task did not finish")?;
        let listed = listed.with_context(|| format!("listing {ty}"))?;
        for found in listed.map(|l| l.found).unwrap_or_default() {
            out.push(ResourceRecord {
                urn: found.urn,
                ty: ty.clone(),
                id: found.id,
                inputs: found.inputs,
                outputs: found.outputs,
                dependencies: Vec::new(),
                tainted: None,
            });
        }
    }
    out.sort_by(|a, b| (rank(&a.ty), &a.ty, &a.id).cmp(&(rank(&b.ty), &b.ty, &b.id)));
    Ok(out)
}

/// The sweep rank of a type; a type the table does not know goes first, as a leaf.
fn rank(ty: &TypeToken) -> u8 {
    stackup_aws::sweep::deletion_rank(ty.as_str()).unwrap_or(0)
}

/// The delete plan of a sweep: what state records (retired objects included) and what
/// the listing found, each object once. Every object depends on the objects of the
/// next occupied rank, so the executor deletes rank by rank, each rank in parallel.
fn sweep_plan(
    stack: &str,
    listed: Vec<ResourceRecord>,
    recorded: Vec<ResourceRecord>,
    retired: Vec<ResourceRecord>,
    opts: &SweepOptions,
) -> (Plan, Vec<SweepItem>) {
    let mut seen: BTreeSet<(TypeToken, String)> = BTreeSet::new();
    let mut all: Vec<(ResourceRecord, bool)> = Vec::new();
    // Recorded first: a record holds the stack-side settings (final snapshot, bucket
    // emptying) that a listing cannot know.
    let sources = [(recorded, false), (retired, true), (listed, false)];
    for (records, is_retired) in sources {
        for r in records {
            if seen.insert((r.ty.clone(), r.id.clone())) {
                all.push((r, is_retired));
            }
        }
    }
    for (r, _) in &mut all {
        if opts.empty_buckets && r.ty.as_str() == BUCKET {
            r.inputs.insert("force_destroy".into(), Value::Bool(true));
        }
        if opts.skip_final_snapshot && r.ty.as_str() == DB_INSTANCE {
            r.inputs.insert("skip_final_snapshot".into(), Value::Bool(true));
        }
    }
    all.sort_by(|(a, _), (b, _)| (rank(&a.ty), &a.ty, &a.id).cmp(&(rank(&b.ty), &b.ty, &b.id)));
    let mut by_rank: BTreeMap<u8, Vec<Urn>> = BTreeMap::new();
    for (r, _) in &all {
        by_rank.entry(rank(&r.ty)).or_default().push(r.urn.clone());
    }
    let waves: Vec<u8> = by_rank.keys().copied().collect();
    let mut steps = Vec::new();
    let mut items = Vec::new();
    for (mut record, is_retired) in all {
        let r = rank(&record.ty);
        // A delete runs before the deletes of what its record depends on.
        record.dependencies = by_rank
            .range(r + 1..)
            .next()
            .map(|(_, urns)| urns.clone())
            .unwrap_or_default();
        let wave = waves.iter().position(|w| *w == r).unwrap_or(0) + 1;
        items.push(SweepItem {
            record: ResourceRecord {
                dependencies: Vec::new(),
                ..record.clone()
            },
            wave,
        });
        steps.push(Step {
            urn: record.urn.clone(),
            ty: record.ty.clone(),
            action: Action::Delete,
            changes: Vec::new(),
            inputs: None,
            dependencies: Vec::new(),
            old: Some(record),
            retired: is_retired,
            notes: Vec::new(),
        });
    }
    (
        Plan {
            stack: stack.to_string(),
            steps,
        },
        items,
    )
}

fn print_items(stack: &str, region: &str, items: &[SweepItem]) {
    println!(
        "{} object(s) tagged stackup:stack={stack} in {region}, in the order a sweep deletes them (a wave at a time):",
        items.len()
    );
    for item in items {
        let r = &item.record;
        let note = stackup_aws::sweep::note(r.ty.as_str())
            .map(|n| format!("  ({n})"))
            .unwrap_or_default();
        println!(
            "  wave {}  {:<34} {:<40} {}{note}",
            item.wave,
            r.ty.as_str(),
            r.id,
            r.urn
        );
    }
}

fn items_json(items: &[SweepItem]) -> Vec<serde_json::Value> {
    items
        .iter()
        .map(|i| {
            json!({
                "wave": i.wave,
                "type": i.record.ty,
                "id": i.record.id,
                "urn": i.record.urn,
                "note": stackup_aws::sweep::note(i.record.ty.as_str()),
            })
        })
        .collect()
}

/// Applies a sweep's deletes with the progress view, Ctrl-C handling and a history
/// entry, as `up` and `destroy` do.
async fn run_deletes(
    stack: &str,
    registry: &Registry,
    store: Arc<SledStore>,
    plan: &Plan,
    opts: &SweepOptions,
) -> anyhow::Result<ApplyReport> {
    let progress = render::Progress::new(plan.operations().len(), opts.json);
    let ticker = progress.spawn_ticker();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: no new deletes will start; waiting for those in flight to finish (Ctrl-C again aborts at once)");
            let _ = cancel_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("aborted; run the sweep again to finish");
                std::process::exit(130);
            }
        }
    });
    let started_at = now_unix();
    let report = apply(
        plan,
        ApplyContext {
            stack: stack.to_string(),
            registry: registry.clone(),
            store: store.clone(),
            parallel: opts.parallel,
            cancel: cancel_rx,
            observer: progress.clone(),
        },
    )
    .await;
    ticker.abort();
    interrupt.abort();
    store.append_history(HistoryEntry {
        seq: 0,
        command: "destroy --sweep".to_string(),
        user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        host: stackup_state::hostname(),
        started_at,
        finished_at: now_unix(),
        created: 0,
        updated: 0,
        replaced: 0,
        deleted: report.done(OpKind::Delete),
        failed: report.failures().len(),
        changes: report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, stackup_executor::NodeOutcome::Done))
            .map(|r| format!("{} {}", render::verb_done(r.kind), r.urn))
            .collect(),
        snapshot: store.records()?,
    })?;
    Ok(report)
}
