//! The planner: desired goals x current records -> a plan. Deciding, never doing: the
//! plan is a value that `diff` prints, `--json` serialises and the executor runs.
//!
//! `destroy` is a plan against an empty program. Replacement is create-before-delete
//! unless the provider requires delete-before-create; a delete-before-create
//! replacement forces its replaced dependents to delete first too, or the order would
//! be a cycle.
//!
//! Architecture invariant: pure. The planner calls providers' `check` and `diff`
//! (which are pure) and nothing else.

pub mod destroy;
mod ops;
pub mod sweep;

use std::borrow::Cow;
use std::collections::BTreeSet;

// foldhash: the hash maps of planning are keyed by URNs (whose hash is kept) and
// indices; SipHash's DoS resistance buys nothing for a program's own names.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::fmt;

use serde::Serialize;
use stackup_graph::DependencyGraph;
use stackup_model::{Properties, ResourceGoal, ResourceRecord, SharedProperties, TypeToken, Urn, Value};
use stackup_provider::{CheckRequest, DiffRequest, Registry};

pub use ops::{OpKind, Operation};

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Same,
    Create,
    Update,
    /// Create the replacement, repoint dependents, then delete the old object.
    CreateThenDelete,
    /// Delete the old object first (its name must be unique), then create.
    DeleteThenCreate,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Same => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::CreateThenDelete => "+-",
            Action::DeleteThenCreate => "-+",
            Action::Delete => "-",
        }
    }

    pub fn is_replace(self) -> bool {
        matches!(self, Action::CreateThenDelete | Action::DeleteThenCreate)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Same => "same",
            Action::Create => "create",
            Action::Update => "update",
            Action::CreateThenDelete => "replace (create before delete)",
            Action::DeleteThenCreate => "replace (delete before create)",
            Action::Delete => "delete",
        })
    }
}

/// One attribute that differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PropertyChange {
    pub key: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub forces_replacement: bool,
}

/// What a step changes, key by key. A create sets every input and a delete removes every
/// one: those hold the (shared) map they list instead of a copy of each entry, and list
/// them on demand; in a first `up` of 100,000 resources the copies were the plan's
/// largest part.
#[derive(Clone, Debug, PartialEq)]
pub enum Changes {
    /// The keys that differ (update, replace), or none (same, a swept object).
    Listed(Vec<PropertyChange>),
    /// Every key of these inputs set (create).
    AllSet(SharedProperties),
    /// Every key of these inputs removed (delete).
    AllRemoved(SharedProperties),
}

impl Changes {
    /// The changes, key by key, in key order (as listed for update and replace).
    pub fn list(&self) -> Cow<'_, [PropertyChange]> {
        let all = |inputs: &SharedProperties, set: bool| {
            inputs
                .iter()
                .map(|(k, v)| PropertyChange {
                    key: k.to_string(),
                    old: (!set).then(|| v.clone()),
                    new: set.then(|| v.clone()),
                    forces_replacement: false,
                })
                .collect()
        };
        match self {
            Changes::Listed(changes) => Cow::Borrowed(changes),
            Changes::AllSet(inputs) => Cow::Owned(all(inputs, true)),
            Changes::AllRemoved(inputs) => Cow::Owned(all(inputs, false)),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Changes::Listed(changes) => changes.is_empty(),
            Changes::AllSet(inputs) | Changes::AllRemoved(inputs) => inputs.is_empty(),
        }
    }

    /// The changed keys, in order.
    pub fn keys(&self) -> Vec<String> {
        match self {
            Changes::Listed(changes) => changes.iter().map(|c| c.key.clone()).collect(),
            Changes::AllSet(inputs) | Changes::AllRemoved(inputs) => inputs.keys().map(|k| k.to_string()).collect(),
        }
    }
}

impl Serialize for Changes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.list().serialize(serializer)
    }
}

