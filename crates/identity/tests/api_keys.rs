//! API keys: generation, verification and what a refusal reveals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scif_identity::{ApiKeys, AuthnError, KeyId, KeyRecord, NewApiKey};

const PEPPER: &[u8] = b"a server-side pepper of 32+ bytes, never in the database";

fn keys() -> ApiKeys {
    ApiKeys::new(ApiKeys::DEFAULT_PREFIX, PEPPER).unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn record(new: &NewApiKey) -> KeyRecord {
    KeyRecord {
        id: new.id.clone(),
        principal_id: "alice".to_owned(),
        hash: new.hash.clone(),
        scopes: BTreeSet::from(["invoke".to_owned()]),
        created_at: at(1_000),
        expires_at: Some(at(2_000)),
        revoked: false,
    }
}

/// A lookup over one record, as a database would answer.
fn only(record: KeyRecord) -> impl Fn(&KeyId) -> Option<KeyRecord> {
    move |id| (*id == record.id).then(|| record.clone())
}

#[test]
fn generated_key_has_prefix_id_and_secret() {
    let new = keys().generate();
    let text = new.secret.expose();
    let rest = text.strip_prefix("scif_").unwrap();
    let (id, secret) = rest.split_once('_').unwrap();
    assert_eq!(id, new.id.as_str());
    assert_eq!(id.len(), 16);
    assert_eq!(secret.len(), 52, "256 bits in base32");
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
    assert_eq!(keys().key_id(text), Some(new.id.clone()));
}

#[test]
fn generated_keys_differ() {
    let keys = keys();
    let a = keys.generate();
    let b = keys.generate();
    assert_ne!(a.id, b.id);
    assert_ne!(a.secret.expose(), b.secret.expose());
    assert_ne!(a.hash, b.hash);
}

#[test]
fn round_trip() {
    let keys = keys();
    let new = keys.generate();
    let verified = keys
        .verify(new.secret.expose(), only(record(&new)), at(1_500))
        .unwrap();
    assert_eq!(verified.key_id, new.id);
    assert_eq!(verified.principal_id, "alice");
    assert_eq!(verified.scopes, BTreeSet::from(["invoke".to_owned()]));
    assert_eq!(verified.expires_at, Some(at(2_000)));
}

#[test]
fn key_without_expiry_never_expires() {
    let keys = keys();
    let new = keys.generate();
    let record = KeyRecord {
        expires_at: None,
        ..record(&new)
    };
    assert!(keys
        .verify(new.secret.expose(), only(record), at(u32::MAX.into()))
        .is_ok());
}

#[test]
fn wrong_secret_is_invalid_credentials() {
    let keys = keys();
    let new = keys.generate();
    let text = new.secret.expose();
    // Same id, same length and alphabet, one character of the secret changed.
    let last = text.chars().last().unwrap();
    let swapped = if last == 'a' { 'b' } else { 'a' };
    let forged = format!("{}{swapped}", &text[..text.len() - 1]);
    assert_eq!(
        keys.verify(&forged, only(record(&new)), at(1_500)),
        Err(AuthnError::InvalidCredentials)
    );
}

#[test]
fn unknown_id_is_invalid_credentials() {
    let keys = keys();
    let new = keys.generate();
    assert_eq!(
        keys.verify(new.secret.expose(), |_| None, at(1_500)),
        Err(AuthnError::InvalidCredentials)
    );
}

#[test]
fn hash_is_bound_to_its_id() {
    // A record whose hash belongs to another key (e.g. copied across rows) does not verify.
    let keys = keys();
    let victim = keys.generate();
    let attacker = keys.generate();
    let mut stolen = record(&attacker);
    stolen.hash = victim.hash.clone();
    assert_eq!(
        keys.verify(attacker.secret.expose(), only(stolen), at(1_500)),
        Err(AuthnError::InvalidCredentials)
    );
}

#[test]
fn another_pepper_does_not_verify() {
    let new = keys().generate();
    let other = ApiKeys::new("scif_", &[9u8; 32]).unwrap();
    assert_eq!(
        other.verify(new.secret.expose(), only(record(&new)), at(1_500)),
        Err(AuthnError::InvalidCredentials)
    );
}

#[test]
fn expired_key_is_refused_from_its_expiry_on() {
    let keys = keys();
    let new = keys.generate();
    let text = new.secret.expose();
    assert!(keys.verify(text, only(record(&new)), at(1_999)).is_ok());
    for now in [2_000, 2_001, 1_000_000] {
        assert_eq!(
            keys.verify(text, only(record(&new)), at(now)),
            Err(AuthnError::Expired),
            "at {now}"
        );
    }
}

#[test]
fn revoked_key_is_refused() {
    let keys = keys();
    let new = keys.generate();
    let record = KeyRecord {
        revoked: true,
        ..record(&new)
    };
    assert_eq!(
        keys.verify(new.secret.expose(), only(record), at(1_500)),
        Err(AuthnError::Revoked)
    );
}

#[test]
fn revocation_is_not_revealed_without_the_secret() {
    let keys = keys();
    let new = keys.generate();
    let record = KeyRecord {
        revoked: true,
        expires_at: Some(at(0)),
        ..record(&new)
    };
    let guess = format!("scif_{}_{}", new.id, "a".repeat(52));
    assert_eq!(
        keys.verify(&guess, only(record), at(1_500)),
        Err(AuthnError::InvalidCredentials)
    );
}

#[test]
fn malformed_keys_are_refused_before_lookup() {
    let keys = keys();
    let new = keys.generate();
    let text = new.secret.expose().to_owned();
    let id = new.id.as_str();
    let secret = &text[text.len() - 52..];
    let cases = [
        String::new(),
        "scif_".to_owned(),
        "garbage".to_owned(),
        format!("{id}_{secret}"),                       // no prefix
        format!("other_{id}_{secret}"),                 // someone else's prefix
        format!("SCIF_{id}_{secret}"),                  // prefix case
        format!("scif_{}_{secret}", id.to_uppercase()), // id case
        format!("scif_{id}{secret}"),                   // no separator
        format!("scif_{id}_{}", &secret[1..]),          // short secret
        format!("scif_{id}_{secret}a"),                 // long secret
        format!("scif_{id}_{secret}_"),                 // trailing separator
        format!("scif_{}_{secret}", &id[1..]),          // short id
        format!("scif_{id}_{}1", &secret[1..]),         // '1' is not base32
        format!(" {text}"),                             // whitespace
        format!("{text}\n"),
    ];
    for case in cases {
        let result = keys.verify(
            &case,
            |_| panic!("lookup for malformed key {case:?}"),
            at(1_500),
        );
        assert_eq!(result, Err(AuthnError::Malformed), "{case:?}");
    }
}

#[test]
fn debug_output_never_contains_the_secret() {
    let keys = keys();
    let new = keys.generate();
    let text = new.secret.expose().to_owned();
    let secret = &text[text.len() - 52..];
    for debug in [
        format!("{new:?}"),
        format!("{:?}", new.secret),
        format!("{new:#?}"),
        format!("{:?}", record(&new)),
    ] {
        assert!(!debug.contains(secret), "secret in {debug}");
        assert!(!debug.contains(&text), "key in {debug}");
    }
    let debug = format!("{keys:?}");
    assert!(!debug.contains("pepper of 32"), "pepper in {debug}");
}

#[test]
fn every_refusal_has_the_same_public_message() {
    let messages: BTreeSet<&str> = [
        AuthnError::Malformed,
        AuthnError::InvalidCredentials,
        AuthnError::Expired,
        AuthnError::Revoked,
    ]
    .iter()
    .map(AuthnError::public_message)
    .collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(AuthnError::Expired.reason(), "expired");
    assert_eq!(AuthnError::Revoked.reason(), "revoked");
}
