//! `aws:cloudwatch:MetricAlarm`: an alarm on one metric with a static threshold.
//!
//! PutMetricAlarm both creates and overwrites, silently: create therefore looks the name
//! up first and refuses an alarm that does not carry this resource's `stackup:urn` tag.
//! An update sends the full definition again without tags (AWS ignores tags on an
//! existing alarm; moto merges them), and tags go through TagResource / UntagResource.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm as LiveAlarm, Statistic, Tag};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use crate::common::{changed, failure, found, name_arn_outputs, ok_if_gone, urns_by_id};
use crate::props::{int_of, is_known, props, str_of, strings_of};
use crate::{classify, tags};

/// The type token of a metric alarm.
pub const TYPE: &str = "aws:cloudwatch:MetricAlarm";

/// The statistics a metric alarm can use (percentiles are extended statistics, which
/// this resource does not manage).
pub const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// The comparisons of a static threshold (the others need an anomaly detection band).
pub const COMPARISONS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

/// DescribeAlarms accepts at most 100 alarm names per call.
const NAMES_MAX: usize = 100;

/// PutMetricAlarm accepts at most 5 actions per state.
const ACTIONS_MAX: usize = 5;

/// PutMetricAlarm accepts at most 30 dimensions.
const DIMENSIONS_MAX: usize = 30;

/// An alarm may look back at most seven days (periods times evaluation periods).
const EVALUATION_RANGE_MAX_SECONDS: i64 = 7 * 24 * 3600;

