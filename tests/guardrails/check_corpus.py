#!/usr/bin/env python3
"""Validate the guardrail corpus (crates/guardrails/tests/data/corpus.jsonl) and print per-type counts.

Checks: one JSON object per line with id/kind/text/entities; unique ids; ASCII text; every entity has a known
type and 0 <= start < end <= len(text); entities sorted by start and not overlapping; spans do not start or
end inside a word (the characters just outside are not letters or digits); every one of the 38 types occurs
at least MIN_PER_TYPE times. Exit status 1 on any failure.

Usage: python3 tests/guardrails/check_corpus.py [corpus.jsonl] [--min N]
"""
import collections
import json
import sys

from gen_corpus import TYPES  # the one list of the 38 entity types
KINDS = {"clinical_note", "email", "log", "chat", "table"}


def main(argv):
    path = "crates/guardrails/tests/data/corpus.jsonl"
    min_per_type = 40
    args = list(argv)
    if "--min" in args:
        i = args.index("--min")
        min_per_type = int(args[i + 1])
        del args[i:i + 2]
    if args:
        path = args[0]
    errors = []
    counts = collections.Counter()
    by_kind = collections.Counter()
    in_table = collections.Counter()
    ids = set()
    ndocs = nbytes = nents = 0
    raw = open(path, "rb").read()
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        where = "line %d" % lineno
        try:
            line.decode("ascii")
        except UnicodeDecodeError:
            errors.append(where + ": non-ASCII bytes")
        d = json.loads(line)
        for k in ("id", "kind", "text", "entities"):
            if k not in d:
                errors.append("%s: missing %s" % (where, k))
        where = d.get("id", where)
        if d["id"] in ids:
            errors.append(where + ": duplicate id")
        ids.add(d["id"])
        if d["kind"] not in KINDS:
            errors.append(where + ": bad kind " + d["kind"])
        text = d["text"]
        if not text.isascii():
            errors.append(where + ": text is not ASCII")
        ndocs += 1
        nbytes += len(text.encode("utf-8"))
        by_kind[d["kind"]] += 1
        prev_end = -1
        prev_start = -1
        for e in d["entities"]:
            nents += 1
            t, s, en = e.get("type"), e.get("start"), e.get("end")
            if t not in TYPES:
                errors.append("%s: unknown type %r" % (where, t))
                continue
            if not (isinstance(s, int) and isinstance(en, int) and 0 <= s < en <= len(text)):
                errors.append("%s: bad offsets %r" % (where, e))
                continue
            if s < prev_start:
                errors.append("%s: entities not sorted at %r" % (where, e))
            if s < prev_end:
                errors.append("%s: overlap at %r" % (where, e))
            if s > 0 and text[s - 1].isalnum() or en < len(text) and text[en].isalnum():
                errors.append("%s: span cuts a word: %r %r" % (where, e, text[max(0, s - 3):en + 3]))
            if text[s:en] != text[s:en].strip():
                errors.append("%s: span has surrounding whitespace %r" % (where, e))
            prev_start, prev_end = s, max(prev_end, en)
            counts[t] += 1
            if d["kind"] == "table":
                in_table[t] += 1
    print("docs %d, text bytes %d, entities %d, file bytes %d" % (ndocs, nbytes, nents, len(raw)))
    print("docs by kind: " + ", ".join("%s %d" % kv for kv in sorted(by_kind.items())))
    print("%-42s %6s %6s" % ("type", "total", "table"))
    for t in TYPES:
        flag = "" if counts[t] >= min_per_type else "   <-- below %d" % min_per_type
        print("%-42s %6d %6d%s" % (t, counts[t], in_table[t], flag))
        if counts[t] < min_per_type:
            errors.append("type %s has %d < %d occurrences" % (t, counts[t], min_per_type))
        if in_table[t] == 0:
            errors.append("type %s never occurs in a table" % t)
    if errors:
        print("\n%d problem(s):" % len(errors))
        for e in errors[:50]:
            print("  " + e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
