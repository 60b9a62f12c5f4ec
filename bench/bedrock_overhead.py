"""Converse (boto3, SigV4) against chat.completions (openai, API key) on the same server and
model: the round-trip cost of the Bedrock route and its signature check, side by side.

    SCIF_BIN=target/release/scif .venv/bin/python bench/bedrock_overhead.py [N]

Each request asks for one token, greedily, so the model's work is the same small prefill on
both routes; requests alternate between the routes so that machine noise hits both alike.
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import httpx
from botocore.config import Config
from openai import OpenAI

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SCIF = os.environ.get("SCIF_BIN", "target/release/scif")
MODEL_FILE = subprocess.run(["scripts/fetch-model.sh"], capture_output=True, text=True, check=True).stdout.strip()


def cli(*args, data):
    return subprocess.run([SCIF, *args, "--data-dir", data], capture_output=True, text=True, check=True).stdout


with tempfile.TemporaryDirectory() as d:
    cli("models", "import", MODEL_FILE, "--name", "m", data=d)
    cli("principals", "create", "bench", "--clearance", "UNCLASSIFIED", data=d)
    api_key = cli("keys", "create", "--principal", "bench", data=d).strip()
    sig = json.loads(cli("keys", "create", "--sigv4", "--principal", "bench", "--json", data=d))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}
    env["SCIF_LOG_LEVEL"] = "warn"
    proc = subprocess.Popen([SCIF, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", d], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        oa = OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0)
        br = boto3.client("bedrock-runtime", endpoint_url=url, region_name="us-gov-west-1", aws_access_key_id=sig["access_key_id"],
                          aws_secret_access_key=sig["secret_access_key"], config=Config(retries={"max_attempts": 1}))
        msgs = [{"role": "user", "content": "Hi"}]

        def openai_call():
            oa.chat.completions.create(model="m", messages=msgs, max_tokens=1, temperature=0)

        def bedrock_call():
            br.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "Hi"}]}], inferenceConfig={"maxTokens": 1, "temperature": 0})

        for f in (openai_call, bedrock_call):
            for _ in range(10):
                f()  # warm up connections and caches
        times = {"openai": [], "bedrock": []}
        for _ in range(N):
            for name, f in (("openai", openai_call), ("bedrock", bedrock_call)):
                t = time.perf_counter()
                f()
                times[name].append((time.perf_counter() - t) * 1000)
        for name, ts in times.items():
            ts.sort()
            print(f"{name:8} n={len(ts)} p50 {statistics.median(ts):.2f} ms  p99 {ts[int(len(ts) * 0.99) - 1]:.2f} ms")
        o, b = statistics.median(times["openai"]), statistics.median(times["bedrock"])
        print(f"bedrock/openai p50 ratio {b / o:.2f} (difference {b - o:+.2f} ms)")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
