//! The `stackup` binary: the command line (`crates/cli`) running the programs stackup
//! ships. Everything else is in the crates: the engine (`crates/engine`), the AWS
//! providers (`crates/aws`), the e-commerce platform (`crates/ecommerce`), the web pair
//! (`crates/webpair`), the multi-tier platform (`crates/multitier`).

fn main() -> std::process::ExitCode {
    stackup_cli::main(
        vec![
            stackup_ecommerce::PROGRAM,
            stackup_webpair::PROGRAM,
            stackup_multitier::PROGRAM,
        ],
        vec![stackup_aws::PROVIDERS],
    )
}
