//! One function per command.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use serde_json::json;
use stackup_executor::{apply, refresh, ApplyContext, ApplyReport, ResourceDrift};
use stackup_model::{ResourceRecord, Value};
use stackup_planner::Plan;
use stackup_state::{now_unix, HistoryEntry, StateStore};
use tokio::sync::watch;

use crate::cli::{Cli, Command, Global, RefreshArgs};
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

/// Reads live state unless told not to. A failed read is an error, never "no change".
pub(crate) async fn current_state(
    s: &Session,
    records: Vec<ResourceRecord>,
    args: RefreshArgs,
) -> anyhow::Result<(Vec<ResourceRecord>, Vec<ResourceDrift>)> {
    if args.no_refresh || records.is_empty() {
        return Ok((records, Vec::new()));
    }
    let refreshed = refresh(&s.registry, &records)
        .await
        .context("reading live state from AWS (use --no-refresh to plan from recorded state alone)")?;
    Ok((refreshed.records, refreshed.drift))
}

async fn diff(g: &Global, refresh_args: RefreshArgs, json: bool, notify_topic: Option<&str>) -> anyhow::Result<u8> {
    if let Some(topic) = notify_topic {
        anyhow::ensure!(
            topic.starts_with("arn:aws:sns:") && topic.split(':').count() == 6,
            "--notify-topic {topic}: not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        );
    }
    let s = Session::open(g, "diff").await?;
    let records = s.records()?;
    let (current, mut drift) = current_state(&s, records.clone(), refresh_args).await?;
    if !refresh_args.no_refresh {
        drift.extend(s.unmanaged(&records).await?);
    }
    let plan = s.plan(&current, &[])?;
    let report = render::plan_json(&plan, &drift);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        render::plan(&plan, &drift);
    }
    let found = plan.has_changes() || !drift.is_empty();
    if let (Some(topic), true) = (notify_topic, found) {
        let c = plan.counts();
        let mut message = format!(
            "stackup diff found drift or pending changes in stack {}.\n{} resource(s) drifted; plan: {} to create, {} to update, {} to replace, {} to delete.\n",
            s.config.name,
            drift.len(),
            c.create,
            c.update,
            c.replace,
            c.delete
        );
        for d in &drift {
            message.push_str(&format!("  - {}\n", render::drift_line(d)));
        }
        message.push_str("\nDetails: stackup diff --stack ");
        message.push_str(&s.config.name);
        s.clients
            .sns
            .publish()
            .topic_arn(topic)
            .subject(format!("stackup: drift in stack {}", s.config.name))
            .message(message)
            .send()
            .await
            .with_context(|| format!("publishing the drift summary to {topic}"))?;
    }
    Ok(if found { 2 } else { 0 })
}

/// Records the live view: drifted attributes are written into state, resources deleted
/// outside stackup are forgotten (the next `up` recreates them).
async fn refresh_state(g: &Global, json: bool) -> anyhow::Result<u8> {
    let s = Session::open(g, "refresh").await?;
    s.recover().await?;
    let records = s.records()?;
    let mut refreshed = refresh(&s.registry, &records)
        .await
        .context("reading live state from AWS; nothing was recorded")?;
    refreshed.drift.extend(s.unmanaged(&records).await?);
    for d in &refreshed.drift {
        match d {
            ResourceDrift::Deleted { urn } => s.store.remove(urn)?,
            // Never adopted silently: `stackup import` (or a sweep) decides.
            ResourceDrift::Unmanaged { .. } => {}
            ResourceDrift::Changed { urn, .. } => {
                if let Some(r) = refreshed.records.iter().find(|r| &r.urn == urn) {
                    s.store.put(r)?;
                }
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"stack": s.config.name, "drift": refreshed.drift}))?
        );
    } else {
        render::drift(&refreshed.drift);
        if refreshed.drift.is_empty() {
            println!("Refreshed {} resource(s): state matches AWS.", records.len());
        } else {
            println!("Recorded the live state of {} resource(s).", refreshed.drift.len());
        }
    }
    Ok(if refreshed.drift.is_empty() { 0 } else { 2 })
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
    s.recover().await?;
    let records = s.records()?;
    let targets = s.targets(raw_targets, &records)?;
    let (current, drift) = current_state(&s, records, refresh_args).await?;
    let plan = s.plan(&current, &targets)?;
    // Deletes (removed resources, replaced objects) are checked before anything changes.
    crate::teardown::preflight(&s.registry, &plan, parallel, "up").await?;
    let code = execute(&s, plan, &drift, "up", yes, parallel, json).await?;
    crate::teardown::record_stack_meta(&s, g, ttl)?;
    Ok(code)
}

/// Shows the plan, asks for confirmation, applies it with a live progress view and
/// records the run in the history.
pub(crate) async fn execute(
    s: &Session,
    plan: Plan,
    drift: &[ResourceDrift],
    command: &str,
    yes: bool,
    parallel: usize,
    json: bool,
) -> anyhow::Result<u8> {
    if json {
        eprintln!("{}", serde_json::to_string(&render::plan_json(&plan, drift))?);
    } else {
        render::plan(&plan, drift);
    }
    if !plan.has_changes() {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&render::summary_json(&ApplyReport::default()))?
            );
        }
        return Ok(0);
    }
    if !yes {
        confirm(&s.config.name, command)?;
    }
    let ops = plan.operations().len();
    let progress = render::Progress::new(ops, json);
    let ticker = progress.spawn_ticker();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: no new operations will start; waiting for those in flight to finish and be recorded (Ctrl-C again aborts at once)");
            let _ = cancel_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("aborted; the journal in the state store lets the next run find interrupted work");
                std::process::exit(130);
            }
        }
    });
    let started_at = now_unix();
    let report = apply(
        &plan,
        ApplyContext {
            stack: s.config.name.clone(),
            registry: s.registry.clone(),
            store: s.store.clone(),
            parallel,
            cancel: cancel_rx,
            observer: progress.clone(),
        },
    )
    .await;
    ticker.abort();
    interrupt.abort();
    s.store.append_history(HistoryEntry {
        seq: 0,
        command: command.to_string(),
        user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        host: stackup_state::hostname(),
        started_at,
        finished_at: now_unix(),
        created: report.done(stackup_planner::OpKind::Create),
        updated: report.done(stackup_planner::OpKind::Update),
        replaced: report.done(stackup_planner::OpKind::CreateReplacement),
        deleted: report.done(stackup_planner::OpKind::Delete),
        failed: report.failures().len(),
        changes: report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, stackup_executor::NodeOutcome::Done))
            .map(|r| format!("{} {}", render::verb_done(r.kind), r.urn))
            .collect(),
        snapshot: s.records()?,
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&render::summary_json(&report))?);
    } else {
        render::summary(&report);
        if report.is_success() && command == "up" {
            println!();
            print_outputs(s)?;
        }
    }
    Ok(if report.is_success() { 0 } else { 1 })
}

fn confirm(stack: &str, command: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    anyhow::ensure!(
        stdin.is_terminal(),
        "refusing to run `{command}` on stack '{stack}' without confirmation: standard input is not a terminal; pass --yes"
    );
    print!("\nApply these changes to stack '{stack}'? Type the stack name to confirm: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    anyhow::ensure!(answer.trim() == stack, "not confirmed; nothing was changed");
    Ok(())
}

/// The program's exports, resolved from recorded outputs.
fn resolve_outputs(s: &Session) -> anyhow::Result<Vec<(String, Value)>> {
    let records = s.records()?;
    Ok(s.program
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
    println!("Outputs of stack {}:", s.config.name);
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
