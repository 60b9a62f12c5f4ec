//! A bounded, stable-Rust stand-in for the cargo-fuzz target (`fuzz/`): marking-like strings
//! built from real tokens, plus mutations of valid markings. The parsers must never panic, and
//! whatever they accept must print and parse back to the same label in both forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use proptest::prelude::*;
use scif_labels::{Form, Label};

const TOKENS: &[&str] = &[
    "//",
    "//",
    "/",
    "-",
    ", ",
    "(",
    ")",
    " ",
    "REL TO ",
    "REL TO",
    "USA",
    "USA",
    "GBR",
    "AUS",
    "FVEY",
    "NATO",
    "UNCLASSIFIED",
    "CONFIDENTIAL",
    "SECRET",
    "TOP SECRET",
    "U",
    "C",
    "S",
    "TS",
    "CUI",
    "SP-",
    "PRVCY",
    "CTI",
    "NOFORN",
    "NF",
    "ORCON",
    "OC",
    "PROPIN",
    "PR",
    "RELIDO",
    "FOUO",
    "FED ONLY",
    "FEDCON",
    "NOCON",
    "DL ONLY",
    "DISPLAY ONLY",
    "SI",
    "TK",
    "HCS",
    "G",
    "P",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(TOKENS).prop_map(str::to_owned),
        2 => "[A-Z]{1,5}",
        1 => any::<String>().prop_map(|s| s.chars().take(3).collect()),
    ]
}

fn soup() -> impl Strategy<Value = String> {
    (prop::collection::vec(token(), 0..14), any::<bool>()).prop_map(|(tokens, paren)| {
        let body = tokens.concat();
        if paren {
            format!("({body})")
        } else {
            body
        }
    })
}

/// A valid marking with one token inserted, removed or replaced.
fn mutated() -> impl Strategy<Value = String> {
    (common::label(), any::<bool>(), 0usize..64, 0u8..3, token()).prop_map(
        |(label, portion, at, op, tok)| {
            let text = if portion {
                label.portion()
            } else {
                label.banner()
            };
            let mut pieces: Vec<String> = text
                .split_inclusive(['/', ',', ' ', '-'])
                .map(str::to_owned)
                .collect();
            let i = at % (pieces.len() + 1);
            match op {
                0 => pieces.insert(i, tok),
                1 if i < pieces.len() => {
                    pieces.remove(i);
                }
                _ if i < pieces.len() => pieces[i] = tok,
                _ => pieces.push(tok),
            }
            pieces.concat()
        },
    )
}

fn check(input: &str) -> Result<(), TestCaseError> {
    for form in [Form::Banner, Form::Portion] {
        if let Ok(label) = Label::parse(input, form) {
            let banner = label.banner();
            let portion = label.portion();
            prop_assert_eq!(Label::parse_banner(&banner), Ok(label.clone()), "{}", input);
            prop_assert_eq!(
                Label::parse_portion(&portion),
                Ok(label.clone()),
                "{}",
                input
            );
            prop_assert_eq!(
                Label::parse(&label.marking(form), form)
                    .unwrap()
                    .marking(form),
                label.marking(form)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn token_soup_never_panics_and_round_trips(input in soup()) {
        check(&input)?;
    }

    #[test]
    fn mutated_markings_never_panic_and_round_trip(input in mutated()) {
        check(&input)?;
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        check(&input)?;
    }
}
