//! The label type and the checks that keep every label printable.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::{Cui, Form, Level, MarkingError, Releasability, Sci};

/// A dissemination control of classified (and legacy unclassified) markings, other than NOFORN
/// and REL TO (those are [`Releasability`]). The derived order is the print order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DissemControl {
    /// `FOUO`, legacy, UNCLASSIFIED only. Any classified or CUI label dominates it.
    Fouo,
    /// `ORCON` (`OC`), classified only. A restriction: a dominating label carries it too.
    Orcon,
    /// `PROPIN` (`PR`), classified only. A restriction: a dominating label carries it too.
    Propin,
    /// `RELIDO`, classified only. A permission (a disclosure official may release): a label
    /// carrying it dominates only labels that carry it too, and a roll-up keeps it only when
    /// every part carries it.
    Relido,
}

impl DissemControl {
    /// Every control, in print order.
    pub const ALL: [DissemControl; 4] = [
        DissemControl::Fouo,
        DissemControl::Orcon,
        DissemControl::Propin,
        DissemControl::Relido,
    ];

    /// The word in `form`: `ORCON` in a banner, `OC` in a portion.
    pub fn word(self, form: Form) -> &'static str {
        match (self, form) {
            (DissemControl::Fouo, _) => "FOUO",
            (DissemControl::Orcon, Form::Banner) => "ORCON",
            (DissemControl::Orcon, Form::Portion) => "OC",
            (DissemControl::Propin, Form::Banner) => "PROPIN",
            (DissemControl::Propin, Form::Portion) => "PR",
            (DissemControl::Relido, _) => "RELIDO",
        }
    }

    /// The levels this control may appear at.
    pub(crate) fn allowed_at(self, level: Level) -> bool {
        match self {
            DissemControl::Fouo => !level.is_classified(),
            _ => level.is_classified(),
        }
    }
}

/// A security label: what a marking says, in a form that compares and combines.
///
/// Fields are private so that every label is canonical and printable: SCI, ORCON, PROPIN and
/// RELIDO only when classified; FOUO only on UNCLASSIFIED without CUI. Two labels are equal
/// exactly when their canonical markings are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label {
    pub(crate) level: Level,
    pub(crate) sci: Sci,
    pub(crate) controls: BTreeSet<DissemControl>,
    pub(crate) releasability: Releasability,
    pub(crate) cui: Option<Cui>,
}

impl Label {
    /// A label with `level` and nothing else.
    pub fn new(level: Level) -> Label {
        Label {
            level,
            sci: Sci::new(),
            controls: BTreeSet::new(),
            releasability: Releasability::Unrestricted,
            cui: None,
        }
    }

    /// Plain `UNCLASSIFIED`: the bottom of the lattice.
    pub fn unclassified() -> Label {
        Label::new(Level::Unclassified)
    }

    /// Adds an SCI control system with compartments. Classified labels only.
    pub fn with_sci(mut self, system: &str, compartments: &[&str]) -> Result<Label, MarkingError> {
        if !self.level.is_classified() {
            return Err(MarkingError::NotAllowedAtLevel {
                found: system.to_owned(),
                level: self.level,
            });
        }
        self.sci.insert(system, compartments)?;
        Ok(self)
    }

    /// Adds a dissemination control, if this level may carry it.
    pub fn with_control(mut self, control: DissemControl) -> Result<Label, MarkingError> {
        self.check_control(control, Form::Banner)?;
        self.controls.insert(control);
        Ok(self)
    }

    /// Sets the releasability (NOFORN, REL TO, or unrestricted).
    pub fn with_releasability(mut self, releasability: Releasability) -> Label {
        self.releasability = releasability;
        self
    }

    /// Sets the CUI part. Not with FOUO (CUI replaces it).
    pub fn with_cui(mut self, cui: Cui) -> Result<Label, MarkingError> {
        if self.controls.contains(&DissemControl::Fouo) {
            return Err(fouo_conflict());
        }
        self.cui = Some(cui);
        Ok(self)
    }

    /// Parses a banner line: `TOP SECRET//SI-G/TK//NOFORN`.
    pub fn parse_banner(marking: &str) -> Result<Label, MarkingError> {
        crate::parse::parse(marking, Form::Banner)
    }

    /// Parses a portion mark: `(TS//SI//NF)`.
    pub fn parse_portion(marking: &str) -> Result<Label, MarkingError> {
        crate::parse::parse(marking, Form::Portion)
    }

    /// Parses a marking in `form`.
    pub fn parse(marking: &str, form: Form) -> Result<Label, MarkingError> {
        crate::parse::parse(marking, form)
    }

    /// The canonical banner line.
    pub fn banner(&self) -> String {
        crate::print::print(self, Form::Banner)
    }

    /// The canonical portion mark, parentheses included.
    pub fn portion(&self) -> String {
        crate::print::print(self, Form::Portion)
    }

    /// The canonical marking in `form`.
    pub fn marking(&self, form: Form) -> String {
        crate::print::print(self, form)
    }

    /// The classification level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The SCI controls.
    pub fn sci(&self) -> &Sci {
        &self.sci
    }

    /// The dissemination controls other than NOFORN and REL TO, in print order.
    pub fn controls(&self) -> impl Iterator<Item = DissemControl> + '_ {
        self.controls.iter().copied()
    }

    /// True when `control` is carried.
    pub fn has_control(&self, control: DissemControl) -> bool {
        self.controls.contains(&control)
    }

    /// NOFORN, REL TO or unrestricted.
    pub fn releasability(&self) -> &Releasability {
        &self.releasability
    }

    /// The CUI part, if any.
    pub fn cui(&self) -> Option<&Cui> {
        self.cui.as_ref()
    }

    /// Checks that `control` may join this label; `form` picks the word for the error.
    pub(crate) fn check_control(
        &self,
        control: DissemControl,
        form: Form,
    ) -> Result<(), MarkingError> {
        if !control.allowed_at(self.level) {
            return Err(MarkingError::NotAllowedAtLevel {
                found: control.word(form).to_owned(),
                level: self.level,
            });
        }
        if control == DissemControl::Fouo && self.cui.is_some() {
            return Err(fouo_conflict());
        }
        Ok(())
    }
}

fn fouo_conflict() -> MarkingError {
    MarkingError::Conflict {
        first: "FOUO".to_owned(),
        second: "CUI".to_owned(),
    }
}

/// The banner line.
impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.banner())
    }
}

/// Parses a banner line.
impl FromStr for Label {
    type Err = MarkingError;

    fn from_str(s: &str) -> Result<Label, MarkingError> {
        Label::parse_banner(s)
    }
}
