//! A stack as the engine works on it: its name, the program's resources and their
//! graph, the state store and the providers. The caller builds it, so the engine
//! knows no program, no file format and no cloud.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use stackup_executor::{refresh, ResourceDrift};
use stackup_graph::DependencyGraph;
use stackup_model::{Program, Properties, ResourceGoal, ResourceRecord, TypeToken, Urn, Value};
use stackup_planner::{plan, Action, InvalidInputs, Plan, PlanError, PlanRequest, Read};
use stackup_provider::{LiveResource, LookupRequest, Registry};
use stackup_state::StateStore;
use tokio::sync::OnceCell;

use crate::{EngineError, Host};

pub struct Stack {
    pub name: String,
    pub program: Program,
    pub graph: DependencyGraph,
    pub store: Arc<dyn StateStore>,
    pub registry: Registry,
    /// The program's lookups, read once per operation (see [`Stack::lookups`]).
    resolved: OnceCell<Resolved>,
}

/// What the lookups found, and the goals with their references replaced by it.
struct Resolved {
    /// None when the program has no lookups: its goals are used as they are.
    goals: Option<Vec<ResourceGoal>>,
    reads: Vec<Read>,
}

impl Stack {
    /// Checks a program before anything is opened: its graph, and every resource's
    /// inputs against `offline` providers (their checks are pure) as if nothing
    /// existed. Bad input is reported here, before the state store or any cloud call.
    ///
    /// Lookups are checked here too (a known type, a valid query that uses only
    /// lookups declared before it); what they will find is `Value::Unknown` until the
    /// plan reads them.
    pub fn validate(name: &str, program: &Program, offline: &Registry) -> Result<DependencyGraph, EngineError> {
        check_lookups(program, offline)?;
        let goals = program.goals_with(&BTreeMap::new());
        let graph = DependencyGraph::from_goals(&goals)?;
        plan(PlanRequest {
            stack: name,
            goals: &goals,
            graph: &graph,
            current: &[],
            retired: &[],
            registry: offline,
            targets: &[],
        })?;
        Ok(graph)
    }

    /// The stack, once [`Stack::validate`] passed and the store is open.
    pub fn new(
        name: &str,
        program: Program,
        graph: DependencyGraph,
        store: Arc<dyn StateStore>,
        registry: Registry,
    ) -> Stack {
        Stack {
            name: name.to_string(),
            program,
            graph,
            store,
            registry,
            resolved: OnceCell::new(),
        }
    }

    /// Validates `program` and opens the stack over `store` in one step: for callers
    /// whose store is already open (tests, the bench, library users).
    pub fn open(
        name: &str,
        program: Program,
        store: Arc<dyn StateStore>,
        registry: Registry,
    ) -> Result<Stack, EngineError> {
        // The providers that will run are the ones that check.
        let graph = Stack::validate(name, &program, &registry)?;
        Ok(Stack::new(name, program, graph, store, registry))
    }

    pub fn records(&self) -> Result<Vec<ResourceRecord>, EngineError> {
        Ok(self.store.records()?)
    }

    /// Resolves the journal entries an interrupted run left (see
    /// crates/executor/src/recover.rs), telling the host what it adopted.
    pub async fn recover(&self, host: &dyn Host) -> Result<(), EngineError> {
        let dependencies: BTreeMap<Urn, Vec<Urn>> = self
            .program
            .goals_with(&BTreeMap::new())
            .iter()
            .map(|g| (g.urn.clone(), g.dependencies()))
            .collect();
        let recovery = stackup_executor::recover(&self.registry, self.store.as_ref(), &self.name, &dependencies)
            .await
            .map_err(|e| EngineError::Recovery(format!("resolving operations a previous run left unfinished: {e}")))?;
        for (urn, id) in &recovery.adopted {
            host.notice(&format!(
                "recovered: {urn} was created by an interrupted run as {id}; it is now recorded"
            ));
        }
        if recovery.settled > 0 && recovery.adopted.is_empty() {
            host.notice(&format!(
                "recovered: {} unfinished operation(s) of an interrupted run settled",
                recovery.settled
            ));
        }
        if !recovery.ambiguous.is_empty() {
            let list: Vec<String> = recovery
                .ambiguous
                .iter()
                .map(|(urn, ids)| format!("{urn}: {}", ids.join(", ")))
                .collect();
            return Err(EngineError::Recovery(format!(
                "an interrupted run left more than one object claiming the same resource, and stackup will not guess which to keep: {}. Delete the extra object(s) in AWS (or adopt one with `stackup import`), then run again",
                list.join("; ")
            )));
        }
        Ok(())
    }

