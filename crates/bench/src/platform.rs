//! The e-commerce platform's `up` and `destroy` through the fault/latency proxy
//! (`stackup-proxy`) in front of moto, in-process through the engine:
//!
//! - under `profiles/realistic.toml` (AWS's creation and deletion times, scaled by
//!   [`REALISTIC_TIME_SCALE`]), `up` and `destroy` at [`PARALLEL`] beside the plan's
//!   critical path, and `up` again at [`PARALLEL_SLOW`];
//! - under `profiles/chaos.toml` (throttling, 5xx, dropped connections, not-found after
//!   create), whether `up`, then a `diff` (refresh and plan), then `destroy` converge:
//!   every run succeeds and the diff plans nothing.
//!
//! Each run gets its own moto, proxy and state, so no run sees another's leftovers and
//! the proxy's random draws (per seed, action and call number) repeat between runs.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use stackup_ecommerce::StackConfig;
use stackup_executor::{refresh, Event, Observer};
use stackup_graph::DependencyGraph;
use stackup_model::{Program, Urn};
use stackup_planner::{plan, OpKind, Operation, Plan, PlanRequest};
use stackup_provider::Registry;
use stackup_proxy::{Hold, Lifecycle, Phase, Profile, Proxy, Refusal};
use stackup_state::{SledStore, StateStore};
use stackup_testkit::{aws_registry, plan_program, up, Moto};

use crate::stats::round4;

/// A profile minute is a real second: RDS's 5 to 10 minutes become 5 to 10 seconds.
pub(crate) const REALISTIC_TIME_SCALE: f64 = 1.0 / 60.0;

/// chaos.toml's latencies are already small (5 to 60 ms of jitter) and its not-found
/// window (2 s) is meant in real time: scaling them down would make its faults land on
/// nothing.
const CHAOS_TIME_SCALE: f64 = 1.0;

/// `profiles/aws.toml` at 1/10: RDS's 5 to 10 minutes become 30 to 60 seconds. The
/// engine's own pauses (polls up to 5 s apart, 2 s between refused deletes) run at the
/// same scale for that run (`wait::set_time_scale`), so that the figure is what the
/// same run would show against AWS itself. A faster scale magnifies the fixed cost of
/// each call (a debug build, the proxy, Python moto: about 20 ms) against AWS's
/// durations: at 1/60 the same run measures 1.17 to 1.35x.
const AWS_TIME_SCALE: f64 = 1.0 / 10.0;

pub(crate) const PARALLEL: usize = 64;
const PARALLEL_SLOW: usize = 10;

/// One seed for every run, so the up at [`PARALLEL`] and the one at [`PARALLEL_SLOW`]
/// draw the same latencies and differ only in parallelism.
const SEED: u64 = 42;

/// Longest a run may take before the bench gives up on it: keeps the whole bench
/// bounded if a run hangs.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the platform measurements and prints the table; returns the figures.
pub async fn measure() -> Result<serde_json::Map<String, serde_json::Value>, String> {
    in_scratch(|dir| async move { measure_in(&dir).await }).await
}

