//! Runs a parsed command line: reads settings, calls the stage, prints the summary.
//! Summaries go to stdout (a table, or JSON with `--json`); progress and logs go to stderr.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::cancel::Cancel;
use crate::cli::{
    BuildArgs, Cli, Command, ExportArgs, GitHubArgs, GlobalArgs, HistoryArg, ImageArgs, ImportArgs, MineArgs, PinArgs,
    RecipeCommand, RefreshArgs, RunLimitArgs, SourceArgs, SuggestArgs, ValidateArgs,
};
use crate::error::{Error, Exit};
use crate::export::{self, ExportOptions, Format, Split};
use crate::git::History;
use crate::git::Mirrors;
use crate::github::{ClientConfig, GitHub, Token};
use crate::image::{self, BuildOptions, Templates};
use crate::mine::{self, MineOptions, MineSummary};
use crate::model::RepoName;
use crate::pin::{self, PinOptions};
use crate::progress::{init_logging, Progress};
use crate::recipe::RecipeBook;
use crate::store::{Access, InstanceFilter, RepoStatus, Store};
use crate::validate;
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
        Command::Pin(args) => {
            let log = init_logging(&progress, &filter, Some(&ws.logs_dir()), "pin");
            tracing::debug!(log = ?log, "pin");
            run_pin(g, &ws, args, &progress)
        }
        Command::Build(args) => {
            let log = init_logging(&progress, &filter, Some(&ws.logs_dir()), "build");
            tracing::debug!(log = ?log, "build");
            run_build(g, &ws, args, &progress).await
        }
        Command::Validate(args) => {
            let log = init_logging(&progress, &filter, Some(&ws.logs_dir()), "validate");
            tracing::debug!(log = ?log, "validate");
            run_validate(g, &ws, args, &progress).await
        }
        Command::Refresh(args) => run_refresh(g, &ws, args, &progress, &filter).await,
        Command::Recipe(RecipeCommand::Suggest(args)) => {
            init_logging(&progress, &filter, None, "recipe");
            run_suggest(&ws, args)
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

    let gh = github_client(&args.github, progress)?;

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

/// The GitHub client, with tokens from the environment.
fn github_client(args: &GitHubArgs, progress: &Progress) -> Result<Arc<GitHub>, Error> {
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
    Ok(Arc::new(GitHub::new(cfg, Arc::new(move |m: String| notices.println(&m)))?))
}

async fn run_refresh(
    g: &GlobalArgs,
    ws: &Workspace,
    args: &RefreshArgs,
    progress: &Progress,
    filter: &str,
) -> Result<Exit, Error> {
    let repos = resolve_repos(&args.repos, args.repos_file.as_deref())?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let book = recipes(&args.source)?;
    let build = build_options(InstanceFilter::all(), args.jobs.max(1), false, false, &args.image)?;
    let validate = validate_options(InstanceFilter::all(), args.jobs, false, &args.limits)?;

    let mut store = Store::open(ws, Access::ReadWrite)?;
    let log = init_logging(progress, filter, Some(&ws.logs_dir()), "refresh");
    tracing::info!(log = ?log, "refresh: {} repositories", repos.len());
    let gh = github_client(&args.github, progress)?;
    let mirrors = Mirrors::new(ws.mirrors_dir(), args.source.git_url.clone());
    let cancel = Cancel::new();
    cancel.cancel_on_ctrl_c();
    let opts = crate::refresh::RefreshOptions {
        mine: MineOptions { repos, since, max_pulls: None, jobs: args.jobs.max(1), full: false },
        build,
        validate,
        export: ExportOptions {
            splits: vec![Split::Full, Split::Lite],
            formats: vec![Format::Jsonl, Format::Parquet],
            out_dir: args.out.clone().unwrap_or_else(|| ws.exports_dir()),
            extended: args.extended,
            card: true,
        },
    };
    let s = crate::refresh::refresh(&mut store, ws, gh, &mirrors, &book, &opts, progress, &cancel).await?;
    let json = to_json(&s)?;
    let path = ws.refresh_summary();
    std::fs::write(&path, &json).map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))?;
    if g.json {
        println!("{json}");
    } else {
        if let Some(m) = &s.mine {
            let n: u64 = m.repos.iter().map(|r| r.instances).sum();
            println!("mine      {n} new or updated instances");
        }
        if let Some(p) = &s.pin {
            println!("pin       {} pinned, {} without a version", p.pinned, p.not_found);
        }
        if let Some(b) = &s.build {
            println!("build     {} built, {} reused, {} failed", b.built, b.reused, b.failed);
        }
        if let Some(v) = &s.validate {
            println!(
                "validate  {} validated: {} curated, {} rejected; {} unchanged",
                v.validated, v.curated, v.rejected, v.unchanged
            );
        }
        match &s.export {
            Some(e) => {
                for f in &e.files {
                    println!("export    {:<5} {} rows → {}", f.split.as_str(), f.rows, f.path.display());
                }
            }
            None => println!("export    nothing new"),
        }
        for f in &s.failures {
            println!("failed: {f}");
        }
        println!("{:.1}s; summary → {}", s.seconds, path.display());
    }
    Ok(if s.interrupted {
        Exit::Interrupted
    } else if !s.failures.is_empty() {
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

fn recipes(source: &SourceArgs) -> Result<RecipeBook, Error> {
    RecipeBook::load(source.recipes.as_deref()).map_err(|e| Error::Usage(e.to_string()))
}

fn run_pin(g: &GlobalArgs, ws: &Workspace, args: &PinArgs, progress: &Progress) -> Result<Exit, Error> {
    let book = recipes(&args.source)?;
    let mut store = Store::open(ws, Access::ReadWrite)?;
    let mirrors = Mirrors::new(ws.mirrors_dir(), args.source.git_url.clone());
    let cancel = Cancel::new();
    cancel.cancel_on_ctrl_c();
    let opts = PinOptions { repos: args.repos.clone(), force: args.force };
    let s = pin::pin(&mut store, &mirrors, &book, &opts, progress, &cancel)?;
    if g.json {
        println!("{}", to_json(&s)?);
    } else {
        println!(
            "{:<36} {:>7} {:>9} {:>9} {:>8}  {:<16} published agree",
            "repo", "pinned", "not found", "unchanged", "versions", "recipe"
        );
        for r in &s.repos {
            let agree = if r.published_compared > 0 {
                format!("{}/{}", r.published_agree, r.published_compared)
            } else {
                "-".into()
            };
            println!(
                "{:<36} {:>7} {:>9} {:>9} {:>8}  {:<16} {}",
                r.repo, r.pinned, r.not_found, r.unchanged, r.versions, r.recipe, agree
            );
            for (id, ours, theirs) in &r.disagreements {
                println!("  {id}: pinned {} but published {theirs}", ours.as_deref().unwrap_or("nothing"));
            }
            if let Some(e) = &r.error {
                println!("  error: {e}");
            }
        }
        println!(
            "{} pinned, {} without a version (reasons: `status --json`), {:.2}s ({:.0} instances/s){}",
            s.pinned,
            s.not_found,
            s.seconds,
            s.instances_per_second,
            if s.interrupted { " — interrupted; run again to finish" } else { "" }
        );
    }
    Ok(if s.interrupted {
        Exit::Interrupted
    } else if s.has_failures() {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

/// `--repo` and `--instance` as one selection (none: everything).
fn instance_filter(repos: &[String], instances: &[String]) -> Result<InstanceFilter, Error> {
    let repos = repos
        .iter()
        .map(|r| r.parse().map_err(|e: crate::model::BadRepoName| Error::Usage(format!("--repo: {e}"))))
        .collect::<Result<_, _>>()?;
    Ok(InstanceFilter { repos, instances: instances.to_vec() })
}

fn build_options(
    filter: InstanceFilter,
    jobs: usize,
    force: bool,
    envs_only: bool,
    image: &ImageArgs,
) -> Result<BuildOptions, Error> {
    let templates = Templates::load(image.dockerfiles.as_deref()).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(BuildOptions {
        filter,
        templates,
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

async fn run_build(g: &GlobalArgs, ws: &Workspace, args: &BuildArgs, progress: &Progress) -> Result<Exit, Error> {
    if args.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    let book = recipes(&args.source)?;
    let filter = instance_filter(&args.repos, &args.instances)?;
    let opts = build_options(filter, args.jobs, args.force, args.envs_only, &args.image)?;
    let mut store = Store::open(ws, Access::ReadWrite)?;
    let mirrors = Mirrors::new(ws.mirrors_dir(), args.source.git_url.clone());
    let cancel = Cancel::new();
    cancel.cancel_on_ctrl_c();
    let s = image::build(&mut store, ws, &mirrors, &book, &opts, progress, &cancel).await?;
    if g.json {
        println!("{}", to_json(&s)?);
    } else {
        for i in &s.images {
            let size = i.size_bytes.map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_else(|| "-".into());
            println!("{:<8} {:<7} {:>10} {:>7.1}s  {}", i.tier, i.state, size, i.seconds, i.tag);
            if let Some(e) = &i.error {
                for line in e.lines() {
                    println!("    {line}");
                }
            }
        }
        println!(
            "{} built, {} reused, {} failed{}, {:.1}s{}",
            s.built,
            s.reused,
            s.failed,
            if s.unpinned > 0 { format!(", {} without a version (run `pin`)", s.unpinned) } else { String::new() },
            s.seconds,
            if s.interrupted { " — interrupted; run again to finish" } else { "" }
        );
    }
    Ok(if s.interrupted {
        Exit::Interrupted
    } else if s.failed > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

/// Parses a memory size: `4g`, `512m`, `1024k`, or bytes.
pub fn parse_size(s: &str) -> Result<i64, Error> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    match num.trim().parse::<f64>() {
        Ok(n) if n > 0.0 => Ok((n * mult as f64) as i64),
        _ => Err(Error::Usage(format!("--memory {s}: expected a size such as 4g, 512m or 1073741824"))),
    }
}

fn validate_options(
    filter: InstanceFilter,
    jobs: usize,
    force: bool,
    limits: &RunLimitArgs,
) -> Result<validate::ValidateOptions, Error> {
    if jobs == 0 || limits.runs == 0 || limits.timeout == 0 || limits.pids <= 0 {
        return Err(Error::Usage("--jobs, --runs, --timeout and --pids must be at least 1".into()));
    }
    if !(limits.cpus > 0.0) {
        return Err(Error::Usage(format!("--cpus {}: expected a positive number", limits.cpus)));
    }
    Ok(validate::ValidateOptions {
        filter,
        jobs,
        runs: limits.runs,
        timeout: Duration::from_secs(limits.timeout),
        memory_bytes: parse_size(&limits.memory)?,
        pids: limits.pids,
        nano_cpus: (limits.cpus * 1e9) as i64,
        force,
    })
}

async fn run_validate(g: &GlobalArgs, ws: &Workspace, args: &ValidateArgs, progress: &Progress) -> Result<Exit, Error> {
    let filter = instance_filter(&args.repos, &args.instances)?;
    let opts = validate_options(filter, args.jobs, args.force, &args.limits)?;
    let mut store = Store::open(ws, Access::ReadWrite)?;
    let cancel = Cancel::new();
    cancel.cancel_on_ctrl_c();
    let s = validate::validate(&mut store, ws, &opts, progress, &cancel).await?;
    if g.json {
        println!("{}", to_json(&s)?);
    } else {
        print_validate_summary(&s);
    }
    Ok(if s.interrupted { Exit::Interrupted } else { Exit::Ok })
}

fn print_validate_summary(s: &validate::ValidateSummary) {
    for i in &s.instances {
        let lists = format!("F2P {} · P2P {} · flaky {}", i.fail_to_pass, i.pass_to_pass, i.flaky);
        let what = match i.reason {
            Some(r) => r.as_str().to_string(),
            None => "curated".into(),
        };
        println!("{:<45} {:<26} {:<32} {:>7.1}s", i.instance_id, what, lists, i.seconds);
        if let Some(d) = &i.detail {
            for line in d.lines().take(8) {
                println!("    {line}");
            }
        }
        if let Some(p) = &i.published {
            let word = |a: &validate::classify::ListAgreement| {
                if a.same {
                    "same".to_string()
                } else {
                    format!("{} missing, {} extra", a.missing.len(), a.extra.len())
                }
            };
            println!("    published: FAIL_TO_PASS {} · PASS_TO_PASS {}", word(&p.fail_to_pass), word(&p.pass_to_pass));
        }
    }
    let reasons: Vec<String> = s.by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!(
        "{} validated: {} curated, {} rejected{}; {} unchanged{}{}",
        s.validated,
        s.curated,
        s.rejected,
        if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) },
        s.unchanged,
        if s.without_image > 0 {
            format!(", {} without an image (run `build`)", s.without_image)
        } else {
            String::new()
        },
        if s.without_recipe > 0 { format!(", {} without a recipe", s.without_recipe) } else { String::new() },
    );
    if s.published_compared > 0 {
        println!(
            "published lists: FAIL_TO_PASS identical for {}/{}, PASS_TO_PASS for {}/{}",
            s.published_f2p_same, s.published_compared, s.published_p2p_same, s.published_compared
        );
    }
    if let Some(o) = s.mean_overhead_seconds {
        println!(
            "{} runs, {:.2} s overhead per run (container start to results, minus pytest), {:.1}s",
            s.runs, o, s.seconds
        );
    }
    if s.swept_containers > 0 {
        println!("removed {} containers left by an earlier, killed run", s.swept_containers);
    }
    if s.interrupted {
        println!("interrupted — run again to finish (validated instances are kept)");
    }
}

fn run_suggest(ws: &Workspace, args: &SuggestArgs) -> Result<Exit, Error> {
    let repo: RepoName = args.repo.parse().map_err(|e| Error::Usage(format!("--repo: {e}")))?;
    let mirrors = Mirrors::new(ws.mirrors_dir(), args.source.git_url.clone());
    let mirror = mirrors.open(&repo).map_err(|e| Error::Io(e.to_string()))?;
    let commit = match &args.commit {
        Some(c) => c.clone(),
        None => mirror.head().map_err(|e| Error::Io(e.to_string()))?,
    };
    let text = crate::recipe::suggest::suggest(&mirror, &repo, &commit).map_err(|e| Error::Io(e.to_string()))?;
    print!("{text}");
    Ok(Exit::Ok)
}

fn run_export(g: &GlobalArgs, ws: &Workspace, args: &ExportArgs) -> Result<Exit, Error> {
    let store = Store::open(ws, Access::ReadWrite)?;
    let formats = if args.formats.is_empty() { vec![Format::Jsonl, Format::Parquet] } else { args.formats.clone() };
    let splits = if args.splits.is_empty() { vec![Split::Full, Split::Lite] } else { args.splits.clone() };
    let out_dir = args.out.clone().unwrap_or_else(|| ws.exports_dir());
    let opts = ExportOptions { splits, formats, out_dir, extended: args.extended, card: !args.no_card };
    let summary = export::export(&store, &opts)?;
    if g.json {
        println!("{}", to_json(&summary)?);
    } else {
        for f in &summary.files {
            println!("{:<5} {} rows → {}", f.split.as_str(), f.rows, f.path.display());
        }
        if !summary.lite_rejections.is_empty() {
            let why: Vec<String> = summary.lite_rejections.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("not in lite: {}", why.join(", "));
        }
        if let Some(card) = &summary.card {
            println!("dataset card → {}", card.display());
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
        "{:<32} {:>6} {:>6} {:>6} {:>9} {:>10} {:>6} {:>7} {:>8} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7} {:>5}",
        "repo",
        "PRs",
        "merged",
        "linked",
        "instances",
        "with tests",
        "failed",
        "pinned",
        "no vers.",
        "versions",
        "agree",
        "envs",
        "images",
        "disk",
        "validated",
        "curated",
        "lite"
    );
    let mut disk = 0;
    for r in rows {
        let agree = if r.published_compared > 0 {
            format!("{}/{}", r.published_agree, r.published_compared)
        } else {
            "-".into()
        };
        let envs = format!(
            "{}{}",
            r.envs_built,
            if r.envs_failed > 0 { format!("+{}!", r.envs_failed) } else { String::new() }
        );
        let imgs = format!(
            "{}{}",
            r.images_built,
            if r.images_failed > 0 { format!("+{}!", r.images_failed) } else { String::new() }
        );
        disk += r.image_bytes;
        let _ = writeln!(
            out,
            "{:<32} {:>6} {:>6} {:>6} {:>9} {:>10} {:>6} {:>7} {:>8} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7} {:>5}",
            r.repo,
            r.pulls_scanned,
            r.merged,
            r.linked,
            r.instances,
            r.instances_with_tests,
            r.failed,
            r.pinned,
            r.pin_not_found,
            r.versions,
            agree,
            envs,
            imgs,
            human_bytes(r.image_bytes),
            r.validated,
            r.curated,
            r.lite
        );
        if !r.rejected.is_empty() {
            let why: Vec<String> = r.rejected.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(out, "  not curated: {}", why.join(", "));
        }
        if !r.python_substitutions.is_empty() {
            let _ = writeln!(out, "  Python substituted (wanted→used): {}", r.python_substitutions.join(", "));
        }
        if let Some(e) = &r.last_error {
            let _ = writeln!(out, "  last error: {e}");
        }
    }
    let _ =
        writeln!(out, "images: {} on disk (environment and instance layers; `+N!` = failed builds)", human_bytes(disk));
    out
}

/// Decimal units, as `build` and `docker images` print them.
fn human_bytes(b: u64) -> String {
    if b == 0 {
        "-".into()
    } else if b >= 1_000_000_000 {
        format!("{:.1} GB", b as f64 / 1e9)
    } else {
        format!("{:.0} MB", b as f64 / 1e6)
    }
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
