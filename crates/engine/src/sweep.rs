//! The sweep: every object tagged with a stack, over every provider type, found by
//! listing (a stack whose state is lost has nothing else), and deleted in waves.

use std::sync::Arc;

use serde::Serialize;
use stackup_executor::ApplyReport;
use stackup_model::{ResourceRecord, TypeToken, Urn, Value};
use stackup_planner::sweep::{plan_sweep, SweepItem, SweepRequest};
use stackup_provider::{ListRequest, Registry};
use stackup_state::StateStore;
use tokio::task::JoinSet;

use crate::stacks::EXPIRES_AT;
use crate::{apply_recorded, check_deletes, Cancel, EngineError, Host, RunOptions};

/// Every object of every type in `registry` tagged `stackup:stack = stack`, as records
/// (no dependencies: a listing does not know them), sorted by `rank`, type and id. The
/// types are listed concurrently; one failed listing fails the whole, since a sweep
/// that missed a type would call the stack gone.
pub async fn list_tagged(
    registry: &Registry,
    stack: &str,
    rank: &(dyn Fn(&TypeToken) -> u8 + Sync),
) -> Result<Vec<ResourceRecord>, EngineError> {
    let mut lists = JoinSet::new();
    for ty in registry.types() {
        let Some(provider) = registry.get(ty).cloned() else {
            continue;
        };
        let (ty, stack) = (ty.clone(), stack.to_string());
        lists.spawn(async move { (ty, provider.list(ListRequest::stack(stack)).await) });
    }
    let mut out = Vec::new();
    while let Some(joined) = lists.join_next().await {
        let (ty, listed) = joined.map_err(|e| EngineError::Internal(format!("a listing task did not finish: {e}")))?;
        let listed = listed.map_err(|e| EngineError::Unmanaged(format!("listing {ty}: {e}")))?;
        for found in listed.map(|l| l.found).unwrap_or_default() {
            out.push(ResourceRecord {
                urn: found.urn,
                ty: ty.clone(),
                id: found.id,
                inputs: found.inputs.into(),
                outputs: found.outputs.into(),
                dependencies: Vec::new(),
                tainted: None,
            });
        }
    }
    out.sort_by(|a, b| (rank(&a.ty), &a.ty, &a.id).cmp(&(rank(&b.ty), &b.ty, &b.id)));
    Ok(out)
}

/// A sweep: delete everything tagged with a stack (and whatever its state records)
/// when the program or the state that would order the deletes is gone.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub run: RunOptions,
    /// Delete (otherwise a dry run: list, and pre-flight what a real sweep would do).
    pub delete: bool,
    /// Inputs this sweep sets on every delete of a type (empty the buckets, skip the
    /// final snapshot).
    pub delete_overrides: Vec<(TypeToken, String, Value)>,
}

/// One object a sweep found, in the order it deletes them.
#[derive(Clone, Debug, Serialize)]
pub struct SweepObject {
    /// Deleted a wave at a time, 1 first.
    pub wave: usize,
    #[serde(rename = "type")]
    pub ty: TypeToken,
    pub id: String,
    pub urn: Urn,
}

/// A delete the pre-flight refused.
#[derive(Clone, Debug, Serialize)]
pub struct Blocked {
    pub urn: Urn,
    pub reason: String,
}

/// What a sweep found and did.
#[derive(Debug, Serialize)]
pub struct SweepReport {
    pub stack: String,
    pub dry_run: bool,
    /// Everything tagged with the stack or recorded, in deletion order.
    pub objects: Vec<SweepObject>,
    /// Deletes the pre-flight refused: a real sweep stops before deleting anything.
    pub blocked: Vec<Blocked>,
    /// The deletes' outcome; None in a dry run, when blocked, or with nothing to do.
    #[serde(rename = "result")]
    pub applied: Option<ApplyReport>,
    /// What is still tagged after the deletes; None when nothing was deleted.
    pub remaining: Option<Vec<SweepObject>>,
}

impl SweepReport {
    /// Nothing tagged with the stack is left.
    pub fn is_success(&self) -> bool {
        if self.dry_run {
            return true;
        }
        match (&self.applied, &self.remaining) {
            (Some(applied), Some(remaining)) => applied.is_success() && remaining.is_empty(),
            _ => self.objects.is_empty(),
        }
    }
}

fn from_items(items: &[SweepItem]) -> Vec<SweepObject> {
    items
        .iter()
        .map(|i| SweepObject {
            wave: i.wave,
            ty: i.record.ty.clone(),
            id: i.record.id.clone(),
            urn: i.record.urn.clone(),
        })
        .collect()
}

/// Objects listed after a sweep, outside any wave (0).
fn from_records(records: &[ResourceRecord]) -> Vec<SweepObject> {
    records
        .iter()
        .map(|r| SweepObject {
            wave: 0,
            ty: r.ty.clone(),
            id: r.id.clone(),
            urn: r.urn.clone(),
        })
        .collect()
}

/// `destroy --sweep`: lists every object tagged with `stack`, plans their deletes (with
/// what `store` still records) in waves by `rank`, pre-flights them all, and with
/// `delete` applies them on the shared run path (progress, cancel, history), then
/// lists again: what remains is in the report. A dry run changes nothing. When
/// nothing is left, a demo stack's expiry is cleared.
pub async fn sweep(
    stack: &str,
    store: &Arc<dyn StateStore>,
    registry: &Registry,
    opts: &SweepOptions,
    rank: &(dyn Fn(&TypeToken) -> u8 + Sync),
    host: &dyn Host,
    cancel: &Cancel,
) -> Result<SweepReport, EngineError> {
    let listed = list_tagged(registry, stack, rank).await?;
    let (plan, items) = plan_sweep(SweepRequest {
        stack,
        listed,
        recorded: store.records()?,
        retired: store.retired()?,
        rank,
        overrides: &opts.delete_overrides,
    });
    let command = "destroy --sweep";
    let refusals = check_deletes(registry, &plan, opts.run.parallel, command).await?;
    let mut report = SweepReport {
        stack: stack.to_string(),
        dry_run: !opts.delete,
        objects: from_items(&items),
        blocked: refusals
            .refused
            .iter()
            .map(|(urn, e)| Blocked {
                urn: urn.clone(),
                reason: e.to_string(),
            })
            .collect(),
        applied: None,
        remaining: None,
    };
    if !opts.delete {
        return Ok(report);
    }
    if items.is_empty() {
        store.set_meta(EXPIRES_AT, None)?;
        return Ok(report);
    }
    if !refusals.is_empty() {
        return Err(EngineError::Refused(refusals));
    }
    host.planned(stack, command, &plan, &[]);
    let applied = apply_recorded(stack, registry, store, &plan, command, &opts.run, host, cancel).await?;
    let remaining = list_tagged(registry, stack, rank).await?;
    report.remaining = Some(from_records(&remaining));
    report.applied = Some(applied);
    if report.is_success() {
        store.set_meta(EXPIRES_AT, None)?;
    }
    Ok(report)
}
