//! Credential verification for scif: API keys and OIDC/JWT bearer tokens.
//!
//! Every request's identity is verified; nothing is trusted for where it comes from. This
//! crate turns a presented credential into a verified identity or a refusal, and does nothing
//! else: **no network, no HTTP types, no storage, no clock of its own.** Callers pass in the
//! current time, look up API key records, and load the JWKS document (a file on air-gapped
//! sites), so every check here is a pure function that tests can drive exactly.
//!
//! - [`ApiKeys`]: `scif_<key id>_<secret>` keys with a 256-bit random secret, stored only as an
//!   HMAC-SHA256 under a server-side pepper, compared in constant time, with expiry,
//!   revocation and scopes.
//! - [`JwtVerifier`]: RS256, ES256 and EdDSA bearer tokens checked against a [`KeySet`] by
//!   `kid`, with issuer, audience, `exp` and `nbf` (with leeway) checked, `alg: none`, HMAC
//!   algorithms and algorithm confusion refused, and claims mapped to attributes by a
//!   [`ClaimsMapping`].
//!
//! Failures are [`AuthnError`]s: precise for the audit trail, one [`AuthnError::public_message`]
//! for the caller. No error, and no `Debug` output, contains a secret or a token.
#![forbid(unsafe_code)]

mod api_key;
mod claims;
mod error;
mod jwks;
mod jwt;

pub use api_key::{ApiKeySecret, ApiKeys, KeyHash, KeyId, KeyRecord, NewApiKey, VerifiedKey};
pub use claims::{ClaimSource, ClaimsMapping, VerifiedClaims};
pub use error::{AuthnError, ConfigError};
pub use jwks::{Algorithm, KeySet};
pub use jwt::{JwtConfig, JwtVerifier};
