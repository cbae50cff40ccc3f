//! Field permissions decided once per request, or once per document. When no field permission
//! of a role reads the value of the field it governs (`%%this`, `%%prev`), which top-level and
//! embedded fields the role may read depends on the request (constants, `%%user`, `%%values`,
//! `%function` of request values: decided once per request) and at most on the document as a
//! whole (`additional_fields` gated by `{"owner": "%%user.id"}`: decided once per document,
//! before the walk). Such a role gets a [`FieldTable`] the first time a lean read needs it,
//! and redacting a stored document is then one pass that looks each key up in the table and
//! copies or skips the element's bytes.
//!
//! Only lean reads ([`Authorizer::without_explanations`]) use it: explanations list each
//! withheld field of each document, which the table does not record. A permission that fails
//! to evaluate for the request disables the table for the role, and one that fails for a
//! document sends that document to the per-document path, so the failure is recorded as
//! before.

use bson::RawDocument;
use rampart_mql::raw::{element_layout_word, key_word, RawElement};
use rampart_mql::{Filter, MqlError};

use crate::authorize::{Authorizer, Images, Tri};
use crate::compile::{FieldRules, Permission, Role};
use crate::expr::{Budget, Expression, Image, RawImage, Scope};
use crate::redact::{nested_raw, Copy, Outcome};

/// A role's field table and the permissions it decides per document.
#[derive(Debug, Clone)]
pub(crate) struct FieldTable {
    fields: StaticFields,
    /// Permissions that read the document (not the field's value), by slot: decided once per
    /// document, slot `i` giving bit `i` of the document's outcomes.
    per_document: Vec<PerDocument>,
}

/// A permission decided per document, with its read's and write's
/// [`Expression::root_filters`] (prepared for the request) when they are tests of document
/// fields: those are matched on the stored document, as a role gate is.
#[derive(Debug, Clone)]
struct PerDocument {
    permission: Permission,
    filters: [Option<Vec<Filter>>; 2],
}

/// The most permissions a table decides per document (one bit each).
const PER_DOCUMENT: usize = 64;

impl FieldTable {
    /// The table of `role`, or `None` when one of its field permissions reads the value of
    /// the field it governs or fails to evaluate for the request, or too many read the
    /// document.
    pub(crate) fn of(authorizer: &Authorizer, role: &Role) -> Option<FieldTable> {
        let mut per_document = Vec::new();
        let fields = compile(
            authorizer,
            role.fields.as_ref(),
            role.additional_fields.as_ref(),
            &mut per_document,
        )?;
        if per_document.len() > PER_DOCUMENT {
            return None;
        }
        let filters = |expression: Option<&Expression>| {
            expression.and_then(|expression| expression.root_filters(&authorizer.scope))
        };
        let per_document = per_document
            .into_iter()
            .map(|permission| PerDocument {
                filters: [
                    filters(permission.read.as_ref()),
                    filters(permission.write.as_ref()),
                ],
                permission,
            })
            .collect();
        Some(FieldTable {
            fields,
            per_document,
        })
    }
}

/// What a role may read of any document, by field name.
#[derive(Debug, Clone)]
pub(crate) struct StaticFields {
    named: Vec<(Box<[u8]>, StaticField)>,
    /// Bit `n` set when a named field is `n` bytes long (names of 64 bytes or more set bit
    /// 63): most keys of a document are ruled out by their length alone.
    lengths: u64,
    /// Per name, its length and, for a name of up to eight bytes, its bytes as a
    /// little-endian word (zero above the name's length; zero for longer names, which are
    /// compared bytewise).
    words: Vec<(usize, u64)>,
    /// Whether fields not named are readable (`additional_fields`).
    unlisted: Decided,
    /// Bit `i` set when `named[i]` may be shown (not dropped outright), for the first 64
    /// names; `None` when there are more (see [`StaticFields::cut`]).
    wanted: Option<u64>,
}

#[derive(Debug, Clone)]
enum StaticField {
    Keep,
    Drop,
    /// Shown when the per-document permission in this slot holds.
    PerDocument(usize),
    /// Only nested permissions: embedded fields decided by their own table.
    Nested(StaticFields),
}

/// A permission's outcome: for the request, or per document (by slot).
#[derive(Debug, Clone, Copy)]
enum Decided {
    Always(bool),
    PerDocument(usize),
}

