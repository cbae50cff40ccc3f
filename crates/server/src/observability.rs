//! Metrics (Prometheus text at `GET /metrics`), request ids, and the audit log.
// PLACEHOLDER: the contract below is fixed; the bodies are being implemented.

use std::sync::Arc;

/// The outcome of one authorization decision, for metrics and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// The request was allowed (possibly with documents withheld).
    Allowed,
    /// A rule refused the request.
    Denied,
    /// The request failed (bad input, schema violation, internal error).
    Error,
}

impl DecisionOutcome {
    /// Lowercase name used in metrics labels and audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Allowed => "allowed",
            DecisionOutcome::Denied => "denied",
            DecisionOutcome::Error => "error",
        }
    }
}

/// One audit record: every write decision and every denial produces one JSON line.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// The request id (also returned to the client in `x-request-id`).
    pub request_id: &'a str,
    /// The authenticated user id, if any.
    pub user_id: Option<&'a str>,
    /// The Data API action (`insertOne`, `find`, ...) or other operation name.
    pub action: &'a str,
    /// `database.collection`.
    pub namespace: &'a str,
    /// What was decided.
    pub outcome: DecisionOutcome,
    /// The role(s) that decided, if any (e.g. `owner`).
    pub role: Option<&'a str>,
    /// Why, in words (the failed check or the error text); never a secret.
    pub reason: Option<&'a str>,
}

/// Process-wide metrics registry. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Observability {}

impl Observability {
    /// An empty registry.
    pub fn new() -> Arc<Observability> {
        Arc::new(Observability::default())
    }

    /// Counts one authorization decision for `action`.
    pub fn record_decision(&self, action: &str, outcome: DecisionOutcome) {
        let _ = (action, outcome);
    }

    /// Writes one audit line (a JSON object on the `audit` tracing target) and counts it.
    pub fn audit(&self, event: &AuditEvent<'_>) {
        let _ = event;
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        String::new()
    }
}
