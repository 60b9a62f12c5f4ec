//! The request pipeline: every model invocation, from any dialect or job, runs these stages
//! in this order. Each stage is a module of its own; this function only sequences them.

use std::sync::{Arc, Mutex};

use scif_authz::Action;
use scif_guardrails::policy::Source;
use scif_provider::{ChatRequest, ChatStream};
use serde_json::Value;

use crate::account::{Base, Observed, Tracker};
use crate::call::{key_of, Call};
use crate::error::Error;
use crate::flow::Flow;
use crate::guardrails::{lock, Filtered, Report, SharedReport};
use crate::{admit, authorize, execute, flow, inspect, intent, Service};

/// A started invocation.
pub struct Invocation {
    /// The answer's events (filtered by the output guardrails, accounted for as they pass).
    pub events: ChatStream,
    pub flow: Flow,
    /// The deployment serving it ("local" for the embedded engine; empty when a guardrail
    /// blocked the prompt and no model ran).
    pub served_by: String,
    /// What the guardrails found and did; the output side is complete once `events` ends.
    pub guardrail: SharedReport,
}

/// An authorized model, the provider serving it, and the ceiling its endpoints sit under.
struct Target {
    model: authorize::Permitted<authorize::Model>,
    provider: std::sync::Arc<dyn scif_provider::Provider>,
    system_high: scif_labels::Label,
}

/// Stage 1 for an invocation: the decision to invoke `name`, and who serves it.
fn target(
    svc: &Service,
    caller: &scif_access::Caller,
    name: &str,
    slot: Option<&crate::record::Slot>,
) -> Result<Target, Error> {
    let model = authorize::model(svc, caller, Action::InvokeModel, name, slot)?;
    let provider = svc
        .providers
        .for_model(&model.resource().name)
        .ok_or_else(|| Error::ModelNotFound(model.resource().name.clone()))?;
    Ok(Target {
        model,
        provider,
        system_high: svc.config.system_high(),
    })
}

/// Runs a chat invocation through every stage.
pub async fn invoke(
    svc: &Service,
    call: Call<'_>,
    mut chat: ChatRequest,
) -> Result<Invocation, Error> {
    let Call {
        caller,
        slot,
        dialect,
        stream,
        guardrails,
        declared_input_label,
    } = call;

    // 1. authorize
    let Target {
        model,
        provider,
        system_high,
    } = target(svc, caller, &chat.model, slot)?;
    let name = model.resource().name.clone();
    let accredited =
        |input: &scif_labels::Label| system_high.dominates(input) && provider.accepts(&name, input);

    // 2. flow
    let flow = flow::flow(
        svc,
        caller,
        declared_input_label.as_ref(),
        &model,
        &accredited,
        slot,
    )?;

    // 3. admit
    let permit = admit::admit(svc, caller, &model, slot)?;

    // 4. inspect input: every channel, one document, against the attached and named
    //    guardrails and the spillage ceiling (the caller's clearance and the endpoints'
    //    accreditation).
    let policy = svc
        .guardrails
        .policy_for(&caller.principal, &name, guardrails, &|label| {
            crate::guardrails::readable_by(svc, caller, label)
        })
        .await?;
    let report: SharedReport = Arc::new(Mutex::new(Report {
        guardrails: policy.guardrails.clone(),
        ..Report::default()
    }));
    let clearance = caller.principal.clearance.clone();
    let input_ceiling = |l: &scif_labels::Label| clearance.dominates(l) && accredited(l);
    let inspection = inspect::input(&policy, &mut chat, Some(&input_ceiling));
    if !inspection.channels.is_empty() {
        if let Some(slot) = slot {
            let channels: Vec<Value> = inspection
                .channels
                .iter()
                .map(|c| Value::from(*c))
                .collect();
            slot.update(|e| {
                e.detail
                    .insert("inspected_channels".into(), Value::from(channels));
            });
        }
    }
    if let Some(message) = inspection.blocked {
        crate::guardrails::log_spillage(
            &caller.principal.id,
            &name,
            Source::Input,
            &inspection.detections,
        );
        {
            let mut r = lock(&report);
            r.input = inspection.detections;
            r.blocked = Some(Source::Input);
            crate::guardrails::record(slot, &r);
        }
        // The model never sees the prompt; the limit permit goes back unused.
        drop(permit);
        return Ok(Invocation {
            events: crate::guardrails::blocked_events(message),
            flow,
            served_by: String::new(),
            guardrail: report,
        });
    }
    {
        let mut r = lock(&report);
        r.input = inspection.detections;
        crate::guardrails::record(slot, &r);
    }
    chat.stream = stream;

    // 5. record intent: durable before any byte leaves.
    let intent = intent::record(svc, &model, slot, &chat).await?;

    // 8. (set up) account: from here on the invocation is accounted for however it ends.
    let mut tracker = Tracker::new(
        Base {
            principal: caller.principal.id.clone(),
            key_id: key_of(caller).map(str::to_owned),
            groups: caller.principal.groups.iter().cloned().collect(),
            model: name.clone(),
            dialect,
            stream,
        },
        svc.metrics.clone(),
        svc.meter.clone(),
        svc.auditor.clone(),
        slot.cloned(),
        permit,
    );

    // 6. execute
    let started = match execute::execute(&model, &intent, &flow, &provider, chat).await {
        Ok(s) => s,
        Err(e) => {
            tracker.failed(&e);
            return Err(e);
        }
    };
    tracker.served_by(&started.served_by);

    // 7. inspect output: the answer through the same policy, against the caller's clearance.
    let clearance = caller.principal.clearance.clone();
    let output_ceiling: scif_guardrails::stream::OwnedCeiling =
        Arc::new(move |l: &scif_labels::Label| clearance.dominates(l));
    let filtered: ChatStream = Box::pin(Filtered::new(
        started.events,
        policy,
        output_ceiling,
        stream,
        report.clone(),
        slot.cloned(),
    ));
    Ok(Invocation {
        events: Box::pin(Observed::new(filtered, tracker)),
        flow,
        served_by: started.served_by,
        guardrail: report,
    })
}

/// Counts the prompt tokens of a request without generating: authorized like an invocation
/// (the caller must be allowed to use the model, and to hold the declared input label), but
/// nothing leaves scif, so no intent is recorded and no limit is charged.
pub async fn count_tokens(
    svc: &Service,
    call: Call<'_>,
    chat: ChatRequest,
) -> Result<(usize, Flow), Error> {
    let Target {
        model,
        provider,
        system_high,
    } = target(svc, call.caller, &chat.model, call.slot)?;
    let name = model.resource().name.clone();
    let accredited =
        |input: &scif_labels::Label| system_high.dominates(input) && provider.accepts(&name, input);
    let flow = flow::flow(
        svc,
        call.caller,
        call.declared_input_label.as_ref(),
        &model,
        &accredited,
        call.slot,
    )?;
    let n = provider.count_tokens(&chat).await?;
    Ok((n, flow))
}
