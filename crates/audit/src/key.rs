//! Signing-key storage.
//!
//! * `<dir>/audit-signing.key`: the 32-byte Ed25519 secret seed as 64 lowercase hex digits
//!   and a newline; created with `O_CREAT|O_EXCL` and mode `0600` on Unix.
//! * `<dir>/audit-signing.pub`: the 32-byte Ed25519 public key as 64 lowercase hex digits
//!   and a newline (the same value as `public_key_hex` in every checkpoint).

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::AuditError;

/// File name of the private key inside the key directory.
pub const PRIVATE_KEY_FILE: &str = "audit-signing.key";
/// File name of the public key inside the key directory.
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";

/// Loads `<dir>/audit-signing.key`, or creates it (and `<dir>/audit-signing.pub`) if absent.
pub fn load_or_create_signing_key(dir: &Path) -> Result<SigningKey, AuditError> {
    fs::create_dir_all(dir).map_err(|e| AuditError::io(format!("create {}", dir.display()), e))?;
    let priv_path = dir.join(PRIVATE_KEY_FILE);
    let pub_path = dir.join(PUBLIC_KEY_FILE);
    let key = match create_new_private(&priv_path) {
        Ok(mut f) => {
            let key = SigningKey::generate(&mut rand_core::OsRng);
            let mut buf = [0u8; 65];
            let enc = hex::encode_to_slice(key.to_bytes(), &mut buf[..64]);
            buf[64] = b'\n';
            let res = enc
                .map_err(|e| AuditError::Key(e.to_string()))
                .and_then(|()| {
                    f.write_all(&buf)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| AuditError::io(format!("write {}", priv_path.display()), e))
                });
            buf.fill(0);
            res?;
            tracing::info!(path = %priv_path.display(), "created audit signing key");
            key
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_private(&priv_path)?,
        Err(e) => return Err(AuditError::io(format!("create {}", priv_path.display()), e)),
    };
    let pub_hex = hex::encode(key.verifying_key().as_bytes());
    match fs::read_to_string(&pub_path) {
        Ok(existing) => {
            if existing.trim() != pub_hex {
                return Err(AuditError::Key(format!(
                    "{} does not match {}",
                    pub_path.display(),
                    priv_path.display()
                )));
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let tmp = dir.join(format!("{PUBLIC_KEY_FILE}.tmp"));
            fs::write(&tmp, format!("{pub_hex}\n"))
                .and_then(|()| fs::rename(&tmp, &pub_path))
                .map_err(|e| AuditError::io(format!("write {}", pub_path.display()), e))?;
        }
        Err(e) => return Err(AuditError::io(format!("read {}", pub_path.display()), e)),
    }
    Ok(key)
}

fn create_new_private(path: &Path) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn read_private(path: &Path) -> Result<SigningKey, AuditError> {
    let mut raw =
        fs::read(path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
    let mut seed = [0u8; 32];
    let trimmed = raw.trim_ascii();
    let res = hex::decode_to_slice(trimmed, &mut seed);
    raw.fill(0);
    res.map_err(|_| AuditError::Key(format!("{} is not 64 hex digits", path.display())))?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    Ok(key)
}

/// Reads a public key file: 64 hex digits (surrounding whitespace ignored).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, AuditError> {
    let s = fs::read_to_string(path)
        .map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
    parse_public_key_hex(s.trim())
}

/// Parses 64 hex digits into a public key.
pub fn parse_public_key_hex(s: &str) -> Result<VerifyingKey, AuditError> {
    let mut pk = [0u8; 32];
    hex::decode_to_slice(s, &mut pk)
        .map_err(|_| AuditError::Key("public key is not 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&pk).map_err(|e| AuditError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load() {
        let d = tempfile::tempdir().unwrap();
        let k1 = load_or_create_signing_key(d.path()).unwrap();
        let k2 = load_or_create_signing_key(d.path()).unwrap();
        assert_eq!(k1.to_bytes(), k2.to_bytes());
        let vk = read_public_key(&d.path().join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(vk, k1.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(d.path().join(PRIVATE_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