/// `measure` run with a scratch directory for its state stores, removed afterwards
/// whether the measurement worked or not.
pub(crate) async fn in_scratch<F, Fut>(measure: F) -> Result<serde_json::Map<String, serde_json::Value>, String>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = Result<serde_json::Map<String, serde_json::Value>, String>>,
{
    let dir = crate::refresh::bench_dir()?;
    let result = measure(dir.clone()).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_in(dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let realistic_path = root().join("profiles/realistic.toml");
    let latencies = Latencies::load(&realistic_path)?;
    let mut figures = serde_json::Map::new();

    println!(
        "the platform (stacks/dev.toml) through the proxy, profiles/realistic.toml at time scale 1/{:.0}",
        1.0 / REALISTIC_TIME_SCALE
    );
    println!(
        "{:>20} {:>8} {:>11} {:>9} {:>10} {:>9} {:>14} {:>6} {:>7}",
        "run", "seconds", "drawn path", "measured", "mean path", "measured", "path measured", "calls", "limited"
    );

    // A run the engine fails is a finding, not a broken bench: it is printed and listed
    // under `platform_failures`, and the figures that needed it are null.
    let mut failures: Vec<String> = Vec::new();

    // up and destroy at the default parallelism.
    let run = Run::start(
        dir,
        "realistic-64",
        load_profile(&realistic_path)?,
        REALISTIC_TIME_SCALE,
    )?;
    run.warm_up().await?;
    let up_bound = critical_path(&run.plan(&run.program)?, &latencies, REALISTIC_TIME_SCALE);
    let up_label = format!("up, parallel {PARALLEL}");
    let up = run.apply(&run.program, PARALLEL).await;
    let up_counts = run.counts();
    let up = report(&up_label, up, &up_bound, up_counts, &mut failures);
    let destroy_label = format!("destroy, parallel {PARALLEL}");
    let (destroy_bound, destroy) = if up.is_some() {
        let bound = critical_path(&run.plan(&Program::default())?, &latencies, REALISTIC_TIME_SCALE);
        let result = run.apply(&Program::default(), PARALLEL).await;
        let all_counts = run.counts();
        let counts = (all_counts.0 - up_counts.0, all_counts.1 - up_counts.1);
        let destroy = report(&destroy_label, result, &bound, counts, &mut failures);
        (Some(bound), destroy)
    } else {
        println!("{destroy_label:>20} skipped: nothing was deployed");
        (None, None)
    };
    drop(run);

    // The same up, fewer at a time.
    let run = Run::start(
        dir,
        "realistic-10",
        load_profile(&realistic_path)?,
        REALISTIC_TIME_SCALE,
    )?;
    run.warm_up().await?;
    let slow_label = format!("up, parallel {PARALLEL_SLOW}");
    let slow = run.apply(&run.program, PARALLEL_SLOW).await;
    let slow = report(&slow_label, slow, &up_bound, run.counts(), &mut failures);
    drop(run);

    println!(
        "drawn path: the longest chain of the plan's operations, each weighed by how long the proxy held its \
         type's main create or delete call in this run (the profile's latency as drawn): the lower bound for this \
         run. mean path: the same with each range's mean. path measured: each operation's own duration in this \
         run. limited: calls refused by a rate limit."
    );
    let mut unweighed: Vec<&str> = up_bound
        .unweighed
        .iter()
        .chain(destroy_bound.iter().flat_map(|b| &b.unweighed))
        .map(String::as_str)
        .collect();
    unweighed.sort_unstable();
    unweighed.dedup();
    if !unweighed.is_empty() {
        println!("types without a main call, weighed 0: {}", unweighed.join(", "));
    }
    for (what, run) in [("up", &up), ("destroy", &destroy)] {
        let Some((_, timed)) = run else { continue };
        let longest: Vec<String> = timed
            .longest
            .iter()
            .map(|(urn, kind, s)| {
                format!(
                    "{} {kind:?} {s:.1} s",
                    urn.as_str().rsplit("::").next().unwrap_or_default()
                )
            })
            .collect();
        println!("longest operations of {what} at {PARALLEL}: {}", longest.join(", "));
    }
    if let (Some((fast, _)), Some((slow, _))) = (&up, &slow) {
        println!(
            "up at parallel {PARALLEL_SLOW} takes {:.2}x the time of up at {PARALLEL}",
            slow / fast
        );
    }

    // What `stackup diff` costs on the deployed platform, with nothing injected: the
    // calls of its refresh, its tagged listing and its plan, per resource, and its time.
    println!();
    println!("diff of the deployed platform (moto through the proxy, nothing injected)");
    let run = Run::start(dir, "diff", Profile::moto_fixes(), 1.0)?;
    run.warm_up().await?;
    let diffed = match run.apply(&run.program, PARALLEL).await {
        Ok(_) => run.diff().await,
        Err(e) => Err(format!("up before it: {e}")),
    };
    drop(run);
    match &diffed {
        Ok((seconds, calls, resources)) => {
            println!(
                "{:>20} {seconds:>8.2} s, {} calls for {resources} resources ({:.2} per resource)",
                "diff",
                calls.values().sum::<usize>(),
                calls.values().sum::<usize>() as f64 / (*resources).max(1) as f64
            );
            let mut by_action: Vec<(&String, &usize)> = calls.iter().collect();
            by_action.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let listed: Vec<String> = by_action.iter().map(|(a, n)| format!("{a} {n}")).collect();
            println!("{:>20} {}", "by action", listed.join(", "));
        }
        Err(e) => {
            println!("{:>20} failed: {e}", "diff");
            failures.push(format!("diff: {e}"));
        }
    }
    let diffed = diffed.ok();
    figures.insert(
        "diff_calls_per_resource_platform".into(),
        json!(diffed
            .as_ref()
            .map(|(_, calls, n)| round4(calls.values().sum::<usize>() as f64 / (*n).max(1) as f64))),
    );
    figures.insert("diff_seconds_platform".into(), json!(diffed.map(|(s, _, _)| round4(s))));

    let mut put = |key: &str, value: Option<f64>| {
        figures.insert(key.to_string(), json!(value.map(round4)));
    };
    let up_seconds = up.as_ref().map(|(s, _)| *s);
    let destroy_seconds = destroy.as_ref().map(|(s, _)| *s);
    let slow_seconds = slow.as_ref().map(|(s, _)| *s);
    let up_drawn = up.as_ref().map(|(_, t)| t.drawn_critical_path);
    let destroy_drawn = destroy.as_ref().map(|(_, t)| t.drawn_critical_path);
    put("platform_up_seconds", up_seconds);
    put("platform_destroy_seconds", destroy_seconds);
    put("platform_up_parallel_10_seconds", slow_seconds);
    put("up_critical_path_seconds", up_drawn);
    put("destroy_critical_path_seconds", destroy_drawn);
    put("up_critical_path_mean_seconds", Some(up_bound.mean));
    put(
        "destroy_critical_path_mean_seconds",
        destroy_bound.as_ref().map(|b| b.mean),
    );
    put(
        "up_critical_path_measured_seconds",
        up.as_ref().map(|(_, t)| t.critical_path),
    );
    put(
        "destroy_critical_path_measured_seconds",
        destroy.as_ref().map(|(_, t)| t.critical_path),
    );
    put("up_vs_critical_path", up_seconds.zip(up_drawn).map(|(s, b)| s / b));
    put(
        "destroy_vs_critical_path",
        destroy_seconds.zip(destroy_drawn).map(|(s, b)| s / b),
    );
    put(
        "up_speedup_vs_parallel_10",
        slow_seconds.zip(up_seconds).map(|(slow, fast)| slow / fast),
    );
    if !failures.is_empty() {
        figures.insert("platform_failures".into(), json!(failures));
    }

    // AWS as it is: states moving on reads, causal refusals, nothing held.
    println!();
    println!(
        "the platform through profiles/aws.toml at time scale 1/{:.0} (nothing held: AWS's states move on reads)",
        1.0 / AWS_TIME_SCALE
    );
    let aws = Run::start(
        dir,
        "aws",
        load_profile(&root().join("profiles/aws.toml"))?,
        AWS_TIME_SCALE,
    )?
    .aws();
    aws.warm_up().await?;
    // The engine's polls and retry pauses keep the proportion to AWS's durations they
    // have on AWS: a 15 s poll ceiling against a 10-minute database is not the same
    // figure against a 10-second one.
    stackup_provider::wait::set_time_scale(AWS_TIME_SCALE);
    // And AWS's rate limits refill at the same pace, or the engine's scaled retries
    // would meet limits ten times as tight as AWS's.
    aws.proxy.set_rate_scale(1.0 / AWS_TIME_SCALE);
    let mut aws_failures = Vec::new();
    let aws_up = aws.apply(&aws.program, PARALLEL).await;
    let aws_up = report_aws("up", aws_up, &mut aws_failures);
    let aws_diff_clean = match &aws_up {
        Some(_) => match aws.clean_diff().await {
            Ok(()) => true,
            Err(e) => {
                println!("{:>20} {e}", "diff");
                aws_failures.push(format!("diff: {e}"));
                false
            }
        },
        None => false,
    };
    let aws_destroy = if aws_up.is_some() {
        let result = aws.apply(&Program::default(), PARALLEL).await;
        report_aws("destroy", result, &mut aws_failures)
    } else {
        None
    };
    let left = aws.store.records().map_err(|e| e.to_string())?.len();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for r in aws.proxy.refusals() {
        *refused.entry(r.rule).or_insert(0) += 1;
    }
    println!(
        "refused by AWS's rules (waited out): {refused:?}; calls refused by a rate limit: {}",
        aws.proxy.injected().get("rate_limit").copied().unwrap_or(0)
    );
    println!(
        "drawn path here: the longest chain of operations, each weighed by the states the proxy drew for its \
         objects (create, health checks, modify, delete) and by the last time an AWS rule refused its call"
    );
    let aws_converged = aws_up.is_some() && aws_diff_clean && aws_destroy.is_some() && left == 0;
    stackup_provider::wait::set_time_scale(1.0);
    drop(aws);
    figures.insert(
        "aws_up_vs_critical_path".into(),
        json!(aws_up.map(|(s, t)| round4(s / t.drawn_critical_path))),
    );
    figures.insert(
        "aws_destroy_vs_critical_path".into(),
        json!(aws_destroy.map(|(s, t)| round4(s / t.drawn_critical_path))),
    );
    figures.insert("aws_converged".into(), json!(aws_converged));
    if !aws_failures.is_empty() {
        figures.insert("aws_failures".into(), json!(aws_failures));
    }

    // Chaos: the outcome is the figure, so failures are reported, not raised.
    let chaos = Run::start(
        dir,
        "chaos",
        load_profile(&root().join("profiles/chaos.toml"))?,
        CHAOS_TIME_SCALE,
    )?;
    let started = Instant::now();
    let outcome = chaos.converge().await;
    let injected: usize = chaos.proxy.injected().values().sum();
    let calls: usize = chaos.proxy.counts().values().sum();
    let converged = outcome.is_ok();
    println!();
    println!(
        "profiles/chaos.toml: up, diff, destroy {} in {:.1} s ({calls} calls, {injected} faults injected)",
        match &outcome {
            Ok(()) => "converged".to_string(),
            Err(e) => format!("did not converge: {e}"),
        },
        started.elapsed().as_secs_f64()
    );
    println!();
    figures.insert("chaos_converged".into(), json!(converged));
    figures.insert("chaos_faults_injected".into(), json!(injected));
    Ok(figures)
}

/// Prints a run's row, or its failure (kept in `failures`); returns the run's figures
/// when it succeeded.
fn report(
    run: &str,
    result: Result<(f64, Timed), String>,
    bound: &Bound,
    (calls, limited): (usize, usize),
    failures: &mut Vec<String>,
) -> Option<(f64, Timed)> {
    match result {
        Ok((seconds, timed)) => {
            println!(
                "{run:>20} {seconds:>8.2} {:>11.2} {:>8.2}x {:>10.2} {:>8.2}x {:>14.2} {calls:>6} {limited:>7}",
                timed.drawn_critical_path,
                seconds / timed.drawn_critical_path,
                bound.mean,
                seconds / bound.mean,
                timed.critical_path
            );
            Some((seconds, timed))
        }
        Err(e) => {
            println!("{run:>20} failed after {calls} calls: {e}");
            failures.push(format!("{run}: {e}"));
            None
        }
    }
}

/// Prints a run through `profiles/aws.toml`, or its failure.
fn report_aws(run: &str, result: Result<(f64, Timed), String>, failures: &mut Vec<String>) -> Option<(f64, Timed)> {
    match result {
        Ok((seconds, timed)) => {
            println!(
                "{run:>20} {seconds:>8.2} s, drawn path {:>6.2} s ({:.3}x), path measured {:.2} s",
                timed.drawn_critical_path,
                seconds / timed.drawn_critical_path,
                timed.critical_path
            );
            let longest: Vec<String> = timed
                .longest
                .iter()
                .map(|(urn, kind, s)| format!("{} {kind:?} {s:.2} s", urn.name()))
                .collect();
            println!("{:>20} longest operations: {}", "", longest.join(", "));
            Some((seconds, timed))
        }
        Err(e) => {
            println!("{run:>20} failed: {e}");
            failures.push(format!("{run}: {e}"));
            None
        }
    }
}

/// The workspace root, where `profiles/` and `stacks/` live.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn load_profile(path: &Path) -> Result<Profile, String> {
    Profile::load(path).map_err(|e| e.to_string())
}

