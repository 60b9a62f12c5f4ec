"""Knowledge bases through boto3's `bedrock-agent` and `bedrock-agent-runtime`, unchanged but for
the endpoint and credentials: create, ingest, list, ingestion jobs, Retrieve (filters, its
paginator) and RetrieveAndGenerate (citations), with the label as the retrieval boundary.

The isolation matrix below is written out by hand: which paragraph each principal may be given,
from the markings alone, never computed by the code under test."""

import base64
import io
import json
import os
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from conftest import MODEL, Server, make_tester, model_file, run_cli

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

EMB = "minilm"
HIGH = "SECRET//NOFORN//CUI"
REGION = "us-gov-west-1"
EMB_ARN = f"arn:aws-us-gov:bedrock:{REGION}::foundation-model/{EMB}"

# Each document: its id, declared classification (None: the ingesting principal's clearance),
# its paragraphs, and attributes. Every paragraph names the coolant pump, so every one is
# relevant to the queries below, and carries one code word that identifies it.
DOCS = [
    ("doc-u", "UNCLASSIFIED", ["ALPHA: the coolant pump on the training rig is serviced monthly."], {"team": "ops", "year": 2021}),
    ("doc-cui", "CUI", ["BRAVO: the coolant pump supplier contract lists unit prices."], {"team": "finance", "year": 2022}),
    ("doc-s", "SECRET", ["CHARLIE: the coolant pump on the submarine fails above 40 knots."], {"team": "ops", "year": 2023}),
    ("doc-s-nf", "SECRET//NOFORN", ["DELTA: the coolant pump acoustic signature is classified."], {"team": "intel", "year": 2024}),
    (
        "doc-mixed",
        "SECRET//NOFORN",
        [
            "(U) ECHO: the coolant pump manual is available in the library.",
            "(S) FOXTROT: the coolant pump redundancy plan covers two failures.",
            "(S//NF) GOLF: the coolant pump sensor feeds the sonar suite.",
        ],
        {"team": "ops", "year": 2025},
    ),
    ("doc-gbr", "SECRET//REL TO USA, GBR", ["HOTEL: the coolant pump exchange with the Royal Navy is approved."], {"team": "liaison", "year": 2025}),
]
ALL = {"ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL"}

# Who may read which paragraph, by hand: clearance, nationality and the markings.
READERS = {
    "lib": ALL,  # SECRET//NOFORN//CUI, USA
    "ana": ALL - {"BRAVO"},  # SECRET, USA: no CUI
    "cora": {"ALPHA", "BRAVO", "ECHO"},  # CUI, USA
    "gbr": {"ALPHA", "ECHO", "HOTEL"},  # SECRET, GBR: only what is released to GBR
    "uma": {"ALPHA", "ECHO"},  # UNCLASSIFIED
}
# Whose clearance admits each whole document (listing, location, attributes).
DOC_READERS = {
    "lib": {"doc-u", "doc-cui", "doc-s", "doc-s-nf", "doc-mixed", "doc-gbr"},
    "ana": {"doc-u", "doc-s", "doc-s-nf", "doc-mixed", "doc-gbr"},
    "cora": {"doc-u", "doc-cui"},
    "gbr": {"doc-u", "doc-gbr"},
    "uma": {"doc-u"},
}
QUERY = "coolant pump"


def clean_env():
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SCIF_")}, "SCIF_SECURITY_SYSTEM_HIGH": HIGH}


