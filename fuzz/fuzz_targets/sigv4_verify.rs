//! SigV4 verification on arbitrary requests: never a panic, never a pass for a forged request.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input into an Authorization value, a path, a query, an x-amz-date and a body.
    let mut parts = data.splitn(5, |b| *b == 0);
    let auth = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let date = parts.next().unwrap_or_default().to_vec();
    let body = parts.next().unwrap_or_default();
    let _ = scif_sigv4::parse_authorization(&auth);
    let headers: Vec<(&str, &[u8])> = vec![
        ("authorization", auth.as_bytes()),
        ("host", b"127.0.0.1:8080"),
        ("x-amz-date", &date),
        ("content-type", b"application/json"),
    ];
    let req = scif_sigv4::SignedRequest {
        method: "POST",
        path: &path,
        query: &query,
        headers: &headers,
        body,
    };
    // A random request carries no valid signature under this secret (2^-256 aside).
    let r = scif_sigv4::verify(&req, "bedrock", 1_795_953_600, |_| {
        Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned())
    });
    assert!(r.is_err());
});
