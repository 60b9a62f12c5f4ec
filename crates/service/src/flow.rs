//! Stage 2, *flow*: the labels of one invocation. The input's label is the one the caller
//! declared (banner or portion form), else the configured default, else the caller's
//! clearance, and the caller must be able to hold it; every endpoint that will see the
//! content must be accredited for it (no write down); the output's label is the join of the
//! input's and the model's, and the caller must be able to receive it.
//!
//! [`Flow::raise`] reruns the check when a later stage adds content (retrieved passages and
//! tool results carry labels of their own): the label only rises, and a rise past what the
//! endpoints are accredited for or the caller may receive is refused.

use scif_access::Caller;
use scif_labels::Label;

use crate::authorize::{Model, Permitted};
use crate::error::Error;
use crate::record::Slot;
use crate::Service;

/// The labels of one model invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub input: Label,
    pub output: Label,
}

/// Parses a declared label: the portion form when it starts with `(`, else a banner.
pub fn parse_declared(text: &str) -> Result<Label, scif_labels::MarkingError> {
    let text = text.trim();
    if text.starts_with('(') {
        Label::parse_portion(text)
    } else {
        Label::parse_banner(text)
    }
}

fn refuse(slot: Option<&Slot>, reason: &str, err: Error) -> Error {
    if let Some(slot) = slot {
        slot.update(|e| {
            e.decision = Some("deny".into());
            e.reasons = vec![reason.to_owned()];
        });
    }
    err
}

/// The flow of a request to an authorized model, served by endpoints that `accredited` says
/// may receive a given input label.
pub fn flow(
    svc: &Service,
    caller: &Caller,
    declared: Option<&Label>,
    model: &Permitted<Model>,
    accredited: &dyn Fn(&Label) -> bool,
    slot: Option<&Slot>,
) -> Result<Flow, Error> {
    let Ok(input) = svc.access.input_label(caller, declared) else {
        return Err(refuse(
            slot,
            "input_label_above_clearance",
            Error::Forbidden("The declared input label is not one you are cleared to hold.".into()),
        ));
    };
    let flow = Flow {
        output: input.clone(),
        input: Label::unclassified(),
    };
    flow.raise(
        svc,
        caller,
        &input,
        &model.resource().label,
        accredited,
        slot,
    )
}

impl Flow {
    /// The flow once content labelled `added` joins the input: the input rises to the join,
    /// the endpoints must be accredited for it, and the output (input joined with the
    /// model's label) must be one the caller may receive.
    pub fn raise(
        &self,
        svc: &Service,
        caller: &Caller,
        added: &Label,
        model_label: &Label,
        accredited: &dyn Fn(&Label) -> bool,
        slot: Option<&Slot>,
    ) -> Result<Flow, Error> {
        let input = self.input.join(added);
        if !accredited(&input) {
            return Err(refuse(
                slot,
                "input_above_accreditation",
                Error::Forbidden(
                    "The input's label is above what this model endpoint is accredited for.".into(),
                ),
            ));
        }
        let output = input.join(model_label);
        if !svc.access.may_receive(caller, &output) {
            return Err(refuse(
                slot,
                "output_above_clearance",
                Error::Forbidden(
                    "The response would carry a label you are not cleared to receive.".into(),
                ),
            ));
        }
        if let Some(slot) = slot {
            slot.update(|e| {
                e.output_label = Some(output.banner());
                e.detail.insert("input_label".into(), input.banner().into());
            });
        }
        Ok(Flow { input, output })
    }
}
