//! Teardown: `destroy` (the whole stack, or the part chosen with `--target` and
//! `--exclude`; the engine's run path, pre-flight included), `destroy --sweep` for stacks whose state is lost, and time-boxed demo stacks
//! (`up --ttl`, `ls`, `reap`).

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use stackup_engine::{Cancel, DestroyOptions, RunOptions};
use stackup_executor::ApplyReport;
use stackup_model::{ResourceArgs, TypeToken, Urn, Value};
use stackup_planner::sweep::{plan_sweep, SweepItem, SweepRequest};
use stackup_planner::Plan;
use stackup_provider::Registry;
use stackup_state::{now_unix, SledStore, StateError, StateStore};

use crate::cli::{DestroyArgs, Global, RefreshArgs};
use crate::commands::{finish, refresh_hint};
use crate::host::{interruptible, Terminal, ABORTED, STOPPING};
use crate::render;
use crate::session::Session;
use crate::stackfile::StackFile;

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
    let opts = DestroyOptions {
        run: RunOptions {
            parallel: usize::from(args.parallel),
            actor: crate::host::actor(),
        },
        targets: parse_urns("--target", &args.targets)?,
        excludes: parse_urns("--exclude", &args.excludes)?,
        refresh: !args.refresh.no_refresh,
        delete_overrides: if args.empty_buckets {
            vec![(
                TypeToken::from_static(BUCKET),
                "force_destroy".to_string(),
                Value::Bool(true),
            )]
        } else {
            Vec::new()
        },
    };
    let whole = opts.targets.is_empty() && opts.excludes.is_empty();
    let s = Session::open(g, "destroy").await?;
    let host = Terminal::new(args.json, args.yes);
    let cancel = Cancel::new();
    let report = interruptible(
        &cancel,
        STOPPING,
        ABORTED,
        stackup_engine::destroy(&s.stack, &opts, &host, &cancel),
    )
    .await
    .map_err(refresh_hint)?;
    let code = finish(&s, &report, "destroy", args.json)?;
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

// ---- demo stacks: up --ttl, ls, reap ------------------------------------------------

/// Parses a time to live with humantime (`90m`, `4h`, `2d`, `1h 30m`) as whole
/// seconds.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let bad = |why: String| format!("'{text}' is not a duration ({why}): a number and a unit, e.g. 4h, 90m or 1h 30m");
    let duration = humantime::parse_duration(text.trim()).map_err(|e| bad(e.to_string()))?;
    if duration.as_secs() == 0 {
        return Err(format!("'{}': a time to live must be longer than nothing", text.trim()));
    }
    Ok(duration.as_secs())
}

/// After `up`: records the stack's region and stack file (so that `reap` and a sweep
/// can find them later) and, with `--ttl`, when the stack expires.
pub fn record_stack_meta(s: &Session, ttl: Option<u64>) -> anyhow::Result<()> {
    s.store.set_meta(REGION, Some(&s.file.region))?;
    let file = std::fs::canonicalize(&s.file.path).unwrap_or_else(|_| s.file.path.clone());
    s.store.set_meta(STACK_FILE, Some(&file.display().to_string()))?;
    if let Some(ttl) = ttl {
        let expires = now_unix().saturating_add(ttl);
        s.store.set_meta(EXPIRES_AT, Some(&expires.to_string()))?;
        eprintln!(
            "Stack {} expires at {}; `stackup reap --yes` destroys it after that.",
            s.file.name,
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
            Some(StackFile::path_for(&info.name).display().to_string()),
            info.stack_file.clone(),
        ];
        for file in candidates.into_iter().flatten() {
            // A file whose program no longer reads it cannot drive a destroy: sweep.
            let names_it = std::path::Path::new(&file).exists()
                && StackFile::read(&file).is_ok_and(|f| f.name == info.name && crate::session::declares(&f));
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
    let file = StackFile::path_for(&g.stack);
    let (name, region) = if file.exists() {
        // The common keys only: a sweep needs no program.
        let file = StackFile::read(&g.stack)?;
        (file.name, Some(file.region))
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

/// Lists, then (with `yes`) deletes everything tagged `stackup:stack=<stack>` in
/// `region`, plus whatever state still records, in waves by type (see
/// `stackup_aws::sweep`). Afterwards lists again: exit 1 when anything tagged remains.
async fn sweep(stack: &str, region: &str, store: Arc<SledStore>, opts: &SweepOptions) -> anyhow::Result<u8> {
    let clients = stackup_aws::AwsClients::load(region).await;
    let registry = stackup_aws::registry(&clients);
    let listed = stackup_engine::list_tagged(&registry, stack, &rank)
        .await
        .with_context(|| format!("listing the objects tagged stackup:stack={stack} in {region}"))?;
    let mut overrides = Vec::new();
    if opts.empty_buckets {
        overrides.push((
            TypeToken::from_static(BUCKET),
            "force_destroy".to_string(),
            Value::Bool(true),
        ));
    }
    if opts.skip_final_snapshot {
        overrides.push((
            TypeToken::from_static(DB_INSTANCE),
            "skip_final_snapshot".to_string(),
            Value::Bool(true),
        ));
    }
    let (plan, items) = plan_sweep(SweepRequest {
        stack,
        listed,
        recorded: store.records()?,
        retired: store.retired()?,
        rank: &rank,
        overrides: &overrides,
    });
    let refusals = stackup_engine::check_deletes(&registry, &plan, opts.parallel, "destroy --sweep").await?;
    let refused = &refusals.refused;
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
                    refusals.describe()
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
            refusals.describe()
        );
    }
    if !opts.json {
        print_items(stack, region, &items);
        println!();
    }
    let report = run_deletes(stack, &registry, store.clone(), &plan, opts).await?;
    let remaining = stackup_engine::list_tagged(&registry, stack, &rank)
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

/// The sweep rank of a type; a type the table does not know goes first, as a leaf.
fn rank(ty: &TypeToken) -> u8 {
    stackup_aws::sweep::deletion_rank(ty.as_str()).unwrap_or(0)
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
/// entry: the engine's run path after the plan.
async fn run_deletes(
    stack: &str,
    registry: &Registry,
    store: Arc<SledStore>,
    plan: &Plan,
    opts: &SweepOptions,
) -> anyhow::Result<ApplyReport> {
    let host = Terminal::new(opts.json, true);
    let cancel = Cancel::new();
    let store: Arc<dyn StateStore> = store;
    let run = RunOptions {
        parallel: opts.parallel,
        actor: crate::host::actor(),
    };
    let report = interruptible(
        &cancel,
        "stopping: no new deletes will start; waiting for those in flight to finish (Ctrl-C again aborts at once)",
        "aborted; run the sweep again to finish",
        stackup_engine::apply_recorded(stack, registry, &store, plan, "destroy --sweep", &run, &host, &cancel),
    )
    .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn a_ttl_is_a_number_and_a_unit() {
        assert_eq!(parse_ttl("90m"), Ok(5_400));
        assert_eq!(parse_ttl(" 4h "), Ok(14_400));
        assert_eq!(parse_ttl("2d"), Ok(172_800));
        assert_eq!(parse_ttl("45s"), Ok(45));
        assert_eq!(parse_ttl("1h 30m"), Ok(5_400));
        assert_eq!(parse_ttl("1.5h"), Ok(5_400));
        for bad in ["", "4", "h", "4x", "-1h"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?} is refused");
        }
        assert!(parse_ttl("0h").expect_err("zero").contains("longer than nothing"));
        assert!(parse_ttl("99999999999999999d").is_err(), "overflow is refused");
    }
}
