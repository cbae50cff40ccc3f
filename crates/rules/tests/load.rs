//! Loading an app directory: every problem of every file, in a stable order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use rampart_rules::{load_and_compile, load_app, ConfigErrors, LoadOptions};

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Each error as `file-relative-to-the-app at path: message`, message cut at `, expected`.
fn lines(app: &Path, errors: &ConfigErrors) -> Vec<String> {
    let prefix = format!("{}/", app.display());
    errors
        .iter()
        .map(|error| {
            let line = error.to_string().replace(&prefix, "");
            match line.split_once(", expected") {
                Some((head, _)) => head.to_owned(),
                None => line,
            }
        })
        .collect()
}

/// An exported app with problems in several files, some with several problems each.
fn broken_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path();
    write(
        app,
        "data_sources/mongodb-atlas/default_rule.json",
        r#"{"roles": [{"name": "default", "apply_when": {}, "read": true, "delet": false}]}"#,
    );
    write(
        app,
        "data_sources/mongodb-atlas/shop/orders/rules.json",
        r#"{
            "database": "other",
            "roles": [
                {"name": "owner", "apply_when": {"%%usr.id": 1}, "raed": true},
                {"name": "reader", "fields": {"total": {"raed": true}, "a.b": {"read": true}}},
                {"name": "owner", "read": 5}
            ],
            "filters": [{"name": "mine", "query": {"owner": "%%root.x"}, "projections": {}}]
        }"#,
    );
    write(
        app,
        "data_sources/mongodb-atlas/shop/items/rules.json",
        r#"{"roles": [{"name": "any", "apply_when": {"%%user.nope": {"%bad": 1}}}]}"#,
    );
    write(
        app,
        "data_sources/mongodb-atlas/shop/items/schema.json",
        r#"{"properties": {"price": {"minimum": "0"}, "name": {"format": "email"}}}"#,
    );
    write(
        app,
        "data_sources/mongodb-atlas/shop/notes/rules.json",
        r#"{"roles": ["#,
    );
    write(app, "values/limit.json", r#"{"name": "limit", "vlaue": 5}"#);
    write(app, "functions/ok.rego", "package functions\nok := true\n");
    dir
}

#[test]
fn load_and_compile_reports_every_problem_of_every_file_in_file_order() {
    let dir = broken_app();
    let errors = load_and_compile(dir.path(), &LoadOptions::default()).unwrap_err();
    assert_eq!(
        lines(dir.path(), &errors),
        [
            "`data_sources/mongodb-atlas/default_rule.json` at `$.roles[0]`: unknown field `delet`",
            "`data_sources/mongodb-atlas/shop/items/rules.json` at `$.roles[0].apply_when[\"%%user.nope\"].%bad`: unknown operator `%bad`",
            "`data_sources/mongodb-atlas/shop/items/schema.json` at `$.properties.price.minimum`: must be a number",
            "`data_sources/mongodb-atlas/shop/items/schema.json` at `$.properties.name.format`: unsupported schema keyword `format`",
            "`data_sources/mongodb-atlas/shop/notes/rules.json` at `$`: invalid JSON at line 1 column 11: EOF while parsing a list at line 1 column 11",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.database`: `other` does not match the directory name `shop`",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[0].apply_when[\"%%usr.id\"]`: unknown expansion `%%usr`",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[0]`: unknown field `raed`",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[1].fields.total`: unknown field `raed`",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[1].fields[\"a.b\"]`: field name `a.b` must be one plain name (nest embedded fields under `fields`)",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[2].name`: duplicate role name `owner`",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[2].read`: an expression must be a boolean or an object",
            // The query comes before the unknown key in the file.
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.filters[0].query`: a filter's query cannot refer to the document",
            "`data_sources/mongodb-atlas/shop/orders/rules.json` at `$.filters[0]`: unknown field `projections`",
            "`values/limit.json` at `$`: unknown field `vlaue`",
        ]
    );
    assert!(errors.to_string().ends_with("(and 14 more)"), "{errors}");

    // Loading alone reports the problems of reading, not those of compiling.
    let errors = load_app(dir.path(), &LoadOptions::default()).unwrap_err();
    assert_eq!(errors.len(), 7, "{:#?}", lines(dir.path(), &errors));
}

#[test]
fn a_valid_app_loads_and_compiles() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "data_sources/mongodb-atlas/shop/orders/rules.json",
        r#"{"roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true}]}"#,
    );
    let loaded = load_and_compile(dir.path(), &LoadOptions::default()).unwrap();
    let namespace = loaded.rules.namespace("mongodb-atlas", "shop", "orders");
    assert_eq!(namespace.role_names().collect::<Vec<_>>(), ["owner"]);
    assert_eq!(loaded.config.data_sources.len(), 1);
}
