"""Zero trust through the real server: every request authenticated (API keys, OIDC tokens,
client certificates), authorized by label rules and policy, and every attack refused in the
OpenAI error shape. One server, TLS with optional client certificates, OIDC from a JWKS file,
and two models: one UNCLASSIFIED, one SECRET//NOFORN."""

import re
import ssl
import time
from pathlib import Path

import httpx
import openai
import pytest

from conftest import MODEL, SYSTEM, Server, model_file, run_cli
from pki import CA, Issuer, write_pair

SECRET_MODEL = "secret-model"
SYSTEM_HIGH = "TOP SECRET//SI//NOFORN"
UNAUTHENTICATED = "Missing, invalid or expired credentials."


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d: Path = tmp_path_factory.mktemp("zt")
    pki = d / "pki"
    pki.mkdir()
    ca, rogue = CA("scif test CA"), CA("rogue CA")
    (pki / "ca.crt").write_bytes(ca.cert.public_bytes(__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM))
    server_pair = write_pair(pki, "server", *ca.issue("localhost", server=True))
    certs = {}
    for name, issuer, email in [("alice", ca, "alice@example.mil"), ("bob", ca, "bob@example.mil"), ("carol", ca, "carol@example.mil"), ("mallory", rogue, "alice@example.mil")]:
        key, cert = issuer.issue(name, email=email)
        certs[name] = (write_pair(pki, name, key, cert), cert)
    (pki / "crl.pem").write_bytes(ca.crl([certs["bob"][1]]))
    idp = Issuer()
    (pki / "jwks.json").write_text(idp.jwks())

    env = {"SCIF_SECURITY_SYSTEM_HIGH": SYSTEM_HIGH}
    import os

    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}, **env}
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d), env=cli_env)
    run_cli("models", "import", model_file(), "--name", SECRET_MODEL, "--label", "SECRET//NOFORN", "--data-dir", str(d), env=cli_env)
    config = f"""
[security]
system_high = "{SYSTEM_HIGH}"

[tls]
cert_file = "{server_pair[0]}"
key_file = "{server_pair[1]}"
client_ca_file = "{pki / 'ca.crt'}"
crl_files = ["{pki / 'crl.pem'}"]
client_auth = "optional"

[oidc]
issuer = "{Issuer.ISS}"
audience = "{Issuer.AUD}"
jwks_file = "{pki / 'jwks.json'}"
clearance_claim = "clearance"
nationality_claim = "nationality"
us_person_claim = "us_person"
groups_claim = "groups"
"""
    s = Server(d, config=config)
    s.url = s.url.replace("http://", "https://")
    s.ca = str(pki / "ca.crt")
    deadline = time.monotonic() + 120
    while True:
        assert s.proc.poll() is None, s.logs()
        try:
            if httpx.get(f"{s.url}/readyz", verify=ssl.create_default_context(cafile=s.ca), timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, s.logs()
        time.sleep(0.2)
    # The bootstrap administrator's key is printed once, on first start.
    m = re.search(r"^\s+(scif_[a-z2-7]+_[a-z2-7]+)\s*$", s.logs(), re.M)
    assert m, s.logs()
    s.key = m.group(1)
    s.auth = {"Authorization": f"Bearer {s.key}"}
    s.certs = {name: pair for name, (pair, _) in certs.items()}
    s.idp = idp
    s.env = cli_env
    yield s
    assert s.stop() == 0, s.logs()


def tls(site, cert=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=site.ca)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def call(site, method, path, key=None, cert=None, headers=None, **kw):
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    with httpx.Client(verify=tls(site, cert), timeout=120) as c:
        return c.request(method, f"{site.url}{path}", headers=h, **kw)


def admin(site, method, path, **kw):
    r = call(site, method, f"/admin/v1{path}", key=site.key, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def principal(site, pid, clearance, nationality="USA", groups=(), **extra):
    admin(site, "POST", "/principals", json={"id": pid, "clearance": clearance, "nationality": nationality, "us_person": nationality == "USA", "groups": list(groups), **extra})
    return admin(site, "POST", "/keys", json={"principal": pid, "description": "e2e"})["key"]


@pytest.fixture(scope="module")
def keys(site):
    return {
        "u": principal(site, "analyst-u", "UNCLASSIFIED"),
        "s": principal(site, "analyst-s", "SECRET"),
        "gbr": principal(site, "analyst-gbr", "SECRET", nationality="GBR", groups=["FVEY"]),
        "alice": principal(site, "alice@example.mil", "SECRET"),
        "bob": principal(site, "bob@example.mil", "SECRET"),
    }


def client(site, key):
    return openai.OpenAI(base_url=f"{site.url}/v1", api_key=key, max_retries=0, timeout=120, http_client=httpx.Client(verify=tls(site)))


def chat_body(model=MODEL, max_tokens=3):
    return {"model": model, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Say hi."}], "max_tokens": max_tokens, "temperature": 0}


def assert_401(r):
    assert r.status_code == 401, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_api_key" and err["message"].startswith(UNAUTHENTICATED)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["x-request-id"]


# --- authentication -------------------------------------------------------------------------


def test_bootstrap_admin_and_open_health_probes(site):
    assert httpx.get(f"{site.url}/healthz", verify=tls(site)).status_code == 200
    me = admin(site, "GET", "/whoami")
    assert me["id"] == "admin" and me["clearance"] == SYSTEM_HIGH and "admins" in me["groups"]
    assert me["authentication"]["method"] == "api_key"


def test_no_credentials_is_401_everywhere_even_for_unknown_routes(site):
    for method, path in [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/metrics"), ("GET", "/admin/v1/principals"), ("GET", "/v1/no-such-route")]:
        assert_401(call(site, method, path))
    with pytest.raises(openai.AuthenticationError):
        client(site, "not-a-key").models.list()


def test_forged_malformed_revoked_and_expired_api_keys(site, keys):
    good = keys["u"]
    forged = good[:-1] + ("a" if good[-1] != "a" else "b")
    for bad in [forged, "scif_aaaaaaaaaaaaaaaa_" + "a" * 52, "scif_", "Bearer", "x" * 5000]:
        assert_401(call(site, "GET", "/v1/models", key=bad))
    assert_401(call(site, "GET", "/v1/models", headers={"Authorization": f"Basic {good}"}))

    k = admin(site, "POST", "/keys", json={"principal": "analyst-u"})
    assert call(site, "GET", "/v1/models", key=k["key"]).status_code == 200
    admin(site, "DELETE", f"/keys/{k['id']}")
    assert_401(call(site, "GET", "/v1/models", key=k["key"]))
    assert [x["revoked_at"] for x in admin(site, "GET", "/keys?principal=analyst-u")["data"] if x["id"] == k["id"]][0]

    short = admin(site, "POST", "/keys", json={"principal": "analyst-u", "expires_in_secs": 2})
    assert call(site, "GET", "/v1/models", key=short["key"]).status_code == 200
    time.sleep(3.2)
    assert_401(call(site, "GET", "/v1/models", key=short["key"]))

    # Keys are never listed with their secrets.
    listed = admin(site, "GET", "/keys")["data"]
    assert listed and all("key" not in x for x in listed)


def test_disabled_principal_is_refused(site):
    key = principal(site, "temp-user", "UNCLASSIFIED")
    assert call(site, "GET", "/v1/models", key=key).status_code == 200
    admin(site, "PATCH", "/principals/temp-user", json={"disabled": True})
    assert_401(call(site, "GET", "/v1/models", key=key))
    admin(site, "DELETE", "/principals/temp-user")


def test_oidc_tokens_verified_and_attacks_refused(site):
    idp = site.idp
    for kid in ["rsa1", "ec1", "ed1"]:
        tok = idp.token(kid, sub=f"pilot-{kid}", clearance="SECRET", nationality="USA", us_person=True, groups=["analysts"])
        r = call(site, "GET", "/admin/v1/whoami", key=tok)
        assert r.status_code == 200, (kid, r.text)
        me = r.json()
        assert me["id"] == f"pilot-{kid}" and me["clearance"] == "SECRET" and me["authentication"] == {"method": "oidc", "issuer": idp.ISS}
    attacks = {
        "forged signature": idp.token("rsa1", key=idp.impostor),
        "expired": idp.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200),
        "not yet valid": idp.token(nbf=int(time.time()) + 3600),
        "wrong audience": idp.token(aud="someone-else"),
        "wrong issuer": idp.token(iss="https://evil.example"),
        "alg none": idp.alg_none(),
        "HS256 keyed with the RSA public key": idp.hs256_with_public_key(),
        "unknown kid": idp.token("rsa1", headers={"kid": "nope"}),
        "bad clearance claim": idp.token(clearance="ULTRA"),
        "truncated": idp.token()[:-10],
    }
    for name, tok in attacks.items():
        r = call(site, "GET", "/v1/models", key=tok)
        assert r.status_code == 401, (name, r.text)
    # A token with no clearance claim gets the most restrictive attributes.
    me = call(site, "GET", "/admin/v1/whoami", key=idp.token(sub="bare")).json()
    assert me["clearance"] == "UNCLASSIFIED" and me["us_person"] is False and me["groups"] == []


def test_client_certificates(site, keys):
    alice = site.certs["alice"]
    r = call(site, "GET", "/admin/v1/whoami", cert=alice)
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["id"] == "alice@example.mil" and me["authentication"]["method"] == "client_cert"
    assert "alice" in me["authentication"]["subject"]
    r = call(site, "POST", "/v1/chat/completions", cert=alice, json=chat_body())
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    assert r.headers["x-scif-label"] == "SECRET"
    # Trusted CA but no such principal: authenticated by TLS, unknown to scif.
    assert_401(call(site, "GET", "/v1/models", cert=site.certs["carol"]))
    # Untrusted CA (claiming alice's address) and a revoked certificate fail the handshake.
    for name in ["mallory", "bob"]:
        with pytest.raises(httpx.TransportError):
            call(site, "GET", "/v1/models", cert=site.certs[name])
    # bob's API key still works: revoking a certificate revokes that credential only.
    assert call(site, "GET", "/v1/models", key=keys["bob"]).status_code == 200


def test_impersonation_headers_are_ignored(site, keys):
    spoof = {
        "x-scif-principal": "admin",
        "x-scif-clearance": SYSTEM_HIGH,
        "x-scif-groups": "admins",
        "x-forwarded-user": "admin",
        "x-remote-user": "admin",
        "x-forwarded-client-cert": "By=spiffe://x;URI=admin",
    }
    me = call(site, "GET", "/admin/v1/whoami", key=keys["u"], headers=spoof).json()
    assert me["id"] == "analyst-u" and me["clearance"] == "UNCLASSIFIED"
    ids = [m["id"] for m in call(site, "GET", "/v1/models", key=keys["u"], headers=spoof).json()["data"]]
    assert ids == [MODEL]
    assert call(site, "GET", "/admin/v1/principals", key=keys["u"], headers=spoof).status_code == 403
    # Without any credential, headers alone get nothing.
    assert_401(call(site, "GET", "/v1/models", headers=spoof))


# --- authorization and labels ---------------------------------------------------------------


def test_model_above_clearance_is_indistinguishable_from_a_missing_one(site, keys):
    for who in ["u", "gbr"]:  # too low a clearance; a foreign national and a NOFORN model
        c = client(site, keys[who])
        assert [m.id for m in c.models.list().data] == [MODEL], who
        hidden = call(site, "GET", f"/v1/models/{SECRET_MODEL}", key=keys[who])
        missing = call(site, "GET", "/v1/models/no-such-model", key=keys[who])
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"]["message"].replace(SECRET_MODEL, "X") == missing.json()["error"]["message"].replace("no-such-model", "X")
        assert {k: v for k, v in hidden.json()["error"].items() if k != "message"} == {k: v for k, v in missing.json()["error"].items() if k != "message"}
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(**chat_body(SECRET_MODEL))
    # Cleared, a US person: visible and usable, and the response carries the model's label.
    c = client(site, keys["s"])
    assert sorted(m.id for m in c.models.list().data) == sorted([MODEL, SECRET_MODEL])
    r = c.chat.completions.with_raw_response.create(**chat_body(SECRET_MODEL), extra_headers={"x-scif-input-label": "UNCLASSIFIED"})
    assert r.headers["x-scif-label"] == "SECRET//NOFORN"
    assert r.parse().choices[0].message.content


def test_input_labels_flow_upward_only(site, keys):
    c = client(site, keys["s"])
    # Undeclared input is taken at the caller's clearance, so the output is SECRET.
    r = c.chat.completions.with_raw_response.create(**chat_body())
    assert r.headers["x-scif-label"] == "SECRET"
    # Declared in portion form: output = join(input, model) = CONFIDENTIAL.
    r = c.chat.completions.with_raw_response.create(**chat_body(), extra_headers={"x-scif-input-label": "(C)"})
    assert r.headers["x-scif-label"] == "CONFIDENTIAL"
    # Streamed responses carry it too.
    with httpx.Client(verify=tls(site)) as h:
        with h.stream("POST", f"{site.url}/v1/chat/completions", json={**chat_body(), "stream": True}, headers={"Authorization": f"Bearer {keys['u']}"}) as s:
            assert s.status_code == 200 and s.headers["x-scif-label"] == "UNCLASSIFIED"
    # Above the caller's clearance: refused, without naming a label it does not already know.
    with pytest.raises(openai.PermissionDeniedError) as e:
        c.chat.completions.create(**chat_body(), extra_headers={"x-scif-input-label": "TOP SECRET"})
    assert "cleared" in e.value.message
    with pytest.raises(openai.PermissionDeniedError):
        c.chat.completions.create(**chat_body(), extra_headers={"x-scif-input-label": "SECRET//SI"})
    # Malformed: a 400 naming the header.
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(**chat_body(), extra_headers={"x-scif-input-label": "SECRETT"})
    assert "x-scif-input-label" in e.value.message


def test_input_above_the_endpoint_accreditation_is_refused(site):
    # An OIDC principal whose token claims more than this deployment's system high.
    tok = site.idp.token(sub="ts-tk", clearance="TOP SECRET//SI/TK", nationality="USA", us_person=True)
    c = client(site, tok)
    with pytest.raises(openai.PermissionDeniedError) as e:
        c.chat.completions.create(**chat_body(), extra_headers={"x-scif-input-label": "TOP SECRET//TK"})
    assert "accredited" in e.value.message
    r = c.chat.completions.with_raw_response.create(**chat_body(), extra_headers={"x-scif-input-label": "TOP SECRET//SI"})
    assert r.headers["x-scif-label"] == "TOP SECRET//SI"


def test_metrics_need_read_metrics(site, keys):
    r = call(site, "GET", "/metrics", key=keys["u"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert call(site, "GET", "/metrics", key=site.key).status_code == 200


# --- admin ----------------------------------------------------------------------------------


def test_admin_api_is_authorized_and_validated(site, keys):
    for method, path, body, status in [("GET", "/principals", None, 403), ("POST", "/keys", {"principal": "analyst-u"}, 403), ("PUT", "/policies", {"policies": ""}, 404), ("PUT", f"/models/{MODEL}/label", {"label": "SECRET"}, 403)]:
        # Global policy is a system-high matter: below it, the policies are not there at all.
        r = call(site, method, f"/admin/v1{path}", key=keys["s"], json=body)
        assert r.status_code == status, (path, r.text)
        assert "permit" not in r.text and "SECRET" not in r.text
    bad = [
        ({"id": "x", "clearance": "TOP SECRET//TK", "nationality": "USA", "us_person": True}, "system high"),
        ({"id": "x", "clearance": "SECRETT", "nationality": "USA", "us_person": True}, "clearance"),
        ({"id": "x", "clearance": "SECRET", "nationality": "usa", "us_person": True}, "nationality"),
        ({"id": "bad id!", "clearance": "SECRET", "nationality": "USA", "us_person": True}, "id"),
        ({"id": "x", "clearance": "SECRET", "nationality": "USA", "us_person": True, "role": "god"}, "role"),
    ]
    for body, word in bad:
        r = call(site, "POST", "/admin/v1/principals", key=site.key, json=body)
        assert r.status_code == 400 and word in r.json()["error"]["message"], r.text
    r = call(site, "POST", "/admin/v1/principals", key=site.key, json={"id": "analyst-u", "clearance": "SECRET", "nationality": "USA", "us_person": True})
    assert r.status_code == 409
    assert call(site, "GET", "/admin/v1/principals/nobody", key=site.key).status_code == 404


def test_policies_are_validated_and_take_effect_at_once(site, keys):
    before = admin(site, "GET", "/policies")
    r = call(site, "PUT", "/admin/v1/policies", key=site.key, json={"policies": 'permit (principal, action == Scif::Action::"fly", resource);'})
    assert r.status_code == 400 and "fly" in r.json()["error"]["message"]
    only_admins = '@id("admins-only")\npermit (principal in Scif::Group::"admins", action, resource);'
    v = admin(site, "PUT", "/policies", json={"policies": only_admins})
    assert v["version"] == before["version"] + 1 and v["created_by"] == "admin"
    try:
        with pytest.raises(openai.PermissionDeniedError):
            client(site, keys["u"]).chat.completions.create(**chat_body())
        assert call(site, "GET", "/v1/models", key=keys["u"]).json()["data"] == []
    finally:
        admin(site, "PUT", "/policies", json={"policies": before["policies"]})
    assert client(site, keys["u"]).chat.completions.create(**chat_body()).choices[0].message.content


def test_relabel_a_model_through_the_admin_api(site, keys):
    admin(site, "PUT", f"/models/{MODEL}/label", json={"label": "CONFIDENTIAL"})
    try:
        assert call(site, "GET", f"/v1/models/{MODEL}", key=keys["u"]).status_code == 404
        assert call(site, "GET", f"/v1/models/{MODEL}", key=keys["s"]).json()["label"] == "CONFIDENTIAL"
        r = call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=site.key, json={"label": "TOP SECRET//TK"})
        assert r.status_code == 400 and "system high" in r.text
    finally:
        admin(site, "PUT", f"/models/{MODEL}/label", json={"label": "UNCLASSIFIED"})
    assert call(site, "GET", f"/v1/models/{MODEL}", key=keys["u"]).status_code == 200


def test_cli_changes_reach_the_running_server(site, keys):
    d = str(site.data_dir)
    run_cli("principals", "create", "cli-user", "--clearance", "SECRET", "--data-dir", d, env=site.env)
    key = run_cli("keys", "create", "--principal", "cli-user", "--scope", "list_models", "--data-dir", d, env=site.env).stdout.strip()
    assert call(site, "GET", "/v1/models", key=key).status_code == 200
    # The key is scoped to listing: invoking is refused even though policy would allow it.
    r = call(site, "POST", "/v1/chat/completions", key=key, json=chat_body())
    assert r.status_code == 403
    key_id = key.split("_")[1]
    run_cli("keys", "revoke", key_id, "--data-dir", d, env=site.env)
    # Another process's change reaches the server's identity cache within its one-second TTL.
    deadline = time.monotonic() + 3
    while call(site, "GET", "/v1/models", key=key).status_code == 200:
        assert time.monotonic() < deadline, "a key revoked with the CLI still works after 3 s"
        time.sleep(0.1)
    assert_401(call(site, "GET", "/v1/models", key=key))


def test_no_secret_reaches_the_log(site, keys):
    log = site.logs()
    assert "authentication failed" in log
    for k in [v for v in keys.values() if v]:
        assert k.split("_")[2] not in log
    assert site.key.split("_")[2] not in log.split("Use it as")[1], "the bootstrap key appears only in its one-time banner"
    assert "eyJ" not in log, "no JWT in the log"


def phi_admin(site):
    """An administrator holding the PHI access, made by the local operator (the bootstrap
    administrator holds no access, so it can grant none)."""
    if not hasattr(site, "phi_admin"):
        run_cli("principals", "create", "phi-admin", "--clearance", SYSTEM_HIGH, "--group", "admins", "--access", "PHI", "--data-dir", str(site.data_dir), env=site.env)
        site.phi_admin = run_cli("keys", "create", "--principal", "phi-admin", "--data-dir", str(site.data_dir), env=site.env).stdout.strip()
    return site.phi_admin


def test_phi_and_itar_handling_on_a_model(site, keys):
    boss = phi_admin(site)
    assert call(site, "POST", "/admin/v1/principals", key=site.key, json={"id": "nurse", "clearance": "UNCLASSIFIED", "nationality": "USA", "us_person": True, "accesses": ["PHI"]}).status_code == 403, "no granting an access one lacks"
    r = call(site, "POST", "/admin/v1/principals", key=boss, json={"id": "nurse", "clearance": "UNCLASSIFIED", "nationality": "USA", "us_person": True, "accesses": ["PHI"]})
    assert r.status_code == 201, r.text
    nurse = call(site, "POST", "/admin/v1/keys", key=boss, json={"principal": "nurse"}).json()["key"]
    # The bootstrap administrator lacks PHI: it may not put the caveat on, and once it is on,
    # the model is as invisible to it as to anyone else without the access.
    assert call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=site.key, json={"label": "UNCLASSIFIED", "handling": ["phi"]}).status_code == 403
    r = call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=boss, json={"label": "UNCLASSIFIED", "handling": ["phi"]})
    assert r.status_code == 200, r.text
    assert call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=site.key, json={"label": "UNCLASSIFIED", "handling": []}).status_code == 404
    try:
        assert call(site, "GET", f"/v1/models/{MODEL}", key=keys["u"]).status_code == 404, "no PHI access"
        assert call(site, "GET", f"/v1/models/{MODEL}", key=nurse).status_code == 200
        r = call(site, "POST", "/v1/chat/completions", key=nurse, json=chat_body())
        assert r.status_code == 200, r.text
        r = call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=boss, json={"label": "UNCLASSIFIED", "handling": ["itar"]})
        assert r.status_code == 200, r.text
        assert call(site, "GET", f"/v1/models/{MODEL}", key=keys["gbr"]).status_code == 404, "ITAR: US persons only"
        assert call(site, "GET", f"/v1/models/{MODEL}", key=keys["u"]).status_code == 200
        r = call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=site.key, json={"label": "UNCLASSIFIED", "handling": ["hipaa"]})
        assert r.status_code == 400
    finally:
        r = call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=boss, json={"label": "UNCLASSIFIED", "handling": []})
        assert r.status_code == 200, r.text
    assert call(site, "GET", f"/v1/models/{MODEL}", key=keys["gbr"]).status_code == 200


def test_failed_tls_handshakes_are_counted(site):
    import socket

    def failed():
        text = call(site, "GET", "/metrics", key=site.key).text
        m = re.search(r'^scif_connections_refused_total\{reason="tls_handshake_failed"\} (\d+)', text, re.M)
        return int(m.group(1)) if m else 0

    before = failed()
    port = int(site.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP to the TLS port
        try:
            c.recv(1024)
        except OSError:
            pass
    deadline = time.monotonic() + 10
    while failed() <= before:
        assert time.monotonic() < deadline, "the failed handshake is not counted"
        time.sleep(0.2)
