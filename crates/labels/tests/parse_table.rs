//! Table-driven parsing: canonical markings round-trip exactly, non-canonical ones normalize,
//! and malformed ones fail with the exact error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_labels::{Form, Label, Level, MarkingError};

/// Canonical markings: `print(parse(s)) == s`.
const CANONICAL_BANNERS: &[&str] = &[
    "UNCLASSIFIED",
    "UNCLASSIFIED//FOUO",
    "UNCLASSIFIED//NOFORN",
    "UNCLASSIFIED//FOUO/NOFORN",
    "CONFIDENTIAL",
    "CONFIDENTIAL//NOFORN",
    "SECRET",
    "TOP SECRET",
    "TOP SECRET//SI-G/TK//NOFORN",
    "TOP SECRET//SI/TK//NOFORN",
    "TOP SECRET//SI-ABC-G",
    "TOP SECRET//HCS-P/SI-G/TK//ORCON/NOFORN",
    "TOP SECRET//BUR/HCS/KDK/RSV/SI/TK",
    "SECRET//SI-G-H/TK",
    "SECRET//REL TO USA, AUS, CAN, GBR, NZL",
    "SECRET//REL TO USA, FVEY",
    "SECRET//REL TO USA, GBR, FVEY, NATO",
    "SECRET//ORCON/NOFORN/PROPIN",
    "SECRET//REL TO USA, GBR/RELIDO",
    "TOP SECRET//SI//ORCON/REL TO USA, FVEY/RELIDO",
    "SECRET//NOFORN//CUI//SP-PRVCY//FED ONLY",
    "CONFIDENTIAL//CUI",
    "TOP SECRET//SI//CUI//CTI",
    "CUI",
    "CUI//SP-PRVCY",
    "CUI//SP-PRVCY//FED ONLY",
    "CUI//SP-CTI/PRVCY//NOFORN",
    "CUI//SP-CTI/SP-EXPT/PRVCY//FEDCON/REL TO USA, GBR",
    "CUI//PRVCY//NOFORN/FED ONLY/DL ONLY/DISPLAY ONLY",
    "CUI//NOFORN",
    "CUI//NOCON",
    "CUI//REL TO USA, CAN",
];

const CANONICAL_PORTIONS: &[&str] = &[
    "(U)",
    "(C)",
    "(S)",
    "(TS)",
    "(U//FOUO)",
    "(U//NF)",
    "(C//NF)",
    "(TS//SI//NF)",
    "(TS//SI-G/TK//NF)",
    "(S//REL TO USA, FVEY)",
    "(S//REL TO USA, AUS, CAN, GBR, NZL)",
    "(S//OC/NF)",
    "(TS//HCS-P/SI-G/TK//OC/NF/PR)",
    "(S//REL TO USA, GBR/RELIDO)",
    "(S//NF//CUI//SP-PRVCY)",
    "(CUI)",
    "(CUI//SP-PRVCY)",
    "(CUI//SP-CTI/PRVCY//NF)",
    "(CUI//FEDCON/DISPLAY ONLY)",
];

