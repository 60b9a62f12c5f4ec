//! The one error code of the service layer. Every stage fails with an [`Error`]; each dialect
//! (OpenAI, Bedrock, Anthropic, admin) renders it in its own shape, in the server, from this
//! one value, so that a refusal means the same thing whatever the caller speaks.

use scif_provider::ProviderError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The request is malformed or asks for something unsupported.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// No such model, or one the caller may not see (the two answer alike).
    #[error("the model `{0}` does not exist or you do not have access to it")]
    ModelNotFound(String),
    /// No such record (or one the caller may not see).
    #[error("no such {0}")]
    NotFound(String),
    /// Authenticated, and refused. The message names the action, never a label or policy.
    #[error("{0}")]
    Forbidden(String),
    /// The record already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// The work queue is full.
    #[error("the server is busy; retry after {retry_after_secs} seconds")]
    Overloaded { retry_after_secs: u64 },
    /// The caller is over a configured limit.
    #[error("rate limit `{limit}` exceeded")]
    RateLimited {
        limit: String,
        kind: &'static str,
        retry_after_secs: u64,
    },
    /// Not ready, shutting down, the audit trail cannot record, or the provider is down.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an engine failure; the message is safe to show.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_string),
            code: None,
        }
    }
}

impl From<ProviderError> for Error {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::ModelNotFound(m) => Error::ModelNotFound(m),
            ProviderError::ContextLength(message) => Error::InvalidRequest {
                message,
                param: Some("messages".into()),
                code: Some("context_length_exceeded"),
            },
            ProviderError::InvalidRequest(message) => Error::InvalidRequest {
                message,
                param: None,
                code: None,
            },
            ProviderError::InvalidParam { param, message } => Error::InvalidRequest {
                message,
                param: Some(param.into()),
                code: None,
            },
            ProviderError::Overloaded { retry_after_secs } => {
                Error::Overloaded { retry_after_secs }
            }
            ProviderError::Unavailable(m) => Error::Unavailable(m),
            ProviderError::NotAccredited(m) => Error::Forbidden(m),
            ProviderError::Internal(m) => Error::Internal(m),
        }
    }
}