def embedding_model() -> str:
    path = os.environ.get("SCIF_TEST_EMBEDDING_MODEL")
    assert path and Path(path, "model.safetensors").exists(), "SCIF_TEST_EMBEDDING_MODEL must point at the embedding model directory"
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("knowledge")
    env = clean_env()
    run_cli("models", "import", model_file(), "--name", MODEL, "--data-dir", str(d), env=env)
    run_cli("models", "import", embedding_model(), "--name", EMB, "--data-dir", str(d), env=env)
    make_tester(d, HIGH, env=env)
    creds = {}
    people = [
        ("lib", HIGH, "USA", ["librarians"]),
        ("ana", "SECRET", "USA", []),
        ("cora", "CUI", "USA", []),
        ("gbr", "SECRET", "GBR", []),
        ("uma", "UNCLASSIFIED", "USA", []),
        ("eve", "SECRET", "USA", []),
    ]
    for who, clearance, nation, groups in people:
        args = ["principals", "create", who, "--clearance", clearance, "--nationality", nation]
        for g in groups:
            args += ["--group", g]
        run_cli(*args, "--data-dir", str(d), env=env)
        k = json.loads(run_cli("keys", "create", "--sigv4", "--principal", who, "--json", "--data-dir", str(d), env=env).stdout)
        creds[who] = (k["access_key_id"], k["secret_access_key"])
    s = Server(d, extra_env={"SCIF_SECURITY_SYSTEM_HIGH": HIGH}).wait_ready()
    s.creds, s.data, s.env = creds, d, env
    yield s
    assert s.stop() == 0, s.logs()


def client(site, who, service="bedrock-agent-runtime"):
    akid, sk = site.creds[who]
    return boto3.client(
        service, endpoint_url=site.url, region_name=REGION,
        aws_access_key_id=akid, aws_secret_access_key=sk,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def agent(site, who="lib"):
    return client(site, who, "bedrock-agent")


def code(e) -> str:
    return e.value.response["Error"]["Code"]


def attr(v):
    if isinstance(v, bool):
        return {"type": "BOOLEAN", "booleanValue": v}
    if isinstance(v, (int, float)):
        return {"type": "NUMBER", "numberValue": v}
    if isinstance(v, list):
        return {"type": "STRING_LIST", "stringListValue": v}
    return {"type": "STRING", "stringValue": v}


def text_doc(doc_id, text, attrs=None, classification=None):
    attrs = dict(attrs or {})
    if classification is not None:
        attrs["classification"] = classification
    d = {
        "content": {
            "dataSourceType": "CUSTOM",
            "custom": {
                "customDocumentIdentifier": {"id": doc_id},
                "sourceType": "IN_LINE",
                "inlineContent": {"type": "TEXT", "textContent": {"data": text}},
            },
        }
    }
    if attrs:
        d["metadata"] = {"type": "IN_LINE_ATTRIBUTE", "inlineAttributes": [{"key": k, "value": attr(v)} for k, v in attrs.items()]}
    return d


def byte_doc(doc_id, data: bytes, mime, classification):
    return {
        "content": {
            "dataSourceType": "CUSTOM",
            "custom": {
                "customDocumentIdentifier": {"id": doc_id},
                "sourceType": "IN_LINE",
                "inlineContent": {"type": "BYTE", "byteContent": {"mimeType": mime, "data": data}},
            },
        },
        "metadata": {"type": "IN_LINE_ATTRIBUTE", "inlineAttributes": [{"key": "classification", "value": attr(classification)}]},
    }


def make_kb(site, name, ceiling, metadata=None, who="lib"):
    tags = {"classification": ceiling}
    if metadata:
        tags["metadata-classification"] = metadata
    kb = agent(site, who).create_knowledge_base(
        name=name,
        roleArn="arn:aws-us-gov:iam::000000000000:role/scif",
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMB_ARN}},
        tags=tags,
    )["knowledgeBase"]
    ds = agent(site, who).create_data_source(
        knowledgeBaseId=kb["knowledgeBaseId"], name=f"{name}-src", dataSourceConfiguration={"type": "CUSTOM"}
    )["dataSource"]
    return kb["knowledgeBaseId"], ds["dataSourceId"]


