#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use scif_audit::*;
use serde_json::{Map, Value};

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn arb_event() -> impl Strategy<Value = Event> {
    (
        ".{0,16}",
        proptest::option::of(".{0,16}"),
        "[a-z_]{1,12}",
        prop_oneof![Just("allow"), Just("deny"), Just("error"), Just("info")],
        proptest::collection::vec(".{0,8}", 0..3),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec((".{0,8}", arb_scalar()), 0..5),
    )
        .prop_map(
            |(time, principal, action, decision, reasons, tokens, detail)| Event {
                time,
                principal,
                action,
                decision: decision.into(),
                reasons,
                prompt_tokens: tokens,
                detail: detail.into_iter().collect(),
                ..Event::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_is_deterministic_and_order_independent(
        pairs in proptest::collection::vec((".{0,8}", arb_scalar()), 0..12)
    ) {
        let mut fwd = Map::new();
        for (k, v) in &pairs { fwd.insert(k.clone(), v.clone()); }
        // Same final contents, inserted in reverse order (keep last-wins semantics).
        let mut rev = Map::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in pairs.iter().rev() {
            if seen.insert(k.clone()) { rev.insert(k.clone(), v.clone()); }
        }
        let nested_f = Value::Object(Map::from_iter([("x".to_string(), Value::Object(fwd.clone()))]));
        let nested_r = Value::Object(Map::from_iter([("x".to_string(), Value::Object(rev.clone()))]));
        let a = canonical_json(&Value::Object(fwd));
        prop_assert_eq!(&a, &canonical_json(&Value::Object(rev)));
        prop_assert_eq!(canonical_json(&nested_f), canonical_json(&nested_r));
        // Stable under parse/re-encode.
        let back: Value = serde_json::from_str(&a).unwrap();
        prop_assert_eq!(&a, &canonical_json(&back));
        let mut e = Event { time: "t".into(), action: "a".into(), decision: "info".into(), ..Event::default() };
        e.detail = serde_json::from_str::<Map<String, Value>>(&a).unwrap();
        let h1 = compute_hash(1, "n", GENESIS_HASH, &e).unwrap();
        prop_assert_eq!(h1, compute_hash(1, "n", GENESIS_HASH, &e.clone()).unwrap());
    }

    #[test]
    fn any_single_byte_change_is_detected(e in arb_event(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (_, line) = build_record(42, "node", GENESIS_HASH, &e).unwrap();
        let mut bytes = line.into_bytes();
        prop_assert!(verify_record_line(&bytes).is_ok());
        // Restrict to the event object: `{"event":` .. `,"hash":`.
        let start = 9;
        let end = bytes.windows(8).position(|w| w == b",\"hash\":").unwrap();
        let i = start + pos.index(end - start);
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        prop_assert!(verify_record_line(&bytes).is_err());
    }

    #[test]
    fn any_single_byte_change_anywhere_in_line_is_detected(e in arb_event(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (_, line) = build_record(7, "node", GENESIS_HASH, &e).unwrap();
        let mut bytes = line.into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        prop_assert!(verify_record_line(&bytes).is_err());
    }
}
