use std::marker::PhantomData;

use crate::{Properties, Reference, ResourceGoal, TypeToken, Urn, Value};

/// A typed resource argument struct: what a program fills in for one resource.
pub trait ResourceArgs {
    /// The resource type, e.g. `aws:ec2:Vpc`.
    const TYPE: &'static str;
    /// Whether the stack's default tags are merged into this resource's `tags` input.
    const TAGGABLE: bool;
    /// The IAM actions stackup calls to create, read, update and delete this type: the
    /// deployment policy of a stack is the union over the types it declares.
    const IAM_ACTIONS: &'static [&'static str] = &[];
    fn into_properties(self) -> Properties;
}

/// A typed lookup argument struct (a data source): what a program fills in to read
/// something that exists outside the stack (the default VPC, the region's zones, an
/// AMI id from an SSM parameter, a subnet by tag). Lookups are resolved while planning,
/// shown in the plan, and never created, changed or deleted.
pub trait LookupArgs {
    /// The lookup type, e.g. `aws:ec2:getVpc`.
    const TYPE: &'static str;
    /// The IAM actions the lookup calls (part of the stack's deployment policy).
    const IAM_ACTIONS: &'static [&'static str] = &[];
    fn into_properties(self) -> Properties;
}

/// A declared lookup: its query. Its outputs are what it found.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupGoal {
    pub urn: Urn,
    pub ty: TypeToken,
    /// The query; may reference other lookups' outputs, never a resource of the stack.
    pub inputs: Properties,
}

/// An argument that is either a literal or another resource's output.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<T> {
    Literal(T),
    Output(Reference),
}

impl<T: Into<Value>> From<Input<T>> for Value {
    fn from(i: Input<T>) -> Value {
        match i {
            Input::Literal(v) => v.into(),
            Input::Output(r) => Value::Ref(Box::new(r)),
        }
    }
}

impl<T> From<T> for Input<T> {
    fn from(v: T) -> Input<T> {
        Input::Literal(v)
    }
}

impl From<&str> for Input<String> {
    fn from(v: &str) -> Input<String> {
        Input::Literal(v.to_string())
    }
}

/// A declared resource; its outputs can be passed to other resources' inputs.
#[derive(Debug)]
pub struct Handle<R> {
    urn: Urn,
    _args: PhantomData<fn() -> R>,
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Handle {
            urn: self.urn.clone(),
            _args: PhantomData,
        }
    }
}

impl<R> Handle<R> {
    pub fn urn(&self) -> &Urn {
        &self.urn
    }

    /// The physical id, known after the resource is created.
    pub fn id(&self) -> Input<String> {
        self.output("id")
    }

    /// Any named output of the resource. For a lookup, `name[i]` takes element `i` of
    /// a list output (`zones.output("names[0]")`).
    pub fn output<T>(&self, name: &str) -> Input<T> {
        Input::Output(Reference {
            urn: self.urn.clone(),
            output: name.to_string(),
        })
    }
}

/// Collects the resources a program declares for one stack.
#[derive(Debug)]
pub struct StackBuilder {
    stack: String,
    default_tags: Properties,
    goals: Vec<ResourceGoal>,
    lookups: Vec<LookupGoal>,
    exports: Vec<(String, Reference)>,
    iam_actions: std::collections::BTreeSet<&'static str>,
}

/// The program a stack file names when it names none: the one stackup shipped with.
pub const DEFAULT_PROGRAM: &str = "ecommerce";

/// Why a program could not read its stack file (every problem, each naming the file,
/// the key and the reason).
pub type DeclareError = Box<dyn std::error::Error + Send + Sync>;

/// A program as a plug-in: the name a stack file selects it by (`program = "<name>"`),
/// and the function that reads the whole stack file (`text`, read from `file`),
/// validates the program's settings, and declares the stack's resources. A binary
/// registers the programs it ships; the engine runs whichever the stack file names.
#[derive(Clone, Copy)]
pub struct ProgramDef {
    pub name: &'static str,
    pub declare: fn(file: &std::path::Path, text: &str) -> Result<Program, DeclareError>,
}

impl std::fmt::Debug for ProgramDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgramDef").field("name", &self.name).finish()
    }
}

/// What a program produces: the resources it declares and the outputs it exports.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub goals: Vec<ResourceGoal>,
    /// Read-only declarations resolved while planning; `goals` may reference them.
    pub lookups: Vec<LookupGoal>,
    /// Named stack outputs (`stackup outputs`), each another resource's output.
    pub exports: Vec<(String, Reference)>,
}

impl StackBuilder {
    pub fn new(stack: &str, default_tags: Properties) -> StackBuilder {
        StackBuilder {
            stack: stack.to_string(),
            default_tags,
            goals: Vec::new(),
            lookups: Vec::new(),
            exports: Vec::new(),
            iam_actions: std::collections::BTreeSet::new(),
        }
    }

