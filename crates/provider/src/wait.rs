//! Waiting for AWS to move an object into a state: brisk polling, per-type patience,
//! and a report of what is being waited for.
//!
//! The SDK's generated waiters poll no sooner than 15 to 30 seconds after the first
//! look (their Smithy `minDelay`), and most do not retry a "not found" answered in the
//! moments after a create. A NAT gateway that becomes available 2 seconds after the
//! first poll then costs 15 seconds more. These waiters poll 50 ms after the first
//! look, then back off by half again each time up to a per-type ceiling, so the
//! overshoot past the moment AWS is ready stays a small fraction of the wait; the
//! SDK's own retry (adaptive mode) keeps the polling within the service's rate limits.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::{progress, ErrorKind, ProviderError};

/// What one poll saw.
pub enum Poll<T> {
    /// In the wanted state: done, with what the last poll read.
    Ready(T),
    /// Not yet: the state it is in.
    Pending(String),
    /// In a state it will not leave (`failed`, ...): why.
    Failed(String),
}

/// How long to wait for one kind of object, and how far apart polls may grow.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub deadline: Duration,
    pub max_delay: Duration,
    /// How many polls in a row must see the wanted state: AWS may report `available`
    /// for a moment and then move on (an RDS instance goes `available`, then
    /// `backing-up` or `configuring-enhanced-monitoring`), as terraform-provider-aws's
    /// `ContinuousTargetOccurence` guards against.
    pub confirmations: u32,
}

impl Patience {
    pub const fn new(deadline_secs: u64, max_delay_secs: u64) -> Patience {
        Patience {
            deadline: Duration::from_secs(deadline_secs),
            max_delay: Duration::from_secs(max_delay_secs),
            confirmations: 1,
        }
    }

    /// Requires `n` consecutive polls in the wanted state (at least one).
    pub const fn confirmed(mut self, n: u32) -> Patience {
        self.confirmations = if n == 0 { 1 } else { n };
        self
    }
}

/// Delay before the second poll; each later delay is half again the one before.
const FIRST_DELAY: Duration = Duration::from_millis(50);

/// How long a "not found" from a poll counts as AWS's eventual consistency (the object
/// was just created and is not visible everywhere yet) rather than an answer.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(60);

/// Polls `probe` until it answers [`Poll::Ready`], for at most `patience.deadline`.
///
/// `object` names what is waited for ("NAT gateway nat-0abc") and `state` the state
/// wanted ("available"); both appear in progress reports and errors. A poll failing
/// with a retryable error or, within [`NOT_FOUND_GRACE`], with "not found" counts as
/// pending; other errors end the wait. A wait for deletion should answer `Ready` to
/// "not found" in its probe.
pub async fn until<T, F, Fut>(object: &str, state: &str, patience: Patience, mut probe: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ProviderError>>,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    let mut in_a_row = 0;
    loop {
        let polled = probe().await;
        in_a_row = if matches!(polled, Ok(Poll::Ready(_))) {
            in_a_row + 1
        } else {
            0
        };
        let seen = match polled {
            Ok(Poll::Ready(v)) if in_a_row >= patience.confirmations => return Ok(v),
            Ok(Poll::Ready(_)) => format!("{state}, confirming ({in_a_row} of {} polls)", patience.confirmations),
            Ok(Poll::Pending(seen)) => seen,
            Ok(Poll::Failed(why)) => {
                return Err(ProviderError::new(
                    ErrorKind::Other,
                    format!("{object} did not become {state}: {why}"),
                ))
            }
            Err(e) if e.kind == ErrorKind::NotFound && started.elapsed() < NOT_FOUND_GRACE => {
                "not visible yet".to_string()
            }
            Err(e) if e.kind.is_retryable() => format!("poll failed ({e})"),
            Err(e) => return Err(e),
        };
        let waited = started.elapsed();
        progress::report(format!(
            "waiting for {object} to become {state}: {seen} ({}s)",
            waited.as_secs()
        ));
        if waited + delay > patience.deadline {
            return Err(ProviderError::new(
                ErrorKind::Transient,
                format!(
                    "{object} did not become {state} within {}s (last seen: {seen})",
                    patience.deadline.as_secs()
                ),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(patience.max_delay);
    }
}
