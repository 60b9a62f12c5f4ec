"""Inspection that holds against formatting, Unicode and structure, through the real binary with
the official clients, in both dialects (OpenAI chat completions and Bedrock Converse), on input and
on output, streamed and not.

(Anthropic Messages too, since the three dialects share one pipeline.) A generator below writes each entity under each transform (fullwidth and Arabic-Indic digits,
zero-width characters, soft hyphens, non-breaking spaces, Unicode dashes, look-alike letters,
compact JSON, JSON escapes, XML, markdown, HTML references, base64) and each marking in the forms
people write. Input: the guardrail blocks the prompt and the model is never called. Output: the
guardrail lets the prompt through (inputAction NONE) and the mock upstream answers with the
prompt's words, one streamed chunk per word, so the answer carries the same variant and must come
back masked. Recall per transform is printed and must be complete."""

import base64
import json

import pytest

from test_gateway import REMOTE
from test_guardrails import ask, bedrock, guardrail_site, stop_guardrail_site

boto3 = pytest.importorskip("boto3")

TYPES = ["US_SOCIAL_SECURITY_NUMBER", "EMAIL", "CREDIT_DEBIT_CARD_NUMBER", "NAME", "MEDICAL_RECORD_NUMBER", "PHONE"]
BLOCKING = {
    "name": "adv-in",
    "blockedInputMessaging": "blocked in",
    "blockedOutputsMessaging": "blocked out",
    "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": t, "action": "BLOCK"} for t in TYPES]},
}
MASKING = {
    "name": "adv-out",
    "blockedInputMessaging": "blocked in",
    "blockedOutputsMessaging": "blocked out",
    "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": t, "action": "ANONYMIZE", "inputAction": "NONE"} for t in TYPES]},
}

SAMPLES = [
    ("US_SOCIAL_SECURITY_NUMBER", "my SSN is", "536-22-8741", "ssn"),
    ("EMAIL", "write to", "maria.garcia@example.com", "email"),
    ("CREDIT_DEBIT_CARD_NUMBER", "card", "4111-1111-1111-1111", "card"),
    ("NAME", "the patient is", "María García", "name"),
    ("MEDICAL_RECORD_NUMBER", "medical record #", "MRN-4471023", "mrn"),
    ("PHONE", "call me at", "(415) 555-0132", "phone"),
]


def fullwidth(v):
    return "".join(chr(ord(c) - 0x21 + 0xFF01) if c.isascii() and c.isalnum() else c for c in v)


def interleave(v, mark):
    return mark.join(v)


TRANSFORMS = {
    "plain": lambda b, v, k: f"{b} {v} thanks",
    "fullwidth": lambda b, v, k: f"{b} {fullwidth(v)} thanks",
    "arabic_indic": lambda b, v, k: f"{b} {''.join(chr(0x660 + int(c)) if c.isdigit() else c for c in v)} thanks",
    "zero_width": lambda b, v, k: f"{b} {interleave(v, chr(0x200B))} thanks",
    "soft_hyphen": lambda b, v, k: f"{b} {interleave(v, chr(0xAD))} thanks",
    "unicode_dashes": lambda b, v, k: f"{b} {v.replace('-', chr(0x2013))} thanks",
    "homoglyphs": lambda b, v, k: f"{b} {v.replace('a', chr(0x430)).replace('e', chr(0x435)).replace('o', chr(0x43E))} thanks",
    "json_compact": lambda b, v, k: json.dumps({k: v}, separators=(",", ":"), ensure_ascii=False),
    "json_escaped": lambda b, v, k: json.dumps({k: v}, ensure_ascii=True).replace("5", "\\u0035"),
    "xml": lambda b, v, k: f"<{k}>{v}</{k}>",
    "markdown": lambda b, v, k: f"{b} **{v}** thanks",
    "html_refs": lambda b, v, k: f"{b} {''.join(f'&#{ord(c)};' if c.isdigit() else c for c in v)} thanks",
    "base64": lambda b, v, k: f"{b} {base64.b64encode(v.encode()).decode()} thanks",
}

