//! Output guardrails on a streamed answer.
//!
//! Text is released as soon as nothing appended later could change what the guardrail finds
//! in it: the detectors report the offset from which an entity could still begin
//! ([`crate::Policy::detect`]'s hold), so a token of prose goes out at once while a run of
//! digits waits until it is complete. No entity ever leaves partly unmasked across a chunk
//! boundary, and the concatenated output equals what evaluating the whole text gives.
//!
//! Each step rescans from a restart point a fixed distance before the released offset (at a
//! whitespace boundary), so the cost per chunk stays bounded by the chunk and that margin, not
//! by the length of the answer so far.

use std::sync::Arc;

use crate::policy::{apply_masks, Action, Ceiling, Detection, Policy, Source};

/// How far before the released offset a rescan starts: more than any detector looks back
/// (a context keyword's window, a state code before a ZIP code).
pub const RESTART_MARGIN: usize = 512;

/// How many table rows a rescan backs up through to find the table's header.
pub const MAX_TABLE_ROWS: usize = 512;

/// Whether a marked label may appear in the answer (the spillage ceiling).
pub type OwnedCeiling = Arc<dyn Fn(&scif_labels::Label) -> bool + Send + Sync>;

/// What a step lets through.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Text to send now (possibly empty).
    Emit(String),
    /// The answer is blocked: send nothing more from the model; end the stream with the
    /// blocked message and the content-filter reason.
    Blocked { message: String },
}

/// Guards one streamed answer.
pub struct StreamGuard {
    policy: Arc<Policy>,
    ceiling: Option<OwnedCeiling>,
    raw: String,
    released: usize,
    detections: Vec<Detection>,
    blocked: bool,
}

impl StreamGuard {
    pub fn new(policy: Arc<Policy>, ceiling: Option<OwnedCeiling>) -> StreamGuard {
        StreamGuard {
            policy,
            ceiling,
            raw: String::new(),
            released: 0,
            detections: Vec::new(),
            blocked: false,
        }
    }

    /// Takes the next piece of the answer.
    pub fn push(&mut self, delta: &str) -> Step {
        if self.blocked {
            return Step::Emit(String::new());
        }
        self.raw.push_str(delta);
        self.advance(false)
    }

    /// The answer ended: release the rest.
    pub fn finish(&mut self) -> Step {
        if self.blocked {
            return Step::Emit(String::new());
        }
        self.advance(true)
    }

    /// Everything found in what was released (and in what blocked the answer).
    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }

    /// The whole answer as the model wrote it.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    fn restart(&self) -> usize {
        let b = self.raw.as_bytes();
        if self.released <= RESTART_MARGIN {
            return 0;
        }
        // Back to the start of the line, and further up through table rows, so that a
        // table's header (which gives its columns their context) is always rescanned.
        let line_start = |at: usize| {
            b[..at]
                .iter()
                .rposition(|c| *c == b'\n')
                .map_or(0, |p| p + 1)
        };
        let mut at = line_start(self.released - RESTART_MARGIN);
        for _ in 0..MAX_TABLE_ROWS {
            if at == 0 {
                break;
            }
            let above = line_start(at - 1);
            let line = &b[above..at - 1];
            if !(line.contains(&b'|') || line.contains(&b',')) {
                break;
            }
            at = above;
        }
        at
    }

    fn advance(&mut self, last: bool) -> Step {
        let base = self.restart();
        let window = &self.raw[base..];
        let ceiling: Option<Ceiling<'_>> = match &self.ceiling {
            Some(f) => Some(f.as_ref()),
            None => None,
        };
        let (found, hold) = self.policy.detect(window, Source::Output, ceiling);
        let mut settle = if last { self.raw.len() } else { base + hold };
        // Never cut through something found.
        for d in &found {
            let (s, e) = (base + d.start, base + d.end);
            if s < settle && e > settle {
                settle = s;
            }
        }
        if settle <= self.released {
            return Step::Emit(String::new());
        }
        let fresh: Vec<Detection> = found
            .into_iter()
            .map(|d| Detection {
                start: base + d.start,
                end: base + d.end,
                ..d
            })
            .filter(|d| d.start >= self.released && d.end <= settle)
            .collect();
        if fresh.iter().any(|d| d.action == Action::Block) {
            self.blocked = true;
            let message = self.policy.block_message(Source::Output, &fresh);
            self.detections.extend(fresh);
            return Step::Blocked { message };
        }
        let out = apply_masks(&self.raw, self.released, settle, &fresh);
        self.detections.extend(fresh);
        self.released = settle;
        Step::Emit(out)
    }
}