/// One resource's step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    pub urn: Urn,
    #[serde(rename = "type")]
    pub ty: TypeToken,
    pub action: Action,
    pub changes: Changes,
    /// Desired inputs as declared, references unresolved (create, update, replace); the
    /// executor resolves them and has the provider normalise them again.
    #[serde(skip)]
    pub inputs: Option<SharedProperties>,
    /// Desired dependencies (create, update, replace).
    #[serde(skip)]
    pub dependencies: Vec<Urn>,
    /// The resource as it is now (update, replace, delete, same).
    #[serde(skip)]
    pub old: Option<ResourceRecord>,
    /// A step deleting an object that a finished create-before-delete replacement left
    /// behind, rather than the resource's current object.
    pub retired: bool,
    /// The resource's object exists (found by its `stackup:urn` tag) but state did not
    /// record it (state lost or damaged): the run records it (`old`) before anything
    /// else, then applies `action` to it, instead of creating a duplicate.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// What a person should know about this step: why a resource is replaced although
    /// its inputs did not change (it is tainted), when a change takes effect.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The plan of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub stack: String,
    pub steps: Vec<Step>,
    /// The lookups read to make the plan, with what each found: shown, never applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<Read>,
}

/// A lookup the plan read (a data source): never created, changed or deleted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Read {
    pub urn: Urn,
    #[serde(rename = "type")]
    pub ty: TypeToken,
    /// The query, references resolved.
    pub inputs: Properties,
    /// What it found (`id` and the type's other outputs).
    pub outputs: Properties,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub same: usize,
    /// Objects the run records from their tag (lost state) before acting on them; each
    /// is also counted by its action.
    pub adopt: usize,
}

impl Plan {
    /// Whether the run changes anything: in AWS, or in state by adopting an object.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action != Action::Same || s.adopted)
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.steps {
            match s.action {
                Action::Same => c.same += 1,
                Action::Create => c.create += 1,
                Action::Update => c.update += 1,
                Action::CreateThenDelete | Action::DeleteThenCreate => c.replace += 1,
                Action::Delete => c.delete += 1,
            }
            c.adopt += usize::from(s.adopted);
        }
        c
    }

    /// The steps that change something, adoptions included.
    pub fn changed_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action != Action::Same || s.adopted)
    }
}

/// Why a plan could not be made. Every problem is reported at once.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Invalid(InvalidInputs),
}

/// The inputs that providers refused, all of them.
#[derive(Debug, Default)]
pub struct InvalidInputs(pub Vec<(Urn, String, String)>);

impl fmt::Display for InvalidInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the program declares {} invalid input(s):", self.0.len())?;
        for (urn, key, reason) in &self.0 {
            writeln!(f, "  - {urn}: input '{key}': {reason}")?;
        }
        Ok(())
    }
}

/// Everything the planner needs.
pub struct PlanRequest<'a> {
    pub stack: &'a str,
    pub goals: &'a [ResourceGoal],
    pub graph: &'a DependencyGraph,
    /// The resources as they are now: recorded, or refreshed from AWS.
    pub current: &'a [ResourceRecord],
    /// Objects left behind by create-before-delete replacements; always deleted.
    pub retired: &'a [ResourceRecord],
    pub registry: &'a Registry,
    /// When not empty, only these resources (and what they depend on) are planned;
    /// deletes only for resources named here.
    pub targets: &'a [Urn],
}

