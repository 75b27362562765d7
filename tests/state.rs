//! State operations, the stack lock and damaged stores, through the real binary: the
//! `state` subcommands, `import`, `unlock`, a lock held by a live or a killed process, a
//! store whose files were overwritten, and a run that fails half way and is resumed.
//! Every test uses a stack name of its own (tests share one moto server).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::support::{block_on, dev_stack, Moto, NetworkStack, Project, Run};

/// A project with a network-tier stack file named `stack`.
fn network_project(stack: &str, network: &NetworkStack) -> Project {
    let project = Project::new(&Moto::shared().endpoint);
    project.write_stack(stack, &network.toml());
    project
}

/// `state list --json` as (urn, dependencies).
fn recorded(project: &Project, stack: &str) -> BTreeMap<String, Vec<String>> {
    let run = project
        .stackup(&["state", "list", "--json", "--stack", stack])
        .expect_code(0);
    run.json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            let deps = r["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| d.as_str().expect("urn").to_string())
                .collect();
            (r["urn"].as_str().expect("urn").to_string(), deps)
        })
        .collect()
}

/// The URN of the recorded resource whose name part is `name`.
fn urn_named(records: &BTreeMap<String, Vec<String>>, name: &str) -> String {
    records
        .keys()
        .find(|u| u.ends_with(&format!("::{name}")))
        .unwrap_or_else(|| panic!("no recorded resource named {name}: {records:#?}"))
        .clone()
}

/// A recorded resource nothing else depends on.
fn leaf(records: &BTreeMap<String, Vec<String>>) -> String {
    records
        .keys()
        .find(|u| !records.values().any(|deps| deps.contains(u)))
        .expect("some resource has no dependents")
        .clone()
}

