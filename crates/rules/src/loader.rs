//! The one place this crate does IO: reading an App Services app export into an
//! [`AppConfig`]. Errors name the file and the JSON path.
//!
//! Layout (current, realm-cli v2 / App Services CLI):
//! `data_sources/<service>/default_rule.json`, `data_sources/<service>/<db>/<coll>/rules.json`
//! and `schema.json`; `values/*.json`; `environments/<tag>.json`; `functions/**/*.rego`.
//! Legacy (realm-cli v1): `services/<service>/rules/<db>.<coll>.json` with an inline schema.
//! A directory holding `rules.json` directly is read as one collection.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::config::{
    parse_file, parse_json_text, AppConfig, CollectionConfig, CollectionRulesFile,
    DataSourceConfig, DefaultRuleFile,
};
use crate::error::{ConfigError, JsonPath};

/// Options of [`load_app`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The environment whose `environments/<tag>.json` gives `%%environment`.
    pub environment: Option<String>,
}

/// The service a lone collection directory is filed under.
const DEFAULT_SERVICE: &str = "mongodb-atlas";

/// An App Value file (`values/<name>.json`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueFile {
    name: String,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    from_secret: bool,
}

/// An environment file (`environments/<tag>.json`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFile {
    #[serde(default)]
    values: BTreeMap<String, Value>,
}

/// Reads an app directory (or a single collection directory).
pub fn load_app(dir: &Path, options: &LoadOptions) -> Result<AppConfig, ConfigError> {
    let mut config = AppConfig::default();
    if dir.join("rules.json").is_file() {
        let collection = read_collection(dir)?;
        let database = collection
            .rules
            .as_ref()
            .and_then(|rules| rules.database.clone());
        let name = collection
            .rules
            .as_ref()
            .and_then(|rules| rules.collection.clone());
        let key = (
            database.unwrap_or_else(|| parent_name(dir, 1)),
            name.unwrap_or_else(|| parent_name(dir, 0)),
        );
        let source = config
            .data_sources
            .entry(DEFAULT_SERVICE.to_owned())
            .or_default();
        source.collections.insert(key, collection);
        return Ok(config);
    }
    let data_sources = dir.join("data_sources");
    for service in subdirectories(&data_sources)? {
        let name = file_name(&service);
        config
            .data_sources
            .insert(name, read_data_source(&service)?);
    }
    read_legacy_services(&dir.join("services"), &mut config)?;
    read_values(&dir.join("values"), &mut config)?;
    if let Some(tag) = &options.environment {
        config.environment = Some(read_environment(dir, tag)?);
    }
    read_functions(&dir.join("functions"), "", &mut config.functions)?;
    Ok(config)
}

fn parent_name(dir: &Path, up: usize) -> String {
    dir.ancestors().nth(up).map(file_name).unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn label(path: &Path) -> String {
    path.display().to_string()
}

fn read_error(path: &Path, error: &std::io::Error) -> ConfigError {
    ConfigError::Read {
        file: path.to_path_buf(),
        message: error.to_string(),
    }
}

fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    entries(dir).map(|paths| paths.into_iter().filter(|path| path.is_dir()).collect())
}

/// Sorted entries of `dir`; none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let reader = fs::read_dir(dir).map_err(|error| read_error(dir, &error))?;
    let mut paths = Vec::new();
    for entry in reader {
        paths.push(entry.map_err(|error| read_error(dir, &error))?.path());
    }
    paths.sort();
    Ok(paths)
}

fn read_json(path: &Path) -> Result<Value, ConfigError> {
    let text = fs::read_to_string(path).map_err(|error| read_error(path, &error))?;
    parse_json_text(&label(path), &text)
}

fn read_data_source(dir: &Path) -> Result<DataSourceConfig, ConfigError> {
    let mut source = DataSourceConfig::default();
    let default_path = dir.join("default_rule.json");
    source.default_rule_source = label(&default_path);
    if default_path.is_file() {
        let json = read_json(&default_path)?;
        source.default_rule = Some(parse_file::<DefaultRuleFile>(
            &source.default_rule_source,
            &json,
        )?);
    }
    for database in subdirectories(dir)? {
        for collection in subdirectories(&database)? {
            let mut config = read_collection(&collection)?;
            let key = (file_name(&database), file_name(&collection));
            check_names(&config, &key)?;
            if config.rules.is_none() && config.schema.is_none() {
                continue;
            }
            config.rules_source = label(&collection.join("rules.json"));
            source.collections.insert(key, config);
        }
    }
    Ok(source)
}

