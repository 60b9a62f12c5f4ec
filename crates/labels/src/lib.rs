//! Security labels for US classification markings and Controlled Unclassified Information
//! (CUI): parse and print banner lines and portion marks, compare and combine labels as a
//! lattice, and decide whether a subject may read an object.
//!
//! **Invariant:** pure. No IO, no clock, no randomness, no global state, no `unsafe`: every
//! function's answer depends only on its arguments. **Boundary:** knows markings and the
//! lattice; knows nothing of users, requests, storage or HTTP. The authorization layer builds a
//! [`Subject`] and calls [`may_read`]; roll-ups use [`join`] or [`roll_up`].
//!
//! ```
//! use scif_labels::{join, Label};
//!
//! let a = Label::parse_portion("(S//REL TO USA, GBR, FVEY)")?;
//! let b = Label::parse_portion("(TS//SI-G//REL TO USA, AUS, GBR)")?;
//! assert_eq!(join(&a, &b).banner(), "TOP SECRET//SI-G//REL TO USA, GBR");
//! # Ok::<(), scif_labels::MarkingError>(())
//! ```
//!
//! What is supported: levels; SCI control systems (a closed list, [`SCI_SYSTEMS`]) with
//! compartments; FOUO (legacy), ORCON, NOFORN, PROPIN, REL TO and RELIDO; CUI with basic and
//! specified categories and the limited dissemination controls NOFORN, FED ONLY, FEDCON, NOCON,
//! DL ONLY, REL TO and DISPLAY ONLY (without its country list). SAP, AEA and FGI categories,
//! SCI sub-compartments written after a space, and non-IC controls other than these are
//! rejected. The parser checks syntax and the few rules that keep labels printable; it does not
//! enforce marking policy such as which SCI systems go with which level.

#![forbid(unsafe_code)]

mod access;
mod cui;
mod error;
mod label;
mod lattice;
mod level;
mod parse;
mod print;
mod releasability;
mod sci;

pub use access::{may_flow, may_read, Denial, Subject};
pub use cui::{CategoryKind, Cui, Ldc};
pub use error::MarkingError;
pub use label::{DissemControl, Label};
pub use lattice::{dominates, join, meet, roll_up};
pub use level::Level;
pub use releasability::{RelTo, RelToEntry, Releasability};
pub use sci::{Sci, SCI_SYSTEMS};

/// Which way a marking is written: a banner line (`TOP SECRET//SI//NOFORN`) or a portion mark
/// with abbreviations (`(TS//SI//NF)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    Banner,
    Portion,
}

impl Form {
    pub(crate) fn other(self) -> Form {
        match self {
            Form::Banner => Form::Portion,
            Form::Portion => Form::Banner,
        }
    }
}
