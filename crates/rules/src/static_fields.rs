//! Field permissions decided once per request. When no field permission of a role reads the
//! document (constants, `%%user`, `%%values`, `%function` of request values: the common
//! case), which top-level and embedded fields the role may read is the same for every
//! document of the request. Such a role gets a [`StaticFields`] table the first time a lean
//! read needs it, and redacting a stored document is then one pass that looks each key up in
//! the table and copies or skips the element's bytes.
//!
//! Only lean reads ([`Authorizer::without_explanations`]) use it: explanations list each
//! withheld field of each document, which the table does not record. A permission that fails
//! to evaluate disables the table for the role, so the per-document path records the failure
//! for every document as before.

use bson::{RawDocument, RawDocumentBuf};
use rampart_mql::raw::{element_layout, RawElement, RawWriter};
use rampart_mql::MqlError;

use crate::authorize::{Authorizer, Tri};
use crate::compile::{FieldRules, Permission, Role};
use crate::expr::{Budget, Scope};
use crate::redact::{nested_raw, Copy, Outcome};

/// What a role may read of any document, by field name.
#[derive(Debug, Clone)]
pub(crate) struct StaticFields {
    named: Vec<(Box<[u8]>, StaticField)>,
    /// Bit `n` set when a named field is `n` bytes long (names of 64 bytes or more set bit
    /// 63): most keys of a document are ruled out by their length alone.
    lengths: u64,
    /// Per name of up to eight bytes, its bytes as a little-endian word (zero above the name's
    /// length); `u64::MAX`, which no masked key equals, for longer names.
    words: Vec<u64>,
    /// Whether fields not named are readable (`additional_fields`).
    unlisted: bool,
    /// Bit `i` set when `named[i]` is kept or redacted inside (not dropped), for the first 64
    /// names; `None` when nothing can be cut short (see [`StaticFields::rest_dropped`]).
    wanted: Option<u64>,
}

#[derive(Debug, Clone)]
enum StaticField {
    Keep,
    Drop,
    /// Only nested permissions: embedded fields decided by their own table.
    Nested(StaticFields),
}

fn length_bit(len: usize) -> u64 {
    1u64 << len.min(63)
}

/// The mask of the low `len` bytes of a word (`len` at most 8).
fn low_bytes(len: usize) -> u64 {
    u64::MAX
        .checked_shr(64 - 8 * len.min(8) as u32)
        .unwrap_or(0)
}

/// `name` as a word for [`StaticFields::lookup`].
fn name_word(name: &[u8]) -> u64 {
    if name.len() > 8 {
        return u64::MAX;
    }
    let mut bytes = [0u8; 8];
    for (slot, byte) in bytes.iter_mut().zip(name) {
        *slot = *byte;
    }
    u64::from_le_bytes(bytes)
}

impl StaticFields {
    /// The table of `role`, or `None` when one of its field permissions reads the document or
    /// fails to evaluate.
    pub(crate) fn of(authorizer: &Authorizer, role: &Role) -> Option<StaticFields> {
        compile(
            authorizer,
            role.fields.as_ref(),
            role.additional_fields.as_ref(),
        )
    }

    /// The entry for `key` and its bit (see `wanted`). `head`: the eight bytes from the key's
    /// start, when the document has them (the key's terminator and more), for keys of up to
    /// eight bytes, compared as one word.
    #[inline]
    fn lookup(&self, key: &[u8], head: Option<&[u8]>) -> Option<(&StaticField, u64)> {
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        let word = (key.len() <= 8).then_some(head).flatten().and_then(|head| {
            Some(u64::from_le_bytes(head.try_into().ok()?) & low_bytes(key.len()))
        });
        let found = match word {
            Some(word) => self.words.iter().position(|named| *named == word),
            None => self.named.iter().position(|(name, _)| same_key(name, key)),
        }?;
        let (_, field) = self.named.get(found)?;
        Some((field, 1u64.checked_shl(found as u32).unwrap_or(0)))
    }

