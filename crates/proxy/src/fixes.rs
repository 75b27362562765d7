//! Workarounds for moto bugs that would break its own state.
//!
//! **ModifyDBSubnetGroup.** moto 5.2.1's `RDSBackend.modify_db_subnet_group`
//! (`moto/rds/models.py`) starts with `self.subnet_groups.pop(subnet_name)`, updates
//! the popped group's subnets and description, returns it, and never puts it back:
//! the call answers success and the group is gone from then on (DescribeDBSubnetGroups
//! answers DBSubnetGroupNotFoundFault, and a second modify a 500, since `pop` of a
//! missing key raises KeyError). Instances keep their reference to the popped object,
//! so they show the new subnets. The proxy therefore does the modification as moto
//! needs it: it reads the group (description, ARN) and its tags, forwards the
//! ModifyDBSubnetGroup (which updates the object instances hold), and then creates the
//! group again under its name with the new subnets, the description and the tags, so
//! it is listed again. What is left different from AWS: for the moment between the
//! two calls a concurrent read misses the group, and the re-created group is a new
//! object in moto, so an instance's copy stops following further modifications.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;

use crate::request::{form_pairs, Call};
use crate::xml::Doc;
use crate::{bad_gateway, faults, Body, Shared};

/// A query-protocol call to moto, signed (moto does not check signatures) with the
/// original request's headers, so it reaches the same account and region.
pub(crate) async fn call_moto(
    shared: &Shared,
    original: &Parts,
    form: &[(String, String)],
) -> Result<(u16, Bytes), String> {
    let body = form_body(form);
    let mut request = Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = original.uri.clone();
    *request.headers_mut() = original.headers.clone();
    let (mut parts, ()) = request.into_parts();
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&body.len().to_string()) {
        parts.headers.insert(http::header::CONTENT_LENGTH, v);
    }
    parts.headers.remove("x-amz-content-sha256");
    send(shared, parts, faults::full(body)).await
}

/// Sends a request to moto and reads its whole answer: status and body.
async fn send(shared: &Shared, parts: Parts, body: Body) -> Result<(u16, Bytes), String> {
    let response = shared.forward(parts, body).await?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading moto's answer: {e}"))?
        .to_bytes();
    Ok((status, bytes))
}

