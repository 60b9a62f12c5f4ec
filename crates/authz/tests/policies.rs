//! Loading policies, deny by default, forbid over permit, the system-high ceiling, and the
//! shape of the decision record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_authz::{
    Action, Authorizer, AuthzError, DecisionReason, Handling, MandatoryRule, Principal, Resource,
    ResourceKind, DEFAULT_POLICIES,
};
use scif_labels::Label;

fn label(banner: &str) -> Label {
    Label::parse_banner(banner).unwrap()
}

fn admin() -> Principal {
    Principal::person("root", label("TOP SECRET//SI/TK"), "USA", true)
        .with_group("admins")
        .with_access("PHI")
}

fn secret_model() -> Resource {
    Resource::model("llama-s", label("SECRET//NOFORN"))
}

#[test]
fn default_policies_load_with_their_ids() {
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), DEFAULT_POLICIES).unwrap();
    assert_eq!(
        authz.policy_ids(),
        [
            "admins-all",
            "auditors-read-audit",
            "knowledge-retrieve",
            "librarians-manage-knowledge",
            "models-use",
            "operators-read-metrics"
        ]
    );
}

#[test]
fn operators_read_metrics_and_nothing_else() {
    let authz = Authorizer::new(label("SECRET"), DEFAULT_POLICIES).unwrap();
    let operator = Principal::service("prometheus", label("UNCLASSIFIED"), "USA", true)
        .with_group("operators");
    let user = Principal::person("u", label("UNCLASSIFIED"), "USA", true);
    let system = Resource::system();
    assert!(
        authz
            .decide(&operator, Action::ReadMetrics, &system)
            .allowed
    );
    assert!(!authz.decide(&user, Action::ReadMetrics, &system).allowed);
    assert!(!authz.decide(&operator, Action::ManageKeys, &system).allowed);
    assert!(!authz.decide(&operator, Action::ReadAudit, &system).allowed);
}

#[test]
fn empty_policy_set_denies_everything() {
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), "").unwrap();
    for action in Action::ALL {
        for resource in [secret_model(), Resource::system()] {
            let d = authz.decide(&admin(), action, &resource);
            assert!(!d.allowed, "{action} on {}", resource.id);
            if action.applies_to(resource.kind) {
                assert_eq!(d.reason, DecisionReason::NoPolicyPermits);
            }
            assert!(d.policy_ids.is_empty());
        }
    }
}

#[test]
fn syntax_error_is_refused_with_diagnostics() {
    let err = Authorizer::new(label("SECRET"), "permit (principal, action, resource")
        .expect_err("unterminated policy must be refused");
    assert!(matches!(err, AuthzError::Parse(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("policies do not parse"), "{message}");
    assert!(
        message.contains("1:36: unexpected end of input"),
        "{message}"
    );
}

#[test]
fn policy_that_does_not_match_the_schema_is_refused_with_diagnostics() {
    let text = r#"
        @id("bad-attribute")
        permit (principal, action, resource) when { principal.clearance == "SECRET" };
        @id("bad-type")
        permit (principal, action, resource) when { principal.clearance_level == "3" };
        @id("bad-action")
        permit (principal, action == Scif::Action::"delete_everything", resource);
    "#;
    let err = Authorizer::new(label("SECRET"), text).expect_err("invalid policies must be refused");
    assert!(matches!(err, AuthzError::Validation(_)), "{err:?}");
    let message = err.to_string();
    for id in ["bad-attribute", "bad-type", "bad-action"] {
        assert!(
            message.contains(id),
            "diagnostics should name `{id}`: {message}"
        );
    }
    // Cedar's own words, with the line and column in the policy text and its help.
    assert!(
        message.contains("3:53: for policy `bad-attribute`, attribute `clearance`"),
        "{message}"
    );
    assert!(
        message.contains("did you mean `clearance_level`?"),
        "{message}"
    );
}

#[test]
fn duplicate_ids_and_templates_are_refused() {
    let text = r#"
        @id("same") permit (principal, action, resource);
        @id("same") permit (principal, action, resource);
    "#;
    let err = Authorizer::new(label("SECRET"), text).unwrap_err();
    assert!(
        matches!(err, AuthzError::DuplicateId(ref id) if id == "same"),
        "{err:?}"
    );

    let template = "permit (principal == ?principal, action, resource);";
    let err = Authorizer::new(label("SECRET"), template).unwrap_err();
    assert!(matches!(err, AuthzError::Template(_)), "{err:?}");
}

#[test]
fn forbid_overrides_permit() {
    let text = r#"
        @id("everyone") permit (principal, action, resource);
        @id("no-services-invoke")
        forbid (principal, action == Scif::Action::"invoke_model", resource)
        when { principal.kind == "service" };
    "#;
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), text).unwrap();
    let service = Principal::service("batch", label("SECRET"), "USA", true);
    let person = Principal::person("alice", label("SECRET"), "USA", true);

    let d = authz.decide(&service, Action::InvokeModel, &secret_model());
    assert!(!d.allowed);
    assert_eq!(d.reason, DecisionReason::ForbiddenByPolicy);
    assert_eq!(d.policy_ids, ["no-services-invoke"]);

    let d = authz.decide(&service, Action::ReadModel, &secret_model());
    assert_eq!(d.reason, DecisionReason::Permitted);
    assert_eq!(d.policy_ids, ["everyone"]);

    let d = authz.decide(&person, Action::InvokeModel, &secret_model());
    assert!(d.allowed);
}

