//! Matching on raw BSON bytes: a minimal, bounds-checked reader of the BSON wire format and the
//! per-value tests, comparing raw values directly against the compiled (decoded) operands.
//!
//! The `bson` crate's own raw iterator validates every key as UTF-8 and builds a typed value for
//! every element it passes; matching only needs to compare a few keys and skip the rest, so this
//! reader compares keys as bytes and reads a value only when a test looks at it. The traversal
//! itself is shared with decoded matching through [`View`].
//!
//! Skipping elements is the hot loop (a filter on a missing field reads them all), and each
//! element's end depends on lengths read at the previous one's: [`Header::read_common`] keeps that
//! chain short and its loop free of calls, lookups return the register-sized [`Found`], and one
//! evaluation with several paths remembers the top-level elements it has read ([`Lookups`]).
//!
//! Malformed bytes are an error, never a panic: every length is checked against the enclosing
//! slice before it is used. As with `RawDocument::get`, a duplicated key resolves to its first
//! occurrence (a decoded `Document` keeps one value per key; documents encoded from a
//! `Document` never repeat a key).

use std::cmp::Ordering;

use bson::{Bson, Document, RawDocument, RawDocumentBuf};

use super::eval::{
    compare_across_types, holds, integer_value, is_nan, type_bit, BitSource, Container, Shape, View,
};
use super::{CmpOp, InList, Leaf, Pred, RegexPred};
use crate::decimal::Decimal;
use crate::error::{MqlError, Result};
use crate::expr::{truthy, Expr, Variables};
use crate::value::{compare_numbers, compare_values, decimal_to_f64, number, type_rank, Number};

const DOUBLE: u8 = 0x01;
const STRING: u8 = 0x02;
const DOCUMENT: u8 = 0x03;
const ARRAY: u8 = 0x04;
const BINARY: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const OBJECT_ID: u8 = 0x07;
const BOOLEAN: u8 = 0x08;
const DATE_TIME: u8 = 0x09;
const NULL: u8 = 0x0A;
const REGEX: u8 = 0x0B;
const DB_POINTER: u8 = 0x0C;
const JAVASCRIPT: u8 = 0x0D;
const SYMBOL: u8 = 0x0E;
const JAVASCRIPT_WITH_SCOPE: u8 = 0x0F;
const INT32: u8 = 0x10;
const TIMESTAMP: u8 = 0x11;
const INT64: u8 = 0x12;
const DECIMAL128: u8 = 0x13;
const MAX_KEY: u8 = 0x7F;
const MIN_KEY: u8 = 0xFF;

/// The binary subtype whose payload repeats its length in front of the bytes.
const BINARY_OLD: u8 = 0x02;

fn malformed(what: &str) -> MqlError {
    MqlError::parse(format!("malformed BSON: {what}"))
}

/// A document's or array's bytes, from its length prefix to its terminating zero (inclusive).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawDoc<'a> {
    bytes: &'a [u8],
}

/// One value: its element type and exactly its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawValue<'a> {
    tag: u8,
    bytes: &'a [u8],
}

impl<'a> RawDoc<'a> {
    pub(crate) fn new(doc: &'a RawDocument) -> RawDoc<'a> {
        RawDoc {
            bytes: doc.as_bytes(),
        }
    }

    /// Loads one byte of every other cache line of the document's first `WARM_BYTES`. Reading
    /// elements is a dependent chain (each offset comes from the previous length), so on a
    /// document that is not in cache every line would miss in turn; these loads are
    /// independent and their misses overlap. The hardware fetches the neighbouring line of
    /// each (a pair of 64-byte lines): loading one byte per 128 was 3.5% faster over the
    /// `mql-vs-mingo` filters than one per 64, in cache and out of it, and one per 256 was
    /// 7% slower out of cache. Costs a few nanoseconds on a cached document.
    pub(crate) fn warm(self) {
        const STRIDE: usize = 128;
        const WARM_BYTES: usize = 1024;
        // A serial fold, so that it is not vectorised into a gather of every byte.
        let mut touched = 0u64;
        for at in (0..WARM_BYTES).step_by(STRIDE) {
            let Some(byte) = self.bytes.get(at) else {
                break;
            };
            touched = touched.rotate_left(5) ^ u64::from(*byte);
        }
        std::hint::black_box(touched);
    }

    fn elements(self) -> Elements<'a> {
        Elements {
            bytes: self.bytes,
            offset: 4,
        }
    }

    fn decode(self) -> Result<Document> {
        let raw =
            RawDocument::from_bytes(self.bytes).map_err(|error| malformed(&error.to_string()))?;
        Document::try_from(raw).map_err(|error| malformed(&error.to_string()))
    }
}

/// The elements of a document (or array) in order, as (key, value).
pub(crate) struct Elements<'a> {
    bytes: &'a [u8],
    offset: usize,
}

/// The first eight bytes at `at` as a little-endian word, when there are eight.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The length of the key starting at `at` (up to its terminating zero, which must come before
/// `end`, else `None`). Keys are short: the first eight bytes are searched as one word, the
/// rest bytewise.
#[inline(always)]
fn key_len(bytes: &[u8], at: usize, end: usize) -> Option<usize> {
    // May lie at or past `end` (a word can reach the document's terminator): the value then
    // overruns, which the caller checks.
    if let Some(word) = word_at(bytes, at) {
        if let Some(len) = first_zero(word) {
            return Some(len);
        }
        if let Some(len) = word_at(bytes, at + 8).and_then(first_zero) {
            return Some(8 + len);
        }
    }
    cstring_len(bytes.get(at..end)?)
}

