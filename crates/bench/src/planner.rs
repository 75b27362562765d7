//! Planner time and peak memory for synthetic programs of 1000 to 100000 resources, with
//! no AWS at all: the offline registry's `check` and `diff` are pure.
//!
//! Each size and kind of plan runs in a child process of its own (this binary
//! re-executed with [`CHILD_FLAG`]), as each `stackup` command plans once: its peak RSS
//! is that one plan's (with the program and records it plans from), not the high-water
//! mark of everything the bench did before it, nor what the allocator kept of an
//! earlier plan's freed memory.

use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use stackup_graph::DependencyGraph;
use stackup_model::{Program, Properties, ResourceRecord, SharedProperties, Urn, Value};
use stackup_planner::destroy::{plan_destroy, DestroyRequest};
use stackup_planner::{plan, Plan, PlanRequest};
use stackup_provider::{CheckRequest, Registry};
use stackup_testkit::synthetic_program;

use crate::stats::{median_seconds, peak_rss_mb, round4, scaling_exponent};

/// The hidden argument that makes the bench plan one size and print its figures.
pub const CHILD_FLAG: &str = "--plan-child";

const SIZES: [usize; 3] = [1000, 10_000, 100_000];

/// Timed runs per scenario below 100000 resources; the median is reported. A run of
/// 100000 takes seconds (in a debug build), long enough to time once: repeating it
/// would cost the bench half a minute for no steadier figure.
const REPEATS: usize = 3;

/// The three kinds of plan measured, each in its own child.
const KINDS: [&str; 3] = ["empty", "recorded", "destroy"];

/// One size's figures, from its three children.
struct SizeFigures {
    resources: usize,
    empty: f64,
    recorded: f64,
    destroy: f64,
    operations: usize,
    /// The largest of the three children's peaks.
    peak_rss_mb: f64,
}

/// Runs every size in a child process and prints the table; returns the figures.
pub fn measure() -> Result<serde_json::Map<String, serde_json::Value>, String> {
    println!("planning synthetic programs (VPCs, subnets, security groups, rules), no AWS");
    println!(
        "{:>10} {:>16} {:>19} {:>16} {:>12} {:>14}",
        "resources", "empty state (s)", "recorded state (s)", "destroy (s)", "operations", "peak RSS (MB)"
    );
    let mut all = Vec::new();
    for n in SIZES {
        let size = in_child(n)?;
        println!(
            "{:>10} {:>16.4} {:>19.4} {:>16.4} {:>12} {:>14.1}",
            size.resources, size.empty, size.recorded, size.destroy, size.operations, size.peak_rss_mb
        );
        all.push(size);
    }
    let exponent = |pick: fn(&SizeFigures) -> f64| {
        scaling_exponent(&all.iter().map(|s| (s.resources, pick(s))).collect::<Vec<_>>())
    };
    let (empty, recorded, destroy) = (exponent(|s| s.empty), exponent(|s| s.recorded), exponent(|s| s.destroy));
    // The headline figure is the worst of the three: planning is only linear if every
    // kind of run is.
    let worst = [empty, recorded, destroy]
        .into_iter()
        .flatten()
        .fold(f64::NAN, f64::max);
    println!(
        "scaling exponent (log-log least squares over sizes): empty {}, recorded {}, destroy {}; worst {:.3}",
        show(empty),
        show(recorded),
        show(destroy),
        worst
    );
    println!();

    let mut figures = serde_json::Map::new();
    for s in &all {
        let n = s.resources_nominal();
        figures.insert(format!("plan_seconds_empty_{n}"), json!(round4(s.empty)));
        figures.insert(format!("plan_seconds_recorded_{n}"), json!(round4(s.recorded)));
        figures.insert(format!("plan_seconds_destroy_{n}"), json!(round4(s.destroy)));
        figures.insert(format!("peak_rss_mb_{n}"), json!(round4(s.peak_rss_mb)));
        if n == 100_000 {
            figures.insert(
                "plan_seconds_100000".into(),
                json!(round4(s.empty.max(s.recorded).max(s.destroy))),
            );
        }
    }
    figures.insert("plan_scaling_exponent".into(), json!(round4(worst)));
    figures.insert("plan_scaling_exponent_empty".into(), json!(empty.map(round4)));
    figures.insert("plan_scaling_exponent_recorded".into(), json!(recorded.map(round4)));
    figures.insert("plan_scaling_exponent_destroy".into(), json!(destroy.map(round4)));
    Ok(figures)
}