/// One run's world: a moto, the proxy in front of it, a registry looking at the proxy,
/// and a state store, with the platform program.
pub(crate) struct Run {
    stack: String,
    program: Program,
    registry: Registry,
    store: Arc<dyn StateStore>,
    /// Weigh operations by the proxy's lifecycles and refusals (`profiles/aws.toml`)
    /// rather than by the calls it held.
    aws: bool,
    // Dropped in this order: the proxy before the server it forwards to.
    proxy: Proxy,
    moto: Moto,
}

impl Run {
    /// A run of `program` (stack `stack`) whose clients retry as the command line's
    /// do (`stackup_aws::retry_config`) and are paced by `pacer`.
    pub(crate) fn start_program(
        dir: &Path,
        name: &str,
        stack: &str,
        program: Program,
        profile: Profile,
        time_scale: f64,
        pacer: stackup_aws::Pacer,
    ) -> Result<(Run, Arc<stackup_aws::Pacer>), String> {
        let moto = Moto::dedicated_with_recorder();
        let proxy = Proxy::start(&moto.endpoint, profile, time_scale, SEED);
        let config = stackup_testkit::sdk_config(&proxy.endpoint)
            .into_builder()
            .retry_config(stackup_aws::retry_config())
            .build();
        let clients = stackup_aws::AwsClients::paced(&config, pacer);
        let registry = stackup_aws::registry(&clients);
        let run = Run::assemble(dir, name, stack, program, registry, proxy, moto)?;
        Ok((run, clients.pacer))
    }

