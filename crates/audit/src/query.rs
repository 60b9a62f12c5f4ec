//! Reading records back (`scif audit query`) and the OCSF mapping.

use std::fs;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::record::Record;
use crate::segment::list_segments;
use crate::time::parse_rfc3339_ms;
use crate::AuditError;

/// Record filter. Every `Some` field must match; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Event time >= this (RFC 3339).
    pub from_time: Option<String>,
    /// Event time < this (RFC 3339).
    pub to_time: Option<String>,
    /// Exact principal.
    pub principal: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Exact decision.
    pub decision: Option<String>,
    /// Matches `resource_label` or `output_label`.
    pub label: Option<String>,
    /// Exact request id.
    pub request_id: Option<String>,
    /// Only records with seq > this.
    pub after_seq: Option<u64>,
    /// At most this many records.
    pub limit: Option<usize>,
}

fn time_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (parse_rfc3339_ms(a), parse_rfc3339_ms(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

impl Filter {
    /// Whether `r` matches.
    pub fn matches(&self, r: &Record) -> bool {
        let e = &r.event;
        let eq = |f: &Option<String>, v: Option<&str>| f.as_deref().is_none_or(|f| Some(f) == v);
        if let Some(a) = self.after_seq {
            if r.seq <= a {
                return false;
            }
        }
        if let Some(t) = &self.from_time {
            if time_cmp(&e.time, t).is_lt() {
                return false;
            }
        }
        if let Some(t) = &self.to_time {
            if !time_cmp(&e.time, t).is_lt() {
                return false;
            }
        }
        if let Some(l) = &self.label {
            if e.resource_label.as_deref() != Some(l) && e.output_label.as_deref() != Some(l) {
                return false;
            }
        }
        eq(&self.principal, e.principal.as_deref())
            && eq(&self.action, Some(&e.action))
            && eq(&self.decision, Some(&e.decision))
            && eq(&self.request_id, e.request_id.as_deref())
    }
}

/// Reads matching records in seq order. This does not verify the chain (use
/// [`crate::verify`]); checkpoint lines are skipped and unparseable lines (e.g. a torn
/// tail) are skipped with a warning.
pub fn read(dir: &Path, filter: &Filter) -> Result<Vec<Record>, AuditError> {
    let segments = list_segments(dir)?;
    let mut out = Vec::new();
    let limit = filter.limit.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(out);
    }
    for (i, (_, path)) in segments.iter().enumerate() {
        if let (Some(after), Some((next_first, _))) = (filter.after_seq, segments.get(i + 1)) {
            if *next_first <= after + 1 {
                continue; // every record here is <= after_seq
            }
        }
        let data =
            fs::read(path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_slice(line) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "skipping unparseable audit line");
                    continue;
                }
            };
            if v.get("checkpoint").is_some() {
                continue;
            }
            let r: Record = match serde_json::from_value(v) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "skipping malformed audit record");
                    continue;
                }
            };
            if filter.matches(&r) {
                out.push(r);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// OCSF API Activity `activity_id` for an action: 1 Create, 2 Read, 3 Update, 4 Delete,
/// 99 Other.
pub fn ocsf_activity_id(action: &str) -> u64 {
    let a = action.to_ascii_lowercase();
    let has = |p: &[&str]| p.iter().any(|w| a.contains(w));
    if has(&["delete", "revoke", "remove", "purge"]) {
        4
    } else if has(&[
        "create", "invoke", "generate", "upload", "register", "issue",
    ]) {
        1
    } else if has(&["update", "manage", "rotate", "configure", "set_", "modify"]) {
        3
    } else if has(&[
        "read",
        "list",
        "get",
        "query",
        "show",
        "download",
        "authenticate",
    ]) {
        2
    } else {
        99
    }
}

fn activity_name(id: u64) -> &'static str {
    match id {
        1 => "Create",
        2 => "Read",
        3 => "Update",
        4 => "Delete",
        _ => "Other",
    }
}

/// Strips a port from `ip:port` / `[v6]:port`; returns the input if it is not of that form.
fn peer_ip(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => s,
    }
}

