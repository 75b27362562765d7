//! Containment for panics raised inside sled.
//!
//! sled 0.34 may panic instead of returning an error when the bytes it reads back are
//! not what it wrote. A damaged store is a user's problem to fix, not a bug to report
//! with a backtrace, so the calls that read the database run under [`contain`]: a panic
//! becomes a plain message, and the default panic output is silenced for that thread
//! while the call runs (and only then: real bugs elsewhere still print as usual).

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while a contained call runs on this thread.
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
    /// The message of the last panic contained on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Wraps the process's panic hook once: panics on a thread inside [`contain`] are
/// recorded instead of printed; every other panic goes to the previous hook unchanged.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                let location = info
                    .location()
                    .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{location}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it comes back as `Err(message)` instead of unwinding
/// further or printing a backtrace.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    // Nested calls must not clear the flag of the outer one.
    let outer = CONTAINED.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(outer));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "sled panicked".to_string())
    })
}
