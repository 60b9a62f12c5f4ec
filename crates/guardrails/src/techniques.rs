//! Prompt-attack *techniques*, beyond the phrase forms in `attack`: what an attack does rather
//! than how a published jailbreak words it.
//!
//! Cue words and phrases are marked by what they signal (a claim of
//! authority, a restricted-mode name, a role change, a fictional frame, rules, a word that
//! removes rules, a permissive promise, a document addressing the AI that reads it, ...). Cues
//! are grouped by sentence, and a sentence (with the sentence before it, where a frame or a
//! role is often set up) is judged by the combination it holds:
//!
//! | technique | needs | confidence |
//! |---|---|---|
//! | `authority_claim` | authority + addressed to the AI + (rules removed, or a permissive promise, or disclosure of the prompt) | High |
//! | `mode_switch` | a restricted-mode name + an activation or the AI addressed, not about a device or a game | Medium; High with rules removed, a permissive promise, disclosure or "this conversation" |
//! | `role_reassignment` | a role change + (a permissive promise, or rules removed) | High |
//! | `instruction_override` | the AI's rules (your rules, the guidance you received) + a verb that removes them | High |
//! | `fictional_wrapper` | a fictional frame + an AI as the character + (a permissive promise, rules removed, or disclosure of the prompt) | High |
//! | `indirect_injection` | text addressing the AI that reads it ("to any language model summarizing this") | Medium; High with an instruction, rules removed or a harmful action |
//! | `prompt_extraction` | a disclosure verb + what came before the conversation ("everything written before my first message", "your initialization text") | High |
//! | `restriction_removal` | the AI addressed + a permissive promise ("answer without restrictions") | Medium |
//!
//! Cues are whole words, looked up word by word in a table of phrases by first word (as the
//! entity scanner's context keywords are). The input has already
//! been normalized (`normalize`), so look-alike letters and invisible characters do not split a
//! cue.

use std::sync::OnceLock;

use std::collections::HashMap;

use crate::fnv::FnvBuild;

use crate::attack::{AttackFinding, Confidence};

const AI: u32 = 1;
const RULES: u32 = 1 << 1;
const REMOVE: u32 = 1 << 2;
const AUTH: u32 = 1 << 3;
const MODE: u32 = 1 << 4;
const ACTIVATE: u32 = 1 << 5;
const ROLE: u32 = 1 << 6;
const PERMISSIVE: u32 = 1 << 7;
const FICTION: u32 = 1 << 8;
const SELF_AI: u32 = 1 << 9;
const DISCLOSE: u32 = 1 << 10;
const PROMPT: u32 = 1 << 11;
const READER: u32 = 1 << 12;
const HARM: u32 = 1 << 13;
const CONVERSATION: u32 = 1 << 14;
const DEVICE: u32 = 1 << 15;
const BEFORE: u32 = 1 << 16;
/// Removes rules only beside a permissive promise ("outdated", "deprecated", "forget").
const WEAK: u32 = 1 << 17;
/// The user's own earlier instructions ("the instructions I gave you").
const OWN: u32 = 1 << 18;

