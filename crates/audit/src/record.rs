//! Data model, canonical encoding, record hashing and checkpoint signing bytes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Domain separator prepended to the canonical bytes of a record before hashing.
pub const RECORD_DOMAIN: &[u8] = b"scif audit record v1\0";
/// Domain separator prepended to the bytes a checkpoint signs.
pub const CHECKPOINT_DOMAIN: &[u8] = b"scif audit checkpoint v1\0";
/// `prev_hash` of the very first record of a trail: 64 ASCII zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited event, as submitted by callers. Never put secrets in here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Event {
    /// RFC 3339 UTC with milliseconds, set by the caller.
    pub time: String,
    /// Request correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Authenticated principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// "api_key" | "oidc" | "client_cert" | "local_operator" ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// Peer address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// e.g. "authenticate", "invoke_model", "manage_keys", "server_start".
    pub action: String,
    /// e.g. "model/smollm2".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Classification label of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_label: Option<String>,
    /// Classification label of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_label: Option<String>,
    /// "allow" | "deny" | "error" | "info".
    pub decision: String,
    /// Rule / policy ids.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// Latency in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// HTTP status or error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Extra fields (e.g. prompt_sha256).
    #[serde(default)]
    pub detail: Map<String, Value>,
}

/// The longest a caller-influenced string field of an [`Event`] is recorded (bytes).
pub const MAX_FIELD_BYTES: usize = 256;

impl Event {
    /// The event with every short string field (principal, resource, model, request id,
    /// source, outcome) cut to [`MAX_FIELD_BYTES`] at a character boundary and marked: a
    /// caller choosing a megabyte model name does not get a megabyte record.
    pub fn bounded(mut self) -> Event {
        for field in [
            &mut self.principal,
            &mut self.resource,
            &mut self.model,
            &mut self.request_id,
            &mut self.source,
            &mut self.outcome,
        ]
        .into_iter()
        .flatten()
        {
            if field.len() > MAX_FIELD_BYTES {
                let mut cut = MAX_FIELD_BYTES;
                while !field.is_char_boundary(cut) {
                    cut -= 1;
                }
                field.truncate(cut);
                field.push_str("…[truncated]");
            }
        }
        self
    }
}

/// A stored, hash-chained record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number, from 1, gapless across segments.
    pub seq: u64,
    /// Node that wrote the record.
    pub node: String,
    /// Hex SHA-256 of the previous record (or [`GENESIS_HASH`]).
    pub prev_hash: String,
    /// The event.
    pub event: Event,
    /// Hex SHA-256 of this record, see the crate docs.
    pub hash: String,
}

/// A signed checkpoint over the chain head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Seq of the last record covered (0 if none).
    pub seq: u64,
    /// Hash of that record (hex).
    pub hash: String,
    /// RFC 3339 time the checkpoint was made.
    pub time: String,
    /// Node that signed.
    pub node: String,
    /// Hex of the 32-byte Ed25519 public key.
    pub public_key_hex: String,
    /// Base64 (standard, padded) of the 64-byte Ed25519 signature.
    pub signature_b64: String,
    /// The Merkle tree over records 1 to `seq`: a signed C2SP checkpoint note of its root,
    /// and the tree's peaks (so a restart continues the tree without reading the whole trail).
    /// Absent on checkpoints written before the tree existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog: Option<Tlog>,
}

/// The Merkle part of a checkpoint (see [`crate::merkle`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tlog {
    /// The signed note: origin, tree size (= `seq`), base64 root, signature line.
    pub note: String,
    /// Hex roots of the tree's perfect subtrees, largest first.
    pub peaks: Vec<String>,
}

/// A checkpoint line: `{"checkpoint":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLine {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
}

/// Writes the canonical encoding of `v` into `out`. See the crate docs for the rules.
pub fn canonical_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_into(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => canonical_object_into(m, out),
    }
}

fn canonical_object_into(m: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (k, x)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(k, out);
        out.push(':');
        canonical_into(x, out);
    }
    out.push('}');
}

