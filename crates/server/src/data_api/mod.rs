//! The Atlas Data API v1, compatible with its URLs, bodies and responses:
//! `POST /app/{app}/endpoint/data/{v1|beta}/action/{action}`, enforcing the app's App Services
//! rules on every document. The decisions taken where Atlas is silent are in
//! `docs/data-api.md`.
//!
//! A request: method, app, version and action checks → Content-Type → body (bounded) →
//! `validation_method` → authentication → `can_evaluate` → body parsing → data source and
//! namespace → the rules' authorizer → the store, on a blocking thread (reads: `read.rs`;
//! writes, each in one transaction: `write.rs`) → JSON or EJSON.

// `Failure` (an error response, its decision and a log detail) is returned at most once per
// request and almost never on the per-document path, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod app;
mod body;
mod error;
mod exec;
mod read;
mod reload;
mod request;
mod respond;
mod validation;
mod write;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use rampart_identity::{AuthError, AuthenticatedUser, Authenticator};
use rampart_rules::User;
use rampart_store::{Namespace, Store};
use tokio::sync::Semaphore;

pub use self::app::DATA_API_CONFIG_FILE;
pub use self::app::{load_snapshot, resolve_app_id, AppError, AppSnapshot, ReturnType};
pub use self::body::{parse_body, Action, ActionBody};
pub use self::error::ApiError;
pub use self::reload::{ReloadOutcome, Reloader};

use self::exec::{Execution, Failure, Success};
use crate::config::DataApiSettings;
use crate::http::AppState;
use crate::observability::{AuditEvent, DecisionOutcome, Observability};

/// Turns request headers into a user. Implemented by `rampart_identity::Authenticator`;
/// tests may supply their own.
pub trait Authenticate: Send + Sync + 'static {
    /// Authenticates one request from its headers.
    fn authenticate<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> Pin<Box<dyn Future<Output = Result<AuthenticatedUser, AuthError>> + Send + 'a>>;
}

impl Authenticate for Authenticator {
    fn authenticate<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> Pin<Box<dyn Future<Output = Result<AuthenticatedUser, AuthError>> + Send + 'a>> {
        Box::pin(Authenticator::authenticate(self, headers))
    }
}

/// The Data API of one app: its settings, its current rules (swapped on reload), its
/// authenticator and its concurrency permits.
pub struct DataApi {
    dir: PathBuf,
    app_id: String,
    settings: DataApiSettings,
    // INVARIANT: requests clone the Arc once and use that snapshot for the whole request, so a
    // reload never changes the rules under a running request.
    snapshot: RwLock<Arc<AppSnapshot>>,
    fingerprint: Mutex<app::Fingerprint>,
    authenticator: Arc<dyn Authenticate>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for DataApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataApi")
            .field("dir", &self.dir)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl DataApi {
    /// Loads the app in `dir` (rules, schemas, `data_api_config.json`).
    pub fn load(
        dir: &Path,
        settings: DataApiSettings,
        authenticator: Arc<dyn Authenticate>,
    ) -> Result<DataApi, AppError> {
        let app_id = resolve_app_id(dir, &settings)?;
        let fingerprint = app::fingerprint(dir);
        let snapshot = load_snapshot(dir, &settings)?;
        Ok(DataApi {
            dir: dir.to_path_buf(),
            app_id,
            permits: Arc::new(Semaphore::new(settings.max_concurrent_requests)),
            settings,
            snapshot: RwLock::new(Arc::new(snapshot)),
            fingerprint: Mutex::new(fingerprint),
            authenticator,
        })
    }

    /// Loads the app in `dir` with Rampart's authenticator (`[auth]`, keys and users in
    /// `store`).
    pub fn load_with_identity(
        dir: &Path,
        settings: DataApiSettings,
        auth: &rampart_identity::AuthConfig,
        store: Arc<dyn Store>,
    ) -> Result<DataApi, AppError> {
        let authenticator = Authenticator::new(auth, store)
            .map_err(|error| AppError(format!("`[auth]` in rampart.toml: {error}")))?;
        Self::load(dir, settings, Arc::new(authenticator))
    }

    /// The app id in the URLs.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The rules and settings in force now.
    pub fn snapshot(&self) -> Arc<AppSnapshot> {
        let guard = self
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&guard)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.request_timeout_seconds)
    }

    /// Runs one parsed action as `user` (the entry point below HTTP: tests call it directly).
    pub async fn run_action(
        &self,
        store: Arc<dyn Store>,
        user: &User,
        action: Action,
        body: ActionBody,
        request: bson::Document,
    ) -> Result<bson::Document, ApiError> {
        let deadline = Instant::now() + self.timeout();
        self.execute(store, user, action, body, request, deadline)
            .await
            .map(|success| success.body)
            .map_err(|failure| failure.error)
    }

    async fn execute(
        &self,
        store: Arc<dyn Store>,
        user: &User,
        action: Action,
        body: ActionBody,
        request: bson::Document,
        deadline: Instant,
    ) -> Result<Success, Failure> {
        let snapshot = self.snapshot();
        if !snapshot.has_data_source(&body.data_source) {
            return Err(Failure::error(ApiError::not_found(
                "DataSourceNotFound",
                format!("data source `{}` not found", body.data_source),
            )));
        }
        let ns = Namespace::new(&body.database, &body.collection)
            .map_err(|error| Failure::error(ApiError::invalid(error.to_string())))?;
        // INVARIANT: Rampart's own database (API key hashes, users) is never reachable through
        // the Data API, whatever the rules say: a permissive default rule must not let a client
        // read key hashes or insert a key of its choosing.
        if body.database == rampart_identity::SYSTEM_DATABASE {
            return Err(Failure::plan(&format!(
                "the `{}` database holds rampart's own users and keys and is not reachable through the data api",
                rampart_identity::SYSTEM_DATABASE
            )));
        }
        read::check_query(&body.filter).map_err(Failure::error)?;
        // Lean explanations: responses never carry per-document explanations, and the
        // decision (role, failed check, diagnostics) is still recorded for the audit log.
        let authorizer = snapshot
            .rules
            .authorizer(
                &body.data_source,
                &body.database,
                &body.collection,
                Some(user),
                Some(request),
            )
            .without_explanations();
        let max_documents = self.settings.max_documents;
        let blocking = tokio::task::spawn_blocking(move || {
            let ex = Execution {
                store: store.as_ref(),
                authorizer: &authorizer,
                ns: &ns,
                action,
                body: &body,
                max_documents,
                deadline,
            };
            match action {
                Action::Find | Action::FindOne => read::find(&ex),
                Action::Aggregate => read::aggregate(&ex),
                Action::InsertOne | Action::InsertMany => write::insert(&ex),
                Action::UpdateOne | Action::UpdateMany | Action::ReplaceOne => write::update(&ex),
                Action::DeleteOne | Action::DeleteMany => write::delete(&ex),
            }
        });
        // INVARIANT: the blocking work is awaited to its end, never abandoned: a write either
        // commits before answering or checks its deadline and commits nothing, so a 504 always
        // means "nothing was written".
        match blocking.await {
            Ok(outcome) => outcome,
            Err(error) => {
                let mut failure = Failure::error(ApiError::internal());
                failure.detail = Some(format!("the request task failed: {error}"));
                Err(failure)
            }
        }
    }
}