const CUES: &[(&str, u32)] = &[
    ("you", AI),
    ("your", AI),
    ("you're", AI),
    ("yourself", AI),
    ("assistant", AI),
    ("chatbot", AI | SELF_AI),
    ("an ai", SELF_AI),
    ("the ai", SELF_AI),
    ("ai character", SELF_AI),
    ("an entity", SELF_AI),
    ("base model", SELF_AI),
    ("an uncensored model", SELF_AI | PERMISSIVE),
    ("uncensored model", SELF_AI | PERMISSIVE),
    ("rules", RULES),
    ("guidelines", RULES),
    ("content policy", RULES),
    ("content policies", RULES),
    ("policies", RULES),
    ("restrictions", RULES),
    ("constraints", RULES),
    ("filters", RULES),
    ("safety restrictions", RULES),
    ("guardrails", RULES),
    ("ethics", RULES),
    ("alignment", RULES),
    ("programming", RULES),
    ("instructions", RULES | PROMPT),
    ("directions", RULES),
    ("directives", RULES),
    ("guidance", RULES),
    ("configuration", RULES | PROMPT),
    ("refusal module", RULES),
    ("refusal", RULES),
    ("ethical boundaries", RULES),
    ("moral guidelines", RULES),
    ("ignore", REMOVE),
    ("skip", REMOVE),
    ("bypass", REMOVE),
    ("disable", REMOVE),
    ("disabled", REMOVE),
    ("lifted", REMOVE),
    ("lift", REMOVE),
    ("remove", REMOVE),
    ("removed", REMOVE),
    ("turned off", REMOVE),
    ("turn off", REMOVE | ACTIVATE),
    ("deprecated", WEAK),
    ("no longer apply", REMOVE),
    ("disregard", REMOVE),
    ("override", REMOVE),
    ("supersedes", REMOVE),
    ("supersede", REMOVE),
    ("nullify", REMOVE),
    ("replace them", REMOVE),
    ("outdated", WEAK),
    ("deleted", REMOVE),
    ("were deleted", REMOVE),
    ("freed from", REMOVE),
    ("escaped", REMOVE),
    ("suspend", REMOVE),
    ("waive", REMOVE),
    ("pay no attention", REMOVE),
    ("set aside", REMOVE),
    ("discard", WEAK),
    ("abandon", WEAK),
    ("forget", WEAK),
    ("off", WEAK),
    ("safety team", AUTH),
    ("developer", AUTH),
    ("developers", AUTH),
    ("administrator", AUTH),
    ("admin", AUTH),
    ("operator", AUTH),
    ("your creators", AUTH | AI),
    ("creators", AUTH),
    ("employee", AUTH),
    ("engineer", AUTH),
    ("root access", AUTH),
    ("override code", AUTH | REMOVE),
    ("platform owner", AUTH),
    ("clearance verified", AUTH),
    ("authorizing you", AUTH),
    ("authorized", AUTH),
    ("granting you permission", AUTH),
    ("permission", AUTH),
    ("by order of", AUTH),
    ("official notice", AUTH),
    ("cleared to", AUTH),
    ("unrestricted mode", MODE | PERMISSIVE),
    ("god mode", MODE),
    ("debug mode", MODE),
    ("maintenance mode", MODE),
    ("jailbreak mode", MODE | PERMISSIVE),
    ("jailbreak", MODE),
    ("raw mode", MODE),
    ("sudo mode", MODE),
    ("no-filter mode", MODE | PERMISSIVE),
    ("no filter mode", MODE | PERMISSIVE),
    ("uncensored mode", MODE | PERMISSIVE),
    ("unfiltered mode", MODE | PERMISSIVE),
    ("admin mode", MODE),
    ("root mode", MODE),
    ("evil mode", MODE | PERMISSIVE),
    ("safe mode", MODE),
    ("developer mode", MODE),
    ("switch to", ACTIVATE),
    ("enable", ACTIVATE),
    ("activate", ACTIVATE),
    ("enter", ACTIVATE),
    ("go into", ACTIVATE),
    ("turn on", ACTIVATE),
    ("now in", ACTIVATE),
    ("operate in", ACTIVATE),
    ("toggle", ACTIVATE),
    ("mode on", ACTIVATE),
    ("you are now", ROLE | AI),
    ("you are no longer", ROLE | AI),
    ("your new identity", ROLE | AI),
    ("new identity", ROLE),
    ("your role has changed", ROLE | AI),
    ("stop being", ROLE),
    ("become my", ROLE),
    ("you to become", ROLE | AI),
    ("you will become", ROLE | AI),
    ("drop your current persona", ROLE | AI),
    ("drop your persona", ROLE | AI),
    ("take on the role", ROLE),
    ("being reassigned", ROLE),
    ("reassigned", ROLE),
    ("from here on you are", ROLE | AI),
    ("you will now act as", ROLE | AI),
    ("act as", ROLE),
    ("new instructions", ROLE | RULES),
    // A limit on something named is not a limit on the model.
    ("no restrictions on", 0),
    ("without any restrictions on", 0),
    ("without restrictions on", 0),
    ("no limits on", 0),
    ("never refuses to", 0),
    ("never refuse to", 0),
    ("i gave you", OWN),
    ("i gave", OWN),
    ("my instructions", OWN),
    ("my previous", OWN),
    ("my earlier", OWN),
    ("sudo mode on", MODE | ACTIVATE),
    ("god mode on", MODE | ACTIVATE),
    ("debug mode on", MODE | ACTIVATE),
    ("developer mode on", MODE | ACTIVATE),
    ("no restrictions", PERMISSIVE),
    ("without restrictions", PERMISSIVE),
    ("without any restrictions", PERMISSIVE),
    ("never refuse", PERMISSIVE),
    ("never refuses", PERMISSIVE),
    ("never says no", PERMISSIVE),
    ("no refusals", PERMISSIVE),
    ("answers everything", PERMISSIVE),
    ("respond to everything", PERMISSIVE),
    ("answer anything", PERMISSIVE),
    ("answers anything", PERMISSIVE),
    ("anything asked", PERMISSIVE),
    ("every question", PERMISSIVE),
    ("every request", PERMISSIVE),
    ("no rules", PERMISSIVE),
    ("any rules", PERMISSIVE),
    ("no ethical", PERMISSIVE),
    ("no moral", PERMISSIVE),
    ("uncensored", PERMISSIVE),
    ("without limits", PERMISSIVE),
    ("no limits", PERMISSIVE),
    ("limits removed", PERMISSIVE),
    ("regardless of your rules", PERMISSIVE),
    ("no filters", PERMISSIVE),
    ("without filters", PERMISSIVE),
    ("never filtered", PERMISSIVE),
    ("obeys only me", PERMISSIVE),
    ("follow my orders", PERMISSIVE),
    ("without objection", PERMISSIVE),
    ("always comply", PERMISSIVE),
    ("comply with every", PERMISSIVE),
    ("no content policy", PERMISSIVE),
    ("without any warnings", PERMISSIVE),
    ("helps with anything", PERMISSIVE),
    ("ethics are disabled", PERMISSIVE),
    ("been jailbroken", PERMISSIVE),
    ("jailbroken", PERMISSIVE),
    ("no matter what", PERMISSIVE),
    ("story", FICTION),
    ("novel", FICTION),
    ("screenplay", FICTION),
    ("hypothetical", FICTION),
    ("hypothetically", FICTION),
    ("imagine", FICTION),
    ("fictional", FICTION),
    ("role-play", FICTION),
    ("roleplay", FICTION),
    ("simulation", FICTION),
    ("a game", FICTION),
    ("the game", FICTION),
    ("dialogue", FICTION),
    ("pretend", FICTION),
    ("in character", FICTION),
    ("that character", FICTION),
    ("reveal", DISCLOSE | HARM),
    ("reveals", DISCLOSE),
    ("disclose", DISCLOSE),
    ("tell me", DISCLOSE),
    ("tell you", DISCLOSE),
    ("what it says", DISCLOSE),
    ("read", DISCLOSE),
    ("reads", DISCLOSE),
    ("output", DISCLOSE | HARM),
    ("copy", DISCLOSE),
    ("quote", DISCLOSE),
    ("print", DISCLOSE),
    ("list all", DISCLOSE),
    ("verbatim", DISCLOSE),
    ("word for word", DISCLOSE),
    ("prompt", PROMPT),
    ("system prompt", PROMPT),
    ("hidden prompt", PROMPT),
    ("secret system prompt", PROMPT),
    ("hidden configuration", PROMPT),
    ("initialization text", PROMPT | BEFORE),
    ("everything that was written before", PROMPT | BEFORE),
    ("written before my first message", PROMPT | BEFORE),
    ("at the very start of this conversation", PROMPT | BEFORE),
    ("were you told", PROMPT | BEFORE),
    ("rules you were given", PROMPT | BEFORE),
    ("secret instructions", PROMPT | BEFORE),
    ("configured for you", PROMPT | BEFORE),
    ("to any language model", READER),
    ("any language model", READER),
    ("ai agents reading", READER),
    ("agents reading this", READER),
    ("note to the ai", READER),
    ("to the ai model", READER),
    ("ai model processing", READER),
    ("attention llm", READER),
    ("attention ai", READER),
    ("reviewer ai", READER),
    ("assistant instructions", READER),
    ("new directive for the model", READER | RULES),
    ("directive for the model", READER),
    ("when you, the ai", READER),
    ("you, the ai", READER),
    ("assistant, disregard", READER | REMOVE),
    ("assistant, ignore", READER | REMOVE),
    ("to any ai", READER),
    ("llms reading", READER),
    ("if you are an ai", READER),
    ("language model summarizing", READER),
    ("model processing this", READER),
    ("send", HARM),
    ("forward", HARM),
    ("delete", HARM),
    ("execute", HARM),
    ("approve", HARM),
    ("visit", HARM),
    ("password", HARM),
    ("credentials", HARM),
    ("api keys", HARM),
    ("reply with", HARM),
    ("give this submission", HARM),
    ("stop summarizing", HARM),
    ("this conversation", CONVERSATION),
    ("this chat", CONVERSATION),
    ("our chat", CONVERSATION),
    ("this session", CONVERSATION),
    ("full responsibility", CONVERSATION),
    ("phone", DEVICE),
    ("android", DEVICE),
    ("iphone", DEVICE),
    ("laptop", DEVICE),
    ("windows", DEVICE),
    ("macos", DEVICE),
    ("game", DEVICE),
    ("doom", DEVICE),
    ("minecraft", DEVICE),
    ("console", DEVICE),
    ("settings", DEVICE),
    ("browser", DEVICE),
    ("chrome", DEVICE),
    ("camera", DEVICE),
    ("router", DEVICE),
    ("bios", DEVICE),
    ("vs code", DEVICE),
    ("flask", DEVICE),
    ("django", DEVICE),
    ("terminal", DEVICE),
    ("device", DEVICE),
    ("tablet", DEVICE),
    ("xbox", DEVICE),
    ("playstation", DEVICE),
    ("printer", DEVICE),
    ("car", DEVICE),
];

