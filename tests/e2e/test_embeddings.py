"""Embeddings end to end: an embedding model imported from its sentence-transformers directory
through the CLI, served by the real binary, read with the official openai package
(`/v1/embeddings`, default base64 and float) and boto3 (`InvokeModel` with Titan-shaped
bodies), through the same pipeline as chat: labels, spillage, limits, audit."""

import base64
import concurrent.futures
import json
import math
import os
import struct
from pathlib import Path

import httpx
import pytest

from conftest import MODEL, Server, make_tester, model_file, run_cli

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
import openai as openai_pkg  # noqa: E402

EMB = "minilm"
EMB_SECRET = "minilm-secret"
HIGH = "SECRET//NOFORN"
REGION = "us-gov-west-1"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "embeddings" / "reference.jsonl"


def embedding_model() -> str:
    path = os.environ.get("SCIF_TEST_EMBEDDING_MODEL")
    assert path and Path(path, "model.safetensors").exists(), (
        "SCIF_TEST_EMBEDDING_MODEL must point at the embedding model directory (make test-e2e sets it)"
    )
    return path


def clean_env():
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}, "SCIF_SECURITY_SYSTEM_HIGH": HIGH}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("embeddings")
    env = clean_env()
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d), env=env)
    out = run_cli("models", "import", embedding_model(), "--name", EMB, "--data-dir", str(d), env=env).stdout
    assert f"imported {EMB}" in out and "bert" in out, out
    run_cli("models", "import", embedding_model(), "--name", EMB_SECRET, "--label", "SECRET", "--data-dir", str(d), env=env)
    make_tester(d, HIGH, env=env)
    keys, creds = {}, {}
    for who, clearance in [("ana", "SECRET"), ("uma", "UNCLASSIFIED")]:
        run_cli("principals", "create", who, "--clearance", clearance, "--data-dir", str(d), env=env)
        keys[who] = run_cli("keys", "create", "--principal", who, "--data-dir", str(d), env=env).stdout.strip()
        k = json.loads(run_cli("keys", "create", "--sigv4", "--principal", who, "--json", "--data-dir", str(d), env=env).stdout)
        creds[who] = (k["access_key_id"], k["secret_access_key"])
    s = Server(d, extra_env={"SCIF_SECURITY_SYSTEM_HIGH": HIGH}).wait_ready()
    s.keys, s.creds, s.data = keys, creds, d
    yield s
    assert s.stop() == 0, s.logs()


def oai(site, who="ana"):
    return openai_pkg.OpenAI(base_url=f"{site.url}/v1", api_key=site.keys[who], max_retries=0, timeout=120)


def bedrock(site, who="ana"):
    akid, sk = site.creds[who]
    return boto3.client(
        "bedrock-runtime", endpoint_url=site.url, region_name=REGION,
        aws_access_key_id=akid, aws_secret_access_key=sk,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def reference(n=None):
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    out = []
    for r in rows[:n]:
        raw = base64.b64decode(r["embedding"])
        out.append((r["text"], r["tokens"], list(struct.unpack(f"<{len(raw) // 4}f", raw))))
    return out


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_default_base64_and_float_agree_and_match_sentence_transformers(site):
    # The fixture holds banner markings up to SECRET//NOFORN: the tester is cleared for them
    # (anyone less is refused, spillage, as the labels test shows).
    c = openai_pkg.OpenAI(base_url=f"{site.url}/v1", api_key=site.key, max_retries=0, timeout=120)
    refs = reference()[::25]
    texts = [t for t, _, _ in refs]
    raw = c.embeddings.with_raw_response.create(model=EMB, input=texts)
    # Undeclared, the input is taken to be at the caller's clearance.
    assert raw.headers["x-scif-label"] == HIGH
    default = raw.parse()
    floats = c.embeddings.create(model=EMB, input=texts, encoding_format="float")
    # The openai package asked for base64 (its default) and decoded it.
    sent = json.loads(raw.http_request.content)
    assert sent.get("encoding_format") == "base64", sent
    assert default.model == EMB and len(default.data) == len(texts)
    assert default.usage.prompt_tokens == sum(n for _, n, _ in refs) == default.usage.total_tokens
    for i, (d, f, (text, _, want)) in enumerate(zip(default.data, floats.data, refs)):
        assert d.index == f.index == i
        assert len(d.embedding) == 384
        assert max(abs(x - y) for x, y in zip(d.embedding, f.embedding)) <= 1e-6
        assert abs(math.sqrt(sum(x * x for x in f.embedding)) - 1) < 1e-4
        assert cosine(f.embedding, want) >= 0.999, text


def test_a_vector_is_the_same_alone_batched_and_under_concurrency(site):
    c = oai(site)
    texts = [f"note {i}: the convoy reached checkpoint {i * 3} at dawn" for i in range(12)]
    alone = [c.embeddings.create(model=EMB, input=t, encoding_format="float").data[0].embedding for t in texts]
    together = c.embeddings.create(model=EMB, input=texts, encoding_format="float").data
    assert [d.embedding for d in together] == alone
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda t: oai(site).embeddings.create(model=EMB, input=t, encoding_format="float").data[0].embedding, texts))
    assert got == alone


