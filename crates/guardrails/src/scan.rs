//! The sensitive-information scanner: one pass over the text's whitespace-separated tokens, with
//! context keywords found beforehand token by token (a table of keyword phrases by first word).
//!
//! Most tokens of ordinary prose are lowercase words and cost a few byte tests each. A token that
//! can begin an entity (digits, `@`, a capital letter, `(`, `+`, a URL scheme, or any token in a
//! context keyword's window) is classified by shape, and validated where the identifier carries a
//! check (Luhn, mod-97, SSN rules, ...). Entities that span several tokens (grouped card numbers,
//! phone numbers, IBANs, addresses, dates, names) are recognized by looking ahead from the token
//! where they start; nothing looks at text after an entity to decide it, and nothing looks further
//! back than one context window (or, in a table, its header row). That locality is what lets the streaming masker (`stream.rs`)
//! release text as soon as no entity can still start in it: `ScanOutput::hold_from`.

use std::sync::OnceLock;

use std::collections::HashMap;

use crate::decode;
use crate::fnv::FnvBuild;
use crate::normalize::View;
use crate::{checks, names, EntityType};

/// One entity found: its type and byte span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Finding {
    pub entity: EntityType,
    pub start: usize,
    pub end: usize,
}

/// A set of entity types (a bit per type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntitySet(u64);

impl EntitySet {
    pub const fn empty() -> EntitySet {
        EntitySet(0)
    }

    pub fn all() -> EntitySet {
        EntitySet::ALL_BITS
    }

    const ALL_BITS: EntitySet = EntitySet((1u64 << EntityType::ALL.len()) - 1);

    pub fn with(self, t: EntityType) -> EntitySet {
        EntitySet(self.0 | 1 << t as u32)
    }

    pub fn contains(self, t: EntityType) -> bool {
        self.0 & (1 << t as u32) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = EntityType> {
        EntityType::ALL
            .iter()
            .copied()
            .filter(move |t| self.contains(*t))
    }
}

impl FromIterator<EntityType> for EntitySet {
    fn from_iter<I: IntoIterator<Item = EntityType>>(iter: I) -> EntitySet {
        iter.into_iter().fold(EntitySet::empty(), EntitySet::with)
    }
}

/// What a scan found, and from where on the text is not yet settled.
#[derive(Debug, Clone, Default)]
pub struct ScanOutput {
    pub findings: Vec<Finding>,
    /// The byte offset from which an entity could still begin if more text were appended: the
    /// start of the earliest token, among the last [`MAX_ENTITY_TOKENS`], that can begin one (the
    /// last token always, unless the text ends in whitespace). Everything before it is final.
    pub hold_from: usize,
}

/// The most tokens one entity spans (a grouped IBAN, an address with its unit).
pub const MAX_ENTITY_TOKENS: usize = 9;

/// Scans `text` for the entity types in `set`, as the guardrails do: through the normalized
/// view ([`crate::normalize`]), one level inside base64 and hex, with spans in `text`.
pub fn scan(text: &str, set: EntitySet) -> Vec<Finding> {
    let view = View::new(text);
    let mut found = scan_normalized(view.text(), set).findings;
    if !view.is_identity() {
        for f in &mut found {
            (f.start, f.end) = view.span(f.start, f.end);
        }
    }
    found
}

/// How much of the text before a base64 or hex run gives its decoded text context.
const CONTEXT_BYTES: usize = 48;

/// [`scan_detailed`] plus what base64 and hex runs decode to: a run whose decoded text holds an
/// entity is that entity. For text already normalized.
pub(crate) fn scan_normalized(text: &str, set: EntitySet) -> ScanOutput {
    if set.is_empty() {
        return scan_detailed(text, set);
    }
    let mut s = Scanner::new(text, set);
    s.run();
    // Blobs are looked for only in tokens long enough to hold one.
    let mut blobs = Vec::new();
    for t in &s.toks {
        if t.end - t.start >= decode::MIN_TEXT_B64 {
            decode::blobs_between(text, t.start, t.end, &mut blobs);
        }
    }
    let mut out = ScanOutput {
        findings: s.findings,
        hold_from: s.hold_from,
    };
    let mut extra = false;
    for (bs, be, decoded) in blobs {
        // The decoded text read after the context the blob had (`SSN: <base64>`).
        let mut ctx_start = bs.saturating_sub(CONTEXT_BYTES);
        while !text.is_char_boundary(ctx_start) {
            ctx_start -= 1;
        }
        let context = &text[ctx_start..bs];
        let inner = View::new(&decoded);
        let joined = format!("{context}{}", inner.text());
        let found = scan_detailed(&joined, set).findings;
        if let Some(f) = found.iter().find(|f| f.end > context.len()) {
            out.findings.push(Finding {
                entity: f.entity,
                start: bs,
                end: be,
            });
            extra = true;
        }
    }
    if extra {
        out.findings
            .sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    }
    out
}

/// Scans `text` as it is (no normalization) and also says where the settled part ends (for
/// streaming).
pub fn scan_detailed(text: &str, set: EntitySet) -> ScanOutput {
    if set.is_empty() {
        return ScanOutput {
            findings: Vec::new(),
            hold_from: text.len(),
        };
    }
    let mut s = Scanner::new(text, set);
    s.run();
    ScanOutput {
        findings: s.findings,
        hold_from: s.hold_from,
    }
}

// ---------------------------------------------------------------------------------------------
// Context keywords

/// What a context keyword says about the value that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Ssn,
    Passport,
    DriverId,
    BankAccount,
    Routing,
    Swift,
    Plate,
    Password,
    Pin,
    Username,
    Cvv,
    Expiry,
    Mrn,
    HealthPlan,
    Fax,
    Phone,
    CertLicense,
    Device,
    AwsSecret,
    Sin,
    Ohip,
    Utr,
    Nhs,
    Zip,
    Age,
    Name,
}

const KEYWORDS: &[(&str, Ctx)] = &[
    ("ssn", Ctx::Ssn),
    ("ssn#", Ctx::Ssn),
    ("social security", Ctx::Ssn),
    ("social security number", Ctx::Ssn),
    ("social security no", Ctx::Ssn),
    ("passport", Ctx::Passport),
    ("passport number", Ctx::Passport),
    ("passport no", Ctx::Passport),
    ("driver's license", Ctx::DriverId),
    ("drivers license", Ctx::DriverId),
    ("driver license", Ctx::DriverId),
    ("driver's licence", Ctx::DriverId),
    ("driving licence", Ctx::DriverId),
    ("driver's license number", Ctx::DriverId),
    ("driver license no", Ctx::DriverId),
    ("dl", Ctx::DriverId),
    ("driver id", Ctx::DriverId),
    ("driver's license no", Ctx::DriverId),
    ("dl#", Ctx::DriverId),
    ("account", Ctx::BankAccount),
    ("account number", Ctx::BankAccount),
    ("account no", Ctx::BankAccount),
    ("acct", Ctx::BankAccount),
    ("acct#", Ctx::BankAccount),
    ("checking", Ctx::BankAccount),
    ("savings", Ctx::BankAccount),
    ("routing", Ctx::Routing),
    ("routing number", Ctx::Routing),
    ("routing no", Ctx::Routing),
    ("aba", Ctx::Routing),
    ("rtn", Ctx::Routing),
    ("swift", Ctx::Swift),
    ("swift code", Ctx::Swift),
    ("bic", Ctx::Swift),
    ("swift/bic", Ctx::Swift),
    ("plate", Ctx::Plate),
    ("license plate", Ctx::Plate),
    ("licence plate", Ctx::Plate),
    ("plate number", Ctx::Plate),
    ("tag", Ctx::Plate),
    ("password", Ctx::Password),
    ("passwd", Ctx::Password),
    ("pwd", Ctx::Password),
    ("pin", Ctx::Pin),
    ("username", Ctx::Username),
    ("user name", Ctx::Username),
    ("user", Ctx::Username),
    ("login", Ctx::Username),
    ("userid", Ctx::Username),
    ("user id", Ctx::Username),
    ("user_name", Ctx::Username),
    ("cvv", Ctx::Cvv),
    ("cvv2", Ctx::Cvv),
    ("cvc", Ctx::Cvv),
    ("csc", Ctx::Cvv),
    ("security code", Ctx::Cvv),
    ("exp", Ctx::Expiry),
    ("exp date", Ctx::Expiry),
    ("expiry", Ctx::Expiry),
    ("expiry date", Ctx::Expiry),
    ("expires", Ctx::Expiry),
    ("expiration", Ctx::Expiry),
    ("expiration date", Ctx::Expiry),
    ("valid thru", Ctx::Expiry),
    ("mrn", Ctx::Mrn),
    ("mr#", Ctx::Mrn),
    ("medical record number", Ctx::Mrn),
    ("medical record", Ctx::Mrn),
    ("medical record no", Ctx::Mrn),
    ("chart number", Ctx::Mrn),
    ("chart #", Ctx::Mrn),
    ("chart no", Ctx::Mrn),
    ("member id", Ctx::HealthPlan),
    ("member #", Ctx::HealthPlan),
    ("member number", Ctx::HealthPlan),
    ("beneficiary", Ctx::HealthPlan),
    ("beneficiary id", Ctx::HealthPlan),
    ("beneficiary number", Ctx::HealthPlan),
    ("policy number", Ctx::HealthPlan),
    ("policy #", Ctx::HealthPlan),
    ("policy no", Ctx::HealthPlan),
    ("subscriber id", Ctx::HealthPlan),
    ("mbi", Ctx::HealthPlan),
    ("medicare number", Ctx::HealthPlan),
    ("medicare id", Ctx::HealthPlan),
    ("insurance id", Ctx::HealthPlan),
    ("fax", Ctx::Fax),
    ("f:", Ctx::Fax),
    ("facsimile", Ctx::Fax),
    ("phone", Ctx::Phone),
    ("tel", Ctx::Phone),
    ("telephone", Ctx::Phone),
    ("cell", Ctx::Phone),
    ("mobile", Ctx::Phone),
    ("ph", Ctx::Phone),
    ("license number", Ctx::CertLicense),
    ("license no", Ctx::CertLicense),
    ("license #", Ctx::CertLicense),
    ("licence number", Ctx::CertLicense),
    ("medical license", Ctx::CertLicense),
    ("certificate", Ctx::CertLicense),
    ("certificate number", Ctx::CertLicense),
    ("certificate no", Ctx::CertLicense),
    ("certification", Ctx::CertLicense),
    ("board certification", Ctx::CertLicense),
    ("dea", Ctx::CertLicense),
    ("dea#", Ctx::CertLicense),
    ("npi", Ctx::CertLicense),
    ("lic", Ctx::CertLicense),
    ("lic#", Ctx::CertLicense),
    ("serial", Ctx::Device),
    ("serial number", Ctx::Device),
    ("serial no", Ctx::Device),
    ("s/n", Ctx::Device),
    ("sn", Ctx::Device),
    ("device id", Ctx::Device),
    ("device identifier", Ctx::Device),
    ("udi", Ctx::Device),
    ("imei", Ctx::Device),
    ("aws_secret_access_key", Ctx::AwsSecret),
    ("secret key", Ctx::AwsSecret),
    ("secret access key", Ctx::AwsSecret),
    ("secretaccesskey", Ctx::AwsSecret),
    ("aws secret", Ctx::AwsSecret),
    ("sin", Ctx::Sin),
    ("social insurance", Ctx::Sin),
    ("social insurance number", Ctx::Sin),
    ("ohip", Ctx::Ohip),
    ("health card", Ctx::Ohip),
    ("health card number", Ctx::Ohip),
    ("health number", Ctx::Ohip),
    ("utr", Ctx::Utr),
    ("unique taxpayer reference", Ctx::Utr),
    ("taxpayer reference", Ctx::Utr),
    ("nhs", Ctx::Nhs),
    ("nhs number", Ctx::Nhs),
    ("nhs no", Ctx::Nhs),
    ("zip", Ctx::Zip),
    ("zip code", Ctx::Zip),
    ("zipcode", Ctx::Zip),
    ("postal code", Ctx::Zip),
    ("age", Ctx::Age),
    ("aged", Ctx::Age),
    ("turns", Ctx::Age),
    ("turned", Ctx::Age),
    ("patient", Ctx::Name),
    ("patient name", Ctx::Name),
    ("pt", Ctx::Name),
    ("name", Ctx::Name),
    ("full name", Ctx::Name),
    ("name is", Ctx::Name),
    ("patient is", Ctx::Name),
    ("named", Ctx::Name),
    ("dear", Ctx::Name),
    ("signed", Ctx::Name),
    ("from", Ctx::Name),
    ("to", Ctx::Name),
    ("cc", Ctx::Name),
    ("hello", Ctx::Name),
    ("hi", Ctx::Name),
    ("sincerely", Ctx::Name),
    ("regards", Ctx::Name),
    ("best regards", Ctx::Name),
    ("kind regards", Ctx::Name),
    ("cheers", Ctx::Name),
    ("thanks", Ctx::Name),
    ("spouse", Ctx::Name),
    ("wife", Ctx::Name),
    ("husband", Ctx::Name),
    ("daughter", Ctx::Name),
    ("son", Ctx::Name),
    ("mother", Ctx::Name),
    ("father", Ctx::Name),
    ("brother", Ctx::Name),
    ("sister", Ctx::Name),
    ("contact", Ctx::Name),
    ("emergency contact", Ctx::Name),
    ("guardian", Ctx::Name),
    ("caregiver", Ctx::Name),
    ("reach", Ctx::Name),
    ("ask", Ctx::Name),
    ("its", Ctx::Name),
    ("it's", Ctx::Name),
    ("this is", Ctx::Name),
    ("attn", Ctx::Name),
    ("mr", Ctx::Name),
    ("mrs", Ctx::Name),
    ("ms", Ctx::Name),
    ("miss", Ctx::Name),
    ("dr", Ctx::Name),
    ("prof", Ctx::Name),
    ("mx", Ctx::Name),
];

