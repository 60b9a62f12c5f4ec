//! The OpenAI dialect: request parsing and validation, response and SSE shapes.

pub mod chat;
pub mod embeddings;
pub mod models;
pub mod types;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// A JSON body parsed with OpenAI's error shapes: malformed JSON and unknown fields are 400s, a
/// body over the configured limit is a 413.
pub struct OpenAiJson<T>(pub T);

/// A request body read whole, with the body limit's refusal as a 413 in scif's error shape
/// (which the Bedrock layer translates like any other error).
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(state.config.server.max_body_bytes)
                } else {
                    ApiError::invalid(e.body_text(), None)
                }
            })
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for OpenAiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::invalid(
                "The request body is empty; expected a JSON object.",
                None,
            ));
        }
        serde_json::from_slice(&bytes)
            .map(OpenAiJson)
            .map_err(|e| json_error(&e))
    }
}

fn json_error(e: &serde_json::Error) -> ApiError {
    let msg = e.to_string();
    if let Some(field) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        return ApiError::invalid(
            format!("Unrecognized request argument supplied: {field}"),
            Some(field),
        );
    }
    if e.is_syntax() || e.is_eof() {
        return ApiError::invalid(
            format!("We could not parse the JSON body of your request ({msg}). The body must be valid JSON."),
            None,
        );
    }
    ApiError::invalid(format!("Invalid request: {msg}"), None)
}
