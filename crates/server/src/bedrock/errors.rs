//! Bedrock's error shape for every response on a Bedrock path, whichever layer produced it:
//! status, `x-amzn-ErrorType: <Name>`, body `{"message": "..."}`, and `x-amzn-RequestId` on
//! every response. Errors are made once, as [`crate::error::ApiError`]s, which travel with
//! the response; this layer renders the typed error (it never re-reads an OpenAI body), so
//! the dialects cannot drift apart. Which requests are Bedrock's is the route table's word.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::RequestId;

use crate::error::ApiError;

/// Set on a response by a layer that knows the exact AWS error (SigV4 failures).
#[derive(Debug, Clone)]
pub struct AwsError {
    pub error_type: &'static str,
    pub message: String,
}

fn error_type(status: StatusCode, code: Option<&str>) -> (&'static str, StatusCode) {
    match status.as_u16() {
        400 | 413 => ("ValidationException", status),
        // AWS answers authentication failures with 403.
        401 => ("UnrecognizedClientException", StatusCode::FORBIDDEN),
        403 => ("AccessDeniedException", status),
        404 if code == Some("unknown_url") => ("UnknownOperationException", status),
        404 => ("ResourceNotFoundException", status),
        405 => ("UnknownOperationException", StatusCode::NOT_FOUND),
        408 => ("ModelTimeoutException", status),
        409 => ("ConflictException", status),
        429 => ("ThrottlingException", status),
        503 => ("ServiceUnavailableException", status),
        _ => ("InternalServerException", status),
    }
}

pub async fn dialect(req: Request, next: Next) -> Response {
    if crate::routes::dialect(&req) != crate::routes::Dialect::Bedrock {
        return next.run(req).await;
    }
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.header_value().clone());
    let resp = next.run(req).await;
    let mut resp = if resp.status().is_client_error() || resp.status().is_server_error() {
        translate(resp).await
    } else {
        resp
    };
    if let Some(id) = request_id {
        resp.headers_mut().insert("x-amzn-requestid", id);
    }
    resp
}

/// The error code a typed error renders with (the route-not-found case is told apart).
fn code_of(e: &ApiError) -> Option<&'static str> {
    match e {
        ApiError::Denied { shown, .. } => code_of(shown),
        ApiError::UnknownRoute(_) => Some("unknown_url"),
        _ => None,
    }
}

async fn translate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let aws = parts.extensions.remove::<AwsError>();
    // Rendered from the typed error the response carries; only a response made without one
    // (none of scif's own) falls back to its body.
    let (message, code) = match parts.extensions.remove::<ApiError>() {
        Some(e) => (
            e.openai_body()["error"]["message"]
                .as_str()
                .unwrap_or("The request failed.")
                .to_owned(),
            code_of(&e),
        ),
        None => {
            let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
            let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let message = parsed["error"]["message"]
                .as_str()
                .unwrap_or("The request failed.")
                .to_owned();
            (message, None)
        }
    };
    let (mut kind, status) = error_type(parts.status, code);
    let mut message = message;
    if let Some(a) = aws {
        kind = a.error_type;
        message = a.message;
    }
    parts.status = status;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::WWW_AUTHENTICATE);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    let body = serde_json::json!({ "message": message }).to_string();
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_bedrock_names() {
        assert_eq!(
            error_type(StatusCode::UNAUTHORIZED, None),
            ("UnrecognizedClientException", StatusCode::FORBIDDEN)
        );
        assert_eq!(
            error_type(StatusCode::NOT_FOUND, Some("model_not_found")).0,
            "ResourceNotFoundException"
        );
        assert_eq!(
            error_type(StatusCode::TOO_MANY_REQUESTS, None).0,
            "ThrottlingException"
        );
        assert_eq!(
            error_type(StatusCode::BAD_REQUEST, None).0,
            "ValidationException"
        );
        assert_eq!(
            error_type(StatusCode::FORBIDDEN, None).0,
            "AccessDeniedException"
        );
    }
}
