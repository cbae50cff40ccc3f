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
    parse, Backend, ConfigError, DataApiSettings, LoadedConfig, LogConfig, LogFormat,
    RampartConfig, CONFIG_FILE,
};
pub mod data_api;
mod http;
mod observability;
mod openapi;

pub use crate::http::{init_logging, router, serve, shutdown_signal, AppState};
pub use crate::observability::{AuditEvent, DecisionOutcome, Observability};
