//! Mapping a verified token's claims to a principal's attributes, by configuration.
//!
//! Each attribute names the claim it comes from and whether that claim is required. A name
//! that starts with `/` is a JSON pointer into the claims (`/realm_access/roles`); any other
//! name is a top-level claim taken literally, so namespaced claims such as
//! `https://example.mil/clearance` work without escaping.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::error::{AuthnError, ConfigError};

/// Where one attribute comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimSource {
    /// The claim's name, or a JSON pointer when it starts with `/`.
    pub claim: String,
    /// Whether a token without the claim is refused.
    pub required: bool,
}

impl ClaimSource {
    /// A claim the token must carry.
    pub fn required(claim: impl Into<String>) -> Self {
        Self {
            claim: claim.into(),
            required: true,
        }
    }

    /// A claim the token may carry.
    pub fn optional(claim: impl Into<String>) -> Self {
        Self {
            claim: claim.into(),
            required: false,
        }
    }
}

/// Which claims carry which attributes. An attribute with no source is left empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsMapping {
    /// The principal's id; always required (usually `sub`).
    pub subject_claim: String,
    /// The clearance as a marking string (e.g. `TOP SECRET//SI/TK`).
    pub clearance_claim: Option<ClaimSource>,
    /// The nationality (a country code such as `USA`).
    pub nationality_claim: Option<ClaimSource>,
    /// US-person status: a boolean, or the string `true` or `false`.
    pub us_person_claim: Option<ClaimSource>,
    /// Groups: an array of strings, or one string.
    pub groups_claim: Option<ClaimSource>,
    /// Accesses such as `PHI`: an array of strings, or one string.
    pub accesses_claim: Option<ClaimSource>,
}

impl Default for ClaimsMapping {
    /// `sub` for the subject and nothing else.
    fn default() -> Self {
        Self {
            subject_claim: "sub".to_owned(),
            clearance_claim: None,
            nationality_claim: None,
            us_person_claim: None,
            groups_claim: None,
            accesses_claim: None,
        }
    }
}

/// The attributes a verified token carries, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// The principal's id from the subject claim.
    pub subject: String,
    /// The token's issuer (already checked against the configuration).
    pub issuer: String,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: i64,
    /// The raw clearance marking; the caller parses it with `scif-labels`.
    pub clearance: Option<String>,
    /// The nationality as the token states it.
    pub nationality: Option<String>,
    /// US-person status.
    pub us_person: Option<bool>,
    /// Group names.
    pub groups: BTreeSet<String>,
    /// Accesses such as `PHI`.
    pub accesses: BTreeSet<String>,
}

impl ClaimsMapping {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let empty =
            |source: &Option<ClaimSource>| source.as_ref().is_some_and(|s| s.claim.is_empty());
        if self.subject_claim.is_empty() {
            return Err(ConfigError::Empty("subject_claim"));
        }
        for (name, source) in [
            ("clearance_claim", &self.clearance_claim),
            ("nationality_claim", &self.nationality_claim),
            ("us_person_claim", &self.us_person_claim),
            ("groups_claim", &self.groups_claim),
            ("accesses_claim", &self.accesses_claim),
        ] {
            if empty(source) {
                return Err(ConfigError::Empty(name));
            }
        }
        Ok(())
    }

    /// The attributes of a token whose signature, issuer, audience and lifetime were checked.
    pub(crate) fn apply(
        &self,
        claims: &Map<String, Value>,
        issuer: String,
        expires_at: i64,
    ) -> Result<VerifiedClaims, AuthnError> {
        let subject = match lookup(claims, &self.subject_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => return Err(AuthnError::InvalidClaim(self.subject_claim.clone())),
            None => return Err(AuthnError::MissingClaim(self.subject_claim.clone())),
        };
        Ok(VerifiedClaims {
            subject,
            issuer,
            expires_at,
            clearance: optional(claims, &self.clearance_claim, string)?,
            nationality: optional(claims, &self.nationality_claim, string)?,
            us_person: optional(claims, &self.us_person_claim, boolean)?,
            groups: optional(claims, &self.groups_claim, strings)?.unwrap_or_default(),
            accesses: optional(claims, &self.accesses_claim, strings)?.unwrap_or_default(),
        })
    }
}

fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let value = match name.strip_prefix('/') {
        Some(pointer) => {
            let (first, rest) = match pointer.split_once('/') {
                Some((first, rest)) => (first, Some(rest)),
                None => (pointer, None),
            };
            let top = claims.get(&unescape_pointer(first))?;
            match rest {
                Some(rest) => top.pointer(&format!("/{rest}"))?,
                None => top,
            }
        }
        None => claims.get(name)?,
    };
    // A JSON null is the same as an absent claim.
    (!value.is_null()).then_some(value)
}

fn unescape_pointer(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn optional<T>(
    claims: &Map<String, Value>,
    source: &Option<ClaimSource>,
    convert: fn(&Value) -> Option<T>,
) -> Result<Option<T>, AuthnError> {
    let Some(source) = source else {
        return Ok(None);
    };
    match lookup(claims, &source.claim) {
        Some(value) => convert(value)
            .map(Some)
            .ok_or_else(|| AuthnError::InvalidClaim(source.claim.clone())),
        None if source.required => Err(AuthnError::MissingClaim(source.claim.clone())),
        None => Ok(None),
    }
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn strings(value: &Value) -> Option<BTreeSet<String>> {
    match value {
        Value::String(s) => Some(BTreeSet::from([s.clone()])),
        Value::Array(items) => items.iter().map(string).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn pointers_and_literal_names_both_resolve() {
        let c = claims(json!({
            "realm_access": {"roles": ["analyst"]},
            "https://example.mil/clearance": "SECRET",
            "a/b": {"c": 1},
        }));
        assert_eq!(lookup(&c, "/realm_access/roles"), Some(&json!(["analyst"])));
        assert_eq!(
            lookup(&c, "https://example.mil/clearance"),
            Some(&json!("SECRET"))
        );
        assert_eq!(lookup(&c, "/a~1b/c"), Some(&json!(1)));
        assert_eq!(lookup(&c, "/realm_access/missing"), None);
    }

    #[test]
    fn values_convert_or_are_refused() {
        assert_eq!(boolean(&json!("true")), Some(true));
        assert_eq!(boolean(&json!(1)), None);
        assert_eq!(
            strings(&json!("PHI")),
            Some(BTreeSet::from(["PHI".to_owned()]))
        );
        assert_eq!(strings(&json!(["a", 1])), None);
    }
}
