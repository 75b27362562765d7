//! The operations that change nothing in the cloud: `preview` (what `up` would do, and
//! how the live world drifted from the record) and `refresh` (record the live view).

use serde::Serialize;
use stackup_executor::{refresh as read_live, ResourceDrift};
use stackup_planner::Plan;

use crate::{EngineError, Host, Stack};

/// What `up` would do now.
#[derive(Debug)]
pub struct PreviewReport {
    pub plan: Plan,
    /// Changed and deleted resources, and (with refresh) objects tagged with the stack
    /// that state does not know.
    pub drift: Vec<ResourceDrift>,
}

impl PreviewReport {
    /// Whether `up` has anything to do or the world drifted.
    pub fn found_anything(&self) -> bool {
        self.plan.has_changes() || !self.drift.is_empty()
    }
}

/// `diff`: reads live state (unless `refresh` is off), looks for unmanaged objects,
/// and plans against the live view. Records nothing and takes no recovery step.
pub async fn preview(stack: &Stack, refresh: bool) -> Result<PreviewReport, EngineError> {
    let records = stack.records()?;
    let (current, mut drift) = stack.current_state(records.clone(), refresh).await?;
    if refresh {
        drift.extend(stack.unmanaged(&records).await?);
    }
    let plan = stack.plan(&current, &[])?;
    Ok(PreviewReport { plan, drift })
}

/// What `refresh` recorded.
#[derive(Debug, Serialize)]
pub struct RefreshReport {
    pub stack: String,
    pub drift: Vec<ResourceDrift>,
    /// How many resources were read.
    #[serde(skip)]
    pub read: usize,
}

/// `refresh`: recovers, reads every recorded resource and records the live view:
/// drifted attributes are written into state, resources deleted outside stackup are
/// forgotten (the next `up` recreates them), unmanaged objects are reported, never
/// adopted.
pub async fn refresh(stack: &Stack, host: &dyn Host) -> Result<RefreshReport, EngineError> {
    stack.recover(host).await?;
    let records = stack.records()?;
    let mut refreshed = read_live(&stack.registry, &records)
        .await
        .map_err(|e| EngineError::Refresh(e.to_string()))?;
    refreshed.drift.extend(stack.unmanaged(&records).await?);
    for d in &refreshed.drift {
        match d {
            ResourceDrift::Deleted { urn } => stack.store.remove(urn)?,
            // Never adopted silently: `stackup import` (or a sweep) decides.
            ResourceDrift::Unmanaged { .. } => {}
            ResourceDrift::Changed { urn, .. } => {
                if let Some(r) = refreshed.records.iter().find(|r| &r.urn == urn) {
                    stack.store.put(r)?;
                }
            }
        }
    }
    Ok(RefreshReport {
        stack: stack.name.clone(),
        drift: refreshed.drift,
        read: records.len(),
    })
}
