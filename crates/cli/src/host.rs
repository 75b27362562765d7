//! The terminal as the engine's host: plans rendered (or their JSON on stderr), the
//! confirmation prompt, the live progress view, notices on stderr, and Ctrl-C.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use stackup_engine::{Actor, Cancel, Host};
use stackup_executor::{Observer, ResourceDrift};
use stackup_planner::Plan;
use tokio::task::JoinHandle;

use crate::render;

pub struct Terminal {
    /// Machine-readable output: the plan as JSON on stderr, no progress lines.
    json: bool,
    /// Apply without asking (`--yes`).
    yes: bool,
    /// Show the plan with every attribute (`--diff`).
    detail: bool,
    ticker: Mutex<Option<JoinHandle<()>>>,
    /// The progress view of the run in flight, ended before the summary.
    progress: Mutex<Option<Arc<render::Progress>>>,
    /// `up --plan FILE`: the saved plan (its file, its `diff --json` shape) the run's
    /// own plan must equal.
    expected: Option<(String, serde_json::Value)>,
    /// How the run's plan differed from the expected one.
    moved: Mutex<Vec<String>>,
}

impl Terminal {
    pub fn new(json: bool, yes: bool) -> Terminal {
        Terminal {
            json,
            yes,
            detail: false,
            ticker: Mutex::new(None),
            progress: Mutex::new(None),
            expected: None,
            moved: Mutex::new(Vec::new()),
        }
    }

    /// Applies only a plan equal to `plan` (read from `file`): any other is refused.
    pub fn expecting(mut self, file: &str, plan: serde_json::Value) -> Terminal {
        self.expected = Some((file.to_string(), plan));
        self
    }

    /// Why the run's plan is not the saved one (`up --plan`), if it is not.
    pub fn plan_moved(&self) -> Option<String> {
        let moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
        let (file, _) = self.expected.as_ref()?;
        (!moved.is_empty()).then(|| {
            format!(
                "the plan made now differs from {file}, so nothing was applied: {}. Review the new plan with `stackup diff --out {file}`, then `stackup up --plan {file}`",
                moved.join("; ")
            )
        })
    }

    /// Shows plans with every attribute (`--diff`).
    pub fn detailed(mut self, detail: bool) -> Terminal {
        self.detail = detail;
        self
    }

    /// A host for what only reports (recovery before a read-only command).
    pub fn notices_only() -> Terminal {
        Terminal::new(false, false)
    }
}

impl Host for Terminal {
    fn planned(&self, _stack: &str, _command: &str, plan: &Plan, drift: &[ResourceDrift]) {
        if let Some((_, saved)) = &self.expected {
            let now = stackup_engine::plan_json(plan, &[]);
            *self.moved.lock().unwrap_or_else(|e| e.into_inner()) = crate::saved_plan::differences(saved, &now);
        }
        if self.json {
            if let Ok(text) = serde_json::to_string(&stackup_engine::plan_json(plan, drift)) {
                eprintln!("{text}");
            }
        } else {
            render::plan(plan, drift, self.detail);
        }
    }

    fn confirm(&self, stack: &str, command: &str, _plan: &Plan) -> Result<(), String> {
        if let Some(why) = self.plan_moved() {
            return Err(why);
        }
        if self.yes {
            return Ok(());
        }
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(format!(
                "refusing to run `{command}` on stack '{stack}' without confirmation: standard input is not a terminal; pass --yes"
            ));
        }
        print!("\nApply these changes to stack '{stack}'? Type the stack name to confirm: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        stdin
            .lock()
            .read_line(&mut answer)
            .map_err(|e| format!("reading the confirmation: {e}"))?;
        if answer.trim() != stack {
            return Err("not confirmed; nothing was changed".to_string());
        }
        Ok(())
    }

