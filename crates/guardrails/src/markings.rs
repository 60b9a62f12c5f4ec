//! Classification markings in free text, by a grammar rather than a token shape.
//!
//! A marking is a level (`TOP SECRET`, `SECRET`, `CONFIDENTIAL`, `UNCLASSIFIED`, `CUI`, or the
//! abbreviations `TS`, `S`, `C`, `U`) followed by categories (SCI, dissemination controls,
//! `REL TO` lists), each after a separator. The grammar takes what people write:
//!
//! - any case (`secret//noforn`, `Secret//NoForn`), with or without spaces around `//`, and a
//!   single `/` when what follows is a dissemination control (`SECRET/NOFORN`);
//! - banner words or abbreviations in either place (`TS//SI//NF`, `SECRET//NF`);
//! - letter-spaced words (`S E C R E T // N O F O R N`);
//! - wrapped in any punctuation or markup (`**SECRET//NOFORN**`, `` `SECRET` ``, quotes,
//!   parentheses, a trailing `!`); the normalized view (`normalize`) has already folded
//!   Unicode slashes, look-alike letters, invisible characters and tags;
//! - after `classification:` (or `classified:`, `marking:`, `banner:`) in any case, or after
//!   `classified` / `classified as` when the level is in capitals.
//!
//! The canonical marking is parsed with the label parser (banner form, then portion form, then
//! with abbreviations spelled out); when a level word with a `//` is followed by something
//! the parser refuses, the longest well-formed prefix counts, down to the bare level: text that
//! says `SECRET//...` is treated as at least SECRET, failing closed.
//!
//! A bare level (no category) counts only where it is a marking and not a word: a line of its
//! own in capitals (a banner), in parentheses or brackets in capitals (`(SECRET)`), after a
//! classification prefix, or an abbreviation in parentheses at the start of a paragraph,
//! list item or sentence (a portion mark; `(C) 2024` is a copyright). `It is no SECRET` and
//! `a secret` are words.

use scif_labels::{Form, Label, Level};

use crate::normalize::View;

/// A marking found in text.
#[derive(Debug, Clone, PartialEq)]
pub struct Marking {
    pub label: Label,
    pub form: Form,
    pub start: usize,
    pub end: usize,
}

impl Marking {
    /// The marking in canonical form (`SECRET//NOFORN`, `(S//NF)`): what is reported, never the
    /// text around it.
    pub fn canonical(&self) -> String {
        self.label.marking(self.form)
    }
}

/// Every well-formed marking in `text`, in order, with spans in `text`.
pub fn find(text: &str) -> Vec<Marking> {
    let view = View::new(text);
    let mut found = find_normalized(view.text());
    for m in &mut found {
        (m.start, m.end) = view.span(m.start, m.end);
    }
    found
}

/// The markings in `text` that `ceiling` does not dominate.
pub fn above(text: &str, ceiling: &Label) -> Vec<Marking> {
    find(text)
        .into_iter()
        .filter(|m| !ceiling.dominates(&m.label))
        .collect()
}

/// [`find`] on text already normalized.
pub(crate) fn find_normalized(text: &str) -> Vec<Marking> {
    find_at(
        text,
        &crate::cues::find(text, crate::cues::MARKINGS).markings,
    )
}

