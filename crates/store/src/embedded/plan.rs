//! Index keys of documents, and the choice of an access path for a filter.
//!
//! INVARIANT: an index is only a candidate generator. Every document it yields is re-checked
//! against the full filter with `Filter::evaluate`, so a loose index scan (extra candidates)
//! never changes results; what must never happen is a scan that MISSES a matching document.
//! The rules that keep it so:
//! - A missing field indexes as null, an array as each of its elements (an empty array as
//!   undefined, as in MongoDB), so equality on a scalar finds documents whose array holds it,
//!   and equality on a whole array is looked up through its first element as well.
//! - Constraints on null, undefined, MinKey or MaxKey, and ranges over arrays, never use an
//!   index: missing fields, arrays of documents without the field and whole-array comparisons
//!   make their key sets hard to bound, and a collection scan is always correct.
//! - On a multikey index a range uses one bound only: `{a: {$gt: 5, $lt: 10}}` matches
//!   `{a: [3, 12]}` although no element lies between 5 and 10.
//! - Numbers of all types share one key space (see `keys`), so `1`, `1.0` and `NumberLong(1)`
//!   find each other; bounds are scanned inclusively whatever the operator.
//! - Candidates are visited in `_id` order, so using an index changes neither the results nor
//!   their order.

use std::collections::BTreeSet;
use std::ops::Bound;

use bson::{Bson, Document};
use rampart_mql::{array_index, type_rank, Filter, PathConstraint};

use crate::embedded::catalog::{CollectionEntry, IndexSpec, ID_INDEX};
use crate::keys::{encode, encode_into, prefix_end};

/// Most index keys one document may produce (multikey fields multiply), a guard against
/// documents that would explode a compound index.
const MAX_KEYS_PER_DOCUMENT: usize = 10_000;

/// A range of table keys.
pub(crate) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// How to find candidate documents.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Access {
    /// Every document, in `_id` order.
    Scan,
    /// Ranges of the documents table; `point` when they are `_id` equalities.
    Primary { ranges: Vec<KeyRange>, point: bool },
    /// Ranges of a secondary index table; its values are primary keys.
    Index {
        index: IndexSpec,
        ranges: Vec<KeyRange>,
    },
}

/// The chosen access path and why.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub access: Access,
    pub constraint: Option<String>,
}

impl Plan {
    pub(crate) fn stage(&self) -> &'static str {
        match &self.access {
            Access::Scan => "COLLSCAN",
            Access::Primary { point: true, .. } => "IDHACK",
            Access::Primary { point: false, .. } => "IXSCAN",
            Access::Index { .. } => "IXSCAN",
        }
    }

    pub(crate) fn index_name(&self) -> Option<String> {
        match &self.access {
            Access::Scan => None,
            Access::Primary { .. } => Some(ID_INDEX.to_owned()),
            Access::Index { index, .. } => Some(index.name.clone()),
        }
    }
}

/// Picks the most selective usable constraint: point lookups before ranges, `_id` before
/// unique indexes before other indexes.
pub(crate) fn choose(filter: &Filter, entry: &CollectionEntry) -> Plan {
    let mut best: Option<(u8, Plan)> = None;
    for (path, constraint) in filter.constraints() {
        let Some((score, plan)) = plan_for(path.as_str(), &constraint, entry) else {
            continue;
        };
        if best.as_ref().is_none_or(|(top, _)| score > *top) {
            best = Some((score, plan));
        }
    }
    best.map_or(
        Plan {
            access: Access::Scan,
            constraint: None,
        },
        |(_, plan)| plan,
    )
}

fn plan_for(
    path: &str,
    constraint: &PathConstraint,
    entry: &CollectionEntry,
) -> Option<(u8, Plan)> {
    let described = Some(describe(path, constraint));
    let is_point = matches!(constraint, PathConstraint::AnyOf(_));
    if path == "_id" {
        let ranges = ranges_for(constraint, false)?;
        let score = if is_point { 10 } else { 4 };
        let access = Access::Primary {
            ranges,
            point: is_point,
        };
        return Some((
            score,
            Plan {
                access,
                constraint: described,
            },
        ));
    }
    let index = entry
        .indexes
        .iter()
        .filter(|index| index.keys.keys().next().map(String::as_str) == Some(path))
        .max_by_key(|index| (index.unique, std::cmp::Reverse(index.paths.len())))?;
    let ranges = ranges_for(constraint, index.multikey)?;
    let score = match (is_point, index.unique && index.paths.len() == 1) {
        (true, true) => 9,
        (true, false) => 8,
        (false, _) => 3,
    };
    let access = Access::Index {
        index: index.clone(),
        ranges,
    };
    Some((
        score,
        Plan {
            access,
            constraint: described,
        },
    ))
}