/// The index of the first zero byte of `word` (little-endian): the classic "has a zero byte"
/// test, whose lowest set high bit marks the first zero.
#[inline(always)]
fn first_zero(word: u64) -> Option<usize> {
    let zeros = word.wrapping_sub(0x0101_0101_0101_0101) & !word & 0x8080_8080_8080_8080;
    (zeros != 0).then(|| (zeros.trailing_zeros() / 8) as usize)
}

/// The layout of one element: its type, the length of its key (which starts one byte in)
/// and the size of its value (which starts `key_len + 2` bytes in).
#[derive(Debug, Clone, Copy)]
struct Header {
    tag: u8,
    key_len: usize,
    size: usize,
}

impl Header {
    /// Reads the element at `offset` of `bytes`, which must end before `end`; `None` when
    /// malformed. The innermost loop of raw matching: one word for the key, one table lookup
    /// (or one length prefix) for the value, every bound checked once.
    #[inline(always)]
    fn read(bytes: &[u8], offset: usize, end: usize) -> Option<Header> {
        let tag = *bytes.get(offset)?;
        let key_len = key_len(bytes, offset + 1, end)?;
        let rest = bytes.get(offset + key_len + 2..end)?;
        let size = value_size(tag, rest)?;
        Some(Header { tag, key_len, size })
    }

    /// [`Header::read`] for the common types only (fixed sizes, strings, documents, arrays):
    /// `None` also for a rare type, which the caller reads with [`Header::read`] out of its
    /// loop, so that the loop holds no call and keeps its values in registers.
    #[inline(always)]
    fn read_common(bytes: &[u8], offset: usize, end: usize) -> Option<Header> {
        let tag = *bytes.get(offset)?;
        let fixed = fixed_size(tag);
        let key_len = key_len(bytes, offset + 1, end)?;
        let rest = bytes.get(offset + key_len + 2..end)?;
        let size = if fixed < VARIABLE {
            usize::from(fixed)
        } else {
            let size = common_size(tag, read_i32(rest)?)?;
            // A string's own terminator.
            if tag == STRING && rest.get(size - 1) != Some(&0) {
                return None;
            }
            size
        };
        (size <= rest.len()).then_some(Header { tag, key_len, size })
    }

    /// [`Header::read_common`] for the usual element: its first [`QUICK`] bytes lie in
    /// `bytes`, its key is shorter than eight bytes, its type is a common one. The tag, the key
    /// and a length prefix come from one 16-byte load, checked once; `None` for any other
    /// element (or a malformed one), which the caller reads with [`Header::read_fast`].
    #[inline(always)]
    fn read_quick(bytes: &[u8], offset: usize, end: usize) -> Option<Header> {
        let chunk: &[u8; QUICK] = bytes.get(offset..offset + QUICK)?.try_into().ok()?;
        let [tag, k0, k1, k2, k3, k4, k5, k6, k7, ..] = *chunk;
        let key_len = first_zero(u64::from_le_bytes([k0, k1, k2, k3, k4, k5, k6, k7]))?;
        let fixed = fixed_size(tag);
        let size = if fixed < VARIABLE {
            usize::from(fixed)
        } else {
            // Within the chunk: the key ends by its ninth byte.
            let size = common_size(tag, read_i32(chunk.get(key_len + 2..)?)?)?;
            // A string's own terminator.
            if tag == STRING && bytes.get(offset + key_len + 1 + size) != Some(&0) {
                return None;
            }
            size
        };
        (offset + key_len + 2 + size <= end).then_some(Header { tag, key_len, size })
    }

    /// [`Header::read`] out of line, for the rare types after [`Header::read_common`].
    #[cold]
    #[inline(never)]
    fn read_rare(bytes: &[u8], offset: usize, end: usize) -> Option<Header> {
        Header::read(bytes, offset, end)
    }

    /// [`Header::read`], with the rare types out of line.
    #[inline(always)]
    fn read_fast(bytes: &[u8], offset: usize, end: usize) -> Option<Header> {
        match Header::read_common(bytes, offset, end) {
            Some(header) => Some(header),
            None => Header::read_rare(bytes, offset, end),
        }
    }

    fn value_at(self, offset: usize) -> usize {
        offset + self.key_len + 2
    }

    fn total(self) -> usize {
        self.key_len + 2 + self.size
    }
}

/// The key length and total size of the element at `offset` of `bytes` (which must end
/// before `end`), or `None` when malformed (the whole element must lie before `end`).
#[inline(always)]
pub(crate) fn element_at(bytes: &[u8], offset: usize, end: usize) -> Option<(usize, usize)> {
    let header = Header::read_fast(bytes, offset, end)?;
    Some((header.key_len, header.total()))
}

/// [`element_at`], with the key as a word: for a key of up to eight bytes, its bytes as a
/// little-endian word, zero above its length ([`key_word`] of the key); `0` for a longer key.
#[inline(always)]
pub(crate) fn element_word_at(
    bytes: &[u8],
    offset: usize,
    end: usize,
) -> Option<(usize, usize, u64)> {
    let (key_len, size) = element_at(bytes, offset, end)?;
    if key_len > 8 {
        return Some((key_len, size, 0));
    }
    // The same word the key's length was found in.
    let word = match word_at(bytes, offset + 1) {
        Some(word) => word & low_bytes(key_len),
        None => key_word(bytes.get(offset + 1..offset + 1 + key_len)?),
    };
    Some((key_len, size, word))
}

