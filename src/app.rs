//! Runs a parsed command line: reads settings, calls the stage, prints the summary.
//! Summaries go to stdout (a table, or JSON with `--json`); progress and logs go to stderr.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::cancel::Cancel;
use crate::cli::{Cli, Command, ExportArgs, GlobalArgs, ImportArgs, MineArgs};
use crate::error::{Error, Exit};
use crate::export::{self, ExportOptions, Format};
use crate::github::{ClientConfig, GitHub, Token};
use crate::mine::{self, MineOptions, MineSummary};
use crate::model::RepoName;
use crate::progress::{init_logging, Progress};
use crate::store::{Access, RepoStatus, Store};
use crate::workspace::{env, Workspace};

/// Runs one command; the `Exit` says how it ended when it did not fail outright.
pub async fn run(cli: Cli) -> Result<Exit, Error> {
    let g = &cli.global;
    let ws = Workspace::new(&g.workspace);
    let progress = Progress::new(!g.json, g.quiet);
    let level = match g.verbose {
        0 => "warn",
        1 => "warn,swegym_build=info",
        _ => "warn,swegym_build=debug",
    };
    let filter = std::env::var(env::LOG).unwrap_or_else(|_| level.to_string());
    match &cli.command {
        Command::Mine(args) => run_mine(g, &ws, args, &progress, &filter).await,
        Command::Import(args) => {
            init_logging(&progress, &filter, None, "import");
            run_import(g, &ws, args)
        }
        Command::Export(args) => {
            init_logging(&progress, &filter, None, "export");
            run_export(g, &ws, args)
        }
        Command::Status => {
            init_logging(&progress, &filter, None, "status");
            run_status(g, &ws)
        }
    }
}

async fn run_mine(
    g: &GlobalArgs,
    ws: &Workspace,
    args: &MineArgs,
    progress: &Progress,
    filter: &str,
) -> Result<Exit, Error> {
    let repos = resolve_repos(&args.repos, args.repos_file.as_deref())?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    if args.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    let mut store = Store::open(ws, Access::ReadWrite)?;
    let log = init_logging(progress, filter, Some(&ws.logs_dir()), "mine");
    tracing::info!(workspace = %ws.root().display(), log = ?log, "mine: {} repositories", repos.len());

    let tokens = tokens_from_env();
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
    let gh = Arc::new(GitHub::new(cfg, Arc::new(move |m: String| notices.println(&m)))?);

    let cancel = Cancel::new();
    cancel.cancel_on_ctrl_c();
    let opts = MineOptions { repos, since, max_pulls: args.max_pulls, jobs: args.jobs, full: args.full };
    let summary = mine::mine(&mut store, gh, &opts, progress, &cancel).await?;
    print_mine_summary(g, &summary)?;
    Ok(if summary.interrupted {
        Exit::Interrupted
    } else if summary.has_failures() {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

fn run_import(g: &GlobalArgs, ws: &Workspace, args: &ImportArgs) -> Result<Exit, Error> {
    let mut store = Store::open(ws, Access::ReadWrite)?;
    let summary = crate::import::import(&mut store, &args.path, args.format)?;
    if g.json {
        println!("{}", to_json(&summary)?);
    } else {
        println!(
            "{}: {} rows, {} instances imported, {} already mined (published values recorded)",
            summary.path.display(),
            summary.rows,
            summary.imported,
            summary.kept_mined
        );
    }
    Ok(Exit::Ok)
}

fn run_export(g: &GlobalArgs, ws: &Workspace, args: &ExportArgs) -> Result<Exit, Error> {
    let store = Store::open(ws, Access::ReadWrite)?;
    let formats = if args.formats.is_empty() { vec![Format::Jsonl, Format::Parquet] } else { args.formats.clone() };
    let out_dir = args.out.clone().unwrap_or_else(|| ws.exports_dir());
    let summary = export::export(&store, &ExportOptions { split: args.split, formats, out_dir })?;
    if g.json {
        println!("{}", to_json(&summary)?);
    } else {
        for f in &summary.files {
            println!("{} rows → {}", f.rows, f.path.display());
        }
    }
    Ok(Exit::Ok)
}

fn run_status(g: &GlobalArgs, ws: &Workspace) -> Result<Exit, Error> {
    let store = Store::open(ws, Access::ReadOnly)?;
    let rows = store.status()?;
    if g.json {
        println!("{}", to_json(&rows)?);
    } else {
        print!("{}", status_table(&rows));
    }
    Ok(Exit::Ok)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Io(format!("cannot write JSON: {e}")))
}

fn print_mine_summary(g: &GlobalArgs, s: &MineSummary) -> Result<(), Error> {
    if g.json {
        println!("{}", to_json(s)?);
        return Ok(());
    }
    println!(
        "{:<40} {:>7} {:>8} {:>9} {:>9} {:>10} {:>6}",
        "repo", "listed", "unmerged", "processed", "instances", "with tests", "failed"
    );
    for r in &s.repos {
        println!(
            "{:<40} {:>7} {:>8} {:>9} {:>9} {:>10} {:>6}",
            r.repo, r.listed, r.unmerged, r.processed, r.instances, r.instances_with_tests, r.failed
        );
        if let Some(e) = &r.error {
            println!("  error: {e}");
        }
    }
    let mut kinds: Vec<_> = s.requests_by_kind.iter().collect();
    kinds.sort();
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "requests: {} ({}), retries {}, rate-limit waits {}s, {:.1}s{}",
        s.requests_total,
        kinds.join(", "),
        s.retries,
        s.rate_limit_wait_secs,
        s.elapsed_secs,
        if s.interrupted { " — interrupted; run again to finish" } else { "" }
    );
    Ok(())
}

/// The `status` table.
pub fn status_table(rows: &[RepoStatus]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("no repositories yet: run `swegym-build mine --repo OWNER/NAME`\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<40} {:>8} {:>7} {:>7} {:>9} {:>10} {:>6} {:>9}  last mined",
        "repo", "PRs", "merged", "linked", "instances", "with tests", "failed", "requests"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<40} {:>8} {:>7} {:>7} {:>9} {:>10} {:>6} {:>9}  {}",
            r.repo,
            r.pulls_scanned,
            r.merged,
            r.linked,
            r.instances,
            r.instances_with_tests,
            r.failed,
            r.requests,
            r.last_mined_at.as_deref().unwrap_or("-")
        );
        if let Some(e) = &r.last_error {
            let _ = writeln!(out, "  last error: {e}");
        }
    }
    out
}

