//! The policy decision point: layer 1, then layer 2.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    AuthorizationError, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet,
    Request, RestrictedExpression,
};
use scif_labels::{Label, Level};

use crate::{mandatory, policy, Action, AuthzError, Decision, DecisionReason, Handling};
use crate::{MandatoryRule, Principal, Resource, ResourceKind};

/// Decides every request: the mandatory rules (system high, labels, ITAR, PHI), then the Cedar
/// policies. Both must allow; with no permitting policy the answer is deny.
///
/// Built once from the deployment's system high and its policy text, then shared: `decide`
/// takes `&self` and does no IO.
#[derive(Debug)]
pub struct Authorizer {
    system_high: Label,
    policies: PolicySet,
    cedar: cedar_policy::Authorizer,
    types: Types,
}

/// Entity type names and action uids, parsed once.
#[derive(Debug)]
struct Types {
    principal: EntityTypeName,
    group: EntityTypeName,
    /// Indexed like [`ResourceKind::ALL`].
    resources: Vec<EntityTypeName>,
    /// Indexed like [`Action::ALL`].
    actions: Vec<EntityUid>,
}

impl Types {
    fn new() -> Result<Types, AuthzError> {
        let name = |n: &str| {
            EntityTypeName::from_str(&format!("Scif::{n}"))
                .map_err(|e| AuthzError::Schema(e.to_string()))
        };
        let action_type = name("Action")?;
        Ok(Types {
            principal: name("Principal")?,
            group: name("Group")?,
            resources: ResourceKind::ALL
                .iter()
                .map(|k| name(k.cedar_type()))
                .collect::<Result<_, _>>()?,
            actions: Action::ALL
                .iter()
                .map(|a| {
                    EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.as_str()))
                })
                .collect(),
        })
    }

    fn resource(&self, kind: ResourceKind) -> Option<&EntityTypeName> {
        let i = ResourceKind::ALL.iter().position(|k| *k == kind)?;
        self.resources.get(i)
    }

    fn action(&self, action: Action) -> Option<&EntityUid> {
        let i = Action::ALL.iter().position(|a| *a == action)?;
        self.actions.get(i)
    }
}

impl Authorizer {
    /// An authorizer for a deployment whose ceiling is `system_high`, with the Cedar policies in
    /// `policies` (see [`crate::DEFAULT_POLICIES`] for a fresh install). Each policy is named by
    /// its `@id("...")` annotation. Policies that do not parse or do not validate against
    /// [`crate::SCHEMA`] are refused with Cedar's diagnostics.
    pub fn new(system_high: Label, policies: &str) -> Result<Authorizer, AuthzError> {
        let schema = policy::schema()?;
        let policies = policy::load(policies, &schema)?;
        Ok(Authorizer {
            system_high,
            policies,
            cedar: cedar_policy::Authorizer::new(),
            types: Types::new()?,
        })
    }

    /// The deployment's ceiling.
    pub fn system_high(&self) -> &Label {
        &self.system_high
    }

    /// The ids of the loaded policies, sorted.
    pub fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .policies
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The mandatory rules alone: may `principal` know of `resource` at all? Callers that add
    /// discretionary checks of their own (a key's scopes) ask this first, so that the order of
    /// checks never tells a caller that something it may not read exists.
    pub fn mandatory(
        &self,
        principal: &Principal,
        resource: &Resource,
    ) -> Result<(), MandatoryRule> {
        mandatory::check(&self.system_high, principal, resource)
    }

    /// May `principal` perform `action` on `resource`?
    pub fn decide(&self, principal: &Principal, action: Action, resource: &Resource) -> Decision {
        let (reason, policy_ids) = self.reason(principal, action, resource);
        Decision {
            allowed: reason == DecisionReason::Permitted,
            action,
            principal_id: principal.id.clone(),
            resource_kind: resource.kind,
            resource_id: resource.id.clone(),
            reason,
            policy_ids,
        }
    }

