//! The server-side secret that API key hashes are keyed with.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

const PEPPER_BYTES: usize = 32;

/// Reads `<data_dir>/secrets/api-key-pepper`, creating it (32 random bytes, mode 0600 in a
/// 0700 directory) on first use. Losing the file invalidates every API key; it is never
/// printed. A file of the wrong size is an error, not silently replaced.
pub fn load_or_create_pepper(data_dir: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    load_or_create_secret(data_dir, "api-key-pepper")
}

/// `<data_dir>/secrets/<name>`: 32 random bytes created on first use, as for the pepper.
pub fn load_or_create_secret(data_dir: &Path, name: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let dir = data_dir.join("secrets");
    let path: PathBuf = dir.join(name);
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == PEPPER_BYTES => return Ok(Zeroizing::new(bytes)),
        Ok(bytes) => {
            return Err(format!(
                "{} holds {} bytes, expected {PEPPER_BYTES}; restore it from backup (replacing it invalidates every API key)",
                path.display(),
                bytes.len()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("cannot read", e)),
    }
    create_private_dir(&dir).map_err(|e| fail("cannot create the directory of", e))?;
    let mut bytes = Zeroizing::new(vec![0u8; PEPPER_BYTES]);
    OsRng.fill_bytes(&mut bytes);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(&bytes).map_err(|e| fail("cannot write", e))?;
            f.sync_all().map_err(|e| fail("cannot sync", e))?;
            Ok(bytes)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(&path).map_err(|e| fail("cannot read", e))?;
            if bytes.len() == PEPPER_BYTES {
                Ok(Zeroizing::new(bytes))
            } else {
                Err(format!(
                    "{} is being written by another process; try again",
                    path.display()
                ))
            }
        }
        Err(e) => Err(fail("cannot create", e)),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_pepper(dir.path()).unwrap();
        let b = load_or_create_pepper(dir.path()).unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(*a, *b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets/api-key-pepper"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("secrets/api-key-pepper"), b"short").unwrap();
        assert!(load_or_create_pepper(dir.path())
            .unwrap_err()
            .contains("expected 32"));
    }
}
