//! Engine lifecycle tests: planner + executor + state against the fake provider, in the
//! manner of Pulumi's lifecycle tests. Each test drives a `World` (a fake cloud, a
//! registry of fake types and a real sled store in a tempdir) through `up` runs exactly
//! as the CLI does, then asserts what happened: the order of calls in the fake cloud,
//! the objects left there, the records in the store and the plan's actions and changes.
//!
//! The fake cloud of every `World` refuses, as EC2 does with `DependencyViolation`, to
//! delete an object that another object still refers to by id or ARN, so every ordering
//! mistake of the engine shows up as a failed operation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stackup_engine::{Actor, Cancel, EngineError, RunOptions, Stack, UpOptions};
use stackup_executor::{
    apply, refresh, ApplyContext, ApplyReport, AttributeDrift, Event, NodeOutcome, Observer, ResourceDrift, StepError,
};
use stackup_graph::{DependencyGraph, GraphErrors, GraphProblem};
use stackup_model::{Program, Reference, ResourceGoal, ResourceRecord, TypeToken, Urn, Value};
use stackup_planner::{plan, Action, OpKind, Plan, PlanRequest, PropertyChange, Step};
use stackup_provider::fake::{FakeCloud, FakeObject, FakeProvider, Op};
use stackup_provider::{DeleteRequest, ErrorKind, ProviderError, Registry};
use stackup_state::{SledStore, StateError, StateStore};
use tokio::sync::watch;

const STACK: &str = "test";
/// Replaced when its `cidr` changes.
const NETWORK: &str = "test:fake:Network";
/// Replaced when its network or `cidr` changes.
const SUBNET: &str = "test:fake:Subnet";
/// Replaced when its `image` changes; moves between subnets in place.
const INSTANCE: &str = "test:fake:Instance";
/// Its `name` is unique, so a replacement must delete the old object first.
const NAMED: &str = "test:fake:Named";
/// Replaced when its `target_id` changes.
const ATTACHMENT: &str = "test:fake:Attachment";

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// An observer that ignores every event, as a run without a progress view would.
struct Quiet;

impl Observer for Quiet {
    fn event(&self, _event: Event) {}
}

/// Fires the cancel channel when the first operation starts, as a Ctrl-C would, and
/// remembers which operations started.
struct CancelOnFirstStart {
    cancel: watch::Sender<bool>,
    started: Mutex<Vec<Urn>>,
}

impl Observer for CancelOnFirstStart {
    fn event(&self, event: Event) {
        if let Event::Started { urn, .. } = event {
            let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
            started.push(urn);
            if started.len() == 1 {
                let _ = self.cancel.send(true);
            }
        }
    }
}

struct World {
    cloud: Arc<FakeCloud>,
    registry: Registry,
    // Declared before `_dir` so that the store is closed before its directory goes.
    store: Arc<SledStore>,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let cloud = FakeCloud::new();
        refuse_deleting_referenced_objects(&cloud);
        let mut registry = Registry::new();
        registry.register(Arc::new(FakeProvider::new(cloud.clone(), NETWORK, &["cidr"])));
        registry.register(Arc::new(FakeProvider::new(
            cloud.clone(),
            SUBNET,
            &["network_id", "cidr"],
        )));
        registry.register(Arc::new(FakeProvider::new(cloud.clone(), INSTANCE, &["image"])));
        registry.register(Arc::new(
            FakeProvider::new(cloud.clone(), NAMED, &["name"]).delete_before_replace(),
        ));
        registry.register(Arc::new(FakeProvider::new(cloud.clone(), ATTACHMENT, &["target_id"])));
        let dir = tempfile::tempdir().expect("a temporary state directory");
        let store = Arc::new(SledStore::open(dir.path(), STACK, "up").expect("the state store opens"));
        World {
            cloud,
            registry,
            store,
            _dir: dir,
        }
    }

    fn records(&self) -> Vec<ResourceRecord> {
        self.store.records().expect("records are readable")
    }

    fn retired(&self) -> Vec<ResourceRecord> {
        self.store.retired().expect("retired records are readable")
    }

    fn journal_is_empty(&self) -> bool {
        self.store.journal().expect("the journal is readable").is_empty()
    }

    /// The record of the resource named `name`.
    fn record(&self, name: &str) -> ResourceRecord {
        let mut found: Vec<ResourceRecord> = self.records().into_iter().filter(|r| r.urn.name() == name).collect();
        assert_eq!(found.len(), 1, "expected one record named {name}, found {found:?}");
        found.remove(0)
    }

    /// Record names, sorted.
    fn record_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.records().iter().map(|r| r.urn.name().to_string()).collect();
        names.sort();
        names
    }

    /// The fake cloud's object with physical id `id`.
    fn object(&self, id: &str) -> FakeObject {
        self.cloud
            .objects()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no object {id} in the fake cloud"))
    }

    /// How many objects the fake cloud holds per URN name.
    fn objects_per_name(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for o in self.cloud.objects().values() {
            *out.entry(o.urn.name().to_string()).or_insert(0) += 1;
        }
        out
    }

    /// Plans `goals` against the recorded state, as `stackup up --no-refresh` does.
    fn plan(&self, goals: &[ResourceGoal]) -> Plan {
        self.plan_on(goals, &self.records())
    }

    /// Plans `goals` against `current` (recorded or refreshed records).
    fn plan_on(&self, goals: &[ResourceGoal], current: &[ResourceRecord]) -> Plan {
        let graph = DependencyGraph::from_goals(goals).expect("the program's graph is valid");
        plan(PlanRequest {
            stack: STACK,
            goals,
            graph: &graph,
            current,
            retired: &self.retired(),
            registry: &self.registry,
            targets: &[],
        })
        .expect("the program plans")
    }

    async fn apply(&self, plan: &Plan) -> ApplyReport {
        let (_never, cancel) = watch::channel(false);
        self.apply_with(plan, 4, Arc::new(Quiet), cancel).await
    }

    async fn apply_with(
        &self,
        plan: &Plan,
        parallel: usize,
        observer: Arc<dyn Observer>,
        cancel: watch::Receiver<bool>,
    ) -> ApplyReport {
        apply(
            plan,
            ApplyContext {
                stack: STACK.to_string(),
                registry: self.registry.clone(),
                store: self.store.clone() as Arc<dyn StateStore>,
                parallel,
                cancel,
                observer,
            },
        )
        .await
    }

    /// `stackup up --no-refresh --yes` as it ships: the engine's `up` (validate the graph,
    /// stopping before any call if it is invalid; recover; plan against recorded state and
    /// retired objects; pre-flight the deletes; apply; record the run).
    async fn try_up(&self, goals: &[ResourceGoal]) -> Result<(Plan, ApplyReport), GraphErrors> {
        let program = Program {
            goals: goals.to_vec(),
            ..Program::default()
        };
        let stack = match Stack::open(STACK, program, self.store.clone(), self.registry.clone()) {
            Ok(stack) => stack,
            Err(EngineError::Graph(e)) => return Err(e),
            Err(e) => panic!("the program plans: {e}"),
        };
        let opts = UpOptions {
            run: RunOptions {
                parallel: 4,
                actor: Actor::named("tests"),
            },
            targets: Vec::new(),
            refresh: false,
        };
        let run = stackup_engine::up(&stack, &opts, &stackup_engine::Quiet, &Cancel::new())
            .await
            .unwrap_or_else(|e| panic!("up ran: {e}"));
        Ok((run.plan, run.applied.unwrap_or_default()))
    }

    async fn up(&self, goals: &[ResourceGoal]) -> (Plan, ApplyReport) {
        self.try_up(goals).await.expect("the program's graph is valid")
    }

    /// An `up` that must succeed.
    async fn up_ok(&self, goals: &[ResourceGoal]) -> (Plan, ApplyReport) {
        let (plan, report) = self.up(goals).await;
        assert!(report.is_success(), "up failed: {:#?}", report.results);
        assert!(self.journal_is_empty(), "a successful run leaves the journal empty");
        (plan, report)
    }

    /// Asserts that the program has nothing left to do.
    fn assert_converged(&self, goals: &[ResourceGoal]) {
        let again = self.plan(goals);
        assert!(
            again.steps.iter().all(|s| s.action == Action::Same),
            "expected an all-same plan, got {:?}",
            actions(&again)
        );
        assert!(!again.has_changes());
        assert!(again.operations().is_empty());
        assert!(self.retired().is_empty(), "no retired object is left to delete");
    }
}

