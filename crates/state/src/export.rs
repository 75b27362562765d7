//! The export document: every record (and every retired record) of one stack as one
//! JSON document. `stackup state export` writes it; `stackup state import` reads it back,
//! validating all of it before anything is replaced.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use stackup_model::{ResourceRecord, Urn, Value};

/// The `format` field of every export, so that an arbitrary JSON file is refused by name.
pub const FORMAT: &str = "stackup-state";
/// The document version this build writes and reads.
pub const VERSION: u32 = 1;

/// One stack's state as a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDocument {
    pub format: String,
    pub version: u32,
    pub stack: String,
    /// Seconds since the Unix epoch.
    pub exported_at: u64,
    pub records: Vec<ResourceRecord>,
    /// Objects replaced but not yet deleted; absent in a hand-written document.
    #[serde(default)]
    pub retired: Vec<ResourceRecord>,
}

/// Why a document was refused: the file and every problem found, each with its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    pub file: String,
    pub problems: Vec<String>,
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: not a valid state export of this stack ({} problem(s)): {}",
            self.file,
            self.problems.len(),
            self.problems.join("; ")
        )
    }
}

impl std::error::Error for DocumentError {}

impl StateDocument {
    /// The document for `stack`, records sorted by URN so that two exports of the same
    /// state are byte-for-byte equal.
    pub fn new(stack: &str, mut records: Vec<ResourceRecord>, mut retired: Vec<ResourceRecord>) -> StateDocument {
        records.sort_by(|a, b| a.urn.cmp(&b.urn));
        retired.sort_by(|a, b| (&a.urn, &a.id).cmp(&(&b.urn, &b.id)));
        StateDocument {
            format: FORMAT.to_string(),
            version: VERSION,
            stack: stack.to_string(),
            exported_at: crate::now_unix(),
            records,
            retired,
        }
    }

    /// Parses `text` (the contents of `file`) and checks that it is an export of
    /// `stack`. Syntax and type errors name the JSON path; semantic problems are all
    /// collected, so one attempt shows everything to fix.
    pub fn parse(file: &str, text: &str, stack: &str) -> Result<StateDocument, DocumentError> {
        let refuse = |problems: Vec<String>| DocumentError {
            file: file.to_string(),
            problems,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let doc: StateDocument = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let at = if path.is_empty() || path == "." {
                "the document".to_string()
            } else {
                path
            };
            refuse(vec![format!("at {at}: {}", e.inner())])
        })?;
        let problems = doc.problems(stack);
        if problems.is_empty() {
            Ok(doc)
        } else {
            Err(refuse(problems))
        }
    }

    fn problems(&self, stack: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.format != FORMAT {
            problems.push(format!("format: expected \"{FORMAT}\", found \"{}\"", self.format));
        }
        if self.version != VERSION {
            problems.push(format!(
                "version: this stackup reads version {VERSION}, the document is version {}",
                self.version
            ));
        }
        if self.stack != stack {
            problems.push(format!(
                "stack: the document is an export of stack '{}', not of '{stack}'",
                self.stack
            ));
        }
        let mut seen: BTreeMap<&Urn, usize> = BTreeMap::new();
        for (i, r) in self.records.iter().enumerate() {
            check_record(&format!("records[{i}]"), r, stack, &mut problems);
            if let Some(first) = seen.insert(&r.urn, i) {
                problems.push(format!(
                    "records[{i}].urn: {} is already recorded at records[{first}]",
                    r.urn
                ));
            }
        }
        let mut seen_retired: BTreeMap<(&Urn, &str), usize> = BTreeMap::new();
        for (i, r) in self.retired.iter().enumerate() {
            check_record(&format!("retired[{i}]"), r, stack, &mut problems);
            if let Some(first) = seen_retired.insert((&r.urn, r.id.as_str()), i) {
                problems.push(format!(
                    "retired[{i}]: {} with id {} is already listed at retired[{first}]",
                    r.urn, r.id
                ));
            }
        }
        problems
    }
}

fn check_record(at: &str, r: &ResourceRecord, stack: &str, problems: &mut Vec<String>) {
    if r.urn.stack() != stack {
        problems.push(format!(
            "{at}.urn: {} belongs to stack '{}', not to '{stack}'",
            r.urn,
            r.urn.stack()
        ));
    }
    if r.urn.type_token() != r.ty {
        problems.push(format!(
            "{at}.type: \"{}\" does not match the type in its URN {}",
            r.ty, r.urn
        ));
    }
    if r.id.trim().is_empty() {
        problems.push(format!("{at}.id: empty; a record names the AWS object it stands for"));
    }
    for (j, d) in r.dependencies.iter().enumerate() {
        if d.stack() != stack {
            problems.push(format!(
                "{at}.dependencies[{j}]: {d} belongs to stack '{}', not to '{stack}'",
                d.stack()
            ));
        }
    }
    for (field, props) in [("inputs", &r.inputs), ("outputs", &r.outputs)] {
        for (key, value) in props {
            if let Some(what) = unresolved(value) {
                problems.push(format!(
                    "{at}.{field}.{key}: {what}; a record holds only values that were applied"
                ));
            }
        }
    }
}

/// Values that can appear in a program but never in a record.
fn unresolved(v: &Value) -> Option<&'static str> {
    match v {
        Value::Unknown => Some("a value unknown until apply"),
        Value::Ref(_) => Some("an unresolved reference"),
        Value::Secret(_) => Some("a secret placeholder (secrets are never recorded)"),
        Value::List(items) => items.iter().find_map(unresolved),
        Value::Map(m) => m.values().find_map(unresolved),
        _ => None,
    }
}
