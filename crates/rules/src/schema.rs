//! App Services document schemas (`schema.json`): a JSON Schema subset over BSON values plus
//! `validate` expressions. Unknown keywords are load errors, so a schema never silently checks
//! less than its author wrote.

use bson::{Bson, Document};
use regex::Regex;
use serde_json::Value;

use crate::error::{ConfigError, Origin, Problems};
use crate::expr::{parse_expression, Budget, Expression, Image, RequestScope, Scope};

/// Nesting bound of schemas (documents deeper than this are rejected by the store anyway).
const MAX_SCHEMA_DEPTH: usize = 64;

/// A compiled schema.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    root: Node,
}

/// Why a document does not conform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Dotted path of the offending value (`` for the document itself).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "the document {}", self.message)
        } else {
            write!(f, "`{}` {}", self.path, self.message)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Double,
    String,
    Object,
    Array,
    ObjectId,
    Date,
    Bool,
    Null,
    Regex,
    Int,
    Timestamp,
    Long,
    Decimal,
    Uuid,
    BinData,
    Number,
    Mixed,
    JavaScript,
    Symbol,
    MinKey,
    MaxKey,
    Undefined,
    DbPointer,
}

#[derive(Debug, Clone, Default)]
enum Additional {
    #[default]
    Allowed,
    Forbidden,
    Schema(Box<Node>),
}

#[derive(Debug, Clone, Default)]
enum Items {
    #[default]
    Any,
    Each(Box<Node>),
    Tuple(Vec<Node>, Additional),
}

#[derive(Debug, Clone, Default)]
struct Node {
    kinds: Option<(Vec<Kind>, String)>,
    required: Vec<String>,
    properties: Vec<(String, Node)>,
    additional: Additional,
    items: Items,
    enumeration: Option<Vec<Bson>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
    /// Numeric `exclusiveMinimum`/`exclusiveMaximum` (later JSON Schema drafts).
    minimum_above: Option<f64>,
    maximum_below: Option<f64>,
    multiple_of: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<Regex>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    unique_items: bool,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
    validate: Option<Expression>,
}

impl Node {
    fn number_slots(&mut self, next: &mut usize) {
        if let Some(validate) = &mut self.validate {
            validate.number_slots(next);
        }
        for (_, property) in &mut self.properties {
            property.number_slots(next);
        }
        if let Additional::Schema(node) = &mut self.additional {
            node.number_slots(next);
        }
        match &mut self.items {
            Items::Any => {}
            Items::Each(node) => node.number_slots(next),
            Items::Tuple(nodes, additional) => {
                for node in nodes {
                    node.number_slots(next);
                }
                if let Additional::Schema(node) = additional {
                    node.number_slots(next);
                }
            }
        }
    }
}

impl Schema {
    /// Compiles a schema; `at` names the file for errors. Every problem is recorded; a schema
    /// compiled with problems leaves out the keywords that had them.
    pub(crate) fn compile(value: &Value, at: &Origin<'_>, problems: &mut Problems) -> Schema {
        Schema {
            root: node(value, at, 0, problems),
        }
    }

    /// Numbers the `validate` tests prepared once per request (see `NamespaceRules`).
    pub(crate) fn number_slots(&mut self, next: &mut usize) {
        self.root.number_slots(next);
    }

    /// Checks the document a write produces. `before` is the stored document (absent for an
    /// insert); `validate` expressions see `%%root`/`%%this` as after, `%%prevRoot`/`%%prev` as
    /// before.
    pub(crate) fn validate(
        &self,
        after: &Document,
        before: Option<&Document>,
        request: &RequestScope,
        budget: &Budget,
    ) -> Result<(), SchemaViolation> {
        let walk = Walk {
            request,
            budget,
            root: after,
            prev_root: before,
        };
        walk.check_root(&self.root, after, before)
    }
}

struct Walk<'a> {
    request: &'a RequestScope,
    budget: &'a Budget,
    root: &'a Document,
    prev_root: Option<&'a Document>,
}

