//! Refresh: reads every recorded resource back from AWS, one batched read per type, all
//! types at once, and reports how the live world differs from the record.

use std::collections::BTreeMap;

use serde::Serialize;
use stackup_model::{ResourceRecord, TypeToken, Urn, Value};
use stackup_provider::{ReadRequest, ReadTarget, Registry};
use tokio::task::JoinSet;

use crate::StepError;

/// One attribute whose live value differs from the recorded one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeDrift {
    pub key: String,
    pub recorded: Option<Value>,
    pub live: Option<Value>,
}

/// How one resource drifted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceDrift {
    Changed { urn: Urn, attributes: Vec<AttributeDrift> },
    Deleted { urn: Urn },
}

/// The live view of the recorded resources.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    /// Records with live inputs and outputs; resources found gone are left out.
    pub records: Vec<ResourceRecord>,
    pub drift: Vec<ResourceDrift>,
}

/// Reads all `records` back, one provider read per type. A failed read is an error:
/// never "no drift", never "deleted".
pub async fn refresh(registry: &Registry, records: &[ResourceRecord]) -> Result<Refreshed, StepError> {
    let mut by_type: BTreeMap<TypeToken, Vec<ReadTarget>> = BTreeMap::new();
    for r in records {
        by_type.entry(r.ty.clone()).or_default().push(ReadTarget {
            urn: r.urn.clone(),
            id: r.id.clone(),
            inputs: r.inputs.clone(),
            outputs: r.outputs.clone(),
        });
    }
    let mut reads = JoinSet::new();
    for (ty, targets) in by_type {
        let provider = registry
            .get(&ty)
            .ok_or_else(|| StepError::Engine(format!("no provider for recorded type {ty}")))?
            .clone();
        reads.spawn(async move {
            let read = provider.read(ReadRequest { targets }).await;
            (ty, read)
        });
    }
    let mut live = BTreeMap::new();
    while let Some(joined) = reads.join_next().await {
        let (ty, read) = joined.map_err(|e| StepError::Engine(format!("refresh task failed: {e}")))?;
        let read = read.map_err(|e| StepError::Engine(format!("reading {ty} failed: {e}")))?;
        for found in read.found {
            live.insert(found.urn.clone(), found);
        }
    }
    let mut out = Refreshed::default();
    for r in records {
        let Some(found) = live.get(&r.urn) else {
            out.drift.push(ResourceDrift::Deleted { urn: r.urn.clone() });
            continue;
        };
        let mut inputs = r.inputs.clone();
        let mut attributes = Vec::new();
        for (k, v) in &found.inputs {
            if inputs.get(k) != Some(v) {
                attributes.push(AttributeDrift {
                    key: k.clone(),
                    recorded: inputs.get(k).cloned(),
                    live: Some(v.clone()),
                });
                inputs.insert(k.clone(), v.clone());
            }
        }
        if !attributes.is_empty() {
            out.drift.push(ResourceDrift::Changed {
                urn: r.urn.clone(),
                attributes,
            });
        }
        out.records.push(ResourceRecord {
            id: found.id.clone(),
            inputs,
            outputs: found.outputs.clone(),
            ..r.clone()
        });
    }
    Ok(out)
}
