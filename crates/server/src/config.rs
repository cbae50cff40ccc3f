//! `rampart.toml`: Rampart's own configuration, one file in the configuration directory.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"       # address and port to serve HTTP on
//! shutdown_grace_seconds = 30      # how long in-flight requests may finish on SIGTERM
//!
//! [storage]
//! backend = "embedded"            # the embedded store (one file, no server needed)
//! data_dir = "data"               # relative to the configuration directory
//!
//! [log]
//! format = "text"                 # "text" for people, "json" for log pipelines
//! level = "info"                  # a tracing filter: "info", "rampart=debug,info", ...
//!
//! [data_api]                      # the Atlas-compatible Data API (docs/data-api.md)
//! app_id = "todo-abcde"           # the `{app}` of `/app/{app}/endpoint/data/v1/...`; default:
//!                                 # `app_id` or `name` of root_config.json / realm_config.json,
//!                                 # else the configuration directory's name
//! max_body_bytes = 16777216       # larger request bodies get 413
//! max_documents = 50000           # most documents one request reads, returns or inserts
//! request_timeout_seconds = 30    # then 504 (a write past its deadline commits nothing)
//! max_concurrent_requests = 10000 # more Data API requests at once get 429
//! reload_interval_seconds = 1     # how often rule, schema and data_api_config files are polled
//!
//! [data_api.secrets]              # secrets named by data_api_config.json `secret_name`; the
//! endpoint_secret = "..."         # environment variable RAMPART_SECRET_<NAME> wins over these
//!
//! [auth]                          # how callers authenticate (rampart-identity's AuthConfig)
//! ```
//!
//! The configuration directory also holds the App Services app: `data_sources/<service>/...`
//! (rules and schemas), optional `data_api_config.json`, `root_config.json` or
//! `realm_config.json`, `values/`, `environments/` and `functions/`.
//!
//! Every key is optional; unknown keys are errors. Command-line options override the file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rampart_identity::AuthConfig;
use serde::Deserialize;

/// The name of the configuration file inside the configuration directory.
pub const CONFIG_FILE: &str = "rampart.toml";

/// A configuration error that names the file and, when known, the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), key.as_ref().map(|key| format!(": `{key}`")).unwrap_or_default())]
pub struct ConfigError {
    /// The file the error is in.
    pub file: PathBuf,
    /// The dotted key at fault, if the error is about one key.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The whole of `rampart.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RampartConfig {
    /// HTTP serving.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where data lives.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The Data API.
    #[serde(default)]
    pub data_api: DataApiSettings,
    /// Authentication of callers.
    #[serde(default)]
    pub auth: AuthConfig,
}

/// `[data_api]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataApiSettings {
    /// The app id in Data API URLs; see the module documentation for the default.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Largest request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Most documents one request may read, return or insert.
    #[serde(default = "default_max_documents")]
    pub max_documents: usize,
    /// Seconds a request may run.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Data API requests served at once; more are refused with 429.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_requests: usize,
    /// Seconds between two polls of the app files.
    #[serde(default = "default_reload_interval")]
    pub reload_interval_seconds: u64,
    /// Secrets by name, for `data_api_config.json`'s `secret_name`.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

// Secrets must never reach a log line, so Debug names them without their values.
impl std::fmt::Debug for DataApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataApiSettings")
            .field("app_id", &self.app_id)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_documents", &self.max_documents)
            .field("request_timeout_seconds", &self.request_timeout_seconds)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("reload_interval_seconds", &self.reload_interval_seconds)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for DataApiSettings {
    fn default() -> Self {
        DataApiSettings {
            app_id: None,
            max_body_bytes: default_max_body_bytes(),
            max_documents: default_max_documents(),
            request_timeout_seconds: default_request_timeout(),
            max_concurrent_requests: default_max_concurrent(),
            reload_interval_seconds: default_reload_interval(),
            secrets: BTreeMap::new(),
        }
    }
}

fn default_max_body_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_max_documents() -> usize {
    50_000
}

fn default_request_timeout() -> u64 {
    30
}

fn default_max_concurrent() -> usize {
    10_000
}

fn default_reload_interval() -> u64 {
    1
}

