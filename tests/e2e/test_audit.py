"""The audit trail through the real binary: every request recorded before its response, a chain
that `scif audit verify` proves offline and that breaks where it is tampered with, audit reads
for auditors only, OCSF export, and no acknowledged request lost to SIGKILL."""

import json
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import MODEL, SYSTEM, Server, make_tester, model_file, run_cli


def records(d: Path, *args):
    out = run_cli("audit", "query", "--json", "--limit", "100000", "--data-dir", str(d), *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def verify(d: Path, *args, check=True):
    return run_cli("audit", "verify", "--data-dir", str(d), *args, check=check)


@pytest.fixture(scope="module")
def trail(tmp_path_factory):
    """A server that served a known mix of requests, then stopped cleanly."""
    d = tmp_path_factory.mktemp("audit")
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d))
    make_tester(d)
    run_cli("principals", "create", "reader", "--clearance", "UNCLASSIFIED", "--group", "auditors", "--data-dir", str(d))
    reader = run_cli("keys", "create", "--principal", "reader", "--data-dir", str(d)).stdout.strip()
    run_cli("principals", "create", "plain", "--clearance", "UNCLASSIFIED", "--data-dir", str(d))
    plain = run_cli("keys", "create", "--principal", "plain", "--data-dir", str(d)).stdout.strip()
    s = Server(d).wait_ready()
    seen = {}
    try:
        body = {"model": MODEL, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "The secret word is PINEAPPLE-7."}], "max_tokens": 4, "temperature": 0}
        r = httpx.post(f"{s.url}/v1/chat/completions", json=body, headers=s.auth, timeout=60)
        assert r.status_code == 200
        seen["chat"] = r.headers["x-request-id"]
        with httpx.stream("POST", f"{s.url}/v1/chat/completions", json={**body, "stream": True}, headers=s.auth, timeout=60) as st:
            list(st.iter_lines())
            seen["stream"] = st.headers["x-request-id"]
        r = httpx.get(f"{s.url}/v1/models", headers={"Authorization": "Bearer scif_aaaaaaaaaaaaaaaa_" + "b" * 52})
        assert r.status_code == 401
        seen["bad_key"] = r.headers["x-request-id"]
        r = httpx.get(f"{s.url}/metrics", headers={"Authorization": f"Bearer {plain}"})
        assert r.status_code == 403
        seen["denied"] = r.headers["x-request-id"]
        r = httpx.post(f"{s.url}/admin/v1/principals", headers=s.auth, json={"id": "via-api", "clearance": "UNCLASSIFIED", "nationality": "USA", "us_person": True})
        assert r.status_code == 201
        seen["admin"] = r.headers["x-request-id"]
        # Audit reads: auditors may; others may not; both are recorded.
        r = httpx.get(f"{s.url}/admin/v1/audit", params={"request_id": seen["chat"]}, headers={"Authorization": f"Bearer {reader}"})
        assert r.status_code == 200, r.text
        page = r.json()["data"]
        # The intent, durable before the prompt left, then the completion.
        assert [x["event"]["action"] for x in page] == ["invoke_model", "invoke_model_complete"]
        seen["audit_read"] = r.headers["x-request-id"]
        r = httpx.get(f"{s.url}/admin/v1/audit", headers={"Authorization": f"Bearer {plain}"})
        assert r.status_code == 403
        # A CLI change while the server runs reaches the trail through the store.
        run_cli("principals", "create", "via-cli", "--clearance", "UNCLASSIFIED", "--data-dir", str(d))
        time.sleep(2.5)
    finally:
        assert s.stop() == 0, s.logs()
    yield d, seen


def by_request(recs):
    return {r["event"].get("request_id"): r for r in recs if r["event"].get("request_id")}