/// Makes the fake cloud refuse to delete an object that another object's inputs still
/// mention by id or ARN, as EC2 refuses to delete a VPC that still has subnets.
fn refuse_deleting_referenced_objects(cloud: &Arc<FakeCloud>) {
    let weak = Arc::downgrade(cloud);
    cloud.fail_when(move |call| {
        if call.op != Op::Delete {
            return None;
        }
        let cloud = weak.upgrade()?;
        let id = call.id.clone()?;
        let arn = format!("arn:fake:{id}");
        let user = cloud
            .objects()
            .into_iter()
            .find(|(other, o)| other != &id && o.inputs.values().any(|v| mentions(v, &id) || mentions(v, &arn)))?;
        Some(
            ProviderError::new(
                ErrorKind::DependencyViolation,
                format!("{id} is still used by {} ({})", user.0, user.1.urn),
            )
            .with_code("DependencyViolation"),
        )
    });
}

fn mentions(v: &Value, text: &str) -> bool {
    match v {
        Value::String(s) => s == text,
        Value::List(l) => l.iter().any(|v| mentions(v, text)),
        Value::Map(m) => m.values().any(|v| mentions(v, text)),
        Value::Secret(v) => mentions(v, text),
        _ => false,
    }
}

fn urn(ty: &'static str, name: &str) -> Urn {
    Urn::new(STACK, &TypeToken::from_static(ty), name)
}

fn goal(ty: &'static str, name: &str, inputs: &[(&str, Value)]) -> ResourceGoal {
    ResourceGoal {
        urn: urn(ty, name),
        ty: TypeToken::parse(ty).expect("a valid type token"),
        inputs: inputs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        depends_on: Vec::new(),
    }
}

/// A reference to an output of the resource `urn`.
fn out(urn: &Urn, output: &str) -> Value {
    Value::Ref(Box::new(Reference {
        urn: urn.clone(),
        output: output.to_string(),
    }))
}

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

/// The base program: a chain net <- subnet <- web, and an independent queue.
fn chain() -> Vec<ResourceGoal> {
    let net = urn(NETWORK, "net");
    let subnet = urn(SUBNET, "subnet");
    vec![
        goal(
            NETWORK,
            "net",
            &[("cidr", s("10.0.0.0/16")), ("description", s("main"))],
        ),
        goal(
            SUBNET,
            "subnet",
            &[("network_id", out(&net, "id")), ("cidr", s("10.0.1.0/24"))],
        ),
        goal(
            INSTANCE,
            "web",
            &[
                ("subnet_id", out(&subnet, "id")),
                ("image", s("ami-1")),
                ("size", s("small")),
            ],
        ),
        goal(NAMED, "queue", &[("name", s("orders"))]),
    ]
}

/// `goals` with input `key` of the resource `name` set to `value`.
fn with_input(mut goals: Vec<ResourceGoal>, name: &str, key: &str, value: Value) -> Vec<ResourceGoal> {
    let g = goals
        .iter_mut()
        .find(|g| g.urn.name() == name)
        .unwrap_or_else(|| panic!("the program declares no {name}"));
    g.inputs.insert(key.into(), value);
    goals
}

fn without(goals: Vec<ResourceGoal>, name: &str) -> Vec<ResourceGoal> {
    goals.into_iter().filter(|g| g.urn.name() != name).collect()
}

fn step<'a>(plan: &'a Plan, name: &str) -> &'a Step {
    let mut found = plan.steps.iter().filter(|s| s.urn.name() == name);
    let step = found
        .next()
        .unwrap_or_else(|| panic!("the plan has no step for {name}: {:?}", actions(plan)));
    assert!(found.next().is_none(), "the plan has more than one step for {name}");
    step
}

/// `(name, action)` of every step, in plan order.
fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.steps
        .iter()
        .map(|s| (s.urn.name().to_string(), s.action))
        .collect()
}

/// `(name, action)` of the steps that change something, sorted by name.
fn changed(plan: &Plan) -> Vec<(String, Action)> {
    let mut out: Vec<(String, Action)> = plan
        .changed_steps()
        .map(|s| (s.urn.name().to_string(), s.action))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn change(step: &Step, key: &str) -> PropertyChange {
    step.changes
        .list()
        .iter()
        .find(|c| c.key == key)
        .cloned()
        .unwrap_or_else(|| panic!("{} has no change of {key}: {:?}", step.urn, step.changes))
}

/// The position of the only `(op, name)` call in a mutation log.
fn at(log: &[(Op, String)], op: Op, name: &str) -> usize {
    let hits: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, (o, n))| *o == op && n == name)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "expected one {op:?} of {name} in {log:?}");
    hits[0]
}

fn m(op: Op, name: &str) -> (Op, String) {
    (op, name.to_string())
}

