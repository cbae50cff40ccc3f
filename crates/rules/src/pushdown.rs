//! Role conditions pushed down into a read's store query, so a `find` under an owner rule
//! reads the user's documents instead of scanning and withholding everyone else's.
//!
//! A document is returned only when the first role whose `apply_when` holds can grant a read
//! and its `document_filters` (read or write) hold. The pushed-down condition is therefore the
//! `$or`, over the roles that can grant a read, of `apply_when` and `document_filters`, each
//! translated for this request (`expr/translate.rs`).
//!
//! INVARIANT: the condition is a superset of the visible documents: every document
//! `Authorizer::read` returns matches it. It may match documents the rules then withhold (a
//! later role's condition also matches documents an earlier role takes; an erroring
//! `apply_when` leaves a document with no role), never the reverse. When some read-granting
//! role's condition cannot be narrowed, nothing is pushed down and the reason is kept.

use crate::authorize::Gate;
use crate::compile::{FieldRules, Permission, Role};
use crate::expr::{Expression, RequestScope, Translation};

/// The condition every document a read may return satisfies, for one request.
pub(crate) fn read_condition(
    roles: &[Role],
    gates: &[Gate],
    request: &RequestScope,
) -> Translation {
    let mut branches = Vec::new();
    for (role, gate) in roles.iter().zip(gates) {
        let apply_when = match gate {
            Gate::Decided(false) => continue,
            // Every document reaching this role errs and gets no role: later roles never apply.
            Gate::Failed(_) => break,
            Gate::Decided(true) => Translation::Everything(None),
            Gate::PerDocument(_) => role.apply_when.translate(request),
        };
        if may_grant_read(role) {
            let condition = Translation::and(vec![apply_when, visibility(role, request)]);
            branches.push(name_reason(condition, &role.name));
        }
        // A role that applies to every document shadows every later role.
        if matches!(gate, Gate::Decided(true)) {
            break;
        }
    }
    Translation::or(branches)
}

/// Attributes a widening to its role, for the explanation.
fn name_reason(condition: Translation, role: &str) -> Translation {
    match condition {
        Translation::Everything(None) => Translation::Everything(Some(format!(
            "role `{role}` may grant read on every document"
        ))),
        Translation::Everything(Some(reason)) => Translation::Everything(Some(format!(
            "role `{role}` has a condition with no store query: {reason}"
        ))),
        other => other,
    }
}

/// `document_filters`: read or write must hold; an absent sub-key does not hold.
fn visibility(role: &Role, request: &RequestScope) -> Translation {
    let Some(filters) = &role.document_filters else {
        return Translation::Everything(None);
    };
    let either = [&filters.read, &filters.write].map(|expression| match expression {
        Some(expression) => expression.translate(request),
        None => Translation::Nothing,
    });
    Translation::or(either.into_iter().collect())
}

/// False only when the role can never grant a read, whatever the document: `read` and `write`
/// absent or the literal `false`, and (unless `read` is `false`, which withholds the document
/// outright) no field or `additional_fields` permission that could hold.
fn may_grant_read(role: &Role) -> bool {
    if possible(role.read.as_ref()) || possible(role.write.as_ref()) {
        return true;
    }
    if role
        .read
        .as_ref()
        .is_some_and(|read| read.is_constant(false))
    {
        return false;
    }
    role.fields.as_ref().is_some_and(fields_may_grant)
        || role
            .additional_fields
            .as_ref()
            .is_some_and(permission_may_grant)
}

fn possible(expression: Option<&Expression>) -> bool {
    expression.is_some_and(|expression| !expression.is_constant(false))
}

fn permission_may_grant(permission: &Permission) -> bool {
    possible(permission.read.as_ref()) || possible(permission.write.as_ref())
}

fn fields_may_grant(fields: &FieldRules) -> bool {
    fields
        .values()
        .any(|rule| permission_may_grant(&rule.own) || fields_may_grant(&rule.fields))
}
