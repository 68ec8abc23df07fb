//! The reward's cost, on this machine's Docker Engine:
//! 1. evaluation overhead — what `evaluate` adds to the tests' own time per evaluation (create the
//!    container, copy patches and plugin in, apply, restore test files, copy results out,
//!    remove), over `--runs` evaluations one at a time (target ≤ 1.0 s);
//! 2. throughput through `serve --jobs 2`: `--requests` distinct patches posted at once over HTTP,
//!    evaluations per minute.
//!
//! Run: `cargo bench --profile dev --bench evaluate [-- --runs N --requests M --jobs J]`.
//! Needs the Docker Engine, root and debootstrap (the first run builds a base image, ~3 min). It
//! makes its own fixture: a two-commit repository (`acme/bench`: a bug and its fix with a test),
//! imported, pinned, built and validated in a workspace under the system's temp directory
//! (reused by the next run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use swegym_build::cancel::Cancel;
use swegym_build::context::{workspace_label, Context};
use swegym_build::docker::Engine;
use swegym_build::evaluate::{score, Limits, Scorer};
use swegym_build::executor::Executor;
use swegym_build::progress::Progress;
use swegym_build::recipe::RecipeBook;
use swegym_build::serve::{serve, ServeOptions};
use swegym_build::store::{Access, Store};
use swegym_build::workspace::Workspace;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

const RECIPE: &str = r#"
repo = "acme/bench"
[version]
rule = "file"
file = "bench/__init__.py"
pattern = '''__version__\s*=\s*"([^"]+)"'''
[[env]]
python = "3.11"
packages = ["pytest"]
env_vars = { PYTHONPATH = "/testbed" }
test_cmd = "pytest -rA -p no:cacheprovider"
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "B")
        .env("GIT_AUTHOR_EMAIL", "b@example.com")
        .env("GIT_COMMITTER_NAME", "B")
        .env("GIT_COMMITTER_EMAIL", "b@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

/// The fixture repository and its one instance row; returns (git URL template, JSONL, recipes).
fn fixture(root: &Path) -> (String, PathBuf, PathBuf) {
    let repo = root.join("acme/bench");
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    write(
        &repo,
        &[
            ("bench/__init__.py", "__version__ = \"1.0.0\"\n\ndef add(a, b):\n    return a - b\n"),
            ("tests/test_bench.py", "from bench import add\n\ndef test_zero():\n    assert add(0, 0) == 0\n"),
        ],
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "initial"]);
    let base = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    write(
        &repo,
        &[
            ("bench/__init__.py", "__version__ = \"1.0.0\"\n\ndef add(a, b):\n    return a + b\n"),
            (
                "tests/test_bench.py",
                "from bench import add\n\ndef test_zero():\n    assert add(0, 0) == 0\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            ),
        ],
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "fix add (#1)"]);
    let fix = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let row = json!({
        "repo": "acme/bench", "instance_id": "acme__bench-1", "base_commit": base,
        "patch": git(&repo, &["diff", &base, &fix, "--", "bench"]),
        "test_patch": git(&repo, &["diff", &base, &fix, "--", "tests"]),
        "problem_statement": "add subtracts\n", "hints_text": "", "created_at": "2024-01-02T03:04:05Z",
        "version": "1.0", "FAIL_TO_PASS": [], "PASS_TO_PASS": [], "environment_setup_commit": null,
    });
    let jsonl = root.join("bench.jsonl");
    std::fs::write(&jsonl, format!("{row}\n")).expect("write jsonl");
    let recipes = root.join("recipes");
    std::fs::create_dir_all(&recipes).expect("mkdir");
    std::fs::write(recipes.join("acme__bench.toml"), RECIPE).expect("write recipe");
    (format!("file://{}/{{repo}}", root.display()), jsonl, recipes)
}

/// A patch that changes nothing the tests see, distinct per `n` (so none is answered from the cache).
fn patch(n: usize) -> String {
    format!(
        "diff --git a/bench/note_{n}.py b/bench/note_{n}.py\nnew file mode 100644\n--- /dev/null\n+++ b/bench/note_{n}.py\n@@ -0,0 +1 @@\n+N = {n}\n"
    )
}

async fn run_cli(args: &[&str]) {
    let mut all = vec!["swegym-build", "--quiet"];
    all.extend_from_slice(args);
    let cli = swegym_build::cli::Cli::parse_from(all);
    match swegym_build::app::run(cli).await {
        Ok(swegym_build::Exit::Ok) => {}
        other => panic!("{args:?}: {other:?}"),
    }
}

