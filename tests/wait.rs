//! The providers' waiter (`stackup_provider::wait`) and progress reports
//! (`stackup_provider::progress`): polling through eventual consistency and pending
//! states, giving up at the deadline with the last state seen, stopping at once on a
//! failed state or a hard error, and telling the surrounding scope what it waits for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use stackup_provider::progress;
use stackup_provider::wait::{until, Patience, Poll};
use stackup_provider::{ErrorKind, ProviderError};

use crate::support::block_on;

fn err(kind: ErrorKind) -> ProviderError {
    ProviderError::new(kind, "injected")
}

#[test]
fn polls_through_not_found_throttling_and_pending_until_ready() {
    let polls = AtomicUsize::new(0);
    let got = block_on(until("thing t-1", "available", Patience::new(60, 1), || async {
        match polls.fetch_add(1, Ordering::SeqCst) {
            0 => Err(err(ErrorKind::NotFound)),
            1 => Err(err(ErrorKind::Throttled)),
            2 | 3 => Ok(Poll::Pending("pending".into())),
            _ => Ok(Poll::Ready(7)),
        }
    }));
    assert_eq!(got, Ok(7));
    assert_eq!(polls.load(Ordering::SeqCst), 5);
}

#[test]
fn gives_up_at_the_deadline_naming_the_object_and_the_last_state() {
    let polls = AtomicUsize::new(0);
    let e = block_on(until::<(), _, _>(
        "thing t-1",
        "available",
        Patience::new(1, 1),
        || async {
            polls.fetch_add(1, Ordering::SeqCst);
            Ok(Poll::Pending("pending".into()))
        },
    ))
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "a deadline is worth another try: {e}");
    assert!(
        e.message.contains("thing t-1") && e.message.contains("within 1s") && e.message.contains("last seen: pending"),
        "{e}"
    );
    // Polled more than once, and never past the deadline: 50 + 75 + 112 + 168 + 253 ms
    // fit in the second, the next delay would not (fewer polls if the machine is slow).
    let n = polls.load(Ordering::SeqCst);
    assert!((2..=6).contains(&n), "{n} polls");
}

#[test]
fn a_failed_state_or_a_hard_error_ends_the_wait_at_once() {
    let polls = AtomicUsize::new(0);
    let failed = block_on(until::<(), _, _>(
        "thing t-1",
        "available",
        Patience::new(60, 1),
        || async {
            polls.fetch_add(1, Ordering::SeqCst);
            Ok(Poll::Failed("InsufficientCapacity".into()))
        },
    ))
    .unwrap_err();
    assert_eq!(failed.kind, ErrorKind::Other);
    assert!(failed.message.contains("InsufficientCapacity"), "{failed}");
    let denied = block_on(until::<(), _, _>(
        "thing t-1",
        "available",
        Patience::new(60, 1),
        || async {
            polls.fetch_add(1, Ordering::SeqCst);
            Err(err(ErrorKind::AccessDenied))
        },
    ))
    .unwrap_err();
    assert_eq!(denied.kind, ErrorKind::AccessDenied);
    assert_eq!(polls.load(Ordering::SeqCst), 2, "one poll each, no retries");
}

#[test]
fn a_waiter_tells_its_scope_what_it_waits_for() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    let polls = AtomicUsize::new(0);
    let reporter: progress::Reporter = Arc::new(move |s| sink.lock().unwrap().push(s));
    let got = block_on(progress::scope(
        reporter,
        until("NAT gateway nat-1", "available", Patience::new(60, 1), || async {
            match polls.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(Poll::Pending("pending".into())),
                _ => Ok(Poll::Ready(())),
            }
        }),
    ));
    assert_eq!(got, Ok(()));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("waiting for NAT gateway nat-1 to become available: pending"),
        "{seen:?}"
    );
    // Outside a scope a report goes nowhere, and does not fail.
    progress::report("nobody listens");
}
