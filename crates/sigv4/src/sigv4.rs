//! Server-side verification of AWS Signature Version 4 (`Authorization` header form).
//!
//! The canonicalisation follows botocore (`botocore.auth.SigV4Auth`), which is what
//! boto3 clients send:
//!
//! * Canonical URI: the raw wire path with dot segments and empty segments removed
//!   (botocore's `normalize_url_path`), then every byte except RFC 3986 unreserved
//!   characters and `/` percent-encoded. The wire path is *already* percent-encoded by
//!   the client, so it is encoded a second time: `/model/arn%3Aaws...` is signed as
//!   `/model/arn%253Aaws...`. An empty path is `/`.
//! * Canonical query: split on `&`, each pair split on the first `=`, percent-decoded
//!   (`+` is left alone) and re-encoded per RFC 3986, sorted by key then value.
//! * Canonical headers: the headers named in `SignedHeaders`, lower-case names, values
//!   trimmed with inner whitespace runs collapsed to one space, repeated headers joined
//!   with `,`.
//! * Payload hash: if `x-amz-content-sha256` is sent it is used verbatim (it must equal
//!   the SHA-256 of the received body unless it is `UNSIGNED-PAYLOAD`); otherwise the
//!   SHA-256 of the received body.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The algorithm token that starts a SigV4 `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Largest accepted difference between `x-amz-date` and the server clock, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;
/// The literal `x-amz-content-sha256` value meaning "body not covered by the signature".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What the HTTP layer hands over for verification.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// HTTP method, e.g. `"POST"`.
    pub method: &'a str,
    /// Raw path exactly as received on the wire (still percent-encoded).
    pub path: &'a str,
    /// Raw query string without `?`; may be empty.
    pub query: &'a str,
    /// All request headers; names in any case, values raw. For HTTP/2 the caller must
    /// supply a `host` entry built from `:authority`.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The body actually received.
    pub body: &'a [u8],
}

/// The parsed parts of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuth {
    pub access_key_id: String,
    /// Credential scope date, `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case header names, in the order given (must be sorted).
    pub signed_headers: Vec<String>,
    /// Lower-case hex signature (64 characters).
    pub signature: String,
}

/// A successfully verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    /// Region from the credential scope (not checked here; the caller decides).
    pub region: String,
    /// `false` when the client sent `x-amz-content-sha256: UNSIGNED-PAYLOAD`, i.e. the
    /// body is not covered by the signature.
    pub payload_signed: bool,
}

/// Why a request failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header.
    #[error("missing authentication token")]
    Missing,
    /// The `Authorization` header or a required header is syntactically invalid.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// The access key id is not known.
    #[error("unrecognized access key id")]
    UnrecognizedClient,
    /// The signature does not match.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// `x-amz-date` is more than [`MAX_SKEW_SECS`] away from the server clock.
    #[error("signature expired")]
    Expired,
    /// The credential scope names another service.
    #[error("credential scoped to the wrong service")]
    WrongService,
    /// The credential scope date differs from the date in `x-amz-date`.
    #[error("credential scope date does not match x-amz-date")]
    DateMismatch,
    /// `x-amz-content-sha256` does not match the body received.
    #[error("x-amz-content-sha256 does not match the body")]
    PayloadHashMismatch,
    /// A header that must be signed (`host`, `x-amz-date`) is not in `SignedHeaders`.
    #[error("required header not signed: {0}")]
    UnsignedRequiredHeader(&'static str),
}

impl SigV4Error {
    /// The AWS error type (`x-amzn-ErrorType` / `__type`) to report.
    ///
    /// * `Missing` -> `MissingAuthenticationTokenException` (what AWS answers for an
    ///   unsigned request)
    /// * `Malformed`, `UnsignedRequiredHeader` -> `IncompleteSignatureException`
    /// * `UnrecognizedClient` -> `UnrecognizedClientException`
    /// * `SignatureMismatch`, `PayloadHashMismatch`, `Expired`, `WrongService`,
    ///   `DateMismatch` -> `InvalidSignatureException` (AWS reports clock skew as
    ///   `InvalidSignatureException` with "Signature expired: ...")
    pub fn aws_error_type(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Malformed(_) | Self::UnsignedRequiredHeader(_) => "IncompleteSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::SignatureMismatch
            | Self::PayloadHashMismatch
            | Self::Expired
            | Self::WrongService
            | Self::DateMismatch => "InvalidSignatureException",
        }
    }

    /// HTTP status to answer with (AWS uses 403 for all of these).
    pub fn http_status(&self) -> u16 {
        403
    }

    /// An AWS-like message. Never contains a secret or the expected signature.
    pub fn public_message(&self) -> String {
        match self {
            Self::Missing => "Missing Authentication Token".to_owned(),
            Self::Malformed(what) => format!("Authorization header is malformed: {what}."),
            Self::UnrecognizedClient => {
                "The security token included in the request is invalid.".to_owned()
            }
            Self::SignatureMismatch => "The request signature we calculated does not match the \
                 signature you provided. Check your AWS Secret Access Key and signing method. \
                 Consult the service documentation for details."
                .to_owned(),
            Self::Expired => format!(
                "Signature expired: the X-Amz-Date is more than {} minutes away from the \
                 server time.",
                MAX_SKEW_SECS / 60
            ),
            Self::WrongService => "Credential should be scoped to correct service.".to_owned(),
            Self::DateMismatch => "Date in Credential scope does not match YYYYMMDD from \
                 ISO-8601 version of date from HTTP."
                .to_owned(),
            Self::PayloadHashMismatch => "The provided 'x-amz-content-sha256' header does not \
                 match what was computed."
                .to_owned(),
            Self::UnsignedRequiredHeader(h) => {
                format!("Authorization header requires '{h}' to be a signed header.")
            }
        }
    }
}

