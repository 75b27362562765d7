//! Teardown commands: `destroy` (the whole stack, or the part chosen with `--target`
//! and `--exclude`), `destroy --sweep` for stacks whose state is lost, and time-boxed
//! demo stacks (`up --ttl`, `ls`, `reap`). Each is the engine's operation and its
//! report rendered.

use std::sync::Arc;

use stackup_engine::{
    Cancel, DestroyOptions, ReapOptions, ReapOutcome, ReapReport, ReapWith, Resolver, RunOptions, Stack, StackInfo,
    SweepOptions, SweepReport,
};
use stackup_model::{TypeToken, Urn};
use stackup_provider::{BoxFuture, Registry};
use stackup_state::{format_unix_time, now_unix, StateStore};

use crate::cli::{DestroyArgs, Global};
use crate::host::{actor, interruptible, Terminal, ABORTED, STOPPING};
use crate::render::{self, finish, print_json, refresh_hint};
use crate::session::{self, Session};
use crate::stackfile::StackFile;

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
            actor: actor(),
        },
        targets: parse_urns("--target", &args.targets)?,
        excludes: parse_urns("--exclude", &args.excludes)?,
        refresh: !args.refresh.no_refresh,
        delete_overrides: session::delete_overrides(&[("empty-buckets", args.empty_buckets)]),
    };
    // A stack whose file is gone is destroyed from what its state records.
    let stack = match crate::session::from_state(g, "destroy").await? {
        Some(stack) => stack,
        None => Session::open(g, "destroy").await?.stack,
    };
    let host = Terminal::new(args.json, args.yes).detailed(g.detail);
    let cancel = Cancel::new();
    let report = interruptible(
        &cancel,
        STOPPING,
        ABORTED,
        stackup_engine::destroy(&stack, &opts, &host, &cancel),
    )
    .await
    .map_err(refresh_hint)?;
    finish(&report, args.json)
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
    if duration.as_secs() > MAX_TTL_SECONDS {
        return Err(format!(
            "'{}': a time to live is at most 365d; a stack meant to live longer should not expire",
            text.trim()
        ));
    }
    Ok(duration.as_secs())
}

/// The longest `--ttl`: a year.
const MAX_TTL_SECONDS: u64 = 365 * 86_400;

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
    let mut stacks = stackup_engine::list_stacks(&g.state_dir, now);
    let scope = g.scope();
    if let Some(only) = &scope {
        stacks.retain(|s| &s.stack == only);
    }
    if json {
        print_json(&stacks)?;
        return Ok(0);
    }
    if stacks.is_empty() {
        match &scope {
            Some(only) => println!("No stack named '{only}' under {}.", g.state_dir.display()),
            None => println!("No stacks under {}.", g.state_dir.display()),
        }
        return Ok(0);
    }
    println!("{:<24} {:<10} {:<44} RESOURCES", "STACK", "AGE", "EXPIRES");
    for s in &stacks {
        let age = s.age_seconds.map_or("-".to_string(), span);
        let expires = match s.expires_at {
            None => "-".to_string(),
            Some(t) if t <= now => format!("{} (expired {} ago)", format_unix_time(t), span(now - t)),
            Some(t) => format!("{} (in {})", format_unix_time(t), span(t - now)),
        };
        let resources = match &s.problem {
            Some(p) => format!("? ({p})"),
            None => s.resources.to_string(),
        };
        println!("{:<24} {:<10} {:<44} {resources}", s.stack, age, expires);
    }
    Ok(0)
}

/// How `reap` reaches the programs and providers this binary registered.
struct Registered {
    state_dir: std::path::PathBuf,
}

impl Resolver for Registered {
    /// `stacks/<name>.toml` when it names this stack, else the file `up` last recorded;
    /// a file whose program no longer reads it cannot drive a destroy (a sweep then).
    fn stack_file(&self, info: &StackInfo) -> Option<String> {
        let candidates = [
            Some(StackFile::path_for(&info.stack).display().to_string()),
            info.stack_file.clone(),
        ];
        candidates.into_iter().flatten().find(|file| {
            std::path::Path::new(file).exists()
                && StackFile::read(file).is_ok_and(|f| f.name == info.stack && session::declares(&f))
        })
    }

