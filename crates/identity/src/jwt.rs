//! OIDC/JWT bearer tokens (RFC 7519, compact JWS only), verified against a [`KeySet`].
//!
//! The order of checks is the safe one: the shape and the header first, then the signature
//! with the key the `kid` names (whose algorithm must be the `alg`), and only then is the
//! payload parsed and its issuer, audience, lifetime and mapped claims read. Nothing in the
//! token chooses a key other than by `kid`: `jku`, `x5u`, `jwk` and `x5c` headers are ignored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::claims::{ClaimsMapping, VerifiedClaims};
use crate::error::{AuthnError, ConfigError};
use crate::jwks::{Algorithm, KeySet, VerifyingKey};

/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The exact `iss` expected.
    pub issuer: String,
    /// The audience scif must find in `aud` (a string or an array of strings).
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Which claims carry which attributes.
    pub claims: ClaimsMapping,
}

/// Verifies bearer tokens of one issuer.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    keys: KeySet,
    config: JwtConfig,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
}

impl JwtVerifier {
    /// A verifier for tokens from `config.issuer`, signed with keys from `keys`. Rotating keys
    /// means building a new verifier from the new set.
    pub fn new(keys: KeySet, config: JwtConfig) -> Result<Self, ConfigError> {
        if config.issuer.is_empty() {
            return Err(ConfigError::Empty("issuer"));
        }
        if config.audience.is_empty() {
            return Err(ConfigError::Empty("audience"));
        }
        config.claims.validate()?;
        Ok(Self { keys, config })
    }

    /// The key set in use.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Verifies a compact JWS token (without the `Bearer ` prefix) at time `now`.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<VerifiedClaims, AuthnError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthnError::Malformed);
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(AuthnError::Malformed);
        };
        let header: Header = serde_json::from_slice(&decode_segment(header_b64)?)
            .map_err(|_| AuthnError::Malformed)?;

        // The algorithm must be one of ours before anything else is looked at: this is where
        // `none` and every HMAC algorithm end.
        let alg = header.alg.as_deref().ok_or(AuthnError::Malformed)?;
        let alg = Algorithm::from_name(alg).ok_or(AuthnError::UnsupportedAlgorithm)?;
        if header.crit.is_some() {
            return Err(AuthnError::UnsupportedTokenType);
        }
        if let Some(typ) = header.typ.as_deref() {
            if !acceptable_type(typ) {
                return Err(AuthnError::UnsupportedTokenType);
            }
        }
        let kid = header.kid.as_deref().ok_or(AuthnError::UnknownKey)?;
        let key = self.keys.get(kid).ok_or(AuthnError::UnknownKey)?;
        if key.algorithm() != alg {
            return Err(AuthnError::AlgorithmMismatch);
        }

        let signature = decode_segment(signature_b64)?;
        let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
        verify_signature(key, signed.as_bytes(), &signature)?;

        let claims: Map<String, Value> = serde_json::from_slice(&decode_segment(payload_b64)?)
            .map_err(|_| AuthnError::Malformed)?;
        self.check_registered_claims(&claims, now)
    }

    fn check_registered_claims(
        &self,
        claims: &Map<String, Value>,
        now: SystemTime,
    ) -> Result<VerifiedClaims, AuthnError> {
        let issuer = match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.config.issuer => iss.clone(),
            Some(Value::String(_)) => return Err(AuthnError::WrongIssuer),
            Some(_) => return Err(AuthnError::InvalidClaim("iss".to_owned())),
            None => return Err(AuthnError::MissingClaim("iss".to_owned())),
        };
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.config.audience,
            Some(Value::Array(auds)) => {
                let mut found = false;
                for aud in auds {
                    match aud {
                        Value::String(aud) => found |= *aud == self.config.audience,
                        _ => return Err(AuthnError::InvalidClaim("aud".to_owned())),
                    }
                }
                found
            }
            Some(_) => return Err(AuthnError::InvalidClaim("aud".to_owned())),
            None => return Err(AuthnError::MissingClaim("aud".to_owned())),
        };
        if !audience_ok {
            return Err(AuthnError::WrongAudience);
        }

        let now = unix_seconds(now);
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(i64::MAX);
        let exp = numeric_date(claims, "exp")?
            .ok_or_else(|| AuthnError::MissingClaim("exp".to_owned()))?;
        if now >= exp.saturating_add(leeway) {
            return Err(AuthnError::Expired);
        }
        if let Some(nbf) = numeric_date(claims, "nbf")? {
            if now.saturating_add(leeway) < nbf {
                return Err(AuthnError::NotYetValid);
            }
        }
        self.config.claims.apply(claims, issuer, exp)
    }
}

