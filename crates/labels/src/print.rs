//! Canonical printing of banner lines and portion marks.
//!
//! Canonical means: categories in banner order (level, SCI, dissemination, CUI block), values
//! within a category in a fixed order, REL TO lists as `USA` then trigraphs then tetragraphs.
//! The parser accepts values within a category in any order; printing always normalizes.

use crate::cui::noforn_word;
use crate::{Cui, DissemControl, Form, Label, Ldc, Releasability};

/// The canonical marking of `label` in `form`.
///
/// - UNCLASSIFIED with CUI prints as the CUI banner: `CUI[//categories][//controls]`, with
///   NOFORN and REL TO among the limited dissemination controls.
/// - Otherwise: `LEVEL[//SCI][//dissemination][//CUI[//categories][//controls]]`. A classified
///   label that carries CUI puts NOFORN and REL TO in its own dissemination category and ends
///   with a `CUI` block (scif's own notation: the reference gives none for classified CUI).
pub(crate) fn print(label: &Label, form: Form) -> String {
    let mut segments: Vec<String> = Vec::new();
    match &label.cui {
        Some(cui) if !label.level.is_classified() => {
            segments.push("CUI".to_owned());
            push_cui(&mut segments, cui, &label.releasability, form);
        }
        cui => {
            segments.push(level_word(label, form).to_owned());
            push_nonempty(&mut segments, label.sci.tokens());
            push_nonempty(&mut segments, dissemination(label, form));
            if let Some(cui) = cui {
                segments.push("CUI".to_owned());
                push_cui(&mut segments, cui, &Releasability::Unrestricted, form);
            }
        }
    }
    let body = segments.join("//");
    match form {
        Form::Banner => body,
        Form::Portion => format!("({body})"),
    }
}

fn level_word(label: &Label, form: Form) -> &'static str {
    match form {
        Form::Banner => label.level.banner_word(),
        Form::Portion => label.level.portion_word(),
    }
}

/// Canonical order: FOUO, ORCON, NOFORN, PROPIN, REL TO, RELIDO.
fn dissemination(label: &Label, form: Form) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |c: DissemControl| {
        if label.has_control(c) {
            out.push(c.word(form).to_owned());
        }
    };
    push(DissemControl::Fouo);
    push(DissemControl::Orcon);
    if label.releasability == Releasability::NoForn {
        out.push(noforn_word(form).to_owned());
    }
    if label.has_control(DissemControl::Propin) {
        out.push(DissemControl::Propin.word(form).to_owned());
    }
    if let Releasability::RelTo(list) = &label.releasability {
        out.push(list.to_marking());
    }
    if label.has_control(DissemControl::Relido) {
        out.push(DissemControl::Relido.word(form).to_owned());
    }
    out
}

/// Categories, then limited dissemination controls in the order NOFORN, FED ONLY, FEDCON,
/// NOCON, DL ONLY, REL TO, DISPLAY ONLY.
fn push_cui(segments: &mut Vec<String>, cui: &Cui, releasability: &Releasability, form: Form) {
    push_nonempty(segments, cui.category_tokens());
    let mut ldcs = Vec::new();
    if *releasability == Releasability::NoForn {
        ldcs.push(noforn_word(form).to_owned());
    }
    for ldc in [Ldc::FedOnly, Ldc::FedCon, Ldc::NoCon, Ldc::DlOnly] {
        if cui.has_ldc(ldc) {
            ldcs.push(ldc.word().to_owned());
        }
    }
    if let Releasability::RelTo(list) = releasability {
        ldcs.push(list.to_marking());
    }
    if cui.has_ldc(Ldc::DisplayOnly) {
        ldcs.push(Ldc::DisplayOnly.word().to_owned());
    }
    push_nonempty(segments, ldcs);
}

fn push_nonempty(segments: &mut Vec<String>, values: Vec<String>) {
    if !values.is_empty() {
        segments.push(values.join("/"));
    }
}