fn read_collection(dir: &Path) -> Result<CollectionConfig, ConfigError> {
    let mut config = CollectionConfig {
        rules_source: label(&dir.join("rules.json")),
        schema_source: label(&dir.join("schema.json")),
        ..CollectionConfig::default()
    };
    let rules_path = dir.join("rules.json");
    if rules_path.is_file() {
        let json = read_json(&rules_path)?;
        let mut rules: CollectionRulesFile = parse_file(&config.rules_source, &json)?;
        if let Some(schema) = rules.schema.take() {
            config.schema = Some(schema);
            config.schema_source = format!("{} (schema)", config.rules_source);
        }
        config.rules = Some(rules);
    }
    let schema_path = dir.join("schema.json");
    if schema_path.is_file() {
        config.schema = Some(read_json(&schema_path)?);
        config.schema_source = label(&schema_path);
    }
    Ok(config)
}

/// `rules.json` may repeat its namespace; it must agree with the directories.
fn check_names(config: &CollectionConfig, key: &(String, String)) -> Result<(), ConfigError> {
    let Some(rules) = &config.rules else {
        return Ok(());
    };
    for (field, written, expected) in [
        ("database", &rules.database, &key.0),
        ("collection", &rules.collection, &key.1),
    ] {
        if let Some(written) = written {
            if written != expected {
                return Err(ConfigError::invalid(
                    &config.rules_source,
                    &JsonPath::root().key(field),
                    format!("`{written}` does not match the directory name `{expected}`"),
                ));
            }
        }
    }
    Ok(())
}

/// realm-cli v1: `services/<service>/rules/<db>.<coll>.json`, schema inline.
fn read_legacy_services(dir: &Path, config: &mut AppConfig) -> Result<(), ConfigError> {
    for service in subdirectories(dir)? {
        for file in entries(&service.join("rules"))? {
            if file.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let source_label = label(&file);
            let json = read_json(&file)?;
            let mut rules: CollectionRulesFile = parse_file(&source_label, &json)?;
            let (Some(database), Some(collection)) =
                (rules.database.clone(), rules.collection.clone())
            else {
                return Err(ConfigError::invalid(
                    &source_label,
                    &JsonPath::root(),
                    "a legacy rule file needs `database` and `collection`",
                ));
            };
            let schema = rules.schema.take();
            let collection_config = CollectionConfig {
                rules: Some(rules),
                rules_source: source_label.clone(),
                schema,
                schema_source: format!("{source_label} (schema)"),
            };
            config
                .data_sources
                .entry(file_name(&service))
                .or_default()
                .collections
                .insert((database, collection), collection_config);
        }
    }
    Ok(())
}

fn read_values(dir: &Path, config: &mut AppConfig) -> Result<(), ConfigError> {
    for file in entries(dir)? {
        if file.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let json = read_json(&file)?;
        let value: ValueFile = parse_file(&label(&file), &json)?;
        // Secret-backed values are resolved by the server, never read from the export.
        if !value.from_secret {
            config.values.insert(value.name, value.value);
        }
    }
    Ok(())
}

fn read_environment(dir: &Path, tag: &str) -> Result<Value, ConfigError> {
    let path = dir.join("environments").join(format!("{tag}.json"));
    let values = if path.is_file() {
        let json = read_json(&path)?;
        parse_file::<EnvironmentFile>(&label(&path), &json)?.values
    } else {
        BTreeMap::new()
    };
    Ok(serde_json::json!({"tag": tag, "values": values}))
}

fn read_functions(
    dir: &Path,
    prefix: &str,
    functions: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for path in entries(dir)? {
        let name = format!("{prefix}{}", file_name(&path));
        if path.is_dir() {
            read_functions(&path, &format!("{name}/"), functions)?;
        } else if path.extension().is_some_and(|ext| ext == "rego") {
            let text = fs::read_to_string(&path).map_err(|error| read_error(&path, &error))?;
            functions.insert(name.trim_end_matches(".rego").to_owned(), text);
        }
    }
    Ok(())
}
