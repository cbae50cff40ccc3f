//! Request bodies: Extended JSON v2 (relaxed or canonical) parsed by `rampart-mql`, then
//! checked field by field against the action. Unknown fields, wrong types and missing required
//! fields are 400s that name the field.

use bson::{Bson, Document};

use super::error::ApiError;

/// A Data API action (the last URL segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `findOne`
    FindOne,
    /// `find`
    Find,
    /// `insertOne`
    InsertOne,
    /// `insertMany`
    InsertMany,
    /// `updateOne`
    UpdateOne,
    /// `updateMany`
    UpdateMany,
    /// `replaceOne`
    ReplaceOne,
    /// `deleteOne`
    DeleteOne,
    /// `deleteMany`
    DeleteMany,
    /// `aggregate`
    Aggregate,
}

const ALL: [Action; 10] = [
    Action::FindOne,
    Action::Find,
    Action::InsertOne,
    Action::InsertMany,
    Action::UpdateOne,
    Action::UpdateMany,
    Action::ReplaceOne,
    Action::DeleteOne,
    Action::DeleteMany,
    Action::Aggregate,
];

impl Action {
    /// The action named in a URL; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Action> {
        ALL.into_iter().find(|action| action.name() == name)
    }

    /// The URL name.
    pub fn name(self) -> &'static str {
        match self {
            Action::FindOne => "findOne",
            Action::Find => "find",
            Action::InsertOne => "insertOne",
            Action::InsertMany => "insertMany",
            Action::UpdateOne => "updateOne",
            Action::UpdateMany => "updateMany",
            Action::ReplaceOne => "replaceOne",
            Action::DeleteOne => "deleteOne",
            Action::DeleteMany => "deleteMany",
            Action::Aggregate => "aggregate",
        }
    }

    /// Whether the action writes.
    pub fn is_write(self) -> bool {
        !matches!(self, Action::FindOne | Action::Find | Action::Aggregate)
    }

    /// Body fields besides `dataSource`, `database` and `collection`: (name, required).
    fn fields(self) -> &'static [(&'static str, bool)] {
        match self {
            Action::FindOne => &[("filter", false), ("projection", false)],
            Action::Find => &[
                ("filter", false),
                ("projection", false),
                ("sort", false),
                ("limit", false),
                ("skip", false),
            ],
            Action::InsertOne => &[("document", true)],
            Action::InsertMany => &[("documents", true)],
            Action::UpdateOne | Action::UpdateMany => {
                &[("filter", true), ("update", true), ("upsert", false)]
            }
            Action::ReplaceOne => &[("filter", true), ("replacement", true), ("upsert", false)],
            Action::DeleteOne | Action::DeleteMany => &[("filter", true)],
            Action::Aggregate => &[("pipeline", true)],
        }
    }
}

/// A parsed, type-checked request body.
#[derive(Debug, Clone, Default)]
pub struct ActionBody {
    /// `dataSource`: the App Services service name.
    pub data_source: String,
    /// `database`.
    pub database: String,
    /// `collection`.
    pub collection: String,
    /// `filter` (empty when absent).
    pub filter: Document,
    /// `projection`.
    pub projection: Option<Document>,
    /// `sort`.
    pub sort: Option<Document>,
    /// `limit` (`None` or 0: no limit).
    pub limit: Option<u64>,
    /// `skip`.
    pub skip: u64,
    /// `document`, or each of `documents`.
    pub documents: Vec<Document>,
    /// `update` (operators or a pipeline) or `replacement`.
    pub update: Option<Bson>,
    /// `upsert`.
    pub upsert: bool,
    /// `pipeline`.
    pub pipeline: Vec<Document>,
}

