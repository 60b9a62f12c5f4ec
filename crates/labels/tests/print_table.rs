//! Table-driven printing: labels built through the API print canonically, and portions roll
//! up into the banner the reference describes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_labels::{
    roll_up, CategoryKind, Cui, DissemControl, Label, Ldc, Level, MarkingError, RelTo,
    Releasability,
};

fn rel_to(codes: &[&str]) -> Releasability {
    Releasability::RelTo(RelTo::new(codes.iter().copied()).unwrap())
}

#[test]
fn built_labels_print_canonically() {
    let cases: Vec<(Label, &str, &str)> = vec![
        (Label::unclassified(), "UNCLASSIFIED", "(U)"),
        (Label::new(Level::Confidential), "CONFIDENTIAL", "(C)"),
        (
            Label::unclassified()
                .with_control(DissemControl::Fouo)
                .unwrap(),
            "UNCLASSIFIED//FOUO",
            "(U//FOUO)",
        ),
        (
            Label::new(Level::TopSecret)
                .with_sci("TK", &[])
                .unwrap()
                .with_sci("SI", &["G"])
                .unwrap()
                .with_releasability(Releasability::NoForn),
            "TOP SECRET//SI-G/TK//NOFORN",
            "(TS//SI-G/TK//NF)",
        ),
        (
            Label::new(Level::TopSecret)
                .with_sci("SI", &["P", "G"])
                .unwrap()
                .with_sci("HCS", &["P"])
                .unwrap(),
            "TOP SECRET//HCS-P/SI-G-P",
            "(TS//HCS-P/SI-G-P)",
        ),
        (
            Label::new(Level::Secret).with_releasability(rel_to(&["NZL", "GBR", "CAN", "AUS"])),
            "SECRET//REL TO USA, AUS, CAN, GBR, NZL",
            "(S//REL TO USA, AUS, CAN, GBR, NZL)",
        ),
        (
            Label::new(Level::Secret).with_releasability(rel_to(&["NATO", "FVEY", "USA", "GBR"])),
            "SECRET//REL TO USA, GBR, FVEY, NATO",
            "(S//REL TO USA, GBR, FVEY, NATO)",
        ),
        (
            Label::new(Level::Secret)
                .with_control(DissemControl::Relido)
                .unwrap()
                .with_control(DissemControl::Propin)
                .unwrap()
                .with_control(DissemControl::Orcon)
                .unwrap()
                .with_releasability(rel_to(&["GBR"])),
            "SECRET//ORCON/PROPIN/REL TO USA, GBR/RELIDO",
            "(S//OC/PR/REL TO USA, GBR/RELIDO)",
        ),
        (
            Label::unclassified()
                .with_cui(
                    Cui::new()
                        .with_category("PRVCY", CategoryKind::Basic)
                        .unwrap()
                        .with_category("CTI", CategoryKind::Specified)
                        .unwrap(),
                )
                .unwrap()
                .with_releasability(Releasability::NoForn),
            "CUI//SP-CTI/PRVCY//NOFORN",
            "(CUI//SP-CTI/PRVCY//NF)",
        ),
        (
            Label::unclassified()
                .with_cui(
                    Cui::new()
                        .with_category("PRVCY", CategoryKind::Specified)
                        .unwrap()
                        .with_ldc(Ldc::FedOnly),
                )
                .unwrap(),
            "CUI//SP-PRVCY//FED ONLY",
            "(CUI//SP-PRVCY//FED ONLY)",
        ),
        (
            Label::unclassified()
                .with_cui(Cui::new().with_ldc(Ldc::DisplayOnly).with_ldc(Ldc::FedCon))
                .unwrap()
                .with_releasability(rel_to(&["GBR"])),
            "CUI//FEDCON/REL TO USA, GBR/DISPLAY ONLY",
            "(CUI//FEDCON/REL TO USA, GBR/DISPLAY ONLY)",
        ),
        (
            Label::new(Level::Secret)
                .with_releasability(Releasability::NoForn)
                .with_cui(
                    Cui::new()
                        .with_category("PRVCY", CategoryKind::Specified)
                        .unwrap(),
                )
                .unwrap(),
            "SECRET//NOFORN//CUI//SP-PRVCY",
            "(S//NF//CUI//SP-PRVCY)",
        ),
    ];
    for (label, banner, portion) in cases {
        assert_eq!(label.banner(), banner);
        assert_eq!(label.to_string(), banner);
        assert_eq!(label.portion(), portion);
    }
}

