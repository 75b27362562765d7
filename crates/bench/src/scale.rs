//! A stack where rate limits, not the longest chain, bound the run: about 1,000
//! resources (four VPCs with their subnets, route tables, associations, security groups
//! and rules; DynamoDB tables, SNS topics, S3 buckets and log groups), `up` and then
//! `destroy` through the proxy under `profiles/realistic.toml`, whose rate limits are
//! AWS's published ones (EC2's mutating calls: a bucket of 200 refilled at 5 per
//! second).
//!
//! Each run is set against its bound, `max(critical path, calls per bucket / bucket
//! rate)`: the longest chain of the plan weighed by the profile's latencies as drawn,
//! and for every rate-limit bucket the calls that took a token beyond its burst divided
//! by its refill rate. A run that paces its calls to the buckets comes close to the
//! bound; one that is refused and backs off falls behind it.
//!
//! The profile's latencies run at 1/60 as in the platform section, and its rates ten
//! times as fast (`Proxy::set_rate_scale`), so that the run takes seconds rather than
//! minutes; the bound scales with them. The engine's clients are configured as the
//! command line configures them (`stackup_aws::retry_config`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use stackup_aws::dynamodb::TableArgs;
use stackup_aws::ec2::{
    RouteTableArgs, RouteTableAssociationArgs, RuleSource, SecurityGroupArgs, SecurityGroupRuleArgs, SubnetArgs,
    VpcArgs,
};
use stackup_aws::logs::LogGroupArgs;
use stackup_aws::s3::BucketArgs;
use stackup_aws::sns::TopicArgs;
use stackup_model::{Program, StackBuilder};
use stackup_proxy::BucketUse;

use crate::platform::{load_profile, root, Run, PARALLEL, REALISTIC_TIME_SCALE};
use crate::stats::round4;

/// How many times as fast the profile's rate limits refill in this section.
const RATE_SCALE: f64 = 4.0;

const STACK: &str = "scale";
const VPCS: usize = 4;
const SUBNETS_PER_VPC: usize = 16;
const ROUTE_TABLES_PER_VPC: usize = 4;
const GROUPS_PER_VPC: usize = 25;
const TABLES: usize = 100;
const TOPICS: usize = 100;
const BUCKETS: usize = 40;
const LOG_GROUPS: usize = 112;
const ZONES: [&str; 6] = [
    "us-east-1a",
    "us-east-1b",
    "us-east-1c",
    "us-east-1d",
    "us-east-1e",
    "us-east-1f",
];