fn outcome_of<'a>(report: &'a ApplyReport, name: &str, kind: OpKind) -> &'a stackup_executor::OpResult {
    report
        .results
        .iter()
        .find(|r| r.urn.name() == name && r.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} of {name} in {:#?}", report.results))
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn fake_cloud_refuses_to_delete_an_object_still_in_use() {
    // The harness's stand-in for EC2's DependencyViolation, on which the ordering tests
    // below rely: deleting the network under a live subnet fails and changes nothing.
    let w = World::new();
    w.up_ok(&chain()).await;
    let net = w.record("net");
    let provider = w.registry.get(&net.ty).expect("the network type is registered").clone();
    let refused = provider
        .delete(DeleteRequest {
            urn: net.urn.clone(),
            id: net.id.clone(),
            inputs: net.inputs.clone().into(),
            outputs: net.outputs.clone().into(),
            replacing: false,
        })
        .await
        .expect_err("a network with a subnet cannot be deleted");
    assert_eq!(refused.kind, ErrorKind::DependencyViolation);
    assert!(refused.message.contains(&w.record("subnet").id), "{refused}");
    assert!(w.cloud.objects().contains_key(&net.id));
}

#[tokio::test]
async fn create_from_nothing_runs_in_dependency_order_and_records_resolved_ids() {
    let w = World::new();
    let program = chain();
    let (plan, report) = w.up_ok(&program).await;

    assert_eq!(plan.steps.len(), 4);
    assert!(
        plan.steps.iter().all(|s| s.action == Action::Create),
        "{:?}",
        actions(&plan)
    );
    assert_eq!(report.done(OpKind::Create), 4);

    let log = w.cloud.mutations();
    assert_eq!(log.len(), 4, "one create per resource: {log:?}");
    assert!(log.iter().all(|(op, _)| *op == Op::Create));
    assert!(at(&log, Op::Create, "net") < at(&log, Op::Create, "subnet"));
    assert!(at(&log, Op::Create, "subnet") < at(&log, Op::Create, "web"));
    at(&log, Op::Create, "queue");

    let (net, subnet, web, queue) = (w.record("net"), w.record("subnet"), w.record("web"), w.record("queue"));
    assert_eq!(w.cloud.objects().len(), 4);
    for r in [&net, &subnet, &web, &queue] {
        let object = w.object(&r.id);
        assert_eq!(object.urn, r.urn, "the record's id names its own object");
        assert_eq!(object.inputs, r.inputs, "the record holds the inputs as applied");
        assert_eq!(r.outputs.get("id"), Some(&s(&r.id)));
        assert_eq!(r.outputs.get("arn"), Some(&s(&format!("arn:fake:{}", r.id))));
    }
    // References were resolved to the dependency's real id, in the cloud and the record.
    assert_eq!(
        *w.object(&subnet.id).inputs.get("network_id").expect("network_id"),
        s(&net.id)
    );
    assert_eq!(
        *w.object(&web.id).inputs.get("subnet_id").expect("subnet_id"),
        s(&subnet.id)
    );
    assert_eq!(*subnet.inputs.get("network_id").expect("network_id"), s(&net.id));
    assert_eq!(net.outputs.get("cidr"), Some(&s("10.0.0.0/16")));
    // Dependencies are recorded, so deletes can be ordered without the program.
    assert!(net.dependencies.is_empty());
    assert_eq!(subnet.dependencies, vec![net.urn.clone()]);
    assert_eq!(web.dependencies, vec![subnet.urn.clone()]);
    assert!(queue.dependencies.is_empty());

    assert!(w.journal_is_empty());
    w.assert_converged(&program);
}

#[tokio::test]
async fn changing_an_updatable_input_updates_in_place_and_keeps_the_id() {
    let w = World::new();
    w.up_ok(&chain()).await;
    let before = w.record("net");
    w.cloud.clear_calls();

    let program = with_input(chain(), "net", "description", s("primary"));
    let (plan, report) = w.up_ok(&program).await;

    assert_eq!(changed(&plan), vec![("net".to_string(), Action::Update)]);
    assert_eq!(
        step(&plan, "net").changes.list().to_vec(),
        vec![PropertyChange {
            key: "description".into(),
            old: Some(s("main")),
            new: Some(s("primary")),
            forces_replacement: false,
        }]
    );
    assert_eq!(report.done(OpKind::Update), 1);
    assert_eq!(w.cloud.mutations(), vec![m(Op::Update, "net")]);

    let after = w.record("net");
    assert_eq!(after.id, before.id, "an update keeps the physical id");
    assert_eq!(
        *w.object(&after.id).inputs.get("description").expect("description"),
        s("primary")
    );
    assert_eq!(*after.inputs.get("description").expect("description"), s("primary"));
    assert_eq!(*after.outputs.get("description").expect("description"), s("primary"));
    assert_eq!(w.cloud.objects().len(), 4);
    w.assert_converged(&program);
}

#[tokio::test]
async fn replace_creates_before_deleting_and_repoints_dependents() {
    let w = World::new();
    w.up_ok(&chain()).await;
    let (old_net, old_subnet, old_web) = (w.record("net"), w.record("subnet"), w.record("web"));
    w.cloud.clear_calls();

    let program = with_input(chain(), "net", "cidr", s("10.9.0.0/16"));
    let plan = w.plan(&program);
    assert_eq!(
        changed(&plan),
        vec![
            ("net".to_string(), Action::CreateThenDelete),
            ("subnet".to_string(), Action::CreateThenDelete),
            ("web".to_string(), Action::Update),
        ]
    );
    assert_eq!(
        change(step(&plan, "net"), "cidr"),
        PropertyChange {
            key: "cidr".into(),
            old: Some(s("10.0.0.0/16")),
            new: Some(s("10.9.0.0/16")),
            forces_replacement: true,
        }
    );
    // The new network's id is not known yet, so the subnet is replaced as well...
    let network_id = change(step(&plan, "subnet"), "network_id");
    assert_eq!(network_id.old, Some(s(&old_net.id)));
    assert_eq!(network_id.new, Some(Value::Unknown));
    assert!(network_id.forces_replacement);
    // ...and the instance, which can move between subnets, is updated in place.
    let subnet_id = change(step(&plan, "web"), "subnet_id");
    assert_eq!(subnet_id.new, Some(Value::Unknown));
    assert!(!subnet_id.forces_replacement);

    let report = w.apply(&plan).await;
    assert!(report.is_success(), "{:#?}", report.results);
    let log = w.cloud.mutations();
    assert_eq!(log.len(), 5, "{log:?}");
    assert!(at(&log, Op::Create, "net") < at(&log, Op::Delete, "net"), "{log:?}");
    assert!(at(&log, Op::Create, "net") < at(&log, Op::Create, "subnet"), "{log:?}");
    assert!(at(&log, Op::Create, "subnet") < at(&log, Op::Update, "web"), "{log:?}");
    assert!(at(&log, Op::Update, "web") < at(&log, Op::Delete, "subnet"), "{log:?}");
    assert!(at(&log, Op::Delete, "subnet") < at(&log, Op::Delete, "net"), "{log:?}");
    // The deletes were of the old objects.
    let deleted: Vec<Option<String>> = w
        .cloud
        .calls()
        .into_iter()
        .filter(|c| c.op == Op::Delete)
        .map(|c| c.id)
        .collect();
    assert_eq!(deleted, vec![Some(old_subnet.id.clone()), Some(old_net.id.clone())]);

    let (net, subnet, web) = (w.record("net"), w.record("subnet"), w.record("web"));
    assert_ne!(net.id, old_net.id);
    assert_ne!(subnet.id, old_subnet.id);
    assert_eq!(web.id, old_web.id);
    assert_eq!(*w.object(&net.id).inputs.get("cidr").expect("cidr"), s("10.9.0.0/16"));
    assert_eq!(
        *w.object(&subnet.id).inputs.get("network_id").expect("network_id"),
        s(&net.id)
    );
    assert_eq!(
        *w.object(&web.id).inputs.get("subnet_id").expect("subnet_id"),
        s(&subnet.id)
    );
    assert!(
        w.objects_per_name().values().all(|&n| n == 1),
        "{:?}",
        w.objects_per_name()
    );
    assert_eq!(w.cloud.objects().len(), 4);
    assert!(
        w.retired().is_empty(),
        "the replaced objects are forgotten once deleted"
    );
    assert!(w.journal_is_empty());
    w.assert_converged(&program);
}

#[tokio::test]
async fn delete_before_replace_deletes_the_old_object_before_creating_the_new_one() {
    let w = World::new();
    let program = |name: &str| {
        let queue = urn(NAMED, "queue");
        vec![
            goal(NAMED, "queue", &[("name", s(name))]),
            goal(ATTACHMENT, "consumer", &[("target_id", out(&queue, "id"))]),
        ]
    };
    w.up_ok(&program("orders")).await;
    let (old_queue, old_consumer) = (w.record("queue"), w.record("consumer"));
    w.cloud.clear_calls();

    let plan = w.plan(&program("orders-v2"));
    assert_eq!(
        changed(&plan),
        vec![
            ("consumer".to_string(), Action::DeleteThenCreate),
            ("queue".to_string(), Action::DeleteThenCreate),
        ],
        "a replaced dependent of a delete-before-replace resource must go first too"
    );
    assert!(change(step(&plan, "queue"), "name").forces_replacement);

    let report = w.apply(&plan).await;
    assert!(report.is_success(), "{:#?}", report.results);
    assert_eq!(
        w.cloud.mutations(),
        vec![
            m(Op::Delete, "consumer"),
            m(Op::Delete, "queue"),
            m(Op::Create, "queue"),
            m(Op::Create, "consumer"),
        ]
    );
    let (queue, consumer) = (w.record("queue"), w.record("consumer"));
    assert_ne!(queue.id, old_queue.id);
    assert_ne!(consumer.id, old_consumer.id);
    assert_eq!(*w.object(&queue.id).inputs.get("name").expect("name"), s("orders-v2"));
    assert_eq!(
        *w.object(&consumer.id).inputs.get("target_id").expect("target_id"),
        s(&queue.id)
    );
    assert_eq!(w.cloud.objects().len(), 2);
    assert!(w.retired().is_empty());
    assert!(w.journal_is_empty());
    w.assert_converged(&program("orders-v2"));
}

#[tokio::test]
async fn dependent_updated_in_place_is_repointed_before_the_replaced_object_is_deleted() {
    let w = World::new();
    w.up_ok(&chain()).await;
    let (old_subnet, web) = (w.record("subnet"), w.record("web"));
    w.cloud.clear_calls();

    let program = with_input(chain(), "subnet", "cidr", s("10.0.2.0/24"));
    let (plan, _) = w.up_ok(&program).await;
    assert_eq!(
        changed(&plan),
        vec![
            ("subnet".to_string(), Action::CreateThenDelete),
            ("web".to_string(), Action::Update),
        ]
    );
    assert_eq!(
        w.cloud.mutations(),
        vec![m(Op::Create, "subnet"), m(Op::Update, "web"), m(Op::Delete, "subnet")]
    );
    let subnet = w.record("subnet");
    let update = w
        .cloud
        .calls()
        .into_iter()
        .find(|c| c.op == Op::Update)
        .expect("web was updated");
    assert_eq!(update.id, Some(web.id.clone()));
    assert_eq!(
        *update.inputs.get("subnet_id").expect("subnet_id"),
        s(&subnet.id),
        "web moved to the new subnet"
    );
    assert!(!w.cloud.objects().contains_key(&old_subnet.id));
    assert_eq!(w.record("web").id, web.id);
    w.assert_converged(&program);
}

#[tokio::test]
async fn removing_everything_deletes_dependents_before_their_dependencies() {
    let w = World::new();
    w.up_ok(&chain()).await;
    w.cloud.clear_calls();

    let (plan, report) = w.up_ok(&[]).await;
    assert_eq!(plan.steps.len(), 4);
    assert!(
        plan.steps.iter().all(|s| s.action == Action::Delete),
        "{:?}",
        actions(&plan)
    );
    assert_eq!(report.done(OpKind::Delete), 4);

    let log = w.cloud.mutations();
    assert_eq!(log.len(), 4);
    assert!(at(&log, Op::Delete, "web") < at(&log, Op::Delete, "subnet"), "{log:?}");
    assert!(at(&log, Op::Delete, "subnet") < at(&log, Op::Delete, "net"), "{log:?}");
    at(&log, Op::Delete, "queue");
    assert!(w.cloud.objects().is_empty());
    assert!(w.records().is_empty());
    w.assert_converged(&[]);
}

#[tokio::test]
async fn removed_resource_is_deleted_only_after_its_former_dependents_moved_away() {
    let w = World::new();
    w.up_ok(&chain()).await;
    let old_subnet = w.record("subnet");
    w.cloud.clear_calls();

    // web moves to a new subnet and the old subnet leaves the program.
    let net = urn(NETWORK, "net");
    let mut program = without(chain(), "subnet");
    program.push(goal(
        SUBNET,
        "subnet-b",
        &[("network_id", out(&net, "id")), ("cidr", s("10.0.2.0/24"))],
    ));
    let program = with_input(program, "web", "subnet_id", out(&urn(SUBNET, "subnet-b"), "id"));
    let (plan, report) = w.up(&program).await;
    assert_eq!(
        changed(&plan),
        vec![
            ("subnet".to_string(), Action::Delete),
            ("subnet-b".to_string(), Action::Create),
            ("web".to_string(), Action::Update),
        ]
    );
    assert!(report.is_success(), "{:#?}", report.failures());
    let log = w.cloud.mutations();
    assert!(
        at(&log, Op::Create, "subnet-b") < at(&log, Op::Update, "web"),
        "{log:?}"
    );
    assert!(at(&log, Op::Update, "web") < at(&log, Op::Delete, "subnet"), "{log:?}");
    assert!(!w.cloud.objects().contains_key(&old_subnet.id));
    assert_eq!(w.record_names(), vec!["net", "queue", "subnet-b", "web"]);
    assert!(w.journal_is_empty());
    w.assert_converged(&program);
}

#[tokio::test]
async fn failed_create_skips_its_dependents_and_a_rerun_converges() {
    let w = World::new();
    let failing = Arc::new(AtomicBool::new(true));
    let flag = failing.clone();
    w.cloud.fail_when(move |call| {
        (call.op == Op::Create && call.urn.name() == "subnet" && flag.load(Ordering::SeqCst))
            .then(|| ProviderError::invalid("the subnet's CIDR overlaps"))
    });

    let program = chain();
    let (_, report) = w.up(&program).await;
    assert!(!report.is_success());
    let failures = report.failures();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0].urn, urn(SUBNET, "subnet"));
    assert_eq!(failures[0].kind, OpKind::Create);
    match &failures[0].outcome {
        NodeOutcome::Failed(StepError::Provider(e)) => {
            assert_eq!(e.kind, ErrorKind::Invalid);
            assert_eq!(e.message, "the subnet's CIDR overlaps");
        }
        other => panic!("expected a provider failure, got {other:?}"),
    }
    let web = outcome_of(&report, "web", OpKind::Create);
    assert!(matches!(web.outcome, NodeOutcome::Skipped { .. }), "{web:?}");
    assert_eq!(web.root_cause, Some(urn(SUBNET, "subnet")));
    assert_eq!(report.skipped(), 1);
    assert!(matches!(
        outcome_of(&report, "net", OpKind::Create).outcome,
        NodeOutcome::Done
    ));
    assert!(matches!(
        outcome_of(&report, "queue", OpKind::Create).outcome,
        NodeOutcome::Done
    ));

    assert_eq!(w.record_names(), vec!["net", "queue"]);
    assert_eq!(
        w.objects_per_name().keys().cloned().collect::<Vec<_>>(),
        vec!["net", "queue"]
    );
    assert!(
        !w.cloud.mutations().contains(&m(Op::Create, "web")),
        "a skipped create never reaches the cloud"
    );
    assert!(w.journal_is_empty(), "a definite failure leaves no journal entry");

    failing.store(false, Ordering::SeqCst);
    w.cloud.clear_calls();
    let (plan, report) = w.up_ok(&program).await;
    assert_eq!(
        changed(&plan),
        vec![
            ("subnet".to_string(), Action::Create),
            ("web".to_string(), Action::Create)
        ]
    );
    assert_eq!(report.done(OpKind::Create), 2);
    assert_eq!(w.cloud.mutations(), vec![m(Op::Create, "subnet"), m(Op::Create, "web")]);
    assert_eq!(w.cloud.objects().len(), 4);
    w.assert_converged(&program);
}

