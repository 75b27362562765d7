//! `aws:rds:DbInstance`: a single DB instance whose master password RDS keeps in
//! Secrets Manager.
//!
//! The password never passes through stackup: the instance is created with
//! ManageMasterUserPassword, and the program gets the secret's ARN as an output.
//! `skip_final_snapshot` and `final_snapshot_prefix` only steer stackup's own delete;
//! read reports them as recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbInstance as LiveInstance, Filter};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
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
/// `RDS_DEADLINE`; either usually takes 5 to 15 minutes, so poll at most every 15
/// seconds.
const RDS_PATIENCE: Patience = Patience::new(RDS_DEADLINE.as_secs(), 15);

/// Waiting for modifications to be applied: up to `RDS_DEADLINE`, polled at most every
/// 5 seconds.
const MODIFY_PATIENCE: Patience = Patience::new(RDS_DEADLINE.as_secs(), 5);

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
    /// The full engine version, e.g. `16.3`.
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
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for DbInstanceArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:CreateDBInstance",
        "rds:DescribeDBInstances",
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
            // The identifier is the instance's name: a replacement cannot exist beside
            // the instance it replaces.
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
        wait::until(&format!("DB instance {id}"), state, RDS_PATIENCE, || async {
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
            let last = if deleting {
                matches!(
                    status.as_str(),
                    "creating" | "modifying" | "rebooting" | "resetting-master-credentials"
                )
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
        (
            "engine_version",
            pending
                .and_then(|p| p.engine_version())
                .or(db.engine_version())
                .unwrap_or_default()
                .into(),
        ),
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
            inputs.insert(key.to_string(), Value::String(s));
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
            |s| !s.is_empty(),
            "must be an engine version, e.g. 16.3",
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

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let id = str_of(&req.inputs, "identifier")?.to_string();
        // Identifiers are unique: an instance already there is either one an
        // interrupted run created for this resource (adopt it) or someone else's.
        if let Some(existing) = self.describe_one(&id).await? {
            if !is_gone(&existing) && tagged_for(existing.tag_list(), &req.urn) {
                let db = self.wait_available(&id).await?;
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
        let created = self
            .rds
            .create_db_instance()
            .db_instance_identifier(&id)
            .engine(str_of(i, "engine")?)
            .engine_version(str_of(i, "engine_version")?)
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
            // The declared engine_version is the version: an automatic minor upgrade
            // would show as drift and be planned back. Upgrades go through the program.
            .auto_minor_version_upgrade(false)
            .set_tags(Some(rds_tags(&tags)))
            .send()
            .await
            .map_err(|e| rds_error("CreateDBInstance", e))?;
        // Nothing to wait for if the create already answers an available instance.
        let db = match created.db_instance() {
            Some(db) if db.db_instance_status() == Some("available") && db.endpoint().is_some() => db.clone(),
            _ => self.wait_available(&id).await?,
        };
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
                let urn = listed_urn(&req.stack, TYPE, id, db.tag_list())?;
                Some(live(urn, id, db, &Properties::new()))
            })
            .collect();
        Ok(Some(ListResponse { found }))
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let changed = |key: &str| crate::common::changed(&req.changed, key);
        let i = &req.new_inputs;
        let mut modify = self
            .rds
            .modify_db_instance()
            .db_instance_identifier(&req.id)
            .apply_immediately(true);
        let mut any = false;
        if changed("engine_version") {
            // The program declared the version: a major upgrade is what it asks for.
            modify = modify
                .engine_version(str_of(i, "engine_version")?)
                .allow_major_version_upgrade(true);
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
            modify.send().await.map_err(|e| rds_error("ModifyDBInstance", e))?;
            outputs_now = outputs(&self.wait_modified(&req.id).await?);
        }
        if changed("tags") {
            let arn = recorded_arn(&req.old_outputs, &req.id)?;
            sync_tags(&self.rds, arn, &req.stack, &req.urn, &req.old_inputs, &req.new_inputs).await?;
        }
        Ok(UpdateResponse { outputs: outputs_now })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        if bool_of(&req.inputs, "deletion_protection") {
            return Err(protection_error(&req.id));
        }
        let skip = bool_of(&req.inputs, "skip_final_snapshot");
        let base = if skip {
            String::new()
        } else {
            snapshot_base(
                &req.id,
                crate::props::opt_str(&req.inputs, "final_snapshot_prefix").unwrap_or(""),
            )?
        };
        let mut n = 1;
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
                // Already being deleted (an interrupted destroy): wait for it below.
                Some("InvalidDBInstanceState") => {
                    if !self.describe_one(&req.id).await?.as_ref().is_none_or(is_gone) {
                        return Err(e);
                    }
                    break;
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
