//! Runs a parsed command line: builds the stage context once, calls the stage, prints its summary
//! (a table via `Display`, or JSON via `Serialize` with `--json`) and returns the exit code.
//! Summaries go to stdout; progress and logs go to stderr.

mod summary;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{
    Cli, Command, GitHubArgs, HistoryArg, ImageArgs, RecipeCommand, RefreshArgs, RunLimitArgs, SourceArgs,
};
use crate::context::Context;
use crate::error::{Error, Exit};
use crate::export::{ExportOptions, Format, Split};
use crate::git::{History, Mirrors, DEFAULT_GIT_URL};
use crate::github::{ClientConfig, GitHub, Token};
use crate::image::{BuildOptions, Templates};
use crate::import::ImportOptions;
use crate::mine::MineOptions;
use crate::model::RepoName;
use crate::pin::PinOptions;
use crate::progress::{init_logging, Progress};
use crate::recipe::RecipeBook;
use crate::refresh::RefreshOptions;
use crate::report::ReportOptions;
use crate::store::{Access, InstanceFilter, Store};
use crate::validate::ValidateOptions;
use crate::workspace::{env, Workspace};
pub use summary::{Outcome, StatusReport};

/// Runs one command; the `Exit` says how it ended when it did not fail outright.
pub async fn run(cli: Cli) -> Result<Exit, Error> {
    let g = &cli.global;
    let ws = Workspace::new(&g.workspace);
    let progress = Progress::new(!g.json, g.quiet);
    let default_filter = match g.verbose {
        0 => "warn",
        1 => "warn,swegym_build=info",
        _ => "warn,swegym_build=debug",
    };
    let log_filter = std::env::var(env::LOG).unwrap_or_else(|_| default_filter.to_string());
    // Long-running commands also log, in full, to a file under the workspace.
    let (name, log_file) = match &cli.command {
        Command::Mine(_) => ("mine", true),
        Command::Import(_) => ("import", false),
        Command::Pin(_) => ("pin", true),
        Command::Build(_) => ("build", true),
        Command::Validate(_) => ("validate", true),
        Command::Refresh(_) => ("refresh", true),
        Command::Recipe(_) => ("recipe", false),
        Command::Export(_) => ("export", false),
        Command::Report(_) => ("report", false),
        Command::Status => ("status", false),
    };
    let logs = ws.logs_dir();
    let log = init_logging(&progress, &log_filter, log_file.then_some(logs.as_path()), name);
    tracing::debug!(workspace = %ws.root().display(), log = ?log, "{name}");
    let open = |access: Access, source: Option<&SourceArgs>| -> Result<Context, Error> {
        open_context(&ws, access, source, &progress)
    };
    // A filter naming nothing in the workspace is a typo, not an empty selection.
    let open_for = |filter: &InstanceFilter, access: Access, source: Option<&SourceArgs>| -> Result<Context, Error> {
        let cx = open(access, source)?;
        let unknown = cx.store.unknown_in_filter(filter)?;
        if unknown.is_empty() {
            Ok(cx)
        } else {
            Err(Error::Usage(format!(
                "{}: not in this workspace (`swegym-build status` lists its repositories)",
                unknown.join(", ")
            )))
        }
    };
    match &cli.command {
        Command::Mine(a) => {
            let opts = MineOptions {
                repos: repo_list(&a.repos, a.repos_file.as_deref())?,
                since: a.since,
                max_pulls: a.max_pulls,
                jobs: a.jobs,
                full: a.full,
            };
            let mut cx = open(Access::ReadWrite, None)?;
            let gh = github_client(&a.github, &progress)?;
            report(g.json, &crate::mine::mine(&mut cx, gh, &opts).await?)
        }
        Command::Import(a) => {
            let opts = ImportOptions { path: a.path.clone(), format: a.format };
            report(g.json, &crate::import::import(&mut open(Access::ReadWrite, None)?, &opts)?)
        }
        Command::Pin(a) => {
            let opts = PinOptions { filter: filter(&a.repos, &[]), force: a.force };
            report(g.json, &crate::pin::pin(&mut open_for(&opts.filter, Access::ReadWrite, Some(&a.source))?, &opts)?)
        }
        Command::Build(a) => {
            let opts = image_options(filter(&a.repos, &a.instances), a.jobs, a.force, a.envs_only, &a.image)?;
            let mut cx = open_for(&opts.filter, Access::ReadWrite, Some(&a.source))?;
            report(g.json, &crate::image::build(&mut cx, &opts).await?)
        }
        Command::Validate(a) => {
            let opts = validate_options(filter(&a.repos, &a.instances), a.jobs, a.force, &a.limits);
            let mut cx = open_for(&opts.filter, Access::ReadWrite, Some(&a.source))?;
            report(g.json, &crate::validate::validate(&mut cx, &opts).await?)
        }
        Command::Refresh(a) => {
            let opts = refresh_options(&ws, a)?;
            let mut cx = open(Access::ReadWrite, Some(&a.source))?;
            let gh = github_client(&a.github, &progress)?;
            let s = crate::refresh::refresh(&mut cx, gh, &opts).await?;
            let path = ws.refresh_summary();
            std::fs::write(&path, to_json(&s)?)
                .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))?;
            let exit = report(g.json, &s);
            if !g.json {
                println!("summary → {}", path.display());
            }
            exit
        }
        Command::Recipe(RecipeCommand::Suggest(a)) => {
            // Reads a mirror only: no store, so it works beside a running stage.
            let mirror = Mirrors::new(ws.mirrors_dir(), a.source.git_url.as_str())
                .open(&a.repo)
                .map_err(|e| Error::Io(e.to_string()))?;
            let commit = match &a.commit {
                Some(c) => c.clone(),
                None => mirror.head().map_err(|e| Error::Io(e.to_string()))?,
            };
            let text =
                crate::recipe::suggest::suggest(&mirror, &a.repo, &commit).map_err(|e| Error::Io(e.to_string()))?;
            print!("{text}");
            Ok(Exit::Ok)
        }
        Command::Export(a) => {
            let opts = ExportOptions {
                splits: if a.splits.is_empty() { vec![Split::Full, Split::Lite] } else { a.splits.clone() },
                formats: if a.formats.is_empty() { vec![Format::Jsonl, Format::Parquet] } else { a.formats.clone() },
                out_dir: a.out.clone().unwrap_or_else(|| ws.exports_dir()),
                extended: a.extended,
                card: !a.no_card,
            };
            report(g.json, &crate::export::export(&mut open(Access::ReadWrite, None)?, &opts)?)
        }
        Command::Report(a) => {
            let opts = ReportOptions { filter: filter(&a.repos, &a.instances), disagreements_only: a.disagreements };
            report(g.json, &crate::report::report(&mut open_for(&opts.filter, Access::ReadOnly, None)?, &opts)?)
        }
        Command::Status => report(g.json, &StatusReport(Store::open(&ws, Access::ReadOnly)?.status()?)),
    }
}

