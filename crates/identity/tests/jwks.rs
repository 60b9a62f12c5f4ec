//! Loading key sets and building verifiers: what is used, what is skipped, what is an error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{b64, ec_jwk, ec_key, ed_jwk, ed_key, jwks};
use scif_identity::{
    Algorithm, ClaimSource, ClaimsMapping, ConfigError, JwtConfig, JwtVerifier, KeySet,
};
use serde_json::{json, Value};

/// An RSA public key of `bits` bits; key loading does not need a real (factorable) modulus.
fn rsa_jwk(kid: &str, bits: usize) -> Value {
    let n = vec![0xffu8; bits / 8];
    json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": b64(&[1, 0, 1])})
}

fn bad_key(kid: &str) -> impl Fn(Result<KeySet, ConfigError>) -> bool + '_ {
    move |result| matches!(result, Err(ConfigError::BadKey { kid: k, .. }) if k == kid)
}

#[test]
fn usable_keys_are_bound_to_their_algorithm() {
    let set = KeySet::from_json(&jwks(&[
        rsa_jwk("r", 2048),
        ec_jwk("e", &ec_key()),
        ed_jwk("d", &ed_key()),
    ]))
    .unwrap();
    let keys: Vec<(&str, Algorithm)> = set.keys().collect();
    assert_eq!(
        keys,
        [
            ("d", Algorithm::EdDsa),
            ("e", Algorithm::Es256),
            ("r", Algorithm::Rs256)
        ]
    );
    assert_eq!(set.skipped(), 0);
}

#[test]
fn keys_not_for_signing_with_our_algorithms_are_skipped() {
    let mut enc = rsa_jwk("enc", 2048);
    enc["use"] = json!("enc");
    let mut oaep = rsa_jwk("oaep", 2048);
    oaep["alg"] = json!("RSA-OAEP");
    let mut ps256 = rsa_jwk("ps", 2048);
    ps256["alg"] = json!("PS256");
    let mut encrypt_ops = rsa_jwk("ops", 2048);
    encrypt_ops["key_ops"] = json!(["encrypt"]);
    let mut no_kid = rsa_jwk("", 2048);
    no_kid.as_object_mut().unwrap().remove("kid");
    let mut ec_as_rsa = ec_jwk("confused", &ec_key());
    ec_as_rsa["alg"] = json!("RS256");
    let p384 = json!({"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"});
    let x25519 = json!({"kty": "OKP", "kid": "x", "crv": "X25519", "x": "AA"});
    let hmac = json!({"kty": "oct", "kid": "hs", "k": b64(b"shared secret"), "alg": "HS256"});
    let odd = json!("not a key");
    let set = KeySet::from_json(&jwks(&[
        enc,
        oaep,
        ps256,
        encrypt_ops,
        no_kid,
        ec_as_rsa,
        p384,
        x25519,
        hmac,
        odd,
        ed_jwk("kept", &ed_key()),
    ]))
    .unwrap();
    assert_eq!(set.keys().map(|(kid, _)| kid).collect::<Vec<_>>(), ["kept"]);
    assert_eq!(set.skipped(), 10);
}

#[test]
fn broken_keys_of_supported_types_are_errors() {
    let mut no_n = rsa_jwk("no-n", 2048);
    no_n.as_object_mut().unwrap().remove("n");
    let mut not_b64 = rsa_jwk("not-b64", 2048);
    not_b64["e"] = json!("AQAB==");
    let off_curve =
        json!({"kty": "EC", "kid": "off", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[1; 32])});
    let short_ec = json!({"kty": "EC", "kid": "short-ec", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[1; 32])});
    let short_ed = json!({"kty": "OKP", "kid": "short-ed", "crv": "Ed25519", "x": b64(&[1; 31])});
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak_ed = json!({"kty": "OKP", "kid": "weak-ed", "crv": "Ed25519", "x": b64(&identity)});
    for (kid, key) in [
        ("short-rsa", rsa_jwk("short-rsa", 1024)),
        ("no-n", no_n),
        ("not-b64", not_b64),
        ("off", off_curve),
        ("short-ec", short_ec),
        ("short-ed", short_ed),
        ("weak-ed", weak_ed),
    ] {
        let result = KeySet::from_json(&jwks(&[key, ed_jwk("fine", &ed_key())]));
        assert!(bad_key(kid)(result.clone()), "{kid}: {result:?}");
    }
}

#[test]
fn documents_that_give_no_keys_are_errors() {
    assert_eq!(
        KeySet::from_json(&jwks(&[])).err(),
        Some(ConfigError::NoUsableKeys)
    );
    let only_enc = json!({"keys": [{"kty": "oct", "kid": "k", "k": "AA"}]}).to_string();
    assert_eq!(
        KeySet::from_json(&only_enc).err(),
        Some(ConfigError::NoUsableKeys)
    );
    for text in ["", "not json", "[]", "{}", r#"{"keys": {}}"#] {
        assert!(
            matches!(KeySet::from_json(text), Err(ConfigError::JwksSyntax(_))),
            "{text:?}"
        );
    }
}

#[test]
fn duplicate_kid_is_an_error() {
    let result = KeySet::from_json(&jwks(&[ec_jwk("k", &ec_key()), ed_jwk("k", &ed_key())]));
    assert_eq!(
        result.err(),
        Some(ConfigError::DuplicateKid("k".to_owned()))
    );
}

#[test]
fn verifier_configuration_is_validated() {
    let set = KeySet::from_json(&jwks(&[ed_jwk("d", &ed_key())])).unwrap();
    let good = JwtConfig {
        issuer: "https://idp".to_owned(),
        audience: "scif".to_owned(),
        leeway: Duration::from_secs(60),
        claims: ClaimsMapping::default(),
    };
    assert!(JwtVerifier::new(set.clone(), good.clone()).is_ok());
    let cases = [
        (
            JwtConfig {
                issuer: String::new(),
                ..good.clone()
            },
            "issuer",
        ),
        (
            JwtConfig {
                audience: String::new(),
                ..good.clone()
            },
            "audience",
        ),
        (
            JwtConfig {
                claims: ClaimsMapping {
                    subject_claim: String::new(),
                    ..ClaimsMapping::default()
                },
                ..good.clone()
            },
            "subject_claim",
        ),
        (
            JwtConfig {
                claims: ClaimsMapping {
                    groups_claim: Some(ClaimSource::optional("")),
                    ..ClaimsMapping::default()
                },
                ..good.clone()
            },
            "groups_claim",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(
            JwtVerifier::new(set.clone(), config).err(),
            Some(ConfigError::Empty(field))
        );
    }
}
