//! Pure validators for identifiers found by the scanner: payment cards, national and tax
//! numbers, bank identifiers, vehicle numbers, health and provider numbers, network
//! addresses, and cloud keys.
//!
//! Every function takes the candidate text exactly as matched (it may still hold the
//! separators the format allows, such as spaces and dashes, which the function skips
//! itself) and returns whether it is a valid instance. None of them allocates: digits are
//! gathered into fixed-size stack arrays, and lookup tables are built at compile time.
//! They run inside the scanner's hot loop.

/// A bitmap over two-letter codes `AA`..`ZZ`: bit `b` of row `a` is set for code `ab`.
type CodeSet = [u32; 26];

/// Builds a [`CodeSet`] from a space-separated list of uppercase two-letter codes.
const fn code_set(list: &str) -> CodeSet {
    let bytes = list.as_bytes();
    let mut set = [0u32; 26];
    let mut i = 0;
    while i + 1 < bytes.len() {
        let (a, b) = (bytes[i], bytes[i + 1]);
        if a.is_ascii_uppercase() && b.is_ascii_uppercase() {
            set[(a - b'A') as usize] |= 1 << (b - b'A');
            i += 2;
        } else {
            i += 1;
        }
    }
    set
}

/// Whether `code` is exactly two uppercase ASCII letters present in `set`.
fn in_code_set(set: &CodeSet, code: &[u8]) -> bool {
    match code {
        [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
            set[usize::from(a - b'A')] & (1 << (b - b'A')) != 0
        }
        _ => false,
    }
}

/// ISO 3166-1 alpha-2 officially assigned codes (249), plus XK (Kosovo, user-assigned but
/// universally used, including by SWIFT and the IBAN registry).
const ISO_COUNTRIES: CodeSet = code_set(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
     BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
     CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
     DE DJ DK DM DO DZ \
     EC EE EG EH ER ES ET \
     FI FJ FK FM FO FR \
     GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
     HK HM HN HR HT HU \
     ID IE IL IM IN IO IQ IR IS IT \
     JE JM JO JP \
     KE KG KH KI KM KN KP KR KW KY KZ \
     LA LB LC LI LK LR LS LT LU LV LY \
     MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
     NA NC NE NF NG NI NL NO NP NR NU NZ \
     OM \
     PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
     QA \
     RE RO RS RU RW \
     SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
     TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ \
     UA UG UM US UY UZ \
     VA VC VE VG VI VN VU \
     WF WS \
     YE YT \
     ZA ZM ZW \
     XK",
);

/// The 50 US states, DC, and the inhabited territories PR, GU, VI, AS, MP.
const US_STATES: CodeSet = code_set(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH \
     NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY \
     DC PR GU VI AS MP",
);

/// IBAN lengths by country, from the SWIFT IBAN registry (ISO 13616), including the
/// countries added through 2024 (e.g. HN, OM, YE, SO, DJ, FK, MN, NI, LY, SD, RU).
const IBAN_LENGTHS: &[(&str, u8)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// [`IBAN_LENGTHS`] as a direct 26×26 lookup table (0 = no IBAN).
const IBAN_LENGTH_TABLE: [u8; 676] = {
    let mut table = [0u8; 676];
    let mut i = 0;
    while i < IBAN_LENGTHS.len() {
        let (code, len) = IBAN_LENGTHS[i];
        let c = code.as_bytes();
        table[(c[0] - b'A') as usize * 26 + (c[1] - b'A') as usize] = len;
        i += 1;
    }
    table
};

/// Gathers the ASCII digits of `s` into a fixed array, skipping the bytes in `seps`.
/// Returns `None` on any other byte or if there are more than `N` digits.
fn digits<const N: usize>(s: &[u8], seps: &[u8]) -> Option<([u8; N], usize)> {
    let mut out = [0u8; N];
    let mut n = 0;
    for &b in s {
        if b.is_ascii_digit() {
            *out.get_mut(n)? = b - b'0';
            n += 1;
        } else if !seps.contains(&b) {
            return None;
        }
    }
    Some((out, n))
}

/// Exactly `N` digits, with spaces and dashes skipped.
fn exact_digits<const N: usize>(s: impl AsRef<[u8]>) -> Option<[u8; N]> {
    match digits::<N>(s.as_ref(), b" -") {
        Some((d, n)) if n == N => Some(d),
        _ => None,
    }
}

/// Luhn (mod 10) checksum over a digit slice, rightmost digit being the check digit.
fn luhn_digits(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Numeric value of the first `k` digits.
fn prefix(d: &[u8], k: usize) -> u32 {
    d.iter().take(k).fold(0, |acc, &x| acc * 10 + u32::from(x))
}

/// Luhn checksum. Spaces and dashes are ignored; any other non-digit, or fewer than two
/// digits, makes it false.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    let mut n = 0usize;
    for &b in digits.as_bytes().iter().rev() {
        if b.is_ascii_digit() {
            let x = u32::from(b - b'0');
            sum += if n % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            };
            n += 1;
        } else if b != b' ' && b != b'-' {
            return false;
        }
    }
    n >= 2 && sum.is_multiple_of(10)
}

