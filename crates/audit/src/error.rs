//! Error type shared by the writer, the key helpers and the readers.

use std::io;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The trail failed earlier (a write or fsync error) and now refuses every append.
    #[error("audit trail is unhealthy (fail closed): {0}")]
    Unhealthy(String),
    /// Another process holds the trail's writer lock.
    #[error("{0} is in use by another scif process (one writer per trail)")]
    Locked(String),
    /// The trail has been closed.
    #[error("audit trail is closed")]
    Closed,
    /// `Receipt::wait_timeout` ran out of time. The event may still be committed later.
    #[error("timed out waiting for the audit record to be committed")]
    Timeout,
    /// The on-disk trail is corrupt in a way `Trail::open` refuses to repair.
    #[error("audit trail is corrupt: {0}")]
    Corrupt(String),
    /// A key file is missing, malformed or inconsistent.
    #[error("audit signing key: {0}")]
    Key(String),
    /// The configuration is invalid.
    #[error("invalid audit configuration: {0}")]
    Config(String),
    /// JSON (de)serialization failed.
    #[error("audit JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl AuditError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        AuditError::Io {
            context: context.into(),
            source,
        }
    }
}