/// The mask of the low `len` bytes of a word (`len` at most 8).
#[inline(always)]
fn low_bytes(len: usize) -> u64 {
    u64::MAX
        .checked_shr(64 - 8 * len.min(8) as u32)
        .unwrap_or(0)
}

/// A key of up to eight bytes as a little-endian word, zero above its length; `0` for a
/// longer key.
pub fn key_word(key: &[u8]) -> u64 {
    if key.len() > 8 {
        return 0;
    }
    let mut bytes = [0u8; 8];
    for (slot, byte) in bytes.iter_mut().zip(key) {
        *slot = *byte;
    }
    u64::from_le_bytes(bytes)
}

fn bad_element() -> MqlError {
    malformed("bad element")
}

impl<'a> RawDoc<'a> {
    /// The index of the terminating zero; elements live before it.
    fn end(self) -> usize {
        self.bytes.len().saturating_sub(1)
    }

    /// Whether the element at `offset` (read as `header`) is named `name`.
    #[inline(always)]
    fn named(self, offset: usize, header: Header, name: &[u8]) -> bool {
        header.key_len == name.len()
            && self
                .bytes
                .get(offset + 1..offset + 1 + header.key_len)
                .is_some_and(|key| same_key(key, name))
    }

    /// The value of the element at `offset`, read as `header`.
    fn value(self, offset: usize, header: Header) -> Option<RawValue<'a>> {
        let value_at = header.value_at(offset);
        let bytes = self.bytes.get(value_at..value_at + header.size)?;
        Some(RawValue {
            tag: header.tag,
            bytes,
        })
    }

    /// The first field named `name` at or after the element at `offset`.
    #[inline(never)]
    fn find_from(self, mut offset: usize, name: &[u8]) -> Found {
        let end = self.end();
        while let Some(header) = Header::read_quick(self.bytes, offset, end) {
            if self.named(offset, header, name) {
                return Found::at(offset, header);
            }
            offset += header.total();
        }
        while offset < end {
            let Some(header) = Header::read_common(self.bytes, offset, end) else {
                return self.find_rare(offset, name);
            };
            if self.named(offset, header, name) {
                return Found::at(offset, header);
            }
            offset += header.total();
        }
        Found::end(self.bytes, end)
    }

    /// [`RawDoc::find_from`] from an element of a rare type (or a malformed one).
    #[cold]
    #[inline(never)]
    fn find_rare(self, mut offset: usize, name: &[u8]) -> Found {
        let end = self.end();
        while offset < end {
            let Some(header) = Header::read(self.bytes, offset, end) else {
                return Found::BadElement;
            };
            if self.named(offset, header, name) {
                return Found::at(offset, header);
            }
            offset += header.total();
        }
        Found::end(self.bytes, end)
    }

    /// The first field named `name`.
    #[inline(always)]
    fn find(self, name: &[u8]) -> Result<Option<RawValue<'a>>> {
        self.found(self.find_from(4, name))
    }

    /// The value (or the error) `found` describes.
    #[inline(always)]
    fn found(self, found: Found) -> Result<Option<RawValue<'a>>> {
        match self.found_value(found) {
            Ok(value) => Ok(value),
            Err(found) => Err(found.error()),
        }
    }

    /// [`RawDoc::found`] with the failure left as the lookup's outcome: small enough for
    /// registers (moving a `Result<Option<RawValue>>` out of a match went through the stack
    /// in overlapping pieces, and reading it back stalled: 2% of a one-field match).
    #[inline(always)]
    fn found_value(self, found: Found) -> std::result::Result<Option<RawValue<'a>>, Found> {
        match found {
            Found::At { at, size, tag } => {
                let (at, size) = (at as usize, size as usize);
                match self.bytes.get(at..at + size) {
                    Some(bytes) => Ok(Some(RawValue { tag, bytes })),
                    None => Err(Found::BadElement),
                }
            }
            Found::Missing => Ok(None),
            failed => Err(failed),
        }
    }
}

/// A test of one top-level field for equality with a string or an ObjectId (`{"owner":
/// "u1"}`, the usual role gate and the usual lookup), decided on the stored bytes without the
/// general evaluator: the value of either type equals the operand exactly when its bytes do.
#[derive(Debug, Clone)]
pub(crate) struct QuickEq {
    tag: u8,
    /// The operand's value bytes as BSON stores them.
    value: Box<[u8]>,
}

impl QuickEq {
    /// The quick form of `== operand`, when the operand is a string or an ObjectId.
    pub(crate) fn new(operand: &Bson) -> Option<QuickEq> {
        let (tag, value) = match operand {
            Bson::String(text) => {
                let length = i32::try_from(text.len() + 1).ok()?;
                let mut value = Vec::with_capacity(text.len() + 5);
                value.extend_from_slice(&length.to_le_bytes());
                value.extend_from_slice(text.as_bytes());
                value.push(0);
                (STRING, value)
            }
            Bson::ObjectId(id) => (OBJECT_ID, id.bytes().to_vec()),
            _ => return None,
        };
        Some(QuickEq {
            tag,
            value: value.into(),
        })
    }

