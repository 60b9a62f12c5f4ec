"""An insider with write access to the data directory cannot cut the trail short, roll it back
or re-sign it unnoticed: the node anchors its trail in the store (another file), `serve` refuses
a trail that no longer holds what it anchored, `verify` catches it too and trusts no key found on
the host, and `scif audit reanchor` is the recorded way back."""

import hashlib
import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from conftest import MODEL, SYSTEM, Server, make_tester, model_file, run_cli


def verify(d: Path, *args, check=True):
    return run_cli("audit", "verify", "--data-dir", str(d), *args, check=check)


def serve_some(d: Path, n=3, env=None):
    s = Server(d, extra_env=env).wait_ready()
    try:
        body = {"model": MODEL, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}], "max_tokens": 2, "temperature": 0}
        for _ in range(n):
            assert httpx.post(f"{s.url}/v1/chat/completions", json=body, headers=s.auth, timeout=60).status_code == 200
    finally:
        assert s.stop() == 0, s.logs()


def refused_start(d: Path) -> str:
    s = Server(d)
    code = s.proc.wait(timeout=60)
    logs = s.logs()
    s.log.close()
    assert code != 0, logs
    return logs


@pytest.fixture
def node(tmp_path):
    d = tmp_path / "n"
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d))
    make_tester(d)
    # Checkpoints often, segments small: the trail has several of each.
    env = {"SCIF_AUDIT_CHECKPOINT_EVERY_EVENTS": "3", "SCIF_AUDIT_SEGMENT_MAX_MB": "1"}
    serve_some(d, env=env)
    return d


def segments(d: Path):
    return sorted((d / "audit").glob("segment-*.log"))


def test_a_rolled_back_trail_is_refused_and_reanchored_on_record(node):
    d = node
    backup = d.parent / "backup"
    shutil.copytree(d / "audit", backup)
    serve_some(d)  # the trail moves on past the backup
    shutil.rmtree(d / "audit")
    shutil.copytree(backup, d / "audit")  # roll the directory back
    logs = refused_start(d)
    assert "will not continue it" in logs and "scif audit reanchor" in logs, logs
    r = verify(d, "--accept-unanchored", check=False)
    assert r.returncode != 0 and "no longer holds record" in r.stderr, r.stderr
    # The recorded way back.
    r = run_cli("audit", "reanchor", "--data-dir", str(d), check=False)
    assert r.returncode != 0  # a reason is required
    run_cli("audit", "reanchor", "--reason", "restored from backup after disk failure INC-42", "--data-dir", str(d))
    serve_some(d, n=1)
    recs = [json.loads(line) for line in run_cli("audit", "query", "--json", "--action", "audit_anchor_reset", "--data-dir", str(d)).stdout.splitlines()]
    assert len(recs) == 1 and recs[0]["event"]["detail"]["reason"].endswith("INC-42"), recs
    assert verify(d, "--accept-unanchored").returncode == 0


def test_truncation_at_a_checkpoint_and_a_deleted_last_segment_are_refused(node):
    d = node
    # Truncate the last segment right after an earlier checkpoint line.
    last = segments(d)[-1]
    lines = last.read_text().splitlines(keepends=True)
    cps = [i for i, line in enumerate(lines) if line.startswith('{"checkpoint"')]
    assert len(cps) >= 2, lines
    saved = last.read_text()
    last.write_text("".join(lines[: cps[-2] + 1]))
    assert "will not continue it" in refused_start(d)
    r = verify(d, "--accept-unanchored", check=False)
    assert r.returncode != 0 and "no longer holds record" in r.stderr, r.stderr
    last.write_text(saved)
    # Delete the whole last segment (after a restart there are several).
    serve_some(d, n=1)
    segs = segments(d)
    if len(segs) < 2:
        pytest.skip("one segment only")
    segs[-1].unlink()
    assert "will not continue it" in refused_start(d)


def rehash(record: dict) -> dict:
    """The record's hash recomputed as the node would (the crate docs' canonical encoding):
    what an insider re-chaining an edited trail computes."""
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    record["hash"] = hashlib.sha256(b"scif audit record v1\0" + canonical.encode()).hexdigest()
    return record


