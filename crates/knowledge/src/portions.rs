//! A document's label, paragraph by paragraph.
//!
//! The label a document is ingested at is *declared* (by the caller, or the caller's
//! clearance when absent). Every marking found in the text is checked against it: a banner or
//! portion mark the declared label does not dominate is refused, since that is spillage into
//! the knowledge base. A paragraph that starts with a portion mark (`(U)`, `(S//NF)`) carries
//! the join of the markings in it, never lower than any of them; every other paragraph carries
//! the declared label, the conservative choice.

use scif_guardrails::markings::{self, Marking};
use scif_labels::{Form, Label};

/// One paragraph and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Portion {
    pub text: String,
    pub label: Label,
}

/// A marking in the document above its declared label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the document is marked {marking}, above the label it was declared at ({declared})")]
pub struct Spillage {
    /// The offending marking, canonical (never the text around it).
    pub marking: String,
    pub declared: String,
}

/// Splits `text` into labelled paragraphs; refuses a document marked above `declared`.
pub fn portions(text: &str, declared: &Label) -> Result<Vec<Portion>, Spillage> {
    let found = markings::find(text);
    if let Some(m) = found.iter().find(|m| !declared.dominates(&m.label)) {
        return Err(Spillage {
            marking: m.canonical(),
            declared: declared.banner(),
        });
    }
    let mut out = Vec::new();
    for (start, para) in paragraphs(text) {
        let end = start + para.len();
        let inside: Vec<&Marking> = found
            .iter()
            .filter(|m| m.start >= start && m.end <= end)
            .collect();
        let lead = para.len() - para.trim_start().len();
        let portion_marked = inside
            .first()
            .is_some_and(|m| m.form == Form::Portion && m.start <= start + lead + 1);
        let label = if portion_marked {
            inside
                .iter()
                .fold(Label::unclassified(), |acc, m| acc.join(&m.label))
        } else {
            declared.clone()
        };
        out.push(Portion {
            text: para.trim().to_owned(),
            label,
        });
    }
    Ok(out)
}

/// The non-empty paragraphs of `text` (separated by blank lines), with their byte offsets.
fn paragraphs(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    let mut blank_run = false;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if blank && !blank_run && pos > start {
            push(&mut out, text, start, pos);
        }
        if blank {
            start = pos + line.len();
        }
        blank_run = blank;
        pos += line.len();
    }
    if pos > start {
        push(&mut out, text, start, pos);
    }
    out
}

fn push<'a>(out: &mut Vec<(usize, &'a str)>, text: &'a str, start: usize, end: usize) {
    let p = &text[start..end];
    if !p.trim().is_empty() {
        out.push((start, p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(s: &str) -> Label {
        Label::parse_banner(s).unwrap_or_else(|_| Label::unclassified())
    }

    #[test]
    fn portion_marks_label_their_paragraphs() {
        let doc = "SECRET//NOFORN\n\n(U) The base has a gym.\n\n(S//NF) The base stores fuel.\n\nUnmarked words.\n\nSECRET//NOFORN\n";
        let p = portions(doc, &l("SECRET//NOFORN")).unwrap_or_default();
        let labels: Vec<String> = p.iter().map(|p| p.label.banner()).collect();
        assert_eq!(
            labels,
            [
                "SECRET//NOFORN",
                "UNCLASSIFIED",
                "SECRET//NOFORN",
                "SECRET//NOFORN",
                "SECRET//NOFORN"
            ]
        );
        assert_eq!(p[1].text, "(U) The base has a gym.");
    }

    #[test]
    fn a_marking_above_the_declared_label_is_refused() {
        let e = portions("(U) fine\n\n(S) not fine", &Label::unclassified());
        assert_eq!(
            e,
            Err(Spillage {
                marking: "(S)".into(),
                declared: "UNCLASSIFIED".into()
            })
        );
        assert!(portions("TOP SECRET//SI\n\nwords", &l("SECRET")).is_err());
    }

    #[test]
    fn a_portion_is_never_lower_than_a_marking_inside_it() {
        let p = portions(
            "(U) routine, but see SECRET//NOFORN annex",
            &l("SECRET//NOFORN"),
        )
        .unwrap_or_default();
        assert_eq!(p[0].label.banner(), "SECRET//NOFORN");
    }
}
