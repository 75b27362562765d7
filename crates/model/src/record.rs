use serde::{Deserialize, Serialize};

use crate::{Reference, SharedProperties, TypeToken, Urn};

/// What a program declares: one resource it wants to exist.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceGoal {
    pub urn: Urn,
    pub ty: TypeToken,
    /// Desired inputs; may contain references to other resources' outputs.
    pub inputs: SharedProperties,
    /// Ordering that no reference expresses.
    pub depends_on: Vec<Urn>,
}

impl ResourceGoal {
    /// Every resource this one depends on, through references or `depends_on`,
    /// deduplicated and sorted.
    pub fn dependencies(&self) -> Vec<Urn> {
        let mut deps: Vec<Urn> = self
            .references()
            .into_iter()
            .map(|r| r.urn.clone())
            .chain(self.depends_on.iter().cloned())
            .collect();
        deps.sort();
        deps.dedup();
        deps
    }

    pub fn references(&self) -> Vec<&Reference> {
        let mut out = Vec::new();
        for value in self.inputs.values() {
            value.collect_references(&mut out);
        }
        out
    }
}

/// What the engine recorded about a resource that exists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub urn: Urn,
    #[serde(rename = "type")]
    pub ty: TypeToken,
    /// The AWS id or ARN.
    pub id: String,
    /// The inputs as last applied, references resolved.
    pub inputs: SharedProperties,
    pub outputs: SharedProperties,
    /// The URNs this resource depended on when it was last applied; deletes run in the
    /// reverse of this order even after the program stops declaring the resource.
    pub dependencies: Vec<Urn>,
    /// Why the object cannot be trusted: its create made it, but it never became ready
    /// (a wait that failed or ran out). The next plan replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tainted: Option<String>,
}
