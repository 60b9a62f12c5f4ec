"""Bad input gets OpenAI-shaped errors with the right status, and never takes the server down."""

import httpx
import openai
import pytest

from conftest import MODEL, SYSTEM


def post(server, body, headers=None, **kw):
    headers = {**server.auth, **(headers or {})}
    return httpx.post(f"{server.url}/v1/chat/completions", timeout=60, headers=headers, **({"content": body} if isinstance(body, (str, bytes)) else {"json": body}), **kw)


def assert_openai_error(r, status, param=None, code=None, contains=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    if contains is not None:
        assert contains in err["message"]
    return err


def test_unknown_model_is_404_through_the_client(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_bad_parameters_are_400_through_the_client(client):
    msgs = [{"role": "user", "content": "hi"}]
    for kw, param in [
        (dict(temperature=3), "temperature"),
        (dict(top_p=1.5), "top_p"),
        (dict(max_tokens=0), "max_tokens"),
        (dict(n=2), "n"),
        (dict(presence_penalty=5), "presence_penalty"),
    ]:
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model=MODEL, messages=msgs, **kw)
        assert e.value.body["param"] == param, kw
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=msgs, extra_body={"frobnicate": True})
    assert "frobnicate" in e.value.message


@pytest.mark.parametrize(
    "body, contains",
    [
        ("{not json", "could not parse the JSON"),
        ("", "empty"),
        ("[1, 2]", "Invalid request"),
        ('{"model": "x"}', "messages"),
        ('{"model": 5, "messages": []}', "Invalid request"),
        ('{"model": "smollm2-135m-instruct", "messages": []}', "at least one message"),
        ('{"model": "smollm2-135m-instruct", "messages": [{"role": "wizard", "content": "x"}]}', "role"),
        ('{"model": "smollm2-135m-instruct", "messages": [{"role": "user"}]}', "content is required"),
        ('{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}', "not supported"),
        ('{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]}', "at most 4"),
        ('{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}', "stream"),
        ('{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}]}', "tool calling"),
    ],
)
def test_malformed_requests_are_400(server, body, contains):
    assert_openai_error(post(server, body, headers={"content-type": "application/json"}), 400, contains=contains)


def test_prompt_longer_than_context_is_400(server):
    long = "hello " * 5000
    r = post(server, {"model": MODEL, "messages": [{"role": "user", "content": long}]})
    assert_openai_error(r, 400, param="messages", code="context_length_exceeded", contains="maximum context length")
    r = post(server, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1_000_000})
    assert_openai_error(r, 400, code="context_length_exceeded")


def test_body_over_the_limit_is_413(server):
    big = b'{"model": "x", "messages": [{"role": "user", "content": "' + b"a" * (5 * 1024 * 1024) + b'"}]}'
    assert_openai_error(post(server, big, headers={"content-type": "application/json"}), 413, code="request_too_large")


def test_unknown_route_and_method(server):
    assert_openai_error(httpx.get(f"{server.url}/v1/nothing-here", headers=server.auth), 404)
    assert_openai_error(httpx.get(f"{server.url}/v1/chat/completions", headers=server.auth), 405)


def test_garbage_does_not_hurt_the_server(server, client):
    for body in [b"\x00\xff\xfe", b"{" * 10000, b'{"model": "' + b"\xc3\x28" + b'"}', b"null", b"1e999999"]:
        r = post(server, body, headers={"content-type": "application/json"})
        assert r.status_code in (400, 413), (body[:20], r.status_code)
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is the capital of France?"}], temperature=0
    )
    assert "Paris" in r.choices[0].message.content


def test_request_ids_are_the_servers(server):
    r = httpx.get(f"{server.url}/v1/models", headers={"x-request-id": "spoofed", **server.auth})
    assert r.headers["x-request-id"] != "spoofed"
    assert len(r.headers["x-request-id"]) >= 32
