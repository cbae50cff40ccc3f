//! Property: loading and evaluating arbitrary rules and documents never panics. Rules are
//! random JSON built from the real keys, operators and expansions (so most of them load, and
//! the rest fail with a config error); every rule set that loads is asked to plan a query,
//! read, insert, update and delete random documents. The stable twin of
//! `fuzz/fuzz_targets/rules_eval.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use rampart_rules::{RuleSet, User};
use serde_json::{json, Map, Value};

const NAMESPACE: (&str, &str, &str) = ("mongodb-atlas", "db", "c");

const FIELDS: &[&str] = &["_id", "owner", "a", "b", "a.b", "tags", "nested", "", "$x"];
const EXPANSIONS: &[&str] = &[
    "%%root",
    "%%root.owner",
    "%%root.a.b",
    "%%prevRoot",
    "%%prevRoot.owner",
    "%%this",
    "%%this.b",
    "%%prev",
    "%%user",
    "%%user.id",
    "%%user.data.groups",
    "%%user.custom_data.team",
    "%%values.limit",
    "%%environment.tag",
    "%%request.remoteIPAddress",
    "%%true",
    "%%false",
    "%%bogus",
    "%%true.x",
];
const OPERATORS: &[&str] = &[
    "%eq",
    "$ne",
    "%gt",
    "$gte",
    "%lt",
    "$lte",
    "%in",
    "$nin",
    "%exists",
    "%and",
    "%or",
    "$regex",
    "%nor",
    "%function",
];
const CONVERSIONS: &[&str] = &[
    "%stringToOid",
    "%oidToString",
    "%stringToUuid",
    "%uuidToString",
];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(items)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..5).prop_map(|n| json!(n)),
        Just(json!(2.5)),
        pick(&["u1", "u2", "x", "65d000000000000000000001", "not-an-oid"]).prop_map(|s| json!(s)),
        pick(EXPANSIONS).prop_map(|s| json!(s)),
        Just(json!({"$oid": "65d000000000000000000001"})),
        Just(json!({"$numberLong": "nope"})),
        Just(json!({"$date": {"$numberLong": "0"}})),
    ]
}

/// Values as they appear on either side of a test: scalars, expansions, operator documents,
/// conversions, functions, arrays and documents of those.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            (pick(OPERATORS), inner.clone()).prop_map(|(op, v)| json!({ op: v })),
            (pick(CONVERSIONS), inner.clone()).prop_map(|(op, v)| json!({ op: v })),
            (pick(&["f", "bad name", ""]), inner.clone())
                .prop_map(|(name, v)| json!({"%function": {"name": name, "arguments": [v]}})),
            proptest::collection::vec((pick(FIELDS), inner), 0..3).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Expressions: booleans, or objects of fields, expansions and `%and`/`%or` to values.
fn expression() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        pick(FIELDS),
        pick(EXPANSIONS),
        pick(&["%and", "%or", "%not"])
    ];
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        Just(json!({})),
        proptest::collection::vec((key, value()), 1..3).prop_map(|entries| {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        }),
        value(),
    ]
}

fn maybe(strategy: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    proptest::option::weighted(0.5, strategy)
}

fn permission() -> impl Strategy<Value = Value> {
    (maybe(expression()), maybe(expression())).prop_map(|(read, write)| {
        let mut map = Map::new();
        if let Some(read) = read {
            map.insert("read".into(), read);
        }
        if let Some(write) = write {
            map.insert("write".into(), write);
        }
        Value::Object(map)
    })
}

fn fields() -> impl Strategy<Value = Value> {
    proptest::collection::vec((pick(FIELDS), permission(), any::<bool>()), 0..4).prop_map(
        |entries| {
            let mut map = Map::new();
            for (name, mut rule, nest) in entries {
                if nest {
                    // Nested field rules, only used when the field has no read/write itself.
                    rule = json!({"fields": {"b": {"read": true}, "c": rule}});
                }
                map.insert(name.to_owned(), rule);
            }
            Value::Object(map)
        },
    )
}

