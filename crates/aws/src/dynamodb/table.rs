//! `aws:dynamodb:Table`: an on-demand table with a single hash key, optional time to
//! live and point-in-time recovery, encrypted with the AWS-owned key (the default).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ec2::retry_while;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    PointInTimeRecoveryStatus, ScalarAttributeType, TableDescription, TableStatus, Tag, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use crate::common::{failure, found, name_arn_outputs};
use crate::props::{bool_of, opt_str, props, str_of};
use crate::{classify, tags};

/// The type token of a DynamoDB table.
pub const TYPE: &str = "aws:dynamodb:Table";

/// How long a table may take to become active or to go.
const TABLE_DEADLINE: Duration = Duration::from_secs(600);

/// Waiting for a table to become active or to go: up to `TABLE_DEADLINE`; an on-demand
/// table usually takes seconds either way, so poll at most every 5 seconds.
const TABLE_PATIENCE: Patience = Patience::new(TABLE_DEADLINE.as_secs(), 5);

/// How long to retry the calls AWS refuses while a new table's backups are set up.
const SETTLE_DEADLINE: Duration = Duration::from_secs(120);

/// Arguments of a DynamoDB table.
#[derive(Clone, Debug)]
pub struct TableArgs {
    pub name: String,
    /// The partition key's attribute name.
    pub hash_key: String,
    /// The partition key's type: `S`, `N` or `B`.
    pub hash_key_type: String,
    /// The attribute holding each item's expiry time, if items expire.
    pub ttl_attribute: Option<String>,
    pub point_in_time_recovery: bool,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for TableArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource",
        "dynamodb:UntagResource",
        "dynamodb:DeleteTable",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("hash_key", self.hash_key.into()),
            ("hash_key_type", self.hash_key_type.into()),
            ("ttl_attribute", self.ttl_attribute.map_or(Value::Null, Value::from)),
            ("point_in_time_recovery", self.point_in_time_recovery.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:dynamodb:Table`.
pub struct Table {
    dynamodb: aws_sdk_dynamodb::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

/// What read learns about one table.
struct LiveTable {
    description: TableDescription,
    ttl_attribute: Option<String>,
    point_in_time_recovery: bool,
    tags: Vec<Tag>,
}

impl Table {
    /// A provider calling DynamoDB through `dynamodb`.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, tagging: crate::tagging::StackIndex) -> Table {
        Table {
            dynamodb,
            tagging,
            // The name is the table's identity: a replacement cannot exist beside the
            // table it replaces.
            schema: Schema::new(TYPE, &["name", "hash_key", "hash_key_type"]).delete_before_replace(),
        }
    }

    /// The table's description, or None when it does not exist (or is being deleted).
    async fn describe_table(&self, name: &str) -> Result<Option<TableDescription>, ProviderError> {
        let out = found(
            self.dynamodb
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| classify("DescribeTable", e)),
        )?;
        Ok(out
            .and_then(|o| o.table)
            .filter(|t| t.table_status() != Some(&TableStatus::Deleting)))
    }

    /// The table and its settings, or None when it does not exist (or is being deleted).
    async fn describe(&self, name: &str) -> Result<Option<LiveTable>, ProviderError> {
        let Some(description) = self.describe_table(name).await? else {
            return Ok(None);
        };
        let arn = description.table_arn().unwrap_or_default().to_string();
        // The three have no batch form; a table deleted meanwhile answers not-found
        // (moto says `ResourceNotFound` for TTL), which counts as gone.
        let settings = found(tokio::try_join!(
            self.ttl(name),
            self.point_in_time_recovery(name),
            self.tags(&arn)
        ))?;
        Ok(settings.map(|(ttl_attribute, point_in_time_recovery, tags)| LiveTable {
            description,
            ttl_attribute,
            point_in_time_recovery,
            tags,
        }))
    }

    /// The tables of `stack`, read as `describe` reads them. The tags come first, so that
    /// the settings are read only for the stack's own tables.
    async fn list_stack(&self, req: &ListRequest) -> Result<Vec<LiveResource>, ProviderError> {
        let stack = req.stack.as_str();
        // The stack's tables by tag in one paginated call (DynamoDB would take a
        // DescribeTable and a ListTagsOfResource per table of the account), then the
        // reads of `read` for those only. A table deleted meanwhile is skipped.
        let tagged = self.tagging.objects(stack, "dynamodb:table").await?;
        let names: Vec<String> = tagged
            .iter()
            .filter_map(|t| t.arn.split(":table/").nth(1).map(str::to_string))
            .collect();
        let mut listed = Vec::new();
        for name in names {
            let Some(description) = self.describe_table(&name).await? else {
                continue;
            };
            let Some(tags) = found(self.tags(description.table_arn().unwrap_or_default()).await)? else {
                continue;
            };
            let Some(urn) = req.urn_of(&name, || tags::listed_urn(stack, TYPE, &name, &tag_map(&tags))) else {
                continue;
            };
            let settings = found(tokio::try_join!(self.ttl(&name), self.point_in_time_recovery(&name)))?;
            let Some((ttl_attribute, point_in_time_recovery)) = settings else {
                continue;
            };
            let table = LiveTable {
                description,
                ttl_attribute,
                point_in_time_recovery,
                tags,
            };
            listed.push(live(urn, &name, &table));
        }
        Ok(listed)
    }

    async fn ttl(&self, name: &str) -> Result<Option<String>, ProviderError> {
        let out = self
            .dynamodb
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .map_err(|e| classify("DescribeTimeToLive", e))?;
        let Some(d) = out.time_to_live_description() else {
            return Ok(None);
        };
        // A disabled TTL may still name its last attribute: only the status counts.
        Ok(match d.time_to_live_status() {
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => d.attribute_name().map(str::to_string),
            _ => None,
        })
    }

    async fn point_in_time_recovery(&self, name: &str) -> Result<bool, ProviderError> {
        let out = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(name)
            .send()
            .await
            .map_err(|e| classify("DescribeContinuousBackups", e))?;
        Ok(out
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled))
    }

    async fn tags(&self, arn: &str) -> Result<Vec<Tag>, ProviderError> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| classify("ListTagsOfResource", e))?;
            all.extend(out.tags().iter().cloned());
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(all),
            }
        }
    }

    async fn set_ttl(&self, name: &str, attribute: &str, enabled: bool) -> Result<(), ProviderError> {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attribute)
            .enabled(enabled)
            .build()
            .map_err(|e| ProviderError::invalid(format!("time to live of table {name}: {e}")))?;
        self.dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| classify("UpdateTimeToLive", e))?;
        Ok(())
    }

    async fn set_point_in_time_recovery(&self, name: &str, enabled: bool) -> Result<(), ProviderError> {
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(enabled)
            .build()
            .map_err(|e| ProviderError::invalid(format!("point-in-time recovery of table {name}: {e}")))?;
        // AWS refuses for a while after a table is created, until its continuous
        // backups are set up.
        let settling = |e: &ProviderError| e.code.as_deref() == Some("ContinuousBackupsUnavailableException");
        retry_while(SETTLE_DEADLINE, Duration::from_secs(5), settling, || async {
            self.dynamodb
                .update_continuous_backups()
                .table_name(name)
                .point_in_time_recovery_specification(spec.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("UpdateContinuousBackups", e))
        })
        .await
    }

    /// Polls the table until it is `ACTIVE`, returning its description, or with
    /// `deleting` until DescribeTable no longer finds it (None). As with the SDK's
    /// waiters every other status is pending: none of them is final.
    async fn wait(&self, name: &str, deleting: bool) -> Result<Option<TableDescription>, ProviderError> {
        let state = if deleting { "deleted" } else { "active" };
        wait::until(&format!("table {name}"), state, TABLE_PATIENCE, || async {
            let described = self
                .dynamodb
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| classify("DescribeTable", e));
            let table = match described {
                Ok(out) => out.table,
                Err(e) if deleting && e.kind == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let Some(table) = table else {
                return Ok(if deleting {
                    Poll::Ready(None)
                } else {
                    Poll::Pending("not described yet".to_string())
                });
            };
            Ok(match table.table_status() {
                Some(TableStatus::Active) if !deleting => Poll::Ready(Some(table)),
                Some(s) => Poll::Pending(s.as_str().to_string()),
                None => Poll::Pending("no status yet".to_string()),
            })
        })
        .await
    }

    /// Applies the declared TTL and point-in-time recovery to a new (or adopted) table,
    /// changing only what differs: AWS refuses to enable a TTL that is already on.
    async fn apply_settings(&self, name: &str, inputs: &Properties) -> Result<(), ProviderError> {
        let (live_ttl, live_pitr) = tokio::try_join!(self.ttl(name), self.point_in_time_recovery(name))?;
        let ttl = opt_str(inputs, "ttl_attribute");
        if live_ttl.as_deref() != ttl {
            if let Some(old) = &live_ttl {
                self.set_ttl(name, old, false).await?;
            }
            if let Some(new) = ttl {
                self.set_ttl(name, new, true).await?;
            }
        }
        let pitr = bool_of(inputs, "point_in_time_recovery");
        if live_pitr != pitr {
            self.set_point_in_time_recovery(name, pitr).await?;
        }
        Ok(())
    }
}

/// DynamoDB tags from a tag map.
fn dynamodb_tags(all: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags::build_all(all, |k, v| Tag::builder().key(k).value(v).build())
}

/// Live tags as a map, stackup's own included.
fn tag_map(live: &[Tag]) -> BTreeMap<String, String> {
    tags::map(live.iter().map(|t| (t.key(), t.value())))
}

/// The live user tags (stackup's own removed) as a property value.
fn live_tags(live: &[Tag]) -> Value {
    tags::user_tags(live.iter().map(|t| (t.key(), t.value())))
}

fn live_inputs(t: &LiveTable) -> Properties {
    let d = &t.description;
    let hash_key = d
        .key_schema()
        .iter()
        .find(|k| k.key_type() == &KeyType::Hash)
        .map(|k| k.attribute_name().to_string())
        .unwrap_or_default();
    let hash_key_type = d
        .attribute_definitions()
        .iter()
        .find(|a| a.attribute_name() == hash_key)
        .map(|a| a.attribute_type().as_str().to_string())
        .unwrap_or_default();
    props([
        ("name", d.table_name().unwrap_or_default().into()),
        ("hash_key", hash_key.into()),
        ("hash_key_type", hash_key_type.into()),
        (
            "ttl_attribute",
            t.ttl_attribute.clone().map_or(Value::Null, Value::from),
        ),
        ("point_in_time_recovery", t.point_in_time_recovery.into()),
        ("tags", live_tags(&t.tags)),
    ])
}

/// A live table as a live resource: what read and list report.
fn live(urn: Urn, id: &str, t: &LiveTable) -> LiveResource {
    LiveResource {
        urn,
        id: id.to_string(),
        outputs: name_arn_outputs(id, t.description.table_arn().unwrap_or_default()),
        inputs: live_inputs(t),
    }
}

#[async_trait]
impl Provider for Table {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        let name_ok = inputs.get("name").and_then(Value::as_str).is_some_and(|n| {
            (3..=255).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        });
        if !name_ok {
            failures.push(failure(
                "name",
                "must be 3 to 255 letters, digits, underscores, hyphens or periods",
            ));
        }
        let key_ok = inputs
            .get("hash_key")
            .and_then(Value::as_str)
            .is_some_and(|k| (1..=255).contains(&k.len()));
        if !key_ok {
            failures.push(failure("hash_key", "must be an attribute name of 1 to 255 bytes"));
        }
        match inputs.get("hash_key_type").and_then(Value::as_str) {
            Some(t) if matches!(t.to_ascii_uppercase().as_str(), "S" | "N" | "B") => {
                let t = t.to_ascii_uppercase();
                inputs.insert("hash_key_type".into(), Value::String(t));
            }
            _ => failures.push(failure("hash_key_type", "must be S (string), N (number) or B (binary)")),
        }
        // No TTL is null, whether the program said None or an empty name.
        match inputs.get("ttl_attribute") {
            None | Some(Value::Null) => {
                inputs.insert("ttl_attribute".into(), Value::Null);
            }
            Some(Value::String(s)) if s.is_empty() => {
                inputs.insert("ttl_attribute".into(), Value::Null);
            }
            Some(Value::String(s)) if s.len() <= 255 => {}
            Some(_) => failures.push(failure(
                "ttl_attribute",
                "must be an attribute name of 1 to 255 bytes, or absent",
            )),
        }
        inputs
            .entry("point_in_time_recovery".into())
            .or_insert(Value::Bool(false));
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        let hash_key = str_of(&req.inputs, "hash_key")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let attribute = AttributeDefinition::builder()
            .attribute_name(hash_key)
            .attribute_type(ScalarAttributeType::from(str_of(&req.inputs, "hash_key_type")?))
            .build()
            .map_err(|e| ProviderError::invalid(format!("hash key of table {name}: {e}")))?;
        let key = KeySchemaElement::builder()
            .attribute_name(hash_key)
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| ProviderError::invalid(format!("key schema of table {name}: {e}")))?;
        let created = self
            .dynamodb
            .create_table()
            .table_name(&name)
            .attribute_definitions(attribute)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .set_tags(Some(dynamodb_tags(&tags)?))
            .send()
            .await;
        if let Err(e) = created {
            let e = classify("CreateTable", e);
            if e.code.as_deref() != Some("ResourceInUseException") {
                return Err(e);
            }
            // The name is taken: by a table an interrupted run created for this
            // resource (adopt it), or by someone else's.
            let ours = match self.describe(&name).await? {
                Some(t) => tags::owned_by(&tag_map(&t.tags), &req.urn),
                None => false,
            };
            if !ours {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("table {name} already exists and was not created for {}", req.urn),
                ));
            }
        }
        let ready = self.wait(&name, false).await?;
        let arn = ready.as_ref().and_then(|t| t.table_arn()).map(str::to_string);
        let arn = match arn {
            Some(a) => a,
            None => self
                .describe(&name)
                .await?
                .and_then(|t| t.description.table_arn().map(str::to_string))
                .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("table {name} vanished")))?,
        };
        self.apply_settings(&name, &req.inputs).await?;
        Ok(CreateResponse {
            outputs: name_arn_outputs(&name, &arn),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // DynamoDB has no batch describe: one DescribeTable (and settings) per table.
        for target in &req.targets {
            if let Some(t) = self.describe(&target.id).await? {
                found.push(live(target.urn.clone(), &target.id, &t));
            }
        }
        Ok(ReadResponse { found })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        Ok(Some(ListResponse {
            found: self.list_stack(&req).await?,
        }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let name = req.id.as_str();
        if crate::common::changed(&req.changed, "ttl_attribute") {
            let old = opt_str(&req.old_inputs, "ttl_attribute");
            let new = opt_str(&req.new_inputs, "ttl_attribute");
            // TTL has no "change attribute" call: disable the old one, enable the new.
            if let Some(old) = old {
                self.set_ttl(name, old, false).await?;
            }
            if let Some(new) = new {
                self.set_ttl(name, new, true).await?;
            }
        }
        if crate::common::changed(&req.changed, "point_in_time_recovery") {
            self.set_point_in_time_recovery(name, bool_of(&req.new_inputs, "point_in_time_recovery"))
                .await?;
        }
        if crate::common::changed(&req.changed, "tags") {
            let arn = req
                .old_outputs
                .get("arn")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| ProviderError::invalid(format!("table {name} has no recorded ARN; refresh it first")))?;
            let new_tags = tags::with_stackup(&req.stack, &req.urn, &req.new_inputs);
            // The stackup tags are sent too: an out-of-band edit may have removed them.
            tags::sync(
                &tags::desired(&req.old_inputs),
                &new_tags,
                |removed| async move {
                    self.dynamodb
                        .untag_resource()
                        .resource_arn(arn)
                        .set_tag_keys(Some(removed))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify("UntagResource", e))
                },
                || async {
                    self.dynamodb
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(dynamodb_tags(&new_tags)?))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify("TagResource", e))
                },
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // A table being created or updated refuses deletion until it is active again.
        let busy = |e: &ProviderError| e.code.as_deref() == Some("ResourceInUseException");
        let deleted = retry_while(TABLE_DEADLINE, Duration::from_secs(5), busy, || async {
            self.dynamodb
                .delete_table()
                .table_name(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteTable", e))
        })
        .await;
        match deleted {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            other => other?,
        }
        self.wait(&req.id, true).await?;
        Ok(())
    }
}
