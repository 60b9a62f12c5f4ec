#!/usr/bin/env python3
"""Checks a scif audit proof offline, written from the specifications alone (RFC 9162 Merkle
proofs, C2SP tlog-checkpoint and signed-note, and the record hashing in
crates/audit/src/lib.rs), using only hashlib and the `cryptography` package.

    scif audit prove 42 > p.json        && audit_proof_check.py inclusion   PUBKEY_HEX p.json
    scif audit consistency 10 40 > c.json && audit_proof_check.py consistency PUBKEY_HEX c.json

Exit 0 when the proof holds, 1 (with the reason) when it does not."""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def note(text: str, pubkey: bytes):
    """(size, root) of a checkpoint note signed by `pubkey` under its origin, else raises."""
    body, _, sigs = text.partition("\n\n")
    lines = body.split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    key_id = h(origin.encode(), b"\n", b"\x01", pubkey)[:4]
    signed = (body + "\n").encode()
    for line in sigs.split("\n"):
        if not line.startswith("\u2014 "):
            continue
        name, _, b64 = line[2:].rpartition(" ")
        blob = base64.b64decode(b64)
        if name == origin and blob[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(pubkey).verify(blob[4:], signed)
                return size, root
            except InvalidSignature:
                pass
    raise ValueError("checkpoint not signed by the given key")


def record_hash(line: str) -> str:
    """The record's hash recomputed from its line: SHA-256 over the domain separator and the
    canonical JSON of the record without its hash member."""
    rec = json.loads(line)
    stored = rec.pop("hash")
    canonical = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if h(b"scif audit record v1\x00", canonical.encode()).hex() != stored:
        raise ValueError("the record does not match its hash")
    return stored


def verify_inclusion(leaf: bytes, index: int, size: int, proof, root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h(b"\x01", p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m: int, n: int, proof, old_root: bytes, new_root: bytes) -> bool:
    if m == 0 or m > n:
        return False
    if m == n:
        return not proof and old_root == new_root
    proof = list(proof)
    if m & (m - 1) == 0:
        proof.insert(0, old_root)
    if not proof:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = h(b"\x01", c, fr)
            sr = h(b"\x01", c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = h(b"\x01", sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def main(argv) -> int:
    kind, pubkey, path = argv[1], bytes.fromhex(argv[2].strip()), argv[3]
    p = json.load(open(path))
    try:
        if kind == "inclusion":
            size, root = note(p["checkpoint"], pubkey)
            assert size == p["tree_size"], "the checkpoint is for another size"
            rh = record_hash(p["record"])
            assert rh == p["record_hash"], "the record is not the one proved"
            seq = json.loads(p["record"])["seq"]
            leaf = h(b"\x00", bytes.fromhex(rh))
            ok = verify_inclusion(leaf, seq - 1, size, [bytes.fromhex(x) for x in p["proof"]], root)
        else:
            m, old_root = note(p["old_checkpoint"], pubkey)
            n, new_root = note(p["new_checkpoint"], pubkey)
            ok = verify_consistency(m, n, [bytes.fromhex(x) for x in p["proof"]], old_root, new_root)
    except (ValueError, AssertionError, KeyError) as e:
        print(f"proof does not hold: {e}")
        return 1
    print("proof holds" if ok else "proof does not hold: the hashes do not lead to the signed root")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
