//! One function per command.

use anyhow::Context;
use stackup_engine::{Cancel, EngineError, RunOptions, RunReport, UpOptions};
use stackup_executor::ApplyReport;
use stackup_model::Value;

use crate::cli::{Cli, Command, Global, RefreshArgs};
use crate::host::{interruptible, Terminal, ABORTED, STOPPING};
use crate::render;
use crate::session::Session;

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Up {
            yes,
            parallel,
            targets,
            refresh,
            json,
            ttl,
        } => up(g, yes, parallel.into(), &targets, refresh, json, ttl).await,
        Command::Diff {
            json,
            refresh,
            notify_topic,
        } => diff(g, refresh, json, notify_topic.as_deref()).await,
        Command::Destroy(args) => crate::teardown::destroy(g, args).await,
        Command::Ls { json } => crate::teardown::ls(g, json),
        Command::Reap { yes, parallel } => crate::teardown::reap(g, yes, parallel.into()).await,
        Command::Refresh { json } => refresh_state(g, json).await,
        Command::Outputs { json } => outputs(g, json).await,
        Command::State { command } => crate::state_cmd::run(g, command).await,
        Command::Import { ty, name, id } => crate::state_cmd::import(g, &ty, &name, &id).await,
        Command::Unlock { force } => crate::state_cmd::unlock(g, force),
    }
}

/// A failed refresh, with what the user can do about it.
pub(crate) fn refresh_hint(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Refresh(why) => {
            anyhow::anyhow!("reading live state from AWS (use --no-refresh to plan from recorded state alone): {why}")
        }
        other => other.into(),
    }
}

async fn diff(g: &Global, refresh_args: RefreshArgs, json: bool, notify_topic: Option<&str>) -> anyhow::Result<u8> {
    if let Some(topic) = notify_topic {
        anyhow::ensure!(
            topic.starts_with("arn:aws:sns:") && topic.split(':').count() == 6,
            "--notify-topic {topic}: not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        );
    }
    let s = Session::open(g, "diff").await?;
    let preview = stackup_engine::preview(&s.stack, !refresh_args.no_refresh)
        .await
        .map_err(refresh_hint)?;
    let (plan, drift) = (&preview.plan, &preview.drift);
    let report = render::plan_json(plan, drift);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        render::plan(plan, drift);
    }
    let found = preview.found_anything();
    if let (Some(topic), true) = (notify_topic, found) {
        let c = plan.counts();
        let mut message = format!(
            "stackup diff found drift or pending changes in stack {}.\n{} resource(s) drifted; plan: {} to create, {} to update, {} to replace, {} to delete.\n",
            s.file.name,
            drift.len(),
            c.create,
            c.update,
            c.replace,
            c.delete
        );
        for d in drift {
            message.push_str(&format!("  - {}\n", render::drift_line(d)));
        }
        message.push_str("\nDetails: stackup diff --stack ");
        message.push_str(&s.file.name);
        s.clients
            .publish(topic, &format!("stackup: drift in stack {}", s.file.name), &message)
            .await
            .with_context(|| format!("publishing the drift summary to {topic}"))?;
    }
    Ok(if found { 2 } else { 0 })
}

/// Records the live view: drifted attributes are written into state, resources deleted
/// outside stackup are forgotten (the next `up` recreates them).
async fn refresh_state(g: &Global, json: bool) -> anyhow::Result<u8> {
    let s = Session::open(g, "refresh").await?;
    let report = stackup_engine::refresh(&s.stack, &Terminal::notices_only())
        .await
        .map_err(|e| match e {
            EngineError::Refresh(why) => anyhow::anyhow!("reading live state from AWS; nothing was recorded: {why}"),
            other => other.into(),
        })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        render::drift(&report.drift);
        if report.drift.is_empty() {
            println!("Refreshed {} resource(s): state matches AWS.", report.read);
        } else {
            println!("Recorded the live state of {} resource(s).", report.drift.len());
        }
    }
    Ok(if report.drift.is_empty() { 0 } else { 2 })
}

async fn up(
    g: &Global,
    yes: bool,
    parallel: usize,
    raw_targets: &[String],
    refresh_args: RefreshArgs,
    json: bool,
    ttl: Option<u64>,
) -> anyhow::Result<u8> {
    let s = Session::open(g, "up").await?;
    let targets = s.stack.targets(raw_targets, &s.records()?)?;
    let opts = UpOptions {
        run: RunOptions {
            parallel,
            actor: crate::host::actor(),
        },
        targets,
        refresh: !refresh_args.no_refresh,
    };
    let host = Terminal::new(json, yes);
    let cancel = Cancel::new();
    let report = interruptible(
        &cancel,
        STOPPING,
        ABORTED,
        stackup_engine::up(&s.stack, &opts, &host, &cancel),
    )
    .await
    .map_err(refresh_hint)?;
    let code = finish(&s, &report, "up", json)?;
    crate::teardown::record_stack_meta(&s, ttl)?;
    Ok(code)
}

/// Prints a run's summary (and, after a successful `up`, the outputs) and maps it to
/// the exit code.
pub(crate) fn finish(s: &Session, report: &RunReport, command: &str, json: bool) -> anyhow::Result<u8> {
    let empty = ApplyReport::default();
    let applied = report.applied.as_ref().unwrap_or(&empty);
    if json {
        println!("{}", serde_json::to_string_pretty(&render::summary_json(applied))?);
    } else if report.applied.is_some() {
        render::summary(applied);
        if applied.is_success() && command == "up" {
            println!();
            print_outputs(s)?;
        }
    }
    Ok(if report.is_success() { 0 } else { 1 })
}

/// The program's exports, resolved from recorded outputs.
fn resolve_outputs(s: &Session) -> anyhow::Result<Vec<(String, Value)>> {
    let records = s.records()?;
    Ok(s.stack
        .program
        .exports
        .iter()
        .map(|(name, r)| {
            let v = records
                .iter()
                .find(|rec| rec.urn == r.urn)
                .and_then(|rec| rec.outputs.get(&r.output).cloned())
                .unwrap_or(Value::Null);
            (name.clone(), v)
        })
        .collect())
}

fn print_outputs(s: &Session) -> anyhow::Result<()> {
    println!("Outputs of stack {}:", s.file.name);
    for (name, v) in resolve_outputs(s)? {
        let text = match &v {
            Value::String(s) => s.clone(),
            Value::Null => "(not created)".into(),
            other => other.to_string(),
        };
        println!("  {name:<28} {text}");
    }
    Ok(())
}

async fn outputs(g: &Global, json: bool) -> anyhow::Result<u8> {
    let s = Session::open(g, "outputs").await?;
    if json {
        let map: serde_json::Map<String, serde_json::Value> = resolve_outputs(&s)?
            .into_iter()
            .map(|(k, v)| (k, v.to_json()))
            .collect();
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        print_outputs(&s)?;
    }
    Ok(0)
}
