//! # scif-audit: append-only, hash-chained, Ed25519-signed audit trail (NIST AU-9 / AU-10)
//!
//! * [`Trail`] is the writer: one background thread, group commit (all appends queued
//!   while the previous batch was being written share one `write(2)` and one
//!   `fdatasync`), size/age segment rotation, periodic signed checkpoints, and fail-closed
//!   health: after the first failed write or fsync every append fails.
//! * [`verify`] / [`verify_with`] is the offline verifier: it needs only the directory and,
//!   optionally, the trusted public key.
//! * [`read`] + [`Filter`] query records; [`ocsf`] maps a record to OCSF API Activity.
//!
//! ## On-disk layout
//!
//! `<dir>/segment-<seq of its first record, 20 digits zero-padded>.log`, JSON lines. Each
//! line is either a **record**
//!
//! ```text
//! {"event":{...},"hash":"<64 hex>","node":"n1","prev_hash":"<64 hex>","seq":1}
//! ```
//!
//! or a **checkpoint**
//!
//! ```text
//! {"checkpoint":{"hash":"<64 hex>","node":"n1","public_key_hex":"<64 hex>","seq":1000,"signature_b64":"...","time":"2026-11-29T13:00:00.000Z"}}
//! ```
//!
//! `seq` starts at 1 and is gapless across segments. The first record has
//! `prev_hash` = 64 ASCII zeros; every other record's `prev_hash` is the previous record's
//! `hash`, also across segment boundaries. A segment, once closed (by size or age
//! rotation, or by a clean shutdown), ends with a checkpoint and is never written again.
//! After a crash, `Trail::open` truncates a torn last line of the last segment (never
//! anything else), continues that segment and appends a `trail_recovered` event.
//!
//! ## Canonical encoding (what an independent verifier must reimplement)
//!
//! Every line is exactly `canonical(value)` followed by `\n`, where `canonical` is JSON
//! with:
//!
//! * no whitespace anywhere;
//! * object members sorted by key, comparing the keys' UTF-8 bytes; recursively;
//! * arrays in their order;
//! * strings: `"` then each character, with `"` → `\"`, `\` → `\\`, U+0008 → `\b`,
//!   U+000C → `\f`, LF → `\n`, CR → `\r`, TAB → `\t`, other characters below U+0020 →
//!   `\u00XX` (4 lowercase hex digits), and every other character (including `/`, DEL
//!   and all non-ASCII) as its raw UTF-8 bytes; then `"`;
//! * integers in plain decimal (no sign for non-negative, no leading zeros, no exponent);
//!   non-integer numbers (only possible inside `event.detail`) as `serde_json` prints an
//!   `f64` (shortest round-trip form) — callers should prefer strings or integers;
//! * `true`, `false`, `null`.
//!
//! Absent optional event fields are omitted (not `null`); `reasons` and `detail` are
//! always present. A verifier must not depend on the event schema, though: the rules below
//! work on whatever JSON object is on the line.
//!
//! **Record hash**: parse the line as a JSON object, remove its `hash` member, and compute
//! `SHA-256("scif audit record v1\0" || canonical(rest))` — 21 bytes of ASCII domain
//! separator including the trailing NUL — as 64 lowercase hex digits. It must equal
//! `hash`. In addition the line's bytes must equal `canonical(parsed line)`, so that no
//! byte of a record can change without detection (e.g. `\u001f` vs `\u001F`).
//!
//! Equivalently, and how this verifier does it for speed: the members of a record line in
//! canonical order are `event`, `hash`, `node`, `prev_hash`, `seq`, so the hashed body is
//! the line's bytes with `,"hash":"<64 hex>"` taken out. If the line's top level is exactly
//! that shape (read from the end of the line; the event is not parsed) and the SHA-256 of
//! those bytes is `hash`, the event's bytes are the canonical
//! bytes the writer hashed (the writer hashes nothing else); a forger who changes an event
//! and recomputes its hash breaks the next record's `prev_hash` or the next signed
//! checkpoint instead. Lines that fail this fast check are parsed in full, which names the
//! exact fault.
//!
//! **Checkpoint signature**: Ed25519 (RFC 8032, verified strictly) by the key whose 32
//! bytes are hex-encoded in `public_key_hex`, over
//! `"scif audit checkpoint v1\0" || seq as u64 big-endian (8 bytes) || hash as 32 raw
//! bytes || time as UTF-8`. `signature_b64` is standard padded base64 of the 64-byte
//! signature. A checkpoint must carry the `seq` and `hash` of the record immediately
//! before it (seq 0 and 64 zeros if none). The node name is covered through the record
//! hashes.
//!
//! ## Keys
//!
//! See [`load_or_create_signing_key`]: `<dir>/audit-signing.key` holds the 32-byte seed as
//! hex (mode 0600, created exclusively), `<dir>/audit-signing.pub` the public key as 64 hex
//! digits. Give auditors the `.pub` file.
//!
//! ## What verification proves
//!
//! Without a trusted key, the verifier proves internal consistency only: anyone can
//! rebuild a consistent chain. With the trusted public key, every checkpoint must be
//! signed by it and (by default) the last record must be covered by a checkpoint, so a
//! rebuilt, edited, reordered or truncated-then-extended trail is detected. Deleting whole
//! *trailing* segments, or truncating at a checkpoint, is only detectable against an
//! externally known last seq (compare `VerifyReport::last_seq` with what you expect, e.g.
//! a checkpoint forwarded to a SIEM).

