//! Metrics (Prometheus text at `GET /metrics`), request ids, and the audit log.
//!
//! - [`Observability`] is the process-wide registry: HTTP request counts and durations by route
//!   template, requests in flight, authorization decisions, audit events.
//! - [`layer`] is the middleware that gives every request an id ([`RequestId`], echoed in
//!   `x-request-id`), a tracing span carrying it, and its metrics.
//! - [`Observability::audit`] writes one JSON object per decision on the `rampart::audit`
//!   tracing target.

mod audit;
mod metrics;
mod request;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use self::metrics::{Counter, Family, Histogram};

#[allow(unused_imports)] // part of the module's surface for the Data API and the gateway
pub use self::audit::AUDIT_TARGET;
#[allow(unused_imports)]
pub use self::request::{layer, RequestId, RequestLayer, REQUEST_ID_HEADER};

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
#[derive(Debug)]
pub struct Observability {
    http_requests: Family<3, Counter>,
    http_duration: Family<1, Histogram>,
    in_flight: AtomicI64,
    decisions: Family<2, Counter>,
    audit_events: Family<1, Counter>,
}

impl Default for Observability {
    fn default() -> Self {
        Observability {
            http_requests: Family::new(["route", "method", "status"]),
            http_duration: Family::new(["route"]),
            in_flight: AtomicI64::new(0),
            decisions: Family::new(["action", "outcome"]),
            audit_events: Family::new(["outcome"]),
        }
    }
}

impl Observability {
    /// An empty registry.
    pub fn new() -> Arc<Observability> {
        Arc::new(Observability::default())
    }

    /// Counts one authorization decision for `action`.
    pub fn record_decision(&self, action: &str, outcome: DecisionOutcome) {
        self.decisions.inc([action, outcome.as_str()]);
    }

    /// Writes one audit line (a JSON object on the `audit` tracing target) and counts it.
    pub fn audit(&self, event: &AuditEvent<'_>) {
        audit::emit(event);
        self.audit_events.inc([event.outcome.as_str()]);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.http_requests.render(
            &mut out,
            "rampart_http_requests_total",
            "HTTP requests served, by route template, method and status.",
        );
        self.http_duration.render(
            &mut out,
            "rampart_http_request_duration_seconds",
            "Time to produce an HTTP response, by route template.",
        );
        metrics::header(
            &mut out,
            "rampart_http_requests_in_flight",
            "HTTP requests being served now.",
            "gauge",
        );
        out.push_str(&format!(
            "rampart_http_requests_in_flight {}\n",
            self.in_flight.load(Ordering::Relaxed)
        ));
        self.decisions.render(
            &mut out,
            "rampart_decisions_total",
            "Authorization decisions, by action and outcome.",
        );
        self.audit_events.render(
            &mut out,
            "rampart_audit_events_total",
            "Audit lines written, by outcome.",
        );
        out
    }

    /// Counts one finished HTTP request.
    pub(crate) fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.http_requests.inc([route, method, &status]);
        self.http_duration.observe([route], elapsed);
    }

    /// Counts a request in flight until the guard drops (also when the client goes away and
    /// the request's future is dropped mid-way).
    pub(crate) fn begin_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }
}

/// Decrements the in-flight gauge on drop.
pub(crate) struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
