//! Applies a plan: one provider call per operation, each bracketed by journal writes
//! and followed at once by the state record of its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackup_model::{Properties, ResourceRecord, Urn, Value};
use stackup_planner::{Action, OpKind, Plan, Step};
use stackup_provider::{
    CheckRequest, CreateRequest, DeleteRequest, DiffRequest, ErrorKind, LiveResource, ProviderError, Registry,
    UpdateRequest,
};
use stackup_state::{now_unix, JournalEntry, JournalOp, StateStore};
use tokio::sync::watch;

use crate::walk::{walk, NodeOutcome};
use crate::StepError;

/// What the CLI's progress view is told.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        urn: Urn,
        kind: OpKind,
    },
    Finished {
        urn: Urn,
        kind: OpKind,
        elapsed: Duration,
    },
    Failed {
        urn: Urn,
        kind: OpKind,
        error: String,
    },
    /// What a running operation is waiting for, as its provider last reported it ("NAT
    /// gateway nat-0abc to become available: pending (40s)").
    Waiting {
        urn: Urn,
        kind: OpKind,
        status: String,
    },
    /// An instant of the write-ahead sequence around a mutating call was reached. Hosts
    /// ignore it; crash-safety tests stop the process here (the binary's test hook) to
    /// make every window of the sequence happen.
    Checkpoint {
        urn: Urn,
        kind: OpKind,
        phase: Checkpoint,
    },
}

/// The instants of the write-ahead sequence around each mutating call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// The journal entry is written; the call has not been made.
    BeforeCall,
    /// The call returned; its outcome is not recorded yet.
    AfterCall,
    /// The outcome is recorded; the journal entry is not closed yet.
    AfterRecord,
}

pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

/// Everything an apply needs besides the plan.
pub struct ApplyContext {
    pub stack: String,
    pub registry: Registry,
    pub store: Arc<dyn StateStore>,
    pub parallel: usize,
    pub cancel: watch::Receiver<bool>,
    pub observer: Arc<dyn Observer>,
}

/// The outcome of one operation.
#[derive(Debug, Clone)]
pub struct OpResult {
    pub urn: Urn,
    pub kind: OpKind,
    pub outcome: NodeOutcome,
    /// For a skipped operation, the URN of the failed one that caused it.
    pub root_cause: Option<Urn>,
}

/// Serialized as `{success, elapsed_seconds, results: [{urn, operation, status, error,
/// root_cause}]}`, the shape of `--json` run summaries.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub results: Vec<OpResult>,
    pub elapsed: Duration,
}

impl ApplyReport {
    pub fn failures(&self) -> Vec<&OpResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, NodeOutcome::Failed(_)))
            .collect()
    }
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, NodeOutcome::Skipped { .. }))
    }
    pub fn cancelled(&self) -> usize {
        self.count(|o| matches!(o, NodeOutcome::Cancelled))
    }
    pub fn done(&self, kind: OpKind) -> usize {
        self.results
            .iter()
            .filter(|r| r.kind == kind && matches!(r.outcome, NodeOutcome::Done))
            .count()
    }
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|r| matches!(r.outcome, NodeOutcome::Done))
    }
    fn count(&self, f: impl Fn(&NodeOutcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }
}

struct Shared {
    plan: Plan,
    ops: Vec<stackup_planner::Operation>,
    ctx: ApplyContext,
    /// Outputs of every resource as they become known.
    outputs: Mutex<HashMap<Urn, Properties>>,
}

/// Runs a plan's operations and records each outcome.
pub async fn apply(plan: &Plan, ctx: ApplyContext) -> ApplyReport {
    let started = Instant::now();
    let ops = plan.operations();
    let mut outputs = HashMap::new();
    for step in &plan.steps {
        if let (Some(old), false) = (&step.old, step.retired) {
            outputs.insert(step.urn.clone(), old.outputs.clone().into());
        }
    }
    let after: Vec<Vec<usize>> = ops.iter().map(|o| o.after.clone()).collect();
    let limit = ctx.parallel;
    let cancel = ctx.cancel.clone();
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        ops,
        ctx,
        outputs: Mutex::new(outputs),
    });
    let runner = shared.clone();
    let outcomes = walk(
        &after,
        limit,
        cancel,
        Arc::new(move |i| {
            let shared = runner.clone();
            Box::pin(async move { run_op(&shared, i).await })
        }),
    )
    .await;
    let results = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            let op = &shared.ops[i];
            let root_cause = match &outcome {
                NodeOutcome::Skipped { because } => Some(shared.plan.steps[shared.ops[*because].step].urn.clone()),
                _ => None,
            };
            OpResult {
                urn: shared.plan.steps[op.step].urn.clone(),
                kind: op.kind,
                outcome,
                root_cause,
            }
        })
        .collect();
    ApplyReport {
        results,
        elapsed: started.elapsed(),
    }
}

