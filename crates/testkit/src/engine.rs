//! Running a program through the real engine in-process, as the CLI does, without the
//! CLI: for measurements that need to see inside (call counts, timings).

use std::sync::Arc;

use stackup_engine::{Actor, Cancel, Quiet, RunOptions, Stack, UpOptions};
use stackup_executor::ApplyReport;
use stackup_graph::DependencyGraph;
use stackup_model::Program;
use stackup_planner::{plan, Plan, PlanRequest};
use stackup_provider::Registry;
use stackup_state::StateStore;

/// The AWS providers, with clients for `endpoint` (a local server without rate limits:
/// not paced; a test of the limiter builds its own clients).
pub fn aws_registry(endpoint: &str) -> Registry {
    stackup_aws::registry(&stackup_aws::AwsClients::paced(
        &sdk_config(endpoint),
        stackup_aws::Pacer::scaled(0.0),
    ))
}

/// The SDK configuration of a test client talking to `endpoint` (moto, or the proxy in
/// front of it): region us-east-1, dummy credentials.
pub fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
            aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "testkit"),
        ))
        .build()
}

/// Plans `program` against what `store` recorded.
pub fn plan_program(
    registry: &Registry,
    store: &dyn StateStore,
    stack: &str,
    program: &Program,
) -> Result<Plan, String> {
    let graph = DependencyGraph::from_goals(&program.goals).map_err(|e| e.to_string())?;
    let records = store.records().map_err(|e| e.to_string())?;
    let retired = store.retired().map_err(|e| e.to_string())?;
    plan(PlanRequest {
        stack,
        goals: &program.goals,
        graph: &graph,
        current: &records,
        retired: &retired,
        registry,
        targets: &[],
    })
    .map_err(|e| e.to_string())
}

/// Runs `program` through the engine's `up` (recover, plan from the record, pre-flight
/// the deletes, apply, record the run), as `stackup up --no-refresh --yes` does; an
/// empty program destroys everything recorded.
pub async fn up(
    registry: &Registry,
    store: Arc<dyn StateStore>,
    stack: &str,
    program: &Program,
    parallel: usize,
) -> Result<ApplyReport, String> {
    let stack = Stack::open(stack, program.clone(), store, registry.clone()).map_err(|e| e.to_string())?;
    let opts = UpOptions {
        run: RunOptions {
            parallel,
            actor: Actor::named("testkit"),
        },
        targets: Vec::new(),
        refresh: false,
    };
    let report = stackup_engine::up(&stack, &opts, &Quiet, &Cancel::new())
        .await
        .map_err(|e| e.to_string())?;
    let applied = report.applied.unwrap_or_default();
    if applied.is_success() {
        Ok(applied)
    } else {
        let failures: Vec<String> = applied
            .failures()
            .iter()
            .map(|f| format!("{}: {:?}", f.urn, f.outcome))
            .collect();
        Err(format!("apply failed: {}", failures.join("; ")))
    }
}
