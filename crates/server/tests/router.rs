//! The router in process, with a fake provider, a real store and a real trail in a temporary
//! directory: one table of route × caller × expected (status, body shape in the route's
//! dialect, `x-scif-label`, the audit events with their decision) that covers every declared
//! route, and the pipeline's ordering promise checked from inside the provider (the intent is
//! on disk before the provider is called).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::stream;
use http_body_util::BodyExt;
use scif_access::admin::{Actor, NewKey, NewPrincipal};
use scif_access::{Access, AccessOptions};
use scif_labels::Label;
use scif_provider::{
    ChatEvent, ChatRequest, FinishReason, ModelInfo, ModelLoad, Provider, ProviderError, Started,
    Usage,
};
use scif_server::audit::{Auditor, PromptRecording};
use scif_server::{router, AppState, Providers, State};
use serde_json::{json, Value};
use tower::ServiceExt;

/// What the fake provider saw, and what the trail held when it was called.
#[derive(Default)]
struct Seen {
    requests: Vec<ChatRequest>,
    /// For each call: whether the trail's last record was the call's intent.
    intent_first: Vec<bool>,
}

struct Echo {
    seen: Arc<Mutex<Seen>>,
    audit_dir: std::path::PathBuf,
}

fn info(id: &str, label: &str) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        created: 1_700_000_000,
        owned_by: "test".into(),
        context_length: 4096,
        architecture: "llama".into(),
        quantization: "Q4_1".into(),
        parameter_count: 1,
        sha256: "0".repeat(64),
        license: None,
        label: label.into(),
    }
}

#[async_trait]
impl Provider for Echo {
    fn kind(&self) -> &'static str {
        "echo"
    }

    fn models(&self) -> Vec<ModelInfo> {
        vec![
            info("open-model", "UNCLASSIFIED"),
            info("secret-model", "SECRET"),
        ]
    }

    fn accepts(&self, _model: &str, input: &Label) -> bool {
        Label::parse_banner("CUI").is_ok_and(|l| l.dominates(input))
    }

    fn load(&self, _model: &str) -> ModelLoad {
        ModelLoad::default()
    }

    async fn embed(
        &self,
        req: scif_provider::EmbedRequest,
    ) -> Result<scif_provider::Embeddings, ProviderError> {
        let recs =
            scif_audit::read(&self.audit_dir, &scif_audit::Filter::default()).unwrap_or_default();
        let intent_first = recs.last().is_some_and(|r| {
            r.event.action == "invoke_model"
                && r.event.detail.get("phase").and_then(Value::as_str) == Some("intent")
        });
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .intent_first
            .push(intent_first);
        Ok(scif_provider::Embeddings {
            vectors: req.inputs.iter().map(|_| vec![1.0, 0.0, 0.0]).collect(),
            prompt_tokens: req.inputs.len() * 3,
            served_by: "echo-1".into(),
        })
    }

    async fn chat(&self, req: ChatRequest) -> Result<Started, ProviderError> {
        let recs =
            scif_audit::read(&self.audit_dir, &scif_audit::Filter::default()).unwrap_or_default();
        let intent_first = recs.last().is_some_and(|r| {
            r.event.action == "invoke_model"
                && r.event.detail.get("phase").and_then(Value::as_str) == Some("intent")
        });
        let last = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.clone())
            .unwrap_or_default();
        {
            let mut s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            s.requests.push(req);
            s.intent_first.push(intent_first);
        }
        let events = vec![
            ChatEvent::Delta("echo ".into()),
            ChatEvent::Delta(last),
            ChatEvent::Done {
                finish_reason: FinishReason::Stop,
                usage: Usage {
                    prompt_tokens: 3,
                    completion_tokens: 2,
                },
            },
        ];
        Ok(Started {
            events: Box::pin(stream::iter(events)),
            served_by: "echo-1".into(),
        })
    }

    async fn count_tokens(&self, req: &ChatRequest) -> Result<usize, ProviderError> {
        Ok(req.messages.len() * 10)
    }

    fn cancel_all(&self) {}
}

