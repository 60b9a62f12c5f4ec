//! Event-stream framing: round trips, corruption, and byte-exact frames checked by
//! botocore's decoder (see `fixtures/make_fixtures.py`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_sigv4::eventstream::{
    decode, encode, event, exception, try_encode, FrameError, HeaderValue, Message,
};
use serde_json::Value;

/// Minimal deterministic generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn string(&mut self, n: usize) -> String {
        const CHARS: &[char] = &[
            'a', 'Z', '0', ':', '-', ' ', '"', '\\', 'é', '€', '😀', '\n',
        ];
        (0..n)
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
            .collect()
    }
    fn value(&mut self) -> HeaderValue {
        match self.below(10) {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(self.next() as i8),
            3 => HeaderValue::Short(self.next() as i16),
            4 => HeaderValue::Int(self.next() as i32),
            5 => HeaderValue::Long(self.next() as i64 ^ (self.next() as i64) << 48),
            6 => {
                let n = self.below(40) as usize;
                HeaderValue::Bytes(self.bytes(n))
            }
            7 => {
                let n = self.below(40) as usize;
                HeaderValue::String(self.string(n))
            }
            8 => HeaderValue::Timestamp(self.next() as i64),
            _ => {
                let b = self.bytes(16);
                HeaderValue::Uuid(b.try_into().unwrap())
            }
        }
    }
    fn message(&mut self) -> Message {
        let n = self.below(6) as usize;
        let headers = (0..n)
            .map(|_| {
                let len = 1 + self.below(20) as usize;
                (self.string(len), self.value())
            })
            .collect();
        let plen = self.below(200) as usize;
        Message {
            headers,
            payload: self.bytes(plen),
        }
    }
}

#[test]
fn round_trip_random_messages() {
    let mut rng = Lcg(0x5eed);
    for _ in 0..2000 {
        let msg = rng.message();
        let bytes = encode(&msg);
        assert_eq!(try_encode(&msg).unwrap(), bytes);
        let (decoded, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(decoded, msg);
    }
}

#[test]
fn decode_reports_consumed_bytes_of_concatenated_frames() {
    let a = event("messageStart", br#"{"role":"assistant"}"#);
    let b = event("messageStop", br#"{"stopReason":"end_turn"}"#);
    let mut buf = a.clone();
    buf.extend_from_slice(&b);
    let (m1, n1) = decode(&buf).unwrap();
    assert_eq!(n1, a.len());
    assert_eq!(m1.header_str(":event-type"), Some("messageStart"));
    let (m2, n2) = decode(&buf[n1..]).unwrap();
    assert_eq!(n2, b.len());
    assert_eq!(m2.header_str(":event-type"), Some("messageStop"));
    // Partial input asks for more.
    for cut in 0..a.len() {
        assert!(matches!(
            decode(&a[..cut]),
            Err(FrameError::Incomplete { .. })
        ));
    }
}

#[test]
fn any_single_byte_corruption_is_rejected() {
    let mut rng = Lcg(42);
    for _ in 0..50 {
        let msg = rng.message();
        let bytes = encode(&msg);
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[i] ^= flip;
                assert!(decode(&bad).is_err(), "byte {i} flip {flip:#x} accepted");
            }
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Lcg(7);
    for _ in 0..20_000 {
        let n = rng.below(64) as usize;
        let mut junk = rng.bytes(n);
        if n >= 12 && rng.below(2) == 0 {
            // Make the prelude valid so the header parser sees junk.
            let total = (n as u32).to_be_bytes();
            let hlen = (rng.below(n as u64) as u32).to_be_bytes();
            junk[..4].copy_from_slice(&total);
            junk[4..8].copy_from_slice(&hlen);
            let crc = crc32fast::hash(&junk[..8]).to_be_bytes();
            junk[8..12].copy_from_slice(&crc);
            let mcrc = crc32fast::hash(&junk[..n - 4]).to_be_bytes();
            junk[n - 4..].copy_from_slice(&mcrc);
        }
        let _ = decode(&junk);
    }
}

#[test]
fn hand_built_frame_matches_event() {
    // Built byte by byte per the spec.
    let payload = br#"{"x":1}"#;
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", "chunk"),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut frame = Vec::new();
    frame.extend_from_slice(&(total as u32).to_be_bytes());
    frame.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let pcrc = crc32fast::hash(&frame);
    frame.extend_from_slice(&pcrc.to_be_bytes());
    frame.extend_from_slice(&headers);
    frame.extend_from_slice(payload);
    let mcrc = crc32fast::hash(&frame);
    frame.extend_from_slice(&mcrc.to_be_bytes());

    assert_eq!(event("chunk", payload), frame);
    let (m, used) = decode(&frame).unwrap();
    assert_eq!(used, frame.len());
    assert_eq!(m.payload, payload);
    assert_eq!(m.header_str(":message-type"), Some("event"));
}

#[test]
fn frames_match_botocore_checked_fixture() {
    let cases: Value =
        serde_json::from_str(include_str!("fixtures/eventstream_frames.json")).unwrap();
    for c in cases.as_array().unwrap() {
        let expected = hex::decode(c["frame_hex"].as_str().unwrap()).unwrap();
        let ty = c["type"].as_str().unwrap();
        let ours = match c["kind"].as_str().unwrap() {
            "event" => event(ty, c["payload"].as_str().unwrap().as_bytes()),
            "exception" => exception(ty, c["message"].as_str().unwrap()),
            k => panic!("unknown kind {k}"),
        };
        assert_eq!(hex::encode(&ours), hex::encode(&expected), "{ty}");
    }
}

#[test]
fn exception_payload_is_valid_json() {
    let msg = "quote \" backslash \\ ctrl \u{1} tab \t nl \n unicode é \u{2028}";
    let frame = exception("ThrottlingException", msg);
    let (m, _) = decode(&frame).unwrap();
    assert_eq!(m.header_str(":message-type"), Some("exception"));
    assert_eq!(m.header_str(":exception-type"), Some("ThrottlingException"));
    assert_eq!(m.header_str(":content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(v["message"], msg);
}

#[test]
fn unrepresentable_messages() {
    let long_name = Message {
        headers: vec![("n".repeat(256), HeaderValue::Bool(true))],
        payload: vec![],
    };
    assert!(try_encode(&long_name).is_err());
    let long_value = Message {
        headers: vec![("n".to_owned(), HeaderValue::Bytes(vec![0; 65_536]))],
        payload: vec![],
    };
    assert!(try_encode(&long_value).is_err());
    // encode() turns them into an exception frame instead of panicking.
    let (m, _) = decode(&encode(&long_value)).unwrap();
    assert_eq!(m.header_str(":message-type"), Some("exception"));
    // A huge exception message is truncated, not dropped.
    let (m, _) = decode(&exception("X", &"é".repeat(100_000))).unwrap();
    let v: Value = serde_json::from_slice(&m.payload).unwrap();
    assert!(v["message"].as_str().unwrap().len() <= 64 * 1024);
}