#[test]
fn policies_see_principal_and_resource_attributes() {
    let text = r#"
        @id("itar-engineers")
        permit (principal in Scif::Group::"engineers", action == Scif::Action::"invoke_model", resource is Scif::Model)
        when { resource.itar && principal.accesses.contains("ITAR") && principal.clearance_level >= resource.level };
    "#;
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), text).unwrap();
    let model = Resource::model("cad", label("SECRET//NOFORN")).with_handling(Handling::Itar);
    let engineer = Principal::person("eng", label("SECRET"), "USA", true).with_group("engineers");
    let d = authz.decide(&engineer, Action::InvokeModel, &model);
    assert_eq!(d.reason, DecisionReason::NoPolicyPermits);
    let d = authz.decide(
        &engineer.clone().with_access("ITAR"),
        Action::InvokeModel,
        &model,
    );
    assert_eq!(d.reason, DecisionReason::Permitted);
    assert_eq!(d.policy_ids, ["itar-engineers"]);
}

#[test]
fn no_policy_can_override_the_mandatory_rules() {
    let authz = Authorizer::new(
        label("TOP SECRET//SI/TK//NOFORN"),
        r#"@id("everyone") permit (principal, action, resource);"#,
    )
    .unwrap();
    let foreign = Principal::person("f", label("TOP SECRET//SI/TK"), "FRA", false);
    let d = authz.decide(&foreign, Action::InvokeModel, &secret_model());
    assert_eq!(d.reason, DecisionReason::Mandatory(MandatoryRule::NoForn));
    assert!(d.policy_ids.is_empty());

    let phi = Resource::model("med", label("UNCLASSIFIED")).with_handling(Handling::Phi);
    let nurse = Principal::person("n", label("UNCLASSIFIED"), "USA", true);
    let d = authz.decide(&nurse, Action::ManageModels, &phi);
    assert_eq!(d.reason, DecisionReason::Mandatory(MandatoryRule::Phi));
    assert!(
        authz
            .decide(&nurse.with_access("PHI"), Action::ManageModels, &phi)
            .allowed
    );
}

