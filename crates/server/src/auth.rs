//! Authentication on every request: nothing is trusted for where it comes from.
//!
//! The layer strips every header a client could use to pass itself off as someone else (a
//! proxy's identity headers, scif's own `x-scif-*` except the input label a caller declares and
//! the guardrails it asks for, which can only add restrictions),
//! then asks [`scif_access::Access::authenticate`] to verify what was presented: an
//! `Authorization: Bearer` API key or OIDC token, or the client certificate the TLS layer
//! verified. The verified [`Caller`] goes into the request's extensions for the handlers,
//! which authorize their own action on their own resource.
//!
//! Only `/healthz` and `/readyz` are open (orchestrators probe them without credentials; they
//! reveal nothing but up or down). A failure answers 401 with one message for every cause;
//! the log gets the reason code and the source address, never the credential.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scif_access::{Caller, ClientCert, Presented};
use scif_tls::PeerIdentity;

use crate::error::ApiError;
use crate::AppState;

/// An `x-scif-*` header a client may send: the label it declares for its input.
pub const INPUT_LABEL_HEADER: &str = "x-scif-input-label";

/// The other: guardrails to apply on top of those attached (they can only add checks).
pub const GUARDRAIL_HEADER: &str = "x-scif-guardrail";

/// Identity headers set by authenticating proxies elsewhere; scif authenticates every request
/// itself and never believes them.
const IMPERSONATION_HEADERS: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-forwarded-client-cert",
    "x-remote-user",
    "x-remote-group",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-amzn-oidc-identity",
    "x-amzn-oidc-data",
    "x-ssl-client-cert",
    "x-client-cert",
    "remote-user",
];

