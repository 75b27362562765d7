//! The provider contract: one trait that the code for each resource type implements,
//! with a request and a response struct per method so that adding a field never breaks
//! a caller, and one error type whose kind the engine acts on.
//!
//! Architecture invariant: the engine (planner, executor) talks to AWS only through
//! this trait; a provider never decides ordering, never touches state.

pub mod fake;
mod plugin;
pub mod progress;
mod registry;
pub mod wait;

use std::fmt;

use async_trait::async_trait;
use stackup_model::{Properties, TypeToken, Urn, Value};

pub use plugin::{BoxFuture, Connection, DeleteOverride, Identity, Notifier, ProviderSet};
pub use registry::Lookups;
pub use registry::Registry;

/// What went wrong in a provider call, as far as the engine needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object does not exist. On read this means "gone", never "unchanged".
    NotFound,
    Throttled,
    /// Something else still uses the object.
    DependencyViolation,
    Conflict,
    /// AWS refused the request as malformed or impossible.
    Invalid,
    AccessDenied,
    /// Timeouts, 5xx, dropped connections: worth retrying.
    Transient,
    /// The cloud cannot be reached, or refuses who the caller is, after the SDK's own
    /// retries: no connection, no credentials, credentials it does not know. Repeating
    /// one call cannot help and every other call fails the same way, so an apply stops
    /// starting work at the first.
    Unreachable,
    /// Anything else.
    Other,
}

impl ErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

/// A failed provider call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// The service's error code, when it gave one.
    pub code: Option<String>,
    pub message: String,
    /// For a create: the physical id of an object the create made that did not become
    /// ready (its wait failed or ran out). The engine records it as tainted, to be
    /// replaced by the next `up`, rather than as a clean create or not at all.
    pub created: Option<String>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError {
            kind,
            code: None,
            message: message.into(),
            created: None,
        }
    }

    /// Marks a create's failure as having made the object `id`, which is not ready.
    pub fn created(mut self, id: impl Into<String>) -> ProviderError {
        self.created = Some(id.into());
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> ProviderError {
        self.code = Some(code.into());
        self
    }

    pub fn invalid(message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorKind::Invalid, message)
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Static facts about a resource type.
#[derive(Clone, Debug)]
pub struct Schema {
    pub ty: TypeToken,
    /// Inputs whose change cannot be applied in place.
    pub replace_on_change: &'static [&'static str],
    /// Replacement must delete the old object first (for example because its name must
    /// be unique); otherwise the replacement is created first.
    pub delete_before_replace: bool,
    /// Outputs that an in-place update changes (a launch template's `latest_version`):
    /// the planner treats them as unknown until the update is applied, so that
    /// resources using them are planned to follow.
    pub outputs_changed_by_update: &'static [&'static str],
}

impl Schema {
    /// A schema that replaces on `replace_on_change`, creating the replacement first.
    pub fn new(ty: &'static str, replace_on_change: &'static [&'static str]) -> Schema {
        Schema {
            ty: TypeToken::from_static(ty),
            replace_on_change,
            delete_before_replace: false,
            outputs_changed_by_update: &[],
        }
    }

    /// Replacement deletes the old object first.
    pub fn delete_before_replace(mut self) -> Schema {
        self.delete_before_replace = true;
        self
    }

    pub fn outputs_changed_by_update(mut self, outputs: &'static [&'static str]) -> Schema {
        self.outputs_changed_by_update = outputs;
        self
    }
}

/// One input that failed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    pub property: String,
    pub reason: String,
}

pub struct CheckRequest<'a> {
    pub urn: &'a Urn,
    /// Desired inputs; references not yet resolved may appear as `Value::Ref` or
    /// `Value::Unknown` and must be accepted as such.
    pub inputs: Properties,
}

pub struct CheckResponse {
    /// The inputs, normalised (canonical CIDRs, sorted rule lists, defaults filled in)
    /// so that comparing them with what a read reports shows real differences only.
    pub inputs: Properties,
    pub failures: Vec<CheckFailure>,
}

pub struct DiffRequest<'a> {
    pub urn: &'a Urn,
    /// What the resource looks like now (recorded, or live after a refresh).
    pub old_inputs: &'a Properties,
    /// What the program wants, normalised by `check`.
    pub new_inputs: &'a Properties,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffResponse {
    /// Top-level input keys whose value differs.
    pub changed: Vec<String>,
    /// The subset of `changed` that cannot be updated in place.
    pub replace: Vec<String>,
    pub delete_before_replace: bool,
    /// Why this change must not be planned as it stands (a replacement that would
    /// delete data with no way back): the plan fails naming the resource and the key,
    /// before anything is touched.
    pub refuse: Option<(String, String)>,
    /// What a person should know about how the change is applied ("takes effect in the
    /// maintenance window sun:05:00-sun:06:00"): shown with the step in the plan.
    pub notes: Vec<String>,
}

