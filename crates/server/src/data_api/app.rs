//! The App Services app in the configuration directory: its rules (through
//! `rampart_rules::load_app`), its `data_api_config.json`, and its app id. A load builds one
//! immutable [`AppSnapshot`]; reloads build a new one and swap it in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_rules::{load_and_compile, ConfigErrors, LoadOptions, RuleSet};
use serde::Deserialize;
use serde_json::Value;

use super::validation::{CanEvaluate, RequestValidation};
use crate::config::DataApiSettings;

/// The Data API's own config file in the app directory.
pub const DATA_API_CONFIG_FILE: &str = "data_api_config.json";

/// An app that cannot be loaded: the message names the file and the JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AppError(pub String);

impl AppError {
    fn at(file: &Path, path: &str, message: impl std::fmt::Display) -> Self {
        AppError(format!("`{}` at `{path}`: {message}", file.display()))
    }
}

/// `data_api_config.json` (§9.4 of the reference). Every key is parsed; the ones Rampart
/// cannot honour are rejected at load rather than ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataApiConfigFile {
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    versions: Option<Vec<String>>,
    #[serde(default)]
    return_type: Option<String>,
    #[serde(default)]
    create_user_on_auth: Option<bool>,
    #[serde(default)]
    run_as_user_id: Option<String>,
    #[serde(default)]
    run_as_user_id_script_source: Option<String>,
    #[serde(default)]
    run_as_system: Option<bool>,
    // One docs page spells it `verification_method`; the tested config uses this name.
    #[serde(default, alias = "verification_method")]
    validation_method: Option<String>,
    #[serde(default)]
    secret_name: Option<String>,
    #[serde(default)]
    can_evaluate: Option<Value>,
    #[serde(default)]
    fetch_custom_user_data: Option<bool>,
    #[serde(default)]
    log_function_arguments: Option<bool>,
}

/// How responses are written when the request's `Accept` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnType {
    /// The plain-JSON downgrade.
    #[default]
    Json,
    /// Canonical Extended JSON.
    Ejson,
}

/// The Data API settings of the app, checked.
#[derive(Debug, Clone)]
pub(crate) struct DataApiConfig {
    pub(crate) disabled: bool,
    pub(crate) versions: Vec<String>,
    pub(crate) return_type: ReturnType,
    pub(crate) fetch_custom_user_data: bool,
    pub(crate) validation: RequestValidation,
    pub(crate) can_evaluate: Option<CanEvaluate>,
}

/// Everything a request needs from the app, built once per load.
#[derive(Debug, Clone)]
pub struct AppSnapshot {
    pub(crate) rules: Arc<RuleSet>,
    pub(crate) config: DataApiConfig,
}

impl AppSnapshot {
    /// Whether `service` is a data source of the app.
    pub(crate) fn has_data_source(&self, service: &str) -> bool {
        self.rules.services().any(|known| known == service)
    }
}

/// Loads and compiles the app in `dir`. On failure the error lists every problem of the app,
/// one per line (the rules' and `data_api_config.json`'s), so `rampart check`, start-up and
/// reload show them all at once.
pub fn load_snapshot(dir: &Path, settings: &DataApiSettings) -> Result<AppSnapshot, AppError> {
    let rules = load_and_compile(dir, &LoadOptions::default());
    let file = dir.join(DATA_API_CONFIG_FILE);
    let config = read_config_file(&file).and_then(|raw| check_config(&file, raw, settings));
    match (rules, config) {
        (Ok(loaded), Ok(config)) => Ok(AppSnapshot {
            rules: Arc::new(loaded.rules),
            config,
        }),
        (rules, config) => {
            let mut lines: Vec<String> = match rules {
                Err(errors) => rule_errors(&errors),
                Ok(_) => Vec::new(),
            };
            if let Err(errors) = config {
                lines.extend(errors.into_iter().map(|error| error.0));
            }
            Err(AppError(lines.join("\n")))
        }
    }
}

fn rule_errors(errors: &ConfigErrors) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// Reads `data_api_config.json` (absent: the defaults). Each key is checked on its own, so
/// every unknown key and every value of the wrong type is reported, in the file's order.
fn read_config_file(file: &Path) -> Result<DataApiConfigFile, Vec<AppError>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(DataApiConfigFile::default())
        }
        Err(error) => {
            return Err(vec![AppError(format!(
                "cannot read `{}`: {error}",
                file.display()
            ))])
        }
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|error| vec![AppError::at(file, "$", format!("invalid JSON: {error}"))])?;
    let Value::Object(entries) = value else {
        return Err(vec![AppError::at(file, "$", "expected an object")]);
    };
    let mut errors = Vec::new();
    for (key, item) in &entries {
        let single = Value::Object(std::iter::once((key.clone(), item.clone())).collect());
        if let Err(error) = parse_config(single) {
            errors.push(AppError::at(file, &error.0, error.1));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    parse_config(Value::Object(entries))
        .map_err(|(path, message)| vec![AppError::at(file, &path, message)])
}

/// Deserializes the config; the error's JSON path and message.
fn parse_config(value: Value) -> Result<DataApiConfigFile, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." {
            "$".to_owned()
        } else {
            format!("$.{path}")
        };
        (path, error.inner().to_string())
    })
}

