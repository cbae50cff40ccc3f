//! Response formats: canonical Extended JSON for `Accept: application/ejson`, the plain-JSON
//! downgrade for `application/json`, else the app's `return_type` (reference §9.3).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bson::{Bson, Document};
use rampart_mql::{to_json_value, to_plain_json, ExtJsonMode};

use super::app::ReturnType;
use super::error::ApiError;

/// The first of `application/ejson` or `application/json` the `Accept` header names, else
/// `fallback` (the app's `return_type`).
pub(crate) fn negotiate(headers: &HeaderMap, fallback: ReturnType) -> ReturnType {
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for media in text.split(',') {
            let media = media.split(';').next().unwrap_or("").trim();
            if media.eq_ignore_ascii_case("application/ejson") {
                return ReturnType::Ejson;
            }
            if media.eq_ignore_ascii_case("application/json") {
                return ReturnType::Json;
            }
        }
    }
    fallback
}

/// A 200 response holding `body` in the chosen format.
pub(crate) fn success(body: Document, format: ReturnType) -> Response {
    let (value, content_type) = match format {
        ReturnType::Ejson => (
            to_json_value(&Bson::Document(body), ExtJsonMode::Canonical),
            "application/ejson",
        ),
        ReturnType::Json => (to_plain_json(&Bson::Document(body)), "application/json"),
    };
    let mut response = (StatusCode::OK, axum::Json(value)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The request's body format: `application/json` or `application/ejson` (both read as
/// Extended JSON), or no Content-Type at all (read as JSON, as Atlas's tested examples do);
/// anything else is 415.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = value
        .to_str()
        .ok()
        .and_then(|text| text.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media.eq_ignore_ascii_case("application/json")
        || media.eq_ignore_ascii_case("application/ejson")
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "InvalidParameter",
        "Content-Type must be `application/json` or `application/ejson`",
    ))
}
