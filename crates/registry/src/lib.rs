//! The model registry: bringing model files into the data directory (fully offline, as an
//! air-gapped site must), recording what they are, and proving at load time that the bytes are
//! still the ones imported.
//!
//! Invariant: a model is served only from a file whose SHA-256 matches its record.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use scif_engine::GgufFile;
use scif_labels::Label;
use scif_store::{ModelRecord, Store, StoreError};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid model name {0:?}: use 1 to 128 letters, digits, '.', '_', ':' or '-'")]
    InvalidName(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error(transparent)]
    Model(#[from] scif_engine::EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("model {name:?}: file {path} has SHA-256 {actual}, but {expected} was recorded at import; refusing to load a changed file")]
    DigestMismatch {
        name: String,
        path: String,
        expected: String,
        actual: String,
    },
    #[error("model {0:?} not found")]
    NotFound(String),
    #[error("model {0:?}: its label is not dominated by this deployment's system high (security.system_high)")]
    AboveSystemHigh(String),
    #[error("model {name:?}: its recorded label is not a valid marking: {message}")]
    BadLabel { name: String, message: String },
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RegistryError + '_ {
    move |e| RegistryError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Copy `src` into the data directory, validate it as a GGUF model, and record it as `name`.
/// Copy `src` into the data directory as model `name` with classification `label` and handling
/// caveats `handling` ("itar", "phi"), refusing a label that the deployment's `system_high` does
/// not dominate.
pub async fn import(
    store: &Store,
    src: &Path,
    name: &str,
    label: &Label,
    handling: &[String],
    system_high: &Label,
) -> Result<ModelRecord, RegistryError> {
    if !valid_name(name) {
        return Err(RegistryError::InvalidName(name.into()));
    }
    if !system_high.dominates(label) {
        return Err(RegistryError::AboveSystemHigh(name.into()));
    }
    if store.get_model(name).await?.is_some() {
        return Err(StoreError::ModelExists(name.into()).into());
    }
    if src.is_dir() {
        return import_encoder(store, src, name, label, handling).await;
    }
    // Validate before copying: a file that is not a usable model never enters the data dir.
    let gguf = GgufFile::open(src)?;
    let meta = gguf.metadata()?;
    let models_dir = store.models_dir();
    let (src2, dir2) = (src.to_path_buf(), models_dir.clone());
    let (sha256, size, tmp) = tokio::task::spawn_blocking(move || copy_hashing(&src2, &dir2))
        .await
        .map_err(|e| RegistryError::Io {
            path: src.display().to_string(),
            message: e.to_string(),
        })??;
    let file_name = format!("{sha256}.gguf");
    let dest = models_dir.join(&file_name);
    std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    let record = ModelRecord {
        name: name.into(),
        file_name,
        sha256,
        size_bytes: size,
        format: "gguf".into(),
        architecture: meta.architecture,
        parameter_count: meta.parameter_count,
        context_length: meta.context_length,
        quantization: meta.quantization,
        license: meta.license,
        source_name: meta.name,
        imported_at: now_rfc3339(),
        label: label.banner(),
        handling: handling.to_vec(),
    };
    store.insert_model(&record).await?;
    Ok(record)
}

/// The format of an encoder directory's record (a sentence-transformers model directory).
pub const ENCODER_FORMAT: &str = "sentence-transformers";

/// The digest of an encoder directory: SHA-256 over its manifest, one `sha256  path` line per
/// file the encoder reads (sorted by path), so that a changed, added or removed file changes it.
pub fn encoder_digest(dir: &Path) -> Result<(String, u64), RegistryError> {
    let mut manifest = String::new();
    let mut size = 0u64;
    let mut files = scif_engine::encoder::encoder_files(dir);
    files.sort_unstable();
    for f in files {
        let path = dir.join(f);
        size += std::fs::metadata(&path).map_err(io_err(&path))?.len();
        manifest.push_str(&format!("{}  {f}\n", sha256_file(&path)?));
    }
    Ok((hex::encode(Sha256::digest(manifest.as_bytes())), size))
}

/// Import a sentence-encoder directory: validated by loading it, then its files copied into
/// `models/<digest>/` and recorded under the digest of their manifest.
async fn import_encoder(
    store: &Store,
    src: &Path,
    name: &str,
    label: &Label,
    handling: &[String],
) -> Result<ModelRecord, RegistryError> {
    let dir = src.to_path_buf();
    let info = tokio::task::spawn_blocking(move || {
        scif_engine::Encoder::load(&dir, scif_engine::Precision::F32).map(|e| e.info())
    })
    .await
    .map_err(|e| RegistryError::Io {
        path: src.display().to_string(),
        message: e.to_string(),
    })??;
    let (sha256, size) = encoder_digest(src)?;
    let models_dir = store.models_dir();
    let tmp = models_dir.join(format!(".import-{}.tmp", std::process::id()));
    let dest = models_dir.join(&sha256);
    let copied = (|| -> Result<(), RegistryError> {
        for f in scif_engine::encoder::encoder_files(src) {
            let to = tmp.join(f);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            std::fs::copy(src.join(f), &to).map_err(io_err(&to))?;
        }
        if dest.exists() {
            // The same files, imported before under another name.
            std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        } else {
            std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        }
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // The copy must be what was validated.
    let (copy_digest, _) = encoder_digest(&dest)?;
    if copy_digest != sha256 {
        let _ = std::fs::remove_dir_all(&dest);
        return Err(RegistryError::Io {
            path: src.display().to_string(),
            message: "the files changed while they were imported".into(),
        });
    }
    let record = ModelRecord {
        name: name.into(),
        file_name: sha256.clone(),
        sha256,
        size_bytes: size,
        format: ENCODER_FORMAT.into(),
        architecture: "bert".into(),
        parameter_count: info.parameters,
        context_length: info.max_tokens as u64,
        quantization: "f32".into(),
        license: None,
        source_name: None,
        imported_at: now_rfc3339(),
        label: label.banner(),
        handling: handling.to_vec(),
    };
    store.insert_model(&record).await?;
    Ok(record)
}

/// Remove a model's record, and its file when no other record uses it.
pub async fn remove(store: &Store, name: &str) -> Result<ModelRecord, RegistryError> {
    let record = store
        .remove_model(name)
        .await?
        .ok_or_else(|| RegistryError::NotFound(name.into()))?;
    if !store.file_in_use(&record.file_name).await? {
        let path = store.models_dir().join(&record.file_name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(io_err(&path)(e));
            }
        }
    }
    Ok(record)
}

/// A model's label, parsed from its record.
pub fn label_of(record: &ModelRecord) -> Result<Label, RegistryError> {
    Label::parse_banner(&record.label).map_err(|e| RegistryError::BadLabel {
        name: record.name.clone(),
        message: e.to_string(),
    })
}

/// The path of a model's file after checking its digest against the record.
pub fn verified_path(store: &Store, record: &ModelRecord) -> Result<PathBuf, RegistryError> {
    let path = store.models_dir().join(&record.file_name);
    let actual = if record.format == ENCODER_FORMAT {
        encoder_digest(&path)?.0
    } else {
        sha256_file(&path)?
    };
    if actual != record.sha256 {
        return Err(RegistryError::DigestMismatch {
            name: record.name.clone(),
            path: path.display().to_string(),
            expected: record.sha256.clone(),
            actual,
        });
    }
    Ok(path)
}

pub fn sha256_file(path: &Path) -> Result<String, RegistryError> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn copy_hashing(src: &Path, dir: &Path) -> Result<(String, u64, PathBuf), RegistryError> {
    let tmp = dir.join(format!(".import-{}.tmp", std::process::id()));
    let mut input = std::fs::File::open(src).map_err(io_err(src))?;
    let mut out = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(io_err(src))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(&tmp))?;
        size += n as u64;
    }
    out.sync_all().map_err(io_err(&tmp))?;
    Ok((hex::encode(h.finalize()), size, tmp))
}

