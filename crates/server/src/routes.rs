//! The route table: every route scif serves, declared once with its dialect, whether it is
//! public (served without a credential) and recorded (an audit event), and the action the
//! audit trail names for it. The router is built from this table, and the layers (the
//! authentication and audit layers, each dialect's error renderer) read the declaration of
//! the route a request matched, never a list of path prefixes of their own.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method};

/// An HTTP method of a declared route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Delete => Method::DELETE,
        }
    }
}
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use scif_authz::Action;

use crate::AppState;

/// The wire dialect of a route: which error shape and which codecs it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Bedrock,
    Anthropic,
    /// `/admin/v1`: scif's own API (errors in the OpenAI shape).
    Admin,
    /// `/healthz`, `/readyz`, `/metrics`.
    Operations,
    /// OpenAI, or Anthropic when the caller sends `anthropic-version` (the shared
    /// `GET /v1/models`).
    Negotiated,
}

/// One route's declaration.
#[derive(Debug)]
pub struct Route {
    pub method: Verb,
    /// The path template (axum's syntax); for `prefix` routes, the prefix.
    pub path: &'static str,
    pub dialect: Dialect,
    /// Served without a credential.
    pub public: bool,
    /// Every request becomes an audit event (or, for invocations, two).
    pub recorded: bool,
    /// The action the audit trail names from the start; the handler's own authorization
    /// refines it (admin operations name theirs from the operation).
    pub action: Option<Action>,
    /// A mount point whose routes are declared by their module (the admin API).
    pub prefix: bool,
}

const fn route(
    method: Verb,
    path: &'static str,
    dialect: Dialect,
    action: Option<Action>,
) -> Route {
    Route {
        method,
        path,
        dialect,
        public: false,
        recorded: true,
        action,
        prefix: false,
    }
}

/// A probe: public and unrecorded (it carries no identity and changes nothing).
const fn probe(path: &'static str) -> Route {
    Route {
        method: Verb::Get,
        path,
        dialect: Dialect::Operations,
        public: false,
        recorded: false,
        action: None,
        prefix: false,
    }
    .public()
}

/// A mount point whose module declares its routes.
const fn mount(path: &'static str, dialect: Dialect) -> Route {
    Route {
        method: Verb::Get,
        path,
        dialect,
        public: false,
        recorded: true,
        action: None,
        prefix: true,
    }
}

impl Route {
    const fn public(mut self) -> Route {
        self.public = true;
        self
    }
}

use Dialect::*;

const KB: &str = "/knowledgebases/";
const KB_ID: &str = "/knowledgebases/{knowledge_base_id}";
const DS: &str = "/knowledgebases/{knowledge_base_id}/datasources/";
const DS_ID: &str = "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}";
const DOCS: &str = "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/documents";
const DOCS_GET: &str =
    "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/documents/getDocuments";
const DOCS_DELETE: &str =
    "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/documents/deleteDocuments";
const JOBS: &str =
    "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/ingestionjobs/";
const JOB_ID: &str =
    "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}/ingestionjobs/{ingestion_job_id}";
const RETRIEVE: &str = "/knowledgebases/{knowledge_base_id}/retrieve";
const RAG: &str = "/retrieveAndGenerate";

