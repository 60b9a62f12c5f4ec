//! Guardrail objects and what they decide.
//!
//! A guardrail is written in the shape of Bedrock's `CreateGuardrail` request (camelCase:
//! `sensitiveInformationPolicyConfig`, `wordPolicyConfig`, `contentPolicyConfig`, the blocked
//! messages), so a site can bring what it wrote for Bedrock. Each filter has an action per
//! direction: BLOCK, ANONYMIZE (replace the match with `{TYPE}`) or NONE (detect and report).
//! Filters scif cannot enforce (content filters other than PROMPT_ATTACK, denied topics) are
//! refused when the guardrail is created rather than accepted and ignored.
//!
//! Several guardrails can apply to one request (the model's, the principal's, the groups', the
//! request's own); [`Policy::new`] merges them into one, in which each filter takes the
//! strictest action any of them asks for.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::attack::{self, Confidence};
use crate::cues;
use crate::markings;
use crate::normalize::View;
use crate::scan::{self, EntitySet};
use crate::words::{self, WordList};
use crate::EntityType;

/// What a filter does with what it finds. Ordered by strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    None,
    Anonymize,
    Block,
}

impl Action {
    /// The assessment word Bedrock reports for it.
    pub fn assessed(self) -> &'static str {
        match self {
            Action::None => "NONE",
            Action::Anonymize => "ANONYMIZED",
            Action::Block => "BLOCKED",
        }
    }
}

/// Which side of the model the text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Source {
    Input,
    Output,
}

impl Source {
    fn idx(self) -> usize {
        match self {
            Source::Input => 0,
            Source::Output => 1,
        }
    }
}

/// A content filter's strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Strength {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl Strength {
    /// The weakest finding confidence this strength acts on.
    fn threshold(self) -> Option<Confidence> {
        match self {
            Strength::None => None,
            Strength::Low => Some(Confidence::High),
            Strength::Medium => Some(Confidence::Medium),
            Strength::High => Some(Confidence::Low),
        }
    }
}

const DEFAULT_BLOCKED: &str = "Sorry, this request was blocked by a guardrail.";

fn default_blocked() -> String {
    DEFAULT_BLOCKED.to_string()
}

/// A guardrail as written by its author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardrailSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default = "default_blocked")]
    pub blocked_input_messaging: String,
    #[serde(default = "default_blocked")]
    pub blocked_outputs_messaging: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive_information_policy_config: Option<SensitiveInformationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_policy_config: Option<WordPolicySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_policy_config: Option<ContentPolicySpec>,
}

/// Per-direction action settings shared by every filter kind.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_enabled: Option<bool>,
}