#[tokio::main]
async fn main() {
    let runs: usize = arg("--runs").and_then(|r| r.parse().ok()).unwrap_or(10);
    let requests: usize = arg("--requests").and_then(|r| r.parse().ok()).unwrap_or(20);
    let jobs: usize = arg("--jobs").and_then(|r| r.parse().ok()).unwrap_or(2);
    let root = std::env::temp_dir().join("swegym-bench-evaluate");
    std::fs::create_dir_all(&root).expect("mkdir");
    let ws_dir = root.join("ws");
    let ws = ws_dir.to_str().expect("utf-8 path").to_string();
    if !ws_dir.join("swegym.duckdb").exists() {
        eprintln!("preparing the fixture workspace {ws} (import, pin, build, validate)…");
        let (url, jsonl, recipes) = fixture(&root);
        let (jsonl, recipes) = (jsonl.to_str().expect("utf-8"), recipes.to_str().expect("utf-8"));
        run_cli(&["--workspace", &ws, "import", jsonl]).await;
        run_cli(&["--workspace", &ws, "pin", "--recipes", recipes, "--git-url", &url]).await;
        run_cli(&["--workspace", &ws, "build", "--recipes", recipes, "--git-url", &url, "--base", "debootstrap"]).await;
        run_cli(&["--workspace", &ws, "validate", "--runs", "1"]).await;
    }
    let workspace = Workspace::new(&ws_dir);
    let limits =
        Limits { timeout: Duration::from_secs(300), memory_bytes: 4 << 30, pids: 1024, nano_cpus: 1_000_000_000 };

    // 1. Overhead, one evaluation at a time.
    let store = Store::open(&workspace, Access::ReadWrite).expect("store");
    let targets = store.scoring_targets(&["acme__bench-1".to_string()]).expect("targets");
    let target = targets.get("acme__bench-1").expect("the fixture instance is in the workspace").clone();
    drop(store);
    let engine = Engine::connect().await.expect("Docker Engine");
    let scorer = Scorer { executor: Executor::Local(engine), limits, labels: vec![workspace_label(&workspace)] };
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut overheads = Vec::new();
    let mut totals = Vec::new();
    for i in 0..runs {
        let r = score(&scorer, &target, "bench", "bench", &patch(i), &Cancel::new()).await.expect("evaluation");
        assert_eq!(r.status, "unresolved", "{r:?}");
        if let Some(t) = r.test_seconds {
            overheads.push(r.seconds - t);
        }
        totals.push(r.seconds);
    }
    overheads.sort_by(f64::total_cmp);
    totals.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "evaluation: {runs} runs, median {:.2} s each, overhead beyond the tests median {:.2} s (min {:.2}, max {:.2}); target ≤ 1.0 s",
        median(&totals),
        median(&overheads),
        overheads.first().copied().unwrap_or(f64::NAN),
        overheads.last().copied().unwrap_or(f64::NAN),
    );

    // 2. Through serve: `requests` new patches at once.
    let store = Store::open(&workspace, Access::ReadWrite).expect("store");
    let recipes = RecipeBook::load(None).expect("recipes");
    let cx = Context::new(workspace.clone(), store, "file:///nowhere/{repo}", recipes, Progress::new(false, true));
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse().expect("address"),
        jobs,
        queue: requests,
        request_timeout: Duration::from_secs(600),
        max_body: 10 << 20,
        limits,
        token: None,
        run_id: format!("bench-{stamp}"),
    };
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let ready = move |a| {
            let _ = addr_tx.send(a);
        };
        serve(cx, &opts, ready, async move {
            let _ = stop_rx.await;
        })
        .await
    });
    let addr = addr_rx.await.expect("the server listens");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..requests {
        let (http, url) = (http.clone(), format!("http://{addr}/v1/evaluations"));
        let body = json!({"instance_id": "acme__bench-1", "patch": patch(runs + i + stamp as usize % 1_000_000)});
        tasks.push(tokio::spawn(async move { http.post(url).json(&body).send().await.map(|r| r.status().as_u16()) }));
    }
    let mut ok = 0;
    for t in tasks {
        if matches!(t.await, Ok(Ok(200))) {
            ok += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let summary = server.await.expect("server task").expect("server");
    println!(
        "serve --jobs {jobs}: {ok}/{requests} new patches scored in {elapsed:.1} s = {:.1} evaluations per minute ({} evaluations, {} cached)",
        ok as f64 * 60.0 / elapsed,
        summary.evaluations,
        summary.cache_hits
    );
}