/// A cue phrase after its first word.
struct Phrase {
    rest: Vec<Vec<u8>>,
    flags: u32,
}

/// The cues by their first word (lowercase), longest phrase first.
fn lexicon() -> &'static HashMap<Vec<u8>, Vec<Phrase>, FnvBuild> {
    static L: OnceLock<HashMap<Vec<u8>, Vec<Phrase>, FnvBuild>> = OnceLock::new();
    L.get_or_init(|| {
        let mut m: HashMap<Vec<u8>, Vec<Phrase>, FnvBuild> = HashMap::default();
        for (p, flags) in CUES {
            let mut words = p
                .split([' ', ','])
                .filter(|w| !w.is_empty())
                .map(|w| w.as_bytes().to_ascii_lowercase());
            let Some(first) = words.next() else {
                continue;
            };
            m.entry(first).or_default().push(Phrase {
                rest: words.collect(),
                flags: *flags,
            });
        }
        for v in m.values_mut() {
            v.sort_by_key(|p| std::cmp::Reverse(p.rest.len()));
        }
        m
    })
}

/// Byte classes: 1 a word byte, 2 a sentence end, 0 anything else.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphanumeric() || b == b'\'' || b == b'-' || b >= 0x80 {
            1
        } else if matches!(b, b'.' | b'!' | b'?' | b'\n' | b';') {
            2
        } else {
            0
        };
        c += 1;
    }
    t
};

