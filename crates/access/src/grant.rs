//! No granting what you do not hold.
//!
//! Creating a principal, changing one, or minting a credential for one hands its attributes to
//! someone: the principal itself, or whoever holds the new credential. So every such change is
//! allowed only when the actor holds everything the target holds (as it is and as it will be):
//!
//! - its clearance: the actor's dominates it (level, SCI compartments, ORCON, PROPIN, CUI);
//! - US-person status;
//! - the nationality and releasability groups it is admitted under: a non-US-person actor may
//!   hand out only its own nationality and the groups it is in;
//! - every access (PHI and any other need-to-know access);
//! - every permission the policies give it: over a grid of resource shapes (each kind, each
//!   level, with and without ITAR and PHI), whatever the policies permit the target they must
//!   permit the actor (within the actor's key scopes when a credential is minted). This is how
//!   privileged groups are held: an actor not in `admins` cannot make an administrator, and a
//!   key scoped to `manage_keys` cannot mint one that reaches anything else.
//!
//! The local operator (the CLI) holds everything: it is the host's break-glass path.

use std::collections::BTreeSet;

use scif_authz::{Action, Attribute, Authorizer, Handling, Principal, Resource, ResourceKind};
use scif_labels::{Label, Level};

/// What the actor holds, for comparison.
pub(crate) struct Holder<'a> {
    pub principal: &'a Principal,
    /// The actor's credential's scopes; `None` is every action.
    pub scopes: Option<&'a BTreeSet<String>>,
}

/// The first attribute `target` holds that `actor` does not, or `Ok`. `target_scopes` limits
/// the permissions compared (a new key's scopes); `None` compares every action.
pub(crate) fn shortfall(
    authorizer: &Authorizer,
    actor: &Holder<'_>,
    target: &Principal,
    target_scopes: Option<&BTreeSet<String>>,
) -> Result<(), Attribute> {
    let a = actor.principal;
    if !a.clearance.dominates(&target.clearance) {
        return Err(Attribute::Clearance);
    }
    if target.us_person && !a.us_person {
        return Err(Attribute::UsPerson);
    }
    if !a.us_person {
        // Admitted under a code the actor is not admitted under: a REL TO label listing it
        // would be readable by the target and not by the actor. Any three- or four-letter
        // uppercase group is a possible REL TO entry.
        let admits = |code: &str| code == a.nationality || a.groups.contains(code);
        let is_code =
            |g: &str| matches!(g.len(), 3 | 4) && g.bytes().all(|b| b.is_ascii_uppercase());
        if !admits(&target.nationality) || target.groups.iter().any(|g| is_code(g) && !admits(g)) {
            return Err(Attribute::Releasability);
        }
    }
    if !target.accesses.is_subset(&a.accesses) {
        return Err(Attribute::Access);
    }
    if let (Some(mine), Some(theirs)) = (actor.scopes, target_scopes) {
        if !theirs.is_subset(mine) {
            return Err(Attribute::Scope);
        }
    }
    let in_scope = |scopes: Option<&BTreeSet<String>>, action: Action| {
        scopes.is_none_or(|s| s.contains(action.as_str()))
    };
    for action in Action::ALL {
        if !in_scope(target_scopes, action) {
            continue;
        }
        for resource in grid(action) {
            if authorizer.policy_permits(target, action, &resource)
                && !(in_scope(actor.scopes, action)
                    && authorizer.policy_permits(a, action, &resource))
            {
                return Err(Attribute::Permission);
            }
        }
    }
    Ok(())
}

