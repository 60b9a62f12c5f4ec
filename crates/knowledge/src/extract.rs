//! Text out of a document's bytes: plain text, Markdown, HTML, CSV and DOCX, in pure Rust.
//! Paragraphs come out separated by a blank line, which is what [`crate::portions`] splits on
//! (a portion mark starts a paragraph).

use std::io::Read;

/// Why a document yields no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("content type {0:?} is not supported (text/plain, text/markdown, text/html, text/csv, application/vnd.openxmlformats-officedocument.wordprocessingml.document)")]
    Unsupported(String),
    #[error("the document is not valid UTF-8 text")]
    NotUtf8,
    #[error("the document cannot be read: {0}")]
    Malformed(String),
    #[error("the document contains no text")]
    Empty,
}

/// The MIME type of DOCX.
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The content types [`extract`] reads.
pub const SUPPORTED: &[&str] = &[
    "text/plain",
    "text/markdown",
    "text/x-markdown",
    "text/html",
    "application/xhtml+xml",
    "text/csv",
    DOCX,
];

/// Largest DOCX part inflated (a zip bomb stops here).
const MAX_INFLATED: u64 = 64 << 20;

/// The text of `bytes` of content type `mime` (parameters such as `; charset=utf-8` ignored).
pub fn extract(bytes: &[u8], mime: &str) -> Result<String, ExtractError> {
    let base = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let text = match base.as_str() {
        "text/plain" | "text/csv" => utf8(bytes)?.replace("\r\n", "\n"),
        "text/markdown" | "text/x-markdown" => markdown(&utf8(bytes)?),
        "text/html" | "application/xhtml+xml" => html(&utf8(bytes)?),
        DOCX => docx(bytes)?,
        _ => return Err(ExtractError::Unsupported(base)),
    };
    if text.trim().is_empty() {
        return Err(ExtractError::Empty);
    }
    Ok(text)
}

/// A file name's content type, by extension (`None` when scif does not read it).
pub fn mime_of_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" | "text" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "xhtml" => "application/xhtml+xml",
        "csv" => "text/csv",
        "docx" => DOCX,
        _ => return None,
    })
}

fn utf8(bytes: &[u8]) -> Result<String, ExtractError> {
    let s = std::str::from_utf8(bytes).map_err(|_| ExtractError::NotUtf8)?;
    Ok(s.strip_prefix('\u{feff}').unwrap_or(s).to_owned())
}

/// Markdown as the text a reader sees: headings, emphasis, code fences and link targets
/// dropped, the words kept. Markings written in Markdown (`**SECRET//NOFORN**`) stay
/// recognizable, since the marking grammar looks through punctuation.
fn markdown(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    for line in md.replace("\r\n", "\n").lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            continue;
        }
        let t = t.trim_start_matches('#').trim_start();
        let t = t
            .strip_prefix("> ")
            .or_else(|| t.strip_prefix("- "))
            .or_else(|| t.strip_prefix("* "))
            .or_else(|| t.strip_prefix("+ "))
            .unwrap_or(t);
        out.push_str(&links(t).replace("**", "").replace("__", ""));
        out.push('\n');
    }
    out
}

/// `[text](target)` as `text`.
fn links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// HTML as text: elements that hold no reader-visible text (`script`, `style`, `head`,
/// `template`, `noscript`) dropped with their content, block elements ending paragraphs,
/// entities decoded. A tolerant scanner rather than a parser: malformed markup still yields
/// its text.
fn html(src: &str) -> String {
    const HIDDEN: &[&str] = &["script", "style", "head", "template", "noscript", "svg"];
    const BLOCK: &[&str] = &[
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "hr",
        "title",
        "dt",
        "dd",
    ];
    let mut out = String::with_capacity(src.len() / 2);
    let mut i = 0;
    let b = src.as_bytes();
    while i < b.len() {
        if b[i] == b'<' {
            if src[i..].starts_with("<!--") {
                i = src[i..].find("-->").map_or(b.len(), |e| i + e + 3);
                continue;
            }
            let end = src[i..].find('>').map_or(b.len(), |e| i + e + 1);
            let tag = &src[i + 1..end.saturating_sub(1).max(i + 1)];
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if !closing && HIDDEN.contains(&name.as_str()) && !tag.ends_with('/') {
                let close = format!("</{name}");
                let lower = src[end..].to_ascii_lowercase();
                i = lower.find(&close).map_or(b.len(), |e| {
                    let after = end + e;
                    src[after..].find('>').map_or(b.len(), |g| after + g + 1)
                });
                continue;
            }
            if BLOCK.contains(&name.as_str()) {
                out.push_str("\n\n");
            } else {
                out.push(' ');
            }
            i = end;
            continue;
        }
        let next = src[i..].find('<').map_or(b.len(), |e| i + e);
        out.push_str(&entities(&src[i..next]));
        i = next;
    }
    tidy(&out)
}

