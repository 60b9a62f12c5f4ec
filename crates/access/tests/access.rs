#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_access::admin::{Actor, AdminError, NewKey, NewPrincipal, PrincipalPatch};
use scif_access::{Access, AccessOptions, AuthFailure, Caller, ClientCert, Presented};
use scif_authz::{Action, DecisionReason, Resource};
use scif_identity::{ApiKeys, AuthnError};
use scif_labels::Label;
use scif_store::Store;

fn label(s: &str) -> Label {
    Label::parse_banner(s).unwrap()
}

async fn access(dir: &std::path::Path) -> Access {
    let store = Store::open(dir).await.unwrap();
    let pepper = scif_access::load_or_create_pepper(dir).unwrap();
    Access::new(
        store,
        AccessOptions {
            keys: ApiKeys::new(ApiKeys::DEFAULT_PREFIX, &pepper).unwrap(),
            jwt: None,
            system_high: label("TOP SECRET//SI"),
            default_input_label: None,
            sigv4_vault: Some(scif_access::sigv4::Vault::new(&[9u8; 32]).unwrap()),
        },
    )
    .await
    .unwrap()
}

fn person(id: &str, clearance: &str, nationality: &str, groups: &[&str]) -> NewPrincipal {
    NewPrincipal {
        id: id.into(),
        kind: "person".into(),
        clearance: clearance.into(),
        nationality: nationality.into(),
        us_person: nationality == "USA",
        groups: groups.iter().map(|g| g.to_string()).collect(),
        accesses: vec![],
    }
}

async fn key(a: &Access, principal: &str, scopes: &[&str], expires: Option<u64>) -> String {
    a.create_key(
        Actor::LocalOperator,
        NewKey {
            principal: principal.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_in_secs: expires,
            description: String::new(),
        },
    )
    .await
    .unwrap()
    .secret
    .expose()
    .to_owned()
}

async fn login(a: &Access, secret: &str) -> Result<Caller, AuthFailure> {
    let header = format!("Bearer {secret}");
    a.authenticate(&Presented {
        authorization: Some(&header),
        client_cert: None,
        sigv4: None,
    })
    .await
}

fn reason(r: Result<Caller, AuthFailure>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

#[tokio::test]
async fn api_keys_verify_and_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(dir.path()).await;
    let admin = a
        .bootstrap()
        .await
        .unwrap()
        .expect("fresh store bootstraps");
    assert!(a.bootstrap().await.unwrap().is_none(), "only once");
    let caller = login(&a, admin.secret.expose()).await.unwrap();
    assert_eq!(caller.principal.id, "admin");
    assert!(caller.principal.groups.contains("admins"));
    assert_eq!(caller.principal.clearance, label("TOP SECRET//SI"));

    a.create_principal(Actor::LocalOperator, person("bob", "SECRET", "USA", &[]))
        .await
        .unwrap();
    let good = key(&a, "bob", &[], None).await;
    assert_eq!(reason(login(&a, &good).await), "ok");

    // A changed secret, an unknown id, garbage, and no credential at all.
    let mut forged = good.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'a' { 'b' } else { 'a' });
    assert_eq!(reason(login(&a, &forged).await), "invalid_credentials");
    assert_eq!(
        reason(login(&a, "scif_aaaaaaaaaaaaaaaa_bbbb").await),
        "invalid_credentials"
    );
    assert_eq!(
        reason(
            a.authenticate(&Presented {
                authorization: Some("Basic Zm9vOmJhcg=="),
                client_cert: None,
                sigv4: None
            })
            .await
        ),
        "malformed"
    );
    assert_eq!(
        reason(a.authenticate(&Presented::default()).await),
        "missing"
    );

    // Revoked.
    let id = a.api_keys().key_id(&good).unwrap();
    a.revoke_key(Actor::LocalOperator, id.as_str())
        .await
        .unwrap();
    assert_eq!(reason(login(&a, &good).await), "revoked");

    // Expired.
    let short = key(&a, "bob", &[], Some(1)).await;
    assert_eq!(reason(login(&a, &short).await), "ok");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(reason(login(&a, &short).await), "expired");

    // A disabled principal's keys stop working; enabling restores them.
    let k = key(&a, "bob", &[], None).await;
    let off = PrincipalPatch {
        disabled: Some(true),
        ..Default::default()
    };
    a.update_principal(Actor::LocalOperator, "bob", off)
        .await
        .unwrap();
    assert_eq!(reason(login(&a, &k).await), "invalid_credentials");
    let on = PrincipalPatch {
        disabled: Some(false),
        ..Default::default()
    };
    a.update_principal(Actor::LocalOperator, "bob", on)
        .await
        .unwrap();
    assert_eq!(reason(login(&a, &k).await), "ok");

    // Deleting the principal deletes its keys.
    a.delete_principal(Actor::LocalOperator, "bob")
        .await
        .unwrap();
    assert_eq!(reason(login(&a, &k).await), "invalid_credentials");
}

