//! The adversarial generator: every entity type and every marking form below, under every
//! transform a user (or a model) might apply to get it past the detectors, alone and combined,
//! on input and on output, whole and streamed split at every byte boundary. Recall and
//! precision are counted per type and per transform, printed as a table (`cargo test -p
//! scif-guardrails --test adversarial -- --nocapture`), and held to the floors recorded here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use scif_guardrails::policy::{Guardrail, GuardrailSpec, Kind, Policy, Source};
use scif_guardrails::stream::{Step, StreamGuard};
use scif_guardrails::EntityType;
use scif_labels::Label;

/// An entity as a sentence gives it: the context before, the value, the type.
struct Sample {
    entity: &'static str,
    before: &'static str,
    value: &'static str,
    /// The key a JSON object or an XML element would give it.
    key: &'static str,
}

const SAMPLES: &[Sample] = &[
    Sample {
        entity: "US_SOCIAL_SECURITY_NUMBER",
        before: "my SSN is ",
        value: "536-22-8741",
        key: "ssn",
    },
    Sample {
        entity: "US_SOCIAL_SECURITY_NUMBER",
        before: "social security number ",
        value: "536228741",
        key: "ssn",
    },
    Sample {
        entity: "EMAIL",
        before: "write to ",
        value: "maria.garcia@example.com",
        key: "email",
    },
    Sample {
        entity: "PHONE",
        before: "call me at ",
        value: "(415) 555-0132",
        key: "phone",
    },
    Sample {
        entity: "CREDIT_DEBIT_CARD_NUMBER",
        before: "card number ",
        value: "4111 1111 1111 1111",
        key: "card",
    },
    Sample {
        entity: "NAME",
        before: "the patient is ",
        value: "María García",
        key: "name",
    },
    Sample {
        entity: "NAME",
        before: "my name is ",
        value: "John Smith",
        key: "name",
    },
    Sample {
        entity: "MEDICAL_RECORD_NUMBER",
        before: "medical record # ",
        value: "MRN-4471023",
        key: "mrn",
    },
    Sample {
        entity: "US_PASSPORT_NUMBER",
        before: "passport number ",
        value: "C03005988",
        key: "passport",
    },
    Sample {
        entity: "IP_ADDRESS",
        before: "the server at ",
        value: "192.168.14.201",
        key: "ip",
    },
    Sample {
        entity: "DATE",
        before: "date of birth ",
        value: "03/14/1962",
        key: "dob",
    },
    Sample {
        entity: "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
        before: "IBAN ",
        value: "DE89370400440532013000",
        key: "iban",
    },
];

/// Values that look like entities but are not (invalid check digits or ranges, versions, order
/// numbers), under the same transforms: none may be reported as the type beside it.
const NEGATIVES: &[(&str, &str)] = &[
    ("US_SOCIAL_SECURITY_NUMBER", "order 000-12-3456 shipped"),
    ("US_SOCIAL_SECURITY_NUMBER", "ticket 666-45-1234 closed"),
    (
        "CREDIT_DEBIT_CARD_NUMBER",
        "reference 4111 1111 1111 1112 noted",
    ),
    ("IP_ADDRESS", "version 1.2.3.4000 released"),
    ("NAME", "the weather in Springfield was mild"),
    ("EMAIL", "the word at sign means nothing here"),
];

type Transform = fn(&Sample) -> String;
type MarkingTransform = fn(&str) -> String;

fn plain(s: &Sample) -> String {
    format!("{}{} thanks", s.before, s.value)
}

fn map_digits(v: &str, base: u32) -> String {
    v.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(base + d).unwrap(),
            _ => c,
        })
        .collect()
}

fn fullwidth(s: &Sample) -> String {
    let v: String = s
        .value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap()
            } else {
                c
            }
        })
        .collect();
    format!("{}{v} thanks", s.before)
}

fn arabic_indic(s: &Sample) -> String {
    format!("{}{} thanks", s.before, map_digits(s.value, 0x0660))
}

fn interleave(v: &str, with: &str) -> String {
    let mut out = String::new();
    for (i, c) in v.chars().enumerate() {
        if i > 0 && c.is_alphanumeric() {
            out.push_str(with);
        }
        out.push(c);
    }
    out
}

fn zero_width(s: &Sample) -> String {
    format!("{}{} thanks", s.before, interleave(s.value, "\u{200B}"))
}

fn soft_hyphen(s: &Sample) -> String {
    format!("{}{} thanks", s.before, interleave(s.value, "\u{00AD}"))
}

