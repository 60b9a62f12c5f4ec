//! Verifies real botocore-signed requests (see `fixtures/make_fixtures.py`) and checks
//! that tampering with them fails with the right error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_sigv4::sigv4::{canonical_request, canonical_uri};
use scif_sigv4::{parse_authorization, verify, SigV4Error, SignedRequest, Verified};
use serde_json::Value;

const FIXTURES: &[(&str, &str)] = &[
    ("converse", include_str!("fixtures/converse.json")),
    (
        "converse_stream_arn",
        include_str!("fixtures/converse_stream_arn.json"),
    ),
    (
        "list_foundation_models",
        include_str!("fixtures/list_foundation_models.json"),
    ),
    (
        "list_foundation_models_space",
        include_str!("fixtures/list_foundation_models_space.json"),
    ),
    (
        "converse_session_token",
        include_str!("fixtures/converse_session_token.json"),
    ),
];

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

#[derive(Clone)]
struct Fixture {
    name: &'static str,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    now: i64,
    canonical_request: String,
}

fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64"),
        }
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s.as_bytes().iter().filter(|&&c| c != b'=') {
        acc = (acc << 6) | val(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn load() -> Vec<Fixture> {
    FIXTURES
        .iter()
        .map(|(name, text)| {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["expected"], "ok");
            Fixture {
                name,
                method: v["method"].as_str().unwrap().to_owned(),
                path: v["path"].as_str().unwrap().to_owned(),
                query: v["query"].as_str().unwrap().to_owned(),
                headers: v["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap().to_owned(),
                            h[1].as_str().unwrap().as_bytes().to_vec(),
                        )
                    })
                    .collect(),
                body: b64decode(v["body"].as_str().unwrap()),
                now: v["now_unix"].as_i64().unwrap(),
                canonical_request: v["canonical_request"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

impl Fixture {
    fn check_with(
        &self,
        service: &str,
        now: i64,
        akid: &str,
        secret: &str,
    ) -> Result<Verified, SigV4Error> {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        };
        verify(&req, service, now, |k| {
            (k == akid).then(|| secret.to_owned())
        })
    }

    fn check(&self) -> Result<Verified, SigV4Error> {
        self.check_with("bedrock", self.now, AKID, SECRET)
    }

    fn header_mut(&mut self, name: &str) -> &mut Vec<u8> {
        &mut self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap()
            .1
    }

    fn authorization(&self) -> String {
        let v = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .unwrap();
        String::from_utf8(v.1.clone()).unwrap()
    }
}

#[test]
fn all_fixtures_verify() {
    for f in load() {
        let v = f.check().unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        assert_eq!(v.access_key_id, AKID);
        assert_eq!(v.region, "us-gov-west-1");
        assert!(v.payload_signed);
    }
}

#[test]
fn canonical_request_matches_botocore() {
    for f in load() {
        let auth = parse_authorization(&f.authorization()).unwrap();
        let headers: Vec<(&str, &[u8])> = f
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = SignedRequest {
            method: &f.method,
            path: &f.path,
            query: &f.query,
            headers: &headers,
            body: &f.body,
        };
        let hash = f.canonical_request.rsplit('\n').next().unwrap();
        let ours = canonical_request(&req, &auth.signed_headers, hash).unwrap();
        assert_eq!(ours, f.canonical_request, "{}", f.name);
    }
}

#[test]
fn arn_path_is_signed_double_encoded() {
    let f = load()
        .into_iter()
        .find(|f| f.name == "converse_stream_arn")
        .unwrap();
    assert_eq!(
        f.path,
        "/model/arn%3Aaws-us-gov%3Abedrock%3Aus-gov-west-1%3A%3Afoundation-model%2Fsmollm2/converse-stream"
    );
    assert_eq!(
        canonical_uri(&f.path),
        "/model/arn%253Aaws-us-gov%253Abedrock%253Aus-gov-west-1%253A%253Afoundation-model%252Fsmollm2/converse-stream"
    );
    // A server that decoded the path before verifying would fail.
    let mut decoded = f.clone();
    decoded.path =
        "/model/arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model%2Fsmollm2/converse-stream"
            .to_owned();
    assert_eq!(decoded.check(), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn changed_body_byte_fails() {
    for f in load().into_iter().filter(|f| !f.body.is_empty()) {
        for i in [0, f.body.len() / 2, f.body.len() - 1] {
            let mut m = f.clone();
            m.body[i] ^= 0x01;
            assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch), "{}", f.name);
        }
    }
}

#[test]
fn content_sha256_header_is_checked_against_body() {
    use sha2::{Digest, Sha256};
    let f = load().into_iter().find(|f| f.name == "converse").unwrap();
    let mut m = f.clone();
    let hash = hex::encode(Sha256::digest(&f.body));
    m.headers
        .push(("X-Amz-Content-SHA256".to_owned(), hash.into_bytes()));
    // Correct (unsigned) header: still verifies.
    assert!(m.check().is_ok());
    m.body[0] ^= 0x01;
    assert_eq!(m.check(), Err(SigV4Error::PayloadHashMismatch));
}

#[test]
fn wrong_secret_fails() {
    for f in load() {
        assert_eq!(
            f.check_with(
                "bedrock",
                f.now,
                AKID,
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEX"
            ),
            Err(SigV4Error::SignatureMismatch)
        );
    }
}

#[test]
fn unknown_key_fails() {
    for f in load() {
        assert_eq!(
            f.check_with("bedrock", f.now, "AKIDOTHER", SECRET),
            Err(SigV4Error::UnrecognizedClient)
        );
    }
}

#[test]
fn clock_skew_limits() {
    for f in load() {
        assert!(f.check_with("bedrock", f.now + 300, AKID, SECRET).is_ok());
        assert!(f.check_with("bedrock", f.now - 300, AKID, SECRET).is_ok());
        assert_eq!(
            f.check_with("bedrock", f.now + 301, AKID, SECRET),
            Err(SigV4Error::Expired)
        );
        assert_eq!(
            f.check_with("bedrock", f.now - 301, AKID, SECRET),
            Err(SigV4Error::Expired)
        );
    }
}

#[test]
fn wrong_service_fails() {
    for f in load() {
        assert_eq!(
            f.check_with("s3", f.now, AKID, SECRET),
            Err(SigV4Error::WrongService)
        );
    }
}

#[test]
fn host_must_be_signed() {
    for f in load() {
        let mut m = f.clone();
        let a = m.authorization().replace("host;", "");
        *m.header_mut("authorization") = a.into_bytes();
        assert_eq!(m.check(), Err(SigV4Error::UnsignedRequiredHeader("host")));
        let mut m = f.clone();
        let a = m.authorization().replace(";x-amz-date", "");
        *m.header_mut("authorization") = a.into_bytes();
        assert_eq!(
            m.check(),
            Err(SigV4Error::UnsignedRequiredHeader("x-amz-date"))
        );
    }
}

#[test]
fn tampered_request_parts_fail() {
    for f in load() {
        // Different host.
        let mut m = f.clone();
        *m.header_mut("host") = b"127.0.0.1:8081".to_vec();
        assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch), "{}", f.name);
        // Different method.
        let mut m = f.clone();
        m.method = "PUT".to_owned();
        assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch));
        // Different path.
        let mut m = f.clone();
        m.path.push('x');
        assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch));
        // Different query.
        let mut m = f.clone();
        m.query = if m.query.is_empty() {
            "a=b".to_owned()
        } else {
            format!("{}x", m.query)
        };
        assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch));
        // Different (signed) date within the allowed skew.
        let mut m = f.clone();
        *m.header_mut("x-amz-date") = b"20261129T120001Z".to_vec();
        assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch));
        // x-amz-date on another day than the credential scope.
        let mut m = f.clone();
        *m.header_mut("x-amz-date") = b"20261130T120000Z".to_vec();
        assert_eq!(
            m.check_with("bedrock", f.now + 86_400, AKID, SECRET),
            Err(SigV4Error::DateMismatch)
        );
        // Flipped signature digit.
        let mut m = f.clone();
        let a = m.authorization();
        let last = a.chars().last().unwrap();
        let flipped = if last == '0' { '1' } else { '0' };
        let a = format!("{}{flipped}", &a[..a.len() - 1]);
        *m.header_mut("authorization") = a.into_bytes();
        assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch));
        // No Authorization header.
        let mut m = f.clone();
        m.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        assert_eq!(m.check(), Err(SigV4Error::Missing));
        // Header names arrive lower-cased (HTTP/2) and values with extra spaces.
        let mut m = f.clone();
        for (n, _) in &mut m.headers {
            *n = n.to_ascii_lowercase();
        }
        let ct = m
            .headers
            .iter_mut()
            .find(|(n, _)| n == "x-amz-date")
            .unwrap();
        ct.1 = b"  20261129T120000Z ".to_vec();
        assert!(m.check().is_ok(), "{}", f.name);
    }
}

#[test]
fn session_token_is_signed() {
    let f = load()
        .into_iter()
        .find(|f| f.name == "converse_session_token")
        .unwrap();
    let mut m = f.clone();
    *m.header_mut("x-amz-security-token") = b"other".to_vec();
    assert_eq!(m.check(), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn error_types_and_messages() {
    assert_eq!(
        SigV4Error::UnrecognizedClient.aws_error_type(),
        "UnrecognizedClientException"
    );
    assert_eq!(
        SigV4Error::SignatureMismatch.aws_error_type(),
        "InvalidSignatureException"
    );
    assert_eq!(
        SigV4Error::Expired.aws_error_type(),
        "InvalidSignatureException"
    );
    assert!(SigV4Error::Expired
        .public_message()
        .starts_with("Signature expired"));
    assert_eq!(
        SigV4Error::Malformed("x").aws_error_type(),
        "IncompleteSignatureException"
    );
    assert_eq!(
        SigV4Error::Missing.aws_error_type(),
        "MissingAuthenticationTokenException"
    );
}
