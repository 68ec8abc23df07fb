//! Base images: Debian + a Python + git + a venv. From `python:X.Y-slim` where a registry answers,
//! else built here from Debian's packages: a debootstrap root filesystem added to `FROM scratch`
//! through the Engine API, with the Python that Debian release ships.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::docker::DockerError;
use crate::recipe::{short_hash, PythonVersion};
use crate::store::{BuildStatus, ImageRecord, ImageTier, Store};

use super::context::with_labels;
use super::template::{BaseVars, TemplateError, Templates};
use super::{log_path, BuildError, Ctx, LABEL_PREFIX};

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
    /// The exact Python, installed by `uv python install` on a Debian root filesystem made with
    /// debootstrap (needs python-build-standalone's downloads, or a mirror of them:
    /// `--python-mirror`, env `UV_PYTHON_INSTALL_MIRROR`).
    Uv,
}

/// How one base image is made (`--base auto` resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseKind {
    /// `python:X.Y-slim`.
    Registry,
    /// Debian's own Python (the nearest release's).
    Debootstrap,
    /// Debian root filesystem + the exact Python from uv, from `mirror` when one is given.
    Uv { mirror: Option<String> },
}

/// Rejects a Python download mirror that carries credentials: the URL is part of the base image's
/// build instructions (visible in `docker history`), so a secret in it would end up in a layer.
pub fn check_python_mirror(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "--python-mirror {url:?} is not a URL (e.g. https://mirror.example/python-build-standalone)"
        ));
    };
    if !matches!(scheme, "http" | "https" | "file") {
        return Err(format!("--python-mirror {url:?}: only http, https and file URLs are supported"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(
            "--python-mirror must not carry credentials (they would be recorded in the base image's history): \
             give the mirror without `user:password@` and let it allow this machine instead"
                .to_string(),
        );
    }
    Ok(())
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

/// A base image environments can be built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub tag: String,
    /// The Python it has (a debootstrap base has its Debian release's).
    pub python: PythonVersion,
    /// `registry:<image>` or `debootstrap:<suite>`.
    pub source: String,
}

/// A base image before it is built: its tag and Dockerfile follow from its inputs alone.
#[derive(Debug, Clone)]
pub struct BasePlan {
    pub image: BaseImage,
    /// With its labels.
    pub dockerfile: String,
    /// The Debian release to make a root filesystem of; `None` for a registry base.
    pub suite: Option<Suite>,
}

/// The base image for `wanted`, from `python:X.Y-slim` or from Debian's packages. The tag hashes
/// the rendered Dockerfile, the `pip` shim, the Debian packages and the CA bundle.
pub fn plan(
    templates: &Templates,
    wanted: PythonVersion,
    kind: &BaseKind,
    ca: &[u8],
) -> Result<BasePlan, TemplateError> {
    let (vars, source, suite, python) = match kind {
        BaseKind::Registry => {
            let image = format!("python:{wanted}-slim");
            let source = format!("registry:{image}");
            (
                BaseVars { python: wanted.to_string(), registry_image: Some(image), ..BaseVars::default() },
                source,
                None,
                wanted,
            )
        }
        BaseKind::Debootstrap => {
            let suite = suite_for(wanted);
            let source = format!("debootstrap:{}", suite.name);
            (BaseVars { python: suite.python.to_string(), ..BaseVars::default() }, source, Some(suite), suite.python)
        }
        BaseKind::Uv { mirror } => {
            // Any suite will do: its Python only runs uv. Bookworm's is the middle one.
            let suite = suite_for(PythonVersion(3, 11));
            let source = format!("uv:{}", suite.name);
            let vars = BaseVars {
                python: wanted.to_string(),
                uv_python: Some(wanted.to_string()),
                python_mirror: mirror.clone(),
                ..BaseVars::default()
            };
            (vars, source, Some(suite), wanted)
        }
    };
    let dockerfile = templates.render(&vars)?;
    let inputs = format!(
        "{dockerfile}\n{}\n{}\n{}\n{}",
        templates.pip,
        templates.conda_activate,
        PACKAGES.join(","),
        short_hash(ca)
    );
    let tag =
        format!("{LABEL_PREFIX}/base:py{python}-{}-{}", source.replace([':', '/'], "-"), short_hash(inputs.as_bytes()));
    let labels = BTreeMap::from([
        (format!("{LABEL_PREFIX}.tier"), ImageTier::Base.to_string()),
        (format!("{LABEL_PREFIX}.python"), python.to_string()),
        (format!("{LABEL_PREFIX}.source"), source.clone()),
    ]);
    Ok(BasePlan { image: BaseImage { tag, python, source }, dockerfile: with_labels(&dockerfile, &labels), suite })
}

/// The base image for `wanted`. Made (or found) once per run; a failure is remembered too.
pub(super) async fn ensure_base(
    cx: &mut Ctx<'_>,
    store: &mut Store,
    wanted: PythonVersion,
) -> Result<BaseImage, BuildError> {
    if let Some(hit) = cx.bases.get(&wanted) {
        return hit
            .clone()
            .map_err(|e| BuildError::Io { path: PathBuf::from("base"), source: std::io::Error::other(e) });
    }
    let r = make_base(cx, store, wanted).await;
    let remembered = match &r {
        Ok(b) => Ok(b.clone()),
        Err(BuildError::Docker(DockerError::Interrupted)) => return r,
        Err(e) => Err(e.to_string()),
    };
    cx.bases.insert(wanted, remembered);
    r
}

async fn make_base(cx: &mut Ctx<'_>, store: &mut Store, wanted: PythonVersion) -> Result<BaseImage, BuildError> {
    let t = Instant::now();
    let kind = match cx.opts.base {
        BaseSource::Registry => BaseKind::Registry,
        BaseSource::Debootstrap => BaseKind::Debootstrap,
        BaseSource::Uv => BaseKind::Uv { mirror: cx.opts.python_mirror.clone() },
        BaseSource::Auto if cx.executor.engine().image(&format!("python:{wanted}-slim")).await?.is_some() => {
            BaseKind::Registry
        }
        BaseSource::Auto => BaseKind::Debootstrap,
    };
    let plan = plan(&cx.opts.templates, wanted, &kind, &cx.ca)?;
    let image = plan.image;
    let record = ImageRecord {
        python_wanted: Some(wanted.to_string()),
        python_used: Some(image.python.to_string()),
        base_source: Some(image.source.clone()),
        status: BuildStatus::Built,
        ..ImageRecord::new(&image.tag, ImageTier::Base)
    };
    // Base images are reused even with --force (their inputs are all in the tag); remove one with
    // `docker rmi` to rebuild it.
    if let Some(img) = cx.executor.engine().image(&image.tag).await? {
        // Built by another workspace on this engine: record it here too.
        if store.image(&image.tag)?.is_none() {
            store.write_image(&ImageRecord { image_id: Some(img.id), size_bytes: Some(img.size), ..record })?;
        }
        if !cx.executor.has_image(&image.tag).await? {
            cx.executor.publish(&image.tag).await?;
        }
        return Ok(image);
    }
    let log = log_path(cx.ws, &image.tag);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("Dockerfile".into(), plan.dockerfile.into_bytes()),
        ("ca.crt".into(), cx.ca.clone()),
        ("pip".into(), cx.opts.templates.pip.clone().into_bytes()),
        ("conda-activate".into(), cx.opts.templates.conda_activate.clone().into_bytes()),
    ];
    if let Some(suite) = plan.suite {
        cx.progress.println(&format!(
            "making a Debian {} root filesystem for Python {} with debootstrap (a minute or two; once per machine)",
            suite.name, image.python
        ));
        let work = cx.ws.root().join("tmp");
        let mirror = cx.opts.debian_mirror.clone();
        let dlog = cx.ws.logs_dir().join("build").join(format!("debootstrap-{}.log", suite.name));
        let tar = tokio::task::spawn_blocking(move || debootstrap_rootfs(suite.name, &mirror, &work, &dlog))
            .await
            .map_err(|e| BuildError::Io { path: PathBuf::from("debootstrap"), source: std::io::Error::other(e) })?
            .map_err(|e| BuildError::Io {
                path: PathBuf::from("debootstrap"),
                source: std::io::Error::other(e.to_string()),
            })?;
        files.push(("rootfs.tar".into(), tar));
    }
    let context = crate::docker::tar_files(&files).map_err(|source| BuildError::Io { path: log.clone(), source })?;
    cx.progress.println(&format!("building {}", image.tag));
    let engine = cx.executor.engine();
    let id = engine.build(&image.tag, context, &Default::default(), &log, cx.cancel).await?;
    let size = engine.image(&image.tag).await?.map(|i| i.size);
    // Swarm: workers pull it from the registry.
    cx.executor.publish(&image.tag).await?;
    store.write_image(&ImageRecord {
        image_id: Some(id),
        size_bytes: size,
        log_path: Some(log.display().to_string()),
        seconds: t.elapsed().as_secs_f64(),
        ..record
    })?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uv_bases_have_the_exact_python_and_their_own_tags() {
        let t = Templates::load(None).unwrap();
        let wanted = PythonVersion(3, 8);
        let deb = plan(&t, wanted, &BaseKind::Debootstrap, b"ca").unwrap();
        let uv = plan(&t, wanted, &BaseKind::Uv { mirror: None }, b"ca").unwrap();
        let mirrored = plan(&t, wanted, &BaseKind::Uv { mirror: Some("https://m.example/pbs".into()) }, b"ca").unwrap();
        assert_eq!(deb.image.python, PythonVersion(3, 9), "Debian has 3.9 for 3.8");
        assert_eq!((uv.image.python, uv.image.source.as_str()), (wanted, "uv:bookworm"));
        assert!(uv.image.tag.starts_with("swegym/base:py3.8-uv-bookworm-"), "{}", uv.image.tag);
        assert_ne!(uv.image.tag, mirrored.image.tag);
        assert_eq!(uv.suite.map(|s| s.name), Some("bookworm"), "a root filesystem to run uv in");
    }

    #[test]
    fn python_mirrors_with_credentials_are_refused() {
        assert!(check_python_mirror("https://mirror.example/pbs").is_ok());
        assert!(check_python_mirror("file:///srv/pbs").is_ok());
        let e = check_python_mirror("https://me:secret@mirror.example/pbs").unwrap_err();
        assert!(e.contains("credentials") && !e.contains("secret"), "{e}");
        assert!(check_python_mirror("mirror.example").unwrap_err().contains("not a URL"));
        assert!(check_python_mirror("ftp://mirror.example").is_err());
    }

    #[test]
    fn nearest_debian_python_prefers_the_older_on_a_tie() {
        assert_eq!(suite_for(PythonVersion(3, 11)).name, "bookworm");
        assert_eq!(suite_for(PythonVersion(3, 12)).name, "bookworm");
        assert_eq!(suite_for(PythonVersion(3, 10)).name, "bullseye");
        assert_eq!(suite_for(PythonVersion(3, 8)).name, "bullseye");
        assert_eq!(suite_for(PythonVersion(3, 13)).name, "trixie");
    }
}
