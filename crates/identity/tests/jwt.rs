//! Bearer tokens: valid tokens for each algorithm and the attacks that must fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{b64, ec_jwk, ec_key, ed_jwk, ed_key, jwks, rsa_jwk, rsa_key, token, Signer};
use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};
use scif_identity::{
    AuthnError, ClaimSource, ClaimsMapping, JwtConfig, JwtVerifier, KeySet, VerifiedClaims,
};
use serde_json::{json, Value};

const NOW: i64 = 1_700_000_000;
const ISSUER: &str = "https://idp.example.mil/realms/scif";

struct Fixture {
    ec: p256::ecdsa::SigningKey,
    ed: ed25519_dalek::SigningKey,
    verifier: JwtVerifier,
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW as u64)
}

fn mapping() -> ClaimsMapping {
    ClaimsMapping {
        subject_claim: "sub".to_owned(),
        clearance_claim: Some(ClaimSource::required("clearance")),
        nationality_claim: Some(ClaimSource::optional("nationality")),
        us_person_claim: Some(ClaimSource::optional("us_person")),
        groups_claim: Some(ClaimSource::optional("/realm_access/roles")),
        accesses_claim: Some(ClaimSource::optional("accesses")),
    }
}

fn fixture() -> Fixture {
    let ec = ec_key();
    let ed = ed_key();
    let set = KeySet::from_json(&jwks(&[
        rsa_jwk("rsa-1", &rsa_key().to_public_key()),
        ec_jwk("ec-1", &ec),
        ed_jwk("ed-1", &ed),
    ]))
    .unwrap();
    let config = JwtConfig {
        issuer: ISSUER.to_owned(),
        audience: "scif".to_owned(),
        leeway: Duration::from_secs(30),
        claims: mapping(),
    };
    let verifier = JwtVerifier::new(set, config).unwrap();
    Fixture { ec, ed, verifier }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": "scif",
        "sub": "alice",
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 300,
        "clearance": "TOP SECRET//SI/TK",
        "nationality": "USA",
        "us_person": true,
        "realm_access": {"roles": ["analysts", "admins"]},
        "accesses": ["PHI"],
    })
}

fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "kid": kid, "typ": "JWT"})
}

/// `claims()` with some members replaced (a null member removes it).
fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

impl Fixture {
    fn rs256(&self, claims: &Value) -> String {
        token(&header("RS256", "rsa-1"), claims, &Signer::Rs256(rsa_key()))
    }

    fn es256(&self, claims: &Value) -> String {
        token(&header("ES256", "ec-1"), claims, &Signer::Es256(&self.ec))
    }

    fn eddsa(&self, claims: &Value) -> String {
        token(&header("EdDSA", "ed-1"), claims, &Signer::EdDsa(&self.ed))
    }

    fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthnError> {
        self.verifier.verify(token, now())
    }
}

fn expected() -> VerifiedClaims {
    VerifiedClaims {
        subject: "alice".to_owned(),
        issuer: ISSUER.to_owned(),
        expires_at: NOW + 300,
        clearance: Some("TOP SECRET//SI/TK".to_owned()),
        nationality: Some("USA".to_owned()),
        us_person: Some(true),
        groups: BTreeSet::from(["admins".to_owned(), "analysts".to_owned()]),
        accesses: BTreeSet::from(["PHI".to_owned()]),
    }
}

#[test]
fn valid_token_for_each_algorithm() {
    let f = fixture();
    for (alg, token) in [
        ("RS256", f.rs256(&claims())),
        ("ES256", f.es256(&claims())),
        ("EdDSA", f.eddsa(&claims())),
    ] {
        assert_eq!(f.verify(&token), Ok(expected()), "{alg}");
    }
}

