"""No way around the mandatory rules, tried as an attacker with one low key or one admin role
would, through the real binary: admins bound by caveats, no granting what one does not hold,
mandatory before discretionary, scopes that only shrink, labelled telemetry and listings,
global policy at the system high, labelled guardrails, signed security headers, unforgeable
logs, private files, OIDC subjects against stored principals, one Authorization header."""

import json
import os
import re
import stat
import time
from pathlib import Path

import httpx
import pytest

from conftest import MODEL, SYSTEM, Server, make_tester, model_file, run_cli
from pki import Issuer
from test_gateway import Mock

boto3 = pytest.importorskip("boto3")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

HIGH = "TOP SECRET//SI"
TS_MODEL = "ts-model"
ITAR_MODEL = "itar-model"
PHI_MODEL = "phi-model"
REGION = "us-gov-west-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d: Path = tmp_path_factory.mktemp("rules")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}, "SCIF_SECURITY_SYSTEM_HIGH": HIGH}

    def cli(*args):
        return run_cli(*args, "--data-dir", str(d), env=env)

    cli("models", "import", model_file(), "--name", MODEL)
    cli("models", "import", model_file(), "--name", TS_MODEL, "--label", HIGH)
    cli("models", "import", model_file(), "--name", ITAR_MODEL, "--handling", "itar")
    cli("models", "import", model_file(), "--name", PHI_MODEL, "--handling", "phi")
    make_tester(d, HIGH, env=env)  # the administrator at the system high
    keys = {}
    for pid, clearance, extra in [
        ("sec-admin", "SECRET", ["--group", "admins"]),
        ("gbr-admin", "SECRET", ["--group", "admins", "--nationality", "GBR", "--us-person", "false"]),
        ("ops-u", "UNCLASSIFIED", ["--group", "operators"]),
        ("analyst", "UNCLASSIFIED", []),
        ("carol", "SECRET", []),
        ("dan", "SECRET", []),
        ("frank", "SECRET", ["--group", "admins"]),
    ]:
        cli("principals", "create", pid, "--clearance", clearance, *extra)
        keys[pid] = cli("keys", "create", "--principal", pid).stdout.strip()
    keys["lister"] = cli("keys", "create", "--principal", "tester", "--scope", "list_models").stdout.strip()
    keys["keys-only"] = cli("keys", "create", "--principal", "tester", "--scope", "manage_keys").stdout.strip()
    sig = {}
    for name, who, scopes in [("analyst", "analyst", []), ("lister", "tester", ["--scope", "list_models"])]:
        k = json.loads(cli("keys", "create", "--sigv4", "--principal", who, *scopes, "--json").stdout)
        sig[name] = (k["access_key_id"], k["secret_access_key"])
    cli("principals", "update", "carol", "--disable")
    cli("principals", "delete", "dan")

    idp = Issuer()
    (d / "jwks.json").write_text(idp.jwks())
    ts_mock, u_mock = Mock(), Mock()
    config = f"""
[security]
system_high = "{HIGH}"

[oidc]
issuer = "{Issuer.ISS}"
audience = "{Issuer.AUD}"
jwks_file = "{d / 'jwks.json'}"
clearance_claim = "clearance"
nationality_claim = "nationality"
us_person_claim = "us_person"
groups_claim = "groups"

[gateway]
health_check_secs = 0

[[remote_models]]
name = "ts-remote"
label = "{HIGH}"
context_length = 8192

[[remote_models]]
name = "u-remote"
label = "UNCLASSIFIED"
context_length = 8192

[[deployments]]
name = "ts-gpu"
model = "ts-remote"
url = "{ts_mock.url}"
accreditation = "{HIGH}"

[[deployments]]
name = "u-gpu"
model = "u-remote"
url = "{u_mock.url}"
accreditation = "UNCLASSIFIED"
"""
    # Wide modes left by a careless umask: the server tightens them and says so.
    os.chmod(d, 0o755)
    s = Server(d, config=config).wait_ready()
    s.keys, s.sig, s.idp, s.env = keys, sig, idp, env
    yield s
    assert s.stop() == 0, s.logs()
    ts_mock.stop()
    u_mock.stop()