#[tokio::test]
async fn output_known_only_after_apply_is_unknown_in_the_plan_and_resolved_on_apply() {
    let w = World::new();
    let queue = urn(NAMED, "queue");
    let program = vec![
        goal(NAMED, "queue", &[("name", s("orders"))]),
        goal(
            INSTANCE,
            "worker",
            &[("image", s("ami-1")), ("queue_arn", out(&queue, "arn"))],
        ),
    ];
    let plan = w.plan(&program);
    let worker = step(&plan, "worker");
    assert_eq!(worker.action, Action::Create);
    let queue_arn = change(worker, "queue_arn");
    assert_eq!(queue_arn.old, None);
    assert_eq!(queue_arn.new, Some(Value::Unknown), "the ARN is known after apply");
    assert_eq!(change(worker, "image").new, Some(s("ami-1")));
    assert_eq!(worker.dependencies, vec![queue.clone()]);

    let report = w.apply(&plan).await;
    assert!(report.is_success(), "{:#?}", report.results);
    let (queue_rec, worker_rec) = (w.record("queue"), w.record("worker"));
    let arn = s(&format!("arn:fake:{}", queue_rec.id));
    assert_eq!(*queue_rec.outputs.get("arn").expect("arn"), arn);
    assert_eq!(
        *w.object(&worker_rec.id).inputs.get("queue_arn").expect("queue_arn"),
        arn
    );
    assert_eq!(*worker_rec.inputs.get("queue_arn").expect("queue_arn"), arn);
    assert_eq!(worker_rec.dependencies, vec![queue]);
    w.assert_converged(&program);
}