    fn reason(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> (DecisionReason, Vec<String>) {
        if let Err(rule) = mandatory::check(&self.system_high, principal, resource) {
            return (DecisionReason::Mandatory(rule), Vec::new());
        }
        self.policy_reason(principal, action, resource)
    }

    /// Whether the policies alone (no mandatory rule) permit `action` on `resource`. For
    /// comparing what two principals may do: an actor grants only what it holds.
    pub fn policy_permits(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> bool {
        self.policy_reason(principal, action, resource).0 == DecisionReason::Permitted
    }

    fn policy_reason(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> (DecisionReason, Vec<String>) {
        if !action.applies_to(resource.kind) {
            return (DecisionReason::NotApplicable, Vec::new());
        }
        let Some(request) = self.request(principal, action, resource) else {
            return (DecisionReason::PolicyError, Vec::new());
        };
        let (request, entities) = request;
        let response = self
            .cedar
            .is_authorized(&request, &self.policies, &entities);
        let diagnostics = response.diagnostics();
        let ids = |it: &mut dyn Iterator<Item = String>| {
            let mut v: Vec<String> = it.collect();
            v.sort();
            v
        };
        let determining = ids(&mut diagnostics.reason().map(|id| id.to_string()));
        let errored = ids(&mut diagnostics.errors().map(|e| match e {
            AuthorizationError::PolicyEvaluationError(e) => e.policy_id().to_string(),
        }));
        match response.decision() {
            cedar_policy::Decision::Allow if errored.is_empty() => {
                (DecisionReason::Permitted, determining)
            }
            // A policy that failed to evaluate may have been a forbid: fail closed.
            cedar_policy::Decision::Allow => (DecisionReason::PolicyError, errored),
            cedar_policy::Decision::Deny if !determining.is_empty() => {
                (DecisionReason::ForbiddenByPolicy, determining)
            }
            // Nothing permitted; a policy that failed may have been meant to.
            cedar_policy::Decision::Deny if !errored.is_empty() => {
                (DecisionReason::PolicyError, errored)
            }
            cedar_policy::Decision::Deny => (DecisionReason::NoPolicyPermits, Vec::new()),
        }
    }

    /// The Cedar request and the entities it needs: the principal (in its groups) and the
    /// resource.
    fn request(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Option<(Request, Entities)> {
        let t = &self.types;
        let principal_uid =
            EntityUid::from_type_name_and_id(t.principal.clone(), EntityId::new(&principal.id));
        let groups: HashSet<EntityUid> = principal
            .groups
            .iter()
            .map(|g| EntityUid::from_type_name_and_id(t.group.clone(), EntityId::new(g)))
            .collect();
        let strings = |set: &std::collections::BTreeSet<String>| {
            RestrictedExpression::new_set(
                set.iter()
                    .map(|s| RestrictedExpression::new_string(s.clone())),
            )
        };
        let principal_attrs = HashMap::from([
            (
                "kind".to_owned(),
                RestrictedExpression::new_string(principal.kind.as_str().to_owned()),
            ),
            (
                "clearance_level".to_owned(),
                RestrictedExpression::new_long(level_number(principal.clearance.level())),
            ),
            (
                "nationality".to_owned(),
                RestrictedExpression::new_string(principal.nationality.clone()),
            ),
            (
                "us_person".to_owned(),
                RestrictedExpression::new_bool(principal.us_person),
            ),
            ("groups".to_owned(), strings(&principal.groups)),
            ("accesses".to_owned(), strings(&principal.accesses)),
        ]);
        let principal_entity = Entity::new(principal_uid.clone(), principal_attrs, groups).ok()?;

        let resource_uid = EntityUid::from_type_name_and_id(
            t.resource(resource.kind)?.clone(),
            EntityId::new(&resource.id),
        );
        let resource_attrs = HashMap::from([
            (
                "level".to_owned(),
                RestrictedExpression::new_long(level_number(resource.label.level())),
            ),
            (
                "itar".to_owned(),
                RestrictedExpression::new_bool(resource.handling.contains(&Handling::Itar)),
            ),
            (
                "phi".to_owned(),
                RestrictedExpression::new_bool(resource.handling.contains(&Handling::Phi)),
            ),
        ]);
        let resource_entity =
            Entity::new(resource_uid.clone(), resource_attrs, HashSet::new()).ok()?;

        let entities = Entities::from_entities([principal_entity, resource_entity], None).ok()?;
        let request = Request::new(
            principal_uid,
            t.action(action)?.clone(),
            resource_uid,
            Context::empty(),
            None,
        )
        .ok()?;
        Some((request, entities))
    }
}

/// The number policies see for a level: 0 UNCLASSIFIED to 3 TOP SECRET.
fn level_number(level: Level) -> i64 {
    match level {
        Level::Unclassified => 0,
        Level::Confidential => 1,
        Level::Secret => 2,
        Level::TopSecret => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorizer_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Authorizer>();
    }

    #[test]
    fn every_kind_and_action_has_a_cedar_name() {
        let Ok(types) = Types::new() else {
            panic!("types parse");
        };
        for kind in ResourceKind::ALL {
            assert!(types.resource(kind).is_some(), "{kind}");
        }
        for action in Action::ALL {
            assert!(types.action(action).is_some(), "{action}");
        }
    }
}
