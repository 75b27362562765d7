//! What the binary registered (its programs and its clouds' providers), and everything
//! a command needs about its stack, loaded and validated in an order that guarantees
//! bad input is reported before any cloud call and before any state is touched: stack
//! file, program, graph, input checks, then the connected providers (one call checks
//! that the cloud answers and accepts the credentials), then the state store (and its
//! lock). The engine's [`Stack`] is what the operations run on.
//!
//! Programs and providers are plug-ins: the binary registers the ones it ships
//! ([`register`]), and the stack file's `program` key picks a program.

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use stackup_engine::Stack;
use stackup_model::{ProgramDef, TypeToken, Value};
use stackup_provider::{Connection, Notifier, ProviderSet, Registry};
use stackup_state::SledStore;

use crate::cli::Global;
use crate::stackfile::StackFile;

struct Plugins {
    programs: Vec<ProgramDef>,
    providers: Vec<ProviderSet>,
}

/// What this binary runs, registered once at start.
static PLUGINS: OnceLock<Plugins> = OnceLock::new();

/// Registers the programs stack files may name and the providers they run on (the
/// first registration wins).
pub fn register(programs: Vec<ProgramDef>, providers: Vec<ProviderSet>) {
    let _ = PLUGINS.set(Plugins { programs, providers });
}

fn programs() -> &'static [ProgramDef] {
    PLUGINS.get().map(|p| p.programs.as_slice()).unwrap_or_default()
}

fn providers() -> &'static [ProviderSet] {
    PLUGINS.get().map(|p| p.providers.as_slice()).unwrap_or_default()
}

/// Every registered provider with no connection (for the pure input checks).
pub fn offline_registry() -> Registry {
    let mut registry = Registry::new();
    for set in providers() {
        registry.extend((set.offline)());
    }
    registry
}

/// Every registered provider connected to `region`, and the first notifier.
pub async fn connect(region: &str) -> Connection {
    let mut registry = Registry::new();
    let mut notifier = None;
    let mut identity = None;
    for set in providers() {
        let connection = (set.connect)(region.to_string()).await;
        registry.extend(connection.registry);
        notifier = notifier.or(connection.notifier);
        identity = identity.or(connection.identity);
    }
    Connection {
        registry,
        notifier,
        identity,
    }
}

/// Checks, with one call, that the cloud answers and accepts the credentials: an
/// unreachable endpoint or refused credentials are one clear error naming the
/// endpoint, before any work starts, rather than one per resource after every retry.
pub async fn check_identity(connection: &Connection) -> anyhow::Result<()> {
    if let Some(identity) = &connection.identity {
        let who = identity.check().await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
        tracing::info!("acting as {who}");
    }
    Ok(())
}

/// The wave a sweep deletes `ty` in; a type no provider set ranks goes first, as a leaf.
pub fn sweep_rank(ty: &TypeToken) -> u8 {
    providers().iter().find_map(|p| (p.sweep_rank)(ty)).unwrap_or(0)
}

/// What a sweep listing says about deleting `ty`.
pub fn sweep_note(ty: &TypeToken) -> Option<&'static str> {
    providers().iter().find_map(|p| (p.sweep_note)(ty))
}

/// The delete override a destroy flag (`empty-buckets`) stands for, when set.
pub fn delete_overrides(flags: &[(&str, bool)]) -> Vec<(TypeToken, String, Value)> {
    flags
        .iter()
        .filter(|(_, on)| *on)
        .flat_map(|(flag, _)| providers().iter().filter_map(|p| p.delete_override(flag)))
        .map(|o| (TypeToken::from_static(o.ty), o.key.to_string(), Value::Bool(true)))
        .collect()
}

/// Checks a notification destination with the providers that send notices.
pub fn check_topic(topic: &str) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for set in providers() {
        match (set.check_topic)(topic) {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(e),
        }
    }
    anyhow::bail!("--notify-topic {}", errors.join("; "))
}

