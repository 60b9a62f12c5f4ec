//! The HTTP side of authorization and label flow: the headers that carry labels, and thin
//! wrappers over the service's authorize stage for handlers that are not invocations
//! (listings, reads of a model, metrics).

use axum::http::{HeaderMap, HeaderValue};
use scif_access::Caller;
use scif_authz::Action;
use scif_labels::Label;

pub use scif_service::flow::Flow;

use crate::audit::Slot;
use crate::auth::INPUT_LABEL_HEADER;
use crate::error::ApiError;
use crate::AppState;

/// The response header carrying the label of what the response contains.
pub const OUTPUT_LABEL_HEADER: &str = "x-scif-label";

/// The `x-scif-label` header of a flow.
pub trait FlowHeader {
    fn header(&self) -> (&'static str, HeaderValue);
}

impl FlowHeader for Flow {
    fn header(&self) -> (&'static str, HeaderValue) {
        let value = HeaderValue::from_str(&self.output.banner())
            .unwrap_or_else(|_| HeaderValue::from_static("UNREADABLE"));
        (OUTPUT_LABEL_HEADER, value)
    }
}

/// The input label a request declares in `x-scif-input-label` (banner or portion form).
pub fn declared_input_label(headers: &HeaderMap) -> Result<Option<Label>, ApiError> {
    let Some(v) = headers.get(INPUT_LABEL_HEADER) else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .map_err(|_| ApiError::invalid(format!("{INPUT_LABEL_HEADER} is not valid text"), None))?;
    scif_service::flow::parse_declared(text)
        .map(Some)
        .map_err(|e| {
            ApiError::invalid(
                format!("{INPUT_LABEL_HEADER} is not a valid marking: {e}"),
                None,
            )
        })
}

/// The guardrails a request names in `x-scif-guardrail` (`id[:version]`, comma-separated).
pub fn requested_guardrails(
    headers: &HeaderMap,
) -> Result<Vec<crate::guardrails::Requested>, ApiError> {
    use crate::auth::GUARDRAIL_HEADER;
    match headers.get(GUARDRAIL_HEADER) {
        None => Ok(Vec::new()),
        Some(v) => v
            .to_str()
            .map_err(|_| "not text".to_owned())
            .and_then(crate::guardrails::Requested::parse_header)
            .map_err(|m| ApiError::invalid(format!("{GUARDRAIL_HEADER}: {m}"), None)),
    }
}

/// Notes a model listing in the request's audit record (how many models it returned).
pub fn note_listing(slot: Option<&Slot>, returned: usize) {
    if let Some(slot) = slot {
        slot.update(|e| {
            e.action = Some(Action::ListModels.as_str().into());
            e.resource = Some("model/*".into());
            e.decision = Some("allow".into());
            e.detail.insert("returned".into(), returned.into());
        });
    }
}

/// Authorizes `action` on a served model and returns the model's label (404 for a model
/// the caller may not see, as for a missing one).
pub fn model(
    state: &AppState,
    caller: &Caller,
    action: Action,
    model: &str,
    slot: Option<&Slot>,
) -> Result<Label, ApiError> {
    Ok(
        scif_service::authorize::model(state, caller, action, model, slot)?
            .resource()
            .label
            .clone(),
    )
}

/// Whether a model appears in a listing for `caller`.
pub fn model_visible(state: &AppState, caller: &Caller, model: &str) -> bool {
    scif_service::authorize::model_visible(state, caller, model)
}

/// Authorizes an action on the deployment as a whole (metrics, for instance).
pub fn system(
    state: &AppState,
    caller: &Caller,
    action: Action,
    slot: Option<&Slot>,
) -> Result<(), ApiError> {
    scif_service::authorize::system(state, caller, action, slot)?;
    Ok(())
}