/// Payment card number: 13–19 digits (spaces and dashes allowed), a known issuer prefix
/// (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) and a valid Luhn
/// check digit. Amex numbers must have 15 digits.
pub fn card_number(s: &str) -> bool {
    let Some((d, n)) = digits::<19>(s.as_bytes(), b" -") else {
        return false;
    };
    if !(13..=19).contains(&n) {
        return false;
    }
    let d = &d[..n];
    let (p2, p3, p4) = (prefix(d, 2), prefix(d, 3), prefix(d, 4));
    let issuer = d[0] == 4 // Visa
        || (51..=55).contains(&p2) || (2221..=2720).contains(&p4) // Mastercard
        || ((p2 == 34 || p2 == 37) && n == 15) // Amex
        || p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 // Discover
        || (3528..=3589).contains(&p4) // JCB
        || (300..=305).contains(&p3) || p2 == 36 || p2 == 38 // Diners
        || p2 == 62 // UnionPay
        || p2 == 50 || (56..=58).contains(&p2) // Maestro
        || p4 == 6304 || p4 == 6759 || (6761..=6763).contains(&p4);
    issuer && luhn_digits(d)
}

/// US Social Security number: 9 digits (dashes and spaces allowed); area not 000, 666 or
/// 900–999; group not 00; serial not 0000; and not one of the well-known invalid
/// numbers (078-05-1120, 219-09-9999, 123-45-6789).
pub fn us_ssn(s: &str) -> bool {
    let Some(d) = exact_digits::<9>(s) else {
        return false;
    };
    let area = prefix(&d, 3);
    let group = prefix(&d[3..], 2);
    let serial = prefix(&d[5..], 4);
    let all = prefix(&d, 9);
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !matches!(all, 78_051_120 | 219_099_999 | 123_456_789)
}