fn show(exponent: Option<f64>) -> String {
    exponent.map_or_else(|| "n/a".to_string(), |e| format!("{e:.3}"))
}

impl SizeFigures {
    /// The size asked for (the program has a few more: the VPCs), naming JSON keys.
    fn resources_nominal(&self) -> usize {
        SIZES
            .iter()
            .copied()
            .min_by_key(|n| n.abs_diff(self.resources))
            .unwrap_or(self.resources)
    }
}

/// Plans `n` resources each way, each in a child process; gathers their figures.
fn in_child(n: usize) -> Result<SizeFigures, String> {
    let mut seconds = [0.0; 3];
    let (mut resources, mut operations, mut peak) = (0, 0, 0.0_f64);
    for (kind, slot) in KINDS.iter().zip(seconds.iter_mut()) {
        let v = one_child(n, kind)?;
        let field = |k: &str| {
            v[k].as_f64()
                .ok_or_else(|| format!("the {kind} planning child for {n} resources gave no {k}"))
        };
        *slot = field("seconds")?;
        resources = field("resources")? as usize;
        operations = operations.max(field("operations")? as usize);
        peak = peak.max(field("peak_rss_mb")?);
    }
    Ok(SizeFigures {
        resources,
        empty: seconds[0],
        recorded: seconds[1],
        destroy: seconds[2],
        operations,
        peak_rss_mb: peak,
    })
}