/// [`find_normalized`] from the starts of the cues in `text` (ascending), found elsewhere.
pub(crate) fn find_at(text: &str, cues: &[usize]) -> Vec<Marking> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    // Only lines with a cue are parsed.
    let mut scanned_to = 0;
    for &at in cues {
        if at < scanned_to {
            continue;
        }
        // A cue inside a word ("cui" in "circuit", "s//" in "https://") starts nothing.
        if at > 0 && b[at].is_ascii_alphanumeric() && b[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let line_start = b[..at]
            .iter()
            .rposition(|c| *c == b'\n')
            .map_or(0, |p| p + 1);
        let line_end = b[at..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(b.len(), |p| at + p);
        scan_line(text, line_start, line_end, &mut out);
        scanned_to = line_end + 1;
    }
    out
}

/// What a line needs for a marking to be looked for on it: a level word, an abbreviation next
/// to a slash or a parenthesis, a letter-spaced level, a classification prefix (found with the
/// other detectors' cues, in `crate::cues`).
pub(crate) const CUES: &[&str] = &[
    "secret",
    "confidential",
    "unclassified",
    "classif",
    "cui",
    "marking",
    "banner",
    "ts/",
    "ts /",
    "(ts)",
    "(s)",
    "(c)",
    "(u)",
    "s//",
    "c//",
    "u//",
    "s /",
    "c /",
    "u /",
    "s/n",
    "c/n",
    "u/n",
    "s/r",
    "c/r",
    "u/r",
    "s/o",
    "c/o",
    "s/p",
    "c/p",
    "u/f",
    "s e c",
    "c o n",
    "u n c",
    "t o p",
];

/// A word of the line, letter-spaced runs joined.
#[derive(Debug, Clone)]
struct Word {
    /// Uppercase.
    up: String,
    start: usize,
    end: usize,
    /// Written in capitals (or digits) throughout.
    caps: bool,
}

/// What lies between two words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// Spaces only.
    Space,
    /// `//`, with or without spaces.
    Double,
    /// One `/`.
    Single,
    /// `,` (inside a REL TO list).
    Comma,
    /// Anything else: punctuation, markup, the line's start or end.
    Break,
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// The words of `line` and the gap before each (and after the last).
fn words(line: &str, base: usize) -> (Vec<Word>, Vec<Gap>) {
    let b = line.as_bytes();
    let mut raw: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_word_byte(b[i]) {
            let s = i;
            while i < b.len() && is_word_byte(b[i]) {
                i += 1;
            }
            raw.push((s, i));
        } else {
            i += 1;
        }
    }
    // Join letter-spaced runs: three or more single letters one space apart.
    let mut joined: Vec<(usize, usize, String)> = Vec::new();
    let mut k = 0;
    while k < raw.len() {
        let single = |j: usize| raw[j].1 - raw[j].0 == 1 && b[raw[j].0].is_ascii_alphabetic();
        let mut e = k;
        while e + 1 < raw.len() && single(e) && single(e + 1) && raw[e + 1].0 == raw[e].1 + 1 {
            e += 1;
        }
        if e >= k + 2 {
            let s: String = (k..=e).map(|j| b[raw[j].0] as char).collect();
            joined.push((raw[k].0, raw[e].1, s));
            k = e + 1;
        } else {
            joined.push((raw[k].0, raw[k].1, line[raw[k].0..raw[k].1].to_owned()));
            k += 1;
        }
    }
    let mut ws = Vec::with_capacity(joined.len());
    let mut gaps = Vec::with_capacity(joined.len() + 1);
    let mut prev_end = 0;
    for (s, e, text) in &joined {
        gaps.push(gap(&b[prev_end..*s], ws.is_empty()));
        let caps = !text.bytes().any(|c| c.is_ascii_lowercase());
        ws.push(Word {
            up: text.to_ascii_uppercase(),
            start: base + s,
            end: base + e,
            caps,
        });
        prev_end = *e;
    }
    gaps.push(Gap::Break);
    (ws, gaps)
}

fn gap(between: &[u8], first: bool) -> Gap {
    if first {
        return Gap::Break;
    }
    let t: Vec<u8> = between
        .iter()
        .copied()
        .filter(|c| *c != b' ' && *c != b'\t')
        .collect();
    match t.as_slice() {
        [] => Gap::Space,
        b"//" => Gap::Double,
        b"/" => Gap::Single,
        b"," => Gap::Comma,
        _ => Gap::Break,
    }
}

