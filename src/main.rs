//! The `stackup` binary: the only place that parses arguments, prints, or knows about
//! terminals. Libraries return typed errors; this maps them to exit codes.
//!
//! Exit codes: 0 success (for `diff`: nothing to do), 1 error, 2 (`diff` only) changes
//! or drift, 130 aborted by a second Ctrl-C.

mod cli;
mod commands;
mod render;
mod session;
mod state_cmd;
mod teardown;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            render::error(&e);
            ExitCode::from(1)
        }
    }
}
