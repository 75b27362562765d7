//! `site`: the stackup command line running this crate's program (and only it).
//! `site up --stack stacks/site.toml` deploys, `site diff`, `site destroy`: every
//! `stackup` command, from one call.

fn main() -> std::process::ExitCode {
    stackup_cli::main(vec![stackup_example_site::PROGRAM], vec![stackup_aws::PROVIDERS])
}