/// The level a word (or `TOP` + `SECRET`) names, and how many words it takes.
fn level_at(ws: &[Word], gaps: &[Gap], i: usize) -> Option<(Level, usize, bool)> {
    let w = &ws[i];
    let full = |l| Some((l, 1, true));
    match w.up.as_str() {
        "TOP" if ws.get(i + 1).is_some_and(|n| n.up == "SECRET") && gaps[i + 1] == Gap::Space => {
            Some((Level::TopSecret, 2, true))
        }
        "TOPSECRET" => full(Level::TopSecret),
        "SECRET" => full(Level::Secret),
        "CONFIDENTIAL" => full(Level::Confidential),
        "UNCLASSIFIED" => full(Level::Unclassified),
        "TS" => Some((Level::TopSecret, 1, false)),
        "S" => Some((Level::Secret, 1, false)),
        "C" => Some((Level::Confidential, 1, false)),
        "U" => Some((Level::Unclassified, 1, false)),
        _ => None,
    }
}

/// Dissemination controls (and their abbreviations) that make a single `/` a separator.
fn is_control(word: &str) -> bool {
    matches!(
        word,
        "NOFORN"
            | "NF"
            | "REL"
            | "ORCON"
            | "OC"
            | "PROPIN"
            | "PR"
            | "RELIDO"
            | "FOUO"
            | "IMCON"
            | "FISA"
            | "DSEN"
            | "NOCON"
            | "FEDCON"
            | "DL"
    )
}

/// The banner spelling of an abbreviation.
fn spelled(word: &str) -> &str {
    match word {
        "NF" => "NOFORN",
        "OC" => "ORCON",
        "PR" => "PROPIN",
        "TS" => "TOP SECRET",
        "S" => "SECRET",
        "C" => "CONFIDENTIAL",
        "U" => "UNCLASSIFIED",
        w => w,
    }
}

/// Words a classification statement starts with.
fn is_prefix_word(w: &str) -> bool {
    matches!(w, "CLASSIFICATION" | "CLASSIFIED" | "MARKING" | "BANNER")
}

/// One category after a separator: its words (a `REL TO` list runs over spaces and commas).
fn category(ws: &[Word], gaps: &[Gap], i: usize) -> usize {
    if ws[i].up == "REL" && ws.get(i + 1).is_some_and(|w| w.up == "TO") && gaps[i + 1] == Gap::Space
    {
        let mut j = i + 2;
        while j < ws.len()
            && matches!(gaps[j], Gap::Space | Gap::Comma)
            && (3..=4).contains(&ws[j].up.len())
            && ws[j].up.bytes().all(|c| c.is_ascii_alphabetic())
            && (j == i + 2 || gaps[j] == Gap::Comma)
        {
            j += 1;
        }
        return j - i;
    }
    if matches!(ws[i].up.as_str(), "DISPLAY" | "LIMITED")
        && ws
            .get(i + 1)
            .is_some_and(|w| matches!(w.up.as_str(), "ONLY" | "DISSEMINATION"))
        && gaps[i + 1] == Gap::Space
    {
        return 2;
    }
    1
}

fn canonical(level_word: &str, cats: &[String], spell: bool) -> String {
    let mut s = if spell {
        spelled(level_word).to_owned()
    } else {
        level_word.to_owned()
    };
    for c in cats {
        s.push_str("//");
        if spell {
            let parts: Vec<&str> = c.split('/').map(spelled).collect();
            s.push_str(&parts.join("/"));
        } else {
            s.push_str(c);
        }
    }
    s
}

/// Parses a level and its categories, trying the banner form, the portion form, and the
/// abbreviations spelled out.
fn parse(level_word: &str, cats: &[String]) -> Option<Label> {
    let banner = canonical(level_word, cats, false);
    Label::parse_banner(&banner)
        .or_else(|_| Label::parse_portion(&format!("({banner})")))
        .or_else(|_| Label::parse_banner(&canonical(level_word, cats, true)))
        .ok()
}

