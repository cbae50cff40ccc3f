//! The decision API as the Data API will call it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{doc, Bson};
use rampart_mql::{ErrorKind, MqlError, Update, UpdateContext};
use rampart_rules::{
    AppConfig, CollectionConfig, CollectionRulesFile, DataSourceConfig, RuleSet, UpdateStep, User,
    WriteCheck, WriteOutcome,
};
use serde_json::json;

fn rules(collection: serde_json::Value, schema: Option<serde_json::Value>) -> RuleSet {
    rules_with_functions(collection, schema, &[])
}

fn rules_with_functions(
    collection: serde_json::Value,
    schema: Option<serde_json::Value>,
    functions: &[(&str, &str)],
) -> RuleSet {
    let file: CollectionRulesFile = serde_json::from_value(collection).unwrap();
    let mut source = DataSourceConfig::default();
    source.collections.insert(
        ("db".to_owned(), "c".to_owned()),
        CollectionConfig {
            rules: Some(file),
            rules_source: "rules.json".to_owned(),
            schema,
            schema_source: "schema.json".to_owned(),
        },
    );
    let mut config = AppConfig::default();
    config
        .data_sources
        .insert("mongodb-atlas".to_owned(), source);
    for (name, module) in functions {
        config
            .functions
            .insert((*name).to_owned(), (*module).to_owned());
    }
    RuleSet::compile(&config).unwrap()
}

fn user(id: &str) -> User {
    User {
        id: id.to_owned(),
        user_type: "normal".to_owned(),
        ..User::default()
    }
}

#[test]
fn an_erroring_rule_cannot_grant_access() {
    // `$in` with a non-array operand is an evaluation error: the role must not apply, and the
    // error must be reported.
    let set = rules(
        json!({"roles": [
            {"name": "broken", "apply_when": {"owner": {"$in": "%%user.id"}}, "read": true, "write": true},
        ]}),
        None,
    );
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let read = authorizer.read(doc! {"_id": 1, "owner": "u1"});
    assert!(read.document.is_none());
    assert!(read
        .explain
        .diagnostics
        .iter()
        .any(|d| d.contains("broken")));
    let insert = authorizer.authorize_insert(&doc! {"_id": 1, "owner": "u1"});
    assert_eq!(insert.outcome, WriteOutcome::Denied);
    let update = authorizer.authorize_update(
        &doc! {"_id": 1, "owner": "u1"},
        &doc! {"_id": 1, "owner": "u2"},
    );
    assert_eq!(update.outcome, WriteOutcome::NotMatched);
}

#[test]
fn an_erroring_role_does_not_fall_through_to_a_broader_role() {
    // The narrow role errs for this user; the broad role after it would grant everything.
    // Falling through would widen access, so the document gets no role at all.
    let set = rules(
        json!({"roles": [
            {"name": "broken", "apply_when": {"owner": {"$in": "%%user.id"}}, "read": false, "write": false},
            {"name": "everyone", "apply_when": {}, "read": true, "write": true},
        ]}),
        None,
    );
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let read = authorizer.read(doc! {"_id": 1, "owner": "u1"});
    assert!(read.document.is_none());
    assert_eq!(read.explain.role, None);
    assert!(read
        .explain
        .diagnostics
        .iter()
        .any(|d| d.contains("broken")));
    let update = authorizer.authorize_update(
        &doc! {"_id": 1, "owner": "u1"},
        &doc! {"_id": 1, "owner": "u2"},
    );
    assert_eq!(update.outcome, WriteOutcome::NotMatched);
    let insert = authorizer.authorize_insert(&doc! {"_id": 2, "owner": "u1"});
    assert_eq!(insert.outcome, WriteOutcome::Denied);
}

#[test]
fn an_erroring_field_permission_withholds_the_field() {
    let set = rules(
        json!({"roles": [{"name": "r", "apply_when": {},
            "fields": {"secret": {"read": {"%%this": {"$in": "%%user.id"}}}},
            "additional_fields": {"read": true}}]}),
        None,
    );
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let read = authorizer.read(doc! {"_id": 1, "secret": "s", "open": 1});
    assert_eq!(read.document, Some(doc! {"_id": 1, "open": 1}));
    assert_eq!(read.explain.withheld_fields[0].path, "secret");
}

#[test]
fn roles_that_do_not_read_the_document_are_decided_once_per_request() {
    let set = rules(
        json!({"roles": [{"name": "server", "apply_when": {"%%user.type": "server"}, "read": true},
                         {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true}]}),
        None,
    );
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let read = authorizer.read(doc! {"_id": 1, "owner": "u1"});
    assert!(read.explain.roles_tried[0].per_request);
    assert!(!read.explain.roles_tried[1].per_request);
    assert_eq!(read.explain.role.as_deref(), Some("owner"));
}

