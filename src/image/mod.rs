//! The `build` stage: three tiers of images per pinned instance, content-addressed.
//!
//! - base: Debian + Python X.Y + git + a venv ([`base`]);
//! - environment, per (repo, version, recipe): the repository at the version's environment commit
//!   with its dependencies installed, resolved as of the cut-off date;
//! - instance: the environment with the repository at `base_commit` (a thin layer), history up to
//!   `base_commit` only.
//!
//! Tags carry a hash of every input, so an unchanged input is never rebuilt. After each build the
//! image is checked (import, pytest collection of the touched test files, git integrity) in a
//! container without network; an image that fails its checks is untagged, so no tag ever names a
//! bad image.

pub mod base;
pub mod script;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::cancel::Cancel;
use crate::docker::{DockerError, Engine, RunSpec};
use crate::git::{History, Mirrors};
use crate::model::{RawInstance, RepoName};
use crate::progress::{set_total, Progress};
use crate::recipe::{recipe_label, short_hash, EnvSpec, PythonVersion, Recipe, RecipeBook, TestSelection};
use crate::store::{Check, ImageRecord, Store, StoreError, VersionRecord};
use crate::workspace::Workspace;

use base::BaseSource;

/// Dockerfile templates, embedded; `--dockerfiles DIR` overrides them file by file.
#[derive(Debug, Clone)]
pub struct Templates {
    pub base: String,
    pub env: String,
    pub instance: String,
    pub pip: String,
}