def call(site, method, path, key=None, headers=None, **kw):
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    return httpx.request(method, f"{site.url}{path}", headers=h, timeout=120, **kw)


def chat(model, max_tokens=2):
    return {"model": model, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Say hi."}], "max_tokens": max_tokens, "temperature": 0}


def same_refusal(hidden: httpx.Response, missing: httpx.Response, hidden_name: str, missing_name: str):
    """A hidden thing and a missing one answer alike: status and body, but for the name."""
    assert hidden.status_code == missing.status_code, (hidden.text, missing.text)
    assert hidden.text.replace(hidden_name, "X") == missing.text.replace(missing_name, "X"), (hidden.text, missing.text)


def audit_denials(site, principal):
    r = call(site, "GET", "/admin/v1/audit", key=site.key, params={"principal": principal, "decision": "deny", "limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["data"]


# --- 1. admins are bound by the mandatory rules -----------------------------------------------


def test_admins_cannot_relabel_what_their_caveats_hide(site):
    k = site.keys
    # A foreign administrator and an ITAR model; an administrator without PHI and a PHI model.
    for key, model in [(k["gbr-admin"], ITAR_MODEL), (k["sec-admin"], PHI_MODEL)]:
        hidden = call(site, "PUT", f"/admin/v1/models/{model}/label", key=key, json={"label": "UNCLASSIFIED", "handling": []})
        missing = call(site, "PUT", "/admin/v1/models/no-such-model/label", key=key, json={"label": "UNCLASSIFIED", "handling": []})
        assert hidden.status_code == 404
        same_refusal(hidden, missing, model, "no-such-model")
    # The caveats are still on: a foreign analyst still cannot see the ITAR model.
    gbr = call(site, "GET", f"/v1/models/{ITAR_MODEL}", key=k["gbr-admin"])
    assert gbr.status_code == 404
    # Nor may a non-US administrator put ITAR on a model it can see (it could not read it after).
    r = call(site, "PUT", f"/admin/v1/models/{MODEL}/label", key=k["gbr-admin"], json={"label": "UNCLASSIFIED", "handling": ["itar"]})
    assert r.status_code == 403, r.text
    denials = audit_denials(site, "gbr-admin")
    assert any(e["event"]["action"] == "manage_models" and e["event"]["resource"] == f"model/{ITAR_MODEL}" for e in denials), denials


# --- 2. no granting what you do not hold --------------------------------------------------------


def new_principal(pid, clearance="SECRET", nationality="USA", us_person=True, **extra):
    return {"id": pid, "clearance": clearance, "nationality": nationality, "us_person": us_person, **extra}


def test_no_granting_what_you_do_not_hold(site):
    k = site.keys
    refused = [
        (k["sec-admin"], new_principal("g1", clearance="TOP SECRET")),
        (k["sec-admin"], new_principal("g2", accesses=["PHI"])),
        # A foreign administrator manages unclassified accounts only (an account is labelled
        # with its clearance, and classified without a release marking is NOFORN); within
        # them it still grants nothing it lacks.
        (k["gbr-admin"], new_principal("g3", clearance="UNCLASSIFIED")),  # US-person status
        (k["gbr-admin"], new_principal("g4", clearance="UNCLASSIFIED", nationality="USA", us_person=False)),  # USA is on every REL TO list
        (k["gbr-admin"], new_principal("g5", clearance="UNCLASSIFIED", nationality="GBR", us_person=False, groups=["FVEY"])),
        (k["gbr-admin"], new_principal("g6", clearance="UNCLASSIFIED", nationality="AUS", us_person=False)),
    ]
    for key, body in refused:
        r = call(site, "POST", "/admin/v1/principals", key=key, json=body)
        assert r.status_code == 403, (body, r.text)
        message = r.json()["error"]["message"]
        assert "you do not hold" in message or "not one you may assign" in message, message
        assert call(site, "GET", f"/admin/v1/principals/{body['id']}", key=site.key).status_code == 404
    for key, body in refused[2:]:
        assert "you do not hold" in call(site, "POST", "/admin/v1/principals", key=key, json=body).text
    # What they hold, they may grant: a GBR administrator makes a GBR analyst.
    r = call(site, "POST", "/admin/v1/principals", key=k["gbr-admin"], json=new_principal("gbr-analyst", clearance="UNCLASSIFIED", nationality="GBR", us_person=False))
    assert r.status_code == 201, r.text
    # Nor raise someone afterwards, nor mint a key that would hand over what the actor lacks.
    r = call(site, "PATCH", "/admin/v1/principals/gbr-analyst", key=k["gbr-admin"], json={"us_person": True})
    assert r.status_code == 403, r.text
    r = call(site, "POST", "/admin/v1/keys", key=k["gbr-admin"], json={"principal": "analyst"})
    assert r.status_code == 403 and "you do not hold" in r.text, r.text  # analyst is a US person
    # The CLI (the host's operator) is the break-glass path and may.
    run_cli("principals", "create", "cli-nurse", "--clearance", "UNCLASSIFIED", "--access", "PHI", "--data-dir", str(site.data_dir), env=site.env)
    # Each refusal is recorded with its rule.
    reasons = [e["event"]["reasons"] for e in audit_denials(site, "gbr-admin")]
    assert any('"us_person"' in r[0] for r in reasons), reasons
    assert any('"releasability"' in r[0] for r in reasons), reasons


def test_privileged_groups_are_held_too(site):
    # An UNCLASSIFIED operator given manage_principals by a policy still cannot make an admin.
    policies = call(site, "GET", "/admin/v1/policies", key=site.key).json()["policies"]
    extra = '\n@id("ops-manage")\npermit (principal in Scif::Group::"operators", action == Scif::Action::"manage_principals", resource);\n'
    r = call(site, "PUT", "/admin/v1/policies", key=site.key, json={"policies": policies + extra})
    assert r.status_code == 200, r.text
    try:
        r = call(site, "POST", "/admin/v1/principals", key=site.keys["ops-u"], json=new_principal("ops-made", clearance="UNCLASSIFIED", groups=["admins"]))
        assert r.status_code == 403 and "permission" in r.json()["error"]["message"], r.text
        r = call(site, "POST", "/admin/v1/principals", key=site.keys["ops-u"], json=new_principal("ops-made", clearance="UNCLASSIFIED", groups=["auditors"]))
        assert r.status_code == 403, r.text
        r = call(site, "POST", "/admin/v1/principals", key=site.keys["ops-u"], json=new_principal("ops-made", clearance="UNCLASSIFIED", groups=["operators"]))
        assert r.status_code == 201, r.text
    finally:
        r = call(site, "PUT", "/admin/v1/policies", key=site.key, json={"policies": policies})
        assert r.status_code == 200, r.text


# --- 3. mandatory before discretionary ----------------------------------------------------------


def test_a_scoped_key_learns_nothing_of_hidden_models(site):
    lister = site.keys["lister"]  # the system-high administrator's key, scoped to list_models
    low = site.keys["analyst"]
    for key in [lister, low]:
        for method, path, body in [
            ("POST", "/v1/chat/completions", "chat"),
            ("POST", "/v1/messages", "messages"),
            ("POST", "/v1/messages/count_tokens", "messages"),
        ]:
            def req(model):
                b = chat(model) if body == "chat" else {"model": model, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
                return call(site, method, path, key=key, json=b)

            if key == lister:
                # Visible to the owner, but out of scope: 403. Missing: 404. Nothing in between.
                assert req(TS_MODEL).status_code == 403
                assert req("no-such-model").status_code == 404
            else:
                same_refusal(req(TS_MODEL), req("no-such-model"), TS_MODEL, "no-such-model")
    # A low key scoped to list_models: a hidden model and a missing one are the same 404 on
    # every verb, never a 403 that would confirm the name.
    scoped_low = run_cli("keys", "create", "--principal", "analyst", "--scope", "list_models", "--data-dir", str(site.data_dir), env=site.env).stdout.strip()
    for path, body in [("/v1/chat/completions", chat), ("/v1/messages", lambda m: {"model": m, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})]:
        same_refusal(call(site, "POST", path, key=scoped_low, json=body(TS_MODEL)), call(site, "POST", path, key=scoped_low, json=body("no-such-model")), TS_MODEL, "no-such-model")
    same_refusal(call(site, "GET", f"/v1/models/{TS_MODEL}", key=scoped_low), call(site, "GET", "/v1/models/no-such-model", key=scoped_low), TS_MODEL, "no-such-model")
    # Bedrock, with a scoped SigV4 credential of a low principal.
    c = bedrock(site, "analyst")
    for model in [TS_MODEL, "no-such-model"]:
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "hi"}]}], inferenceConfig={"maxTokens": 2})


