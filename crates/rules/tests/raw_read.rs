//! Property: a read decided on a stored document's BSON bytes (`Authorizer::read_raw`) is the
//! read decided on the decoded document (`Authorizer::read`): same visible fields in the same
//! order with the same values, same explanation. Roles mix document-level permissions, field
//! rules (nested ones over embedded documents and arrays of them), `additional_fields`, and
//! expressions that read the document (`owner`, `%%root.a.b`), the field's value (`%%this`),
//! the whole document (`%%root`) and the user, and one that fails for the request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;

use bson::{Bson, Document, RawDocumentBuf};
use proptest::prelude::*;
use rampart_rules::{Authorizer, RawVisible, RuleSet, User};
use serde_json::{json, Map, Value};

const NAMESPACE: (&str, &str, &str) = ("mongodb-atlas", "db", "c");
const KEYS: &[&str] = &["_id", "owner", "a", "b", "c", "tags", "nested"];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(items)
}

/// Expressions as permissions and `apply_when`s use them.
fn expression() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(true)),
        Just(json!(false)),
        Just(json!({"owner": "%%user.id"})),
        Just(json!({"%%root.owner": {"%in": ["u1", "u3"]}})),
        Just(json!({"%%root.a.b": {"%gt": 1}})),
        Just(json!({"a": {"%exists": true}})),
        Just(json!({"%%this": {"%exists": true}})),
        Just(json!({"%%this": "x"})),
        Just(json!({"%%this.b": 1})),
        Just(json!({"%%prev": {"%gte": 2}})),
        Just(json!({"%%root": {"%exists": true}})),
        Just(json!({"%%user.id": "u1"})),
        Just(json!({"%%root.owner": "%%this"})),
        Just(json!({"%or": [{"owner": "u2"}, {"%%this": {"%exists": false}}]})),
        Just(json!({"owner": "%%user.id", "a": {"%exists": true}})),
        Just(json!({"%%root.owner": {"%in": ["u1", "u2"]}, "%%root.a.b": {"%lt": 3}})),
        // Fails for the request (`%in` needs an array): a gate or an access that errs.
        Just(json!({"%%user.id": {"%in": "u1"}})),
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

/// A field rule: its own permission, or nested rules for `b` and `c`.
fn field_rule() -> impl Strategy<Value = Value> {
    (permission(), any::<bool>(), permission()).prop_map(|(own, nest, inner)| {
        if nest {
            json!({"fields": {"b": {"read": true}, "c": inner}})
        } else {
            own
        }
    })
}

fn role() -> impl Strategy<Value = Value> {
    (
        maybe(expression()),
        maybe(permission()),
        (maybe(expression()), maybe(expression())),
        proptest::collection::vec((pick(KEYS), field_rule()), 0..4),
        maybe(permission()),
    )
        .prop_map(|(apply_when, filters, (read, write), fields, additional)| {
            let mut map = Map::new();
            map.insert("name".into(), json!("r"));
            if !fields.is_empty() {
                let fields: Map<String, Value> = fields
                    .into_iter()
                    .map(|(name, rule)| (name.to_owned(), rule))
                    .collect();
                map.insert("fields".into(), Value::Object(fields));
            }
            for (key, item) in [
                ("apply_when", apply_when),
                ("document_filters", filters),
                ("read", read),
                ("write", write),
                ("additional_fields", additional),
            ] {
                if let Some(item) = item {
                    map.insert(key.into(), item);
                }
            }
            Value::Object(map)
        })
}

fn scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
        (-2i32..4).prop_map(Bson::Int32),
        Just(Bson::Double(2.5)),
        pick(&["u1", "u2", "u3", "x"]).prop_map(|s| Bson::String(s.to_owned())),
    ]
}

fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Bson::Array),
            embedded(inner.clone()).prop_map(Bson::Document),
            proptest::collection::vec(embedded(inner), 0..3)
                .prop_map(|items| Bson::Array(items.into_iter().map(Bson::Document).collect())),
        ]
    })
}

fn embedded(inner: impl Strategy<Value = Bson>) -> impl Strategy<Value = Document> {
    proptest::collection::vec((pick(&["b", "c", "d"]), inner), 0..3).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    })
}

fn document() -> impl Strategy<Value = Document> {
    proptest::collection::vec((pick(KEYS), value()), 0..7).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    })
}

