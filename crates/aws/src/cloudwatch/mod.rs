//! CloudWatch providers: metric alarms.
//!
//! `aws-sdk-cloudwatch` is pinned to 1.99.0, the last release on the awsQuery protocol,
//! which moto serves and real CloudWatch still accepts.

mod metric_alarm;

use std::collections::BTreeMap;
use std::sync::Arc;

use stackup_model::{Properties, Value};
use stackup_provider::Provider;

pub use metric_alarm::{MetricAlarm, MetricAlarmArgs};

use crate::AwsClients;

/// Every CloudWatch provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(MetricAlarm::new(clients.cloudwatch.clone()))]
}

/// Inserts the user tags into `inputs` if the program set none, so that a resource
/// declared without tags compares equal to its live empty tag set.
fn default_tags(inputs: &mut Properties) {
    inputs
        .entry("tags".to_string())
        .or_insert_with(|| Value::Map(BTreeMap::new()));
}
