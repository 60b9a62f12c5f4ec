//! Who is calling, and what they may do.
//!
//! This crate joins the pure parts (`scif-identity` verifies credentials, `scif-authz` decides,
//! `scif-labels` compares markings) to the records in `scif-store`. It is the one place that:
//!
//! - turns what a request presented (an `Authorization` header, a verified client
//!   certificate's identity) into a [`Caller`], or an [`AuthFailure`];
//! - decides a caller's action on a resource ([`Access::authorize`]), adding the API key's
//!   scopes to the mandatory rules and the Cedar policies;
//! - carries out the admin operations on principals, keys and policies ([`admin`]), for the
//!   HTTP admin API and the CLI alike, so both enforce the same checks.
//!
//! It speaks no HTTP. Nothing here logs a secret or a token; failures carry a reason code
//! for the audit trail and one public message for the caller.
#![forbid(unsafe_code)]

pub mod admin;
mod cache;
mod caller;
mod grant;
mod pepper;
pub mod sigv4;

pub use caller::{AuthFailure, AuthMethod, Caller, ClientCert, Presented};
pub use pepper::{load_or_create_pepper, load_or_create_secret};

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scif_authz::{Action, Authorizer, AuthzError, Decision, DecisionReason, Principal, Resource};
use scif_identity::{ApiKeys, AuthnError, JwtVerifier, KeyHash, KeyRecord, VerifiedClaims};
use scif_labels::{Label, Subject};
use scif_store::{PrincipalRecord, Store, StoreError};

/// Who may call, checked on every request. Cheap to share: clone the `Arc`.
pub struct Access {
    store: Store,
    keys: ApiKeys,
    jwt: Option<JwtVerifier>,
    system_high: Label,
    default_input_label: Option<Label>,
    vault: Option<sigv4::Vault>,
    authorizer: RwLock<Arc<Authorizer>>,
    policy_version: AtomicI64,
    cache: cache::IdentityCache,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored policies (version {version}) no longer load: {source}")]
    StoredPolicies { version: i64, source: AuthzError },
    #[error("{0}")]
    Setup(String),
}

/// What [`Access::new`] needs besides the store.
pub struct AccessOptions {
    pub keys: ApiKeys,
    pub jwt: Option<JwtVerifier>,
    pub system_high: Label,
    /// The label an undeclared input is taken to have; `None` means the caller's clearance.
    pub default_input_label: Option<Label>,
    /// Decrypts stored SigV4 secrets; `None` turns SigV4 off.
    pub sigv4_vault: Option<sigv4::Vault>,
}

impl Access {
    /// Loads the policy set in force; on a store that has none yet, stores
    /// [`scif_authz::DEFAULT_POLICIES`] as version 1.
    pub async fn new(store: Store, opts: AccessOptions) -> Result<Access, AccessError> {
        let (version, text) = match store.current_policies().await? {
            Some(p) => (p.version, p.text),
            None => {
                let text = scif_authz::DEFAULT_POLICIES.to_owned();
                let v = store
                    .insert_policies(&text, &scif_time::now_rfc3339_secs(), "scif (defaults)")
                    .await?;
                (v, text)
            }
        };
        let authorizer = Authorizer::new(opts.system_high.clone(), &text)
            .map_err(|source| AccessError::StoredPolicies { version, source })?;
        Ok(Access {
            store,
            keys: opts.keys,
            jwt: opts.jwt,
            system_high: opts.system_high,
            default_input_label: opts.default_input_label,
            vault: opts.sigv4_vault,
            authorizer: RwLock::new(Arc::new(authorizer)),
            policy_version: AtomicI64::new(version),
            cache: cache::IdentityCache::new(),
        })
    }

    pub fn system_high(&self) -> &Label {
        &self.system_high
    }

    pub fn api_keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// The policy set version in force.
    pub fn policy_version(&self) -> i64 {
        self.policy_version.load(Ordering::SeqCst)
    }