/// Arguments of a metric alarm.
#[derive(Clone, Debug)]
pub struct MetricAlarmArgs {
    /// The alarm name, unique in the account and region.
    pub name: String,
    pub description: String,
    /// The metric's namespace, e.g. `AWS/EC2`.
    pub namespace: String,
    pub metric_name: String,
    /// One of [`STATISTICS`].
    pub statistic: String,
    pub dimensions: BTreeMap<String, Input<String>>,
    /// 10, 20, 30 or a multiple of 60.
    pub period_seconds: i64,
    pub evaluation_periods: i64,
    pub threshold: f64,
    /// One of [`COMPARISONS`], e.g. `GreaterThanThreshold`.
    pub comparison: String,
    /// ARNs notified when the alarm fires (SNS topics, scaling policies), at most 5.
    pub alarm_actions: Vec<Input<String>>,
    /// ARNs notified when the alarm returns to OK, at most 5.
    pub ok_actions: Vec<Input<String>>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for MetricAlarmArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
        "cloudwatch:DeleteAlarms",
    ];
    fn into_properties(self) -> Properties {
        let dimensions: Properties = self.dimensions.into_iter().map(|(k, v)| (k, v.into())).collect();
        props([
            ("name", self.name.into()),
            ("description", self.description.into()),
            ("namespace", self.namespace.into()),
            ("metric_name", self.metric_name.into()),
            ("statistic", self.statistic.into()),
            ("dimensions", Value::Map(dimensions)),
            ("period_seconds", self.period_seconds.into()),
            ("evaluation_periods", self.evaluation_periods.into()),
            ("threshold", self.threshold.into()),
            ("comparison", self.comparison.into()),
            ("alarm_actions", self.alarm_actions.into()),
            ("ok_actions", self.ok_actions.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The `aws:cloudwatch:MetricAlarm` provider.
pub struct MetricAlarm {
    cloudwatch: aws_sdk_cloudwatch::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

impl MetricAlarm {
    /// A provider calling CloudWatch through `cloudwatch`.
    pub fn new(cloudwatch: aws_sdk_cloudwatch::Client, tagging: crate::tagging::StackIndex) -> MetricAlarm {
        MetricAlarm {
            cloudwatch,
            tagging,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// The live alarms among `names`: one DescribeAlarms per 100 names (and page).
    async fn describe(&self, names: &[String]) -> Result<Vec<LiveAlarm>, ProviderError> {
        let mut alarms = Vec::new();
        for chunk in names.chunks(NAMES_MAX) {
            let pages = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("DescribeAlarms", e))?;
            for page in pages {
                alarms.extend(
                    page.metric_alarms()
                        .iter()
                        .filter(|a| a.alarm_name().is_some_and(|n| chunk.iter().any(|c| c == n)))
                        .cloned(),
                );
            }
        }
        Ok(alarms)
    }

    async fn describe_one(&self, name: &str) -> Result<Option<LiveAlarm>, ProviderError> {
        Ok(self.describe(&[name.to_string()]).await?.into_iter().next())
    }

    /// The ARN of the alarm named `name`, which must exist.
    async fn arn_of(&self, name: &str) -> Result<String, ProviderError> {
        self.describe_one(name)
            .await?
            .as_ref()
            .and_then(LiveAlarm::alarm_arn)
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::new(ErrorKind::NotFound, format!("alarm {name} does not exist"))
                    .with_code("ResourceNotFound")
            })
    }

    /// Every live tag of the alarm, stackup's included.
    async fn live_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| classify("ListTagsForResource", e))?;
        Ok(tags::map(
            out.tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
        ))
    }

    /// The alarm's ARN and live tags; None when it was deleted since it was described.
    /// Tags have no batch form: one call per alarm.
    async fn tagged(&self, alarm: &LiveAlarm) -> Result<Option<(String, BTreeMap<String, String>)>, ProviderError> {
        let arn = alarm.alarm_arn().ok_or_else(|| {
            ProviderError::invalid(format!(
                "DescribeAlarms returned {} without an ARN",
                alarm.alarm_name().unwrap_or_default()
            ))
        })?;
        Ok(found(self.live_tags(arn).await)?.map(|live| (arn.to_string(), live)))
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
                self.cloudwatch
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("UntagResource", e))
            },
            || async {
                self.cloudwatch
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(cloudwatch_tags(new)))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("TagResource", e))
            },
        )
        .await
    }

    /// An alarm found under the name being created is adopted only when an interrupted
    /// run of this same resource created it (it carries our `stackup:urn` tag): its ARN
    /// and live tags. Anything else is a conflict.
    async fn adoptable(
        &self,
        alarm: &LiveAlarm,
        urn: &Urn,
    ) -> Result<(String, BTreeMap<String, String>), ProviderError> {
        let name = alarm.alarm_name().unwrap_or_default();
        let arn = alarm
            .alarm_arn()
            .ok_or_else(|| ProviderError::invalid(format!("DescribeAlarms returned {name} without an ARN")))?;
        let live = self.live_tags(arn).await?;
        if !tags::owned_by(&live, urn) {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("CloudWatch alarm {name} already exists and is not managed by {urn}"),
            ));
        }
        Ok((arn.to_string(), live))
    }

    /// A PutMetricAlarm request carrying the full definition in `inputs`, without tags.
    fn put(&self, inputs: &Properties) -> Result<PutMetricAlarmFluentBuilder, ProviderError> {
        let int32 = |key: &str| {
            int_of(inputs, key)
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| ProviderError::invalid(format!("input '{key}' must be an integer")))
        };
        let threshold = float_of(inputs.get("threshold"))
            .ok_or_else(|| ProviderError::invalid("input 'threshold' must be a number"))?;
        let dimensions = inputs
            .get("dimensions")
            .and_then(Value::as_map)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let v = v.as_str().ok_or_else(|| {
                            ProviderError::invalid(format!("input 'dimensions.{k}' must be a string"))
                        })?;
                        Ok(Dimension::builder().name(k.as_str()).value(v).build())
                    })
                    .collect::<Result<Vec<_>, ProviderError>>()
            })
            .transpose()?
            .unwrap_or_default();
        let description = str_of(inputs, "description").unwrap_or_default();
        Ok(self
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(str_of(inputs, "name")?)
            // PutMetricAlarm replaces the whole definition: an absent description clears it.
            .set_alarm_description((!description.is_empty()).then(|| description.to_string()))
            .actions_enabled(true)
            .namespace(str_of(inputs, "namespace")?)
            .metric_name(str_of(inputs, "metric_name")?)
            .statistic(Statistic::from(str_of(inputs, "statistic")?))
            .set_dimensions(Some(dimensions))
            .period(int32("period_seconds")?)
            .evaluation_periods(int32("evaluation_periods")?)
            .threshold(threshold)
            .comparison_operator(ComparisonOperator::from(str_of(inputs, "comparison")?))
            .set_alarm_actions(Some(strings_of(inputs, "alarm_actions")))
            .set_ok_actions(Some(strings_of(inputs, "ok_actions"))))
    }
}