    /// A builder whose default tags are the stack file's `[tags]` table.
    pub fn with_tags(stack: &str, tags: &std::collections::BTreeMap<String, String>) -> StackBuilder {
        let default_tags = tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        StackBuilder::new(stack, default_tags)
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Declares a resource; default tags are merged under the resource's own tags.
    pub fn declare<R: ResourceArgs>(&mut self, name: &str, args: R) -> Handle<R> {
        self.declare_after(name, args, &[])
    }

    /// Declares a resource that must be created after (and deleted before) `after`.
    pub fn declare_after<R: ResourceArgs>(&mut self, name: &str, args: R, after: &[&Urn]) -> Handle<R> {
        let ty = TypeToken::from_static(R::TYPE);
        let urn = Urn::new(&self.stack, &ty, name);
        self.iam_actions.extend(R::IAM_ACTIONS);
        let mut inputs = args.into_properties();
        if R::TAGGABLE {
            let mut tags = self.default_tags.clone();
            if let Some(Value::Map(own)) = inputs.get("tags") {
                tags.extend(own.clone());
            }
            inputs.insert("tags".into(), Value::Map(tags));
        }
        self.goals.push(ResourceGoal {
            urn: urn.clone(),
            ty,
            inputs: inputs.into(),
            depends_on: after.iter().map(|u| (*u).clone()).collect(),
        });
        Handle {
            urn,
            _args: PhantomData,
        }
    }

    /// Declares a lookup: something that exists outside the stack, read while planning.
    pub fn lookup<L: LookupArgs>(&mut self, name: &str, args: L) -> Handle<L> {
        let ty = TypeToken::from_static(L::TYPE);
        let urn = Urn::new(&self.stack, &ty, name);
        self.iam_actions.extend(L::IAM_ACTIONS);
        self.lookups.push(LookupGoal {
            urn: urn.clone(),
            ty,
            inputs: args.into_properties(),
        });
        Handle {
            urn,
            _args: PhantomData,
        }
    }

    /// Every IAM action the resources declared so far need stackup to call, sorted.
    pub fn iam_actions(&self) -> Vec<String> {
        self.iam_actions.iter().map(|a| a.to_string()).collect()
    }

    /// Exports a resource's output as a named stack output.
    pub fn export<T>(&mut self, name: &str, value: Input<T>) {
        if let Input::Output(r) = value {
            self.exports.push((name.to_string(), r));
        }
    }

    pub fn finish(mut self) -> Program {
        self.goals.shrink_to_fit();
        Program {
            goals: self.goals,
            lookups: self.lookups,
            exports: self.exports,
        }
    }
}

impl Program {
    /// Whether `urn` names one of the program's lookups.
    pub fn is_lookup(&self, urn: &Urn) -> bool {
        self.lookups.iter().any(|l| &l.urn == urn)
    }

    /// The goals with every reference to a lookup replaced by what `found` holds for
    /// it, or by `Value::Unknown` for a lookup not resolved (yet): what validation
    /// checks before any call, and what the planner plans once lookups are read.
    /// References to resources stay.
    pub fn goals_with(
        &self,
        found: &std::collections::BTreeMap<Urn, Properties>,
    ) -> std::borrow::Cow<'_, [ResourceGoal]> {
        if self.lookups.is_empty() {
            return std::borrow::Cow::Borrowed(&self.goals);
        }
        self.goals
            .iter()
            .map(|g| ResourceGoal {
                inputs: self.substitute(&g.inputs, found).into(),
                depends_on: g.depends_on.iter().filter(|u| !self.is_lookup(u)).cloned().collect(),
                ..g.clone()
            })
            .collect()
    }

    /// `inputs` with references to lookups replaced as [`Program::goals_with`] says.
    pub fn substitute(&self, inputs: &Properties, found: &std::collections::BTreeMap<Urn, Properties>) -> Properties {
        inputs
            .iter()
            .map(|(k, v)| {
                let v = v.resolve(&mut |r: &Reference| {
                    if !self.is_lookup(&r.urn) {
                        return Value::Ref(Box::new(r.clone()));
                    }
                    match found.get(&r.urn) {
                        Some(outputs) => lookup_output(outputs, &r.output),
                        None => Value::Unknown,
                    }
                });
                (k.clone(), v)
            })
            .collect()
    }
}

/// Output `name` of a lookup, where `name[i]` is element `i` of a list output; Null
/// when the lookup has no such output.
pub fn lookup_output(outputs: &Properties, name: &str) -> Value {
    let indexed = name
        .strip_suffix(']')
        .and_then(|n| n.split_once('['))
        .and_then(|(key, i)| Some((key, i.parse::<usize>().ok()?)));
    match indexed {
        Some((key, i)) => outputs
            .get(key)
            .and_then(|v| v.as_list())
            .and_then(|l| l.get(i).cloned())
            .unwrap_or(Value::Null),
        None => outputs.get(name).cloned().unwrap_or(Value::Null),
    }
}