fn word_byte(c: u8) -> bool {
    CLASS[c as usize] == 1
}

fn sentence_end(c: u8) -> bool {
    CLASS[c as usize] == 2
}

/// Whether a word of `len` bytes starting with `a`, `b` (lowercase) can begin a cue: a bit per
/// (length, first two letters), so most words of prose cost a table lookup.
fn may_begin(len: usize, a: u8, b: u8) -> bool {
    static T: OnceLock<Vec<u64>> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = vec![0u64; 41 * 1024 / 64];
        for k in lexicon().keys() {
            let (x, y) = (k[0], k.get(1).copied().unwrap_or(0));
            let bit = k.len().min(40) * 1024 + usize::from(x & 31) * 32 + usize::from(y & 31);
            t[bit / 64] |= 1 << (bit % 64);
        }
        t
    });
    let bit = len.min(40) * 1024 + usize::from(a & 31) * 32 + usize::from(b & 31);
    t[bit / 64] & (1 << (bit % 64)) != 0
}

/// The next word at or after `i` within the sentence (before `to`): its span, or `None` when
/// the sentence ends first.
fn next_word(b: &[u8], mut i: usize, to: usize) -> Option<(usize, usize)> {
    while i < to && !word_byte(b[i]) {
        if sentence_end(b[i]) && b.get(i + 1).is_none_or(|x| !x.is_ascii_alphanumeric()) {
            return None;
        }
        i += 1;
    }
    if i >= to {
        return None;
    }
    let s = i;
    while i < to && word_byte(b[i]) {
        i += 1;
    }
    Some((s, i))
}

