//! The `stackup` command line as a library: arguments to options, the engine's
//! operations, their reports rendered (human or `--json`), exit codes, the terminal
//! (Ctrl-C, the confirmation prompt). The only place that parses arguments, prints, or
//! knows about terminals; libraries return typed errors, this maps them to exit codes.
//!
//! A binary is one call, [`main`], with the programs it runs and the providers they run
//! on: `stackup` ships the e-commerce platform on the AWS providers; a user's own
//! program gets the whole command line the same way (`examples/site`).
//!
//! Exit codes: 0 success (for `diff`: nothing to do), 1 error, 2 (`diff` only) changes
//! or drift, 130 aborted by a second Ctrl-C.

mod cli;
mod commands;
mod detail;
mod host;
mod render;
mod saved_plan;
mod session;
mod stackfile;
mod state_cmd;
mod teardown;

use std::process::ExitCode;

use clap::Parser;
use stackup_model::ProgramDef;
use stackup_provider::ProviderSet;

/// Runs the `stackup` command line (arguments from the process) with `programs` as the
/// programs stack files may name and `providers` as the clouds they run on
/// (`stackup_aws::PROVIDERS`), and returns the exit code.
pub fn main(programs: Vec<ProgramDef>, providers: Vec<ProviderSet>) -> ExitCode {
    // Output piped into `head` closes early: stop quietly instead of panicking. Any other
    // panic is a bug: one line saying so, no backtrace unless RUST_BACKTRACE asks.
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        if text.contains("Broken pipe") || text.contains("failed printing to stdout") {
            std::process::exit(0);
        }
        eprintln!("error: internal error in stackup (please report it): {text}");
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
    // clap exits 2 on a usage error, but 2 means "changes found" to scripts reading
    // `diff`: every user error is 1. Help and version go to stdout with 0.
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    logging(args.global.verbose);
    session::register(programs, providers);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(args)) {
        // Stopped by SIGTERM, the run recorded: exit as a command SIGTERM ended.
        Ok(_) if host::terminated() => ExitCode::from(143),
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            render::error(&e);
            ExitCode::from(1)
        }
    }
}

/// Logs on stderr through `tracing` (the SDK logs there too): stackup's warnings by default, more
/// with each `-v`, or whatever `RUST_LOG` says.
fn logging(verbose: u8) {
    let default = match verbose {
        // The SDK warns of every credential source it tried; the error says it once.
        0 => "error,stackup=warn,stackup_cli=warn,stackup_engine=warn,stackup_executor=warn,stackup_aws=warn",
        1 => "warn,stackup=info,stackup_cli=info,stackup_engine=info,stackup_executor=info,stackup_aws=info",
        _ => "info,stackup=debug,stackup_cli=debug,stackup_engine=debug,stackup_executor=debug,stackup_aws=debug,aws_smithy_runtime=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// One command: the function that runs it.
async fn dispatch(cli: cli::Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match cli.command {
        cli::Command::Up(args) => commands::up(g, args).await,
        cli::Command::Diff {
            json,
            refresh,
            notify_topic,
            out,
        } => commands::diff(g, refresh, json, notify_topic.as_deref(), out.as_deref()).await,
        cli::Command::Destroy(args) => teardown::destroy(g, args).await,
        cli::Command::Ls { json } => teardown::ls(g, json),
        cli::Command::Reap { yes, parallel } => teardown::reap(g, yes, parallel.into()).await,
        cli::Command::Refresh { json } => commands::refresh_state(g, json).await,
        cli::Command::Outputs { json } => commands::outputs(g, json).await,
        cli::Command::Graph { format, output } => commands::graph(g, format, output.as_deref()),
        cli::Command::State { command } => state_cmd::run(g, command).await,
        cli::Command::Import { ty, name, id } => state_cmd::import(g, &ty, &name, &id).await,
        cli::Command::Unlock { force } => state_cmd::unlock(g, force),
    }
}
