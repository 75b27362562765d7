//! A DAG walker that knows nothing about resources: node i may start once every node in
//! `after[i]` is done; a failed node's dependents are skipped with it named as the root
//! cause; cancellation stops new starts and lets running nodes finish, and so does a
//! node failing because the cloud cannot be reached (every other node would fail the
//! same way, each after its retries).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::StepError;

#[derive(Debug, Clone)]
pub enum NodeOutcome {
    Done,
    Failed(StepError),
    /// Not run because `because` (a failed node) is among its dependencies.
    Skipped {
        because: usize,
    },
    /// Not started because the run was cancelled.
    Cancelled,
}

type NodeFuture = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send>>;

/// Walks the graph with at most `limit` nodes running at a time.
pub async fn walk(
    after: &[Vec<usize>],
    limit: usize,
    mut cancel: watch::Receiver<bool>,
    run: Arc<dyn Fn(usize) -> NodeFuture + Send + Sync>,
) -> Vec<NodeOutcome> {
    let n = after.len();
    let limit = limit.max(1);
    let mut dependents = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = vec![0; n];
    for (i, deps) in after.iter().enumerate() {
        waiting[i] = deps.len();
        for &d in deps {
            dependents[d].push(i);
        }
    }
    let mut outcome: Vec<Option<NodeOutcome>> = vec![None; n];
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut running: JoinSet<(usize, Result<(), StepError>)> = JoinSet::new();
    let mut cancelled = *cancel.borrow();
    let mut task_node = std::collections::HashMap::new();

    loop {
        while !cancelled && running.len() < limit {
            let Some(i) = ready.pop_front() else { break };
            let fut = run(i);
            let handle = running.spawn(async move { (i, fut.await) });
            task_node.insert(handle.id(), i);
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            changed = cancel.changed(), if !cancelled => {
                cancelled = changed.is_err() || *cancel.borrow();
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (i, result) = match joined {
            Ok(pair) => pair,
            // A node that panicked is a failed node: its dependents are skipped.
            Err(e) => match task_node.get(&e.id()) {
                Some(&i) => (i, Err(StepError::Engine(format!("internal error: {e}")))),
                None => continue,
            },
        };
        match result {
            Ok(()) => {
                outcome[i] = Some(NodeOutcome::Done);
                for &d in &dependents[i] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 && outcome[d].is_none() {
                        ready.push_back(d);
                    }
                }
            }
            Err(e) => {
                if matches!(&e, StepError::Provider(p) if p.kind == stackup_provider::ErrorKind::Unreachable) {
                    cancelled = true;
                }
                outcome[i] = Some(NodeOutcome::Failed(e));
                skip_dependents(i, i, &dependents, &mut outcome);
            }
        }
    }
    outcome
        .into_iter()
        .map(|o| o.unwrap_or(NodeOutcome::Cancelled))
        .collect()
}

fn skip_dependents(node: usize, root: usize, dependents: &[Vec<usize>], outcome: &mut [Option<NodeOutcome>]) {
    let mut stack = dependents[node].clone();
    while let Some(d) = stack.pop() {
        if outcome[d].is_none() {
            outcome[d] = Some(NodeOutcome::Skipped { because: root });
            stack.extend(dependents[d].iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use stackup_provider::{ErrorKind, ProviderError};

    use super::*;

    fn run_failing(kind: ErrorKind) -> Vec<NodeOutcome> {
        // Node 0 fails; nodes 1 and 2 are independent of it and start after it (one at a time).
        let after = vec![vec![], vec![], vec![]];
        let (_tx, cancel) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(walk(
            &after,
            1,
            cancel,
            Arc::new(move |i| {
                Box::pin(async move {
                    if i == 0 {
                        Err(StepError::Provider(ProviderError::new(kind, "CreateVpc: no")))
                    } else {
                        Ok(())
                    }
                })
            }),
        ))
    }

    #[test]
    fn an_unreachable_cloud_stops_new_starts_and_other_failures_do_not() {
        let outcomes = run_failing(ErrorKind::Unreachable);
        assert!(matches!(outcomes[0], NodeOutcome::Failed(_)), "{outcomes:?}");
        assert!(
            outcomes[1..].iter().all(|o| matches!(o, NodeOutcome::Cancelled)),
            "{outcomes:?}"
        );
        let outcomes = run_failing(ErrorKind::Invalid);
        assert!(
            outcomes[1..].iter().all(|o| matches!(o, NodeOutcome::Done)),
            "{outcomes:?}"
        );
    }
}