    /// Whether `value` (the field's, present) equals the operand, when its type decides it
    /// alone: `None` for an array (any element may match) or a symbol (which compares as a
    /// string).
    #[inline]
    fn decides(&self, value: RawValue<'_>) -> Option<bool> {
        if value.tag == self.tag {
            return Some(
                value.bytes.len() == self.value.len() && same_key(value.bytes, &self.value),
            );
        }
        match value.tag {
            ARRAY | SYMBOL => None,
            _ => Some(false),
        }
    }
}

/// A filter whose root is `leaf` (a path of one top-level name), or its negation, on a
/// document's bytes: the field is looked up once and its value handed to the leaf's test
/// ([`super::eval::top_leaf`]), without the general evaluator's dispatch; `eq`, the leaf as a
/// [`QuickEq`], compares the value's bytes when their type decides it.
#[inline(never)]
pub(crate) fn top_leaf(
    leaf: &Leaf,
    eq: Option<&QuickEq>,
    negated: bool,
    doc: &RawDocument,
    variables: &Variables,
    position: &mut Option<usize>,
) -> Result<bool> {
    top_leaf_inline(leaf, eq, negated, doc, variables, position)
}

/// [`top_leaf`], inlined where its outcome should stay in registers.
#[inline(always)]
pub(crate) fn top_leaf_inline(
    leaf: &Leaf,
    eq: Option<&QuickEq>,
    negated: bool,
    doc: &RawDocument,
    variables: &Variables,
    position: &mut Option<usize>,
) -> Result<bool> {
    let root = RawDoc::new(doc);
    root.warm();
    let value = match root.found_value(root.find_from(4, leaf.path.dotted.as_bytes())) {
        Ok(value) => value,
        Err(failed) => return Err(failed.error()),
    };
    if let Some(eq) = eq {
        // A missing field never equals a string or an ObjectId.
        match value.map(|value| eq.decides(value)) {
            None => return Ok(negated),
            Some(Some(equal)) => return Ok(equal != negated),
            Some(None) => {}
        }
    }
    let mut lookups = RawValue::lookups(Container::Doc(root), false);
    let mut inner = None;
    let matched = super::eval::top_leaf::<RawValue<'_>>(
        leaf,
        value,
        variables,
        if negated { &mut inner } else { position },
        &mut lookups,
    )?;
    Ok(matched != negated)
}

/// Byte equality without a call into `memcmp`, for the short keys and strings of documents.
#[inline]
fn same_key(key: &[u8], name: &[u8]) -> bool {
    key.len() == name.len() && key.iter().zip(name).all(|(a, b)| a == b)
}

/// Byte order, without a call into `memcmp` for short strings.
#[inline]
fn compare_bytes(left: &[u8], right: &[u8]) -> Ordering {
    if left.len().min(right.len()) > 16 {
        return left.cmp(right);
    }
    for (a, b) in left.iter().zip(right) {
        if a != b {
            return a.cmp(b);
        }
    }
    left.len().cmp(&right.len())
}

/// The outcome of a field lookup, small enough to be returned in registers (a
/// `Result<Option<RawValue>>` goes through memory, and reading it back stalls).
#[derive(Debug, Clone, Copy)]
enum Found {
    /// The value of type `tag`: `size` bytes at `at`.
    At {
        at: u32,
        size: u32,
        tag: u8,
    },
    Missing,
    BadElement,
    NotTerminated,
}

impl Found {
    /// The value of the element at `offset`, read as `header`.
    #[inline(always)]
    fn at(offset: usize, header: Header) -> Found {
        // A document's length is an i32, so its offsets fit.
        match (
            u32::try_from(header.value_at(offset)),
            u32::try_from(header.size),
        ) {
            (Ok(at), Ok(size)) => Found::At {
                at,
                size,
                tag: header.tag,
            },
            _ => Found::BadElement,
        }
    }

    /// The error a failed lookup is.
    #[cold]
    fn error(self) -> MqlError {
        match self {
            Found::NotTerminated => malformed("document not terminated"),
            _ => bad_element(),
        }
    }

    /// Missing, once all elements are read: if the document is terminated.
    fn end(bytes: &[u8], end: usize) -> Found {
        match terminated(bytes, end) {
            Ok(()) => Found::Missing,
            Err(_) => Found::NotTerminated,
        }
    }
}

/// Checks the final zero once the elements are read.
fn terminated(bytes: &[u8], end: usize) -> Result<()> {
    match bytes.get(end) {
        Some(0) if end >= 4 => Ok(()),
        _ => Err(malformed("document not terminated")),
    }
}

mod memo;
use memo::REMEMBER_FROM;
pub(crate) use memo::{Lookups, Memo};

impl<'a> Elements<'a> {
    #[inline(always)]
    fn step(&mut self) -> Result<Option<(&'a [u8], RawValue<'a>)>> {
        let end = self.bytes.len().saturating_sub(1);
        let offset = self.offset;
        if offset >= end {
            self.offset = usize::MAX;
            terminated(self.bytes, end)?;
            return Ok(None);
        }
        let header = Header::read_fast(self.bytes, offset, end).ok_or_else(bad_element)?;
        let doc = RawDoc { bytes: self.bytes };
        let key = self.bytes.get(offset + 1..offset + 1 + header.key_len);
        let (Some(key), Some(value)) = (key, doc.value(offset, header)) else {
            return Err(bad_element());
        };
        self.offset += header.total();
        Ok(Some((key, value)))
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<(&'a [u8], RawValue<'a>)>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.offset == usize::MAX {
            return None;
        }
        let item = self.step();
        if item.is_err() {
            // Stop after an error rather than resynchronise on garbage.
            self.offset = usize::MAX;
        }
        item.transpose()
    }
}