async fn run_op(shared: &Shared, i: usize) -> Result<(), StepError> {
    let op = &shared.ops[i];
    let step = &shared.plan.steps[op.step];
    let observer = &shared.ctx.observer;
    observer.event(Event::Started {
        urn: step.urn.clone(),
        kind: op.kind,
    });
    let started = Instant::now();
    let mut attempt = 1;
    let reporter: stackup_provider::progress::Reporter = {
        let (observer, urn, kind) = (observer.clone(), step.urn.clone(), op.kind);
        Arc::new(move |status| {
            observer.event(Event::Waiting {
                urn: urn.clone(),
                kind,
                status,
            })
        })
    };
    let result = loop {
        let attempt_once = async {
            match op.kind {
                OpKind::Create => create(shared, step, None).await,
                OpKind::CreateReplacement => {
                    let retire = (step.action == Action::CreateThenDelete)
                        .then_some(())
                        .and(step.old.as_ref());
                    create(shared, step, retire).await
                }
                OpKind::Update => update(shared, step).await,
                OpKind::Delete | OpKind::DeleteReplaced => delete(shared, step, op.kind).await,
            }
        };
        let result = stackup_provider::progress::scope(reporter.clone(), attempt_once).await;
        match result {
            Err(e) if attempt < OP_ATTEMPTS && worth_retrying(&e, op.kind) => {
                // The SDK already retried with backoff; this covers longer bursts of
                // throttling, an outage of a minute, and objects not yet visible right
                // after their creation (eventual consistency).
                let delay = Duration::from_secs(1 << attempt);
                observer.event(Event::Waiting {
                    urn: step.urn.clone(),
                    kind: op.kind,
                    status: format!(
                        "retrying in {}s (attempt {} of {OP_ATTEMPTS}) after: {e}",
                        delay.as_secs(),
                        attempt + 1
                    ),
                });
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => break other,
        }
    };
    match &result {
        Ok(()) => observer.event(Event::Finished {
            urn: step.urn.clone(),
            kind: op.kind,
            elapsed: started.elapsed(),
        }),
        Err(e) => observer.event(Event::Failed {
            urn: step.urn.clone(),
            kind: op.kind,
            error: e.to_string(),
        }),
    }
    result
}

/// Attempts of one operation, after the SDK's own retries.
const OP_ATTEMPTS: u32 = 4;

fn worth_retrying(e: &StepError, kind: OpKind) -> bool {
    match e {
        StepError::Provider(p) => {
            p.kind.is_retryable()
                || (p.kind == ErrorKind::NotFound
                    && matches!(kind, OpKind::Update | OpKind::Create | OpKind::CreateReplacement))
        }
        _ => false,
    }
}

fn provider<'a>(shared: &'a Shared, step: &Step) -> Result<&'a Arc<dyn stackup_provider::Provider>, StepError> {
    shared
        .ctx
        .registry
        .get(&step.ty)
        .ok_or_else(|| StepError::Engine(format!("no provider for type {}", step.ty)))
}

/// Resolves references with the outputs recorded so far (every dependency has finished
/// by the time this runs, so a missing output is a program error) and has the provider
/// normalise the result, as the planner did with what it knew.
fn resolve(shared: &Shared, step: &Step) -> Result<Properties, StepError> {
    let resolved = resolve_references(shared, step)?;
    let checked = provider(shared, step)?.check(CheckRequest {
        urn: &step.urn,
        inputs: resolved,
    });
    if let Some(f) = checked.failures.first() {
        return Err(StepError::Engine(format!("input '{}': {}", f.property, f.reason)));
    }
    Ok(checked.inputs)
}

