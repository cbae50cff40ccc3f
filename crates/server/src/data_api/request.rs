//! The HTTP side of one Data API request: route checks, the bounded body, request validation,
//! authentication, `%%request`, and the response.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use bson::{doc, Bson, Document};
use rampart_identity::AuthError;
use rampart_rules::User;

use super::body::{parse_body, Action};
use super::error::ApiError;
use super::exec::{Failure, Verdict};
use super::respond::{check_content_type, negotiate, success};
use super::{app_not_found, Context, DataApi, Subject};
use crate::observability::DecisionOutcome;

/// Headers that carry credentials: never shown to rules as `%%request.requestHeaders`, so a
/// rule (or its explanation) can never echo one.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "apikey",
    "api-key",
    "password",
    "jwttokenstring",
    "cookie",
    "endpoint-signature",
];

/// The URL parameters.
pub(crate) struct Route {
    pub(crate) app: String,
    pub(crate) version: String,
    pub(crate) action: String,
}

/// The request id: the `x-request-id` the request-id middleware set (or the client sent),
/// else a fresh one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| bson::oid::ObjectId::new().to_hex())
}

impl DataApi {
    /// Everything after the concurrency permit.
    pub(super) async fn respond(
        &self,
        context: &Context<'_>,
        route: Route,
        request: Request,
        deadline: Instant,
    ) -> Result<Response, Failure> {
        let snapshot = self.snapshot();
        let action = self
            .check_route(&snapshot, &route, request.method())
            .map_err(Failure::error)?;
        check_content_type(request.headers()).map_err(Failure::error)?;
        let (parts, body) = request.into_parts();
        let bytes = read_body(body, self.settings.max_body_bytes, deadline).await?;
        let signature = parts
            .headers
            .get("endpoint-signature")
            .and_then(|value| value.to_str().ok());
        snapshot
            .config
            .validation
            .check(parts.uri.query(), signature, &bytes)
            .map_err(|message| {
                Failure::error(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    message,
                ))
            })?;
        let mut user = match self.authenticate(&parts.headers, deadline).await {
            Ok(user) => user,
            Err(failure) => {
                let subject = Subject {
                    user_id: None,
                    action: action.name(),
                    namespace: "",
                };
                if failure.verdict.outcome == DecisionOutcome::Denied {
                    context.record(&subject, &failure.verdict, action.is_write());
                }
                return Err(failure);
            }
        };
        if !snapshot.config.fetch_custom_user_data {
            user.custom_data = Document::new();
        }
        let request_doc = request_document(&parts, action);
        if let Some(check) = &snapshot.config.can_evaluate {
            if !check.allows(&user, &request_doc) {
                return Err(denied(
                    context,
                    &user,
                    action,
                    "the request does not satisfy `can_evaluate`",
                ));
            }
        }
        let body = parse_body(action, &bytes).map_err(Failure::error)?;
        let namespace = format!("{}.{}", body.database, body.collection);
        let subject = Subject {
            user_id: Some(&user.id),
            action: action.name(),
            namespace: &namespace,
        };
        let store = std::sync::Arc::clone(context.state.store());
        let outcome = self
            .execute(store, &user, action, body, request_doc, deadline)
            .await;
        match outcome {
            Ok(done) => {
                context.record(&subject, &done.verdict, action.is_write());
                let format = negotiate(&parts.headers, snapshot.config.return_type);
                Ok(success(done.body, format))
            }
            Err(failure) => {
                context.record(&subject, &failure.verdict, action.is_write());
                Err(failure)
            }
        }
    }

    fn check_route(
        &self,
        snapshot: &super::AppSnapshot,
        route: &Route,
        method: &Method,
    ) -> Result<Action, ApiError> {
        if method != Method::POST {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "InvalidParameter",
                "the data api accepts only POST",
            ));
        }
        if route.app != self.app_id || snapshot.config.disabled {
            return Err(app_not_found(&route.app));
        }
        if !snapshot.config.versions.contains(&route.version) {
            return Err(ApiError::not_found(
                "InvalidVersion",
                format!(
                    "data api version `{}` is not enabled",
                    short(&route.version)
                ),
            ));
        }
        Action::parse(&route.action).ok_or_else(|| {
            ApiError::not_found(
                "InvalidAction",
                format!("unknown action `{}`", short(&route.action)),
            )
        })
    }

    async fn authenticate(&self, headers: &HeaderMap, deadline: Instant) -> Result<User, Failure> {
        let attempt = self.authenticator.authenticate(headers);
        let result = tokio::time::timeout_at(deadline.into(), attempt)
            .await
            .map_err(|_| Failure::error(ApiError::timeout()))?;
        result
            .map(|authenticated| authenticated.user)
            .map_err(auth_failure)
    }
}