    /// Reads live state unless `refresh` is off (or nothing is recorded). A failed read
    /// is an error, never "no change".
    pub async fn current_state(
        &self,
        records: Vec<ResourceRecord>,
        refresh_live: bool,
    ) -> Result<(Vec<ResourceRecord>, Vec<ResourceDrift>), EngineError> {
        if !refresh_live || records.is_empty() {
            return Ok((records, Vec::new()));
        }
        let refreshed = refresh(&self.registry, &records)
            .await
            .map_err(|e| EngineError::Refresh(e.to_string()))?;
        Ok((refreshed.records, refreshed.drift))
    }

    /// The live view of `records` and every object tagged with this stack, of every
    /// type the program declares or state records, in one pass: where a type's listing
    /// serves refresh, its records are read by that listing.
    pub async fn survey(&self, records: &[ResourceRecord]) -> Result<stackup_executor::Survey, EngineError> {
        stackup_executor::survey(&self.registry, &self.name, records, &self.types(records))
            .await
            .map_err(|e| EngineError::Refresh(e.to_string()))
    }

    /// The types the program declares or state records.
    fn types(&self, records: &[ResourceRecord]) -> Vec<TypeToken> {
        let mut types: Vec<TypeToken> = self
            .program
            .goals
            .iter()
            .map(|g| g.ty.clone())
            .chain(records.iter().map(|r| r.ty.clone()))
            .collect();
        types.sort();
        types.dedup();
        types
    }

