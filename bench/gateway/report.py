#!/usr/bin/env python3
"""Markdown report of a bench/gateway/run.sh results file (JSON lines).

    python3 bench/gateway/report.py bench/results/gateway-<stamp>.jsonl
"""
import json
import sys

NAMES = {
    "mock": "mock upstream, direct",
    "scif": "scif (as shipped: fsync audit)",
    "scif-interval": "scif (audit durability = interval)",
    "scif-limiter": "scif (fsync audit + rpm limiter)",
    "scif-guardrail": "scif (fsync audit + every guardrail detector)",
    "scif-anthropic": "scif, Anthropic POST /v1/messages (fsync audit)",
    "scif-anthropic-interval": "scif, Anthropic POST /v1/messages (interval audit)",
    "base": "scif before (fsync audit; SCIF_BASELINE_BIN)",
    "base-interval": "scif before (interval audit; SCIF_BASELINE_BIN)",
    "litellm": "LiteLLM proxy",
}


def ms(us):
    return f"{us / 1000:.2f}"


def err_text(r):
    e = r["errors"]
    parts = [f"{k} {e[k]}" for k in ("connect", "read", "write", "timeout") if e[k]]
    if e["status"]:
        parts.insert(0, f"non-2xx {e['status']}")
    return "INVALID: " + ", ".join(parts) if parts else ("INVALID: no requests" if not r["valid"] else "ok")