/// The keywords, indexed by their first word (lowercased), each entry's phrases longest first.
struct Keywords {
    /// A bit per (first byte, second byte) of every first word, lowercased: most words of
    /// ordinary text are turned away by one lookup.
    pairs: Vec<u64>,
    first: HashMap<&'static [u8], Vec<Phrase>, FnvBuild>,
}

struct Phrase {
    /// The words after the first.
    rest: Vec<&'static [u8]>,
    ctx: Ctx,
    /// The keyword ends with a colon of its own ("f:").
    colon: bool,
}

fn pair_index(w: &[u8]) -> usize {
    let a = usize::from(w[0].to_ascii_lowercase() & 0x7f);
    let b = usize::from(w.get(1).map_or(0, |c| c.to_ascii_lowercase() & 0x7f));
    a * 128 + b
}

fn keywords() -> &'static Keywords {
    static KW: OnceLock<Keywords> = OnceLock::new();
    KW.get_or_init(|| {
        let mut k = Keywords {
            pairs: vec![0u64; 128 * 128 / 64],
            first: HashMap::default(),
        };
        for (text, ctx) in KEYWORDS {
            let colon = text.ends_with(':');
            let body = text.strip_suffix(':').unwrap_or(text);
            let mut words = body.split(' ').map(str::as_bytes);
            let Some(first) = words.next() else {
                continue;
            };
            let idx = pair_index(first);
            k.pairs[idx / 64] |= 1 << (idx % 64);
            k.first.entry(first).or_default().push(Phrase {
                rest: words.collect(),
                ctx: *ctx,
                colon,
            });
        }
        for phrases in k.first.values_mut() {
            phrases.sort_by_key(|p| std::cmp::Reverse(p.rest.len()));
        }
        k
    })
}

impl Keywords {
    /// Whether a keyword's first word could start like `w` (its first two bytes).
    fn may_start(&self, w: &[u8]) -> bool {
        let idx = pair_index(w);
        self.pairs[idx / 64] & (1 << (idx % 64)) != 0
    }

    /// The phrases whose first word is `w` (any case).
    fn starting(&self, w: &[u8]) -> Option<&[Phrase]> {
        if w.is_empty() || w.len() > 24 {
            return None;
        }
        let idx = pair_index(w);
        if self.pairs[idx / 64] & (1 << (idx % 64)) == 0 {
            return None;
        }
        let mut buf = [0u8; 24];
        for (d, c) in buf.iter_mut().zip(w) {
            *d = c.to_ascii_lowercase();
        }
        self.first.get(&buf[..w.len()]).map(Vec::as_slice)
    }
}

/// A keyword hit: where it ends and what it announces.
#[derive(Debug, Clone, Copy)]
struct Hit {
    end: usize,
    ctx: Ctx,
}

/// The keyword phrases in the text, found token by token: a phrase's first word is a token's
/// core (or the part of it before a `:` or through a `#`: `SSN:078-05-1121`, `acct#1234`), its
/// other words the following tokens' cores, separated by whitespace only.
fn keyword_hits(b: &[u8], toks: &[Tok]) -> Vec<Hit> {
    let kw = keywords();
    let mut hits = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let core = &b[t.core_start..t.core_end];
        let mut found = None;
        // The whole core, then the part before an inner ':' or through an inner '#'.
        if core.is_empty() || !kw.may_start(core) {
            i += 1;
            continue;
        }
        let mut candidates: [Option<&[u8]>; 2] = [Some(core), None];
        if let Some(p) = core.iter().position(|c| *c == b':' || *c == b'#') {
            if p > 0 {
                candidates[1] = Some(if core[p] == b'#' {
                    &core[..=p]
                } else {
                    &core[..p]
                });
            }
        }
        'candidates: for word in candidates.into_iter().flatten() {
            let Some(phrases) = kw.starting(word) else {
                continue;
            };
            'phrases: for ph in phrases {
                let mut end = t.core_start + word.len();
                let mut j = i;
                for w in &ph.rest {
                    if j + 1 >= toks.len() || word.len() != core.len() {
                        continue 'phrases;
                    }
                    let gap = &b[toks[j].end..toks[j + 1].start];
                    if toks[j].core_end != toks[j].end || !gap.iter().all(u8::is_ascii_whitespace) {
                        continue 'phrases;
                    }
                    let next = toks[j + 1];
                    let c = &b[next.core_start..next.core_end];
                    if *w == b"#" && c.first() == Some(&b'#') {
                        // "Member #MEM0919": the value follows the '#' inside the token.
                        end = next.core_start + 1;
                    } else if c.eq_ignore_ascii_case(w) {
                        end = next.core_end;
                    } else {
                        continue 'phrases;
                    }
                    j += 1;
                }
                if ph.colon {
                    if b.get(end) != Some(&b':') {
                        continue;
                    }
                    end += 1;
                }
                if matches!(ph.ctx, Ctx::Password | Ctx::Username | Ctx::Pin | Ctx::Name)
                    && !assigns(b, t.core_start, end, ph.ctx)
                {
                    continue;
                }
                found = Some((j, Hit { end, ctx: ph.ctx }));
                break 'candidates;
            }
        }
        match found {
            Some((j, hit)) => {
                hits.push(hit);
                i = j + 1;
            }
            None => i += 1,
        }
    }
    hits
}

/// Keywords that are ordinary words ("user", "pin", "name", "patient") count only when the
/// text assigns a value to them: `user=jdoe`, `Password: x`, `password is x`, `Patient: Name`.
/// Titles and greetings ("Dr", "Dear") count when followed by a capitalized word.
fn assigns(bytes: &[u8], start: usize, end: usize, ctx: Ctx) -> bool {
    let mut i = end;
    // A title's period: "Dr." / "Mrs.".
    if ctx == Ctx::Name && i < bytes.len() && bytes[i] == b'.' {
        i += 1;
    }
    while i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
        i += 1;
    }
    let mut spaces = 0;
    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
        i += 1;
        spaces += 1;
    }
    let Some(&next) = bytes.get(i) else {
        return false;
    };
    if next == b':' || next == b'=' {
        if ctx != Ctx::Name {
            return true;
        }
        // "Name: Maria Garcia" on one line; "by name:" closing a line is not a field.
        let rest = &bytes[i + 1..];
        let gap = rest
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        // A name in one case ("name: JOHN SMITH", "name: maria garcia") is checked against
        // the census lists by the caller.
        return rest.get(gap).is_some_and(u8::is_ascii_alphabetic) && gap <= 2;
    }
    let keyword = &bytes[start..end];
    match ctx {
        Ctx::Name => {
            let mut buf = [0u8; 20];
            let n = keyword.len().min(buf.len());
            for (d, c) in buf.iter_mut().zip(keyword) {
                *d = c.to_ascii_lowercase();
            }
            let cap_next = spaces > 0 && next.is_ascii_uppercase();
            match &buf[..n] {
                // Titles are written capitalized: "Dr. Okafor", not "dr okafor".
                b"mr" | b"mrs" | b"ms" | b"miss" | b"dr" | b"prof" | b"mx" => {
                    cap_next && keyword[0].is_ascii_uppercase()
                }
                b"dear" | b"attn" | b"hello" | b"hi" | b"spouse" | b"wife" | b"husband"
                | b"daughter" | b"son" | b"mother" | b"father" | b"brother" | b"sister"
                | b"guardian" | b"contact" | b"emergency contact" | b"caregiver" | b"reach"
                | b"ask" | b"its" | b"it's" | b"this is" => cap_next,
                b"signed" => spaces > 0,
                // "my name is john smith", "the patient is MARIA GARCIA", "named Ann Lee".
                b"name is" | b"patient is" | b"named" => spaces > 0 && next.is_ascii_alphabetic(),
                // A sign-off: "Sincerely,\nGeorge Page".
                b"sincerely" | b"regards" | b"best regards" | b"kind regards" | b"cheers"
                | b"thanks" => {
                    next == b','
                        && bytes[i + 1..]
                            .iter()
                            .find(|c| !c.is_ascii_whitespace())
                            .is_some_and(u8::is_ascii_uppercase)
                        && bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace)
                }
                // "Name", "Patient", "From", "To" count only before ':' or '=' (above).
                _ => false,
            }
        }
        Ctx::Pin => spaces > 0 && next.is_ascii_digit() || bytes[i..].starts_with(b"is "),
        _ => spaces > 0 && bytes[i..].starts_with(b"is "),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, Copy)]