#[test]
fn canonical_banners_round_trip_exactly() {
    for s in CANONICAL_BANNERS {
        let label = Label::parse_banner(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(label.banner(), *s);
        assert_eq!(s.parse::<Label>().unwrap(), label, "FromStr reads banners");
        assert_eq!(
            Label::parse_portion(&label.portion()).unwrap(),
            label,
            "{s}"
        );
    }
}

#[test]
fn canonical_portions_round_trip_exactly() {
    for s in CANONICAL_PORTIONS {
        let label = Label::parse_portion(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(label.portion(), *s);
        assert_eq!(Label::parse(s, Form::Portion).unwrap(), label);
        assert_eq!(Label::parse_banner(&label.banner()).unwrap(), label, "{s}");
    }
}

#[test]
fn reference_pairs_are_the_same_label() {
    let pairs = [
        ("TOP SECRET//SI//NOFORN", "(TS//SI//NF)"),
        ("SECRET//REL TO USA, FVEY", "(S//REL TO USA, FVEY)"),
        ("UNCLASSIFIED//FOUO", "(U//FOUO)"),
        ("UNCLASSIFIED", "(U)"),
        ("CONFIDENTIAL", "(C)"),
        ("CUI", "(CUI)"),
        ("CUI//SP-PRVCY", "(CUI//SP-PRVCY)"),
        ("SECRET//ORCON/PROPIN", "(S//OC/PR)"),
    ];
    for (banner, portion) in pairs {
        assert_eq!(
            Label::parse_banner(banner).unwrap(),
            Label::parse_portion(portion).unwrap(),
            "{banner} vs {portion}"
        );
    }
}

/// Values in any order are accepted; printing normalizes them.
#[test]
fn non_canonical_order_normalizes() {
    let cases = [
        ("TOP SECRET//TK/SI-G//NOFORN", "TOP SECRET//SI-G/TK//NOFORN"),
        (
            "SECRET//REL TO USA, NZL, GBR, AUS, CAN",
            "SECRET//REL TO USA, AUS, CAN, GBR, NZL",
        ),
        (
            "SECRET//REL TO USA, FVEY, GBR",
            "SECRET//REL TO USA, GBR, FVEY",
        ),
        ("SECRET//NOFORN/ORCON", "SECRET//ORCON/NOFORN"),
        (
            "SECRET//RELIDO/REL TO USA, GBR",
            "SECRET//REL TO USA, GBR/RELIDO",
        ),
        ("CUI//PRVCY/SP-CTI//NOFORN", "CUI//SP-CTI/PRVCY//NOFORN"),
        ("CUI//FED ONLY/NOFORN", "CUI//NOFORN/FED ONLY"),
        ("TOP SECRET//SI-H-G", "TOP SECRET//SI-G-H"),
    ];
    for (input, canonical) in cases {
        let label = Label::parse_banner(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(label.banner(), canonical);
    }
    let portion = Label::parse_portion("(TS//TK/SI-H-G//NF/OC)").unwrap();
    assert_eq!(portion.portion(), "(TS//SI-G-H/TK//OC/NF)");
}

#[test]
fn parsed_parts_are_what_the_marking_says() {
    let l = Label::parse_banner("TOP SECRET//SI-G/TK//NOFORN").unwrap();
    assert_eq!(l.level(), Level::TopSecret);
    assert!(l.sci().has_compartment("SI", "G"));
    assert!(l.sci().has_system("TK"));
    assert!(!l.sci().has_system("HCS"));
    assert_eq!(*l.releasability(), scif_labels::Releasability::NoForn);
    assert!(l.cui().is_none());

    let c = Label::parse_banner("CUI//SP-CTI/PRVCY//NOFORN").unwrap();
    assert_eq!(c.level(), Level::Unclassified);
    let cats: Vec<_> = c.cui().unwrap().categories().collect();
    assert_eq!(
        cats,
        [
            ("CTI", scif_labels::CategoryKind::Specified),
            ("PRVCY", scif_labels::CategoryKind::Basic)
        ]
    );
}

fn s(x: &str) -> String {
    x.to_owned()
}

fn bad_cases() -> Vec<(&'static str, Form, MarkingError)> {
    use Form::{Banner as B, Portion as P};
    use MarkingError as E;
    vec![
        ("", B, E::Empty),
        ("()", P, E::Empty),
        (
            "SECRETT",
            B,
            E::UnknownLevel {
                found: s("SECRETT"),
            },
        ),
        ("secret", B, E::UnknownLevel { found: s("secret") }),
        (
            "TOP SECRET //SI",
            B,
            E::UnknownLevel {
                found: s("TOP SECRET "),
            },
        ),
        (
            "S",
            B,
            E::WrongForm {
                found: s("S"),
                expected: s("SECRET"),
            },
        ),
        (
            "(SECRET)",
            P,
            E::WrongForm {
                found: s("SECRET"),
                expected: s("S"),
            },
        ),
        (
            "SECRET//NF",
            B,
            E::WrongForm {
                found: s("NF"),
                expected: s("NOFORN"),
            },
        ),
        (
            "(S//NOFORN)",
            P,
            E::WrongForm {
                found: s("NOFORN"),
                expected: s("NF"),
            },
        ),
        (
            "(S//ORCON)",
            P,
            E::WrongForm {
                found: s("ORCON"),
                expected: s("OC"),
            },
        ),
        (
            "CUI//NF",
            B,
            E::WrongForm {
                found: s("NF"),
                expected: s("NOFORN"),
            },
        ),
        ("S//NF", P, E::PortionParentheses),
        ("(TS//SI//NF", P, E::PortionParentheses),
        ("SECRET////NOFORN", B, E::EmptyCategory),
        ("SECRET//", B, E::EmptyCategory),
        ("//SECRET", B, E::EmptyCategory),
        (
            "SECRET//NOFORN/",
            B,
            E::EmptyValue {
                category: s("NOFORN/"),
            },
        ),
        (
            "SECRET//NOFORNN",
            B,
            E::UnknownDissemination {
                found: s("NOFORNN"),
                marking: s("SECRET//NOFORNN"),
            },
        ),
        (
            "(S//XX)",
            P,
            E::UnknownDissemination {
                found: s("XX"),
                marking: s("(S//XX)"),
            },
        ),
        (
            "TOP SECRET//SI/XYZ",
            B,
            E::UnknownSciControl { found: s("XYZ") },
        ),
        (
            "TOP SECRET//SI-g",
            B,
            E::MalformedCompartment { found: s("SI-g") },
        ),
        (
            "TOP SECRET//SI-",
            B,
            E::MalformedCompartment { found: s("SI-") },
        ),
        ("TOP SECRET//SI/SI-G", B, E::Duplicate { found: s("SI") }),
        ("TOP SECRET//SI-G-G", B, E::Duplicate { found: s("SI-G-G") }),
        ("SECRET//REL TO GBR, USA", B, E::RelToMustStartWithUsa),
        ("SECRET//REL TO GBR, AUS", B, E::RelToMustStartWithUsa),
        ("SECRET//REL TO USA", B, E::RelToOnlyUsa),
        ("SECRET//REL TO", B, E::MalformedRelToEntry { found: s("") }),
        (
            "SECRET//REL TO USA,GBR",
            B,
            E::MalformedRelToEntry {
                found: s("USA,GBR"),
            },
        ),
        (
            "SECRET//REL TO USA, GB",
            B,
            E::MalformedRelToEntry { found: s("GB") },
        ),
        (
            "SECRET//REL TO USA, gbr",
            B,
            E::MalformedRelToEntry { found: s("gbr") },
        ),
        (
            "SECRET//REL TO USA, GBR, GBR",
            B,
            E::Duplicate { found: s("GBR") },
        ),
        (
            "SECRET//REL TO USA, GBR, USA",
            B,
            E::Duplicate { found: s("USA") },
        ),
        (
            "SECRET//NOFORN/NOFORN",
            B,
            E::Duplicate { found: s("NOFORN") },
        ),
        (
            "SECRET//REL TO USA, GBR/REL TO USA, AUS",
            B,
            E::Duplicate { found: s("REL TO") },
        ),
        (
            "SECRET//NOFORN/REL TO USA, GBR",
            B,
            E::Conflict {
                first: s("NOFORN"),
                second: s("REL TO"),
            },
        ),
        (
            "CUI//REL TO USA, GBR/NOFORN",
            B,
            E::Conflict {
                first: s("NOFORN"),
                second: s("REL TO"),
            },
        ),
        (
            "UNCLASSIFIED//SI",
            B,
            E::NotAllowedAtLevel {
                found: s("SI"),
                level: Level::Unclassified,
            },
        ),
        (
            "SECRET//FOUO",
            B,
            E::NotAllowedAtLevel {
                found: s("FOUO"),
                level: Level::Secret,
            },
        ),
        (
            "UNCLASSIFIED//ORCON",
            B,
            E::NotAllowedAtLevel {
                found: s("ORCON"),
                level: Level::Unclassified,
            },
        ),
        (
            "(U//RELIDO)",
            P,
            E::NotAllowedAtLevel {
                found: s("RELIDO"),
                level: Level::Unclassified,
            },
        ),
        (
            "UNCLASSIFIED//CUI",
            B,
            E::NotAllowedAtLevel {
                found: s("CUI"),
                level: Level::Unclassified,
            },
        ),
        (
            "SECRET//NOFORN//SI",
            B,
            E::CategoryOutOfOrder { found: s("SI") },
        ),
        (
            "TOP SECRET//SI//TK",
            B,
            E::CategoryOutOfOrder { found: s("TK") },
        ),
        (
            "SECRET//NOFORN//ORCON",
            B,
            E::CategoryOutOfOrder { found: s("ORCON") },
        ),
        (
            "SECRET//NOFORN//FGI DEU",
            B,
            E::UnexpectedCategory {
                found: s("FGI DEU"),
            },
        ),
        (
            "CUI//SP-PRVCY//NOFORN//X",
            B,
            E::UnexpectedCategory { found: s("X") },
        ),
        (
            "CUI//SP-PRVCY//FEDONLY",
            B,
            E::UnknownLimitedDissemination {
                found: s("FEDONLY"),
                marking: s("CUI//SP-PRVCY//FEDONLY"),
            },
        ),
        (
            "CUI//sp-prvcy",
            B,
            E::MalformedCuiCategory {
                found: s("sp-prvcy"),
            },
        ),
        ("CUI//SP-", B, E::MalformedCuiCategory { found: s("SP-") }),
        ("CUI//FOUO", B, E::MalformedCuiCategory { found: s("FOUO") }),
        ("CUI//SP-PRVCY/PRVCY", B, E::Duplicate { found: s("PRVCY") }),
        (
            "CUI//FED ONLY/FED ONLY",
            B,
            E::Duplicate {
                found: s("FED ONLY"),
            },
        ),
        (
            "SECRET//CUI//NOFORN",
            B,
            E::Misplaced { found: s("NOFORN") },
        ),
        (
            "(S//NF//CUI//SP-PRVCY//NF)",
            P,
            E::Misplaced { found: s("NF") },
        ),
        (
            "SECRET//FED ONLY",
            B,
            E::Misplaced {
                found: s("FED ONLY"),
            },
        ),
        (
            "CUI//SP-PRVCY//ORCON",
            B,
            E::Misplaced { found: s("ORCON") },
        ),
    ]
}

#[test]
fn malformed_markings_fail_with_the_exact_error() {
    let cases = bad_cases();
    assert!(cases.len() >= 20);
    for (input, form, expected) in cases {
        assert_eq!(Label::parse(input, form), Err(expected), "{input:?}");
    }
}

#[test]
fn error_messages_name_the_wrong_part() {
    let cases = [
        ("SECRETT", "unknown classification level \"SECRETT\""),
        (
            "SECRET//NOFORNN",
            "unknown dissemination control \"NOFORNN\" in \"SECRET//NOFORNN\"",
        ),
        ("SECRET//REL TO GBR, USA", "REL TO list must start with USA"),
        ("SECRET////NOFORN", "empty category between //"),
        (
            "SECRET//NF",
            "\"NF\" is the wrong form here; write \"NOFORN\"",
        ),
        ("SECRET//FOUO", "\"FOUO\" is not allowed at SECRET"),
    ];
    for (input, message) in cases {
        let err = Label::parse_banner(input).unwrap_err();
        assert_eq!(err.to_string(), message, "{input}");
    }
}
