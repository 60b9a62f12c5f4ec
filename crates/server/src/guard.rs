//! Authorization and label flow for the handlers of every dialect, so that OpenAI, Bedrock and
//! admin routes enforce the same rules through the same code.

use axum::http::{HeaderMap, HeaderValue};
use scif_access::Caller;
use scif_authz::{Action, DecisionReason, Resource};
use scif_labels::Label;

use crate::audit::{note_decision, Slot};
use crate::auth::INPUT_LABEL_HEADER;
use crate::error::ApiError;
use crate::AppState;

/// The response header carrying the label of what the response contains.
pub const OUTPUT_LABEL_HEADER: &str = "x-scif-label";

/// Authorizes `action` on a served model and returns the model's label. A model the caller's
/// clearance does not dominate answers exactly like a model that does not exist (404), so its
/// existence is not revealed; a policy refusal is a 403.
pub fn model(
    state: &AppState,
    caller: &Caller,
    action: Action,
    model: &str,
    slot: Option<&Slot>,
) -> Result<Label, ApiError> {
    let Some(label) = state.model_label(model) else {
        if let Some(slot) = slot {
            slot.update(|e| {
                e.action = Some(action.as_str().to_owned());
                e.resource = Some(format!("model/{model}"));
                e.decision = Some("deny".into());
                e.reasons = vec!["not_found".into()];
            });
        }
        return Err(ApiError::ModelNotFound(model.to_owned()));
    };
    let mut resource = Resource::model(model, label.clone());
    resource.handling = state.model_handling(model);
    let d = state.access.authorize(caller, action, &resource);
    note_decision(slot, &d, Some(label.banner()));
    if let Some(slot) = slot {
        slot.update(|e| e.model = Some(model.to_owned()));
    }
    match d.reason {
        DecisionReason::Permitted => Ok(label),
        DecisionReason::Mandatory(_) => Err(ApiError::ModelNotFound(model.to_owned())),
        _ => Err(ApiError::Forbidden(d.denial_message())),
    }
}

/// Whether a model appears in a listing for `caller`.
pub fn model_visible(state: &AppState, caller: &Caller, model: &str) -> bool {
    self::model(state, caller, Action::ListModels, model, None).is_ok()
}

/// Authorizes an action on the deployment as a whole (metrics, for instance).
pub fn system(
    state: &AppState,
    caller: &Caller,
    action: Action,
    slot: Option<&Slot>,
) -> Result<(), ApiError> {
    let d = state.access.authorize(caller, action, &Resource::system());
    note_decision(slot, &d, None);
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(d.denial_message()))
    }
}

/// The labels of one model invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub input: Label,
    pub output: Label,
}

impl Flow {
    /// The `x-scif-label` value for the response.
    pub fn header(&self) -> (&'static str, HeaderValue) {
        let value = HeaderValue::from_str(&self.output.banner())
            .unwrap_or_else(|_| HeaderValue::from_static("UNREADABLE"));
        (OUTPUT_LABEL_HEADER, value)
    }
}

/// Information flow for a request to a model labelled `model_label`, served by endpoints that
/// `accredited` says may receive a given input label:
///
/// - the input's label is the one declared in `x-scif-input-label` (banner or portion form),
///   else the configured default, else the caller's clearance; the caller must be able to
///   hold it;
/// - the endpoint must be accredited for it (no write down into a lower system);
/// - the output's label is the join of the input's and the model's, and the caller must be
///   able to receive it.
pub fn flow(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    model_label: &Label,
    accredited: &dyn Fn(&Label) -> bool,
    slot: Option<&Slot>,
) -> Result<Flow, ApiError> {
    let refuse = |reason: &str, err: ApiError| {
        if let Some(slot) = slot {
            slot.update(|e| {
                e.decision = Some("deny".into());
                e.reasons = vec![reason.to_owned()];
            });
        }
        Err(err)
    };
    let declared = match headers.get(INPUT_LABEL_HEADER) {
        None => None,
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                ApiError::invalid(format!("{INPUT_LABEL_HEADER} is not valid text"), None)
            })?;
            let text = text.trim();
            let parsed = if text.starts_with('(') {
                Label::parse_portion(text)
            } else {
                Label::parse_banner(text)
            };
            Some(parsed.map_err(|e| {
                ApiError::invalid(
                    format!("{INPUT_LABEL_HEADER} is not a valid marking: {e}"),
                    None,
                )
            })?)
        }
    };
    let Ok(input) = state.access.input_label(caller, declared.as_ref()) else {
        return refuse(
            "input_label_above_clearance",
            ApiError::Forbidden(
                "The declared input label is not one you are cleared to hold.".into(),
            ),
        );
    };
    if !accredited(&input) {
        return refuse(
            "input_above_accreditation",
            ApiError::Forbidden(
                "The input's label is above what this model endpoint is accredited for.".into(),
            ),
        );
    }
    let output = input.join(model_label);
    if !state.access.may_receive(caller, &output) {
        return refuse(
            "output_above_clearance",
            ApiError::Forbidden(
                "The response would carry a label you are not cleared to receive.".into(),
            ),
        );
    }
    if let Some(slot) = slot {
        slot.update(|e| {
            e.output_label = Some(output.banner());
            e.detail.insert("input_label".into(), input.banner().into());
        });
    }
    Ok(Flow { input, output })
}
