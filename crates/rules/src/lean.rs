//! Lean reads decided with what the request fixes. When every role's `apply_when` is decided
//! for the request or is a conjunction of tests of document fields (matched on the stored
//! bytes), and the access each role gives (`document_filters`, `read`, `write`) does not
//! depend on the document, choosing a role for a stored document is matching those filters in
//! order, and what the role shows is known in advance: everything, nothing, or the fields of
//! its field table. A [`LeanPlan`] holds that, built once per request on the first lean
//! read ([`Authorizer::without_explanations`]), and reads each document without the general
//! path's per-document bookkeeping (images, scopes, the permission evaluator).
//!
//! Anything the plan cannot decide alike falls back to the general path, which records it:
//! a role the plan cannot express disables the plan for the request, and a document whose
//! match or per-document field permission fails (malformed bytes, an evaluation error) is
//! read again by the general path.

use bson::RawDocument;
use rampart_mql::Filter;

use crate::authorize::{access, finish_raw, Access, Authorizer, Gate, RawReadInto, Tri, NO_ROLE};
use crate::compile::Role;
use crate::expr::{Budget, Expression, Scope};

/// Per role, in order: when it applies, and what it shows.
#[derive(Debug, Clone)]
pub(crate) struct LeanPlan {
    roles: Vec<LeanRole>,
}

#[derive(Debug, Clone)]
struct LeanRole {
    role: usize,
    gate: LeanGate,
    shows: Shows,
}

#[derive(Debug, Clone)]
enum LeanGate {
    Decided(bool),
    /// Holds when every filter matches the stored document.
    Filters(Vec<Filter>),
}

#[derive(Debug, Clone)]
enum Shows {
    Everything,
    /// The reason the document is withheld.
    Nothing(String),
    /// The fields of the role's table (`Authorizer::static_fields`, which the general path
    /// shares).
    Fields,
}

impl LeanPlan {
    /// The plan of `authorizer`'s roles, or `None` when one of them needs the general path:
    /// a gate that failed for the request or is not made of field tests, an access that
    /// reads the document or fails to evaluate for the request, or field permissions that
    /// read the field's value.
    pub(crate) fn of(authorizer: &Authorizer) -> Option<LeanPlan> {
        let rules = &authorizer.rules;
        let roles = rules
            .roles
            .iter()
            .zip(&authorizer.gates)
            .enumerate()
            .map(|(index, (role, gate))| {
                let gate = match gate {
                    Gate::Decided(holds) => LeanGate::Decided(*holds),
                    Gate::Failed(_) => return None,
                    Gate::PerDocument(_) => {
                        LeanGate::Filters(role.apply_when.root_filters(&authorizer.scope)?)
                    }
                };
                Some(LeanRole {
                    role: index,
                    gate,
                    shows: shows(authorizer, index, role)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(LeanPlan { roles })
    }

    /// Reads `document` as [`Authorizer::read_raw_into`] does (appending a copy to `out`),
    /// into `read`, which must be withheld with an empty explanation; `false` when the general
    /// path must decide it (nothing is then appended, and `read`'s explanation may hold a
    /// role: the general path starts it anew).
    pub(crate) fn read(
        &self,
        authorizer: &Authorizer,
        document: &RawDocument,
        out: &mut Vec<u8>,
        read: &mut RawReadInto,
    ) -> bool {
        let start = out.len();
        let mut chosen = None;
        for role in &self.roles {
            let applies = match &role.gate {
                LeanGate::Decided(holds) => *holds,
                LeanGate::Filters(filters) => match all_match(filters, document) {
                    Some(applies) => applies,
                    None => return false,
                },
            };
            if applies {
                chosen = Some(role);
                break;
            }
        }
        let explain = &mut read.explain;
        let Some((lean, role)) =
            chosen.and_then(|lean| Some((lean, authorizer.rules.roles.get(lean.role)?)))
        else {
            explain.failed_check = Some(NO_ROLE.to_owned());
            return true;
        };
        explain.role = Some(role.name.clone());
        let copied = match &lean.shows {
            Shows::Everything => {
                explain.access = Some("full");
                Ok(false)
            }
            Shows::Nothing(reason) => {
                explain.access = Some("none");
                explain.failed_check = Some(reason.clone());
                return true;
            }
            Shows::Fields => {
                explain.access = Some("fields");
                let Some(table) = authorizer.static_fields(lean.role, role) else {
                    return false;
                };
                let budget = Budget::default();
                match crate::static_fields::visible(table, authorizer, document, &budget, out) {
                    Some(copied) => copied.map_err(|error| *error),
                    None => return false,
                }
            }
        };
        finish_raw(copied, start, document, out, read);
        true
    }
}

/// Whether every filter matches; `None` when one fails to match (the general path then
/// evaluates the gate, which records the error).
#[inline]
fn all_match(filters: &[Filter], document: &RawDocument) -> Option<bool> {
    for filter in filters {
        if !filter.matches_raw_ok(document)? {
            return Some(false);
        }
    }
    Some(true)
}

/// What `role` (at `index`) shows of any document, when that does not depend on the document.
fn shows(authorizer: &Authorizer, index: usize, role: &Role) -> Option<Shows> {
    let scope = Scope::request_only(&authorizer.scope);
    let budget = Budget::default();
    let evaluate = |expression: Option<&Expression>| match expression {
        None => Some(Tri::Undefined),
        Some(expression) if expression.reads_document() => None,
        Some(expression) => match expression.evaluate(&scope, &budget) {
            Ok(true) => Some(Tri::True),
            Ok(false) => Some(Tri::False),
            Err(_) => None,
        },
    };
    let access = access(role, |expression, _| evaluate(expression))?;
    Some(match access {
        Access::Full => Shows::Everything,
        Access::None(reason) => Shows::Nothing(reason),
        Access::Fields => {
            authorizer.static_fields(index, role)?;
            Shows::Fields
        }
    })
}
