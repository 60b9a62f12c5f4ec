//! Bedrock's retrieval filter grammar (`RetrievalFilter`) over a chunk's metadata attributes.
//! A filter only ever narrows what the label predicate already admits: the two are ANDed in
//! the scan, and no attribute (not even `classification`) can widen access.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A metadata attribute value (Bedrock's `MetadataAttributeValue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Attr {
    String(String),
    Number(f64),
    Boolean(bool),
    StringList(Vec<String>),
}

impl Attr {
    /// As Bedrock returns it in a result's `metadata`.
    pub fn to_json(&self) -> Value {
        match self {
            Attr::String(s) => Value::from(s.clone()),
            Attr::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Attr::Boolean(b) => Value::from(*b),
            Attr::StringList(l) => Value::from(l.clone()),
        }
    }
}

pub type Attrs = BTreeMap<String, Attr>;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
    In,
    NotIn,
    StartsWith,
    ListContains,
    StringContains,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare { op: Op, key: String, value: Value },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

const OPS: &[(&str, Op)] = &[
    ("equals", Op::Equals),
    ("notEquals", Op::NotEquals),
    ("greaterThan", Op::GreaterThan),
    ("greaterThanOrEquals", Op::GreaterThanOrEquals),
    ("lessThan", Op::LessThan),
    ("lessThanOrEquals", Op::LessThanOrEquals),
    ("in", Op::In),
    ("notIn", Op::NotIn),
    ("startsWith", Op::StartsWith),
    ("listContains", Op::ListContains),
    ("stringContains", Op::StringContains),
];

/// Deepest nesting of `andAll`/`orAll` accepted.
const MAX_DEPTH: usize = 8;

impl Filter {
    /// Parses a `RetrievalFilter` object; the error names the path of the bad member.
    pub fn parse(v: &Value) -> Result<Filter, String> {
        parse_at(v, "filter", 0)
    }

    pub fn matches(&self, attrs: &Attrs) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.matches(attrs)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(attrs)),
            Filter::Compare { op, key, value } => compare(*op, attrs.get(key), value),
        }
    }
}