fn violation(path: &str, message: impl Into<String>) -> SchemaViolation {
    SchemaViolation {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Walk<'_> {
    fn check(
        &self,
        schema: &Node,
        value: Option<&Bson>,
        prev: Option<&Bson>,
        path: &str,
    ) -> Result<(), SchemaViolation> {
        if let Some(expression) = &schema.validate {
            if value.is_some() || prev.is_some() {
                self.run_validate(expression, value, prev, path)?;
            }
        }
        let Some(value) = value else {
            return Ok(());
        };
        if let Some((kinds, names)) = &schema.kinds {
            if !kinds.iter().any(|kind| kind_matches(*kind, value)) {
                return Err(violation(path, format!("must be {names}")));
            }
        }
        if let Some(allowed) = &schema.enumeration {
            if !allowed
                .iter()
                .any(|item| rampart_mql::values_equal(item, value))
            {
                return Err(violation(path, "is not one of the allowed values"));
            }
        }
        check_number(schema, value, path)?;
        check_string(schema, value, path)?;
        match value {
            Bson::Document(doc) => {
                let prev_doc = match prev {
                    Some(Bson::Document(prev)) => Some(prev),
                    _ => None,
                };
                self.check_object(schema, doc, prev_doc, path)
            }
            Bson::Array(items) => self.check_array(schema, items, prev, path),
            _ => Ok(()),
        }
    }

    /// [`Walk::check`] of the whole document. The root's tests that need it as a value (a
    /// `validate` expression, whose `%%this` it is, and `enum`) take a copy of it; the others,
    /// the usual case, do not.
    fn check_root(
        &self,
        schema: &Node,
        after: &Document,
        before: Option<&Document>,
    ) -> Result<(), SchemaViolation> {
        if schema.validate.is_some() || schema.enumeration.is_some() {
            let after_value = Bson::Document(after.clone());
            let before_value = before.map(|doc| Bson::Document(doc.clone()));
            return self.check(schema, Some(&after_value), before_value.as_ref(), "");
        }
        if let Some((kinds, names)) = &schema.kinds {
            // A document's kind depends on its type alone.
            let object = Bson::Document(Document::new());
            if !kinds.iter().any(|kind| kind_matches(*kind, &object)) {
                return Err(violation("", format!("must be {names}")));
            }
        }
        self.check_object(schema, after, before, "")
    }

    fn run_validate(
        &self,
        expression: &Expression,
        value: Option<&Bson>,
        prev: Option<&Bson>,
        path: &str,
    ) -> Result<(), SchemaViolation> {
        let scope = Scope {
            request: self.request,
            root: Some(Image::Decoded(self.root)),
            prev_root: self.prev_root.map(Image::Decoded),
            this: value,
            prev,
        };
        match expression.evaluate(&scope, self.budget) {
            Ok(true) => Ok(()),
            Ok(false) => Err(violation(path, "fails its `validate` expression")),
            Err(error) => Err(violation(
                path,
                format!("`validate` expression could not be evaluated: {error}"),
            )),
        }
    }

    /// An embedded document (or the root) against `schema`; `prev_doc` is its value before
    /// the write when that was a document.
    fn check_object(
        &self,
        schema: &Node,
        doc: &Document,
        prev_doc: Option<&Document>,
        path: &str,
    ) -> Result<(), SchemaViolation> {
        if let Some(missing) = schema
            .required
            .iter()
            .find(|key| !doc.contains_key(key.as_str()))
        {
            return Err(violation(&child_path(path, missing), "is required"));
        }
        if schema.min_properties.is_some_and(|min| doc.len() < min) {
            return Err(violation(path, "has too few fields"));
        }
        if schema.max_properties.is_some_and(|max| doc.len() > max) {
            return Err(violation(path, "has too many fields"));
        }
        for (key, child) in &schema.properties {
            let before = prev_doc.and_then(|prev| prev.get(key));
            self.check(child, doc.get(key), before, &child_path(path, key))?;
        }
        for (key, value) in doc {
            if schema.properties.iter().any(|(name, _)| name == key) {
                continue;
            }
            let here = child_path(path, key);
            match &schema.additional {
                Additional::Allowed => {}
                Additional::Forbidden => {
                    return Err(violation(&here, "is not allowed by the schema"))
                }
                Additional::Schema(child) => {
                    let before = prev_doc.and_then(|prev| prev.get(key));
                    self.check(child, Some(value), before, &here)?;
                }
            }
        }
        Ok(())
    }

    fn check_array(
        &self,
        schema: &Node,
        items: &[Bson],
        prev: Option<&Bson>,
        path: &str,
    ) -> Result<(), SchemaViolation> {
        if schema.min_items.is_some_and(|min| items.len() < min) {
            return Err(violation(path, "has too few items"));
        }
        if schema.max_items.is_some_and(|max| items.len() > max) {
            return Err(violation(path, "has too many items"));
        }
        if schema.unique_items {
            for (index, item) in items.iter().enumerate() {
                let later = items.iter().skip(index + 1);
                if later
                    .into_iter()
                    .any(|other| rampart_mql::values_equal(item, other))
                {
                    return Err(violation(path, "has duplicate items"));
                }
            }
        }
        let prev_items = match prev {
            Some(Bson::Array(prev)) => Some(prev),
            _ => None,
        };
        for (index, item) in items.iter().enumerate() {
            let before = prev_items.and_then(|prev| prev.get(index));
            let here = child_path(path, &index.to_string());
            let child = match &schema.items {
                Items::Any => continue,
                Items::Each(child) => Some(child.as_ref()),
                Items::Tuple(children, additional) => match children.get(index) {
                    Some(child) => Some(child),
                    None => match additional {
                        Additional::Allowed => None,
                        Additional::Forbidden => {
                            return Err(violation(&here, "is beyond the items the schema allows"))
                        }
                        Additional::Schema(child) => Some(child.as_ref()),
                    },
                },
            };
            if let Some(child) = child {
                self.check(child, Some(item), before, &here)?;
            }
        }
        Ok(())
    }
}

fn check_number(schema: &Node, value: &Bson, path: &str) -> Result<(), SchemaViolation> {
    let Some(number) = rampart_mql::number(value).map(|n| n.as_f64()) else {
        return Ok(());
    };
    if let Some(minimum) = schema.minimum {
        if number < minimum || (schema.exclusive_minimum && number <= minimum) {
            return Err(violation(path, format!("must be at least {minimum}")));
        }
    }
    if let Some(maximum) = schema.maximum {
        if number > maximum || (schema.exclusive_maximum && number >= maximum) {
            return Err(violation(path, format!("must be at most {maximum}")));
        }
    }
    if schema.minimum_above.is_some_and(|bound| number <= bound) {
        return Err(violation(path, "is below its exclusive minimum"));
    }
    if schema.maximum_below.is_some_and(|bound| number >= bound) {
        return Err(violation(path, "is above its exclusive maximum"));
    }
    if let Some(divisor) = schema.multiple_of {
        let quotient = number / divisor;
        if (quotient - quotient.round()).abs() > f64::EPSILON * quotient.abs().max(1.0) {
            return Err(violation(path, format!("must be a multiple of {divisor}")));
        }
    }
    Ok(())
}

fn check_string(schema: &Node, value: &Bson, path: &str) -> Result<(), SchemaViolation> {
    let Bson::String(text) = value else {
        return Ok(());
    };
    let length = text.chars().count();
    if schema.min_length.is_some_and(|min| length < min) {
        return Err(violation(path, "is too short"));
    }
    if schema.max_length.is_some_and(|max| length > max) {
        return Err(violation(path, "is too long"));
    }
    if let Some(pattern) = &schema.pattern {
        if !pattern.is_match(text) {
            return Err(violation(
                path,
                format!("does not match `{}`", pattern.as_str()),
            ));
        }
    }
    Ok(())
}

fn kind_matches(kind: Kind, value: &Bson) -> bool {
    use bson::spec::BinarySubtype;
    match kind {
        Kind::Mixed => true,
        Kind::Number => rampart_mql::is_number(value),
        Kind::Double => matches!(value, Bson::Double(_)),
        Kind::String => matches!(value, Bson::String(_)),
        Kind::Object => matches!(value, Bson::Document(_)),
        Kind::Array => matches!(value, Bson::Array(_)),
        Kind::ObjectId => matches!(value, Bson::ObjectId(_)),
        Kind::Date => matches!(value, Bson::DateTime(_)),
        Kind::Bool => matches!(value, Bson::Boolean(_)),
        Kind::Null => matches!(value, Bson::Null),
        Kind::Regex => matches!(value, Bson::RegularExpression(_)),
        Kind::Int => matches!(value, Bson::Int32(_)),
        Kind::Timestamp => matches!(value, Bson::Timestamp(_)),
        Kind::Long => matches!(value, Bson::Int64(_)),
        Kind::Decimal => matches!(value, Bson::Decimal128(_)),
        Kind::Uuid => matches!(value, Bson::Binary(b) if b.subtype == BinarySubtype::Uuid),
        Kind::BinData => matches!(value, Bson::Binary(_)),
        Kind::JavaScript => matches!(
            value,
            Bson::JavaScriptCode(_) | Bson::JavaScriptCodeWithScope(_)
        ),
        Kind::Symbol => matches!(value, Bson::Symbol(_)),
        Kind::MinKey => matches!(value, Bson::MinKey),
        Kind::MaxKey => matches!(value, Bson::MaxKey),
        Kind::Undefined => matches!(value, Bson::Undefined),
        Kind::DbPointer => matches!(value, Bson::DbPointer(_)),
    }
}

fn bson_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "double" => Kind::Double,
        "string" => Kind::String,
        "object" => Kind::Object,
        "array" => Kind::Array,
        "objectId" => Kind::ObjectId,
        "date" => Kind::Date,
        "bool" => Kind::Bool,
        "null" => Kind::Null,
        "regex" => Kind::Regex,
        "int" => Kind::Int,
        "timestamp" => Kind::Timestamp,
        "long" => Kind::Long,
        "decimal" => Kind::Decimal,
        "uuid" => Kind::Uuid,
        "binData" => Kind::BinData,
        "number" => Kind::Number,
        "mixed" => Kind::Mixed,
        "javascript" | "javascriptWithScope" => Kind::JavaScript,
        "symbol" => Kind::Symbol,
        "minKey" => Kind::MinKey,
        "maxKey" => Kind::MaxKey,
        "undefined" => Kind::Undefined,
        "dbPointer" => Kind::DbPointer,
        _ => return None,
    })
}