#[test]
fn registered_claim_checks() {
    let f = fixture();
    let cases: Vec<(&str, Value, Result<(), AuthnError>)> = vec![
        (
            "expired",
            json!({"exp": NOW - 31}),
            Err(AuthnError::Expired),
        ),
        (
            "expired at the leeway's end",
            json!({"exp": NOW - 30}),
            Err(AuthnError::Expired),
        ),
        ("expired within leeway", json!({"exp": NOW - 29}), Ok(())),
        (
            "not yet valid",
            json!({"nbf": NOW + 31}),
            Err(AuthnError::NotYetValid),
        ),
        ("nbf within leeway", json!({"nbf": NOW + 30}), Ok(())),
        ("no nbf", json!({"nbf": null}), Ok(())),
        (
            "fractional dates",
            json!({"exp": (NOW + 10) as f64 + 0.5, "nbf": NOW as f64 - 0.5}),
            Ok(()),
        ),
        (
            "no exp",
            json!({"exp": null}),
            Err(AuthnError::MissingClaim("exp".to_owned())),
        ),
        (
            "exp as string",
            json!({"exp": "tomorrow"}),
            Err(AuthnError::InvalidClaim("exp".to_owned())),
        ),
        (
            "wrong audience",
            json!({"aud": "other-app"}),
            Err(AuthnError::WrongAudience),
        ),
        (
            "audience array with ours",
            json!({"aud": ["other-app", "scif"]}),
            Ok(()),
        ),
        (
            "audience array without ours",
            json!({"aud": ["other-app"]}),
            Err(AuthnError::WrongAudience),
        ),
        (
            "empty audience array",
            json!({"aud": []}),
            Err(AuthnError::WrongAudience),
        ),
        (
            "audience of wrong type",
            json!({"aud": 7}),
            Err(AuthnError::InvalidClaim("aud".to_owned())),
        ),
        (
            "no audience",
            json!({"aud": null}),
            Err(AuthnError::MissingClaim("aud".to_owned())),
        ),
        (
            "wrong issuer",
            json!({"iss": "https://evil.example"}),
            Err(AuthnError::WrongIssuer),
        ),
        (
            "issuer with trailing slash",
            json!({"iss": format!("{ISSUER}/")}),
            Err(AuthnError::WrongIssuer),
        ),
        (
            "no issuer",
            json!({"iss": null}),
            Err(AuthnError::MissingClaim("iss".to_owned())),
        ),
    ];
    for (name, changes, want) in cases {
        let got = f.verify(&f.es256(&claims_with(changes))).map(|_| ());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn claims_mapping() {
    let f = fixture();
    let cases: Vec<(&str, Value, Result<VerifiedClaims, AuthnError>)> = vec![
        (
            "optional claims absent",
            json!({"nationality": null, "us_person": null, "realm_access": null, "accesses": null}),
            Ok(VerifiedClaims {
                nationality: None,
                us_person: None,
                groups: BTreeSet::new(),
                accesses: BTreeSet::new(),
                ..expected()
            }),
        ),
        (
            "single strings and string booleans",
            json!({"accesses": "PHI", "us_person": "false"}),
            Ok(VerifiedClaims {
                us_person: Some(false),
                ..expected()
            }),
        ),
        (
            "no subject",
            json!({"sub": null}),
            Err(AuthnError::MissingClaim("sub".to_owned())),
        ),
        (
            "empty subject",
            json!({"sub": ""}),
            Err(AuthnError::InvalidClaim("sub".to_owned())),
        ),
        (
            "numeric subject",
            json!({"sub": 42}),
            Err(AuthnError::InvalidClaim("sub".to_owned())),
        ),
        (
            "required clearance missing",
            json!({"clearance": null}),
            Err(AuthnError::MissingClaim("clearance".to_owned())),
        ),
        (
            "us_person of wrong type",
            json!({"us_person": "yes"}),
            Err(AuthnError::InvalidClaim("us_person".to_owned())),
        ),
        (
            "groups of wrong type",
            json!({"realm_access": {"roles": [1, 2]}}),
            Err(AuthnError::InvalidClaim("/realm_access/roles".to_owned())),
        ),
    ];
    for (name, changes, want) in cases {
        assert_eq!(f.verify(&f.eddsa(&claims_with(changes))), want, "{name}");
    }
}

#[test]
fn unknown_or_missing_kid() {
    let f = fixture();
    let unknown = token(&header("ES256", "ec-2"), &claims(), &Signer::Es256(&f.ec));
    assert_eq!(f.verify(&unknown), Err(AuthnError::UnknownKey));
    let no_kid = token(&json!({"alg": "ES256"}), &claims(), &Signer::Es256(&f.ec));
    assert_eq!(f.verify(&no_kid), Err(AuthnError::UnknownKey));
}

#[test]
fn alg_none_is_refused() {
    let f = fixture();
    for alg in ["none", "None", "NONE", "nOnE"] {
        for kid in ["rsa-1", "ec-1", "ed-1"] {
            let unsigned = token(&header(alg, kid), &claims(), &Signer::Unsigned);
            assert!(unsigned.ends_with('.'), "no signature segment");
            assert_eq!(
                f.verify(&unsigned),
                Err(AuthnError::UnsupportedAlgorithm),
                "{alg} {kid}"
            );
            // With the signature segment dropped altogether.
            let two = unsigned.trim_end_matches('.');
            assert_eq!(f.verify(two), Err(AuthnError::Malformed), "{alg} {kid}");
        }
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // The classic confusion attack: a verifier that accepts the token's alg would use the RSA
    // public key's bytes as an HMAC secret, which anyone can do.
    let f = fixture();
    let public = rsa_key().to_public_key();
    let pem = public.to_pkcs1_pem(LineEnding::LF).unwrap();
    let der = public.to_pkcs1_der().unwrap();
    let jwk = rsa_jwk("rsa-1", &public).to_string();
    for secret in [pem.as_bytes(), der.as_bytes(), jwk.as_bytes()] {
        for alg in ["HS256", "HS384", "HS512"] {
            let forged = token(&header(alg, "rsa-1"), &claims(), &Signer::Hs256(secret));
            assert_eq!(
                f.verify(&forged),
                Err(AuthnError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }
}

#[test]
fn alg_that_does_not_match_the_key_is_refused() {
    let f = fixture();
    let cases = [
        // The header names another algorithm than the kid's key, signed with a key of the
        // header's type: each must be refused before any signature is checked.
        token(&header("ES256", "rsa-1"), &claims(), &Signer::Es256(&f.ec)),
        token(&header("EdDSA", "rsa-1"), &claims(), &Signer::EdDsa(&f.ed)),
        token(
            &header("RS256", "ec-1"),
            &claims(),
            &Signer::Rs256(rsa_key()),
        ),
        token(&header("EdDSA", "ec-1"), &claims(), &Signer::EdDsa(&f.ed)),
        token(&header("ES256", "ed-1"), &claims(), &Signer::Es256(&f.ec)),
        token(
            &header("RS256", "ed-1"),
            &claims(),
            &Signer::Rs256(rsa_key()),
        ),
    ];
    for forged in cases {
        assert_eq!(f.verify(&forged), Err(AuthnError::AlgorithmMismatch));
    }
    // Algorithms with the right family but not the key's own are simply unsupported.
    for alg in [
        "RS384", "RS512", "PS256", "ES384", "ES512", "Ed25519", "rs256",
    ] {
        let forged = token(&header(alg, "rsa-1"), &claims(), &Signer::Rs256(rsa_key()));
        assert_eq!(
            f.verify(&forged),
            Err(AuthnError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
}

#[test]
fn tampered_payload_is_refused() {
    let f = fixture();
    for genuine in [f.rs256(&claims()), f.es256(&claims()), f.eddsa(&claims())] {
        let parts: Vec<&str> = genuine.split('.').collect();
        let elevated = claims_with(json!({"sub": "mallory", "clearance": "TOP SECRET"}));
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(elevated.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(f.verify(&tampered), Err(AuthnError::BadSignature));
        // The header is signed too.
        let other_header = b64(json!({"alg": "ES256", "kid": "ec-1"})
            .to_string()
            .as_bytes());
        let swapped = format!("{other_header}.{}.{}", parts[1], parts[2]);
        assert!(f.verify(&swapped).is_err());
    }
}

#[test]
fn token_signed_by_an_unknown_key_is_refused() {
    let f = fixture();
    let impostor = ec_key();
    let forged = token(
        &header("ES256", "ec-1"),
        &claims(),
        &Signer::Es256(&impostor),
    );
    assert_eq!(f.verify(&forged), Err(AuthnError::BadSignature));
    let forged = token(
        &header("EdDSA", "ed-1"),
        &claims(),
        &Signer::EdDsa(&ed_key()),
    );
    assert_eq!(f.verify(&forged), Err(AuthnError::BadSignature));
}

#[test]
fn garbage_is_malformed() {
    let f = fixture();
    let good = f.es256(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let cases = [
        String::new(),
        "garbage".to_owned(),
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}."),
        format!("Bearer {good}"),
        format!("{h}=.{p}.{s}"), // padding
        format!("{h}.{p}.{s}=="),
        format!(
            "{}.{p}.{s}",
            h.replace(|c: char| c.is_ascii_alphabetic(), "+")
        ), // not base64url
        format!("{}.{p}.{s}", b64(b"not json")),
        format!("{}.{p}.{s}", b64(b"[\"ES256\"]")),
        format!(
            "{}.{p}.{s}",
            b64(json!({"kid": "ec-1"}).to_string().as_bytes())
        ), // no alg
        "a".repeat(20_000),
    ];
    for case in cases {
        assert_eq!(f.verify(&case), Err(AuthnError::Malformed), "{case:?}");
    }
}

#[test]
fn payload_must_be_a_json_object() {
    let f = fixture();
    for payload in [json!("alice"), json!([1, 2]), json!(null)] {
        let signed = token(&header("ES256", "ec-1"), &payload, &Signer::Es256(&f.ec));
        assert_eq!(f.verify(&signed), Err(AuthnError::Malformed), "{payload}");
    }
}

#[test]
fn other_kinds_of_jwt_and_critical_headers_are_refused() {
    let f = fixture();
    for typ in ["JWT", "jwt", "at+jwt", "application/at+jwt"] {
        let ok = token(
            &json!({"alg": "ES256", "kid": "ec-1", "typ": typ}),
            &claims(),
            &Signer::Es256(&f.ec),
        );
        assert!(f.verify(&ok).is_ok(), "{typ}");
    }
    for typ in ["logout+jwt", "dpop+jwt", "JOSE+JSON"] {
        let other = token(
            &json!({"alg": "ES256", "kid": "ec-1", "typ": typ}),
            &claims(),
            &Signer::Es256(&f.ec),
        );
        assert_eq!(
            f.verify(&other),
            Err(AuthnError::UnsupportedTokenType),
            "{typ}"
        );
    }
    let crit = token(
        &json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"], "exp": NOW}),
        &claims(),
        &Signer::Es256(&f.ec),
    );
    assert_eq!(f.verify(&crit), Err(AuthnError::UnsupportedTokenType));
}

#[test]
fn embedded_keys_in_the_header_are_ignored() {
    // A token that brings its own key (`jwk`) or key URL (`jku`) is still checked against the
    // configured key its kid names, so signing with the attacker's key fails.
    let f = fixture();
    let attacker = ec_key();
    let forged = token(
        &json!({
            "alg": "ES256", "kid": "ec-1",
            "jwk": ec_jwk("ec-1", &attacker),
            "jku": "https://evil.example/jwks.json",
        }),
        &claims(),
        &Signer::Es256(&attacker),
    );
    assert_eq!(f.verify(&forged), Err(AuthnError::BadSignature));
}

#[test]
fn errors_do_not_carry_the_token() {
    let f = fixture();
    let expired = f.rs256(&claims_with(json!({"exp": NOW - 3600})));
    let err = f.verify(&expired).unwrap_err();
    for text in [
        format!("{err}"),
        format!("{err:?}"),
        err.public_message().to_owned(),
    ] {
        assert!(!text.contains(&expired[..20]), "{text}");
        assert!(!text.contains("alice"), "{text}");
    }
}