/// An array's elements (keys ignored, as decoding does).
pub(crate) struct RawItems<'a>(Elements<'a>);

impl<'a> Iterator for RawItems<'a> {
    type Item = Result<RawValue<'a>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Result<RawValue<'a>>> {
        self.0.next().map(|item| item.map(|(_, value)| value))
    }
}

#[inline]
fn read_i32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

fn read_i64(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// A length prefix at least `min`.
#[inline]
fn read_len(bytes: &[u8], min: usize) -> Option<usize> {
    usize::try_from(read_i32(bytes)?)
        .ok()
        .filter(|len| *len >= min)
}

fn cstring_len(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|byte| *byte == 0)
}

/// The size of the values of each element type when fixed, else [`VARIABLE`] (or
/// [`INVALID`]).
static FIXED_SIZES: [u8; 256] = fixed_sizes();

// Evaluated at compile time only: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn fixed_sizes() -> [u8; 256] {
    let mut sizes = [INVALID; 256];
    let mut tag = 0;
    while tag < 256 {
        sizes[tag] = match tag as u8 {
            DOUBLE | DATE_TIME | TIMESTAMP | INT64 => 8,
            INT32 => 4,
            OBJECT_ID => 12,
            BOOLEAN => 1,
            DECIMAL128 => 16,
            UNDEFINED | NULL | MIN_KEY | MAX_KEY => 0,
            STRING
            | JAVASCRIPT
            | SYMBOL
            | DOCUMENT
            | ARRAY
            | JAVASCRIPT_WITH_SCOPE
            | BINARY
            | REGEX
            | DB_POINTER => VARIABLE,
            _ => INVALID,
        };
        tag += 1;
    }
    sizes
}

/// The size of the values of element type `tag` when fixed, else [`VARIABLE`] (or
/// [`INVALID`]).
#[inline(always)]
fn fixed_size(tag: u8) -> u8 {
    FIXED_SIZES
        .get(usize::from(tag))
        .copied()
        .unwrap_or(INVALID)
}

const VARIABLE: u8 = 0xFE;

/// The bytes [`Header::read_quick`] reads at once.
const QUICK: usize = 16;
const INVALID: u8 = 0xFF;

/// The size of a value of type `tag` at the start of `rest`, checked to fit in `rest`.
#[inline(always)]
fn value_size(tag: u8, rest: &[u8]) -> Option<usize> {
    let fixed = fixed_size(tag);
    let size = if fixed < VARIABLE {
        usize::from(fixed)
    } else {
        variable_size(tag, rest)?
    };
    (size <= rest.len()).then_some(size)
}

/// The size of a string, document or array value whose length prefix is `prefix` (a string's
/// size includes its prefix); `None` for another type or a prefix too small for the type.
#[inline(always)]
fn common_size(tag: u8, prefix: i32) -> Option<usize> {
    // Both guards make `prefix` positive.
    match tag {
        STRING if prefix >= 1 => Some(4 + prefix as usize),
        DOCUMENT | ARRAY if prefix >= 5 => Some(prefix as usize),
        _ => None,
    }
}

/// [`value_size`] for the types with a length prefix or terminators (not checked to fit).
#[inline(always)]
fn variable_size(tag: u8, rest: &[u8]) -> Option<usize> {
    Some(match tag {
        STRING | JAVASCRIPT | SYMBOL => {
            let size = 4 + read_len(rest, 1)?;
            // The string's own terminator.
            if rest.get(size - 1) != Some(&0) {
                return None;
            }
            size
        }
        DOCUMENT | ARRAY => read_len(rest, 5)?,
        _ => rare_size(tag, rest)?,
    })
}

#[cold]
fn rare_size(tag: u8, rest: &[u8]) -> Option<usize> {
    Some(match tag {
        JAVASCRIPT_WITH_SCOPE => read_len(rest, 14)?,
        BINARY => 5 + read_len(rest, 0)?,
        REGEX => {
            let pattern = cstring_len(rest)? + 1;
            pattern + cstring_len(rest.get(pattern..)?)? + 1
        }
        DB_POINTER => 4 + read_len(rest, 1)? + 12,
        _ => return None,
    })
}

/// MongoDB's canonical type rank of an element type (as [`type_rank`]).
fn rank(tag: u8) -> u8 {
    match tag {
        MIN_KEY => 0,
        UNDEFINED => 1,
        NULL => 2,
        DOUBLE | INT32 | INT64 | DECIMAL128 => 3,
        STRING | SYMBOL => 4,
        DOCUMENT => 5,
        ARRAY => 6,
        BINARY => 7,
        OBJECT_ID => 8,
        BOOLEAN => 9,
        DATE_TIME => 10,
        TIMESTAMP => 11,
        REGEX => 12,
        DB_POINTER => 13,
        JAVASCRIPT => 14,
        JAVASCRIPT_WITH_SCOPE => 15,
        _ => 16,
    }
}

