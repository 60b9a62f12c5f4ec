//! AWS event-stream (`application/vnd.amazon.eventstream`) framing.
//!
//! Frame layout (all integers big-endian, CRCs are CRC-32/IEEE):
//!
//! ```text
//! total_len:u32 | headers_len:u32 | prelude_crc:u32 | headers | payload | message_crc:u32
//! ```
//!
//! `prelude_crc` covers the first 8 bytes; `message_crc` covers everything before it.
//! Each header is `name_len:u8 | name | type:u8 | value`.

/// Bytes in the prelude (two lengths and the prelude CRC).
pub const PRELUDE_LEN: usize = 12;
/// Smallest valid frame: prelude plus message CRC.
pub const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// Largest payload accepted by AWS SDK decoders (botocore: 16 MiB).
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// Largest headers section accepted by AWS SDK decoders (botocore: 128 KiB).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// A typed header value. Wire type ids: bool true 0, bool false 1, byte 2, short 3,
/// int 4, long 5, bytes 6, string 7, timestamp 8 (ms since epoch), uuid 9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One event-stream message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first header with this name, if it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// Why a frame could not be decoded (or strictly encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The buffer holds only part of a frame; `needed` is the total frame length if the
    /// prelude was readable, else the prelude length.
    #[error("incomplete frame: need {needed} bytes")]
    Incomplete { needed: usize },
    #[error("prelude CRC mismatch")]
    PreludeCrc,
    #[error("message CRC mismatch")]
    MessageCrc,
    #[error("invalid frame length")]
    InvalidLength,
    #[error("frame too large")]
    TooLarge,
    #[error("invalid header: {0}")]
    InvalidHeader(&'static str),
}

