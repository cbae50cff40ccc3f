//! Field-level read: which fields a role may not read. Decided on a shared borrow of the
//! document, recorded by position, then removed in one pass: the fields that stay are moved,
//! never copied, and no field name is copied unless an explanation asks for it.

use std::cell::{Cell, OnceCell};

use bson::{Bson, Document, RawDocument};
use rampart_mql::raw::{close_document, raw_elements, RawElement, ARRAY_TAG, DOCUMENT_TAG};
use rampart_mql::MqlError;

use crate::authorize::{Authorizer, Images};
use crate::compile::{FieldRule, FieldRules, Permission, Role};
use crate::explain::{DocumentExplain, WithheldField};
use crate::expr::Budget;

/// Where the unreadable fields of one document are, by position.
#[derive(Debug, Default)]
pub(crate) struct Removals {
    /// Positions of top-level fields, increasing.
    top: Vec<usize>,
    /// Deeper fields: the position of each field on the way (an index inside arrays), in
    /// document order.
    nested: Vec<Vec<usize>>,
}

impl Removals {
    pub(crate) fn is_empty(&self) -> bool {
        self.top.is_empty() && self.nested.is_empty()
    }
}

/// One step of the path being walked: its position and, for a field, its name.
#[derive(Debug, Clone, Copy)]
struct Step<'a> {
    position: usize,
    key: Option<&'a [u8]>,
}

/// What one field's permissions say about it.
enum Verdict<'r> {
    Keep,
    Withhold(Reason),
    /// Only nested permissions: redact inside the value.
    Nested(&'r FieldRules),
}

enum Reason {
    /// Its own `read`/`write` hold for neither.
    Denied,
    EntryGrantsNothing,
    AdditionalDenies,
    NotNamed,
    OnlyEmbedded,
}

impl Reason {
    fn text(&self, path: &[Step<'_>]) -> String {
        match self {
            Reason::Denied => format!("`fields.{}`: neither read nor write holds", dotted(path)),
            Reason::EntryGrantsNothing => "its `fields` entry grants nothing".to_owned(),
            Reason::AdditionalDenies => {
                "not named in `fields`; `additional_fields` grants neither read nor write"
                    .to_owned()
            }
            Reason::NotNamed => {
                "not named in `fields` and the role has no `additional_fields`".to_owned()
            }
            Reason::OnlyEmbedded => "only embedded fields are readable".to_owned(),
        }
    }
}

/// The rule for field `key`: a handful of names are compared as bytes, more are looked up.
fn field_rule<'r>(rules: &'r FieldRules, key: &[u8]) -> Option<&'r FieldRule> {
    const LINEAR: usize = 8;
    if rules.len() <= LINEAR {
        return rules
            .iter()
            .find(|(name, _)| name.as_bytes() == key)
            .map(|(_, rule)| rule);
    }
    std::str::from_utf8(key).ok().and_then(|key| rules.get(key))
}

/// Per document, the outcome of each field permission that does not read the field's value:
/// it is the same for every field it governs (`additional_fields` over a dozen unlisted
/// fields, or one owner check repeated in `fields`), so it is evaluated once. Outcomes that
/// recorded a diagnostic are not kept, so an error is reported for every field as before.
#[derive(Debug, Default)]
struct PermissionMemo {
    /// The permission (by address: rules are immutable while a document is decided) and
    /// whether its read or write held.
    known: Vec<(usize, bool)>,
}

impl PermissionMemo {
    fn either(
        &mut self,
        authorizer: &Authorizer,
        permission: &Permission,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
        what: &dyn Fn() -> String,
    ) -> bool {
        if permission.reads_value() {
            return authorizer.either(permission, images, budget, explain, what);
        }
        let key = std::ptr::from_ref(permission) as usize;
        if let Some((_, holds)) = self.known.iter().find(|(known, _)| *known == key) {
            return *holds;
        }
        let diagnostics = explain.diagnostics.len();
        let holds = authorizer.either(permission, images, budget, explain, what);
        if explain.diagnostics.len() == diagnostics {
            self.known.push((key, holds));
        }
        holds
    }
}

