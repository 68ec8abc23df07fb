//! `mine` end to end on a generated 10,000-PR repository served by the local fake GitHub.
//!
//! Run: `cargo bench --profile dev --bench mine` (add `-- --pulls N --jobs N` to change the size).
//! Prints PRs per second (first run, and a second incremental run) and requests per PR by kind.
//! The fake server shares the machine (and the tokio runtime) with the client, so the rate is a
//! lower bound for a real deployment, where GitHub's latency dominates instead.

// The integration tests' fake GitHub; the bench drives only its happy path (no faults, no edits).
#[expect(dead_code, reason = "fault injection and repository edits are used by tests/it only")]
#[path = "../tests/it/support/fake_github.rs"]
mod fake_github;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fake_github::{FakeComment, FakeCommit, FakeGitHub, FakeIssue, FakePull, FakeRepo};
use swegym_build::context::Context;
use swegym_build::github::{ClientConfig, GitHub, Token};
use swegym_build::mine::{self, MineOptions};
use swegym_build::progress::Progress;
use swegym_build::recipe::RecipeBook;
use swegym_build::store::{Access, Store};
use swegym_build::workspace::Workspace;

const REPO: &str = "bench/big";

/// Mix of a large Python repository: 40 % closed unmerged, 35 % merged without a link,
/// 25 % merged and linked (one issue each; a third of the issues have two comments).
fn generate(pulls: u64) -> (FakeRepo, u64, u64) {
    let t0: DateTime<Utc> = "2020-01-01T00:00:00Z".parse().unwrap();
    let mut repo = FakeRepo { pulls: Vec::with_capacity(pulls as usize), issues: BTreeMap::new() };
    let (mut unmerged, mut linked) = (0, 0);
    for n in 1..=pulls {
        let created = t0 + chrono::Duration::minutes(30 * n as i64);
        let kind = n % 20;
        let merged = kind >= 8;
        let links = kind >= 15;
        let issue = 1_000_000 + n;
        if !merged {
            unmerged += 1;
        }
        if links {
            linked += 1;
            let comments = if n % 3 == 0 {
                vec![
                    FakeComment {
                        id: 3 * n,
                        body: "Can reproduce.".into(),
                        created_at: created - chrono::Duration::days(1),
                        updated_at: created - chrono::Duration::days(1),
                    },
                    FakeComment {
                        id: 3 * n + 1,
                        body: "Fixed, thanks.".into(),
                        created_at: created + chrono::Duration::days(1),
                        updated_at: created + chrono::Duration::days(1),
                    },
                ]
            } else {
                Vec::new()
            };
            repo.issues.insert(
                issue,
                FakeIssue {
                    number: issue,
                    title: format!("Bug {n}"),
                    body: Some("It breaks.\nTraceback …".into()),
                    created_at: created - chrono::Duration::days(5),
                    comments,
                },
            );
        }
        let body =
            if links { format!("Fixes #{issue}\n\nSome description.") } else { "Refactoring and cleanup.".into() };
        let diff = format!(
            "diff --git a/pkg/mod_{n}.py b/pkg/mod_{n}.py\nindex 1..2 100644\n--- a/pkg/mod_{n}.py\n+++ b/pkg/mod_{n}.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/tests/test_mod_{n}.py b/tests/test_mod_{n}.py\n--- a/tests/test_mod_{n}.py\n+++ b/tests/test_mod_{n}.py\n@@ -1 +1,2 @@\n x\n+def test_{n}(): pass\n"
        );
        repo.pulls.push(FakePull {
            number: n,
            title: format!("Change {n}"),
            body: Some(body),
            created_at: created,
            updated_at: created + chrono::Duration::hours(3),
            merged_at: merged.then(|| created + chrono::Duration::hours(2)),
            base_sha: format!("{n:040x}"),
            commits: vec![FakeCommit {
                sha: format!("{:040x}", n + 1),
                message: "Work".into(),
                date: created - chrono::Duration::hours(1),
            }],
            diff,
        });
    }
    (repo, unmerged, linked)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let pulls = arg("--pulls", 10_000);
    let jobs = arg("--jobs", 16) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let (_server, fake) = FakeGitHub::start("").await;
        let (repo, unmerged, linked) = generate(pulls);
        let merged = pulls - unmerged;
        fake.add_repo(REPO, repo);
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::new(dir.path());
        let opts = MineOptions { repos: vec![REPO.parse().unwrap()], since: None, max_pulls: None, jobs, full: false };

        let mut results = Vec::new();
        for label in ["first run", "incremental re-run"] {
            let mut cfg = ClientConfig::new(fake.api_url(), vec![Token::new("bench")]);
            cfg.retry_base = Duration::from_millis(5);
            let gh = Arc::new(GitHub::new(cfg, Arc::new(|_| {})).expect("client"));
            let store = Store::open(&ws, Access::ReadWrite).expect("store");
            let recipes = RecipeBook::default();
            let mut cx = Context::new(ws.clone(), store, swegym_build::git::DEFAULT_GIT_URL, recipes, Progress::hidden());
            let started = Instant::now();
            let s = mine::mine(&mut cx, gh, &opts).await.expect("mine");
            let secs = started.elapsed().as_secs_f64();
            results.push((label, secs, s));
        }

        println!("mine benchmark: {pulls} PRs ({unmerged} unmerged, {} merged without link, {linked} linked), --jobs {jobs}", merged - linked);
        let (_, secs, s) = &results[0];
        println!("  first run            {secs:>7.2} s  {:>8.0} PRs/s  {} requests", pulls as f64 / secs, s.requests_total);
        let (_, secs, s) = &results[1];
        println!("  re-run, nothing new  {secs:>7.2} s  {} request(s), {} PRs processed", s.requests_total, s.repos[0].processed);
        let first = &results[0].2;
        let get = |k: &str| *first.requests_by_kind.get(k).unwrap_or(&0) as f64;
        println!("  requests per PR, first run:");
        println!("    list pages per listed PR      {:.4}  (an unmerged PR's whole cost; target ≤ 0.01)", get("pull_list") / pulls as f64);
        println!("    commits per merged PR         {:.4}  (a merged PR without a link costs just this; target ≤ 1)", get("commits") / merged as f64);
        println!("    issue per linked PR           {:.4}", get("issue") / linked as f64);
        println!("    diff per linked PR            {:.4}", get("diff") / linked as f64);
        println!("    comments per linked PR        {:.4}", get("comments") / linked as f64);
        println!("    all requests per PR           {:.4}", first.requests_total as f64 / pulls as f64);
        println!("  instances: {}", first.repos[0].instances);
        let rate = pulls as f64 / results[0].1;
        if rate < 500.0 {
            println!("  BELOW TARGET: {rate:.0} PRs/s < 500 PRs/s");
        }

        // The peer: SWE-bench's own collector on the same repository and server.
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer/swebench_collect.py");
        let peer = tokio::process::Command::new("python3")
            .args([script, "--api-url", &fake.api_url(), "--repo", REPO, "--token", "bench"])
            .output()
            .await;
        match peer {
            Ok(out) if out.status.success() => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                let secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
                let listed = v["pulls_listed"].as_f64().unwrap_or(f64::NAN);
                let reqs = v["requests_total"].as_f64().unwrap_or(f64::NAN);
                println!(
                    "  peer swebench {} collector: {secs:.2} s, {:.0} PRs/s, {:.3} requests per PR, {} instances",
                    v["version"].as_str().unwrap_or("?"),
                    listed / secs,
                    reqs / listed,
                    v["instances"]
                );
                println!(
                    "  ratio swegym-build / swebench: {:.1}x PRs/s, {:.2}x requests per PR",
                    rate / (listed / secs),
                    (first.requests_total as f64 / pulls as f64) / (reqs / listed)
                );
            }
            Ok(out) => println!(
                "  peer swebench: not measured ({}); install it with: python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install swebench==4.1.0 ghapi==1.0.6 fastcore==1.8.8",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed")
            ),
            Err(e) => println!("  peer swebench: not measured (python3: {e})"),
        }
    });
}
