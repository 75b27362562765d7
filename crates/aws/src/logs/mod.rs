//! CloudWatch Logs providers.

mod log_group;

use std::sync::Arc;

use stackup_provider::Provider;

pub use log_group::{LogGroup, LogGroupArgs};

use crate::AwsClients;

/// Every CloudWatch Logs provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(LogGroup::new(clients.logs.clone()))]
}

/// Inserts the user tags into `inputs` if the program set none, so that a resource
/// declared without tags compares equal to its live empty tag set.
fn default_tags(inputs: &mut stackup_model::Properties) {
    inputs
        .entry("tags".to_string())
        .or_insert_with(|| stackup_model::Value::Map(std::collections::BTreeMap::new()));
}