    /// A run of `program` with its own state under `dir/name`.
    fn assemble(
        dir: &Path,
        name: &str,
        stack: &str,
        program: Program,
        registry: Registry,
        proxy: Proxy,
        moto: Moto,
    ) -> Result<Run, String> {
        let state = dir.join(name);
        std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
        let store: Arc<dyn StateStore> =
            Arc::new(SledStore::open(&state, stack, "bench").map_err(|e| format!("state for {name}: {e}"))?);
        Ok(Run {
            stack: stack.to_string(),
            program,
            registry,
            store,
            aws: false,
            proxy,
            moto,
        })
    }

    pub(crate) fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    fn start(dir: &Path, name: &str, profile: Profile, time_scale: f64) -> Result<Run, String> {
        let moto = Moto::dedicated_with_recorder();
        let proxy = Proxy::start(&moto.endpoint, profile, time_scale, SEED);
        let registry = aws_registry(&proxy.endpoint);
        let file = root().join("stacks/dev.toml");
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        // Bucket names are global in AWS and shared between moto's accounts: one of our
        // own per run.
        let bucket = format!("stackup-bench-{}-{name}", std::process::id());
        let text = text.replace("stackup-dev-ecommerce-assets", &bucket);
        let config = StackConfig::parse(&file, &text).map_err(|e| e.to_string())?;
        let program = stackup_ecommerce::program(&config);
        Run::assemble(dir, name, &config.name, program, registry, proxy, moto)
    }

    /// Weighs this run's operations as under `profiles/aws.toml`.
    fn aws(mut self) -> Run {
        self.aws = true;
        self
    }

