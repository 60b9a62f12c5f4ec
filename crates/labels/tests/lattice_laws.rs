//! The label lattice obeys the lattice laws, and every label round-trips through both forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{label, neighbours};
use proptest::prelude::*;
use scif_labels::{dominates, join, meet, roll_up, Label};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(1024)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn print_parse_round_trips(l in label()) {
        let banner = l.banner();
        let portion = l.portion();
        prop_assert_eq!(Label::parse_banner(&banner), Ok(l.clone()), "{}", banner);
        prop_assert_eq!(Label::parse_portion(&portion), Ok(l.clone()), "{}", portion);
        prop_assert_eq!(Label::parse_banner(&banner).unwrap().banner(), banner);
        prop_assert_eq!(Label::parse_portion(&portion).unwrap().portion(), portion);
    }

    #[test]
    fn dominates_is_reflexive(a in label()) {
        prop_assert!(dominates(&a, &a));
    }

    #[test]
    fn dominates_is_antisymmetric(a in label(), b in label()) {
        if dominates(&a, &b) && dominates(&b, &a) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn dominates_is_transitive(a in label(), b in label(), c in label()) {
        if dominates(&a, &b) && dominates(&b, &c) {
            prop_assert!(dominates(&a, &c));
        }
        // A chain built to hold, so the law is exercised on every case.
        let b2 = meet(&a, &b);
        let c2 = meet(&b2, &c);
        prop_assert!(dominates(&a, &b2) && dominates(&b2, &c2) && dominates(&a, &c2));
    }

    #[test]
    fn dominates_agrees_with_join_and_meet(a in label(), b in label()) {
        let d = dominates(&a, &b);
        prop_assert_eq!(d, join(&a, &b) == a);
        prop_assert_eq!(d, meet(&a, &b) == b);
    }

    #[test]
    fn join_and_meet_are_commutative(a in label(), b in label()) {
        prop_assert_eq!(join(&a, &b), join(&b, &a));
        prop_assert_eq!(meet(&a, &b), meet(&b, &a));
    }

    #[test]
    fn join_and_meet_are_associative(a in label(), b in label(), c in label()) {
        prop_assert_eq!(join(&join(&a, &b), &c), join(&a, &join(&b, &c)));
        prop_assert_eq!(meet(&meet(&a, &b), &c), meet(&a, &meet(&b, &c)));
    }

    #[test]
    fn join_and_meet_are_idempotent(a in label()) {
        prop_assert_eq!(join(&a, &a), a.clone());
        prop_assert_eq!(meet(&a, &a), a);
    }

    #[test]
    fn join_and_meet_absorb(a in label(), b in label()) {
        prop_assert_eq!(join(&a, &meet(&a, &b)), a.clone());
        prop_assert_eq!(meet(&a, &join(&a, &b)), a);
    }

    #[test]
    fn join_is_the_least_upper_bound(a in label(), b in label(), c in label()) {
        let j = join(&a, &b);
        prop_assert!(dominates(&j, &a) && dominates(&j, &b));
        if dominates(&c, &a) && dominates(&c, &b) {
            prop_assert!(dominates(&c, &j));
        }
        // No label just below the join is still an upper bound.
        for n in neighbours(&j) {
            if dominates(&j, &n) {
                prop_assert!(!(dominates(&n, &a) && dominates(&n, &b)), "{}", n.banner());
            }
        }
    }

    #[test]
    fn meet_is_the_greatest_lower_bound(a in label(), b in label(), c in label()) {
        let m = meet(&a, &b);
        prop_assert!(dominates(&a, &m) && dominates(&b, &m));
        if dominates(&a, &c) && dominates(&b, &c) {
            prop_assert!(dominates(&m, &c));
        }
        // No label just above the meet is still a lower bound.
        for n in neighbours(&m) {
            if dominates(&n, &m) {
                prop_assert!(!(dominates(&a, &n) && dominates(&b, &n)), "{}", n.banner());
            }
        }
    }

    #[test]
    fn join_and_meet_results_are_canonical(a in label(), b in label()) {
        for l in [join(&a, &b), meet(&a, &b)] {
            prop_assert_eq!(Label::parse_banner(&l.banner()), Ok(l.clone()));
            prop_assert_eq!(Label::parse_portion(&l.portion()), Ok(l));
        }
    }

    #[test]
    fn unclassified_is_the_bottom(a in label()) {
        let bottom = Label::unclassified();
        prop_assert!(dominates(&a, &bottom));
        prop_assert_eq!(join(&a, &bottom), a.clone());
        prop_assert_eq!(meet(&a, &bottom), bottom);
    }

    #[test]
    fn roll_up_is_the_join_of_all(ls in prop::collection::vec(label(), 0..6)) {
        let expected = ls.iter().fold(Label::unclassified(), |acc, l| join(&acc, l));
        let banner = roll_up(&ls);
        prop_assert_eq!(&banner, &expected);
        for l in &ls {
            prop_assert!(dominates(&banner, l));
        }
    }
}
