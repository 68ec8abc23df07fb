//! swegym-build: mine GitHub pull requests that fix issues into executable task instances for
//! training software-engineering agents (the SWE-Gym pipeline), one stage per module.
//!
//! Stages talk only through the DuckDB store (`store`); infrastructure sits behind small adapters
//! (`github`). `app` runs a parsed command line; `main.rs` only dispatches.

pub mod app;
pub mod cancel;
pub mod cli;
pub mod context;
pub mod diff;
pub mod docker;
pub mod error;
pub mod evaluate;
pub mod executor;
pub mod export;
pub mod git;
pub mod github;
pub mod image;
pub mod import;
pub mod lite;
pub mod mine;
pub mod model;
pub mod pin;
pub mod progress;
pub mod recipe;
pub mod refresh;
pub mod report;
pub mod serve;
pub mod store;
pub mod testlog;
pub mod validate;
pub mod workspace;

pub use error::{Error, Exit};