fn role() -> impl Strategy<Value = Value> {
    (
        pick(&["r1", "r2", "r3", ""]),
        maybe(expression()),
        maybe(permission()),
        (
            maybe(expression()),
            maybe(expression()),
            maybe(expression()),
            maybe(expression()),
        ),
        maybe(fields()),
        maybe(permission()),
        maybe(Just(json!("unknown key"))),
    )
        .prop_map(
            |(
                name,
                apply_when,
                filters,
                (read, write, insert, delete),
                fields,
                additional,
                junk,
            )| {
                let mut map = Map::new();
                map.insert("name".into(), json!(name));
                let entries = [
                    ("apply_when", apply_when),
                    ("document_filters", filters),
                    ("read", read),
                    ("write", write),
                    ("insert", insert),
                    ("delete", delete),
                    ("fields", fields),
                    ("additional_fields", additional),
                    ("bogus", junk),
                ];
                for (key, item) in entries {
                    if let Some(item) = item {
                        map.insert(key.into(), item);
                    }
                }
                Value::Object(map)
            },
        )
}

fn filter() -> impl Strategy<Value = Value> {
    (maybe(expression()), maybe(value()), maybe(value())).prop_map(
        |(apply_when, query, projection)| {
            let mut map = Map::new();
            map.insert("name".into(), json!("f"));
            for (key, item) in [
                ("apply_when", apply_when),
                ("query", query),
                ("projection", projection),
            ] {
                if let Some(item) = item {
                    map.insert(key.into(), item);
                }
            }
            Value::Object(map)
        },
    )
}

fn schema() -> impl Strategy<Value = Value> {
    (
        pick(&["object", "string", "int", "bogus"]),
        maybe(expression()),
        proptest::collection::vec(pick(FIELDS), 0..3),
    )
        .prop_map(|(kind, validate, required)| {
            let mut properties = Map::new();
            properties.insert("owner".into(), json!({"bsonType": "string"}));
            if let Some(validate) = validate {
                properties.insert("a".into(), json!({"validate": validate.clone()}));
            }
            json!({"bsonType": kind, "properties": properties, "required": required})
        })
}

fn rules() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(role(), 0..4),
        proptest::collection::vec(filter(), 0..2),
    )
        .prop_map(|(roles, filters)| json!({"roles": roles, "filters": filters}))
}

fn document() -> impl Strategy<Value = Value> {
    proptest::collection::vec((pick(FIELDS), value()), 0..6).prop_map(|entries| {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    })
}

fn to_document(value: &Value) -> Option<bson::Document> {
    match rampart_mql::from_json_value(value).ok()? {
        bson::Bson::Document(document) => Some(document),
        _ => None,
    }
}

fn exercise(set: &RuleSet, user: Option<&User>, before: &bson::Document, after: &bson::Document) {
    let (service, database, collection) = NAMESPACE;
    let authorizer = set.authorizer(service, database, collection, user, None);
    for authorizer in [authorizer.clone(), authorizer.without_explanations()] {
        let plan = authorizer.plan_query(before);
        let _ = plan.project(before.clone());
        let _ = authorizer.read(before.clone());
        if let Ok(raw) = bson::RawDocumentBuf::try_from(before) {
            let _ = authorizer.read_raw(&raw);
        }
        let _ = authorizer.authorize_insert(after);
        let _ = authorizer.authorize_update(before, after);
        let _ = authorizer.authorize_delete(before);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn loading_and_evaluating_never_panics(
        rules in rules(),
        default in maybe(rules()),
        schema in maybe(schema()),
        before in document(),
        after in document(),
        user_id in pick(&["u1", "u2"]),
        anonymous in any::<bool>(),
    ) {
        let Ok(set) = RuleSet::from_collection_json(
            NAMESPACE,
            Some(&rules),
            default.as_ref(),
            schema.as_ref(),
        ) else {
            return Ok(());
        };
        let user = User {
            id: user_id.to_owned(),
            user_type: "normal".to_owned(),
            ..User::default()
        };
        let (Some(before), Some(after)) = (to_document(&before), to_document(&after)) else {
            return Ok(());
        };
        exercise(&set, if anonymous { None } else { Some(&user) }, &before, &after);
    }
}
