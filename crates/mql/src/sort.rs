//! Multi-key sort in MongoDB's order.
//!
//! A document's key for one sort field is the smallest (ascending) or largest (descending) of the
//! values its path reaches, expanding arrays as a multikey index does: a missing field, or an
//! array element without the field, counts as `null`; an empty array at the end of the path sorts
//! below `null` (the server's `undefined` key).

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{ErrorKind, MqlError, Result};
use crate::path::{array_index, FieldPath};
use crate::value::compare_values;

/// A compiled sort specification (`{a: 1, "b.c": -1}`).
#[derive(Debug, Clone)]
pub struct SortSpec {
    fields: Vec<SortField>,
}

#[derive(Debug, Clone)]
struct SortField {
    path: FieldPath,
    descending: bool,
}

/// The sort key of one document under a [`SortSpec`], extracted once with [`SortSpec::key`] and
/// compared with [`SortSpec::compare_keys`]; it borrows from the document.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey<'a> {
    values: Vec<KeyValue<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyValue<'a> {
    /// A missing field: sorts as `null`.
    Missing,
    /// An empty array at the end of the path: sorts as `undefined`, below `null`.
    EmptyArray,
    Value(&'a Bson),
}

static NULL: Bson = Bson::Null;
static UNDEFINED: Bson = Bson::Undefined;

impl<'a> KeyValue<'a> {
    fn as_bson(self) -> &'a Bson {
        match self {
            KeyValue::Missing => &NULL,
            KeyValue::EmptyArray => &UNDEFINED,
            KeyValue::Value(value) => value,
        }
    }
}

impl SortKey<'_> {
    /// The key's value for each sort field, in order (`null` for missing, `undefined` for an
    /// empty array).
    pub fn values(&self) -> impl Iterator<Item = &Bson> {
        self.values.iter().map(|value| value.as_bson())
    }
}

impl SortSpec {
    /// Compiles a sort document; values must be 1 or -1 (any numeric type). `{}` sorts nothing.
    pub fn compile(spec: &Document) -> Result<SortSpec> {
        let mut fields = Vec::with_capacity(spec.len());
        for (name, direction) in spec {
            if name == "$natural" {
                return Err(MqlError::new(
                    ErrorKind::UnknownOperator,
                    "sort by `$natural` is not supported",
                ));
            }
            let path = FieldPath::parse(name).map_err(|error| {
                MqlError::bad_value(format!("invalid sort field `{name}`: {}", error.message()))
            })?;
            if let Some(part) = path.parts().iter().find(|part| part.starts_with('$')) {
                return Err(MqlError::bad_value(format!(
                    "invalid sort field `{name}`: field names may not start with '$' (`{part}`)"
                )));
            }
            let descending = match direction_of(direction) {
                Some(descending) => descending,
                None => {
                    if let Bson::Document(inner) = direction {
                        if inner.contains_key("$meta") {
                            return Err(MqlError::new(
                                ErrorKind::UnknownOperator,
                                format!("sort by `$meta` (field `{name}`) is not supported"),
                            ));
                        }
                    }
                    return Err(MqlError::bad_value(format!(
                        "sort key ordering for `{name}` must be 1 (for ascending) or -1 (for descending)"
                    )));
                }
            };
            fields.push(SortField { path, descending });
        }
        Ok(SortSpec { fields })
    }

    /// True for `{}`: every document compares equal.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The sort fields with `true` for descending, in priority order.
    pub fn fields(&self) -> impl Iterator<Item = (&FieldPath, bool)> {
        self.fields
            .iter()
            .map(|field| (&field.path, field.descending))
    }

    /// Compares two documents by the sort keys (arrays sort by their smallest element
    /// ascending, their largest descending; missing sorts as null).
    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        // Key by key, so a first-key difference never walks the other paths.
        for field in &self.fields {
            let order = compare_field(field, field_key(field, a), field_key(field, b));
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }

    /// The sort key of `doc`: extract it once per document, then sort with
    /// [`SortSpec::compare_keys`] (N path walks instead of N log N).
    pub fn key<'a>(&self, doc: &'a Document) -> SortKey<'a> {
        SortKey {
            values: self
                .fields
                .iter()
                .map(|field| field_key(field, doc))
                .collect(),
        }
    }

    /// Compares two keys extracted by this spec. Ties are `Equal`: use a stable sort to keep
    /// input order.
    pub fn compare_keys(&self, a: &SortKey<'_>, b: &SortKey<'_>) -> Ordering {
        for ((field, x), y) in self.fields.iter().zip(&a.values).zip(&b.values) {
            let order = compare_field(field, *x, *y);
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }

    /// Like [`SortSpec::key`], but fails as MongoDB does when two sort fields run through
    /// different arrays of the document ("parallel arrays"), where the server has no single sort
    /// key to choose.
    pub fn try_key<'a>(&self, doc: &'a Document) -> Result<SortKey<'a>> {
        self.check(doc)?;
        Ok(self.key(doc))
    }

    /// Fails if two sort fields run through arrays of `doc` that are not on a common path
    /// (`{a: [1, 2], b: [1, 2]}` sorted by `{a: 1, b: 1}`); fields through the same array
    /// (`a.x` and `a.y`) are fine.
    pub fn check(&self, doc: &Document) -> Result<()> {
        if self.fields.len() < 2 {
            return Ok(());
        }
        let arrays: Vec<Vec<usize>> = self
            .fields
            .iter()
            .map(|field| {
                let mut depths = Vec::new();
                array_depths(doc, field.path.parts(), 0, &mut depths);
                depths
            })
            .collect();
        for (i, (first, first_depths)) in self.fields.iter().zip(&arrays).enumerate() {
            for (second, second_depths) in self.fields.iter().zip(&arrays).skip(i + 1) {
                for &x in first_depths {
                    for &y in second_depths {
                        if !nested_prefixes(first.path.parts(), x, second.path.parts(), y) {
                            return Err(MqlError::bad_value(format!(
                                "cannot sort with keys that are parallel arrays: `{}` and `{}`",
                                first.path.as_str(),
                                second.path.as_str()
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Sorts `docs` in place, stably, extracting each document's key once. Fails on parallel
    /// arrays (see [`SortSpec::check`]), leaving `docs` unchanged.
    pub fn sort(&self, docs: &mut Vec<Document>) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut keyed: Vec<(SortKey<'_>, usize)> = docs
            .iter()
            .enumerate()
            .map(|(index, doc)| Ok((self.try_key(doc)?, index)))
            .collect::<Result<_>>()?;
        keyed.sort_by(|a, b| self.compare_keys(&a.0, &b.0));
        let order: Vec<usize> = keyed.into_iter().map(|(_, index)| index).collect();
        let mut slots: Vec<Option<Document>> = std::mem::take(docs).into_iter().map(Some).collect();
        docs.extend(
            order
                .into_iter()
                .filter_map(|index| slots.get_mut(index).and_then(Option::take)),
        );
        Ok(())
    }
}

/// Whether the array prefixes `a[..=x]` and `b[..=y]` lie on one path (one is a prefix of the
/// other), so that expanding both cannot pair unrelated elements.
fn nested_prefixes(a: &[String], x: usize, b: &[String], y: usize) -> bool {
    let shorter = x.min(y) + 1;
    a.iter().take(shorter).eq(b.iter().take(shorter))
}

/// The depths (path component indexes) at which walking `parts` meets an array that the sort
/// key expands; an array indexed by a numeric component is not expanded.
fn array_depths(doc: &Document, parts: &[String], depth: usize, out: &mut Vec<usize>) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    if let Some(value) = doc.get(first) {
        value_array_depths(value, rest, depth, out);
    }
}

fn value_array_depths(value: &Bson, rest: &[String], depth: usize, out: &mut Vec<usize>) {
    match value {
        Bson::Document(inner) => array_depths(inner, rest, depth + 1, out),
        Bson::Array(items) => {
            let indexed = rest
                .first()
                .and_then(|next| array_index(next))
                .and_then(|index| items.get(index));
            if let (Some(element), Some((_, after))) = (indexed, rest.split_first()) {
                return value_array_depths(element, after, depth + 1, out);
            }
            if !out.contains(&depth) {
                out.push(depth);
            }
            if !rest.is_empty() {
                for item in items {
                    if let Bson::Document(inner) = item {
                        array_depths(inner, rest, depth + 1, out);
                    }
                }
            }
        }
        _ => {}
    }
}

fn direction_of(value: &Bson) -> Option<bool> {
    let number = crate::value::number(value)?.as_f64();
    if number == 1.0 {
        Some(false)
    } else if number == -1.0 {
        Some(true)
    } else {
        None
    }
}

fn compare_field(field: &SortField, a: KeyValue<'_>, b: KeyValue<'_>) -> Ordering {
    let order = compare_values(a.as_bson(), b.as_bson());
    if field.descending {
        order.reverse()
    } else {
        order
    }
}

/// The smallest (ascending) or largest (descending) value the field's path reaches in `doc`.
fn field_key<'a>(field: &SortField, doc: &'a Document) -> KeyValue<'a> {
    let mut best: Option<KeyValue<'a>> = None;
    let mut offer = |candidate: KeyValue<'a>| {
        let better = match best {
            None => true,
            Some(current) => {
                let order = compare_values(candidate.as_bson(), current.as_bson());
                if field.descending {
                    order == Ordering::Greater
                } else {
                    order == Ordering::Less
                }
            }
        };
        if better {
            best = Some(candidate);
        }
    };
    walk_document(doc, field.path.parts(), &mut offer);
    best.unwrap_or(KeyValue::Missing)
}

fn walk_document<'a>(doc: &'a Document, parts: &[String], offer: &mut impl FnMut(KeyValue<'a>)) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    match doc.get(first) {
        None => offer(KeyValue::Missing),
        Some(value) => walk_value(value, rest, offer),
    }
}

/// Offers the values `value` reaches through the remaining path `rest`.
fn walk_value<'a>(value: &'a Bson, rest: &[String], offer: &mut impl FnMut(KeyValue<'a>)) {
    let Some((next, after)) = rest.split_first() else {
        // End of the path: an array contributes each element (one level), an empty one its own
        // key below null.
        match value {
            Bson::Array(items) if items.is_empty() => offer(KeyValue::EmptyArray),
            Bson::Array(items) => items.iter().for_each(|item| offer(KeyValue::Value(item))),
            other => offer(KeyValue::Value(other)),
        }
        return;
    };
    match value {
        Bson::Document(inner) => match inner.get(next) {
            None => offer(KeyValue::Missing),
            Some(found) => walk_value(found, after, offer),
        },
        Bson::Array(items) => {
            // A numeric component indexes the array; otherwise the path continues into each
            // element, and elements that cannot hold the field count as null.
            if let Some(element) = array_index(next).and_then(|index| items.get(index)) {
                return walk_value(element, after, offer);
            }
            if items.is_empty() {
                offer(KeyValue::Missing);
            }
            for item in items {
                match item {
                    Bson::Document(inner) => match inner.get(next) {
                        None => offer(KeyValue::Missing),
                        Some(found) => walk_value(found, after, offer),
                    },
                    _ => offer(KeyValue::Missing),
                }
            }
        }
        _ => offer(KeyValue::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn sorted(spec: Document, docs: Vec<Document>) -> Vec<i32> {
        let spec = SortSpec::compile(&spec).unwrap();
        let mut by_compare = docs.clone();
        by_compare.sort_by(|a, b| spec.compare(a, b));
        let mut by_key = docs;
        spec.sort(&mut by_key).unwrap();
        let ids = |docs: &[Document]| -> Vec<i32> {
            docs.iter().map(|d| d.get_i32("_id").unwrap()).collect()
        };
        assert_eq!(ids(&by_compare), ids(&by_key));
        ids(&by_key)
    }

    #[test]
    fn ascending_and_descending_with_ties_stable() {
        let docs = vec![
            doc! {"_id": 1, "a": 2, "b": 1},
            doc! {"_id": 2, "a": 1, "b": 2},
            doc! {"_id": 3, "a": 2, "b": 0},
            doc! {"_id": 4, "a": 1, "b": 2},
        ];
        assert_eq!(sorted(doc! {"a": 1}, docs.clone()), vec![2, 4, 1, 3]);
        assert_eq!(sorted(doc! {"a": -1}, docs.clone()), vec![1, 3, 2, 4]);
        assert_eq!(
            sorted(doc! {"a": 1, "b": -1.0}, docs.clone()),
            vec![2, 4, 1, 3]
        );
        assert_eq!(
            sorted(doc! {"a": -1, "b": 1_i64}, docs.clone()),
            vec![3, 1, 2, 4]
        );
        assert_eq!(sorted(doc! {}, docs), vec![1, 2, 3, 4]);
    }

    #[test]
    fn arrays_missing_and_empty() {
        let docs = vec![
            doc! {"_id": 1, "a": [3, 9]},
            doc! {"_id": 2, "a": 5},
            doc! {"_id": 3},
            doc! {"_id": 4, "a": []},
            doc! {"_id": 5, "a": null},
            doc! {"_id": 6, "a": [1, 4]},
        ];
        assert_eq!(sorted(doc! {"a": 1}, docs.clone()), vec![4, 3, 5, 6, 1, 2]);
        assert_eq!(sorted(doc! {"a": -1}, docs), vec![1, 2, 6, 3, 5, 4]);
    }

    #[test]
    fn paths_through_arrays_of_documents() {
        let docs = vec![
            doc! {"_id": 1, "a": [{"b": 5}, {"b": 1}]},
            doc! {"_id": 2, "a": [{"b": 3}, {"c": 1}]},
            doc! {"_id": 3, "a": {"b": 2}},
            doc! {"_id": 4, "a": [{"b": [0, 10]}]},
        ];
        // Ascending: 2 has a null (element without b).
        assert_eq!(sorted(doc! {"a.b": 1}, docs.clone()), vec![2, 4, 1, 3]);
        assert_eq!(sorted(doc! {"a.b": -1}, docs.clone()), vec![4, 1, 2, 3]);
        assert_eq!(sorted(doc! {"a.0.b": 1}, docs), vec![3, 4, 2, 1]);
    }

    #[test]
    fn key_values_are_exposed() {
        let spec = SortSpec::compile(&doc! {"a": 1, "b": -1}).unwrap();
        let doc = doc! {"a": [2, 1], "b": []};
        let key = spec.key(&doc);
        assert_eq!(
            key.values().cloned().collect::<Vec<_>>(),
            vec![Bson::Int32(1), Bson::Undefined]
        );
    }

    #[test]
    fn parallel_arrays_are_rejected() {
        let spec = SortSpec::compile(&doc! {"a": 1, "b": 1}).unwrap();
        let parallel = doc! {"a": [1, 2], "b": [3, 4]};
        let error = spec.try_key(&parallel).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadValue);
        assert!(error.message().contains("parallel arrays"), "{error}");
        assert!(spec.try_key(&doc! {"a": [1, 2], "b": 3}).is_ok());
        let mut docs = vec![doc! {"_id": 1, "a": 1, "b": 1}, parallel];
        assert!(spec.sort(&mut docs).is_err());
        assert_eq!(docs.len(), 2);

        let same_array = SortSpec::compile(&doc! {"a.x": 1, "a.y": -1}).unwrap();
        assert!(same_array
            .check(&doc! {"a": [{"x": 1, "y": 2}, {"x": 3, "y": [4, 5]}]})
            .is_ok());
        assert!(same_array
            .check(&doc! {"a": [{"x": [1], "y": [2]}]})
            .is_err());
        let nested = SortSpec::compile(&doc! {"a": 1, "a.b": 1}).unwrap();
        assert!(nested.check(&doc! {"a": [{"b": 1}]}).is_ok());
        let indexed = SortSpec::compile(&doc! {"a.0": 1, "b": 1}).unwrap();
        assert!(indexed.check(&doc! {"a": [1, 2], "b": [3]}).is_ok());
    }

    #[test]
    fn invalid_specs() {
        for bad in [
            doc! {"a": 2},
            doc! {"a": "1"},
            doc! {"a": 0},
            doc! {"a": true},
        ] {
            let error = SortSpec::compile(&bad).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::BadValue);
            assert!(error.message().contains("`a` must be 1"), "{error}");
        }
        let meta = SortSpec::compile(&doc! {"s": {"$meta": "textScore"}}).unwrap_err();
        assert_eq!(meta.kind(), ErrorKind::UnknownOperator);
        assert!(SortSpec::compile(&doc! {"a..b": 1}).is_err());
        assert!(SortSpec::compile(&doc! {"$natural": 1}).is_err());
        assert!(SortSpec::compile(&doc! {"a.$b": 1}).is_err());
    }
}
