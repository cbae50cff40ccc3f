//! Test support: an in-process server on port 0 over a temporary store and app directory, a
//! fake authenticator (the `apiKey` header names a user), and a tiny HTTP/1.1 client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use rampart_identity::{AuthError, AuthMethod, AuthenticatedUser};
use rampart_rules::User;
use rampart_server::data_api::{Authenticate, DataApi};
use rampart_server::{AppState, DataApiSettings};
use rampart_store::{EmbeddedStore, Store};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const APP_ID: &str = "test-app";
pub const SERVICE: &str = "mongodb-atlas";

/// Users by API key; the header `x-test-delay-ms` makes authentication wait (for timeout and
/// concurrency tests).
#[derive(Default)]
pub struct FakeAuth {
    pub users: HashMap<String, User>,
}

impl Authenticate for FakeAuth {
    fn authenticate<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> Pin<Box<dyn Future<Output = Result<AuthenticatedUser, AuthError>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(delay) = headers
                .get("x-test-delay-ms")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok())
            {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let Some(key) = headers.get("apiKey").and_then(|v| v.to_str().ok()) else {
                return Err(AuthError::NoCredentials);
            };
            match self.users.get(key) {
                Some(user) => Ok(AuthenticatedUser {
                    user: user.clone(),
                    method: AuthMethod::ApiKey,
                }),
                None => Err(AuthError::InvalidSession),
            }
        })
    }
}

pub fn user(id: &str) -> User {
    User {
        id: id.to_owned(),
        user_type: "server".to_owned(),
        ..User::default()
    }
}

/// A fake authenticator knowing `ids` (the API key of each user is its id).
pub fn auth_for(ids: &[&str]) -> FakeAuth {
    FakeAuth {
        users: ids.iter().map(|id| (id.to_string(), user(id))).collect(),
    }
}

/// Writes `text` to `dir/relative`, creating directories.
pub fn write_file(dir: &Path, relative: &str, text: &str) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Writes `rules.json` of `db.coll`.
pub fn write_rules(dir: &Path, db: &str, coll: &str, rules: &Value) {
    write_file(
        dir,
        &format!("data_sources/{SERVICE}/{db}/{coll}/rules.json"),
        &serde_json::to_string_pretty(rules).unwrap(),
    );
}

pub fn settings() -> DataApiSettings {
    DataApiSettings {
        app_id: Some(APP_ID.to_owned()),
        ..DataApiSettings::default()
    }
}

/// A running server.
pub struct Server {
    pub address: SocketAddr,
    pub store: Arc<dyn Store>,
    pub api: Arc<DataApi>,
    pub app_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _data: tempfile::TempDir,
    _app: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server over the app in `app` (a temp dir the server keeps alive).
    pub async fn start(
        app: tempfile::TempDir,
        settings: DataApiSettings,
        auth: impl Authenticate,
    ) -> Server {
        let auth: Arc<dyn Authenticate> = Arc::new(auth);
        Self::start_with(app, settings, move |_| auth).await
    }

    /// Starts a server whose authenticator is built over its store.
    pub async fn start_with(
        app: tempfile::TempDir,
        settings: DataApiSettings,
        make_auth: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Authenticate>,
    ) -> Server {
        let app_dir = app.path().to_path_buf();
        let data = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data.path()).unwrap());
        let auth = make_auth(Arc::clone(&store));
        let api = Arc::new(DataApi::load(&app_dir, settings, auth).unwrap());
        let state = AppState::with_data_api(Arc::clone(&store), Arc::clone(&api));
        let router = rampart_server::router(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(rampart_server::serve(
            listener,
            router,
            state,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        Server {
            address,
            store,
            api,
            app_dir,
            stop: Some(stop),
            task: Some(task),
            _data: data,
            _app: Some(app),
        }
    }

    pub fn url(&self, action: &str) -> String {
        format!("/app/{APP_ID}/endpoint/data/v1/action/{action}")
    }

    /// POSTs a JSON body to `action` with the API key `key`.
    pub async fn call(&self, key: &str, action: &str, body: &Value) -> Response {
        self.request(
            "POST",
            &self.url(action),
            &[("apiKey", key), ("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .await
    }

    /// Like `call`, asking for canonical Extended JSON.
    pub async fn call_ejson(&self, key: &str, action: &str, body: &Value) -> Response {
        self.request(
            "POST",
            &self.url(action),
            &[
                ("apiKey", key),
                ("Content-Type", "application/ejson"),
                ("Accept", "application/ejson"),
            ],
            body.to_string().as_bytes(),
        )
        .await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        send(self.address, method, path, headers, body).await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not json ({error}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Asserts the status and the `error_code`, returning the `error` text.
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error_code"], code, "{}", self.text);
        body["error"].as_str().unwrap().to_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub async fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // A server may answer (413) before reading the whole body and close: ignore write errors.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        text: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// Inserts `documents` (Extended JSON) into `db.coll` directly.
pub fn seed(store: &Arc<dyn Store>, db: &str, coll: &str, documents: &[Value]) {
    let ns = rampart_store::Namespace::new(db, coll).unwrap();
    let docs: Vec<bson::Document> = documents
        .iter()
        .map(|doc| match rampart_mql::from_json_value(doc).unwrap() {
            bson::Bson::Document(doc) => doc,
            other => panic!("not a document: {other:?}"),
        })
        .collect();
    if !docs.is_empty() {
        store.insert_many(&ns, docs, true).unwrap();
    }
}

/// Every document of `db.coll` in `_id` order, as canonical Extended JSON.
pub fn contents(store: &Arc<dyn Store>, db: &str, coll: &str) -> Vec<Value> {
    let ns = rampart_store::Namespace::new(db, coll).unwrap();
    store
        .find(&ns, rampart_store::FindOptions::default())
        .unwrap()
        .collect_all()
        .unwrap()
        .into_iter()
        .map(|doc| {
            rampart_mql::to_json_value(
                &bson::Bson::Document(doc),
                rampart_mql::ExtJsonMode::Canonical,
            )
        })
        .collect()
}

/// Extended JSON equality with field order ignored and numbers compared by value.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    let (Ok(a), Ok(b)) = (
        rampart_mql::from_json_value(a),
        rampart_mql::from_json_value(b),
    ) else {
        return false;
    };
    bson_equivalent(&a, &b)
}

fn bson_equivalent(a: &bson::Bson, b: &bson::Bson) -> bool {
    use bson::Bson;
    if rampart_mql::is_number(a) && rampart_mql::is_number(b) {
        return rampart_mql::number(a).map(|n| n.as_f64())
            == rampart_mql::number(b).map(|n| n.as_f64());
    }
    match (a, b) {
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter().all(|(key, value)| {
                    y.get(key)
                        .is_some_and(|other| bson_equivalent(value, other))
                })
        }
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| bson_equivalent(p, q))
        }
        _ => a == b,
    }
}