/// Encode a message, rejecting anything not representable (header name empty or over
/// 255 bytes, bytes/string value over 65 535 bytes, headers over 128 KiB, payload over
/// 16 MiB).
pub fn try_encode(msg: &Message) -> Result<Vec<u8>, FrameError> {
    let mut headers = Vec::new();
    for (name, value) in &msg.headers {
        let name_len =
            u8::try_from(name.len()).map_err(|_| FrameError::InvalidHeader("name too long"))?;
        if name_len == 0 {
            return Err(FrameError::InvalidHeader("empty name"));
        }
        headers.push(name_len);
        headers.extend_from_slice(name.as_bytes());
        match value {
            HeaderValue::Bool(true) => headers.push(0),
            HeaderValue::Bool(false) => headers.push(1),
            HeaderValue::Byte(v) => {
                headers.push(2);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                headers.push(3);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                headers.push(4);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                headers.push(5);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                headers.push(6);
                push_len16(&mut headers, v)?;
            }
            HeaderValue::String(v) => {
                headers.push(7);
                push_len16(&mut headers, v.as_bytes())?;
            }
            HeaderValue::Timestamp(v) => {
                headers.push(8);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                headers.push(9);
                headers.extend_from_slice(v);
            }
        }
    }
    if headers.len() > MAX_HEADERS_LEN || msg.payload.len() > MAX_PAYLOAD_LEN {
        return Err(FrameError::TooLarge);
    }
    // Both bounded above, so these fit in u32.
    let total = MIN_FRAME_LEN + headers.len() + msg.payload.len();
    let total_u32 = u32::try_from(total).map_err(|_| FrameError::TooLarge)?;
    let headers_u32 = u32::try_from(headers.len()).map_err(|_| FrameError::TooLarge)?;

    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&total_u32.to_be_bytes());
    out.extend_from_slice(&headers_u32.to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(&msg.payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    Ok(out)
}

fn push_len16(out: &mut Vec<u8>, v: &[u8]) -> Result<(), FrameError> {
    let len = u16::try_from(v.len()).map_err(|_| FrameError::InvalidHeader("value too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(v);
    Ok(())
}

/// Encode a message. Infallible version of [`try_encode`] for server-built messages:
/// an unrepresentable message (see [`try_encode`]) is replaced by an
/// `:message-type=exception` frame of type `InternalServerException`, so the client
/// sees an error rather than a corrupt stream.
pub fn encode(msg: &Message) -> Vec<u8> {
    match try_encode(msg) {
        Ok(v) => v,
        Err(_) => exception(
            "InternalServerException",
            "The server produced an event that could not be encoded.",
        ),
    }
}

fn string_header(name: &str, value: &str) -> (String, HeaderValue) {
    (name.to_owned(), HeaderValue::String(value.to_owned()))
}

/// An `:message-type=event` frame with a JSON payload. Headers, in order:
/// `:event-type`, `:content-type=application/json`, `:message-type=event`.
pub fn event(event_type: &str, json_payload: &[u8]) -> Vec<u8> {
    encode(&Message {
        headers: vec![
            string_header(":event-type", event_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "event"),
        ],
        payload: json_payload.to_vec(),
    })
}

/// An `:message-type=exception` frame with payload `{"message":"..."}`. Headers, in
/// order: `:exception-type`, `:content-type=application/json`, `:message-type=exception`.
/// An over-long message is truncated (at a character boundary) so the frame always fits.
pub fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    let mut message = message;
    if message.len() > 64 * 1024 {
        let mut cut = 64 * 1024;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message = &message[..cut];
    }
    let exception_type = if exception_type.is_empty() || exception_type.len() > 1024 {
        "InternalServerException"
    } else {
        exception_type
    };
    let mut payload = String::from("{\"message\":");
    json_string(&mut payload, message);
    payload.push('}');
    let msg = Message {
        headers: vec![
            string_header(":exception-type", exception_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "exception"),
        ],
        payload: payload.into_bytes(),
    };
    // Every part is bounded above, so strict encoding cannot fail.
    try_encode(&msg).unwrap_or_default()
}

/// Append `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decode the first frame in `buf`, returning it and the number of bytes it used.
/// Verifies both CRCs, the lengths and every header; never panics.
pub fn decode(buf: &[u8]) -> Result<(Message, usize), FrameError> {
    let prelude = buf.get(..PRELUDE_LEN).ok_or(FrameError::Incomplete {
        needed: PRELUDE_LEN,
    })?;
    let total = read_u32(prelude, 0)? as usize;
    let headers_len = read_u32(prelude, 4)? as usize;
    let prelude_crc = read_u32(prelude, 8)?;
    if crc32fast::hash(&prelude[..8]) != prelude_crc {
        return Err(FrameError::PreludeCrc);
    }
    if total < MIN_FRAME_LEN || headers_len > total - MIN_FRAME_LEN {
        return Err(FrameError::InvalidLength);
    }
    let payload_len = total - MIN_FRAME_LEN - headers_len;
    if headers_len > MAX_HEADERS_LEN || payload_len > MAX_PAYLOAD_LEN {
        return Err(FrameError::TooLarge);
    }
    let frame = buf
        .get(..total)
        .ok_or(FrameError::Incomplete { needed: total })?;
    let message_crc = read_u32(frame, total - 4)?;
    if crc32fast::hash(&frame[..total - 4]) != message_crc {
        return Err(FrameError::MessageCrc);
    }
    let header_bytes = &frame[PRELUDE_LEN..PRELUDE_LEN + headers_len];
    let headers = decode_headers(header_bytes)?;
    let payload = frame[PRELUDE_LEN + headers_len..total - 4].to_vec();
    Ok((Message { headers, payload }, total))
}

fn read_u32(b: &[u8], at: usize) -> Result<u32, FrameError> {
    let s: [u8; 4] = b
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .ok_or(FrameError::InvalidLength)?;
    Ok(u32::from_be_bytes(s))
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(FrameError::InvalidHeader("truncated"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(FrameError::InvalidHeader("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        self.take(N)?
            .try_into()
            .map_err(|_| FrameError::InvalidHeader("truncated"))
    }
}

fn decode_headers(buf: &[u8]) -> Result<Vec<(String, HeaderValue)>, FrameError> {
    let mut c = Cursor { buf, pos: 0 };
    let mut out = Vec::new();
    while c.pos < buf.len() {
        let [name_len] = c.array::<1>()?;
        let name = std::str::from_utf8(c.take(usize::from(name_len))?)
            .map_err(|_| FrameError::InvalidHeader("name is not UTF-8"))?
            .to_owned();
        let [ty] = c.array::<1>()?;
        let value = match ty {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(c.array()?)),
            3 => HeaderValue::Short(i16::from_be_bytes(c.array()?)),
            4 => HeaderValue::Int(i32::from_be_bytes(c.array()?)),
            5 => HeaderValue::Long(i64::from_be_bytes(c.array()?)),
            6 | 7 => {
                let len = u16::from_be_bytes(c.array()?);
                let v = c.take(usize::from(len))?;
                if ty == 6 {
                    HeaderValue::Bytes(v.to_vec())
                } else {
                    HeaderValue::String(
                        std::str::from_utf8(v)
                            .map_err(|_| FrameError::InvalidHeader("string is not UTF-8"))?
                            .to_owned(),
                    )
                }
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(c.array()?)),
            9 => HeaderValue::Uuid(c.array()?),
            _ => return Err(FrameError::InvalidHeader("unknown type")),
        };
        out.push((name, value));
    }
    Ok(out)
}
