//! Stage 1, *authorize*: decides once whether the caller may perform an action on a
//! resource (mandatory label rules, then Cedar policy, deny by default) and returns a
//! [`Permitted`] proof. Its fields are private to this module, so no other code, in this
//! crate or outside, can make one: a stage that needs an authorized call takes a
//! `&Permitted<_>` and cannot be reached without this decision.
//!
//! Hidden and missing answer alike: a model the caller may not see on mandatory grounds is
//! reported exactly like a model that does not exist.

use std::collections::BTreeSet;

use scif_access::Caller;
use scif_authz::{Action, Decision, DecisionReason, Handling, Resource};
use scif_labels::Label;

use crate::error::Error;
use crate::record::{note_decision, Slot};
use crate::Service;

/// Proof that `decision` allowed an action on `resource`. Only this module builds one.
#[derive(Debug)]
pub struct Permitted<R> {
    resource: R,
    decision: Decision,
}

impl<R> Permitted<R> {
    pub fn resource(&self) -> &R {
        &self.resource
    }

    /// The decision, with the rule and policy ids that allowed it.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }
}

/// A served model, as authorized.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub label: Label,
    pub handling: BTreeSet<Handling>,
    pub action: Action,
}

/// The deployment as a whole (metrics, for instance).
#[derive(Debug, Clone, Copy)]
pub struct System;

/// Authorizes `action` on a served model. A model above the caller's clearance (or one with
/// caveats the caller lacks) answers exactly like a missing one (`ModelNotFound`); a policy
/// refusal is `Forbidden`.
pub fn model(
    svc: &Service,
    caller: &Caller,
    action: Action,
    model: &str,
    slot: Option<&Slot>,
) -> Result<Permitted<Model>, Error> {
    let Some(label) = svc.model_label(model) else {
        if let Some(slot) = slot {
            slot.update(|e| {
                e.action = Some(action.as_str().to_owned());
                e.resource = Some(format!("model/{model}"));
                e.decision = Some("deny".into());
                e.reasons = vec!["not_found".into()];
            });
        }
        return Err(Error::ModelNotFound(model.to_owned()));
    };
    let mut resource = Resource::model(model, label.clone());
    resource.handling = svc.model_handling(model);
    let d = svc.access.authorize(caller, action, &resource);
    note_decision(slot, &d, Some(label.banner()));
    if let Some(slot) = slot {
        slot.update(|e| e.model = Some(model.to_owned()));
    }
    match d.reason {
        DecisionReason::Permitted => Ok(Permitted {
            resource: Model {
                name: model.to_owned(),
                label,
                handling: resource.handling,
                action,
            },
            decision: d,
        }),
        DecisionReason::Mandatory(_) => Err(Error::ModelNotFound(model.to_owned())),
        _ => Err(Error::Forbidden(d.denial_message())),
    }
}

/// Whether a model appears in a listing for `caller` (decided, not recorded).
pub fn model_visible(svc: &Service, caller: &Caller, name: &str) -> bool {
    model(svc, caller, Action::ListModels, name, None).is_ok()
}

/// Whether `caller` may know of the served model `name` at all (the mandatory rules alone,
/// no policy): what telemetry and status views are filtered by. A model no longer served is
/// not known to anyone.
pub fn model_known(svc: &Service, caller: &Caller, name: &str) -> bool {
    let Some(label) = svc.model_label(name) else {
        return false;
    };
    let mut resource = Resource::model(name, label);
    resource.handling = svc.model_handling(name);
    svc.access.may_know(caller, &resource)
}

/// Whether `caller` may know of a remote deployment: of the model it serves, and of the
/// deployment itself, which is labelled with its accreditation.
pub fn deployment_known(svc: &Service, caller: &Caller, model: &str, accreditation: &str) -> bool {
    model_known(svc, caller, model)
        && Label::parse_banner(accreditation).is_ok_and(|l| svc.access.may_receive(caller, &l))
}

/// Authorizes an action on the deployment as a whole.
pub fn system(
    svc: &Service,
    caller: &Caller,
    action: Action,
    slot: Option<&Slot>,
) -> Result<Permitted<System>, Error> {
    let d = svc.access.authorize(caller, action, &Resource::system());
    note_decision(slot, &d, None);
    if d.allowed {
        Ok(Permitted {
            resource: System,
            decision: d,
        })
    } else {
        Err(Error::Forbidden(d.denial_message()))
    }
}