/// The synthetic stack: 1,000 resources, its S3 bucket names made unique with `suffix`
/// (bucket names are global).
pub fn program(suffix: &str) -> Program {
    let mut stack = StackBuilder::new(STACK, Default::default());
    let tags = |name: &str| BTreeMap::from([("Name".to_string(), format!("{STACK}-{name}"))]);
    for v in 0..VPCS {
        let vpc = stack.declare(
            &format!("vpc-{v}"),
            VpcArgs {
                cidr_block: format!("10.{v}.0.0/16").into(),
                enable_dns_support: true,
                enable_dns_hostnames: false,
                tags: tags(&format!("vpc-{v}")),
            },
        );
        let tables: Vec<_> = (0..ROUTE_TABLES_PER_VPC)
            .map(|r| {
                stack.declare(
                    &format!("rt-{v}-{r}"),
                    RouteTableArgs {
                        vpc_id: vpc.id(),
                        routes: Vec::new(),
                        tags: tags(&format!("rt-{v}-{r}")),
                    },
                )
            })
            .collect();
        for s in 0..SUBNETS_PER_VPC {
            let subnet = stack.declare(
                &format!("subnet-{v}-{s}"),
                SubnetArgs {
                    vpc_id: vpc.id(),
                    cidr_block: format!("10.{v}.{s}.0/24").into(),
                    availability_zone: ZONES[s % ZONES.len()].to_string().into(),
                    map_public_ip_on_launch: false,
                    tags: tags(&format!("subnet-{v}-{s}")),
                },
            );
            stack.declare(
                &format!("rta-{v}-{s}"),
                RouteTableAssociationArgs {
                    route_table_id: tables[s % tables.len()].id(),
                    subnet_id: subnet.id(),
                },
            );
        }
        let mut previous: Option<stackup_model::Handle<SecurityGroupArgs>> = None;
        for g in 0..GROUPS_PER_VPC {
            let name = format!("tier-{v}-{g}");
            let group = stack.declare(
                &name,
                SecurityGroupArgs {
                    name: name.clone(),
                    description: format!("tier {g} of VPC {v}"),
                    vpc_id: vpc.id(),
                    tags: tags(&name),
                },
            );
            let from_previous = previous.as_ref().map(|p| RuleSource::SecurityGroup(p.id()));
            let rules = [
                (80, RuleSource::Cidr(format!("10.{v}.0.0/16"))),
                (443, RuleSource::Cidr(format!("10.{v}.0.0/16"))),
                (
                    8080,
                    from_previous.unwrap_or_else(|| RuleSource::Cidr("10.0.0.0/8".into())),
                ),
                (22, RuleSource::Cidr("10.255.0.0/24".into())),
            ];
            for (port, source) in rules {
                stack.declare(
                    &format!("{name}-in-{port}"),
                    SecurityGroupRuleArgs {
                        security_group_id: group.id(),
                        egress: false,
                        protocol: "tcp".into(),
                        from_port: port,
                        to_port: port,
                        source,
                        description: format!("port {port}"),
                        tags: tags(&format!("{name}-in-{port}")),
                    },
                );
            }
            previous = Some(group);
        }
    }
    for t in 0..TABLES {
        stack.declare(
            &format!("table-{t}"),
            TableArgs {
                name: format!("{STACK}-table-{t}"),
                hash_key: "id".into(),
                hash_key_type: "S".into(),
                ttl_attribute: None,
                point_in_time_recovery: false,
                tags: tags(&format!("table-{t}")),
            },
        );
    }
    for t in 0..TOPICS {
        stack.declare(
            &format!("topic-{t}"),
            TopicArgs {
                name: format!("{STACK}-topic-{t}"),
                tags: tags(&format!("topic-{t}")),
            },
        );
    }
    for b in 0..BUCKETS {
        stack.declare(
            &format!("bucket-{b}"),
            BucketArgs {
                name: format!("stackup-{STACK}-{suffix}-{b}"),
                versioning: false,
                encryption: "AES256".into(),
                block_public_access: true,
                website: None,
                force_destroy: true,
                tags: tags(&format!("bucket-{b}")),
            },
        );
    }
    for l in 0..LOG_GROUPS {
        stack.declare(
            &format!("logs-{l}"),
            LogGroupArgs {
                name: format!("/{STACK}/service-{l}"),
                retention_days: 7,
                tags: tags(&format!("logs-{l}")),
            },
        );
    }
    stack.finish()
}

/// One run set against its bound.
struct Bounded {
    seconds: f64,
    path: f64,
    rate: f64,
    /// The bucket that binds the rate part, as `service rule #n (rate/s)`.
    binding: String,
    refused: usize,
}

impl Bounded {
    fn bound(&self) -> f64 {
        self.path.max(self.rate)
    }
}

/// Each bucket's use during a run: `after` with the calls counted in `before` taken
/// off.
fn during(before: &[BucketUse], after: &[BucketUse]) -> Vec<BucketUse> {
    after
        .iter()
        .map(|b| {
            let earlier = before.iter().find(|e| e.rule == b.rule && e.service == b.service);
            BucketUse {
                taken: b.taken - earlier.map_or(0, |e| e.taken),
                refused: b.refused - earlier.map_or(0, |e| e.refused),
                ..b.clone()
            }
        })
        .collect()
}

/// The rate part of the bound from the buckets' use during a run: for each bucket, the
/// calls that took a token beyond its burst over its rate. Returns the largest, which
/// bucket it is, and the calls refused.
fn rate_bound(used: &[BucketUse]) -> (f64, String, usize) {
    let mut worst = (0.0, String::from("none"), 0);
    for b in used {
        worst.2 += b.refused;
        // A bucket starts a run full only if it was idle long enough to refill: the
        // bound counts the full burst, the most a run can get without waiting.
        let seconds = (b.taken as f64 - b.burst).max(0.0) / b.rate;
        if seconds > worst.0 {
            worst.0 = seconds;
            worst.1 = format!(
                "{} rule #{} ({:.0}/s, burst {:.0}): {} calls",
                b.service, b.rule, b.rate, b.burst, b.taken
            );
        }
    }
    worst
}

