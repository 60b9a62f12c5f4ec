//! The label lattice: dominance, join (roll-up) and meet.
//!
//! The order is a product of independent parts, so each part can be checked on its own:
//!
//! | part | `a` dominates `b` when | join | meet |
//! |---|---|---|---|
//! | level | `a.level >= b.level` | max | min |
//! | FOUO | `b` is FOUO ⇒ `a` is FOUO, classified, or CUI | | |
//! | SCI | `a` holds every system of `b`, each with at least its compartments | union | intersection |
//! | ORCON, PROPIN | `b` carries it ⇒ `a` carries it (restrictions) | union | intersection |
//! | RELIDO | `a` carries it ⇒ `b` carries it or is UNCLASSIFIED (a permission) | both | either |
//! | releasability | NOFORN ⊒ REL TO *S* ⊒ REL TO *T* (*S* ⊆ *T*) ⊒ unrestricted | NOFORN wins, lists intersect | lists unite |
//! | CUI | `b` has CUI ⇒ `a` has CUI with every category of `b` (SP- ⊒ basic) and every limited dissemination control of `b` | union | intersection |
//!
//! FOUO is legacy: it sits just above plain UNCLASSIFIED and below everything classified or
//! CUI, and it never appears beside them (a roll-up of FOUO with SECRET is SECRET). RELIDO is
//! read the same way: UNCLASSIFIED information needs no disclosure official, so it counts as
//! carrying RELIDO. With those two readings every part is a lattice and their product is one.

use crate::{DissemControl, Label, Level};

/// True when `a` dominates `b`: `a` is at least as restrictive as `b` in every part (see the
/// module table). A subject cleared for `a` may read `b`, and `b` may flow into a sink
/// labelled `a`.
pub fn dominates(a: &Label, b: &Label) -> bool {
    a.level >= b.level
        && (fouo_or_above(a) || !fouo_or_above(b))
        && a.sci.dominates(&b.sci)
        && carries_if(a, b, DissemControl::Orcon)
        && carries_if(a, b, DissemControl::Propin)
        && (!relido(a) || relido(b))
        && a.releasability.dominates(&b.releasability)
        && match (&a.cui, &b.cui) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) => x.dominates(y),
        }
}

/// The least label that dominates both: the roll-up of two portions into a banner. Highest
/// level, union of SCI, restrictions and CUI; NOFORN wins; REL TO lists intersect (to NOFORN
/// when nothing is left); RELIDO only if both carry it.
pub fn join(a: &Label, b: &Label) -> Label {
    let level = a.level.max(b.level);
    let cui = match (&a.cui, &b.cui) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(x), Some(y)) => Some(x.join(y)),
    };
    let mut out = Label {
        level,
        sci: a.sci.join(&b.sci),
        controls: a.controls.union(&b.controls).copied().collect(),
        releasability: a.releasability.join(&b.releasability),
        cui,
    };
    settle(
        &mut out,
        fouo_or_above(a) || fouo_or_above(b),
        relido(a) && relido(b),
    );
    out
}

/// The greatest label that both dominate: what two labels have in common.
pub fn meet(a: &Label, b: &Label) -> Label {
    let level = a.level.min(b.level);
    let cui = match (&a.cui, &b.cui) {
        (Some(x), Some(y)) => Some(x.meet(y)),
        _ => None,
    };
    let mut out = Label {
        level,
        sci: a.sci.meet(&b.sci),
        controls: a.controls.intersection(&b.controls).copied().collect(),
        releasability: a.releasability.meet(&b.releasability),
        cui,
    };
    settle(
        &mut out,
        fouo_or_above(a) && fouo_or_above(b),
        relido(a) || relido(b),
    );
    out
}

/// The banner of a set of portions: the join of all of them (plain UNCLASSIFIED for none).
pub fn roll_up<'a>(portions: impl IntoIterator<Item = &'a Label>) -> Label {
    portions
        .into_iter()
        .fold(Label::unclassified(), |acc, p| join(&acc, p))
}

/// FOUO, or anything above it (classified or CUI).
pub(crate) fn fouo_or_above(l: &Label) -> bool {
    l.controls.contains(&DissemControl::Fouo) || l.level.is_classified() || l.cui.is_some()
}

/// RELIDO, or UNCLASSIFIED (which needs no disclosure official).
fn relido(l: &Label) -> bool {
    l.controls.contains(&DissemControl::Relido) || l.level == Level::Unclassified
}

fn carries_if(a: &Label, b: &Label, control: DissemControl) -> bool {
    !b.controls.contains(&control) || a.controls.contains(&control)
}

/// Writes the FOUO and RELIDO parts back in canonical form: each is stored only where the
/// label could not otherwise express it.
fn settle(out: &mut Label, fouo: bool, relido: bool) {
    let plain_unclassified = out.level == Level::Unclassified && out.cui.is_none();
    set(out, DissemControl::Fouo, fouo && plain_unclassified);
    set(
        out,
        DissemControl::Relido,
        relido && out.level.is_classified(),
    );
}

fn set(out: &mut Label, control: DissemControl, on: bool) {
    if on {
        out.controls.insert(control);
    } else {
        out.controls.remove(&control);
    }
}

impl Label {
    /// `dominates(self, other)`.
    pub fn dominates(&self, other: &Label) -> bool {
        dominates(self, other)
    }

    /// `join(self, other)`.
    pub fn join(&self, other: &Label) -> Label {
        join(self, other)
    }

    /// `meet(self, other)`.
    pub fn meet(&self, other: &Label) -> Label {
        meet(self, other)
    }
}
