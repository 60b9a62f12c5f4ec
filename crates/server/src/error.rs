//! Errors as callers see them. Every failure becomes one [`ApiError`]; this module is the one
//! place that turns it into the OpenAI error shape and an HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use scif_provider::ProviderError;

/// The response header naming the limit a 429 is about.
pub const LIMIT_HEADER: &str = "x-scif-limit";

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400: the request is malformed or asks for something unsupported.
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// 404: no such model (or the caller may not see it).
    ModelNotFound(String),
    /// 404: no such route.
    UnknownRoute(String),
    /// 404: no such record in the admin API (or the caller may not see it).
    NotFound(String),
    /// 401: no credential, or one that did not verify. The message is the same for every
    /// failure, so it tells an attacker nothing.
    Unauthenticated,
    /// 403: authenticated, and refused. The message names the action, never a label or policy.
    Forbidden(String),
    /// 409: the record already exists.
    Conflict(String),
    /// 405
    MethodNotAllowed(String),
    /// 413
    PayloadTooLarge(usize),
    /// 429: the queue is full.
    Overloaded { retry_after_secs: u64 },
    /// 429: the caller is over a configured limit (named, so the caller knows which).
    RateLimited {
        limit: String,
        kind: &'static str,
        retry_after_secs: u64,
    },
    /// 503: not ready, shutting down, or the generation was cancelled.
    Unavailable(String),
    /// 500: a bug or an engine failure; the message is safe to show.
    Internal(String),
    /// A refusal by an authorization decision: the caller is shown `shown` (a 404 when the
    /// decision was on label grounds, so hidden and missing answer alike), and the decision
    /// travels with the response to the audit trail.
    Denied {
        shown: Box<ApiError>,
        decision: Box<scif_authz::Decision>,
    },
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_string),
            code: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Denied { shown, .. } => shown.status(),
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::ModelNotFound(_) | ApiError::UnknownRoute(_) | ApiError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Overloaded { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI error object: `{"error": {"message", "type", "param", "code"}}`.
    pub fn openai_body(&self) -> serde_json::Value {
        if let ApiError::Denied { shown, .. } = self {
            return shown.openai_body();
        }
        let (message, kind, param, code): (String, &str, Option<String>, Option<&str>) = match self
        {
            ApiError::InvalidRequest {
                message,
                param,
                code,
            } => (
                message.clone(),
                "invalid_request_error",
                param.clone(),
                *code,
            ),
            ApiError::ModelNotFound(m) => (
                format!("The model `{m}` does not exist or you do not have access to it."),
                "invalid_request_error",
                Some("model".into()),
                Some("model_not_found"),
            ),
            ApiError::NotFound(what) => (
                format!("No such {what}."),
                "invalid_request_error",
                None,
                Some("not_found"),
            ),
            ApiError::Unauthenticated => (
                "Missing, invalid or expired credentials. Send an API key or token as \
                 `Authorization: Bearer ...`."
                    .into(),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
            ApiError::Forbidden(m) => (
                m.clone(),
                "invalid_request_error",
                None,
                Some("permission_denied"),
            ),
            ApiError::Conflict(what) => (
                format!("{what} already exists."),
                "invalid_request_error",
                None,
                Some("conflict"),
            ),
            ApiError::UnknownRoute(r) => (
                format!("Unknown request URL: {r}."),
                "invalid_request_error",
                None,
                Some("unknown_url"),
            ),
            ApiError::MethodNotAllowed(r) => (
                format!("Method not allowed: {r}."),
                "invalid_request_error",
                None,
                Some("method_not_allowed"),
            ),
            ApiError::PayloadTooLarge(limit) => (
                format!("The request body is larger than the limit of {limit} bytes."),
                "invalid_request_error",
                None,
                Some("request_too_large"),
            ),
            ApiError::Overloaded { retry_after_secs } => (
                format!("The server is at capacity; retry after {retry_after_secs} seconds."),
                "rate_limit_error",
                None,
                Some("queue_full"),
            ),
            ApiError::RateLimited {
                limit,
                kind,
                retry_after_secs,
            } => (
                format!(
                    "Rate limit exceeded: limit `{limit}` ({kind}); retry after {retry_after_secs} seconds."
                ),
                "rate_limit_error",
                None,
                Some("rate_limit_exceeded"),
            ),
            ApiError::Unavailable(m) => {
                (m.clone(), "server_error", None, Some("service_unavailable"))
            }
            ApiError::Internal(m) => (m.clone(), "server_error", None, None),
            ApiError::Denied { .. } => ("The request was refused.".into(), "invalid_request_error", None, None),
        };
        json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Denied { shown, decision } = self {
            let mut resp = shown.into_response();
            resp.extensions_mut().insert(*decision);
            return resp;
        }
        let mut resp = (self.status(), axum::Json(self.openai_body())).into_response();
        // The typed error travels with the response, so that a dialect's layer renders it in
        // its own shape without re-reading the body.
        resp.extensions_mut().insert(self.clone());
        if let ApiError::Unauthenticated = self {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scif\""),
            );
        }
        let retry_after = match &self {
            ApiError::Overloaded { retry_after_secs }
            | ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let ApiError::RateLimited { limit, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(limit) {
                resp.headers_mut().insert(LIMIT_HEADER, v);
            }
        }
        resp
    }
}