    fn progress(&self, operations: usize) -> Arc<dyn Observer> {
        let progress = render::Progress::new(operations, self.json);
        let ticker = progress.spawn_ticker();
        if let Some(old) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).replace(ticker) {
            old.abort();
        }
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress.clone());
        progress
    }

    fn applied(&self) {
        if let Some(ticker) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            ticker.abort();
        }
        if let Some(progress) = self.progress.lock().unwrap_or_else(|e| e.into_inner()).take() {
            progress.finish();
        }
    }

    fn notice(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// The user running the command, for the history.
pub fn actor() -> Actor {
    Actor {
        user: user_name(),
        host: stackup_state::hostname(),
    }
}

/// Who runs stackup, for the history: `USER` or `LOGNAME`, else what the system says
/// (`id -un`; a CI container often sets neither variable), else the numeric user id.
fn user_name() -> String {
    let from_env = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()));
    let ask = |args: &[&str]| {
        std::process::Command::new("id")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|u| !u.is_empty())
    };
    from_env
        .or_else(|| ask(&["-un"]))
        .or_else(|| ask(&["-u"]).map(|uid| format!("uid {uid}")))
        .unwrap_or_else(|| "unknown".into())
}

/// What the first Ctrl-C of `up` or `destroy` says.
pub const STOPPING: &str = "stopping: no new operations will start; waiting for those in flight to finish and be recorded (Ctrl-C again aborts at once)";
/// What the second says.
pub const ABORTED: &str = "aborted; the journal in the state store lets the next run find interrupted work";

/// Runs `run` (an engine operation holding `cancel`) with Ctrl-C and SIGTERM wired to
/// it: the first stops new operations (`stopping` says so) and lets the run finish,
/// print its summary and record its history; a second aborts at once with exit code
/// 130 (143 for SIGTERM; `aborted` says what recovers). CI cancellation, `systemctl
/// stop` and `timeout` send SIGTERM: after the first, the command exits 143 once the
/// run is recorded ([`terminated`]).
pub async fn interruptible<T>(
    cancel: &Cancel,
    stopping: &'static str,
    aborted: &'static str,
    run: impl std::future::Future<Output = T>,
) -> T {
    let interrupt = on_interrupt(cancel, stopping, aborted);
    let result = run.await;
    interrupt.abort();
    result
}

static TERMINATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a SIGTERM stopped the run: the process then exits 143, as a shell expects of
/// a command SIGTERM ended.
pub fn terminated() -> bool {
    TERMINATED.load(std::sync::atomic::Ordering::SeqCst)
}

/// The next Ctrl-C or SIGTERM; true for SIGTERM.
async fn signal(term: &mut Option<tokio::signal::unix::Signal>) -> bool {
    let sigterm = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => false,
        _ = sigterm => true,
    }
}

fn on_interrupt(cancel: &Cancel, stopping: &'static str, aborted: &'static str) -> JoinHandle<()> {
    let cancel = cancel.clone();
    // Registered now, before the run starts: SIGTERM no longer kills the process.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::spawn(async move {
        let by_term = signal(&mut term).await;
        if by_term {
            TERMINATED.store(true, std::sync::atomic::Ordering::SeqCst);
            eprintln!("\nSIGTERM received; {stopping}");
        } else {
            eprintln!("\n{stopping}");
        }
        cancel.cancel();
        let again_by_term = signal(&mut term).await;
        eprintln!("{aborted}");
        std::process::exit(if again_by_term { 143 } else { 130 });
    })
}

/// The crash-safety tests' hook: with `STACKUP_TEST_CRASH_AT=<n>` the binary kills
/// itself with SIGKILL at the n-th checkpoint of the write-ahead sequence (journal
/// written / call returned / outcome recorded), so a test can make every window of it
/// happen. Without the variable it costs one relaxed atomic increment.
pub fn crash_test_hook(urn: &stackup_model::Urn, kind: stackup_planner::OpKind, phase: stackup_executor::Checkpoint) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<usize>> = OnceLock::new();
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let target = *TARGET.get_or_init(|| std::env::var("STACKUP_TEST_CRASH_AT").ok().and_then(|v| v.parse().ok()));
    let Some(target) = target else { return };
    if COUNT.fetch_add(1, Ordering::SeqCst) + 1 == target {
        eprintln!(
            "test hook: killing stackup at crash point {target} ({phase:?}, {} {urn})",
            kind.progressive()
        );
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        // kill -9 does not return; if it could not be run, stop anyway.
        std::process::abort();
    }
}
