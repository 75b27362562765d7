//! A cloud's providers as a plug-in: a named value the binary registers, as it
//! registers programs. It says how to build the providers (without a connection, for
//! the pure input checks that run before anything is touched; and connected to a
//! region), in which order a sweep deletes its types, which destroy flags override
//! which stackup-side inputs, and how to send a notice (a drift summary). The command
//! line and the engine name no cloud: they use what is registered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use stackup_model::TypeToken;

use crate::{ProviderError, Registry};

/// A boxed future, for plug-in functions (no `futures` crate needed).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A destroy flag that sets a stackup-side input on every delete of a type for one run
/// (`--empty-buckets` sets `force_destroy` on buckets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteOverride {
    /// The command-line flag, without dashes.
    pub flag: &'static str,
    pub ty: &'static str,
    pub key: &'static str,
}

/// A cloud's providers, registered with the command line (`stackup_aws::PROVIDERS`).
#[derive(Clone, Copy)]
pub struct ProviderSet {
    pub name: &'static str,
    /// The providers with no connection: their `check` is pure, so a program's inputs
    /// are validated before the state store or the cloud is touched.
    pub offline: fn() -> Registry,
    /// The providers connected to a region, with the notifier when the cloud has one.
    pub connect: fn(region: String) -> BoxFuture<'static, Connection>,
    /// The wave in which a sweep deletes a type (lower first); None for types the set
    /// does not know.
    pub sweep_rank: fn(&TypeToken) -> Option<u8>,
    /// What a sweep listing says about deleting a type ("detached from its VPC first").
    pub sweep_note: fn(&TypeToken) -> Option<&'static str>,
    /// The destroy flags this cloud understands.
    pub delete_overrides: &'static [DeleteOverride],
    /// Checks a notification destination before anything runs (an SNS topic ARN).
    pub check_topic: fn(&str) -> Result<(), String>,
}

impl ProviderSet {
    /// The override a destroy flag stands for, if this set has it.
    pub fn delete_override(&self, flag: &str) -> Option<DeleteOverride> {
        self.delete_overrides.iter().find(|o| o.flag == flag).copied()
    }
}

impl std::fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSet")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Providers connected to a region.
pub struct Connection {
    pub registry: Registry,
    pub notifier: Option<Arc<dyn Notifier>>,
    /// Checks, with one call, that the cloud answers and accepts the credentials.
    pub identity: Option<Arc<dyn Identity>>,
}

/// Who the connection acts as. Commands that call the cloud check it first, so that an
/// unreachable endpoint or refused credentials fail at once and once, naming the
/// endpoint, instead of once per resource after every retry.
#[async_trait]
pub trait Identity: Send + Sync {
    /// Who the calls act as ("account 123456789012 as arn:... at ENDPOINT"), or why the
    /// cloud cannot be used (kind [`crate::ErrorKind::Unreachable`] or
    /// [`crate::ErrorKind::AccessDenied`]).
    async fn check(&self) -> Result<String, ProviderError>;
}

/// Sends a short message to people (an SNS topic).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn publish(&self, topic: &str, subject: &str, message: &str) -> Result<(), ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &TypeToken) -> Option<u8> {
        None
    }

    #[test]
    fn a_flag_finds_its_override_and_an_unknown_flag_none() {
        static OVERRIDES: [DeleteOverride; 1] = [DeleteOverride {
            flag: "empty-buckets",
            ty: "aws:s3:Bucket",
            key: "force_destroy",
        }];
        let set = ProviderSet {
            name: "test",
            offline: Registry::new,
            connect: |_| {
                Box::pin(async {
                    Connection {
                        registry: Registry::new(),
                        notifier: None,
                        identity: None,
                    }
                })
            },
            sweep_rank: none,
            sweep_note: |_| None,
            delete_overrides: &OVERRIDES,
            check_topic: |_| Ok(()),
        };
        assert_eq!(
            set.delete_override("empty-buckets").map(|o| o.key),
            Some("force_destroy")
        );
        assert_eq!(set.delete_override("skip-final-snapshot"), None);
        assert!(format!("{set:?}").contains("test"));
    }
}