/// The stage context: the store opened for `access`, mirrors and recipes from `source` (defaults
/// without), and Ctrl-C wired to its cancellation signal.
fn open_context(
    ws: &Workspace,
    access: Access,
    source: Option<&SourceArgs>,
    progress: &Progress,
) -> Result<Context, Error> {
    let recipes =
        RecipeBook::load(source.and_then(|s| s.recipes.as_deref())).map_err(|e| Error::Usage(e.to_string()))?;
    let store = Store::open(ws, access)?;
    let git_url = source.map_or(DEFAULT_GIT_URL, |s| s.git_url.as_str());
    let cx = Context::new(ws.clone(), store, git_url, recipes, progress.clone());
    cx.cancel.cancel_on_ctrl_c();
    Ok(cx)
}

/// Prints a summary (JSON with `--json`) and returns its exit code.
fn report<S: Outcome>(json: bool, summary: &S) -> Result<Exit, Error> {
    if json {
        println!("{}", to_json(summary)?);
    } else {
        print!("{summary}");
    }
    Ok(summary.exit())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Io(format!("cannot write JSON: {e}")))
}

fn filter(repos: &[RepoName], instances: &[String]) -> InstanceFilter {
    InstanceFilter { repos: repos.to_vec(), instances: instances.to_vec() }
}

/// The GitHub client, with tokens from the environment.
fn github_client(args: &GitHubArgs, progress: &Progress) -> Result<Arc<GitHub>, Error> {
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

fn image_options(
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
        history: match image.history {
            HistoryArg::Full => History::Full,
            HistoryArg::Shallow => History::Shallow,
        },
        envs_only,
        check_timeout: Duration::from_secs(image.check_timeout),
    })
}

fn validate_options(filter: InstanceFilter, jobs: usize, force: bool, limits: &RunLimitArgs) -> ValidateOptions {
    ValidateOptions {
        filter,
        jobs,
        runs: limits.runs,
        timeout: Duration::from_secs(limits.timeout),
        memory_bytes: limits.memory,
        pids: limits.pids,
        nano_cpus: (limits.cpus * 1e9) as i64,
        force,
    }
}

fn refresh_options(ws: &Workspace, a: &RefreshArgs) -> Result<RefreshOptions, Error> {
    let repos = repo_list(&a.repos, a.repos_file.as_deref())?;
    let every = filter(&repos, &[]);
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
