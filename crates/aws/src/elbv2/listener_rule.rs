//! `aws:elbv2:ListenerRule`: a path-pattern rule of a listener.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{PathPatternConditionConfig, Rule, RuleCondition, RulePriorityPair, Tag};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    action_from_sdk, action_to_sdk, all_listeners, check_action, check_required, ensure_ours, i32_of, live_resources,
    live_tags, sdk_tags, update_tags, Described, ListenerAction, Wanted,
};
use crate::common::{changed, found, ok_if_gone, urns_by_id};
use crate::props::{is_known, props, str_of, strings_of};
use crate::{classify, tags};

/// The type token of a listener rule.
pub const TYPE: &str = "aws:elbv2:ListenerRule";

/// The condition field stackup manages.
const PATH_PATTERN: &str = "path-pattern";

/// AWS allows five condition values per rule, each at most 128 characters.
const PATTERNS_MAX: usize = 5;
const PATTERN_LEN_MAX: usize = 128;

/// Arguments of a listener rule.
#[derive(Clone, Debug)]
pub struct ListenerRuleArgs {
    pub listener_arn: Input<String>,
    /// 1 to 50000, unique per listener; lower is evaluated first.
    pub priority: i64,
    /// Request paths the rule matches ("/api/*"); any one matching suffices.
    pub path_patterns: Vec<String>,
    pub action: ListenerAction,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for ListenerRuleArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticloadbalancing:CreateRule",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:ModifyRule",
        "elasticloadbalancing:SetRulePriorities",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:RemoveTags",
        "elasticloadbalancing:DeleteRule",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("listener_arn", self.listener_arn.into()),
            ("priority", self.priority.into()),
            ("path_patterns", self.path_patterns.into()),
            ("action", self.action.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:elbv2:ListenerRule`.
pub struct ListenerRule {
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    schema: Schema,
}

impl ListenerRule {
    /// A provider that calls AWS through `elbv2`.
    pub fn new(elbv2: aws_sdk_elasticloadbalancingv2::Client) -> ListenerRule {
        ListenerRule {
            elbv2,
            schema: Schema::new(TYPE, &["listener_arn"]),
        }
    }

    /// Every rule of a listener; none when the listener itself is gone.
    async fn rules_of(&self, listener_arn: &str) -> Result<Vec<Rule>, ProviderError> {
        let rules = self
            .elbv2
            .describe_rules()
            .listener_arn(listener_arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeRules", e));
        Ok(found(rules)?.unwrap_or_default())
    }
}

/// A rule with the listener it was described under: a rule does not name its listener.
struct ListenerRuleOf {
    listener: String,
    rule: Rule,
}

impl Described for ListenerRuleOf {
    fn arn(&self) -> Option<&str> {
        self.rule.rule_arn()
    }
}

/// A live rule as `read` and `list` report it.
fn live(r: &ListenerRuleOf, urn: Urn, tags: &[Tag]) -> LiveResource {
    let arn = r.rule.rule_arn().unwrap_or_default();
    let priority: Value = r
        .rule
        .priority()
        .map(|p| p.parse::<i64>().map_or_else(|_| Value::from(p), Value::Int))
        .unwrap_or(Value::Null);
    LiveResource {
        urn,
        id: arn.to_string(),
        inputs: props([
            ("listener_arn", r.listener.as_str().into()),
            ("priority", priority),
            ("path_patterns", live_patterns(r.rule.conditions()).into()),
            ("action", action_from_sdk(r.rule.actions())),
            ("tags", live_tags(tags)),
        ]),
        outputs: outputs(arn),
    }
}

/// The listener of a rule, from the rule's ARN
/// (`...:listener-rule/app/<lb>/<lb id>/<listener id>/<rule id>`).
fn listener_of_rule(rule_arn: &str) -> Option<String> {
    let (head, _rule_id) = rule_arn.rsplit_once('/')?;
    head.contains(":listener-rule/")
        .then(|| head.replacen(":listener-rule/", ":listener/", 1))
}

/// The condition of resolved inputs.
fn condition(inputs: &Properties) -> RuleCondition {
    RuleCondition::builder()
        .field(PATH_PATTERN)
        .path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(Some(strings_of(inputs, "path_patterns")))
                .build(),
        )
        .build()
}

/// The path patterns of live conditions, sorted like `check` output. A condition of
/// another kind (stackup sets none) shows as an entry no pattern list declares, so the
/// diff reports it and an update replaces the conditions with the declared ones.
fn live_patterns(conditions: &[RuleCondition]) -> Vec<String> {
    let mut patterns = Vec::new();
    for c in conditions {
        match c.field() {
            Some(PATH_PATTERN) => {
                // AWS reports the values in both places, moto in the one it was given.
                let values = c
                    .path_pattern_config()
                    .map(|p| p.values())
                    .filter(|v| !v.is_empty())
                    .unwrap_or(c.values());
                patterns.extend(values.iter().cloned());
            }
            other => patterns.push(format!("({} condition)", other.unwrap_or("unknown"))),
        }
    }
    patterns.sort();
    patterns.dedup();
    patterns
}

fn outputs(arn: &str) -> Properties {
    props([("id", arn.into()), ("arn", arn.into())])
}

#[async_trait]
impl Provider for ListenerRule {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_required(&inputs, "listener_arn", &mut failures);
        let mut fail = |property: &str, reason: String| {
            failures.push(CheckFailure {
                property: property.into(),
                reason,
            })
        };
        match inputs.get("priority") {
            Some(v) if !is_known(v) => {}
            Some(v) if v.as_int().is_some_and(|p| (1..=50000).contains(&p)) => {}
            _ => fail("priority", "must be an integer from 1 to 50000".into()),
        }
        match inputs.get_mut("path_patterns") {
            Some(Value::List(items)) if items.iter().all(is_known) => {
                if items
                    .iter()
                    .any(|i| i.as_str().is_none_or(|s| s.is_empty() || s.len() > PATTERN_LEN_MAX))
                {
                    fail(
                        "path_patterns",
                        format!("each pattern must be a string of 1 to {PATTERN_LEN_MAX} characters"),
                    );
                } else {
                    // Order means nothing to AWS: any one pattern matching suffices.
                    items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                    items.dedup();
                    if items.is_empty() || items.len() > PATTERNS_MAX {
                        fail(
                            "path_patterns",
                            format!("needs 1 to {PATTERNS_MAX} patterns, not {}", items.len()),
                        );
                    }
                }
            }
            Some(v) if !is_known(v) => {}
            _ => fail("path_patterns", "must be a list of path patterns".into()),
        }
        check_action(&inputs, "action", &mut failures);
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let listener_arn = str_of(&req.inputs, "listener_arn")?;
        let priority = i32_of(&req.inputs, "priority")?;
        // A priority takes one rule per listener. Look first, and adopt the rule an
        // interrupted create of this resource left.
        let existing = self.rules_of(listener_arn).await?;
        let taken = existing
            .iter()
            .filter(|r| r.priority() == Some(priority.to_string().as_str()))
            .find_map(|r| r.rule_arn());
        if let Some(arn) = taken {
            ensure_ours(&self.elbv2, arn, &req.urn, || {
                format!(
                    "listener {listener_arn} already has a rule with priority {priority} ({arn}), not {}",
                    req.urn
                )
            })
            .await?;
            return Ok(CreateResponse {
                outputs: outputs(arn),
                id: arn.to_string(),
            });
        }
        let action = action_to_sdk(&req.inputs, "action")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .elbv2
            .create_rule()
            .listener_arn(listener_arn)
            .priority(priority)
            .conditions(condition(&req.inputs))
            .actions(action)
            .set_tags(Some(sdk_tags(&tags)))
            .send()
            .await
            .map_err(|e| classify("CreateRule", e))?;
        let arn = out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .ok_or_else(|| ProviderError::invalid("CreateRule returned no rule ARN"))?
            .to_string();
        Ok(CreateResponse {
            outputs: outputs(&arn),
            id: arn,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        // One DescribeRules per listener: rules have no batch form across listeners,
        // and asking by rule ARN fails the whole call for one missing rule.
        let mut by_listener: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for t in &req.targets {
            let listener = t
                .inputs
                .get("listener_arn")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| listener_of_rule(&t.id));
            let Some(listener) = listener else {
                return Err(ProviderError::invalid(format!(
                    "listener rule {} has no recorded listener and its id is not a rule ARN",
                    t.id
                )));
            };
            by_listener.entry(listener).or_default().insert(t.id.as_str());
        }
        let mut rules = Vec::new();
        for (listener, arns) in &by_listener {
            for rule in self.rules_of(listener).await? {
                if rule.rule_arn().is_some_and(|a| arns.contains(a)) {
                    rules.push(ListenerRuleOf {
                        listener: listener.clone(),
                        rule,
                    });
                }
            }
        }
        let urns = urns_by_id(&req.targets);
        let found = live_resources(&self.elbv2, &rules, Wanted::Targets(&urns), live).await?;
        Ok(ReadResponse { found })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // Every rule of every listener of every load balancer: elbv2 has no tag filter
        // and no rule call across listeners.
        let mut rules = Vec::new();
        for l in all_listeners(&self.elbv2).await? {
            let Some(listener) = l.listener_arn() else { continue };
            for rule in self.rules_of(listener).await? {
                // The default rule is the listener's default action, never a rule
                // resource of its own.
                if rule.is_default() != Some(true) {
                    rules.push(ListenerRuleOf {
                        listener: listener.to_string(),
                        rule,
                    });
                }
            }
        }
        let wanted = Wanted::Stack { req: &req, ty: TYPE };
        let found = live_resources(&self.elbv2, &rules, wanted, live).await?;
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if changed(&req.changed, "path_patterns") || changed(&req.changed, "action") {
            let action = action_to_sdk(&req.new_inputs, "action")?;
            self.elbv2
                .modify_rule()
                .rule_arn(&req.id)
                .conditions(condition(&req.new_inputs))
                .actions(action)
                .send()
                .await
                .map_err(|e| classify("ModifyRule", e))?;
        }
        if changed(&req.changed, "priority") {
            self.elbv2
                .set_rule_priorities()
                .rule_priorities(
                    RulePriorityPair::builder()
                        .rule_arn(&req.id)
                        .priority(i32_of(&req.new_inputs, "priority")?)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify("SetRulePriorities", e))?;
        }
        update_tags(&self.elbv2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        ok_if_gone(
            self.elbv2
                .delete_rule()
                .rule_arn(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteRule", e)),
        )
    }
}