/// True when the header value uses the SigV4 `AWS4-HMAC-SHA256 ` scheme.
pub fn looks_like_sigv4(authorization: &str) -> bool {
    authorization.starts_with("AWS4-HMAC-SHA256 ")
}

/// Parse `AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
/// SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<ParsedAuth, SigV4Error> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or(SigV4Error::Malformed("unsupported algorithm"))?;
    if !rest.starts_with(' ') {
        return Err(SigV4Error::Malformed("unsupported algorithm"));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or(SigV4Error::Malformed("expected key=value"))?;
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(SigV4Error::Malformed("unknown component")),
        };
        if slot.replace(v.trim()).is_some() {
            return Err(SigV4Error::Malformed("duplicate component"));
        }
    }
    let credential = credential.ok_or(SigV4Error::Malformed("missing Credential"))?;
    let signed_headers = signed_headers.ok_or(SigV4Error::Malformed("missing SignedHeaders"))?;
    let signature = signature.ok_or(SigV4Error::Malformed("missing Signature"))?;

    let cred: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = cred.as_slice() else {
        return Err(SigV4Error::Malformed("Credential must have 5 parts"));
    };
    if *terminator != "aws4_request" {
        return Err(SigV4Error::Malformed(
            "Credential must end with aws4_request",
        ));
    }
    if akid.is_empty() || region.is_empty() || service.is_empty() {
        return Err(SigV4Error::Malformed("empty Credential component"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::Malformed("Credential date must be YYYYMMDD"));
    }

    let names: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    for n in &names {
        if n.is_empty() || n.bytes().any(|b| !is_tchar(b) || b.is_ascii_uppercase()) {
            return Err(SigV4Error::Malformed("invalid SignedHeaders"));
        }
    }
    if names.windows(2).any(|w| w[0] >= w[1]) {
        return Err(SigV4Error::Malformed(
            "SignedHeaders must be sorted and unique",
        ));
    }

    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(SigV4Error::Malformed(
            "Signature must be 64 lower-case hex digits",
        ));
    }

    Ok(ParsedAuth {
        access_key_id: (*akid).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: names,
        signature: signature.to_owned(),
    })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Verify a SigV4-signed request.
///
/// `secret_for(access_key_id)` returns the secret access key, or `None` for an unknown
/// key. `now_unix` is the server's clock in seconds since the epoch.
///
/// Checks, in order: `Authorization` present and well-formed; service equals
/// `expected_service`; `host` and `x-amz-date` signed; `x-amz-date` well-formed and its
/// date equal to the credential scope date; clock skew at most 5 minutes; key known;
/// `x-amz-content-sha256` (if sent) matches the body; signature (constant-time compare).
pub fn verify(
    req: &SignedRequest<'_>,
    expected_service: &str,
    now_unix: i64,
    secret_for: impl FnOnce(&str) -> Option<String>,
) -> Result<Verified, SigV4Error> {
    let authz = single_header(req.headers, "authorization")?.ok_or(SigV4Error::Missing)?;
    let authz = std::str::from_utf8(authz)
        .map_err(|_| SigV4Error::Malformed("Authorization is not UTF-8"))?;
    let auth = parse_authorization(authz.trim())?;

    if auth.service != expected_service {
        return Err(SigV4Error::WrongService);
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(SigV4Error::UnsignedRequiredHeader(required));
        }
    }
    let amz_date = single_header(req.headers, "x-amz-date")?
        .ok_or(SigV4Error::Malformed("missing x-amz-date"))?;
    let amz_date = std::str::from_utf8(amz_date)
        .map_err(|_| SigV4Error::Malformed("invalid x-amz-date"))?
        .trim();
    let request_time =
        parse_amz_date(amz_date).ok_or(SigV4Error::Malformed("invalid x-amz-date"))?;
    if amz_date.get(..8) != Some(auth.date.as_str()) {
        return Err(SigV4Error::DateMismatch);
    }
    if now_unix.abs_diff(request_time) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(SigV4Error::Expired);
    }

    let secret = secret_for(&auth.access_key_id).ok_or(SigV4Error::UnrecognizedClient)?;

    let body_hash = hex::encode(Sha256::digest(req.body));
    let (payload_hash, payload_signed) = match single_header(req.headers, "x-amz-content-sha256")? {
        None => (body_hash, true),
        Some(v) => {
            let v = std::str::from_utf8(v)
                .map_err(|_| SigV4Error::PayloadHashMismatch)?
                .trim();
            if v == UNSIGNED_PAYLOAD {
                (UNSIGNED_PAYLOAD.to_owned(), false)
            } else if v.eq_ignore_ascii_case(&body_hash) {
                // The client signed the header's own spelling.
                (v.to_owned(), true)
            } else {
                return Err(SigV4Error::PayloadHashMismatch);
            }
        }
    };

    let canonical = canonical_request(req, &auth.signed_headers, &payload_hash)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let sts = string_to_sign(amz_date, &scope, &canonical);
    let key = signing_key(&secret, &auth.date, &auth.region, &auth.service);
    let expected = hex::encode(hmac(&key, sts.as_bytes()));

    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(Verified {
            access_key_id: auth.access_key_id,
            region: auth.region,
            payload_signed,
        })
    } else {
        Err(SigV4Error::SignatureMismatch)
    }
}

