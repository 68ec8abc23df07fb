//! The top-level error and the documented exit codes.

use std::process::ExitCode;

use crate::export::ExportError;
use crate::github::GitHubError;
use crate::import::ImportError;
use crate::mine::MineError;
use crate::store::StoreError;

/// Exit codes (also in `--help` and README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// An error stopped the run (database, I/O, GitHub authentication …).
    Failed = 1,
    /// Bad arguments or bad input files.
    Usage = 2,
    /// Finished, but some repositories or pull requests failed; they are retried on the next run.
    Partial = 3,
    /// Another run holds the workspace.
    Busy = 4,
    /// Stopped by Ctrl-C; what was finished is saved.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("{0}")]
    Io(String),
}

impl From<crate::pin::PinError> for Error {
    fn from(e: crate::pin::PinError) -> Self {
        match e {
            crate::pin::PinError::Store(s) => Error::Store(s),
        }
    }
}

impl From<crate::image::BuildError> for Error {
    fn from(e: crate::image::BuildError) -> Self {
        match e {
            crate::image::BuildError::Store(s) => Error::Store(s),
            crate::image::BuildError::CaCert { .. } => Error::Usage(e.to_string()),
            other => Error::Io(other.to_string()),
        }
    }
}

impl From<crate::validate::ValidateError> for Error {
    fn from(e: crate::validate::ValidateError) -> Self {
        match e {
            crate::validate::ValidateError::Store(s) => Error::Store(s),
            other => Error::Io(other.to_string()),
        }
    }
}

impl From<crate::evaluate::EvaluateError> for Error {
    fn from(e: crate::evaluate::EvaluateError) -> Self {
        use crate::evaluate::EvaluateError as E;
        match e {
            E::Store(s) => Error::Store(s),
            E::Predictions { .. } => Error::Usage(e.to_string()),
            other => Error::Io(other.to_string()),
        }
    }
}

impl From<crate::serve::ServeError> for Error {
    fn from(e: crate::serve::ServeError) -> Self {
        use crate::serve::ServeError as E;
        match e {
            E::Store(s) => Error::Store(s),
            E::NoToken(_) | E::Bind { .. } => Error::Usage(e.to_string()),
            other => Error::Io(other.to_string()),
        }
    }
}

impl From<crate::refresh::RefreshError> for Error {
    fn from(e: crate::refresh::RefreshError) -> Self {
        use crate::refresh::RefreshError as R;
        match e {
            R::Mine(m) => m.into(),
            R::Pin(p) => p.into(),
            R::Build(b) => b.into(),
            R::Validate(v) => v.into(),
            R::Export(x) => Error::Export(x),
        }
    }
}

impl From<MineError> for Error {
    fn from(e: MineError) -> Self {
        match e {
            MineError::Store(s) => Error::Store(s),
            MineError::GitHub(g) => Error::GitHub(g),
        }
    }
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Store(StoreError::Busy { .. })
            | Error::Export(ExportError::Store(StoreError::Busy { .. }))
            | Error::Import(ImportError::Store(StoreError::Busy { .. })) => Exit::Busy,
            Error::Import(ImportError::Store(_)) => Exit::Failed,
            Error::Import(_) => Exit::Usage,
            Error::Store(StoreError::Missing { .. }) => Exit::Usage,
            Error::GitHub(GitHubError::BadApiUrl { .. }) => Exit::Usage,
            _ => Exit::Failed,
        }
    }
}
