//! Controlled Unclassified Information: categories and limited dissemination controls.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Form, MarkingError};

/// Whether a CUI category is basic (`PRVCY`) or specified (`SP-PRVCY`). Specified is the more
/// restrictive: it dominates basic for the same category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CategoryKind {
    Basic,
    Specified,
}

/// A CUI limited dissemination control other than NOFORN and REL TO (those two are
/// [`crate::Releasability`], shared with classified markings). Each is a restriction: a label
/// that dominates another carries all of its controls.
///
/// The derived order is the print order (NOFORN and REL TO are printed among them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ldc {
    FedOnly,
    FedCon,
    NoCon,
    DlOnly,
    /// `DISPLAY ONLY`, without a country list (the list is not modelled).
    DisplayOnly,
}

impl Ldc {
    /// Every control, in print order.
    pub const ALL: [Ldc; 5] = [
        Ldc::FedOnly,
        Ldc::FedCon,
        Ldc::NoCon,
        Ldc::DlOnly,
        Ldc::DisplayOnly,
    ];

    /// The marking text; the same in banners and portions.
    pub fn word(self) -> &'static str {
        match self {
            Ldc::FedOnly => "FED ONLY",
            Ldc::FedCon => "FEDCON",
            Ldc::NoCon => "NOCON",
            Ldc::DlOnly => "DL ONLY",
            Ldc::DisplayOnly => "DISPLAY ONLY",
        }
    }

    pub(crate) fn from_word(word: &str) -> Option<Ldc> {
        Ldc::ALL.into_iter().find(|l| l.word() == word)
    }
}

/// The CUI part of a label. Bare `CUI` has no categories and no controls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Cui {
    categories: BTreeMap<String, CategoryKind>,
    ldcs: BTreeSet<Ldc>,
}

/// Words a CUI category may not be, so that categories and controls never look alike.
const RESERVED: [&str; 9] = [
    "CUI", "FEDCON", "FOUO", "NF", "NOCON", "NOFORN", "OC", "ORCON", "RELIDO",
];

impl Cui {
    /// Bare CUI.
    pub fn new() -> Cui {
        Cui::default()
    }

    /// Adds a category by name (without `SP-`). Given twice, the more restrictive kind stays.
    pub fn with_category(mut self, name: &str, kind: CategoryKind) -> Result<Cui, MarkingError> {
        check_category(name, name)?;
        let held = self.categories.entry(name.to_owned()).or_insert(kind);
        *held = (*held).max(kind);
        Ok(self)
    }

    /// Adds a limited dissemination control.
    pub fn with_ldc(mut self, ldc: Ldc) -> Cui {
        self.ldcs.insert(ldc);
        self
    }

    /// Categories with their kinds, alphabetically by name.
    pub fn categories(&self) -> impl Iterator<Item = (&str, CategoryKind)> {
        self.categories.iter().map(|(n, k)| (n.as_str(), *k))
    }

    /// The limited dissemination controls.
    pub fn ldcs(&self) -> impl Iterator<Item = Ldc> + '_ {
        self.ldcs.iter().copied()
    }

    /// True when `ldc` is carried.
    pub fn has_ldc(&self, ldc: Ldc) -> bool {
        self.ldcs.contains(&ldc)
    }

    /// Canonical category tokens: specified (`SP-` prefixed) first, then basic, each
    /// alphabetically.
    pub(crate) fn category_tokens(&self) -> Vec<String> {
        let specified = self
            .categories
            .iter()
            .filter(|(_, k)| **k == CategoryKind::Specified)
            .map(|(n, _)| format!("SP-{n}"));
        let basic = self
            .categories
            .iter()
            .filter(|(_, k)| **k == CategoryKind::Basic)
            .map(|(n, _)| n.clone());
        specified.chain(basic).collect()
    }

    pub(crate) fn dominates(&self, other: &Cui) -> bool {
        self.ldcs.is_superset(&other.ldcs)
            && other
                .categories
                .iter()
                .all(|(n, k)| self.categories.get(n).is_some_and(|mine| mine >= k))
    }

    pub(crate) fn join(&self, other: &Cui) -> Cui {
        let mut categories = self.categories.clone();
        for (n, k) in &other.categories {
            let held = categories.entry(n.clone()).or_insert(*k);
            *held = (*held).max(*k);
        }
        Cui {
            categories,
            ldcs: self.ldcs.union(&other.ldcs).copied().collect(),
        }
    }

    pub(crate) fn meet(&self, other: &Cui) -> Cui {
        let categories = self
            .categories
            .iter()
            .filter_map(|(n, k)| Some((n.clone(), (*k).min(*other.categories.get(n)?))))
            .collect();
        Cui {
            categories,
            ldcs: self.ldcs.intersection(&other.ldcs).copied().collect(),
        }
    }

    /// Parses one category token (`SP-PRVCY` or `PRVCY`), rejecting repeats.
    pub(crate) fn parse_category(&mut self, token: &str) -> Result<(), MarkingError> {
        let (name, kind) = match token.strip_prefix("SP-") {
            Some(name) => (name, CategoryKind::Specified),
            None => (token, CategoryKind::Basic),
        };
        check_category(name, token)?;
        if self.categories.insert(name.to_owned(), kind).is_some() {
            return Err(MarkingError::Duplicate {
                found: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Adds a control parsed from a marking, rejecting repeats.
    pub(crate) fn insert_ldc(&mut self, ldc: Ldc) -> Result<(), MarkingError> {
        if self.ldcs.insert(ldc) {
            Ok(())
        } else {
            Err(MarkingError::Duplicate {
                found: ldc.word().to_owned(),
            })
        }
    }
}

/// The NOFORN word of a CUI limited dissemination category in `form`.
pub(crate) fn noforn_word(form: Form) -> &'static str {
    match form {
        Form::Banner => "NOFORN",
        Form::Portion => "NF",
    }
}

fn check_category(name: &str, token: &str) -> Result<(), MarkingError> {
    let bytes = name.as_bytes();
    let ok = (2..=12).contains(&bytes.len())
        && bytes[0].is_ascii_uppercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && !RESERVED.contains(&name);
    if ok {
        Ok(())
    } else {
        Err(MarkingError::MalformedCuiCategory {
            found: token.to_owned(),
        })
    }
}
