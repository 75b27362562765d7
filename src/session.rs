//! Everything a command needs about its stack, loaded and validated in an order that
//! guarantees bad input is reported before any AWS call and before any state is
//! touched: stack file, program, graph, input checks, then the state store (and its
//! lock), then AWS clients.

use std::sync::Arc;

use anyhow::Context;
use stackup_ecommerce::StackConfig;
use stackup_graph::DependencyGraph;
use stackup_model::{Program, ResourceRecord, Urn};
use stackup_planner::{plan, Plan, PlanRequest};
use stackup_provider::Registry;
use stackup_state::{SledStore, StateStore};

use crate::cli::Global;

pub struct Session {
    pub config: StackConfig,
    pub program: Program,
    pub graph: DependencyGraph,
    pub store: Arc<SledStore>,
    pub registry: Registry,
    pub clients: stackup_aws::AwsClients,
}

impl Session {
    /// Loads and validates the stack, then opens its state under the stack's lock.
    pub async fn open(global: &Global, command: &str) -> anyhow::Result<Session> {
        let config = StackConfig::load(&global.stack)?;
        let program = stackup_ecommerce::program(&config);
        let graph = DependencyGraph::from_goals(&program.goals)?;
        // Providers' input checks are pure: run them against an empty state so that an
        // invalid program fails here, before the store or AWS is touched.
        let offline = stackup_aws::offline_registry();
        plan(PlanRequest {
            stack: &config.name,
            goals: &program.goals,
            graph: &graph,
            current: &[],
            retired: &[],
            registry: &offline,
            targets: &[],
        })?;
        let store = SledStore::open(&global.state_dir, &config.name, command)
            .with_context(|| format!("opening the state of stack '{}'", config.name))?;
        let clients = stackup_aws::AwsClients::load(&config.region).await;
        Ok(Session {
            registry: stackup_aws::registry(&clients),
            clients,
            config,
            program,
            graph,
            store: Arc::new(store),
        })
    }

    /// Objects tagged with this stack that state does not know, over every type the
    /// program declares or state records.
    pub async fn unmanaged(&self, records: &[ResourceRecord]) -> anyhow::Result<Vec<stackup_executor::ResourceDrift>> {
        let mut types: Vec<stackup_model::TypeToken> = self
            .program
            .goals
            .iter()
            .map(|g| g.ty.clone())
            .chain(records.iter().map(|r| r.ty.clone()))
            .collect();
        types.sort();
        types.dedup();
        let mut known: std::collections::BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
        known.extend(self.store.retired()?.into_iter().map(|r| r.id));
        stackup_executor::unmanaged(&self.registry, &self.config.name, &types, &known)
            .await
            .context("listing the stack's tagged objects in AWS")
    }

    /// Resolves the journal entries an interrupted run left (see
    /// crates/executor/src/recover.rs) and says what it did on stderr.
    pub async fn recover(&self) -> anyhow::Result<()> {
        let dependencies = self
            .program
            .goals
            .iter()
            .map(|g| (g.urn.clone(), g.dependencies()))
            .collect();
        let recovery = stackup_executor::recover(&self.registry, self.store.as_ref(), &self.config.name, &dependencies)
            .await
            .context("resolving operations a previous run left unfinished")?;
        for (urn, id) in &recovery.adopted {
            eprintln!("recovered: {urn} was created by an interrupted run as {id}; it is now recorded");
        }
        if recovery.settled > 0 && recovery.adopted.is_empty() {
            eprintln!(
                "recovered: {} unfinished operation(s) of an interrupted run settled",
                recovery.settled
            );
        }
        if !recovery.ambiguous.is_empty() {
            let list: Vec<String> = recovery
                .ambiguous
                .iter()
                .map(|(urn, ids)| format!("{urn}: {}", ids.join(", ")))
                .collect();
            anyhow::bail!(
                "an interrupted run left more than one object claiming the same resource, and stackup will not guess which to keep: {}. Delete the extra object(s) in AWS (or adopt one with `stackup import`), then run again",
                list.join("; ")
            );
        }
        Ok(())
    }

    pub fn records(&self) -> anyhow::Result<Vec<ResourceRecord>> {
        Ok(self.store.records()?)
    }

    /// Plans the program against `current` (destroy plans live in crates/planner's
    /// destroy module).
    pub fn plan(&self, current: &[ResourceRecord], targets: &[Urn]) -> anyhow::Result<Plan> {
        let (goals, graph) = (&self.program.goals[..], &self.graph);
        let retired = self.store.retired()?;
        Ok(plan(PlanRequest {
            stack: &self.config.name,
            goals,
            graph,
            current,
            retired: &retired,
            registry: &self.registry,
            targets,
        })?)
    }

    /// Parses `--target` URNs; each must be declared by the program or recorded.
    pub fn targets(&self, raw: &[String], records: &[ResourceRecord]) -> anyhow::Result<Vec<Urn>> {
        raw.iter()
            .map(|t| {
                let urn = Urn::parse(t).map_err(|e| anyhow::anyhow!("--target {t}: {e}"))?;
                let known = self.graph.contains(&urn) || records.iter().any(|r| r.urn == urn);
                anyhow::ensure!(
                    known,
                    "--target {t}: the stack neither declares nor records this resource (see `stackup state list`)"
                );
                Ok(urn)
            })
            .collect()
    }
}
