"""The Anthropic Messages API through the real binary, with the official `anthropic` package:
the embedded model streamed and not, count_tokens, the model listing, both ways of sending the
key, errors in Anthropic's envelope, and tools through the mock upstream (tool_use and
tool_result, input_json_delta when streamed)."""

import json

import httpx
import pytest

from conftest import MODEL, SYSTEM
from test_gateway import REMOTE, deployments, mocks, site_config, start_site  # noqa: F401

anthropic = pytest.importorskip("anthropic")


def client(server, **kw):
    return anthropic.Anthropic(base_url=server.url, api_key=server.key, max_retries=0, timeout=120, **kw)


def ask(c, **kw):
    return c.messages.create(
        model=MODEL,
        max_tokens=kw.pop("max_tokens", 8),
        system=SYSTEM,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        # This SDK version has no sampling parameters of its own; the API still takes them.
        extra_body={"temperature": 0},
        **kw,
    )


def test_messages_whole_and_streamed_agree(server):
    c = client(server)
    r = ask(c)
    assert r.type == "message" and r.role == "assistant" and r.model == MODEL and r.id.startswith("msg_")
    assert r.content[0].type == "text" and r.content[0].text
    assert r.stop_reason in ("end_turn", "max_tokens")
    assert r.usage.input_tokens > 5 and 0 < r.usage.output_tokens <= 8
    # The raw stream: Anthropic's exact event sequence.
    events = list(ask(c, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == r.content[0].text
    final = [e for e in events if e.type == "message_delta"][0]
    assert final.usage.output_tokens == r.usage.output_tokens and final.delta.stop_reason == r.stop_reason
    # On the wire (the SDK hides pings): the SSE event names, in Anthropic's order.
    body = {"model": MODEL, "max_tokens": 4, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{server.url}/v1/messages", json=body, timeout=60,
                      headers={"x-api-key": server.key, "anthropic-version": "2023-06-01"}) as wire:
        assert wire.status_code == 200 and wire.headers["content-type"].startswith("text/event-stream")
        names = [line[len("event: "):] for line in wire.iter_lines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) <= {"content_block_delta"}
    # The SDK's stream helper accumulates the same message.
    with c.messages.stream(model=MODEL, max_tokens=8, system=SYSTEM, extra_body={"temperature": 0},
                           messages=[{"role": "user", "content": "What is the capital of France?"}]) as st:
        streamed = "".join(st.text_stream)
        msg = st.get_final_message()
    assert streamed == r.content[0].text and msg.content[0].text == streamed


def test_count_tokens_and_models(server):
    c = client(server)
    n = c.messages.count_tokens(model=MODEL, system=SYSTEM, messages=[{"role": "user", "content": "What is the capital of France?"}])
    r = ask(c)
    assert n.input_tokens == r.usage.input_tokens
    models = c.models.list()
    assert MODEL in [m.id for m in models.data]
    assert c.models.retrieve(MODEL).id == MODEL


def test_bearer_token_and_x_api_key_both_work(server):
    c = anthropic.Anthropic(base_url=server.url, auth_token=server.key, api_key=None, max_retries=0, timeout=120)
    assert ask(c, max_tokens=2).usage.output_tokens <= 2
    # Two different credentials in one request: refused.
    r = httpx.post(f"{server.url}/v1/messages", headers={"x-api-key": server.key, "Authorization": "Bearer scif_other", "anthropic-version": "2023-06-01"},
                   json={"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert r.status_code == 401 and r.json()["type"] == "error"


def test_errors_in_anthropics_envelope(server):
    bad = anthropic.Anthropic(base_url=server.url, api_key="scif_aaaaaaaaaaaaaaaa_" + "b" * 52, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        ask(bad)
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "authentication_error"
    assert e.value.response.headers.get("request-id")
    c = client(server)
    with pytest.raises(anthropic.NotFoundError) as e:
        c.messages.create(model="no-such-model", max_tokens=4, messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["error"]["type"] == "not_found_error"
    for body, needle in [
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}], "temperature": 3}, "temperature"),
        ({"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}], "bogus": 1}, "bogus"),
        ({"model": MODEL, "max_tokens": 4, "messages": [{"role": "system", "content": "hi"}]}, "role"),
        ({"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}, "image"),
    ]:
        r = httpx.post(f"{server.url}/v1/messages", headers={"x-api-key": server.key, "anthropic-version": "2023-06-01"}, json=body, timeout=60)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
        assert needle in r.json()["error"]["message"], r.text
    r = httpx.post(f"{server.url}/v1/messages", headers={"x-api-key": server.key}, content=b"{not json", timeout=60)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    # The embedded model has no tools: a clear 400, not a silent drop.
    with pytest.raises(anthropic.BadRequestError):
        c.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "hi"}],
                          tools=[{"name": "t", "input_schema": {"type": "object"}}])


WEATHER = {"name": "get_weather", "description": "Current weather in a city",
           "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}


def test_tools_round_trip_through_a_remote_model(tmp_path, mocks):
    m = mocks()
    s = start_site(tmp_path / "d", site_config(deployments(("a", m.url, ""))))
    try:
        c = client(s)
        ask_weather = [{"role": "user", "content": "weather in Oslo"}]
        r = c.messages.create(model=REMOTE, max_tokens=64, messages=ask_weather, tools=[WEATHER])
        assert r.stop_reason == "tool_use"
        use = [b for b in r.content if b.type == "tool_use"][0]
        assert use.name == "get_weather" and use.input == {"query": "weather in Oslo"} and use.id
        sent = m.stats()["last_request"]
        assert sent["tools"][0]["function"]["name"] == "get_weather"
        # Streamed: the call in a tool_use block whose input comes as input_json_delta.
        events = list(c.messages.create(model=REMOTE, max_tokens=64, messages=ask_weather, tools=[WEATHER], stream=True))
        starts = [e for e in events if e.type == "content_block_start" and e.content_block.type == "tool_use"]
        assert starts and starts[0].content_block.name == "get_weather"
        partial = "".join(e.delta.partial_json for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
        assert json.loads(partial) == {"query": "weather in Oslo"}
        assert [e.delta.stop_reason for e in events if e.type == "message_delta"] == ["tool_use"]
        with c.messages.stream(model=REMOTE, max_tokens=64, messages=ask_weather, tools=[WEATHER]) as st:
            final = st.get_final_message()
        assert [b.input for b in final.content if b.type == "tool_use"] == [{"query": "weather in Oslo"}]
        # The result goes back as a tool_result block.
        follow = ask_weather + [
            {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny and 21 C"}]},
        ]
        r = c.messages.create(model=REMOTE, max_tokens=64, messages=follow, tools=[WEATHER])
        assert r.content[0].text == "tool said: sunny and 21 C" and r.stop_reason == "end_turn"
        sent = m.stats()["last_request"]["messages"]
        assert sent[1]["tool_calls"][0]["id"] == use.id and sent[2]["role"] == "tool" and sent[2]["content"] == "sunny and 21 C"
        # A tool_result that answers nothing is refused in Anthropic's shape.
        with pytest.raises(anthropic.BadRequestError) as e:
            c.messages.create(model=REMOTE, max_tokens=8, tools=[WEATHER], messages=ask_weather + [
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}])
        assert "tool_use" in e.value.body["error"]["message"]
        # count_tokens on a remote model says it cannot, clearly.
        with pytest.raises(anthropic.BadRequestError):
            c.messages.count_tokens(model=REMOTE, messages=ask_weather)
    finally:
        assert s.stop() == 0, s.logs()