fn json_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "object" => Kind::Object,
        "array" => Kind::Array,
        "number" => Kind::Number,
        "boolean" => Kind::Bool,
        "string" => Kind::String,
        "null" => Kind::Null,
        _ => return None,
    })
}

fn node(value: &Value, at: &Origin<'_>, depth: usize, problems: &mut Problems) -> Node {
    let mut schema = Node::default();
    if depth > MAX_SCHEMA_DEPTH {
        problems.push(at.error(format!(
            "schema nested deeper than {MAX_SCHEMA_DEPTH} levels"
        )));
        return schema;
    }
    let Value::Object(map) = value else {
        problems.push(at.error("a schema must be an object"));
        return schema;
    };
    for (key, item) in map {
        let nested = Nested { depth, problems };
        if let Err(error) = keyword(&mut schema, key, item, &at.key(key), nested) {
            problems.push(error);
        }
    }
    schema
}

/// What a keyword holding schemas needs: the depth it is at, and where its schemas' own
/// problems go.
struct Nested<'a> {
    depth: usize,
    problems: &'a mut Problems,
}

impl Nested<'_> {
    fn node(&mut self, value: &Value, at: &Origin<'_>) -> Node {
        node(value, at, self.depth + 1, self.problems)
    }
}

/// One keyword; its own problem is returned, those of schemas inside it are recorded.
fn keyword(
    schema: &mut Node,
    key: &str,
    item: &Value,
    at: &Origin<'_>,
    mut nested: Nested<'_>,
) -> Result<(), ConfigError> {
    match key {
        "title" | "description" => {}
        "bsonType" => schema.kinds = Some(kinds(item, at, bson_kind, "BSON type")?),
        "type" => schema.kinds = Some(kinds(item, at, json_kind, "JSON type")?),
        "required" => schema.required = strings(item, at)?,
        "properties" => schema.properties = properties(item, at, &mut nested)?,
        "additionalProperties" => schema.additional = additional(item, at, &mut nested)?,
        "items" => schema.items = items(item, at, &mut nested)?,
        "additionalItems" => {
            let extra = additional(item, at, &mut nested)?;
            if let Items::Tuple(_, slot) = &mut schema.items {
                *slot = extra;
            } else {
                schema.items = Items::Tuple(Vec::new(), extra);
            }
        }
        "enum" => schema.enumeration = Some(enumeration(item, at)?),
        "minimum" => schema.minimum = Some(number(item, at)?),
        "maximum" => schema.maximum = Some(number(item, at)?),
        "exclusiveMinimum" => match item {
            Value::Bool(flag) => schema.exclusive_minimum = *flag,
            _ => schema.minimum_above = Some(number(item, at)?),
        },
        "exclusiveMaximum" => match item {
            Value::Bool(flag) => schema.exclusive_maximum = *flag,
            _ => schema.maximum_below = Some(number(item, at)?),
        },
        "multipleOf" => schema.multiple_of = Some(positive(item, at)?),
        "minLength" => schema.min_length = Some(count(item, at)?),
        "maxLength" => schema.max_length = Some(count(item, at)?),
        "minItems" => schema.min_items = Some(count(item, at)?),
        "maxItems" => schema.max_items = Some(count(item, at)?),
        "minProperties" => schema.min_properties = Some(count(item, at)?),
        "maxProperties" => schema.max_properties = Some(count(item, at)?),
        "uniqueItems" => schema.unique_items = boolean(item, at)?,
        "pattern" => schema.pattern = Some(pattern(item, at)?),
        "validate" => schema.validate = Some(parse_expression(item, at)?),
        _ => return Err(at.error(format!("unsupported schema keyword `{key}`"))),
    }
    Ok(())
}

