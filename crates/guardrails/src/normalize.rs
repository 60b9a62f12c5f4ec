//! The text every detector sees: the original folded to what a reader sees, with a map back to
//! the original bytes.
//!
//! Tricks that change bytes without changing what a person (or a model) reads must not change
//! what the detectors find. Before any detector runs, the text is rewritten once:
//!
//! - Unicode compatibility decomposition (NFKD) with combining marks dropped: fullwidth and
//!   mathematical letters and digits become ASCII, `María` (NFC or NFD) becomes `Maria`,
//!   ligatures split;
//! - format and other default-ignorable characters (zero-width spaces and joiners, soft hyphens,
//!   bidirectional controls, variation selectors) are removed; Unicode tag characters, which
//!   smuggle ASCII invisibly, become that ASCII;
//! - every Unicode space becomes a space, line and paragraph separators a newline, every dash
//!   and minus `-`, every slash `/`, curly and angle quotes `'` and `"`, and the decimal digits
//!   of every script `0`-`9`;
//! - in a word that mixes Latin letters with look-alikes from other scripts (a Cyrillic `Е` in
//!   `SЕCRET`), or that is made only of look-alikes, each look-alike becomes its Latin letter
//!   (the confusables skeleton of Unicode TR39, restricted to the letters that pass for Latin);
//! - escapes are decoded: `\u0035` (and surrogate pairs), `\n`, `\"` and the other JSON escapes,
//!   and HTML character references (`&#53;`, `&#x35;`, `&amp;`, `&nbsp;`);
//! - structure gives context: JSON and Python-literal quotes that are part of the syntax are
//!   dropped, a key's `:` is followed by a space, a `,` between members becomes a line break,
//!   brackets become spaces, so `{"ssn":"536-22-8741"}` reads `ssn: 536-22-8741`; an XML tag
//!   `<ssn>` reads `ssn:` and its end tag ends the line; HTML formatting tags read as a space;
//!   markdown emphasis (`**`, `__`) and code marks (`` ` ``) read as spaces.
//!
//! Nothing is case-folded: detectors that are case-blind fold for themselves, and the name
//! detector needs capitals.
//!
//! The rewrite is local (each decision looks at most a few bytes either side, on the same line),
//! so a view of a suffix starting at a line start is the matching suffix of the whole view: the
//! streaming masker's rescans see what a whole evaluation sees. [`View::stable`] says from where
//! appending text could change the view (an escape, a character reference or a tag not yet
//! complete). The builder skips runs of bytes no rule looks at, and text it rewrites nothing
//! in is borrowed as it is, with an identity map.

use std::borrow::Cow;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A stretch of the view and the original text it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seg {
    /// Start in the view.
    n: usize,
    /// Start in the original.
    o: usize,
    nlen: usize,
    olen: usize,
    /// Copied byte for byte (`nlen == olen`, offsets correspond one to one); otherwise one
    /// unit that maps as a whole.
    linear: bool,
}

/// The normalized text and the way back to the original.
#[derive(Debug, Clone)]
pub struct View<'a> {
    text: Cow<'a, str>,
    /// Empty when the view is the original.
    segs: Vec<Seg>,
    orig_len: usize,
    stable: usize,
}

