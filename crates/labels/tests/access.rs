//! `may_read`: a table of who may read what and which rule refuses, and properties tying it to
//! the lattice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{label, subject};
use proptest::prelude::*;
use scif_labels::{
    join, may_flow, may_read, meet, Denial, DissemControl, Label, Releasability, Subject,
};

fn subj(clearance: &str, nationality: &str, us_person: bool, groups: &[&str]) -> Subject {
    let clearance = Label::parse_banner(clearance).unwrap();
    groups
        .iter()
        .fold(Subject::new(clearance, nationality, us_person), |s, g| {
            s.with_group(g)
        })
}

#[test]
fn who_may_read_what() {
    let analyst = subj(
        "TOP SECRET//SI-G/TK//ORCON/PROPIN//CUI//SP-PRVCY/CTI//FED ONLY/FEDCON",
        "USA",
        true,
        &["FVEY"],
    );
    let briton = subj("SECRET", "GBR", false, &["FVEY", "NATO"]);
    let french = subj("SECRET", "FRA", false, &["NATO"]);
    let public = subj("UNCLASSIFIED", "USA", true, &[]);
    let contractor = subj("SECRET//CUI//CTI//FEDCON", "USA", true, &[]);

    let cases: &[(&Subject, &str, Result<(), Denial>)] = &[
        (&analyst, "(TS//SI-G//NF)", Ok(())),
        (&analyst, "(TS//SI-G/TK//OC/NF/PR)", Ok(())),
        (&analyst, "(S//NF//CUI//SP-PRVCY//FED ONLY)", Ok(())),
        (&analyst, "(TS//HCS//NF)", Err(Denial::Compartment)),
        (&analyst, "(TS//SI-P)", Err(Denial::Compartment)),
        (&analyst, "(CUI//SP-EXPT)", Err(Denial::CuiCategory)),
        (&analyst, "(CUI//NOCON)", Err(Denial::LimitedDissemination)),
        (&briton, "(TS)", Err(Denial::Level)),
        // No release marking on classified data: no disclosure decision, so no foreign reader.
        (&briton, "(S)", Err(Denial::NoForn)),
        (&briton, "(U)", Ok(())),
        (&briton, "(S//NF)", Err(Denial::NoForn)),
        (&briton, "(S//REL TO USA, GBR)", Ok(())),
        (&briton, "(S//REL TO USA, FVEY)", Ok(())),
        (&briton, "(S//REL TO USA, AUS)", Err(Denial::RelTo)),
        (
            &briton,
            "(S//SI//REL TO USA, GBR)",
            Err(Denial::Compartment),
        ),
        (&french, "(S//REL TO USA, FVEY)", Err(Denial::RelTo)),
        (&french, "(S//REL TO USA, NATO)", Ok(())),
        (&french, "(C//REL TO USA, FRA)", Ok(())),
        (&public, "(U)", Ok(())),
        (&public, "(U//NF)", Ok(())),
        (&public, "(U//FOUO)", Err(Denial::Fouo)),
        (&public, "(CUI)", Err(Denial::Cui)),
        (&public, "(C)", Err(Denial::Level)),
        (&contractor, "(U//FOUO)", Ok(())),
        (&contractor, "(CUI//CTI//FEDCON)", Ok(())),
        (
            &contractor,
            "(CUI//CTI//FED ONLY)",
            Err(Denial::LimitedDissemination),
        ),
        (&contractor, "(CUI//SP-CTI)", Err(Denial::CuiCategory)),
        (&contractor, "(CUI//PRVCY)", Err(Denial::CuiCategory)),
        (&contractor, "(S//OC)", Err(Denial::Orcon)),
        (&contractor, "(S//PR)", Err(Denial::Propin)),
        (&contractor, "(S//RELIDO)", Ok(())),
    ];
    for (subject, object, expected) in cases {
        let object_label = Label::parse_portion(object).unwrap();
        assert_eq!(may_read(subject, &object_label), *expected, "{object}");
    }
}

