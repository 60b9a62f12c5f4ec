//! Stage 6, *execute*: the provider. It takes the authorization proof and the recorded
//! intent, so it cannot run before either.

use std::sync::Arc;

use scif_provider::{ChatRequest, EmbedRequest, Embeddings, Provider, Started};

use crate::authorize::{Model, Permitted};
use crate::error::Error;
use crate::flow::Flow;
use crate::intent::Intent;

/// Sends the (inspected) request to the provider serving the model, labelled with the flow's
/// input label so that it reaches only endpoints accredited for it.
pub async fn execute(
    model: &Permitted<Model>,
    _intent: &Intent,
    flow: &Flow,
    provider: &Arc<dyn Provider>,
    mut chat: ChatRequest,
) -> Result<Started, Error> {
    chat.model = model.resource().name.clone();
    chat.input_label = flow.input.clone();
    provider.chat(chat).await.map_err(Error::from)
}

/// Sends (inspected) embedding inputs to the provider serving the model, labelled like a chat.
pub async fn embed(
    model: &Permitted<Model>,
    _intent: &Intent,
    flow: &Flow,
    provider: &Arc<dyn Provider>,
    mut req: EmbedRequest,
) -> Result<Embeddings, Error> {
    req.model = model.resource().name.clone();
    req.input_label = flow.input.clone();
    provider.embed(req).await.map_err(|e| match Error::from(e) {
        // The parameter that was too long is the input, not chat messages.
        Error::InvalidRequest {
            message,
            code: code @ Some("context_length_exceeded"),
            ..
        } => Error::InvalidRequest {
            message,
            param: Some("input".into()),
            code,
        },
        other => other,
    })
}
