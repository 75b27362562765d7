//! `aws:rds:DbInstance`: a single DB instance whose master password RDS keeps in
//! Secrets Manager.
//!
//! The password never passes through stackup: the instance is created with
//! ManageMasterUserPassword, and the program gets the secret's ARN as an output.
//! `skip_final_snapshot`, `final_snapshot_prefix`, `apply_immediately` and
//! `allow_replacement` only steer stackup's own calls; read reports them as recorded.
//!
//! What real RDS does and moto does not, and how this provider meets it:
//! - Minor versions are deprecated and upgraded by RDS: `engine_version` is a major
//!   version or prefix, resolved at create with DescribeDBEngineVersions to the newest
//!   version offered, and a live version within the prefix (or newer than an exact pin
//!   of the same major: RDS never downgrades) reads back as declared.
//! - Creation answers `creating` at once and passes through `backing-up` and others:
//!   ready means `available` on two polls in a row, and an instance that ends `failed`
//!   (or never gets there) is reported as created but not ready (tainted).
//! - ModifyDBInstance is refused with InvalidDBInstanceState unless the instance is
//!   `available`: the update waits for it and retries the refusal.
//! - Modifications wait for the maintenance window unless `apply_immediately`; the
//!   pending values read back as done, so `diff` does not report them every time.
//! - A change that replaces the instance under the same identifier deletes it first:
//!   refused unless `allow_replacement`, and a final snapshot is always taken.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbInstance as LiveInstance, Filter};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    diff_by_schema, CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest,
    DiffRequest, DiffResponse, ErrorKind, ListRequest, ListResponse, LiveResource, Provider, ProviderError,
    ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{listed_urn, rds_error, rds_tags, recorded_arn, sync_tags, tagged_for};
use crate::common::{failure, sort_ids};
use crate::props::{bool_of, int_of, is_known, props, str_of, strings_of};
use crate::tags;

/// The type token of a DB instance.
pub const TYPE: &str = "aws:rds:DbInstance";

/// How long RDS may take to create, modify or delete an instance.
const RDS_DEADLINE: Duration = Duration::from_secs(40 * 60);

/// Waiting for an instance to become available or to be deleted: up to
/// `RDS_DEADLINE`; either usually takes 5 to 15 minutes. Polls at most every 5 seconds:
/// the overshoot past the moment RDS is ready stays under 2% of the wait (a 15 s
/// ceiling cost up to 5%), at about one DescribeDBInstances per 5 s, far within RDS's
/// limits.
const RDS_PATIENCE: Patience = Patience::new(RDS_DEADLINE.as_secs(), 5);

/// Waiting for modifications to be applied: up to `RDS_DEADLINE`, polled at most every
/// 5 seconds.
const MODIFY_PATIENCE: Patience = Patience::new(RDS_DEADLINE.as_secs(), 5);

/// Ready means seen `available` this many polls in a row: RDS reports `available`
/// between `creating` and `backing-up` or `configuring-enhanced-monitoring`.
const READY_POLLS: u32 = 2;

/// How long ModifyDBInstance and DeleteDBInstance are retried while RDS answers
/// InvalidDBInstanceState (the instance is busy: backing up, modifying, rebooting).
const BUSY_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// Identifiers per DescribeDBInstances filter.
const FILTER_VALUES_MAX: usize = 100;

/// Length of the `-yyyymmdd-hhmmss` suffix of a final snapshot's name, plus room for the
/// `-N` that tells apart snapshots taken within one second.
const SNAPSHOT_SUFFIX_LEN: usize = 16 + 4;

/// How many `-N` suffixes a final snapshot's name may try: far more than destroys of one
/// database within one second.
const SNAPSHOT_NAME_ATTEMPTS: usize = 999;

