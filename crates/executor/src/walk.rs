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
    // Of the nodes ready at once, those with the longest chain still behind them start
    // first (critical-path list scheduling): when the limit or AWS's rate limits leave
    // room for only some, the long chain is never starved by bulk work that nothing
    // waits for. Ties go in the plan's order.
    let height = heights(&dependents);
    let mut ready: std::collections::BinaryHeap<(usize, std::cmp::Reverse<usize>)> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| (height[i], std::cmp::Reverse(i)))
        .collect();
    let mut running: JoinSet<(usize, Result<(), StepError>)> = JoinSet::new();
    let mut cancelled = *cancel.borrow();
    let mut task_node = std::collections::HashMap::new();

    loop {
        while !cancelled && running.len() < limit {
            let Some((_, std::cmp::Reverse(i))) = ready.pop() else {
                break;
            };
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
                        ready.push((height[d], std::cmp::Reverse(d)));
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

/// For every node, how many nodes the longest chain of its dependents holds (0 for a
/// node nothing waits for). Iterative, in reverse topological order: plans run to
/// hundreds of thousands of nodes.
fn heights(dependents: &[Vec<usize>]) -> Vec<usize> {
    let n = dependents.len();
    let mut pending: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut dependencies = vec![Vec::new(); n];
    for (i, ds) in dependents.iter().enumerate() {
        for &d in ds {
            dependencies[d].push(i);
        }
    }
    let mut height = vec![0; n];
    let mut done: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    while let Some(i) = done.pop() {
        for &p in &dependencies[i] {
            height[p] = height[p].max(height[i] + 1);
            pending[p] -= 1;
            if pending[p] == 0 {
                done.push(p);
            }
        }
    }
    height
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

    /// Walks `after` one node at a time on a runtime of its own.
    fn walk_one_at_a_time(
        after: &[Vec<usize>],
        run: Arc<dyn Fn(usize) -> NodeFuture + Send + Sync>,
    ) -> Vec<NodeOutcome> {
        let (_tx, cancel) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(walk(after, 1, cancel, run))
    }

    fn run_failing(kind: ErrorKind) -> Vec<NodeOutcome> {
        // Node 0 fails; nodes 1 and 2 are independent of it and start after it (one at a time).
        let after = vec![vec![], vec![], vec![]];
        walk_one_at_a_time(
            &after,
            Arc::new(move |i| {
                Box::pin(async move {
                    if i == 0 {
                        Err(StepError::Provider(ProviderError::new(kind, "CreateVpc: no")))
                    } else {
                        Ok(())
                    }
                })
            }),
        )
    }

    #[test]
    fn a_node_counts_the_longest_chain_behind_it() {
        // 0 -> 1 -> 2 and 0 -> 3; 4 alone.
        let dependents = vec![vec![1, 3], vec![2], vec![], vec![], vec![]];
        assert_eq!(heights(&dependents), [2, 1, 0, 0, 0]);
    }

    #[test]
    fn the_longest_chain_starts_first() {
        // Nodes 0..3 stand alone; node 4 has 5 -> 6 behind it. One at a time, 4 goes first,
        // then 5 (a chain behind it still), then, all chains equal, the plan's order.
        let after = vec![vec![], vec![], vec![], vec![], vec![], vec![4], vec![5]];
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = order.clone();
        walk_one_at_a_time(
            &after,
            Arc::new(move |i| {
                let seen = seen.clone();
                Box::pin(async move {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(i);
                    Ok(())
                })
            }),
        );
        assert_eq!(*order.lock().unwrap_or_else(|e| e.into_inner()), [4, 5, 0, 1, 2, 3, 6]);
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
