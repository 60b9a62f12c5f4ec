"""Remote deployments through the real binary: the official openai client and boto3 through
scif to the mock upstream, streamed and not; limits answering 429 in each dialect; usage
records; accreditation; mid-stream failure; reload by SIGHUP and by the admin API."""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import Server, make_tester, metric, run_cli

REMOTE = "remote-llama"
PROMPT = "alpha beta gamma"
# The mock answers with --tokens words cycling through the last user message's words.
TEXT8 = "alpha beta gamma alpha beta gamma alpha beta"


def mock_bin() -> str:
    path = os.environ.get("SCIF_MOCK_BIN") or str(Path(os.environ.get("SCIF_BIN", "")).with_name("scif-mock-upstream"))
    assert Path(path).exists(), "SCIF_MOCK_BIN must point at scif-mock-upstream (make test-e2e sets it)"
    return path


class Mock:
    def __init__(self, *args):
        self.proc = subprocess.Popen([mock_bin(), "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        self.addr = line.split()[-1]
        self.url = f"http://{self.addr}/v1"

    def set(self, **cfg):
        r = httpx.post(f"http://{self.addr}/mock/config", json=cfg, timeout=10)
        assert r.status_code == 200, r.text

    def stats(self):
        return httpx.get(f"http://{self.addr}/mock/stats", timeout=10).json()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def mocks():
    started = []

    def start(*args):
        m = Mock(*args)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


def deployments(*entries):
    out = []
    for name, url, extra in entries:
        out.append(f'[[deployments]]\nname = "{name}"\nmodel = "{REMOTE}"\nurl = "{url}"\naccreditation = "UNCLASSIFIED"\n{extra}\n')
    return "\n".join(out)


def site_config(deps: str, limits: str = "", model_label: str = "UNCLASSIFIED") -> str:
    return (
        '[security]\nsystem_high = "SECRET"\ndefault_input_label = "UNCLASSIFIED"\n'
        "[gateway]\nretry_backoff_ms = 1\nhealth_check_secs = 0\n"
        f'[[remote_models]]\nname = "{REMOTE}"\nlabel = "{model_label}"\ncontext_length = 8192\n'
        + deps
        + limits
    )


def start_site(d: Path, config: str, env=None) -> Server:
    """A server over remote deployments only (no local model), with `tester` cleared SECRET."""
    if not (d / "tester.key").exists():
        make_tester(d, "SECRET", env={**os.environ, "SCIF_SECURITY_SYSTEM_HIGH": "SECRET"})
    return Server(d, config=config, extra_env=env).wait_ready()


def openai_client(server):
    from openai import OpenAI

    return OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0, timeout=30)


def ask(client, stream=False, **extra):
    return client.chat.completions.create(
        model=REMOTE, messages=[{"role": "user", "content": PROMPT}], stream=stream, **extra
    )


def test_openai_client_through_scif_to_the_mock(tmp_path, mocks):
    m = mocks("--tokens", "8", "--api-key", "upstream-secret", "--name", "gpu-a")
    (tmp_path / "upstream.key").write_text("upstream-secret\n")
    deps = deployments(("gpu-a", m.url, f'upstream_model = "meta-llama/Llama-3.1-8B"\napi_key_file = "{tmp_path / "upstream.key"}"'))
    s = start_site(tmp_path / "d", site_config(deps))
    try:
        c = openai_client(s)
        models = [x.id for x in c.models.list().data]
        assert REMOTE in models

        r = c.chat.completions.with_raw_response.create(model=REMOTE, messages=[{"role": "user", "content": PROMPT}])
        assert r.headers["x-scif-label"] == "UNCLASSIFIED"
        done = r.parse()
        assert done.choices[0].message.content == TEXT8
        assert done.choices[0].finish_reason == "stop"
        assert done.usage.prompt_tokens == 3 and done.usage.completion_tokens == 8

        seen = m.stats()
        assert seen["last_request"]["model"] == "meta-llama/Llama-3.1-8B"
        assert seen["last_authorization"] == "Bearer upstream-secret"
        # The caller's own credential never reaches the upstream.
        assert s.key not in json.dumps(seen)

        chunks = list(ask(c, stream=True, stream_options={"include_usage": True}))
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        assert text == TEXT8
        assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["stop"]
        assert chunks[-1].usage.completion_tokens == 8

        # Metering: two invocations by tester on the deployment, summarized per principal.
        time.sleep(0.5)
        u = httpx.get(f"{s.url}/admin/v1/usage", params={"by": "principal,model,deployment"}, headers=s.auth, timeout=10).json()
        rows = [x for x in u["data"] if x["model"] == REMOTE]
        assert rows == [
            {**rows[0], "principal": "tester", "deployment": "gpu-a", "requests": 2, "errors": 0, "completion_tokens": 16}
        ]
        by_group = httpx.get(f"{s.url}/admin/v1/usage", params={"by": "group"}, headers=s.auth, timeout=10).json()["data"]
        # tester is in admins and operators: its usage counts once under each.
        assert sorted((x["group"], x["requests"]) for x in by_group) == [("admins", 2), ("operators", 2)]
        dep = httpx.get(f"{s.url}/admin/v1/deployments", headers=s.auth, timeout=10).json()["data"]
        assert dep[0]["name"] == "gpu-a" and dep[0]["healthy"] and dep[0]["circuit"] == "closed" and dep[0]["requests"] >= 2
        assert metric(s, "scif_deployment_requests_total", deployment="gpu-a", model=REMOTE) == 2
        assert metric(s, "scif_deployment_healthy", deployment="gpu-a") == 1
        assert metric(s, "scif_deployment_circuit_open", deployment="gpu-a") == 0
    finally:
        assert s.stop() == 0, s.logs()
    # The CLI reads the same records offline.
    out = run_cli("usage", "--by", "deployment", "--json", "--data-dir", str(tmp_path / "d")).stdout
    assert json.loads(out) == [{**json.loads(out)[0], "deployment": "gpu-a", "requests": 2}]
    # Nothing of the prompt or completion reached the log.
    assert "gamma" not in s.logs()


def test_failover_and_mid_stream_failure(tmp_path, mocks):
    bad = mocks("--error-rate", "1", "--error-status", "503")
    good = mocks()
    deps = deployments(("bad", bad.url, "weight = 5"), ("good", good.url, "weight = 1"))
    s = start_site(tmp_path / "d", site_config(deps))
    try:
        c = openai_client(s)
        for _ in range(5):
            assert ask(c).choices[0].message.content.startswith("alpha")
        assert good.stats()["requests"] == 5

        good.set(fail_after=2, token_interval_ms=30)
        bad.set(error_rate=0.0, fail_after=2, token_interval_ms=30)
        from openai import APIError

        got = []
        with pytest.raises(APIError):
            for ch in ask(c, stream=True):
                if ch.choices and ch.choices[0].delta.content:
                    got.append(ch.choices[0].delta.content)
        assert "".join(got) == "alpha beta", "the stream must end in an error, not a silent truncation"
    finally:
        assert s.stop() == 0, s.logs()


def test_input_never_flows_to_a_deployment_below_its_label(tmp_path, mocks):
    m = mocks()
    s = start_site(tmp_path / "d", site_config(deployments(("low", m.url, ""))))
    try:
        c = openai_client(s)
        from openai import PermissionDeniedError

        with pytest.raises(PermissionDeniedError) as e:
            c.chat.completions.create(
                model=REMOTE,
                messages=[{"role": "user", "content": PROMPT}],
                extra_headers={"x-scif-input-label": "SECRET"},
            )
        assert "accredited" in e.value.message
        assert m.stats()["requests"] == 0
        assert ask(c).choices[0].message.content == TEXT8
    finally:
        assert s.stop() == 0, s.logs()


def test_limits_answer_429_with_retry_after_and_the_limit_name(tmp_path, mocks):
    m = mocks()
    limits = (
        '[[limits]]\nname = "per-principal-rpm"\nscope = "principal"\nrequests_per_minute = 3\n'
        '[[limits]]\nname = "model-concurrency"\nscope = "model"\nsubject = "remote-llama"\nconcurrent = 1\n'
    )
    s = start_site(tmp_path / "d", site_config(deployments(("a", m.url, "")), limits))
    try:
        c = openai_client(s)
        from openai import RateLimitError

        for _ in range(3):
            ask(c)
        with pytest.raises(RateLimitError) as e:
            ask(c)
        resp = e.value.response
        assert resp.headers["x-scif-limit"] == "per-principal-rpm"
        # A sliding window approximated from two fixed minutes: room again within two minutes.
        assert 1 <= int(resp.headers["retry-after"]) <= 120
        assert e.value.code == "rate_limit_exceeded" and "per-principal-rpm" in e.value.message
        assert m.stats()["requests"] == 3

        # Each principal has its own allowance.
        run_cli("principals", "create", "other", "--clearance", "UNCLASSIFIED", "--data-dir", str(s.data_dir), env={**os.environ, "SCIF_SECURITY_SYSTEM_HIGH": "SECRET"})
        key = run_cli("keys", "create", "--principal", "other", "--data-dir", str(s.data_dir)).stdout.strip()
        from openai import OpenAI

        other = OpenAI(base_url=f"{s.url}/v1", api_key=key, max_retries=0, timeout=30)
        m.set(latency_ms=1500)
        results = []

        def one():
            try:
                ask(other)
                results.append("ok")
            except RateLimitError as err:
                results.append(err.response.headers["x-scif-limit"])

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.3)
        for t in threads:
            t.join()
        assert sorted(results) == ["model-concurrency", "ok"]

        # The refusals are in the audit trail with the limit's name.
        time.sleep(0.3)
        recs = httpx.get(f"{s.url}/admin/v1/audit", params={"decision": "deny", "limit": 100}, headers=s.auth, timeout=10).json()["data"]
        reasons = [r["event"]["reasons"] for r in recs]
        assert ["rate_limited", "per-principal-rpm"] in reasons and ["rate_limited", "model-concurrency"] in reasons
    finally:
        assert s.stop() == 0, s.logs()


