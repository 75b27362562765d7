//! `aws:iam:InstanceProfile`: the instance profile through which EC2 instances
//! (launch templates) take a role.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::client::Waiters;
use aws_sdk_iam::types::InstanceProfile as LiveProfile;
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource, Provider,
    ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    check_name, classify_iam, default_tags, iam_tags, live_tags, name_taken, owned_by, tag_changes, EXISTS_DEADLINE,
};
use crate::props::{props, str_of};
use crate::tags;

pub const TYPE: &str = "aws:iam:InstanceProfile";

/// Arguments of an instance profile.
#[derive(Clone, Debug)]
pub struct InstanceProfileArgs {
    pub name: String,
    /// The role instances launched with the profile take.
    pub role_name: Input<String>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for InstanceProfileArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "iam:CreateInstanceProfile",
        "iam:GetInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:TagInstanceProfile",
        "iam:UntagInstanceProfile",
        "iam:DeleteInstanceProfile",
        // Adding a role to a profile passes the role.
        "iam:PassRole",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("role_name", self.role_name.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The `aws:iam:InstanceProfile` provider.
pub struct InstanceProfile {
    iam: aws_sdk_iam::Client,
    schema: Schema,
}

impl InstanceProfile {
    /// A provider calling IAM through `iam`.
    pub fn new(iam: aws_sdk_iam::Client) -> InstanceProfile {
        InstanceProfile {
            iam,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// The live profile, or None when it does not exist.
    async fn get(&self, name: &str) -> Result<Option<LiveProfile>, ProviderError> {
        match self.iam.get_instance_profile().instance_profile_name(name).send().await {
            Ok(out) => Ok(out.instance_profile),
            Err(e) => match classify_iam("GetInstanceProfile", e) {
                e if e.kind == ErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Makes `role` (or no role) the profile's only role. A profile holds at most one
    /// role, so any other is removed before the declared one is added.
    async fn set_role(&self, name: &str, live: &LiveProfile, role: Option<&str>) -> Result<(), ProviderError> {
        for r in live.roles() {
            if Some(r.role_name()) == role {
                continue;
            }
            crate::common::ok_if_gone(
                self.iam
                    .remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(r.role_name())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify_iam("RemoveRoleFromInstanceProfile", e)),
            )?;
        }
        if let Some(role) = role.filter(|r| !live.roles().iter().any(|l| l.role_name() == *r)) {
            self.iam
                .add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(role)
                .send()
                .await
                .map_err(|e| classify_iam("AddRoleToInstanceProfile", e))?;
        }
        Ok(())
    }

    async fn sync_tags(
        &self,
        name: &str,
        stack: &str,
        urn: &Urn,
        old: &BTreeMap<String, String>,
        new: &Properties,
    ) -> Result<(), ProviderError> {
        let (set, removed) = tag_changes(stack, urn, old, new);
        if !removed.is_empty() {
            self.iam
                .untag_instance_profile()
                .instance_profile_name(name)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| classify_iam("UntagInstanceProfile", e))?;
        }
        self.iam
            .tag_instance_profile()
            .instance_profile_name(name)
            .set_tags(Some(iam_tags(&set)?))
            .send()
            .await
            .map_err(|e| classify_iam("TagInstanceProfile", e))?;
        Ok(())
    }

    async fn get_existing(&self, name: &str) -> Result<LiveProfile, ProviderError> {
        self.get(name)
            .await?
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("instance profile {name} is gone")))
    }
}

fn outputs(name: &str, arn: &str) -> Properties {
    props([("id", name.into()), ("name", name.into()), ("arn", arn.into())])
}

#[async_trait]
impl Provider for InstanceProfile {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, "name", 128, &mut failures);
        check_name(&inputs, "role_name", 64, &mut failures);
        default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        let role = str_of(&req.inputs, "role_name")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let created = self
            .iam
            .create_instance_profile()
            .instance_profile_name(&name)
            .set_tags(Some(iam_tags(&tags)?))
            .send()
            .await
            .map_err(|e| classify_iam("CreateInstanceProfile", e));
        let live = match created {
            Ok(out) => out
                .instance_profile
                .ok_or_else(|| ProviderError::invalid("CreateInstanceProfile returned no instance profile"))?,
            // IAM has no idempotency token: a profile an interrupted run created carries
            // our URN tag, and is taken over and brought to the declared state.
            Err(e) if e.kind == ErrorKind::Conflict => {
                let live = self.get(&name).await?.ok_or(e)?;
                if !owned_by(live.tags(), &req.urn) {
                    return Err(name_taken("instance profile", &name, &req.urn));
                }
                let old = live_tags(live.tags()).string_map();
                self.sync_tags(&name, &req.stack, &req.urn, &old, &req.inputs).await?;
                live
            }
            Err(e) => return Err(e),
        };
        self.set_role(&name, &live, Some(role)).await?;
        self.iam
            .wait_until_instance_profile_exists()
            .instance_profile_name(&name)
            .wait(EXISTS_DEADLINE)
            .await
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::Transient,
                    format!("waiting for instance profile {name}: {e}"),
                )
            })?;
        Ok(CreateResponse {
            outputs: outputs(&name, live.arn()),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // IAM has no batch form of GetInstanceProfile.
        for t in &req.targets {
            let Some(p) = self.get(&t.id).await? else {
                continue;
            };
            // A profile holds at most one role; none reads as null.
            let role = p.roles().first().map_or(Value::Null, |r| r.role_name().into());
            found.push(LiveResource {
                urn: t.urn.clone(),
                id: t.id.clone(),
                inputs: props([
                    ("name", p.instance_profile_name().into()),
                    ("role_name", role),
                    ("tags", live_tags(p.tags())),
                ]),
                outputs: outputs(p.instance_profile_name(), p.arn()),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "role_name") {
            // From the live roles rather than the recorded one, which may be stale.
            let live = self.get_existing(&req.id).await?;
            self.set_role(&req.id, &live, Some(str_of(&req.new_inputs, "role_name")?))
                .await?;
        }
        if crate::common::changed(&req.changed, "tags") {
            self.sync_tags(
                &req.id,
                &req.stack,
                &req.urn,
                &tags::desired(&req.old_inputs),
                &req.new_inputs,
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some(live) = self.get(&req.id).await? else {
            return Ok(());
        };
        // A profile holding a role cannot be deleted: remove the role first.
        self.set_role(&req.id, &live, None).await?;
        crate::common::ok_if_gone(
            self.iam
                .delete_instance_profile()
                .instance_profile_name(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DeleteInstanceProfile", e)),
        )
    }
}
