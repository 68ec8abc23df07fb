//! Environment images, one per (repo, version): the repository at the version's environment
//! commit with the recipe's dependencies installed, resolved as of the cut-off date.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::docker::DockerError;
use crate::git::{History, HISTORY_CHUNK};
use crate::model::RepoName;
use crate::recipe::{recipe_label, short_hash, EnvSpec, Recipe};
use crate::store::{BuildStatus, ImageRecord, ImageTier, Store, VersionRecord};

use super::base::{ensure_base, BaseImage};
use super::context::{make_context, with_labels};
use super::template::{EnvVars, TemplateError, Templates};
use super::{
    build_and_check, existing, log_path, repo_component, resolution_date, script, BuildError, Ctx, HowBuilt,
    ImageOutcome, ImageState, LABEL_PREFIX,
};

/// An environment image instances can be built on.
#[derive(Debug, Clone)]
pub struct EnvImage {
    pub tag: String,
    /// Its whole size: instance images record only what they add.
    pub size: u64,
    pub recipe: Recipe,
    /// The recipe's `[[env]]` for this version.
    pub spec: EnvSpec,
    /// The Python its base has (`X.Y`): the wanted one, or the nearest where it was substituted.
    pub python_used: Option<String>,
}

/// An environment image before it is built.
#[derive(Debug, Clone)]
pub struct EnvPlan {
    pub tag: String,
    /// With its labels.
    pub dockerfile: String,
    /// `swegym/install.sh` in the context.
    pub install: String,
}

/// How the environment's checkout stores its repository ([`crate::git::Mirror::store_layout`]):
/// instance layers keep and delete its files one by one, so an environment whose checkout was
/// made otherwise must not be reused.
const CHECKOUT_LAYOUT: &str = "checkout: shallow, loose objects";
/// Added for environments whose checkout holds the whole history (`--history full`), in packs of
/// [`HISTORY_CHUNK`] main-line commits: the pack size is part of the layout, so changing it
/// changes the tags.
fn full_history_layout() -> String {
    format!("history: full, packs of {HISTORY_CHUNK} main-line commits")
}

/// The environment image of `v` on `base`. The tag hashes the rendered Dockerfile (which names
/// the base, itself content-addressed), the install script, the environment commit, the `pip`
/// shim, the recipe's text and the checkout's layout (which depends on how much history instance
/// images keep: the environment's checkout holds as much).
pub fn plan(
    templates: &Templates,
    v: &VersionRecord,
    recipe: &Recipe,
    spec: &EnvSpec,
    base: &BaseImage,
    history: History,
) -> Result<EnvPlan, TemplateError> {
    let install = script::env_install(spec);
    let dockerfile = templates.render(&EnvVars {
        repo: v.repo.clone(),
        version: v.version.clone(),
        base: base.tag.clone(),
        system_packages: spec.system_packages.clone(),
        env_vars: spec.env_vars.clone(),
        cutoff: resolution_date(&v.cutoff),
    })?;
    let mut inputs =
        format!("{dockerfile}\n{install}\n{}\n{}\n{}\n{CHECKOUT_LAYOUT}", v.env_commit, templates.pip, recipe.hash());
    if history == History::Full {
        inputs.push_str(&format!("\n{}", full_history_layout()));
    }
    let tag = format!("{LABEL_PREFIX}/env.{}:{}-{}", repo_component(&v.repo), v.version, short_hash(inputs.as_bytes()));
    let labels = BTreeMap::from([
        (format!("{LABEL_PREFIX}.tier"), ImageTier::Env.to_string()),
        (format!("{LABEL_PREFIX}.repo"), v.repo.clone()),
        (format!("{LABEL_PREFIX}.version"), v.version.clone()),
        (format!("{LABEL_PREFIX}.env_commit"), v.env_commit.clone()),
        (format!("{LABEL_PREFIX}.cutoff"), v.cutoff.clone()),
        (format!("{LABEL_PREFIX}.resolved_as_of"), resolution_date(&v.cutoff)),
        (format!("{LABEL_PREFIX}.python.wanted"), spec.python.to_string()),
        (format!("{LABEL_PREFIX}.python.used"), base.python.to_string()),
        (format!("{LABEL_PREFIX}.recipe"), recipe_label(Some(recipe))),
        (format!("{LABEL_PREFIX}.recipe.hash"), recipe.hash()),
        (format!("{LABEL_PREFIX}.base"), base.tag.clone()),
    ]);
    Ok(EnvPlan { tag, dockerfile: with_labels(&dockerfile, &labels), install })
}

/// What [`build_env`] did, and the image when there is one to build instances on.
type EnvBuilt = (ImageOutcome, Option<EnvImage>);