fn kinds(
    item: &Value,
    at: &Origin<'_>,
    lookup: fn(&str) -> Option<Kind>,
    what: &str,
) -> Result<(Vec<Kind>, String), ConfigError> {
    let names: Vec<&str> = match item {
        Value::String(name) => vec![name.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => return Err(at.error("must be a type name or an array of type names")),
    };
    if let Value::Array(items) = item {
        if items.len() != names.len() || items.is_empty() {
            return Err(at.error("must be a non-empty array of type names"));
        }
    }
    let kinds = names
        .iter()
        .map(|name| lookup(name).ok_or_else(|| at.error(format!("unknown {what} `{name}`"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((kinds, names.join(" or ")))
}

fn strings(item: &Value, at: &Origin<'_>) -> Result<Vec<String>, ConfigError> {
    let Value::Array(items) = item else {
        return Err(at.error("must be an array of strings"));
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| at.error("must be an array of strings"))
        })
        .collect()
}

fn properties(
    item: &Value,
    at: &Origin<'_>,
    nested: &mut Nested<'_>,
) -> Result<Vec<(String, Node)>, ConfigError> {
    let Value::Object(map) = item else {
        return Err(at.error("must be an object of schemas"));
    };
    Ok(map
        .iter()
        .map(|(key, child)| (key.clone(), nested.node(child, &at.key(key))))
        .collect())
}

fn additional(
    item: &Value,
    at: &Origin<'_>,
    nested: &mut Nested<'_>,
) -> Result<Additional, ConfigError> {
    match item {
        Value::Bool(true) => Ok(Additional::Allowed),
        Value::Bool(false) => Ok(Additional::Forbidden),
        Value::Object(_) => Ok(Additional::Schema(Box::new(nested.node(item, at)))),
        _ => Err(at.error("must be a boolean or a schema")),
    }
}

fn items(item: &Value, at: &Origin<'_>, nested: &mut Nested<'_>) -> Result<Items, ConfigError> {
    match item {
        Value::Object(_) => Ok(Items::Each(Box::new(nested.node(item, at)))),
        Value::Array(list) => {
            let nodes = list
                .iter()
                .enumerate()
                .map(|(index, child)| nested.node(child, &at.index(index)))
                .collect();
            Ok(Items::Tuple(nodes, Additional::Allowed))
        }
        _ => Err(at.error("must be a schema or an array of schemas")),
    }
}

fn enumeration(item: &Value, at: &Origin<'_>) -> Result<Vec<Bson>, ConfigError> {
    let Value::Array(items) = item else {
        return Err(at.error("must be an array"));
    };
    items
        .iter()
        .map(|item| rampart_mql::from_json_value(item).map_err(|error| at.error(error.to_string())))
        .collect()
}

fn number(item: &Value, at: &Origin<'_>) -> Result<f64, ConfigError> {
    item.as_f64().ok_or_else(|| at.error("must be a number"))
}

fn positive(item: &Value, at: &Origin<'_>) -> Result<f64, ConfigError> {
    let value = number(item, at)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(at.error("must be greater than 0"))
    }
}

fn count(item: &Value, at: &Origin<'_>) -> Result<usize, ConfigError> {
    item.as_u64()
        .and_then(|value| usize::try_from(value).ok())
        .ok_or_else(|| at.error("must be a non-negative integer"))
}

fn boolean(item: &Value, at: &Origin<'_>) -> Result<bool, ConfigError> {
    item.as_bool().ok_or_else(|| at.error("must be a boolean"))
}

fn pattern(item: &Value, at: &Origin<'_>) -> Result<Regex, ConfigError> {
    let Value::String(text) = item else {
        return Err(at.error("must be a string"));
    };
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| {
            at.error(format!(
                "invalid pattern: {}",
                error.to_string().lines().last().unwrap_or_default()
            ))
        })
}
