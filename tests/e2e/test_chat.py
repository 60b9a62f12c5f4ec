"""The official openai client chatting with the default model through the real scif binary."""

import concurrent.futures

import pytest

from conftest import MODEL, SYSTEM, metric

QUESTION = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is the capital of France?"}]


def test_non_streamed_chat_answers_paris(client):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == MODEL
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip() == "The capital of France is Paris."
    assert choice.finish_reason == "stop"
    u = r.usage
    assert u.prompt_tokens > 10
    assert u.completion_tokens > 5
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_streamed_chat_matches_non_streamed_and_reports_usage(client):
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0)
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    pieces, finish, usage, roles = [], None, None, []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
            continue
        delta = chunk.choices[0].delta
        if delta.role:
            roles.append(delta.role)
        if delta.content:
            pieces.append(delta.content)
        if chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert roles == ["assistant"]
    assert "".join(pieces) == whole.choices[0].message.content
    assert len(pieces) > 3, "text arrives token by token"
    assert finish == "stop"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    # Plain ASCII English: every generated token is one streamed piece.
    # Output guardrails release text a word at a time (a word is never split across chunks
    # while it could still be part of an entity), so chunks are words, not tokens.
    assert len(pieces) <= usage.completion_tokens


def test_max_tokens_gives_finish_reason_length(client):
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a long story."}], max_tokens=7, temperature=0.8, seed=1
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 7


def test_seed_reproduces_sampled_text(client):
    kw = dict(model=MODEL, messages=[{"role": "user", "content": "Write a sentence about cats."}], max_tokens=24, temperature=0.9, top_p=0.95, seed=1234)
    a = client.chat.completions.create(**kw).choices[0].message.content
    b = client.chat.completions.create(**kw).choices[0].message.content
    assert a == b and a


def test_stop_sequence(client):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, stop=[" Paris"])
    assert r.choices[0].message.content.strip() == "The capital of France is"
    assert r.choices[0].finish_reason == "stop"


def test_content_parts_and_developer_role(client):
    msgs = [
        {"role": "developer", "content": SYSTEM},
        {"role": "user", "content": [{"type": "text", "text": "What is the capital "}, {"type": "text", "text": "of France?"}]},
    ]
    r = client.chat.completions.create(model=MODEL, messages=msgs, temperature=0)
    assert r.choices[0].message.content.strip() == "The capital of France is Paris."


def test_concurrent_streams_each_get_their_solo_answer(client):
    questions = ["What is the capital of France?", "Name a primary color.", "What is 3 plus 4?", "What do bees make?"]

    def ask(q):
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]
        stream = client.chat.completions.create(model=MODEL, messages=msgs, temperature=0, max_tokens=30, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    solo = [ask(q) for q in questions]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(ask, questions))
    assert together == solo


def test_models_list_and_get(client):
    ids = [m.id for m in client.models.list()]
    assert ids == [MODEL]
    m = client.models.retrieve(MODEL)
    assert m.id == MODEL and m.object == "model" and m.owned_by == "scif"
    extra = m.model_extra
    assert extra["architecture"] == "llama"
    assert extra["quantization"] == "Q4_1"
    assert extra["sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert extra["label"] == "UNCLASSIFIED"


def test_metrics_after_traffic(server, client):
    client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=3)
    assert metric(server, "scif_http_requests_total", route="/v1/chat/completions", status="200") >= 1
    assert metric(server, "scif_completion_tokens_total", model=MODEL) >= 3
    assert metric(server, "scif_time_to_first_token_seconds_count", model=MODEL) >= 1
    assert metric(server, "scif_http_request_duration_seconds_count", route="/v1/chat/completions") >= 1
    assert metric(server, "scif_queue_depth", model=MODEL) == 0
    assert metric(server, "scif_active_sequences", model=MODEL) >= 0


def test_a_repeated_system_prompt_is_served_from_the_prefix_cache(server, client):
    """A long system prompt shared by two requests is computed once: the second request starts
    from the first one's KV cache, and the metrics say how many prompt tokens that saved."""
    system = (
        "You are the duty officer's assistant at a regional operations centre. Answer in one short "
        "sentence. Use 24-hour times and ISO dates. If a question needs information you were not "
        "given, say that you do not have it. Never guess names, numbers or locations."
    )

    def ask(question):
        r = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            temperature=0,
            max_tokens=8,
        )
        return r.choices[0].message.content, r.usage.prompt_tokens

    def reused():
        v = metric(server, "scif_prefix_cache_reused_tokens_total", model=MODEL)
        return 0.0 if v != v else v  # NaN before the first sample

    before = reused()
    _, first_prompt = ask("What time is the shift change?")
    middle = reused()
    _, second_prompt = ask("Who is on call tonight?")
    after = reused()
    # The system prompt alone is over 60 tokens; all of it (and the template around it) is reused.
    assert after - middle >= 60, (before, middle, after, first_prompt, second_prompt)
    assert after - middle < second_prompt
    assert metric(server, "scif_prefix_cache_bytes", model=MODEL) > 0
    # Nothing is running now, so nothing is reserved.
    assert metric(server, "scif_kv_cache_reserved_bytes", model=MODEL) == 0
