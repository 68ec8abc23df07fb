//! The worker image of `--executor swarm`: a Debian base image made by the same machinery as every
//! other base, with this very `swegym-build` binary copied in, so a cluster needs nothing installed
//! beyond Docker. Built on the manager's engine and pushed to the registry; its tag hashes the
//! binary and the base, so a new binary means a new worker image.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::base::{ensure_base, BaseSource};
use super::{log_path, BuildError, BuildOptions, Ctx, LABEL_PREFIX};
use crate::context::Context;
use crate::docker::swarm::RegistryLogin;
use crate::docker::Engine;
use crate::executor::{Executor, Registry};
use crate::recipe::{short_hash, PythonVersion};

/// Where the binary goes in the image.
pub const WORKER_BINARY: &str = "/usr/local/bin/swegym-build";

/// Makes sure `registry` has the worker image of `binary` (a `swegym-build` executable: the
/// running one, for the command line); returns its local tag.
pub async fn ensure_worker_image(
    context: &mut Context,
    opts: &BuildOptions,
    registry: &Registry,
    login: Option<&RegistryLogin>,
    binary: &Path,
) -> Result<String, BuildError> {
    let binary = std::fs::read(binary).map_err(|source| BuildError::Io { path: binary.to_path_buf(), source })?;
    let manager = Engine::connect().await?;
    // The base only needs to run the binary: Debian's Python of the default suite will do, and
    // `auto` would look for a registry image first.
    let mut opts = opts.clone();
    if opts.base == BaseSource::Auto || opts.base == BaseSource::Uv {
        opts.base = BaseSource::Debootstrap;
    }
    let ca = opts.ca_bundle()?;
    let Context { store, workspace: ws, mirrors, progress, cancel, .. } = context;
    let label = crate::context::workspace_label(ws);
    let mut cx = Ctx {
        executor: Executor::Local(manager.clone()),
        ws,
        mirrors,
        opts: &opts,
        ca,
        cancel,
        progress,
        bases: HashMap::new(),
        label,
    };
    let base_plan =
        super::base::plan(&opts.templates, PythonVersion(3, 11), &super::base::BaseKind::Debootstrap, &cx.ca)?;
    let tag = format!(
        "{LABEL_PREFIX}/worker:{}",
        short_hash(format!("{}\n{}", short_hash(&binary), base_plan.image.tag).as_bytes())
    );
    let name = registry.name(&tag);
    if manager.registry_has(&name, login).await? {
        return Ok(tag);
    }
    if manager.image(&tag).await?.is_none() {
        let base = ensure_base(&mut cx, store, PythonVersion(3, 11)).await?;
        let dockerfile = format!(
            "FROM {}\nCOPY swegym-build {WORKER_BINARY}\nLABEL {LABEL_PREFIX}.tier=worker\nCMD [\"swegym-build\", \"worker\"]\n",
            base.tag
        );
        let program = without_debug_info(&binary, &cx.ws.root().join("tmp")).unwrap_or(binary);
        let files = vec![("Dockerfile".to_string(), dockerfile.into_bytes()), ("swegym-build".to_string(), program)];
        let archive = crate::docker::tar_files_mode(&files, 0o755)
            .map_err(|source| BuildError::Io { path: PathBuf::from("worker context"), source })?;
        let log = log_path(cx.ws, &tag);
        cx.progress.println(&format!("building the worker image {tag} (log: {})", log.display()));
        manager.build(&tag, archive, &HashMap::new(), &log, cx.cancel).await?;
    }
    let (repo, t) = crate::docker::swarm::split_tag(&name);
    manager.tag(&tag, repo, t).await?;
    cx.progress.println(&format!("pushing {name}"));
    manager.push(&name, login).await?;
    Ok(tag)
}

/// `binary` without its debug information (`strip --strip-debug`), when `strip` is there: a dev
/// build is ~10x smaller so, and every node pulls it. `None` leaves the binary as it is.
fn without_debug_info(binary: &[u8], work: &Path) -> Option<Vec<u8>> {
    std::fs::create_dir_all(work).ok()?;
    let dir = tempfile::tempdir_in(work).ok()?;
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::write(&input, binary).ok()?;
    let status = std::process::Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| std::fs::read(&output).ok()).flatten()
}
