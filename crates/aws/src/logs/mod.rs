//! CloudWatch Logs providers.

mod log_group;

use std::sync::Arc;

use stackup_provider::Provider;

pub use log_group::{LogGroup, LogGroupArgs};

use crate::AwsClients;

/// Every CloudWatch Logs provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(LogGroup::new(clients.logs.clone(), clients.tagging.clone()))]
}
