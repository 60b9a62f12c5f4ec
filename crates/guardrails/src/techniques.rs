//! Prompt-attack *techniques*, beyond the phrase forms in `attack`: what an attack does rather
//! than how a published jailbreak words it.
//!
//! One case-blind automaton marks cue words and phrases by what they signal (a claim of
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
//! Cues are whole words (a match inside a longer word does not count). The input has already
//! been normalized (`normalize`), so look-alike letters and invisible characters do not split a
//! cue.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

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

fn automaton() -> &'static AhoCorasick {
    static A: OnceLock<AhoCorasick> = OnceLock::new();
    A.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(CUES.iter().map(|(p, _)| p))
            .unwrap_or_else(|_| unreachable!("fixed patterns compile"))
    })
}

fn word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'\'' || c >= 0x80
}

/// A sentence's cues and span.
struct Sentence {
    flags: u32,
    start: usize,
    end: usize,
}

fn sentence_end(c: u8) -> bool {
    matches!(c, b'.' | b'!' | b'?' | b'\n' | b';')
}

/// The cues at least one of which every technique needs (rules, a permissive promise, a
/// restricted mode, a prompt, a reader addressed, what came before): text with none of them is
/// not judged further.
fn gate() -> &'static AhoCorasick {
    static G: OnceLock<AhoCorasick> = OnceLock::new();
    G.get_or_init(|| {
        let needed = RULES | PERMISSIVE | READER | BEFORE | MODE | PROMPT;
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .build(CUES.iter().filter(|(_, f)| f & needed != 0).map(|(p, _)| p))
            .unwrap_or_else(|_| unreachable!("fixed patterns compile"))
    })
}

/// The technique findings in `text`.
pub(crate) fn detect(text: &str) -> Vec<AttackFinding> {
    let b = text.as_bytes();
    if !gate().is_match(b) {
        return Vec::new();
    }
    let mut sentences: Vec<Sentence> = Vec::new();
    let mut current = Sentence {
        flags: 0,
        start: 0,
        end: 0,
    };
    let mut scanned = 0;
    let close =
        |cur: &mut Sentence, upto: usize, sentences: &mut Vec<Sentence>, scanned: &mut usize| {
            // Close every sentence that ends between `scanned` and `upto`.
            let mut i = *scanned;
            while i < upto {
                if sentence_end(b[i]) && b.get(i + 1).is_none_or(|c| !c.is_ascii_alphanumeric()) {
                    cur.end = i + 1;
                    if cur.flags != 0 {
                        sentences.push(Sentence {
                            flags: cur.flags,
                            start: cur.start,
                            end: cur.end,
                        });
                    } else {
                        sentences.push(Sentence {
                            flags: 0,
                            start: cur.start,
                            end: cur.end,
                        });
                    }
                    cur.flags = 0;
                    cur.start = i + 1;
                }
                i += 1;
            }
            *scanned = upto.max(*scanned);
        };
    for m in automaton().find_iter(b) {
        let (s, e) = (m.start(), m.end());
        if (s > 0 && word_byte(b[s - 1]) && b[s - 1] != b'\'')
            || b.get(e).is_some_and(|c| c.is_ascii_alphanumeric())
        {
            continue;
        }
        close(&mut current, s, &mut sentences, &mut scanned);
        current.flags |= CUES[m.pattern().as_usize()].1;
    }
    close(&mut current, b.len(), &mut sentences, &mut scanned);
    current.end = b.len();
    if current.flags != 0 {
        sentences.push(current);
    }
    let mut out = Vec::new();
    let mut prev = 0u32;
    for s in &sentences {
        let f = s.flags;
        let w = f | prev;
        prev = f;
        if f == 0 {
            continue;
        }
        if let Some((technique, confidence)) = judge(f, w) {
            out.push(AttackFinding {
                start: s.start
                    + (text[s.start..s.end].len() - text[s.start..s.end].trim_start().len()),
                end: s.end,
                technique,
                confidence,
            });
        }
    }
    out
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
    let start = b[..at.min(b.len())]
        .iter()
        .rposition(|c| sentence_end(*c))
        .map_or(0, |p| p + 1);
    let end = b[at.min(b.len())..]
        .iter()
        .position(|c| sentence_end(*c))
        .map_or(b.len(), |p| at + p);
    automaton().find_iter(&b[start..end]).any(|m| {
        let (s, e) = (start + m.start(), start + m.end());
        CUES[m.pattern().as_usize()].1 & DEVICE != 0
            && !(s > 0 && word_byte(b[s - 1]))
            && !b.get(e).is_some_and(|c| c.is_ascii_alphanumeric())
    })
}
