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
    /// Delete every resource of the stack, dependents first.
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallel: u16,
        #[command(flatten)]
        refresh: RefreshArgs,
        #[arg(long)]
        json: bool,
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
    /// Inspect recorded state.
    State {
        #[command(subcommand)]
        command: StateCommand,
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
}
