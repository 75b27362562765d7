//! `aws:logs:LogGroup`: a CloudWatch Logs group with a retention period.
//!
//! The group's ARN is reported without the `:*` suffix that DescribeLogGroups appends to
//! `arn`: the tagging APIs want the bare form (moto answers an empty tag set for the
//! suffixed one), and a policy granting access to the streams adds `:*` itself.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup as LiveGroup;
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use crate::common::{changed, failure, found, name_arn_outputs, ok_if_gone, urns_by_id};
use crate::props::{int_of, props, str_of};
use crate::{classify, tags};

/// The type token of a log group.
pub const TYPE: &str = "aws:logs:LogGroup";

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/// DescribeLogGroups accepts at most 50 log group identifiers per call.
const IDENTIFIERS_MAX: usize = 50;

/// Arguments of a log group.
#[derive(Clone, Debug)]
pub struct LogGroupArgs {
    /// The group name, e.g. `/stackup/prod/web`.
    pub name: String,
    /// How long events are kept: one of [`RETENTION_DAYS`].
    pub retention_days: i64,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for LogGroupArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "logs:CreateLogGroup",
        "logs:DescribeLogGroups",
        "logs:PutRetentionPolicy",
        "logs:ListTagsForResource",
        "logs:TagResource",
        // CreateLogGroup with tags also checks the older per-log-group tagging action.
        "logs:TagLogGroup",
        "logs:UntagResource",
        "logs:DeleteLogGroup",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("retention_days", self.retention_days.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The `aws:logs:LogGroup` provider.
pub struct LogGroup {
    logs: aws_sdk_cloudwatchlogs::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

impl LogGroup {
    /// A provider calling CloudWatch Logs through `logs`.
    pub fn new(logs: aws_sdk_cloudwatchlogs::Client, tagging: crate::tagging::StackIndex) -> LogGroup {
        LogGroup {
            logs,
            tagging,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// The group named exactly `name`, if it exists. A prefix search is the only
    /// single-group form DescribeLogGroups has; other groups sharing the prefix are skipped.
    async fn describe_one(&self, name: &str) -> Result<Option<LiveGroup>, ProviderError> {
        let mut pages = self
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .into_paginator()
            .items()
            .send();
        while let Some(group) = pages.try_next().await.map_err(|e| classify("DescribeLogGroups", e))? {
            if group.log_group_name() == Some(name) {
                return Ok(Some(group));
            }
        }
        Ok(None)
    }

    /// The existing groups among `names`, by name: one call per 50 names (and page).
    async fn describe_many(&self, names: &[String]) -> Result<BTreeMap<String, LiveGroup>, ProviderError> {
        let mut found = BTreeMap::new();
        for chunk in names.chunks(IDENTIFIERS_MAX) {
            let listed = self
                .logs
                .describe_log_groups()
                .set_log_group_identifiers(Some(chunk.to_vec()))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("DescribeLogGroups", e));
            match listed {
                Ok(groups) => {
                    // Matched by name: an endpoint that ignores the identifiers (moto does)
                    // lists every group.
                    for g in groups {
                        if let Some(name) = g.log_group_name().filter(|n| chunk.iter().any(|c| c == n)) {
                            found.insert(name.to_string(), g);
                        }
                    }
                }
                // Should an endpoint refuse the identifiers form, one prefix search per group
                // still answers correctly.
                Err(e) if matches!(e.kind, ErrorKind::Invalid | ErrorKind::NotFound) => {
                    for name in chunk {
                        if let Some(g) = self.describe_one(name).await? {
                            found.insert(name.clone(), g);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Every live tag of the group, stackup's included.
    async fn live_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| classify("ListTagsForResource", e))?;
        Ok(out.tags().map(tags::map).unwrap_or_default())
    }

    /// The group's bare ARN and live tags; None when it was deleted since it was
    /// described. Tags have no batch form: one call per group.
    async fn tagged(&self, group: &LiveGroup) -> Result<Option<(String, BTreeMap<String, String>)>, ProviderError> {
        let arn = bare_arn(group)?;
        Ok(found(self.live_tags(&arn).await)?.map(|live| (arn, live)))
    }

    /// Brings the tags from `old` to `new` (user plus stackup tags).
    async fn sync_tags(
        &self,
        arn: &str,
        old: &BTreeMap<String, String>,
        new: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        tags::sync(
            old,
            new,
            |removed| async move {
                self.logs
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("UntagResource", e))
            },
            || async {
                self.logs
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(new.clone().into_iter().collect()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("TagResource", e))
            },
        )
        .await
    }

    async fn put_retention(&self, name: &str, days: i64) -> Result<(), ProviderError> {
        let days = i32::try_from(days)
            .map_err(|_| ProviderError::invalid(format!("input 'retention_days': {days} is out of range")))?;
        self.logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(days)
            .send()
            .await
            .map_err(|e| classify("PutRetentionPolicy", e))?;
        Ok(())
    }

    /// The bare ARN of the group named `name`, which must exist.
    async fn arn_of(&self, name: &str) -> Result<String, ProviderError> {
        let group = self.describe_one(name).await?.ok_or_else(|| {
            ProviderError::new(ErrorKind::NotFound, format!("log group {name} does not exist"))
                .with_code("ResourceNotFoundException")
        })?;
        bare_arn(&group)
    }

    /// Creating found the name taken: adopts the group when an interrupted run of this
    /// same resource created it (it carries our `stackup:urn` tag), else a conflict.
    async fn adopt(&self, name: &str, urn: &Urn, conflict: ProviderError) -> Result<String, ProviderError> {
        let Some(group) = self.describe_one(name).await? else {
            return Err(conflict);
        };
        let arn = bare_arn(&group)?;
        if !tags::owned_by(&self.live_tags(&arn).await?, urn) {
            return Err(ProviderError {
                message: format!("log group {name} already exists and is not managed by {urn}"),
                ..conflict
            });
        }
        Ok(arn)
    }
}

/// The group's ARN without the `:*` suffix.
fn bare_arn(group: &LiveGroup) -> Result<String, ProviderError> {
    if let Some(arn) = group.log_group_arn() {
        return Ok(arn.to_string());
    }
    group
        .arn()
        .map(|a| a.strip_suffix(":*").unwrap_or(a).to_string())
        .ok_or_else(|| ProviderError::invalid("DescribeLogGroups returned a group without an ARN"))
}

/// The live resource a group is, as read and list report it.
fn live(urn: Urn, group: &LiveGroup, arn: &str, tags: &BTreeMap<String, String>) -> LiveResource {
    let name = group.log_group_name().unwrap_or_default();
    let retention = group.retention_in_days().map_or(Value::Null, |d| Value::Int(d.into()));
    LiveResource {
        urn,
        id: name.to_string(),
        inputs: props([
            ("name", name.into()),
            ("retention_days", retention),
            ("tags", tags::user_tags(tags)),
        ]),
        outputs: name_arn_outputs(name, arn),
    }
}

/// Why `name` is not a valid log group name, if it is not.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 512 {
        return Some(format!("'{name}' must be 1 to 512 characters long"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '#')))
    {
        return Some(format!(
            "'{name}' contains '{c}'; log group names allow letters, digits and _ - / . #"
        ));
    }
    if name.starts_with("aws/") {
        return Some(format!("'{name}': names starting with 'aws/' are reserved by AWS"));
    }
    None
}

#[async_trait]
impl Provider for LogGroup {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        let mut fail = |property: &str, reason: String| failures.push(failure(property, reason));
        match inputs.get("name") {
            Some(Value::String(name)) => {
                if let Some(reason) = name_problem(name) {
                    fail("name", reason);
                }
            }
            _ => fail("name", "must be a string".into()),
        }
        match inputs.get("retention_days") {
            Some(Value::Int(days)) if RETENTION_DAYS.contains(days) => {}
            Some(Value::Int(days)) => fail(
                "retention_days",
                format!("{days} is not a retention CloudWatch Logs accepts; use one of {RETENTION_DAYS:?}"),
            ),
            _ => fail(
                "retention_days",
                format!("must be an integer, one of {RETENTION_DAYS:?}"),
            ),
        }
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?;
        let retention = int_of(&req.inputs, "retention_days")
            .ok_or_else(|| ProviderError::invalid("input 'retention_days' must be an integer"))?;
        let all_tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let created = self
            .logs
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(all_tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify("CreateLogGroup", e));
        let arn = match created {
            Ok(_) => self.arn_of(name).await?,
            Err(e) if e.kind == ErrorKind::Conflict => {
                let arn = self.adopt(name, &req.urn, e).await?;
                // The adopted group may hold tags from before a later edit of the program.
                let live = self.live_tags(&arn).await?;
                self.sync_tags(&arn, &live, &all_tags).await?;
                arn
            }
            Err(e) => return Err(e),
        };
        // CreateLogGroup has no retention parameter: a new group keeps events forever
        // until this call.
        self.put_retention(name, retention).await?;
        Ok(CreateResponse {
            outputs: name_arn_outputs(name, &arn),
            id: name.to_string(),
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = urns_by_id(&req.targets);
        let names: Vec<String> = urns.keys().cloned().collect();
        let groups = self.describe_many(&names).await?;
        let mut found = Vec::new();
        for (name, group) in &groups {
            let Some(urn) = urns.get(name) else { continue };
            if let Some((arn, live_tags)) = self.tagged(group).await? {
                found.push(live(urn.clone(), group, &arn, &live_tags));
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let name = req.id.as_str();
        if changed(&req.changed, "retention_days") {
            let days = int_of(&req.new_inputs, "retention_days")
                .ok_or_else(|| ProviderError::invalid("input 'retention_days' must be an integer"))?;
            self.put_retention(name, days).await?;
        }
        let arn = match req.old_outputs.get("arn").and_then(Value::as_str) {
            Some(arn) => arn.to_string(),
            None => self.arn_of(name).await?,
        };
        if changed(&req.changed, "tags") {
            self.sync_tags(
                &arn,
                &tags::desired(&req.old_inputs),
                &tags::with_stackup(&req.stack, &req.urn, &req.new_inputs),
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: name_arn_outputs(name, &arn),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // Deletion is synchronous: the group is gone when the call returns.
        ok_if_gone(
            self.logs
                .delete_log_group()
                .log_group_name(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteLogGroup", e)),
        )
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // The stack's log groups with their tags in one paginated call (Logs would take
        // a ListTagsForResource per group of the account), then each one's settings.
        let tagged = self.tagging.objects(&req.stack, "logs").await?;
        let mut found = Vec::new();
        for object in &tagged {
            // arn:aws:logs:REGION:ACCOUNT:log-group:NAME (sometimes with a trailing :*)
            let Some(name) = object.arn.split(":log-group:").nth(1).map(|n| n.trim_end_matches(":*")) else {
                continue;
            };
            let groups: Vec<LiveGroup> = self
                .logs
                .describe_log_groups()
                .log_group_name_prefix(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("DescribeLogGroups", e))?;
            let Some(group) = groups.iter().find(|g| g.log_group_name() == Some(name)) else {
                continue;
            };
            let arn = bare_arn(group)?;
            if let Some(urn) = req.urn_of(name, || tags::listed_urn(&req.stack, TYPE, name, &object.tags)) {
                found.push(live(urn, group, &arn, &object.tags));
            }
        }
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }
}
