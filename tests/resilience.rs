//! Real-AWS conditions through the fault proxy: the whole platform converges under the
//! chaos profile, and Ctrl-C stops a run cleanly (first press) or at once (second).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use stackup_proxy::{Profile, Proxy};

use crate::support::{assert_exact, dev_stack, objects_per_urn, Moto, NetworkStack, Project};

fn chaos_profile() -> Profile {
    Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/chaos.toml")).expect("profiles/chaos.toml")
}

/// Runs `args` until it succeeds, at most `tries` times, as an operator would after a
/// transient failure; returns how many runs it took.
fn until_success(project: &Project, args: &[&str], env: &[(&str, &str)], tries: usize) -> usize {
    for run in 1..=tries {
        let result = project.stackup_with_env(args, env);
        if result.code == 0 {
            return run;
        }
        eprintln!("`stackup {}` run {run} failed:\n{}", args.join(" "), result.stdout);
    }
    panic!("`stackup {}` did not converge in {tries} runs", args.join(" "));
}

#[test]
fn the_platform_converges_through_chaos() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint, chaos_profile(), 1.0, 7);
    let project = Project::new(&proxy.endpoint);
    let stack = "chaotic";
    project.write_stack(stack, &dev_stack(&format!("stackup-chaos-{}", std::process::id())));
    // The engine's own retry configuration, not the harness's fail-fast default.
    let env = [("AWS_RETRY_MODE", "adaptive"), ("AWS_MAX_ATTEMPTS", "10")];

    let runs = until_success(&project, &["up", "--yes", "--stack", stack], &env, 3);
    eprintln!("up converged in {runs} run(s); faults injected: {:?}", proxy.injected());
    assert!(
        proxy.injected().values().sum::<usize>() > 0,
        "the chaos profile injected faults"
    );
    // Nothing duplicated, nothing unrecorded: checked on the server, not through chaos.
    assert_exact(&project, &moto.endpoint, stack);
    let diff = project.stackup_with_env(&["diff", "--stack", stack], &env);
    assert_eq!(
        diff.code, 0,
        "state is exact after chaos:\n{}\n{}",
        diff.stdout, diff.stderr
    );

    until_success(&project, &["destroy", "--yes", "--stack", stack], &env, 3);
    let left = objects_per_urn(&moto.endpoint, stack);
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(project.ids_by_name(stack).is_empty());
}

/// A stack whose creates each take `latency_ms`, so a run is still going when the test
/// presses Ctrl-C.
fn slow_project(moto: &Moto, stack: &str, latency_ms: u64) -> (Proxy, Project) {
    let profile = Profile::parse(
        "slow",
        &format!("[[rule]]\nservice = \"*\"\naction = [\"Create*\", \"Allocate*\", \"Authorize*\"]\nlatency_ms = {latency_ms}\n"),
    )
    .expect("profile");
    let proxy = Proxy::start(&moto.endpoint, profile, 1.0, 1);
    let project = Project::new(&proxy.endpoint);
    let config = NetworkStack {
        vpc_cidr: "10.40.0.0/16".into(),
        public: ["10.40.0.0/24".into(), "10.40.1.0/24".into()],
        private: ["10.40.10.0/24".into(), "10.40.11.0/24".into()],
        ..NetworkStack::default()
    };
    project.write_stack(stack, &config.toml());
    (proxy, project)
}

/// Starts `stackup up` in the background and presses Ctrl-C `presses` times, `after`
/// the run began creating; returns the exit code and everything it printed.
fn interrupt_up(project: &Project, endpoint: &str, stack: &str, after: Duration, presses: usize) -> (i32, String) {
    signal_up(project, endpoint, stack, after, "-INT", presses)
}