def test_bad_requests_get_openai_errors_naming_the_parameter(site):
    c = oai(site)
    cases = [
        (dict(input=[1, 2, 3]), "input"),
        (dict(input=[[101, 102]]), "input"),
        (dict(input=""), "input"),
        (dict(input=[]), "input"),
        (dict(input="a", dimensions=256), "dimensions"),
        (dict(input="a", encoding_format="int8"), "encoding_format"),
        (dict(input="word " * 400), "input"),
    ]
    for kwargs, param in cases:
        with pytest.raises(openai_pkg.BadRequestError) as e:
            c.embeddings.create(model=EMB, **kwargs)
        assert e.value.body.get("param") == param, (kwargs, e.value.body)
    too_long = pytest.raises(openai_pkg.BadRequestError)
    with too_long as e:
        c.embeddings.create(model=EMB, input="word " * 400)
    assert e.value.body.get("code") == "context_length_exceeded" and "256" in e.value.body["message"]
    ok = c.embeddings.create(model=EMB, input="a", dimensions=384)
    assert len(ok.data[0].embedding) == 384
    # A chat model does not embed, and an embedding model does not chat.
    with pytest.raises(openai_pkg.BadRequestError) as e:
        c.embeddings.create(model=MODEL, input="hello")
    assert "does not produce embeddings" in e.value.body["message"]
    with pytest.raises(openai_pkg.BadRequestError) as e:
        c.chat.completions.create(model=EMB, messages=[{"role": "user", "content": "hi"}])
    assert "embedding model" in e.value.body["message"]


def test_labels_decide_who_embeds_and_what_the_answer_carries(site):
    ana, uma = oai(site, "ana"), oai(site, "uma")
    raw = ana.embeddings.with_raw_response.create(model=EMB_SECRET, input="routine text")
    assert raw.headers["x-scif-label"] == "SECRET"
    # Above the caller: answered exactly like a model that does not exist.
    errors = []
    for model in (EMB_SECRET, "no-such-model"):
        with pytest.raises(openai_pkg.NotFoundError) as e:
            uma.embeddings.create(model=model, input="routine text")
        errors.append(e.value.body["message"].replace(model, "M"))
    assert errors[0] == errors[1]
    # Spillage: a marking above the caller's clearance never reaches the encoder.
    with pytest.raises(openai_pkg.BadRequestError) as e:
        uma.embeddings.create(model=EMB, input=["fine", "SECRET//NOFORN\nthe plan"])
    assert e.value.body.get("code") == "content_filter"
    # A declared input label above the caller's clearance is refused.
    with pytest.raises(openai_pkg.PermissionDeniedError):
        uma.embeddings.create(model=EMB, input="x", extra_headers={"x-scif-input-label": "SECRET"})
    # A declared label raises the answer's label.
    raw = ana.embeddings.with_raw_response.create(model=EMB, input="x", extra_headers={"x-scif-input-label": "(C)"})
    assert raw.headers["x-scif-label"] == "CONFIDENTIAL"


