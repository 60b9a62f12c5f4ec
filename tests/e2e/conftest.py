"""Fixtures that run the real `scif` binary: a data directory with the default model imported,
and servers started on free loopback ports, stopped with SIGTERM at the end."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

MODEL = "smollm2-135m-instruct"
SYSTEM = "You are a helpful assistant."


def scif_bin() -> str:
    path = os.environ.get("SCIF_BIN")
    assert path and Path(path).exists(), "SCIF_BIN must point at the scif binary (make test-e2e sets it)"
    return path


def model_file() -> str:
    path = os.environ.get("SCIF_TEST_MODEL")
    assert path and Path(path).exists(), "SCIF_TEST_MODEL must point at the default GGUF (make test-e2e sets it)"
    return path


def run_cli(*args, env=None, check=True):
    proc = subprocess.run([scif_bin(), *args], capture_output=True, text=True, env=env, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"scif {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `scif serve`."""

    def __init__(self, data_dir: Path, extra_env=None, config: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        key_file = data_dir / "tester.key"
        self.key = key_file.read_text().strip() if key_file.exists() else None
        self.auth = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}
        env.update({"SCIF_ENGINE_THREADS": "2", "SCIF_LOG_LEVEL": "info"})
        env.update(extra_env or {})
        args = [scif_bin(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir)]
        if config is not None:
            cfg = data_dir / "scif.toml"
            cfg.write_text(config)
            args += ["--config", str(cfg)]
        self.log_path = data_dir / f"server-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout=120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"scif exited with {self.proc.returncode}: {self.logs()}")
            try:
                r = httpx.get(f"{self.url}/readyz", timeout=2)
                if r.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"scif not ready after {timeout}s: {self.logs()}")

    def wait_alive(self, timeout=60.0):
        """Until `/healthz` answers (for servers with no model, which never become ready)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.logs()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.05)

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self, timeout=30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def make_tester(d: Path, clearance: str = "UNCLASSIFIED", env=None) -> str:
    """Creates the principal `tester` (an administrator and operator cleared to `clearance`)
    and an API key for it through the CLI; the key goes to `d/tester.key`, where `Server`
    finds it."""
    d.mkdir(parents=True, exist_ok=True)
    run_cli("principals", "create", "tester", "--clearance", clearance, "--group", "admins", "--group", "operators", "--data-dir", str(d), env=env)
    key = run_cli("keys", "create", "--principal", "tester", "--description", "e2e", "--data-dir", str(d), env=env).stdout.strip()
    assert key.startswith("scif_"), key
    (d / "tester.key").write_text(key)
    return key


@pytest.fixture(scope="session")
def data_dir():
    """A data directory with the default model imported through the CLI, and the `tester`
    administrator's key."""
    with tempfile.TemporaryDirectory(prefix="scif-e2e-") as d:
        d = Path(d)
        out = run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d)).stdout
        assert "imported smollm2-135m-instruct" in out
        make_tester(d)
        yield d


@pytest.fixture
def own_dir(tmp_path):
    """A data directory of the test's own, for a server started beside the session's (one
    server per data directory: the audit trail has one writer)."""
    d = tmp_path / "own"
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d))
    make_tester(d)
    return d


@pytest.fixture(scope="session")
def server(data_dir):
    s = Server(data_dir).wait_ready()
    yield s
    code = s.stop()
    assert code == 0, f"scif exited with {code} after SIGTERM: {s.logs()}"


@pytest.fixture
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0, timeout=120)


def metric(server, name: str, **labels) -> float:
    """Sum of a Prometheus metric's samples that carry the given labels."""
    r = httpx.get(f"{server.url}/metrics", headers=server.auth, timeout=10)
    assert r.status_code == 200, r.text
    text = r.text
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else float("nan")


def sse_events(resp):
    """The `data:` payloads of an SSE response, decoded."""
    for line in resp.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: "):]
            yield data if data == "[DONE]" else json.loads(data)
