//! Instance images: the repository at `base_commit` on its environment (a thin layer), history up
//! to `base_commit` only. Built in parallel; their records are written by the caller's task
//! alone (one writer).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use futures_util::StreamExt;
use indicatif::ProgressBar;

use crate::docker::DockerError;
use crate::git::History;
use crate::model::{RawInstance, RepoName};
use crate::recipe::{recipe_label, short_hash, EnvSpec};
use crate::store::{ImageRecord, ImageTier, Store, VersionRecord};

use super::context::{make_context, with_labels};
use super::env::EnvImage;
use super::template::{InstanceVars, TemplateError, Templates};
use super::{
    build_and_check, log_path, resolution_date, script, BuildError, BuildSummary, Ctx, ImageOutcome, ImageState,
    LABEL_PREFIX,
};

/// An instance image before it is built.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    pub tag: String,
    /// With its labels.
    pub dockerfile: String,
    /// `swegym/install.sh` in the context: the recipe's reinstall steps.
    pub install: String,
}

/// The instance image of `inst` on the environment `env_tag`. The tag hashes the rendered
/// Dockerfile (which names the environment, itself content-addressed), the install script,
/// `base_commit` and how much history the checkout keeps.
pub fn plan(
    templates: &Templates,
    inst: &RawInstance,
    spec: &EnvSpec,
    env_tag: &str,
    cutoff: &str,
    history: History,
) -> Result<InstancePlan, TemplateError> {
    let install = script::instance_install(spec);
    let dockerfile = templates.render(&InstanceVars {
        instance_id: inst.instance_id.clone(),
        env_image: env_tag.to_string(),
        cutoff: resolution_date(cutoff),
    })?;
    let history = match history {
        History::Full => "full",
        History::Shallow => "shallow",
    };
    let inputs = format!("{dockerfile}\n{install}\n{}\n{history}", inst.base_commit);
    let tag = format!("{LABEL_PREFIX}/eval.{}:{}", inst.instance_id.to_lowercase(), short_hash(inputs.as_bytes()));
    let labels = BTreeMap::from([
        (format!("{LABEL_PREFIX}.tier"), ImageTier::Instance.to_string()),
        (format!("{LABEL_PREFIX}.repo"), inst.repo.clone()),
        (format!("{LABEL_PREFIX}.instance_id"), inst.instance_id.clone()),
        (format!("{LABEL_PREFIX}.base_commit"), inst.base_commit.clone()),
        (format!("{LABEL_PREFIX}.env"), env_tag.to_string()),
        (format!("{LABEL_PREFIX}.history"), history.to_string()),
    ]);
    Ok(InstancePlan { tag, dockerfile: with_labels(&dockerfile, &labels), install })
}

/// What building one instance image came to: the outcome, and the record to write (none when a
/// reused image's record is already complete).
struct Done {
    outcome: ImageOutcome,
    record: Option<ImageRecord>,
}

/// Builds the images of `instances` on `env`, `--jobs` at a time, reusing those recorded as good
/// (unless `--force`) that the engine still has.
pub(super) async fn build_instances(
    cx: &Ctx<'_>,
    store: &mut Store,
    v: &VersionRecord,
    env: &EnvImage,
    instances: Vec<RawInstance>,
    bar: &ProgressBar,
    summary: &mut BuildSummary,
) -> Result<(), BuildError> {
    let mut reusable: HashMap<String, ImageRecord> = if cx.opts.force {
        HashMap::new()
    } else {
        store.built_on(&env.tag)?.into_iter().map(|r| (r.tag.clone(), r)).collect()
    };
    let mut jobs = Vec::with_capacity(instances.len());
    for inst in instances {
        let plan = plan(&cx.opts.templates, &inst, &env.spec, &env.tag, &v.cutoff, cx.opts.history)?;
        let prev = reusable.remove(&plan.tag);
        jobs.push((inst, plan, prev));
    }
    let mut stream = futures_util::stream::iter(
        jobs.into_iter().map(|(inst, plan, prev)| build_instance(cx, v, env, inst, plan, prev)),
    )
    .buffer_unordered(cx.opts.jobs.max(1));
    while let Some(res) = stream.next().await {
        match res {
            Ok(done) => {
                if let Some(r) = &done.record {
                    store.write_image(r)?;
                }
                bar.inc(1);
                summary.add(done.outcome);
            }
            Err(BuildError::Docker(DockerError::Interrupted)) => summary.interrupted = true,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Builds (or reuses `prev`, the good image recorded under the same tag) one instance image.
async fn build_instance(
    cx: &Ctx<'_>,
    v: &VersionRecord,
    env: &EnvImage,
    inst: RawInstance,
    plan: InstancePlan,
    prev: Option<ImageRecord>,
) -> Result<Done, BuildError> {
    let t = Instant::now();
    let spec_json = env.spec.to_json();
    if let Some(prev) = prev {
        if cx.engine.image(&plan.tag).await?.is_some() {
            let outcome = ImageOutcome::new(&prev, ImageState::Reused);
            // Recorded before images kept their spec: keep it now, for `validate`.
            let record = prev.env_spec.is_none().then_some(ImageRecord { env_spec: Some(spec_json), ..prev });
            return Ok(Done { outcome, record });
        }
    }
    let log = log_path(cx.ws, &plan.tag);
    let mut record = ImageRecord {
        repo: Some(inst.repo.clone()),
        version: Some(v.version.clone()),
        instance_id: Some(inst.instance_id.clone()),
        parent: Some(env.tag.clone()),
        python_wanted: Some(v.python.clone()),
        recipe: Some(recipe_label(Some(&env.recipe))),
        env_spec: Some(spec_json),
        log_path: Some(log.display().to_string()),
        ..ImageRecord::new(&plan.tag, ImageTier::Instance)
    };
    let fail = |mut record: ImageRecord, error: String| {
        record.error = Some(error);
        record.seconds = t.elapsed().as_secs_f64();
        Done { outcome: ImageOutcome::new(&record, ImageState::Failed), record: Some(record) }
    };
    let repo: RepoName = match inst.repo.parse() {
        Ok(r) => r,
        Err(e) => return Ok(fail(record, e.to_string())),
    };
    let files = vec![("swegym/install.sh".to_string(), plan.install.into_bytes())];
    let context = match make_context(cx, &repo, &inst.base_commit, cx.opts.history, plan.dockerfile, files).await {
        Ok(c) => c,
        Err(e) => return Ok(fail(record, e)),
    };
    let checked = Some((&inst, &env.spec));
    if let Err(e) = build_and_check(cx, &mut record, context, &log, &env.recipe.package, checked, env.size).await? {
        return Ok(fail(record, e));
    }
    record.seconds = t.elapsed().as_secs_f64();
    Ok(Done { outcome: ImageOutcome::new(&record, ImageState::Built), record: Some(record) })
}
