//! SCI control systems and their compartments (`SI-G`, `TK`, `HCS-P`).

use std::collections::{BTreeMap, BTreeSet};

use crate::MarkingError;

/// The SCI control systems this crate accepts. The list is closed so that a misspelled
/// dissemination control (`NOFORNN`) is never mistaken for an SCI system.
pub const SCI_SYSTEMS: [&str; 6] = ["BUR", "HCS", "KDK", "RSV", "SI", "TK"];

/// The SCI part of a label: control systems, each with a set of compartments.
///
/// `SI-G/TK` is `{SI: {G}, TK: {}}`. Holding a compartment implies holding its system. Systems
/// print alphabetically, each followed by its compartments, alphabetically, joined by `-`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Sci {
    systems: BTreeMap<String, BTreeSet<String>>,
}

impl Sci {
    /// No SCI controls.
    pub fn new() -> Sci {
        Sci::default()
    }

    /// Adds a control system with compartments (merged with any already held).
    pub fn insert(&mut self, system: &str, compartments: &[&str]) -> Result<(), MarkingError> {
        check_system(system)?;
        for c in compartments {
            check_compartment(c, c)?;
        }
        let held = self.systems.entry(system.to_owned()).or_default();
        held.extend(compartments.iter().map(|c| (*c).to_owned()));
        Ok(())
    }

    /// True when there are no SCI controls.
    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }

    /// True when `system` is held (with or without compartments).
    pub fn has_system(&self, system: &str) -> bool {
        self.systems.contains_key(system)
    }

    /// True when `system` is held with `compartment`.
    pub fn has_compartment(&self, system: &str, compartment: &str) -> bool {
        self.systems
            .get(system)
            .is_some_and(|c| c.contains(compartment))
    }

    /// Systems in canonical order, each with its compartments in canonical order.
    pub fn systems(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &str>)> {
        self.systems
            .iter()
            .map(|(s, c)| (s.as_str(), c.iter().map(String::as_str)))
    }

    /// The canonical text of each system with its compartments: `["SI-G", "TK"]`.
    pub(crate) fn tokens(&self) -> Vec<String> {
        self.systems
            .iter()
            .map(|(system, comps)| {
                let mut token = system.clone();
                for c in comps {
                    token.push('-');
                    token.push_str(c);
                }
                token
            })
            .collect()
    }

    /// Every system of `other` is held here, with at least its compartments.
    pub(crate) fn dominates(&self, other: &Sci) -> bool {
        other.systems.iter().all(|(system, comps)| {
            self.systems
                .get(system)
                .is_some_and(|held| held.is_superset(comps))
        })
    }

    pub(crate) fn join(&self, other: &Sci) -> Sci {
        let mut systems = self.systems.clone();
        for (system, comps) in &other.systems {
            systems
                .entry(system.clone())
                .or_default()
                .extend(comps.iter().cloned());
        }
        Sci { systems }
    }

    pub(crate) fn meet(&self, other: &Sci) -> Sci {
        let systems = self
            .systems
            .iter()
            .filter_map(|(system, comps)| {
                let theirs = other.systems.get(system)?;
                Some((
                    system.clone(),
                    comps.intersection(theirs).cloned().collect(),
                ))
            })
            .collect();
        Sci { systems }
    }
}

/// Parses one SCI token (`SI-G-H`) into `sci`, rejecting repeats.
pub(crate) fn parse_token(sci: &mut Sci, token: &str) -> Result<(), MarkingError> {
    let mut parts = token.split('-');
    let system = parts.next().unwrap_or_default();
    check_system(system)?;
    if sci.has_system(system) {
        return Err(MarkingError::Duplicate {
            found: system.to_owned(),
        });
    }
    let mut comps = BTreeSet::new();
    for c in parts {
        check_compartment(c, token)?;
        if !comps.insert(c.to_owned()) {
            return Err(MarkingError::Duplicate {
                found: token.to_owned(),
            });
        }
    }
    sci.systems.insert(system.to_owned(), comps);
    Ok(())
}

/// True when `token` names a known SCI system (with or without compartments).
pub(crate) fn looks_like_sci(token: &str) -> bool {
    let system = token.split('-').next().unwrap_or_default();
    SCI_SYSTEMS.contains(&system)
}

fn check_system(system: &str) -> Result<(), MarkingError> {
    if SCI_SYSTEMS.contains(&system) {
        Ok(())
    } else {
        Err(MarkingError::UnknownSciControl {
            found: system.to_owned(),
        })
    }
}

fn check_compartment(compartment: &str, context: &str) -> Result<(), MarkingError> {
    let ok = (1..=10).contains(&compartment.len())
        && compartment
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(MarkingError::MalformedCompartment {
            found: context.to_owned(),
        })
    }
}
