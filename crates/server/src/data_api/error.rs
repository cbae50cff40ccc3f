//! Data API errors: an HTTP status, a stable `error_code` and a one-line message, always sent
//! as `{"error": "...", "error_code": "..."}` JSON. Messages never carry a secret, a credential
//! or a stored key value; internal details go to the log with the request id instead.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rampart_store::StoreError;

/// One Data API error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `error_code` (App Services names where one exists).
    pub code: &'static str,
    /// The `error` text.
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `InvalidParameter`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    /// 400 `MissingParameter` naming the field.
    pub(crate) fn missing(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("`{field}` is required"),
        )
    }

    /// 404 with `code`.
    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500 with no details: the caller logs them.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "internal server error",
        )
    }

    /// 504: the request ran past `request_timeout_seconds`.
    pub(crate) fn timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "ExecutionTimeLimitExceeded",
            "the request did not finish within the time limit",
        )
    }

    /// 429: too many requests at once.
    pub(crate) fn overloaded() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "too many concurrent requests",
        )
    }

    /// 413: the body is over `max_body_bytes`.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// Whether this is a server-side failure (logged with details by the caller).
    pub(crate) fn is_internal(&self) -> bool {
        self.status == StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.message, "error_code": self.code})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// Maps a store error to a response. Query errors are the client's (400); a duplicate key is
/// 409 without the key (it may be a secret); anything else is internal (500) and must be
/// logged by the caller with `detail`.
pub(crate) fn from_store(error: &StoreError) -> ApiError {
    match error {
        StoreError::Query(error) => ApiError::invalid(error.message().to_owned()),
        StoreError::DuplicateKey { index, .. } => ApiError::new(
            StatusCode::CONFLICT,
            "DuplicateKey",
            format!("duplicate key error: index `{index}`"),
        ),
        StoreError::InvalidNamespace { .. } => ApiError::invalid(error.to_string()),
        StoreError::DocumentTooLarge { .. } => ApiError::invalid(error.to_string()),
        StoreError::BulkWrite(failure) => match failure.errors.first() {
            Some((_, first)) => from_store(first),
            None => ApiError::internal(),
        },
        _ => ApiError::internal(),
    }
}