/// The canonical encoding of `v` as a string.
pub fn canonical_json(v: &Value) -> String {
    let mut s = String::new();
    canonical_into(v, &mut s);
    s
}

fn push_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// SHA-256 over `RECORD_DOMAIN || canonical(body)`, where `body` is the record object
/// without its `hash` member. Returns lowercase hex.
pub fn hash_body(body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(RECORD_DOMAIN);
    h.update(canonical_json(body).as_bytes());
    hex::encode(h.finalize())
}

/// The record body (`{"event","node","prev_hash","seq"}`) as a JSON value.
pub fn record_body(
    seq: u64,
    node: &str,
    prev_hash: &str,
    event: &Event,
) -> Result<Value, serde_json::Error> {
    let mut m = Map::new();
    m.insert("event".into(), serde_json::to_value(event)?);
    m.insert("node".into(), Value::String(node.to_owned()));
    m.insert("prev_hash".into(), Value::String(prev_hash.to_owned()));
    m.insert("seq".into(), Value::from(seq));
    Ok(Value::Object(m))
}

/// Computes the hash a record with these fields must carry.
pub fn compute_hash(
    seq: u64,
    node: &str,
    prev_hash: &str,
    event: &Event,
) -> Result<String, serde_json::Error> {
    Ok(hash_body(&record_body(seq, node, prev_hash, event)?))
}

/// Builds a record and its on-disk line (canonical JSON, no trailing newline).
pub fn build_record(
    seq: u64,
    node: &str,
    prev_hash: &str,
    event: &Event,
) -> Result<(String, String), serde_json::Error> {
    let event = canonical_event(event)?;
    Ok(build_record_canonical(seq, node, prev_hash, &event))
}

/// The canonical encoding of an event (done by the appending thread, so that the single
/// writer thread only assembles and hashes).
pub fn canonical_event(event: &Event) -> Result<String, serde_json::Error> {
    Ok(canonical_json(&serde_json::to_value(event)?))
}

/// [`build_record`] from an event already in canonical form. The record's members in
/// canonical (byte) order are `event`, `hash`, `node`, `prev_hash`, `seq`; the hash covers
/// the same object without `hash`.
pub fn build_record_canonical(
    seq: u64,
    node: &str,
    prev_hash: &str,
    event_canonical: &str,
) -> (String, String) {
    let mut tail = String::with_capacity(node.len() + prev_hash.len() + 48);
    tail.push_str(",\"node\":");
    push_json_string(node, &mut tail);
    tail.push_str(",\"prev_hash\":");
    push_json_string(prev_hash, &mut tail);
    tail.push_str(",\"seq\":");
    tail.push_str(&seq.to_string());
    tail.push('}');
    let mut h = Sha256::new();
    h.update(RECORD_DOMAIN);
    h.update(b"{\"event\":");
    h.update(event_canonical.as_bytes());
    h.update(tail.as_bytes());
    let hash = hex::encode(h.finalize());
    let mut line = String::with_capacity(event_canonical.len() + tail.len() + 90);
    line.push_str("{\"event\":");
    line.push_str(event_canonical);
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push('"');
    line.push_str(&tail);
    (hash, line)
}

/// A record line checked on the fast path: its top level has exactly the canonical shape
/// (read from the end of the line, so the event is not parsed), and the SHA-256 of its
/// body's bytes (the line without its `hash` member) is its stored hash.
///
/// The event's own canonical form is not re-derived here: the writer hashes only canonical
/// bytes, so bytes that hash to the stored value are those bytes. A forger who rewrites an
/// event (canonically or not) and recomputes its hash breaks the link to the next record or
/// the next signed checkpoint, which the verifier checks. Anything the fast path does not
/// accept goes through [`parse_line`], which names the exact fault.
pub(crate) struct FastRecord<'a> {
    pub seq: u64,
    pub prev_hash: &'a str,
    pub hash: &'a str,
    pub event: &'a str,
}

