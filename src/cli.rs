//! Command-line definitions (clap) and the parsers that check each value, so a bad option is a
//! usage error (exit 2) naming the flag before any work starts. No logic here: `app` runs them.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};

use crate::export::{Format, Split};
use crate::import::InputFormat;
use crate::model::RepoName;
use crate::store::InstanceFilter;
use crate::workspace::{env, DEFAULT_GITHUB_API_URL, DEFAULT_WORKSPACE};

/// Turns GitHub history into executable training environments for software-engineering agents.
///
/// Stages talk through one DuckDB file in the workspace; each stage does only what is new, so any
/// command can be stopped (Ctrl-C) and run again.
#[derive(Debug, Parser)]
#[command(name = "swegym-build", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 ok · 1 error · 2 bad usage or input · 3 finished, but some repositories or \
pull requests failed (see the summary) · 4 the workspace is in use by another run · 130 interrupted.\n\n\
Example: GITHUB_TOKEN=… swegym-build mine --repo getmoto/moto && swegym-build export --split raw")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Workspace directory: database, logs, exports.
    #[arg(long, global = true, env = env::WORKSPACE, default_value = DEFAULT_WORKSPACE, value_name = "DIR")]
    pub workspace: PathBuf,
    /// Print the final summary as JSON on stdout (and no progress bars).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars and no notices; errors are still printed.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug). `SWEGYM_LOG` sets a full filter instead.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List merged pull requests that resolve issues and store them as raw task instances.
    ///
    /// Incremental: the next run asks only for PRs updated since the last complete listing.
    /// Reads GITHUB_TOKEN (or GITHUB_TOKENS=a,b,c for rotation) and GITHUB_API_URL.
    Mine(MineArgs),
    /// Load existing task instances (SWE-bench / SWE-Gym schema, JSONL or Parquet) as if mined.
    ///
    /// Their published version, FAIL_TO_PASS and PASS_TO_PASS are kept as reference values for
    /// later stages to compare with. Re-importing updates; mined instances are never overwritten.
    Import(ImportArgs),
    /// Find each instance's version at its base_commit, and per version the environment to build.
    ///
    /// Reads files from a bare git mirror per repository (cloned into the workspace from
    /// SWEGYM_GIT_URL), by the repository's recipe or, without one, from common version files and
    /// tags. Per (repo, version): the environment commit (base commit of its latest instance), the
    /// Python and the dependency cut-off date. Only new or changed instances are pinned.
    Pin(PinArgs),
    /// Build Docker images: base (Debian + Python), environment per (repo, version), instance per task.
    ///
    /// Tags are content-addressed (a hash of every input), so unchanged inputs are never rebuilt.
    /// Each image is checked in a container without network (import, pytest collection of the
    /// touched test files, no git history newer than base_commit); an image that fails is untagged.
    /// Base images come from `python:X.Y-slim` where a registry answers, else from Debian's
    /// packages (debootstrap, as root). Build logs: <workspace>/logs/build/.
    Build(BuildArgs),
    /// Run each instance's touched tests before and after its gold patch; keep FAIL_TO_PASS tests.
    ///
    /// Per instance and phase, `--runs` fresh containers from its instance image (no network,
    /// memory/pid/CPU limits, a time limit per run): apply test_patch (before), or test_patch and
    /// the gold patch (after), run the tests test_patch touches with the recipe's command. Results
    /// come from a pytest plugin writing node ids to a file, never from the printed log. A test
    /// whose outcome differs between runs is flaky and kept out of every list. An instance is
    /// curated iff FAIL_TO_PASS is non-empty; every other one records why. Run k uses
    /// PYTHONHASHSEED=k. Logs: <workspace>/logs/validate/<instance>/.
    Validate(ValidateArgs),
    /// Score model patches (SWE-bench predictions) on the built instance images: the reward.
    ///
    /// Per prediction, a fresh container from its instance image (no network, the same limits
    /// as `validate`): apply the patch (`git apply`, else `patch --fuzz`), restore the test files
    /// and apply the instance's test patch, run its FAIL_TO_PASS and PASS_TO_PASS tests (ours from
    /// validation, else the published lists) under the result plugin. Outcomes: resolved,
    /// unresolved, empty_patch, patch_does_not_apply, error. A patch's edits to the instance's
    /// test files, conftest.py, pytest configuration, sitecustomize/usercustomize or .pth files
    /// are dropped and the prediction is marked tampered. Scores are kept per run id, instance and
    /// patch: a second run does nothing, a killed one resumes. SWE-bench-format reports:
    /// <workspace>/evaluations/<run id>/.
    Evaluate(EvaluateArgs),
    /// Answer reward requests over HTTP: POST /v1/evaluations {instance_id, patch} → the outcome.
    ///
    /// Owns the workspace while it runs. Bounded concurrency (--jobs) and queue (--queue; beyond:
    /// 429 with Retry-After), a request body limit (413), results cached by (instance, patch hash),
    /// a bearer token (SWEGYM_SERVE_TOKEN; required off the loopback). GET /v1/instances lists
    /// what can be scored, GET /healthz answers without a token, GET /openapi.json describes the
    /// API. SIGTERM or Ctrl-C: evaluations in flight are cancelled, their containers removed.
    Serve(ServeArgs),
    /// Run mine → pin → build → validate → export for a list of repositories, doing only what is new.
    ///
    /// For scheduled jobs: one run per workspace at a time (a second one exits with code 4),
    /// a JSON summary (stdout with --json, and always <workspace>/refresh-summary.json), exit
    /// code 3 when something failed. A run right after another does nothing.
    Refresh(RefreshArgs),
    /// Recipes: `recipe suggest` prints a candidate recipe for a repository that has none.
    #[command(subcommand)]
    Recipe(RecipeCommand),
    /// Write dataset files (JSONL, Parquet) in SWE-Gym's published schema.
    Export(ExportArgs),
    /// Compare imported instances (SWE-bench / SWE-Gym rows) with what this pipeline made of them.
    ///
    /// Per instance: the published version beside ours, FAIL_TO_PASS and PASS_TO_PASS beside our
    /// validated lists (ids missing and extra), and why an instance is not curated or how far it
    /// got (not pinned, no version, not built, not validated). Totals at the end.
    Report(ReportArgs),
    /// Run one unit of work of `--executor swarm` (started by the coordinator as a swarm service).
    #[command(hide = true)]
    Worker,
    /// Show the funnel per repository (PRs → linked → instances with tests → pinned → built →
    /// validated → curated → Lite) and why instances were rejected.
    Status,
}