#[test]
fn a_usa_national_reads_rel_to_without_being_listed_twice() {
    let usa = subj("SECRET", "USA", false, &[]);
    let object = Label::parse_portion("(S//REL TO USA, GBR)").unwrap();
    assert_eq!(may_read(&usa, &object), Ok(()));
    let noforn = Label::parse_portion("(S//NF)").unwrap();
    assert_eq!(may_read(&usa, &noforn), Err(Denial::NoForn));
}

/// Tetragraphs are opaque, so a roll-up of a country list and a group list that overlap only
/// through group membership is NOFORN: conservative, never a leak.
#[test]
fn rel_to_roll_up_does_not_expand_groups() {
    let briton = subj("SECRET", "GBR", false, &["FVEY"]);
    let a = Label::parse_portion("(S//REL TO USA, GBR)").unwrap();
    let b = Label::parse_portion("(S//REL TO USA, FVEY)").unwrap();
    assert!(may_read(&briton, &a).is_ok() && may_read(&briton, &b).is_ok());
    let banner = join(&a, &b);
    assert_eq!(banner.banner(), "SECRET//NOFORN");
    assert_eq!(may_read(&briton, &banner), Err(Denial::NoForn));
}

#[test]
fn flow_needs_a_dominating_sink() {
    let data = Label::parse_banner("SECRET//REL TO USA, GBR").unwrap();
    let noforn_sink = Label::parse_banner("TOP SECRET//NOFORN").unwrap();
    let wide_sink = Label::parse_banner("TOP SECRET//REL TO USA, AUS, GBR").unwrap();
    assert!(may_flow(&data, &noforn_sink));
    assert!(!may_flow(&data, &wide_sink));
    assert!(!may_flow(&noforn_sink, &data));
}

#[test]
fn denials_read_without_label_text() {
    assert_eq!(
        Denial::RelTo.to_string(),
        "not releasable to the subject's country or groups"
    );
    assert_eq!(Denial::Compartment.to_string(), "SCI compartment not held");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whoever may read a label may read every label it dominates; for foreign subjects this
    /// holds among labels that carry a release decision (classified data without one is
    /// refused to them, see `foreign_subjects_never_read_unmarked_classified_data`).
    #[test]
    fn may_read_is_monotone(s in subject(), a in label(), x in label()) {
        let b = meet(&a, &x);
        let undecided = |l: &Label| l.level().is_classified() && matches!(l.releasability(), Releasability::Unrestricted);
        prop_assume!(s.us_person || !(undecided(&a) || undecided(&x) || undecided(&b) || undecided(&join(&a, &x))));
        if may_read(&s, &a).is_ok() {
            prop_assert_eq!(may_read(&s, &b), Ok(()), "{} then {}", a.banner(), b.banner());
        }
        if may_read(&s, &join(&a, &x)).is_ok() {
            prop_assert!(may_read(&s, &a).is_ok() && may_read(&s, &x).is_ok());
        }
    }

    #[test]
    fn foreign_subjects_never_read_unmarked_classified_data(s in subject(), o in label()) {
        let s = Subject { us_person: false, ..s };
        if o.level().is_classified() && matches!(o.releasability(), Releasability::Unrestricted) {
            prop_assert!(may_read(&s, &o).is_err());
        }
    }

    /// For a US person, reading is exactly dominance by the clearance (with releasability
    /// widened to NOFORN, since a US person passes every releasability check).
    #[test]
    fn us_person_reads_what_the_clearance_dominates(s in subject(), o in label()) {
        prop_assume!(!s.clearance.has_control(DissemControl::Relido));
        let s = Subject { us_person: true, ..s };
        let widest = s.clearance.clone().with_releasability(Releasability::NoForn);
        prop_assert_eq!(may_read(&s, &o).is_ok(), widest.dominates(&o));
    }
}