/// A record line's seq and hash (the hash `None` if it is not 64 hex digits); `None` for any
/// other line. The fast path first, the full parser for lines it does not take.
pub(crate) fn record_seq_hash(line: &[u8]) -> Option<(u64, Option<[u8; 32]>)> {
    if let Some(r) = parse_record_fast(line) {
        return Some((r.seq, decode_hash(r.hash)));
    }
    match parse_line(line) {
        Ok(Line::Record { record, .. }) => Some((record.seq, decode_hash(&record.hash))),
        _ => None,
    }
}

pub(crate) fn parse_record_fast(line: &[u8]) -> Option<FastRecord<'_>> {
    // Read the fixed-shape tail from the end, without parsing the event:
    // `{"event":E,"hash":"<64 hex>","node":"<node>","prev_hash":"<64 hex>","seq":<digits>}`.
    // The node must need no escaping (no `"`, `\\` or control characters); lines that do not
    // have exactly this shape go to the full parser.
    const HEAD: &[u8] = b"{\"event\":{";
    let rest = line.strip_suffix(b"}")?;
    let digits = rest.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let (rest, seq_text) = rest.split_at(rest.len() - digits);
    if seq_text.is_empty() || (seq_text.len() > 1 && seq_text[0] == b'0') {
        return None;
    }
    let seq: u64 = std::str::from_utf8(seq_text).ok()?.parse().ok()?;
    let rest = rest.strip_suffix(b"\",\"seq\":")?;
    let (rest, prev_hash) = split_hex_suffix(rest)?;
    let rest = rest.strip_suffix(b"\",\"prev_hash\":\"")?;
    let quote = rest.iter().rposition(|b| *b == b'"')?;
    let (rest, node) = (&rest[..quote + 1], &rest[quote + 1..]);
    if node.iter().any(|b| *b < 0x20 || *b == b'\\') {
        return None;
    }
    let rest = rest.strip_suffix(b"\",\"node\":\"")?;
    let (rest, hash) = split_hex_suffix(rest)?;
    let event_and_head = rest.strip_suffix(b",\"hash\":\"")?;
    if !event_and_head.starts_with(HEAD) || !event_and_head.ends_with(b"}") {
        return None;
    }
    let event = &event_and_head[HEAD.len() - 1..];
    // The body is the line without `,"hash":"<64 hex>"`.
    let hash_member_start = event_and_head.len();
    let hash_member_end = hash_member_start + b",\"hash\":\"".len() + 64 + 1;
    let mut h = Sha256::new();
    h.update(RECORD_DOMAIN);
    h.update(line.get(..hash_member_start)?);
    h.update(line.get(hash_member_end..)?);
    let computed = h.finalize();
    let mut hex_computed = [0u8; 64];
    hex::encode_to_slice(computed, &mut hex_computed).ok()?;
    if hex_computed.as_slice() != hash {
        return None;
    }
    Some(FastRecord {
        seq,
        prev_hash: std::str::from_utf8(prev_hash).ok()?,
        hash: std::str::from_utf8(hash).ok()?,
        event: std::str::from_utf8(event).ok()?,
    })
}

/// Splits off the last 64 bytes (a hash's hex digits). They are not validated here: the
/// stored hash must equal the lowercase hex of the computed one, and `prev_hash` is covered
/// by that hash and compared with the previous record's.
fn split_hex_suffix(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.len().checked_sub(64)?;
    Some(bytes.split_at(at))
}

/// The `time` of an event in canonical form.
pub(crate) fn event_time(event: &str) -> String {
    #[derive(Deserialize)]
    struct T {
        time: String,
    }
    serde_json::from_str::<T>(event)
        .map(|t| t.time)
        .unwrap_or_default()
}

/// The exact bytes a checkpoint signs:
/// `CHECKPOINT_DOMAIN || seq (u64 big-endian) || hash (32 raw bytes) || time (UTF-8)`.
pub fn checkpoint_message(seq: u64, hash: &[u8; 32], time: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 8 + 32 + time.len());
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(time.as_bytes());
    m
}