    fn authorizer(&self) -> Arc<Authorizer> {
        match self.authorizer.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn install(&self, version: i64, authorizer: Authorizer) {
        let mut slot = match self.authorizer.write() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(authorizer);
        self.policy_version.store(version, Ordering::SeqCst);
    }

    /// Picks up a policy set stored by another process (the CLI). A stored set that no longer
    /// loads is logged and the one in force stays.
    pub async fn reload_policies_if_changed(&self) -> Result<bool, AccessError> {
        let stored = self.store.policy_version().await?;
        if stored == self.policy_version() {
            return Ok(false);
        }
        let Some(p) = self.store.current_policies().await? else {
            return Ok(false);
        };
        match Authorizer::new(self.system_high.clone(), &p.text) {
            Ok(a) => {
                self.install(p.version, a);
                tracing::info!(version = p.version, "policy set reloaded");
                Ok(true)
            }
            Err(e) => {
                tracing::error!(version = p.version, error = %e, "stored policy set does not load; keeping the one in force");
                Err(AccessError::StoredPolicies {
                    version: p.version,
                    source: e,
                })
            }
        }
    }

    /// Verifies what the request presented. An `Authorization` header is used when present
    /// (a scif API key, or an OIDC token when OIDC is configured); otherwise a verified client
    /// certificate, whose identity must name an enabled principal.
    pub async fn authenticate(&self, presented: &Presented<'_>) -> Result<Caller, AuthFailure> {
        let now = SystemTime::now();
        if let Some(header) = presented.authorization {
            if scif_sigv4::looks_like_sigv4(header) {
                return self.sigv4(header, presented.sigv4).await;
            }
            let token = bearer(header).ok_or(AuthFailure::Rejected(AuthnError::Malformed))?;
            if let Some(key_id) = self.keys.key_id(token) {
                return self.api_key(token, &key_id, now).await;
            }
            if let Some(jwt) = &self.jwt {
                let claims = jwt.verify(token, now).map_err(AuthFailure::Rejected)?;
                let principal = principal_from_claims(&claims)?;
                self.oidc_subject_may_sign_in(&principal.id).await?;
                return Ok(Caller {
                    principal,
                    method: AuthMethod::Oidc {
                        issuer: claims.issuer,
                    },
                    scopes: None,
                });
            }
            return Err(AuthFailure::Rejected(AuthnError::InvalidCredentials));
        }
        if let Some(cert) = presented.client_cert {
            let principal = self.enabled_principal(cert.identity).await?;
            return Ok(Caller {
                principal,
                method: AuthMethod::ClientCert {
                    subject: cert.subject.to_owned(),
                    fingerprint: cert.fingerprint.to_owned(),
                },
                scopes: None,
            });
        }
        Err(AuthFailure::Missing)
    }

    async fn api_key(
        &self,
        token: &str,
        key_id: &scif_identity::KeyId,
        now: SystemTime,
    ) -> Result<Caller, AuthFailure> {
        let row = self
            .cache
            .keys
            .get(&key_id.as_str().to_owned(), || {
                self.store.get_api_key(key_id.as_str())
            })
            .await
            .map_err(AuthFailure::Store)?;
        let record = row.as_ref().and_then(|r| {
            let hash: [u8; 32] = r.hash.as_slice().try_into().ok()?;
            Some(KeyRecord {
                id: key_id.clone(),
                principal_id: r.principal_id.clone(),
                hash: KeyHash::from_bytes(hash),
                scopes: r.scopes.iter().cloned().collect(),
                created_at: unix_time(r.created_at),
                expires_at: r.expires_at.map(unix_time),
                revoked: r.revoked_at.is_some(),
            })
        });
        let verified = self
            .keys
            .verify(token, |_| record.clone(), now)
            .map_err(AuthFailure::Rejected)?;
        let principal = self.enabled_principal(&verified.principal_id).await?;
        let scopes = (!verified.scopes.contains("*")).then_some(verified.scopes);
        Ok(Caller {
            principal,
            method: AuthMethod::ApiKey {
                key_id: verified.key_id.to_string(),
            },
            scopes,
        })
    }

    async fn sigv4(
        &self,
        header: &str,
        request: Option<&scif_sigv4::SignedRequest<'_>>,
    ) -> Result<Caller, AuthFailure> {
        use scif_sigv4::SigV4Error;
        let (Some(vault), Some(request)) = (&self.vault, request) else {
            return Err(AuthFailure::SigV4(SigV4Error::UnrecognizedClient));
        };
        let parsed = scif_sigv4::parse_authorization(header).map_err(AuthFailure::SigV4)?;
        // Security-relevant headers count only when signed: otherwise anyone on the path
        // could add one (relabel the input down, drop a guardrail) to a signed request.
        let unsigned_security_header = request.headers.iter().any(|(name, _)| {
            let name = name.to_ascii_lowercase();
            (name.starts_with("x-scif-") || name.starts_with("x-amzn-bedrock-"))
                && !parsed.signed_headers.contains(&name)
        });
        if unsigned_security_header {
            return Err(AuthFailure::SigV4(SigV4Error::UnsignedRequiredHeader(
                "x-scif-* and x-amzn-bedrock-* headers",
            )));
        }
        let row = self
            .store
            .get_sigv4_key(&parsed.access_key_id)
            .await
            .map_err(AuthFailure::Store)?;
        let secret = row.as_ref().and_then(|r| {
            vault.open(
                &sigv4::aad(&r.access_key_id, &r.principal_id),
                &r.nonce,
                &r.ciphertext,
            )
        });
        let verified = scif_sigv4::verify(request, "bedrock", unix_now(), |_| {
            secret.as_ref().map(|s| s.as_str().to_owned())
        })
        .map_err(AuthFailure::SigV4)?;
        // Revocation and expiry are told only to a caller whose signature verified.
        let Some(row) = row else {
            return Err(AuthFailure::SigV4(SigV4Error::UnrecognizedClient));
        };
        let now = unix_now();
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| now >= e) {
            return Err(AuthFailure::SigV4(SigV4Error::UnrecognizedClient));
        }
        let principal = self.enabled_principal(&row.principal_id).await?;
        let scopes = (!row.scopes.iter().any(|s| s == "*"))
            .then(|| row.scopes.iter().cloned().collect::<BTreeSet<String>>());
        Ok(Caller {
            principal,
            method: AuthMethod::SigV4 {
                access_key_id: verified.access_key_id,
                region: verified.region,
            },
            scopes,
        })
    }