fn resolve_references(shared: &Shared, step: &Step) -> Result<Properties, StepError> {
    let outputs = shared.outputs.lock().unwrap_or_else(|e| e.into_inner());
    let mut missing = None;
    let inputs = step
        .inputs
        .as_ref()
        .ok_or_else(|| StepError::Engine(format!("{} has no desired inputs", step.urn)))?
        .iter()
        .map(|(k, v)| {
            let resolved = v.resolve(
                &mut |r| match outputs.get(&r.urn).and_then(|o| o.get(r.output.as_str())) {
                    Some(v) => v.clone(),
                    None => {
                        missing = Some(r.to_string());
                        Value::Null
                    }
                },
            );
            (k.clone(), resolved)
        })
        .collect();
    match missing {
        Some(r) => Err(StepError::Engine(format!(
            "input refers to {r}, which has no such output"
        ))),
        None => Ok(inputs),
    }
}

fn journal(
    shared: &Shared,
    urn: &Urn,
    op: JournalOp,
    id: Option<&str>,
    inputs: Option<&Properties>,
) -> Result<String, StepError> {
    let token = uuid::Uuid::new_v4().to_string();
    shared.ctx.store.journal_begin(&JournalEntry {
        token: token.clone(),
        urn: urn.clone(),
        op,
        id: id.map(str::to_string),
        started_at: now_unix(),
        inputs: inputs.cloned(),
    })?;
    Ok(token)
}

/// Clears a journal entry after a failed call, unless the failure leaves the outcome
/// unknown (a timeout or dropped connection may have created the object): then the
/// entry stays for the next run to resolve.
fn settle_failed(shared: &Shared, token: &str, kind: ErrorKind) {
    if !kind.is_retryable() {
        let _ = shared.ctx.store.journal_end(token);
    }
}

/// Tells the observer an instant of the write-ahead sequence was reached.
fn checkpoint(shared: &Shared, step: &Step, kind: OpKind, phase: Checkpoint) {
    shared.ctx.observer.event(Event::Checkpoint {
        urn: step.urn.clone(),
        kind,
        phase,
    });
}

async fn create(shared: &Shared, step: &Step, retire: Option<&ResourceRecord>) -> Result<(), StepError> {
    let kind = if retire.is_some() {
        OpKind::CreateReplacement
    } else {
        OpKind::Create
    };
    let provider = provider(shared, step)?;
    let inputs = resolve(shared, step)?;
    let token = journal(shared, &step.urn, JournalOp::Create, None, Some(&inputs))?;
    checkpoint(shared, step, kind, Checkpoint::BeforeCall);
    let created = provider
        .create(CreateRequest {
            urn: step.urn.clone(),
            stack: shared.ctx.stack.clone(),
            inputs: inputs.clone(),
            token: token.clone(),
        })
        .await;
    let created = match created {
        Ok(c) => c,
        // The object exists but never became ready: record it, tainted, and fail.
        Err(e) if e.created.is_some() => return record_tainted(shared, step, retire, inputs, &token, e),
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::Invalid | ErrorKind::AccessDenied | ErrorKind::Conflict
            ) =>
        {
            // Refused outright: nothing was created.
            settle_failed(shared, &token, e.kind);
            return Err(e.into());
        }
        Err(e) => {
            // The create may have happened before the failure (a lost response, a step
            // after the create call failing): adopt what it made rather than make another.
            match adopt_created(shared, step, &inputs, &token, &e).await? {
                Some(adopted) => return finish_adoption(shared, step, retire, inputs, token, adopted).await,
                None => {
                    let _ = shared.ctx.store.journal_end(&token);
                    return Err(e.into());
                }
            }
        }
    };
    checkpoint(shared, step, kind, Checkpoint::AfterCall);
    let record = ResourceRecord {
        urn: step.urn.clone(),
        ty: step.ty.clone(),
        id: created.id,
        inputs: inputs.into(),
        outputs: created.outputs.clone().into(),
        dependencies: step.dependencies.clone(),
        tainted: None,
    };
    match retire {
        Some(old) => shared.ctx.store.replace(old, &record)?,
        None => shared.ctx.store.put(&record)?,
    }
    checkpoint(shared, step, kind, Checkpoint::AfterRecord);
    shared.ctx.store.journal_end(&token)?;
    shared
        .outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(step.urn.clone(), created.outputs);
    Ok(())
}