/// An authorizer for `user_id` over `roles` (named `r0`, `r1`, ... in order), lean unless
/// `explanations`; with the rules, for failure messages.
fn authorizer(
    roles: Vec<Value>,
    user_id: &str,
    explanations: bool,
) -> Result<(Authorizer, Value), TestCaseError> {
    let roles: Vec<Value> = roles
        .into_iter()
        .enumerate()
        .map(|(index, mut role)| {
            role["name"] = json!(format!("r{index}"));
            role
        })
        .collect();
    let rules = json!({"roles": roles});
    let set = RuleSet::from_collection_json(NAMESPACE, Some(&rules), None, None)
        .map_err(|error| TestCaseError::fail(format!("{error}: {rules}")))?;
    let user = User {
        id: user_id.into(),
        user_type: "normal".into(),
        ..User::default()
    };
    let (service, database, collection) = NAMESPACE;
    let authorizer = set.authorizer(service, database, collection, Some(&user), None);
    let authorizer = if explanations {
        authorizer
    } else {
        authorizer.without_explanations()
    };
    Ok((authorizer, rules))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn raw_reads_decide_as_decoded_reads(
        roles in proptest::collection::vec(role(), 1..3),
        document in document(),
        user_id in pick(&["u1", "u2"]),
        explanations in any::<bool>(),
    ) {
        let (authorizer, rules) = authorizer(roles, user_id, explanations)?;
        let decoded = authorizer.read(document.clone());
        let raw = RawDocumentBuf::try_from(&document).unwrap();
        let from_raw = authorizer.read_raw(&raw);
        let visible = from_raw
            .document
            .as_ref()
            .map(|visible| Document::try_from(visible.as_ref()).unwrap());
        prop_assert_eq!(&visible, &decoded.document, "rules {} on {}", rules, document);
        prop_assert_eq!(&from_raw.explain, &decoded.explain);
        // Nothing withheld: the stored bytes themselves, not a copy.
        if decoded.document.as_ref() == Some(&document) {
            prop_assert!(matches!(from_raw.document, Some(Cow::Borrowed(_))));
        }
        // Appended to a buffer holding earlier answers: the same document, read back from
        // its offset, and the earlier answers untouched (nothing appended unless copied).
        let mut buffer = vec![7u8; 11];
        let into = authorizer.read_raw_into(&raw, &mut buffer);
        let appended = into
            .visible
            .document(&raw, &buffer)
            .map(|visible| Document::try_from(visible).unwrap());
        prop_assert_eq!(&appended, &decoded.document);
        prop_assert_eq!(&into.explain, &decoded.explain);
        prop_assert_eq!(&buffer[..11], &[7u8; 11][..]);
        match into.visible {
            RawVisible::Copied(start) => prop_assert_eq!(start, 11),
            RawVisible::Whole | RawVisible::Withheld => prop_assert_eq!(buffer.len(), 11),
        }
    }
}

#[test]
fn malformed_stored_bytes_are_withheld() {
    let rules = json!({"roles": [{"name": "r", "fields": {"a": {"read": true}}}]});
    let set = RuleSet::from_collection_json(NAMESPACE, Some(&rules), None, None).unwrap();
    let (service, database, collection) = NAMESPACE;
    let authorizer = set.authorizer(service, database, collection, None, None);
    let mut bytes = RawDocumentBuf::try_from(&bson::doc! {"a": 1, "b": "text"})
        .unwrap()
        .into_bytes();
    // The string's length now runs past the document.
    let at = bytes.len() - 10;
    bytes[at] = 100;
    let raw = bson::RawDocument::from_bytes(&bytes).unwrap();
    let decision = authorizer.read_raw(raw);
    assert!(decision.document.is_none());
    assert!(decision.malformed.is_some());
    assert!(decision
        .explain
        .failed_check
        .unwrap()
        .starts_with("malformed stored document"));
}