/// How long every bucket takes to refill from empty.
fn refill_time(buckets: &[BucketUse]) -> std::time::Duration {
    let seconds = buckets.iter().map(|b| b.burst / b.rate).fold(0.0, f64::max);
    std::time::Duration::from_secs_f64(seconds.min(60.0))
}

pub async fn measure() -> Result<serde_json::Map<String, serde_json::Value>, String> {
    crate::platform::in_scratch(|dir| async move { measure_in(&dir).await }).await
}

async fn measure_in(dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let realistic_path = root().join("profiles/realistic.toml");
    let program = program(&std::process::id().to_string());
    println!(
        "a synthetic stack of {} resources through the proxy, profiles/realistic.toml at time scale 1/{:.0}, rates x{RATE_SCALE:.0}",
        program.goals.len(),
        1.0 / REALISTIC_TIME_SCALE
    );
    let paced = std::env::var_os("STACKUP_BENCH_UNPACED").is_none();
    let (run, pacer) = Run::start_program(
        dir,
        "scale",
        STACK,
        program.clone(),
        load_profile(&realistic_path)?,
        REALISTIC_TIME_SCALE,
        stackup_aws::Pacer::scaled(if paced { RATE_SCALE } else { 0.0 }),
    )?;
    run.proxy().set_rate_scale(RATE_SCALE);
    run.warm_up().await?;

    let mut figures = serde_json::Map::new();
    let mut measured = Vec::new();
    for (what, goals) in [("up", program.clone()), ("destroy", Program::default())] {
        if what == "destroy" {
            // A destroy starts with its buckets full, as it would minutes after the up.
            tokio::time::sleep(refill_time(&run.proxy().buckets())).await;
        }
        let before = run.proxy().buckets();
        let calls_before: usize = run.proxy().counts().values().sum();
        // A run with a failed operation fails the bench, naming how many were lost to
        // throttling: the figures below are always of a run that lost none.
        let (seconds, timed) = run
            .apply(&goals, PARALLEL)
            .await
            .map_err(|e| format!("the 1,000-resource {what} failed: {e}"))?;
        let used = during(&before, &run.proxy().buckets());
        let calls = run.proxy().counts().values().sum::<usize>() - calls_before;
        if std::env::var_os("STACKUP_BENCH_VERBOSE").is_some() {
            for line in pacer.summary() {
                println!("    so far: {line}");
            }
            for b in &used {
                println!(
                    "    bucket {} rule #{} {:.0}/s burst {:.0}: {} taken",
                    b.service, b.rule, b.rate, b.burst, b.taken
                );
            }
        }
        let (rate, binding, refused) = rate_bound(&used);
        let b = Bounded {
            seconds,
            path: timed.drawn_critical_path,
            rate,
            binding,
            refused,
        };
        println!(
            "{what:>10} {:>7.2} s, {calls} calls; bound {:.2} s (path {:.2} s, rate {:.2} s: {}) = {:.3}x; {} calls refused by a rate limit, 0 operations failed throttled",
            b.seconds,
            b.bound(),
            b.path,
            b.rate,
            b.binding,
            b.seconds / b.bound(),
            b.refused,
        );
        measured.push((what, b));
    }
    println!("the limiter (stackup_aws::Pacer) over both runs:");
    for line in pacer.summary() {
        println!("    {line}");
    }
    for (what, b) in &measured {
        figures.insert(format!("{what}_vs_bound_1000"), json!(round4(b.seconds / b.bound())));
        figures.insert(format!("{what}_seconds_1000"), json!(round4(b.seconds)));
        figures.insert(format!("{what}_refused_1000"), json!(b.refused));
    }
    // Both runs completed: no operation failed, throttled or otherwise (a failure stops
    // the bench above, counting those lost to throttling).
    figures.insert("throttled_failures_1000".into(), json!(0));
    Ok(figures)
}
