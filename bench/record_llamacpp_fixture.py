#!/usr/bin/env python3
"""Record llama.cpp reference data for scif's correctness tests.

Writes two JSON fixtures, both produced by llama.cpp (through the PyPI package
`llama-cpp-python`) on the default model, SmolLM2-135M-Instruct Q4_1 GGUF:

* tests/fixtures/llamacpp_top1.json -- teacher forcing. A fixed English
  paragraph (TEXT below) is tokenized by llama.cpp WITHOUT a BOS token
  (SmolLM2's chat template has none), all tokens are evaluated in a single
  llama_decode call with logits for every position, and for each position i we
  record:
    top1[i]        argmax of the logits at position i, i.e. the token llama.cpp
                   predicts to follow tokens[0..=i];
    top2_margin[i] logit(best) - logit(second best) at position i, so a test
                   can tell a real disagreement from a near-tie that a
                   different (but valid) kernel order could flip.

* tests/fixtures/llamacpp_tokenize.json -- tokenizer reference. A JSON list
  of {"text", "ids", "pieces"} for varied strings (same llama.cpp build and
  command as the top1 fixture, which records the version), tokenized with add_bos=False and
  special=True (so "<|im_start|>" etc. become their special-token ids).
  "pieces" is informational only: each id's bytes, decoded as UTF-8 with
  backslash escapes for bytes that are not valid on their own.

How to run (from the repository root; needs a virtualenv with
llama-cpp-python, numpy, e.g. /root/.cache/scif/bench-venv):

    /root/.cache/scif/bench-venv/bin/python bench/record_llamacpp_fixture.py \
        --model "$(scripts/fetch-model.sh)"

The output is deterministic for a given llama.cpp build (2 threads, CPU).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np

import llama_cpp

MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TOP1_OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "llamacpp_top1.json")
DEFAULT_TOK_OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "llamacpp_tokenize.json")

COMMAND = (
    '/root/.cache/scif/bench-venv/bin/python bench/record_llamacpp_fixture.py '
    '--model "$(scripts/fetch-model.sh)"'
)

# A neutral, factual, plain-ASCII paragraph (~350 tokens with SmolLM2's tokenizer).
TEXT = (
    "Photosynthesis is the process by which green plants, algae and some bacteria "
    "convert light energy into chemical energy. It takes place mainly in the leaves, "
    "inside small structures called chloroplasts, which contain the green pigment "
    "chlorophyll. Chlorophyll absorbs light most strongly in the blue and red parts of "
    "the spectrum and reflects green light, which is why most plants look green to us. "
    "The overall reaction combines carbon dioxide from the air and water from the soil "
    "to produce glucose and oxygen. In simple terms, six molecules of carbon dioxide and "
    "six molecules of water yield one molecule of glucose and six molecules of oxygen.\n\n"
    "The process has two main stages. In the light-dependent reactions, which occur in "
    "the thylakoid membranes, energy from sunlight is used to split water molecules. "
    "This releases oxygen as a by-product and produces two energy carriers, ATP and "
    "NADPH. In the second stage, known as the Calvin cycle, the plant uses ATP and NADPH "
    "to fix carbon dioxide into sugars. This stage takes place in the stroma, the fluid "
    "that surrounds the thylakoids, and it does not require light directly.\n\n"
    "Photosynthesis is important for life on Earth for several reasons. It is the "
    "source of almost all of the oxygen in the atmosphere, and it provides the energy "
    "that supports nearly every food chain. The fossil fuels that people burn today, "
    "such as coal, oil and natural gas, were formed from the remains of organisms that "
    "captured sunlight millions of years ago. Scientists continue to study the process "
    "in the hope of improving crop yields and of building artificial systems that turn "
    "sunlight into fuel."
)

# Varied strings for the tokenizer fixture.
TOKENIZE_CASES = [
    "What",
    " What",
    "What is the capital of France?",
    "Hello world",
    " Hello world",
    "Hello    world  with   multiple spaces",
    "12345 and 3.14159",
    "Wait... really?! (yes) -- \"quoted\", 'single'; a:b [c] {d} 50% $10 #1 @home",
    "line one\nline two\n\n\tindented with a tab\r\nend",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "smile \U0001F642 ok",
    'fn main() { println!("hi"); }',
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>assistant\n",
    "",
]


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def piece(llm: llama_cpp.Llama, token_id: int) -> str:
    raw = llm.detokenize([token_id], special=True)
    return raw.decode("utf-8", errors="backslashreplace")


def write_json(path: str, obj) -> None:
    """Write obj as JSON: one top-level key (or list item) per line, values compact."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    dump = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    if isinstance(obj, dict):
        body = ",\n".join(f" {dump(k)}: {dump(v)}" for k, v in obj.items())
        text = "{\n" + body + "\n}\n"
    else:
        text = "[\n" + ",\n".join(" " + dump(v) for v in obj) + "\n]\n"
    json.loads(text)  # round-trip check
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="path to SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--top1-out", default=DEFAULT_TOP1_OUT)
    ap.add_argument("--tokenize-out", default=DEFAULT_TOK_OUT)
    ap.add_argument("--skip-sha-check", action="store_true",
                    help="do not require the model to match the pinned SHA-256")
    args = ap.parse_args()

    if not args.skip_sha_check:
        digest = sha256_file(args.model)
        if digest != MODEL_SHA256:
            print(f"error: {args.model} has SHA-256 {digest}, expected {MODEL_SHA256}",
                  file=sys.stderr)
            return 1

    llm = llama_cpp.Llama(
        model_path=args.model,
        logits_all=True,
        n_ctx=1024,
        n_threads=2,
        verbose=False,
    )

    # ---- teacher forcing ------------------------------------------------------
    tokens = llm.tokenize(TEXT.encode("utf-8"), add_bos=False)
    if len(tokens) > llm.n_batch:
        # Llama.eval would split the input into several llama_decode calls.
        print(f"error: {len(tokens)} tokens exceed n_batch={llm.n_batch}", file=sys.stderr)
        return 1
    llm.reset()
    llm.eval(tokens)  # one llama_decode over all tokens, logits for every position
    logits = np.array(llm.scores[: len(tokens), :], dtype=np.float32)
    if logits.shape != (len(tokens), llm.n_vocab()):
        print(f"error: unexpected logits shape {logits.shape}", file=sys.stderr)
        return 1

    top1 = logits.argmax(axis=1)
    top2 = np.partition(logits, -2, axis=1)[:, -2:]  # two largest, unordered
    margin = np.abs(top2[:, 1] - top2[:, 0])
    # Sanity: the max of the two largest is the argmax logit.
    assert np.allclose(top2.max(axis=1), logits[np.arange(len(tokens)), top1])

    top1_obj = {
        "model_sha256": MODEL_SHA256,
        "text": TEXT,
        "tokens": [int(t) for t in tokens],
        "top1": [int(t) for t in top1],
        "top2_margin": [round(float(m), 5) for m in margin],
        "llama_cpp_python_version": llama_cpp.__version__,
        "command": COMMAND,
        "notes": (
            "tokens = llama.cpp tokenization of text with add_bos=False; all tokens "
            "evaluated in one llama_decode (teacher forcing, n_threads=2, CPU); "
            "top1[i] = argmax of logits at position i (prediction for token i+1); "
            "top2_margin[i] = best logit minus second-best logit at position i."
        ),
    }
    write_json(args.top1_out, top1_obj)

    # ---- tokenizer reference -------------------------------------------------
    cases = []
    for text in TOKENIZE_CASES:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        cases.append({
            "text": text,
            "ids": [int(i) for i in ids],
            "pieces": [piece(llm, i) for i in ids],
        })
    write_json(args.tokenize_out, cases)

    n_near = int((margin < 0.1).sum())
    print(
        f"wrote {args.top1_out}: {len(tokens)} tokens, {n_near} positions with "
        f"top2_margin < 0.1 (min margin {float(margin.min()):.4f})",
        file=sys.stderr,
    )
    print(f"wrote {args.tokenize_out}: {len(cases)} strings", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
