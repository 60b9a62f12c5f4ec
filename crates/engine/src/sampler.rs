//! Choosing the next token from logits: penalties, temperature, top-k, top-p, seeded randomness.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};

/// Sampling settings for one request. Temperature 0 means greedy decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub seed: Option<u64>,
    /// Multiplicative penalty (llama.cpp / CTRL style) on tokens already seen; 1.0 is off.
    pub repetition_penalty: f32,
    /// OpenAI-style additive penalties, -2.0..=2.0; 0.0 is off.
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    /// Keep generating through end-of-turn tokens (benchmarks need fixed lengths).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            seed: None,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            ignore_eos: false,
        }
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
    /// Counts of tokens generated so far (OpenAI penalties apply to generated text).
    counts: HashMap<u32, u32>,
    /// Tokens of prompt and output (the repetition penalty looks at both, as llama.cpp does).
    seen: HashSet<u32>,
}

impl Sampler {
    pub fn new(params: SamplingParams, prompt: &[u32]) -> Self {
        let rng = match params.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let seen = prompt.iter().copied().collect();
        Self {
            params,
            rng,
            counts: HashMap::new(),
            seen,
        }
    }

    /// Choose a token and remember it.
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        self.apply_penalties(logits);
        let tok = if self.params.temperature <= 0.0 {
            crate::model::argmax(logits)
        } else {
            self.sample_random(logits)
        };
        *self.counts.entry(tok).or_default() += 1;
        self.seen.insert(tok);
        tok
    }

    fn apply_penalties(&self, logits: &mut [f32]) {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            for t in &self.seen {
                if let Some(l) = logits.get_mut(*t as usize) {
                    *l = if *l > 0.0 {
                        *l / p.repetition_penalty
                    } else {
                        *l * p.repetition_penalty
                    };
                }
            }
        }
        if p.frequency_penalty != 0.0 || p.presence_penalty != 0.0 {
            for (t, c) in &self.counts {
                if let Some(l) = logits.get_mut(*t as usize) {
                    *l -= *c as f32 * p.frequency_penalty + p.presence_penalty;
                }
            }
        }
    }

    fn sample_random(&mut self, logits: &[f32]) -> u32 {
        let p = &self.params;
        let mut idx: Vec<u32> = (0..logits.len() as u32)
            .filter(|i| logits[*i as usize].is_finite())
            .collect();
        if idx.is_empty() {
            return 0;
        }
        // Sort descending by logit; ties broken by id so results depend only on the seed.
        idx.sort_unstable_by(|a, b| {
            logits[*b as usize]
                .total_cmp(&logits[*a as usize])
                .then(a.cmp(b))
        });
        if p.top_k > 0 && idx.len() > p.top_k {
            idx.truncate(p.top_k);
        }
        let max = logits[idx[0] as usize];
        let mut probs: Vec<f32> = idx
            .iter()
            .map(|i| ((logits[*i as usize] - max) / p.temperature).exp())
            .collect();
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= sum);
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, x) in probs.iter().enumerate() {
                acc += x;
                if acc >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            idx.truncate(keep);
            let s: f32 = probs.iter().sum();
            probs.iter_mut().for_each(|x| *x /= s);
        }
        let r: f32 = self.rng.random();
        let mut acc = 0.0;
        for (i, x) in probs.iter().enumerate() {
            acc += x;
            if r < acc {
                return idx[i];
            }
        }
        idx[idx.len() - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, 0.5, 2.9]
    }

    #[test]
    fn greedy_takes_the_largest() {
        let mut s = Sampler::new(
            SamplingParams {
                temperature: 0.0,
                ..Default::default()
            },
            &[],
        );
        assert_eq!(s.sample(&mut logits()), 1);
    }

    #[test]
    fn same_seed_same_choices_and_different_seeds_differ() {
        let run = |seed| {
            let mut s = Sampler::new(
                SamplingParams {
                    temperature: 5.0,
                    seed: Some(seed),
                    ..Default::default()
                },
                &[],
            );
            (0..64).map(|_| s.sample(&mut logits())).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(
            SamplingParams {
                temperature: 10.0,
                top_k: 1,
                seed: Some(1),
                ..Default::default()
            },
            &[],
        );
        for _ in 0..20 {
            assert_eq!(s.sample(&mut logits()), 1);
        }
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let mut s = Sampler::new(
            SamplingParams {
                temperature: 1.0,
                top_p: 0.5,
                seed: Some(3),
                ..Default::default()
            },
            &[],
        );
        for _ in 0..50 {
            let t = s.sample(&mut logits());
            assert!(t == 1 || t == 4, "sampled {t} outside the top-p set");
        }
    }

    #[test]
    fn penalties_push_repeated_tokens_down() {
        // Token 1 leads by 0.1; once generated, a presence penalty of 1 lets token 4 win.
        let mut s = Sampler::new(
            SamplingParams {
                temperature: 0.0,
                presence_penalty: 1.0,
                ..Default::default()
            },
            &[],
        );
        assert_eq!(s.sample(&mut logits()), 1);
        assert_eq!(s.sample(&mut logits()), 4);
        let mut s = Sampler::new(
            SamplingParams {
                temperature: 0.0,
                repetition_penalty: 1.5,
                ..Default::default()
            },
            &[1],
        );
        assert_eq!(s.sample(&mut logits()), 4);
        let mut s = Sampler::new(
            SamplingParams {
                temperature: 0.0,
                frequency_penalty: 0.06,
                ..Default::default()
            },
            &[],
        );
        assert_eq!(s.sample(&mut logits()), 1);
        assert_eq!(s.sample(&mut logits()), 1, "one repeat costs only 0.06");
        assert_eq!(s.sample(&mut logits()), 4, "two repeats cost 0.12");
    }
}
