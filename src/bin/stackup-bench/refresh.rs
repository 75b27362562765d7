//! Refresh time and API calls for synthetic stacks of 100 to 10000 resources deployed
//! into moto, beside a refresh that reads one resource per call (as Terraform does).
//!
//! Each size gets a moto of its own (with the call recorder), which goes away when the
//! size is done: moto's filtered describes scan every object it holds, so a previous
//! size's leftovers would slow the next one down, and tearing 10000 resources down
//! through the API would cost minutes that measure nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stackup_executor::refresh;
use stackup_model::ResourceRecord;
use stackup_provider::Registry;
use stackup_state::{SledStore, StateStore};
use stackup_testkit::{aws_registry, synthetic_program, up, Moto};

use crate::stats::{median_seconds, round4};

const SIZES: [usize; 3] = [100, 1000, 10_000];

/// Timed refreshes per size; the median is reported.
const REPEATS: usize = 3;

/// Concurrent operations while deploying a synthetic stack: moto serves requests on
/// threads, and deploy time dominates the bench at 10000 resources.
const DEPLOY_PARALLEL: usize = 32;

/// Concurrent reads for the one-read-per-resource refresh: the same 16 as earlier runs
/// of this bench, so the figures stay comparable.
const PER_RESOURCE_PARALLEL: usize = 16;

/// Runs every size and prints the table; returns the figures.
pub async fn measure() -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let state = bench_dir()?;
    let result = measure_in(&state).await;
    // The sled stores are scratch: gone whether the measurement worked or not.
    let _ = std::fs::remove_dir_all(&state);
    result
}

async fn measure_in(state: &std::path::Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut figures = serde_json::Map::new();
    println!("refresh of synthetic stacks (VPCs, subnets, security groups, rules) against moto");
    println!(
        "{:>10} {:>12} {:>8} {:>14} {:>16} {:>15} {:>19}",
        "resources",
        "deploy (s)",
        "calls",
        "calls/resource",
        "seconds (median)",
        "per-resource: calls",
        "per-resource secs"
    );
    for n in SIZES {
        let moto = Moto::dedicated_with_recorder();
        let registry = aws_registry(&moto.endpoint);
        let stack = format!("bench{n}");
        let store: Arc<dyn StateStore> =
            Arc::new(SledStore::open(state, &stack, "bench").map_err(|e| format!("state for {stack}: {e}"))?);
        let program = synthetic_program(&stack, n);
        let started = Instant::now();
        up(&registry, store.clone(), &stack, &program, DEPLOY_PARALLEL)
            .await
            .map_err(|e| format!("deploying {n} synthetic resources: {e}"))?;
        let deploy = started.elapsed().as_secs_f64();
        let records = store.records().map_err(|e| e.to_string())?;
        let resources = records.len();

        let (calls, seconds) = measure_calls(&moto, REPEATS, || async {
            refresh(&registry, &records)
                .await
                .map(|_| ())
                .map_err(|e| format!("refresh of {n} resources: {e}"))
        })
        .await?;
        let (naive_calls, naive_seconds) =
            measure_calls(&moto, REPEATS, || one_read_per_resource(&registry, &records)).await?;
        let per_resource = calls as f64 / resources as f64;
        println!(
            "{resources:>10} {deploy:>12.1} {calls:>8} {per_resource:>14.4} {seconds:>16.3} {naive_calls:>19} {naive_seconds:>19.3}"
        );
        figures.insert(format!("deploy_seconds_{n}"), json!(round4(deploy)));
        figures.insert(format!("refresh_calls_{n}"), json!(calls));
        figures.insert(format!("refresh_seconds_{n}"), json!(round4(seconds)));
        figures.insert(format!("refresh_calls_per_resource_{n}"), json!(round4(per_resource)));
        figures.insert(format!("per_resource_refresh_calls_{n}"), json!(naive_calls));
        figures.insert(
            format!("per_resource_refresh_seconds_{n}"),
            json!(round4(naive_seconds)),
        );
        // Dropping the store closes its database before the directory goes; dropping
        // moto stops the server with everything deployed into it.
        drop(store);
        drop(moto);
    }
    println!();
    Ok(figures)
}

/// Runs `f` `repeats` times; returns the calls of one run and the median seconds.
async fn measure_calls<F, Fut>(moto: &Moto, repeats: usize, f: F) -> Result<(usize, f64), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut times: Vec<Duration> = Vec::new();
    let mut calls = 0;
    for _ in 0..repeats {
        moto.start_recording();
        let started = Instant::now();
        f().await?;
        times.push(started.elapsed());
        calls = moto.stop_recording().len();
    }
    Ok((calls, median_seconds(&mut times)))
}

/// Refresh as Terraform does it: one read per resource (here: a batch of one),
/// [`PER_RESOURCE_PARALLEL`] at a time.
async fn one_read_per_resource(registry: &Registry, records: &[ResourceRecord]) -> Result<(), String> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(PER_RESOURCE_PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for r in records {
        let (registry, record, semaphore) = (registry.clone(), r.clone(), semaphore.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await;
            refresh(&registry, std::slice::from_ref(&record)).await.map(|_| ())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("one-resource read: {e}"))?;
    }
    Ok(())
}

/// A scratch directory for this run's state stores.
pub fn bench_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("stackup-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