/// US Individual Taxpayer Identification Number: 9 digits (dashes and spaces allowed),
/// first digit 9, group (digits 4–5) in 50–65, 70–88, 90–92 or 94–99.
pub fn us_itin(s: &str) -> bool {
    let Some(d) = exact_digits::<9>(s) else {
        return false;
    };
    let group = prefix(&d[3..], 2);
    d[0] == 9 && matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// International Bank Account Number: spaces skipped; a country with a registered IBAN
/// length (case-insensitive), two check digits, an alphanumeric BBAN, the exact
/// registered length, and ISO 7064 mod 97-10 equal to 1.
pub fn iban(s: &str) -> bool {
    let mut buf = [0u8; 34];
    let mut n = 0;
    for &b in s.as_bytes() {
        if b == b' ' {
            continue;
        }
        if !b.is_ascii_alphanumeric() {
            return false;
        }
        let Some(slot) = buf.get_mut(n) else {
            return false;
        };
        *slot = b.to_ascii_uppercase();
        n += 1;
    }
    let c = &buf[..n];
    if n < 5 || !c[0].is_ascii_uppercase() || !c[1].is_ascii_uppercase() {
        return false;
    }
    if !c[2].is_ascii_digit() || !c[3].is_ascii_digit() {
        return false;
    }
    let idx = usize::from(c[0] - b'A') * 26 + usize::from(c[1] - b'A');
    if usize::from(IBAN_LENGTH_TABLE[idx]) != n {
        return false;
    }
    // Move the first four characters to the end, read letters as 10..35, and reduce
    // mod 97 one character at a time.
    let rem = c[4..].iter().chain(&c[..4]).fold(0u32, |rem, &b| {
        if b.is_ascii_digit() {
            (rem * 10 + u32::from(b - b'0')) % 97
        } else {
            (rem * 100 + u32::from(b - b'A') + 10) % 97
        }
    });
    rem == 1
}

/// ABA routing transit number: 9 digits, prefix 00–12, 21–32, 61–72 or 80, weighted
/// checksum 3-7-1 ≡ 0 (mod 10), not all zeros.
pub fn aba_routing(s: &str) -> bool {
    let Some(d) = exact_digits::<9>(s) else {
        return false;
    };
    let p = prefix(&d, 2);
    if !matches!(p, 0..=12 | 21..=32 | 61..=72 | 80) || d.iter().all(|&x| x == 0) {
        return false;
    }
    let w = |i: usize| u32::from(d[i]) + u32::from(d[i + 3]) + u32::from(d[i + 6]);
    (3 * w(0) + 7 * w(1) + w(2)) % 10 == 0
}

/// Vehicle Identification Number (North American check digit): 17 alphanumeric
/// characters without I, O or Q (case-insensitive), and a valid check digit at position 9.
pub fn vin(s: &str) -> bool {
    const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let b = s.as_bytes();
    if b.len() != 17 {
        return false;
    }
    let mut sum = 0u32;
    for (&c, &w) in b.iter().zip(&WEIGHTS) {
        let v = match c.to_ascii_uppercase() {
            x @ b'0'..=b'9' => u32::from(x - b'0'),
            b'A' | b'J' => 1,
            b'B' | b'K' | b'S' => 2,
            b'C' | b'L' | b'T' => 3,
            b'D' | b'M' | b'U' => 4,
            b'E' | b'N' | b'V' => 5,
            b'F' | b'W' => 6,
            b'G' | b'P' | b'X' => 7,
            b'H' | b'Y' => 8,
            b'R' | b'Z' => 9,
            _ => return false, // I, O, Q and non-alphanumerics
        };
        sum += v * w;
    }
    let check = match sum % 11 {
        10 => b'X',
        r => b'0' + r as u8,
    };
    b[8].to_ascii_uppercase() == check
}

/// UK NHS number: 10 digits (spaces and dashes allowed), modulus 11 with weights 10..2;
/// a computed check of 11 means 0, and 10 means the number is invalid.
pub fn nhs_number(s: &str) -> bool {
    let Some(d) = exact_digits::<10>(s) else {
        return false;
    };
    let sum: u32 = d[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    match 11 - sum % 11 {
        11 => d[9] == 0,
        10 => false,
        c => u32::from(d[9]) == c,
    }
}

/// Canadian Social Insurance Number: 9 digits (spaces and dashes allowed), first digit
/// not 0 or 8, valid Luhn.
pub fn ca_sin(s: &str) -> bool {
    match exact_digits::<9>(s) {
        Some(d) => d[0] != 0 && d[0] != 8 && luhn_digits(&d),
        None => false,
    }
}

/// Ontario health card number: 10 digits (spaces and dashes allowed), optionally followed
/// by a two-letter version code; Luhn over the 10 digits.
pub fn ohip(s: &str) -> bool {
    let b = s.trim_end().as_bytes();
    let letters = b
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let body = match letters {
        0 => b,
        2 => &b[..b.len() - 2],
        _ => return false,
    };
    match exact_digits::<10>(body) {
        Some(d) => luhn_digits(&d),
        None => false,
    }
}

/// UK National Insurance number: (spaces skipped) two prefix letters, six digits and a
/// suffix A–D. The first letter is not D, F, I, Q, U or V; the second not D, F, I, O, Q,
/// U or V; the pair not BG, GB, KN, NK, NT, TN or ZZ. Case-insensitive.
pub fn uk_nino(s: &str) -> bool {
    let mut c = [0u8; 9];
    let mut n = 0;
    for &b in s.as_bytes() {
        if b == b' ' {
            continue;
        }
        let Some(slot) = c.get_mut(n) else {
            return false;
        };
        *slot = b.to_ascii_uppercase();
        n += 1;
    }
    if n != 9 {
        return false;
    }
    let (a, b) = (c[0], c[1]);
    a.is_ascii_uppercase()
        && b.is_ascii_uppercase()
        && !b"DFIQUV".contains(&a)
        && !b"DFIOQUV".contains(&b)
        && !matches!(
            &c[..2],
            b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
        )
        && c[2..8].iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&c[8])
}

/// UK Unique Taxpayer Reference: 10 digits (spaces and dashes allowed, optional trailing
/// `K` ignored). HMRC modulus 11: weights 6,7,8,9,10,5,4,3,2 on digits 2–10, and the
/// remainder indexes the check-digit table `2,1,9,8,7,6,5,4,3,2,1`, which must equal
/// digit 1.
pub fn uk_utr(s: &str) -> bool {
    const WEIGHTS: [u32; 9] = [6, 7, 8, 9, 10, 5, 4, 3, 2];
    const TABLE: [u8; 11] = [2, 1, 9, 8, 7, 6, 5, 4, 3, 2, 1];
    let t = s.trim_end();
    let t = t
        .strip_suffix('K')
        .or_else(|| t.strip_suffix('k'))
        .unwrap_or(t);
    let Some(d) = exact_digits::<10>(t) else {
        return false;
    };
    let sum: u32 = d[1..]
        .iter()
        .zip(&WEIGHTS)
        .map(|(&x, &w)| u32::from(x) * w)
        .sum();
    TABLE[(sum % 11) as usize] == d[0]
}

/// SWIFT/BIC code: 8 or 11 uppercase characters: 4-letter bank code, a valid ISO 3166-1
/// country, 2 alphanumeric location characters, optional 3 alphanumeric branch characters.
pub fn swift_bic(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 8 && b.len() != 11 {
        return false;
    }
    let upper_alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    b[..4].iter().all(u8::is_ascii_uppercase)
        && in_code_set(&ISO_COUNTRIES, &b[4..6])
        && b[6..].iter().all(upper_alnum)
}

/// ISO 3166-1 alpha-2 country code (uppercase), including XK.
pub fn iso_country(code: &str) -> bool {
    in_code_set(&ISO_COUNTRIES, code.as_bytes())
}

/// US state or territory postal code (uppercase): the 50 states, DC, PR, GU, VI, AS, MP.
pub fn us_state(code: &str) -> bool {
    in_code_set(&US_STATES, code.as_bytes())
}

/// AWS access key ID: a known prefix (AKIA, ASIA, AIDA, AROA, AIPA, ANPA, ANVA, AGPA)
/// followed by 16 characters of `[A-Z2-7]`.
pub fn aws_access_key(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && matches!(
            &b[..4],
            b"AKIA" | b"ASIA" | b"AIDA" | b"AROA" | b"AIPA" | b"ANPA" | b"ANVA" | b"AGPA"
        )
        && b[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(c))
}

/// Dotted-quad IPv4 address: four parts 0–255, no leading zeros except a lone "0".
pub fn ipv4(s: &str) -> bool {
    let mut parts = 0;
    for part in s.split('.') {
        parts += 1;
        let p = part.as_bytes();
        if parts > 4 || p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
            return false;
        }
        if p.len() > 1 && p[0] == b'0' {
            return false;
        }
        if prefix_bytes(p) > 255 {
            return false;
        }
    }
    parts == 4
}

