//! The decision matrix: principals × resources × actions under the default policies, with
//! expectations written out by hand (a grid of mandatory outcomes, a table of which actions
//! apply to which resources, and each principal's role), never computed by the code under test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{label, principals, resources, rule, Role, SYSTEM_HIGH};
use scif_authz::{
    Action, Authorizer, DecisionReason, MandatoryRule, Principal, Resource, ResourceKind,
    DEFAULT_POLICIES,
};

/// Which resource kinds each action applies to (the schema's `appliesTo`), written out.
fn applies(action: Action, kind: ResourceKind) -> bool {
    use ResourceKind::*;
    let kinds: &[ResourceKind] = match action {
        Action::InvokeModel | Action::ListModels | Action::ReadModel | Action::ManageModels => {
            &[Model, System]
        }
        Action::ManageKeys => &[Key, System],
        Action::ManagePrincipals => &[Principal, System],
        Action::ManagePolicies => &[Policy, System],
        Action::ReadAudit => &[AuditTrail, System],
        Action::ReadMetrics => &[System],
        Action::Retrieve | Action::ManageKnowledgeBases => &[KnowledgeBase, System],
    };
    kinds.contains(&kind)
}

/// What the default policies say, given the mandatory rules pass and the action applies.
fn policy(role: Role, action: Action) -> (DecisionReason, Vec<&'static str>) {
    let model_use = matches!(
        action,
        Action::ListModels | Action::ReadModel | Action::InvokeModel
    );
    let mut ids = Vec::new();
    if role == Role::Admin {
        ids.push("admins-all");
    }
    if role == Role::Auditor && action == Action::ReadAudit {
        ids.push("auditors-read-audit");
    }
    if action == Action::Retrieve {
        ids.push("knowledge-retrieve");
    }
    if model_use {
        ids.push("models-use");
    }
    if ids.is_empty() {
        (DecisionReason::NoPolicyPermits, ids)
    } else {
        (DecisionReason::Permitted, ids)
    }
}

#[test]
fn decision_matrix() {
    let authz = Authorizer::new(label(SYSTEM_HIGH), DEFAULT_POLICIES).unwrap();
    let principals = principals();
    let mut cases = 0;
    let mut allowed = 0;
    let mut failures = Vec::new();
    for (resource, row) in resources() {
        assert_eq!(row.len(), principals.len(), "grid row for {}", resource.id);
        for ((principal, role), code) in principals.iter().zip(row.chars()) {
            for action in Action::ALL {
                let (reason, ids) = match rule(code) {
                    Some(r) => (DecisionReason::Mandatory(r), Vec::new()),
                    None if !applies(action, resource.kind) => {
                        (DecisionReason::NotApplicable, Vec::new())
                    }
                    None => policy(*role, action),
                };
                let d = authz.decide(principal, action, &resource);
                cases += 1;
                allowed += usize::from(d.allowed);
                let expect_allowed = reason == DecisionReason::Permitted;
                if d.allowed != expect_allowed || d.reason != reason || d.policy_ids != ids {
                    failures.push(format!(
                        "{} {} {}: got {:?} {:?} {:?}, want {:?} {:?}",
                        principal.id,
                        action,
                        resource.id,
                        d.allowed,
                        d.reason,
                        d.policy_ids,
                        reason,
                        ids
                    ));
                }
                assert_eq!(d.principal_id, principal.id);
                assert_eq!(d.resource_id, resource.id);
                assert_eq!(d.resource_kind, resource.kind);
                assert_eq!(d.action, action);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 150, "only {cases} cases");
    // Both outcomes are well represented.
    assert!(
        allowed > 100 && cases - allowed > 100,
        "{allowed} of {cases} allowed"
    );
}

/// A handful of cases spelled out in full, as a reader would check them by hand.
#[test]
fn spot_checks() {
    let authz = Authorizer::new(label(SYSTEM_HIGH), DEFAULT_POLICIES).unwrap();
    let gbr = Principal::person("gbr", label("SECRET"), "GBR", false).with_group("FVEY");
    let fvey = Resource::model("m", label("SECRET//REL TO USA, FVEY"));
    assert!(authz.decide(&gbr, Action::InvokeModel, &fvey).allowed);
    let nf = Resource::model("m", label("SECRET//NOFORN"));
    let d = authz.decide(&gbr, Action::InvokeModel, &nf);
    assert_eq!(d.reason, DecisionReason::Mandatory(MandatoryRule::NoForn));
    let d = authz.decide(&gbr, Action::ManageKeys, &Resource::system());
    assert_eq!(d.reason, DecisionReason::NoPolicyPermits);
    assert!(d.policy_ids.is_empty());
}