/// Collapses runs of spaces in each line and of blank lines.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&words.join(" "));
    }
    out
}

fn entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(a) = rest.find('&') {
        out.push_str(&rest[..a]);
        let tail = &rest[a..];
        let Some(semi) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let name = &tail[1..semi];
        let ch = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// DOCX: the text runs of `word/document.xml`, one paragraph per `w:p`.
fn docx(bytes: &[u8]) -> Result<String, ExtractError> {
    let bad = |e: &dyn std::fmt::Display| ExtractError::Malformed(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
    let part = archive
        .by_name("word/document.xml")
        .map_err(|_| ExtractError::Malformed("no word/document.xml".into()))?;
    let mut xml = String::new();
    part.take(MAX_INFLATED)
        .read_to_string(&mut xml)
        .map_err(|e| bad(&e))?;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut out = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            quick_xml::events::Event::Start(e) => match e.local_name().as_ref() {
                b"t" => in_text = true,
                b"tab" => out.push('\t'),
                _ => {}
            },
            quick_xml::events::Event::Empty(e) => match e.local_name().as_ref() {
                b"tab" => out.push('\t'),
                b"br" | b"cr" => out.push('\n'),
                _ => {}
            },
            quick_xml::events::Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => out.push_str("\n\n"),
                _ => {}
            },
            quick_xml::events::Event::Text(t) if in_text => {
                out.push_str(&t.unescape().map_err(|e| bad(&e))?);
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    Ok(tidy(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_drops_scripts_and_keeps_paragraphs() {
        let t = extract(
            b"<html><head><title>x</title><style>p{}</style></head><body><p>One &amp; two</p><script>alert(1)</script><p>Three&#x21;</p></body></html>",
            "text/html; charset=utf-8",
        )
        .unwrap_or_default();
        assert_eq!(t, "One & two\n\nThree!");
    }

    #[test]
    fn markdown_keeps_words() {
        let t = extract(
            b"# Title\n\n**SECRET//NOFORN**\n\nSee [the doc](http://x).\n",
            "text/markdown",
        )
        .unwrap_or_default();
        assert!(t.contains("Title\n\nSECRET//NOFORN\n\nSee the doc."), "{t}");
    }

    #[test]
    fn unsupported_and_empty_are_errors() {
        assert!(matches!(
            extract(b"x", "image/png"),
            Err(ExtractError::Unsupported(_))
        ));
        assert_eq!(extract(b"  \n", "text/plain"), Err(ExtractError::Empty));
        assert_eq!(
            extract(&[0xff, 0xfe], "text/plain"),
            Err(ExtractError::NotUtf8)
        );
        assert!(matches!(
            extract(b"not a zip", DOCX),
            Err(ExtractError::Malformed(_))
        ));
    }

    #[test]
    fn docx_paragraphs() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            let _ = z.start_file("word/document.xml", opts);
            let _ = std::io::Write::write_all(&mut z, br#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>(U) First</w:t></w:r><w:r><w:t xml:space="preserve"> part.</w:t></w:r></w:p><w:p><w:r><w:t>(S) Second &amp; last.</w:t></w:r></w:p></w:body></w:document>"#);
            let _ = z.finish();
        }
        let t = extract(buf.get_ref(), DOCX).unwrap_or_default();
        assert_eq!(t, "(U) First part.\n\n(S) Second & last.");
    }
}