fn describe(path: &str, constraint: &PathConstraint) -> String {
    match constraint {
        PathConstraint::AnyOf(values) => format!("`{path}` in {} value(s)", values.len()),
        PathConstraint::Range { lower, upper } => {
            let bound = |side: &Option<(Bson, bool)>, open: &str, closed: &str| match side {
                Some((value, true)) => format!(" {closed} {value}"),
                Some((value, false)) => format!(" {open} {value}"),
                None => String::new(),
            };
            format!(
                "`{path}`{}{}",
                bound(lower, ">", ">="),
                bound(upper, "<", "<=")
            )
        }
    }
}

/// Values an index cannot bound soundly (see the module invariant).
fn unindexable(value: &Bson) -> bool {
    matches!(
        value,
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey | Bson::RegularExpression(_)
    )
}

fn ranges_for(constraint: &PathConstraint, multikey: bool) -> Option<Vec<KeyRange>> {
    match constraint {
        PathConstraint::AnyOf(values) => {
            if values.is_empty() || values.iter().any(unindexable) {
                return None;
            }
            let mut keys = BTreeSet::new();
            for value in values {
                keys.insert(encode(value));
                if let Bson::Array(items) = value {
                    // A stored array equal to `value` is indexed by its elements.
                    keys.insert(encode(items.first().unwrap_or(&Bson::Undefined)));
                }
            }
            Some(keys.iter().map(|key| point(key)).collect())
        }
        PathConstraint::Range { lower, upper } => {
            range_for(lower.as_ref(), upper.as_ref(), multikey).map(|range| vec![range])
        }
    }
}

fn range_for(
    lower: Option<&(Bson, bool)>,
    upper: Option<&(Bson, bool)>,
    multikey: bool,
) -> Option<KeyRange> {
    let rank = match (lower, upper) {
        (Some((low, _)), Some((high, _))) if type_rank(low) != type_rank(high) => return None,
        (Some((value, _)), _) | (None, Some((value, _))) => type_rank(value),
        (None, None) => return None,
    };
    if unindexable(lower.or(upper).map(|(value, _)| value)?)
        || rank == type_rank(&Bson::Array(vec![]))
    {
        return None;
    }
    // One bound only on multikey indexes: different elements may satisfy the two sides.
    let upper = if multikey && lower.is_some() {
        None
    } else {
        upper
    };
    let start = match lower {
        Some((value, _)) => Bound::Included(encode(value)),
        None => Bound::Included(vec![rank]),
    };
    let end = match upper {
        Some((value, _)) => prefix_end(&encode(value)).map_or(Bound::Unbounded, Bound::Excluded),
        None => Bound::Excluded(vec![rank.saturating_add(1)]),
    };
    Some((start, end))
}

/// Every key that starts with `prefix`.
fn point(prefix: &[u8]) -> KeyRange {
    let end = prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix.to_vec()), end)
}

/// The keys of `doc` in `index` (for a non-unique index each ends with the primary key, so
/// entries are distinct per document) and whether an indexed path held an array.
pub(crate) fn index_keys(
    index: &IndexSpec,
    doc: &Document,
    id_key: &[u8],
) -> (BTreeSet<Vec<u8>>, bool) {
    let mut combined: Vec<Vec<u8>> = vec![Vec::new()];
    let mut multikey = false;
    for path in &index.paths {
        let mut values = Vec::new();
        values_at(doc, path, &mut values, &mut multikey);
        let encoded: BTreeSet<Vec<u8>> = if values.is_empty() {
            BTreeSet::from([encode(&Bson::Null)])
        } else {
            values.iter().map(encode).collect()
        };
        let mut next = Vec::with_capacity(combined.len() * encoded.len());
        for prefix in &combined {
            for value in &encoded {
                if next.len() >= MAX_KEYS_PER_DOCUMENT {
                    break;
                }
                let mut key = prefix.clone();
                key.extend_from_slice(value);
                next.push(key);
            }
        }
        combined = next;
    }
    let keys = combined
        .into_iter()
        .map(|mut key| {
            if !index.unique {
                key.extend_from_slice(id_key);
            }
            key
        })
        .collect();
    (keys, multikey)
}

fn values_at(doc: &Document, path: &[String], out: &mut Vec<Bson>, multikey: &mut bool) {
    if let Some((head, rest)) = path.split_first() {
        collect(doc.get(head), rest, out, multikey);
    }
}