struct Tok {
    /// The raw whitespace-delimited token.
    start: usize,
    end: usize,
    /// Without leading `(["'<` and trailing `.,;:!?)]}"'>`.
    core_start: usize,
    core_end: usize,
}

const WS: u8 = 1;
const SPLIT: u8 = 2;
const LEAD: u8 = 4;
const TRAIL: u8 = 8;

/// What each byte is to the tokenizer: whitespace, a possible split (`|`, `=`, `,`), a
/// character trimmed from a token's start or end.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let ws = b" \t\n\r\x0b\x0c";
    let mut k = 0;
    while k < ws.len() {
        t[ws[k] as usize] = WS;
        k += 1;
    }
    t[b'|' as usize] = SPLIT;
    t[b'=' as usize] = SPLIT;
    t[b',' as usize] = SPLIT | TRAIL;
    let lead = b"([\"'<{*`";
    k = 0;
    while k < lead.len() {
        t[lead[k] as usize] |= LEAD;
        k += 1;
    }
    let trail = b".;:!?)]}\"'>*`";
    k = 0;
    while k < trail.len() {
        t[trail[k] as usize] |= TRAIL;
        k += 1;
    }
    t
};

fn tokenize(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let n = b.len();
    let mut toks = Vec::with_capacity(n / 5 + 1);
    let mut i = 0;
    while i < n {
        while i < n && CLASS[b[i] as usize] & WS != 0 {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        let rest = &b[start..];
        let url = rest.starts_with(b"http://")
            || rest.starts_with(b"https://")
            || rest.starts_with(b"www.");
        loop {
            while i < n && CLASS[b[i] as usize] & (WS | SPLIT) == 0 {
                i += 1;
            }
            // A possible split ends the token only where `splits` says so (never in a URL).
            if i < n && CLASS[b[i] as usize] & WS == 0 && (url || !splits(b, i)) {
                i += 1;
                continue;
            }
            break;
        }
        if i == start {
            // A separator on its own: skip it.
            i += 1;
            continue;
        }
        let mut cs = start;
        while cs < i && CLASS[b[cs] as usize] & LEAD != 0 {
            cs += 1;
        }
        let mut ce = i;
        while ce > cs && CLASS[b[ce - 1] as usize] & TRAIL != 0 {
            ce -= 1;
        }
        toks.push(Tok {
            start,
            end: i,
            core_start: cs,
            core_end: ce,
        });
    }
    toks
}

/// Where a token ends without whitespace: `|` between table cells, a comma between quoted
/// CSV fields (`"a","b"`), and `=` in `key=value` (the value is its own token; the keyword
/// before it still announces it).
fn splits(b: &[u8], i: usize) -> bool {
    match b[i] {
        b'|' | b'=' => true,
        // Between CSV fields, not in "1,234" or before a space ("Austin, TX").
        b',' => {
            let next = b.get(i + 1).copied();
            let prev = if i > 0 { b[i - 1] } else { b' ' };
            next.is_some_and(|c| !c.is_ascii_whitespace())
                && !(prev.is_ascii_digit() && next.is_some_and(|c| c.is_ascii_digit()))
        }
        _ => false,
    }
}

/// A table's header: the separator and what each column's name announces.
#[derive(Debug)]
struct Table {
    sep: u8,
    columns: Vec<Option<Ctx>>,
}

/// `Name | DOB | MRN | Phone` or `Name,NINO,NHS No,UTR`: at least three short cells of words,
/// no digits; for commas, no space after them (prose has spaces, CSV headers do not).
fn table_header(line: &[u8]) -> Option<Table> {
    let sep = if line.contains(&b'|') {
        b'|'
    } else if line.contains(&b',') && !line.windows(2).any(|w| w == b", ") {
        b','
    } else {
        return None;
    };
    if line.len() > 400 || line.iter().any(u8::is_ascii_digit) {
        return None;
    }
    let mut columns = Vec::new();
    let mut cells = 0;
    for raw in line.split(|c| *c == sep) {
        let cell = trim_cell(raw);
        if cell.is_empty() {
            if cells == 0 || raw.len() == line.len() {
                continue; // a leading '|'
            }
            columns.push(None);
            continue;
        }
        let ok = cell.iter().any(u8::is_ascii_alphabetic)
            && cell.len() <= 32
            && cell.split(|c| *c == b' ').filter(|w| !w.is_empty()).count() <= 4
            && cell.iter().all(|c| {
                c.is_ascii_alphabetic()
                    || matches!(
                        c,
                        b' ' | b'#' | b'/' | b'.' | b'-' | b'_' | b'\'' | b'(' | b')'
                    )
            });
        if !ok {
            return None;
        }
        cells += 1;
        columns.push(column_context(cell));
    }
    (cells >= 3).then_some(Table { sep, columns })
}

fn trim_cell(c: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = c.len();
    while s < e && matches!(c[s], b' ' | b'\t' | b'"' | b'\'') {
        s += 1;
    }
    while e > s && matches!(c[e - 1], b' ' | b'\t' | b'"' | b'\'' | b'\r') {
        e -= 1;
    }
    &c[s..e]
}

/// The context a column name announces: the first keyword among its words.
fn column_context(cell: &[u8]) -> Option<Ctx> {
    let words: Vec<&[u8]> = cell
        .split(|c| *c == b' ')
        .filter(|w| !w.is_empty())
        .collect();
    let kw = keywords();
    for start in 0..words.len() {
        let Some(phrases) = kw.starting(words[start]) else {
            continue;
        };
        for ph in phrases {
            let rest = &words[start + 1..];
            if rest.len() >= ph.rest.len()
                && ph
                    .rest
                    .iter()
                    .zip(rest)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
            {
                return Some(ph.ctx);
            }
        }
    }
    None
}

fn is_lower_word(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_lowercase)
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

fn is_capitalized(s: &[u8]) -> bool {
    let Some((first, rest)) = s.split_first() else {
        return false;
    };
    if !first.is_ascii_uppercase() || rest.is_empty() {
        return false;
    }
    // Lowercase after the first letter, except a capital after a hyphen or apostrophe or in a
    // Mc/Mac prefix: Nguyen-Tran, O'Brien, McDonald, MacArthur.
    let mut prev = *first;
    for (k, c) in rest.iter().enumerate() {
        let ok = c.is_ascii_lowercase()
            || *c == b'\'' && prev != b'\'' && prev != b'-'
            || *c == b'-' && prev != b'\'' && prev != b'-'
            || c.is_ascii_uppercase()
                && (prev == b'-'
                    || prev == b'\''
                    || (k == 1 && s[..2] == *b"Mc")
                    || (k == 2 && s[..3] == *b"Mac"));
        if !ok {
            return false;
        }
        prev = *c;
    }
    prev != b'-' && prev != b'\''
}

fn parse_num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !all_digits(s) {
        return None;
    }
    Some(s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

fn month_number(word: &[u8]) -> Option<u32> {
    let w = word.strip_suffix(b".").unwrap_or(word);
    if w.len() < 3
        || w.len() > 9
        || !matches!(w[0], b'J' | b'F' | b'M' | b'A' | b'S' | b'O' | b'N' | b'D')
    {
        return None;
    }
    let mut buf = [0u8; 9];
    for (d, s) in buf.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    let w = &buf[..w.len()];
    const MONTHS: [&[u8]; 12] = [
        b"january",
        b"february",
        b"march",
        b"april",
        b"may",
        b"june",
        b"july",
        b"august",
        b"september",
        b"october",
        b"november",
        b"december",
    ];
    for (i, m) in MONTHS.iter().enumerate() {
        if *m == w || (w.len() == 3 && m.starts_with(w)) || (w == b"sept" && i == 8) {
            return Some(i as u32 + 1);
        }
    }
    None
}

const STREET_SUFFIXES: &[&[u8]] = &[
    b"street",
    b"st",
    b"avenue",
    b"ave",
    b"road",
    b"rd",
    b"boulevard",
    b"blvd",
    b"lane",
    b"ln",
    b"drive",
    b"dr",
    b"court",
    b"ct",
    b"way",
    b"place",
    b"pl",
    b"terrace",
    b"ter",
    b"circle",
    b"cir",
    b"highway",
    b"hwy",
    b"parkway",
    b"pkwy",
    b"square",
    b"sq",
    b"trail",
    b"trl",
    b"crescent",
    b"close",
    b"row",
    b"plaza",
    b"pike",
    b"alley",
];

fn is_street_suffix(word: &[u8]) -> bool {
    let w = word.strip_suffix(b".").unwrap_or(word);
    w.len() <= 9
        && w.first().is_some_and(u8::is_ascii_uppercase)
        && STREET_SUFFIXES.iter().any(|s| s.eq_ignore_ascii_case(w))
}

fn is_direction(word: &[u8]) -> bool {
    let w = word.strip_suffix(b".").unwrap_or(word);
    matches!(
        w,
        b"N" | b"S"
            | b"E"
            | b"W"
            | b"NE"
            | b"NW"
            | b"SE"
            | b"SW"
            | b"North"
            | b"South"
            | b"East"
            | b"West"
    )
}

fn is_ordinal(word: &[u8]) -> bool {
    let n = word.iter().take_while(|c| c.is_ascii_digit()).count();
    n > 0 && n <= 3 && matches!(&word[n..], b"st" | b"nd" | b"rd" | b"th")
}

fn is_title(word: &[u8]) -> bool {
    let w = word.strip_suffix(b".").unwrap_or(word);
    matches!(
        w,
        b"Mr" | b"Mrs" | b"Ms" | b"Miss" | b"Dr" | b"Prof" | b"Mx"
    )
}

/// A name-like token: capitalized, alphabetic (apostrophes and hyphens inside), not a title.
fn name_like(word: &[u8]) -> bool {
    is_capitalized(word) && word.len() >= 2 && !is_title(word)
}

fn as_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// The scanner

const CTX_WINDOW: usize = 4;

struct Scanner<'t> {
    b: &'t [u8],
    toks: Vec<Tok>,
    set: EntitySet,
    findings: Vec<Finding>,
    hold_from: usize,
}

/// Words that may sit between a context keyword and its value.
fn is_filler(word: &[u8]) -> bool {
    if word.iter().all(|c| !c.is_ascii_alphanumeric()) {
        return true;
    }
    let mut buf = [0u8; 8];
    if word.len() > buf.len() {
        return false;
    }
    for (d, s) in buf.iter_mut().zip(word) {
        *d = s.to_ascii_lowercase();
    }
    matches!(
        &buf[..word.len()],
        b"is"
            | b"number"
            | b"no"
            | b"no."
            | b"num"
            | b"nbr"
            | b"id"
            | b"#"
            | b"was"
            | b"of"
            | b"the"
            | b"code"
            | b"date"
            | b"on"
            | b"file"
            | b"card"
            | b"#:"
            | b"no:"
            | b"id:"
            | b"ending"
            | b"in"
            | b"are"
            | b"key"
            | b"value"
            | b"number:"
    )
}

impl<'t> Scanner<'t> {
    fn new(text: &'t str, set: EntitySet) -> Scanner<'t> {
        Scanner {
            b: text.as_bytes(),
            toks: tokenize(text),
            set,
            findings: Vec::new(),
            hold_from: text.len(),
        }
    }

    fn core(&self, i: usize) -> &'t [u8] {
        let t = self.toks[i];
        &self.b[t.core_start..t.core_end]
    }

    fn raw(&self, i: usize) -> &'t [u8] {
        let t = self.toks[i];
        &self.b[t.start..t.end]
    }

    /// Whether tokens `i` and `i + 1` are separated by exactly one space.
    fn single_space(&self, i: usize) -> bool {
        i + 1 < self.toks.len()
            && self.toks[i + 1].start == self.toks[i].end + 1
            && self.b[self.toks[i].end] == b' '
    }

    fn emit(&mut self, entity: EntityType, start: usize, end: usize) {
        if self.set.contains(entity) && start < end {
            self.findings.push(Finding { entity, start, end });
        }
    }

    fn run(&mut self) {
        let hits = keyword_hits(self.b, &self.toks);
        let mut next_hit = 0;
        // The active context: what it announces, where its keyword ends, and the last token
        // index its window covers.
        let mut ctx: Option<(Ctx, usize, usize)> = None;
        let n = self.toks.len();
        // How many tokens an entity starting at each token could span (0: none can start
        // there), for `hold_from`.
        let mut reach = vec![0u8; n];
        let mut i = 0;
        let mut table: Option<Table> = None;
        let mut header_line = false;
        let mut cell = 0usize;
        let mut prev_cell = usize::MAX;
        while i < n {
            let t = self.toks[i];
            let mut consumed = false;
            // Tables: a header row gives each column's cells the context its name announces.
            // Most gaps are one space: no memchr call for those.
            let new_line = i == 0
                || match &self.b[self.toks[i - 1].end..t.start] {
                    [c] => *c == b'\n',
                    gap => gap.contains(&b'\n'),
                };
            if new_line {
                cell = 0;
                prev_cell = usize::MAX;
                let line_start = self.b[..t.start]
                    .iter()
                    .rposition(|c| *c == b'\n')
                    .map_or(0, |p| p + 1);
                let line_end = self.b[t.start..]
                    .iter()
                    .position(|c| *c == b'\n')
                    .map_or(self.b.len(), |p| t.start + p);
                let line = &self.b[line_start..line_end];
                header_line = false;
                if let Some(h) = table_header(line) {
                    table = Some(h);
                    header_line = true;
                } else if table.as_ref().is_some_and(|tb| !line.contains(&tb.sep)) {
                    table = None;
                }
            } else if let Some(tb) = &table {
                cell += self.b[self.toks[i - 1].end..t.start]
                    .iter()
                    .filter(|c| **c == tb.sep)
                    .count();
            }
            if let (Some(tb), false) = (&table, header_line) {
                if cell != prev_cell {
                    if let Some(Some(c)) = tb.columns.get(cell) {
                        ctx = Some((*c, t.start, i + CTX_WINDOW - 1));
                    }
                }
            }
            prev_cell = cell;
            // Activate keyword hits that end before this token, or inside it (`user=jdoe`,
            // `MRN:`).
            while next_hit < hits.len() && hits[next_hit].end <= t.end {
                let h = hits[next_hit];
                next_hit += 1;
                if h.end <= t.start {
                    ctx = Some((h.ctx, h.end, i + CTX_WINDOW - 1));
                    continue;
                }
                let rest = &self.b[h.end..t.end];
                let q = rest
                    .iter()
                    .take_while(|c| matches!(c, b'"' | b'\''))
                    .count();
                // "Member #MEM0919" and "SSN:078-05-1121": the value follows the keyword's own
                // `#` or `:` inside the token.
                let attached = matches!(self.b[h.end - 1], b'#' | b':');
                let vstart = if attached { h.end } else { h.end + q + 1 };
                if (attached || matches!(rest.get(q), Some(b'=') | Some(b':')))
                    && vstart < t.core_end
                    && !consumed
                    && self.inline_value(h.ctx, vstart, t.core_end)
                {
                    reach[i] = 1;
                    consumed = true;
                    ctx = None;
                } else if !consumed {
                    ctx = Some((h.ctx, t.end, i + CTX_WINDOW));
                }
            }
            if consumed {
                i += 1;
                continue;
            }
            if let Some((_, _, last)) = ctx {
                if i > last {
                    ctx = None;
                }
            }
            let core = self.core(i);
            let mut advanced = None;
            if let Some((c, hit_end, _)) = ctx {
                if t.start >= hit_end {
                    reach[i] = 5;
                    if let Some(next) = self.with_context(c, i) {
                        advanced = Some(next);
                        ctx = None;
                    } else if !(is_filler(core)
                        || matches!(c, Ctx::Fax | Ctx::Phone) && is_lower_word(core))
                    {
                        // The window ends at the first token that is neither filler nor value
                        // ("fax records to (555) ..." keeps its window through the words).
                        ctx = None;
                    }
                }
            }
            if advanced.is_none() {
                let r = self.reach(i);
                if r > 0 {
                    reach[i] = reach[i].max(r);
                    advanced = self.without_context(i);
                    if let Some(next) = advanced {
                        // A keyword inside what was just recognized ("Cedar Dr NW") announces
                        // nothing after it.
                        ctx = None;
                        let through = self.toks[next - 1].end;
                        while next_hit < hits.len() && hits[next_hit].end <= through {
                            next_hit += 1;
                        }
                    }
                }
            }
            i = advanced.unwrap_or(i + 1);
        }
        self.hold_from = self.settled(&reach);
        self.findings.sort_unstable_by_key(|f| (f.start, f.end));
        self.findings.dedup_by(|b, a| b.start < a.end);
    }

    /// The start of the earliest token where an entity could begin that more text could still
    /// change: one whose reach extends past the last complete token.
    fn settled(&self, reach: &[u8]) -> usize {
        let n = self.toks.len();
        let complete = if n > 0 && self.toks[n - 1].end == self.b.len() {
            n - 1
        } else {
            n
        };
        let first = n.saturating_sub(MAX_ENTITY_TOKENS);
        for (j, r) in reach.iter().enumerate().skip(first) {
            if j + usize::from(*r) > complete || j >= complete {
                return self.toks[j].start;
            }
        }
        self.b.len()
    }

    /// How many tokens an entity starting at token `i` (without a context keyword) could
    /// span; 0 if none can start there.
    fn reach(&self, i: usize) -> u8 {
        let raw = self.raw(i);
        let core = self.core(i);
        let first = raw[0];
        let c0 = core.first().copied().unwrap_or(0);
        if c0.is_ascii_digit() {
            // A house number starts the longest entity, an address with its unit.
            return if core.len() <= 7 { 9 } else { 5 };
        }
        if first == b'(' || first == b'+' {
            return 5;
        }
        // One pass for what any token may hold.
        let (mut at, mut digit) = (false, false);
        for &c in raw {
            at |= c == b'@';
            digit |= c.is_ascii_digit();
        }
        if at || raw.starts_with(b"http") || raw.starts_with(b"www.") {
            return 1;
        }
        if c0.is_ascii_uppercase() {
            if core.len() == 4 && core[2..].iter().all(u8::is_ascii_digit) {
                return 9; // a grouped IBAN
            }
            if core.len() == 2 && core.iter().all(u8::is_ascii_uppercase) {
                return 5; // a spaced NINO
            }
            if is_title(raw) || is_title(core) {
                return 4;
            }
            return 3; // names, month dates, PO boxes
        }
        if digit || first >= 0x80 || matches!(first, b'"' | b'\'' | b'<' | b'[') {
            return 5;
        }
        0
    }

    /// A value written inside the keyword's token: `password=hunter2`, `SSN:078-05-1121`.
    fn inline_value(&mut self, ctx: Ctx, start: usize, end: usize) -> bool {
        let mut end = end;
        if let Some(p) = self.b[start..end]
            .iter()
            .position(|c| matches!(c, b'&' | b',' | b';'))
        {
            end = start + p;
        }
        let mut start = start;
        while start < end && matches!(self.b[start], b'"' | b'\'') {
            start += 1;
        }
        if start >= end {
            return false;
        }
        let v = &self.b[start..end];
        match self.value_type(ctx, v) {
            Some(t) => {
                self.emit(t, start, end);
                true
            }
            None => false,
        }
    }

    /// The entity a single-token value is, after a context keyword.
    fn value_type(&self, ctx: Ctx, v: &[u8]) -> Option<EntityType> {
        let s = as_str(v);
        let alnum_dash = |min: usize, max: usize| {
            v.len() >= min
                && v.len() <= max
                && v.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && v.iter().any(u8::is_ascii_digit)
        };
        match ctx {
            Ctx::Ssn if checks::us_ssn(s) && (v.len() == 9 || v.len() == 11) => {
                Some(EntityType::UsSsn)
            }
            Ctx::Passport => {
                let ok = (v.len() == 9 && all_digits(v))
                    || (v.len() == 9 && v[0].is_ascii_uppercase() && all_digits(&v[1..]));
                ok.then_some(EntityType::UsPassportNumber)
            }
            Ctx::DriverId => {
                let letter_digits = v.len() >= 8
                    && v.len() <= 13
                    && v[0].is_ascii_uppercase()
                    && all_digits(&v[1..]);
                let digits = v.len() >= 7 && v.len() <= 12 && all_digits(v);
                let mixed = v.len() >= 7
                    && v.len() <= 15
                    && v.iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-')
                    && v.iter().filter(|c| c.is_ascii_digit()).count() >= 5;
                (letter_digits || digits || mixed).then_some(EntityType::DriverId)
            }
            Ctx::BankAccount => (v.len() >= 8 && v.len() <= 17 && all_digits(v))
                .then_some(EntityType::UsBankAccountNumber),
            Ctx::Routing => checks::aba_routing(s).then_some(EntityType::UsBankRoutingNumber),
            Ctx::Swift => checks::swift_bic(s).then_some(EntityType::SwiftCode),
            Ctx::Plate => plate(v).then_some(EntityType::LicensePlate),
            Ctx::Password => (!v.is_empty() && v.len() <= 64).then_some(EntityType::Password),
            Ctx::Username => {
                let ok = v.len() >= 2
                    && v.len() <= 64
                    && v.iter().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'@')
                    });
                ok.then_some(EntityType::Username)
            }
            Ctx::Pin => (v.len() >= 4 && v.len() <= 6 && all_digits(v)).then_some(EntityType::Pin),
            Ctx::Cvv => {
                ((v.len() == 3 || v.len() == 4) && all_digits(v)).then_some(EntityType::CardCvv)
            }
            Ctx::Expiry => expiry(v).then_some(EntityType::CardExpiry),
            Ctx::Mrn => {
                let ok = alnum_dash(5, 14) && v.iter().filter(|c| c.is_ascii_digit()).count() >= 4;
                ok.then_some(EntityType::MedicalRecordNumber)
            }
            Ctx::HealthPlan => alnum_dash(6, 17).then_some(EntityType::HealthPlanBeneficiaryNumber),
            Ctx::CertLicense => {
                let ok = checks::dea_number(s) || checks::npi(s) || alnum_dash(6, 14);
                ok.then_some(EntityType::CertificateLicenseNumber)
            }
            Ctx::Device => {
                let ok = checks::imei(s)
                    || (alnum_dash(6, 24) && v.iter().any(u8::is_ascii_alphanumeric));
                ok.then_some(EntityType::DeviceIdentifier)
            }
            Ctx::AwsSecret => {
                let ok = v.len() == 40
                    && v.iter()
                        .all(|c| c.is_ascii_alphanumeric() || *c == b'/' || *c == b'+');
                ok.then_some(EntityType::AwsSecretKey)
            }
            Ctx::Sin => (checks::ca_sin(s)).then_some(EntityType::CaSocialInsuranceNumber),
            Ctx::Ohip => checks::ohip(s).then_some(EntityType::CaHealthNumber),
            Ctx::Utr => checks::uk_utr(s).then_some(EntityType::UkUtr),
            Ctx::Nhs => checks::nhs_number(s).then_some(EntityType::UkNhsNumber),
            Ctx::Zip => zip(v).then_some(EntityType::ZipCode),
            Ctx::Age => parse_num(v).filter(|n| *n <= 130).map(|_| EntityType::Age),
            Ctx::Fax | Ctx::Phone | Ctx::Name | Ctx::Ssn => None,
        }
    }

    /// Token `i` follows a context keyword: a value of the announced kind, possibly spanning
    /// several tokens. Returns the index of the token after it.
    fn with_context(&mut self, ctx: Ctx, i: usize) -> Option<usize> {
        let t = self.toks[i];
        let core = self.core(i);
        if is_filler(core) {
            return None;
        }
        match ctx {
            Ctx::Fax | Ctx::Phone => {
                let (end_tok, s, e) = self.phone(i, ctx == Ctx::Phone)?;
                let ty = if ctx == Ctx::Fax {
                    EntityType::Fax
                } else {
                    EntityType::Phone
                };
                self.emit(ty, s, e);
                return Some(end_tok + 1);
            }
            Ctx::Name => {
                let (end_tok, s, e) = self.name_after_context(i)?;
                self.emit(EntityType::Name, s, e);
                return Some(end_tok + 1);
            }
            Ctx::Age => {
                // "aged 93", "Age: 93", and also "age 93-year-old" falls to the token rule.
                let digits = core.iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0
                    && digits <= 3
                    && (digits == core.len() || core[digits] == b'-')
                    && parse_num(&core[..digits]).is_some_and(|n| n <= 130)
                {
                    self.emit(EntityType::Age, t.core_start, t.core_start + digits);
                    return Some(i + 1);
                }
                return None;
            }
            Ctx::Ssn
            | Ctx::Sin
            | Ctx::Ohip
            | Ctx::Utr
            | Ctx::Nhs
            | Ctx::BankAccount
            | Ctx::Device
            | Ctx::CertLicense
            | Ctx::HealthPlan
            | Ctx::Mrn
            | Ctx::DriverId
            | Ctx::Plate => {
                // Grouped digits: "046 454 286", "1234 567 890 AB", "943 476 5919".
                if let Some((end_tok, s, e, ty)) = self.grouped_value(ctx, i) {
                    self.emit(ty, s, e);
                    return Some(end_tok + 1);
                }
            }
            _ => {}
        }
        let ty = self.value_type(ctx, core)?;
        // A value that is also a stronger entity on its own (a card number after "account")
        // is that entity.
        if ctx == Ctx::BankAccount && checks::card_number(as_str(core)) {
            return None;
        }
        self.emit(ty, t.core_start, t.core_end);
        Some(i + 1)
    }

    /// Digit groups separated by single spaces after a context keyword, validated as a whole.
    fn grouped_value(&self, ctx: Ctx, i: usize) -> Option<(usize, usize, usize, EntityType)> {
        let mut buf = [0u8; 32];
        let mut len = 0;
        let mut j = i;
        let mut best = None;
        loop {
            let core = self.core(j);
            let alnum = core.iter().all(u8::is_ascii_alphanumeric);
            if !alnum || core.is_empty() || len + core.len() + 1 > buf.len() {
                break;
            }
            if j > i {
                buf[len] = b' ';
                len += 1;
            }
            buf[len..len + core.len()].copy_from_slice(core);
            len += core.len();
            if j > i {
                let s = as_str(&buf[..len]);
                let ty = match ctx {
                    Ctx::Ssn if checks::us_ssn(s) => Some(EntityType::UsSsn),
                    Ctx::Sin if checks::ca_sin(s) => Some(EntityType::CaSocialInsuranceNumber),
                    Ctx::Ohip if checks::ohip(s) => Some(EntityType::CaHealthNumber),
                    Ctx::Utr if checks::uk_utr(s) => Some(EntityType::UkUtr),
                    Ctx::Nhs if checks::nhs_number(s) => Some(EntityType::UkNhsNumber),
                    Ctx::Device if checks::imei(s) => Some(EntityType::DeviceIdentifier),
                    Ctx::Plate if j == i + 1 && plate(&buf[..len]) => {
                        Some(EntityType::LicensePlate)
                    }
                    _ => None,
                };
                if let Some(ty) = ty {
                    best = Some((j, self.toks[i].core_start, self.toks[j].core_end, ty));
                }
            }
            // Groups continue only across one space, and only while the token has no
            // trailing punctuation.
            if j - i >= 4 || !self.single_space(j) || self.toks[j].core_end != self.toks[j].end {
                break;
            }
            j += 1;
        }
        best
    }

    /// Token `i` can begin an entity: classify it by shape.
    fn without_context(&mut self, i: usize) -> Option<usize> {
        let t = self.toks[i];
        let core = self.core(i);
        if core.is_empty() {
            return None;
        }
        let first = core[0];
        let has_digit = core.iter().any(u8::is_ascii_digit);
        if core.contains(&b'@') {
            if let Some((s, e)) = email(self.b, t.core_start, t.core_end) {
                self.emit(EntityType::Email, s, e);
                return Some(i + 1);
            }
        }
        if core.starts_with(b"http://")
            || core.starts_with(b"https://")
            || core.starts_with(b"www.")
        {
            let e = url_end(self.b, t.core_start, t.core_end);
            if e > t.core_start + 7 {
                self.emit(EntityType::Url, t.core_start, e);
                return Some(i + 1);
            }
        }
        if has_digit || first == b'(' || first == b'+' || self.raw(i)[0] == b'(' {
            if let Some(next) = self.numeric(i) {
                return Some(next);
            }
        }
        if first.is_ascii_uppercase() {
            // AWS access keys can be all letters.
            if has_digit || core.len() == 20 {
                if let Some(next) = self.uppercase_code(i) {
                    return Some(next);
                }
            }
            if let Some(next) = self.iban_grouped(i) {
                return Some(next);
            }
            if let Some(next) = self.nino_spaced(i) {
                return Some(next);
            }
            if let Some(next) = self.month_date(i) {
                return Some(next);
            }
            if let Some(next) = self.po_box(i) {
                return Some(next);
            }
            if let Some((end_tok, s, e)) = self.name(i) {
                self.emit(EntityType::Name, s, e);
                return Some(end_tok + 1);
            }
        }
        None
    }

    /// Tokens starting with digits, `(` or `+`.
    fn numeric(&mut self, i: usize) -> Option<usize> {
        let t = self.toks[i];
        let core = self.core(i);
        let s = as_str(core);
        // Single-token shapes first.
        if core.iter().all(|c| c.is_ascii_digit() || *c == b'.')
            && core.iter().filter(|c| **c == b'.').count() == 3
        {
            if checks::ipv4(s) {
                self.emit(EntityType::IpAddress, t.core_start, t.core_end);
                return Some(i + 1);
            }
            return None;
        }
        if let Some(p) = core.iter().position(|c| *c == b':' || *c == b'/') {
            // 10.0.0.1:8080, 10.0.0.0/24
            if checks::ipv4(as_str(&core[..p])) && all_digits(&core[p + 1..]) {
                self.emit(EntityType::IpAddress, t.core_start, t.core_start + p);
                return Some(i + 1);
            }
        }
        if core.len() == 17 && checks::mac(s)
            || core.len() == 14 && core[4] == b'.' && checks::mac(s)
        {
            self.emit(EntityType::MacAddress, t.core_start, t.core_end);
            return Some(i + 1);
        }
        if core.contains(&b':') && core.iter().filter(|c| **c == b':').count() >= 2 {
            if let Some(e) = ipv6_end(core) {
                self.emit(EntityType::IpAddress, t.core_start, t.core_start + e);
                return Some(i + 1);
            }
        }
        if let Some(e) = date_token(core) {
            self.emit(EntityType::Date, t.core_start, t.core_start + e);
            return Some(i + 1);
        }
        // 93-year-old
        if let Some(p) = core.iter().position(|c| *c == b'-') {
            if (core[p..].eq_ignore_ascii_case(b"-year-old")
                || core[p..].eq_ignore_ascii_case(b"-yr-old"))
                && parse_num(&core[..p]).is_some_and(|n| n <= 130)
            {
                self.emit(EntityType::Age, t.core_start, t.core_start + p);
                return Some(i + 1);
            }
        }
        if core.len() == 11 && core[3] == b'-' && core[6] == b'-' {
            if checks::us_itin(s) {
                self.emit(EntityType::UsItin, t.core_start, t.core_end);
                return Some(i + 1);
            }
            if checks::us_ssn(s) {
                self.emit(EntityType::UsSsn, t.core_start, t.core_end);
                return Some(i + 1);
            }
        }
        if let Some((end_tok, s_, e)) = self.phone(i, false) {
            self.emit(EntityType::Phone, s_, e);
            return Some(end_tok + 1);
        }
        if let Some(next) = self.digit_groups(i) {
            return Some(next);
        }
        if core.len() >= 13 && core.len() <= 23 && checks::card_number(s) {
            self.emit(EntityType::CardNumber, t.core_start, t.core_end);
            return Some(i + 1);
        }
        if let Some(next) = self.address(i) {
            return Some(next);
        }
        if let Some(next) = self.day_month_date(i) {
            return Some(next);
        }
        if let Some(next) = self.age_phrase(i) {
            return Some(next);
        }
        if let Some(next) = self.zip_after_state(i) {
            return Some(next);
        }
        if core[0].is_ascii_digit() && core.len() == 17 && checks::vin(s) {
            self.emit(EntityType::Vin, t.core_start, t.core_end);
            return Some(i + 1);
        }
        None
    }

    /// Space-separated digit groups with no context: card numbers ("4111 1111 1111 1111"),
    /// SSNs ("078 05 1121"), NHS numbers ("943 476 5919").
    fn digit_groups(&mut self, i: usize) -> Option<usize> {
        let mut buf = [0u8; 32];
        let mut len = 0;
        let mut groups = [0usize; 6];
        let mut j = i;
        let mut best: Option<(usize, EntityType)> = None;
        loop {
            let core = self.core(j);
            if !all_digits(core) || len + core.len() > buf.len() || core.len() > 6 {
                break;
            }
            buf[len..len + core.len()].copy_from_slice(core);
            len += core.len();
            groups[j - i] = core.len();
            let k = j - i + 1;
            if k >= 2 {
                let s = as_str(&buf[..len]);
                let g = &groups[..k];
                let ty = if (13..=19).contains(&len) && checks::card_number(s) {
                    Some(EntityType::CardNumber)
                } else if g == [3, 3, 4] && checks::nhs_number(s) {
                    Some(EntityType::UkNhsNumber)
                } else if g == [3, 2, 4] && checks::us_itin(s) {
                    Some(EntityType::UsItin)
                } else if g == [3, 2, 4] && checks::us_ssn(s) {
                    Some(EntityType::UsSsn)
                } else {
                    None
                };
                if let Some(ty) = ty {
                    best = Some((j, ty));
                }
            }
            if k >= 5 || !self.single_space(j) || self.toks[j].core_end != self.toks[j].end {
                break;
            }
            j += 1;
        }
        let (end_tok, ty) = best?;
        self.emit(ty, self.toks[i].core_start, self.toks[end_tok].core_end);
        Some(end_tok + 1)
    }

    /// Phone numbers starting at token `i`: `(555) 123-4567`, `555-123-4567`, `555.123.4567`,
    /// `+1 555 123 4567`, `+44 20 7946 0958`, `1-800-555-0199`. With `loose`, ten compact
    /// digits and space-separated groups count too (after "phone", "fax").
    fn phone(&self, i: usize, loose: bool) -> Option<(usize, usize, usize)> {
        let t = self.toks[i];
        let raw_first = self.b[t.start];
        let start = if raw_first == b'(' || raw_first == b'+' {
            t.start
        } else {
            t.core_start
        };
        let international = self.b[start] == b'+';
        // Up to five tokens joined by single spaces, made of digits and `()-.+` only.
        let mut digits = [0u8; 20];
        let mut nd = 0;
        let mut j = i;
        let mut best = None;
        let mut parts = 0;
        loop {
            let tok = self.toks[j];
            let piece = &self.b[if j == i { start } else { tok.start }..tok.core_end];
            if piece.is_empty()
                || !piece
                    .iter()
                    .all(|c| c.is_ascii_digit() || matches!(c, b'(' | b')' | b'-' | b'.' | b'+'))
            {
                break;
            }
            for c in piece.iter().filter(|c| c.is_ascii_digit()) {
                if nd == digits.len() {
                    return best;
                }
                digits[nd] = *c;
                nd += 1;
            }
            parts += 1;
            if phone_shape(
                &self.b[start..tok.core_end],
                &digits[..nd],
                international,
                loose,
                parts,
            ) {
                best = Some((j, start, tok.core_end));
            }
            let closes_paren = tok.core_end + 1 == tok.end && self.b[tok.core_end] == b')';
            if parts >= 5 || !self.single_space(j) || (tok.core_end != tok.end && !closes_paren) {
                break;
            }
            j += 1;
        }
        best
    }

    /// Uppercase codes with digits: VIN, AWS access key, NINO, IBAN (compact), ISO-looking
    /// dates like `15-Mar-2024` are not here.
    fn uppercase_code(&mut self, i: usize) -> Option<usize> {
        let t = self.toks[i];
        let core = self.core(i);
        let s = as_str(core);
        let ty = if core.len() == 17 && checks::vin(s) {
            Some(EntityType::Vin)
        } else if core.len() == 20 && checks::aws_access_key(s) {
            Some(EntityType::AwsAccessKey)
        } else if core.len() == 9 && checks::uk_nino(s) {
            Some(EntityType::UkNationalInsuranceNumber)
        } else if core.len() >= 15 && core.len() <= 34 && checks::iban(s) {
            Some(EntityType::Iban)
        } else {
            None
        };
        let ty = ty?;
        self.emit(ty, t.core_start, t.core_end);
        Some(i + 1)
    }

    /// An IBAN grouped by four: `GB82 WEST 1234 5698 7654 32`.
    fn iban_grouped(&mut self, i: usize) -> Option<usize> {
        let core = self.core(i);
        if core.len() != 4
            || !core[..2].iter().all(u8::is_ascii_uppercase)
            || !core[2..].iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let mut buf = [0u8; 40];
        let mut len = 0;
        let mut j = i;
        let mut best = None;
        loop {
            let c = self.core(j);
            if c.is_empty()
                || c.len() > 4
                || !c
                    .iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                break;
            }
            if len + c.len() > buf.len() {
                break;
            }
            buf[len..len + c.len()].copy_from_slice(c);
            len += c.len();
            if len >= 15 && checks::iban(as_str(&buf[..len])) {
                best = Some(j);
            }
            if c.len() < 4
                || j - i >= 8
                || !self.single_space(j)
                || self.toks[j].core_end != self.toks[j].end
            {
                break;
            }
            j += 1;
        }
        let end = best?;
        self.emit(
            EntityType::Iban,
            self.toks[i].core_start,
            self.toks[end].core_end,
        );
        Some(end + 1)
    }

    /// A NINO written with spaces: `AB 12 34 56 C`.
    fn nino_spaced(&mut self, i: usize) -> Option<usize> {
        if i + 4 >= self.toks.len() {
            return None;
        }
        let shapes = [2usize, 2, 2, 2, 1];
        let mut buf = [0u8; 9];
        let mut len = 0;
        for (k, want) in shapes.iter().enumerate() {
            let c = self.core(i + k);
            let clean = k == 4 || self.toks[i + k].core_end == self.toks[i + k].end;
            if c.len() != *want || !clean || (k < 4 && !self.single_space(i + k)) {
                return None;
            }
            buf[len..len + want].copy_from_slice(c);
            len += want;
        }
        if !checks::uk_nino(as_str(&buf)) {
            return None;
        }
        self.emit(
            EntityType::UkNationalInsuranceNumber,
            self.toks[i].core_start,
            self.toks[i + 4].core_end,
        );
        Some(i + 5)
    }

    /// `March 15, 2024`, `Mar 15`, `March 2024`.
    fn month_date(&mut self, i: usize) -> Option<usize> {
        let core = self.core(i);
        month_number(core)?;
        if !self.single_space(i)
            || self.toks[i].core_end != self.toks[i].end && self.b[self.toks[i].core_end] != b'.'
        {
            return None;
        }
        let next = self.core(i + 1);
        let day_digits = next.iter().take_while(|c| c.is_ascii_digit()).count();
        let day_ok = (1..=2).contains(&day_digits)
            && matches!(&next[day_digits..], b"" | b"st" | b"nd" | b"rd" | b"th")
            && parse_num(&next[..day_digits]).is_some_and(|d| (1..=31).contains(&d));
        if day_ok {
            // Optional year: "15, 2024" (comma inside the raw token) or "15 2024".
            let t1 = self.toks[i + 1];
            let sep_ok =
                t1.core_end == t1.end || (t1.end == t1.core_end + 1 && self.b[t1.core_end] == b',');
            if sep_ok && self.single_space(i + 1) {
                let y = self.core(i + 2);
                if y.len() == 4 && all_digits(y) && (y[0] == b'1' || y[0] == b'2') {
                    self.emit(
                        EntityType::Date,
                        self.toks[i].core_start,
                        self.toks[i + 2].core_end,
                    );
                    return Some(i + 3);
                }
            }
            self.emit(EntityType::Date, self.toks[i].core_start, t1.core_end);
            return Some(i + 2);
        }
        if next.len() == 4
            && all_digits(next)
            && (next[0] == b'1' || next[0] == b'2')
            && self.toks[i].core_end == self.toks[i].end
        {
            self.emit(
                EntityType::Date,
                self.toks[i].core_start,
                self.toks[i + 1].core_end,
            );
            return Some(i + 2);
        }
        None
    }

    /// `15 March 2024`, `3rd March`.
    fn day_month_date(&mut self, i: usize) -> Option<usize> {
        let core = self.core(i);
        let d = core.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=2).contains(&d)
            || !matches!(&core[d..], b"" | b"st" | b"nd" | b"rd" | b"th")
            || !parse_num(&core[..d]).is_some_and(|n| (1..=31).contains(&n))
            || !self.single_space(i)
            || self.toks[i].core_end != self.toks[i].end
        {
            return None;
        }
        month_number(self.core(i + 1))?;
        let t1 = self.toks[i + 1];
        if t1.core_end == t1.end && self.single_space(i + 1) {
            let y = self.core(i + 2);
            if y.len() == 4 && all_digits(y) && (y[0] == b'1' || y[0] == b'2') {
                self.emit(
                    EntityType::Date,
                    self.toks[i].core_start,
                    self.toks[i + 2].core_end,
                );
                return Some(i + 3);
            }
        }
        self.emit(EntityType::Date, self.toks[i].core_start, t1.core_end);
        Some(i + 2)
    }

    /// `93 years old`, `93 yo`, `93 y/o`, `93 year old`.
    fn age_phrase(&mut self, i: usize) -> Option<usize> {
        let core = self.core(i);
        let n = parse_num(core)?;
        if n > 130
            || core.len() > 3
            || !self.single_space(i)
            || self.toks[i].core_end != self.toks[i].end
        {
            return None;
        }
        let next = self.core(i + 1);
        let lower = |w: &[u8], s: &[u8]| w.eq_ignore_ascii_case(s);
        let ok = if lower(next, b"yo")
            || lower(next, b"y/o")
            || lower(next, b"y.o")
            || lower(next, b"yrs/o")
        {
            true
        } else if lower(next, b"years")
            || lower(next, b"year")
            || lower(next, b"yrs")
            || lower(next, b"yr")
        {
            self.toks[i + 1].core_end == self.toks[i + 1].end
                && self.single_space(i + 1)
                && lower(self.core(i + 2), b"old")
        } else {
            false
        };
        if !ok {
            return None;
        }
        self.emit(
            EntityType::Age,
            self.toks[i].core_start,
            self.toks[i].core_end,
        );
        Some(i + 1)
    }

    /// A ZIP code after a state code: `Austin, TX 78701`, `TX 78701-1234`.
    fn zip_after_state(&mut self, i: usize) -> Option<usize> {
        if i == 0 || !zip(self.core(i)) {
            return None;
        }
        let prev = self.toks[i - 1];
        let p = &self.b[prev.start..prev.end];
        if p.len() != 2 || !checks::us_state(as_str(p)) || !self.single_space(i - 1) {
            return None;
        }
        let t = self.toks[i];
        self.emit(EntityType::ZipCode, t.core_start, t.core_end);
        Some(i + 1)
    }

    /// `1600 Pennsylvania Avenue NW, Suite 200`, `221B Baker Street`, `42 5th Ave`.
    fn address(&mut self, i: usize) -> Option<usize> {
        let core = self.core(i);
        let digits = core.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0
            || digits > 6
            || core.len() > digits + 1
            || (core.len() == digits + 1 && !core[digits].is_ascii_uppercase())
            || self.toks[i].core_end != self.toks[i].end
        {
            return None;
        }
        let mut j = i + 1;
        let mut suffix_at = None;
        while j < self.toks.len() && j - i <= 5 {
            if !self.single_space(j - 1) {
                break;
            }
            let w = self.core(j);
            if is_street_suffix(w) && j > i + 1 {
                suffix_at = Some(j);
                break;
            }
            let word_ok = (w.first().is_some_and(u8::is_ascii_uppercase)
                && w[1..].iter().all(u8::is_ascii_lowercase)
                && w.len() >= 2)
                || is_ordinal(w)
                || is_direction(w);
            if !word_ok || self.toks[j].core_end != self.toks[j].end {
                break;
            }
            j += 1;
        }
        let mut end_tok = suffix_at?;
        // The suffix may carry its abbreviation period: "Ave." counts inside the span.
        let mut end = self.toks[end_tok].core_end;
        if self.b.get(end) == Some(&b'.')
            && self.core(end_tok).len() <= 4
            && end + 1 == self.toks[end_tok].end
        {
            end += 1;
        }
        if self.toks[end_tok].core_end == self.toks[end_tok].end
            && self.single_space(end_tok)
            && is_direction(self.core(end_tok + 1))
        {
            end_tok += 1;
            end = self.toks[end_tok].core_end;
        }
        // A unit after a comma or a space: ", Apt 4B", "Suite 200", "#12".
        let tail = &self.b[self.toks[end_tok].core_end..self.toks[end_tok].end];
        if (tail.is_empty() || tail == b",") && end_tok + 2 < self.toks.len() + 1 {
            let u = end_tok + 1;
            if u < self.toks.len() && self.toks[u].start == self.toks[end_tok].end + 1 {
                let unit = self.core(u);
                let is_unit = matches!(
                    unit.strip_suffix(b".").unwrap_or(unit),
                    b"Apt"
                        | b"Suite"
                        | b"Ste"
                        | b"Unit"
                        | b"Apartment"
                        | b"Fl"
                        | b"Floor"
                        | b"Rm"
                        | b"Room"
                );
                if is_unit
                    && self.toks[u].core_end
                        + usize::from(self.b.get(self.toks[u].core_end) == Some(&b'.'))
                        == self.toks[u].end
                    && self.single_space(u)
                {
                    let v = self.core(u + 1);
                    if !v.is_empty()
                        && v.len() <= 6
                        && v.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                        && v.iter().any(u8::is_ascii_digit)
                    {
                        end_tok = u + 1;
                        end = self.toks[end_tok].core_end;
                    }
                } else if unit.first() == Some(&b'#') && unit.len() <= 6 && all_digits(&unit[1..]) {
                    end_tok = u;
                    end = self.toks[u].core_end;
                }
            }
        }
        self.emit(EntityType::Address, self.toks[i].core_start, end);
        Some(end_tok + 1)
    }

    /// `PO Box 1234`, `P.O. Box 77`.
    fn po_box(&mut self, i: usize) -> Option<usize> {
        let core = self.core(i);
        let raw = self.raw(i);
        if !(core == b"PO" || raw == b"P.O." || core == b"P.O") || i + 2 >= self.toks.len() {
            return None;
        }
        if !self.single_space(i)
            || !self.raw(i + 1).eq_ignore_ascii_case(b"Box")
            || !self.single_space(i + 1)
        {
            return None;
        }
        let n = self.core(i + 2);
        if !all_digits(n) || n.len() > 6 {
            return None;
        }
        self.emit(
            EntityType::Address,
            self.toks[i].core_start,
            self.toks[i + 2].core_end,
        );
        Some(i + 3)
    }

    /// Names without a context keyword: a known first name followed by a capitalized last
    /// name (optionally with a middle initial), a title and a capitalized word, or
    /// "Last, First".
    fn name(&self, i: usize) -> Option<(usize, usize, usize)> {
        let w = self.core(i);
        let raw = self.raw(i);
        if is_title(raw) || is_title(w) && self.toks[i].core_end == self.toks[i].end {
            // "Dr. Okafor", "Mrs. Maria Garcia": the name after the title.
            if !self.single_space(i) {
                return None;
            }
            return self.capitalized_run(i + 1, 3, true);
        }
        if !name_like(w) || announces_name(w) {
            return None;
        }
        let s = as_str(w);
        let clean_end = self.toks[i].core_end == self.toks[i].end;
        // "Garcia, Maria"
        if !clean_end
            && self.b[self.toks[i].core_end] == b','
            && self.toks[i].core_end + 1 == self.toks[i].end
            && self.single_space(i)
            && names::is_last_name(s)
            && !names::is_stopword(s)
        {
            let f = self.core(i + 1);
            if name_like(f) && names::is_first_name(as_str(f)) && !names::is_stopword(as_str(f)) {
                return Some((i + 1, self.toks[i].core_start, self.toks[i + 1].core_end));
            }
        }
        if !clean_end || !names::is_first_name(s) || !self.single_space(i) {
            return None;
        }
        let first_is_stop = names::is_stopword(s);
        let mut j = i + 1;
        // A middle initial: "John Q. Public".
        let m = self.raw(j);
        if m.len() == 2 && m[0].is_ascii_uppercase() && m[1] == b'.' && self.single_space(j) {
            j += 1;
        }
        let last = self.core(j);
        if !name_like(last) {
            return None;
        }
        let ls = as_str(last);
        let known_last = names::is_last_name(ls) && !names::is_stopword(ls);
        let unknown_last =
            !names::is_stopword(ls) && !names::is_first_name(ls) && !names::is_last_name(ls);
        let ok = if first_is_stop {
            known_last
        } else {
            known_last || unknown_last
        };
        if !ok {
            return None;
        }
        Some((j, self.toks[i].core_start, self.toks[j].core_end))
    }

    /// One to `max` capitalized name-like tokens starting at `i`, stopping after a token with
    /// trailing punctuation. After a title, a word on the stop list still counts when the
    /// census lists have it as a name ("Ms. Long").
    fn capitalized_run(&self, i: usize, max: usize, titled: bool) -> Option<(usize, usize, usize)> {
        let mut j = i;
        let mut last = None;
        while j < self.toks.len() && j - i < max {
            let w = self.core(j);
            let initial = w.len() == 1 && w[0].is_ascii_uppercase() && self.raw(j) == [w[0], b'.'];
            let s = as_str(w);
            // After a title any census name counts ("Ms. Long"); after a greeting a stop-listed
            // name only as part of a two-word name ("Hi Bill Long", not "Hello World").
            let listed = names::is_first_name(s) || names::is_last_name(s);
            let two_words = self.single_space(j)
                && self.toks[j].core_end == self.toks[j].end
                && name_like(self.core(j + 1));
            let person = !names::is_stopword(s) || listed && (titled || two_words || j > i);
            if !(name_like(w) && person || initial && j > i) {
                break;
            }
            if !initial {
                last = Some(j);
            }
            if self.toks[j].core_end != self.toks[j].end || !self.single_space(j) {
                break;
            }
            j += 1;
        }
        let last = last?;
        Some((last, self.toks[i].core_start, self.toks[last].core_end))
    }

    /// After "Patient:", "Name:", "Dear", "signed": up to three capitalized words.
    fn name_after_context(&self, i: usize) -> Option<(usize, usize, usize)> {
        let raw = self.raw(i);
        if is_title(raw) || is_title(self.core(i)) {
            if !self.single_space(i) {
                return None;
            }
            return self.capitalized_run(i + 1, 3, true);
        }
        self.capitalized_run(i, 3, false)
            .or_else(|| self.cased_census_pair(i))
    }

    /// After a context keyword, a name written in one case throughout (`JOHN SMITH`,
    /// `maria garcia`): a census first name and a census first or last name, neither on the
    /// stop list.
    fn cased_census_pair(&self, i: usize) -> Option<(usize, usize, usize)> {
        if i + 1 >= self.toks.len()
            || self.toks[i].core_end != self.toks[i].end
            || !self.single_space(i)
        {
            return None;
        }
        let (a, b) = (self.core(i), self.core(i + 1));
        let one_case = |w: &[u8]| {
            w.len() >= 2
                && w.iter().all(u8::is_ascii_alphabetic)
                && (w.iter().all(u8::is_ascii_lowercase) || w.iter().all(u8::is_ascii_uppercase))
        };
        if !one_case(a) || !one_case(b) || a[0].is_ascii_uppercase() != b[0].is_ascii_uppercase() {
            return None;
        }
        let (sa, sb) = (as_str(a), as_str(b));
        let ok = names::is_first_name(sa)
            && !names::is_stopword(sa)
            && (names::is_last_name(sb) || names::is_first_name(sb))
            && !names::is_stopword(sb);
        ok.then(|| (i + 1, self.toks[i].core_start, self.toks[i + 1].core_end))
    }
}