/// One resource of each shape the policies can tell apart: each kind the action applies to,
/// each level, with and without each handling caveat.
fn grid(action: Action) -> impl Iterator<Item = Resource> {
    let levels = [
        Level::Unclassified,
        Level::Confidential,
        Level::Secret,
        Level::TopSecret,
    ];
    ResourceKind::ALL
        .into_iter()
        .filter(move |k| action.applies_to(*k))
        .flat_map(move |kind| {
            levels.into_iter().flat_map(move |level| {
                [(false, false), (true, false), (false, true), (true, true)]
                    .into_iter()
                    .map(move |(itar, phi)| {
                        let mut r = Resource::new(kind, "*", Label::new(level));
                        if itar {
                            r = r.with_handling(Handling::Itar);
                        }
                        if phi {
                            r = r.with_handling(Handling::Phi);
                        }
                        r
                    })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorizer() -> Authorizer {
        match Authorizer::new(
            Label::parse_banner("TOP SECRET//SI").unwrap_or_else(|_| Label::unclassified()),
            scif_authz::DEFAULT_POLICIES,
        ) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        }
    }

    fn label(s: &str) -> Label {
        match Label::parse_banner(s) {
            Ok(l) => l,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn us(id: &str, clearance: &str) -> Principal {
        Principal::person(id, label(clearance), "USA", true)
    }

    #[test]
    fn an_administrator_grants_what_it_holds_and_nothing_more() {
        let az = authorizer();
        let admin = us("a", "SECRET").with_group("admins");
        let holder = Holder {
            principal: &admin,
            scopes: None,
        };
        assert_eq!(shortfall(&az, &holder, &us("u", "SECRET"), None), Ok(()));
        assert_eq!(
            shortfall(&az, &holder, &us("u", "SECRET").with_group("admins"), None),
            Ok(())
        );
        assert_eq!(
            shortfall(&az, &holder, &us("u", "TOP SECRET"), None),
            Err(Attribute::Clearance)
        );
        assert_eq!(
            shortfall(&az, &holder, &us("u", "SECRET").with_access("PHI"), None),
            Err(Attribute::Access)
        );
        let foreign = Principal::person("f", label("SECRET"), "GBR", false).with_group("admins");
        let holder = Holder {
            principal: &foreign,
            scopes: None,
        };
        assert_eq!(
            shortfall(&az, &holder, &us("u", "SECRET"), None),
            Err(Attribute::UsPerson)
        );
        let usa_not_person = Principal::person("n", label("SECRET"), "USA", false);
        assert_eq!(
            shortfall(&az, &holder, &usa_not_person, None),
            Err(Attribute::Releasability)
        );
        let gbr = Principal::person("g", label("SECRET"), "GBR", false);
        assert_eq!(shortfall(&az, &holder, &gbr, None), Ok(()));
        assert_eq!(
            shortfall(&az, &holder, &gbr.clone().with_group("FVEY"), None),
            Err(Attribute::Releasability)
        );
    }

    #[test]
    fn privileged_groups_and_scopes_are_held_too() {
        let az = authorizer();
        let user = us("u", "SECRET");
        let holder = Holder {
            principal: &user,
            scopes: None,
        };
        // Not in admins: cannot make an administrator, nor an auditor.
        assert_eq!(
            shortfall(&az, &holder, &us("x", "SECRET").with_group("admins"), None),
            Err(Attribute::Permission)
        );
        assert_eq!(
            shortfall(
                &az,
                &holder,
                &us("x", "SECRET").with_group("auditors"),
                None
            ),
            Err(Attribute::Permission)
        );
        let admin = us("a", "SECRET").with_group("admins");
        let only_keys = BTreeSet::from(["manage_keys".to_owned()]);
        let holder = Holder {
            principal: &admin,
            scopes: Some(&only_keys),
        };
        // A key scoped to manage_keys mints only keys scoped within manage_keys.
        assert_eq!(shortfall(&az, &holder, &admin, Some(&only_keys)), Ok(()));
        assert_eq!(
            shortfall(&az, &holder, &admin, None),
            Err(Attribute::Permission)
        );
        let more = BTreeSet::from(["manage_keys".to_owned(), "read_audit".to_owned()]);
        assert_eq!(
            shortfall(&az, &holder, &admin, Some(&more)),
            Err(Attribute::Scope)
        );
    }
}
