//! The labeled corpus and the scoring rule shared by the corpus and streaming tests (and the
//! same rule as `bench/guardrails/score.py`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use scif_guardrails::EntityType;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Doc {
    pub id: String,
    pub kind: String,
    pub text: String,
    pub entities: Vec<Gold>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Gold {
    #[serde(rename = "type")]
    pub entity: String,
    pub start: usize,
    pub end: usize,
}

pub fn corpus() -> Vec<Doc> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus.jsonl");
    let text = std::fs::read_to_string(path)
        .expect("corpus.jsonl (python3 tests/guardrails/gen_corpus.py)");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("corpus line"))
        .collect()
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// A prediction matches a gold entity of the same type when their spans overlap by at least
/// half of the shorter one; matching is one-to-one, greedy in order of start.
pub fn score(
    gold: &[Gold],
    predicted: &[(EntityType, usize, usize)],
    counts: &mut BTreeMap<EntityType, Counts>,
) {
    let mut used = vec![false; predicted.len()];
    for g in gold {
        let ty = EntityType::from_name(&g.entity).expect("known type");
        let mut hit = None;
        for (k, (pt, ps, pe)) in predicted.iter().enumerate() {
            if used[k] || *pt != ty {
                continue;
            }
            let overlap = g.end.min(*pe).saturating_sub(g.start.max(*ps));
            let shorter = (g.end - g.start).min(pe - ps);
            if overlap * 2 >= shorter && overlap > 0 {
                hit = Some(k);
                break;
            }
        }
        let c = counts.entry(ty).or_default();
        match hit {
            Some(k) => {
                used[k] = true;
                c.tp += 1;
            }
            None => c.fn_ += 1,
        }
    }
    for (k, (pt, _, _)) in predicted.iter().enumerate() {
        if !used[k] {
            counts.entry(*pt).or_default().fp += 1;
        }
    }
}