/// Decides one field from its permissions. `value` gives the field's value (`%%this`,
/// `%%prev`), asked for only when a permission reads it.
#[allow(clippy::too_many_arguments)]
fn verdict<'r, 'v>(
    authorizer: &Authorizer,
    memo: &mut PermissionMemo,
    rules: Option<&'r FieldRules>,
    additional: Option<&Permission>,
    key: &[u8],
    images: Images<'v>,
    value: &mut dyn FnMut(&Permission) -> Option<&'v Bson>,
    budget: &Budget,
    path: &[Step<'_>],
    explain: &mut DocumentExplain,
) -> Verdict<'r> {
    match rules.and_then(|rules| field_rule(rules, key)) {
        Some(rule) if rule.has_own() => {
            let this = value(&rule.own);
            let images = images.field(this, this);
            let what = || format!("fields.{}", dotted(path));
            if memo.either(authorizer, &rule.own, images, budget, explain, &what) {
                Verdict::Keep
            } else {
                Verdict::Withhold(Reason::Denied)
            }
        }
        Some(rule) if !rule.fields.is_empty() => Verdict::Nested(&rule.fields),
        Some(_) => Verdict::Withhold(Reason::EntryGrantsNothing),
        None => match additional {
            Some(permission) => {
                let this = value(permission);
                let images = images.field(this, this);
                if memo.either(authorizer, permission, images, budget, explain, &|| {
                    "additional_fields".to_owned()
                }) {
                    Verdict::Keep
                } else {
                    Verdict::Withhold(Reason::AdditionalDenies)
                }
            }
            None => Verdict::Withhold(Reason::NotNamed),
        },
    }
}

fn record(
    authorizer: &Authorizer,
    path: &[Step<'_>],
    reason: &Reason,
    explain: &mut DocumentExplain,
) {
    if authorizer.explanations {
        explain.withheld_fields.push(WithheldField {
            path: dotted(path),
            reason: reason.text(path),
        });
    }
}

struct Walk<'a> {
    authorizer: &'a Authorizer,
    root: &'a Document,
    budget: &'a Budget,
    memo: PermissionMemo,
    removals: Removals,
}

/// The fields `role` may not read in `document`.
pub(crate) fn unreadable_fields(
    authorizer: &Authorizer,
    role: &Role,
    document: &Document,
    budget: &Budget,
    explain: &mut DocumentExplain,
) -> Removals {
    let mut walk = Walk {
        authorizer,
        root: document,
        budget,
        memo: PermissionMemo::default(),
        removals: Removals {
            top: Vec::with_capacity(document.len()),
            nested: Vec::new(),
        },
    };
    let mut path = Vec::new();
    walk.object(
        role.fields.as_ref(),
        role.additional_fields.as_ref(),
        document,
        &mut path,
        explain,
    );
    walk.removals
}

fn dotted(path: &[Step<'_>]) -> String {
    let mut text = String::new();
    for (index, step) in path.iter().enumerate() {
        if index > 0 {
            text.push('.');
        }
        match step.key {
            Some(key) => text.push_str(&String::from_utf8_lossy(key)),
            None => text.push_str(&step.position.to_string()),
        }
    }
    text
}

impl<'d> Walk<'d> {
    fn withhold(&mut self, path: &[Step<'_>], reason: &Reason, explain: &mut DocumentExplain) {
        record(self.authorizer, path, reason, explain);
        match path {
            [only] => self.removals.top.push(only.position),
            _ => self
                .removals
                .nested
                .push(path.iter().map(|step| step.position).collect()),
        }
    }

    fn object(
        &mut self,
        rules: Option<&FieldRules>,
        additional: Option<&Permission>,
        document: &'d Document,
        path: &mut Vec<Step<'d>>,
        explain: &mut DocumentExplain,
    ) {
        for (position, (key, value)) in document.iter().enumerate() {
            path.push(Step {
                position,
                key: Some(key.as_bytes()),
            });
            let images = Images::document(Some(self.root), Some(self.root));
            let mut this = |_: &Permission| Some(value);
            match verdict(
                self.authorizer,
                &mut self.memo,
                rules,
                additional,
                key.as_bytes(),
                images,
                &mut this,
                self.budget,
                path,
                explain,
            ) {
                Verdict::Keep => {}
                Verdict::Withhold(reason) => self.withhold(path, &reason, explain),
                Verdict::Nested(nested) => self.nested(nested, value, path, explain),
            }
            path.pop();
        }
    }

    /// A field with only nested permissions: embedded documents (and arrays of them) are
    /// redacted field by field; unlisted embedded fields are not readable.
    fn nested(
        &mut self,
        rules: &FieldRules,
        value: &'d Bson,
        path: &mut Vec<Step<'d>>,
        explain: &mut DocumentExplain,
    ) {
        match value {
            Bson::Document(inner) => self.object(Some(rules), None, inner, path, explain),
            Bson::Array(items) if items.iter().all(|item| matches!(item, Bson::Document(_))) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(Step {
                        position: index,
                        key: None,
                    });
                    if let Bson::Document(inner) = item {
                        self.object(Some(rules), None, inner, path, explain);
                    }
                    path.pop();
                }
            }
            _ => self.withhold(path, &Reason::OnlyEmbedded, explain),
        }
    }
}