/// Tokens from `GITHUB_TOKENS` (comma-separated), else `GITHUB_TOKEN`.
fn tokens_from_env() -> Vec<Token> {
    let many = std::env::var(env::GITHUB_TOKENS).unwrap_or_default();
    let mut tokens: Vec<Token> = many.split(',').map(str::trim).filter(|t| !t.is_empty()).map(Token::new).collect();
    if tokens.is_empty() {
        if let Ok(t) = std::env::var(env::GITHUB_TOKEN) {
            if !t.trim().is_empty() {
                tokens.push(Token::new(t.trim()));
            }
        }
    }
    tokens
}

/// `--repo` values and the lines of `--repos FILE`, deduplicated in order.
pub fn resolve_repos(repos: &[String], file: Option<&Path>) -> Result<Vec<RepoName>, Error> {
    let mut out: Vec<RepoName> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in repos {
        let name: RepoName = r.parse().map_err(|e: crate::model::BadRepoName| Error::Usage(format!("--repo: {e}")))?;
        if seen.insert(name.to_string().to_ascii_lowercase()) {
            out.push(name);
        }
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--repos {}: cannot read: {e}", path.display())))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let name: RepoName = line
                .parse()
                .map_err(|e: crate::model::BadRepoName| Error::Usage(format!("{}:{}: {e}", path.display(), i + 1)))?;
            if seen.insert(name.to_string().to_ascii_lowercase()) {
                out.push(name);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Usage("no repositories: pass --repo OWNER/NAME (repeatable) or --repos FILE".into()));
    }
    Ok(out)
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| Error::Usage(format!("--since {s}: expected a date like 2024-01-31 or 2024-01-31T12:00:00Z")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_file_with_comments_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("repos.txt");
        std::fs::write(&f, "# SWE-Gym\ngetmoto/moto  # moto\n\npython/mypy\nGetmoto/Moto\n").unwrap();
        let r = resolve_repos(&["python/mypy".into()], Some(&f)).unwrap();
        let names: Vec<String> = r.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["python/mypy", "getmoto/moto"]);
    }

    #[test]
    fn bad_repos_file_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("repos.txt");
        std::fs::write(&f, "getmoto/moto\nnot-a-repo\n").unwrap();
        let e = resolve_repos(&[], Some(&f)).unwrap_err().to_string();
        assert!(e.contains("repos.txt:2"), "{e}");
        assert!(e.contains("OWNER/NAME"), "{e}");
    }

    #[test]
    fn since_accepts_dates_and_rfc3339() {
        assert_eq!(parse_since("2024-01-31").unwrap().to_rfc3339(), "2024-01-31T00:00:00+00:00");
        assert_eq!(parse_since("2024-01-31T12:00:00Z").unwrap().to_rfc3339(), "2024-01-31T12:00:00+00:00");
        assert!(parse_since("yesterday").is_err());
    }
}
