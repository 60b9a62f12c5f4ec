"""boto3 against scif unchanged but for the endpoint and credentials: Converse, ConverseStream,
ListFoundationModels and GetFoundationModel, SigV4 verified, labels enforced, and every error
raising the boto3 exception class AWS would."""

import datetime as dt
import json
import os
from unittest import mock

import pytest

from conftest import MODEL, SYSTEM, Server, make_tester, model_file, run_cli

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

SECRET_MODEL = "secret-model"
HIGH = "SECRET//NOFORN"
REGION = "us-gov-west-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("bedrock")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}, "SCIF_SECURITY_SYSTEM_HIGH": HIGH}
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d), env=env)
    run_cli("models", "import", model_file(), "--name", SECRET_MODEL, "--label", HIGH, "--data-dir", str(d), env=env)
    make_tester(d, HIGH, env=env)
    creds = {}
    for who, clearance in [("ana", "SECRET"), ("uma", "UNCLASSIFIED")]:
        run_cli("principals", "create", who, "--clearance", clearance, "--data-dir", str(d), env=env)
        out = run_cli("keys", "create", "--sigv4", "--principal", who, "--json", "--data-dir", str(d), env=env).stdout
        k = json.loads(out)
        creds[who] = (k["access_key_id"], k["secret_access_key"])
    s = Server(d, extra_env={"SCIF_SECURITY_SYSTEM_HIGH": HIGH}).wait_ready()
    s.creds = creds
    yield s
    assert s.stop() == 0, s.logs()


def client(site, who="ana", service="bedrock-runtime", secret=None):
    akid, sk = site.creds[who]
    return boto3.client(
        service,
        endpoint_url=site.url,
        region_name=REGION,
        aws_access_key_id=akid,
        aws_secret_access_key=secret or sk,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def ask(model=MODEL, **extra):
    return dict(
        modelId=model,
        system=[{"text": SYSTEM}],
        messages=[{"role": "user", "content": [{"text": "What is the capital of France?"}]}],
        inferenceConfig={"maxTokens": 12, "temperature": 0},
        **extra,
    )


def code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def test_converse(site):
    r = client(site).converse(**ask())
    text = r["output"]["message"]["content"][0]["text"]
    assert "Paris" in text and r["output"]["message"]["role"] == "assistant"
    assert r["stopReason"] in ("end_turn", "max_tokens")
    u = r["usage"]
    assert u["inputTokens"] > 0 and u["outputTokens"] > 0 and u["totalTokens"] == u["inputTokens"] + u["outputTokens"]
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert r["ResponseMetadata"]["RequestId"] and headers["x-scif-label"] == "SECRET"


def test_model_arns_in_every_partition(site):
    c = client(site)
    for partition in ["aws-us-gov", "aws-iso", "aws-iso-b", "aws"]:
        arn = f"arn:{partition}:bedrock:{REGION}::foundation-model/{MODEL}"
        assert c.converse(**ask(arn))["output"]["message"]["content"][0]["text"]
    with pytest.raises(ClientError) as e:
        c.converse(**ask(f"arn:aws-us-gov:s3:{REGION}::foundation-model/{MODEL}"))
    assert code(e) == "ValidationException"


def test_converse_stream_matches_converse(site):
    c = client(site)
    whole = c.converse(**ask())["output"]["message"]["content"][0]["text"]
    r = c.converse_stream(**ask())
    kinds, text, meta = [], "", None
    for event in r["stream"]:
        (kind, body), = event.items()
        kinds.append(kind)
        if kind == "contentBlockDelta":
            text += body["delta"]["text"]
        if kind == "metadata":
            meta = body
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert text == whole
    assert meta["usage"]["outputTokens"] > 0


def test_list_and_get_show_only_what_the_caller_may_see(site):
    ana = [m["modelId"] for m in client(site, "ana", "bedrock").list_foundation_models()["modelSummaries"]]
    uma = client(site, "uma", "bedrock").list_foundation_models()["modelSummaries"]
    assert sorted(ana) == sorted([MODEL, SECRET_MODEL])
    assert [m["modelId"] for m in uma] == [MODEL]
    assert uma[0]["modelArn"] == f"arn:aws-us-gov:bedrock:{REGION}::foundation-model/{MODEL}"
    got = client(site, "ana", "bedrock").get_foundation_model(modelIdentifier=SECRET_MODEL)
    assert got["modelDetails"]["modelId"] == SECRET_MODEL
    with pytest.raises(ClientError) as e:
        client(site, "uma", "bedrock").get_foundation_model(modelIdentifier=SECRET_MODEL)
    assert code(e) == "ResourceNotFoundException"


def test_model_above_clearance_and_unknown_model_are_not_found(site):
    for model in [SECRET_MODEL, "no-such-model"]:
        with pytest.raises(client(site, "uma").exceptions.ResourceNotFoundException):
            client(site, "uma").converse(**ask(model))


def test_bad_signature_unknown_key_and_expired_date(site):
    with pytest.raises(ClientError) as e:
        client(site, secret="x" * 40).converse(**ask())
    assert code(e) == "InvalidSignatureException" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    site.creds["ghost"] = ("SCIFAAAAAAAAAAAAAAAA", "y" * 40)
    with pytest.raises(ClientError) as e:
        client(site, "ghost").converse(**ask())
    assert code(e) == "UnrecognizedClientException"
    c = client(site)
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = dt.datetime.utcnow() - dt.timedelta(minutes=10)
        fake.datetime.strptime = dt.datetime.strptime
        with pytest.raises(ClientError) as e:
            c.converse(**ask())
    assert code(e) == "InvalidSignatureException" and "expired" in e.value.response["Error"]["Message"].lower()


def test_validation_errors_name_the_field(site):
    c = client(site)
    for extra, field in [
        ({"inferenceConfig": {"maxTokens": 5, "temperature": 1.5}}, "temperature"),
        ({"inferenceConfig": {"maxTokens": 5, "topP": 2.0}}, "topP"),
    ]:
        body = {**ask(), **extra}
        with pytest.raises(ClientError) as e:
            c.converse(**body)
        assert code(e) == "ValidationException" and field in e.value.response["Error"]["Message"]
    # botocore refuses a block with two keys before sending; a hand-signed request reaches scif.
    body = {"messages": [{"role": "user", "content": [{"text": "a", "image": {"format": "png", "source": {"bytes": "eA=="}}}]}]}
    r = signed_post(site, f"/model/{MODEL}/converse", body)
    assert r.status_code == 400 and r.headers["x-amzn-errortype"] == "ValidationException"
    assert "exactly one key" in r.json()["message"] and r.headers["x-amzn-requestid"]
    r = signed_post(site, f"/model/{MODEL}/converse", {**body, "surprise": 1})
    assert r.status_code == 400 and "surprise" in r.json()["message"]


def signed_post(site, path, body, who="ana"):
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    akid, sk = site.creds[who]
    req = AWSRequest(method="POST", url=f"{site.url}{path}", data=json.dumps(body), headers={"content-type": "application/json"})
    SigV4Auth(Credentials(akid, sk), "bedrock", REGION).add_auth(req)
    return httpx.post(f"{site.url}{path}", content=req.body, headers=dict(req.headers.items()), timeout=60)


def test_revoked_sigv4_key_and_audit_record(site):
    d = str(site.data_dir)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}, "SCIF_SECURITY_SYSTEM_HIGH": HIGH}
    run_cli("principals", "create", "tmp", "--clearance", "UNCLASSIFIED", "--data-dir", d, env=env)
    k = json.loads(run_cli("keys", "create", "--sigv4", "--principal", "tmp", "--json", "--data-dir", d, env=env).stdout)
    site.creds["tmp"] = (k["access_key_id"], k["secret_access_key"])
    r = client(site, "tmp").converse(**ask())
    rid = r["ResponseMetadata"]["RequestId"]
    run_cli("keys", "revoke", k["access_key_id"], "--data-dir", d, env=env)
    with pytest.raises(ClientError) as e:
        client(site, "tmp").converse(**ask())
    assert code(e) == "UnrecognizedClientException"
    # The call is in the audit trail, with how it was authenticated.
    import httpx

    found = httpx.get(f"{site.url}/admin/v1/audit", params={"request_id": rid}, headers=site.auth).json()["data"]
    assert found and found[0]["event"]["auth_method"] == "sigv4" and found[0]["event"]["principal"] == "tmp"


