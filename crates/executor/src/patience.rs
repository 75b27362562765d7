//! Repeating reads that fail for a moment.
//!
//! A read (`read`, `list`, `find`) changes nothing, so repeating it is always safe. Two
//! failures of a read pass within seconds and are worth waiting out rather than failing
//! a whole refresh or recovery for: throttling or a 5xx outlasting the SDK's own
//! retries, and a "not found" *error* (as opposed to an object missing from the answer)
//! from a follow-up call on an object the read has just listed, which is AWS's eventual
//! consistency in the moments after a create.

use std::future::Future;
use std::time::Duration;

use stackup_provider::{ErrorKind, ProviderError};

/// Attempts of one read: waits of 0.25, 0.5, 1, 2, 4 and 8 s between them (about 16 s
/// in all, several times the consistency window AWS documents for EC2).
const READ_ATTEMPTS: u32 = 7;
const FIRST_DELAY: Duration = Duration::from_millis(250);

/// `read()`, repeated with backoff while it fails with "not found" or a retryable error.
pub(crate) async fn patiently<T, F, Fut>(mut read: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut delay = FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match read().await {
            Err(e) if attempt < READ_ATTEMPTS && (e.kind == ErrorKind::NotFound || e.kind.is_retryable()) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}