fn nbsp(s: &Sample) -> String {
    format!(
        "{}{} thanks",
        s.before.replace(' ', "\u{00A0}"),
        s.value.replace(' ', "\u{00A0}")
    )
}

fn dashes(s: &Sample) -> String {
    format!("{}{} thanks", s.before, s.value.replace('-', "\u{2013}"))
}

fn homoglyphs(s: &Sample) -> String {
    let v: String = s
        .value
        .chars()
        .map(|c| match c {
            'a' => 'а',
            'e' => 'е',
            'o' => 'о',
            'c' => 'с',
            'p' => 'р',
            'S' => 'Ѕ',
            'M' => 'М',
            _ => c,
        })
        .collect();
    format!("{}{v} thanks", s.before)
}

fn json_compact(s: &Sample) -> String {
    format!("{{\"{}\":\"{}\"}}", s.key, s.value)
}

fn json_escaped(s: &Sample) -> String {
    let v: String = s
        .value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    format!("{{\"{}\": \"{v}\", \"note\": \"x\"}}", s.key)
}

fn json_in_prose(s: &Sample) -> String {
    format!(
        "Here is the record: {{\"id\":7,\"{}\":\"{}\"}} as requested.",
        s.key, s.value
    )
}

fn xml(s: &Sample) -> String {
    format!("<record><{k}>{v}</{k}></record>", k = s.key, v = s.value)
}

fn markdown(s: &Sample) -> String {
    format!("{}**{}** thanks", s.before, s.value)
}

fn backticks(s: &Sample) -> String {
    format!("{}`{}` thanks", s.before, s.value)
}