#[tokio::test]
async fn graph_problems_are_all_reported_at_once_before_any_call() {
    let w = World::new();
    let (a, b, ghost) = (urn(NETWORK, "a"), urn(NETWORK, "b"), urn(NETWORK, "ghost"));
    let program = vec![
        goal(NETWORK, "a", &[("peer", out(&b, "id"))]),
        goal(NETWORK, "b", &[("peer", out(&a, "id"))]),
        goal(SUBNET, "c", &[("network_id", out(&ghost, "id"))]),
        goal(NAMED, "d", &[("name", s("one"))]),
        goal(NAMED, "d", &[("name", s("two"))]),
    ];
    let errors = match w.try_up(&program).await {
        Err(errors) => errors,
        Ok((plan, _)) => panic!("an invalid graph was planned: {:?}", actions(&plan)),
    };
    assert_eq!(errors.0.len(), 3, "{errors}");
    assert!(
        errors.0.contains(&GraphProblem::DuplicateUrn(urn(NAMED, "d"))),
        "{errors}"
    );
    assert!(
        errors.0.contains(&GraphProblem::DanglingReference {
            from: urn(SUBNET, "c"),
            to: ghost.clone(),
        }),
        "{errors}"
    );
    assert!(errors.0.contains(&GraphProblem::Cycle(vec![a, b])), "{errors}");
    let text = errors.to_string();
    assert!(text.contains("3 problem(s)"), "{text}");
    assert!(text.contains("test::test:fake:Network::ghost"), "{text}");

    assert!(
        w.cloud.calls().is_empty(),
        "nothing may be called for an invalid program"
    );
    assert!(w.cloud.objects().is_empty());
    assert!(w.records().is_empty());
    assert!(w.journal_is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelism_is_bounded_by_the_parallel_setting() {
    let w = World::new();
    w.cloud
        .delay_when(|call| (call.op == Op::Create).then_some(Duration::from_millis(30)));
    let program: Vec<ResourceGoal> = (0..12)
        .map(|i| {
            goal(
                NETWORK,
                &format!("net{i:02}"),
                &[("cidr", s(&format!("10.{i}.0.0/16")))],
            )
        })
        .collect();
    let plan = w.plan(&program);
    let (_never, cancel) = watch::channel(false);
    let report = w.apply_with(&plan, 3, Arc::new(Quiet), cancel).await;

    assert!(report.is_success(), "{:#?}", report.failures());
    assert_eq!(report.done(OpKind::Create), 12);
    assert_eq!(w.cloud.max_in_flight(), 3, "never more than 3, and 3 were used");
    assert_eq!(w.cloud.objects().len(), 12);
    assert_eq!(w.records().len(), 12);
    // Four waves of three 30 ms creates.
    assert!(report.elapsed >= Duration::from_millis(120), "{:?}", report.elapsed);
    assert!(w.journal_is_empty());
    w.assert_converged(&program);
}

#[tokio::test]
async fn cancellation_lets_in_flight_operations_finish_and_records_only_them() {
    let w = World::new();
    w.cloud
        .delay_when(|call| (call.op == Op::Create).then_some(Duration::from_millis(50)));
    let program: Vec<ResourceGoal> = (0..6)
        .map(|i| goal(NETWORK, &format!("net{i}"), &[("cidr", s(&format!("10.{i}.0.0/16")))]))
        .collect();
    let plan = w.plan(&program);
    let (tx, rx) = watch::channel(false);
    let observer = Arc::new(CancelOnFirstStart {
        cancel: tx,
        started: Mutex::new(Vec::new()),
    });
    let report = w.apply_with(&plan, 2, observer.clone(), rx).await;

    let started = observer.started.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(started.len(), 2, "the two operations already in flight were let finish");
    assert_eq!(report.done(OpKind::Create), 2);
    assert_eq!(report.cancelled(), 4);
    assert!(report.failures().is_empty());
    let mut finished: Vec<String> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, NodeOutcome::Done))
        .map(|r| r.urn.name().to_string())
        .collect();
    finished.sort();
    let mut started_names: Vec<String> = started.iter().map(|u| u.name().to_string()).collect();
    started_names.sort();
    assert_eq!(finished, started_names);
    assert_eq!(w.record_names(), finished, "the store holds exactly the finished ones");
    assert_eq!(w.objects_per_name().keys().cloned().collect::<Vec<_>>(), finished);
    for r in w.records() {
        assert_eq!(w.object(&r.id).urn, r.urn);
    }
    assert!(
        w.journal_is_empty(),
        "cancelled operations never started, so left no intent"
    );

    w.cloud.clear_calls();
    let (plan, report) = w.up_ok(&program).await;
    assert_eq!(plan.counts().create, 4);
    assert_eq!(plan.counts().same, 2);
    assert_eq!(report.done(OpKind::Create), 4);
    let created: Vec<String> = w.cloud.mutations().into_iter().map(|(_, n)| n).collect();
    assert!(created.iter().all(|n| !finished.contains(n)), "{created:?}");
    assert_eq!(w.cloud.objects().len(), 6);
    w.assert_converged(&program);
}

