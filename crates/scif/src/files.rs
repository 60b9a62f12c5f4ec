//! Who may read the data directory: its owner, and no one else.
//!
//! The database, its WAL, the audit segments, the model files and `secrets/` hold everything
//! scif protects. Every command starts by setting the process umask to 077, so whatever scif,
//! SQLite or a library creates is 0600 (directories 0700) whatever the umask it was started
//! under. At startup the server also walks the data directory (and the audit directory, if it
//! lies elsewhere), tightens anything wider, and warns about each thing it had to tighten.

use std::path::{Path, PathBuf};

/// Everything this process creates from now on: owner only.
pub fn owner_only_umask() {
    #[cfg(unix)]
    {
        let _previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Tightens `dirs` (recursively; symbolic links are neither followed nor changed) to 0700 for
/// directories and 0600 for files. Returns each path it had to tighten, with its old mode.
pub fn tighten(dirs: &[&Path]) -> Vec<(PathBuf, u32)> {
    let mut changed = Vec::new();
    #[cfg(unix)]
    for dir in dirs {
        walk(dir, 0, &mut changed);
    }
    changed
}

#[cfg(unix)]
fn walk(path: &Path, depth: usize, changed: &mut Vec<(PathBuf, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = if meta.is_dir() { 0o700 } else { 0o600 };
    if mode & !wanted != 0 {
        let tightened =
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & wanted));
        match tightened {
            Ok(()) => changed.push((path.to_owned(), mode)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot restrict permissions")
            }
        }
    }
    if meta.is_dir() && depth < 8 {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                walk(&entry.path(), depth + 1, changed);
            }
        }
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn wide_modes_are_tightened_and_reported() {
        let d = std::env::temp_dir().join(format!("scif-files-{}", std::process::id()));
        std::fs::create_dir_all(d.join("secrets")).unwrap();
        std::fs::write(d.join("scif.db"), b"x").unwrap();
        std::fs::write(d.join("secrets/pepper"), b"x").unwrap();
        for (p, m) in [
            ("", 0o755),
            ("secrets", 0o755),
            ("scif.db", 0o644),
            ("secrets/pepper", 0o640),
        ] {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        let changed = tighten(&[&d]);
        assert_eq!(changed.len(), 4, "{changed:?}");
        for (p, m) in [
            ("", 0o700),
            ("secrets", 0o700),
            ("scif.db", 0o600),
            ("secrets/pepper", 0o600),
        ] {
            let mode = std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, m, "{p}");
        }
        assert!(tighten(&[&d]).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