fn html_entities(s: &Sample) -> String {
    let v: String = s
        .value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                format!("&#{};", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    format!("{}{v} thanks", s.before)
}

fn nfd(s: &Sample) -> String {
    let v = s
        .value
        .replace('í', "i\u{0301}")
        .replace('á', "a\u{0301}")
        .replace('é', "e\u{0301}");
    format!("{}{v} thanks", s.before)
}

fn context_in_previous_line(s: &Sample) -> String {
    format!("{}\n{} thanks", s.before.trim_end(), s.value)
}

fn base64(s: &Sample) -> String {
    format!("{}{} thanks", s.before, b64(s.value.as_bytes()))
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn json_zero_width_fullwidth(s: &Sample) -> String {
    let inner = Sample {
        value: Box::leak(
            interleave(
                &fullwidth(s)[s.before.len()..].replace(" thanks", ""),
                "\u{200C}",
            )
            .into_boxed_str(),
        ),
        ..*s
    };
    json_compact(&inner)
}

fn upper_context(s: &Sample) -> String {
    format!(
        "{}{} THANKS",
        s.before.to_uppercase(),
        s.value.to_uppercase()
    )
}

fn lower_context(s: &Sample) -> String {
    format!("{}{} thanks", s.before, s.value.to_lowercase())
}

const TRANSFORMS: &[(&str, Transform)] = &[
    ("plain", plain),
    ("fullwidth", fullwidth),
    ("arabic_indic_digits", arabic_indic),
    ("zero_width", zero_width),
    ("soft_hyphen", soft_hyphen),
    ("nbsp", nbsp),
    ("unicode_dashes", dashes),
    ("homoglyphs", homoglyphs),
    ("json_compact", json_compact),
    ("json_u_escapes", json_escaped),
    ("json_in_prose", json_in_prose),
    ("xml", xml),
    ("markdown_bold", markdown),
    ("backticks", backticks),
    ("html_entities", html_entities),
    ("nfd", nfd),
    ("context_on_previous_line", context_in_previous_line),
    ("base64", base64),
    ("json+zero_width+fullwidth", json_zero_width_fullwidth),
    ("all_caps", upper_context),
    ("lowercase", lower_context),
];

/// Transforms that do not apply to a type (they change what the value is).
fn applies(entity: &str, transform: &str) -> bool {
    match transform {
        // Lowercasing a name, an e-mail or an IBAN keeps it; upper-casing an e-mail too. A
        // lowercased MRN or passport number is a different string; skip those.
        "lowercase" | "all_caps" => matches!(
            entity,
            "NAME" | "EMAIL" | "US_SOCIAL_SECURITY_NUMBER" | "PHONE"
        ),
        "nfd" => entity == "NAME",
        _ => true,
    }
}

fn policy_for(entities: &[&str]) -> Arc<Policy> {
    let pii: Vec<String> = entities
        .iter()
        .map(|e| format!(r#"{{"type":"{e}","action":"ANONYMIZE"}}"#))
        .collect();
    let spec = format!(
        r#"{{"name":"adv","sensitiveInformationPolicyConfig":{{"piiEntitiesConfig":[{}]}}}}"#,
        pii.join(",")
    );
    let g = Guardrail {
        id: "adv".into(),
        version: 1,
        spec: GuardrailSpec::from_json(spec.as_bytes()).unwrap(),
    };
    Arc::new(Policy::new(&[&g]).unwrap())
}

fn all_types() -> Vec<&'static str> {
    let mut v: Vec<&str> = SAMPLES.iter().map(|s| s.entity).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Streams `text` through a guard split at `at` and returns what the client gets.
fn streamed(
    policy: &Arc<Policy>,
    text: &str,
    at: usize,
    ceiling: Option<scif_guardrails::stream::OwnedCeiling>,
) -> Result<String, String> {
    let mut g = StreamGuard::new(policy.clone(), ceiling);
    let mut out = String::new();
    for part in [&text[..at], &text[at..]] {
        match g.push(part) {
            Step::Emit(s) => out.push_str(&s),
            Step::Blocked { message } => return Err(message),
        }
    }
    match g.finish() {
        Step::Emit(s) => out.push_str(&s),
        Step::Blocked { message } => return Err(message),
    }
    Ok(out)
}

/// Whether the masked output still shows the value: any run of 4 or more of its
/// alphanumerics (after folding what the transform did) survives.
fn leaks(output: &str, value: &str) -> bool {
    let fold = |s: &str| -> String {
        scif_guardrails::normalize::View::new(s)
            .text()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    let v = fold(value);
    let o = fold(output);
    if v.len() < 4 {
        return o.contains(&v);
    }
    v.as_bytes().windows(4.min(v.len())).any(|w| {
        o.contains(std::str::from_utf8(w).unwrap_or("")) && w.iter().any(u8::is_ascii_digit)
    }) || (!v.bytes().any(|c| c.is_ascii_digit()) && o.contains(&v))
}

#[derive(Default, Clone, Copy)]
struct Tally {
    hit: usize,
    total: usize,
}

#[test]
fn entities_under_every_transform() {
    let types = all_types();
    let policy = policy_for(&types);
    let mut by_transform: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_type: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut stream_mismatch = Vec::new();
    for s in SAMPLES {
        let t = EntityType::from_name(s.entity).unwrap();
        for (name, f) in TRANSFORMS {
            if !applies(s.entity, name) {
                continue;
            }
            let text = f(s);
            for source in [Source::Input, Source::Output] {
                let o = policy.evaluate(&text, source, None);
                let found = o.detections.iter().any(|d| d.kind == Kind::Pii(t));
                let ok = found && !leaks(&o.output, s.value);
                for tally in [
                    by_transform.entry(name).or_default(),
                    by_type.entry(s.entity).or_default(),
                ] {
                    tally.total += 1;
                    tally.hit += usize::from(ok);
                }
                if !ok {
                    misses.push(format!(
                        "{} / {name} / {source:?}: {text:?} -> {:?}",
                        s.entity, o.output
                    ));
                }
                if source == Source::Output {
                    // Streamed split at every byte boundary: exactly the whole answer's form.
                    for at in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
                        let got = streamed(&policy, &text, at, None);
                        if got.as_deref() != Ok(o.output.as_str()) {
                            stream_mismatch.push(format!(
                                "{} / {name} split at {at}: {got:?} vs {:?}",
                                s.entity, o.output
                            ));
                            break;
                        }
                    }
                }
            }
        }
    }
    eprintln!("\n| transform | recall |\n|---|---:|");
    for (n, t) in &by_transform {
        eprintln!(
            "| {n} | {:.2} ({}/{}) |",
            t.hit as f64 / t.total as f64,
            t.hit,
            t.total
        );
    }
    eprintln!("\n| type | recall |\n|---|---:|");
    for (n, t) in &by_type {
        eprintln!(
            "| {n} | {:.2} ({}/{}) |",
            t.hit as f64 / t.total as f64,
            t.hit,
            t.total
        );
    }
    for m in &misses {
        eprintln!("miss: {m}");
    }
    assert!(
        stream_mismatch.is_empty(),
        "streamed differs from whole: {stream_mismatch:#?}"
    );
    // Floors, recorded: every transform holds for every type.
    for (n, t) in &by_transform {
        let recall = t.hit as f64 / t.total as f64;
        assert!(recall >= 1.0, "{n}: recall {recall:.2}");
    }
}

#[test]
fn look_alikes_stay_unreported_under_transforms() {
    let types = all_types();
    let policy = policy_for(&types);
    let mut false_positives = Vec::new();
    let mut total = 0;
    for (entity, text) in NEGATIVES {
        let t = EntityType::from_name(entity).unwrap();
        for (name, f) in TRANSFORMS {
            if matches!(
                *name,
                "json_compact"
                    | "json_u_escapes"
                    | "json_in_prose"
                    | "xml"
                    | "base64"
                    | "json+zero_width+fullwidth"
            ) {
                continue;
            }
            let s = Sample {
                entity,
                before: "",
                value: text,
                key: "note",
            };
            let variant = f(&s);
            total += 1;
            let o = policy.evaluate(&variant, Source::Input, None);
            if o.detections.iter().any(|d| d.kind == Kind::Pii(t)) {
                false_positives.push(format!("{entity} / {name}: {variant:?}"));
            }
        }
    }
    let precision = 1.0 - false_positives.len() as f64 / total as f64;
    eprintln!(
        "negatives: {} of {total} reported; {false_positives:#?}",
        false_positives.len()
    );
    assert!(precision >= 1.0, "{false_positives:#?}");
}

/// Every marking form people write, under the Unicode transforms, whole and streamed.
#[test]
fn markings_under_every_form_and_transform() {
    let forms = [
        "SECRET//NOFORN",
        "**SECRET//NOFORN**",
        "`SECRET//NOFORN`",
        "\u{201C}SECRET//NOFORN\u{201D}",
        "the memo (SECRET//NOFORN) says",
        "SECRET//NOFORN!",
        "secret//noforn",
        "SECRET // NOFORN",
        "SECRET/NOFORN",
        "SECRET\u{FF0F}\u{FF0F}NOFORN",
        "SECRET\u{2215}\u{2215}NOFORN",
        "TS//SI//NF",
        "S E C R E T // N O F O R N",
        "classification: secret",
        "Classification: SECRET",
        "{\"banner\":\"SECRET//NOFORN\",\"body\":\"x\"}",
        "{\"note\": \"see SECRET\\/\\/NOFORN\"}",
        "<classification>SECRET//NOFORN</classification>",
        "(S//NF) The unit moved.",
        "TOP SECRET//SI//NOFORN",
    ];
    let transforms: [(&str, MarkingTransform); 6] = [
        ("plain", |s| s.to_owned()),
        ("zero_width", |s| {
            s.replace("CR", "C\u{200B}R").replace("cr", "c\u{200B}r")
        }),
        ("cyrillic_e", |s| s.replacen('E', "\u{0415}", 1)),
        ("fullwidth_letters", |s| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_uppercase() {
                        char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap()
                    } else {
                        c
                    }
                })
                .collect()
        }),
        ("bidi_and_soft_hyphen", |s| {
            s.replace("SEC", "S\u{202D}E\u{00AD}C")
        }),
        ("nbsp", |s| s.replace(' ', "\u{00A0}")),
    ];
    let policy = Arc::new(Policy::new(&[]).unwrap());
    let unclassified = Label::unclassified();
    let allowed = |l: &Label| unclassified.dominates(l);
    let mut missed = Vec::new();
    let mut total = 0;
    for form in forms {
        for (tname, t) in &transforms {
            let text = format!("Summary follows.\n{}\nEnd.", t(form));
            for source in [Source::Input, Source::Output] {
                total += 1;
                let o = policy.evaluate(&text, source, Some(&allowed));
                if !o.blocked {
                    missed.push(format!("{form:?} / {tname} / {source:?}"));
                    continue;
                }
                if source == Source::Output {
                    let ceiling: scif_guardrails::stream::OwnedCeiling =
                        Arc::new(move |l: &Label| Label::unclassified().dominates(l));
                    for at in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
                        let got = streamed(&policy, &text, at, Some(ceiling.clone()));
                        match got {
                            Err(_) => {}
                            Ok(out) => {
                                missed.push(format!(
                                    "{form:?} / {tname} streamed split at {at}: {out:?}"
                                ));
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!("markings: {} of {total} missed", missed.len());
    assert!(missed.is_empty(), "{missed:#?}");
}
