//! Shared test support: a `TestContext` with a fake GitHub, a workspace, and ways to run the stage
//! through the library or the real binary.

pub mod fake_github;
pub mod fixture_repo;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use swegym_build::cancel::Cancel;
use swegym_build::context::Context;
use swegym_build::github::{ClientConfig, GitHub, Token};
use swegym_build::mine::{self, MineOptions, MineSummary};
use swegym_build::model::RepoName;
use swegym_build::progress::Progress;
use swegym_build::recipe::RecipeBook;
use swegym_build::store::{Access, Store};
use swegym_build::workspace::Workspace;
use wiremock::MockServer;

pub use fake_github::{FakeGitHub, Fault};

pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub server: MockServer,
    pub fake: FakeGitHub,
}

impl TestContext {
    pub async fn new() -> Self {
        Self::with_prefix("").await
    }

    /// `prefix` = `/api/v3` plays GitHub Enterprise.
    pub async fn with_prefix(prefix: &str) -> Self {
        let (server, fake) = FakeGitHub::start(prefix).await;
        Self { dir: tempfile::tempdir().expect("tempdir"), server, fake }
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    /// A client with fast back-offs (tests must not wait a minute for a secondary limit).
    pub fn client(&self, tokens: &[&str]) -> Arc<GitHub> {
        let mut cfg = ClientConfig::new(self.fake.api_url(), tokens.iter().map(|t| Token::new(*t)).collect());
        cfg.secondary_backoff_min = Duration::from_millis(20);
        cfg.retry_base = Duration::from_millis(5);
        Arc::new(GitHub::new(cfg, Arc::new(|_| {})).expect("client"))
    }

    pub fn options(repos: &[&str]) -> MineOptions {
        MineOptions {
            repos: repos.iter().map(|r| r.parse::<RepoName>().expect("repo")).collect(),
            since: None,
            max_pulls: None,
            jobs: 4,
            full: false,
        }
    }

    /// Runs `mine` through the library against this context's workspace.
    pub async fn mine(&self, opts: &MineOptions) -> MineSummary {
        self.mine_with(opts, &self.client(&["test-token"]), &Cancel::new()).await
    }

    pub async fn mine_with(&self, opts: &MineOptions, gh: &Arc<GitHub>, cancel: &Cancel) -> MineSummary {
        let mut cx = self.context();
        cx.cancel = cancel.clone();
        mine::mine(&mut cx, gh.clone(), opts).await.expect("mine")
    }

    /// A stage context on this test's workspace: embedded recipes, hidden progress.
    pub fn context(&self) -> Context {
        let ws = Workspace::new(self.workspace());
        let store = Store::open(&ws, Access::ReadWrite).expect("open store");
        let recipes = RecipeBook::embedded().expect("embedded recipes");
        Context::new(ws, store, swegym_build::git::DEFAULT_GIT_URL, recipes, Progress::hidden())
    }

    pub fn store(&self) -> Store {
        Store::open(&Workspace::new(self.workspace()), Access::ReadOnly).expect("open store read-only")
    }

    /// The binary, with this context's workspace and API root, fast back-offs, no inherited tokens.
    pub fn cmd(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_swegym-build"));
        c.env("SWEGYM_WORKSPACE", self.workspace())
            .env("GITHUB_API_URL", self.fake.api_url())
            .env("SWEGYM_SECONDARY_BACKOFF_SECS", "0")
            .env("SWEGYM_RETRY_BASE_MS", "5")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_TOKENS")
            .env_remove("SWEGYM_LOG")
            .kill_on_drop(true);
        c
    }

    pub async fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().await.expect("run swegym-build")
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file below `dir`, read as bytes.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
