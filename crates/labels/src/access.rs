//! Read and flow checks for the authorization layer.

use std::collections::BTreeSet;
use std::fmt;

use crate::lattice::{dominates, fouo_or_above};
use crate::{DissemControl, Label, Releasability};

/// Who is asking: a clearance, a nationality, group memberships, and US-person status.
///
/// The clearance is a [`Label`]: its level, its SCI systems and compartments, the restrictions
/// the subject may receive (ORCON, PROPIN), and its CUI part (categories, and limited
/// dissemination controls the subject satisfies, such as FED ONLY for a federal employee). Its
/// releasability and RELIDO are not used: releasability is decided by `nationality`, `groups`
/// and `us_person`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub clearance: Label,
    /// ISO 3166 trigraph: `USA`, `GBR`.
    pub nationality: String,
    /// Group tetragraphs the subject belongs to: `FVEY`, `NATO`.
    pub groups: BTreeSet<String>,
    /// A US citizen, permanent resident or protected individual.
    pub us_person: bool,
}

impl Subject {
    /// A subject with no group memberships.
    pub fn new(clearance: Label, nationality: &str, us_person: bool) -> Subject {
        Subject {
            clearance,
            nationality: nationality.to_owned(),
            groups: BTreeSet::new(),
            us_person,
        }
    }

    /// Adds a group membership.
    pub fn with_group(mut self, group: &str) -> Subject {
        self.groups.insert(group.to_owned());
        self
    }
}

/// The rule that refused a read. It carries no label text, so it can be logged or returned to
/// a caller without revealing what the object's marking says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Denial {
    /// The object's level is above the clearance.
    Level,
    /// The object is FOUO and the clearance is plain UNCLASSIFIED.
    Fouo,
    /// The object has an SCI system or compartment the clearance lacks.
    Compartment,
    /// The object is ORCON and the clearance is not.
    Orcon,
    /// The object is PROPIN and the clearance is not.
    Propin,
    /// The object is CUI and the clearance has no CUI part.
    Cui,
    /// The object has a CUI category (or a specified one) the clearance lacks.
    CuiCategory,
    /// The object has a CUI limited dissemination control the subject does not satisfy.
    LimitedDissemination,
    /// The object is NOFORN and the subject is not a US person.
    NoForn,
    /// The object is REL TO and the subject is neither a US person nor a national of a listed
    /// country nor a member of a listed group.
    RelTo,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Denial::Level => "classification level exceeds clearance",
            Denial::Fouo => "FOUO needs more than an UNCLASSIFIED clearance",
            Denial::Compartment => "SCI compartment not held",
            Denial::Orcon => "ORCON not authorized",
            Denial::Propin => "PROPIN not authorized",
            Denial::Cui => "CUI not authorized",
            Denial::CuiCategory => "CUI category not held",
            Denial::LimitedDissemination => "CUI limited dissemination control not satisfied",
            Denial::NoForn => "not releasable to foreign nationals",
            Denial::RelTo => "not releasable to the subject's country or groups",
        })
    }
}

impl std::error::Error for Denial {}

/// May `subject` read an object labelled `object`? No read up: the clearance must dominate the
/// object in level, FOUO, SCI, ORCON, PROPIN and CUI; then releasability: NOFORN only to US
/// persons; REL TO only to US persons, USA nationals, nationals of a listed country, or members
/// of a listed group. Classified data with neither NOFORN nor REL TO has had no disclosure
/// decision and is refused to anyone who is not a US person (fail closed); unclassified data
/// without a marking passes. The first rule that fails is returned, in that order.
///
/// Monotone: if `a` dominates `b`, anyone who may read `a` may read `b` (for foreign subjects,
/// among labels that carry a release decision).
pub fn may_read(subject: &Subject, object: &Label) -> Result<(), Denial> {
    let c = &subject.clearance;
    if c.level < object.level {
        return Err(Denial::Level);
    }
    // Classified and CUI objects are refused by the level and CUI rules below.
    if object.has_control(DissemControl::Fouo) && !fouo_or_above(c) {
        return Err(Denial::Fouo);
    }
    if !c.sci.dominates(&object.sci) {
        return Err(Denial::Compartment);
    }
    for (control, denial) in [
        (DissemControl::Orcon, Denial::Orcon),
        (DissemControl::Propin, Denial::Propin),
    ] {
        if object.has_control(control) && !c.has_control(control) {
            return Err(denial);
        }
    }
    if let Some(needed) = &object.cui {
        let held = c.cui.as_ref().ok_or(Denial::Cui)?;
        let has_categories = needed.categories().all(|(name, kind)| {
            held.categories()
                .any(|(mine, my_kind)| mine == name && my_kind >= kind)
        });
        if !has_categories {
            return Err(Denial::CuiCategory);
        }
        if !needed.ldcs().all(|l| held.has_ldc(l)) {
            return Err(Denial::LimitedDissemination);
        }
    }
    match &object.releasability {
        // Fail closed: classified information that carries no release marking has had no
        // disclosure decision, so only US persons may read it.
        Releasability::Unrestricted if object.level.is_classified() && !subject.us_person => {
            Err(Denial::NoForn)
        }
        Releasability::Unrestricted => Ok(()),
        Releasability::NoForn if subject.us_person => Ok(()),
        Releasability::NoForn => Err(Denial::NoForn),
        Releasability::RelTo(list) => {
            let admitted = subject.us_person
                || list.lists(&subject.nationality)
                || subject.groups.iter().any(|g| list.lists(g));
            if admitted {
                Ok(())
            } else {
                Err(Denial::RelTo)
            }
        }
    }
}

/// May data labelled `data` flow into a sink labelled `sink`? Only if the sink's label
/// dominates the data's (no write down).
pub fn may_flow(data: &Label, sink: &Label) -> bool {
    dominates(sink, data)
}