    /// Of the `tagged` objects, those state does not know (neither recorded nor
    /// retired), as drift.
    pub fn unmanaged_of(
        &self,
        records: &[ResourceRecord],
        tagged: &[(TypeToken, LiveResource)],
    ) -> Result<Vec<ResourceDrift>, EngineError> {
        let known = self.known_ids(records)?;
        let mut out: Vec<ResourceDrift> = tagged
            .iter()
            .filter(|(_, found)| !known.contains(&found.id))
            .map(|(ty, found)| ResourceDrift::Unmanaged {
                urn: found.urn.clone(),
                ty: ty.clone(),
                id: found.id.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.urn().cmp(b.urn()));
        Ok(out)
    }

    /// The physical ids state knows: recorded, and retired by replacements.
    fn known_ids(&self, records: &[ResourceRecord]) -> Result<BTreeSet<String>, EngineError> {
        let mut known: BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
        known.extend(self.store.retired()?.into_iter().map(|r| r.id));
        Ok(known)
    }

    /// Plans the program against `current`, limited to `targets` (and what they need)
    /// when any. Reads the program's lookups first (once per stack): the plan shows
    /// what they found.
    pub async fn plan(&self, current: &[ResourceRecord], targets: &[Urn]) -> Result<Plan, EngineError> {
        let resolved = self.lookups().await?;
        let retired = self.store.retired()?;
        let mut plan = plan(PlanRequest {
            stack: &self.name,
            goals: resolved.goals.as_deref().unwrap_or(&self.program.goals),
            graph: &self.graph,
            current,
            retired: &retired,
            registry: &self.registry,
            targets,
        })?;
        plan.reads = resolved.reads.clone();
        Ok(plan)
    }

    /// Plans like [`Stack::plan`]; and when a resource the plan would create already
    /// exists, tagged with its URN, but state does not record it (state lost, damaged or
    /// moved aside), adopts that object instead of creating a duplicate: the plan then
    /// acts on the live object (an update to the declared inputs, or nothing) and marks
    /// the step `adopted`, so that the run records the object before anything else.
    /// One listing per type the plan would create, nothing when it creates nothing.
    /// Objects tagged with the stack whose URN the program does not declare are left to
    /// drift reporting (and `destroy --sweep`). Returns the plan and the adopted URNs.
    pub async fn plan_adopting(
        &self,
        mut current: Vec<ResourceRecord>,
        targets: &[Urn],
        tagged: Option<&[(TypeToken, LiveResource)]>,
    ) -> Result<(Plan, Vec<Urn>), EngineError> {
        let mut plan = self.plan(&current, targets).await?;
        let mut adopted: Vec<Urn> = Vec::new();
        let mut known = self.known_ids(&current)?;
        let creates = |plan: &Plan| -> Vec<stackup_planner::Step> {
            plan.steps
                .iter()
                .filter(|s| s.action == Action::Create)
                .cloned()
                .collect()
        };
        // First the objects that carry their URN tag: one listing per type.
        let wanted = creates(&plan);
        if wanted.is_empty() {
            return Ok((plan, adopted));
        }
        // A listing the caller already made (`diff` lists every type for drift) covers
        // the types the plan creates; otherwise those types are listed here.
        let listed = match tagged {
            Some(tagged) => tagged.to_vec(),
            None => {
                let mut types: Vec<TypeToken> = wanted.iter().map(|s| s.ty.clone()).collect();
                types.sort();
                types.dedup();
                stackup_executor::listed(&self.registry, &self.name, &types)
                    .await
                    .map_err(|e| EngineError::Unmanaged(e.to_string()))?
            }
        };
        let mut claimed: BTreeMap<Urn, Vec<LiveResource>> = BTreeMap::new();
        for (_, live) in listed.into_iter().filter(|(_, l)| !known.contains(&l.id)) {
            claimed.entry(live.urn.clone()).or_default().push(live);
        }
        let mut ambiguous = Vec::new();
        let mut found = Vec::new();
        for step in &wanted {
            match claimed.remove(&step.urn).as_deref() {
                Some([live]) => found.push(adopt(step, live)),
                Some(several) if several.len() > 1 => {
                    let ids: Vec<&str> = several.iter().map(|l| l.id.as_str()).collect();
                    ambiguous.push(format!("{}: {}", step.urn, ids.join(", ")));
                }
                _ => {}
            }
        }
        if !ambiguous.is_empty() {
            return Err(EngineError::Recovery(format!(
                "state does not record these resources, and more than one object carries each one's URN tag, so stackup will not guess which to adopt: {}. Delete the extra object(s) in AWS (or adopt one with `stackup import`), then run again",
                ambiguous.join("; ")
            )));
        }
        // Then, parents adopted, the children that carry no tags (attachments,
        // associations, inline policies), found by what they join: each round's plan
        // knows the ids of what the previous round adopted.
        let mut rounds = 0;
        while !found.is_empty() {
            known.extend(found.iter().map(|r| r.id.clone()));
            adopted.extend(found.iter().map(|r| r.urn.clone()));
            current.append(&mut found);
            plan = self.plan(&current, targets).await?;
            rounds += 1;
            if rounds > 4 {
                break;
            }
            for step in creates(&plan) {
                // A create's changes are its checked inputs, the map itself.
                let inputs: Properties = match &step.changes {
                    stackup_planner::Changes::AllSet(set) => (**set).clone(),
                    _ => continue,
                };
                if inputs
                    .values()
                    .any(|v| v.contains_unknown() || !v.references().is_empty())
                {
                    continue;
                }
                let Some(provider) = self.registry.get(&step.ty) else {
                    continue;
                };
                let answer = provider
                    .find(stackup_provider::FindRequest {
                        urn: step.urn.clone(),
                        stack: self.name.clone(),
                        inputs,
                        token: String::new(),
                    })
                    .await
                    .map_err(|e| EngineError::Unmanaged(format!("looking for {}: {e}", step.urn)))?;
                if let Some(live) = answer.filter(|l| !known.contains(&l.id)) {
                    found.push(adopt(&step, &live));
                }
            }
        }
        for step in plan.steps.iter_mut().filter(|s| !s.retired && adopted.contains(&s.urn)) {
            step.adopted = true;
        }
        Ok((plan, adopted))
    }

    /// Reads the program's lookups, each once, those that use another lookup's result
    /// after it, the others concurrently. A lookup that finds nothing, or more than one
    /// thing, fails the plan naming it and its query; nothing has been changed.
    async fn lookups(&self) -> Result<&Resolved, EngineError> {
        self.resolved.get_or_try_init(|| self.read_lookups()).await
    }

    async fn read_lookups(&self) -> Result<Resolved, EngineError> {
        let program = &self.program;
        let mut found: BTreeMap<Urn, Properties> = BTreeMap::new();
        let mut reads = Vec::new();
        let mut pending: Vec<_> = program.lookups.iter().collect();
        while !pending.is_empty() {
            let (ready, waiting): (Vec<_>, Vec<_>) = pending.into_iter().partition(|l| {
                l.inputs
                    .values()
                    .flat_map(Value::references)
                    .all(|r| found.contains_key(&r.urn))
            });
            if ready.is_empty() {
                // Validation allows only references to lookups declared earlier.
                return Err(EngineError::Internal("lookups that use each other in a cycle".into()));
            }
            let mut tasks = tokio::task::JoinSet::new();
            for l in ready {
                let lookup = self.registry.lookup(&l.ty).cloned().ok_or_else(|| {
                    EngineError::Lookup(format!("{}: no lookup of type {} is registered", l.urn, l.ty))
                })?;
                let (urn, ty, inputs) = (l.urn.clone(), l.ty.clone(), program.substitute(&l.inputs, &found));
                tasks.spawn(async move {
                    let answer = lookup
                        .lookup(LookupRequest {
                            urn: &urn,
                            inputs: &inputs,
                        })
                        .await;
                    (urn, ty, inputs, answer)
                });
            }
            let mut failed = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                let (urn, ty, inputs, answer) =
                    joined.map_err(|e| EngineError::Internal(format!("a lookup did not finish: {e}")))?;
                match answer {
                    Ok(Some(outputs)) => {
                        found.insert(urn.clone(), outputs.clone());
                        reads.push(Read {
                            urn,
                            ty,
                            inputs,
                            outputs,
                        });
                    }
                    Ok(None) => failed.push(format!("lookup {urn} found nothing matching {}", query(&inputs))),
                    Err(e) => failed.push(format!("lookup {urn} ({}): {e}", query(&inputs))),
                }
            }
            if !failed.is_empty() {
                failed.sort();
                return Err(EngineError::Lookup(failed.join("; ")));
            }
            pending = waiting;
        }
        reads.sort_by(|a, b| a.urn.cmp(&b.urn));
        let goals = (!program.lookups.is_empty()).then(|| program.goals_with(&found).into_owned());
        Ok(Resolved { goals, reads })
    }

