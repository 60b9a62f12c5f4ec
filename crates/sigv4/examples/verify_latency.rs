//! What SigV4 verification costs per request: `verify` on the botocore-signed Converse fixture,
//! 20,000 times, p50 and p99. Run: `cargo run --release -p scif-sigv4 --example verify_latency`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use serde_json::Value;

fn main() {
    let v: Value = serde_json::from_str(include_str!("../tests/fixtures/converse.json")).unwrap();
    let headers: Vec<(String, Vec<u8>)> = v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().as_bytes().to_vec(),
            )
        })
        .collect();
    let header_refs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let body = base64_decode(v["body"].as_str().unwrap());
    let req = scif_sigv4::SignedRequest {
        method: v["method"].as_str().unwrap(),
        path: v["path"].as_str().unwrap(),
        query: v["query"].as_str().unwrap(),
        headers: &header_refs,
        body: &body,
    };
    let now = v["now_unix"].as_i64().unwrap();
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let mut times = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        scif_sigv4::verify(&req, "bedrock", now, |_| Some(secret.to_owned())).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "sigv4 verify ({} B body): p50 {:.1} us, p99 {:.1} us",
        body.len(),
        at(0.5),
        at(0.99)
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = A.iter().position(|a| *a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
