"""Backpressure, cancellation, graceful shutdown, health, and the model registry's integrity."""

import concurrent.futures
import json
import re
import math
import shutil
import threading
import time

import httpx
import pytest

from conftest import MODEL, SYSTEM, Server, make_tester, metric, model_file, run_cli, sse_events

LONG = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me a very long story about a dragon."}], "max_tokens": 400, "temperature": 0.8, "seed": 3}


def test_health_and_readiness(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    r = httpx.get(f"{server.url}/readyz")
    assert r.status_code == 200
    assert r.json()["models_loaded"] == 1


def test_not_ready_without_models(tmp_path):
    s = Server(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{s.url}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and s.proc.poll() is None, s.logs()
                time.sleep(0.2)
        assert r.status_code == 503
        assert "no model is loaded" in r.json()["problems"][0]
        assert httpx.get(f"{s.url}/healthz").status_code == 200
    finally:
        assert s.stop() == 0


def test_full_queue_answers_429_with_retry_after(own_dir):
    s = Server(own_dir, extra_env={"SCIF_ENGINE_MAX_BATCH": "1", "SCIF_ENGINE_MAX_QUEUE": "1", "SCIF_SERVER_RETRY_AFTER_SECS": "2"}).wait_ready()
    try:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futs = [pool.submit(httpx.post, f"{s.url}/v1/chat/completions", json={**LONG, "max_tokens": 60}, headers=s.auth, timeout=300) for _ in range(6)]
            results = [f.result() for f in futs]
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) >= 2, codes
        refused = [r for r in results if r.status_code == 429]
        assert refused, codes
        for r in refused:
            assert r.headers["retry-after"] == "2"
            assert r.json()["error"]["type"] == "rate_limit_error"
    finally:
        assert s.stop() == 0


def completed_tokens(server) -> float:
    v = metric(server, "scif_completion_tokens_total", model=MODEL)
    return 0.0 if math.isnan(v) else v  # absent until a first generation completes


def test_client_disconnect_cancels_generation(server):
    before = completed_tokens(server)
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json={**LONG, "max_tokens": 2000, "stream": True}, headers=server.auth, timeout=60) as r:
        assert r.status_code == 200
        got = 0
        for line in r.iter_lines():
            if line.startswith("data: "):
                got += 1
            if got >= 3:
                break
    # The sequence leaves the batch at the next step; it never reaches 2000 tokens.
    deadline = time.monotonic() + 20
    while metric(server, "scif_active_sequences", model=MODEL) != 0:
        assert time.monotonic() < deadline, "the abandoned generation is still running"
        time.sleep(0.1)
    time.sleep(0.5)
    # A cancelled generation reports no Done event, so it adds nothing to completed-token counts.
    assert completed_tokens(server) - before < 2000


def stream_in_background(s: Server, max_tokens: int):
    """Start a streamed generation in a thread; return once the engine is running it. The
    thread collects the SSE payloads into the returned list."""
    events = []

    def consume():
        with httpx.stream("POST", f"{s.url}/v1/chat/completions", json={**LONG, "max_tokens": max_tokens, "stream": True}, headers=s.auth, timeout=120) as r:
            events.extend(sse_events(r))

    t = threading.Thread(target=consume)
    t.start()
    deadline = time.monotonic() + 30
    while metric(s, "scif_active_sequences", model=MODEL) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return t, events


def test_sigterm_lets_inflight_streams_finish(own_dir):
    s = Server(own_dir).wait_ready()
    t, events = stream_in_background(s, max_tokens=40)
    assert s.stop() == 0
    t.join(timeout=60)
    assert events and events[-1] == "[DONE]"
    finals = [e for e in events if e != "[DONE]" and e["choices"] and e["choices"][0]["finish_reason"]]
    assert finals and finals[-1]["choices"][0]["finish_reason"] == "length", "the stream ran to its end"
    assert "shutting down" in s.logs()


def test_sigterm_after_grace_cancels_long_streams(own_dir):
    s = Server(own_dir, extra_env={"SCIF_SERVER_SHUTDOWN_GRACE_SECS": "1"}).wait_ready()
    t, events = stream_in_background(s, max_tokens=3000)
    # Exit status 0 means it stopped by itself (stop() kills it only after 30 s, giving -9).
    assert s.stop() == 0
    t.join(timeout=60)
    errors = [e for e in events if e != "[DONE]" and "error" in e]
    assert errors and "shutting down" in errors[0]["error"]["message"]


