//! Questions asked at the same moment, answered by one call: see [`Batcher`].

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stackup_provider::ProviderError;
use tokio::sync::OnceCell;

/// How long a batch stays open for more questions after its first. The delete
/// pre-flight checks every object of a plan concurrently, and `diff` lists every type
/// at once, so the questions of one pre-flight or one listing round arrive within it.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// Calls by one filter, batched: the questions asked within [`BATCH_WINDOW`] of each
/// other under the same filter name (`group-id`, `subnet-id`, `vpc-id`,
/// `stackup:stack`) share one call with all their values, and each asker picks its own
/// objects from the answer. A 1,000-resource destroy's pre-flight asks about a hundred
/// groups and sixty subnets: two calls instead of one each (each against EC2's read
/// bucket of 20 per second); the listings of one `diff` that go through the Tagging
/// API make one GetResources. Nothing is cached: a question asked after a batch closed
/// opens the next one.
pub(crate) struct Batcher<T> {
    open: Mutex<HashMap<&'static str, Arc<Batch<T>>>>,
    /// The most values one call takes (EC2: 200 per filter; the Tagging API: 20 tag
    /// values); a full batch closes at once.
    max: usize,
}

struct Batch<T> {
    values: Mutex<BTreeSet<String>>,
    answer: OnceCell<Result<Arc<Vec<T>>, ProviderError>>,
}

impl<T> Batcher<T> {
    pub(crate) fn new(max: usize) -> Batcher<T> {
        Batcher {
            open: Mutex::default(),
            max,
        }
    }
}

impl<T> std::fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<T> Batcher<T> {
    /// Every object `describe` answers for the batch `value` joins under filter `name`
    /// (the asker keeps its own).
    pub(crate) async fn ask<F, Fut>(
        &self,
        name: &'static str,
        value: &str,
        describe: F,
    ) -> Result<Arc<Vec<T>>, ProviderError>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, ProviderError>>,
    {
        let batch = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let batch = open
                .entry(name)
                .or_insert_with(|| {
                    Arc::new(Batch {
                        values: Mutex::default(),
                        answer: OnceCell::new(),
                    })
                })
                .clone();
            let mut values = batch.values.lock().unwrap_or_else(|e| e.into_inner());
            values.insert(value.to_string());
            if values.len() >= self.max {
                open.remove(name);
            }
            drop(values);
            batch
        };
        batch
            .answer
            .get_or_init(|| async {
                tokio::time::sleep(BATCH_WINDOW).await;
                let values: Vec<String> = {
                    let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
                    if open.get(name).is_some_and(|b| Arc::ptr_eq(b, &batch)) {
                        open.remove(name);
                    }
                    let values = batch.values.lock().unwrap_or_else(|e| e.into_inner());
                    values.iter().cloned().collect()
                };
                describe(values).await.map(Arc::new)
            })
            .await
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn questions_asked_together_share_one_describe_and_later_ones_ask_again() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let batcher: Batcher<String> = Batcher::new(200);
        let calls = AtomicUsize::new(0);
        let asked: Mutex<Vec<Vec<String>>> = Mutex::default();
        let describe = |values: Vec<String>| {
            calls.fetch_add(1, Ordering::SeqCst);
            asked.lock().unwrap_or_else(|e| e.into_inner()).push(values.clone());
            async move { Ok::<_, ProviderError>(values.iter().map(|v| format!("object of {v}")).collect()) }
        };
        runtime.block_on(async {
            let (a, b, c) = tokio::join!(
                batcher.ask("group-id", "sg-1", describe),
                batcher.ask("group-id", "sg-2", describe),
                batcher.ask("subnet-id", "subnet-1", describe),
            );
            let a = a.expect("answered");
            assert_eq!(*a, ["object of sg-1", "object of sg-2"], "one answer for both groups");
            assert!(Arc::ptr_eq(&a, &b.expect("answered")));
            assert_eq!(
                *c.expect("answered"),
                ["object of subnet-1"],
                "another filter, another call"
            );
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            // The batch closed with its answer: a later question makes a call of its own.
            let d = batcher.ask("group-id", "sg-3", describe).await.expect("answered");
            assert_eq!(*d, ["object of sg-3"]);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let asked = asked.into_inner().unwrap_or_else(|e| e.into_inner());
        assert!(
            asked.iter().any(|values| values == &["sg-1", "sg-2"]),
            "both groups in one call: {asked:?}"
        );
    }
}