    /// Has moto load the backend of every service the platform uses, straight rather
    /// than through the proxy (so no call is counted): moto loads a service's code on
    /// its first request, which takes a second or two that real AWS never does and
    /// that would otherwise be billed to the first operation of each service.
    pub(crate) async fn warm_up(&self) -> Result<(), String> {
        let c = stackup_aws::AwsClients::new(&self.moto.sdk_config());
        let failed = |service: &str| {
            let service = service.to_string();
            move |e: String| format!("warming up moto's {service}: {e}")
        };
        let e = |e: &dyn std::fmt::Display| e.to_string();
        c.ec2
            .describe_vpcs()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("ec2"))?;
        c.rds
            .describe_db_instances()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("rds"))?;
        c.elbv2
            .describe_load_balancers()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("elbv2"))?;
        c.autoscaling
            .describe_auto_scaling_groups()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("autoscaling"))?;
        c.dynamodb
            .list_tables()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("dynamodb"))?;
        c.efs
            .describe_file_systems()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("efs"))?;
        c.iam
            .list_roles()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("iam"))?;
        c.s3.list_buckets()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("s3"))?;
        c.logs
            .describe_log_groups()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("logs"))?;
        c.sns
            .list_topics()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("sns"))?;
        c.cloudwatch
            .describe_alarms()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("cloudwatch"))?;
        c.secretsmanager
            .list_secrets()
            .send()
            .await
            .map_err(|x| e(&x))
            .map_err(failed("secretsmanager"))?;
        Ok(())
    }

    /// The plan of `program` against what this run recorded.
    pub(crate) fn plan(&self, program: &Program) -> Result<Plan, String> {
        plan_program(&self.registry, self.store.as_ref(), &self.stack, program)
    }

    /// Runs `program` through the engine's `up` as `stackup_testkit::up` does (the
    /// path the binary ships: recovery, the delete pre-flight, the history entry),
    /// watching each operation; returns the seconds it took and the plan's operations
    /// weighed by how long each took.
    pub(crate) async fn apply(&self, program: &Program, parallel: usize) -> Result<(f64, Timed), String> {
        let stack =
            stackup_engine::Stack::open(&self.stack, program.clone(), self.store.clone(), self.registry.clone())
                .map_err(|e| e.to_string())?;
        let timeline = Arc::new(Timeline::default());
        let host = Watching(timeline.clone());
        let opts = stackup_engine::UpOptions {
            run: stackup_engine::RunOptions {
                parallel,
                actor: stackup_engine::Actor::named("stackup-bench"),
            },
            targets: Vec::new(),
            refresh: false,
        };
        let started = Instant::now();
        let run = within(async {
            stackup_engine::up(&stack, &opts, &host, &stackup_engine::Cancel::new())
                .await
                .map_err(|e| e.to_string())
        })
        .await?;
        let plan = run.plan;
        let report = run.applied.unwrap_or_default();
        let seconds = started.elapsed().as_secs_f64();
        if !report.is_success() {
            let failures = report.failures();
            let throttled = failures
                .iter()
                .filter(|f| match &f.outcome {
                    stackup_executor::NodeOutcome::Failed(stackup_executor::StepError::Provider(e)) => {
                        e.kind == stackup_provider::ErrorKind::Throttled
                    }
                    _ => false,
                })
                .count();
            let failures: Vec<String> = failures.iter().map(|f| format!("{}: {:?}", f.urn, f.outcome)).collect();
            return Err(format!(
                "apply failed ({throttled} operation(s) lost to throttling): {}",
                failures.join("; ")
            ));
        }
        if std::env::var_os("STACKUP_BENCH_VERBOSE").is_some() {
            let spans = timeline.spans.lock().unwrap_or_else(|e| e.into_inner());
            let first = spans.values().map(|s| s.0).min();
            let last = spans.values().map(|s| s.1).max();
            if let (Some(first), Some(last)) = (first, last) {
                println!(
                    "    before the first operation {:.2} s, operations {:.2} s, after the last {:.2} s",
                    first.saturating_duration_since(started).as_secs_f64(),
                    last.saturating_duration_since(first).as_secs_f64(),
                    seconds - last.saturating_duration_since(started).as_secs_f64()
                );
            }
        }
        let timed = if self.aws {
            timeline.weigh_aws(&plan, &self.proxy.lifecycles(), &self.proxy.refusals())
        } else {
            timeline.weigh(&plan, &self.proxy.holds())
        };
        Ok((seconds, timed))
    }

    /// What `stackup diff` does on what this run deployed (the refresh, the listing of
    /// the stack's tagged objects, the plan), timed: (seconds, calls the proxy saw per
    /// `service:Action`, resources recorded). Fails when it finds anything to do or any drift. The
    /// command line's one identity call before it is not counted.
    async fn diff(&self) -> Result<(f64, BTreeMap<String, usize>, usize), String> {
        let stack = stackup_engine::Stack::open(
            &self.stack,
            self.program.clone(),
            self.store.clone(),
            self.registry.clone(),
        )
        .map_err(|e| e.to_string())?;
        let resources = self.store.records().map_err(|e| e.to_string())?.len();
        let before = self.proxy.counts();
        let started = Instant::now();
        let preview = within(async { stackup_engine::preview(&stack, true).await.map_err(|e| e.to_string()) }).await?;
        let seconds = started.elapsed().as_secs_f64();
        let calls: BTreeMap<String, usize> = self
            .proxy
            .counts()
            .into_iter()
            .map(|(action, n)| {
                let n = n - before.get(&action).copied().unwrap_or(0);
                (action, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if preview.found_anything() {
            return Err(format!(
                "diff after up found {} drifted and {:?} planned",
                preview.drift.len(),
                preview.plan.counts()
            ));
        }
        Ok((seconds, calls, resources))
    }

    /// All calls the proxy saw so far, and how many of them a rate limit refused.
    fn counts(&self) -> (usize, usize) {
        let calls = self.proxy.counts().values().sum();
        let limited = self.proxy.injected().get("rate_limit").copied().unwrap_or(0);
        (calls, limited)
    }

    /// `up`, then what `diff` does (refresh, then plan against the live view), then
    /// `destroy`: Ok when every run succeeds, the diff plans nothing and finds no
    /// drift, and nothing is left recorded.
    async fn converge(&self) -> Result<(), String> {
        within(up(
            &self.registry,
            self.store.clone(),
            &self.stack,
            &self.program,
            PARALLEL,
        ))
        .await
        .map_err(|e| format!("up: {e}"))?;
        self.clean_diff().await?;
        within(up(
            &self.registry,
            self.store.clone(),
            &self.stack,
            &Program::default(),
            PARALLEL,
        ))
        .await
        .map_err(|e| format!("destroy: {e}"))?;
        let left = self.store.records().map_err(|e| e.to_string())?.len();
        if left > 0 {
            return Err(format!("destroy left {left} resource(s) recorded"));
        }
        Ok(())
    }

    /// What `diff` does after `up` (refresh, then plan against the live view): Ok when
    /// it finds no drift and plans nothing.
    async fn clean_diff(&self) -> Result<(), String> {
        let records = self.store.records().map_err(|e| e.to_string())?;
        let retired = self.store.retired().map_err(|e| e.to_string())?;
        let refreshed = within(async { refresh(&self.registry, &records).await.map_err(|e| e.to_string()) })
            .await
            .map_err(|e| format!("diff's refresh: {e}"))?;
        if !refreshed.drift.is_empty() {
            return Err(format!(
                "diff found {} drifted resource(s): {:?}",
                refreshed.drift.len(),
                refreshed.drift
            ));
        }
        let graph = DependencyGraph::from_goals(&self.program.goals).map_err(|e| e.to_string())?;
        let diff = plan(PlanRequest {
            stack: &self.stack,
            goals: &self.program.goals,
            graph: &graph,
            current: &refreshed.records,
            retired: &retired,
            registry: &self.registry,
            targets: &[],
        })
        .map_err(|e| e.to_string())?;
        if diff.has_changes() {
            let counts = diff.counts();
            return Err(format!("diff plans changes after up: {counts:?}"));
        }
        Ok(())
    }
}

/// `f`, or an error after [`RUN_TIMEOUT`].
async fn within<T>(f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(RUN_TIMEOUT, f)
        .await
        .map_err(|_| format!("gave up after {} s", RUN_TIMEOUT.as_secs()))?
}

/// The lower bound on a plan's duration that unlimited parallelism would still take.
struct Bound {
    /// Seconds along the longest chain, each operation weighed by its main call's mean
    /// latency: a bound on the expected duration (the expected longest chain is at
    /// least the longest chain of expectations).
    mean: f64,
    /// Types the bound has no main call for (weighed 0, so the bound stays a bound).
    unweighed: Vec<String>,
}

/// The longest path through the plan's operations (`Plan::operations`, whose `after`
/// lists are the executor's ordering), each operation weighed by the profile's
/// latency for the main create or delete call of its resource's type, times
/// `time_scale`.
///
/// The approximation: an operation issues more calls than its main one (reads after a
/// create, tags, the deletes of a pre-flight, retries after a rate limit), but in
/// realistic.toml only the calls that stand for AWS's creation and deletion times hold
/// for long, and those are the main calls. Updates are weighed 0 (the profile holds no
/// modify call). Rate limits are left out: they can only lengthen a run.
fn critical_path(plan: &Plan, latencies: &Latencies, time_scale: f64) -> Bound {
    let ops = plan.operations();
    let mut unweighed = Vec::new();
    let weights: Vec<f64> = ops
        .iter()
        .map(|op| {
            let ty = plan.steps[op.step].ty.to_string();
            if main_calls(&ty).is_none() {
                if !unweighed.contains(&ty) {
                    unweighed.push(ty);
                }
                return 0.0;
            }
            main_call(&ty, op.kind)
                .and_then(|(service, action)| latencies.of(service, action))
                .map(|(lo, hi)| (lo + hi) as f64 / 2.0 / 1000.0 * time_scale)
                .unwrap_or(0.0)
        })
        .collect();
    Bound {
        mean: longest_path(&ops, &weights),
        unweighed,
    }
}

/// The heaviest chain through `ops` (their `after` lists are the edges), each weighing
/// `weights[i]`.
fn longest_path(ops: &[Operation], weights: &[f64]) -> f64 {
    // Kahn's order: ops are not listed in dependency order (a delete runs before those
    // of what it depended on, which come earlier in the list).
    let mut waiting: Vec<usize> = ops.iter().map(|o| o.after.len()).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, op) in ops.iter().enumerate() {
        for &before in &op.after {
            next[before].push(i);
        }
    }
    let mut finish = vec![0.0f64; ops.len()];
    let mut ready: Vec<usize> = (0..ops.len()).filter(|&i| waiting[i] == 0).collect();
    while let Some(i) = ready.pop() {
        let start = ops[i].after.iter().map(|&b| finish[b]).fold(0.0, f64::max);
        finish[i] = start + weights.get(i).copied().unwrap_or(0.0);
        for &j in &next[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(j);
            }
        }
    }
    finish.into_iter().fold(0.0, f64::max)
}