pub struct CreateRequest {
    pub urn: Urn,
    pub stack: String,
    /// Inputs with every reference resolved.
    pub inputs: Properties,
    /// Idempotency token, durable in the journal before the call.
    pub token: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateResponse {
    pub id: String,
    pub outputs: Properties,
}

/// One resource to read back.
#[derive(Clone, Debug)]
pub struct ReadTarget {
    pub urn: Urn,
    pub id: String,
    pub inputs: Properties,
    pub outputs: Properties,
}

pub struct ReadRequest {
    /// All the resources of this provider's type to read, in one batch.
    pub targets: Vec<ReadTarget>,
}

/// A resource as it is live in AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveResource {
    pub urn: Urn,
    pub id: String,
    /// The live values of the inputs stackup manages, normalised like `check` output.
    pub inputs: Properties,
    pub outputs: Properties,
}

pub struct ReadResponse {
    /// The resources that exist; a target absent from here is gone.
    pub found: Vec<LiveResource>,
}

pub struct UpdateRequest {
    pub urn: Urn,
    pub stack: String,
    pub id: String,
    pub old_inputs: Properties,
    pub new_inputs: Properties,
    pub old_outputs: Properties,
    /// The keys the diff found changed.
    pub changed: Vec<String>,
}

pub struct UpdateResponse {
    pub outputs: Properties,
    /// The object's new physical id, for the few updates AWS answers with one (a
    /// route table association re-pointed with ReplaceRouteTableAssociation gets a new
    /// association id); None keeps the recorded id.
    pub new_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct DeleteRequest {
    pub urn: Urn,
    pub id: String,
    /// The inputs as recorded; for a sweep of objects state does not know, the live
    /// inputs `list` reported (stackup-side settings at their defaults unless the sweep
    /// sets them).
    pub inputs: Properties,
    pub outputs: Properties,
    /// The delete removes the old object of a replacement (its successor exists or is
    /// about to): a provider that keeps data takes a final snapshot whatever the
    /// resource's own setting says.
    pub replacing: bool,
}

pub struct ListRequest {
    /// The stack whose objects to list: those tagged `stackup:stack = <stack>`.
    pub stack: String,
    /// The recorded resources of this type by physical id, when the listing also serves
    /// their refresh ([`Provider::list_reads`]): an object listed under one of these ids
    /// is reported exactly as `read` would report that target (its recorded URN, and the recorded
    /// inputs where a live value cannot be read, such as stackup-side settings).
    pub recorded: std::collections::BTreeMap<String, ReadTarget>,
}

impl ListRequest {
    /// A listing of `stack`'s objects with nothing recorded to read.
    pub fn stack(stack: impl Into<String>) -> ListRequest {
        ListRequest {
            stack: stack.into(),
            recorded: std::collections::BTreeMap::new(),
        }
    }

    /// A listing of `stack`'s objects that also refreshes `recorded` (keyed by id).
    pub fn refreshing(stack: impl Into<String>, recorded: Vec<ReadTarget>) -> ListRequest {
        ListRequest {
            stack: stack.into(),
            recorded: recorded.into_iter().map(|t| (t.id.clone(), t)).collect(),
        }
    }

    /// The recorded target listed under physical id `id`, if any.
    pub fn recorded(&self, id: &str) -> Option<&ReadTarget> {
        self.recorded.get(id)
    }

    /// The URN to report the object `id` under: the recorded one, or what its tags claim.
    pub fn urn_of(&self, id: &str, listed: impl FnOnce() -> Option<Urn>) -> Option<Urn> {
        match self.recorded(id) {
            Some(t) => Some(t.urn.clone()),
            None => listed(),
        }
    }
}

pub struct ListResponse {
    /// Every object of this type carrying the stack's tag, with live inputs as `read`
    /// reports them; `urn` comes from the object's `stackup:urn` tag (or, when that is
    /// missing, is `<stack>::<type>::<physical id>`).
    pub found: Vec<LiveResource>,
}

pub struct FindRequest {
    pub urn: Urn,
    pub stack: String,
    pub inputs: Properties,
    pub token: String,
}

/// One lookup to resolve: its query, every reference resolved.
pub struct LookupRequest<'a> {
    pub urn: &'a Urn,
    pub inputs: &'a Properties,
}

/// The code for one lookup type (a data source): it reads, never writes.
#[async_trait]
pub trait Lookup: Send + Sync {
    /// The lookup type, e.g. `aws:ec2:getVpc`.
    fn ty(&self) -> &TypeToken;

    /// Validates a query before any call. Pure. Inputs may hold `Value::Unknown` (a
    /// value another lookup supplies) and must be accepted as such.
    fn check(&self, inputs: &Properties) -> Vec<CheckFailure> {
        let _ = inputs;
        Vec::new()
    }

    /// What the query finds: its outputs (at least `id`), or None when nothing matches.
    /// More than one match is an `Invalid` error naming how many: a lookup reads one
    /// thing.
    async fn lookup(&self, req: LookupRequest<'_>) -> Result<Option<Properties>, ProviderError>;
}

/// The code for one resource type.
#[async_trait]
pub trait Provider: Send + Sync {
    fn schema(&self) -> &Schema;