fn cloudwatch_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn float_of(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Float(f) => Some(*f),
        // Exact for every threshold a person writes; integers beyond 2^53 round.
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// Sorted, deduplicated action ARNs, as check and read both report them.
fn action_list(mut actions: Vec<String>) -> Value {
    actions.sort();
    actions.dedup();
    Value::List(actions.into_iter().map(Value::String).collect())
}

/// The live resource an alarm is, as read and list report it: its inputs normalised as
/// check normalises them.
fn live(urn: Urn, alarm: &LiveAlarm, arn: &str, tags: &BTreeMap<String, String>) -> LiveResource {
    let name = alarm.alarm_name().unwrap_or_default();
    LiveResource {
        urn,
        id: name.to_string(),
        inputs: live_inputs(alarm, tags),
        outputs: name_arn_outputs(name, arn),
    }
}

/// The inputs of a live alarm, normalised as check normalises them.
fn live_inputs(alarm: &LiveAlarm, tags: &BTreeMap<String, String>) -> Properties {
    let dimensions: Properties = alarm
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_string(), Value::String(d.value()?.to_string()))))
        .collect();
    let opt_int = |v: Option<i32>| v.map_or(Value::Null, |v| Value::Int(v.into()));
    props([
        ("name", alarm.alarm_name().unwrap_or_default().into()),
        ("description", alarm.alarm_description().unwrap_or_default().into()),
        ("namespace", alarm.namespace().unwrap_or_default().into()),
        ("metric_name", alarm.metric_name().unwrap_or_default().into()),
        (
            "statistic",
            alarm.statistic().map_or(Value::Null, |s| s.as_str().into()),
        ),
        ("dimensions", Value::Map(dimensions)),
        ("period_seconds", opt_int(alarm.period())),
        ("evaluation_periods", opt_int(alarm.evaluation_periods())),
        ("threshold", alarm.threshold().map_or(Value::Null, Value::Float)),
        (
            "comparison",
            alarm.comparison_operator().map_or(Value::Null, |c| c.as_str().into()),
        ),
        ("alarm_actions", action_list(alarm.alarm_actions().to_vec())),
        ("ok_actions", action_list(alarm.ok_actions().to_vec())),
        ("tags", tags::user_tags(tags)),
    ])
}

/// Check of one string input: present, known, at most `max` characters, and optionally
/// one of `allowed`.
fn check_string(
    inputs: &Properties,
    key: &str,
    min: usize,
    max: usize,
    allowed: Option<&[&str]>,
    failures: &mut Vec<CheckFailure>,
) {
    let reason = match inputs.get(key) {
        Some(Value::String(s)) if s.chars().count() < min || s.chars().count() > max => {
            format!("must be {min} to {max} characters long")
        }
        Some(Value::String(s)) if s.chars().any(char::is_control) => "must not contain control characters".into(),
        Some(Value::String(s)) => match allowed {
            Some(allowed) if !allowed.contains(&s.as_str()) => {
                format!("'{s}' is not one of {}", allowed.join(", "))
            }
            _ => return,
        },
        _ => "must be a string".into(),
    };
    failures.push(failure(key, reason));
}

