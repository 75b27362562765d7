//! The operations that change nothing in the cloud: `preview` (what `up` would do, and
//! how the live world drifted from the record), `refresh` (record the live view) and
//! `outputs`.

use serde::Serialize;
use serde_json::json;
use stackup_executor::ResourceDrift;
use stackup_model::Value;
use stackup_planner::Plan;

use crate::{EngineError, Host, Stack};

/// What `up` would do now. Serializes as [`plan_json`].
#[derive(Debug)]
pub struct PreviewReport {
    pub plan: Plan,
    /// Changed and deleted resources, and (with refresh) objects tagged with the stack
    /// that state does not know.
    pub drift: Vec<ResourceDrift>,
}

impl Serialize for PreviewReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        plan_json(&self.plan, &self.drift).serialize(serializer)
    }
}

impl PreviewReport {
    /// Whether `up` has anything to do or the world drifted.
    pub fn found_anything(&self) -> bool {
        self.plan.has_changes() || !self.drift.is_empty()
    }
}

/// `diff`: reads live state (unless `refresh` is off), looks for unmanaged objects,
/// and plans against the live view. Records nothing and takes no recovery step.
pub async fn preview(stack: &Stack, refresh: bool) -> Result<PreviewReport, EngineError> {
    let records = stack.records()?;
    // One pass reads the records and lists the stack's tagged objects; the listing
    // serves the unmanaged objects and the plan's adoptions.
    let (current, mut drift, tagged) = match refresh {
        true => {
            let survey = stack.survey(&records).await?;
            let mut drift = survey.refreshed.drift;
            drift.extend(stack.unmanaged_of(&records, &survey.tagged)?);
            (survey.refreshed.records, drift, Some(survey.tagged))
        }
        false => (records, Vec::new(), None),
    };
    let (plan, adopted) = stack.plan_adopting(current, &[], tagged.as_deref()).await?;
    // What the plan adopts is shown as its step, not as an unmanaged object.
    drift.retain(|d| !adopted.contains(d.urn()));
    Ok(PreviewReport { plan, drift })
}

/// What `refresh` recorded.
#[derive(Debug, Serialize)]
pub struct RefreshReport {
    pub stack: String,
    pub drift: Vec<ResourceDrift>,
    /// How many resources were read.
    #[serde(skip)]
    pub read: usize,
}

/// `refresh`: recovers, reads every recorded resource and records the live view:
/// drifted attributes are written into state, resources deleted outside stackup are
/// forgotten (the next `up` recreates them), unmanaged objects are reported, never
/// adopted.
pub async fn refresh(stack: &Stack, host: &dyn Host) -> Result<RefreshReport, EngineError> {
    stack.recover(host).await?;
    let records = stack.records()?;
    let survey = stack.survey(&records).await?;
    let mut refreshed = survey.refreshed;
    refreshed.drift.extend(stack.unmanaged_of(&records, &survey.tagged)?);
    for d in &refreshed.drift {
        match d {
            ResourceDrift::Deleted { urn } => stack.store.remove(urn)?,
            // Never adopted silently: `stackup import` (or a sweep) decides.
            ResourceDrift::Unmanaged { .. } => {}
            ResourceDrift::Changed { urn, .. } => {
                if let Some(r) = refreshed.records.iter().find(|r| &r.urn == urn) {
                    stack.store.put(r)?;
                }
            }
        }
    }
    Ok(RefreshReport {
        stack: stack.name.clone(),
        drift: refreshed.drift,
        read: records.len(),
    })
}

/// `outputs`: the program's exports, resolved from recorded outputs, in the order the
/// program declares them; `Value::Null` for what is not created yet. A stack opened
/// without its program (the stack file gone or broken) answers with the exports the
/// last `up` recorded.
pub fn outputs(stack: &Stack) -> Result<Vec<(String, Value)>, EngineError> {
    let records = stack.records()?;
    let exports: Vec<(String, stackup_model::Reference)> =
        if stack.program.goals.is_empty() && stack.program.exports.is_empty() {
            let recorded = stack.store.meta(crate::stacks::EXPORTS)?.unwrap_or_default();
            serde_json::from_str::<Vec<(String, String, String)>>(&recorded)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(name, urn, output)| {
                    Some((
                        name,
                        stackup_model::Reference {
                            urn: stackup_model::Urn::parse(&urn).ok()?,
                            output,
                        },
                    ))
                })
                .collect()
        } else {
            stack.program.exports.clone()
        };
    Ok(exports
        .into_iter()
        .map(|(name, r)| {
            let v = records
                .iter()
                .find(|rec| rec.urn == r.urn)
                .and_then(|rec| rec.outputs.get(r.output.as_str()).cloned())
                .unwrap_or(Value::Null);
            (name, v)
        })
        .collect())
}

