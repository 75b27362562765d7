//! The errors the proxy invents, in each service's real wire shape, so the SDK parses
//! them into the same error codes (and retry classes) as AWS's own.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::request::{Call, Protocol};
use crate::Body;

/// A body from bytes held in memory.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// DynamoDB's data-plane operations, throttled with
/// `ProvisionedThroughputExceededException` rather than `ThrottlingException`.
const DYNAMODB_DATA_PLANE: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];

/// The throttling error the call's service answers when over its rate.
pub(crate) fn throttle(call: &Call, request_id: &str) -> Response<Body> {
    match &call.protocol {
        Protocol::Ec2 => error(call, 503, "RequestLimitExceeded", "Request limit exceeded.", request_id),
        Protocol::Query => error(call, 400, "Throttling", "Rate exceeded", request_id),
        Protocol::Json(_) if call.service == "dynamodb" && DYNAMODB_DATA_PLANE.contains(&call.action.as_str()) => {
            error(
                call,
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
                request_id,
            )
        }
        Protocol::Json(_) => error(call, 400, "ThrottlingException", "Rate exceeded", request_id),
        Protocol::RestJson => error(call, 429, "ThrottlingException", "Rate exceeded", request_id),
        Protocol::S3 => error(call, 503, "SlowDown", "Please reduce your request rate.", request_id),
    }
}

/// A server-side failure: 500 `InternalError` or 503 `ServiceUnavailable`.
pub(crate) fn server_error(call: &Call, unavailable: bool, request_id: &str) -> Response<Body> {
    if unavailable {
        error(
            call,
            503,
            "ServiceUnavailable",
            "The service is unavailable. Please try again shortly.",
            request_id,
        )
    } else {
        error(
            call,
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
            request_id,
        )
    }
}

/// An error response of the call's protocol.
pub(crate) fn error(call: &Call, status: u16, code: &str, message: &str, request_id: &str) -> Response<Body> {
    let (content_type, body, extra): (String, String, Vec<(&str, String)>) = match &call.protocol
    {
        Protocol::Ec2 => (
            "text/xml;charset=UTF-8".into(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                xml(code),
                xml(message)
            ),
            vec![],
        ),
        Protocol::Query => {
            // AWS marks client-caused errors Sender and its own failures Receiver.
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            (
                "text/xml".into(),
                format!(
                    "<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    xml(code),
                    xml(message)
                ),
                vec![("x-amzn-requestid", request_id.to_string())],
            )
        }
        Protocol::Json(content_type) => {
            let kind = if call.service == "dynamodb" {
                format!("com.amazonaws.dynamodb.v20120810#{code}")
            } else {
                code.to_string()
            };
            (
                content_type.clone(),
                serde_json::json!({ "__type": kind, "message": message }).to_string(),
                vec![("x-amzn-requestid", request_id.to_string())],
            )
        }
        Protocol::RestJson => (
            "application/json".into(),
            serde_json::json!({ "ErrorCode": code, "Message": message, "message": message })
                .to_string(),
            vec![
                ("x-amzn-errortype", code.to_string()),
                ("x-amzn-requestid", request_id.to_string()),
            ],
        ),
        Protocol::S3 => (
            "application/xml".into(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>",
                xml(code),
                xml(message)
            ),
            vec![("x-amz-request-id", request_id.to_string())],
        ),
    };
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    response
}

/// A success the proxy answers itself (the RDS engine catalog).
pub(crate) fn answer(status: u16, content_type: &'static str, body: String, request_id: &str) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    response
}

/// CRC-32 (IEEE), as DynamoDB's `x-amz-crc32` header carries it.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
