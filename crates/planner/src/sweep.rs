//! The plan of a sweep: delete everything tagged with a stack (and whatever its state
//! still records), when the program or the state that would order the deletes is
//! gone. Without dependencies to follow, objects are deleted in waves by type (`rank`:
//! a load balancer before its subnets, a subnet before its VPC), each wave after the
//! one before it.

use std::collections::{BTreeMap, BTreeSet};

use stackup_model::{ResourceRecord, TypeToken, Urn, Value};

use crate::{Action, Changes, Plan, Step};

/// One object a sweep deletes, and in which wave (1 first).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepItem {
    pub record: ResourceRecord,
    pub wave: usize,
}

/// What a sweep deletes and in which order.
pub struct SweepRequest<'a> {
    pub stack: &'a str,
    /// Objects found by the stack's tag.
    pub listed: Vec<ResourceRecord>,
    /// What state records: these come first, since a record holds the stackup-side
    /// settings (final snapshot, bucket emptying) that a listing cannot know.
    pub recorded: Vec<ResourceRecord>,
    /// Objects a finished create-before-delete replacement left behind.
    pub retired: Vec<ResourceRecord>,
    /// The deletion wave of a type: lower first.
    pub rank: &'a dyn Fn(&TypeToken) -> u8,
    /// Inputs this sweep sets on every delete of a type (empty the buckets, skip the
    /// final snapshot).
    pub overrides: &'a [(TypeToken, String, Value)],
}

/// The sweep's plan (each object a delete, each wave depending on the next one's
/// deletes going first), and the objects with their waves, for the report.
pub fn plan_sweep(req: SweepRequest<'_>) -> (Plan, Vec<SweepItem>) {
    let rank = req.rank;
    let mut seen: BTreeSet<(TypeToken, String)> = BTreeSet::new();
    let mut all: Vec<(ResourceRecord, bool)> = Vec::new();
    for (records, is_retired) in [(req.recorded, false), (req.retired, true), (req.listed, false)] {
        for r in records {
            if seen.insert((r.ty.clone(), r.id.clone())) {
                all.push((r, is_retired));
            }
        }
    }
    for (r, _) in &mut all {
        for (ty, key, value) in req.overrides {
            if &r.ty == ty {
                r.inputs.insert(key.clone().into(), value.clone());
            }
        }
    }
    all.sort_by(|(a, _), (b, _)| (rank(&a.ty), &a.ty, &a.id).cmp(&(rank(&b.ty), &b.ty, &b.id)));
    let mut by_rank: BTreeMap<u8, Vec<Urn>> = BTreeMap::new();
    for (r, _) in &all {
        by_rank.entry(rank(&r.ty)).or_default().push(r.urn.clone());
    }
    let waves: Vec<u8> = by_rank.keys().copied().collect();
    let mut steps = Vec::new();
    let mut items = Vec::new();
    for (mut record, is_retired) in all {
        let r = rank(&record.ty);
        // A delete runs before the deletes of what its record depends on: the next
        // wave's objects.
        record.dependencies = by_rank
            .range(r + 1..)
            .next()
            .map(|(_, urns)| urns.clone())
            .unwrap_or_default();
        let wave = waves.iter().position(|w| *w == r).unwrap_or(0) + 1;
        items.push(SweepItem {
            record: ResourceRecord {
                dependencies: Vec::new(),
                ..record.clone()
            },
            wave,
        });
        steps.push(Step {
            urn: record.urn.clone(),
            ty: record.ty.clone(),
            action: Action::Delete,
            changes: Changes::Listed(Vec::new()),
            inputs: None,
            dependencies: Vec::new(),
            old: Some(record),
            retired: is_retired,
            adopted: false,
            notes: Vec::new(),
        });
    }
    (
        Plan {
            stack: req.stack.to_string(),
            steps,
            reads: Vec::new(),
        },
        items,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackup_model::Properties;

    fn record(ty: &'static str, name: &str, id: &str) -> ResourceRecord {
        let ty = TypeToken::from_static(ty);
        ResourceRecord {
            urn: Urn::new("old", &ty, name),
            ty,
            id: id.to_string(),
            inputs: Properties::new().into(),
            outputs: Properties::new().into(),
            dependencies: Vec::new(),
            tainted: None,
        }
    }

    fn rank(ty: &TypeToken) -> u8 {
        match ty.as_str() {
            "aws:ec2:Subnet" => 2,
            "aws:ec2:Vpc" => 3,
            _ => 1,
        }
    }

    #[test]
    fn objects_go_in_waves_recorded_settings_first_each_once() {
        let bucket = TypeToken::from_static("aws:s3:Bucket");
        let overrides = [(bucket.clone(), "force_destroy".to_string(), Value::Bool(true))];
        let mut recorded = record("aws:s3:Bucket", "assets", "b-1");
        recorded.inputs.insert("versioning".into(), Value::Bool(true));
        let (plan, items) = plan_sweep(SweepRequest {
            stack: "old",
            listed: vec![
                record("aws:ec2:Vpc", "vpc", "vpc-1"),
                record("aws:ec2:Subnet", "a", "subnet-1"),
                // Listed and recorded: the record wins, once.
                record("aws:s3:Bucket", "assets", "b-1"),
            ],
            recorded: vec![recorded],
            retired: vec![record("aws:ec2:Subnet", "b", "subnet-0")],
            rank: &rank,
            overrides: &overrides,
        });
        let order: Vec<(&str, usize)> = items.iter().map(|i| (i.record.id.as_str(), i.wave)).collect();
        assert_eq!(order, [("b-1", 1), ("subnet-0", 2), ("subnet-1", 2), ("vpc-1", 3)]);
        assert!(plan.steps.iter().all(|s| s.action == Action::Delete));
        let bucket_step = &plan.steps[0];
        let old = bucket_step.old.as_ref().expect("old");
        assert_eq!(
            old.inputs.get("versioning"),
            Some(&Value::Bool(true)),
            "the record's settings"
        );
        assert_eq!(
            old.inputs.get("force_destroy"),
            Some(&Value::Bool(true)),
            "the override"
        );
        assert_eq!(old.dependencies.len(), 2, "the bucket goes before both subnets");
        assert!(plan.steps[1].retired, "a retired object stays marked");
        assert!(
            plan.steps[3].old.as_ref().expect("old").dependencies.is_empty(),
            "the last wave waits for nothing"
        );
    }
}