/// Every route. Adding one here and in [`handler`] is all a route needs.
pub static TABLE: &[Route] = &[
    route(
        Verb::Post,
        "/v1/chat/completions",
        OpenAi,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Post,
        "/v1/embeddings",
        OpenAi,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Get,
        "/v1/models",
        Negotiated,
        Some(Action::ListModels),
    ),
    route(
        Verb::Get,
        "/v1/models/{id}",
        Negotiated,
        Some(Action::ReadModel),
    ),
    route(
        Verb::Post,
        "/v1/messages",
        Anthropic,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Post,
        "/v1/messages/count_tokens",
        Anthropic,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Post,
        "/model/{model_id}/converse",
        Bedrock,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Post,
        "/model/{model_id}/converse-stream",
        Bedrock,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Post,
        "/model/{model_id}/invoke",
        Bedrock,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Post,
        "/model/{model_id}/invoke-with-response-stream",
        Bedrock,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Post,
        "/guardrail/{guardrail_id}/version/{version}/apply",
        Bedrock,
        Some(Action::InvokeModel),
    ),
    route(
        Verb::Get,
        "/foundation-models",
        Bedrock,
        Some(Action::ListModels),
    ),
    route(
        Verb::Get,
        "/foundation-models/{model_id}",
        Bedrock,
        Some(Action::ReadModel),
    ),
    // Knowledge bases: bedrock-agent, then bedrock-agent-runtime.
    route(Verb::Put, KB, Bedrock, Some(Action::ManageKnowledgeBases)),
    route(Verb::Post, KB, Bedrock, Some(Action::Retrieve)),
    route(Verb::Get, KB_ID, Bedrock, Some(Action::Retrieve)),
    route(
        Verb::Delete,
        KB_ID,
        Bedrock,
        Some(Action::ManageKnowledgeBases),
    ),
    route(Verb::Put, DS, Bedrock, Some(Action::ManageKnowledgeBases)),
    route(Verb::Post, DS, Bedrock, Some(Action::Retrieve)),
    route(Verb::Get, DS_ID, Bedrock, Some(Action::Retrieve)),
    route(
        Verb::Delete,
        DS_ID,
        Bedrock,
        Some(Action::ManageKnowledgeBases),
    ),
    route(Verb::Put, DOCS, Bedrock, Some(Action::ManageKnowledgeBases)),
    route(Verb::Post, DOCS, Bedrock, Some(Action::Retrieve)),
    route(Verb::Post, DOCS_GET, Bedrock, Some(Action::Retrieve)),
    route(
        Verb::Post,
        DOCS_DELETE,
        Bedrock,
        Some(Action::ManageKnowledgeBases),
    ),
    route(Verb::Put, JOBS, Bedrock, Some(Action::ManageKnowledgeBases)),
    route(Verb::Post, JOBS, Bedrock, Some(Action::Retrieve)),
    route(Verb::Get, JOB_ID, Bedrock, Some(Action::Retrieve)),
    route(Verb::Post, RETRIEVE, Bedrock, Some(Action::Retrieve)),
    route(Verb::Post, RAG, Bedrock, Some(Action::Retrieve)),
    route(Verb::Get, "/metrics", Operations, Some(Action::ReadMetrics)),
    probe("/healthz"),
    probe("/readyz"),
    mount("/admin/v1", Admin),
];

/// The handler of a declared route.
fn handler(r: &Route) -> Option<MethodRouter<AppState>> {
    use crate::bedrock::knowledge as kb;
    use crate::{anthropic, bedrock, health, metrics, openai};
    match (r.method, r.path) {
        (Verb::Put, KB) => Some(put(kb::create_knowledge_base)),
        (Verb::Post, KB) => Some(post(kb::list_knowledge_bases)),
        (Verb::Get, KB_ID) => Some(get(kb::get_knowledge_base)),
        (Verb::Delete, KB_ID) => Some(delete(kb::delete_knowledge_base)),
        (Verb::Put, DS) => Some(put(kb::create_data_source)),
        (Verb::Post, DS) => Some(post(kb::list_data_sources)),
        (Verb::Get, DS_ID) => Some(get(kb::get_data_source)),
        (Verb::Delete, DS_ID) => Some(delete(kb::delete_data_source)),
        (Verb::Put, DOCS) => Some(put(kb::ingest_documents)),
        (Verb::Post, DOCS) => Some(post(kb::list_documents)),
        (Verb::Post, DOCS_GET) => Some(post(kb::get_documents)),
        (Verb::Post, DOCS_DELETE) => Some(post(kb::delete_documents)),
        (Verb::Put, JOBS) => Some(put(kb::start_ingestion_job)),
        (Verb::Post, JOBS) => Some(post(kb::list_ingestion_jobs)),
        (Verb::Get, JOB_ID) => Some(get(kb::get_ingestion_job)),
        (Verb::Post, RETRIEVE) => Some(post(kb::retrieve)),
        (Verb::Post, RAG) => Some(post(kb::retrieve_and_generate)),
        (_, "/v1/chat/completions") => Some(post(openai::chat::chat_completions)),
        (_, "/v1/embeddings") => Some(post(openai::embeddings::embeddings)),
        (_, "/v1/models") => Some(get(openai::models::list)),
        (_, "/v1/models/{id}") => Some(get(openai::models::get)),
        (_, "/v1/messages") => Some(post(anthropic::messages)),
        (_, "/v1/messages/count_tokens") => Some(post(anthropic::count_tokens)),
        (_, "/model/{model_id}/converse") => Some(post(bedrock::converse)),
        (_, "/model/{model_id}/converse-stream") => Some(post(bedrock::converse_stream)),
        (_, "/model/{model_id}/invoke") => Some(post(bedrock::invoke::invoke)),
        (_, "/model/{model_id}/invoke-with-response-stream") => {
            Some(post(bedrock::invoke::invoke_stream))
        }
        (_, "/guardrail/{guardrail_id}/version/{version}/apply") => {
            Some(post(bedrock::apply_guardrail))
        }
        (_, "/foundation-models") => Some(get(bedrock::list_models)),
        (_, "/foundation-models/{model_id}") => Some(get(bedrock::get_model)),
        (_, "/metrics") => Some(get(metrics::handler)),
        (_, "/healthz") => Some(get(health::healthz)),
        (_, "/readyz") => Some(get(health::readyz)),
        // The table's own test proves every declared route has a handler.
        _ => None,
    }
}

