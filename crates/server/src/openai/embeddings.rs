//! `POST /v1/embeddings`: OpenAI's embeddings shape over the one pipeline.
//!
//! `input` is a string or an array of strings (at most [`MAX_INPUTS`], none empty). Token
//! arrays are refused with a 400: ids made by another tokenizer (the openai package's callers
//! use tiktoken's) would give meaningless vectors from this model's vocabulary, and the
//! pipeline inspects text. `encoding_format` is `float` or `base64` (little-endian f32, which
//! the openai Python package asks for whenever its caller did not choose); `dimensions` must be
//! the model's own size.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::OpenAiJson;
use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::guard::FlowHeader as _;
use crate::AppState;

/// Most inputs in one request (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Value,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<Value>,
    /// Accepted and ignored: the authenticated principal is who asks.
    #[serde(default)]
    #[allow(dead_code)]
    pub user: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Float,
    Base64,
}

fn invalid_input(message: &str) -> ApiError {
    ApiError::invalid(message, Some("input"))
}

/// The texts of `input`, with OpenAI's rules.
fn inputs(v: &Value) -> Result<Vec<String>, ApiError> {
    let tokens = "token arrays are not accepted: send text (this model tokenizes with its own \
                  vocabulary, and ids from another tokenizer would give meaningless vectors)";
    let texts = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.is_empty() => {
            return Err(invalid_input("input must not be an empty array"))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    Value::Number(_) | Value::Array(_) => return Err(invalid_input(tokens)),
                    _ => return Err(invalid_input(&format!("input[{i}] must be a string"))),
                }
            }
            out
        }
        _ => {
            return Err(invalid_input(
                "input must be a string or an array of strings",
            ))
        }
    };
    if texts.len() > MAX_INPUTS {
        return Err(invalid_input(&format!(
            "input may hold at most {MAX_INPUTS} items, not {}",
            texts.len()
        )));
    }
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(invalid_input(&format!(
            "input[{i}] is an empty string; every input must have text"
        )));
    }
    Ok(texts)
}

fn dimensions(v: Option<&Value>) -> Result<Option<usize>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(d) if d >= 1 => Ok(Some(d as usize)),
            _ => Err(ApiError::invalid(
                "dimensions must be a positive integer",
                Some("dimensions"),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            "dimensions must be a positive integer",
            Some("dimensions"),
        )),
    }
}

fn format_of(v: Option<&str>) -> Result<Format, ApiError> {
    match v {
        None | Some("float") => Ok(Format::Float),
        Some("base64") => Ok(Format::Base64),
        Some(other) => Err(ApiError::invalid(
            format!("encoding_format {other:?} is not supported: use \"float\" or \"base64\""),
            Some("encoding_format"),
        )),
    }
}

/// A vector as base64 of its little-endian f32 values.
pub fn base64_f32(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub async fn embeddings(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    if req.model.is_empty() {
        return Err(ApiError::invalid(
            "you must provide a model parameter",
            Some("model"),
        ));
    }
    let texts = inputs(&req.input)?;
    let format = format_of(req.encoding_format.as_deref())?;
    let dims = dimensions(req.dimensions.as_ref())?;
    let guardrails = crate::guard::requested_guardrails(&headers)?;
    let call = scif_service::Call {
        caller: &caller,
        slot: slot.as_ref(),
        dialect: scif_service::Dialect::OpenAi,
        stream: false,
        guardrails: &guardrails,
        declared_input_label: crate::guard::declared_input_label(&headers)?,
    };
    let embed = scif_provider::EmbedRequest {
        model: req.model.clone(),
        inputs: texts,
        dimensions: dims,
        input_label: scif_labels::Label::unclassified(),
    };
    let done = scif_service::embed(&state, call, embed).await?;
    let data: Vec<Value> = done
        .embeddings
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = match format {
                Format::Float => json!(v),
                Format::Base64 => Value::from(base64_f32(v)),
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = done.embeddings.prompt_tokens;
    let mut body = json!({
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    {
        let r = crate::guardrails::lock(&done.guardrail);
        if !r.is_empty() {
            body["scif_guardrail"] = r.openai();
        }
    }
    let mut resp = Json(body).into_response();
    let (name, value) = done.flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_follow_openai_rules() {
        assert_eq!(inputs(&json!("a")).unwrap(), vec!["a"]);
        assert_eq!(inputs(&json!(["a", "b"])).unwrap(), vec!["a", "b"]);
        for bad in [
            json!([]),
            json!(""),
            json!(["a", ""]),
            json!([1, 2, 3]),
            json!([[1, 2], [3]]),
            json!({"text": "a"}),
            json!(["a", null]),
            json!(5),
        ] {
            let e = inputs(&bad).unwrap_err();
            assert!(format!("{e:?}").contains("input"), "{bad}: {e:?}");
        }
        let many: Vec<String> = (0..=MAX_INPUTS).map(|i| i.to_string()).collect();
        assert!(inputs(&json!(many)).is_err());
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let b = base64_f32(&[1.0, -2.0]);
        let raw = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
        assert_eq!(
            raw,
            [1.0f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
        );
    }

    #[test]
    fn formats_and_dimensions() {
        assert!(format_of(Some("float")).is_ok() && format_of(None).is_ok());
        assert!(format_of(Some("base64")).is_ok());
        assert!(format_of(Some("int8")).is_err());
        assert_eq!(dimensions(Some(&json!(384))).unwrap(), Some(384));
        assert_eq!(dimensions(None).unwrap(), None);
        for bad in [json!(0), json!(-1), json!("384"), json!(1.5)] {
            assert!(dimensions(Some(&bad)).is_err(), "{bad}");
        }
    }
}