# --- 4. scopes only shrink ----------------------------------------------------------------------


def test_scopes_only_shrink(site):
    only = site.keys["keys-only"]
    r = call(site, "POST", "/admin/v1/keys", key=only, json={"principal": "tester"})
    assert r.status_code == 201, r.text
    minted = r.json()
    assert minted["scopes"] == ["manage_keys"], minted
    assert call(site, "GET", "/admin/v1/principals", key=minted["key"]).status_code == 403
    for scopes in [["read_audit"], ["manage_keys", "manage_policies"], ["invoke_model"]]:
        r = call(site, "POST", "/admin/v1/keys", key=only, json={"principal": "tester", "scopes": scopes})
        assert r.status_code == 403, (scopes, r.text)
    # A key for someone else: within the scopes, and only if the owner holds nothing more.
    r = call(site, "POST", "/admin/v1/keys", key=only, json={"principal": "analyst"})
    assert r.status_code == 201 and r.json()["scopes"] == ["manage_keys"], r.text
    # Scopes limit what a key does; a key scoped to manage_principals still creates an
    # ordinary user (its principal holds everything that user gets), and cannot mint keys.
    princ = run_cli("keys", "create", "--principal", "tester", "--scope", "manage_principals", "--data-dir", str(site.data_dir), env=site.env).stdout.strip()
    r = call(site, "POST", "/admin/v1/principals", key=princ, json=new_principal("made-by-scoped", clearance="UNCLASSIFIED"))
    assert r.status_code == 201, r.text
    assert call(site, "POST", "/admin/v1/keys", key=princ, json={"principal": "made-by-scoped"}).status_code == 403
    # SigV4 credentials carry scopes: one scoped to list_models cannot invoke.
    c = bedrock(site, "lister")
    with pytest.raises(c.exceptions.AccessDeniedException):
        c.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}], inferenceConfig={"maxTokens": 2})


