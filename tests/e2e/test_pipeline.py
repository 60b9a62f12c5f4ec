"""The request pipeline's promises, tried as an attacker would, through the real binary with the
official clients: every channel that reaches a model is inspected (tool definitions too), one
inspection document per request (an SSN split across two messages is caught), the intent is on
the trail before the deployment sees the prompt, a caller that disconnects still leaves its
completion, and with `audit.prompts = "full"` every generation route records its completion."""

import base64
import json
import os
import time

import httpx
import pytest

from conftest import run_cli
from test_gateway import REMOTE, TEXT8, PROMPT, Mock, deployments, mocks, site_config, start_site  # noqa: F401

boto3 = pytest.importorskip("boto3")
anthropic = pytest.importorskip("anthropic")
from botocore.config import Config  # noqa: E402

SSN_GUARD = {
    "name": "ssn",
    "blockedInputMessaging": "Blocked by the ssn guardrail.",
    "blockedOutputsMessaging": "Blocked by the ssn guardrail.",
    "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "US_SOCIAL_SECURITY_NUMBER", "action": "BLOCK"}]},
}


def records(d):
    out = run_cli("audit", "export", "--format", "jsonl", "--data-dir", str(d)).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def of_request(recs, rid):
    return [r["event"] for r in recs if r["event"].get("request_id") == rid]


@pytest.fixture
def site(tmp_path, mocks):
    m = mocks("--tokens", "8", "--name", "gpu-a")
    d = tmp_path / "d"
    s = start_site(d, site_config(deployments(("gpu-a", m.url, ""))), env={"SCIF_AUDIT_PROMPTS": "full"})
    s.mock = m
    s.data = d
    k = json.loads(run_cli("keys", "create", "--sigv4", "--principal", "tester", "--json", "--data-dir", str(d)).stdout)
    s.creds = (k["access_key_id"], k["secret_access_key"])
    yield s
    s.stop()


def openai(s):
    from openai import OpenAI

    return OpenAI(base_url=f"{s.url}/v1", api_key=s.key, max_retries=0, timeout=30)


def bedrock(s):
    return boto3.client("bedrock-runtime", endpoint_url=s.url, region_name="us-gov-west-1",
                        aws_access_key_id=s.creds[0], aws_secret_access_key=s.creds[1],
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def test_a_marking_in_a_tool_definition_never_reaches_the_deployment(site):
    """The deployment is accredited UNCLASSIFIED; a SECRET marking in a tool's description, its
    schema or a tool result is spillage, refused before anything is sent, in every dialect."""
    c = openai(site)
    before = site.mock.stats()["requests"]
    tool = {"type": "function", "function": {"name": "lookup", "description": "Looks up SECRET//NOFORN records",
                                             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
    r = c.chat.completions.create(model=REMOTE, messages=[{"role": "user", "content": "hello"}], tools=[tool])
    assert r.choices[0].finish_reason == "content_filter" and "SECRET//NOFORN" in r.choices[0].message.content
    in_schema = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {
        "q": {"type": "string", "description": "(S//NF) the target"}}}}}
    r = c.chat.completions.create(model=REMOTE, messages=[{"role": "user", "content": "hello"}], tools=[in_schema])
    assert r.choices[0].finish_reason == "content_filter"
    a = anthropic.Anthropic(base_url=site.url, api_key=site.key, max_retries=0)
    r = a.messages.create(model=REMOTE, max_tokens=16, messages=[{"role": "user", "content": "hello"}],
                          tools=[{"name": "lookup", "description": "TOP SECRET//SI//NOFORN", "input_schema": {"type": "object"}}])
    assert r.stop_reason == "refusal"
    b = bedrock(site)
    r = b.converse(modelId=REMOTE, messages=[{"role": "user", "content": [{"text": "hello"}]}],
                   toolConfig={"tools": [{"toolSpec": {"name": "lookup", "description": "SECRET//NOFORN",
                                                       "inputSchema": {"json": {"type": "object"}}}}]})
    assert r["stopReason"] == "guardrail_intervened"
    # A tool result carrying a marking inside JSON (toolResult.json): decoded, caught.
    r = b.converse(modelId=REMOTE, toolConfig={"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}, messages=[
        {"role": "user", "content": [{"text": "look it up"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "x"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"doc": "SECRET//NOFORN body"}}]}}]},
    ])
    assert r["stopReason"] == "guardrail_intervened"
    assert site.mock.stats()["requests"] == before, "the deployment saw none of it"
    # The trail names the channel, never the text.
    recs = records(site.data)
    blocked = [e for e in (r["event"] for r in recs) if e.get("detail", {}).get("inspected_channels")]
    channels = {c for e in blocked for c in e["detail"]["inspected_channels"]}
    assert {"tool_description", "tool_schema", "tool_result"} <= channels


