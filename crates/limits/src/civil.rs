//! Proleptic Gregorian calendar arithmetic on days since 1970-01-01 (UTC), after Howard
//! Hinnant's `days_from_civil` / `civil_from_days`. Enough for UTC day and month boundaries
//! without a date-time dependency.

/// Days since 1970-01-01 of the date `y`-`m`-`d` (`m` in 1..=12, `d` in 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
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
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
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

/// The first day (days since 1970-01-01) of the month after the one holding day `z`, and
/// the index (year * 12 + month - 1) of the month holding `z`.
pub(crate) fn month_of(z: i64) -> (i64, i64) {
    let (y, m, _) = civil_from_days(z);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (y * 12 + i64::from(m) - 1, days_from_civil(ny, nm, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(2024, 3, 1), 19_783);
        assert_eq!(days_from_civil(2023, 12, 31), 19_722);
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(19_722), (2023, 12, 31));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 1900 is not a leap year, 2000 is.
        assert_eq!(
            days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28),
            1
        );
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
    }

    #[test]
    fn round_trip() {
        let mut prev = civil_from_days(-800_001);
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            // Consecutive days are consecutive dates.
            if d == 1 {
                assert!(m == prev.1 % 12 + 1);
            } else {
                assert_eq!((y, m, d - 1), prev);
            }
            prev = (y, m, d);
        }
    }

    #[test]
    fn month_boundaries() {
        // December -> January.
        let (idx, next) = month_of(days_from_civil(2023, 12, 15));
        assert_eq!(idx, 2023 * 12 + 11);
        assert_eq!(next, days_from_civil(2024, 1, 1));
        // Leap February.
        let (idx, next) = month_of(days_from_civil(2024, 2, 29));
        assert_eq!(idx, 2024 * 12 + 1);
        assert_eq!(next, days_from_civil(2024, 3, 1));
        assert_eq!(
            month_of(days_from_civil(2024, 1, 31)).1,
            days_from_civil(2024, 2, 1)
        );
    }
}
