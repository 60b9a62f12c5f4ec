//! RFC 3339 times of audit records: scif's one time module, `scif-time`.

pub use scif_time::{format_epoch_ms, now_rfc3339, parse_rfc3339_ms};
