//! Loading and evaluating arbitrary rules and documents must never panic. The input is UTF-8
//! text split at the first two NUL bytes into a collection's `rules.json`, a user document and
//! a data document (JSON, Extended JSON for the documents). Rules that load are asked to plan
//! a query, read, insert, update and delete, with and without full explanations. The stable
//! twin is `crates/rules/tests/no_panic.rs`.
#![no_main]

use bson::{Bson, Document};
use libfuzzer_sys::fuzz_target;
use rampart_rules::{RuleSet, User};

const NAMESPACE: (&str, &str, &str) = ("mongodb-atlas", "db", "c");

fn document(text: &str) -> Document {
    match serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|value| rampart_mql::from_json_value(&value).ok())
    {
        Some(Bson::Document(document)) => document,
        _ => Document::new(),
    }
}

fn user(document: &Document) -> Option<User> {
    let id = document.get_str("id").ok()?;
    Some(User {
        id: id.to_owned(),
        user_type: document.get_str("type").unwrap_or("normal").to_owned(),
        data: document.get_document("data").cloned().unwrap_or_default(),
        custom_data: document
            .get_document("custom_data")
            .cloned()
            .unwrap_or_default(),
        identities: Vec::new(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let rules_text = parts.next().unwrap_or_default();
    let user_document = document(parts.next().unwrap_or_default());
    let data_document = document(parts.next().unwrap_or_default());
    let Ok(rules) = serde_json::from_str::<serde_json::Value>(rules_text) else {
        return;
    };
    // The rules text may also carry a schema and default rules, as the simulator's cases do.
    let schema = rules.get("schema").cloned();
    let default = rules.get("default_rule").cloned();
    let mut collection = rules;
    if let Some(map) = collection.as_object_mut() {
        map.remove("default_rule");
    }
    let Ok(set) =
        RuleSet::from_collection_json(NAMESPACE, Some(&collection), default.as_ref(), schema.as_ref())
    else {
        return;
    };
    let user = user(&user_document);
    let (service, database, collection) = NAMESPACE;
    let authorizer = set.authorizer(service, database, collection, user.as_ref(), None);
    let mut after = data_document.clone();
    after.insert("changed", true);
    for authorizer in [authorizer.clone(), authorizer.without_explanations()] {
        let plan = authorizer.plan_query(&data_document);
        let _ = plan.project(data_document.clone());
        let _ = authorizer.read(data_document.clone());
        if let Ok(raw) = bson::RawDocumentBuf::try_from(&data_document) {
            let _ = authorizer.read_raw(&raw);
        }
        let _ = authorizer.authorize_insert(&data_document);
        let _ = authorizer.authorize_update(&data_document, &after);
        let _ = authorizer.authorize_delete(&data_document);
    }
});
