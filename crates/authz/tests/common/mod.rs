//! The principals and resources of the decision matrix, shared by `tests/matrix.rs` and
//! `benches/decide.rs`.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use scif_authz::{Handling, MandatoryRule, Principal, Resource, ResourceKind};
use scif_labels::Label;

pub const SYSTEM_HIGH: &str = "TOP SECRET//SI/TK//NOFORN";

pub fn label(banner: &str) -> Label {
    Label::parse_banner(banner).unwrap()
}

#[derive(Clone, Copy, PartialEq)]
pub enum Role {
    Admin,
    Auditor,
    User,
}

/// The principals, in the order of the grid's columns.
pub fn principals() -> Vec<(Principal, Role)> {
    vec![
        // 0: TS/SI/TK US admin with PHI.
        (
            Principal::person("ts-admin", label("TOP SECRET//SI/TK"), "USA", true)
                .with_group("admins")
                .with_access("PHI"),
            Role::Admin,
        ),
        // 1: TS/SI US person.
        (
            Principal::person("ts-user", label("TOP SECRET//SI"), "USA", true),
            Role::User,
        ),
        // 2: SECRET US person with PHI.
        (
            Principal::person("s-phi", label("SECRET"), "USA", true).with_access("PHI"),
            Role::User,
        ),
        // 3: SECRET British national in FVEY.
        (
            Principal::person("s-gbr", label("SECRET"), "GBR", false).with_group("FVEY"),
            Role::User,
        ),
        // 4: SECRET French national.
        (
            Principal::person("s-fra", label("SECRET"), "FRA", false),
            Role::User,
        ),
        // 5: uncleared US person.
        (
            Principal::person("u-user", label("UNCLASSIFIED"), "USA", true),
            Role::User,
        ),
        // 6: TS US auditor, no SCI.
        (
            Principal::person("ts-auditor", label("TOP SECRET"), "USA", true)
                .with_group("auditors"),
            Role::Auditor,
        ),
        // 7: CONFIDENTIAL US service account.
        (
            Principal::service("c-service", label("CONFIDENTIAL"), "USA", true),
            Role::User,
        ),
        // 8: SECRET British admin, not in FVEY.
        (
            Principal::person("s-gbr-admin", label("SECRET"), "GBR", false).with_group("admins"),
            Role::Admin,
        ),
    ]
}

/// Each resource with its row of the grid: one character per principal, in column order.
/// `.` passes the mandatory rules; otherwise the rule that refuses: `H` above system high,
/// `L` level, `C` compartment, `N` NOFORN (or classified without a release marking), `R` REL TO,
/// `I` ITAR, `P` PHI.
pub fn resources() -> Vec<(Resource, &'static str)> {
    let model = |id: &str, banner: &str| Resource::model(id, label(banner));
    let unclass = |kind: ResourceKind, id: &str| Resource::new(kind, id, label("UNCLASSIFIED"));
    vec![
        (model("m-u", "UNCLASSIFIED"), "........."),
        (model("m-s-nf", "SECRET//NOFORN"), "...NNL.LN"),
        (model("m-s-fvey", "SECRET//REL TO USA, FVEY"), "....RL.LR"),
        (model("m-s-gbr", "SECRET//REL TO USA, GBR"), "....RL.L."),
        (model("m-ts-si", "TOP SECRET//SI//NOFORN"), "..LLLLCLL"),
        (model("m-ts-tk", "TOP SECRET//TK//NOFORN"), ".CLLLLCLL"),
        (
            model("m-s-itar", "SECRET//REL TO USA, FVEY").with_handling(Handling::Itar),
            "...IRL.LR",
        ),
        (
            model("m-u-phi", "UNCLASSIFIED").with_handling(Handling::Phi),
            ".P.PPPPPP",
        ),
        (model("m-ts-hcs", "TOP SECRET//HCS//NOFORN"), "HHHHHHHHH"),
        (model("m-c", "CONFIDENTIAL"), "...NNL..N"),
        (unclass(ResourceKind::AuditTrail, "audit"), "........."),
        (unclass(ResourceKind::Key, "key-1"), "........."),
        (unclass(ResourceKind::Principal, "bob"), "........."),
        (unclass(ResourceKind::Policy, "default"), "........."),
        (Resource::system(), "........."),
        (unclass(ResourceKind::KnowledgeBase, "kb-u"), "........."),
        (
            Resource::new(
                ResourceKind::KnowledgeBase,
                "kb-s-nf",
                label("SECRET//NOFORN"),
            ),
            "...NNL.LN",
        ),
        (
            Resource::new(ResourceKind::AuditTrail, "audit-s", label("SECRET//NOFORN")),
            "...NNL.LN",
        ),
    ]
}

pub fn rule(c: char) -> Option<MandatoryRule> {
    match c {
        '.' => None,
        'H' => Some(MandatoryRule::AboveSystemHigh),
        'L' => Some(MandatoryRule::Level),
        'C' => Some(MandatoryRule::Compartment),
        'N' => Some(MandatoryRule::NoForn),
        'R' => Some(MandatoryRule::RelTo),
        'I' => Some(MandatoryRule::Itar),
        'P' => Some(MandatoryRule::Phi),
        other => panic!("unknown grid code {other}"),
    }
}