#[tokio::test]
async fn interrupted_replacement_repoints_dependents_before_deleting_the_retired_object() {
    let w = World::new();
    w.up_ok(&chain()).await;
    let old_subnet = w.record("subnet");
    w.cloud.clear_calls();

    // Replace the subnet and stop the run as soon as its replacement is being created:
    // the replacement finishes, web is not yet repointed, the old subnet is retired.
    let program = with_input(chain(), "subnet", "cidr", s("10.0.2.0/24"));
    let plan = w.plan(&program);
    let (tx, rx) = watch::channel(false);
    let observer = Arc::new(CancelOnFirstStart {
        cancel: tx,
        started: Mutex::new(Vec::new()),
    });
    let report = w.apply_with(&plan, 1, observer, rx).await;
    assert_eq!(report.done(OpKind::CreateReplacement), 1);
    assert_eq!(report.cancelled(), 2, "{:#?}", report.results);
    assert_eq!(w.cloud.mutations(), vec![m(Op::Create, "subnet")]);
    assert_eq!(w.retired(), vec![old_subnet.clone()]);
    assert_eq!(w.objects_per_name()["subnet"], 2);

    // The next run repoints web, then deletes the retired subnet.
    w.cloud.clear_calls();
    let plan = w.plan(&program);
    assert_eq!(
        changed(&plan),
        vec![
            ("subnet".to_string(), Action::Delete),
            ("web".to_string(), Action::Update)
        ]
    );
    let subnet_steps: Vec<(Action, bool)> = plan
        .steps
        .iter()
        .filter(|s| s.urn.name() == "subnet")
        .map(|s| (s.action, s.retired))
        .collect();
    assert_eq!(
        subnet_steps,
        vec![(Action::Same, false), (Action::Delete, true)],
        "the new subnet stays, the retired old one goes"
    );
    assert_eq!(
        plan.steps.iter().find(|s| s.retired).and_then(|s| s.old.as_ref()),
        Some(&old_subnet)
    );
    let report = w.apply(&plan).await;
    assert!(report.is_success(), "{:#?}", report.failures());
    assert_eq!(w.cloud.mutations(), vec![m(Op::Update, "web"), m(Op::Delete, "subnet")]);
    assert!(!w.cloud.objects().contains_key(&old_subnet.id));
    assert_eq!(
        *w.object(&w.record("web").id)
            .inputs
            .get("subnet_id")
            .expect("subnet_id"),
        s(&w.record("subnet").id)
    );
    assert!(w.objects_per_name().values().all(|&n| n == 1));
    assert!(w.journal_is_empty());
    w.assert_converged(&program);
}

/// Reads are eventually consistent: an object created moments ago can be missing from
/// a read. Refresh reads a missing record again before calling it deleted, so a
/// moment's miss is neither reported as drift nor forgotten (and created again by the
/// next `up`); an object that is really gone is still reported.
#[tokio::test]
async fn a_moments_miss_on_refresh_is_not_taken_for_a_deletion() {
    let w = World::new();
    let program = chain();
    w.up_ok(&program).await;
    let (net, queue) = (w.record("net"), w.record("queue"));
    let reads_of_net = std::sync::atomic::AtomicUsize::new(0);
    let net_urn = net.urn.clone();
    w.cloud.hide_when(move |call| {
        call.op == Op::Read
            && call.urn == net_urn
            && reads_of_net.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
    });
    w.cloud.remove_object(&queue.id);
    w.cloud.clear_calls();

    let refreshed = refresh(&w.registry, &w.records()).await.expect("refresh reads");
    assert_eq!(
        refreshed.drift,
        vec![ResourceDrift::Deleted { urn: queue.urn.clone() }],
        "only what is really gone"
    );
    assert!(refreshed.records.iter().any(|r| r.urn == net.urn), "net is kept");
    let reads = |urn: &Urn| {
        w.cloud
            .calls()
            .iter()
            .filter(|c| c.op == Op::Read && &c.urn == urn)
            .count()
    };
    assert_eq!(reads(&net.urn), 2, "net was read again after its miss");
    assert_eq!(reads(&queue.urn), 2, "queue was read again before being reported");
}

/// Where a type's listing serves refresh, `diff` and `refresh` list that type once and
/// read by id only the records the listing did not return; the listing's objects are
/// the stack's tagged objects as well. Drift is found the same way either way.
#[tokio::test]
async fn a_listing_that_serves_refresh_replaces_the_reads_by_id() {
    let w = World::new();
    let program = chain();
    w.up_ok(&program).await;
    let (net, subnet, queue, web) = (w.record("net"), w.record("subnet"), w.record("queue"), w.record("web"));
    // Every type but the instances lists; the queue is missing from its listing (its
    // stack tag removed by hand), so it is read by id.
    let mut registry = Registry::new();
    for (ty, replace) in [
        (NETWORK, &["cidr"][..]),
        (SUBNET, &["network_id", "cidr"]),
        (NAMED, &["name"]),
    ] {
        registry.register(Arc::new(FakeProvider::new(w.cloud.clone(), ty, replace).listing()));
    }
    registry.register(Arc::new(FakeProvider::new(w.cloud.clone(), INSTANCE, &["image"])));
    let queue_urn = queue.urn.clone();
    w.cloud
        .hide_when(move |call| call.op == Op::List && call.urn == queue_urn);
    w.cloud.tamper(&net.id, "description", s("edited in the console"));
    w.cloud.clear_calls();

    let types: Vec<TypeToken> = [NETWORK, SUBNET, INSTANCE, NAMED].map(TypeToken::from_static).to_vec();
    let survey = stackup_executor::survey(&registry, STACK, &w.records(), &types)
        .await
        .expect("the survey reads");

    let calls = w.cloud.calls();
    let count = |op: Op, urn: &Urn| calls.iter().filter(|c| c.op == op && &c.urn == urn).count();
    assert_eq!(count(Op::Read, &net.urn), 0, "net came with its type's listing");
    assert_eq!(count(Op::Read, &subnet.urn), 0, "subnet came with its type's listing");
    assert_eq!(count(Op::Read, &queue.urn), 1, "the queue, not listed, was read by id");
    assert_eq!(
        count(Op::Read, &web.urn),
        1,
        "a type whose listing does not serve refresh is read"
    );
    let lists = calls.iter().filter(|c| c.op == Op::List).count();
    assert_eq!(lists, 3, "one listing per listing type: {calls:#?}");
    assert_eq!(
        survey.refreshed.drift,
        vec![ResourceDrift::Changed {
            urn: net.urn.clone(),
            attributes: vec![AttributeDrift {
                key: "description".into(),
                recorded: Some(s("main")),
                live: Some(s("edited in the console")),
            }],
        }]
    );
    let mut refreshed: Vec<&str> = survey.refreshed.records.iter().map(|r| r.urn.name()).collect();
    refreshed.sort();
    assert_eq!(refreshed, ["net", "queue", "subnet", "web"]);
    let mut tagged: Vec<(String, &str)> = survey
        .tagged
        .iter()
        .map(|(ty, l)| (ty.to_string(), l.urn.name()))
        .collect();
    tagged.sort();
    assert_eq!(
        tagged,
        [(NETWORK.to_string(), "net"), (SUBNET.to_string(), "subnet")],
        "the listed objects are the stack's tagged objects"
    );
}