/// Starts `stackup up` in the background and sends it `signal` (`-INT`, `-TERM`)
/// `times` times, `after` the run began creating (its VPC exists); returns the exit
/// code and everything it printed.
fn signal_up(
    project: &Project,
    endpoint: &str,
    stack: &str,
    after: Duration,
    signal: &str,
    times: usize,
) -> (i32, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_stackup"))
        .args(["up", "--yes", "--parallel", "4", "--stack", stack])
        .current_dir(project.path())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stackup");
    // The signal lands mid-run: once the stack's VPC exists (the run is creating), and
    // `after` later, however loaded the machine is.
    let ec2 = Moto::shared().ec2();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let vpcs = crate::support::block_on(async {
            ec2.describe_vpcs()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("tag:stackup:stack")
                        .values(stack)
                        .build(),
                )
                .send()
                .await
                .map(|v| v.vpcs().len())
                .unwrap_or(0)
        });
        if vpcs > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(after);
    for _ in 0..times {
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn first_ctrl_c_lets_in_flight_calls_finish_and_records_them() {
    let moto = Moto::shared();
    let stack = "ctrlc-once";
    let (proxy, project) = slow_project(moto, stack, 800);
    let (code, stderr) = interrupt_up(&project, &proxy.endpoint, stack, Duration::from_millis(1000), 1);
    assert_eq!(code, 1, "an interrupted run is not a success:\n{stderr}");
    assert!(stderr.contains("stopping: no new operations will start"), "{stderr}");
    assert!(
        stderr.contains("not started"),
        "the summary counts what never started:\n{stderr}"
    );
    let recorded = project.ids_by_name(stack).len();
    assert!(
        recorded > 0 && recorded < 32,
        "some, not all, were created and recorded: {recorded}"
    );
    // Everything that finished was recorded: nothing is pending, nothing to recover.
    resumes_with_nothing_to_recover_then_destroy(&project, moto, stack);
}

/// SIGTERM (CI cancellation, `systemctl stop`, `timeout`) is a first Ctrl-C: in-flight
/// operations finish and are recorded, the summary says the run was interrupted, the
/// history has it, and the exit code is 143.
#[test]
fn sigterm_stops_like_a_first_ctrl_c_records_the_run_and_exits_143() {
    let moto = Moto::shared();
    let stack = "sigterm-once";
    let (proxy, project) = slow_project(moto, stack, 800);
    let (code, out) = signal_up(
        &project,
        &proxy.endpoint,
        stack,
        Duration::from_millis(1000),
        "-TERM",
        1,
    );
    assert_eq!(code, 143, "{out}");
    assert!(
        out.contains("SIGTERM received; stopping: no new operations will start"),
        "{out}"
    );
    assert!(out.contains("Interrupted in ") && out.contains("not started"), "{out}");
    let history = project
        .stackup(&["state", "history", "--stack", stack])
        .expect_code(0)
        .stdout;
    assert!(
        history.contains("up: ") && history.contains("interrupted ("),
        "{history}"
    );
    resumes_with_nothing_to_recover_then_destroy(&project, moto, stack);
}

/// After a run stopped by a first Ctrl-C or SIGTERM: every object is recorded exactly
/// once, the next `up` (straight to moto) finishes the stack without recovering
/// anything, and `destroy` removes it.
fn resumes_with_nothing_to_recover_then_destroy(project: &Project, moto: &Moto, stack: &str) {
    assert_exact(project, &moto.endpoint, stack);
    let direct = [("AWS_ENDPOINT_URL", moto.endpoint.as_str())];
    let rerun = project.stackup_with_env(&["up", "--yes", "--stack", stack], &direct);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(
        !rerun.stderr.contains("recovered"),
        "a first stop leaves nothing to recover:\n{}",
        rerun.stderr
    );
    assert_exact(project, &moto.endpoint, stack);
    project
        .stackup_with_env(&["destroy", "--yes", "--stack", stack], &direct)
        .expect_code(0);
}

#[test]
fn second_ctrl_c_aborts_at_once_and_the_next_run_recovers() {
    let moto = Moto::shared();
    let stack = "ctrlc-twice";
    let (proxy, project) = slow_project(moto, stack, 1500);
    let (code, stderr) = interrupt_up(&project, &proxy.endpoint, stack, Duration::from_millis(1000), 2);
    assert_eq!(code, 130, "a second Ctrl-C aborts:\n{stderr}");
    assert!(stderr.contains("aborted"), "{stderr}");
    // The calls in flight were cut off; their journal entries let the next run adopt
    // whatever AWS finished, so nothing is duplicated or orphaned.
    let rerun = project.stackup_with_env(
        &["up", "--yes", "--stack", stack],
        &[("AWS_ENDPOINT_URL", &moto.endpoint)],
    );
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_exact(&project, &moto.endpoint, stack);
    assert_eq!(
        project
            .stackup_with_env(&["diff", "--stack", stack], &[("AWS_ENDPOINT_URL", &moto.endpoint)])
            .code,
        0
    );
    project
        .stackup_with_env(
            &["destroy", "--yes", "--stack", stack],
            &[("AWS_ENDPOINT_URL", &moto.endpoint)],
        )
        .expect_code(0);
}

/// An endpoint nobody listens on, or no credentials at all: one error naming the
/// endpoint (or where credentials were looked for), before any state is created, not an
/// error per resource after every retry.
#[test]
fn an_unreachable_endpoint_or_missing_credentials_is_one_clear_error_before_any_work() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let project = Project::new(&url);
    project.write_stack("dev", &NetworkStack::in_block(36).toml());
    for args in [&["diff"][..], &["up", "--yes"], &["destroy", "--yes"], &["refresh"]] {
        let run = project.stackup(args).expect_code(1);
        assert!(
            run.stderr.contains(&format!("cannot reach AWS at {url}")),
            "`stackup {}`: {}",
            args.join(" "),
            run.stderr
        );
        assert_eq!(
            run.stderr.matches("Connection refused").count(),
            1,
            "said once: {}",
            run.stderr
        );
    }
    assert!(
        !project.state_dir().join("dev").exists(),
        "no state for a run that could not start"
    );

    let moto = Moto::shared();
    let project = Project::new(&moto.endpoint);
    project.write_stack("dev", &NetworkStack::in_block(36).toml());
    let nowhere = "/nonexistent/stackup-test";
    let run = project
        .stackup_with_env(
            &["diff"],
            &[
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_SHARED_CREDENTIALS_FILE", nowhere),
                ("AWS_CONFIG_FILE", nowhere),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
        .expect_code(1);
    assert!(
        run.stderr
            .contains("no AWS credentials were found: set AWS_ACCESS_KEY_ID"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("error:").count(), 1, "said once: {}", run.stderr);
}