fn scan_line(text: &str, start: usize, end: usize, out: &mut Vec<Marking>) {
    let line = &text[start..end];
    if line.trim().is_empty() {
        return;
    }
    let b = text.as_bytes();
    let (ws, gaps) = words(line, start);
    let mut i = 0;
    while i < ws.len() {
        // CUI: a level of its own for marking purposes.
        let is_cui = ws[i].up == "CUI";
        let (level_word, taken, full, level_caps) = if is_cui {
            ("CUI", 1, true, ws[i].caps)
        } else if let Some((l, n, full)) = level_at(&ws, &gaps, i) {
            let caps = ws[i..i + n].iter().all(|w| w.caps);
            let word = if full {
                l.banner_word()
            } else {
                l.portion_word()
            };
            (word, n, full, caps)
        } else {
            i += 1;
            continue;
        };
        // Categories after separators.
        let mut cats: Vec<String> = Vec::new();
        let mut cat_ends: Vec<usize> = Vec::new();
        let mut seps: Vec<Gap> = Vec::new();
        let mut j = i + taken;
        while j < ws.len() && matches!(gaps[j], Gap::Double | Gap::Single) {
            let n = category(&ws, &gaps, j);
            let mut c = String::new();
            for (k, w) in ws[j..j + n].iter().enumerate() {
                if k > 0 {
                    c.push_str(if gaps[j + k] == Gap::Comma { ", " } else { " " });
                }
                c.push_str(&w.up);
            }
            // Values inside a category are split by `/` (`NOFORN/ORCON` is one category in
            // the parser's terms only with `//`; a single `/` between controls stays).
            seps.push(gaps[j]);
            cats.push(c);
            cat_ends.push(ws[j + n - 1].end);
            j += n;
        }
        let level_start = ws[i].start;
        let level_end = ws[i + taken - 1].end;
        // The longest prefix of categories that parses.
        let mut accepted: Option<(Label, usize)> = None;
        for k in (0..=cats.len()).rev() {
            if k > 0 && seps[0] == Gap::Single && !is_control(first_word(&cats[0])) {
                continue;
            }
            if let Some(label) = parse(level_word, &cats[..k]) {
                accepted = Some((label, k));
                break;
            }
        }
        let double = seps.first() == Some(&Gap::Double);
        let evidence = match &accepted {
            Some((_, k)) if *k > 0 => full || level_caps,
            _ => false,
        };
        let before = &text[start..level_start];
        let after = &text[level_end..end];
        let mut found: Option<(Label, usize, usize)> = None;
        if evidence {
            if let Some((label, k)) = accepted.clone() {
                found = Some((label, level_start, cat_ends[k - 1]));
            }
        } else if double && level_caps {
            // A level with `//` and categories the parser refuses: at least the level.
            if let Some(label) = parse(level_word, &[]) {
                found = Some((label, level_start, cat_ends[0]));
            }
        } else if cats.is_empty() || accepted.as_ref().is_some_and(|a| a.1 == 0) {
            // A bare level: only where it is a marking, not a word.
            let stated = prefixed(before, full && level_caps);
            let whole_line = level_caps && full && only_wrapping(before) && only_wrapping(after);
            let bracketed = level_caps && enclosed(before, after);
            let portion = !full
                && level_caps
                && before.trim_end().ends_with('(')
                && after.starts_with(')')
                && portion_position(b, start, start + before.trim_end().len() - 1)
                && !copyright(text, level_end + 1);
            let cui_portion =
                is_cui && level_caps && before.ends_with('(') && after.starts_with(')');
            if stated || whole_line || (bracketed && (full || is_cui)) || portion || cui_portion {
                if let Some(label) = parse(level_word, &[]) {
                    found = Some((label, level_start, level_end));
                }
            }
        }
        if let Some((label, mut s, mut e)) = found {
            // A portion mark keeps its parentheses.
            let form = if text[..s].ends_with('(') && text[e..].starts_with(')') {
                s -= 1;
                e += 1;
                Form::Portion
            } else {
                Form::Banner
            };
            out.push(Marking {
                label,
                form,
                start: s,
                end: e,
            });
            // Continue after what was taken.
            while i < ws.len() && ws[i].start < e {
                i += 1;
            }
            continue;
        }
        i += taken;
    }
}

