//! The admin decision matrix: actor × target × attribute × expected, written out by hand. Each
//! row creates a principal (or mints a key) as one actor and says what must happen: created, or
//! refused for the attribute the actor lacks, or refused on the target's label, or by policy.
//! The mandatory rules come first: an actor below the target's clearance is refused on the
//! label even when the policies would refuse it too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scif_access::admin::{Actor, AdminError, NewKey, NewPrincipal};
use scif_access::{Access, AccessOptions, Caller, Presented};
use scif_authz::{Attribute, DecisionReason};
use scif_identity::ApiKeys;
use scif_labels::Label;
use scif_store::Store;

async fn access(dir: &std::path::Path) -> Access {
    let store = Store::open(dir).await.unwrap();
    let pepper = scif_access::load_or_create_pepper(dir).unwrap();
    Access::new(
        store,
        AccessOptions {
            keys: ApiKeys::new(ApiKeys::DEFAULT_PREFIX, &pepper).unwrap(),
            jwt: None,
            system_high: Label::parse_banner("TOP SECRET//SI").unwrap(),
            default_input_label: None,
            sigv4_vault: Some(scif_access::sigv4::Vault::new(&[9u8; 32]).unwrap()),
        },
    )
    .await
    .unwrap()
}

/// A principal: id, clearance, nationality, US person, groups, accesses.
fn who(
    id: &str,
    clearance: &str,
    nationality: &str,
    us: bool,
    groups: &[&str],
    accesses: &[&str],
) -> NewPrincipal {
    NewPrincipal {
        id: id.into(),
        kind: "person".into(),
        clearance: clearance.into(),
        nationality: nationality.into(),
        us_person: us,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        accesses: accesses.iter().map(|a| a.to_string()).collect(),
    }
}

