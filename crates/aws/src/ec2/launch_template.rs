//! `aws:ec2:LaunchTemplate`: what an Auto Scaling group launches (AMI, type, user data,
//! instance profile, security groups, instance tags).
//!
//! The template name is the declared `name` plus a suffix drawn from the creation
//! token, as for security groups: names are unique per region, and a unique name lets a
//! replacement exist beside the old template. Every update writes a new version holding
//! the whole data (moto ignores `SourceVersion`) and makes it the default; the
//! `latest_version` output names it, so that a group launching "version N" follows.
//!
//! User data is a template: `${key}` becomes `user_data_vars[key]`. It is rendered and
//! base64-encoded only when sent; read decodes the live user data and compares it with
//! the recorded template rendered with the recorded vars.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplate as AwsTemplate, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, LaunchTemplatesMonitoringRequest, RequestLaunchTemplateData, ResourceType,
    ResponseLaunchTemplateData, Tag,
};
use aws_smithy_types::base64;
use stackup_model::{Input, Properties, ResourceArgs, Value, RESERVED_TAG_PREFIX, URN_TAG};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse,
    ErrorKind, ListRequest, ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema,
    UpdateRequest, UpdateResponse,
};

use super::{
    checked, declared_name, describe_each, done, id_filters, stack_filter, suffixed_name, update_tags, Picked, Wanted,
    NAME_SUFFIX_LEN,
};
use crate::common::{client_token, ok_if_gone};
use crate::props::{bool_of, is_known, opt_str, props, str_of, strings_of};
use crate::{classify, tags};

/// The type token of a launch template.
pub const TYPE: &str = "aws:ec2:LaunchTemplate";

/// The longest launch template name AWS accepts.
const NAME_MAX: usize = 128;

/// The longest ClientToken CreateLaunchTemplate accepts.
const CLIENT_TOKEN_MAX: usize = 128;

/// AWS limits user data to 16 KiB before base64 encoding.
pub(super) const USER_DATA_MAX: usize = 16 * 1024;

/// Launch templates asked for per DescribeLaunchTemplates call.
const IDS_PER_CALL: usize = 200;