#[tokio::test]
async fn scopes_client_certs_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(dir.path()).await;
    a.create_principal(
        Actor::LocalOperator,
        person("carol", "SECRET", "USA", &["admins"]),
    )
    .await
    .unwrap();
    let narrow = key(&a, "carol", &["invoke_model"], None).await;
    let caller = login(&a, &narrow).await.unwrap();
    let model = Resource::model("m", label("SECRET"));
    assert!(a.authorize(&caller, Action::InvokeModel, &model).allowed);
    let d = a.authorize(&caller, Action::ManageKeys, &Resource::system());
    assert_eq!(
        d.reason,
        DecisionReason::OutOfScope,
        "admin, but the key is scoped"
    );
    assert!(a
        .create_key(
            Actor::LocalOperator,
            NewKey {
                principal: "carol".into(),
                scopes: vec!["fly".into()],
                ..Default::default()
            }
        )
        .await
        .is_err());

    // Client certificates name an enabled principal; an unknown one is refused.
    let cert = |identity| Presented {
        authorization: None,
        client_cert: Some(ClientCert {
            identity,
            subject: "CN=x",
            fingerprint: "00",
        }),
        sigv4: None,
    };
    assert_eq!(
        a.authenticate(&cert("carol")).await.unwrap().principal.id,
        "carol"
    );
    assert_eq!(
        reason(a.authenticate(&cert("mallory")).await),
        "invalid_credentials"
    );

    // Input labels: declared must be readable by the caller; undeclared is the clearance.
    assert_eq!(a.input_label(&caller, None).unwrap(), label("SECRET"));
    assert!(a.input_label(&caller, Some(&label("CONFIDENTIAL"))).is_ok());
    assert!(a.input_label(&caller, Some(&label("TOP SECRET"))).is_err());
    assert!(a.input_label(&caller, Some(&label("SECRET//SI"))).is_err());
    let _ = AuthnError::Malformed;
}