def test_every_request_is_recorded_with_who_what_label_and_why(trail):
    d, seen = trail
    recs = records(d)
    req = by_request(recs)
    of_chat = [r for r in recs if r["event"].get("request_id") == seen["chat"]]
    assert [r["event"]["action"] for r in of_chat] == ["invoke_model", "invoke_model_complete"]
    intent, done = of_chat[0], of_chat[1]
    chat = intent["event"]
    assert chat["action"] == "invoke_model" and chat["decision"] == "allow" and chat["principal"] == "tester"
    assert chat["auth_method"] == "api_key" and chat["resource"] == f"model/{MODEL}"
    assert chat["resource_label"] == "UNCLASSIFIED" and chat["output_label"] == "UNCLASSIFIED"
    assert chat["outcome"] == "started" and chat["detail"]["phase"] == "intent"
    assert "models-use" in chat["reasons"] or "admins-all" in chat["reasons"]
    # The completion names its intent and carries the usage.
    d = done["event"]
    assert d["detail"]["intent_seq"] == intent["seq"] and done["seq"] > intent["seq"]
    assert d["prompt_tokens"] > 0 and d["completion_tokens"] == 4 and d["outcome"] == "length"
    assert d["principal"] == "tester" and d["output_label"] == "UNCLASSIFIED"
    of_stream = [r["event"]["action"] for r in recs if r["event"].get("request_id") == seen["stream"]]
    assert of_stream == ["invoke_model", "invoke_model_complete"]
    completes = [r["event"] for r in recs if r["event"]["action"] == "invoke_model_complete"]
    assert completes and completes[0]["completion_tokens"] == 4
    bad = req[seen["bad_key"]]["event"]
    assert bad["action"] == "authenticate" and bad["decision"] == "deny" and bad["reasons"] == ["invalid_credentials"] and bad["outcome"] == "401"
    assert bad["detail"]["key_id"] == "aaaaaaaaaaaaaaaa"
    denied = req[seen["denied"]]["event"]
    assert denied["action"] == "read_metrics" and denied["decision"] == "deny" and denied["principal"] == "plain"
    assert req[seen["admin"]]["event"]["action"] == "manage_principals"
    assert req[seen["audit_read"]]["event"]["action"] == "read_audit"
    local = [r["event"] for r in recs if r["event"].get("auth_method") == "local_operator"]
    assert any(e["resource"] == "principal/via-cli" for e in local), "CLI change recorded"
    assert any(e["resource"] == "principal/tester" for e in local)
    actions = [r["event"]["action"] for r in recs]
    assert actions[0] == "server_start" and actions[-1] == "server_stop"
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))


def test_prompts_are_not_stored_by_default(trail):
    d, _ = trail
    text = "".join(p.read_text() for p in (d / "audit").glob("*.log"))
    assert "PINEAPPLE" not in text and "scif_" not in text.replace("scif_server", "")


def test_verify_proves_the_trail_offline(trail):
    d, _ = trail
    # Keys found on the host prove nothing against whoever can rewrite the trail: without a
    # pinned key the result is unanchored, and says so with a non-zero exit.
    r = verify(d, check=False)
    assert r.returncode != 0 and "UNANCHORED" in r.stderr, (r.stdout, r.stderr)
    out = verify(d, "--accept-unanchored").stdout
    assert out.startswith("verified ") and "checkpoints signed by" in out
    assert "anchored: holds record" in out, out
    # On copied segments, with the exported public key, without the data directory.
    copy = d.parent / "copied"
    shutil.copytree(d / "audit", copy)
    pub = d.parent / "audit.pub"
    pub.write_text(run_cli("audit", "pubkey", "--data-dir", str(d)).stdout)
    assert verify(d, "--dir", str(copy), "--pubkey", str(pub)).stdout.startswith("verified ")


def tampered(d: Path, name: str, change):
    copy = d.parent / f"tamper-{name}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(d / "audit", copy)
    seg = sorted(copy.glob("*.log"))[0]
    lines = seg.read_text().splitlines(keepends=True)
    seg.write_text("".join(change(lines)))
    pub = d.parent / "audit.pub"
    pub.write_text(run_cli("audit", "pubkey", "--data-dir", str(d)).stdout)
    r = verify(d, "--dir", str(copy), "--pubkey", str(pub), check=False)
    assert r.returncode != 0, r.stdout
    return r.stderr