impl<'a> View<'a> {
    /// Normalizes `src`.
    pub fn new(src: &'a str) -> View<'a> {
        let mut b = Builder::new(src);
        b.run();
        b.finish()
    }

    /// The normalized text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the view is the original text unchanged.
    pub fn is_identity(&self) -> bool {
        self.segs.is_empty()
    }

    /// The original offset from which appending text could change the view.
    pub fn stable(&self) -> usize {
        self.stable
    }

    fn seg_at(&self, n: usize) -> Option<&Seg> {
        let i = self.segs.partition_point(|s| s.n + s.nlen <= n);
        self.segs.get(i)
    }

    /// The original offset where the view's byte `n` comes from (`n` may be the view's length).
    pub fn start(&self, n: usize) -> usize {
        if self.segs.is_empty() {
            return n;
        }
        match self.seg_at(n) {
            Some(s) if s.linear => s.o + (n - s.n),
            Some(s) => s.o,
            None => self.orig_len,
        }
    }

    /// The original offset just past where the view's byte `n - 1` comes from.
    pub fn end(&self, n: usize) -> usize {
        if self.segs.is_empty() || n == 0 {
            return n;
        }
        match self.seg_at(n - 1) {
            Some(s) if s.linear => s.o + (n - 1 - s.n) + 1,
            Some(s) => s.o + s.olen,
            None => self.orig_len,
        }
    }

    /// The original span of the view's span `start..end`.
    pub fn span(&self, start: usize, end: usize) -> (usize, usize) {
        if end <= start {
            let at = self.start(start);
            return (at, at);
        }
        (self.start(start), self.end(end))
    }
}

struct Builder<'a> {
    src: &'a str,
    b: &'a [u8],
    out: String,
    segs: Vec<Seg>,
    /// Original offset consumed so far.
    pos: usize,
    stable: usize,
    /// The end of the current word and whether its look-alikes are mapped.
    word_end: usize,
    word_maps: bool,
    /// The current line has shown JSON or literal syntax so far (a bracket, or a quoted key
    /// followed by `:`): from then on, quotes and punctuation next to quotes are syntax. A
    /// CSV row (`"Ann Lee","age 64"`) shows neither and is left as it is.
    line_json: bool,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str) -> Builder<'a> {
        Builder {
            src,
            b: src.as_bytes(),
            out: String::new(),
            segs: Vec::new(),
            pos: 0,
            stable: src.len(),
            word_end: 0,
            word_maps: false,
            line_json: false,
        }
    }

    fn flush(&mut self, upto: usize) {
        if upto <= self.pos {
            return;
        }
        let n = self.out.len();
        self.out.push_str(&self.src[self.pos..upto]);
        let len = upto - self.pos;
        match self.segs.last_mut() {
            Some(s) if s.linear && s.n + s.nlen == n && s.o + s.olen == self.pos => {
                s.nlen += len;
                s.olen += len;
            }
            _ => self.segs.push(Seg {
                n,
                o: self.pos,
                nlen: len,
                olen: len,
                linear: true,
            }),
        }
        self.pos = upto;
    }

    /// Replaces `src[start..end]` with `with`.
    fn unit(&mut self, start: usize, end: usize, with: &str) {
        if self.out.capacity() == 0 {
            self.out.reserve(self.b.len() + 16);
        }
        self.flush(start);
        let n = self.out.len();
        self.out.push_str(with);
        self.segs.push(Seg {
            n,
            o: start,
            nlen: with.len(),
            olen: end - start,
            linear: false,
        });
        self.pos = end;
    }

    fn finish(mut self) -> View<'a> {
        if self.segs.is_empty() {
            // Nothing was rewritten.
            return View {
                text: Cow::Borrowed(self.src),
                segs: Vec::new(),
                orig_len: self.b.len(),
                stable: self.stable,
            };
        }
        self.flush(self.b.len());
        View {
            text: Cow::Owned(self.out),
            segs: self.segs,
            orig_len: self.b.len(),
            stable: self.stable,
        }
    }

    fn hold(&mut self, at: usize) {
        self.stable = self.stable.min(at);
    }

    fn run(&mut self) {
        let len = self.b.len();
        let mut i = 0;
        while i < len {
            let c = self.b[i];
            // Off a JSON line, `:`, `,`, brackets closing and line ends are plain too.
            let plain = if self.line_json { &PLAIN } else { &PLAIN_PROSE };
            if plain[c as usize] {
                // A run of bytes no rule looks at.
                i += plain_run(&self.b[i..], plain);
                continue;
            }
            if c < 0x80 {
                if c == b'\n' {
                    self.line_json = false;
                }
                i = match c {
                    b'\\' => self.escape(i),
                    b'&' => self.reference(i),
                    b'<' => self.tag(i),
                    b'"' | b'\'' | b'`' => self.quote(i),
                    b'*' | b'_' if i + 1 == self.b.len() => {
                        self.hold(i);
                        i + 1
                    }
                    b'*' | b'_' if self.b.get(i + 1) == Some(&c) => {
                        // Markdown emphasis (`**bold**`, `__bold__`) reads as spaces.
                        let mut j = i;
                        while self.b.get(j) == Some(&c) {
                            j += 1;
                        }
                        self.unit(i, j, &" ".repeat(j - i));
                        j
                    }
                    b':' | b',' | b'{' | b'}' | b'[' | b']' => self.punct(i),
                    _ => i + 1,
                };
                continue;
            }
            let ch = self.src[i..].chars().next().unwrap_or('\u{FFFD}');
            let w = ch.len_utf8();
            if i >= self.word_end && ch.is_alphabetic() {
                self.decide_word(i);
            }
            let maps = i < self.word_end && self.word_maps;
            let mut buf = [0u8; 64];
            if let Some(s) = fold_char(ch, maps, &mut buf) {
                self.unit(i, i + w, s);
            }
            i += w;
        }
    }

    /// Finds the word around `i` and decides whether its look-alikes are mapped: when it has a
    /// Latin letter, or when every letter in it is a look-alike.
    fn decide_word(&mut self, i: usize) {
        let src = self.src;
        let mut start = i;
        while let Some(c) = src[..start].chars().next_back() {
            if !c.is_alphanumeric() {
                break;
            }
            start -= c.len_utf8();
        }
        let mut end = i;
        let mut latin = false;
        let mut all_alike = true;
        for c in src[start..].chars() {
            if !(c.is_alphanumeric() || is_ignorable(c)) {
                break;
            }
            end += c.len_utf8();
            if c.is_ascii_alphabetic() || ('\u{00C0}'..='\u{024F}').contains(&c) {
                latin = true;
            } else if c.is_alphabetic() && confusable(c).is_none() && fullwidth_latin(c).is_none() {
                all_alike = false;
            }
        }
        self.word_end = end.max(i + 1);
        self.word_maps = latin || all_alike;
        if self.word_end >= self.b.len() {
            // The word may continue.
            self.hold(start);
        }
    }

    /// `\uXXXX` (and a surrogate pair), `\n`, `\t`, `\r`, `\"`, `\'`, `\/`, `\\`.
    fn escape(&mut self, i: usize) -> usize {
        let b = self.b;
        let Some(&e) = b.get(i + 1) else {
            self.hold(i);
            return i + 1;
        };
        let simple = match e {
            b'n' => Some("\n"),
            b't' => Some("\t"),
            b'r' => Some("\n"),
            b'"' => Some("\""),
            b'\'' => Some("'"),
            b'/' => Some("/"),
            b'\\' => Some("\\"),
            _ => None,
        };
        if let Some(s) = simple {
            self.unit(i, i + 2, s);
            return i + 2;
        }
        if e != b'u' {
            return i + 1;
        }
        let hex4 = |at: usize| -> Option<u32> {
            let h = b.get(at..at + 4)?;
            let s = std::str::from_utf8(h).ok()?;
            u32::from_str_radix(s, 16).ok()
        };
        let Some(hi) = hex4(i + 2) else {
            if b.len() < i + 6 {
                self.hold(i);
            }
            return i + 1;
        };
        let (cp, end) = if (0xD800..0xDC00).contains(&hi) {
            if b.len() < i + 12 {
                self.hold(i);
                return i + 1;
            }
            match (b.get(i + 6..i + 8), hex4(i + 8)) {
                (Some(b"\\u"), Some(lo)) if (0xDC00..0xE000).contains(&lo) => {
                    (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), i + 12)
                }
                _ => (0xFFFD, i + 6),
            }
        } else {
            (hi, i + 6)
        };
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 64];
        let folded = fold_char(ch, true, &mut buf).map(str::to_owned);
        match folded {
            Some(s) => self.unit(i, end, &s),
            None => {
                let mut tmp = [0u8; 4];
                self.unit(i, end, ch.encode_utf8(&mut tmp));
            }
        }
        end
    }

    /// `&#53;`, `&#x35;` and a few named references.
    fn reference(&mut self, i: usize) -> usize {
        let b = self.b;
        let limit = (i + 12).min(b.len());
        let Some(semi) = b[i + 1..limit].iter().position(|&c| c == b';') else {
            if b.len() < i + 12
                && b[i + 1..]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'#')
            {
                self.hold(i);
            }
            return i + 1;
        };
        let body = &self.src[i + 1..i + 1 + semi];
        let end = i + 2 + semi;
        let ch = if let Some(hex) = body.strip_prefix("#x").or_else(|| body.strip_prefix("#X")) {
            u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
        } else if let Some(dec) = body.strip_prefix('#') {
            dec.parse::<u32>().ok().and_then(char::from_u32)
        } else {
            match body {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "shy" => Some('\u{AD}'),
                "ndash" | "mdash" | "minus" => Some('-'),
                "sol" => Some('/'),
                "colon" => Some(':'),
                "commat" => Some('@'),
                "period" => Some('.'),
                _ => None,
            }
        };
        let Some(ch) = ch else {
            return i + 1;
        };
        let mut buf = [0u8; 64];
        let s = match fold_char(ch, true, &mut buf) {
            Some(s) => s.to_owned(),
            None => ch.to_string(),
        };
        self.unit(i, end, &s);
        end
    }

    /// An XML or HTML tag: `<ssn>` reads `ssn:`, `</ssn>` ends the line, formatting tags read
    /// as a space and block tags as a line break.
    fn tag(&mut self, i: usize) -> usize {
        let b = self.b;
        let mut j = i + 1;
        let closing = b.get(j) == Some(&b'/');
        if closing {
            j += 1;
        }
        let name_start = j;
        while j < b.len()
            && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'_' | b'-' | b'.' | b':'))
        {
            j += 1;
        }
        if j == name_start || !b[name_start].is_ascii_alphabetic() {
            if j >= b.len() {
                self.hold(i);
            }
            return i + 1;
        }
        let name = &self.src[name_start..j];
        // Attributes, up to `>` on the same line, at most 200 bytes.
        let limit = (i + 200).min(b.len());
        let mut k = j;
        let mut quote = 0u8;
        while k < limit {
            let c = b[k];
            if quote != 0 {
                if c == quote {
                    quote = 0;
                }
            } else if c == b'"' || c == b'\'' {
                quote = c;
            } else if c == b'>' || c == b'<' || c == b'\n' {
                break;
            }
            k += 1;
        }
        if k >= b.len() {
            self.hold(i);
            return i + 1;
        }
        if b[k] != b'>' || (k > j && !b[j].is_ascii_whitespace() && b[j] != b'/') {
            return i + 1;
        }
        let self_closing = k > i && b[k - 1] == b'/';
        let lower = name.to_ascii_lowercase();
        let with = if INLINE_TAGS.contains(&lower.as_str()) {
            " "
        } else if closing || self_closing || BLOCK_TAGS.contains(&lower.as_str()) {
            "\n"
        } else {
            ""
        };
        if with.is_empty() {
            let s = format!(" {name}: ");
            self.unit(i, k + 1, &s);
        } else {
            self.unit(i, k + 1, with);
        }
        k + 1
    }

    /// A quote that is JSON or Python-literal syntax (next to a bracket, a `:` or a `,`) is
    /// dropped; a backtick (markdown code) always.
    fn quote(&mut self, i: usize) -> usize {
        if self.b[i] == b'`' {
            self.unit(i, i + 1, " ");
            return i + 1;
        }
        if !self.line_json && !matches!(self.b.get(i + 1), Some(b':' | b' ' | b'\t') | None) {
            // Inside a word ("don't", "O'Brien") on a line with no JSON so far.
            return i + 1;
        }
        let before = self.prev_nonspace(i);
        let after = self.next_nonspace(i + 1);
        if after == Some(b':') {
            self.line_json = true;
        }
        let syntax = |c: Option<u8>| matches!(c, Some(b'{' | b'[' | b':' | b',' | b'}' | b']'));
        let before_ok = syntax(before);
        let after_ok = syntax(after);
        if self.line_json && (before_ok || after_ok) {
            self.unit(i, i + 1, "");
        } else if after.is_none() && i + 1 >= self.b.len() {
            // What follows decides.
            self.hold(i);
        }
        i + 1
    }

    /// Structural punctuation next to a quote or a bracket: a key's `:` gets a space after it,
    /// a `,` between members becomes a line break, brackets become spaces.
    fn punct(&mut self, i: usize) -> usize {
        let c = self.b[i];
        if matches!(c, b'{' | b'[') {
            self.line_json = true;
        }
        if !self.line_json {
            if i + 1 >= self.b.len() {
                self.hold(i);
            }
            return i + 1;
        }
        let before = self.prev_nonspace(i);
        let after = self.next_nonspace(i + 1);
        let quoteish = |x: Option<u8>| matches!(x, Some(b'"' | b'\''));
        let bracket = |x: Option<u8>| matches!(x, Some(b'{' | b'[' | b'}' | b']'));
        let structural = quoteish(before) || quoteish(after) || bracket(before) || bracket(after);
        if after.is_none() && i + 1 >= self.b.len() {
            self.hold(i);
        }
        if !structural {
            return i + 1;
        }
        match c {
            b':' if !matches!(self.b.get(i + 1), Some(b' ' | b'\t')) => self.unit(i, i + 1, ": "),
            b':' => {}
            b',' => self.unit(i, i + 1, "\n"),
            _ => self.unit(i, i + 1, " "),
        }
        i + 1
    }

    fn prev_nonspace(&self, i: usize) -> Option<u8> {
        self.b[..i]
            .iter()
            .rev()
            .take(64)
            .find(|c| !matches!(c, b' ' | b'\t'))
            .copied()
            .filter(|c| *c != b'\n' && *c != b'\r')
    }

    fn next_nonspace(&self, i: usize) -> Option<u8> {
        self.b[i.min(self.b.len())..]
            .iter()
            .take(64)
            .find(|c| !matches!(c, b' ' | b'\t'))
            .copied()
            .filter(|c| *c != b'\n' && *c != b'\r')
    }
}

