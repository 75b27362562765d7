//! `aws:sns:Topic`: a standard SNS topic.
//!
//! CreateTopic is idempotent by name: for a name already taken it answers the existing
//! topic's ARN (moto does so whatever the tags; AWS refuses differing tags). The created
//! topic's tags are therefore checked: a topic that does not carry this resource's
//! `stackup:urn` tag belongs to someone else and is a conflict, never adopted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use crate::common::{changed, failure, ok_if_gone};
use crate::props::{props, str_of};
use crate::{classify, tags};

/// The type token of a topic.
pub const TYPE: &str = "aws:sns:Topic";

/// Arguments of a topic.
#[derive(Clone, Debug)]
pub struct TopicArgs {
    /// The topic name: letters, digits, `-` and `_`, at most 256 characters.
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for TopicArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "sns:CreateTopic",
        "sns:GetTopicAttributes",
        "sns:ListTagsForResource",
        "sns:TagResource",
        "sns:UntagResource",
        "sns:DeleteTopic",
    ];
    fn into_properties(self) -> Properties {
        props([("name", self.name.into()), ("tags", Value::from_string_map(&self.tags))])
    }
}

/// The `aws:sns:Topic` provider.
pub struct Topic {
    sns: aws_sdk_sns::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

impl Topic {
    /// A provider calling SNS through `sns`.
    pub fn new(sns: aws_sdk_sns::Client, tagging: crate::tagging::StackIndex) -> Topic {
        Topic {
            sns,
            tagging,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// Every live tag of the topic, stackup's included.
    async fn live_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .sns
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| classify("ListTagsForResource", e))?;
        Ok(tags::map(out.tags().iter().map(|t| (t.key(), t.value()))))
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
                self.sns
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("UntagResource", e))
            },
            || async {
                self.sns
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(sns_tags(new)?))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("TagResource", e))
            },
        )
        .await
    }
}

/// SNS tags from a tag map.
fn sns_tags(all: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags::build_all(all, |k, v| Tag::builder().key(k).value(v).build())
}

/// The live resource a topic is, as read and list report it.
fn live(urn: Urn, id: &str, arn: &str, tags: &BTreeMap<String, String>) -> LiveResource {
    LiveResource {
        urn,
        id: id.to_string(),
        inputs: props([("name", name_of(arn).into()), ("tags", tags::user_tags(tags))]),
        outputs: outputs(arn),
    }
}

/// The topic name, the last field of its ARN.
fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn outputs(arn: &str) -> Properties {
    props([("id", arn.into()), ("arn", arn.into()), ("name", name_of(arn).into())])
}

/// Why `name` is not a valid standard topic name, if it is not.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 256 {
        return Some(format!("'{name}' must be 1 to 256 characters long"));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
        .map(|c| format!("'{name}' contains '{c}'; topic names allow letters, digits, '-' and '_'"))
}

#[async_trait]
impl Provider for Topic {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        match inputs.get("name") {
            Some(Value::String(name)) => {
                if let Some(reason) = name_problem(name) {
                    failures.push(failure("name", reason));
                }
            }
            _ => failures.push(failure("name", "must be a string")),
        }
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?;
        let all_tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .sns
            .create_topic()
            .name(name)
            .set_tags(Some(sns_tags(&all_tags)?))
            .send()
            .await
            .map_err(|e| classify("CreateTopic", e))?;
        let arn = out
            .topic_arn()
            .ok_or_else(|| ProviderError::invalid("CreateTopic returned no topic ARN"))?
            .to_string();
        let live = self.live_tags(&arn).await?;
        if !tags::owned_by(&live, &req.urn) {
            // Never delete it: the topic is someone else's.
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "SNS topic {name} ({arn}) already exists and is not managed by {}",
                    req.urn
                ),
            ));
        }
        // A topic adopted after an interrupted run may hold tags of an earlier program.
        if live != all_tags {
            self.sync_tags(&arn, &live, &all_tags).await?;
        }
        Ok(CreateResponse {
            outputs: outputs(&arn),
            id: arn,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // SNS has no batch describe: one GetTopicAttributes (and tag listing) per topic.
        for t in &req.targets {
            let (attributes, tagged) = tokio::join!(
                self.sns.get_topic_attributes().topic_arn(&t.id).send(),
                self.live_tags(&t.id)
            );
            let gone = |e: &ProviderError| e.kind == ErrorKind::NotFound;
            let attributes = match attributes.map_err(|e| classify("GetTopicAttributes", e)) {
                Ok(a) => a,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            };
            let live_tags = match tagged {
                Ok(l) => l,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            };
            let arn = attributes
                .attributes()
                .and_then(|a| a.get("TopicArn"))
                .map_or(t.id.as_str(), String::as_str);
            found.push(live(t.urn.clone(), &t.id, arn, &live_tags));
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if changed(&req.changed, "tags") {
            self.sync_tags(
                &req.id,
                &tags::desired(&req.old_inputs),
                &tags::with_stackup(&req.stack, &req.urn, &req.new_inputs),
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // DeleteTopic is synchronous and removes the topic's subscriptions with it.
        ok_if_gone(
            self.sns
                .delete_topic()
                .topic_arn(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteTopic", e)),
        )
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // The stack's topics with their tags, in one paginated call (SNS has no batch
        // form of ListTagsForResource). The ARN is all that read takes from
        // GetTopicAttributes.
        let tagged = self.tagging.objects(&req.stack, "sns").await?;
        let mut found = Vec::new();
        for object in &tagged {
            let arn = object.arn.as_str();
            let live_tags = object.tags.clone();
            if let Some(urn) = req.urn_of(arn, || tags::listed_urn(&req.stack, TYPE, arn, &live_tags)) {
                found.push(live(urn, arn, arn, &live_tags));
            }
        }
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }
}
