//! The crate's one error type: what is wrong with a marking, and where.

use std::fmt;

use crate::Level;

/// A marking that could not be parsed, or a label that cannot be built. Each variant names the
/// part that is wrong, so the message can point at it.
///
/// Messages quote the offending text; they are meant for the person who wrote the marking, not
/// for logs of someone else's request (see [`crate::Denial`] for a text-free answer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarkingError {
    /// The marking is empty (`""` or `"()"`).
    Empty,
    /// A portion mark that is not enclosed in `(` and `)`.
    PortionParentheses,
    /// Two `//` with nothing between them, or a leading or trailing `//`.
    EmptyCategory,
    /// Two `/` with nothing between them inside one category.
    EmptyValue { category: String },
    /// The first category is not a level (nor `CUI`).
    UnknownLevel { found: String },
    /// An SCI control system this crate does not know.
    UnknownSciControl { found: String },
    /// An SCI compartment that is not 1 to 10 uppercase letters or digits.
    MalformedCompartment { found: String },
    /// A value in the dissemination category of a classified or UNCLASSIFIED marking.
    UnknownDissemination { found: String, marking: String },
    /// A value in the limited dissemination category of a CUI marking.
    UnknownLimitedDissemination { found: String, marking: String },
    /// A CUI category that is not `NAME` or `SP-NAME` (NAME: 2 to 12 uppercase letters or digits,
    /// starting with a letter, and not a reserved control word).
    MalformedCuiCategory { found: String },
    /// A portion abbreviation in a banner line, or a banner word in a portion mark.
    WrongForm { found: String, expected: String },
    /// A REL TO list whose first entry is not USA.
    RelToMustStartWithUsa,
    /// A REL TO list that names only USA (that is NOFORN).
    RelToOnlyUsa,
    /// A REL TO entry that is neither a country trigraph nor a group tetragraph.
    MalformedRelToEntry { found: String },
    /// The same value twice.
    Duplicate { found: String },
    /// Two values that cannot appear together (NOFORN and REL TO; FOUO and CUI).
    Conflict { first: String, second: String },
    /// A value that this level cannot carry (SCI or ORCON at UNCLASSIFIED, FOUO when classified).
    NotAllowedAtLevel { found: String, level: Level },
    /// A known value in the wrong category (a CUI control among classified controls, or the
    /// reverse; NOFORN or REL TO inside the CUI block of a classified marking).
    Misplaced { found: String },
    /// A category after one that must follow it, or a category kind given twice.
    CategoryOutOfOrder { found: String },
    /// A category after the last one this crate knows (SAP, AEA and FGI are not supported).
    UnexpectedCategory { found: String },
}

impl fmt::Display for MarkingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MarkingError as E;
        match self {
            E::Empty => f.write_str("empty marking"),
            E::PortionParentheses => f.write_str("portion mark must be enclosed in parentheses"),
            E::EmptyCategory => f.write_str("empty category between //"),
            E::EmptyValue { category } => write!(f, "empty value between / in \"{category}\""),
            E::UnknownLevel { found } => write!(f, "unknown classification level \"{found}\""),
            E::UnknownSciControl { found } => write!(f, "unknown SCI control system \"{found}\""),
            E::MalformedCompartment { found } => {
                write!(f, "malformed SCI compartment in \"{found}\"")
            }
            E::UnknownDissemination { found, marking } => {
                write!(
                    f,
                    "unknown dissemination control \"{found}\" in \"{marking}\""
                )
            }
            E::UnknownLimitedDissemination { found, marking } => write!(
                f,
                "unknown CUI limited dissemination control \"{found}\" in \"{marking}\""
            ),
            E::MalformedCuiCategory { found } => write!(f, "malformed CUI category \"{found}\""),
            E::WrongForm { found, expected } => {
                write!(
                    f,
                    "\"{found}\" is the wrong form here; write \"{expected}\""
                )
            }
            E::RelToMustStartWithUsa => f.write_str("REL TO list must start with USA"),
            E::RelToOnlyUsa => f.write_str("REL TO list names only USA; mark NOFORN instead"),
            E::MalformedRelToEntry { found } => write!(
                f,
                "REL TO entry \"{found}\" is not a country trigraph or group tetragraph \
                 (entries are separated by \", \")"
            ),
            E::Duplicate { found } => write!(f, "\"{found}\" appears twice"),
            E::Conflict { first, second } => write!(f, "{first} conflicts with {second}"),
            E::NotAllowedAtLevel { found, level } => {
                write!(f, "\"{found}\" is not allowed at {level}")
            }
            E::Misplaced { found } => write!(f, "\"{found}\" is in the wrong category"),
            E::CategoryOutOfOrder { found } => {
                write!(f, "category \"{found}\" is out of order or repeated")
            }
            E::UnexpectedCategory { found } => write!(f, "unexpected category \"{found}\""),
        }
    }
}

impl std::error::Error for MarkingError {}
