//! `aws:s3:Bucket`: a bucket with its versioning, default encryption, public access
//! block, optional static website, and tags.
//!
//! A website bucket also gets a policy letting everyone read its objects, which needs
//! the public access block off (check refuses the combination). `force_destroy` only
//! steers stackup's own delete: without it, destroy refuses a bucket that holds
//! anything, before deleting anything.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete, ErrorDocument, IndexDocument,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
    WebsiteConfiguration,
};
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FindRequest, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use crate::common::failure;
use crate::props::{bool_of, props, str_of};
use crate::{classify, tags};

/// The type token of an S3 bucket.
pub const TYPE: &str = "aws:s3:Bucket";

/// How long S3 may take to show a new bucket or to forget a deleted one: usually a
/// moment, so poll at most every 2 seconds.
/// How long CreateBucket is retried while S3 answers OperationAborted for a name that
/// was deleted moments ago (terraform-provider-aws retries for its create timeout).
const NAME_REUSE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

const BUCKET_PATIENCE: Patience = Patience::new(120, 2);

/// The most keys one DeleteObjects call takes.
const DELETE_BATCH: i32 = 1000;

/// The encryption S3 applies to every object when a bucket has no configuration.
const DEFAULT_ENCRYPTION: &str = "AES256";

/// A bucket's static website.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Website {
    /// The object served for a directory, e.g. `index.html`.
    pub index_document: String,
    /// The object served on an error, e.g. `error.html`; empty for none.
    pub error_document: String,
}

impl From<Website> for Value {
    fn from(w: Website) -> Value {
        Value::Map(props([
            ("index_document", w.index_document.into()),
            ("error_document", w.error_document.into()),
        ]))
    }
}