/// The registered program a stack file names.
fn program_for(file: &StackFile) -> anyhow::Result<ProgramDef> {
    programs()
        .iter()
        .find(|p| p.name == file.program)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = programs().iter().map(|p| p.name).collect();
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
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Session {
    /// Loads and validates the stack, then opens its state under the stack's lock.
    pub async fn open(global: &Global, command: &str) -> anyhow::Result<Session> {
        Session::open_file(global.stack(), &global.state_dir, command).await
    }

    /// [`Session::open`] for the stack file `stack` (a name or a path).
    pub async fn open_file(stack: &str, state_dir: &std::path::Path, command: &str) -> anyhow::Result<Session> {
        let (file, program, graph) = read_program(stack)?;
        // `outputs` reads only records; every other command calls the cloud, so check
        // that it answers before the state is opened (or created).
        let connection = connect(&file.region).await;
        if command != "outputs" {
            check_identity(&connection).await?;
        }
        let store = Arc::new(open_store(state_dir, &file.name, command)?);
        let stack = Stack::new(&file.name, program, graph, store, connection.registry);
        Ok(Session {
            notifier: connection.notifier,
            file,
            stack,
        })
    }
}

/// Reads the stack file `stack` (a name or a path), declares its program and validates
/// it: every problem of the file is reported here, before state or the cloud is touched.
fn read_program(stack: &str) -> anyhow::Result<(StackFile, stackup_model::Program, stackup_graph::DependencyGraph)> {
    // The program reports every problem of the file at once; the common keys are
    // checked again after it, for programs that leave them alone.
    let file = StackFile::read_unchecked(stack)?;
    let program = (program_for(&file)?.declare)(&file.path, &file.text).map_err(|e| anyhow::anyhow!("{e}"))?;
    file.check()?;
    // Providers' input checks are pure: run them against an empty state so that an
    // invalid program fails here, before the store or the cloud is touched.
    let graph = Stack::validate(&file.name, &program, &offline_registry())?;
    Ok((file, program, graph))
}

/// The stack's name and its validated program, from its file alone (`stackup graph`).
pub fn declare(stack: &str) -> anyhow::Result<(String, stackup_model::Program)> {
    let (file, program, _) = read_program(stack)?;
    Ok((file.name, program))
}

/// The name of the stack `arg` (a name or a path) for the commands that need only its
/// state: the stack file's `name` when the file reads; when it is gone or no longer
/// reads, the bare name (or the file's name) as long as state exists under it, with a
/// note on stderr saying so. Otherwise the file's error.
pub fn state_name(arg: &str, state_dir: &std::path::Path) -> anyhow::Result<String> {
    let why = match StackFile::read(arg) {
        Ok(file) => return Ok(file.name),
        Err(e) => e,
    };
    let path = std::path::Path::new(arg);
    let name = if arg.ends_with(".toml") || arg.contains('/') {
        stackup_model::stackfile::name_from_file(path)
    } else {
        arg.to_string()
    };
    if name.is_empty() || !state_dir.join(&name).exists() {
        return Err(why);
    }
    eprintln!(
        "note: {}; working from the state of stack '{name}' alone",
        format!("{why:#}").trim_end()
    );
    Ok(name)
}

/// The stack as its state alone describes it, when its stack file is gone: no program
/// (nothing declared, so a destroy plans from the records), the providers of the region
/// the state recorded (or of `AWS_REGION`). None when the stack file exists: then it
/// is the file's to say (a broken file is an error, never a reason to destroy blind).
pub async fn from_state(global: &Global, command: &str) -> anyhow::Result<Option<Stack>> {
    let arg = global.stack();
    if std::path::Path::new(&StackFile::path_for(arg)).exists() {
        return Ok(None);
    }
    let name = state_name(arg, &global.state_dir)?;
    let store = open_store(&global.state_dir, &name, command)?;
    let region = stackup_state::StateStore::meta(&store, stackup_engine::REGION)?
        .or_else(region_from_environment)
        .ok_or_else(|| {
            anyhow::anyhow!("stack '{name}' has no stack file and its state records no region: set AWS_REGION")
        })?;
    let connection = connect(&region).await;
    check_identity(&connection).await?;
    Ok(Some(programless(&name, store, connection.registry)?))
}

/// The stack from its state alone, with no program and no providers: for `outputs`
/// when the stack file is gone or no longer reads (it reads only records).
pub fn records_only(global: &Global, command: &str) -> anyhow::Result<Stack> {
    let name = state_name(global.stack(), &global.state_dir)?;
    if !global.state_dir.join(&name).exists() {
        anyhow::bail!("stack '{name}' has no state under {}", global.state_dir.display());
    }
    programless(&name, open_store(&global.state_dir, &name, command)?, Registry::new())
}

/// A stack with no program (nothing declared) over `store`: what its records say.
fn programless(name: &str, store: SledStore, registry: Registry) -> anyhow::Result<Stack> {
    let program = stackup_model::Program::default();
    let graph = Stack::validate(name, &program, &registry)?;
    Ok(Stack::new(name, program, graph, Arc::new(store), registry))
}

/// The commands that only look at state: they create none for a stack never deployed
/// here, and read a copy of a state directory this user cannot write.
const LOOKING: [&str; 7] = [
    "diff",
    "graph",
    "outputs",
    "state list",
    "state show",
    "state export",
    "state history",
];

/// Opens the state of stack `name` under the stack's lock (see [`LOOKING`] for the
/// commands that only look).
pub fn open_store(state_dir: &std::path::Path, name: &str, command: &str) -> anyhow::Result<SledStore> {
    let store = if LOOKING.contains(&command) {
        SledStore::open_to_read(state_dir, name, command)
    } else {
        SledStore::open(state_dir, name, command)
    }
    .with_context(|| format!("opening the state of stack '{name}'"))?;
    if let Some(dir) = store.copy_of() {
        eprintln!(
            "note: {} cannot be written by this user; `{command}` reads a copy of it",
            dir.display()
        );
    }
    Ok(store)
}

/// The region the standard AWS environment names, if any.
pub fn region_from_environment() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
}