/// Removes the recorded fields. Deeper fields go first, later siblings before earlier ones, so
/// every recorded position still points at its field when it is removed.
pub(crate) fn remove(document: &mut Document, removals: &Removals) {
    for path in removals.nested.iter().rev() {
        if let Some((first, rest)) = path.split_first() {
            if let Some((_, value)) = document.iter_mut().nth(*first) {
                remove_in_value(value, rest);
            }
        }
    }
    if removals.top.is_empty() {
        return;
    }
    // One pass that moves the fields that stay into a new map: cheaper than shifting the map
    // once per removed field, and no value is copied.
    let mut removed = removals.top.iter().copied().peekable();
    *document = std::mem::take(document)
        .into_iter()
        .enumerate()
        .filter_map(|(position, entry)| {
            if removed.peek() == Some(&position) {
                removed.next();
                None
            } else {
                Some(entry)
            }
        })
        .collect();
}

fn remove_in_value(value: &mut Bson, path: &[usize]) {
    match (value, path) {
        (Bson::Document(inner), [position]) => {
            let key = inner.keys().nth(*position).cloned();
            if let Some(key) = key {
                inner.remove(&key);
            }
        }
        (Bson::Document(inner), [position, rest @ ..]) => {
            if let Some((_, child)) = inner.iter_mut().nth(*position) {
                remove_in_value(child, rest);
            }
        }
        (Bson::Array(items), [index]) if *index < items.len() => {
            items.remove(*index);
        }
        (Bson::Array(items), [index, rest @ ..]) => {
            if let Some(child) = items.get_mut(*index) {
                remove_in_value(child, rest);
            }
        }
        _ => {}
    }
}

/// A stored document redacted without decoding it: kept elements are copied as bytes, and a
/// copy is appended to `out` only once a field is withheld. `Ok(false)`: nothing withheld, the
/// stored bytes are the answer. An error: the stored bytes are malformed (`out` may then hold
/// part of a copy).
pub(crate) fn visible_raw(
    authorizer: &Authorizer,
    role: &Role,
    images: Images<'_>,
    document: &RawDocument,
    budget: &Budget,
    explain: &mut DocumentExplain,
    out: &mut Vec<u8>,
) -> Result<bool, MqlError> {
    let mut walk = RawWalk {
        authorizer,
        images,
        budget,
        memo: PermissionMemo::default(),
    };
    let mut path = Vec::new();
    walk.object(
        role.fields.as_ref(),
        role.additional_fields.as_ref(),
        document,
        &mut path,
        explain,
        out,
    )
}

struct RawWalk<'a> {
    authorizer: &'a Authorizer,
    images: Images<'a>,
    budget: &'a Budget,
    memo: PermissionMemo,
}

/// What becomes of one element of a raw document.
pub(crate) enum Outcome {
    Keep,
    Drop,
    /// By this document (its bytes).
    Replace(Vec<u8>),
}

/// Runs a [`Copy`] holds before writing them.
const RUNS: usize = 8;

/// The copy of a raw document being redacted, appended to a caller's buffer (which a reader
/// reuses from document to document: no allocation per document). Runs of kept elements are
/// only noted while the walk goes on; the room for the copy is reserved at the end, at its
/// exact size, and each run copied in one piece. Nothing is copied when every element is
/// kept. More runs than [`RUNS`], or a replaced element, start the copy early (then it grows
/// as needed).
pub(crate) struct Copy<'d, 'o> {
    source: &'d [u8],
    /// Where the next element starts in `source`.
    offset: usize,
    /// Where the run of kept elements not yet noted starts.
    kept_from: usize,
    /// Noted runs, `(start, end)` in `source`, not yet written.
    runs: [(u32, u32); RUNS],
    noted: usize,
    /// Bytes in the noted runs.
    noted_bytes: usize,
    /// Whether an element was dropped or replaced: the copy differs from the source.
    changed: bool,
    /// Where the copy goes, and where in it the copy starts once started.
    out: &'o mut Vec<u8>,
    start: Option<usize>,
}

