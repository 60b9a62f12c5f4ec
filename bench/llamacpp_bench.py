#!/usr/bin/env python3
"""Benchmark llama.cpp (via llama-cpp-python's low-level C API) on a GGUF model.

This is the llama.cpp side of scif's side-by-side benchmark. It prints ONE JSON
object on stdout (progress and llama.cpp logs, if any, go to stderr):

  prompt_tps     prompt processing throughput, tokens/s: one llama_decode over a
                 prompt of --prompt-tokens tokens (logits for the last token
                 only) into an empty KV cache; best of 3.
  decode_tps_1   single-stream greedy decode, tokens/s: after a short prompt,
                 --decode-tokens steps of one token each (argmax of the logits,
                 EOS ignored so the count is fixed); best of 3.
  aggregate_tps  {"<streams>": tokens/s} for each count in --streams: that many
                 sequences (distinct seq_id, same short prompt) decode together,
                 one llama_batch holding one token per stream per llama_decode,
                 greedy sampling from each stream's logits, --decode-tokens
                 steps; tokens/s = streams * decode_tokens / wall time of the
                 decode loop (the shared prefill is not timed).
  ttft_ms        time to first token for a ~40-token chat prompt (ChatML, as
                 SmolLM2's template writes it): tokenize + prompt eval + argmax
                 of the first token, into an empty KV cache; median of 5.
  peak_rss_mb    peak resident set size of this process (getrusage ru_maxrss),
                 which includes the memory-mapped model pages that were touched.

Everything runs on the CPU with --threads threads for both prompt and decode.
Each measurement uses a fresh llama_context sized for it; one untimed warm-up
decode runs first. With the defaults it takes well under 3 minutes at 2 threads.

How to run (from the repository root; needs a virtualenv with
llama-cpp-python and numpy, e.g. /root/.cache/scif/bench-venv):

    /root/.cache/scif/bench-venv/bin/python bench/llamacpp_bench.py \
        --model "$(scripts/fetch-model.sh)" --threads 2

Options: --prompt-tokens N (512)  --decode-tokens N (128)  --streams 1,4,16
         --verbose (show llama.cpp's own log on stderr)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

import llama_cpp as L

# Prompt used for every decode measurement (single and multi-stream).
SHORT_PROMPT = "The history of the printing press begins in"

# Chat prompt for time-to-first-token (about 40 tokens with SmolLM2's tokenizer).
TTFT_PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
    "Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France? "
    "Answer in one short sentence.<|im_end|>\n<|im_start|>assistant\n"
)

# Source text for the prompt-processing measurement; repeated and cut to
# exactly --prompt-tokens tokens.
FILLER = (
    "Rivers have shaped the growth of cities for thousands of years. A river "
    "provides fresh water for drinking and farming, a route for trade and travel, "
    "and a natural boundary that can be defended. Many of the oldest settlements "
    "grew up where a river could be crossed easily, or where it met the sea. Over "
    "time, bridges, docks and warehouses were built along the banks, and the "
    "river became the centre of economic life. In the modern era, railways and "
    "roads reduced the importance of river transport, but waterfronts were often "
    "rebuilt as parks, homes and places of culture. "
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@L.llama_log_callback
def _quiet_log(level, text, user_data):  # noqa: ARG001 - ctypes callback signature
    pass


class Model:
    """A loaded GGUF model plus its vocabulary (raw llama.cpp handles)."""

    def __init__(self, path: str, threads: int):
        params = L.llama_model_default_params()
        params.n_gpu_layers = 0
        self.model = L.llama_model_load_from_file(path.encode("utf-8"), params)
        if not self.model:
            raise RuntimeError(f"failed to load model {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.threads = threads

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        data = text.encode("utf-8")
        n_max = len(data) + 16
        buf = (L.llama_token * n_max)()
        n = L.llama_tokenize(self.vocab, data, len(data), buf, n_max, False, special)
        if n < 0:
            raise RuntimeError(f"tokenize failed ({n})")
        return list(buf[:n])

    def new_context(self, n_ctx_per_seq: int, n_seq_max: int, n_batch: int) -> "Context":
        return Context(self, n_ctx_per_seq, n_seq_max, n_batch)

    def close(self) -> None:
        if self.model:
            L.llama_model_free(self.model)
            self.model = None


class Context:
    """A llama_context plus a llama_batch, with helpers for greedy decoding."""

    def __init__(self, model: Model, n_ctx_per_seq: int, n_seq_max: int, n_batch: int):
        self.m = model
        p = L.llama_context_default_params()
        # Without a unified KV cache llama.cpp gives each sequence n_ctx / n_seq_max
        # cells, so size n_ctx for all streams together.
        p.n_ctx = _round_up(n_ctx_per_seq, 256) * n_seq_max
        p.n_batch = n_batch
        p.n_ubatch = min(n_batch, 512)
        p.n_seq_max = n_seq_max
        p.n_threads = model.threads
        p.n_threads_batch = model.threads
        p.no_perf = True
        self.ctx = L.llama_init_from_model(model.model, p)
        if not self.ctx:
            raise RuntimeError("failed to create llama_context")
        self.n_batch = n_batch
        self.batch = L.llama_batch_init(n_batch, 0, 1)

    def clear(self) -> None:
        """Empty the KV cache (all sequences)."""
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)

    def fill(self, entries) -> None:
        """Put (token, pos, seq_id, want_logits) entries into the batch."""
        if len(entries) > self.n_batch:
            raise ValueError(f"{len(entries)} tokens exceed n_batch={self.n_batch}")
        b = self.batch
        for i, (tok, pos, seq, want) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = want
        b.n_tokens = len(entries)

    def decode(self) -> None:
        rc = L.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def argmax(self, i: int) -> int:
        """Greedy token from the logits of batch entry i."""
        ptr = L.llama_get_logits_ith(self.ctx, i)
        return int(np.ctypeslib.as_array(ptr, shape=(self.m.n_vocab,)).argmax())

    def close(self) -> None:
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)


def _round_up(n: int, k: int) -> int:
    return (n + k - 1) // k * k


def prompt_of_length(m: Model, n: int) -> list[int]:
    toks: list[int] = []
    while len(toks) < n:
        toks += m.tokenize(FILLER)
    return toks[:n]


def bench_prompt(m: Model, n_tokens: int, reps: int = 3) -> float:
    toks = prompt_of_length(m, n_tokens)
    c = m.new_context(n_tokens + 8, 1, max(n_tokens, 1))
    try:
        best = 0.0
        for _ in range(reps):
            c.clear()
            c.fill([(t, i, 0, i == n_tokens - 1) for i, t in enumerate(toks)])
            t0 = time.perf_counter()
            c.decode()
            c.argmax(n_tokens - 1)
            dt = time.perf_counter() - t0
            best = max(best, n_tokens / dt)
        return best
    finally:
        c.close()


def bench_decode(m: Model, n_streams: int, n_decode: int, reps: int = 1) -> float:
    """Aggregate greedy decode tokens/s for n_streams sequences decoding together."""
    prompt = m.tokenize(SHORT_PROMPT)
    n_prompt = len(prompt)
    n_batch = max(n_streams * n_prompt, n_streams, 32)
    c = m.new_context(n_prompt + n_decode + 8, n_streams, n_batch)
    try:
        best = 0.0
        for _ in range(reps):
            c.clear()
            # Untimed prefill: all streams' prompts in one batch, logits at each
            # stream's last prompt token.
            entries = []
            for s in range(n_streams):
                entries += [(t, i, s, i == n_prompt - 1) for i, t in enumerate(prompt)]
            c.fill(entries)
            c.decode()
            nxt = [c.argmax((s + 1) * n_prompt - 1) for s in range(n_streams)]
            pos = n_prompt
            t0 = time.perf_counter()
            for _step in range(n_decode):
                c.fill([(nxt[s], pos, s, True) for s in range(n_streams)])
                c.decode()
                nxt = [c.argmax(s) for s in range(n_streams)]
                pos += 1
            dt = time.perf_counter() - t0
            best = max(best, n_streams * n_decode / dt)
        return best
    finally:
        c.close()


def bench_ttft(m: Model, reps: int = 5) -> tuple[float, int]:
    n_prompt = len(m.tokenize(TTFT_PROMPT, special=True))
    c = m.new_context(n_prompt + 8, 1, max(n_prompt, 32))
    times = []
    try:
        for _ in range(reps):
            c.clear()
            t0 = time.perf_counter()
            toks = m.tokenize(TTFT_PROMPT, special=True)
            c.fill([(t, i, 0, i == len(toks) - 1) for i, t in enumerate(toks)])
            c.decode()
            c.argmax(len(toks) - 1)
            times.append((time.perf_counter() - t0) * 1000.0)
        return statistics.median(times), n_prompt
    finally:
        c.close()


def warm_up(m: Model) -> None:
    c = m.new_context(128, 1, 64)
    try:
        toks = m.tokenize(FILLER)[:64]
        c.fill([(t, i, 0, i == len(toks) - 1) for i, t in enumerate(toks)])
        c.decode()
        c.argmax(len(toks) - 1)
    finally:
        c.close()


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Benchmark llama.cpp on a GGUF model; prints one JSON object.")
    ap.add_argument("--model", required=True, help="path to the GGUF file")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--streams", default="1,4,16",
                    help="comma-separated concurrent stream counts")
    ap.add_argument("--verbose", action="store_true", help="show llama.cpp logs on stderr")
    args = ap.parse_args()

    streams = [int(s) for s in args.streams.split(",") if s.strip()]
    if not streams or min(streams) < 1:
        ap.error("--streams needs positive integers")
    if args.prompt_tokens < 1 or args.decode_tokens < 1 or args.threads < 1:
        ap.error("--prompt-tokens, --decode-tokens and --threads must be >= 1")

    if not args.verbose:
        L.llama_log_set(_quiet_log, ctypes.c_void_p(0))
    L.llama_backend_init()

    t_start = time.perf_counter()
    m = Model(args.model, args.threads)
    try:
        warm_up(m)
        log(f"prompt processing ({args.prompt_tokens} tokens, best of 3)...")
        prompt_tps = bench_prompt(m, args.prompt_tokens)
        log(f"single-stream decode ({args.decode_tokens} tokens, best of 3)...")
        decode_tps_1 = bench_decode(m, 1, args.decode_tokens, reps=3)
        aggregate = {}
        for n in streams:
            log(f"{n}-stream batched decode ({args.decode_tokens} steps)...")
            aggregate[str(n)] = bench_decode(m, n, args.decode_tokens)
        log("time to first token (median of 5)...")
        ttft_ms, ttft_prompt_tokens = bench_ttft(m)
    finally:
        m.close()
        L.llama_backend_free()

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    result = {
        "engine": "llama.cpp",
        "llama_cpp_python_version": L.__version__,
        "model": os.path.basename(args.model),
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "decode_tokens": args.decode_tokens,
        "prompt_tps": round(prompt_tps, 2),
        "decode_tps_1": round(decode_tps_1, 2),
        "aggregate_tps": {k: round(v, 2) for k, v in aggregate.items()},
        "ttft_ms": round(ttft_ms, 2),
        "ttft_prompt_tokens": ttft_prompt_tokens,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
