//! Destroy plans: the whole stack, or the part chosen with `--target` (those resources
//! and everything that depends on them) and `--exclude` (keep those, and therefore
//! everything they depend on). Deletes come dependents first, in the order the recorded
//! dependencies give; what is kept shows as unchanged.
//!
//! Pure, like the rest of the planner: it decides from records alone.

use std::collections::BTreeSet;

// foldhash: the hash maps of planning are keyed by URNs (whose hash is kept) and
// indices; SipHash's DoS resistance buys nothing for a program's own names.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use stackup_model::{ResourceRecord, Urn};

use super::{delete_step, deletion_order, same_step, Plan};

/// What a destroy plan is made from.
pub struct DestroyRequest<'a> {
    pub stack: &'a str,
    /// The resources as they are now: recorded, or refreshed from AWS.
    pub current: &'a [ResourceRecord],
    /// Objects left behind by create-before-delete replacements.
    pub retired: &'a [ResourceRecord],
    /// Delete these and everything that depends on them; empty means everything.
    pub targets: &'a [Urn],
    /// Keep these and everything they depend on.
    pub excludes: &'a [Urn],
}

/// Why a destroy plan could not be made from the flags given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DestroyError {
    #[error("{flag} {urn}: the stack records no such resource (see `stackup state list`)")]
    Unknown { flag: &'static str, urn: Urn },
    #[error(
        "--target {target} cannot be destroyed while --exclude {excluded} is kept: {excluded} depends on it{}",
        if *direct { String::new() } else { " (through other resources)".to_string() }
    )]
    Conflict { target: Urn, excluded: Urn, direct: bool },
}

/// The resources a destroy deletes and keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub delete: BTreeSet<Urn>,
    pub keep: BTreeSet<Urn>,
}

/// Chooses what a destroy deletes: the targets and their dependents (all resources
/// when there are no targets), less the exclusions and what they depend on. A target
/// that an exclusion keeps is an error, not a silent no-op.
pub fn select(req: &DestroyRequest<'_>) -> Result<Selection, DestroyError> {
    // Hash sets of references throughout: ordered sets of cloned URNs made selecting
    // grow faster than the stack (URNs share long prefixes, so every comparison walks
    // them). Only the answer is ordered.
    let urns = || req.current.iter().map(|r| &r.urn);
    if req.targets.is_empty() && req.excludes.is_empty() {
        // Everything goes: no edges to follow.
        return Ok(Selection {
            delete: urns().cloned().collect(),
            keep: BTreeSet::new(),
        });
    }
    let known: HashSet<&Urn> = urns().collect();
    for (flag, list) in [("--target", req.targets), ("--exclude", req.excludes)] {
        if let Some(urn) = list.iter().find(|u| !known.contains(u)) {
            return Err(DestroyError::Unknown { flag, urn: urn.clone() });
        }
    }
    // Recorded edges that point at resources no longer recorded are ignored, as in
    // deletion order.
    let mut dependents: HashMap<&Urn, Vec<&Urn>> = HashMap::new();
    let mut dependencies: HashMap<&Urn, Vec<&Urn>> = HashMap::new();
    for r in req.current {
        for d in r.dependencies.iter().filter(|d| known.contains(d)) {
            dependents.entry(d).or_default().push(&r.urn);
            dependencies.entry(&r.urn).or_default().push(d);
        }
    }
    let chosen = if req.targets.is_empty() {
        known.clone()
    } else {
        closure(req.targets, &dependents)
    };
    let keep_closure = closure(req.excludes, &dependencies);
    for target in req.targets {
        if !keep_closure.contains(target) {
            continue;
        }
        // Name the exclusion that keeps the target, preferring one that uses it
        // directly.
        let keeping = req
            .excludes
            .iter()
            .map(|e| (e, closure(std::slice::from_ref(e), &dependencies)))
            .find(|(_, kept)| kept.contains(target));
        if let Some((excluded, _)) = keeping {
            let direct = dependencies.get(excluded).is_some_and(|ds| ds.contains(&target)) || excluded == target;
            return Err(DestroyError::Conflict {
                target: target.clone(),
                excluded: excluded.clone(),
                direct,
            });
        }
    }
    let deleted = |u: &Urn| chosen.contains(u) && !keep_closure.contains(u);
    // In record order: the store keeps records sorted by URN, so the ordered sets are
    // built without a real sort.
    let delete = urns().filter(|u| deleted(u)).cloned().collect();
    let keep = urns().filter(|u| !deleted(u)).cloned().collect();
    Ok(Selection { delete, keep })
}

/// `start` and everything reachable from it along `edges`.
fn closure<'a>(start: &'a [Urn], edges: &HashMap<&'a Urn, Vec<&'a Urn>>) -> HashSet<&'a Urn> {
    let mut seen = HashSet::new();
    let mut todo: Vec<&Urn> = start.iter().collect();
    while let Some(u) = todo.pop() {
        if seen.insert(u) {
            todo.extend(edges.get(u).into_iter().flatten().copied());
        }
    }
    seen
}

/// Plans a destroy: deletes of the selected resources, dependents first, and of the
/// objects their earlier replacements left behind; the rest unchanged.
pub fn plan_destroy(req: DestroyRequest<'_>) -> Result<Plan, DestroyError> {
    let whole = req.targets.is_empty() && req.excludes.is_empty();
    // A whole destroy deletes every record: nothing to select (`stackup destroy` of a
    // 100,000-resource stack spent a fifth of its planning choosing all of them).
    let selection = if whole { None } else { Some(select(&req)?) };
    let deleting: Option<HashSet<&Urn>> = selection.as_ref().map(|s| s.delete.iter().collect());
    let deleted = |urn: &Urn| deleting.as_ref().is_none_or(|d| d.contains(urn));
    let removed: Vec<&ResourceRecord> = req.current.iter().filter(|r| deleted(&r.urn)).collect();
    let mut steps = Vec::with_capacity(req.current.len() + req.retired.len());
    for record in deletion_order(&removed) {
        steps.push(delete_step(record, false));
    }
    for record in req.retired {
        // A retired object is garbage either way; a partial destroy leaves the
        // garbage of resources it keeps to the next full run.
        if whole || deleted(&record.urn) {
            steps.push(delete_step(record, true));
        }
    }
    for record in req.current {
        if !deleted(&record.urn) {
            steps.push(same_step(record));
        }
    }
    Ok(Plan {
        stack: req.stack.to_string(),
        steps,
        reads: Vec::new(),
    })
}