fn parse_at(v: &Value, at: &str, depth: usize) -> Result<Filter, String> {
    let Some(o) = v.as_object() else {
        return Err(format!("{at} must be an object"));
    };
    if o.len() != 1 {
        return Err(format!(
            "{at} must have exactly one member, found {}",
            o.len()
        ));
    }
    let Some((k, inner)) = o.iter().next() else {
        return Err(format!("{at} is empty"));
    };
    if k == "andAll" || k == "orAll" {
        if depth >= MAX_DEPTH {
            return Err(format!("{at}.{k} nests too deeply (at most {MAX_DEPTH})"));
        }
        let Some(list) = inner.as_array().filter(|l| l.len() >= 2) else {
            return Err(format!("{at}.{k} must be a list of at least 2 filters"));
        };
        let parts = list
            .iter()
            .enumerate()
            .map(|(i, f)| parse_at(f, &format!("{at}.{k}[{i}]"), depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if k == "andAll" {
            Filter::And(parts)
        } else {
            Filter::Or(parts)
        });
    }
    let Some(&(_, op)) = OPS.iter().find(|(n, _)| n == k) else {
        return Err(format!("{at}.{k} is not a filter operator"));
    };
    let key = inner
        .get("key")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{at}.{k}.key must be a non-empty string"))?;
    let value = inner
        .get("value")
        .cloned()
        .ok_or_else(|| format!("{at}.{k}.value is required"))?;
    let ok = match op {
        Op::GreaterThan | Op::GreaterThanOrEquals | Op::LessThan | Op::LessThanOrEquals => {
            value.is_number()
        }
        Op::In | Op::NotIn => value.is_array(),
        Op::StartsWith | Op::StringContains | Op::ListContains => {
            value.is_string() || value.is_number()
        }
        Op::Equals | Op::NotEquals => !value.is_object() && !value.is_null(),
    };
    if !ok {
        return Err(format!("{at}.{k}.value has the wrong type for {k}"));
    }
    Ok(Filter::Compare {
        op,
        key: key.to_owned(),
        value,
    })
}

fn eq(a: &Attr, v: &Value) -> bool {
    match (a, v) {
        (Attr::String(s), Value::String(t)) => s == t,
        (Attr::Number(n), Value::Number(m)) => m.as_f64().is_some_and(|m| *n == m),
        (Attr::Boolean(b), Value::Bool(c)) => b == c,
        (Attr::StringList(l), Value::Array(items)) => {
            l.len() == items.len() && l.iter().zip(items).all(|(s, i)| i.as_str() == Some(s))
        }
        _ => false,
    }
}

fn compare(op: Op, attr: Option<&Attr>, v: &Value) -> bool {
    match op {
        Op::NotEquals => !attr.is_some_and(|a| eq(a, v)),
        Op::NotIn => {
            !attr.is_some_and(|a| v.as_array().is_some_and(|l| l.iter().any(|x| eq(a, x))))
        }
        _ => {
            let Some(a) = attr else { return false };
            match op {
                Op::Equals => eq(a, v),
                Op::In => v.as_array().is_some_and(|l| l.iter().any(|x| eq(a, x))),
                Op::GreaterThan | Op::GreaterThanOrEquals | Op::LessThan | Op::LessThanOrEquals => {
                    let (Attr::Number(n), Some(m)) = (a, v.as_f64()) else {
                        return false;
                    };
                    match op {
                        Op::GreaterThan => *n > m,
                        Op::GreaterThanOrEquals => *n >= m,
                        Op::LessThan => *n < m,
                        _ => *n <= m,
                    }
                }
                Op::StartsWith => match (a, v.as_str()) {
                    (Attr::String(s), Some(p)) => s.starts_with(p),
                    _ => false,
                },
                Op::StringContains => match (a, v.as_str()) {
                    (Attr::String(s), Some(p)) => s.contains(p),
                    (Attr::StringList(l), Some(p)) => l.iter().any(|s| s.contains(p)),
                    _ => false,
                },
                Op::ListContains => match a {
                    Attr::StringList(l) => l.iter().any(|s| Some(s.as_str()) == v.as_str()),
                    _ => false,
                },
                Op::NotEquals | Op::NotIn => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs() -> Attrs {
        let mut a = Attrs::new();
        a.insert("year".into(), Attr::Number(2024.0));
        a.insert("team".into(), Attr::String("alpha-ops".into()));
        a.insert(
            "tags".into(),
            Attr::StringList(vec!["fuel".into(), "logistics".into()]),
        );
        a
    }

    #[test]
    fn grammar() {
        let a = attrs();
        let t = |v: Value| Filter::parse(&v).map(|f| f.matches(&a));
        assert_eq!(
            t(json!({"equals": {"key": "year", "value": 2024}})),
            Ok(true)
        );
        assert_eq!(
            t(json!({"greaterThan": {"key": "year", "value": 2024}})),
            Ok(false)
        );
        assert_eq!(
            t(json!({"lessThanOrEquals": {"key": "year", "value": 2024}})),
            Ok(true)
        );
        assert_eq!(
            t(json!({"in": {"key": "team", "value": ["x", "alpha-ops"]}})),
            Ok(true)
        );
        assert_eq!(
            t(json!({"notIn": {"key": "team", "value": ["alpha-ops"]}})),
            Ok(false)
        );
        assert_eq!(
            t(json!({"notEquals": {"key": "missing", "value": "x"}})),
            Ok(true)
        );
        assert_eq!(
            t(json!({"startsWith": {"key": "team", "value": "alpha"}})),
            Ok(true)
        );
        assert_eq!(
            t(json!({"listContains": {"key": "tags", "value": "fuel"}})),
            Ok(true)
        );
        assert_eq!(
            t(json!({"stringContains": {"key": "tags", "value": "gist"}})),
            Ok(true)
        );
        assert_eq!(
            t(
                json!({"andAll": [{"equals": {"key": "year", "value": 2024}}, {"orAll": [{"equals": {"key": "team", "value": "b"}}, {"startsWith": {"key": "team", "value": "al"}}]}]})
            ),
            Ok(true)
        );
        assert!(t(json!({"andAll": [{"equals": {"key": "year", "value": 1}}]})).is_err());
        assert!(t(json!({"bogus": {"key": "year", "value": 1}})).is_err());
        assert!(t(json!({"greaterThan": {"key": "year", "value": "x"}})).is_err());
        assert!(t(json!({"equals": {"key": "year", "value": 1}, "in": {}})).is_err());
    }
}
