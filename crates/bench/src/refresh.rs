//! Refresh time and API calls for synthetic stacks of 100 to 10000 resources deployed
//! into moto, beside a refresh that reads one resource per call (as Terraform does).
//!
//! Each size gets a moto of its own (with the call recorder), which goes away when the
//! size is done: moto's filtered describes scan every object it holds, so a previous
//! size's leftovers would slow the next one down, and tearing 10000 resources down
//! through the API would cost minutes that measure nothing.
//!
//! moto, not stackup, sets the pace at 10000: it answers a filter by scanning every
//! object of the type for each value, so one batch of 200 ids costs about 0.6 s
//! (subnets) to 1.8 s (security groups) there, where AWS looks ids up; deploying takes
//! about three minutes and one refresh about as long. The largest size is therefore
//! refreshed once rather than [`REPEATS`] times, and its one-read-per-resource figures
//! are estimated from a sample (every [`SAMPLE_EVERY`]th resource, each read on its
//! own) scaled to the whole stack, to keep the whole bench under ten minutes.

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

/// Timed refreshes per size below [`LARGE`]; the median is reported.
const REPEATS: usize = 3;

/// From this size on, one timed refresh, and a sampled one-read-per-resource refresh.
const LARGE: usize = 10_000;

/// The one-read-per-resource refresh at [`LARGE`] reads every this-many-th resource.
const SAMPLE_EVERY: usize = 20;

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

        let repeats = if n >= LARGE { 1 } else { REPEATS };
        let (calls, seconds) = measure_calls(&moto, repeats, || async {
            refresh(&registry, &records)
                .await
                .map(|_| ())
                .map_err(|e| format!("refresh of {n} resources: {e}"))
        })
        .await?;
        // The sample is spread over the records (which come grouped by type), so it
        // holds each type in its share of the stack.
        let every = if n >= LARGE { SAMPLE_EVERY } else { 1 };
        let sample: Vec<ResourceRecord> = records.iter().step_by(every).cloned().collect();
        let (sample_calls, sample_seconds) =
            measure_calls(&moto, repeats, || one_read_per_resource(&registry, &sample)).await?;
        let scale = resources as f64 / sample.len() as f64;
        let naive_calls = (sample_calls as f64 * scale).round() as usize;
        let naive_seconds = sample_seconds * scale;
        let estimated = if every > 1 { " (est.)" } else { "" };
        let per_resource = calls as f64 / resources as f64;
        println!(
            "{resources:>10} {deploy:>12.1} {calls:>8} {per_resource:>14.4} {seconds:>16.3} {:>19} {:>19}",
            format!("{naive_calls}{estimated}"),
            format!("{naive_seconds:.3}{estimated}")
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
    println!(
        "(est.): read one resource per call for every {SAMPLE_EVERY}th resource, scaled to the stack; \
         refreshed once at {LARGE} (moto's filters scan every object per id, so its calls slow down with size)"
    );
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