/// The call that stands for an operation of a type (its creation or deletion; updates
/// have none), as the proxy names it: (signing name, action).
fn main_call(ty: &str, kind: OpKind) -> Option<(&'static str, &'static str)> {
    let (service, create, delete) = main_calls(ty)?;
    match kind {
        OpKind::Create | OpKind::CreateReplacement => Some((service, create)),
        OpKind::Delete | OpKind::DeleteReplaced => Some((service, delete)),
        OpKind::Update => None,
    }
}

/// The call that stands for a type's creation and for its deletion, as the proxy names
/// them: (signing name, create action, delete action).
fn main_calls(ty: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match ty {
        "aws:autoscaling:Group" => ("autoscaling", "CreateAutoScalingGroup", "DeleteAutoScalingGroup"),
        "aws:autoscaling:Policy" => ("autoscaling", "PutScalingPolicy", "DeletePolicy"),
        "aws:cloudwatch:MetricAlarm" => ("monitoring", "PutMetricAlarm", "DeleteAlarms"),
        "aws:dynamodb:Table" => ("dynamodb", "CreateTable", "DeleteTable"),
        "aws:ec2:Eip" => ("ec2", "AllocateAddress", "ReleaseAddress"),
        "aws:ec2:Instance" => ("ec2", "RunInstances", "TerminateInstances"),
        "aws:ec2:InternetGateway" => ("ec2", "CreateInternetGateway", "DeleteInternetGateway"),
        "aws:ec2:InternetGatewayAttachment" => ("ec2", "AttachInternetGateway", "DetachInternetGateway"),
        "aws:ec2:LaunchTemplate" => ("ec2", "CreateLaunchTemplate", "DeleteLaunchTemplate"),
        "aws:ec2:NatGateway" => ("ec2", "CreateNatGateway", "DeleteNatGateway"),
        "aws:ec2:NetworkAcl" => ("ec2", "CreateNetworkAcl", "DeleteNetworkAcl"),
        "aws:ec2:RouteTable" => ("ec2", "CreateRouteTable", "DeleteRouteTable"),
        "aws:ec2:RouteTableAssociation" => ("ec2", "AssociateRouteTable", "DisassociateRouteTable"),
        "aws:ec2:SecurityGroup" => ("ec2", "CreateSecurityGroup", "DeleteSecurityGroup"),
        "aws:ec2:SecurityGroupRule" => ("ec2", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"),
        "aws:ec2:Subnet" => ("ec2", "CreateSubnet", "DeleteSubnet"),
        "aws:ec2:Vpc" => ("ec2", "CreateVpc", "DeleteVpc"),
        "aws:efs:AccessPoint" => ("elasticfilesystem", "CreateAccessPoint", "DeleteAccessPoint"),
        "aws:efs:FileSystem" => ("elasticfilesystem", "CreateFileSystem", "DeleteFileSystem"),
        "aws:efs:MountTarget" => ("elasticfilesystem", "CreateMountTarget", "DeleteMountTarget"),
        "aws:elbv2:Listener" => ("elasticloadbalancing", "CreateListener", "DeleteListener"),
        "aws:elbv2:ListenerRule" => ("elasticloadbalancing", "CreateRule", "DeleteRule"),
        "aws:elbv2:LoadBalancer" => ("elasticloadbalancing", "CreateLoadBalancer", "DeleteLoadBalancer"),
        "aws:elbv2:TargetGroup" => ("elasticloadbalancing", "CreateTargetGroup", "DeleteTargetGroup"),
        "aws:iam:InstanceProfile" => ("iam", "CreateInstanceProfile", "DeleteInstanceProfile"),
        "aws:iam:Role" => ("iam", "CreateRole", "DeleteRole"),
        "aws:iam:RolePolicy" => ("iam", "PutRolePolicy", "DeleteRolePolicy"),
        "aws:iam:User" => ("iam", "CreateUser", "DeleteUser"),
        "aws:iam:UserPolicy" => ("iam", "PutUserPolicy", "DeleteUserPolicy"),
        "aws:logs:LogGroup" => ("logs", "CreateLogGroup", "DeleteLogGroup"),
        "aws:rds:DbInstance" => ("rds", "CreateDBInstance", "DeleteDBInstance"),
        "aws:rds:DbSubnetGroup" => ("rds", "CreateDBSubnetGroup", "DeleteDBSubnetGroup"),
        "aws:s3:Bucket" => ("s3", "CreateBucket", "DeleteBucket"),
        "aws:sns:Subscription" => ("sns", "Subscribe", "Unsubscribe"),
        "aws:sns:Topic" => ("sns", "CreateTopic", "DeleteTopic"),
        _ => return None,
    })
}