def test_bedrock_titan_bodies_through_boto3(site):
    b = bedrock(site)
    text = "Satellite imagery shows new construction near the harbor."
    r = b.invoke_model(modelId=EMB, body=json.dumps({"inputText": text}))
    out = json.loads(r["body"].read())
    assert out["inputTextTokenCount"] > 2 and len(out["embedding"]) == 384
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-scif-label"] == "SECRET"
    want = oai(site).embeddings.create(model=EMB, input=text, encoding_format="float").data[0].embedding
    assert max(abs(x - y) for x, y in zip(out["embedding"], want)) <= 1e-6
    v2 = json.loads(b.invoke_model(modelId=EMB, body=json.dumps({"inputText": text, "dimensions": 384, "normalize": True, "embeddingTypes": ["float"]}))["body"].read())
    assert v2["embeddingsByType"]["float"] == v2["embedding"] == out["embedding"]
    for body in [{"inputText": text, "dimensions": 1024}, {"inputText": text, "normalize": False}, {"inputText": ""}, {"inputText": text, "extra": 1}]:
        with pytest.raises(ClientError) as e:
            b.invoke_model(modelId=EMB, body=json.dumps(body))
        assert e.value.response["Error"]["Code"] == "ValidationException", body
    with pytest.raises(ClientError) as e:
        b.invoke_model_with_response_stream(modelId=EMB, body=json.dumps({"inputText": text}))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    # Labels hold on this route too.
    with pytest.raises(ClientError) as e:
        bedrock(site, "uma").invoke_model(modelId=EMB_SECRET, body=json.dumps({"inputText": text}))
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_each_embedding_call_is_audited_and_metered(site):
    c = oai(site)
    rid = c.embeddings.with_raw_response.create(model=EMB, input=["audited one", "audited two"]).headers["x-request-id"]
    import time

    time.sleep(1.5)
    out = run_cli("audit", "export", "--format", "jsonl", "--data-dir", str(site.data)).stdout
    evs = [json.loads(line)["event"] for line in out.splitlines() if line.strip()]
    mine = [e for e in evs if e.get("request_id") == rid]
    assert [e["action"] for e in mine] == ["invoke_model", "invoke_model_complete"], mine
    assert mine[1]["prompt_tokens"] > 0 and mine[1]["outcome"] == "stop"
    text = "\n".join(json.dumps(e) for e in mine)
    assert "audited one" not in text  # prompts are not recorded unless a setting asks
    r = httpx.get(f"{site.url}/metrics", headers=site.auth, timeout=10)
    assert f'model="{EMB}"' in r.text


def test_an_encoder_directory_is_pinned_by_its_manifest(tmp_path):
    d = tmp_path / "pin"
    env = clean_env()
    run_cli("models", "import", embedding_model(), "--name", EMB, "--data-dir", str(d), env=env)
    listed = json.loads(run_cli("models", "list", "--json", "--data-dir", str(d), env=env).stdout)
    rec = next(m for m in listed if m["name"] == EMB)
    assert rec["format"] == "sentence-transformers" and rec["context_length"] == 256
    assert f"{EMB}: ok" in run_cli("models", "verify", "--data-dir", str(d), env=env).stdout
    tok = d / "models" / rec["file_name"] / "tokenizer.json"
    tok.chmod(0o600)
    tok.write_text(tok.read_text().replace('"[UNK]"', '"[UNK2]"', 1))
    v = run_cli("models", "verify", "--data-dir", str(d), env=env, check=False)
    assert v.returncode != 0 and "SHA-256" in (v.stdout + v.stderr), v
    # A directory that is not an encoder is refused and leaves nothing behind.
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    (bogus / "config.json").write_text("{}")
    r = run_cli("models", "import", str(bogus), "--name", "bogus", "--data-dir", str(d), env=env, check=False)
    assert r.returncode != 0
    assert "bogus" not in run_cli("models", "list", "--data-dir", str(d), env=env).stdout