/// Current UTC time as RFC 3339, to the second (scif's one time module).
pub fn now_rfc3339() -> String {
    scif_time::now_rfc3339_secs()
}

/// Parse an RFC 3339 time back to Unix seconds (0 if malformed).
pub fn rfc3339_to_unix(s: &str) -> u64 {
    scif_time::rfc3339_to_unix(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["smollm2-135m-instruct", "a", "org:model_v1.2"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "has space", "../etc", "a/b", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn rfc3339_round_trip() {
        assert_eq!(rfc3339_to_unix("1970-01-01T00:00:00Z"), 0);
        assert_eq!(rfc3339_to_unix("2026-11-29T10:04:56Z"), 1_795_946_696);
        assert_eq!(rfc3339_to_unix("garbage"), 0);
    }

    #[test]
    fn times_round_trip() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-12-31T00:00:00Z".len());
        assert!(rfc3339_to_unix(&now) > 1_700_000_000);
        assert_eq!(rfc3339_to_unix("2000-02-29T00:00:00Z"), 11_016 * 86_400);
    }

    #[tokio::test]
    async fn a_label_above_system_high_is_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).await.unwrap();
        let secret = Label::parse_banner("SECRET//NOFORN").unwrap();
        let cui = Label::parse_banner("CUI").unwrap();
        let high = Label::parse_banner("CONFIDENTIAL").unwrap();
        for label in [&secret, &cui] {
            let err = import(
                &store,
                Path::new("/nonexistent.gguf"),
                "m",
                label,
                &[],
                &high,
            )
            .await
            .unwrap_err();
            assert!(matches!(err, RegistryError::AboveSystemHigh(_)), "{err}");
        }
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_model_is_refused_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).await.unwrap();
        let bogus = dir.path().join("bogus.gguf");
        std::fs::write(&bogus, b"GGUF but not really").unwrap();
        let u = Label::unclassified();
        let err = import(&store, &bogus, "bogus", &u, &[], &u)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid model file"), "{err}");
        assert!(store.list_models().await.unwrap().is_empty());
        assert_eq!(std::fs::read_dir(store.models_dir()).unwrap().count(), 0);
    }
}
