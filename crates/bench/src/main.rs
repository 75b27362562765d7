//! `stackup-bench`: measures stackup and prints the figures as tables, never asserting
//! them. The last line of output is one JSON object with every figure.
//!
//! Measured:
//! 1. planning (`planner.rs`): time and peak memory of planning synthetic programs of
//!    1000, 10000 and 100000 resources in-process, without AWS, and the scaling
//!    exponent;
//! 2. refresh (`refresh.rs`): API calls and time for synthetic stacks of 100, 1000 and
//!    10000 resources deployed into a dedicated moto, beside one read per resource;
//! 3. the platform (`platform.rs`): the e-commerce program's `up` and `destroy` through
//!    the fault/latency proxy, against the plan's critical path.
//!
//! Usage: `cargo run -p stackup-bench` (about nine minutes on a 2-core machine, most
//! of it moto serving the 10000-resource stack). `--only planner|refresh|platform` runs
//! one section (for working on it); the JSON line then holds that section's figures.

mod planner;
mod platform;
mod refresh;
mod scale;
mod stats;

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The planner measures each size and kind of plan in a child process of its own
    // (see planner.rs).
    if args.first().map(String::as_str) == Some(planner::CHILD_FLAG) {
        let n = args.get(1).map(String::as_str).unwrap_or_default();
        let kind = args.get(2).map(String::as_str).unwrap_or_default();
        if let Err(e) = planner::child(n, kind) {
            fail(&e);
        }
        return;
    }
    let only = match args.as_slice() {
        [] => None,
        [flag, section]
            if flag == "--only" && ["planner", "refresh", "platform", "scale"].contains(&section.as_str()) =>
        {
            Some(section.clone())
        }
        _ => fail("usage: stackup-bench [--only planner|refresh|platform|scale]"),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(only.as_deref())) {
        Ok(summary) => println!("{summary}"),
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("stackup-bench: {message}");
    std::process::exit(1);
}

async fn run(only: Option<&str>) -> Result<serde_json::Value, String> {
    let wanted = |section: &str| only.is_none_or(|o| o == section);
    let started = Instant::now();
    let mut figures = serde_json::Map::new();
    if wanted("planner") {
        figures.extend(planner::measure()?);
    }
    if wanted("refresh") {
        figures.extend(refresh::measure().await?);
    }
    if wanted("platform") {
        figures.extend(platform::measure().await?);
    }
    if wanted("scale") {
        figures.extend(scale::measure().await?);
    }
    let total = started.elapsed().as_secs_f64();
    println!("bench took {total:.0} s");
    figures.insert("bench_seconds".into(), serde_json::json!(stats::round4(total)));
    Ok(serde_json::Value::Object(figures))
}