/// Removes every header that could claim an identity, a label or a decision.
pub fn strip_impersonation_headers(headers: &mut HeaderMap) {
    let doomed: Vec<header::HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            (n.starts_with("x-scif-") && n != INPUT_LABEL_HEADER && n != GUARDRAIL_HEADER)
                || IMPERSONATION_HEADERS.contains(&n)
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// The header Anthropic clients carry their API key in.
pub const API_KEY_HEADER: &str = "x-api-key";

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    strip_impersonation_headers(req.headers_mut());
    if crate::routes::is_public(&req) {
        return next.run(req).await;
    }
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let peer = req.extensions().get::<PeerIdentity>().cloned();
    // Two credentials of one kind in one request are ambiguous: which is the caller?
    if req.headers().get_all(header::AUTHORIZATION).iter().count() > 1
        || req.headers().get_all(API_KEY_HEADER).iter().count() > 1
    {
        tracing::info!(%source, reason = "ambiguous", "authentication failed");
        return ApiError::Unauthenticated.into_response();
    }
    let authorization = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => match v.to_str() {
            Ok(s) => Some(s.to_owned()),
            Err(_) => {
                tracing::info!(%source, reason = "malformed", "authentication failed");
                return ApiError::Unauthenticated.into_response();
            }
        },
    };
    // The Anthropic SDKs send the API key as `x-api-key`: the same key, verified the same way.
    // Two different credentials in one request are refused (which one would be the caller?).
    let authorization = match (authorization, req.headers().get(API_KEY_HEADER)) {
        (a, None) => a,
        (a, Some(v)) => match (a, v.to_str()) {
            (None, Ok(k)) => Some(format!("Bearer {}", k.trim())),
            (Some(a), Ok(k)) if a.strip_prefix("Bearer ").map(str::trim) == Some(k.trim()) => {
                Some(a)
            }
            _ => {
                tracing::info!(%source, reason = "malformed", "authentication failed");
                return ApiError::Unauthenticated.into_response();
            }
        },
    };
    // SigV4 signs the body, so for it the body is read here (within the configured limit)
    // and handed on unchanged.
    let sigv4 = authorization
        .as_deref()
        .is_some_and(scif_sigv4::looks_like_sigv4);
    let mut body_bytes = None;
    if sigv4 {
        let limit = state.config.server.max_body_bytes;
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, limit).await {
            Ok(b) => body_bytes = Some(b),
            Err(_) => return ApiError::PayloadTooLarge(limit).into_response(),
        }
        req = Request::from_parts(parts, axum::body::Body::empty());
    }
    let header_list: Vec<(&str, &[u8])> = if sigv4 {
        req.headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect()
    } else {
        Vec::new()
    };
    let signed = body_bytes.as_ref().map(|b| scif_sigv4::SignedRequest {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query().unwrap_or(""),
        headers: &header_list,
        body: b,
    });
    let presented = Presented {
        authorization: authorization.as_deref(),
        client_cert: peer.as_ref().map(|p| ClientCert {
            identity: &p.identity,
            subject: &p.subject,
            fingerprint: &p.fingerprint_sha256,
        }),
        sigv4: signed.as_ref(),
    };
    let outcome = state.access.authenticate(&presented).await;
    if let Some(b) = body_bytes {
        *req.body_mut() = axum::body::Body::from(b);
    }
    let slot = req.extensions().get::<crate::audit::Slot>().cloned();
    match outcome {
        Ok(caller) => {
            if let Some(slot) = &slot {
                slot.update(|e| {
                    e.principal = Some(caller.principal.id.clone());
                    e.auth_method = Some(caller.method.name().to_owned());
                    if let scif_access::AuthMethod::ApiKey { key_id } = &caller.method {
                        e.detail.insert("key_id".into(), key_id.clone().into());
                    }
                });
            }
            tracing::debug!(%source, principal = %caller.principal.id, method = caller.method.name(), "authenticated");
            req.extensions_mut().insert(Arc::new(caller));
            next.run(req).await
        }
        Err(e) if e.is_callers() => {
            let key_id = authorization
                .as_deref()
                .and_then(|a| a.split_once(' '))
                .and_then(|(_, t)| state.access.api_keys().key_id(t.trim()));
            tracing::info!(%source, reason = e.reason(), key_id = key_id.as_ref().map(|k| k.as_str()), client_cert = peer.as_ref().map(|p| p.subject.as_str()), "authentication failed");
            if let Some(slot) = &slot {
                slot.update(|entry| {
                    entry.action = Some("authenticate".into());
                    entry.decision = Some("deny".into());
                    entry.reasons = vec![e.reason().to_owned()];
                    if let Some(k) = &key_id {
                        entry.detail.insert("key_id".into(), k.as_str().into());
                    }
                    if let Some(p) = &peer {
                        entry
                            .detail
                            .insert("client_cert".into(), p.subject.clone().into());
                    }
                });
            }
            let mut resp = ApiError::Unauthenticated.into_response();
            if let scif_access::AuthFailure::SigV4(err) = &e {
                resp.extensions_mut()
                    .insert(crate::bedrock::errors::AwsError {
                        error_type: err.aws_error_type(),
                        message: err.public_message(),
                    });
            }
            resp
        }
        Err(e) => {
            // The store could not be read: refuse (fail closed), and say so in the log.
            tracing::error!(%source, error = %e, "authentication unavailable");
            ApiError::Unavailable("authentication is unavailable; try again later".into())
                .into_response()
        }
    }
}

/// The verified caller the layer above stored; handlers take it as an extractor.
pub type CallerExt = axum::Extension<Arc<Caller>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impersonation_headers_are_stripped_and_the_input_label_kept() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-scif-principal", "admin"),
            ("X-Scif-Clearance", "TOP SECRET"),
            ("x-scif-label", "UNCLASSIFIED"),
            ("x-forwarded-user", "admin"),
            ("x-forwarded-client-cert", "Hash=..."),
            ("x-scif-input-label", "SECRET"),
            ("x-scif-guardrail", "phi:1"),
            ("authorization", "Bearer x"),
            ("content-type", "application/json"),
        ] {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        strip_impersonation_headers(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(
            left,
            [
                "authorization",
                "content-type",
                "x-scif-guardrail",
                "x-scif-input-label"
            ]
        );
    }
}
