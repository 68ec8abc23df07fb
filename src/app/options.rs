//! From command-line arguments to stage options: the conversions, the GitHub client, and the
//! repository list of `--repo` / `--repos FILE`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{
    ContainerLimitArgs, EvaluateArgs, ExecutorArgs, GitHubArgs, HistoryArg, ImageArgs, RefreshArgs, RunLimitArgs,
    ServeArgs,
};
use crate::context::Context;
use crate::error::Error;
use crate::evaluate::{EvaluateOptions, Limits};
use crate::executor::{login_from_env, ExecutorKind, SwarmConfig};
use crate::export::{ExportOptions, Format, Split};
use crate::git::History;
use crate::github::{ClientConfig, GitHub, Token};
use crate::image::{BuildOptions, Templates};
use crate::mine::MineOptions;
use crate::model::RepoName;
use crate::pin::PinOptions;
use crate::progress::Progress;
use crate::refresh::RefreshOptions;
use crate::serve::ServeOptions;
use crate::store::InstanceFilter;
use crate::validate::ValidateOptions;
use crate::workspace::Workspace;

/// The GitHub client, with tokens from the environment.
pub(super) fn github_client(args: &GitHubArgs, progress: &Progress) -> Result<Arc<GitHub>, Error> {
    let tokens = Token::from_env();
    if tokens.is_empty() {
        progress.println(
            "warning: no GITHUB_TOKEN or GITHUB_TOKENS set: GitHub allows 60 unauthenticated requests an hour; \
             create a token at https://github.com/settings/tokens (no scopes needed for public repositories)",
        );
    }
    let mut cfg = ClientConfig::new(args.api_url.clone(), tokens);
    cfg.secondary_backoff_min = Duration::from_secs(args.secondary_backoff);
    cfg.retry_base = Duration::from_millis(args.retry_base_ms);
    let notices = progress.clone();
    Ok(Arc::new(GitHub::new(cfg, Arc::new(move |m: String| notices.println(&m)))?))
}

pub(super) fn image_options(
    filter: InstanceFilter,
    jobs: usize,
    force: bool,
    envs_only: bool,
    image: &ImageArgs,
) -> Result<BuildOptions, Error> {
    Ok(BuildOptions {
        filter,
        templates: Templates::load(image.dockerfiles.as_deref()).map_err(|e| Error::Usage(e.to_string()))?,
        jobs,
        force,
        base: image.base,
        ca_cert: image.ca_cert.clone(),
        debian_mirror: image.debian_mirror.clone(),
        python_mirror: match &image.python_mirror {
            Some(url) => {
                crate::image::base::check_python_mirror(url).map_err(Error::Usage)?;
                Some(url.clone())
            }
            None => None,
        },
        history: match image.history {
            HistoryArg::Full => History::Full,
            HistoryArg::Shallow => History::Shallow,
        },
        envs_only,
        check_timeout: Duration::from_secs(image.check_timeout),
        swebench_tags: image.swebench_tags,
        allow_undated: image.allow_undated,
    })
}

/// Build settings for the worker image of commands that build nothing else (`validate`,
/// `evaluate`, `serve`): the defaults of `build`, so the base image is the one builds use.
pub(super) fn worker_build_options() -> Result<BuildOptions, Error> {
    BuildOptions::defaults().map_err(|e| Error::Usage(e.to_string()))
}

/// With `--executor swarm`: checks the cluster flags, makes sure the registry has this binary's
/// worker image, and points the context's stages at the swarm.
pub(super) async fn use_executor(cx: &mut Context, args: &ExecutorArgs, build: &BuildOptions) -> Result<(), Error> {
    if args.executor == ExecutorKind::Local {
        return Ok(());
    }
    let registry = args.registry.clone().ok_or_else(|| {
        Error::Usage(
            "--executor swarm needs --registry HOST:PORT[/PREFIX] (or SWEGYM_REGISTRY): the registry every node pulls images from and pushes them to".into(),
        )
    })?;
    if build.swebench_tags {
        return Err(Error::Usage(
            "--swebench-tags names images on one engine: use it with --executor local (swarm images are named in the registry)".into(),
        ));
    }
    let login = login_from_env(&registry).map_err(Error::Usage)?;
    let exe = std::env::current_exe().map_err(|e| Error::Io(format!("cannot find this program's file: {e}")))?;
    let worker_image = crate::image::worker::ensure_worker_image(cx, build, &registry, login.as_ref(), &exe).await?;
    cx.swarm = Some(SwarmConfig {
        registry,
        worker_image,
        placement_timeout: Duration::from_secs(args.placement_timeout),
        max_attempts: args.max_attempts,
        constraints: args.constraints.clone(),
        login,
    });
    Ok(())
}