def test_an_ssn_split_across_messages_is_caught(site):
    r = httpx.post(f"{site.url}/admin/v1/guardrails", headers=site.auth, json=SSN_GUARD, timeout=10)
    assert r.status_code == 200, r.text
    assert httpx.put(f"{site.url}/admin/v1/guardrails/ssn/attachments", headers=site.auth, json={"version": 1, "model": REMOTE}, timeout=10).status_code == 200
    time.sleep(1.2)
    c = openai(site)
    before = site.mock.stats()["requests"]
    cases = [
        # The number split in two messages.
        [{"role": "user", "content": "my number is 536-22-"}, {"role": "user", "content": "8741"}],
        # The context word in one message, the bare number in the next.
        [{"role": "user", "content": "Here is my SSN:"}, {"role": "user", "content": "536228741"}],
        # In compact JSON, as a tool's arguments.
        [{"role": "user", "content": "file it"},
         {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "file", "arguments": '{"ssn":"536-22-8741"}'}}]},
         {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
    ]
    for messages in cases:
        r = c.chat.completions.create(model=REMOTE, messages=messages)
        assert r.choices[0].finish_reason == "content_filter", messages
    assert site.mock.stats()["requests"] == before
    # Unrelated numbers in two messages still pass.
    r = c.chat.completions.create(model=REMOTE, messages=[{"role": "user", "content": "room 536"}, {"role": "user", "content": "floor 22"}])
    assert r.choices[0].finish_reason != "content_filter"


def test_intent_is_durable_before_the_deployment_sees_the_prompt_and_completions_are_recorded(site):
    c = openai(site)
    rid = c.chat.completions.with_raw_response.create(model=REMOTE, messages=[{"role": "user", "content": PROMPT}]).headers["x-request-id"]
    with c.chat.completions.with_streaming_response.create(model=REMOTE, messages=[{"role": "user", "content": PROMPT}], stream=True) as raw:
        rid_stream = raw.headers["x-request-id"]
        list(raw.iter_lines())
    b = bedrock(site)
    conv = b.converse(modelId=REMOTE, messages=[{"role": "user", "content": [{"text": PROMPT}]}])
    conv_stream = b.converse_stream(modelId=REMOTE, messages=[{"role": "user", "content": [{"text": PROMPT}]}])
    list(conv_stream["stream"])
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": [{"role": "user", "content": PROMPT}]})
    inv = b.invoke_model(modelId=REMOTE, body=body)
    inv["body"].read()
    inv_stream = b.invoke_model_with_response_stream(modelId=REMOTE, body=body)
    list(inv_stream["body"])
    a = anthropic.Anthropic(base_url=site.url, api_key=site.key, max_retries=0)
    msg = a.messages.with_raw_response.create(model=REMOTE, max_tokens=16, messages=[{"role": "user", "content": PROMPT}])
    with a.messages.stream(model=REMOTE, max_tokens=16, messages=[{"role": "user", "content": PROMPT}]) as st:
        st.get_final_message()
    time.sleep(0.5)
    recs = records(site.data)
    ids = {
        "openai": rid, "openai_stream": rid_stream,
        "converse": conv["ResponseMetadata"]["RequestId"], "converse_stream": conv_stream["ResponseMetadata"]["RequestId"],
        "invoke": inv["ResponseMetadata"]["RequestId"], "invoke_stream": inv_stream["ResponseMetadata"]["RequestId"],
        "anthropic": msg.headers["request-id"],
    }
    for route, rid in ids.items():
        evs = of_request(recs, rid)
        assert [e["action"] for e in evs] == ["invoke_model", "invoke_model_complete"], (route, evs)
        intent, done = evs
        assert intent["detail"]["prompt"].count(PROMPT) == 1, route
        assert done["detail"]["completion"] == TEXT8, (route, done)
        assert done["completion_tokens"] == 8 and done["outcome"] == "stop", route
    # The streamed Anthropic answer too (its id is in the SDK's stream, not a header we kept).
    completes = [r["event"] for r in recs if r["event"]["action"] == "invoke_model_complete" and r["event"]["detail"].get("dialect") == "anthropic"]
    assert len(completes) == 2 and all(e["detail"]["completion"] == TEXT8 for e in completes)


