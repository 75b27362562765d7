//! A stack as the engine works on it: its name, the program's resources and their
//! graph, the state store and the providers. The caller builds it, so the engine
//! knows no program, no file format and no cloud.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use stackup_executor::{refresh, ResourceDrift};
use stackup_graph::DependencyGraph;
use stackup_model::{Program, ResourceRecord, TypeToken, Urn};
use stackup_planner::{plan, Plan, PlanRequest};
use stackup_provider::Registry;
use stackup_state::StateStore;

use crate::{EngineError, Host};

pub struct Stack {
    pub name: String,
    pub program: Program,
    pub graph: DependencyGraph,
    pub store: Arc<dyn StateStore>,
    pub registry: Registry,
}

impl Stack {
    /// Checks a program before anything is opened: its graph, and every resource's
    /// inputs against `offline` providers (their checks are pure) as if nothing
    /// existed. Bad input is reported here, before the state store or any cloud call.
    pub fn validate(name: &str, program: &Program, offline: &Registry) -> Result<DependencyGraph, EngineError> {
        let graph = DependencyGraph::from_goals(&program.goals)?;
        plan(PlanRequest {
            stack: name,
            goals: &program.goals,
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
            .goals
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

    /// Objects tagged with this stack that state does not know, over every type the
    /// program declares or state records.
    pub async fn unmanaged(&self, records: &[ResourceRecord]) -> Result<Vec<ResourceDrift>, EngineError> {
        let mut types: Vec<TypeToken> = self
            .program
            .goals
            .iter()
            .map(|g| g.ty.clone())
            .chain(records.iter().map(|r| r.ty.clone()))
            .collect();
        types.sort();
        types.dedup();
        let mut known: BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
        known.extend(self.store.retired()?.into_iter().map(|r| r.id));
        stackup_executor::unmanaged(&self.registry, &self.name, &types, &known)
            .await
            .map_err(|e| EngineError::Unmanaged(e.to_string()))
    }

    /// Plans the program against `current`, limited to `targets` (and what they need)
    /// when any.
    pub fn plan(&self, current: &[ResourceRecord], targets: &[Urn]) -> Result<Plan, EngineError> {
        let retired = self.store.retired()?;
        Ok(plan(PlanRequest {
            stack: &self.name,
            goals: &self.program.goals,
            graph: &self.graph,
            current,
            retired: &retired,
            registry: &self.registry,
            targets,
        })?)
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