/// Whether a word is a keyword that announces a name ("Son", "Dear", "Caregiver"), and so is
/// not one itself.
fn announces_name(w: &[u8]) -> bool {
    keywords().starting(w).is_some_and(|phrases| {
        phrases
            .iter()
            .any(|p| p.ctx == Ctx::Name && p.rest.is_empty())
    })
}

/// A licence plate: 5 to 8 letters and digits (both), with at most one dash or space.
fn plate(v: &[u8]) -> bool {
    let seps = v.iter().filter(|c| **c == b'-' || **c == b' ').count();
    let n = v.len() - seps;
    (5..=8).contains(&n)
        && seps <= 1
        && v.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-' || *c == b' ')
        && v.iter().any(u8::is_ascii_digit)
        && v.iter().any(u8::is_ascii_uppercase)
}

/// A card expiry: `MM/YY` or `MM/YYYY`.
fn expiry(v: &[u8]) -> bool {
    let Some(p) = v.iter().position(|c| *c == b'/' || *c == b'-') else {
        return false;
    };
    let (m, y) = (&v[..p], &v[p + 1..]);
    (m.len() == 2 || m.len() == 1)
        && (y.len() == 2 || y.len() == 4)
        && all_digits(y)
        && parse_num(m).is_some_and(|m| (1..=12).contains(&m))
}