/// Each sentence of `b[from..to]` with its cue flags: `(start, end, flags)`.
fn sentences(b: &[u8], from: usize, to: usize) -> Vec<(usize, usize, u32)> {
    let lex = lexicon();
    let mut out = Vec::new();
    let mut start = from;
    let mut flags = 0u32;
    let mut buf = [0u8; 40];
    let mut i = from;
    while i < to {
        let class = CLASS[b[i] as usize];
        if class != 1 {
            if class == 2 && b.get(i + 1).is_none_or(|x| !x.is_ascii_alphanumeric()) {
                out.push((start, i + 1, flags));
                start = i + 1;
                flags = 0;
            }
            i += 1;
            continue;
        }
        let s = i;
        i = b[s..to]
            .iter()
            .position(|c| CLASS[*c as usize] != 1)
            .map_or(to, |p| s + p);
        let word = &b[s..i];
        if word.len() < 2 && !word.eq_ignore_ascii_case(b"a") {
            // No other cue begins with one letter.
            continue;
        }
        if word.len() > buf.len()
            || !may_begin(
                word.len(),
                word[0].to_ascii_lowercase(),
                word.get(1).map_or(0, u8::to_ascii_lowercase),
            )
        {
            continue;
        }
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word);
        lower.make_ascii_lowercase();
        let Some(phrases) = lex.get(&lower[..]) else {
            continue;
        };
        for ph in phrases {
            let mut at = i;
            let follows = ph.rest.iter().all(|r| match next_word(b, at, to) {
                Some((ws, we)) if b[ws..we].eq_ignore_ascii_case(r) => {
                    at = we;
                    true
                }
                _ => false,
            });
            if follows {
                flags |= ph.flags;
                i = at;
                break;
            }
        }
    }
    out.push((start, to, flags));
    out
}

/// The cues every technique needs at least one of in the sentence it flags (rules, a
/// permissive promise, a reader addressed, what came before, a restricted mode, a prompt): only
/// sentences with one (and the sentence before each) are judged, so prose without them costs
/// only its share of the shared cue pass (`crate::cues`).
pub(crate) fn trigger_patterns() -> impl Iterator<Item = &'static str> {
    let needed = RULES | PERMISSIVE | READER | BEFORE | MODE | PROMPT;
    CUES.iter()
        .filter(move |(_, f)| f & needed != 0)
        .map(|(p, _)| *p)
}

/// The technique findings in `text`, judged around the trigger cues only (`at`: their starts,
/// ascending); the same as [`detect`].
pub(crate) fn detect_triggered(text: &str, at: &[usize]) -> Vec<AttackFinding> {
    if at.is_empty() {
        return Vec::new();
    }
    detect_at(text, at)
}

/// The technique findings in the sentences of `text` around `triggers` (byte offsets of
/// trigger cues): the same as [`detect`] whenever every trigger cue in the text is among them.
fn detect_at(text: &str, triggers: &[usize]) -> Vec<AttackFinding> {
    let b = text.as_bytes();
    let sentence_start = |at: usize| {
        b[..at]
            .iter()
            .enumerate()
            .rev()
            .find(|(i, c)| {
                sentence_end(**c) && b.get(i + 1).is_none_or(|x| !x.is_ascii_alphanumeric())
            })
            .map_or(0, |(i, _)| i + 1)
    };
    let sentence_stop = |at: usize| {
        (at..b.len())
            .find(|&i| {
                sentence_end(b[i]) && b.get(i + 1).is_none_or(|x| !x.is_ascii_alphanumeric())
            })
            .map_or(b.len(), |i| i + 1)
    };
    let mut out = Vec::new();
    let mut covered = 0;
    for &t in triggers {
        if t < covered {
            continue;
        }
        let s = sentence_start(t);
        let from = if s == 0 { 0 } else { sentence_start(s - 1) };
        let mut to = sentence_stop(t);
        // Later triggers in the next sentence extend the range rather than start another.
        while let Some(&n) = triggers.iter().find(|&&n| n >= to) {
            if sentence_start(n) > to {
                break;
            }
            to = sentence_stop(n);
        }
        judge_range(text, from, to, covered, &mut out);
        covered = to;
    }
    out
}

