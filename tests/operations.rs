//! The engine's operations called in-process, as a library user calls them: the
//! records-only operations (`state_*`, `import`, `unlock`), `list_stacks`, `reap` and
//! `sweep`, against the fake provider and real sled stores in a temporary directory.
//! No binary and no network: what the command line adds (rendering, exit codes) is
//! tested through the binary in `state.rs` and `teardown.rs`.

use std::path::Path;
use std::sync::Arc;

use stackup_engine::{
    Actor, Cancel, DestroyOptions, EngineError, Quiet, ReapOptions, ReapOutcome, ReapWith, Resolver, RunOptions, Stack,
    StackInfo, SweepOptions, Unlocked, UpOptions,
};
use stackup_model::{Program, Reference, ResourceGoal, TypeToken, Urn, Value};
use stackup_provider::fake::{FakeCloud, FakeProvider};
use stackup_provider::{BoxFuture, Registry};
use stackup_state::{now_unix, SledStore, StateStore};

const NETWORK: &str = "test:fake:Network";
const SUBNET: &str = "test:fake:Subnet";

fn registry(cloud: &Arc<FakeCloud>) -> Registry {
    let mut registry = Registry::new();
    registry.register(Arc::new(FakeProvider::new(cloud.clone(), NETWORK, &["cidr"])));
    registry.register(Arc::new(FakeProvider::new(cloud.clone(), SUBNET, &["network_id"])));
    registry
}

fn urn(stack: &str, ty: &'static str, name: &str) -> Urn {
    Urn::new(stack, &TypeToken::from_static(ty), name)
}

/// A network and a subnet in it.
fn program(stack: &str) -> Program {
    let net = urn(stack, NETWORK, "net");
    let goal = |ty: &'static str, name: &str, inputs: Vec<(&str, Value)>| ResourceGoal {
        urn: urn(stack, ty, name),
        ty: TypeToken::from_static(ty),
        inputs: inputs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        depends_on: Vec::new(),
    };
    Program {
        goals: vec![
            goal(NETWORK, "net", vec![("cidr", Value::String("10.0.0.0/16".into()))]),
            goal(
                SUBNET,
                "subnet",
                vec![(
                    "network_id",
                    Value::Ref(Box::new(Reference {
                        urn: net,
                        output: "id".into(),
                    })),
                )],
            ),
        ],
        ..Program::default()
    }
}

fn run() -> RunOptions {
    RunOptions {
        parallel: 4,
        actor: actor(),
    }
}

fn actor() -> Actor {
    Actor {
        user: "tests".into(),
        host: stackup_state::hostname(),
    }
}

fn open(dir: &Path, stack: &str, cloud: &Arc<FakeCloud>) -> Stack {
    let store = Arc::new(SledStore::open(dir, stack, "test").expect("the store opens"));
    Stack::open(stack, program(stack), store, registry(cloud)).expect("the program is valid")
}

/// `up` with no refresh; the stack's store is closed when it returns.
async fn up(dir: &Path, stack: &str, cloud: &Arc<FakeCloud>, ttl: Option<u64>) {
    let s = open(dir, stack, cloud);
    let opts = UpOptions {
        run: run(),
        targets: Vec::new(),
        refresh: false,
    };
    let report = stackup_engine::up(&s, &opts, &Quiet, &Cancel::new())
        .await
        .expect("up runs");
    assert!(report.is_success(), "{:?}", report.applied);
    stackup_engine::record_stack_meta(s.store.as_ref(), "local", &format!("{stack}.toml"), ttl, now_unix())
        .expect("metadata is recorded");
}

fn objects_of(cloud: &FakeCloud, stack: &str) -> usize {
    cloud.objects().values().filter(|o| o.urn.stack() == stack).count()
}

