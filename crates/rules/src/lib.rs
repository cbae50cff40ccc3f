//! Atlas App Services data access rules, compiled and evaluated in process.
//!
//! Load an app ([`load_app`]) or build an [`AppConfig`], compile it once into a [`RuleSet`],
//! then per request make an [`Authorizer`] for a namespace and user: it plans the query
//! (filters), decides each read document (role, document filters, field redaction) and each
//! write (insert, update or replace from before and after images, delete, schema). Decisions
//! are values that carry an explanation; an evaluation error never grants access.
//!
//! Loading and compiling report every configuration problem they find, not only the first
//! ([`ConfigErrors`]).
//!
//! Pure: no IO except [`load_app`] and [`load_and_compile`], no async.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod authorize;
mod check;
mod compile;
mod config;
mod error;
mod explain;
mod expr;
mod function;
mod lean;
mod loader;
mod pushdown;
mod redact;
mod schema;
mod shape;
pub mod simulate;
mod static_fields;
mod write;

pub use crate::authorize::{
    Authorizer, QueryPlan, RawReadDecision, RawReadInto, RawVisible, ReadDecision,
};
pub use crate::check::{lint, Lint};
pub use crate::compile::{NamespaceRules, RoleSource, RuleSet, User};
pub use crate::config::{
    AdditionalFieldsConfig, AppConfig, CollectionConfig, CollectionRulesFile, DataSourceConfig,
    DefaultRuleFile, DocumentFiltersConfig, FieldConfig, FilterConfig, RoleConfig,
};
pub use crate::error::{ConfigError, ConfigErrors};
pub use crate::explain::{DocumentExplain, FilterExplain, RoleTrial, WithheldField};
pub use crate::expr::{RequestScope, MAX_EVALUATION_STEPS, MAX_EXPRESSION_DEPTH};
pub use crate::loader::{load_and_compile, load_app, LoadOptions, LoadedApp};
pub use crate::schema::SchemaViolation;
pub use crate::write::{UpdateStep, WriteCheck, WriteDecision, WriteKind, WriteOutcome};