/// The router of every declared route.
pub fn router() -> Router<AppState> {
    TABLE.iter().fold(Router::new(), |r, route| {
        if route.prefix {
            r.nest(route.path, crate::admin::routes())
        } else {
            // A path declared for several methods: axum merges the method routers.
            r.route(route.path, handler(route).unwrap_or_default())
        }
    })
}

/// The declaration of the route `req` matched (`None` for an unknown route).
pub fn of(req: &Request) -> Option<&'static Route> {
    let matched = req.extensions().get::<MatchedPath>()?.as_str();
    TABLE
        .iter()
        .find(|r| !r.prefix && r.path == matched && r.method.method() == req.method())
        .or_else(|| {
            TABLE
                .iter()
                .find(|r| r.prefix && matched.starts_with(r.path))
        })
}

/// The dialect a request speaks: its route's, negotiated by `anthropic-version` where the
/// route is shared. A request that matched no route is answered in the dialect whose
/// namespace its path is in (so that an unknown Bedrock operation gets a Bedrock error).
pub fn dialect(req: &Request) -> Dialect {
    let declared = of(req).map(|r| r.dialect).unwrap_or_else(|| {
        let p = req.uri().path();
        if p.starts_with("/model/")
            || p.starts_with("/guardrail/")
            || p.starts_with("/foundation-models")
            || p.starts_with("/knowledgebases")
            || p.starts_with("/retrieveAndGenerate")
        {
            Bedrock
        } else if p.starts_with("/v1/messages") {
            Anthropic
        } else if p.starts_with("/admin/") {
            Admin
        } else {
            Negotiated
        }
    });
    negotiate(declared, req.headers())
}

fn negotiate(d: Dialect, headers: &HeaderMap) -> Dialect {
    match d {
        Negotiated if headers.contains_key(crate::anthropic::VERSION_HEADER) => Anthropic,
        Negotiated => OpenAi,
        other => other,
    }
}

/// Whether a request is served without a credential (only declared public routes are).
pub fn is_public(req: &Request) -> bool {
    of(req).is_some_and(|r| r.public)
}

/// Whether a request is recorded in the audit trail (every request but declared probes).
pub fn is_recorded(req: &Request) -> bool {
    of(req).is_none_or(|r| r.recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_route_has_a_handler_and_appears_once() {
        for (i, r) in TABLE.iter().enumerate() {
            assert!(
                r.prefix || handler(r).is_some(),
                "{:?} {} has no handler",
                r.method,
                r.path
            );
            assert!(
                !TABLE[..i]
                    .iter()
                    .any(|o| o.path == r.path && o.method == r.method),
                "{} declared twice",
                r.path
            );
            // Only probes are public, and public routes are exactly the unrecorded ones.
            assert_eq!(r.public, !r.recorded, "{}", r.path);
        }
    }
}