struct Site {
    app: axum::Router,
    _dir: tempfile::TempDir,
    audit_dir: std::path::PathBuf,
    seen: Arc<Mutex<Seen>>,
    keys: std::collections::HashMap<&'static str, String>,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = scif_config::Config::default();
    cfg.storage.data_dir = dir.path().to_path_buf();
    cfg.security.system_high = scif_config::Marking::parse("SECRET").unwrap();
    let store = scif_store::Store::open(dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pepper = scif_access::load_or_create_pepper(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let keys = scif_identity::ApiKeys::new(scif_identity::ApiKeys::DEFAULT_PREFIX, &pepper)
        .unwrap_or_else(|e| panic!("{e}"));
    let access = Access::new(
        store.clone(),
        AccessOptions {
            keys,
            jwt: None,
            system_high: cfg.system_high(),
            default_input_label: None,
            sigv4_vault: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut made = std::collections::HashMap::new();
    for (id, clearance, groups, scopes) in [
        ("analyst", "UNCLASSIFIED", vec![], vec![]),
        ("cleared", "SECRET", vec![], vec![]),
        ("admin", "SECRET", vec!["admins".to_string()], vec![]),
        ("lister", "SECRET", vec![], vec!["list_models".to_string()]),
    ] {
        access
            .create_principal(
                Actor::LocalOperator,
                NewPrincipal {
                    id: id.into(),
                    kind: "person".into(),
                    clearance: clearance.into(),
                    nationality: "USA".into(),
                    us_person: true,
                    groups,
                    accesses: vec![],
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let k = access
            .create_key(
                Actor::LocalOperator,
                NewKey {
                    principal: id.into(),
                    scopes,
                    expires_in_secs: None,
                    description: String::new(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        made.insert(id, k.secret.expose().to_owned());
    }
    let audit_dir = dir.path().join("audit");
    let key = scif_audit::load_or_create_signing_key(&dir.path().join("secrets"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (trail, _) = scif_audit::Trail::open(scif_audit::TrailConfig::new(&audit_dir, "t"), key)
        .unwrap_or_else(|e| panic!("{e}"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut providers = Providers::default();
    providers.add(Arc::new(Echo {
        seen: seen.clone(),
        audit_dir: audit_dir.clone(),
    }));
    let mut state =
        State::new(cfg, providers, store, Arc::new(access)).unwrap_or_else(|e| panic!("{e}"));
    state.auditor = Some(Auditor {
        trail,
        prompts: PromptRecording::Full,
    });
    Site {
        app: router(AppState::from(state)),
        _dir: dir,
        audit_dir,
        seen,
        keys: made,
    }
}

/// The expected body shape.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A JSON body whose member at this pointer equals this string.
    Has(&'static str, &'static str),
    /// An OpenAI error with this code.
    OpenAiError(&'static str),
    /// An Anthropic error envelope with this type.
    AnthropicError(&'static str),
    /// A Bedrock error with this `x-amzn-ErrorType`.
    BedrockError(&'static str),
    /// A text body (metrics, probes).
    Text,
}

struct Case {
    /// The route template (so that the table provably covers every declared route).
    route: &'static str,
    method: &'static str,
    uri: &'static str,
    caller: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    body: Option<Value>,
    status: u16,
    shape: Shape,
    label: Option<&'static str>,
    /// The audit events of the request: (action, decision), in order.
    audit: &'static [(&'static str, &'static str)],
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
}

fn converse() -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
}

fn cases() -> Vec<Case> {
    use Shape::*;
    const INVOKED: &[(&str, &str)] =
        &[("invoke_model", "allow"), ("invoke_model_complete", "info")];
    const ANTHROPIC: &[(&str, &str)] = &[("anthropic-version", "2023-06-01")];
    vec![
        // OpenAI
        Case {
            route: "/v1/chat/completions",
            method: "POST",
            uri: "/v1/chat/completions",
            caller: Some("analyst"),
            headers: &[],
            body: Some(chat("open-model")),
            status: 200,
            shape: Has("/object", "chat.completion"),
            label: Some("UNCLASSIFIED"),
            audit: INVOKED,
        },
        Case {
            route: "/v1/chat/completions",
            method: "POST",
            uri: "/v1/chat/completions",
            caller: Some("analyst"),
            headers: &[],
            body: Some(chat("secret-model")),
            status: 404,
            shape: OpenAiError("model_not_found"),
            label: None,
            audit: &[("invoke_model", "deny")],
        },
        Case {
            route: "/v1/chat/completions",
            method: "POST",
            uri: "/v1/chat/completions",
            caller: Some("cleared"),
            headers: &[("x-scif-input-label", "SECRET")],
            body: Some(chat("open-model")),
            status: 403,
            shape: OpenAiError("permission_denied"),
            label: None,
            audit: &[("invoke_model", "deny")],
        },
        Case {
            route: "/v1/chat/completions",
            method: "POST",
            uri: "/v1/chat/completions",
            caller: Some("lister"),
            headers: &[],
            body: Some(chat("open-model")),
            status: 403,
            shape: OpenAiError("permission_denied"),
            label: None,
            audit: &[("invoke_model", "deny")],
        },
        Case {
            route: "/v1/chat/completions",
            method: "POST",
            uri: "/v1/chat/completions",
            caller: None,
            headers: &[],
            body: Some(chat("open-model")),
            status: 401,
            shape: OpenAiError("invalid_api_key"),
            label: None,
            audit: &[("authenticate", "deny")],
        },
        Case {
            route: "/v1/embeddings",
            method: "POST",
            uri: "/v1/embeddings",
            caller: Some("analyst"),
            headers: &[],
            body: Some(json!({"model": "open-model", "input": ["hi", "there"]})),
            status: 200,
            shape: Has("/object", "list"),
            label: Some("UNCLASSIFIED"),
            audit: INVOKED,
        },
        Case {
            route: "/v1/embeddings",
            method: "POST",
            uri: "/v1/embeddings",
            caller: Some("analyst"),
            headers: &[],
            body: Some(json!({"model": "secret-model", "input": "hi"})),
            status: 404,
            shape: OpenAiError("model_not_found"),
            label: None,
            audit: &[("invoke_model", "deny")],
        },
        Case {
            route: "/v1/embeddings",
            method: "POST",
            uri: "/v1/embeddings",
            caller: None,
            headers: &[],
            body: Some(json!({"model": "open-model", "input": "hi"})),
            status: 401,
            shape: OpenAiError("invalid_api_key"),
            label: None,
            audit: &[("authenticate", "deny")],
        },
        Case {
            route: "/v1/models",
            method: "GET",
            uri: "/v1/models",
            caller: Some("analyst"),
            headers: &[],
            body: None,
            status: 200,
            shape: Has("/object", "list"),
            label: None,
            audit: &[("list_models", "allow")],
        },
        Case {
            route: "/v1/models/{id}",
            method: "GET",
            uri: "/v1/models/secret-model",
            caller: Some("analyst"),
            headers: &[],
            body: None,
            status: 404,
            shape: OpenAiError("model_not_found"),
            label: None,
            audit: &[("read_model", "deny")],
        },
        Case {
            route: "/v1/models/{id}",
            method: "GET",
            uri: "/v1/models/secret-model",
            caller: Some("cleared"),
            headers: &[],
            body: None,
            status: 200,
            shape: Has("/id", "secret-model"),
            label: None,
            audit: &[("read_model", "allow")],
        },
        // Anthropic
        Case {
            route: "/v1/messages",
            method: "POST",
            uri: "/v1/messages",
            caller: Some("analyst"),
            headers: ANTHROPIC,
            body: Some(messages("open-model")),
            status: 200,
            shape: Has("/type", "message"),
            label: Some("UNCLASSIFIED"),
            audit: INVOKED,
        },
        Case {
            route: "/v1/messages",
            method: "POST",
            uri: "/v1/messages",
            caller: Some("analyst"),
            headers: ANTHROPIC,
            body: Some(messages("secret-model")),
            status: 404,
            shape: AnthropicError("not_found_error"),
            label: None,
            audit: &[("invoke_model", "deny")],
        },
        Case {
            route: "/v1/messages",
            method: "POST",
            uri: "/v1/messages",
            caller: None,
            headers: ANTHROPIC,
            body: Some(messages("open-model")),
            status: 401,
            shape: AnthropicError("authentication_error"),
            label: None,
            audit: &[("authenticate", "deny")],
        },
        Case {
            route: "/v1/messages",
            method: "POST",
            uri: "/v1/messages",
            caller: Some("analyst"),
            headers: ANTHROPIC,
            body: Some(json!({"model": "open-model", "messages": []})),
            status: 400,
            shape: AnthropicError("invalid_request_error"),
            label: None,
            audit: &[("invoke_model", "error")],
        },
        Case {
            route: "/v1/messages/count_tokens",
            method: "POST",
            uri: "/v1/messages/count_tokens",
            caller: Some("analyst"),
            headers: ANTHROPIC,
            body: Some(
                json!({"model": "open-model", "messages": [{"role": "user", "content": "hi"}]}),
            ),
            status: 200,
            shape: Has("/input_tokens", "10"),
            label: Some("UNCLASSIFIED"),
            audit: &[("count_tokens", "allow")],
        },
        Case {
            route: "/v1/models",
            method: "GET",
            uri: "/v1/models",
            caller: Some("analyst"),
            headers: ANTHROPIC,
            body: None,
            status: 200,
            shape: Has("/first_id", "open-model"),
            label: None,
            audit: &[("list_models", "allow")],
        },
        Case {
            route: "/v1/models/{id}",
            method: "GET",
            uri: "/v1/models/secret-model",
            caller: Some("analyst"),
            headers: ANTHROPIC,
            body: None,
            status: 404,
            shape: AnthropicError("not_found_error"),
            label: None,
            audit: &[("read_model", "deny")],
        },
        // Bedrock
        Case {
            route: "/model/{model_id}/converse",
            method: "POST",
            uri: "/model/open-model/converse",
            caller: Some("analyst"),
            headers: &[],
            body: Some(converse()),
            status: 200,
            shape: Has("/stopReason", "end_turn"),
            label: Some("UNCLASSIFIED"),
            audit: INVOKED,
        },
        Case {
            route: "/model/{model_id}/converse",
            method: "POST",
            uri: "/model/secret-model/converse",
            caller: Some("analyst"),
            headers: &[],
            body: Some(converse()),
            status: 404,
            shape: BedrockError("ResourceNotFoundException"),
            label: None,
            audit: &[("invoke_model", "deny")],
        },
        Case {
            route: "/model/{model_id}/converse-stream",
            method: "POST",
            uri: "/model/open-model/converse-stream",
            caller: Some("analyst"),
            headers: &[],
            body: Some(converse()),
            status: 200,
            shape: Text,
            label: Some("UNCLASSIFIED"),
            audit: INVOKED,
        },
        Case {
            route: "/model/{model_id}/invoke",
            method: "POST",
            uri: "/model/open-model/invoke",
            caller: Some("analyst"),
            headers: &[],
            body: Some(json!({"prompt": "hi"})),
            status: 200,
            shape: Has("/stop_reason", "stop"),
            label: Some("UNCLASSIFIED"),
            audit: INVOKED,
        },
        Case {
            route: "/model/{model_id}/invoke-with-response-stream",
            method: "POST",
            uri: "/model/open-model/invoke-with-response-stream",
            caller: Some("analyst"),
            headers: &[],
            body: Some(json!({"prompt": "hi"})),
            status: 200,
            shape: Text,
            label: Some("UNCLASSIFIED"),
            audit: INVOKED,
        },
        Case {
            route: "/model/{model_id}/invoke",
            method: "POST",
            uri: "/model/open-model/invoke",
            caller: None,
            headers: &[],
            body: Some(json!({"prompt": "hi"})),
            status: 403,
            shape: BedrockError("UnrecognizedClientException"),
            label: None,
            audit: &[("authenticate", "deny")],
        },
        Case {
            route: "/guardrail/{guardrail_id}/version/{version}/apply",
            method: "POST",
            uri: "/guardrail/nope/version/1/apply",
            caller: Some("analyst"),
            headers: &[],
            body: Some(json!({"source": "INPUT", "content": [{"text": {"text": "hi"}}]})),
            status: 404,
            shape: BedrockError("ResourceNotFoundException"),
            label: None,
            audit: &[("invoke_model", "error")],
        },
        Case {
            route: "/foundation-models",
            method: "GET",
            uri: "/foundation-models",
            caller: Some("analyst"),
            headers: &[],
            body: None,
            status: 200,
            shape: Has("/modelSummaries/0/modelId", "open-model"),
            label: None,
            audit: &[("list_models", "allow")],
        },
        Case {
            route: "/foundation-models/{model_id}",
            method: "GET",
            uri: "/foundation-models/secret-model",
            caller: Some("analyst"),
            headers: &[],
            body: None,
            status: 404,
            shape: BedrockError("ResourceNotFoundException"),
            label: None,
            audit: &[("read_model", "deny")],
        },
        // Operations and admin
        Case {
            route: "/metrics",
            method: "GET",
            uri: "/metrics",
            caller: Some("analyst"),
            headers: &[],
            body: None,
            status: 403,
            shape: OpenAiError("permission_denied"),
            label: None,
            audit: &[("read_metrics", "deny")],
        },
        Case {
            route: "/metrics",
            method: "GET",
            uri: "/metrics",
            caller: Some("admin"),
            headers: &[],
            body: None,
            status: 200,
            shape: Text,
            label: None,
            audit: &[("read_metrics", "allow")],
        },
        Case {
            route: "/healthz",
            method: "GET",
            uri: "/healthz",
            caller: None,
            headers: &[],
            body: None,
            status: 200,
            shape: Text,
            label: None,
            audit: &[],
        },
        Case {
            route: "/readyz",
            method: "GET",
            uri: "/readyz",
            caller: None,
            headers: &[],
            body: None,
            status: 200,
            shape: Text,
            label: None,
            audit: &[],
        },
        Case {
            route: "/admin/v1",
            method: "GET",
            uri: "/admin/v1/principals/cleared",
            caller: Some("analyst"),
            headers: &[],
            body: None,
            status: 404,
            shape: OpenAiError("not_found"),
            label: None,
            audit: &[("manage_principals", "deny")],
        },
        Case {
            route: "/admin/v1",
            method: "GET",
            uri: "/admin/v1/principals/analyst",
            caller: Some("cleared"),
            headers: &[],
            body: None,
            status: 403,
            shape: OpenAiError("permission_denied"),
            label: None,
            audit: &[("manage_principals", "deny")],
        },
        Case {
            route: "/admin/v1",
            method: "GET",
            uri: "/admin/v1/whoami",
            caller: Some("admin"),
            headers: &[],
            body: None,
            status: 200,
            shape: Has("/id", "admin"),
            label: None,
            audit: &[("whoami", "allow")],
        },
        // Unknown routes: no credential, no answer beyond 401; with one, a 404.
        Case {
            route: "",
            method: "GET",
            uri: "/v1/nothing-here",
            caller: None,
            headers: &[],
            body: None,
            status: 401,
            shape: OpenAiError("invalid_api_key"),
            label: None,
            audit: &[("authenticate", "deny")],
        },
        Case {
            route: "",
            method: "GET",
            uri: "/v1/nothing-here",
            caller: Some("analyst"),
            headers: &[],
            body: None,
            status: 404,
            shape: OpenAiError("unknown_url"),
            label: None,
            audit: &[("http_request", "error")],
        },
    ]
    .into_iter()
    .chain(knowledge_cases())
    .collect()
}

/// The knowledge-base routes: managing needs `manage_knowledge_bases`, searching is open to
/// all, and an unknown knowledge base is a Bedrock 404 whatever the route.
fn knowledge_cases() -> Vec<Case> {
    use Shape::*;
    const KB: &str = "/knowledgebases/{knowledge_base_id}";
    const DS: &str = "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}";
    const DOCS: &str = "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/documents";
    const JOBS: &str =
        "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/ingestionjobs/";
    let create = json!({
        "name": "kb",
        "roleArn": "arn:aws:iam::000000000000:role/kb",
        "knowledgeBaseConfiguration": {
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": "no-such-model"}
        }
    });
    let case = |route, method, uri, caller, body: Value, status, shape, audit| Case {
        route,
        method,
        uri,
        caller: Some(caller),
        headers: &[],
        body: if method == "GET" || method == "DELETE" {
            None
        } else {
            Some(body)
        },
        status,
        shape,
        label: None,
        audit,
    };
    const MISSING: Shape = BedrockError("ResourceNotFoundException");
    // Managing a knowledge base the caller cannot see answers as if it did not exist.
    const MANAGE_DENIED: &[(&str, &str)] = &[("manage_knowledge_bases", "deny")];
    const NOT_FOUND: &[(&str, &str)] = &[("retrieve", "deny")];
    vec![
        case("/knowledgebases/", "PUT", "/knowledgebases/", "analyst", create.clone(), 403,
            BedrockError("AccessDeniedException"), MANAGE_DENIED),
        case("/knowledgebases/", "PUT", "/knowledgebases/", "admin", create, 404,
            MISSING, &[("manage_knowledge_bases", "allow")]),
        case("/knowledgebases/", "POST", "/knowledgebases/", "analyst", json!({}), 200,
            Has("/knowledgeBaseSummaries", "[]"), &[("retrieve", "allow")]),
        case(KB, "GET", "/knowledgebases/KB0000000", "analyst", json!({}), 404, MISSING, NOT_FOUND),
        case(KB, "DELETE", "/knowledgebases/KB0000000", "admin", json!({}), 404, MISSING,
            &[("manage_knowledge_bases", "deny")]),
        case("/knowledgebases/{knowledge_base_id}/datasources/", "PUT",
            "/knowledgebases/KB0000000/datasources/", "analyst",
            json!({"name": "d", "dataSourceConfiguration": {"type": "CUSTOM"}}), 404,
            MISSING, MANAGE_DENIED),
        case("/knowledgebases/{knowledge_base_id}/datasources/", "POST",
            "/knowledgebases/KB0000000/datasources/", "analyst", json!({}), 404, MISSING, NOT_FOUND),
        case(DS, "GET", "/knowledgebases/KB0000000/datasources/DS0000000", "analyst", json!({}),
            404, MISSING, NOT_FOUND),
        case(DS, "DELETE", "/knowledgebases/KB0000000/datasources/DS0000000", "analyst",
            json!({}), 404, MISSING, MANAGE_DENIED),
        case(DOCS, "PUT", "/knowledgebases/KB0000000/datasources/DS0000000/documents", "admin",
            json!({"documents": [{"content": {"dataSourceType": "CUSTOM", "custom": {
                "customDocumentIdentifier": {"id": "d1"}, "sourceType": "IN_LINE",
                "inlineContent": {"type": "TEXT", "textContent": {"data": "hello"}}}}}]}),
            404, MISSING, &[("manage_knowledge_bases", "deny")]),
        case(DOCS, "POST", "/knowledgebases/KB0000000/datasources/DS0000000/documents", "analyst",
            json!({}), 404, MISSING, NOT_FOUND),
        case(
            "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/documents/getDocuments",
            "POST", "/knowledgebases/KB0000000/datasources/DS0000000/documents/getDocuments",
            "analyst",
            json!({"documentIdentifiers": [{"dataSourceType": "CUSTOM", "custom": {"id": "d1"}}]}),
            404, MISSING, NOT_FOUND),
        case(
            "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/documents/deleteDocuments",
            "POST", "/knowledgebases/KB0000000/datasources/DS0000000/documents/deleteDocuments",
            "analyst",
            json!({"documentIdentifiers": [{"dataSourceType": "CUSTOM", "custom": {"id": "d1"}}]}),
            404, MISSING, MANAGE_DENIED),
        case(JOBS, "PUT", "/knowledgebases/KB0000000/datasources/DS0000000/ingestionjobs/",
            "analyst", json!({}), 404, MISSING, MANAGE_DENIED),
        case(JOBS, "POST", "/knowledgebases/KB0000000/datasources/DS0000000/ingestionjobs/",
            "analyst", json!({}), 404, MISSING, NOT_FOUND),
        case(
            "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/ingestionjobs/{ingestion_job_id}",
            "GET", "/knowledgebases/KB0000000/datasources/DS0000000/ingestionjobs/J0000000",
            "analyst", json!({}), 404, MISSING, NOT_FOUND),
        case("/knowledgebases/{knowledge_base_id}/retrieve", "POST",
            "/knowledgebases/KB0000000/retrieve", "analyst",
            json!({"retrievalQuery": {"text": "hello"}}), 404, MISSING, NOT_FOUND),
        case("/retrieveAndGenerate", "POST", "/retrieveAndGenerate", "analyst",
            json!({"input": {"text": "hello"}, "retrieveAndGenerateConfiguration": {
                "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {
                    "knowledgeBaseId": "KB0000000", "modelArn": "open-model"}}}),
            404, MISSING, NOT_FOUND),
    ]
}

#[tokio::test]
async fn every_route_by_caller_answers_in_its_dialect_and_is_recorded() {
    let s = site().await;
    let mut covered = std::collections::BTreeSet::new();
    for c in cases() {
        covered.insert(c.route);
        let mut req = Request::builder().method(c.method).uri(c.uri);
        if let Some(who) = c.caller {
            req = req.header("authorization", format!("Bearer {}", s.keys[who]));
        }
        for (k, v) in c.headers {
            req = req.header(*k, *v);
        }
        let body = match &c.body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let req = req.body(body).unwrap_or_else(|e| panic!("{e}"));
        let resp = s
            .app
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let what = format!("{} {} as {:?}", c.method, c.uri, c.caller);
        assert_eq!(
            resp.status(),
            StatusCode::from_u16(c.status).unwrap_or_default(),
            "{what}"
        );
        let headers = resp.headers().clone();
        assert_eq!(
            headers.get("x-scif-label").and_then(|v| v.to_str().ok()),
            c.label,
            "{what}: x-scif-label"
        );
        let rid = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .to_bytes();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match c.shape {
            Shape::Has(ptr, want) => {
                let got = json.pointer(ptr).map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                assert_eq!(got.as_deref(), Some(want), "{what}: {json}");
            }
            Shape::OpenAiError(code) => {
                assert_eq!(json["error"]["code"], code, "{what}: {json}");
                for k in ["message", "type", "param", "code"] {
                    assert!(json["error"].get(k).is_some(), "{what}: {k} in {json}");
                }
            }
            Shape::AnthropicError(kind) => {
                assert_eq!(json["type"], "error", "{what}: {json}");
                assert_eq!(json["error"]["type"], kind, "{what}: {json}");
                assert!(json["error"]["message"].is_string(), "{what}");
                assert!(headers.contains_key("request-id"), "{what}: request-id");
            }
            Shape::BedrockError(name) => {
                assert_eq!(
                    headers
                        .get("x-amzn-errortype")
                        .and_then(|v| v.to_str().ok()),
                    Some(name),
                    "{what}: {json}"
                );
                assert!(json["message"].is_string(), "{what}: {json}");
                assert!(json.get("error").is_none(), "{what}: no OpenAI envelope");
            }
            Shape::Text => assert!(!bytes.is_empty() || c.audit.is_empty(), "{what}"),
        }
        // The trail: the request's events, in order (a streamed completion lands a moment
        // after its last byte).
        let mut got = Vec::new();
        for _ in 0..50 {
            let recs = scif_audit::read(
                &s.audit_dir,
                &scif_audit::Filter {
                    request_id: Some(rid.clone()),
                    ..Default::default()
                },
            )
            .unwrap_or_default();
            got = recs
                .iter()
                .map(|r| (r.event.action.clone(), r.event.decision.clone()))
                .collect::<Vec<_>>();
            if got.len() >= c.audit.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let want: Vec<(String, String)> = c
            .audit
            .iter()
            .map(|(a, d)| ((*a).to_owned(), (*d).to_owned()))
            .collect();
        assert_eq!(got, want, "{what}: audit events");
    }
    // Every declared route is in the table above.
    for r in scif_server::routes::TABLE {
        assert!(
            covered.contains(r.path),
            "no case for {:?} {}",
            r.method,
            r.path
        );
    }
    // Every call reached the provider only after its intent was on disk.
    let seen = s.seen.lock().unwrap_or_else(|p| p.into_inner());
    assert!(!seen.intent_first.is_empty() && seen.intent_first.iter().all(|b| *b));
}

/// Replaces what differs between runs (ids, times) with placeholders.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (prefix, keep) in [("chatcmpl-", "chatcmpl-ID"), ("msg_", "msg_ID")] {
            if let Some(after) = rest.strip_prefix(prefix) {
                let n = after.bytes().take_while(u8::is_ascii_hexdigit).count();
                if n >= 16 {
                    out.push_str(keep);
                    rest = &after[n..];
                    continue 'outer;
                }
            }
        }
        for key in ["\"created\":", "\"latencyMs\":"] {
            if let Some(after) = rest.strip_prefix(key) {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                out.push_str(key);
                out.push('0');
                rest = &after[n..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Golden answers per dialect: whole bodies, streams and errors, byte for byte (after
/// [`normalize`]). `UPDATE_GOLDEN=1 cargo test -p scif-server --test router` rewrites them;
/// a missing file fails.
#[tokio::test]
async fn golden_answers_per_dialect() {
    let s = site().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let anthropic = [("anthropic-version", "2023-06-01")];
    type Golden<'a> = (&'a str, &'a str, Value, &'a [(&'a str, &'a str)]);
    let cases: Vec<Golden> = vec![
        (
            "openai-chat.json",
            "/v1/chat/completions",
            chat("open-model"),
            &[],
        ),
        (
            "openai-chat-stream.sse",
            "/v1/chat/completions",
            json!({"model": "open-model", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}),
            &[],
        ),
        (
            "openai-error-404.json",
            "/v1/chat/completions",
            chat("secret-model"),
            &[],
        ),
        (
            "anthropic-messages.json",
            "/v1/messages",
            messages("open-model"),
            &anthropic,
        ),
        (
            "anthropic-messages-stream.sse",
            "/v1/messages",
            json!({"model": "open-model", "max_tokens": 8, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
            &anthropic,
        ),
        (
            "anthropic-error-404.json",
            "/v1/messages",
            messages("secret-model"),
            &anthropic,
        ),
        (
            "anthropic-error-400.json",
            "/v1/messages",
            json!({"model": "open-model", "messages": [{"role": "user", "content": "hi"}]}),
            &anthropic,
        ),
        (
            "bedrock-converse.json",
            "/model/open-model/converse",
            converse(),
            &[],
        ),
        (
            "bedrock-error-404.json",
            "/model/secret-model/converse",
            converse(),
            &[],
        ),
    ];
    let mut failures = Vec::new();
    for (file, uri, body, headers) in cases {
        let mut req = Request::builder()
            .method("POST")
            .uri(uri)
            .header("authorization", format!("Bearer {}", s.keys["analyst"]))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Body::from(body.to_string())).unwrap();
        let resp = s
            .app
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|k| format!("x-amzn-errortype: {k}\n"))
            .unwrap_or_default();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let got = format!(
            "{status}\n{kind}{}\n",
            normalize(&String::from_utf8_lossy(&bytes))
        );
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!("{file}:\n--- want\n{want}--- got\n{got}")),
            Err(e) => failures.push(format!("{file}: {e} (UPDATE_GOLDEN=1 writes it)")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