def test_invoke_model_anthropic_and_llama_bodies(site):
    c = client(site)
    anthropic = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 12,
        "temperature": 0,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}],
    }
    r = c.invoke_model(modelId=MODEL, body=json.dumps(anthropic), contentType="application/json", accept="application/json")
    out = json.loads(r["body"].read())
    assert out["type"] == "message" and out["role"] == "assistant" and "Paris" in out["content"][0]["text"]
    assert out["stop_reason"] in ("end_turn", "max_tokens") and out["usage"]["output_tokens"] > 0
    whole = c.converse(**ask())["output"]["message"]["content"][0]["text"]
    assert out["content"][0]["text"] == whole, "the same request through either route gives the same text"

    llama = {"prompt": "What is the capital of France?", "max_gen_len": 8, "temperature": 0}
    out = json.loads(c.invoke_model(modelId=MODEL, body=json.dumps(llama))["body"].read())
    assert out["generation"] and out["generation_token_count"] > 0 and out["stop_reason"] in ("stop", "length")

    with pytest.raises(ClientError) as e:
        c.invoke_model(modelId=MODEL, body=json.dumps({"inputText": "titan?"}))
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        client(site, "uma").invoke_model(modelId=SECRET_MODEL, body=json.dumps(anthropic))
    assert code(e) == "ResourceNotFoundException"


def test_invoke_model_with_response_stream(site):
    c = client(site)
    anthropic = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 12,
        "temperature": 0,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    r = c.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(anthropic))
    chunks = [json.loads(ev["chunk"]["bytes"]) for ev in r["body"]]
    types = [ch["type"] for ch in chunks]
    assert types[:2] == ["message_start", "content_block_start"] and types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(ch["delta"]["text"] for ch in chunks if ch["type"] == "content_block_delta")
    assert text == c.converse(**ask())["output"]["message"]["content"][0]["text"]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] > 0
    llama = {"prompt": "Hi", "max_gen_len": 4}
    chunks = [json.loads(ev["chunk"]["bytes"]) for ev in c.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(llama))["body"]]
    assert chunks[-1]["stop_reason"] in ("stop", "length") and chunks[-1]["generation_token_count"] > 0