def wait_indexed(site, kb, ds, ids, who="lib", timeout=180):
    a = agent(site, who)
    deadline = time.monotonic() + timeout
    while True:
        got = []
        for at in range(0, len(ids), 10):  # Bedrock takes at most 10 identifiers a call
            got += a.get_knowledge_base_documents(
                knowledgeBaseId=kb, dataSourceId=ds,
                documentIdentifiers=[{"dataSourceType": "CUSTOM", "custom": {"id": i}} for i in ids[at:at + 10]],
            )["documentDetails"]
        statuses = {g["identifier"]["custom"]["id"]: g["status"] for g in got}
        if all(s in ("INDEXED", "FAILED") for s in statuses.values()):
            assert all(s == "INDEXED" for s in statuses.values()), got
            return
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)


@pytest.fixture(scope="module")
def library(site):
    kb, ds = make_kb(site, "library", HIGH, metadata="UNCLASSIFIED")
    docs = [text_doc(i, "\n\n".join(paras), attrs, cls) for i, cls, paras, attrs in DOCS]
    r = agent(site).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=docs)
    assert sorted(d["identifier"]["custom"]["id"] for d in r["documentDetails"]) == sorted(i for i, *_ in DOCS)
    wait_indexed(site, kb, ds, [i for i, *_ in DOCS])
    return kb, ds


def retrieve(site, who, kb, query=QUERY, n=20, **config):
    vc = {"numberOfResults": n, **config}
    return client(site, who).retrieve(
        knowledgeBaseId=kb, retrievalQuery={"text": query}, retrievalConfiguration={"vectorSearchConfiguration": vc}
    )


def words(results):
    return {r["content"]["text"].split(":")[0].split()[-1] for r in results}


def audit_events(site):
    time.sleep(1.2)
    out = run_cli("audit", "export", "--format", "jsonl", "--data-dir", str(site.data), env=site.env).stdout
    return [json.loads(line)["event"] for line in out.splitlines() if line.strip()]


