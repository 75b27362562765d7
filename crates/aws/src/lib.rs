//! The AWS providers, one module per service and one file per resource type
//! (`ec2/subnet.rs`), plus the typed argument structs programs declare resources with.
//!
//! Every provider creates objects tagged `stackup:stack`, `stackup:urn` and the stack's
//! tags; reads all resources of its type in one filtered, paginated call (per-resource
//! calls only where AWS has no batch form); updates in place where the API allows; and
//! deletes with the right waiter. AWS errors are classified into the provider
//! contract's error kinds, never flattened into strings.
//!
//! Architecture invariant: one `SdkConfig` for the whole run; the endpoint comes from
//! the SDK's own `AWS_ENDPOINT_URL`, region and credentials from the standard AWS
//! environment.

pub mod ec2;
mod error;
mod props;
mod tags;

use stackup_provider::Registry;

pub use error::classify;

/// The SDK clients of one run, built from one `SdkConfig`.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub ec2: aws_sdk_ec2::Client,
}

impl AwsClients {
    pub fn new(config: &aws_config::SdkConfig) -> AwsClients {
        AwsClients {
            ec2: aws_sdk_ec2::Client::new(config),
        }
    }

    /// Loads the standard AWS configuration (environment, profiles, `AWS_ENDPOINT_URL`)
    /// for `region`.
    pub async fn load(region: &str) -> AwsClients {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        AwsClients::new(&config)
    }
}

/// Every AWS provider, registered by type.
pub fn registry(clients: &AwsClients) -> Registry {
    let mut r = Registry::new();
    for p in ec2::providers(clients) {
        r.register(p);
    }
    r
}

/// A registry with the AWS providers' schemas and checks but clients that are never
/// called, for validating a program before any API call.
pub fn offline_registry() -> Registry {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    registry(&AwsClients::new(&config))
}
