//! What the blocking part of a request shares: its inputs, its bounds, and how it reports a
//! decision. The rules crate decides; this module and its siblings only execute.

use std::time::Instant;

use axum::http::StatusCode;
use bson::{Bson, Document};
use rampart_rules::{Authorizer, WriteDecision, WriteOutcome};
use rampart_store::{Namespace, Store, StoreError};

use super::body::{Action, ActionBody};
use super::error::{from_store, ApiError};
use crate::observability::DecisionOutcome;

/// One request, ready to run against the store (on a blocking thread).
pub(crate) struct Execution<'a> {
    pub(crate) store: &'a dyn Store,
    pub(crate) authorizer: &'a Authorizer,
    pub(crate) ns: &'a Namespace,
    pub(crate) action: Action,
    pub(crate) body: &'a ActionBody,
    pub(crate) max_documents: usize,
    pub(crate) deadline: Instant,
}

impl Execution<'_> {
    /// Past the request's deadline: stop, and (for a write) commit nothing.
    pub(crate) fn check_deadline(&self) -> Result<(), Failure> {
        if Instant::now() >= self.deadline {
            return Err(Failure::error(ApiError::timeout()));
        }
        Ok(())
    }
}

/// The decision of a request, for metrics and the audit log.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) outcome: DecisionOutcome,
    pub(crate) role: Option<String>,
    pub(crate) reason: Option<String>,
}

impl Verdict {
    pub(crate) fn allowed(role: Option<String>) -> Self {
        Verdict {
            outcome: DecisionOutcome::Allowed,
            role,
            reason: None,
        }
    }
}

/// A successful request: the response body (as BSON, written as JSON or EJSON later).
#[derive(Debug)]
pub(crate) struct Success {
    pub(crate) body: Document,
    pub(crate) verdict: Verdict,
}

/// A failed request: the response, the decision, and details for the log only.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: ApiError,
    pub(crate) verdict: Verdict,
    /// Never sent to the client (it may name stored values); logged with the request id.
    pub(crate) detail: Option<String>,
}

impl Failure {
    /// An error that is not a rule decision.
    pub(crate) fn error(error: ApiError) -> Self {
        let reason = Some(error.message.clone());
        Failure {
            error,
            verdict: Verdict {
                outcome: DecisionOutcome::Error,
                role: None,
                reason,
            },
            detail: None,
        }
    }

    /// A store error: client errors keep their message, the rest become a bare 500.
    pub(crate) fn store(error: &StoreError) -> Self {
        let mut failure = Failure::error(from_store(error));
        if failure.error.is_internal() || matches!(error, StoreError::DuplicateKey { .. }) {
            failure.detail = Some(error.to_string());
            failure.verdict.reason = Some(failure.error.message.clone());
        }
        failure
    }

    /// A failure of ours (such as a malformed stored document): a bare 500 to the client,
    /// `detail` for the log.
    pub(crate) fn internal(detail: String) -> Self {
        let mut failure = Failure::error(ApiError::internal());
        failure.detail = Some(detail);
        failure
    }

    /// The request's filters could not be applied (an erroring filter, conflicting filter
    /// projections): fail closed, as a denial.
    pub(crate) fn plan(message: &str) -> Self {
        Failure {
            error: ApiError::new(StatusCode::FORBIDDEN, "NotPermitted", message),
            verdict: Verdict {
                outcome: DecisionOutcome::Denied,
                role: None,
                reason: Some(message.to_owned()),
            },
            detail: None,
        }
    }

    /// A refused write: 403 `NotPermitted` for a rule denial, 400
    /// `SchemaValidationFailedWrite` for a schema violation; both with the App Services text.
    pub(crate) fn refused(decision: &WriteDecision) -> Self {
        let text = decision.error.unwrap_or("not permitted");
        let failed = decision
            .documents
            .iter()
            .find(|document| document.failed_check.is_some());
        let role = failed.and_then(|document| document.role.as_deref().map(str::to_owned));
        let reason = failed.and_then(|document| document.failed_check.clone());
        let (error, outcome) = match decision.outcome {
            Some(WriteOutcome::Invalid) => (
                ApiError::new(StatusCode::BAD_REQUEST, "SchemaValidationFailedWrite", text),
                DecisionOutcome::Error,
            ),
            _ => (
                ApiError::new(StatusCode::FORBIDDEN, "NotPermitted", text),
                DecisionOutcome::Denied,
            ),
        };
        Failure {
            error,
            verdict: Verdict {
                outcome,
                role,
                reason,
            },
            detail: None,
        }
    }
}

/// A count as the Data API writes it: Int32 when it fits (`{"$numberInt": "1"}` in EJSON).
pub(crate) fn count(value: u64) -> Bson {
    match i32::try_from(value) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(i64::try_from(value).unwrap_or(i64::MAX)),
    }
}
