//! Writes: inserts, updates, replaces and deletes. Each request runs in ONE store transaction:
//! read the documents it touches, compute their after-images with `rampart-mql`, let the rules
//! decide every one, and write only when all are allowed. A refusal returns an error from the
//! transaction body, so nothing of the request is written (docs/rules-semantics.md, "Writes").

use bson::{Bson, Document};
use rampart_mql::{Filter, Update, UpdateContext};
use rampart_rules::{UpdateStep, WriteCheck, WriteDecision, WriteKind, WriteOutcome};
use rampart_store::{StoreError, Transaction};

use super::body::Action;
use super::error::ApiError;
use super::exec::{count, Execution, Failure, Success, Verdict};

/// What a transaction body decided, kept outside it because the body can only return a
/// `StoreError` to abort.
type Decided = Option<Result<Success, Failure>>;

/// Aborts the transaction after a decision was recorded in the `Decided` slot.
fn abort() -> StoreError {
    StoreError::Aborted("refused by the rules".to_owned())
}

/// Runs `body` in one transaction; a refusal it records wins over the abort error it returns.
fn in_transaction(
    ex: &Execution<'_>,
    body: &mut dyn FnMut(&mut dyn Transaction, &mut Decided) -> Result<(), StoreError>,
) -> Result<Success, Failure> {
    let mut decided: Decided = None;
    let result = ex.store.transaction(&mut |tx| {
        decided = None;
        body(tx, &mut decided)
    });
    match (result, decided) {
        (Ok(()), Some(outcome)) => outcome,
        (Err(_), Some(Err(failure))) => Err(failure),
        (Err(error), _) => Err(Failure::store(&error)),
        (Ok(()), None) => Err(Failure::error(ApiError::internal())),
    }
}

fn role_of(checks: &[WriteCheck]) -> Option<String> {
    checks
        .iter()
        .find_map(|check| check.explain.role.as_deref().map(str::to_owned))
}

/// `insertOne` and `insertMany`: every document is decided before any is written.
pub(crate) fn insert(ex: &Execution<'_>) -> Result<Success, Failure> {
    if ex.body.documents.len() > ex.max_documents {
        return Err(Failure::error(ApiError::invalid(format!(
            "`documents` holds more than {} documents (`data_api.max_documents`)",
            ex.max_documents
        ))));
    }
    let documents: Vec<Document> = ex
        .body
        .documents
        .iter()
        .cloned()
        .map(rampart_mql::with_id_first)
        .collect();
    let checks: Vec<WriteCheck> = documents
        .iter()
        .map(|document| ex.authorizer.authorize_insert(document))
        .collect();
    let role = role_of(&checks);
    let decision = WriteDecision::combine(WriteKind::Insert, checks);
    if !decision.allowed {
        return Err(Failure::refused(&decision));
    }
    ex.check_deadline()?;
    let mut ids = Vec::new();
    ex.store
        .transaction(&mut |tx| {
            ids.clear();
            for document in &documents {
                ids.push(tx.insert(ex.ns, document.clone())?);
            }
            Ok(())
        })
        .map_err(|error| Failure::store(&error))?;
    let body = if ex.action == Action::InsertMany {
        bson::doc! {"insertedIds": ids}
    } else {
        bson::doc! {"insertedId": ids.into_iter().next().unwrap_or(Bson::Null)}
    };
    Ok(Success {
        body,
        verdict: Verdict::allowed(role),
    })
}