def test_knowledge_base_lifecycle_through_bedrock_agent(site, library):
    kb, ds = library
    a = agent(site)
    got = a.get_knowledge_base(knowledgeBaseId=kb)["knowledgeBase"]
    assert got["name"] == "library" and got["status"] == "ACTIVE" and got["knowledgeBaseArn"].endswith(kb)
    assert got["knowledgeBaseConfiguration"]["vectorKnowledgeBaseConfiguration"]["embeddingModelArn"] == EMB_ARN
    assert kb in [k["knowledgeBaseId"] for k in a.list_knowledge_bases()["knowledgeBaseSummaries"]]
    assert [d["dataSourceId"] for d in a.list_data_sources(knowledgeBaseId=kb)["dataSourceSummaries"]] == [ds]
    assert a.get_data_source(knowledgeBaseId=kb, dataSourceId=ds)["dataSource"]["dataSourceConfiguration"]["type"] == "CUSTOM"
    listed = a.list_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds)["documentDetails"]
    assert sorted(d["identifier"]["custom"]["id"] for d in listed) == sorted(i for i, *_ in DOCS)
    assert {d["status"] for d in listed} == {"INDEXED"}
    job = a.start_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJob"]
    deadline = time.monotonic() + 60
    while job["status"] not in ("COMPLETE", "FAILED"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = a.get_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds, ingestionJobId=job["ingestionJobId"])["ingestionJob"]
    assert job["status"] == "COMPLETE", job
    jobs = a.list_ingestion_jobs(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJobSummaries"]
    assert job["ingestionJobId"] in [j["ingestionJobId"] for j in jobs]


def test_isolation_matrix_on_retrieve(site, library):
    kb, _ = library
    for who, expect in READERS.items():
        for search in ["HYBRID", "SEMANTIC"]:
            r = retrieve(site, who, kb, overrideSearchType=search)
            got = words(r["retrievalResults"])
            assert got == expect, (who, search, got)
            for res in r["retrievalResults"]:
                doc = res.get("location", {}).get("customDocumentLocation", {}).get("id")
                if doc is not None:
                    assert doc in DOC_READERS[who], (who, doc)
            # The response is labelled with the join of what it returned.
            label = r["ResponseMetadata"]["HTTPHeaders"]["x-scif-label"]
            if who == "uma":
                assert label == "UNCLASSIFIED"


def test_portion_marks_label_each_chunk_and_hide_the_document(site, library):
    kb, _ = library
    r = retrieve(site, "uma", kb)["retrievalResults"]
    echo = [x for x in r if x["content"]["text"].startswith("(U) ECHO")]
    assert len(echo) == 1, r
    # The paragraph is unclassified; the SECRET//NOFORN document it sits in is not the
    # caller's to know: no location, no attributes, no data source.
    assert echo[0]["metadata"]["x-scif-label"] == "UNCLASSIFIED"
    assert "location" not in echo[0] and "team" not in echo[0]["metadata"] and "classification" not in echo[0]["metadata"]
    assert "x-amz-bedrock-kb-data-source-id" not in echo[0]["metadata"]
    mine = retrieve(site, "lib", kb)["retrievalResults"]
    labels = {words([x]).pop(): x["metadata"]["x-scif-label"] for x in mine}
    assert labels["ECHO"] == "UNCLASSIFIED" and labels["FOXTROT"] == "SECRET" and labels["GOLF"] == "SECRET//NOFORN"
    assert labels["HOTEL"] == "SECRET//REL TO USA, GBR" and labels["BRAVO"] == "CUI"
    alpha = [x for x in mine if words([x]) == {"ALPHA"}][0]
    assert alpha["location"]["customDocumentLocation"]["id"] == "doc-u" and alpha["metadata"]["team"] == "ops"


def test_documents_listed_and_fetched_only_by_those_cleared(site, library):
    kb, ds = library
    for who, expect in DOC_READERS.items():
        listed = agent(site, who).list_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds)["documentDetails"]
        assert {d["identifier"]["custom"]["id"] for d in listed} == expect, who
        got = agent(site, who).get_knowledge_base_documents(
            knowledgeBaseId=kb, dataSourceId=ds,
            documentIdentifiers=[{"dataSourceType": "CUSTOM", "custom": {"id": i}} for i in ["doc-s-nf", "doc-u", "no-such-doc"]],
        )["documentDetails"]
        status = {g["identifier"]["custom"]["id"]: g["status"] for g in got}
        # Another compartment's document answers exactly like a missing one.
        assert status["no-such-doc"] == "NOT_FOUND"
        assert status["doc-s-nf"] == ("INDEXED" if "doc-s-nf" in expect else "NOT_FOUND"), who
        assert status["doc-u"] == "INDEXED"
        hidden = [g for g in got if g["identifier"]["custom"]["id"] in ("no-such-doc", "doc-s-nf") and g["status"] == "NOT_FOUND"]
        for g in hidden:
            assert set(g) == set(hidden[0])