impl Decided {
    #[inline]
    fn holds(self, outcomes: u64) -> bool {
        match self {
            Decided::Always(holds) => holds,
            Decided::PerDocument(slot) => outcomes & slot_bit(slot) != 0,
        }
    }
}

fn slot_bit(slot: usize) -> u64 {
    1u64.checked_shl(slot as u32).unwrap_or(0)
}

fn length_bit(len: usize) -> u64 {
    1u64 << len.min(63)
}

impl StaticFields {
    /// The entry for a key and its bit (see `wanted`): a key of `key_len` bytes, `word` as
    /// [`key_word`] gives it; `key` gives the key's bytes, compared for a key of more than
    /// eight bytes.
    #[inline]
    fn lookup<'k>(
        &self,
        key_len: usize,
        word: u64,
        key: impl FnOnce() -> &'k [u8],
    ) -> Option<(&StaticField, u64)> {
        if self.lengths & length_bit(key_len) == 0 {
            return None;
        }
        let found = if key_len <= 8 {
            self.words
                .iter()
                .position(|named| *named == (key_len, word))
        } else {
            let key = key();
            self.named.iter().position(|(name, _)| same_key(name, key))
        }?;
        let (_, field) = self.named.get(found)?;
        Some((field, 1u64.checked_shl(found as u32).unwrap_or(0)))
    }

    /// The named fields that, once all met, leave nothing else to show in a document with
    /// these per-document `outcomes`: `None` when fields not named are readable (or there are
    /// too many names to track). A reader's read stops there instead of reading the rest.
    #[inline]
    fn cut(&self, outcomes: u64) -> Option<u64> {
        if self.unlisted.holds(outcomes) {
            return None;
        }
        self.wanted
    }
}

/// Byte equality without a call into `memcmp`, for short keys.
#[inline]
fn same_key(name: &[u8], key: &[u8]) -> bool {
    name.len() == key.len() && name.iter().zip(key).all(|(a, b)| a == b)
}

fn compile(
    authorizer: &Authorizer,
    rules: Option<&FieldRules>,
    additional: Option<&Permission>,
    per_document: &mut Vec<Permission>,
) -> Option<StaticFields> {
    let mut named: Vec<(Box<[u8]>, StaticField)> = Vec::new();
    for (name, rule) in rules.into_iter().flatten() {
        let field = if rule.has_own() {
            match decide(authorizer, &rule.own, per_document)? {
                Decided::Always(true) => StaticField::Keep,
                Decided::Always(false) => StaticField::Drop,
                Decided::PerDocument(slot) => StaticField::PerDocument(slot),
            }
        } else if !rule.fields.is_empty() {
            StaticField::Nested(compile(authorizer, Some(&rule.fields), None, per_document)?)
        } else {
            StaticField::Drop
        };
        named.push((name.as_bytes().into(), field));
    }
    let unlisted = match additional {
        Some(permission) => decide(authorizer, permission, per_document)?,
        None => Decided::Always(false),
    };
    let lengths = named
        .iter()
        .fold(0, |bits, (name, _)| bits | length_bit(name.len()));
    // Cutting a read short needs every field that may be shown to have a bit.
    let wanted = (named.len() <= 64).then(|| {
        named
            .iter()
            .enumerate()
            .filter(|(_, (_, field))| !matches!(field, StaticField::Drop))
            .fold(0u64, |bits, (index, _)| bits | 1 << index)
    });
    let words = named
        .iter()
        .map(|(name, _)| (name.len(), key_word(name)))
        .collect();
    Some(StaticFields {
        named,
        words,
        lengths,
        unlisted,
        wanted,
    })
}

/// Read, or write which implies read, as `Authorizer::either` decides it: for the request
/// when the permission does not read the document, else a new per-document slot; `None`
/// when it reads the field's value or fails for the request.
fn decide(
    authorizer: &Authorizer,
    permission: &Permission,
    per_document: &mut Vec<Permission>,
) -> Option<Decided> {
    if permission.reads_value() {
        return None;
    }
    if permission.reads_document() {
        per_document.push(permission.clone());
        return Some(Decided::PerDocument(per_document.len() - 1));
    }
    let scope = Scope::request_only(&authorizer.scope);
    let budget = Budget::default();
    either(permission, &[None, None], &scope, &budget).map(Decided::Always)
}