#[tokio::test]
async fn forgetting_a_resource_with_dependents_needs_force_and_a_rollback_restores_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cloud = FakeCloud::new();
    up(dir.path(), "ops", &cloud, None).await;
    let store = SledStore::open(dir.path(), "ops", "state rm").expect("store");
    let net = urn("ops", NETWORK, "net");

    let listed = stackup_engine::state_list(&store).expect("list");
    assert_eq!(listed.len(), 2);
    let shown = stackup_engine::state_show(&store, "ops", net.as_str()).expect("show");
    assert!(
        cloud.objects().contains_key(&shown.id),
        "the record names the live object: {shown:?}"
    );

    let refused = stackup_engine::state_rm(&store, "ops", net.as_str(), false, &actor()).expect_err("refused");
    assert!(
        matches!(&refused, EngineError::Request(why) if why.contains("depend on it") && why.contains("subnet")),
        "{refused}"
    );
    assert_eq!(store.records().expect("records").len(), 2, "nothing was forgotten");

    let forgotten = stackup_engine::state_rm(&store, "ops", net.as_str(), true, &actor()).expect("forced");
    assert_eq!(forgotten.dependents, vec![urn("ops", SUBNET, "subnet")]);
    assert_eq!(store.records().expect("records").len(), 1);
    assert_eq!(objects_of(&cloud, "ops"), 2, "the cloud is not touched");

    let history = stackup_engine::state_history(&store).expect("history");
    let up_run = history.iter().find(|h| h.command == "up").expect("the up run");
    let rm_run = history.last().expect("the rm run");
    assert!(
        rm_run.records_only() && rm_run.command == format!("state rm {net}"),
        "{rm_run:?}"
    );
    assert_eq!(rm_run.user, "tests");

    let rolled = stackup_engine::state_rollback(&store, "ops", up_run.seq, &actor()).expect("rollback");
    assert_eq!(rolled.replaced.records, 2);
    assert_eq!(rolled.replaced.changes, vec![format!("recorded {net}")]);
    assert_eq!(store.records().expect("records").len(), 2);
    let missing = stackup_engine::state_rollback(&store, "ops", 99, &actor()).expect_err("no entry 99");
    assert!(missing.to_string().contains("no history entry 99"), "{missing}");
}

#[tokio::test]
async fn an_export_imported_again_replaces_the_records_in_one_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cloud = FakeCloud::new();
    up(dir.path(), "exp", &cloud, None).await;
    let store = SledStore::open(dir.path(), "exp", "state export").expect("store");
    let doc = stackup_engine::state_export(&store, "exp").expect("export");
    assert_eq!(doc.records.len(), 2);
    let subnet = urn("exp", SUBNET, "subnet");
    stackup_engine::state_rm(&store, "exp", subnet.as_str(), false, &actor()).expect("leaf forgotten");

    let replaced = stackup_engine::state_import(&store, &doc, "backup.json", &actor()).expect("import");
    assert_eq!((replaced.records, replaced.retired), (2, 0));
    assert_eq!(replaced.changes, vec![format!("recorded {subnet}")]);
    assert_eq!(stackup_engine::records_sorted(&store).expect("records"), doc.records);
    let last = stackup_engine::state_history(&store)
        .expect("history")
        .pop()
        .expect("entry");
    assert_eq!(last.command, "state import backup.json");
}

#[tokio::test]
async fn import_adopts_a_live_object_once_and_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cloud = FakeCloud::new();
    up(dir.path(), "adopt", &cloud, None).await;
    let s = open(dir.path(), "adopt", &cloud);
    let subnet = urn("adopt", SUBNET, "subnet");
    let id = s.store.get(&subnet).expect("get").expect("recorded").id;
    s.store.remove(&subnet).expect("forget");

    let adopted = stackup_engine::import(&s, SUBNET, "subnet", &id, &actor())
        .await
        .expect("adopted");
    assert_eq!(
        (adopted.urn.clone(), adopted.id.clone(), adopted.declared),
        (subnet.clone(), id.clone(), true)
    );
    let record = s.store.get(&subnet).expect("get").expect("recorded again");
    assert!(
        record.inputs.contains_key("network_id"),
        "what is live is recorded: {record:?}"
    );

    let twice = stackup_engine::import(&s, SUBNET, "other", &id, &actor())
        .await
        .expect_err("one object, one name");
    assert!(twice.to_string().contains("already recorded"), "{twice}");
    let unknown = stackup_engine::import(&s, "test:fake:Nope", "x", "id-1", &actor())
        .await
        .expect_err("unknown type");
    assert!(unknown.to_string().contains("unknown resource type"), "{unknown}");
    let gone = stackup_engine::import(&s, NETWORK, "old", "fake-404", &actor())
        .await
        .expect_err("no such object");
    assert!(gone.to_string().contains("nothing was recorded"), "{gone}");
    let bad_name = stackup_engine::import(&s, NETWORK, "a::b", "x", &actor())
        .await
        .expect_err("bad name");
    assert!(bad_name.to_string().contains("cannot be part of a URN"), "{bad_name}");
}

