//! Write decisions: insert, update/replace (before and after images), delete. The role is
//! chosen on the stored document (the pre-image) for updates and deletes, on the new document
//! for inserts; every field added, changed or removed needs write permission.

use bson::{Bson, Document};
use rampart_mql::{Filter, MqlError, Update, UpdateContext};
use serde::Serialize;

use crate::authorize::{Authorizer, Images, Tri};
use crate::compile::{FieldRules, Permission, Role};
use crate::explain::DocumentExplain;
use crate::expr::Budget;

/// The kind of a write, which names its denial (`insert not permitted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteKind {
    /// insertOne, insertMany, and upserts that insert.
    Insert,
    /// updateOne, updateMany, replaceOne.
    Update,
    /// deleteOne, deleteMany.
    Delete,
}

impl WriteKind {
    /// The App Services error text of a rejected write.
    pub fn denial_message(self) -> &'static str {
        match self {
            WriteKind::Insert => "insert not permitted",
            WriteKind::Update => "update not permitted",
            WriteKind::Delete => "delete not permitted",
        }
    }
}

/// What was decided for one document of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    /// The write may happen.
    Allowed,
    /// The user cannot see the document (no role, or its document filters hide it): the
    /// write must treat it as not matched and leave it alone.
    NotMatched,
    /// The role does not permit the write: the whole request fails.
    Denied,
    /// The result breaks the collection schema: the whole request fails.
    Invalid,
}

/// The decision for one document of a write.
#[derive(Debug, Clone)]
pub struct WriteCheck {
    /// Allowed, not matched, denied or invalid.
    pub outcome: WriteOutcome,
    /// Why.
    pub explain: DocumentExplain,
}

/// The decision for a whole write request.
#[derive(Debug, Clone)]
pub struct WriteDecision {
    /// True when every document is allowed or not matched.
    pub allowed: bool,
    /// `denied` or `error` (schema) when not allowed.
    pub outcome: Option<WriteOutcome>,
    /// The App Services error text when not allowed.
    pub error: Option<&'static str>,
    /// Per document.
    pub documents: Vec<DocumentExplain>,
}

/// One stored document under an update, from [`Authorizer::apply_update`].
#[derive(Debug, Clone)]
pub enum UpdateStep {
    /// The user cannot see the document (no role, or its document filters hide it): the
    /// update leaves it alone and does not count it as matched. The check says why.
    NotMatched(WriteCheck),
    /// The document counts as matched; `check` decides whether `after` may be written.
    Matched {
        /// The document with the update applied.
        after: Document,
        /// Whether `after` differs from the stored document (what `modifiedCount` counts).
        changed: bool,
        /// Allowed, denied or invalid.
        check: WriteCheck,
    },
}

impl WriteDecision {
    /// Combines per-document checks: one denied or invalid document rejects the request.
    pub fn combine(kind: WriteKind, checks: impl IntoIterator<Item = WriteCheck>) -> Self {
        let mut decision = WriteDecision {
            allowed: true,
            outcome: None,
            error: None,
            documents: Vec::new(),
        };
        for check in checks {
            if matches!(check.outcome, WriteOutcome::Denied | WriteOutcome::Invalid)
                && decision.allowed
            {
                decision.allowed = false;
                decision.outcome = Some(check.outcome);
                decision.error = Some(kind.denial_message());
            }
            decision.documents.push(check.explain);
        }
        decision
    }
}

fn finish(
    outcome: WriteOutcome,
    mut explain: DocumentExplain,
    failed: Option<String>,
) -> WriteCheck {
    if failed.is_some() {
        explain.failed_check = failed;
    }
    WriteCheck { outcome, explain }
}

impl Authorizer {
    /// Decides the insert of `document` (also an upsert that inserts).
    pub fn authorize_insert(&self, document: &Document) -> WriteCheck {
        let budget = Budget::default();
        let mut explain = self.new_explain(document);
        let images = Images::document(Some(document), None);
        let Some(role) = self.choose_role(images, &budget, &mut explain) else {
            return finish(
                WriteOutcome::Denied,
                explain,
                Some("no role applies".to_owned()),
            );
        };
        if let Some(filters) = &role.document_filters {
            let gate = self.permission(
                filters.write.as_ref(),
                images,
                &budget,
                &mut explain,
                &|| "document_filters.write".to_owned(),
            );
            if gate != Tri::True {
                return finish(
                    WriteOutcome::Denied,
                    explain,
                    Some("document_filters.write does not hold".to_owned()),
                );
            }
        }
        if let Err(failed) = self.check_fields_writable(role, None, document, &budget, &mut explain)
        {
            return finish(WriteOutcome::Denied, explain, Some(failed));
        }
        if self.permission(role.insert.as_ref(), images, &budget, &mut explain, &|| {
            "insert".to_owned()
        }) == Tri::False
        {
            return finish(
                WriteOutcome::Denied,
                explain,
                Some("insert does not hold".to_owned()),
            );
        }
        self.check_schema(document, None, &budget, explain)
    }