    /// Validates and normalises inputs. Pure: no AWS call.
    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        CheckResponse {
            inputs: req.inputs,
            failures: Vec::new(),
        }
    }

    /// Compares old and new inputs. The default compares every top-level key and
    /// consults the schema for replacement.
    fn diff(&self, req: DiffRequest<'_>) -> DiffResponse {
        diff_by_schema(self.schema(), req.old_inputs, req.new_inputs)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError>;

    /// Reads many resources of this type at once.
    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError>;

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError>;

    /// Deletes and waits until AWS reports the object gone. Deleting an object that is
    /// already gone succeeds.
    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError>;

    /// Pre-flight of a delete: reads only, and fails when AWS would refuse (or stackup's
    /// own rules forbid) deleting the object now, naming every blocker: objects outside
    /// the stack that still use it, deletion protection, a bucket holding objects. The
    /// engine calls it for every delete of a run before any mutating call, so that a
    /// destroy that cannot finish changes nothing. Errors of kind DependencyViolation
    /// name things to remove; Invalid names a setting to change. An object already gone
    /// passes. The default has nothing to check.
    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let _ = req;
        Ok(())
    }

    /// Lists every object of this type tagged with the stack, state or no state: drift
    /// detection reports the ones not in state, and a sweep deletes them when state is
    /// lost. `None` for types that carry no tags (they go with their parents).
    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        let _ = req;
        Ok(None)
    }

    /// Whether `list` also serves the refresh of the recorded objects it finds: given
    /// them in [`ListRequest::recorded`], it reports each exactly as `read` would. Then
    /// an operation that both refreshes and lists anyway (`diff`, `refresh`) lists
    /// only, and reads by id just the records the listing did not return (their stack
    /// tag removed, outside the listed scope, or not visible there yet). `up` and
    /// `destroy`, which list little or nothing, keep reading by id.
    fn list_reads(&self) -> bool {
        false
    }

    /// Looks up an object created by an interrupted run, by its `stackup:urn` tag or
    /// idempotency token.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let _ = req;
        Ok(None)
    }
}

/// The default diff: every top-level key whose values differ; a value not known until
/// apply counts as different.
pub fn diff_by_schema(schema: &Schema, old: &Properties, new: &Properties) -> DiffResponse {
    let mut changed = Vec::new();
    // Both maps are sorted by key: walk them side by side (every key of either, once,
    // in order) instead of collecting the union into a set first.
    let (mut olds, mut news) = (old.iter().peekable(), new.iter().peekable());
    let null = Value::Null;
    loop {
        let (key, o, n) = match (olds.peek(), news.peek()) {
            (None, None) => break,
            (Some(&(k, o)), None) => {
                olds.next();
                (k, o, &null)
            }
            (None, Some(&(k, n))) => {
                news.next();
                (k, &null, n)
            }
            (Some(&(ko, o)), Some(&(kn, n))) => match ko.cmp(kn) {
                std::cmp::Ordering::Less => {
                    olds.next();
                    (ko, o, &null)
                }
                std::cmp::Ordering::Greater => {
                    news.next();
                    (kn, &null, n)
                }
                std::cmp::Ordering::Equal => {
                    olds.next();
                    news.next();
                    (ko, o, n)
                }
            },
        };
        if n.contains_unknown() || o != n {
            changed.push(key.to_string());
        }
    }
    let replace: Vec<String> = changed
        .iter()
        .filter(|k| schema.replace_on_change.contains(&k.as_str()))
        .cloned()
        .collect();
    DiffResponse {
        changed,
        replace,
        delete_before_replace: schema.delete_before_replace,
        refuse: None,
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, Value)]) -> Properties {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_schema_diff_names_every_key_that_differs_once_in_order() {
        let schema = Schema::new("aws:ec2:Vpc", &["cidr", "gone"]);
        let old = props(&[
            ("cidr", "10.0.0.0/16".into()),
            ("gone", "x".into()),
            ("same", 1i64.into()),
            ("tags", "a".into()),
        ]);
        let new = props(&[
            ("added", true.into()),
            ("cidr", "10.1.0.0/16".into()),
            ("same", 1i64.into()),
            ("tags", "b".into()),
            ("zone", Value::Unknown),
        ]);
        let diff = diff_by_schema(&schema, &old, &new);
        assert_eq!(diff.changed, ["added", "cidr", "gone", "tags", "zone"]);
        assert_eq!(diff.replace, ["cidr", "gone"]);
        assert!(!diff.delete_before_replace);
    }

    #[test]
    fn a_key_set_to_null_is_no_change_from_a_key_absent() {
        let schema = Schema::new("aws:ec2:Vpc", &[]);
        let old = props(&[("a", Value::Null)]);
        let new = props(&[("b", Value::Null)]);
        assert!(diff_by_schema(&schema, &old, &new).changed.is_empty());
        assert!(diff_by_schema(&schema, &old, &old).changed.is_empty());
    }
}