impl Templates {
    pub fn load(dir: Option<&Path>) -> Result<Self, BuildError> {
        let mut t = Self {
            base: include_str!("../../dockerfiles/base.Dockerfile").to_string(),
            env: include_str!("../../dockerfiles/env.Dockerfile").to_string(),
            instance: include_str!("../../dockerfiles/instance.Dockerfile").to_string(),
            pip: include_str!("../../dockerfiles/pip").to_string(),
        };
        if let Some(dir) = dir {
            for (name, slot) in [
                ("base.Dockerfile", &mut t.base),
                ("env.Dockerfile", &mut t.env),
                ("instance.Dockerfile", &mut t.instance),
                ("pip", &mut t.pip),
            ] {
                let p = dir.join(name);
                if p.exists() {
                    *slot = std::fs::read_to_string(&p).map_err(|source| BuildError::Io { path: p, source })?;
                }
            }
        }
        Ok(t)
    }
}

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub repos: Vec<String>,
    pub instances: Vec<String>,
    pub jobs: usize,
    pub force: bool,
    pub base: BaseSource,
    /// PEM bundle trusted inside every image (`None`: the image's own CAs only).
    pub ca_cert: Option<PathBuf>,
    pub debian_mirror: String,
    pub history: History,
    /// Build environments only, no instance images.
    pub envs_only: bool,
    /// Limit for each check container.
    pub check_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("cannot read the CA bundle {path} (from --ca-cert or SSL_CERT_FILE): {source}")]
    CaCert { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// One image the run dealt with.
#[derive(Debug, Clone, Serialize)]
pub struct ImageOutcome {
    pub tier: String,
    pub tag: String,
    /// `built`, `reused` or `failed`.
    pub state: String,
    pub repo: Option<String>,
    pub instance_id: Option<String>,
    pub seconds: f64,
    pub size_bytes: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildSummary {
    pub images: Vec<ImageOutcome>,
    pub built: u64,
    pub reused: u64,
    pub failed: u64,
    /// Instances left out because they have no version (see `pin`).
    pub unpinned: u64,
    pub seconds: f64,
    pub interrupted: bool,
}

impl BuildSummary {
    fn add(&mut self, o: ImageOutcome) {
        match o.state.as_str() {
            "built" => self.built += 1,
            "reused" => self.reused += 1,
            _ => self.failed += 1,
        }
        self.images.push(o);
    }
}

/// Tags and labels all start with this.
pub const LABEL_PREFIX: &str = "swegym";

struct Ctx<'a> {
    engine: Engine,
    ws: &'a Workspace,
    mirrors: Mirrors,
    templates: Templates,
    opts: &'a BuildOptions,
    ca: Vec<u8>,
    cancel: Cancel,
    progress: Progress,
    /// Tags recorded as built (and checked) before this run.
    built: std::collections::HashSet<String>,
    /// Base image per wanted Python: (tag, python used, source) or the error.
    bases: HashMap<PythonVersion, Result<(String, PythonVersion, String), String>>,
}

/// Builds every image the selected pinned instances need.
pub async fn build(
    store: &mut Store,
    ws: &Workspace,
    mirrors: &Mirrors,
    book: &RecipeBook,
    templates: Templates,
    opts: &BuildOptions,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<BuildSummary, BuildError> {
    let started = Instant::now();
    let engine = Engine::connect().await?;
    let ca = match &opts.ca_cert {
        Some(p) => std::fs::read(p).map_err(|source| BuildError::CaCert { path: p.clone(), source })?,
        None => Vec::new(),
    };
    let mut cx = Ctx {
        engine,
        ws,
        mirrors: mirrors.clone(),
        templates,
        opts,
        ca,
        cancel: cancel.clone(),
        progress: progress.clone(),
        built: store.images()?.into_iter().filter(|i| i.status == "built").map(|i| i.tag).collect(),
        bases: HashMap::new(),
    };
    let mut summary = BuildSummary::default();

    let pinned = store.pinned_versions()?;
    let selected: Vec<RawInstance> = store
        .instances(true)?
        .into_iter()
        .filter(|i| opts.repos.is_empty() || opts.repos.iter().any(|r| r.eq_ignore_ascii_case(&i.repo)))
        .filter(|i| opts.instances.is_empty() || opts.instances.contains(&i.instance_id))
        .collect();
    let mut by_env: BTreeMap<(String, String), Vec<RawInstance>> = BTreeMap::new();
    for i in selected {
        match pinned.get(&i.instance_id) {
            Some(v) => by_env.entry((i.repo.clone(), v.clone())).or_default().push(i),
            None => summary.unpinned += 1,
        }
    }
    let versions: HashMap<(String, String), VersionRecord> =
        store.versions()?.into_iter().map(|v| ((v.repo.clone(), v.version.clone()), v)).collect();

    let bar = progress.bar("build");
    let total = by_env.len() + if opts.envs_only { 0 } else { by_env.values().map(Vec::len).sum() };
    set_total(&bar, total as u64, "images");
    for ((repo, version), instances) in by_env {
        if cancel.is_cancelled() {
            summary.interrupted = true;
            break;
        }
        bar.set_message(format!("{repo} {version}"));
        let Some(v) = versions.get(&(repo.clone(), version.clone())) else {
            bar.inc(1 + instances.len() as u64);
            continue;
        };
        let recipe = match book.get(&repo) {
            Some(r) => Some(r.clone()),
            None => suggested_recipe(&cx.mirrors, &repo, &v.env_commit).await,
        };
        let env = match build_env(&mut cx, store, v, recipe.as_ref()).await {
            Ok(e) => e,
            Err(BuildError::Docker(DockerError::Interrupted)) => {
                summary.interrupted = true;
                break;
            }
            Err(e) => return Err(e),
        };
        bar.inc(1);
        let env_ok = env.outcome.state != "failed";
        summary.add(env.outcome.clone());
        if opts.envs_only {
            continue;
        }
        if !env_ok {
            bar.inc(instances.len() as u64);
            continue;
        }
        let (Some(recipe), Some(spec)) = (recipe, env.spec) else { continue };
        // Instances in parallel; results are written by this task alone (one writer).
        let jobs = opts.jobs.max(1);
        let cxr = &cx;
        let env_tag = env.outcome.tag.clone();
        let env_size = env.size;
        let mut stream = futures_util::stream::iter(instances.into_iter().map(|inst| {
            let recipe = &recipe;
            let spec = &spec;
            let env_tag = env_tag.clone();
            let v = v.clone();
            async move { build_instance(cxr, &inst, &v, recipe, spec, &env_tag, env_size).await }
        }))
        .buffer_unordered(jobs);
        while let Some(res) = stream.next().await {
            match res {
                Ok((outcome, record)) => {
                    if let Some(r) = record {
                        store.write_image(&r)?;
                    }
                    bar.inc(1);
                    summary.add(outcome);
                }
                Err(BuildError::Docker(DockerError::Interrupted)) => {
                    summary.interrupted = true;
                }
                Err(e) => return Err(e),
            }
        }
        if summary.interrupted {
            break;
        }
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// For a repository without a recipe: a suggested one, or `None` when even that fails.
pub async fn suggested_recipe(mirrors: &Mirrors, repo: &str, commit: &str) -> Option<Recipe> {
    let name: RepoName = repo.parse().ok()?;
    let mirrors = mirrors.clone();
    let commit = commit.to_string();
    tokio::task::spawn_blocking(move || {
        let mirror = mirrors.open(&name).ok()?;
        let text = crate::recipe::suggest::suggest(&mirror, &name, &commit).ok()?;
        Recipe::parse(&format!("suggested recipe for {name}"), &text, crate::recipe::RecipeSource::Suggested).ok()
    })
    .await
    .ok()
    .flatten()
}

struct EnvBuilt {
    outcome: ImageOutcome,
    spec: Option<EnvSpec>,
    size: u64,
}

fn failed(
    tier: &str,
    tag: &str,
    repo: Option<&str>,
    instance: Option<&str>,
    error: String,
    t: Instant,
) -> ImageOutcome {
    ImageOutcome {
        tier: tier.into(),
        tag: tag.into(),
        state: "failed".into(),
        repo: repo.map(str::to_string),
        instance_id: instance.map(str::to_string),
        seconds: t.elapsed().as_secs_f64(),
        size_bytes: None,
        error: Some(error),
    }
}

/// Docker repository names must be lowercase.
fn repo_component(repo: &str) -> String {
    repo.to_lowercase().replace('/', "__")
}

/// Builds (or finds) the environment image of one (repo, version).
async fn build_env(
    cx: &mut Ctx<'_>,
    store: &mut Store,
    v: &VersionRecord,
    recipe: Option<&Recipe>,
) -> Result<EnvBuilt, BuildError> {
    let t = Instant::now();
    let pending_tag = format!("{LABEL_PREFIX}/env.{}:{}", repo_component(&v.repo), v.version);
    let mut record = ImageRecord {
        tag: pending_tag.clone(),
        tier: "env".into(),
        repo: Some(v.repo.clone()),
        version: Some(v.version.clone()),
        instance_id: None,
        parent: None,
        python_wanted: Some(v.python.clone()),
        python_used: None,
        base_source: None,
        recipe: Some(recipe_label(recipe)),
        status: "failed".into(),
        image_id: None,
        size_bytes: None,
        checks: vec![],
        error: None,
        log_path: None,
        seconds: 0.0,
    };
    let fail = |store: &mut Store, mut record: ImageRecord, error: String| -> Result<EnvBuilt, BuildError> {
        record.error = Some(error.clone());
        record.seconds = t.elapsed().as_secs_f64();
        store.write_image(&record)?;
        Ok(EnvBuilt { outcome: failed("env", &record.tag, Some(&v.repo), None, error, t), spec: None, size: 0 })
    };
    let Some(recipe) = recipe else {
        return fail(
            store,
            record,
            format!(
                "no recipe for {} and none could be suggested; write recipes/{}.toml (see `swegym-build recipe suggest`)",
                v.repo,
                v.repo.replace('/', "__")
            ),
        );
    };
    let Some(spec) = recipe.env_for(&v.version).cloned() else {
        return fail(
            store,
            record,
            format!("the recipe for {} has no [[env]] whose `versions` contains {}", v.repo, v.version),
        );
    };
    let wanted = spec.python;
    let (base_tag, used, base_source) = match ensure_base(cx, store, wanted).await {
        Ok(b) => b,
        Err(BuildError::Docker(DockerError::Interrupted)) => return Err(DockerError::Interrupted.into()),
        Err(e) => return fail(store, record, format!("base image for Python {wanted}: {e}")),
    };
    record.python_used = Some(used.to_string());
    record.base_source = Some(base_source);
    record.parent = Some(base_tag.clone());

    let install = script::env_install(&spec);
    let dockerfile = script::render(
        &cx.templates.env,
        &[
            ("repo", v.repo.as_str()),
            ("version", v.version.as_str()),
            ("base", base_tag.as_str()),
            ("system_packages", &script::apt_line(&spec.system_packages)),
            ("env", &script::env_lines(&spec.env_vars)),
            ("cutoff", v.cutoff.as_str()),
        ],
    );
    let inputs = format!("{dockerfile}\n{install}\n{}\n{}\n{}", v.env_commit, cx.templates.pip, recipe.hash());
    let tag = format!("{LABEL_PREFIX}/env.{}:{}-{}", repo_component(&v.repo), v.version, short_hash(inputs.as_bytes()));
    record.tag = tag.clone();
    let labels = HashMap::from([
        (format!("{LABEL_PREFIX}.tier"), "env".to_string()),
        (format!("{LABEL_PREFIX}.repo"), v.repo.clone()),
        (format!("{LABEL_PREFIX}.version"), v.version.clone()),
        (format!("{LABEL_PREFIX}.env_commit"), v.env_commit.clone()),
        (format!("{LABEL_PREFIX}.cutoff"), v.cutoff.clone()),
        (format!("{LABEL_PREFIX}.python.wanted"), wanted.to_string()),
        (format!("{LABEL_PREFIX}.python.used"), used.to_string()),
        (format!("{LABEL_PREFIX}.recipe"), recipe_label(Some(recipe))),
        (format!("{LABEL_PREFIX}.recipe.hash"), recipe.hash()),
        (format!("{LABEL_PREFIX}.base"), base_tag.clone()),
    ]);
    let base_size = cx.engine.image(&base_tag).await?.map(|i| i.size).unwrap_or(0);
    if !cx.opts.force {
        if let (Some(img), Some(prev)) = (cx.engine.image(&tag).await?, store.image(&tag)?) {
            if prev.status == "built" {
                return Ok(EnvBuilt {
                    outcome: reused("env", &tag, Some(&v.repo), None, &prev),
                    spec: Some(spec),
                    size: img.size,
                });
            }
        }
    }
    let log = cx.ws.logs_dir().join("build").join(format!("{}.log", tag.replace(['/', ':'], "_")));
    record.log_path = Some(log.display().to_string());
    let repo_name: RepoName = match v.repo.parse() {
        Ok(r) => r,
        Err(e) => return fail(store, record, e.to_string()),
    };
    let files = vec![("swegym/install.sh".to_string(), install.into_bytes())];
    let dockerfile = with_labels(&dockerfile, &labels);
    let context = match make_context(cx, &repo_name, &v.env_commit, History::Shallow, dockerfile, files).await {
        Ok(c) => c,
        Err(e) => return fail(store, record, e),
    };
    cx.progress.println(&format!("building {tag} (log: {})", log.display()));
    match cx.engine.build(&tag, context, &HashMap::new(), &log, &cx.cancel).await {
        Ok(id) => record.image_id = Some(id),
        Err(DockerError::Interrupted) => return Err(DockerError::Interrupted.into()),
        Err(e) => return fail(store, record, format!("{e}\n  likely cause: {}", script::likely_cause(&log))),
    }
    let checks = run_checks(cx, &tag, &recipe.package, None).await?;
    record.checks = checks.clone();
    if let Some(bad) = checks.iter().find(|c| !c.ok) {
        cx.engine.remove_image(&tag).await?;
        let msg = format!("check `{}` failed: {}", bad.name, bad.detail);
        return fail(store, record, msg);
    }
    let size = cx.engine.image(&tag).await?.map(|i| i.size).unwrap_or(0);
    record.size_bytes = Some(size.saturating_sub(base_size));
    record.status = "built".into();
    record.seconds = t.elapsed().as_secs_f64();
    store.write_image(&record)?;
    Ok(EnvBuilt {
        outcome: ImageOutcome {
            tier: "env".into(),
            tag,
            state: "built".into(),
            repo: Some(v.repo.clone()),
            instance_id: None,
            seconds: record.seconds,
            size_bytes: record.size_bytes,
            error: None,
        },
        spec: Some(spec),
        size,
    })
}

fn reused(tier: &str, tag: &str, repo: Option<&str>, instance: Option<&str>, prev: &ImageRecord) -> ImageOutcome {
    ImageOutcome {
        tier: tier.into(),
        tag: tag.into(),
        state: "reused".into(),
        repo: repo.map(str::to_string),
        instance_id: instance.map(str::to_string),
        seconds: 0.0,
        size_bytes: prev.size_bytes,
        error: None,
    }
}

/// The Dockerfile with one `LABEL` instruction holding every label. (Labels passed to the build
/// API become one LABEL step each in the classic builder — a layer commit apiece, ~15 s each on
/// fuse-overlayfs.)
fn with_labels(dockerfile: &str, labels: &HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = labels.keys().collect();
    keys.sort();
    let pairs: Vec<String> =
        keys.iter().map(|k| format!("{k}=\"{}\"", labels[*k].replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{}\nLABEL {}\n", dockerfile.trim_end(), pairs.join(" \\\n      "))
}

/// A tar build context: `Dockerfile`, `testbed/` (the repository at `sha`) and extra files.
async fn make_context(
    cx: &Ctx<'_>,
    repo: &RepoName,
    sha: &str,
    history: History,
    dockerfile: String,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<u8>, String> {
    let mirrors = cx.mirrors.clone();
    let repo = repo.clone();
    let sha = sha.to_string();
    let work = cx.ws.root().join("tmp");
    let pip = cx.templates.pip.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let tmp = tempfile_dir(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let testbed = tmp.path().join("testbed");
        let mirror = mirrors.open(&repo).map_err(|e| e.to_string())?;
        mirror.snapshot(&sha, &testbed, history).map_err(|e| e.to_string())?;
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        let err = |e: std::io::Error| format!("cannot pack the build context: {e}");
        b.append_dir_all("testbed", &testbed).map_err(err)?;
        let mut all = files;
        all.push(("Dockerfile".into(), dockerfile.into_bytes()));
        all.push(("pip".into(), pip.into_bytes()));
        for (path, bytes) in all {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o755);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, &path, &bytes[..]).map_err(err)?;
        }
        b.into_inner().map_err(err)
    })
    .await
    .map_err(|e| format!("context task failed: {e}"))?
}

/// A temporary directory under `parent` (removed on drop).
fn tempfile_dir(parent: &Path) -> std::io::Result<TempDir> {
    for n in 0..1000u32 {
        let p = parent.join(format!("ctx-{}-{n}", std::process::id()));
        if std::fs::create_dir(&p).is_ok() {
            return Ok(TempDir(p));
        }
    }
    Err(std::io::Error::other("cannot create a temporary directory"))
}

struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The base image for `wanted`: (tag, Python it has, where it came from). Built once per run.
async fn ensure_base(
    cx: &mut Ctx<'_>,
    store: &mut Store,
    wanted: PythonVersion,
) -> Result<(String, PythonVersion, String), BuildError> {
    if let Some(hit) = cx.bases.get(&wanted) {
        return hit
            .clone()
            .map_err(|e| BuildError::Io { path: PathBuf::from("base"), source: std::io::Error::other(e) });
    }
    let r = make_base(cx, store, wanted).await;
    let stored = match &r {
        Ok(v) => Ok(v.clone()),
        Err(BuildError::Docker(DockerError::Interrupted)) => return r,
        Err(e) => Err(e.to_string()),
    };
    cx.bases.insert(wanted, stored);
    r
}

async fn make_base(
    cx: &mut Ctx<'_>,
    store: &mut Store,
    wanted: PythonVersion,
) -> Result<(String, PythonVersion, String), BuildError> {
    let t = Instant::now();
    // Registry path: `python:X.Y-slim` has the exact Python.
    let registry_image = format!("python:{wanted}-slim");
    let use_registry = match cx.opts.base {
        BaseSource::Registry => true,
        BaseSource::Debootstrap => false,
        BaseSource::Auto => cx.engine.image(&registry_image).await?.is_some(),
    };
    let (from, used, source, rootfs) = if use_registry {
        (format!("FROM {registry_image}"), wanted, format!("registry:{registry_image}"), None)
    } else {
        let suite = base::suite_for(wanted);
        ("FROM scratch\nADD rootfs.tar /".to_string(), suite.python, format!("debootstrap:{}", suite.name), Some(suite))
    };
    let prepare = if use_registry {
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends git patch ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/* &&"
    } else {
        ""
    };
    let dockerfile = script::render(
        &cx.templates.base,
        &[("from", from.as_str()), ("python", &used.to_string()), ("prepare", prepare)],
    );
    let inputs = format!("{dockerfile}\n{}\n{}\n{}", cx.templates.pip, base::PACKAGES.join(","), short_hash(&cx.ca));
    let tag =
        format!("{LABEL_PREFIX}/base:py{used}-{}-{}", source.replace([':', '/'], "-"), short_hash(inputs.as_bytes()));
    // Base images are reused even with --force (their inputs are all in the tag); remove one with
    // `docker rmi` to rebuild it.
    if let Some(img) = cx.engine.image(&tag).await? {
        // Built by another workspace on this engine: record it here too.
        if store.image(&tag)?.is_none() {
            store.write_image(&base_record(&tag, wanted, used, &source, img.id, Some(img.size), None, 0.0))?;
        }
        return Ok((tag, used, source));
    }
    let log = cx.ws.logs_dir().join("build").join(format!("{}.log", tag.replace(['/', ':'], "_")));
    let labels = HashMap::from([
        (format!("{LABEL_PREFIX}.tier"), "base".to_string()),
        (format!("{LABEL_PREFIX}.python"), used.to_string()),
        (format!("{LABEL_PREFIX}.source"), source.clone()),
    ]);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("Dockerfile".into(), with_labels(&dockerfile, &labels).into_bytes()),
        ("ca.crt".into(), cx.ca.clone()),
        ("pip".into(), cx.templates.pip.clone().into_bytes()),
    ];
    if let Some(suite) = rootfs {
        cx.progress.println(&format!(
            "making a Debian {} root filesystem for Python {used} with debootstrap (a minute or two; once per machine)",
            suite.name
        ));
        let work = cx.ws.root().join("tmp");
        let mirror = cx.opts.debian_mirror.clone();
        let dlog = cx.ws.logs_dir().join("build").join(format!("debootstrap-{}.log", suite.name));
        let tar = tokio::task::spawn_blocking(move || base::debootstrap_rootfs(suite.name, &mirror, &work, &dlog))
            .await
            .map_err(|e| BuildError::Io { path: PathBuf::from("debootstrap"), source: std::io::Error::other(e) })?
            .map_err(|e| BuildError::Io {
                path: PathBuf::from("debootstrap"),
                source: std::io::Error::other(e.to_string()),
            })?;
        files.push(("rootfs.tar".into(), tar));
    }
    let context = crate::docker::tar_files(&files).map_err(|source| BuildError::Io { path: log.clone(), source })?;
    cx.progress.println(&format!("building {tag}"));
    let id = cx.engine.build(&tag, context, &HashMap::new(), &log, &cx.cancel).await?;
    let size = cx.engine.image(&tag).await?.map(|i| i.size);
    let seconds = t.elapsed().as_secs_f64();
    store.write_image(&base_record(&tag, wanted, used, &source, id, size, Some(log.display().to_string()), seconds))?;
    Ok((tag, used, source))
}

#[allow(clippy::too_many_arguments)]
fn base_record(
    tag: &str,
    wanted: PythonVersion,
    used: PythonVersion,
    source: &str,
    id: String,
    size: Option<u64>,
    log: Option<String>,
    seconds: f64,
) -> ImageRecord {
    ImageRecord {
        tag: tag.to_string(),
        tier: "base".into(),
        repo: None,
        version: None,
        instance_id: None,
        parent: None,
        python_wanted: Some(wanted.to_string()),
        python_used: Some(used.to_string()),
        base_source: Some(source.to_string()),
        recipe: None,
        status: "built".into(),
        image_id: Some(id),
        size_bytes: size,
        checks: vec![],
        error: None,
        log_path: log,
        seconds,
    }
}

/// Builds (or finds) one instance image. Returns the outcome and the record to store.
async fn build_instance(
    cx: &Ctx<'_>,
    inst: &RawInstance,
    v: &VersionRecord,
    recipe: &Recipe,
    spec: &EnvSpec,
    env_tag: &str,
    env_size: u64,
) -> Result<(ImageOutcome, Option<ImageRecord>), BuildError> {
    let t = Instant::now();
    let install = script::instance_install(spec);
    let dockerfile =
        script::render(&cx.templates.instance, &[("instance_id", inst.instance_id.as_str()), ("env_image", env_tag)]);
    let history = match cx.opts.history {
        History::Full => "full",
        History::Shallow => "shallow",
    };
    let inputs = format!("{dockerfile}\n{install}\n{}\n{history}", inst.base_commit);
    let tag = format!("{LABEL_PREFIX}/eval.{}:{}", inst.instance_id.to_lowercase(), short_hash(inputs.as_bytes()));
    let mut record = ImageRecord {
        tag: tag.clone(),
        tier: "instance".into(),
        repo: Some(inst.repo.clone()),
        version: Some(v.version.clone()),
        instance_id: Some(inst.instance_id.clone()),
        parent: Some(env_tag.to_string()),
        python_wanted: Some(v.python.clone()),
        python_used: None,
        base_source: None,
        recipe: Some(recipe_label(Some(recipe))),
        status: "failed".into(),
        image_id: None,
        size_bytes: None,
        checks: vec![],
        error: None,
        log_path: None,
        seconds: 0.0,
    };
    let id = inst.instance_id.as_str();
    let fail = |mut record: ImageRecord, error: String| -> Result<(ImageOutcome, Option<ImageRecord>), BuildError> {
        record.error = Some(error.clone());
        record.seconds = t.elapsed().as_secs_f64();
        Ok((failed("instance", &tag, Some(&inst.repo), Some(id), error, t), Some(record)))
    };
    if !cx.opts.force {
        // Reused only when it passed its checks (recorded) and the engine still has it.
        if cx.built.contains(&tag) {
            if let Some(img) = cx.engine.image(&tag).await? {
                let prev = ImageRecord { size_bytes: Some(img.size.saturating_sub(env_size)), ..record.clone() };
                return Ok((reused("instance", &tag, Some(&inst.repo), Some(id), &prev), None));
            }
        }
    }
    let log = cx.ws.logs_dir().join("build").join(format!("{}.log", tag.replace(['/', ':'], "_")));
    record.log_path = Some(log.display().to_string());
    let repo: RepoName = match inst.repo.parse() {
        Ok(r) => r,
        Err(e) => return fail(record, e.to_string()),
    };
    let labels = HashMap::from([
        (format!("{LABEL_PREFIX}.tier"), "instance".to_string()),
        (format!("{LABEL_PREFIX}.repo"), inst.repo.clone()),
        (format!("{LABEL_PREFIX}.instance_id"), inst.instance_id.clone()),
        (format!("{LABEL_PREFIX}.base_commit"), inst.base_commit.clone()),
        (format!("{LABEL_PREFIX}.env"), env_tag.to_string()),
        (format!("{LABEL_PREFIX}.history"), history.to_string()),
    ]);
    let files = vec![("swegym/install.sh".to_string(), install.into_bytes())];
    let dockerfile = with_labels(&dockerfile, &labels);
    let context = match make_context(cx, &repo, &inst.base_commit, cx.opts.history, dockerfile, files).await {
        Ok(c) => c,
        Err(e) => return fail(record, e),
    };
    match cx.engine.build(&tag, context, &HashMap::new(), &log, &cx.cancel).await {
        Ok(image_id) => record.image_id = Some(image_id),
        Err(DockerError::Interrupted) => return Err(DockerError::Interrupted.into()),
        Err(e) => return fail(record, format!("{e}\n  likely cause: {}", script::likely_cause(&log))),
    }
    let checks = match run_checks(cx, &tag, &recipe.package, Some((inst, spec))).await {
        Ok(c) => c,
        Err(e) => {
            cx.engine.remove_image(&tag).await?;
            return Err(e);
        }
    };
    record.checks = checks.clone();
    if let Some(bad) = checks.iter().find(|c| !c.ok) {
        cx.engine.remove_image(&tag).await?;
        let msg = format!("check `{}` failed: {}", bad.name, bad.detail);
        return fail(record, msg);
    }
    let size = cx.engine.image(&tag).await?.map(|i| i.size).unwrap_or(0);
    record.size_bytes = Some(size.saturating_sub(env_size));
    record.python_used = None;
    record.status = "built".into();
    record.seconds = t.elapsed().as_secs_f64();
    let outcome = ImageOutcome {
        tier: "instance".into(),
        tag: tag.clone(),
        state: "built".into(),
        repo: Some(inst.repo.clone()),
        instance_id: Some(inst.instance_id.clone()),
        seconds: record.seconds,
        size_bytes: record.size_bytes,
        error: None,
    };
    Ok((outcome, Some(record)))
}

/// Runs the checks in one container without network: import always; for instance images also
/// git integrity and pytest collection of the touched test files (after applying `test_patch`).
async fn run_checks(
    cx: &Ctx<'_>,
    tag: &str,
    package: &str,
    instance: Option<(&RawInstance, &EnvSpec)>,
) -> Result<Vec<Check>, BuildError> {
    let plan = script::checks(package, instance.map(|(i, s)| (i, s.test_selection == TestSelection::Files)));
    let mut spec = RunSpec::new(tag, &plan.script);
    spec.timeout = cx.opts.check_timeout;
    spec.workdir = Some("/testbed".into());
    spec.files = plan.files;
    spec.collect = plan.collect;
    let out = cx.engine.run(&spec, &cx.cancel).await?;
    Ok(script::parse_checks(&plan.names, &out))
}
