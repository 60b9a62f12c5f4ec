//! JSON Web Key Sets (RFC 7517) reduced to the verification keys scif accepts.
//!
//! Each usable key is bound, when it is loaded, to exactly one algorithm: an RSA key to RS256,
//! a P-256 key to ES256 and an Ed25519 key to EdDSA. A token's `alg` must then name that same
//! algorithm, which is what makes algorithm confusion impossible: there is no code path where
//! a key is used with an algorithm other than its own, and no symmetric algorithm at all.
//!
//! Keys scif does not use (encryption keys, other curves, other algorithms, keys without a
//! `kid`) are skipped, since real identity providers publish them alongside signing keys. A
//! key of a supported type that cannot be decoded, an RSA key under 2048 bits, or a repeated
//! `kid` is an error: the operator should hear about it at start-up.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;

use crate::error::ConfigError;

/// The shortest RSA modulus accepted.
const MIN_RSA_BITS: usize = 2048;

/// The signature algorithms scif verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The JOSE name (`alg` value).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm a JOSE `alg` value names, if scif accepts it. `none`, `HS256` and every
    /// other name give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

/// A public key bound to its one algorithm.
#[derive(Clone)]
pub(crate) enum VerifyingKey {
    Rs256(Box<rsa::pkcs1v15::VerifyingKey<sha2::Sha256>>),
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl VerifyingKey {
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Rs256(_) => Algorithm::Rs256,
            Self::Es256(_) => Algorithm::Es256,
            Self::EdDsa(_) => Algorithm::EdDsa,
        }
    }
}

/// The verification keys of one issuer, by `kid`.
#[derive(Clone)]
pub struct KeySet {
    keys: BTreeMap<String, VerifyingKey>,
    skipped: usize,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: BTreeMap<&str, &str> = self
            .keys
            .iter()
            .map(|(kid, key)| (kid.as_str(), key.algorithm().name()))
            .collect();
        f.debug_struct("KeySet")
            .field("keys", &keys)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// One JWK as it appears in the document; only the members scif reads.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`), for instance read from a file on an
    /// air-gapped site or fetched from the identity provider by the caller.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let raw: RawJwks =
            serde_json::from_str(json).map_err(|e| ConfigError::JwksSyntax(e.to_string()))?;
        let mut keys = BTreeMap::new();
        let mut skipped = 0;
        for value in raw.keys {
            // A member of an unexpected type in a key we would skip anyway is not an error.
            let Ok(jwk) = serde_json::from_value::<RawJwk>(value) else {
                skipped += 1;
                continue;
            };
            match decode(&jwk)? {
                Some((kid, key)) => {
                    if keys.insert(kid.clone(), key).is_some() {
                        return Err(ConfigError::DuplicateKid(kid));
                    }
                }
                None => skipped += 1,
            }
        }
        if keys.is_empty() {
            return Err(ConfigError::NoUsableKeys);
        }
        Ok(Self { keys, skipped })
    }

    /// The key a token's `kid` names.
    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// The usable keys' ids and algorithms.
    pub fn keys(&self) -> impl Iterator<Item = (&str, Algorithm)> {
        self.keys
            .iter()
            .map(|(kid, key)| (kid.as_str(), key.algorithm()))
    }

    /// How many keys of the document were skipped as not for scif (other types, encryption
    /// keys, no `kid`).
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// A usable key, `None` for one scif skips, or an error for a broken key of a supported type.
fn decode(jwk: &RawJwk) -> Result<Option<(String, VerifyingKey)>, ConfigError> {
    let Some(kid) = jwk.kid.as_deref().filter(|kid| !kid.is_empty()) else {
        return Ok(None);
    };
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if let Some(ops) = &jwk.key_ops {
        if !ops.iter().any(|op| op == "verify") {
            return Ok(None);
        }
    }
    let bad = |reason: &str| ConfigError::BadKey {
        kid: kid.to_owned(),
        reason: reason.to_owned(),
    };
    let alg = jwk.alg.as_deref();
    let key = match (jwk.kty.as_deref(), jwk.crv.as_deref()) {
        (Some("RSA"), _) if alg.is_none() || alg == Some("RS256") => {
            let n = BigUint::from_bytes_be(&member(jwk.n.as_deref(), "n", &bad)?);
            let e = BigUint::from_bytes_be(&member(jwk.e.as_deref(), "e", &bad)?);
            let key = RsaPublicKey::new(n, e).map_err(|e| bad(&e.to_string()))?;
            if key.n().bits() < MIN_RSA_BITS {
                return Err(bad("rsa modulus shorter than 2048 bits"));
            }
            VerifyingKey::Rs256(Box::new(rsa::pkcs1v15::VerifyingKey::new(key)))
        }
        (Some("EC"), Some("P-256")) if alg.is_none() || alg == Some("ES256") => {
            let x = member(jwk.x.as_deref(), "x", &bad)?;
            let y = member(jwk.y.as_deref(), "y", &bad)?;
            if x.len() != 32 || y.len() != 32 {
                return Err(bad("p-256 coordinates must be 32 bytes"));
            }
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(0x04);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| bad("not a point on p-256"))?;
            VerifyingKey::Es256(key)
        }
        (Some("OKP"), Some("Ed25519"))
            if alg.is_none() || matches!(alg, Some("EdDSA" | "Ed25519")) =>
        {
            let x = member(jwk.x.as_deref(), "x", &bad)?;
            let bytes: [u8; 32] = x
                .as_slice()
                .try_into()
                .map_err(|_| bad("ed25519 key must be 32 bytes"))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| bad("not an ed25519 public key"))?;
            if key.is_weak() {
                return Err(bad("weak ed25519 key"));
            }
            VerifyingKey::EdDsa(key)
        }
        _ => return Ok(None),
    };
    Ok(Some((kid.to_owned(), key)))
}

/// A required base64url member of a key.
fn member(
    value: Option<&str>,
    name: &str,
    bad: &impl Fn(&str) -> ConfigError,
) -> Result<Vec<u8>, ConfigError> {
    let text = value.ok_or_else(|| bad(&format!("missing member {name}")))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad(&format!("member {name} is not base64url")))
}