    /// An OIDC subject and a stored principal of the same id are one identity (ADR 0011): the
    /// stored record is the site's handle on it (disabled or deleted, the token is refused)
    /// but never a source of attributes, which come from the token's claims alone.
    async fn oidc_subject_may_sign_in(&self, id: &str) -> Result<(), AuthFailure> {
        let stored = self.stored_principal(id).await?;
        if stored.is_some_and(|r| r.disabled) {
            return Err(AuthFailure::Rejected(AuthnError::InvalidCredentials));
        }
        let retired = self
            .cache
            .retired
            .get(&id.to_owned(), || async {
                Ok(self.store.is_retired_principal(id).await?.then_some(()))
            })
            .await
            .map_err(AuthFailure::Store)?;
        if retired.is_some() {
            return Err(AuthFailure::Rejected(AuthnError::InvalidCredentials));
        }
        Ok(())
    }

    /// A stored principal, through the identity cache.
    async fn stored_principal(&self, id: &str) -> Result<Option<PrincipalRecord>, AuthFailure> {
        self.cache
            .principals
            .get(&id.to_owned(), || self.store.get_principal(id))
            .await
            .map_err(AuthFailure::Store)
    }

    async fn enabled_principal(&self, id: &str) -> Result<Principal, AuthFailure> {
        match self.stored_principal(id).await? {
            Some(r) if !r.disabled => principal_from_record(&r).map_err(AuthFailure::Corrupt),
            // A disabled or unknown principal is refused exactly like a bad credential.
            _ => Err(AuthFailure::Rejected(AuthnError::InvalidCredentials)),
        }
    }

    /// Decides `action` on `resource` for `caller`: the mandatory label rules, then the key's
    /// scopes, then the Cedar policies. Mandatory first, always: a scoped key asking about a
    /// resource it may not read is told exactly what it is told about a missing one.
    /// Denials are logged (without labels); the returned [`Decision`] is the record for the
    /// audit trail.
    pub fn authorize(&self, caller: &Caller, action: Action, resource: &Resource) -> Decision {
        let authorizer = self.authorizer();
        let deny = |reason| {
            Decision::deny(
                &caller.principal.id,
                action,
                resource.kind,
                &resource.id,
                reason,
            )
        };
        let decision = if let Err(rule) = authorizer.mandatory(&caller.principal, resource) {
            deny(DecisionReason::Mandatory(rule))
        } else if caller.in_scope(action) {
            authorizer.decide(&caller.principal, action, resource)
        } else {
            deny(DecisionReason::OutOfScope)
        };
        if decision.allowed {
            tracing::debug!(target: "scif::decision", principal = %decision.principal_id, action = %decision.action, resource_kind = %decision.resource_kind, resource = %decision.resource_id, reason = ?decision.reason, policies = ?decision.policy_ids, "allow");
        } else {
            tracing::info!(target: "scif::decision", principal = %decision.principal_id, action = %decision.action, resource_kind = %decision.resource_kind, resource = %decision.resource_id, reason = ?decision.reason, policies = ?decision.policy_ids, "deny");
        }
        decision
    }

    /// The label of a request's input: the declared one (which the caller must be able to
    /// read: no claiming data one could not have seen), or the configured default, or the
    /// caller's clearance (the conservative choice).
    pub fn input_label(
        &self,
        caller: &Caller,
        declared: Option<&Label>,
    ) -> Result<Label, InputLabelError> {
        let label = match declared.or(self.default_input_label.as_ref()) {
            Some(l) => l.clone(),
            None => return Ok(self.undeclared_input_label(caller)),
        };
        scif_labels::may_read(&subject(&caller.principal), &label)
            .map_err(|_| InputLabelError::AboveClearance)?;
        Ok(label)
    }

