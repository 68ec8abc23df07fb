//! The `build` stage: three tiers of images per pinned instance, content-addressed.
//!
//! - base: Debian + Python X.Y + git + a venv ([`base`]);
//! - environment, per (repo, version, recipe): the repository at the version's environment commit
//!   with its dependencies installed, resolved as of the cut-off date ([`env`]);
//! - instance: the environment with the repository at `base_commit` (a thin layer), history up to
//!   `base_commit` only ([`instance`]).
//!
//! Tags carry a hash of every input, so an unchanged input is never rebuilt. After each build the
//! image is checked (import, pytest collection of the touched test files, git integrity) in a
//! container without network; an image that fails its checks is untagged, so no tag ever names a
//! bad image. Each image's record keeps the recipe environment it was built with: `validate`
//! reads it from the store rather than from the recipes.

pub mod base;
mod context;
pub mod env;
pub mod instance;
pub mod job;
pub mod script;
pub mod template;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cancel::Cancel;
use crate::context::Context;
use crate::docker::{DockerError, ImageInfo, RunSpec};
use crate::executor::Executor;
use crate::git::{History, Mirrors};
use crate::model::{RawInstance, RepoName};
use crate::progress::{set_total, Progress};
use crate::recipe::{EnvSpec, PythonVersion, Recipe, RecipeSource, TestSelection};
use crate::store::{BuildStatus, ImageRecord, ImageTier, InstanceFilter, StoreError, VersionRecord};
use crate::workspace::Workspace;

use base::{BaseImage, BaseSource};
pub use job::{HowBuilt, ImageJob};
pub use template::{TemplateError, Templates};

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub filter: InstanceFilter,
    pub templates: Templates,
    pub jobs: usize,
    pub force: bool,
    pub base: BaseSource,
    /// PEM bundle trusted inside every image (`None`: the image's own CAs only).
    pub ca_cert: Option<PathBuf>,
    pub debian_mirror: String,
    /// Where `--base uv` downloads Pythons from (`UV_PYTHON_INSTALL_MIRROR`); `None`: uv's default.
    pub python_mirror: Option<String>,
    pub history: History,
    /// Build environments only, no instance images.
    pub envs_only: bool,
    /// Limit for each check container.
    pub check_timeout: Duration,
    /// Also tag each instance image `sweb.eval.x86_64.<instance id>:latest`, as SWE-bench's
    /// harness names them.
    pub swebench_tags: bool,
    /// Keep images whose installs fell back to resolving without the cut-off date (the `dated`
    /// check then passes and says so) instead of failing them.
    pub allow_undated: bool,
}

impl BuildOptions {
    /// `build`'s defaults for every instance (a debootstrap base, the CA bundle of
    /// `SSL_CERT_FILE`): what commands that build only the worker image use, so its base is the
    /// one builds make.
    pub fn defaults() -> Result<Self, TemplateError> {
        Ok(Self {
            filter: InstanceFilter::default(),
            templates: Templates::load(None)?,
            jobs: 1,
            force: false,
            base: BaseSource::Debootstrap,
            ca_cert: std::env::var_os("SSL_CERT_FILE").map(PathBuf::from),
            debian_mirror: "http://deb.debian.org/debian".into(),
            python_mirror: None,
            history: History::Full,
            envs_only: false,
            check_timeout: Duration::from_secs(600),
            swebench_tags: false,
            allow_undated: false,
        })
    }

    /// The bytes of `ca_cert` (empty without one): trusted inside every image, hashed into base tags.
    pub fn ca_bundle(&self) -> Result<Vec<u8>, BuildError> {
        match &self.ca_cert {
            Some(p) => std::fs::read(p).map_err(|source| BuildError::CaCert { path: p.clone(), source }),
            None => Ok(Vec::new()),
        }
    }
}

