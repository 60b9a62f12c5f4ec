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

/// Stages 1 to 3 of an invocation, and the guardrail policy stage 4 applies.
struct Front {
    model: authorize::Permitted<authorize::Model>,
    provider: Arc<dyn scif_provider::Provider>,
    system_high: scif_labels::Label,
    name: String,
    flow: Flow,
    permit: Option<scif_limits::Permit>,
    policy: Arc<scif_guardrails::policy::Policy>,
    report: SharedReport,
}

impl Front {
    /// Whether the endpoints serving the model may receive input labelled `input`.
    fn accredited(&self, input: &scif_labels::Label) -> bool {
        self.system_high.dominates(input) && self.provider.accepts(&self.name, input)
    }
}

/// 1. authorize, 2. flow, 3. admit, and the guardrails that apply to this call.
async fn front(svc: &Service, call: &Call<'_>, model_name: &str) -> Result<Front, Error> {
    let (caller, slot) = (call.caller, call.slot);
    // 1. authorize
    let Target {
        model,
        provider,
        system_high,
    } = target(svc, caller, model_name, slot)?;
    let name = model.resource().name.clone();
    let accredited =
        |input: &scif_labels::Label| system_high.dominates(input) && provider.accepts(&name, input);

    // 2. flow
    let flow = flow::flow(
        svc,
        caller,
        call.declared_input_label.as_ref(),
        &model,
        &accredited,
        slot,
    )?;

    // 3. admit
    let permit = admit::admit(svc, caller, &model, slot)?;

    let policy = svc
        .guardrails
        .policy_for(&caller.principal, &name, call.guardrails, &|label| {
            crate::guardrails::readable_by(svc, caller, label)
        })
        .await?;
    let report: SharedReport = Arc::new(Mutex::new(Report {
        guardrails: policy.guardrails.clone(),
        ..Report::default()
    }));
    Ok(Front {
        model,
        provider,
        system_high,
        name,
        flow,
        permit,
        policy,
        report,
    })
}

/// Stage 4, inspect input: every channel, one document, against the attached and named guardrails
/// and the spillage ceiling (the caller's clearance and the endpoints' accreditation). Masks
/// are written into `chat`; a block returns the guardrail's message (and is on the report).
fn inspect_input(front: &Front, call: &Call<'_>, chat: &mut ChatRequest) -> Option<String> {
    let (caller, slot) = (call.caller, call.slot);
    let clearance = &caller.principal.clearance;
    let input_ceiling = |l: &scif_labels::Label| clearance.dominates(l) && front.accredited(l);
    let inspection = inspect::input(&front.policy, chat, Some(&input_ceiling));
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
    let mut r = lock(&front.report);
    if inspection.blocked.is_some() {
        crate::guardrails::log_spillage(
            &caller.principal.id,
            &front.name,
            Source::Input,
            &inspection.detections,
        );
        r.blocked = Some(Source::Input);
    }
    r.input = inspection.detections;
    crate::guardrails::record(slot, &r);
    inspection.blocked
}

/// The account stage's tracker for a call whose intent is on the trail.
fn tracker(
    svc: &Service,
    call: &Call<'_>,
    name: &str,
    permit: Option<scif_limits::Permit>,
) -> Tracker {
    let caller = call.caller;
    Tracker::new(
        Base {
            principal: caller.principal.id.clone(),
            key_id: key_of(caller).map(str::to_owned),
            groups: caller.principal.groups.iter().cloned().collect(),
            model: name.to_owned(),
            dialect: call.dialect,
            stream: call.stream,
        },
        svc.metrics.clone(),
        svc.meter.clone(),
        svc.auditor.clone(),
        call.slot.cloned(),
        permit,
    )
}

/// Runs a chat invocation through every stage.
pub async fn invoke(
    svc: &Service,
    call: Call<'_>,
    mut chat: ChatRequest,
) -> Result<Invocation, Error> {
    // 1 to 3: authorize, flow, admit.
    let mut front = front(svc, &call, &chat.model).await?;
    let (caller, slot, stream) = (call.caller, call.slot, call.stream);

    // 4. inspect input
    if let Some(message) = inspect_input(&front, &call, &mut chat) {
        // The model never sees the prompt; the limit permit goes back unused.
        drop(front.permit.take());
        return Ok(Invocation {
            events: crate::guardrails::blocked_events(message),
            flow: front.flow,
            served_by: String::new(),
            guardrail: front.report,
        });
    }
    let Front {
        model,
        provider,
        name,
        flow,
        permit,
        policy,
        report,
        ..
    } = front;
    chat.stream = stream;

    // 5. record intent: durable before any byte leaves.
    let intent = intent::record(svc, &model, slot, &chat).await?;

    // 8. (set up) account: from here on the invocation is accounted for however it ends.
    let mut tracker = tracker(svc, &call, &name, permit);

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

/// A finished embedding call.
pub struct Embedded {
    pub embeddings: scif_provider::Embeddings,
    pub flow: Flow,
    /// What the input guardrails found (embeddings have no output side).
    pub guardrail: SharedReport,
}

/// Runs an embedding call through the same stages as a chat: authorize, flow, admit, inspect
/// every input as one document (a block refuses the call with the guardrail's message, code
/// `content_filter`), record the intent, execute, account. There is no output inspection: the
/// answer is numbers, labelled with the flow's output label.
pub async fn embed(
    svc: &Service,
    call: Call<'_>,
    mut req: scif_provider::EmbedRequest,
) -> Result<Embedded, Error> {
    let mut front = front(svc, &call, &req.model).await?;
    // The inputs as one document, one channel per input, for inspection and the trail.
    let mut chat = ChatRequest {
        model: front.name.clone(),
        messages: req
            .inputs
            .iter()
            .map(|t| scif_provider::ChatMessage {
                role: "user".into(),
                content: t.clone(),
                ..Default::default()
            })
            .collect(),
        sampling: Default::default(),
        max_tokens: None,
        stop: Vec::new(),
        stream: false,
        input_label: front.flow.input.clone(),
        tools: Vec::new(),
        tool_choice: None,
    };
    if let Some(message) = inspect_input(&front, &call, &mut chat) {
        drop(front.permit.take());
        return Err(Error::InvalidRequest {
            message,
            param: Some("input".into()),
            code: Some("content_filter"),
        });
    }
    // Masks the guardrails applied are what gets embedded.
    req.inputs = chat.messages.iter().map(|m| m.content.clone()).collect();
    let intent = intent::record(svc, &front.model, call.slot, &chat).await?;
    let Front {
        model,
        provider,
        name,
        flow,
        permit,
        report,
        ..
    } = front;
    let mut tracker = tracker(svc, &call, &name, permit);
    match execute::embed(&model, &intent, &flow, &provider, req).await {
        Ok(embeddings) => {
            tracker.served_by(&embeddings.served_by);
            let dims = embeddings.vectors.first().map_or(0, Vec::len);
            tracker.done(
                scif_provider::Usage {
                    prompt_tokens: embeddings.prompt_tokens,
                    completion_tokens: 0,
                },
                &format!(
                    "[{} embeddings of {dims} dimensions]",
                    embeddings.vectors.len()
                ),
            );
            Ok(Embedded {
                embeddings,
                flow,
                guardrail: report,
            })
        }
        Err(e) => {
            tracker.failed(&e);
            Err(e)
        }
    }
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
