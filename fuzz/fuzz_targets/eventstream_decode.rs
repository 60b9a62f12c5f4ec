//! AWS event-stream decoding of arbitrary bytes: never a panic, and whatever decodes
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scif_sigv4::eventstream::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok((msg, used)) = decode(data) {
        assert!(used <= data.len());
        let again = encode(&msg);
        assert_eq!(&again[..], &data[..used]);
    }
});
