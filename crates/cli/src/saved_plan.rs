//! Saved plans: `stackup diff --out FILE` writes the plan it showed, with the run after
//! which it was made; `stackup up --plan FILE` applies exactly that plan, and refuses,
//! naming what moved, when a run changed the state since, or when planning again (the
//! program, or AWS, changed) gives another plan.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// What `diff --out` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// The format's version.
    pub stackup_plan: u32,
    pub stack: String,
    /// The last run in the stack's history when the plan was made (0: none).
    pub after_run: u64,
    /// The plan, in the `diff --json` shape.
    pub plan: Json,
}

impl SavedPlan {
    pub fn new(stack: &str, after_run: u64, plan: Json) -> SavedPlan {
        SavedPlan {
            stackup_plan: 1,
            stack: stack.to_string(),
            after_run,
            plan,
        }
    }

    /// Writes the plan beside `path` first, then renames it into place.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let tmp = path.with_extension("stackup-tmp");
        std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("moving {} to {}", tmp.display(), path.display()))
    }

    pub fn load(path: &Path) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the plan {}", path.display()))?;
        let plan: SavedPlan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a plan written by `stackup diff --out`", path.display()))?;
        anyhow::ensure!(
            plan.stackup_plan == 1,
            "{}: plan format {} is not one this stackup reads",
            path.display(),
            plan.stackup_plan
        );
        Ok(plan)
    }
}

/// What each step of a plan does: URN -> (action, adopted, each changed key's new value).
fn steps(plan: &Json) -> BTreeMap<String, (String, bool, BTreeMap<String, Json>)> {
    plan["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter_map(|s| {
                    let urn = s["urn"].as_str()?.to_string();
                    let retired = s["retired"].as_bool().unwrap_or(false);
                    let key = if retired {
                        format!("{urn} (retired object)")
                    } else {
                        urn
                    };
                    let changes = s["changes"]
                        .as_array()
                        .map(|cs| {
                            cs.iter()
                                .filter_map(|c| Some((c["key"].as_str()?.to_string(), c["new"].clone())))
                                .collect()
                        })
                        .unwrap_or_default();
                    let action = s["action"].as_str().unwrap_or_default().to_string();
                    Some((key, (action, s["adopted"].as_bool().unwrap_or(false), changes)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How the plan made now differs from the saved one, one line per resource; empty when
/// they do the same thing.
pub fn differences(saved: &Json, now: &Json) -> Vec<String> {
    let (before, after) = (steps(saved), steps(now));
    let mut out = Vec::new();
    for (urn, (action, adopted, changes)) in &before {
        match after.get(urn) {
            None => out.push(format!("{urn}: the plan would {action} it; now nothing")),
            Some((a, _, _)) if a != action => out.push(format!("{urn}: the plan would {action} it; now {a}")),
            Some((_, ad, _)) if ad != adopted => out.push(format!("{urn}: adoption differs")),
            Some((_, _, c)) if c != changes => {
                let keys: Vec<&String> = c
                    .keys()
                    .chain(changes.keys())
                    .filter(|k| c.get(*k) != changes.get(*k))
                    .collect();
                let mut keys: Vec<&String> = keys;
                keys.sort();
                keys.dedup();
                let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
                out.push(format!("{urn}: {} would be set differently", keys.join(", ")));
            }
            Some(_) => {}
        }
    }
    for (urn, (action, _, _)) in &after {
        if !before.contains_key(urn) {
            out.push(format!("{urn}: now {action}; the plan left it alone"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(steps: Json) -> Json {
        json!({ "steps": steps })
    }

    #[test]
    fn the_same_plan_has_no_differences_and_each_kind_of_move_is_named() {
        let saved = plan(json!([
            {"urn": "s::t::a", "action": "create", "changes": [{"key": "cidr", "new": "10.0.0.0/16"}]},
            {"urn": "s::t::b", "action": "update", "changes": [{"key": "tags", "new": {"x": "1"}}]},
        ]));
        assert!(differences(&saved, &saved).is_empty());
        let now = plan(json!([
            {"urn": "s::t::a", "action": "create", "changes": [{"key": "cidr", "new": "10.1.0.0/16"}]},
            {"urn": "s::t::c", "action": "delete", "changes": []},
        ]));
        let d = differences(&saved, &now);
        assert_eq!(
            d,
            [
                "s::t::a: cidr would be set differently",
                "s::t::b: the plan would update it; now nothing",
                "s::t::c: now delete; the plan left it alone",
            ]
        );
    }
}
