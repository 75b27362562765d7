//! The pre-flight every delete passes before anything is touched: the provider of each
//! object a plan deletes says whether the delete can go ahead (`Provider::check_delete`,
//! reads only), and one refusal stops the whole run, naming every blocker so that one
//! run shows everything to fix.

use std::fmt;
use std::sync::Arc;

use stackup_model::Urn;
use stackup_planner::{Action, Plan};
use stackup_provider::{DeleteRequest, Provider, ProviderError, Registry};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::EngineError;

/// The deletes of a plan that cannot go ahead, with why, sorted by URN.
#[derive(Debug)]
pub struct Refusals {
    /// The run that stopped (`up`, `destroy`).
    pub command: String,
    pub refused: Vec<(Urn, ProviderError)>,
    /// How many deletes were checked.
    pub total: usize,
}

impl Refusals {
    pub fn is_empty(&self) -> bool {
        self.refused.is_empty()
    }

    /// "N of M delete(s) cannot go ahead:" and one line per refused delete.
    pub fn describe(&self) -> String {
        let mut text = format!("{} of {} delete(s) cannot go ahead:", self.refused.len(), self.total);
        for (urn, e) in &self.refused {
            text.push_str(&format!("\n  - {urn}: {e}"));
        }
        text
    }
}

impl fmt::Display for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} stopped before changing anything: {}\nRemove or change what is named above and run the command again; nothing was deleted.",
            self.command,
            self.describe()
        )
    }
}

/// Checks every delete of `plan` (removed resources and replaced objects), `parallel`
/// at a time, all before any mutating call; fails with the [`Refusals`] when any
/// cannot go ahead. `command` names the run in the error.
pub async fn preflight(registry: &Registry, plan: &Plan, parallel: usize, command: &str) -> Result<(), EngineError> {
    let refusals = check_deletes(registry, plan, parallel, command).await?;
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Refused(refusals))
    }
}

/// The deletes of `plan` that cannot go ahead (none: an empty [`Refusals`]), for
/// callers that report them without failing (a sweep's dry run).
pub async fn check_deletes(
    registry: &Registry,
    plan: &Plan,
    parallel: usize,
    command: &str,
) -> Result<Refusals, EngineError> {
    let deletes: Vec<(Urn, DeleteRequest, Arc<dyn Provider>)> = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.action,
                Action::Delete | Action::CreateThenDelete | Action::DeleteThenCreate
            )
        })
        .filter_map(|s| {
            let old = s.old.as_ref()?;
            let provider = registry.get(&old.ty)?.clone();
            let req = DeleteRequest {
                urn: s.urn.clone(),
                id: old.id.clone(),
                inputs: old.inputs.clone().into(),
                outputs: old.outputs.clone().into(),
                replacing: s.action != Action::Delete,
            };
            Some((s.urn.clone(), req, provider))
        })
        .collect();
    let total = deletes.len();
    let limit = Arc::new(Semaphore::new(parallel.max(1)));
    let mut checks = JoinSet::new();
    for (urn, req, provider) in deletes {
        let limit = limit.clone();
        checks.spawn(async move {
            // Bounded like the apply itself: the checks are reads, but many of them.
            let _permit = limit.acquire_owned().await;
            (urn, provider.check_delete(req).await)
        });
    }
    let mut refused = Vec::new();
    while let Some(joined) = checks.join_next().await {
        let (urn, result) =
            joined.map_err(|e| EngineError::Internal(format!("a delete pre-flight check did not finish: {e}")))?;
        if let Err(e) = result {
            refused.push((urn, e));
        }
    }
    refused.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Refusals {
        command: command.to_string(),
        refused,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackup_model::TypeToken;
    use stackup_provider::ErrorKind;

    #[test]
    fn refusals_name_the_run_every_blocker_and_what_to_do() {
        let urn = |name: &str| Urn::new("dev", &TypeToken::from_static("aws:s3:Bucket"), name);
        let refusals = Refusals {
            command: "destroy".into(),
            refused: vec![
                (
                    urn("assets"),
                    ProviderError::new(ErrorKind::Conflict, "bucket assets is not empty"),
                ),
                (
                    urn("logs"),
                    ProviderError::new(ErrorKind::Conflict, "bucket logs is not empty"),
                ),
            ],
            total: 5,
        };
        assert!(!refusals.is_empty());
        assert_eq!(
            refusals.describe(),
            "2 of 5 delete(s) cannot go ahead:\n  - dev::aws:s3:Bucket::assets: bucket assets is not empty\n  - dev::aws:s3:Bucket::logs: bucket logs is not empty"
        );
        let text = refusals.to_string();
        assert!(
            text.starts_with("destroy stopped before changing anything: 2 of 5"),
            "{text}"
        );
        assert!(text.ends_with("nothing was deleted."), "{text}");
    }
}