    /// Decides an update or replace that turns `before` (as stored) into `after`.
    pub fn authorize_update(&self, before: &Document, after: &Document) -> WriteCheck {
        let budget = Budget::default();
        let mut explain = self.new_explain(before);
        match self.writable_role(before, &budget, &mut explain) {
            Ok(role) => self.decide_update(role, before, after, &budget, explain),
            Err((outcome, failed)) => finish(outcome, explain, Some(failed)),
        }
    }

    /// Applies `update` (operators, a replacement or a pipeline) to a copy of `before` (as
    /// stored) and decides the result as [`Authorizer::authorize_update`] does. `context`
    /// carries what the query matched (the positional `$`).
    ///
    /// A document the user cannot see (no role, or its `document_filters` hide it) is
    /// `NotMatched` before the update is applied: an update that fails to apply on it must not
    /// fail the request, which would reveal that a hidden document matched (and the error text
    /// names its field and type).
    pub fn apply_update(
        &self,
        before: &Document,
        update: &Update,
        context: &UpdateContext,
    ) -> Result<UpdateStep, MqlError> {
        let budget = Budget::default();
        let mut explain = self.new_explain(before);
        let role = match self.writable_role(before, &budget, &mut explain) {
            Err((WriteOutcome::NotMatched, failed)) => {
                return Ok(UpdateStep::NotMatched(finish(
                    WriteOutcome::NotMatched,
                    explain,
                    Some(failed),
                )));
            }
            role => role,
        };
        let mut after = before.clone();
        let changed = update.apply(&mut after, context)?;
        let check = match role {
            Ok(role) => self.decide_update(role, before, &after, &budget, explain),
            Err((outcome, failed)) => finish(outcome, explain, Some(failed)),
        };
        Ok(UpdateStep::Matched {
            after,
            changed,
            check,
        })
    }

    /// The document an upsert that matched nothing inserts, and its decision as an insert:
    /// `update` applied (as an upsert's insert: `$setOnInsert` included) to the equalities of
    /// the client's filter `seed`, `_id` first. An error when the update cannot apply.
    pub fn upsert_insert(
        &self,
        update: &Update,
        seed: &Filter,
    ) -> Result<(Document, WriteDecision), MqlError> {
        let context = UpdateContext {
            is_upsert_insert: true,
            ..UpdateContext::default()
        };
        let new = rampart_mql::with_id_first(update.upsert_document(seed, &context)?);
        let decision = WriteDecision::combine(WriteKind::Insert, [self.authorize_insert(&new)]);
        Ok((new, decision))
    }

    /// The field and schema checks of an update by `role`.
    fn decide_update(
        &self,
        role: &Role,
        before: &Document,
        after: &Document,
        budget: &Budget,
        mut explain: DocumentExplain,
    ) -> WriteCheck {
        if let Err(failed) =
            self.check_fields_writable(role, Some(before), after, budget, &mut explain)
        {
            return finish(WriteOutcome::Denied, explain, Some(failed));
        }
        self.check_schema(after, Some(before), budget, explain)
    }

    /// Decides the delete of `before` (as stored).
    pub fn authorize_delete(&self, before: &Document) -> WriteCheck {
        let budget = Budget::default();
        let mut explain = self.new_explain(before);
        let role = match self.writable_role(before, &budget, &mut explain) {
            Ok(role) => role,
            Err((outcome, failed)) => return finish(outcome, explain, Some(failed)),
        };
        let images = Images::document(Some(before), Some(before));
        if self.permission(role.delete.as_ref(), images, &budget, &mut explain, &|| {
            "delete".to_owned()
        }) == Tri::False
        {
            return finish(
                WriteOutcome::Denied,
                explain,
                Some("delete does not hold".to_owned()),
            );
        }
        finish(WriteOutcome::Allowed, explain, None)
    }

