//! The audit verifier on arbitrary segment contents: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scif_audit::verify_record_line(data);
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("segment-00000000000000000001.log"), data).is_ok() {
        let _ = scif_audit::verify(dir.path(), None, None);
    }
});