#[test]
fn resource_above_system_high_is_refused_even_to_an_admin() {
    let authz = Authorizer::new(label("SECRET//NOFORN"), DEFAULT_POLICIES).unwrap();
    let ts = Resource::model("llama-ts", label("TOP SECRET//NOFORN"));
    for action in Action::ALL {
        let d = authz.decide(&admin(), action, &ts);
        assert!(!d.allowed);
        assert_eq!(
            d.reason,
            DecisionReason::Mandatory(MandatoryRule::AboveSystemHigh)
        );
    }
    // Compartments count too: SI is not within a plain TOP SECRET system high.
    let authz = Authorizer::new(label("TOP SECRET//NOFORN"), DEFAULT_POLICIES).unwrap();
    let si = Resource::model("llama-si", label("TOP SECRET//SI//NOFORN"));
    let d = authz.decide(&admin(), Action::ReadModel, &si);
    assert_eq!(
        d.reason,
        DecisionReason::Mandatory(MandatoryRule::AboveSystemHigh)
    );
    assert!(
        authz
            .decide(&admin(), Action::ReadModel, &secret_model())
            .allowed
    );
}

#[test]
fn a_policy_that_fails_to_evaluate_fails_closed() {
    // The forbid overflows at evaluation; Cedar skips it, so the permit alone would allow.
    let text = r#"
        @id("everyone") permit (principal, action, resource);
        @id("overflowing")
        forbid (principal, action, resource)
        when { principal.clearance_level * 9223372036854775807 * 9 > 0 };
    "#;
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), text).unwrap();
    let d = authz.decide(&admin(), Action::ReadModel, &secret_model());
    assert!(!d.allowed);
    assert_eq!(d.reason, DecisionReason::PolicyError);
    assert_eq!(d.policy_ids, ["overflowing"]);

    // A permit that fails leaves nothing permitting: still refused, and the audit record names it.
    let text = r#"
        @id("overflowing-permit")
        permit (principal, action, resource)
        when { principal.clearance_level * 9223372036854775807 * 9 > 0 };
    "#;
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), text).unwrap();
    let d = authz.decide(&admin(), Action::ReadModel, &secret_model());
    assert!(!d.allowed);
    assert_eq!(d.reason, DecisionReason::PolicyError);
    assert_eq!(d.policy_ids, ["overflowing-permit"]);
}

#[test]
fn action_that_does_not_apply_to_the_resource_is_refused() {
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), DEFAULT_POLICIES).unwrap();
    let d = authz.decide(&admin(), Action::ManageKeys, &secret_model());
    assert_eq!(d.reason, DecisionReason::NotApplicable);
}

#[test]
fn decision_record_serializes_without_labels_or_policy_text() {
    let authz = Authorizer::new(label("TOP SECRET//SI/TK//NOFORN"), DEFAULT_POLICIES).unwrap();
    let user = Principal::person("alice", label("SECRET"), "USA", true);
    let ts = Resource::model("llama-ts", label("TOP SECRET//SI//NOFORN"));
    let d = authz.decide(&user, Action::InvokeModel, &ts);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "allowed": false,
            "action": "invoke_model",
            "principal_id": "alice",
            "resource_kind": "model",
            "resource_id": "llama-ts",
            "reason": {"mandatory": "level"},
            "policy_ids": [],
        })
    );
    let back: scif_authz::Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);

    let shown = d.to_string();
    assert_eq!(shown, "invoke_model on model is not authorized");
    assert_eq!(d.denial_message(), shown);
    for secret in ["TOP", "SECRET", "SI", "level", "NOFORN", "permit"] {
        assert!(!shown.contains(secret), "{shown}");
    }

    let allowed = authz.decide(&admin(), Action::ManageKeys, &Resource::system());
    let json = serde_json::to_value(&allowed).unwrap();
    assert_eq!(json["reason"], "permitted");
    assert_eq!(json["policy_ids"], serde_json::json!(["admins-all"]));
}

#[test]
fn action_and_kind_names_are_stable() {
    let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "invoke_model",
            "list_models",
            "read_model",
            "manage_models",
            "manage_keys",
            "manage_principals",
            "manage_policies",
            "read_audit",
            "read_metrics",
            "retrieve",
            "manage_knowledge_bases"
        ]
    );
    for a in Action::ALL {
        assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
    }
    assert!("delete".parse::<Action>().is_err());
    for k in ResourceKind::ALL {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
}
