//! Role conditions pushed down into reads (`Authorizer::plan_read`): the pushed-down query is a
//! superset of the visible documents (property), and the shapes it takes for the usual rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{doc, Bson, Document};
use proptest::prelude::*;
use rampart_mql::Filter;
use rampart_rules::{RuleSet, User};
use serde_json::{json, Value};

const NAMESPACE: (&str, &str, &str) = ("svc", "db", "items");

fn rules(roles: Value) -> RuleSet {
    RuleSet::from_collection_json(NAMESPACE, Some(&json!({ "roles": roles })), None, None).unwrap()
}

fn user(id: &str, teams: Option<Bson>) -> User {
    let mut custom_data = Document::new();
    if let Some(teams) = teams {
        custom_data.insert("teams", teams);
    }
    User {
        id: id.to_owned(),
        user_type: "normal".to_owned(),
        custom_data,
        ..User::default()
    }
}

fn plan(rules: &RuleSet, user: &User) -> rampart_rules::QueryPlan {
    let (service, database, collection) = NAMESPACE;
    rules
        .authorizer(service, database, collection, Some(user), None)
        .plan_read(&Document::new())
}

/// Conditions built from what owner-style rules use, including ones with no store query.
fn leaf() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({"owner": "%%user.id"}),
        json!({"team": {"%in": "%%user.custom_data.teams"}}),
        json!({"team": "%%user.custom_data.teams"}),
        json!({"status": "public"}),
        json!({"status": {"%ne": "private"}}),
        json!({"a": {"%gt": 1}}),
        json!({"a": {"%exists": false}}),
        json!({"owner": {"%nin": ["%%user.id"]}}),
        json!(true),
        json!(false),
        json!({}),
        json!({"owner": "%%user.custom_data.missing"}),
        json!({"%%user.id": "u1"}),
        json!({"%%user.custom_data.teams": {"%exists": true}}),
        json!({"%%prevRoot.owner": "%%user.id"}),
        json!({"owner": "%%root.team"}),
        json!({"%%root": {"%exists": true}}),
    ])
}

fn condition() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|items| json!({"%or": items})),
            prop::collection::vec(inner, 0..3).prop_map(|items| json!({"%and": items})),
        ]
    })
}

fn optional_permission() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(json!(true))),
        1 => Just(Some(json!(false))),
        2 => condition().prop_map(Some),
    ]
}

fn role() -> impl Strategy<Value = Value> {
    (
        condition(),
        proptest::option::of((optional_permission(), optional_permission())),
        optional_permission(),
        optional_permission(),
        prop::sample::select(vec![None, Some(true), Some(false)]),
    )
        .prop_map(|(apply_when, filters, read, write, field_read)| {
            let mut role = json!({"name": "r", "apply_when": apply_when});
            if let Some((filter_read, filter_write)) = filters {
                let mut document_filters = serde_json::Map::new();
                if let Some(value) = filter_read {
                    document_filters.insert("read".into(), value);
                }
                if let Some(value) = filter_write {
                    document_filters.insert("write".into(), value);
                }
                role["document_filters"] = Value::Object(document_filters);
            }
            if let Some(value) = read {
                role["read"] = value;
            }
            if let Some(value) = write {
                role["write"] = value;
            }
            if let Some(value) = field_read {
                role["fields"] = json!({"a": {"read": value}});
            }
            role
        })
}

fn roles() -> impl Strategy<Value = Value> {
    prop::collection::vec(role(), 0..4).prop_map(|roles| {
        let named: Vec<Value> = roles
            .into_iter()
            .enumerate()
            .map(|(index, mut role)| {
                role["name"] = json!(format!("r{index}"));
                role
            })
            .collect();
        Value::Array(named)
    })
}

fn value_of(choices: Vec<Option<Bson>>) -> impl Strategy<Value = Option<Bson>> {
    prop::sample::select(choices)
}

fn document() -> impl Strategy<Value = Document> {
    let owner = value_of(vec![
        Some(Bson::from("u1")),
        Some(Bson::from("u2")),
        None,
        Some(Bson::Array(vec!["u1".into(), "u3".into()])),
        Some(Bson::Null),
    ]);
    let team = value_of(vec![
        Some(Bson::from("t1")),
        Some(Bson::from("t2")),
        None,
        Some(Bson::Array(vec!["t1".into(), "t3".into()])),
        Some(Bson::from("u1")),
    ]);
    let status = value_of(vec![
        Some(Bson::from("public")),
        Some(Bson::from("private")),
        None,
    ]);
    let number = value_of(vec![None, Some(Bson::Int32(0)), Some(Bson::Int32(2))]);
    (owner, team, status, number).prop_map(|(owner, team, status, number)| {
        let mut document = doc! {"_id": 1};
        for (name, value) in [
            ("owner", owner),
            ("team", team),
            ("status", status),
            ("a", number),
        ] {
            if let Some(value) = value {
                document.insert(name, value);
            }
        }
        document
    })
}

