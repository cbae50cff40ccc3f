//! JSON to expression trees, with errors naming the file and JSON path.

use serde_json::{Map, Value};

use super::MAX_EXPRESSION_DEPTH;
use super::{prepared, Comparison, Conversion, Expression, Node, Operand, Reference, Source, Test};
use crate::error::{ConfigError, Origin};

use rampart_mql::WRAPPER_KEYS;

/// Parses an expression: a boolean or an object whose keys are ANDed.
pub(crate) fn parse_expression(value: &Value, at: &Origin<'_>) -> Result<Expression, ConfigError> {
    let node = expression(value, at, 0)?;
    let reads_document = node_reads(&node, Source::reads_document);
    let reads_value = node_reads(&node, Source::reads_value);
    Ok(Expression {
        node,
        reads_document,
        reads_value,
    })
}

/// Whether a subject or operand in the tree comes from a source `wanted` accepts.
fn node_reads(node: &Node, wanted: fn(Source) -> bool) -> bool {
    match node {
        Node::Constant(_) => false,
        Node::All(children) | Node::Any(children) => {
            children.iter().any(|child| node_reads(child, wanted))
        }
        Node::Test(node) => wanted(node.subject.source) || test_reads(&node.test, wanted),
    }
}

fn test_reads(test: &Test, wanted: fn(Source) -> bool) -> bool {
    match test {
        Test::Equals(operand) => operand.reads(wanted),
        Test::Compare(entries) => entries.iter().any(|(_, operand)| operand.reads(wanted)),
        Test::All(tests) | Test::Any(tests) => tests.iter().any(|inner| test_reads(inner, wanted)),
    }
}

fn check_depth(at: &Origin<'_>, depth: usize) -> Result<(), ConfigError> {
    if depth > MAX_EXPRESSION_DEPTH {
        return Err(at.error(format!(
            "expression nested deeper than {MAX_EXPRESSION_DEPTH} levels"
        )));
    }
    Ok(())
}

fn expression(value: &Value, at: &Origin<'_>, depth: usize) -> Result<Node, ConfigError> {
    check_depth(at, depth)?;
    match value {
        Value::Bool(constant) => Ok(Node::Constant(*constant)),
        Value::Object(map) => {
            let mut children = Vec::with_capacity(map.len());
            for (key, item) in map {
                children.push(entry(key, item, &at.key(key), depth)?);
            }
            Ok(match children.len() {
                1 => children.pop().unwrap_or(Node::Constant(true)),
                _ => Node::All(children),
            })
        }
        _ => Err(at.error("an expression must be a boolean or an object")),
    }
}

fn entry(key: &str, value: &Value, at: &Origin<'_>, depth: usize) -> Result<Node, ConfigError> {
    if key.starts_with("%%") {
        let subject = reference(key, at)?;
        return Ok(prepared::test_node(subject, test(value, at, depth + 1)?));
    }
    if let Some(name) = operator_name(key) {
        let list = expression_list(value, at, depth)?;
        return match name {
            "and" => Ok(Node::All(list)),
            "or" => Ok(Node::Any(list)),
            _ => Err(at.error(format!(
                "unknown expression operator `{key}` (expected `%and` or `%or`, or a field name)"
            ))),
        };
    }
    let path = field_path(key, at)?;
    let subject = Reference {
        source: Source::Root,
        path,
    };
    Ok(prepared::test_node(subject, test(value, at, depth + 1)?))
}

fn expression_list(value: &Value, at: &Origin<'_>, depth: usize) -> Result<Vec<Node>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(at.error("`%and` and `%or` take an array of expressions"));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| expression(item, &at.index(index), depth + 1))
        .collect()
}

/// `%name` or `$name` (not `%%`), without its prefix.
fn operator_name(key: &str) -> Option<&str> {
    if key.starts_with("%%") {
        return None;
    }
    key.strip_prefix('%').or_else(|| key.strip_prefix('$'))
}