/// A role gate matched on the stored bytes that cannot read them (the gated field is damaged)
/// is an evaluation error: recorded, and no role is chosen (fail closed), not "does not apply"
/// (which would hand the document to the next role).
#[test]
fn a_gate_that_cannot_read_the_stored_bytes_withholds_the_document() {
    let roles = vec![
        json!({"apply_when": {"owner": "%%user.id"}, "read": true}),
        json!({"apply_when": {}, "fields": {"title": {"read": true}}}),
    ];
    let mut bytes = RawDocumentBuf::try_from(&bson::doc! {"owner": "u1", "title": "t"})
        .unwrap()
        .into_bytes();
    // `owner`'s string length (at offset 4 + 1 + 6) now runs past the document.
    bytes[11] = 100;
    let raw = bson::RawDocument::from_bytes(&bytes).unwrap();
    for explanations in [false, true] {
        let (authorizer, _) = authorizer(roles.clone(), "u2", explanations).unwrap();
        let decision = authorizer.read_raw(raw);
        assert!(decision.document.is_none(), "explanations: {explanations}");
        assert_eq!(decision.explain.role, None);
        assert!(
            decision
                .explain
                .diagnostics
                .iter()
                .any(|line| line.starts_with("role `r0` apply_when")),
            "{:?}",
            decision.explain.diagnostics
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Damaged stored bytes never panic a read, whatever the role: the decision either
    /// withholds the document as malformed or returns bytes that are themselves a document.
    #[test]
    fn damaged_bytes_never_panic_a_read(
        roles in proptest::collection::vec(role(), 1..3),
        document in document(),
        damage in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4),
        explanations in any::<bool>(),
    ) {
        let (authorizer, _) = authorizer(roles, "u1", explanations)?;
        let mut bytes = RawDocumentBuf::try_from(&document).unwrap().into_bytes();
        // Keep the length prefix and the final zero: `RawDocument` checks those itself.
        let inner = 4..bytes.len() - 1;
        for (at, byte) in damage {
            if !inner.is_empty() {
                bytes[inner.start + at.index(inner.len())] = byte;
            }
        }
        let raw = bson::RawDocument::from_bytes(&bytes).unwrap();
        let decision = authorizer.read_raw(raw);
        if decision.malformed.is_some() {
            prop_assert!(decision.document.is_none());
        }
        if let Some(visible) = &decision.document {
            prop_assert!(bson::RawDocument::from_bytes(visible.as_bytes()).is_ok());
        }
        // Into a buffer: a withheld document leaves nothing half-written behind.
        let mut buffer = vec![7u8; 3];
        let into = authorizer.read_raw_into(raw, &mut buffer);
        prop_assert_eq!(into.malformed.is_some(), decision.malformed.is_some());
        match into.visible {
            RawVisible::Copied(start) => {
                prop_assert_eq!(start, 3);
                let copy = into.visible.document(raw, &buffer);
                prop_assert_eq!(copy.map(|copy| copy.as_bytes().len()), Some(buffer.len() - 3));
            }
            RawVisible::Whole | RawVisible::Withheld => prop_assert_eq!(&buffer, &vec![7u8; 3]),
        }
    }
}

/// A redacted copy made of more runs than the copy notes before writing them (every other
/// field kept) and one cut short (the readable fields come first, the rest is never read),
/// each equal to the decoded read, lean and explained.
#[test]
fn many_runs_and_early_ends_copy_as_decoded_reads() {
    let document: Document = (0..30).map(|i| (format!("f{i}"), Bson::Int32(i))).collect();
    let every_other: Map<String, Value> = (0..30)
        .step_by(2)
        .map(|i| (format!("f{i}"), json!({"read": true})))
        .collect();
    let first_three: Map<String, Value> = (0..3)
        .map(|i| (format!("f{i}"), json!({"read": true})))
        .collect();
    for fields in [every_other, first_three] {
        let expected_keys: Vec<String> = fields.keys().cloned().collect();
        for explanations in [false, true] {
            let role = json!({"name": "r", "fields": fields.clone()});
            let (authorizer, _) = authorizer(vec![role], "u1", explanations).unwrap();
            let raw = RawDocumentBuf::try_from(&document).unwrap();
            let visible =
                Document::try_from(authorizer.read_raw(&raw).document.unwrap().as_ref()).unwrap();
            assert_eq!(
                Some(&visible),
                authorizer.read(document.clone()).document.as_ref()
            );
            let mut keys: Vec<String> = visible.keys().cloned().collect();
            keys.sort();
            let mut expected = expected_keys.clone();
            expected.sort();
            assert_eq!(keys, expected);
        }
    }
}

/// A field permission that fails for the document reports its failure for every field it
/// governs (the per-document memo keeps no failed outcome), and a lean raw read, whose field
/// table cannot decide the document, gives the same explanation by the per-field path.
#[test]
fn a_failing_permission_is_reported_for_every_field_it_governs() {
    let role = json!({
        "name": "r",
        "fields": {"a": {"read": true}},
        "additional_fields": {"read": {"owner": {"$in": "%%user.id"}}}
    });
    let document = bson::doc! {"_id": 1, "owner": "u1", "a": 1, "b": 2, "c": 3};
    let raw = RawDocumentBuf::try_from(&document).unwrap();
    for explanations in [true, false] {
        let (authorizer, _) = authorizer(vec![role.clone()], "u1", explanations).unwrap();
        let decoded = authorizer.read(document.clone());
        assert_eq!(decoded.document, Some(bson::doc! {"a": 1}));
        let failures = decoded
            .explain
            .diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.starts_with("additional_fields.read"))
            .count();
        // `_id`, `owner`, `b` and `c` each consult `additional_fields`.
        assert_eq!(failures, 4, "{:?}", decoded.explain.diagnostics);
        let from_raw = authorizer.read_raw(&raw);
        assert_eq!(from_raw.explain, decoded.explain);
        let visible = Document::try_from(from_raw.document.unwrap().as_ref()).unwrap();
        assert_eq!(visible, bson::doc! {"a": 1});
    }
}
