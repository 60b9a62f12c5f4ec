//! Admin operations on principals, keys, policies and model labels, shared by the HTTP admin
//! API and the CLI so that both enforce the same rules.
//!
//! Over HTTP the actor is a verified [`Caller`] and every operation is authorized like any
//! other request (mandatory label rules, then policy). The CLI acts as the
//! [`Actor::LocalOperator`]: whoever can read the data directory can already read every key
//! hash and policy, so the CLI is the host administrator's break-glass and bootstrap path; it
//! skips the policy check but not the invariants (no clearance above system high, valid
//! markings, valid policies).
//!
//! A record the actor's clearance does not dominate is reported as not found, never as
//! forbidden, so an administrator does not learn of principals above their own clearance.

use std::collections::BTreeSet;

use scif_authz::{
    Action, Attribute, Authorizer, Decision, DecisionReason, Principal, Resource, ResourceKind,
};
use scif_identity::ApiKeySecret;
use scif_labels::Label;
use scif_store::{ApiKeyRow, PolicyVersion, PrincipalRecord, StoreError};
use serde::Deserialize;

use crate::{grant, principal_from_record, unix_now, Access, Caller};

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Caller(&'a Caller),
    /// The CLI, run by someone with access to the data directory.
    LocalOperator,
}

impl Actor<'_> {
    pub fn name(&self) -> String {
        match self {
            Actor::Caller(c) => c.principal.id.clone(),
            Actor::LocalOperator => "local operator".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    /// The decision behind a refusal, for the audit trail.
    #[error("{}", .0.denial_message())]
    Denied(Box<Decision>),
    /// Refused on mandatory (label) grounds: shown exactly like [`AdminError::NotFound`], but
    /// carrying the decision, so that the audit trail records the denial and its rule.
    #[error("{what} not found")]
    Hidden {
        what: String,
        decision: Box<Decision>,
    },
    /// Refused on mandatory grounds where the actor already knows the thing exists (creating
    /// or raising): a plain refusal with this message, carrying the decision.
    #[error("{message}")]
    Refused {
        message: String,
        decision: Box<Decision>,
    },
}

impl AdminError {
    /// Whether the caller is told "not found" (missing, or hidden by a label: alike).
    pub fn is_not_found(&self) -> bool {
        matches!(self, AdminError::NotFound(_) | AdminError::Hidden { .. })
    }

    /// The authorization decision behind a refusal, when there was one.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            AdminError::Denied(d)
            | AdminError::Hidden { decision: d, .. }
            | AdminError::Refused { decision: d, .. } => Some(d),
            _ => None,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Exists(what) | StoreError::ModelExists(what) => AdminError::Conflict(what),
            other => AdminError::Store(other),
        }
    }
}

/// A new principal, as the admin API and CLI accept it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    pub id: String,
    #[serde(default = "person")]
    pub kind: String,
    /// A banner marking; at most the system high.
    pub clearance: String,
    /// ISO 3166 trigraph.
    pub nationality: String,
    pub us_person: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub accesses: Vec<String>,
}

fn person() -> String {
    "person".to_owned()
}

/// Changes to a principal; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalPatch {
    pub kind: Option<String>,
    pub clearance: Option<String>,
    pub nationality: Option<String>,
    pub us_person: Option<bool>,
    pub groups: Option<Vec<String>>,
    pub accesses: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// A new API key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub principal: String,
    /// Action names the key is limited to; empty means every action the principal may take.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Seconds until the key expires; `None` means it does not.
    pub expires_in_secs: Option<u64>,
    #[serde(default)]
    pub description: String,
}

/// A created SigV4 credential: the record and the secret access key, shown this once.
pub struct CreatedSigV4 {
    pub record: scif_store::SigV4KeyRow,
    pub secret: zeroize::Zeroizing<String>,
}

/// A created key: the record and the secret, which is shown this once.
pub struct CreatedKey {
    pub record: ApiKeyRow,
    pub secret: ApiKeySecret,
}

/// The administrator created on a fresh install.
pub const BOOTSTRAP_ADMIN: &str = "admin";