def test_filters_and_attributes_cannot_widen_access(site, library):
    kb, _ = library
    filters = [
        {"equals": {"key": "team", "value": "ops"}},
        {"equals": {"key": "classification", "value": "SECRET"}},
        {"notEquals": {"key": "classification", "value": "UNCLASSIFIED"}},
        {"greaterThanOrEquals": {"key": "year", "value": 2000}},
        {"orAll": [{"equals": {"key": "team", "value": "intel"}}, {"startsWith": {"key": "team", "value": ""}}]},
        {"in": {"key": "team", "value": ["ops", "intel", "finance", "liaison"]}},
        {"stringContains": {"key": "team", "value": "o"}},
    ]
    for who, readable in READERS.items():
        for f in filters:
            got = words(retrieve(site, who, kb, filter=f)["retrievalResults"])
            assert got <= readable, (who, f, got)
    # Filters select what a document's attributes say, for those who may see the document.
    assert words(retrieve(site, "ana", kb, filter=filters[0])["retrievalResults"]) == {"ALPHA", "CHARLIE", "ECHO", "FOXTROT", "GOLF"}
    assert words(retrieve(site, "ana", kb, filter={"equals": {"key": "year", "value": 2023}})["retrievalResults"]) == {"CHARLIE"}
    assert words(retrieve(site, "lib", kb, filter={"andAll": [{"equals": {"key": "team", "value": "ops"}}, {"lessThan": {"key": "year", "value": 2023}}]})["retrievalResults"]) == {"ALPHA"}
    # uma may not see doc-mixed, so its attributes cannot select (or reveal) its paragraphs.
    assert words(retrieve(site, "uma", kb, filter=filters[0])["retrievalResults"]) == {"ALPHA"}
    with pytest.raises(ClientError) as e:
        retrieve(site, "ana", kb, filter={"greaterThan": {"key": "year", "value": "2020"}})
    assert code(e) == "ValidationException"


def test_a_claimed_user_id_is_ignored(site, library):
    kb, _ = library
    c = client(site, "uma")

    def spoof(request, **_):
        body = json.loads(request.data)
        body["userContext"] = {"userId": "lib"}
        request.data = json.dumps(body).encode()
        request.headers["Content-Length"] = str(len(request.data))

    c.meta.events.register("before-sign.bedrock-agent-runtime.Retrieve", spoof)
    r = c.retrieve(knowledgeBaseId=kb, retrievalQuery={"text": QUERY}, retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 20}})
    assert words(r["retrievalResults"]) == READERS["uma"]


def test_ingestion_refuses_spillage_overreach_and_the_uncleared(site, library):
    kb, ds = library
    a = agent(site)
    cases = [
        # A portion mark above the declared label is spillage into the knowledge base.
        text_doc("spill-1", "(U) coolant pump basics.\n\n(S) coolant pump weakness.", classification="UNCLASSIFIED"),
        # So is a banner.
        text_doc("spill-2", "SECRET//NOFORN\n\ncoolant pump detail.\n\nSECRET//NOFORN", classification="SECRET"),
        # Above the knowledge base's ceiling and the librarian's clearance.
        text_doc("above", "coolant pump", classification="TOP SECRET//SI//NOFORN"),
        text_doc("bad-marking", "coolant pump", classification="SECRIT"),
    ]
    for d in cases:
        with pytest.raises(ClientError) as e:
            a.ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[d])
        assert code(e) in ("ValidationException", "AccessDeniedException"), (d, e.value.response)
    # One bad document refuses the whole batch: nothing of it was indexed.
    with pytest.raises(ClientError):
        a.ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[text_doc("ok-one", "coolant pump fine", classification="UNCLASSIFIED"), cases[0]])
    ids = {d["identifier"]["custom"]["id"] for d in a.list_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds)["documentDetails"]}
    assert not ids & {"ok-one", "spill-1", "spill-2", "above", "bad-marking"}
    # A principal who is not a librarian may not ingest, create or delete.
    with pytest.raises(ClientError) as e:
        agent(site, "ana").ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[text_doc("x", "coolant pump", classification="UNCLASSIFIED")])
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        make_kb(site, "not-mine", "UNCLASSIFIED", who="ana")
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        agent(site, "ana").delete_knowledge_base(knowledgeBaseId=kb)
    assert code(e) in ("AccessDeniedException", "ResourceNotFoundException")


def test_the_ceiling_bounds_every_document(site):
    kb, ds = make_kb(site, "low", "UNCLASSIFIED")
    with pytest.raises(ClientError) as e:
        agent(site).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[text_doc("s", "coolant pump", classification="SECRET")])
    assert code(e) == "ValidationException" and "ceiling" in e.value.response["Error"]["Message"].lower()
    # Undeclared means the librarian's clearance, which is above this ceiling: refused too.
    with pytest.raises(ClientError) as e:
        agent(site).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[text_doc("undeclared", "coolant pump")])
    assert code(e) == "ValidationException"