    fn open<'a>(&'a self, file: &'a str, command: &'a str) -> BoxFuture<'a, Result<Stack, String>> {
        Box::pin(async move {
            Session::open_file(file, &self.state_dir, command)
                .await
                .map(|s| s.stack)
                .map_err(|e| format!("{e:#}"))
        })
    }

    fn providers<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Registry> {
        Box::pin(async move { session::connect(region).await.registry })
    }

    fn sweep_rank(&self, ty: &TypeToken) -> u8 {
        session::sweep_rank(ty)
    }
}

/// `stackup reap`: destroys every stack whose expiry has passed, each with its own stack
/// file when there is one and by a sweep otherwise, and reports what it did. A dry run
/// without `yes`. Exit 1 when any expired stack could not be destroyed completely.
pub async fn reap(g: &Global, yes: bool, parallel: usize) -> anyhow::Result<u8> {
    let opts = ReapOptions {
        run: RunOptions {
            parallel,
            actor: actor(),
        },
        delete: yes,
        now: now_unix(),
        default_region: session::region_from_environment(),
        stack: g.scope(),
    };
    let resolver = Registered {
        state_dir: g.state_dir.clone(),
    };
    // Nobody watches a reap: no prompt.
    let host = Terminal::new(false, true);
    let cancel = Cancel::new();
    if yes {
        // Say which stacks before touching any: a dry run first.
        let dry = ReapOptions {
            delete: false,
            ..opts.clone()
        };
        let plan = stackup_engine::reap(&g.state_dir, &dry, &resolver, &host, &cancel).await?;
        let names: Vec<&str> = plan.expired.iter().map(|i| i.info.stack.as_str()).collect();
        if names.is_empty() {
            print_reap(g, &plan, opts.now);
            return Ok(0);
        }
        println!(
            "Reaping {} expired stack(s) under {}: {}",
            names.len(),
            g.state_dir.display(),
            names.join(", ")
        );
    }
    let report = interruptible(
        &cancel,
        STOPPING,
        ABORTED,
        stackup_engine::reap(&g.state_dir, &opts, &resolver, &host, &cancel),
    )
    .await?;
    print_reap(g, &report, opts.now);
    Ok(if report.is_success() { 0 } else { 1 })
}

fn print_reap(g: &Global, report: &ReapReport, now: u64) {
    for s in &report.skipped {
        println!("{}: skipped, {}", s.stack, s.problem.as_deref().unwrap_or("unreadable"));
    }
    if report.expired.is_empty() {
        println!(
            "No stack has expired ({} stack(s) under {}).",
            report.stacks,
            g.state_dir.display()
        );
        return;
    }
    for item in &report.expired {
        let s = &item.info;
        let expired_at = s.expires_at.unwrap_or(now);
        let with = match &item.plan {
            ReapWith::StackFile { file } => format!("destroy with {file}"),
            ReapWith::Sweep { .. } => "sweep by tag (no stack file)".to_string(),
        };
        println!(
            "{}: expired at {} ({} ago), {} recorded resource(s): {with}",
            s.stack,
            format_unix_time(expired_at),
            span(now.saturating_sub(expired_at)),
            s.resources
        );
    }
    if report.dry_run {
        println!("Dry run: nothing was destroyed. `stackup reap --yes` destroys the stacks above.");
        return;
    }
    for item in &report.expired {
        let name = &item.info.stack;
        match &item.outcome {
            Some(ReapOutcome::Reaped) => println!("reaped stack {name}"),
            Some(ReapOutcome::Incomplete) => println!("stack {name} was not destroyed completely"),
            Some(ReapOutcome::Failed { error }) => println!("stack {name} was not destroyed: {error}"),
            Some(ReapOutcome::NotStarted) | None => println!("stack {name} was not reaped: stopped before its turn"),
        }
    }
    println!(
        "\nReaped {} of {} expired stack(s).",
        report.reaped(),
        report.expired.len()
    );
}

// ---- sweep --------------------------------------------------------------------------