/// `POST /app/{app}/endpoint/data/{version}/action/{action}`.
pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    UrlPath((app, version, action)): UrlPath<(String, String, String)>,
    request: Request,
) -> Response {
    let request_id = request::request_id(request.headers());
    let Some(api) = state.data_api().cloned() else {
        return app_not_found(&app).into_response();
    };
    // Load shedding: beyond `max_concurrent_requests` a request is refused at once rather
    // than queued, as Atlas answers 429.
    let Ok(_permit) = Arc::clone(&api.permits).try_acquire_owned() else {
        return ApiError::overloaded().into_response();
    };
    let deadline = Instant::now() + api.timeout();
    let route = request::Route {
        app,
        version,
        action,
    };
    let context = Context {
        state: &state,
        request_id: &request_id,
    };
    match api.respond(&context, route, request, deadline).await {
        Ok(response) => response,
        Err(failure) => context.fail(failure),
    }
}

fn app_not_found(app: &str) -> ApiError {
    let shown: String = app.chars().take(100).collect();
    ApiError::not_found(
        "AppNotFound",
        format!("cannot find app using Client App ID '{shown}'"),
    )
}

/// What a request reports to: metrics, the audit log, the log.
struct Context<'a> {
    state: &'a Arc<AppState>,
    request_id: &'a str,
}

/// Who did what, for the audit line.
struct Subject<'a> {
    user_id: Option<&'a str>,
    action: &'a str,
    namespace: &'a str,
}

impl Context<'_> {
    fn observability(&self) -> &Observability {
        self.state.observability()
    }

    fn record(&self, subject: &Subject<'_>, verdict: &exec::Verdict, is_write: bool) {
        self.observability()
            .record_decision(subject.action, verdict.outcome);
        if is_write || verdict.outcome != DecisionOutcome::Allowed {
            self.observability().audit(&AuditEvent {
                request_id: self.request_id,
                user_id: subject.user_id,
                action: subject.action,
                namespace: subject.namespace,
                outcome: verdict.outcome,
                role: verdict.role.as_deref(),
                reason: verdict.reason.as_deref(),
            });
        }
    }

    fn fail(&self, failure: Failure) -> Response {
        if let Some(detail) = &failure.detail {
            tracing::error!(request_id = self.request_id, %detail, "data api request failed");
        }
        failure.error.into_response()
    }
}
