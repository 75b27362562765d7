//! `aws:efs:AccessPoint`: an application's entry into a file system, as a fixed POSIX
//! user, rooted at a directory EFS creates with the given owner and permissions.
//!
//! Nothing but tags can change in place.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_efs::types::{AccessPointDescription, CreationInfo, LifeCycleState, PosixUser, RootDirectory};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{efs_error, efs_tags, live_tags, read_children, tag_map, update_tags, EFS_PATIENCE};
use crate::common::{client_token, failure, found, ok_if_gone};
use crate::props::{int_of, props, str_of};
use crate::tags;

/// The type token of an EFS access point.
pub const TYPE: &str = "aws:efs:AccessPoint";

/// The longest client token EFS accepts.
const CLIENT_TOKEN_MAX: usize = 64;

/// The longest root directory path EFS accepts.
const PATH_MAX: usize = 100;

/// Arguments of an EFS access point.
#[derive(Clone, Debug)]
pub struct AccessPointArgs {
    pub file_system_id: Input<String>,
    /// The POSIX user and group every request through the access point runs as; also
    /// the owner of the root directory EFS creates.
    pub uid: i64,
    pub gid: i64,
    /// The root directory, e.g. `/uploads`.
    pub path: String,
    /// The root directory's octal permissions when EFS creates it, e.g. `755`.
    pub permissions: String,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for AccessPointArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticfilesystem:CreateAccessPoint",
        "elasticfilesystem:DescribeAccessPoints",
        "elasticfilesystem:DeleteAccessPoint",
        "elasticfilesystem:TagResource",
        "elasticfilesystem:UntagResource",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("file_system_id", self.file_system_id.into()),
            ("uid", self.uid.into()),
            ("gid", self.gid.into()),
            ("path", self.path.into()),
            ("permissions", self.permissions.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:efs:AccessPoint`.
pub struct AccessPoint {
    efs: aws_sdk_efs::Client,
    schema: Schema,
}

impl AccessPoint {
    /// A provider calling EFS through `efs`.
    pub fn new(efs: aws_sdk_efs::Client) -> AccessPoint {
        AccessPoint {
            efs,
            schema: Schema::new(TYPE, &["file_system_id", "uid", "gid", "path", "permissions"]),
        }
    }

    /// The access point `id`, or None when it does not exist.
    async fn describe(&self, id: &str) -> Result<Option<AccessPointDescription>, ProviderError> {
        let out = self.efs.describe_access_points().access_point_id(id).send().await;
        Ok(found(out.map_err(|e| efs_error("DescribeAccessPoints", e)))?
            .and_then(|out| out.access_points().first().cloned()))
    }

    /// Every access point of `file_system_id`; none when the file system is gone.
    async fn of_file_system(&self, file_system_id: &str) -> Result<Vec<AccessPointDescription>, ProviderError> {
        let listed = self
            .efs
            .describe_access_points()
            .file_system_id(file_system_id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        Ok(found(listed.map_err(|e| efs_error("DescribeAccessPoints", e)))?.unwrap_or_default())
    }

    async fn wait_available(&self, id: &str) -> Result<AccessPointDescription, ProviderError> {
        wait::until(&format!("access point {id}"), "available", EFS_PATIENCE, || async {
            Ok(match self.describe(id).await? {
                // Not visible yet right after its create (eventual consistency): the
                // poller counts "not found" as pending for a grace period.
                None => return Err(ProviderError::new(ErrorKind::NotFound, format!("{id} is not listed"))),
                Some(ap) => match ap.life_cycle_state() {
                    Some(LifeCycleState::Available) => Poll::Ready(ap),
                    Some(LifeCycleState::Creating | LifeCycleState::Updating) | None => {
                        Poll::Pending(ap.life_cycle_state().map_or("unknown", |s| s.as_str()).to_string())
                    }
                    Some(other) => Poll::Failed(format!("state {}", other.as_str())),
                },
            })
        })
        .await
    }
}

fn outputs(ap: &AccessPointDescription) -> Properties {
    props([
        ("id", ap.access_point_id().unwrap_or_default().into()),
        ("arn", ap.access_point_arn().unwrap_or_default().into()),
    ])
}

fn is_gone(ap: &AccessPointDescription) -> bool {
    matches!(
        ap.life_cycle_state(),
        Some(LifeCycleState::Deleting | LifeCycleState::Deleted)
    )
}

/// The live resource an access point is, as read and list report it.
fn live(urn: Urn, ap: &AccessPointDescription) -> LiveResource {
    let user = ap.posix_user();
    let root = ap.root_directory();
    let info = root.and_then(|r| r.creation_info());
    LiveResource {
        urn,
        id: ap.access_point_id().unwrap_or_default().to_string(),
        inputs: props([
            ("file_system_id", ap.file_system_id().unwrap_or_default().into()),
            ("uid", user.map_or(Value::Null, |u| u.uid().into())),
            ("gid", user.map_or(Value::Null, |u| u.gid().into())),
            (
                "path",
                normalise_path(root.and_then(|r| r.path()).unwrap_or("/")).into(),
            ),
            ("permissions", info.map_or(Value::Null, |i| i.permissions().into())),
            ("tags", live_tags(ap.tags())),
        ]),
        outputs: outputs(ap),
    }
}

/// A path without trailing slashes (the root stays `/`).
fn normalise_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

#[async_trait]
impl Provider for AccessPoint {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        for key in ["uid", "gid"] {
            if !int_of(&inputs, key).is_some_and(|n| (0..=i64::from(u32::MAX)).contains(&n)) {
                failures.push(failure(key, "must be a POSIX id from 0 to 4294967295"));
            }
        }
        match inputs.get("path").and_then(Value::as_str) {
            Some(p) if p.starts_with('/') && p.len() <= PATH_MAX && !p.contains("//") => {
                let p = normalise_path(p);
                inputs.insert("path".into(), Value::String(p));
            }
            _ => failures.push(failure(
                "path",
                format!("must be an absolute path of at most {PATH_MAX} characters, e.g. /uploads"),
            )),
        }
        let permissions_ok = inputs
            .get("permissions")
            .and_then(Value::as_str)
            .is_some_and(|p| (3..=4).contains(&p.len()) && p.bytes().all(|b| (b'0'..=b'7').contains(&b)));
        if !permissions_ok {
            failures.push(failure("permissions", "must be 3 or 4 octal digits, e.g. 755"));
        }
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let file_system_id = str_of(&req.inputs, "file_system_id")?;
        let int = |key: &str| {
            int_of(&req.inputs, key).ok_or_else(|| ProviderError::invalid(format!("input '{key}' must be a number")))
        };
        let (uid, gid) = (int("uid")?, int("gid")?);
        let token = client_token(&req.token, CLIENT_TOKEN_MAX);
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let user = PosixUser::builder()
            .uid(uid)
            .gid(gid)
            .build()
            .map_err(|e| ProviderError::invalid(format!("POSIX user: {e}")))?;
        let info = CreationInfo::builder()
            .owner_uid(uid)
            .owner_gid(gid)
            .permissions(str_of(&req.inputs, "permissions")?)
            .build()
            .map_err(|e| ProviderError::invalid(format!("root directory: {e}")))?;
        let root = RootDirectory::builder()
            .path(str_of(&req.inputs, "path")?)
            .creation_info(info)
            .build();
        let created = self
            .efs
            .create_access_point()
            .client_token(&token)
            .file_system_id(file_system_id)
            .posix_user(user)
            .root_directory(root)
            .set_tags(Some(efs_tags(&tags)?))
            .send()
            .await;
        let id = match created {
            Ok(out) => out
                .access_point_id()
                .ok_or_else(|| ProviderError::invalid("CreateAccessPoint returned no id"))?
                .to_string(),
            Err(e) => {
                let e = efs_error("CreateAccessPoint", e);
                if e.code.as_deref() != Some("AccessPointAlreadyExists") {
                    return Err(e);
                }
                // An earlier attempt with this token succeeded: that access point is ours.
                self.of_file_system(file_system_id)
                    .await?
                    .iter()
                    .find(|ap| ap.client_token() == Some(token.as_str()) && !is_gone(ap))
                    .and_then(|ap| ap.access_point_id())
                    .map(str::to_string)
                    .ok_or(e)?
            }
        };
        let ap = self.wait_available(&id).await.map_err(|e| e.created(&id))?;
        Ok(CreateResponse {
            outputs: outputs(&ap),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        // One DescribeAccessPoints per file system; targets with no recorded file system
        // are asked for by id.
        let described = read_children(
            &req.targets,
            AccessPointDescription::access_point_id,
            |fs| async move { self.of_file_system(&fs).await },
            |id| async move { self.describe(&id).await },
        )
        .await?;
        let found = described
            .into_iter()
            .filter(|(_, ap)| !is_gone(ap))
            .map(|(n, ap)| live(req.targets[n].urn.clone(), &ap))
            .collect();
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        update_tags(&self.efs, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        ok_if_gone(
            self.efs
                .delete_access_point()
                .access_point_id(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| efs_error("DeleteAccessPoint", e)),
        )?;
        wait::until(&format!("access point {}", req.id), "deleted", EFS_PATIENCE, || async {
            Ok(match self.describe(&req.id).await? {
                None => Poll::Ready(()),
                Some(ap) if ap.life_cycle_state() == Some(&LifeCycleState::Deleted) => Poll::Ready(()),
                Some(ap) => Poll::Pending(ap.life_cycle_state().map_or("unknown", |s| s.as_str()).to_string()),
            })
        })
        .await
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // Without a file system or access point id, DescribeAccessPoints lists every
        // access point of the account, each with its tags.
        let all: Vec<AccessPointDescription> = self
            .efs
            .describe_access_points()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| efs_error("DescribeAccessPoints", e))?;
        let found = all
            .iter()
            .filter(|ap| !is_gone(ap))
            .filter_map(|ap| {
                let id = ap.access_point_id()?;
                let urn = req.urn_of(id, || tags::listed_urn(&req.stack, TYPE, id, &tag_map(ap.tags())))?;
                Some(live(urn, ap))
            })
            .collect();
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }
}