/// Builds (or finds) the environment image of one (repo, version) and records it. The image is
/// `None` when it failed; the failure is recorded and in the outcome.
pub(super) async fn build_env(
    cx: &mut Ctx<'_>,
    store: &mut Store,
    v: &VersionRecord,
    recipe: Option<Recipe>,
) -> Result<EnvBuilt, BuildError> {
    let t = Instant::now();
    // Until the inputs are known, failures are recorded under the version's name.
    let mut record = ImageRecord {
        repo: Some(v.repo.clone()),
        version: Some(v.version.clone()),
        python_wanted: Some(v.python.clone()),
        recipe: Some(recipe_label(recipe.as_ref())),
        ..ImageRecord::new(format!("{LABEL_PREFIX}/env.{}:{}", repo_component(&v.repo), v.version), ImageTier::Env)
    };
    let fail = |store: &mut Store, mut record: ImageRecord, error: String| -> Result<EnvBuilt, BuildError> {
        record.error = Some(error);
        record.seconds = t.elapsed().as_secs_f64();
        store.write_image(&record)?;
        Ok((ImageOutcome::new(&record, ImageState::Failed), None))
    };
    let Some(recipe) = recipe else {
        let error = format!(
            "no recipe for {} and none could be suggested; write recipes/{}.toml (see `swegym-build recipe suggest`)",
            v.repo,
            v.repo.replace('/', "__")
        );
        return fail(store, record, error);
    };
    let Some(spec) = recipe.env_for(&v.version).cloned() else {
        let error = format!("the recipe for {} has no [[env]] whose `versions` contains {}", v.repo, v.version);
        return fail(store, record, error);
    };
    record.env_spec = Some(spec.to_json());
    // What the recipe asks for now (the versions table keeps what pin chose, which a recipe edit
    // since may have changed).
    record.python_wanted = Some(spec.python.to_string());
    let base = match ensure_base(cx, store, spec.python).await {
        Ok(b) => b,
        Err(BuildError::Docker(DockerError::Interrupted)) => return Err(DockerError::Interrupted.into()),
        Err(e) => return fail(store, record, format!("base image for Python {}: {e}", spec.python)),
    };
    record.python_used = Some(base.python.to_string());
    record.base_source = Some(base.source.clone());
    record.parent = Some(base.tag.clone());
    let plan = plan(&cx.opts.templates, v, &recipe, &spec, &base, cx.opts.history)?;
    record.tag = plan.tag.clone();
    let base_size = cx.executor.engine().image(&base.tag).await?.map(|i| i.size).unwrap_or(0);
    if !cx.opts.force {
        if let Some(img) = existing(cx, &plan.tag).await? {
            let reused = match store.image(&plan.tag)? {
                Some(prev) if prev.status == BuildStatus::Built => {
                    if prev.env_spec.is_none() {
                        // Recorded before images kept their spec: keep it now, for `validate`.
                        store.write_image(&ImageRecord { env_spec: record.env_spec.clone(), ..prev.clone() })?;
                    }
                    Some(prev)
                }
                // Built by another workspace on this engine: a tag only ever names an image that
                // passed its checks (a failed one is untagged), so adopt it.
                None => {
                    let adopted = adopt(record.clone(), &img, base_size);
                    store.write_image(&adopted)?;
                    Some(adopted)
                }
                Some(_) => None,
            };
            if let Some(r) = reused {
                let env =
                    EnvImage { tag: plan.tag, size: img.size, recipe, spec, python_used: record.python_used.clone() };
                return Ok((ImageOutcome::new(&r, ImageState::Reused), Some(env)));
            }
        }
    }
    let log = log_path(cx.ws, &plan.tag);
    record.log_path = Some(log.display().to_string());
    let repo: RepoName = match v.repo.parse() {
        Ok(r) => r,
        Err(e) => return fail(store, record, e.to_string()),
    };
    let files = vec![("swegym/install.sh".to_string(), plan.install.into_bytes())];
    let context = match make_context(cx, &repo, &v.env_commit, cx.opts.history, plan.dockerfile, files).await {
        Ok(c) => c,
        Err(e) => return fail(store, record, e),
    };
    cx.progress.println(&format!("building {} (log: {})", plan.tag, log.display()));
    let how = HowBuilt::Dockerfile { context };
    if let Err(e) = build_and_check(cx, &mut record, how, &log, &recipe.package, None).await? {
        return fail(store, record, e);
    }
    record.seconds = t.elapsed().as_secs_f64();
    store.write_image(&record)?;
    let size = record.size_bytes.unwrap_or(0) + base_size;
    let env = EnvImage { tag: plan.tag, size, recipe, spec, python_used: record.python_used.clone() };
    Ok((ImageOutcome::new(&record, ImageState::Built), Some(env)))
}

/// The record of an image another workspace built on this engine, adopted as built.
pub(super) fn adopt(record: ImageRecord, img: &crate::docker::ImageInfo, parent_size: u64) -> ImageRecord {
    ImageRecord {
        image_id: Some(img.id.clone()),
        size_bytes: Some(img.size.saturating_sub(parent_size)),
        status: BuildStatus::Built,
        error: None,
        ..record
    }
}
