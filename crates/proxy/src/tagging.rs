//! DB subnet groups in the Resource Groups Tagging API
//! (`moto_workarounds = ["tagging_rds_subnet_groups"]`).
//!
//! **AWS.** GetResources lists RDS DB subnet groups, resource type `rds:subgrp` (their
//! ARNs are `arn:aws:rds:<region>:<account>:subgrp:<name>`, Amazon RDS User Guide,
//! "Amazon Resource Names (ARNs) in Amazon RDS",
//! https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.ARN.Constructing.html).
//! `ResourceTypeFilters` are `service[:resourceType]`: `rds` takes every RDS type,
//! `rds:subgrp` the subnet groups, no filter every type; every `TagFilters` entry must
//! match a tag of the resource, by its `Key` and, when it gives `Values`, one of them
//! (Resource Groups Tagging API Reference, GetResources and TagFilter,
//! https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html).
//!
//! **moto 5.2.1**'s `ResourceGroupsTaggingAPIBackend._get_resources_generator`
//! (moto/resourcegroupstaggingapi/models.py) knows `rds:db`, `rds:cluster`, snapshots
//! and `rds:db-proxy` only: subnet groups are never listed, tagged or not.
//!
//! **The proxy** forwards the GetResources, then, on the first page (no
//! `PaginationToken`, so later pages stay moto's own and consistent) and when the type
//! filters take subnet groups, asks moto's RDS API for them (DescribeDBSubnetGroups,
//! then ListTagsForResource per group) and appends the tagged ones that match the tag
//! filters (and `ResourceARNList`, if given) to `ResourceTagMappingList`, as moto lists
//! the others: `{"ResourceARN": ..., "Tags": [{"Key": ..., "Value": ...}]}`. moto's
//! server routes a request by the service of its SigV4 credential scope
//! (`DomainDispatcherApplication.infer_service_region_host`,
//! moto/moto_server/werkzeug_app.py), so those RDS calls carry the tagging request's
//! credentials with the scope's service rewritten to `rds`. Like moto for the other
//! types, a group without tags is never listed. What is left different from AWS: the
//! first page may hold more than `ResourcesPerPage` entries.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::fixes::call_moto;
use crate::xml::Doc;
use crate::{bad_gateway, faults, Body, Shared};

/// The resource type of a DB subnet group.
const SUBNET_GROUP: &str = "rds:subgrp";

/// GetResources through moto, with the DB subnet groups it misses.
pub(crate) async fn get_resources(shared: &Shared, parts: &Parts, body: Bytes) -> Response<Body> {
    match answer(shared, parts, body).await {
        Ok(response) => response,
        Err(e) => bad_gateway(&e),
    }
}

