//! Test support: the moto server, a project directory with a stack file, and running
//! the real `stackup` binary against them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use stackup_testkit::Moto;

/// The result of one `stackup` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A working directory with `stacks/` and `state/`, as a user's checkout would have.
pub struct Project {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Project {
    pub fn new(endpoint: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        Project {
            dir,
            endpoint: endpoint.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn write_stack(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join("stacks").join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("write stack file");
        path
    }

    /// Writes `text` as `stack`'s file, checks that `diff` plans in-place updates only
    /// (more than `min_updates`, nothing created or replaced), applies them, and checks
    /// that `diff` is clean after.
    #[track_caller]
    pub fn change_in_place(&self, stack: &str, text: &str, min_updates: u64) {
        self.write_stack(stack, text);
        let diff = self
            .stackup(&["diff", "--json", "--stack", stack])
            .expect_code(2)
            .json();
        assert_eq!(diff["counts"]["replace"], 0, "{diff}");
        assert_eq!(diff["counts"]["create"], 0, "{diff}");
        assert!(diff["counts"]["update"].as_u64().unwrap_or(0) > min_updates, "{diff}");
        self.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
        self.stackup(&["diff", "--stack", stack]).expect_code(0);
    }

    /// The URNs `diff` reports drifted (it must exit 2).
    #[track_caller]
    pub fn drifted(&self, stack: &str) -> Vec<String> {
        let diff = self
            .stackup(&["diff", "--json", "--stack", stack])
            .expect_code(2)
            .json();
        diff["drift"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|d| d["urn"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs `stackup ARGS` in the project directory against the endpoint.
    pub fn stackup(&self, args: &[&str]) -> Run {
        self.stackup_with_env(args, &[])
    }

    /// Runs `stackup ARGS` with extra environment variables (test hooks).
    pub fn stackup_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackup"));
        command.args(args);
        self.run(command, env)
    }

    /// Runs `stackup ARGS` as a user who cannot write the project's state directory:
    /// as `nobody` when the tests run as root (root writes anywhere), otherwise with
    /// the state directory made read-only for the run.
    pub fn stackup_as_reader(&self, args: &[&str]) -> Run {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        if root {
            // Let the other user into the project (a temporary directory is 0700).
            std::fs::set_permissions(self.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_stackup"))
                .args(args);
            return self.run(command, &[("HOME", "/tmp")]);
        }
        let chmod = |mode: &str| {
            let ok = Command::new("chmod")
                .args(["-R", mode])
                .arg(self.state_dir())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chmod {mode}");
        };
        chmod("a-w");
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackup"));
        command.args(args);
        let run = self.run(command, &[]);
        chmod("u+w");
        run
    }

    /// Runs `command` in the project directory against the endpoint, with `env` last.
    fn run(&self, mut command: Command, env: &[(&str, &str)]) -> Run {
        let out = command
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            // moto answers 500 to what it does not implement: fail fast, not after
            // the SDK's default backoff.
            .env("AWS_MAX_ATTEMPTS", "2")
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("STACKUP_STACK")
            .env_remove("STACKUP_STATE_DIR")
            // The caller's variables last: they override the defaults above.
            .envs(env.iter().copied())
            .output()
            .expect("run stackup");
        Run::from(out)
    }
}

/// The shipped dev stack file (every tier), with a bucket name of the caller's own:
/// bucket names are global, and tests share one server.
pub fn dev_stack(bucket: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("stacks/dev.toml"))
        .expect("stacks/dev.toml")
        .replace("stackup-dev-ecommerce-assets", bucket)
}

impl Project {
    /// Resource name (the URN's last part) -> physical id, from `state list --json`.
    pub fn ids_by_name(&self, stack: &str) -> std::collections::BTreeMap<String, String> {
        let run = self
            .stackup(&["state", "list", "--json", "--stack", stack])
            .expect_code(0);
        run.json()
            .as_array()
            .expect("array")
            .iter()
            .map(|r| {
                let urn = r["urn"].as_str().expect("urn");
                (
                    urn.rsplit("::").next().expect("name").to_string(),
                    r["id"].as_str().expect("id").to_string(),
                )
            })
            .collect()
    }
}

/// Objects tagged with `stack`, counted per `stackup:urn`, through every provider's
/// list (straight to `endpoint`, the server itself, never through a fault proxy).
pub fn objects_per_urn(endpoint: &str, stack: &str) -> std::collections::BTreeMap<String, usize> {
    let registry = stackup_testkit::aws_registry(endpoint);
    let mut counts = std::collections::BTreeMap::new();
    block_on(async {
        for ty in registry.types() {
            let provider = registry.get(ty).expect("provider");
            let listed = provider
                .list(stackup_provider::ListRequest::stack(stack))
                .await
                .unwrap_or_else(|e| panic!("listing {ty}: {e}"));
            for object in listed.map(|l| l.found).unwrap_or_default() {
                *counts.entry(object.urn.to_string()).or_insert(0) += 1;
            }
        }
    });
    counts
}

/// Every object of `stack` exists once and is recorded under its URN's name.
#[track_caller]
pub fn assert_exact(project: &Project, endpoint: &str, stack: &str) {
    let records = project.ids_by_name(stack);
    let counts = objects_per_urn(endpoint, stack);
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(duplicated.is_empty(), "urns carried by several objects: {duplicated:?}");
    for urn in counts.keys() {
        let name = urn.rsplit("::").next().expect("name");
        assert!(
            records.contains_key(name),
            "{urn} exists but is not recorded (an orphan)"
        );
    }
}

/// Runs a future to completion on a fresh runtime (tests are synchronous, the SDK is
/// not).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A network-tier stack file. `nat_mode`, `ssh` and the CIDRs are the knobs tests turn.
#[derive(Clone, Debug)]
pub struct NetworkStack {
    pub vpc_cidr: String,
    pub public: [String; 2],
    pub private: [String; 2],
    pub nat_mode: String,
    pub ssh: String,
    pub tags: Vec<(String, String)>,
}

impl Default for NetworkStack {
    fn default() -> NetworkStack {
        NetworkStack {
            vpc_cidr: "10.30.0.0/16".into(),
            public: ["10.30.0.0/24".into(), "10.30.1.0/24".into()],
            private: ["10.30.10.0/24".into(), "10.30.11.0/24".into()],
            nat_mode: "single".into(),
            ssh: "203.0.113.0/24".into(),
            tags: vec![
                ("Project".into(), "ecommerce".into()),
                ("Environment".into(), "test".into()),
            ],
        }
    }
}

impl NetworkStack {
    /// The default stack in `10.<n>.0.0/16`, so that tests sharing the server do not
    /// share blocks.
    pub fn in_block(n: u8) -> NetworkStack {
        NetworkStack {
            vpc_cidr: format!("10.{n}.0.0/16"),
            public: [format!("10.{n}.0.0/24"), format!("10.{n}.1.0/24")],
            private: [format!("10.{n}.10.0/24"), format!("10.{n}.11.0/24")],
            ..NetworkStack::default()
        }
    }
}

impl NetworkStack {
    pub fn toml(&self) -> String {
        let tags: String = self.tags.iter().map(|(k, v)| format!("{k} = \"{v}\"\n")).collect();
        format!(
            r#"region = "us-east-1"

[network]
vpc_cidr = "{}"
az_count = 2
public_subnet_cidrs = ["{}", "{}"]
private_subnet_cidrs = ["{}", "{}"]
nat_mode = "{}"

[security]
ssh_allowed_cidr = "{}"

[tags]
{tags}"#,
            self.vpc_cidr, self.public[0], self.public[1], self.private[0], self.private[1], self.nat_mode, self.ssh
        )
    }
}