fn field_path(key: &str, at: &Origin<'_>) -> Result<Vec<String>, ConfigError> {
    let parts: Vec<String> = key.split('.').map(str::to_owned).collect();
    if parts.iter().any(String::is_empty) {
        return Err(at.error(format!("field name `{key}` has an empty component")));
    }
    Ok(parts)
}

/// Parses an expansion such as `%%user.data.email`.
fn reference(text: &str, at: &Origin<'_>) -> Result<Reference, ConfigError> {
    let body = text.strip_prefix("%%").unwrap_or(text);
    let (head, rest) = match body.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (body, None),
    };
    let source = match head {
        "root" => Source::Root,
        "prevRoot" => Source::PrevRoot,
        "this" => Source::This,
        "prev" => Source::Prev,
        "user" => Source::User,
        "values" => Source::Values,
        "environment" => Source::Environment,
        "request" => Source::Request,
        "true" => Source::True,
        "false" => Source::False,
        _ => return Err(at.error(format!("unknown expansion `%%{head}`"))),
    };
    let path = match rest {
        None => Vec::new(),
        Some(_) if matches!(source, Source::True | Source::False) => {
            return Err(at.error(format!("`%%{head}` has no fields")))
        }
        Some(rest) => field_path(rest, at)?,
    };
    Ok(Reference { source, path })
}

