//! The request middleware: a request id, a tracing span, and the HTTP metrics.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::{from_fn_with_state, FromFnLayer, Next};
use axum::response::Response;
use tracing::Instrument;

use super::Observability;

/// The header a client may send and always gets back.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied request id accepted; a longer one is replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The route label of a request no route matched (404s): one label, whatever the path, so
/// scanners cannot grow the metric without bound.
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// The id of the current request, in the request's extensions (`Extension<RequestId>` or
/// `request.extensions().get::<RequestId>()`) and in the `x-request-id` response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The middleware function's type, named so [`layer`] can return a concrete type.
type TrackFn = fn(
    State<Arc<Observability>>,
    Request,
    Next,
) -> Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// The layer [`layer`] returns.
pub type RequestLayer =
    FromFnLayer<TrackFn, Arc<Observability>, (State<Arc<Observability>>, Request)>;

/// The tower layer for `Router::layer`: request ids, a span per request, request metrics.
/// Add it after every route so each request is seen with its matched route template.
pub fn layer(observability: Arc<Observability>) -> RequestLayer {
    from_fn_with_state(observability, track as TrackFn)
}

fn track(
    State(observability): State<Arc<Observability>>,
    mut request: Request,
    next: Next,
) -> Pin<Box<dyn Future<Output = Response> + Send + 'static>> {
    Box::pin(async move {
        let id = client_request_id(request.headers()).unwrap_or_else(generate_request_id);
        // The route template, never the raw path: label values must come from a bounded set.
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
            .to_owned();
        let method = method_label(request.method());
        let header = HeaderValue::from_str(&id).ok();
        if let Some(value) = &header {
            // Handlers and upstreams (the gateway) see the id actually used.
            request
                .headers_mut()
                .insert(REQUEST_ID_HEADER, value.clone());
        }
        request.extensions_mut().insert(RequestId(id.clone()));
        let span = tracing::info_span!("request", request_id = %id, method, route = %route);
        let _in_flight = observability.begin_request();
        let started = Instant::now();
        let mut response = next.run(request).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        observability.record_request(&route, method, status, elapsed);
        span.in_scope(|| {
            tracing::debug!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request done"
            );
        });
        if let Some(value) = header {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    })
}

/// The client's `x-request-id` if it is 1–128 characters of `[A-Za-z0-9._-]`; anything else is
/// ignored (not echoed), so a hostile id cannot inject into logs or headers.
pub(crate) fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let valid = !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    valid.then(|| value.to_owned())
}

/// A new id: 16 hex digits that differ per process (a randomly keyed hash of a counter), then
/// the counter itself, so ids never repeat within a process and rarely across processes.
pub(crate) fn generate_request_id() -> String {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keyed = KEYS.get_or_init(RandomState::new).hash_one(count);
    format!("{keyed:016x}{count:08x}")
}

/// The method label: standard methods by name, anything else as `other` (a client can send
/// any token as a method; labels must stay bounded).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}