/// `updateOne`, `updateMany`, `replaceOne`, with `upsert`.
pub(crate) fn update(ex: &Execution<'_>) -> Result<Success, Failure> {
    let raw = ex
        .body
        .update
        .as_ref()
        .ok_or_else(|| Failure::error(ApiError::missing("update")))?;
    let compiled = Update::parse(raw, &[]).map_err(invalid)?;
    let plan = ex.authorizer.plan_query(&ex.body.filter);
    if let Some(message) = plan.error() {
        return Err(Failure::plan(message));
    }
    let filter = plan
        .query()
        .map(|query| Filter::compile(query).map_err(invalid))
        .transpose()?;
    let seed = Filter::compile(&ex.body.filter).map_err(invalid)?;
    let query = plan.query().cloned();
    let many = ex.action == Action::UpdateMany;
    in_transaction(ex, &mut |tx, decided| {
        let mut updates = Updates::default();
        if let (Some(query), Some(filter)) = (&query, &filter) {
            for before in tx.find(ex.ns, query)? {
                match updates.consider(ex, filter, &compiled, before) {
                    Ok(true) if !many => break,
                    Ok(_) => {}
                    Err(failure) => return refuse(decided, failure),
                }
            }
        }
        let decision = WriteDecision::combine(WriteKind::Update, updates.checks.clone());
        if !decision.allowed {
            return refuse(decided, Failure::refused(&decision));
        }
        if let Err(failure) = ex.check_deadline() {
            return refuse(decided, failure);
        }
        let mut body = bson::doc! {
            "matchedCount": count(updates.matched),
            "modifiedCount": count(updates.changed.len() as u64),
        };
        if updates.matched == 0 && ex.body.upsert {
            match upsert_document(ex, &compiled, &seed) {
                Ok(new) => {
                    body.insert("upsertedId", tx.insert(ex.ns, new)?);
                }
                Err(failure) => return refuse(decided, failure),
            }
        }
        for after in updates.changed.drain(..) {
            tx.replace(ex.ns, after)?;
        }
        *decided = Some(Ok(Success {
            body,
            verdict: Verdict::allowed(role_of(&updates.checks)),
        }));
        Ok(())
    })
}

fn invalid(error: rampart_mql::MqlError) -> Failure {
    Failure::error(ApiError::invalid(error.message().to_owned()))
}

fn refuse(decided: &mut Decided, failure: Failure) -> Result<(), StoreError> {
    *decided = Some(Err(failure));
    Err(abort())
}

/// The documents an update touches, with their decisions.
#[derive(Default)]
struct Updates {
    matched: u64,
    checks: Vec<WriteCheck>,
    changed: Vec<Document>,
}

impl Updates {
    /// Decides one candidate; true when it counted as matched.
    fn consider(
        &mut self,
        ex: &Execution<'_>,
        filter: &Filter,
        compiled: &Update,
        before: Document,
    ) -> Result<bool, Failure> {
        ex.check_deadline()?;
        let hit = filter.evaluate(&before).map_err(invalid)?;
        if !hit.matched {
            return Ok(false);
        }
        let context = UpdateContext {
            matched_position: hit.array_position,
            ..UpdateContext::default()
        };
        let step = ex.authorizer.apply_update(&before, compiled, &context);
        let UpdateStep::Matched {
            after,
            changed,
            check,
        } = step.map_err(invalid)?
        else {
            return Ok(false);
        };
        self.matched += 1;
        self.checks.push(check);
        if changed {
            self.changed.push(after);
        }
        Ok(true)
    }
}

/// The document an upsert inserts, decided as an insert.
fn upsert_document(
    ex: &Execution<'_>,
    compiled: &Update,
    seed: &Filter,
) -> Result<Document, Failure> {
    let (new, decision) = ex
        .authorizer
        .upsert_insert(compiled, seed)
        .map_err(invalid)?;
    if !decision.allowed {
        return Err(Failure::refused(&decision));
    }
    Ok(new)
}

/// `deleteOne` and `deleteMany`.
pub(crate) fn delete(ex: &Execution<'_>) -> Result<Success, Failure> {
    let plan = ex.authorizer.plan_query(&ex.body.filter);
    if let Some(message) = plan.error() {
        return Err(Failure::plan(message));
    }
    let Some(query) = plan.query().cloned() else {
        return Ok(Success {
            body: bson::doc! {"deletedCount": count(0)},
            verdict: Verdict::allowed(None),
        });
    };
    let many = ex.action == Action::DeleteMany;
    in_transaction(ex, &mut |tx, decided| {
        let mut doomed = Vec::new();
        let mut checks = Vec::new();
        for before in tx.find(ex.ns, &query)? {
            if let Err(failure) = ex.check_deadline() {
                return refuse(decided, failure);
            }
            let check = ex.authorizer.authorize_delete(&before);
            if check.outcome == WriteOutcome::NotMatched {
                continue;
            }
            doomed.push(before.get("_id").cloned().unwrap_or(Bson::Null));
            checks.push(check);
            if !many {
                break;
            }
        }
        let role = role_of(&checks);
        let decision = WriteDecision::combine(WriteKind::Delete, checks);
        if !decision.allowed {
            return refuse(decided, Failure::refused(&decision));
        }
        for id in &doomed {
            tx.delete(ex.ns, id)?;
        }
        *decided = Some(Ok(Success {
            body: bson::doc! {"deletedCount": count(doomed.len() as u64)},
            verdict: Verdict::allowed(role),
        }));
        Ok(())
    })
}
