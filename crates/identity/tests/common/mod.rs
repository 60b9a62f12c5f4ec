//! Test keys made in the tests, a minimal JWS signer, and JWK rendering.
#![allow(dead_code)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RSA key generation is slow unoptimized: one 2048-bit key per test binary.
pub fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap())
}

pub fn ec_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::random(&mut OsRng)
}

pub fn ed_key() -> ed25519_dalek::SigningKey {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

pub fn rsa_jwk(kid: &str, key: &rsa::RsaPublicKey) -> Value {
    json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()),
    })
}

pub fn ec_jwk(kid: &str, key: &p256::ecdsa::SigningKey) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
    })
}

pub fn ed_jwk(kid: &str, key: &ed25519_dalek::SigningKey) -> Value {
    json!({
        "kty": "OKP", "kid": kid, "crv": "Ed25519", "alg": "EdDSA",
        "x": b64(&key.verifying_key().to_bytes()),
    })
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// A signer for one algorithm.
pub enum Signer<'a> {
    Rs256(&'a rsa::RsaPrivateKey),
    Es256(&'a p256::ecdsa::SigningKey),
    EdDsa(&'a ed25519_dalek::SigningKey),
    Hs256(&'a [u8]),
    /// No signature at all (`alg: none`).
    Unsigned,
}

impl Signer<'_> {
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Rs256(key) => {
                use rsa::signature::{SignatureEncoding, Signer as _};
                rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((*key).clone())
                    .sign(message)
                    .to_vec()
            }
            Self::Es256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let sig: p256::ecdsa::Signature = key.sign(message);
                sig.to_bytes().to_vec()
            }
            Self::EdDsa(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(message).to_bytes().to_vec()
            }
            Self::Hs256(secret) => {
                use hmac::Mac as _;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Unsigned => Vec::new(),
        }
    }
}

/// A compact JWS of `header` and `claims`, signed by `signer`.
pub fn token(header: &Value, claims: &Value, signer: &Signer<'_>) -> String {
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = signer.sign(signed.as_bytes());
    format!("{signed}.{}", b64(&signature))
}
