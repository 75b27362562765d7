//! `up`, `diff`, `refresh` and `outputs`: arguments to options, the engine's operation,
//! its report rendered, the exit code. `destroy`, `ls` and `reap` are in `teardown.rs`,
//! the records-only commands in `state_cmd.rs`; `lib.rs` dispatches.

use anyhow::Context;
use stackup_engine::{Cancel, EngineError, RunOptions, UpOptions};

use crate::cli::{Global, RefreshArgs, UpArgs};
use crate::host::{interruptible, Terminal, ABORTED, STOPPING};
use crate::render::{self, finish, refresh_hint};
use crate::saved_plan::SavedPlan;
use crate::session::Session;

pub async fn diff(
    g: &Global,
    refresh_args: RefreshArgs,
    json: bool,
    notify_topic: Option<&str>,
    out: Option<&std::path::Path>,
) -> anyhow::Result<u8> {
    if let Some(topic) = notify_topic {
        crate::session::check_topic(topic)?;
    }
    let s = Session::open(g, "diff").await?;
    let preview = stackup_engine::preview(&s.stack, !refresh_args.no_refresh)
        .await
        .map_err(refresh_hint)?;
    if json {
        render::print_json(&preview)?;
    } else {
        render::plan(&preview.plan, &preview.drift, g.detail);
    }
    if let Some(file) = out {
        let after_run = last_run(&s.stack)?;
        SavedPlan::new(&s.stack.name, after_run, stackup_engine::plan_json(&preview.plan, &[])).save(file)?;
        eprintln!(
            "Plan saved to {}; `stackup up --plan {}` applies exactly it.",
            file.display(),
            file.display()
        );
    }
    let found = preview.found_anything();
    if let (Some(topic), true) = (notify_topic, found) {
        let notifier = s
            .notifier
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("--notify-topic: no registered provider sends notices"))?;
        let (subject, message) = render::drift_notice(&s.file.name, &preview);
        notifier
            .publish(topic, &subject, &message)
            .await
            .with_context(|| format!("publishing the drift summary to {topic}"))?;
    }
    Ok(if found { 2 } else { 0 })
}

/// Records the live view: drifted attributes are written into state, resources deleted
/// outside stackup are forgotten (the next `up` recreates them).
pub async fn refresh_state(g: &Global, json: bool) -> anyhow::Result<u8> {
    let s = Session::open(g, "refresh").await?;
    let report = stackup_engine::refresh(&s.stack, &Terminal::notices_only())
        .await
        .map_err(|e| match e {
            EngineError::Refresh(why) => anyhow::anyhow!("reading live state from AWS; nothing was recorded: {why}"),
            other => other.into(),
        })?;
    if json {
        render::print_json(&report)?;
    } else {
        render::refreshed(&report);
    }
    Ok(if report.drift.is_empty() { 0 } else { 2 })
}

pub async fn up(g: &Global, args: UpArgs) -> anyhow::Result<u8> {
    let UpArgs {
        yes,
        parallel,
        targets: raw_targets,
        refresh: refresh_args,
        json,
        ttl,
        plan: plan_file,
    } = args;
    let parallel = usize::from(parallel);
    let raw_targets = &raw_targets;
    let s = Session::open(g, "up").await?;
    let targets = s.stack.targets(raw_targets, &s.stack.records()?)?;
    let opts = UpOptions {
        run: RunOptions {
            parallel,
            actor: crate::host::actor(),
        },
        targets,
        refresh: !refresh_args.no_refresh,
    };
    let mut host = Terminal::new(json, yes).detailed(g.detail);
    if let Some(file) = &plan_file {
        let saved = SavedPlan::load(file)?;
        anyhow::ensure!(
            saved.stack == s.stack.name,
            "{} is a plan of stack '{}', not of '{}'",
            file.display(),
            saved.stack,
            s.stack.name
        );
        let now = last_run(&s.stack)?;
        anyhow::ensure!(
            now == saved.after_run,
            "the state of stack '{}' changed since {} was made (run #{now} came after run #{} it was planned on; `stackup state history` shows it), so nothing was applied. Make a new plan with `stackup diff --out {}`",
            s.stack.name,
            file.display(),
            saved.after_run,
            file.display()
        );
        host = host.expecting(&file.display().to_string(), saved.plan);
    }
    let cancel = Cancel::new();
    let report = interruptible(
        &cancel,
        STOPPING,
        ABORTED,
        stackup_engine::up(&s.stack, &opts, &host, &cancel),
    )
    .await
    .map_err(refresh_hint)?;
    if let Some(why) = host.plan_moved() {
        // A plan with nothing to do is not confirmed, so say it here.
        anyhow::bail!(why);
    }
    let code = finish(&report, json)?;
    if code == 0 && !json && report.applied.is_some() {
        println!();
        render::outputs(&s.file.name, &stackup_engine::outputs(&s.stack)?);
    }
    // Where the stack lives, for `reap` and a sweep later; and when it expires.
    let file = std::fs::canonicalize(&s.file.path).unwrap_or_else(|_| s.file.path.clone());
    let expires = stackup_engine::record_stack_meta(
        s.stack.store.as_ref(),
        &s.file.region,
        &file.display().to_string(),
        ttl,
        stackup_state::now_unix(),
    )?;
    if let Some(at) = expires {
        eprintln!(
            "Stack {} expires at {}; `stackup reap --yes` destroys it after that.",
            s.file.name,
            stackup_state::format_unix_time(at)
        );
    }
    Ok(code)
}

pub async fn outputs(g: &Global, json: bool) -> anyhow::Result<u8> {
    // From the program when its file reads; otherwise from what the last `up` recorded.
    let stack = match Session::open(g, "outputs").await {
        Ok(s) => s.stack,
        Err(e) => match crate::session::records_only(g, "outputs") {
            Ok(stack) => {
                eprintln!(
                    "note: {}; showing the outputs the last `up` recorded",
                    format!("{e:#}").trim_end()
                );
                stack
            }
            Err(_) => return Err(e),
        },
    };
    let outputs = stackup_engine::outputs(&stack)?;
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            outputs.into_iter().map(|(k, v)| (k, v.to_json())).collect();
        render::print_json(&map)?;
    } else {
        render::outputs(&stack.name, &outputs);
    }
    Ok(0)
}

/// `stackup graph`: the program's resources (and, when the stack has state here, their
/// ids), drawn. No cloud call: the stack file and the state are all it reads.
pub fn graph(g: &Global, format: crate::cli::GraphFormat, output: Option<&std::path::Path>) -> anyhow::Result<u8> {
    let (name, program) = crate::session::declare(g.stack())?;
    let records = if g.state_dir.join(&name).exists() {
        let store = crate::session::open_store(&g.state_dir, &name, "graph")?;
        stackup_engine::records_sorted(&store)?
    } else {
        Vec::new()
    };
    let diagram = stackup_engine::diagram(&name, &program.goals, &records);
    let text = match format {
        crate::cli::GraphFormat::Drawio => diagram.to_drawio(),
        crate::cli::GraphFormat::Dot => diagram.to_dot(),
        crate::cli::GraphFormat::Mermaid => diagram.to_mermaid(),
    };
    match output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!("wrote {} ({} resources)", path.display(), diagram.nodes.len());
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// The number of the stack's last recorded run (0 when none): what a saved plan was
/// made after.
fn last_run(stack: &stackup_engine::Stack) -> anyhow::Result<u64> {
    Ok(stackup_engine::state_history(stack.store.as_ref())?
        .last()
        .map_or(0, |h| h.seq))
}
