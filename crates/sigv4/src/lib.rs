//! Server-side AWS Signature Version 4 verification and AWS event-stream framing.
//!
//! Pure functions only: no IO and no clock (the current time is passed in).

pub mod eventstream;
pub mod sigv4;

pub use sigv4::{
    looks_like_sigv4, parse_authorization, verify, ParsedAuth, SigV4Error, SignedRequest, Verified,
};
