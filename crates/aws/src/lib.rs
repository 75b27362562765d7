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

pub mod autoscaling;
mod batch;
pub mod cloudwatch;
mod common;
pub mod dynamodb;
pub mod ec2;
pub mod efs;
pub mod elbv2;
mod error;
pub mod iam;
pub mod logs;
pub mod lookups;
mod pace;
mod props;
pub mod rds;
pub mod s3;
pub mod sns;
pub mod sweep;
mod tagging;
mod tags;

use stackup_provider::{ProviderError, Registry};

pub use error::classify;
pub use pace::Pacer;

/// The SDK clients of one run, built from one `SdkConfig`.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub efs: aws_sdk_efs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
    pub ssm: aws_sdk_ssm::Client,
    /// The Resource Groups Tagging API: the stack's objects by tag, one call for the
    /// types listed at the same time.
    pub tagging: tagging::StackIndex,
    /// Who the run acts as, asked once before the first call that matters, with few
    /// retries and short timeouts of its own.
    pub sts: aws_sdk_sts::Client,
    /// Where the calls go: `AWS_ENDPOINT_URL`, or AWS's own endpoint for the region.
    pub endpoint: String,
    /// The rate limiter every call of these clients goes through (see `pace.rs`).
    pub pacer: std::sync::Arc<Pacer>,
}

impl AwsClients {
    /// Clients whose calls are paced at AWS's published rate limits.
    pub fn new(config: &aws_config::SdkConfig) -> AwsClients {
        AwsClients::paced(config, Pacer::published())
    }

    /// Clients whose calls go through `pacer`: `Pacer::scaled(0.0)` for a server
    /// without limits, a scaled one for a benchmark whose limits refill faster.
    pub fn paced(config: &aws_config::SdkConfig, pacer: Pacer) -> AwsClients {
        let pacer = std::sync::Arc::new(pacer);
        let inner = config.http_client().unwrap_or_else(pace::default_http_client);
        let config = &config
            .to_builder()
            .http_client(pace::paced_http_client(inner, pacer.clone()))
            .build();
        AwsClients {
            pacer,
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            efs: aws_sdk_efs::Client::new(config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            // Path-style addressing works against any endpoint, including a local one.
            s3: aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build()),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            tagging: tagging::StackIndex::new(aws_sdk_resourcegroupstagging::Client::new(config)),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config)
                    .retry_config(aws_sdk_sts::config::retry::RetryConfig::standard().with_max_attempts(2))
                    .timeout_config(
                        aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                            .connect_timeout(std::time::Duration::from_secs(5))
                            .operation_timeout(std::time::Duration::from_secs(20))
                            .build(),
                    )
                    .build(),
            ),
            endpoint: config.endpoint_url().map(str::to_string).unwrap_or_else(|| {
                let region = config
                    .region()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "us-east-1".into());
                format!("https://sts.{region}.amazonaws.com")
            }),
        }
    }

    /// Loads the standard AWS configuration (environment, profiles, `AWS_ENDPOINT_URL`)
    /// for `region`.
    pub async fn load(region: &str) -> AwsClients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()));
        // Unless the user configured retries (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE), use the
        // SDK's adaptive mode: a client-side token bucket per service client that slows
        // down when AWS throttles, so one run stays within the account's rate limits
        // instead of burning retries, and enough attempts to ride out throttling bursts
        // and 5xx.
        let configured = std::env::var_os("AWS_MAX_ATTEMPTS").is_some() || std::env::var_os("AWS_RETRY_MODE").is_some();
        if !configured {
            loader = loader.retry_config(retry_config());
        }
        let config = loader.load().await;
        AwsClients::new(&config)
    }
}

/// How stackup's clients retry unless the user configured it: the SDK's adaptive mode
/// (see [`AwsClients::load`]), 10 attempts, backoff from 0.2 s up to 20 s.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::adaptive()
        .with_max_attempts(10)
        .with_initial_backoff(std::time::Duration::from_millis(200))
        .with_max_backoff(std::time::Duration::from_secs(20))
}