/// Arguments of a launch template.
#[derive(Clone, Debug)]
pub struct LaunchTemplateArgs {
    /// The name's prefix: the template is created as `<name>-<8 hex>`.
    pub name: String,
    /// An AMI id, or `resolve:ssm:<parameter>` which AWS resolves at each launch.
    pub image_id: String,
    pub instance_type: String,
    /// User data template; `${key}` is replaced by `user_data_vars[key]`, any other
    /// `${...}` (a shell variable) is left as written.
    pub user_data: String,
    pub user_data_vars: BTreeMap<String, Input<String>>,
    /// Empty for none.
    pub iam_instance_profile_arn: Input<String>,
    pub security_group_ids: Vec<Input<String>>,
    pub detailed_monitoring: bool,
    pub key_name: Option<String>,
    /// Tags given to the instances and volumes launched from the template.
    pub instance_tags: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for LaunchTemplateArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DeleteLaunchTemplate",
        "ec2:DescribeTags",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        // AWS checks a `resolve:ssm:` image parameter when the template is written.
        "ssm:GetParameters",
    ];
    fn into_properties(self) -> Properties {
        let vars: Properties = self.user_data_vars.into_iter().map(|(k, v)| (k, v.into())).collect();
        props([
            ("name", self.name.into()),
            ("image_id", self.image_id.into()),
            ("instance_type", self.instance_type.into()),
            ("user_data", self.user_data.into()),
            ("user_data_vars", Value::Map(vars)),
            ("iam_instance_profile_arn", self.iam_instance_profile_arn.into()),
            (
                "security_group_ids",
                Value::List(self.security_group_ids.into_iter().map(Into::into).collect()),
            ),
            ("detailed_monitoring", self.detailed_monitoring.into()),
            ("key_name", self.key_name.map_or(Value::Null, Value::String)),
            ("instance_tags", Value::from_string_map(&self.instance_tags)),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:ec2:LaunchTemplate`.
pub struct LaunchTemplate {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl LaunchTemplate {
    /// A provider that calls AWS through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> LaunchTemplate {
        LaunchTemplate {
            ec2,
            schema: Schema::new(TYPE, &["name"]).outputs_changed_by_update(&["latest_version"]),
        }
    }

    /// Templates by id. AWS fails a whole call for one missing id (moto skips it):
    /// such a batch is asked again one id at a time.
    async fn describe(&self, ids: &[String]) -> Result<Vec<AwsTemplate>, ProviderError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_CALL) {
            match self.describe_batch(chunk).await {
                Ok(found) => out.extend(found),
                Err(e) if e.kind == ErrorKind::NotFound => {
                    for id in chunk {
                        match self.describe_batch(std::slice::from_ref(id)).await {
                            Ok(found) => out.extend(found),
                            Err(e) if e.kind == ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn describe_batch(&self, ids: &[String]) -> Result<Vec<AwsTemplate>, ProviderError> {
        paginated!(
            self.ec2
                .describe_launch_templates()
                .set_launch_template_ids(Some(ids.to_vec())),
            "DescribeLaunchTemplates"
        )
    }

    /// The templates a read or list wants, as live resources.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let templates = match wanted {
            Wanted::Targets(targets) => {
                let ids: Vec<String> = targets.keys().map(|id| id.to_string()).collect();
                self.describe(&ids).await?
            }
            // DescribeLaunchTemplates has no id filter, hence ids above, but a tag one.
            Wanted::Stack { stack, .. } => paginated!(
                self.ec2.describe_launch_templates().filters(stack_filter(stack)),
                "DescribeLaunchTemplates"
            )?,
        };
        let ids: Vec<String> = templates
            .iter()
            .filter_map(|t| t.launch_template_id().map(str::to_string))
            .collect();
        let tags = self.live_tags(&ids).await?;
        let mut found = Vec::new();
        for template in &templates {
            let id = template.launch_template_id();
            let tags = id.and_then(|id| tags.get(id)).map(Vec::as_slice).unwrap_or_default();
            let Some(picked) = wanted.pick(id, tags) else {
                continue;
            };
            found.extend(self.resource(picked, template, tags).await?);
        }
        Ok(found)
    }

    /// A live template as stackup reports it; None when it went away meanwhile.
    async fn resource(
        &self,
        picked: Picked<'_>,
        template: &AwsTemplate,
        tags: &[Tag],
    ) -> Result<Option<LiveResource>, ProviderError> {
        // DescribeLaunchTemplateVersions has no form across templates short of listing
        // every template of the account: one call per template.
        let Some(version) = self.default_version(&picked.id).await? else {
            return Ok(None);
        };
        let name = template.launch_template_name().unwrap_or_default();
        let number = version
            .version_number()
            .or(template.default_version_number())
            .unwrap_or(1);
        Ok(Some(LiveResource {
            urn: picked.urn,
            inputs: live_inputs(name, version.launch_template_data(), tags, picked.recorded),
            outputs: outputs(&picked.id, name, number),
            id: picked.id,
        }))
    }

    /// The live tags of each template. DescribeTags rather than the templates' own
    /// `Tags`: moto answers those as they were at creation.
    async fn live_tags(&self, ids: &[String]) -> Result<BTreeMap<String, Vec<Tag>>, ProviderError> {
        let mut out: BTreeMap<String, Vec<Tag>> = ids.iter().map(|id| (id.clone(), Vec::new())).collect();
        let descriptions = describe_each(id_filters("resource-id", ids.iter().cloned()), |filter| async move {
            paginated!(self.ec2.describe_tags().filters(filter), "DescribeTags")
        })
        .await?;
        for d in descriptions {
            if let (Some(id), Some(key)) = (d.resource_id(), d.key()) {
                out.entry(id.to_string())
                    .or_default()
                    .push(Tag::builder().key(key).value(d.value().unwrap_or("")).build());
            }
        }
        Ok(out)
    }

    /// The template's default version (the one stackup last wrote); None when the
    /// template is gone.
    async fn default_version(
        &self,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::LaunchTemplateVersion>, ProviderError> {
        let out = self
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions("$Default")
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.launch_template_versions().first().cloned()),
            Err(e) => {
                let e = classify("DescribeLaunchTemplateVersions", e);
                if e.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Adopts the template an interrupted create of this resource left under `name`.
    async fn adopt(&self, name: &str, req: &CreateRequest) -> Result<CreateResponse, ProviderError> {
        let found = self
            .ec2
            .describe_launch_templates()
            .launch_template_names(name)
            .send()
            .await
            .map_err(|e| classify("DescribeLaunchTemplates", e))?;
        let template = found
            .launch_templates()
            .first()
            .ok_or_else(|| ProviderError::new(ErrorKind::Conflict, format!("launch template {name} already exists")))?;
        let id = template.launch_template_id().unwrap_or_default().to_string();
        let tags = self.live_tags(std::slice::from_ref(&id)).await?;
        let ours = tags.get(&id).is_some_and(|t| {
            t.iter()
                .any(|t| t.key() == Some(URN_TAG) && t.value() == Some(req.urn.as_str()))
        });
        if !ours {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("launch template {name} ({id}) already exists and is not {}", req.urn),
            ));
        }
        let version = template.default_version_number().unwrap_or(1);
        Ok(CreateResponse {
            outputs: outputs(&id, name, version),
            id,
        })
    }
}

fn outputs(id: &str, name: &str, version: i64) -> Properties {
    props([
        ("id", id.into()),
        ("name", name.into()),
        ("latest_version", version.to_string().into()),
    ])
}

/// Renders a user data template: each `${key}` whose key is in `vars` becomes its
/// value, in one pass (a value containing `${...}` is not expanded again); any other
/// `${...}` stays as written, so shell variables need no escaping.
pub(super) fn render(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after
            .find('}')
            .and_then(|end| vars.get(&after[..end]).map(|v| (v, end)));
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The user data vars of resolved inputs; None if one is not a string.
fn vars_of(inputs: &Properties) -> Option<BTreeMap<String, String>> {
    match inputs.get("user_data_vars") {
        None | Some(Value::Null) => Some(BTreeMap::new()),
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| Some((k.to_string(), v.as_str()?.to_string())))
            .collect(),
        Some(_) => None,
    }
}

/// The rendered user data of resolved inputs.
fn rendered_user_data(inputs: &Properties) -> Result<String, ProviderError> {
    let vars =
        vars_of(inputs).ok_or_else(|| ProviderError::invalid("input 'user_data_vars' must map names to strings"))?;
    let template = inputs.get("user_data").and_then(Value::as_str).unwrap_or("");
    Ok(render(template, &vars))
}

/// The full template data of resolved inputs.
fn launch_data(inputs: &Properties) -> Result<RequestLaunchTemplateData, ProviderError> {
    let user_data = rendered_user_data(inputs)?;
    let mut data = RequestLaunchTemplateData::builder()
        .image_id(str_of(inputs, "image_id")?)
        .instance_type(InstanceType::from(str_of(inputs, "instance_type")?))
        .monitoring(
            LaunchTemplatesMonitoringRequest::builder()
                .enabled(bool_of(inputs, "detailed_monitoring"))
                .build(),
        );
    if !user_data.is_empty() {
        data = data.user_data(base64::encode(user_data));
    }
    let groups = strings_of(inputs, "security_group_ids");
    if !groups.is_empty() {
        data = data.set_security_group_ids(Some(groups));
    }
    if let Some(arn) = opt_str(inputs, "iam_instance_profile_arn") {
        data = data.iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .arn(arn)
                .build(),
        );
    }
    if let Some(key) = opt_str(inputs, "key_name") {
        data = data.key_name(key);
    }
    let instance_tags = inputs.get("instance_tags").map(Value::string_map).unwrap_or_default();
    if !instance_tags.is_empty() {
        for ty in [ResourceType::Instance, ResourceType::Volume] {
            data = data.tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ty)
                    .set_tags(Some(tags::ec2_tags(&instance_tags)))
                    .build(),
            );
        }
    }
    Ok(data.build())
}

/// The managed inputs of a live template version, normalised like `check` output.
/// `recorded` (for a read) supplies the user data template and vars: when they render
/// to the live user data, they are reported as recorded; otherwise the live text is
/// reported as the template, which differs and so shows the drift. Without a record (a
/// list), the live text is the template and there are no vars.
fn live_inputs(
    name: &str,
    data: Option<&ResponseLaunchTemplateData>,
    tags: &[Tag],
    recorded: Option<&Properties>,
) -> Properties {
    let live_user_data = data
        .and_then(|d| d.user_data())
        .map(|b64| match base64::decode(b64) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            // Not base64 (written by another tool): compare the raw text.
            Err(_) => b64.to_string(),
        })
        .unwrap_or_default();
    let (user_data, recorded_vars) = match recorded {
        Some(recorded) => {
            let vars = recorded
                .get("user_data_vars")
                .cloned()
                .unwrap_or_else(|| Value::Map(Default::default()));
            let user_data = match rendered_user_data(recorded) {
                Ok(r) if r == live_user_data => recorded.get("user_data").cloned().unwrap_or(Value::Null),
                _ => Value::String(live_user_data),
            };
            (user_data, vars)
        }
        None => (Value::String(live_user_data), Value::Map(Default::default())),
    };
    let mut groups: Vec<String> = data.map(|d| d.security_group_ids().to_vec()).unwrap_or_default();
    groups.sort();
    groups.dedup();
    let instance_tags: BTreeMap<String, String> = data
        .map(|d| d.tag_specifications())
        .unwrap_or_default()
        .iter()
        .find(|s| s.resource_type() == Some(&ResourceType::Instance))
        .map(|s| {
            s.tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
                .collect()
        })
        .unwrap_or_default();
    let user_tags: BTreeMap<String, String> = tags
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX))
        .collect();
    props([
        ("name", declared_name(name).into()),
        ("image_id", data.and_then(|d| d.image_id()).unwrap_or_default().into()),
        (
            "instance_type",
            data.and_then(|d| d.instance_type())
                .map(|t| t.as_str())
                .unwrap_or_default()
                .into(),
        ),
        ("user_data", user_data),
        ("user_data_vars", recorded_vars),
        (
            "iam_instance_profile_arn",
            data.and_then(|d| d.iam_instance_profile())
                .and_then(|p| p.arn())
                .unwrap_or_default()
                .into(),
        ),
        ("security_group_ids", groups.into()),
        (
            "detailed_monitoring",
            data.and_then(|d| d.monitoring())
                .and_then(|m| m.enabled())
                .unwrap_or(false)
                .into(),
        ),
        (
            "key_name",
            data.and_then(|d| d.key_name())
                .filter(|k| !k.is_empty())
                .map_or(Value::Null, Value::from),
        ),
        ("instance_tags", Value::from_string_map(&instance_tags)),
        ("tags", Value::from_string_map(&user_tags)),
    ])
}

fn fail(failures: &mut Vec<CheckFailure>, property: &str, reason: String) {
    failures.push(CheckFailure {
        property: property.into(),
        reason,
    });
}

/// Sorts and deduplicates a list of ids once every entry is known: AWS keeps no order.
pub(super) fn sort_known_ids(inputs: &mut Properties, key: &str, failures: &mut Vec<CheckFailure>) {
    let Some(v) = inputs.get_mut(key) else {
        inputs.insert(key.into(), Value::List(Vec::new()));
        return;
    };
    let Value::List(items) = v else {
        if is_known(v) {
            failures.push(CheckFailure {
                property: key.into(),
                reason: "must be a list of ids".into(),
            });
        }
        return;
    };
    if !items.iter().all(is_known) {
        return;
    }
    if items.iter().any(|i| i.as_str().is_none_or(str::is_empty)) {
        failures.push(CheckFailure {
            property: key.into(),
            reason: "must hold non-empty strings only".into(),
        });
        return;
    }
    items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    items.dedup();
}

/// Normalises an optional key pair name: empty means none.
pub(super) fn check_key_name(inputs: &mut Properties, failures: &mut Vec<CheckFailure>) {
    let v = match inputs.remove("key_name") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(v @ Value::String(_)) => v,
        Some(v) if !is_known(&v) => v,
        Some(v) => {
            failures.push(CheckFailure {
                property: "key_name".into(),
                reason: "must be a key pair name or null".into(),
            });
            v
        }
    };
    inputs.insert("key_name".into(), v);
}

/// Validates an image input: an AMI id or an SSM parameter AWS resolves at launch.
pub(super) fn check_image(inputs: &Properties, failures: &mut Vec<CheckFailure>) {
    // An image a lookup finds (`aws:ssm:getParameter`) is checked once it is read.
    if inputs.get("image_id").is_some_and(|v| !is_known(v)) {
        return;
    }
    let ok = inputs.get("image_id").and_then(Value::as_str).is_some_and(|s| {
        (s.starts_with("ami-") && s.len() > 4) || s.len() > "resolve:ssm:".len() && s.starts_with("resolve:ssm:")
    });
    if !ok {
        failures.push(CheckFailure {
            property: "image_id".into(),
            reason: "must be an AMI id (ami-...) or resolve:ssm:<parameter>".into(),
        });
    }
}

/// Validates an instance type input ("t3.micro").
pub(super) fn check_instance_type(inputs: &Properties, failures: &mut Vec<CheckFailure>) {
    let ok = inputs
        .get("instance_type")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split_once('.').is_some_and(|(f, z)| !f.is_empty() && !z.is_empty()));
    if !ok {
        failures.push(CheckFailure {
            property: "instance_type".into(),
            reason: "must be an instance type such as t3.micro".into(),
        });
    }
}

#[async_trait]
impl Provider for LaunchTemplate {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// As the schema says, except that user data read back without its template (an
    /// adopted object: nothing recorded the variables) is unchanged when the declared
    /// template renders to exactly what is live: no new version for the same bytes.
    fn diff(&self, req: DiffRequest<'_>) -> DiffResponse {
        let mut old = req.old_inputs.clone();
        let no_vars = old
            .get("user_data_vars")
            .is_none_or(|v| v.as_map().is_none_or(|m| m.is_empty()));
        let live = old.get("user_data").and_then(Value::as_str).map(str::to_string);
        if no_vars {
            if let (Ok(rendered), Some(live)) = (rendered_user_data(req.new_inputs), live) {
                if rendered == live {
                    for key in ["user_data", "user_data_vars"] {
                        if let Some(v) = req.new_inputs.get(key) {
                            old.insert(key.into(), v.clone());
                        }
                    }
                }
            }
        }
        stackup_provider::diff_by_schema(&self.schema, &old, req.new_inputs)
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        let name_ok = inputs.get("name").and_then(Value::as_str).is_some_and(|n| {
            !n.is_empty()
                && n.len() <= NAME_MAX - NAME_SUFFIX_LEN
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"().-/_".contains(&b))
        });
        if !name_ok {
            fail(
                &mut failures,
                "name",
                format!(
                    "must be 1 to {} letters, digits and ( ) . - / _",
                    NAME_MAX - NAME_SUFFIX_LEN
                ),
            );
        }
        check_image(&inputs, &mut failures);
        check_instance_type(&inputs, &mut failures);
        inputs
            .entry("user_data".into())
            .or_insert_with(|| Value::String(String::new()));
        inputs
            .entry("user_data_vars".into())
            .or_insert_with(|| Value::Map(Default::default()));
        if inputs.get("user_data").is_none_or(|v| v.as_str().is_none()) {
            fail(&mut failures, "user_data", "must be a string".into());
        }
        match inputs.get("user_data_vars") {
            Some(Value::Map(vars)) => {
                if let Some((k, _)) = vars.iter().find(|(_, v)| is_known(v) && v.as_str().is_none()) {
                    fail(&mut failures, "user_data_vars", format!("'{k}' must be a string"));
                }
            }
            _ => fail(&mut failures, "user_data_vars", "must be a map of strings".into()),
        }
        // The size is known once every var is; until then the template's own size is
        // a lower bound worth checking.
        let size = match rendered_user_data(&inputs) {
            Ok(r) => r.len(),
            Err(_) => inputs.get("user_data").and_then(Value::as_str).map_or(0, str::len),
        };
        if size > USER_DATA_MAX {
            fail(
                &mut failures,
                "user_data",
                format!("renders to {size} bytes; AWS accepts at most {USER_DATA_MAX}"),
            );
        }
        inputs
            .entry("iam_instance_profile_arn".into())
            .or_insert_with(|| Value::String(String::new()));
        if let Some(v) = inputs.get("iam_instance_profile_arn") {
            if is_known(v) && v.as_str().is_none_or(|s| !s.is_empty() && !s.starts_with("arn:")) {
                fail(
                    &mut failures,
                    "iam_instance_profile_arn",
                    "must be an instance profile ARN, or empty for none".into(),
                );
            }
        }
        sort_known_ids(&mut inputs, "security_group_ids", &mut failures);
        inputs.entry("detailed_monitoring".into()).or_insert(Value::Bool(false));
        check_key_name(&mut inputs, &mut failures);
        let instance_tags = inputs
            .entry("instance_tags".into())
            .or_insert_with(|| Value::Map(Default::default()));
        if let Some(k) = instance_tags
            .as_map()
            .and_then(|m| m.keys().find(|k| k.to_ascii_lowercase().starts_with("aws:")))
        {
            let reason = format!("tag key '{k}': AWS reserves the aws: prefix");
            fail(&mut failures, "instance_tags", reason);
        }
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = suffixed_name(str_of(&req.inputs, "name")?, &req.token);
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .ec2
            .create_launch_template()
            .launch_template_name(&name)
            .client_token(client_token(&req.token, CLIENT_TOKEN_MAX))
            .launch_template_data(launch_data(&req.inputs)?)
            .tag_specifications(tags::ec2_spec(ResourceType::LaunchTemplate, &tags))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let e = classify("CreateLaunchTemplate", e);
                // The name carries this create's token: a template by that name is
                // this create's own, left by an interrupted attempt (moto ignores
                // ClientToken and refuses the name instead of answering it again).
                if e.kind == ErrorKind::Conflict {
                    return self.adopt(&name, &req).await;
                }
                return Err(e);
            }
        };
        let template = out
            .launch_template()
            .ok_or_else(|| ProviderError::invalid("CreateLaunchTemplate returned no template"))?;
        let id = template
            .launch_template_id()
            .ok_or_else(|| ProviderError::invalid("CreateLaunchTemplate returned no template id"))?
            .to_string();
        let version = template.latest_version_number().unwrap_or(1);
        Ok(CreateResponse {
            outputs: outputs(&id, &name, version),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        Ok(ReadResponse {
            found: self.found(&Wanted::read(&req.targets)).await?,
        })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        Ok(Some(ListResponse {
            found: self.found(&Wanted::list(&req, TYPE)).await?,
        }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let name = req
            .old_outputs
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut version: i64 = req
            .old_outputs
            .get("latest_version")
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let data_changed = req.changed.iter().any(|k| k != "tags" && k != "name");
        if data_changed {
            let out = self
                .ec2
                .create_launch_template_version()
                .launch_template_id(&req.id)
                .launch_template_data(launch_data(&req.new_inputs)?)
                .send()
                .await
                .map_err(|e| classify("CreateLaunchTemplateVersion", e))?;
            version = out
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| ProviderError::invalid("CreateLaunchTemplateVersion returned no version number"))?;
            // Launches that ask for no version get the default: keep it the newest.
            self.ec2
                .modify_launch_template()
                .launch_template_id(&req.id)
                .default_version(version.to_string())
                .send()
                .await
                .map_err(|e| classify("ModifyLaunchTemplate", e))?;
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id, &name, version),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        ok_if_gone(
            done(
                "DeleteLaunchTemplate",
                self.ec2.delete_launch_template().launch_template_id(&req.id).send(),
            )
            .await,
        )
    }
}
