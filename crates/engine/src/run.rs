//! The run path every mutating operation shares: recover what an interrupted run left,
//! read live state, plan, check every delete before anything changes, show the plan
//! and confirm, apply with progress and cancellation, and record the run in the
//! history. `up` and `destroy` are this path with their own plan; `apply_recorded` is
//! its last half, for callers that plan themselves (a sweep of a stack whose state is
//! lost).

use stackup_executor::{apply, ApplyContext, ApplyReport, NodeOutcome, ResourceDrift};
use stackup_model::{TypeToken, Urn, Value};
use stackup_planner::destroy::{plan_destroy, DestroyRequest};
use stackup_planner::{Action, OpKind, Plan};
use stackup_provider::Registry;
use stackup_state::{now_unix, HistoryEntry, StateStore};

use crate::stacks::EXPIRES_AT;
use crate::{preflight, Actor, Cancel, EngineError, Host, Stack};

/// How a run applies: with how many operations at once, and who runs it.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub parallel: usize,
    pub actor: Actor,
}

/// `up`: bring the stack to what the program declares.
#[derive(Clone, Debug)]
pub struct UpOptions {
    pub run: RunOptions,
    /// Only these resources (and what they need); empty: all.
    pub targets: Vec<Urn>,
    /// Read live state first (`--no-refresh` turns it off).
    pub refresh: bool,
}

/// `destroy`: delete what the stack recorded.
#[derive(Clone, Debug)]
pub struct DestroyOptions {
    pub run: RunOptions,
    /// Delete these and everything that depends on them; empty: everything.
    pub targets: Vec<Urn>,
    /// Keep these and everything they depend on.
    pub excludes: Vec<Urn>,
    pub refresh: bool,
    /// Inputs this run sets on every delete of a type: a stackup-side setting
    /// overridden for the run (empty the buckets, skip the final snapshot).
    pub delete_overrides: Vec<(TypeToken, String, Value)>,
}

/// What a run planned and did.
#[derive(Debug)]
pub struct RunReport {
    pub plan: Plan,
    /// What refresh found different from the record.
    pub drift: Vec<ResourceDrift>,
    /// The apply's outcome; None when the plan had nothing to do.
    pub applied: Option<ApplyReport>,
}

impl RunReport {
    pub fn is_success(&self) -> bool {
        self.applied.as_ref().is_none_or(ApplyReport::is_success)
    }
}

/// `up`: recover, refresh (unless told not to), plan, pre-flight the deletes, confirm,
/// apply, record the run.
pub async fn up(stack: &Stack, opts: &UpOptions, host: &dyn Host, cancel: &Cancel) -> Result<RunReport, EngineError> {
    stack.recover(host).await?;
    let records = stack.records()?;
    let (current, mut drift) = stack.current_state(records, opts.refresh).await?;
    // Even without a refresh: lost state must never lead to a duplicate.
    let (plan, adopted) = stack.plan_adopting(current, &opts.targets, None).await?;
    drift.retain(|d| !adopted.contains(d.urn()));
    // Deletes (removed resources, replaced objects) are checked before anything changes.
    preflight(&stack.registry, &plan, opts.run.parallel, "up").await?;
    let report = confirm_and_apply(stack, plan, drift, "up", &opts.run, host, cancel).await?;
    // What `outputs` needs when the program can no longer be read.
    let exports: Vec<(&str, &str, &str)> = stack
        .program
        .exports
        .iter()
        .map(|(name, r)| (name.as_str(), r.urn.as_str(), r.output.as_str()))
        .collect();
    if let Ok(text) = serde_json::to_string(&exports) {
        stack.store.set_meta(crate::stacks::EXPORTS, Some(&text))?;
    }
    Ok(report)
}

