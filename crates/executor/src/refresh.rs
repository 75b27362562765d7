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
    let by_type = targets_by_type(records);
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
                        key: k.to_string(),
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
            outputs: found.outputs.clone().into(),
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
    Ok(survey(registry, stack, &[], types).await?.tagged)
}

/// What [`survey`] found: the records' live view, and every object tagged with the
/// stack.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub refreshed: Refreshed,
    pub tagged: Vec<(TypeToken, LiveResource)>,
}

/// Refresh and listing in one pass, for the operations that need both (`diff`,
/// `refresh`): the live view of `records` as [`refresh`] gives it, and every object of
/// `types` (and of the recorded types) tagged with `stack` as [`listed`] gives it. For
/// a type whose listing serves refresh ([`stackup_provider::Provider::list_reads`]) the
/// listing alone reads the records it returns, and only the records it did not return
/// (their stack tag removed, or not visible yet) are read by id; other types are read
/// and listed at once. All types concurrently.
pub async fn survey(
    registry: &Registry,
    stack: &str,
    records: &[ResourceRecord],
    types: &[TypeToken],
) -> Result<Survey, StepError> {
    let mut by_type = targets_by_type(records);
    let mut all: Vec<TypeToken> = types.iter().chain(by_type.keys()).cloned().collect();
    all.sort();
    all.dedup();
    let mut tasks = JoinSet::new();
    for ty in all {
        let targets = by_type.remove(&ty).unwrap_or_default();
        let provider = match registry.get(&ty) {
            Some(p) => p.clone(),
            None if targets.is_empty() => continue,
            None => return Err(StepError::Engine(format!("no provider for recorded type {ty}"))),
        };
        let stack = stack.to_string();
        tasks.spawn(async move {
            let surveyed = survey_type(provider.as_ref(), &ty, &stack, targets).await;
            (ty, surveyed)
        });
    }
    let mut live = BTreeMap::new();
    let mut tagged = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (ty, surveyed) = joined.map_err(|e| StepError::Engine(format!("refresh task failed: {e}")))?;
        let (found, listed) = surveyed?;
        live.extend(found.into_iter().map(|f| (f.urn.clone(), f)));
        tagged.extend(listed.into_iter().map(|l| (ty.clone(), l)));
    }
    let missing: Vec<ResourceRecord> = records.iter().filter(|r| !live.contains_key(&r.urn)).cloned().collect();
    if !missing.is_empty() {
        stackup_provider::wait::pause(MISSING_RECHECK).await;
        live.extend(read_all(registry, &missing).await?);
    }
    Ok(Survey {
        refreshed: compare(records, &live),
        tagged,
    })
}

/// One type's part of a [`survey`]: the live records found, and the tagged objects.
async fn survey_type(
    provider: &dyn stackup_provider::Provider,
    ty: &TypeToken,
    stack: &str,
    targets: Vec<ReadTarget>,
) -> Result<(Vec<LiveResource>, Vec<LiveResource>), StepError> {
    let reads = provider.list_reads() && !targets.is_empty();
    let list = |recorded: Vec<ReadTarget>| async move {
        patiently(|| provider.list(ListRequest::refreshing(stack, recorded.clone())))
            .await
            .map(|l| l.map(|l| l.found))
            .map_err(|e| StepError::Engine(format!("listing {ty} failed: {e}")))
    };
    let read = |targets: Vec<ReadTarget>| async move {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        patiently(|| {
            provider.read(ReadRequest {
                targets: targets.clone(),
            })
        })
        .await
        .map(|r| r.found)
        .map_err(|e| StepError::Engine(format!("reading {ty} failed: {e}")))
    };
    if !reads {
        let (found, listed) = tokio::join!(read(targets), list(Vec::new()));
        return Ok((found?, listed?.unwrap_or_default()));
    }
    let Some(listed) = list(targets.clone()).await? else {
        return Ok((read(targets).await?, Vec::new()));
    };
    let by_id: std::collections::HashMap<&str, &LiveResource> = listed.iter().map(|l| (l.id.as_str(), l)).collect();
    let mut found = Vec::new();
    let mut unlisted = Vec::new();
    for t in targets {
        match by_id.get(t.id.as_str()) {
            Some(l) => found.push(LiveResource {
                urn: t.urn.clone(),
                ..(*l).clone()
            }),
            None => unlisted.push(t),
        }
    }
    found.extend(read(unlisted).await?);
    Ok((found, listed))
}

fn targets_by_type(records: &[ResourceRecord]) -> BTreeMap<TypeToken, Vec<ReadTarget>> {
    let mut by_type: BTreeMap<TypeToken, Vec<ReadTarget>> = BTreeMap::new();
    for r in records {
        by_type.entry(r.ty.clone()).or_default().push(ReadTarget {
            urn: r.urn.clone(),
            id: r.id.clone(),
            inputs: r.inputs.clone().into(),
            outputs: r.outputs.clone().into(),
        });
    }
    by_type
}
