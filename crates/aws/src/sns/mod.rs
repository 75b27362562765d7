//! SNS providers: topics and their subscriptions.

mod subscription;
mod topic;

use std::collections::BTreeMap;
use std::sync::Arc;

use stackup_model::{Properties, Value};
use stackup_provider::Provider;

pub use subscription::{Subscription, SubscriptionArgs};
pub use topic::{Topic, TopicArgs};

use crate::AwsClients;

/// Every SNS provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let sns = clients.sns.clone();
    vec![Arc::new(Topic::new(sns.clone())), Arc::new(Subscription::new(sns))]
}

/// Inserts the user tags into `inputs` if the program set none, so that a resource
/// declared without tags compares equal to its live empty tag set.
fn default_tags(inputs: &mut Properties) {
    inputs
        .entry("tags".to_string())
        .or_insert_with(|| Value::Map(BTreeMap::new()));
}
