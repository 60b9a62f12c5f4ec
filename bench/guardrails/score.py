#!/usr/bin/env python3
"""Score PII-detector predictions against the labeled guardrail corpus.

    python3 bench/guardrails/score.py CORPUS PRED[:TIMING] [PRED[:TIMING] ...]
        [--covers TOOL=all|TYPE,TYPE,...] [--json scores.json] [--baseline TOOL]

PRED is a predictions JSONL file, one line per document: {"id": ..., "entities": [{"type", "start", "end"}]}.
TIMING is the tool's timing JSON ({"tool", "bytes", "seconds", "docs", "latency_ms": {"p50", "p99"},
"covers": [...] or "all"}); when omitted, "<PRED without .jsonl>-timing.json" is used if it exists.
The tool name comes from the timing file's "tool", else from PRED's file name.

Coverage: a tool covers a type if its type mapping can produce it. Taken from --covers TOOL=..., else the
timing file's "covers" ("all" means all 38 types), else inferred from the types the predictions contain
(marked "inferred"). Uncovered types are shown but left out of the covered-type micro average.

Matching: per document and type, predictions are taken in order of start (then end); each is matched to the
earliest-starting unmatched gold entity of the same type whose overlap with it is at least 50% of the
shorter of the two spans. One-to-one, greedy. Unmatched predictions are FP, unmatched gold entities FN.
Every predictions file is expected to hold a line for every document. If it holds lines for only some
documents (a --limit run), only those documents are scored, and the tables say so.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "guardrails"))
from gen_corpus import TYPES  # noqa: E402  (the one list of the 38 entity types)


def load_jsonl(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                if "id" in d:
                    out[d["id"]] = d
    return out


def overlaps_enough(a, b):
    ov = min(a[1], b[1]) - max(a[0], b[0])
    if ov <= 0:
        return False
    shorter = min(a[1] - a[0], b[1] - b[0])
    return ov * 2 >= shorter


def match(gold, pred):
    """gold, pred: lists of (start, end) of one type in one document. Returns (tp, fp, fn)."""
    gold = sorted(gold)
    used = [False] * len(gold)
    tp = 0
    for p in sorted(pred):
        for i, g in enumerate(gold):
            if not used[i] and overlaps_enough(g, p):
                used[i] = True
                tp += 1
                break
    return tp, len(pred) - tp, len(gold) - tp


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score_tool(corpus, preds, ids):
    counts = {t: [0, 0, 0] for t in TYPES}
    extra = {}
    for doc_id in ids:
        doc = corpus[doc_id]
        g_by, p_by = {}, {}
        for e in doc["entities"]:
            g_by.setdefault(e["type"], []).append((e["start"], e["end"]))
        for e in preds.get(doc_id, {}).get("entities", []):
            p_by.setdefault(e["type"], []).append((e["start"], e["end"]))
        for t in set(g_by) | set(p_by):
            tp, fp, fn = match(g_by.get(t, []), p_by.get(t, []))
            c = counts.setdefault(t, [0, 0, 0]) if t in TYPES else extra.setdefault(t, [0, 0, 0])
            c[0] += tp
            c[1] += fp
            c[2] += fn
    return counts, extra


def parse_covers(spec):
    if spec in ("all", "*"):
        return list(TYPES)
    return [t.strip() for t in spec.split(",") if t.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("preds", nargs="+", help="PRED.jsonl[:TIMING.json]")
    ap.add_argument("--covers", action="append", default=[], help="TOOL=all or TOOL=TYPE,TYPE,...")
    ap.add_argument("--json", dest="json_out", default=None, help="write all scores as JSON here")
    ap.add_argument("--baseline", default=None, help="tool whose throughput the others are compared to "
                                                      "(default: 'scif' if present, else the last tool)")
    a = ap.parse_args()

    corpus = load_jsonl(a.corpus)
    corpus_bytes = sum(len(d["text"].encode("utf-8")) for d in corpus.values())
    cover_override = {}
    for c in a.covers:
        tool, _, spec = c.partition("=")
        cover_override[tool] = parse_covers(spec)

    tools = []
    for spec in a.preds:
        pred_path, timing_path = spec, None
        if ":" in spec and spec.rsplit(":", 1)[1].endswith(".json"):
            pred_path, timing_path = spec.rsplit(":", 1)
        if timing_path is None:
            cand = (pred_path[:-6] if pred_path.endswith(".jsonl") else pred_path) + "-timing.json"
            timing_path = cand if os.path.exists(cand) else None
        timing = json.load(open(timing_path)) if timing_path else {}
        name = timing.get("tool") or os.path.basename(pred_path).rsplit(".", 1)[0]
        preds = load_jsonl(pred_path)
        ids = [i for i in corpus if i in preds]
        if not ids:
            sys.exit("%s: no document ids in common with the corpus" % pred_path)
        counts, extra = score_tool(corpus, preds, ids)
        if name in cover_override:
            covers, cover_src = cover_override[name], "--covers"
        elif "covers" in timing:
            covers = parse_covers(timing["covers"]) if isinstance(timing["covers"], str) else list(timing["covers"])
            cover_src = "timing file"
        else:
            covers = sorted({e["type"] for d in preds.values() for e in d.get("entities", [])} & set(TYPES))
            cover_src = "inferred from predictions"
        tools.append({"tool": name, "predictions": pred_path, "timing": timing, "covers": covers,
                      "covers_source": cover_src, "counts": counts, "extra_types": extra,
                      "docs_scored": len(ids), "docs_in_corpus": len(corpus)})

    report = {"corpus": a.corpus, "docs": len(corpus), "bytes": corpus_bytes,
              "gold_counts": {t: 0 for t in TYPES}, "tools": {}}
    for d in corpus.values():
        for e in d["entities"]:
            report["gold_counts"][e["type"]] = report["gold_counts"].get(e["type"], 0) + 1

    for tl in tools:
        cov = set(tl["covers"])
        print("\n## %s\n" % tl["tool"])
        print("covers %d of %d types (%s); scored on %d of %d docs%s\n" % (
            len(cov & set(TYPES)), len(TYPES), tl["covers_source"], tl["docs_scored"], tl["docs_in_corpus"],
            "" if tl["docs_scored"] == tl["docs_in_corpus"] else " (partial predictions file)"))
        print("| type | covered | gold | TP | FP | FN | precision | recall | F1 |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        per = {}
        tot_c = [0, 0, 0]
        tot_a = [0, 0, 0]
        for t in TYPES:
            tp, fp, fn = tl["counts"][t]
            p, r, f = prf(tp, fp, fn)
            per[t] = {"covered": t in cov, "tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f}
            for i, v in enumerate((tp, fp, fn)):
                tot_a[i] += v
                if t in cov:
                    tot_c[i] += v
            print("| %s | %s | %d | %d | %d | %d | %s | %s | %s |" % (
                t, "yes" if t in cov else "no", tp + fn, tp, fp, fn,
                *(("%.3f" % x) if t in cov or tp + fp else "-" for x in (p, r, f))))
        pc, rc, fc = prf(*tot_c)
        pa, ra, fa = prf(*tot_a)
        print("| **micro, covered types** | | %d | %d | %d | %d | %.3f | %.3f | %.3f |" % (
            tot_c[0] + tot_c[2], *tot_c, pc, rc, fc))
        print("| **micro, all 38 types** | | %d | %d | %d | %d | %.3f | %.3f | %.3f |" % (
            tot_a[0] + tot_a[2], *tot_a, pa, ra, fa))
        tm = tl["timing"]
        mbps = None
        if tm.get("seconds"):
            mbps = tm["bytes"] / tm["seconds"] / 1e6
            lat = tm.get("latency_ms", {})
            print("\nthroughput: %.4f MB/s (%d bytes, %d docs, %.2f s); latency p50 %s ms, p99 %s ms" % (
                mbps, tm["bytes"], tm.get("docs", 0), tm["seconds"], lat.get("p50", "?"), lat.get("p99", "?")))
            if tm.get("docs") and tm["docs"] < len(corpus):
                print("note: timing covers only %d of %d docs (--limit?)" % (tm["docs"], len(corpus)))
        report["tools"][tl["tool"]] = {
            "predictions": tl["predictions"], "docs_scored": tl["docs_scored"], "covers": sorted(cov), "covers_source": tl["covers_source"],
            "per_type": per, "micro_covered": {"tp": tot_c[0], "fp": tot_c[1], "fn": tot_c[2],
                                               "precision": pc, "recall": rc, "f1": fc},
            "micro_all": {"tp": tot_a[0], "fp": tot_a[1], "fn": tot_a[2], "precision": pa, "recall": ra, "f1": fa},
            "extra_types": tl["extra_types"], "mb_per_s": mbps, "timing": tm}

    if len(tools) >= 2:
        names = [t["tool"] for t in tools]
        print("\n## comparison (F1 per type, types covered by at least two tools)\n")
        print("| type | " + " | ".join(names) + " | best |")
        print("|---|" + "---:|" * len(names) + "---|")
        rows = []
        for t in TYPES:
            cov = [n for n in names if report["tools"][n]["per_type"][t]["covered"]]
            if len(cov) < 2:
                continue
            f1 = {n: report["tools"][n]["per_type"][t]["f1"] for n in cov}
            top = max(f1.values())
            best = [n for n in cov if abs(f1[n] - top) < 1e-9]
            rows.append({"type": t, "f1": f1, "best": best})
            print("| %s | %s | %s |" % (t, " | ".join(("%.3f" % f1[n]) if n in f1 else "-" for n in names),
                                        ", ".join(best) if len(best) < len(cov) else "tie"))
        report["comparison"] = rows
        base = a.baseline or ("scif" if "scif" in names else names[-1])
        bm = report["tools"].get(base, {}).get("mb_per_s")
        print("\n## throughput\n")
        print("| tool | MB/s | p50 ms | p99 ms | %s is N x faster |" % base)
        print("|---|---:|---:|---:|---:|")
        ratios = {}
        for n in names:
            m = report["tools"][n]["mb_per_s"]
            lat = report["tools"][n]["timing"].get("latency_ms", {})
            ratio = (bm / m) if (bm and m) else None
            ratios[n] = ratio
            print("| %s | %s | %s | %s | %s |" % (n, "%.4f" % m if m else "-", lat.get("p50", "-"),
                                                 lat.get("p99", "-"), "%.1f" % ratio if ratio else "-"))
        report["throughput_baseline"] = base
        report["throughput_ratio_baseline_over_tool"] = ratios

    if a.json_out:
        os.makedirs(os.path.dirname(os.path.abspath(a.json_out)), exist_ok=True)
        with open(a.json_out, "w") as f:
            json.dump(report, f, indent=1)
        print("\nscores written to %s" % a.json_out, file=sys.stderr)


if __name__ == "__main__":
    main()
