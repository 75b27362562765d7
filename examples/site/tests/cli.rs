//! The example program's own binary (`site`, the full stackup command line from one
//! call) deploys, diffs clean and destroys its stack on moto.

use std::process::{Command, Output};

use stackup_testkit::Moto;

fn site(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_site"))
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("STACKUP_STACK")
        .env_remove("STACKUP_STATE_DIR")
        .output()
        .expect("run the example's binary")
}

/// Runs a future on a fresh runtime (the test is synchronous, the SDK is not).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[track_caller]
fn expect(out: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_example_program_deploys_diffs_clean_and_destroys_through_its_own_binary() {
    let moto = Moto::shared();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
    let bucket = format!("site-assets-{}", std::process::id());
    let table = format!("site-sessions-{}", std::process::id());
    std::fs::write(
        dir.path().join("stacks/site.toml"),
        format!(
            "program = \"site\"\nregion = \"us-east-1\"\n\n[site]\nvpc_cidr = \"10.60.0.0/16\"\nbucket = \"{bucket}\"\ntable = \"{table}\"\n"
        ),
    )
    .expect("stack file");
    let run = |args: &[&str]| site(dir.path(), &moto.endpoint, args);

    // A file for a program this binary does not ship is refused, naming the key.
    std::fs::write(dir.path().join("stacks/shop.toml"), "region = \"us-east-1\"\n").expect("stack file");
    let refused = run(&["diff", "--stack", "shop"]);
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("key 'program'") && stderr.contains("site"), "{stderr}");

    let up = expect(&run(&["up", "--yes", "--stack", "site"]), 0);
    assert!(up.contains("vpc_id") && up.contains(&bucket), "outputs shown:\n{up}");
    expect(&run(&["diff", "--stack", "site"]), 0);

    let config = moto.sdk_config();
    let tables = block_on(async {
        aws_sdk_dynamodb::Client::new(&config)
            .list_tables()
            .send()
            .await
            .expect("tables")
            .table_names()
            .to_vec()
    });
    assert!(tables.contains(&table), "{tables:?}");

    expect(&run(&["destroy", "--yes", "--stack", "site"]), 0);
    let (buckets, tables) = block_on(async {
        let buckets: Vec<String> = moto
            .s3()
            .list_buckets()
            .send()
            .await
            .expect("buckets")
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect();
        let tables = aws_sdk_dynamodb::Client::new(&config)
            .list_tables()
            .send()
            .await
            .expect("tables")
            .table_names()
            .to_vec();
        (buckets, tables)
    });
    assert!(!buckets.contains(&bucket), "the bucket is gone");
    assert!(!tables.contains(&table), "the table is gone");
    let listed = expect(&run(&["state", "list", "--stack", "site"]), 0);
    assert!(!listed.contains("aws:"), "nothing recorded:\n{listed}");
}
