//! API keys: `<prefix><key id>_<secret>`, a random 256-bit secret shown once and stored only
//! as a keyed hash (HMAC-SHA256 under a server-side pepper), compared in constant time.
//!
//! The key id (80 random bits) and the secret (256 random bits) are both written in lowercase
//! RFC 4648 base32 without padding (`a`-`z`, `2`-`7`), so a key is one "word" that survives
//! double-click selection, and the prefix (`scif_` by default) lets secret scanners find a
//! leaked key. The hash binds the id and the exact text of the secret, so a record's hash
//! cannot be moved to another id.

use std::collections::BTreeSet;
use std::fmt;
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{AuthnError, ConfigError};

/// Random bytes in a key id.
const ID_BYTES: usize = 10;
/// Random bytes in a secret (256 bits).
const SECRET_BYTES: usize = 32;
/// Base32 length of the key id.
const ID_CHARS: usize = (ID_BYTES * 8).div_ceil(5);
/// Base32 length of the secret.
const SECRET_CHARS: usize = (SECRET_BYTES * 8).div_ceil(5);
/// Domain separation for the keyed hash, so the pepper is never used for anything else by
/// accident.
const HASH_DOMAIN: &[u8] = b"scif api key v1\0";
/// The shortest pepper accepted.
const MIN_PEPPER_BYTES: usize = 32;

/// The public identifier of an API key: safe to log, store and show.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The id as stored (lowercase base32).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Accepts a stored id; `None` when it is not an id this module could have made.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == ID_CHARS && text.bytes().all(is_base32)).then(|| Self(text.to_owned()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keyed hash of a key's secret: what the database stores instead of the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Rebuilds a hash read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret, but there is no reason to spread it through logs either.
        f.write_str("KeyHash(..)")
    }
}

/// The full key text handed to its owner once, at creation. Its `Debug` is redacted and its
/// memory is wiped on drop.
#[derive(Clone)]
pub struct ApiKeySecret(Zeroizing<String>);

impl ApiKeySecret {
    /// The key to show its owner (once) and never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

/// A freshly generated key: the secret for its owner, the id and hash for the database.
#[derive(Debug)]
pub struct NewApiKey {
    /// The key's public id.
    pub id: KeyId,
    /// The full key text (prefix, id and secret), to be shown once.
    pub secret: ApiKeySecret,
    /// The keyed hash to store in its [`KeyRecord`].
    pub hash: KeyHash,
}

/// What the database keeps about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's public id.
    pub id: KeyId,
    /// The principal the key authenticates.
    pub principal_id: String,
    /// The keyed hash of the secret.
    pub hash: KeyHash,
    /// What the key may be used for; interpreted by authorization, not here.
    pub scopes: BTreeSet<String>,
    /// When the key was made.
    pub created_at: SystemTime,
    /// When the key stops working; `None` for never.
    pub expires_at: Option<SystemTime>,
    /// Whether the key was revoked.
    pub revoked: bool,
}

/// A key that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    /// The key's id (for the audit trail).
    pub key_id: KeyId,
    /// The principal the key authenticates.
    pub principal_id: String,
    /// The key's scopes.
    pub scopes: BTreeSet<String>,
    /// When the key stops working.
    pub expires_at: Option<SystemTime>,
}

/// Makes and verifies API keys with one prefix and one pepper.
#[derive(Clone)]
pub struct ApiKeys {
    prefix: String,
    pepper: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("prefix", &self.prefix)
            .field("pepper", &"<redacted>")
            .finish()
    }
}

impl ApiKeys {
    /// The prefix scif's keys carry unless configured otherwise.
    pub const DEFAULT_PREFIX: &'static str = "scif_";