impl<'a> RawValue<'a> {
    /// A string's bytes without its length and terminator (strings, symbols, code).
    fn text(self) -> &'a [u8] {
        self.bytes
            .get(4..self.bytes.len().saturating_sub(1))
            .unwrap_or_default()
    }

    fn doc(self) -> RawDoc<'a> {
        RawDoc { bytes: self.bytes }
    }

    fn number(self) -> Option<Number> {
        match self.tag {
            INT32 => read_i32(self.bytes).map(|value| Number::Int(i64::from(value))),
            INT64 => read_i64(self.bytes).map(Number::Int),
            DOUBLE => Some(Number::Double(f64::from_le_bytes(
                self.bytes.get(..8)?.try_into().ok()?,
            ))),
            DECIMAL128 => {
                let bytes: [u8; 16] = self.bytes.try_into().ok()?;
                Some(Number::Double(decimal_to_f64(
                    &bson::Decimal128::from_bytes(bytes),
                )))
            }
            _ => None,
        }
    }

    fn is_nan(self) -> bool {
        matches!(self.number(), Some(Number::Double(value)) if value.is_nan())
    }

    /// The exact decimal form of a number (`None` for any other value or a truncated one).
    fn decimal(self) -> Option<Decimal> {
        Some(match self.tag {
            DECIMAL128 => Decimal::from_bytes(self.bytes.try_into().ok()?),
            DOUBLE => Decimal::from_f64(f64::from_le_bytes(self.bytes.get(..8)?.try_into().ok()?)),
            INT32 | INT64 => match self.number()? {
                Number::Int(value) => Decimal::from_i64(value),
                Number::Double(_) => return None,
            },
            _ => return None,
        })
    }

    /// A binary value's subtype and payload (the old subtype's inner length removed).
    fn binary(self) -> Result<(u8, &'a [u8])> {
        let subtype = *self
            .bytes
            .get(4)
            .ok_or_else(|| malformed("truncated binary"))?;
        let payload = self.bytes.get(5..).unwrap_or_default();
        if subtype != BINARY_OLD {
            return Ok((subtype, payload));
        }
        let inner = read_len(payload, 0)
            .filter(|len| len + 4 == payload.len())
            .ok_or_else(|| malformed("bad inner length of old binary subtype"))?;
        Ok((subtype, payload.get(4..4 + inner).unwrap_or_default()))
    }

    /// A regex's pattern and options, without terminators.
    fn regex(self) -> (&'a [u8], &'a [u8]) {
        let pattern_len = cstring_len(self.bytes).unwrap_or(0);
        let pattern = self.bytes.get(..pattern_len).unwrap_or_default();
        let rest = self.bytes.get(pattern_len + 1..).unwrap_or_default();
        let options = rest
            .get(..cstring_len(rest).unwrap_or(0))
            .unwrap_or_default();
        (pattern, options)
    }

    /// The decoded value, through a one-field document. Allocates: used only for the rare types
    /// compared with decoded-value rules (DBPointer, code with scope).
    fn to_bson(self) -> Result<Bson> {
        let total = i32::try_from(self.bytes.len() + 7).map_err(|_| malformed("too large"))?;
        let mut buffer = Vec::with_capacity(self.bytes.len() + 7);
        buffer.extend_from_slice(&total.to_le_bytes());
        buffer.push(self.tag);
        buffer.push(0);
        buffer.extend_from_slice(self.bytes);
        buffer.push(0);
        let doc =
            RawDocumentBuf::from_bytes(buffer).map_err(|error| malformed(&error.to_string()))?;
        let value = doc
            .get("")
            .map_err(|error| malformed(&error.to_string()))?
            .ok_or_else(|| malformed("value lost"))?;
        Bson::try_from(value).map_err(|error| malformed(&error.to_string()))
    }
}

/// Compares a raw value with a decoded one in MongoDB's total order: the same result as
/// `compare_values(&decoded(value), operand)`, without decoding.
pub(crate) fn compare_raw_to_bson(value: RawValue<'_>, operand: &Bson) -> Result<Ordering> {
    let by_rank = rank(value.tag).cmp(&type_rank(operand));
    if by_rank != Ordering::Equal {
        return Ok(by_rank);
    }
    Ok(match (value.tag, operand) {
        (STRING | SYMBOL, Bson::String(text) | Bson::Symbol(text)) => {
            compare_bytes(value.text(), text.as_bytes())
        }
        (DOCUMENT, Bson::Document(doc)) => return compare_raw_document(value.doc(), doc),
        (ARRAY, Bson::Array(items)) => return compare_raw_array(value.doc(), items),
        (BINARY, Bson::Binary(binary)) => {
            let (subtype, bytes) = value.binary()?;
            bytes
                .len()
                .cmp(&binary.bytes.len())
                .then_with(|| subtype.cmp(&u8::from(binary.subtype)))
                .then_with(|| bytes.cmp(&binary.bytes))
        }
        (OBJECT_ID, Bson::ObjectId(id)) => value.bytes.cmp(&id.bytes()[..]),
        (BOOLEAN, Bson::Boolean(flag)) => (value.bytes != [0]).cmp(flag),
        (DATE_TIME, Bson::DateTime(date)) => {
            read_i64(value.bytes).cmp(&Some(date.timestamp_millis()))
        }
        // Little-endian increment, then time.
        (TIMESTAMP, Bson::Timestamp(stamp)) => read_u32(value.bytes.get(4..).unwrap_or_default())
            .cmp(&Some(stamp.time))
            .then_with(|| read_u32(value.bytes).cmp(&Some(stamp.increment))),
        (REGEX, Bson::RegularExpression(regex)) => {
            let (pattern, options) = value.regex();
            pattern
                .cmp(regex.pattern.as_str().as_bytes())
                .then_with(|| options.cmp(regex.options.as_str().as_bytes()))
        }
        (JAVASCRIPT, Bson::JavaScriptCode(code)) => value.text().cmp(code.as_bytes()),
        (MIN_KEY | MAX_KEY | NULL | UNDEFINED, _) => Ordering::Equal,
        (DECIMAL128, _) | (DOUBLE | INT32 | INT64, Bson::Decimal128(_)) => {
            match (value.decimal(), Decimal::of(operand)) {
                (Some(left), Some(right)) => left.compare(right),
                _ => return Err(malformed("truncated number")),
            }
        }
        (DOUBLE | INT32 | INT64, _) => match (value.number(), number(operand)) {
            (Some(left), Some(right)) => compare_numbers(left, right),
            _ => Ordering::Equal,
        },
        _ => compare_values(&value.to_bson()?, operand),
    })
}

