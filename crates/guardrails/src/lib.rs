//! Guardrails: detectors for sensitive information (`scan`), classification markings
//! (`markings`), words and patterns (`words`, site regexes in `policy`) and prompt attacks
//! (`attack`); guardrail objects that say what to do about each (`policy`); and a streaming
//! masker that never lets an entity reach a client partly unmasked (`stream`). Every detector
//! reads the text through `normalize`, which folds formatting, Unicode and structure away and
//! maps what is found back to the original bytes.

pub mod attack;
pub mod checks;
mod cues;
mod decode;
pub mod entity;
mod fnv;
pub mod markings;
pub mod names;
pub mod normalize;
pub mod policy;
pub mod scan;
pub mod stream;
#[doc(hidden)]
pub mod techniques;
pub mod words;

pub use entity::EntityType;
pub use policy::{Action, Detection, Guardrail, GuardrailSpec, Kind, Outcome, Policy, Source};