/// Parses `text` for `action`.
pub fn parse_body(action: Action, text: &[u8]) -> Result<ActionBody, ApiError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| ApiError::invalid("the request body is not valid UTF-8"))?;
    if text.trim().is_empty() {
        return Err(ApiError::invalid("the request body is empty"));
    }
    let body = rampart_mql::parse_document(text)
        .map_err(|error| ApiError::invalid(format!("invalid request body: {}", error.message())))?;
    check_fields(action, &body)?;
    let mut parsed = ActionBody {
        data_source: required_string(&body, "dataSource")?,
        database: required_string(&body, "database")?,
        collection: required_string(&body, "collection")?,
        ..ActionBody::default()
    };
    parsed.filter = optional_document(&body, "filter")?.unwrap_or_default();
    parsed.projection = optional_document(&body, "projection")?;
    parsed.sort = optional_document(&body, "sort")?;
    parsed.limit = optional_count(&body, "limit")?;
    parsed.skip = optional_count(&body, "skip")?.unwrap_or(0);
    parsed.upsert = optional_bool(&body, "upsert")?;
    if let Some(document) = optional_document(&body, "document")? {
        parsed.documents.push(document);
    }
    if body.contains_key("documents") {
        parsed.documents = document_array(&body, "documents")?;
    }
    if body.contains_key("pipeline") {
        parsed.pipeline = document_array(&body, "pipeline")?;
    }
    parsed.update = update_of(action, &body)?;
    Ok(parsed)
}

fn check_fields(action: Action, body: &Document) -> Result<(), ApiError> {
    let fields = action.fields();
    for key in body.keys() {
        let known = ["dataSource", "database", "collection"].contains(&key.as_str())
            || fields.iter().any(|(name, _)| name == key);
        if !known {
            return Err(ApiError::invalid(format!(
                "unknown field `{key}` for action `{}`",
                action.name()
            )));
        }
    }
    for (name, required) in fields {
        if *required && !body.contains_key(*name) {
            return Err(ApiError::missing(name));
        }
    }
    Ok(())
}

fn required_string(body: &Document, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        None | Some(Bson::Null) => Err(ApiError::missing(key)),
        Some(Bson::String(text)) if !text.is_empty() => Ok(text.clone()),
        Some(Bson::String(_)) => Err(ApiError::invalid(format!("`{key}` must not be empty"))),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

fn wrong_type(key: &str, expected: &str, got: &Bson) -> ApiError {
    ApiError::invalid(format!(
        "`{key}` must be {expected}, not {}",
        rampart_mql::type_name(got)
    ))
}

fn optional_document(body: &Document, key: &str) -> Result<Option<Document>, ApiError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(doc)) => Ok(Some(doc.clone())),
        Some(other) => Err(wrong_type(key, "an object", other)),
    }
}

fn optional_bool(body: &Document, key: &str) -> Result<bool, ApiError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(false),
        Some(Bson::Boolean(flag)) => Ok(*flag),
        Some(other) => Err(wrong_type(key, "a boolean", other)),
    }
}

/// A non-negative whole number (any numeric BSON type with an integral value).
fn optional_count(body: &Document, key: &str) -> Result<Option<u64>, ApiError> {
    let value = match body.get(key) {
        None | Some(Bson::Null) => return Ok(None),
        Some(value) => value,
    };
    let whole = match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
        _ => None,
    };
    match whole {
        Some(n) if n >= 0 => Ok(u64::try_from(n).ok()),
        Some(_) => Err(ApiError::invalid(format!("`{key}` must not be negative"))),
        None => Err(wrong_type(key, "a whole number", value)),
    }
}

fn document_array(body: &Document, key: &str) -> Result<Vec<Document>, ApiError> {
    let items = match body.get(key) {
        Some(Bson::Array(items)) => items,
        None | Some(Bson::Null) => return Err(ApiError::missing(key)),
        Some(other) => return Err(wrong_type(key, "an array of objects", other)),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Bson::Document(doc) => Ok(doc.clone()),
            other => Err(wrong_type(&format!("{key}[{index}]"), "an object", other)),
        })
        .collect()
}

