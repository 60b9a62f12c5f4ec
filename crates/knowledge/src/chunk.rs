//! Chunks: runs of consecutive paragraphs with one label, cut into windows of at most
//! `max_tokens` tokens of the embedding model's tokenizer, consecutive windows sharing
//! `overlap_tokens`. A chunk never spans two labels, so each chunk's label is exactly the
//! label of the paragraphs it holds.

use scif_labels::Label;

use crate::portions::Portion;

/// How documents are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpec {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
}

impl ChunkSpec {
    /// Bedrock's `FIXED_SIZE` configuration: `maxTokens` and `overlapPercentage`.
    pub fn fixed(max_tokens: usize, overlap_percentage: usize) -> ChunkSpec {
        ChunkSpec {
            max_tokens: max_tokens.max(1),
            overlap_tokens: (max_tokens * overlap_percentage / 100)
                .min(max_tokens.saturating_sub(1)),
        }
    }
}

/// One chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub text: String,
    pub label: Label,
}

/// Token spans (byte ranges, ascending) of a text, as the embedding model's tokenizer cuts it.
pub type Spans<'a> = dyn Fn(&str) -> Vec<(usize, usize)> + 'a;

/// Cuts labelled paragraphs into chunks. `spec = None` keeps each run whole (`NONE`).
pub fn chunk(portions: &[Portion], spec: Option<ChunkSpec>, spans: &Spans<'_>) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < portions.len() {
        let label = &portions[i].label;
        let mut j = i;
        while j < portions.len() && &portions[j].label == label {
            j += 1;
        }
        let run: Vec<&str> = portions[i..j].iter().map(|p| p.text.as_str()).collect();
        let text = run.join("\n\n");
        match spec {
            None => out.push(Chunk {
                text,
                label: label.clone(),
            }),
            Some(spec) => windows(&text, label, spec, spans, &mut out),
        }
        i = j;
    }
    out
}

fn windows(text: &str, label: &Label, spec: ChunkSpec, spans: &Spans<'_>, out: &mut Vec<Chunk>) {
    let tokens = spans(text);
    if tokens.len() <= spec.max_tokens {
        out.push(Chunk {
            text: text.to_owned(),
            label: label.clone(),
        });
        return;
    }
    let step = spec.max_tokens - spec.overlap_tokens.min(spec.max_tokens - 1);
    let mut start = 0;
    loop {
        let end = (start + spec.max_tokens).min(tokens.len());
        let (a, b) = (tokens[start].0, tokens[end - 1].1);
        if let Some(t) = text.get(a..b) {
            out.push(Chunk {
                text: t.to_owned(),
                label: label.clone(),
            });
        }
        if end == tokens.len() {
            break;
        }
        start += step;
    }
}

/// Whitespace-separated words as spans: the tokenizer used when a model has none to offer.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str, label: &str) -> Portion {
        Portion {
            text: text.into(),
            label: Label::parse_banner(label).unwrap_or_else(|_| Label::unclassified()),
        }
    }

    #[test]
    fn runs_of_one_label_and_windows_with_overlap() {
        let ps = [
            p("a b c", "UNCLASSIFIED"),
            p("d e", "UNCLASSIFIED"),
            p("s1 s2 s3 s4 s5 s6 s7", "SECRET"),
        ];
        let c = chunk(
            &ps,
            Some(ChunkSpec {
                max_tokens: 5,
                overlap_tokens: 2,
            }),
            &word_spans,
        );
        let texts: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["a b c\n\nd e", "s1 s2 s3 s4 s5", "s4 s5 s6 s7"]);
        assert_eq!(c[1].label.banner(), "SECRET");
        assert_eq!(ChunkSpec::fixed(300, 20).overlap_tokens, 60);
    }
}