/// Decodes a 64-hex-digit hash.
pub fn decode_hash(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

/// Signs a checkpoint over (`seq`, `hash`) at `time` and returns its on-disk line.
pub fn build_checkpoint(
    key: &ed25519_dalek::SigningKey,
    node: &str,
    seq: u64,
    hash: &str,
    time: &str,
) -> Result<(Checkpoint, String), serde_json::Error> {
    build_checkpoint_with_tree(key, node, seq, hash, time, None)
}

/// [`build_checkpoint`], with the signed Merkle note of `tree` (whose size must be `seq`).
pub fn build_checkpoint_with_tree(
    key: &ed25519_dalek::SigningKey,
    node: &str,
    seq: u64,
    hash: &str,
    time: &str,
    tree: Option<&crate::merkle::CompactTree>,
) -> Result<(Checkpoint, String), serde_json::Error> {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let raw = decode_hash(hash).unwrap_or([0u8; 32]);
    let sig = key.sign(&checkpoint_message(seq, &raw, time));
    let cp = Checkpoint {
        seq,
        hash: hash.to_owned(),
        time: time.to_owned(),
        node: node.to_owned(),
        public_key_hex: hex::encode(key.verifying_key().as_bytes()),
        signature_b64: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
        tlog: tree.map(|t| Tlog {
            note: crate::merkle::sign_note(key, &crate::merkle::origin(node), t.size(), &t.root()),
            peaks: t.peaks().iter().map(hex::encode).collect(),
        }),
    };
    let line = canonical_json(&serde_json::to_value(CheckpointLine {
        checkpoint: cp.clone(),
    })?);
    Ok((cp, line))
}

/// Verifies a checkpoint's signature against the key embedded in it.
/// Returns the embedded key on success.
pub fn verify_checkpoint_signature(cp: &Checkpoint) -> Option<ed25519_dalek::VerifyingKey> {
    use base64::Engine as _;
    let mut pk = [0u8; 32];
    hex::decode_to_slice(&cp.public_key_hex, &mut pk).ok()?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).ok()?;
    let sig_bytes = base64::engine::general_purpose::STANDARD
        .decode(&cp.signature_b64)
        .ok()?;
    let sig = ed25519_dalek::Signature::from_slice(&sig_bytes).ok()?;
    let raw = decode_hash(&cp.hash)?;
    vk.verify_strict(&checkpoint_message(cp.seq, &raw, &cp.time), &sig)
        .ok()?;
    Some(vk)
}

/// A parsed, canonical line of a segment.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, one per line parsed
pub(crate) enum Line {
    Record { record: Record, hash_ok: bool },
    Checkpoint(Checkpoint),
}

/// Why a line could not be accepted.
#[derive(Debug)]
pub(crate) enum LineError {
    /// Not JSON / not an object / wrong shape.
    Unparseable,
    /// Parsed, but the bytes are not the canonical encoding (seq if known).
    NonCanonical(Option<u64>),
}

/// Parses one line (without newline), checking it is canonical and recomputing its hash.
pub(crate) fn parse_line(line: &[u8]) -> Result<Line, LineError> {
    let v: Value = serde_json::from_slice(line).map_err(|_| LineError::Unparseable)?;
    let Value::Object(mut m) = v else {
        return Err(LineError::Unparseable);
    };
    let seq_hint = m.get("seq").and_then(Value::as_u64).or_else(|| {
        m.get("checkpoint")
            .and_then(|c| c.get("seq"))
            .and_then(Value::as_u64)
    });
    // Canonical check on the whole line.
    {
        let mut s = String::with_capacity(line.len());
        canonical_object_into(&m, &mut s);
        if s.as_bytes() != line {
            return Err(LineError::NonCanonical(seq_hint));
        }
    }
    if m.len() == 1 && m.contains_key("checkpoint") {
        let cl: CheckpointLine =
            serde_json::from_value(Value::Object(m)).map_err(|_| LineError::Unparseable)?;
        return Ok(Line::Checkpoint(cl.checkpoint));
    }
    let Some(Value::String(stored)) = m.remove("hash") else {
        return Err(LineError::Unparseable);
    };
    let body = Value::Object(m);
    let computed = hash_body(&body);
    let Value::Object(mut m) = body else {
        return Err(LineError::Unparseable);
    };
    m.insert("hash".into(), Value::String(stored.clone()));
    let record: Record =
        serde_json::from_value(Value::Object(m)).map_err(|_| LineError::Unparseable)?;
    Ok(Line::Record {
        hash_ok: computed == stored,
        record,
    })
}