#[derive(Debug, Args)]
pub struct MineArgs {
    /// A repository to mine, OWNER/NAME (repeatable).
    #[arg(long = "repo", value_name = "OWNER/NAME")]
    pub repos: Vec<RepoName>,
    /// A file of repositories, one OWNER/NAME per line; `#` starts a comment
    /// (e.g. data/repos/swe-gym.txt, SWE-Gym's 11 repositories).
    #[arg(long = "repos", value_name = "FILE")]
    pub repos_file: Option<PathBuf>,
    /// Ignore pull requests created before this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// List at most N pull requests per repository (a partial scan: the cursor does not move).
    #[arg(long, value_name = "N")]
    pub max_pulls: Option<usize>,
    /// Pull requests processed at once.
    #[arg(long, short, default_value_t = 4, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: usize,
    /// Re-list every pull request instead of stopping at the last run's cursor.
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub github: GitHubArgs,
}

/// Where repositories are cloned from, and which recipes apply (shared by pin, build, recipe).
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Clone URL template for git mirrors: {owner}, {name}, {repo} (= owner/name) are replaced.
    /// `file:///srv/mirrors/{repo}` points at local copies.
    #[arg(long, env = env::GIT_URL, default_value = crate::git::DEFAULT_GIT_URL, value_name = "TEMPLATE")]
    pub git_url: String,
    /// Read recipes from this directory (`<owner>__<name>.toml`) instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub recipes: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// Only this repository, OWNER/NAME (repeatable); all when not given.
    #[arg(long = "repo", value_name = "OWNER/NAME")]
    pub repos: Vec<RepoName>,
    /// Pin again even instances already pinned by the current rule.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Instance images built at once.
    #[arg(long, short, default_value_t = 2, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: usize,
    /// Rebuild environment and instance images even when an image with the same inputs exists.
    #[arg(long)]
    pub force: bool,
    /// Build environment images only.
    #[arg(long)]
    pub envs_only: bool,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub cluster: ExecutorArgs,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Instances validated at once (each runs one container at a time).
    #[arg(long, short, default_value_t = 2, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: usize,
    #[command(flatten)]
    pub limits: RunLimitArgs,
    /// Validate again even instances whose image and settings have not changed.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub cluster: ExecutorArgs,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Predictions in SWE-bench's format: JSON lines, or a JSON list, of
    /// {instance_id, model_name_or_path, model_patch}.
    #[arg(long, value_name = "FILE")]
    pub predictions: PathBuf,
    /// Names this evaluation (reports go to <workspace>/evaluations/<run id>/); default: the
    /// predictions file's name without its extension.
    #[arg(long, value_name = "ID", value_parser = run_id)]
    pub run_id: Option<String>,
    /// Evaluations at once (one container each).
    #[arg(long, default_value_t = 2, value_parser = at_least_one::<usize>)]
    pub jobs: usize,
    #[command(flatten)]
    pub limits: ContainerLimitArgs,
    #[command(flatten)]
    pub cluster: ExecutorArgs,
}