fn test_user() -> impl Strategy<Value = User> {
    let teams = value_of(vec![
        None,
        Some(Bson::Array(vec!["t1".into()])),
        Some(Bson::Array(vec!["t2".into(), "t3".into()])),
        Some(Bson::Array(Vec::new())),
        // Not an array: `%in` errs, which must never widen what is visible.
        Some(Bson::from("t1")),
    ]);
    (prop::sample::select(vec!["u1", "u2"]), teams).prop_map(|(id, teams)| user(id, teams))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// INVARIANT: pushing the role condition down never hides a document the rules return.
    #[test]
    fn pushed_down_query_keeps_every_visible_document(
        roles in roles(),
        user in test_user(),
        documents in prop::collection::vec(document(), 1..8),
    ) {
        let rules = rules(roles.clone());
        let plan = plan(&rules, &user);
        prop_assert!(plan.error().is_none());
        prop_assert!(plan.role_pushdown.is_some() != plan.role_pushdown_skipped.is_some());
        let filter = plan.query().map(|query| Filter::compile(query).unwrap());
        let (service, database, collection) = NAMESPACE;
        let authorizer = rules.authorizer(service, database, collection, Some(&user), None);
        for document in documents {
            if authorizer.read(document.clone()).document.is_none() {
                continue;
            }
            let matched = filter.as_ref().is_some_and(|filter| filter.matches(&document).unwrap());
            prop_assert!(
                matched,
                "visible document {document} not matched by {:?} (roles {roles})",
                plan.query()
            );
        }
    }
}

#[test]
fn owner_and_public_roles_push_down_an_or() {
    let rules = rules(json!([
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true},
        {"name": "public_reader", "apply_when": {"public": true},
         "fields": {"_id": {"read": true}, "title": {"read": true}}},
    ]));
    let plan = plan(&rules, &user("u1", None));
    let expected = doc! {"$or": [
        {"owner": {"$eq": "u1"}},
        {"public": {"$eq": true}},
    ]};
    assert_eq!(plan.role_pushdown.as_ref(), Some(&expected));
    assert_eq!(plan.role_pushdown_skipped, None);
    assert_eq!(plan.query(), Some(&expected));
}

#[test]
fn client_query_and_role_condition_are_both_applied() {
    let rules = rules(json!([
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
    ]));
    let (service, database, collection) = NAMESPACE;
    let plan = rules
        .authorizer(service, database, collection, Some(&user("u1", None)), None)
        .plan_read(&doc! {"done": false});
    assert_eq!(
        plan.query(),
        Some(&doc! {"$and": [{"done": false}, {"owner": {"$eq": "u1"}}]})
    );
}

#[test]
fn document_filters_and_request_only_roles_narrow_the_query() {
    let rules = rules(json!([
        // Not this user's role: contributes nothing.
        {"name": "admin", "apply_when": {"%%user.id": "root"}, "read": true},
        // Applies to every document for this user, so later roles are never reached.
        {"name": "member", "apply_when": {"%%user.type": "normal"},
         "document_filters": {"read": {"team": {"%in": "%%user.custom_data.teams"}}},
         "read": true},
        {"name": "everyone", "apply_when": {}, "read": true},
    ]));
    let plan = plan(&rules, &user("u1", Some(Bson::Array(vec!["t1".into()]))));
    assert_eq!(
        plan.query(),
        Some(&doc! {"team": {"$in": ["t1"]}}),
        "{:?}",
        plan.role_pushdown_skipped
    );
}

#[test]
fn a_role_that_never_grants_read_contributes_nothing() {
    let rules = rules(json!([
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
        {"name": "deny", "apply_when": {}, "read": false},
    ]));
    let plan = plan(&rules, &user("u1", None));
    assert_eq!(plan.query(), Some(&doc! {"owner": {"$eq": "u1"}}));
}

#[test]
fn untranslatable_role_pushes_nothing_and_says_why() {
    let rules = rules(json!([
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
        {"name": "history", "apply_when": {"%%prevRoot.owner": "%%user.id"}, "read": true},
    ]));
    let plan = plan(&rules, &user("u1", None));
    assert_eq!(plan.role_pushdown, None);
    let reason = plan.role_pushdown_skipped.clone().unwrap();
    assert!(
        reason.contains("history") && reason.contains("%%prevRoot"),
        "{reason}"
    );
    assert_eq!(plan.query(), Some(&Document::new()));
}

#[test]
fn unconditional_role_pushes_nothing_and_says_why() {
    let rules = rules(json!([
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
        {"name": "everyone", "apply_when": {}, "fields": {"title": {"read": true}}},
    ]));
    let reason = plan(&rules, &user("u1", None))
        .role_pushdown_skipped
        .unwrap();
    assert!(reason.contains("everyone"), "{reason}");
}

#[test]
fn no_readable_role_reads_nothing() {
    let rules = rules(json!([
        {"name": "admin", "apply_when": {"%%user.id": "root"}, "read": true},
    ]));
    let plan = plan(&rules, &user("u1", None));
    assert_eq!(plan.query(), None);
    assert!(plan.role_pushdown.is_some());
}

#[test]
fn writes_get_no_role_condition() {
    let rules = rules(json!([
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
    ]));
    let (service, database, collection) = NAMESPACE;
    let plan = rules
        .authorizer(service, database, collection, Some(&user("u1", None)), None)
        .plan_query(&Document::new());
    assert_eq!(plan.query(), Some(&Document::new()));
    assert!(plan.role_pushdown_skipped.is_some());
}