def test_tampering_is_found_where_it_happened(trail):
    d, _ = trail

    def flip(lines):
        assert '"seq":4' in lines[3]
        lines[3] = lines[3].replace('"decision":"', '"decision":"X', 1)
        return lines

    err = tampered(d, "flip", flip)
    print(err)
    assert "BROKEN" in err and "4" in err.split("(verified")[0]
    err = tampered(d, "delete", lambda ls: ls[:2] + ls[3:])
    print(err)
    assert "BROKEN" in err and "3" in err.split("(verified")[0]
    err = tampered(d, "swap", lambda ls: ls[:2] + [ls[3], ls[2]] + ls[4:])
    assert "BROKEN" in err
    err = tampered(d, "truncate", lambda ls: ls[:-1] + [ls[-1][: len(ls[-1]) // 2]])
    assert "BROKEN" in err


def test_ocsf_export(trail):
    d, seen = trail
    out = run_cli("audit", "export", "--format", "ocsf", "--data-dir", str(d)).stdout.splitlines()
    events = [json.loads(line) for line in out]
    assert events and all(e["class_uid"] == 6003 and e["category_uid"] == 6 for e in events)
    assert len(events) == len(records(d))
    jsonl = run_cli("audit", "export", "--format", "jsonl", "--request-id", seen["chat"], "--data-dir", str(d)).stdout.splitlines()
    assert len(jsonl) == 2 and all(json.loads(line)["event"]["request_id"] == seen["chat"] for line in jsonl)


def test_prompt_hashes_when_configured(tmp_path):
    d = tmp_path / "h"
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d))
    make_tester(d)
    s = Server(d, extra_env={"SCIF_AUDIT_PROMPTS": "sha256"}).wait_ready()
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "PINEAPPLE-7"}], "max_tokens": 2}
        rid = httpx.post(f"{s.url}/v1/chat/completions", json=body, headers=s.auth, timeout=60).headers["x-request-id"]
    finally:
        assert s.stop() == 0
    intent, done = [r["event"] for r in records(d) if r["event"].get("request_id") == rid]
    assert len(intent["detail"]["prompt_sha256"]) == 64 and len(done["detail"]["completion_sha256"]) == 64
    assert "PINEAPPLE" not in "".join(p.read_text() for p in (d / "audit").glob("*.log"))


def test_sigkill_never_loses_an_acknowledged_request(tmp_path):
    """Kill scif with SIGKILL at random moments under concurrent load, 20 times; every request
    whose response arrived must be in the trail, and the trail must verify after recovery."""
    d = tmp_path / "crash"
    d.mkdir()
    make_tester(d)
    acknowledged = []
    rng = random.Random(7)
    for round_ in range(20):
        s = Server(d).wait_alive()
        stop = threading.Event()

        def load():
            with httpx.Client(headers=s.auth, timeout=5) as c:
                while not stop.is_set():
                    try:
                        r = c.get(f"{s.url}/v1/models")
                    except httpx.TransportError:
                        return
                    if r.status_code == 200:
                        acknowledged.append(r.headers["x-request-id"])

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.05, 0.6))
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        s.log.close()
    s = Server(d).wait_alive()  # recovers the last crash's tail
    try:
        pass
    finally:
        assert s.stop() == 0
    recs = records(d)
    ids = {r["event"].get("request_id") for r in recs}
    missing = [a for a in acknowledged if a not in ids]
    assert len(acknowledged) > 100, len(acknowledged)
    assert not missing, f"{len(missing)} acknowledged requests missing from the trail"
    assert verify(d, "--accept-unanchored").returncode == 0
    starts = [r for r in recs if r["event"]["action"] == "server_start"]
    assert len(starts) == 21
    recovered = [r for r in recs if r["event"]["action"] == "trail_recovered"]
    assert len(recovered) == 20, "each start after a SIGKILL recovers the tail and says so"
