#!/usr/bin/env bash
# Side-by-side benchmark: scif's embedded engine and llama.cpp on the same GGUF, prompts and
# thread count, one after the other on this machine. Prints a Markdown table with ratios
# (scif / llama.cpp; above 1 means scif is faster, below 1 means less memory for peak RSS).
#
#   bench/run.sh [THREADS]            (default: 2)
#
# llama.cpp comes from the PyPI package llama-cpp-python, built from source into a virtualenv
# outside the repository ($SCIF_BENCH_VENV, default ~/.cache/scif/bench-venv) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS="${1:-2}"
PROMPT_TOKENS="${PROMPT_TOKENS:-512}"
DECODE_TOKENS="${DECODE_TOKENS:-128}"
STREAMS="${STREAMS:-1,4,16}"
VENV="${SCIF_BENCH_VENV:-$HOME/.cache/scif/bench-venv}"
MODEL="$(scripts/fetch-model.sh)"
OUT_DIR=bench/results
mkdir -p "$OUT_DIR"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import llama_cpp, numpy' 2>/dev/null; then
  echo "building llama-cpp-python into $VENV (takes a while)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet llama-cpp-python numpy psutil
fi

cargo build --release --locked -p scif-engine --example engine_bench >&2
BIN="${CARGO_TARGET_DIR:-target}/release/examples/engine_bench"

echo "scif: $THREADS threads" >&2
"$BIN" "$MODEL" "$THREADS" "$PROMPT_TOKENS" "$DECODE_TOKENS" "$STREAMS" > "$OUT_DIR/scif-$stamp.json"
echo "llama.cpp: $THREADS threads" >&2
"$VENV/bin/python" bench/llamacpp_bench.py --model "$MODEL" --threads "$THREADS" \
  --prompt-tokens "$PROMPT_TOKENS" --decode-tokens "$DECODE_TOKENS" --streams "$STREAMS" > "$OUT_DIR/llamacpp-$stamp.json"

python3 - "$OUT_DIR/scif-$stamp.json" "$OUT_DIR/llamacpp-$stamp.json" "$THREADS" <<'PY'
import json, sys
s, l = (json.load(open(p)) for p in sys.argv[1:3])
rows = [("prompt processing, tokens/s", s["prompt_tps"], l["prompt_tps"], True),
        ("decode, 1 stream, tokens/s", s["decode_tps_1"], l["decode_tps_1"], True)]
for k in sorted(s["aggregate_tps"], key=int):
    rows.append((f"aggregate decode, {k} streams, tokens/s", s["aggregate_tps"][k], l["aggregate_tps"][k], True))
rows.append(("time to first token, ms", s["ttft_ms"], l["ttft_ms"], False))
rows.append(("peak resident memory, MB", s["peak_rss_mb"], l["peak_rss_mb"], False))
print(f"| {sys.argv[3]} threads | scif | llama.cpp | scif / llama.cpp |")
print("|---|---|---|---|")
for name, a, b, _ in rows:
    print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
PY