/// Check of an action list: at most five, known ones ARNs; sorted and deduplicated once
/// every element is known (until then the order is the program's).
fn check_actions(inputs: &mut Properties, key: &str, failures: &mut Vec<CheckFailure>) {
    let mut fail = |reason: String| failures.push(failure(key, reason));
    let list = match inputs.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(l)) => l.clone(),
        Some(v) if !is_known(v) => return,
        Some(_) => return fail("must be a list of ARNs".into()),
    };
    if list.len() > ACTIONS_MAX {
        fail(format!(
            "has {} actions; an alarm takes at most {ACTIONS_MAX}",
            list.len()
        ));
    }
    for v in list.iter().filter(|v| is_known(v)) {
        match v.as_str() {
            Some(arn) if arn.starts_with("arn:") => {}
            Some(other) => fail(format!("'{other}' is not an ARN")),
            None => fail("must be a list of ARNs".into()),
        }
    }
    if list.iter().all(|v| is_known(v) && v.as_str().is_some()) {
        let arns = list.iter().filter_map(Value::as_str).map(str::to_string).collect();
        inputs.insert(key.into(), action_list(arns));
    } else {
        inputs.insert(key.into(), Value::List(list));
    }
}

fn check_dimensions(inputs: &mut Properties, failures: &mut Vec<CheckFailure>) {
    let mut fail = |reason: String| failures.push(failure("dimensions", reason));
    let map = match inputs.get("dimensions") {
        None | Some(Value::Null) => {
            inputs.insert("dimensions".into(), Value::Map(Properties::new()));
            return;
        }
        Some(Value::Map(m)) => m,
        Some(v) if !is_known(v) => return,
        Some(_) => return fail("must be a map of dimension name to value".into()),
    };
    if map.len() > DIMENSIONS_MAX {
        fail(format!(
            "has {} dimensions; an alarm takes at most {DIMENSIONS_MAX}",
            map.len()
        ));
    }
    for (name, value) in map {
        if name.is_empty() || name.chars().count() > 255 {
            fail(format!("dimension name '{name}' must be 1 to 255 characters long"));
        }
        match value {
            v if !is_known(v) => {}
            Value::String(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
            Value::String(_) => fail(format!("the value of '{name}' must be 1 to 1024 characters long")),
            _ => fail(format!("the value of '{name}' must be a string")),
        }
    }
}

/// Checks the integer and float inputs, normalising an integer threshold to a float so
/// that it compares equal to the float CloudWatch reports.
fn check_numbers(inputs: &mut Properties, failures: &mut Vec<CheckFailure>) {
    let mut fail = |property: &str, reason: String| failures.push(failure(property, reason));
    let period = int_of(inputs, "period_seconds");
    match period {
        Some(p) if matches!(p, 10 | 20 | 30) || (p > 0 && p % 60 == 0 && i32::try_from(p).is_ok()) => {}
        Some(p) => fail(
            "period_seconds",
            format!("{p} is not a CloudWatch period: use 10, 20, 30 or a multiple of 60"),
        ),
        None => fail("period_seconds", "must be an integer".into()),
    }
    match int_of(inputs, "evaluation_periods") {
        Some(n) if n < 1 => fail("evaluation_periods", format!("{n} must be at least 1")),
        Some(n) => {
            if let Some(p) = period.filter(|p| *p > 0) {
                if n.saturating_mul(p) > EVALUATION_RANGE_MAX_SECONDS {
                    fail(
                        "evaluation_periods",
                        format!("{n} periods of {p}s exceed the seven days an alarm can evaluate"),
                    );
                }
            }
        }
        None => fail("evaluation_periods", "must be an integer".into()),
    }
    match float_of(inputs.get("threshold")) {
        Some(t) if t.is_finite() => {
            inputs.insert("threshold".into(), Value::Float(t));
        }
        Some(t) => fail("threshold", format!("{t} is not a finite number")),
        None => fail("threshold", "must be a number".into()),
    }
}

#[async_trait]
impl Provider for MetricAlarm {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        inputs
            .entry("description".into())
            .or_insert_with(|| Value::String(String::new()));
        check_string(&inputs, "name", 1, 255, None, &mut failures);
        check_string(&inputs, "description", 0, 1024, None, &mut failures);
        check_string(&inputs, "namespace", 1, 255, None, &mut failures);
        check_string(&inputs, "metric_name", 1, 255, None, &mut failures);
        check_string(&inputs, "statistic", 1, 255, Some(&STATISTICS), &mut failures);
        check_string(&inputs, "comparison", 1, 255, Some(&COMPARISONS), &mut failures);
        check_dimensions(&mut inputs, &mut failures);
        check_numbers(&mut inputs, &mut failures);
        check_actions(&mut inputs, "alarm_actions", &mut failures);
        check_actions(&mut inputs, "ok_actions", &mut failures);
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?;
        let all_tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        // PutMetricAlarm would silently overwrite an alarm of the same name.
        let existing = match self.describe_one(name).await? {
            Some(alarm) => Some(self.adoptable(&alarm, &req.urn).await?),
            None => None,
        };
        self.put(&req.inputs)?
            .set_tags(Some(cloudwatch_tags(&all_tags)))
            .send()
            .await
            .map_err(|e| classify("PutMetricAlarm", e))?;
        let arn = match existing {
            Some((arn, live)) => {
                // Tags given to PutMetricAlarm apply only to a new alarm.
                self.sync_tags(&arn, &live, &all_tags).await?;
                arn
            }
            // PutMetricAlarm answers nothing: the ARN comes from DescribeAlarms.
            None => self.arn_of(name).await?,
        };
        Ok(CreateResponse {
            outputs: name_arn_outputs(name, &arn),
            id: name.to_string(),
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = urns_by_id(&req.targets);
        let names: Vec<String> = urns.keys().cloned().collect();
        let mut found = Vec::new();
        for alarm in self.describe(&names).await? {
            let Some(urn) = alarm.alarm_name().and_then(|n| urns.get(n)) else {
                continue;
            };
            if let Some((arn, live_tags)) = self.tagged(&alarm).await? {
                found.push(live(urn.clone(), &alarm, &arn, &live_tags));
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if req.changed.iter().any(|k| k != "tags") {
            self.put(&req.new_inputs)?
                .send()
                .await
                .map_err(|e| classify("PutMetricAlarm", e))?;
        }
        let arn = match req.old_outputs.get("arn").and_then(Value::as_str) {
            Some(arn) => arn.to_string(),
            None => self.arn_of(&req.id).await?,
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
            outputs: name_arn_outputs(&req.id, &arn),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // Deletion is synchronous: the alarm is gone when the call returns.
        ok_if_gone(
            self.cloudwatch
                .delete_alarms()
                .alarm_names(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteAlarms", e)),
        )
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // The stack's alarms with their tags in one paginated call (CloudWatch would take
        // a ListTagsForResource per alarm of the account), then those described by
        // name, 100 to a call.
        let tagged = self.tagging.objects(&req.stack, "cloudwatch:alarm").await?;
        let tags_by_name: BTreeMap<String, (String, BTreeMap<String, String>)> = tagged
            .into_iter()
            .filter_map(|t| {
                let name = t.arn.split(":alarm:").nth(1)?.to_string();
                Some((name, (t.arn, t.tags)))
            })
            .collect();
        let names: Vec<String> = tags_by_name.keys().cloned().collect();
        let mut found = Vec::new();
        for alarm in self.describe(&names).await? {
            let Some(name) = alarm.alarm_name() else { continue };
            let Some((arn, live_tags)) = tags_by_name.get(name) else {
                continue;
            };
            if let Some(urn) = req.urn_of(name, || tags::listed_urn(&req.stack, TYPE, name, live_tags)) {
                found.push(live(urn, &alarm, arn, live_tags));
            }
        }
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }
}