impl DataApiSettings {
    fn validate(&self) -> Result<(), (String, String)> {
        let positive = [
            ("data_api.max_body_bytes", self.max_body_bytes as u64),
            ("data_api.max_documents", self.max_documents as u64),
            (
                "data_api.request_timeout_seconds",
                self.request_timeout_seconds,
            ),
            (
                "data_api.max_concurrent_requests",
                self.max_concurrent_requests as u64,
            ),
            (
                "data_api.reload_interval_seconds",
                self.reload_interval_seconds,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err((key.to_owned(), "must be greater than 0".to_owned()));
            }
        }
        if self
            .app_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err(("data_api.app_id".to_owned(), "must not be empty".to_owned()));
        }
        Ok(())
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            shutdown_grace_seconds: default_grace(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_grace() -> u64 {
    30
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The storage backend.
    #[serde(default)]
    pub backend: Backend,
    /// The embedded store's directory, relative to the configuration directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: Backend::default(),
            data_dir: default_data_dir(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// Which store holds the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One redb file in `data_dir`; no database server needed.
    #[default]
    Embedded,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Line format.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter directive.
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::default(),
            level: default_level(),
        }
    }
}

fn default_level() -> String {
    "info".to_owned()
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A loaded and validated configuration, with paths resolved against its directory.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The configuration directory (`.` when none was given).
    pub dir: PathBuf,
    /// The parsed file, or the defaults when the directory has no `rampart.toml`.
    pub config: RampartConfig,
    /// `server.listen`, parsed.
    pub listen: SocketAddr,
    /// `storage.data_dir`, resolved against `dir`.
    pub data_dir: PathBuf,
}

impl LoadedConfig {
    /// Loads `dir/rampart.toml` (defaults if the file does not exist; an error if `dir` does
    /// not) and validates it.
    pub fn load(dir: &Path) -> Result<LoadedConfig, ConfigError> {
        if !dir.is_dir() {
            return Err(ConfigError {
                file: dir.to_path_buf(),
                key: None,
                message: "configuration directory does not exist".to_owned(),
            });
        }
        let file = dir.join(CONFIG_FILE);
        let config = match std::fs::read_to_string(&file) {
            Ok(text) => parse(&file, &text)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => RampartConfig::default(),
            Err(error) => {
                return Err(ConfigError {
                    file,
                    key: None,
                    message: format!("cannot read: {error}"),
                })
            }
        };
        Self::validate(dir, config)
    }

    fn validate(dir: &Path, config: RampartConfig) -> Result<LoadedConfig, ConfigError> {
        let file = dir.join(CONFIG_FILE);
        let listen = parse_listen(&config.server.listen).map_err(|message| ConfigError {
            file: file.clone(),
            key: Some("server.listen".to_owned()),
            message,
        })?;
        if config.log.level.trim().is_empty() {
            return Err(ConfigError {
                file,
                key: Some("log.level".to_owned()),
                message: "must not be empty".to_owned(),
            });
        }
        if let Err((key, message)) = config.data_api.validate() {
            return Err(ConfigError {
                file,
                key: Some(key),
                message,
            });
        }
        let mut config = config;
        // Key files named in `[auth]` are relative to the configuration directory.
        config.auth = config.auth.with_config_dir(dir);
        if let Err(error) = config.auth.validate() {
            return Err(ConfigError {
                file,
                key: Some("auth".to_owned()),
                message: error.to_string(),
            });
        }
        let data_dir = dir.join(&config.storage.data_dir);
        Ok(LoadedConfig {
            dir: dir.to_path_buf(),
            config,
            listen,
            data_dir,
        })
    }

    /// Applies `--listen`.
    pub fn override_listen(&mut self, listen: &str) -> Result<(), ConfigError> {
        self.listen = parse_listen(listen).map_err(|message| ConfigError {
            file: PathBuf::from("--listen"),
            key: None,
            message,
        })?;
        Ok(())
    }

    /// Applies `--data-dir` (relative to the current directory, as a command-line path is).
    pub fn override_data_dir(&mut self, data_dir: &Path) {
        self.data_dir = data_dir.to_path_buf();
    }
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an address and port such as `127.0.0.1:8080`"))
}

/// Parses the text of a `rampart.toml`, naming the key at fault on error.
pub fn parse(file: &Path, text: &str) -> Result<RampartConfig, ConfigError> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|error| toml_error(file, text, &error, None))?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let key = (path != "." && !path.is_empty()).then_some(path);
        toml_error(file, text, error.inner(), key)
    })
}

fn toml_error(
    file: &Path,
    text: &str,
    error: &toml::de::Error,
    key: Option<String>,
) -> ConfigError {
    let line = error
        .span()
        .map(|span| {
            format!(
                " (line {})",
                text.get(..span.start).unwrap_or("").matches('\n').count() + 1
            )
        })
        .unwrap_or_default();
    let message = error
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    ConfigError {
        file: file.to_path_buf(),
        key,
        message: format!("{message}{line}"),
    }
}
