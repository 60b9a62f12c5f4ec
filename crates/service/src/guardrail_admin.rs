//! Guardrail administration, the one home that both the admin API and the CLI call: create a
//! guardrail, add versions (versions are immutable), read them, attach a version to a model, a
//! principal or a group, detach it. Writing takes `manage_policies`; reading takes
//! `manage_policies` or `read_audit` (an auditor must be able to read what a past request was
//! checked against). The local operator (the CLI) is not authorized here: it has the data
//! directory; its changes are queued for the audit trail instead. A refusal carries its
//! decision, so that the trail records the rule.

use scif_access::admin::{record_local_change, Actor, AdminError};
use scif_access::Access;
use scif_authz::{Action, Resource, ResourceKind};
use scif_guardrails::GuardrailSpec;
use scif_store::{AttachmentRow, GuardrailRow, Store, StoreError};

use crate::guardrails::Guardrails;

/// What a guardrail is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Model,
    Principal,
    Group,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Model => "model",
            TargetKind::Principal => "principal",
            TargetKind::Group => "group",
        }
    }
}

/// The operations, over the store, the access layer (for callers) and the request path's
/// cache of attachments (cleared at once after a change made in this process).
pub struct GuardrailAdmin<'a> {
    pub store: &'a Store,
    /// `None` in the CLI: only the local operator acts there.
    pub access: Option<&'a Access>,
    pub cache: Option<&'a Guardrails>,
}

/// A guardrail id: what the caller chose, or the name in lowercase with `-` for anything else.
pub fn id_from_name(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while id.contains("--") {
        id = id.replace("--", "-");
    }
    id.trim_matches('-').chars().take(64).collect()
}

/// Whether `id` can name a guardrail.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn store_err(e: StoreError) -> AdminError {
    match e {
        StoreError::Exists(what) => AdminError::Conflict(what),
        other => AdminError::Store(other),
    }
}

