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
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The factor every provider pause is multiplied by: 1 (real time) unless a benchmark
/// runs AWS's durations faster (the proxy's time scale) and wants the engine's polls
/// and retry pauses to keep the same proportion to them as on AWS. Stored as f64 bits.
static TIME_SCALE: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000); // 1.0

/// Makes every provider pause (polls, retry pauses) `scale` times as long, for a
/// benchmark that runs AWS's durations at that scale. Deadlines are not scaled.
/// Process-wide; the `stackup` binary never calls it.
pub fn set_time_scale(scale: f64) {
    let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
    TIME_SCALE.store(scale.to_bits(), Ordering::Relaxed);
}

/// `pause` at the time scale (see [`set_time_scale`]), at least a millisecond.
pub fn scaled(pause: Duration) -> Duration {
    let scale = f64::from_bits(TIME_SCALE.load(Ordering::Relaxed));
    if scale == 1.0 {
        return pause;
    }
    pause.mul_f64(scale).max(Duration::from_millis(1))
}

/// Sleeps for `pause` at the time scale: every provider's pause between polls or
/// retries goes through here.
pub async fn pause(pause: Duration) {
    tokio::time::sleep(scaled(pause)).await;
}

/// The longest wait between a poll that saw the wanted state and the poll confirming it.
const CONFIRM_DELAY: Duration = Duration::from_secs(2);

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
        // A confirmation poll comes soon after the first sight of the wanted state: it
        // checks that the state holds, and should not cost a whole grown delay.
        let next = if in_a_row > 0 { delay.min(CONFIRM_DELAY) } else { delay };
        pause(next).await;
        delay = (delay * 3 / 2).min(patience.max_delay);
    }
}