/// The right-hand side of a key: operators, or a value to compare for equality.
fn test(value: &Value, at: &Origin<'_>, depth: usize) -> Result<Test, ConfigError> {
    check_depth(at, depth)?;
    let Value::Object(map) = value else {
        return Ok(Test::Equals(operand(value, at, depth)?));
    };
    if !has_comparison(map) {
        return Ok(Test::Equals(operand(value, at, depth)?));
    }
    let mut compare = Vec::new();
    let mut tests = Vec::new();
    for (key, item) in map {
        let here = at.key(key);
        let Some(name) = operator_name(key) else {
            return Err(here.error(format!(
                "`{key}` cannot be mixed with operators in the same object"
            )));
        };
        if let Some(comparison) = Comparison::from_name(name) {
            compare.push((comparison, operand(item, &here, depth + 1)?));
            continue;
        }
        match name {
            "and" | "or" => {
                let Value::Array(items) = item else {
                    return Err(here.error(format!("`{key}` takes an array")));
                };
                let list = items
                    .iter()
                    .enumerate()
                    .map(|(index, inner)| test(inner, &here.index(index), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                tests.push(if name == "and" {
                    Test::All(list)
                } else {
                    Test::Any(list)
                });
            }
            _ => return Err(here.error(format!("unknown operator `{key}`"))),
        }
    }
    if !compare.is_empty() {
        tests.push(Test::Compare(compare));
    }
    Ok(match tests.len() {
        1 => tests.pop().unwrap_or(Test::All(Vec::new())),
        _ => Test::All(tests),
    })
}

/// True when some key of `map` is a comparison or logical operator (not a value operator such
/// as `%function`, and not an Extended JSON wrapper).
fn has_comparison(map: &Map<String, Value>) -> bool {
    map.keys().any(|key| {
        operator_name(key).is_some_and(|name| {
            Comparison::from_name(name).is_some() || name == "and" || name == "or"
        }) || (operator_name(key).is_some()
            && !WRAPPER_KEYS.contains(&key.as_str())
            && conversion(key).is_none()
            && key != "%function")
    })
}

fn conversion(key: &str) -> Option<Conversion> {
    Some(match key {
        "%stringToOid" => Conversion::StringToOid,
        "%oidToString" => Conversion::OidToString,
        "%stringToUuid" => Conversion::StringToUuid,
        "%uuidToString" => Conversion::UuidToString,
        _ => return None,
    })
}

/// Parses a value: literal, expansion, value operator, or a document/array holding them.
pub(crate) fn parse_operand(value: &Value, at: &Origin<'_>) -> Result<Operand, ConfigError> {
    operand(value, at, 0)
}

fn operand(value: &Value, at: &Origin<'_>, depth: usize) -> Result<Operand, ConfigError> {
    check_depth(at, depth)?;
    match value {
        Value::String(text) if text.starts_with("%%") => {
            Ok(Operand::Reference(reference(text, at)?))
        }
        Value::Array(items) => {
            let items = items
                .iter()
                .enumerate()
                .map(|(index, item)| operand(item, &at.index(index), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(fold_array(items))
        }
        Value::Object(map) => object_operand(map, value, at, depth),
        _ => literal(value, at),
    }
}

fn object_operand(
    map: &Map<String, Value>,
    value: &Value,
    at: &Origin<'_>,
    depth: usize,
) -> Result<Operand, ConfigError> {
    if map
        .keys()
        .next()
        .is_some_and(|key| WRAPPER_KEYS.contains(&key.as_str()))
    {
        return literal(value, at);
    }
    if map.len() == 1 {
        if let Some((key, inner)) = map.iter().next() {
            if key == "%function" {
                return function(inner, &at.key(key), depth + 1);
            }
            if let Some(kind) = conversion(key) {
                let inner = operand(inner, &at.key(key), depth + 1)?;
                if !matches!(inner, Operand::Literal(_) | Operand::Reference(_)) {
                    return Err(at
                        .key(key)
                        .error(format!("`{key}` takes a literal or an expansion")));
                }
                return Ok(Operand::Convert(kind, Box::new(inner)));
            }
        }
    }
    let mut entries = Vec::with_capacity(map.len());
    for (key, item) in map {
        if key == "%function" || conversion(key).is_some() {
            return Err(at
                .key(key)
                .error(format!("`{key}` must be the only key of its object")));
        }
        entries.push((key.clone(), operand(item, &at.key(key), depth + 1)?));
    }
    Ok(fold_document(entries))
}

fn function(value: &Value, at: &Origin<'_>, depth: usize) -> Result<Operand, ConfigError> {
    let Value::Object(map) = value else {
        return Err(at.error("`%function` takes `{\"name\": ..., \"arguments\": [...]}`"));
    };
    if let Some(key) = map.keys().find(|key| *key != "name" && *key != "arguments") {
        return Err(at
            .key(key)
            .error(format!("unknown key `{key}` in `%function`")));
    }
    let Some(Value::String(name)) = map.get("name") else {
        return Err(at.key("name").error("`%function` needs a string `name`"));
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(at.key("name").error(format!(
            "function name `{name}` must be letters, digits and underscores"
        )));
    }
    let arguments = match map.get("arguments") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| operand(item, &at.key("arguments").index(index), depth + 1))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(at.key("arguments").error("`arguments` must be an array")),
    };
    Ok(Operand::Function {
        name: name.clone(),
        arguments,
    })
}

fn literal(value: &Value, at: &Origin<'_>) -> Result<Operand, ConfigError> {
    rampart_mql::from_json_value(value)
        .map(Operand::Literal)
        .map_err(|error| at.error(error.to_string()))
}

fn fold_array(items: Vec<Operand>) -> Operand {
    if items.iter().all(|item| matches!(item, Operand::Literal(_))) {
        let values = items
            .into_iter()
            .filter_map(|item| match item {
                Operand::Literal(value) => Some(value),
                _ => None,
            })
            .collect();
        return Operand::Literal(bson::Bson::Array(values));
    }
    Operand::Array(items)
}

fn fold_document(entries: Vec<(String, Operand)>) -> Operand {
    if entries
        .iter()
        .all(|(_, item)| matches!(item, Operand::Literal(_)))
    {
        let mut doc = bson::Document::new();
        for (key, item) in entries {
            if let Operand::Literal(value) = item {
                doc.insert(key, value);
            }
        }
        return Operand::Literal(bson::Bson::Document(doc));
    }
    Operand::Document(entries)
}