/// SWE-bench's local name for an instance's image (`sweb.eval.x86_64.<id, lowercase>`, `latest`).
pub fn swebench_tag(instance_id: &str) -> (String, &'static str) {
    (format!("sweb.eval.x86_64.{}", instance_id.to_lowercase()), "latest")
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("cannot read the CA bundle {path} (from --ca-cert or SSL_CERT_FILE): {source}")]
    CaCert { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// What this run did with an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::AsRefStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ImageState {
    Built,
    /// Its inputs were unchanged and the engine still had it.
    Reused,
    Failed,
}

/// One image the run dealt with.
#[derive(Debug, Clone, Serialize)]
pub struct ImageOutcome {
    pub tier: ImageTier,
    pub tag: String,
    pub state: ImageState,
    pub repo: Option<String>,
    pub instance_id: Option<String>,
    pub seconds: f64,
    pub size_bytes: Option<u64>,
    pub error: Option<String>,
}

impl ImageOutcome {
    /// The outcome `record` stands for; a reused image took no time in this run.
    fn new(record: &ImageRecord, state: ImageState) -> Self {
        Self {
            tier: record.tier,
            tag: record.tag.clone(),
            state,
            repo: record.repo.clone(),
            instance_id: record.instance_id.clone(),
            seconds: if state == ImageState::Reused { 0.0 } else { record.seconds },
            size_bytes: record.size_bytes,
            error: record.error.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildSummary {
    pub images: Vec<ImageOutcome>,
    pub built: u64,
    pub reused: u64,
    pub failed: u64,
    /// Instances left out because they have no version (see `pin`).
    pub unpinned: u64,
    /// Instances not built because their environment image failed (see its entry in `images`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
    pub seconds: f64,
    pub interrupted: bool,
}

impl BuildSummary {
    fn add(&mut self, o: ImageOutcome) {
        match o.state {
            ImageState::Built => self.built += 1,
            ImageState::Reused => self.reused += 1,
            ImageState::Failed => self.failed += 1,
        }
        self.images.push(o);
    }
}

/// Tags and labels all start with this.
pub const LABEL_PREFIX: &str = "swegym";

/// How long after the environment commit's date dependencies may have been uploaded. A release
/// commit's own extras often pin a sibling package of the same version (dask's
/// `distributed==<version>`), uploaded minutes after the commit: a cut-off at the commit itself
/// excludes it and resolution fails. One day is fixed, so a rebuild resolves the same way.
pub const CUTOFF_GRACE_HOURS: i64 = 24;

/// The date installs resolve as of: the cut-off plus [`CUTOFF_GRACE_HOURS`], in the stored form
/// (`YYYY-MM-DDTHH:MM:SSZ`). A cut-off that is not such a time is used as it is.
pub fn resolution_date(cutoff: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(cutoff) {
        Ok(t) => (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(CUTOFF_GRACE_HOURS))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        Err(_) => cutoff.to_string(),
    }
}

/// What every tier's build needs, for one run.
struct Ctx<'a> {
    /// Where builds run; base images are made on its engine and published from there.
    executor: Executor,
    ws: &'a Workspace,
    mirrors: &'a Mirrors,
    opts: &'a BuildOptions,
    ca: Vec<u8>,
    cancel: &'a Cancel,
    progress: &'a Progress,
    /// Base image per wanted Python, or why it could not be had: made once per run.
    bases: HashMap<PythonVersion, Result<BaseImage, String>>,
    /// The workspace's label, on every build and check container (a killed run's are swept).
    label: (String, String),
}

/// Builds every image the selected pinned instances need.
pub async fn build(context: &mut Context, opts: &BuildOptions) -> Result<BuildSummary, BuildError> {
    let executor = context.executor().await?;
    let Context { store, workspace: ws, mirrors, recipes: book, progress, cancel, .. } = context;
    let started = Instant::now();
    let ca = opts.ca_bundle()?;
    let label = crate::context::workspace_label(ws);
    // We hold the workspace lock: a container (or swarm service) of this workspace is a killed
    // run's.
    let swept = executor.sweep(&label).await?;
    if swept > 0 {
        progress.println(&format!("removed {swept} containers or services left by a killed run"));
    }
    let mut cx = Ctx { executor, ws, mirrors, opts, ca, cancel, progress, bases: HashMap::new(), label };
    let mut summary = BuildSummary::default();

    let queue = store.build_targets(&opts.filter)?;
    summary.unpinned = queue.unpinned;
    let mut by_env: BTreeMap<(String, String), (VersionRecord, Vec<RawInstance>)> = BTreeMap::new();
    for t in queue.targets {
        let key = (t.version.repo.clone(), t.version.version.clone());
        by_env.entry(key).or_insert_with(|| (t.version, Vec::new())).1.push(t.instance);
    }

    let bar = progress.bar("build");
    let total = by_env.len() + if opts.envs_only { 0 } else { by_env.values().map(|(_, i)| i.len()).sum() };
    set_total(&bar, total as u64, "images");
    for ((repo, version), (v, instances)) in by_env {
        if cancel.is_cancelled() {
            summary.interrupted = true;
            break;
        }
        bar.set_message(format!("{repo} {version}"));
        let recipe = match book.get(&repo) {
            Some(r) => Some(r.clone()),
            None => suggested_recipe(mirrors, &repo, &v.env_commit).await,
        };
        let (outcome, env_image) = match env::build_env(&mut cx, store, &v, recipe).await {
            Ok(e) => e,
            Err(BuildError::Docker(DockerError::Interrupted)) => {
                summary.interrupted = true;
                break;
            }
            Err(e) => return Err(e),
        };
        bar.inc(1);
        summary.add(outcome);
        if opts.envs_only {
            continue;
        }
        let Some(env_image) = env_image else {
            bar.inc(instances.len() as u64);
            summary.blocked.extend(instances.into_iter().map(|i| i.instance_id));
            continue;
        };
        instance::build_instances(&cx, store, &v, &env_image, instances, &bar, &mut summary).await?;
        if summary.interrupted {
            break;
        }
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// For a repository without a recipe: a suggested one, or `None` when even that fails.
async fn suggested_recipe(mirrors: &Mirrors, repo: &str, commit: &str) -> Option<Recipe> {
    let name: RepoName = repo.parse().ok()?;
    let mirrors = mirrors.clone();
    let commit = commit.to_string();
    tokio::task::spawn_blocking(move || {
        let mirror = mirrors.open(&name).ok()?;
        let text = crate::recipe::suggest::suggest(&mirror, &name, &commit).ok()?;
        Recipe::parse(&format!("suggested recipe for {name}"), &text, RecipeSource::Suggested).ok()
    })
    .await
    .ok()
    .flatten()
}

/// Docker repository names must be lowercase.
fn repo_component(repo: &str) -> String {
    repo.to_lowercase().replace('/', "__")
}

/// Where the build log of `tag` goes.
fn log_path(ws: &Workspace, tag: &str) -> PathBuf {
    ws.logs_dir().join("build").join(format!("{}.log", tag.replace(['/', ':'], "_")))
}

/// Why a build or its checks failed.
type Failure = String;

/// Builds `record.tag` (where the executor runs builds), checks it, and completes `record` (image
/// id, checks, bytes over its parent, status); the build log is written to `log`. `Ok(Err(_))` is
/// a failed image, recorded as such; `Err(_)` stops the run. An image that fails or cannot be
/// checked is left untagged.
async fn build_and_check(
    cx: &Ctx<'_>,
    record: &mut ImageRecord,
    how: HowBuilt,
    log: &Path,
    package: &str,
    instance: Option<(&RawInstance, &EnvSpec)>,
) -> Result<Result<(), Failure>, BuildError> {
    let by_files = instance.map(|(i, s)| (i, s.test_selection == TestSelection::Files));
    let plan = script::checks(package, by_files, cx.opts.allow_undated);
    let mut checks = RunSpec::new(&record.tag, &plan.script);
    checks.timeout = cx.opts.check_timeout;
    checks.workdir = Some("/testbed".into());
    checks.files = plan.files;
    checks.collect = plan.collect;
    checks.labels = vec![cx.label.clone()];
    let job = ImageJob { tag: record.tag.clone(), parent: record.parent.clone(), how, checks, check_names: plan.names };
    let out = cx.executor.execute(job, cx.cancel).await?;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|source| BuildError::Io { path: dir.to_path_buf(), source })?;
    }
    std::fs::write(log, &out.log).map_err(|source| BuildError::Io { path: log.to_path_buf(), source })?;
    record.image_id = out.image_id;
    record.checks = out.checks;
    if let Some(failure) = out.failure {
        // Name the log where it is now, not where the job ran.
        return Ok(Err(failure.replace(&out.log_path, &log.display().to_string())));
    }
    record.size_bytes = Some(out.size_bytes);
    record.status = BuildStatus::Built;
    Ok(Ok(()))
}

/// The image `tag` if it can be used as it is: in the engine (local), or in the registry (swarm:
/// the registry knows no size or labels, so those are left empty).
async fn existing(cx: &Ctx<'_>, tag: &str) -> Result<Option<ImageInfo>, BuildError> {
    match &cx.executor {
        Executor::Local(engine) => Ok(engine.image(tag).await?),
        swarm => Ok(swarm.has_image(tag).await?.then(|| ImageInfo {
            id: String::new(),
            tags: vec![tag.to_string()],
            size: 0,
            labels: HashMap::new(),
        })),
    }
}

#[cfg(test)]
mod tests {
    //! Tags: the same inputs give the same tag, and any one input changed gives another, through
    //! all three tiers (a new base means new environments, a new environment new instances).

    use super::*;

    #[test]
    fn installs_resolve_a_day_after_the_cut_off() {
        assert_eq!(resolution_date("2021-02-05T16:41:10Z"), "2021-02-06T16:41:10Z");
        assert_eq!(resolution_date("2024-02-29T23:30:00Z"), "2024-03-01T23:30:00Z");
        assert_eq!(resolution_date("not a date"), "not a date");
    }

    const RECIPE: &str = r#"
repo = "acme/calc"
[version]
rule = "file"
file = "calc/__init__.py"
pattern = '''__version__\s*=\s*"([^"]+)"'''
[[env]]
python = "3.11"
packages = ["pytest"]
instance_install = ["pip install --no-deps -e ."]
env_vars = { PYTHONPATH = "/testbed" }
test_cmd = "pytest -rA"
"#;

    /// Every input of the three tags.
    #[derive(Clone)]
    struct Inputs {
        recipe: String,
        ca: Vec<u8>,
        from_registry: bool,
        env_commit: String,
        cutoff: String,
        base_commit: String,
        history: History,
        /// (file name, text) written to a `--dockerfiles` directory.
        override_file: Option<(&'static str, &'static str)>,
    }

    fn baseline() -> Inputs {
        Inputs {
            recipe: RECIPE.to_string(),
            ca: b"-----BEGIN CERTIFICATE-----".to_vec(),
            from_registry: false,
            env_commit: "e".repeat(40),
            cutoff: "2024-02-01T00:00:00Z".into(),
            base_commit: "b".repeat(40),
            history: History::Full,
            override_file: None,
        }
    }

    /// (base, environment, instance) tags.
    fn tags(i: &Inputs) -> [String; 3] {
        let dir = tempfile::tempdir().unwrap();
        if let Some((name, text)) = i.override_file {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let templates = Templates::load(Some(dir.path())).unwrap();
        let recipe = Recipe::parse("acme__calc.toml", &i.recipe, RecipeSource::Embedded).unwrap();
        let spec = recipe.env_for("1.0").unwrap();
        let kind = if i.from_registry { base::BaseKind::Registry } else { base::BaseKind::Debootstrap };
        let base = base::plan(&templates, spec.python, &kind, &i.ca).unwrap();
        let v = VersionRecord {
            repo: "acme/calc".into(),
            version: "1.0".into(),
            env_commit: i.env_commit.clone(),
            python: "3.11".into(),
            python_source: "recipe".into(),
            cutoff: i.cutoff.clone(),
            instances: 1,
            recipe: "embedded".into(),
        };
        let env = env::plan(&templates, &v, &recipe, spec, &base.image, i.history).unwrap();
        let inst = RawInstance {
            instance_id: "acme__calc-1".into(),
            repo: "acme/calc".into(),
            pull_number: 1,
            issue_numbers: vec![],
            base_commit: i.base_commit.clone(),
            patch: String::new(),
            test_patch: String::new(),
            problem_statement: String::new(),
            hints_text: String::new(),
            created_at: String::new(),
        };
        let instance = instance::plan(&templates, &inst, spec, &env.tag, &i.cutoff, i.history).unwrap();
        [base.image.tag, env.tag, instance.tag]
    }

    #[test]
    fn same_inputs_give_the_same_tags() {
        let [base, env, instance] = tags(&baseline());
        assert_eq!(tags(&baseline()), [base.clone(), env.clone(), instance.clone()]);
        assert!(base.starts_with("swegym/base:py3.11-debootstrap-bookworm-"), "{base}");
        assert!(env.starts_with("swegym/env.acme__calc:1.0-"), "{env}");
        assert!(instance.starts_with("swegym/eval.acme__calc-1:"), "{instance}");
    }

    #[test]
    fn any_changed_input_gives_new_tags_from_its_tier_down() {
        let b = baseline();
        let edit = |f: &dyn Fn(&mut Inputs)| {
            let mut i = b.clone();
            f(&mut i);
            i
        };
        // (what changed, its tier: 0 base, 1 environment, 2 instance, the inputs)
        let cases: Vec<(&str, usize, Inputs)> = vec![
            ("CA bundle", 0, edit(&|i| i.ca.push(b'\n'))),
            ("registry base", 0, edit(&|i| i.from_registry = true)),
            ("python", 0, edit(&|i| i.recipe = RECIPE.replace("\"3.11\"", "\"3.9\""))),
            ("base template", 0, edit(&|i| i.override_file = Some(("base.Dockerfile", "FROM scratch\n")))),
            ("pip shim", 0, edit(&|i| i.override_file = Some(("pip", "#!/bin/sh\nexec pip \"$@\"\n")))),
            ("conda shim", 0, edit(&|i| i.override_file = Some(("conda-activate", "conda() { :; }\n")))),
            ("recipe comment", 1, edit(&|i| i.recipe = format!("# reviewed\n{RECIPE}"))),
            ("recipe env var", 1, edit(&|i| i.recipe = RECIPE.replace("/testbed\"", "/testbed/src\""))),
            ("env commit", 1, edit(&|i| i.env_commit = "f".repeat(40))),
            ("cut-off", 1, edit(&|i| i.cutoff = "2024-03-01T00:00:00Z".into())),
            ("env template", 1, edit(&|i| i.override_file = Some(("env.Dockerfile", "FROM {{ base }}\n")))),
            ("base commit", 2, edit(&|i| i.base_commit = "c".repeat(40))),
            ("history", 1, edit(&|i| i.history = History::Shallow)),
            ("instance template", 2, edit(&|i| i.override_file = Some(("instance.sh", "echo {{ instance_id }}\n")))),
        ];
        let base_tags = tags(&b);
        for (what, tier, inputs) in cases {
            for (level, (new, old)) in tags(&inputs).iter().zip(&base_tags).enumerate() {
                if level < tier {
                    assert_eq!(new, old, "{what} must not change tier {level}");
                } else {
                    assert_ne!(new, old, "{what} must change tier {level}");
                }
            }
        }
    }
}