def test_an_edited_and_rechained_record_is_refused(node):
    d = node
    last = segments(d)[-1]
    lines = last.read_text().splitlines(keepends=True)
    idx = max(i for i, line in enumerate(lines) if line.startswith('{"event"'))
    rec = json.loads(lines[idx])
    assert rehash(json.loads(lines[idx]))["hash"] == rec["hash"], "the re-chaining is the node's own"
    rec["event"]["principal"] = "someone-else"
    lines[idx] = json.dumps(rehash(rec), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    last.write_text("".join(lines))
    assert "holds a different record" in refused_start(d)


def test_a_replaced_trail_is_refused(node, tmp_path):
    d = node
    other = tmp_path / "other"
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(other))
    make_tester(other)
    serve_some(other, n=6)
    shutil.rmtree(d / "audit")
    shutil.copytree(other / "audit", d / "audit")
    assert "will not continue it" in refused_start(d)


def test_verify_trusts_only_a_pinned_key(node, tmp_path):
    d = node
    pub = run_cli("audit", "pubkey", "--data-dir", str(d)).stdout.strip()
    outside = tmp_path / "pinned.pub"
    outside.write_text(pub)
    assert verify(d, "--pubkey", str(outside)).stdout.startswith("verified ")
    # Delete the host's public key and re-sign with any key: the pinned key catches it, and
    # without one verify exits non-zero.
    (d / "secrets" / "audit-signing.pub").unlink()
    r = verify(d, check=False)
    assert r.returncode != 0 and "UNANCHORED" in r.stderr
    # A pinned key in the configuration works the same as --pubkey.
    cfg = d / "pinned.toml"
    cfg.write_text(f'[audit]\npublic_key = "{pub}"\n')
    r = run_cli("audit", "verify", "--data-dir", str(d), "--config", str(cfg), check=False)
    assert r.returncode == 0, r.stderr
    wrong = tmp_path / "wrong.pub"
    wrong.write_text("11" * 32)
    assert verify(d, "--pubkey", str(wrong), check=False).returncode != 0


def checker(kind, pub, proof: dict, tmp_path: Path):
    import subprocess
    import sys

    f = tmp_path / f"{kind}-{abs(hash(json.dumps(proof, sort_keys=True)))}.json"
    f.write_text(json.dumps(proof))
    script = Path(__file__).resolve().parents[2] / "scripts" / "audit_proof_check.py"
    return subprocess.run([sys.executable, str(script), kind, pub, str(f)], capture_output=True, text=True)


