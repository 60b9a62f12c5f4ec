//! What is being acted on.

use std::collections::BTreeSet;
use std::fmt;

use scif_labels::Label;
use serde::{Deserialize, Serialize};

/// The kind of a resource. Each maps to one Cedar entity type (see [`crate::SCHEMA`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Model,
    Key,
    /// A principal's record, as the object of `manage_principals` (Cedar type `Scif::Account`).
    Principal,
    Policy,
    AuditTrail,
    /// A knowledge base's own record (Cedar type `Scif::KnowledgeBase`), labelled with its
    /// metadata label; its documents and chunks carry their own labels.
    KnowledgeBase,
    /// The deployment as a whole.
    System,
}

impl ResourceKind {
    /// Every kind.
    pub const ALL: [ResourceKind; 7] = [
        ResourceKind::Model,
        ResourceKind::Key,
        ResourceKind::Principal,
        ResourceKind::Policy,
        ResourceKind::AuditTrail,
        ResourceKind::KnowledgeBase,
        ResourceKind::System,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Model => "model",
            ResourceKind::Key => "key",
            ResourceKind::Principal => "principal",
            ResourceKind::Policy => "policy",
            ResourceKind::AuditTrail => "audit_trail",
            ResourceKind::KnowledgeBase => "knowledge_base",
            ResourceKind::System => "system",
        }
    }

    /// The Cedar entity type name, without the `Scif::` namespace.
    pub(crate) fn cedar_type(self) -> &'static str {
        match self {
            ResourceKind::Model => "Model",
            ResourceKind::Key => "Key",
            ResourceKind::Principal => "Account",
            ResourceKind::Policy => "Policy",
            ResourceKind::AuditTrail => "AuditTrail",
            ResourceKind::KnowledgeBase => "KnowledgeBase",
            ResourceKind::System => "System",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A handling caveat beside the classification label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// Export-controlled (ITAR): US persons only.
    Itar,
    /// Protected health information (HIPAA): principals with the `PHI` access only.
    Phi,
}

/// A resource: its kind, its id, its security label and its handling caveats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub kind: ResourceKind,
    pub id: String,
    pub label: Label,
    pub handling: BTreeSet<Handling>,
}

impl Resource {
    /// A resource with no handling caveats.
    pub fn new(kind: ResourceKind, id: &str, label: Label) -> Resource {
        Resource {
            kind,
            id: id.to_owned(),
            label,
            handling: BTreeSet::new(),
        }
    }

    /// A model with no handling caveats.
    pub fn model(id: &str, label: Label) -> Resource {
        Resource::new(ResourceKind::Model, id, label)
    }

    /// The deployment as a whole, labelled UNCLASSIFIED.
    pub fn system() -> Resource {
        Resource::new(ResourceKind::System, "scif", Label::unclassified())
    }

    /// Adds a handling caveat.
    pub fn with_handling(mut self, handling: Handling) -> Resource {
        self.handling.insert(handling);
        self
    }
}