/// The SigV4 canonical request for `req` (see the module docs for the rules).
pub fn canonical_request(
    req: &SignedRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<&[u8]> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .collect();
        if values.is_empty() {
            return Err(SigV4Error::Malformed("signed header missing from request"));
        }
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for v in values {
            if !first {
                out.push(',');
            }
            first = false;
            let v = std::str::from_utf8(v)
                .map_err(|_| SigV4Error::Malformed("signed header value is not UTF-8"))?;
            let mut words = v.split_ascii_whitespace();
            if let Some(w) = words.next() {
                out.push_str(w);
                for w in words {
                    out.push(' ');
                    out.push_str(w);
                }
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// Canonical URI for non-S3 services: normalise like botocore, then URI-encode the
/// (already encoded) wire path once more, keeping `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    let normalized = remove_dot_segments(raw_path);
    uri_encode(normalized.as_bytes(), true)
}

/// botocore's `normalize_url_path`: drop empty and `.` segments, resolve `..`, keep a
/// leading and (if anything remains) trailing slash. Empty path -> `/`.
fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::new();
    if path.starts_with('/') {
        s.push('/');
    }
    s.push_str(&out.join("/"));
    if path.ends_with('/') && !out.is_empty() {
        s.push('/');
    }
    s
}

/// Canonical query string: decode each key and value, re-encode per RFC 3986, sort.
pub fn canonical_query(raw_query: &str) -> String {
    if raw_query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    let parts: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join("&")
}

fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hex(sha256(canonical))}`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// SigV4 signing key: HMAC chain over date, region, service, `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Returns `Ok(None)` when absent, the value when present once, and an error when a
/// header that must be unique is repeated.
fn single_header<'a>(
    headers: &'a [(&'a str, &'a [u8])],
    name: &str,
) -> Result<Option<&'a [u8]>, SigV4Error> {
    let mut found = None;
    for (n, v) in headers {
        if n.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(SigV4Error::Malformed("repeated header"));
            }
            found = Some(*v);
        }
    }
    Ok(found)
}

/// Parse `YYYYMMDD'T'HHMMSS'Z'` into Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days =
        scif_time::civil::days_from_civil(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_parses() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20261129T120000Z"), Some(1_795_953_600));
        assert_eq!(parse_amz_date("20261129T120000"), None);
        assert_eq!(parse_amz_date("2026112xT120000Z"), None);
        assert_eq!(parse_amz_date("+0261129T120000Z"), None);
    }

    #[test]
    fn uri_is_double_encoded() {
        assert_eq!(
            canonical_uri("/model/arn%3Aaws-us-gov%3Abedrock%2Fm/converse"),
            "/model/arn%253Aaws-us-gov%253Abedrock%252Fm/converse"
        );
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a//b/./c/../d/"), "/a/b/d/");
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        assert_eq!(canonical_query("b=2&a=%7e&a=1&c"), "a=1&a=~&b=2&c=");
        assert_eq!(canonical_query("k=a b%2"), "k=a%20b%252");
    }

    #[test]
    fn parse_auth() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20261129/us-gov-west-1/bedrock/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "AKID");
        assert_eq!(a.region, "us-gov-west-1");
        assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=a/b").is_err());
        assert!(parse_authorization("Bearer x").is_err());
        assert!(looks_like_sigv4("AWS4-HMAC-SHA256 Credential=x"));
        assert!(!looks_like_sigv4("Bearer AWS4-HMAC-SHA256 "));
    }
}
