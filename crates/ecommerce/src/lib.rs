//! The e-commerce platform program: its stack configuration (`stacks/<stack>.toml`,
//! validated before any API call) and the resources it declares, written against the
//! public API (`StackBuilder` and the typed argument structs of `stackup-aws`) exactly
//! as a user would write their own program.
//!
//! Architecture invariant: no IO except reading the stack file; no AWS calls.

mod config;
mod data;
mod network;
mod operations;
mod web;

pub use config::{
    ComputeConfig, ConfigError, ConfigErrors, DatabaseConfig, MonitoringConfig, NatMode, NetworkConfig, Platform,
    SecurityConfig, StackConfig, StorageConfig, LOG_RETENTION_DAYS,
};

use stackup_model::{DeclareError, Program, ProgramDef, StackBuilder};

/// The platform as a plug-in: what a stack file with `program = "ecommerce"` (or no
/// `program` key) runs.
pub const PROGRAM: ProgramDef = ProgramDef {
    name: "ecommerce",
    declare,
};

/// Reads and validates the stack file, then declares the platform.
fn declare(file: &std::path::Path, text: &str) -> Result<Program, DeclareError> {
    let config = StackConfig::parse(file, text)?;
    Ok(program(&config))
}

/// Declares every resource of the platform for one stack.
pub fn program(config: &StackConfig) -> Program {
    let mut stack = StackBuilder::with_tags(&config.name, &config.tags);
    let network = network::declare(&mut stack, config);
    network.export(&mut stack);
    if let Some(platform) = config.platform() {
        let data = data::declare(&mut stack, config, platform, &network);
        let web = web::declare(&mut stack, config, platform, &network, &data);
        let ops = operations::declare(&mut stack, platform, &web, &data);
        stack.export("load_balancer_dns_name", web.load_balancer.output::<String>("dns_name"));
        stack.export("bastion_public_ip", web.bastion.output::<String>("public_ip"));
        stack.export("database_endpoint", data.db.output::<String>("endpoint_address"));
        stack.export(
            "database_secret_arn",
            data.db.output::<String>("master_user_secret_arn"),
        );
        stack.export("assets_bucket", data.bucket.output::<String>("name"));
        stack.export("file_system_id", data.file_system.id());
        stack.export("session_table", data.table.output::<String>("name"));
        stack.export("alarm_topic_arn", ops.topic.id());
    }
    stack.finish()
}
