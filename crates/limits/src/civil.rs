//! Proleptic Gregorian calendar arithmetic on days since 1970-01-01 (UTC), after Howard
//! Hinnant's `days_from_civil` / `civil_from_days`. Enough for UTC day and month boundaries
//! without a date-time dependency.

pub use scif_time::civil::{civil_from_days, days_from_civil};

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