MARKINGS = [
    "**SECRET//NOFORN**",
    "`SECRET//NOFORN`",
    "\u201cSECRET//NOFORN\u201d",
    "see (SECRET//NOFORN) now",
    "secret//noforn",
    "SECRET // NOFORN",
    "SECRET/NOFORN",
    "SECRET\uff0f\uff0fNOFORN",
    "SECRET\u2215\u2215NOFORN",
    "S\u200bECRET//NOFORN",
    "S\u0415CRET//NOFORN",
    "TS//SI//NF",
    "S E C R E T // N O F O R N",
    "classification: secret",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = guardrail_site(tmp_path_factory.mktemp("inspection"))
    for g in (BLOCKING, MASKING):
        r = s.admin("POST", "/guardrails", json=g)
        assert r.status_code == 200, r.text
    yield s
    stop_guardrail_site(s)


def cases():
    for entity, before, value, key in SAMPLES:
        for name, f in TRANSFORMS.items():
            yield entity, name, f(before, value, key), value


def chat(s, text, guardrail, stream):
    out, finish, _ = ask(s, text, stream=stream, headers={"x-scif-guardrail": f"{guardrail}:1"})
    return out, finish


def converse(s, text, guardrail, stream):
    s.mock.set(tokens=len(text.split()))
    b = bedrock(s)
    kw = dict(
        modelId=REMOTE,
        messages=[{"role": "user", "content": [{"text": text}]}],
        guardrailConfig={"guardrailIdentifier": guardrail, "guardrailVersion": "1"},
    )
    if not stream:
        r = b.converse(**kw)
        return r["output"]["message"]["content"][0]["text"], r["stopReason"]
    out, stop = "", None
    for ev in b.converse_stream(**kw)["stream"]:
        if "contentBlockDelta" in ev:
            out += ev["contentBlockDelta"]["delta"].get("text", "")
        if "messageStop" in ev:
            stop = ev["messageStop"]["stopReason"]
    return out, stop


def messages(s, text, guardrail, stream):
    import anthropic

    s.mock.set(tokens=len(text.split()))
    c = anthropic.Anthropic(base_url=s.url, api_key=s.key, max_retries=0, timeout=30)
    kw = dict(
        model=REMOTE,
        max_tokens=256,
        messages=[{"role": "user", "content": text}],
        extra_headers={"x-scif-guardrail": f"{guardrail}:1"},
    )
    if not stream:
        r = c.messages.create(**kw)
        return "".join(b.text for b in r.content if b.type == "text"), r.stop_reason
    with c.messages.stream(**kw) as st:
        out = "".join(st.text_stream)
        return out, st.get_final_message().stop_reason


SENDERS = {"openai": chat, "bedrock": converse, "anthropic": messages}
BLOCKED_REASONS = ("content_filter", "guardrail_intervened", "refusal")


def shows(output, value):
    """Whether any four consecutive digits (or the letters, for a name) of the value survive."""
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) >= 4:
        return any(digits[i : i + 4] in output for i in range(len(digits) - 3))
    return value.split("@")[0].split()[0].lower()[:4] in output.lower()


@pytest.mark.parametrize("dialect", ["openai", "bedrock", "anthropic"])
def test_every_transform_blocked_on_input(site, dialect):
    send = SENDERS[dialect]
    calls = site.mock.stats()["requests"]
    missed = []
    for entity, transform, text, _ in cases():
        out, finish = send(site, text, "adv-in", stream=False)
        if out != "blocked in" or finish not in BLOCKED_REASONS:
            missed.append((entity, transform, text, out))
    assert site.mock.stats()["requests"] == calls, "the model was called"
    assert not missed, missed


@pytest.mark.parametrize("dialect", ["openai", "bedrock", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_transform_masked_on_output(site, dialect, stream):
    send = SENDERS[dialect]
    missed = []
    for entity, transform, text, value in cases():
        out, _ = send(site, text, "adv-out", stream=stream)
        if "{" + entity + "}" not in out or shows(out.replace("{" + entity + "}", ""), value):
            missed.append((entity, transform, text, out))
    print(f"{dialect} stream={stream}: {len(missed)} missed of {len(list(cases()))}")
    assert not missed, missed


@pytest.mark.parametrize("dialect", ["openai", "bedrock", "anthropic"])
def test_markings_in_every_form_blocked(site, dialect):
    # tester is cleared SECRET; the deployment is accredited UNCLASSIFIED only.
    send = SENDERS[dialect]
    calls = site.mock.stats()["requests"]
    for form in MARKINGS:
        out, finish = send(site, f"Summarize this.\n{form}\nThe convoy moves at dawn.", "adv-out", stream=False)
        assert "classification marking" in out and "convoy" not in out, (form, out)
    assert site.mock.stats()["requests"] == calls


def test_bedrock_tool_data_is_inspected_as_structure(site):
    # Converse toolUse input and toolResult json are serialized compactly by scif: the keys give
    # the values their context, and the escapes hide nothing.
    b = bedrock(site)
    calls = site.mock.stats()["requests"]
    tool_config = {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}
    for payload in ({"ssn": "536-22-8741"}, {"record": {"mrn": "MRN-4471023"}}, {"note": "SECRET//NOFORN"}):
        msgs = [
            {"role": "user", "content": [{"text": "look it up"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "x"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": payload}]}}]},
        ]
        r = b.converse(
            modelId=REMOTE, messages=msgs, toolConfig=tool_config, guardrailConfig={"guardrailIdentifier": "adv-in", "guardrailVersion": "1"}
        )
        text = r["output"]["message"]["content"][0]["text"]
        assert text == "blocked in" or "classification marking" in text, (payload, r)
    assert site.mock.stats()["requests"] == calls
