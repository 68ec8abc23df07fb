//! The `pin` stage: the version of each instance at its `base_commit` (read from git blobs, no
//! checkout), then per (repo, version) the environment to build: its commit, Python and dependency
//! cut-off date.
//!
//! Only what is new is done: instances never pinned, pinned by a rule that has since changed, or
//! whose version was not found last time. Versions of a touched repository are recomputed whole
//! (cheap), since a new instance can move a version's environment commit.

pub mod version;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::context::Context;
use crate::git::{GitError, Mirror};
use crate::model::RepoName;
use crate::progress::set_total;
use crate::recipe::{python, recipe_label, short_hash, Recipe, VersionRule};
use crate::store::{ts, InstanceFilter, PinCandidate, PinRecord, Store, StoreError, VersionRecord};

use version::{Found, NotFound, TagCache};

/// What to pin.
#[derive(Debug, Clone, Default)]
pub struct PinOptions {
    /// Which instances (`--repo`).
    pub filter: InstanceFilter,
    /// Pin again even what is already pinned by the current rule.
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One repository's result.
/// An imported instance whose published version is not the one we pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionDisagreement {
    pub instance_id: String,
    /// Ours; `None` when we found no version.
    pub ours: Option<String>,
    pub published: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoPinSummary {
    pub repo: String,
    /// `embedded`, `file:<path>` or `none` (generic fallback).
    pub recipe: String,
    pub pinned: u64,
    pub not_found: u64,
    /// Instances skipped because they were already pinned by the current rule.
    pub unchanged: u64,
    pub versions: u64,
    /// Imported instances whose published version we compared with, and how many agree.
    pub published_compared: u64,
    pub published_agree: u64,
    /// Versions found (or not) in a shallow mirror whose history ends before the answer was
    /// certain: the reason on each pin says so.
    pub incomplete: u64,
    /// A few disagreements with the published versions (at most 10).
    pub disagreements: Vec<VersionDisagreement>,
    /// Why the repository could not be pinned at all (e.g. its mirror could not be cloned).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PinSummary {
    pub repos: Vec<RepoPinSummary>,
    pub pinned: u64,
    pub not_found: u64,
    pub seconds: f64,
    pub instances_per_second: f64,
    pub interrupted: bool,
}

impl PinSummary {
    pub fn has_failures(&self) -> bool {
        self.repos.iter().any(|r| r.error.is_some())
    }
}

/// Instances written per transaction: a killed run loses at most this many pins.
const BATCH: usize = 2000;

/// Pins every instance that needs it. Errors of one repository (a mirror that cannot be cloned)
/// are recorded in its summary; only store errors stop the run.
pub fn pin(cx: &mut Context, opts: &PinOptions) -> Result<PinSummary, PinError> {
    let Context { store, mirrors, recipes: book, progress, cancel, .. } = cx;
    let started = Instant::now();
    let candidates = store.pin_candidates(&opts.filter)?;
    let mut by_repo: BTreeMap<String, Vec<PinCandidate>> = BTreeMap::new();
    for c in candidates {
        by_repo.entry(c.repo.clone()).or_default().push(c);
    }
    let bar = progress.bar("pin");
    set_total(&bar, by_repo.values().map(|v| v.len() as u64).sum(), "instances");
    let mut summary = PinSummary::default();
    for (repo, cands) in by_repo {
        if cancel.is_cancelled() {
            summary.interrupted = true;
            break;
        }
        bar.set_message(repo.clone());
        let recipe = book.get(&repo);
        let mut rs = RepoPinSummary { repo: repo.clone(), recipe: recipe_label(recipe), ..Default::default() };
        let rule = rule_hash(recipe);
        let todo: Vec<&PinCandidate> = cands
            .iter()
            .filter(|c| opts.force || !c.has_version || c.pinned_rule.as_deref() != Some(rule.as_str()))
            .collect();
        rs.unchanged = (cands.len() - todo.len()) as u64;
        bar.inc(rs.unchanged);
        let name: RepoName = match repo.parse() {
            Ok(n) => n,
            Err(e) => {
                rs.error = Some(format!("bad repository name: {e}"));
                summary.repos.push(rs);
                continue;
            }
        };
        let mirror = match mirrors.open(&name) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("{repo}: {e}");
                rs.error = Some(e.to_string());
                bar.inc(todo.len() as u64);
                summary.repos.push(rs);
                continue;
            }
        };
        let package = recipe.map(|r| r.package.clone()).unwrap_or_else(|| name.name().to_lowercase().replace('-', "_"));
        let mut tags = TagCache::default();
        let mut batch = Vec::with_capacity(BATCH.min(todo.len()));
        for c in todo {
            if cancel.is_cancelled() {
                summary.interrupted = true;
                break;
            }
            let found = match recipe {
                Some(r) => version::by_rule(&mirror, &c.base_commit, &r.version, &mut tags),
                None => version::generic(&mirror, &c.base_commit, &package, &mut tags),
            };
            let rec = record(c, &rule, found);
            if rec.reason.as_deref().is_some_and(|r| r.starts_with(version::SHALLOW)) {
                rs.incomplete += 1;
            }
            if rec.version.is_some() {
                rs.pinned += 1;
            } else {
                rs.not_found += 1;
            }
            batch.push(rec);
            if batch.len() >= BATCH {
                store.write_pins(&batch)?;
                batch.clear();
            }
            bar.inc(1);
        }
        store.write_pins(&batch)?;
        match environments(store, &mirror, &repo, recipe) {
            Ok(n) => rs.versions = n,
            Err(EnvError::Store(e)) => return Err(e.into()),
            Err(EnvError::Git(e)) => rs.error = Some(e.to_string()),
        }
        let disagreements = store.pin_disagreements(&repo)?;
        let (compared, agree) = store.pin_agreement(&repo)?;
        rs.published_compared = compared;
        rs.published_agree = agree;
        rs.disagreements = disagreements
            .into_iter()
            .take(10)
            .map(|(instance_id, ours, published)| VersionDisagreement { instance_id, ours, published })
            .collect();
        summary.pinned += rs.pinned;
        summary.not_found += rs.not_found;
        summary.repos.push(rs);
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    let done = summary.pinned + summary.not_found;
    summary.instances_per_second = if summary.seconds > 0.0 { done as f64 / summary.seconds } else { 0.0 };
    Ok(summary)
}

