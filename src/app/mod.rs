//! Runs a parsed command line: builds the stage context once, calls the stage, prints its summary
//! (a table via `Display`, or JSON via `Serialize` with `--json`) and returns the exit code.
//! Summaries go to stdout; progress and logs go to stderr.

mod options;
mod summary;
mod worker;

use crate::cli::{Cli, Command, RecipeCommand, SourceArgs};
use crate::context::Context;
use crate::error::{Error, Exit};
use crate::export::{ExportOptions, Format, Split};
use crate::git::{Mirrors, DEFAULT_GIT_URL};
use crate::import::ImportOptions;
use crate::mine::MineOptions;
use crate::pin::PinOptions;
use crate::progress::{init_logging, Progress};
use crate::recipe::RecipeBook;
use crate::report::ReportOptions;
use crate::store::{Access, InstanceFilter, Store};
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
        Command::Evaluate(_) => ("evaluate", true),
        Command::Serve(_) => ("serve", true),
        Command::Refresh(_) => ("refresh", true),
        Command::Recipe(_) => ("recipe", false),
        Command::Export(_) => ("export", false),
        Command::Report(_) => ("report", false),
        Command::Status => ("status", false),
        Command::Worker => ("worker", false),
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
                repos: options::repo_list(&a.repos, a.repos_file.as_deref())?,
                since: a.since,
                max_pulls: a.max_pulls,
                jobs: a.jobs,
                full: a.full,
            };
            let mut cx = open(Access::ReadWrite, None)?;
            let gh = options::github_client(&a.github, &progress)?;
            report(g.json, &crate::mine::mine(&mut cx, gh, &opts).await?)
        }
        Command::Import(a) => {
            let opts = ImportOptions { path: a.path.clone(), format: a.format };
            report(g.json, &crate::import::import(&mut open(Access::ReadWrite, None)?, &opts)?)
        }
        Command::Pin(a) => {
            let opts =
                PinOptions { filter: InstanceFilter { repos: a.repos.clone(), instances: vec![] }, force: a.force };
            report(g.json, &crate::pin::pin(&mut open_for(&opts.filter, Access::ReadWrite, Some(&a.source))?, &opts)?)
        }
        Command::Build(a) => {
            let opts = options::image_options(a.select.filter(), a.jobs, a.force, a.envs_only, &a.image)?;
            let mut cx = open_for(&opts.filter, Access::ReadWrite, Some(&a.source))?;
            options::use_executor(&mut cx, &a.cluster, &opts).await?;
            let r = crate::image::build(&mut cx, &opts).await;
            cx.close().await;
            report(g.json, &r?)
        }
        Command::Validate(a) => {
            let opts = options::validate_options(a.select.filter(), a.jobs, a.force, &a.limits);
            // Images record the environment they were built with: no recipes or mirrors needed.
            let mut cx = open_for(&opts.filter, Access::ReadWrite, None)?;
            options::use_executor(&mut cx, &a.cluster, &options::worker_build_options()?).await?;
            let r = crate::validate::validate(&mut cx, &opts).await;
            cx.close().await;
            report(g.json, &r?)
        }
        Command::Evaluate(a) => {
            let opts = options::evaluate_options(&ws, a);
            // Images record the environment they were built with: no recipes or mirrors needed.
            let mut cx = open(Access::ReadWrite, None)?;
            options::use_executor(&mut cx, &a.cluster, &options::worker_build_options()?).await?;
            let r = crate::evaluate::evaluate(&mut cx, &opts).await;
            cx.close().await;
            report(g.json, &r?)
        }
        Command::Serve(a) => {
            let opts = options::serve_options(a);
            let mut cx = open(Access::ReadWrite, None)?;
            options::use_executor(&mut cx, &a.cluster, &options::worker_build_options()?).await?;
            let ready = |addr| {
                // The first line of stdout: scripts and tests read the address from it.
                println!("listening on http://{addr}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
            };
            let s = crate::serve::serve(cx, &opts, ready, crate::serve::shutdown_signal()).await?;
            report(g.json, &s)
        }
        Command::Refresh(a) => {
            let opts = options::refresh_options(&ws, a)?;
            let mut cx = open(Access::ReadWrite, Some(&a.source))?;
            options::use_executor(&mut cx, &a.cluster, &opts.build).await?;
            let gh = options::github_client(&a.github, &progress)?;
            let s = crate::refresh::refresh(&mut cx, gh, &opts).await;
            cx.close().await;
            let s = s?;
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
            let opts = ReportOptions { filter: a.select.filter(), disagreements_only: a.disagreements };
            report(g.json, &crate::report::report(&mut open_for(&opts.filter, Access::ReadOnly, None)?, &opts)?)
        }
        Command::Status => report(g.json, &StatusReport(Store::open(&ws, Access::ReadOnly)?.status()?)),
        Command::Worker => Ok(worker::run().await),
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