fn first_word(cat: &str) -> &str {
    cat.split([' ', ',']).next().unwrap_or(cat)
}

/// Only punctuation, markup and spaces (what wraps a banner on its own line).
fn only_wrapping(s: &str) -> bool {
    s.bytes().all(|c| !c.is_ascii_alphanumeric())
}

/// `(SECRET)`, `[SECRET]`, `<SECRET>`, `{SECRET}`.
fn enclosed(before: &str, after: &str) -> bool {
    let b = before.trim_end_matches([' ', '*', '_', '"', '\'']);
    let a = after.trim_start_matches([' ', '*', '_', '"', '\'']);
    matches!(
        (b.chars().last(), a.chars().next()),
        (Some('('), Some(')'))
            | (Some('['), Some(']'))
            | (Some('<'), Some('>'))
            | (Some('{'), Some('}'))
    )
}

/// `classification:`, `Classified by:`-style prefixes just before the level (any case, with a
/// colon), or `classified` / `classified as` before a level in capitals.
fn prefixed(before: &str, caps_level: bool) -> bool {
    let t = before.trim_end_matches([' ', '*', '_', '"', '\'', '(', '[']);
    if let Some(head) = t.strip_suffix([':', '-', '=']) {
        let head = head.trim_end_matches([' ', '*', '_']);
        let last = head
            .rsplit(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        return is_prefix_word(&last);
    }
    if !caps_level {
        return false;
    }
    let mut it = t
        .rsplit(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    match it.next().map(str::to_ascii_uppercase).as_deref() {
        Some("CLASSIFIED" | "MARKED") => true,
        Some("AS" | "AT") => matches!(
            it.next().map(str::to_ascii_uppercase).as_deref(),
            Some("CLASSIFIED" | "MARKED")
        ),
        _ => false,
    }
}

/// Portion marks begin a paragraph, a list item or a sentence.
fn portion_position(b: &[u8], line_start: usize, at: usize) -> bool {
    let before = &b[line_start..at];
    let prefix = before
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|p| &before[..=p]);
    match prefix {
        None => true,
        Some(p) => {
            let last = p[p.len() - 1];
            matches!(
                last,
                b'.' | b':' | b'-' | b'*' | b'>' | b'!' | b'?' | b'"' | b'#'
            ) || p
                .iter()
                .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b')')
        }
    }
}

/// `(C) 2024 Acme` is a copyright notice, not CONFIDENTIAL.
fn copyright(text: &str, after: usize) -> bool {
    let rest = text.get(after..).unwrap_or("").trim_start();
    rest.len() >= 4 && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit)
}