fn zip(v: &[u8]) -> bool {
    (v.len() == 5 && all_digits(v))
        || (v.len() == 10 && all_digits(&v[..5]) && v[5] == b'-' && all_digits(&v[6..]))
}

/// Dates written as one token: `03/15/2024`, `3/15/24`, `2024-03-15`, `2024-03-15T10:22:01Z`,
/// `15.03.2024`, `15-Mar-2024`. Returns the date's length within the token.
fn date_token(core: &[u8]) -> Option<usize> {
    // ISO: YYYY-MM-DD, optional THH:MM[:SS[.fff]][Z|±HH:MM]
    if core.len() >= 10
        && all_digits(&core[..4])
        && core[4] == b'-'
        && all_digits(&core[5..7])
        && core[7] == b'-'
        && all_digits(&core[8..10])
    {
        let m = parse_num(&core[5..7])?;
        let d = parse_num(&core[8..10])?;
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        if core.len() == 10 {
            return Some(10);
        }
        if core[10] == b'T' || core[10] == b't' {
            let rest = &core[11..];
            let n = rest
                .iter()
                .take_while(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'Z' | b'+' | b'-'))
                .count();
            if n >= 5 && rest[2] == b':' {
                return Some(11 + n);
            }
        }
        return None;
    }
    // D/M/Y forms with '/', '-', or '.'.
    let sep = *core.iter().find(|c| matches!(c, b'/' | b'-' | b'.'))?;
    let mut it = core.split(|c| *c == sep);
    let a = it.next()?;
    let b = it.next()?;
    let c = it.next()?;
    if it.next().is_some() {
        return None;
    }
    if !(1..=2).contains(&a.len())
        || !(c.len() == 2 || c.len() == 4)
        || !all_digits(c)
        || !all_digits(a)
    {
        return None;
    }
    let a = parse_num(a)?;
    if all_digits(b) && (1..=2).contains(&b.len()) {
        let b = parse_num(b)?;
        // US month/day or European day/month; either must be a plausible calendar date.
        let us = (1..=12).contains(&a) && (1..=31).contains(&b);
        let eu = (1..=12).contains(&b) && (1..=31).contains(&a);
        if sep == b'.' && c.len() == 2 {
            // 1.2.24 is a version number more often than a date.
            return None;
        }
        return (us || eu).then_some(core.len());
    }
    if sep == b'-' && month_number(b).is_some() && (1..=31).contains(&a) {
        return Some(core.len());
    }
    None
}