impl From<scif_service::Error> for ApiError {
    fn from(e: scif_service::Error) -> Self {
        use scif_service::Error as E;
        match e {
            E::InvalidRequest {
                message,
                param,
                code,
            } => ApiError::InvalidRequest {
                message,
                param,
                code,
            },
            E::ModelNotFound(m) => ApiError::ModelNotFound(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::Forbidden(m) => ApiError::Forbidden(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::Overloaded { retry_after_secs } => ApiError::Overloaded { retry_after_secs },
            E::RateLimited {
                limit,
                kind,
                retry_after_secs,
            } => ApiError::RateLimited {
                limit,
                kind,
                retry_after_secs,
            },
            E::Unavailable(m) => ApiError::Unavailable(m),
            E::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        // The service's one mapping, so that a provider's refusal reads the same everywhere.
        ApiError::from(scif_service::Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_statuses() {
        let cases = [
            (
                ApiError::invalid("bad", Some("temperature")),
                400,
                "invalid_request_error",
            ),
            (
                ApiError::ModelNotFound("x".into()),
                404,
                "invalid_request_error",
            ),
            (ApiError::PayloadTooLarge(10), 413, "invalid_request_error"),
            (ApiError::Unauthenticated, 401, "invalid_request_error"),
            (
                ApiError::Forbidden("no".into()),
                403,
                "invalid_request_error",
            ),
            (
                ApiError::NotFound("key".into()),
                404,
                "invalid_request_error",
            ),
            (ApiError::Conflict("x".into()), 409, "invalid_request_error"),
            (
                ApiError::Overloaded {
                    retry_after_secs: 2,
                },
                429,
                "rate_limit_error",
            ),
            (
                ApiError::RateLimited {
                    limit: "analysts-rpm".into(),
                    kind: "requests_per_minute",
                    retry_after_secs: 7,
                },
                429,
                "rate_limit_error",
            ),
            (ApiError::Unavailable("x".into()), 503, "server_error"),
            (ApiError::Internal("x".into()), 500, "server_error"),
        ];
        for (err, status, kind) in cases {
            assert_eq!(err.status().as_u16(), status);
            let body = err.openai_body();
            assert_eq!(body["error"]["type"], kind);
            for k in ["message", "type", "param", "code"] {
                assert!(body["error"].get(k).is_some(), "{k} missing in {body}");
            }
        }
        let resp = ApiError::Overloaded {
            retry_after_secs: 3,
        }
        .into_response();
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("3")
        );
    }
}