/// The latency rules of a proxy profile. The proxy keeps its rules to itself, so the
/// bench reads the same TOML (already validated by `Profile::load`) with the proxy's
/// rule for latency: the first matching rule that sets `latency_ms` wins.
struct Latencies {
    rules: Vec<LatencyRule>,
}

struct LatencyRule {
    service: String,
    /// Exact names, `Prefix*`, or `*`.
    actions: Vec<String>,
    /// Profile milliseconds, inclusive range.
    ms: (u64, u64),
}

/// Convenience names profiles may use for signing names (as the proxy accepts them).
const ALIASES: &[(&str, &str)] = &[
    ("elbv2", "elasticloadbalancing"),
    ("elb", "elasticloadbalancing"),
    ("efs", "elasticfilesystem"),
    ("cloudwatch", "monitoring"),
];

impl Latencies {
    fn load(path: &Path) -> Result<Latencies, String> {
        // Validate as the proxy does first, so a profile the proxy refuses is refused
        // here with its message rather than read differently.
        load_profile(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
        let mut rules = Vec::new();
        for rule in doc.get("rule").and_then(toml::Value::as_array).into_iter().flatten() {
            let ms = match rule.get("latency_ms") {
                Some(toml::Value::Integer(ms)) => (*ms as u64, *ms as u64),
                Some(toml::Value::Array(range)) => match range.as_slice() {
                    [toml::Value::Integer(lo), toml::Value::Integer(hi)] => (*lo as u64, *hi as u64),
                    _ => return Err(format!("{}: a latency_ms range is not [min, max]", path.display())),
                },
                _ => continue,
            };
            let service = rule
                .get("service")
                .and_then(toml::Value::as_str)
                .unwrap_or("*")
                .trim()
                .to_ascii_lowercase();
            let service = ALIASES
                .iter()
                .find(|(alias, _)| *alias == service)
                .map_or(service.clone(), |(_, real)| real.to_string());
            let actions = match rule.get("action") {
                None => vec!["*".to_string()],
                Some(toml::Value::String(a)) => vec![a.trim().to_string()],
                Some(toml::Value::Array(list)) => list
                    .iter()
                    .filter_map(toml::Value::as_str)
                    .map(|a| a.trim().to_string())
                    .collect(),
                Some(_) => return Err(format!("{}: an action is not a string or list", path.display())),
            };
            rules.push(LatencyRule { service, actions, ms });
        }
        Ok(Latencies { rules })
    }

    /// The profile's latency range for one call, in profile milliseconds.
    fn of(&self, service: &str, action: &str) -> Option<(u64, u64)> {
        let matches = |pattern: &str| match pattern.strip_suffix('*') {
            Some(prefix) => action.starts_with(prefix),
            None => pattern == action,
        };
        self.rules
            .iter()
            .find(|r| (r.service == "*" || r.service == service) && r.actions.iter().any(|a| matches(a)))
            .map(|r| r.ms)
    }
}

/// Records when each operation of an apply started and finished, as the executor
/// reports it.
/// A host that confirms everything and hands the apply's events to a [`Timeline`].
struct Watching(Arc<Timeline>);

impl stackup_engine::Host for Watching {
    fn planned(&self, _: &str, _: &str, _: &Plan, _: &[stackup_executor::ResourceDrift]) {}

    fn confirm(&self, _: &str, _: &str, _: &Plan) -> Result<(), String> {
        Ok(())
    }

    fn progress(&self, _: usize) -> Arc<dyn Observer> {
        self.0.clone()
    }

    fn notice(&self, _: &str) {}
}

#[derive(Default)]
struct Timeline {
    started: Mutex<HashMap<(Urn, OpKind), Instant>>,
    spans: Mutex<HashMap<(Urn, OpKind), (Instant, Instant)>>,
}

impl Observer for Timeline {
    fn event(&self, event: Event) {
        // A poisoned lock only means another event panicked: keep the figures.
        match event {
            Event::Started { urn, kind } => {
                let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
                started.insert((urn, kind), Instant::now());
            }
            Event::Finished { urn, kind, .. } => {
                let began = self
                    .started
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&(urn.clone(), kind))
                    .copied();
                if let Some(began) = began {
                    let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
                    spans.insert((urn, kind), (began, Instant::now()));
                }
            }
            _ => {}
        }
    }
}

/// An apply's operations with their measured durations.
pub(crate) struct Timed {
    /// Seconds along the longest chain of operations, each weighed by how long it
    /// took in this run: what unlimited parallelism would have taken with these very
    /// durations.
    critical_path: f64,
    /// Seconds along the longest chain of operations, each weighed by how long the
    /// proxy held its main call in this run (the profile's latency as drawn for it):
    /// the lower bound no engine could beat on this run's draws.
    pub(crate) drawn_critical_path: f64,
    /// The longest operations: (URN, kind, seconds), longest first.
    longest: Vec<(Urn, OpKind, f64)>,
}

