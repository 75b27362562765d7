//! DynamoDB providers.

mod table;

use std::sync::Arc;

use stackup_provider::Provider;

pub use table::{Table, TableArgs};

use crate::AwsClients;

/// Every DynamoDB provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(Table::new(clients.dynamodb.clone(), clients.tagging.clone()))]
}