def test_a_hidden_knowledge_base_answers_like_a_missing_one(site):
    kb, ds = make_kb(site, "secret-kb", "SECRET")
    for who in ["uma", "cora"]:
        errors = []
        for target in [kb, "KB" + kb[2:][::-1]]:
            with pytest.raises(ClientError) as e:
                agent(site, who).get_knowledge_base(knowledgeBaseId=target)
            errors.append(code(e))
            with pytest.raises(ClientError) as e:
                retrieve(site, who, target)
            errors.append(code(e))
            with pytest.raises(ClientError) as e:
                agent(site, who).list_data_sources(knowledgeBaseId=target)
            errors.append(code(e))
        assert set(errors) == {"ResourceNotFoundException"}, errors
        assert kb not in [k["knowledgeBaseId"] for k in agent(site, who).list_knowledge_bases()["knowledgeBaseSummaries"]]
    assert agent(site, "ana").get_knowledge_base(knowledgeBaseId=kb)["knowledgeBase"]["name"] == "secret-kb"


def test_full_counts_and_the_paginator_with_a_selective_label(site):
    kb, ds = make_kb(site, "bulk", "SECRET", metadata="UNCLASSIFIED")
    docs = []
    for i in range(60):
        cls = "UNCLASSIFIED" if i % 10 == 0 else "SECRET"
        docs.append(text_doc(f"bulk-{i:02d}", f"Report {i}: coolant pump vibration measured on unit {i}.", {"n": i}, cls))
    # Bedrock takes at most 25 documents a call.
    with pytest.raises(ClientError) as e:
        agent(site).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=docs[:26])
    assert code(e) == "ValidationException"
    for i in range(0, 60, 20):
        agent(site).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=docs[i:i + 20])
    wait_indexed(site, kb, ds, [f"bulk-{i:02d}" for i in range(60)])
    # 6 of 60 chunks are unclassified: a window of 5 is still filled from them.
    r = retrieve(site, "uma", kb, query="coolant pump vibration", n=5)["retrievalResults"]
    assert len(r) == 5 and {x["metadata"]["x-scif-label"] for x in r} == {"UNCLASSIFIED"}
    assert len(retrieve(site, "ana", kb, query="coolant pump vibration", n=50)["retrievalResults"]) == 50
    # The paginator walks every readable result once.
    pages = client(site, "uma").get_paginator("retrieve").paginate(
        knowledgeBaseId=kb, retrievalQuery={"text": "coolant pump vibration"},
        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 2}},
    )
    seen = [x["location"]["customDocumentLocation"]["id"] for p in pages for x in p["retrievalResults"]]
    assert sorted(seen) == [f"bulk-{i:02d}" for i in range(0, 60, 10)]
    # A page token is bound to its caller and query.
    first = client(site, "uma").retrieve(
        knowledgeBaseId=kb, retrievalQuery={"text": "coolant pump vibration"},
        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 2}},
    )
    with pytest.raises(ClientError) as e:
        client(site, "ana").retrieve(
            knowledgeBaseId=kb, retrievalQuery={"text": "coolant pump vibration"}, nextToken=first["nextToken"],
            retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 2}},
        )
    assert code(e) == "ValidationException"
    # Each retrieval is audited with what it returned and how many it withheld, never which.
    rid = client(site, "uma").retrieve(
        knowledgeBaseId=kb, retrievalQuery={"text": "coolant pump vibration"},
        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 3}},
    )["ResponseMetadata"]["RequestId"]
    ev = [e for e in audit_events(site) if e.get("request_id") == rid and e.get("action") == "retrieve"]
    assert len(ev) == 1, ev
    d = ev[0]["detail"]
    assert d["knowledge_base"] == kb and len(d["returned"]) == 3 and d["withheld"] > 0
    assert {x["label"] for x in d["returned"]} == {"UNCLASSIFIED"}
    assert "coolant" not in json.dumps(ev[0])