/// The values at `path` below `value`, as MongoDB's key generator finds them: documents by
/// field, arrays by element (and by position for numeric components), a terminal array as its
/// elements; a missing field or a scalar in the way yields null.
fn collect(value: Option<&Bson>, path: &[String], out: &mut Vec<Bson>, multikey: &mut bool) {
    let Some((head, rest)) = path.split_first() else {
        match value {
            Some(Bson::Array(items)) => {
                *multikey = true;
                if items.is_empty() {
                    out.push(Bson::Undefined);
                }
                out.extend(items.iter().cloned());
            }
            Some(other) => out.push(other.clone()),
            None => out.push(Bson::Null),
        }
        return;
    };
    match value {
        Some(Bson::Document(doc)) => collect(doc.get(head), rest, out, multikey),
        Some(Bson::Array(items)) => {
            *multikey = true;
            if let Some(item) = array_index(head).and_then(|position| items.get(position)) {
                collect(Some(item), rest, out, multikey);
            }
            for item in items {
                if let Bson::Document(inner) = item {
                    collect(inner.get(head), rest, out, multikey);
                }
            }
        }
        _ => out.push(Bson::Null),
    }
}

/// The index key values of a unique-index key, for error messages: `{ a: 1 }`.
pub(crate) fn describe_key(index: &IndexSpec, doc: &Document) -> String {
    let mut shown = Document::new();
    for (name, path) in index.keys.keys().zip(&index.paths) {
        let mut values = Vec::new();
        let mut multikey = false;
        values_at(doc, path, &mut values, &mut multikey);
        let value = match values.len() {
            0 => Bson::Null,
            1 => values.into_iter().next().unwrap_or(Bson::Null),
            _ => Bson::Array(values),
        };
        shown.insert(name.clone(), value);
    }
    // Bounded: a key may be large, and the message goes to logs.
    shown.to_string().chars().take(200).collect()
}

/// The primary key of an `_id`.
pub(crate) fn id_key(id: &Bson) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    encode_into(id, &mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn keys_of(keys: Document, doc: &Document) -> (BTreeSet<Vec<u8>>, bool) {
        let index = IndexSpec::new("i".into(), keys, true, 1);
        index_keys(&index, doc, &[])
    }

    fn encoded(values: &[Bson]) -> BTreeSet<Vec<u8>> {
        values.iter().map(encode).collect()
    }

    #[test]
    fn missing_fields_index_as_null() {
        let (keys, multikey) = keys_of(doc! {"a": 1}, &doc! {"b": 1});
        assert_eq!(keys, encoded(&[Bson::Null]));
        assert!(!multikey);
        let (keys, _) = keys_of(doc! {"a.b": 1}, &doc! {"a": 5});
        assert_eq!(keys, encoded(&[Bson::Null]));
    }

    #[test]
    fn arrays_index_each_element_and_empty_as_undefined() {
        let (keys, multikey) = keys_of(doc! {"a": 1}, &doc! {"a": [1, 1.0, [2], "x"]});
        assert!(multikey);
        let expected = encoded(&[
            Bson::Int32(1),
            Bson::Array(vec![Bson::Int32(2)]),
            Bson::String("x".into()),
        ]);
        assert_eq!(keys, expected);
        let (keys, _) = keys_of(doc! {"a": 1}, &doc! {"a": []});
        assert_eq!(keys, encoded(&[Bson::Undefined]));
    }

    #[test]
    fn paths_traverse_arrays_of_documents_and_positions() {
        let doc = doc! {"a": [{"b": 1}, {"c": 2}, {"b": [3, 4]}]};
        let (keys, multikey) = keys_of(doc! {"a.b": 1}, &doc);
        assert!(multikey);
        let expected = encoded(&[Bson::Int32(1), Bson::Null, Bson::Int32(3), Bson::Int32(4)]);
        assert_eq!(keys, expected);
        let (keys, _) = keys_of(doc! {"a.0.b": 1}, &doc);
        assert!(keys.contains(&encode(&Bson::Int32(1))));
    }

    #[test]
    fn compound_keys_combine_values_and_non_unique_keys_end_with_the_id() {
        let index = IndexSpec::new("i".into(), doc! {"a": 1, "b": 1}, false, 1);
        let (keys, _) = index_keys(&index, &doc! {"a": [1, 2], "b": "x"}, b"ID");
        assert_eq!(keys.len(), 2);
        let mut first = encode(&Bson::Int32(1));
        first.extend(encode(&Bson::String("x".into())));
        first.extend(b"ID");
        assert!(keys.contains(&first));
    }

    #[test]
    fn null_and_array_ranges_never_use_an_index() {
        let null = PathConstraint::AnyOf(vec![Bson::Null]);
        assert!(ranges_for(&null, false).is_none());
        let array_range = PathConstraint::Range {
            lower: Some((Bson::Array(vec![]), true)),
            upper: None,
        };
        assert!(ranges_for(&array_range, false).is_none());
        let both = (Bson::Int32(1), true);
        let high = (Bson::Int32(9), true);
        let (_, end) = range_for(Some(&both), Some(&high), true).unwrap();
        // Multikey: only the lower bound, up to the end of the number bracket.
        assert_eq!(end, Bound::Excluded(vec![type_rank(&Bson::Int32(0)) + 1]));
    }
}
