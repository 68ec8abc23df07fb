//! `pin` throughput on a warm mirror: a generated repository (made with `git fast-import`) and
//! generated instances on random commits, pinned by a file rule and by a tag rule.
//!
//! Run: `cargo bench --profile dev --bench pin` (add `-- --commits N --instances N`).
//! Or on a real repository and dataset: `-- --repo OWNER/NAME --git-url TEMPLATE --jsonl FILE`
//! (e.g. a fetched getmoto/moto and instances to import), which pins with the built-in recipes.
//! Target: ≥ 1,000 instances/s.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use swegym_build::context::Context;
use swegym_build::import::ImportOptions;
use swegym_build::pin::{self, PinOptions};
use swegym_build::progress::Progress;
use swegym_build::recipe::{Recipe, RecipeBook, RecipeSource};
use swegym_build::store::{Access, InstanceFilter, Store};
use swegym_build::workspace::Workspace;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// A repository of `commits` commits where the version file changes every 50 commits and a tag
/// is made every 100.
fn generate_repo(dir: &Path, commits: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    run(dir, &["git", "init", "-q", "-b", "main"]);
    let mut fi =
        Command::new("git").current_dir(dir).args(["fast-import", "--quiet"]).stdin(Stdio::piped()).spawn().unwrap();
    {
        let stdin = fi.stdin.as_mut().unwrap();
        for i in 0..commits {
            let minor = i / 50;
            let version = format!("__version__ = \"1.{minor}.0.dev{i}\"\n");
            let code = format!("def f{i}():\n    return {i}\n");
            writeln!(
                stdin,
                "commit refs/heads/main\nmark :{}\ncommitter B <b@example.com> {} +0000",
                i + 1,
                1_600_000_000 + i * 60
            )
            .unwrap();
            let msg = format!("commit {i}");
            writeln!(stdin, "data {}\n{msg}", msg.len()).unwrap();
            if i > 0 {
                writeln!(stdin, "from :{i}").unwrap();
            }
            writeln!(stdin, "M 644 inline big/__init__.py\ndata {}\n{version}", version.len()).unwrap();
            writeln!(stdin, "M 644 inline big/mod{}.py\ndata {}\n{code}", i % 200, code.len()).unwrap();
            writeln!(stdin).unwrap();
            if i % 100 == 0 {
                writeln!(stdin, "reset refs/tags/v1.{minor}.0\nfrom :{}\n", i + 1).unwrap();
            }
        }
    }
    assert!(fi.wait().unwrap().success());
    let out = Command::new("git").current_dir(dir).args(["rev-list", "main"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn run(dir: &Path, args: &[&str]) {
    let s = Command::new(args[0]).current_dir(dir).args(&args[1..]).status().unwrap();
    assert!(s.success(), "{args:?}");
}

fn recipe(rule: &str) -> Recipe {
    let version = match rule {
        "file" => "rule = \"file\"\nfile = \"big/__init__.py\"\npattern = '__version__ = \"([^\"]+)\"'",
        _ => "rule = \"tag\"\npattern = '^v(\\d+\\.\\d+)'",
    };
    let text =
        format!("repo = \"bench/big\"\n[version]\n{version}\n[[env]]\npython = \"3.11\"\ntest_cmd = \"pytest\"\n");
    Recipe::parse("bench", &text, RecipeSource::Embedded).unwrap()
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::new(tmp.path().join("ws"));
    let (jsonl, url, repo, books): (std::path::PathBuf, String, String, Vec<(&str, RecipeBook)>) = if let (
        Some(repo),
        Some(url),
        Some(jsonl),
    ) =
        (arg("--repo"), arg("--git-url"), arg("--jsonl"))
    {
        (jsonl.into(), url, repo, vec![("built-in recipe", RecipeBook::embedded().unwrap())])
    } else {
        let commits: usize = arg("--commits").and_then(|v| v.parse().ok()).unwrap_or(5_000);
        let instances: usize = arg("--instances").and_then(|v| v.parse().ok()).unwrap_or(20_000);
        let t = Instant::now();
        let shas = generate_repo(&tmp.path().join("src/bench/big"), commits);
        println!("generated {} commits in {:.1}s", shas.len(), t.elapsed().as_secs_f64());
        let mut rows = String::new();
        let mut x: u64 = 0x9E3779B97F4A7C15;
        for n in 0..instances {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let sha = &shas[(x % shas.len() as u64) as usize];
            rows.push_str(&serde_json::json!({
                    "repo": "bench/big", "instance_id": format!("bench__big-{n}"), "base_commit": sha,
                    "patch": "p", "test_patch": "diff --git a/tests/t.py b/tests/t.py\n",
                    "problem_statement": "x", "hints_text": "", "created_at": format!("2024-01-01T00:{:02}:{:02}Z", (n / 60) % 60, n % 60),
                    "version": null, "FAIL_TO_PASS": [], "PASS_TO_PASS": []
                }).to_string());
            rows.push('\n');
        }
        let jsonl = tmp.path().join("instances.jsonl");
        std::fs::write(&jsonl, rows).unwrap();
        let mut file_book = RecipeBook::default();
        file_book.insert(recipe("file"));
        let mut tag_book = RecipeBook::default();
        tag_book.insert(recipe("tag"));
        (
            jsonl,
            format!("file://{}/src/{{repo}}", tmp.path().display()),
            "bench/big".to_string(),
            vec![("file rule", file_book), ("tag rule", tag_book)],
        )
    };
    let store = Store::open(&ws, Access::ReadWrite).unwrap();
    let mut cx = Context::new(ws, store, &url, RecipeBook::default(), Progress::hidden());
    let import = ImportOptions { path: jsonl, format: None };
    let imported = swegym_build::import::import(&mut cx, &import).unwrap();
    println!("{} instances of {repo}", imported.imported);
    // Warm the mirror (the clone is not what is measured).
    cx.mirrors.open(&repo.parse().unwrap()).unwrap();
    for (name, book) in books {
        let opts = PinOptions { filter: InstanceFilter::all(), force: true };
        cx.recipes = book;
        let s = pin::pin(&mut cx, &opts).unwrap();
        println!(
            "{name}: {} pinned, {} without version, {:.2}s → {:.0} instances/s (target ≥ 1000); {} versions",
            s.pinned,
            s.not_found,
            s.seconds,
            s.instances_per_second,
            s.repos.iter().map(|r| r.versions).sum::<u64>()
        );
    }
}