def test_reingesting_unchanged_content_is_idempotent_and_changes_replace(site):
    kb, ds = make_kb(site, "idem", "SECRET", metadata="UNCLASSIFIED")
    a = agent(site)
    a.ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[text_doc("d1", "KILO: coolant pump gasket.", classification="UNCLASSIFIED")])
    wait_indexed(site, kb, ds, ["d1"])
    a.ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[text_doc("d1", "KILO: coolant pump gasket.", classification="UNCLASSIFIED")])
    wait_indexed(site, kb, ds, ["d1"])
    assert len(retrieve(site, "uma", kb)["retrievalResults"]) == 1
    # Relabelled upward: the unclassified reader loses it.
    a.ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[text_doc("d1", "LIMA: coolant pump gasket, revised.", classification="SECRET")])
    wait_indexed(site, kb, ds, ["d1"])
    assert retrieve(site, "uma", kb)["retrievalResults"] == []
    assert words(retrieve(site, "ana", kb)["retrievalResults"]) == {"LIMA"}
    a.delete_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documentIdentifiers=[{"dataSourceType": "CUSTOM", "custom": {"id": "d1"}}])
    deadline = time.monotonic() + 30
    while retrieve(site, "ana", kb)["retrievalResults"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_html_markdown_and_docx_are_extracted(site):
    kb, ds = make_kb(site, "formats", "SECRET", metadata="UNCLASSIFIED")
    html = b"<html><head><style>p{}</style><script>var x=1</script></head><body><p>MIKE: coolant pump &amp; valve.</p></body></html>"
    md = b"# Title\n\nNOVEMBER: the **coolant pump** list.\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(
            "word/document.xml",
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            "<w:p><w:r><w:t>OSCAR: the coolant </w:t></w:r><w:r><w:t>pump in Word.</w:t></w:r></w:p></w:body></w:document>",
        )
    docx = buf.getvalue()
    agent(site).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[
        byte_doc("h", html, "text/html", "UNCLASSIFIED"),
        byte_doc("m", md, "text/markdown", "UNCLASSIFIED"),
        byte_doc("w", docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "UNCLASSIFIED"),
    ])
    wait_indexed(site, kb, ds, ["h", "m", "w"])
    texts = {x["location"]["customDocumentLocation"]["id"]: x["content"]["text"] for x in retrieve(site, "uma", kb)["retrievalResults"]}
    assert "MIKE: coolant pump & valve." in texts["h"] and "var x" not in texts["h"]
    assert "NOVEMBER" in texts["m"] and "OSCAR: the coolant pump in Word." in texts["w"]
    with pytest.raises(ClientError) as e:
        agent(site).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=[byte_doc("z", b"\x00\x01garbage", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "UNCLASSIFIED")])
    assert code(e) == "ValidationException"


def test_retrieve_and_generate_cites_only_what_the_caller_may_read(site, library):
    kb, _ = library
    cfg = {
        "type": "KNOWLEDGE_BASE",
        "knowledgeBaseConfiguration": {
            "knowledgeBaseId": kb,
            "modelArn": MODEL,
            "generationConfiguration": {"inferenceConfig": {"textInferenceConfig": {"maxTokens": 40, "temperature": 0}}},
        },
    }
    for who in ["uma", "ana"]:
        r = client(site, who).retrieve_and_generate(input={"text": "Where is the coolant pump manual?"}, retrieveAndGenerateConfiguration=cfg)
        out = r["output"]["text"]
        assert out and r["sessionId"]
        cited = set()
        for c in r["citations"]:
            part = c["generatedResponsePart"]["textResponsePart"]
            s = part["span"]
            assert 0 <= s["start"] <= s["end"] < len(out) and out[s["start"]:s["end"] + 1] == part["text"]
            for ref in c["retrievedReferences"]:
                cited |= words([ref])
        assert cited and cited <= READERS[who], (who, cited)
        label = r["ResponseMetadata"]["HTTPHeaders"]["x-scif-label"]
        if who == "uma":
            assert label == "UNCLASSIFIED"
        # The session continues for the same principal only.
        r2 = client(site, who).retrieve_and_generate(sessionId=r["sessionId"], input={"text": "And its location?"}, retrieveAndGenerateConfiguration=cfg)
        assert r2["sessionId"] == r["sessionId"]
        other = "ana" if who == "uma" else "uma"
        with pytest.raises(ClientError) as e:
            client(site, other).retrieve_and_generate(sessionId=r["sessionId"], input={"text": "x"}, retrieveAndGenerateConfiguration=cfg)
        assert code(e) in ("ResourceNotFoundException", "ValidationException")


