#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The label predicate inside the scan: selective labels still fill the window, nothing
//! unreadable comes back, filters cannot widen access, and the withheld count is a count.

use std::sync::Arc;

use scif_knowledge::{Attr, Attrs, Filter, KbIndex, Mode, NewChunk, Query};
use scif_labels::Label;

fn vector(i: usize) -> Vec<f32> {
    let mut v = [0.0f32; 8];
    v[i % 8] = 1.0;
    v[(i + 3) % 8] = 0.5;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn build(n: usize, secret_every: usize) -> KbIndex {
    let mut ix = KbIndex::new(8);
    for i in 0..n {
        let secret = i % secret_every != 0;
        let label = if secret {
            "SECRET//NOFORN"
        } else {
            "UNCLASSIFIED"
        };
        let mut attrs = Attrs::new();
        attrs.insert("team".into(), Attr::String(format!("t{}", i % 3)));
        ix.insert(NewChunk {
            id: i as i64,
            data_source: "ds".into(),
            document: format!("d{i}"),
            text: format!("fuel depot report number {i} logistics"),
            label: label.into(),
            doc_label: label.into(),
            attrs: Arc::new(attrs),
            vector: vector(i),
        });
    }
    ix
}

fn unclass_reader(l: &Label) -> bool {
    Label::unclassified().dominates(l)
}

#[test]
fn a_one_percent_label_still_fills_the_window() {
    let ix = build(2000, 100); // 20 UNCLASSIFIED chunks of 2000
    for mode in [Mode::Hybrid, Mode::Semantic, Mode::Lexical] {
        let r = ix.search(&Query {
            text: "fuel depot logistics",
            vector: &vector(0),
            mode,
            window: 10,
            filter: None,
            readable: &unclass_reader,
        });
        assert_eq!(r.hits.len(), 10, "{mode:?}");
        assert!(r.hits.iter().all(|h| h.label.banner() == "UNCLASSIFIED"));
        assert!(
            r.withheld > 0 && r.withheld <= 10,
            "{mode:?} {}",
            r.withheld
        );
    }
}

#[test]
fn filters_narrow_and_never_widen() {
    let ix = build(300, 2);
    let f = Filter::parse(&serde_json::json!({"orAll": [
        {"equals": {"key": "team", "value": "t1"}},
        {"notEquals": {"key": "team", "value": "zzz"}}
    ]}))
    .unwrap();
    let r = ix.search(&Query {
        text: "report",
        vector: &vector(1),
        mode: Mode::Hybrid,
        window: 100,
        filter: Some(&f),
        readable: &unclass_reader,
    });
    assert_eq!(r.hits.len(), 100);
    assert!(r.hits.iter().all(|h| h.label.banner() == "UNCLASSIFIED"));
}

#[test]
fn an_unparseable_stored_label_is_unreadable_to_everyone() {
    let mut ix = KbIndex::new(8);
    ix.insert(NewChunk {
        id: 1,
        data_source: "ds".into(),
        document: "d".into(),
        text: "fuel".into(),
        label: "GARBLED//XX".into(),
        doc_label: "GARBLED//XX".into(),
        attrs: Arc::new(Attrs::new()),
        vector: vector(0),
    });
    let r = ix.search(&Query {
        text: "fuel",
        vector: &vector(0),
        mode: Mode::Hybrid,
        window: 5,
        filter: None,
        readable: &|_| true,
    });
    assert!(r.hits.is_empty());
    assert_eq!(r.withheld, 1);
    assert!(ix.get(1, &|_| true).is_none());
}

#[test]
fn attributes_of_an_unreadable_document_are_invisible_to_filters() {
    let mut ix = KbIndex::new(8);
    let mut attrs = Attrs::new();
    attrs.insert("project".into(), Attr::String("BLUEFIN".into()));
    ix.insert(NewChunk {
        id: 1,
        data_source: "ds".into(),
        document: "d".into(),
        text: "(U) cafeteria hours".into(),
        label: "UNCLASSIFIED".into(),
        doc_label: "SECRET".into(),
        attrs: Arc::new(attrs),
        vector: vector(0),
    });
    let probe =
        Filter::parse(&serde_json::json!({"equals": {"key": "project", "value": "BLUEFIN"}}))
            .unwrap();
    let q = |filter| Query {
        text: "cafeteria",
        vector: &[],
        mode: Mode::Lexical,
        window: 5,
        filter,
        readable: &unclass_reader,
    };
    assert!(ix.search(&q(Some(&probe))).hits.is_empty());
    let r = ix.search(&q(None));
    assert_eq!(r.hits.len(), 1);
    assert!(!r.hits[0].document_readable);
}