#[test]
fn builders_refuse_what_a_marking_cannot_say() {
    use MarkingError as E;
    let u = Label::unclassified;
    assert!(matches!(
        u().with_sci("SI", &[]),
        Err(E::NotAllowedAtLevel { .. })
    ));
    assert!(matches!(
        u().with_control(DissemControl::Orcon),
        Err(E::NotAllowedAtLevel { .. })
    ));
    assert!(matches!(
        Label::new(Level::Secret).with_control(DissemControl::Fouo),
        Err(E::NotAllowedAtLevel { .. })
    ));
    assert!(matches!(
        u().with_control(DissemControl::Fouo)
            .unwrap()
            .with_cui(Cui::new()),
        Err(E::Conflict { .. })
    ));
    assert!(matches!(
        u().with_cui(Cui::new())
            .unwrap()
            .with_control(DissemControl::Fouo),
        Err(E::Conflict { .. })
    ));
    assert!(matches!(
        Label::new(Level::Secret).with_sci("ZZ", &[]),
        Err(E::UnknownSciControl { .. })
    ));
    assert!(matches!(
        Label::new(Level::Secret).with_sci("SI", &["g"]),
        Err(E::MalformedCompartment { .. })
    ));
    assert_eq!(RelTo::new(["USA"]), Err(E::RelToOnlyUsa));
    assert!(matches!(
        RelTo::new(["UK"]),
        Err(E::MalformedRelToEntry { .. })
    ));
    assert!(matches!(
        Cui::new().with_category("NOFORN", CategoryKind::Basic),
        Err(E::MalformedCuiCategory { .. })
    ));
}

/// Portions roll up into a banner: highest level, union of controls, NOFORN wins, REL TO lists
/// intersect, RELIDO only if every portion carries it, FOUO and plain U absorbed.
#[test]
fn portions_roll_up_into_the_banner() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "UNCLASSIFIED"),
        (&["(U)", "(C)", "(S)"], "SECRET"),
        (
            &["(TS//SI//NF)", "(S//REL TO USA, FVEY)"],
            "TOP SECRET//SI//NOFORN",
        ),
        (
            &["(S//REL TO USA, AUS, GBR)", "(C//REL TO USA, CAN, GBR)"],
            "SECRET//REL TO USA, GBR",
        ),
        (
            &["(S//REL TO USA, AUS)", "(C//REL TO USA, CAN)"],
            "SECRET//NOFORN",
        ),
        (&["(S//REL TO USA, GBR)", "(U)"], "SECRET//REL TO USA, GBR"),
        (
            &["(TS//SI-G)", "(S//TK)", "(TS//SI-P)"],
            "TOP SECRET//SI-G-P/TK",
        ),
        (&["(S//OC)", "(C//PR)"], "SECRET//ORCON/PROPIN"),
        (&["(S//RELIDO)", "(C//RELIDO)"], "SECRET//RELIDO"),
        (&["(S//RELIDO)", "(C)"], "SECRET"),
        (&["(S//RELIDO)", "(U)"], "SECRET//RELIDO"),
        (&["(U//FOUO)", "(U)"], "UNCLASSIFIED//FOUO"),
        (&["(U//FOUO)", "(C)"], "CONFIDENTIAL"),
        (&["(U//FOUO)", "(CUI)"], "CUI"),
        (
            &["(CUI//SP-PRVCY)", "(CUI//CTI//NF)"],
            "CUI//SP-PRVCY/CTI//NOFORN",
        ),
        (&["(CUI//PRVCY)", "(CUI//SP-PRVCY)"], "CUI//SP-PRVCY"),
        (
            &["(CUI//FEDCON)", "(CUI//FED ONLY)"],
            "CUI//FED ONLY/FEDCON",
        ),
        (
            &["(S)", "(CUI//SP-PRVCY//NF)"],
            "SECRET//NOFORN//CUI//SP-PRVCY",
        ),
    ];
    for (portions, banner) in cases {
        let labels: Vec<Label> = portions
            .iter()
            .map(|p| Label::parse_portion(p).unwrap())
            .collect();
        assert_eq!(roll_up(&labels).banner(), *banner, "{portions:?}");
    }
}