/// The technique findings in `text`, every sentence judged.
pub fn detect(text: &str) -> Vec<AttackFinding> {
    let mut out = Vec::new();
    judge_range(text, 0, text.len(), 0, &mut out);
    out
}

/// Judges the sentences of `text[from..to]`, reporting those that start at or after
/// `emit_from` (the ones before only give the next their context).
fn judge_range(text: &str, from: usize, to: usize, emit_from: usize, out: &mut Vec<AttackFinding>) {
    let b = text.as_bytes();
    let mut prev = 0u32;
    for (s, e, f) in sentences(b, from, to) {
        let window = f | prev;
        prev = f;
        if f == 0 || s < emit_from {
            continue;
        }
        if let Some((technique, confidence)) = judge(f, window) {
            let lead = text[s..e].len() - text[s..e].trim_start().len();
            out.push(AttackFinding {
                start: s + lead,
                end: e,
                technique,
                confidence,
            });
        }
    }
}

/// The technique a sentence's cues (`f`) with the sentence before (`w`) amount to.
fn judge(f: u32, w: u32) -> Option<(&'static str, Confidence)> {
    let has = |x: u32, bits: u32| x & bits == bits;
    let any = |x: u32, bits: u32| x & bits != 0;
    let removes_rules =
        any(f, RULES) && (any(f, REMOVE) || any(f, WEAK) && any(w, PERMISSIVE)) && !any(f, OWN);
    let discloses_prompt = has(f, DISCLOSE | PROMPT);
    if has(f, DISCLOSE | BEFORE) || has(f, PROMPT | BEFORE) && any(f, AI) {
        return Some(("prompt_extraction", Confidence::High));
    }
    if any(f, READER) {
        let strong = any(f, HARM | REMOVE | RULES | PERMISSIVE) || discloses_prompt;
        return Some((
            "indirect_injection",
            if strong {
                Confidence::High
            } else {
                Confidence::Medium
            },
        ));
    }
    if any(w, AUTH) && any(w, AI) && (removes_rules || any(f, PERMISSIVE) || discloses_prompt) {
        return Some(("authority_claim", Confidence::High));
    }
    if any(f, MODE) && !any(w, DEVICE) && any(w, ACTIVATE | AI) {
        let strong = removes_rules || any(w, PERMISSIVE | CONVERSATION) || discloses_prompt;
        return Some((
            "mode_switch",
            if strong {
                Confidence::High
            } else {
                Confidence::Medium
            },
        ));
    }
    if any(w, ROLE) && (any(f, PERMISSIVE) || removes_rules) && any(w, AI | SELF_AI) {
        return Some(("role_reassignment", Confidence::High));
    }
    if any(w, FICTION)
        && any(w, SELF_AI)
        && (any(f, PERMISSIVE) || removes_rules || discloses_prompt || has(f, REMOVE | PROMPT))
    {
        return Some(("fictional_wrapper", Confidence::High));
    }
    if removes_rules && any(f, AI) {
        return Some(("instruction_override", Confidence::High));
    }
    if any(f, AI) && any(f, PERMISSIVE) {
        return Some(("restriction_removal", Confidence::Medium));
    }
    None
}

/// Whether the sentence around `at` is about a phone, a game, an app or a device.
pub(crate) fn about_a_device(text: &str, at: usize) -> bool {
    let b = text.as_bytes();
    let at = at.min(b.len());
    let start = b[..at]
        .iter()
        .rposition(|c| sentence_end(*c))
        .map_or(0, |p| p + 1);
    let end = b[at..]
        .iter()
        .position(|c| sentence_end(*c))
        .map_or(b.len(), |p| at + p);
    sentences(b, start, end)
        .iter()
        .any(|(_, _, f)| f & DEVICE != 0)
}
