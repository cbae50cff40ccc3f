//! The configuration model: the App Services export files as they are written, before
//! compilation. One struct per file, unknown keys rejected. Expressions, queries and schemas
//! stay JSON here; `compile` turns them into checked, evaluable forms.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ConfigError, JsonPath};
use crate::shape::{serde_check, Shape, StructShape};

/// A collection's `rules.json` (current layout) or a legacy `services/<svc>/rules/<ns>.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionRulesFile {
    /// The database name (checked against the directory when loaded from disk).
    #[serde(default)]
    pub database: Option<String>,
    /// The collection name.
    #[serde(default)]
    pub collection: Option<String>,
    /// Roles, evaluated in order per document.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// Query filters.
    #[serde(default)]
    pub filters: Vec<FilterConfig>,
    /// Inline schema of the advanced-mode editor and of the legacy (20180301) layout.
    #[serde(default)]
    pub schema: Option<Value>,
    /// Admin API identifier; carries no meaning for evaluation.
    #[serde(default, rename = "_id")]
    pub admin_id: Option<Value>,
    /// Legacy (realm-cli v1) rule identifier; carries no meaning for evaluation.
    #[serde(default)]
    pub id: Option<Value>,
}

/// A data source's `default_rule.json`: roles and filters for collections without roles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRuleFile {
    /// Default roles.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// Default filters.
    #[serde(default)]
    pub filters: Vec<FilterConfig>,
    /// Admin API identifier.
    #[serde(default, rename = "_id")]
    pub admin_id: Option<Value>,
}

/// One role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Unique per collection, at most 100 characters.
    pub name: String,
    /// When the role applies (`{}` always). `applyWhen` is the Flexible Sync spelling.
    #[serde(default, alias = "applyWhen")]
    pub apply_when: Option<Value>,
    /// Gates for the rest of the role.
    #[serde(default)]
    pub document_filters: Option<DocumentFiltersConfig>,
    /// Document-level read.
    #[serde(default)]
    pub read: Option<Value>,
    /// Document-level write (implies read).
    #[serde(default)]
    pub write: Option<Value>,
    /// Insert permission (default true).
    #[serde(default)]
    pub insert: Option<Value>,
    /// Delete permission (default true).
    #[serde(default)]
    pub delete: Option<Value>,
    /// Atlas Search permission (default true).
    #[serde(default)]
    pub search: Option<Value>,
    /// Field-level permissions.
    #[serde(default)]
    pub fields: Option<BTreeMap<String, FieldConfig>>,
    /// Permissions for fields not named in `fields`.
    #[serde(default)]
    pub additional_fields: Option<AdditionalFieldsConfig>,
    /// Admin API identifier.
    #[serde(default, rename = "_id")]
    pub admin_id: Option<Value>,
}

/// `document_filters` of a role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentFiltersConfig {
    /// Which documents the role may read.
    #[serde(default)]
    pub read: Option<Value>,
    /// Which documents the role may write (implies read).
    #[serde(default)]
    pub write: Option<Value>,
}

/// Permissions of one named field, possibly with nested fields of an embedded document.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// Read permission.
    #[serde(default)]
    pub read: Option<Value>,
    /// Write permission (implies read).
    #[serde(default)]
    pub write: Option<Value>,
    /// Permissions of embedded fields, used when this field has no read or write of its own.
    #[serde(default)]
    pub fields: Option<BTreeMap<String, FieldConfig>>,
}

/// `additional_fields` of a role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdditionalFieldsConfig {
    /// Read permission of unlisted fields.
    #[serde(default)]
    pub read: Option<Value>,
    /// Write permission of unlisted fields.
    #[serde(default)]
    pub write: Option<Value>,
}

/// One query filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Filter name.
    pub name: String,
    /// When the filter applies; may not read the document.
    #[serde(default, alias = "applyWhen")]
    pub apply_when: Option<Value>,
    /// Query ANDed into the operation's query.
    #[serde(default)]
    pub query: Option<Value>,
    /// Projection applied to every returned document.
    #[serde(default)]
    pub projection: Option<Value>,
    /// Admin API identifier.
    #[serde(default, rename = "_id")]
    pub admin_id: Option<Value>,
}

/// The rules of one collection as loaded: where each part came from, for error messages.
#[derive(Debug, Clone, Default)]
pub struct CollectionConfig {
    /// `rules.json`, if the collection has one.
    pub rules: Option<CollectionRulesFile>,
    /// Label of the rules file (a path when loaded from disk).
    pub rules_source: String,
    /// `schema.json` (or the inline schema of the rules file).
    pub schema: Option<Value>,
    /// Label of the schema.
    pub schema_source: String,
}

/// One data source (`data_sources/<service>/`).
#[derive(Debug, Clone, Default)]
pub struct DataSourceConfig {
    /// `default_rule.json`, if any.
    pub default_rule: Option<DefaultRuleFile>,
    /// Label of the default rule file.
    pub default_rule_source: String,
    /// Collections by `(database, collection)`.
    pub collections: BTreeMap<(String, String), CollectionConfig>,
}