def test_a_client_that_disconnects_before_a_whole_answer_leaves_its_record(site):
    site.mock.set(latency_ms=3000)
    t0 = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{site.url}/v1/chat/completions", headers=site.auth, timeout=0.7,
                   json={"model": REMOTE, "messages": [{"role": "user", "content": "slow one"}]})
    assert time.monotonic() - t0 < 3
    time.sleep(1.5)
    site.mock.set(latency_ms=0)
    recs = [r["event"] for r in records(site.data)]
    intents = [e for e in recs if e["action"] == "invoke_model" and "slow one" in e["detail"].get("prompt", "")]
    assert len(intents) == 1
    done = [e for e in recs if e["action"] == "invoke_model_complete" and e.get("request_id") == intents[0]["request_id"]]
    assert len(done) == 1 and done[0]["outcome"] == "client_closed", done


def test_refusals_and_listings_are_recorded_with_their_action_and_rule(site):
    """An admin refused on label grounds sees "not found", and the trail records the denial
    with its rule; every route names its action (ListFoundationModels too)."""
    d = site.data
    run_cli("principals", "create", "low-admin", "--clearance", "UNCLASSIFIED", "--group", "admins", "--data-dir", str(d))
    key = run_cli("keys", "create", "--principal", "low-admin", "--data-dir", str(d)).stdout.strip()
    time.sleep(1.2)
    h = {"Authorization": f"Bearer {key}"}
    hidden = httpx.get(f"{site.url}/admin/v1/principals/tester", headers=h, timeout=10)
    missing = httpx.get(f"{site.url}/admin/v1/principals/nobody", headers=h, timeout=10)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace("tester", "x") == missing.json()["error"]["message"].replace("nobody", "x")
    ctl = boto3.client("bedrock", endpoint_url=site.url, region_name="us-gov-west-1",
                       aws_access_key_id=site.creds[0], aws_secret_access_key=site.creds[1])
    lst = ctl.list_foundation_models()
    assert REMOTE in [m["modelId"] for m in lst["modelSummaries"]]
    recs = records(d)
    e = of_request(recs, hidden.headers["x-request-id"])[0]
    assert e["decision"] == "deny" and e["outcome"] == "404" and e["principal"] == "low-admin"
    assert e["action"] == "manage_principals" and e["resource"] == "principal/tester"
    assert e["reasons"] and e["reasons"][0] != "not_found", e
    m = of_request(recs, missing.headers["x-request-id"])[0]
    assert m["decision"] == "error" and m["outcome"] == "404"
    fl = of_request(recs, lst["ResponseMetadata"]["RequestId"])[0]
    assert fl["action"] == "list_models" and fl["decision"] == "allow"
