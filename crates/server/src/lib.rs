//! Rampart's HTTP server.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod config;

pub use crate::config::{
    parse, Backend, ConfigError, LoadedConfig, LogConfig, LogFormat, RampartConfig, CONFIG_FILE,
};
mod http;
mod observability;

pub use crate::http::{init_logging, router, serve, shutdown_signal, AppState};
pub use crate::observability::{AuditEvent, DecisionOutcome, Observability};
