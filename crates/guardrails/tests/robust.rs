//! Arbitrary input never panics the inspection path, and every span it reports lies on
//! character boundaries of the original text: random Unicode, partial escapes and references,
//! lone surrogates, unclosed tags, stray quotes and brackets, streamed in random pieces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use proptest::prelude::*;
use scif_guardrails::normalize::View;
use scif_guardrails::policy::{Guardrail, GuardrailSpec, Policy, Source};
use scif_guardrails::stream::{Step, StreamGuard};
use scif_labels::Label;

fn policy() -> Arc<Policy> {
    let spec = r#"{"name":"all","sensitiveInformationPolicyConfig":{"piiEntitiesConfig":[
        {"type":"US_SOCIAL_SECURITY_NUMBER","action":"ANONYMIZE"},{"type":"EMAIL","action":"ANONYMIZE"},
        {"type":"NAME","action":"ANONYMIZE"},{"type":"PHONE","action":"ANONYMIZE"}],
        "regexesConfig":[{"name":"case","pattern":"CASE-[0-9]{4}","action":"ANONYMIZE"}]},
        "wordPolicyConfig":{"wordsConfig":[{"text":"bluebird"}],"managedWordListsConfig":[{"type":"PROFANITY"}]},
        "contentPolicyConfig":{"filtersConfig":[{"type":"PROMPT_ATTACK","inputStrength":"HIGH","outputStrength":"NONE"}]}}"#;
    let g = Guardrail {
        id: "all".into(),
        version: 1,
        spec: GuardrailSpec::from_json(spec.as_bytes()).unwrap(),
    };
    Arc::new(Policy::new(&[&g]).unwrap())
}

/// Pieces an attacker would mix: escapes cut short, references, tags, quotes, markings, digits
/// of other scripts, invisible characters, look-alikes.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\\u00".to_owned()),
        Just("\\ud800".to_owned()),
        Just("\\u0035".to_owned()),
        Just("\\".to_owned()),
        Just("&#".to_owned()),
        Just("&#x1F600;".to_owned()),
        Just("&#99999999;".to_owned()),
        Just("&amp".to_owned()),
        Just("<ssn>".to_owned()),
        Just("</".to_owned()),
        Just("<".to_owned()),
        Just("{\"ssn\":\"".to_owned()),
        Just("\",".to_owned()),
        Just("]}".to_owned()),
        Just("**".to_owned()),
        Just("`".to_owned()),
        Just("SECRET//".to_owned()),
        Just("(S".to_owned()),
        Just("S E C".to_owned()),
        Just("536-22-8741".to_owned()),
        Just("\u{0665}\u{0663}".to_owned()),
        Just("\u{200B}\u{00AD}\u{202E}".to_owned()),
        Just("\u{E0053}\u{E0045}".to_owned()),
        Just("\u{0415}\u{0421}".to_owned()),
        Just("e\u{0301}".to_owned()),
        Just("\u{FB01}".to_owned()),
        Just("\n".to_owned()),
        Just(" ".to_owned()),
        any::<char>().prop_map(|c| c.to_string()),
        "[a-zA-Z0-9@.:/ ]{1,12}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_view_maps_back_inside_the_text(s in text()) {
        let v = View::new(&s);
        let n = v.text().len();
        prop_assert!(v.stable() <= s.len());
        let mut last = 0;
        // Detectors report spans on the view's character boundaries.
        for i in (0..=n).filter(|i| v.text().is_char_boundary(*i)) {
            let o = v.start(i);
            prop_assert!(o <= s.len() && s.is_char_boundary(o), "start({i}) = {o}");
            prop_assert!(o >= last, "not monotone at {i}");
            last = o;
            if i > 0 {
                let e = v.end(i);
                prop_assert!(e <= s.len() && s.is_char_boundary(e), "end({i}) = {e}");
            }
        }
    }

    #[test]
    fn evaluation_and_streaming_never_panic(s in text(), cuts in prop::collection::vec(0usize..64, 0..6)) {
        let p = policy();
        let unclassified = Label::unclassified();
        let allowed = |l: &Label| unclassified.dominates(l);
        for source in [Source::Input, Source::Output] {
            let o = p.evaluate(&s, source, Some(&allowed));
            for d in &o.detections {
                prop_assert!(d.start <= d.end && d.end <= s.len());
                prop_assert!(s.is_char_boundary(d.start) && s.is_char_boundary(d.end));
            }
        }
        let whole = p.evaluate(&s, Source::Output, None);
        let mut g = StreamGuard::new(p.clone(), None);
        let mut out = String::new();
        let mut at = 0;
        let mut blocked = false;
        for c in cuts {
            let mut to = (at + c).min(s.len());
            while !s.is_char_boundary(to) {
                to += 1;
            }
            match g.push(&s[at..to]) {
                Step::Emit(x) => out.push_str(&x),
                Step::Blocked { .. } => blocked = true,
            }
            at = to;
        }
        match g.push(&s[at..]) {
            Step::Emit(x) => out.push_str(&x),
            Step::Blocked { .. } => blocked = true,
        }
        match g.finish() {
            Step::Emit(x) => out.push_str(&x),
            Step::Blocked { .. } => blocked = true,
        }
        if !blocked && !whole.blocked {
            prop_assert_eq!(out, whole.output);
        }
    }
}
