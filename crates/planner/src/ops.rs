//! The operation graph of a plan: what the executor runs, and in which order.

// foldhash: the hash maps of planning are keyed by URNs (whose hash is kept) and
// indices; SipHash's DoS resistance buys nothing for a program's own names.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use stackup_model::Urn;

use crate::{Action, Plan};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Create,
    Update,
    /// Creates the new object of a replacement.
    CreateReplacement,
    /// Deletes the old object of a replacement.
    DeleteReplaced,
    Delete,
}

impl OpKind {
    pub fn is_delete(self) -> bool {
        matches!(self, OpKind::Delete | OpKind::DeleteReplaced)
    }

    /// The operation under way, for progress and run summaries ("creating").
    pub fn progressive(self) -> &'static str {
        match self {
            OpKind::Create => "creating",
            OpKind::CreateReplacement => "creating replacement",
            OpKind::Update => "updating",
            OpKind::Delete => "deleting",
            OpKind::DeleteReplaced => "deleting replaced",
        }
    }

    /// The operation done, for the history ("created replacement of").
    pub fn done(self) -> &'static str {
        match self {
            OpKind::Create => "created",
            OpKind::CreateReplacement => "created replacement of",
            OpKind::Update => "updated",
            OpKind::Delete => "deleted",
            OpKind::DeleteReplaced => "deleted replaced",
        }
    }
}

/// One provider call the executor makes, and the operations that must finish first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub step: usize,
    pub kind: OpKind,
    pub after: Vec<usize>,
}

impl Plan {
    /// The operations of this plan with their ordering constraints:
    /// - a create or update runs after the creates and updates of its dependencies;
    /// - a delete runs before the deletes of what the deleted object depended on;
    /// - a deleted object (removed, or the old object of a create-before-delete
    ///   replacement) goes after every resource that used it and is updated in place
    ///   was repointed;
    /// - create-before-delete: the old object goes after its replacement exists;
    /// - delete-before-create: the old object goes first.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops: Vec<Operation> = Vec::new();
        let mut forward: HashMap<&Urn, usize> = HashMap::new();
        let mut deletes: HashMap<&Urn, Vec<usize>> = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            let mut push = |kind| {
                ops.push(Operation {
                    step: i,
                    kind,
                    after: Vec::new(),
                });
                ops.len() - 1
            };
            match step.action {
                Action::Same => {}
                Action::Create => {
                    forward.insert(&step.urn, push(OpKind::Create));
                }
                Action::Update => {
                    forward.insert(&step.urn, push(OpKind::Update));
                }
                Action::CreateThenDelete | Action::DeleteThenCreate => {
                    forward.insert(&step.urn, push(OpKind::CreateReplacement));
                    let d = push(OpKind::DeleteReplaced);
                    deletes.entry(&step.urn).or_default().push(d);
                }
                Action::Delete => {
                    let d = push(OpKind::Delete);
                    deletes.entry(&step.urn).or_default().push(d);
                }
            }
        }
        // Steps updated in place, by the URN their current object depends on: the
        // resources to repoint before that URN's object goes. An index rather than a scan
        // of every step per delete, which made destroying n resources O(n^2).
        let mut updated_users: HashMap<&Urn, Vec<usize>> = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            if step.action != Action::Update {
                continue;
            }
            for dep in step.old.iter().flat_map(|r| r.dependencies.iter()) {
                let users = updated_users.entry(dep).or_default();
                // A dependency listed twice is one user.
                if users.last() != Some(&i) {
                    users.push(i);
                }
            }
        }
        // (before, after)
        let mut edges: Vec<(usize, usize)> = Vec::new();
        // Orderings that make a change smoother but are not required for correctness;
        // dropped if they would close a cycle with the required ones.
        let mut soft: Vec<(usize, usize)> = Vec::new();
        for (o, op) in ops.iter().enumerate() {
            let step = &self.steps[op.step];
            match op.kind {
                OpKind::Create | OpKind::Update | OpKind::CreateReplacement => {
                    for dep in &step.dependencies {
                        if let Some(&d) = forward.get(dep) {
                            edges.push((d, o));
                        }
                    }
                }
                OpKind::Delete | OpKind::DeleteReplaced => {
                    let recorded = step.old.as_ref().map(|r| &r.dependencies[..]).unwrap_or(&[]);
                    for dep in recorded {
                        for &d in deletes.get(dep).into_iter().flatten() {
                            if d != o {
                                edges.push((o, d));
                            }
                        }
                    }
                    // Resources that used this object and are updated in place are
                    // repointed (at a replacement, or away from a removed object) before
                    // it goes. Not for delete-before-create: their update needs the new
                    // object, which comes after this delete.
                    if step.action != Action::DeleteThenCreate {
                        for &user in updated_users.get(&step.urn).into_iter().flatten() {
                            let other = &self.steps[user];
                            if other.urn != step.urn {
                                if let Some(&u) = forward.get(&other.urn) {
                                    soft.push((u, o));
                                }
                            }
                        }
                    }
                }
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            let (Some(&create), Some(del)) = (forward.get(&step.urn), deletes.get(&step.urn)) else {
                continue;
            };
            let Some(&delete) = del.iter().find(|&&d| ops[d].step == i) else {
                continue;
            };
            match step.action {
                Action::DeleteThenCreate => edges.push((delete, create)),
                Action::CreateThenDelete => edges.push((create, delete)),
                _ => {}
            }
        }
        // No soft edge (a plan without updates, such as a destroy): nothing to check.
        if soft.is_empty() || is_acyclic(ops.len(), edges.iter().chain(&soft)) {
            edges.extend(soft);
        } else {
            // Rare (a delete-before-create replacement beneath): keep each soft edge
            // that does not close a cycle.
            for edge in soft {
                edges.push(edge);
                if !is_acyclic(ops.len(), &edges) {
                    edges.pop();
                }
            }
        }
        // A set rather than `after.contains`: an object many resources depend on (a VPC)
        // collects thousands of predecessors, and scanning them per edge was quadratic.
        let mut seen: HashSet<(usize, usize)> = HashSet::with_capacity(edges.len());
        for (before, after) in edges {
            if seen.insert((before, after)) {
                ops[after].after.push(before);
            }
        }
        ops
    }
}

