//! Property: for random roles, documents and users, no field the role cannot read is returned
//! and no write outside the role's permissions is accepted, checked against a deliberately
//! naive evaluator of constant permissions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{doc, Document};
use proptest::prelude::*;
use rampart_rules::{
    AppConfig, CollectionConfig, CollectionRulesFile, DataSourceConfig, RuleSet, User, WriteOutcome,
};
use serde_json::{json, Map, Value};

const FIELDS: [&str; 4] = ["_id", "a", "b", "c"];

#[derive(Debug, Clone)]
struct Role {
    owner_only: bool,
    read: Option<bool>,
    write: Option<bool>,
    fields: Vec<(usize, Option<bool>, Option<bool>)>,
    additional: Option<(Option<bool>, Option<bool>)>,
}

fn role() -> impl Strategy<Value = Role> {
    let flag = proptest::option::of(any::<bool>());
    (
        any::<bool>(),
        flag.clone(),
        flag.clone(),
        proptest::collection::vec((0..4usize, flag.clone(), flag.clone()), 0..4),
        proptest::option::of((flag.clone(), flag)),
    )
        .prop_map(|(owner_only, read, write, fields, additional)| Role {
            owner_only,
            read,
            write,
            fields,
            additional,
        })
}

fn document() -> impl Strategy<Value = Document> {
    (
        proptest::collection::vec(proptest::option::of(0..3i32), 3),
        0..2usize,
    )
        .prop_map(|(values, owner)| {
            let owner = if owner == 0 { "u1" } else { "u2" };
            let mut doc = doc! {"_id": 1, "owner": owner};
            for (name, value) in ["a", "b", "c"].iter().zip(values) {
                if let Some(value) = value {
                    doc.insert(*name, value);
                }
            }
            doc
        })
}

fn to_config(role: &Role) -> Value {
    let mut config = Map::new();
    config.insert("name".into(), json!("r"));
    let apply = if role.owner_only {
        json!({"owner": "%%user.id"})
    } else {
        json!({})
    };
    config.insert("apply_when".into(), apply);
    if let Some(read) = role.read {
        config.insert("read".into(), json!(read));
    }
    if let Some(write) = role.write {
        config.insert("write".into(), json!(write));
    }
    if !role.fields.is_empty() {
        let mut fields = Map::new();
        for (index, read, write) in &role.fields {
            let mut field = Map::new();
            if let Some(read) = read {
                field.insert("read".into(), json!(read));
            }
            if let Some(write) = write {
                field.insert("write".into(), json!(write));
            }
            fields.insert(FIELDS[*index].to_owned(), Value::Object(field));
        }
        config.insert("fields".into(), Value::Object(fields));
    }
    if let Some((read, write)) = role.additional {
        let mut additional = Map::new();
        if let Some(read) = read {
            additional.insert("read".into(), json!(read));
        }
        if let Some(write) = write {
            additional.insert("write".into(), json!(write));
        }
        config.insert("additional_fields".into(), Value::Object(additional));
    }
    json!({"roles": [Value::Object(config)]})
}

/// The naive model: the role applies, then per field (last `fields` entry for a name wins, as
/// JSON objects do).
fn field_rule(role: &Role, name: &str) -> Option<(Option<bool>, Option<bool>)> {
    role.fields
        .iter()
        .rev()
        .find(|(index, _, _)| FIELDS[*index] == name)
        .map(|(_, read, write)| (*read, *write))
}

fn naive_can_write(role: &Role, name: &str) -> bool {
    match role.write {
        Some(write) => write,
        None => match field_rule(role, name) {
            Some((_, write)) => write == Some(true),
            None => role
                .additional
                .is_some_and(|(_, write)| write == Some(true)),
        },
    }
}

fn naive_can_read(role: &Role, name: &str) -> bool {
    if role.read == Some(true) || role.write == Some(true) {
        return true;
    }
    if role.read == Some(false) {
        return false;
    }
    let grants =
        |(read, write): (Option<bool>, Option<bool>)| read == Some(true) || write == Some(true);
    match field_rule(role, name) {
        Some(rule) => grants(rule),
        None => role.additional.is_some_and(grants),
    }
}

fn rule_set(role: &Role) -> RuleSet {
    let file: CollectionRulesFile = serde_json::from_value(to_config(role)).unwrap();
    let mut source = DataSourceConfig::default();
    source.collections.insert(
        ("db".into(), "c".into()),
        CollectionConfig {
            rules: Some(file),
            ..CollectionConfig::default()
        },
    );
    let mut config = AppConfig::default();
    config.data_sources.insert("mongodb-atlas".into(), source);
    RuleSet::compile(&config).unwrap()
}

proptest! {
    #[test]
    fn reads_never_return_unreadable_fields(role in role(), doc in document()) {
        let set = rule_set(&role);
        let user = User { id: "u1".into(), user_type: "normal".into(), ..User::default() };
        let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user), None);
        let applies = !role.owner_only || doc.get_str("owner").ok() == Some("u1");
        let decision = authorizer.read(doc.clone());
        if let Some(returned) = decision.document {
            prop_assert!(applies);
            for (key, value) in &returned {
                prop_assert!(naive_can_read(&role, key), "field {key} returned");
                prop_assert_eq!(Some(value), doc.get(key));
            }
        }
    }

    #[test]
    fn writes_never_exceed_the_role(role in role(), before in document(), after in document()) {
        let set = rule_set(&role);
        let user = User { id: "u1".into(), user_type: "normal".into(), ..User::default() };
        let authorizer = set.authorizer("mongodb-atlas", "db", "c", Some(&user), None);
        let check = authorizer.authorize_update(&before, &after);
        if check.outcome == WriteOutcome::Allowed {
            prop_assert!(!role.owner_only || before.get_str("owner").ok() == Some("u1"));
            let keys: Vec<&String> = before.keys().chain(after.keys()).collect();
            for key in keys {
                if before.get(key) != after.get(key) {
                    prop_assert!(naive_can_write(&role, key), "changed {key}");
                }
            }
        }
        let insert = authorizer.authorize_insert(&after);
        if insert.outcome == WriteOutcome::Allowed {
            prop_assert!(!role.owner_only || after.get_str("owner").ok() == Some("u1"));
            for key in after.keys() {
                prop_assert!(naive_can_write(&role, key), "inserted {key}");
            }
        }
    }
}