fn update_of(action: Action, body: &Document) -> Result<Option<Bson>, ApiError> {
    match action {
        Action::UpdateOne | Action::UpdateMany => match body.get("update") {
            Some(Bson::Document(doc)) => {
                if doc.is_empty() || doc.keys().any(|key| !key.starts_with('$')) {
                    return Err(ApiError::invalid(
                        "`update` must hold only update operators such as `$set` (use replaceOne to replace a document)",
                    ));
                }
                Ok(Some(Bson::Document(doc.clone())))
            }
            Some(Bson::Array(stages)) => Ok(Some(Bson::Array(stages.clone()))),
            Some(other) => Err(wrong_type("update", "an object or a pipeline", other)),
            None => Err(ApiError::missing("update")),
        },
        Action::ReplaceOne => match body.get("replacement") {
            Some(Bson::Document(doc)) => {
                if let Some(key) = doc.keys().find(|key| key.starts_with('$')) {
                    return Err(ApiError::invalid(format!(
                        "`replacement` cannot contain the operator `{key}`"
                    )));
                }
                Ok(Some(Bson::Document(doc.clone())))
            }
            Some(other) => Err(wrong_type("replacement", "an object", other)),
            None => Err(ApiError::missing("replacement")),
        },
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(action: Action, text: &str) -> Result<ActionBody, ApiError> {
        parse_body(action, text.as_bytes())
    }

    const NS: &str = r#""dataSource":"s","database":"d","collection":"c""#;

    #[test]
    fn reads_extended_json_in_plain_bodies() {
        let body = parse(
            Action::Find,
            &format!(r#"{{{NS},"filter":{{"_id":{{"$oid":"64224f3cd79f54ad342dd9b1"}}}},"limit":2,"skip":1.0}}"#),
        )
        .unwrap();
        assert!(matches!(body.filter.get("_id"), Some(Bson::ObjectId(_))));
        assert_eq!(body.limit, Some(2));
        assert_eq!(body.skip, 1);
    }

    #[test]
    fn names_the_field_at_fault() {
        let cases = [
            (Action::Find, format!(r#"{{{NS},"filter":[]}}"#), "`filter`"),
            (Action::Find, format!(r#"{{{NS},"limit":-1}}"#), "`limit`"),
            (Action::Find, format!(r#"{{{NS},"limit":1.5}}"#), "`limit`"),
            (Action::Find, format!(r#"{{{NS},"bogus":1}}"#), "`bogus`"),
            (
                Action::InsertMany,
                format!(r#"{{{NS},"documents":[1]}}"#),
                "`documents[0]`",
            ),
            (Action::InsertOne, format!(r#"{{{NS}}}"#), "`document`"),
            (
                Action::UpdateOne,
                format!(r#"{{{NS},"filter":{{}},"update":{{"a":1}}}}"#),
                "`update`",
            ),
            (
                Action::ReplaceOne,
                format!(r#"{{{NS},"filter":{{}},"replacement":{{"$set":{{}}}}}}"#),
                "`replacement`",
            ),
            (
                Action::Find,
                r#"{"database":"d","collection":"c"}"#.to_owned(),
                "`dataSource`",
            ),
        ];
        for (action, text, field) in cases {
            let error = parse(action, &text).unwrap_err();
            assert_eq!(error.status, 400, "{text}");
            assert!(error.message.contains(field), "{text}: {}", error.message);
        }
    }

    #[test]
    fn missing_required_fields_are_missing_parameter() {
        let error = parse(Action::UpdateOne, &format!(r#"{{{NS},"filter":{{}}}}"#)).unwrap_err();
        assert_eq!(error.code, "MissingParameter");
    }

    #[test]
    fn malformed_json_and_deep_nesting_are_400() {
        assert_eq!(parse(Action::Find, "{").unwrap_err().status, 400);
        // A request may nest 200 levels, as a MongoDB command may: its filter 199.
        let filter = |depth: usize| {
            format!(
                "{{{NS},\"filter\":{}1{}}}",
                "{\"a\":".repeat(depth),
                "}".repeat(depth)
            )
        };
        assert_eq!(parse(Action::Find, &filter(199)).unwrap().filter.len(), 1);
        let error = parse(Action::Find, &filter(200)).unwrap_err();
        assert_eq!(error.status, 400);
        assert!(
            error.message.contains("deeper than 200"),
            "{}",
            error.message
        );
    }
}