fn short(text: &str) -> String {
    text.chars().take(100).collect()
}

/// Reads the body, at most `limit` bytes, before the deadline.
async fn read_body(
    body: axum::body::Body,
    limit: usize,
    deadline: Instant,
) -> Result<axum::body::Bytes, Failure> {
    let read = axum::body::to_bytes(body, limit);
    match tokio::time::timeout_at(deadline.into(), read).await {
        Err(_) => Err(Failure::error(ApiError::timeout())),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
                || error.to_string().contains("length limit exceeded");
            if too_large {
                Err(Failure::error(ApiError::too_large(limit)))
            } else {
                Err(Failure::error(ApiError::invalid(
                    "the request body could not be read",
                )))
            }
        }
    }
}

fn auth_failure(error: AuthError) -> Failure {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match &error {
        // The verification failure is for the log; the client learns only that it failed.
        AuthError::InvalidToken(_) => AuthError::InvalidSession.to_string(),
        other => other.to_string(),
    };
    let mut failure = Failure::error(ApiError::new(status, error.code(), message));
    failure.verdict.outcome = DecisionOutcome::Denied;
    if let AuthError::InvalidToken(reason) = &error {
        failure.verdict.reason = Some(format!("invalid token: {reason}"));
    }
    failure
}

fn denied(context: &Context<'_>, user: &User, action: Action, reason: &str) -> Failure {
    let verdict = Verdict {
        outcome: DecisionOutcome::Denied,
        role: None,
        reason: Some(reason.to_owned()),
    };
    let subject = Subject {
        user_id: Some(&user.id),
        action: action.name(),
        namespace: "",
    };
    context.record(&subject, &verdict, action.is_write());
    Failure {
        error: ApiError::new(StatusCode::FORBIDDEN, "NotPermitted", reason),
        verdict,
        detail: None,
    }
}

/// `%%request`: method, headers (credentials removed, values as arrays), query string,
/// remote address, user agent, referrer, the action and the URL path.
fn request_document(parts: &axum::http::request::Parts, action: Action) -> Document {
    let mut headers = Document::new();
    for name in parts.headers.keys() {
        let key = name.as_str();
        if CREDENTIAL_HEADERS.contains(&key) {
            continue;
        }
        let values: Vec<Bson> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(|value| Bson::String(value.to_owned()))
            .collect();
        headers.insert(key, values);
    }
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_default();
    doc! {
        "httpMethod": parts.method.as_str(),
        "httpReferrer": header_text(header::REFERER),
        "httpUserAgent": header_text(header::USER_AGENT),
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "remoteIPAddress": remote,
        "requestHeaders": headers,
        "action": action.name(),
        "webhookUrl": parts.uri.path(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_rules() {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/app/a/endpoint/data/v1/action/find?x=1")
            .header("apiKey", "k")
            .header("Authorization", "Bearer t")
            .header("x-secret-key", "s")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let doc = request_document(&parts, Action::Find);
        let headers = doc.get_document("requestHeaders").unwrap();
        assert!(!headers.contains_key("apikey"));
        assert!(!headers.contains_key("authorization"));
        assert_eq!(
            headers.get_array("x-secret-key").unwrap(),
            &vec![Bson::String("s".into())]
        );
        assert_eq!(doc.get_str("rawQueryString").unwrap(), "x=1");
    }
}