/// A create made an object that did not become ready (its wait failed or ran out): the
/// object is recorded, tainted, so that nothing is orphaned and the next `up` replaces
/// it, and the step fails, so that nothing built on it starts. The replacement of an
/// existing object keeps the old one as the resource and retires the new one (the next
/// run deletes it and tries again); a first create records it as the resource.
fn record_tainted(
    shared: &Shared,
    step: &Step,
    retire: Option<&ResourceRecord>,
    inputs: Properties,
    token: &str,
    error: ProviderError,
) -> Result<(), StepError> {
    let id = error.created.clone().unwrap_or_default();
    let record = ResourceRecord {
        urn: step.urn.clone(),
        ty: step.ty.clone(),
        id: id.clone(),
        inputs: inputs.into(),
        outputs: Properties::new().into(),
        dependencies: step.dependencies.clone(),
        tainted: Some(error.message.clone()),
    };
    match retire {
        Some(old) => shared.ctx.store.replace(&record, old)?,
        None => shared.ctx.store.put(&record)?,
    }
    shared.ctx.store.journal_end(token)?;
    Err(StepError::Engine(format!(
        "{id} was created but is not usable: {error}; it is recorded as tainted and the next `up` replaces it"
    )))
}

/// After a failed create: the one object the attempt made, if any. Several candidates
/// are an error for a person to resolve. A lookup that keeps failing is an error too,
/// and leaves the journal entry for the next run's recovery: another create now could
/// duplicate an object that exists but could not be seen.
async fn adopt_created(
    shared: &Shared,
    step: &Step,
    inputs: &Properties,
    token: &str,
    failure: &ProviderError,
) -> Result<Option<LiveResource>, StepError> {
    let provider = provider(shared, step)?;
    let mut known: std::collections::BTreeSet<String> = shared.ctx.store.records()?.into_iter().map(|r| r.id).collect();
    known.extend(shared.ctx.store.retired()?.into_iter().map(|r| r.id));
    let found = crate::recover::created_objects(provider.as_ref(), &shared.ctx.stack, &step.urn, inputs, token, &known)
        .await
        .map_err(|e| {
            StepError::Engine(format!(
                "the create failed ({failure}), and looking for an object it may have made failed too ({e}); \
                 run again: recovery looks for it before anything else is done"
            ))
        })?;
    if found.len() > 1 {
        let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
        return Err(StepError::Engine(format!(
            "the create failed ({failure}), and {} objects claim {}: {}; delete the extra ones, then run again",
            ids.len(),
            step.urn,
            ids.join(", ")
        )));
    }
    Ok(found.into_iter().next())
}

/// Records an object adopted after a failed create, then finishes what the create did
/// not: the failure may have come between the create call and the calls that set the
/// rest of the inputs (a VPC's DNS attributes, a bucket's versioning), so where the
/// live object differs from the inputs it is updated in place. Until that update
/// succeeds the record holds the live inputs, so a failure here leaves the next plan
/// to finish the job.
async fn finish_adoption(
    shared: &Shared,
    step: &Step,
    retire: Option<&ResourceRecord>,
    inputs: Properties,
    token: String,
    adopted: LiveResource,
) -> Result<(), StepError> {
    let provider = provider(shared, step)?;
    let diff = provider.diff(DiffRequest {
        urn: &step.urn,
        old_inputs: &adopted.inputs,
        new_inputs: &inputs,
    });
    let record = ResourceRecord {
        urn: step.urn.clone(),
        ty: step.ty.clone(),
        id: adopted.id.clone(),
        inputs: if diff.changed.is_empty() {
            inputs.clone().into()
        } else {
            adopted.inputs.clone().into()
        },
        outputs: adopted.outputs.clone().into(),
        dependencies: step.dependencies.clone(),
        tainted: None,
    };
    match retire {
        Some(old) => shared.ctx.store.replace(old, &record)?,
        None => shared.ctx.store.put(&record)?,
    }
    shared.ctx.store.journal_end(&token)?;
    let mut outputs = adopted.outputs;
    if !diff.changed.is_empty() && diff.replace.is_empty() {
        let token = journal(shared, &step.urn, JournalOp::Update, Some(&adopted.id), None)?;
        // Repeated here while it fails for a moment: a failure must not reach the
        // operation's own retry, which would run the create again.
        let changed = diff.changed;
        let updated = crate::patience::patiently(|| {
            provider.update(UpdateRequest {
                urn: step.urn.clone(),
                stack: shared.ctx.stack.clone(),
                id: adopted.id.clone(),
                old_inputs: record.inputs.clone().into(),
                new_inputs: inputs.clone(),
                old_outputs: outputs.clone(),
                changed: changed.clone(),
            })
        })
        .await
        .map_err(|e| {
            settle_failed(shared, &token, e.kind);
            StepError::Engine(format!(
                "{} was adopted after its create failed, but setting {} on it failed: {e}; run again to finish",
                adopted.id,
                changed.join(", ")
            ))
        })?;
        outputs = updated.outputs;
        shared.ctx.store.put(&ResourceRecord {
            id: updated.new_id.unwrap_or_else(|| record.id.clone()),
            inputs: inputs.into(),
            outputs: outputs.clone().into(),
            ..record
        })?;
        shared.ctx.store.journal_end(&token)?;
    }
    shared
        .outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(step.urn.clone(), outputs);
    Ok(())
}