def test_bedrock_callers_get_throttling_exception(tmp_path, mocks):
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    m = mocks()
    limits = '[[limits]]\nname = "two-a-minute"\nscope = "key"\nrequests_per_minute = 2\n'
    d = tmp_path / "d"
    env = {**os.environ, "SCIF_SECURITY_SYSTEM_HIGH": "SECRET"}
    make_tester(d, "SECRET", env=env)
    k = json.loads(run_cli("keys", "create", "--sigv4", "--principal", "tester", "--json", "--data-dir", str(d), env=env).stdout)
    s = start_site(d, site_config(deployments(("a", m.url, "")), limits))
    try:
        br = boto3.client(
            "bedrock-runtime",
            endpoint_url=s.url,
            region_name="us-gov-west-1",
            aws_access_key_id=k["access_key_id"],
            aws_secret_access_key=k["secret_access_key"],
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        req = dict(modelId=REMOTE, messages=[{"role": "user", "content": [{"text": PROMPT}]}])
        for _ in range(2):
            assert br.converse(**req)["output"]["message"]["content"][0]["text"] == TEXT8
        with pytest.raises(ClientError) as e:
            br.converse(**req)
        assert e.value.response["Error"]["Code"] == "ThrottlingException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-scif-limit"] == "two-a-minute"
        # The limit is on the key: the OpenAI route with an API key is not affected.
        assert ask(openai_client(s)).choices[0].message.content == TEXT8
    finally:
        assert s.stop() == 0, s.logs()


