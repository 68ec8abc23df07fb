//! Base images: Debian + a Python + git + a venv. From `python:X.Y-slim` where a registry answers,
//! else built here from Debian's packages: a debootstrap root filesystem added to `FROM scratch`
//! through the Engine API, with the Python that Debian release ships.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::recipe::PythonVersion;

/// Where base images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BaseSource {
    /// `python:X.Y-slim` if the engine has it or can pull it, else debootstrap.
    Auto,
    /// Always from Debian's packages with debootstrap (needs root and the `debootstrap` tool).
    Debootstrap,
    /// Always `python:X.Y-slim` (needs a registry or the image already loaded).
    Registry,
}

/// A Debian release and the Python it ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    pub name: &'static str,
    pub python: PythonVersion,
}

/// Debian releases whose Python a locally built base image can have.
pub const SUITES: &[Suite] = &[
    Suite { name: "bullseye", python: PythonVersion(3, 9) },
    Suite { name: "bookworm", python: PythonVersion(3, 11) },
    Suite { name: "trixie", python: PythonVersion(3, 13) },
];

/// The suite whose Python is nearest to `wanted`; on a tie the older Python (old dependency pins
/// more often lack wheels for a newer one).
pub fn suite_for(wanted: PythonVersion) -> Suite {
    let mut best = SUITES[0];
    for s in SUITES {
        let d = (s.python.1 as i64 - wanted.1 as i64).abs();
        let bd = (best.python.1 as i64 - wanted.1 as i64).abs();
        if d < bd {
            best = *s;
        }
    }
    best
}

/// Debian packages every base image has.
pub const PACKAGES: &[&str] = &["python3", "python3-venv", "python3-dev", "git", "ca-certificates", "patch"];

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(
        "cannot build a base image from Debian's packages: `debootstrap` is not installed (apt-get install debootstrap), \
         or pass --base registry where python:X.Y-slim can be pulled"
    )]
    NoDebootstrap,
    #[error("debootstrap needs root (it creates device files and chroots); run as root, or pass --base registry")]
    NotRoot,
    #[error("debootstrap {suite} failed (exit {code}); its output is in {log}:\n{tail}")]
    Failed { suite: String, code: i32, log: PathBuf, tail: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Makes a minimal root filesystem of `suite` with [`PACKAGES`] and returns it as a tar archive
/// (no `/dev` entries: the engine provides `/dev`). Output goes to `log`.
pub fn debootstrap_rootfs(suite: &str, mirror: &str, work: &Path, log: &Path) -> Result<Vec<u8>, RootfsError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Io { path, source }
    };
    if Command::new("debootstrap").arg("--version").output().is_err() {
        return Err(RootfsError::NoDebootstrap);
    }
    // SAFETY-free check: `id -u` rather than libc.
    let uid = Command::new("id").arg("-u").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Err(RootfsError::NotRoot);
    }
    let root = work.join(format!("rootfs-{suite}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let logf = std::fs::File::create(log).map_err(io(log))?;
    let errf = logf.try_clone().map_err(io(log))?;
    let status = Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(suite)
        .arg(&root)
        .arg(mirror)
        .stdout(logf)
        .stderr(errf)
        .status()
        .map_err(io(&root))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&root);
        return Err(RootfsError::Failed {
            suite: suite.to_string(),
            code: status.code().unwrap_or(-1),
            log: log.to_path_buf(),
            tail: crate::docker::tail(log, 15),
        });
    }
    // System tar keeps ownership, modes, hard links and special files exactly as debootstrap made them.
    let out = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "--exclude=./dev/*", "--exclude=./var/cache/apt/archives/*.deb", "-cf", "-", "."])
        .output()
        .map_err(io(&root))?;
    let _ = std::fs::remove_dir_all(&root);
    if !out.status.success() {
        return Err(RootfsError::Io {
            path: root,
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()),
        });
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_debian_python_prefers_the_older_on_a_tie() {
        assert_eq!(suite_for(PythonVersion(3, 11)).name, "bookworm");
        assert_eq!(suite_for(PythonVersion(3, 12)).name, "bookworm");
        assert_eq!(suite_for(PythonVersion(3, 10)).name, "bullseye");
        assert_eq!(suite_for(PythonVersion(3, 8)).name, "bullseye");
        assert_eq!(suite_for(PythonVersion(3, 13)).name, "trixie");
    }
}