/// Arguments of an S3 bucket.
#[derive(Clone, Debug)]
pub struct BucketArgs {
    /// The globally unique bucket name.
    pub name: String,
    pub versioning: bool,
    /// Default encryption: `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub encryption: String,
    /// All four public access block flags.
    pub block_public_access: bool,
    pub website: Option<Website>,
    /// Let destroy delete every object and version (stackup-side setting).
    pub force_destroy: bool,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for BucketArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "s3:CreateBucket",
        "s3:ListBucket",
        "s3:DeleteBucket",
        "s3:GetBucketVersioning",
        "s3:PutBucketVersioning",
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketWebsite",
        "s3:PutBucketWebsite",
        "s3:DeleteBucketWebsite",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:GetBucketTagging",
        "s3:PutBucketTagging",
        "s3:TagResource",
        "s3:ListBucketVersions",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("versioning", self.versioning.into()),
            ("encryption", self.encryption.into()),
            ("block_public_access", self.block_public_access.into()),
            ("website", self.website.map_or(Value::Null, Value::from)),
            ("force_destroy", self.force_destroy.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:s3:Bucket`.
pub struct Bucket {
    s3: aws_sdk_s3::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

/// Classifies an S3 error; S3's codes (`NoSuchBucket`, ...) do not follow the shared
/// naming.
fn s3_error<E, R>(action: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let mut e = classify(action, err);
    match e.code.as_deref() {
        Some("NoSuchBucket") => e.kind = ErrorKind::NotFound,
        Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists") => e.kind = ErrorKind::Conflict,
        Some("BucketNotEmpty") => e.kind = ErrorKind::DependencyViolation,
        _ => {}
    }
    e
}

/// True when `e` says the bucket itself does not exist.
fn no_bucket(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("NoSuchBucket")
}

/// Maps "this configuration is not set" to `unset`; other errors pass.
fn unset_or<T>(e: ProviderError, code: &str, unset: T) -> Result<T, ProviderError> {
    if e.code.as_deref() == Some(code) {
        Ok(unset)
    } else {
        Err(e)
    }
}

/// The live configuration of one bucket.
struct LiveBucket {
    versioning: bool,
    encryption: String,
    /// The four public access block flags.
    block: [bool; 4],
    website: Value,
    tags: Vec<Tag>,
}

impl Bucket {
    /// A provider calling S3 through `s3`.
    pub fn new(s3: aws_sdk_s3::Client, tagging: crate::tagging::StackIndex) -> Bucket {
        Bucket {
            s3,
            tagging,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    fn region(&self) -> String {
        self.s3
            .config()
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string())
    }

    /// Polls HeadBucket until it finds the bucket or, with `deleting`, until it answers
    /// not found. As with the SDK's waiters, not found is pending while waiting for a
    /// new bucket, and any other refusal (403, ...) ends the wait unless retryable.
    async fn wait(&self, name: &str, deleting: bool) -> Result<(), ProviderError> {
        let state = if deleting { "deleted" } else { "visible" };
        wait::until(&format!("bucket {name}"), state, BUCKET_PATIENCE, || async {
            match self.s3.head_bucket().bucket(name).send().await {
                Ok(_) if deleting => Ok(Poll::Pending("still found".to_string())),
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(if deleting {
                    Poll::Ready(())
                } else {
                    Poll::Pending("not found yet".to_string())
                }),
                Err(e) => Err(s3_error("HeadBucket", e)),
            }
        })
        .await
    }

    fn outputs(&self, name: &str, inputs: &Properties) -> Properties {
        let has_website = inputs.get("website").is_some_and(|w| !matches!(w, Value::Null));
        props([
            ("id", name.into()),
            ("name", name.into()),
            ("arn", format!("arn:aws:s3:::{name}").into()),
            (
                "website_endpoint",
                if has_website {
                    website_endpoint(name, &self.region()).into()
                } else {
                    Value::Null
                },
            ),
        ])
    }

    async fn versioning(&self, name: &str) -> Result<bool, ProviderError> {
        // Never versioned (no status) and Suspended both mean new objects get no versions.
        Ok(self.versioning_status(name).await?.as_deref() == Some("Enabled"))
    }

    /// The bucket's versioning status as S3 spells it (`Enabled`, `Suspended`), or None
    /// when versioning was never configured.
    async fn versioning_status(&self, name: &str) -> Result<Option<String>, ProviderError> {
        match self.s3.get_bucket_versioning().bucket(name).send().await {
            Ok(out) => Ok(out.status().map(|s| s.as_str().to_string())),
            Err(e) => match versioning_status_from_raw(&e) {
                Some(status) => Ok(status),
                None => Err(s3_error("GetBucketVersioning", e)),
            },
        }
    }

    async fn encryption(&self, name: &str) -> Result<String, ProviderError> {
        match self.s3.get_bucket_encryption().bucket(name).send().await {
            Ok(out) => Ok(out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map_or(DEFAULT_ENCRYPTION, |d| d.sse_algorithm().as_str())
                .to_string()),
            // S3 encrypts every object with SSE-S3 when the bucket sets nothing.
            Err(e) => unset_or(
                s3_error("GetBucketEncryption", e),
                "ServerSideEncryptionConfigurationNotFoundError",
                DEFAULT_ENCRYPTION.to_string(),
            ),
        }
    }

    async fn public_access_block(&self, name: &str) -> Result<[bool; 4], ProviderError> {
        match self.s3.get_public_access_block().bucket(name).send().await {
            Ok(out) => {
                let c = out.public_access_block_configuration();
                let flag = |f: fn(&PublicAccessBlockConfiguration) -> Option<bool>| c.and_then(f).unwrap_or(false);
                Ok([
                    flag(PublicAccessBlockConfiguration::block_public_acls),
                    flag(PublicAccessBlockConfiguration::ignore_public_acls),
                    flag(PublicAccessBlockConfiguration::block_public_policy),
                    flag(PublicAccessBlockConfiguration::restrict_public_buckets),
                ])
            }
            Err(e) => unset_or(
                s3_error("GetPublicAccessBlock", e),
                "NoSuchPublicAccessBlockConfiguration",
                [false; 4],
            ),
        }
    }

    async fn website(&self, name: &str) -> Result<Value, ProviderError> {
        match self.s3.get_bucket_website().bucket(name).send().await {
            Ok(out) => Ok(Website {
                index_document: out.index_document().map(|d| d.suffix().to_string()).unwrap_or_default(),
                error_document: out.error_document().map(|d| d.key().to_string()).unwrap_or_default(),
            }
            .into()),
            Err(e) => unset_or(
                s3_error("GetBucketWebsite", e),
                "NoSuchWebsiteConfiguration",
                Value::Null,
            ),
        }
    }

    async fn tags(&self, name: &str) -> Result<Vec<Tag>, ProviderError> {
        match self.s3.get_bucket_tagging().bucket(name).send().await {
            Ok(out) => Ok(out.tag_set().to_vec()),
            Err(e) => unset_or(s3_error("GetBucketTagging", e), "NoSuchTagSet", Vec::new()),
        }
    }

    /// The bucket's configuration, or None when the bucket does not exist. `tags` are
    /// the bucket's tags when the caller has just read them (a listing), else read here.
    async fn describe(&self, name: &str, tags: Option<Vec<Tag>>) -> Result<Option<LiveBucket>, ProviderError> {
        // S3 has no batch form: five reads per bucket, at once.
        let read = tokio::try_join!(
            self.versioning(name),
            self.encryption(name),
            self.public_access_block(name),
            self.website(name),
            async {
                match tags {
                    Some(tags) => Ok(tags),
                    None => self.tags(name).await,
                }
            },
        );
        match read {
            Ok((versioning, encryption, block, website, tags)) => Ok(Some(LiveBucket {
                versioning,
                encryption,
                block,
                website,
                tags,
            })),
            Err(e) if no_bucket(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put_versioning(&self, name: &str, enabled: bool) -> Result<(), ProviderError> {
        let status = if enabled {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        self.s3
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| s3_error("PutBucketVersioning", e))?;
        Ok(())
    }

    async fn put_encryption(&self, name: &str, algorithm: &str) -> Result<(), ProviderError> {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(algorithm))
            .build()
            .map_err(|e| ProviderError::invalid(format!("encryption of bucket {name}: {e}")))?;
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .build(),
            )
            .build()
            .map_err(|e| ProviderError::invalid(format!("encryption of bucket {name}: {e}")))?;
        self.s3
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(|e| s3_error("PutBucketEncryption", e))?;
        Ok(())
    }

    async fn put_public_access_block(&self, name: &str, block: bool) -> Result<(), ProviderError> {
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(block)
            .ignore_public_acls(block)
            .block_public_policy(block)
            .restrict_public_buckets(block)
            .build();
        self.s3
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| s3_error("PutPublicAccessBlock", e))?;
        Ok(())
    }

    /// Serves the bucket as a website, readable by everyone.
    async fn put_website(&self, name: &str, website: &Properties) -> Result<(), ProviderError> {
        let index = website
            .get("index_document")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let error = website
            .get("error_document")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut config = WebsiteConfiguration::builder().index_document(
            IndexDocument::builder()
                .suffix(index)
                .build()
                .map_err(|e| ProviderError::invalid(format!("website of bucket {name}: {e}")))?,
        );
        if !error.is_empty() {
            config = config.error_document(
                ErrorDocument::builder()
                    .key(error)
                    .build()
                    .map_err(|e| ProviderError::invalid(format!("website of bucket {name}: {e}")))?,
            );
        }
        self.s3
            .put_bucket_website()
            .bucket(name)
            .website_configuration(config.build())
            .send()
            .await
            .map_err(|e| s3_error("PutBucketWebsite", e))?;
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "PublicReadForWebsite",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::{name}/*"),
            }],
        });
        self.s3
            .put_bucket_policy()
            .bucket(name)
            .policy(policy.to_string())
            .send()
            .await
            .map_err(|e| s3_error("PutBucketPolicy", e))?;
        Ok(())
    }

    /// Stops serving the bucket as a website and removes the public-read policy.
    async fn delete_website(&self, name: &str) -> Result<(), ProviderError> {
        self.s3
            .delete_bucket_website()
            .bucket(name)
            .send()
            .await
            .map_err(|e| s3_error("DeleteBucketWebsite", e))?;
        self.s3
            .delete_bucket_policy()
            .bucket(name)
            .send()
            .await
            .map_err(|e| s3_error("DeleteBucketPolicy", e))?;
        Ok(())
    }

    async fn put_tags(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tagging = Tagging::builder()
            .set_tag_set(Some(s3_tags(tags)?))
            .build()
            .map_err(|e| ProviderError::invalid(format!("tags of bucket {name}: {e}")))?;
        self.s3
            .put_bucket_tagging()
            .bucket(name)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| s3_error("PutBucketTagging", e))?;
        Ok(())
    }

    /// The live resource a bucket is, as read and list report it. `recorded` are its
    /// inputs in state (empty for a listed bucket that has none): `force_destroy` is
    /// stackup's own setting, not the bucket's.
    fn live(&self, urn: Urn, name: &str, live: LiveBucket, recorded: &Properties) -> LiveResource {
        let recorded_block = bool_of(recorded, "block_public_access");
        // One declared flag stands for four: a mix shows as the opposite of the
        // record, so that the next update writes all four again.
        let block = if live.block.iter().all(|b| *b) {
            true
        } else if live.block.iter().all(|b| !*b) {
            false
        } else {
            !recorded_block
        };
        let inputs = props([
            ("name", name.into()),
            ("versioning", live.versioning.into()),
            ("encryption", live.encryption.into()),
            ("block_public_access", block.into()),
            ("website", live.website),
            (
                "force_destroy",
                recorded.get("force_destroy").cloned().unwrap_or(Value::Bool(false)),
            ),
            ("tags", live_tags(&live.tags)),
        ]);
        LiveResource {
            urn,
            id: name.to_string(),
            outputs: self.outputs(name, &inputs),
            inputs,
        }
    }

    /// Applies every declared setting to a new (or adopted) bucket.
    async fn configure(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
        inputs: &Properties,
    ) -> Result<(), ProviderError> {
        self.put_tags(name, tags).await?;
        if bool_of(inputs, "versioning") {
            self.put_versioning(name, true).await?;
        }
        self.put_encryption(name, str_of(inputs, "encryption")?).await?;
        // Before the website: its public policy needs the block off.
        self.put_public_access_block(name, bool_of(inputs, "block_public_access"))
            .await?;
        if let Some(website) = inputs.get("website").and_then(Value::as_map) {
            self.put_website(name, website).await?;
        }
        Ok(())
    }

    /// One page of the bucket's object versions and delete markers.
    async fn list_versions(
        &self,
        name: &str,
        key_marker: Option<String>,
        version_marker: Option<String>,
    ) -> Result<(Vec<ObjectIdentifier>, Option<(String, String)>), ProviderError> {
        let out = self
            .s3
            .list_object_versions()
            .bucket(name)
            .max_keys(DELETE_BATCH)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|e| s3_error("ListObjectVersions", e))?;
        let versions = out.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = out.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        let ids = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key?)
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        let next = match (out.is_truncated(), out.next_key_marker()) {
            (Some(true), Some(key)) => Some((key.to_string(), out.next_version_id_marker().unwrap_or("").to_string())),
            _ => None,
        };
        Ok((ids, next))
    }

    /// What the bucket holds: current objects, older versions and delete markers, all
    /// pages.
    async fn contents(&self, name: &str) -> Result<Contents, ProviderError> {
        let mut contents = Contents::default();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let out = self
                .s3
                .list_object_versions()
                .bucket(name)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| s3_error("ListObjectVersions", e))?;
            for v in out.versions() {
                if v.is_latest().unwrap_or(true) {
                    contents.objects += 1;
                } else {
                    contents.old_versions += 1;
                }
            }
            contents.delete_markers += out.delete_markers().len();
            match (out.is_truncated(), out.next_key_marker()) {
                (Some(true), Some(key)) => {
                    key_marker = Some(key.to_string());
                    version_marker = out
                        .next_version_id_marker()
                        .filter(|v| !v.is_empty())
                        .map(str::to_string);
                }
                _ => return Ok(contents),
            }
        }
    }

    /// Deletes every object version and delete marker, a batch at a time.
    async fn empty(&self, name: &str) -> Result<(), ProviderError> {
        // Version-specific deletes work the same on AWS whether versioning is enabled
        // or suspended; moto fails DeleteObjects with a 500 on a suspended bucket that
        // holds delete markers. The bucket is about to go, so enable it first.
        let suspended = self.versioning_status(name).await?.as_deref() == Some("Suspended");
        if suspended {
            self.put_versioning(name, true).await?;
        }
        loop {
            // Always the first page: what was deleted no longer lists.
            let (ids, _) = self.list_versions(name, None, None).await?;
            if ids.is_empty() {
                return Ok(());
            }
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| ProviderError::invalid(format!("emptying bucket {name}: {e}")))?;
            let out = self
                .s3
                .delete_objects()
                .bucket(name)
                .delete(delete)
                .send()
                .await
                .map_err(|e| s3_error("DeleteObjects", e))?;
            if let Some(err) = out.errors().first() {
                return Err(ProviderError::new(
                    ErrorKind::Other,
                    format!(
                        "emptying bucket {name}: {} of {} objects not deleted; {} (version {}): {}",
                        out.errors().len(),
                        out.errors().len() + out.deleted().len(),
                        err.key().unwrap_or("?"),
                        err.version_id().unwrap_or("null"),
                        err.message().or(err.code()).unwrap_or("no reason given"),
                    ),
                ));
            }
        }
    }
}

/// What a bucket holds, by kind: every kind keeps S3 from deleting the bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Contents {
    objects: usize,
    old_versions: usize,
    delete_markers: usize,
}

impl Contents {
    fn is_empty(&self) -> bool {
        self.objects + self.old_versions + self.delete_markers == 0
    }
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{}, {} and {}",
            plural(self.objects, "object", "objects"),
            plural(self.old_versions, "old version", "old versions"),
            plural(self.delete_markers, "delete marker", "delete markers")
        )
    }
}

/// Why a destroy may not delete bucket `name` holding `contents`.
fn not_empty_error(name: &str, contents: Contents) -> ProviderError {
    ProviderError::invalid(format!(
        "bucket {name} is not empty: it holds {contents}; set storage.force_destroy = true in the stack file \
         and run `stackup up` to let destroy empty it, or run destroy with --empty-buckets"
    ))
}

/// S3 tags from a tag map.
fn s3_tags(all: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags::build_all(all, |k, v| Tag::builder().key(k).value(v).build())
}

/// The live tags of a bucket, stackup's included.
fn tag_map(live: &[Tag]) -> BTreeMap<String, String> {
    tags::map(live.iter().map(|t| (t.key(), t.value())))
}

/// The live user tags (stackup's own removed) as a property value.
fn live_tags(live: &[Tag]) -> Value {
    tags::user_tags(live.iter().map(|t| (t.key(), t.value())))
}

/// The website endpoint of a bucket: older regions write `s3-website-<region>`, newer
/// ones `s3-website.<region>`.
fn website_endpoint(name: &str, region: &str) -> String {
    const DASH_REGIONS: &[&str] = &[
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "us-gov-west-1",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ];
    let separator = if DASH_REGIONS.contains(&region) { '-' } else { '.' };
    format!("{name}.s3-website{separator}{region}.amazonaws.com")
}

/// Why `name` is not a valid general purpose bucket name, if it is not.
fn bucket_name_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Some("must be 3 to 63 characters");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
    {
        return Some("may hold only lowercase letters, digits, periods and hyphens");
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge_ok(bytes[0]) || !edge_ok(bytes[bytes.len() - 1]) {
        return Some("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Some("must not hold two adjacent periods, nor a period next to a hyphen");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("must not be formatted as an IP address");
    }
    let reserved_prefix = ["xn--", "sthree-", "amzn-s3-demo-"];
    let reserved_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if reserved_prefix.iter().any(|p| name.starts_with(p)) || reserved_suffix.iter().any(|s| name.ends_with(s)) {
        return Some("uses a prefix or suffix S3 reserves");
    }
    None
}

#[async_trait]
impl Provider for Bucket {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        match inputs.get("name").and_then(Value::as_str) {
            Some(name) => {
                if let Some(problem) = bucket_name_problem(name) {
                    failures.push(failure("name", format!("'{name}' {problem}")));
                }
            }
            None => failures.push(failure("name", "must be a string")),
        }
        inputs.entry("versioning".into()).or_insert(Value::Bool(false));
        match inputs.get("encryption") {
            None | Some(Value::Null) => {
                inputs.insert("encryption".into(), DEFAULT_ENCRYPTION.into());
            }
            Some(Value::String(s)) if s.is_empty() => {
                inputs.insert("encryption".into(), DEFAULT_ENCRYPTION.into());
            }
            Some(Value::String(s)) if matches!(s.as_str(), "AES256" | "aws:kms" | "aws:kms:dsse") => {}
            Some(_) => failures.push(failure("encryption", "must be AES256, aws:kms or aws:kms:dsse")),
        }
        // New buckets block public access unless told otherwise.
        inputs.entry("block_public_access".into()).or_insert(Value::Bool(true));
        match inputs.get("website").cloned() {
            None | Some(Value::Null) => {
                inputs.insert("website".into(), Value::Null);
            }
            Some(Value::Map(mut w)) => {
                let index_ok = w
                    .get("index_document")
                    .and_then(Value::as_str)
                    .is_some_and(|i| !i.is_empty() && !i.contains('/'));
                if !index_ok {
                    failures.push(failure(
                        "website",
                        "index_document must name an object without a slash, e.g. index.html",
                    ));
                }
                match w.get("error_document") {
                    None | Some(Value::Null) => {
                        w.insert("error_document".into(), Value::String(String::new()));
                    }
                    Some(Value::String(_)) => {}
                    Some(_) => failures.push(failure("website", "error_document must be a string")),
                }
                if bool_of(&inputs, "block_public_access") {
                    failures.push(failure(
                        "website",
                        "a website must be public: set block_public_access = false, or remove the website",
                    ));
                }
                inputs.insert("website".into(), Value::Map(w));
            }
            Some(_) => failures.push(failure(
                "website",
                "must be a map {index_document, error_document} or null",
            )),
        }
        inputs.entry("force_destroy".into()).or_insert(Value::Bool(false));
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        // Bucket names are global. In us-east-1 CreateBucket succeeds again for a
        // bucket the account owns, so look first: adopt only a bucket an interrupted
        // run created for this resource.
        match self.s3.head_bucket().bucket(&name).send().await {
            Ok(_) => {
                let ours = tags::owned_by(&tag_map(&self.tags(&name).await?), &req.urn);
                if !ours {
                    return Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!(
                            "bucket {name} already exists in this account and was not created for {}",
                            req.urn
                        ),
                    ));
                }
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                let region = self.region();
                let mut config = CreateBucketConfiguration::builder().set_tags(Some(s3_tags(&tags)?));
                // us-east-1 takes no location constraint; every other region needs one.
                if region != "us-east-1" {
                    config = config.location_constraint(BucketLocationConstraint::from(region.as_str()));
                }
                let config = config.build();
                // A name deleted moments ago (this stack's own replacement or re-create)
                // is refused with OperationAborted until S3 has forgotten it; retried
                // as terraform-provider-aws does, within the create's patience.
                crate::ec2::retry_reporting(
                    &format!("bucket {name}: S3 is still releasing the name"),
                    NAME_REUSE_DEADLINE,
                    std::time::Duration::from_secs(3),
                    |e| e.code.as_deref() == Some("OperationAborted"),
                    || async {
                        self.s3
                            .create_bucket()
                            .bucket(&name)
                            .create_bucket_configuration(config.clone())
                            .send()
                            .await
                            .map_err(|e| s3_error("CreateBucket", e))
                    },
                )
                .await?;
            }
            Err(e) => {
                let forbidden = e.raw_response().is_some_and(|r| r.status().as_u16() == 403);
                if forbidden {
                    return Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!("bucket name {name} is taken by another account"),
                    ));
                }
                return Err(s3_error("HeadBucket", e));
            }
        }
        self.wait(&name, false).await?;
        // Tags again, as not every endpoint honours tags at creation.
        self.configure(&name, &tags, &req.inputs).await?;
        Ok(CreateResponse {
            outputs: self.outputs(&name, &req.inputs),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        for target in &req.targets {
            if let Some(live) = self.describe(&target.id, None).await? {
                found.push(self.live(target.urn.clone(), &target.id, live, &target.inputs));
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let name = req.id.as_str();
        let changed = |key: &str| crate::common::changed(&req.changed, key);
        let new = &req.new_inputs;
        if changed("versioning") {
            self.put_versioning(name, bool_of(new, "versioning")).await?;
        }
        if changed("encryption") {
            self.put_encryption(name, str_of(new, "encryption")?).await?;
        }
        let website = new.get("website").and_then(Value::as_map);
        // Order around the public access block: a website's public policy needs the
        // block off first, and the block may only come on once the policy is gone.
        if changed("website") && website.is_none() {
            self.delete_website(name).await?;
        }
        if changed("block_public_access") {
            self.put_public_access_block(name, bool_of(new, "block_public_access"))
                .await?;
        }
        if let Some(website) = website.filter(|_| changed("website")) {
            self.put_website(name, website).await?;
        }
        if changed("tags") {
            self.put_tags(name, &tags::with_stackup(&req.stack, &req.urn, new))
                .await?;
        }
        Ok(UpdateResponse {
            outputs: self.outputs(name, new),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let name = req.id.as_str();
        let emptied = if bool_of(&req.inputs, "force_destroy") {
            self.empty(name).await
        } else {
            match self.contents(name).await {
                Ok(c) if c.is_empty() => Ok(()),
                Ok(c) => return Err(not_empty_error(name, c)),
                Err(e) => Err(e),
            }
        };
        match emptied {
            Err(e) if no_bucket(&e) => return Ok(()),
            other => other?,
        }
        match self.s3.delete_bucket().bucket(name).send().await {
            Ok(_) => {}
            Err(e) => {
                let e = s3_error("DeleteBucket", e);
                if !no_bucket(&e) {
                    return Err(e);
                }
            }
        }
        self.wait(name, true).await?;
        Ok(())
    }

    /// An interrupted create: the journal shows this stack asked S3 for exactly this
    /// bucket name. It is ours if it carries our URN, or no tags at all: tags follow the
    /// create in a second call (moto ignores tags on CreateBucket), and a run can die in
    /// between. A bucket tagged for something else is never claimed.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let Some(name) = req.inputs.get("name").and_then(Value::as_str) else {
            return Ok(None);
        };
        let Some(live) = self.describe(name, None).await? else {
            return Ok(None);
        };
        let urn_tag = live
            .tags
            .iter()
            .find(|t| t.key() == stackup_model::URN_TAG)
            .map(|t| t.value());
        if live.tags.is_empty() || urn_tag == Some(req.urn.as_str()) {
            return Ok(Some(self.live(req.urn.clone(), name, live, &req.inputs)));
        }
        Ok(None)
    }

    /// A bucket holding anything (current objects, old versions, delete markers) may
    /// be deleted only when the stack allows emptying it (`force_destroy`, which
    /// `destroy --empty-buckets` sets for the run).
    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        if bool_of(&req.inputs, "force_destroy") {
            return Ok(());
        }
        match self.contents(&req.id).await {
            Ok(c) if c.is_empty() => Ok(()),
            Ok(c) => Err(not_empty_error(&req.id, c)),
            Err(e) if no_bucket(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // The stack's buckets by tag, in one paginated call (S3 itself would take a
        // GetBucketTagging per bucket of the account), then the reads of `read` for
        // those only. The Tagging API of this region lists this region's buckets.
        let tagged = self.tagging.objects(&req.stack, "s3").await?;
        let mut found = Vec::new();
        for object in &tagged {
            let Some(name) = object.arn.strip_prefix("arn:aws:s3:::") else {
                continue;
            };
            // A bucket without a tag set reads as no tags: not the stack's. One deleted
            // since the listing answers NoSuchBucket: gone.
            let Some(live_tags) = crate::common::found(self.tags(name).await)? else {
                continue;
            };
            let Some(urn) = req.urn_of(name, || tags::listed_urn(&req.stack, TYPE, name, &tag_map(&live_tags))) else {
                continue;
            };
            let Some(live) = self.describe(name, Some(live_tags)).await? else {
                continue;
            };
            let recorded = req.recorded(name).map(|t| t.inputs.clone()).unwrap_or_default();
            found.push(self.live(urn, name, live, &recorded));
        }
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }
}

/// moto (the test server) answers GetBucketVersioning with the root element
/// `GetBucketVersioningResponse` where S3 sends `VersioningConfiguration`, and the SDK
/// refuses the document as malformed. When a 200 answer failed to decode, read the
/// status from the raw body; any other failure stays an error.
fn versioning_status_from_raw<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<Option<String>> {
    let raw = err.raw_response()?;
    if raw.status().as_u16() != 200 {
        return None;
    }
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    if !body.contains("GetBucketVersioningResponse") {
        return None;
    }
    let status = body
        .split_once("<Status>")
        .and_then(|(_, rest)| rest.split_once("</Status>"))
        .map(|(status, _)| status.trim().to_string());
    Some(status)
}
