//! scif's request pipeline, free of any transport: every model invocation, whichever dialect
//! or job it comes from, runs the same named stages over one typed call context.
//!
//! 1. [`authorize`]: mandatory label rules, then Cedar policy, deny by default; returns a
//!    [`authorize::Permitted`] proof that only that stage can build;
//! 2. [`flow`]: the input's label, the accreditation of the endpoints that will see it, the
//!    output's label;
//! 3. [`admit`]: the caller's limits;
//! 4. [`inspect`] (input): guardrails and spillage over every channel that reaches a model,
//!    as one inspection document (system prompts, messages, tool definitions, tool-call
//!    arguments and tool results, JSON decoded);
//! 5. [`intent`]: the invocation's audit event, durable before any byte of the prompt leaves;
//! 6. [`execute`]: the provider;
//! 7. output inspection ([`guardrails::Filtered`]);
//! 8. [`account`]: one [`account::CallRecord`] from which the completion's audit event, the
//!    usage record and the metrics are derived, written however the call ends.
//!
//! [`pipeline::invoke`] runs them in that order; read it first. **Invariant:** no HTTP here
//! (no axum, http, hyper, reqwest or tower; `tests/graph.rs` checks the crate graph).

pub mod account;
pub mod admit;
pub mod answer;
pub mod authorize;
pub mod call;
pub mod error;
pub mod execute;
pub mod flow;
pub mod guardrail_admin;
pub mod guardrails;
pub mod inspect;
pub mod intent;
pub mod knowledge;
pub mod metering;
pub mod metrics;
pub mod pipeline;
pub mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use scif_access::Access;
use scif_authz::Handling;
use scif_config::Config;
use scif_labels::Label;
use scif_provider::{ModelInfo, ModelLoad, Provider};
use scif_store::Store;

pub use call::{Call, Dialect};
pub use error::Error;
pub use flow::Flow;
pub use pipeline::{count_tokens, embed, invoke, Embedded, Invocation};

/// Which provider serves which model. Static providers (the embedded engine) serve a fixed
/// set; dynamic ones (remote deployments) are asked, since a reload changes what they serve.
/// A static provider wins a name both claim (configuration refuses that case anyway).
#[derive(Default)]
pub struct Providers {
    by_model: BTreeMap<String, Arc<dyn Provider>>,
    all: Vec<Arc<dyn Provider>>,
    dynamic: Vec<Arc<dyn Provider>>,
}

impl Providers {
    pub fn add(&mut self, p: Arc<dyn Provider>) {
        for m in p.models() {
            self.by_model.insert(m.id, p.clone());
        }
        self.all.push(p);
    }

    pub fn add_dynamic(&mut self, p: Arc<dyn Provider>) {
        self.dynamic.push(p);
    }

    pub fn for_model(&self, model: &str) -> Option<Arc<dyn Provider>> {
        if let Some(p) = self.by_model.get(model) {
            return Some(p.clone());
        }
        self.dynamic.iter().find(|p| p.serves(model)).cloned()
    }

    /// Whether a static provider (the embedded engine) serves `model`.
    pub fn is_static(&self, model: &str) -> bool {
        self.by_model.contains_key(model)
    }

