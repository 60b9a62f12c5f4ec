//! Classification markings in free text: banner lines (`SECRET//NOFORN` on a line of its own,
//! or after `Classification:`), markings written inline with a `//` (`TOP SECRET//SI//NOFORN`),
//! and portion marks at the start of a paragraph or sentence (`(S//NF) The ...`). Each is parsed
//! with the label parser, so only well-formed markings count; text marked above a ceiling is
//! spillage.

use scif_labels::{Form, Label};

/// A marking found in text.
#[derive(Debug, Clone, PartialEq)]
pub struct Marking {
    pub label: Label,
    pub form: Form,
    pub start: usize,
    pub end: usize,
}

impl Marking {
    /// The marking in canonical form (`SECRET//NOFORN`, `(S//NF)`): what is reported, never the
    /// text around it.
    pub fn canonical(&self) -> String {
        self.label.marking(self.form)
    }
}

/// Every well-formed marking in `text`, in order.
pub fn find(text: &str) -> Vec<Marking> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut line_start = 0;
    while line_start <= b.len() {
        let line_end = b[line_start..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(b.len(), |p| line_start + p);
        scan_line(text, line_start, line_end, &mut out);
        line_start = line_end + 1;
    }
    out
}

/// The markings in `text` that `ceiling` does not dominate.
pub fn above(text: &str, ceiling: &Label) -> Vec<Marking> {
    find(text)
        .into_iter()
        .filter(|m| !ceiling.dominates(&m.label))
        .collect()
}

fn scan_line(text: &str, start: usize, end: usize, out: &mut Vec<Marking>) {
    let b = text.as_bytes();
    let line = &text[start..end];
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return;
    }
    let lead = start + (line.len() - line.trim_start().len());
    // A whole line that is a banner, possibly after "Classification:".
    let (body, body_start) = match strip_label_prefix(trimmed) {
        Some(rest) => (rest, lead + (trimmed.len() - rest.len())),
        None => (trimmed, lead),
    };
    if body.len() <= 160 && looks_like_banner(body) {
        if let Ok(label) = Label::parse_banner(body) {
            out.push(Marking {
                label,
                form: Form::Banner,
                start: body_start,
                end: body_start + body.len(),
            });
            return;
        }
    }
    // Portion marks and inline `//` markings, token by token.
    let mut i = start;
    while i < end {
        while i < end && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let ts = i;
        while i < end && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        if ts == i {
            continue;
        }
        let tok = &text[ts..i];
        if tok.starts_with('(') {
            if let Some(close) = tok.find(')') {
                let mark = &tok[..=close];
                if portion_position(b, start, ts)
                    && portion_shape(mark)
                    && !copyright(text, ts + close + 1)
                {
                    if let Ok(label) = Label::parse_portion(mark) {
                        out.push(Marking {
                            label,
                            form: Form::Portion,
                            start: ts,
                            end: ts + mark.len(),
                        });
                    }
                }
            }
        } else if tok.contains("//") {
            // Inline banner: the token (and a preceding "TOP") without sentence punctuation.
            let core = tok.trim_end_matches(['.', ',', ';', ':', ')', '"', '\'']);
            let core = core.trim_start_matches(['"', '\'']);
            let cs = ts + (tok.len() - tok.trim_start_matches(['"', '\'']).len());
            let (mstart, marking) = if text[..cs].ends_with("TOP ") {
                (cs - 4, &text[cs - 4..cs + core.len()])
            } else {
                (cs, core)
            };
            if looks_like_banner(marking) {
                if let Ok(label) = Label::parse_banner(marking) {
                    out.push(Marking {
                        label,
                        form: Form::Banner,
                        start: mstart,
                        end: mstart + marking.len(),
                    });
                }
            }
        }
    }
}

fn strip_label_prefix(line: &str) -> Option<&str> {
    for p in [
        "CLASSIFICATION:",
        "Classification:",
        "CLASSIFIED BY:",
        "Classified by:",
    ] {
        if let Some(rest) = line.strip_prefix(p) {
            return Some(rest.trim_start());
        }
    }
    None
}

/// Uppercase letters, digits, `/`, `-`, `,` and spaces only, with a letter.
fn looks_like_banner(s: &str) -> bool {
    s.bytes().any(|c| c.is_ascii_uppercase())
        && s.bytes().all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, b'/' | b'-' | b',' | b' ')
        })
}

/// `(S)`, `(TS//SI//NF)`, `(U//FOUO)`, `(CUI)`: uppercase inside, at most 60 characters.
fn portion_shape(mark: &str) -> bool {
    let inner = &mark[1..mark.len() - 1];
    !inner.is_empty()
        && inner.len() <= 60
        && inner.bytes().all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, b'/' | b'-' | b',' | b' ')
        })
}

/// Portion marks begin a paragraph, a list item or a sentence.
fn portion_position(b: &[u8], line_start: usize, at: usize) -> bool {
    let before = &b[line_start..at];
    let prefix = before
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|p| &before[..=p]);
    match prefix {
        None => true,
        Some(p) => {
            let last = p[p.len() - 1];
            matches!(last, b'.' | b':' | b'-' | b'*' | b'>' | b'!' | b'?')
                || p.iter()
                    .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b')')
        }
    }
}

/// `(C) 2024 Acme` is a copyright notice, not CONFIDENTIAL.
fn copyright(text: &str, after: usize) -> bool {
    let rest = text[after..].trim_start();
    rest.len() >= 4 && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn canon(text: &str) -> Vec<String> {
        find(text).iter().map(Marking::canonical).collect()
    }

    #[test]
    fn banners_portions_and_inline() {
        assert_eq!(
            canon("SECRET//NOFORN\nbody\nSECRET//NOFORN"),
            ["SECRET//NOFORN", "SECRET//NOFORN"]
        );
        assert_eq!(
            canon("Classification: TOP SECRET//SI//NOFORN"),
            ["TOP SECRET//SI//NOFORN"]
        );
        assert_eq!(
            canon("(S//NF) The unit moved. (U) Weather was fine."),
            ["(S//NF)", "(U)"]
        );
        assert_eq!(
            canon("The file is TOP SECRET//NOFORN, they said."),
            ["TOP SECRET//NOFORN"]
        );
        assert_eq!(canon("CUI//SP-PRVCY"), ["CUI//SP-PRVCY"]);
    }

    #[test]
    fn ordinary_text_is_not_marked() {
        assert!(canon("It is no SECRET that item(s) (C) 2024 Acme ship soon.").is_empty());
        assert!(canon("see https://example.org//x and (S) in mid sentence").is_empty());
        assert!(canon("(C) 2024 Acme Corp").is_empty());
    }

    #[test]
    fn above_a_ceiling() {
        let ceiling = Label::parse_banner("SECRET").unwrap();
        let text = "(S) fine\n(TS) not fine\nCONFIDENTIAL";
        let found: Vec<String> = above(text, &ceiling)
            .iter()
            .map(Marking::canonical)
            .collect();
        assert_eq!(found, ["(TS)"]);
    }
}
