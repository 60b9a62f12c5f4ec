//! The policy decision point: may this principal perform this action on this resource?
//!
//! Two layers, both must allow, and the answer is deny unless something permits:
//!
//! 1. **Mandatory rules** that no policy can override ([`Authorizer::decide`] checks them
//!    first, for every action): the resource's label must be within the deployment's
//!    `system_high`; the principal must be allowed to read the resource's label
//!    ([`scif_labels::may_read`]: no read up, SCI, ORCON, PROPIN, CUI, releasability);
//!    [`Handling::Itar`] resources only for US persons; [`Handling::Phi`] resources only for
//!    principals holding the [`PHI_ACCESS`] access.
//! 2. **Discretionary policies** in Cedar, validated against [`SCHEMA`] when they are loaded.
//!    [`DEFAULT_POLICIES`] is what a fresh install uses.
//!
//! Every answer is a [`Decision`]: the record the audit trail stores, naming the rule or the
//! policy ids that decided. Its `Display` and [`Decision::denial_message`] reveal neither labels
//! nor policy text.
//!
//! ```
//! use scif_authz::{Action, Authorizer, DecisionReason, MandatoryRule, Principal, Resource};
//! use scif_labels::Label;
//!
//! let authz = Authorizer::new(Label::parse_banner("TOP SECRET")?, scif_authz::DEFAULT_POLICIES)?;
//! let alice = Principal::person("alice", Label::parse_banner("SECRET")?, "USA", true);
//! let model = Resource::model("llama-s", Label::parse_banner("SECRET")?);
//! assert!(authz.decide(&alice, Action::InvokeModel, &model).allowed);
//!
//! let ts = Resource::model("llama-ts", Label::parse_banner("TOP SECRET")?);
//! let d = authz.decide(&alice, Action::InvokeModel, &ts);
//! assert_eq!(d.reason, DecisionReason::Mandatory(MandatoryRule::Level));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Invariant:** pure: no IO beyond parsing the policy text it is given, no clock, no global
//! state, no `unsafe`. **Boundary:** knows principals, actions, resources, labels and policies;
//! nothing of credentials, HTTP or storage. Identity verification happens before, the audit
//! trail after.

#![forbid(unsafe_code)]

mod action;
mod authorizer;
mod decision;
mod error;
mod mandatory;
mod policy;
mod principal;
mod resource;

pub use action::{Action, UnknownAction};
pub use authorizer::Authorizer;
pub use decision::{Attribute, Decision, DecisionReason, MandatoryRule};
pub use error::AuthzError;
pub use mandatory::PHI_ACCESS;
pub use policy::{DEFAULT_POLICIES, SCHEMA};
pub use principal::{Principal, PrincipalKind};
pub use resource::{Handling, Resource, ResourceKind};