/// `destroy --sweep`: the stack named by `--stack` (its file when there is one, for the
/// region; otherwise the bare name, with the region its state recorded or the AWS
/// environment's).
async fn sweep_command(g: &Global, args: &DestroyArgs) -> anyhow::Result<u8> {
    let file = StackFile::path_for(g.stack());
    let (name, region) = if file.exists() {
        // The common keys only: a sweep needs no program.
        let file = StackFile::read(g.stack())?;
        (file.name, Some(file.region))
    } else {
        anyhow::ensure!(
            !(g.stack().ends_with(".toml") || g.stack().contains('/')),
            "--stack {}: no such stack file",
            g.stack()
        );
        anyhow::ensure!(
            !g.stack().is_empty()
                && g.stack().len() <= 32
                && g.stack()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "--stack {}: not a stack name (1-32 characters of a-z, 0-9 and '-')",
            g.stack()
        );
        (g.stack().to_string(), None)
    };
    let store: Arc<dyn StateStore> = Arc::new(session::open_store(&g.state_dir, &name, "destroy --sweep")?);
    let region = match region.or(store.meta(stackup_engine::REGION)?) {
        Some(r) => r,
        None => session::region_from_environment().ok_or_else(|| {
            anyhow::anyhow!(
                "stack '{name}' has no stack file and its state records no region: set AWS_REGION to the region to sweep"
            )
        })?,
    };
    let opts = SweepOptions {
        run: RunOptions {
            parallel: usize::from(args.parallel),
            actor: actor(),
        },
        delete: args.yes,
        delete_overrides: session::delete_overrides(&[
            ("empty-buckets", args.empty_buckets),
            ("skip-final-snapshot", args.skip_final_snapshot),
        ]),
    };
    let connection = session::connect(&region).await;
    session::check_identity(&connection).await?;
    let registry = connection.registry;
    let host = Terminal::new(args.json, true);
    let cancel = Cancel::new();
    let report = interruptible(
        &cancel,
        "stopping: no new deletes will start; waiting for those in flight to finish (Ctrl-C again aborts at once)",
        "aborted; run the sweep again to finish",
        stackup_engine::sweep(&name, &store, &registry, &opts, &session::sweep_rank, &host, &cancel),
    )
    .await
    .map_err(|e| match e {
        stackup_engine::EngineError::Refused(refusals) => anyhow::anyhow!(
            "the sweep stopped before deleting anything, and every object tagged stackup:stack={name} remains: {}\nRemove or change what is named above (--empty-buckets empties buckets) and sweep again.",
            refusals.describe()
        ),
        other => anyhow::Error::from(other).context(format!("sweeping stack '{name}' in {region}")),
    })?;
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["region"] = serde_json::json!(region);
        if let Some(objects) = value["objects"].as_array_mut() {
            for (o, item) in objects.iter_mut().zip(&report.objects) {
                o["note"] = serde_json::json!(session::sweep_note(&item.ty));
            }
        }
        print_json(&value)?;
    } else {
        print_sweep(&report, &region);
    }
    Ok(if report.is_success() { 0 } else { 1 })
}

fn print_sweep(report: &SweepReport, region: &str) {
    let stack = &report.stack;
    if report.objects.is_empty() {
        println!("Nothing tagged stackup:stack={stack} in {region}.");
        return;
    }
    println!(
        "{} object(s) tagged stackup:stack={stack} in {region}, in the order a sweep deletes them (a wave at a time):",
        report.objects.len()
    );
    for o in &report.objects {
        let note = session::sweep_note(&o.ty)
            .map(|n| format!("  ({n})"))
            .unwrap_or_default();
        println!("  wave {}  {:<34} {:<40} {}{note}", o.wave, o.ty.as_str(), o.id, o.urn);
    }
    if report.dry_run {
        if !report.blocked.is_empty() {
            println!(
                "\nWith --yes the sweep would stop before deleting anything: {} of {} delete(s) cannot go ahead:",
                report.blocked.len(),
                report.objects.len()
            );
            for b in &report.blocked {
                println!("  - {}: {}", b.urn, b.reason);
            }
        }
        println!("\nDry run: nothing was deleted. Run again with --yes to delete the objects above.");
        return;
    }
    if let Some(applied) = &report.applied {
        render::summary(applied);
    }
    match &report.remaining {
        Some(remaining) if remaining.is_empty() && report.is_success() => {
            println!("Nothing tagged stackup:stack={stack} remains in {region}.");
        }
        Some(remaining) => {
            println!(
                "\n{} object(s) still tagged stackup:stack={stack} in {region}:",
                remaining.len()
            );
            for r in remaining {
                println!("  {:<34} {:<40} {}", r.ty.as_str(), r.id, r.urn);
            }
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_ttl, span};

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
        assert!(parse_ttl("99999999d").expect_err("capped").contains("at most 365d"));
        assert_eq!(parse_ttl("365d"), Ok(365 * 86_400));
    }

    #[test]
    fn a_span_shows_its_two_largest_units() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(59), "59s");
        assert_eq!(span(250), "4m 10s");
        assert_eq!(span(7_500), "2h 05m");
        assert_eq!(span(3 * 86_400 + 4 * 3_600 + 59), "3d 4h");
    }
}