/// Plans a run.
pub fn plan(req: PlanRequest<'_>) -> Result<Plan, PlanError> {
    let goals: HashMap<&Urn, &ResourceGoal> = req.goals.iter().map(|g| (&g.urn, g)).collect();
    let current: HashMap<&Urn, &ResourceRecord> = req.current.iter().map(|r| (&r.urn, r)).collect();
    let in_scope = scope(&req);

    let mut invalid = InvalidInputs::default();
    // Outputs known at plan time; None means "not known until apply".
    let mut known: HashMap<Urn, Option<SharedProperties>> = HashMap::new();
    let mut delete_first: BTreeSet<Urn> = BTreeSet::new();
    // One step per goal, record and retired object at most: room for all of them at
    // once, rather than doubling a vector of 100,000 steps (and holding both copies).
    let mut steps =
        Vec::with_capacity(req.goals.len() + req.current.len().saturating_sub(req.goals.len()) + req.retired.len());

    for urn in req.graph.topological() {
        let Some(goal) = goals.get(&urn) else { continue };
        let old = current.get(&urn).copied();
        if in_scope.as_ref().is_some_and(|s| !s.contains(&urn)) {
            known.insert(urn.clone(), old.map(|r| r.outputs.clone()));
            if let Some(old) = old {
                steps.push(same_step(old));
            }
            continue;
        }
        let Some(provider) = req.registry.get(&goal.ty) else {
            invalid.0.push((
                urn.clone(),
                "(type)".into(),
                format!("no provider for type {}", goal.ty),
            ));
            continue;
        };
        let resolved = resolve_for_plan(&goal.inputs, &known);
        let checked = provider.check(CheckRequest {
            urn: &urn,
            inputs: resolved,
        });
        for f in checked.failures {
            invalid.0.push((urn.clone(), f.property, f.reason));
        }
        let inputs = checked.inputs;
        let dependencies = goal.dependencies();
        let step = match old {
            None => {
                known.insert(urn.clone(), None);
                Step {
                    urn: urn.clone(),
                    ty: goal.ty.clone(),
                    action: Action::Create,
                    changes: Changes::AllSet(inputs.into()),
                    inputs: Some(goal.inputs.clone()),
                    dependencies,
                    old: None,
                    retired: false,
                    adopted: false,
                    notes: Vec::new(),
                }
            }
            Some(old) => {
                let diff = provider.diff(DiffRequest {
                    urn: &urn,
                    old_inputs: &old.inputs,
                    new_inputs: &inputs,
                });
                let type_changed = old.ty != goal.ty;
                let tainted = old.tainted.is_some();
                let replace = type_changed || tainted || !diff.replace.is_empty();
                // A tainted object is replaced whatever the diff thinks of it.
                if let (Some((key, reason)), false) = (&diff.refuse, tainted) {
                    invalid.0.push((urn.clone(), key.clone(), reason.clone()));
                }
                let mut notes = diff.notes.clone();
                if let Some(why) = &old.tainted {
                    notes.insert(0, format!("tainted ({why}): replaced"));
                }
                let dependency_deletes_first = dependencies.iter().any(|d| delete_first.contains(d));
                let action = if diff.changed.is_empty() && !type_changed && !tainted {
                    Action::Same
                } else if replace && (diff.delete_before_replace || dependency_deletes_first) {
                    Action::DeleteThenCreate
                } else if replace {
                    Action::CreateThenDelete
                } else {
                    Action::Update
                };
                if action == Action::DeleteThenCreate {
                    delete_first.insert(urn.clone());
                }
                let outputs = match action {
                    Action::Same => Some(old.outputs.clone()),
                    Action::Update => {
                        let mut outputs = old.outputs.clone();
                        for key in provider.schema().outputs_changed_by_update {
                            outputs.insert((*key).into(), Value::Unknown);
                        }
                        Some(outputs)
                    }
                    _ => None,
                };
                known.insert(urn.clone(), outputs);
                let changes = diff
                    .changed
                    .iter()
                    .map(|k| PropertyChange {
                        key: k.clone(),
                        old: old.inputs.get(k.as_str()).cloned(),
                        new: inputs.get(k.as_str()).cloned(),
                        forces_replacement: diff.replace.contains(k),
                    })
                    .collect();
                Step {
                    urn: urn.clone(),
                    ty: goal.ty.clone(),
                    action,
                    changes: Changes::Listed(changes),
                    inputs: Some(goal.inputs.clone()),
                    dependencies,
                    old: Some(old.clone()),
                    retired: false,
                    adopted: false,
                    notes,
                }
            }
        };
        steps.push(step);
    }
    if !invalid.0.is_empty() {
        return Err(PlanError::Invalid(invalid));
    }

    // Resources recorded but no longer declared are deleted, dependents first.
    let removed: Vec<&ResourceRecord> = req
        .current
        .iter()
        .filter(|r| !goals.contains_key(&r.urn))
        .filter(|r| req.targets.is_empty() || req.targets.contains(&r.urn))
        .collect();
    for record in deletion_order(&removed) {
        steps.push(delete_step(record, false));
    }
    for record in req.retired {
        steps.push(delete_step(record, true));
    }
    // Keep the untouched records of a targeted run visible as `same`.
    for record in req.current {
        if !goals.contains_key(&record.urn) && !req.targets.is_empty() && !req.targets.contains(&record.urn) {
            steps.push(same_step(record));
        }
    }
    Ok(Plan {
        stack: req.stack.to_string(),
        steps,
        reads: Vec::new(),
    })
}

