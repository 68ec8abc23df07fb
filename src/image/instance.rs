//! Instance images: the repository at `base_commit` on its environment, history up to
//! `base_commit` only. One layer per instance, made by running `instance.sh` in a container of the
//! environment and committing it: the environment's checkout is turned into `base_commit`'s by
//! the files that differ (not a second copy of the whole checkout), its repository replaced by
//! one holding nothing newer than `base_commit`. Built in parallel; their records are written by
//! the caller's task alone (one writer).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use indicatif::ProgressBar;

use crate::docker::{DockerError, RunSpec};
use crate::git::History;
use crate::model::{RawInstance, RepoName};
use crate::recipe::{recipe_label, short_hash, EnvSpec};
use crate::store::{ImageRecord, ImageTier, Store, VersionRecord};

use super::context::instance_archive;
use super::env::EnvImage;
use super::template::{InstanceVars, TemplateError, Templates};
use super::{
    build_and_check, existing, log_path, resolution_date, script, BuildError, BuildSummary, Ctx, HowBuilt,
    ImageOutcome, ImageState, LABEL_PREFIX,
};

/// How long an instance's reinstall may take (a C extension's rebuild included).
const INSTANCE_BUILD_TIMEOUT: Duration = Duration::from_secs(3600);

/// An instance image before it is built.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    pub tag: String,
    /// `instance.sh` rendered: run in a container of the environment, which becomes the image.
    pub script: String,
    /// `install.sh` in the archive: the recipe's reinstall steps.
    pub install: String,
    pub labels: BTreeMap<String, String>,
}

/// The instance image of `inst` on the environment `env_tag`. The tag hashes the environment's
/// (itself content-addressed), the rendered script, the install script, `base_commit` and how
/// much history the checkout keeps.
pub fn plan(
    templates: &Templates,
    inst: &RawInstance,
    spec: &EnvSpec,
    env_tag: &str,
    cutoff: &str,
    history: History,
) -> Result<InstancePlan, TemplateError> {
    let install = script::instance_install(spec);
    let script =
        templates.render(&InstanceVars { instance_id: inst.instance_id.clone(), cutoff: resolution_date(cutoff) })?;
    let history = match history {
        History::Full => "full",
        History::Shallow => "shallow",
    };
    let inputs = format!("{env_tag}\n{script}\n{install}\n{}\n{history}", inst.base_commit);
    let tag = format!("{LABEL_PREFIX}/eval.{}:{}", inst.instance_id.to_lowercase(), short_hash(inputs.as_bytes()));
    let labels = BTreeMap::from([
        (format!("{LABEL_PREFIX}.tier"), ImageTier::Instance.to_string()),
        (format!("{LABEL_PREFIX}.repo"), inst.repo.clone()),
        (format!("{LABEL_PREFIX}.instance_id"), inst.instance_id.clone()),
        (format!("{LABEL_PREFIX}.base_commit"), inst.base_commit.clone()),
        (format!("{LABEL_PREFIX}.env"), env_tag.to_string()),
        (format!("{LABEL_PREFIX}.history"), history.to_string()),
    ]);
    Ok(InstancePlan { tag, script, install, labels })
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
                if let (true, ImageState::Built | ImageState::Reused, Some(id)) =
                    (cx.opts.swebench_tags, done.outcome.state, done.outcome.instance_id.as_deref())
                {
                    let (repo, tag) = super::swebench_tag(id);
                    cx.executor.engine().tag(&done.outcome.tag, &repo, tag).await?;
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
    let log = log_path(cx.ws, &plan.tag);
    let mut record = ImageRecord {
        repo: Some(inst.repo.clone()),
        version: Some(v.version.clone()),
        instance_id: Some(inst.instance_id.clone()),
        parent: Some(env.tag.clone()),
        python_wanted: Some(env.spec.python.to_string()),
        python_used: env.python_used.clone(),
        recipe: Some(recipe_label(Some(&env.recipe))),
        env_spec: Some(spec_json.clone()),
        log_path: Some(log.display().to_string()),
        ..ImageRecord::new(&plan.tag, ImageTier::Instance)
    };
    if prev.is_none() && !cx.opts.force {
        // Built by another workspace on this engine (tags name only checked images): adopt it.
        if let Some(img) = existing(cx, &plan.tag).await? {
            let adopted = super::env::adopt(record, &img, env.size);
            return Ok(Done { outcome: ImageOutcome::new(&adopted, ImageState::Reused), record: Some(adopted) });
        }
    }
    if let Some(prev) = prev {
        if existing(cx, &plan.tag).await?.is_some() {
            let outcome = ImageOutcome::new(&prev, ImageState::Reused);
            // Recorded before images kept their spec and Python: keep them now, for `validate`
            // and `report`.
            let stale = prev.env_spec.is_none() || (prev.python_used.is_none() && env.python_used.is_some());
            let record = stale.then(|| ImageRecord {
                env_spec: Some(spec_json),
                python_used: prev.python_used.clone().or_else(|| env.python_used.clone()),
                ..prev
            });
            return Ok(Done { outcome, record });
        }
    }
    let fail = |mut record: ImageRecord, error: String| {
        record.error = Some(error);
        record.seconds = t.elapsed().as_secs_f64();
        Done { outcome: ImageOutcome::new(&record, ImageState::Failed), record: Some(record) }
    };
    let repo: RepoName = match inst.repo.parse() {
        Ok(r) => r,
        Err(e) => return Ok(fail(record, e.to_string())),
    };
    let archive =
        match instance_archive(cx, &repo, &v.env_commit, &inst.base_commit, cx.opts.history, plan.install).await {
            Ok((archive, _)) => archive,
            Err(e) => return Ok(fail(record, e)),
        };
    let mut run = RunSpec::new(&env.tag, &plan.script);
    // A build step: the network (PyPI) and generous limits, as a Dockerfile build would have.
    run.network = true;
    run.workdir = Some("/testbed".into());
    run.timeout = INSTANCE_BUILD_TIMEOUT;
    run.memory_bytes = 8 << 30;
    run.pids = 4096;
    run.labels = vec![cx.label.clone()];
    let how = HowBuilt::Committed { run: Box::new(run), archive, labels: plan.labels.into_iter().collect() };
    let checked = Some((&inst, &env.spec));
    if let Err(e) = build_and_check(cx, &mut record, how, &log, &env.recipe.package, checked).await? {
        return Ok(fail(record, e));
    }
    record.seconds = t.elapsed().as_secs_f64();
    Ok(Done { outcome: ImageOutcome::new(&record, ImageState::Built), record: Some(record) })
}