/// Accepts the media types of a plain JWT and of an OAuth access token (RFC 9068), with or
/// without the `application/` prefix; refuses other kinds of JWT (logout tokens, DPoP proofs,
/// ...) so one kind cannot be replayed as another.
fn acceptable_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    matches!(typ, "jwt" | "at+jwt")
}

/// Strict base64url without padding.
fn decode_segment(segment: &str) -> Result<Vec<u8>, AuthnError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthnError::Malformed)
}

fn verify_signature(key: &VerifyingKey, signed: &[u8], signature: &[u8]) -> Result<(), AuthnError> {
    let verified = match key {
        VerifyingKey::Rs256(public) => {
            use rsa::signature::Verifier as _;
            rsa::pkcs1v15::Signature::try_from(signature)
                .map(|sig| public.verify(signed, &sig).is_ok())
                .unwrap_or(false)
        }
        VerifyingKey::Es256(public) => {
            use p256::ecdsa::signature::Verifier as _;
            // JOSE carries r || s (64 bytes), not DER.
            p256::ecdsa::Signature::from_slice(signature)
                .map(|sig| public.verify(signed, &sig).is_ok())
                .unwrap_or(false)
        }
        VerifyingKey::EdDsa(public) => ed25519_dalek::Signature::from_slice(signature)
            .map(|sig| public.verify_strict(signed, &sig).is_ok())
            .unwrap_or(false),
    };
    if verified {
        Ok(())
    } else {
        Err(AuthnError::BadSignature)
    }
}

/// A NumericDate claim in whole seconds (fractions are dropped), `None` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, AuthnError> {
    let invalid = || AuthnError::InvalidClaim(name.to_owned());
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            // Finite and within i64 range: the casts below cannot saturate surprisingly.
            (None, Some(f)) if f.is_finite() && f.abs() < 9.0e18 => Ok(Some(f.floor() as i64)),
            _ => Err(invalid()),
        },
        Some(_) => Err(invalid()),
    }
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signatures made by other implementations: the examples of RFC 7515 appendix A.2 (RS256)
    /// and A.3 (ES256) and RFC 8037 appendix A.4 (EdDSA).
    #[test]
    fn rfc_example_signatures_verify() {
        const RFC7515_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "e": "AQAB",
             "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"},
            {"kty": "EC", "kid": "ec", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        ]});
        let keys = KeySet::from_json(&jwks.to_string()).unwrap();
        let cases = [
            ("rsa", format!("eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}"),
             "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"),
            ("ec", format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}"),
             "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"),
            ("ed", "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc".to_owned(),
             "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"),
        ];
        for (kid, signed, signature) in cases {
            let key = keys.get(kid).unwrap();
            let mut signature = decode_segment(signature).unwrap();
            assert_eq!(
                verify_signature(key, signed.as_bytes(), &signature),
                Ok(()),
                "{kid}"
            );
            let tampered = format!("{signed}x");
            assert_eq!(
                verify_signature(key, tampered.as_bytes(), &signature),
                Err(AuthnError::BadSignature),
                "{kid} tampered input"
            );
            if let Some(last) = signature.last_mut() {
                *last ^= 1;
            }
            assert_eq!(
                verify_signature(key, signed.as_bytes(), &signature),
                Err(AuthnError::BadSignature),
                "{kid} tampered signature"
            );
            // Truncated or empty signatures are bad signatures, not panics.
            for cut in [0, 1, signature.len() - 1] {
                assert_eq!(
                    verify_signature(key, signed.as_bytes(), &signature[..cut]),
                    Err(AuthnError::BadSignature),
                    "{kid} cut to {cut}"
                );
            }
        }
    }
}