# --- 5. telemetry and listings are labelled -----------------------------------------------------


def test_metrics_and_deployments_show_only_what_the_reader_may_know(site):
    # Series for every model exist (the system-high administrator used them).
    for model in [MODEL, TS_MODEL]:
        r = call(site, "POST", "/v1/chat/completions", key=site.key, json=chat(model))
        assert r.status_code == 200, r.text
    high = call(site, "GET", "/metrics", key=site.key).text
    assert f'model="{TS_MODEL}"' in high and 'deployment="ts-gpu"' in high
    low = call(site, "GET", "/metrics", key=site.keys["ops-u"])
    assert low.status_code == 200
    assert TS_MODEL not in low.text and "ts-gpu" not in low.text and "ts-remote" not in low.text, low.text
    assert f'model="{MODEL}"' in low.text and 'deployment="u-gpu"' in low.text
    names = lambda key: {d["name"] for d in call(site, "GET", "/admin/v1/deployments", key=key).json()["data"]}
    assert names(site.key) == {"ts-gpu", "u-gpu"}
    assert names(site.keys["ops-u"]) == {"u-gpu"}
    # A foreign reader does not see the ITAR model's series.
    run_cli("principals", "create", "gbr-ops", "--clearance", "SECRET", "--nationality", "GBR", "--us-person", "false", "--group", "operators", "--data-dir", str(site.data_dir), env=site.env)
    gbr_ops = run_cli("keys", "create", "--principal", "gbr-ops", "--data-dir", str(site.data_dir), env=site.env).stdout.strip()
    call(site, "POST", "/v1/chat/completions", key=site.key, json=chat(ITAR_MODEL))
    assert ITAR_MODEL in call(site, "GET", "/metrics", key=site.key).text
    assert ITAR_MODEL not in call(site, "GET", "/metrics", key=gbr_ops).text


