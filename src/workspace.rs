//! Where things live, and every environment variable the tool reads — in one place.

use std::path::{Path, PathBuf};

/// The environment variables swegym-build reads. Documented in README.md ("Environment").
pub mod env {
    /// Workspace directory (database, mirrors, logs, exports).
    pub const WORKSPACE: &str = "SWEGYM_WORKSPACE";
    /// One GitHub token.
    pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
    /// Several GitHub tokens, comma-separated, used in rotation.
    pub const GITHUB_TOKENS: &str = "GITHUB_TOKENS";
    /// REST API root (GitHub Enterprise: `https://HOST/api/v3`; tests: a local server).
    pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
    /// Minimum back-off after a secondary rate limit, in seconds (default 60).
    pub const SECONDARY_BACKOFF: &str = "SWEGYM_SECONDARY_BACKOFF_SECS";
    /// First back-off after a 5xx or a transport error, in milliseconds (default 1000).
    pub const RETRY_BASE_MS: &str = "SWEGYM_RETRY_BASE_MS";
    /// Clone URL template for git mirrors: `{owner}`, `{name}`, `{repo}` (default
    /// `https://github.com/{repo}.git`; `file://` works for local mirrors).
    pub const GIT_URL: &str = "SWEGYM_GIT_URL";
    /// Log filter for stderr (tracing `EnvFilter` syntax), e.g. `swegym_build=debug`.
    pub const LOG: &str = "SWEGYM_LOG";
    /// The bearer token `serve` requires (required off the loopback).
    pub const SERVE_TOKEN: &str = "SWEGYM_SERVE_TOKEN";
    /// Login of a private registry (`--executor swarm`); passed to workers as a swarm secret.
    pub const REGISTRY_USERNAME: &str = "SWEGYM_REGISTRY_USERNAME";
    pub const REGISTRY_PASSWORD: &str = "SWEGYM_REGISTRY_PASSWORD";
    /// A file to which `--executor swarm` appends one JSON line per task attempt (service, node,
    /// times, outcome): for tests and benchmarks.
    pub const TRACE_TASKS: &str = "SWEGYM_TRACE_TASKS";
}

/// Default GitHub REST API root.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// Default workspace directory, relative to the current directory.
pub const DEFAULT_WORKSPACE: &str = "swegym-workspace";

/// The paths inside a workspace directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the workspace directories if they do not exist.
    pub fn create_dirs(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        std::fs::create_dir_all(self.logs_dir())?;
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The DuckDB database file.
    pub fn database(&self) -> PathBuf {
        self.root.join("swegym.duckdb")
    }

    /// The lock file that marks the workspace as in use by one writing process.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("swegym.lock")
    }

    /// Run logs (one file per command invocation).
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Validation run logs: `<instance>/<phase>-<run>.log`.
    pub fn validate_logs_dir(&self) -> PathBuf {
        self.logs_dir().join("validate")
    }

    /// The JSON summary of the last `refresh`.
    pub fn refresh_summary(&self) -> PathBuf {
        self.root.join("refresh-summary.json")
    }

    /// Bare git mirrors, one per repository.
    pub fn mirrors_dir(&self) -> PathBuf {
        self.root.join("mirrors")
    }

    /// Default export directory.
    pub fn exports_dir(&self) -> PathBuf {
        self.root.join("exports")
    }
}