/// The lifecycle types (`profiles/aws.toml`) that stand for a resource type's objects.
fn lifecycle_kind(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "aws:ec2:NatGateway" => "nat_gateway",
        // An Auto Scaling group is as ready as the instances it launches.
        "aws:ec2:Instance" | "aws:autoscaling:Group" => "instance",
        "aws:ec2:Vpc" => "vpc",
        "aws:ec2:Subnet" => "subnet",
        "aws:elbv2:LoadBalancer" => "load_balancer",
        "aws:rds:DbInstance" => "db_instance",
        "aws:dynamodb:Table" => "dynamodb_table",
        "aws:efs:FileSystem" => "file_system",
        "aws:efs:MountTarget" => "mount_target",
        _ => return None,
    })
}

impl Timeline {
    /// The plan's operations weighed by what AWS itself took under `profiles/aws.toml`:
    /// for each operation, from the first to the last end of the lifecycle phases drawn
    /// for its objects within its span (an Auto Scaling group: its instances' launch and
    /// health checks), and at least until the last time one of AWS's rules refused its
    /// main call (a subnet's delete refused while a deleted load balancer's interfaces
    /// linger). Operations of one type that ran at the same time take the objects in the
    /// order they finished, as `weigh` does with holds.
    fn weigh_aws(&self, plan: &Plan, lifecycles: &[Lifecycle], refusals: &[Refusal]) -> Timed {
        let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
        self.timed(plan, |op, (start, end)| {
            let ty = plan.steps[op.step].ty.to_string();
            let phases: &[Phase] = match op.kind {
                OpKind::Create | OpKind::CreateReplacement => &[Phase::Create, Phase::Health],
                OpKind::Update => &[Phase::Modify],
                OpKind::Delete | OpKind::DeleteReplaced => &[Phase::Delete],
            };
            let mut weight = 0.0f64;
            if let Some(kind) = lifecycle_kind(&ty) {
                let within = |l: &&Lifecycle| {
                    l.kind == kind && phases.contains(&l.phase) && l.started >= start && l.started <= end
                };
                // One object per operation, except a group, which owns every instance
                // first seen during its create.
                let mut ids: Vec<&str> = Vec::new();
                for l in lifecycles.iter().filter(within).filter(|l| !taken.contains(&l.id)) {
                    if !ids.contains(&l.id.as_str()) {
                        ids.push(l.id.as_str());
                    }
                }
                if ty != "aws:autoscaling:Group" {
                    ids.truncate(1);
                }
                let mine: Vec<&Lifecycle> = lifecycles
                    .iter()
                    .filter(within)
                    .filter(|l| ids.contains(&l.id.as_str()))
                    .collect();
                if let (Some(first), Some(last)) = (
                    mine.iter().map(|l| l.started).min(),
                    mine.iter().map(|l| l.started + l.duration).max(),
                ) {
                    weight = last.saturating_duration_since(first).as_secs_f64();
                }
                taken.extend(ids.iter().map(|s| s.to_string()));
            }
            if let Some(action) = main_call(&ty, op.kind) {
                let last_refused = refusals
                    .iter()
                    .filter(|r| (r.service.as_str(), r.action.as_str()) == action && r.at >= start && r.at <= end)
                    .map(|r| r.at)
                    .max();
                if let Some(at) = last_refused {
                    weight = weight.max(at.saturating_duration_since(start).as_secs_f64());
                }
            }
            weight
        })
    }

    /// The plan's operations weighed by this run: `holds` are the calls the proxy held
    /// for the profile's latencies.
    fn weigh(&self, plan: &Plan, holds: &[Hold]) -> Timed {
        // Each operation's main call as the proxy held it: matched by action to a hold
        // that lies within the operation's span.
        let mut taken = vec![false; holds.len()];
        self.timed(plan, |op, (start, end)| {
            let Some(action) = main_call(&plan.steps[op.step].ty.to_string(), op.kind) else {
                return 0.0;
            };
            let pick = holds
                .iter()
                .enumerate()
                .filter(|(h, hold)| {
                    !taken[*h]
                        && (hold.service.as_str(), hold.action.as_str()) == action
                        && hold.started >= start
                        && hold.started + hold.held <= end
                })
                .min_by_key(|(_, hold)| hold.started + hold.held)
                .map(|(h, _)| h);
            pick.map_or(0.0, |h| {
                taken[h] = true;
                holds[h].held.as_secs_f64()
            })
        })
    }

    /// The plan's operations weighed twice: by their measured spans (`critical_path`,
    /// `longest`) and by `drawn`, which is asked for each operation that ran, in the order
    /// they finished (operations of one type that ran at the same time take what AWS
    /// drew for them in that order), with the operation's span.
    fn timed(&self, plan: &Plan, mut drawn_of: impl FnMut(&Operation, (Instant, Instant)) -> f64) -> Timed {
        let spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        let ops = plan.operations();
        let span_of = |op: &Operation| spans.get(&(plan.steps[op.step].urn.clone(), op.kind)).copied();
        let weights: Vec<f64> = ops
            .iter()
            .map(|op| span_of(op).map_or(0.0, |(a, b)| b.duration_since(a).as_secs_f64()))
            .collect();
        let mut order: Vec<usize> = (0..ops.len()).filter(|&i| span_of(&ops[i]).is_some()).collect();
        order.sort_by_key(|&i| span_of(&ops[i]).map(|(_, end)| end));
        let mut drawn = vec![0.0f64; ops.len()];
        for i in order {
            if let Some(span) = span_of(&ops[i]) {
                drawn[i] = drawn_of(&ops[i], span);
            }
        }
        let mut longest: Vec<(Urn, OpKind, f64)> = spans
            .iter()
            .map(|((u, k), (a, b))| (u.clone(), *k, b.duration_since(*a).as_secs_f64()))
            .collect();
        longest.sort_by(|a, b| b.2.total_cmp(&a.2));
        longest.truncate(5);
        Timed {
            critical_path: longest_path(&ops, &weights),
            drawn_critical_path: longest_path(&ops, &drawn),
            longest,
        }
    }
}
