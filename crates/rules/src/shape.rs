//! Every structural problem of a config file, not only the first. serde stops at the first
//! unknown key or wrong-typed value; this walks the file's JSON along the shape of its config
//! struct, records each problem in serde's own words, and takes the offending piece out of a
//! copy: an unknown key or a wrong-typed value is removed, and a role or filter that is not an
//! object (or has no usable `name`) becomes a placeholder, so that the indexes of the ones
//! after it, and so the JSON paths of their own problems, stay right. What is left parses, and
//! compiling it finds the problems of the rest of the file.
//!
//! INVARIANT: a repaired copy never serves a request. Every repair records an error, and
//! loading and compiling fail when any error was recorded.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{one_line, parse_file};
use crate::error::{ConfigError, JsonPath, Problems};

/// serde's verdict on a value read as one type: its message, in one line.
pub(crate) type Check = fn(&Value) -> Result<(), String>;

/// Reads `value` as a `T`, keeping only serde's message.
pub(crate) fn serde_check<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    T::deserialize(value)
        .map(drop)
        .map_err(|error| one_line(&error.to_string()))
}

/// What a place in a config file may hold.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// Anything: expressions, queries, projections and schemas are checked when compiled.
    Any,
    /// A value checked by serde alone (a string, a boolean).
    Leaf(Check),
    /// `null` (absent) or the inner shape.
    Optional(&'static Shape),
    /// An array of the inner shape.
    List(&'static Shape),
    /// An object whose values have the inner shape.
    Map(&'static Shape),
    /// One of the config structs.
    Struct(&'static StructShape),
}

/// A config struct: its keys (aliases included) and what each holds.
pub(crate) struct StructShape {
    /// serde reading the whole struct, for its messages.
    pub(crate) check: Check,
    pub(crate) fields: &'static [(&'static str, Shape)],
    /// The one key without a default (`name`), if any.
    pub(crate) required: Option<&'static str>,
}

impl StructShape {
    fn field(&self, key: &str) -> Option<Shape> {
        self.fields
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, shape)| *shape)
    }

    /// Stands in for a broken struct: a name no real role or filter has, unique per place.
    fn placeholder(&self, at: &JsonPath) -> Value {
        let mut map = Map::new();
        if let Some(required) = self.required {
            map.insert(required.to_owned(), placeholder_name(at));
        }
        Value::Object(map)
    }
}

fn placeholder_name(at: &JsonPath) -> Value {
    Value::String(format!("\u{0}{at}"))
}

/// Parses one config file into `T`, recording every problem in it. `Some` unless even the
/// repaired copy does not parse; a `Some` with problems recorded is for finding more problems
/// only (see the module's invariant).
pub(crate) fn parse_all<T: DeserializeOwned>(
    file: &str,
    value: &Value,
    shape: &'static StructShape,
    problems: &mut Problems,
) -> Option<T> {
    if let Ok(parsed) = parse_file::<T>(file, value) {
        return Some(parsed);
    }
    // The walk records a problem for every change it makes, so a copy that parses now had at
    // least one problem recorded.
    let mut repaired = value.clone();
    let mut walk = Walk { file, problems };
    walk.shape(&mut repaired, Shape::Struct(shape), &JsonPath::root());
    match parse_file::<T>(file, &repaired) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            if !problems.contains(&error) {
                problems.push(error);
            }
            None
        }
    }
}

/// What the walk does with a value that does not fit.
#[derive(PartialEq, Eq)]
enum Fit {
    Keep,
    /// Remove it (the key or map entry holding it).
    Remove,
}

struct Walk<'a> {
    file: &'a str,
    problems: &'a mut Problems,
}