/// Limits of one test container (shared by `validate`, `refresh`, `evaluate` and `serve`).
#[derive(Debug, Args)]
pub struct ContainerLimitArgs {
    /// Time limit of one run (one container), in seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECS", value_parser = at_least_one::<u64>)]
    pub timeout: u64,
    /// Memory limit per container, e.g. 4g, 512m.
    #[arg(long, default_value = "4g", value_name = "SIZE", value_parser = parse_size)]
    pub memory: i64,
    /// Process limit per container.
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = at_least_one::<i64>)]
    pub pids: i64,
    /// CPUs per container (fractions allowed).
    #[arg(long, default_value_t = 1.0, value_name = "N", value_parser = positive_number)]
    pub cpus: f64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Off the loopback, SWEGYM_SERVE_TOKEN must be set (from the
    /// environment only: clients send it as `Authorization: Bearer <token>`).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Evaluations running at once (one container each).
    #[arg(long, default_value_t = 2, value_parser = at_least_one::<usize>)]
    pub jobs: usize,
    /// New evaluations that may wait for a slot; more get 429 with Retry-After.
    #[arg(long, default_value_t = 32)]
    pub queue: usize,
    /// How long one request may wait for its result, in seconds (then 504; the evaluation goes
    /// on and a repeat of the request gets its result).
    #[arg(long, default_value_t = 3600, value_name = "SECS", value_parser = at_least_one::<u64>)]
    pub request_timeout: u64,
    /// Largest request body, e.g. 10m; larger ones get 413.
    #[arg(long, default_value = "10m", value_name = "SIZE", value_parser = parse_size)]
    pub max_body: i64,
    /// Scores are stored under this run id.
    #[arg(long, default_value = "serve", value_name = "ID", value_parser = run_id)]
    pub run_id: String,
    #[command(flatten)]
    pub limits: ContainerLimitArgs,
    #[command(flatten)]
    pub cluster: ExecutorArgs,
}

/// A run id: letters, digits, `-`, `_` and `.` (it names a directory).
fn run_id(s: &str) -> Result<String, String> {
    if !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?}: use letters, digits, '-', '_' and '.' only (it names a directory)"))
    }
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// A file of repositories, one OWNER/NAME per line; `#` starts a comment.
    #[arg(long = "repos", value_name = "FILE")]
    pub repos_file: Option<PathBuf>,
    /// A repository, OWNER/NAME (repeatable).
    #[arg(long = "repo", value_name = "OWNER/NAME")]
    pub repos: Vec<RepoName>,
    /// mine: ignore pull requests created before this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    #[command(flatten)]
    pub github: GitHubArgs,
    /// Pull requests mined at once; images built and instances validated at once.
    #[arg(long, short, default_value_t = 2, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: usize,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub limits: RunLimitArgs,
    #[command(flatten)]
    pub cluster: ExecutorArgs,
    /// export: output directory (default <workspace>/exports).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// export: add the extended columns.
    #[arg(long)]
    pub extended: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Which instances a stage works on (shared by build, validate and report).
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only this repository, OWNER/NAME (repeatable); every one in the workspace when not given.
    #[arg(long = "repo", value_name = "OWNER/NAME")]
    pub repos: Vec<RepoName>,
    /// Only this instance id (repeatable).
    #[arg(long = "instance", value_name = "ID")]
    pub instances: Vec<String>,
}

impl SelectArgs {
    pub fn filter(&self) -> InstanceFilter {
        InstanceFilter { repos: self.repos.clone(), instances: self.instances.clone() }
    }
}

/// Where GitHub is and how to wait on it (shared by `mine` and `refresh`).
#[derive(Debug, Args)]
pub struct GitHubArgs {
    /// GitHub REST API root (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = env::GITHUB_API_URL, default_value = DEFAULT_GITHUB_API_URL, value_name = "URL")]
    pub api_url: String,
    /// First wait after a secondary rate limit, in seconds; doubles on each repeat.
    #[arg(long, env = env::SECONDARY_BACKOFF, default_value_t = 60, value_name = "SECS")]
    pub secondary_backoff: u64,
    /// First wait after a 5xx or a dropped connection, in milliseconds; doubles on each repeat.
    #[arg(long, env = env::RETRY_BASE_MS, default_value_t = 1000, value_name = "MS", hide = true)]
    pub retry_base_ms: u64,
}

