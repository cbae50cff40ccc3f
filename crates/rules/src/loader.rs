//! The one place this crate does IO: reading an App Services app export into an
//! [`AppConfig`]. Errors name the file and the JSON path. Loading goes on past a problem (a
//! file that cannot be read, a key that is unknown) to report every problem of every file at
//! once, sorted by file and by place in the file.
//!
//! Layout (current, realm-cli v2 / App Services CLI):
//! `data_sources/<service>/default_rule.json`, `data_sources/<service>/<db>/<coll>/rules.json`
//! and `schema.json`; `values/*.json`; `environments/<tag>.json`; `functions/**/*.rego`.
//! Legacy (realm-cli v1): `services/<service>/rules/<db>.<coll>.json` with an inline schema.
//! A directory holding `rules.json` directly is read as one collection.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::compile::RuleSet;
use crate::config::{
    parse_json_text, AppConfig, CollectionConfig, CollectionRulesFile, DataSourceConfig,
    DefaultRuleFile, COLLECTION_RULES_SHAPE, DEFAULT_RULE_SHAPE,
};
use crate::error::{ConfigError, ConfigErrors, Documents, JsonPath, Problems};
use crate::shape::{parse_all, serde_check, Shape, StructShape};

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

static VALUE_SHAPE: StructShape = StructShape {
    check: serde_check::<ValueFile>,
    fields: &[
        ("name", Shape::Leaf(serde_check::<String>)),
        ("value", Shape::Any),
        ("from_secret", Shape::Leaf(serde_check::<bool>)),
    ],
    required: Some("name"),
};

/// An environment file (`environments/<tag>.json`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFile {
    #[serde(default)]
    values: BTreeMap<String, Value>,
}

static ENVIRONMENT_SHAPE: StructShape = StructShape {
    check: serde_check::<EnvironmentFile>,
    fields: &[("values", Shape::Map(&Shape::Any))],
    required: None,
};

/// Reads an app directory (or a single collection directory). Fails with every problem of
/// every file it reads.
pub fn load_app(dir: &Path, options: &LoadOptions) -> Result<AppConfig, ConfigErrors> {
    let mut reader = Reader::default();
    let config = reader.app(dir, options);
    reader.problems.finish(&reader.documents)?;
    Ok(config)
}

/// An app read and compiled by [`load_and_compile`].
#[derive(Debug, Clone)]
pub struct LoadedApp {
    /// The configuration as read.
    pub config: AppConfig,
    /// The compiled rules.
    pub rules: RuleSet,
}

/// Reads and compiles an app, failing with every problem of both: what is left of a file
/// with problems is still compiled, so that the problems in the rest of it (an expression
/// that does not parse, a schema keyword that is not supported) are found in the same run.
pub fn load_and_compile(dir: &Path, options: &LoadOptions) -> Result<LoadedApp, ConfigErrors> {
    let mut reader = Reader::default();
    let config = reader.app(dir, options);
    let rules = RuleSet::compile_all(&config, &mut reader.problems);
    reader.problems.finish(&reader.documents)?;
    Ok(LoadedApp { config, rules })
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

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "json")
}

/// One load: the problems found so far and the JSON of every file read (to sort them).
#[derive(Default)]
struct Reader {
    problems: Problems,
    documents: Documents,
}

impl Reader {
    fn app(&mut self, dir: &Path, options: &LoadOptions) -> AppConfig {
        let mut config = AppConfig::default();
        if dir.join("rules.json").is_file() {
            let collection = self.collection(dir);
            let rules = collection.rules.as_ref();
            let key = (
                rules
                    .and_then(|rules| rules.database.clone())
                    .unwrap_or_else(|| parent_name(dir, 1)),
                rules
                    .and_then(|rules| rules.collection.clone())
                    .unwrap_or_else(|| parent_name(dir, 0)),
            );
            let source = config
                .data_sources
                .entry(DEFAULT_SERVICE.to_owned())
                .or_default();
            source.collections.insert(key, collection);
            return config;
        }
        for service in self.subdirectories(&dir.join("data_sources")) {
            let source = self.data_source(&service);
            config.data_sources.insert(file_name(&service), source);
        }
        self.legacy_services(&dir.join("services"), &mut config);
        self.values(&dir.join("values"), &mut config);
        if let Some(tag) = &options.environment {
            config.environment = Some(self.environment(dir, tag));
        }
        self.functions(&dir.join("functions"), "", &mut config.functions);
        config
    }

    fn read_error(&mut self, path: &Path, error: &std::io::Error) {
        self.problems.push(ConfigError::Read {
            file: path.to_path_buf(),
            message: error.to_string(),
        });
    }

    fn subdirectories(&mut self, dir: &Path) -> Vec<PathBuf> {
        let mut paths = self.entries(dir);
        paths.retain(|path| path.is_dir());
        paths
    }

    /// Sorted entries of `dir`; none when it does not exist (or cannot be read: recorded).
    fn entries(&mut self, dir: &Path) -> Vec<PathBuf> {
        if !dir.is_dir() {
            return Vec::new();
        }
        let reader = match fs::read_dir(dir) {
            Ok(reader) => reader,
            Err(error) => {
                self.read_error(dir, &error);
                return Vec::new();
            }
        };
        let mut paths = Vec::new();
        for entry in reader {
            match entry {
                Ok(entry) => paths.push(entry.path()),
                Err(error) => self.read_error(dir, &error),
            }
        }
        paths.sort();
        paths
    }

