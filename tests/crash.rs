//! Crash safety: `up` and `destroy` killed with SIGKILL at many instants of the whole
//! platform's deploy and teardown, then run again. Afterwards every `stackup:urn` tag is
//! carried by exactly one object, state matches AWS (`diff` exits 0), and a destroy
//! leaves nothing tagged.
//!
//! The instants come from the executor's test hook (`STACKUP_TEST_CRASH_AT=n`): each
//! mutating call has a crash point after its journal entry is written, one after the call
//! returns and (for creates) one after the outcome is recorded, so the points cover every
//! window of the write-ahead sequence.

use crate::support::{dev_stack, objects_per_urn, Moto, Project};

fn crash_and_recover(point: usize) {
    let moto = Moto::shared();
    let stack = format!("crash{point}");
    let project = Project::new(&moto.endpoint);
    project.write_stack(
        &stack,
        &dev_stack(&format!("stackup-crash-{point}-{}", std::process::id())),
    );
    let crash = point.to_string();

    let killed = project.stackup_with_env(
        &["up", "--yes", "--stack", &stack],
        &[("STACKUP_TEST_CRASH_AT", &crash)],
    );
    assert_eq!(
        killed.code, -1,
        "up must die at crash point {point}:\n{}\n{}",
        killed.stdout, killed.stderr
    );
    assert!(killed.stderr.contains("test hook: killing"), "{}", killed.stderr);
    project.stackup(&["up", "--yes", "--stack", &stack]).expect_code(0);
    let records = project.ids_by_name(&stack);
    let counts = objects_per_urn(&moto.endpoint, &stack);
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        duplicated.is_empty(),
        "crash point {point}: urns carried by several objects: {duplicated:?}"
    );
    for urn in counts.keys() {
        let name = urn.rsplit("::").next().expect("name");
        assert!(
            records.contains_key(name),
            "crash point {point}: {urn} exists but is not recorded (an orphan)"
        );
    }
    let run = project.stackup(&["diff", "--stack", &stack]);
    assert_eq!(
        run.code, 0,
        "crash point {point}: state must match AWS:\n{}",
        run.stdout
    );

    // Destroy, killed partway, then again.
    let destroy_point = (point % 50 + 3).to_string();
    let killed = project.stackup_with_env(
        &["destroy", "--yes", "--stack", &stack],
        &[("STACKUP_TEST_CRASH_AT", &destroy_point)],
    );
    assert_eq!(
        killed.code, -1,
        "destroy must die at crash point {destroy_point}:\n{}",
        killed.stderr
    );
    project.stackup(&["destroy", "--yes", "--stack", &stack]).expect_code(0);
    let left = objects_per_urn(&moto.endpoint, &stack);
    assert!(left.is_empty(), "crash point {point}: destroy left {left:?}");
    assert!(project.ids_by_name(&stack).is_empty());
}

// Eight instants spread over the ~180 crash points of a platform deploy (61 resources): early network,
// NAT and routes, security rules, data tier, web tier, the last resources.
#[test]
fn killed_up_and_destroy_converge_early_in_the_deploy() {
    for point in [1, 2, 6, 35] {
        crash_and_recover(point);
    }
}

#[test]
fn killed_up_and_destroy_converge_late_in_the_deploy() {
    for point in [89, 120, 150, 178] {
        crash_and_recover(point);
    }
}