/// Arguments of a DB instance.
#[derive(Clone, Debug)]
pub struct DbInstanceArgs {
    /// The instance identifier (lowercase; unique per account and region).
    pub identifier: String,
    /// The engine, e.g. `postgres`.
    pub engine: String,
    /// A major version (`16`) or a version prefix (`16.4`); see the module docs.
    pub engine_version: String,
    /// The instance class, e.g. `db.t3.micro`.
    pub instance_class: String,
    pub allocated_storage_gb: i64,
    pub storage_encrypted: bool,
    pub db_subnet_group_name: Input<String>,
    pub vpc_security_group_ids: Vec<Input<String>>,
    pub multi_az: bool,
    pub publicly_accessible: bool,
    /// Days of automated backups to keep; 0 turns them off.
    pub backup_retention_days: i64,
    /// Daily backup window in UTC, `hh:mm-hh:mm`.
    pub backup_window: String,
    /// Weekly maintenance window in UTC, `ddd:hh:mm-ddd:hh:mm`.
    pub maintenance_window: String,
    pub deletion_protection: bool,
    /// Delete without a final snapshot (stackup-side setting).
    pub skip_final_snapshot: bool,
    /// The final snapshot is named `<prefix>-<UTC yyyymmdd-hhmmss>` (stackup-side setting).
    pub final_snapshot_prefix: String,
    pub master_username: String,
    /// Apply modifications now rather than in the maintenance window (stackup-side).
    pub apply_immediately: bool,
    /// Accept replacing the instance under the same identifier, deleting it first
    /// (stackup-side).
    pub allow_replacement: bool,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for DbInstanceArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:CreateDBInstance",
        "rds:DescribeDBInstances",
        "rds:DescribeDBEngineVersions",
        "rds:ModifyDBInstance",
        "rds:DeleteDBInstance",
        "rds:CreateDBSnapshot",
        "rds:DescribeDBSnapshots",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
        // ManageMasterUserPassword: RDS creates the secret with the caller's rights.
        "secretsmanager:CreateSecret",
        "secretsmanager:TagResource",
        "kms:DescribeKey",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("identifier", self.identifier.into()),
            ("engine", self.engine.into()),
            ("engine_version", self.engine_version.into()),
            ("instance_class", self.instance_class.into()),
            ("allocated_storage_gb", self.allocated_storage_gb.into()),
            ("storage_encrypted", self.storage_encrypted.into()),
            ("db_subnet_group_name", self.db_subnet_group_name.into()),
            (
                "vpc_security_group_ids",
                Value::List(self.vpc_security_group_ids.into_iter().map(Into::into).collect()),
            ),
            ("multi_az", self.multi_az.into()),
            ("publicly_accessible", self.publicly_accessible.into()),
            ("backup_retention_days", self.backup_retention_days.into()),
            ("backup_window", self.backup_window.into()),
            ("maintenance_window", self.maintenance_window.into()),
            ("deletion_protection", self.deletion_protection.into()),
            ("skip_final_snapshot", self.skip_final_snapshot.into()),
            ("final_snapshot_prefix", self.final_snapshot_prefix.into()),
            ("master_username", self.master_username.into()),
            ("apply_immediately", self.apply_immediately.into()),
            ("allow_replacement", self.allow_replacement.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:rds:DbInstance`.
pub struct DbInstance {
    rds: aws_sdk_rds::Client,
    schema: Schema,
}

impl DbInstance {
    /// A provider calling RDS through `rds`.
    pub fn new(rds: aws_sdk_rds::Client) -> DbInstance {
        DbInstance {
            rds,
            // The identifier is the instance's name: a replacement under the same one
            // must delete the old instance first (`diff` decides, and refuses that
            // unless allowed); under a new one it is created first.
            schema: Schema::new(TYPE, &["identifier", "engine", "storage_encrypted", "master_username"])
                .delete_before_replace(),
        }
    }

    /// The instances among `ids` that exist, deleting ones included.
    async fn describe(&self, ids: &[String]) -> Result<Vec<LiveInstance>, ProviderError> {
        let mut all = Vec::new();
        for chunk in ids.chunks(FILTER_VALUES_MAX) {
            // A filter (rather than DBInstanceIdentifier) answers an empty list for an
            // identifier that no longer exists instead of failing the whole batch.
            let filter = Filter::builder()
                .name("db-instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            let mut page = self
                .rds
                .describe_db_instances()
                .filters(filter)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| rds_error("DescribeDBInstances", e))?;
            all.append(&mut page);
        }
        Ok(all)
    }

    /// Every instance of the account and region, deleting ones included.
    async fn describe_all(&self) -> Result<Vec<LiveInstance>, ProviderError> {
        self.rds
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| rds_error("DescribeDBInstances", e))
    }

    async fn describe_one(&self, id: &str) -> Result<Option<LiveInstance>, ProviderError> {
        Ok(self
            .describe(&[id.to_string()])
            .await?
            .into_iter()
            .find(|db| db.db_instance_identifier() == Some(id)))
    }

    /// Whether a DB snapshot named `name` exists.
    async fn snapshot_exists(&self, name: &str) -> Result<bool, ProviderError> {
        match self
            .rds
            .describe_db_snapshots()
            .db_snapshot_identifier(name)
            .send()
            .await
        {
            Ok(out) => Ok(!out.db_snapshots().is_empty()),
            Err(e) => {
                let e = rds_error("DescribeDBSnapshots", e);
                if e.kind == ErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The first candidate name after `base`, from the `n`th on, that no snapshot has;
    /// `n` is left at the one chosen.
    async fn free_snapshot_name(&self, base: &str, n: &mut usize) -> Result<String, ProviderError> {
        while *n <= SNAPSHOT_NAME_ATTEMPTS {
            let name = snapshot_candidate(base, *n);
            if !self.snapshot_exists(&name).await? {
                return Ok(name);
            }
            *n += 1;
        }
        Err(ProviderError::new(
            ErrorKind::Conflict,
            format!("every final snapshot name from {base} to {base}-{SNAPSHOT_NAME_ATTEMPTS} is taken"),
        ))
    }

    /// Polls the instance until it is `available` (returning it), or with `deleting`
    /// until DescribeDBInstances no longer finds it (None). The states the SDK's
    /// waiters treat as final are final here too: `deleted`, `deleting`, `failed`,
    /// `incompatible-restore` and `incompatible-parameters` while waiting for
    /// `available`; `creating`, `modifying`, `rebooting` and
    /// `resetting-master-credentials` while waiting for deletion.
    async fn wait(&self, id: &str, deleting: bool) -> Result<Option<LiveInstance>, ProviderError> {
        let state = if deleting { "deleted" } else { "available" };
        let patience = if deleting {
            RDS_PATIENCE
        } else {
            RDS_PATIENCE.confirmed(READY_POLLS)
        };
        wait::until(&format!("DB instance {id}"), state, patience, || async {
            let described = self
                .rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
                .map_err(|e| rds_error("DescribeDBInstances", e));
            let db = match described {
                Ok(out) => out.db_instances.and_then(|all| all.into_iter().next()),
                Err(e) if deleting && e.kind == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let Some(db) = db else {
                return Ok(if deleting {
                    Poll::Ready(None)
                } else {
                    Poll::Pending("not listed yet".to_string())
                });
            };
            let status = db.db_instance_status().unwrap_or_default().to_string();
            // Once DeleteDBInstance was accepted, every state leads to deletion
            // (`modifying`, `backing-up` while the final snapshot is taken, ...).
            let last = if deleting {
                false
            } else {
                matches!(
                    status.as_str(),
                    "deleted" | "deleting" | "failed" | "incompatible-restore" | "incompatible-parameters"
                )
            };
            Ok(match status.as_str() {
                "available" if !deleting => Poll::Ready(Some(db)),
                _ if last => Poll::Failed(status_reason(&db, &status)),
                "" => Poll::Pending("no status yet".to_string()),
                _ => Poll::Pending(status),
            })
        })
        .await
    }

    /// The instance once it is available.
    async fn wait_available(&self, id: &str) -> Result<LiveInstance, ProviderError> {
        self.wait(id, false)
            .await?
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("DB instance {id} vanished")))
    }

    /// The engine version to create `engine` at for the declared `version` (a major
    /// version or prefix): the newest version RDS offers (status `available`) that
    /// `version` covers. A version RDS does not offer (deprecated, or never existed) is
    /// refused naming the ones it does. Should the catalog be unreadable because of a
    /// server error (the test server answers DescribeDBEngineVersions with a 500), the
    /// declared version is sent as it is: RDS itself resolves a major version to its
    /// default minor.
    async fn resolve_version(&self, engine: &str, version: &str) -> Result<String, ProviderError> {
        let listed = self.engine_versions(engine).await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) if matches!(e.kind, ErrorKind::Transient | ErrorKind::Other) => {
                stackup_provider::progress::report(format!(
                    "the RDS version catalog could not be read ({e}); creating with engine version {version} as declared"
                ));
                return Ok(version.to_string());
            }
            Err(e) => return Err(e),
        };
        let offered: Vec<&str> = listed
            .iter()
            .filter(|v| v.status().is_none_or(|s| s == "available"))
            .filter_map(|v| v.engine_version())
            .collect();
        pick_version(version, &offered).ok_or_else(|| {
            let mut near: Vec<&str> = offered.iter().copied().filter(|v| major(v) == major(version)).collect();
            if near.is_empty() {
                near = offered.clone();
            }
            near.sort_by(|a, b| version_cmp(a, b));
            ProviderError::invalid(format!(
                "RDS does not offer {engine} {version} (deprecated or unknown); versions offered{}: {}",
                if major(version).is_empty() {
                    ""
                } else {
                    " of that major version"
                },
                if near.is_empty() {
                    "none".to_string()
                } else {
                    near.join(", ")
                }
            ))
            .with_code("InvalidParameterCombination")
        })
    }

    /// Every version of `engine` RDS lists, page by page. A server error is not
    /// retried (the run's retry policy would back off for seconds on the database's
    /// critical chain): the catalog only refines a version RDS resolves by itself.
    async fn engine_versions(&self, engine: &str) -> Result<Vec<aws_sdk_rds::types::DbEngineVersion>, ProviderError> {
        let few_retries = aws_sdk_rds::config::Builder::default()
            .retry_config(aws_sdk_rds::config::retry::RetryConfig::standard().with_max_attempts(1));
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .rds
                .describe_db_engine_versions()
                .engine(engine)
                .set_marker(marker.take())
                .customize()
                .config_override(few_retries.clone())
                .send()
                .await
                .map_err(|e| rds_error("DescribeDBEngineVersions", e))?;
            all.extend(page.db_engine_versions().iter().cloned());
            match page.marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(all),
            }
        }
    }

    /// ModifyDBInstance once the instance can take it: waits for `available`, then
    /// sends, and while RDS answers InvalidDBInstanceState (busy in a way the status did
    /// not show yet), waits for `available` again and retries.
    async fn modify_when_available(
        &self,
        id: &str,
        modify: aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder,
    ) -> Result<(), ProviderError> {
        crate::ec2::retry_reporting(
            &format!("DB instance {id} is busy; waiting for it to be available again"),
            BUSY_DEADLINE,
            Duration::from_secs(2),
            is_busy,
            || async {
                self.wait_available(id).await?;
                modify
                    .clone()
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| rds_error("ModifyDBInstance", e))
            },
        )
        .await
    }

    /// Polls until the modifications just requested are applied. Unlike the SDK waiter
    /// this accepts `storage-optimization`, which follows a storage change for hours
    /// while the instance is fully usable, and waits for the pending values to clear,
    /// since AWS may still report `available` for a moment after ModifyDBInstance.
    async fn wait_modified(&self, id: &str) -> Result<LiveInstance, ProviderError> {
        let wanted = "available with its modifications applied";
        wait::until(&format!("DB instance {id}"), wanted, MODIFY_PATIENCE, || async {
            let db = self
                .describe_one(id)
                .await?
                .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("DB instance {id} vanished")))?;
            let status = db.db_instance_status().unwrap_or_default().to_string();
            Ok(match status.as_str() {
                "available" | "storage-optimization" if !has_pending(&db) => Poll::Ready(db),
                "failed" | "incompatible-parameters" | "incompatible-network" | "deleting" | "deleted" => {
                    Poll::Failed(format!("it is {status} after modification"))
                }
                _ => Poll::Pending(status),
            })
        })
        .await
    }
}

/// RDS refuses because the instance is busy.
fn is_busy(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("InvalidDBInstanceState")
}

/// The major part of a version: `16` of `16.4`.
fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or_default()
}

/// Compares versions part by part as numbers (`16.10` after `16.9`).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a).cmp(&parts(b))
}

/// Whether `declared` covers `version`: a prefix of it in whole parts (`16` covers
/// `16.4`, `16.4` covers `16.4` and `16.4.1`).
fn covers(declared: &str, version: &str) -> bool {
    version == declared || version.starts_with(&format!("{declared}."))
}

/// Whether the live `version` satisfies `declared`: covered by it, or, for a declared
/// version of the same major with as many parts, newer than it (RDS upgraded the
/// minor version and cannot go back).
pub(crate) fn satisfies(declared: &str, version: &str) -> bool {
    covers(declared, version)
        || (declared.contains('.')
            && major(declared) == major(version)
            && version_cmp(version, declared) == std::cmp::Ordering::Greater)
}

/// The newest of `offered` that `declared` covers.
fn pick_version(declared: &str, offered: &[&str]) -> Option<String> {
    offered
        .iter()
        .filter(|v| covers(declared, v))
        .max_by(|a, b| version_cmp(a, b))
        .map(|v| v.to_string())
}

/// Modifications RDS defers to the maintenance window unless applied immediately
/// (the others, such as backup and maintenance windows, retention, security groups
/// and deletion protection, always apply at once).
const DEFERRED: &[&str] = &[
    "instance_class",
    "allocated_storage_gb",
    "engine_version",
    "multi_az",
    "db_subnet_group_name",
];

/// True when ModifyDBInstance changes still wait to be applied.
fn has_pending(db: &LiveInstance) -> bool {
    db.pending_modified_values().is_some_and(|p| {
        p.db_instance_class().is_some()
            || p.allocated_storage().is_some()
            || p.engine_version().is_some()
            || p.multi_az().is_some()
            || p.backup_retention_period().is_some()
            || p.db_subnet_group_name().is_some()
    })
}

/// Why an instance is stuck in `status`: the status with the messages RDS gives.
fn status_reason(db: &LiveInstance, status: &str) -> String {
    let messages: Vec<&str> = db.status_infos().iter().filter_map(|i| i.message()).collect();
    if messages.is_empty() {
        format!("status {status}")
    } else {
        format!("status {status}: {}", messages.join("; "))
    }
}

fn outputs(db: &LiveInstance) -> Properties {
    let endpoint = db.endpoint();
    props([
        ("id", db.db_instance_identifier().unwrap_or_default().into()),
        ("arn", db.db_instance_arn().unwrap_or_default().into()),
        (
            "endpoint_address",
            endpoint.and_then(|e| e.address()).map_or(Value::Null, Value::from),
        ),
        (
            "endpoint_port",
            endpoint
                .and_then(|e| e.port())
                .map_or(Value::Null, |p| Value::Int(i64::from(p))),
        ),
        (
            "master_user_secret_arn",
            db.master_user_secret()
                .and_then(|s| s.secret_arn())
                .map_or(Value::Null, Value::from),
        ),
        // The version RDS runs, which `engine_version` (a prefix) may not spell out.
        ("engine_version_actual", db.engine_version().unwrap_or_default().into()),
    ])
}

/// The live values of the managed inputs; the stackup-side settings come from the record.
/// A modification RDS has accepted but not yet applied counts as done, so that a read
/// during the change does not plan it again.
fn live_inputs(db: &LiveInstance, recorded: &Properties) -> Properties {
    let pending = db.pending_modified_values();
    let mut groups: Vec<String> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .map(str::to_string)
        .collect();
    groups.sort();
    groups.dedup();
    let recorded_or = |key: &str, default: Value| recorded.get(key).cloned().unwrap_or(default);
    props([
        ("identifier", db.db_instance_identifier().unwrap_or_default().into()),
        ("engine", db.engine().unwrap_or_default().into()),
        ("engine_version", {
            let live = pending
                .and_then(|p| p.engine_version())
                .or(db.engine_version())
                .unwrap_or_default();
            match recorded.get("engine_version").and_then(Value::as_str) {
                Some(declared) if satisfies(declared, live) => declared.into(),
                _ => live.into(),
            }
        }),
        (
            "instance_class",
            pending
                .and_then(|p| p.db_instance_class())
                .or(db.db_instance_class())
                .unwrap_or_default()
                .into(),
        ),
        (
            "allocated_storage_gb",
            i64::from(
                pending
                    .and_then(|p| p.allocated_storage())
                    .or(db.allocated_storage())
                    .unwrap_or(0),
            )
            .into(),
        ),
        ("storage_encrypted", db.storage_encrypted().unwrap_or(false).into()),
        (
            "db_subnet_group_name",
            pending
                .and_then(|p| p.db_subnet_group_name())
                .or(db.db_subnet_group().and_then(|g| g.db_subnet_group_name()))
                .unwrap_or_default()
                .into(),
        ),
        ("vpc_security_group_ids", groups.into()),
        (
            "multi_az",
            pending
                .and_then(|p| p.multi_az())
                .or(db.multi_az())
                .unwrap_or(false)
                .into(),
        ),
        ("publicly_accessible", db.publicly_accessible().unwrap_or(false).into()),
        (
            "backup_retention_days",
            i64::from(
                pending
                    .and_then(|p| p.backup_retention_period())
                    .or(db.backup_retention_period())
                    .unwrap_or(0),
            )
            .into(),
        ),
        ("backup_window", db.preferred_backup_window().unwrap_or_default().into()),
        (
            "maintenance_window",
            db.preferred_maintenance_window()
                .unwrap_or_default()
                .to_ascii_lowercase()
                .into(),
        ),
        ("deletion_protection", db.deletion_protection().unwrap_or(false).into()),
        (
            "skip_final_snapshot",
            recorded_or("skip_final_snapshot", Value::Bool(false)),
        ),
        (
            "final_snapshot_prefix",
            recorded_or("final_snapshot_prefix", Value::String(String::new())),
        ),
        (
            "apply_immediately",
            recorded_or("apply_immediately", Value::Bool(false)),
        ),
        (
            "allow_replacement",
            recorded_or("allow_replacement", Value::Bool(false)),
        ),
        ("master_username", db.master_username().unwrap_or_default().into()),
        ("tags", super::live_tags(db.tag_list())),
    ])
}

/// A live instance as a live resource: what read and list report. `recorded` holds the
/// recorded inputs, for the stackup-side settings (empty for an instance state does not
/// know, whose settings then read as their defaults).
fn live(urn: Urn, id: &str, db: &LiveInstance, recorded: &Properties) -> LiveResource {
    LiveResource {
        urn,
        id: id.to_string(),
        inputs: live_inputs(db, recorded),
        outputs: outputs(db),
    }
}

/// True for the states of an instance that is going away.
fn is_gone(db: &LiveInstance) -> bool {
    matches!(db.db_instance_status(), Some("deleting" | "deleted"))
}

/// `hh:mm` with a valid hour and minute.
fn is_clock(s: &str) -> bool {
    let Some((h, m)) = s.split_once(':') else { return false };
    let two_digits = |x: &str| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit());
    two_digits(h) && two_digits(m) && h < "24" && m < "60"
}

/// `ddd:hh:mm` with a lowercase day.
fn is_weekly(s: &str) -> bool {
    let Some((day, clock)) = s.split_once(':') else {
        return false;
    };
    matches!(day, "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun") && is_clock(clock)
}

/// A valid RDS identifier: a letter first, then letters, digits and single hyphens, not
/// ending in a hyphen.
fn is_identifier(s: &str, max: usize) -> bool {
    s.len() <= max
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.contains("--")
        && !s.ends_with('-')
}

/// Checks a string input with `valid`, after `normalise` (applied in place).
fn check_string(
    inputs: &mut Properties,
    key: &str,
    failures: &mut Vec<CheckFailure>,
    normalise: impl Fn(&str) -> String,
    valid: impl Fn(&str) -> bool,
    reason: &str,
) {
    match inputs.get(key) {
        Some(Value::String(s)) => {
            let s = normalise(s);
            if !valid(&s) {
                failures.push(failure(key, reason));
            }
            inputs.insert(key.into(), Value::String(s));
        }
        Some(v) if !is_known(v) => {}
        _ => failures.push(failure(key, "must be a string")),
    }
}

fn check_int(inputs: &Properties, key: &str, range: std::ops::RangeInclusive<i64>, failures: &mut Vec<CheckFailure>) {
    match int_of(inputs, key) {
        Some(n) if range.contains(&n) => {}
        _ => failures.push(failure(
            key,
            format!("must be a whole number from {} to {}", range.start(), range.end()),
        )),
    }
}

/// The UTC time as `yyyymmdd-hhmmss`, for a final snapshot's name.
fn utc_stamp() -> Result<String, ProviderError> {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .map_err(|e| ProviderError::new(ErrorKind::Other, format!("formatting the time: {e}")))?;
    // "2026-01-31T12:34:56Z", possibly with fractional seconds.
    let digits: String = now.chars().take(19).filter(char::is_ascii_digit).collect();
    if digits.len() != 14 {
        return Err(ProviderError::new(
            ErrorKind::Other,
            format!("unexpected time format {now}"),
        ));
    }
    Ok(format!("{}-{}", &digits[..8], &digits[8..]))
}

fn to_i32(inputs: &Properties, key: &str) -> Result<i32, ProviderError> {
    int_of(inputs, key)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| ProviderError::invalid(format!("input '{key}' must be a whole number")))
}

/// A create whose instance exists but did not become available: tainted, unless it
/// vanished (then there is nothing to record).
fn not_ready(e: ProviderError, id: &str) -> ProviderError {
    if e.kind == ErrorKind::NotFound {
        e
    } else {
        e.created(id)
    }
}

fn protection_error(id: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "DB instance {id} has deletion protection on: set database.deletion_protection = false in the \
         stack file and run `stackup up`, then destroy again (for an instance stackup has no state of: \
         aws rds modify-db-instance --db-instance-identifier {id} --no-deletion-protection --apply-immediately)"
    ))
}

/// The name a final snapshot of `id` gets: `<prefix>-<UTC yyyymmdd-hhmmss>`, with `-2`,
/// `-3`, ... when the first name is taken (two destroys within one second, or a
/// re-created database destroyed again). An instance without a recorded prefix (found
/// by a sweep) uses `<id>-final`.
fn snapshot_base(id: &str, prefix: &str) -> Result<String, ProviderError> {
    let prefix = if prefix.is_empty() {
        format!("{id}-final")
    } else {
        prefix.to_string()
    };
    Ok(format!("{prefix}-{}", utc_stamp()?))
}

/// The `n`th candidate name (from 1) after `base`.
fn snapshot_candidate(base: &str, n: usize) -> String {
    if n <= 1 {
        base.to_string()
    } else {
        format!("{base}-{n}")
    }
}

#[async_trait]
impl Provider for DbInstance {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        // RDS stores identifiers and subnet group names in lowercase.
        check_string(
            &mut inputs,
            "identifier",
            &mut failures,
            str::to_ascii_lowercase,
            |s| is_identifier(s, 63),
            "must be 1 to 63 letters, digits or hyphens, start with a letter, \
             and have no two consecutive hyphens nor a trailing one",
        );
        check_string(
            &mut inputs,
            "engine",
            &mut failures,
            str::to_ascii_lowercase,
            |s| !s.is_empty(),
            "must name an engine, e.g. postgres",
        );
        check_string(
            &mut inputs,
            "engine_version",
            &mut failures,
            |s| s.trim().to_string(),
            |s| {
                !s.is_empty()
                    && s.split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            },
            "must be an engine version or prefix, e.g. 16 or 16.4",
        );
        check_string(
            &mut inputs,
            "instance_class",
            &mut failures,
            |s| s.trim().to_string(),
            |s| s.starts_with("db.") && s.len() > 3,
            "must be a DB instance class, e.g. db.t3.micro",
        );
        check_string(
            &mut inputs,
            "db_subnet_group_name",
            &mut failures,
            str::to_ascii_lowercase,
            |s| !s.is_empty(),
            "must name a DB subnet group",
        );
        check_string(
            &mut inputs,
            "backup_window",
            &mut failures,
            |s| s.trim().to_string(),
            |s| s.split_once('-').is_some_and(|(a, b)| is_clock(a) && is_clock(b)),
            "must be a UTC window hh:mm-hh:mm, e.g. 03:00-04:00",
        );
        // RDS reports the maintenance window in lowercase whatever case it was given.
        check_string(
            &mut inputs,
            "maintenance_window",
            &mut failures,
            |s| s.trim().to_ascii_lowercase(),
            |s| s.split_once('-').is_some_and(|(a, b)| is_weekly(a) && is_weekly(b)),
            "must be a UTC window ddd:hh:mm-ddd:hh:mm, e.g. sun:05:00-sun:06:00",
        );
        check_string(
            &mut inputs,
            "master_username",
            &mut failures,
            |s| s.to_string(),
            |s| {
                s.len() <= 63
                    && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            },
            "must be 1 to 63 letters, digits or underscores, starting with a letter",
        );
        check_int(&inputs, "allocated_storage_gb", 20..=65536, &mut failures);
        check_int(&inputs, "backup_retention_days", 0..=35, &mut failures);
        for key in [
            "storage_encrypted",
            "multi_az",
            "publicly_accessible",
            "deletion_protection",
            "skip_final_snapshot",
            "apply_immediately",
            "allow_replacement",
        ] {
            inputs.entry(key.into()).or_insert(Value::Bool(false));
        }
        inputs
            .entry("final_snapshot_prefix".into())
            .or_insert(Value::String(String::new()));
        if !bool_of(&inputs, "skip_final_snapshot") {
            let prefix = inputs
                .get("final_snapshot_prefix")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !is_identifier(prefix, 255 - SNAPSHOT_SUFFIX_LEN) {
                failures.push(failure(
                    "final_snapshot_prefix",
                    "must name the final snapshot (a letter first, then letters, digits and single hyphens) \
                     unless skip_final_snapshot is set",
                ));
            }
        }
        sort_ids(&mut inputs, "vpc_security_group_ids");
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    /// A replacement under a new identifier creates the new instance first. Under the
    /// same identifier the old instance must go first: that is refused unless
    /// `allow_replacement` (the data survives only in the final snapshot, which is
    /// always taken). Deferred modifications say when they take effect.
    fn diff(&self, req: DiffRequest<'_>) -> DiffResponse {
        // A version the new declaration already covers is no change: a stack that pinned
        // `16.3` and now says `16` keeps running 16.3 until RDS upgrades it.
        let mut old = req.old_inputs.clone();
        if let (Some(Value::String(before)), Some(Value::String(after))) =
            (old.get("engine_version"), req.new_inputs.get("engine_version"))
        {
            if before != after && satisfies(after, before) {
                old.insert("engine_version".into(), Value::String(after.clone()));
            }
        }
        let mut diff = diff_by_schema(&self.schema, &old, req.new_inputs);
        // Stackup-side settings change nothing in AWS.
        if !diff.replace.is_empty() {
            let renamed = diff.replace.iter().any(|k| k == "identifier");
            diff.delete_before_replace = !renamed;
            if !renamed && !bool_of(req.new_inputs, "allow_replacement") {
                let keys = diff.replace.join(", ");
                diff.refuse = Some((
                    diff.replace[0].clone(),
                    format!(
                        "changing {keys} replaces the database, deleting it before its successor can take the \
                         same identifier: the data survives only in the final snapshot. Set \
                         database.allow_replacement = true to accept that (a final snapshot is always \
                         taken), or change database.identifier too so that the new instance is created before \
                         the old one is deleted"
                    ),
                ));
            }
            return diff;
        }
        let deferred: Vec<&str> = diff
            .changed
            .iter()
            .map(String::as_str)
            .filter(|k| DEFERRED.contains(k))
            .collect();
        if !deferred.is_empty() {
            let window = req
                .new_inputs
                .get("maintenance_window")
                .and_then(Value::as_str)
                .unwrap_or("?");
            diff.notes.push(if bool_of(req.new_inputs, "apply_immediately") {
                format!(
                    "{} applied immediately: the instance may restart during the change",
                    deferred.join(", ")
                )
            } else {
                format!(
                    "{} take(s) effect in the next maintenance window ({window}); set database.apply_immediately = \
                     true to apply now",
                    deferred.join(", ")
                )
            });
        }
        diff
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let id = str_of(&req.inputs, "identifier")?.to_string();
        // Identifiers are unique: an instance already there is either one an
        // interrupted run created for this resource (adopt it) or someone else's.
        if let Some(existing) = self.describe_one(&id).await? {
            if !is_gone(&existing) && tagged_for(existing.tag_list(), &req.urn) {
                let db = self.wait_available(&id).await.map_err(|e| not_ready(e, &id))?;
                return Ok(CreateResponse {
                    outputs: outputs(&db),
                    id,
                });
            }
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("DB instance {id} already exists and was not created for {}", req.urn),
            ));
        }
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let i = &req.inputs;
        let version = self
            .resolve_version(str_of(i, "engine")?, str_of(i, "engine_version")?)
            .await?;
        self.rds
            .create_db_instance()
            .db_instance_identifier(&id)
            .engine(str_of(i, "engine")?)
            .engine_version(version)
            .db_instance_class(str_of(i, "instance_class")?)
            .allocated_storage(to_i32(i, "allocated_storage_gb")?)
            .storage_encrypted(bool_of(i, "storage_encrypted"))
            .db_subnet_group_name(str_of(i, "db_subnet_group_name")?)
            .set_vpc_security_group_ids(Some(strings_of(i, "vpc_security_group_ids")))
            .multi_az(bool_of(i, "multi_az"))
            .publicly_accessible(bool_of(i, "publicly_accessible"))
            .backup_retention_period(to_i32(i, "backup_retention_days")?)
            .preferred_backup_window(str_of(i, "backup_window")?)
            .preferred_maintenance_window(str_of(i, "maintenance_window")?)
            .deletion_protection(bool_of(i, "deletion_protection"))
            .master_username(str_of(i, "master_username")?)
            // RDS generates the password and keeps it in Secrets Manager.
            .manage_master_user_password(true)
            // RDS applies minor upgrades (and deprecated minors are upgraded anyway):
            // a newer minor within the declared prefix is not drift.
            .auto_minor_version_upgrade(true)
            .set_tags(Some(rds_tags(&tags)))
            .send()
            .await
            .map_err(|e| rds_error("CreateDBInstance", e))?;
        // RDS answers `creating` at once; the instance is ready when it stays available.
        let db = self.wait_available(&id).await.map_err(|e| not_ready(e, &id))?;
        Ok(CreateResponse {
            outputs: outputs(&db),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut ids: Vec<String> = req.targets.iter().map(|t| t.id.clone()).collect();
        ids.sort();
        ids.dedup();
        let described = self.describe(&ids).await?;
        let mut found = Vec::new();
        for target in &req.targets {
            let Some(db) = described
                .iter()
                .find(|db| db.db_instance_identifier() == Some(target.id.as_str()) && !is_gone(db))
            else {
                continue;
            };
            found.push(live(target.urn.clone(), &target.id, db, &target.inputs));
        }
        Ok(ReadResponse { found })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // DescribeDBInstances returns each instance's tags: no call per instance.
        let found = self
            .describe_all()
            .await?
            .iter()
            .filter(|db| !is_gone(db))
            .filter_map(|db| {
                let id = db.db_instance_identifier()?;
                let urn = req.urn_of(id, || listed_urn(&req.stack, TYPE, id, db.tag_list()))?;
                let recorded = req.recorded(id).map(|t| t.inputs.clone()).unwrap_or_default();
                Some(live(urn, id, db, &recorded))
            })
            .collect();
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let changed = |key: &str| crate::common::changed(&req.changed, key);
        let i = &req.new_inputs;
        let immediately = bool_of(i, "apply_immediately");
        let mut modify = self
            .rds
            .modify_db_instance()
            .db_instance_identifier(&req.id)
            .apply_immediately(immediately);
        let mut any = false;
        if changed("engine_version") {
            let declared = str_of(i, "engine_version")?;
            let version = self.resolve_version(str_of(i, "engine")?, declared).await?;
            let running = crate::props::opt_str(&req.old_outputs, "engine_version_actual").unwrap_or_default();
            // The program declared the version: a major upgrade is what it asks for.
            modify = modify
                .engine_version(version)
                .allow_major_version_upgrade(running.is_empty() || major(running) != major(declared));
            any = true;
        }
        if changed("instance_class") {
            modify = modify.db_instance_class(str_of(i, "instance_class")?);
            any = true;
        }
        if changed("allocated_storage_gb") {
            modify = modify.allocated_storage(to_i32(i, "allocated_storage_gb")?);
            any = true;
        }
        if changed("db_subnet_group_name") {
            modify = modify.db_subnet_group_name(str_of(i, "db_subnet_group_name")?);
            any = true;
        }
        if changed("vpc_security_group_ids") {
            modify = modify.set_vpc_security_group_ids(Some(strings_of(i, "vpc_security_group_ids")));
            any = true;
        }
        if changed("multi_az") {
            modify = modify.multi_az(bool_of(i, "multi_az"));
            any = true;
        }
        if changed("publicly_accessible") {
            modify = modify.publicly_accessible(bool_of(i, "publicly_accessible"));
            any = true;
        }
        if changed("backup_retention_days") {
            modify = modify.backup_retention_period(to_i32(i, "backup_retention_days")?);
            any = true;
        }
        if changed("backup_window") {
            modify = modify.preferred_backup_window(str_of(i, "backup_window")?);
            any = true;
        }
        if changed("maintenance_window") {
            modify = modify.preferred_maintenance_window(str_of(i, "maintenance_window")?);
            any = true;
        }
        if changed("deletion_protection") {
            modify = modify.deletion_protection(bool_of(i, "deletion_protection"));
            any = true;
        }
        let mut outputs_now = req.old_outputs.clone();
        if any {
            self.modify_when_available(&req.id, modify).await?;
            let deferred = !immediately && req.changed.iter().any(|k| DEFERRED.contains(&k.as_str()));
            outputs_now = if deferred {
                // Pending until the maintenance window: the instance stays available,
                // and reads report the pending values as the live ones.
                outputs(&self.wait_available(&req.id).await?)
            } else {
                outputs(&self.wait_modified(&req.id).await?)
            };
        }
        if changed("tags") {
            let arn = recorded_arn(&req.old_outputs, &req.id)?;
            sync_tags(&self.rds, arn, &req.stack, &req.urn, &req.old_inputs, &req.new_inputs).await?;
        }
        Ok(UpdateResponse {
            outputs: outputs_now,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        if bool_of(&req.inputs, "deletion_protection") {
            return Err(protection_error(&req.id));
        }
        // The old instance of a replacement keeps its data in a final snapshot, whatever
        // the resource's own setting says.
        let skip = bool_of(&req.inputs, "skip_final_snapshot") && !req.replacing;
        let base = if skip {
            String::new()
        } else {
            snapshot_base(
                &req.id,
                crate::props::opt_str(&req.inputs, "final_snapshot_prefix").unwrap_or(""),
            )?
        };
        let mut n = 1;
        let started = tokio::time::Instant::now();
        loop {
            let mut delete = self.rds.delete_db_instance().db_instance_identifier(&req.id);
            if skip {
                delete = delete.skip_final_snapshot(true);
            } else {
                let name = self.free_snapshot_name(&base, &mut n).await?;
                delete = delete.skip_final_snapshot(false).final_db_snapshot_identifier(name);
            }
            let Err(e) = delete.send().await else { break };
            let e = rds_error("DeleteDBInstance", e);
            match e.code.as_deref() {
                _ if e.kind == ErrorKind::NotFound => return Ok(()),
                // Another destroy took the name between the look-up and the call.
                Some("DBSnapshotAlreadyExists") if n < SNAPSHOT_NAME_ATTEMPTS => n += 1,
                // Turned on outside stackup since the record was made.
                Some("InvalidParameterCombination") if e.message.to_ascii_lowercase().contains("protect") => {
                    return Err(protection_error(&req.id));
                }
                // Already being deleted (an interrupted destroy): wait for it below. Busy
                // otherwise (creating, modifying, backing up: "a final snapshot cannot be
                // taken"): wait until it is available, then try again.
                Some("InvalidDBInstanceState") => {
                    if self.describe_one(&req.id).await?.as_ref().is_none_or(is_gone) {
                        break;
                    }
                    if started.elapsed() >= BUSY_DEADLINE {
                        return Err(e);
                    }
                    stackup_provider::progress::report(format!(
                        "DB instance {} is busy ({e}); waiting for it to be available to delete it",
                        req.id
                    ));
                    self.wait_available(&req.id).await?;
                }
                _ => return Err(e),
            }
        }
        self.wait(&req.id, true).await?;
        Ok(())
    }

    /// Deletion protection, as live now (turned on outside stackup counts too), stops
    /// a destroy before it starts.
    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        match self.describe_one(&req.id).await? {
            Some(db) if !is_gone(&db) && db.deletion_protection().unwrap_or(false) => Err(protection_error(&req.id)),
            _ => Ok(()),
        }
    }
}
