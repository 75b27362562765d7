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
pub(crate) async fn patiently<T, F, Fut>(read: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    patiently_from(FIRST_DELAY, read).await
}

/// Whether a read that failed with `e` is worth repeating.
fn worth_repeating(e: &ProviderError) -> bool {
    e.kind == ErrorKind::NotFound || e.kind.is_retryable()
}

/// The wait after failed attempt `attempt` (counted from 1), doubling from `first`; none
/// after the last attempt.
fn wait_after(attempt: u32, first: Duration) -> Option<Duration> {
    (attempt < READ_ATTEMPTS).then(|| first * 2u32.pow(attempt - 1))
}

/// [`patiently`] with its first wait given, so tests need not sleep for seconds.
async fn patiently_from<T, F, Fut>(first: Duration, mut read: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        match read().await {
            Err(e) if worth_repeating(&e) => match wait_after(attempt, first) {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const EVERY_KIND: [ErrorKind; 9] = [
        ErrorKind::NotFound,
        ErrorKind::Throttled,
        ErrorKind::DependencyViolation,
        ErrorKind::Conflict,
        ErrorKind::Invalid,
        ErrorKind::AccessDenied,
        ErrorKind::Transient,
        ErrorKind::Unreachable,
        ErrorKind::Other,
    ];

    fn failure(kind: ErrorKind, message: &str) -> ProviderError {
        ProviderError::new(kind, message)
    }

    #[test]
    fn the_production_waits_go_from_a_quarter_second_doubling_to_eight_seconds() {
        let waits: Vec<Duration> = (1..).map_while(|attempt| wait_after(attempt, FIRST_DELAY)).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(250), ms(500), ms(1000), ms(2000), ms(4000), ms(8000)]);
        assert_eq!(
            waits.iter().sum::<Duration>(),
            ms(15_750),
            "about 16 s in all before giving up"
        );
    }

    #[test]
    fn each_wait_doubles_the_one_before_until_the_last_attempt_which_has_none() {
        let first = Duration::from_millis(3);
        assert_eq!(wait_after(1, first), Some(first), "the first wait is the one given");
        for attempt in 2..READ_ATTEMPTS {
            let before = wait_after(attempt - 1, first).expect("a wait before the last attempt");
            assert_eq!(wait_after(attempt, first), Some(before * 2), "after attempt {attempt}");
        }
        assert_eq!(wait_after(READ_ATTEMPTS, first), None, "no wait after the last attempt");
        assert_eq!(wait_after(READ_ATTEMPTS + 1, first), None);
    }

    #[test]
    fn only_not_found_throttling_and_transient_failures_are_worth_repeating() {
        let repeated: Vec<ErrorKind> = EVERY_KIND
            .into_iter()
            .filter(|kind| worth_repeating(&failure(*kind, "x")))
            .collect();
        assert_eq!(
            repeated,
            [ErrorKind::NotFound, ErrorKind::Throttled, ErrorKind::Transient]
        );
    }

    #[tokio::test]
    async fn a_read_that_succeeds_is_made_once() {
        let mut calls = 0;
        let got = patiently(|| {
            calls += 1;
            async { Ok::<_, ProviderError>("vpc-1") }
        })
        .await;
        assert_eq!(got, Ok("vpc-1"));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn a_failure_not_worth_repeating_is_returned_at_once_without_waiting() {
        for kind in EVERY_KIND.into_iter().filter(|k| !worth_repeating(&failure(*k, "x"))) {
            let mut calls = 0;
            let start = Instant::now();
            let got: Result<(), _> = patiently(|| {
                calls += 1;
                async move { Err(failure(kind, "refused")) }
            })
            .await;
            assert_eq!(got, Err(failure(kind, "refused")));
            assert_eq!(calls, 1, "{kind:?} is not repeated");
            assert!(start.elapsed() < FIRST_DELAY, "{kind:?} did not wait");
        }
    }

    #[tokio::test]
    async fn a_read_not_found_at_first_is_repeated_after_the_first_wait() {
        let mut calls = 0;
        let start = Instant::now();
        let got = patiently(|| {
            calls += 1;
            let n = calls;
            async move {
                if n == 1 {
                    Err(failure(ErrorKind::NotFound, "not yet"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got, Ok(2));
        assert!(start.elapsed() >= FIRST_DELAY, "waited {:?}", start.elapsed());
    }

    #[tokio::test]
    async fn passing_failures_are_waited_out_with_growing_waits() {
        let first = Duration::from_millis(5);
        let mut times = Vec::new();
        let got = patiently_from(first, || {
            times.push(Instant::now());
            let n = times.len();
            async move {
                match n {
                    1 => Err(failure(ErrorKind::NotFound, "not yet")),
                    2 => Err(failure(ErrorKind::Throttled, "slow down")),
                    3 => Err(failure(ErrorKind::Transient, "503")),
                    _ => Ok("found"),
                }
            }
        })
        .await;
        assert_eq!(got, Ok("found"));
        assert_eq!(times.len(), 4);
        for (i, pair) in times.windows(2).enumerate() {
            let gap = pair[1] - pair[0];
            let expected = first * 2u32.pow(i as u32);
            assert!(gap >= expected, "wait {} was {gap:?}, less than {expected:?}", i + 1);
        }
    }

    #[tokio::test]
    async fn a_read_that_keeps_failing_gives_up_after_seven_attempts_with_the_last_error() {
        let mut calls = 0;
        let start = Instant::now();
        let got: Result<(), _> = patiently_from(Duration::from_millis(1), || {
            calls += 1;
            let message = format!("attempt {calls}");
            async move { Err(failure(ErrorKind::Throttled, &message)) }
        })
        .await;
        assert_eq!(calls, READ_ATTEMPTS);
        assert_eq!(calls, 7);
        assert_eq!(got, Err(failure(ErrorKind::Throttled, "attempt 7")));
        // 1 + 2 + 4 + 8 + 16 + 32 ms of waits.
        assert!(
            start.elapsed() >= Duration::from_millis(63),
            "waited {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_failure_not_worth_repeating_ends_the_retries_it_interrupts() {
        let mut calls = 0;
        let got: Result<(), _> = patiently_from(Duration::from_millis(1), || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(failure(ErrorKind::NotFound, "not yet"))
                } else {
                    Err(failure(ErrorKind::AccessDenied, "denied"))
                }
            }
        })
        .await;
        assert_eq!(calls, 3);
        assert_eq!(got, Err(failure(ErrorKind::AccessDenied, "denied")));
    }
}