#[test]
fn function_results_decide_roles() {
    let module =
        "package functions\n\nimport rego.v1\n\nisAdmin := input.user.custom_data.admin == true\n";
    let set = rules_with_functions(
        json!({"roles": [{"name": "admin",
            "apply_when": {"%%true": {"%function": {"name": "isAdmin", "arguments": []}}},
            "read": true}]}),
        None,
        &[("isAdmin", module)],
    );
    let mut admin = user("u1");
    admin.custom_data = doc! {"admin": true};
    let yes = set.authorizer("mongodb-atlas", "db", "c", Some(&admin), None);
    assert!(yes.read(doc! {"_id": 1}).document.is_some());
    let no = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u2")), None);
    assert!(no.read(doc! {"_id": 1}).document.is_none());
}

#[test]
fn updates_need_write_on_every_changed_field_only() {
    let set = rules(
        json!({"roles": [{"name": "r", "apply_when": {}, "read": true,
            "fields": {"title": {"write": true}, "owner": {"write": false}}}]}),
        None,
    );
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let before = doc! {"_id": 1, "owner": "u1", "title": "a"};
    let ok = authorizer.authorize_update(&before, &doc! {"_id": 1, "owner": "u1", "title": "b"});
    assert_eq!(ok.outcome, WriteOutcome::Allowed);
    let removed = authorizer.authorize_update(&before, &doc! {"_id": 1, "title": "a"});
    assert_eq!(removed.outcome, WriteOutcome::Denied);
    assert_eq!(
        removed.explain.failed_check.as_deref(),
        Some("no write permission on `owner`")
    );
}

/// The owner may retitle their documents but not give them away; others' are hidden.
fn owned_titles() -> RuleSet {
    rules(
        json!({"roles": [{"name": "r", "apply_when": {}, "read": true,
            "document_filters": {"read": {"owner": "%%user.id"}, "write": {"owner": "%%user.id"}},
            "fields": {"title": {"write": true}, "owner": {"write": false}}}]}),
        None,
    )
}

fn update(spec: bson::Document) -> Update {
    Update::parse(&Bson::Document(spec), &[]).unwrap()
}

/// `Authorizer::apply_update` as `u1`.
fn step(before: &bson::Document, spec: bson::Document) -> Result<UpdateStep, MqlError> {
    let set = owned_titles();
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    authorizer.apply_update(before, &update(spec), &UpdateContext::default())
}

/// The after-image, whether it changed, and the decision of a step on a visible document.
fn matched(step: Result<UpdateStep, MqlError>) -> (bson::Document, bool, WriteCheck) {
    match step {
        Ok(UpdateStep::Matched {
            after,
            changed,
            check,
        }) => (after, changed, check),
        other => panic!("expected a matched document, got {other:?}"),
    }
}

fn mine() -> bson::Document {
    doc! {"_id": 1, "owner": "u1", "title": "a"}
}

#[test]
fn an_update_step_returns_the_after_image_and_its_decision() {
    let (after, changed, check) = matched(step(&mine(), doc! {"$set": {"title": "b"}}));
    assert_eq!(after, doc! {"_id": 1, "owner": "u1", "title": "b"});
    assert!(changed);
    assert_eq!(check.outcome, WriteOutcome::Allowed);
    assert_eq!(check.explain.role.as_deref(), Some("r"));

    let (after, changed, check) = matched(step(&mine(), doc! {"$set": {"title": "a"}}));
    assert_eq!(after, mine());
    assert!(!changed);
    assert_eq!(check.outcome, WriteOutcome::Allowed);

    // A replacement goes through the same step; `_id` stays.
    let (after, _, check) = matched(step(&mine(), doc! {"owner": "u1", "title": "c"}));
    assert_eq!(after, doc! {"_id": 1, "owner": "u1", "title": "c"});
    assert_eq!(check.outcome, WriteOutcome::Allowed);
}

#[test]
fn an_update_step_denies_a_change_to_a_field_that_is_not_writable() {
    let (after, _, check) = matched(step(&mine(), doc! {"$set": {"owner": "u2"}}));
    assert_eq!(after, doc! {"_id": 1, "owner": "u2", "title": "a"});
    assert_eq!(check.outcome, WriteOutcome::Denied);
    assert_eq!(
        check.explain.failed_check.as_deref(),
        Some("no write permission on `owner`")
    );
}

#[test]
fn an_update_step_does_not_match_a_document_the_user_cannot_see() {
    let theirs = doc! {"_id": 2, "owner": "u2", "title": "a"};
    let step = step(&theirs, doc! {"$set": {"title": "b"}});
    let Ok(UpdateStep::NotMatched(check)) = step else {
        panic!("expected a document the user cannot see, got {step:?}");
    };
    assert_eq!(check.outcome, WriteOutcome::NotMatched);
    assert_eq!(
        check.explain.failed_check.as_deref(),
        Some("document_filters: neither read nor write holds")
    );
}

