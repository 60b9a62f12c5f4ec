//! The crate's errors: [`AuthnError`] for a credential that failed verification (a caller's
//! fault, answered 401) and [`ConfigError`] for a verifier that could not be built (an
//! operator's fault, reported at start-up).

/// Why a presented credential was refused.
///
/// The variants are for the audit trail and the operator's logs; none of them carries the
/// credential, a secret, a token or a claim value. What a caller is told is
/// [`AuthnError::public_message`], which is the same for every variant, so a refusal never
/// tells an attacker which check failed (an unknown key id and a wrong secret are even the
/// same variant, [`AuthnError::InvalidCredentials`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnError {
    /// The credential does not have the expected shape (prefix, segments, encoding, JSON).
    #[error("malformed credential")]
    Malformed,
    /// Unknown API key id, or a secret that does not match the stored hash.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The credential's lifetime has ended.
    #[error("credential expired")]
    Expired,
    /// The API key was revoked.
    #[error("credential revoked")]
    Revoked,
    /// The token's `nbf` is still in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// The token's signature does not verify with the key its `kid` names.
    #[error("bad token signature")]
    BadSignature,
    /// The token's `alg` is not one scif accepts (`none`, the `HS*` family, anything unknown).
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    /// The token's `alg` does not match the type or declared algorithm of the key its `kid`
    /// names (algorithm confusion).
    #[error("token algorithm does not match its key")]
    AlgorithmMismatch,
    /// The token has no `kid`, or one that is not in the key set.
    #[error("unknown token key")]
    UnknownKey,
    /// The token's `typ` header names another kind of JWT, or it carries a `crit` header.
    #[error("unsupported token type or critical header")]
    UnsupportedTokenType,
    /// The token's `iss` is not the configured issuer.
    #[error("wrong token issuer")]
    WrongIssuer,
    /// The configured audience is not among the token's `aud`.
    #[error("wrong token audience")]
    WrongAudience,
    /// A claim the configuration requires is absent (the claim's name, never its value).
    #[error("missing claim {0}")]
    MissingClaim(String),
    /// A claim has the wrong JSON type (the claim's name, never its value).
    #[error("invalid claim {0}")]
    InvalidClaim(String),
}

impl AuthnError {
    /// The one message a caller may see, whatever the reason.
    pub fn public_message(&self) -> &'static str {
        "invalid or expired credentials"
    }

    /// A stable, lowercase code naming the reason, for the audit trail and metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::NotYetValid => "not_yet_valid",
            Self::BadSignature => "bad_signature",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::UnknownKey => "unknown_key",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
        }
    }
}

/// Why a verifier could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The API key prefix is empty, too long, or not lowercase ASCII letters and digits
    /// ending in `_`.
    #[error("api key prefix must be 2 to 16 lowercase ascii letters or digits ending in '_'")]
    BadPrefix,
    /// The API key pepper is shorter than 32 bytes.
    #[error("api key pepper must be at least 32 bytes")]
    ShortPepper,
    /// The JWKS document is not valid JSON of the expected shape.
    #[error("jwks is not a valid json web key set: {0}")]
    JwksSyntax(String),
    /// A key of a supported type in the JWKS could not be decoded or is too weak.
    #[error("jwks key {kid:?} is invalid: {reason}")]
    BadKey {
        /// The key's `kid`.
        kid: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two keys in the JWKS share a `kid`.
    #[error("jwks has more than one key with kid {0:?}")]
    DuplicateKid(String),
    /// The JWKS has no key scif can use (RS256, ES256 or EdDSA signing keys with a `kid`).
    #[error("jwks has no usable signing key (RS256, ES256 or EdDSA with a kid)")]
    NoUsableKeys,
    /// The issuer or audience is empty, or a claim name is empty.
    #[error("jwt configuration: {0} must not be empty")]
    Empty(&'static str),
}