fn email(b: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    let s = &b[start..end];
    let at = s.iter().position(|c| *c == b'@')?;
    let mut ls = at;
    while ls > 0
        && (s[ls - 1].is_ascii_alphanumeric()
            || matches!(s[ls - 1], b'.' | b'_' | b'%' | b'+' | b'-'))
    {
        ls -= 1;
    }
    let mut de = at + 1;
    while de < s.len() && (s[de].is_ascii_alphanumeric() || matches!(s[de], b'.' | b'-')) {
        de += 1;
    }
    while de > at + 1 && s[de - 1] == b'.' {
        de -= 1;
    }
    let domain = &s[at + 1..de];
    let dot = domain.iter().rposition(|c| *c == b'.')?;
    let tld = &domain[dot + 1..];
    if ls == at || dot == 0 || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    Some((start + ls, start + de))
}

fn url_end(b: &[u8], start: usize, end: usize) -> usize {
    let mut e = end;
    // Unbalanced closing parenthesis or trailing punctuation belongs to the sentence.
    while e > start
        && matches!(
            b[e - 1],
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b'\'' | b'"'
        )
    {
        let opens = b[start..e].iter().filter(|c| **c == b'(').count();
        let closes = b[start..e].iter().filter(|c| **c == b')').count();
        if b[e - 1] == b')' && opens >= closes {
            break;
        }
        e -= 1;
    }
    e
}