impl Access {
    /// The local operator's changes are not seen by any request, so they are queued for the
    /// server to append to the audit trail (the running server is its only writer).
    async fn record_local(
        &self,
        actor: Actor<'_>,
        action: Action,
        resource: String,
    ) -> Result<(), AdminError> {
        let Actor::LocalOperator = actor else {
            return Ok(());
        };
        record_local_change(&self.store, action.as_str(), resource).await?;
        Ok(())
    }

    fn check(
        &self,
        actor: Actor<'_>,
        action: Action,
        resource: &Resource,
        what: &str,
    ) -> Result<(), AdminError> {
        let Actor::Caller(caller) = actor else {
            return Ok(());
        };
        let d = self.authorize(caller, action, resource);
        match d.reason {
            DecisionReason::Permitted => Ok(()),
            DecisionReason::Mandatory(_) => Err(AdminError::Hidden {
                what: what.to_owned(),
                decision: Box::new(d),
            }),
            _ => Err(AdminError::Denied(Box::new(d))),
        }
    }

    /// Refuses a change to the principal `target` (creating, changing, deleting it, or
    /// revoking its keys) when `target` holds anything the acting principal does not. The
    /// acting key's scopes limit what the key may do, not what its principal holds: a key
    /// scoped to `manage_principals` may create an ordinary user.
    fn holds(
        &self,
        actor: Actor<'_>,
        action: Action,
        kind: ResourceKind,
        target: &PrincipalRecord,
    ) -> Result<(), AdminError> {
        self.holds_within(actor, action, kind, target, None, false)
    }

    /// A principal record as it will be after a create or an update: its clearance (the
    /// account's label) must be one the actor may assign (a plain 403: the actor named it),
    /// and it may hold nothing the actor does not.
    fn may_assign(&self, actor: Actor<'_>, record: &PrincipalRecord) -> Result<(), AdminError> {
        self.check(
            actor,
            Action::ManagePrincipals,
            &Self::account(record),
            &format!("principal {:?}", record.id),
        )
        .map_err(not_found_is_forbidden)?;
        self.holds(
            actor,
            Action::ManagePrincipals,
            ResourceKind::Principal,
            record,
        )
    }

    /// Refuses minting a credential for `target` limited to `scopes` (`None`: every action)
    /// that would hand whoever holds it anything the acting *key* cannot do: its principal's
    /// attributes and permissions, within the key's own scopes. Scopes only shrink.
    fn holds_key(
        &self,
        actor: Actor<'_>,
        target: &PrincipalRecord,
        scopes: Option<&BTreeSet<String>>,
    ) -> Result<(), AdminError> {
        self.holds_within(
            actor,
            Action::ManageKeys,
            ResourceKind::Key,
            target,
            scopes,
            true,
        )
    }

    fn holds_within(
        &self,
        actor: Actor<'_>,
        action: Action,
        kind: ResourceKind,
        target: &PrincipalRecord,
        scopes: Option<&BTreeSet<String>>,
        within_actor_scopes: bool,
    ) -> Result<(), AdminError> {
        let Actor::Caller(caller) = actor else {
            return Ok(());
        };
        let short = match principal_from_record(target) {
            Ok(p) => grant::shortfall(
                &self.authorizer(),
                &grant::Holder {
                    principal: &caller.principal,
                    scopes: if within_actor_scopes {
                        caller.scopes.as_ref()
                    } else {
                        None
                    },
                },
                &p,
                scopes,
            )
            .err(),
            // An unreadable stored record is held by no one but the local operator.
            Err(_) => Some(Attribute::Clearance),
        };
        let Some(attribute) = short else {
            return Ok(());
        };
        let decision = Decision::deny(
            &caller.principal.id,
            action,
            kind,
            &target.id,
            DecisionReason::NotHeld(attribute),
        );
        tracing::info!(target: "scif::decision", principal = ?decision.principal_id, action = %action, resource_kind = %kind, resource = ?target.id, reason = ?decision.reason, "deny");
        Err(AdminError::Refused {
            message: format!("that would grant {attribute} you do not hold"),
            decision: Box::new(decision),
        })
    }

