//! Stage 6, *execute*: the provider. It takes the authorization proof and the recorded
//! intent, so it cannot run before either.

use std::sync::Arc;

use scif_provider::{ChatRequest, Provider, Started};

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