/// Numeric value of a run of ASCII digits.
fn prefix_bytes(p: &[u8]) -> u32 {
    p.iter().fold(0, |acc, &c| acc * 10 + u32::from(c - b'0'))
}

/// IPv6 address as accepted by [`std::net::Ipv6Addr`], with at least two colons.
pub fn ipv6(s: &str) -> bool {
    s.bytes().filter(|&b| b == b':').count() >= 2 && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// MAC address: six hex pairs separated consistently by ':' or '-', or Cisco dotted form
/// `xxxx.xxxx.xxxx`.
pub fn mac(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        17 => {
            let sep = b[2];
            (sep == b':' || sep == b'-')
                && b.iter().enumerate().all(|(i, c)| {
                    if i % 3 == 2 {
                        *c == sep
                    } else {
                        c.is_ascii_hexdigit()
                    }
                })
        }
        14 => b.iter().enumerate().all(|(i, c)| {
            if i % 5 == 4 {
                *c == b'.'
            } else {
                c.is_ascii_hexdigit()
            }
        }),
        _ => false,
    }
}

/// DEA registration number: 2 letters (the first a registrant type A, B, C, D, E, F, G,
/// H, J, K, L, M, P, R, S, T, U or X) and 7 digits, where the last digit of
/// (d1 + d3 + d5) + 2 × (d2 + d4 + d6) equals d7. Letters are case-insensitive.
pub fn dea_number(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let first = b[0].to_ascii_uppercase();
    if !b"ABCDEFGHJKLMPRSTUX".contains(&first) || !b[1].is_ascii_alphabetic() {
        return false;
    }
    if !b[2..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d = |i: usize| u32::from(b[2 + i] - b'0');
    let sum = d(0) + d(2) + d(4) + 2 * (d(1) + d(3) + d(5));
    sum % 10 == d(6)
}

/// US National Provider Identifier: 10 digits (spaces and dashes allowed) starting with 1
/// or 2, valid Luhn over the prefix 80840 followed by the 10 digits.
pub fn npi(s: &str) -> bool {
    let Some(d) = exact_digits::<10>(s) else {
        return false;
    };
    if d[0] != 1 && d[0] != 2 {
        return false;
    }
    let mut full = [8, 0, 8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    full[5..].copy_from_slice(&d);
    luhn_digits(&full)
}

/// IMEI: 15 digits (spaces and dashes allowed) with a valid Luhn check digit.
pub fn imei(s: &str) -> bool {
    exact_digits::<15>(s).is_some_and(|d| luhn_digits(&d))
}

/// US Medicare Beneficiary Identifier: 11 characters after removing dashes, in the CMS
/// pattern C A AN N A AN N A A N N (C = digit 1–9, A = letter, N = digit, AN = either),
/// where letters exclude S, L, O, I, B and Z. Case-insensitive.
pub fn medicare_mbi(s: &str) -> bool {
    // 0 = digit 1-9, 1 = letter, 2 = letter or digit, 3 = digit
    const PATTERN: [u8; 11] = [0, 1, 2, 3, 1, 2, 3, 1, 1, 3, 3];
    let mut n = 0;
    for &c in s.as_bytes() {
        if c == b'-' {
            continue;
        }
        let Some(&kind) = PATTERN.get(n) else {
            return false;
        };
        let c = c.to_ascii_uppercase();
        let letter = c.is_ascii_uppercase() && !b"SLOIBZ".contains(&c);
        let ok = match kind {
            0 => (b'1'..=b'9').contains(&c),
            1 => letter,
            2 => letter || c.is_ascii_digit(),
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return false;
        }
        n += 1;
    }
    n == 11
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Replaces the digit at byte `i` with `(digit + delta) % 10`.
    fn bump(s: &str, i: usize, delta: u8) -> String {
        let mut b = s.as_bytes().to_vec();
        b[i] = b'0' + (b[i] - b'0' + delta) % 10;
        String::from_utf8(b).unwrap()
    }

    /// Luhn check digit for a digit string, computed the textbook way.
    fn luhn_check_digit(body: &str) -> u8 {
        let mut sum = 0u32;
        for (i, c) in body.bytes().rev().enumerate() {
            let mut x = u32::from(c - b'0');
            if i % 2 == 0 {
                x *= 2;
                if x > 9 {
                    x -= 9;
                }
            }
            sum += x;
        }
        ((10 - sum % 10) % 10) as u8
    }

    #[test]
    fn luhn_basics() {
        assert!(luhn("79927398713"));
        assert!(luhn("7992 7398-713"));
        assert!(!luhn("79927398710"));
        assert!(!luhn("7992a7398713"));
        assert!(!luhn("0"));
        assert!(luhn("00"));
        assert!(!luhn(""));
        assert!(!luhn(" - "));
    }

    #[test]
    fn card_numbers() {
        for ok in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "378282246310005",
            "371449635398431",
            "5555555555554444",
            "5105105105105100",
            "2223003122003222",
            "6011111111111117",
            "6011000990139424",
            "3530111333300000",
            "3566002020360505",
            "30569309025904",
            "38520000023237",
            "6200000000000005",
            "6759649826438453",
            "4222222222222",
        ] {
            assert!(card_number(ok), "{ok}");
        }
        for bad in [
            "4111111111111112",
            "378282246310006",
            "1111111111111117", // no issuer
            "9111111111111111",
            "411111111111",         // 12 digits
            "41111111111111111111", // 20 digits
            "4111x111111111111",
            "3782822463100051", // Amex prefix, 16 digits (not Amex; 37 alone is no other issuer)
        ] {
            assert!(!card_number(bad), "{bad}");
        }
    }

    #[test]
    fn ssn() {
        assert!(us_ssn("536-22-1234"));
        assert!(us_ssn("536 22 1234"));
        assert!(us_ssn("536221234"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "536-00-1234",
            "536-22-0000",
            "078-05-1120",
            "219-09-9999",
            "123-45-6789",
            "536-22-123",
            "536-22-12345",
            "536.22.1234",
        ] {
            assert!(!us_ssn(bad), "{bad}");
        }
    }

    #[test]
    fn itin() {
        for ok in [
            "912-70-1234",
            "900-50-0000",
            "999-99-9999",
            "9126512 34",
            "912-94-1234",
        ] {
            assert!(us_itin(ok), "{ok}");
        }
        for bad in [
            "812-70-1234",
            "912-66-1234",
            "912-89-1234",
            "912-93-1234",
            "912-49-1234",
        ] {
            assert!(!us_itin(bad), "{bad}");
        }
    }

    #[test]
    fn ibans() {
        for ok in [
            "GB82WEST12345698765432",
            "GB82 WEST 1234 5698 7654 32",
            "gb82west12345698765432",
            "DE89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "BE68539007547034",
            "NO9386011117947",
            "CH9300762011623852957",
            "MT84MALT011000012345MTLCAST001S",
            "BR1800360305000010009795493C1",
        ] {
            assert!(iban(ok), "{ok}");
        }
        for bad in [
            "GB82WEST12345698765433",
            "GB83WEST12345698765432",
            "GB82WEST1234569876543",       // too short
            "GB82WEST123456987654321",     // too long
            "US82WEST12345698765432",      // no IBAN in US
            "DE89-3704-0044-0532-0130-00", // dashes not allowed
            "DE8937040044053201300!",
            "",
            "DE",
        ] {
            assert!(!iban(bad), "{bad}");
        }
    }

    #[test]
    fn iban_table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for &(code, len) in IBAN_LENGTHS {
            assert!(iso_country(code), "{code}");
            assert!(seen.insert(code), "duplicate {code}");
            assert!((15..=34).contains(&len), "{code}");
        }
        assert!(IBAN_LENGTHS.len() >= 80);
    }

    #[test]
    fn aba() {
        assert!(aba_routing("011000015"));
        assert!(aba_routing("021000021"));
        assert!(aba_routing("122105155"));
        assert!(!aba_routing("011000016"));
        assert!(!aba_routing("021000022"));
        assert!(!aba_routing("000000000"));
        assert!(!aba_routing("131000011")); // prefix 13 not allowed (checksum aside)
        assert!(!aba_routing("02100002"));
    }

    #[test]
    fn vins() {
        assert!(vin("1M8GDM9AXKP042788"));
        assert!(vin("1m8gdm9axkp042788"));
        assert!(vin("11111111111111111"));
        assert!(vin("1HGCM82633A004352"));
        assert!(!vin("1M8GDM9A1KP042788"));
        assert!(!vin("1M8GDM9AXKP042789"));
        assert!(!vin("1M8GDM9AXKP04278"));
        assert!(!vin("1M8GDM9AXKP0427O8"));
        assert!(!vin("IM8GDM9AXKP042788"));
    }

    #[test]
    fn nhs() {
        assert!(nhs_number("9434765919"));
        assert!(nhs_number("943 476 5919"));
        assert!(nhs_number("943-476-5919"));
        assert!(!nhs_number("9434765918"));
        assert!(!nhs_number("943476591"));
        // Independent computation over many bodies, including the 11 -> 0 and 10 -> invalid
        // cases.
        let mut saw_zero = false;
        let mut saw_ten = false;
        for k in 0..2000u32 {
            let body = format!("{:09}", k * 4_999_993 % 1_000_000_000);
            let sum: u32 = body
                .bytes()
                .enumerate()
                .map(|(i, c)| u32::from(c - b'0') * (10 - i as u32))
                .sum();
            let check = 11 - sum % 11;
            for last in 0..10u32 {
                let s = format!("{body}{last}");
                let expect = match check {
                    11 => last == 0,
                    10 => false,
                    c => c == last,
                };
                assert_eq!(nhs_number(&s), expect, "{s}");
            }
            saw_zero |= check == 11;
            saw_ten |= check == 10;
        }
        assert!(saw_zero && saw_ten);
    }

    #[test]
    fn sin() {
        // "046 454 286" is Service Canada's well-known (fictitious) example. It passes Luhn
        // but starts with 0, which the rule (first digit not 0 or 8) rejects.
        assert!(luhn("046 454 286"));
        assert!(!ca_sin("046 454 286"));
        assert!(ca_sin("130 692 544"));
        assert!(ca_sin("130692544"));
        assert!(ca_sin("130-692-544"));
        assert!(!ca_sin("130 692 545"));
        assert!(!ca_sin("130 692 54"));
        let body = "84645428";
        let s = format!("{body}{}", luhn_check_digit(body));
        assert!(luhn(&s));
        assert!(!ca_sin(&s));
    }

    #[test]
    fn ohip_numbers() {
        assert!(ohip("1234567897"));
        assert!(ohip("1234-567-897"));
        assert!(ohip("1234-567-897-AB"));
        assert!(ohip("1234 567 897 ab"));
        assert!(ohip("1234567897XY"));
        assert!(!ohip("1234567898"));
        assert!(!ohip("1234567897A"));
        assert!(!ohip("1234567897ABC"));
        assert!(!ohip("123456789"));
    }

    #[test]
    fn nino() {
        assert!(uk_nino("AB123456C"));
        assert!(uk_nino("AB 12 34 56 C"));
        assert!(uk_nino("ab123456d"));
        assert!(!uk_nino("QQ123456C"));
        assert!(!uk_nino("DA123456C"));
        assert!(!uk_nino("AO123456C"));
        assert!(!uk_nino("BG123456C"));
        assert!(!uk_nino("GB123456C"));
        assert!(!uk_nino("NK123456C"));
        assert!(!uk_nino("TN123456C"));
        assert!(!uk_nino("ZZ123456C"));
        assert!(!uk_nino("AB123456E"));
        assert!(!uk_nino("AB12345C"));
        assert!(!uk_nino("AB1234567C"));
    }

    /// HMRC UTR check digit, computed independently of [`uk_utr`]: 11 - (sum mod 11),
    /// with 10 -> 1 and 11 -> 2 (equivalently, the table 2,1,9,...,1 by remainder).
    fn utr_check(body9: &str) -> u32 {
        let w = [6, 7, 8, 9, 10, 5, 4, 3, 2];
        let sum: u32 = body9
            .bytes()
            .zip(w)
            .map(|(c, w)| u32::from(c - b'0') * w)
            .sum();
        match 11 - sum % 11 {
            11 => 2,
            10 => 1,
            c => c,
        }
    }

    #[test]
    fn utr() {
        // Published example (python-stdnum): 1955839661.
        assert!(uk_utr("1955839661"));
        assert!(uk_utr("19558 39661"));
        assert!(uk_utr("1955839661K"));
        assert!(uk_utr("1955839661k"));
        assert!(!uk_utr("2955839661"));
        assert!(!uk_utr("1955839662"));
        assert!(!uk_utr("195583966"));
        for k in 0..3000u32 {
            let body = format!("{:09}", k * 3_333_331 % 1_000_000_000);
            let c = utr_check(&body);
            for first in 0..10 {
                let s = format!("{first}{body}");
                assert_eq!(uk_utr(&s), first == c, "{s}");
            }
        }
    }

    #[test]
    fn bic() {
        for ok in [
            "DEUTDEFF",
            "DEUTDEFF500",
            "NWBKGB2L",
            "BOFAUS3N",
            "CHASUS33XXX",
        ] {
            assert!(swift_bic(ok), "{ok}");
        }
        for bad in [
            "deutdeff",
            "DEUTDEF",
            "DEUTDEFF50",
            "DEU1DEFF",
            "DEUTQQFF", // not a country
            "DEUTDEfF",
            "DEUTDEFF-00",
        ] {
            assert!(!swift_bic(bad), "{bad}");
        }
    }

    #[test]
    fn countries_and_states() {
        let mut countries = 0;
        let mut states = 0;
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b]).unwrap();
                countries += usize::from(iso_country(&code));
                states += usize::from(us_state(&code));
            }
        }
        assert_eq!(countries, 250);
        assert_eq!(states, 56);
        for c in ["US", "GB", "DE", "XK", "SS", "BQ", "CW", "SX", "AX"] {
            assert!(iso_country(c), "{c}");
        }
        for c in ["us", "UK", "EU", "YU", "AN", "U", "USA", ""] {
            assert!(!iso_country(c), "{c}");
        }
        for c in ["CA", "NY", "DC", "PR", "GU", "VI", "AS", "MP", "WY"] {
            assert!(us_state(c), "{c}");
        }
        for c in ["ca", "XX", "FM", "MH", "PW", "UM", "CAL"] {
            assert!(!us_state(c), "{c}");
        }
    }

    #[test]
    fn aws() {
        assert!(aws_access_key("AKIAIOSFODNN7EXAMPLE"));
        assert!(aws_access_key("ASIAY34FZKBOKMUTVV7A"));
        assert!(!aws_access_key("AKIAIOSFODNN8EXAMPLE")); // 8 not base32
        assert!(!aws_access_key("AKIAIOSFODNN7EXAMPL"));
        assert!(!aws_access_key("ABCDIOSFODNN7EXAMPLE"));
        assert!(!aws_access_key("akiaIOSFODNN7EXAMPLE"));
    }

    #[test]
    fn ip_addresses() {
        for ok in ["0.0.0.0", "192.168.1.1", "255.255.255.255", "10.0.10.100"] {
            assert!(ipv4(ok), "{ok}");
        }
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1..3.4",
            "1.2.3.4.",
            "a.b.c.d",
            "1234.1.1.1",
            "",
        ] {
            assert!(!ipv4(bad), "{bad}");
        }
        for ok in [
            "::1",
            "::",
            "2001:db8::1",
            "fe80::1:2:3:4",
            "::ffff:192.0.2.1",
        ] {
            assert!(ipv6(ok), "{ok}");
        }
        for bad in ["1:2", "2001:db8:::1", "12:34:56", "hello", "1.2.3.4"] {
            assert!(!ipv6(bad), "{bad}");
        }
    }

    #[test]
    fn macs() {
        for ok in ["00:1A:2b:3C:4d:5E", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5e"] {
            assert!(mac(ok), "{ok}");
        }
        for bad in [
            "00:1A-2B:3C:4D:5E",
            "00:1A:2B:3C:4D",
            "00:1A:2B:3C:4D:5G",
            "001a.2b3c:4d5e",
            "001A2B3C4D5E",
            "00.1A.2B.3C.4D.5E",
        ] {
            assert!(!mac(bad), "{bad}");
        }
    }

    #[test]
    fn dea() {
        // 1+3+5 = 9; 2*(2+4+6) = 24; 33 -> 3
        assert!(dea_number("AB1234563"));
        assert!(dea_number("ab1234563"));
        assert!(dea_number("FJ1234563"));
        assert!(!dea_number("AB1234564"));
        assert!(!dea_number("NB1234563")); // N is not a registrant type
        assert!(!dea_number("A11234563"));
        assert!(!dea_number("AB123456"));
    }

    #[test]
    fn npis() {
        assert!(npi("1234567893"));
        assert!(npi("1245319599"));
        assert!(!npi("1234567894"));
        assert!(!npi("3234567893"));
        assert!(!npi("123456789"));
        // Cross-check with textbook Luhn on the prefixed string.
        for k in 0..1000u32 {
            let body = format!("1{:08}", k * 99_991 % 100_000_000);
            let check = luhn_check_digit(&format!("80840{body}"));
            assert!(npi(&format!("{body}{check}")));
            assert!(!npi(&format!("{body}{}", (check + 1) % 10)));
        }
    }

    #[test]
    fn imeis() {
        assert!(imei("490154203237518"));
        assert!(imei("49-015420-323751-8"));
        assert!(!imei("490154203237519"));
        assert!(!imei("49015420323751"));
    }

    #[test]
    fn mbi() {
        assert!(medicare_mbi("1EG4-TE5-MK73"));
        assert!(medicare_mbi("1EG4TE5MK73"));
        assert!(medicare_mbi("1eg4te5mk73"));
        assert!(!medicare_mbi("0EG4-TE5-MK73")); // first digit 0
        assert!(!medicare_mbi("1SG4-TE5-MK73")); // S excluded
        assert!(!medicare_mbi("11G4-TE5-MK73")); // pos 2 must be a letter
        assert!(!medicare_mbi("1EG4-TE5-MK7"));
        assert!(!medicare_mbi("1EG4-TE5-MK733"));
        assert!(!medicare_mbi("1EGA-TE5-MK73")); // pos 4 must be a digit
    }

    proptest! {
        #[test]
        fn luhn_detects_single_digit_change(
            body in proptest::collection::vec(0u8..10, 1..19),
            pos in any::<prop::sample::Index>(),
            delta in 1u8..10,
        ) {
            let body: String = body.iter().map(|d| char::from(b'0' + d)).collect();
            let valid = format!("{body}{}", luhn_check_digit(&body));
            prop_assert!(luhn(&valid));
            let i = pos.index(valid.len());
            prop_assert!(!luhn(&bump(&valid, i, delta)));
        }

        #[test]
        fn card_detects_single_digit_change(
            body in proptest::collection::vec(0u8..10, 14),
            pos in 1usize..16,
            delta in 1u8..10,
        ) {
            let body: String = std::iter::once('4')
                .chain(body.iter().map(|d| char::from(b'0' + d)))
                .collect();
            let valid = format!("{body}{}", luhn_check_digit(&body));
            prop_assert!(card_number(&valid));
            prop_assert!(!card_number(&bump(&valid, pos, delta)));
        }

        #[test]
        fn iban_detects_adjacent_transposition(
            bban in proptest::collection::vec(0u8..10, 18),
            pos in 0usize..19,
        ) {
            // Build a valid German IBAN: check = 98 - (BBAN || "DE00" as digits) mod 97.
            let bban: String = bban.iter().map(|d| char::from(b'0' + d)).collect();
            let rem = format!("{bban}131400")
                .bytes()
                .fold(0u32, |r, c| (r * 10 + u32::from(c - b'0')) % 97);
            let valid = format!("DE{:02}{bban}", 98 - rem);
            prop_assert!(iban(&valid));
            // Swap two adjacent digits among positions 2..22 (check digits and BBAN).
            let mut b = valid.into_bytes();
            let i = 2 + pos;
            prop_assume!(b[i] != b[i + 1]);
            b.swap(i, i + 1);
            let swapped = String::from_utf8(b).unwrap();
            prop_assert!(!iban(&swapped));
        }

        #[test]
        fn iban_detects_single_digit_change(
            bban in proptest::collection::vec(0u8..10, 18),
            pos in 2usize..22,
            delta in 1u8..10,
        ) {
            let bban: String = bban.iter().map(|d| char::from(b'0' + d)).collect();
            let rem = format!("{bban}131400")
                .bytes()
                .fold(0u32, |r, c| (r * 10 + u32::from(c - b'0')) % 97);
            let valid = format!("DE{:02}{bban}", 98 - rem);
            prop_assert!(iban(&valid));
            prop_assert!(!iban(&bump(&valid, pos, delta)));
        }

        #[test]
        fn nhs_detects_single_digit_change(
            body in proptest::collection::vec(0u8..10, 9),
            pos in 0usize..10,
            delta in 1u8..10,
        ) {
            let body: String = body.iter().map(|d| char::from(b'0' + d)).collect();
            let sum: u32 = body
                .bytes()
                .enumerate()
                .map(|(i, c)| u32::from(c - b'0') * (10 - i as u32))
                .sum();
            let check = match 11 - sum % 11 { 11 => 0, c => c };
            prop_assume!(check != 10);
            let valid = format!("{body}{check}");
            prop_assert!(nhs_number(&valid));
            prop_assert!(!nhs_number(&bump(&valid, pos, delta)));
        }

        #[test]
        fn validators_never_panic(s in "\\PC{0,40}") {
            let _ = (
                luhn(&s), card_number(&s), us_ssn(&s), us_itin(&s), iban(&s),
                aba_routing(&s), vin(&s), nhs_number(&s), ca_sin(&s), ohip(&s),
                uk_nino(&s), uk_utr(&s), swift_bic(&s), iso_country(&s), us_state(&s),
                aws_access_key(&s), ipv4(&s), ipv6(&s), mac(&s), dea_number(&s),
                npi(&s), imei(&s), medicare_mbi(&s),
            );
        }
    }
}