/// `destroy`: recover, refresh, forget what is already gone, plan the deletes,
/// pre-flight them all, confirm, apply, record the run.
pub async fn destroy(
    stack: &Stack,
    opts: &DestroyOptions,
    host: &dyn Host,
    cancel: &Cancel,
) -> Result<RunReport, EngineError> {
    stack.recover(host).await?;
    let records = stack.records()?;
    let (current, drift) = stack.current_state(records, opts.refresh).await?;
    // Resources already deleted outside stackup only need forgetting.
    for d in &drift {
        if let ResourceDrift::Deleted { urn } = d {
            stack.store.remove(urn)?;
        }
    }
    let retired = stack.store.retired()?;
    let mut plan = plan_destroy(DestroyRequest {
        stack: &stack.name,
        current: &current,
        retired: &retired,
        targets: &opts.targets,
        excludes: &opts.excludes,
    })?;
    for (ty, key, value) in &opts.delete_overrides {
        set_delete_input(&mut plan, ty, key, value);
    }
    preflight(&stack.registry, &plan, opts.run.parallel, "destroy").await?;
    let report = confirm_and_apply(stack, plan, Vec::new(), "destroy", &opts.run, host, cancel).await?;
    if report.is_success() && opts.targets.is_empty() && opts.excludes.is_empty() {
        // Nothing is left to expire.
        stack.store.set_meta(EXPIRES_AT, None)?;
    }
    Ok(report)
}

/// Sets input `key` of every delete of type `ty` in `plan`.
fn set_delete_input(plan: &mut Plan, ty: &TypeToken, key: &str, value: &Value) {
    for step in plan.steps.iter_mut().filter(|s| s.action != Action::Same) {
        if let Some(old) = step.old.as_mut().filter(|o| &o.ty == ty) {
            old.inputs.insert(key.into(), value.clone());
        }
    }
}

/// Shows the plan, confirms when it changes anything, then applies and records it.
async fn confirm_and_apply(
    stack: &Stack,
    plan: Plan,
    drift: Vec<ResourceDrift>,
    command: &str,
    opts: &RunOptions,
    host: &dyn Host,
    cancel: &Cancel,
) -> Result<RunReport, EngineError> {
    host.planned(&stack.name, command, &plan, &drift);
    if !plan.has_changes() {
        return Ok(RunReport {
            plan,
            drift,
            applied: None,
        });
    }
    host.confirm(&stack.name, command, &plan)
        .map_err(EngineError::NotConfirmed)?;
    // Adopted objects are recorded before anything acts on them: a run that stops
    // here leaves them recorded, never orphaned or created twice.
    for step in plan.steps.iter().filter(|s| s.adopted) {
        if let Some(record) = &step.old {
            stack.store.put(record)?;
            host.notice(&format!(
                "adopted: {} is {}, found in AWS; it is now recorded",
                record.urn, record.id
            ));
        }
    }
    let applied = apply_recorded(
        &stack.name,
        &stack.registry,
        &stack.store,
        &plan,
        command,
        opts,
        host,
        cancel,
    )
    .await?;
    Ok(RunReport {
        plan,
        drift,
        applied: Some(applied),
    })
}

/// Applies `plan` with the host's progress view and `cancel`, then records the run in
/// the history (what changed, and a snapshot of the state after it). The last half of
/// every run; for callers that made and confirmed the plan themselves.
#[allow(clippy::too_many_arguments)]
pub async fn apply_recorded(
    stack: &str,
    registry: &Registry,
    store: &std::sync::Arc<dyn StateStore>,
    plan: &Plan,
    command: &str,
    opts: &RunOptions,
    host: &dyn Host,
    cancel: &Cancel,
) -> Result<ApplyReport, EngineError> {
    let observer = host.progress(plan.operations().len());
    let started_at = now_unix();
    let report = apply(
        plan,
        ApplyContext {
            stack: stack.to_string(),
            registry: registry.clone(),
            store: store.clone(),
            parallel: opts.parallel,
            cancel: cancel.receiver(),
            observer,
        },
    )
    .await;
    host.applied();
    store.append_history(HistoryEntry {
        seq: 0,
        command: command.to_string(),
        user: opts.actor.user.clone(),
        host: opts.actor.host.clone(),
        started_at,
        finished_at: now_unix(),
        created: report.done(OpKind::Create),
        updated: report.done(OpKind::Update),
        replaced: report.done(OpKind::CreateReplacement),
        deleted: report.done(OpKind::Delete),
        failed: report.failures().len(),
        changes: report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, NodeOutcome::Done))
            .map(|r| format!("{} {}", r.kind.done(), r.urn))
            .collect(),
        snapshot: store.records()?,
        not_started: report.cancelled(),
    })?;
    Ok(report)
}
