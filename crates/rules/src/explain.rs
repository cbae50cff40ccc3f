//! Explanations: what a decision looked at and why it came out as it did. Every decision
//! carries one; the CLI prints them and the console will show them.

use std::sync::Arc;

use serde::Serialize;

/// Why a request-level step (a filter, a per-request role check) came out as it did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilterExplain {
    /// The filter's name.
    pub name: String,
    /// Whether its `apply_when` held, so its query and projection were applied.
    pub applied: bool,
    /// The evaluation error, if `apply_when` could not be evaluated (the request is denied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One role's `apply_when` for one document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoleTrial {
    /// The role.
    pub role: String,
    /// Whether it applied.
    pub applied: bool,
    /// True when the answer was computed once for the whole request.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub per_request: bool,
    /// The evaluation error, if any (the role then does not apply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A field removed from a read result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WithheldField {
    /// Dotted path of the field.
    pub path: String,
    /// Why the role may not read it.
    pub reason: String,
}

/// What was decided for one document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DocumentExplain {
    /// The document's `_id`, as canonical Extended JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The role the document got, or none.
    pub role: Option<Arc<str>>,
    /// The roles tried, in order, up to the first that applied.
    pub roles_tried: Vec<RoleTrial>,
    /// `"full"` (every field), `"fields"` (field by field), or `"none"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<&'static str>,
    /// Fields removed from a read result.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld_fields: Vec<WithheldField>,
    /// The check that failed (a write denial, a withheld document), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_check: Option<String>,
    /// Evaluation errors met on the way; each counted as "does not apply".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
}
