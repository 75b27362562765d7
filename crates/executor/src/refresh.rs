//! Refresh: reads every recorded resource back from AWS, one batched read per type, all
//! types at once, and reports how the live world differs from the record.

use std::collections::BTreeMap;

use serde::Serialize;
use stackup_model::{ResourceRecord, TypeToken, Urn, Value};
use stackup_provider::{ListRequest, LiveResource, ReadRequest, ReadTarget, Registry};
use tokio::task::JoinSet;

use crate::patience::patiently;
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
    Changed {
        urn: Urn,
        attributes: Vec<AttributeDrift>,
    },
    Deleted {
        urn: Urn,
    },
    /// An object carrying the stack's tag that state does not know: created by hand with
    /// the tag copied, or left by a run whose state was lost. Reported, never deleted.
    Unmanaged {
        urn: Urn,
        #[serde(rename = "type")]
        ty: TypeToken,
        id: String,
    },
}

impl ResourceDrift {
    pub fn urn(&self) -> &Urn {
        match self {
            ResourceDrift::Changed { urn, .. }
            | ResourceDrift::Deleted { urn }
            | ResourceDrift::Unmanaged { urn, .. } => urn,
        }
    }
}

/// The live view of the recorded resources.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    /// Records with live inputs and outputs; resources found gone are left out.
    pub records: Vec<ResourceRecord>,
    pub drift: Vec<ResourceDrift>,
}

/// How long refresh waits before reading again what it did not find. Reads are
/// eventually consistent: an object created moments ago (a listener whose rules are
/// described by its ARN, an instance by its id) can be missing from a read for a
/// second or two, and reporting it deleted would make the next `up` create it again.
const MISSING_RECHECK: std::time::Duration = std::time::Duration::from_secs(3);

/// Reads all `records` back, one provider read per type. A failed read is an error:
/// never "no drift", never "deleted". A record a read did not find is read again
/// after [`MISSING_RECHECK`] and reported deleted only if still missing.
pub async fn refresh(registry: &Registry, records: &[ResourceRecord]) -> Result<Refreshed, StepError> {
    let mut live = read_all(registry, records).await?;
    let missing: Vec<ResourceRecord> = records.iter().filter(|r| !live.contains_key(&r.urn)).cloned().collect();
    if !missing.is_empty() {
        stackup_provider::wait::pause(MISSING_RECHECK).await;
        live.extend(read_all(registry, &missing).await?);
    }
    Ok(compare(records, &live))
}

/// The live view of `records`, by URN: one provider read per type, all types at once.
async fn read_all(
    registry: &Registry,
    records: &[ResourceRecord],
) -> Result<BTreeMap<Urn, stackup_provider::LiveResource>, StepError> {
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
            let read = patiently(|| {
                provider.read(ReadRequest {
                    targets: targets.clone(),
                })
            })
            .await;
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
    Ok(live)
}

/// How the live view differs from the records.
fn compare(records: &[ResourceRecord], live: &BTreeMap<Urn, stackup_provider::LiveResource>) -> Refreshed {
    let mut out = Refreshed::default();
    for r in records {
        let Some(found) = live.get(&r.urn) else {
            out.drift.push(ResourceDrift::Deleted { urn: r.urn.clone() });
            continue;
        };
        let mut inputs = r.inputs.clone();
        let mut attributes = Vec::new();
        for (k, v) in &found.inputs {
            match inputs.get(k) {
                Some(recorded) if recorded == v => {}
                // A key the record never had (state written before the provider read it)
                // is learnt, not reported as drift.
                None => {
                    inputs.insert(k.clone(), v.clone());
                }
                Some(recorded) => {
                    attributes.push(AttributeDrift {
                        key: k.clone(),
                        recorded: Some(recorded.clone()),
                        live: Some(v.clone()),
                    });
                    inputs.insert(k.clone(), v.clone());
                }
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
    out
}

/// Every object of `types` tagged with `stack`, with its type: one `list` per type,
/// all types concurrently (types whose provider lists nothing are left out).
pub async fn listed(
    registry: &Registry,
    stack: &str,
    types: &[TypeToken],
) -> Result<Vec<(TypeToken, LiveResource)>, StepError> {
    let mut lists = JoinSet::new();
    for ty in types {
        let Some(provider) = registry.get(ty).cloned() else {
            continue;
        };
        let (ty, stack) = (ty.clone(), stack.to_string());
        lists.spawn(async move {
            let listed = patiently(|| provider.list(ListRequest { stack: stack.clone() })).await;
            (ty, listed)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = lists.join_next().await {
        let (ty, listed) = joined.map_err(|e| StepError::Engine(format!("listing task failed: {e}")))?;
        let listed = listed.map_err(|e| StepError::Engine(format!("listing {ty} failed: {e}")))?;
        out.extend(
            listed
                .map(|l| l.found)
                .unwrap_or_default()
                .into_iter()
                .map(|f| (ty.clone(), f)),
        );
    }
    Ok(out)
}
