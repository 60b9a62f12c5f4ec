//! The crate's one error type.

/// Why an [`crate::Authorizer`] could not be built. The diagnostics are Cedar's, one per line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthzError {
    /// The built-in Cedar schema does not parse (a bug in this crate).
    #[error("cedar schema is invalid: {0}")]
    Schema(String),
    /// The policy text does not parse.
    #[error("policies do not parse:\n{0}")]
    Parse(String),
    /// The policies parse but do not validate against the schema.
    #[error("policies do not validate against the schema:\n{0}")]
    Validation(String),
    /// Two policies carry the same `@id`.
    #[error("duplicate policy id `{0}`")]
    DuplicateId(String),
    /// Templates are not supported (an unlinked template grants nothing).
    #[error("policy templates are not supported: `{0}`")]
    Template(String),
}