/// Field by field: type rank, then name, then value; a prefix sorts first.
fn compare_raw_document(raw: RawDoc<'_>, doc: &Document) -> Result<Ordering> {
    let mut right = doc.iter();
    for element in raw.elements() {
        let (key, value) = element?;
        let Some((name, operand)) = right.next() else {
            return Ok(Ordering::Greater);
        };
        let order = rank(value.tag)
            .cmp(&type_rank(operand))
            .then_with(|| key.cmp(name.as_bytes()));
        let order = match order {
            Ordering::Equal => compare_raw_to_bson(value, operand)?,
            other => other,
        };
        if order != Ordering::Equal {
            return Ok(order);
        }
    }
    Ok(if right.next().is_some() {
        Ordering::Less
    } else {
        Ordering::Equal
    })
}

fn compare_raw_array(raw: RawDoc<'_>, items: &[Bson]) -> Result<Ordering> {
    let mut right = items.iter();
    for element in raw.elements() {
        let (_, value) = element?;
        let Some(operand) = right.next() else {
            return Ok(Ordering::Greater);
        };
        let order = compare_raw_to_bson(value, operand)?;
        if order != Ordering::Equal {
            return Ok(order);
        }
    }
    Ok(if right.next().is_some() {
        Ordering::Less
    } else {
        Ordering::Equal
    })
}

