use bson::{doc, Bson};
use serde_json::json;

use super::*;
use crate::error::{JsonPath, Origin};

fn compile(value: serde_json::Value) -> Expression {
    parse_expression(&value, &Origin::new("test", JsonPath::root())).unwrap()
}

fn scope_user() -> RequestScope {
    RequestScope {
        user: Some(Bson::Document(
            doc! {"id": "u1", "data": {"groups": ["a", "b"], "limit": 3}},
        )),
        ..RequestScope::default()
    }
}

fn holds(expression: &Expression, root: Option<&bson::Document>) -> Result<bool, EvalError> {
    let request = scope_user();
    let scope = Scope {
        request: &request,
        root: root.map(Image::Decoded),
        prev_root: None,
        this: None,
        prev: None,
    };
    expression.evaluate(&scope, &Budget::default())
}

#[test]
fn empty_object_is_true_and_keys_are_anded() {
    assert!(holds(&compile(json!({})), None).unwrap());
    let both = compile(json!({"owner": "%%user.id", "x": {"$gt": 1}}));
    assert!(holds(&both, Some(&doc! {"owner": "u1", "x": 2})).unwrap());
    assert!(!holds(&both, Some(&doc! {"owner": "u1", "x": 1})).unwrap());
}

#[test]
fn unresolved_expansion_matches_nothing_even_with_ne() {
    let ne = compile(json!({"owner": {"$ne": "%%user.custom_data.missing"}}));
    assert!(!holds(&ne, Some(&doc! {"owner": "u1"})).unwrap());
}

#[test]
fn array_subjects_use_mongodb_semantics() {
    let member = compile(json!({"%%user.data.groups": "b"}));
    assert!(holds(&member, None).unwrap());
    let exists = compile(json!({"%%prevRoot": {"%exists": false}}));
    assert!(holds(&exists, None).unwrap());
}

#[test]
fn reading_the_document_without_one_is_an_error() {
    let owner = compile(json!({"owner": "%%user.id"}));
    assert!(owner.reads_document());
    assert_eq!(holds(&owner, None), Err(EvalError::DocumentUnavailable));
}

#[test]
fn conversions_round_trip() {
    let oid = compile(json!({"_id": {"%stringToOid": "65d000000000000000000001"}}));
    let id = bson::oid::ObjectId::parse_str("65d000000000000000000001").unwrap();
    assert!(holds(&oid, Some(&doc! {"_id": id})).unwrap());
    let uuid = compile(json!({"%%true": {"%and": [{"$exists": true}]}}));
    assert!(holds(&uuid, None).unwrap());
}

#[test]
fn unknown_expansions_and_operators_are_config_errors() {
    let at = Origin::new("rules.json", JsonPath::root().key("apply_when"));
    let error = parse_expression(&json!({"%%ctx.user": 1}), &at).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`rules.json` at `$.apply_when[\"%%ctx.user\"]`: unknown expansion `%%ctx`"
    );
    assert!(parse_expression(&json!({"%nor": []}), &at).is_err());
    assert!(parse_expression(&json!({"a": {"$regex": "x"}}), &at).is_err());
    assert!(parse_expression(&json!("yes"), &at).is_err());
}

#[test]
fn depth_is_bounded() {
    let mut value = json!(true);
    for _ in 0..(MAX_EXPRESSION_DEPTH + 2) {
        value = json!({"%or": [value]});
    }
    let at = Origin::new("rules.json", JsonPath::root());
    assert!(parse_expression(&value, &at).is_err());
}

/// Every plan (compiled with the rules, once per request, per document) must decide exactly
/// as building and compiling the filter at each evaluation did.
#[test]
fn prepared_tests_decide_as_the_uncached_path() {
    let subjects = [
        "owner",
        "a.b",
        "tags",
        "%%root",
        "%%root.owner",
        "%%prevRoot",
        "%%prevRoot.a.b",
        "%%this",
        "%%this.b",
        "%%prev",
        "%%user.id",
        "%%user.data.groups",
        "%%true",
    ];
    let tests = [
        json!("u1"),
        json!(2),
        json!(null),
        json!({"$in": ["u1", "x", 3]}),
        json!({"$nin": ["u1", null]}),
        json!({"$exists": true}),
        json!({"$exists": false}),
        json!({"%exists": 0, "$ne": 1}),
        json!({"$gt": 1}),
        json!({"$lte": "u1"}),
        json!({"$ne": null}),
        json!(["u1", "u2"]),
        json!({"b": 2}),
        json!("%%user.id"),
        json!({"$in": "%%user.data.groups"}),
        json!({"%or": [{"$eq": 1}, {"$exists": false}]}),
        json!({"%and": [{"$gt": 0}, {"$lt": "%%user.data.limit"}]}),
        json!({"$in": "x"}),
        json!({"$in": "%%user.id"}),
        json!("%%user.missing"),
        json!({"$ne": "%%user.missing"}),
        json!("%%root.owner"),
        json!({"$in": ["%%prevRoot.owner", "u9"]}),
        json!("%%this"),
    ];
    let documents = [
        doc! {"owner": "u1", "a": {"b": 2}, "tags": ["a", "b"]},
        doc! {"owner": ["u1", "u3"], "a": [{"b": 1}, {"b": 3}], "tags": []},
        doc! {},
        doc! {"a": 5, "owner": null},
    ];
    let values = [
        None,
        Some(Bson::Int32(1)),
        Some(Bson::String("u1".into())),
        Some(bson::bson!([1, "u1"])),
        Some(bson::bson!({"b": 2})),
        Some(bson::bson!([{"b": 1}, {"b": 5}])),
    ];
    let mut request = scope_user();
    let mut compared = 0;
    for subject in subjects {
        for test in &tests {
            let mut expression = compile(json!({ subject: test }));
            let mut slots = 0;
            expression.number_slots(&mut slots);
            request.prepared = Slots::new(slots);
            let Node::Test(node) = &expression.node else {
                panic!("one test")
            };
            for root in documents.iter().map(Some).chain([None]) {
                for prev_root in [None, documents.first()] {
                    for value in &values {
                        let scope = Scope {
                            request: &request,
                            root: root.map(Image::Decoded),
                            prev_root: prev_root.map(Image::Decoded),
                            this: value.as_ref(),
                            prev: value.as_ref(),
                        };
                        let expected =
                            eval::run_test(&node.subject, &node.test, &scope, &Budget::default());
                        for _ in 0..2 {
                            let actual = expression.evaluate(&scope, &Budget::default());
                            assert_eq!(
                                actual, expected,
                                "{subject}: {test} on {root:?} / {value:?}"
                            );
                        }
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 10_000);
}