def test_daily_token_budget_survives_a_restart(tmp_path, mocks):
    m = mocks("--tokens", "20")
    limits = '[[limits]]\nname = "daily"\nscope = "principal"\ntokens_per_day = 30\n'
    d = tmp_path / "d"
    config = site_config(deployments(("a", m.url, "")), limits)
    s = start_site(d, config)
    from openai import RateLimitError

    try:
        c = openai_client(s)
        ask(c)  # 3 + 20 tokens
        ask(c)  # over 30 now, admitted because the budget was not yet spent
        with pytest.raises(RateLimitError) as e:
            ask(c)
        assert e.value.response.headers["x-scif-limit"] == "daily"
        assert "tokens_per_day" in e.value.message
    finally:
        assert s.stop() == 0, s.logs()
    s = Server(d, config=config).wait_ready()
    try:
        with pytest.raises(RateLimitError):
            ask(openai_client(s))
        assert m.stats()["requests"] == 2
    finally:
        assert s.stop() == 0, s.logs()


def test_reload_by_sighup_and_admin_api(tmp_path, mocks):
    a = mocks("--name", "a")
    b = mocks("--name", "b")
    d = tmp_path / "d"
    s = start_site(d, site_config(deployments(("a", a.url, ""))))
    try:
        c = openai_client(s)
        ask(c)
        assert (a.stats()["requests"], b.stats()["requests"]) == (1, 0)

        # SIGHUP: b replaces a, and a limit appears.
        limits = '[[limits]]\nname = "one-a-minute"\nscope = "principal"\nrequests_per_minute = 1\n'
        (d / "scif.toml").write_text(site_config(deployments(("b", b.url, "")), limits))
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in s.logs():
            assert time.monotonic() < deadline, s.logs()
            time.sleep(0.1)
        ask(c)
        assert (a.stats()["requests"], b.stats()["requests"]) == (1, 1)
        from openai import RateLimitError

        with pytest.raises(RateLimitError):
            ask(c)

        # An invalid configuration is refused and the running one keeps serving.
        (d / "scif.toml").write_text(site_config(deployments(("b", "not a url", ""))))
        r = httpx.post(f"{s.url}/admin/v1/config/reload", headers=s.auth, timeout=10)
        assert r.status_code == 400 and "keeps serving" in r.json()["error"]["message"]
        assert [x["name"] for x in httpx.get(f"{s.url}/admin/v1/deployments", headers=s.auth, timeout=10).json()["data"]] == ["b"]

        # A valid one through the admin API, with the report.
        (d / "scif.toml").write_text(site_config(deployments(("a", a.url, ""), ("b", b.url, ""))))
        r = httpx.post(f"{s.url}/admin/v1/config/reload", headers=s.auth, timeout=10)
        assert r.status_code == 200, r.text
        report = r.json()["report"]
        assert report["deployments"]["added"] == ["a"] and report["deployments"]["unchanged"] == ["b"]
        assert report["limits"] == 0

        # Only administrators may reload.
        run_cli("principals", "create", "pat", "--clearance", "UNCLASSIFIED", "--data-dir", str(d), env={**os.environ, "SCIF_SECURITY_SYSTEM_HIGH": "SECRET"})
        key = run_cli("keys", "create", "--principal", "pat", "--data-dir", str(d)).stdout.strip()
        r = httpx.post(f"{s.url}/admin/v1/config/reload", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 403
    finally:
        assert s.stop() == 0, s.logs()
    # Both reloads and the refusal are in the audit trail.
    out = run_cli("audit", "query", "--action", "manage_policies", "--data-dir", str(d)).stdout
    assert out.count("config") >= 3


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


def test_tool_calls_round_trip_through_a_remote_model(tmp_path, mocks):
    """The mock calls the first tool with {"query": <last user text>} and answers a tool result
    with "tool said: <result>"; scif carries both ways, streamed and not."""
    m = mocks()
    s = start_site(tmp_path / "d", site_config(deployments(("a", m.url, ""))))
    try:
        c = openai_client(s)
        ask_weather = [{"role": "user", "content": "weather in Oslo"}]
        r = c.chat.completions.create(model=REMOTE, messages=ask_weather, tools=[WEATHER])
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        call = choice.message.tool_calls[0]
        assert call.type == "function" and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"query": "weather in Oslo"}
        sent = m.stats()["last_request"]
        assert sent["tools"][0]["function"]["name"] == "get_weather"

        # Streamed: the call arrives in tool_call deltas, then finish_reason tool_calls.
        chunks = list(c.chat.completions.create(model=REMOTE, messages=ask_weather, tools=[WEATHER], stream=True))
        deltas = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
        assert deltas and deltas[0].function.name == "get_weather" and deltas[0].id
        assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"query": "weather in Oslo"}
        assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["tool_calls"]

        # The result goes back; the model's answer uses it.
        follow = ask_weather + [
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny and 21 C"},
        ]
        r = c.chat.completions.create(model=REMOTE, messages=follow, tools=[WEATHER])
        assert r.choices[0].message.content == "tool said: sunny and 21 C"
        assert r.choices[0].finish_reason == "stop"
        sent = m.stats()["last_request"]["messages"]
        assert sent[1]["tool_calls"][0]["id"] == call.id and sent[2] == {"role": "tool", "content": "sunny and 21 C", "tool_call_id": call.id}

        # Validation in OpenAI's shape, naming the field.
        from openai import BadRequestError

        bad_name = {**WEATHER, "function": {**WEATHER["function"], "name": "get weather!"}}
        with pytest.raises(BadRequestError) as e:
            c.chat.completions.create(model=REMOTE, messages=ask_weather, tools=[bad_name])
        assert e.value.body["param"] == "tools[0].function.name"
        with pytest.raises(BadRequestError) as e:
            c.chat.completions.create(model=REMOTE, messages=ask_weather[:1] + [{"role": "tool", "tool_call_id": "call_nope", "content": "x"}])
        assert e.value.body["param"] == "messages[1].tool_call_id"
    finally:
        assert s.stop() == 0, s.logs()


