//! The log writer: one event, one line, whatever a caller put in it.
//!
//! Values in log events include what callers control (principal ids from tokens, model names,
//! paths). The text formatter writes them as they are, so a value holding a newline could
//! write a forged line. Every event passes through [`Escaping`], which writes each control
//! character (C0, DEL, C1, the Unicode line and paragraph separators, and the bidirectional
//! overrides) as `\u{..}`, except
//! the newline that ends the event. Colour codes are off, so nothing legitimate is escaped.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Makes escaping writers over stderr.
#[derive(Clone, Copy, Default)]
pub struct EscapingStderr;

impl<'a> MakeWriter<'a> for EscapingStderr {
    type Writer = Escaping<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Escaping(io::stderr())
    }
}

/// Escapes every write (the formatter writes one whole event per write) into `W`.
pub struct Escaping<W>(pub W);

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(escape(buf).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `buf` with every control character escaped but a final newline.
pub fn escape(buf: &[u8]) -> String {
    let text = String::from_utf8_lossy(buf);
    let (body, end) = match text.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (&*text, ""),
    };
    let mut out = String::with_capacity(body.len() + 1);
    for c in body.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push_str(end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_stays_one_line() {
        let forged =
            "INFO authenticated principal=eve\n2026-12-03T00:00:00Z  INFO scif: admin logged in\n";
        let out = escape(forged.as_bytes());
        assert_eq!(out.matches('\n').count(), 1);
        assert!(out.ends_with("eve\\u{a}2026-12-03T00:00:00Z  INFO scif: admin logged in\n"));
        assert_eq!(escape(b"a\rb\x1b[31mc\x7f"), "a\\u{d}b\\u{1b}[31mc\\u{7f}");
        assert_eq!(escape("x\u{2028}y\u{85}".as_bytes()), "x\\u{2028}y\\u{85}");
        assert_eq!(
            escape(b"plain tab\tand text\n"),
            "plain tab\\u{9}and text\n"
        );
    }
}