/// Every AWS provider, registered by type, and every lookup.
pub fn registry(clients: &AwsClients) -> Registry {
    let mut r = Registry::new();
    let all = [
        autoscaling::providers(clients),
        cloudwatch::providers(clients),
        dynamodb::providers(clients),
        ec2::providers(clients),
        efs::providers(clients),
        elbv2::providers(clients),
        iam::providers(clients),
        logs::providers(clients),
        rds::providers(clients),
        s3::providers(clients),
        sns::providers(clients),
    ];
    for p in all.into_iter().flatten() {
        r.register(p);
    }
    for l in lookups::lookups(clients) {
        r.register_lookup(l);
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

/// The AWS providers as the command line registers them: `stackup_cli::main(programs,
/// vec![stackup_aws::PROVIDERS])`.
pub const PROVIDERS: stackup_provider::ProviderSet = stackup_provider::ProviderSet {
    name: "aws",
    offline: offline_registry,
    connect,
    sweep_rank: |ty| sweep::deletion_rank(ty.as_str()),
    sweep_note: |ty| sweep::note(ty.as_str()),
    delete_overrides: &DELETE_OVERRIDES,
    check_topic,
};

static DELETE_OVERRIDES: [stackup_provider::DeleteOverride; 2] = [
    stackup_provider::DeleteOverride {
        flag: "empty-buckets",
        ty: <s3::BucketArgs as stackup_model::ResourceArgs>::TYPE,
        key: "force_destroy",
    },
    stackup_provider::DeleteOverride {
        flag: "skip-final-snapshot",
        ty: <rds::DbInstanceArgs as stackup_model::ResourceArgs>::TYPE,
        key: "skip_final_snapshot",
    },
];

fn connect(region: String) -> stackup_provider::BoxFuture<'static, stackup_provider::Connection> {
    Box::pin(async move {
        let clients = AwsClients::load(&region).await;
        let clients = std::sync::Arc::new(clients);
        stackup_provider::Connection {
            registry: registry(&clients),
            notifier: Some(clients.clone()),
            identity: Some(clients),
        }
    })
}

/// Publishes to an SNS topic (`diff --notify-topic`): the one AWS call stackup makes
/// that is not a resource's, kept here with the others.
#[async_trait::async_trait]
impl stackup_provider::Notifier for AwsClients {
    async fn publish(&self, topic: &str, subject: &str, message: &str) -> Result<(), ProviderError> {
        self.sns
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("Publish", e))
    }
}

/// STS GetCallerIdentity, the check Terraform's provider also makes before anything
/// else: it needs no permission, so it fails only for the reasons every call would.
#[async_trait::async_trait]
impl stackup_provider::Identity for AwsClients {
    async fn check(&self) -> Result<String, ProviderError> {
        use stackup_provider::ErrorKind;
        match self.sts.get_caller_identity().send().await {
            Ok(who) => Ok(format!(
                "account {} as {} at {}",
                who.account().unwrap_or("?"),
                who.arn().unwrap_or("?"),
                self.endpoint
            )),
            Err(e) => {
                let e = classify("GetCallerIdentity", e);
                let why = e.message.trim_start_matches("GetCallerIdentity: ");
                let message = if why.contains("loading credentials")
                    || why.contains("no credentials")
                    || why.contains("credential provider")
                {
                    let why = why.trim_start_matches("dispatch failure: other: ");
                    format!(
                        "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a role provides them ({why})"
                    )
                } else if e.kind == ErrorKind::Unreachable && e.code.is_some() {
                    format!("AWS at {} refused the credentials: {why}", self.endpoint)
                } else {
                    format!(
                        "cannot reach AWS at {} (set by AWS_ENDPOINT_URL, or the region's own endpoint): {why}",
                        self.endpoint
                    )
                };
                Err(ProviderError { message, ..e })
            }
        }
    }
}

/// `diff --notify-topic` takes an SNS topic ARN.
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.starts_with("arn:aws:sns:") && topic.split(':').count() == 6 {
        Ok(())
    } else {
        Err(format!(
            "{topic}: not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ))
    }
}