#[test]
fn an_update_that_cannot_be_applied_to_a_hidden_document_does_not_reveal_it() {
    // `$inc` on a string fails, but the document is someone else's: not matched, no error
    // naming its field and type.
    let theirs = doc! {"_id": 2, "owner": "u2", "title": "a"};
    let step = step(&theirs, doc! {"$inc": {"title": 1}});
    assert!(
        matches!(step, Ok(UpdateStep::NotMatched(_))),
        "expected not matched, got {step:?}"
    );
}

#[test]
fn an_update_step_reports_an_update_that_cannot_be_applied() {
    let error = step(&mine(), doc! {"$inc": {"title": 1}}).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TypeMismatch);
    assert_eq!(
        error.message(),
        "cannot apply `$inc` to a value of non-numeric type string at `title`"
    );
}

#[test]
fn schema_validate_sees_before_and_after() {
    let set = rules(
        json!({"roles": [{"name": "rw", "apply_when": {}, "write": true}]}),
        Some(json!({"bsonType": "object", "properties": {
            "owner": {"bsonType": "string", "validate": {"%or": [{"%%prev": {"%exists": false}}, {"%%prev": "%%this"}]}}
        }})),
    );
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let before = doc! {"_id": 1, "owner": "u1"};
    let steal = authorizer.authorize_update(&before, &doc! {"_id": 1, "owner": "u2"});
    assert_eq!(steal.outcome, WriteOutcome::Invalid);
    let keep = authorizer.authorize_update(&before, &doc! {"_id": 1, "owner": "u1", "x": 1});
    assert_eq!(keep.outcome, WriteOutcome::Allowed);
}

#[test]
fn root_schema_tests_see_the_whole_document() {
    let rw = json!({"roles": [{"name": "rw", "apply_when": {}, "write": true, "insert": true}]});
    // A root `validate` sees the document as `%%this` and the stored one as `%%prev`.
    let set = rules(
        rw.clone(),
        Some(json!({"bsonType": "object", "required": ["n"],
            "validate": {"%or": [{"%%prev": {"%exists": false}}, {"%%this.n": {"%gte": "%%prev.n"}}]}})),
    );
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let before = doc! {"_id": 1, "n": 5};
    let down = authorizer.authorize_update(&before, &doc! {"_id": 1, "n": 4});
    assert_eq!(down.outcome, WriteOutcome::Invalid);
    let up = authorizer.authorize_update(&before, &doc! {"_id": 1, "n": 6});
    assert_eq!(up.outcome, WriteOutcome::Allowed);
    let missing = authorizer.authorize_insert(&doc! {"_id": 2});
    assert_eq!(missing.outcome, WriteOutcome::Invalid);
    // A root whose type can never be a document rejects every write.
    let set = rules(rw, Some(json!({"bsonType": "array"})));
    let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user("u1")), None);
    let insert = authorizer.authorize_insert(&doc! {"_id": 3});
    assert_eq!(insert.outcome, WriteOutcome::Invalid);
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let mut source = DataSourceConfig::default();
    let bad = json!({"roles": [{"name": "r", "apply_when": {}, "raed": true}]});
    let error = rampart_rules::simulate::simulate(&json!({
        "rules": {"collection": bad, "default": null},
        "documents_before": [],
        "operation": {"op": "find", "database": "db", "collection": "c", "filter": {}}
    }))
    .unwrap_err();
    assert!(
        error.to_string().contains("case.rules.collection"),
        "{error}"
    );
    assert!(error.to_string().contains("roles[0]"), "{error}");
    assert!(error.to_string().contains("raed"), "{error}");
    source.default_rule = None;
}

#[test]
fn schemas_reject_unknown_keywords() {
    let file: CollectionRulesFile = serde_json::from_value(json!({"roles": []})).unwrap();
    let mut source = DataSourceConfig::default();
    source.collections.insert(
        ("db".to_owned(), "c".to_owned()),
        CollectionConfig {
            rules: Some(file),
            rules_source: "rules.json".to_owned(),
            schema: Some(json!({"properties": {"a": {"bsonType": "string", "format": "email"}}})),
            schema_source: "schema.json".to_owned(),
        },
    );
    let mut config = AppConfig::default();
    config
        .data_sources
        .insert("mongodb-atlas".to_owned(), source);
    let error = RuleSet::compile(&config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`schema.json` at `$.properties.a.format`: unsupported schema keyword `format`"
    );
}

#[test]
fn rule_sets_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    assert_send_sync::<rampart_rules::Authorizer>();
}
