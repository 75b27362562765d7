//! Everything a command needs about its stack, loaded and validated in an order that
//! guarantees bad input is reported before any AWS call and before any state is
//! touched: stack file, program, graph, input checks, then the state store (and its
//! lock), then AWS clients. The engine's [`Stack`] is what the operations run on.
//!
//! Programs are plug-ins: the binary registers the ones it ships ([`register`]), and
//! the stack file's `program` key picks one.

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use stackup_engine::Stack;
use stackup_model::{ProgramDef, ResourceRecord};
use stackup_state::SledStore;

use crate::cli::Global;
use crate::stackfile::StackFile;

/// The programs this binary runs, registered once at start.
static PROGRAMS: OnceLock<Vec<ProgramDef>> = OnceLock::new();

/// Registers the programs stack files may name (the first registration wins).
pub fn register(programs: Vec<ProgramDef>) {
    let _ = PROGRAMS.set(programs);
}

/// The registered program a stack file names.
fn program_for(file: &StackFile) -> anyhow::Result<ProgramDef> {
    let programs = PROGRAMS.get().map(Vec::as_slice).unwrap_or_default();
    programs
        .iter()
        .find(|p| p.name == file.program)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = programs.iter().map(|p| p.name).collect();
            anyhow::anyhow!(
                "invalid stack file {}: key 'program': this stackup does not ship a program named '{}' (it ships: {})",
                file.path.display(),
                file.program,
                known.join(", ")
            )
        })
}

/// Whether the program `file` names reads it without a problem.
pub fn declares(file: &StackFile) -> bool {
    program_for(file).is_ok_and(|p| (p.declare)(&file.path, &file.text).is_ok())
}

pub struct Session {
    pub file: StackFile,
    pub stack: Stack,
    pub store: Arc<SledStore>,
    pub clients: stackup_aws::AwsClients,
}

impl Session {
    /// Loads and validates the stack, then opens its state under the stack's lock.
    pub async fn open(global: &Global, command: &str) -> anyhow::Result<Session> {
        // The program reports every problem of the file at once; the common keys are
        // checked again after it, for programs that leave them alone.
        let file = StackFile::read_unchecked(&global.stack)?;
        let program = (program_for(&file)?.declare)(&file.path, &file.text).map_err(|e| anyhow::anyhow!("{e}"))?;
        file.check()?;
        // Providers' input checks are pure: run them against an empty state so that an
        // invalid program fails here, before the store or AWS is touched.
        let graph = Stack::validate(&file.name, &program, &stackup_aws::offline_registry())?;
        let store = Arc::new(
            SledStore::open(&global.state_dir, &file.name, command)
                .with_context(|| format!("opening the state of stack '{}'", file.name))?,
        );
        let clients = stackup_aws::AwsClients::load(&file.region).await;
        let stack = Stack::new(
            &file.name,
            program,
            graph,
            store.clone(),
            stackup_aws::registry(&clients),
        );
        Ok(Session {
            clients,
            file,
            stack,
            store,
        })
    }

    pub fn records(&self) -> anyhow::Result<Vec<ResourceRecord>> {
        Ok(self.stack.records()?)
    }
}