def test_inclusion_and_consistency_proofs_check_offline_with_an_independent_reader(node, tmp_path):
    d = node
    pub = run_cli("audit", "pubkey", "--data-dir", str(d)).stdout.strip()
    out = verify(d, "--accept-unanchored").stdout
    assert "checkpoints signed by" in out
    sizes = []
    for seg in segments(d):
        for line in seg.read_text().splitlines():
            if line.startswith('{"checkpoint"') and '"tlog"' in line:
                sizes.append(json.loads(line)["checkpoint"]["seq"])
    assert len(sizes) >= 3, sizes
    last = sizes[-1]
    for seq in sorted({1, 2, last // 2, last}):
        p = json.loads(run_cli("audit", "prove", str(seq), "--data-dir", str(d)).stdout)
        assert p["seq"] == seq and p["tree_size"] >= seq
        r = checker("inclusion", pub, p, tmp_path)
        assert r.returncode == 0 and "proof holds" in r.stdout, (seq, r.stdout, r.stderr)
        if p["proof"]:
            bad = dict(p, proof=[("0" if p["proof"][0][0] != "0" else "1") + p["proof"][0][1:]] + p["proof"][1:])
            assert checker("inclusion", pub, bad, tmp_path).returncode == 1
        other = dict(p, record=p["record"].replace('"decision":"', '"decision":"x', 1))
        assert checker("inclusion", pub, other, tmp_path).returncode == 1
        assert checker("inclusion", "11" * 32, p, tmp_path).returncode == 1
    for old, new in [(sizes[0], last), (sizes[1], sizes[-2]), (last, last)]:
        c = json.loads(run_cli("audit", "consistency", str(old), str(new), "--data-dir", str(d)).stdout)
        r = checker("consistency", pub, c, tmp_path)
        assert r.returncode == 0, (old, new, r.stdout)
    # A proof between trees that are not prefixes of one another fails: swap the checkpoints.
    c = json.loads(run_cli("audit", "consistency", str(sizes[0]), str(last), "--data-dir", str(d)).stdout)
    swapped = dict(c, old_checkpoint=c["new_checkpoint"], new_checkpoint=c["old_checkpoint"])
    assert checker("consistency", pub, swapped, tmp_path).returncode == 1
    assert run_cli("audit", "consistency", "2", str(last), "--data-dir", str(d), check=False).returncode != 0 or 2 in sizes


def test_key_outside_the_data_directory_checked_and_a_changed_key_recorded(node, tmp_path):
    d = node
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ["audit-signing.key", "audit-signing.pub"]:
        shutil.move(str(d / "secrets" / name), str(keys / name))
    env = {"SCIF_AUDIT_KEY_DIR": str(keys)}
    (keys / "audit-signing.key").chmod(0o644)
    s = Server(d, extra_env=env)
    assert s.proc.wait(timeout=60) != 0 and "chmod 600" in s.logs(), s.logs()
    s.log.close()
    (keys / "audit-signing.key").chmod(0o600)
    serve_some(d, n=1, env=env)  # the same key, moved: nothing to record
    assert not run_cli("audit", "query", "--json", "--action", "audit_signing_key_changed", "--data-dir", str(d)).stdout.strip()
    # Rotation: a new key pair. The change is recorded, naming both public keys.
    old = (keys / "audit-signing.pub").read_text().strip()
    for name in ["audit-signing.key", "audit-signing.pub"]:
        (keys / name).unlink()
    serve_some(d, n=1, env=env)
    new = (keys / "audit-signing.pub").read_text().strip()
    recs = [json.loads(line) for line in run_cli("audit", "query", "--json", "--action", "audit_signing_key_changed", "--data-dir", str(d)).stdout.splitlines()]
    assert len(recs) == 1 and recs[0]["event"]["detail"] == {"previous_public_key": old, "public_key": new}, recs


def test_a_caller_chosen_model_name_is_recorded_cut_short(node):
    d = node
    s = Server(d).wait_ready()
    try:
        name = "m" * 20000
        r = httpx.post(f"{s.url}/v1/chat/completions", json={"model": name, "messages": [{"role": "user", "content": "hi"}]}, headers=s.auth, timeout=60)
        assert r.status_code == 404
        rid = r.headers["x-request-id"]
    finally:
        assert s.stop() == 0
    recs = [json.loads(line) for line in run_cli("audit", "query", "--json", "--request-id", rid, "--data-dir", str(d)).stdout.splitlines()]
    assert recs, "the refusal is recorded"
    for rec in recs:
        for field in ["resource", "model"]:
            v = rec["event"].get(field) or ""
            assert len(v.encode()) <= 256 + len("…[truncated]".encode()), (field, len(v))
    assert any((rec["event"].get("resource") or "").endswith("…[truncated]") for rec in recs), recs


def test_connections_refused_below_http_are_counted_and_recorded(node):
    import socket
    import ssl

    from conftest import metric

    d = node
    s = Server(d, extra_env={"SCIF_AUDIT_REFUSED_SUMMARY_SECS": "1"}).wait_ready()
    try:
        port = int(s.url.rsplit(":", 1)[1])
        for payload in [b"\x00\x01\x02 not http at all\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n"]:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(payload)
                c.recv(1024)
        # TLS spoken to the plain port.
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            with pytest.raises(ssl.SSLError):
                ctx.wrap_socket(c, server_hostname="localhost")
        deadline = time.monotonic() + 10
        while metric(s, "scif_connections_refused_total", reason="malformed_http") < 3:
            assert time.monotonic() < deadline, metric(s, "scif_connections_refused_total", reason="malformed_http")
            time.sleep(0.2)
        time.sleep(1.5)
    finally:
        assert s.stop() == 0, s.logs()
    recs = [json.loads(line) for line in run_cli("audit", "query", "--json", "--action", "connections_refused", "--data-dir", str(d)).stdout.splitlines()]
    assert sum(r["event"]["detail"].get("malformed_http", 0) for r in recs) >= 3, recs
    assert all(r["event"]["decision"] == "deny" for r in recs)