fn not_supported(file: &Path, key: &str, why: &str) -> AppError {
    AppError::at(file, &format!("$.{key}"), format!("not supported: {why}"))
}

fn check_config(
    file: &Path,
    raw: DataApiConfigFile,
    settings: &DataApiSettings,
) -> Result<DataApiConfig, Vec<AppError>> {
    let mut errors = unsupported(file, &raw);
    let versions = raw.versions.unwrap_or_else(|| vec!["v1".to_owned()]);
    if let Some(bad) = versions.iter().find(|v| *v != "v1" && *v != "beta") {
        errors.push(AppError::at(
            file,
            "$.versions",
            format!("unknown version `{bad}` (expected `v1` or `beta`)"),
        ));
    }
    let return_type = match raw.return_type.as_deref() {
        None | Some("JSON") => ReturnType::Json,
        Some("EJSON") => ReturnType::Ejson,
        Some(other) => {
            errors.push(AppError::at(
                file,
                "$.return_type",
                format!("`{other}` is neither `JSON` nor `EJSON`"),
            ));
            ReturnType::Json
        }
    };
    let validation = RequestValidation::from_config(
        raw.validation_method.as_deref(),
        raw.secret_name.as_deref(),
        &settings.secrets,
    )
    .map_err(|message| AppError::at(file, "$.validation_method", message));
    let can_evaluate = match &raw.can_evaluate {
        None => Ok(None),
        Some(expression) => CanEvaluate::compile(expression)
            .map_err(|message| AppError::at(file, "$.can_evaluate", message)),
    };
    match (validation, can_evaluate) {
        (Ok(validation), Ok(can_evaluate)) if errors.is_empty() => Ok(DataApiConfig {
            disabled: raw.disabled,
            versions,
            return_type,
            fetch_custom_user_data: raw.fetch_custom_user_data.unwrap_or(true),
            validation,
            can_evaluate,
        }),
        (validation, can_evaluate) => {
            errors.extend(validation.err());
            errors.extend(can_evaluate.err());
            Err(errors)
        }
    }
}

/// Keys whose meaning Rampart does not implement: an error each, never a silent no-op.
fn unsupported(file: &Path, raw: &DataApiConfigFile) -> Vec<AppError> {
    let set = |value: Option<&str>| value.is_some_and(|text| !text.is_empty());
    [
        (
            raw.run_as_system == Some(true),
            "run_as_system",
            "every Data API request runs as its authenticated user, under the rules",
        ),
        (
            set(raw.run_as_user_id.as_deref()),
            "run_as_user_id",
            "every Data API request runs as its authenticated user",
        ),
        (
            set(raw.run_as_user_id_script_source.as_deref()),
            "run_as_user_id_script_source",
            "Rampart runs no JavaScript functions",
        ),
        (
            raw.create_user_on_auth == Some(false),
            "create_user_on_auth",
            "Rampart always records a user on its first authentication",
        ),
        (
            raw.log_function_arguments == Some(true),
            "log_function_arguments",
            "Rampart never logs request arguments",
        ),
    ]
    .into_iter()
    .filter(|(refused, _, _)| *refused)
    .map(|(_, key, why)| not_supported(file, key, why))
    .collect()
}

/// The app id: `[data_api] app_id`, else `app_id` or `name` of `root_config.json` /
/// `realm_config.json`, else the directory's name.
pub fn resolve_app_id(dir: &Path, settings: &DataApiSettings) -> Result<String, AppError> {
    if let Some(id) = &settings.app_id {
        return Ok(id.clone());
    }
    for name in ["root_config.json", "realm_config.json"] {
        let file = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)
            .map_err(|error| AppError(format!("`{}`: invalid json: {error}", file.display())))?;
        for key in ["app_id", "name"] {
            if let Some(id) = value.get(key).and_then(Value::as_str) {
                if !id.is_empty() {
                    return Ok(id.to_owned());
                }
            }
        }
    }
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    canonical
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| AppError("cannot name the app: set `data_api.app_id`".to_owned()))
}

/// The files whose change triggers a reload, with their modification time and size.
pub(crate) type Fingerprint = BTreeMap<PathBuf, (Option<std::time::SystemTime>, u64)>;

/// Fingerprints every file of the app that a load reads.
pub(crate) fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files = Fingerprint::new();
    let config = dir.join(DATA_API_CONFIG_FILE);
    record(&config, &mut files);
    for sub in [
        "data_sources",
        "services",
        "values",
        "environments",
        "functions",
    ] {
        walk(&dir.join(sub), 0, &mut files);
    }
    files
}

fn record(path: &Path, files: &mut Fingerprint) {
    if let Ok(meta) = std::fs::metadata(path) {
        files.insert(path.to_path_buf(), (meta.modified().ok(), meta.len()));
    }
}

fn walk(dir: &Path, depth: usize, files: &mut Fingerprint) {
    // The app layout is at most data_sources/<service>/<db>/<coll>/<file>: deeper trees are
    // not app files, and a bound keeps a symlink loop from running away.
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, depth + 1, files);
        } else {
            record(&path, files);
        }
    }
}