/// Where units of work run (shared by `build`, `validate`, `evaluate`, `serve` and `refresh`).
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// `local`: containers on the engine of DOCKER_HOST. `swarm`: each image build, validation
    /// run and evaluation as a one-off service of the swarm whose manager DOCKER_HOST points at
    /// (workers need only Docker: the worker image carries this program); images go through
    /// --registry. Registry login, if any: SWEGYM_REGISTRY_USERNAME / SWEGYM_REGISTRY_PASSWORD.
    #[arg(long, value_enum, default_value_t = crate::executor::ExecutorKind::Local, help_heading = "Cluster")]
    pub executor: crate::executor::ExecutorKind,
    /// swarm: the registry every node pulls from and pushes to, HOST:PORT[/PREFIX].
    #[arg(long, env = "SWEGYM_REGISTRY", value_name = "HOST:PORT[/PREFIX]", help_heading = "Cluster")]
    pub registry: Option<crate::executor::Registry>,
    /// swarm: how long a task may wait for a node with the memory and CPUs it reserves before it
    /// fails, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS", value_parser = at_least_one::<u64>, help_heading = "Cluster")]
    pub placement_timeout: u64,
    /// swarm: runs of a task whose node was lost (or that ended without a result) before it is
    /// recorded as failed.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = at_least_one::<u32>, help_heading = "Cluster")]
    pub max_attempts: u32,
    /// swarm: a placement constraint for every task (repeatable), e.g. node.role==worker or
    /// node.labels.swegym==yes.
    #[arg(long = "constraint", value_name = "EXPR", help_heading = "Cluster")]
    pub constraints: Vec<String>,
}

/// How images are built (shared by `build` and `refresh`).
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Where base images come from.
    #[arg(long, value_enum, default_value = "auto")]
    pub base: crate::image::base::BaseSource,
    /// CA bundle (PEM) trusted inside every image by apt, pip and uv — for TLS-intercepting proxies.
    #[arg(long, env = "SSL_CERT_FILE", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Debian mirror for locally built base images.
    #[arg(long, default_value = "http://deb.debian.org/debian", value_name = "URL")]
    pub debian_mirror: String,
    /// With `--base uv`: a mirror of python-build-standalone's releases for `uv python install`
    /// (air-gapped machines). No credentials in the URL: it is recorded in the image's history.
    #[arg(long, env = "UV_PYTHON_INSTALL_MIRROR", value_name = "URL")]
    pub python_mirror: Option<String>,
    /// Git history kept in instance images: `full` (every commit up to base_commit) or `shallow`.
    #[arg(long, value_enum, default_value = "full")]
    pub history: HistoryArg,
    /// Directory with Dockerfile templates overriding the built-in ones (base.Dockerfile,
    /// env.Dockerfile, instance.sh, pip, conda-activate).
    #[arg(long, value_name = "DIR")]
    pub dockerfiles: Option<PathBuf>,
    /// Also tag each instance image `sweb.eval.x86_64.<instance id>:latest`, the name SWE-bench's
    /// harness (and harnesses built on it) look for. The images also have SWE-bench's
    /// `/opt/miniconda3/bin/activate` (`conda activate testbed` selects the venv) and `/testbed`.
    #[arg(long)]
    pub swebench_tags: bool,
    /// Keep images whose installs could only resolve WITHOUT the dependency cut-off date (the pip
    /// shim's last fallback). By default such an image fails its `dated` check, naming the install
    /// that went undated, so an environment is never silently "as of today".
    #[arg(long)]
    pub allow_undated: bool,
    /// Time limit for each image's check container, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECS", value_parser = at_least_one::<u64>)]
    pub check_timeout: u64,
}

