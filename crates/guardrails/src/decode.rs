//! Decoding base64 and hex runs, for the detectors that look one level inside encoded text
//! (prompt attacks for instructions, the sensitive-information scanner for identifiers).

/// Base64 (standard and URL-safe) decoding table; 0xff = not in the alphabet.
pub(crate) const B64: [u8; 256] = {
    let mut tbl = [0xffu8; 256];
    let mut i = 0;
    while i < 26 {
        tbl[b'A' as usize + i] = i as u8;
        tbl[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        tbl[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    tbl[b'+' as usize] = 62;
    tbl[b'-' as usize] = 62;
    tbl[b'/' as usize] = 63;
    tbl[b'_' as usize] = 63;
    tbl
};

fn hexval(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes base64 (standard or URL-safe, padding optional) into `out`; returns the length.
pub(crate) fn b64_decode(inp: &[u8], out: &mut [u8]) -> usize {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut n = 0usize;
    for &c in inp {
        let v = B64[c as usize];
        if v == 0xff {
            break;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if n < out.len() {
                out[n] = (acc >> bits) as u8;
                n += 1;
            }
        }
    }
    n
}

pub(crate) fn hex_decode(inp: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    for pair in inp.chunks_exact(2) {
        if let (Some(h), Some(l)) = (hexval(pair[0]), hexval(pair[1])) {
            if n < out.len() {
                out[n] = h << 4 | l;
                n += 1;
            }
        } else {
            break;
        }
    }
    n
}

/// The shortest base64 run looked inside for identifiers (`NTM2MjI4NzQx` is nine digits).
pub(crate) const MIN_TEXT_B64: usize = 12;
/// The shortest hex run looked inside (eight bytes).
const MIN_TEXT_HEX: usize = 16;
/// The most of one run decoded.
const MAX_BLOB: usize = 4096;

/// Runs of base64 (standard or URL-safe) or hex in `text[from..to]` that decode to printable
/// text: each run's span and what it decodes to, appended to `out`. Used one level deep: what is
/// decoded is not decoded again. The scanner calls it on its tokens long enough to hold a run.
pub(crate) fn blobs_between(
    text: &str,
    from: usize,
    to: usize,
    out: &mut Vec<(usize, usize, String)>,
) {
    let t = &text.as_bytes()[..to];
    let is_b64 = |b: u8| B64[b as usize] != 0xff;
    // A run of at least MIN_TEXT_B64 alphabet bytes covers a position that is a multiple of
    // MIN_TEXT_B64, so only those are probed; a probe in the alphabet expands to its run.
    let mut probe = from + MIN_TEXT_B64 - 1;
    while probe < t.len() {
        if !is_b64(t[probe]) {
            probe += MIN_TEXT_B64;
            continue;
        }
        let mut s = probe;
        while s > from && is_b64(t[s - 1]) {
            s -= 1;
        }
        let mut i = probe + 1;
        while i < t.len() && is_b64(t[i]) {
            i += 1;
        }
        probe = i + MIN_TEXT_B64;
        let mut e = i;
        while i < t.len() && t[i] == b'=' && i - e < 2 {
            i += 1;
        }
        let run = &t[s..e];
        // Part of a longer word (a path, an e-mail address, a URL): not a blob.
        let glued = |c: Option<&u8>| c.is_some_and(|c| matches!(c, b'.' | b'@' | b'\\'));
        if run.len() < MIN_TEXT_B64 || (s > 0 && glued(t.get(s - 1))) || glued(t.get(i)) {
            continue;
        }
        let all_hex = run.iter().all(u8::is_ascii_hexdigit);
        if !(run.iter().any(u8::is_ascii_digit) || run.iter().any(u8::is_ascii_uppercase)) {
            // Lowercase letters only: a long word.
            continue;
        }
        // Most runs are short: decode on the stack, on the heap only for long ones.
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let buf: &mut [u8] = if run.len() <= stack.len() {
            &mut stack[..run.len()]
        } else {
            heap.resize(MAX_BLOB.min(run.len()), 0);
            &mut heap
        };
        let n = if all_hex && run.len() >= MIN_TEXT_HEX && run.len().is_multiple_of(2) {
            hex_decode(&run[..run.len().min(2 * MAX_BLOB)], buf)
        } else if run.iter().any(u8::is_ascii_uppercase)
            && run
                .iter()
                .any(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            b64_decode(&run[..run.len().min(MAX_BLOB * 4 / 3)], buf)
        } else {
            0
        };
        e = i;
        if let Some(decoded) = printable(&buf[..n]) {
            out.push((s, e, decoded.to_owned()));
        }
    }
}

/// Decoded bytes that read as text (valid UTF-8, no control characters but line breaks and
/// tabs).
fn printable(d: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(d).ok()?;
    if s.len() < 6 {
        return None;
    }
    let ok = s
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'));
    ok.then_some(s)
}
