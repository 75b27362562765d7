//! `stackup-bench`: measures stackup against a local AWS API server (moto, started on a
//! free 127.0.0.1 port with its call recorder) and prints the figures. The last line of
//! output is one JSON object with every figure.
//!
//! Measured now: refresh time and API calls for synthetic stacks of 10, 100 and 1000
//! resources (four types), and the same refresh done the way Terraform does it, one read
//! per resource.
//!
//! Usage: `cargo run --bin stackup-bench` (about a minute; the figures are printed, never
//! asserted).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use stackup_executor::refresh;
use stackup_model::ResourceRecord;
use stackup_provider::Registry;
use stackup_state::{SledStore, StateStore};
use stackup_testkit::{aws_registry, synthetic_program, up, Moto};

const SIZES: [usize; 3] = [10, 100, 1000];
const REPEATS: usize = 3;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stackup-bench: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run()) {
        Ok(summary) => println!("{summary}"),
        Err(e) => {
            eprintln!("stackup-bench: {e}");
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<serde_json::Value, String> {
    let moto = Moto::dedicated_with_recorder();
    let registry = aws_registry(&moto.endpoint);
    let state = tempfile_dir()?;
    let mut figures = serde_json::Map::new();
    println!("refresh of synthetic stacks (VPCs, subnets, security groups, rules) against moto");
    println!(
        "{:>10} {:>10} {:>14} {:>16} {:>14} {:>18}",
        "resources", "calls", "calls/resource", "seconds (median)", "per-resource", "per-resource secs"
    );
    for n in SIZES {
        let stack = format!("bench{n}");
        let store: Arc<dyn StateStore> = Arc::new(SledStore::open(&state, &stack, "bench").map_err(|e| e.to_string())?);
        let program = synthetic_program(&stack, n);
        up(&registry, store.clone(), &stack, &program, 16).await?;
        let records = store.records().map_err(|e| e.to_string())?;
        let resources = records.len();

        let (calls, seconds) = measure(&moto, || async {
            refresh(&registry, &records)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await?;
        let (naive_calls, naive_seconds) = measure(&moto, || one_read_per_resource(&registry, &records)).await?;
        println!(
            "{resources:>10} {calls:>10} {:>14.3} {seconds:>16.3} {naive_calls:>14} {naive_seconds:>18.3}",
            calls as f64 / resources as f64
        );
        figures.insert(format!("refresh_calls_{n}"), json!(calls));
        figures.insert(format!("refresh_seconds_{n}"), json!(seconds));
        figures.insert(
            format!("refresh_calls_per_resource_{n}"),
            json!(calls as f64 / resources as f64),
        );
        figures.insert(format!("per_resource_refresh_calls_{n}"), json!(naive_calls));
        figures.insert(format!("per_resource_refresh_seconds_{n}"), json!(naive_seconds));
        up(&registry, store, &stack, &stackup_model::Program::default(), 16).await?;
    }
    let _ = std::fs::remove_dir_all(&state);
    Ok(serde_json::Value::Object(figures))
}

/// Runs `f` REPEATS times; returns the calls of one run and the median seconds.
async fn measure<F, Fut>(moto: &Moto, f: F) -> Result<(usize, f64), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut times = Vec::new();
    let mut calls = 0;
    for _ in 0..REPEATS {
        moto.start_recording();
        let started = Instant::now();
        f().await?;
        times.push(started.elapsed());
        calls = moto.stop_recording().len();
    }
    times.sort();
    Ok((calls, times[times.len() / 2].as_secs_f64()))
}

/// Refresh as Terraform does it: one read per resource (here: a batch of one), sixteen
/// at a time.
async fn one_read_per_resource(registry: &Registry, records: &[ResourceRecord]) -> Result<(), String> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for r in records {
        let (registry, record, semaphore) = (registry.clone(), r.clone(), semaphore.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await;
            refresh(&registry, std::slice::from_ref(&record)).await.map(|_| ())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("stackup-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}
