#!/usr/bin/env bash
# Teacher-forced top-1 agreement with llama.cpp for each quantization type: the default Q4_1
# model, and llama.cpp's own requantizations of it to Q8_0 and Q4_0 (every tensor, `pure`, so
# that scif's kernels run every product) and to Q4_K_M (a mix that scif runs on candle's
# kernels). For each file llama.cpp records its top-1 tokens on the fixture's paragraph
# (bench/record_llamacpp_fixture.py) and scif is measured against them.
#
#   bench/agreement.sh
#
# Needs the llama-cpp-python virtualenv that bench/run.sh builds.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SCIF_BENCH_VENV:-$HOME/.cache/scif/bench-venv}"
MODEL="$(scripts/fetch-model.sh)"
DIR="$(dirname "$MODEL")"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

cargo build --release --locked -p scif-engine --example agreement >&2
BIN="${CARGO_TARGET_DIR:-target}/release/examples/agreement"

for t in Q4_1 Q8_0 Q4_0 Q4_K_M; do
  m="$MODEL"
  if [ "$t" != Q4_1 ]; then
    m="$DIR/SmolLM2-135M-Instruct.requant-$t.gguf"
    if [ ! -f "$m" ]; then
      "$VENV/bin/python" - "$MODEL" "$m" "$t" <<'PY' >&2
import ctypes, sys
import llama_cpp
src, dst, kind = sys.argv[1:4]
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
p.allow_requantize = True
p.pure = kind in ("Q8_0", "Q4_0")
rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p))
sys.exit(rc)
PY
    fi
  fi
  "$VENV/bin/python" bench/record_llamacpp_fixture.py --model "$m" --skip-sha-check \
    --top1-out "$OUT/top1-$t.json" --tokenize-out "$OUT/tok-$t.json" >&2
  "$BIN" "$m" "$OUT/top1-$t.json" | python3 -c "
import json, sys
r = json.load(sys.stdin)
print(f\"| $t | {r['agree']}/{r['positions']} | {r['ratio']:.4f} | {r['kernels']} |\")"
done
