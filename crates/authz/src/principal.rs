//! Who is asking.

use std::collections::BTreeSet;

use scif_labels::{Label, Subject};
use serde::{Deserialize, Serialize};

/// A person or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Person,
    Service,
}

impl PrincipalKind {
    /// The stable name, as Cedar policies see it in `principal.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Person => "person",
            PrincipalKind::Service => "service",
        }
    }
}

/// A verified identity with the attributes authorization decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    /// The clearance: level, SCI compartments, ORCON/PROPIN, CUI categories.
    pub clearance: Label,
    /// ISO 3166 trigraph: `USA`, `GBR`.
    pub nationality: String,
    /// A US citizen, permanent resident or protected individual (NOFORN, ITAR).
    pub us_person: bool,
    /// Group memberships. Used both by policies (`principal in Scif::Group::"admins"`) and for
    /// REL TO tetragraph membership (`FVEY`, `NATO`).
    pub groups: BTreeSet<String>,
    /// Special accesses such as `PHI` (HIPAA) or `ITAR`.
    pub accesses: BTreeSet<String>,
}

impl Principal {
    /// A person with no groups and no accesses.
    pub fn person(id: &str, clearance: Label, nationality: &str, us_person: bool) -> Principal {
        Principal {
            id: id.to_owned(),
            kind: PrincipalKind::Person,
            clearance,
            nationality: nationality.to_owned(),
            us_person,
            groups: BTreeSet::new(),
            accesses: BTreeSet::new(),
        }
    }

    /// A service account with no groups and no accesses.
    pub fn service(id: &str, clearance: Label, nationality: &str, us_person: bool) -> Principal {
        Principal {
            kind: PrincipalKind::Service,
            ..Principal::person(id, clearance, nationality, us_person)
        }
    }

    /// Adds a group membership.
    pub fn with_group(mut self, group: &str) -> Principal {
        self.groups.insert(group.to_owned());
        self
    }

    /// Adds an access.
    pub fn with_access(mut self, access: &str) -> Principal {
        self.accesses.insert(access.to_owned());
        self
    }

    /// The subject the label checks see.
    pub(crate) fn subject(&self) -> Subject {
        Subject {
            clearance: self.clearance.clone(),
            nationality: self.nationality.clone(),
            groups: self.groups.clone(),
            us_person: self.us_person,
        }
    }
}
