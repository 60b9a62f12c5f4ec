//! Classification levels, low to high.

use std::fmt;

/// A classification level. The derived order is the dominance order:
/// `Unclassified < Confidential < Secret < TopSecret`.
///
/// CUI is not a level: it is a control carried beside the level (see [`crate::Cui`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Unclassified,
    Confidential,
    Secret,
    TopSecret,
}

impl Level {
    /// Every level, low to high.
    pub const ALL: [Level; 4] = [
        Level::Unclassified,
        Level::Confidential,
        Level::Secret,
        Level::TopSecret,
    ];

    /// The word a banner line uses: `TOP SECRET`.
    pub fn banner_word(self) -> &'static str {
        match self {
            Level::Unclassified => "UNCLASSIFIED",
            Level::Confidential => "CONFIDENTIAL",
            Level::Secret => "SECRET",
            Level::TopSecret => "TOP SECRET",
        }
    }

    /// The abbreviation a portion mark uses: `TS`.
    pub fn portion_word(self) -> &'static str {
        match self {
            Level::Unclassified => "U",
            Level::Confidential => "C",
            Level::Secret => "S",
            Level::TopSecret => "TS",
        }
    }

    /// True above UNCLASSIFIED.
    pub fn is_classified(self) -> bool {
        self > Level::Unclassified
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.banner_word())
    }
}
