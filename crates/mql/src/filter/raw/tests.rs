use bson::{doc, Binary, Bson, Regex};

use super::memo::{REMEMBERED, REMEMBER_FROM};
use super::*;

/// A document of `fields` elements of every common type and a few rare ones, keys short and
/// long, with a duplicated key appended (`first` twice).
fn wide_document(fields: usize) -> Vec<u8> {
    let mut doc = Document::new();
    for index in 0..fields {
        let key = match index % 4 {
            0 => format!("f{index}"),
            1 => format!("field_{index}"),
            2 => format!("a_rather_long_key_{index}"),
            _ => format!("k{index:02}"),
        };
        let value = match index % 9 {
            0 => Bson::Int32(index as i32),
            1 => Bson::String("x".repeat(index)),
            2 => Bson::Double(index as f64 / 3.0),
            3 => Bson::Document(doc! {"inner": index as i64}),
            4 => Bson::Array(vec![Bson::Int32(1), Bson::Null]),
            5 => Bson::Null,
            6 => Bson::RegularExpression(Regex {
                pattern: "^a".to_owned().try_into().unwrap(),
                options: "i".to_owned().try_into().unwrap(),
            }),
            7 => Bson::Binary(Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes: vec![1, 2, 3],
            }),
            _ => Bson::Boolean(index % 2 == 0),
        };
        doc.insert(key, value);
    }
    doc.insert("first", 1);
    let mut bytes = RawDocumentBuf::try_from(&doc).unwrap().into_bytes();
    // A second `first`, appended by hand (a `Document` holds one value per key).
    bytes.pop();
    bytes.extend_from_slice(&[INT32, b'f', b'i', b'r', b's', b't', 0, 2, 0, 0, 0, 0]);
    let total = i32::try_from(bytes.len()).unwrap().to_le_bytes();
    bytes[..4].copy_from_slice(&total);
    bytes
}

type Seen = std::result::Result<Option<(u8, Vec<u8>)>, ()>;

fn seen(found: Result<Option<RawValue<'_>>>) -> Seen {
    found
        .map(|value| value.map(|value| (value.tag, value.bytes.to_vec())))
        .map_err(|_| ())
}

/// Looks `names` up in turn through a [`Memo`] and with plain [`RawDoc::find`].
fn lookups_agree(bytes: &[u8], names: &[&str]) {
    let doc = RawDoc { bytes };
    let mut lookups = Lookups::On(Memo::new(doc));
    for name in names {
        let remembered = seen(lookups.field(doc, name.as_bytes()));
        let plain = seen(doc.find(name.as_bytes()));
        assert_eq!(remembered, plain, "{name}");
    }
}

#[test]
fn remembered_lookups_equal_plain_lookups() {
    // Fewer and more elements than are remembered.
    for fields in [5, 20, REMEMBERED + 10] {
        let bytes = wide_document(fields);
        let mut names: Vec<String> = (0..fields)
            .map(|index| match index % 4 {
                0 => format!("f{index}"),
                1 => format!("field_{index}"),
                2 => format!("a_rather_long_key_{index}"),
                _ => format!("k{index:02}"),
            })
            .collect();
        names.extend(["first", "missing", "", "f", "field_"].map(String::from));
        let forward: Vec<&str> = names.iter().map(String::as_str).collect();
        let backward: Vec<&str> = forward.iter().rev().copied().collect();
        let shuffled: Vec<&str> = (0..forward.len())
            .map(|index| forward[index * 7 % forward.len()])
            .collect();
        for order in [&forward, &backward, &shuffled] {
            lookups_agree(&bytes, order);
        }
    }
}

#[test]
fn remembered_lookups_fail_where_plain_lookups_fail() {
    let bytes = wide_document(12);
    let names = ["field_5", "missing", "f0", "first", "k11"];
    for index in 4..bytes.len() - 1 {
        for replacement in [0x00, 0x7f, 0xff, 0x05] {
            let mut corrupt = bytes.clone();
            corrupt[index] = replacement;
            lookups_agree(&corrupt, &names);
        }
    }
}

#[test]
fn reader_agrees_with_the_bson_crate() {
    let bytes = wide_document(30);
    let raw = RawDocument::from_bytes(&bytes).unwrap();
    let ours: Vec<(Vec<u8>, Bson)> = RawDoc { bytes: &bytes }
        .elements()
        .map(|element| {
            let (key, value) = element.unwrap();
            (key.to_vec(), value.to_bson().unwrap())
        })
        .collect();
    let theirs: Vec<(Vec<u8>, Bson)> = raw
        .iter()
        .map(|element| {
            let (key, value) = element.unwrap();
            (
                key.as_str().as_bytes().to_vec(),
                Bson::try_from(value).unwrap(),
            )
        })
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn filters_with_several_paths_agree_on_wide_documents() {
    let docs: Vec<Document> = (0..40)
        .map(|seed: i32| {
            let mut doc = doc! {"_id": seed, "name": format!("user{seed}")};
            for index in 0..30 {
                if (seed + index) % 5 != 0 {
                    doc.insert(format!("f{index}"), (seed * index) % 7);
                }
            }
            doc.insert("tags", vec![Bson::Int32(seed % 3), Bson::Int32(4)]);
            doc.insert("sub", doc! {"a": seed % 2, "b": [doc! {"c": seed % 4}]});
            doc
        })
        .collect();
    let filters = [
        doc! {"f3": {"$gte": 2, "$lt": 6}, "f1": {"$ne": 3}},
        doc! {"$or": [{"f29": 1}, {"f0": {"$exists": false}}, {"tags": 2}]},
        doc! {"$nor": [{"f7": 0}, {"nothing": null}], "sub.a": 1},
        doc! {"f10": {"$in": [1, 2]}, "sub.b.c": {"$gt": 1}, "_id": {"$lt": 30}},
        doc! {"tags": {"$all": [4, 1]}, "f2": {"$not": {"$gt": 3}}},
        doc! {"missing": {"$exists": false}, "also_missing": null, "f5": {"$type": "int"}},
    ];
    for filter in &filters {
        let compiled = crate::Filter::compile(filter).unwrap();
        for doc in &docs {
            let raw = RawDocumentBuf::try_from(doc).unwrap();
            assert!(raw.as_bytes().len() >= REMEMBER_FROM);
            assert_eq!(
                compiled.evaluate_raw(&raw).unwrap(),
                compiled.evaluate(doc).unwrap(),
                "{filter} on {doc}"
            );
        }
    }
}