/// How many bytes at the start of `b` are `plain`: sixteen at a time without a branch per
/// byte, then one by one.
fn plain_run(b: &[u8], plain: &[bool; 256]) -> usize {
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 16) {
        if !chunk
            .iter()
            .fold(true, |all, c| all & plain[usize::from(*c)])
        {
            break;
        }
        i += 16;
    }
    while b.get(i).is_some_and(|c| plain[usize::from(*c)]) {
        i += 1;
    }
    i
}

/// ASCII bytes no rule of the builder looks at.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x80 {
        t[c] = !matches!(
            c as u8,
            b'\\'
                | b'&'
                | b'<'
                | b'"'
                | b'\''
                | b'`'
                | b':'
                | b','
                | b'{'
                | b'}'
                | b'['
                | b']'
                | b'*'
                | b'_'
                | b'\n'
        );
        c += 1;
    }
    t
};

/// [`PLAIN`] on a line that has shown no JSON syntax: punctuation there is prose.
const PLAIN_PROSE: [bool; 256] = {
    let mut t = PLAIN;
    t[b':' as usize] = true;
    t[b',' as usize] = true;
    t[b'}' as usize] = true;
    t[b']' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "big", "cite", "code", "del", "em", "font", "i", "ins", "kbd", "mark", "q",
    "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "tt", "u", "var",
];

const BLOCK_TAGS: &[&str] = &[
    "article",
    "blockquote",
    "body",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "ul",
];

/// Characters that render as nothing.
fn is_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// The zero of each script's decimal digits that compatibility decomposition leaves alone.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

fn digit_value(c: char) -> Option<u8> {
    let cp = c as u32;
    let i = DIGIT_ZEROS.partition_point(|z| *z <= cp);
    let zero = *DIGIT_ZEROS.get(i.checked_sub(1)?)?;
    (cp - zero < 10).then(|| (cp - zero) as u8)
}

/// Letters of other scripts that pass for Latin ones (TR39 confusables, the single-letter
/// prototypes).
fn confusable(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'У' => 'Y',
        'Ѕ' => 'S',
        'І' => 'I',
        'Ј' => 'J',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        'Ү' => 'Y',
        'Ӏ' => 'I',
        'Ԁ' => 'D',
        'Ɡ' => 'G',
        'а' => 'a',
        'е' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'һ' => 'h',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ү' => 'y',
        'ѡ' => 'w',
        'ɡ' => 'g',
        // Greek
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        'ο' => 'o',
        'ν' => 'v',
        'α' => 'a',
        'ι' => 'i',
        'κ' => 'k',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'ϲ' => 'c',
        'ϳ' => 'j',
        'Ϲ' => 'C',
        'ε' => 'e',
        'η' => 'n',
        'ω' => 'w',
        'γ' => 'y',
        'χ' => 'x',
        // Armenian, Cherokee and Latin look-alikes
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'զ' => 'q',
        'ց' => 'g',
        'Տ' => 'S',
        'Ꭺ' => 'A',
        'Ᏼ' => 'B',
        'Ꮯ' => 'C',
        'Ꭼ' => 'E',
        'Ꮋ' => 'H',
        'Ꮶ' => 'K',
        'Ꮇ' => 'M',
        'Ꮲ' => 'P',
        'Ꮪ' => 'S',
        'Ꭲ' => 'T',
        'Ꮃ' => 'W',
        'Ꮓ' => 'Z',
        'ı' => 'i',
        'ȷ' => 'j',
        'ɑ' => 'a',
        'ɩ' => 'i',
        'ʀ' => 'R',
        'ʏ' => 'Y',
        'ᴀ' => 'A',
        'ʙ' => 'B',
        'ᴄ' => 'C',
        'ᴅ' => 'D',
        'ᴇ' => 'E',
        'ɢ' => 'G',
        'ʜ' => 'H',
        'ɪ' => 'I',
        'ᴊ' => 'J',
        'ᴋ' => 'K',
        'ʟ' => 'L',
        'ᴍ' => 'M',
        'ɴ' => 'N',
        'ᴏ' => 'O',
        'ᴘ' => 'P',
        'ꜱ' => 'S',
        'ᴛ' => 'T',
        'ᴜ' => 'U',
        'ᴠ' => 'V',
        'ᴡ' => 'W',
        'ᴢ' => 'Z',
        _ => return None,
    })
}