    /// The role of a stored document a write touches, after its document filters: a
    /// document the user cannot see is not matched; one it sees but may not write is denied.
    fn writable_role(
        &self,
        before: &Document,
        budget: &Budget,
        explain: &mut DocumentExplain,
    ) -> Result<&Role, (WriteOutcome, String)> {
        let images = Images::document(Some(before), Some(before));
        let Some(role) = self.choose_role(images, budget, explain) else {
            return Err((WriteOutcome::NotMatched, "no role applies".to_owned()));
        };
        if self.document_visible(role, images, budget, explain) == Some(false) {
            return Err((
                WriteOutcome::NotMatched,
                "document_filters: neither read nor write holds".to_owned(),
            ));
        }
        if let Some(filters) = &role.document_filters {
            if self.permission(filters.write.as_ref(), images, budget, explain, &|| {
                "document_filters.write".to_owned()
            }) != Tri::True
            {
                return Err((
                    WriteOutcome::Denied,
                    "document_filters.write does not hold".to_owned(),
                ));
            }
        }
        Ok(role)
    }

    /// Document-level `write`, else every added, changed or removed field must be writable.
    fn check_fields_writable(
        &self,
        role: &Role,
        before: Option<&Document>,
        after: &Document,
        budget: &Budget,
        explain: &mut DocumentExplain,
    ) -> Result<(), String> {
        let images = Images::document(Some(after), before);
        match self.permission(role.write.as_ref(), images, budget, explain, &|| {
            "write".to_owned()
        }) {
            Tri::True => {
                explain.access = Some("full");
                return Ok(());
            }
            Tri::False => return Err("write does not hold".to_owned()),
            Tri::Undefined => {}
        }
        explain.access = Some("fields");
        let walk = FieldWalk {
            authorizer: self,
            images,
            budget,
        };
        walk.object(
            role.fields.as_ref(),
            role.additional_fields.as_ref(),
            before,
            Some(after),
            "",
            explain,
        )
    }

    fn check_schema(
        &self,
        after: &Document,
        before: Option<&Document>,
        budget: &Budget,
        explain: DocumentExplain,
    ) -> WriteCheck {
        let Some(schema) = &self.rules.schema else {
            return finish(WriteOutcome::Allowed, explain, None);
        };
        match schema.validate(after, before, &self.scope, budget) {
            Ok(()) => finish(WriteOutcome::Allowed, explain, None),
            Err(violation) => finish(
                WriteOutcome::Invalid,
                explain,
                Some(format!("schema: {violation}")),
            ),
        }
    }
}

struct FieldWalk<'a> {
    authorizer: &'a Authorizer,
    images: Images<'a>,
    budget: &'a Budget,
}

impl FieldWalk<'_> {
    fn object(
        &self,
        rules: Option<&FieldRules>,
        additional: Option<&Permission>,
        before: Option<&Document>,
        after: Option<&Document>,
        path: &str,
        explain: &mut DocumentExplain,
    ) -> Result<(), String> {
        let after_keys = after.into_iter().flat_map(|doc| doc.keys());
        let removed = before
            .into_iter()
            .flat_map(|doc| doc.keys())
            .filter(|key| !after.is_some_and(|doc| doc.contains_key(key.as_str())));
        for key in after_keys.chain(removed) {
            let new = after.and_then(|doc| doc.get(key));
            let old = before.and_then(|doc| doc.get(key));
            if new == old {
                continue;
            }
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            self.field(rules, additional, key, new, old, &here, explain)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &self,
        rules: Option<&FieldRules>,
        additional: Option<&Permission>,
        key: &str,
        new: Option<&Bson>,
        old: Option<&Bson>,
        here: &str,
        explain: &mut DocumentExplain,
    ) -> Result<(), String> {
        let images = self.images.field(new, old);
        let denied = || format!("no write permission on `{here}`");
        match rules.and_then(|rules| rules.get(key)) {
            Some(rule) if rule.has_own() => {
                match self.authorizer.permission(
                    rule.own.write.as_ref(),
                    images,
                    self.budget,
                    explain,
                    &|| format!("fields.{here}.write"),
                ) {
                    Tri::True => Ok(()),
                    _ => Err(denied()),
                }
            }
            Some(rule) if !rule.fields.is_empty() => match (as_document(old), as_document(new)) {
                (Some(old), Some(new)) => {
                    self.object(Some(&rule.fields), None, old, new, here, explain)
                }
                _ => Err(denied()),
            },
            Some(_) => Err(denied()),
            None => {
                let write = additional.and_then(|permission| permission.write.as_ref());
                match self
                    .authorizer
                    .permission(write, images, self.budget, explain, &|| {
                        "additional_fields.write".to_owned()
                    }) {
                    Tri::True => Ok(()),
                    _ => Err(denied()),
                }
            }
        }
    }
}

/// A missing value or an embedded document; `None` for anything else.
fn as_document(value: Option<&Bson>) -> Option<Option<&Document>> {
    match value {
        None => Some(None),
        Some(Bson::Document(doc)) => Some(Some(doc)),
        Some(_) => None,
    }
}