/// A form as a request body: `a=1&b=x%2Fy`.
pub(crate) fn form_body(form: &[(String, String)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn xml_response(status: u16, bytes: Bytes) -> Response<Body> {
    let mut response = Response::new(faults::full(bytes));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// The parameters of the re-create: name, description (the request's, else the
/// group's), the request's subnets as it sent them, and the group's tags.
pub(crate) fn recreate_form(
    request: &[(String, String)],
    description: &str,
    tags: &[(String, String)],
) -> Vec<(String, String)> {
    let mut form = vec![
        ("Action".to_string(), "CreateDBSubnetGroup".to_string()),
        ("Version".to_string(), "2014-10-31".to_string()),
    ];
    for (k, v) in request {
        if k == "DBSubnetGroupName" || k.starts_with("SubnetIds.") {
            form.push((k.clone(), v.clone()));
        }
    }
    let description = request
        .iter()
        .find(|(k, _)| k == "DBSubnetGroupDescription")
        .map(|(_, v)| v.as_str())
        .unwrap_or(description);
    form.push(("DBSubnetGroupDescription".to_string(), description.to_string()));
    for (i, (key, value)) in tags.iter().enumerate() {
        form.push((format!("Tags.Tag.{}.Key", i + 1), key.clone()));
        form.push((format!("Tags.Tag.{}.Value", i + 1), value.clone()));
    }
    form
}

/// ModifyDBSubnetGroup through moto without losing the group.
pub(crate) async fn modify_db_subnet_group(shared: &Shared, parts: &Parts, call: &Call, body: Bytes) -> Response<Body> {
    match modify(shared, parts, call, body).await {
        Ok(response) => response,
        Err(e) => bad_gateway(&e),
    }
}

async fn modify(shared: &Shared, parts: &Parts, call: &Call, body: Bytes) -> Result<Response<Body>, String> {
    let Some(name) = call
        .params
        .iter()
        .find(|(k, _)| k == "DBSubnetGroupName")
        .map(|(_, v)| v.clone())
    else {
        // Nothing to look up: let moto answer what it answers.
        let (status, bytes) = forward_raw(shared, parts, body).await?;
        return Ok(xml_response(status, bytes));
    };
    let version = ("Version".to_string(), "2014-10-31".to_string());
    let (status, described) = call_moto(
        shared,
        parts,
        &[
            ("Action".into(), "DescribeDBSubnetGroups".into()),
            version.clone(),
            ("DBSubnetGroupName".into(), name.clone()),
        ],
    )
    .await?;
    if !(200..300).contains(&status) {
        // DBSubnetGroupNotFoundFault, as AWS answers a modify of a missing group.
        return Ok(xml_response(status, described));
    }
    let text = String::from_utf8_lossy(&described).into_owned();
    let doc = Doc::parse(&text).ok_or("moto's DescribeDBSubnetGroups is not XML")?;
    let group = doc
        .named("DBSubnetGroup")
        .next()
        .ok_or("no DBSubnetGroup in moto's answer")?;
    let description = doc.child_text(group, &["DBSubnetGroupDescription"]).unwrap_or_default();
    let arn = doc.child_text(group, &["DBSubnetGroupArn"]).unwrap_or_default();
    let mut tags = Vec::new();
    if !arn.is_empty() {
        let (status, listed) = call_moto(
            shared,
            parts,
            &[
                ("Action".into(), "ListTagsForResource".into()),
                version.clone(),
                ("ResourceName".into(), arn),
            ],
        )
        .await?;
        if (200..300).contains(&status) {
            let listed = String::from_utf8_lossy(&listed).into_owned();
            if let Some(doc) = Doc::parse(&listed) {
                for tag in doc.named("Tag") {
                    if let (Some(k), Some(v)) = (doc.child_text(tag, &["Key"]), doc.child_text(tag, &["Value"])) {
                        tags.push((k, v));
                    }
                }
            }
        }
    }
    let (status, modified) = forward_raw(shared, parts, body.clone()).await?;
    if (200..300).contains(&status) {
        let request = form_pairs(&String::from_utf8_lossy(&body));
        let (created, answer) = call_moto(shared, parts, &recreate_form(&request, &description, &tags)).await?;
        if !(200..300).contains(&created) {
            return Err(format!(
                "moto dropped DB subnet group {name} on ModifyDBSubnetGroup and refused to re-create it: {}",
                String::from_utf8_lossy(&answer)
            ));
        }
    }
    Ok(xml_response(status, modified))
}

/// AssociateRouteTable as AWS answers it. A subnet has at most one explicit route table
/// association: AWS refuses a second with `Resource.AlreadyAssociated` ("the specified
/// association for route table rtb-... conflicts with an existing association"; EC2
/// API Reference, AssociateRouteTable, and "Error codes for the Amazon EC2 API"), and
/// a subnet moves to another table only with ReplaceRouteTableAssociation. moto 5.2.1
/// (`RouteTableBackend.associate_route_table`, `moto/ec2/models/route_tables.py`)
/// adds the second association instead, leaving the subnet on two tables. The proxy
/// looks the subnet's association up first and refuses as AWS does.
pub(crate) async fn associate_route_table(
    shared: &Shared,
    parts: &Parts,
    call: &Call,
    body: Bytes,
    request_id: &str,
) -> Response<Body> {
    let subnet = call
        .params
        .iter()
        .find(|(k, _)| k == "SubnetId")
        .map(|(_, v)| v.clone());
    let existing = match subnet {
        Some(subnet) => match subnet_route_table(shared, parts, &subnet).await {
            Ok(table) => table,
            Err(e) => return bad_gateway(&e),
        },
        // A gateway association: not a subnet's.
        None => None,
    };
    if let Some(table) = existing {
        return faults::error(
            call,
            400,
            "Resource.AlreadyAssociated",
            &format!("the specified association for route table {table} conflicts with an existing association"),
            request_id,
        );
    }
    match forward_raw(shared, parts, body).await {
        Ok((status, bytes)) => xml_response(status, bytes),
        Err(e) => bad_gateway(&e),
    }
}

/// The route table `subnet` is explicitly associated with, if any.
async fn subnet_route_table(shared: &Shared, parts: &Parts, subnet: &str) -> Result<Option<String>, String> {
    let (status, answer) = call_moto(
        shared,
        parts,
        &[
            ("Action".into(), "DescribeRouteTables".into()),
            ("Version".into(), "2016-11-15".into()),
            ("Filter.1.Name".into(), "association.subnet-id".into()),
            ("Filter.1.Value.1".into(), subnet.to_string()),
        ],
    )
    .await?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "moto answered DescribeRouteTables with {status}: {}",
            String::from_utf8_lossy(&answer)
        ));
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let doc = Doc::parse(&text).ok_or("moto's DescribeRouteTables is not XML")?;
    // Each association names its subnet; the table's own id is the association's
    // routeTableId.
    let table = doc
        .named("subnetId")
        .filter(|&i| doc.text(i) == subnet)
        .find_map(|i| doc.up(i, 1).and_then(|a| doc.child_text(a, &["routeTableId"])));
    Ok(table)
}

/// The original request, forwarded as it came.
async fn forward_raw(shared: &Shared, parts: &Parts, body: Bytes) -> Result<(u16, Bytes), String> {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    let (copy, ()) = request.into_parts();
    send(shared, copy, faults::full(body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recreate_keeps_subnets_as_sent_and_the_old_description_and_tags() {
        let request: Vec<(String, String)> = [
            ("Action", "ModifyDBSubnetGroup"),
            ("Version", "2014-10-31"),
            ("DBSubnetGroupName", "db"),
            ("SubnetIds.SubnetIdentifier.1", "subnet-1"),
            ("SubnetIds.SubnetIdentifier.2", "subnet-2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let form = recreate_form(&request, "old", &[("stackup:urn".into(), "u".into())]);
        let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Action"), Some("CreateDBSubnetGroup"));
        assert_eq!(get("DBSubnetGroupName"), Some("db"));
        assert_eq!(get("SubnetIds.SubnetIdentifier.2"), Some("subnet-2"));
        assert_eq!(get("DBSubnetGroupDescription"), Some("old"));
        assert_eq!(get("Tags.Tag.1.Key"), Some("stackup:urn"));
        assert_eq!(encode("a b/c:d"), "a%20b%2Fc%3Ad");
    }
}