    /// Parses `--target` URNs; each must be declared by the program or recorded.
    pub fn targets(&self, raw: &[String], records: &[ResourceRecord]) -> Result<Vec<Urn>, EngineError> {
        raw.iter()
            .map(|t| {
                let urn = Urn::parse(t).map_err(|e| EngineError::Target(format!("--target {t}: {e}")))?;
                let known = self.graph.contains(&urn) || records.iter().any(|r| r.urn == urn);
                if !known {
                    return Err(EngineError::Target(format!(
                        "--target {t}: the stack neither declares nor records this resource (see `stackup state list`)"
                    )));
                }
                Ok(urn)
            })
            .collect()
    }
}

/// A lookup's query as people read it: `{default: true}`, `{tags: {Name: shared}}`.
fn query(inputs: &Properties) -> String {
    let shown: serde_json::Map<String, serde_json::Value> = inputs
        .iter()
        .filter(|(_, v)| !matches!(v, Value::Null))
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect();
    serde_json::Value::Object(shown).to_string()
}

/// Every lookup names a registered lookup type, passes its check, and uses only
/// lookups declared before it (a lookup reads what exists before the run, so it cannot
/// use a resource the stack creates).
fn check_lookups(program: &Program, registry: &Registry) -> Result<(), EngineError> {
    let mut invalid = InvalidInputs::default();
    let mut seen: BTreeSet<&Urn> = BTreeSet::new();
    for l in &program.lookups {
        match registry.lookup(&l.ty) {
            None => invalid
                .0
                .push((l.urn.clone(), "(type)".into(), format!("no lookup of type {}", l.ty))),
            Some(lookup) => {
                let unresolved: BTreeMap<Urn, Properties> = BTreeMap::new();
                for f in lookup.check(&program.substitute(&l.inputs, &unresolved)) {
                    invalid.0.push((l.urn.clone(), f.property, f.reason));
                }
            }
        }
        for (key, v) in &l.inputs {
            for r in v.references() {
                if !seen.contains(&r.urn) {
                    let why = if program.is_lookup(&r.urn) {
                        format!("uses lookup {}, which is declared after it", r.urn)
                    } else {
                        format!(
                            "uses {}, which is not a lookup: a lookup reads what exists before the run, never what the stack creates",
                            r.urn
                        )
                    };
                    invalid.0.push((l.urn.clone(), key.to_string(), why));
                }
            }
        }
        if !seen.insert(&l.urn) {
            invalid
                .0
                .push((l.urn.clone(), "(name)".into(), "declared twice".into()));
        }
    }
    if invalid.0.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Invalid(invalid).into())
    }
}

/// The record of an object found for `step`'s resource, which state did not know.
fn adopt(step: &stackup_planner::Step, live: &LiveResource) -> ResourceRecord {
    ResourceRecord {
        urn: step.urn.clone(),
        ty: step.ty.clone(),
        id: live.id.clone(),
        inputs: live.inputs.clone().into(),
        outputs: live.outputs.clone().into(),
        dependencies: step.dependencies.clone(),
        tainted: None,
    }
}