/// Checks one record line (without its newline) on its own: canonical encoding and hash.
/// Returns the record. Chain links and seq order need the neighbours; see [`crate::verify`].
pub fn verify_record_line(line: &[u8]) -> Result<Record, String> {
    match parse_line(line) {
        Ok(Line::Record {
            record,
            hash_ok: true,
        }) => Ok(record),
        Ok(Line::Record { record, .. }) => Err(format!("seq {}: bad hash", record.seq)),
        Ok(Line::Checkpoint(_)) => Err("a checkpoint, not a record".into()),
        Err(LineError::NonCanonical(_)) => Err("not canonical".into()),
        Err(LineError::Unparseable) => Err("unparseable".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_rules() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":[true,null,"x\u001f\"\\/\n\u00e9"],"A":{"z":-2,"y":1.5}}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&v),
            "{\"A\":{\"y\":1.5,\"z\":-2},\"a\":[true,null,\"x\\u001f\\\"\\\\/\\n\u{e9}\"],\"b\":1}"
        );
        // Matches serde_json's own string escaping.
        let s = "a\u{1}\u{8}\u{c}\t\r\n\"\\\u{7f}\u{2028}é";
        let mut out = String::new();
        push_json_string(s, &mut out);
        assert_eq!(out, serde_json::to_string(s).unwrap());
    }

    #[test]
    fn fast_path_builds_and_accepts_exactly_what_the_slow_path_does() {
        let mut detail = Map::new();
        detail.insert("z".into(), Value::from("\u{1}é\"quoted\""));
        detail.insert("a".into(), Value::from(1.5));
        let e = Event {
            time: "2026-01-01T00:00:00.000Z".into(),
            action: "invoke_model".into(),
            decision: "allow".into(),
            principal: Some("ana".into()),
            reasons: vec!["models-use".into()],
            detail,
            ..Event::default()
        };
        let prev = GENESIS_HASH;
        let body = record_body(9, "node \"1\"", prev, &e).unwrap();
        let mut full = body.clone();
        let hash = hash_body(&body);
        if let Value::Object(m) = &mut full {
            m.insert("hash".into(), Value::String(hash.clone()));
        }
        let (h2, line) = build_record(9, "node \"1\"", prev, &e).unwrap();
        assert_eq!(
            (h2.as_str(), line.as_str()),
            (hash.as_str(), canonical_json(&full).as_str())
        );
        assert!(matches!(
            parse_line(line.as_bytes()),
            Ok(Line::Record { hash_ok: true, .. })
        ));
        // The node has escapes, so the borrowed fast parse declines; plain nodes pass.
        assert!(parse_record_fast(line.as_bytes()).is_none());
        let (_, line) = build_record(9, "node-1", prev, &e).unwrap();
        let fast = parse_record_fast(line.as_bytes()).unwrap();
        assert_eq!(fast.seq, 9);
        assert_eq!(event_time(fast.event), e.time);
        // Any changed byte is refused by the fast path.
        for i in 0..line.len() {
            let mut bytes = line.clone().into_bytes();
            bytes[i] ^= 0x01;
            assert!(parse_record_fast(&bytes).is_none(), "byte {i}");
        }
    }

    #[test]
    fn record_line_roundtrip() {
        let e = Event {
            time: "2026-01-01T00:00:00.000Z".into(),
            action: "x".into(),
            decision: "allow".into(),
            ..Event::default()
        };
        let (h, line) = build_record(1, "n", GENESIS_HASH, &e).unwrap();
        let r = verify_record_line(line.as_bytes()).unwrap();
        assert_eq!(r.hash, h);
        assert_eq!(r.event, e);
        assert_eq!(compute_hash(1, "n", GENESIS_HASH, &e).unwrap(), h);
        let bad = line.replace("\"x\"", "\"y\"");
        assert!(verify_record_line(bad.as_bytes()).is_err());
    }
}