#[tokio::test]
async fn unlock_leaves_a_live_run_alone_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let absent = stackup_engine::unlock(dir.path(), "nobody", false, &actor()).expect("nothing to do");
    assert!(matches!(absent, Unlocked::Absent { .. }), "{absent:?}");

    // This process holds the stack's lock, as a run in progress would.
    let store = SledStore::open(dir.path(), "held", "up").expect("store");
    let refused = stackup_engine::unlock(dir.path(), "held", false, &actor()).expect_err("a live holder");
    assert!(refused.to_string().contains("that process is alive"), "{refused}");
    assert!(dir.path().join("held").join("lock").exists(), "the lock file stays");
    let forced = stackup_engine::unlock(dir.path(), "held", true, &actor()).expect("forced");
    assert!(matches!(forced, Unlocked::Forced { .. }), "{forced:?}");
    assert!(!dir.path().join("held").join("lock").exists());
    drop(store);
}

/// The test's resolver: stacks named in `with_file` open from their "file" (the
/// program above); the others are swept.
struct TestResolver {
    dir: std::path::PathBuf,
    cloud: Arc<FakeCloud>,
    with_file: Vec<&'static str>,
}

impl Resolver for TestResolver {
    fn stack_file(&self, stack: &StackInfo) -> Option<String> {
        self.with_file
            .contains(&stack.stack.as_str())
            .then(|| format!("{}.toml", stack.stack))
    }

    fn open<'a>(&'a self, file: &'a str, _command: &'a str) -> BoxFuture<'a, Result<Stack, String>> {
        let stack = file.trim_end_matches(".toml").to_string();
        Box::pin(async move { Ok(open(&self.dir, &stack, &self.cloud)) })
    }

    fn providers<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Registry> {
        assert_eq!(region, "local", "the region the state recorded");
        Box::pin(async move { registry(&self.cloud) })
    }

    fn sweep_rank(&self, ty: &TypeToken) -> u8 {
        // Subnets before networks.
        u8::from(ty.as_str() == NETWORK)
    }
}

#[tokio::test]
async fn reap_destroys_only_expired_stacks_with_their_program_or_by_a_sweep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cloud = FakeCloud::new();
    up(dir.path(), "demo-a", &cloud, Some(1)).await;
    up(dir.path(), "demo-b", &cloud, Some(1)).await;
    up(dir.path(), "keep", &cloud, Some(86_400)).await;
    let later = now_unix() + 5;

    let listed = stackup_engine::list_stacks(dir.path(), later);
    let names: Vec<&str> = listed.iter().map(|s| s.stack.as_str()).collect();
    assert_eq!(names, ["demo-a", "demo-b", "keep"]);
    assert!(
        listed[0].expired && listed[1].expired && !listed[2].expired,
        "{listed:?}"
    );
    assert_eq!(listed[0].resources, 2);
    assert_eq!(listed[0].region.as_deref(), Some("local"));

    let resolver = TestResolver {
        dir: dir.path().to_path_buf(),
        cloud: cloud.clone(),
        with_file: vec!["demo-a"],
    };
    let opts = |delete| ReapOptions {
        run: run(),
        delete,
        now: later,
        default_region: None,
        stack: None,
    };
    let dry = stackup_engine::reap(dir.path(), &opts(false), &resolver, &Quiet, &Cancel::new())
        .await
        .expect("dry run");
    assert!(dry.dry_run && dry.is_success());
    assert_eq!(dry.expired.len(), 2);
    assert!(matches!(&dry.expired[0].plan, ReapWith::StackFile { file } if file == "demo-a.toml"));
    assert!(matches!(&dry.expired[1].plan, ReapWith::Sweep { region } if region.as_deref() == Some("local")));
    assert!(dry.expired.iter().all(|i| i.outcome.is_none()));
    assert_eq!(cloud.objects().len(), 6, "a dry run deletes nothing");

    let reaped = stackup_engine::reap(dir.path(), &opts(true), &resolver, &Quiet, &Cancel::new())
        .await
        .expect("reap");
    assert!(reaped.is_success(), "{reaped:?}");
    assert_eq!(reaped.reaped(), 2);
    assert!(reaped
        .expired
        .iter()
        .all(|i| matches!(i.outcome, Some(ReapOutcome::Reaped))));
    assert_eq!(objects_of(&cloud, "demo-a"), 0);
    assert_eq!(objects_of(&cloud, "demo-b"), 0);
    assert_eq!(objects_of(&cloud, "keep"), 2, "not expired: kept");

    let after = stackup_engine::list_stacks(dir.path(), later);
    for s in &after[..2] {
        assert_eq!((s.resources, s.expires_at), (0, None), "{s:?}");
    }
    assert!(after[2].expires_at.is_some());
    let serialized = serde_json::to_value(&reaped).expect("the report serializes");
    assert_eq!(serialized["expired"][0]["outcome"]["status"], "reaped", "{serialized}");
    assert_eq!(serialized["expired"][1]["plan"]["with"], "sweep", "{serialized}");
}