impl Directions {
    /// The action per direction (`None` where disabled), given the filter's general action.
    fn resolve(&self, action: Action) -> [Option<Action>; 2] {
        let input = self
            .input_enabled
            .unwrap_or(true)
            .then(|| self.input_action.unwrap_or(action));
        let output = self
            .output_enabled
            .unwrap_or(true)
            .then(|| self.output_action.unwrap_or(action));
        [input, output]
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SensitiveInformationSpec {
    #[serde(default)]
    pub pii_entities_config: Vec<PiiEntitySpec>,
    #[serde(default)]
    pub regexes_config: Vec<RegexSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PiiEntitySpec {
    #[serde(rename = "type")]
    pub entity: String,
    pub action: Action,
    #[serde(flatten)]
    pub directions: Directions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexSpec {
    pub name: String,
    pub pattern: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub action: Action,
    #[serde(flatten)]
    pub directions: Directions,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WordPolicySpec {
    #[serde(default)]
    pub words_config: Vec<WordSpec>,
    #[serde(default)]
    pub managed_word_lists_config: Vec<ManagedListSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WordSpec {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(flatten)]
    pub directions: Directions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedListSpec {
    #[serde(rename = "type")]
    pub list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(flatten)]
    pub directions: Directions,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentPolicySpec {
    #[serde(default)]
    pub filters_config: Vec<ContentFilterSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentFilterSpec {
    #[serde(rename = "type")]
    pub filter: String,
    #[serde(default)]
    pub input_strength: Strength,
    #[serde(default)]
    pub output_strength: Strength,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_action: Option<Action>,
}

/// Why a guardrail was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

/// The most site regular expressions one guardrail may carry.
pub const MAX_REGEXES: usize = 50;
/// The most custom words one guardrail may carry.
pub const MAX_WORDS: usize = 10_000;
/// A streamed answer holds back this many bytes when a regular expression filter applies to
/// output: a site pattern's matches are assumed no longer than this.
pub const REGEX_HOLD_BYTES: usize = 128;

impl GuardrailSpec {
    /// Parses and validates a guardrail from JSON.
    pub fn from_json(body: &[u8]) -> Result<GuardrailSpec, SpecError> {
        let spec: GuardrailSpec =
            serde_json::from_slice(body).map_err(|e| invalid("body", e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks what serde cannot: names, sizes, entity types, patterns and filters.
    pub fn validate(&self) -> Result<(), SpecError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 50
            && self
                .name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b' '));
        if !name_ok {
            return Err(invalid(
                "name",
                "must be 1 to 50 letters, digits, spaces, '-' or '_'",
            ));
        }
        for (field, m) in [
            ("blockedInputMessaging", &self.blocked_input_messaging),
            ("blockedOutputsMessaging", &self.blocked_outputs_messaging),
        ] {
            if m.is_empty() || m.len() > 500 {
                return Err(invalid(field, "must be 1 to 500 characters"));
            }
        }
        let mut any = false;
        if let Some(si) = &self.sensitive_information_policy_config {
            let mut seen = std::collections::HashSet::new();
            for (i, e) in si.pii_entities_config.iter().enumerate() {
                let field = format!("sensitiveInformationPolicyConfig.piiEntitiesConfig[{i}].type");
                if EntityType::from_name(&e.entity).is_none() {
                    return Err(invalid(
                        field,
                        format!("unknown entity type {:?}", e.entity),
                    ));
                }
                if !seen.insert(e.entity.as_str()) {
                    return Err(invalid(field, format!("{} is listed twice", e.entity)));
                }
                any = true;
            }
            if si.regexes_config.len() > MAX_REGEXES {
                return Err(invalid(
                    "sensitiveInformationPolicyConfig.regexesConfig",
                    format!("at most {MAX_REGEXES} patterns"),
                ));
            }
            for (i, r) in si.regexes_config.iter().enumerate() {
                let field = format!("sensitiveInformationPolicyConfig.regexesConfig[{i}]");
                if r.name.is_empty()
                    || r.name.len() > 100
                    || !r
                        .name
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
                {
                    return Err(invalid(
                        format!("{field}.name"),
                        "must be 1 to 100 letters, digits, '_' or '-'",
                    ));
                }
                compile_regex(&r.pattern).map_err(|e| invalid(format!("{field}.pattern"), e))?;
                any = true;
            }
        }
        if let Some(w) = &self.word_policy_config {
            if w.words_config.len() > MAX_WORDS {
                return Err(invalid(
                    "wordPolicyConfig.wordsConfig",
                    format!("at most {MAX_WORDS} words"),
                ));
            }
            for (i, word) in w.words_config.iter().enumerate() {
                if word.text.trim().is_empty() || word.text.len() > 100 {
                    return Err(invalid(
                        format!("wordPolicyConfig.wordsConfig[{i}].text"),
                        "must be 1 to 100 characters",
                    ));
                }
                any = true;
            }
            for (i, l) in w.managed_word_lists_config.iter().enumerate() {
                if l.list != "PROFANITY" {
                    return Err(invalid(
                        format!("wordPolicyConfig.managedWordListsConfig[{i}].type"),
                        "the only managed list is PROFANITY",
                    ));
                }
                any = true;
            }
        }
        if let Some(c) = &self.content_policy_config {
            for (i, f) in c.filters_config.iter().enumerate() {
                let field = format!("contentPolicyConfig.filtersConfig[{i}]");
                match f.filter.as_str() {
                    "PROMPT_ATTACK" => {
                        if f.output_strength != Strength::None {
                            return Err(invalid(
                                format!("{field}.outputStrength"),
                                "PROMPT_ATTACK applies to input only; outputStrength must be NONE",
                            ));
                        }
                    }
                    "SEXUAL" | "VIOLENCE" | "HATE" | "INSULTS" | "MISCONDUCT" => {
                        return Err(invalid(format!("{field}.type"), format!("scif does not implement the {} content filter; it refuses rather than ignore it", f.filter)));
                    }
                    other => {
                        return Err(invalid(
                            format!("{field}.type"),
                            format!("unknown content filter {other:?}"),
                        ))
                    }
                }
                any = true;
            }
        }
        if !any {
            return Err(invalid("body", "a guardrail needs at least one filter"));
        }
        Ok(())
    }
}

fn compile_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() || pattern.len() > 500 {
        return Err("must be 1 to 500 characters".into());
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

/// A stored guardrail version.
#[derive(Debug, Clone, PartialEq)]
pub struct Guardrail {
    pub id: String,
    pub version: u32,
    pub spec: GuardrailSpec,
}

/// What was found, in terms an assessment can report without the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Pii(EntityType),
    Regex(String),
    Word,
    Profanity,
    Attack(&'static str, Confidence),
    /// A classification marking above the ceiling, in canonical form.
    Spillage(String),
}

/// One finding with the action the policy takes on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    pub action: Action,
}

impl Detection {
    /// Appends the mask that replaces this detection (`{EMAIL}`, `{case_id}`) to `out`.
    fn push_mask(&self, out: &mut String) {
        let name = match &self.kind {
            Kind::Pii(t) => t.name(),
            Kind::Regex(name) => name.as_str(),
            Kind::Word => "WORD",
            Kind::Profanity => "PROFANITY",
            Kind::Attack(..) | Kind::Spillage(_) => "BLOCKED",
        };
        out.push('{');
        out.push_str(name);
        out.push('}');
    }
}

struct CompiledRegex {
    name: String,
    re: Regex,
    actions: [Option<Action>; 2],
}

/// Whether a marked label may appear on this side (the spillage ceiling).
pub type Ceiling<'a> = &'a (dyn Fn(&scif_labels::Label) -> bool + Sync);

/// One or more guardrails merged and compiled.
pub struct Policy {
    /// The guardrails merged into this policy, as (id, version).
    pub guardrails: Vec<(String, u32)>,
    entities: [[Option<Action>; 64]; 2],
    entity_sets: [EntitySet; 2],
    regexes: Vec<CompiledRegex>,
    words: Vec<(WordList, [Option<Action>; 2])>,
    max_phrase_words: usize,
    profanity: [Option<Action>; 2],
    attack: [Option<(Confidence, Action)>; 2],
    messages: [String; 2],
}

fn stricter(a: Option<Action>, b: Option<Action>) -> Option<Action> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Policy {
    /// Merges and compiles guardrails (already validated). An empty list gives a policy that
    /// finds nothing, which still checks spillage when given a ceiling.
    pub fn new(guardrails: &[&Guardrail]) -> Result<Policy, SpecError> {
        let mut p = Policy {
            guardrails: guardrails
                .iter()
                .map(|g| (g.id.clone(), g.version))
                .collect(),
            entities: [[None; 64]; 2],
            entity_sets: [EntitySet::empty(); 2],
            regexes: Vec::new(),
            words: Vec::new(),
            max_phrase_words: 1,
            profanity: [None; 2],
            attack: [None; 2],
            messages: [DEFAULT_BLOCKED.to_string(), DEFAULT_BLOCKED.to_string()],
        };
        if let Some(g) = guardrails.first() {
            p.messages = [
                g.spec.blocked_input_messaging.clone(),
                g.spec.blocked_outputs_messaging.clone(),
            ];
        }
        for g in guardrails {
            let spec = &g.spec;
            if let Some(si) = &spec.sensitive_information_policy_config {
                for e in &si.pii_entities_config {
                    let t = EntityType::from_name(&e.entity).ok_or_else(|| {
                        invalid(
                            "piiEntitiesConfig.type",
                            format!("unknown entity type {:?}", e.entity),
                        )
                    })?;
                    for (side, a) in e.directions.resolve(e.action).into_iter().enumerate() {
                        let slot = &mut p.entities[side][t as usize];
                        *slot = stricter(*slot, a);
                        if slot.is_some() {
                            p.entity_sets[side] = p.entity_sets[side].with(t);
                        }
                    }
                }
                for r in &si.regexes_config {
                    let re = compile_regex(&r.pattern)
                        .map_err(|e| invalid("regexesConfig.pattern", e))?;
                    p.regexes.push(CompiledRegex {
                        name: r.name.clone(),
                        re,
                        actions: r.directions.resolve(r.action),
                    });
                }
            }
            if let Some(w) = &spec.word_policy_config {
                let mut by_action: BTreeMap<[Option<Action>; 2], Vec<&str>> = BTreeMap::new();
                for word in &w.words_config {
                    let actions = word
                        .directions
                        .resolve(word.action.unwrap_or(Action::Block));
                    by_action
                        .entry(actions)
                        .or_default()
                        .push(word.text.as_str());
                    p.max_phrase_words =
                        p.max_phrase_words.max(word.text.split_whitespace().count());
                }
                for (actions, list) in by_action {
                    p.words.push((WordList::new(list), actions));
                }
                for l in &w.managed_word_lists_config {
                    let actions = l.directions.resolve(l.action.unwrap_or(Action::Block));
                    for (slot, a) in p.profanity.iter_mut().zip(actions) {
                        *slot = stricter(*slot, a);
                    }
                }
            }
            if let Some(c) = &spec.content_policy_config {
                for f in &c.filters_config {
                    if f.filter != "PROMPT_ATTACK" {
                        continue;
                    }
                    let sides = [
                        (f.input_strength, f.input_action.unwrap_or(Action::Block)),
                        (f.output_strength, f.output_action.unwrap_or(Action::Block)),
                    ];
                    for (side, (strength, action)) in sides.into_iter().enumerate() {
                        let Some(threshold) = strength.threshold() else {
                            continue;
                        };
                        let action = if action == Action::Anonymize {
                            Action::Block
                        } else {
                            action
                        };
                        p.attack[side] = Some(match p.attack[side] {
                            Some((t, a)) => (t.min(threshold), a.max(action)),
                            None => (threshold, action),
                        });
                    }
                }
            }
        }
        Ok(p)
    }

    /// Whether the policy checks anything on this side (spillage aside).
    pub fn is_active(&self, source: Source) -> bool {
        let s = source.idx();
        !self.entity_sets[s].is_empty()
            || self.regexes.iter().any(|r| r.actions[s].is_some())
            || self.words.iter().any(|(_, a)| a[s].is_some())
            || self.profanity[s].is_some()
            || self.attack[s].is_some()
    }

    /// The message shown in place of blocked text on this side.
    pub fn message(&self, source: Source) -> &str {
        &self.messages[source.idx()]
    }

    /// The message for a block caused by `detections`: spillage names the markings found (it
    /// applies without any guardrail, so no guardrail's message fits it); anything else gets
    /// the guardrail's message.
    pub fn block_message(&self, source: Source, detections: &[Detection]) -> String {
        let mut markings: Vec<&str> = detections
            .iter()
            .filter_map(|d| match &d.kind {
                Kind::Spillage(m) if d.action == Action::Block => Some(m.as_str()),
                _ => None,
            })
            .collect();
        if markings.is_empty() {
            return self.message(source).to_owned();
        }
        markings.dedup();
        let side = match source {
            Source::Input => "This prompt",
            Source::Output => "This answer",
        };
        format!(
            "{side} was blocked: it carries the classification marking {}, above what may pass here.",
            markings.join(", ")
        )
    }

    /// Everything the policy (and the spillage ceiling, if given) finds in `text`, and the
    /// offset from which appending text could still change what is found (for streaming).
    ///
    /// The detectors read the text through [`View`] (Unicode, formatting and structure folded
    /// away); what they find is mapped back to the original bytes, so masks cover exactly the
    /// original characters. Site regexes and word lists also run on the original, as written.
    pub fn detect(
        &self,
        text: &str,
        source: Source,
        ceiling: Option<Ceiling<'_>>,
    ) -> (Vec<Detection>, usize) {
        self.detect_held(text, source, ceiling, true)
    }

    /// [`Policy::detect`]; the hold only when `streaming` (otherwise it is `text.len()`, and
    /// what only a stream needs is not computed).
    fn detect_held(
        &self,
        text: &str,
        source: Source,
        ceiling: Option<Ceiling<'_>>,
        streaming: bool,
    ) -> (Vec<Detection>, usize) {
        let view = View::new(text);
        let (mut out, hold) = self.detect_in(view.text(), source, ceiling, streaming);
        let mut hold = view.start(hold).min(view.stable());
        if !view.is_identity() {
            for d in &mut out {
                (d.start, d.end) = view.span(d.start, d.end);
            }
            // Site regexes also on the text as written (a regex may be written for it); word
            // lists read the view only.
            let (extra, h) = self.detect_regexes(text, source.idx());
            hold = hold.min(h);
            // A hit found in both is one hit (counted once in assessments and the audit).
            let fresh: Vec<Detection> = extra.into_iter().filter(|d| !out.contains(d)).collect();
            out.extend(fresh);
            out.sort_by_key(|d| (d.start, std::cmp::Reverse(d.end)));
        }
        if !streaming {
            return (out, text.len());
        }
        (out, hold.min(last_token_start(text)))
    }

    /// [`Policy::detect`] on text already normalized.
    fn detect_in(
        &self,
        text: &str,
        source: Source,
        ceiling: Option<Ceiling<'_>>,
        streaming: bool,
    ) -> (Vec<Detection>, usize) {
        let s = source.idx();
        let mut out = Vec::new();
        let mut hold = text.len();
        let tail_token = last_token_start(text);
        hold = hold.min(tail_token);
        if !self.entity_sets[s].is_empty() {
            let scanned = scan::scan_normalized(text, self.entity_sets[s]);
            hold = hold.min(scanned.hold_from);
            for f in scanned.findings {
                if let Some(action) = self.entities[s][f.entity as usize] {
                    out.push(Detection {
                        start: f.start,
                        end: f.end,
                        kind: Kind::Pii(f.entity),
                        action,
                    });
                }
            }
        }
        // The fixed cues of the detectors that are on, in one pass.
        let mut want = 0;
        if self.attack[s].is_some() {
            want |= cues::ANCHORS | cues::TRIGGERS;
        }
        if ceiling.is_some() {
            want |= cues::MARKINGS;
        }
        if self.profanity[s].is_some() {
            want |= cues::PROFANITY;
        }
        let found = if want == 0 {
            cues::Cues::default()
        } else {
            cues::find(text, want)
        };
        let (lists, h) = self.detect_lists(text, s, &found.profanity);
        hold = hold.min(h);
        out.extend(lists);
        if let Some((threshold, action)) = self.attack[s] {
            for f in attack::detect_with(text, &found) {
                if f.confidence >= threshold {
                    out.push(Detection {
                        start: f.start,
                        end: f.end,
                        kind: Kind::Attack(f.technique, f.confidence),
                        action,
                    });
                }
            }
            // Attack phrases span a sentence; a streamed prompt does not exist, so input-only
            // filters never need a hold.
        }
        if let Some(allowed) = ceiling {
            for m in markings::find_at(text, &found.markings) {
                if !allowed(&m.label) {
                    out.push(Detection {
                        start: m.start,
                        end: m.end,
                        kind: Kind::Spillage(m.canonical()),
                        action: Action::Block,
                    });
                }
            }
            if streaming {
                hold = hold.min(open_line_start(text));
                if let Some(h) = markings::hold_from(text) {
                    hold = hold.min(h);
                }
            }
        }
        out.sort_by_key(|d| (d.start, std::cmp::Reverse(d.end)));
        (out, hold)
    }

    /// Site regexes over `text`, and the hold they need when streamed.
    fn detect_regexes(&self, text: &str, s: usize) -> (Vec<Detection>, usize) {
        let mut out = Vec::new();
        let mut hold = text.len();
        let mut any_regex = false;
        for r in &self.regexes {
            let Some(action) = r.actions[s] else {
                continue;
            };
            any_regex = true;
            for m in r.re.find_iter(text) {
                if m.start() < m.end() {
                    out.push(Detection {
                        start: m.start(),
                        end: m.end(),
                        kind: Kind::Regex(r.name.clone()),
                        action,
                    });
                }
            }
        }
        if any_regex {
            let mut h = text.len().saturating_sub(REGEX_HOLD_BYTES);
            while !text.is_char_boundary(h) {
                h -= 1;
            }
            hold = hold.min(h);
        }
        (out, hold)
    }

    /// Site regexes and word lists (custom words and profanity) over `text`, and the hold
    /// they need when streamed.
    fn detect_lists(
        &self,
        text: &str,
        s: usize,
        profanity: &[cues::Hit],
    ) -> (Vec<Detection>, usize) {
        let (mut out, mut hold) = self.detect_regexes(text, s);
        let mut any_words = false;
        for (list, actions) in &self.words {
            let Some(action) = actions[s] else {
                continue;
            };
            any_words = true;
            for (a, b) in list.find(text) {
                out.push(Detection {
                    start: a,
                    end: b,
                    kind: Kind::Word,
                    action,
                });
            }
        }
        if let Some(action) = self.profanity[s] {
            any_words = true;
            for (a, b) in words::profanity().find_from(text, profanity.iter().copied()) {
                out.push(Detection {
                    start: a,
                    end: b,
                    kind: Kind::Profanity,
                    action,
                });
            }
        }
        if any_words && self.max_phrase_words > 1 {
            hold = hold.min(nth_token_from_end(text, self.max_phrase_words - 1));
        }
        (out, hold)
    }

    /// Evaluates `text` whole: blocks, masks or reports.
    pub fn evaluate(&self, text: &str, source: Source, ceiling: Option<Ceiling<'_>>) -> Outcome {
        let (detections, _) = self.detect_held(text, source, ceiling, false);
        let blocked = detections.iter().any(|d| d.action == Action::Block);
        let output = if blocked {
            self.block_message(source, &detections)
        } else {
            apply_masks(text, 0, text.len(), &detections)
        };
        Outcome {
            blocked,
            output,
            detections,
        }
    }
}

/// `text[from..to]` with the anonymized detections inside it replaced by their masks.
pub fn apply_masks(text: &str, from: usize, to: usize, detections: &[Detection]) -> String {
    // Masks are mostly longer than what they replace.
    let mut out = String::with_capacity(to - from + 24 * detections.len());
    let mut at = from;
    for d in detections {
        if d.action != Action::Anonymize || d.end > to || d.end <= at {
            continue;
        }
        if d.start < at {
            // Overlaps the previous mask: that mask covers the rest too.
            at = d.end;
            continue;
        }
        out.push_str(&text[at..d.start]);
        d.push_mask(&mut out);
        at = d.end;
    }
    out.push_str(&text[at..to]);
    out
}

fn last_token_start(text: &str) -> usize {
    let b = text.as_bytes();
    if b.last().is_none_or(u8::is_ascii_whitespace) {
        return b.len();
    }
    b.iter()
        .rposition(u8::is_ascii_whitespace)
        .map_or(0, |p| p + 1)
}

/// The start of the `n`th whitespace-separated token counted back from the end (the open
/// last token counts too).
fn nth_token_from_end(text: &str, n: usize) -> usize {
    let b = text.as_bytes();
    let mut i = b.len();
    let mut seen = 0;
    while i > 0 {
        while i > 0 && b[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        if i == 0 {
            break;
        }
        while i > 0 && !b[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        seen += 1;
        if seen >= n {
            break;
        }
    }
    i
}

/// The start of the last line when it may still become a marking: a line that has not ended
/// and so far has no lowercase letter (a banner), or its last token (a portion mark or an
/// inline `A//B`).
fn open_line_start(text: &str) -> usize {
    let b = text.as_bytes();
    let line = b.iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
    if b[line..].iter().any(u8::is_ascii_lowercase) {
        last_token_start(text)
    } else {
        line
    }
}

/// The result of evaluating a whole text.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub blocked: bool,
    /// The text to pass on: masked, or the blocked message.
    pub output: String,
    pub detections: Vec<Detection>,
}

impl Outcome {
    /// Whether the guardrail changed anything (blocked or masked).
    pub fn intervened(&self) -> bool {
        self.blocked
            || self
                .detections
                .iter()
                .any(|d| d.action == Action::Anonymize)
    }
}

/// A Bedrock-shaped assessment of detections: types and actions, never the matched text.
pub fn assessment(detections: &[Detection]) -> Value {
    let mut pii = Vec::new();
    let mut regexes = Vec::new();
    let mut custom = Vec::new();
    let mut managed = Vec::new();
    let mut filters = Vec::new();
    let mut marks = Vec::new();
    for d in detections {
        let action = d.action.assessed();
        match &d.kind {
            Kind::Pii(t) => pii.push(json!({"type": t.name(), "action": action})),
            Kind::Regex(name) => regexes.push(json!({"name": name, "action": action})),
            Kind::Word => custom.push(json!({"action": action})),
            Kind::Profanity => managed.push(json!({"type": "PROFANITY", "action": action})),
            Kind::Attack(technique, confidence) => filters.push(json!({
                "type": "PROMPT_ATTACK",
                "confidence": confidence,
                "technique": technique,
                "action": action,
            })),
            Kind::Spillage(marking) => marks.push(json!({"marking": marking, "action": action})),
        }
    }
    let mut out = serde_json::Map::new();
    if !pii.is_empty() || !regexes.is_empty() {
        out.insert(
            "sensitiveInformationPolicy".into(),
            json!({"piiEntities": pii, "regexes": regexes}),
        );
    }
    if !custom.is_empty() || !managed.is_empty() {
        out.insert(
            "wordPolicy".into(),
            json!({"customWords": custom, "managedWordLists": managed}),
        );
    }
    if !filters.is_empty() {
        out.insert("contentPolicy".into(), json!({"filters": filters}));
    }
    if !marks.is_empty() {
        out.insert("classificationPolicy".into(), json!({"markings": marks}));
    }
    Value::Object(out)
}

/// A compact summary for audit events and logs: counts per type and action.
pub fn summary(detections: &[Detection]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for d in detections {
        let name = match &d.kind {
            Kind::Pii(t) => t.name().to_string(),
            Kind::Regex(n) => format!("regex:{n}"),
            Kind::Word => "WORD".into(),
            Kind::Profanity => "PROFANITY".into(),
            Kind::Attack(t, _) => format!("PROMPT_ATTACK:{t}"),
            Kind::Spillage(m) => format!("SPILLAGE:{m}"),
        };
        *out.entry(format!("{name}:{}", d.action.assessed()))
            .or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn guardrail(json: &str) -> Guardrail {
        Guardrail {
            id: "g1".into(),
            version: 1,
            spec: GuardrailSpec::from_json(json.as_bytes()).unwrap(),
        }
    }

    #[test]
    fn masks_and_blocks_per_direction() {
        let g = guardrail(
            r#"{"name":"phi","blockedInputMessaging":"no","blockedOutputsMessaging":"no out",
            "sensitiveInformationPolicyConfig":{"piiEntitiesConfig":[
              {"type":"EMAIL","action":"ANONYMIZE"},
              {"type":"US_SOCIAL_SECURITY_NUMBER","action":"BLOCK","outputAction":"ANONYMIZE"}],
              "regexesConfig":[{"name":"case_id","pattern":"CASE-\\d{4}","action":"ANONYMIZE"}]}}"#,
        );
        let p = Policy::new(&[&g]).unwrap();
        let o = p.evaluate("mail a@b.org about CASE-1234", Source::Input, None);
        assert!(!o.blocked);
        assert_eq!(o.output, "mail {EMAIL} about {case_id}");
        let o = p.evaluate("SSN 078-05-1121", Source::Input, None);
        assert!(o.blocked);
        assert_eq!(o.output, "no");
        let o = p.evaluate("SSN 078-05-1121", Source::Output, None);
        assert_eq!(o.output, "SSN {US_SOCIAL_SECURITY_NUMBER}");
        let a = assessment(&o.detections);
        assert_eq!(
            a["sensitiveInformationPolicy"]["piiEntities"][0]["action"],
            "ANONYMIZED"
        );
        assert!(!a.to_string().contains("078"));
    }

    #[test]
    fn a_regex_hit_in_both_the_view_and_the_original_counts_once() {
        let g = guardrail(
            r#"{"name":"r","sensitiveInformationPolicyConfig":{
              "regexesConfig":[{"name":"case_id","pattern":"CASE-\\d{4}","action":"ANONYMIZE"}]}}"#,
        );
        let p = Policy::new(&[&g]).unwrap();
        // The curly quotes make the view differ from the original; the hit is in both.
        let o = p.evaluate("\u{201C}see CASE-1234\u{201D}", Source::Input, None);
        assert_eq!(o.detections.len(), 1, "{:?}", o.detections);
        assert_eq!(o.output, "\u{201C}see {case_id}\u{201D}");
    }

    #[test]
    fn refuses_what_it_cannot_enforce() {
        for (body, field) in [
            (r#"{"name":"x"}"#, "body"),
            (
                r#"{"name":"x","contentPolicyConfig":{"filtersConfig":[{"type":"HATE","inputStrength":"HIGH"}]}}"#,
                "contentPolicyConfig.filtersConfig[0].type",
            ),
            (
                r#"{"name":"x","sensitiveInformationPolicyConfig":{"piiEntitiesConfig":[{"type":"SHOE_SIZE","action":"BLOCK"}]}}"#,
                "sensitiveInformationPolicyConfig.piiEntitiesConfig[0].type",
            ),
            (
                r#"{"name":"x","sensitiveInformationPolicyConfig":{"regexesConfig":[{"name":"r","pattern":"(","action":"BLOCK"}]}}"#,
                "sensitiveInformationPolicyConfig.regexesConfig[0].pattern",
            ),
            (r#"{"name":"x","topicPolicyConfig":{}}"#, "body"),
        ] {
            let e = GuardrailSpec::from_json(body.as_bytes()).unwrap_err();
            assert_eq!(e.field, field, "{body}");
        }
    }

    #[test]
    fn merged_policies_take_the_strictest_action() {
        let a = guardrail(
            r#"{"name":"a","sensitiveInformationPolicyConfig":{"piiEntitiesConfig":[{"type":"EMAIL","action":"NONE"}]}}"#,
        );
        let b = guardrail(
            r#"{"name":"b","sensitiveInformationPolicyConfig":{"piiEntitiesConfig":[{"type":"EMAIL","action":"ANONYMIZE"}]}}"#,
        );
        let p = Policy::new(&[&a, &b]).unwrap();
        assert_eq!(
            p.evaluate("x a@b.org", Source::Input, None).output,
            "x {EMAIL}"
        );
    }

    #[test]
    fn spillage_blocks_with_the_marking_reported() {
        let p = Policy::new(&[]).unwrap();
        let ceiling = scif_labels::Label::parse_banner("SECRET").unwrap();
        let allowed = move |l: &scif_labels::Label| ceiling.dominates(l);
        let o = p.evaluate(
            "TOP SECRET//NOFORN\nthe plan",
            Source::Input,
            Some(&allowed),
        );
        assert!(o.blocked);
        assert_eq!(
            o.detections[0].kind,
            Kind::Spillage("TOP SECRET//NOFORN".into())
        );
        let o = p.evaluate("(S) the plan", Source::Input, Some(&allowed));
        assert!(!o.blocked);
    }
}