fn fullwidth_latin(c: char) -> Option<char> {
    let cp = c as u32;
    (0xFF21..=0xFF5A)
        .contains(&cp)
        .then(|| char::from_u32(cp - 0xFF21 + 0x41))
        .flatten()
        .filter(char::is_ascii_alphabetic)
}

/// What one character becomes, when it changes (`None`: it stays as it is). `maps` says
/// whether look-alike letters are mapped (the word decided it).
fn fold_char(ch: char, maps: bool, buf: &mut [u8; 64]) -> Option<&str> {
    if ch.is_ascii() {
        return None;
    }
    let mut n = 0;
    let mut push = |c: char, buf: &mut [u8; 64]| {
        if n + 4 <= buf.len() {
            n += c.encode_utf8(&mut buf[n..]).len();
        }
    };
    if let Some(simple) = fold_simple(ch, maps) {
        if let Some(c) = simple {
            push(c, buf);
        }
        return std::str::from_utf8(&buf[..n]).ok();
    }
    // Hangul syllables and CJK ideographs: nothing to fold.
    if ('\u{AC00}'..='\u{D7A3}').contains(&ch) || ('\u{4E00}'..='\u{9FFF}').contains(&ch) {
        return None;
    }
    let mut parts = [char::default(); 18];
    let mut k = 0;
    decompose_compatible(ch, |d| {
        if k < parts.len() {
            parts[k] = d;
            k += 1;
        }
    });
    if k == 1 && parts[0] == ch {
        return None;
    }
    for &d in &parts[..k] {
        if is_combining_mark(d) {
            continue;
        }
        match fold_simple(d, maps) {
            Some(Some(c)) => push(c, buf),
            Some(None) => {}
            None => push(d, buf),
        }
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// The one-to-one folds: `Some(None)` removes, `Some(Some(c))` replaces, `None` leaves it to
/// decomposition.
fn fold_simple(ch: char, maps: bool) -> Option<Option<char>> {
    if ch.is_ascii() {
        return Some(Some(ch));
    }
    if let Some(cp) = (ch as u32).checked_sub(0xE0000) {
        // Tag characters spell ASCII invisibly.
        return Some((0x20..0x7F).contains(&cp).then(|| char::from(cp as u8)));
    }
    if is_ignorable(ch) || is_combining_mark(ch) {
        return Some(None);
    }
    let c = match ch {
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => ' ',
        '\u{0085}' | '\u{2028}' | '\u{2029}' => '\n',
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{2E3A}'
        | '\u{2E3B}'
        | '\u{FE58}'
        | '\u{FE63}'
        | '\u{FF0D}'
        | '\u{058A}'
        | '\u{05BE}'
        | '\u{1806}'
        | '\u{2E17}'
        | '\u{2043}'
        | '\u{02D7}'
        | '\u{2796}'
        | '\u{30FC}' => '-',
        '\u{2044}' | '\u{2215}' | '\u{29F8}' | '\u{FF0F}' | '\u{2571}' | '\u{27CB}'
        | '\u{1735}' | '\u{3033}' => '/',
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{FF07}'
        | '\u{02BC}' | '\u{02B9}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' | '\u{FF02}' | '\u{301D}' | '\u{301E}' => '"',
        '\u{FF20}' | '\u{FE6B}' => '@',
        '\u{3002}' | '\u{FF0E}' | '\u{FF61}' => '.',
        _ => {
            if let Some(d) = digit_value(ch) {
                char::from(b'0' + d)
            } else if let Some(l) = fullwidth_latin(ch) {
                l
            } else if maps {
                return confusable(ch).map(Some);
            } else {
                return None;
            }
        }
    };
    Some(Some(c))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn back(v: &View<'_>, src: &str, needle: &str) -> String {
        let at = v.text().find(needle).unwrap();
        let (s, e) = v.span(at, at + needle.len());
        src[s..e].to_owned()
    }

    #[test]
    fn ascii_prose_is_borrowed() {
        let v = View::new("plain text, nothing to do: 123-45-6789.");
        assert!(v.is_identity());
    }

    #[test]
    fn unicode_folds_and_maps_back() {
        let src = "SSN ５３６\u{2013}２２\u{2014}８７４１ and \u{0665}\u{0663}";
        let v = View::new(src);
        assert_eq!(v.text(), "SSN 536-22-8741 and 53");
        assert_eq!(
            back(&v, src, "536-22-8741"),
            "５３６\u{2013}２２\u{2014}８７４１"
        );
        let src = "S\u{200B}ECRET\u{00AD}//NO\u{FEFF}FORN";
        let v = View::new(src);
        assert_eq!(v.text(), "SECRET//NOFORN");
        assert_eq!(back(&v, src, "SECRET//NOFORN"), src);
    }

    #[test]
    fn lookalikes_in_latin_words_only() {
        let v = View::new(
            "S\u{0415}CRET and \u{0421}\u{0415}\u{041A}\u{0420}\u{0415}\u{0422} and Москва",
        );
        assert_eq!(v.text(), "SECRET and CEKPET and Москва");
        let v = View::new("jоhn@exаmple.com");
        assert_eq!(v.text(), "john@example.com");
    }

    #[test]
    fn accents_fold_nfc_and_nfd() {
        assert_eq!(View::new("María García").text(), "Maria Garcia");
        assert_eq!(
            View::new("Mari\u{0301}a Garci\u{0301}a").text(),
            "Maria Garcia"
        );
    }

    #[test]
    fn json_and_xml_read_as_fields() {
        let src = r#"{"ssn":"536-22-8741","name":"John"}"#;
        let v = View::new(src);
        assert_eq!(v.text(), " ssn: 536-22-8741\nname: John ");
        assert_eq!(back(&v, src, "536-22-8741"), "536-22-8741");
        let v = View::new(r#"{"n": "\u0035\u0033\u0036-22-8741"}"#);
        assert!(v.text().contains("n: 536-22-8741"), "{:?}", v.text());
        let v = View::new("<ssn>536-22-8741</ssn><b>x</b>");
        assert_eq!(v.text(), " ssn: 536-22-8741\n x ");
        assert_eq!(View::new("&#53;&#x33;6").text(), "536");
    }

    #[test]
    fn prose_quotes_stay() {
        assert_eq!(
            View::new("he said \"hi\" to O'Brien").text(),
            "he said \"hi\" to O'Brien"
        );
    }

    #[test]
    fn incomplete_constructs_hold() {
        assert_eq!(View::new("abc \\u00").stable(), 4);
        assert_eq!(View::new("abc &#5").stable(), 4);
        assert_eq!(View::new("abc <ss").stable(), 4);
        assert_eq!(View::new("abc def").stable(), 7);
    }

    #[test]
    fn tag_characters_spell_ascii() {
        let src: String = "hi"
            .chars()
            .chain(
                "SECRET"
                    .chars()
                    .map(|c| char::from_u32(0xE0000 + c as u32).unwrap()),
            )
            .collect();
        assert_eq!(View::new(&src).text(), "hiSECRET");
    }
}