/// Limits of validation runs (shared by `validate` and `refresh`).
#[derive(Debug, Args)]
pub struct RunLimitArgs {
    /// Runs per phase; a test whose outcome differs between runs is flaky.
    #[arg(long, default_value_t = 3, value_name = "K", value_parser = at_least_one::<u32>)]
    pub runs: u32,
    #[command(flatten)]
    pub container: ContainerLimitArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HistoryArg {
    Full,
    Shallow,
}

#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Inspect a repository (packaging metadata, requirements, tox.ini, environment.yml, CI
    /// workflows) and print a candidate recipe in TOML on stdout.
    Suggest(SuggestArgs),
}

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// The repository, OWNER/NAME.
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: RepoName,
    /// The commit to inspect (default: the mirror's HEAD).
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// List only the instances that differ from their published row or are not curated.
    #[arg(long)]
    pub disagreements: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSONL or Parquet file, e.g. ../shared/data/reference/swebench_lite_test.jsonl.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The file's format; by default from the extension, else from its first bytes.
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Which instances (repeatable): `full` = curated (validated, ≥ 1 FAIL_TO_PASS test), `lite` =
    /// the curated ones meeting the SWE-bench Lite criteria, `raw` = every instance with a
    /// test_patch, unvalidated. Default: full and lite.
    #[arg(long = "split", value_enum, value_name = "SPLIT")]
    pub splits: Vec<Split>,
    /// File format (repeatable); both when not given.
    #[arg(long = "format", value_enum)]
    pub formats: Vec<Format>,
    /// Output directory (files are named <split>.jsonl / <split>.parquet, plus README.md, the
    /// dataset card, and repos.svg). Default: <workspace>/exports.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write environment_setup_commit, pull_number, issue_numbers, image, python, recipe,
    /// flaky, FAIL_TO_FAIL and PASS_TO_FAIL (the plain files have SWE-Gym's 11 columns only).
    #[arg(long)]
    pub extended: bool,
    /// Do not write the dataset card (README.md) and chart.
    #[arg(long)]
    pub no_card: bool,
}

/// A whole number of at least 1 (`--jobs`, `--runs`, `--timeout`, `--pids` …).
fn at_least_one<T: FromStr + PartialOrd + From<u8>>(s: &str) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        _ => Err("expected a whole number of at least 1".into()),
    }
}

/// A positive number, fractions allowed (`--cpus 0.5`).
fn positive_number(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(n),
        _ => Err("expected a positive number such as 2 or 0.5".into()),
    }
}

/// A memory size in bytes: `4g`, `512m`, `1024k`, or a number of bytes.
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    match num.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && (n * mult as f64) < i64::MAX as f64 => Ok((n * mult as f64) as i64),
        _ => Err("expected a size such as 4g, 512m or 1073741824".into()),
    }
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| "expected a date like 2024-01-31 or 2024-01-31T12:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("swegym-build").chain(args.iter().copied()))
    }

    #[test]
    fn since_accepts_dates_and_rfc3339() {
        assert_eq!(parse_since("2024-01-31").unwrap().to_rfc3339(), "2024-01-31T00:00:00+00:00");
        assert_eq!(parse_since("2024-01-31T12:00:00Z").unwrap().to_rfc3339(), "2024-01-31T12:00:00+00:00");
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn sizes_in_units_and_bytes() {
        assert_eq!(parse_size("4g"), Ok(4 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1024kb"), Ok(1 << 20));
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        for bad in ["", "0", "-1g", "lots", "1e300g"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repo_must_be_owner_slash_name_for_every_stage() {
        for stage in ["mine", "pin", "build", "validate", "refresh"] {
            let e = parse(&[stage, "--repo", "not-a-repo"]).expect_err(stage);
            assert_eq!(e.exit_code(), 2, "{stage}");
            let text = e.to_string();
            assert!(text.contains("--repo") && text.contains("OWNER/NAME"), "{stage}: {text}");
        }
        let e = parse(&["recipe", "suggest", "--repo", "x"]).expect_err("suggest");
        assert!(e.to_string().contains("OWNER/NAME"));
    }

    #[test]
    fn jobs_and_limits_must_be_at_least_one() {
        for (args, flag) in [
            (&["mine", "--repo", "a/b", "--jobs", "0"][..], "--jobs"),
            (&["build", "-j", "0"], "--jobs"),
            (&["validate", "--jobs=-1"], "--jobs"),
            (&["validate", "--runs", "0"], "--runs"),
            (&["validate", "--timeout", "0"], "--timeout"),
            (&["validate", "--pids", "0"], "--pids"),
            (&["validate", "--cpus", "0"], "--cpus"),
            (&["validate", "--memory", "none"], "--memory"),
            (&["refresh", "--jobs", "0"], "--jobs"),
            (&["build", "--check-timeout", "0"], "--check-timeout"),
        ] {
            let e = parse(args).expect_err(&args.join(" "));
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(flag), "{args:?}: {e}");
        }
        let ok = parse(&["validate", "--jobs", "3", "--cpus", "0.5", "--memory", "512m"]).expect("valid");
        let Command::Validate(v) = ok.command else { panic!("validate") };
        assert_eq!((v.jobs, v.limits.container.cpus, v.limits.container.memory), (3, 0.5, 512 << 20));
    }
}
