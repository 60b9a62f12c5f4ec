//! Stop sequences: text is held back only while it could still be the start of a stop string.

/// Tracks generated text and decides how much of it is safe to send.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    text: String,
    sent: usize,
}

/// What to do after new text arrives.
#[derive(Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// Send this text (may be empty) and go on.
    Continue(String),
    /// A stop sequence matched: send this text (what came before it) and finish.
    Stopped(String),
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        Self {
            stops,
            text: String::new(),
            sent: 0,
        }
    }

    pub fn push(&mut self, delta: &str) -> StopOutcome {
        self.text.push_str(delta);
        // Unsent text never holds a finished stop string, and no text that could begin one is
        // ever sent, so every match starts in the unsent part.
        let sent = self.sent;
        let hit = self
            .stops
            .iter()
            .filter_map(|s| self.text[sent..].find(s.as_str()).map(|i| sent + i))
            .min();
        if let Some(at) = hit {
            let out = if at > self.sent {
                self.text[self.sent..at].to_string()
            } else {
                String::new()
            };
            self.sent = self.text.len();
            return StopOutcome::Stopped(out);
        }
        let hold = self.longest_partial_suffix();
        let until = self.text.len() - hold;
        let out = if until > self.sent {
            self.text[self.sent..until].to_string()
        } else {
            String::new()
        };
        self.sent = self.sent.max(until);
        StopOutcome::Continue(out)
    }

    /// Text held back at the end of generation (no stop matched): send it.
    pub fn flush(&mut self) -> String {
        let out = self.text[self.sent..].to_string();
        self.sent = self.text.len();
        out
    }

    fn longest_partial_suffix(&self) -> usize {
        let mut best = 0;
        for s in &self.stops {
            for k in 1..s.len().min(self.text.len() + 1) {
                let start = self.text.len() - k;
                if self.text.is_char_boundary(start)
                    && s.is_char_boundary(k)
                    && s.starts_with(&self.text[start..])
                {
                    best = best.max(k);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], deltas: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for d in deltas {
            match m.push(d) {
                StopOutcome::Continue(t) => out.push_str(&t),
                StopOutcome::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.flush());
        (out, false)
    }

    #[test]
    fn table() {
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &["Hello", " world"], "Hello world", false),
            (
                &["\n\n"],
                &["Para one.", "\n", "\nPara two"],
                "Para one.",
                true,
            ),
            (&["END"], &["the E", "N", "D is near"], "the ", true),
            (&["END"], &["the E", "N", "ding"], "the ENding", false),
            (&["stop"], &["nonstop"], "non", true),
            (&["ab", "b"], &["xab"], "x", true),
            (&["é!"], &["caf", "é", "!"], "caf", true),
            (&["世界"], &["你好世", "x"], "你好世x", false),
        ];
        for (stops, deltas, want, stopped) in cases {
            assert_eq!(
                run(stops, deltas),
                (want.to_string(), *stopped),
                "stops {stops:?} deltas {deltas:?}"
            );
        }
    }
}
