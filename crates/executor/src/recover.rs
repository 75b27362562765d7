//! Recovery of interrupted runs: the journal entries a dead run left behind are resolved
//! before anything is planned, so nothing is created twice and nothing is orphaned.
//!
//! - An interrupted create is looked up by the `stackup:urn` tag every created object
//!   carries from its first instant (provider `list`), ignoring ids state already knows
//!   (the object a create-before-delete replacement is replacing). Exactly one match is
//!   adopted; several are reported and left alone for a person to decide; none means the
//!   create never happened.
//! - An interrupted update or delete needs nothing: the refresh that follows reads the
//!   truth, and the plan finishes the work (a delete of an object already gone succeeds).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use stackup_model::{ResourceRecord, Urn};
use stackup_provider::{ListRequest, LiveResource, ProviderError, Registry};
use stackup_state::{JournalOp, StateStore};

use crate::patience::patiently;
use crate::StepError;

/// What recovery did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Recovery {
    /// Interrupted creates whose object was found and recorded: (URN, physical id).
    pub adopted: Vec<(Urn, String)>,
    /// Journal entries settled without adopting anything.
    pub settled: usize,
    /// Interrupted creates with more than one candidate object: reported, not adopted.
    pub ambiguous: Vec<(Urn, Vec<String>)>,
}

impl Recovery {
    pub fn is_empty(&self) -> bool {
        self.adopted.is_empty() && self.settled == 0 && self.ambiguous.is_empty()
    }
}

/// Looks for the object an interrupted or failed create of `urn` may have made: first
/// the provider's own `find` (the create's inputs and token), then objects carrying the
/// URN's tag. Ids in `known` (recorded or retired objects) are never candidates. Each
/// lookup is repeated while it fails for a moment (throttling, or "not found" while a
/// new object becomes visible): the caller must not conclude "nothing was made" from a
/// lookup that failed.
pub(crate) async fn created_objects(
    provider: &dyn stackup_provider::Provider,
    stack: &str,
    urn: &Urn,
    inputs: &stackup_model::Properties,
    token: &str,
    known: &BTreeSet<String>,
) -> Result<Vec<LiveResource>, ProviderError> {
    let found = patiently(|| {
        provider.find(stackup_provider::FindRequest {
            urn: urn.clone(),
            stack: stack.to_string(),
            inputs: inputs.clone(),
            token: token.to_string(),
        })
    })
    .await?;
    if let Some(object) = found.filter(|o| !known.contains(&o.id)) {
        return Ok(vec![object]);
    }
    let listed = patiently(|| provider.list(ListRequest::stack(stack))).await?;
    Ok(listed
        .map(|l| l.found)
        .unwrap_or_default()
        .into_iter()
        .filter(|o| &o.urn == urn && !known.contains(&o.id))
        .collect())
}

/// Resolves every pending journal entry of `store`. `dependencies` gives the program's
/// dependencies per URN, recorded with an adopted object.
pub async fn recover(
    registry: &Registry,
    store: &dyn StateStore,
    stack: &str,
    dependencies: &BTreeMap<Urn, Vec<Urn>>,
) -> Result<Recovery, StepError> {
    let journal = store.journal()?;
    let mut out = Recovery::default();
    if journal.is_empty() {
        return Ok(out);
    }
    let records: BTreeMap<Urn, ResourceRecord> = store.records()?.into_iter().map(|r| (r.urn.clone(), r)).collect();
    let mut known: BTreeSet<String> = records.values().map(|r| r.id.clone()).collect();
    known.extend(store.retired()?.into_iter().map(|r| r.id));

    for entry in journal {
        if entry.op != JournalOp::Create {
            store.journal_end(&entry.token)?;
            out.settled += 1;
            continue;
        }
        let ty = entry.urn.type_token();
        let Some(provider) = registry.get(&ty) else {
            return Err(StepError::Engine(format!(
                "an interrupted create of {} cannot be resolved: no provider for {ty}",
                entry.urn
            )));
        };
        let candidates = created_objects(
            provider.as_ref(),
            stack,
            &entry.urn,
            &entry.inputs.clone().unwrap_or_default(),
            &entry.token,
            &known,
        )
        .await
        .map_err(|e| StepError::Engine(format!("looking for {} left by an interrupted run: {e}", entry.urn)))?;
        match candidates.as_slice() {
            [] => {}
            [object] => {
                let record = ResourceRecord {
                    urn: entry.urn.clone(),
                    ty: ty.clone(),
                    id: object.id.clone(),
                    // What the create asked for, as a finished create would record; the
                    // refresh that follows reports any difference as drift.
                    inputs: entry.inputs.clone().unwrap_or_else(|| object.inputs.clone()).into(),
                    outputs: object.outputs.clone().into(),
                    dependencies: dependencies.get(&entry.urn).cloned().unwrap_or_default(),
                    tainted: None,
                };
                match records.get(&entry.urn) {
                    // A create-before-delete replacement finished in AWS but not in state:
                    // the new object becomes the record and the old one is retired.
                    Some(old) => store.replace(old, &record)?,
                    None => store.put(&record)?,
                }
                known.insert(object.id.clone());
                out.adopted.push((entry.urn.clone(), object.id.clone()));
            }
            many => out
                .ambiguous
                .push((entry.urn.clone(), many.iter().map(|o| o.id.clone()).collect())),
        }
        if !out.ambiguous.iter().any(|(u, _)| u == &entry.urn) {
            store.journal_end(&entry.token)?;
            out.settled += 1;
        }
    }
    Ok(out)
}
