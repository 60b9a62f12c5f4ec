//! The crate graph tells the truth: the service layer has no HTTP in it, not even through a
//! dependency of a dependency. Walks `Cargo.lock` from `scif-service`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

/// Crates that speak or serve HTTP.
const HTTP: &[&str] = &[
    "axum",
    "axum-core",
    "http",
    "hyper",
    "hyper-util",
    "reqwest",
    "tower",
    "tower-http",
    "h2",
];

#[test]
fn the_service_crate_has_no_http_anywhere_below_it() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .unwrap_or_else(|e| panic!("Cargo.lock: {e}"));
    let doc: toml::Table = lock.parse().unwrap_or_else(|e| panic!("Cargo.lock: {e}"));
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in doc["package"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let list: Vec<String> = p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|d| {
                d.iter()
                    .filter_map(|x| x.as_str())
                    // "name" or "name version" when several versions are locked.
                    .map(|x| x.split(' ').next().unwrap_or(x).to_owned())
                    .collect()
            })
            .unwrap_or_default();
        deps.entry(name).or_default().extend(list);
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![("scif-service".to_owned(), vec!["scif-service".to_owned()])];
    while let Some((name, path)) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        assert!(
            !HTTP.contains(&name.as_str()),
            "scif-service reaches {name} through {}",
            path.join(" -> ")
        );
        for d in deps.get(&name).into_iter().flatten() {
            let mut p = path.clone();
            p.push(d.clone());
            todo.push((d.clone(), p));
        }
    }
    assert!(seen.contains("scif-guardrails") && seen.contains("scif-access"));
}