#[tokio::test]
async fn a_sweep_lists_in_waves_deletes_nothing_in_a_dry_run_and_everything_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cloud = FakeCloud::new();
    up(dir.path(), "lost", &cloud, None).await;
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path(), "lost", "sweep").expect("store"));
    let registry = registry(&cloud);
    let rank = |ty: &TypeToken| u8::from(ty.as_str() == NETWORK);
    let opts = |delete| SweepOptions {
        run: run(),
        delete,
        delete_overrides: Vec::new(),
    };

    let dry = stackup_engine::sweep("lost", &store, &registry, &opts(false), &rank, &Quiet, &Cancel::new())
        .await
        .expect("dry run");
    let waves: Vec<(usize, &str)> = dry.objects.iter().map(|o| (o.wave, o.ty.as_str())).collect();
    assert_eq!(waves, [(1, SUBNET), (2, NETWORK)]);
    assert!(dry.blocked.is_empty() && dry.applied.is_none() && dry.remaining.is_none());
    assert_eq!(objects_of(&cloud, "lost"), 2);

    let swept = stackup_engine::sweep("lost", &store, &registry, &opts(true), &rank, &Quiet, &Cancel::new())
        .await
        .expect("sweep");
    assert!(swept.is_success(), "{swept:?}");
    assert_eq!(objects_of(&cloud, "lost"), 0);
    assert!(store.records().expect("records").is_empty());
    let last = store.history().expect("history").pop().expect("entry");
    assert_eq!((last.command.as_str(), last.deleted), ("destroy --sweep", 2));
}

#[tokio::test]
async fn a_whole_destroy_clears_the_expiry_and_a_partial_one_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cloud = FakeCloud::new();
    up(dir.path(), "ttl", &cloud, Some(3_600)).await;
    let s = open(dir.path(), "ttl", &cloud);
    let destroy = |targets: Vec<Urn>| DestroyOptions {
        run: run(),
        targets,
        excludes: Vec::new(),
        refresh: false,
        delete_overrides: Vec::new(),
    };
    let subnet = urn("ttl", SUBNET, "subnet");
    stackup_engine::destroy(&s, &destroy(vec![subnet]), &Quiet, &Cancel::new())
        .await
        .expect("targeted destroy");
    assert!(s.store.meta(stackup_engine::EXPIRES_AT).expect("meta").is_some());
    stackup_engine::destroy(&s, &destroy(Vec::new()), &Quiet, &Cancel::new())
        .await
        .expect("destroy");
    assert_eq!(s.store.meta(stackup_engine::EXPIRES_AT).expect("meta"), None);
    assert_eq!(objects_of(&cloud, "ttl"), 0);
}