pub(super) fn validate_options(
    filter: InstanceFilter,
    jobs: usize,
    force: bool,
    limits: &RunLimitArgs,
) -> ValidateOptions {
    ValidateOptions {
        filter,
        jobs,
        runs: limits.runs,
        timeout: Duration::from_secs(limits.container.timeout),
        memory_bytes: limits.container.memory,
        pids: limits.container.pids,
        nano_cpus: (limits.container.cpus * 1e9) as i64,
        force,
    }
}

pub(super) fn evaluate_options(ws: &Workspace, a: &EvaluateArgs) -> EvaluateOptions {
    EvaluateOptions {
        predictions: a.predictions.clone(),
        run_id: a.run_id.clone().unwrap_or_else(|| crate::evaluate::default_run_id(&a.predictions)),
        jobs: a.jobs,
        limits: eval_limits(&a.limits),
        reports_dir: ws.root().join("evaluations"),
    }
}

fn eval_limits(a: &ContainerLimitArgs) -> Limits {
    Limits {
        timeout: Duration::from_secs(a.timeout),
        memory_bytes: a.memory,
        pids: a.pids,
        nano_cpus: (a.cpus * 1e9) as i64,
    }
}

pub(super) fn serve_options(a: &ServeArgs) -> ServeOptions {
    ServeOptions {
        listen: a.listen,
        jobs: a.jobs,
        queue: a.queue,
        request_timeout: Duration::from_secs(a.request_timeout),
        max_body: usize::try_from(a.max_body).unwrap_or(usize::MAX),
        limits: eval_limits(&a.limits),
        // From the environment only: arguments are visible to other users in `ps`.
        token: std::env::var(crate::workspace::env::SERVE_TOKEN).ok().filter(|t| !t.is_empty()),
        run_id: a.run_id.clone(),
    }
}

pub(super) fn refresh_options(ws: &Workspace, a: &RefreshArgs) -> Result<RefreshOptions, Error> {
    let repos = repo_list(&a.repos, a.repos_file.as_deref())?;
    let every = InstanceFilter { repos: repos.clone(), instances: vec![] };
    Ok(RefreshOptions {
        mine: MineOptions { repos, since: a.since, max_pulls: None, jobs: a.jobs, full: false },
        pin: PinOptions { filter: every.clone(), force: false },
        build: image_options(every.clone(), a.jobs, false, false, &a.image)?,
        validate: validate_options(every, a.jobs, false, &a.limits),
        export: ExportOptions {
            splits: vec![Split::Full, Split::Lite],
            formats: vec![Format::Jsonl, Format::Parquet],
            out_dir: a.out.clone().unwrap_or_else(|| ws.exports_dir()),
            extended: a.extended,
            card: true,
        },
    })
}

/// `--repo` values and the lines of `--repos FILE`, deduplicated in order.
pub fn repo_list(repos: &[RepoName], file: Option<&Path>) -> Result<Vec<RepoName>, Error> {
    let mut out: Vec<RepoName> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |name: RepoName| {
        if seen.insert(name.to_string().to_ascii_lowercase()) {
            out.push(name);
        }
    };
    repos.iter().cloned().for_each(&mut add);
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--repos {}: cannot read: {e}", path.display())))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                let parsed: Result<RepoName, _> = line.parse();
                add(parsed.map_err(|e| Error::Usage(format!("{}:{}: {e}", path.display(), i + 1)))?);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Usage("no repositories: pass --repo OWNER/NAME (repeatable) or --repos FILE".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_file_with_comments_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("repos.txt");
        std::fs::write(&f, "# SWE-Gym\ngetmoto/moto  # moto\n\npython/mypy\nGetmoto/Moto\n").unwrap();
        let r = repo_list(&["python/mypy".parse().unwrap()], Some(&f)).unwrap();
        let names: Vec<String> = r.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["python/mypy", "getmoto/moto"]);
    }

    #[test]
    fn bad_repos_file_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("repos.txt");
        std::fs::write(&f, "getmoto/moto\nnot-a-repo\n").unwrap();
        let e = repo_list(&[], Some(&f)).unwrap_err().to_string();
        assert!(e.contains("repos.txt:2"), "{e}");
        assert!(e.contains("OWNER/NAME"), "{e}");
    }
}
