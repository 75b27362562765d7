//! What a sweep needs of the engine: every object tagged with a stack, over every
//! provider type, found by listing (a stack whose state is lost has nothing else).

use stackup_model::{ResourceRecord, TypeToken};
use stackup_provider::{ListRequest, Registry};
use tokio::task::JoinSet;

use crate::EngineError;

/// Every object of every type in `registry` tagged `stackup:stack = stack`, as records
/// (no dependencies: a listing does not know them), sorted by `rank`, type and id. The
/// types are listed concurrently; one failed listing fails the whole, since a sweep
/// that missed a type would call the stack gone.
pub async fn list_tagged(
    registry: &Registry,
    stack: &str,
    rank: &dyn Fn(&TypeToken) -> u8,
) -> Result<Vec<ResourceRecord>, EngineError> {
    let mut lists = JoinSet::new();
    for ty in registry.types() {
        let Some(provider) = registry.get(ty).cloned() else {
            continue;
        };
        let (ty, stack) = (ty.clone(), stack.to_string());
        lists.spawn(async move { (ty, provider.list(ListRequest { stack }).await) });
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
                inputs: found.inputs,
                outputs: found.outputs,
                dependencies: Vec::new(),
                tainted: None,
            });
        }
    }
    out.sort_by(|a, b| (rank(&a.ty), &a.ty, &a.id).cmp(&(rank(&b.ty), &b.ty, &b.id)));
    Ok(out)
}
