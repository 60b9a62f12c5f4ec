//! Spillage: text marked at each level, against ceilings (a principal's clearance, an
//! endpoint's accreditation) at each level.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_guardrails::markings;
use scif_guardrails::policy::{Kind, Policy, Source};
use scif_labels::Label;

const LEVELS: &[(&str, &str)] = &[
    ("UNCLASSIFIED", "U"),
    ("CONFIDENTIAL", "C"),
    ("SECRET", "S"),
    ("TOP SECRET", "TS"),
];

#[test]
fn each_level_against_each_ceiling() {
    let p = Policy::new(&[]).unwrap();
    for (ci, (ceiling_name, _)) in LEVELS.iter().enumerate() {
        let ceiling = Label::parse_banner(ceiling_name).unwrap();
        let allowed = |l: &Label| ceiling.dominates(l);
        for (mi, (banner, portion)) in LEVELS.iter().enumerate() {
            let texts = [
                format!("{banner}\nThe report follows.\n{banner}"),
                format!("({portion}) The report follows. (U) Nothing else."),
            ];
            for text in &texts {
                for source in [Source::Input, Source::Output] {
                    let o = p.evaluate(text, source, Some(&allowed));
                    let spill = mi > ci;
                    assert_eq!(o.blocked, spill, "{text:?} against {ceiling_name}");
                    if spill {
                        let Kind::Spillage(m) = &o.detections[0].kind else {
                            panic!("{:?}", o.detections)
                        };
                        assert!(
                            m.starts_with(banner) || m.starts_with(&format!("({portion}")),
                            "{m}"
                        );
                        assert!(!o.output.contains("report"));
                        assert!(o.output.contains(m.as_str()), "{}", o.output);
                    }
                }
            }
        }
    }
}

#[test]
fn inline_markings_with_caveats() {
    let p = Policy::new(&[]).unwrap();
    for (ceiling_name, _) in LEVELS {
        let ceiling = Label::parse_banner(ceiling_name).unwrap();
        let allowed = |l: &Label| ceiling.dominates(l);
        for (banner, _) in &LEVELS[1..] {
            let marking = format!("{banner}//NOFORN");
            let text = format!("Please summarize this {marking} memo.");
            let found = markings::find(&text);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!(found[0].canonical(), marking);
            let o = p.evaluate(&text, Source::Input, Some(&allowed));
            assert_eq!(
                o.blocked,
                !ceiling.dominates(&found[0].label),
                "{text} against {ceiling_name}"
            );
        }
    }
}

#[test]
fn compartments_and_caveats_count() {
    let p = Policy::new(&[]).unwrap();
    let ceiling = Label::parse_banner("TOP SECRET").unwrap();
    let allowed = |l: &Label| ceiling.dominates(l);
    // The level is within the clearance but the compartment is not.
    let o = p.evaluate(
        "TOP SECRET//SI//NOFORN\nbody",
        Source::Input,
        Some(&allowed),
    );
    assert!(o.blocked);
    let o = p.evaluate("TOP SECRET\nbody", Source::Input, Some(&allowed));
    assert!(!o.blocked);
    // CUI above an UNCLASSIFIED-only ceiling.
    let u = Label::parse_banner("UNCLASSIFIED").unwrap();
    assert_eq!(markings::above("CUI//SP-PRVCY\nrecord", &u).len(), 1);
}
