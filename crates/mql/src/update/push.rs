//! `$push`: inserting at a position, sorting the whole array or by fields, slicing.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::path::lookup;
use crate::value::{compare_values, type_name};

use super::modifiers::{show, unit_sign};

/// `$push` with its modifiers.
#[derive(Debug, Clone)]
pub(crate) struct PushSpec {
    values: Vec<Bson>,
    position: Option<i64>,
    slice: Option<i64>,
    sort: Option<PushSort>,
}

#[derive(Debug, Clone)]
enum PushSort {
    Whole { ascending: bool },
    Fields(Vec<(Vec<String>, bool)>),
}

pub(super) fn parse_push(field: &str, value: &Bson) -> Result<PushSpec> {
    let mut spec = PushSpec {
        values: Vec::new(),
        position: None,
        slice: None,
        sort: None,
    };
    let clauses = match value {
        Bson::Document(clauses) if clauses.contains_key("$each") => clauses,
        Bson::Document(clauses) if has_push_clause(clauses) => {
            return Err(MqlError::bad_value(format!(
                "`$slice`, `$sort` and `$position` in `$push` require `$each` (at `{field}`)"
            )))
        }
        single => {
            spec.values.push(single.clone());
            return Ok(spec);
        }
    };
    for (name, clause) in clauses {
        match name.as_str() {
            "$each" => match clause {
                Bson::Array(items) => spec.values.clone_from(items),
                other => {
                    return Err(MqlError::bad_value(format!(
                        "the argument to `$each` in `$push` must be an array but it was of type \
                         {} at `{field}`",
                        type_name(other)
                    )))
                }
            },
            "$slice" => spec.slice = Some(push_integer("$slice", field, clause)?),
            "$position" => spec.position = Some(push_integer("$position", field, clause)?),
            "$sort" => spec.sort = Some(parse_push_sort(field, clause)?),
            other => {
                return Err(MqlError::bad_value(format!(
                    "unrecognized clause in `$push`: `{other}` at `{field}`"
                )))
            }
        }
    }
    Ok(spec)
}

fn has_push_clause(clauses: &Document) -> bool {
    clauses
        .keys()
        .any(|key| matches!(key.as_str(), "$slice" | "$sort" | "$position"))
}

fn push_integer(clause: &str, field: &str, value: &Bson) -> Result<i64> {
    let integral = match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(*v as i64),
        _ => None,
    };
    integral.ok_or_else(|| {
        MqlError::bad_value(format!(
            "the value for `{clause}` in `$push` must be an integer, not {} (at `{field}`)",
            show(value)
        ))
    })
}

fn sort_direction(value: &Bson) -> Option<bool> {
    unit_sign(value)
}

fn parse_push_sort(field: &str, value: &Bson) -> Result<PushSort> {
    if let Some(ascending) = sort_direction(value) {
        return Ok(PushSort::Whole { ascending });
    }
    let invalid = || {
        MqlError::bad_value(format!(
            "the `$sort` in `$push` must be 1, -1 or a non-empty document of fields with 1 or \
             -1, got {} (at `{field}`)",
            show(value)
        ))
    };
    let Bson::Document(pattern) = value else {
        return Err(invalid());
    };
    if pattern.is_empty() {
        return Err(invalid());
    }
    let mut fields = Vec::with_capacity(pattern.len());
    for (name, direction) in pattern {
        let ascending = sort_direction(direction).ok_or_else(invalid)?;
        let path = crate::path::FieldPath::parse(name)?;
        if path.parts().iter().any(|part| part.starts_with('$')) {
            return Err(invalid());
        }
        fields.push((path.parts().to_vec(), ascending));
    }
    Ok(PushSort::Fields(fields))
}

impl PushSpec {
    /// Inserts, sorts and slices; returns whether anything changed.
    pub(super) fn apply(&self, items: &mut Vec<Bson>) -> bool {
        let mut changed = false;
        if !self.values.is_empty() {
            let at = insert_position(items.len(), self.position);
            items.splice(at..at, self.values.iter().cloned());
            changed = true;
        }
        if let Some(sort) = &self.sort {
            // MongoDB reports a `$push` with `$sort` as a modification even if no order
            // changed.
            items.sort_by(|a, b| sort.compare(a, b));
            changed = true;
        }
        if let Some(slice) = self.slice {
            changed |= slice_items(items, slice);
        }
        changed
    }
}

fn insert_position(len: usize, position: Option<i64>) -> usize {
    match position {
        None => len,
        Some(p) if p >= 0 => usize::try_from(p).unwrap_or(usize::MAX).min(len),
        Some(p) => len.saturating_sub(usize::try_from(p.unsigned_abs()).unwrap_or(usize::MAX)),
    }
}

fn slice_items(items: &mut Vec<Bson>, slice: i64) -> bool {
    let keep = usize::try_from(slice.unsigned_abs()).unwrap_or(usize::MAX);
    if items.len() <= keep {
        return false;
    }
    if slice >= 0 {
        items.truncate(keep);
    } else {
        let cut = items.len() - keep;
        items.drain(..cut);
    }
    true
}

impl PushSort {
    fn compare(&self, a: &Bson, b: &Bson) -> Ordering {
        match self {
            PushSort::Whole { ascending } => directed(compare_values(a, b), *ascending),
            PushSort::Fields(fields) => {
                for (path, ascending) in fields {
                    let order = compare_values(sort_key(a, path), sort_key(b, path));
                    if order != Ordering::Equal {
                        return directed(order, *ascending);
                    }
                }
                Ordering::Equal
            }
        }
    }
}

/// A missing field (or a non-document element) sorts as null, as in MongoDB.
fn sort_key<'a>(value: &'a Bson, path: &[String]) -> &'a Bson {
    const NULL: &Bson = &Bson::Null;
    match value {
        Bson::Document(doc) => lookup(doc, path).unwrap_or(NULL),
        _ => NULL,
    }
}

fn directed(order: Ordering, ascending: bool) -> Ordering {
    if ascending {
        order
    } else {
        order.reverse()
    }
}