async fn update(shared: &Shared, step: &Step) -> Result<(), StepError> {
    let provider = provider(shared, step)?;
    let old = step
        .old
        .as_ref()
        .ok_or_else(|| StepError::Engine(format!("{} has no recorded state to update", step.urn)))?;
    let inputs = resolve(shared, step)?;
    let token = journal(shared, &step.urn, JournalOp::Update, Some(&old.id), None)?;
    let updated = provider
        .update(UpdateRequest {
            urn: step.urn.clone(),
            stack: shared.ctx.stack.clone(),
            id: old.id.clone(),
            old_inputs: old.inputs.clone().into(),
            new_inputs: inputs.clone(),
            old_outputs: old.outputs.clone().into(),
            changed: step.changes.keys(),
        })
        .await;
    let updated = match updated {
        Ok(u) => u,
        Err(e) => {
            settle_failed(shared, &token, e.kind);
            return Err(e.into());
        }
    };
    let record = ResourceRecord {
        // A few updates give the object a new physical id (ReplaceRouteTableAssociation).
        id: updated.new_id.clone().unwrap_or_else(|| old.id.clone()),
        inputs: inputs.into(),
        outputs: updated.outputs.clone().into(),
        dependencies: step.dependencies.clone(),
        ..old.clone()
    };
    shared.ctx.store.put(&record)?;
    shared.ctx.store.journal_end(&token)?;
    shared
        .outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(step.urn.clone(), updated.outputs);
    Ok(())
}

async fn delete(shared: &Shared, step: &Step, kind: OpKind) -> Result<(), StepError> {
    let provider = provider(shared, step)?;
    let old = step
        .old
        .as_ref()
        .ok_or_else(|| StepError::Engine(format!("{} has no recorded state to delete", step.urn)))?;
    let token = journal(shared, &step.urn, JournalOp::Delete, Some(&old.id), None)?;
    checkpoint(shared, step, kind, Checkpoint::BeforeCall);
    let deleted = provider
        .delete(DeleteRequest {
            urn: step.urn.clone(),
            id: old.id.clone(),
            inputs: old.inputs.clone().into(),
            outputs: old.outputs.clone().into(),
            // A retired object's successor exists: it, too, is the old half of a replacement.
            replacing: kind == OpKind::DeleteReplaced || step.retired,
        })
        .await;
    match deleted {
        Ok(()) => {}
        // Already gone is what we wanted.
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => {
            settle_failed(shared, &token, e.kind);
            return Err(e.into());
        }
    }
    checkpoint(shared, step, kind, Checkpoint::AfterCall);
    let retired = step.retired || (kind == OpKind::DeleteReplaced && step.action == Action::CreateThenDelete);
    if retired {
        shared.ctx.store.forget_retired(old)?;
    } else {
        shared.ctx.store.remove(&step.urn)?;
    }
    shared.ctx.store.journal_end(&token)?;
    Ok(())
}

impl serde::Serialize for ApplyReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let results: Vec<serde_json::Value> = self
            .results
            .iter()
            .map(|r| {
                let (status, error) = match &r.outcome {
                    NodeOutcome::Done => ("done", None),
                    NodeOutcome::Failed(e) => ("failed", Some(e.to_string())),
                    NodeOutcome::Skipped { .. } => ("skipped", None),
                    NodeOutcome::Cancelled => ("not_started", None),
                };
                serde_json::json!({
                    "urn": r.urn,
                    "operation": r.kind.progressive(),
                    "status": status,
                    "error": error,
                    "root_cause": r.root_cause,
                })
            })
            .collect();
        serde_json::json!({
            "success": self.is_success(),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "results": results,
        })
        .serialize(serializer)
    }
}