# --- 6. global policy is a system-high matter ----------------------------------------------------


def test_policy_needs_the_system_high_and_keeps_an_administrator(site):
    for method, body in [("GET", None), ("PUT", {"policies": ""})]:
        r = call(site, method, "/admin/v1/policies", key=site.keys["sec-admin"], json=body)
        assert r.status_code == 404, r.text
    current = call(site, "GET", "/admin/v1/policies", key=site.key).json()["policies"]
    lockout = '@id("models-use")\npermit (principal, action == Scif::Action::"invoke_model", resource);\n'
    r = call(site, "PUT", "/admin/v1/policies", key=site.key, json={"policies": lockout})
    assert r.status_code == 400 and "no administrator at the system high" in r.text, r.text
    assert call(site, "GET", "/admin/v1/policies", key=site.key).json()["policies"] == current
    # The only administrator at the system high may not lower itself out of it either.
    r = call(site, "PATCH", "/admin/v1/principals/tester", key=site.key, json={"clearance": "SECRET"})
    assert r.status_code == 400 and "no administrator" in r.text, r.text
    r = call(site, "PATCH", "/admin/v1/principals/tester", key=site.key, json={"groups": []})
    assert r.status_code == 400, r.text


# --- 7. guardrails carry labels -----------------------------------------------------------------

WORDS = {"name": "codewords", "blockedInputMessaging": "no", "blockedOutputsMessaging": "no", "wordPolicyConfig": {"wordsConfig": [{"text": "BLUEJAY"}]}}


def test_guardrails_carry_labels(site):
    r = call(site, "POST", "/admin/v1/guardrails", key=site.key, params={"id": "ts-words"}, json=WORDS)
    assert r.status_code == 200, r.text
    r = call(site, "POST", "/admin/v1/guardrails", key=site.key, params={"id": "u-words", "label": "UNCLASSIFIED"}, json=WORDS)
    assert r.status_code == 200, r.text
    low = site.keys["analyst"]

    def named(g):
        return call(site, "POST", "/v1/chat/completions", key=low, headers={"x-scif-guardrail": g}, json=chat(MODEL))

    assert named("u-words:1").status_code == 200
    same_refusal(named("ts-words:1"), named("nope:1"), "ts-words", "nope")
    same_refusal(named("ts-words"), named("nope"), "ts-words", "nope")
    # ApplyGuardrail: probing the word list needs read access too.
    c = bedrock(site, "analyst")
    out = c.apply_guardrail(guardrailIdentifier="u-words", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "BLUEJAY"}}])
    assert out["action"] == "GUARDRAIL_INTERVENED"
    for g in ["ts-words", "nope"]:
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.apply_guardrail(guardrailIdentifier=g, guardrailVersion="1", source="INPUT", content=[{"text": {"text": "BLUEJAY"}}])
    # Converse's guardrailConfig likewise.
    for g in ["ts-words", "nope"]:
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}], inferenceConfig={"maxTokens": 2}, guardrailConfig={"guardrailIdentifier": g, "guardrailVersion": "1"})
    # The system-high administrator may name it.
    r = call(site, "POST", "/v1/chat/completions", key=site.key, headers={"x-scif-guardrail": "ts-words:1"}, json=chat(MODEL))
    assert r.status_code == 200, r.text


# --- 8. security headers must be signed ---------------------------------------------------------


def bedrock(site, who):
    akid, sk = site.sig[who]
    return boto3.client("bedrock-runtime", endpoint_url=site.url, region_name=REGION, aws_access_key_id=akid, aws_secret_access_key=sk, config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def signed(site, who, path, body, signed_headers=None, added_headers=None):
    akid, sk = site.sig[who]
    req = AWSRequest(method="POST", url=f"{site.url}{path}", data=json.dumps(body), headers={"content-type": "application/json", **(signed_headers or {})})
    SigV4Auth(Credentials(akid, sk), "bedrock", REGION).add_auth(req)
    headers = dict(req.headers.items())
    headers.update(added_headers or {})
    return httpx.post(f"{site.url}{path}", content=req.body, headers=headers, timeout=120)


def test_security_headers_count_only_when_signed(site):
    path = f"/model/{MODEL}/converse"
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 2}}
    assert signed(site, "analyst", path, body).status_code == 200
    for header, value in [("x-scif-input-label", "UNCLASSIFIED"), ("x-scif-guardrail", "u-words:1"), ("x-amzn-bedrock-guardrailidentifier", "u-words")]:
        r = signed(site, "analyst", path, body, added_headers={header: value})
        assert r.status_code == 403, (header, r.text)
        assert r.headers.get("x-amzn-errortype", "").startswith("IncompleteSignatureException"), r.headers
    assert signed(site, "analyst", path, body, signed_headers={"x-scif-input-label": "UNCLASSIFIED"}).status_code == 200


