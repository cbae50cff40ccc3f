//! Field-level read: which fields a role may not read. Decided on a shared borrow of the
//! document, then removed in place, so the fields that stay are never copied.

use bson::{Bson, Document};

use crate::authorize::{Authorizer, Images};
use crate::compile::{FieldRules, Permission, Role};
use crate::explain::{DocumentExplain, WithheldField};
use crate::expr::Budget;

/// One step of a path to a removed field: a name, or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

struct Walk<'a> {
    authorizer: &'a Authorizer,
    root: &'a Document,
    budget: &'a Budget,
    removals: Vec<Vec<Step>>,
}

/// The paths of the fields `role` may not read in `document`.
pub(crate) fn unreadable_fields(
    authorizer: &Authorizer,
    role: &Role,
    document: &Document,
    budget: &Budget,
    explain: &mut DocumentExplain,
) -> Vec<Vec<Step>> {
    let mut walk = Walk {
        authorizer,
        root: document,
        budget,
        removals: Vec::new(),
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

fn dotted(path: &[Step]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Key(key) => key.clone(),
            Step::Index(index) => index.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl Walk<'_> {
    fn withhold(&mut self, path: &[Step], reason: String, explain: &mut DocumentExplain) {
        explain.withheld_fields.push(WithheldField {
            path: dotted(path),
            reason,
        });
        self.removals.push(path.to_vec());
    }

    fn object(
        &mut self,
        rules: Option<&FieldRules>,
        additional: Option<&Permission>,
        document: &Document,
        path: &mut Vec<Step>,
        explain: &mut DocumentExplain,
    ) {
        for (key, value) in document {
            path.push(Step::Key(key.clone()));
            let images =
                Images::document(Some(self.root), Some(self.root)).field(Some(value), Some(value));
            match rules.and_then(|rules| rules.get(key)) {
                Some(rule) if rule.has_own() => {
                    let what = format!("fields.{}", dotted(path));
                    if !self
                        .authorizer
                        .either(&rule.own, images, self.budget, explain, &what)
                    {
                        self.withhold(
                            path,
                            format!("`{what}`: neither read nor write holds"),
                            explain,
                        );
                    }
                }
                Some(rule) if !rule.fields.is_empty() => {
                    self.nested(&rule.fields, value, path, explain);
                }
                Some(_) => self.withhold(
                    path,
                    "its `fields` entry grants nothing".to_owned(),
                    explain,
                ),
                None => match additional {
                    Some(permission)
                        if self.authorizer.either(
                            permission,
                            images,
                            self.budget,
                            explain,
                            "additional_fields",
                        ) => {}
                    Some(_) => self.withhold(
                        path,
                        "not named in `fields`; `additional_fields` grants neither read nor write"
                            .to_owned(),
                        explain,
                    ),
                    None => self.withhold(
                        path,
                        "not named in `fields` and the role has no `additional_fields`".to_owned(),
                        explain,
                    ),
                },
            }
            path.pop();
        }
    }

    /// A field with only nested permissions: embedded documents (and arrays of them) are
    /// redacted field by field; unlisted embedded fields are not readable.
    fn nested(
        &mut self,
        rules: &FieldRules,
        value: &Bson,
        path: &mut Vec<Step>,
        explain: &mut DocumentExplain,
    ) {
        match value {
            Bson::Document(inner) => self.object(Some(rules), None, inner, path, explain),
            Bson::Array(items) if items.iter().all(|item| matches!(item, Bson::Document(_))) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(Step::Index(index));
                    if let Bson::Document(inner) = item {
                        self.object(Some(rules), None, inner, path, explain);
                    }
                    path.pop();
                }
            }
            _ => self.withhold(
                path,
                "only embedded fields are readable".to_owned(),
                explain,
            ),
        }
    }
}

/// Removes the value at `path`, if it is there.
pub(crate) fn remove_path(document: &mut Document, path: &[Step]) {
    match path {
        [Step::Key(key)] => {
            document.remove(key);
        }
        [Step::Key(key), rest @ ..] => {
            if let Some(value) = document.get_mut(key) {
                remove_in_value(value, rest);
            }
        }
        _ => {}
    }
}

fn remove_in_value(value: &mut Bson, path: &[Step]) {
    match (value, path.split_first()) {
        (Bson::Document(inner), Some(_)) => remove_path(inner, path),
        (Bson::Array(items), Some((Step::Index(index), rest))) => {
            if let Some(item) = items.get_mut(*index) {
                remove_in_value(item, rest);
            }
        }
        _ => {}
    }
}