/// Everything the rules engine reads from an app: data sources, App Values, the environment
/// and the Rego modules behind `%function`.
#[derive(Debug, Clone, Default)]
pub struct AppConfig {
    /// Data sources by service name (usually `mongodb-atlas`).
    pub data_sources: BTreeMap<String, DataSourceConfig>,
    /// App Values for `%%values`, already Extended JSON.
    pub values: BTreeMap<String, Value>,
    /// `%%environment`: `{"tag": ..., "values": {...}}`.
    pub environment: Option<Value>,
    /// Rego modules by function name; `%function` calls `data.functions.<name>`.
    pub functions: BTreeMap<String, String>,
}

// What each file may hold, for reporting every problem of a file (`shape`). A test holds
// these lists to the keys serde knows.

const TEXT: Shape = Shape::Leaf(serde_check::<String>);
const OPTIONAL_TEXT: Shape = Shape::Optional(&TEXT);
static ROLE: Shape = Shape::Struct(&ROLE_SHAPE);
static FILTER: Shape = Shape::Struct(&FILTER_SHAPE);
static DOCUMENT_FILTERS: Shape = Shape::Struct(&DOCUMENT_FILTERS_SHAPE);
static ADDITIONAL_FIELDS: Shape = Shape::Struct(&ADDITIONAL_FIELDS_SHAPE);
static FIELDS: Shape = Shape::Map(&FIELD);
static FIELD: Shape = Shape::Struct(&FIELD_SHAPE);

pub(crate) static COLLECTION_RULES_SHAPE: StructShape = StructShape {
    check: serde_check::<CollectionRulesFile>,
    fields: &[
        ("database", OPTIONAL_TEXT),
        ("collection", OPTIONAL_TEXT),
        ("roles", Shape::List(&ROLE)),
        ("filters", Shape::List(&FILTER)),
        ("schema", Shape::Any),
        ("_id", Shape::Any),
        ("id", Shape::Any),
    ],
    required: None,
};

pub(crate) static DEFAULT_RULE_SHAPE: StructShape = StructShape {
    check: serde_check::<DefaultRuleFile>,
    fields: &[
        ("roles", Shape::List(&ROLE)),
        ("filters", Shape::List(&FILTER)),
        ("_id", Shape::Any),
    ],
    required: None,
};

pub(crate) static ROLE_SHAPE: StructShape = StructShape {
    check: serde_check::<RoleConfig>,
    fields: &[
        ("name", TEXT),
        ("apply_when", Shape::Any),
        ("applyWhen", Shape::Any),
        ("document_filters", Shape::Optional(&DOCUMENT_FILTERS)),
        ("read", Shape::Any),
        ("write", Shape::Any),
        ("insert", Shape::Any),
        ("delete", Shape::Any),
        ("search", Shape::Any),
        ("fields", Shape::Optional(&FIELDS)),
        ("additional_fields", Shape::Optional(&ADDITIONAL_FIELDS)),
        ("_id", Shape::Any),
    ],
    required: Some("name"),
};

pub(crate) static DOCUMENT_FILTERS_SHAPE: StructShape = StructShape {
    check: serde_check::<DocumentFiltersConfig>,
    fields: &[("read", Shape::Any), ("write", Shape::Any)],
    required: None,
};

pub(crate) static FIELD_SHAPE: StructShape = StructShape {
    check: serde_check::<FieldConfig>,
    fields: &[
        ("read", Shape::Any),
        ("write", Shape::Any),
        ("fields", Shape::Optional(&FIELDS)),
    ],
    required: None,
};

pub(crate) static ADDITIONAL_FIELDS_SHAPE: StructShape = StructShape {
    check: serde_check::<AdditionalFieldsConfig>,
    fields: &[("read", Shape::Any), ("write", Shape::Any)],
    required: None,
};

pub(crate) static FILTER_SHAPE: StructShape = StructShape {
    check: serde_check::<FilterConfig>,
    fields: &[
        ("name", TEXT),
        ("apply_when", Shape::Any),
        ("applyWhen", Shape::Any),
        ("query", Shape::Any),
        ("projection", Shape::Any),
        ("_id", Shape::Any),
    ],
    required: Some("name"),
};

/// Parses one config file's JSON into its struct, reporting the JSON path of the first error.
pub(crate) fn parse_file<T: serde::de::DeserializeOwned>(
    file: &str,
    value: &Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let mut path = JsonPath::root();
        for segment in error.path() {
            path = match segment {
                serde_path_to_error::Segment::Seq { index } => path.index(*index),
                serde_path_to_error::Segment::Map { key } => path.key(key),
                serde_path_to_error::Segment::Enum { variant } => path.key(variant),
                serde_path_to_error::Segment::Unknown => path.key("?"),
            };
        }
        ConfigError::invalid(file, &path, one_line(&error.into_inner().to_string()))
    })
}

/// Parses JSON text, reporting the line and column of a syntax error.
pub(crate) fn parse_json_text(file: &str, text: &str) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|error| {
        ConfigError::invalid(
            file,
            &JsonPath::root(),
            format!(
                "invalid JSON at line {} column {}: {}",
                error.line(),
                error.column(),
                one_line(&error.to_string())
            ),
        )
    })
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