/// Re-executes this binary to plan `n` resources one way; reads back its JSON line.
fn one_child(n: usize, kind: &str) -> Result<serde_json::Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the bench's own executable: {e}"))?;
    let output = Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(n.to_string())
        .arg(kind)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start the {kind} planning child for {n} resources: {e}"))?;
    if !output.status.success() {
        return Err(format!("planning {n} resources ({kind}) failed ({})", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("the {kind} planning child for {n} resources printed {line:?}: {e}"))
}

/// The child's work: plans `n` resources one way (`kind`) and prints one JSON line.
///
/// - `empty`: against an empty state, every step a create (the first `up`);
/// - `recorded`: against the records a finished `up` leaves, every step `same` (an `up`
///   with nothing to do, the common case);
/// - `destroy`: every record deleted, dependents first (`stackup destroy`, which plans
///   from the records alone: the program is dropped before planning).
///
/// Each timing covers what turns inputs into the executor's work: building the
/// dependency graph, planning, and deriving the operation graph (`Plan::operations`).
pub fn child(n: &str, kind: &str) -> Result<(), String> {
    let n: usize = n.parse().map_err(|e| format!("{CHILD_FLAG} {n}: {e}"))?;
    let stack = "bench";
    let program = synthetic_program(stack, n);
    let resources = program.goals.len();
    let registry = stackup_aws::offline_registry();
    let repeats = if n >= 100_000 { 1 } else { REPEATS };

    let (seconds, operations) = match kind {
        "empty" => {
            let (seconds, created) = timed(repeats, || plan_up(&registry, stack, &program, &[]))?;
            let counts = created.counts();
            if counts.create != resources {
                return Err(format!(
                    "planning {n} resources against an empty state gave {counts:?}, not all creates"
                ));
            }
            (seconds, created.operations().len())
        }
        "recorded" => {
            let records = recorded_state(&registry, &program)?;
            let (seconds, unchanged) = timed(repeats, || plan_up(&registry, stack, &program, &records))?;
            let counts = unchanged.counts();
            if counts.same != resources {
                // A bench whose "recorded" state is not what `up` would record measures
                // the wrong thing; better to stop than print a misleading figure.
                return Err(format!(
                    "planning {n} resources against their recorded state gave {counts:?}, not all same"
                ));
            }
            (seconds, unchanged.operations().len())
        }
        "destroy" => {
            let records = recorded_state(&registry, &program)?;
            drop(program);
            let (seconds, deleted) = timed(repeats, || plan_teardown(stack, &records))?;
            let counts = deleted.counts();
            if counts.delete != records.len() {
                return Err(format!("destroying {n} resources planned {counts:?}, not all deletes"));
            }
            (seconds, deleted.operations().len())
        }
        other => return Err(format!("{CHILD_FLAG}: no plan kind {other:?} (one of {KINDS:?})")),
    };
    let figures = json!({
        "resources": resources,
        "seconds": seconds,
        "operations": operations,
        "peak_rss_mb": peak_rss_mb()?,
    });
    println!("{figures}");
    Ok(())
}

/// Runs `f` `repeats` times; returns the median seconds and the last result.
fn timed<T>(repeats: usize, f: impl Fn() -> Result<T, String>) -> Result<(f64, T), String> {
    let mut times: Vec<Duration> = Vec::new();
    let mut last = None;
    for _ in 0..repeats {
        // Drop the previous run's plan before timing the next, so runs do not pay for
        // each other's deallocation and the peak is one plan's.
        drop(last.take());
        let started = Instant::now();
        let result = f()?;
        times.push(started.elapsed());
        last = Some(result);
    }
    let result = last.ok_or("no timed run")?;
    Ok((median_seconds(&mut times), result))
}

/// What `up` plans: graph, plan, operations.
fn plan_up(registry: &Registry, stack: &str, program: &Program, current: &[ResourceRecord]) -> Result<Plan, String> {
    let graph = DependencyGraph::from_goals(&program.goals).map_err(|e| e.to_string())?;
    let plan = plan(PlanRequest {
        stack,
        goals: &program.goals,
        graph: &graph,
        current,
        retired: &[],
        registry,
        targets: &[],
    })
    .map_err(|e| e.to_string())?;
    std::hint::black_box(plan.operations());
    Ok(plan)
}

/// What `destroy` plans: the destroy plan and its operations.
fn plan_teardown(stack: &str, records: &[ResourceRecord]) -> Result<Plan, String> {
    let plan = plan_destroy(DestroyRequest {
        stack,
        current: records,
        retired: &[],
        targets: &[],
        excludes: &[],
    })
    .map_err(|e| e.to_string())?;
    std::hint::black_box(plan.operations());
    Ok(plan)
}

/// The records a finished `up` of `program` would leave, made in memory: each goal's
/// inputs resolved with its dependencies' (fake) outputs and normalised by its
/// provider's `check`, exactly as the executor records them, and fake ids and outputs.
/// Planning the same program against them must give `same` for every resource.
fn recorded_state(registry: &Registry, program: &Program) -> Result<Vec<ResourceRecord>, String> {
    let graph = DependencyGraph::from_goals(&program.goals).map_err(|e| e.to_string())?;
    let goals: HashMap<&Urn, _> = program.goals.iter().map(|g| (&g.urn, g)).collect();
    // Every output some resource refers to, per referenced resource: a record must
    // carry those, and the id, for references to resolve to something known.
    let mut referenced: HashMap<Urn, BTreeSet<String>> = HashMap::new();
    for goal in &program.goals {
        for r in goal.references() {
            referenced.entry(r.urn.clone()).or_default().insert(r.output.clone());
        }
    }
    let mut outputs: HashMap<Urn, SharedProperties> = HashMap::new();
    let mut records = Vec::with_capacity(program.goals.len());
    for (i, urn) in graph.topological().into_iter().enumerate() {
        let goal = goals
            .get(&urn)
            .ok_or_else(|| format!("{urn} is in the graph but not declared"))?;
        let provider = registry
            .get(&goal.ty)
            .ok_or_else(|| format!("no provider for {}", goal.ty))?;
        let resolved: Properties = goal
            .inputs
            .iter()
            .map(|(k, v)| {
                let value = v.resolve(&mut |r| {
                    outputs
                        .get(&r.urn)
                        .and_then(|o| o.get(r.output.as_str()))
                        .cloned()
                        .unwrap_or(Value::Null)
                });
                (k.clone(), value)
            })
            .collect();
        let checked = provider.check(CheckRequest {
            urn: &urn,
            inputs: resolved,
        });
        if let Some(f) = checked.failures.first() {
            return Err(format!("{urn}: input '{}': {}", f.property, f.reason));
        }
        let id = format!("fake-{i}");
        let mut own = Properties::new();
        for key in referenced.get(&urn).into_iter().flatten() {
            own.insert(key.clone().into(), Value::String(format!("{id}-{key}")));
        }
        own.insert("id".into(), Value::String(id.clone()));
        let own = SharedProperties::new(own);
        outputs.insert(urn.clone(), own.clone());
        records.push(ResourceRecord {
            urn: urn.clone(),
            ty: goal.ty.clone(),
            id,
            inputs: checked.inputs.into(),
            outputs: own,
            dependencies: goal.dependencies(),
            tainted: None,
        });
    }
    // In the store's order (its keys are URNs), which the planner may rely on.
    records.sort_by(|a, b| a.urn.cmp(&b.urn));
    Ok(records)
}
