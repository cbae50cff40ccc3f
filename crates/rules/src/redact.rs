//! Field-level read: which fields a role may not read. Decided on a shared borrow of the
//! document, recorded by position, then removed in one pass: the fields that stay are moved,
//! never copied, and no field name is copied unless an explanation asks for it.

use bson::{Bson, Document};

use crate::authorize::{Authorizer, Images};
use crate::compile::{FieldRules, Permission, Role};
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
    key: Option<&'a str>,
}

struct Walk<'a> {
    authorizer: &'a Authorizer,
    root: &'a Document,
    budget: &'a Budget,
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
            Some(key) => text.push_str(key),
            None => text.push_str(&step.position.to_string()),
        }
    }
    text
}

impl<'d> Walk<'d> {
    fn withhold(
        &mut self,
        path: &[Step<'_>],
        reason: impl FnOnce() -> String,
        explain: &mut DocumentExplain,
    ) {
        if self.authorizer.explanations {
            explain.withheld_fields.push(WithheldField {
                path: dotted(path),
                reason: reason(),
            });
        }
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
                key: Some(key),
            });
            self.field(rules, additional, key, value, path, explain);
            path.pop();
        }
    }

    fn field(
        &mut self,
        rules: Option<&FieldRules>,
        additional: Option<&Permission>,
        key: &str,
        value: &'d Bson,
        path: &mut Vec<Step<'d>>,
        explain: &mut DocumentExplain,
    ) {
        let images =
            Images::document(Some(self.root), Some(self.root)).field(Some(value), Some(value));
        match rules.and_then(|rules| rules.get(key)) {
            Some(rule) if rule.has_own() => {
                let what = || format!("fields.{}", dotted(path));
                if !self
                    .authorizer
                    .either(&rule.own, images, self.budget, explain, &what)
                {
                    let reason = format!("`{}`: neither read nor write holds", what());
                    self.withhold(path, || reason, explain);
                }
            }
            Some(rule) if !rule.fields.is_empty() => {
                self.nested(&rule.fields, value, path, explain);
            }
            Some(_) => self.withhold(
                path,
                || "its `fields` entry grants nothing".to_owned(),
                explain,
            ),
            None => match additional {
                Some(permission)
                    if self.authorizer.either(
                        permission,
                        images,
                        self.budget,
                        explain,
                        &|| "additional_fields".to_owned(),
                    ) => {}
                Some(_) => self.withhold(
                    path,
                    || {
                        "not named in `fields`; `additional_fields` grants neither read nor write"
                            .to_owned()
                    },
                    explain,
                ),
                None => self.withhold(
                    path,
                    || "not named in `fields` and the role has no `additional_fields`".to_owned(),
                    explain,
                ),
            },
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
            _ => self.withhold(
                path,
                || "only embedded fields are readable".to_owned(),
                explain,
            ),
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
