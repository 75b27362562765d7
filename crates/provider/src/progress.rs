//! What a provider call is waiting for, told to whoever runs it.
//!
//! A create or delete can take minutes while AWS moves an object through its states.
//! The provider's waiter calls [`report`] with what it saw on each poll ("NAT gateway
//! nat-0abc: pending"); the engine runs each operation inside [`scope`] and shows the
//! latest report beside a step that has been running for a while, so a stuck step says
//! what it is stuck on. Outside a scope (tests, the sweep) reports go nowhere.

use std::future::Future;
use std::sync::Arc;

/// Receives a provider's status reports.
pub type Reporter = Arc<dyn Fn(String) + Send + Sync>;

tokio::task_local! {
    static REPORTER: Reporter;
}

/// Runs `f` with `reporter` receiving every [`report`] made inside it (on this task).
pub async fn scope<F: Future>(reporter: Reporter, f: F) -> F::Output {
    REPORTER.scope(reporter, f).await
}

/// Tells the surrounding [`scope`], if any, what the current call is waiting for.
pub fn report(status: impl Into<String>) {
    let status = status.into();
    let _ = REPORTER.try_with(|r| r(status));
}