#[track_caller]
fn assert_one_paragraph_error(run: &Run) {
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert_eq!(
        run.stderr.trim_end().lines().count(),
        1,
        "one paragraph: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "no panic: {}", run.stderr);
    assert!(!run.stderr.contains("RUST_BACKTRACE"), "no backtrace: {}", run.stderr);
}

#[test]
fn state_list_show_and_rm_refusing_dependents() {
    const STACK: &str = "st-rm";
    let project = network_project(STACK, &NetworkStack::default());
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    let records = recorded(&project, STACK);
    assert!(records.len() > 10, "{records:#?}");

    let list = project.stackup(&["state", "list", "--stack", STACK]).expect_code(0);
    assert!(
        list.stdout
            .contains(&format!("{} resource(s) in stack {STACK}", records.len())),
        "{}",
        list.stdout
    );

    let vpc = urn_named(&records, "vpc");
    let show = project
        .stackup(&["state", "show", &vpc, "--stack", STACK])
        .expect_code(0);
    assert!(show.stdout.contains("type: aws:ec2:Vpc"), "{}", show.stdout);
    assert!(show.stdout.contains("cidr_block: \"10.30.0.0/16\""), "{}", show.stdout);
    let shown = project
        .stackup(&["state", "show", &vpc, "--json", "--stack", STACK])
        .expect_code(0)
        .json();
    assert!(shown["id"].as_str().is_some_and(|id| id.starts_with("vpc-")), "{shown}");
    let missing = project
        .stackup(&[
            "state",
            "show",
            &format!("{STACK}::aws:ec2:Vpc::nope"),
            "--stack",
            STACK,
        ])
        .expect_code(1);
    assert!(missing.stderr.contains("no recorded resource"), "{}", missing.stderr);

    // The VPC has dependents: forgetting it alone is refused, naming them.
    let refused = project.stackup(&["state", "rm", &vpc, "--stack", STACK]).expect_code(1);
    assert_one_paragraph_error(&refused);
    assert!(refused.stderr.contains("depend on it"), "{}", refused.stderr);
    let dependent = records
        .iter()
        .find(|(_, deps)| deps.contains(&vpc))
        .map(|(u, _)| u.clone())
        .expect("a dependent of the VPC");
    assert!(refused.stderr.contains(&dependent), "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(recorded(&project, STACK).len(), records.len(), "nothing forgotten");

    // A resource nothing depends on is forgotten; AWS keeps it, so `diff` finds it by its
    // URN tag and plans to adopt it again, never to create a second one.
    let leaf = leaf(&records);
    let rm = project
        .stackup(&["state", "rm", &leaf, "--stack", STACK])
        .expect_code(0);
    assert!(rm.stdout.contains(&format!("Forgot {leaf}")), "{}", rm.stdout);
    assert!(rm.stdout.contains("AWS was not touched"), "{}", rm.stdout);
    assert!(rm.stdout.contains("adopts the object again"), "{}", rm.stdout);
    let after = recorded(&project, STACK);
    assert_eq!(after.len(), records.len() - 1);
    assert!(!after.contains_key(&leaf));
    let diff = project.stackup(&["diff", "--json", "--stack", STACK]).expect_code(2);
    let plan = diff.json();
    let adopted: Vec<&str> = plan["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s["adopted"] == true && s["action"] != "create")
                .filter_map(|s| s["urn"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(plan["counts"]["create"], 0, "never a duplicate: {}", diff.stdout);
    assert!(
        adopted.contains(&leaf.as_str()),
        "diff should plan to adopt {leaf} again: {}",
        diff.stdout
    );

    // --force forgets even a resource with dependents.
    project
        .stackup(&["state", "rm", &vpc, "--force", "--stack", STACK])
        .expect_code(0);
    assert!(!recorded(&project, STACK).contains_key(&vpc));
}

#[test]
fn export_rm_import_round_trip_restores_a_clean_diff() {
    const STACK: &str = "st-export";
    let project = network_project(
        STACK,
        &NetworkStack {
            vpc_cidr: "10.31.0.0/16".into(),
            public: ["10.31.0.0/24".into(), "10.31.1.0/24".into()],
            private: ["10.31.10.0/24".into(), "10.31.11.0/24".into()],
            ..NetworkStack::default()
        },
    );
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    project.stackup(&["diff", "--stack", STACK]).expect_code(0);
    let records = recorded(&project, STACK);

    // To standard output: one JSON document with every record.
    let doc = project
        .stackup(&["state", "export", "--stack", STACK])
        .expect_code(0)
        .json();
    assert_eq!(doc["format"], "stackup-state");
    assert_eq!(doc["stack"], STACK);
    assert_eq!(doc["records"].as_array().expect("records").len(), records.len());
    assert!(doc["retired"].is_array(), "{doc}");

    let file = project.path().join("export.json");
    let export = project
        .stackup(&["state", "export", "--output", "export.json", "--stack", STACK])
        .expect_code(0);
    assert!(export.stdout.contains("export.json"), "{}", export.stdout);
    let written: Json = serde_json::from_str(&std::fs::read_to_string(&file).expect("export file")).expect("JSON");
    assert_eq!(written["records"], doc["records"]);

    // Forget three resources: diff is no longer clean.
    let mut forgotten = Vec::new();
    let mut left = records.clone();
    for _ in 0..3 {
        let l = leaf(&left);
        left.remove(&l);
        project.stackup(&["state", "rm", &l, "--stack", STACK]).expect_code(0);
        forgotten.push(l);
    }
    project.stackup(&["diff", "--stack", STACK]).expect_code(2);

    // Invalid documents are refused whole, naming the file and the JSON path, and change
    // nothing.
    let mut foreign = written.clone();
    foreign["records"][1]["urn"] = Json::String(written["records"][1]["urn"].as_str().expect("urn").replacen(
        STACK,
        "someone-else",
        1,
    ));
    std::fs::write(project.path().join("foreign.json"), foreign.to_string()).expect("write");
    let refused = project
        .stackup(&["state", "import", "foreign.json", "--stack", STACK])
        .expect_code(1);
    assert_one_paragraph_error(&refused);
    assert!(refused.stderr.contains("foreign.json"), "{}", refused.stderr);
    assert!(refused.stderr.contains("records[1].urn"), "{}", refused.stderr);
    assert!(refused.stderr.contains("someone-else"), "{}", refused.stderr);

    let mut mistyped = written.clone();
    mistyped["records"][2]["dependencies"] = Json::String("not a list".into());
    std::fs::write(project.path().join("mistyped.json"), mistyped.to_string()).expect("write");
    let refused = project
        .stackup(&["state", "import", "mistyped.json", "--stack", STACK])
        .expect_code(1);
    assert_one_paragraph_error(&refused);
    assert!(refused.stderr.contains("mistyped.json"), "{}", refused.stderr);
    assert!(refused.stderr.contains("records[2].dependencies"), "{}", refused.stderr);

    std::fs::write(project.path().join("broken.json"), "{\"format\": \"stackup-state\",").expect("write");
    let refused = project
        .stackup(&["state", "import", "broken.json", "--stack", STACK])
        .expect_code(1);
    assert_one_paragraph_error(&refused);
    assert!(refused.stderr.contains("broken.json"), "{}", refused.stderr);
    assert_eq!(
        recorded(&project, STACK).len(),
        records.len() - 3,
        "refused imports change nothing"
    );

    // The export brings everything back, and AWS matches again.
    let import = project
        .stackup(&["state", "import", "export.json", "--stack", STACK])
        .expect_code(0);
    assert!(import.stdout.contains("stackup diff"), "{}", import.stdout);
    assert_eq!(recorded(&project, STACK), records);
    project.stackup(&["diff", "--stack", STACK]).expect_code(0);
}

#[test]
fn history_lists_runs_and_rollback_restores_a_snapshot() {
    const STACK: &str = "st-history";
    let mut network = NetworkStack {
        vpc_cidr: "10.32.0.0/16".into(),
        public: ["10.32.0.0/24".into(), "10.32.1.0/24".into()],
        private: ["10.32.10.0/24".into(), "10.32.11.0/24".into()],
        ..NetworkStack::default()
    };
    let project = network_project(STACK, &network);
    let empty = project.stackup(&["state", "history", "--stack", STACK]).expect_code(0);
    assert!(empty.stdout.contains("Nothing recorded"), "{}", empty.stdout);
    assert!(!project.state_dir().join(STACK).exists(), "looking created no state");

    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    network.tags.push(("Owner".into(), "platform-team".into()));
    project.write_stack(STACK, &network.toml());
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    project.stackup(&["diff", "--stack", STACK]).expect_code(0);

    let history = project
        .stackup(&["state", "history", "--json", "--stack", STACK])
        .expect_code(0)
        .json();
    let entries = history.as_array().expect("a list");
    assert_eq!(entries.len(), 2, "{history:#}");
    let vpc_line = |verb: &str| format!("{verb} {STACK}::aws:ec2:Vpc::vpc");
    for (i, (seq, verb)) in [(1, "created"), (2, "updated")].into_iter().enumerate() {
        let e = &entries[i];
        assert_eq!(e["seq"], seq);
        assert_eq!(e["command"], "up");
        assert_eq!(e["failed"], 0);
        assert!(e["host"].as_str().is_some_and(|h| !h.is_empty()), "{e}");
        assert!(e["user"].is_string(), "{e}");
        assert!(e["when"].as_str().is_some_and(|w| w.ends_with("UTC")), "{e}");
        let changes: Vec<&str> = e["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert!(changes.contains(&vpc_line(verb).as_str()), "{changes:#?}");
    }
    assert!(entries[0]["created"].as_u64().is_some_and(|n| n > 10), "{}", entries[0]);
    assert!(entries[1]["updated"].as_u64().is_some_and(|n| n > 0), "{}", entries[1]);

    let text = project.stackup(&["state", "history", "--stack", STACK]).expect_code(0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("#1 ") && l.contains(" up: ")),
        "{}",
        text.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("#2 ") && l.contains(" up: ") && l.contains("0 created")),
        "{}",
        text.stdout
    );
    assert!(lines.iter().any(|l| l.trim() == vpc_line("updated")), "{}", text.stdout);

    let missing = project
        .stackup(&["state", "rollback", "--to", "9", "--stack", STACK])
        .expect_code(1);
    assert!(missing.stderr.contains("no history entry 9"), "{}", missing.stderr);

    // Back to the records of run 1: the tags recorded then lack Owner; AWS has it.
    let rollback = project
        .stackup(&["state", "rollback", "--to", "1", "--stack", STACK])
        .expect_code(0);
    assert!(rollback.stdout.contains("stackup diff"), "{}", rollback.stdout);
    assert!(rollback.stdout.contains("AWS was not touched"), "{}", rollback.stdout);
    let diff = project.stackup(&["diff", "--json", "--stack", STACK]).expect_code(2);
    let report = diff.json();
    let drift = report["drift"].as_array().expect("drift");
    let vpc_drift = drift
        .iter()
        .find(|d| d["urn"] == format!("{STACK}::aws:ec2:Vpc::vpc"))
        .unwrap_or_else(|| panic!("the VPC's tags differ from the restored record: {report:#}"));
    assert!(vpc_drift.to_string().contains("platform-team"), "{vpc_drift}");

    let history = project
        .stackup(&["state", "history", "--json", "--stack", STACK])
        .expect_code(0)
        .json();
    let last = history.as_array().and_then(|h| h.last()).expect("an entry");
    assert_eq!(last["seq"], 3);
    assert_eq!(last["command"], "state rollback --to 1");
    assert!(
        last["changes"]
            .as_array()
            .is_some_and(|c| c.contains(&Json::String(format!("rewrote {STACK}::aws:ec2:Vpc::vpc")))),
        "{last}"
    );
}

#[test]
fn import_adopts_a_vpc_created_with_the_sdk() {
    const STACK: &str = "st-import";
    let moto = Moto::shared();
    let project = network_project(STACK, &NetworkStack::default());
    let ec2 = moto.ec2();
    let vpc_id = block_on(async {
        ec2.create_vpc()
            .cidr_block("10.77.0.0/16")
            .send()
            .await
            .expect("create VPC")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("VPC id")
            .to_string()
    });

    let run = project
        .stackup(&["import", "aws:ec2:Vpc", "legacy", &vpc_id, "--stack", STACK])
        .expect_code(0);
    let urn = format!("{STACK}::aws:ec2:Vpc::legacy");
    assert!(run.stdout.contains(&urn), "{}", run.stdout);
    assert!(run.stdout.contains("stackup diff"), "{}", run.stdout);
    // The program declares no `legacy`: the user is told what `up` would do with it.
    assert!(run.stdout.contains("would delete it"), "{}", run.stdout);

    let show = project
        .stackup(&["state", "show", &urn, "--json", "--stack", STACK])
        .expect_code(0)
        .json();
    assert_eq!(show["id"], vpc_id.as_str());
    assert_eq!(show["type"], "aws:ec2:Vpc");
    assert_eq!(show["inputs"]["cidr_block"], "10.77.0.0/16");
    assert_eq!(show["dependencies"], serde_json::json!([]));
    let text = project
        .stackup(&["state", "show", &urn, "--stack", STACK])
        .expect_code(0);
    assert!(text.stdout.contains(&vpc_id), "{}", text.stdout);

    let again = project
        .stackup(&["import", "aws:ec2:Vpc", "legacy", &vpc_id, "--stack", STACK])
        .expect_code(1);
    assert_one_paragraph_error(&again);
    assert!(again.stderr.contains("already recorded"), "{}", again.stderr);

    let gone = project
        .stackup(&[
            "import",
            "aws:ec2:Vpc",
            "ghost",
            "vpc-0123456789abcdef0",
            "--stack",
            STACK,
        ])
        .expect_code(1);
    assert_one_paragraph_error(&gone);
    assert!(gone.stderr.contains("vpc-0123456789abcdef0"), "{}", gone.stderr);
    assert!(gone.stderr.contains("nothing was recorded"), "{}", gone.stderr);

    let unknown = project
        .stackup(&["import", "aws:ec2:Teapot", "t", "x-1", "--stack", STACK])
        .expect_code(1);
    assert!(
        unknown.stderr.contains("unknown resource type aws:ec2:Teapot"),
        "{}",
        unknown.stderr
    );
    assert_eq!(recorded(&project, STACK).len(), 1);

    let history = project
        .stackup(&["state", "history", "--json", "--stack", STACK])
        .expect_code(0)
        .json();
    assert_eq!(history[0]["command"], format!("import aws:ec2:Vpc legacy {vpc_id}"));
}

#[test]
fn a_live_lock_holder_is_named_and_unlock_needs_force() {
    const STACK: &str = "st-lock-live";
    let project = network_project(STACK, &NetworkStack::default());
    let holder =
        stackup_state::SledStore::open(&project.state_dir(), STACK, "test-holder").expect("the test takes the lock");

    let run = project.stackup(&["diff", "--stack", STACK]).expect_code(1);
    assert_one_paragraph_error(&run);
    assert!(
        run.stderr.contains(&format!("pid {}", std::process::id())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`test-holder`"), "{}", run.stderr);
    assert!(run.stderr.contains(STACK), "{}", run.stderr);

    let refused = project.stackup(&["unlock", "--stack", STACK]).expect_code(1);
    assert_one_paragraph_error(&refused);
    assert!(
        refused.stderr.contains(&format!("pid {}", std::process::id())),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("`test-holder`"), "{}", refused.stderr);
    assert!(refused.stderr.contains("alive"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    let lock_file = project.state_dir().join(STACK).join("lock");
    assert!(lock_file.exists());

    let forced = project.stackup(&["unlock", "--force", "--stack", STACK]).expect_code(0);
    assert!(forced.stdout.contains("Removed the lock file"), "{}", forced.stdout);
    assert!(!lock_file.exists());
    // The holder still has the database open: a new run is refused, not let in.
    let still = project.stackup(&["state", "list", "--stack", STACK]).expect_code(1);
    assert_one_paragraph_error(&still);
    assert!(
        still.stderr.contains("still open in another process"),
        "{}",
        still.stderr
    );

    drop(holder);
    let tidy = project.stackup(&["unlock", "--stack", STACK]).expect_code(0);
    assert!(tidy.stdout.contains("no run held it"), "{}", tidy.stdout);
    let none = project.stackup(&["unlock", "--stack", STACK]).expect_code(0);
    assert!(none.stdout.contains("nothing to unlock"), "{}", none.stdout);
    project.stackup(&["state", "list", "--stack", STACK]).expect_code(0);
}

/// A loopback "AWS" that answers only STS GetCallerIdentity (the check every command
/// makes before it opens the state) and never answers anything else, so a run that
/// calls it hangs (holding its lock) until killed. `connections` counts the requests
/// left unanswered.
struct SilentEndpoint {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl SilentEndpoint {
    fn start() -> SilentEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || answer_only_who_am_i(stream, &counter));
            }
        });
        SilentEndpoint { url, connections }
    }
}

/// Serves the requests of one connection: GetCallerIdentity is answered; at the first
/// other request the connection is kept open and unanswered for good.
fn answer_only_who_am_i(stream: std::net::TcpStream, unanswered: &AtomicUsize) {
    use std::io::{BufRead, BufReader, Write};
    const WHO: &str = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/test</Arn><UserId>AIDATEST</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if !String::from_utf8_lossy(&body).contains("GetCallerIdentity") {
            unanswered.fetch_add(1, Ordering::SeqCst);
            // Never answered: the client waits until it is killed.
            std::thread::sleep(Duration::from_secs(3600));
            return;
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{WHO}",
            WHO.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Starts `stackup ARGS` in `dir` against `endpoint` without waiting for it.
fn spawn_stackup(dir: &Path, endpoint: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_stackup"))
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("STACKUP_STACK")
        .env_remove("STACKUP_STATE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stackup")
}

#[test]
fn the_lock_of_a_killed_run_is_taken_over() {
    const STACK: &str = "st-lock-dead";
    let project = network_project(STACK, &NetworkStack::default());
    let silent = SilentEndpoint::start();
    let mut child = spawn_stackup(project.path(), &silent.url, &["up", "--yes", "--stack", STACK]);
    let pid = child.id();

    // The run is past its lock once it talks to "AWS".
    let deadline = Instant::now() + Duration::from_secs(60);
    while silent.connections.load(Ordering::SeqCst) == 0 {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("the hanging run exited ({status}) before calling the endpoint: {stderr}");
        }
        assert!(Instant::now() < deadline, "the run never called the endpoint");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lock_text = std::fs::read_to_string(project.state_dir().join(STACK).join("lock")).expect("lock file");
    assert!(lock_text.contains(&format!("\"pid\":{pid}")), "{lock_text}");
    let blocked = project.stackup(&["diff", "--stack", STACK]).expect_code(1);
    assert!(blocked.stderr.contains(&format!("pid {pid}")), "{}", blocked.stderr);
    assert!(blocked.stderr.contains("`up`"), "{}", blocked.stderr);

    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    child.wait().expect("reap the killed run");

    // The kernel released the dead run's lock: the next run just takes it.
    let run = project.stackup(&["diff", "--stack", STACK]).expect_code(2);
    assert!(!run.stderr.contains("locked"), "{}", run.stderr);
    assert!(run.stdout.contains("to create"), "{}", run.stdout);
    let lock_text = std::fs::read_to_string(project.state_dir().join(STACK).join("lock")).expect("lock file");
    assert!(!lock_text.contains(&format!("\"pid\":{pid}")), "{lock_text}");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Bytes that are no sled log (a fixed pattern: the test must not depend on luck).
fn garbage(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7919 % 251) as u8).collect()
}

#[test]
fn a_damaged_store_is_reported_with_the_way_out() {
    const STACK: &str = "st-corrupt";
    let project = network_project(STACK, &NetworkStack::default());
    // A record of a made-up object: state commands never touch AWS.
    let doc = serde_json::json!({
        "format": "stackup-state",
        "version": 1,
        "stack": STACK,
        "exported_at": 0,
        "records": [{
            "urn": format!("{STACK}::aws:ec2:Vpc::vpc"),
            "type": "aws:ec2:Vpc",
            "id": "vpc-0a1b2c3d",
            "inputs": {"cidr_block": "10.30.0.0/16"},
            "outputs": {"id": "vpc-0a1b2c3d"},
            "dependencies": []
        }],
        "retired": []
    });
    std::fs::write(project.path().join("seed.json"), doc.to_string()).expect("write");
    project
        .stackup(&["state", "import", "seed.json", "--stack", STACK])
        .expect_code(0);
    project
        .stackup(&["state", "export", "--output", "good.json", "--stack", STACK])
        .expect_code(0);
    let db = project.state_dir().join(STACK).join("db");
    let pristine = project.path().join("pristine-db");
    copy_dir(&db, &pristine);

    let shown_path = format!("state/{STACK}/db");
    let check = |what: &str| {
        let run = project.stackup(&["state", "list", "--stack", STACK]).expect_code(1);
        assert_one_paragraph_error(&run);
        for fragment in [
            shown_path.as_str(),
            "damaged",
            "Nothing was changed",
            "stackup state import",
            "aside",
        ] {
            assert!(
                run.stderr.contains(fragment),
                "{what}: expected {fragment:?} in: {}",
                run.stderr
            );
        }
        assert!(run.stdout.is_empty(), "{what}: {}", run.stdout);
    };

    // Only the log zeroed: sled itself reads that back as an empty database.
    let log = db.join("db");
    let len = std::fs::metadata(&log).expect("sled log").len() as usize;
    std::fs::write(&log, vec![0u8; len]).expect("overwrite");
    check("log zeroed");

    // Only the log overwritten with a pattern: sled finds corrupted data.
    std::fs::write(&log, garbage(len)).expect("overwrite");
    check("log overwritten");

    // Every file gone: sled would happily start an empty database there.
    for file in files_under(&db) {
        std::fs::remove_file(&file).expect("remove");
    }
    check("files removed");

    // Every file overwritten: sled cannot even open it.
    std::fs::remove_dir_all(&db).expect("remove");
    copy_dir(&pristine, &db);
    for file in files_under(&db) {
        std::fs::write(&file, garbage(4096)).expect("overwrite");
    }
    check("every file overwritten");

    // The way out: move it aside and import the export.
    std::fs::rename(&db, project.state_dir().join(STACK).join("db.damaged")).expect("move aside");
    project
        .stackup(&["state", "import", "good.json", "--stack", STACK])
        .expect_code(0);
    let records = recorded(&project, STACK);
    assert_eq!(
        records.keys().collect::<Vec<_>>(),
        vec![&format!("{STACK}::aws:ec2:Vpc::vpc")]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_failed_resource_skips_only_its_dependents_and_up_resumes() {
    const STACK: &str = "st-resume";
    let moto = Moto::shared();
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config());
    let bucket = format!("stackup-st-resume-{}", std::process::id());
    let project = Project::new(&moto.endpoint);
    project.write_stack(STACK, &dev_stack(&bucket));

    // Someone else's role holds the name the web tier's role needs.
    let role_name = format!("{STACK}-web");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    block_on(async {
        iam.create_role()
            .role_name(&role_name)
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("create the squatting role")
    });

    let run = project
        .stackup(&["up", "--yes", "--json", "--stack", STACK])
        .expect_code(1);
    let summary = run.json();
    let results = summary["results"].as_array().expect("results");
    let role_urn = format!("{STACK}::aws:iam:Role::web-role");
    let by_status = |status: &str| -> BTreeSet<String> {
        results
            .iter()
            .filter(|r| r["status"] == status)
            .map(|r| r["urn"].as_str().expect("urn").to_string())
            .collect()
    };
    let failed = by_status("failed");
    assert_eq!(
        failed,
        BTreeSet::from([role_urn.clone()]),
        "only the role fails: {summary:#}"
    );
    let role_result = results
        .iter()
        .find(|r| r["urn"] == role_urn.as_str())
        .expect("role result");
    let error = role_result["error"].as_str().expect("error text");
    assert!(
        error.contains("EntityAlreadyExists") || error.contains("already exists"),
        "the root cause is reported: {error}"
    );

    let skipped = by_status("skipped");
    for name in ["web-role-policy", "web-profile", "web-lt", "web-asg"] {
        assert!(
            skipped.iter().any(|u| u.ends_with(&format!("::{name}"))),
            "{name} depends on the role and is skipped: {skipped:#?}"
        );
    }
    for r in results.iter().filter(|r| r["status"] == "skipped") {
        assert_eq!(
            r["root_cause"],
            role_urn.as_str(),
            "skipped only because of the role: {r}"
        );
    }
    let done = by_status("done");
    for name in ["vpc", "alb", "web-tg", "db", "sessions", "assets"] {
        assert!(
            done.iter().any(|u| u.ends_with(&format!("::{name}"))),
            "{name} does not depend on the role and is created: {done:#?}"
        );
    }
    assert!(by_status("not_started").is_empty(), "{summary:#}");
    let recorded_now = recorded(&project, STACK);
    assert!(!recorded_now.contains_key(&role_urn));
    assert_eq!(recorded_now.len(), done.len());

    block_on(async {
        iam.delete_role()
            .role_name(&role_name)
            .send()
            .await
            .expect("delete the squatting role")
    });
    let resumed = project
        .stackup(&["up", "--yes", "--json", "--stack", STACK])
        .expect_code(0)
        .json();
    let created: BTreeSet<String> = resumed["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["urn"].as_str().expect("urn").to_string())
        .collect();
    assert!(created.contains(&role_urn), "{resumed:#}");
    assert!(
        created.is_subset(&(&skipped | &failed)),
        "only what was left is done: {created:#?}"
    );
    project.stackup(&["diff", "--stack", STACK]).expect_code(0);
}

/// Lost state never duplicates the stack: with the state directory moved aside, `diff`
/// plans to adopt every live object (found by its `stackup:urn` tag, or, for the
/// untagged attachments, associations and inline policies, by what they join) and to
/// create nothing; `up` records them, each with the physical id it had, creating
/// nothing (counted through the SDK); `diff` is clean after.
#[test]
fn lost_state_is_adopted_from_aws_never_duplicated() {
    let moto = Moto::shared();
    let project = Project::new(&moto.endpoint);
    let stack = "lost";
    project.write_stack(stack, &dev_stack(&format!("stackup-lost-{}", std::process::id())));
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let before = project.ids_by_name(stack);

    std::fs::rename(project.state_dir().join(stack), project.path().join("lost-aside")).expect("move state aside");
    let plan = project
        .stackup(&["diff", "--json", "--stack", stack])
        .expect_code(2)
        .json();
    assert_eq!(plan["counts"]["create"], 0, "nothing is created: {plan}");
    assert_eq!(plan["counts"]["replace"], 0, "{plan}");
    assert_eq!(plan["counts"]["adopt"].as_u64(), Some(before.len() as u64), "{plan}");
    let unmanaged: Vec<&Json> = plan["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .filter(|d| d["kind"] == "unmanaged")
        .collect();
    assert!(
        unmanaged.is_empty(),
        "adopted objects are not reported unmanaged: {unmanaged:?}"
    );
    let human = project.stackup(&["diff", "--stack", stack]).expect_code(2).stdout;
    assert!(
        human
            .lines()
            .any(|l| l.contains("= aws:ec2:Vpc") && l.contains(" vpc ") && l.ends_with("adopt")),
        "{human}"
    );
    let detail = project
        .stackup(&["diff", "--diff", "--stack", stack])
        .expect_code(2)
        .stdout;
    assert!(
        detail.contains(&format!(" = {stack}::aws:ec2:Vpc::vpc  adopt")),
        "{detail}"
    );

    let up = project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    assert!(up.stdout.contains(" 0 created,"), "{}", up.stdout);
    assert_eq!(
        project.ids_by_name(stack),
        before,
        "every resource recorded with the object it had"
    );
    project.stackup(&["diff", "--stack", stack]).expect_code(0);
    crate::support::assert_exact(&project, &moto.endpoint, stack);
    let config = moto.sdk_config();
    block_on(async {
        let groups = aws_sdk_rds::Client::new(&config)
            .describe_db_subnet_groups()
            .send()
            .await
            .expect("subnet groups");
        let ours = groups
            .db_subnet_groups()
            .iter()
            .filter(|g| {
                g.db_subnet_group_name()
                    .is_some_and(|n| n.starts_with(&format!("{stack}-db-")))
            })
            .count();
        assert_eq!(ours, 1, "one database subnet group");
        let mounts = aws_sdk_efs::Client::new(&config)
            .describe_mount_targets()
            .file_system_id(&before["images"])
            .send()
            .await
            .expect("mount targets");
        assert_eq!(mounts.mount_targets().len(), 2, "one mount target per zone");
    });
    project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
}

/// The state commands, `outputs` and the RUNBOOK's backup recipe work from the state
/// alone when the stack file is broken; `destroy` works from the state when the file
/// is gone; read-only commands on a stack never deployed create no state.
#[test]
fn state_commands_outputs_and_destroy_work_without_a_readable_stack_file() {
    let stack = "nofile";
    let network = NetworkStack::in_block(33);
    let project = network_project(stack, &network);
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let outputs = project
        .stackup(&["outputs", "--json", "--stack", stack])
        .expect_code(0)
        .json();
    let vpc = outputs["vpc_id"].clone();
    assert!(vpc.as_str().is_some_and(|v| v.starts_with("vpc-")), "{outputs}");

    // A state directory this user cannot write: the commands that look read a copy.
    let listed = project.stackup_as_reader(&["state", "list", "--stack", stack]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("resource(s) in stack nofile"),
        "{}",
        listed.stdout
    );
    assert!(listed.stderr.contains("reads a copy"), "{}", listed.stderr);
    let looked = project.stackup_as_reader(&["diff", "--stack", stack]);
    assert_eq!(looked.code, 0, "{}\n{}", looked.stdout, looked.stderr);
    let read = project
        .stackup_as_reader(&["outputs", "--json", "--stack", stack])
        .json();
    assert_eq!(read["vpc_id"], vpc, "{read}");

    // Broken: a syntax error in the file.
    project.write_stack(stack, "name = \"nofile\"\nregion = \n");
    let listed = project.stackup(&["state", "list", "--stack", stack]).expect_code(0);
    assert!(
        listed.stdout.contains("resource(s) in stack nofile"),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stderr.contains("working from the state of stack 'nofile'"),
        "{}",
        listed.stderr
    );
    let exported = project.path().join("backup.json");
    project
        .stackup(&[
            "state",
            "export",
            "--stack",
            stack,
            "--output",
            exported.to_str().expect("utf-8"),
        ])
        .expect_code(0);
    assert!(std::fs::read_to_string(&exported)
        .expect("export")
        .contains("aws:ec2:Vpc"));
    let broken = project
        .stackup(&["outputs", "--json", "--stack", stack])
        .expect_code(0)
        .json();
    assert_eq!(broken["vpc_id"], vpc, "{broken}");

    // Gone: destroy works from the records, with the region the state recorded.
    std::fs::remove_file(project.path().join("stacks").join(format!("{stack}.toml"))).expect("remove");
    let destroyed = project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
    assert!(destroyed.stdout.contains("deleted"), "{}", destroyed.stdout);
    assert!(crate::support::objects_per_urn(&Moto::shared().endpoint, stack).is_empty());

    // A stack never deployed: a read-only command says so and leaves no state behind.
    project.write_stack("never-deployed", &network.toml());
    let never = project
        .stackup(&["state", "list", "--stack", "never-deployed"])
        .expect_code(0);
    assert!(never.stdout.contains("Nothing recorded"), "{}", never.stdout);
    let export = project.stackup(&["state", "export", "--stack", "never-deployed"]);
    assert_eq!(export.code, 1, "{}", export.stdout);
    assert!(export.stderr.contains("has no state"), "{}", export.stderr);
    let planned = project
        .stackup(&["diff", "--json", "--stack", "never-deployed"])
        .expect_code(2)
        .json();
    assert!(planned["counts"]["create"].as_u64() > Some(0), "{planned}");
    project
        .stackup(&["outputs", "--stack", "never-deployed"])
        .expect_code(0);
    assert!(!project.state_dir().join("never-deployed").exists());
}

/// The default preview is one line per resource (grouped by type) plus the summary;
/// `--diff` shows every attribute; a change in place names its keys.
#[test]
fn the_default_preview_is_a_line_per_resource_and_diff_shows_every_attribute() {
    let stack = "preview";
    let mut network = NetworkStack::in_block(34);
    let project = network_project(stack, &network);
    let plan = project
        .stackup(&["diff", "--json", "--stack", stack])
        .expect_code(2)
        .json();
    let creates = plan["counts"]["create"].as_u64().expect("creates") as usize;
    let brief = project.stackup(&["diff", "--stack", stack]).expect_code(2).stdout;
    let lines = brief.lines().count();
    assert!(lines <= creates + 3, "{lines} lines for {creates} creates:\n{brief}");
    assert!(
        brief
            .lines()
            .any(|l| l.contains("+ aws:ec2:Vpc") && l.contains(" vpc ") && l.ends_with("create")),
        "{brief}"
    );
    assert!(!brief.contains("cidr_block"), "no attributes by default:\n{brief}");
    let detail = project
        .stackup(&["diff", "--diff", "--stack", stack])
        .expect_code(2)
        .stdout;
    assert!(detail.contains("cidr_block: \"10.34.0.0/16\""), "{detail}");

    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    network.tags.push(("Owner".into(), "platform-team".into()));
    project.write_stack(stack, &network.toml());
    let changed = project.stackup(&["diff", "--stack", stack]).expect_code(2).stdout;
    assert!(
        changed
            .lines()
            .any(|l| l.contains("~ aws:ec2:Vpc") && l.contains("update [~tags]")),
        "{changed}"
    );
    // One ACL entry changed: --diff shows that entry alone, once removed and once added.
    network.ssh = "198.51.100.0/24".into();
    project.write_stack(stack, &network.toml());
    let detail = project
        .stackup(&["diff", "--diff", "--stack", stack])
        .expect_code(2)
        .stdout;
    let removed: Vec<&str> = detail.lines().filter(|l| l.trim_start().starts_with("- ")).collect();
    let added: Vec<&str> = detail.lines().filter(|l| l.trim_start().starts_with("+ ")).collect();
    assert_eq!(removed.len(), 1, "{detail}");
    assert_eq!(added.len(), 1, "{detail}");
    assert!(
        removed[0].contains("203.0.113.0/24") && removed[0].contains("rule_number: 120"),
        "{detail}"
    );
    assert!(
        added[0].contains("198.51.100.0/24") && added[0].contains("rule_number: 120"),
        "{detail}"
    );
    project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
}

/// `diff --out FILE` saves the plan; `up --plan FILE` applies exactly it, and refuses,
/// naming what moved and changing nothing, when the program changed since, or when a
/// run changed the state since.
#[test]
fn a_saved_plan_is_applied_exactly_or_refused_naming_what_moved() {
    let stack = "saved";
    let mut network = NetworkStack::in_block(35);
    let project = network_project(stack, &network);
    let file = project.path().join("plan.json");
    let file = file.to_str().expect("utf-8");
    let saved = project
        .stackup(&["diff", "--out", file, "--stack", stack])
        .expect_code(2);
    assert!(saved.stderr.contains("Plan saved to"), "{}", saved.stderr);
    project
        .stackup(&["up", "--yes", "--plan", file, "--stack", stack])
        .expect_code(0);
    project.stackup(&["diff", "--stack", stack]).expect_code(0);

    // The program moves after the plan was saved: refused, nothing applied.
    network.tags.push(("Owner".into(), "platform-team".into()));
    project.write_stack(stack, &network.toml());
    project
        .stackup(&["diff", "--out", file, "--stack", stack])
        .expect_code(2);
    network.tags.push(("CostCenter".into(), "42".into()));
    project.write_stack(stack, &network.toml());
    let moved = project.stackup(&["up", "--yes", "--plan", file, "--stack", stack]);
    assert_eq!(moved.code, 1, "{}\n{}", moved.stdout, moved.stderr);
    assert!(
        moved.stderr.contains("differs from") && moved.stderr.contains("tags would be set differently"),
        "{}",
        moved.stderr
    );
    let history = project
        .stackup(&["state", "history", "--json", "--stack", stack])
        .expect_code(0)
        .json();
    assert_eq!(
        history.as_array().map(Vec::len),
        Some(1),
        "nothing was applied: {history}"
    );

    // A run changes the state after the plan was saved: refused.
    project
        .stackup(&["diff", "--out", file, "--stack", stack])
        .expect_code(2);
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let stale = project.stackup(&["up", "--yes", "--plan", file, "--stack", stack]);
    assert_eq!(stale.code, 1, "{}", stale.stdout);
    assert!(stale.stderr.contains("changed since"), "{}", stale.stderr);
    project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
}
