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
use rampart_mql::raw::{raw_elements, RawElement, RawWriter};
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
    /// Whether fields not named are readable (`additional_fields`).
    unlisted: bool,
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

    #[inline]
    fn lookup(&self, key: &[u8]) -> Option<&StaticField> {
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        self.named
            .iter()
            .find(|(name, _)| same_key(name, key))
            .map(|(_, field)| field)
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
    Some(StaticFields {
        named,
        lengths,
        unlisted,
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

fn object(fields: &StaticFields, document: &RawDocument) -> Result<Option<RawWriter>, MqlError> {
    let mut copy = Copy::new(document);
    for element in raw_elements(document) {
        let element = element?;
        let size = element.bytes().len();
        match fields.lookup(element.key()) {
            None if fields.unlisted => copy.keep(size),
            None | Some(StaticField::Drop) => copy.drop_next(size),
            Some(StaticField::Keep) => copy.keep(size),
            Some(StaticField::Nested(inner)) => {
                let outcome = nested(inner, &element)?;
                copy.apply(&element, outcome);
            }
        }
    }
    Ok(copy.into_writer())
}

/// As `RawWalk::nested`: an embedded document, or an array of only documents, is redacted
/// inside; any other value is withheld.
fn nested(fields: &StaticFields, element: &RawElement<'_>) -> Result<Outcome, MqlError> {
    Ok(nested_raw(element, &mut |_, inner| object(fields, inner))?.unwrap_or(Outcome::Drop))
}