#[tokio::test]
async fn admins_cannot_see_or_grant_above_their_clearance() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(dir.path()).await;
    a.create_principal(
        Actor::LocalOperator,
        person("s-admin", "SECRET", "USA", &["admins"]),
    )
    .await
    .unwrap();
    a.create_principal(
        Actor::LocalOperator,
        person("ts-user", "TOP SECRET", "USA", &[]),
    )
    .await
    .unwrap();
    a.create_principal(
        Actor::LocalOperator,
        person("u-user", "UNCLASSIFIED", "USA", &[]),
    )
    .await
    .unwrap();
    let s_admin = login(&a, &key(&a, "s-admin", &[], None).await)
        .await
        .unwrap();
    let u_user = login(&a, &key(&a, "u-user", &[], None).await)
        .await
        .unwrap();
    let actor = Actor::Caller(&s_admin);

    let ids: Vec<String> = a
        .list_principals(actor)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        ids,
        ["s-admin", "u-user"],
        "the TOP SECRET principal is invisible"
    );
    // Hidden and missing answer alike; only the hidden one carries the decision (for the
    // audit trail).
    let hidden = a.get_principal(actor, "ts-user").await.unwrap_err();
    let missing = a.get_principal(actor, "nobody").await.unwrap_err();
    assert!(hidden.is_not_found() && missing.is_not_found());
    assert_eq!(
        hidden.to_string().replace("ts-user", "x"),
        missing.to_string().replace("nobody", "x")
    );
    assert!(hidden.decision().is_some_and(|d| !d.allowed) && missing.decision().is_none());
    assert!(a
        .create_key(
            actor,
            NewKey {
                principal: "ts-user".into(),
                ..Default::default()
            }
        )
        .await
        .is_err_and(|e| e.is_not_found()));
    // Keys for principals within the admin's clearance: created, listed, revoked.
    let k = a
        .create_key(
            actor,
            NewKey {
                principal: "u-user".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(login(&a, k.secret.expose()).await.is_ok());
    let listed: Vec<String> = a
        .list_keys(actor, None)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.principal_id)
        .collect();
    assert!(listed.contains(&"u-user".to_string()) && !listed.contains(&"ts-user".to_string()));
    a.revoke_key(actor, &k.record.id).await.unwrap();
    // No granting a clearance one does not hold, nor raising someone to it.
    assert!(matches!(
        a.create_principal(actor, person("new", "TOP SECRET", "USA", &[]))
            .await,
        Err(AdminError::Refused { .. })
    ));
    let raise = PrincipalPatch {
        clearance: Some("TOP SECRET".into()),
        ..Default::default()
    };
    assert!(matches!(
        a.update_principal(actor, "u-user", raise).await,
        Err(AdminError::Refused { .. })
    ));
    // Above system high is refused even to the local operator.
    assert!(matches!(
        a.create_principal(
            Actor::LocalOperator,
            person("x", "TOP SECRET//TK", "USA", &[])
        )
        .await,
        Err(AdminError::Invalid(_))
    ));
    // Not an admin: denied by policy.
    assert!(matches!(
        a.list_principals(Actor::Caller(&u_user)).await,
        Err(AdminError::Denied(_))
    ));
    // Global policy is a system-high matter: below it, policies are not even there.
    assert!(a
        .set_policies(Actor::Caller(&u_user), "")
        .await
        .is_err_and(|e| e.is_not_found()));
}

#[tokio::test]
async fn policies_are_validated_versioned_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(dir.path()).await;
    assert_eq!(a.policy_version(), 1, "defaults stored as version 1");
    a.create_principal(Actor::LocalOperator, person("dave", "SECRET", "USA", &[]))
        .await
        .unwrap();
    let dave = login(&a, &key(&a, "dave", &[], None).await).await.unwrap();
    let model = Resource::model("m", label("SECRET"));
    assert!(a.authorize(&dave, Action::InvokeModel, &model).allowed);

    let err = a
        .set_policies(
            Actor::LocalOperator,
            "permit (principal, action == Scif::Action::\"fly\", resource);",
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, AdminError::Invalid(ref m) if m.contains("fly")),
        "{err}"
    );
    assert_eq!(a.policy_version(), 1, "refused set changes nothing");

    // Only admins from now on: dave loses model access at once.
    let only_admins =
        "@id(\"admins\")\npermit (principal in Scif::Group::\"admins\", action, resource);";
    let v = a
        .set_policies(Actor::LocalOperator, only_admins)
        .await
        .unwrap();
    assert_eq!(v.version, 2);
    let d = a.authorize(&dave, Action::InvokeModel, &model);
    assert_eq!(d.reason, DecisionReason::NoPolicyPermits);

    // A second process (the CLI) stores a version; the server picks it up.
    let other = access(dir.path()).await;
    assert_eq!(other.policy_version(), 2);
    other
        .set_policies(Actor::LocalOperator, scif_authz::DEFAULT_POLICIES)
        .await
        .unwrap();
    assert!(a.reload_policies_if_changed().await.unwrap());
    assert!(a.authorize(&dave, Action::InvokeModel, &model).allowed);
    assert!(!a.reload_policies_if_changed().await.unwrap());
}