fn ipv6_end(core: &[u8]) -> Option<usize> {
    // Times (10:22:01) are not addresses.
    if core.iter().all(|c| c.is_ascii_digit() || *c == b':') && !core.windows(2).any(|w| w == b"::")
    {
        return None;
    }
    let n = core
        .iter()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.'))
        .count();
    let cand = &core[..n];
    if checks::ipv6(as_str(cand)) {
        return Some(n);
    }
    // [addr]:port and addr/prefix
    None
}

/// Whether `span` (with its digits) is a phone number.
fn phone_shape(span: &[u8], digits: &[u8], international: bool, loose: bool, parts: usize) -> bool {
    let nd = digits.len();
    if span.last().is_some_and(|c| !c.is_ascii_digit()) {
        return false;
    }
    if international {
        // +CC then 7 to 12 more digits, in at least two groups.
        return (9..=15).contains(&nd)
            && (parts >= 2 || span.iter().filter(|c| **c == b'-' || **c == b'.').count() >= 2)
            && digits[0] != b'0';
    }
    let us =
        |d: &[u8]| d.len() == 10 && (b'2'..=b'9').contains(&d[0]) && (b'2'..=b'9').contains(&d[3]);
    let ten = if nd == 11 && digits[0] == b'1' {
        &digits[1..]
    } else {
        digits
    };
    if !us(ten) {
        return false;
    }
    if span[0] == b'(' {
        // (555) 123-4567 or (555)123-4567
        return span.get(4) == Some(&b')');
    }
    let dashes = span.iter().filter(|c| **c == b'-').count();
    let dots = span.iter().filter(|c| **c == b'.').count();
    if parts == 1 && nd >= 10 {
        return (dashes >= 2 && dots == 0)
            || (dots == 2 && dashes == 0)
            || (loose && dashes == 0 && dots == 0);
    }
    loose && parts >= 2 && dots == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn found(text: &str) -> Vec<(EntityType, &str)> {
        scan(text, EntitySet::all())
            .into_iter()
            .map(|f| (f.entity, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn shapes() {
        let cases: &[(&str, EntityType, &str)] = &[
            (
                "mail jane.doe@example.com today",
                EntityType::Email,
                "jane.doe@example.com",
            ),
            (
                "see https://example.org/a?b=1.",
                EntityType::Url,
                "https://example.org/a?b=1",
            ),
            ("host 10.1.2.3 up", EntityType::IpAddress, "10.1.2.3"),
            (
                "addr fe80::1ff:fe23:4567:890a ok",
                EntityType::IpAddress,
                "fe80::1ff:fe23:4567:890a",
            ),
            (
                "nic 00:1A:2b:3C:4d:5E",
                EntityType::MacAddress,
                "00:1A:2b:3C:4d:5E",
            ),
            (
                "call (555) 234-5678 now",
                EntityType::Phone,
                "(555) 234-5678",
            ),
            ("call 555-234-5678.", EntityType::Phone, "555-234-5678"),
            (
                "call +44 20 7946 0958",
                EntityType::Phone,
                "+44 20 7946 0958",
            ),
            (
                "card 4111 1111 1111 1111 ok",
                EntityType::CardNumber,
                "4111 1111 1111 1111",
            ),
            (
                "card 4111111111111111",
                EntityType::CardNumber,
                "4111111111111111",
            ),
            ("SSN: 078-05-1121", EntityType::UsSsn, "078-05-1121"),
            ("ssn 078051121", EntityType::UsSsn, "078051121"),
            ("born 03/15/1950", EntityType::Date, "03/15/1950"),
            ("on March 15, 2024 we", EntityType::Date, "March 15, 2024"),
            (
                "at 2024-03-15T10:22:01Z x",
                EntityType::Date,
                "2024-03-15T10:22:01Z",
            ),
            ("a 93-year-old man", EntityType::Age, "93"),
            ("he is 91 years old", EntityType::Age, "91"),
            (
                "lives at 1600 Pennsylvania Avenue NW today",
                EntityType::Address,
                "1600 Pennsylvania Avenue NW",
            ),
            ("Austin, TX 78701", EntityType::ZipCode, "78701"),
            ("MRN: 00482913", EntityType::MedicalRecordNumber, "00482913"),
            ("password=hunter2", EntityType::Password, "hunter2"),
            ("user: jdoe42 logged", EntityType::Username, "jdoe42"),
            (
                "Seen by Maria Garcia today",
                EntityType::Name,
                "Maria Garcia",
            ),
            ("Seen by Dr. Okafor today", EntityType::Name, "Okafor"),
            (
                "IBAN GB82 WEST 1234 5698 7654 32 ok",
                EntityType::Iban,
                "GB82 WEST 1234 5698 7654 32",
            ),
            (
                "vin 1M8GDM9AXKP042788",
                EntityType::Vin,
                "1M8GDM9AXKP042788",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE",
                EntityType::AwsAccessKey,
                "AKIAIOSFODNN7EXAMPLE",
            ),
            ("fax: (555) 234-5679", EntityType::Fax, "(555) 234-5679"),
            ("CVV 123", EntityType::CardCvv, "123"),
            ("exp 08/27", EntityType::CardExpiry, "08/27"),
        ];
        for (text, ty, value) in cases {
            let f = found(text);
            assert!(f.contains(&(*ty, *value)), "{text:?}: {f:?}");
        }
    }

    #[test]
    fn hard_negatives() {
        for text in [
            "Order #A-2024-11873 shipped",
            "card 4111 1111 1111 1112",
            "version v2.14.3 at 14:32",
            "in 2019 it cost $1,234.56",
            "take 500 mg twice; ICD E11.9, CPT 99213",
            "the user asked about it",
            "Main Street is closed",
            "for 10 years now",
        ] {
            assert_eq!(found(text), vec![], "{text:?}");
        }
    }

    #[test]
    fn hold_from_covers_open_entities() {
        let s = scan_detailed("the card is 4111 1111", EntitySet::all());
        assert_eq!(s.hold_from, "the card is ".len());
        let s = scan_detailed("nothing here at all ", EntitySet::all());
        assert_eq!(s.hold_from, "nothing here at all ".len());
        let s = scan_detailed("nothing here at al", EntitySet::all());
        assert_eq!(s.hold_from, "nothing here at ".len());
    }
}