#[tokio::test]
async fn refresh_reports_drift_and_the_next_up_repairs_it() {
    let w = World::new();
    let program = chain();
    w.up_ok(&program).await;
    let (net, queue) = (w.record("net"), w.record("queue"));
    w.cloud.tamper(&net.id, "description", s("edited in the console"));
    w.cloud.remove_object(&queue.id);
    w.cloud.clear_calls();

    let refreshed = refresh(&w.registry, &w.records()).await.expect("refresh reads");
    assert_eq!(refreshed.drift.len(), 2, "{:#?}", refreshed.drift);
    assert!(refreshed.drift.contains(&ResourceDrift::Changed {
        urn: net.urn.clone(),
        attributes: vec![AttributeDrift {
            key: "description".into(),
            recorded: Some(s("main")),
            live: Some(s("edited in the console")),
        }],
    }));
    assert!(refreshed
        .drift
        .contains(&ResourceDrift::Deleted { urn: queue.urn.clone() }));
    assert!(
        refreshed.records.iter().all(|r| r.urn != queue.urn),
        "a gone resource is left out"
    );
    let live_net = refreshed
        .records
        .iter()
        .find(|r| r.urn == net.urn)
        .expect("net is live");
    assert_eq!(
        *live_net.inputs.get("description").expect("description"),
        s("edited in the console")
    );
    assert!(w.cloud.mutations().is_empty(), "refresh only reads");

    let plan = w.plan_on(&program, &refreshed.records);
    assert_eq!(
        changed(&plan),
        vec![
            ("net".to_string(), Action::Update),
            ("queue".to_string(), Action::Create)
        ]
    );
    assert_eq!(
        step(&plan, "net").changes.list().to_vec(),
        vec![PropertyChange {
            key: "description".into(),
            old: Some(s("edited in the console")),
            new: Some(s("main")),
            forces_replacement: false,
        }]
    );
    let report = w.apply(&plan).await;
    assert!(report.is_success(), "{:#?}", report.failures());
    let mut log = w.cloud.mutations();
    log.sort_by_key(|(_, n)| n.clone());
    assert_eq!(log, vec![m(Op::Update, "net"), m(Op::Create, "queue")]);
    assert_eq!(
        *w.object(&net.id).inputs.get("description").expect("description"),
        s("main")
    );
    let new_queue = w.record("queue");
    assert_ne!(new_queue.id, queue.id);
    assert_eq!(*w.object(&new_queue.id).inputs.get("name").expect("name"), s("orders"));
    assert_eq!(w.cloud.objects().len(), 4);

    let again = refresh(&w.registry, &w.records()).await.expect("refresh reads");
    assert!(again.drift.is_empty(), "{:#?}", again.drift);
    let final_plan = w.plan_on(&program, &again.records);
    assert!(!final_plan.has_changes(), "{:?}", actions(&final_plan));
}

#[tokio::test]
async fn a_second_store_on_a_locked_stack_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().expect("a temporary state directory");
    let first = SledStore::open(dir.path(), STACK, "up").expect("the first open takes the lock");

    match SledStore::open(dir.path(), STACK, "destroy") {
        Err(StateError::Locked { stack, holder }) => {
            assert_eq!(stack, STACK);
            assert_eq!(holder.pid, std::process::id());
            assert_eq!(holder.command, "up");
            assert_eq!(holder.host, stackup_state::hostname());
            let message = StateError::Locked {
                stack: stack.clone(),
                holder: holder.clone(),
            }
            .to_string();
            assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
            assert!(message.contains("`up`"), "{message}");
        }
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a locked stack was opened twice"),
    }
    // Another stack in the same state directory has its own lock.
    let other = SledStore::open(dir.path(), "other", "up").expect("another stack opens");
    drop(other);

    let record = ResourceRecord {
        urn: urn(NETWORK, "net"),
        ty: TypeToken::from_static(NETWORK),
        id: "net-1".into(),
        inputs: Default::default(),
        outputs: Default::default(),
        dependencies: Vec::new(),
        tainted: None,
    };
    first.put(&record).expect("a record is written");
    drop(first);
    let second = SledStore::open(dir.path(), STACK, "destroy").expect("the lock is free once dropped");
    assert_eq!(second.records().expect("records are readable"), vec![record]);
}

#[tokio::test]
async fn planning_is_deterministic() {
    let w = World::new();
    let mut base = chain();
    base.push(goal(NAMED, "old-queue", &[("name", s("legacy"))]));
    w.up_ok(&base).await;

    // A program that creates, updates, replaces (both ways) and deletes.
    let mut program = with_input(chain(), "net", "cidr", s("10.9.0.0/16"));
    program = with_input(program, "queue", "name", s("orders-v2"));
    program = with_input(program, "web", "size", s("large"));
    program.push(goal(NAMED, "new-queue", &[("name", s("fresh"))]));

    let first = w.plan(&program);
    let second = w.plan(&program);
    assert_eq!(first, second);
    assert_eq!(first.operations(), second.operations());
    assert_eq!(
        serde_json::to_string(&first).expect("a plan serialises"),
        serde_json::to_string(&second).expect("a plan serialises")
    );
    let counts = first.counts();
    assert_eq!(
        (counts.create, counts.update, counts.replace, counts.delete),
        (1, 1, 3, 1),
        "{:?}",
        actions(&first)
    );
}

#[tokio::test]
async fn a_create_that_fails_after_making_its_object_is_adopted_and_finished_in_place() {
    let w = World::new();
    // The create of `net` makes its object without `description` (the follow-up call
    // that sets it failed), then fails as a lost response would.
    w.cloud.create_partially_when(|call| {
        (call.op == Op::Create && call.urn.name() == "net").then(|| {
            (
                vec!["description".to_string()],
                ProviderError::new(ErrorKind::Transient, "connection reset after the create"),
            )
        })
    });
    // The lookup then fails twice with "not found", as a describe by id does while a
    // new object becomes visible: that is waited out, never taken as "nothing made".
    let finds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = finds.clone();
    w.cloud.fail_when(move |call| {
        (call.op == Op::Find && seen.fetch_add(1, Ordering::SeqCst) < 2)
            .then(|| ProviderError::new(ErrorKind::NotFound, "InvalidVpcID.NotFound"))
    });

    let program = chain();
    let (_, report) = w.up(&program).await;
    assert!(report.is_success(), "{:#?}", report.failures());
    assert_eq!(
        finds.load(Ordering::SeqCst),
        3,
        "two failed lookups, then the one that found it"
    );
    assert_eq!(
        w.objects_per_name().get("net"),
        Some(&1),
        "one object, never a second create"
    );
    let mutations: Vec<(Op, String)> = w
        .cloud
        .mutations()
        .into_iter()
        .filter(|(_, name)| name == "net")
        .collect();
    assert_eq!(mutations, vec![m(Op::Create, "net"), m(Op::Update, "net")]);
    // The update set what the create did not, and the record says what is live.
    let record = w.record("net");
    assert_eq!(w.object(&record.id).inputs.get("description"), Some(&s("main")));
    assert_eq!(record.inputs.get("description"), Some(&s("main")));
    // Its dependents were created with its outputs.
    assert_eq!(
        w.object(&w.record("subnet").id).inputs.get("network_id"),
        Some(&Value::String(record.id.clone()))
    );
    assert!(w.journal_is_empty());
    w.assert_converged(&program);
}

#[tokio::test]
async fn a_lookup_that_keeps_failing_after_a_failed_create_never_creates_again() {
    let w = World::new();
    w.cloud.create_partially_when(|call| {
        (call.op == Op::Create && call.urn.name() == "queue")
            .then(|| (Vec::new(), ProviderError::new(ErrorKind::Transient, "connection reset")))
    });
    w.cloud.fail_when(|call| {
        (call.op == Op::Find).then(|| ProviderError::invalid("AccessDenied: not allowed to describe"))
    });
    let program = vec![goal(NAMED, "queue", &[("name", s("orders"))])];
    let (_, report) = w.up(&program).await;
    let failures = report.failures();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    match &failures[0].outcome {
        NodeOutcome::Failed(StepError::Engine(e)) => {
            assert!(
                e.contains("connection reset") && e.contains("not allowed to describe"),
                "{e}"
            );
            assert!(e.contains("run again"), "{e}");
        }
        other => panic!("expected an engine failure naming both errors, got {other:?}"),
    }
    assert_eq!(w.cloud.mutations(), vec![m(Op::Create, "queue")], "exactly one create");
    assert!(
        !w.journal_is_empty(),
        "the journal keeps the create for the next run's recovery"
    );
}