def test_a_lowered_clearance_takes_effect_on_the_next_request(site, library):
    kb, _ = library
    assert words(retrieve(site, "eve", kb)["retrievalResults"]) == READERS["ana"]
    # Through the admin API, as a security officer would: the very next request sees it.
    r = httpx.patch(f"{site.url}/admin/v1/principals/eve", headers=site.auth, json={"clearance": "UNCLASSIFIED"}, timeout=30)
    assert r.status_code == 200, r.text
    assert words(retrieve(site, "eve", kb)["retrievalResults"]) == READERS["uma"]
    listed = agent(site, "eve").list_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=library[1])["documentDetails"]
    assert {d["identifier"]["custom"]["id"] for d in listed} == {"doc-u"}


def test_an_acknowledged_ingestion_survives_a_crash(tmp_path):
    """SIGKILL while embedding: the restarted server resumes every acknowledged document."""
    import signal
    import sqlite3

    d = tmp_path / "crash"
    env = clean_env()
    run_cli("models", "import", embedding_model(), "--name", EMB, "--data-dir", str(d), env=env)
    make_tester(d, HIGH, env=env)
    run_cli("principals", "create", "lib", "--clearance", HIGH, "--group", "librarians", "--data-dir", str(d), env=env)
    k = json.loads(run_cli("keys", "create", "--sigv4", "--principal", "lib", "--json", "--data-dir", str(d), env=env).stdout)
    s = Server(d, extra_env={"SCIF_SECURITY_SYSTEM_HIGH": HIGH}).wait_alive()
    s.creds = {"lib": (k["access_key_id"], k["secret_access_key"])}
    kb, ds = make_kb(s, "crash", HIGH)
    body = " ".join(f"coolant pump maintenance note sentence {w} describes the seals and bearings." for w in range(25))
    docs = [text_doc(f"c{i:02d}", f"{i}: {body}", classification="SECRET") for i in range(25)]
    agent(s).ingest_knowledge_base_documents(knowledgeBaseId=kb, dataSourceId=ds, documents=docs)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    s.log.close()
    with sqlite3.connect(d / "scif.db") as db:
        (pending,) = db.execute("SELECT count(*) FROM kb_documents WHERE pending IS NOT NULL").fetchone()
        (total,) = db.execute("SELECT count(*) FROM kb_documents").fetchone()
    assert total == 25 and pending > 0, (total, pending)  # the crash came before the work was done
    s2 = Server(d, extra_env={"SCIF_SECURITY_SYSTEM_HIGH": HIGH}).wait_alive()
    s2.creds = s.creds
    try:
        wait_indexed(s2, kb, ds, [f"c{i:02d}" for i in range(25)])
        r = retrieve(s2, "lib", kb, query="coolant pump seals", n=50)["retrievalResults"]
        assert {x["location"]["customDocumentLocation"]["id"] for x in r} == {f"c{i:02d}" for i in range(25)}
    finally:
        assert s2.stop() == 0, s2.logs()