def test_registry_cli_and_tampered_file_is_refused(tmp_path):
    d = tmp_path / "data"
    run_cli("models", "import", model_file(), "--name", "m1", "--data-dir", str(d))
    dup = run_cli("models", "import", model_file(), "--name", "m1", "--data-dir", str(d), check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    listed = json.loads(run_cli("models", "list", "--json", "--data-dir", str(d)).stdout)
    assert [m["name"] for m in listed] == ["m1"]
    m = listed[0]
    assert (m["architecture"], m["quantization"], m["context_length"]) == ("llama", "Q4_1", 8192)
    assert 130_000_000 < m["parameter_count"] < 140_000_000
    assert m["license"] and "apache" in m["license"].lower()
    assert "m1: ok" in run_cli("models", "verify", "--data-dir", str(d)).stdout

    # Flip one byte of the stored file: verification and serving both refuse it.
    f = d / "models" / m["file_name"]
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    v = run_cli("models", "verify", "--data-dir", str(d), check=False)
    assert v.returncode != 0 and "FAILED" in v.stdout
    s = Server(d)
    code = s.proc.wait(timeout=60)
    assert code != 0
    assert "SHA-256" in s.logs() and "refusing to load a changed file" in s.logs()
    s.log.close()

    run_cli("models", "remove", "m1", "--data-dir", str(d))
    assert json.loads(run_cli("models", "list", "--json", "--data-dir", str(d)).stdout) == []
    assert not f.exists()


def test_import_refuses_what_is_not_a_model(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    r = run_cli("models", "import", str(bogus), "--name", "bogus", "--data-dir", str(tmp_path / "d"), check=False)
    assert r.returncode != 0 and "invalid model file" in r.stderr
    r = run_cli("models", "import", str(tmp_path / "missing.gguf"), "--name", "x", "--data-dir", str(tmp_path / "d"), check=False)
    assert r.returncode != 0
    r = run_cli("models", "import", model_file(), "--name", "bad name/../x", "--data-dir", str(tmp_path / "d"), check=False)
    assert r.returncode != 0 and "invalid model name" in r.stderr


def test_config_check(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[server]\nlisten = "127.0.0.1:9000"\n[engine]\nmax_batch = 8\n')
    assert "ok" in run_cli("config", "check", str(good)).stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nlisten = "127.0.0.1:9000"\nlisen = "typo"\n')
    r = run_cli("config", "check", str(bad), check=False)
    assert r.returncode != 0 and "bad.toml" in r.stderr and "lisen" in r.stderr
    r = run_cli("serve", "--config", str(bad), "--data-dir", str(tmp_path / "d"), check=False)
    assert r.returncode != 0 and "lisen" in r.stderr


def test_version_and_help():
    assert run_cli("--version").stdout.startswith("scif ")
    for args in (["--help"], ["serve", "--help"], ["models", "--help"], ["models", "import", "--help"], ["chat", "--help"], ["config", "check", "--help"]):
        assert run_cli(*args).stdout.strip()


def test_terminal_chat_streams_an_answer(server):
    import subprocess

    from conftest import scif_bin

    proc = subprocess.run(
        [scif_bin(), "chat", MODEL, "--url", server.url, "--temperature", "0", "--api-key", server.key],
        input="What is the capital of France?\n/exit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "The capital of France is Paris." in proc.stdout
    proc = subprocess.run([scif_bin(), "chat", "no-such-model", "--url", server.url, "--api-key", server.key], input="hi\n", capture_output=True, text=True, timeout=60)
    assert "error 404" in proc.stdout


def test_model_labels_and_system_high(tmp_path):
    import os

    d = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}
    # A fresh deployment's system high is UNCLASSIFIED: a SECRET model is refused at import.
    r = run_cli("models", "import", model_file(), "--name", "s", "--label", "SECRET//NOFORN", "--data-dir", str(d), env=env, check=False)
    assert r.returncode != 0 and "system high" in r.stderr
    # A malformed marking is refused, naming what is wrong.
    r = run_cli("models", "import", model_file(), "--name", "s", "--label", "SECRETT", "--data-dir", str(d), env=env, check=False)
    assert r.returncode != 0 and "SECRETT" in r.stderr
    # Accredited for SECRET//NOFORN: the model is imported with its canonical label...
    high = {**env, "SCIF_SECURITY_SYSTEM_HIGH": "SECRET//NOFORN"}
    out = run_cli("models", "import", model_file(), "--name", "s", "--label", "SECRET//NOFORN", "--data-dir", str(d), env=high).stdout
    assert "[SECRET//NOFORN]" in out
    listed = json.loads(run_cli("models", "list", "--json", "--data-dir", str(d), env=high).stdout)
    assert listed[0]["label"] == "SECRET//NOFORN"
    # ...served with it...
    make_tester(d, "SECRET//NOFORN", env=high)
    s = Server(d, extra_env={"SCIF_SECURITY_SYSTEM_HIGH": "SECRET//NOFORN"}).wait_ready()
    try:
        assert httpx.get(f"{s.url}/v1/models/s", headers=s.auth).json()["label"] == "SECRET//NOFORN"
    finally:
        assert s.stop() == 0
    # ...and a deployment whose system high is lower refuses to serve it at all.
    s = Server(d)
    assert s.proc.wait(timeout=60) != 0
    assert "above this deployment's system high" in s.logs()
    s.log.close()


def test_first_start_prints_the_admin_key_once(tmp_path):
    d = tmp_path / "fresh"
    d.mkdir()

    def start():
        return Server(d).wait_alive()

    s = start()
    try:
        keys = re.findall(r"^\s+(scif_[a-z2-7]+_[a-z2-7]+)\s*$", s.logs(), re.M)
        assert len(keys) == 1, s.logs()
        me = httpx.get(f"{s.url}/admin/v1/whoami", headers={"Authorization": f"Bearer {keys[0]}"}).json()
        assert me["id"] == "admin" and me["groups"] == ["admins"]
    finally:
        assert s.stop() == 0
    s = start()
    try:
        assert not re.search(r"scif_[a-z2-7]{16}_", s.logs()) and "first start" not in s.logs(), "printed on the first start only"
        assert httpx.get(f"{s.url}/v1/models", headers={"Authorization": f"Bearer {keys[0]}"}).status_code == 200
    finally:
        assert s.stop() == 0
    # The pepper that keys are hashed with is private to scif's user.
    assert (d / "secrets" / "api-key-pepper").stat().st_mode & 0o777 == 0o600


def test_a_second_server_on_the_same_data_directory_is_refused(server):
    s = Server(server.data_dir)
    assert s.proc.wait(timeout=60) != 0
    assert "in use by another scif process" in s.logs()
    s.log.close()
    assert httpx.get(f"{server.url}/v1/models", headers=server.auth).status_code == 200
