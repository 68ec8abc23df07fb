//! Scripted git repositories for `pin` and `build`: small Python projects made with the git CLI
//! and fixed dates, so the same script gives the same commit ids every time (and Docker's layer
//! cache can be reused between test runs).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

/// A repository under `<root>/<owner>/<name>`, reachable as `file://<root>/{repo}`.
pub struct FixtureRepo {
    pub dir: PathBuf,
    clock: u32,
}

impl FixtureRepo {
    pub fn new(root: &Path, repo: &str) -> Self {
        let dir = root.join(repo);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut me = Self { dir, clock: 0 };
        me.git(&["init", "-q", "-b", "main"]);
        me
    }

    pub fn git(&mut self, args: &[&str]) -> String {
        let date = format!("2024-01-{:02}T10:00:00Z", 1 + self.clock.min(27));
        let out = Command::new("git")
            .current_dir(&self.dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Fixture")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
            .env("GIT_COMMITTER_NAME", "Fixture")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes files (path, text) and commits them; returns the commit id.
    pub fn commit(&mut self, files: &[(&str, &str)], message: &str) -> String {
        for (p, text) in files {
            let path = self.dir.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
        self.clock += 1;
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn tag(&mut self, name: &str) {
        self.git(&["tag", name]);
    }

    /// The diff between two commits, as a PR's patch would be.
    pub fn diff(&mut self, from: &str, to: &str, paths: &[&str]) -> String {
        let mut args = vec!["diff", from, to, "--"];
        args.extend_from_slice(paths);
        let mut d = self.git(&args);
        if !d.is_empty() {
            d.push('\n');
        }
        d
    }
}

/// The clone-URL template that serves every fixture under `root`.
pub fn git_url(root: &Path) -> String {
    format!("file://{}/{{repo}}", root.display())
}

/// One instance row in SWE-bench's schema, for `import`.
pub fn instance_row(
    repo: &str,
    number: u64,
    base_commit: &str,
    patch: &str,
    test_patch: &str,
    created_at: &str,
    version: Option<&str>,
) -> serde_json::Value {
    json!({
        "repo": repo,
        "instance_id": format!("{}-{number}", repo.replace('/', "__")),
        "base_commit": base_commit,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": "Something is broken and should be fixed.\n",
        "hints_text": "",
        "created_at": created_at,
        "version": version,
        "FAIL_TO_PASS": [],
        "PASS_TO_PASS": [],
        "environment_setup_commit": null,
    })
}

/// Writes rows as JSONL and returns the path.
pub fn write_jsonl(dir: &Path, name: &str, rows: &[serde_json::Value]) -> PathBuf {
    let p = dir.join(name);
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&p, text).expect("write jsonl");
    p
}
