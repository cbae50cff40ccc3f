//! Aggregation expressions: field paths, variables, operators.
// PLACEHOLDER: implemented by the aggregation work; signatures are the contract.

use std::collections::BTreeMap;

use bson::{Bson, Document};

use crate::error::{MqlError, Result};

/// A compiled aggregation expression.
#[derive(Debug, Clone)]
pub struct Expr {
    _source: Bson,
}

/// User variables (`let`) and system values visible to an expression (`$$NOW`); `$$ROOT` and
/// `$$CURRENT` come from the document being evaluated.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, Bson>,
    now: Option<bson::DateTime>,
}

impl Variables {
    /// No user variables; `$$NOW` is the time of the first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the user variable `name` (without `$$`).
    pub fn with(mut self, name: impl Into<String>, value: Bson) -> Self {
        self.values.insert(name.into(), value);
        self
    }

    /// Fixes `$$NOW` (and `$currentDate`) to `now`.
    pub fn with_now(mut self, now: bson::DateTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The user variable `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Bson> {
        self.values.get(name)
    }

    /// `$$NOW`: the fixed time if one was set, else the current time.
    pub fn now(&self) -> bson::DateTime {
        self.now.unwrap_or_else(bson::DateTime::now)
    }
}

fn pending() -> MqlError {
    MqlError::new(
        crate::ErrorKind::UnknownOperator,
        "expressions are not implemented yet",
    )
}

impl Expr {
    /// Compiles an expression; unknown operators are errors.
    pub fn compile(value: &Bson) -> Result<Expr> {
        let _ = value;
        Err(pending())
    }

    /// Evaluates against `root` (`$$ROOT` and `$$CURRENT`). `Ok(None)` means the result is
    /// missing (a field path to nothing), which differs from `null`.
    pub fn evaluate(&self, root: &Document, variables: &Variables) -> Result<Option<Bson>> {
        let _ = (root, variables);
        Err(pending())
    }
}

/// Truthiness as `$cond`, `$and` and `$expr` see it: missing, `null`, `undefined`, `false`
/// and numeric zero are false; everything else (empty strings and arrays included) is true.
pub fn truthy(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) | Some(Bson::Boolean(false)) => false,
        Some(other) => match crate::value::number(other) {
            Some(number) => number.as_f64() != 0.0,
            None => true,
        },
    }
}
