"""A witness on another process, with its own key, co-signs each checkpoint only when it is
consistent with the last: the node keeps serving when the witness is down (and says so), or
fails closed when told to; verify with the witness catches a whole data directory rolled back,
which the node's own anchor cannot."""

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import MODEL, SYSTEM, Server, free_port, make_tester, metric, model_file, run_cli, scif_bin

BODY = {"model": MODEL, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}], "max_tokens": 2, "temperature": 0}


class WitnessProc:
    def __init__(self, d: Path, node_pub: str, port: int):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [scif_bin(), "audit", "witness", "--listen", f"127.0.0.1:{port}", "--dir", str(d), "--name", "w1", "--origin", f"scif.audit/n1={node_pub}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        line = self.proc.stdout.readline()
        assert "public key" in line, line
        self.key = line.strip().rsplit(" ", 1)[1]
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.url}/latest", params={"origin": "x"}, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def wait_for(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def site(tmp_path):
    d = tmp_path / "node"
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d))
    make_tester(d)
    env = {"SCIF_AUDIT_NODE": "n1"}
    s = Server(d, extra_env=env).wait_ready()  # creates the node's key
    assert s.stop() == 0
    pub = run_cli("audit", "pubkey", "--data-dir", str(d)).stdout.strip()
    wdir = tmp_path / "witness"
    port = free_port()
    w = WitnessProc(wdir, pub, port)
    yield d, pub, w, wdir, port
    w.kill()


def node_env(w, required=False):
    return {
        "SCIF_AUDIT_NODE": "n1",
        "SCIF_AUDIT_WITNESS_URL": w.url,
        "SCIF_AUDIT_WITNESS_NAME": "w1",
        "SCIF_AUDIT_WITNESS_KEY": w.key,
        "SCIF_AUDIT_WITNESS_REQUIRED": "true" if required else "false",
        "SCIF_AUDIT_WITNESS_MAX_LAG_SECS": "1",
        "SCIF_AUDIT_CHECKPOINT_EVERY_EVENTS": "4",
        "SCIF_AUDIT_CHECKPOINT_EVERY_SECS": "1",
    }


def cosigned(s):
    return metric(s, "scif_audit_witness_cosigned_size")


def test_witnessed_trail_survives_a_witness_restart_and_catches_a_rollback(site, tmp_path):
    d, pub, w, wdir, port = site
    s = Server(d, extra_env=node_env(w)).wait_ready()
    try:
        for _ in range(6):
            assert httpx.post(f"{s.url}/v1/chat/completions", json=BODY, headers=s.auth, timeout=60).status_code == 200
        wait_for(lambda: cosigned(s) > 0, "the witness co-signs")
        first = cosigned(s)
        backup = tmp_path / "backup"
        shutil.copytree(d, backup)  # the whole data directory, store and cosignatures included
        # The witness dies under load: every request still answers.
        codes, stop = [], threading.Event()

        def load():
            while not stop.is_set():
                codes.append(httpx.post(f"{s.url}/v1/chat/completions", json=BODY, headers=s.auth, timeout=60).status_code)

        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.5)
        w.kill()
        wait_for(lambda: httpx.get(f"{s.url}/readyz").json()["warnings"], "readyz reports the witness")
        assert httpx.get(f"{s.url}/readyz").status_code == 200, "keep serving is the default"
        assert metric(s, "scif_audit_witness_healthy") == 0
        w2 = WitnessProc(wdir, pub, port)
        wait_for(lambda: cosigned(s) > first and not httpx.get(f"{s.url}/readyz").json()["warnings"], "co-signing resumes")
        stop.set()
        t.join()
        assert codes and set(codes) == {200}, codes
        assert metric(s, "scif_audit_witness_healthy") == 1
    finally:
        assert s.stop() == 0, s.logs()
    args = ["audit", "verify", "--data-dir", str(d), "--accept-unanchored", "--witness-key", w2.key, "--witness-name", "w1"]
    env = {**os.environ, "SCIF_AUDIT_NODE": "n1"}
    out = run_cli(*args, env=env).stdout
    assert "witnessed: holds the tree" in out, out
    assert "witnessed" in run_cli(*args, "--witness-url", w2.url, env=env).stdout
    # Roll the whole data directory back: the node's anchor went back with it, but the witness
    # remembers.
    shutil.rmtree(d)
    shutil.copytree(backup, d)
    r = run_cli(*args, "--witness-url", w2.url, env=env, check=False)
    assert r.returncode != 0 and "cut short or rolled back" in r.stderr, (r.stdout, r.stderr)
    # Served again, the rolled-back node cannot get a cosignature; told to fail closed, it
    # refuses requests rather than write history no witness will vouch for.
    s = Server(d, extra_env=node_env(w2, required=True))
    try:
        wait_for(lambda: s.proc.poll() is None and _status(s) in (200, 503), "the node answers")
        wait_for(lambda: _status(s) == 503, "fails closed while the witness refuses")
        r = httpx.post(f"{s.url}/v1/chat/completions", json=BODY, headers=s.auth, timeout=60)
        assert r.status_code == 503 and "witness" in r.json()["error"]["message"], r.text
    finally:
        s.stop()
    w2.kill()


def _status(s):
    try:
        return httpx.get(f"{s.url}/readyz", timeout=2).status_code
    except httpx.TransportError:
        return 0
