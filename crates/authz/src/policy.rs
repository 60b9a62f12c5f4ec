//! Layer 2: the Cedar schema, the default policy set, and loading policies.

use std::fmt::Write as _;
use std::str::FromStr;

use cedar_policy::{PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;

use crate::AuthzError;

/// The Cedar schema every policy is validated against (strict mode).
///
/// - `Scif::Principal` (in `Scif::Group`): `kind` (`"person"` or `"service"`),
///   `clearance_level` (0 UNCLASSIFIED, 1 CONFIDENTIAL, 2 SECRET, 3 TOP SECRET),
///   `nationality` (ISO trigraph), `us_person`, `groups` and `accesses` (sets of strings).
///   A principal is `in` the `Scif::Group` of each of its groups.
/// - Resources, one entity type per [`crate::ResourceKind`]: `Scif::Model`, `Scif::Key`,
///   `Scif::Account` (a principal's record), `Scif::Policy`, `Scif::AuditTrail`, `Scif::System`.
///   Each has `level` (the classification level of its label, 0 to 3), `itar` and `phi`.
/// - Actions `Scif::Action::"invoke_model"`, `"list_models"`, `"read_model"`,
///   `"manage_models"` (on models), `"manage_keys"` (keys), `"manage_principals"` (accounts),
///   `"manage_policies"` (policies), `"read_audit"` (the audit trail); each also applies to
///   `Scif::System`. `"read_metrics"` (operational telemetry) applies to `Scif::System` only.
///   `"retrieve"` and `"manage_knowledge_bases"` apply to `Scif::KnowledgeBase` (and the system).
///   The context is empty.
pub const SCHEMA: &str = r#"
namespace Scif {
  entity Group;
  entity Principal in [Group] = {
    kind: String,
    clearance_level: Long,
    nationality: String,
    us_person: Bool,
    groups: Set<String>,
    accesses: Set<String>,
  };
  entity Model = { level: Long, itar: Bool, phi: Bool };
  entity Key = { level: Long, itar: Bool, phi: Bool };
  entity Account = { level: Long, itar: Bool, phi: Bool };
  entity Policy = { level: Long, itar: Bool, phi: Bool };
  entity AuditTrail = { level: Long, itar: Bool, phi: Bool };
  entity KnowledgeBase = { level: Long, itar: Bool, phi: Bool };
  entity System = { level: Long, itar: Bool, phi: Bool };

  action "invoke_model", "list_models", "read_model", "manage_models"
    appliesTo { principal: [Principal], resource: [Model, System] };
  action "manage_keys" appliesTo { principal: [Principal], resource: [Key, System] };
  action "manage_principals" appliesTo { principal: [Principal], resource: [Account, System] };
  action "manage_policies" appliesTo { principal: [Principal], resource: [Policy, System] };
  action "read_audit" appliesTo { principal: [Principal], resource: [AuditTrail, System] };
  action "read_metrics" appliesTo { principal: [Principal], resource: [System] };
  action "retrieve", "manage_knowledge_bases"
    appliesTo { principal: [Principal], resource: [KnowledgeBase, System] };
}
"#;

/// The policies a fresh install uses.
///
/// - `admins-all`: members of the `admins` group may do everything.
/// - `models-use`: any principal may list, read and invoke models.
/// - `auditors-read-audit`: members of the `auditors` group may read the audit trail.
/// - `knowledge-retrieve`: any principal may search knowledge bases (each result still passes
///   the label predicate; a knowledge base's record is seen only by those who may know it).
/// - `librarians-manage-knowledge`: members of `librarians` may create knowledge bases and
///   ingest documents (each at most their clearance and the knowledge base's ceiling).
///
/// The mandatory rules still apply to all of them: an administrator cannot see a model above
/// their clearance, and `models-use` grants only the models each principal's clearance,
/// nationality and accesses allow.
pub const DEFAULT_POLICIES: &str = r#"
@id("admins-all")
permit (principal in Scif::Group::"admins", action, resource);

@id("models-use")
permit (
  principal,
  action in [Scif::Action::"list_models", Scif::Action::"read_model", Scif::Action::"invoke_model"],
  resource
);

@id("auditors-read-audit")
permit (principal in Scif::Group::"auditors", action == Scif::Action::"read_audit", resource);

@id("operators-read-metrics")
permit (principal in Scif::Group::"operators", action == Scif::Action::"read_metrics", resource);

@id("knowledge-retrieve")
permit (principal, action == Scif::Action::"retrieve", resource);

@id("librarians-manage-knowledge")
permit (principal in Scif::Group::"librarians", action == Scif::Action::"manage_knowledge_bases", resource);
"#;

/// Parses the schema.
pub(crate) fn schema() -> Result<Schema, AuthzError> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| AuthzError::Schema(diagnostics(SCHEMA, [&e as &dyn Diagnostic])))
}

/// Parses `text`, renames each policy after its `@id` annotation (unannotated policies keep
/// Cedar's `policy0`, `policy1`, ...), and validates the set against `schema` in strict mode.
pub(crate) fn load(text: &str, schema: &Schema) -> Result<PolicySet, AuthzError> {
    let parsed = PolicySet::from_str(text).map_err(|errs| {
        AuthzError::Parse(diagnostics(text, errs.iter().map(|e| e as &dyn Diagnostic)))
    })?;
    if let Some(template) = parsed.templates().next() {
        return Err(AuthzError::Template(template.id().to_string()));
    }
    let mut set = PolicySet::new();
    for policy in parsed.policies() {
        let policy = match policy.annotation("id") {
            Some(id) => policy.new_id(PolicyId::new(id)),
            None => policy.clone(),
        };
        let id = policy.id().to_string();
        set.add(policy).map_err(|_| AuthzError::DuplicateId(id))?;
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        return Err(AuthzError::Validation(diagnostics(
            text,
            result.validation_errors().map(|e| e as &dyn Diagnostic),
        )));
    }
    Ok(set)
}

/// One line per diagnostic: where in `source` (line:column), the message, then Cedar's help
/// where it has one.
fn diagnostics<'a>(source: &str, errors: impl IntoIterator<Item = &'a dyn Diagnostic>) -> String {
    let mut out = String::new();
    for e in errors {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("  ");
        if let Some(offset) = e.labels().and_then(|mut l| l.next()).map(|l| l.offset()) {
            let (line, column) = line_column(source, offset);
            let _ = write!(out, "{line}:{column}: ");
        }
        let _ = write!(out, "{e}");
        if let Some(help) = e.help() {
            let _ = write!(out, " (help: {help})");
        }
    }
    out
}

/// The 1-based line and column of byte `offset` in `source`.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset.min(source.len())).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parses() {
        assert!(schema().is_ok());
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
