//! What is being done.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ResourceKind;

/// An action a principal asks to perform. The names ([`Action::as_str`]) are stable: they are
/// the Cedar action ids (`Scif::Action::"invoke_model"`) and what the audit trail stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    InvokeModel,
    ListModels,
    ReadModel,
    ManageModels,
    ManageKeys,
    ManagePrincipals,
    ManagePolicies,
    ReadAudit,
    ReadMetrics,
    /// Search a knowledge base and read what the search returns (documents, citations).
    Retrieve,
    /// Create and delete knowledge bases, data sources and documents; ingest.
    ManageKnowledgeBases,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 11] = [
        Action::InvokeModel,
        Action::ListModels,
        Action::ReadModel,
        Action::ManageModels,
        Action::ManageKeys,
        Action::ManagePrincipals,
        Action::ManagePolicies,
        Action::ReadAudit,
        Action::ReadMetrics,
        Action::Retrieve,
        Action::ManageKnowledgeBases,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::InvokeModel => "invoke_model",
            Action::ListModels => "list_models",
            Action::ReadModel => "read_model",
            Action::ManageModels => "manage_models",
            Action::ManageKeys => "manage_keys",
            Action::ManagePrincipals => "manage_principals",
            Action::ManagePolicies => "manage_policies",
            Action::ReadAudit => "read_audit",
            Action::ReadMetrics => "read_metrics",
            Action::Retrieve => "retrieve",
            Action::ManageKnowledgeBases => "manage_knowledge_bases",
        }
    }

    /// The kinds of resource this action applies to (as the Cedar schema says). Every action
    /// also applies to [`ResourceKind::System`], the deployment as a whole (for example
    /// importing a new model is `manage_models` on the system).
    pub fn applies_to(self, kind: ResourceKind) -> bool {
        kind == ResourceKind::System
            || kind
                == match self {
                    Action::InvokeModel
                    | Action::ListModels
                    | Action::ReadModel
                    | Action::ManageModels => ResourceKind::Model,
                    Action::ManageKeys => ResourceKind::Key,
                    Action::ManagePrincipals => ResourceKind::Principal,
                    Action::ManagePolicies => ResourceKind::Policy,
                    Action::ReadAudit => ResourceKind::AuditTrail,
                    // Operational telemetry belongs to the deployment as a whole.
                    Action::ReadMetrics => ResourceKind::System,
                    Action::Retrieve | Action::ManageKnowledgeBases => ResourceKind::KnowledgeBase,
                }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action name that is not one of [`Action::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Action, UnknownAction> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}