impl GuardrailAdmin<'_> {
    fn authorize(&self, actor: Actor<'_>, write: bool) -> Result<(), AdminError> {
        let Actor::Caller(caller) = actor else {
            return Ok(());
        };
        let Some(access) = self.access else {
            return Err(AdminError::Forbidden(
                "guardrail administration needs the server's access layer".into(),
            ));
        };
        let resource = Resource::new(
            ResourceKind::System,
            "guardrails",
            access.system_high().clone(),
        );
        let actions: &[Action] = if write {
            &[Action::ManagePolicies]
        } else {
            &[Action::ManagePolicies, Action::ReadAudit]
        };
        let mut last = None;
        for a in actions {
            let d = access.authorize(caller, *a, &resource);
            if d.allowed {
                return Ok(());
            }
            last = Some(d);
        }
        Err(match last {
            Some(d) => AdminError::Denied(Box::new(d)),
            None => AdminError::Forbidden("not allowed".into()),
        })
    }

    /// A guardrail's label as stored: the canonical banner of `label`, which must be within
    /// the system high; without one, empty, which is read as the system high (fail closed:
    /// a word list may itself be sensitive, so using a guardrail below the system high takes
    /// an administrator's decision).
    fn label(&self, label: Option<&str>) -> Result<String, AdminError> {
        let Some(text) = label else {
            return Ok(String::new());
        };
        let label = scif_labels::Label::parse_banner(text)
            .map_err(|e| AdminError::Invalid(format!("label: {e}")))?;
        if let Some(access) = self.access {
            if !access.system_high().dominates(&label) {
                return Err(AdminError::Invalid(
                    "label is above this deployment's system high".into(),
                ));
            }
        }
        Ok(label.banner())
    }

    async fn changed(&self, actor: Actor<'_>, resource: String) -> Result<(), AdminError> {
        if let Some(cache) = self.cache {
            cache.attachments_changed();
        }
        if let Actor::LocalOperator = actor {
            record_local_change(self.store, Action::ManagePolicies.as_str(), resource).await?;
        }
        Ok(())
    }

    async fn write_version(
        &self,
        actor: Actor<'_>,
        id: &str,
        spec: &GuardrailSpec,
        label: Option<&str>,
        must_exist: bool,
    ) -> Result<u32, AdminError> {
        let label = self.label(label)?;
        let text = serde_json::to_string(spec)
            .map_err(|e| AdminError::Store(StoreError::Corrupt(e.to_string())))?;
        let v = self
            .store
            .add_guardrail_version(
                &scif_store::NewGuardrailVersion {
                    id,
                    name: &spec.name,
                    spec: &text,
                    created_at: &scif_time::now_rfc3339(),
                    created_by: &actor.name(),
                    label: &label,
                },
                must_exist,
            )
            .await
            .map_err(store_err)?
            .ok_or_else(|| AdminError::NotFound(format!("guardrail {id:?}")))?;
        self.changed(actor, format!("guardrail/{id}/{v}")).await?;
        tracing::info!(actor = %actor.name(), guardrail = %id, version = v, "guardrail version written");
        Ok(v)
    }

    /// Creates a guardrail (version 1), named `id` or after its name; returns the id and version.
    pub async fn create(
        &self,
        actor: Actor<'_>,
        id: Option<String>,
        spec: &GuardrailSpec,
        label: Option<&str>,
    ) -> Result<(String, u32), AdminError> {
        self.authorize(actor, true)?;
        let id = id.unwrap_or_else(|| id_from_name(&spec.name));
        if !valid_id(&id) {
            return Err(AdminError::Invalid(
                "id must be 1 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        let v = self.write_version(actor, &id, spec, label, false).await?;
        Ok((id, v))
    }

    /// Adds the next version of an existing guardrail.
    pub async fn add_version(
        &self,
        actor: Actor<'_>,
        id: &str,
        spec: &GuardrailSpec,
        label: Option<&str>,
    ) -> Result<u32, AdminError> {
        self.authorize(actor, true)?;
        self.write_version(actor, id, spec, label, true).await
    }

    /// The latest version of each guardrail.
    pub async fn list(&self, actor: Actor<'_>) -> Result<Vec<GuardrailRow>, AdminError> {
        self.authorize(actor, false)?;
        self.store.list_guardrails(None).await.map_err(store_err)
    }

    /// Every version of one guardrail (or one version).
    pub async fn versions(
        &self,
        actor: Actor<'_>,
        id: &str,
        version: Option<u32>,
    ) -> Result<Vec<GuardrailRow>, AdminError> {
        self.authorize(actor, false)?;
        let rows = match version {
            Some(v) => self
                .store
                .get_guardrail(id, Some(v))
                .await
                .map_err(store_err)?
                .into_iter()
                .collect(),
            None => self
                .store
                .list_guardrails(Some(id))
                .await
                .map_err(store_err)?,
        };
        if rows.is_empty() {
            return Err(AdminError::NotFound(match version {
                Some(v) => format!("guardrail {id:?} version {v}"),
                None => format!("guardrail {id:?}"),
            }));
        }
        Ok(rows)
    }

    /// Attaches a version to a model, a principal or a group.
    pub async fn attach(
        &self,
        actor: Actor<'_>,
        id: &str,
        version: u32,
        kind: TargetKind,
        target: &str,
    ) -> Result<(), AdminError> {
        self.authorize(actor, true)?;
        let row = AttachmentRow {
            guardrail_id: id.to_owned(),
            version,
            target_kind: kind.as_str().into(),
            target: target.to_owned(),
        };
        if !self.store.attach_guardrail(&row).await.map_err(store_err)? {
            return Err(AdminError::NotFound(format!(
                "guardrail {id:?} version {version}"
            )));
        }
        self.changed(
            actor,
            format!("guardrail/{id}/{version}/{}/{target}", kind.as_str()),
        )
        .await?;
        tracing::info!(actor = %actor.name(), guardrail = %id, version, kind = kind.as_str(), target, "guardrail attached");
        Ok(())
    }

    /// Detaches a guardrail from a model, a principal or a group.
    pub async fn detach(
        &self,
        actor: Actor<'_>,
        id: &str,
        kind: TargetKind,
        target: &str,
    ) -> Result<(), AdminError> {
        self.authorize(actor, true)?;
        if !self
            .store
            .detach_guardrail(id, kind.as_str(), target)
            .await
            .map_err(store_err)?
        {
            return Err(AdminError::NotFound(format!(
                "attachment of guardrail {id:?} to {} {target:?}",
                kind.as_str()
            )));
        }
        self.changed(actor, format!("guardrail/{id}/{}/{target}", kind.as_str()))
            .await?;
        tracing::info!(actor = %actor.name(), guardrail = %id, kind = kind.as_str(), target, "guardrail detached");
        Ok(())
    }

    /// Every attachment.
    pub async fn attachments(&self, actor: Actor<'_>) -> Result<Vec<AttachmentRow>, AdminError> {
        self.authorize(actor, false)?;
        self.store.guardrail_attachments().await.map_err(store_err)
    }
}