async fn caller(a: &Access, p: NewPrincipal, scopes: &[&str]) -> Caller {
    let id = p.id.clone();
    if a.get_principal(Actor::LocalOperator, &id).await.is_err() {
        a.create_principal(Actor::LocalOperator, p).await.unwrap();
    }
    let k = a
        .create_key(
            Actor::LocalOperator,
            NewKey {
                principal: id,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let header = format!("Bearer {}", k.secret.expose());
    a.authenticate(&Presented {
        authorization: Some(&header),
        client_cert: None,
        sigv4: None,
    })
    .await
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Done.
    Yes,
    /// Refused: the actor lacks this attribute.
    NotHeld(Attribute),
    /// Refused on the target's label (the account's clearance is not one the actor may hold).
    Label,
    /// Refused by policy or by the key's scopes.
    Denied,
    /// The target is hidden from the actor: "not found".
    Hidden,
}

fn outcome<T>(r: Result<T, AdminError>) -> Expect {
    match r {
        Ok(_) => Expect::Yes,
        Err(AdminError::Refused { decision, .. }) => match decision.reason {
            DecisionReason::NotHeld(a) => Expect::NotHeld(a),
            DecisionReason::Mandatory(_) => Expect::Label,
            other => panic!("refused for {other:?}"),
        },
        Err(AdminError::Denied(_)) => Expect::Denied,
        Err(e) if e.is_not_found() => Expect::Hidden,
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn who_may_create_whom() {
    use Attribute::*;
    use Expect::*;
    let dir = tempfile::tempdir().unwrap();
    let a = access(dir.path()).await;
    let ts = caller(
        &a,
        who("ts", "TOP SECRET//SI", "USA", true, &["admins"], &[]),
        &[],
    )
    .await;
    let s = caller(&a, who("s", "SECRET", "USA", true, &["admins"], &[]), &[]).await;
    let gbr = caller(
        &a,
        who("gbr", "SECRET", "GBR", false, &["admins"], &[]),
        &[],
    )
    .await;
    let phi = caller(
        &a,
        who("phi", "SECRET", "USA", true, &["admins"], &["PHI"]),
        &[],
    )
    .await;
    let user = caller(&a, who("user", "UNCLASSIFIED", "USA", true, &[], &[]), &[]).await;
    let ts_keys = caller(&a, who("ts", "", "", true, &[], &[]), &["manage_keys"]).await;
    let ts_princ = caller(
        &a,
        who("ts", "", "", true, &[], &[]),
        &["manage_principals"],
    )
    .await;
    let actors = [
        ("ts", &ts),
        ("s", &s),
        ("gbr", &gbr),
        ("phi", &phi),
        ("user", &user),
        ("ts-keys", &ts_keys),
        // A key scoped to manage_principals creates what its principal holds (scopes limit
        // the key's own actions; minting keys is where they bound what is handed out).
        ("ts-princ", &ts_princ),
    ];
    // Target, then the expected outcome for each actor in the order above.
    #[rustfmt::skip]
    let rows: Vec<(NewPrincipal, [Expect; 7])> = vec![
        (who("", "UNCLASSIFIED", "USA", true, &[], &[]),           [Yes, Yes, NotHeld(UsPerson), Yes, Denied, Denied, Yes]),
        (who("", "UNCLASSIFIED", "GBR", false, &[], &[]),          [Yes, Yes, Yes, Yes, Denied, Denied, Yes]),
        (who("", "SECRET", "USA", true, &[], &[]),                 [Yes, Yes, Label, Yes, Label, Denied, Yes]),
        (who("", "TOP SECRET", "USA", true, &[], &[]),             [Yes, Label, Label, Label, Label, Denied, Yes]),
        (who("", "TOP SECRET//SI", "USA", true, &[], &[]),         [Yes, Label, Label, Label, Label, Denied, Yes]),
        (who("", "UNCLASSIFIED", "USA", true, &[], &["PHI"]),      [NotHeld(Access), NotHeld(Access), NotHeld(UsPerson), Yes, Denied, Denied, NotHeld(Access)]),
        (who("", "UNCLASSIFIED", "USA", true, &["admins"], &[]),   [Yes, Yes, NotHeld(UsPerson), Yes, Denied, Denied, Yes]),
        (who("", "UNCLASSIFIED", "USA", true, &["auditors"], &[]), [Yes, Yes, NotHeld(UsPerson), Yes, Denied, Denied, Yes]),
        (who("", "UNCLASSIFIED", "GBR", false, &["FVEY"], &[]),    [Yes, Yes, NotHeld(Releasability), Yes, Denied, Denied, Yes]),
        (who("", "UNCLASSIFIED", "GBR", false, &["GBR"], &[]),     [Yes, Yes, Yes, Yes, Denied, Denied, Yes]),
        (who("", "UNCLASSIFIED", "AUS", false, &[], &[]),          [Yes, Yes, NotHeld(Releasability), Yes, Denied, Denied, Yes]),
        (who("", "UNCLASSIFIED", "USA", false, &[], &[]),          [Yes, Yes, NotHeld(Releasability), Yes, Denied, Denied, Yes]),
        (who("", "UNCLASSIFIED", "GBR", false, &["analysts"], &[]), [Yes, Yes, Yes, Yes, Denied, Denied, Yes]),
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for (row, (target, expected)) in rows.into_iter().enumerate() {
        for ((name, actor), want) in actors.iter().zip(expected) {
            n += 1;
            let mut t = target.clone();
            t.id = format!("t{row}-{name}");
            let got = outcome(a.create_principal(Actor::Caller(actor), t.clone()).await);
            if got != want {
                failures.push(format!("{name} creating {t:?}: want {want:?}, got {got:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn who_may_mint_keys_for_whom() {
    use Attribute::*;
    use Expect::*;
    let dir = tempfile::tempdir().unwrap();
    let a = access(dir.path()).await;
    let s = caller(&a, who("s", "SECRET", "USA", true, &["admins"], &[]), &[]).await;
    let gbr = caller(
        &a,
        who("gbr", "UNCLASSIFIED", "GBR", false, &["admins"], &[]),
        &[],
    )
    .await;
    let phi = caller(
        &a,
        who("phi", "SECRET", "USA", true, &["admins"], &["PHI"]),
        &[],
    )
    .await;
    let s_keys = caller(&a, who("s", "", "", true, &[], &[]), &["manage_keys"]).await;
    for p in [
        who("plain", "UNCLASSIFIED", "USA", true, &[], &[]),
        who("nurse", "UNCLASSIFIED", "USA", true, &[], &["PHI"]),
        who("top", "TOP SECRET", "USA", true, &["admins"], &[]),
        who("brit", "UNCLASSIFIED", "GBR", false, &[], &[]),
        who("auditor", "UNCLASSIFIED", "USA", true, &["auditors"], &[]),
    ] {
        a.create_principal(Actor::LocalOperator, p).await.unwrap();
    }
    let actors = [("s", &s), ("gbr", &gbr), ("phi", &phi), ("s-keys", &s_keys)];
    #[rustfmt::skip]
    let rows: Vec<(&str, &[&str], [Expect; 4])> = vec![
        ("plain", &[], [Yes, NotHeld(UsPerson), Yes, Yes]),
        ("plain", &["invoke_model"], [Yes, NotHeld(UsPerson), Yes, NotHeld(Scope)]),
        ("plain", &["manage_keys"], [Yes, NotHeld(UsPerson), Yes, Yes]),
        ("nurse", &[], [NotHeld(Access), NotHeld(UsPerson), Yes, NotHeld(Access)]),
        ("top", &[], [Hidden, Hidden, Hidden, Hidden]),
        ("brit", &[], [Yes, Yes, Yes, Yes]),
        ("auditor", &[], [Yes, NotHeld(UsPerson), Yes, Yes]),
        ("auditor", &["read_audit"], [Yes, NotHeld(UsPerson), Yes, NotHeld(Scope)]),
        ("s", &[], [Yes, Hidden, Yes, Yes]),
    ];
    let mut failures = Vec::new();
    for (target, scopes, expected) in rows {
        for ((name, actor), want) in actors.iter().zip(expected) {
            let got = a
                .create_key(
                    Actor::Caller(actor),
                    NewKey {
                        principal: target.into(),
                        scopes: scopes.iter().map(|s| s.to_string()).collect(),
                        ..Default::default()
                    },
                )
                .await;
            if let Ok(k) = &got {
                // Scopes only shrink: a scoped minter's key is within its scopes.
                if name.ends_with("-keys") {
                    assert!(
                        k.record.scopes.iter().all(|s| s == "manage_keys"),
                        "{k:?}",
                        k = k.record
                    );
                }
            }
            let got = outcome(got);
            if got != want {
                failures.push(format!(
                    "{name} minting for {target} {scopes:?}: want {want:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