impl Walk<'_> {
    fn error(&self, at: &JsonPath, message: String) -> ConfigError {
        ConfigError::invalid(self.file, at, message)
    }

    /// `check` decides; a value it refuses is recorded and removed.
    fn leaf(&mut self, value: &Value, check: Check, at: &JsonPath) -> Fit {
        match check(value) {
            Ok(()) => Fit::Keep,
            Err(message) => {
                let error = self.error(at, message);
                self.problems.push(error);
                Fit::Remove
            }
        }
    }

    fn shape(&mut self, value: &mut Value, shape: Shape, at: &JsonPath) -> Fit {
        match (shape, value) {
            (Shape::Any, _) => Fit::Keep,
            (Shape::Optional(_), Value::Null) => Fit::Keep,
            (Shape::Optional(inner), value) => self.shape(value, *inner, at),
            (Shape::Leaf(check), value) => self.leaf(value, check, at),
            (Shape::List(item), Value::Array(items)) => {
                for (index, value) in items.iter_mut().enumerate() {
                    // A struct is repaired in place; anything else is left to the final parse.
                    self.shape(value, *item, &at.index(index));
                }
                Fit::Keep
            }
            (Shape::List(_), value) => self.leaf(value, serde_check::<Vec<Value>>, at),
            (Shape::Map(entry), Value::Object(map)) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    let Some(value) = map.get_mut(&key) else {
                        continue;
                    };
                    if self.shape(value, *entry, &at.key(&key)) == Fit::Remove {
                        map.shift_remove(&key);
                    }
                }
                Fit::Keep
            }
            (Shape::Map(_), value) => self.leaf(value, serde_check::<Map<String, Value>>, at),
            (Shape::Struct(shape), value) => {
                self.structure(value, shape, at);
                Fit::Keep
            }
        }
    }

    fn structure(&mut self, value: &mut Value, shape: &StructShape, at: &JsonPath) {
        let Value::Object(map) = value else {
            // serde also reads a struct from an array of its fields in order; trust its word.
            if let Err(message) = (shape.check)(value) {
                let error = self.error(at, message);
                self.problems.push(error);
                *value = shape.placeholder(at);
            }
            return;
        };
        let had_required = shape.required.is_none_or(|key| map.contains_key(key));
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let here = at.key(&key);
            let Some(field) = shape.field(&key) else {
                self.unknown(map, shape, &key, at, &here);
                continue;
            };
            let Some(value) = map.get_mut(&key) else {
                continue;
            };
            if self.shape(value, field, &here) == Fit::Remove {
                map.shift_remove(&key);
            }
        }
        if let Some(required) = shape.required {
            if !had_required {
                // serde's message for the missing key.
                if let Err(message) = (shape.check)(&Value::Object(Map::new())) {
                    let error = self.error(at, message);
                    self.problems.push(error);
                }
            }
            if !map.contains_key(required) {
                map.insert(required.to_owned(), placeholder_name(at));
            }
        }
    }

    /// A key the shape does not list: serde's message, at the object (as serde reports it) but
    /// sorted where the key is. A key serde does know is left to the final parse.
    fn unknown(
        &mut self,
        map: &mut Map<String, Value>,
        shape: &StructShape,
        key: &str,
        at: &JsonPath,
        here: &JsonPath,
    ) {
        let mut probe = Map::new();
        probe.insert(key.to_owned(), Value::Null);
        match (shape.check)(&Value::Object(probe)) {
            Err(message) if message.starts_with("unknown field") => {
                let error = self.error(at, message);
                self.problems.push_sorted_at(error, here);
                map.shift_remove(key);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        AdditionalFieldsConfig, CollectionRulesFile, DefaultRuleFile, DocumentFiltersConfig,
        FieldConfig, FilterConfig, RoleConfig, ADDITIONAL_FIELDS_SHAPE, COLLECTION_RULES_SHAPE,
        DEFAULT_RULE_SHAPE, DOCUMENT_FILTERS_SHAPE, FIELD_SHAPE, FILTER_SHAPE, ROLE_SHAPE,
    };
    use crate::error::{ConfigErrors, Documents};
    use serde_json::json;

    /// The keys serde names in its unknown-field message.
    fn serde_keys(check: Check) -> Vec<String> {
        let message = check(&json!({"\u{1}": null})).unwrap_err();
        // "expected `a` or `b`", "expected one of `a`, `b`, `c`".
        let (_, expected) = message.split_once("expected ").unwrap();
        let expected = expected.trim_start_matches("one of ");
        expected
            .split(", ")
            .flat_map(|keys| keys.split(" or "))
            .map(|key| key.trim_matches('`').to_owned())
            .collect()
    }

    #[test]
    fn every_shape_lists_the_keys_serde_knows() {
        for (name, shape) in [
            ("CollectionRulesFile", &COLLECTION_RULES_SHAPE),
            ("DefaultRuleFile", &DEFAULT_RULE_SHAPE),
            ("RoleConfig", &ROLE_SHAPE),
            ("DocumentFiltersConfig", &DOCUMENT_FILTERS_SHAPE),
            ("FieldConfig", &FIELD_SHAPE),
            ("AdditionalFieldsConfig", &ADDITIONAL_FIELDS_SHAPE),
            ("FilterConfig", &FILTER_SHAPE),
        ] {
            let mut listed: Vec<String> = shape.fields.iter().map(|(k, _)| (*k).into()).collect();
            let mut known = serde_keys(shape.check);
            listed.sort();
            known.sort();
            assert_eq!(listed, known, "{name}");
        }
        // The checks are the structs they claim to be.
        assert!(serde_check::<CollectionRulesFile>(&json!({})).is_ok());
        assert!(serde_check::<DefaultRuleFile>(&json!({})).is_ok());
        assert!(serde_check::<RoleConfig>(&json!({"name": "r"})).is_ok());
        assert!(serde_check::<DocumentFiltersConfig>(&json!({})).is_ok());
        assert!(serde_check::<FieldConfig>(&json!({})).is_ok());
        assert!(serde_check::<AdditionalFieldsConfig>(&json!({})).is_ok());
        assert!(serde_check::<FilterConfig>(&json!({"name": "f"})).is_ok());
    }

    fn problems_of(value: Value) -> (Option<CollectionRulesFile>, Vec<String>) {
        let mut problems = Problems::default();
        let parsed = parse_all::<CollectionRulesFile>(
            "rules.json",
            &value,
            &COLLECTION_RULES_SHAPE,
            &mut problems,
        );
        let mut documents = Documents::new();
        documents.insert("rules.json".to_owned(), value);
        let errors = problems
            .finish(&documents)
            .err()
            .map(ConfigErrors::into_vec)
            .unwrap_or_default();
        (parsed, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_valid_file_has_no_problems() {
        let (parsed, errors) = problems_of(json!({"roles": [{"name": "r", "read": true}]}));
        assert!(errors.is_empty());
        assert_eq!(parsed.unwrap().roles.len(), 1);
    }

    #[test]
    fn every_problem_of_a_file_is_reported_in_file_order() {
        let (parsed, errors) = problems_of(json!({
            "roles": [
                {"name": "a", "raed": true, "apply_when": {}, "wirte": false},
                7,
                {"apply_when": {}},
                {"name": 5, "document_filters": "x",
                 "fields": {"f": {"read": true, "nope": 1}, "g": 3}},
            ],
            "filters": {"name": "f"},
            "database": 12,
            "extra": true,
        }));
        let expected = [
            "`rules.json` at `$.roles[0]`: unknown field `raed`",
            "`rules.json` at `$.roles[0]`: unknown field `wirte`",
            "`rules.json` at `$.roles[1]`: invalid type: integer `7`, expected struct RoleConfig",
            "`rules.json` at `$.roles[2]`: missing field `name`",
            "`rules.json` at `$.roles[3].name`: invalid type: integer `5`, expected a string",
            "`rules.json` at `$.roles[3].document_filters`: invalid type: string \"x\", expected struct DocumentFiltersConfig",
            "`rules.json` at `$.roles[3].fields.f`: unknown field `nope`",
            "`rules.json` at `$.roles[3].fields.g`: invalid type: integer `3`, expected struct FieldConfig",
            "`rules.json` at `$.filters`: invalid type: map, expected a sequence",
            "`rules.json` at `$.database`: invalid type: integer `12`, expected a string",
            "`rules.json` at `$`: unknown field `extra`",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (error, expected) in errors.iter().zip(expected) {
            assert!(error.starts_with(expected), "{error} / {expected}");
        }
        // The repaired copy keeps every role in its place, for compiling the rest.
        let parsed = parsed.unwrap();
        assert_eq!(parsed.roles.len(), 4);
        assert_eq!(parsed.roles[0].name, "a");
        assert!(parsed.roles[3].fields.as_ref().unwrap().contains_key("f"));
    }

    #[test]
    fn a_struct_written_as_an_array_is_left_to_serde() {
        // serde reads a struct from its fields in order; so does the walk.
        let (parsed, errors) = problems_of(json!({"roles": [["r"]], "bad": 1}));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(parsed.unwrap().roles[0].name, "r");
    }
}
