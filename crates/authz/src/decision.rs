//! The answer, shaped as the record the audit trail stores.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Action, ResourceKind};

/// A mandatory rule (layer 1) that refused a request. Names the rule, never a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MandatoryRule {
    /// The resource's label is not dominated by the deployment's system high.
    AboveSystemHigh,
    /// The resource's level is above the clearance.
    Level,
    /// FOUO and an UNCLASSIFIED clearance.
    Fouo,
    /// An SCI system or compartment the clearance lacks.
    Compartment,
    /// ORCON and a clearance without it.
    Orcon,
    /// PROPIN and a clearance without it.
    Propin,
    /// CUI and a clearance without a CUI part.
    Cui,
    /// A CUI category the clearance lacks.
    CuiCategory,
    /// A CUI limited dissemination control the principal does not satisfy.
    LimitedDissemination,
    /// NOFORN (or classified without a release marking) and not a US person.
    NoForn,
    /// REL TO that does not list the principal's country or groups.
    RelTo,
    /// A label rule this crate does not yet name.
    Label,
    /// ITAR-marked and not a US person.
    Itar,
    /// PHI-marked and the principal lacks the `PHI` access.
    Phi,
}

impl MandatoryRule {
    pub(crate) fn from_denial(denial: scif_labels::Denial) -> MandatoryRule {
        use scif_labels::Denial;
        match denial {
            Denial::Level => MandatoryRule::Level,
            Denial::Fouo => MandatoryRule::Fouo,
            Denial::Compartment => MandatoryRule::Compartment,
            Denial::Orcon => MandatoryRule::Orcon,
            Denial::Propin => MandatoryRule::Propin,
            Denial::Cui => MandatoryRule::Cui,
            Denial::CuiCategory => MandatoryRule::CuiCategory,
            Denial::LimitedDissemination => MandatoryRule::LimitedDissemination,
            Denial::NoForn => MandatoryRule::NoForn,
            Denial::RelTo => MandatoryRule::RelTo,
            _ => MandatoryRule::Label,
        }
    }
}

impl fmt::Display for MandatoryRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MandatoryRule::AboveSystemHigh => "resource above system high",
            MandatoryRule::Level => "classification level exceeds clearance",
            MandatoryRule::Fouo => "FOUO needs more than an UNCLASSIFIED clearance",
            MandatoryRule::Compartment => "SCI compartment not held",
            MandatoryRule::Orcon => "ORCON not authorized",
            MandatoryRule::Propin => "PROPIN not authorized",
            MandatoryRule::Cui => "CUI not authorized",
            MandatoryRule::CuiCategory => "CUI category not held",
            MandatoryRule::LimitedDissemination => {
                "CUI limited dissemination control not satisfied"
            }
            MandatoryRule::NoForn => "not releasable to foreign nationals",
            MandatoryRule::RelTo => "not releasable to the principal's country or groups",
            MandatoryRule::Label => "label rule not satisfied",
            MandatoryRule::Itar => "ITAR: US persons only",
            MandatoryRule::Phi => "PHI access not held",
        })
    }
}

/// Why a decision came out the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    /// Both layers allow: the mandatory rules pass and a policy permits (none forbids).
    Permitted,
    /// A mandatory rule refused; no policy was consulted.
    Mandatory(MandatoryRule),
    /// The action does not apply to this kind of resource (see [`Action::applies_to`]).
    NotApplicable,
    /// No policy permits (deny by default).
    NoPolicyPermits,
    /// A `forbid` policy applies.
    ForbiddenByPolicy,
    /// A policy failed to evaluate and no `forbid` applied: refused (fail closed), since the
    /// failing policy may have been a `forbid`, or the only `permit` meant to apply.
    PolicyError,
    /// The credential used (an API key with scopes) does not cover the action, whatever the
    /// principal itself may do.
    OutOfScope,
    /// The change would give a principal or a credential an attribute, or a permission, that
    /// the actor does not hold itself.
    NotHeld(Attribute),
}

/// What an actor lacked to grant something (see [`DecisionReason::NotHeld`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// A clearance (level, compartments, controls) the actor's does not dominate.
    Clearance,
    /// US-person status.
    UsPerson,
    /// A nationality or releasability group the actor is not admitted under.
    Releasability,
    /// An access (PHI or another need-to-know access).
    Access,
    /// A permission some policy gives the target and not the actor (or not the actor's key).
    Permission,
    /// A scope beyond the actor's own key's scopes.
    Scope,
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Attribute::Clearance => "a clearance",
            Attribute::UsPerson => "US-person status",
            Attribute::Releasability => "a nationality or releasability group",
            Attribute::Access => "an access",
            Attribute::Permission => "a permission",
            Attribute::Scope => "a scope",
        })
    }
}

impl fmt::Display for DecisionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionReason::Permitted => f.write_str("permitted by policy"),
            DecisionReason::Mandatory(rule) => write!(f, "mandatory rule: {rule}"),
            DecisionReason::NotApplicable => f.write_str("action does not apply to resource"),
            DecisionReason::NoPolicyPermits => f.write_str("no policy permits"),
            DecisionReason::ForbiddenByPolicy => f.write_str("forbidden by policy"),
            DecisionReason::OutOfScope => f.write_str("credential scope does not cover the action"),
            DecisionReason::PolicyError => f.write_str("policy evaluation error"),
            DecisionReason::NotHeld(a) => write!(f, "{a} the actor does not hold"),
        }
    }
}

/// One authorization decision: what was asked, the answer, and what decided it. Serializes as
/// the record the audit trail stores. It holds no label and no policy text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub action: Action,
    pub principal_id: String,
    pub resource_kind: ResourceKind,
    pub resource_id: String,
    pub reason: DecisionReason,
    /// The Cedar policy ids that determined the result: the permits that allowed, the forbids
    /// that denied, or the policies that failed to evaluate. Empty for mandatory denials and for
    /// deny by default.
    pub policy_ids: Vec<String>,
}

impl Decision {
    /// A refusal decided outside the authorizer (a credential's scopes, a mandatory rule
    /// checked alone, an attribute the actor does not hold).
    pub fn deny(
        principal_id: &str,
        action: Action,
        resource_kind: ResourceKind,
        resource_id: &str,
        reason: DecisionReason,
    ) -> Decision {
        Decision {
            allowed: false,
            action,
            principal_id: principal_id.to_owned(),
            resource_kind,
            resource_id: resource_id.to_owned(),
            reason,
            policy_ids: Vec::new(),
        }
    }

    /// The message a caller may be shown for a denial: the action and the kind of resource,
    /// never the rule, a label or a policy.
    pub fn denial_message(&self) -> String {
        format!(
            "{} on {} is not authorized",
            self.action, self.resource_kind
        )
    }
}

/// What a caller may see: allowed or not, the action and the resource kind. The reason and the
/// policy ids are for the audit trail only.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allowed {
            write!(f, "{} on {} is authorized", self.action, self.resource_kind)
        } else {
            f.write_str(&self.denial_message())
        }
    }
}