    /// Global policy is a system-high matter: its resource is labelled at the system high.
    fn policy_resource(&self) -> Resource {
        Resource::new(ResourceKind::Policy, "policies", self.system_high().clone())
    }

    /// An administrator at the system high: may manage the policies (which takes a clearance
    /// at the system high).
    fn administers(&self, authorizer: &Authorizer, p: &Principal) -> bool {
        authorizer
            .decide(p, Action::ManagePolicies, &self.policy_resource())
            .allowed
    }

    /// Whether, after `change` (a principal's id and its new record, or `None` when it is
    /// deleted), someone is still an administrator at the system high under `authorizer`:
    /// an enabled stored principal, or the actor itself (who may be an OIDC identity with no
    /// stored record).
    async fn administrator_remains(
        &self,
        authorizer: &Authorizer,
        actor: Actor<'_>,
        change: Option<(&str, Option<&PrincipalRecord>)>,
    ) -> Result<bool, AdminError> {
        if let Actor::Caller(c) = actor {
            let changed = change.is_some_and(|(id, _)| id == c.principal.id);
            if !changed && self.administers(authorizer, &c.principal) {
                return Ok(true);
            }
        }
        for stored in self.store.list_principals().await? {
            let record = match change {
                Some((id, new)) if id == stored.id => match new {
                    Some(r) => r.clone(),
                    None => continue,
                },
                _ => stored,
            };
            if record.disabled {
                continue;
            }
            if let Ok(p) = principal_from_record(&record) {
                if self.administers(authorizer, &p) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn clearance_within_system_high(&self, text: &str) -> Result<Label, AdminError> {
        let label = Label::parse_banner(text)
            .map_err(|e| AdminError::Invalid(format!("clearance: {e}")))?;
        if !self.system_high().dominates(&label) {
            return Err(AdminError::Invalid(
                "clearance is above this deployment's system high".into(),
            ));
        }
        Ok(label)
    }

    /// A principal's record as a resource, labelled with its clearance: managing an account
    /// or its keys needs a clearance that dominates it.
    fn account(record: &PrincipalRecord) -> Resource {
        Self::principal_resource(ResourceKind::Principal, record)
    }

    fn principal_resource(kind: ResourceKind, record: &PrincipalRecord) -> Resource {
        let label = Label::parse_banner(&record.clearance).unwrap_or_else(|_| {
            // An unreadable stored clearance is treated as the highest possible, so only
            // the local operator can repair it.
            Label::new(scif_labels::Level::TopSecret)
        });
        Resource::new(kind, &record.id, label)
    }

    async fn principal_record(
        &self,
        actor: Actor<'_>,
        action: Action,
        id: &str,
    ) -> Result<PrincipalRecord, AdminError> {
        let what = format!("principal {id:?}");
        let record = self
            .store
            .get_principal(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(what.clone()))?;
        // Keys are resources of their own kind, labelled like the account that holds them.
        let kind = match action {
            Action::ManageKeys => ResourceKind::Key,
            _ => ResourceKind::Principal,
        };
        self.check(
            actor,
            action,
            &Self::principal_resource(kind, &record),
            &what,
        )?;
        Ok(record)
    }

    pub async fn list_principals(
        &self,
        actor: Actor<'_>,
    ) -> Result<Vec<PrincipalRecord>, AdminError> {
        if let Actor::Caller(_) = actor {
            self.check(
                actor,
                Action::ManagePrincipals,
                &Resource::system(),
                "principals",
            )?;
        }
        let all = self.store.list_principals().await?;
        Ok(all
            .into_iter()
            .filter(|r| {
                self.check(actor, Action::ManagePrincipals, &Self::account(r), "")
                    .is_ok()
            })
            .collect())
    }

    pub async fn get_principal(
        &self,
        actor: Actor<'_>,
        id: &str,
    ) -> Result<PrincipalRecord, AdminError> {
        self.principal_record(actor, Action::ManagePrincipals, id)
            .await
    }

    pub async fn create_principal(
        &self,
        actor: Actor<'_>,
        new: NewPrincipal,
    ) -> Result<PrincipalRecord, AdminError> {
        let record = PrincipalRecord {
            id: new.id,
            kind: new.kind,
            clearance: new.clearance,
            nationality: new.nationality,
            us_person: new.us_person,
            groups: new.groups,
            accesses: new.accesses,
            disabled: false,
            created_at: scif_time::now_rfc3339_secs(),
        };
        let record = self.validated(record)?;
        self.may_assign(actor, &record)?;
        self.store.insert_principal(&record).await?;
        self.cache.clear();
        self.record_local(
            actor,
            Action::ManagePrincipals,
            format!("principal/{}", record.id),
        )
        .await?;
        Ok(record)
    }

    pub async fn update_principal(
        &self,
        actor: Actor<'_>,
        id: &str,
        patch: PrincipalPatch,
    ) -> Result<PrincipalRecord, AdminError> {
        let mut record = self
            .principal_record(actor, Action::ManagePrincipals, id)
            .await?;
        // Decided against the account as it is and as it will be.
        self.holds(
            actor,
            Action::ManagePrincipals,
            ResourceKind::Principal,
            &record,
        )?;
        let before = record.clone();
        if let Some(v) = patch.kind {
            record.kind = v;
        }
        if let Some(v) = patch.clearance {
            record.clearance = v;
        }
        if let Some(v) = patch.nationality {
            record.nationality = v;
        }
        if let Some(v) = patch.us_person {
            record.us_person = v;
        }
        if let Some(v) = patch.groups {
            record.groups = v;
        }
        if let Some(v) = patch.accesses {
            record.accesses = v;
        }
        if let Some(v) = patch.disabled {
            record.disabled = v;
        }
        let record = self.validated(record)?;
        self.may_assign(actor, &record)?;
        self.keep_an_administrator(actor, &before, Some(&record))
            .await?;
        let updated = self.store.update_principal(&record).await?;
        self.cache.clear();
        if !updated {
            return Err(AdminError::NotFound(format!("principal {id:?}")));
        }
        self.record_local(actor, Action::ManagePrincipals, format!("principal/{id}"))
            .await?;
        Ok(record)
    }

    /// Deletes a principal and every key it holds.
    pub async fn delete_principal(&self, actor: Actor<'_>, id: &str) -> Result<(), AdminError> {
        let record = self
            .principal_record(actor, Action::ManagePrincipals, id)
            .await?;
        self.holds(
            actor,
            Action::ManagePrincipals,
            ResourceKind::Principal,
            &record,
        )?;
        self.keep_an_administrator(actor, &record, None).await?;
        if let Actor::Caller(c) = actor {
            if c.principal.id == id {
                return Err(AdminError::Invalid(
                    "a principal cannot delete itself".into(),
                ));
            }
        }
        self.store.delete_principal(id).await?;
        self.cache.clear();
        self.record_local(actor, Action::ManagePrincipals, format!("principal/{id}"))
            .await?;
        Ok(())
    }

    /// Refuses a change to `before` (to `after`, or its deletion) that would leave no
    /// administrator at the system high. The local operator is not held to it: the CLI is how
    /// a locked-out site recovers.
    async fn keep_an_administrator(
        &self,
        actor: Actor<'_>,
        before: &PrincipalRecord,
        after: Option<&PrincipalRecord>,
    ) -> Result<(), AdminError> {
        let Actor::Caller(_) = actor else {
            return Ok(());
        };
        let authorizer = self.authorizer();
        let was = !before.disabled
            && principal_from_record(before).is_ok_and(|p| self.administers(&authorizer, &p));
        if was
            && !self
                .administrator_remains(&authorizer, actor, Some((&before.id, after)))
                .await?
        {
            return Err(AdminError::Invalid(
                "that would leave no administrator at the system high".into(),
            ));
        }
        Ok(())
    }

    /// Checks every field and returns the record with its clearance in canonical form.
    fn validated(&self, mut r: PrincipalRecord) -> Result<PrincipalRecord, AdminError> {
        if !valid_id(&r.id) {
            return Err(AdminError::Invalid(
                "id: 1 to 128 characters from letters, digits and . _ @ -".into(),
            ));
        }
        if !matches!(r.kind.as_str(), "person" | "service") {
            return Err(AdminError::Invalid(
                "kind: expected \"person\" or \"service\"".into(),
            ));
        }
        r.clearance = self.clearance_within_system_high(&r.clearance)?.banner();
        let n = &r.nationality;
        if !(n.len() == 3 && n.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(AdminError::Invalid(
                "nationality: an ISO 3166 trigraph such as USA or GBR".into(),
            ));
        }
        for (field, list) in [("groups", &mut r.groups), ("accesses", &mut r.accesses)] {
            if let Some(bad) = list.iter().find(|g| !valid_id(g)) {
                return Err(AdminError::Invalid(format!(
                    "{field}: {bad:?} is not a valid name"
                )));
            }
            let unique: BTreeSet<String> = list.drain(..).collect();
            list.extend(unique);
        }
        Ok(r)
    }

    /// Creates a key for `new.principal`; the secret is in the result and nowhere else.
    pub async fn create_key(
        &self,
        actor: Actor<'_>,
        new: NewKey,
    ) -> Result<CreatedKey, AdminError> {
        let owner = self
            .principal_record(actor, Action::ManageKeys, &new.principal)
            .await?;
        let scopes = parse_scopes(&new.scopes)?;
        let scopes = self.key_scopes(actor, &owner, scopes)?;
        if new.description.len() > 256 {
            return Err(AdminError::Invalid("description: at most 256 bytes".into()));
        }
        let now = unix_now();
        let expires_at = expiry(now, new.expires_in_secs)?;
        let generated = self.keys.generate();
        let record = ApiKeyRow {
            id: generated.id.to_string(),
            principal_id: owner.id,
            hash: generated.hash.as_bytes().to_vec(),
            scopes: scopes.into_iter().collect(),
            description: new.description,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store.insert_api_key(&record).await?;
        self.cache.clear();
        self.record_local(actor, Action::ManageKeys, format!("key/{}", record.id))
            .await?;
        Ok(CreatedKey {
            record,
            secret: generated.secret,
        })
    }

    /// A new credential's scopes: those asked for (or, when none are, the actor's own), which
    /// must be within the actor's; and the owner must hold nothing, within them, that the
    /// actor does not (minting a credential hands its owner's powers to whoever holds it).
    fn key_scopes(
        &self,
        actor: Actor<'_>,
        owner: &PrincipalRecord,
        mut scopes: BTreeSet<String>,
    ) -> Result<BTreeSet<String>, AdminError> {
        if scopes.is_empty() {
            match actor {
                Actor::Caller(Caller {
                    scopes: Some(mine), ..
                }) => scopes.clone_from(mine),
                _ => {
                    scopes.insert("*".to_owned());
                }
            }
        }
        let limit = (!scopes.contains("*")).then_some(&scopes);
        self.holds_key(actor, owner, limit)?;
        Ok(scopes)
    }

    /// Creates a SigV4 credential (access key id and secret access key) for AWS SDK clients,
    /// scoped like an API key.
    pub async fn create_sigv4_key(
        &self,
        actor: Actor<'_>,
        new: NewKey,
    ) -> Result<CreatedSigV4, AdminError> {
        let Some(vault) = &self.vault else {
            return Err(AdminError::Invalid(
                "SigV4 is not enabled on this deployment".into(),
            ));
        };
        let owner = self
            .principal_record(actor, Action::ManageKeys, &new.principal)
            .await?;
        let scopes = self.key_scopes(actor, &owner, parse_scopes(&new.scopes)?)?;
        let now = unix_now();
        let expires_at = expiry(now, new.expires_in_secs)?;
        let (id, secret) = crate::sigv4::generate();
        let (nonce, ciphertext) = vault
            .seal(&crate::sigv4::aad(&id, &owner.id), &secret)
            .map_err(AdminError::Invalid)?;
        let record = scif_store::SigV4KeyRow {
            access_key_id: id,
            principal_id: owner.id,
            nonce,
            ciphertext,
            description: new.description,
            created_at: now,
            expires_at,
            revoked_at: None,
            scopes: scopes.into_iter().collect(),
        };
        self.store.insert_sigv4_key(&record).await?;
        self.record_local(
            actor,
            Action::ManageKeys,
            format!("sigv4_key/{}", record.access_key_id),
        )
        .await?;
        Ok(CreatedSigV4 { record, secret })
    }

    /// Checks that `actor` may manage the keys of `principal_id`; a key whose owner is above
    /// the actor's clearance is reported as not found, like a missing key (`what`).
    async fn key_owner(
        &self,
        actor: Actor<'_>,
        principal_id: &str,
        what: &str,
    ) -> Result<PrincipalRecord, AdminError> {
        self.principal_record(actor, Action::ManageKeys, principal_id)
            .await
            .map_err(|e| match e {
                AdminError::NotFound(_) => AdminError::NotFound(what.to_owned()),
                AdminError::Hidden { decision, .. } => AdminError::Hidden {
                    what: what.to_owned(),
                    decision,
                },
                other => other,
            })
    }

    /// Revokes a SigV4 credential by access key id.
    pub async fn revoke_sigv4_key(&self, actor: Actor<'_>, id: &str) -> Result<(), AdminError> {
        let what = format!("SigV4 key {id:?}");
        let key = self
            .store
            .get_sigv4_key(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(what.clone()))?;
        let owner = self.key_owner(actor, &key.principal_id, &what).await?;
        self.holds(actor, Action::ManageKeys, ResourceKind::Key, &owner)?;
        self.store.revoke_sigv4_key(id, unix_now()).await?;
        self.cache.clear();
        self.record_local(actor, Action::ManageKeys, format!("sigv4_key/{id}"))
            .await?;
        Ok(())
    }

    /// Keys (never their secrets), of one principal or of every principal the actor manages.
    pub async fn list_keys(
        &self,
        actor: Actor<'_>,
        principal: Option<&str>,
    ) -> Result<Vec<ApiKeyRow>, AdminError> {
        if let Some(p) = principal {
            self.principal_record(actor, Action::ManageKeys, p).await?;
        } else if let Actor::Caller(_) = actor {
            self.check(actor, Action::ManageKeys, &Resource::system(), "keys")?;
        }
        let keys = self.store.list_api_keys(principal).await?;
        // One check per owner, not per key.
        let mut allowed: std::collections::BTreeMap<String, bool> = Default::default();
        let mut visible = Vec::with_capacity(keys.len());
        for k in keys {
            let ok = match allowed.get(&k.principal_id) {
                Some(ok) => *ok,
                None => {
                    let ok = self
                        .principal_record(actor, Action::ManageKeys, &k.principal_id)
                        .await
                        .is_ok();
                    allowed.insert(k.principal_id.clone(), ok);
                    ok
                }
            };
            if ok {
                visible.push(k);
            }
        }
        Ok(visible)
    }

    pub async fn revoke_key(&self, actor: Actor<'_>, id: &str) -> Result<ApiKeyRow, AdminError> {
        let what = format!("key {id:?}");
        let key = self
            .store
            .get_api_key(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(what.clone()))?;
        let owner = self.key_owner(actor, &key.principal_id, &what).await?;
        self.holds(actor, Action::ManageKeys, ResourceKind::Key, &owner)?;
        self.store.revoke_api_key(id, unix_now()).await?;
        self.cache.clear();
        self.record_local(actor, Action::ManageKeys, format!("key/{id}"))
            .await?;
        self.store
            .get_api_key(id)
            .await?
            .ok_or(AdminError::NotFound(what))
    }

    pub async fn get_policies(&self, actor: Actor<'_>) -> Result<PolicyVersion, AdminError> {
        self.check(
            actor,
            Action::ManagePolicies,
            &self.policy_resource(),
            "policies",
        )?;
        self.store
            .current_policies()
            .await?
            .ok_or_else(|| AdminError::NotFound("policies".into()))
    }

    /// Validates `text` against the schema (Cedar's diagnostics on failure), stores it as a
    /// new version and puts it in force.
    pub async fn set_policies(
        &self,
        actor: Actor<'_>,
        text: &str,
    ) -> Result<PolicyVersion, AdminError> {
        self.check(
            actor,
            Action::ManagePolicies,
            &self.policy_resource(),
            "policies",
        )?;
        let authorizer = scif_authz::Authorizer::new(self.system_high().clone(), text)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        if let Actor::Caller(_) = actor {
            if !self.administrator_remains(&authorizer, actor, None).await? {
                return Err(AdminError::Invalid(
                    "that policy set would leave no administrator at the system high".into(),
                ));
            }
        }
        let created_at = scif_time::now_rfc3339_secs();
        let by = actor.name();
        let version = self.store.insert_policies(text, &created_at, &by).await?;
        self.install(version, authorizer);
        self.record_local(
            actor,
            Action::ManagePolicies,
            format!("policies/v{version}"),
        )
        .await?;
        Ok(PolicyVersion {
            version,
            text: text.to_owned(),
            created_at,
            created_by: by,
        })
    }

    /// Relabels an imported model (and, when given, replaces its handling caveats). The actor
    /// must be able to manage the model at its present label and at the new one, and the new
    /// label must be within the system high.
    pub async fn set_model_label(
        &self,
        actor: Actor<'_>,
        model: &str,
        label: &str,
        handling: Option<&[String]>,
    ) -> Result<Label, AdminError> {
        let what = format!("model {model:?}");
        let record = self
            .store
            .get_model(model)
            .await?
            .ok_or_else(|| AdminError::NotFound(what.clone()))?;
        let current = Label::parse_banner(&record.label)
            .unwrap_or_else(|_| Label::new(scif_labels::Level::TopSecret));
        // The model as it is, caveats included: who may not read it learns nothing of it.
        let mut as_is = Resource::model(model, current);
        as_is.handling = handling_of(&record.handling);
        self.check(actor, Action::ManageModels, &as_is, &what)?;
        let new =
            Label::parse_banner(label).map_err(|e| AdminError::Invalid(format!("label: {e}")))?;
        if !self.system_high().dominates(&new) {
            return Err(AdminError::Invalid(
                "label is above this deployment's system high".into(),
            ));
        }
        let handling = handling
            .map(parse_handling)
            .transpose()
            .map_err(|e| AdminError::Invalid(format!("handling: {e}")))?;
        // And as it will be: the actor must hold the new label and caveats too, and may not
        // drop a caveat it could not itself satisfy (that would hand the model to those who
        // lack it): a caveat is removed only by someone the caveat admits.
        let mut to_be = Resource::model(model, new.clone());
        to_be.handling = handling_of(handling.as_deref().unwrap_or(&record.handling));
        self.check(actor, Action::ManageModels, &to_be, &what)
            .map_err(not_found_is_forbidden)?;
        if !self.store.set_model_label(model, &new.banner()).await? {
            return Err(AdminError::NotFound(what));
        }
        if let Some(h) = handling {
            self.store.set_model_handling(model, &h).await?;
        }
        self.record_local(actor, Action::ManageModels, format!("model/{model}"))
            .await?;
        Ok(new)
    }

    /// On a store with no principals, creates the administrator `admin` (cleared to the system
    /// high, US person, group `admins`) and one key for it, and returns the key's secret to be
    /// shown once. Does nothing (returns `None`) on any later start.
    pub async fn bootstrap(&self) -> Result<Option<CreatedKey>, AdminError> {
        if self.store.count_principals().await? > 0 {
            return Ok(None);
        }
        let admin = NewPrincipal {
            id: BOOTSTRAP_ADMIN.to_owned(),
            kind: "person".to_owned(),
            clearance: self.system_high().banner(),
            nationality: "USA".to_owned(),
            us_person: true,
            groups: vec!["admins".to_owned()],
            accesses: Vec::new(),
        };
        match self.create_principal(Actor::LocalOperator, admin).await {
            Ok(_) => {}
            // Another process bootstrapped first.
            Err(AdminError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let key = self
            .create_key(
                Actor::LocalOperator,
                NewKey {
                    principal: BOOTSTRAP_ADMIN.to_owned(),
                    description: "bootstrap".to_owned(),
                    ..NewKey::default()
                },
            )
            .await?;
        Ok(Some(key))
    }
}

/// A key's expiry: `expires_in_secs` from `now`, at least one second; `None` never expires.
/// `now` is whole seconds, truncated, and a key is refused from its `expires_at` second on, so
/// the expiry is rounded up a second: a key lives at least what was asked and less than one
/// second more (a one-second key made at 10.95 must not die at 11.00).
fn expiry(now: i64, expires_in_secs: Option<u64>) -> Result<Option<i64>, AdminError> {
    match expires_in_secs {
        Some(0) => Err(AdminError::Invalid(
            "expires_in_secs: must be at least 1".into(),
        )),
        Some(s) => Ok(Some(
            now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX))
                .saturating_add(1),
        )),
        None => Ok(None),
    }
}

/// When creating or raising something, the actor already knows what they asked for; a label
/// refusal there is a plain 403.
fn not_found_is_forbidden(e: AdminError) -> AdminError {
    match e {
        AdminError::NotFound(_) => {
            AdminError::Forbidden("that label is not one you may assign".into())
        }
        AdminError::Hidden { decision, .. } => AdminError::Refused {
            message: "that label is not one you may assign".into(),
            decision,
        },
        other => other,
    }
}

/// Queues a change the local operator made with the CLI for the audit trail (the running
/// server, its only writer, appends it).
pub async fn record_local_change(
    store: &scif_store::Store,
    action: &str,
    resource: String,
) -> Result<(), StoreError> {
    let event = serde_json::json!({
        "time": scif_time::now_rfc3339_secs(),
        "principal": "local operator",
        "auth_method": "local_operator",
        "action": action,
        "resource": resource,
        "decision": "allow",
        "reasons": ["local_operator"],
        "detail": {"via": "cli"},
    });
    store.push_audit_outbox(&event.to_string()).await
}

/// Scopes as asked for: each an action name, each once.
fn parse_scopes(list: &[String]) -> Result<BTreeSet<String>, AdminError> {
    let mut scopes = BTreeSet::new();
    for s in list {
        if s.parse::<Action>().is_err() {
            return Err(AdminError::Invalid(format!(
                "scopes: {s:?} is not an action (one of {})",
                Action::ALL.map(|a| a.as_str()).join(", ")
            )));
        }
        scopes.insert(s.clone());
    }
    Ok(scopes)
}

/// Handling caveats as stored: lowercase, known, each once, sorted.
pub fn parse_handling(list: &[String]) -> Result<Vec<String>, String> {
    let mut out = BTreeSet::new();
    for h in list {
        for part in h.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let part = part.to_ascii_lowercase();
            if !matches!(part.as_str(), "itar" | "phi") {
                return Err(format!("{part:?} is not a handling caveat (itar, phi)"));
            }
            out.insert(part);
        }
    }
    Ok(out.into_iter().collect())
}

/// Stored handling caveats as the authorizer's type; an unknown one fails closed by being
/// treated as both.
pub fn handling_of(list: &[String]) -> BTreeSet<scif_authz::Handling> {
    let mut out = BTreeSet::new();
    for h in list {
        match h.as_str() {
            "itar" => {
                out.insert(scif_authz::Handling::Itar);
            }
            "phi" => {
                out.insert(scif_authz::Handling::Phi);
            }
            _ => {
                out.insert(scif_authz::Handling::Itar);
                out.insert(scif_authz::Handling::Phi);
            }
        }
    }
    out
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}