/// Collects what running operations report waiting for.
#[derive(Default)]
struct WaitingLog(Mutex<Vec<(String, OpKind, String)>>);

impl Observer for WaitingLog {
    fn event(&self, event: Event) {
        if let Event::Waiting { urn, kind, status } = event {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((urn.name().to_string(), kind, status));
        }
    }
}

#[tokio::test]
async fn a_running_operation_reports_what_it_waits_for() {
    let w = World::new();
    // `web` is slow (its provider reports why), `queue` is throttled once (the engine
    // reports the retry).
    w.cloud
        .delay_when(|call| (call.op == Op::Create && call.urn.name() == "web").then_some(Duration::from_millis(20)));
    let throttled = Arc::new(AtomicBool::new(false));
    let once = throttled.clone();
    w.cloud.fail_when(move |call| {
        (call.op == Op::Create && call.urn.name() == "queue" && !once.swap(true, Ordering::SeqCst))
            .then(|| ProviderError::new(ErrorKind::Throttled, "Rate exceeded"))
    });
    let program = chain();
    let plan = w.plan(&program);
    let log = Arc::new(WaitingLog::default());
    let (_never, cancel) = watch::channel(false);
    let report = w.apply_with(&plan, 4, log.clone(), cancel).await;
    assert!(report.is_success(), "{:#?}", report.failures());
    let log = log.0.lock().unwrap();
    assert!(
        log.iter()
            .any(|(name, kind, status)| name == "web" && *kind == OpKind::Create && status.contains("held for 20 ms")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|(name, kind, status)| name == "queue"
            && *kind == OpKind::Create
            && status.contains("retrying in")
            && status.contains("Rate exceeded")),
        "{log:?}"
    );
    assert_eq!(log.len(), 2, "nothing else waited: {log:?}");
}

// ---------------------------------------------------------------------------------------
// Objects that never become ready, refused replacements, plan notes
// ---------------------------------------------------------------------------------------

/// A create whose object exists but never became ready (an RDS instance ending
/// `failed`, a load balancer stuck, an Auto Scaling group below capacity) is neither
/// recorded clean nor forgotten: the step fails, nothing built on it starts, the object
/// is recorded tainted, and the next plan replaces it.
#[tokio::test]
async fn an_object_that_never_becomes_ready_is_recorded_tainted_and_replaced_next_run() {
    let w = World::new();
    let fail_once = Arc::new(AtomicBool::new(true));
    let armed = fail_once.clone();
    w.cloud.create_partially_when(move |call| {
        (call.op == Op::Create && call.urn.name() == "subnet" && armed.swap(false, Ordering::SeqCst)).then(|| {
            (
                Vec::new(),
                ProviderError::new(ErrorKind::Other, "subnet did not become available: failed").created("?"),
            )
        })
    });
    let program = chain();
    let (_, report) = w.up(&program).await;
    assert!(!report.is_success(), "the create whose wait failed fails the run");
    let failures = report.failures();
    assert_eq!(failures.len(), 1, "only the root cause fails: {failures:#?}");
    assert!(
        format!("{:?}", failures[0].outcome).contains("tainted"),
        "{:?}",
        failures[0].outcome
    );
    // Nothing built on it started: the instance in the subnet was skipped.
    assert!(!w.cloud.mutations().contains(&(Op::Create, "web".to_string())));
    let subnet = w.record("subnet");
    assert!(subnet.tainted.is_some(), "recorded, tainted: {subnet:?}");
    assert!(w.journal_is_empty(), "the outcome is known: no journal entry left");
    assert_eq!(w.objects_per_name().get("subnet"), Some(&1), "one object, not two");

    // The next plan replaces it although no input changed, and says why.
    let plan = w.plan(&program);
    let step = step(&plan, "subnet");
    assert!(step.action.is_replace(), "{:?}", step.action);
    assert!(step.notes.iter().any(|n| n.contains("tainted")), "{:?}", step.notes);
    w.up_ok(&program).await;
    let subnet_after = w.record("subnet");
    assert!(subnet_after.tainted.is_none());
    assert_ne!(subnet_after.id, subnet.id, "a new object replaced the tainted one");
    assert_eq!(
        w.objects_per_name().get("subnet"),
        Some(&1),
        "the tainted one was deleted"
    );
    assert!(!w.plan(&program).has_changes(), "converged");
}

/// A provider may refuse a change at plan time (a database replaced under its own
/// identifier would be deleted first): the plan fails naming the resource and the key,
/// before anything is touched. Its notes (when a change takes effect) reach the plan.
#[test]
fn a_change_a_provider_refuses_fails_the_plan_and_notes_reach_the_steps() {
    use stackup_provider::{DiffRequest, DiffResponse};
    struct Picky(FakeProvider);
    #[async_trait::async_trait]
    impl stackup_provider::Provider for Picky {
        fn schema(&self) -> &stackup_provider::Schema {
            self.0.schema()
        }
        fn diff(&self, req: DiffRequest<'_>) -> DiffResponse {
            let mut d = self.0.diff(req);
            if d.changed.iter().any(|k| k == "name") {
                d.refuse = Some(("name".into(), "would delete the data first".into()));
            }
            if d.changed.iter().any(|k| k == "size") {
                d.notes.push("size takes effect in the maintenance window".into());
            }
            d
        }
        async fn create(
            &self,
            req: stackup_provider::CreateRequest,
        ) -> Result<stackup_provider::CreateResponse, ProviderError> {
            self.0.create(req).await
        }
        async fn read(
            &self,
            req: stackup_provider::ReadRequest,
        ) -> Result<stackup_provider::ReadResponse, ProviderError> {
            self.0.read(req).await
        }
        async fn update(
            &self,
            req: stackup_provider::UpdateRequest,
        ) -> Result<stackup_provider::UpdateResponse, ProviderError> {
            self.0.update(req).await
        }
        async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
            self.0.delete(req).await
        }
    }
    let mut w = World::new();
    let mut registry = Registry::new();
    registry.register(Arc::new(Picky(
        FakeProvider::new(w.cloud.clone(), NAMED, &["name"]).delete_before_replace(),
    )));
    w.registry = registry;
    let current = vec![ResourceRecord {
        urn: urn(NAMED, "db"),
        ty: TypeToken::parse(NAMED).expect("type"),
        id: "db-1".into(),
        inputs: [("name".to_string(), s("orders")), ("size".to_string(), s("small"))]
            .into_iter()
            .collect(),
        outputs: Default::default(),
        dependencies: Vec::new(),
        tainted: None,
    }];
    let resized = vec![goal(NAMED, "db", &[("name", s("orders")), ("size", s("large"))])];
    let resize = w.plan_on(&resized, &current);
    let resize_step = step(&resize, "db");
    assert_eq!(resize_step.action, Action::Update);
    assert_eq!(
        resize_step.notes,
        vec!["size takes effect in the maintenance window".to_string()]
    );

    let renamed = vec![goal(NAMED, "db", &[("name", s("orders-v2")), ("size", s("small"))])];
    let graph = DependencyGraph::from_goals(&renamed).expect("graph");
    let refused = plan(PlanRequest {
        stack: STACK,
        goals: &renamed,
        graph: &graph,
        current: &current,
        retired: &[],
        registry: &w.registry,
        targets: &[],
    })
    .expect_err("the provider refuses the change");
    let text = refused.to_string();
    assert!(
        text.contains("db") && text.contains("'name'") && text.contains("would delete the data first"),
        "{text}"
    );
}