fn same_step(old: &ResourceRecord) -> Step {
    Step {
        urn: old.urn.clone(),
        ty: old.ty.clone(),
        action: Action::Same,
        changes: Changes::Listed(Vec::new()),
        inputs: Some(old.inputs.clone()),
        dependencies: old.dependencies.clone(),
        old: Some(old.clone()),
        retired: false,
        adopted: false,
        notes: Vec::new(),
    }
}

fn delete_step(record: &ResourceRecord, retired: bool) -> Step {
    Step {
        urn: record.urn.clone(),
        ty: record.ty.clone(),
        action: Action::Delete,
        changes: Changes::AllRemoved(record.inputs.clone()),
        inputs: None,
        dependencies: Vec::new(),
        old: Some(record.clone()),
        retired,
        adopted: false,
        notes: Vec::new(),
    }
}

/// Records in an order where dependents come before what they depend on. Recorded
/// dependencies may point at resources already gone; those edges are ignored.
///
/// Kahn's algorithm over positions (a record is next once everything that depends on it
/// is placed; ties in record order), with the edges in one flat array: a destroy of
/// 100,000 records builds no graph of cloned URNs to walk once.
fn deletion_order<'a>(records: &[&'a ResourceRecord]) -> Vec<&'a ResourceRecord> {
    let position: HashMap<&Urn, usize> = records.iter().enumerate().map(|(i, r)| (&r.urn, i)).collect();
    // The dependencies of record i are deps[starts[i]..starts[i + 1]].
    let mut starts = Vec::with_capacity(records.len() + 1);
    let mut deps = Vec::new();
    let mut dependents = vec![0usize; records.len()];
    for r in records {
        starts.push(deps.len());
        for d in r.dependencies.iter() {
            if let Some(&j) = position.get(d) {
                deps.push(j);
                dependents[j] += 1;
            }
        }
    }
    starts.push(deps.len());
    let mut ready: std::collections::VecDeque<usize> = (0..records.len()).filter(|&i| dependents[i] == 0).collect();
    let mut order = Vec::with_capacity(records.len());
    while let Some(i) = ready.pop_front() {
        order.push(records[i]);
        for &j in &deps[starts[i]..starts[i + 1]] {
            dependents[j] -= 1;
            if dependents[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    if order.len() < records.len() {
        // Recorded dependencies cannot form a cycle unless the store was edited by
        // hand; fall back to the recorded order rather than refusing to delete.
        return records.to_vec();
    }
    order
}

/// The resources a targeted run plans: the targets and everything they depend on; None
/// (everything) when the run is not targeted, rather than a copy of every URN.
fn scope(req: &PlanRequest<'_>) -> Option<HashSet<Urn>> {
    if req.targets.is_empty() {
        return None;
    }
    let mut out = HashSet::new();
    let mut stack: Vec<Urn> = req.targets.iter().filter(|t| req.graph.contains(t)).cloned().collect();
    while let Some(u) = stack.pop() {
        if out.insert(u.clone()) {
            stack.extend(req.graph.dependencies(&u));
        }
    }
    Some(out)
}

/// Resolves references with the outputs known at plan time.
fn resolve_for_plan(inputs: &Properties, known: &HashMap<Urn, Option<SharedProperties>>) -> Properties {
    inputs
        .iter()
        .map(|(k, v)| {
            let resolved = v.resolve(&mut |r| match known.get(&r.urn) {
                Some(Some(outputs)) => outputs.get(r.output.as_str()).cloned().unwrap_or(Value::Null),
                _ => Value::Unknown,
            });
            (k.clone(), resolved)
        })
        .collect()
}