def test_bedrock_converse_tool_use_round_trip(tmp_path, mocks):
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    m = mocks()
    d = tmp_path / "d"
    env = {**os.environ, "SCIF_SECURITY_SYSTEM_HIGH": "SECRET"}
    make_tester(d, "SECRET", env=env)
    k = json.loads(run_cli("keys", "create", "--sigv4", "--principal", "tester", "--json", "--data-dir", str(d), env=env).stdout)
    s = start_site(d, site_config(deployments(("a", m.url, ""))))
    try:
        br = boto3.client(
            "bedrock-runtime",
            endpoint_url=s.url,
            region_name="us-gov-west-1",
            aws_access_key_id=k["access_key_id"],
            aws_secret_access_key=k["secret_access_key"],
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        tool_config = {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "Current weather in a city",
                        "inputSchema": {"json": {"type": "object", "properties": {"query": {"type": "string"}}}},
                    }
                }
            ]
        }
        ask = [{"role": "user", "content": [{"text": "weather in Oslo"}]}]
        r = br.converse(modelId=REMOTE, messages=ask, toolConfig=tool_config)
        assert r["stopReason"] == "tool_use"
        use = [b["toolUse"] for b in r["output"]["message"]["content"] if "toolUse" in b][0]
        assert use["name"] == "get_weather" and use["input"] == {"query": "weather in Oslo"} and use["toolUseId"]

        # Streamed: a toolUse block (start with id and name, input in deltas), then stopReason.
        events = list(br.converse_stream(modelId=REMOTE, messages=ask, toolConfig=tool_config)["stream"])
        starts = [e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e]
        assert starts and starts[0]["name"] == "get_weather"
        inputs = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e and "toolUse" in e["contentBlockDelta"]["delta"])
        assert json.loads(inputs) == {"query": "weather in Oslo"}
        assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["tool_use"]

        # The result goes back in a toolResult block.
        follow = ask + [
            {"role": "assistant", "content": [{"toolUse": use}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "sunny and 21 C"}]}}]},
        ]
        r = br.converse(modelId=REMOTE, messages=follow, toolConfig=tool_config)
        assert r["output"]["message"]["content"] == [{"text": "tool said: sunny and 21 C"}]
        assert r["stopReason"] == "end_turn"

        # Bedrock's validation: a bad tool name is a ValidationException naming the field.
        bad = {"tools": [{"toolSpec": {**tool_config["tools"][0]["toolSpec"], "name": "get weather!"}}]}
        with pytest.raises(ClientError) as e:
            br.converse(modelId=REMOTE, messages=ask, toolConfig=bad)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert "toolConfig.tools.0.toolSpec.name" in e.value.response["Error"]["Message"]
    finally:
        assert s.stop() == 0, s.logs()