impl<'a> View<'a> for RawValue<'a> {
    type Doc = RawDoc<'a>;
    type Arr = RawDoc<'a>;
    type Items = RawItems<'a>;
    type Lookups = Lookups<'a>;

    fn lookups(root: Container<RawDoc<'a>, RawDoc<'a>>, several: bool) -> Lookups<'a> {
        match root {
            // Reading a small document again costs less than remembering it.
            Container::Doc(doc) if several && doc.bytes.len() >= REMEMBER_FROM => {
                Lookups::On(Memo::new(doc))
            }
            _ => Lookups::Off,
        }
    }

    fn shape(self) -> Shape<RawDoc<'a>, RawDoc<'a>> {
        match self.tag {
            DOCUMENT => Shape::Doc(self.doc()),
            ARRAY => Shape::Arr(self.doc()),
            _ => Shape::Leaf,
        }
    }

    #[inline(always)]
    fn field(
        doc: RawDoc<'a>,
        name: &str,
        lookups: &mut Lookups<'a>,
    ) -> Result<Option<RawValue<'a>>> {
        lookups.field(doc, name.as_bytes())
    }

    fn index(arr: RawDoc<'a>, index: usize) -> Result<Option<RawValue<'a>>> {
        RawItems(arr.elements()).nth(index).transpose()
    }

    fn items(arr: RawDoc<'a>) -> RawItems<'a> {
        RawItems(arr.elements())
    }

    fn test_value(pred: &Pred, value: Option<RawValue<'a>>) -> Result<bool> {
        let Some(value) = value else {
            // A missing value: only the comparisons with null and `$in` with null hold.
            return Ok(match pred {
                Pred::Cmp(op, operand) => compare_missing(*op, operand),
                Pred::In(list) => list.has_null,
                _ => false,
            });
        };
        Ok(match pred {
            Pred::Cmp(op, operand) => compare(*op, operand, value)?,
            Pred::In(list) => in_list(list, value)?,
            Pred::Regex(regex) => regex_matches(regex, value)?,
            Pred::Exists => true,
            Pred::Type(bits) => bits & type_bit(type_number(value.tag)) != 0,
            Pred::Mod { divisor, remainder } => {
                let dividend = if value.tag == DECIMAL128 {
                    let bytes: Option<[u8; 16]> = value.bytes.try_into().ok();
                    bytes.and_then(|bytes| Decimal::from_bytes(bytes).truncated_i64())
                } else {
                    value.number().and_then(integer_value)
                };
                dividend.is_some_and(|dividend| dividend.wrapping_rem(*divisor) == *remainder)
            }
            Pred::Bits(op, positions) => {
                let source = if value.tag == BINARY {
                    Some(BitSource::Bytes(value.binary()?.1))
                } else {
                    value.number().and_then(BitSource::number)
                };
                source.is_some_and(|source| source.test(*op, positions))
            }
            Pred::Size(size) => value.tag == ARRAY && count(value.doc())? == *size,
            Pred::ElemObject(_) | Pred::ElemValue(_) | Pred::Never => false,
        })
    }

    fn expr(doc: RawDoc<'a>, expr: &Expr, variables: &Variables) -> Result<bool> {
        // `$expr` evaluates over a decoded document; decoding is paid only by filters with one.
        let decoded = doc.decode()?;
        Ok(truthy(expr.evaluate(&decoded, variables)?.as_ref()))
    }
}

fn count(arr: RawDoc<'_>) -> Result<usize> {
    let mut count = 0;
    for element in arr.elements() {
        element?;
        count += 1;
    }
    Ok(count)
}

fn nan(value: Number) -> bool {
    matches!(value, Number::Double(value) if value.is_nan())
}

fn type_number(tag: u8) -> i32 {
    match tag {
        MIN_KEY => -1,
        other => i32::from(other),
    }
}

/// `eval::compare` for a missing value, which has the canonical type of undefined.
fn compare_missing(op: CmpOp, operand: &Bson) -> bool {
    // Undefined operands are refused at compile time; the decoded path answers false for them.
    rank(UNDEFINED) != type_rank(operand) && compare_across_types(op, rank(UNDEFINED), operand)
}

/// `eval::compare` on a raw value: the same rules, with same-type fast paths that compare the
/// bytes in place.
fn compare(op: CmpOp, operand: &Bson, value: RawValue<'_>) -> Result<bool> {
    match (value.tag, operand) {
        (STRING, Bson::String(text)) => {
            let (left, right) = (value.text(), text.as_bytes());
            return Ok(match op {
                CmpOp::Eq => same_key(left, right),
                _ => holds(op, compare_bytes(left, right)),
            });
        }
        (INT32, Bson::Int32(right)) => {
            return Ok(holds(op, read_i32(value.bytes).cmp(&Some(*right))))
        }
        (INT64, Bson::Int64(right)) => {
            return Ok(holds(op, read_i64(value.bytes).cmp(&Some(*right))))
        }
        (BOOLEAN, Bson::Boolean(right)) => return Ok(holds(op, (value.bytes != [0]).cmp(right))),
        // Doubles and int32s, both exact as doubles.
        (DOUBLE | INT32, Bson::Double(_) | Bson::Int32(_)) => {
            let left = match value.number() {
                Some(Number::Double(left)) => left,
                Some(Number::Int(left)) => left as f64,
                None => return Err(malformed("truncated number")),
            };
            let right = match operand {
                Bson::Double(right) => *right,
                Bson::Int32(right) => f64::from(*right),
                _ => f64::NAN,
            };
            if left.is_nan() || right.is_nan() {
                let both = left.is_nan() && right.is_nan();
                return Ok(matches!(op, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte) && both);
            }
            return Ok(holds(
                op,
                left.partial_cmp(&right).unwrap_or(Ordering::Equal),
            ));
        }
        _ => {}
    }
    // A decimal on either side: compared exactly (see `crate::decimal`).
    if value.tag == DECIMAL128 || matches!(operand, Bson::Decimal128(_)) {
        if let (Some(left), Some(right)) = (value.decimal(), Decimal::of(operand)) {
            let (value_nan, operand_nan) = (left == Decimal::NaN, right == Decimal::NaN);
            if value_nan || operand_nan {
                return Ok(matches!(op, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte)
                    && value_nan
                    && operand_nan);
            }
            return Ok(holds(op, left.compare(right)));
        }
    }
    // Numbers of any two types: the same rules as below, each number read once.
    if let (Some(left), Some(right)) = (value.number(), number(operand)) {
        let (value_nan, operand_nan) = (nan(left), nan(right));
        if value_nan || operand_nan {
            return Ok(matches!(op, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte)
                && value_nan
                && operand_nan);
        }
        return Ok(holds(op, compare_numbers(left, right)));
    }
    let value_rank = rank(value.tag);
    if value_rank != type_rank(operand) {
        return Ok(compare_across_types(op, value_rank, operand));
    }
    let (value_nan, operand_nan) = (value.is_nan(), is_nan(operand));
    if value_nan || operand_nan {
        let both = value_nan && operand_nan;
        return Ok(match op {
            CmpOp::Lt | CmpOp::Gt => false,
            CmpOp::Eq | CmpOp::Lte | CmpOp::Gte => both,
        });
    }
    Ok(holds(op, compare_raw_to_bson(value, operand)?))
}

/// `$in`: binary search of the sorted operands, then the regexes.
fn in_list(list: &InList, value: RawValue<'_>) -> Result<bool> {
    if value.tag == UNDEFINED {
        return Ok(list.has_null);
    }
    let (mut low, mut high) = (0, list.values.len());
    while low < high {
        let middle = low + (high - low) / 2;
        let Some(probe) = list.values.get(middle) else {
            break;
        };
        match compare_raw_to_bson(value, probe)? {
            Ordering::Equal => return Ok(true),
            Ordering::Less => high = middle,
            Ordering::Greater => low = middle + 1,
        }
    }
    for regex in &list.regexes {
        if regex_matches(regex, value)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn regex_matches(regex: &RegexPred, value: RawValue<'_>) -> Result<bool> {
    Ok(match value.tag {
        STRING | SYMBOL => {
            let text = std::str::from_utf8(value.text())
                .map_err(|_| malformed("string is not valid UTF-8"))?;
            regex.regex.is_match(text)
        }
        REGEX => {
            let (pattern, options) = value.regex();
            pattern == regex.pattern.as_bytes() && options == regex.options.as_bytes()
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests;
