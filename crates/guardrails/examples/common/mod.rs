//! What the guardrail benchmarks share: the policy they time and the spillage ceiling.

use scif_guardrails::policy::{Guardrail, GuardrailSpec, Policy};
use scif_guardrails::EntityType;

/// A policy with every entity type anonymized, a site regex (`CASE-` and six digits) and the
/// managed profanity list; with `attack`, also PROMPT_ATTACK at HIGH.
pub fn bench_policy(attack: bool) -> Policy {
    let entities: Vec<String> = EntityType::ALL
        .iter()
        .map(|t| format!(r#"{{"type":"{}","action":"ANONYMIZE"}}"#, t.name()))
        .collect();
    let filter = if attack {
        r#","contentPolicyConfig":{"filtersConfig":[{"type":"PROMPT_ATTACK","inputStrength":"HIGH"}]}"#
    } else {
        ""
    };
    let body = format!(
        r#"{{"name":"everything","sensitiveInformationPolicyConfig":{{"piiEntitiesConfig":[{}],
          "regexesConfig":[{{"name":"case_id","pattern":"CASE-[0-9]{{6}}","action":"ANONYMIZE"}}]}},
          "wordPolicyConfig":{{"managedWordListsConfig":[{{"type":"PROFANITY"}}]}}{}}}"#,
        entities.join(","),
        filter
    );
    let g = Guardrail {
        id: "bench".into(),
        version: 1,
        spec: GuardrailSpec::from_json(body.as_bytes()).expect("the benchmark guardrail parses"),
    };
    Policy::new(&[&g]).expect("the benchmark guardrail compiles")
}

/// The spillage ceiling the benchmarks check against: markings above SECRET are spillage.
pub fn secret_ceiling() -> impl Fn(&scif_labels::Label) -> bool + Sync {
    let ceiling = scif_labels::Label::parse_banner("SECRET").expect("SECRET parses");
    move |l: &scif_labels::Label| ceiling.dominates(l)
}
