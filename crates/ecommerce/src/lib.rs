//! The e-commerce platform program: its stack configuration (`stacks/<stack>.toml`,
//! validated before any API call) and the resources it declares, written against the
//! public API (`StackBuilder` and the typed argument structs of `stackup-aws`) exactly
//! as a user would write their own program.
//!
//! Architecture invariant: no IO except reading the stack file; no AWS calls.

mod config;
mod network;

pub use config::{ConfigError, ConfigErrors, NatMode, NetworkConfig, SecurityConfig, StackConfig};

use stackup_model::{Program, StackBuilder, Value};

/// Declares every resource of the platform for one stack.
pub fn program(config: &StackConfig) -> Program {
    let default_tags = config
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut stack = StackBuilder::new(&config.name, default_tags);
    let network = network::declare(&mut stack, config);
    network.export(&mut stack);
    stack.finish()
}