/// Whether `permission`'s read, or else its write, holds in `scope`; `None` when one it
/// evaluates fails. `Authorizer::either` decides the same but records a failure and goes on;
/// routing this through it (with a scratch explanation) cost the one-role read 5%.
/// `filters`: the read's and the write's root filters, when they have them (see
/// [`PerDocument`]).
fn either(
    permission: &Permission,
    filters: &[Option<Vec<Filter>>; 2],
    scope: &Scope<'_>,
    budget: &Budget,
) -> Option<bool> {
    let evaluate = |expression: Option<&Expression>, filters: &Option<Vec<Filter>>| match expression
    {
        None => Some(Tri::Undefined),
        Some(expression) => match expression.evaluate_matching(filters.as_deref(), scope, budget) {
            Ok(true) => Some(Tri::True),
            Ok(false) => Some(Tri::False),
            Err(_) => None,
        },
    };
    let [read, write] = filters;
    if evaluate(permission.read.as_ref(), read)? == Tri::True {
        return Some(true);
    }
    Some(evaluate(permission.write.as_ref(), write)? == Tri::True)
}

/// Redacts a stored document by the table, appending the copy to `out`. `Ok(false)`: nothing
/// withheld (nothing appended). `None` when a per-document permission fails to evaluate
/// (nothing appended): the caller decides the document field by field, which records the
/// failure. An error: the stored bytes are malformed (`out` may then hold part of a copy).
pub(crate) fn visible(
    table: &FieldTable,
    authorizer: &Authorizer,
    document: &RawDocument,
    budget: &Budget,
    out: &mut Vec<u8>,
) -> Option<Result<bool, Box<MqlError>>> {
    let mut outcomes = 0u64;
    if !table.per_document.is_empty() {
        let image = RawImage::new(document);
        let scope = authorizer.scope(Images::stored(Image::Raw(&image)));
        for (slot, permission) in table.per_document.iter().enumerate() {
            if either(&permission.permission, &permission.filters, &scope, budget)? {
                outcomes |= slot_bit(slot);
            }
        }
    }
    // The error boxed, so that the answer fits in registers: moving the unboxed one back
    // through the stack stalled on the read back (0-2% of a lean read, side by side).
    Some(object(&table.fields, outcomes, document, out).map_err(Box::new))
}

/// The elements after the last field the table can show are not read: they are all
/// withheld, so their bytes are neither copied nor checked (as a filter does not check the
/// elements after the field it looks for). A document with a repeated field name keeps the
/// repetitions met before that point only.
fn object(
    fields: &StaticFields,
    outcomes: u64,
    document: &RawDocument,
    out: &mut Vec<u8>,
) -> Result<bool, MqlError> {
    let bytes = document.as_bytes();
    let end = bytes.len().saturating_sub(1);
    let mut copy = Copy::new(document, out);
    let unlisted = fields.unlisted.holds(outcomes);
    let cut = fields.cut(outcomes);
    let mut seen = 0u64;
    let mut offset = 4;
    while offset < end {
        if cut.is_some_and(|cut| seen & cut == cut) {
            copy.drop_rest();
            break;
        }
        let (key_len, size, word) =
            element_layout_word(document, offset).ok_or_else(bad_element)?;
        let key = || {
            bytes
                .get(offset + 1..offset + 1 + key_len)
                .unwrap_or_default()
        };
        match fields.lookup(key_len, word, key) {
            None if unlisted => copy.keep(size),
            None | Some((StaticField::Drop, _)) => copy.drop_next(size),
            Some((StaticField::Keep, bit)) => {
                seen |= bit;
                copy.keep(size);
            }
            Some((StaticField::PerDocument(slot), bit)) => {
                seen |= bit;
                if outcomes & slot_bit(*slot) != 0 {
                    copy.keep(size);
                } else {
                    copy.drop_next(size);
                }
            }
            Some((StaticField::Nested(inner), bit)) => {
                seen |= bit;
                let element = RawElement::at(document, offset).ok_or_else(bad_element)?;
                let outcome = nested(inner, outcomes, &element)?;
                copy.apply(&element, outcome);
            }
        }
        offset += size;
    }
    copy.finish()
}

fn bad_element() -> MqlError {
    MqlError::parse("malformed BSON: bad element")
}

/// As `RawWalk::nested`: an embedded document, or an array of only documents, is redacted
/// inside; any other value is withheld.
fn nested(
    fields: &StaticFields,
    outcomes: u64,
    element: &RawElement<'_>,
) -> Result<Outcome, MqlError> {
    Ok(nested_raw(element, &mut |_, inner, out| {
        object(fields, outcomes, inner, out)
    })?
    .unwrap_or(Outcome::Drop))
}
