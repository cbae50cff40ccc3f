//! The HTTP application: routes, shared state, and serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use rampart_store::Store;

use crate::data_api::DataApi;

use crate::observability::Observability;
use tokio::net::TcpListener;

/// State shared by every request.
pub struct AppState {
    // INVARIANT: false until start-up finished and again from the moment shutdown begins, so a
    // load balancer stops routing here before connections are closed.
    ready: AtomicBool,
    store: Arc<dyn Store>,
    observability: Arc<Observability>,
    data_api: Option<Arc<DataApi>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state over `store` that is not ready yet.
    pub fn new(store: Arc<dyn Store>) -> Arc<AppState> {
        Arc::new(AppState {
            ready: AtomicBool::new(false),
            store,
            observability: Observability::new(),
            data_api: None,
        })
    }

    /// A state over `store` serving `data_api`, not ready yet.
    pub fn with_data_api(store: Arc<dyn Store>, data_api: Arc<DataApi>) -> Arc<AppState> {
        Arc::new(AppState {
            ready: AtomicBool::new(false),
            store,
            observability: Observability::new(),
            data_api: Some(data_api),
        })
    }

    /// The Data API, when the server has an app.
    pub fn data_api(&self) -> Option<&Arc<DataApi>> {
        self.data_api.as_ref()
    }

    /// Metrics and the audit log.
    pub fn observability(&self) -> &Arc<Observability> {
        &self.observability
    }

    /// The store every request reads and writes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Marks the server ready (or not) for `/ready`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// All routes of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::openapi::serve))
        .route(
            "/app/{app}/endpoint/data/{version}/action/{action}",
            any(crate::data_api::handle),
        )
        .layer(crate::observability::layer(Arc::clone(
            &state.observability,
        )))
        .with_state(state)
}

/// Liveness: the process is up and serving HTTP.
async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Prometheus metrics in the text exposition format.
async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.observability.render(),
    )
}

/// Readiness: start-up finished and shutdown has not begun.
async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.is_ready() {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready" })),
        )
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting connections,
/// marks the state not ready, and gives in-flight requests up to `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (begun_tx, begun_rx) = tokio::sync::oneshot::channel::<()>();
    let signal_state = Arc::clone(&state);
    let graceful = async move {
        shutdown.await;
        signal_state.set_ready(false);
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let _ = begun_tx.send(());
    };
    state.set_ready(true);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(graceful);
    let server = tokio::spawn(async move { server.await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return flatten(result),
        _ = begun_rx => {}
    }
    match tokio::time::timeout(grace, &mut server).await {
        Ok(result) => flatten(result),
        Err(_) => {
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                "in-flight requests did not finish in time"
            );
            server.abort();
            Ok(())
        }
    }
}

fn flatten(result: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    result.map_err(std::io::Error::other)?
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("received SIGINT"),
        _ = terminate => tracing::info!("received SIGTERM"),
    }
}

/// Installs the global tracing subscriber: `RUST_LOG` if set, else the configured level.
pub fn init_logging(config: &crate::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a log file or a pipeline must get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match config.format {
        crate::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        crate::LogFormat::Text => builder.try_init(),
    };
    // A subscriber already installed (tests running several servers) is not an error.
    let _ = installed;
}