/// The JSON form of a plan and of the drift found by the refresh before it: `{stack,
/// has_changes, counts, steps: [{urn, type, action, retired, notes, changes: [{key,
/// old, new, forces_replacement}]}], reads: [{urn, type, query, found}], drift: [...
/// up_action, desired]}`. The shape of
/// `diff --json`, and of the plan `up --json` writes on stderr.
pub fn plan_json(plan: &Plan, drift: &[ResourceDrift]) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = plan
        .changed_steps()
        .map(|s| {
            json!({
                "urn": s.urn,
                "type": s.ty,
                "action": s.action,
                "retired": s.retired,
                "adopted": s.adopted,
                "notes": s.notes,
                "changes": s.changes.list().iter().map(|c| json!({
                    "key": c.key,
                    "old": c.old.as_ref().map(Value::to_json),
                    "new": c.new.as_ref().map(Value::to_json),
                    "forces_replacement": c.forces_replacement,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let drift: Vec<serde_json::Value> = drift
        .iter()
        .map(|d| {
            let step = plan.steps.iter().find(|s| &s.urn == d.urn() && !s.retired);
            let mut entry = serde_json::to_value(d).unwrap_or_default();
            let up_action = match d {
                ResourceDrift::Unmanaged { .. } => "none".to_string(),
                _ => step.map(|s| s.action.to_string()).unwrap_or_else(|| "same".into()),
            };
            entry["up_action"] = json!(up_action);
            if let (ResourceDrift::Changed { attributes, .. }, Some(list)) = (d, entry["attributes"].as_array_mut()) {
                for (a, item) in attributes.iter().zip(list.iter_mut()) {
                    let desired = step
                        .and_then(|s| {
                            s.changes
                                .list()
                                .iter()
                                .find(|c| c.key == a.key)
                                .and_then(|c| c.new.clone())
                        })
                        .or_else(|| a.live.clone());
                    item["desired"] = desired.as_ref().map(Value::to_json).unwrap_or(serde_json::Value::Null);
                }
            }
            entry
        })
        .collect();
    json!({
        "stack": plan.stack,
        "has_changes": plan.has_changes() || !drift.is_empty(),
        "counts": plan.counts(),
        "steps": steps,
        "reads": plan.reads.iter().map(|r| json!({
            "urn": r.urn,
            "type": r.ty,
            "query": Value::Map(r.inputs.clone()).to_json(),
            "found": Value::Map(r.outputs.clone()).to_json(),
        })).collect::<Vec<_>>(),
        "drift": drift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackup_executor::AttributeDrift;
    use stackup_model::{TypeToken, Urn};
    use stackup_planner::{Action, Step};

    fn urn(name: &str) -> Urn {
        Urn::new("dev", &TypeToken::from_static("aws:ec2:Vpc"), name)
    }

    #[test]
    fn a_preview_serializes_its_steps_and_says_what_up_does_about_each_drift() {
        let changed = Step {
            urn: urn("main"),
            ty: TypeToken::from_static("aws:ec2:Vpc"),
            action: Action::Update,
            changes: stackup_planner::Changes::Listed(vec![stackup_planner::PropertyChange {
                key: "cidr".into(),
                old: Some(Value::String("10.1.0.0/16".into())),
                new: Some(Value::String("10.0.0.0/16".into())),
                forces_replacement: false,
            }]),
            inputs: None,
            dependencies: Vec::new(),
            old: None,
            retired: false,
            adopted: false,
            notes: Vec::new(),
        };
        let report = PreviewReport {
            plan: Plan {
                stack: "dev".into(),
                steps: vec![changed],
                reads: Vec::new(),
            },
            drift: vec![
                ResourceDrift::Changed {
                    urn: urn("main"),
                    attributes: vec![AttributeDrift {
                        key: "cidr".into(),
                        recorded: Some(Value::String("10.0.0.0/16".into())),
                        live: Some(Value::String("10.1.0.0/16".into())),
                    }],
                },
                ResourceDrift::Unmanaged {
                    urn: urn("stray"),
                    ty: TypeToken::from_static("aws:ec2:Vpc"),
                    id: "vpc-9".into(),
                },
            ],
        };
        assert!(report.found_anything());
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["stack"], "dev");
        assert_eq!(json["has_changes"], true);
        assert_eq!(json["counts"]["update"], 1);
        assert_eq!(json["steps"][0]["action"], "update");
        assert_eq!(json["steps"][0]["changes"][0]["new"], "10.0.0.0/16");
        assert_eq!(json["drift"][0]["kind"], "changed");
        assert_eq!(json["drift"][0]["up_action"], "update");
        assert_eq!(json["drift"][0]["attributes"][0]["desired"], "10.0.0.0/16");
        assert_eq!(json["drift"][1]["kind"], "unmanaged");
        assert_eq!(json["drift"][1]["up_action"], "none");
    }

    #[test]
    fn a_preview_with_nothing_to_do_found_nothing() {
        let report = PreviewReport {
            plan: Plan {
                stack: "dev".into(),
                steps: Vec::new(),
                reads: Vec::new(),
            },
            drift: Vec::new(),
        };
        assert!(!report.found_anything());
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["has_changes"], false);
        assert_eq!(json["steps"], serde_json::json!([]));
    }
}
