//! `rampart rules check`: lints over a loaded app, beyond what loading and compiling reject
//! (unknown keys, bad expressions and schemas are already errors).

use serde_json::Value;

use crate::config::{AppConfig, FieldConfig, FilterConfig, RoleConfig};
use crate::error::JsonPath;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// The file.
    pub file: String,
    /// The JSON path inside it.
    pub path: String,
    /// What looks wrong.
    pub message: String,
}

/// Lints an app: roles shadowed by an earlier role that always applies, permissions on fields
/// the schema does not have, `read`/`write: false` next to field-level grants (which the
/// explicit `false` overrides), and filters that can never apply.
pub fn lint(config: &AppConfig) -> Vec<Lint> {
    let mut lints = Vec::new();
    for source in config.data_sources.values() {
        if let Some(default) = &source.default_rule {
            let file = &source.default_rule_source;
            lint_roles(&default.roles, None, file, &mut lints);
            lint_filters(&default.filters, file, &mut lints);
        }
        for collection in source.collections.values() {
            if let Some(rules) = &collection.rules {
                let properties = collection
                    .schema
                    .as_ref()
                    .and_then(|schema| schema.get("properties"))
                    .and_then(Value::as_object);
                let file = &collection.rules_source;
                lint_roles(&rules.roles, properties, file, &mut lints);
                lint_filters(&rules.filters, file, &mut lints);
            }
        }
    }
    lints
}

fn push(lints: &mut Vec<Lint>, file: &str, path: &JsonPath, message: String) {
    lints.push(Lint {
        file: file.to_owned(),
        path: path.to_string(),
        message,
    });
}

/// `None`, `{}`, `true` and `{"%%true": true}` always hold.
fn always(expression: Option<&Value>) -> bool {
    match expression {
        None => true,
        Some(Value::Bool(value)) => *value,
        Some(Value::Object(map)) => {
            map.is_empty() || (map.len() == 1 && map.get("%%true") == Some(&Value::Bool(true)))
        }
        Some(_) => false,
    }
}

/// `false`, `{"%%true": false}` and `{"%%false": true}` never hold.
fn never(expression: Option<&Value>) -> bool {
    match expression {
        Some(Value::Bool(false)) => true,
        Some(Value::Object(map)) if map.len() == 1 => {
            map.get("%%true") == Some(&Value::Bool(false))
                || map.get("%%false") == Some(&Value::Bool(true))
        }
        _ => false,
    }
}

fn grants(value: Option<&Value>) -> bool {
    value.is_some_and(|value| value != &Value::Bool(false))
}

fn lint_roles(
    roles: &[RoleConfig],
    properties: Option<&serde_json::Map<String, Value>>,
    file: &str,
    lints: &mut Vec<Lint>,
) {
    let mut shadowing: Option<&str> = None;
    for (index, role) in roles.iter().enumerate() {
        let at = JsonPath::root().key("roles").index(index);
        if let Some(earlier) = shadowing {
            push(
                lints,
                file,
                &at,
                format!(
                    "role `{}` is never chosen: the earlier role `{earlier}` always applies",
                    role.name
                ),
            );
        } else if always(role.apply_when.as_ref()) {
            shadowing = Some(&role.name);
        }
        let fields = role.fields.as_ref();
        let field_write = fields
            .is_some_and(|fields| fields.values().any(|f| grants(f.write.as_ref())))
            || role
                .additional_fields
                .as_ref()
                .is_some_and(|a| grants(a.write.as_ref()));
        if role.write == Some(Value::Bool(false)) && field_write {
            push(
                lints,
                file,
                &at.key("write"),
                "`write: false` overrides the field-level write grants of this role".to_owned(),
            );
        }
        let field_read = fields
            .is_some_and(|fields| fields.values().any(|f| grants(f.read.as_ref())))
            || role
                .additional_fields
                .as_ref()
                .is_some_and(|a| grants(a.read.as_ref()));
        if role.read == Some(Value::Bool(false)) && field_read && !grants(role.write.as_ref()) {
            push(
                lints,
                file,
                &at.key("read"),
                "`read: false` overrides the field-level read grants of this role".to_owned(),
            );
        }
        if let (Some(fields), Some(properties)) = (fields, properties) {
            lint_fields(fields, properties, &at.key("fields"), file, lints);
        }
    }
}

fn lint_fields(
    fields: &std::collections::BTreeMap<String, FieldConfig>,
    properties: &serde_json::Map<String, Value>,
    at: &JsonPath,
    file: &str,
    lints: &mut Vec<Lint>,
) {
    for (name, field) in fields {
        let Some(property) = properties.get(name) else {
            push(
                lints,
                file,
                &at.key(name),
                format!("field `{name}` is not in the collection schema"),
            );
            continue;
        };
        let nested = property.get("properties").and_then(Value::as_object);
        if let (Some(inner), Some(nested)) = (&field.fields, nested) {
            lint_fields(inner, nested, &at.key(name).key("fields"), file, lints);
        }
    }
}

fn lint_filters(filters: &[FilterConfig], file: &str, lints: &mut Vec<Lint>) {
    for (index, filter) in filters.iter().enumerate() {
        if never(filter.apply_when.as_ref()) {
            push(
                lints,
                file,
                &JsonPath::root()
                    .key("filters")
                    .index(index)
                    .key("apply_when"),
                format!("filter `{}` can never apply", filter.name),
            );
        }
    }
}
