//! Comparing a simulated outcome with a case's `expected`: documents compare as Extended JSON
//! values with field order ignored and numbers by value; any listed variant passes.

use bson::Bson;
use rampart_mql::{from_json_value, is_number, number, to_plain_json};
use serde_json::{Map, Value};

/// `Ok` when `actual` (the output of [`super::simulate`]) satisfies the case's `expected`;
/// otherwise a one-line reason.
pub fn check_expected(case: &Value, actual: &Value) -> Result<(), String> {
    let expected = case
        .get("expected")
        .and_then(Value::as_object)
        .ok_or("the case has no `expected` object")?;
    if let Some(after) = expected.get("documents_after") {
        let actual_after = actual.get("documents_after").unwrap_or(&Value::Null);
        if !json_equivalent(after, actual_after) {
            return Err(format!(
                "documents_after differs: got {}",
                compact(actual_after)
            ));
        }
    }
    let operation = case.get("operation").unwrap_or(&Value::Null);
    let mut forms: Vec<&Map<String, Value>> = vec![expected];
    if let Some(Value::Array(variants)) = expected.get("acceptable_variants") {
        forms.extend(variants.iter().filter_map(Value::as_object));
    }
    if let Some(Value::Object(alternative)) = expected.get("alternative") {
        forms.push(alternative);
    }
    if forms
        .iter()
        .any(|form| form_matches(form, actual, operation))
    {
        return Ok(());
    }
    let summary = match actual.get("result") {
        Some(result) => format!("result {}", compact(result)),
        None => format!(
            "{} `{}`",
            actual
                .get("outcome")
                .and_then(Value::as_str)
                .unwrap_or("nothing"),
            actual.get("error").and_then(Value::as_str).unwrap_or("")
        ),
    };
    Err(format!("got {summary}"))
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 400 {
        format!("{}...", text.chars().take(400).collect::<String>())
    } else {
        text
    }
}

fn form_matches(form: &Map<String, Value>, actual: &Value, operation: &Value) -> bool {
    if let Some(status) = form.get("http_status").and_then(Value::as_u64) {
        return data_api_matches(status, form.get("body"), actual, operation);
    }
    if let Some(result) = form.get("result") {
        return actual
            .get("result")
            .is_some_and(|actual| json_equivalent(result, actual));
    }
    let Some(outcome) = form.get("outcome") else {
        return false;
    };
    if actual.get("outcome") != Some(outcome) {
        return false;
    }
    match form.get("error") {
        None => true,
        Some(error) => actual.get("error") == Some(error),
    }
}

/// Data API cases: 200 with the response body (wrapped and, for `Accept: application/json`,
/// downgraded to plain JSON), or an error status for a refusal.
fn data_api_matches(status: u64, body: Option<&Value>, actual: &Value, operation: &Value) -> bool {
    let Some(result) = actual.get("result") else {
        return status != 200;
    };
    if status != 200 {
        return false;
    }
    let op = operation.get("op").and_then(Value::as_str).unwrap_or("");
    let wrapped = match op {
        "find" | "aggregate" => serde_json::json!({"documents": result}),
        "findOne" => serde_json::json!({"document": result}),
        _ => result.clone(),
    };
    let accept = operation
        .get("headers")
        .and_then(|headers| headers.get("Accept"))
        .and_then(Value::as_str)
        .unwrap_or("application/ejson");
    let response = if accept.contains("application/json") {
        match from_json_value(&wrapped) {
            Ok(value) => to_plain_json(&value),
            Err(_) => return false,
        }
    } else {
        wrapped
    };
    body.is_some_and(|body| json_equivalent(body, &response))
}

fn json_equivalent(expected: &Value, actual: &Value) -> bool {
    match (from_json_value(expected), from_json_value(actual)) {
        (Ok(expected), Ok(actual)) => equivalent(&expected, &actual),
        _ => false,
    }
}

/// Equality with field order ignored and numbers compared by value.
pub(crate) fn equivalent(a: &Bson, b: &Bson) -> bool {
    if is_number(a) && is_number(b) {
        return match (number(a), number(b)) {
            (Some(x), Some(y)) => x.as_f64() == y.as_f64(),
            _ => false,
        };
    }
    match (a, b) {
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, value)| y.get(key).is_some_and(|other| equivalent(value, other)))
        }
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(left, right)| equivalent(left, right))
        }
        _ => a == b,
    }
}