fn record(c: &PinCandidate, rule: &str, found: Result<Result<Found, NotFound>, GitError>) -> PinRecord {
    let mut rec = PinRecord {
        instance_id: c.instance_id.clone(),
        repo: c.repo.clone(),
        version: None,
        raw_version: None,
        method: None,
        reason: None,
        rule_hash: rule.to_string(),
    };
    match found {
        Ok(Ok(f)) => {
            if f.incomplete {
                rec.reason = Some(format!(
                    "{}: the mirror's history ends closer than tag {}: a nearer tag may lie beyond it (fetch more history)",
                    version::SHALLOW,
                    f.method
                ));
            }
            rec.version = Some(f.version);
            rec.raw_version = Some(f.raw);
            rec.method = Some(f.method);
        }
        Ok(Err(NotFound(why))) => rec.reason = Some(why),
        Err(e) => rec.reason = Some(e.to_string()),
    }
    rec
}

/// A hash of what decides versions: the recipe's version rule, or the generic fallback.
fn rule_hash(recipe: Option<&Recipe>) -> String {
    match recipe {
        Some(r) => {
            let v = &r.version;
            let rule = match v.rule {
                VersionRule::File => "file",
                VersionRule::Tag => "tag",
            };
            let text =
                format!("{rule}\n{}\n{}", v.files.join("\n"), v.pattern.as_ref().map(|p| p.as_str()).unwrap_or(""));
            short_hash(text.as_bytes())
        }
        None => "generic-1".to_string(),
    }
}

enum EnvError {
    Store(StoreError),
    Git(GitError),
}

/// Recomputes `repo`'s versions: environment commit, Python, cut-off. Returns how many.
fn environments(store: &mut Store, mirror: &Mirror, repo: &str, recipe: Option<&Recipe>) -> Result<u64, EnvError> {
    let groups = store.version_groups(repo).map_err(EnvError::Store)?;
    let mut out = Vec::with_capacity(groups.len());
    for (version, env_commit, instances) in groups {
        let (python, python_source) = match recipe.and_then(|r| r.env_for(&version)) {
            Some(env) => (env.python, "recipe".to_string()),
            None => python::infer(mirror, &env_commit).map_err(EnvError::Git)?,
        };
        let cutoff = ts(mirror.commit_time(&env_commit).map_err(EnvError::Git)?);
        out.push(VersionRecord {
            repo: repo.to_string(),
            version,
            env_commit,
            python: python.to_string(),
            python_source,
            cutoff,
            instances,
            recipe: recipe_label(recipe),
        });
    }
    store.replace_versions(repo, &out).map_err(EnvError::Store)?;
    Ok(out.len() as u64)
}