impl<'d, 'o> Copy<'d, 'o> {
    #[inline]
    pub(crate) fn new(source: &'d RawDocument, out: &'o mut Vec<u8>) -> Self {
        Copy {
            source: source.as_bytes(),
            offset: 4,
            kept_from: 4,
            runs: [(0, 0); RUNS],
            noted: 0,
            noted_bytes: 0,
            changed: false,
            out,
            start: None,
        }
    }

    /// Completes the copy: `true` when one was appended to the buffer (from the length the
    /// buffer had when the copy began), `false` when every element was kept as is (nothing
    /// appended). An error when the copy would exceed what a length prefix holds.
    #[inline]
    pub(crate) fn finish(&mut self) -> Result<bool, MqlError> {
        if !self.changed {
            return Ok(false);
        }
        self.note_run();
        let start = self.write_runs();
        close_document(self.out, start)?;
        Ok(true)
    }

    /// Notes the pending run of kept elements, if any.
    #[inline]
    fn note_run(&mut self) {
        if self.kept_from == self.offset {
            return;
        }
        if self.noted == RUNS {
            self.write_runs();
        }
        // A stored document is at most 16 MiB: offsets fit.
        let run = (self.kept_from as u32, self.offset as u32);
        if let Some(slot) = self.runs.get_mut(self.noted) {
            *slot = run;
            self.noted += 1;
            self.noted_bytes += self.offset - self.kept_from;
        }
        self.kept_from = self.offset;
    }

    /// Writes the noted runs, starting the copy (with room for the noted size) if need be;
    /// returns where the copy starts in the buffer.
    fn write_runs(&mut self) -> usize {
        let start = match self.start {
            Some(start) => start,
            None => {
                let start = self.out.len();
                self.out.reserve(4 + self.noted_bytes + 1);
                self.out.extend_from_slice(&[0; 4]);
                self.start = Some(start);
                start
            }
        };
        for &(from, to) in self.runs.get(..self.noted).unwrap_or_default() {
            self.out.extend_from_slice(
                self.source
                    .get(from as usize..to as usize)
                    .unwrap_or_default(),
            );
        }
        self.noted = 0;
        self.noted_bytes = 0;
        start
    }

    /// Keeps the next element, `size` bytes long.
    #[inline]
    pub(crate) fn keep(&mut self, size: usize) {
        self.offset += size;
    }

    /// Drops the next element, `size` bytes long.
    #[inline]
    pub(crate) fn drop_next(&mut self, size: usize) {
        self.note_run();
        self.offset += size;
        self.kept_from = self.offset;
        self.changed = true;
    }

    /// Drops every element from the next one to the end of the source.
    #[inline]
    pub(crate) fn drop_rest(&mut self) {
        let end = self.source.len().saturating_sub(1);
        if self.offset < end {
            self.drop_next(end - self.offset);
        }
    }

    /// Applies `outcome` to `element`, the next element of the source.
    #[inline]
    pub(crate) fn apply(&mut self, element: &RawElement<'_>, outcome: Outcome) {
        let size = element.bytes().len();
        match outcome {
            Outcome::Keep => self.keep(size),
            Outcome::Drop => self.drop_next(size),
            Outcome::Replace(inner) => {
                self.note_run();
                self.write_runs();
                self.out.push(element.tag());
                self.out.extend_from_slice(element.key());
                self.out.push(0);
                self.out.extend_from_slice(&inner);
                self.offset += size;
                self.kept_from = self.offset;
                self.changed = true;
            }
        }
    }
}

