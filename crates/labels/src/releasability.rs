//! Releasability: NOFORN, REL TO lists, or no foreign-release marking at all.

use std::collections::BTreeSet;

use crate::MarkingError;

/// One entry of a REL TO list other than USA. Countries (ISO 3166 trigraphs) sort before groups
/// (tetragraphs such as FVEY, NATO); each kind sorts alphabetically, which is the canonical
/// print order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelToEntry {
    /// A country trigraph: `GBR`.
    Country(String),
    /// A group tetragraph: `FVEY`. Opaque: the crate does not expand it to member countries.
    Group(String),
}

impl RelToEntry {
    /// Classifies `code`: three uppercase letters are a country, four a group.
    pub fn new(code: &str) -> Result<RelToEntry, MarkingError> {
        let letters = code.bytes().all(|b| b.is_ascii_uppercase());
        match code.len() {
            3 if letters => Ok(RelToEntry::Country(code.to_owned())),
            4 if letters => Ok(RelToEntry::Group(code.to_owned())),
            _ => Err(MarkingError::MalformedRelToEntry {
                found: code.to_owned(),
            }),
        }
    }

    /// The code as written.
    pub fn code(&self) -> &str {
        match self {
            RelToEntry::Country(c) | RelToEntry::Group(c) => c,
        }
    }
}

/// A REL TO list: USA (always, implicitly) plus at least one other entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelTo {
    entries: BTreeSet<RelToEntry>,
}

impl RelTo {
    /// Builds a list from codes in any order. `USA` may be given or not (it is always part of a
    /// REL TO list); repeats are merged. A list with nothing but USA is an error: that is NOFORN.
    pub fn new<'a>(codes: impl IntoIterator<Item = &'a str>) -> Result<RelTo, MarkingError> {
        let mut entries = BTreeSet::new();
        for code in codes {
            if code != "USA" {
                entries.insert(RelToEntry::new(code)?);
            }
        }
        RelTo::from_entries(entries).ok_or(MarkingError::RelToOnlyUsa)
    }

    pub(crate) fn from_entries(entries: BTreeSet<RelToEntry>) -> Option<RelTo> {
        (!entries.is_empty()).then_some(RelTo { entries })
    }

    /// The entries besides USA, in canonical order.
    pub fn entries(&self) -> impl Iterator<Item = &RelToEntry> {
        self.entries.iter()
    }

    /// True when `code` (a trigraph or tetragraph) is listed. USA always is.
    pub fn lists(&self, code: &str) -> bool {
        code == "USA" || self.entries.iter().any(|e| e.code() == code)
    }

    /// `REL TO USA, AUS, GBR, FVEY`.
    pub(crate) fn to_marking(&self) -> String {
        let mut out = String::from("REL TO USA");
        for e in &self.entries {
            out.push_str(", ");
            out.push_str(e.code());
        }
        out
    }
}

/// Who beyond US persons may receive the information.
///
/// Ordered by restriction: `Unrestricted` (no NOFORN or REL TO marking: released per the
/// ordinary rules) is the least restrictive, then REL TO lists (a list that is a subset of
/// another is more restrictive), and `NoForn` is the most restrictive. REL TO USA alone is the
/// same as NOFORN and is always written NOFORN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Releasability {
    #[default]
    Unrestricted,
    RelTo(RelTo),
    NoForn,
}

impl Releasability {
    /// `self` is at least as restrictive as `other`.
    pub(crate) fn dominates(&self, other: &Releasability) -> bool {
        match (self, other) {
            (Releasability::NoForn, _) | (_, Releasability::Unrestricted) => true,
            (Releasability::RelTo(a), Releasability::RelTo(b)) => a.entries.is_subset(&b.entries),
            _ => false,
        }
    }

    /// The most permissive releasability at least as restrictive as both: NOFORN wins, REL TO
    /// lists intersect (an empty intersection is NOFORN).
    pub(crate) fn join(&self, other: &Releasability) -> Releasability {
        match (self, other) {
            (Releasability::NoForn, _) | (_, Releasability::NoForn) => Releasability::NoForn,
            (Releasability::Unrestricted, x) | (x, Releasability::Unrestricted) => x.clone(),
            (Releasability::RelTo(a), Releasability::RelTo(b)) => {
                let common = a.entries.intersection(&b.entries).cloned().collect();
                RelTo::from_entries(common).map_or(Releasability::NoForn, Releasability::RelTo)
            }
        }
    }

    /// The most restrictive releasability no more restrictive than either: REL TO lists unite.
    pub(crate) fn meet(&self, other: &Releasability) -> Releasability {
        match (self, other) {
            (Releasability::Unrestricted, _) | (_, Releasability::Unrestricted) => {
                Releasability::Unrestricted
            }
            (Releasability::NoForn, x) | (x, Releasability::NoForn) => x.clone(),
            (Releasability::RelTo(a), Releasability::RelTo(b)) => Releasability::RelTo(RelTo {
                entries: a.entries.union(&b.entries).cloned().collect(),
            }),
        }
    }
}

/// Parses the value of a `REL TO` token (the text after `REL TO `): entries separated by `, `,
/// USA first, the rest in any order.
pub(crate) fn parse_list(list: &str) -> Result<RelTo, MarkingError> {
    let codes: Vec<&str> = list.split(", ").collect();
    let mut entries = BTreeSet::new();
    for code in &codes {
        if *code == "USA" {
            continue;
        }
        if !entries.insert(RelToEntry::new(code)?) {
            return Err(MarkingError::Duplicate {
                found: (*code).to_owned(),
            });
        }
    }
    match codes.iter().position(|c| *c == "USA") {
        Some(0) => {}
        _ => return Err(MarkingError::RelToMustStartWithUsa),
    }
    if codes.iter().filter(|c| **c == "USA").count() > 1 {
        return Err(MarkingError::Duplicate {
            found: "USA".to_owned(),
        });
    }
    RelTo::from_entries(entries).ok_or(MarkingError::RelToOnlyUsa)
}