async fn answer(shared: &Shared, parts: &Parts, body: Bytes) -> Result<Response<Body>, String> {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    let (copy, ()) = request.into_parts();
    let response = shared.forward(copy, faults::full(body.clone())).await?;
    let (mut head, incoming) = response.into_parts();
    let bytes = incoming
        .collect()
        .await
        .map_err(|e| format!("reading moto's answer: {e}"))?
        .to_bytes();
    let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let unchanged = |head, bytes| Ok(Response::from_parts(head, faults::full(bytes)));
    if !head.status.is_success() || !wants_subnet_groups(&asked) {
        return unchanged(head, bytes);
    }
    let Ok(mut listed) = serde_json::from_slice::<Value>(&bytes) else {
        return unchanged(head, bytes);
    };
    let found = subnet_groups(shared, parts, &asked).await?;
    let Some(list) = listed.get_mut("ResourceTagMappingList").and_then(Value::as_array_mut) else {
        return unchanged(head, bytes);
    };
    if found.is_empty() {
        return unchanged(head, bytes);
    }
    list.extend(found);
    let text = listed.to_string();
    let headers = &mut head.headers;
    if headers.contains_key("x-amz-crc32") {
        if let Ok(v) = HeaderValue::from_str(&faults::crc32(text.as_bytes()).to_string()) {
            headers.insert("x-amz-crc32", v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&text.len().to_string()) {
        headers.insert(http::header::CONTENT_LENGTH, v);
    }
    Ok(Response::from_parts(head, faults::full(text)))
}

/// Whether a GetResources request is a first page whose type filters take DB subnet
/// groups.
pub(crate) fn wants_subnet_groups(request: &Value) -> bool {
    let first_page = request
        .get("PaginationToken")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let types: Vec<&str> = request
        .get("ResourceTypeFilters")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    first_page && (types.is_empty() || types.iter().any(|t| *t == "rds" || *t == SUBNET_GROUP))
}

/// Whether tags (key, value) pass a request's `TagFilters`.
pub(crate) fn tags_match(request: &Value, tags: &[(String, String)]) -> bool {
    let filters = request
        .get("TagFilters")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    filters.iter().all(|filter| {
        let Some(key) = filter.get("Key").and_then(Value::as_str) else {
            return true;
        };
        let values: Vec<&str> = filter
            .get("Values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        tags.iter()
            .any(|(k, v)| k == key && (values.is_empty() || values.contains(&v.as_str())))
    })
}

/// The request's headers, signed for RDS: the credential scope's service is what
/// moto's server routes by. Everything else (account, region) stays the caller's.
pub(crate) fn rds_parts(parts: &Parts) -> Parts {
    let mut request = Request::new(());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    let (mut copy, ()) = request.into_parts();
    copy.headers.remove("x-amz-target");
    let auth = copy
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| with_service(v, "rds"));
    if let Some(v) = auth.and_then(|a| HeaderValue::from_str(&a).ok()) {
        copy.headers.insert(http::header::AUTHORIZATION, v);
    }
    copy
}

/// `... Credential=AKID/20250101/us-east-1/tagging/aws4_request, ...` with `service`
/// in the scope instead.
fn with_service(authorization: &str, service: &str) -> String {
    let Some((head, rest)) = authorization.split_once("Credential=") else {
        return authorization.to_string();
    };
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    let mut scope: Vec<&str> = rest[..end].split('/').collect();
    if scope.len() < 5 {
        return authorization.to_string();
    }
    scope[3] = service;
    format!("{head}Credential={}{}", scope.join("/"), &rest[end..])
}

/// The DB subnet groups the request selects, as GetResources lists resources.
async fn subnet_groups(shared: &Shared, parts: &Parts, request: &Value) -> Result<Vec<Value>, String> {
    let rds = rds_parts(parts);
    let version = ("Version".to_string(), "2014-10-31".to_string());
    let wanted_arns: Option<Vec<&str>> = request
        .get("ResourceARNList")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let mut arns = Vec::new();
    let mut marker: Option<String> = None;
    // RDS pages with Marker; moto 5.2.1 answers all at once. Bounded all the same.
    for _ in 0..100 {
        let mut form = vec![
            ("Action".to_string(), "DescribeDBSubnetGroups".to_string()),
            version.clone(),
        ];
        if let Some(m) = &marker {
            form.push(("Marker".to_string(), m.clone()));
        }
        let (status, described) = call_moto(shared, &rds, &form).await?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "moto's DescribeDBSubnetGroups answered {status}: {}",
                String::from_utf8_lossy(&described)
            ));
        }
        let text = String::from_utf8_lossy(&described).into_owned();
        let doc = Doc::parse(&text).ok_or("moto's DescribeDBSubnetGroups is not XML")?;
        for group in doc.named("DBSubnetGroup") {
            if let Some(arn) = doc.child_text(group, &["DBSubnetGroupArn"]).filter(|a| !a.is_empty()) {
                arns.push(arn);
            }
        }
        marker = doc
            .named("Marker")
            .next()
            .map(|m| doc.text(m))
            .filter(|m| !m.is_empty());
        if marker.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for arn in arns {
        if wanted_arns.as_ref().is_some_and(|w| !w.contains(&arn.as_str())) {
            continue;
        }
        let form = [
            ("Action".to_string(), "ListTagsForResource".to_string()),
            version.clone(),
            ("ResourceName".to_string(), arn.clone()),
        ];
        let (status, listed) = call_moto(shared, &rds, &form).await?;
        if !(200..300).contains(&status) {
            // Deleted between the two calls: not there any more.
            continue;
        }
        let text = String::from_utf8_lossy(&listed).into_owned();
        let Some(doc) = Doc::parse(&text) else { continue };
        let tags: Vec<(String, String)> = doc
            .named("Tag")
            .filter_map(|t| {
                Some((
                    doc.child_text(t, &["Key"])?,
                    doc.child_text(t, &["Value"]).unwrap_or_default(),
                ))
            })
            .collect();
        if tags.is_empty() || !tags_match(request, &tags) {
            continue;
        }
        found.push(json!({
            "ResourceARN": arn,
            "Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
        }));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_and_tag_filters_follow_aws() {
        let first = |v: Value| wants_subnet_groups(&v);
        assert!(first(json!({})));
        assert!(first(json!({"ResourceTypeFilters": ["rds"]})));
        assert!(first(
            json!({"ResourceTypeFilters": ["s3", "rds:subgrp"], "PaginationToken": ""})
        ));
        assert!(!first(json!({"ResourceTypeFilters": ["rds:db"]})));
        assert!(!first(json!({"PaginationToken": "abc"})));

        let tags = vec![
            ("stackup:stack".to_string(), "dev".to_string()),
            ("team".to_string(), "a".to_string()),
        ];
        let with = |v: Value| tags_match(&v, &tags);
        assert!(with(json!({})));
        assert!(with(json!({"TagFilters": [{"Key": "team"}]})));
        assert!(with(
            json!({"TagFilters": [{"Key": "stackup:stack", "Values": ["prod", "dev"]}, {"Key": "team", "Values": []}]})
        ));
        assert!(!with(
            json!({"TagFilters": [{"Key": "stackup:stack", "Values": ["prod"]}]})
        ));
        assert!(!with(json!({"TagFilters": [{"Key": "team"}, {"Key": "owner"}]})));
    }

    #[test]
    fn rds_calls_are_signed_for_rds() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-west-1/tagging/aws4_request, SignedHeaders=host;x-amz-target, Signature=ab";
        assert_eq!(
            with_service(auth, "rds"),
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-west-1/rds/aws4_request, SignedHeaders=host;x-amz-target, Signature=ab"
        );
        assert_eq!(with_service("Basic x", "rds"), "Basic x");
        let (parts, ()) = Request::builder()
            .method("POST")
            .uri("/")
            .header("authorization", auth)
            .header("x-amz-target", "ResourceGroupsTaggingAPI_20170126.GetResources")
            .body(())
            .expect("a request")
            .into_parts();
        let rds = rds_parts(&parts);
        assert!(rds.headers.get("x-amz-target").is_none());
        assert_eq!(crate::request::service_of(&rds), "rds");
        assert_eq!(crate::deferred::region_of(&rds), "eu-west-1");
    }
}
