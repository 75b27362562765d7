use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use stackup_provider::{ErrorKind, ProviderError};

/// Classifies an SDK error into the provider contract's kinds, keeping the service's
/// error code and message.
pub fn classify<E, R>(action: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::DispatchFailure(_) if unreachable(&describe(&err)) => {
            ProviderError::new(ErrorKind::Unreachable, format!("{action}: {}", describe(&err)))
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ProviderError::new(ErrorKind::Transient, format!("{action}: {}", describe(&err)))
        }
        SdkError::ServiceError(_) | SdkError::ConstructionFailure(_) => {
            let code = err.code().unwrap_or("Unknown").to_string();
            let message = err.message().unwrap_or("no message").to_string();
            ProviderError::new(kind_of_code(&code), format!("{action}: {message}")).with_code(code)
        }
        _ => ProviderError::new(ErrorKind::Other, format!("{action}: {}", describe(&err))),
    }
}

/// Whether a request that was never answered failed because the endpoint cannot be
/// reached at all or no credentials could be found (nothing a retry of this call can
/// mend), rather than because an open connection dropped (worth retrying). The SDK's
/// connector error says which only in its text.
fn unreachable(description: &str) -> bool {
    const NEVER_CONNECTED: [&str; 6] = [
        "tcp connect error",
        "Connection refused",
        "dns error",
        "failed to lookup address",
        "error occurred while loading credentials",
        "no credentials",
    ];
    NEVER_CONNECTED.iter().any(|m| description.contains(m))
}

fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(err: &SdkError<E, R>) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The error kind of an AWS error code.
pub fn kind_of_code(code: &str) -> ErrorKind {
    match code {
        c if c.ends_with(".NotFound")
            || c.ends_with("NotFound")
            || c.ends_with("NotFoundException")
            || c.ends_with("NotFoundFault")
            || c.starts_with("NoSuch")
            || c == "NoSuchEntity" =>
        {
            ErrorKind::NotFound
        }
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "SlowDown"
        | "RequestThrottled" => ErrorKind::Throttled,
        "DependencyViolation" | "ResourceInUse" | "ResourceInUseException" | "DeleteConflict" => {
            ErrorKind::DependencyViolation
        }
        // Credentials AWS does not accept (unknown, expired, badly signed, a clock far
        // off): every call of the run would be refused the same way.
        "AuthFailure"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "RequestExpired" => ErrorKind::Unreachable,
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => ErrorKind::AccessDenied,
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable" => ErrorKind::Transient,
        c if c.contains("Duplicate") || c.contains("AlreadyExists") || c.contains("InUse") => ErrorKind::Conflict,
        c if c.starts_with("Invalid") || c.starts_with("Missing") || c.contains("Malformed") => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}