    /// A file's JSON; `None` when it cannot be read or is not JSON (one problem recorded).
    fn json(&mut self, path: &Path) -> Option<Value> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                self.read_error(path, &error);
                return None;
            }
        };
        let value = self.problems.keep(parse_json_text(&label(path), &text))?;
        self.documents.insert(label(path), value.clone());
        Some(value)
    }

    /// A config file: every problem in it recorded (see `shape::parse_all`).
    fn file<T: DeserializeOwned>(&mut self, path: &Path, shape: &'static StructShape) -> Option<T> {
        let json = self.json(path)?;
        parse_all(&label(path), &json, shape, &mut self.problems)
    }

    fn data_source(&mut self, dir: &Path) -> DataSourceConfig {
        let mut source = DataSourceConfig::default();
        let default_path = dir.join("default_rule.json");
        source.default_rule_source = label(&default_path);
        if default_path.is_file() {
            source.default_rule = self.file::<DefaultRuleFile>(&default_path, &DEFAULT_RULE_SHAPE);
        }
        for database in self.subdirectories(dir) {
            for collection in self.subdirectories(&database) {
                let mut config = self.collection(&collection);
                let key = (file_name(&database), file_name(&collection));
                self.check_names(&config, &key);
                if config.rules.is_none() && config.schema.is_none() {
                    continue;
                }
                config.rules_source = label(&collection.join("rules.json"));
                source.collections.insert(key, config);
            }
        }
        source
    }

    fn collection(&mut self, dir: &Path) -> CollectionConfig {
        let rules_path = dir.join("rules.json");
        let schema_path = dir.join("schema.json");
        let mut config = CollectionConfig {
            rules_source: label(&rules_path),
            schema_source: label(&schema_path),
            ..CollectionConfig::default()
        };
        if rules_path.is_file() {
            if let Some(mut rules) =
                self.file::<CollectionRulesFile>(&rules_path, &COLLECTION_RULES_SHAPE)
            {
                if let Some(schema) = rules.schema.take() {
                    config.schema_source = format!("{} (schema)", config.rules_source);
                    self.documents
                        .insert(config.schema_source.clone(), schema.clone());
                    config.schema = Some(schema);
                }
                config.rules = Some(rules);
            }
        }
        if schema_path.is_file() {
            if let Some(schema) = self.json(&schema_path) {
                config.schema = Some(schema);
                config.schema_source = label(&schema_path);
            }
        }
        config
    }

    /// `rules.json` may repeat its namespace; it must agree with the directories.
    fn check_names(&mut self, config: &CollectionConfig, key: &(String, String)) {
        let Some(rules) = &config.rules else {
            return;
        };
        for (field, written, expected) in [
            ("database", &rules.database, &key.0),
            ("collection", &rules.collection, &key.1),
        ] {
            if let Some(written) = written.as_ref().filter(|written| *written != expected) {
                self.problems.push(ConfigError::invalid(
                    &config.rules_source,
                    &JsonPath::root().key(field),
                    format!("`{written}` does not match the directory name `{expected}`"),
                ));
            }
        }
    }

    /// realm-cli v1: `services/<service>/rules/<db>.<coll>.json`, schema inline.
    fn legacy_services(&mut self, dir: &Path, config: &mut AppConfig) {
        for service in self.subdirectories(dir) {
            for file in self.entries(&service.join("rules")) {
                if !is_json(&file) {
                    continue;
                }
                let source_label = label(&file);
                let Some(mut rules) =
                    self.file::<CollectionRulesFile>(&file, &COLLECTION_RULES_SHAPE)
                else {
                    continue;
                };
                let (Some(database), Some(collection)) =
                    (rules.database.clone(), rules.collection.clone())
                else {
                    self.problems.push(ConfigError::invalid(
                        &source_label,
                        &JsonPath::root(),
                        "a legacy rule file needs `database` and `collection`",
                    ));
                    continue;
                };
                let schema = rules.schema.take();
                let schema_source = format!("{source_label} (schema)");
                if let Some(schema) = &schema {
                    self.documents.insert(schema_source.clone(), schema.clone());
                }
                let collection_config = CollectionConfig {
                    rules: Some(rules),
                    rules_source: source_label,
                    schema,
                    schema_source,
                };
                config
                    .data_sources
                    .entry(file_name(&service))
                    .or_default()
                    .collections
                    .insert((database, collection), collection_config);
            }
        }
    }

    fn values(&mut self, dir: &Path, config: &mut AppConfig) {
        for file in self.entries(dir) {
            if !is_json(&file) {
                continue;
            }
            let Some(value) = self.file::<ValueFile>(&file, &VALUE_SHAPE) else {
                continue;
            };
            // Secret-backed values are resolved by the server, never read from the export.
            if !value.from_secret {
                config.values.insert(value.name, value.value);
            }
        }
    }

    fn environment(&mut self, dir: &Path, tag: &str) -> Value {
        let path = dir.join("environments").join(format!("{tag}.json"));
        let values = if path.is_file() {
            self.file::<EnvironmentFile>(&path, &ENVIRONMENT_SHAPE)
                .map(|file| file.values)
                .unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        serde_json::json!({"tag": tag, "values": values})
    }

    fn functions(&mut self, dir: &Path, prefix: &str, functions: &mut BTreeMap<String, String>) {
        for path in self.entries(dir) {
            let name = format!("{prefix}{}", file_name(&path));
            if path.is_dir() {
                self.functions(&path, &format!("{name}/"), functions);
            } else if path.extension().is_some_and(|ext| ext == "rego") {
                match fs::read_to_string(&path) {
                    Ok(text) => {
                        functions.insert(name.trim_end_matches(".rego").to_owned(), text);
                    }
                    Err(error) => self.read_error(&path, &error),
                }
            }
        }
    }
}