    /// A key maker and verifier. `prefix` is 2 to 16 lowercase ASCII letters or digits ending
    /// in `_` (e.g. `scif_`); `pepper` is the server-side HMAC key, at least 32 bytes, kept out
    /// of the database (a stolen database alone then cannot be used to test guesses).
    pub fn new(prefix: &str, pepper: &[u8]) -> Result<Self, ConfigError> {
        let body = prefix.strip_suffix('_').ok_or(ConfigError::BadPrefix)?;
        let body_ok = !body.is_empty()
            && prefix.len() <= 16
            && body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !body_ok {
            return Err(ConfigError::BadPrefix);
        }
        if pepper.len() < MIN_PEPPER_BYTES {
            return Err(ConfigError::ShortPepper);
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            pepper: Zeroizing::new(pepper.to_vec()),
        })
    }

    /// Makes a new key from the operating system's random source.
    pub fn generate(&self) -> NewApiKey {
        let mut id_bytes = [0u8; ID_BYTES];
        let mut secret_bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        OsRng.fill_bytes(&mut id_bytes);
        OsRng.fill_bytes(secret_bytes.as_mut());
        let id = KeyId(base32(&id_bytes));
        let secret_text = Zeroizing::new(base32(secret_bytes.as_ref()));
        let hash = self.hash(&id, &secret_text);
        let mut full = String::with_capacity(self.prefix.len() + ID_CHARS + 1 + SECRET_CHARS);
        full.push_str(&self.prefix);
        full.push_str(id.as_str());
        full.push('_');
        full.push_str(&secret_text);
        NewApiKey {
            id,
            secret: ApiKeySecret(Zeroizing::new(full)),
            hash,
        }
    }

    /// Reads the key id out of a presented key without verifying anything (for rate limiting or
    /// logging an attempt); `None` when the text is not shaped like one of this server's keys.
    pub fn key_id(&self, presented: &str) -> Option<KeyId> {
        self.parse(presented).map(|(id, _)| id)
    }

    /// Verifies a presented key: parses its id, fetches the record with `lookup`, compares the
    /// keyed hash in constant time, then refuses a revoked or expired key. Revocation and
    /// expiry are only reported for a key whose secret matched, so they tell nothing to someone
    /// who holds only an id.
    ///
    /// With an async store, read the id first with [`ApiKeys::key_id`], fetch the record, then
    /// pass `|_| record.clone()` as `lookup`.
    pub fn verify(
        &self,
        presented: &str,
        lookup: impl Fn(&KeyId) -> Option<KeyRecord>,
        now: SystemTime,
    ) -> Result<VerifiedKey, AuthnError> {
        let (id, secret) = self.parse(presented).ok_or(AuthnError::Malformed)?;
        let record = lookup(&id);
        // Hash even for an unknown id, so the two failures take about as long.
        let computed = self.hash(&id, secret);
        let Some(record) = record else {
            return Err(AuthnError::InvalidCredentials);
        };
        let hash_matches: bool = computed.0.ct_eq(&record.hash.0).into();
        if !hash_matches || record.id != id {
            return Err(AuthnError::InvalidCredentials);
        }
        if record.revoked {
            return Err(AuthnError::Revoked);
        }
        if record.expires_at.is_some_and(|expiry| now >= expiry) {
            return Err(AuthnError::Expired);
        }
        Ok(VerifiedKey {
            key_id: record.id,
            principal_id: record.principal_id,
            scopes: record.scopes,
            expires_at: record.expires_at,
        })
    }

    /// `<prefix><id>_<secret>` with exact lengths and alphabets, or `None`.
    fn parse<'a>(&self, presented: &'a str) -> Option<(KeyId, &'a str)> {
        let rest = presented.strip_prefix(self.prefix.as_str())?;
        let (id, secret) = rest.split_once('_')?;
        let id = KeyId::parse(id)?;
        let secret_ok = secret.len() == SECRET_CHARS && secret.bytes().all(is_base32);
        secret_ok.then_some((id, secret))
    }

    fn hash(&self, id: &KeyId, secret: &str) -> KeyHash {
        // HMAC accepts keys of any length, so this cannot fail; fall back to an empty-keyed MAC
        // rather than panic should that ever change (the comparison would then simply fail).
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.pepper) {
            Ok(mac) => mac,
            Err(_) => return KeyHash([0; 32]),
        };
        mac.update(HASH_DOMAIN);
        mac.update(id.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(secret.as_bytes());
        let mut out = mac.finalize().into_bytes();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&out);
        out.as_mut_slice().zeroize();
        KeyHash(bytes)
    }
}

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn is_base32(b: u8) -> bool {
    b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)
}

/// Lowercase RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected, "input {input:?}");
        }
    }

    #[test]
    fn prefixes_are_validated() {
        let pepper = [7u8; 32];
        assert!(ApiKeys::new("scif_", &pepper).is_ok());
        assert!(ApiKeys::new("acme2_", &pepper).is_ok());
        for bad in [
            "",
            "_",
            "scif",
            "Scif_",
            "sc-if_",
            "averyveryverylongprefix_",
        ] {
            assert_eq!(
                ApiKeys::new(bad, &pepper).err(),
                Some(ConfigError::BadPrefix),
                "{bad:?}"
            );
        }
        assert_eq!(
            ApiKeys::new("scif_", &[0u8; 31]).err(),
            Some(ConfigError::ShortPepper)
        );
    }
}