    /// Whether every element after the fields already `seen` is withheld: fields not named
    /// are not readable and each named field that is not dropped has been met. A reader's
    /// read then stops there instead of reading the rest of the document.
    #[inline]
    fn rest_dropped(&self, seen: u64) -> bool {
        self.wanted.is_some_and(|wanted| seen & wanted == wanted)
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
) -> Option<StaticFields> {
    let mut named: Vec<(Box<[u8]>, StaticField)> = Vec::new();
    for (name, rule) in rules.into_iter().flatten() {
        let field = if rule.has_own() {
            if decide(authorizer, &rule.own)? {
                StaticField::Keep
            } else {
                StaticField::Drop
            }
        } else if !rule.fields.is_empty() {
            StaticField::Nested(compile(authorizer, Some(&rule.fields), None)?)
        } else {
            StaticField::Drop
        };
        named.push((name.as_bytes().into(), field));
    }
    let unlisted = match additional {
        Some(permission) => decide(authorizer, permission)?,
        None => false,
    };
    let lengths = named
        .iter()
        .fold(0, |bits, (name, _)| bits | length_bit(name.len()));
    // Cutting a read short needs every field that is shown to have a bit.
    let wanted = (!unlisted && named.len() <= 64).then(|| {
        named
            .iter()
            .enumerate()
            .filter(|(_, (_, field))| !matches!(field, StaticField::Drop))
            .fold(0u64, |bits, (index, _)| bits | 1 << index)
    });
    let words = named.iter().map(|(name, _)| name_word(name)).collect();
    Some(StaticFields {
        named,
        words,
        lengths,
        unlisted,
        wanted,
    })
}

/// Read, or write which implies read, as `Authorizer::either` decides it; `None` when an
/// expression reads the document or fails.
fn decide(authorizer: &Authorizer, permission: &Permission) -> Option<bool> {
    if permission.reads_document() {
        return None;
    }
    let scope = Scope::request_only(&authorizer.scope);
    let budget = Budget::default();
    let evaluate = |expression: Option<&crate::expr::Expression>| match expression {
        None => Some(Tri::Undefined),
        Some(expression) => match expression.evaluate(&scope, &budget) {
            Ok(true) => Some(Tri::True),
            Ok(false) => Some(Tri::False),
            Err(_) => None,
        },
    };
    if evaluate(permission.read.as_ref())? == Tri::True {
        return Some(true);
    }
    Some(evaluate(permission.write.as_ref())? == Tri::True)
}

/// Redacts a stored document by the table. `Ok(None)`: nothing withheld.
pub(crate) fn visible(
    fields: &StaticFields,
    document: &RawDocument,
) -> Result<Option<RawDocumentBuf>, MqlError> {
    object(fields, document)?.map(RawWriter::finish).transpose()
}

/// The elements after the last field the table can show are not read: they are all
/// withheld, so their bytes are neither copied nor checked (as a filter does not check the
/// elements after the field it looks for). A document with a repeated field name keeps the
/// repetitions met before that point only.
fn object(fields: &StaticFields, document: &RawDocument) -> Result<Option<RawWriter>, MqlError> {
    let bytes = document.as_bytes();
    let end = bytes.len().saturating_sub(1);
    let mut copy = Copy::new(document);
    let mut seen = 0u64;
    let mut offset = 4;
    while offset < end {
        if fields.rest_dropped(seen) {
            copy.drop_rest();
            break;
        }
        let (key_len, size) = element_layout(document, offset).ok_or_else(bad_element)?;
        let key = bytes
            .get(offset + 1..offset + 1 + key_len)
            .unwrap_or_default();
        match fields.lookup(key, bytes.get(offset + 1..offset + 9)) {
            None if fields.unlisted => copy.keep(size),
            None | Some((StaticField::Drop, _)) => copy.drop_next(size),
            Some((StaticField::Keep, bit)) => {
                seen |= bit;
                copy.keep(size);
            }
            Some((StaticField::Nested(inner), bit)) => {
                seen |= bit;
                let element = RawElement::at(document, offset).ok_or_else(bad_element)?;
                let outcome = nested(inner, &element)?;
                copy.apply(&element, outcome);
            }
        }
        offset += size;
    }
    Ok(copy.into_writer())
}

fn bad_element() -> MqlError {
    MqlError::parse("malformed BSON: bad element")
}

/// As `RawWalk::nested`: an embedded document, or an array of only documents, is redacted
/// inside; any other value is withheld.
fn nested(fields: &StaticFields, element: &RawElement<'_>) -> Result<Outcome, MqlError> {
    Ok(nested_raw(element, &mut |_, inner| object(fields, inner))?.unwrap_or(Outcome::Drop))
}