def main(path):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    meta = next(l for l in lines if l.get("meta"))
    runs = [l for l in lines if not l.get("meta")]
    targets = [t for t in meta["targets"] if any(r["target"] == t for r in runs)]
    limit_us = meta["p99_limit_ms"] * 1000
    name = lambda t: NAMES.get(t, t)

    print(f"## Gateway overhead benchmark, {meta['date_utc']}\n")
    print(f"- command: `{meta['command']}`")
    print(f"- machine: nproc {meta['nproc']}, {meta['cpu']}, kernel {meta['kernel']}, "
          f"load average at start {' / '.join(f'{x:.2f}' for x in meta['loadavg_start'])}")
    print(f"- versions: {meta['scif']} (git {meta['git']}), {meta['wrk']}"
          + (f", litellm {meta['litellm']}" if meta.get("litellm") else ""))
    print("- load: wrk, 1 thread, keep-alive connections, POST /v1/chat/completions "
          "(`max_tokens` 8, non-streaming); upstream: scif-mock-upstream, 1 thread, 8 tokens, no delay")
    print("- **the load generator, the mock upstream and the gateway share this machine's "
          f"{meta['nproc']} cores**, so the numbers include their contention; targets run one after another")
    print(f"- every layer of scif on (API key, Cedar, labels, audit, metering), `SCIF_LOG_LEVEL=warn`; "
          f"audit trail on {', '.join(meta.get('tmp_fs') or ['?'])}")
    if "litellm" in meta["targets"]:
        print("- LiteLLM proxy: 1 worker, no database, master key auth, `LITELLM_LOG=WARNING` (no per-request "
              "access log, like scif at warn), `LITELLM_LOCAL_MODEL_COST_MAP=True`, `LITELLM_TELEMETRY=False`")
    print(f"- a run with any socket error, timeout or non-2xx answer (wrk counts status >= 400) is INVALID and "
          "is not used for the derived numbers\n")

    # 1. latency at concurrency 1
    lat = {r["target"]: r for r in runs if r["phase"] == "latency"}
    base = lat.get("mock")
    base_ok = base is not None and base["valid"]
    print(f"### Latency at concurrency 1 ({meta['duration_s']} s after a {meta['warmup_s']} s warm-up)\n")
    print("| target | req/s | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | run |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for t in targets:
        r = lat.get(t)
        if r is None:
            continue
        l = r["latency_us"]
        if t == "mock":
            add50 = add99 = "(baseline)"
        elif base_ok and r["valid"]:
            add50 = ms(l["p50"] - base["latency_us"]["p50"])
            add99 = ms(l["p99"] - base["latency_us"]["p99"])
        else:
            add50 = add99 = "n/a"
        print(f"| {name(t)} | {r['rps']:.0f} | {ms(l['p50'])} | {ms(l['p90'])} | {ms(l['p99'])} "
              f"| {add50} | {add99} | {err_text(r)} |")

    # 2. throughput search
    steps = {}
    for r in runs:
        if r["phase"] == "step":
            steps.setdefault(r["target"], []).append(r)
    print(f"\n### Highest throughput with p99 < {meta['p99_limit_ms']} ms "
          f"(concurrency {', '.join(map(str, meta['steps']))}; {meta['step_duration_s']} s each)\n")
    print(f"| target | best req/s, p99 < {meta['p99_limit_ms']} ms | at concurrency | p99 ms there "
          "| best req/s at any p99 (concurrency, p99 ms) | invalid steps |")
    print("|---|---:|---:|---:|---|---|")
    best = {}
    for t in targets:
        rs = steps.get(t, [])
        if t == "mock" and not rs:
            continue
        ok = [r for r in rs if r["valid"]]
        under = [r for r in ok if r["latency_us"]["p99"] < limit_us]
        bu = max(under, key=lambda r: r["rps"], default=None)
        ba = max(ok, key=lambda r: r["rps"], default=None)
        best[t] = (bu, ba)
        bad = [f"c={r['connections']} {err_text(r)}" for r in rs if not r["valid"]]
        any_txt = (f"{ba['rps']:.0f} (c={ba['connections']}, {ms(ba['latency_us']['p99'])})" if ba else "n/a")
        if bu:
            print(f"| {name(t)} | {bu['rps']:.0f} | {bu['connections']} | {ms(bu['latency_us']['p99'])} "
                  f"| {any_txt} | {'; '.join(bad) or 'none'} |")
        else:
            print(f"| {name(t)} | never under {meta['p99_limit_ms']} ms | - | - "
                  f"| {any_txt} | {'; '.join(bad) or 'none'} |")

    if "litellm" in best:
        lu, la = best["litellm"]
        print()
        for t in targets:
            if not (t.startswith("scif") or t.startswith("base")) or t not in best:
                continue
            su, sa = best[t]
            if su and lu:
                print(f"- {name(t)} / LiteLLM, best req/s with p99 < {meta['p99_limit_ms']} ms: "
                      f"**{su['rps'] / lu['rps']:.1f}x**")
            elif su and la:
                print(f"- {name(t)} / LiteLLM: **{su['rps'] / la['rps']:.1f}x** — scif's best req/s with "
                      f"p99 < {meta['p99_limit_ms']} ms against LiteLLM's best at any p99 (LiteLLM never had "
                      f"p99 < {meta['p99_limit_ms']} ms at any step)")
            if sa and la:
                print(f"  - best req/s at any p99, both: {sa['rps'] / la['rps']:.1f}x")

    # full matrix
    print("\n### Every step: req/s / p99 ms\n")
    cs = meta["steps"]
    print("| target | " + " | ".join(f"c={c}" for c in cs) + " |")
    print("|---|" + "---:|" * len(cs))
    for t in targets:
        by_c = {r["connections"]: r for r in steps.get(t, [])}
        cells = []
        for c in cs:
            r = by_c.get(c)
            if r is None:
                cells.append("-")
            else:
                cell = f"{r['rps']:.0f} / {ms(r['latency_us']['p99'])}"
                cells.append(cell if r["valid"] else f"{cell} INVALID")
        print(f"| {name(t)} | " + " | ".join(cells) + " |")
    invalid = [r for r in runs if not r["valid"]]
    print(f"\n{len(invalid)} invalid run(s) of {len(runs)} (warm-ups included). Raw results: `{path}`")


def progress(line):
    r = json.loads(line)
    l = r["latency_us"]
    print(f"  {r['phase']:>8} c={r['connections']:<3} {r['rps']:9.0f} req/s  p50 {ms(l['p50']):>7} ms  "
          f"p99 {ms(l['p99']):>7} ms  {err_text(r)}")


if __name__ == "__main__":
    if sys.argv[1] == "--progress":
        progress(sys.argv[2])
    else:
        main(sys.argv[1])
