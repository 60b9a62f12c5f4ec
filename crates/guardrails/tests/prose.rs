//! False positives on ordinary prose: markings and names over real English text that carries
//! neither: the Python language reference that ships with CPython (`pydoc_data`) and the
//! docstrings of the standard library's modules, classes and functions (a few megabytes). The
//! budgets are what was measured when the marking grammar and the name rules were written
//! (ADR 0013), with room for nothing more.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use scif_guardrails::markings;
use scif_guardrails::scan::{scan, EntitySet};
use scif_guardrails::EntityType;

const PROSE: &str = r#"
import importlib, inspect, sys
import pydoc_data.topics as t
parts = list(t.topics.values())
skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__",
        "pydoc_data", "lib2to3", "ensurepip", "venv", "test", "xxsubtype"}
mods = sorted(n for n in sys.stdlib_module_names if n not in skip and not n.startswith("_"))
for name in mods:
    try:
        m = importlib.import_module(name)
    except Exception:
        continue
    parts.append(m.__doc__ or "")
    for _, obj in inspect.getmembers(m):
        d = getattr(obj, "__doc__", None)
        if isinstance(d, str) and (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)):
            parts.append(d)
sys.stdout.write("\n\n".join(parts))
"#;

fn prose() -> String {
    let out = Command::new("python3")
        .args(["-c", PROSE])
        .output()
        .expect("python3 (the prose corpus is CPython's own documentation)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.len() > 1_000_000,
        "prose corpus is {} bytes",
        text.len()
    );
    text
}

#[test]
fn markings_and_names_on_prose() {
    let text = prose();
    let mb = text.len() as f64 / 1e6;
    let found = markings::find(&text);
    for m in &found {
        let s = m.start.saturating_sub(60);
        let e = (m.end + 60).min(text.len());
        eprintln!(
            "marking {}: {:?}",
            m.canonical(),
            text.get(s..e).unwrap_or("")
        );
    }
    let names: Vec<_> = scan(&text, EntitySet::empty().with(EntityType::Name));
    eprintln!(
        "prose: {mb:.2} MB, {} markings, {} names ({:.1} per MB)",
        found.len(),
        names.len(),
        names.len() as f64 / mb
    );
    for n in names.iter().take(40) {
        eprintln!("name: {:?}", &text[n.start..n.end]);
    }
    // Budgets (ADR 0013): no marking at all; names at most 12 per MB of documentation (the
    // text does name people: authors, "Guido", example names in docstrings).
    assert!(found.is_empty(), "markings in prose: {}", found.len());
    assert!(
        names.len() as f64 / mb <= 12.0,
        "{} names in {mb:.2} MB",
        names.len()
    );
}