# --- 9. logs cannot be forged -------------------------------------------------------------------


def test_identities_with_control_characters_are_refused_and_logs_stay_one_line(site):
    idp = site.idp
    for sub in ["eve\n2026-12-03T00:00:00Z  INFO scif: FORGED admin granted", "eve\rFORGED", "eve\u2028FORGED", "eve\x1b[2J", "eve\u202eFORGED"]:
        r = call(site, "GET", "/admin/v1/whoami", headers={"Authorization": f"Bearer {idp.token(sub=sub, clearance='SECRET')}"})
        assert r.status_code == 401, (sub, r.text)
    # Caller-controlled values that are logged (a model name, a path) never start a line.
    call(site, "POST", "/v1/chat/completions", key=site.keys["analyst"], json=chat("x\nFORGED model"))
    call(site, "GET", "/v1/models/x%0AFORGED%20path", key=site.keys["analyst"])
    logs = site.logs()
    assert not re.search(r"^\S*\s*(INFO|WARN)?\s*scif: FORGED|^FORGED", logs, re.M), logs[-3000:]
    assert "\x1b" not in logs


# --- 10. files are private ------------------------------------------------------------------------


def test_data_files_are_owner_only(site):
    d = Path(site.data_dir)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert "restricted to its owner" in site.logs()
    checked = 0
    for p in d.rglob("*"):
        if p.is_symlink() or p.name.startswith("server-") or p.suffix in (".toml", ".json", ".key"):
            continue  # written by the test, not by scif
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, (p, oct(mode))
        checked += 1
    assert (d / "secrets").is_dir() and checked > 5


# --- 11. OIDC subjects and stored principals ------------------------------------------------------


def test_oidc_subjects_and_stored_principals(site):
    idp = site.idp

    def whoami(sub, **claims):
        return call(site, "GET", "/admin/v1/whoami", headers={"Authorization": f"Bearer {idp.token(sub=sub, **claims)}"})

    assert whoami("carol", clearance="SECRET").status_code == 401, "disabled stored principal"
    assert whoami("dan", clearance="SECRET").status_code == 401, "deleted stored principal"
    assert whoami("erin", clearance="SECRET").status_code == 200, "an IdP identity with no stored record"
    # A stored principal's groups are never borrowed: frank is an admin only with a key.
    me = whoami("frank", clearance="SECRET")
    assert me.status_code == 200 and me.json()["groups"] == [], me.text
    token = idp.token(sub="frank", clearance="SECRET")
    assert call(site, "GET", "/admin/v1/principals", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    # Creating the principal again lifts the lock on the id.
    run_cli("principals", "create", "dan", "--clearance", "SECRET", "--data-dir", str(site.data_dir), env=site.env)
    deadline = time.monotonic() + 5
    while whoami("dan", clearance="SECRET").status_code != 200:
        assert time.monotonic() < deadline, "re-created principal still refused"
        time.sleep(0.2)


# --- 12. one credential per request --------------------------------------------------------------


def test_two_authorization_headers_are_refused(site):
    a, b = site.key, site.keys["analyst"]
    for pair in [(a, b), (b, a), (a, a)]:
        headers = [("authorization", f"Bearer {pair[0]}"), ("authorization", f"Bearer {pair[1]}")]
        r = httpx.get(f"{site.url}/v1/models", headers=headers, timeout=30)
        assert r.status_code == 401, r.text
    r = httpx.get(f"{site.url}/v1/models", headers=[("x-api-key", a), ("x-api-key", b)], timeout=30)
    assert r.status_code == 401
