//! Result matching of the unified test format ("Evaluating Matches"): special `$$` operators,
//! numbers equal across types, extra fields allowed only in root-level documents (a document
//! that is the result, or an element of a result array).

use bson::{Bson, Document};

/// Checks `actual` against `expected`; the error names the first path that differs.
pub fn matches(
    expected: &Bson,
    actual: Option<&Bson>,
    root: bool,
    path: &str,
) -> Result<(), String> {
    if let Bson::Document(spec) = expected {
        if let Some(outcome) = special(spec, actual, root, path) {
            return outcome;
        }
    }
    let Some(actual) = actual else {
        return Err(format!("{path}: missing, expected {expected}"));
    };
    match (expected, actual) {
        (Bson::Document(expected), Bson::Document(actual)) => {
            documents(expected, actual, root, path)
        }
        (Bson::Array(expected), Bson::Array(actual)) => {
            if expected.len() != actual.len() {
                return Err(format!(
                    "{path}: expected {} element(s), got {}: {}",
                    expected.len(),
                    actual.len(),
                    Bson::Array(actual.clone())
                ));
            }
            for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
                matches(e, Some(a), root, &format!("{path}.{index}"))?;
            }
            Ok(())
        }
        _ => {
            let numeric = rampart_mql::is_number(expected) && rampart_mql::is_number(actual);
            if expected == actual || (numeric && rampart_mql::values_equal(expected, actual)) {
                Ok(())
            } else {
                Err(format!("{path}: expected {expected}, got {actual}"))
            }
        }
    }
}

fn documents(expected: &Document, actual: &Document, root: bool, path: &str) -> Result<(), String> {
    for (key, value) in expected {
        matches(value, actual.get(key), false, &format!("{path}.{key}"))?;
    }
    if !root {
        if let Some(extra) = actual.keys().find(|key| !expected.contains_key(*key)) {
            return Err(format!("{path}: unexpected field `{extra}`"));
        }
    }
    Ok(())
}

fn special(
    spec: &Document,
    actual: Option<&Bson>,
    root: bool,
    path: &str,
) -> Option<Result<(), String>> {
    let (operator, operand) = spec.iter().next()?;
    if spec.len() != 1 || !operator.starts_with("$$") {
        return None;
    }
    Some(match operator.as_str() {
        "$$exists" => {
            let want = operand.as_bool().unwrap_or(true);
            if actual.is_some() == want {
                Ok(())
            } else {
                Err(format!("{path}: expected $$exists {want}"))
            }
        }
        "$$type" => type_matches(operand, actual, path),
        "$$unsetOrMatches" => match actual {
            None => Ok(()),
            Some(actual) => matches(operand, Some(actual), root, path),
        },
        other => Err(format!(
            "{path}: special operator `{other}` is not supported by this runner"
        )),
    })
}

fn type_matches(operand: &Bson, actual: Option<&Bson>, path: &str) -> Result<(), String> {
    let Some(actual) = actual else {
        return Err(format!("{path}: missing, expected $$type {operand}"));
    };
    let names: Vec<&str> = match operand {
        Bson::String(name) => vec![name.as_str()],
        Bson::Array(items) => items.iter().filter_map(Bson::as_str).collect(),
        _ => Vec::new(),
    };
    let name = rampart_mql::type_name(actual);
    if names.contains(&name) || (names.contains(&"number") && rampart_mql::is_number(actual)) {
        Ok(())
    } else {
        Err(format!("{path}: expected $$type {operand}, got {name}"))
    }
}
