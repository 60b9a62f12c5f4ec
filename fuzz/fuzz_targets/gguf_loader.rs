//! Feeds arbitrary bytes to scif's GGUF loader as a model file: opening, validating, reading
//! registry metadata and building the tokenizer must return errors, never panic or abort.

#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use scif_engine::tokenizer::Tokenizer;
use scif_engine::GgufFile;

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::NamedTempFile::new() else { return };
    if f.write_all(data).is_err() {
        return;
    }
    if let Ok(g) = GgufFile::open(f.path()) {
        let _ = g.metadata();
        let _ = Tokenizer::from_gguf(&g);
    }
});