    /// The label of input nobody declared: the caller's clearance, the conservative choice.
    /// A clearance names no releasability, so for a foreign national it is a label they may
    /// not receive themselves (classified without a release marking is NOFORN); what such a
    /// caller brings is at most releasable to their own nation, so the label says so.
    fn undeclared_input_label(&self, caller: &Caller) -> Label {
        let p = &caller.principal;
        let clearance = p.clearance.clone();
        if p.us_person
            || self.may_receive(caller, &clearance)
            || *clearance.releasability() != scif_labels::Releasability::Unrestricted
        {
            return clearance;
        }
        match scif_labels::RelTo::new(["USA", p.nationality.as_str()]) {
            Ok(rel) => {
                let l = clearance
                    .clone()
                    .with_releasability(scif_labels::Releasability::RelTo(rel));
                if self.may_receive(caller, &l) {
                    l
                } else {
                    clearance
                }
            }
            Err(_) => clearance,
        }
    }

    /// May `caller` know that `resource` exists (the mandatory rules alone)?
    pub fn may_know(&self, caller: &Caller, resource: &Resource) -> bool {
        self.authorizer()
            .mandatory(&caller.principal, resource)
            .is_ok()
    }

    /// May `caller` receive data labelled `label`?
    pub fn may_receive(&self, caller: &Caller, label: &Label) -> bool {
        scif_labels::may_read(&subject(&caller.principal), label).is_ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InputLabelError {
    #[error("the declared input label is not one the caller may hold")]
    AboveClearance,
}

fn subject(p: &Principal) -> Subject {
    Subject {
        clearance: p.clearance.clone(),
        nationality: p.nationality.clone(),
        groups: p.groups.clone(),
        us_person: p.us_person,
    }
}

/// `Bearer <token>`, scheme case-insensitive.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn unix_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A stored principal as the authorizer sees it.
pub fn principal_from_record(r: &PrincipalRecord) -> Result<Principal, String> {
    let clearance = Label::parse_banner(&r.clearance)
        .map_err(|e| format!("principal {:?} has an unreadable clearance: {e}", r.id))?;
    let kind = match r.kind.as_str() {
        "person" => scif_authz::PrincipalKind::Person,
        "service" => scif_authz::PrincipalKind::Service,
        other => return Err(format!("principal {:?} has unknown kind {other:?}", r.id)),
    };
    Ok(Principal {
        id: r.id.clone(),
        kind,
        clearance,
        nationality: r.nationality.clone(),
        us_person: r.us_person,
        groups: r.groups.iter().cloned().collect::<BTreeSet<_>>(),
        accesses: r.accesses.iter().cloned().collect::<BTreeSet<_>>(),
    })
}

/// A character no identity may hold: controls (C0, DEL, C1), line and paragraph separators,
/// and the bidirectional overrides that make a log line read other than it is.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// An OIDC identity: attributes come from the token's claims as mapped by configuration.
/// What the token does not say is taken at its most restrictive: UNCLASSIFIED, no known
/// nationality, not a US person, no groups, no accesses.
fn principal_from_claims(c: &VerifiedClaims) -> Result<Principal, AuthFailure> {
    // An identity is a name, not a document: no control characters (a newline in a subject
    // could forge a log line or an audit field), nothing empty, nothing unbounded.
    let name_ok = |s: &str| !s.is_empty() && s.len() <= 256 && !s.chars().any(unprintable);
    let claim = |what: &str| AuthFailure::Rejected(AuthnError::InvalidClaim(what.into()));
    if !name_ok(&c.subject) {
        return Err(claim("sub"));
    }
    if c.nationality.as_deref().is_some_and(|n| !name_ok(n)) {
        return Err(claim("nationality"));
    }
    if !c.groups.iter().all(|g| name_ok(g)) {
        return Err(claim("groups"));
    }
    if !c.accesses.iter().all(|a| name_ok(a)) {
        return Err(claim("accesses"));
    }
    let clearance = match &c.clearance {
        Some(text) => Label::parse_banner(text)
            .map_err(|_| AuthFailure::Rejected(AuthnError::InvalidClaim("clearance".into())))?,
        None => Label::unclassified(),
    };
    Ok(Principal {
        id: c.subject.clone(),
        kind: scif_authz::PrincipalKind::Person,
        clearance,
        nationality: c.nationality.clone().unwrap_or_default(),
        us_person: c.us_person.unwrap_or(false),
        groups: c.groups.clone(),
        accesses: c.accesses.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
