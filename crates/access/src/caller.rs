//! A verified caller, and why a caller was not verified.

use std::collections::BTreeSet;

use scif_authz::{Action, Principal};
use scif_identity::AuthnError;
use scif_store::StoreError;
use serde::Serialize;

/// What a request presented, as the HTTP layer read it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Presented<'a> {
    /// The `Authorization` header's value.
    pub authorization: Option<&'a str>,
    /// The identity of a client certificate the TLS layer already verified.
    pub client_cert: Option<ClientCert<'a>>,
    /// The request as signed, for SigV4 (`Authorization: AWS4-HMAC-SHA256 ...`).
    pub sigv4: Option<&'a scif_sigv4::SignedRequest<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct ClientCert<'a> {
    /// The principal id the certificate names (email SAN, else CN).
    pub identity: &'a str,
    pub subject: &'a str,
    pub fingerprint: &'a str,
}

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthMethod {
    ApiKey {
        key_id: String,
    },
    Oidc {
        issuer: String,
    },
    SigV4 {
        access_key_id: String,
        region: String,
    },
    ClientCert {
        subject: String,
        fingerprint: String,
    },
}

impl AuthMethod {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::ApiKey { .. } => "api_key",
            AuthMethod::Oidc { .. } => "oidc",
            AuthMethod::ClientCert { .. } => "client_cert",
            AuthMethod::SigV4 { .. } => "sigv4",
        }
    }
}

/// A verified caller: the principal and how it authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub method: AuthMethod,
    /// The actions an API key is limited to; `None` means no limit beyond the policies.
    pub scopes: Option<BTreeSet<String>>,
}

impl Caller {
    pub fn in_scope(&self, action: Action) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|s| s.contains(action.as_str()))
    }
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// Nothing was presented.
    #[error("no credentials presented")]
    Missing,
    /// A credential was presented and refused.
    #[error("credential refused: {0}")]
    Rejected(AuthnError),
    /// A SigV4 signature was refused.
    #[error("sigv4 refused: {0:?}")]
    SigV4(scif_sigv4::SigV4Error),
    /// The store could not be read: fail closed.
    #[error("credential store unavailable: {0}")]
    Store(StoreError),
    /// A stored record could not be interpreted: fail closed.
    #[error("{0}")]
    Corrupt(String),
}

impl AuthFailure {
    /// A short code for logs and the audit trail; never a secret.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Rejected(e) => e.reason(),
            AuthFailure::SigV4(e) => sigv4_reason(e),
            AuthFailure::Store(_) => "store_unavailable",
            AuthFailure::Corrupt(_) => "corrupt_record",
        }
    }

    /// Whether the fault is the caller's (401) rather than the server's (503).
    pub fn is_callers(&self) -> bool {
        matches!(
            self,
            AuthFailure::Missing | AuthFailure::Rejected(_) | AuthFailure::SigV4(_)
        )
    }
}

fn sigv4_reason(e: &scif_sigv4::SigV4Error) -> &'static str {
    use scif_sigv4::SigV4Error as E;
    match e {
        E::Missing => "sigv4_missing",
        E::Malformed(_) => "sigv4_malformed",
        E::UnrecognizedClient => "sigv4_unrecognized_client",
        E::SignatureMismatch => "sigv4_bad_signature",
        E::Expired => "sigv4_expired",
        E::WrongService => "sigv4_wrong_service",
        E::DateMismatch => "sigv4_date_mismatch",
        E::PayloadHashMismatch => "sigv4_payload_hash_mismatch",
        E::UnsignedRequiredHeader(_) => "sigv4_unsigned_header",
    }
}
