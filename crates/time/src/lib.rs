//! Time and dates, UTC, without a date-time dependency: the one place scif formats, parses and
//! counts them (audit records, usage days and months, records' creation times, limits' day and
//! month windows). Pure: no IO but reading the clock in the `now_*` functions.

use std::time::{SystemTime, UNIX_EPOCH};

pub mod civil {
    //! Proleptic Gregorian calendar arithmetic on days since 1970-01-01, after Howard
    //! Hinnant's `days_from_civil` / `civil_from_days`.

    /// Days since 1970-01-01 of the date `y`-`m`-`d` (`m` in 1..=12, `d` in 1..=31).
    pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400; // [0, 399]
        let m = i64::from(m);
        let d = i64::from(d);
        let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
        let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
        era * 146_097 + doe - 719_468
    }

    /// The date (year, month 1..=12, day 1..=31) of day `z` since 1970-01-01.
    pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097; // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
        let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
        let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
        let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
                                                       // Both are in range by construction; the fallbacks are unreachable.
        let d = u32::try_from(d).unwrap_or(1);
        let m = u32::try_from(m).unwrap_or(1);
        (if m <= 2 { y + 1 } else { y }, m, d)
    }
}

use civil::{civil_from_days, days_from_civil};

/// Milliseconds since the Unix epoch of `t` (0 before it).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, as RFC 3339 UTC with milliseconds, e.g. `2026-11-29T13:19:32.123Z`.
pub fn now_rfc3339() -> String {
    format_epoch_ms(unix_ms(SystemTime::now()))
}

/// Now, as RFC 3339 UTC to the second, e.g. `2026-11-29T13:19:32Z` (records' creation times).
pub fn now_rfc3339_secs() -> String {
    format_epoch_secs(unix_ms(SystemTime::now()).div_euclid(1000))
}

fn split(secs: i64) -> (i64, u32, u32, i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, sod)
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_epoch_ms(ms: i64) -> String {
    let (y, m, d, sod) = split(ms.div_euclid(1000));
    let milli = ms.rem_euclid(1000);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Seconds since the epoch as RFC 3339 UTC to the second.
pub fn format_epoch_secs(secs: i64) -> String {
    let (y, m, d, sod) = split(secs);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into milliseconds since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let mut f3: String = frac.chars().take(3).collect();
        while f3.len() < 3 {
            f3.push('0');
        }
        millis = f3.parse().ok()?;
    }
    let offset_min = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let v = oh * 60 + om;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// Unix seconds of an RFC 3339 time (0 when it does not parse or is before the epoch).
pub fn rfc3339_to_unix(s: &str) -> u64 {
    parse_rfc3339_ms(s)
        .and_then(|ms| u64::try_from(ms.div_euclid(1000)).ok())
        .unwrap_or(0)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01.
pub fn utc_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Day number since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn days_of(date: &str) -> Option<i64> {
    let mut it = date.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Unix milliseconds and the UTC date of `t`.
pub fn stamp(t: SystemTime) -> (i64, String) {
    let ms = unix_ms(t);
    (ms, utc_date(ms.div_euclid(86_400_000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for ms in [0i64, 1_764_422_372_123, 951_782_400_000, 4_102_444_799_999] {
            let s = format_epoch_ms(ms);
            assert_eq!(parse_rfc3339_ms(&s), Some(ms), "{s}");
        }
        assert_eq!(format_epoch_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_epoch_secs(86_400), "1970-01-02T00:00:00Z");
        assert_eq!(rfc3339_to_unix("1970-01-02T00:00:00Z"), 86_400);
        assert_eq!(rfc3339_to_unix("garbage"), 0);
        assert_eq!(
            parse_rfc3339_ms("2026-01-01T01:00:00+01:00"),
            parse_rfc3339_ms("2026-01-01T00:00:00Z")
        );
        assert_eq!(parse_rfc3339_ms("garbage"), None);
    }

    #[test]
    fn calendar_days_round_trip() {
        for z in [-719_468i64, -1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil::civil_from_days(z);
            assert_eq!(civil::days_from_civil(y, m, d), z);
        }
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(civil::civil_from_days(20_818), (2026, 12, 31));
        assert_eq!(civil::civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_of("2000-03-01"), Some(11_017));
        assert_eq!(days_of("2000-13-01"), None);
    }
}
