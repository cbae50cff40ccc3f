//! Operators that keep several values: `$firstN`, `$lastN`, `$minN` and `$maxN` (as array
//! expressions here, and as `$group` accumulators through [`PickN`]), and `$sortArray`.
//! Semantics from MongoDB's `accumulator_multi.cpp`: `$firstN`/`$lastN` keep nulls (a missing
//! value becomes null), `$minN`/`$maxN` skip null and missing and return their values in order
//! (ascending for `$minN`, descending for `$maxN`).

use std::cmp::Ordering;
use std::collections::VecDeque;

use bson::{Bson, Document};

use super::compile::{named_args, required, Compiler};
use super::{approximate_size, is_nullish, type_of, Cx, Node};
use crate::error::{MqlError, Result};
use crate::limits::MAX_DOCUMENT_BYTES;
use crate::sort::SortSpec;
use crate::value::compare_values;

/// Which values a [`PickN`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    First,
    Last,
    Min,
    Max,
}

impl Pick {
    pub(crate) fn named(name: &str) -> Option<Pick> {
        Some(match name {
            "$firstN" => Pick::First,
            "$lastN" => Pick::Last,
            "$minN" => Pick::Min,
            "$maxN" => Pick::Max,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Pick::First => "$firstN",
            Pick::Last => "$lastN",
            Pick::Min => "$minN",
            Pick::Max => "$maxN",
        }
    }
}

/// Reads `n`: a number with an integral value, greater than 0.
pub(crate) fn validate_n(op: &str, value: Option<&Bson>) -> Result<usize> {
    let n = super::arith::integral(op, "`n`", value)?;
    if n <= 0 {
        return Err(MqlError::bad_value(format!(
            "`{op}` requires `n` to be greater than 0, found {n}"
        )));
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The running state of `$firstN`, `$lastN`, `$minN` or `$maxN`.
#[derive(Debug, Clone)]
pub(crate) struct PickN {
    pick: Pick,
    n: usize,
    /// In arrival order for first and last; ascending (later arrivals after equal values) for
    /// min and max.
    items: VecDeque<Bson>,
    bytes: usize,
}

impl PickN {
    pub(crate) fn new(pick: Pick, n: usize) -> PickN {
        PickN {
            pick,
            n,
            items: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Offers one value; returns the bytes newly kept. Fails when the kept values exceed the
    /// size of a document.
    pub(crate) fn offer(&mut self, value: Option<Bson>) -> Result<usize> {
        let value = match self.pick {
            Pick::First | Pick::Last => value.unwrap_or(Bson::Null),
            Pick::Min | Pick::Max => match value {
                Some(value) if !is_nullish(Some(&value)) => value,
                _ => return Ok(0),
            },
        };
        if self.items.len() == self.n {
            let evicted = match self.pick {
                Pick::First => return Ok(0),
                Pick::Last => self.items.pop_front(),
                // Only a strictly better value displaces one kept: ties keep the earlier.
                Pick::Min => match self.items.back() {
                    Some(largest) if compare_values(largest, &value) == Ordering::Greater => {
                        self.items.pop_back()
                    }
                    _ => return Ok(0),
                },
                Pick::Max => match self.items.front() {
                    Some(smallest) if compare_values(smallest, &value) == Ordering::Less => {
                        self.items.pop_front()
                    }
                    _ => return Ok(0),
                },
            };
            if let Some(evicted) = evicted {
                let size = approximate_size(&evicted, MAX_DOCUMENT_BYTES);
                self.bytes = self.bytes.saturating_sub(size);
            }
        }
        let size = approximate_size(&value, MAX_DOCUMENT_BYTES);
        self.bytes += size;
        if self.bytes > MAX_DOCUMENT_BYTES {
            return Err(MqlError::limit(format!(
                "`{}` kept more than {MAX_DOCUMENT_BYTES} bytes",
                self.pick.name()
            )));
        }
        match self.pick {
            Pick::First | Pick::Last => self.items.push_back(value),
            Pick::Min | Pick::Max => {
                let at = self
                    .items
                    .partition_point(|kept| compare_values(kept, &value) != Ordering::Greater);
                self.items.insert(at, value);
            }
        }
        Ok(size)
    }

    pub(crate) fn finish(self) -> Vec<Bson> {
        let mut items: Vec<Bson> = self.items.into();
        if self.pick == Pick::Max {
            items.reverse();
        }
        items
    }
}

/// `$firstN`, `$lastN`, `$minN` and `$maxN` on an array.
#[derive(Debug, Clone)]
pub(crate) struct NSpec {
    pick: Pick,
    n: Node,
    input: Node,
}

impl NSpec {
    pub(crate) fn compile(cc: &mut Compiler, pick: Pick, operand: &Bson) -> Result<NSpec> {
        let op = pick.name();
        let mut args = named_args(op, operand, &["n", "input"])?.into_iter();
        let n = required(op, "n", args.next().flatten())?;
        let input = required(op, "input", args.next().flatten())?;
        Ok(NSpec {
            pick,
            n: cc.compile(n)?,
            input: cc.compile(input)?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = self.pick.name();
        let n = validate_n(op, self.n.eval(cx)?.as_ref())?;
        let items = match self.input.eval(cx)? {
            Some(Bson::Array(items)) => items,
            other => {
                return Err(MqlError::type_mismatch(format!(
                    "`{op}` requires `input` to be an array, found {}",
                    type_of(other.as_ref())
                )))
            }
        };
        let mut picked = PickN::new(self.pick, n);
        for item in items {
            picked.offer(Some(item))?;
        }
        Ok(Some(Bson::Array(picked.finish())))
    }
}

/// How `$sortArray` orders: the values themselves, or documents by fields.
#[derive(Debug, Clone)]
enum SortBy {
    Values { descending: bool },
    Fields(SortSpec),
}

/// `$sortArray`.
#[derive(Debug, Clone)]
pub(crate) struct SortArraySpec {
    input: Node,
    sort_by: SortBy,
}

impl SortArraySpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<SortArraySpec> {
        let op = "$sortArray";
        let mut args = named_args(op, operand, &["input", "sortBy"])?.into_iter();
        let input = required(op, "input", args.next().flatten())?;
        let sort_by = match required(op, "sortBy", args.next().flatten())? {
            Bson::Document(spec) if !spec.is_empty() => SortBy::Fields(SortSpec::compile(spec)?),
            value => match crate::value::as_f64(value) {
                Some(1.0) => SortBy::Values { descending: false },
                Some(-1.0) => SortBy::Values { descending: true },
                _ => {
                    return Err(MqlError::bad_value(format!(
                        "`{op}` requires `sortBy` to be 1, -1 or a sort document, found {value}"
                    )))
                }
            },
        };
        Ok(SortArraySpec {
            input: cc.compile(input)?,
            sort_by,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let mut items = match self.input.eval(cx)? {
            Some(Bson::Array(items)) => items,
            value if is_nullish(value.as_ref()) => return Ok(Some(Bson::Null)),
            other => {
                return Err(MqlError::type_mismatch(format!(
                    "`$sortArray` requires `input` to be an array, found {}",
                    type_of(other.as_ref())
                )))
            }
        };
        match &self.sort_by {
            SortBy::Values { descending } => items.sort_by(|a, b| {
                let order = compare_values(a, b);
                if *descending {
                    order.reverse()
                } else {
                    order
                }
            }),
            SortBy::Fields(spec) => {
                let empty = Document::new();
                items.sort_by(|a, b| spec.compare(fields_of(a, &empty), fields_of(b, &empty)));
            }
        }
        Ok(Some(Bson::Array(items)))
    }
}

/// An element as `$sortArray` sorts it by fields: a value that is not a document has none of
/// them, so it sorts as null.
fn fields_of<'a>(value: &'a Bson, empty: &'a Document) -> &'a Document {
    match value {
        Bson::Document(doc) => doc,
        _ => empty,
    }
}

/// `$zip`: transposes arrays (`inputs`), to the shortest length, or to the longest with
/// `useLongestLength`, missing elements taken from `defaults` (or null).
#[derive(Debug, Clone)]
pub(crate) struct ZipSpec {
    inputs: Vec<Node>,
    longest: bool,
    defaults: Option<Vec<Node>>,
}

impl ZipSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<ZipSpec> {
        let op = "$zip";
        let mut args =
            named_args(op, operand, &["inputs", "useLongestLength", "defaults"])?.into_iter();
        let inputs = match required(op, "inputs", args.next().flatten())? {
            Bson::Array(items) => items
                .iter()
                .map(|item| cc.compile(item))
                .collect::<Result<Vec<_>>>()?,
            _ => {
                return Err(MqlError::parse(format!(
                    "`{op}` requires `inputs` to be an array of expressions"
                )))
            }
        };
        let longest = match args.next().flatten() {
            None => false,
            Some(Bson::Boolean(flag)) => *flag,
            Some(_) => {
                return Err(MqlError::parse(format!(
                    "`{op}` requires `useLongestLength` to be a boolean"
                )))
            }
        };
        let defaults = match args.next().flatten() {
            None => None,
            Some(Bson::Array(items)) => {
                if !longest {
                    return Err(MqlError::parse(format!(
                        "`{op}` cannot take `defaults` unless `useLongestLength` is true"
                    )));
                }
                if items.len() != inputs.len() {
                    return Err(MqlError::parse(format!(
                        "`{op}` requires `defaults` and `inputs` to have the same length"
                    )));
                }
                Some(
                    items
                        .iter()
                        .map(|item| cc.compile(item))
                        .collect::<Result<Vec<_>>>()?,
                )
            }
            Some(_) => {
                return Err(MqlError::parse(format!(
                    "`{op}` requires `defaults` to be an array"
                )))
            }
        };
        Ok(ZipSpec {
            inputs,
            longest,
            defaults,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let mut arrays = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            match input.eval(cx)? {
                Some(Bson::Array(items)) => arrays.push(items),
                value if is_nullish(value.as_ref()) => return Ok(Some(Bson::Null)),
                other => {
                    return Err(MqlError::type_mismatch(format!(
                        "`$zip` requires every input to be an array, found {}",
                        type_of(other.as_ref())
                    )))
                }
            }
        }
        let mut defaults = Vec::with_capacity(arrays.len());
        for index in 0..arrays.len() {
            let value = match self.defaults.as_ref().and_then(|nodes| nodes.get(index)) {
                Some(node) => node.eval(cx)?.unwrap_or(Bson::Null),
                None => Bson::Null,
            };
            defaults.push(value);
        }
        let lengths = arrays.iter().map(Vec::len);
        let length = if self.longest {
            lengths.max()
        } else {
            lengths.min()
        }
        .unwrap_or(0);
        let mut columns: Vec<std::vec::IntoIter<Bson>> =
            arrays.into_iter().map(Vec::into_iter).collect();
        let mut out = Vec::with_capacity(length);
        for _ in 0..length {
            let row = columns
                .iter_mut()
                .zip(&defaults)
                .map(|(column, default)| column.next().unwrap_or_else(|| default.clone()))
                .collect();
            out.push(Bson::Array(row));
        }
        Ok(Some(Bson::Array(out)))
    }
}