    pub fn models(&self) -> Vec<ModelInfo> {
        let remote = self
            .dynamic
            .iter()
            .flat_map(|p| p.models())
            .filter(|m| !self.by_model.contains_key(&m.id));
        let mut v: Vec<ModelInfo> = self
            .all
            .iter()
            .flat_map(|p| p.models())
            .chain(remote)
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn loads(&self) -> Vec<(String, ModelLoad)> {
        let mut v: Vec<(String, ModelLoad)> = self
            .by_model
            .iter()
            .map(|(m, p)| (m.clone(), p.load(m)))
            .collect();
        for p in &self.dynamic {
            for m in p.models() {
                if !self.by_model.contains_key(&m.id) {
                    let load = p.load(&m.id);
                    v.push((m.id, load));
                }
            }
        }
        v
    }

    pub fn cancel_all(&self) {
        for p in self.all.iter().chain(self.dynamic.iter()) {
            p.cancel_all();
        }
    }
}

/// What every stage reads: configuration, providers, identities and decisions, limits,
/// guardrails, the audit trail, the usage meter and the metrics.
pub struct Service {
    pub config: Arc<Config>,
    pub providers: Arc<Providers>,
    pub store: Store,
    pub access: Arc<Access>,
    /// Each served model's label, as the registry holds it (kept current by
    /// [`Service::refresh_model_labels`] and the admin API).
    pub model_labels: Arc<RwLock<BTreeMap<String, Label>>>,
    /// Each served model's handling caveats (ITAR, PHI), from the registry.
    pub model_handling: Arc<RwLock<BTreeMap<String, BTreeSet<Handling>>>>,
    pub metrics: metrics::Metrics,
    /// The audit trail; `None` only in tests of the pipeline alone.
    pub auditor: Option<record::Auditor>,
    /// Rate, concurrency and budget limits (empty: none configured).
    pub limits: Arc<scif_limits::Limiter>,
    /// Usage records; `None` only in tests of the pipeline alone.
    pub meter: Option<metering::Meter>,
    /// Guardrail versions, attachments and merged policies.
    pub guardrails: Arc<guardrails::Guardrails>,
    /// Knowledge bases' indexes and conversations.
    pub knowledge: Arc<knowledge::Knowledge>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    match l.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Service {
    pub fn new(
        config: Config,
        providers: Providers,
        store: Store,
        access: Arc<Access>,
    ) -> Result<Self, prometheus::Error> {
        // Until the registry says otherwise, a model's label is what its provider reported;
        // one that does not parse is taken as the highest label there is (fail closed).
        let labels = providers
            .models()
            .into_iter()
            .map(|m| {
                let label = Label::parse_banner(&m.label).unwrap_or_else(|_| top_label());
                (m.id, label)
            })
            .collect();
        Ok(Self {
            config: Arc::new(config),
            providers: Arc::new(providers),
            store: store.clone(),
            access,
            model_labels: Arc::new(RwLock::new(labels)),
            model_handling: Arc::new(RwLock::new(BTreeMap::new())),
            metrics: metrics::Metrics::new()?,
            auditor: None,
            limits: Arc::new(scif_limits::Limiter::new(&[])),
            meter: None,
            guardrails: Arc::new(guardrails::Guardrails::new(store)),
            knowledge: Arc::default(),
        })
    }

    /// The label of a served model; `None` when no provider serves it.
    pub fn model_label(&self, model: &str) -> Option<Label> {
        read(&self.model_labels).get(model).cloned()
    }

    /// A served model's handling caveats.
    pub fn model_handling(&self, model: &str) -> BTreeSet<Handling> {
        read(&self.model_handling)
            .get(model)
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_model_label(&self, model: &str, label: Label) {
        if let Some(slot) = write(&self.model_labels).get_mut(model) {
            *slot = label;
        }
    }

    /// Puts remote models' labels and caveats in place and forgets remote models no longer
    /// served (`remote`: name, label, caveats, as the gateway reports them).
    pub fn sync_remote_models(&self, remote: Vec<(String, Label, Vec<String>)>) {
        let mut labels = write(&self.model_labels);
        let mut handling = write(&self.model_handling);
        labels.retain(|name, _| {
            self.providers.is_static(name) || remote.iter().any(|(n, _, _)| n == name)
        });
        handling.retain(|name, _| {
            self.providers.is_static(name) || remote.iter().any(|(n, _, _)| n == name)
        });
        for (name, label, caveats) in remote {
            if self.providers.is_static(&name) {
                continue;
            }
            handling.insert(name.clone(), scif_access::admin::handling_of(&caveats));
            labels.insert(name, label);
        }
    }

    /// Re-reads served models' labels and handling caveats from the registry (at start, and
    /// later because the CLI may have changed one). A label that no longer parses, or that is
    /// above the system high, makes the model unreachable (the highest label) until fixed.
    pub async fn refresh_model_labels(&self) -> Result<(), scif_store::StoreError> {
        let system_high = self.config.system_high();
        for record in self.store.list_models().await? {
            if !self.providers.is_static(&record.name) || self.model_label(&record.name).is_none() {
                continue;
            }
            let label = match Label::parse_banner(&record.label) {
                Ok(l) if system_high.dominates(&l) => l,
                _ => top_label(),
            };
            if self.model_label(&record.name).as_ref() != Some(&label) {
                tracing::info!(model = %record.name, "model label changed in the registry");
                self.set_model_label(&record.name, label);
            }
            let handling = scif_access::admin::handling_of(&record.handling);
            write(&self.model_handling).insert(record.name.clone(), handling);
        }
        Ok(())
    }
}

/// A label no principal dominates in practice: TOP SECRET with every SCI system scif knows,
/// NOFORN. Used where a label cannot be read, so that nothing is released on a bad record.
pub fn top_label() -> Label {
    let mut l = Label::new(scif_labels::Level::TopSecret);
    for system in scif_labels::SCI_SYSTEMS {
        if let Ok(next) = l.clone().with_sci(system, &["UNREADABLE"]) {
            l = next;
        }
    }
    l.with_releasability(scif_labels::Releasability::NoForn)
}