impl RawWalk<'_> {
    /// The redacted copy of `document`, or `None` when every element is kept as is.
    fn object<'d>(
        &mut self,
        rules: Option<&FieldRules>,
        additional: Option<&Permission>,
        document: &'d RawDocument,
        path: &mut Vec<Step<'d>>,
        explain: &mut DocumentExplain,
        out: &mut Vec<u8>,
    ) -> Result<bool, MqlError> {
        let mut copy = Copy::new(document, out);
        for (position, element) in raw_elements(document).enumerate() {
            let element = element?;
            path.push(Step {
                position,
                key: Some(element.key()),
            });
            let decoded: OnceCell<Option<Bson>> = OnceCell::new();
            let failed = Cell::new(false);
            let mut this = |permission: &Permission| {
                if !permission.reads_value() {
                    return None;
                }
                let value = decoded.get_or_init(|| element.to_bson().ok()).as_ref();
                failed.set(value.is_none());
                value
            };
            let verdict = verdict(
                self.authorizer,
                &mut self.memo,
                rules,
                additional,
                element.key(),
                self.images,
                &mut this,
                self.budget,
                path,
                explain,
            );
            let outcome = match verdict {
                // A field value that cannot be decoded is never shown on a decision about it.
                Verdict::Keep if failed.get() => {
                    record(self.authorizer, path, &Reason::Denied, explain);
                    Outcome::Drop
                }
                Verdict::Keep => Outcome::Keep,
                Verdict::Withhold(reason) => {
                    record(self.authorizer, path, &reason, explain);
                    Outcome::Drop
                }
                Verdict::Nested(nested) => self.nested(nested, &element, path, explain)?,
            };
            copy.apply(&element, outcome);
            path.pop();
        }
        copy.finish()
    }

    /// A field with only nested permissions, as [`Walk::nested`].
    fn nested<'d>(
        &mut self,
        rules: &FieldRules,
        element: &RawElement<'d>,
        path: &mut Vec<Step<'d>>,
        explain: &mut DocumentExplain,
    ) -> Result<Outcome, MqlError> {
        let outcome = nested_raw(element, &mut |index, inner, out| {
            if let Some(position) = index {
                path.push(Step {
                    position,
                    key: None,
                });
            }
            let copied = self.object(Some(rules), None, inner, path, explain, out);
            if index.is_some() {
                path.pop();
            }
            copied
        })?;
        Ok(outcome.unwrap_or_else(|| {
            record(self.authorizer, path, &Reason::OnlyEmbedded, explain);
            Outcome::Drop
        }))
    }
}

/// Redacts an embedded document (given its index in an array) by appending a copy to the
/// buffer; `false` when it keeps the document as is (nothing appended).
pub(crate) type RedactInto<'f, 'd> =
    dyn FnMut(Option<usize>, &'d RawDocument, &mut Vec<u8>) -> Result<bool, MqlError> + 'f;

/// A field with only nested permissions, on stored bytes: an embedded document, or an array
/// of documents only, is redacted inside by `object` (given the item's index in an array),
/// which appends a copy to the buffer it is given and answers `false` when it keeps the
/// document as is. `None` for any other value, which the caller withholds.
pub(crate) fn nested_raw<'d>(
    element: &RawElement<'d>,
    object: &mut RedactInto<'_, 'd>,
) -> Result<Option<Outcome>, MqlError> {
    let mut outcome = |index: Option<usize>, inner: &'d RawDocument| {
        let mut copy = Vec::new();
        Ok::<_, MqlError>(if object(index, inner, &mut copy)? {
            Outcome::Replace(copy)
        } else {
            Outcome::Keep
        })
    };
    match (element.tag(), element.as_document()) {
        (DOCUMENT_TAG, Some(inner)) => outcome(None, inner).map(Some),
        (ARRAY_TAG, Some(items)) if all_documents(items)? => {
            let mut array = Vec::new();
            let mut copy = Copy::new(items, &mut array);
            for (index, item) in raw_elements(items).enumerate() {
                let item = item?;
                let Some(document) = item.as_document() else {
                    return Err(MqlError::parse("malformed BSON: bad array item"));
                };
                copy.apply(&item, outcome(Some(index), document)?);
            }
            Ok(Some(if copy.finish()? {
                Outcome::Replace(array)
            } else {
                Outcome::Keep
            }))
        }
        _ => Ok(None),
    }
}

fn all_documents(items: &RawDocument) -> Result<bool, MqlError> {
    for item in raw_elements(items) {
        if item?.tag() != DOCUMENT_TAG {
            return Ok(false);
        }
    }
    Ok(true)
}
