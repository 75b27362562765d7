//! Command-line arguments, parsed by clap into typed commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// stackup: provision, change and destroy AWS infrastructure from a typed program.
#[derive(Debug, Parser)]
#[command(name = "stackup", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The stack: NAME reads stacks/NAME.toml; a path to a .toml file reads that file.
    #[arg(long, global = true, env = "STACKUP_STACK", default_value = "dev")]
    pub stack: String,
    /// Where local state lives.
    #[arg(long, global = true, env = "STACKUP_STATE_DIR", default_value = "state")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct RefreshArgs {
    /// Plan from recorded state alone, without reading AWS first.
    #[arg(long, conflicts_with = "refresh")]
    pub no_refresh: bool,
    /// Read live state from AWS before planning (the default).
    #[arg(long)]
    pub refresh: bool,
}

/// Arguments of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation; with --sweep, delete (otherwise a dry run).
    #[arg(long)]
    pub yes: bool,
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    #[command(flatten)]
    pub refresh: RefreshArgs,
    #[arg(long)]
    pub json: bool,
    /// Only this resource and everything that depends on it (repeatable).
    #[arg(long = "target", value_name = "URN")]
    pub targets: Vec<String>,
    /// Keep this resource and everything it depends on (repeatable).
    #[arg(long = "exclude", value_name = "URN")]
    pub excludes: Vec<String>,
    /// Empty buckets that hold objects (every version and delete marker) even where
    /// storage.force_destroy is false.
    #[arg(long)]
    pub empty_buckets: bool,
    /// Find every object tagged stackup:stack=<stack> in AWS, state or no state (also
    /// when local state is lost), and delete them in dependency order. A dry run unless
    /// --yes.
    #[arg(long, conflicts_with_all = ["targets", "excludes"])]
    pub sweep: bool,
    /// With --sweep: delete databases without a final snapshot (by default a sweep
    /// keeps one, as state no longer says whether to).
    #[arg(long, requires = "sweep")]
    pub skip_final_snapshot: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, update, replace and delete resources until AWS matches the program.
    Up {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// How many AWS operations may run at once.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallel: u16,
        /// Only this resource and what it depends on (repeatable).
        #[arg(long = "target", value_name = "URN")]
        targets: Vec<String>,
        #[command(flatten)]
        refresh: RefreshArgs,
        /// Print the plan and the result as JSON.
        #[arg(long)]
        json: bool,
        /// A demo stack's time to live: record that it expires this long from now, for
        /// `stackup reap` (a number and a unit: 30m, 4h, 2d, 1h 30m).
        #[arg(long, value_name = "DURATION", value_parser = crate::teardown::parse_ttl)]
        ttl: Option<u64>,
    },
    /// Show what `up` would do. Exit 0: nothing to do; 2: changes or drift; 1: error.
    Diff {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        refresh: RefreshArgs,
        /// When there is drift or something to do, publish a summary to this SNS topic
        /// (for scheduled drift checks).
        #[arg(long, value_name = "TOPIC_ARN")]
        notify_topic: Option<String>,
    },
    /// Delete every resource of the stack (or a part of it), dependents first; with
    /// --sweep, everything tagged with the stack, state or no state.
    Destroy(DestroyArgs),
    /// List the stacks with state under the state directory: age, expiry, resources.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Destroy every stack whose expiry (`up --ttl`) has passed; a dry run unless --yes.
    /// For cron.
    Reap {
        /// Destroy them (otherwise only say what would be destroyed).
        #[arg(long)]
        yes: bool,
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallel: u16,
    },
    /// Read every recorded resource from AWS and record what is live; report what changed.
    /// Exit 0: nothing drifted; 2: state was updated with drift; 1: error.
    Refresh {
        #[arg(long)]
        json: bool,
    },
    /// Print the stack's outputs.
    Outputs {
        #[arg(long)]
        json: bool,
    },
    /// Inspect and repair recorded state (never touches AWS).
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Adopt an existing AWS object as `<stack>::TYPE::NAME` (reads AWS, changes nothing
    /// there), then suggest `stackup diff`.
    Import {
        /// Resource type, e.g. aws:ec2:Vpc.
        #[arg(value_name = "TYPE")]
        ty: String,
        /// The name in the URN, as the program declares it.
        name: String,
        /// The AWS id or ARN of the object.
        id: String,
    },
    /// Remove the stack's lock file; refused while a live run holds it unless --force.
    Unlock {
        /// Remove it even though a live process holds it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List recorded resources.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one recorded resource.
    Show {
        urn: String,
        #[arg(long)]
        json: bool,
    },
    /// Forget one resource without touching AWS (refused while others depend on it).
    Rm {
        urn: String,
        /// Forget it even though recorded resources depend on it.
        #[arg(long)]
        force: bool,
    },
    /// Write every record (and retired record) as one JSON document.
    Export {
        /// Write to FILE instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Replace the stack's records with those of an export, all at once.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// One entry per run: when, who, what command, what it changed.
    History {
        #[arg(long)]
        json: bool,
    },
    /// Restore the records history entry N left (AWS is not touched).
    Rollback {
        #[arg(long = "to", value_name = "N")]
        to: u64,
    },
}
