//! Command-line arguments, parsed by clap into typed commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// The stack: NAME reads stacks/NAME.toml; a path to a .toml file reads that file
    /// [default: dev]. For `ls` and `reap`: only this stack (otherwise every stack).
    #[arg(long = "stack", value_name = "STACK", global = true, env = "STACKUP_STACK")]
    pub stack_arg: Option<String>,
    /// Where local state lives.
    #[arg(long, global = true, env = "STACKUP_STATE_DIR", default_value = "state")]
    pub state_dir: PathBuf,
    /// Show every attribute of every change in a plan (by default, one line per
    /// resource with the keys that change).
    #[arg(long = "diff", global = true)]
    pub detail: bool,
    /// Log what stackup does on stderr: -v its steps (who it acts as, waits, retries),
    /// -vv also every AWS request. RUST_LOG (tracing's filter syntax) overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    /// The stack the command works on: `--stack` (or `STACKUP_STACK`), else `dev`.
    pub fn stack(&self) -> &str {
        self.stack_arg.as_deref().unwrap_or("dev")
    }

    /// The stack name `ls` and `reap` are limited to, when `--stack` names one: the
    /// name a stack file gives (its `name`, or its file name), or the bare name.
    pub fn scope(&self) -> Option<String> {
        let arg = self.stack_arg.as_deref()?;
        if arg.ends_with(".toml") || arg.contains('/') {
            let name = crate::stackfile::StackFile::read_unchecked(arg)
                .map(|f| f.name)
                .unwrap_or_else(|_| stackup_model::stackfile::name_from_file(std::path::Path::new(arg)));
            return Some(name);
        }
        Some(arg.to_string())
    }
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

/// Arguments of `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// How many AWS operations may run at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Only this resource and what it depends on (repeatable).
    #[arg(long = "target", value_name = "URN")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub refresh: RefreshArgs,
    /// Print the plan and the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// A demo stack's time to live: record that it expires this long from now, for
    /// `stackup reap` (a number and a unit: 30m, 4h, 2d, 1h 30m).
    #[arg(long, value_name = "DURATION", value_parser = crate::teardown::parse_ttl)]
    pub ttl: Option<u64>,
    /// Apply exactly the plan `stackup diff --out FILE` saved: refused, naming what
    /// moved, when state, the program or AWS changed since.
    #[arg(long = "plan", value_name = "FILE", conflicts_with = "targets")]
    pub plan: Option<PathBuf>,
}

/// Arguments of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation; with --sweep, delete (otherwise a dry run).
    #[arg(long)]
    pub yes: bool,
    /// How many operations run at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    #[command(flatten)]
    pub refresh: RefreshArgs,
    /// Print the result as JSON on stdout (shapes: README, "JSON output").
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
    Up(UpArgs),
    /// Show what `up` would do. Exit 0: nothing to do; 2: changes or drift; 1: error.
    Diff {
        /// Print the result as JSON on stdout (shapes: README, "JSON output").
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        refresh: RefreshArgs,
        /// When there is drift or something to do, publish a summary to this SNS topic
        /// (for scheduled drift checks).
        #[arg(long, value_name = "TOPIC_ARN")]
        notify_topic: Option<String>,
        /// Save the plan to FILE, for `stackup up --plan FILE` to apply exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete every resource of the stack (or a part of it), dependents first; with
    /// --sweep, everything tagged with the stack, state or no state.
    Destroy(DestroyArgs),
    /// List the stacks with state under the state directory: age, expiry, resources.
    Ls {
        /// Print the result as JSON on stdout (shapes: README, "JSON output").
        #[arg(long)]
        json: bool,
    },
    /// Destroy every stack whose expiry (`up --ttl`) has passed; a dry run unless --yes.
    /// For cron.
    Reap {
        /// Destroy them (otherwise only say what would be destroyed).
        #[arg(long)]
        yes: bool,
        /// How many operations run at once.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallel: u16,
    },
    /// Read every recorded resource from AWS and record what is live; report what changed.
    /// Exit 0: nothing drifted; 2: state was updated with drift; 1: error.
    Refresh {
        /// Print the result as JSON on stdout (shapes: README, "JSON output").
        #[arg(long)]
        json: bool,
    },
    /// Print the stack's outputs.
    Outputs {
        /// Print the result as JSON on stdout (shapes: README, "JSON output").
        #[arg(long)]
        json: bool,
    },
    /// Draw the stack: VPCs, zones and subnets as boxes, resources in them (with their
    /// ids once deployed), dependencies and the traffic security groups allow. Reads
    /// the stack file and state only.
    Graph {
        /// draw.io (opens in diagrams.net), Graphviz DOT, or Mermaid (GitHub renders it).
        #[arg(long, value_enum, default_value_t = GraphFormat::Drawio)]
        format: GraphFormat,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
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

/// What `stackup graph` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Drawio,
    Dot,
    Mermaid,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List recorded resources.
    List {
        /// Print the result as JSON on stdout (shapes: README, "JSON output").
        #[arg(long)]
        json: bool,
    },
    /// Show one recorded resource.
    Show {
        /// The resource's URN (`stackup state list` shows them).
        urn: String,
        /// Print the result as JSON on stdout (shapes: README, "JSON output").
        #[arg(long)]
        json: bool,
    },
    /// Forget one resource without touching AWS (refused while others depend on it).
    Rm {
        /// The resource's URN (`stackup state list` shows them).
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
        /// An export written by `stackup state export`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// One entry per run: when, who, what command, what it changed.
    History {
        /// Print the result as JSON on stdout (shapes: README, "JSON output").
        #[arg(long)]
        json: bool,
    },
    /// Restore the records history entry N left (AWS is not touched).
    Rollback {
        /// The run whose records to restore: its number in `stackup state history`.
        #[arg(long = "to", value_name = "N")]
        to: u64,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every flag and argument of every command says what it does in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, blank: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    blank.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), blank);
            }
        }
        let mut blank = Vec::new();
        walk(&Cli::command(), "stackup", &mut blank);
        assert!(blank.is_empty(), "arguments without help: {blank:?}");
    }
}