/// Maps a record to an OCSF 1.1.0 API Activity event (class_uid 6003).
pub fn ocsf(r: &Record) -> Value {
    let e = &r.event;
    let activity_id = ocsf_activity_id(&e.action);
    let (status, status_id) = match e.decision.as_str() {
        "allow" | "info" => ("Success", 1),
        "deny" | "error" => ("Failure", 2),
        _ => ("Unknown", 0),
    };
    let mut o = Map::new();
    o.insert("class_uid".into(), json!(6003));
    o.insert("class_name".into(), json!("API Activity"));
    o.insert("category_uid".into(), json!(6));
    o.insert("category_name".into(), json!("Application Activity"));
    o.insert("activity_id".into(), json!(activity_id));
    o.insert("activity_name".into(), json!(activity_name(activity_id)));
    o.insert("type_uid".into(), json!(600_300 + activity_id));
    o.insert(
        "severity_id".into(),
        json!(if status_id == 2 { 3 } else { 1 }),
    );
    o.insert("time".into(), json!(parse_rfc3339_ms(&e.time).unwrap_or(0)));
    o.insert("status".into(), json!(status));
    o.insert("status_id".into(), json!(status_id));
    if let Some(out) = &e.outcome {
        o.insert("status_code".into(), json!(out));
    }
    if !e.reasons.is_empty() {
        o.insert("status_detail".into(), json!(e.reasons.join(",")));
    }
    let mut metadata = json!({
        "product": {"name": "scif", "vendor_name": "scif"},
        "version": "1.1.0",
        "uid": r.hash,
        "sequence": r.seq,
        "log_name": "scif-audit",
        "logged_time": parse_rfc3339_ms(&e.time).unwrap_or(0),
    });
    if let (Some(rid), Value::Object(m)) = (&e.request_id, &mut metadata) {
        m.insert("correlation_uid".into(), json!(rid));
    }
    o.insert("metadata".into(), metadata);
    let mut api = json!({"operation": e.action});
    if let (Some(rid), Value::Object(m)) = (&e.request_id, &mut api) {
        m.insert("request".into(), json!({"uid": rid}));
    }
    o.insert("api".into(), api);
    if let Some(p) = &e.principal {
        o.insert("actor".into(), json!({"user": {"name": p}}));
    }
    if let Some(s) = &e.source {
        o.insert("src_endpoint".into(), json!({"ip": peer_ip(s)}));
    }
    if let Some(res) = &e.resource {
        let (kind, name) = res.split_once('/').unwrap_or(("", res.as_str()));
        let mut m = Map::new();
        m.insert("uid".into(), json!(res));
        m.insert("name".into(), json!(name));
        if !kind.is_empty() {
            m.insert("type".into(), json!(kind));
        }
        if let Some(l) = &e.resource_label {
            m.insert("labels".into(), json!([l]));
        }
        o.insert("resources".into(), json!([Value::Object(m)]));
    }
    if let Some(p) = &e.latency_ms {
        o.insert("duration".into(), json!(p));
    }
    let mut un = Map::new();
    un.insert("node".into(), json!(r.node));
    un.insert("prev_hash".into(), json!(r.prev_hash));
    un.insert("decision".into(), json!(e.decision));
    un.insert("reasons".into(), json!(e.reasons));
    let opt = |un: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            un.insert(k.into(), v);
        }
    };
    opt(
        &mut un,
        "auth_method",
        e.auth_method.as_ref().map(|v| json!(v)),
    );
    opt(&mut un, "source", e.source.as_ref().map(|v| json!(v)));
    opt(
        &mut un,
        "output_label",
        e.output_label.as_ref().map(|v| json!(v)),
    );
    opt(
        &mut un,
        "resource_label",
        e.resource_label.as_ref().map(|v| json!(v)),
    );
    opt(&mut un, "model", e.model.as_ref().map(|v| json!(v)));
    opt(&mut un, "prompt_tokens", e.prompt_tokens.map(|v| json!(v)));
    opt(
        &mut un,
        "completion_tokens",
        e.completion_tokens.map(|v| json!(v)),
    );
    opt(&mut un, "latency_ms", e.latency_ms.map(|v| json!(v)));
    opt(&mut un, "outcome", e.outcome.as_ref().map(|v| json!(v)));
    if !e.detail.is_empty() {
        un.insert("detail".into(), Value::Object(e.detail.clone()));
    }
    o.insert("unmapped".into(), Value::Object(un));
    Value::Object(o)
}

/// The hash of record `seq` as the trail in `dir` holds it now, recomputed from the record's
/// content: `None` when there is no such record or its content does not match its hash. Seq 0
/// is the empty trail (the genesis hash). For checking a trail against its anchor.
pub fn record_hash(dir: &Path, seq: u64) -> Result<Option<String>, AuditError> {
    if seq == 0 {
        return Ok(Some(crate::GENESIS_HASH.to_owned()));
    }
    let found = read(
        dir,
        &Filter {
            after_seq: Some(seq - 1),
            limit: Some(1),
            ..Filter::default()
        },
    )?;
    Ok(match found.first() {
        Some(r) if r.seq == seq => crate::compute_hash(r.seq, &r.node, &r.prev_hash, &r.event)
            .ok()
            .filter(|h| *h == r.hash),
        _ => None,
    })
}
