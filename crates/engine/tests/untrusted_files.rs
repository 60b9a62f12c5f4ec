//! Model files come from outside; a damaged or hostile one must be refused with an error, never
//! crash the process. Random corruption of the default model's header (where lengths, counts,
//! types and offsets live) goes through the same checks `scif models import` runs.

// Test helpers fail loudly; that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};

use proptest::prelude::*;
use scif_engine::tokenizer::Tokenizer;
use scif_engine::GgufFile;

/// The first bytes of the real model: header, metadata (vocabulary included) and tensor table.
fn header() -> Vec<u8> {
    static H: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let mut f = std::fs::File::open(common::model_path()).unwrap();
        let mut buf = vec![0u8; 2 << 20];
        f.read_exact(&mut buf).unwrap();
        buf
    })
    .clone()
}

fn check(bytes: &[u8]) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    // Whatever happens, it is an Ok or an Err, not a panic or an abort.
    if let Ok(g) = GgufFile::open(f.path()) {
        let _ = g.metadata();
        let _ = Tokenizer::from_gguf(&g);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_headers_are_errors_not_crashes(edits in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16)) {
        let mut bytes = header();
        for (at, v) in edits {
            bytes[at] = v;
        }
        check(&bytes);
    }

    #[test]
    fn truncated_files_are_errors_not_crashes(len in 0usize..(2 << 20)) {
        let bytes = header();
        check(&bytes[..len]);
    }
}

#[test]
fn a_truncated_model_is_refused_at_open() {
    // The tensor table points past the end of a 2 MiB prefix of the model.
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&header()).unwrap();
    let err = GgufFile::open(f.path()).err().expect("refused").to_string();
    assert!(err.contains("outside the file"), "{err}");
}