/// Kahn's algorithm: true when `edges` over `n` nodes have no cycle. The successors sit
/// in one flat array (node i's at `succ[starts[i]..starts[i + 1]]`), not a vector per node.
fn is_acyclic<'e>(n: usize, edges: impl IntoIterator<Item = &'e (usize, usize)> + Clone) -> bool {
    let mut indegree = vec![0usize; n];
    let mut starts = vec![0usize; n + 1];
    for &(a, b) in edges.clone() {
        indegree[b] += 1;
        starts[a + 1] += 1;
    }
    for i in 0..n {
        starts[i + 1] += starts[i];
    }
    let mut succ = vec![0usize; starts[n]];
    let mut fill = starts.clone();
    for &(a, b) in edges {
        succ[fill[a]] = b;
        fill[a] += 1;
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for &j in &succ[starts[i]..starts[i + 1]] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    seen == n
}

#[cfg(test)]
mod tests {
    use super::OpKind;

    #[test]
    fn every_operation_has_a_progressive_and_a_past_form_and_deletes_are_known() {
        let all = [
            OpKind::Create,
            OpKind::Update,
            OpKind::CreateReplacement,
            OpKind::DeleteReplaced,
            OpKind::Delete,
        ];
        let forms: Vec<(&str, &str, bool)> = all.iter().map(|k| (k.progressive(), k.done(), k.is_delete())).collect();
        assert_eq!(
            forms,
            [
                ("creating", "created", false),
                ("updating", "updated", false),
                ("creating replacement", "created replacement of", false),
                ("deleting replaced", "deleted replaced", true),
                ("deleting", "deleted", true),
            ]
        );
    }
}
