//! SigV4 credentials: issued here, stored encrypted (SigV4 needs the secret itself to
//! recompute a signature, so a one-way hash will not do), and verified with `scif-sigv4`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// Encrypts and decrypts stored secret access keys under the data directory's
/// `secrets/sigv4-secret-key`. The access key id and principal are bound in as associated
/// data, so a ciphertext cannot be moved to another credential.
#[derive(Clone)]
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<redacted>)")
    }
}

impl Vault {
    pub fn new(key: &[u8]) -> Result<Vault, String> {
        if key.len() != 32 {
            return Err("the SigV4 secret key must be 32 bytes".into());
        }
        Ok(Vault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        })
    }

    pub fn seal(&self, aad: &str, secret: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| "cannot encrypt the secret".to_owned())?;
        Ok((nonce.to_vec(), ct))
    }

    pub fn open(&self, aad: &str, nonce: &[u8], ct: &[u8]) -> Option<Zeroizing<String>> {
        if nonce.len() != 12 {
            return None;
        }
        let pt = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(pt).ok().map(Zeroizing::new)
    }
}

/// A new credential: `SCIF` + 16 base32 characters (20, like an AWS access key id) and a
/// 40-character secret from 240 random bits.
pub fn generate() -> (String, Zeroizing<String>) {
    const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut id_bytes = [0u8; 16];
    OsRng.fill_bytes(&mut id_bytes);
    let mut id = String::from("SCIF");
    id.extend(id_bytes.iter().map(|b| B32[usize::from(b & 31)] as char));
    let mut secret_bytes = Zeroizing::new([0u8; 40]);
    OsRng.fill_bytes(secret_bytes.as_mut());
    let secret: String = secret_bytes
        .iter()
        .map(|b| B64[usize::from(b & 63)] as char)
        .collect();
    (id, Zeroizing::new(secret))
}

pub fn aad(access_key_id: &str, principal_id: &str) -> String {
    format!("scif sigv4 v1\0{access_key_id}\0{principal_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_binding() {
        let v = Vault::new(&[7u8; 32]).unwrap();
        let (id, secret) = generate();
        assert_eq!(id.len(), 20);
        assert_eq!(secret.len(), 40);
        let (n, ct) = v.seal(&aad(&id, "ana"), &secret).unwrap();
        assert_eq!(
            v.open(&aad(&id, "ana"), &n, &ct).unwrap().as_str(),
            secret.as_str()
        );
        assert!(
            v.open(&aad(&id, "bob"), &n, &ct).is_none(),
            "bound to its principal"
        );
        assert!(Vault::new(&[8u8; 32])
            .unwrap()
            .open(&aad(&id, "ana"), &n, &ct)
            .is_none());
    }
}