//! ## Example
//!
//! ```
//! use scif_audit::{load_or_create_signing_key, read_public_key, verify, Event, Trail, TrailConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let key = load_or_create_signing_key(&dir.path().join("keys"))?;
//! let (trail, report) = Trail::open(TrailConfig::new(dir.path().join("audit"), "node-1"), key)?;
//! assert!(!report.recovered);
//! let seq = trail
//!     .append(Event {
//!         time: scif_audit::time::now_rfc3339(),
//!         action: "server_start".into(),
//!         decision: "info".into(),
//!         ..Event::default()
//!     })
//!     .wait()?; // or `.await` (the receipt is a runtime-agnostic Future)
//! assert_eq!(seq, 1);
//! trail.close()?;
//!
//! let pk = read_public_key(&dir.path().join("keys/audit-signing.pub"))?;
//! let checked = verify(&dir.path().join("audit"), None, Some(&pk)).map_err(|(b, _)| b)?;
//! assert_eq!(checked.events, 1);
//! # Ok(())
//! # }
//! ```

mod error;
mod key;
pub mod merkle;
mod proof;
mod query;
mod record;
mod segment;
pub mod time;
mod tree_store;
mod verify;
pub mod witness;
mod writer;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::AuditError;
pub use key::{
    load_or_create_signing_key, parse_public_key_hex, read_public_key, PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
};
pub use proof::{
    consistency, latest_tree_checkpoint, prove, root_at, ConsistencyProof, InclusionProof,
};
pub use query::{ocsf, ocsf_activity_id, read, record_hash, Filter};
pub use record::{
    build_checkpoint, build_checkpoint_with_tree, build_record, canonical_json, checkpoint_message,
    compute_hash, hash_body, record_body, verify_checkpoint_signature, verify_record_line,
    Checkpoint, CheckpointLine, Event, Record, Tlog, CHECKPOINT_DOMAIN, GENESIS_HASH,
    MAX_FIELD_BYTES, RECORD_DOMAIN,
};
pub use segment::{list_segments, parse_segment_file_name, segment_file_name};
pub use verify::{verify, verify_with, Break, VerifyOptions, VerifyReport};
pub use writer::{
    Durability, OpenReport, Receipt, Trail, TrailConfig, TrailStats, DEFERRED_SYNC, MAX_BATCH,
};