/// Where a streamed answer's last line could still turn into a marking: the earliest, among
/// its last few words, that is a level word, `TOP`, a classification prefix or a single letter
/// (a letter-spaced banner), or an open `(`. `None` when nothing there could.
pub(crate) fn hold_from(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let line = b.iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
    let tail = &text[line..];
    let (ws, _) = words(tail, line);
    let mut hold = None;
    let n = ws.len();
    for (k, w) in ws.iter().enumerate().rev().take(8) {
        let risky = matches!(
            w.up.as_str(),
            "TOP" | "SECRET" | "CONFIDENTIAL" | "UNCLASSIFIED" | "CUI" | "TS" | "S" | "C" | "U"
        ) || is_prefix_word(&w.up)
            || (w.up.len() == 1 && k + 2 >= n);
        if risky {
            hold = Some(w.start);
        }
    }
    // An open parenthesis or bracket near the end: a portion mark may be inside.
    if let Some(p) = tail.rfind(['(', '[']) {
        if tail.len() - p < 80 && !tail[p..].contains([')', ']']) {
            hold = Some(hold.map_or(line + p, |h: usize| h.min(line + p)));
        }
    }
    hold
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn canon(text: &str) -> Vec<String> {
        find(text).iter().map(Marking::canonical).collect()
    }

    #[test]
    fn banners_portions_and_inline() {
        assert_eq!(
            canon("SECRET//NOFORN\nbody\nSECRET//NOFORN"),
            ["SECRET//NOFORN", "SECRET//NOFORN"]
        );
        assert_eq!(
            canon("Classification: TOP SECRET//SI//NOFORN"),
            ["TOP SECRET//SI//NOFORN"]
        );
        assert_eq!(
            canon("(S//NF) The unit moved. (U) Weather was fine."),
            ["(S//NF)", "(U)"]
        );
        assert_eq!(
            canon("The file is TOP SECRET//NOFORN, they said."),
            ["TOP SECRET//NOFORN"]
        );
        assert_eq!(canon("CUI//SP-PRVCY"), ["CUI//SP-PRVCY"]);
    }

    #[test]
    fn the_ways_people_write_them() {
        for t in [
            "**SECRET//NOFORN**",
            "`SECRET//NOFORN`",
            "\u{201C}SECRET//NOFORN\u{201D}",
            "see (SECRET//NOFORN) here",
            "SECRET//NOFORN!",
            "secret//noforn",
            "SECRET // NOFORN",
            "SECRET/NOFORN",
            "SECRET\u{FF0F}\u{FF0F}NOFORN",
            "SECRET\u{2215}\u{2215}NOFORN",
            "SE\u{200B}CRET//NOFORN",
            "S\u{0415}CRET//NOFORN",
            "S E C R E T // N O F O R N",
            "classification: secret//noforn",
        ] {
            let found = find(t);
            assert_eq!(found.len(), 1, "{t:?}: {found:?}");
            assert_eq!(found[0].label.level(), Level::Secret, "{t:?}");
            assert!(
                found[0].label.banner().contains("NOFORN"),
                "{t:?}: {found:?}"
            );
        }
        let ts = find("TS//SI//NF");
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].label.banner(), "TOP SECRET//SI//NOFORN");
        assert_eq!(canon("classification: secret"), ["SECRET"]);
        assert_eq!(canon("S E C R E T"), ["SECRET"]);
        assert_eq!(canon("The report (SECRET) was read."), ["(S)"]);
        assert_eq!(
            canon("It was classified TOP SECRET by the agency."),
            ["TOP SECRET"]
        );
    }

    #[test]
    fn ordinary_text_is_not_marked() {
        for t in [
            "It is no SECRET that item(s) (C) 2024 Acme ship soon.",
            "see https://example.org//x and (S) in mid sentence",
            "(C) 2024 Acme Corp",
            "a secret, a confidential note and S/MIME, C/C++, TS/SCI clearance, s/he",
            "secret/public key pairs and top secret recipes",
            "Secret",
            "the secret// and top/bottom",
        ] {
            assert!(canon(t).is_empty(), "{t:?}: {:?}", canon(t));
        }
    }

    #[test]
    fn spans_map_to_the_original() {
        let t = "x **S\u{200B}ECRET//NOFORN** y";
        let m = find(t);
        assert_eq!(&t[m[0].start..m[0].end], "S\u{200B}ECRET//NOFORN");
    }

    #[test]
    fn above_a_ceiling() {
        let ceiling = Label::parse_banner("SECRET").unwrap();
        let text = "(S) fine\n(TS) not fine\nCONFIDENTIAL";
        let found: Vec<String> = above(text, &ceiling)
            .iter()
            .map(Marking::canonical)
            .collect();
        assert_eq!(found, ["(TS)"]);
    }
}
